import math

import numpy as np
import pytest
import torch

import saddlebook as sb

F64 = torch.float64


def test_closed_form_solves_the_ode():
    s, u0, tau = 2.0, 1e-3, 1.5
    t = np.linspace(0, 8, 2001)
    h = 1e-5
    u = sb.saxe_mode_strength(t, s, u0, tau)
    du = (sb.saxe_mode_strength(t + h, s, u0, tau) - sb.saxe_mode_strength(t - h, s, u0, tau)) / (2 * h)
    resid = du - 2 * u * (s - u) / tau
    assert np.abs(resid).max() < 1e-7 * np.abs(du).max()
    assert math.isclose(float(sb.saxe_mode_strength(0.0, s, u0)), u0, rel_tol=1e-15)
    # The two algebraic forms agree where the first does not overflow.
    e = np.exp(2 * s * t / tau)
    assert np.allclose(u, s * e / (e - 1 + s / u0), rtol=1e-12)


def test_closed_form_is_stable_for_large_t():
    u = sb.saxe_mode_strength(np.array([1e4, 1e6]), 2.0, 1e-3)
    assert np.all(np.isfinite(u)) and np.allclose(u, 2.0)


def test_aligned_init_product():
    v = torch.tensor([0.6, 0.0, -0.8, 0.0], dtype=F64)
    w1, w2 = sb.two_layer_aligned_init(v, u0=0.01, hidden=3)
    assert w1.shape == (3, 4) and w2.shape == (1, 3)
    assert torch.allclose(w2 @ w1, 0.01 * v.reshape(1, 4), rtol=1e-15)
    assert float(sb.imbalance([w1, w2])) == pytest.approx(0.0, abs=1e-18)
    with pytest.raises(ValueError, match="unit norm"):
        sb.two_layer_aligned_init(2 * v, u0=0.01)
    with pytest.raises(ValueError, match="u0"):
        sb.two_layer_aligned_init(v, u0=0.0)


@pytest.mark.parametrize("hidden", [1, 3])
def test_saxe_matches_gradient_flow(hidden):
    d, n, s, u0 = 4, 64, 2.0, 1e-3
    x = sb.whitened_inputs(n, d, seed=5)
    v = torch.tensor([1.0, 2.0, -2.0, 4.0], dtype=F64) / 5.0
    y = s * (x @ v)
    w0 = sb.two_layer_aligned_init(v, u0=u0, hidden=hidden)
    ts = np.linspace(0, 6, 121)
    res = sb.gradient_flow(w0, "identity", x, y, t_max=6.0, t_eval=ts)
    u_num = np.array([float((w2 @ w1 @ v).squeeze()) for w1, w2 in res.weights])
    u_th = sb.saxe_mode_strength(ts, s, u0)
    assert np.max(np.abs(u_num - u_th) / u_th) <= 1e-6
    assert u_th[-1] > 0.99 * s  # the whole sigmoid was traversed
    # Population loss equals ½(s − u)² with whitened inputs.
    assert np.allclose(res.loss, 0.5 * (s - u_th) ** 2, rtol=1e-6)


def _modes(d=6, do=3, seed=2):
    g = torch.Generator().manual_seed(seed)
    U, _ = torch.linalg.qr(torch.randn(do, do, generator=g, dtype=F64))
    V, _ = torch.linalg.qr(torch.randn(d, do, generator=g, dtype=F64))
    return U, V


def test_half_time_inverts_the_closed_form():
    s, u0 = 1.5, 1e-4
    t = sb.theory.saxe_half_time(s, u0)
    assert float(sb.saxe_mode_strength(t, s, u0)) == pytest.approx(s / 2, rel=1e-12)
    with pytest.raises(ValueError, match="u0"):
        sb.theory.saxe_half_time(1.0, 2.0)


def test_modes_init_and_strengths():
    U, V = _modes()
    w1, w2 = sb.theory.two_layer_modes_init(U, V, 1e-3, hidden=5)
    assert w1.shape == (5, 6) and w2.shape == (3, 5)
    assert torch.allclose(w2 @ w1, 1e-3 * U @ V.T, atol=1e-15)
    assert torch.allclose(sb.theory.mode_strengths([w1, w2], U, V), torch.full((3,), 1e-3, dtype=F64), rtol=1e-12)
    assert torch.allclose(
        sb.theory.growing_mode_strength([w1, w2], U, V), torch.full((3,), 1e-3, dtype=F64), rtol=1e-12
    )
    with pytest.raises(ValueError, match="hidden"):
        sb.theory.two_layer_modes_init(U, V, 1e-3, hidden=2)
    with pytest.raises(ValueError, match="orthonormal"):
        sb.theory.two_layer_modes_init(2 * U, V, 1e-3)


def test_modes_follow_saxe_one_at_a_time():
    U, V = _modes()
    s = [2.0, 1.0, 0.5]
    A = U @ torch.diag(torch.tensor(s, dtype=F64)) @ V.T
    x = sb.whitened_inputs(48, 6, seed=1)
    ts = np.linspace(0, 12, 121)
    res = sb.gradient_flow(
        sb.theory.two_layer_modes_init(U, V, 1e-3, hidden=4), "identity", x, x @ A.T, t_max=12.0, t_eval=ts
    )
    um = np.array([sb.theory.mode_strengths(w, U, V).numpy() for w in res.weights])
    th = np.stack([sb.saxe_mode_strength(ts, sk, 1e-3) for sk in s], axis=1)
    assert np.max(np.abs(um - th) / th) < 1e-6
    halves = [sb.theory.saxe_half_time(sk, 1e-3) for sk in s]
    assert halves[0] < halves[1] < halves[2]


def test_growing_mode_strength_predicts_random_small_starts():
    U, V = _modes()
    s = [2.0, 1.0, 0.5]
    A = U @ torch.diag(torch.tensor(s, dtype=F64)) @ V.T
    x = sb.whitened_inputs(48, 6, seed=1)
    w0 = sb.init_gaussian([6, 6, 3], 1e-3, seed=4)
    ub = sb.theory.growing_mode_strength(w0, U, V)
    ts = np.linspace(0, 8, 1601)
    res = sb.gradient_flow(w0, "identity", x, x @ A.T, t_max=8.0, t_eval=ts)
    u1 = np.array([float(sb.theory.mode_strengths(w, U, V)[0]) for w in res.weights])
    t_half = ts[np.argmax(u1 >= s[0] / 2)]
    assert t_half == pytest.approx(sb.theory.saxe_half_time(s[0], float(ub[0])), abs=0.01)


# Unbalanced one-unit network (Kunin et al. 2024, re-derived in theory._linear).
from saddlebook.theory import (  # noqa: E402
    two_layer_unbalanced_init,
    unbalanced_layers,
    unbalanced_product,
    unbalanced_time,
)


def test_unbalanced_reduces_to_saxe_at_zero_imbalance():
    t = np.linspace(0, 6, 301)
    beta, p0 = 2.0, 1e-3
    assert np.allclose(unbalanced_product(t, beta, p0, 0.0), sb.saxe_mode_strength(t, beta, p0), rtol=1e-13)
    # Continuous in λ at 0: a small imbalance changes ṗ by a relative λ²/(8p²) at most.
    assert np.allclose(unbalanced_product(t, beta, p0, 1e-7), sb.saxe_mode_strength(t, beta, p0), rtol=1e-8)
    assert unbalanced_time(beta / 2, beta, p0, 0.0) == pytest.approx(sb.theory.saxe_half_time(beta, p0), rel=1e-13)


@pytest.mark.parametrize("lam", [-5.0, -0.7, 0.0, 0.3, 5.0])
def test_unbalanced_product_solves_its_ode(lam):
    beta, p0 = 1.5, 2e-3
    t = np.linspace(0, 8, 801)
    h = 1e-5
    p = unbalanced_product(t + h, beta, p0, lam)
    du = (unbalanced_product(t + 2 * h, beta, p0, lam) - unbalanced_product(t, beta, p0, lam)) / (2 * h)
    rhs = np.sqrt(lam**2 + 4 * p**2) * (beta - p)
    assert np.abs(du - rhs).max() < 1e-7 * np.abs(rhs).max()
    assert float(unbalanced_product(0.0, beta, p0, lam)) == pytest.approx(p0, rel=1e-12)
    # The product depends on λ only through λ², and t(p) inverts p(t).
    assert np.allclose(p, unbalanced_product(t + h, beta, p0, -lam), rtol=1e-13)
    # t(p) is ill-conditioned as p → β (dt/dp = 1/(ρ(β − p))): test it below 0.99 β.
    keep = (p > p0) & (p < 0.99 * beta)
    assert keep.sum() > 5
    assert np.allclose(unbalanced_time(p[keep], beta, p0, lam), t[keep] + h, rtol=1e-9)


def test_unbalanced_layers_keep_imbalance_and_product():
    beta, p0 = 1.0, 1e-2
    t = np.linspace(0, 5, 51)
    for lam in (-3.0, 0.0, 2.0):
        a, s = unbalanced_layers(t, beta, p0, lam)
        assert np.allclose(a**2 - s**2, lam, atol=1e-13)
        assert np.allclose(a * s, unbalanced_product(t, beta, p0, lam), rtol=1e-13)
        assert np.all(a > 0) and np.all(s > 0)


def test_unbalanced_matches_scipy_on_the_layer_ode():
    from scipy.integrate import solve_ivp
    beta, p0, lam = 2.0, 1e-3, -1.5
    a0, s0 = unbalanced_layers(0.0, beta, p0, lam)
    sol = solve_ivp(lambda t, z: [z[1] * (beta - z[0] * z[1]), z[0] * (beta - z[0] * z[1])], (0, 6),
                    [float(a0), float(s0)], t_eval=np.linspace(0, 6, 61), rtol=1e-12, atol=1e-15)
    a, s = unbalanced_layers(sol.t, beta, p0, lam)
    assert np.allclose(sol.y[0], a, rtol=1e-9) and np.allclose(sol.y[1], s, rtol=1e-9)


def test_unbalanced_init_and_network_flow():
    d, n, beta, p0, lam = 4, 32, 2.0, 1e-3, 0.8
    v = torch.tensor([1.0, 2.0, -2.0, 4.0], dtype=F64) / 5.0
    w0 = two_layer_unbalanced_init(v, p0, lam)
    assert w0[0].shape == (1, 4) and w0[1].shape == (1, 1)
    assert float(sb.imbalance(w0)) == pytest.approx(lam, rel=1e-13)
    assert float(w0[1] @ w0[0] @ v) == pytest.approx(p0, rel=1e-13)
    x = sb.whitened_inputs(n, d, seed=3)
    ts = np.linspace(0, 5, 51)
    res = sb.gradient_flow(w0, "identity", x, beta * (x @ v), t_max=5.0, t_eval=ts)
    p_num = np.array([float(w2 @ w1 @ v) for w1, w2 in res.weights])
    assert np.max(np.abs(p_num / unbalanced_product(ts, beta, p0, lam) - 1)) < 1e-8


def test_unbalanced_bad_inputs():
    with pytest.raises(ValueError, match="'p0'"):
        unbalanced_product(1.0, 1.0, 1.5, 0.0)
    with pytest.raises(ValueError, match="'lam'"):
        unbalanced_product(1.0, 1.0, 0.1, float("nan"))
    with pytest.raises(ValueError, match="'t'"):
        unbalanced_product(-1.0, 1.0, 0.1, 0.0)
    with pytest.raises(ValueError, match="'p'"):
        unbalanced_time(1.0, 1.0, 0.1, 0.0)
    with pytest.raises(ValueError, match="'beta'"):
        unbalanced_time(0.5, 0.0, 0.1, 0.0)


@pytest.mark.parametrize("lam", [16.0, -16.0])
def test_unbalanced_escape_limits_against_the_network_flow(lam):
    from saddlebook.theory import unbalanced_escape_limit
    d, beta, p0, th0 = 2, 2.0, 1e-3, math.radians(60)
    v, u = torch.tensor([1.0, 0.0], dtype=F64), torch.tensor([0.0, 1.0], dtype=F64)
    x = sb.whitened_inputs(8, d, seed=0)
    w0 = two_layer_unbalanced_init(v, p0, lam)
    w0 = [float(w0[0].norm()) * (math.cos(th0) * v + math.sin(th0) * u)[None, :], w0[1]]
    loss0 = float(sb.network_loss(w0, x, beta * (x @ v), "identity"))
    pred = unbalanced_escape_limit(lam, beta, th0, 0.5, loss0)
    res = sb.gradient_flow(w0, "identity", x, beta * (x @ v), t_max=2 * pred, escape_fraction=0.5,
                           stop_at_escape=True)
    # Leading order: corrections O(β²/λ²) (λ > 0: measured 1e-3 here; λ < 0: 4e-2).
    assert res.escape_time == pytest.approx(pred, rel=0.002 if lam > 0 else 0.06)


def test_unbalanced_escape_limit_bad_inputs():
    from saddlebook.theory import unbalanced_escape_limit
    with pytest.raises(ValueError, match="'lam'"):
        unbalanced_escape_limit(0.0, 1.0, 1.0, 0.5)
    with pytest.raises(ValueError, match="'theta0'"):
        unbalanced_escape_limit(1.0, 1.0, 2.0, 0.5)
    with pytest.raises(ValueError, match="threshold"):
        unbalanced_escape_limit(-4.0, 1.0, math.radians(30), 0.5)
    assert unbalanced_escape_limit(8.0, 1.0, 1.0, 0.25) == pytest.approx(math.log(4) / 16)
