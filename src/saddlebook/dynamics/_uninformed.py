"""Escape from starts that know nothing of the data moment: He-normal, bottleneck in the middle.

The chapter on the data's role (chapter 7) tests τ ∝ 1/Γ from full networks
whose first and last layers are He-normal and O(1) and whose middle layers
2, …, r+1 form the bottleneck (He-normal × ε). Nothing in such a start points
along m = E[y x].

Leading order (*derived here*). With the middle layers small, every σ after
a bottleneck layer is linear to leading order, σ(z) = αz + O(z³), so

    𝓛 = ½E[y²] − α^r · W_L W_{r+1} ⋯ W_2 · c + O(ε^{2r}) + O(ε^{r+2}),
    c = E[y σ(W_1 x)]  (a vector in the first hidden layer).

(c is :func:`saddlebook.data.sample_moment` of the hidden features, so the
falsification run's moment switches act on it as on E[y x].)

The bottleneck chain is a deep *linear* network whose only input is the
vector c, and its flow is Ẇ_ℓ = ‖c‖ · F_ℓ(W; ĉ): the size of c rescales time,
so τ = T(ĉ)/Γ₁ with Γ₁ = ‖c‖ (:func:`first_layer_moment`). T depends on the
random draw, and on ĉ only through W_2 ĉ, whose distribution over He-normal
draws is the same for every unit ĉ. Linearising σ in the first layer too,
c ≈ D W_1 m with D = diag(E[σ'(w_i·x)]); for isotropic He-normal rows
E‖W_1 m‖² = (2N/d)‖m‖², so over draws Γ₁ ∝ Γ = ‖m‖ (:func:`linear_first_layer_moment`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..book import parameters as P
from ..data._synthetic import sample_moment
from ..nets._activations import derivative, get_activation
from ..nets._initializers import he_weights
from ._escape import SweepConfig, sweep

__all__ = ["first_layer_moment", "linear_first_layer_moment", "middle_bottleneck", "he_escapes", "he_escape_grid"]


def middle_bottleneck(depth: int) -> list[int]:
    """Bottleneck layers 2, …, L−1 (1-based): first and last layer stay O(1).

    Parameters
    ----------
    depth : int
        Number of weight matrices L (≥ 3).

    Returns
    -------
    list of int
        ``[2, …, L-1]``, so r = L − 2.
    """
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 3:
        raise P.ParameterError(f"parameter 'depth' = {depth!r} must be an integer >= 3 (first and last layer O(1))")
    return list(range(2, int(depth)))


def _check_xy(x, y):
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise P.ParameterError("parameter 'x' must be a 2-D tensor of shape (n, d)")
    if not isinstance(y, torch.Tensor) or tuple(y.shape) != (x.shape[0],):
        raise P.ParameterError(f"parameter 'y' must be a 1-D tensor of shape ({x.shape[0]},)")


def first_layer_moment(x: torch.Tensor, y: torch.Tensor, w1: torch.Tensor, activation="tanh") -> torch.Tensor:
    """c = n⁻¹ Σ_i y_i σ(W_1 x_i): the moment the bottleneck sees.

    Parameters
    ----------
    x : torch.Tensor
        Inputs, shape ``(n, d)``.
    y : torch.Tensor
        Targets, shape ``(n,)``.
    w1 : torch.Tensor
        First-layer weights, shape ``(N, d)``.
    activation : str or callable, default "tanh"

    Returns
    -------
    torch.Tensor
        Shape ``(N,)``, float64. Its norm is Γ₁.
    """
    _check_xy(x, y)
    if not isinstance(w1, torch.Tensor) or w1.dim() != 2 or w1.shape[1] != x.shape[1]:
        raise P.ParameterError(f"parameter 'w1' must be a 2-D tensor of shape (N, {x.shape[1]})")
    _, f = get_activation(activation)
    # c is the data moment of the hidden features σ(W_1 x): one moment function for both.
    return sample_moment(f(x.to(torch.float64) @ w1.to(torch.float64).T), y)


def linear_first_layer_moment(x: torch.Tensor, y: torch.Tensor, w1: torch.Tensor, activation="tanh") -> torch.Tensor:
    """D W_1 m with D = diag(n⁻¹ Σ_i σ'(w_j·x_i)) and m = n⁻¹ Σ_i y_i x_i.

    The part of :func:`first_layer_moment` that is linear in the target's
    moment m (first Hermite term of σ along each row); the rest comes from the
    target's higher moments seen through the O(1) first layer.

    Parameters
    ----------
    x, y, w1, activation
        As in :func:`first_layer_moment`.

    Returns
    -------
    torch.Tensor
        Shape ``(N,)``, float64.
    """
    _check_xy(x, y)
    if not isinstance(w1, torch.Tensor) or w1.dim() != 2 or w1.shape[1] != x.shape[1]:
        raise P.ParameterError(f"parameter 'w1' must be a 2-D tensor of shape (N, {x.shape[1]})")
    x = x.to(torch.float64)
    w1 = w1.to(torch.float64)
    slope = derivative(activation, x @ w1.T).mean(0)
    return slope * (w1 @ sample_moment(x, y.to(torch.float64)))


def _he_config(x, y, depth, eps, seeds, activation, width, dtype, t_max, threshold) -> SweepConfig:
    # The one sweep both functions run: He-normal, middle bottleneck, moment criterion, the user's data.
    return SweepConfig(activation, depth, eps=eps, seeds=[int(s) for s in seeds], bottleneck=middle_bottleneck(depth),
                       init="he", model="full", x=x, y=y, data="sample", width=width, criterion="moment",
                       threshold=threshold, t_max=t_max, dtype=dtype)


def he_escapes(x: torch.Tensor, y: torch.Tensor, *, depth: int, eps: float, seeds: Sequence[int],
               activation="tanh", width: int = 32, dtype="float32", t_max: float = 1e9, threshold: float = 0.5):
    """Escape times of full He-normal networks with the middle-layer bottleneck, one batch over seeds.

    Parameters
    ----------
    x, y : torch.Tensor
        Data, shapes ``(n, d)`` and ``(n,)``.
    depth : int
        L (≥ 3); bottleneck layers 2 … L−1 (:func:`middle_bottleneck`).
    eps : float
        Bottleneck scale.
    seeds : sequence of int
        Init seeds (one run each, integrated together).
    activation : str, default "tanh"
    width : int, default 32
    dtype : {"float32", "float64"}, default "float32"
    t_max : float, default 1e9
    threshold : float, default 0.5
        τ is the first time ‖E[ŷ x]‖ reaches ``threshold × Γ`` (criterion "moment").

    Returns
    -------
    tau : numpy.ndarray
        Shape ``(len(seeds),)``; NaN where no escape before ``t_max``.
    gamma1 : numpy.ndarray
        Γ₁ = ‖E[y σ(W_1 x)]‖ of each seed's initial first layer.
    gamma1_lin : numpy.ndarray
        ‖D W_1 m‖ of each seed (:func:`linear_first_layer_moment`).
    """
    _check_xy(x, y)
    cfg = _he_config(x, y, depth, [eps], seeds, activation, width, dtype, t_max, threshold)
    res = sweep(cfg)
    widths = [x.shape[1]] + [width] * (depth - 1) + [1]
    g1, gl = [], []
    for s in cfg.seeds:
        w1 = he_weights(widths, eps, list(cfg.bottleneck_used), seed=s)[0]
        g1.append(float(first_layer_moment(x, y, w1, activation).norm()))
        gl.append(float(linear_first_layer_moment(x, y, w1, activation).norm()))
    return np.asarray(res.tau, dtype=float), np.array(g1), np.array(gl)


def he_escape_grid(x: torch.Tensor, y: torch.Tensor, *, depth: int, eps: Sequence[float], seeds: Sequence[int],
                   activation="tanh", width: int = 32, dtype="float32", t_max: float = 1e9,
                   threshold: float = 0.5) -> np.ndarray:
    """Escape times over a grid of bottleneck scales × seeds (one batch), middle-layer bottleneck.

    For a given seed the draw does not depend on ε (only the bottleneck
    layers are rescaled), so along a row only ε changes.

    Parameters
    ----------
    x, y, depth, seeds, activation, width, dtype, t_max, threshold
        As in :func:`he_escapes`.
    eps : sequence of float
        Bottleneck scales.

    Returns
    -------
    numpy.ndarray
        Shape ``(len(eps), len(seeds))``; NaN where no escape before ``t_max``.
    """
    _check_xy(x, y)
    res = sweep(_he_config(x, y, depth, list(eps), seeds, activation, width, dtype, t_max, threshold))
    return res.grid().astype(float)
