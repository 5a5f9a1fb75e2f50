"""Activation functions, their derivatives, and the Euler defect φ_σ.

The imbalance identity (Theorem 1) is driven by

.. math:: \\varphi_\\sigma(z) = z\\,\\sigma'(z) - \\sigma(z),

the failure of Euler's identity for homogeneous functions. It vanishes
identically for the identity and (away from 0) for ReLU / leaky ReLU.

Activations are referred to either by a registry name (see
:data:`ACTIVATIONS`) or by any elementwise torch callable.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from ..book.counterfactual import active

__all__ = [
    "ACTIVATIONS",
    "SMOOTH",
    "quadratic",
    "get_activation",
    "derivative",
    "phi",
]

Activation = Callable[[torch.Tensor], torch.Tensor]


def identity(z: torch.Tensor) -> torch.Tensor:
    """Identity activation σ(z) = z."""
    return z


def relu(z: torch.Tensor) -> torch.Tensor:
    """ReLU activation σ(z) = max(z, 0)."""
    return torch.relu(z)


def leaky_relu(z: torch.Tensor) -> torch.Tensor:
    """Leaky ReLU with negative slope 0.01."""
    return F.leaky_relu(z, negative_slope=0.01)


def tanh(z: torch.Tensor) -> torch.Tensor:
    """Hyperbolic tangent."""
    return torch.tanh(z)


def sin(z: torch.Tensor) -> torch.Tensor:
    """Sine."""
    return torch.sin(z)


def erf(z: torch.Tensor) -> torch.Tensor:
    """Gauss error function (σ'(0) = 2/√π)."""
    return torch.erf(z)


def gelu(z: torch.Tensor) -> torch.Tensor:
    """Exact GELU, z Φ(z) with Φ the standard normal CDF (erf form)."""
    return F.gelu(z, approximate="none")


def silu(z: torch.Tensor) -> torch.Tensor:
    """SiLU / Swish, z · sigmoid(z)."""
    return F.silu(z)


def sigmoid(z: torch.Tensor) -> torch.Tensor:
    """Logistic sigmoid (σ(0) = 1/2, a class-D activation)."""
    return torch.sigmoid(z)


def softplus(z: torch.Tensor) -> torch.Tensor:
    """Softplus log(1 + e^z), evaluated exactly for all z.

    ``torch.nn.functional.softplus`` switches to the identity above a
    threshold; ``logaddexp`` keeps the function exact everywhere.
    """
    return torch.logaddexp(z, torch.zeros((), dtype=z.dtype, device=z.device))


def quadratic(a: float) -> Activation:
    """Return the activation σ(z) = z + a z².

    Parameters
    ----------
    a : float
        Coefficient of the quadratic term (any finite real number).

    Returns
    -------
    callable
        Elementwise function with ``__name__`` ``"quadratic(a=<a>)"``. Its
        Euler defect is exactly φ_σ(z) = a z² (a class-C activation when
        a ≠ 0).

    Raises
    ------
    TypeError
        If ``a`` is not a real number.
    ValueError
        If ``a`` is not finite.
    """
    if isinstance(a, bool) or not isinstance(a, (int, float)):
        raise TypeError(f"quadratic: parameter 'a' must be a real number, got {type(a).__name__}")
    if not math.isfinite(a):
        raise ValueError(f"quadratic: parameter 'a' must be finite, got {a}")
    a = float(a)

    def _quadratic(z: torch.Tensor) -> torch.Tensor:
        return z + a * z * z

    _quadratic.__name__ = f"quadratic(a={a:g})"
    _quadratic.__qualname__ = _quadratic.__name__
    _quadratic.a = a  # type: ignore[attr-defined]
    return _quadratic


ACTIVATIONS: dict[str, Activation] = {
    "identity": identity,
    "relu": relu,
    "leaky_relu": leaky_relu,
    "tanh": tanh,
    "sin": sin,
    "erf": erf,
    "gelu": gelu,
    "silu": silu,
    "sigmoid": sigmoid,
    "softplus": softplus,
    "quadratic": quadratic(0.5),
}
"""Registry of named activations (``quadratic`` is z + 0.5 z²)."""

SMOOTH: tuple[str, ...] = (
    "identity",
    "tanh",
    "sin",
    "erf",
    "gelu",
    "silu",
    "sigmoid",
    "softplus",
    "quadratic",
)
"""Registry names whose activation is smooth (analytic) at 0."""


def get_activation(sigma: str | Activation) -> tuple[str, Activation]:
    """Resolve an activation given by name or as a callable.

    Parameters
    ----------
    sigma : str or callable
        A key of :data:`ACTIVATIONS` or any elementwise torch callable.

    Returns
    -------
    name : str
        Display name (the registry key, or the callable's ``__name__`` /
        class name).
    fn : callable
        The activation function.

    Raises
    ------
    ValueError
        If ``sigma`` is a string that is not a registry name.
    TypeError
        If ``sigma`` is neither a string nor callable.
    """
    if isinstance(sigma, str):
        if sigma not in ACTIVATIONS:
            allowed = ", ".join(ACTIVATIONS)
            raise ValueError(
                f"activation '{sigma}' is unknown; allowed: {allowed} or any torch callable"
            )
        return sigma, ACTIVATIONS[sigma]
    if callable(sigma):
        name = getattr(sigma, "__name__", None) or type(sigma).__name__
        return str(name), sigma
    raise TypeError(
        f"parameter 'sigma' must be an activation name ({', '.join(ACTIVATIONS)}) "
        f"or a torch callable, got {type(sigma).__name__}"
    )


def derivative(sigma: str | Activation, z: torch.Tensor) -> torch.Tensor:
    """Elementwise derivative σ'(z), computed by autograd.

    Parameters
    ----------
    sigma : str or callable
        Activation (registry name or elementwise torch callable).
    z : torch.Tensor
        Points at which to differentiate; any shape. ``z`` need not require
        gradients.

    Returns
    -------
    torch.Tensor
        σ'(z), same shape, dtype and device as ``z``. If ``z`` requires
        gradients the result stays differentiable with respect to ``z``
        (so nested calls give higher derivatives); otherwise it is detached.

    Notes
    -----
    Uses ∂/∂z Σ σ(z), which equals σ'(z) elementwise because σ acts
    elementwise. At kinks autograd returns torch's subgradient convention
    (e.g. ReLU'(0) = 0), so this is not a smoothness test.
    """
    _, fn = get_activation(sigma)
    if not isinstance(z, torch.Tensor):
        raise TypeError(f"parameter 'z' must be a torch.Tensor, got {type(z).__name__}")
    if z.requires_grad:
        with torch.enable_grad():
            out = fn(z)
            (grad,) = torch.autograd.grad(out.sum(), z, create_graph=True, allow_unused=True)
    else:
        zz = z.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            out = fn(zz)
            (grad,) = torch.autograd.grad(out.sum(), zz, allow_unused=True)
        if grad is not None:
            grad = grad.detach()
    if grad is None:
        # σ independent of z (a constant activation): σ' ≡ 0.
        grad = torch.zeros_like(z)
    return grad


def phi(sigma: str | Activation, z: torch.Tensor) -> torch.Tensor:
    """Euler defect φ_σ(z) = z σ'(z) − σ(z).

    Parameters
    ----------
    sigma : str or callable
        Activation (registry name or elementwise torch callable).
    z : torch.Tensor
        Points of evaluation; any shape.

    Returns
    -------
    torch.Tensor
        φ_σ(z), same shape, dtype and device as ``z``. Zero for every
        positively homogeneous σ of degree one (identity, ReLU, leaky ReLU);
        ≈ −(2/3) z³ for tanh; exactly a z² for :func:`quadratic` (a).
    """
    _, fn = get_activation(sigma)
    if not isinstance(z, torch.Tensor):
        raise TypeError(f"parameter 'z' must be a torch.Tensor, got {type(z).__name__}")
    if active("phi_zero"):
        return torch.zeros_like(z)
    value = fn(z)
    if not z.requires_grad:
        value = value.detach()
    return z * derivative(fn, z) - value
