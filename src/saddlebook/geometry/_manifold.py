"""The permutation-symmetric invariant set and its reduced coordinates.

Permuting the units of any hidden layer (rows of ``W_ℓ`` together with the
columns of ``W_{ℓ+1}``) leaves the loss unchanged. The set fixed by *all*
these permutations,

- ``W_1 = 1 aᵀ`` (identical rows),
- ``W_ℓ = c_ℓ 11ᵀ`` (constant) for 1 < ℓ < L,
- ``W_L = c_L 1ᵀ`` (constant row),

is therefore invariant under gradient flow: the gradient is equivariant, so
at a fixed point it is fixed too, i.e. tangent to the set. The orthogonal
projection onto this linear subspace is the group average (row mean for
``W_1``, full mean for the middle layers, mean for ``W_L``).

"Every W_ℓ has identical rows" alone is *not* invariant: with
``W_ℓ = 1 bᵀ`` for an arbitrary b, back-propagation multiplies the error
signal of unit i by b_i, so the rows of the next gradient differ.
:func:`row_deviation` measures the distance to that larger set.

Reduced coordinates (an isometry onto the manifold, so gradient flow of the
full network on the manifold *is* gradient flow in these coordinates):
``W_1 = 1 wᵀ/√n_1``, ``W_ℓ = y_ℓ 11ᵀ/√(n_ℓ n_{ℓ−1})``, ``W_L = y_L 1ᵀ/√n_{L−1}``,
with ``‖W_1‖_F = ‖w‖`` and ``‖W_ℓ‖_F = |y_ℓ|``. All functions accept
unbatched (2-D) or batched (3-D, leading run index) weights.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from ..errors import ParameterError

__all__ = ["project", "deviation", "row_deviation", "to_reduced", "from_reduced", "reduced_distance"]


def _check(weights) -> list[torch.Tensor]:
    if isinstance(weights, torch.Tensor) or not isinstance(weights, (list, tuple)) or len(weights) < 2:
        raise ParameterError("parameter 'weights' must be a list of at least 2 weight matrices")
    dims = {w.dim() for w in weights}
    if dims not in ({2}, {3}):
        raise ParameterError("parameter 'weights' must be all 2-D (one network) or all 3-D (a batch)")
    if weights[-1].shape[-2] != 1:
        raise ParameterError("parameter 'weights': the last layer must have one row (scalar output)")
    return list(weights)


def project(weights: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Orthogonal projection onto the permutation-symmetric invariant set.

    Parameters
    ----------
    weights : sequence of torch.Tensor
        ``[W_1, …, W_L]``, 2-D or batched 3-D.

    Returns
    -------
    list of torch.Tensor
        Row-averaged ``W_1``, entry-averaged middle layers, averaged ``W_L``.
    """
    weights = _check(weights)
    out = [weights[0].mean(dim=-2, keepdim=True).expand_as(weights[0])]
    for w in weights[1:]:
        out.append(w.mean(dim=(-2, -1), keepdim=True).expand_as(w))
    return out


def _relative(weights, proj) -> torch.Tensor:
    num = sum(((w - p) ** 2).sum(dim=(-2, -1)) for w, p in zip(weights, proj))
    den = sum((w**2).sum(dim=(-2, -1)) for w in weights)
    return torch.sqrt(num / den)


def deviation(weights: Sequence[torch.Tensor]) -> torch.Tensor:
    """Relative distance to the invariant set, ``‖W − ΠW‖ / ‖W‖``.

    Parameters
    ----------
    weights : sequence of torch.Tensor
        ``[W_1, …, W_L]``, 2-D or batched 3-D.

    Returns
    -------
    torch.Tensor
        0-d (or shape ``(B,)``): the Frobenius norm over all layers of
        ``W − ΠW`` divided by that of ``W``. Exactly 0 on the manifold up to
        round-off.
    """
    weights = _check(weights)
    return _relative(weights, project(weights))


def row_deviation(weights: Sequence[torch.Tensor]) -> torch.Tensor:
    """Relative distance to the set "every layer has identical rows".

    Parameters
    ----------
    weights : sequence of torch.Tensor
        ``[W_1, …, W_L]``, 2-D or batched 3-D.

    Returns
    -------
    torch.Tensor
        As :func:`deviation`, with each ``W_ℓ`` replaced by its row mean
        (``W_L`` has one row and never contributes).
    """
    weights = _check(weights)
    proj = [w.mean(dim=-2, keepdim=True).expand_as(w) for w in weights]
    return _relative(weights, proj)


def to_reduced(weights: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Reduced coordinates ``(w, y)`` of (the projection of) ``weights``.

    Parameters
    ----------
    weights : sequence of torch.Tensor
        ``[W_1, …, W_L]``, 2-D or batched 3-D.

    Returns
    -------
    w : torch.Tensor
        Shape ``(d,)`` or ``(B, d)``: ``√n_1`` times the mean row of ``W_1``.
    y : torch.Tensor
        Shape ``(L−1,)`` or ``(B, L−1)``: ``y_ℓ = √(n_ℓ n_{ℓ−1})`` times the
        mean entry of ``W_ℓ`` for ℓ = 2, …, L (``n_L = 1``).
    """
    weights = _check(weights)
    w = weights[0].mean(dim=-2) * math.sqrt(weights[0].shape[-2])
    ys = [m.mean(dim=(-2, -1)) * math.sqrt(m.shape[-2] * m.shape[-1]) for m in weights[1:]]
    return w, torch.stack(ys, dim=-1)


def from_reduced(w: torch.Tensor, y: torch.Tensor, widths: Sequence[int]) -> list[torch.Tensor]:
    """Full weights on the manifold from reduced coordinates.

    Parameters
    ----------
    w : torch.Tensor
        Shape ``(d,)`` or ``(B, d)``.
    y : torch.Tensor
        Shape ``(L−1,)`` or ``(B, L−1)``.
    widths : sequence of int
        ``[d, n_1, …, n_{L−1}, 1]``.

    Returns
    -------
    list of torch.Tensor
        ``[W_1, …, W_L]`` (batched if ``w`` is 2-D); inverse of
        :func:`to_reduced` on the manifold.
    """
    widths = list(widths)
    L = len(widths) - 1
    if w.shape[-1] != widths[0] or y.shape[-1] != L - 1 or widths[-1] != 1:
        raise ParameterError(
            f"parameters 'w' (last dim {w.shape[-1]}) and 'y' (last dim {y.shape[-1]}) do not fit 'widths' "
            f"{widths}: need w last dim = widths[0], y last dim = len(widths) - 2 and widths[-1] = 1"
        )
    lead = w.shape[:-1]
    out = [(w / math.sqrt(widths[1])).unsqueeze(-2).expand(*lead, widths[1], widths[0]).clone()]
    for k in range(1, L):
        n_out, n_in = widths[k + 1], widths[k]
        c = (y[..., k - 1] / math.sqrt(n_out * n_in)).reshape(*lead, 1, 1)
        out.append(c.expand(*lead, n_out, n_in).clone())
    return out


def reduced_distance(weights: Sequence[torch.Tensor], w: torch.Tensor, y: torch.Tensor,
                     direction: torch.Tensor | None = None) -> torch.Tensor:
    """Relative distance between the reduced coordinates of ``weights`` and a reduced state.

    Parameters
    ----------
    weights : sequence of torch.Tensor
        ``[W_1, …, W_L]`` of a network (2-D) or a batch (3-D).
    w : torch.Tensor
        Reduced first-layer row, shape ``(d,)`` / ``(B, d)``; with
        ``direction``, its one coordinate along it, shape ``(1,)`` / ``(B, 1)``.
    y : torch.Tensor
        y_2, …, y_L, shape ``(L−1,)`` / ``(B, L−1)``.
    direction : torch.Tensor, optional
        Unit vector û of shape ``(d,)``: compare with the chain whose first-layer
        row is ``w û`` (the L-dimensional population chain).

    Returns
    -------
    torch.Tensor
        ‖(w_W − w, y_W − y)‖ / ‖(w, y)‖ with ``(w_W, y_W) =``
        :func:`to_reduced` ``(weights)``, 0-d or ``(B,)``. The map is an
        isometry onto the manifold, so this is also the relative Frobenius
        distance between the projection of ``weights`` onto the manifold and
        the full weights of the reduced state; the distance of ``weights`` to
        the manifold is not included (:func:`deviation` measures it).
    """
    wf, yf = to_reduced(weights)
    if direction is not None:
        u = torch.as_tensor(direction, dtype=wf.dtype)
        if u.shape != wf.shape[-1:] or abs(float(u.norm()) - 1.0) > 1e-12:
            raise ParameterError(f"parameter 'direction' must be a unit vector of shape ({wf.shape[-1]},)")
        if w.shape[-1] != 1:
            raise ParameterError("parameter 'w' must have last dimension 1 when a 'direction' is given")
        w = w * u
    if w.shape != wf.shape or y.shape != yf.shape:
        raise ParameterError(f"parameters 'w' {tuple(w.shape)} and 'y' {tuple(y.shape)} do not match the "
                             f"reduced coordinates of 'weights', {tuple(wf.shape)} and {tuple(yf.shape)}")
    num = ((wf - w) ** 2).sum(dim=-1) + ((yf - y) ** 2).sum(dim=-1)
    den = (w**2).sum(dim=-1) + (y**2).sum(dim=-1)
    return torch.sqrt(num / den)
