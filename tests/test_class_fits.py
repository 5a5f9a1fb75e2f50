"""Tests of saddlebook.theory._class_fits: what the activation's class changes in the exponent fits."""

import math

import numpy as np
import pytest
import torch
from scipy.integrate import quad

import saddlebook as sb
from saddlebook.errors import ParameterError
from saddlebook.theory import _class_fits as cf


def escape_time(eps, r, k, beta, theta=1.0):
    """tau Gamma = integral_eps^theta dy / (y^(r-1) (1 + beta y^k)): the law with one correction."""
    return np.array([quad(lambda y: 1.0 / (y ** (r - 1) * (1.0 + beta * y**k)), e, theta, epsabs=0, epsrel=1e-12,
                          limit=200)[0] for e in np.atleast_1d(eps)])


def test_correction_order_by_class():
    assert cf.correction_order("B") == 2
    assert cf.correction_order("C") == 1
    assert cf.correction_order("C", parity_cancels=True) == 2
    assert cf.correction_order("B", parity_cancels=True) == 2
    for bad, word in (("A", "class A"), ("D", "class D"), ("E", "must be one of")):
        with pytest.raises(ParameterError, match=word):
            cf.correction_order(bad)


@pytest.mark.parametrize("k, r", [(1, 3), (1, 4), (1, 5), (2, 3), (2, 4), (2, 6)])
def test_slope_miss_matches_the_exact_integral(k, r):
    # The local slope of the exact integral misses -(r-2) by the predicted amount plus the offset's
    # O(eps^(r-2)) part; beta = 0 gives that offset part alone, so the difference is the correction's.
    beta, e1, e2 = 0.4, 1e-4, 1.2e-4
    with_c, without = (escape_time([e1, e2], r, k, b) for b in (beta, 0.0))
    miss = np.diff(np.log(with_c))[0] / math.log(e2 / e1) - np.diff(np.log(without))[0] / math.log(e2 / e1)
    predicted = cf.slope_miss(k, beta, math.sqrt(e1 * e2), r)
    # Leading order in beta: the beta^2 y^(2k) term adds a relative O(beta) (4% at r - 2 = k = 1).
    assert abs(miss) == pytest.approx(predicted, rel=0.15 if r - 2 < k else 0.06 if r - 2 == k else 0.02)
    assert cf.slope_miss_order(k, r) == min(k, r - 2)


def test_eps_ceiling_inverts_slope_miss():
    ceil = cf.eps_ceiling(1, 0.3, 4, 0.005)
    assert cf.slope_miss(1, 0.3, ceil, 4) == pytest.approx(0.005, rel=1e-9)
    assert cf.eps_ceiling(2, 0.0, 4, 0.005) == math.inf
    with pytest.raises(ParameterError, match="budget"):
        cf.eps_ceiling(1, 0.3, 4, 0.0)


@pytest.mark.parametrize("r", [3, 4, 5])
def test_corrected_fit_removes_the_first_order_bias(r):
    eps = np.geomspace(0.01, 0.2, 6)
    tau = escape_time(eps, r, 1, 0.5) + 3.0
    corrected = cf.fit_exponent(eps, tau, r, 1)
    offset_only = cf.fit_exponent(eps, tau, r, 2)
    assert offset_only.form == "A eps^-p + B" and offset_only.p == sb.fit_power(eps, tau).p
    assert abs(corrected.p - (r - 2)) < 0.01
    assert np.max(np.abs(corrected(eps) / tau - 1)) < 1e-3  # the fitted law reproduces the data
    assert abs(offset_only.p - (r - 2)) > 3 * abs(corrected.p - (r - 2))


@pytest.mark.parametrize("order", [1, 2])
def test_fit_exponent_can_fail(order):
    # A law with another exponent is not fitted as r - 2: the extra terms do not absorb it.
    eps = np.geomspace(0.01, 0.2, 6)
    tau = escape_time(eps, 4, order, 0.3)  # the r = 4 law ...
    assert abs(cf.fit_exponent(eps, tau, 3, order).p - 1) > 0.5  # ... is not read as r = 3


def test_fit_exponent_refusals():
    eps = np.geomspace(0.01, 0.2, 4)
    with pytest.raises(ParameterError, match="at least 5"):
        cf.fit_exponent(eps, eps**-1.0, 3, 1)
    with pytest.raises(ParameterError, match="'r'"):
        cf.fit_exponent(eps, eps**-1.0, 2, 2)
    assert cf.fit_points(1) == 5 and cf.fit_points(2) == 4
    assert cf.fit_form(3, 1) == "A eps^-p + A' log(1/eps) + B" and cf.fit_form(5, 2) == "A eps^-p + B"


def test_even_coefficient():
    x = sb.gaussian_inputs(400, 3, seed=0)
    y = torch.tanh(x[:, 0])
    b, c = sb.classify("tanh"), sb.classify("gelu")
    assert cf.even_coefficient(b, x, y) == 0.0
    s2, alpha = 1 / math.sqrt(2 * math.pi), 0.5
    even = torch.einsum("i,ij,ik->jk", y, x, x) / 400
    expected = 2 * s2 / alpha * float(torch.linalg.matrix_norm(even, ord=2)) / float(torch.linalg.norm(x.T @ y / 400))
    assert cf.even_coefficient(c, x, y) == pytest.approx(expected, rel=1e-6)
    # An even target part makes it order one; the symmetric sample only O(n^-1/2).
    assert cf.even_coefficient(c, x, y + x[:, 1] ** 2) > 5 * cf.even_coefficient(c, x, y)
    with pytest.raises(ParameterError, match="class A"):
        cf.even_coefficient(sb.classify("identity"), x, y)


def test_even_coefficient_along_the_moment():
    x = sb.gaussian_inputs(400, 3, seed=0)
    y = torch.tanh(x[:, 0])
    c = sb.classify("gelu")
    m = x.T @ y / 400
    u = m / m.norm()
    even = torch.einsum("i,ij,ik->jk", y, x, x) / 400
    expected = 2 / math.sqrt(2 * math.pi) / 0.5 * abs(float(u @ even @ u)) / float(m.norm())
    assert cf.even_coefficient(c, x, y, direction="moment") == pytest.approx(expected, rel=1e-12)
    assert cf.even_coefficient(c, x, y, direction="moment") <= cf.even_coefficient(c, x, y)
    # An even part across the moment direction moves the bound, not the aligned form (to first order).
    tilted = y + 0.5 * (x[:, 1] ** 2 - 1)
    assert cf.even_coefficient(c, x, tilted) > 3 * cf.even_coefficient(c, x, tilted, direction="moment")
    with pytest.raises(ParameterError, match="'direction' = 'up' must be 'any' or 'moment'"):
        cf.even_coefficient(c, x, y, direction="up")


def test_he_forward_growth():
    x = sb.gaussian_inputs(256, 8, seed=0)
    widths = [8] + [16] * 7 + [1]
    assert cf.he_forward_growth("tanh", widths, x) < 2
    assert cf.he_forward_growth("z*tanh(softplus(z))", widths, x) < 5
    assert cf.he_forward_growth("z + 0.3*z**2", widths, x) > 1e6


def test_growth_window_top():
    assert cf.growth_window_top(2, 0.3, 1e-4, 1e-20, 3, 0.005) == math.inf
    assert cf.growth_window_top(1, 0.0, 1e-4, 1e-20, 3, 0.005) == math.inf
    top = cf.growth_window_top(1, 0.3, 1e-4, 1e-20, 3, 0.005)
    y_top = 1e-4 * (top / 1e-20) ** (1 / 6)  # back to the bottleneck scale
    assert 0.3 * y_top / 6 == pytest.approx(0.005, rel=1e-9)
    with pytest.raises(ParameterError, match="gamma0"):
        cf.growth_window_top(1, 0.3, 1e-4, 0.0, 3, 0.005)


def test_growth_eps_ceiling():
    assert cf.growth_eps_ceiling(2, 0.3, 8, 0.0025, 7) == math.inf
    e = cf.growth_eps_ceiling(1, 0.35, 8, 0.0025, 7)
    top = cf.growth_window_top(1, 0.35, e, 1.0, 8, 0.0025)  # gamma0 = 1: the window top in units of gamma(0)
    assert math.log10(top) == pytest.approx(7, rel=1e-9)
