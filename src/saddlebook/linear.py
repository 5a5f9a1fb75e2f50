"""Closed forms for deep linear networks (external results, class A).

Saxe, McClelland & Ganguli (2014, arXiv:1312.6120): with whitened inputs and
a balanced small initialization, each singular mode of a two-layer linear
network follows the logistic law u̇ = 2u(s − u)/τ.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["saxe_mode_strength", "two_layer_aligned_init"]


def _positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"parameter '{name}' must be a positive real number, got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"parameter '{name}' must be finite and > 0, got {value!r}")
    return value


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
    s = _positive("s", s)
    u0 = _positive("u0", u0)
    tau = _positive("tau", tau)
    t = np.asarray(t, dtype=np.float64)
    if not np.all(np.isfinite(t)):
        raise ValueError("parameter 't' must contain only finite times")
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
        raise ValueError(f"parameter 'v' must be a non-empty 1-D tensor, got shape {tuple(v.shape)}")
    if dtype is None:
        dtype = v.dtype if v.is_floating_point() else torch.float64
    v = v.to(dtype)
    norm = float(torch.linalg.vector_norm(v.to(torch.float64)))
    if not math.isfinite(norm) or abs(norm - 1.0) > 1e-10:
        raise ValueError(f"parameter 'v' must have unit norm, got |v| = {norm:.6g}")
    u0 = _positive("u0", u0)
    if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
        raise ValueError(f"parameter 'hidden' must be an integer >= 1, got {hidden!r}")
    e = torch.zeros(hidden, dtype=dtype, device=v.device)
    e[0] = 1.0
    root = math.sqrt(u0)
    return [root * torch.outer(e, v), root * e.reshape(1, hidden)]
