"""Exponent fits (saddlebook.fits), the critical-depth integral, and the
benchmark helpers of saddlebook.perf, on small cases."""
import math

import numpy as np
import pytest
import torch

from saddlebook.dynamics import NetworkBatch, gd_escape, gd_step_for_accuracy, gradient_flops, sweep
from saddlebook.errors import ParameterError
from saddlebook.theory import (
    corrected_exponent,
    critical_depth_integral,
    fit_log,
    fit_power,
    limit_at_zero,
    local_slopes,
    log_power,
    loglog_slope,
)

torch.set_num_threads(1)


def test_loglog_slope_uses_the_smallest_eps_only():
    e = np.geomspace(1e-4, 1e-1, 10)
    tau = e**-1.0 + 5.0  # offset bends the curve at large eps
    assert loglog_slope(e[::-1], tau[::-1], n_smallest=3) == pytest.approx(-1.0, abs=2e-3)
    assert loglog_slope(e, tau) > -0.98  # all points: biased by the offset


def test_local_slopes_follow_the_offset_formula():
    e = np.geomspace(1e-3, 1e-1, 6)
    C, A = -3.0, 1.0
    mid, sl = local_slopes(e, A / e + C)
    assert np.allclose(sl, -1 / (1 + C * mid / A), rtol=2e-2)


def test_fit_power_and_fit_log_with_noise_free_data():
    e = np.geomspace(1e-3, 1e-1, 7)
    f = fit_power(e, 2.0 * e**-2 - 30.0)
    assert (f.A, f.p, f.B) == pytest.approx((2.0, 2.0, -30.0), rel=1e-6)
    g = fit_log(e, 1.5 * np.log(1 / e) + 0.2)
    assert g(1e-2) == pytest.approx(1.5 * math.log(100) + 0.2, rel=1e-12)


@pytest.mark.parametrize("bad", [dict(eps=[0.1, 0.2], tau=[1.0]), dict(eps=[0.1, -0.2], tau=[1.0, 2.0]),
                                 dict(eps=[0.1, 0.2], tau=[1.0, math.nan])])
def test_fits_refuse_bad_input(bad):
    with pytest.raises(ParameterError):
        loglog_slope(bad["eps"], bad["tau"])


def test_critical_depth_integral_closed_forms():
    got = [critical_depth_integral(0.01, 0.1, r) for r in (1, 2, 3, 4)]
    assert got == pytest.approx([0.09, math.log(10), 90.0, 4950.0], rel=1e-12)
    with pytest.raises(ParameterError):
        critical_depth_integral(0.2, 0.1, 3)


def test_reduced_sweep_r2_is_logarithmic_and_r4_has_slope_minus_two():
    kw = dict(model="reduced", data="population", width=8, input_dim=2, t_max=1e12)
    s2 = sweep("tanh", 4, 2, [1e-6, 1e-5, 1e-4], **kw)
    lf = fit_log(s2.eps, s2.tau)
    assert lf.A * s2.gamma == pytest.approx(1.0, abs=1e-3)
    s4 = sweep("tanh", 4, 4, [1e-3, 2e-3, 4e-3], **kw)
    assert loglog_slope(s4.eps, s4.tau) == pytest.approx(-2.0, abs=0.02)


def test_gradient_flops_counts_forward_and_backward():
    # widths [3, 4, 1], n = 5: forward 2*5*(12 + 4) = 160, weight grads 160, error back-prop 2*5*4 = 40.
    assert gradient_flops([3, 4, 1], 5) == 360


def test_gd_escape_converges_to_the_engine_time():
    s = sweep("tanh", 3, 3, [0.2], width=4, input_dim=2, n_samples=64, rtol=1e-10)
    import saddlebook as sb
    from saddlebook.nets import symmetric_weights

    v = torch.tensor([1.0, 0.0], dtype=torch.float64)
    x = sb.gaussian_inputs(64, 2, seed=0)
    prob = NetworkBatch("tanh", x, sb.SingleIndexTeacher(v, "tanh", 1.0)(x))
    W = [w[None] for w in symmetric_weights([2, 4, 4, 1], [0.2, 0.2, 0.2], direction=v)]
    level = [0.5 * float(prob.observe(W)[0][0])]
    errs = [abs(gd_escape(prob, W, eta, level)[0][0] / s.tau[0] - 1) for eta in (0.2, 0.1)]
    assert errs[1] < errs[0] < 0.05  # first-order convergence in the step
    eta, trials = gd_step_for_accuracy(prob, W, level, s.tau, etas=[0.4, 0.2, 0.1, 0.05], rtol=errs[0] * 1.01)
    assert eta == pytest.approx(0.2) and len(trials) <= 2
    # trials run beforehand (e.g. on worker processes) are judged, not run again, and give the same answer
    from saddlebook.dynamics import gd_trial

    ahead = [gd_trial(prob, W, 0.4, level), gd_trial(prob, W, 0.2, level)]
    ahead[1]["seconds"] = -1.0  # marks the result as the one handed in
    eta2, trials2 = gd_step_for_accuracy(prob, W, level, s.tau, etas=[0.4, 0.2, 0.1, 0.05], rtol=errs[0] * 1.01,
                                         done=ahead)
    assert eta2 == eta and trials2[-1]["seconds"] == -1.0
    assert [t["tau"] for t in trials2] == [t["tau"] for t in trials]


def test_corrected_exponent_removes_the_linear_correction():
    e = np.geomspace(1e-3, 1e-1, 6)
    v = -0.3 * e * (1 + 5.0 * e)  # the plain local slope is biased by about beta * eps
    assert local_slopes(e[:2], np.abs(v[:2]))[1][0] > 1.005
    assert corrected_exponent(e, v) == pytest.approx(1.0, abs=2e-3)
    assert corrected_exponent(e, e**2 * (1 + e)) == pytest.approx(2.0, abs=1e-4)
    with pytest.raises(ParameterError, match="n_smallest"):
        corrected_exponent(e, v, n_smallest=3)
    with pytest.raises(ParameterError):
        corrected_exponent(e[:3], v[:3])


def test_log_power_tells_a_log_factor_from_none():
    e = np.geomspace(1e-4, 1e-1, 7)
    assert log_power(e, 2.0 * np.log(1 / e)) == pytest.approx(1.0, abs=1e-12)
    assert log_power(e, 3.0 + 0 * e) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ParameterError, match="eps < 1"):
        log_power([0.5, 2.0], [1.0, 1.0])


def test_limit_at_zero_is_first_order_richardson():
    eps = np.array([0.1, 0.02, 0.01])  # unsorted use is fine: the two smallest are taken
    v = 0.3 - 2.0 * eps + 5.0 * eps**2
    assert limit_at_zero(eps[::-1], v[::-1]) == pytest.approx(0.3 - 5.0 * 0.01 * 0.02, abs=1e-14)
    assert limit_at_zero([0.02, 0.01], [0.04, 0.02]) == pytest.approx(0.0, abs=1e-15)  # pure O(eps)
    with pytest.raises(ParameterError, match="at least 2"):
        limit_at_zero([0.1], [1.0])
    with pytest.raises(ParameterError, match="must differ"):
        limit_at_zero([0.1, 0.1], [1.0, 2.0])


def test_activation_seconds_times_the_gradients_sigma_calls_in_its_layout():
    import saddlebook as sb
    from saddlebook.dynamics import activation_seconds

    x = sb.gaussian_inputs(32, 3, seed=0)
    prob = NetworkBatch("tanh", x, x[:, 0])
    shapes = []
    pair = prob.pair
    prob.pair = lambda z: shapes.append(tuple(z.shape)) or pair(z)
    sec = activation_seconds(prob, 2, 5, 32, 4, repeats=2, calls=3)
    assert 0 < sec < 1 and len(shapes) == 2 * 3 * 4 and set(shapes) == {(2, 5, 32)}
