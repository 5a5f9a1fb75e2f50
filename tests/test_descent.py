
import numpy as np
import pytest
import torch

import saddlebook as sb
from saddlebook.dynamics import descend, gd_escape

F64 = torch.float64


@pytest.fixture(scope="module")
def problem():
    x = sb.whitened_inputs(64, 4, seed=0)
    v = torch.tensor([0.0, 1.0, 0.0, 0.0], dtype=F64)
    y = 2.0 * (x @ v)
    return x, y, v


def test_time_axis_and_recording(problem):
    x, y, v = problem
    w0 = sb.init_gaussian([4, 3, 1], scale=0.3, seed=0)
    res = sb.gradient_descent(w0, "tanh", x, y, lr=0.01, t_max=1.0, record_every=10)
    assert res.steps == 100
    assert np.allclose(res.t, 0.01 * np.arange(0, 101, 10))
    assert len(res.weights) == res.t.size == res.loss.size
    assert torch.equal(res.weights[0][0], w0[0])
    assert float(res.loss[0]) == float(sb.network_loss(w0, x, y, "tanh"))
    again = sb.gradient_descent(w0, "tanh", x, y, lr=0.01, t_max=1.0, record_every=10)
    assert np.array_equal(res.loss, again.loss)


def test_single_step_is_a_gradient_step(problem):
    x, y, _ = problem
    w0 = sb.init_gaussian([4, 3, 1], scale=0.3, seed=0)
    res = sb.gradient_descent(w0, "sin", x, y, lr=0.1, t_max=0.1)
    g = sb.gradient(w0, "sin", x, y)
    assert res.steps == 1
    assert all(torch.allclose(a, w - 0.1 * gi, rtol=0, atol=1e-16) for a, w, gi in zip(res.weights[-1], w0, g))


def test_escape_time_close_to_flow(problem):
    x, y, v = problem
    w0 = sb.two_layer_aligned_init(v, u0=1e-3)
    flow = sb.gradient_flow(w0, "identity", x, y, t_max=6.0, escape_fraction=0.5)
    gd = sb.gradient_descent(w0, "identity", x, y, lr=1e-3, t_max=6.0, record_every=100, escape_fraction=0.5)
    assert gd.escape_time is not None
    assert abs(gd.escape_time - flow.escape_time) < 0.02 * flow.escape_time


def test_divergence_with_huge_lr(problem):
    x, y, _ = problem
    w0 = sb.init_gaussian([4, 3, 1], scale=1.0, seed=0)
    with pytest.raises(sb.DivergenceError) as exc:
        sb.gradient_descent(w0, "identity", x, y, lr=50.0, t_max=5000.0)
    msg = str(exc.value)
    assert "t=" in msg and "loss=" in msg and "lr=50" in msg
    assert isinstance(exc.value, FloatingPointError)


def test_parameter_errors(problem):
    x, y, _ = problem
    w0 = sb.init_gaussian([4, 3, 1], seed=0)
    with pytest.raises(ValueError, match="lr"):
        sb.gradient_descent(w0, "tanh", x, y, lr=-1.0, t_max=1.0)
    with pytest.raises(ValueError, match="record_every"):
        sb.gradient_descent(w0, "tanh", x, y, lr=0.1, t_max=1.0, record_every=0)
    with pytest.raises(ValueError, match="x has 5 columns"):
        sb.gradient_descent(w0, "tanh", torch.zeros(64, 5, dtype=F64), y, lr=0.1, t_max=1.0)


def test_max_loss_ratio_must_exceed_one(problem):
    x, y, _ = problem
    w0 = sb.init_gaussian([4, 3, 1], seed=0)
    with pytest.raises(ValueError, match="max_loss_ratio"):
        sb.gradient_descent(w0, "tanh", x, y, lr=0.1, t_max=1.0, max_loss_ratio=0.5)
    with pytest.raises(ValueError, match="max_loss_ratio"):
        sb.dynamics.reference_flow(sb.NetworkBatch("tanh", x, y), [w[None] for w in w0], 1.0, t_eval=[0.0, 1.0],
                                   max_loss_ratio=1.0)


# --- descend: the batched stepper of the dynamics core ----------------------------------------------------------


@pytest.fixture(scope="module")
def batch():
    x = sb.gaussian_inputs(64, 3, seed=0)
    y = torch.tanh(x @ torch.tensor([1.0, 0.0, 0.0], dtype=F64))
    inits = [sb.init_gaussian([3, 4, 4, 1], scale=s, seed=i) for i, s in enumerate([0.3, 0.25, 0.4])]
    W = [torch.stack([w[k] for w in inits]) for k in range(3)]
    prob = sb.NetworkBatch("tanh", x, y)
    with torch.no_grad():
        level = 0.5 * prob.observe(W)[0].numpy()
    return x, y, inits, W, prob, level


def test_descend_equals_gradient_descent(batch):
    # The same problem, batched by hand-written back-propagation vs one network by autograd.
    x, y, inits, W, prob, level = batch
    res = descend(prob, W, 0.05, t_max=100.0, level=level)
    assert np.all(np.isfinite(res.t_event))
    t_max = float(res.t_event.max()) + 0.5  # gradient_descent does not stop at the escape
    for b, w0 in enumerate(inits):
        ref = sb.gradient_descent(w0, "tanh", x, y, lr=0.05, t_max=t_max, escape_fraction=0.5, record_every=10**9)
        assert res.t_event[b] == pytest.approx(ref.escape_time, rel=1e-10)
        assert 0.05 * (res.steps[b] - 1) < res.t_event[b] <= 0.05 * res.steps[b]


def test_descend_converges_to_the_flow_at_first_order(batch):
    _, _, _, W, prob, level = batch
    flow = sb.integrate(prob, W, t_max=100.0, event_level=level, rtol=1e-12).t_event
    d = [descend(prob, W, eta, t_max=100.0, level=level).t_event - flow for eta in (0.02, 0.01)]
    assert np.all(np.abs(d[0]) < 0.02 * flow)
    assert np.allclose(d[0] / d[1], 2.0, rtol=0.05)  # O(eta): halving the step halves the difference


def test_sgd_with_every_row_is_gradient_descent(batch):
    _, _, _, W, prob, level = batch
    gd = descend(prob, W, 0.05, t_max=100.0, level=level, record_every=7)
    sgd = descend(prob, W, 0.05, t_max=100.0, level=level, batch_size=prob.n_rows, seed=3, record_every=7)
    assert np.array_equal(gd.t_event, sgd.t_event) and np.array_equal(gd.steps, sgd.steps)
    assert all(torch.equal(a, b) for a, b in zip(gd.final, sgd.final))
    assert all(np.array_equal(h["loss"], g["loss"]) for h, g in zip(gd.history, sgd.history))


def test_sgd_is_reproducible_by_seed_and_differs_across_seeds(batch):
    _, _, _, W, prob, level = batch
    runs = [descend(prob, W, 0.05, t_max=100.0, level=level, batch_size=16, seed=s) for s in (0, 0, 1)]
    assert np.array_equal(runs[0].t_event, runs[1].t_event)
    assert all(torch.equal(a, b) for a, b in zip(runs[0].final, runs[1].final))
    assert not np.array_equal(runs[0].t_event, runs[2].t_event)
    # Noisy, but an unbiased step: the SGD escape stays near the full-batch one.
    gd = descend(prob, W, 0.05, t_max=100.0, level=level).t_event
    assert np.all(np.abs(runs[0].t_event / gd - 1) < 0.3)


def test_minibatch_rows_scale_the_sample_weights(batch):
    _, _, _, W, prob, _ = batch
    sub = prob.rows(torch.arange(0, 64, 4))
    x, y, pi = sub.data(F64)
    assert x.shape == (16, 3) and torch.allclose(pi, torch.full((16,), 1 / 16, dtype=F64))  # the minibatch mean
    loss, _, grads = sub.evaluate(W)
    resid = sub.observe(W)[0]
    assert torch.equal(loss, resid) and prob.n_rows == 64 and sub.n_rows == 16


def test_descend_records_and_stops_at_t_max(batch):
    _, _, _, W, prob, _ = batch
    res = descend(prob, W, 0.1, t_max=1.0, record_every=4)
    assert np.all(np.isnan(res.t_event)) and np.all(res.steps == 10)
    assert np.allclose(res.history[0]["t"], [0.0, 0.4, 0.8, 1.0])
    assert res.loss0[1] == res.history[1]["loss"][0]


def test_descend_raises_on_divergence_not_nan(batch):
    _, _, _, W, prob, level = batch
    with pytest.raises(sb.DivergenceError) as exc:
        descend(prob, [w * 3 for w in W], 40.0, t_max=4000.0, level=level, config=["a", "b", "c"])
    assert "step " in str(exc.value) and exc.value.config in ("a", "b", "c")
    with pytest.raises(sb.DivergenceError, match="step"):
        gd_escape(prob, [w * 3 for w in W], 40.0, level)


class _Untouchable:
    """A problem that fails the test if anything is computed on it."""

    n_rows = 64

    def evaluate(self, params):
        raise AssertionError("computed before the parameters were checked")

    observe = rows = evaluate


@pytest.mark.parametrize("kw, name", [
    (dict(eta=0.0), "eta"), (dict(eta=-1.0), "eta"), (dict(eta=float("nan")), "eta"),
    (dict(batch_size=0), "batch_size"), (dict(batch_size=65), "batch_size"), (dict(batch_size=2.5), "batch_size"),
    (dict(batch_size=True), "batch_size"), (dict(t_max=0.0), "t_max"), (dict(direction=0), "direction"),
    (dict(max_loss_ratio=1.0), "max_loss_ratio"), (dict(record_every=0), "record_every"),
    (dict(level=[1.0, 2.0]), "level"), (dict(seed=-1), "seed"),
])
def test_descend_parameter_errors_before_any_compute(kw, name):
    W = [torch.zeros(3, 2, 2, dtype=F64), torch.zeros(3, 1, 2, dtype=F64)]
    args = dict(eta=0.1, t_max=1.0) | kw
    with pytest.raises(sb.ParameterError, match=name):
        descend(_Untouchable(), W, args.pop("eta"), **args)


def test_sgd_needs_a_problem_with_rows():
    class Population:  # like the reduced chain: population quadrature, no rows to sample
        def evaluate(self, params):
            raise AssertionError

    with pytest.raises(sb.ParameterError, match="batch_size"):
        descend(Population(), [torch.zeros(2, 1, 1, dtype=F64)], 0.1, t_max=1.0, batch_size=4)


# -- the sweep with a Descent stepper: one call for flow, GD and SGD ----------------------------------


@pytest.fixture(scope="module")
def small_sweep():
    cfg = sb.SweepConfig("tanh", 4, None, [0.1, 0.2], width=8, n_samples=256)
    return cfg, sb.sweep(cfg)


def test_sweep_under_gd_converges_to_the_flow_at_first_order(small_sweep):
    cfg, flow = small_sweep
    err = {eta: sb.sweep(cfg, stepper=sb.Descent(eta)).tau / flow.tau - 1 for eta in (0.2, 0.1)}
    assert np.all(err[0.2] > 0) and np.all(err[0.1] > 0)
    assert np.allclose(err[0.2] / err[0.1], 2.0, rtol=0.05)  # O(eta): halving eta halves the error


def test_sweep_under_gd_equals_descend_on_the_same_problem(small_sweep):
    cfg, _ = small_sweep
    res = sb.sweep(cfg, stepper=sb.Descent(0.1))
    assert res.config["stepper"] == {"eta": 0.1, "batch_size": None, "seed": 0}
    assert np.array_equal(res.nfev, res.steps) and res.steps.min() > 100
    one = sb.sweep(cfg.replace(eps=[0.2]), stepper=sb.Descent(0.1))
    assert one.tau[0] == res.tau[1]  # runs of a batch do not interact


def test_sweep_under_sgd_is_seeded(small_sweep):
    cfg, flow = small_sweep
    a, b, c = (sb.sweep(cfg, stepper=sb.Descent(0.05, batch_size=32, seed=s)).tau for s in (1, 1, 2))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.allclose(a, flow.tau, rtol=0.05)


@pytest.mark.parametrize("options, name", [
    (dict(stepper="gd"), "stepper"),
    (dict(stepper=sb.Descent(0.1), record=True), "record"),
    (dict(stepper=sb.Descent(0.1, batch_size=4), data="population"), "population"),
])
def test_sweep_stepper_errors(options, name):
    with pytest.raises(sb.ParameterError, match=name):
        sb.SweepConfig("tanh", 4, **options)


@pytest.mark.parametrize("kw, name", [(dict(eta=0), "eta"), (dict(eta=0.1, batch_size=0), "batch_size"),
                                      (dict(eta=0.1, seed=-1), "seed")])
def test_descent_stepper_is_validated(kw, name):
    with pytest.raises(sb.ParameterError, match=name):
        sb.Descent(**kw)
