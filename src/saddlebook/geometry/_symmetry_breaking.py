"""Distance to the permutation-symmetric manifold and perturbations off it.

:mod:`saddlebook.geometry` defines the invariant set 𝓜 and its orthogonal
projection Π (the group average). Invariance says a flow started on 𝓜
stays there; it says nothing about flows started *near* 𝓜. This module
provides the absolute and per-layer distances to 𝓜 and a controlled
perturbation off it, so that chapter 6 can measure whether the distance
decays (𝓜 attracting) or grows.

Perturbations are relative *per layer*: layer ℓ receives δ‖W_ℓ‖_F times a
unit-norm direction orthogonal to 𝓜. A perturbation relative to the norm of
all layers together would be dominated by the order-one layers and would
swamp a bottleneck layer at scale ε.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from ..errors import ParameterError
from ._manifold import project

__all__ = ["off_manifold", "distance", "layer_distances", "perturb"]


def off_manifold(weights: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The component ``W − ΠW`` of every layer orthogonal to the manifold.

    Parameters
    ----------
    weights : sequence of torch.Tensor
        ``[W_1, …, W_L]``, 2-D or batched 3-D (scalar output).

    Returns
    -------
    list of torch.Tensor
    """
    proj = project(weights)
    return [w - p for w, p in zip(weights, proj)]


def layer_distances(weights: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per-layer distance ``‖W_ℓ − ΠW_ℓ‖_F`` to the manifold.

    Parameters
    ----------
    weights : sequence of torch.Tensor
        2-D or batched 3-D weights.

    Returns
    -------
    torch.Tensor
        Shape ``(L,)`` or ``(B, L)``.
    """
    return torch.stack([torch.linalg.matrix_norm(d) for d in off_manifold(weights)], dim=-1)


def distance(weights: Sequence[torch.Tensor]) -> torch.Tensor:
    """Absolute distance ``‖W − ΠW‖`` to the manifold over all layers.

    :func:`saddlebook.geometry.deviation` is this divided by ``‖W‖``.

    Parameters
    ----------
    weights : sequence of torch.Tensor
        2-D or batched 3-D weights.

    Returns
    -------
    torch.Tensor
        0-d or shape ``(B,)``.
    """
    return torch.sqrt((layer_distances(weights) ** 2).sum(dim=-1))


def perturb(weights: Sequence[torch.Tensor], delta: float, seed: int = 0) -> list[torch.Tensor]:
    """Move every layer off the manifold by δ times its own norm.

    Parameters
    ----------
    weights : sequence of torch.Tensor
        ``[W_1, …, W_L]`` (2-D, one network).
    delta : float
        Relative size δ ≥ 0 of the perturbation of each layer.
    seed : int, default 0
        Seed of a private generator (the global RNG is untouched).

    Returns
    -------
    list of torch.Tensor
        ``W_ℓ + δ‖W_ℓ‖_F U_ℓ`` with ``U_ℓ`` a Gaussian matrix with its
        projection onto the manifold removed, normalized to ``‖U_ℓ‖_F = 1``.
        For weights on the manifold, ``layer_distances`` of the result is
        ``δ‖W_ℓ‖_F`` exactly (up to round-off) and the projection is
        unchanged.

    Raises
    ------
    ParameterError
        ``delta`` negative or not finite, ``seed`` not an integer, or a layer
        with no direction off the manifold (a 1 × 1 matrix).
    """
    weights = list(weights)
    if any(w.dim() != 2 for w in weights):
        raise ParameterError("perturb takes one network: parameter 'weights' must be all 2-D")
    if isinstance(delta, bool) or not isinstance(delta, (int, float)) or not math.isfinite(delta) or delta < 0:
        raise ParameterError(f"parameter 'delta' = {delta!r} must be a finite number >= 0")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ParameterError(f"parameter 'seed' = {seed!r} must be an integer")
    gen = torch.Generator().manual_seed(int(seed))
    noise = [torch.randn(w.shape, generator=gen, dtype=torch.float64) for w in weights]
    out = []
    for w, u in zip(weights, off_manifold(noise)):
        norm = float(torch.linalg.matrix_norm(u))
        if norm == 0.0:
            raise ParameterError(f"a layer of shape {tuple(w.shape)} has no direction off the manifold")
        out.append(w + (delta * float(torch.linalg.matrix_norm(w.double())) / norm) * u.to(w.dtype))
    return out
