import math

import numpy as np
import pytest
import torch

import saddlebook as sb

F64 = torch.float64


@pytest.fixture(scope="module")
def small():
    x = sb.gaussian_inputs(32, 3, seed=0)
    y = sb.SingleIndexTeacher(torch.tensor([1.0, -0.5, 0.8], dtype=F64), f="tanh", beta=2.0)(x)
    w = sb.init_gaussian([3, 4, 4, 1], scale=0.5, seed=1)
    return w, x, y


def test_gradient_matches_finite_difference(small):
    w, x, y = small
    g = sb.gradient(w, "tanh", x, y)
    h = 1e-6
    wp = [m.clone() for m in w]
    wm = [m.clone() for m in w]
    wp[1][2, 1] += h
    wm[1][2, 1] -= h
    fd = (sb.network_loss(wp, x, y, "tanh") - sb.network_loss(wm, x, y, "tanh")) / (2 * h)
    assert math.isclose(float(fd), float(g[1][2, 1]), rel_tol=1e-7)


def test_linear_flow_conserves_imbalance():
    x = sb.gaussian_inputs(40, 4, seed=3)
    y = sb.LinearTeacher(torch.tensor([1.0, 2.0, -1.0, 0.5], dtype=F64))(x)
    w0 = sb.init_gaussian([4, 5, 3, 1], scale=[1.0, 0.5, 0.3], seed=2)
    res = sb.gradient_flow(w0, "identity", x, y, t_max=5.0, t_eval=np.linspace(0, 5, 26))
    d0 = sb.imbalance(w0)
    m0 = sb.matrix_imbalance(w0)
    drift = max(float((sb.imbalance(ws) - d0).abs().max()) for ws in res.weights)
    assert drift <= 1e-8
    mdrift = max(float((a - b).abs().max()) for a, b in zip(sb.matrix_imbalance(res.final), m0))
    assert mdrift <= 1e-8
    assert res.loss[-1] < 0.1 * res.loss[0]  # it actually trained
    assert res.t[0] == 0 and res.t[-1] == 5.0 and len(res.weights) == 26


def test_tanh_flow_drift_obeys_identity(small):
    # Integrating the identity's right-hand side along the trajectory gives the
    # measured change of Δ (trapezoid on a fine grid).
    w, x, y = small
    ts = np.linspace(0, 1.0, 201)
    res = sb.gradient_flow(w, "tanh", x, y, t_max=1.0, t_eval=ts)
    rates = np.array([sb.imbalance_rates(ws, "tanh", x, y)[1].numpy() for ws in res.weights])
    predicted = np.trapezoid(rates, ts, axis=0)
    measured = (sb.imbalance(res.final) - sb.imbalance(w)).numpy()
    assert np.abs(measured).max() > 1e-3
    assert np.allclose(predicted, measured, rtol=1e-4, atol=1e-7)


def test_flow_result_fields_and_determinism(small):
    w, x, y = small
    a = sb.gradient_flow(w, "tanh", x, y, t_max=2.0)
    b = sb.gradient_flow(w, "tanh", x, y, t_max=2.0)
    assert a.t[0] == 0.0 and a.t[-1] == 2.0 and np.all(np.diff(a.t) > 0)
    assert 300 <= a.t.size <= 450 and a.loss.shape == a.t.shape
    assert a.nfev > 0 and a.escape_time is None
    assert np.array_equal(a.loss, b.loss)
    assert np.all(np.diff(a.loss) <= 1e-12 * a.loss[0])  # flow never increases the loss
    assert all(m.dtype == F64 for m in a.final)


def test_t_eval_short_of_t_max_still_gives_final(small):
    w, x, y = small
    full = sb.gradient_flow(w, "tanh", x, y, t_max=1.0, t_eval=[0.0, 0.5, 1.0])
    short = sb.gradient_flow(w, "tanh", x, y, t_max=1.0, t_eval=[0.0, 0.5])
    assert short.t.tolist() == [0.0, 0.5]
    assert all(torch.allclose(a, b, rtol=1e-12, atol=1e-14) for a, b in zip(short.final, full.final))


def test_escape_time_detected():
    x = sb.whitened_inputs(64, 4, seed=0)
    v = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=F64)
    y = 2.0 * (x @ v)
    w0 = sb.two_layer_aligned_init(v, u0=1e-3)
    res = sb.gradient_flow(w0, "identity", x, y, t_max=6.0, escape_fraction=0.5)
    assert res.escape_time is not None
    # ½(2 − u)² = ½ · ½(2 − u0)² ⇔ u = 2 − (2 − u0)/√2; invert Saxe's law.
    s, u0 = 2.0, 1e-3
    u_star = s - (s - u0) / math.sqrt(2)
    t_star = math.log((s / u0 - 1) / (s / u_star - 1)) / (2 * s)
    assert math.isclose(res.escape_time, t_star, rel_tol=1e-6)
    assert sb.gradient_flow(w0, "identity", x, y, t_max=0.5, escape_fraction=0.5).escape_time is None


def test_stop_at_escape_ends_at_the_escape_point():
    x = sb.whitened_inputs(64, 4, seed=0)
    v = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=F64)
    y = 2.0 * (x @ v)
    w0 = sb.two_layer_aligned_init(v, u0=1e-3)
    full = sb.gradient_flow(w0, "identity", x, y, t_max=60.0, escape_fraction=0.5)
    cut = sb.gradient_flow(w0, "identity", x, y, t_max=60.0, escape_fraction=0.5, stop_at_escape=True)
    assert math.isclose(cut.escape_time, full.escape_time, rel_tol=1e-8)
    assert cut.t[-1] == cut.escape_time and np.all(np.diff(cut.t) > 0)
    # the run really stopped: the last loss is the threshold, and it cost fewer evaluations
    assert math.isclose(cut.loss[-1], 0.5 * cut.loss[0], rel_tol=1e-9)
    assert math.isclose(float(sb.network_loss(cut.final, x, y, "identity")), cut.loss[-1], rel_tol=1e-12)
    assert cut.nfev < full.nfev
    # no escape before t_max: an ordinary run to t_max
    short = sb.gradient_flow(w0, "identity", x, y, t_max=0.5, escape_fraction=0.5, stop_at_escape=True)
    assert short.escape_time is None and short.t[-1] == 0.5
    with pytest.raises(sb.ParameterError, match="stop_at_escape.*escape_fraction"):
        sb.gradient_flow(w0, "identity", x, y, t_max=1.0, stop_at_escape=True)


def test_flow_through_escape_ends_at_the_requested_multiple_of_tau():
    x = sb.whitened_inputs(64, 4, seed=0)
    v = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=F64)
    y = 2.0 * (x @ v)
    w0 = sb.two_layer_aligned_init(v, u0=1e-3)
    ref = sb.gradient_flow(w0, "identity", x, y, t_max=60.0, escape_fraction=0.5).escape_time
    # a guess 20x too short: the horizon doubles until the escape is found
    res = sb.flow_through_escape(w0, "identity", x, y, ref / 20, end=lambda tau: 3 * tau,
                                 t_eval=lambda t_end: np.linspace(0.0, t_end, 50))
    assert math.isclose(res.escape_time, ref, rel_tol=1e-8)
    assert math.isclose(res.t[-1], 3 * res.escape_time, rel_tol=1e-8) and res.t.size == 50
    assert sb.flow_through_escape(w0, "identity", x, y, 100.0).t[-1] == pytest.approx(2 * ref, rel=1e-8)
    with pytest.raises(RuntimeError, match="no escape"):
        sb.flow_through_escape(w0, "identity", x, y, 0.01, max_doublings=2)
    with pytest.raises(sb.ParameterError, match="'end'"):
        sb.flow_through_escape(w0, "identity", x, y, 1.0, end=lambda tau: tau / 2)
    with pytest.raises(sb.ParameterError, match="'t_guess'"):
        sb.flow_through_escape(w0, "identity", x, y, -1.0)


def test_flow_divergence_raises(small):
    _, x, y = small

    def fragile(z):
        # Identity inside |z| < 2, NaN beyond: the flow must leave that box.
        return torch.where(z.abs() < 2, z, torch.full_like(z, float("nan")))

    w0 = sb.init_gaussian([3, 4, 1], scale=0.5, seed=0)
    with pytest.raises(sb.DivergenceError) as exc:
        sb.gradient_flow(w0, fragile, x, 20 * y, t_max=50.0)
    assert isinstance(exc.value, FloatingPointError)
    assert "t=" in str(exc.value) and "loss=" in str(exc.value)


def test_gd_converges_to_flow_linearly_in_lr(small):
    w, x, y = small
    T = 1.0
    ref = sb.gradient_flow(w, "tanh", x, y, t_max=T, t_eval=[0.0, T], rtol=1e-12, atol=1e-14).final
    errs = []
    for lr in (0.02, 0.01, 0.005):
        gd = sb.gradient_descent(w, "tanh", x, y, lr=lr, t_max=T, record_every=10**6)
        assert math.isclose(gd.t[-1], T)
        errs.append(math.sqrt(sum(float((a - b).pow(2).sum()) for a, b in zip(gd.weights[-1], ref))))
    for big, small_ in zip(errs, errs[1:]):
        assert 1.6 <= big / small_ <= 2.4


def test_parameter_errors(small):
    w, x, y = small
    with pytest.raises(sb.ParameterError, match="t_max"):
        sb.gradient_flow(w, "tanh", x, y, t_max=0.0)
    with pytest.raises(sb.ParameterError, match="method"):
        sb.gradient_flow(w, "tanh", x, y, t_max=1.0, method="Euler")
    with pytest.raises(sb.ParameterError, match="escape_fraction"):
        sb.gradient_flow(w, "tanh", x, y, t_max=1.0, escape_fraction=1.5)
    with pytest.raises(ValueError, match="loss"):
        sb.gradient_flow(w, "tanh", x, y, t_max=1.0, loss="l2")
    with pytest.raises(sb.ParameterError, match="t_eval"):
        sb.gradient_flow(w, "tanh", x, y, t_max=1.0, t_eval=[0.0, 2.0])


def test_hessian_is_the_derivative_of_the_gradient(small):
    from saddlebook.dynamics import AutogradProblem

    w, x, y = small
    prob = AutogradProblem("tanh", x, y)
    params = [m[None] for m in w]
    H = prob.hessian(params)
    flat = torch.cat([m.reshape(-1) for m in w])
    assert H.shape == (flat.numel(), flat.numel()) and torch.allclose(H, H.T, atol=1e-14)
    h, k = 1e-6, 7  # a central difference of the gradient along one parameter: one column of H
    sizes = [m.numel() for m in w]

    def grad_at(vec):
        ws = [p.reshape(m.shape)[None] for p, m in zip(torch.split(vec, sizes), w)]
        return torch.cat([g.reshape(-1) for g in prob.evaluate(ws)[2]])

    e = torch.zeros_like(flat)
    e[k] = h
    col = (grad_at(flat + e) - grad_at(flat - e)) / (2 * h)
    assert float((col - H[:, k]).abs().max()) <= 1e-7 * float(H[:, k].abs().max())


def test_implicit_methods_use_the_exact_jacobian_and_agree_with_differences(small, monkeypatch):
    from saddlebook.dynamics import _reference

    w, x, y = small
    calls = []
    exact = _reference._Flat.jacobian
    monkeypatch.setattr(_reference._Flat, "jacobian", lambda self, t, v: calls.append(t) or exact(self, t, v))
    kw = dict(t_eval=[0.0, 40.0], rtol=1e-9, atol=1e-13, escape_fraction=0.5)
    with_jac = sb.gradient_flow(w, "tanh", x, y, 40.0, method="BDF", **kw)
    assert calls, "BDF did not use the exact Jacobian"
    monkeypatch.setattr(_reference._Flat, "has_jacobian", lambda self, v: False)
    differences = sb.gradient_flow(w, "tanh", x, y, 40.0, method="BDF", **kw)
    scipy_rk = sb.gradient_flow(w, "tanh", x, y, 40.0, method="DOP853", **kw)
    assert with_jac.escape_time is not None
    assert math.isclose(with_jac.escape_time, differences.escape_time, rel_tol=1e-6)
    assert math.isclose(with_jac.escape_time, scipy_rk.escape_time, rel_tol=1e-6)
