"""Leading-order laws of thresholds and of discrete gradient descent, against the scalar model itself."""
import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from saddlebook.errors import ParameterError
from saddlebook.theory._beyond_flow import (
    descent_delay_slope,
    euler_rate_ratio,
    threshold_gain,
    threshold_shift,
)


def test_threshold_gain_solves_the_leading_order_loss_drop():
    y = threshold_gain(0.99, 0.2, 0.6, 3)
    assert math.isclose(0.6 * y ** 3, 0.01 * 0.2, rel_tol=1e-12)


@pytest.mark.parametrize("r", [2, 3, 4])
def test_threshold_shift_is_the_time_between_the_two_gains_of_the_scalar_ode(r):
    g, loss0 = 0.7, 0.2
    y1, y2 = threshold_gain(0.999, loss0, g, r), threshold_gain(0.99, loss0, g, r)
    def reached(t, y):
        return y[0] - y2

    reached.terminal = True
    sol = solve_ivp(lambda t, y: g * y ** (r - 1), (0, 1e6), [y1], events=reached, rtol=1e-12, atol=1e-14)
    assert math.isclose(threshold_shift(0.999, 0.99, loss0, g, r), sol.t_events[0][0], rel_tol=1e-8)


def _euler_escape(eps, eta, g, r, top=0.5):
    """First time t = eta k at which Euler's y_{k+1} = y_k + eta g y_k^(r-1) reaches top (interpolated)."""
    y, k = eps, 0
    while True:
        nxt = y + eta * g * y ** (r - 1)
        if nxt >= top:
            return eta * (k + (top - y) / (nxt - y))
        y, k = nxt, k + 1


@pytest.mark.parametrize("r", [3, 4])
def test_descent_delay_grows_like_half_r_minus_one_log_one_over_eps(r):
    g, eta, top = 1.0, 1e-2, 0.5
    eps = np.array([0.02, 0.04, 0.08]) if r == 3 else np.array([0.06, 0.1, 0.16])
    exact = (eps ** -(r - 2) - top ** -(r - 2)) / ((r - 2) * g)
    delay = np.array([_euler_escape(e, eta, g, r, top) for e in eps]) - exact
    slope = np.polyfit(np.log(1 / eps), delay / eta, 1)[0]
    assert abs(slope - descent_delay_slope(r)) < 0.02


def test_euler_rate_ratio_is_exact_for_linear_growth():
    eta, g, eps = 0.1, 0.8, 1e-6
    steps = math.log(1 / eps) / math.log1p(eta * g)  # (1 + eta g)^k eps = 1
    assert math.isclose(eta * steps * g / math.log(1 / eps), euler_rate_ratio(eta, g), rel_tol=1e-12)
    assert math.isclose(euler_rate_ratio(1e-6, 1.0), 1 + 0.5e-6, rel_tol=1e-9)


def test_refusals():
    with pytest.raises(ParameterError, match="'c'"):
        threshold_gain(1.0, 0.2, 0.6, 3)
    with pytest.raises(ParameterError, match="c_late"):
        threshold_shift(0.9, 0.99, 0.2, 0.6, 3)
    with pytest.raises(ParameterError, match="'r'"):
        descent_delay_slope(0)
    with pytest.raises(ParameterError, match="eta"):
        euler_rate_ratio(0.0, 1.0)
