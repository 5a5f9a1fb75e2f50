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

The options of a sweep are one frozen object, :class:`SweepConfig`: every
option is checked when it is built, before any computation, and
:meth:`SweepConfig.replace` gives a variant, checked again. :func:`sweep` runs
one (or builds it from the same arguments as keywords); :func:`escape_time`
is the case of one ε and one seed.

Every configuration is advanced by :func:`saddlebook.dynamics.integrate`
(batched Dormand–Prince 5(4) with per-run steps and event location), on the
full network (``model="full"``) or, for the symmetric initialization, on the
reduced ODE of :mod:`saddlebook.theory` (``model="reduced"``). Time is
physical gradient-flow time of the loss ½ E[(ŷ − y)²].
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from dataclasses import KW_ONLY, dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from ..book import parameters as P
from ..data._synthetic import (
    FeatureSum,
    LinearTeacher,
    SingleIndexTeacher,
    gaussian_inputs,
    moment,
    sample_moment,
)
from ..geometry._manifold import to_reduced
from ..nets._activations import get_activation
from ..nets._initializers import INITIALIZATIONS, bottleneck_layers, he_weights, layer_scales, symmetric_weights
from ..theory._reduced import ReducedChain, quadrature_data
from ._batch import NetworkBatch
from ._descent import Descent, descend
from ._integrator import integrate

__all__ = ["escape_time", "sweep", "SweepConfig", "SweepResult", "MODELS", "DATA", "CRITERIA"]

MODELS: tuple[str, ...] = ("full", "reduced")
"""``model`` values: the full network, or the reduced ODE on the manifold."""
DATA: tuple[str, ...] = ("sample", "population")
"""``data`` values: a Gaussian sample, or exact Gauss–Hermite population quadrature."""
CRITERIA: tuple[str, ...] = ("loss", "moment")
"""``criterion`` values (see the module docstring)."""
DTYPES = {"float64": torch.float64, "float32": torch.float32}


# Left out of SweepConfig.summary: data and teacher (not plain values), options resolved into others, display switches.
_NOT_SUMMARISED = ("r", "teacher", "x", "y", "cov", "direction", "record", "progress")


def _same(a, b) -> bool:
    # Tensors compare by value (dtype, shape, entries); the default == would give
    # an elementwise tensor, which has no truth value.
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (
            isinstance(a, torch.Tensor)
            and isinstance(b, torch.Tensor)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and bool(torch.equal(a, b))
        )
    return a is b or bool(a == b)


def _hashable(v):
    # Equal tensors share dtype and shape; hashing the entries of a large sample would cost a pass over it.
    return ("tensor", v.dtype, tuple(v.shape)) if isinstance(v, torch.Tensor) else v


@dataclass(frozen=True, eq=False)
class SweepConfig:
    """Every option of one sweep, checked when it is built (frozen).

    Build it as :func:`sweep` takes its arguments:
    ``SweepConfig("tanh", 4, 3, [0.01, 0.02], init="he", seeds=[0, 1])`` (the
    first four may be positional, the rest are keywords). All checks run
    then, before any computation, in a fixed order, so the first bad option
    is the one named. :meth:`replace` (or :func:`dataclasses.replace`) gives
    a variant, checked again. Two configs are equal when their options are
    (tensors compared by value, teachers and callables by identity); configs
    are hashable.

    The option fields keep what was given, normalised (sequences as tuples,
    ``dtype`` as a torch dtype, tensors as float64, choices checked); what an
    option resolves to in the context of the others is in the ``*_used``
    attributes, so a variant resolves afresh (``replace(dtype="float32")``
    gets float32's default ``rtol``).

    Attributes
    ----------
    activation : str or callable, default "tanh"
        Hidden activation: a name of :data:`saddlebook.nets.ACTIVATIONS`
        or an elementwise torch callable.
    depth : int, default 4
        Number of weight matrices L (2 … 64).
    r : int, optional
        Number of bottleneck layers started at scale ε (the first r layers,
        see :func:`~saddlebook.nets.bottleneck_layers`); default L.
    eps : tuple of float, default 0.01
        Bottleneck scale(s) ε > 0 (built from one number or a sequence).
    seeds : tuple of int, default (0,)
        Weight seeds (He-normal initializations only).
    bottleneck : tuple of int, optional
        Explicit 1-based bottleneck layers instead of ``r`` (kept sorted).
    width : int, default 32
        Hidden width N.
    input_dim : int, default 16
        Input dimension d (unused, and unchecked, with inputs ``x``).
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
    n_samples, n_nodes : int, default 4096, 160
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
    dtype : torch.dtype, optional
        Working precision of states and gradients (times are float64); given
        as "float64", "float32" or a torch dtype. Default float64 on the
        CPU, float32 on a GPU.
    device : str or torch.device, default "cpu"
        Where the states, gradients and data live: ``"cpu"``, or ``"cuda"``
        (``"cuda:N"``) when torch sees a CUDA device. Per-run bookkeeping
        (times, step sizes, error norms) stays on the CPU in float64.
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
        (``data="sample"`` only; the input dimension is then taken from
        ``x`` and ``n_samples``, ``data_seed`` are unused).
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
    stepper : "flow" or Descent, default "flow"
        ``"flow"``: gradient flow by the adaptive batched integrator
        (:func:`~saddlebook.dynamics.integrate`, ``rtol``). A
        :class:`~saddlebook.dynamics.Descent`: fixed-step gradient descent, or
        minibatch SGD with its ``batch_size`` (:func:`~saddlebook.dynamics.descend`),
        in flow time t = η k with the same escape definition; ``rtol``,
        ``record`` and ``progress`` apply to the flow only.
    activation_name : str
        Display name of the activation (not an option).
    bottleneck_used : tuple of int
        The 1-based bottleneck layers: ``bottleneck``, else the first ``r``
        (default all L) layers.
    input_dim_used : int
        The input dimension: that of ``x`` if given, else ``input_dim``.
    device_used : torch.device
        The device (``device``, default the CPU).
    dtype_used : torch.dtype
        ``dtype``, or its default for the device.
    rtol_used : float
        ``rtol``, or its default for ``dtype_used``.
    teacher_used : teacher or None
        ``teacher``, or the default teacher; None with user targets ``y``.

    Raises
    ------
    saddlebook.errors.ParameterError
        Any invalid option, an unknown activation name included (named, with
        the allowed values).
    """

    activation: str | Callable = "tanh"
    depth: int = 4
    r: int | None = None
    eps: float | Sequence[float] = 0.01
    _: KW_ONLY
    seeds: Sequence[int] = (0,)
    bottleneck: Sequence[int] | None = None
    width: int = 32
    input_dim: int = 16
    teacher: LinearTeacher | SingleIndexTeacher | FeatureSum | None = None
    init: str = "symmetric"
    model: str = "full"
    data: str = "sample"
    n_samples: int = 4096
    n_nodes: int = 160
    scale: float = 1.0
    data_seed: int = 0
    threshold: float = 0.5
    criterion: str = "loss"
    dtype: str | torch.dtype | None = None
    device: str | torch.device = "cpu"
    rtol: float | None = None
    t_max: float = 1e9
    threads: int | None = None
    record: bool = False
    progress: bool | None = None
    x: torch.Tensor | None = None
    y: torch.Tensor | None = None
    cov: torch.Tensor | None = None
    direction: str | torch.Tensor | None = None
    stepper: str | Descent = "flow"
    activation_name: str = field(init=False, repr=False)
    bottleneck_used: tuple[int, ...] = field(init=False, repr=False)
    input_dim_used: int = field(init=False, repr=False)
    device_used: torch.device = field(init=False, repr=False)
    dtype_used: torch.dtype = field(init=False, repr=False)
    rtol_used: float = field(init=False, repr=False)
    teacher_used: LinearTeacher | SingleIndexTeacher | FeatureSum | None = field(init=False, repr=False)

    def __post_init__(self):
        # Each stage reads the options the earlier ones have normalised; none computes anything.
        self._set(activation_name=get_activation(self.activation, param="activation")[0],
                  data=P.choice("data", self.data, DATA))
        self._set(**_checked_inputs(self))
        self._set(**_checked_architecture(self))
        self._set(**_checked_method(self))
        self._set(**_checked_solver(self))
        self._set(**_checked_shapes(self))
        self._set(teacher_used=_checked_teacher(self))

    def _set(self, **values) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)  # frozen: only validation writes, once

    def replace(self, **changes) -> SweepConfig:
        """A copy with ``changes`` (option names as keywords), checked again.

        Returns
        -------
        SweepConfig

        Raises
        ------
        saddlebook.errors.ParameterError
            A changed option, or the combination, is invalid.
        """
        return dataclasses.replace(self, **changes)

    def options(self) -> dict:
        """The options as given (normalised): ``SweepConfig(**c.options()) == c``."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}

    def summary(self) -> dict:
        """The resolved configuration as plain values, without data or teacher (:attr:`SweepResult.config`)."""
        out = {k: v for k, v in self.options().items() if k not in _NOT_SUMMARISED}
        out.update(
            activation_name=self.activation_name,
            bottleneck=list(self.bottleneck_used),
            eps=list(self.eps),
            seeds=list(self.seeds),
            input_dim=self.input_dim_used,
            dtype=str(self.dtype_used).replace("torch.", ""),
            device=str(self.device_used),
            rtol=self.rtol_used,
            stepper=self.stepper if self.stepper == "flow" else self.stepper.summary(),
        )
        return out

    def __eq__(self, other) -> bool:
        if not isinstance(other, SweepConfig):
            return NotImplemented
        mine, theirs = self.options(), other.options()
        return all(_same(mine[k], theirs[k]) for k in mine)

    def __hash__(self) -> int:
        return hash(tuple(_hashable(v) for v in self.options().values()))


def _checked_inputs(cfg: SweepConfig) -> dict:
    """User-supplied data (options ``x``, ``y``, ``cov``, ``direction``)."""
    x, y, cov, direction = cfg.x, cfg.y, cfg.cov, cfg.direction
    if x is None:
        if y is not None:
            raise P.ParameterError("parameter 'y' needs inputs 'x' as well")
    else:
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[0] < 1 or x.shape[1] < 1:
            raise P.ParameterError("parameter 'x' must be a 2-D tensor of shape (n, d)")
        if cfg.data != "sample":
            raise P.ParameterError(
                "user inputs 'x' need data='sample' (the population quadrature builds its own inputs)"
            )
        if cov is not None:
            raise P.ParameterError("give either inputs 'x' or a covariance 'cov' for a Gaussian sample, not both")
        x = x.to(torch.float64)
        if not bool(torch.isfinite(x).all()):
            raise P.ParameterError("parameter 'x' contains non-finite values")
        if y is not None:
            if cfg.teacher is not None:
                raise P.ParameterError("give either targets 'y' or a 'teacher', not both")
            if not isinstance(y, torch.Tensor) or tuple(y.shape) != (x.shape[0],):
                raise P.ParameterError(f"parameter 'y' must be a 1-D tensor of shape ({x.shape[0]},)")
            y = y.to(torch.float64)
            if not bool(torch.isfinite(y).all()):
                raise P.ParameterError("parameter 'y' contains non-finite values")
    if cov is not None and cfg.data != "sample":
        raise P.ParameterError("parameter 'cov' needs data='sample' (the population quadrature assumes x ~ N(0, I))")
    if direction is not None and not (isinstance(direction, str) and direction == "moment"):
        if isinstance(direction, str):
            raise P.ParameterError(f"parameter 'direction' = {direction!r}; allowed: None, 'moment' or a vector")
        direction = torch.as_tensor(direction, dtype=torch.float64).reshape(-1)
        if not bool(torch.isfinite(direction).all()) or float(direction.norm()) == 0:
            raise P.ParameterError("parameter 'direction' must be a finite non-zero vector")
    return dict(x=x, y=y, direction=direction)


def _checked_architecture(cfg: SweepConfig) -> dict:
    """Depth, bottleneck (``r`` or ``bottleneck``), ε, width and the input dimension."""
    dim = cfg.input_dim if cfg.x is None else int(cfg.x.shape[1])
    depth = P.integer("depth", cfg.depth, 2, 64)
    r, bottleneck = cfg.r, cfg.bottleneck
    if bottleneck is None:
        r = None if r is None else P.integer("r", r, 1, depth)
        layers = bottleneck_layers(depth, depth if r is None else r)
    else:
        if r is not None and r != len(bottleneck):
            raise P.ParameterError(f"parameters 'r' = {r!r} and 'bottleneck' = {bottleneck!r} disagree; give one")
        layers = sorted(bottleneck)
        bottleneck = tuple(layers)
    eps = P.reals("eps", list(np.atleast_1d(np.asarray(cfg.eps, dtype=float)).tolist()), 0, None, lo_open=True)
    layer_scales(depth, eps[0], layers, 1.0)  # validates the bottleneck indices
    width = P.integer("width", cfg.width, 1, 100_000)
    dim = P.integer("input_dim", dim, 1, 100_000)
    out = dict(depth=depth, r=r, bottleneck=bottleneck, bottleneck_used=tuple(layers), eps=tuple(eps), width=width)
    if cfg.x is None:
        out["input_dim"] = dim
    return dict(out, input_dim_used=dim)


def _checked_method(cfg: SweepConfig) -> dict:
    """Initialization, model, criterion, data sizes, seeds and threshold."""
    init = P.choice("init", cfg.init, INITIALIZATIONS)
    model = P.choice("model", cfg.model, MODELS)
    criterion = P.choice("criterion", cfg.criterion, CRITERIA)
    if model == "reduced" and init != "symmetric":
        raise P.ParameterError(
            f"model='reduced' needs init='symmetric' (the reduction holds on the manifold), got init={init!r}"
        )
    if cfg.data == "population" and init != "symmetric":
        raise P.ParameterError(
            "data='population' needs init='symmetric' (off the manifold the expectation is not one-dimensional)"
        )
    out = dict(init=init, model=model, criterion=criterion)
    out["n_samples"] = P.integer("n_samples", cfg.n_samples, 1, 10_000_000)
    out["n_nodes"] = P.integer("n_nodes", cfg.n_nodes, 2, 1000)
    out["scale"] = P.real("scale", cfg.scale, 0, None, lo_open=True)
    out["seeds"] = tuple(P.integer(f"seeds[{i}]", s, 0, 2**31 - 1) for i, s in enumerate(cfg.seeds))
    if not out["seeds"]:
        raise P.ParameterError("parameter 'seeds' must hold at least one seed")
    out["data_seed"] = P.integer("data_seed", cfg.data_seed, 0, 2**31 - 1)
    out["threshold"] = P.real("threshold", cfg.threshold, 0, 1, lo_open=True, hi_open=True)
    return out


def _checked_solver(cfg: SweepConfig) -> dict:
    """Device, precision, tolerance, horizon and threads."""
    device = _checked_device(cfg.device)
    dtype = DTYPES.get(cfg.dtype, cfg.dtype) if isinstance(cfg.dtype, str) else cfg.dtype
    if dtype is not None and dtype not in DTYPES.values():
        raise P.ParameterError(f"parameter 'dtype' = {dtype!r} is not allowed; allowed values: float64, float32")
    dtype_used = dtype or (torch.float64 if device.type == "cpu" else torch.float32)
    default_rtol = 1e-9 if dtype_used == torch.float64 else 1e-6
    rtol_used = P.real("rtol", default_rtol if cfg.rtol is None else cfg.rtol, 0, 1, lo_open=True, hi_open=True)
    return dict(
        dtype=dtype,
        dtype_used=dtype_used,
        device=str(device),
        device_used=device,
        rtol=None if cfg.rtol is None else rtol_used,
        rtol_used=rtol_used,
        t_max=P.real("t_max", cfg.t_max, 0, None, lo_open=True),
        threads=None if cfg.threads is None else P.integer("threads", cfg.threads, 1, 1024),
        stepper=_checked_stepper(cfg),
    )


def _checked_device(device) -> torch.device:
    """``device`` as a torch.device that torch can use here (the CPU, or a CUDA device it sees)."""
    allowed = "allowed: 'cpu'" + (", 'cuda'" if torch.cuda.is_available() else " (torch sees no CUDA device here)")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise P.ParameterError(f"parameter 'device' = {device!r} is not a device; {allowed}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise P.ParameterError(f"parameter 'device' = {device!r}, but torch sees no CUDA device; {allowed}")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise P.ParameterError(f"parameter 'device' = {device!r}: only {torch.cuda.device_count()} CUDA "
                                   "device(s) here")
    elif dev.type != "cpu":
        raise P.ParameterError(f"parameter 'device' = {device!r} is not supported; {allowed}")
    return dev


def _checked_stepper(cfg: SweepConfig):
    if isinstance(cfg.stepper, Descent):
        if cfg.record:
            raise P.ParameterError("record=True needs stepper='flow' (a Descent stepper keeps no history here)")
        if cfg.stepper.batch_size is not None and cfg.data == "population":
            raise P.ParameterError("a Descent stepper with a batch_size (SGD) needs data='sample', not 'population'")
        return cfg.stepper
    if cfg.stepper != "flow":
        raise P.ParameterError(f"parameter 'stepper' = {cfg.stepper!r} is not allowed; "
                               "allowed: 'flow' or saddlebook.Descent(eta, batch_size=None, seed=0)")
    return "flow"


def _checked_shapes(cfg: SweepConfig) -> dict:
    """``direction`` and ``cov`` against the input dimension."""
    d = cfg.input_dim_used
    if isinstance(cfg.direction, torch.Tensor) and cfg.direction.numel() != d:
        raise P.ParameterError(
            f"parameter 'direction' has {cfg.direction.numel()} entries but the input dimension is {d}"
        )
    if cfg.cov is None:
        return dict(cov=None)
    cov = torch.as_tensor(cfg.cov, dtype=torch.float64)
    if tuple(cov.shape) != (d, d):
        raise P.ParameterError(f"parameter 'cov' has shape {tuple(cov.shape)} but must be ({d}, {d})")
    return dict(cov=cov)


def _checked_teacher(cfg: SweepConfig):
    """The teacher used: ``teacher``, or y = tanh(x_1); None with user targets ``y``."""
    if cfg.y is not None:
        return None
    teacher = cfg.teacher
    if teacher is None:
        v = torch.zeros(cfg.input_dim_used, dtype=torch.float64)
        v[0] = 1.0
        teacher = SingleIndexTeacher(v, "tanh", 1.0)
    if not isinstance(teacher, (LinearTeacher, SingleIndexTeacher, FeatureSum)):
        raise P.ParameterError(f"parameter 'teacher' must be a saddlebook.data teacher, got {type(teacher).__name__}")
    t_dim = teacher.features[0].v.shape[0] if isinstance(teacher, FeatureSum) else teacher.v.shape[0]
    if t_dim != cfg.input_dim_used:
        raise P.ParameterError(
            f"parameter 'teacher' has input dimension {t_dim} but input_dim = {cfg.input_dim_used}"
        )
    if cfg.data == "population" and not isinstance(teacher, (LinearTeacher, SingleIndexTeacher)):
        raise P.ParameterError("data='population' needs a LinearTeacher or SingleIndexTeacher")
    return teacher


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
        Attempted Runge–Kutta steps per run (accepted + rejected); with a
        :class:`~saddlebook.dynamics.Descent` stepper, descent steps.
    wall_time : float
        Seconds for the whole batched integration.
    gamma : float
        Γ = ``‖E[y x]‖`` of the data used (population or sample).
    loss0 : numpy.ndarray
        Initial loss of each run.
    config : dict
        The resolved configuration as plain values (:meth:`SweepConfig.summary`).
    history : list of dict or None
        With ``record=True``: per run ``t``, ``loss`` and ``norms`` (layer
        norms, or ``‖w‖, |y_2|, …`` for the reduced model) at accepted steps.
    sweep_config : SweepConfig or None
        The configuration that ran (rerun it with ``sweep(result.sweep_config)``).
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
    sweep_config: SweepConfig | None = field(default=None, repr=False)

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


def _data(cfg: SweepConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Inputs, targets and quadrature weights π (None for a sample: uniform)."""
    if cfg.data == "population":
        return quadrature_data(cfg.teacher_used, cfg.n_nodes)
    if cfg.x is not None:
        y = cfg.y if cfg.y is not None else cfg.teacher_used(cfg.x).to(torch.float64)
        return cfg.x, y, None
    x = gaussian_inputs(cfg.n_samples, cfg.input_dim_used, cov=cfg.cov, seed=cfg.data_seed)
    return x, cfg.teacher_used(x).to(torch.float64), None


def _row_direction(cfg: SweepConfig, m: torch.Tensor) -> torch.Tensor:
    """First-layer row direction of the symmetric start, given the data moment ``m``."""
    if isinstance(cfg.direction, str) or (cfg.direction is None and cfg.y is not None):
        if float(m.norm()) == 0:
            raise P.ParameterError("direction='moment' needs data with Gamma > 0; pass a direction vector")
        return m
    if cfg.direction is None:
        # Symmetric initializations put the shared first-layer row along the
        # teacher direction, so the reduced dynamics is L-dimensional.
        teacher = cfg.teacher_used
        v = (teacher.features[0].v if isinstance(teacher, FeatureSum) else teacher.v).to(torch.float64)
        return v / v.norm()
    return cfg.direction


def _initial(cfg: SweepConfig, eps: float, seed: int, direction: torch.Tensor) -> list[torch.Tensor]:
    """Initial weights of the run (ε, seed)."""
    widths = [cfg.input_dim_used] + [cfg.width] * (cfg.depth - 1) + [1]
    if cfg.init == "symmetric":
        scales = layer_scales(cfg.depth, eps, list(cfg.bottleneck_used), cfg.scale)
        return symmetric_weights(widths, scales, direction=direction)
    layers = list(range(1, cfg.depth + 1)) if cfg.init == "small" else list(cfg.bottleneck_used)
    return he_weights(widths, eps, layers, seed=seed)


def _problem(cfg: SweepConfig, x, y, pi, inits: list[list[torch.Tensor]]):
    """The batched problem and its stacked initial state (one batch entry per run)."""
    L = cfg.depth
    if cfg.model == "reduced":
        problem = ReducedChain(cfg.activation, x, y, cfg.width, pi, cfg.criterion)
        red = [to_reduced(w) for w in inits]
        params = [torch.stack([w for w, _ in red])] + [torch.stack([ys[k] for _, ys in red]) for k in range(L - 1)]
    else:
        problem = NetworkBatch(cfg.activation, x, y, pi, cfg.criterion)
        params = [torch.stack([w[k] for w in inits]) for k in range(L)]
    return problem, [p.to(device=cfg.device_used, dtype=cfg.dtype_used) for p in params]


def _integrate(cfg: SweepConfig, problem, params, runs: list[tuple[float, int]], gamma: float):
    """Advance every run to its escape (or ``t_max``) in one batch."""
    desc = (
        f"activation={cfg.activation_name}, depth={cfg.depth}, bottleneck={list(cfg.bottleneck_used)}, "
        f"width={cfg.width}, init={cfg.init}, model={cfg.model}, data={cfg.data}"
    )
    with _threads(cfg.threads), torch.no_grad():
        loss0, _ = problem.observe(params)
        if cfg.criterion == "loss":
            level, direction = cfg.threshold * loss0.double().cpu().numpy(), -1
        else:
            level, direction = np.full(len(runs), cfg.threshold * gamma), 1
        descriptions = [f"escape run eps={e:g}, seed={s} ({desc})" for e, s in runs]
        if isinstance(cfg.stepper, Descent):
            return _Steps.of(descend(problem, params, cfg.stepper.eta, t_max=cfg.t_max, level=level,
                                     direction=direction, batch_size=cfg.stepper.batch_size,
                                     seed=cfg.stepper.seed, config=descriptions))
        return _Steps.of(integrate(
            problem,
            params,
            t_max=cfg.t_max,
            event_level=level,
            event_direction=direction,
            rtol=cfg.rtol_used,
            record=cfg.record,
            progress=cfg.progress,
            config=descriptions,
        ))


@dataclass
class _Steps:
    """What a sweep reports of either stepper's run."""

    t_event: np.ndarray
    nfev: np.ndarray
    steps: np.ndarray
    wall_time: float
    loss0: np.ndarray
    history: list | None

    @classmethod
    def of(cls, res) -> _Steps:
        if hasattr(res, "nfev"):  # the flow integrator's EngineResult
            return cls(res.t_event, res.nfev, res.accepted + res.rejected, res.wall_time, res.loss0, res.history)
        steps = np.asarray(res.steps)  # one gradient per step
        return cls(res.t_event, steps, steps, res.wall_time, res.loss0, None)


def _as_config(args: tuple, options: dict) -> SweepConfig:
    if args and isinstance(args[0], SweepConfig):
        if len(args) > 1:
            raise TypeError("sweep(config) takes no other positional arguments; give changes as keywords")
        return args[0].replace(**options) if options else args[0]
    return SweepConfig(*args, **options)


def sweep(*args, executor=None, batches: int | None = None, **options) -> SweepResult:
    """Escape times of many configurations, integrated as one batch (or several, on workers).

    Every pair (ε, seed) is one run; all runs share the data and architecture
    and are advanced together by :func:`saddlebook.dynamics.integrate` (or, with
    ``stepper=Descent(...)``, by :func:`saddlebook.dynamics.descend`).

    Call it with a :class:`SweepConfig`, ``sweep(config)`` (keywords after it
    are changes: ``sweep(config, width=64)`` runs ``config.replace(width=64)``),
    or with the options themselves, as :class:`SweepConfig` takes them:
    ``sweep(activation, depth, r, eps, **options)``.

    Parameters
    ----------
    *args
        One :class:`SweepConfig`, or up to four of ``activation``, ``depth``,
        ``r``, ``eps`` (see :class:`SweepConfig` for these and all options).
    executor : concurrent.futures.Executor or dask.distributed.Client, optional
        Where to run: the runs are dealt round-robin into ``batches`` batches,
        each integrated as one batch by a worker, and put back in order.
        Every run's arithmetic is independent of the others in its batch, so
        the result equals the serial sweep's exactly (float64 or float32, on
        one kind of machine). Without it, one batch in this process.
    batches : int, optional
        Number of batches with an ``executor``; default its number of workers
        (a Dask client's total worker threads), at most the number of runs.
    **options
        The other options of :class:`SweepConfig` by name (``seeds``,
        ``init``, ``model``, ``data``, ``x``, ``device``, ...), or changes to
        the config.

    Returns
    -------
    SweepResult
        With the configuration that ran in ``sweep_config``; ``wall_time``
        is the time from the first batch's start to the last one's end.

    Raises
    ------
    saddlebook.errors.ParameterError
        Any invalid option (named, with the allowed values), before any
        computation (except ``direction="moment"`` on data with Γ = 0, found
        once the data is built), an unknown activation name included; an
        ``executor`` without ``submit`` or ``batches`` < 1.
    saddlebook.errors.DivergenceError
        A run diverged; the message names its configuration.
    """
    cfg = _as_config(args, options)
    n_batches = _batch_count(executor, batches)
    x, y, pi = _data(cfg)
    m = moment(x, y, pi)
    _row_direction(cfg, m)  # refuses direction="moment" without a moment before any batch starts
    runs = [(e, s) for e in cfg.eps for s in cfg.seeds]
    start = time.perf_counter()
    if executor is None:
        res = _batch(cfg, runs, (x, y, pi))
    else:
        res = _distributed(executor, cfg, runs, min(n_batches, len(runs)))
    return SweepResult(
        eps=np.array([e for e, _ in runs]),
        seed=np.array([s for _, s in runs]),
        tau=res.t_event,
        nfev=res.nfev,
        steps=res.steps,
        wall_time=res.wall_time if executor is None else time.perf_counter() - start,
        gamma=float(torch.linalg.vector_norm(sample_moment(x, y, weights=pi))),  # the theory's Γ
        loss0=res.loss0,
        config=cfg.summary(),
        history=res.history,
        sweep_config=cfg,
    )


def _batch(cfg: SweepConfig, runs: list[tuple[float, int]], data=None) -> _Steps:
    """Integrate the runs ``runs`` (pairs (ε, seed)) of ``cfg`` as one batch; builds the data unless given."""
    x, y, pi = _data(cfg) if data is None else data
    m = moment(x, y, pi)
    problem, params = _problem(cfg, x, y, pi, [_initial(cfg, e, s, _row_direction(cfg, m)) for e, s in runs])
    return _integrate(cfg, problem, params, runs, float(torch.linalg.vector_norm(m)))  # m's norm: the escape level


def _batch_count(executor, batches) -> int:
    if executor is None:
        if batches is not None:
            raise P.ParameterError("parameter 'batches' needs an 'executor' to run the batches on")
        return 1
    if not callable(getattr(executor, "submit", None)):
        raise P.ParameterError(f"parameter 'executor' must be a concurrent.futures.Executor or a "
                               f"dask.distributed.Client (anything with submit()), got {type(executor).__name__}")
    if batches is not None:
        return P.integer("batches", batches, 1, 1_000_000)
    if callable(getattr(executor, "nthreads", None)):  # a dask.distributed.Client: its worker threads
        return max(1, sum(executor.nthreads().values()))
    return max(1, int(getattr(executor, "_max_workers", 1) or 1))


def _distributed(executor, cfg: SweepConfig, runs: list, n: int) -> _Steps:
    """Deal the runs round-robin into ``n`` batches (so each gets short and long runs), run them on
    ``executor`` and put the results back in run order."""
    groups = [list(range(i, len(runs), n)) for i in range(n)]
    dask = callable(getattr(executor, "gather", None))
    extra = {"pure": False} if dask else {}  # every batch is its own task, whatever its arguments hash to
    futures = [executor.submit(_batch, cfg, [runs[i] for i in g], **extra) for g in groups]
    parts = [f.result() for f in futures]
    order = np.argsort(np.concatenate(groups), kind="stable")

    def joined(name):
        return np.concatenate([getattr(p, name) for p in parts])[order]

    history = None
    if parts[0].history is not None:
        flat = [h for p in parts for h in p.history]
        history = [flat[i] for i in order]
    return _Steps(joined("t_event"), joined("nfev"), joined("steps"), max(p.wall_time for p in parts),
                  joined("loss0"), history)


def escape_time(
    activation="tanh", depth: int = 4, r: int | None = None, eps: float = 0.01, *, seed: int = 0, **options
) -> float:
    """Escape time τ of one configuration (flow time units).

    Parameters
    ----------
    activation, depth, r, eps
        As in :class:`SweepConfig`, with a single ε.
    seed : int, default 0
        Weight seed (He-normal initializations).
    **options
        Any other option of :class:`SweepConfig` (``width``, ``input_dim``,
        ``teacher``, ``init``, ``model``, ``data``, ``threshold``,
        ``criterion``, ``dtype``, ``rtol``, ...).

    Returns
    -------
    float
        τ, or NaN if the threshold was not reached before ``t_max``.

    Raises
    ------
    saddlebook.errors.ParameterError
        Invalid parameters, before any computation.
    saddlebook.errors.DivergenceError
        The run diverged.
    """
    if np.ndim(eps) != 0:
        raise P.ParameterError(f"parameter 'eps' = {eps!r} must be one number here; use sweep() for several")
    if "seeds" in options:
        raise P.ParameterError("escape_time takes 'seed' (one run); use sweep() for several seeds")
    return float(sweep(SweepConfig(activation, depth, r, [eps], seeds=[seed], **options)).tau[0])
