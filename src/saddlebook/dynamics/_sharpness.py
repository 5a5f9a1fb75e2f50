"""The stiffness that bounds a stable gradient-descent step: the loss Hessian's top eigenvalue.

Gradient descent θ ← θ − η ∇𝓛 near a point where the Hessian H has largest
eigenvalue λ (the *sharpness*) multiplies the error along that eigenvector by
1 − ηλ per step, so it is stable there only for η < 2/λ. On the plateau of a
small initialization H is nearly zero (every second derivative carries a
product of small layers); it grows to Θ(1) as the bottleneck reaches the
scale of the other layers, so the largest stable step is set by the Θ(1)
network at and after the escape.

:func:`sharpness` computes λ for every run of any problem of the problem
protocol (``evaluate(params) -> (loss, observable, grads)``, see
:mod:`saddlebook.dynamics._problem`) from central differences of its
gradient: the dense Hessian, symmetrised, then its eigenvalues. It needs
2P gradient evaluations of the batch for P parameters per run, which is
cheap for the small networks of the book (P up to a few thousand).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .. import _validate as V
from ..errors import ParameterError

__all__ = ["hessian", "sharpness", "MAX_SHARPNESS_PARAMETERS"]

MAX_SHARPNESS_PARAMETERS = 4096
"""Most parameters per run :func:`sharpness` accepts (its cost and memory grow like P²)."""


def _flat(params: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([p.reshape(p.shape[0], -1) for p in params], dim=1)


def _unflat(flat: torch.Tensor, like: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    out, k = [], 0
    for p in like:
        n = p[0].numel()
        out.append(flat[:, k:k + n].reshape(p.shape))
        k += n
    return out


def hessian(problem, params: Sequence[torch.Tensor], step: float = 1e-5) -> np.ndarray:
    """Loss Hessian of every run by central differences of the problem's gradient.

    Parameters
    ----------
    problem : object
        A problem of the protocol (``NetworkBatch``, ``ReducedChain``,
        ``AutogradProblem``, ...).
    params : list of torch.Tensor
        Batched parameters, each ``(B, ...)`` (float64 recommended: the
        differences lose about half the digits).
    step : float, default 1e-5
        Relative step: coordinate j moves by ``step * max(1, |θ_j|)``.

    Returns
    -------
    numpy.ndarray
        Shape ``(B, P, P)``, symmetrised, coordinates in the order of
        ``params`` (each tensor flattened per run).

    Raises
    ------
    saddlebook.errors.ParameterError
        A problem without ``evaluate``, parameters that are not batched
        tensors with one run dimension, more than
        :data:`MAX_SHARPNESS_PARAMETERS` per run, or a non-positive step.
    """
    if not callable(getattr(problem, "evaluate", None)):
        raise ParameterError("parameter 'problem' must have an evaluate(params) method (the problem protocol)")
    if not (isinstance(params, (list, tuple)) and params and all(isinstance(p, torch.Tensor) and p.dim() >= 1
                                                                  for p in params)):
        raise ParameterError("parameter 'params' must be a non-empty list of batched tensors (B, ...)")
    B = params[0].shape[0]
    if B < 1 or any(p.shape[0] != B for p in params):
        raise ParameterError("parameter 'params' must share a first (run) dimension B >= 1")
    step = V.positive("step", step)
    theta = _flat([p.detach() for p in params])
    P = theta.shape[1]
    if P > MAX_SHARPNESS_PARAMETERS:
        raise ParameterError(f"parameter 'params' has {P} coordinates per run; at most {MAX_SHARPNESS_PARAMETERS}")
    H = np.empty((B, P, P))
    with torch.no_grad():
        for j in range(P):
            h = step * torch.clamp(theta[:, j].abs(), min=1.0)
            up, down = theta.clone(), theta.clone()
            up[:, j] += h
            down[:, j] -= h
            g_up = _flat(problem.evaluate(_unflat(up, params))[2])
            g_down = _flat(problem.evaluate(_unflat(down, params))[2])
            H[:, :, j] = ((g_up - g_down) / (2 * h[:, None])).double().numpy()
    return 0.5 * (H + H.transpose(0, 2, 1))


def sharpness(problem, params: Sequence[torch.Tensor], step: float = 1e-5) -> np.ndarray:
    """Largest eigenvalue λ of the loss Hessian of every run: GD is stable near θ only for η < 2/λ.

    Parameters
    ----------
    problem, params, step
        As in :func:`hessian`.

    Returns
    -------
    numpy.ndarray
        λ of each run, shape ``(B,)`` (can be negative at a saddle whose
        Hessian has no positive direction).

    Raises
    ------
    saddlebook.errors.ParameterError
        As :func:`hessian`.
    """
    return np.linalg.eigvalsh(hessian(problem, params, step))[:, -1]
