import pytest
import torch

import saddlebook as sb
from saddlebook.errors import ParameterError
from saddlebook.geometry import _manifold as M
from saddlebook.nets import bottleneck_layers, he_weights, layer_scales, small_weights, symmetric_weights

WID = [3, 4, 4, 4, 1]


@pytest.fixture(scope="module")
def data():
    x = sb.gaussian_inputs(40, 3, seed=1)
    return x, sb.SingleIndexTeacher(torch.tensor([1.0, -0.5, 0.2], dtype=torch.float64), "tanh")(x)


def test_symmetric_weights_norms_and_manifold():
    w = symmetric_weights(WID, [0.3, -0.5, 0.7, 0.9], direction=torch.tensor([1.0, 2.0, 2.0]))
    assert [float(m.norm()) for m in w] == pytest.approx([0.3, 0.5, 0.7, 0.9], rel=1e-14)
    assert float(M.deviation(w)) < 1e-15
    wr, yr = M.to_reduced(w)
    assert torch.allclose(wr, torch.tensor([0.1, 0.2, 0.2], dtype=torch.float64))
    back = M.from_reduced(wr, yr, WID)
    assert all(torch.allclose(a, b, atol=1e-16) for a, b in zip(w, back))


def test_gradient_is_tangent_but_identical_rows_are_not_invariant(data):
    x, y = data
    w = symmetric_weights(WID, [0.3, 0.5, 0.7, 0.9], direction=torch.tensor([1.0, 0.0, 1.0]))
    assert float(M.deviation(sb.gradient(w, "tanh", x, y))) < 1e-14
    # identical rows with unequal columns: the gradient's rows differ
    gen = torch.Generator().manual_seed(0)
    rows = [torch.ones(4, 1, dtype=torch.float64) * torch.randn(1, n, generator=gen, dtype=torch.float64)
            for n in (3, 4, 4)] + [torch.randn(1, 4, generator=gen, dtype=torch.float64)]
    assert float(M.row_deviation(rows)) < 1e-15
    assert float(M.row_deviation(sb.gradient(rows, "tanh", x, y))) > 1e-2


def test_batched_projection():
    w = [torch.stack(ms) for ms in zip(*(he_weights(WID, 0.5, [2], seed=s) for s in (0, 1)))]
    d = M.deviation(w)
    assert d.shape == (2,) and bool((d > 0.1).all())
    assert float(M.deviation(M.project(w)).max()) < 1e-15


def test_he_weights_statistics_and_eps_rescaling():
    a = he_weights([200, 300, 1], 1.0, [1], seed=5)
    b = he_weights([200, 300, 1], 0.01, [1], seed=5)
    assert float(a[0].var()) == pytest.approx(2 / 200, rel=0.02)
    assert torch.allclose(b[0], 0.01 * a[0]) and torch.equal(b[1], a[1])
    s = small_weights([200, 300, 1], 0.01, seed=5)
    assert torch.allclose(s[1], 0.01 * a[1])


def test_bad_inputs():
    with pytest.raises(ParameterError, match="'r'"):
        bottleneck_layers(4, 5)
    with pytest.raises(ParameterError, match="'eps'"):
        layer_scales(4, 0.0, [1])
    with pytest.raises(ParameterError, match="'bottleneck'"):
        layer_scales(4, 0.1, [0, 1])
    with pytest.raises(ParameterError, match="'scales'"):
        symmetric_weights(WID, [0.1, 0.2])
    with pytest.raises(ParameterError, match="widths"):
        he_weights([3, 4, 2], 0.1, [1])


def test_reduced_distance():
    w = symmetric_weights(WID, [0.3, 0.5, 0.7, 0.9], direction=torch.tensor([1.0, 2.0, 2.0]))
    wr, yr = M.to_reduced(w)
    assert float(M.reduced_distance(w, wr, yr)) < 1e-15
    # Relative to the norm of the reduced state it is given.
    expected = 0.1 * float(yr.norm() / (wr.norm() ** 2 + 1.21 * yr.norm() ** 2).sqrt())
    assert float(M.reduced_distance(w, wr, 1.1 * yr)) == pytest.approx(expected, rel=1e-12)
    u = torch.tensor([1.0, 2.0, 2.0], dtype=torch.float64) / 3
    assert float(M.reduced_distance(w, (wr @ u).reshape(1), yr, direction=u)) < 1e-15
    batch = [m[None].repeat(2, 1, 1) for m in w]
    assert M.reduced_distance(batch, wr.repeat(2, 1), yr.repeat(2, 1)).shape == (2,)
    with pytest.raises(ParameterError, match="'w'"):
        M.reduced_distance(w, wr[:2], yr)
