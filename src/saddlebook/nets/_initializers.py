"""Initializations for escape experiments: symmetric manifold, small, He-normal.

Three families, all for the bias-free networks of :mod:`saddlebook.nets`
with widths ``[d, N, …, N, 1]``; "layer scale" always means the Frobenius
norm ``‖W_ℓ‖_F`` on the symmetric manifold and the per-layer multiplier of a
Gaussian draw otherwise.

- :func:`symmetric_weights`: a point of the permutation-symmetric invariant
  set (see :mod:`saddlebook.geometry`) with chosen layer scales.
- :func:`he_weights`: He-normal entries N(0, 2/fan_in), with the chosen
  *bottleneck* layers multiplied by ε. :func:`small_weights` rescales all
  layers (every layer a bottleneck).
- :func:`bottleneck_layers`: the default choice of the r bottleneck layers.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from ..errors import ParameterError

__all__ = ["INITIALIZATIONS", "bottleneck_layers", "layer_scales", "symmetric_weights", "he_weights", "small_weights"]

INITIALIZATIONS: tuple[str, ...] = ("symmetric", "small", "he")
"""Names accepted by :func:`saddlebook.dynamics.escape_time` for ``init``."""


def _widths(widths: Sequence[int]) -> list[int]:
    widths = list(widths)
    if len(widths) < 3 or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths):
        raise ParameterError(f"parameter 'widths' must list >= 3 integers >= 1 ([d, N, ..., 1]), got {widths!r}")
    if widths[-1] != 1:
        raise ParameterError(f"parameter 'widths' must end in 1 (scalar output), got {widths!r}")
    return widths


def bottleneck_layers(depth: int, r: int) -> list[int]:
    """Default bottleneck: the first ``r`` layers, 1-based ``[1, …, r]``.

    Parameters
    ----------
    depth : int
        Number of weight matrices L (≥ 2).
    r : int
        Number of layers started at scale ε, ``1 ≤ r ≤ L``.

    Returns
    -------
    list of int
        1-based layer indices. Which r layers are small changes the prefactor
        of the escape time, not its exponent (NOTES §6).
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 2:
        raise ParameterError(f"parameter 'depth' = {depth!r} must be an integer >= 2")
    if isinstance(r, bool) or not isinstance(r, int) or not 1 <= r <= depth:
        raise ParameterError(f"parameter 'r' = {r!r} must be an integer in [1, depth={depth}]")
    return list(range(1, r + 1))


def layer_scales(depth: int, eps: float, bottleneck: Sequence[int], scale: float = 1.0) -> list[float]:
    """Per-layer scales: ``eps`` on the bottleneck layers, ``scale`` elsewhere.

    Parameters
    ----------
    depth : int
        L.
    eps : float
        Bottleneck scale ε > 0.
    bottleneck : sequence of int
        Distinct 1-based layer indices in ``[1, L]``.
    scale : float, default 1.0
        Scale of the other layers (> 0).

    Returns
    -------
    list of float
        Length L.
    """
    if not (isinstance(eps, (int, float)) and not isinstance(eps, bool) and math.isfinite(eps) and eps > 0):
        raise ParameterError(f"parameter 'eps' = {eps!r} must be a finite real number > 0")
    if not (isinstance(scale, (int, float)) and not isinstance(scale, bool) and math.isfinite(scale) and scale > 0):
        raise ParameterError(f"parameter 'scale' = {scale!r} must be a finite real number > 0")
    layers = list(bottleneck)
    if not layers or len(set(layers)) != len(layers) or any(
        isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= depth for k in layers
    ):
        raise ParameterError(
            f"parameter 'bottleneck' = {bottleneck!r} must list distinct layer indices in [1, {depth}]"
        )
    return [float(eps) if k + 1 in layers else float(scale) for k in range(depth)]


def symmetric_weights(
    widths: Sequence[int],
    scales: Sequence[float],
    direction: torch.Tensor | None = None,
    dtype: torch.dtype = torch.float64,
) -> list[torch.Tensor]:
    """A point of the permutation-symmetric manifold with given layer norms.

    Parameters
    ----------
    widths : sequence of int
        ``[d, n_1, …, n_{L−1}, 1]``.
    scales : sequence of float
        ``‖W_ℓ‖_F`` for ℓ = 1, …, L (any real numbers; a negative value flips
        the sign of that layer).
    direction : torch.Tensor, optional
        Shared first-layer row direction, shape ``(d,)``, normalized here;
        default the first basis vector.
    dtype : torch.dtype, default torch.float64

    Returns
    -------
    list of torch.Tensor
        ``W_1 = s_1 1 âᵀ/√n_1`` (identical rows), ``W_ℓ = s_ℓ 11ᵀ/√(n_ℓ n_{ℓ−1})``
        (constant) for 1 < ℓ < L, ``W_L = s_L 1ᵀ/√n_{L−1}``; so
        ``‖W_ℓ‖_F = |s_ℓ|``.
    """
    widths = _widths(widths)
    L = len(widths) - 1
    scales = [float(s) for s in scales]
    if len(scales) != L or not all(math.isfinite(s) for s in scales):
        raise ParameterError(f"parameter 'scales' must hold {L} finite numbers, got {scales!r}")
    d = widths[0]
    if direction is None:
        a = torch.zeros(d, dtype=torch.float64)
        a[0] = 1.0
    else:
        a = torch.as_tensor(direction, dtype=torch.float64).reshape(-1)
        if a.numel() != d or not bool(torch.isfinite(a).all()) or float(a.norm()) == 0:
            raise ParameterError(f"parameter 'direction' must be a finite non-zero vector of length {d}")
        a = a / a.norm()
    weights = [scales[0] / math.sqrt(widths[1]) * torch.ones(widths[1], 1, dtype=torch.float64) * a]
    for k in range(1, L):
        n_out, n_in = widths[k + 1], widths[k]
        weights.append(torch.full((n_out, n_in), scales[k] / math.sqrt(n_out * n_in), dtype=torch.float64))
    return [w.to(dtype) for w in weights]


def he_weights(
    widths: Sequence[int],
    eps: float,
    bottleneck: Sequence[int],
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> list[torch.Tensor]:
    """He-normal weights with the bottleneck layers rescaled by ε.

    Parameters
    ----------
    widths : sequence of int
        ``[d, n_1, …, n_{L−1}, 1]``.
    eps : float
        Multiplier ε > 0 of the bottleneck layers.
    bottleneck : sequence of int
        Distinct 1-based layer indices in ``[1, L]``.
    seed : int, default 0
        Seed of a private generator (the global RNG is untouched). For a
        given seed the draw does not depend on ``eps``: changing ε only
        rescales the bottleneck layers.
    dtype : torch.dtype, default torch.float64

    Returns
    -------
    list of torch.Tensor
        Entries of ``W_ℓ`` are N(0, 2/n_{ℓ−1}), times ε on bottleneck layers.
    """
    widths = _widths(widths)
    L = len(widths) - 1
    scales = layer_scales(L, eps, bottleneck)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ParameterError(f"parameter 'seed' = {seed!r} must be an integer")
    gen = torch.Generator().manual_seed(int(seed))
    out = []
    for k in range(L):
        w = torch.randn(widths[k + 1], widths[k], generator=gen, dtype=torch.float64)
        out.append((w * (scales[k] * math.sqrt(2.0 / widths[k]))).to(dtype))
    return out


def small_weights(
    widths: Sequence[int], eps: float, seed: int = 0, dtype: torch.dtype = torch.float64
) -> list[torch.Tensor]:
    """He-normal weights with every layer rescaled by ε (``he_weights`` with r = L)."""
    widths = _widths(widths)
    return he_weights(widths, eps, list(range(1, len(widths))), seed=seed, dtype=dtype)
