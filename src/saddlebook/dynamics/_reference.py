"""Gradient flow of one run by scipy: the independent reference.

:func:`reference_flow` integrates one run (B = 1) of any problem of the
protocol :class:`saddlebook.dynamics.Problem` with
``scipy.integrate.solve_ivp`` on the flattened float64 parameter vector.
:func:`gradient_flow` is :class:`~saddlebook.dynamics.AutogradProblem` (one
network, autograd gradients) driven by it: nothing is shared with the
batched core (:func:`saddlebook.dynamics.integrate`, hand-written batched
gradients) but the loss, so the core is tested against it. Its escape time
is the package's one definition (:mod:`saddlebook.dynamics._crossing`),
located by scipy's event root finding on scipy's dense output.

:func:`gradient` is the single place where autograd loss gradients of one
network are computed (by :func:`~saddlebook.dynamics._problem.loss_and_gradient`);
:mod:`saddlebook.dynamics` and :mod:`saddlebook.theory` reuse it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from scipy.integrate import solve_ivp

from .. import _validate as V
from ..book.counterfactual import current
from ..errors import DivergenceError, ParameterError
from ..nets._activations import Activation, get_activation
from ..nets._losses import check_loss
from ..nets._network import check_shapes
from ._problem import MAX_LOSS_RATIO, AutogradProblem, loss_and_gradient

__all__ = ["gradient", "gradient_flow", "flow_through_escape", "FlowResult", "reference_flow", "ReferenceSolution"]

_METHODS = ("RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA")
_IMPLICIT = ("Radau", "BDF", "LSODA")  # the methods that use the Jacobian of the flow

def validated_activation(weights, sigma, x, y, loss):
    check_loss(loss)
    _, fn = get_activation(sigma)
    check_shapes(list(weights), x, y)
    return fn


def gradient(
    weights: Sequence[torch.Tensor],
    sigma: str | Activation,
    x: torch.Tensor,
    y: torch.Tensor,
    loss: str = "mse",
) -> list[torch.Tensor]:
    """Gradient ∇_W 𝓛 of the mean training loss.

    Parameters
    ----------
    weights : sequence of torch.Tensor
        ``[W_1, …, W_L]``.
    sigma : str or callable
        Activation.
    x : torch.Tensor
        Inputs, shape ``(n, d)``.
    y : torch.Tensor
        Targets, shape ``(n,)`` (or ``(n, n_L)``).
    loss : {"mse", "logistic"}, default "mse"

    Returns
    -------
    list of torch.Tensor
        ``[∇_{W_1} 𝓛, …, ∇_{W_L} 𝓛]``, detached, same shapes/dtype/device as
        the weights.
    """
    fn = validated_activation(weights, sigma, x, y, loss)
    return loss_and_gradient(weights, x, y, fn, loss)[1]


@dataclass
class FlowResult:
    """Trajectory of a gradient-flow integration.

    Attributes
    ----------
    t : numpy.ndarray
        Output times (physical flow time), starting at 0, ending at ``t_max``.
    loss : numpy.ndarray
        Loss at each time in ``t``.
    weights : list of list of torch.Tensor
        Weights at each time in ``t``.
    escape_time : float or None
        First time the loss crosses ``escape_fraction × loss(0)`` downward
        (located by the solver's event root finding), or None.
    nfev : int
        Number of gradient evaluations used by the solver.
    final : list of torch.Tensor
        Weights at ``t_max``.
    """

    t: np.ndarray
    loss: np.ndarray
    weights: list[list[torch.Tensor]]
    escape_time: float | None
    nfev: int
    final: list[torch.Tensor] = field(default_factory=list)


def _default_t_eval(t_max: float) -> np.ndarray:
    # Union of a linear and a logarithmic grid: resolves both the early
    # transient and the long plateau on either kind of time axis.
    lin = np.linspace(0.0, t_max, 201)
    log = np.geomspace(t_max * 1e-4, t_max, 200)
    return np.unique(np.concatenate([lin, log, [0.0, t_max]]))


def _escape_fraction(value) -> float | None:
    # None switches the escape time off; otherwise a fraction of the initial loss.
    return None if value is None else V.fraction("escape_fraction", value)


@dataclass
class ReferenceSolution:
    """Outcome of :func:`reference_flow` (one run).

    Attributes
    ----------
    t : numpy.ndarray
        The output times scipy reached (all of ``t_eval`` unless the run
        stopped at its event).
    states : list of list of torch.Tensor
        The parameters at each time in ``t``, batched (B = 1), float64, on
        the device of ``params0``.
    event_time : float or None
        First crossing of ``event_level`` by the observable (root-found by
        scipy on its dense output), or None.
    event_state : list of torch.Tensor or None
        The parameters at ``event_time``.
    stopped : bool
        True when the run ended at its event (``stop_at_event``).
    nfev : int
        Right-hand-side (gradient) evaluations.
    """

    t: np.ndarray
    states: list[list[torch.Tensor]]
    event_time: float | None
    event_state: list[torch.Tensor] | None
    stopped: bool
    nfev: int


def reference_flow(
    problem,
    params0: Sequence[torch.Tensor],
    t_max: float,
    *,
    t_eval: Sequence[float] | np.ndarray,
    rtol: float = 1e-10,
    atol: float = 1e-12,
    method: str = "DOP853",
    event_level: float | None = None,
    stop_at_event: bool = False,
    max_loss_ratio: float | None = MAX_LOSS_RATIO,
    config: str = "reference_flow",
) -> ReferenceSolution:
    """Integrate θ̇ = −∇𝓛(θ) of one run of a problem with scipy: the independent reference.

    The state is the concatenation of the flattened parameters as a float64
    numpy vector, handed to ``scipy.integrate.solve_ivp``; the problem is
    evaluated on it unflattened to a batch of one run. Nothing but the
    problem is shared with the batched core :func:`saddlebook.dynamics.integrate`.

    Parameters
    ----------
    problem : Problem
        Provides ``evaluate`` and ``observe`` (:class:`saddlebook.dynamics.Problem`).
    params0 : sequence of torch.Tensor
        Initial parameters of one run, each of shape ``(1, ...)``.
    t_max : float
        Final flow time (> 0).
    t_eval : array_like
        Strictly increasing output times in ``[0, t_max]``.
    rtol, atol : float, default 1e-10, 1e-12
        Solver tolerances (> 0).
    method : str, default "DOP853"
        A ``solve_ivp`` method: RK45, RK23, DOP853, Radau, BDF or LSODA.
        The implicit ones (Radau, BDF, LSODA) get the exact Jacobian −∇²𝓛
        when the problem has a ``hessian`` method (as
        :class:`~saddlebook.dynamics.AutogradProblem`) and no counterfactual
        is on; otherwise scipy's finite differences.
    event_level : float, optional
        Level whose downward crossing by the problem's observable is the
        event (a scipy event, evaluated on accepted steps).
    stop_at_event : bool, default False
        End the integration at the event.
    max_loss_ratio : float or None, default :data:`~saddlebook.dynamics.MAX_LOSS_RATIO`
        Divergence threshold on the loss (× its initial value; a terminal
        scipy event); None or inf: no such test.
    config : str, default "reference_flow"
        Description of the run, used in error messages.

    Returns
    -------
    ReferenceSolution

    Raises
    ------
    saddlebook.errors.ParameterError
        Bad ``params0``, ``t_max``, ``t_eval``, tolerances, ``method`` or
        ``stop_at_event``, before any compute.
    DivergenceError
        Non-finite initial loss, loss or gradient; loss above
        ``max_loss_ratio`` × its initial value; or a solver failure.
    """
    opts = _reference_options(params0, t_max, t_eval, rtol, atol, method, event_level, stop_at_event)
    if max_loss_ratio is not None and not V.positive("max_loss_ratio", max_loss_ratio, allow_inf=True) > 1:
        raise ParameterError(f"parameter 'max_loss_ratio' must be > 1, inf or None, got {max_loss_ratio!r}")
    flat = _Flat(problem, params0, config)
    w0 = flat.flatten([p.to(torch.float64) for p in params0])
    loss0 = flat.loss_at(w0)
    if not math.isfinite(loss0):
        raise DivergenceError(0.0, loss0, config, "initial loss is not finite")
    limit = None
    if max_loss_ratio is not None and math.isfinite(max_loss_ratio) and loss0 > 0:
        limit = max_loss_ratio * loss0
    events = flat.events(limit, event_level, stop_at_event)
    jac = {"jac": flat.jacobian} if method in _IMPLICIT and flat.has_jacobian(w0) else {}
    sol = solve_ivp(flat.rhs, (0.0, opts["t_max"]), w0, method=method, t_eval=opts["t_eval"], rtol=opts["rtol"],
                    atol=opts["atol"], events=events or None, dense_output=False, **jac)
    if sol.status == 1 and limit is not None and sol.t_events[0].size:
        raise DivergenceError(float(sol.t_events[0][0]), flat.loss_at(sol.y_events[0][0]), config,
                              f"loss exceeded {max_loss_ratio:g} x loss(0)")
    has_event = event_level is not None
    stopped = sol.status == 1 and stop_at_event and has_event and sol.t_events[-1].size > 0
    if sol.status != 0 and not stopped:
        t_bad = float(sol.t[-1]) if sol.t.size else 0.0
        l_bad = flat.loss_at(sol.y[:, -1]) if sol.t.size else loss0
        raise DivergenceError(t_bad, l_bad, config, f"solver failed: {sol.message}")
    event_time = event_state = None
    if has_event and sol.t_events[-1].size:
        event_time, event_state = float(sol.t_events[-1][0]), flat.unflatten(sol.y_events[-1][0])
    states = [flat.unflatten(sol.y[:, k]) for k in range(sol.t.size)]
    return ReferenceSolution(sol.t, states, event_time, event_state, bool(stopped), int(sol.nfev))


def _reference_options(params0, t_max, t_eval, rtol, atol, method, event_level, stop_at_event) -> dict:
    """The validated options of :func:`reference_flow`."""
    if not params0 or any(not isinstance(p, torch.Tensor) or p.dim() < 1 or p.shape[0] != 1 for p in params0):
        raise ParameterError("parameter 'params0' must be a non-empty list of tensors of shape (1, ...): one run")
    t_max = V.positive("t_max", t_max)
    rtol, atol = V.positive("rtol", rtol), V.positive("atol", atol)
    if method not in _METHODS:
        raise ParameterError(f"parameter 'method' is {method!r}; allowed: {', '.join(_METHODS)}")
    if not isinstance(stop_at_event, bool):
        raise ParameterError(f"parameter 'stop_at_event' must be True or False, got {stop_at_event!r}")
    if stop_at_event and event_level is None:
        raise ParameterError("parameter 'stop_at_event' needs 'event_level' (the event it stops at)")
    t_eval = np.asarray(t_eval, dtype=np.float64)
    if t_eval.ndim != 1 or t_eval.size == 0 or not np.all(np.isfinite(t_eval)):
        raise ParameterError("parameter 't_eval' must be a non-empty 1-D array of finite times")
    if np.any(np.diff(t_eval) <= 0) or t_eval[0] < 0 or t_eval[-1] > t_max:
        raise ParameterError(f"parameter 't_eval' must be strictly increasing within [0, t_max={t_max}]")
    return dict(t_max=t_max, rtol=rtol, atol=atol, t_eval=t_eval)


class _Flat:
    """A problem on the flattened float64 parameter vector of one run (scipy's state)."""

    def __init__(self, problem, params0, config: str) -> None:
        self.problem, self.config = problem, config
        self.device = params0[0].device
        self.shapes = [tuple(p.shape) for p in params0]
        self.sizes = [int(np.prod(s)) for s in self.shapes]

    def unflatten(self, vec: np.ndarray) -> list[torch.Tensor]:
        flat = torch.from_numpy(np.ascontiguousarray(vec, dtype=np.float64)).to(self.device)
        return [p.reshape(s) for p, s in zip(torch.split(flat, self.sizes), self.shapes)]

    @staticmethod
    def flatten(ts: Sequence[torch.Tensor]) -> np.ndarray:
        return torch.cat([t.reshape(-1) for t in ts]).cpu().numpy().astype(np.float64, copy=False)

    def loss_at(self, vec: np.ndarray) -> float:
        return float(self.problem.observe(self.unflatten(vec))[0][0])

    def observable_at(self, vec: np.ndarray) -> float:
        return float(self.problem.observe(self.unflatten(vec))[1][0])

    def rhs(self, t: float, vec: np.ndarray) -> np.ndarray:
        value, _, grads = self.problem.evaluate(self.unflatten(vec))
        out = -self.flatten(grads)
        if not (math.isfinite(float(value[0])) and np.all(np.isfinite(out))):
            raise DivergenceError(t, float(value[0]), self.config, "non-finite loss or gradient")
        return out

    def has_jacobian(self, vec: np.ndarray) -> bool:
        """Whether :meth:`jacobian` is exact here: the problem has a Hessian, no counterfactual bends the
        gradient (the flow is then not −∇𝓛), and the activation passes through torch.func at ``vec``."""
        if not hasattr(self.problem, "hessian") or current() is not None:
            return False
        try:
            return bool(np.all(np.isfinite(self.jacobian(0.0, vec))))
        except Exception:  # e.g. a user's activation that leaves torch (``.item()``, numpy): scipy's differences
            return False

    def jacobian(self, t: float, vec: np.ndarray) -> np.ndarray:
        """−∇²𝓛, the Jacobian of the flow θ̇ = −∇𝓛(θ)."""
        return -self.problem.hessian(self.unflatten(vec)).cpu().numpy()

    def events(self, limit: float | None, level: float | None, stop: bool) -> list:
        """scipy events: the loss-ratio divergence (if ``limit``), then the observable's crossing (if ``level``)."""
        events = []
        # Divergence is an event (evaluated on accepted steps only): a rejected trial stage cannot raise a false alarm.
        if limit is not None:

            def blowup(t, vec):
                return self.loss_at(vec) - limit

            blowup.terminal = True
            blowup.direction = 1
            events.append(blowup)
        if level is not None:

            def crossing(t, vec):
                return self.observable_at(vec) - level

            crossing.terminal = stop
            crossing.direction = -1
            events.append(crossing)
        return events


def gradient_flow(
    weights0: Sequence[torch.Tensor],
    sigma: str | Activation,
    x: torch.Tensor,
    y: torch.Tensor,
    t_max: float,
    *,
    loss: str = "mse",
    t_eval: Sequence[float] | np.ndarray | None = None,
    rtol: float = 1e-10,
    atol: float = 1e-12,
    method: str = "DOP853",
    escape_fraction: float | None = None,
    stop_at_escape: bool = False,
) -> FlowResult:
    """Integrate gradient flow Ẇ = −∇_W 𝓛 from ``weights0`` up to ``t_max``: the independent reference.

    One network, autograd gradients (:class:`~saddlebook.dynamics.AutogradProblem`)
    and scipy's ``solve_ivp`` (:func:`reference_flow`): nothing is shared
    with the batched core (:func:`saddlebook.dynamics.integrate`,
    :func:`saddlebook.dynamics.descend`) but the loss, so the core is tested
    against it.

    Parameters
    ----------
    weights0 : sequence of torch.Tensor
        Initial weights ``[W_1, …, W_L]``.
    sigma : str or callable
        Activation.
    x : torch.Tensor
        Inputs, shape ``(n, d)``.
    y : torch.Tensor
        Targets, shape ``(n,)`` (or ``(n, n_L)``).
    t_max : float
        Final flow time (> 0).
    loss : {"mse", "logistic"}, default "mse"
    t_eval : array_like, optional
        Increasing output times in ``[0, t_max]``. Default: ≈400 points, the
        union of a linear grid and a log grid on ``[1e-4 t_max, t_max]``,
        including 0 and ``t_max``.
    rtol, atol : float, default 1e-10, 1e-12
        Solver tolerances (> 0).
    method : str, default "DOP853"
        A ``scipy.integrate.solve_ivp`` method: RK45, RK23, DOP853, Radau,
        BDF or LSODA.
    escape_fraction : float, optional
        If given (in (0, 1)), record the first time the loss falls to
        ``escape_fraction × loss(0)`` as ``escape_time``.
    stop_at_escape : bool, default False
        With ``escape_fraction``: end the integration at the escape time
        instead of ``t_max`` (an escape-time measurement then costs nothing
        after the escape). The returned trajectory ends with the escape point
        and ``final`` is the state there; if there is no escape before
        ``t_max`` the run ends at ``t_max`` as usual.

    Returns
    -------
    FlowResult

    Raises
    ------
    saddlebook.errors.ParameterError
        Invalid parameters (named in the message).
    DivergenceError
        The loss or gradient became non-finite, the loss exceeded
        :data:`~saddlebook.dynamics.MAX_LOSS_RATIO` × loss(0) (the package's
        divergence rule, shared with :func:`~saddlebook.dynamics.integrate`),
        or the solver failed.

    Notes
    -----
    The state is the concatenation of the flattened weights as a float64
    numpy vector; gradients are computed in float64 on the device of
    ``weights0``. Returned weights have the dtype/device of ``weights0``.

    The escape time is the package's one definition
    (:mod:`saddlebook.dynamics._crossing`: the first time the loss reaches
    the level, on the solver's continuous extension), located by scipy: a
    ``solve_ivp`` event, root-found on scipy's dense output of the step.
    """
    weights0 = list(weights0)
    validated_activation(weights0, sigma, x, y, loss)
    opts = _flow_options(t_max, rtol, atol, method, escape_fraction, stop_at_escape, t_eval)
    t_max, fraction = opts["t_max"], opts["fraction"]
    config = f"gradient_flow(method={method}, loss={loss}, t_max={t_max:g})"
    problem = AutogradProblem(sigma, x, y, loss)
    params0 = [w.to(torch.float64)[None] for w in weights0]
    loss0 = float(problem.observe(params0)[0][0])
    if not math.isfinite(loss0):
        raise DivergenceError(0.0, loss0, config, "initial loss is not finite")
    level = fraction * loss0 if fraction is not None and loss0 > 0 else None
    sol = reference_flow(problem, params0, t_max, t_eval=opts["t_eval"], rtol=opts["rtol"], atol=opts["atol"],
                         method=method, event_level=level, stop_at_event=stop_at_escape and level is not None,
                         config=config)
    escape_time = None
    if fraction is not None:
        escape_time = 0.0 if loss0 == 0 else sol.event_time
    return _flow_result(sol, problem, weights0[0].dtype, opts["extended"], escape_time)


def _flow_options(t_max, rtol, atol, method, escape_fraction, stop_at_escape, t_eval) -> dict:
    """The validated options of :func:`gradient_flow`, and its output grid (extended to reach ``t_max``)."""
    t_max = V.positive("t_max", t_max)
    rtol = V.positive("rtol", rtol)
    atol = V.positive("atol", atol)
    fraction = _escape_fraction(escape_fraction)
    if not isinstance(stop_at_escape, bool):
        raise ParameterError(f"parameter 'stop_at_escape' must be True or False, got {stop_at_escape!r}")
    if stop_at_escape and fraction is None:
        raise ParameterError("parameter 'stop_at_escape' needs 'escape_fraction' (the escape it stops at)")
    if method not in _METHODS:
        raise ParameterError(f"parameter 'method' is {method!r}; allowed: {', '.join(_METHODS)}")
    if t_eval is None:
        t_eval = _default_t_eval(t_max)
    else:
        t_eval = np.asarray(t_eval, dtype=np.float64)
        if t_eval.ndim != 1 or t_eval.size == 0 or not np.all(np.isfinite(t_eval)):
            raise ParameterError("parameter 't_eval' must be a non-empty 1-D array of finite times")
        if np.any(np.diff(t_eval) <= 0) or t_eval[0] < 0 or t_eval[-1] > t_max:
            raise ParameterError(f"parameter 't_eval' must be strictly increasing within [0, t_max={t_max}]")
    # The solver must reach t_max so that `final` is the state at t_max.
    extended = bool(t_eval[-1] < t_max)
    if extended:
        t_eval = np.append(t_eval, t_max)
    return dict(t_max=t_max, rtol=rtol, atol=atol, fraction=fraction, t_eval=t_eval, extended=extended)


def _flow_result(sol: ReferenceSolution, problem, out_dtype, extended: bool, escape_time) -> FlowResult:
    if sol.stopped:
        # The solver stopped inside the grid: the trajectory ends at the escape point.
        ts = np.append(sol.t, sol.event_time)
        states = sol.states + [sol.event_state]
    else:
        keep = slice(0, -1) if extended else slice(None)
        ts, states = sol.t[keep], sol.states[keep]
    final = [p[0].to(out_dtype) for p in (sol.event_state if sol.stopped else sol.states[-1])]
    losses = np.array([float(problem.observe(s)[0][0]) for s in states])
    return FlowResult(
        t=np.asarray(ts, dtype=np.float64),
        loss=losses,
        weights=[[p[0].to(out_dtype) for p in s] for s in states],
        escape_time=escape_time,
        nfev=sol.nfev,
        final=final,
    )


def flow_through_escape(
    weights0: Sequence[torch.Tensor],
    sigma: str | Activation,
    x: torch.Tensor,
    y: torch.Tensor,
    t_guess: float,
    *,
    escape_fraction: float = 0.5,
    end=None,
    t_eval=None,
    max_doublings: int = 40,
    **kwargs,
) -> FlowResult:
    """Gradient flow from ``weights0`` through its escape and on to a time set by τ.

    The end of a plotted trajectory should scale with the escape time τ,
    which is not known in advance. This locates τ first (a run that stops at
    the escape, its horizon doubled from ``t_guess`` until the escape
    happens, so nothing is spent past τ), then integrates once from the
    start to ``end(τ)``.

    Parameters
    ----------
    weights0, sigma, x, y
        As :func:`gradient_flow`.
    t_guess : float
        First horizon of the search for τ (> 0); a guess of the order of τ.
    escape_fraction : float, default 0.5
        Escape threshold, as in :func:`gradient_flow`.
    end : callable, optional
        ``end(tau) -> t_end`` with ``t_end > tau``; default ``2 tau``.
    t_eval : callable, optional
        ``t_eval(t_end) -> grid`` of output times in ``[0, t_end]``; default
        the grid of :func:`gradient_flow`.
    max_doublings : int, default 40
        Give up after this many doublings of the horizon.
    **kwargs
        Passed to both :func:`gradient_flow` calls (``rtol``, ``atol``,
        ``method``, ``loss``, ...).

    Returns
    -------
    FlowResult
        The run to ``end(τ)``; its ``escape_time`` is τ located again on
        that run.

    Raises
    ------
    saddlebook.errors.ParameterError
        Bad ``t_guess``, ``end`` or ``max_doublings`` (named in the message).
    RuntimeError
        No escape within ``t_guess · 2^max_doublings``.
    """
    t_max = V.positive("t_guess", t_guess)
    if isinstance(max_doublings, bool) or not isinstance(max_doublings, int) or max_doublings < 0:
        raise ParameterError(f"parameter 'max_doublings' must be an integer >= 0, got {max_doublings!r}")
    for _ in range(max_doublings + 1):
        probe = gradient_flow(weights0, sigma, x, y, t_max, t_eval=[0.0, t_max], escape_fraction=escape_fraction,
                              stop_at_escape=True, **kwargs)
        if probe.escape_time is not None:
            break
        t_max *= 2.0
    else:
        raise RuntimeError(f"flow_through_escape: no escape by t = {t_max / 2:g} (t_guess = {t_guess:g})")
    tau = probe.escape_time
    t_end = float(end(tau)) if end is not None else 2.0 * tau
    if not (math.isfinite(t_end) and t_end > tau):
        raise ParameterError(f"parameter 'end' must map tau = {tau:g} to a finite time after it, got {t_end!r}")
    grid = None if t_eval is None else t_eval(t_end)
    return gradient_flow(weights0, sigma, x, y, t_end, t_eval=grid, escape_fraction=escape_fraction, **kwargs)
