import math

import numpy as np
import pytest
import torch

import saddlebook as sb
from saddlebook.geometry import _overlaps as O

F64 = torch.float64


def _setup(d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    V = torch.randn(d, 3, generator=g, dtype=F64)
    V = V / V.norm(dim=0)
    A = torch.randn(d, d, generator=g, dtype=F64)
    S = A @ A.T / d + 0.3 * torch.eye(d, dtype=F64)
    teacher = sb.FeatureSum([sb.SingleIndexTeacher(V[:, 0], "tanh", 1.0),
                             sb.SingleIndexTeacher(V[:, 1], "sin", 0.7),
                             sb.SingleIndexTeacher(V[:, 2], "erf", -0.5)])
    return V, S, teacher


def test_linear_coefficient_known_values():
    assert O.linear_coefficient("identity", 1.7) == pytest.approx(1.0, rel=1e-12)
    # E[cos(s g)] = exp(-s^2/2) for sin; E[erf'(s g)] = (2/sqrt(pi)) / sqrt(1 + 2 s^2).
    assert O.linear_coefficient("sin", 0.8) == pytest.approx(math.exp(-0.32), rel=1e-10)
    assert O.linear_coefficient("erf", 1.3) == pytest.approx(
        2 / math.sqrt(math.pi) / math.sqrt(1 + 2 * 1.69), rel=1e-10
    )
    assert O.linear_coefficient("tanh", 0.0) == pytest.approx(1.0, rel=1e-12)
    with pytest.raises(ValueError, match="scale"):
        O.linear_coefficient("tanh", -1.0)
    with pytest.raises(ValueError, match="n_nodes"):
        O.linear_coefficient("tanh", 1.0, n_nodes=1)


def test_population_moment_matches_a_large_sample():
    V, S, teacher = _setup()
    m = sb.population_moment(teacher, S)
    x = sb.gaussian_inputs(400_000, 5, cov=S, seed=3)
    mh = sb.sample_moment(x, teacher(x))
    assert float((mh - m).norm() / m.norm()) < 0.01
    # ...and it is the Gram expression Σ V w.
    assert torch.allclose(m, S @ V @ O.feature_weights(teacher, S), rtol=1e-14)


def test_predicted_ratios_are_gram_ratios():
    V, S, teacher = _setup()
    w = O.feature_weights(teacher, S)
    for metric, G in (("v", V.T @ S @ V), ("cov", V.T @ S @ S @ V)):
        rho = O.predicted_ratios(teacher, S, metric)
        q = G @ w
        assert torch.allclose(rho, q / q[0], rtol=1e-12)
        m_ov = O.moment_overlaps(sb.population_moment(teacher, S), V, S, metric)
        assert torch.allclose(m_ov / m_ov[0], rho, rtol=1e-12)
    # Isotropic inputs, orthonormal directions: ratios are w_k / w_1.
    Q, _ = torch.linalg.qr(V)
    iso = sb.FeatureSum(
        [sb.SingleIndexTeacher(Q[:, k], f, b) for k, (f, b) in enumerate([("tanh", 1.0), ("sin", 0.7), ("erf", -0.5)])]
    )
    w = O.feature_weights(iso)
    assert torch.allclose(O.predicted_ratios(iso), w / w[0], atol=1e-12)
    with pytest.raises(ValueError, match="metric"):
        O.predicted_ratios(teacher, S, "raw")
    with pytest.raises(ValueError, match="cov"):
        sb.population_moment(teacher, torch.eye(4, dtype=F64))


def test_overlaps_of_a_rank_one_growth():
    V, S, teacher = _setup()
    g = torch.Generator().manual_seed(1)
    w0 = 1e-3 * torch.randn(6, 5, generator=g, dtype=F64)
    a = torch.randn(6, generator=g, dtype=F64)
    m = sb.population_moment(teacher, S)
    w1 = w0 + torch.outer(a, m)
    for metric in ("v", "cov"):
        q, frac = O.principal_overlaps(O.overlap_matrix(w1, V, w0, S, metric))
        assert frac == pytest.approx(1.0, abs=1e-12)
        assert torch.allclose(q / q[0], O.predicted_ratios(teacher, S, metric), rtol=1e-10)
    # Without subtracting the start the random part spoils rank one.
    _, frac_raw = O.principal_overlaps(O.overlap_matrix(w0 + 1e-3 * torch.outer(a, m), V))
    assert frac_raw < 0.999
    # Sign convention: first overlap non-negative.
    q, _ = O.principal_overlaps(-O.overlap_matrix(w1, V, w0))
    assert float(q[0]) > 0
    z, frac0 = O.principal_overlaps(torch.zeros(4, 3, dtype=F64))
    assert frac0 == 0.0 and float(z.abs().sum()) == 0.0
    with pytest.raises(ValueError, match="w1"):
        O.overlap_matrix(torch.zeros(3, 4, dtype=F64), V)
    with pytest.raises(ValueError, match="reference"):
        O.overlap_matrix(w1, V, torch.zeros(2, 5, dtype=F64))


def test_first_layer_growth_follows_the_moment():
    # One gradient step from a small start: the growth of W_1 is rank one
    # along m-hat up to the (tiny) nonlinear corrections.
    V, S, teacher = _setup()
    x = sb.whitened_inputs(2000, 5, seed=0, cov=S)
    y = teacher(x)
    w0 = sb.init_gaussian([5, 6, 6, 1], 1e-3, seed=4)
    grads = sb.gradient(w0, "tanh", x, y)
    dw = -grads[0]
    q, frac = O.principal_overlaps(O.overlap_matrix(w0[0] + dw, V, w0[0]))
    mh = O.moment_overlaps(sb.sample_moment(x, y), V)
    assert 1 - frac < 1e-9
    assert torch.allclose(q / q[0], mh / mh[0], atol=1e-6)


def test_overlap_trajectory_shapes():
    V, S, teacher = _setup()
    g = torch.Generator().manual_seed(5)
    w0 = torch.randn(4, 5, generator=g, dtype=F64)
    m = sb.population_moment(teacher, S)
    snaps = [[w0 + c * torch.outer(torch.ones(4, dtype=F64), m)] for c in (0.5, 1.0, 2.0)]
    q, f = O.overlap_trajectory(snaps, V, w0)
    assert q.shape == (3, 3) and f.shape == (3,)
    assert np.allclose(f, 1.0) and np.allclose(q[:, 1] / q[:, 0], float(O.predicted_ratios(teacher, S)[1]))
    assert np.allclose(q[:, 0] / q[0, 0], [1.0, 2.0, 4.0])
    with pytest.raises(ValueError, match="snapshots"):
        O.overlap_trajectory([], V)
