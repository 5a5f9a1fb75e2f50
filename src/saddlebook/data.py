"""Inputs, teachers and the data moment Γ̂ = ‖n⁻¹ Σ y_i x_i‖."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch

from .activations import Activation, get_activation

__all__ = [
    "gaussian_inputs",
    "whitened_inputs",
    "LinearTeacher",
    "SingleIndexTeacher",
    "FeatureSum",
    "gamma",
]


def _check_size(name: str, v: int) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"parameter '{name}' must be an integer >= 1, got {v!r}")


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
    _check_size("n", n)
    _check_size("d", d)
    factor = None
    if cov is not None:
        cov = torch.as_tensor(cov, dtype=torch.float64).cpu()
        if tuple(cov.shape) != (d, d):
            raise ValueError(f"cov has shape {tuple(cov.shape)} but must be ({d}, {d})")
        if not bool(torch.isfinite(cov).all()):
            raise ValueError("cov contains non-finite values")
        if not torch.allclose(cov, cov.T, rtol=1e-12, atol=1e-14):
            raise ValueError("cov must be symmetric")
        evals, evecs = torch.linalg.eigh(cov)
        if evals.min() < -1e-12 * max(1.0, float(evals.abs().max())):
            raise ValueError(f"cov must be positive semi-definite; smallest eigenvalue {float(evals.min()):.3g}")
        # Symmetric square root: tolerates singular Σ, unlike Cholesky.
        factor = evecs * evals.clamp(min=0).sqrt()
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
) -> torch.Tensor:
    """Inputs whose empirical second moment is exactly the identity.

    Orthonormalizes the columns of a Gaussian ``(n, d)`` matrix and scales
    them by √n, so (1/n) XᵀX = I up to round-off. With such inputs the
    finite-sample squared loss of a linear network equals its population
    loss under isotropic inputs.

    Parameters
    ----------
    n, d : int
        Number of samples and dimension; requires ``n >= d``.
    seed : int, default 0
    dtype : torch.dtype, default torch.float64
    device : torch.device or str, optional

    Returns
    -------
    torch.Tensor
        Shape ``(n, d)``.
    """
    _check_size("n", n)
    _check_size("d", d)
    if n < d:
        raise ValueError(f"whitened_inputs needs n >= d, got n={n}, d={d}")
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    g = torch.randn(n, d, generator=gen, dtype=torch.float64)
    q, r = torch.linalg.qr(g, mode="reduced")
    # Sign fix keeps the map from g to q continuous and deterministic.
    q = q * torch.sign(torch.diagonal(r))
    return (q * math.sqrt(n)).to(dtype=dtype, device=device)


def _as_vector(name: str, v) -> torch.Tensor:
    v = torch.as_tensor(v)
    if v.dim() != 1 or v.shape[0] == 0:
        raise ValueError(f"parameter '{name}' must be a non-empty 1-D vector, got shape {tuple(v.shape)}")
    if not bool(torch.isfinite(v).all()):
        raise ValueError(f"parameter '{name}' contains non-finite values")
    return v


def _check_x(x: torch.Tensor, v: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise ValueError("x must be a 2-D tensor of shape (n, d)")
    if x.shape[1] != v.shape[0]:
        raise ValueError(f"x has {x.shape[1]} columns but the teacher vector v has {v.shape[0]} entries")


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
        Link function: a registry name of :mod:`saddlebook.activations` or any
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
            raise ValueError(f"parameter 'beta' must be a finite real number, got {self.beta!r}")

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
            raise ValueError("parameter 'features' must be a non-empty sequence of SingleIndexTeacher")
        dims = {f.v.shape[0] for f in feats}
        if len(dims) != 1:
            raise ValueError(f"parameter 'features' mixes input dimensions {sorted(dims)}; all must agree")
        object.__setattr__(self, "features", feats)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Targets for inputs ``x`` of shape ``(n, d)``; returns shape ``(n,)``."""
        out = self.features[0](x)
        for f in self.features[1:]:
            out = out + f(x)
        return out


def gamma(x: torch.Tensor, y: torch.Tensor) -> float:
    """Empirical linear moment Γ̂ = ‖n⁻¹ Σ_i y_i x_i‖ of a data set.

    Parameters
    ----------
    x : torch.Tensor
        Inputs, shape ``(n, d)``.
    y : torch.Tensor
        Scalar targets, shape ``(n,)``.

    Returns
    -------
    float
        The Euclidean norm of the input–target cross moment; it sets the
        clock of the first escape.
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise ValueError("x must be a 2-D tensor of shape (n, d)")
    if not isinstance(y, torch.Tensor) or y.dim() != 1:
        raise ValueError("y must be a 1-D tensor of shape (n,)")
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"y has {y.shape[0]} entries but x has {x.shape[0]} rows")
    if not (bool(torch.isfinite(x).all()) and bool(torch.isfinite(y).all())):
        raise ValueError("x and y must contain only finite values")
    m = (y.to(x.dtype) @ x) / x.shape[0]
    return float(torch.linalg.vector_norm(m))
