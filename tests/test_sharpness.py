"""The loss Hessian's top eigenvalue by central differences of a problem's gradient."""
import numpy as np
import pytest
import torch

import saddlebook as sb
from saddlebook.dynamics._sharpness import hessian, sharpness
from saddlebook.errors import ParameterError

F64 = torch.float64


class _Quadratic:
    """𝓛 = ½ θᵀAθ for every run, A symmetric: Hessian A."""

    def __init__(self, A):
        self.A = A

    def evaluate(self, params):
        th = params[0]
        g = th @ self.A
        loss = 0.5 * (g * th).sum(dim=1)
        return loss, loss, [g]


def test_quadratic_hessian_and_sharpness_are_exact():
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    lam = np.array([-1.0, 0.2, 0.5, 3.0, 7.5])
    A = torch.as_tensor(Q @ np.diag(lam) @ Q.T, dtype=F64)
    th = torch.randn(3, 5, dtype=F64, generator=torch.Generator().manual_seed(1))
    H = hessian(_Quadratic(A), [th])
    assert H.shape == (3, 5, 5)
    assert np.allclose(H, A.numpy()[None], rtol=0, atol=1e-8)
    assert np.allclose(sharpness(_Quadratic(A), [th]), 7.5, rtol=0, atol=1e-8)


def test_network_hessian_matches_autograd():
    x = sb.gaussian_inputs(32, 3, seed=0)
    y = torch.tanh(x[:, 0])
    w = sb.init_gaussian([3, 4, 1], scale=0.7, seed=2)
    net = sb.NetworkBatch("tanh", x, y)
    H = hessian(net, [p[None] for p in w])[0]

    def loss(flat):
        ws = [flat[:12].reshape(4, 3), flat[12:].reshape(1, 4)]
        return sb.network_loss(ws, x, y, "tanh")

    ref = torch.autograd.functional.hessian(loss, torch.cat([p.reshape(-1) for p in w])).numpy()
    assert np.allclose(H, ref, rtol=0, atol=1e-7)
    assert np.isclose(sharpness(net, [p[None] for p in w])[0], np.linalg.eigvalsh(ref)[-1], rtol=0, atol=1e-7)


def test_refusals():
    A = torch.eye(2, dtype=F64)
    with pytest.raises(ParameterError, match="problem"):
        sharpness(object(), [torch.zeros(1, 2, dtype=F64)])
    with pytest.raises(ParameterError, match="params"):
        sharpness(_Quadratic(A), [])
    with pytest.raises(ParameterError, match="step"):
        sharpness(_Quadratic(A), [torch.zeros(1, 2, dtype=F64)], step=0.0)
