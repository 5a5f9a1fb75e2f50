import math

import pytest
import torch

import saddlebook as sb

F64 = torch.float64


def test_gaussian_inputs_seed_and_covariance():
    a = sb.gaussian_inputs(50, 3, seed=7)
    b = sb.gaussian_inputs(50, 3, seed=7)
    assert a.shape == (50, 3) and a.dtype == F64 and torch.equal(a, b)
    cov = torch.tensor([[4.0, 1.0], [1.0, 1.0]], dtype=F64)
    x = sb.gaussian_inputs(200000, 2, cov=cov, seed=0)
    assert torch.allclose(x.T @ x / x.shape[0], cov, atol=0.05)
    with pytest.raises(ValueError, match="cov"):
        sb.gaussian_inputs(10, 3, cov=cov)
    with pytest.raises(ValueError, match="positive semi-definite"):
        sb.gaussian_inputs(10, 2, cov=torch.tensor([[1.0, 0.0], [0.0, -1.0]], dtype=F64))


def test_whitened_inputs_exact_second_moment():
    x = sb.whitened_inputs(64, 5, seed=1)
    assert torch.allclose(x.T @ x / 64, torch.eye(5, dtype=F64), atol=1e-13, rtol=0)
    assert torch.equal(x, sb.whitened_inputs(64, 5, seed=1))
    with pytest.raises(ValueError, match="n >= d"):
        sb.whitened_inputs(3, 5)


def test_teachers():
    x = sb.gaussian_inputs(30, 4, seed=0)
    v = torch.tensor([1.0, -2.0, 0.5, 0.0], dtype=F64)
    assert torch.allclose(sb.LinearTeacher(v)(x), x @ v)
    t = sb.SingleIndexTeacher(v, f="tanh", beta=2.0)
    assert torch.allclose(t(x), 2.0 * torch.tanh(x @ v))
    s = sb.SingleIndexTeacher(v.flip(0), f=torch.sin)
    both = sb.FeatureSum([t, s])
    assert torch.allclose(both(x), t(x) + s(x))
    assert both(x).shape == (30,)
    with pytest.raises(ValueError, match="allowed"):
        sb.SingleIndexTeacher(v, f="nope")
    with pytest.raises(ValueError, match="columns"):
        sb.LinearTeacher(v)(torch.zeros(3, 5, dtype=F64))


def test_gamma_of_linear_teacher_with_whitened_inputs():
    x = sb.whitened_inputs(128, 6, seed=2)
    v = torch.tensor([0.3, -1.2, 0.0, 2.0, 0.7, -0.1], dtype=F64)
    y = 3.0 * (x @ v)
    assert math.isclose(sb.gamma(x, y), 3.0 * float(v.norm()), rel_tol=1e-12)
    with pytest.raises(ValueError, match="y has 5 entries"):
        sb.gamma(x, y[:5])
