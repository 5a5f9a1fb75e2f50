"""Inputs, teachers and the data moment Γ = ‖E[y x]‖.

On a sample the moment is Γ̂ = ‖n⁻¹ Σ y_i x_i‖ (:func:`gamma` with tensors).
For a Gaussian teacher y = Σ_k β_k f_k(v_k·x) with x ~ N(0, Σ) it is known in
closed form up to one Gaussian integral per feature (:func:`population_moment`):
with s_k² = v_kᵀΣv_k and the first Hermite coefficient
h_k = E[f_k(s_k z) z] (z standard normal)::

    E[y x] = Σ_k β_k h_k Σv_k / s_k = Σ_k β_k h_k u_k â_k,
    u_k = ‖Σv_k‖ / s_k,  â_k = Σv_k / ‖Σv_k‖,

because E[x | v·x] = Σv (v·x)/s². For a unit v, Cauchy–Schwarz gives
u ≥ s, with equality iff v is an eigenvector of Σ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch

from .._validate import integer
from ..book.counterfactual import current as _counterfactual
from ..errors import ParameterError
from ..nets._activations import Activation, get_activation

__all__ = [
    "gaussian_inputs",
    "whitened_inputs",
    "LinearTeacher",
    "SingleIndexTeacher",
    "FeatureSum",
    "gamma",
    "moment",
    "sample_moment",
    "first_hermite",
    "feature_geometry",
    "population_moment",
    "angle_blind_gamma",
]


def gaussian_inputs(
    n: int,
    d: int,
    cov: torch.Tensor | None = None,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Sample ``n`` inputs x ~ N(0, Σ) in dimension ``d``.

    Parameters
    ----------
    n, d : int
        Number of samples and input dimension (≥ 1).
    cov : torch.Tensor, optional
        Covariance Σ, symmetric positive semi-definite of shape ``(d, d)``;
        identity if omitted.
    seed : int, default 0
        Seed of a private ``torch.Generator`` (CPU, so results do not depend
        on ``device``).
    dtype : torch.dtype, default torch.float64
    device : torch.device or str, optional

    Returns
    -------
    torch.Tensor
        Shape ``(n, d)``.
    """
    integer("n", n, 1)
    integer("d", d, 1)
    factor = None
    if cov is not None:
        evals, evecs = _cov_eigen(cov, d)
        # Eigen-factor instead of Cholesky: tolerates singular Σ.
        factor = evecs * evals.sqrt()
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    g = torch.randn(n, d, generator=gen, dtype=torch.float64)
    x = g if factor is None else g @ factor.T
    return x.to(dtype=dtype, device=device)


def whitened_inputs(
    n: int,
    d: int,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
    cov: torch.Tensor | None = None,
) -> torch.Tensor:
    """Inputs whose empirical second moment is exactly the identity (or Σ).

    Orthonormalizes the columns of a Gaussian ``(n, d)`` matrix and scales
    them by √n, so (1/n) XᵀX = I up to round-off. With such inputs the
    finite-sample squared loss of a linear network equals its population
    loss under isotropic inputs. With ``cov`` the rows are multiplied by the
    symmetric square root Σ^{1/2}, so (1/n) XᵀX = Σ exactly: the linear part
    of every moment then carries no sampling error.

    Parameters
    ----------
    n, d : int
        Number of samples and dimension; requires ``n >= d``.
    seed : int, default 0
    dtype : torch.dtype, default torch.float64
    device : torch.device or str, optional
    cov : torch.Tensor, optional
        Σ, symmetric positive semi-definite of shape ``(d, d)``.

    Returns
    -------
    torch.Tensor
        Shape ``(n, d)``.
    """
    integer("n", n, 1)
    integer("d", d, 1)
    if n < d:
        raise ParameterError(f"parameter 'n' must be >= d: whitened_inputs needs n >= d, got n={n}, d={d}")
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    g = torch.randn(n, d, generator=gen, dtype=torch.float64)
    q, r = torch.linalg.qr(g, mode="reduced")
    # Sign fix keeps the map from g to q continuous and deterministic.
    q = q * torch.sign(torch.diagonal(r))
    x = q * math.sqrt(n)
    if cov is not None:
        evals, evecs = _cov_eigen(cov, d)
        x = x @ (evecs @ torch.diag(evals.sqrt()) @ evecs.T)
    return x.to(dtype=dtype, device=device)


def _cov_eigen(cov, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Validated eigendecomposition of a covariance Σ (negative round-off clamped to 0)."""
    cov = check_covariance(cov, d)
    evals, evecs = torch.linalg.eigh(cov)
    if evals.min() < -1e-12 * max(1.0, float(evals.abs().max())):
        raise ParameterError(f"parameter 'cov' must be positive semi-definite; "
                             f"smallest eigenvalue {float(evals.min()):.3g}")
    return evals.clamp(min=0), evecs


def _as_vector(name: str, v) -> torch.Tensor:
    v = torch.as_tensor(v)
    if v.dim() != 1 or v.shape[0] == 0:
        raise ParameterError(f"parameter '{name}' must be a non-empty 1-D vector, got shape {tuple(v.shape)}")
    if not bool(torch.isfinite(v).all()):
        raise ParameterError(f"parameter '{name}' contains non-finite values")
    return v


def _check_x(x: torch.Tensor, v: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise ParameterError("parameter 'x' must be a 2-D tensor of shape (n, d)")
    if x.shape[1] != v.shape[0]:
        raise ParameterError(
            f"parameter 'x' must have one column per entry of the teacher vector v: "
            f"x has {x.shape[1]} columns but v has {v.shape[0]} entries"
        )


@dataclass(frozen=True, eq=False)
class LinearTeacher:
    """Linear teacher y = v · x.

    Parameters
    ----------
    v : torch.Tensor
        Teacher vector, shape ``(d,)``.
    """

    v: torch.Tensor

    def __post_init__(self) -> None:
        object.__setattr__(self, "v", _as_vector("v", self.v))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Targets for inputs ``x`` of shape ``(n, d)``; returns shape ``(n,)``."""
        _check_x(x, self.v)
        return x @ self.v.to(dtype=x.dtype, device=x.device)


@dataclass(frozen=True, eq=False)
class SingleIndexTeacher:
    """Single-index teacher y = β f(v · x).

    Parameters
    ----------
    v : torch.Tensor
        Index direction, shape ``(d,)`` (its norm sets the input scale of f).
    f : str or callable, default "tanh"
        Link function: a registry name of :mod:`saddlebook.nets` or any
        elementwise torch callable.
    beta : float, default 1.0
        Amplitude β.
    """

    v: torch.Tensor
    f: str | Activation = "tanh"
    beta: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "v", _as_vector("v", self.v))
        get_activation(self.f)
        if isinstance(self.beta, bool) or not isinstance(self.beta, (int, float)) or not math.isfinite(self.beta):
            raise ParameterError(f"parameter 'beta' must be a finite real number, got {self.beta!r}")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Targets for inputs ``x`` of shape ``(n, d)``; returns shape ``(n,)``."""
        _check_x(x, self.v)
        _, fn = get_activation(self.f)
        return self.beta * fn(x @ self.v.to(dtype=x.dtype, device=x.device))


@dataclass(frozen=True, eq=False)
class FeatureSum:
    """Sum of single-index features, y = Σ_k β_k f_k(v_k · x).

    Parameters
    ----------
    features : sequence of SingleIndexTeacher
        The features (at least one), all with the same input dimension.
    """

    features: Sequence[SingleIndexTeacher]

    def __post_init__(self) -> None:
        feats = tuple(self.features)
        if not feats or not all(isinstance(f, SingleIndexTeacher) for f in feats):
            raise ParameterError("parameter 'features' must be a non-empty sequence of SingleIndexTeacher")
        dims = {f.v.shape[0] for f in feats}
        if len(dims) != 1:
            raise ParameterError(f"parameter 'features' mixes input dimensions {sorted(dims)}; all must agree")
        object.__setattr__(self, "features", feats)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Targets for inputs ``x`` of shape ``(n, d)``; returns shape ``(n,)``."""
        out = self.features[0](x)
        for f in self.features[1:]:
            out = out + f(x)
        return out


def gamma(x, y: torch.Tensor | None = None, *, cov: torch.Tensor | None = None, n_nodes: int = 200) -> float:
    """Linear moment Γ of a data set (sample) or of a Gaussian teacher (population).

    ``gamma(x, y)`` with tensors returns the empirical Γ̂ = ‖n⁻¹ Σ_i y_i x_i‖.
    ``gamma(teacher, cov=Σ)`` returns the population Γ = ‖E[y x]‖ for
    x ~ N(0, Σ) (see :func:`population_moment`).

    Parameters
    ----------
    x : torch.Tensor or teacher
        Inputs, shape ``(n, d)``; or a LinearTeacher, SingleIndexTeacher or
        FeatureSum.
    y : torch.Tensor, optional
        Scalar targets, shape ``(n,)`` (sample form only).
    cov : torch.Tensor, optional
        Input covariance Σ of the population form; identity if omitted.
    n_nodes : int, default 200
        Gauss–Hermite nodes of the population form.

    Returns
    -------
    float
        The Euclidean norm of the input–target cross moment; it sets the
        clock of the first escape.
    """
    if isinstance(x, (LinearTeacher, SingleIndexTeacher, FeatureSum)):
        if y is not None:
            raise ParameterError(
                "parameter 'y' must be None: gamma(teacher) takes no targets 'y'; pass cov= for the input covariance"
            )
        return float(torch.linalg.vector_norm(population_moment(x, cov=cov, n_nodes=n_nodes)))
    if cov is not None:
        raise ParameterError("parameter 'cov' applies only to gamma(teacher, cov=...)")
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise ParameterError("parameter 'x' must be a 2-D tensor of shape (n, d)")
    if not isinstance(y, torch.Tensor) or y.dim() != 1:
        raise ParameterError("parameter 'y' must be a 1-D tensor of shape (n,)")
    if y.shape[0] != x.shape[0]:
        raise ParameterError(
            f"parameter 'y' must have one entry per row of x: y has {y.shape[0]} entries but x has {x.shape[0]} rows"
        )
    if not (bool(torch.isfinite(x).all()) and bool(torch.isfinite(y).all())):
        raise ParameterError("parameters 'x' and 'y' must contain only finite values")
    return float(torch.linalg.vector_norm(sample_moment(x, y)))


def moment(
    x: torch.Tensor,
    y: torch.Tensor,
    weights: torch.Tensor | None = None,
    dtype: torch.dtype | None = torch.float64,
) -> torch.Tensor:
    """The weighted cross moment m = Σ_i π_i y_i x_i, batched over leading dimensions of ``y``.

    Parameters
    ----------
    x : torch.Tensor
        Inputs, shape ``(n, d)``.
    y : torch.Tensor
        Scalar targets or outputs, shape ``(n,)``, or ``(..., n)`` for a batch
        of them (e.g. ``(B, n)``: the outputs of B networks on one data set).
    weights : torch.Tensor, optional
        π, shape ``(n,)``; uniform ``1/n`` if omitted (the sample mean). Not
        checked for sign or sum, so that a hot loop pays no device sync.
    dtype : torch.dtype or None, default torch.float64
        Dtype of the computation and of the result; None keeps the inputs'
        (the promoted dtype of ``x``, ``y`` and π).

    Returns
    -------
    torch.Tensor
        Shape ``(..., d)``: ``(d,)`` for ``y`` of shape ``(n,)``, ``(B, d)``
        for ``(B, n)``. Differentiable in ``x``, ``y`` and π.

    Raises
    ------
    ParameterError
        If ``x`` is not a 2-D tensor, ``y`` not a tensor whose last dimension
        has ``n`` entries, ``weights`` not a tensor of shape ``(n,)``, or
        ``dtype`` not a floating torch dtype (or None).
    """
    _check_moment_args(x, y, weights, dtype)
    if weights is None:
        weights = torch.full((x.shape[0],), 1.0 / x.shape[0], dtype=dtype or y.dtype, device=y.device)
    if dtype is not None:
        x, y, weights = x.to(dtype), y.to(dtype), weights.to(dtype)
    return (weights * y) @ x


def _check_moment_args(x, y, weights, dtype) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise ParameterError("moment: parameter 'x' must be a 2-D tensor of shape (n, d)")
    n = x.shape[0]
    if not isinstance(y, torch.Tensor) or y.dim() < 1 or y.shape[-1] != n:
        raise ParameterError(f"moment: parameter 'y' must be a tensor of shape ({n},) or (..., {n})")
    if weights is not None and (not isinstance(weights, torch.Tensor) or tuple(weights.shape) != (n,)):
        raise ParameterError(f"moment: parameter 'weights' must be None or a tensor of shape ({n},)")
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ParameterError(
            f"moment: parameter 'dtype' = {dtype!r}; allowed: a floating torch dtype (torch.float64, ...) or None"
        )


def sample_moment(x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Sample cross moment m̂ = n⁻¹ Σ_i y_i x_i (float64), whose norm is :func:`gamma`.

    Parameters
    ----------
    x : torch.Tensor
        Inputs, shape ``(n, d)``.
    y : torch.Tensor
        Scalar targets, shape ``(n,)``.
    weights : torch.Tensor, optional
        Sample weights π_i summing to 1 (quadrature data), shape ``(n,)``;
        uniform 1/n if omitted.

    Returns
    -------
    torch.Tensor
        Shape ``(d,)``.
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise ParameterError("parameter 'x' must be a 2-D tensor of shape (n, d)")
    if not isinstance(y, torch.Tensor) or y.dim() != 1 or y.shape[0] != x.shape[0]:
        raise ParameterError(f"parameter 'y' must be a 1-D tensor with {x.shape[0]} entries")
    y, x = y.to(torch.float64), x.to(torch.float64)
    pi = torch.full_like(y, 1.0 / x.shape[0]) if weights is None else weights.to(torch.float64)
    if tuple(pi.shape) != (x.shape[0],):
        raise ParameterError(f"parameter 'weights' must have shape ({x.shape[0]},)")
    name = _counterfactual()
    if name == "wrong_moment":
        return ((pi * y**3) @ x) / float(pi @ (y * y))
    m = moment(x, y, pi)
    if name == "variance_clock":
        m = m * (float(pi @ (y * y)) ** 0.5 / float(torch.linalg.vector_norm(m)))
    return m


def _check_nodes(n_nodes) -> None:
    integer("n_nodes", n_nodes, 2)


def first_hermite(f, s: float = 1.0, n_nodes: int = 200) -> float:
    """First Hermite coefficient h(s) = E[f(s z) z] of a link, z ~ N(0, 1).

    It is the slope of the best linear fit of f(s z) in z: h = s for
    f(z) = z, E[sech²(s z)] s for tanh (Stein's lemma), 0 for any even f.

    Parameters
    ----------
    f : str or callable
        A registry name of :mod:`saddlebook.nets` or an elementwise
        torch callable.
    s : float, default 1.0
        Input scale (the standard deviation of v·x), finite and ≥ 0.
    n_nodes : int, default 200
        Gauss–Hermite nodes; exact for polynomials of degree < 2 n_nodes,
        spectrally accurate for smooth f (slower for kinks such as ReLU).

    Returns
    -------
    float
    """
    from scipy.special import roots_hermitenorm

    _check_nodes(n_nodes)
    if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s) or s < 0:
        raise ParameterError(f"parameter 's' must be a finite real number >= 0, got {s!r}")
    _, fn = get_activation(f)
    nodes, weights = roots_hermitenorm(n_nodes)
    z = torch.as_tensor(nodes, dtype=torch.float64)
    w = torch.as_tensor(weights / weights.sum(), dtype=torch.float64)
    return float((w * fn(s * z) * z).sum())


def check_covariance(cov, d: int) -> torch.Tensor:
    if cov is None:
        return torch.eye(d, dtype=torch.float64)
    cov = torch.as_tensor(cov, dtype=torch.float64).cpu()
    if tuple(cov.shape) != (d, d):
        raise ParameterError(f"parameter 'cov' has shape {tuple(cov.shape)} but must be ({d}, {d})")
    if not bool(torch.isfinite(cov).all()) or not torch.allclose(cov, cov.T, rtol=1e-12, atol=1e-14):
        raise ParameterError("parameter 'cov' must be a finite symmetric matrix")
    return cov


def feature_geometry(v, cov: torch.Tensor | None = None) -> tuple[float, float, torch.Tensor]:
    """Scale, gain and direction of one feature v·x under x ~ N(0, Σ).

    Parameters
    ----------
    v : torch.Tensor
        Feature vector, shape ``(d,)``.
    cov : torch.Tensor, optional
        Σ, shape ``(d, d)``; identity if omitted.

    Returns
    -------
    s : float
        Standard deviation of v·x, s = √(vᵀΣv).
    u : float
        ‖Σv‖/s, the length of the cross moment E[(v·x) x] per unit of s.
        For unit v, u ≥ s with equality iff v is an eigenvector of Σ.
    a : torch.Tensor
        Unit direction Σv/‖Σv‖ of the feature's contribution to E[y x].
    """
    v = _as_vector("v", v).to(torch.float64)
    cov = check_covariance(cov, v.shape[0])
    sv = cov @ v
    s2 = float(v @ sv)
    if s2 <= 0:
        raise ParameterError(
            "feature_geometry: parameters 'v' and 'cov' give v·x zero variance (vᵀΣv = 0); "
            "v must not lie in the null space of cov"
        )
    s = math.sqrt(s2)
    n = float(torch.linalg.vector_norm(sv))
    return s, n / s, sv / n


def teacher_features(teacher):
    if isinstance(teacher, LinearTeacher):
        return [(teacher.v, "identity", 1.0)]
    if isinstance(teacher, SingleIndexTeacher):
        return [(teacher.v, teacher.f, float(teacher.beta))]
    if isinstance(teacher, FeatureSum):
        return [(f.v, f.f, float(f.beta)) for f in teacher.features]
    raise ParameterError(
        f"parameter 'teacher' must be a LinearTeacher, SingleIndexTeacher or FeatureSum, got {type(teacher).__name__}"
    )


def population_moment(teacher, cov: torch.Tensor | None = None, n_nodes: int = 200) -> torch.Tensor:
    """Population cross moment E[y x] of a Gaussian teacher, x ~ N(0, Σ).

    Each feature β f(v·x) contributes β h(s) Σv/s with s = √(vᵀΣv) and
    h(s) = E[f(s z) z] (:func:`first_hermite`); features add as vectors.

    Parameters
    ----------
    teacher : LinearTeacher, SingleIndexTeacher or FeatureSum
    cov : torch.Tensor, optional
        Σ, shape ``(d, d)``; identity if omitted.
    n_nodes : int, default 200
        Gauss–Hermite nodes per feature.

    Returns
    -------
    torch.Tensor
        Shape ``(d,)``, float64.
    """
    _check_nodes(n_nodes)
    feats = teacher_features(teacher)
    d = feats[0][0].shape[0]
    cov = check_covariance(cov, d)
    m = torch.zeros(d, dtype=torch.float64)
    for v, f, beta in feats:
        v = v.to(torch.float64)
        sv = cov @ v
        s2 = float(v @ sv)
        if s2 <= 0:
            continue  # v·x = 0 almost surely: the feature is a constant, uncorrelated with x
        s = math.sqrt(s2)
        h = first_hermite(f, s, n_nodes)
        if _counterfactual() == "wrong_moment":  # per feature: E[f³ z] / E[f²]
            fn = get_activation(f)[1]
            h = first_hermite(lambda u: fn(u) ** 3, s, n_nodes) / _gauss_mean(lambda u: fn(u) ** 2, s, n_nodes)
        m = m + beta * h * sv / s
    if _counterfactual() == "variance_clock":
        m = m * (_population_variance(teacher, cov) ** 0.5 / float(torch.linalg.vector_norm(m)))
    return m


def _gauss_mean(f, s: float, n_nodes: int) -> float:
    # E[f(s z)], z ~ N(0, 1), by Gauss–Hermite (probabilists' weights).
    from scipy.special import roots_hermitenorm

    z, w = roots_hermitenorm(n_nodes)
    zt = torch.as_tensor(z, dtype=torch.float64)
    return float((f(s * zt) * torch.as_tensor(w / w.sum(), dtype=torch.float64)).sum())


def _population_variance(teacher, cov) -> float:
    # E[y²] of a Gaussian teacher by a fixed Monte Carlo sample (used by one counterfactual only).
    gen = torch.Generator().manual_seed(0)
    d = teacher_features(teacher)[0][0].shape[0]
    z = torch.randn(200_000, d, generator=gen, dtype=torch.float64)
    x = z if cov is None else z @ torch.linalg.cholesky(cov.to(torch.float64)).T
    return float((teacher(x).to(torch.float64) ** 2).mean())


def angle_blind_gamma(teacher, cov: torch.Tensor | None = None, n_nodes: int = 200) -> float:
    """Baseline that adds feature strengths as numbers: Σ_k abs(β_k h_k) u_k.

    It equals :func:`gamma` when all features point the same way and
    overestimates it otherwise (triangle inequality); it cannot see
    cancellation between features.

    Parameters
    ----------
    teacher : LinearTeacher, SingleIndexTeacher or FeatureSum
    cov : torch.Tensor, optional
        Σ; identity if omitted.
    n_nodes : int, default 200

    Returns
    -------
    float
    """
    _check_nodes(n_nodes)
    feats = teacher_features(teacher)
    cov = check_covariance(cov, feats[0][0].shape[0])
    total = 0.0
    for v, f, beta in feats:
        v = v.to(torch.float64)
        if float(v @ cov @ v) <= 0:
            continue
        s, u, _ = feature_geometry(v, cov)
        total += abs(beta * first_hermite(f, s, n_nodes)) * u
    return total
