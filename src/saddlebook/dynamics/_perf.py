"""Measurements of the escape engine's speed (used by ``benchmarks/escape_engine.py``
and the book's performance page; nothing here is asserted as a target).

- :func:`gradient_flops`: matrix-multiply FLOPs of one full-network gradient
  evaluation, counted from the shapes (forward + backward, elementwise work
  not counted).
- :func:`matmul_rate`, :func:`gradient_rate`: achieved GFLOP/s of a plain
  ``torch.matmul`` and of :meth:`saddlebook.dynamics.NetworkBatch.evaluate`;
  :func:`activation_seconds`, the time of the gradient's σ and σ′ alone.
- :func:`gd_escape`: plain fixed-step gradient descent θ ← θ − η∇𝓛 on a batch
  of networks (:func:`saddlebook.dynamics.descend`), stopped at the same loss
  threshold as the engine, with the same escape definition
  (:mod:`saddlebook.dynamics._crossing`: the crossing located between the two
  bracketing steps); a divergence raises.
- :func:`gd_step_for_accuracy`: the largest step of a list for which GD's escape
  time is within a relative tolerance of a reference; :func:`gd_trial`, one
  step of it (module-level, so worker processes can run trials side by side).
"""

from __future__ import annotations

import math
import time
from typing import Sequence

import numpy as np
import torch

from ..book import parameters as P
from ..errors import DivergenceError
from ._batch import NetworkBatch
from ._descent import descend

__all__ = ["gradient_flops", "matmul_rate", "gradient_rate", "activation_seconds", "gd_escape",
           "gd_step_for_accuracy", "gd_trial", "load_average"]


def load_average() -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages (``os.getloadavg``), NaN if unavailable."""
    import os

    try:
        return tuple(float(v) for v in os.getloadavg())
    except OSError:
        return (math.nan, math.nan, math.nan)


def gradient_flops(widths: Sequence[int], n: int) -> int:
    """Matmul FLOPs of one loss-and-gradient evaluation of one network.

    Parameters
    ----------
    widths : sequence of int
        ``[d, n_1, …, n_{L−1}, 1]``.
    n : int
        Number of samples.

    Returns
    -------
    int
        Forward: ``2 n n_ℓ n_{ℓ−1}`` per layer. Backward: the weight gradient
        ``2 n n_ℓ n_{ℓ−1}`` per layer, and the back-propagated error
        ``2 n n_ℓ n_{ℓ−1}`` for every layer but the first. One multiply-add
        counts as 2 FLOPs.
    """
    per = [2 * n * a * b for a, b in zip(widths[:-1], widths[1:])]
    return int(2 * sum(per) + sum(per[1:]))


def _best(fn, repeats: int, min_time: float) -> float:
    # Best time per call over `repeats` batches of calls lasting >= min_time each.
    fn()
    best = math.inf
    for _ in range(repeats):
        k, start = 0, time.perf_counter()
        while True:
            fn()
            k += 1
            el = time.perf_counter() - start
            if el >= min_time:
                break
        best = min(best, el / k)
    return best


def matmul_rate(m: int, k: int, n: int, *, batch: int = 1, dtype=torch.float64, repeats: int = 5,
                min_time: float = 0.2) -> float:
    """Achieved GFLOP/s of ``torch.matmul`` of ``(batch, m, k) @ (batch, k, n)`` (best of ``repeats``)."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(batch, m, k, generator=g, dtype=dtype)
    b = torch.randn(batch, k, n, generator=g, dtype=dtype)
    out = torch.empty(batch, m, n, dtype=dtype)
    sec = _best(lambda: torch.matmul(a, b, out=out), repeats, min_time)
    return 2.0 * batch * m * k * n / sec / 1e9


def gradient_rate(problem: NetworkBatch, weights: Sequence[torch.Tensor], *, repeats: int = 5,
                  min_time: float = 0.2) -> tuple[float, float]:
    """Seconds per :meth:`NetworkBatch.evaluate` call and achieved matmul GFLOP/s.

    The FLOPs are :func:`gradient_flops` × the batch size.
    """
    B = weights[0].shape[0]
    widths = [weights[0].shape[2]] + [w.shape[1] for w in weights]
    n = problem.data(weights[0].dtype)[0].shape[0]
    with torch.no_grad():
        sec = _best(lambda: problem.evaluate(weights), repeats, min_time)
    return sec, gradient_flops(widths, n) * B / sec / 1e9


def activation_seconds(problem: NetworkBatch, batch: int, width: int, n: int, layers: int, *,
                       dtype=torch.float64, repeats: int = 2, calls: int = 20) -> float:
    """Seconds of the ``layers`` evaluations of (σ, σ′) that one gradient of ``batch`` runs makes (best of ``repeats``).

    The pre-activations are ``(batch, width, n)``, the layout of
    :meth:`NetworkBatch.evaluate`; ``layers`` is the number of hidden layers, L − 1.
    """
    z = 0.5 * torch.randn(batch, width, n, generator=torch.Generator().manual_seed(2), dtype=torch.float64).to(dtype)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            for _ in range(layers):
                problem.pair(z)
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def gd_escape(problem, weights: Sequence[torch.Tensor], eta: float, level, *, max_steps: int = 10_000_000):
    """Fixed-step gradient descent θ ← θ − η∇𝓛 on a batch, stopped per run at a level (:func:`descend`, timed).

    Parameters
    ----------
    problem : NetworkBatch (or any engine problem)
    weights : list of torch.Tensor
        Batched initial weights (copied).
    eta : float
        Step size.
    level : array_like, shape (B,)
        Level of the problem's observable (the loss, for a ``NetworkBatch``
        with ``observable="loss"``); the escape time is located between the
        two steps that bracket its crossing (:mod:`saddlebook.dynamics._crossing`).
    max_steps : int
        Give up after this many steps (τ = NaN).

    Returns
    -------
    tau : numpy.ndarray
        GD escape times; NaN for runs that did not escape within ``max_steps``.
    steps : int
        Batched steps taken (finished runs leave the batch).
    seconds : float
        Wall time.

    Raises
    ------
    saddlebook.errors.DivergenceError
        A run diverged (see :func:`descend`).
    """
    max_steps = P.integer("max_steps", max_steps, 1)
    res = descend(problem, list(weights), eta, t_max=max_steps * eta, level=level)
    return res.t_event, int(res.steps.max()), res.wall_time


def gd_step_for_accuracy(problem, weights, level, tau_ref, etas: Sequence[float], rtol: float = 1e-3, *,
                         done: Sequence[dict] = ()):
    """The largest step of ``etas`` (tried in decreasing order) whose GD escape
    times are all within ``rtol`` (relative) of ``tau_ref``.

    Parameters
    ----------
    problem, weights, level
        As :func:`gd_escape`.
    tau_ref : array_like, shape (B,)
        Reference escape times.
    etas : sequence of float
        Steps to try.
    rtol : float, default 1e-3
    done : sequence of dict, optional
        Results of :func:`gd_trial` already run for some of the steps (for
        example side by side on worker processes, while the reference was
        computed); they are judged in their turn instead of being run again.

    Returns
    -------
    eta : float or None
        None if no step of the list is accurate enough.
    trials : list of dict
        Per step tried: the fields of :func:`gd_trial` and ``max_rel_err``
        (inf if a run diverged or did not escape).
    """
    ready = {float(t["eta"]): t for t in done}
    trials = []
    for eta in sorted(etas, reverse=True):
        run = ready.get(float(eta)) or gd_trial(problem, weights, float(eta), level)
        tau = np.asarray(run["tau"], dtype=np.float64)
        err = float(np.max(np.abs(tau / np.asarray(tau_ref) - 1))) if np.all(np.isfinite(tau)) else math.inf
        trials.append({**run, "max_rel_err": err})
        if err <= rtol:
            return float(eta), trials
    return None, trials


def gd_trial(problem, weights, eta: float, level) -> dict:
    """One descent run at step ``eta`` (:func:`gd_escape`), a divergence recorded rather than raised.

    Returns
    -------
    dict
        ``eta``, ``tau`` (list; NaN where a run diverged), ``steps`` (−1 if
        it diverged), ``seconds`` (wall time), ``diverged`` (None, or the
        message of the :class:`~saddlebook.errors.DivergenceError`).
    """
    start = time.perf_counter()
    try:
        tau, steps, sec = gd_escape(problem, weights, eta, level)
        diverged = None
    except DivergenceError as exc:  # too large a step: recorded, and the caller tries the next one
        tau, steps, sec, diverged = np.full(np.size(level), np.nan), -1, time.perf_counter() - start, str(exc)
    return dict(eta=float(eta), tau=np.asarray(tau).tolist(), steps=int(steps), seconds=sec, diverged=diverged)
