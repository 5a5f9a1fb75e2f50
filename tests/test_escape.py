import dataclasses
import math

import numpy as np
import pytest
import torch

import saddlebook as sb
from saddlebook.dynamics import SweepConfig, escape_time, sweep
from saddlebook.errors import ParameterError
from saddlebook.theory import blowup_time, fit_log, fit_power, local_slopes, loglog_slope

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


@pytest.fixture
def no_compute(monkeypatch):
    """Building data or integrating fails the test: a refusal must come first."""
    def boom(*args, **kwargs):
        raise AssertionError("computation started before the options were checked")

    for name in ("gaussian_inputs", "quadrature_data", "integrate"):
        monkeypatch.setattr(f"saddlebook.dynamics._escape.{name}", boom)


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
def test_bad_input_is_refused_before_compute(kwargs, match, no_compute):
    args = dict(activation="tanh", depth=4)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        sweep(**args)
    with pytest.raises(ValueError, match=match):
        SweepConfig(**args)
    with pytest.raises(ParameterError):
        escape_time(eps=[0.1, 0.2])
    with pytest.raises(ParameterError):
        loglog_slope([0.1, 0.2], [1.0, math.nan])


# --- user-supplied inputs, targets, covariance and direction (chapter 07) ---


def test_default_behaviour_unchanged_by_new_options():
    kw = dict(eps=[0.05], width=4, input_dim=3, n_samples=256, model="reduced")
    a = sweep("tanh", 4, **kw)
    x = sb.gaussian_inputs(256, 3, seed=0)
    v = torch.zeros(3, dtype=torch.float64)
    v[0] = 1.0
    b = sweep("tanh", 4, x=x, teacher=sb.SingleIndexTeacher(v, "tanh", 1.0), **kw)
    c = sweep("tanh", 4, x=x, cov=None, direction=v, **kw)
    assert a.tau[0] == b.tau[0] == c.tau[0] and a.gamma == b.gamma


def test_user_data_full_equals_reduced_and_tau_scales_like_one_over_gamma():
    x = sb.gaussian_inputs(300, 5, seed=1, cov=torch.diag(torch.tensor([3.0, 1.0, 1.0, 0.5, 0.2], dtype=torch.float64)))
    y = torch.tanh(x[:, 0] - 0.5 * x[:, 3]) + 0.3 * x[:, 1] ** 2
    kw = dict(eps=[0.02], width=6, x=x, criterion="moment", t_max=1e9)
    full = sweep("tanh", 4, y=y, model="full", **kw)
    red = sweep("tanh", 4, y=y, model="reduced", **kw)
    assert full.tau[0] == pytest.approx(red.tau[0], rel=1e-6)
    assert red.gamma == pytest.approx(sb.gamma(x, y), rel=1e-14)
    twice = sweep("tanh", 4, y=3 * y, model="reduced", **kw)
    # tau ~ C / Gamma to leading order: tripling y divides tau by 3 up to O(eps^2).
    assert twice.tau[0] * 3 == pytest.approx(red.tau[0], rel=5e-3)
    assert red.tau[0] * red.gamma == pytest.approx(blowup_time(0.02, 4, 1.0, 1.0), rel=5e-3)


def test_covariance_sample_and_moment_direction():
    cov = torch.diag(torch.tensor([4.0, 1.0, 0.25], dtype=torch.float64))
    v = torch.tensor([0.6, 0.0, 0.8], dtype=torch.float64)
    t = sb.SingleIndexTeacher(v, "tanh", 1.0)
    kw = dict(eps=[0.02], width=4, input_dim=3, n_samples=2048, teacher=t, cov=cov, model="reduced",
              criterion="moment", t_max=1e9)
    m = sweep("tanh", 4, direction="moment", **kw)
    x = sb.gaussian_inputs(2048, 3, cov=cov, seed=0)
    assert m.gamma == pytest.approx(sb.gamma(x, t(x)), rel=1e-14)
    assert m.gamma == pytest.approx(sb.gamma(t, cov=cov), rel=0.05)
    assert m.tau[0] * m.gamma == pytest.approx(blowup_time(0.02, 4, 1.0, 1.0), rel=5e-3)
    # Starting along v instead of the moment direction Sigma v costs time.
    along_v = sweep("tanh", 4, **kw)
    assert along_v.tau[0] > m.tau[0] * 1.01


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(y=torch.zeros(5)), "'y' needs inputs 'x'"),
        (dict(x=torch.zeros(5)), "'x' must be a 2-D"),
        (dict(x=torch.zeros(5, 16), data="population"), "data='sample'"),
        (dict(x=torch.zeros(5, 16), cov=torch.eye(16)), "not both"),
        (dict(x=torch.zeros(5, 16), y=torch.zeros(4)), "shape \\(5,\\)"),
        (dict(x=torch.zeros(5, 16), y=torch.zeros(5), teacher=sb.LinearTeacher(torch.ones(16))), "not both"),
        (dict(cov=torch.eye(3)), "'cov' has shape"),
        (dict(cov=torch.eye(16), data="population"), "'cov' needs data='sample'"),
        (dict(direction="up"), "'direction'"),
        (dict(direction=torch.zeros(16)), "non-zero"),
        (dict(direction=torch.ones(3)), "3 entries"),
        (dict(x=torch.randn(8, 2), y=torch.zeros(8)), "Gamma > 0"),
    ],
)
def test_bad_user_data_is_refused(kwargs, match, no_compute):
    with pytest.raises(ParameterError, match=match):
        sweep("tanh", 4, eps=[0.1], **kwargs)
    if match != "Gamma > 0":  # the one refusal that needs the data built
        with pytest.raises(ParameterError, match=match):
            SweepConfig("tanh", 4, eps=[0.1], **kwargs)


# --- the configuration object ---

SMALL = dict(r=2, eps=[0.1, 0.05], seeds=[0, 1], width=6, input_dim=3, n_samples=64, init="he")


def test_config_is_frozen_comparable_hashable_and_normalised():
    cfg = SweepConfig("tanh", 3, **SMALL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.width = 8
    same = SweepConfig("tanh", 3, **{**SMALL, "eps": (0.1, 0.05), "device": torch.device("cpu")})
    assert cfg == same and hash(cfg) == hash(same) and len({cfg, same}) == 1
    assert SweepConfig(**cfg.options()) == cfg and cfg.replace() == cfg
    assert cfg != cfg.replace(width=7) and cfg != "tanh"
    assert cfg.eps == (0.1, 0.05) and cfg.seeds == (0, 1) and cfg.dtype is None and cfg.device == "cpu"
    assert cfg.dtype_used == torch.float64 and cfg.replace(dtype="float64").dtype == torch.float64
    assert cfg.bottleneck_used == (1, 2) and cfg.input_dim_used == 3 and cfg.rtol_used == 1e-9
    # Tensors compare by value, not identity.
    x = sb.gaussian_inputs(16, 3, seed=0)
    a = SweepConfig(x=x, y=x[:, 0], direction=torch.ones(3))
    b = SweepConfig(x=x.clone(), y=x[:, 0].clone(), direction=[1.0, 1.0, 1.0])
    assert a == b and hash(a) == hash(b) and a != b.replace(direction=[1.0, 1.0, 2.0])
    assert a.input_dim_used == 3 and a.teacher_used is None


def test_replace_checks_again_and_resolves_afresh():
    cfg = SweepConfig("tanh", 4, eps=[0.05], width=4, input_dim=3)
    for change, match in [(dict(threshold=1.0), "'threshold'"), (dict(width=0), "'width'"),
                          (dict(model="reduced", init="he"), "model"), (dict(r=5), "'r'")]:
        with pytest.raises(ParameterError, match=match):
            cfg.replace(**change)
        with pytest.raises(ParameterError, match=match):
            dataclasses.replace(cfg, **change)
    # Options resolved from others follow the variant, not the original.
    assert cfg.replace(dtype="float32").rtol_used == 1e-6
    assert cfg.replace(depth=6).bottleneck_used == (1, 2, 3, 4, 5, 6)
    assert cfg.replace(input_dim=5).teacher_used.v.shape == (5,)
    with pytest.raises(ValueError, match="init=False"):
        cfg.replace(rtol_used=1e-3)


def test_config_and_keyword_call_give_identical_results():
    cfg = SweepConfig("tanh", 3, **SMALL)
    a, b = sweep(cfg), sweep("tanh", 3, **SMALL)
    for k in ("eps", "seed", "tau", "nfev", "steps", "loss0"):
        assert np.array_equal(getattr(a, k), getattr(b, k)), k
    assert a.gamma == b.gamma and a.config == b.config and a.sweep_config == cfg == b.sweep_config
    assert a.config["eps"] == [0.1, 0.05] and a.config["dtype"] == "float64" and a.grid().shape == (2, 2)
    c, d = sweep(cfg, criterion="moment"), sweep(cfg.replace(criterion="moment"))
    assert np.array_equal(c.tau, d.tau) and not np.array_equal(c.tau, a.tau)
    rest = {k: v for k, v in SMALL.items() if k not in ("r", "eps", "seeds")}
    assert escape_time("tanh", 3, 2, 0.05, seed=1, **rest) == sweep(cfg.replace(eps=0.05, seeds=[1])).tau[0]
    with pytest.raises(TypeError):
        sweep(cfg, 4)
