"""Universality classes of activations: the leading term of φ_σ at 0.

Write σ(z) = Σ_k s_k z^k near 0. The Euler defect φ_σ(z) = zσ'(z) − σ(z)
then has the expansion

.. math:: \\varphi_\\sigma(z) = -s_0 + \\sum_{k\\ge 2} (k-1)\\,s_k z^k ,

(the linear term always cancels), and an activation is sorted by its
leading surviving term c_q z^q:

=====  ===================  =========================================
class  leading term          examples
=====  ===================  =========================================
A      φ_σ ≡ 0              identity; ReLU, leaky ReLU (homogeneous)
B      q odd (q ≥ 3)         tanh, sin, erf
C      q even (q ≥ 2)        GELU, SiLU, z + a z²
D      q = 0 (σ(0) ≠ 0)      sigmoid, softplus
=====  ===================  =========================================

:func:`classify` computes the Taylor coefficients s_k = σ^{(k)}(0)/k! by
nested autograd in float64, after checking that σ really is smooth at 0:
autograd silently returns torch's subgradient convention at a kink (the
derivative of ``abs`` at 0 is 0), which would make, e.g., softsign look
like the identity to third order. Smoothness is tested with one-sided
derivatives instead (see :func:`classify`).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Callable

import torch

from .._validate import between, integer
from ..book.counterfactual import active
from ..errors import NotSmoothError, ParameterError
from ._activations import ACTIVATIONS, Activation, get_activation, phi
from ._expressions import EXPRESSION_SYNTAX

__all__ = ["ActivationClass", "classify", "taylor_coefficients", "CLASS_LABELS"]

CLASS_LABELS: tuple[str, ...] = ("A", "B", "C", "D")
"""The four universality classes."""

_H_COARSE = 1e-3
_H_FINE = 1e-5
_JUMP_RATIO = 0.1
_GRID_MAX = 0.5


@dataclass(frozen=True)
class ActivationClass:
    """Result of :func:`classify`.

    Attributes
    ----------
    name : str
        Registry name or the callable's ``__name__``.
    label : str
        ``"A"``, ``"B"``, ``"C"`` or ``"D"``.
    q : int or None
        Order of the leading non-zero term of φ_σ at 0: 0 for class D, odd
        (≥ 3) for B, even (≥ 2) for C, None for class A (φ_σ ≡ 0).
    coefficient : float
        Its coefficient c_q, so φ_σ(z) = c_q z^q + o(z^q). 0.0 for class A.
    alpha : float or None
        σ'(0). None when σ is not differentiable at 0 (ReLU: one-sided slopes
        in :attr:`slopes`).
    offset : float
        σ(0).
    smooth : bool
        True if σ passed the smoothness test at 0 up to ``max_order``.
    taylor : tuple of float
        Taylor coefficients s_0 … s_K of σ at 0 (empty if not smooth).
    phi_taylor : tuple of float
        Taylor coefficients c_0 … c_K of φ_σ at 0 (empty if not smooth).
    slopes : tuple of float
        One-sided slopes (σ'(0⁻), σ'(0⁺)).
    reason : str
        One sentence: why this class.
    flags : tuple of str
        Warnings about assumptions of the theory that fail, e.g. σ'(0) = 0
        ("no linear regime") or σ'(0) < 0. Empty when none applies.
    """

    name: str
    label: str
    q: int | None
    coefficient: float
    alpha: float | None
    offset: float
    smooth: bool
    taylor: tuple[float, ...] = field(repr=False)
    phi_taylor: tuple[float, ...] = field(repr=False)
    slopes: tuple[float, float] = field(repr=False)
    reason: str = field(repr=False)
    flags: tuple[str, ...] = ()

    @property
    def linear_regime(self) -> bool:
        """True if σ'(0) exists and is non-zero, as the small-ε theory of B and C needs."""
        return self.alpha is not None and self.alpha != 0.0

    def __str__(self) -> str:
        if self.q is None:
            lead = "φ_σ ≡ 0"
        else:
            lead = f"φ_σ ≈ {self.coefficient:.6g} z^{self.q}"
        alpha = "undefined" if self.alpha is None else f"{self.alpha:.6g}"
        text = f"{self.name}: class {self.label} ({lead}; σ'(0) = {alpha}, σ(0) = {self.offset:.6g})"
        if self.flags:
            text += " [" + "; ".join(self.flags) + "]"
        return text


def _resolve(sigma) -> tuple[str, Activation]:
    # Registry names and expressions in z resolve as everywhere else (get_activation).
    if isinstance(sigma, str):
        try:
            return get_activation(sigma, "sigma")
        except ParameterError as err:
            raise ParameterError(f"classify: {err}") from None
    if callable(sigma) and not isinstance(sigma, type):
        return get_activation(sigma, "sigma")
    raise TypeError(
        f"classify: parameter 'sigma' must be an activation name ({', '.join(ACTIVATIONS)}), an expression "
        f"in z ({EXPRESSION_SYNTAX}) or an elementwise torch callable, got {type(sigma).__name__}"
    )


def _probe(name: str, fn: Callable) -> None:
    # The callable must map a float64 tensor to a finite float64 tensor of the
    # same shape, elementwise.
    z = torch.tensor([-0.7, -0.1, 0.0, 0.2, 0.9], dtype=torch.float64)
    try:
        out = fn(z)
    except Exception as err:  # noqa: BLE001 - report any failure of user code
        raise TypeError(
            f"classify: parameter 'sigma' ({name!r}) failed on a float64 tensor: "
            f"{type(err).__name__}: {err}"
        ) from err
    if not isinstance(out, torch.Tensor) or out.shape != z.shape:
        raise TypeError(
            f"classify: parameter 'sigma' ({name!r}) must return a tensor of the input's shape; "
            f"got {type(out).__name__} {tuple(getattr(out, 'shape', ()))} for shape (5,)"
        )
    if out.dtype != torch.float64:
        raise TypeError(
            f"classify: parameter 'sigma' ({name!r}) returned dtype {out.dtype} for float64 input; "
            "it must keep float64"
        )
    if not bool(torch.isfinite(out).all()):
        raise ParameterError(f"classify: parameter 'sigma' ({name!r}) is not finite near 0: {out.tolist()}")
    single = torch.stack([fn(z[i : i + 1])[0] for i in range(z.numel())])
    if not torch.allclose(single, out, rtol=1e-12, atol=1e-14):
        raise ParameterError(f"classify: parameter 'sigma' ({name!r}) is not elementwise")


def _derivatives(fn: Callable, points: torch.Tensor, order: int) -> torch.Tensor:
    """σ^{(k)} at ``points`` for k = 0 … order, by nested torch.autograd.grad.

    Returns a float64 tensor of shape (order + 1, len(points)).
    """
    z = points.detach().clone().requires_grad_(True)
    rows = []
    with torch.enable_grad():
        cur = fn(z)
        rows.append(cur.detach())
        for k in range(1, order + 1):
            if not cur.requires_grad:
                # σ^{(k)} no longer depends on z: all higher derivatives vanish.
                cur = torch.zeros_like(z)
                rows.append(cur)
                continue
            try:
                (grad,) = torch.autograd.grad(cur.sum(), z, create_graph=True, allow_unused=True)
            except RuntimeError as err:
                raise ParameterError(
                    f"classify: autograd cannot take derivative {k} of parameter 'sigma' ({err}); "
                    f"classify needs derivatives up to 'max_order' = {order}: pass a callable "
                    "autograd can differentiate that often, or a smaller 'max_order' (>= 2)"
                ) from err
            cur = torch.zeros_like(z) if grad is None else grad
            rows.append(cur.detach())
    return torch.stack(rows)


def taylor_coefficients(sigma, max_order: int = 8) -> tuple[float, ...]:
    """Raw Taylor coefficients s_k = σ^{(k)}(0)/k!, k = 0 … max_order, by nested autograd.

    No smoothness test: at a kink these are torch's conventions, not
    derivatives (for softsign, ELU and SELU they are those of a linear
    function, so φ_σ would look identically zero). Use :func:`classify`,
    which checks one-sided derivatives first; this function exists to show
    what goes wrong without that check.

    Parameters
    ----------
    sigma : str or callable
        Registry name or elementwise torch callable.
    max_order : int, default 8
        Highest order (2 ≤ max_order ≤ 12).

    Returns
    -------
    tuple of float
        (s_0, …, s_K).
    """
    name, fn = _resolve(sigma)
    K = integer("max_order", max_order, 2, 12)
    _probe(name, fn)
    at0 = _derivatives(fn, torch.zeros(1, dtype=torch.float64), K)[:, 0].tolist()
    return tuple(at0[k] / math.factorial(k) + 0.0 for k in range(K + 1))


def classify(sigma, *, max_order: int = 8, tol: float = 1e-9, counterfactual: bool = True) -> ActivationClass:
    """The universality class of an activation (registry name, expression or any torch callable).

    Parameters
    ----------
    sigma : str or callable
        A key of :data:`saddlebook.nets.ACTIVATIONS`, an expression in ``z``
        (``"atan(z)"``, ``"z + 0.3*z**2"``; see
        :class:`saddlebook.nets.Expression`) or an elementwise torch callable
        that keeps float64 (e.g. ``torch.sinh``, ``lambda z: z + z**3``,
        ``torch.nn.functional.elu``).
    max_order : int, default 8
        Highest Taylor order K examined (2 ≤ K ≤ 12). A φ_σ whose
        coefficients all vanish up to K but which is not ≡ 0 raises
        ParameterError (raise ``max_order``).
    tol : float, default 1e-9
        Zero tolerance. A Taylor coefficient c_k of φ_σ counts as zero when
        abs(c_k) ≤ tol · max(1, max_j abs(s_j)), the s_j being σ's Taylor
        coefficients at 0 (float64 autograd reproduces exact coefficients
        to about 1e-15, so the default separates round-off from structure
        with six decades to spare). The same relative ``tol`` decides
        whether one-sided derivatives jump (below) and whether φ_σ ≡ 0 on the
        test grid.
    counterfactual : bool, default True
        Honour the falsification run's ``phi_zero`` switch (φ_σ's Taylor
        series taken to be 0, so every smooth σ looks like class A). Chapter
        parameter validation passes False: refusing a parameter before any
        compute is not part of the mathematics under test.

    Returns
    -------
    ActivationClass
        ``.label`` in {"A", "B", "C", "D"}, ``.q``, ``.coefficient`` (c_q),
        ``.alpha`` (σ'(0)), ``.offset`` (σ(0)), ``.flags``, ``.reason``.

    Raises
    ------
    NotSmoothError
        (a ValueError) if σ is not smooth at 0 and not positively homogeneous
        of degree one: ELU, SELU, softsign, z + z·abs(z), ... Such a function has
        no class; nested autograd would have assigned one silently.
    saddlebook.errors.ParameterError
        (a ValueError) Unknown registry name or a refused expression, non-elementwise or non-finite σ, a bad
        ``max_order`` / ``tol``, or a leading term beyond ``max_order``.
    TypeError
        ``sigma`` is neither a name nor a callable, or fails on / does not
        return a float64 tensor of the input's shape.

    Notes
    -----
    *Smoothness test.* For k = 0 … K the derivative σ^{(k)} is evaluated by
    nested autograd at z = ±h for h = 1e-3 and h = 1e-5, away from a kink
    at 0 where torch's conventions would mislead. For a smooth σ the gap
    J_k(h) = abs(σ^{(k)}(h) − σ^{(k)}(−h)) shrinks at least like h (by ≥ 100×
    between the two h), and the mismatch
    M_k(h) = abs(σ^{(k)}(0) − ½(σ^{(k)}(h) + σ^{(k)}(−h))) like h². A
    jump does not shrink. σ is declared non-smooth at order k if J_k or M_k
    at h = 1e-5 exceeds 0.1 × its value at h = 1e-3 *and* exceeds the
    round-off floor tol · k! · max(1, max_j abs(s_j)).

    *Homogeneous, non-smooth σ.* If σ fails the smoothness test but
    σ(0) = 0 and φ_σ(z) = 0 (to ``tol`` relative to abs(zσ'(z)) + abs(σ(z))) on a
    grid of 40 points of both signs in 1e-4 ≤ abs(z) ≤ 0.5, σ is positively
    homogeneous of
    degree one near 0 (σ = a z⁺ − b z⁻: ReLU, leaky ReLU, abs(z)): class A,
    because the imbalance identity's right-hand side vanishes wherever σ is
    differentiable. ``alpha`` is then None if the one-sided slopes differ.

    *Class A by Taylor coefficients.* If σ is smooth and every c_k up to K
    vanishes, φ_σ is also required to vanish on a grid in 1e-3 ≤ abs(z) ≤ 0.5
    of both signs (σ linear near 0, e.g. identity, hardtanh); otherwise the
    leading term lies beyond K and ParameterError is raised.

    *Flags.* σ'(0) = 0 (e.g. cos) is flagged: the network is not linear to
    leading order at the origin and the B/C escape clock ∝ α^{L−1} does not
    exist. σ'(0) < 0 is flagged too (the theory assumes α > 0; −σ(z) with
    the next layer's signs flipped is the same network).
    """
    name, fn = _resolve(sigma)
    K = integer("max_order", max_order, 2, 12)
    tol = between("tol", tol, 0.0, 1e-2)
    _probe(name, fn)
    # A name or an expression always means the same function: its derivatives are worked out once per process
    # (a chapter's parameter check classifies every registry activation, and the command line checks often).
    at0, side = _derivatives_of_name(sigma, K) if isinstance(sigma, str) else _derivatives_near_zero(name, fn, K)
    taylor = [at0[k] / math.factorial(k) for k in range(K + 1)]
    scale = max(1.0, max(abs(s) for s in taylor))
    slopes = (side[1][2], side[1][3])
    bad_order = _first_jump(at0, side, tol, scale)
    if bad_order is not None:
        if bad_order > 0 and abs(at0[0]) <= tol * scale and _homogeneous(fn, tol):
            return _kinked_class_a(name, at0[0], slopes, bad_order, tol)
        k = bad_order
        raise NotSmoothError(name, k, side[k][2], side[k][3], at0[k], _H_FINE)

    phi_taylor = [-taylor[0], 0.0] + [(k - 1) * taylor[k] for k in range(2, K + 1)]
    if counterfactual and active("phi_zero"):
        phi_taylor = [0.0] * len(phi_taylor)
    zero = tol * scale
    q = next((k for k, c in enumerate(phi_taylor) if abs(c) > zero), None)
    if q is None:
        _check_linear_near_zero(name, fn, K, tol)
    label, coefficient, reason = _decide(q, phi_taylor, at0[0])
    return ActivationClass(
        name=name,
        label=label,
        q=q,
        coefficient=float(coefficient),
        alpha=float(at0[1]) + 0.0,
        offset=float(at0[0]) + 0.0,
        smooth=True,
        taylor=tuple(taylor),
        phi_taylor=tuple(phi_taylor),
        slopes=slopes,
        reason=reason,
        flags=_slope_flags(at0[1], zero),
    )


@functools.lru_cache(maxsize=256)
def _derivatives_of_name(sigma: str, K: int) -> tuple[tuple[float, ...], tuple[tuple[float, ...], ...]]:
    name, fn = _resolve(sigma)
    at0, side = _derivatives_near_zero(name, fn, K)
    return tuple(at0), tuple(tuple(s) for s in side)


def _derivatives_near_zero(name: str, fn: Callable, K: int) -> tuple[list[float], list[list[float]]]:
    """σ^{(k)}(0) and σ^{(k)} at (−h_c, h_c, −h_f, h_f), k = 0 … K, as Python floats."""
    # One nested-autograd graph for all five points (σ is elementwise): the cost of order K
    # grows fast with the depth of σ's composition, so building it twice doubled the time.
    pts = torch.tensor([0.0, -_H_COARSE, _H_COARSE, -_H_FINE, _H_FINE], dtype=torch.float64)
    both = _derivatives(fn, pts, K)
    at0, side = both[:, 0], both[:, 1:]
    if not (bool(torch.isfinite(at0).all()) and bool(torch.isfinite(side).all())):
        raise ParameterError(
            f"classify: parameter 'sigma' ({name!r}) has non-finite derivatives up to order {K} near 0"
        )
    return at0.tolist(), side.tolist()


def _first_jump(at0: list[float], side: list[list[float]], tol: float, scale: float) -> int | None:
    """Lowest order k whose one-sided derivatives disagree in the limit h → 0, or None if smooth.

    A gap that does not shrink by the factor ``_JUMP_RATIO`` from the coarse to
    the fine step, and is above the round-off floor, is a jump (see :func:`classify`).
    """
    for k in range(len(at0)):
        floor = tol * math.factorial(k) * scale
        lc, rc, lf, rf = side[k]
        jump_c, jump_f = abs(rc - lc), abs(rf - lf)
        mis_c, mis_f = abs(at0[k] - 0.5 * (rc + lc)), abs(at0[k] - 0.5 * (rf + lf))
        if (jump_f > floor and jump_f > _JUMP_RATIO * jump_c) or (mis_f > floor and mis_f > _JUMP_RATIO * mis_c):
            return k
    return None


def _homogeneous(fn: Callable, tol: float) -> bool:
    """True if φ_σ = zσ' − σ vanishes (to ``tol``) on 40 points, 1e-4 ≤ abs(z) ≤ 0.5, of both signs."""
    grid = torch.logspace(-4, math.log10(_GRID_MAX), 20, dtype=torch.float64)
    grid = torch.cat([-grid.flip(0), grid])
    gz = grid.clone().requires_grad_(True)
    with torch.enable_grad():
        val = fn(gz)
        (der,) = torch.autograd.grad(val.sum(), gz, allow_unused=True)
    der = torch.zeros_like(grid) if der is None else der
    val, der = val.detach(), der.detach()
    defect = (grid * der - val).abs()
    size = (grid * der).abs() + val.abs()
    return bool((defect <= tol * size + 1e-300).all())


def _kinked_class_a(name: str, offset: float, slopes: tuple[float, float], order: int, tol: float) -> ActivationClass:
    """Class A for a σ that jumps at 0 but is positively homogeneous of degree one."""
    lo, hi = slopes
    differentiable = abs(hi - lo) <= tol * max(1.0, abs(hi), abs(lo))
    alpha = 0.5 * (hi + lo) if differentiable else None
    flags = () if alpha is not None else (f"σ'(0) does not exist (one-sided slopes {lo:.6g} and {hi:.6g})",)
    return ActivationClass(
        name=name,
        label="A",
        q=None,
        coefficient=0.0,
        alpha=alpha,
        offset=offset + 0.0,
        smooth=False,
        taylor=(),
        phi_taylor=(),
        slopes=slopes,
        reason=(
            f"not smooth at 0 (derivative of order {order} jumps), but positively "
            "homogeneous of degree one: φ_σ(z) = zσ'(z) − σ(z) = 0 on both sides of 0, "
            "so the imbalance is conserved exactly (away from the kink)"
        ),
        flags=flags,
    )


def _check_linear_near_zero(name: str, fn: Callable, K: int, tol: float) -> None:
    """Refuse a φ_σ whose Taylor coefficients vanish to order K but which is not ≡ 0 near 0."""
    grid = torch.logspace(-3, math.log10(_GRID_MAX), 20, dtype=torch.float64)
    grid = torch.cat([-grid.flip(0), grid])
    ph = phi(fn, grid).abs()
    ref = (grid * _derivatives(fn, grid, 1)[1]).abs() + fn(grid).detach().abs()
    if not bool((ph <= tol * ref + 1e-300).all()):
        raise ParameterError(
            f"classify: φ_σ of parameter 'sigma' ({name!r}) vanishes to order {K} at 0 but not near 0 "
            f"(max |φ_σ| = {float(ph.max()):.3g} for |z| <= {_GRID_MAX:g}); its leading term is beyond order {K}: "
            f"raise parameter 'max_order' (allowed: up to 12) above {K}"
        )


def _decide(q: int | None, phi_taylor: list[float], offset: float) -> tuple[str, float, str]:
    """Label, leading coefficient c_q and reason, from the order q of φ_σ's leading term."""
    if q is None:
        return "A", 0.0, "φ_σ ≡ 0: σ(z) = σ'(0) z is linear, Euler's identity holds and the imbalance is conserved"
    coefficient = phi_taylor[q]
    if q == 0:
        return "D", coefficient, f"σ(0) = {offset:.6g} ≠ 0: φ_σ(0) = −σ(0) is a non-zero constant"
    if q % 2 == 1:
        return "B", coefficient, f"leading term of φ_σ is odd: {coefficient:.6g} z^{q} (no even term below it)"
    return "C", coefficient, f"leading term of φ_σ is even: {coefficient:.6g} z^{q}"


def _slope_flags(alpha: float, zero: float) -> tuple[str, ...]:
    """Warnings about σ'(0) that the small-ε theory of classes B and C assumes away."""
    if abs(alpha) <= zero:
        return (
            "σ'(0) = 0: no linear regime at the origin; the small-ε theory of classes B and C "
            "(clock ∝ α^{L-1}) does not apply",
        )
    if alpha < 0:
        return ("σ'(0) < 0: the theory assumes α > 0 (flip the signs of the next layer)",)
    return ()
