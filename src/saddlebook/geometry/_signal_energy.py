"""The signal energy γ(W) of a network and its growth law near the saddle.

Definition used by the book (chapter 6): with sample weights π (``1/n`` for a
data set),

    m(W) = Σ_i π_i ŷ(x_i) x_i          (the network's linear moment, E[ŷ x]),
    γ(W) = ‖m(W)‖².

Why this quantity: near the origin the network is linear to leading order,
ŷ ≈ βᵀx with β the end-to-end product of the layers (times σ'(0)^{L−1}), so
for whitened inputs m ≈ β and γ ≈ ‖β‖². It is the part of the network that
the linear part of the target, E[y x], can see, and it is invariant under
the hidden-unit permutations, so it is defined on and off the symmetric
manifold alike. With r bottleneck layers at a common scale y and the others
at order one, ‖β‖ ≍ y^r, so γ ≍ y^{2r}.

Growth law (derived in chapter 6): every bottleneck layer moves at
ẏ ≍ Γ y^{r−1}; β̇ is dominated by the r bottleneck terms, each of size
y^{r−1}·Γ y^{r−1}; hence γ̇ = 2⟨m, ṁ⟩ ≍ Γ y^{3r−2} = Γ γ^{k} with

    k = 3/2 − 1/r.

Integrating dγ/(c γ^k) from γ_0 ≍ ε^{2r} gives τ ≍ γ_0^{−(k−1)} = ε^{−(r−2)}
for r ≥ 3 (see :func:`escape_exponent`). Along gradient flow the rate is a
function of the state alone, γ̇ = −⟨∇γ, ∇𝓛⟩, which
:func:`signal_energy_rate` evaluates exactly (no finite differences).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from .. import _validate as V
from ..data import moment
from ..dynamics._reference import gradient
from ..errors import ParameterError
from ..nets._network import check_shapes, forward

__all__ = [
    "linear_moment",
    "signal_energy",
    "signal_energy_rate",
    "growth_exponent",
    "escape_exponent",
    "plateau_time",
    "fit_growth",
]


def _weights_pi(weights, x, sample_weights):
    weights = list(weights)
    check_shapes(weights, x)
    if weights[-1].shape[0] != 1:
        raise ParameterError(
            "parameter 'weights': the signal energy needs a scalar-output network (last layer with one row)"
        )
    n = x.shape[0]
    if sample_weights is None:
        pi = torch.full((n,), 1.0 / n, dtype=x.dtype)
    else:
        pi = torch.as_tensor(sample_weights, dtype=x.dtype).reshape(-1)
        if pi.numel() != n or bool((pi < 0).any()):
            raise ParameterError(f"parameter 'sample_weights' must hold {n} non-negative numbers")
    return weights, pi


def linear_moment(
    weights: Sequence[torch.Tensor],
    sigma,
    x: torch.Tensor,
    sample_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """The network's linear moment m = Σ_i π_i ŷ(x_i) x_i.

    Parameters
    ----------
    weights : sequence of torch.Tensor
        ``[W_1, …, W_L]`` of a scalar-output network.
    sigma : str or callable
        Activation.
    x : torch.Tensor
        Inputs, shape ``(n, d)``.
    sample_weights : torch.Tensor, optional
        π, shape ``(n,)``; default ``1/n`` each (the sample mean).

    Returns
    -------
    torch.Tensor
        Shape ``(d,)``.
    """
    weights, pi = _weights_pi(weights, x, sample_weights)
    yhat = forward(weights, x, sigma).reshape(-1)
    return moment(x, yhat, pi, dtype=None)


def signal_energy(weights, sigma, x, sample_weights=None) -> float:
    """γ(W) = ‖Σ_i π_i ŷ(x_i) x_i‖² (see the module docstring).

    Parameters
    ----------
    weights, sigma, x, sample_weights
        As :func:`linear_moment`.

    Returns
    -------
    float
    """
    return float(linear_moment(weights, sigma, x, sample_weights).pow(2).sum())


def signal_energy_rate(weights, sigma, x, y, sample_weights=None) -> tuple[float, float]:
    """γ and its rate of change γ̇ = −⟨∇_W γ, ∇_W 𝓛⟩ under gradient flow.

    Parameters
    ----------
    weights, sigma, x
        As :func:`linear_moment`.
    y : torch.Tensor
        Targets, shape ``(n,)``; the loss is ½ · mean (ŷ − y)², the loss of
        :func:`saddlebook.dynamics.gradient_flow`.
    sample_weights : torch.Tensor, optional
        π for γ only (the loss is always the sample mean); default ``1/n``.

    Returns
    -------
    gamma, rate : float
        γ(W) and dγ/dt along the flow at W.
    """
    weights, pi = _weights_pi(weights, x, sample_weights)
    leaves = [w.detach().clone().requires_grad_(True) for w in weights]
    with torch.enable_grad():
        yhat = forward(leaves, x, sigma).reshape(-1)
        g = moment(x, yhat, pi, dtype=None).pow(2).sum()
        dg = torch.autograd.grad(g, leaves)
    dl = gradient(weights, sigma, x, y)
    rate = -sum(float((a * b).sum()) for a, b in zip(dg, dl))
    return float(g.detach()), rate


def growth_exponent(r: int) -> float:
    """k = 3/2 − 1/r in γ̇ ≍ γ^k for r bottleneck layers.

    Parameters
    ----------
    r : int
        Number of bottleneck layers (≥ 1).

    Returns
    -------
    float
    """
    return 1.5 - 1.0 / V.integer("r", r, 1)


def escape_exponent(k: float, r: int) -> float:
    """Exponent p of τ ≍ ε^{−p} implied by γ̇ ≍ γ^k and γ(0) ≍ ε^{2r}.

    Parameters
    ----------
    k : float
        Growth exponent.
    r : int
        Number of bottleneck layers (≥ 1), which sets γ(0) ≍ ε^{2r}.

    Returns
    -------
    float
        2r(k − 1) for k > 1 (a power law). For k ≤ 1 the integral of
        dγ/γ^k converges at γ = 0 (k < 1, τ bounded) or diverges only
        logarithmically (k = 1), and the power-law exponent is 0.
    """
    r = V.integer("r", r, 1)
    k = float(k)
    if not math.isfinite(k):
        raise ParameterError(f"parameter 'k' = {k!r} must be a finite number")
    return 2.0 * r * (k - 1.0) if k > 1 else 0.0


def plateau_time(gamma0: float, gamma1: float, k: float, c: float) -> float:
    """Time for γ̇ = c γ^k to carry γ from ``gamma0`` to ``gamma1``.

    Parameters
    ----------
    gamma0, gamma1 : float
        Start and end values, 0 < gamma0 < gamma1.
    k : float
        Growth exponent.
    c : float
        Rate constant (> 0).

    Returns
    -------
    float
        ``(gamma0^(1−k) − gamma1^(1−k)) / (c (k − 1))`` for k ≠ 1,
        ``log(gamma1/gamma0)/c`` for k = 1.
    """
    g0, g1, k, c = float(gamma0), float(gamma1), float(k), float(c)
    if not (math.isfinite(g0) and math.isfinite(g1) and 0 < g0 < g1):
        raise ParameterError(f"parameters 'gamma0' = {gamma0!r}, 'gamma1' = {gamma1!r} "
                             "must satisfy 0 < gamma0 < gamma1")
    if not (math.isfinite(c) and c > 0):
        raise ParameterError(f"parameter 'c' = {c!r} must be a finite number > 0")
    if not math.isfinite(k):
        raise ParameterError(f"parameter 'k' = {k!r} must be a finite number")
    if k == 1.0:
        return math.log(g1 / g0) / c
    return (g0 ** (1.0 - k) - g1 ** (1.0 - k)) / (c * (k - 1.0))


def fit_growth(gamma, rate, gamma_lo: float, gamma_hi: float) -> tuple[float, float]:
    """Fit γ̇ = c γ^k on the points with ``gamma_lo ≤ γ ≤ gamma_hi``.

    Parameters
    ----------
    gamma, rate : array_like
        Samples of γ and γ̇ along a trajectory.
    gamma_lo, gamma_hi : float
        Window in γ, 0 < gamma_lo < gamma_hi.

    Returns
    -------
    k, c : float
        Least-squares slope and intercept of log γ̇ against log γ (c = e^intercept).

    Raises
    ------
    ParameterError
        Fewer than 3 points in the window, or a non-positive γ̇ inside it
        (the growth law describes the growing phase only).
    """
    g = np.asarray(gamma, dtype=float).ravel()
    d = np.asarray(rate, dtype=float).ravel()
    if g.shape != d.shape:
        raise ParameterError(f"gamma ({g.size} values) and rate ({d.size} values) must have the same length")
    if not (0 < gamma_lo < gamma_hi):
        raise ParameterError(f"need 0 < gamma_lo < gamma_hi, got {gamma_lo!r}, {gamma_hi!r}")
    sel = (g >= gamma_lo) & (g <= gamma_hi)
    if int(sel.sum()) < 3:
        raise ParameterError(f"only {int(sel.sum())} samples with gamma in [{gamma_lo:g}, {gamma_hi:g}]; need 3")
    if not np.all(d[sel] > 0):
        raise ParameterError("the rate must be > 0 inside the window (the law describes the growing phase)")
    k, b = np.polyfit(np.log(g[sel]), np.log(d[sel]), 1)
    return float(k), float(math.exp(b))
