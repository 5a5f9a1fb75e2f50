import pytest
import torch

import saddlebook as sb

F64 = torch.float64
WIDTHS = [5, 7, 6, 4, 1]


@pytest.fixture(scope="module")
def problem():
    w = sb.init_gaussian(WIDTHS, scale=0.7, seed=11)
    x = sb.gaussian_inputs(64, 5, seed=12)
    v = torch.linspace(-1, 1, 5, dtype=F64)
    y_reg = sb.SingleIndexTeacher(v, f="tanh", beta=1.5)(x) + 0.3 * (x @ v) ** 2
    y_cls = torch.sign(x @ v)
    return w, x, {"mse": y_reg, "logistic": y_cls}


def test_imbalance_definition():
    w = sb.init_gaussian(WIDTHS, seed=0)
    d = sb.imbalance(w)
    assert d.shape == (3,)
    for k in range(3):
        assert torch.isclose(d[k], w[k + 1].pow(2).sum() - w[k].pow(2).sum(), rtol=1e-15)
    mats = sb.matrix_imbalance(w)
    assert [tuple(m.shape) for m in mats] == [(7, 7), (6, 6), (4, 4)]
    assert torch.allclose(torch.stack([m.trace() for m in mats]), d, rtol=1e-14)


@pytest.mark.parametrize("loss", sb.LOSSES)
@pytest.mark.parametrize("sigma", sb.SMOOTH)
def test_identity_holds_to_roundoff(problem, sigma, loss):
    w, x, ys = problem
    lhs, rhs = sb.imbalance_rates(w, sigma, x, ys[loss], loss)
    scale = sb.identity_scale(w, sigma, x, ys[loss], loss)
    assert lhs.shape == rhs.shape == (3,) and lhs.dtype == F64
    assert torch.all(scale > 0)
    assert torch.all((lhs - rhs).abs() <= 1e-12 * scale)
    if sigma != "identity":
        # Non-trivial: the drift is not itself at round-off level.
        assert float((lhs.abs() / scale).max()) > 1e-6


@pytest.mark.parametrize("loss", sb.LOSSES)
@pytest.mark.parametrize("sigma", ["identity", "relu", "leaky_relu"])
def test_homogeneous_activations_conserve(problem, sigma, loss):
    w, x, ys = problem
    lhs, rhs = sb.imbalance_rates(w, sigma, x, ys[loss], loss)
    scale = sb.identity_scale(w, sigma, x, ys[loss], loss)
    assert torch.all(lhs.abs() <= 1e-13 * scale)
    assert torch.all(rhs.abs() <= 1e-13 * scale)


@pytest.mark.parametrize("loss", sb.LOSSES)
@pytest.mark.parametrize("sigma", ["identity", "tanh", "gelu", "sigmoid", "quadratic"])
def test_matrix_identity(problem, sigma, loss):
    w, x, ys = problem
    y = ys[loss]
    lhs, rhs = sb.matrix_imbalance_rates(w, sigma, x, y, loss)
    scalar_lhs, _ = sb.imbalance_rates(w, sigma, x, y, loss)
    grads = sb.gradient(w, sigma, x, y, loss)
    for k in range(3):
        # Size of the four products being added: the round-off scale.
        size = 2 * (grads[k + 1].norm() * w[k + 1].norm() + grads[k].norm() * w[k].norm())
        assert lhs[k].shape == (WIDTHS[k + 1],) * 2
        assert torch.allclose(lhs[k], lhs[k].T, atol=1e-15 * float(size))
        assert float((lhs[k] - rhs[k]).abs().max()) <= 1e-12 * float(size)
        assert abs(float(lhs[k].trace() - scalar_lhs[k])) <= 1e-12 * float(size)
        if sigma == "identity":
            assert float(lhs[k].abs().max()) <= 1e-13 * float(size)


@pytest.mark.parametrize("sigma", ["tanh", "silu"])
def test_gd_step_decomposition_exact(problem, sigma):
    w, x, ys = problem
    y = ys["mse"]
    lhs, _ = sb.imbalance_rates(w, sigma, x, y)
    norms = torch.stack([m.pow(2).sum() for m in w])
    norm_scale = norms[1:] + norms[:-1]
    seconds = []
    for lr in (1e-1, 1e-2, 1e-3):
        out = sb.gd_imbalance_step(w, sigma, x, y, lr)
        resid = out["measured"] - out["first_order"] - out["second_order"]
        assert torch.all(resid.abs() <= 1e-12 * norm_scale)
        assert torch.allclose(out["first_order"], lr * lhs, rtol=1e-14, atol=0)
        seconds.append(out["second_order"] / lr**2)
    for s in seconds[1:]:
        assert torch.allclose(s, seconds[0], rtol=1e-12, atol=0)
    assert float(seconds[0].abs().max()) > 0


def test_errors_named(problem):
    w, x, ys = problem
    with pytest.raises(ValueError, match="lr"):
        sb.gd_imbalance_step(w, "tanh", x, ys["mse"], 0.0)
    with pytest.raises(ValueError, match="loss"):
        sb.imbalance_rates(w, "tanh", x, ys["mse"], "l1")
    with pytest.raises(ValueError, match="allowed"):
        sb.imbalance_rates(w, "nope", x, ys["mse"])
    with pytest.raises(ValueError, match="y has 10 entries"):
        sb.imbalance_rates(w, "tanh", x, ys["mse"][:10])
