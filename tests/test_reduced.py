import math

import numpy as np
import pytest
import torch

import saddlebook as sb
from saddlebook.errors import ParameterError
from saddlebook.geometry import _manifold as M
from saddlebook.nets import symmetric_weights
from saddlebook.theory import (
    ReducedChain,
    balanced_scalar,
    blowup_time,
    critical_depth_integral,
    quadrature_data,
    reduced_flow,
)

torch.set_num_threads(1)
V = torch.tensor([0.6, 0.8, 0.0], dtype=torch.float64)


def test_quadrature_is_the_population_expectation():
    x, y, pi = quadrature_data(sb.SingleIndexTeacher(V, "tanh"), 160)
    assert float(pi.sum()) == pytest.approx(1.0, abs=1e-15)
    # E[xxᵀ] restricted to v̂ is 1; E[tanh(g)²] by a much finer rule.
    assert float(pi @ (x @ V) ** 2) == pytest.approx(1.0, abs=1e-13)
    x2, y2, pi2 = quadrature_data(sb.SingleIndexTeacher(V, "tanh"), 400)
    assert float(pi @ y**2) == pytest.approx(float(pi2 @ y2**2), abs=1e-13)
    assert float(torch.linalg.vector_norm((pi * y) @ x)) == pytest.approx(0.6057055, abs=1e-6)


def test_reduced_flow_equals_full_network_flow():
    x = sb.gaussian_inputs(30, 3, seed=2)
    y = sb.SingleIndexTeacher(V, "tanh")(x)
    widths = [3, 5, 5, 5, 1]
    w0 = symmetric_weights(widths, [0.3, 0.4, 0.5, 0.6], direction=torch.tensor([1.0, 0.0, 1.0]))
    ts = np.linspace(0, 30, 7)
    full = sb.gradient_flow(w0, "tanh", x, y, t_max=30.0, t_eval=ts)
    wr, yr = M.to_reduced(w0)
    red = reduced_flow(wr, yr, "tanh", x, y, 5, ts)
    assert full.loss[-1] < 0.5 * full.loss[0]  # it escaped within the window
    assert np.allclose(red.loss, full.loss, rtol=1e-7, atol=0)
    scales = np.array([[float(m.norm()) for m in ws] for ws in full.weights])
    assert np.allclose(red.scales, scales, rtol=1e-7)
    assert max(float(M.deviation(ws)) for ws in full.weights) < 1e-12


def test_blowup_time_closed_form():
    # Leading-order balanced ODE integrated numerically blows up at t*.
    from scipy.integrate import solve_ivp
    eps, L, a, g = 0.1, 5, 0.8, 0.6
    ts = blowup_time(eps, L, a, g)
    assert ts == pytest.approx(eps ** -3 / (3 * a**4 * g))
    sol = solve_ivp(lambda t, y: a ** (L - 1) * g * y ** (L - 1), (0, 0.999 * ts), [eps], rtol=1e-12, atol=1e-14)
    assert sol.y[0, -1] == pytest.approx(balanced_scalar(0.999 * ts, eps, L, a, g), rel=1e-8)
    assert balanced_scalar(ts * 1.01, eps, L, a, g) == np.inf


def test_critical_depth_integral_worked_numbers():
    got = [critical_depth_integral(0.01, 0.1, r) for r in (1, 2, 3, 4)]
    assert got == pytest.approx([0.09, math.log(10), 90.0, 4950.0], rel=1e-12)
    arr = critical_depth_integral(np.array([0.01, 0.02]), 0.1, 3)
    assert arr.shape == (2,)


def test_bad_inputs():
    with pytest.raises(ParameterError, match="'depth'"):
        blowup_time(0.1, 2, 1.0, 1.0)
    with pytest.raises(ParameterError, match="'eps'"):
        critical_depth_integral(0.2, 0.1, 3)
    with pytest.raises(ParameterError, match="'r'"):
        critical_depth_integral(0.01, 0.1, 0)
    with pytest.raises(ParameterError, match="quadrature"):
        quadrature_data(sb.FeatureSum([sb.SingleIndexTeacher(V)]))
    with pytest.raises(ParameterError, match="'width'"):
        ReducedChain("tanh", torch.zeros(3, 2), torch.zeros(3), 0)


def _gd_pair(x, y, pi, widths, scales, eta, n_steps, every):
    from saddlebook.theory import descent_states
    w0 = symmetric_weights(widths, scales, direction=V)
    full = descent_states(sb.NetworkBatch("tanh", x, y, pi), [w[None] for w in w0], eta, n_steps, every)
    return w0, full, descent_states


def test_reduced_descent_equals_full_descent_step_by_step():
    x = sb.gaussian_inputs(40, 3, seed=4)
    y = sb.SingleIndexTeacher(V, "tanh")(x)
    widths = [3, 6, 6, 1]
    w0, full, descent_states = _gd_pair(x, y, None, widths, [0.5, 0.6, 0.7], 0.3, 60, 5)
    wr, yr = M.to_reduced(w0)
    red = descent_states(ReducedChain("tanh", x, y, 6), [wr[None]] + [v.reshape(1) for v in yr], 0.3, 60, 5)
    assert len(full) == len(red) == 13
    dist = [float(M.reduced_distance(f, r[0], torch.stack(r[1:], dim=-1))) for f, r in zip(full, red)]
    assert max(dist) < 1e-13
    assert float(full[-1][0].norm()) != pytest.approx(float(full[0][0].norm()), rel=1e-3)  # the weights moved
    # A step of the wrong size on one side is seen at once.
    red_off = descent_states(ReducedChain("tanh", x, y, 6), [wr[None]] + [v.reshape(1) for v in yr], 0.33, 5, 5)
    assert float(M.reduced_distance(full[1], red_off[1][0], torch.stack(red_off[1][1:], dim=-1))) > 1e-4


def test_population_chain_is_L_dimensional_and_matches_the_full_network():
    from saddlebook.theory import population_chain
    teacher = sb.SingleIndexTeacher(V, "tanh")
    xq, yq, pi = quadrature_data(teacher, 60)
    widths = [3, 5, 5, 5, 1]
    w0, full, descent_states = _gd_pair(xq, yq, pi, widths, [0.4, 0.5, 0.6, 0.7], 0.5, 40, 10)
    chain = population_chain("tanh", teacher, 5, n_nodes=60)
    wr, yr = M.to_reduced(w0)
    vhat = V / V.norm()
    start = [(wr @ vhat).reshape(1, 1)] + [v.reshape(1) for v in yr]
    red = descent_states(chain, start, 0.5, 40, 10)
    assert red[0][0].shape == (1, 1) and len(red[0]) == 4  # L numbers
    for f, r in zip(full, red):
        assert float(M.reduced_distance(f, r[0], torch.stack(r[1:], dim=-1), direction=vhat)) < 1e-13
    with pytest.raises(ParameterError, match="'every'"):
        descent_states(chain, start, 0.5, 40, 7)
    with pytest.raises(ParameterError, match="'direction'"):
        M.reduced_distance(full[0], red[0][0], torch.stack(red[0][1:], dim=-1), direction=2 * vhat)


def test_stable_horizon_finds_the_first_rise_of_the_loss():
    from saddlebook.theory import stable_horizon
    # A quadratic problem: GD on ½ c θ² is stable for η < 2/c and oscillates with growing loss beyond.
    class Quadratic:
        def evaluate(self, params):
            loss = 0.5 * 3.0 * params[0][:, 0] ** 2
            return loss, loss, [3.0 * params[0]]

    start = [torch.ones(1, 1, dtype=torch.float64)]
    assert stable_horizon(Quadratic(), start, 0.5, 20) == 20  # |1 - 1.5| < 1: the loss falls
    assert stable_horizon(Quadratic(), start, 0.7, 20) == 0  # |1 - 2.1| > 1: it rises at once
    with pytest.raises(ParameterError, match="'rtol'"):
        stable_horizon(Quadratic(), start, 0.5, 20, rtol=-1.0)


def test_noise_amplification_of_a_contraction_and_an_expansion():
    from saddlebook.theory import noise_amplification

    class Linear:
        def __init__(self, c):
            self.c = c

        def evaluate(self, params):
            loss = 0.5 * self.c * params[0][:, 0] ** 2
            return loss, loss, [self.c * params[0]]

    start = [torch.ones(1, 1, dtype=torch.float64)]
    # θ ← (1 − ηc)θ is linear, so a relative perturbation stays relative: the response is the
    # sum of the injected ones, at most one per injection.
    a = noise_amplification(Linear(1.0), start, 0.5, 20, every=2, delta=1e-9)
    assert 0.0 < a <= 10.0 + 1e-6
    with pytest.raises(ParameterError, match="'delta'"):
        noise_amplification(Linear(1.0), start, 0.5, 20, every=2, delta=0.0)
