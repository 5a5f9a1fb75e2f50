"""Batched adaptive Runge–Kutta integration of gradient flow with events.

:func:`integrate` advances B independent gradient flows θ̇_b = −∇𝓛_b(θ_b)
together with the Dormand–Prince 5(4) pair, each run with its own step size
(accepted or rejected per run), and stops each run at the first crossing of
its own event level by an observable (the loss or the network's linear
moment). The crossing time is located inside the step on the pair's
fourth-order continuous extension (the same interpolant as scipy's RK45),
so event times are not limited to step boundaries.

Why this is fast for saddle escape: near a saddle at scale ε the flow is a
slow blow-up whose relative rate of change is smooth, so the adaptive step
grows with the plateau and the number of gradient evaluations grows like
log τ instead of τ (fixed-step descent). Runs that are finished are removed
from the batch, so a sweep costs about as much as its slowest run plus the
gradient work of the others.

A *problem* is any object with two methods on batched parameters (a list of
tensors whose first dimension is the run index b):

- ``evaluate(params) -> (loss, observable, grads)``, ``loss`` and
  ``observable`` of shape ``(B,)``, ``grads`` like ``params``;
- ``observe(params) -> (loss, observable)``, forward only.

:class:`saddlebook.dynamics.NetworkBatch` and
:class:`saddlebook.theory.ReducedChain` are the two problems of the package.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from ..errors import DivergenceError

__all__ = ["integrate", "EngineResult", "progress_enabled"]

# Dormand–Prince 5(4) tableau (Dormand & Prince 1980), FSAL form.
_C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0)
_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
)
_B = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84)
# b − b̂ (fifth minus fourth order), including the FSAL stage k7.
_E = (71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40)
# Continuous extension: y(t+θh) = y + h Σ_i k_i Σ_j P[i][j] θ^(j+1) (scipy RK45).
_P = (
    (1.0, -8048581381 / 2820520608, 8663915743 / 2820520608, -12715105075 / 11282082432),
    (0.0, 0.0, 0.0, 0.0),
    (0.0, 131558114200 / 32700410799, -68118460800 / 10900136933, 87487479700 / 32700410799),
    (0.0, -1754552775 / 470086768, 14199869525 / 1410260304, -10690763975 / 1880347072),
    (0.0, 127303824393 / 49829197408, -318862633887 / 49829197408, 701980252875 / 199316789632),
    (0.0, -282668133 / 205662961, 2019193451 / 616988883, -1453857185 / 822651844),
    (0.0, 40617522 / 29380423, -110615467 / 29380423, 69997945 / 29380423),
)
_SAFETY, _MIN_FACTOR, _MAX_FACTOR = 0.9, 0.2, 10.0


def progress_enabled(progress: bool | None) -> bool:
    """Resolve the ``progress`` option of the sweep functions.

    ``True``/``False`` are returned as given; ``None`` means automatic: on if
    the environment variable ``SADDLEBOOK_PROGRESS`` is ``1``, off if it is
    ``0``, otherwise on only when stderr is a terminal (so tests, notebooks
    and logs stay silent).
    """
    if progress is not None:
        return bool(progress)
    env = os.environ.get("SADDLEBOOK_PROGRESS")
    if env in ("0", "1"):
        return env == "1"
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


@dataclass
class EngineResult:
    """Outcome of :func:`integrate` for every run (index b as given).

    Attributes
    ----------
    t_event : numpy.ndarray
        Flow time of the first event crossing (physical flow time units),
        NaN where none happened before ``t_max``. Shape ``(B,)``.
    t_final : numpy.ndarray
        Time at which each run stopped (the event time, or ``t_max``).
    nfev : numpy.ndarray
        Gradient evaluations per run (6 per attempted step, plus 1 at start).
    n_observe : numpy.ndarray
        Forward-only evaluations per run spent locating the event.
    accepted, rejected : numpy.ndarray
        Accepted and rejected steps per run.
    loss0, observable0 : numpy.ndarray
        Loss and observable at t = 0.
    final : list of torch.Tensor
        Parameters at ``t_final`` (at the event, interpolated), batched.
    wall_time : float
        Seconds spent in :func:`integrate`.
    history : list of dict or None
        With ``record=True``: per run, arrays ``t``, ``loss`` and ``norms``
        (Frobenius norm of each parameter tensor, shape ``(steps, P)``) at
        every accepted step.
    """

    t_event: np.ndarray
    t_final: np.ndarray
    nfev: np.ndarray
    n_observe: np.ndarray
    accepted: np.ndarray
    rejected: np.ndarray
    loss0: np.ndarray
    observable0: np.ndarray
    final: list[torch.Tensor]
    wall_time: float
    history: list[dict] | None = field(default=None)


def _norms(params: Sequence[torch.Tensor]) -> torch.Tensor:
    # Frobenius norm of each parameter tensor of each run, (B, P), float64.
    return torch.stack([p.reshape(p.shape[0], -1).double().norm(dim=1) for p in params], dim=1)


def _bshape(v: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return v.reshape((-1,) + (1,) * (p.dim() - 1)).to(p.dtype)


def _combine(params, ks, coeffs, h):
    # params + h Σ c_j k_j, batched; h is (B,) float64.
    out = []
    for i, p in enumerate(params):
        acc = None
        for c, k in zip(coeffs, ks):
            if c != 0.0:
                acc = k[i] * c if acc is None else acc.add_(k[i], alpha=c)
        out.append(p if acc is None else p + _bshape(h, p) * acc)
    return out


def _take(seq, idx):
    return [s.index_select(0, idx) for s in seq]


def integrate(
    problem,
    params0: Sequence[torch.Tensor],
    *,
    t_max: float,
    event_level: torch.Tensor | np.ndarray | None = None,
    event_direction: int = -1,
    rtol: float = 1e-9,
    atol: float = 1e-15,
    max_steps: int = 200_000,
    max_loss_ratio: float = 1e6,
    record: bool = False,
    progress: bool | None = None,
    config: Sequence[str] | None = None,
) -> EngineResult:
    """Integrate B gradient flows θ̇ = −∇𝓛(θ) to their events or ``t_max``.

    Parameters
    ----------
    problem : object
        Provides ``evaluate`` and ``observe`` (see the module docstring).
    params0 : sequence of torch.Tensor
        Initial parameters, each of shape ``(B, ...)``; their dtype (float64
        or float32) is the working precision of the state and the gradients.
        Times, step sizes and error norms are always float64.
    t_max : float
        Largest flow time (> 0).
    event_level : array_like of shape (B,), optional
        Level whose crossing by the problem's observable stops a run. Without
        it every run goes to ``t_max``.
    event_direction : {-1, +1}, default -1
        −1: the observable falls through the level (a loss threshold);
        +1: it rises through it (a moment threshold).
    rtol, atol : float, default 1e-9, 1e-15
        Local error control per run: the error estimate of every parameter
        tensor, in Frobenius norm, must be ≤ ``atol + rtol·‖θ_p‖`` (tensor
        by tensor, so a layer at scale ε is controlled relative to ε).
    max_steps : int, default 200000
        Attempted steps allowed per run; runs still going are reported with
        NaN event time.
    max_loss_ratio : float, default 1e6
        A run whose loss exceeds this multiple of its initial loss diverged.
    record : bool, default False
        Keep the loss and parameter norms at every accepted step.
    progress : bool or None, default None
        tqdm progress bar over finished runs (shown after 2 s); ``None``:
        see :func:`progress_enabled`.
    config : sequence of str, optional
        Description of every run, used in error messages.

    Returns
    -------
    EngineResult

    Raises
    ------
    DivergenceError
        A run's loss, gradient or state became non-finite, its loss exceeded
        ``max_loss_ratio`` × its initial loss, or its step size underflowed;
        the message carries that run's ``config``.
    """
    start = time.perf_counter()
    params = [p.detach().clone() for p in params0]
    B = params[0].shape[0]
    config = list(config) if config is not None else [f"run {b}" for b in range(B)]
    if event_direction not in (-1, 1):
        raise ValueError(f"parameter 'event_direction' must be -1 or +1, got {event_direction!r}")
    if not (isinstance(t_max, (int, float)) and t_max > 0 and math.isfinite(t_max)):
        raise ValueError(f"parameter 't_max' must be finite and > 0, got {t_max!r}")
    f64 = dict(dtype=torch.float64)
    level = None if event_level is None else torch.as_tensor(np.asarray(event_level, dtype=np.float64), **f64)

    loss, obs, grads = problem.evaluate(params)
    loss, obs = loss.double(), obs.double()
    if not bool(torch.isfinite(loss).all()):
        b = int((~torch.isfinite(loss)).nonzero()[0])
        raise DivergenceError(0.0, float(loss[b]), config[b], "initial loss is not finite")
    loss0, obs0 = loss.clone(), obs.clone()
    ks0 = [-g for g in grads]
    # Initial step: 1% of the time over which any parameter tensor changes by its own size.
    ratio = torch.stack([_norms([p])[:, 0] / _norms([k])[:, 0].clamp_min(1e-300) for p, k in zip(params, ks0)], 1)
    h = (0.01 * ratio.min(dim=1).values).clamp(max=t_max, min=1e-12 * t_max)

    idx = torch.arange(B)  # original run index of each active row
    t = torch.zeros(B, **f64)
    nfev = np.ones(B, dtype=np.int64)
    nobs = np.zeros(B, dtype=np.int64)
    acc = np.zeros(B, dtype=np.int64)
    rej = np.zeros(B, dtype=np.int64)
    t_event = np.full(B, np.nan)
    t_final = np.full(B, np.nan)
    final: list[torch.Tensor | None] = [None] * B
    lo0 = loss0.clone()
    hist = None
    if record:
        hist = [dict(t=[0.0], loss=[float(loss0[b])], norms=[_norms([p[b : b + 1] for p in params])[0].numpy()])
                for b in range(B)]

    bar = None
    if progress_enabled(progress):
        from tqdm.auto import tqdm

        bar = tqdm(total=B, desc="escape runs", unit="run", delay=2.0, leave=False)

    def finish(rows: torch.Tensor, when: torch.Tensor, state: list[torch.Tensor], event: bool) -> None:
        for j, row in enumerate(rows.tolist()):
            b = int(idx[row])
            t_final[b] = float(when[j])
            if event:
                t_event[b] = float(when[j])
            final[b] = [s[j].clone() for s in state]
        if bar is not None:
            bar.update(len(rows))

    k1 = ks0
    if level is not None:
        # A run already past its level at t = 0 has escaped at time 0.
        past = (obs0 - level) * event_direction >= 0
        if bool(past.any()):
            rows = past.nonzero()[:, 0]
            finish(rows, torch.zeros(rows.numel(), **f64), _take(params, rows), True)
            keep = (~past).nonzero()[:, 0]
            params, k1 = _take(params, keep), _take(k1, keep)
            t, h, obs, lo0, idx = (v.index_select(0, keep) for v in (t, h, obs, lo0, idx))
    try:
        while idx.numel():
            ks = [k1]
            for s in range(1, 6):
                stage = _combine(params, ks, _A[s], h)
                ks.append([-g for g in problem.evaluate(stage)[2]])
            new = _combine(params, ks, _B, h)
            nloss, nobs_v, ngrads = problem.evaluate(new)
            nloss, nobs_v = nloss.double(), nobs_v.double()
            k7 = [-g for g in ngrads]
            ks.append(k7)
            active_np = idx.numpy()
            nfev[active_np] += 6
            # Error norm: worst parameter tensor, relative to its own size.
            err = torch.zeros_like(h)
            for i, p in enumerate(params):
                e = None
                for c, k in zip(_E, ks):
                    if c != 0.0:
                        e = k[i] * c if e is None else e.add(k[i], alpha=c)
                en = e.reshape(e.shape[0], -1).double().norm(dim=1) * h
                scale = atol + rtol * torch.maximum(_norms([p])[:, 0], _norms([new[i]])[:, 0])
                err = torch.maximum(err, en / scale)
            finite = torch.isfinite(nloss) & torch.isfinite(err)
            for k in k7:
                finite &= torch.isfinite(k.reshape(k.shape[0], -1)).all(dim=1)
            err = torch.where(finite, err, torch.full_like(err, math.inf))
            ok = err <= 1.0
            factor = torch.where(err > 0, _SAFETY * err.clamp_min(1e-300) ** -0.2, torch.full_like(err, _MAX_FACTOR))
            factor = factor.clamp(_MIN_FACTOR, _MAX_FACTOR)
            factor = torch.where(ok, factor, factor.clamp(max=1.0))
            okn = ok.numpy()
            acc[active_np[okn]] += 1
            rej[active_np[~okn]] += 1
            # Divergence of an accepted state: loss exploded.
            bad = ok & (nloss > max_loss_ratio * lo0)
            if bool(bad.any()):
                r = int(bad.nonzero()[0])
                raise DivergenceError(
                    float(t[r] + h[r]),
                    float(nloss[r]),
                    config[int(idx[r])],
                    f"loss exceeded {max_loss_ratio:g} x loss(0)",
                )
            t_new = t + h
            # Event: the observable crossed the level within an accepted step.
            crossed = torch.zeros_like(ok)
            if level is not None:
                lev = level.index_select(0, idx)
                g_old, g_new = (obs - lev) * event_direction, (nobs_v - lev) * event_direction
                crossed = ok & (g_old < 0) & (g_new >= 0)
            if bool(crossed.any()):
                rows = crossed.nonzero()[:, 0]
                theta, state, n_used = _locate(
                    problem,
                    _take(params, rows),
                    [_take(k, rows) for k in ks],
                    h.index_select(0, rows),
                    lev.index_select(0, rows),
                    event_direction,
                    obs.index_select(0, rows),
                    nobs_v.index_select(0, rows),
                )
                nobs[idx.index_select(0, rows).numpy()] += n_used
                finish(rows, t.index_select(0, rows) + theta * h.index_select(0, rows), state, True)
            reached = ok & ~crossed & (t_new >= t_max * (1 - 1e-12))
            if bool(reached.any()):
                rows = reached.nonzero()[:, 0]
                finish(rows, t_new.index_select(0, rows), _take(new, rows), False)
            if record:
                for r in ok.nonzero()[:, 0].tolist():
                    b = int(idx[r])
                    hist[b]["t"].append(float(t_new[r]))
                    hist[b]["loss"].append(float(nloss[r]))
                    hist[b]["norms"].append(_norms([p[r : r + 1] for p in new])[0].numpy())
            # Advance accepted runs; rejected ones retry with a smaller step.
            okb = ok
            params = [torch.where(_bshape(okb, p).bool(), n, p) for n, p in zip(new, params)]
            k1 = [torch.where(_bshape(okb, k).bool(), a, k) for a, k in zip(k7, k1)]
            t = torch.where(okb, t_new, t)
            obs = torch.where(okb, nobs_v, obs)
            h_next = h * factor
            tiny = h_next < 1e-14 * torch.clamp(t, min=1.0)
            if bool(tiny.any()):
                r = int(tiny.nonzero()[0])
                why = "step size underflow" + ("" if bool(finite[r]) else " after non-finite loss or gradient")
                raise DivergenceError(float(t[r]), float(nloss[r]), config[int(idx[r])], why)
            h = torch.minimum(h_next, (t_max - t).clamp_min(0.0))
            h = torch.where(h > 0, h, h_next)
            over = (acc[active_np] + rej[active_np]) >= max_steps
            keep = ~(crossed | reached | torch.from_numpy(over))
            if not bool(keep.all()):
                for r in torch.from_numpy(over).nonzero()[:, 0].tolist():
                    if not (bool(crossed[r]) or bool(reached[r])):
                        b = int(idx[r])
                        t_final[b] = float(t[r])
                        final[b] = [p[r].clone() for p in params]
                rows = keep.nonzero()[:, 0]
                params, k1 = _take(params, rows), _take(k1, rows)
                t, h, obs, lo0, idx = (v.index_select(0, rows) for v in (t, h, obs, lo0, idx))
    finally:
        if bar is not None:
            bar.close()
    history = None
    if record:
        history = [dict(t=np.array(d["t"]), loss=np.array(d["loss"]), norms=np.array(d["norms"])) for d in hist]
    return EngineResult(
        t_event=t_event,
        t_final=t_final,
        nfev=nfev,
        n_observe=nobs,
        accepted=acc,
        rejected=rej,
        loss0=loss0.numpy(),
        observable0=obs0.numpy(),
        final=[torch.stack([final[b][i] for b in range(B)]) for i in range(len(params0))],
        wall_time=time.perf_counter() - start,
        history=history,
    )


def _dense(params, ks, h, theta):
    # Fourth-order continuous extension at fraction theta (B,) of the step.
    powers = [theta ** (j + 1) for j in range(4)]
    out = []
    for i, p in enumerate(params):
        acc = torch.zeros_like(p)
        for kstage, row in zip(ks, _P):
            w = sum(c * pw for c, pw in zip(row, powers))
            if isinstance(w, torch.Tensor):
                acc = acc + _bshape(w, p) * kstage[i]
        out.append(p + _bshape(h, p) * acc)
    return out


def _locate(problem, params, ks, h, level, direction, g0, g1, iters: int = 60):
    """Crossing fraction θ in (0, 1] of the step, by Illinois regula falsi."""
    a = torch.zeros_like(h)
    b = torch.ones_like(h)
    fa = (g0 - level) * direction
    fb = (g1 - level) * direction
    used = 0
    side = torch.zeros_like(h)
    c_prev = torch.full_like(h, -1.0)
    for _ in range(iters):
        c = torch.where(fb != fa, b - fb * (b - a) / (fb - fa), 0.5 * (a + b))
        c = torch.where((c > a) & (c < b), c, 0.5 * (a + b))
        _, gc = problem.observe(_dense(params, ks, h, c))
        used += 1
        fc = (gc.double() - level) * direction
        left = fc >= 0  # the crossing lies in [a, c]
        # Illinois: when the same end moves twice in a row, halve the other end's value.
        fa = torch.where(left & (side == 1), fa * 0.5, fa)
        fb = torch.where(~left & (side == -1), fb * 0.5, fb)
        b, fb = torch.where(left, c, b), torch.where(left, fc, fb)
        a, fa = torch.where(left, a, c), torch.where(left, fa, fc)
        side = torch.where(left, torch.ones_like(side), -torch.ones_like(side))
        if bool(((c - c_prev).abs() <= 1e-14).all()) or bool((b - a <= 1e-14).all()):
            break
        c_prev = c
    return b, _dense(params, ks, h, b), used
