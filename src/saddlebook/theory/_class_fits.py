"""What an activation's universality class changes in the escape law's finite-ε corrections.

Derivation (used by chapters 5 and 6). Near the saddle write the activation as
σ(h) = α h + s₂ h² + s₃ h³ + …, α = σ′(0) > 0, s₂ = 0 for class B (odd σ) and
s₂ ≠ 0 for class C. The largest pre-activation is of the order of the bottleneck
scale y, so the network's output is α^{L−1}G·(linear part)·(1 + O(y²)) plus an
*even* part of relative size (s₂/α)·O(y). The bottleneck gain then obeys

    ẏ = Γ_eff y^{r−1} (1 + β y^k + …),

with correction order k = 2 for class B and k = 1 for class C: the even part
enters the gradient E[(y_target − ŷ) ∂ŷ/∂θ] through the even moment
E[y_target x xᵀ] of the data, abs(β) ≲ (2 abs(s₂)/α)·‖E[y x xᵀ]‖₂/‖E[y x]‖
(:func:`even_coefficient`). For an odd target under a symmetric input
distribution (the Gaussian population) that moment vanishes and class C falls
back to k = 2 (``parity_cancels=True``); on a finite sample it is O(n^{−1/2}).

Integrating, τΓ_eff = ε^{−(r−2)}/(r−2) − β ε^{−(r−2−k)}/(r−2−k) + … + const,
so the local slope d log τ/d log ε misses −(r−2) by

    abs(β) k (r−2) ε^k / (r−2−k)          (r − 2 > k),
    abs(β) (r−2) ε^k (k log(1/ε) − 1)     (r − 2 = k),
    abs(β) (r−2) ε^{r−2} / (k − r + 2)    (r − 2 < k: it joins the offset),

(:func:`slope_miss`): the finite-ε bias of a fitted exponent is first order in ε
for class C and second order for class B, on top of the class-independent
offset (order ε^{r−2}). :func:`fit_exponent` models the class's leading
correction: the offset fit A ε^{−p} + B for k ≥ 2, and for k = 1 one more
term, A′ log(1/ε) for r = 3 and A β ε^{1−p} for r ≥ 4.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from scipy.optimize import least_squares

from ..errors import ParameterError
from ._fits import _pairs, fit_power

__all__ = ["correction_order", "slope_miss", "slope_miss_order", "even_coefficient", "eps_ceiling",
           "fit_exponent", "fit_form", "fit_points", "ExponentFit",
           "he_forward_growth", "growth_window_top", "growth_eps_ceiling"]

_REASONS = {
    "A": "class A (phi_sigma = 0, homogeneous or linear) has no saddle-escape law of this form",
    "D": "class D (sigma(0) != 0) has a constant term that dominates; the small-eps law does not apply",
}


class ExponentFit(NamedTuple):
    """Result of :func:`fit_exponent`: τ ≈ A ε^{−p} + B + the class's correction term; callable."""

    p: float
    A: float
    B: float
    correction: float
    r: int
    order: int

    @property
    def form(self) -> str:
        """The fitted law in words (:func:`fit_form`)."""
        return fit_form(self.r, self.order)

    def __call__(self, eps):
        e = np.asarray(eps, dtype=float)
        if self.order >= 2:
            extra = 0.0
        elif self.r == 3:
            extra = self.correction * np.log(1.0 / e)
        else:
            extra = self.A * self.correction * e ** (1.0 - self.p)
        return self.A * e ** (-self.p) + self.B + extra


def correction_order(label: str, *, parity_cancels: bool = False) -> int:
    """Order k in y of the first relative correction to ẏ = Γ_eff y^{r−1} (see the module).

    Parameters
    ----------
    label : str
        Universality class, ``"B"`` or ``"C"`` (``classify(...).label``).
    parity_cancels : bool, default False
        True for an odd target on a symmetric input distribution (population),
        where the even part of a class-C activation does not reach the gradient.

    Returns
    -------
    int
        2 for class B (and class C when ``parity_cancels``), 1 for class C.
    """
    if label in _REASONS:
        raise ParameterError(f"parameter 'label' = {label!r}: {_REASONS[label]}; allowed: 'B', 'C'")
    if label not in ("B", "C"):
        raise ParameterError(f"parameter 'label' = {label!r} must be one of 'B', 'C'")
    return 1 if label == "C" and not parity_cancels else 2


def _check_r(r) -> int:
    if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r < 3:
        raise ParameterError(f"parameter 'r' = {r!r} must be an integer >= 3 (a power law needs r >= 3)")
    return int(r)


def _check_order(order) -> int:
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
        raise ParameterError(f"parameter 'order' = {order!r} must be an integer >= 1")
    return int(order)


def slope_miss_order(order: int, r: int) -> int:
    """Order in ε of the local slope's miss of −(r−2): min(k, r − 2) (offset included).

    Parameters
    ----------
    order : int
        Correction order k (:func:`correction_order`).
    r : int
        Bottleneck size, ≥ 3.

    Returns
    -------
    int
    """
    return min(_check_order(order), _check_r(r) - 2)


def slope_miss(order: int, coefficient: float, eps, r: int):
    """Miss of the local slope d log τ/d log ε from −(r−2) due to a correction β y^k.

    Leading order in ε, with the integral's upper limit ϑ = 1 (the scale of the
    order-one layers); the class-independent offset of that limit is not included.

    Parameters
    ----------
    order : int
        k.
    coefficient : float
        abs(β) (for class C, :func:`even_coefficient`).
    eps : float or array_like
        Scales, 0 < ε < 1.
    r : int
        Bottleneck size, ≥ 3.

    Returns
    -------
    float or numpy.ndarray
        abs(β) k (r−2) ε^k / (r−2−k) for r − 2 > k; abs(β) (r−2) ε^k (k log(1/ε) − 1) for
        r − 2 = k; abs(β) (r−2) ε^{r−2} / (k − r + 2) for r − 2 < k (the correction then
        integrates to a constant and joins the offset).
    """
    k, r = _check_order(order), _check_r(r)
    e = np.asarray(eps, dtype=float)
    if not (np.all(np.isfinite(e)) and np.all(e > 0) and np.all(e < 1)):
        raise ParameterError("parameter 'eps' must be finite and in (0, 1)")
    b, n = abs(float(coefficient)), r - 2
    if n > k:
        out = b * k * n * e**k / (n - k)
    elif n == k:
        out = b * n * e**k * np.maximum(k * np.log(1.0 / e) - 1.0, 0.0)
    else:  # the correction integrates to a constant: it joins the offset, order eps^(r-2)
        out = b * n * e**n / (k - n)
    return float(out) if out.ndim == 0 else out


def eps_ceiling(order: int, coefficient: float, r: int, budget: float) -> float:
    """Largest ε at which :func:`slope_miss` stays within ``budget`` (inf if the coefficient is 0).

    Parameters
    ----------
    order, coefficient, r
        As in :func:`slope_miss`.
    budget : float
        Allowed miss, > 0 (a fraction of a check's tolerance).

    Returns
    -------
    float
    """
    if not (isinstance(budget, (int, float)) and math.isfinite(budget) and budget > 0):
        raise ParameterError(f"parameter 'budget' = {budget!r} must be a finite number > 0")
    if float(coefficient) == 0.0:
        return math.inf
    lo, hi = 1e-12, 1.0 - 1e-12
    if slope_miss(order, coefficient, hi, r) <= budget:
        return hi
    for _ in range(200):  # bisection in log ε: the miss increases with ε below 1/e
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if slope_miss(order, coefficient, mid, r) <= budget else (lo, mid)
    return lo


def even_coefficient(cls, x, y, direction: str = "any") -> float:
    """Class-C correction coefficient a = (2 abs(s₂)/α) abs(uᵀ Ê[y x xᵀ] u) / ‖Ê[y x]‖.

    The s₂h² term of σ adds to the gradient of the bottleneck's input layer a
    part 2s₂ W Ê[y x xᵀ]; its first-order effect on the growth is the
    quadratic form of Ê[y x xᵀ] in the direction u that the bottleneck's input
    rows point along (a tilt of u away from it acts only at second order).

    Parameters
    ----------
    cls : ActivationClass
        ``saddlebook.classify(activation)``; its Taylor coefficients give α and s₂.
    x : torch.Tensor
        Inputs, shape (n, d).
    y : torch.Tensor
        Targets, shape (n,).
    direction : {"any", "moment"}, default "any"
        ``"any"``: the bound over every unit u (the spectral norm of Ê[y x xᵀ]),
        valid before the input rows have aligned. ``"moment"``: u = Ê[y x]/‖Ê[y x]‖,
        the direction they align with on the plateau (chapter 6).

    Returns
    -------
    float
        0 for class B (s₂ = 0).
    """
    if cls.label not in ("B", "C") or not cls.linear_regime:
        raise ParameterError(f"parameter 'cls' is class {cls.label}; even_coefficient needs class B or C with "
                             "sigma'(0) != 0")
    if direction not in ("any", "moment"):
        raise ParameterError(f"parameter 'direction' = {direction!r} must be 'any' or 'moment'")
    x = torch.as_tensor(x, dtype=torch.float64)
    y = torch.as_tensor(y, dtype=torch.float64).reshape(-1)
    if x.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ParameterError(f"parameters 'x' {tuple(x.shape)} and 'y' {tuple(y.shape)}: need x (n, d), y (n,)")
    s2 = cls.taylor[2] if len(cls.taylor) > 2 else 0.0
    m = x.T @ y / x.shape[0]
    gamma = float(torch.linalg.vector_norm(m))
    even = torch.einsum("i,ij,ik->jk", y, x, x) / x.shape[0]
    if direction == "any":
        form = float(torch.linalg.matrix_norm(even, ord=2))
    else:
        u = m / gamma
        form = abs(float(u @ even @ u))
    return abs(2.0 * s2 / cls.alpha) * form / gamma


def fit_form(r: int, order: int) -> str:
    """The law :func:`fit_exponent` fits for bottleneck ``r`` and correction order ``order``, in words."""
    r, k = _check_r(r), _check_order(order)
    if k >= 2:
        return "A eps^-p + B"
    return "A eps^-p + A' log(1/eps) + B" if r == 3 else "A eps^-p (1 + beta eps) + B"


def fit_points(order: int) -> int:
    """Fewest ε a :func:`fit_exponent` of this correction order accepts (one more than its parameters)."""
    return 5 if _check_order(order) == 1 else 4


def fit_exponent(eps, tau, r: int, order: int) -> ExponentFit:
    """Exponent p of τ(ε), with the leading finite-ε correction of the activation's class modelled.

    ``order`` ≥ 2 (class B, or class C under ``parity_cancels``): the offset fit
    τ = A ε^{−p} + B (:func:`saddlebook.theory.fit_power`). ``order`` = 1 (class C):
    τ = A ε^{−p} + A′ log(1/ε) + B for r = 3, τ = A ε^{−p}(1 + β ε) + B for r ≥ 4
    (relative least squares, started from the offset fit).

    Parameters
    ----------
    eps, tau : array_like
        Scales and escape times (> 0), at least :func:`fit_points` of them.
    r : int
        Bottleneck size, ≥ 3.
    order : int
        Correction order k (:func:`correction_order`).

    Returns
    -------
    ExponentFit
        ``p``, ``A``, ``B``, ``correction`` (A′ or β; 0 for the offset fit), ``r``, ``order``;
        ``form`` names the law and calling it evaluates the fit.
    """
    r, k = _check_r(r), _check_order(order)
    e, t = _pairs(eps, tau, fit_points(k))
    base = fit_power(e, t)
    if k >= 2:
        return ExponentFit(base.p, base.A, base.B, 0.0, r, k)

    def resid(q):
        return ExponentFit(q[1], q[0], q[2], q[3], r, 1)(e) / t - 1.0

    scale = [abs(base.A) + 1e-300, 1.0, float(t.max()), float(t.max()) if r == 3 else 1.0]
    sol = least_squares(resid, x0=[base.A, base.p, base.B, 0.0], x_scale=scale, method="lm")
    A, p, B, c = (float(v) for v in sol.x)
    return ExponentFit(p, A, B, c, r, 1)


def he_forward_growth(activation, widths, x, seed: int = 0) -> float:
    """Largest rms pre-activation over the layers of a He-normal network, relative to the first layer's.

    The He-normal chapters take the L − r ordinary layers to be of order one. An
    activation that is unbounded at order-one arguments (``z + 0.3*z**2``:
    the variance recursion v → 2(v + 0.27 v²) explodes) breaks that before any
    training; this measures it, with no bottleneck (every layer at scale 1).

    Parameters
    ----------
    activation : str or callable
        Registry name, expression in ``z`` or callable.
    widths : sequence of int
        Layer widths ``[d, N, ..., N, 1]``.
    x : torch.Tensor
        Inputs, shape (n, d).
    seed : int, default 0
        He-normal weight seed.

    Returns
    -------
    float
        max_ℓ rms(h_ℓ) / rms(h_1) over the hidden pre-activations (inf if they overflow).
    """
    from ..nets import get_activation, he_weights

    sigma = get_activation(activation, param="activation")[1]
    weights = he_weights(list(widths), 1.0, [len(widths) - 1], seed=seed)  # the last layer "small" at scale 1
    h = weights[0] @ torch.as_tensor(x, dtype=torch.float64).T
    first = float(h.pow(2).mean().sqrt())
    worst = 1.0
    for w in weights[1:-1]:
        h = w @ sigma(h)
        rms = float(h.pow(2).mean().sqrt())
        worst = max(worst, rms / first if math.isfinite(rms) else math.inf)
    return worst


def growth_window_top(order: int, coefficient: float, eps: float, gamma0: float, r: int, budget: float) -> float:
    """Upper end of a signal-energy fit window that keeps a class-C bias of the growth exponent within ``budget``.

    With γ ≍ y^{2r} (so y ≈ ε (γ/γ₀)^{1/(2r)}), a relative correction a·y to γ̇ bends
    the local exponent d log γ̇/d log γ by about a·y/(2r): first order in y for
    class C, against second order for class B. The window must end where
    a·y/(2r) = ``budget``, that is at γ = γ₀ (y*/ε)^{2r} with y* = 2r·budget/a.

    Parameters
    ----------
    order : int
        Correction order k; for k ≥ 2 no limit is set here (inf).
    coefficient : float
        a (:func:`even_coefficient`); 0 gives inf.
    eps, gamma0 : float
        Bottleneck scale and the initial signal energy γ(0) of the run, > 0.
    r : int
        Bottleneck size, ≥ 2.
    budget : float
        Allowed bias of the exponent, > 0.

    Returns
    -------
    float
        The largest γ of the window.
    """
    k = _check_order(order)
    if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r < 2:
        raise ParameterError(f"parameter 'r' = {r!r} must be an integer >= 2")
    for name, value in (("eps", eps), ("gamma0", gamma0), ("budget", budget)):
        if not (isinstance(value, (int, float, np.floating)) and math.isfinite(value) and value > 0):
            raise ParameterError(f"parameter '{name}' = {value!r} must be a finite number > 0")
    if k >= 2 or float(coefficient) == 0.0:
        return math.inf
    y_top = 2 * r * budget / abs(float(coefficient))
    return float(gamma0) * (y_top / float(eps)) ** (2 * r)


def growth_eps_ceiling(order: int, coefficient: float, r: int, budget: float, decades: float) -> float:
    """Largest bottleneck scale whose signal-energy window, ending at :func:`growth_window_top`, spans ``decades``.

    γ grows like (y/ε)^{2r}, so from ε to y* = 2r·budget/a it spans 2r·log10(y*/ε)
    decades; the window needs ``decades`` of them (its lower margin included).

    Returns
    -------
    float
        y* · 10^{−decades/(2r)}; inf for order ≥ 2 or coefficient 0.
    """
    k = _check_order(order)
    if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r < 2:
        raise ParameterError(f"parameter 'r' = {r!r} must be an integer >= 2")
    if not (math.isfinite(budget) and budget > 0 and math.isfinite(decades) and decades > 0):
        raise ParameterError("parameters 'budget' and 'decades' must be finite numbers > 0")
    if k >= 2 or float(coefficient) == 0.0:
        return math.inf
    return 2 * r * budget / abs(float(coefficient)) * 10 ** (-decades / (2 * r))
