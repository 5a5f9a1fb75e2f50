"""The escape time: one definition, and the one way of locating it.

Definition (stated here once; every solver of the package cites it):

    The escape time of a run is **the first time the observable — the loss,
    or a chapter's moment criterion — reaches the level, located on the
    stepper's continuous extension.**

A stepper produces samples of the observable at discrete times. Between two
samples that bracket the level, the crossing is placed on the curve the
stepper itself defines between them:

- fixed-step gradient descent (and minibatch SGD) moves in a straight line
  from one step to the next, so its continuous extension is linear and the
  crossing is the linear interpolation :func:`crossing_time` of the two
  bracketing samples (:func:`saddlebook.dynamics.descend`,
  :func:`saddlebook.dynamics.gradient_descent`);
- the batched Dormand–Prince integrator has a fourth-order dense output inside
  each step; :func:`refine_crossing` finds the level on it by Illinois
  regula falsi, every iterate being the :func:`crossing_time` of the current
  bracket (:func:`saddlebook.dynamics.integrate`);
- the independent reference :func:`saddlebook.dynamics.gradient_flow` uses
  scipy's event root finding on scipy's own dense output: the same
  definition, located by scipy.

"Reaches" is one-sided: a run whose observable is already at or past the
level at t = 0 has escaped at time 0, and a sample exactly at the level
counts as reached.
"""

from __future__ import annotations

from typing import Callable

import torch

__all__ = ["crossing_time", "refine_crossing"]


def crossing_time(t0, f0, t1, f1, level):
    """Time at which the straight line through two samples reaches ``level``.

    Parameters
    ----------
    t0, f0 : float, numpy.ndarray or torch.Tensor
        Time and observable of the last sample before the level was reached.
    t1, f1 : same type
        Time and observable of the first sample at or past the level, so that
        ``f0 != f1``.
    level : same type (or a float)

    Returns
    -------
    Same type as the inputs
        ``t1 − (level − f1)(t1 − t0)/(f0 − f1)``, in ``(t0, t1]``; elementwise
        for arrays and tensors.

    Notes
    -----
    The expression is written so that a falling and a rising crossing, and
    the bracket ``(a, f_a), (b, f_b)`` of :func:`refine_crossing` at level 0,
    give bit-for-bit the classical regula falsi iterate.
    """
    return t1 - (level - f1) * (t1 - t0) / (f0 - f1)


def refine_crossing(
    path: Callable[[torch.Tensor], list[torch.Tensor]],
    observe: Callable[[list[torch.Tensor]], torch.Tensor],
    level: torch.Tensor,
    direction: int,
    g0: torch.Tensor,
    g1: torch.Tensor,
    iters: int = 60,
) -> tuple[torch.Tensor, list[torch.Tensor], int]:
    """Crossing fraction θ ∈ (0, 1] of one step on its dense output, per run.

    Illinois regula falsi on ``observe(path(θ)) − level``: each iterate is the
    :func:`crossing_time` of the current bracket, and when the same end of the
    bracket moves twice in a row the other end's value is halved (so the
    bracket shrinks from both sides).

    Parameters
    ----------
    path : callable
        ``path(theta)`` with ``theta`` of shape ``(R,)``: the batched state at
        fraction ``theta`` of each run's step (the stepper's continuous
        extension).
    observe : callable
        ``observe(state)``: the observable of each run, shape ``(R,)``.
    level : torch.Tensor
        Level of each run, shape ``(R,)``, float64.
    direction : {-1, +1}
        −1: the observable falls to the level; +1: it rises to it.
    g0, g1 : torch.Tensor
        Observable at the start (θ = 0, before the level) and at the end
        (θ = 1, at or past it) of the step, float64.
    iters : int, default 60
        Most iterations; the loop ends earlier once every run's iterate or
        bracket has converged to 1e-14.

    Returns
    -------
    theta : torch.Tensor
        The right end of the final bracket (at or past the level), ``(R,)``.
    state : list of torch.Tensor
        ``path(theta)``.
    used : int
        Calls of ``observe``.
    """
    a = torch.zeros_like(g0)
    b = torch.ones_like(g0)
    fa = (g0 - level) * direction
    fb = (g1 - level) * direction
    used = 0
    side = torch.zeros_like(g0)
    c_prev = torch.full_like(g0, -1.0)
    done = torch.zeros_like(g0, dtype=torch.bool)
    for _ in range(iters):
        c = torch.where(fb != fa, crossing_time(a, fa, b, fb, 0.0), 0.5 * (a + b))
        c = torch.where((c > a) & (c < b), c, 0.5 * (a + b))
        gc = observe(path(c))
        used += 1
        fc = (gc.double() - level) * direction
        # A converged run keeps its bracket: each run's result is that of its own iteration alone,
        # whichever other runs cross in the same step (a sweep split into batches gives the same numbers).
        left = (fc >= 0) & ~done  # the crossing lies in [a, c]
        right = (fc < 0) & ~done
        fa = torch.where(left & (side == 1), fa * 0.5, fa)
        fb = torch.where(right & (side == -1), fb * 0.5, fb)
        b, fb = torch.where(left, c, b), torch.where(left, fc, fb)
        a, fa = torch.where(right, c, a), torch.where(right, fc, fa)
        side = torch.where(left, torch.ones_like(side), torch.where(right, -torch.ones_like(side), side))
        done |= ((c - c_prev).abs() <= 1e-14) | (b - a <= 1e-14)
        if bool(done.all()):
            break
        c_prev = torch.where(done, c_prev, c)
    return b, path(b), used
