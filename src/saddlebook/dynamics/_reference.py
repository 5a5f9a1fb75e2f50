"""Gradient flow Ẇ = −∇_W 𝓛 of one network by scipy: the independent reference.

:func:`gradient_flow` integrates one network with autograd gradients and
``scipy.integrate.solve_ivp``, independently of the batched core
(:func:`saddlebook.dynamics.integrate`), which is tested against it. Its
escape time is the package's one definition
(:mod:`saddlebook.dynamics._crossing`), located by scipy's event root finding
on scipy's dense output.

:func:`gradient` is the single place where autograd loss gradients are
computed; :mod:`saddlebook.dynamics` and :mod:`saddlebook.theory` reuse it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from scipy.integrate import solve_ivp

from ..book.counterfactual import bend_gradients
from ..errors import DivergenceError, ParameterError
from ..nets._activations import Activation, get_activation
from ..nets._losses import check_loss, loss_unchecked
from ..nets._network import check_shapes, network_output, preactivations_unchecked

__all__ = ["gradient", "gradient_flow", "flow_through_escape", "FlowResult"]

_METHODS = ("RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA")


def loss_and_gradient(
    weights: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor, fn: Activation, loss: str
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    # Unchecked core: loss value and ∇_W 𝓛 by autograd on detached leaves.
    leaves = [w.detach().requires_grad_(True) for w in weights]
    with torch.enable_grad():
        value = loss_unchecked(network_output(preactivations_unchecked(leaves, x, fn)), y, loss)
        grads = torch.autograd.grad(value, leaves)
    grads = bend_gradients([g.detach() for g in grads], lambda: min(float(w.norm()) for w in weights))
    return value.detach(), grads


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


def check_positive(name: str, value, allow_inf: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ParameterError(f"parameter '{name}' must be a positive real number, got {value!r}")
    value = float(value)
    if not (value > 0) or (not allow_inf and not math.isfinite(value)):
        raise ParameterError(f"parameter '{name}' must be finite and > 0, got {value!r}")
    return value


def check_fraction(escape_fraction) -> float | None:
    if escape_fraction is None:
        return None
    f = check_positive("escape_fraction", escape_fraction)
    if not f < 1:
        raise ParameterError(f"parameter 'escape_fraction' must lie in (0, 1), got {escape_fraction!r}")
    return f


def gradient_flow(
    weights0: Sequence[torch.Tensor],
    sigma: str | Activation,
    x: torch.Tensor,
    y: torch.Tensor,
    t_max: float,
    loss: str = "mse",
    t_eval: Sequence[float] | np.ndarray | None = None,
    rtol: float = 1e-10,
    atol: float = 1e-12,
    method: str = "DOP853",
    escape_fraction: float | None = None,
    max_loss_ratio: float = 1e6,
    stop_at_escape: bool = False,
) -> FlowResult:
    """Integrate gradient flow Ẇ = −∇_W 𝓛 from ``weights0`` up to ``t_max``: the independent reference.

    One network, autograd gradients and scipy's ``solve_ivp``: nothing is
    shared with the batched core (:func:`saddlebook.dynamics.integrate`,
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
    max_loss_ratio : float, default 1e6
        Divergence threshold: loss above ``max_loss_ratio × loss(0)``.
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
        ``max_loss_ratio × loss(0)``, or the solver failed.

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
    fn = validated_activation(weights0, sigma, x, y, loss)
    opts = _flow_options(t_max, rtol, atol, method, escape_fraction, max_loss_ratio, stop_at_escape, t_eval)
    t_max, fraction = opts["t_max"], opts["fraction"]
    flat = _FlatLoss(weights0, x, y, fn, loss, f"gradient_flow(method={method}, loss={loss}, t_max={t_max:g})")
    w0 = flat.flatten([w.to(torch.float64) for w in weights0])
    loss0 = flat.loss_at(w0)
    if not math.isfinite(loss0):
        raise DivergenceError(0.0, loss0, flat.config, "initial loss is not finite")
    blowup = math.isfinite(opts["max_loss_ratio"]) and loss0 > 0
    events = _flow_events(flat, loss0, opts["max_loss_ratio"] if blowup else None,
                          fraction if loss0 > 0 else None, stop_at_escape)
    sol = solve_ivp(flat.rhs, (0.0, t_max), w0, method=method, t_eval=opts["t_eval"], rtol=opts["rtol"],
                    atol=opts["atol"], events=events or None, dense_output=False)
    if sol.status == 1 and blowup and sol.t_events[0].size:
        raise DivergenceError(float(sol.t_events[0][0]), flat.loss_at(sol.y_events[0][0]), flat.config,
                              f"loss exceeded {opts['max_loss_ratio']:g} x loss(0)")
    stopped = sol.status == 1 and stop_at_escape and fraction is not None and sol.t_events[-1].size > 0
    if sol.status != 0 and not stopped:
        t_bad = float(sol.t[-1]) if sol.t.size else 0.0
        l_bad = flat.loss_at(sol.y[:, -1]) if sol.t.size else loss0
        raise DivergenceError(t_bad, l_bad, flat.config, f"solver failed: {sol.message}")
    escape_time = None
    if fraction is not None:
        if loss0 == 0:
            escape_time = 0.0
        else:
            t_esc = sol.t_events[-1]
            escape_time = float(t_esc[0]) if t_esc.size else None
    return _flow_result(sol, flat, weights0[0].dtype, stopped, opts["extended"], escape_time)


def _flow_options(t_max, rtol, atol, method, escape_fraction, max_loss_ratio, stop_at_escape, t_eval) -> dict:
    """The validated options of :func:`gradient_flow`, and its output grid (extended to reach ``t_max``)."""
    t_max = check_positive("t_max", t_max)
    rtol = check_positive("rtol", rtol)
    atol = check_positive("atol", atol)
    max_loss_ratio = check_positive("max_loss_ratio", max_loss_ratio, allow_inf=True)
    if not max_loss_ratio > 1:
        raise ParameterError(f"parameter 'max_loss_ratio' must be > 1 (or inf), got {max_loss_ratio!r}")
    fraction = check_fraction(escape_fraction)
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
    return dict(t_max=t_max, rtol=rtol, atol=atol, max_loss_ratio=max_loss_ratio, fraction=fraction,
                t_eval=t_eval, extended=extended)


class _FlatLoss:
    """The loss and its gradient flow on the flattened float64 weight vector (scipy's state)."""

    def __init__(self, weights0, x, y, fn, loss: str, config: str) -> None:
        self.x64, self.y64 = x.to(torch.float64), y.to(torch.float64)
        self.fn, self.loss, self.config = fn, loss, config
        self.device = weights0[0].device
        self.shapes = [tuple(w.shape) for w in weights0]
        self.sizes = [int(np.prod(s)) for s in self.shapes]

    def unflatten(self, vec: np.ndarray) -> list[torch.Tensor]:
        flat = torch.from_numpy(np.ascontiguousarray(vec, dtype=np.float64)).to(self.device)
        return [p.reshape(s) for p, s in zip(torch.split(flat, self.sizes), self.shapes)]

    @staticmethod
    def flatten(ts: Sequence[torch.Tensor]) -> np.ndarray:
        return torch.cat([t.reshape(-1) for t in ts]).cpu().numpy().astype(np.float64, copy=False)

    def loss_at(self, vec: np.ndarray) -> float:
        with torch.no_grad():
            out = network_output(preactivations_unchecked(self.unflatten(vec), self.x64, self.fn))
            return float(loss_unchecked(out, self.y64, self.loss))

    def rhs(self, t: float, vec: np.ndarray) -> np.ndarray:
        value, grads = loss_and_gradient(self.unflatten(vec), self.x64, self.y64, self.fn, self.loss)
        out = -self.flatten(grads)
        if not (math.isfinite(float(value)) and np.all(np.isfinite(out))):
            raise DivergenceError(t, float(value), self.config, "non-finite loss or gradient")
        return out


def _flow_events(flat: _FlatLoss, loss0: float, max_loss_ratio, fraction, stop_at_escape: bool) -> list:
    """scipy events: the loss-ratio divergence (if ``max_loss_ratio``), then the escape (if ``fraction``)."""
    events = []
    # Divergence is an event (evaluated on accepted steps only), so a rejected trial stage cannot raise a false alarm.
    if max_loss_ratio is not None:
        limit = max_loss_ratio * loss0

        def blowup(t, vec):
            return flat.loss_at(vec) - limit

        blowup.terminal = True
        blowup.direction = 1
        events.append(blowup)
    if fraction is not None:
        target = fraction * loss0

        def escape(t, vec):
            return flat.loss_at(vec) - target

        escape.terminal = stop_at_escape
        escape.direction = -1
        events.append(escape)
    return events


def _flow_result(sol, flat: _FlatLoss, out_dtype, stopped: bool, extended: bool, escape_time) -> FlowResult:
    if stopped:
        # The solver stopped inside the grid: the trajectory ends at the escape point.
        y_esc = sol.y_events[-1][0]
        ts = np.append(sol.t, sol.t_events[-1][0])
        ys = np.concatenate([sol.y, y_esc[:, None]], axis=1)
        final = [w.to(out_dtype) for w in flat.unflatten(y_esc)]
    else:
        final = [w.to(out_dtype) for w in flat.unflatten(sol.y[:, -1])]
        keep = slice(0, -1) if extended else slice(None)
        ts, ys = sol.t[keep], sol.y[:, keep]
    losses = np.array([flat.loss_at(ys[:, k]) for k in range(ts.size)])
    snapshots = [[w.to(out_dtype) for w in flat.unflatten(ys[:, k])] for k in range(ts.size)]
    return FlowResult(
        t=np.asarray(ts, dtype=np.float64),
        loss=losses,
        weights=snapshots,
        escape_time=escape_time,
        nfev=int(sol.nfev),
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
    t_max = check_positive("t_guess", t_guess)
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
