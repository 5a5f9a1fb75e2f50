"""Activation functions, their derivatives, and the Euler defect φ_σ.

The imbalance identity (Theorem 1) is driven by

.. math:: \\varphi_\\sigma(z) = z\\,\\sigma'(z) - \\sigma(z),

the failure of Euler's identity for homogeneous functions. It vanishes
identically for the identity and (away from 0) for ReLU / leaky ReLU.

Activations are referred to by a registry name (see :data:`ACTIVATIONS`),
by an expression in ``z`` such as ``"atan(z)"`` or ``"z + 0.3*z**2"``
(parsed by a whitelist, never evaluated as code: see
:class:`saddlebook.nets.Expression`), or by any elementwise torch callable.
Each registry entry (:data:`REGISTRY`) carries σ together with a fused closed
form of (σ, σ′), which the batched gradients use (:func:`activation_pair`);
an expression carries its own derivative rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from ..book.counterfactual import active
from ..errors import ParameterError
from ._expressions import EXPRESSION_FUNCTIONS, EXPRESSION_SYNTAX, Expression, parse_expression

__all__ = [
    "Activation",
    "Pair",
    "ActivationSpec",
    "REGISTRY",
    "ACTIVATIONS",
    "SMOOTH",
    "quadratic",
    "get_activation",
    "parse_activation",
    "activation_pair",
    "derivative",
    "phi",
]

Activation = Callable[[torch.Tensor], torch.Tensor]
"""An elementwise activation, tensor to tensor of the same shape."""

Pair = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
"""``pair(z) -> (σ(z), σ'(z))``."""


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
    saddlebook.errors.ParameterError
        (a ValueError) If ``a`` is not finite.
    """
    if isinstance(a, bool) or not isinstance(a, (int, float)):
        raise TypeError(f"quadratic: parameter 'a' must be a real number, got {type(a).__name__}")
    if not math.isfinite(a):
        raise ParameterError(f"quadratic: parameter 'a' must be finite, got {a}")
    a = float(a)

    def _quadratic(z: torch.Tensor) -> torch.Tensor:
        return z + a * z * z

    _quadratic.__name__ = f"quadratic(a={a:g})"
    _quadratic.__qualname__ = _quadratic.__name__
    _quadratic.a = a  # type: ignore[attr-defined]
    return _quadratic


# Fused closed forms of (σ, σ'): σ' reuses σ's work where it can
# (tanh' = 1 − tanh², sigmoid' = s(1 − s)). The σ half is written as the
# batched gradients have always computed it, which for gelu and leaky_relu
# differs from the registry function only at round-off.
_SQRT_2PI = math.sqrt(2.0 * math.pi)


def _tanh_pair(z):
    t = torch.tanh(z)
    return t, 1.0 - t * t


def _sin_pair(z):
    return torch.sin(z), torch.cos(z)


def _erf_pair(z):
    return torch.erf(z), (2.0 / math.sqrt(math.pi)) * torch.exp(-z * z)


def _gelu_pair(z):
    cdf = 0.5 * (1.0 + torch.erf(z / math.sqrt(2.0)))
    return z * cdf, cdf + z * torch.exp(-0.5 * z * z) / _SQRT_2PI


def _silu_pair(z):
    s = torch.sigmoid(z)
    return z * s, s * (1.0 + z * (1.0 - s))


def _sigmoid_pair(z):
    s = torch.sigmoid(z)
    return s, s * (1.0 - s)


def _softplus_pair(z):
    return torch.logaddexp(z, torch.zeros((), dtype=z.dtype)), torch.sigmoid(z)


def _identity_pair(z):
    return z, torch.ones_like(z)


def _relu_pair(z):
    return torch.relu(z), (z > 0).to(z.dtype)


def _leaky_relu_pair(z):
    # The slopes are built in z's dtype: from two Python scalars torch.where makes
    # a float32 0.01, 2e-8 off (relative) in a float64 computation.
    slope = torch.where(z > 0, torch.ones_like(z), torch.full_like(z, 0.01))
    return torch.where(z > 0, z, 0.01 * z), slope


def _quadratic_pair(a: float) -> Pair:
    return lambda z: (z + a * z * z, 1.0 + 2.0 * a * z)


@dataclass(frozen=True)
class ActivationSpec:
    """One registry entry: an activation and its derivative, evaluated together.

    Attributes
    ----------
    name : str
        Registry name.
    fn : callable
        σ, the function :func:`get_activation` returns.
    pair : callable
        ``pair(z) -> (σ(z), σ'(z))`` in closed form. Its σ' equals
        :func:`derivative` (autograd) to round-off, torch's conventions at a
        kink included (ReLU'(0) = 0, leaky ReLU'(0) = 0.01).
    """

    name: str
    fn: Activation
    pair: Pair

    def derivative(self, z: torch.Tensor) -> torch.Tensor:
        """σ'(z) from the closed form (same shape and dtype as ``z``)."""
        return self.pair(z)[1]


_QUADRATIC = quadratic(0.5)

REGISTRY: dict[str, ActivationSpec] = {
    spec.name: spec
    for spec in (
        ActivationSpec("identity", identity, _identity_pair),
        ActivationSpec("relu", relu, _relu_pair),
        ActivationSpec("leaky_relu", leaky_relu, _leaky_relu_pair),
        ActivationSpec("tanh", tanh, _tanh_pair),
        ActivationSpec("sin", sin, _sin_pair),
        ActivationSpec("erf", erf, _erf_pair),
        ActivationSpec("gelu", gelu, _gelu_pair),
        ActivationSpec("silu", silu, _silu_pair),
        ActivationSpec("sigmoid", sigmoid, _sigmoid_pair),
        ActivationSpec("softplus", softplus, _softplus_pair),
        ActivationSpec("quadratic", _QUADRATIC, _quadratic_pair(_QUADRATIC.a)),
        # The other smooth activations of torch.nn.functional with σ'(0) > 0, with the expression table's
        # derivative rules. tanhshrink (z − tanh z, σ'(0) = 0: no linear regime) is an expression function only.
        *(ActivationSpec(name, EXPRESSION_FUNCTIONS[name].fn, EXPRESSION_FUNCTIONS[name].pair)
          for name in ("mish", "gelu_tanh", "logsigmoid")),
    )
}
"""The registry: name → :class:`ActivationSpec` (σ with its fused (σ, σ'))."""

ACTIVATIONS: dict[str, Activation] = {name: spec.fn for name, spec in REGISTRY.items()}
"""Registry of named activations (``quadratic`` is z + 0.5 z²; ``gelu_tanh`` is torch's
tanh approximation of GELU)."""

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
    "mish",
    "gelu_tanh",
    "logsigmoid",
)
"""Registry names whose activation is smooth (analytic) at 0."""


def get_activation(sigma: str | Activation, param: str = "sigma") -> tuple[str, Activation]:
    """Resolve an activation given by name, by expression or as a callable.

    Parameters
    ----------
    sigma : str or callable
        A key of :data:`ACTIVATIONS`; an expression in ``z`` such as
        ``"atan(z)"``, ``"z*tanh(softplus(z))"`` or ``"z + 0.3*z**2"``
        (syntax: :class:`saddlebook.nets.Expression`); or any elementwise
        torch callable.
    param : str, default "sigma"
        The caller's name for this parameter, quoted by the refusals (a sweep
        passes ``"activation"``).

    Returns
    -------
    name : str
        Display name: the registry key, the expression as written, or the
        callable's ``__name__`` / class name.
    fn : callable
        The activation function (an :class:`~saddlebook.nets.Expression` for
        an expression).

    Raises
    ------
    saddlebook.errors.ParameterError
        (a ValueError) If ``sigma`` is a string that is neither a registry name
        nor a valid expression; the message names ``param``, the registry
        names and the expression syntax.
    TypeError
        If ``sigma`` is neither a string nor callable.
    """
    if isinstance(sigma, str):
        if sigma in ACTIVATIONS:
            return sigma, ACTIVATIONS[sigma]
        expression = parse_expression(sigma, param, tuple(ACTIVATIONS))
        return expression.text, expression
    if callable(sigma):
        name = getattr(sigma, "__name__", None) or type(sigma).__name__
        return str(name), sigma
    raise TypeError(
        f"parameter '{param}' must be an activation name ({', '.join(ACTIVATIONS)}), an expression in z "
        f"({EXPRESSION_SYNTAX}) or a torch callable, got {type(sigma).__name__}"
    )


def parse_activation(text: str, param: str = "activation") -> Activation:
    """The activation a chapter parameter names: a registry name or an expression in ``z``.

    Parameters
    ----------
    text : str
        A key of :data:`ACTIVATIONS` or an expression such as ``"atan(z)"``.
    param : str, default "activation"
        The parameter name quoted by the refusals.

    Returns
    -------
    callable
        The registry function, or an :class:`~saddlebook.nets.Expression`
        (picklable, equal to any expression with the same normalised text).

    Raises
    ------
    saddlebook.errors.ParameterError
        Not a string, an unknown name, or a malformed or disallowed expression.
    """
    if not isinstance(text, str):
        raise ParameterError(
            f"parameter '{param}' = {text!r} must be a string: a registry name ({', '.join(ACTIVATIONS)}) "
            f"or an expression in z ({EXPRESSION_SYNTAX})"
        )
    return get_activation(text, param)[1]


def activation_pair(sigma: str | Activation, param: str = "sigma") -> tuple[str, Pair]:
    """σ and σ' evaluated together.

    Parameters
    ----------
    sigma : str or callable
        A key of :data:`ACTIVATIONS`, an expression in ``z``, or an
        elementwise torch callable.
    param : str, default "sigma"
        The caller's name for this parameter, quoted by the refusals.

    Returns
    -------
    name : str
        Display name of the activation.
    pair : callable
        ``pair(z) -> (σ(z), σ'(z))``: the registry's closed form for a name
        (:attr:`ActivationSpec.pair`) and for a :func:`quadratic` callable;
        the derivative rules of an expression (:meth:`Expression.pair`, equal
        to autograd to round-off); for any other callable σ itself with σ' by
        autograd (:func:`derivative`).

    Raises
    ------
    saddlebook.errors.ParameterError, TypeError
        As :func:`get_activation` for an unknown name, a bad expression or a non-callable.
    """
    name, fn = get_activation(sigma, param)
    if isinstance(sigma, str) and sigma in REGISTRY:
        return name, REGISTRY[sigma].pair
    if isinstance(fn, Expression):
        return name, fn.pair
    a = getattr(fn, "a", None)
    if a is not None and name.startswith("quadratic"):
        return name, _quadratic_pair(a)
    return name, lambda z: (fn(z), derivative(fn, z))


def derivative(sigma: str | Activation, z: torch.Tensor) -> torch.Tensor:
    """Elementwise derivative σ'(z), computed by autograd.

    Parameters
    ----------
    sigma : str or callable
        Activation (registry name, expression in ``z`` or elementwise torch callable).
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
    (e.g. ReLU'(0) = 0), so this is not a smoothness test. For a registry
    name the closed form :meth:`ActivationSpec.derivative` gives the same
    values to round-off; autograd is kept here so that results (and their
    graphs, for nested calls) do not depend on how σ was named.
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
        Activation (registry name, expression in ``z`` or elementwise torch callable).
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
