"""The escape definition (saddlebook.dynamics._crossing): the crossing between two bracketing samples."""
import numpy as np
import pytest
import torch

from saddlebook.dynamics import crossing_time, descend
from saddlebook.dynamics._crossing import refine_crossing

F64 = torch.float64


def _piecewise_linear(t, knots, values):
    return np.interp(t, knots, values)


def test_crossing_time_is_exact_on_a_piecewise_linear_trajectory():
    # A falling trajectory with a kink inside: sampled at its knots, the crossing of any level is exact.
    knots = np.array([0.0, 1.0, 2.5, 4.0, 7.0])
    values = np.array([1.0, 0.95, 0.7, 0.2, 0.1])
    for level in (0.9, 0.7, 0.5, 0.2 + 1e-12, 0.15):
        k = int(np.argmax(values <= level))  # first sample at or past the level
        t = crossing_time(knots[k - 1], values[k - 1], knots[k], values[k], level)
        assert knots[k - 1] < t <= knots[k]
        assert _piecewise_linear(t, knots, values) == pytest.approx(level, abs=1e-15)
    # A sample exactly at the level is reached there.
    assert crossing_time(1.0, 0.95, 2.5, 0.7, 0.7) == 2.5


def test_crossing_time_rising_and_elementwise():
    # Rising through the level (a moment criterion): the same straight line.
    assert crossing_time(2.0, 0.1, 3.0, 0.5, 0.2) == pytest.approx(2.25, rel=1e-15)
    t0, t1 = np.array([0.0, 1.0]), np.array([1.0, 2.0])
    f0, f1 = np.array([1.0, 4.0]), np.array([0.0, 2.0])
    assert np.allclose(crossing_time(t0, f0, t1, f1, np.array([0.5, 3.0])), [0.5, 1.5], rtol=0, atol=1e-15)
    out = crossing_time(*(torch.tensor(v) for v in (t0, f0, t1, f1)), torch.tensor([0.25, 3.0], dtype=F64))
    assert isinstance(out, torch.Tensor)
    assert torch.allclose(out, torch.tensor([0.75, 1.5], dtype=F64), rtol=0, atol=1e-15)


def test_refine_crossing_on_a_curved_dense_output():
    # Observable theta^2 along the step (convex): regula falsi must converge to sqrt(level), per run.
    level = torch.tensor([0.25, 0.5, 0.81], dtype=F64)

    def path(theta):
        return [theta.clone()]

    theta, state, used = refine_crossing(path, lambda s: s[0] ** 2, level, +1, torch.zeros(3, dtype=F64),
                                         torch.ones(3, dtype=F64))
    assert torch.allclose(theta, level.sqrt(), rtol=0, atol=1e-13)
    assert torch.equal(state[0], theta) and 1 <= used <= 60
    # A linear observable: the first iterate (the crossing_time of the whole step) is already the answer.
    lin, _, _ = refine_crossing(path, lambda s: 1.0 - s[0], torch.tensor([0.3], dtype=F64), -1,
                                torch.ones(1, dtype=F64), torch.zeros(1, dtype=F64))
    assert float(lin[0]) == pytest.approx(0.7, abs=1e-13)


class _Quadratic:
    """Loss ½ a θ² per run, parameters [θ, a] (a has zero gradient): descent is θ_k = (1 − η a)^k θ_0."""

    def evaluate(self, params):
        th, a = params
        loss = 0.5 * a[:, 0] * th[:, 0] ** 2
        return loss, loss, [a * th, torch.zeros_like(a)]


def test_descend_places_the_escape_on_the_straight_line_between_steps():
    a, eta, theta0, frac = np.array([1.0, 0.3]), 0.1, 2.0, 0.37
    params = [torch.full((2, 1), theta0, dtype=F64), torch.tensor(a, dtype=F64)[:, None]]
    res = descend(_Quadratic(), params, eta, t_max=50.0, level=frac * 0.5 * a * theta0**2)
    for b in range(2):
        k = np.arange(600)
        loss = 0.5 * a[b] * ((1 - eta * a[b]) ** k * theta0) ** 2
        hit = int(np.argmax(loss <= frac * loss[0]))
        expected = crossing_time(eta * (hit - 1), loss[hit - 1], eta * hit, loss[hit], frac * loss[0])
        assert res.steps[b] == hit
        assert res.t_event[b] == pytest.approx(expected, rel=1e-13)
        assert eta * (hit - 1) < res.t_event[b] <= eta * hit
