"""Gradient flow on the symmetric manifold as a low-dimensional ODE.

In the reduced coordinates of :mod:`saddlebook.geometry` a network of width
N on the manifold computes the *scalar chain*

.. math:: h_1 = w\\cdot x/\\sqrt N,\\quad h_\\ell = y_\\ell\\,\\sigma(h_{\\ell-1})\\ (1<\\ell<L),
          \\quad \\hat y = \\sqrt N\\, y_L\\, \\sigma(h_{L-1}),

and, because the coordinates are an isometry onto the manifold, full-network
gradient flow restricted to it is exactly gradient flow of
𝓛(w, y) = ½ Σ_i π_i (ŷ_i − y_i)² in (w, y_2, …, y_L). Time is the same
physical flow time as for the full network. To leading order near the
origin ŷ ≈ α^{L−1} (Π_ℓ y_ℓ)(w·x) with α = σ'(0): the width N cancels.

Population expectations: for x ~ N(0, I) and a teacher that depends on x
only through v·x, and a first-layer row w parallel to v, every expectation
is a one-dimensional Gaussian integral; :func:`quadrature_data` returns
Gauss–Hermite nodes ξ_k v̂ and weights π_k that make it exact to round-off
for smooth integrands.

Closed forms (derived in chapter 04): with all L layers balanced at scale ε
and w ∥ v, the leading-order scalar ODE ẏ = α^{L−1} Γ y^{L−1} blows up at
t* = ε^{−(L−2)} / ((L−2) α^{L−1} Γ) (:func:`blowup_time`), and the critical-
depth law uses ∫_ε^ϑ y^{−(r−1)} dy (:func:`critical_depth_integral`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from scipy.special import roots_hermitenorm

from .. import _validate as V
from ..book.counterfactual import bend_gradients
from ..data import moment
from ..data._synthetic import LinearTeacher, SingleIndexTeacher
from ..dynamics._reference import reference_flow
from ..errors import ParameterError
from ..nets import Activation, activation_pair

__all__ = [
    "quadrature_data",
    "ReducedChain",
    "reduced_flow",
    "ReducedTrajectory",
    "blowup_time",
    "balanced_scalar",
    "critical_depth_integral",
    "population_chain",
    "descent_states",
    "stable_horizon",
    "noise_amplification",
]


def quadrature_data(teacher, n_nodes: int = 160) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gauss–Hermite data set that represents the population x ~ N(0, I).

    Parameters
    ----------
    teacher : LinearTeacher or SingleIndexTeacher
        Target depending on x only through v·x.
    n_nodes : int, default 160
        Number of Gauss–Hermite nodes (≥ 2).

    Returns
    -------
    x : torch.Tensor
        Shape ``(n_nodes, d)``: rows ξ_k v̂ with v̂ = v/‖v‖.
    y : torch.Tensor
        Teacher values at those rows.
    weights : torch.Tensor
        Probability weights π_k (sum 1) of the standard normal rule.

    Notes
    -----
    Σ_k π_k F(ξ_k v̂) = E[F(x)] for every F that depends on x only through
    v̂·x (exactly for polynomials of degree < 2·n_nodes). Network expectations
    on the symmetric manifold are of this form when the first-layer row is
    parallel to v̂.
    """
    if not isinstance(teacher, (LinearTeacher, SingleIndexTeacher)):
        raise ParameterError(
            f"quadrature needs a LinearTeacher or SingleIndexTeacher, got {type(teacher).__name__}"
        )
    if isinstance(n_nodes, bool) or not isinstance(n_nodes, int) or n_nodes < 2:
        raise ParameterError(f"parameter 'n_nodes' = {n_nodes!r} must be an integer >= 2")
    nodes, weights = roots_hermitenorm(n_nodes)
    v = teacher.v.to(torch.float64)
    vhat = v / v.norm()
    x = torch.as_tensor(nodes, dtype=torch.float64)[:, None] * vhat[None, :]
    pi = torch.as_tensor(weights / weights.sum(), dtype=torch.float64)
    return x, teacher(x).to(torch.float64), pi


class ReducedChain:
    """Batched loss and gradient of the scalar chain in reduced coordinates.

    Parameters
    ----------
    sigma : str or callable
        Activation.
    x : torch.Tensor
        Inputs, shape ``(n, d)`` (a sample, or :func:`quadrature_data`).
    y : torch.Tensor
        Targets, shape ``(n,)``.
    width : int
        Hidden width N of the full network being reduced (≥ 1).
    sample_weights : torch.Tensor, optional
        π, default ``1/n`` each.
    observable : {"loss", "moment"}, default "loss"
        As in :class:`saddlebook.dynamics.NetworkBatch`.

    Notes
    -----
    Parameters are the list ``[w, y_2, …, y_L]`` with ``w`` of shape
    ``(B, d)`` and each ``y_ℓ`` of shape ``(B,)``; gradients are by hand.
    """

    def __init__(self, sigma, x, y, width: int, sample_weights=None, observable: str = "loss") -> None:
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ParameterError(f"parameter 'width' = {width!r} must be an integer >= 1")
        if observable not in ("loss", "moment"):
            raise ParameterError(f"parameter 'observable' = {observable!r}; allowed: loss, moment")
        # The same data checks as NetworkBatch: the two problems describe one network.
        if not isinstance(x, torch.Tensor) or x.dim() != 2:
            raise ParameterError("parameter 'x' must be a 2-D tensor of shape (n, d)")
        if not isinstance(y, torch.Tensor) or tuple(y.shape) != (x.shape[0],):
            raise ParameterError(f"parameter 'y' must be a tensor of shape ({x.shape[0]},)")
        n = x.shape[0]
        pi = torch.full((n,), 1.0 / n, dtype=torch.float64) if sample_weights is None else sample_weights
        if not isinstance(pi, torch.Tensor) or tuple(pi.shape) != (n,) or bool((pi < 0).any()):
            raise ParameterError(f"parameter 'sample_weights' must be a non-negative tensor of shape ({n},)")
        self.name, self.pair = activation_pair(sigma)
        self.root = math.sqrt(width)
        self.observable = observable
        self._data = {torch.float64: (x.to(torch.float64), y.to(torch.float64), pi.to(torch.float64))}

    def data(self, dtype, device="cpu"):
        """``(x, y, π)`` in ``dtype`` on ``device`` (cached)."""
        key = dtype if torch.device(device).type == "cpu" else (dtype, str(device))
        if key not in self._data:
            self._data[key] = tuple(t.to(device=device, dtype=dtype) for t in self._data[torch.float64])
        return self._data[key]

    def _forward(self, params):
        x, _, _ = self.data(params[0].dtype, params[0].device)
        h = (params[0] @ x.T) / self.root  # (B, n)
        acts, slopes = [], []
        for yl in params[1:]:
            a, s = self.pair(h)
            acts.append(a)
            slopes.append(s)
            h = yl[:, None] * a
        return h * self.root, acts, slopes

    def _obs(self, out, loss):
        if self.observable == "loss":
            return loss
        x, _, pi = self.data(out.dtype, out.device)
        return torch.linalg.vector_norm(moment(x, out, pi, dtype=out.dtype), dim=1)

    def observe(self, params):
        """Loss and observable, shapes ``(B,)``."""
        out, _, _ = self._forward(params)
        _, y, pi = self.data(out.dtype, out.device)
        loss = 0.5 * (((out - y) ** 2) * pi).sum(-1)  # not `@ pi`: a matrix-vector product's rounding depends on B
        return loss, self._obs(out, loss)

    def evaluate(self, params):
        """Loss, observable and gradient ``[∂𝓛/∂w, ∂𝓛/∂y_2, …, ∂𝓛/∂y_L]``."""
        out, acts, slopes = self._forward(params)
        x, y, pi = self.data(out.dtype, out.device)
        resid = out - y
        loss = 0.5 * (resid * resid * pi).sum(-1)
        g = resid * pi * self.root  # ∂𝓛/∂h_L with h_L = ŷ/√N
        grads = [None] * len(params)
        for k in range(len(params) - 1, 0, -1):
            grads[k] = (g * acts[k - 1]).sum(dim=1)
            g = g * params[k][:, None] * slopes[k - 1]
        grads[0] = (g @ x) / self.root
        # ‖W_1‖ = ‖w‖ and ‖W_ℓ‖ = |y_ℓ| on the manifold: the same norms the full network uses.
        grads = bend_gradients(
            grads,
            lambda: torch.stack([params[0].norm(dim=1)] + [p.abs() for p in params[1:]]).amin(0),
            full_network=False,
        )
        return loss, self._obs(out, loss), grads


@dataclass
class ReducedTrajectory:
    """Trajectory of :func:`reduced_flow`.

    Attributes
    ----------
    t : numpy.ndarray
        Output times (flow time).
    loss : numpy.ndarray
        Loss at each time.
    w : numpy.ndarray
        First-layer reduced row, shape ``(T, d)``.
    y : numpy.ndarray
        Layer scales y_2, …, y_L, shape ``(T, L−1)``.
    nfev : int
        Right-hand-side evaluations.
    """

    t: np.ndarray
    loss: np.ndarray
    w: np.ndarray
    y: np.ndarray
    nfev: int

    @property
    def scales(self) -> np.ndarray:
        """Layer norms ``‖W_ℓ‖_F`` of the full network, shape ``(T, L)``: ‖w‖, ``|y_2|``, …"""
        return np.column_stack([np.linalg.norm(self.w, axis=1), np.abs(self.y)])


def reduced_flow(
    w0: torch.Tensor,
    y0: Sequence[float] | torch.Tensor,
    sigma: str | Activation,
    x: torch.Tensor,
    y: torch.Tensor,
    width: int,
    t_eval: Sequence[float] | np.ndarray,
    sample_weights: torch.Tensor | None = None,
    rtol: float = 1e-11,
    atol: float = 1e-15,
) -> ReducedTrajectory:
    """Integrate the reduced ODE with scipy (DOP853) and report a trajectory.

    :class:`ReducedChain` driven by the independent reference integrator
    :func:`saddlebook.dynamics.reference_flow` (scipy ``solve_ivp``).

    Parameters
    ----------
    w0 : torch.Tensor
        Initial first-layer reduced row, shape ``(d,)`` (``‖w0‖ = ‖W_1‖_F``).
    y0 : sequence of float
        Initial y_2, …, y_L.
    sigma : str or callable
        Activation.
    x, y : torch.Tensor
        Data, shapes ``(n, d)`` and ``(n,)``.
    width : int
        Width N of the full network.
    t_eval : array_like
        Increasing output times starting at ≥ 0; the last is the final time.
    sample_weights : torch.Tensor, optional
        π (default uniform).
    rtol, atol : float, default 1e-11, 1e-15
        Solver tolerances.

    Returns
    -------
    ReducedTrajectory

    Raises
    ------
    saddlebook.errors.ParameterError
        Bad ``t_eval``, ``width`` or tolerances.
    DivergenceError
        If the solver fails or the loss or gradient becomes non-finite.
    """
    chain = ReducedChain(sigma, x, y, width, sample_weights)
    w0 = torch.as_tensor(w0, dtype=torch.float64).reshape(-1)
    y0 = torch.as_tensor(y0, dtype=torch.float64).reshape(-1)
    t_eval = np.asarray(t_eval, dtype=np.float64)
    if t_eval.ndim != 1 or t_eval.size < 1 or np.any(np.diff(t_eval) <= 0) or t_eval[0] < 0:
        raise ParameterError("parameter 't_eval' must be a strictly increasing 1-D array of times >= 0")
    params0 = [w0[None, :]] + [v.reshape(1) for v in y0]
    # No divergence test, as always here: the reduced flow's loss only falls.
    sol = reference_flow(chain, params0, float(t_eval[-1]), t_eval=t_eval, rtol=rtol, atol=atol, method="DOP853",
                         max_loss_ratio=None, config="reduced_flow")
    losses = np.array([float(chain.observe(s)[0][0]) for s in sol.states])
    w = np.array([s[0][0].numpy() for s in sol.states]).reshape(sol.t.size, w0.numpy().size)
    ys = np.array([[float(v[0]) for v in s[1:]] for s in sol.states]).reshape(sol.t.size, y0.numel())
    return ReducedTrajectory(t=sol.t, loss=losses, w=w, y=ys, nfev=sol.nfev)


def _positive(name, v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)) or not (math.isfinite(v) and v > 0):
        raise ParameterError(f"parameter '{name}' = {v!r} must be a finite real number > 0")
    return float(v)


def blowup_time(eps: float, depth: int, alpha: float, gamma: float) -> float:
    """Blow-up time t* = ε^{−(L−2)} / ((L−2) α^{L−1} Γ) of the balanced scalar ODE.

    Parameters
    ----------
    eps : float
        Common initial layer scale ε > 0 (every ``‖W_ℓ‖_F`` and ``|y_ℓ|``).
    depth : int
        L ≥ 3 (for L = 2 the leading-order time is logarithmic, not a pole).
    alpha : float
        σ'(0) > 0.
    gamma : float
        Γ = ‖E[y x]‖ > 0, with the first-layer row along E[y x].

    Returns
    -------
    float
        Flow time at which the leading-order solution of ẏ = α^{L−1}Γy^{L−1},
        y(0) = ε, diverges.
    """
    eps, alpha, gamma = _positive("eps", eps), _positive("alpha", alpha), _positive("gamma", gamma)
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 3:
        raise ParameterError(f"parameter 'depth' = {depth!r} must be an integer >= 3")
    return eps ** (-(depth - 2)) / ((depth - 2) * alpha ** (depth - 1) * gamma)


def balanced_scalar(t, eps: float, depth: int, alpha: float, gamma: float) -> np.ndarray:
    """Leading-order balanced layer scale y(t) = (ε^{−(L−2)} − (L−2)α^{L−1}Γt)^{−1/(L−2)}.

    Parameters
    ----------
    t : array_like
        Flow times; entries at or beyond :func:`blowup_time` give ``inf``.
    eps, depth, alpha, gamma
        As in :func:`blowup_time`.

    Returns
    -------
    numpy.ndarray
        y(t), same shape as ``t``.
    """
    tstar = blowup_time(eps, depth, alpha, gamma)
    t = np.asarray(t, dtype=np.float64)
    rest = np.clip(1.0 - t / tstar, 0.0, None) * eps ** (-(depth - 2))
    with np.errstate(divide="ignore"):
        return np.where(rest > 0, rest ** (-1.0 / (depth - 2)), np.inf)


def critical_depth_integral(eps, theta: float, r: int):
    """The critical-depth integral ∫_ε^ϑ y^{−(r−1)} dy.

    Parameters
    ----------
    eps : float or array_like
        Lower limit(s) ε, each in (0, ϑ].
    theta : float
        Upper limit ϑ > 0 (the scale at which escape completes).
    r : int
        Number of bottleneck layers (≥ 1).

    Returns
    -------
    float or numpy.ndarray
        ϑ − ε (r = 1), ln(ϑ/ε) (r = 2), (ε^{−(r−2)} − ϑ^{−(r−2)})/(r−2) (r ≥ 3).
        E.g. ε = 0.01, ϑ = 0.1 gives 0.09, 2.303, 90, 4950 for r = 1…4.
    """
    theta = _positive("theta", theta)
    if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r < 1:
        raise ParameterError(f"parameter 'r' = {r!r} must be an integer >= 1")
    e = np.asarray(eps, dtype=np.float64)
    if not np.all(np.isfinite(e)) or np.any(e <= 0) or np.any(e > theta):
        raise ParameterError(f"parameter 'eps' must lie in (0, theta={theta:g}], got {eps!r}")
    if r == 1:
        out = theta - e
    elif r == 2:
        out = np.log(theta / e)
    else:
        out = (e ** (-(r - 2)) - theta ** (-(r - 2))) / (r - 2)
    return float(out) if np.ndim(out) == 0 else out


def population_chain(sigma, teacher, width: int, n_nodes: int = 160, observable: str = "loss") -> ReducedChain:
    """The L-dimensional reduced chain of the population loss.

    Parameters
    ----------
    sigma : str or callable
        Activation.
    teacher : LinearTeacher or SingleIndexTeacher
        Target depending on x only through v·x, x ~ N(0, I_d).
    width : int
        Hidden width N of the full network (≥ 1).
    n_nodes : int, default 160
        Gauss–Hermite nodes (:func:`quadrature_data`).
    observable : {"loss", "moment"}, default "loss"

    Returns
    -------
    ReducedChain
        On one-dimensional inputs ξ_k: its first parameter is the coordinate
        w·v̂ of shape ``(B, 1)``, so a state is ``[w·v̂, y_2, …, y_L]``, L
        numbers.

    Notes
    -----
    With the first-layer row along v̂ every population expectation is over
    ξ = v̂·x alone, and E[g(ξ) x] = E[g(ξ) ξ] v̂ (the components of x
    orthogonal to v̂ have mean zero and are independent of ξ): the gradient
    keeps the row along v̂, for the flow and for every gradient-descent step.
    On a finite sample the orthogonal part of Σ_i π_i g_i x_i does not
    vanish and the row turns: the reduced state is w ∈ R^d plus y_2, …, y_L.
    """
    x, y, pi = quadrature_data(teacher, n_nodes)
    v = teacher.v.to(torch.float64)
    xi = x @ (v / v.norm())
    return ReducedChain(sigma, xi[:, None], y, width, pi, observable)


def descent_states(problem, params: Sequence[torch.Tensor], eta: float, n_steps: int,
                   every: int = 1) -> list[list[torch.Tensor]]:
    """The states of fixed-step gradient descent on a problem, every ``every`` steps.

    Parameters
    ----------
    problem : object
        A problem of the protocol (``NetworkBatch``, :class:`ReducedChain`).
    params : list of torch.Tensor
        Batched initial parameters, each ``(B, ...)``.
    eta : float
        Step size η > 0 (step k is at flow time η k).
    n_steps : int
        Number of steps (≥ 1), a multiple of ``every``.
    every : int, default 1
        Record every this many steps.

    Returns
    -------
    list of list of torch.Tensor
        ``n_steps // every + 1`` states (copies), step 0 first.

    Notes
    -----
    Runs :func:`saddlebook.dynamics.descend` ``every`` steps at a time (its
    divergence rule applies, relative to the loss at the start of each
    stretch); the iterates are exactly those of one long run.
    """
    from ..dynamics._descent import descend  # dynamics imports this module: import on use

    n_steps = V.integer("n_steps", n_steps, 1)
    every = V.integer("every", every, 1)
    if n_steps % every:
        raise ParameterError(f"parameter 'n_steps' = {n_steps} must be a multiple of 'every' = {every}")
    state = [p.detach().clone() for p in params]
    states = [state]
    for _ in range(n_steps // every):
        state = descend(problem, state, eta, t_max=every * eta).final
        states.append(state)
    return states


def stable_horizon(problem, params: Sequence[torch.Tensor], eta: float, n_steps: int, rtol: float = 1e-10) -> int:
    """Number of gradient-descent steps before the loss first rises.

    Parameters
    ----------
    problem : object
        A problem of the protocol (``NetworkBatch``, :class:`ReducedChain`).
    params : list of torch.Tensor
        Batched initial parameters, each ``(B, ...)``.
    eta : float
        Step size η > 0.
    n_steps : int
        Steps to examine (≥ 1).
    rtol : float, default 1e-10
        A rise counts when 𝓛_{k+1} > (1 + rtol) 𝓛_k (round-off alone moves
        the loss by far less).

    Returns
    -------
    int
        The largest k ≤ ``n_steps`` such that the loss falls (or stays) at
        every step before k, over all runs of the batch.

    Notes
    -----
    Gradient descent lowers the loss at every step while η is below
    2 / (the largest curvature along its path). After an escape the curvature
    grows; a step that overshoots makes the loss rise, and from there the
    iteration amplifies small differences, round-off included, by large
    factors, so two exact implementations of the same map agree to round-off
    only up to this horizon.
    """
    from ..dynamics._descent import descend  # dynamics imports this module: import on use

    n_steps = V.integer("n_steps", n_steps, 1)
    if isinstance(rtol, bool) or not isinstance(rtol, (int, float)) or not (math.isfinite(rtol) and rtol >= 0):
        raise ParameterError(f"parameter 'rtol' = {rtol!r} must be a finite real number >= 0")
    history = descend(problem, params, eta, t_max=n_steps * eta, record_every=1).history
    horizon = n_steps
    for h in history:
        up = np.nonzero(h["loss"][1:] > h["loss"][:-1] * (1.0 + rtol))[0]
        if up.size:
            horizon = min(horizon, int(up[0]))
    return horizon


def noise_amplification(problem, params: Sequence[torch.Tensor], eta: float, n_steps: int, every: int = 1,
                        delta: float = 1e-12, seed: int = 0) -> float:
    """How much gradient descent amplifies small errors made along its path.

    Parameters
    ----------
    problem : object
        A problem of the protocol (one run, B = 1, is the intended use).
    params : list of torch.Tensor
        Batched initial parameters.
    eta : float
        Step size η > 0.
    n_steps : int
        Steps (≥ 1), a multiple of ``every``.
    every : int, default 1
        A perturbation is injected every this many steps.
    delta : float, default 1e-12
        Relative size of each injected perturbation (small enough for the
        response to stay linear, large against round-off).
    seed : int, default 0
        Seed of the random perturbation directions.

    Returns
    -------
    float
        max_k ‖θ̃_k − θ_k‖ / (δ ‖θ_k‖) over the recorded states, where θ̃ is
        the run with a random relative perturbation of size δ added to the
        state every ``every`` steps. Round-off that adds an error of relative
        size e per step therefore ends, in the linear regime, within about
        ``every · e`` times this number of the exact iterates: unlike the
        response to a perturbed start, it counts errors made late, in
        directions that contracted before (on the plateau) and grow after
        the escape.
    """
    from ..dynamics._descent import descend  # dynamics imports this module: import on use

    delta = float(delta)
    if not (math.isfinite(delta) and delta > 0):
        raise ParameterError(f"parameter 'delta' = {delta!r} must be a finite real number > 0")
    states = descent_states(problem, params, eta, n_steps, every)
    gen = torch.Generator().manual_seed(V.integer("seed", seed, 0))
    twin, worst = [p.detach().clone() for p in params], 0.0
    for k in range(1, len(states)):
        norm = math.sqrt(sum(float((p**2).sum()) for p in twin))
        noise = [torch.randn(p.shape, generator=gen, dtype=p.dtype) for p in twin]
        scale = delta * norm / math.sqrt(sum(float((z**2).sum()) for z in noise))
        twin = descend(problem, [p + scale * z for p, z in zip(twin, noise)], eta, t_max=every * eta).final
        ref = states[k]
        gap = math.sqrt(sum(float(((a - b) ** 2).sum()) for a, b in zip(twin, ref)))
        worst = max(worst, gap / math.sqrt(sum(float((b**2).sum()) for b in ref)))
    return worst / delta
