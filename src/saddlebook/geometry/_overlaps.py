"""Feature overlaps of a network and their Gram-ratio predictions.

For a scalar-output network near the origin the first layer's gradient is
driven by one vector, the target's linear moment m = E[y x]. For a teacher
y = Σ_k β_k f_k(v_k · x) with x ~ N(0, Σ), Stein's lemma gives

    m = Σ_k β_k h_k Σ v_k,   h_k = E[f_k'(s_k g)],  s_k² = v_kᵀ Σ v_k,  g ~ N(0, 1),

so the growth of the first layer is rank one along m, and its overlaps with
the teacher directions have fixed ratios: ⟨m, v_k⟩ = (G w)_k with the Gram
matrix G = Vᵀ Σ V and w_k = β_k h_k (or ⟨m, Σ v_k⟩ = (Vᵀ Σ² V w)_k for the
overlaps measured in the data metric). This module computes those
predictions from the teacher and Σ alone, and measures the corresponding
overlaps of a network's weights.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._validate import choice, nonnegative
from ..data._synthetic import check_covariance, first_hermite, teacher_features
from ..errors import ParameterError
from ..nets._activations import derivative

__all__ = [
    "METRICS",
    "linear_coefficient",
    "feature_weights",
    "teacher_directions",
    "gram",
    "moment_overlaps",
    "predicted_ratios",
    "overlap_matrix",
    "principal_overlaps",
    "overlap_trajectory",
]

METRICS: tuple[str, ...] = ("v", "cov")
"""Overlap metrics: ``"v"`` measures ⟨row, v_k⟩, ``"cov"`` measures ⟨row, Σ v_k⟩ = E[(row·x)(v_k·x)]."""


def _metric(metric: str) -> str:
    if not isinstance(metric, str):
        raise ParameterError(f"parameter 'metric' is {metric!r}; allowed: {', '.join(METRICS)}")
    return choice("metric", metric, METRICS)


def linear_coefficient(f, scale: float, n_nodes: int = 200) -> float:
    """First Hermite coefficient h = E[f'(s g)] = E[f(s g) g]/s, g ~ N(0, 1).

    Parameters
    ----------
    f : str or callable
        Link function (registry name of :mod:`saddlebook.nets` or an
        elementwise torch callable).
    scale : float
        Standard deviation s ≥ 0 of the argument; for s = 0 the result is f'(0).
    n_nodes : int, default 200
        Gauss–Hermite nodes of :func:`~saddlebook.data.first_hermite` (≥ 2).

    Returns
    -------
    float
        h, so that E[f(v·x) x] = h Σ v for x ~ N(0, Σ) and s² = vᵀΣv.
    """
    scale = nonnegative("scale", scale)
    if scale == 0.0:
        return float(derivative(f, torch.zeros(1, dtype=torch.float64)))
    # E[f'(s g)] = E[f(s g) g] / s (Stein's lemma): no derivative of f needed.
    return first_hermite(f, scale, n_nodes) / scale


def teacher_directions(teacher) -> torch.Tensor:
    """Teacher directions as the columns of V, shape ``(d, K)``."""
    return torch.stack([v.to(torch.float64) for v, _, _ in teacher_features(teacher)], dim=1)


def feature_weights(teacher, cov=None, n_nodes: int = 200) -> torch.Tensor:
    """Effective linear weights w_k = β_k h_k of a teacher's features.

    Parameters
    ----------
    teacher : FeatureSum, SingleIndexTeacher or LinearTeacher
    cov : torch.Tensor, optional
        Input covariance Σ, shape ``(d, d)``; identity if omitted.
    n_nodes : int, default 200
        Gauss–Hermite nodes of :func:`linear_coefficient`.

    Returns
    -------
    torch.Tensor
        Shape ``(K,)``, float64; h_k is taken at s_k = (v_kᵀΣv_k)^{1/2}.
    """
    feats = teacher_features(teacher)
    V = teacher_directions(teacher)
    S = check_covariance(cov, V.shape[0])
    out = []
    for k, (_, f, beta) in enumerate(feats):
        s_k = math.sqrt(max(float(V[:, k] @ S @ V[:, k]), 0.0))
        out.append(beta * linear_coefficient(f, s_k, n_nodes))
    return torch.tensor(out, dtype=torch.float64)


def gram(directions: torch.Tensor, cov=None, power: int = 1) -> torch.Tensor:
    """Gram matrix Vᵀ Σ^power V of the teacher directions.

    Parameters
    ----------
    directions : torch.Tensor
        V, shape ``(d, K)``.
    cov : torch.Tensor, optional
        Σ; identity if omitted.
    power : int, default 1
        0, 1 or 2.

    Returns
    -------
    torch.Tensor
        Shape ``(K, K)``, float64.
    """
    V = _directions(directions)
    if isinstance(power, bool) or power not in (0, 1, 2):
        raise ParameterError(f"parameter 'power' must be 0, 1 or 2, got {power!r}")
    S = check_covariance(cov, V.shape[0])
    return V.T @ torch.linalg.matrix_power(S, power) @ V


def _directions(directions) -> torch.Tensor:
    V = torch.as_tensor(directions).to(torch.float64)
    if V.dim() != 2 or V.shape[1] == 0 or not bool(torch.isfinite(V).all()):
        raise ParameterError(f"parameter 'directions' must be a finite (d, K) matrix, got shape {tuple(V.shape)}")
    return V


def moment_overlaps(moment: torch.Tensor, directions: torch.Tensor, cov=None, metric: str = "v") -> torch.Tensor:
    """Overlaps of a vector with the teacher directions: Vᵀm or VᵀΣm.

    Parameters
    ----------
    moment : torch.Tensor
        Shape ``(d,)``, e.g. :func:`~saddlebook.data.population_moment` or :func:`~saddlebook.data.sample_moment`.
    directions : torch.Tensor
        V, shape ``(d, K)``.
    cov : torch.Tensor, optional
        Σ (used by ``metric="cov"``).
    metric : {"v", "cov"}, default "v"

    Returns
    -------
    torch.Tensor
        Shape ``(K,)``.
    """
    V = _directions(directions)
    metric = _metric(metric)
    m = torch.as_tensor(moment).to(torch.float64).reshape(-1)
    if m.shape[0] != V.shape[0]:
        raise ParameterError(f"parameter 'moment' has {m.shape[0]} entries but the directions have {V.shape[0]} rows")
    if metric == "cov":
        m = check_covariance(cov, V.shape[0]) @ m
    return V.T @ m


def predicted_ratios(teacher, cov=None, metric: str = "v", n_nodes: int = 200) -> torch.Tensor:
    """Overlap ratios fixed by the target and Σ alone (nothing fitted).

    Parameters
    ----------
    teacher : FeatureSum, SingleIndexTeacher or LinearTeacher
    cov : torch.Tensor, optional
        Σ; identity if omitted.
    metric : {"v", "cov"}, default "v"
        ``"v"``: ρ_k = (G w)_k/(G w)_1 with G = VᵀΣV; ``"cov"``:
        ρ_k = (G₂ w)_k/(G₂ w)_1 with G₂ = VᵀΣ²V; w_k = β_k h_k.
    n_nodes : int, default 200

    Returns
    -------
    torch.Tensor
        Shape ``(K,)`` with ρ_1 = 1.

    Raises
    ------
    saddlebook.errors.ParameterError
        (a ValueError) If the first overlap vanishes (the ratios are undefined).
    """
    metric = _metric(metric)
    V = teacher_directions(teacher)
    S = check_covariance(cov, V.shape[0])
    q = gram(V, S, 1 if metric == "v" else 2) @ feature_weights(teacher, S, n_nodes)
    if abs(float(q[0])) <= 1e-14 * max(1.0, float(q.abs().max())):
        raise ParameterError(
            "parameter 'teacher': the first feature's predicted overlap vanishes; ratios to it are undefined "
            "(put a feature with a non-zero overlap first)"
        )
    return q / q[0]


def overlap_matrix(w1: torch.Tensor, directions: torch.Tensor, reference: torch.Tensor | None = None,
                   cov=None, metric: str = "v") -> torch.Tensor:
    """Overlaps of first-layer rows with the teacher directions.

    Parameters
    ----------
    w1 : torch.Tensor
        First-layer weights W_1, shape ``(n_1, d)``.
    directions : torch.Tensor
        V, shape ``(d, K)``.
    reference : torch.Tensor, optional
        W_1 at initialization; if given, the overlaps of the growth
        W_1 − W_1(0) are returned.
    cov : torch.Tensor, optional
        Σ (used by ``metric="cov"``).
    metric : {"v", "cov"}, default "v"
        ``(W_1 − W_1(0)) V`` or ``(W_1 − W_1(0)) Σ V``.

    Returns
    -------
    torch.Tensor
        Shape ``(n_1, K)``, float64: row i, column k is the overlap of hidden
        unit i with feature k.
    """
    V = _directions(directions)
    metric = _metric(metric)
    W = torch.as_tensor(w1).to(torch.float64)
    if W.dim() != 2 or W.shape[1] != V.shape[0]:
        raise ParameterError(f"parameter 'w1' must have shape (n_1, {V.shape[0]}), got {tuple(W.shape)}")
    if reference is not None:
        R = torch.as_tensor(reference).to(torch.float64)
        if R.shape != W.shape:
            raise ParameterError(f"parameter 'reference' has shape {tuple(R.shape)}, w1 has {tuple(W.shape)}")
        W = W - R
    if metric == "cov":
        V = check_covariance(cov, V.shape[0]) @ V
    return W @ V


def principal_overlaps(q: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Signed feature overlaps along the dominant hidden direction.

    Parameters
    ----------
    q : torch.Tensor
        Overlap matrix, shape ``(n_1, K)`` (:func:`overlap_matrix`).

    Returns
    -------
    overlaps : torch.Tensor
        Shape ``(K,)``: uᵀQ with u the top left singular vector of Q, signed
        so that the first entry is ≥ 0.
    rank_one_fraction : float
        σ₁²/‖Q‖_F² ∈ [0, 1]; 1 when every hidden unit sees the features in
        the same proportions (Q of rank one).
    """
    Q = torch.as_tensor(q).to(torch.float64)
    if Q.dim() != 2 or Q.numel() == 0 or not bool(torch.isfinite(Q).all()):
        raise ParameterError(f"parameter 'q' must be a finite non-empty 2-D matrix, got shape {tuple(Q.shape)}")
    total = float((Q * Q).sum())
    if total == 0.0:
        return torch.zeros(Q.shape[1], dtype=torch.float64), 0.0
    U, S, _ = torch.linalg.svd(Q, full_matrices=False)
    row = U[:, 0] @ Q
    if float(row[0]) < 0:
        row = -row
    return row, float(S[0] ** 2) / total


def overlap_trajectory(weights, directions: torch.Tensor, reference: torch.Tensor | None = None,
                       cov=None, metric: str = "v") -> tuple[np.ndarray, np.ndarray]:
    """Principal feature overlaps along a recorded trajectory.

    Parameters
    ----------
    weights : sequence of sequences of torch.Tensor
        Snapshots ``[W_1, …, W_L]`` (e.g. ``FlowResult.weights``); only W_1
        is used.
    directions, reference, cov, metric
        As in :func:`overlap_matrix` (``reference`` is usually W_1(0)).

    Returns
    -------
    overlaps : numpy.ndarray
        Shape ``(T, K)``: :func:`principal_overlaps` of each snapshot.
    rank_one_fraction : numpy.ndarray
        Shape ``(T,)``.
    """
    rows, fracs = [], []
    for snap in weights:
        q, f = principal_overlaps(overlap_matrix(snap[0], directions, reference, cov, metric))
        rows.append(q.numpy())
        fracs.append(f)
    if not rows:
        raise ParameterError("parameter 'weights' holds no snapshots")
    return np.array(rows), np.array(fracs)
