import pytest
import torch

import saddlebook as sb

F64 = torch.float64


def test_widths_and_init_shapes_scale_and_determinism():
    widths = sb.widths_for(5, 7, 4)
    assert widths == [5, 7, 7, 7, 1]
    w = sb.init_gaussian(widths, scale=0.1, seed=3)
    assert [tuple(m.shape) for m in w] == [(7, 5), (7, 7), (7, 7), (1, 7)]
    assert all(m.dtype == F64 for m in w)
    w2 = sb.init_gaussian(widths, scale=0.1, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(w, w2))
    w3 = sb.init_gaussian(widths, scale=0.1, seed=4)
    assert not torch.equal(w[0], w3[0])
    unit = sb.init_gaussian(widths, scale=1.0, seed=3)
    assert all(torch.allclose(a, 0.1 * b) for a, b in zip(w, unit))


def test_init_fan_in_variance():
    w = sb.init_gaussian([400, 300], seed=0)[0]
    assert abs(float(w.var()) * 400 - 1.0) < 0.02


def test_init_per_layer_scale_and_errors():
    w = sb.init_gaussian([3, 4, 1], scale=[1.0, 1e-3], seed=0)
    u = sb.init_gaussian([3, 4, 1], scale=1.0, seed=0)
    assert torch.allclose(w[1], 1e-3 * u[1]) and torch.equal(w[0], u[0])
    with pytest.raises(ValueError, match="scale"):
        sb.init_gaussian([3, 4, 1], scale=0.0)
    with pytest.raises(ValueError, match="scale"):
        sb.init_gaussian([3, 4, 1], scale=[1.0])
    with pytest.raises(ValueError, match="scale"):
        sb.init_gaussian([3, 4, 1], scale=-1e-3)


def test_forward_matches_manual_and_shapes():
    w = sb.init_gaussian([3, 4, 5, 1], seed=1)
    x = sb.gaussian_inputs(10, 3, seed=2)
    zs = sb.preactivations(w, x, "tanh")
    assert [tuple(z.shape) for z in zs] == [(10, 4), (10, 5), (10, 1)]
    manual = torch.tanh(torch.tanh(x @ w[0].T) @ w[1].T) @ w[2].T
    out = sb.forward(w, x, "tanh")
    assert out.shape == (10,)
    assert torch.allclose(out, manual[:, 0], rtol=1e-15, atol=0)
    wm = sb.init_gaussian([3, 4, 2], seed=1)
    assert sb.forward(wm, x, "identity").shape == (10, 2)


def test_check_shapes_messages():
    w = [torch.zeros(3, 5, dtype=F64), torch.zeros(4, 5, dtype=F64), torch.zeros(1, 4, dtype=F64)]
    x = torch.zeros(10, 5, dtype=F64)
    with pytest.raises(ValueError, match=r"weights\[1\] has shape \(4, 5\) but weights\[0\] has 3 rows"):
        sb.check_shapes(w, x)
    good = sb.init_gaussian([5, 3, 1])
    with pytest.raises(ValueError, match=r"x has 7 columns but weights\[0\] expects 5"):
        sb.check_shapes(good, torch.zeros(10, 7, dtype=F64))
    with pytest.raises(ValueError, match=r"y has 9 entries but x has 10 rows"):
        sb.check_shapes(good, x, torch.zeros(9, dtype=F64))
    bad = torch.zeros(10, 5, dtype=F64)
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="'x' contains non-finite"):
        sb.check_shapes(good, bad)
    with pytest.raises(ValueError, match="weights"):
        sb.check_shapes([], x)


def test_forward_rejects_unknown_activation_before_work():
    w = sb.init_gaussian([5, 3, 1])
    with pytest.raises(ValueError, match="allowed"):
        sb.forward(w, torch.zeros(2, 5, dtype=F64), "nope")
