import pytest
import torch

from saddlebook.errors import ParameterError
from saddlebook.geometry import _manifold as M
from saddlebook.geometry import distance, layer_distances, off_manifold, perturb
from saddlebook.nets import he_weights, layer_scales, symmetric_weights

WID = [4, 5, 5, 5, 1]


def test_distances_on_and_off_the_manifold():
    w = symmetric_weights(WID, [0.01, 0.01, 1.0, 1.0])
    assert float(distance(w)) < 1e-15
    h = he_weights(WID, 1.0, [1], seed=0)
    d = layer_distances(h)
    assert d.shape == (4,)
    assert float(distance(h)) == pytest.approx(
        float(M.deviation(h)) * float(torch.sqrt(sum((m**2).sum() for m in h))), rel=1e-12
    )
    # off-manifold part is orthogonal to the manifold: projecting it gives zero
    assert float(torch.sqrt(sum((p**2).sum() for p in M.project(off_manifold(h))))) < 1e-14
    batched = [torch.stack(ms) for ms in zip(h, w)]
    assert torch.allclose(distance(batched), torch.stack([distance(h), distance(w)]))


def test_perturb_is_per_layer_relative_and_keeps_projection():
    w = symmetric_weights(WID, layer_scales(4, 0.01, [1, 2]))
    p = perturb(w, 1e-3, seed=5)
    norms = torch.stack([m.norm() for m in w])
    assert torch.allclose(layer_distances(p), 1e-3 * norms, rtol=1e-10)
    assert all(torch.allclose(a, b, atol=1e-15) for a, b in zip(M.project(p), M.project(w)))
    assert all(torch.equal(a, b) for a, b in zip(perturb(w, 1e-3, seed=5), p))
    assert all(torch.equal(a, b) for a, b in zip(perturb(w, 0.0), w))


def test_perturb_bad_inputs():
    w = symmetric_weights(WID, [1.0] * 4)
    with pytest.raises(ParameterError, match="'delta'"):
        perturb(w, -1.0)
    with pytest.raises(ParameterError, match="'seed'"):
        perturb(w, 0.1, seed=1.5)
    with pytest.raises(ParameterError, match="no direction"):
        perturb([torch.ones(1, 1, dtype=torch.float64), torch.ones(1, 1, dtype=torch.float64)], 0.1)
