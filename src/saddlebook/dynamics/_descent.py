"""Fixed-step gradient descent and minibatch SGD, with time measured in flow units.

Step k of θ ← θ − η ∇𝓛 is placed at time t = η k, so trajectories can be
laid over the gradient flow they approximate (error O(η) at fixed t). Two
steppers share the time axis, the escape definition of
:mod:`saddlebook.dynamics._crossing` (the first time the observable reaches
the level, located on the stepper's continuous extension: the straight line
between two steps, so :func:`~saddlebook.dynamics._crossing.crossing_time`
of the bracketing steps) and one divergence rule (:func:`diverged`: a loss
that is not finite, or above ``max_loss_ratio`` × its initial value, raises
:class:`~saddlebook.errors.DivergenceError`, never a silent NaN):

- :func:`descend`, the batched stepper of the dynamics core: B parameter sets
  of any problem of the problem protocol (``evaluate(params) -> (loss,
  observable, grads)``, see :mod:`saddlebook.dynamics._integrator`), full
  batch or minibatch SGD;
- :func:`gradient_descent`, one network by autograd, the reference the
  chapters check at round-off.

Minibatch SGD (``batch_size=m``): at every step a fresh sample S of m distinct
rows is drawn (seeded; the same rows for every run of the batch, and the
sample depends only on the seed and the step), and the step is the gradient
of the problem restricted to S with its sample weights scaled by n/m
(:meth:`saddlebook.dynamics.NetworkBatch.rows`). For an ordinary data set
(π = 1/n) that loss is the minibatch mean ½ (1/m) Σ_{i∈S} (ŷ_i − y_i)², so the
expected step equals the full-batch step. The loss that decides escape and
divergence is always the full-batch loss (a forward pass on every row).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from .. import _validate as V
from ..book import parameters as P
from ..errors import DivergenceError, ParameterError
from ..nets._activations import Activation
from ._crossing import crossing_time
from ._problem import MAX_LOSS_RATIO, loss_and_gradient
from ._reference import validated_activation

__all__ = ["Descent", "descend", "DescentBatchResult", "diverged", "gradient_descent", "DescentResult"]


@dataclass(frozen=True)
class Descent:
    """A fixed-step stepper for :func:`~saddlebook.dynamics.sweep`: gradient descent or minibatch SGD.

    ``sweep(..., stepper=Descent(eta=0.05))`` runs full-batch gradient descent
    with step η instead of the adaptive flow integrator;
    ``Descent(eta, batch_size=m, seed=s)`` runs minibatch SGD with m rows per
    step. Time is flow time t = η k and the escape is located as for the flow
    (see :func:`descend`), so escape times under flow, GD and SGD compare
    directly.

    Attributes
    ----------
    eta : float
        Step size η > 0.
    batch_size : int, optional
        Rows per SGD step (1 ≤ m ≤ n, a sample data set); default full batch.
    seed : int, default 0
        Seed of the minibatch draws (SGD only).

    Raises
    ------
    saddlebook.errors.ParameterError
        A non-positive step, a batch size below 1 or a negative seed.
    """

    eta: float
    batch_size: int | None = None
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "eta", P.real("eta", self.eta, 0, None, lo_open=True))
        if self.batch_size is not None:
            object.__setattr__(self, "batch_size", P.integer("batch_size", self.batch_size, 1))
        object.__setattr__(self, "seed", P.integer("seed", self.seed, 0, 2**63 - 1))

    def summary(self) -> dict:
        """Plain values: ``{"eta": ..., "batch_size": ..., "seed": ...}``."""
        return {"eta": self.eta, "batch_size": self.batch_size, "seed": self.seed}


def diverged(loss, loss0, max_loss_ratio: float):
    """The divergence rule of both steppers, elementwise.

    Parameters
    ----------
    loss, loss0 : float or numpy.ndarray
        Loss now and at step 0.
    max_loss_ratio : float
        Threshold relative to ``loss0`` (> 1, or inf).

    Returns
    -------
    bool or numpy.ndarray of bool
        True where ``loss`` is not finite, or exceeds ``max_loss_ratio × loss0``
        (tested only where ``loss0 > 0``).
    """
    loss, loss0 = np.asarray(loss, dtype=np.float64), np.asarray(loss0, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        return ~np.isfinite(loss) | ((loss0 > 0) & (loss > max_loss_ratio * loss0))


def _why(loss: float, max_loss_ratio: float, k: int) -> str:
    if not math.isfinite(loss):
        return f"step {k}: loss not finite"
    return f"step {k}: loss exceeded {max_loss_ratio:g} x loss(0)"


@dataclass
class DescentBatchResult:
    """Outcome of :func:`descend` for every run (index b as given).

    Attributes
    ----------
    t_event : numpy.ndarray
        Escape time of each run (the crossing between the two bracketing
        steps, see :mod:`saddlebook.dynamics._crossing`); 0 for a run at or
        past its level at step 0, NaN where the level was not reached (or not
        given). Shape ``(B,)``.
    steps : numpy.ndarray
        Step at which each run stopped: its first step at or past the level,
        else the last step ``round(t_max / eta)``.
    loss0, observable0 : numpy.ndarray
        Full-batch loss and observable at step 0.
    final : list of torch.Tensor
        Parameters at step ``steps`` of each run, batched.
    wall_time : float
        Seconds spent in :func:`descend`.
    history : list of dict or None
        With ``record_every``: per run, arrays ``t``, ``loss`` and
        ``observable`` (full batch) at every ``record_every``-th step and at
        its last step.
    """

    t_event: np.ndarray
    steps: np.ndarray
    loss0: np.ndarray
    observable0: np.ndarray
    final: list[torch.Tensor]
    wall_time: float
    history: list[dict] | None = None


@dataclass
class _Plan:
    """The validated settings of one :func:`descend` call."""

    eta: float
    n_steps: int
    level: np.ndarray | None  # (B,), by original run index
    direction: int
    batch_size: int | None
    seed: int
    max_loss_ratio: float
    record_every: int | None
    config: list[str]


def _plan(problem, weights, eta, t_max, level, direction, batch_size, seed, max_loss_ratio, record_every,
          config) -> _Plan:
    if not callable(getattr(problem, "evaluate", None)):
        raise ParameterError("parameter 'problem' must have an evaluate(params) method (the problem protocol)")
    if not (isinstance(weights, (list, tuple)) and weights and all(isinstance(w, torch.Tensor) for w in weights)):
        raise ParameterError("parameter 'weights' must be a non-empty list of batched tensors (B, ...)")
    B = weights[0].shape[0] if weights[0].dim() else 0
    if B < 1 or any(w.dim() == 0 or w.shape[0] != B for w in weights):
        raise ParameterError("parameter 'weights' must share a first (run) dimension B >= 1")
    eta = P.real("eta", eta, 0, None, lo_open=True)
    t_max = P.real("t_max", t_max, 0, None, lo_open=True)
    if level is not None:
        try:
            level = np.broadcast_to(np.asarray(level, dtype=np.float64), (B,)).copy()
        except (TypeError, ValueError):
            raise ParameterError(f"parameter 'level' must be a number or an array of shape ({B},)") from None
    if direction not in (-1, 1):
        raise ParameterError(f"parameter 'direction' = {direction!r} is not allowed; allowed values: -1, +1")
    if batch_size is not None:
        if not (callable(getattr(problem, "rows", None)) and callable(getattr(problem, "observe", None))):
            raise ParameterError("parameter 'batch_size' needs a problem with rows(index) and observe(params) "
                                 "(a data set, e.g. NetworkBatch), not a population problem")
        batch_size = P.integer("batch_size", batch_size, 1, problem.n_rows)
    seed = P.integer("seed", seed, 0, 2**63 - 1)
    if isinstance(max_loss_ratio, bool) or not (isinstance(max_loss_ratio, (int, float)) and max_loss_ratio > 1):
        raise ParameterError(f"parameter 'max_loss_ratio' = {max_loss_ratio!r} must be a number > 1 (or inf)")
    if record_every is not None:
        record_every = P.integer("record_every", record_every, 1)
    config = [f"descend run {b} (eta={eta:g})" for b in range(B)] if config is None else list(config)
    if len(config) != B:
        raise ParameterError(f"parameter 'config' must have one description per run ({B}), got {len(config)}")
    return _Plan(eta, max(1, int(round(t_max / eta))), level, direction, batch_size, seed, float(max_loss_ratio),
                 record_every, config)


class _Book:
    """Per-run outcome of :func:`descend`, by original run index, filled in as runs stop."""

    def __init__(self, B: int, record: bool) -> None:
        self.t_event = np.full(B, np.nan)
        self.steps = np.zeros(B, dtype=np.int64)
        self.final: list[list[torch.Tensor] | None] = [None] * B
        self.hist = [dict(t=[], loss=[], observable=[]) for _ in range(B)] if record else None

    def record(self, idx, rows, t: float, loss, obs) -> None:
        for r in rows:
            h = self.hist[idx[r]]
            h["t"].append(t)
            h["loss"].append(float(loss[r]))
            h["observable"].append(float(obs[r]))

    def stop(self, idx, rows, k: int, w, t_event=None) -> None:
        for j, r in enumerate(rows):
            b = idx[r]
            self.steps[b] = k
            self.final[b] = [p[r].clone() for p in w]
            if t_event is not None:
                self.t_event[b] = t_event[j]

    def history(self):
        if self.hist is None:
            return None
        return [{key: np.asarray(v, dtype=np.float64) for key, v in h.items()} for h in self.hist]


def _sampler(problem, plan: _Plan):
    """``draw()`` -> the sorted rows of the next minibatch, or None for full-batch descent."""
    if plan.batch_size is None:
        return None
    gen = torch.Generator().manual_seed(plan.seed)
    n, m = problem.n_rows, plan.batch_size
    # Sorted rows: a minibatch of every row is the data set itself, in its own order (SGD with m = n is GD).
    return lambda: torch.randperm(n, generator=gen)[:m].sort().values


def _check_gradients(grads, loss, idx, k: int, plan: _Plan) -> None:
    if all(bool(torch.isfinite(g).all()) for g in grads):
        return
    bad = ~torch.stack([torch.isfinite(g.reshape(g.shape[0], -1)).all(dim=1) for g in grads]).all(dim=0)
    r = int(bad.nonzero()[0])
    raise DivergenceError(plan.eta * k, float(loss[r]), plan.config[idx[r]], f"step {k}: non-finite gradient")


def descend(
    problem,
    weights: Sequence[torch.Tensor],
    eta: float,
    *,
    t_max: float,
    level=None,
    direction: int = -1,
    batch_size: int | None = None,
    seed: int = 0,
    max_loss_ratio: float = MAX_LOSS_RATIO,
    record_every: int | None = None,
    config: Sequence[str] | None = None,
) -> DescentBatchResult:
    """Fixed-step gradient descent (or minibatch SGD) on B parameter sets, to their escapes or ``t_max``.

    Parameters
    ----------
    problem : object
        A problem of the protocol: ``evaluate(params) -> (loss, observable,
        grads)`` on batched parameters (``NetworkBatch``, ``ReducedChain``);
        for SGD also ``observe``, ``rows(index)`` and ``n_rows``.
    weights : list of torch.Tensor
        Batched initial parameters, each ``(B, ...)`` (copied, not modified).
    eta : float
        Step size η (> 0); step k is at flow time ``η k``.
    t_max : float
        Last time (> 0): ``round(t_max / eta)`` steps (at least one).
    level : float or array_like of shape (B,), optional
        A run stops when its observable reaches this level (escape, see the
        module docstring). Without it every run takes every step.
    direction : {-1, +1}, default -1
        −1: the observable falls to the level (a loss threshold); +1: it
        rises to it (a moment threshold).
    batch_size : int, optional
        Minibatch SGD with this many distinct rows per step (1 ≤ m ≤ n);
        default full-batch gradient descent.
    seed : int, default 0
        Seed of the minibatch samples (SGD only).
    max_loss_ratio : float, default :data:`~saddlebook.dynamics.MAX_LOSS_RATIO` (1e6)
        Divergence threshold relative to each run's loss at step 0 (> 1, or
        inf).
    record_every : int, optional
        Keep the full-batch loss and observable every this many steps.
    config : sequence of str, optional
        Description of every run, used in error messages.

    Returns
    -------
    DescentBatchResult

    Raises
    ------
    saddlebook.errors.ParameterError
        Bad parameters (named in the message), before any compute.
    saddlebook.errors.DivergenceError
        A run's loss became non-finite or exceeded ``max_loss_ratio`` × its
        loss at step 0, or its gradient became non-finite; the message names
        the run (``config``) and the step.
    """
    plan = _plan(problem, weights, eta, t_max, level, direction, batch_size, seed, max_loss_ratio, record_every,
                 config)
    start = time.perf_counter()
    w = [p.detach().clone() for p in weights]
    book = _Book(w[0].shape[0], record_every is not None)
    draw = _sampler(problem, plan)
    idx = np.arange(w[0].shape[0])  # original run index of each active row
    with torch.no_grad():
        for k in range(plan.n_steps + 1):
            if draw is None:
                loss, obs, grads = problem.evaluate(w)
            else:
                (loss, obs), grads = problem.observe(w), None
            loss, obs = loss.double().cpu().numpy(), obs.double().cpu().numpy()
            if k == 0:
                loss0, obs0, ref, prev = loss.copy(), obs.copy(), loss.copy(), None
            keep = _stop_reached(book, idx, w, k, loss, obs, ref, prev, plan)
            if not keep.any() or k == plan.n_steps:
                break
            if not keep.all():
                rows = torch.from_numpy(keep.nonzero()[0]).to(w[0].device)
                w = [p.index_select(0, rows) for p in w]
                grads = None if grads is None else [g.index_select(0, rows) for g in grads]
                idx, loss, obs, ref = idx[keep], loss[keep], obs[keep], ref[keep]
            if grads is None:
                grads = problem.rows(draw()).evaluate(w)[2]
            _check_gradients(grads, loss, idx, k, plan)
            for p, g in zip(w, grads):
                p.sub_(g, alpha=plan.eta)
            prev = obs
    return DescentBatchResult(
        t_event=book.t_event,
        steps=book.steps,
        loss0=loss0,
        observable0=obs0,
        final=[torch.stack([book.final[b][i] for b in range(len(book.final))]) for i in range(len(weights))],
        wall_time=time.perf_counter() - start,
        history=book.history(),
    )


def _stop_reached(book: _Book, idx, w, k: int, loss, obs, ref, prev, plan: _Plan) -> np.ndarray:
    """Divergence test, escapes and recording at step k; returns the mask of active rows that go on."""
    bad = diverged(loss, ref, plan.max_loss_ratio)
    if bad.any():
        r = int(bad.nonzero()[0][0])
        raise DivergenceError(plan.eta * k, float(loss[r]), plan.config[idx[r]], _why(loss[r], plan.max_loss_ratio, k))
    done = np.zeros(idx.size, dtype=bool)
    if plan.level is not None:
        lev = plan.level[idx]
        done = (obs - lev) * plan.direction >= 0
        rows = done.nonzero()[0]
        if rows.size:
            # Every active run was short of its level at step k - 1: steps k - 1 and k bracket the crossing.
            when = np.zeros(rows.size) if k == 0 else crossing_time(
                plan.eta * (k - 1), prev[rows], plan.eta * k, obs[rows], lev[rows])
            book.stop(idx, rows, k, w, np.atleast_1d(when))
    last = k == plan.n_steps
    if last:
        book.stop(idx, (~done).nonzero()[0], k, w)
    if book.hist is not None:
        on_grid = k % plan.record_every == 0
        book.record(idx, [r for r in range(idx.size) if on_grid or last or done[r]], plan.eta * k, loss, obs)
    return ~done


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
        First time the loss reaches ``escape_fraction × loss(0)``: the
        :func:`~saddlebook.dynamics._crossing.crossing_time` of the two steps
        that bracket it (the escape definition of
        :mod:`saddlebook.dynamics._crossing`); None if not reached or not
        requested.
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
    max_loss_ratio: float = MAX_LOSS_RATIO,
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
    max_loss_ratio : float, default :data:`~saddlebook.dynamics.MAX_LOSS_RATIO` (1e6)
        Divergence threshold relative to loss(0).

    Returns
    -------
    DescentResult

    Raises
    ------
    saddlebook.errors.ParameterError
        Invalid parameters (named in the message).
    DivergenceError
        Loss non-finite or above ``max_loss_ratio × loss(0)`` (the rule
        :func:`diverged` of :func:`descend` too), or a non-finite gradient.

    Notes
    -----
    The gradient is autograd's on one network (:func:`saddlebook.dynamics.gradient`),
    independent of the hand-written back-propagation of :func:`descend`: this
    is the reference the batched stepper is tested against.
    """
    weights = [w.detach().clone() for w in weights0]
    fn = validated_activation(weights, sigma, x, y, loss)
    lr = V.positive("lr", lr)
    t_max = V.positive("t_max", t_max)
    max_loss_ratio = V.positive("max_loss_ratio", max_loss_ratio, allow_inf=True)
    if not max_loss_ratio > 1:
        raise ParameterError(f"parameter 'max_loss_ratio' must be > 1 (or inf), got {max_loss_ratio!r}")
    fraction = None if escape_fraction is None else V.fraction("escape_fraction", escape_fraction)
    if isinstance(record_every, bool) or not isinstance(record_every, int) or record_every < 1:
        raise ParameterError(f"parameter 'record_every' must be an integer >= 1, got {record_every!r}")
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
        if diverged(value, loss0, max_loss_ratio):
            raise DivergenceError(t, value, config, _why(value, max_loss_ratio, k))
        if fraction is not None and escape_time is None and value <= fraction * loss0:
            escape_time = 0.0 if k == 0 else crossing_time(lr * (k - 1), prev, t, value, fraction * loss0)
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
