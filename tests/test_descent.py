
import numpy as np
import pytest
import torch

import saddlebook as sb

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
        sb.gradient_flow(w0, "tanh", x, y, t_max=1.0, max_loss_ratio=1.0)
