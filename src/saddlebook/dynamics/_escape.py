"""Escape times from small initialization: one run or a batched sweep.

Threshold definition (stated once, used everywhere):

- ``criterion="loss"`` (default): the escape time τ is the first flow time
  at which the loss falls to ``threshold × 𝓛(0)`` (default half its initial
  value). On a plateau 𝓛 ≈ 𝓛(0), so this marks leaving the plateau.
- ``criterion="moment"`` (second option): τ is the first time the network's
  linear moment ``‖E[ŷ x]‖`` reaches ``threshold × Γ`` with
  Γ = ``‖E[y x]‖``, i.e. the network has acquired that fraction of the
  target's linear part.

Either threshold moves the constant of τ, not its exponent in ε.

Every configuration is advanced by :func:`saddlebook.dynamics.integrate`
(batched Dormand–Prince 5(4) with per-run steps and event location), on the
full network (``model="full"``) or, for the symmetric initialization, on the
reduced ODE of :mod:`saddlebook.theory` (``model="reduced"``). Time is
physical gradient-flow time of the loss ½ E[(ŷ − y)²].
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from ..book import parameters as P
from ..data._synthetic import FeatureSum, LinearTeacher, SingleIndexTeacher, gaussian_inputs, sample_moment
from ..geometry._manifold import to_reduced
from ..nets._activations import get_activation
from ..nets._initializers import INITIALIZATIONS, bottleneck_layers, he_weights, layer_scales, symmetric_weights
from ..theory._reduced import ReducedChain, quadrature_data
from ._batch import NetworkBatch
from ._integrator import integrate

__all__ = ["escape_time", "sweep", "SweepResult", "MODELS", "DATA", "CRITERIA"]

MODELS: tuple[str, ...] = ("full", "reduced")
"""``model`` values: the full network, or the reduced ODE on the manifold."""
DATA: tuple[str, ...] = ("sample", "population")
"""``data`` values: a Gaussian sample, or exact Gauss–Hermite population quadrature."""
CRITERIA: tuple[str, ...] = ("loss", "moment")
"""``criterion`` values (see the module docstring)."""
DTYPES = {"float64": torch.float64, "float32": torch.float32}


@dataclass
class SweepResult:
    """Escape times of a sweep, one entry per run (ε-major, then seed).

    Attributes
    ----------
    eps : numpy.ndarray
        Bottleneck scale ε of each run.
    seed : numpy.ndarray
        Weight seed of each run (unused by the symmetric initialization).
    tau : numpy.ndarray
        Escape time (flow time units); NaN if no escape before ``t_max``.
    nfev : numpy.ndarray
        Gradient evaluations per run.
    steps : numpy.ndarray
        Attempted Runge–Kutta steps per run (accepted + rejected).
    wall_time : float
        Seconds for the whole batched integration.
    gamma : float
        Γ = ``‖E[y x]‖`` of the data used (population or sample).
    loss0 : numpy.ndarray
        Initial loss of each run.
    config : dict
        The validated configuration.
    history : list of dict or None
        With ``record=True``: per run ``t``, ``loss`` and ``norms`` (layer
        norms, or ``‖w‖, |y_2|, …`` for the reduced model) at accepted steps.
    """

    eps: np.ndarray
    seed: np.ndarray
    tau: np.ndarray
    nfev: np.ndarray
    steps: np.ndarray
    wall_time: float
    gamma: float
    loss0: np.ndarray
    config: dict
    history: list | None = field(default=None, repr=False)

    def grid(self) -> np.ndarray:
        """Escape times as an array of shape ``(len(eps values), len(seeds))``."""
        n_seeds = len(self.config["seeds"])
        return self.tau.reshape(-1, n_seeds)


@contextlib.contextmanager
def _threads(n):
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _validate_inputs(x, y, cov, direction, teacher, data):
    """User-supplied data (additive options of :func:`sweep`); returns (x, y, cov, direction)."""
    if x is None:
        if y is not None:
            raise P.ParameterError("parameter 'y' needs inputs 'x' as well")
    else:
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[0] < 1 or x.shape[1] < 1:
            raise P.ParameterError("parameter 'x' must be a 2-D tensor of shape (n, d)")
        if data != "sample":
            raise P.ParameterError(
                "user inputs 'x' need data='sample' (the population quadrature builds its own inputs)"
            )
        if cov is not None:
            raise P.ParameterError("give either inputs 'x' or a covariance 'cov' for a Gaussian sample, not both")
        x = x.to(torch.float64)
        if not bool(torch.isfinite(x).all()):
            raise P.ParameterError("parameter 'x' contains non-finite values")
        if y is not None:
            if teacher is not None:
                raise P.ParameterError("give either targets 'y' or a 'teacher', not both")
            if not isinstance(y, torch.Tensor) or tuple(y.shape) != (x.shape[0],):
                raise P.ParameterError(f"parameter 'y' must be a 1-D tensor of shape ({x.shape[0]},)")
            y = y.to(torch.float64)
            if not bool(torch.isfinite(y).all()):
                raise P.ParameterError("parameter 'y' contains non-finite values")
    if cov is not None and data != "sample":
        raise P.ParameterError("parameter 'cov' needs data='sample' (the population quadrature assumes x ~ N(0, I))")
    if direction is not None and not (isinstance(direction, str) and direction == "moment"):
        if isinstance(direction, str):
            raise P.ParameterError(f"parameter 'direction' = {direction!r}; allowed: None, 'moment' or a vector")
        direction = torch.as_tensor(direction, dtype=torch.float64).reshape(-1)
        if not bool(torch.isfinite(direction).all()) or float(direction.norm()) == 0:
            raise P.ParameterError("parameter 'direction' must be a finite non-zero vector")
    return x, y, cov, direction


def _validate(
    activation,
    depth,
    r,
    bottleneck,
    eps,
    width,
    input_dim,
    teacher,
    init,
    model,
    data,
    n_samples,
    n_nodes,
    scale,
    seeds,
    data_seed,
    threshold,
    criterion,
    dtype,
    rtol,
    t_max,
    threads,
    x=None,
    y=None,
    cov=None,
    direction=None,
):
    name, _ = get_activation(activation)
    data = P.choice("data", data, DATA)
    x, y, cov, direction = _validate_inputs(x, y, cov, direction, teacher, data)
    if x is not None:
        input_dim = int(x.shape[1])
    depth = P.integer("depth", depth, 2, 64)
    if bottleneck is None:
        r = depth if r is None else P.integer("r", r, 1, depth)
        bottleneck = bottleneck_layers(depth, r)
    else:
        if r is not None and r != len(bottleneck):
            raise P.ParameterError(f"parameters 'r' = {r!r} and 'bottleneck' = {bottleneck!r} disagree; give one")
        bottleneck = sorted(bottleneck)
    eps = P.reals("eps", list(np.atleast_1d(np.asarray(eps, dtype=float)).tolist()), 0, None, lo_open=True)
    layer_scales(depth, eps[0], bottleneck, 1.0)  # validates the bottleneck indices
    width = P.integer("width", width, 1, 100_000)
    input_dim = P.integer("input_dim", input_dim, 1, 100_000)
    init = P.choice("init", init, INITIALIZATIONS)
    model = P.choice("model", model, MODELS)
    criterion = P.choice("criterion", criterion, CRITERIA)
    if model == "reduced" and init != "symmetric":
        raise P.ParameterError(
            f"model='reduced' needs init='symmetric' (the reduction holds on the manifold), got init={init!r}"
        )
    if data == "population" and init != "symmetric":
        raise P.ParameterError(
            "data='population' needs init='symmetric' (off the manifold the expectation is not one-dimensional)"
        )
    n_samples = P.integer("n_samples", n_samples, 1, 10_000_000)
    n_nodes = P.integer("n_nodes", n_nodes, 2, 1000)
    scale = P.real("scale", scale, 0, None, lo_open=True)
    seeds = [P.integer(f"seeds[{i}]", s, 0, 2**31 - 1) for i, s in enumerate(seeds)]
    if not seeds:
        raise P.ParameterError("parameter 'seeds' must hold at least one seed")
    data_seed = P.integer("data_seed", data_seed, 0, 2**31 - 1)
    threshold = P.real("threshold", threshold, 0, 1, lo_open=True, hi_open=True)
    if isinstance(dtype, str):
        dtype = DTYPES.get(dtype, dtype)
    if dtype not in DTYPES.values():
        raise P.ParameterError(f"parameter 'dtype' = {dtype!r} is not allowed; allowed values: float64, float32")
    if rtol is None:
        rtol = 1e-9 if dtype == torch.float64 else 1e-6
    rtol = P.real("rtol", rtol, 0, 1, lo_open=True, hi_open=True)
    t_max = P.real("t_max", t_max, 0, None, lo_open=True)
    if threads is not None:
        threads = P.integer("threads", threads, 1, 1024)
    if isinstance(direction, torch.Tensor) and direction.numel() != input_dim:
        raise P.ParameterError(
            f"parameter 'direction' has {direction.numel()} entries but the input dimension is {input_dim}"
        )
    if cov is not None:
        cov = torch.as_tensor(cov, dtype=torch.float64)
        if tuple(cov.shape) != (input_dim, input_dim):
            raise P.ParameterError(
                f"parameter 'cov' has shape {tuple(cov.shape)} but must be ({input_dim}, {input_dim})"
            )
    extra = dict(x=x, y=y, cov=cov, direction=direction)
    if y is not None:
        return dict(
            activation=activation,
            activation_name=name,
            depth=depth,
            bottleneck=bottleneck,
            eps=eps,
            width=width,
            input_dim=input_dim,
            teacher=None,
            init=init,
            model=model,
            data=data,
            n_samples=n_samples,
            n_nodes=n_nodes,
            scale=scale,
            seeds=seeds,
            data_seed=data_seed,
            threshold=threshold,
            criterion=criterion,
            dtype=dtype,
            rtol=rtol,
            t_max=t_max,
            threads=threads,
            **extra,
        )
    if teacher is None:
        v = torch.zeros(input_dim, dtype=torch.float64)
        v[0] = 1.0
        teacher = SingleIndexTeacher(v, "tanh", 1.0)
    if not isinstance(teacher, (LinearTeacher, SingleIndexTeacher, FeatureSum)):
        raise P.ParameterError(f"parameter 'teacher' must be a saddlebook.data teacher, got {type(teacher).__name__}")
    t_dim = teacher.features[0].v.shape[0] if isinstance(teacher, FeatureSum) else teacher.v.shape[0]
    if t_dim != input_dim:
        raise P.ParameterError(f"parameter 'teacher' has input dimension {t_dim} but input_dim = {input_dim}")
    if data == "population" and not isinstance(teacher, (LinearTeacher, SingleIndexTeacher)):
        raise P.ParameterError("data='population' needs a LinearTeacher or SingleIndexTeacher")
    return dict(
        activation=activation,
        activation_name=name,
        depth=depth,
        bottleneck=bottleneck,
        eps=eps,
        width=width,
        input_dim=input_dim,
        teacher=teacher,
        init=init,
        model=model,
        data=data,
        n_samples=n_samples,
        n_nodes=n_nodes,
        scale=scale,
        seeds=seeds,
        data_seed=data_seed,
        threshold=threshold,
        criterion=criterion,
        dtype=dtype,
        rtol=rtol,
        t_max=t_max,
        threads=threads,
        **extra,
    )


def _direction(teacher) -> torch.Tensor:
    # Symmetric initializations put the shared first-layer row along the
    # teacher direction, so the reduced dynamics is L-dimensional.
    v = teacher.features[0].v if isinstance(teacher, FeatureSum) else teacher.v
    v = v.to(torch.float64)
    return v / v.norm()


def _initial(cfg, eps, seed, widths):
    if cfg["init"] == "symmetric":
        scales = layer_scales(cfg["depth"], eps, cfg["bottleneck"], cfg["scale"])
        a = cfg.get("direction_used")
        return symmetric_weights(widths, scales, direction=_direction(cfg["teacher"]) if a is None else a)
    layers = list(range(1, cfg["depth"] + 1)) if cfg["init"] == "small" else cfg["bottleneck"]
    return he_weights(widths, eps, layers, seed=seed)


def sweep(
    activation="tanh",
    depth: int = 4,
    r: int | None = None,
    eps: float | Sequence[float] = 0.01,
    *,
    seeds: Sequence[int] = (0,),
    bottleneck: Sequence[int] | None = None,
    width: int = 32,
    input_dim: int = 16,
    teacher=None,
    init: str = "symmetric",
    model: str = "full",
    data: str = "sample",
    n_samples: int = 4096,
    n_nodes: int = 160,
    scale: float = 1.0,
    data_seed: int = 0,
    threshold: float = 0.5,
    criterion: str = "loss",
    dtype="float64",
    rtol: float | None = None,
    t_max: float = 1e9,
    threads: int | None = None,
    record: bool = False,
    progress: bool | None = None,
    x: torch.Tensor | None = None,
    y: torch.Tensor | None = None,
    cov: torch.Tensor | None = None,
    direction=None,
) -> SweepResult:
    """Escape times of many configurations, integrated as one batch.

    Every pair (ε, seed) is one run; all runs share the data and architecture
    and are advanced together by :func:`saddlebook.dynamics.integrate`.

    Parameters
    ----------
    activation : str or callable, default "tanh"
        Hidden activation: a name of :data:`saddlebook.nets.ACTIVATIONS`
        or an elementwise torch callable.
    depth : int, default 4
        Number of weight matrices L (2 … 64).
    r : int, optional
        Number of bottleneck layers started at scale ε (the first r layers,
        see :func:`~saddlebook.nets.bottleneck_layers`); default L.
    eps : float or sequence of float
        Bottleneck scale(s) ε > 0.
    seeds : sequence of int, default (0,)
        Weight seeds (He-normal initializations only).
    bottleneck : sequence of int, optional
        Explicit 1-based bottleneck layers instead of ``r``.
    width : int, default 32
        Hidden width N.
    input_dim : int, default 16
        Input dimension d.
    teacher : LinearTeacher, SingleIndexTeacher or FeatureSum, optional
        Target; default y = tanh(x_1) (unit direction e_1).
    init : {"symmetric", "small", "he"}, default "symmetric"
        ``"symmetric"``: a point of the permutation-symmetric manifold with
        bottleneck layers at ``‖W_ℓ‖_F = ε``, the others at ``scale``, and
        the first-layer row along the teacher direction. ``"small"``: He-normal
        with every layer × ε. ``"he"``: He-normal, bottleneck layers × ε.
    model : {"full", "reduced"}, default "full"
        Integrate the full network, or (symmetric only) the reduced ODE.
    data : {"sample", "population"}, default "sample"
        ``n_samples`` Gaussian inputs (seed ``data_seed``), or the exact
        population expectation by ``n_nodes``-point Gauss–Hermite quadrature
        (symmetric only, single-direction teacher).
    n_samples, n_nodes : int
        Sample size, quadrature size.
    scale : float, default 1.0
        Scale of the non-bottleneck layers for ``init="symmetric"``.
    data_seed : int, default 0
        Seed of the input sample.
    threshold : float, default 0.5
        Threshold fraction in (0, 1), see ``criterion``.
    criterion : {"loss", "moment"}, default "loss"
        Escape when the loss falls to ``threshold × 𝓛(0)``, or when
        ``‖E[ŷ x]‖`` reaches ``threshold × Γ``.
    dtype : {"float64", "float32"} or torch dtype, default "float64"
        Working precision of states and gradients (times are float64).
    rtol : float, optional
        Relative local error per layer per step; default 1e-9 (float64) or
        1e-6 (float32).
    t_max : float, default 1e9
        Give up at this flow time (τ = NaN).
    threads : int, optional
        torch threads during the run (restored afterwards); small problems
        on a shared machine are fastest with 1.
    record : bool, default False
        Keep loss and layer norms at every accepted step (``history``).
    progress : bool or None, default None
        Progress bar; None: only if stderr is a terminal or the environment
        variable ``SADDLEBOOK_PROGRESS=1`` (shown after 2 s).
    x : torch.Tensor, optional
        User inputs, shape ``(n, d)``, instead of the Gaussian sample
        (``data="sample"`` only; ``input_dim`` is then taken from ``x`` and
        ``n_samples``, ``data_seed`` are unused).
    y : torch.Tensor, optional
        User targets, shape ``(n,)`` (needs ``x``; no ``teacher``). Without
        ``y`` the targets are ``teacher(x)``.
    cov : torch.Tensor, optional
        Covariance Σ of the Gaussian sample, shape ``(d, d)`` (no ``x``).
    direction : None, "moment" or torch.Tensor, optional
        First-layer row direction of ``init="symmetric"``: None keeps the
        teacher direction (or, with user targets ``y``, the data moment);
        ``"moment"`` is the direction of Σ_i π_i y_i x_i of the data used
        (needs Γ > 0); a vector of length d is used as given.

    Returns
    -------
    SweepResult

    Raises
    ------
    saddlebook.errors.ParameterError
        Any invalid parameter (named, with the allowed values), before any
        computation. Unknown activation names raise ``ValueError``.
    saddlebook.errors.DivergenceError
        A run diverged; the message names its configuration.
    """
    cfg = _validate(
        activation,
        depth,
        r,
        bottleneck,
        eps,
        width,
        input_dim,
        teacher,
        init,
        model,
        data,
        n_samples,
        n_nodes,
        scale,
        list(seeds),
        data_seed,
        threshold,
        criterion,
        dtype,
        rtol,
        t_max,
        threads,
        x=x,
        y=y,
        cov=cov,
        direction=direction,
    )
    L, N, d = cfg["depth"], cfg["width"], cfg["input_dim"]
    widths = [d] + [N] * (L - 1) + [1]
    if cfg["data"] == "population":
        x, y, pi = quadrature_data(cfg["teacher"], cfg["n_nodes"])
    elif cfg["x"] is not None:
        x = cfg["x"]
        y = cfg["y"] if cfg["y"] is not None else cfg["teacher"](x).to(torch.float64)
        pi = None
    else:
        x = gaussian_inputs(cfg["n_samples"], d, cov=cfg["cov"], seed=cfg["data_seed"])
        y, pi = cfg["teacher"](x).to(torch.float64), None
    moment = ((pi if pi is not None else 1.0 / x.shape[0]) * y) @ x
    a = cfg["direction"]
    if isinstance(a, str) or (a is None and cfg["y"] is not None):
        if float(moment.norm()) == 0:
            raise P.ParameterError("direction='moment' needs data with Gamma > 0; pass a direction vector")
        a = moment
    cfg["direction_used"] = a
    seeds_used = cfg["seeds"] if cfg["init"] != "symmetric" else cfg["seeds"]
    runs = [(e, s) for e in cfg["eps"] for s in seeds_used]
    inits = [_initial(cfg, e, s, widths) for e, s in runs]
    dt = cfg["dtype"]
    if cfg["model"] == "reduced":
        problem = ReducedChain(cfg["activation"], x, y, N, pi, cfg["criterion"])
        red = [to_reduced(w) for w in inits]
        params = [torch.stack([w for w, _ in red])] + [torch.stack([ys[k] for _, ys in red]) for k in range(L - 1)]
    else:
        problem = NetworkBatch(cfg["activation"], x, y, pi, cfg["criterion"])
        params = [torch.stack([w[k] for w in inits]) for k in range(L)]
    params = [p.to(dt) for p in params]
    gamma = float(torch.linalg.vector_norm(moment))  # the escape level (criterion "moment")
    gamma_reported = float(torch.linalg.vector_norm(sample_moment(x, y, weights=pi)))  # the theory's Γ
    with _threads(cfg["threads"]), torch.no_grad():
        loss0, obs0 = problem.observe(params)
        if cfg["criterion"] == "loss":
            level, direction = cfg["threshold"] * loss0.double().numpy(), -1
        else:
            level, direction = np.full(len(runs), cfg["threshold"] * gamma), 1
        desc = (
            f"activation={cfg['activation_name']}, depth={L}, bottleneck={cfg['bottleneck']}, width={N}, "
            f"init={cfg['init']}, model={cfg['model']}, data={cfg['data']}"
        )
        res = integrate(
            problem,
            params,
            t_max=cfg["t_max"],
            event_level=level,
            event_direction=direction,
            rtol=cfg["rtol"],
            record=record,
            progress=progress,
            config=[f"escape run eps={e:g}, seed={s} ({desc})" for e, s in runs],
        )
    cfg_out = {k: v for k, v in cfg.items() if k not in ("teacher", "x", "y", "cov", "direction", "direction_used")}
    cfg_out["dtype"] = str(dt).replace("torch.", "")
    return SweepResult(
        eps=np.array([e for e, _ in runs]),
        seed=np.array([s for _, s in runs]),
        tau=res.t_event,
        nfev=res.nfev,
        steps=res.accepted + res.rejected,
        wall_time=res.wall_time,
        gamma=gamma_reported,
        loss0=res.loss0,
        config=cfg_out,
        history=res.history,
    )


def escape_time(
    activation="tanh", depth: int = 4, r: int | None = None, eps: float = 0.01, *, seed: int = 0, **options
) -> float:
    """Escape time τ of one configuration (flow time units).

    Parameters
    ----------
    activation, depth, r, eps
        As in :func:`sweep`, with a single ε.
    seed : int, default 0
        Weight seed (He-normal initializations).
    **options
        Any keyword of :func:`sweep` (``width``, ``input_dim``, ``teacher``,
        ``init``, ``model``, ``data``, ``threshold``, ``criterion``,
        ``dtype``, ``rtol``, ...).

    Returns
    -------
    float
        τ, or NaN if the threshold was not reached before ``t_max``.

    Raises
    ------
    saddlebook.errors.ParameterError, ValueError
        Invalid parameters, before any computation.
    saddlebook.errors.DivergenceError
        The run diverged.
    """
    if np.ndim(eps) != 0:
        raise P.ParameterError(f"parameter 'eps' = {eps!r} must be one number here; use sweep() for several")
    if "seeds" in options:
        raise P.ParameterError("escape_time takes 'seed' (one run); use sweep() for several seeds")
    return float(sweep(activation, depth, r, [eps], seeds=[seed], **options).tau[0])
