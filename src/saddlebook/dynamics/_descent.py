"""Plain full-batch gradient descent, with time measured in flow units.

Step k of W ← W − η ∇𝓛 is placed at time t = η k, so trajectories can be
laid over the gradient flow they approximate (error O(η) at fixed t).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..errors import DivergenceError
from ..nets._activations import Activation
from ._reference import check_fraction, check_positive, loss_and_gradient, validated_activation

__all__ = ["gradient_descent", "DescentResult"]


@dataclass
class DescentResult:
    """Trajectory of a gradient-descent run.

    Attributes
    ----------
    t : numpy.ndarray
        Recorded times ``lr × step``.
    loss : numpy.ndarray
        Loss at each recorded time.
    weights : list of list of torch.Tensor
        Weight snapshots at each recorded time.
    escape_time : float or None
        First time the loss reaches ``escape_fraction × loss(0)``, linearly
        interpolated between the two steps that bracket the crossing; None if
        not reached or not requested.
    steps : int
        Number of descent steps taken.
    """

    t: np.ndarray
    loss: np.ndarray
    weights: list[list[torch.Tensor]]
    escape_time: float | None
    steps: int


def gradient_descent(
    weights0: Sequence[torch.Tensor],
    sigma: str | Activation,
    x: torch.Tensor,
    y: torch.Tensor,
    lr: float,
    t_max: float,
    loss: str = "mse",
    record_every: int = 1,
    escape_fraction: float | None = None,
    max_loss_ratio: float = 1e6,
) -> DescentResult:
    """Run gradient descent W ← W − lr ∇_W 𝓛 up to flow time ``t_max``.

    Parameters
    ----------
    weights0 : sequence of torch.Tensor
        Initial weights ``[W_1, …, W_L]`` (not modified).
    sigma : str or callable
        Activation.
    x : torch.Tensor
        Inputs, shape ``(n, d)``.
    y : torch.Tensor
        Targets, shape ``(n,)`` (or ``(n, n_L)``).
    lr : float
        Learning rate η (> 0); also the time step.
    t_max : float
        Final time (> 0); the run takes ``round(t_max / lr)`` steps (at least
        one).
    loss : {"mse", "logistic"}, default "mse"
    record_every : int, default 1
        Record a snapshot every this many steps (step 0 and the last step are
        always recorded).
    escape_fraction : float, optional
        In (0, 1); report when the loss falls to this fraction of loss(0).
    max_loss_ratio : float, default 1e6
        Divergence threshold relative to loss(0).

    Returns
    -------
    DescentResult

    Raises
    ------
    ValueError
        Invalid parameters (named in the message).
    DivergenceError
        Loss non-finite or above ``max_loss_ratio × loss(0)``.
    """
    weights = [w.detach().clone() for w in weights0]
    fn = validated_activation(weights, sigma, x, y, loss)
    lr = check_positive("lr", lr)
    t_max = check_positive("t_max", t_max)
    max_loss_ratio = check_positive("max_loss_ratio", max_loss_ratio, allow_inf=True)
    if not max_loss_ratio > 1:
        raise ValueError(f"parameter 'max_loss_ratio' must be > 1 (or inf), got {max_loss_ratio!r}")
    fraction = check_fraction(escape_fraction)
    if isinstance(record_every, bool) or not isinstance(record_every, int) or record_every < 1:
        raise ValueError(f"parameter 'record_every' must be an integer >= 1, got {record_every!r}")
    steps = max(1, int(round(t_max / lr)))
    config = f"gradient_descent(lr={lr:g}, loss={loss}, t_max={t_max:g})"

    ts, losses, snaps = [], [], []
    escape_time = None
    loss0 = None
    prev = None
    for k in range(steps + 1):
        value, grads = loss_and_gradient(weights, x, y, fn, loss)
        value = float(value)
        t = lr * k
        if loss0 is None:
            loss0 = value
        if not math.isfinite(value) or (loss0 > 0 and value > max_loss_ratio * loss0):
            raise DivergenceError(t, value, config)
        if fraction is not None and escape_time is None:
            target = fraction * loss0
            if value <= target:
                if prev is None or prev == value:
                    escape_time = t
                else:
                    # Linear interpolation between the bracketing steps.
                    escape_time = t - lr * (target - value) / (prev - value)
        prev = value
        if k % record_every == 0 or k == steps:
            ts.append(t)
            losses.append(value)
            snaps.append([w.clone() for w in weights])
        if k < steps:
            if not all(bool(torch.isfinite(g).all()) for g in grads):
                raise DivergenceError(t, value, config, "non-finite gradient")
            weights = [w - lr * g for w, g in zip(weights, grads)]
    return DescentResult(
        t=np.asarray(ts, dtype=np.float64),
        loss=np.asarray(losses, dtype=np.float64),
        weights=snaps,
        escape_time=escape_time,
        steps=steps,
    )
