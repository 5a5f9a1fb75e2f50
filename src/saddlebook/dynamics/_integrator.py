"""Batched adaptive Runge–Kutta integration of gradient flow with events.

:func:`integrate` advances B independent gradient flows θ̇_b = −∇𝓛_b(θ_b)
together with the Dormand–Prince 5(4) pair, each run with its own step size
(accepted or rejected per run), and stops each run at the first crossing of
its own event level by an observable (the loss or the network's linear
moment). The crossing time is located inside the step on the pair's
fourth-order continuous extension (the same interpolant as scipy's RK45),
so event times are not limited to step boundaries: the package's one escape
definition, stated in :mod:`saddlebook.dynamics._crossing`, whose
:func:`~saddlebook.dynamics._crossing.refine_crossing` does the locating.

Why this is fast for saddle escape: near a saddle at scale ε the flow is a
slow blow-up whose relative rate of change is smooth, so the adaptive step
grows with the plateau and the number of gradient evaluations grows like
log τ instead of τ (fixed-step descent). Runs that are finished are removed
from the batch, so a sweep costs about as much as its slowest run plus the
gradient work of the others.

The flow is that of a *problem*: the protocol
:class:`saddlebook.dynamics.Problem` (``evaluate`` and ``observe`` on batched
parameters), implemented by :class:`saddlebook.dynamics.NetworkBatch`,
:class:`saddlebook.theory.ReducedChain` and
:class:`saddlebook.dynamics.AutogradProblem`.

States at chosen output times (``t_eval``) are read off the same continuous
extension inside the accepted step that brackets each time, so asking for
them changes neither the steps nor the events.
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

from ..errors import DivergenceError, ParameterError
from ._crossing import refine_crossing
from ._problem import MAX_LOSS_RATIO

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
    t_eval : numpy.ndarray or None
        The output times asked for (``t_eval`` of :func:`integrate`).
    states : list of torch.Tensor or None
        With ``t_eval``: per parameter tensor, the states at those times,
        shape ``(T, B, ...)`` (``states[i][k, b]`` is tensor i of run b at
        ``t_eval[k]``), on the Dormand–Prince continuous extension of the
        step that brackets the time (the step's end state for a time at its
        end). NaN at times after a run stopped (its event, or
        ``max_steps``).
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
    t_eval: np.ndarray | None = field(default=None)
    states: list[torch.Tensor] | None = field(default=None)


def _norms(params: Sequence[torch.Tensor]) -> torch.Tensor:
    # Frobenius norm of each parameter tensor of each run, (B, P), float64, on the CPU with the bookkeeping.
    return torch.stack([p.reshape(p.shape[0], -1).double().norm(dim=1) for p in params], dim=1).cpu()


def _bshape(v: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    # A per-run value (on the CPU) broadcast against a batched tensor p, on p's device and in its dtype.
    return v.reshape((-1,) + (1,) * (p.dim() - 1)).to(device=p.device, dtype=p.dtype)


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
    return [s.index_select(0, idx.to(s.device)) for s in seq]


@dataclass
class _Options:
    """The validated settings of one :func:`integrate` call."""

    t_max: float
    level: torch.Tensor | None  # (B,) float64, by original run index
    direction: int
    rtol: float
    atol: float
    max_steps: int
    t_eval: np.ndarray | None  # output times, float64
    config: list[str]


@dataclass
class _Active:
    """The runs still being integrated; row r holds the original run ``idx[r]``."""

    params: list[torch.Tensor]
    k1: list[torch.Tensor]  # −∇𝓛 at params: the first stage of the next step (FSAL)
    t: torch.Tensor
    h: torch.Tensor
    obs: torch.Tensor
    lo0: torch.Tensor  # loss at t = 0, the reference of the divergence test
    idx: torch.Tensor

    def take(self, rows: torch.Tensor) -> "_Active":
        t, h, obs, lo0, idx = (v.index_select(0, rows) for v in (self.t, self.h, self.obs, self.lo0, self.idx))
        return _Active(_take(self.params, rows), _take(self.k1, rows), t, h, obs, lo0, idx)


class _Ledger:
    """Per-run outcome of :func:`integrate`, by original run index, filled in as runs finish."""

    def __init__(self, params, loss0: torch.Tensor, record: bool, progress: bool | None) -> None:
        B = params[0].shape[0]
        self.nfev = np.ones(B, dtype=np.int64)
        self.nobs = np.zeros(B, dtype=np.int64)
        self.acc = np.zeros(B, dtype=np.int64)
        self.rej = np.zeros(B, dtype=np.int64)
        self.t_event = np.full(B, np.nan)
        self.t_final = np.full(B, np.nan)
        self.final: list[list[torch.Tensor] | None] = [None] * B
        self.hist = None
        if record:
            self.hist = [dict(t=[0.0], loss=[float(loss0[b])],
                              norms=[_norms([p[b : b + 1] for p in params])[0].numpy()]) for b in range(B)]
        self.states: list[torch.Tensor] | None = None
        self.bar = None
        if progress_enabled(progress):
            from tqdm.auto import tqdm

            self.bar = tqdm(total=B, desc="escape runs", unit="run", delay=2.0, leave=False)

    def finish(self, idx, rows: torch.Tensor, when: torch.Tensor, state, event: bool) -> None:
        """Runs ``rows`` (active rows) stop at times ``when`` in states ``state`` (batched over rows)."""
        for j, row in enumerate(rows.tolist()):
            b = int(idx[row])
            self.t_final[b] = float(when[j])
            if event:
                self.t_event[b] = float(when[j])
            self.final[b] = [s[j].clone() for s in state]
        if self.bar is not None:
            self.bar.update(len(rows))

    def count(self, idx: torch.Tensor, ok: torch.Tensor) -> None:
        """Book one attempted step (6 new gradients) of every active run."""
        active, okn = idx.numpy(), ok.numpy()
        self.nfev[active] += 6
        self.acc[active[okn]] += 1
        self.rej[active[~okn]] += 1

    def record(self, idx, ok, t_new, nloss, new) -> None:
        """History of the accepted steps (``record=True`` only)."""
        if self.hist is None:
            return
        for r in ok.nonzero()[:, 0].tolist():
            b = int(idx[r])
            self.hist[b]["t"].append(float(t_new[r]))
            self.hist[b]["loss"].append(float(nloss[r]))
            self.hist[b]["norms"].append(_norms([p[r : r + 1] for p in new])[0].numpy())

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def start_states(self, params, t_eval: np.ndarray | None) -> None:
        """Room for the states at the output times (NaN until reached); those at t = 0 are ``params``."""
        if t_eval is None:
            return
        self.states = [torch.full((t_eval.size,) + tuple(p.shape), math.nan, dtype=p.dtype, device=p.device)
                       for p in params]
        for s, p in zip(self.states, params):
            s[torch.from_numpy(t_eval <= 0).to(s.device)] = p

    def result(self, loss0, obs0, n_params: int, start: float, t_eval=None) -> EngineResult:
        history = None
        if self.hist is not None:
            history = [dict(t=np.array(d["t"]), loss=np.array(d["loss"]), norms=np.array(d["norms"]))
                       for d in self.hist]
        B = len(self.final)
        return EngineResult(
            t_event=self.t_event,
            t_final=self.t_final,
            nfev=self.nfev,
            n_observe=self.nobs,
            accepted=self.acc,
            rejected=self.rej,
            loss0=loss0.numpy(),
            observable0=obs0.numpy(),
            final=[torch.stack([self.final[b][i] for b in range(B)]) for i in range(n_params)],
            wall_time=time.perf_counter() - start,
            history=history,
            t_eval=t_eval,
            states=self.states,
        )


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
    t_eval: Sequence[float] | np.ndarray | None = None,
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
        Level whose crossing by the problem's observable stops a run (the
        escape definition of :mod:`saddlebook.dynamics._crossing`). Without
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
    t_eval : array_like, optional
        Strictly increasing output times in ``[0, t_max]``: the result then
        carries the states there (``EngineResult.states``), read off the
        continuous extension of the steps; the steps, events and final
        states are exactly those of the call without ``t_eval``.
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
    saddlebook.errors.ParameterError
        Bad ``event_direction``, ``t_max`` or ``t_eval``, before any compute.
    DivergenceError
        A run's loss, gradient or state became non-finite, its loss exceeded
        :data:`~saddlebook.dynamics.MAX_LOSS_RATIO` × its initial loss (the
        package's divergence rule), or its step size underflowed; the
        message carries that run's ``config``.
    """
    start = time.perf_counter()
    B = params0[0].shape[0]
    opt = _options(B, t_max, event_level, event_direction, rtol, atol, max_steps, t_eval, config)
    params = [p.detach().clone() for p in params0]
    loss, obs, grads = problem.evaluate(params)
    loss, obs = loss.double().cpu(), obs.double().cpu()
    if not bool(torch.isfinite(loss).all()):
        b = int((~torch.isfinite(loss)).nonzero()[0])
        raise DivergenceError(0.0, float(loss[b]), opt.config[b], "initial loss is not finite")
    loss0, obs0 = loss.clone(), obs.clone()
    ks0 = [-g for g in grads]
    run = _Active(params, ks0, torch.zeros(B, dtype=torch.float64), _first_step(params, ks0, t_max), obs,
                  loss0.clone(), torch.arange(B))
    ledger = _Ledger(params, loss0, record, progress)
    ledger.start_states(params, opt.t_eval)
    try:
        run = _past_at_start(run, opt, ledger)
        while run.idx.numel():
            run = _step(problem, run, opt, ledger)
    finally:
        ledger.close()
    return ledger.result(loss0, obs0, len(params0), start, opt.t_eval)


def _options(B, t_max, event_level, event_direction, rtol, atol, max_steps, t_eval, config) -> _Options:
    if event_direction not in (-1, 1):
        raise ParameterError(f"parameter 'event_direction' must be -1 or +1, got {event_direction!r}")
    if not (isinstance(t_max, (int, float)) and t_max > 0 and math.isfinite(t_max)):
        raise ParameterError(f"parameter 't_max' must be finite and > 0, got {t_max!r}")
    level = None
    if event_level is not None:
        level = torch.as_tensor(np.asarray(event_level, dtype=np.float64), dtype=torch.float64)
    if t_eval is not None:
        t_eval = np.asarray(t_eval, dtype=np.float64)
        if t_eval.ndim != 1 or t_eval.size == 0 or not np.all(np.isfinite(t_eval)):
            raise ParameterError("parameter 't_eval' must be a non-empty 1-D array of finite times")
        if np.any(np.diff(t_eval) <= 0) or t_eval[0] < 0 or t_eval[-1] > t_max:
            raise ParameterError(f"parameter 't_eval' must be strictly increasing within [0, t_max={t_max}]")
    config = list(config) if config is not None else [f"run {b}" for b in range(B)]
    return _Options(t_max, level, event_direction, rtol, atol, max_steps, t_eval, config)


def _first_step(params, ks0, t_max: float) -> torch.Tensor:
    # 1% of the time over which any parameter tensor changes by its own size.
    ratio = torch.stack([_norms([p])[:, 0] / _norms([k])[:, 0].clamp_min(1e-300) for p, k in zip(params, ks0)], 1)
    return (0.01 * ratio.min(dim=1).values).clamp(max=t_max, min=1e-12 * t_max)


def _past_at_start(run: _Active, opt: _Options, ledger: _Ledger) -> _Active:
    """Runs already at or past their level at t = 0 have escaped at time 0."""
    if opt.level is None:
        return run
    past = (run.obs - opt.level) * opt.direction >= 0
    if not bool(past.any()):
        return run
    rows = past.nonzero()[:, 0]
    ledger.finish(run.idx, rows, torch.zeros(rows.numel(), dtype=torch.float64), _take(run.params, rows), True)
    return run.take((~past).nonzero()[:, 0])


def _step(problem, run: _Active, opt: _Options, ledger: _Ledger) -> _Active:
    """One attempted step of every active run; returns the runs still going."""
    ks, new, nloss, nobs_v = _attempt(problem, run.params, run.k1, run.h)
    err, finite = _error_ratio(run.params, new, ks, run.h, nloss, opt.rtol, opt.atol)
    ok, factor = _controller(err)
    ledger.count(run.idx, ok)
    bad = ok & (nloss > MAX_LOSS_RATIO * run.lo0)
    if bool(bad.any()):
        r = int(bad.nonzero()[0])
        raise DivergenceError(float(run.t[r] + run.h[r]), float(nloss[r]), opt.config[int(run.idx[r])],
                              f"loss exceeded {MAX_LOSS_RATIO:g} x loss(0)")
    t_new = run.t + run.h
    crossed = _events(problem, run, ks, ok, nobs_v, opt, ledger)
    reached = ok & ~crossed & (t_new >= opt.t_max * (1 - 1e-12))
    if bool(reached.any()):
        rows = reached.nonzero()[:, 0]
        ledger.finish(run.idx, rows, t_new.index_select(0, rows), _take(new, rows), False)
    _sample(run, ks, new, t_new, ok & ~crossed, crossed, opt, ledger)
    ledger.record(run.idx, ok, t_new, nloss, new)
    run = _advance(run, ok, new, ks[-1], t_new, nobs_v)
    run.h = _next_step_size(run, factor, finite, nloss, opt)
    return _retire(run, crossed, reached, ledger, opt.max_steps)


def _attempt(problem, params, k1, h):
    """One Dormand–Prince trial step of every active run: the 7 stages, the new state, its loss and observable."""
    ks = [k1]
    for s in range(1, 6):
        stage = _combine(params, ks, _A[s], h)
        ks.append([-g for g in problem.evaluate(stage)[2]])
    new = _combine(params, ks, _B, h)
    nloss, nobs_v, ngrads = problem.evaluate(new)
    ks.append([-g for g in ngrads])
    return ks, new, nloss.double().cpu(), nobs_v.double().cpu()


def _error_ratio(params, new, ks, h, nloss, rtol: float, atol: float):
    """Local error over tolerance of every run (its worst parameter tensor, relative to that tensor's own size).

    Returns the ratio (inf where the trial state, its loss or its gradient is not finite) and that finiteness.
    """
    err = torch.zeros_like(h)
    for i, p in enumerate(params):
        e = None
        for c, k in zip(_E, ks):
            if c != 0.0:
                e = k[i] * c if e is None else e.add(k[i], alpha=c)
        en = e.reshape(e.shape[0], -1).double().norm(dim=1).cpu() * h
        scale = atol + rtol * torch.maximum(_norms([p])[:, 0], _norms([new[i]])[:, 0])
        err = torch.maximum(err, en / scale)
    finite = torch.isfinite(nloss) & torch.isfinite(err)
    for k in ks[-1]:
        finite &= torch.isfinite(k.reshape(k.shape[0], -1)).all(dim=1).cpu()
    return torch.where(finite, err, torch.full_like(err, math.inf)), finite


def _controller(err: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Step-size controller: accept where ``err <= 1``; the factor on the step (no growth after a rejection)."""
    ok = err <= 1.0
    # err^(-1/5) one run at a time: torch's vectorised pow rounds differently in the vector lanes and in the
    # scalar tail, so a run's step size would depend on its place in the batch.
    root = torch.tensor([math.pow(e, -0.2) for e in err.clamp_min(1e-300).tolist()], dtype=err.dtype)
    factor = torch.where(err > 0, _SAFETY * root, torch.full_like(err, _MAX_FACTOR))
    factor = factor.clamp(_MIN_FACTOR, _MAX_FACTOR)
    return ok, torch.where(ok, factor, factor.clamp(max=1.0))


def _events(problem, run: _Active, ks, ok, nobs_v, opt: _Options, ledger: _Ledger) -> torch.Tensor:
    """Runs whose accepted step reached their level: the crossing is located on the step's dense output
    (:func:`~saddlebook.dynamics._crossing.refine_crossing`) and the runs finish there."""
    crossed = torch.zeros_like(ok)
    if opt.level is None:
        return crossed
    lev = opt.level.index_select(0, run.idx)
    g_old, g_new = (run.obs - lev) * opt.direction, (nobs_v - lev) * opt.direction
    crossed = ok & (g_old < 0) & (g_new >= 0)
    if bool(crossed.any()):
        rows = crossed.nonzero()[:, 0]
        params, kr, h = _take(run.params, rows), [_take(k, rows) for k in ks], run.h.index_select(0, rows)
        theta, state, used = refine_crossing(
            lambda c: _dense(params, kr, h, c),
            lambda s: problem.observe(s)[1].double().cpu(),
            lev.index_select(0, rows),
            opt.direction,
            run.obs.index_select(0, rows),
            nobs_v.index_select(0, rows),
        )
        ledger.nobs[run.idx.index_select(0, rows).numpy()] += used
        ledger.finish(run.idx, rows, run.t.index_select(0, rows) + theta * h, state, True)
    return crossed


def _sample(run: _Active, ks, new, t_new, ok, crossed, opt: _Options, ledger: _Ledger) -> None:
    """States at the output times inside this step's accepted runs, on the step's continuous extension.

    Times in ``(t, t + h]`` are covered (``(t, t_event]`` for a run that crossed, up to ``t_max`` for the
    last step); a time at or after the step's end takes the end state itself.
    """
    if opt.t_eval is None or not bool((ok | crossed).any()):
        return
    idx, t_old = run.idx.numpy(), run.t.numpy()
    upper = t_new.numpy().copy()
    cross = crossed.numpy()
    upper[cross] = ledger.t_event[idx[cross]]
    # The last step ends within round-off of t_max: it owns every output time up to t_max.
    upper[~cross & (upper >= opt.t_max * (1 - 1e-12))] = opt.t_max
    lo = np.searchsorted(opt.t_eval, t_old, side="right")
    hi = np.where((ok | crossed).numpy(), np.searchsorted(opt.t_eval, upper, side="right"), lo)
    counts = hi - lo
    total = int(counts.sum())
    if total == 0:
        return
    rows_np = np.repeat(np.arange(idx.size), counts)
    k_out = lo[rows_np] + np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    rows, times = torch.from_numpy(rows_np), torch.from_numpy(opt.t_eval[k_out])
    h = run.h.index_select(0, rows)
    dense = _dense(_take(run.params, rows), [_take(k, rows) for k in ks], h, (times - run.t.index_select(0, rows)) / h)
    at_end = times >= t_new.index_select(0, rows)
    where = (torch.from_numpy(k_out), torch.from_numpy(idx[rows_np]))
    for store, d, n in zip(ledger.states, dense, new):
        at = tuple(w.to(store.device) for w in where)
        store[at] = torch.where(_bshape(at_end, d).bool(), n.index_select(0, rows.to(n.device)), d)


def _advance(run: _Active, ok, new, k7, t_new, nobs_v) -> _Active:
    """Accepted runs move to their new state; rejected ones stay (and retry with a smaller step)."""
    params = [torch.where(_bshape(ok, p).bool(), n, p) for n, p in zip(new, run.params)]
    k1 = [torch.where(_bshape(ok, k).bool(), a, k) for a, k in zip(k7, run.k1)]
    t = torch.where(ok, t_new, run.t)
    obs = torch.where(ok, nobs_v, run.obs)
    return _Active(params, k1, t, run.h, obs, run.lo0, run.idx)


def _next_step_size(run: _Active, factor, finite, nloss, opt: _Options) -> torch.Tensor:
    """The controller's step, clipped so that no run passes ``t_max``; an underflowing step is a divergence."""
    h_next = run.h * factor
    tiny = h_next < 1e-14 * torch.clamp(run.t, min=1.0)
    if bool(tiny.any()):
        r = int(tiny.nonzero()[0])
        why = "step size underflow" + ("" if bool(finite[r]) else " after non-finite loss or gradient")
        raise DivergenceError(float(run.t[r]), float(nloss[r]), opt.config[int(run.idx[r])], why)
    h = torch.minimum(h_next, (opt.t_max - run.t).clamp_min(0.0))
    return torch.where(h > 0, h, h_next)


def _retire(run: _Active, crossed, reached, ledger: _Ledger, max_steps: int) -> _Active:
    """Drop the runs that crossed, reached ``t_max`` or used up ``max_steps`` (those keep a NaN event time)."""
    active = run.idx.numpy()
    over = torch.from_numpy((ledger.acc[active] + ledger.rej[active]) >= max_steps)
    keep = ~(crossed | reached | over)
    if bool(keep.all()):
        return run
    for r in (over & ~crossed & ~reached).nonzero()[:, 0].tolist():
        b = int(run.idx[r])
        ledger.t_final[b] = float(run.t[r])
        ledger.final[b] = [p[r].clone() for p in run.params]
    return run.take(keep.nonzero()[:, 0])


def _dense(params, ks, h, theta):
    # Fourth-order continuous extension at fraction theta (B,) of the step.
    # Products, not theta ** j: a vectorised pow would round by the run's place in the batch.
    powers = [theta]
    for _ in range(3):
        powers.append(powers[-1] * theta)
    out = []
    for i, p in enumerate(params):
        acc = torch.zeros_like(p)
        for kstage, row in zip(ks, _P):
            w = sum(c * pw for c, pw in zip(row, powers))
            if isinstance(w, torch.Tensor):
                acc = acc + _bshape(w, p) * kstage[i]
        out.append(p + _bshape(h, p) * acc)
    return out
