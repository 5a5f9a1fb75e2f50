"""Closed forms for deep linear networks (external results, class A).

Saxe, McClelland & Ganguli (2014, arXiv:1312.6120): with whitened inputs and
a balanced small initialization, each singular mode of a two-layer linear
network follows the logistic law u̇ = 2u(s − u)/τ.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._validate import integer, positive
from ..errors import ParameterError

__all__ = [
    "saxe_mode_strength",
    "two_layer_aligned_init",
    "saxe_half_time",
    "two_layer_modes_init",
    "mode_strengths",
    "growing_mode_strength",
]


def saxe_mode_strength(t, s: float, u0: float, tau: float = 1.0) -> np.ndarray:
    """Mode strength of a two-layer linear network (Saxe et al. 2014).

    Solves u̇ = 2u(s − u)/τ with u(0) = u₀:

    .. math:: u(t) = \\frac{s\\,e^{2st/\\tau}}{e^{2st/\\tau} - 1 + s/u_0}
                   = \\frac{s}{1 + (s/u_0 - 1)\\,e^{-2st/\\tau}},

    evaluated in the second form, which does not overflow for large t.

    Parameters
    ----------
    t : array_like
        Times (any real values).
    s : float
        Target singular value (> 0).
    u0 : float
        Initial mode strength (> 0).
    tau : float, default 1.0
        Time constant (> 0); τ = 1 in flow-time units for ½ mean squared
        loss (see :func:`two_layer_aligned_init`).

    Returns
    -------
    numpy.ndarray
        u(t), float64, same shape as ``t``.
    """
    s = positive("s", s)
    u0 = positive("u0", u0)
    tau = positive("tau", tau)
    t = np.asarray(t, dtype=np.float64)
    if not np.all(np.isfinite(t)):
        raise ParameterError("parameter 't' must contain only finite times")
    with np.errstate(over="ignore"):
        # For t → −∞ the exponential overflows to inf and u → 0 correctly.
        return s / (1.0 + (s / u0 - 1.0) * np.exp(-2.0 * s * t / tau))


def two_layer_aligned_init(
    v: torch.Tensor,
    u0: float,
    hidden: int = 1,
    dtype: torch.dtype | None = None,
) -> list[torch.Tensor]:
    """Balanced rank-one initialization aligned with the teacher direction.

    Parameters
    ----------
    v : torch.Tensor
        Unit teacher direction, shape ``(d,)``; the teacher is y = s v · x.
    u0 : float
        Initial mode strength (> 0).
    hidden : int, default 1
        Hidden width (≥ 1); the rank-one weights use the first hidden unit.
    dtype : torch.dtype, optional
        Defaults to the dtype of ``v`` if floating, else float64.

    Returns
    -------
    list of torch.Tensor
        ``[W_1, W_2]`` with W_1 = √u₀ e vᵀ (shape ``(hidden, d)``) and
        W_2 = √u₀ eᵀ (shape ``(1, hidden)``), e the first unit vector, so
        W_2 W_1 = u₀ vᵀ.

    Notes
    -----
    With inputs satisfying (1/n) XᵀX = I (:func:`~saddlebook.data.whitened_inputs`)
    the loss ½ mean (y − ŷ)² equals ½‖s vᵀ − W_2W_1‖². On the set
    W_1 = a e vᵀ, W_2 = b eᵀ the residual is R = (s − ab) vᵀ and gradient flow
    gives Ẇ_1 = W_2ᵀR, Ẇ_2 = R W_1ᵀ, i.e. ȧ = b(s − ab), ḃ = a(s − ab); the set
    is invariant. Then d(a − b)/dt = −(a − b)(s − ab), so a = b is preserved,
    and u = ab obeys u̇ = (a² + b²)(s − u) = 2u(s − u): Saxe's law with τ = 1.
    The mode strength is u(t) = W_2(t) W_1(t) v.
    """
    if not isinstance(v, torch.Tensor):
        v = torch.as_tensor(v, dtype=torch.float64)
    if v.dim() != 1 or v.shape[0] == 0:
        raise ParameterError(f"parameter 'v' must be a non-empty 1-D tensor, got shape {tuple(v.shape)}")
    if dtype is None:
        dtype = v.dtype if v.is_floating_point() else torch.float64
    v = v.to(dtype)
    norm = float(torch.linalg.vector_norm(v.to(torch.float64)))
    if not math.isfinite(norm) or abs(norm - 1.0) > 1e-10:
        raise ParameterError(f"parameter 'v' must have unit norm, got |v| = {norm:.6g}")
    u0 = positive("u0", u0)
    hidden = integer("hidden", hidden, 1)
    e = torch.zeros(hidden, dtype=dtype, device=v.device)
    e[0] = 1.0
    root = math.sqrt(u0)
    return [root * torch.outer(e, v), root * e.reshape(1, hidden)]


def saxe_half_time(s: float, u0: float, tau: float = 1.0) -> float:
    """Time at which a Saxe mode reaches half its target, u(t) = s/2.

    From :func:`saxe_mode_strength`: t½ = τ ln(s/u₀ − 1)/(2s), for
    0 < u₀ < s/2 (a mode that starts above s/2 has t½ ≤ 0).

    Parameters
    ----------
    s, u0, tau : float
        Singular value, initial strength and time constant (all > 0).

    Returns
    -------
    float
    """
    s = positive("s", s)
    u0 = positive("u0", u0)
    tau = positive("tau", tau)
    if not u0 < s:
        raise ParameterError(f"parameter 'u0' = {u0!r} must be below s = {s!r}")
    return tau * math.log(s / u0 - 1.0) / (2.0 * s)


def _orthonormal_columns(name: str, m) -> torch.Tensor:
    m = torch.as_tensor(m).to(torch.float64)
    if m.dim() != 2 or m.shape[1] == 0 or m.shape[1] > m.shape[0]:
        raise ParameterError(f"parameter '{name}' must be a (dim, K) matrix with 1 <= K <= dim, got {tuple(m.shape)}")
    eye = torch.eye(m.shape[1], dtype=torch.float64)
    if not torch.allclose(m.T @ m, eye, atol=1e-10):
        raise ParameterError(f"parameter '{name}' must have orthonormal columns")
    return m


def two_layer_modes_init(
    u: torch.Tensor, v: torch.Tensor, u0: float, hidden: int | None = None
) -> list[torch.Tensor]:
    """Balanced initialization of a two-layer linear net aligned with K modes.

    Parameters
    ----------
    u : torch.Tensor
        Output singular vectors, orthonormal columns, shape ``(d_out, K)``.
    v : torch.Tensor
        Input singular vectors, orthonormal columns, shape ``(d, K)``.
    u0 : float
        Initial strength of every mode (> 0).
    hidden : int, optional
        Hidden width (≥ K); default K.

    Returns
    -------
    list of torch.Tensor
        ``[W_1, W_2]`` with W_1 = √u₀ E Vᵀ and W_2 = √u₀ U Eᵀ, E the first K
        columns of the identity, so W_2 W_1 = u₀ U Vᵀ (float64).

    Notes
    -----
    For the target y = A x with A = U diag(s) Vᵀ and inputs with identity
    second moment, every mode evolves independently by Saxe's law: the
    argument of :func:`two_layer_aligned_init` applies to each hidden unit
    k, which sees only mode k. Mode k reaches half strength at
    :func:`saxe_half_time` (s_k, u₀): the modes escape one at a time.
    """
    u = _orthonormal_columns("u", u)
    v = _orthonormal_columns("v", v)
    K = u.shape[1]
    if v.shape[1] != K:
        raise ParameterError(f"parameters 'u' and 'v' must have the same number of columns, got {K} and {v.shape[1]}")
    u0 = positive("u0", u0)
    hidden = K if hidden is None else hidden
    if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < K:
        raise ParameterError(f"parameter 'hidden' must be an integer >= K = {K}, got {hidden!r}")
    e = torch.eye(hidden, K, dtype=torch.float64)
    root = math.sqrt(u0)
    return [root * e @ v.T, root * u @ e.T]


def mode_strengths(weights, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Mode strengths u_kᵀ (W_L ⋯ W_1) v_k of a deep linear network.

    Parameters
    ----------
    weights : sequence of torch.Tensor
        ``[W_1, …, W_L]``.
    u, v : torch.Tensor
        Output and input singular vectors of the target, shapes
        ``(d_out, K)`` and ``(d, K)``.

    Returns
    -------
    torch.Tensor
        Shape ``(K,)``, float64.
    """
    weights = [torch.as_tensor(w).to(torch.float64) for w in weights]
    if not weights:
        raise ParameterError("parameter 'weights' must hold at least one matrix")
    prod = weights[0]
    for w in weights[1:]:
        if w.dim() != 2 or w.shape[1] != prod.shape[0]:
            raise ParameterError("parameter 'weights' has inconsistent shapes")
        prod = w @ prod
    u = torch.as_tensor(u).to(torch.float64)
    v = torch.as_tensor(v).to(torch.float64)
    if u.shape[0] != prod.shape[0] or v.shape[0] != prod.shape[1] or u.shape[1] != v.shape[1]:
        raise ParameterError(f"parameters 'u' {tuple(u.shape)} and 'v' {tuple(v.shape)} "
                             f"do not fit the map {tuple(prod.shape)}")
    return torch.einsum("ik,ij,jk->k", u, prod, v)


def growing_mode_strength(weights0, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Effective initial strengths of a two-layer linear net from any small start.

    Parameters
    ----------
    weights0 : sequence of two torch.Tensor
        ``[W_1, W_2]`` at initialization.
    u, v : torch.Tensor
        Output and input singular vectors, shapes ``(d_out, K)``, ``(d, K)``.

    Returns
    -------
    torch.Tensor
        Shape ``(K,)``: ū_k = ¼‖W_1 v_k + W_2ᵀ u_k‖².

    Notes
    -----
    Near the origin, with identity input second moment, p_k = W_1 v_k and
    q_k = W_2ᵀ u_k obey ṗ_k = s_k q_k, q̇_k = s_k p_k (the quadratic terms
    are dropped), so p_k + q_k grows as e^{s_k t}, p_k − q_k decays, and the
    mode strength q_k · p_k → ū_k e^{2 s_k t}: the small-u phase of Saxe's
    law with u₀ = ū_k. Balanced aligned starts give ū_k = u₀ exactly.
    """
    weights0 = list(weights0)
    if len(weights0) != 2:
        raise ParameterError(f"parameter 'weights0' must hold two matrices [W_1, W_2], got {len(weights0)}")
    w1, w2 = (torch.as_tensor(w).to(torch.float64) for w in weights0)
    u = torch.as_tensor(u).to(torch.float64)
    v = torch.as_tensor(v).to(torch.float64)
    if w1.shape[1] != v.shape[0] or w2.shape[0] != u.shape[0] or w2.shape[1] != w1.shape[0]:
        raise ParameterError("parameters 'weights0', 'u', 'v' have inconsistent shapes")
    grow = w1 @ v + w2.T @ u
    return 0.25 * (grow * grow).sum(dim=0)
