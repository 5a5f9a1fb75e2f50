import math

import numpy as np
import pytest
import torch

import saddlebook as sb
from saddlebook.dynamics import NetworkBatch, batch_escape_times, integrate, progress_enabled
from saddlebook.errors import DivergenceError
from saddlebook.nets import activation_pair, he_weights

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data():
    x = sb.gaussian_inputs(48, 4, seed=0)
    v = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=torch.float64)
    return x, sb.SingleIndexTeacher(v, "tanh")(x)


@pytest.mark.parametrize("name", ["tanh", "sin", "erf", "gelu", "silu", "sigmoid", "softplus", "identity"])
def test_activation_pairs_match_autograd(name):
    z = torch.linspace(-3, 3, 61, dtype=torch.float64)
    s, ds = activation_pair(name)[1](z)
    assert torch.allclose(s, sb.get_activation(name)[1](z), atol=1e-15)
    assert torch.allclose(ds, sb.derivative(name, z), atol=1e-14)
    q = sb.quadratic(0.3)
    assert torch.allclose(activation_pair(q)[1](z)[1], sb.derivative(q, z), atol=1e-14)


def test_batched_gradient_matches_autograd(data):
    x, y = data
    ws = [he_weights([4, 5, 5, 1], 0.3, [1], seed=s) for s in (1, 2)]
    nb = NetworkBatch("tanh", x, y)
    loss, _, grads = nb.evaluate([torch.stack([w[k] for w in ws]) for k in range(3)])
    for b, w in enumerate(ws):
        assert math.isclose(float(loss[b]), float(sb.network_loss(w, x, y, "tanh")), rel_tol=1e-14)
        for g, ref in zip(grads, sb.gradient(w, "tanh", x, y)):
            assert torch.allclose(g[b], ref, rtol=1e-12, atol=1e-16)


def test_event_time_matches_scipy_flow(data):
    # Independent integrator (scipy DOP853, rtol 1e-10) with its own event search.
    x, y = data
    w = he_weights([4, 5, 5, 1], 0.1, [1, 2], seed=3)
    ref = sb.gradient_flow(w, "tanh", x, y, t_max=60.0, t_eval=[0.0, 60.0], escape_fraction=0.5)
    nb = NetworkBatch("tanh", x, y)
    res = integrate(nb, [m[None] for m in w], t_max=60.0, event_level=[0.5 * ref.loss[0]], rtol=1e-10)
    assert ref.escape_time is not None
    assert abs(res.t_event[0] / ref.escape_time - 1) < 1e-6
    assert res.nfev[0] < ref.nfev


def test_runs_to_t_max_without_event_and_records(data):
    x, y = data
    w = he_weights([4, 5, 1], 0.5, [1], seed=0)
    res = integrate(NetworkBatch("tanh", x, y), [m[None] for m in w], t_max=3.0, record=True)
    assert np.isnan(res.t_event[0]) and res.t_final[0] == pytest.approx(3.0)
    h = res.history[0]
    assert h["t"][0] == 0 and h["t"][-1] == pytest.approx(3.0) and np.all(np.diff(h["loss"]) <= 1e-15)
    assert h["norms"].shape == (h["t"].size, 2)


def test_divergence_raises_with_config(data):
    x, y = data
    w = [m * 40.0 for m in he_weights([4, 5, 1], 1.0, [1], seed=0)]
    bad = lambda z: torch.exp(z)  # noqa: E731  (explodes for large weights)
    with pytest.raises(DivergenceError, match="my-run"):
        integrate(NetworkBatch(bad, x, y), [m[None] for m in w], t_max=10.0, config=["my-run"])


def test_progress_switch(monkeypatch):
    monkeypatch.setenv("SADDLEBOOK_PROGRESS", "1")
    assert progress_enabled(None) is True
    monkeypatch.setenv("SADDLEBOOK_PROGRESS", "0")
    assert progress_enabled(None) is False
    assert progress_enabled(True) is True


def test_batch_escape_times_is_one_integration_at_the_fraction_of_the_initial_loss(data):
    x, y = data
    inits = [sb.init_gaussian([4, 5, 5, 1], scale=e, seed=s) for e, s in [(0.3, 0), (0.2, 1), (0.3, 2)]]
    prob = NetworkBatch("tanh", x, y)
    tau = batch_escape_times(prob, inits, 0.7, 1e4, rtol=1e-8, config=["a", "b", "c"])
    params = [torch.stack([w[k] for w in inits]) for k in range(3)]
    with torch.no_grad():
        direct = integrate(prob, params, t_max=1e4, event_level=0.7 * prob.observe(params)[0].numpy(), rtol=1e-8)
    assert np.array_equal(tau, direct.t_event) and np.all(np.isfinite(tau))
    # A horizon before the escape: NaN, not an error.
    short = batch_escape_times(prob, inits, 0.7, 0.5 * float(tau.min()))
    assert np.all(np.isnan(short))


@pytest.mark.parametrize("kw, name", [
    (dict(fraction=1.0), "fraction"), (dict(fraction=0.0), "fraction"), (dict(t_max=-1.0), "t_max"),
    (dict(inits=[]), "inits"), (dict(config=["only one"]), "config"), (dict(rtol=0.0), "rtol"),
])
def test_batch_escape_times_parameter_errors(data, kw, name):
    x, y = data
    args = dict(inits=[sb.init_gaussian([4, 3, 1], seed=s) for s in (0, 1)], fraction=0.5, t_max=10.0) | kw
    with pytest.raises(sb.ParameterError, match=name):
        batch_escape_times(NetworkBatch("tanh", x, y), args.pop("inits"), args.pop("fraction"), args.pop("t_max"),
                           **args)
    ragged = [sb.init_gaussian([4, 3, 1], seed=0), sb.init_gaussian([4, 2, 1], seed=0)]
    with pytest.raises(sb.ParameterError, match="inits"):
        batch_escape_times(NetworkBatch("tanh", x, y), ragged, 0.5, 10.0)


def test_integrate_parameter_errors(data):
    x, y = data
    W = [w[None] for w in sb.init_gaussian([4, 3, 1], seed=0)]
    for kw, name in [(dict(t_max=0.0), "t_max"), (dict(t_max=1.0, event_direction=0), "event_direction")]:
        with pytest.raises(sb.ParameterError, match=name):
            integrate(NetworkBatch("tanh", x, y), W, **kw)
