import math

import numpy as np
import pytest
import torch

import saddlebook as sb
from saddlebook.errors import ParameterError
from saddlebook.geometry import (
    escape_exponent,
    fit_growth,
    growth_exponent,
    linear_moment,
    plateau_time,
    signal_energy,
    signal_energy_rate,
)
from saddlebook.nets import he_weights

WID = [5, 6, 6, 6, 1]


@pytest.fixture(scope="module")
def data():
    x = sb.gaussian_inputs(200, 5, seed=3)
    v = torch.tensor([1.0, 0.5, 0.0, 0.0, -0.2], dtype=torch.float64)
    return x, sb.SingleIndexTeacher(v, "tanh")(x)


def test_linear_moment_of_a_linear_network_is_the_end_to_end_map(data):
    x, _ = data
    w = he_weights(WID, 0.3, [1, 2], seed=1)
    beta = (w[3] @ w[2] @ w[1] @ w[0]).reshape(-1)
    m = linear_moment(w, "identity", x)
    assert torch.allclose(m, (x.T @ x / x.shape[0]) @ beta, rtol=1e-12, atol=1e-15)
    assert signal_energy(w, "identity", x) == pytest.approx(float(m @ m), rel=1e-14)


def test_rate_matches_finite_difference_along_the_flow(data):
    x, y = data
    w = he_weights(WID, 0.2, [1, 2, 3], seed=2)
    g, rate = signal_energy_rate(w, "tanh", x, y)
    h = 1e-4
    grad = sb.gradient(w, "tanh", x, y)
    fwd = signal_energy([a - h * b for a, b in zip(w, grad)], "tanh", x)
    bwd = signal_energy([a + h * b for a, b in zip(w, grad)], "tanh", x)
    assert rate == pytest.approx((fwd - bwd) / (2 * h), rel=1e-5)
    assert g == pytest.approx(signal_energy(w, "tanh", x), rel=1e-14)


def test_initial_energy_scales_as_eps_to_2r(data):
    x, _ = data
    eps = np.array([1e-3, 1e-2])
    g = [signal_energy(he_weights(WID, e, [1, 2, 3], seed=4), "tanh", x) for e in eps]
    assert np.log(g[1] / g[0]) / np.log(10.0) == pytest.approx(6.0, abs=1e-3)


def test_exponents():
    assert growth_exponent(3) == pytest.approx(7 / 6)
    assert growth_exponent(2) == 1.0
    for r in (3, 4, 5, 8):
        assert escape_exponent(growth_exponent(r), r) == pytest.approx(r - 2)
    # the garbled law 1 - 1/r gives no divergence
    assert escape_exponent(1 - 1 / 3, 3) == 0.0
    with pytest.raises(ParameterError, match="'r'"):
        growth_exponent(0)
    with pytest.raises(ParameterError, match="'k'"):
        escape_exponent(float("nan"), 3)


def test_plateau_time_closed_form_and_limits():
    k, c = 7 / 6, 2.0
    t = plateau_time(1e-6, 1e-2, k, c)
    # numerical quadrature of dγ/(cγ^k) in log γ
    u = np.linspace(math.log(1e-6), math.log(1e-2), 200001)
    gam = np.exp(u)
    assert t == pytest.approx(np.trapezoid(gam / (c * gam**k), u), rel=1e-8)
    assert plateau_time(1e-4, 1e-2, 1.0, 0.5) == pytest.approx(2 * math.log(100))
    # k < 1: bounded as gamma0 -> 0; k > 1: grows like gamma0^(1-k)
    assert plateau_time(1e-30, 1.0, 2 / 3, 1.0) == pytest.approx(plateau_time(1e-40, 1.0, 2 / 3, 1.0), rel=1e-9)
    ratio = plateau_time(1e-18, 1.0, k, 1.0) / plateau_time(1e-12, 1.0, k, 1.0)
    assert ratio == pytest.approx(999 / 99, rel=1e-12)
    with pytest.raises(ParameterError, match="gamma0"):
        plateau_time(1.0, 0.5, k, c)
    with pytest.raises(ParameterError, match="'c'"):
        plateau_time(0.1, 0.5, k, -1.0)


def test_fit_growth_recovers_power_law_and_rejects_bad_windows():
    g = np.geomspace(1e-20, 1e-2, 30)
    k, c = fit_growth(g, 3.0 * g**1.3, 1e-18, 1e-4)
    assert k == pytest.approx(1.3, abs=1e-12) and c == pytest.approx(3.0, rel=1e-10)
    with pytest.raises(ParameterError, match="need 3"):
        fit_growth(g, g, 1e-30, 1e-25)
    with pytest.raises(ParameterError, match="rate must be > 0"):
        fit_growth(g, -g, 1e-18, 1e-4)


def test_bad_inputs(data):
    x, y = data
    w = he_weights(WID, 0.2, [1], seed=0)
    with pytest.raises(ValueError):
        linear_moment(w[:-1] + [torch.zeros(2, 6, dtype=torch.float64)], "tanh", x)
    with pytest.raises(ValueError, match="sample_weights"):
        linear_moment(w, "tanh", x, sample_weights=torch.ones(3))
