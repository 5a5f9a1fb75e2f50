"""The problem protocol: three implementations agree, both integrators drive any of them, output times."""
import math

import numpy as np
import pytest
import torch

import saddlebook as sb
from saddlebook.dynamics import (
    MAX_LOSS_RATIO,
    AutogradProblem,
    NetworkBatch,
    Problem,
    gradient_flow,
    integrate,
    reference_flow,
)
from saddlebook.errors import DivergenceError, ParameterError
from saddlebook.nets import he_weights
from saddlebook.theory import ReducedChain

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data():
    x = sb.gaussian_inputs(48, 4, seed=0)
    v = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=torch.float64)
    return x, sb.SingleIndexTeacher(v, "tanh")(x)


def _batch(ws):
    return [torch.stack([w[k] for w in ws]) for k in range(len(ws[0]))]


def test_every_problem_follows_the_protocol(data):
    x, y = data
    for problem in (NetworkBatch("tanh", x, y), AutogradProblem("tanh", x, y), ReducedChain("tanh", x, y, 5)):
        assert isinstance(problem, Problem)


@pytest.mark.parametrize("observable", ["loss", "moment"])
def test_autograd_problem_equals_network_batch(data, observable):
    x, y = data
    params = _batch([he_weights([4, 5, 5, 1], 0.3, [1], seed=s) for s in (1, 2, 3)])
    ref, auto = NetworkBatch("tanh", x, y, observable=observable), AutogradProblem("tanh", x, y, observable=observable)
    l_ref, o_ref, g_ref = ref.evaluate(params)
    l_a, o_a, g_a = auto.evaluate(params)
    assert torch.allclose(l_a, l_ref, rtol=1e-13, atol=0) and torch.allclose(o_a, o_ref, rtol=1e-13, atol=0)
    for a, b in zip(g_a, g_ref):
        assert a.shape == b.shape and torch.allclose(a, b, rtol=1e-12, atol=1e-16)
    for a, b in zip(auto.observe(params), ref.observe(params)):
        assert torch.allclose(a, b, rtol=1e-13, atol=0)
    assert torch.equal(auto.observe(params)[1], o_a)


def test_integrate_drives_the_autograd_problem_like_the_batched_one(data):
    x, y = data
    params = _batch([he_weights([4, 5, 5, 1], 0.2, [1], seed=s) for s in (4, 5)])
    level = 0.5 * NetworkBatch("tanh", x, y).observe(params)[0].numpy()
    fast = integrate(NetworkBatch("tanh", x, y), params, t_max=200.0, event_level=level, rtol=1e-9)
    slow = integrate(AutogradProblem("tanh", x, y), params, t_max=200.0, event_level=level, rtol=1e-9)
    assert np.all(np.isfinite(fast.t_event))
    assert np.allclose(slow.t_event, fast.t_event, rtol=1e-8, atol=0)
    for a, b in zip(slow.final, fast.final):
        assert torch.allclose(a, b, rtol=1e-6, atol=1e-9)


def test_reference_flow_drives_any_problem(data):
    # The batched problem through the scipy reference agrees with gradient_flow (autograd through it).
    x, y = data
    w = he_weights([4, 5, 5, 1], 0.3, [1], seed=6)
    ts = np.linspace(0.0, 5.0, 6)
    ref = gradient_flow(w, "tanh", x, y, 5.0, t_eval=ts, escape_fraction=0.9)
    level = 0.9 * float(ref.loss[0])
    sol = reference_flow(NetworkBatch("tanh", x, y), [m[None] for m in w], 5.0, t_eval=ts, event_level=level)
    assert np.array_equal(sol.t, ref.t) and sol.event_time == pytest.approx(ref.escape_time, rel=1e-9)
    for k in range(ts.size):
        for a, b in zip(sol.states[k], ref.weights[k]):
            assert torch.allclose(a[0], b, rtol=1e-8, atol=1e-12)
    stop = reference_flow(NetworkBatch("tanh", x, y), [m[None] for m in w], 5.0, t_eval=ts, event_level=level,
                          stop_at_event=True)
    assert stop.stopped and stop.t[-1] < stop.event_time and stop.event_time == pytest.approx(sol.event_time)


class _Ascent:
    """A toy protocol problem whose flow θ̇ = θ raises its loss θ²: a divergence by construction."""

    def observe(self, params):
        loss = (params[0] ** 2).sum(dim=1)
        return loss, loss

    def evaluate(self, params):
        loss, obs = self.observe(params)
        return loss, obs, [-params[0]]


def test_both_integrators_apply_the_one_divergence_rule():
    params = [torch.ones(1, 2, dtype=torch.float64)]
    t_div = 0.5 * math.log(MAX_LOSS_RATIO)  # θ² = e^{2t}: the loss passes MAX_LOSS_RATIO × loss(0) here
    with pytest.raises(DivergenceError, match="loss exceeded") as core:
        integrate(_Ascent(), params, t_max=100.0)
    with pytest.raises(DivergenceError, match="loss exceeded") as ref:
        reference_flow(_Ascent(), params, 100.0, t_eval=[0.0, 100.0])
    assert ref.value.t == pytest.approx(t_div, rel=1e-6)
    assert t_div <= core.value.t < 2 * t_div
    sol = reference_flow(_Ascent(), params, 10.0, t_eval=[0.0, 10.0], max_loss_ratio=None)
    assert float(sol.states[-1][0][0, 0]) == pytest.approx(math.exp(10.0), rel=1e-8)


def _restarted(problem, params, times, rtol):
    t, out = 0.0, []
    for tk in times:
        if tk > t:
            params = integrate(problem, params, t_max=float(tk - t), rtol=rtol).final
            t = float(tk)
        out.append(params)
    return out


def test_output_times_match_restarts_and_leave_the_run_untouched(data):
    x, y = data
    params = _batch([he_weights([4, 5, 5, 1], 0.2, [1], seed=s) for s in (7, 8)])
    nb = NetworkBatch("tanh", x, y)
    level = 0.5 * nb.observe(params)[0].numpy()
    plain = integrate(nb, params, t_max=300.0, event_level=level, rtol=1e-10)
    ts = np.concatenate([[0.0], np.linspace(0.3, 1.1, 5) * float(np.nanmax(plain.t_event)), [300.0]])
    dense = integrate(nb, params, t_max=300.0, event_level=level, rtol=1e-10, t_eval=ts)
    assert np.array_equal(dense.t_event, plain.t_event) and np.array_equal(dense.nfev, plain.nfev)
    assert all(torch.equal(a, b) for a, b in zip(dense.final, plain.final))
    assert np.array_equal(dense.t_eval, ts) and dense.states[0].shape == (ts.size,) + tuple(params[0].shape)
    for b in range(2):
        before = ts <= plain.t_event[b]
        for s in dense.states:
            assert bool(torch.isnan(s[~torch.from_numpy(before), b]).all())
            assert bool(torch.isfinite(s[torch.from_numpy(before), b]).all())
        keep = [k for k in range(ts.size) if before[k]]
        single = [p[b : b + 1] for p in params]
        ref = _restarted(nb, single, ts[keep], 1e-10)
        for j, k in enumerate(keep):
            for s, r in zip(dense.states, ref[j]):
                assert torch.allclose(s[k, b], r[0], rtol=1e-7, atol=1e-10)
    # Without an event the last output time is the final state itself.
    free = integrate(nb, params, t_max=2.0, rtol=1e-10, t_eval=[0.5, 2.0])
    assert all(torch.equal(s[-1], f) for s, f in zip(free.states, free.final))


@pytest.mark.parametrize("kw, name", [
    (dict(t_eval=[0.0, 2.0]), "t_eval"), (dict(t_eval=[0.5, 0.2]), "t_eval"), (dict(t_eval=[]), "t_eval"),
])
def test_integrate_output_time_errors(data, kw, name):
    x, y = data
    W = [w[None] for w in sb.init_gaussian([4, 3, 1], seed=0)]
    with pytest.raises(ParameterError, match=name):
        integrate(NetworkBatch("tanh", x, y), W, t_max=1.0, **kw)


def test_parameter_errors(data):
    x, y = data
    W = [w[None] for w in sb.init_gaussian([4, 3, 1], seed=0)]
    with pytest.raises(ParameterError, match="observable"):
        AutogradProblem("tanh", x, y, observable="norm")
    with pytest.raises(ParameterError, match="observable"):
        AutogradProblem("tanh", x, torch.stack([y, y], 1), observable="moment")
    with pytest.raises(ParameterError, match="'y'"):
        AutogradProblem("tanh", x, y[:-1])
    with pytest.raises(ValueError, match="loss"):
        AutogradProblem("tanh", x, y, loss="l2")
    nb = NetworkBatch("tanh", x, y)
    for kw, name in [(dict(method="Euler"), "method"), (dict(stop_at_event=True), "stop_at_event"),
                     (dict(t_eval=[0.0, 2.0]), "t_eval"), (dict(rtol=0.0), "rtol")]:
        with pytest.raises(ParameterError, match=name):
            reference_flow(nb, W, 1.0, **(dict(t_eval=[0.0, 1.0]) | kw))
    with pytest.raises(ParameterError, match="params0"):
        reference_flow(nb, [torch.cat([w, w]) for w in W], 1.0, t_eval=[0.0, 1.0])
