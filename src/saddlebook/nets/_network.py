"""Bias-free deep networks ŷ = W_L σ(W_{L−1} σ(⋯ σ(W_1 x))).

Weights are a list ``[W_1, …, W_L]`` of 2-D tensors, ``W_ℓ`` of shape
``(n_ℓ, n_{ℓ−1})`` with ``n_0 = d``. Inputs are stored row-wise, ``x`` of
shape ``(n, d)``, so the pre-activations are ``z_1 = x W_1ᵀ`` and
``z_ℓ = σ(z_{ℓ−1}) W_ℓᵀ``; the last layer is linear and ``z_L`` is the output.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from .._validate import finite, integer
from ..errors import ParameterError
from ._activations import Activation, get_activation

__all__ = [
    "check_shapes",
    "preactivations",
    "forward",
    "widths_for",
    "init_gaussian",
]


def check_shapes(
    weights: Sequence[torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor | None = None,
) -> None:
    """Validate weights, inputs and (optionally) targets against each other.

    Parameters
    ----------
    weights : sequence of torch.Tensor
        ``[W_1, …, W_L]``, each 2-D, ``W_ℓ`` of shape ``(n_ℓ, n_{ℓ−1})``.
    x : torch.Tensor
        Inputs of shape ``(n, d)`` with ``d = n_0``.
    y : torch.Tensor, optional
        Targets: shape ``(n,)`` when ``n_L = 1``, else ``(n, n_L)``.

    Raises
    ------
    TypeError
        If an argument is not a tensor, or dtypes/devices disagree.
    saddlebook.errors.ParameterError
        (a ValueError) If a shape is inconsistent (the message names the
        offending parameter), or any value is non-finite.
    """
    _check_weights(weights)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"parameter 'x' must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 2:
        raise ParameterError(f"parameter 'x' must be 2-D of shape (n, d), got shape {tuple(x.shape)}")
    if x.shape[1] != weights[0].shape[1]:
        raise ParameterError(
            f"parameter 'x' must have one column per input of weights[0]: "
            f"x has {x.shape[1]} columns but weights[0] expects {weights[0].shape[1]}"
        )
    if x.dtype != weights[0].dtype or x.device != weights[0].device:
        raise TypeError(
            f"x has dtype {x.dtype} on {x.device} but weights have dtype "
            f"{weights[0].dtype} on {weights[0].device}; they must agree"
        )
    finite("x", x)
    if y is not None:
        _check_targets(weights, x, y)


def _check_weights(weights) -> None:
    if isinstance(weights, torch.Tensor) or not isinstance(weights, (list, tuple)):
        raise TypeError("parameter 'weights' must be a list of 2-D tensors [W_1, ..., W_L]")
    if len(weights) == 0:
        raise ParameterError("parameter 'weights' must contain at least one matrix (L >= 1), got an empty list")
    for k, w in enumerate(weights):
        if not isinstance(w, torch.Tensor):
            raise TypeError(f"weights[{k}] must be a torch.Tensor, got {type(w).__name__}")
        if w.dim() != 2:
            raise ParameterError(f"parameter 'weights' must hold 2-D matrices: weights[{k}] has shape {tuple(w.shape)}")
        if k > 0 and w.shape[1] != weights[k - 1].shape[0]:
            raise ParameterError(
                f"parameter 'weights' must chain (columns of each = rows of the previous): "
                f"weights[{k}] has shape {tuple(w.shape)} but weights[{k - 1}] has {weights[k - 1].shape[0]} rows"
            )
        if w.dtype != weights[0].dtype or w.device != weights[0].device:
            raise TypeError(
                f"weights[{k}] has dtype {w.dtype} on {w.device} but weights[0] has "
                f"dtype {weights[0].dtype} on {weights[0].device}; all must agree"
            )
        finite(f"weights[{k}]", w)


def _check_targets(weights, x: torch.Tensor, y) -> None:
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"parameter 'y' must be a torch.Tensor, got {type(y).__name__}")
    n, n_out = x.shape[0], weights[-1].shape[0]
    if n_out == 1:
        if y.dim() != 1:
            raise ParameterError(
                f"parameter 'y' must be 1-D of shape ({n},) for scalar output, got shape {tuple(y.shape)}"
            )
        if y.shape[0] != n:
            raise ParameterError(f"parameter 'y' must have one entry per row of x: y has {y.shape[0]} entries "
                                 f"but x has {n} rows")
    elif tuple(y.shape) != (n, n_out):
        raise ParameterError(
            f"parameter 'y' has shape {tuple(y.shape)} but must be ({n}, {n_out}) "
            f"(x has {n} rows, weights[-1] has {n_out} rows)"
        )
    if y.dtype != x.dtype or y.device != x.device:
        raise TypeError(f"y has dtype {y.dtype} on {y.device} but x has dtype {x.dtype} on {x.device}")
    finite("y", y)


def preactivations_unchecked(weights: Sequence[torch.Tensor], x: torch.Tensor, fn: Activation) -> list[torch.Tensor]:
    # Unchecked core, used inside integrators where inputs were validated once.
    zs = [x @ weights[0].T]
    for w in weights[1:]:
        zs.append(fn(zs[-1]) @ w.T)
    return zs


def network_output(zs: list[torch.Tensor]) -> torch.Tensor:
    z = zs[-1]
    return z[:, 0] if z.shape[1] == 1 else z


def preactivations(
    weights: Sequence[torch.Tensor],
    x: torch.Tensor,
    sigma: str | Activation,
) -> list[torch.Tensor]:
    """Pre-activations of every layer.

    Parameters
    ----------
    weights : sequence of torch.Tensor
        ``[W_1, …, W_L]``.
    x : torch.Tensor
        Inputs, shape ``(n, d)``.
    sigma : str or callable
        Activation (registry name or torch callable).

    Returns
    -------
    list of torch.Tensor
        ``[z_1, …, z_L]`` with ``z_ℓ`` of shape ``(n, n_ℓ)``; ``z_1 = x W_1ᵀ``,
        ``z_ℓ = σ(z_{ℓ−1}) W_ℓᵀ``. ``z_L`` is the (linear) network output.
        The tensors stay in the autograd graph of ``weights`` and ``x``.
    """
    _, fn = get_activation(sigma)
    check_shapes(weights, x)
    return preactivations_unchecked(weights, x, fn)


def forward(
    weights: Sequence[torch.Tensor],
    x: torch.Tensor,
    sigma: str | Activation,
) -> torch.Tensor:
    """Network output ŷ.

    Parameters
    ----------
    weights : sequence of torch.Tensor
        ``[W_1, …, W_L]``.
    x : torch.Tensor
        Inputs, shape ``(n, d)``.
    sigma : str or callable
        Activation (registry name or torch callable).

    Returns
    -------
    torch.Tensor
        Shape ``(n,)`` when ``n_L = 1``, else ``(n, n_L)``.
    """
    return network_output(preactivations(weights, x, sigma))


def widths_for(d: int, hidden: int, L: int) -> list[int]:
    """Layer widths ``[d, hidden, …, hidden, 1]`` of an L-layer scalar network.

    Parameters
    ----------
    d : int
        Input dimension (≥ 1).
    hidden : int
        Width of every hidden layer (≥ 1).
    L : int
        Number of weight matrices (≥ 1); ``L = 1`` gives ``[d, 1]``.

    Returns
    -------
    list of int
        Length ``L + 1``.
    """
    for name, v in (("d", d), ("hidden", hidden), ("L", L)):
        integer(name, v, 1)
    return [d] + [hidden] * (L - 1) + [1]


def init_gaussian(
    widths: Sequence[int],
    scale: float | Sequence[float] = 1.0,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> list[torch.Tensor]:
    """Fan-in normalized Gaussian weights, optionally rescaled per layer.

    Parameters
    ----------
    widths : sequence of int
        ``[n_0, n_1, …, n_L]`` (length ≥ 2, all ≥ 1).
    scale : float or sequence of float, default 1.0
        Multiplier of every layer, or one multiplier per layer (length L).
        Small initialization at scale ε is ``scale=eps``; a bottleneck of
        some layers is a list such as ``[1, eps, eps, 1]``. Must be > 0.
    seed : int, default 0
        Seed of the private ``torch.Generator`` (global RNG untouched).
    dtype : torch.dtype, default torch.float64
    device : torch.device or str, optional
        Samples are drawn on the CPU and moved, so numbers do not depend on
        the device.

    Returns
    -------
    list of torch.Tensor
        ``W_ℓ`` of shape ``(n_ℓ, n_{ℓ−1})`` with i.i.d. entries
        ``N(0, scale_ℓ² / n_{ℓ−1})``.
    """
    widths = list(widths)
    if len(widths) < 2 or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths):
        raise ParameterError(f"parameter 'widths' must be a list of >= 2 integers >= 1, got {widths!r}")
    L = len(widths) - 1
    if isinstance(scale, (int, float)) and not isinstance(scale, bool):
        scales = [float(scale)] * L
    else:
        scales = [float(s) for s in scale]
        if len(scales) != L:
            raise ParameterError(f"parameter 'scale' must be a float or a list of {L} floats "
                                 f"(one per layer), got {len(scales)}")
    if any(not (math.isfinite(s) and s > 0) for s in scales):
        raise ParameterError(f"parameter 'scale' must be finite and > 0, got {scale!r}")
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    weights = []
    for k in range(L):
        fan_in, fan_out = widths[k], widths[k + 1]
        w = torch.randn(fan_out, fan_in, generator=gen, dtype=torch.float64)
        w = w * (scales[k] / math.sqrt(fan_in))
        weights.append(w.to(dtype=dtype, device=device))
    return weights
