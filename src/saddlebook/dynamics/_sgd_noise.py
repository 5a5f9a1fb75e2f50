"""Minibatch noise near the saddle: SGD as gradient descent on a random clock.

Near the origin a network is linear to leading order, and the loss of a data
set (x_i, y_i) enters the gradient only through its linear moment
m̂ = (1/n) Σ_i y_i x_i (NOTES §8). A minibatch S of m rows replaces it by
m̂_S = (1/m) Σ_{i∈S} y_i x_i. Along the first-layer row direction d̂ (on the
symmetric manifold every bottleneck layer's growth is driven by d̂·m̂), the
minibatch step is the full-batch step times Γ_S / Γ̄, with

    Γ_S = (1/m) Σ_{i∈S} z_i,   Γ̄ = (1/n) Σ_i z_i,   z_i = y_i (d̂·x_i),

plus components across d̂ that only turn the row (second order). So, to
leading order, SGD with step η is gradient descent whose clock advances by
η Γ_{S_k}/Γ̄ at step k instead of η (derived in chapter 9): the run escapes
when that *random clock* reaches the gradient-descent escape time τ_GD.
:func:`random_clock_escape` turns the actual minibatch draws of one SGD seed
into that predicted escape time; :func:`rate_spread` is the exact spread of
Γ_S over uniform m-subsets, so that over seeds the escape time scatters by
sd(τ) ≈ √(η τ) σ_Γ / Γ̄ (:func:`clock_spread`, the central limit of the sum).

:func:`minibatch_rows` reproduces the draws of
:func:`saddlebook.dynamics.descend` (a ``torch.Generator`` seeded with the
SGD seed, one ``randperm(n)[:m]``, sorted, per step; the same rows for every
run of a batch); ``tests/test_sgd_noise.py`` pins the two together.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .. import _validate as V
from ..errors import ParameterError

__all__ = ["minibatch_rows", "row_rates", "minibatch_rates", "rate_spread", "clock_spread",
           "random_clock_escape"]


def minibatch_rows(n: int, batch_size: int, seed: int, steps: int) -> torch.Tensor:
    """The rows that minibatch SGD of :func:`~saddlebook.dynamics.descend` uses at steps 0, …, steps − 1.

    Parameters
    ----------
    n : int
        Number of data rows (≥ 1).
    batch_size : int
        Rows per step, 1 ≤ m ≤ n.
    seed : int
        The SGD seed (``Descent(eta, batch_size, seed)``), ≥ 0.
    steps : int
        Number of steps (≥ 1).

    Returns
    -------
    torch.Tensor
        Shape ``(steps, m)``, int64: row k holds the sorted rows of step k.

    Raises
    ------
    saddlebook.errors.ParameterError
        An argument out of range.
    """
    n = V.integer("n", n, 1)
    m = V.integer("batch_size", batch_size, 1, n)
    seed = V.integer("seed", seed, 0, 2**63 - 1)
    steps = V.integer("steps", steps, 1)
    gen = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randperm(n, generator=gen)[:m].sort().values for _ in range(steps)])


def row_rates(x: torch.Tensor, y: torch.Tensor, direction: torch.Tensor) -> np.ndarray:
    """Per-row rates z_i = y_i (d̂·x_i), whose mean is the full-batch rate Γ̄ = d̂·m̂.

    Parameters
    ----------
    x : torch.Tensor
        Inputs, shape ``(n, d)``.
    y : torch.Tensor
        Scalar targets, shape ``(n,)``.
    direction : torch.Tensor
        First-layer row direction, shape ``(d,)`` (normalized here; not zero).

    Returns
    -------
    numpy.ndarray
        z, shape ``(n,)``, float64.

    Raises
    ------
    saddlebook.errors.ParameterError
        Shapes that do not match, or a zero or non-finite direction.
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise ParameterError("parameter 'x' must be a 2-D tensor of shape (n, d)")
    if not isinstance(y, torch.Tensor) or tuple(y.shape) != (x.shape[0],):
        raise ParameterError(f"parameter 'y' must be a tensor of shape ({x.shape[0]},)")
    if not isinstance(direction, torch.Tensor) or tuple(direction.shape) != (x.shape[1],):
        raise ParameterError(f"parameter 'direction' must be a tensor of shape ({x.shape[1]},)")
    d = direction.to(torch.float64)
    norm = float(torch.linalg.vector_norm(d))
    if not (math.isfinite(norm) and norm > 0):
        raise ParameterError("parameter 'direction' must be finite and non-zero")
    return (y.to(torch.float64) * (x.to(torch.float64) @ (d / norm))).numpy()


def minibatch_rates(x, y, direction, batch_size: int, seed: int, steps: int) -> np.ndarray:
    """Γ_{S_k} = mean of z_i over the minibatch of step k, for the draws of one SGD seed.

    Parameters
    ----------
    x, y, direction
        As in :func:`row_rates`.
    batch_size, seed, steps
        As in :func:`minibatch_rows`.

    Returns
    -------
    numpy.ndarray
        Shape ``(steps,)``.
    """
    z = row_rates(x, y, direction)
    rows = minibatch_rows(z.size, batch_size, seed, steps).numpy()
    return z[rows].mean(axis=1)


def rate_spread(x, y, direction, batch_size: int) -> float:
    """Exact standard deviation σ_Γ of Γ_S over uniformly drawn m-subsets (without replacement).

    σ_Γ² = (n − m) / (m (n − 1)) · (1/n) Σ_i (z_i − Γ̄)²: the 1/m of independent
    draws, less the finite-population correction (σ_Γ = 0 for m = n, full-batch
    descent).

    Parameters
    ----------
    x, y, direction
        As in :func:`row_rates`.
    batch_size : int
        m, 1 ≤ m ≤ n.

    Returns
    -------
    float
    """
    z = row_rates(x, y, direction)
    n = z.size
    m = V.integer("batch_size", batch_size, 1, n)
    if n == 1:
        return 0.0
    return float(math.sqrt((n - m) / (m * (n - 1)) * np.mean((z - z.mean()) ** 2)))


def clock_spread(sigma: float, gamma: float, eta: float, t: float) -> float:
    """Standard deviation of the escape time under the random clock: √(η t) σ_Γ / Γ̄.

    The clock reaches t after about t/η steps, each adding η Γ_S/Γ̄ with
    standard deviation η σ_Γ/Γ̄; the sum of t/η independent steps has spread
    √(η t) σ_Γ/Γ̄, and so has the step at which it reaches t.

    Parameters
    ----------
    sigma : float
        σ_Γ (≥ 0), e.g. :func:`rate_spread`.
    gamma : float
        Γ̄ (> 0).
    eta : float
        Step η (> 0).
    t : float
        The clock time to reach, τ_GD (> 0).

    Returns
    -------
    float
    """
    sigma = V.nonnegative("sigma", sigma)
    gamma, eta, t = V.positive("gamma", gamma), V.positive("eta", eta), V.positive("t", t)
    return math.sqrt(eta * t) * sigma / gamma


def random_clock_escape(rates, gamma: float, eta: float, t_escape: float) -> float:
    """Escape time predicted for one SGD seed: when the clock η Σ_k Γ_{S_k}/Γ̄ reaches ``t_escape``.

    Within step k the clock runs at the constant speed Γ_{S_k}/Γ̄, so the
    crossing is located by linear interpolation, as the escape itself is
    (:mod:`saddlebook.dynamics._crossing`).

    Parameters
    ----------
    rates : array_like
        Γ_{S_k} for k = 0, 1, … (:func:`minibatch_rates`), enough steps for the
        clock to pass ``t_escape``.
    gamma : float
        The full-batch rate Γ̄ (> 0).
    eta : float
        Step η (> 0).
    t_escape : float
        The gradient-descent escape time τ_GD (> 0) with the same η.

    Returns
    -------
    float
        The predicted SGD escape time (flow-time units, t = η k).

    Raises
    ------
    saddlebook.errors.ParameterError
        Bad arguments, a non-positive rate (the clock would stop or run
        backwards: the leading-order picture does not apply), or too few
        rates for the clock to reach ``t_escape``.
    """
    gamma, eta, t_escape = V.positive("gamma", gamma), V.positive("eta", eta), V.positive("t_escape", t_escape)
    speed = np.asarray(rates, dtype=np.float64).ravel() / gamma
    if speed.size == 0 or not np.all(np.isfinite(speed)) or np.any(speed <= 0):
        raise ParameterError("parameter 'rates' must be a non-empty array of finite rates > 0")
    clock = eta * np.concatenate([[0.0], np.cumsum(speed)])  # clock at the start of each step
    k = int(np.searchsorted(clock, t_escape, side="left"))
    if k >= clock.size:
        raise ParameterError(f"the {speed.size} rates given bring the clock to {clock[-1]:.6g} only, "
                             f"short of t_escape = {t_escape:.6g}; give more steps")
    if k == 0:
        return 0.0
    return float(eta * (k - 1) + (t_escape - clock[k - 1]) / speed[k - 1])
