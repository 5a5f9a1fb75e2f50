"""Measurements of the escape engine's speed (used by ``benchmarks/escape_engine.py``
and the book's performance page; nothing here is asserted as a target).

- :func:`gradient_flops`: matrix-multiply FLOPs of one full-network gradient
  evaluation, counted from the shapes (forward + backward, elementwise work
  not counted).
- :func:`matmul_rate`, :func:`gradient_rate`: achieved GFLOP/s of a plain
  ``torch.matmul`` and of :meth:`saddlebook.dynamics.NetworkBatch.evaluate`.
- :func:`gd_escape`: plain fixed-step gradient descent θ ← θ − η∇𝓛 on a batch
  of networks, stopped at the same loss threshold as the engine; the GD escape
  time is ``k·η`` for the first step k with loss ≤ level.
- :func:`gd_step_for_accuracy`: the largest step of a list for which GD's escape
  time is within a relative tolerance of a reference.
"""

from __future__ import annotations

import math
import time
from typing import Sequence

import numpy as np
import torch

from ._batch import NetworkBatch

__all__ = ["gradient_flops", "matmul_rate", "gradient_rate", "gd_escape", "gd_step_for_accuracy", "load_average"]


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


def gd_escape(problem, weights: Sequence[torch.Tensor], eta: float, level, *, max_steps: int = 10_000_000):
    """Plain fixed-step gradient descent on a batch, stopped per run at a loss level.

    Parameters
    ----------
    problem : NetworkBatch (or any engine problem)
    weights : list of torch.Tensor
        Batched initial weights (copied).
    eta : float
        Step size.
    level : array_like, shape (B,)
        A run escapes at the first step k with loss ≤ level; its escape time
        is ``k·eta``.
    max_steps : int
        Give up after this many steps (τ = NaN).

    Returns
    -------
    tau : numpy.ndarray
        GD escape times; NaN for runs that diverged (non-finite loss) or did
        not escape.
    steps : int
        Batched steps taken (finished runs leave the batch).
    seconds : float
        Wall time.
    """
    level = torch.as_tensor(np.asarray(level, dtype=np.float64))
    w = [p.detach().clone() for p in weights]
    B = w[0].shape[0]
    idx = torch.arange(B)
    tau = np.full(B, np.nan)
    start = time.perf_counter()
    k = 0
    with torch.no_grad():
        while idx.numel() and k <= max_steps:
            loss, _, grads = problem.evaluate(w)
            loss = loss.double()
            done = loss <= level
            bad = ~torch.isfinite(loss)
            if bool((done | bad).any()):
                for row in done.nonzero()[:, 0].tolist():
                    tau[int(idx[row])] = k * eta
                keep = (~(done | bad)).nonzero()[:, 0]
                w = [p.index_select(0, keep) for p in w]
                grads = [g.index_select(0, keep) for g in grads]
                idx, level = idx.index_select(0, keep), level.index_select(0, keep)
                if not idx.numel():
                    break
            for p, g in zip(w, grads):
                p.sub_(g, alpha=eta)
            k += 1
    return tau, k, time.perf_counter() - start


def gd_step_for_accuracy(problem, weights, level, tau_ref, etas: Sequence[float], rtol: float = 1e-3):
    """The largest step of ``etas`` (tried in decreasing order) whose GD escape
    times are all within ``rtol`` (relative) of ``tau_ref``.

    Returns
    -------
    eta : float or None
        None if no step of the list is accurate enough.
    trials : list of dict
        Per step tried: ``eta``, ``tau``, ``max_rel_err`` (inf if a run
        diverged), ``steps``, ``seconds``.
    """
    trials = []
    for eta in sorted(etas, reverse=True):
        tau, steps, sec = gd_escape(problem, weights, eta, level)
        err = float(np.max(np.abs(tau / np.asarray(tau_ref) - 1))) if np.all(np.isfinite(tau)) else math.inf
        trials.append(dict(eta=float(eta), tau=tau.tolist(), max_rel_err=err, steps=int(steps), seconds=sec))
        if err <= rtol:
            return float(eta), trials
    return None, trials
