import math

import pytest
import torch

import saddlebook as sb

F64 = torch.float64


def test_mse_and_logistic_values():
    yhat = torch.tensor([1.0, 2.0, -1.0], dtype=F64)
    y = torch.tensor([1.0, 0.0, 1.0], dtype=F64)
    assert math.isclose(float(sb.loss_value(yhat, y)), 0.5 * (0 + 4 + 4) / 3, rel_tol=1e-15)
    expect = sum(math.log1p(math.exp(-a * b)) for a, b in zip(y.tolist(), yhat.tolist())) / 3
    assert math.isclose(float(sb.loss_value(yhat, y, "logistic")), expect, rel_tol=1e-14)


def test_logistic_is_stable_for_large_margins():
    yhat = torch.tensor([1e3, -1e3], dtype=F64)
    y = torch.tensor([-1.0, -1.0], dtype=F64)
    assert math.isclose(float(sb.loss_value(yhat, y, "logistic")), 500.0, rel_tol=1e-12)


def test_unknown_loss_and_shape_mismatch():
    with pytest.raises(ValueError) as exc:
        sb.loss_value(torch.zeros(3), torch.zeros(3), "hinge")
    assert "mse" in str(exc.value) and "logistic" in str(exc.value) and "loss" in str(exc.value)
    with pytest.raises(ValueError, match="shape"):
        sb.loss_value(torch.zeros(3), torch.zeros(4))


def test_network_loss_equals_loss_of_forward():
    w = sb.init_gaussian([4, 6, 1], seed=0)
    x = sb.gaussian_inputs(20, 4, seed=1)
    y = sb.LinearTeacher(torch.ones(4, dtype=F64))(x)
    for name in sb.LOSSES:
        a = sb.network_loss(w, x, y, "tanh", name)
        b = sb.loss_value(sb.forward(w, x, "tanh"), y, name)
        assert float(a) == float(b)
