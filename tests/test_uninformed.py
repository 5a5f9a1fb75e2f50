
import numpy as np
import pytest
import torch

import saddlebook as sb
from saddlebook.dynamics import (
    first_layer_moment,
    he_escape_grid,
    he_escapes,
    linear_first_layer_moment,
    middle_bottleneck,
)
from saddlebook.errors import ParameterError
from saddlebook.nets import he_weights


def _data(n=256, d=4, seed=0):
    x = sb.gaussian_inputs(n, d, seed=seed)
    return x, torch.tanh(x[:, 0])


def test_middle_bottleneck():
    assert middle_bottleneck(3) == [2]
    assert middle_bottleneck(6) == [2, 3, 4, 5]
    for bad in (2, 2.5, True):
        with pytest.raises(ParameterError, match="'depth'"):
            middle_bottleneck(bad)


def test_first_layer_moment_matches_definition_and_linear_part():
    x, y = _data()
    w1 = he_weights([4, 8, 8, 1], 0.1, [2], seed=3)[0]
    c = first_layer_moment(x, y, w1)
    assert c.shape == (8,) and c.dtype == torch.float64
    assert torch.allclose(c, (y[:, None] * torch.tanh(x @ w1.T)).mean(0), atol=1e-14)
    # For a tiny first layer sigma is linear: c -> alpha W1 m, and the linear part agrees.
    small = 1e-4 * w1
    m = (y[:, None] * x).mean(0)
    assert torch.allclose(first_layer_moment(x, y, small), small @ m, rtol=1e-6, atol=1e-14)
    assert torch.allclose(linear_first_layer_moment(x, y, small), small @ m, rtol=1e-6, atol=1e-14)
    # Linear target and identity activation: both moments are exactly W1 m.
    yl = x[:, 1]
    assert torch.allclose(first_layer_moment(x, yl, w1, "identity"), w1 @ (yl[:, None] * x).mean(0), atol=1e-12)


def test_expected_first_layer_overlap_is_isotropic():
    # Derived in the module docstring: E||W1 m||^2 = (2N/d) ||m||^2 for He-normal rows.
    d, N = 6, 16
    m = torch.tensor([1.0, -2.0, 0.5, 0.0, 0.3, 1.2], dtype=torch.float64)
    vals = [float((he_weights([d, N, N, 1], 0.1, [2], seed=s)[0] @ m).pow(2).sum()) for s in range(400)]
    assert np.mean(vals) == pytest.approx(2 * N / d * float(m @ m), rel=0.05)


def test_he_escapes_scale_with_the_target_amplitude():
    # tau = T / Gamma1: doubling a linear target halves tau to leading order, draw by draw
    # (r = 3: the correction is O(eps); r = 2 would carry O(1 / log(1/eps))).
    x = sb.gaussian_inputs(256, 4, seed=1)
    y = 0.5 * x[:, 0]
    kw = dict(depth=5, eps=0.05, seeds=[0, 1], width=8)
    t1, g1, _ = he_escapes(x, y, **kw)
    t2, g2, _ = he_escapes(x, 2 * y, **kw)
    assert np.all(np.isfinite(t1)) and np.allclose(g2, 2 * g1)
    assert np.allclose(t1 * g1, t2 * g2, rtol=0.05)
    grid = he_escape_grid(x, y, depth=5, eps=[0.05, 0.1], seeds=[0, 1], width=8)
    assert grid.shape == (2, 2) and np.allclose(grid[0], t1, rtol=1e-6)
    assert np.all(grid[1] < grid[0])


@pytest.mark.parametrize("call, match", [
    (lambda x, y: first_layer_moment(x[:, 0], y, torch.zeros(3, 4)), "'x'"),
    (lambda x, y: first_layer_moment(x, y[:-1], torch.zeros(3, 4)), "'y'"),
    (lambda x, y: first_layer_moment(x, y, torch.zeros(3, 5)), "'w1'"),
    (lambda x, y: linear_first_layer_moment(x, y, torch.zeros(3)), "'w1'"),
    (lambda x, y: he_escapes(x, y, depth=2, eps=0.1, seeds=[0]), "'depth'"),
])
def test_bad_input_is_refused(call, match):
    x, y = _data(32)
    with pytest.raises(ParameterError, match=match):
        call(x, y)
