import math

import numpy as np
import pytest
import torch

import saddlebook as sb
from saddlebook.escape import escape_time, sweep
from saddlebook.fits import fit_log, fit_power, local_slopes, loglog_slope
from saddlebook.parameters import ParameterError
from saddlebook.reduced import blowup_time

torch.set_num_threads(1)


def test_full_and_reduced_agree_on_the_manifold_and_match_t_star():
    kw = dict(eps=[0.05, 0.01], width=8, input_dim=4, data="population")
    full = sweep("tanh", 4, model="full", **kw)
    red = sweep("tanh", 4, model="reduced", **kw)
    assert np.allclose(full.tau, red.tau, rtol=1e-7)
    ratio = red.tau / np.array([blowup_time(e, 4, 1.0, red.gamma) for e in kw["eps"]])
    assert abs(ratio[1] - 1) < abs(ratio[0] - 1) < 0.01
    assert red.nfev.max() < 1500  # cost grows like log(tau), not tau


def test_exponent_on_a_small_case():
    # r = 3 bottleneck on the manifold (population flow): slope -(r-2) = -1.
    s = sweep("tanh", 4, r=3, eps=[0.004, 0.002, 0.001], input_dim=2, width=4, data="population",
              model="reduced")
    assert loglog_slope(s.eps, s.tau) == pytest.approx(-1.0, abs=0.02)
    assert fit_power(s.eps, s.tau).p == pytest.approx(1.0, abs=0.02)


def test_he_sweep_seeds_thresholds_and_float32():
    kw = dict(r=2, eps=[0.1, 0.05], seeds=[0, 1], width=6, input_dim=3, n_samples=64, init="he")
    s = sweep("tanh", 3, **kw)
    assert s.grid().shape == (2, 2) and np.all(np.isfinite(s.tau))
    assert np.all(s.tau[::2] < s.tau[1::2]) or np.all(s.grid()[0] < s.grid()[1])
    m = sweep("tanh", 3, criterion="moment", **kw)
    assert np.all(np.isfinite(m.tau))
    s32 = sweep("tanh", 3, dtype="float32", **kw)
    assert np.allclose(s32.tau, s.tau, rtol=1e-3)
    one = escape_time("tanh", 3, 2, 0.05, seed=1, **{k: v for k, v in kw.items() if k not in ("r", "eps", "seeds")})
    assert one == pytest.approx(s.grid()[1, 1], rel=1e-12)


def test_fits_recover_known_laws():
    e = np.geomspace(0.001, 0.1, 8)
    assert loglog_slope(e, 3 * e**-2) == pytest.approx(-2, abs=1e-12)
    f = fit_power(e, 3 * e**-1.5 + 7)
    assert (f.A, f.p, f.B) == pytest.approx((3, 1.5, 7), rel=1e-6)
    g = fit_log(e, 2 * np.log(1 / e) + 5)
    assert (g.A, g.B) == pytest.approx((2, 5), rel=1e-10)
    mid, sl = local_slopes(e, e**-1.0)
    assert np.allclose(sl, -1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(activation="bogus"), "allowed"),
        (dict(init="xavier"), "'init'"),
        (dict(eps=[0.1, 0.0]), "'eps"),
        (dict(r=5), "'r'"),
        (dict(model="reduced", init="he"), "model"),
        (dict(data="population", init="he"), "population"),
        (dict(threshold=1.0), "'threshold'"),
        (dict(criterion="grad"), "'criterion'"),
        (dict(dtype="float16"), "'dtype'"),
        (dict(teacher=sb.LinearTeacher(torch.ones(3, dtype=torch.float64))), "input dimension"),
    ],
)
def test_bad_input_is_refused_before_compute(kwargs, match):
    args = dict(activation="tanh", depth=4)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        sweep(**args)
    with pytest.raises(ParameterError):
        escape_time(eps=[0.1, 0.2])
    with pytest.raises(ParameterError):
        loglog_slope([0.1, 0.2], [1.0, math.nan])
