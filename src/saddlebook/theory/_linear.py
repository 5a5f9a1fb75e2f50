"""Closed forms for deep linear networks (external results, class A).

Saxe, McClelland & Ganguli (2014, arXiv:1312.6120): with whitened inputs and
a balanced small initialization, each singular mode of a two-layer linear
network follows the logistic law u̇ = 2u(s − u)/τ.

Kunin et al. (2024, arXiv:2406.06158): exact solutions for *unbalanced*
starts; here re-derived for one hidden unit, f(x) = a (w·x), whose conserved
imbalance λ = a² − ‖w‖² turns the law into ṗ = √(λ² + 4p²)(β − p)
(:func:`unbalanced_product`, :func:`unbalanced_time`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._validate import integer, positive
from ..errors import ParameterError

__all__ = [
    "saxe_mode_strength",
    "two_layer_aligned_init",
    "saxe_half_time",
    "two_layer_modes_init",
    "mode_strengths",
    "growing_mode_strength",
    "unbalanced_product",
    "unbalanced_time",
    "unbalanced_layers",
    "two_layer_unbalanced_init",
    "unbalanced_escape_limit",
]


def saxe_mode_strength(t, s: float, u0: float, tau: float = 1.0) -> np.ndarray:
    """Mode strength of a two-layer linear network (Saxe et al. 2014).

    Solves u̇ = 2u(s − u)/τ with u(0) = u₀:

    .. math:: u(t) = \\frac{s\\,e^{2st/\\tau}}{e^{2st/\\tau} - 1 + s/u_0}
                   = \\frac{s}{1 + (s/u_0 - 1)\\,e^{-2st/\\tau}},

    evaluated in the second form, which does not overflow for large t.

    Parameters
    ----------
    t : array_like
        Times (any real values).
    s : float
        Target singular value (> 0).
    u0 : float
        Initial mode strength (> 0).
    tau : float, default 1.0
        Time constant (> 0); τ = 1 in flow-time units for ½ mean squared
        loss (see :func:`two_layer_aligned_init`).

    Returns
    -------
    numpy.ndarray
        u(t), float64, same shape as ``t``.
    """
    s = positive("s", s)
    u0 = positive("u0", u0)
    tau = positive("tau", tau)
    t = np.asarray(t, dtype=np.float64)
    if not np.all(np.isfinite(t)):
        raise ParameterError("parameter 't' must contain only finite times")
    with np.errstate(over="ignore"):
        # For t → −∞ the exponential overflows to inf and u → 0 correctly.
        return s / (1.0 + (s / u0 - 1.0) * np.exp(-2.0 * s * t / tau))


def two_layer_aligned_init(
    v: torch.Tensor,
    u0: float,
    hidden: int = 1,
    dtype: torch.dtype | None = None,
) -> list[torch.Tensor]:
    """Balanced rank-one initialization aligned with the teacher direction.

    Parameters
    ----------
    v : torch.Tensor
        Unit teacher direction, shape ``(d,)``; the teacher is y = s v · x.
    u0 : float
        Initial mode strength (> 0).
    hidden : int, default 1
        Hidden width (≥ 1); the rank-one weights use the first hidden unit.
    dtype : torch.dtype, optional
        Defaults to the dtype of ``v`` if floating, else float64.

    Returns
    -------
    list of torch.Tensor
        ``[W_1, W_2]`` with W_1 = √u₀ e vᵀ (shape ``(hidden, d)``) and
        W_2 = √u₀ eᵀ (shape ``(1, hidden)``), e the first unit vector, so
        W_2 W_1 = u₀ vᵀ.

    Notes
    -----
    With inputs satisfying (1/n) XᵀX = I (:func:`~saddlebook.data.whitened_inputs`)
    the loss ½ mean (y − ŷ)² equals ½‖s vᵀ − W_2W_1‖². On the set
    W_1 = a e vᵀ, W_2 = b eᵀ the residual is R = (s − ab) vᵀ and gradient flow
    gives Ẇ_1 = W_2ᵀR, Ẇ_2 = R W_1ᵀ, i.e. ȧ = b(s − ab), ḃ = a(s − ab); the set
    is invariant. Then d(a − b)/dt = −(a − b)(s − ab), so a = b is preserved,
    and u = ab obeys u̇ = (a² + b²)(s − u) = 2u(s − u): Saxe's law with τ = 1.
    The mode strength is u(t) = W_2(t) W_1(t) v.
    """
    if not isinstance(v, torch.Tensor):
        v = torch.as_tensor(v, dtype=torch.float64)
    if v.dim() != 1 or v.shape[0] == 0:
        raise ParameterError(f"parameter 'v' must be a non-empty 1-D tensor, got shape {tuple(v.shape)}")
    if dtype is None:
        dtype = v.dtype if v.is_floating_point() else torch.float64
    v = v.to(dtype)
    norm = float(torch.linalg.vector_norm(v.to(torch.float64)))
    if not math.isfinite(norm) or abs(norm - 1.0) > 1e-10:
        raise ParameterError(f"parameter 'v' must have unit norm, got |v| = {norm:.6g}")
    u0 = positive("u0", u0)
    hidden = integer("hidden", hidden, 1)
    e = torch.zeros(hidden, dtype=dtype, device=v.device)
    e[0] = 1.0
    root = math.sqrt(u0)
    return [root * torch.outer(e, v), root * e.reshape(1, hidden)]


def saxe_half_time(s: float, u0: float, tau: float = 1.0) -> float:
    """Time at which a Saxe mode reaches half its target, u(t) = s/2.

    From :func:`saxe_mode_strength`: t½ = τ ln(s/u₀ − 1)/(2s), for
    0 < u₀ < s/2 (a mode that starts above s/2 has t½ ≤ 0).

    Parameters
    ----------
    s, u0, tau : float
        Singular value, initial strength and time constant (all > 0).

    Returns
    -------
    float
    """
    s = positive("s", s)
    u0 = positive("u0", u0)
    tau = positive("tau", tau)
    if not u0 < s:
        raise ParameterError(f"parameter 'u0' = {u0!r} must be below s = {s!r}")
    return tau * math.log(s / u0 - 1.0) / (2.0 * s)


def _orthonormal_columns(name: str, m) -> torch.Tensor:
    m = torch.as_tensor(m).to(torch.float64)
    if m.dim() != 2 or m.shape[1] == 0 or m.shape[1] > m.shape[0]:
        raise ParameterError(f"parameter '{name}' must be a (dim, K) matrix with 1 <= K <= dim, got {tuple(m.shape)}")
    eye = torch.eye(m.shape[1], dtype=torch.float64)
    if not torch.allclose(m.T @ m, eye, atol=1e-10):
        raise ParameterError(f"parameter '{name}' must have orthonormal columns")
    return m


def two_layer_modes_init(
    u: torch.Tensor, v: torch.Tensor, u0: float, hidden: int | None = None
) -> list[torch.Tensor]:
    """Balanced initialization of a two-layer linear net aligned with K modes.

    Parameters
    ----------
    u : torch.Tensor
        Output singular vectors, orthonormal columns, shape ``(d_out, K)``.
    v : torch.Tensor
        Input singular vectors, orthonormal columns, shape ``(d, K)``.
    u0 : float
        Initial strength of every mode (> 0).
    hidden : int, optional
        Hidden width (≥ K); default K.

    Returns
    -------
    list of torch.Tensor
        ``[W_1, W_2]`` with W_1 = √u₀ E Vᵀ and W_2 = √u₀ U Eᵀ, E the first K
        columns of the identity, so W_2 W_1 = u₀ U Vᵀ (float64).

    Notes
    -----
    For the target y = A x with A = U diag(s) Vᵀ and inputs with identity
    second moment, every mode evolves independently by Saxe's law: the
    argument of :func:`two_layer_aligned_init` applies to each hidden unit
    k, which sees only mode k. Mode k reaches half strength at
    :func:`saxe_half_time` (s_k, u₀): the modes escape one at a time.
    """
    u = _orthonormal_columns("u", u)
    v = _orthonormal_columns("v", v)
    K = u.shape[1]
    if v.shape[1] != K:
        raise ParameterError(f"parameters 'u' and 'v' must have the same number of columns, got {K} and {v.shape[1]}")
    u0 = positive("u0", u0)
    hidden = K if hidden is None else hidden
    if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < K:
        raise ParameterError(f"parameter 'hidden' must be an integer >= K = {K}, got {hidden!r}")
    e = torch.eye(hidden, K, dtype=torch.float64)
    root = math.sqrt(u0)
    return [root * e @ v.T, root * u @ e.T]


def mode_strengths(weights, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Mode strengths u_kᵀ (W_L ⋯ W_1) v_k of a deep linear network.

    Parameters
    ----------
    weights : sequence of torch.Tensor
        ``[W_1, …, W_L]``.
    u, v : torch.Tensor
        Output and input singular vectors of the target, shapes
        ``(d_out, K)`` and ``(d, K)``.

    Returns
    -------
    torch.Tensor
        Shape ``(K,)``, float64.
    """
    weights = [torch.as_tensor(w).to(torch.float64) for w in weights]
    if not weights:
        raise ParameterError("parameter 'weights' must hold at least one matrix")
    prod = weights[0]
    for w in weights[1:]:
        if w.dim() != 2 or w.shape[1] != prod.shape[0]:
            raise ParameterError("parameter 'weights' has inconsistent shapes")
        prod = w @ prod
    u = torch.as_tensor(u).to(torch.float64)
    v = torch.as_tensor(v).to(torch.float64)
    if u.shape[0] != prod.shape[0] or v.shape[0] != prod.shape[1] or u.shape[1] != v.shape[1]:
        raise ParameterError(f"parameters 'u' {tuple(u.shape)} and 'v' {tuple(v.shape)} "
                             f"do not fit the map {tuple(prod.shape)}")
    return torch.einsum("ik,ij,jk->k", u, prod, v)


def growing_mode_strength(weights0, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Effective initial strengths of a two-layer linear net from any small start.

    Parameters
    ----------
    weights0 : sequence of two torch.Tensor
        ``[W_1, W_2]`` at initialization.
    u, v : torch.Tensor
        Output and input singular vectors, shapes ``(d_out, K)``, ``(d, K)``.

    Returns
    -------
    torch.Tensor
        Shape ``(K,)``: ū_k = ¼‖W_1 v_k + W_2ᵀ u_k‖².

    Notes
    -----
    Near the origin, with identity input second moment, p_k = W_1 v_k and
    q_k = W_2ᵀ u_k obey ṗ_k = s_k q_k, q̇_k = s_k p_k (the quadratic terms
    are dropped), so p_k + q_k grows as e^{s_k t}, p_k − q_k decays, and the
    mode strength q_k · p_k → ū_k e^{2 s_k t}: the small-u phase of Saxe's
    law with u₀ = ū_k. Balanced aligned starts give ū_k = u₀ exactly.
    """
    weights0 = list(weights0)
    if len(weights0) != 2:
        raise ParameterError(f"parameter 'weights0' must hold two matrices [W_1, W_2], got {len(weights0)}")
    w1, w2 = (torch.as_tensor(w).to(torch.float64) for w in weights0)
    u = torch.as_tensor(u).to(torch.float64)
    v = torch.as_tensor(v).to(torch.float64)
    if w1.shape[1] != v.shape[0] or w2.shape[0] != u.shape[0] or w2.shape[1] != w1.shape[0]:
        raise ParameterError("parameters 'weights0', 'u', 'v' have inconsistent shapes")
    grow = w1 @ v + w2.T @ u
    return 0.25 * (grow * grow).sum(dim=0)


# Unbalanced two-layer linear network with one hidden unit (class A beyond Saxe).
#
# f(x) = a (w·x) on whitened inputs with the target β v·x (v a unit vector):
# 𝓛 = ½‖a w − β v‖², ẇ = a(βv − a w), ȧ = w·(βv − a w). Then d(a²)/dt and
# d‖w‖²/dt are both 2aβ(w·v) − 2a²‖w‖², so λ = a² − ‖w‖² is conserved. For
# w = s v the time change dτ = (β − as) dt makes the flow linear (s' = a,
# a' = s), so Z = (a + s)² = Z(0) e^{2τ}; with p = as = (Z − λ²/Z)/4 the
# equation dt = dZ / (2Z(β − p)) has partial fractions with the roots
# Z± = 2β ± ρ, ρ = √(4β² + λ²), of Z² − 4βZ − λ², and integrates to
# (Z₊ − Z)/(Z − Z₋) = K e^{−ρt}. This is Kunin et al. (2024, arXiv:2406.06158)
# re-derived for the minimal model; λ = 0 gives Saxe's logistic law.


def _unbalanced_args(beta, p0, lam) -> tuple[float, float, float]:
    beta = positive("beta", beta)
    p0 = positive("p0", p0)
    if isinstance(lam, bool) or not isinstance(lam, (int, float, np.floating, np.integer)) or not math.isfinite(lam):
        raise ParameterError(f"parameter 'lam' must be a finite real number, got {lam!r}")
    if not p0 < beta:
        raise ParameterError(f"parameter 'p0' = {p0!r} must lie in (0, beta = {beta!r})")
    return beta, p0, float(lam)


def _z_of_p(p, lam: float):
    """Z = (a + s)² from p = as and λ: the positive root of Z² − 4pZ − λ² = 0."""
    return 2.0 * p + np.sqrt(4.0 * p * p + lam * lam)


def _roots(beta: float, p0: float, lam: float) -> tuple[float, float, float, float]:
    """ρ, Z₊, Z₋ and the constant K of (Z₊ − Z)/(Z − Z₋) = K e^{−ρt}."""
    rho = math.sqrt(4.0 * beta * beta + lam * lam)
    z_plus = 2.0 * beta + rho
    z_minus = -lam * lam / z_plus  # = 2β − ρ without the cancellation at small λ
    z0 = float(_z_of_p(p0, lam))
    return rho, z_plus, z_minus, (z_plus - z0) / (z0 - z_minus)


def unbalanced_product(t, beta: float, p0: float, lam: float) -> np.ndarray:
    """Product p(t) = a(t) s(t) of an unbalanced one-unit linear network (Kunin et al. 2024).

    Solves ṗ = √(λ² + 4p²) (β − p), p(0) = p₀, the flow of f(x) = a (w·x) with
    w = s v on whitened inputs and the target β v·x, at conserved imbalance
    λ = a² − ‖w‖²:

    .. math:: p = \\frac{Z - \\lambda^2/Z}{4},\\qquad
              Z(t) = \\frac{Z_+ + K e^{-\\rho t} Z_-}{1 + K e^{-\\rho t}},\\qquad
              K = \\frac{Z_+ - Z_0}{Z_0 - Z_-},

    with ρ = √(4β² + λ²), Z± = 2β ± ρ, Z₀ = 2p₀ + √(4p₀² + λ²) and Z = (a + s)².

    Parameters
    ----------
    t : array_like
        Flow times ≥ 0.
    beta : float
        Target strength β > 0.
    p0 : float
        Initial product a(0) s(0), in (0, β).
    lam : float
        Imbalance λ = a² − ‖w‖² (any real; λ > 0: the readout is the larger layer).

    Returns
    -------
    numpy.ndarray
        p(t), float64, same shape as ``t``. For λ = 0 this is
        :func:`saxe_mode_strength` (s = β, u₀ = p₀); it depends on λ only through λ².

    Raises
    ------
    saddlebook.errors.ParameterError
        ``beta`` ≤ 0, ``p0`` outside (0, β), a non-finite ``lam`` or a negative or non-finite time.
    """
    beta, p0, lam = _unbalanced_args(beta, p0, lam)
    t = np.asarray(t, dtype=np.float64)
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ParameterError("parameter 't' must contain only finite times >= 0")
    rho, z_plus, z_minus, k = _roots(beta, p0, lam)
    e = k * np.exp(-rho * t)
    z = (z_plus + e * z_minus) / (1.0 + e)
    return (z - lam * lam / z) / 4.0


def unbalanced_time(p, beta: float, p0: float, lam: float):
    """Time at which the product of :func:`unbalanced_product` reaches ``p``.

    Parameters
    ----------
    p : float or array_like
        Target values in [p₀, β).
    beta, p0, lam : float
        As in :func:`unbalanced_product`.

    Returns
    -------
    float or numpy.ndarray
        t(p) = ln[K (Z(p) − Z₋) / (Z₊ − Z(p))] / ρ; e.g. the half-way time at
        p = β/2, which for λ = 0 is :func:`saxe_half_time` and for abs(λ) → ∞
        behaves as ln(2(1 − p₀/β)) / abs(λ) (the lazy limit ṗ ≈ abs(λ)(β − p)).

    Raises
    ------
    saddlebook.errors.ParameterError
        Bad ``beta``, ``p0``, ``lam``, or ``p`` outside [p₀, β).
    """
    beta, p0, lam = _unbalanced_args(beta, p0, lam)
    q = np.asarray(p, dtype=np.float64)
    if not np.all(np.isfinite(q)) or np.any(q < p0) or np.any(q >= beta):
        raise ParameterError(f"parameter 'p' must lie in [p0 = {p0!r}, beta = {beta!r})")
    rho, z_plus, z_minus, k = _roots(beta, p0, lam)
    z = _z_of_p(q, lam)
    out = np.log(k * (z - z_minus) / (z_plus - z)) / rho
    return float(out) if np.ndim(out) == 0 else out


def unbalanced_layers(t, beta: float, p0: float, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Layer values a(t) > 0 and s(t) > 0 of the unbalanced one-unit network.

    Parameters
    ----------
    t : array_like
        Flow times ≥ 0.
    beta, p0, lam : float
        As in :func:`unbalanced_product`.

    Returns
    -------
    a, s : numpy.ndarray
        From a² + s² = √(λ² + 4p²) and a² − s² = λ (both layers start
        positive and stay so: p > 0 throughout). At t = 0 they are the
        start of :func:`two_layer_unbalanced_init`.
    """
    p = unbalanced_product(t, beta, p0, lam)
    q = np.sqrt(lam * lam + 4.0 * p * p)
    # For λ of either sign compute the smaller square as 2p²/(q + abs(λ)): no cancellation.
    big, small = np.sqrt((q + abs(lam)) / 2.0), np.sqrt(2.0 * p * p / (q + abs(lam)))
    return (big, small) if lam >= 0 else (small, big)


def two_layer_unbalanced_init(v: torch.Tensor, p0: float, lam: float,
                              dtype: torch.dtype | None = None) -> list[torch.Tensor]:
    """Aligned one-unit start ``[W_1, W_2] = [s₀ vᵀ, [[a₀]]]`` with product p₀ and imbalance λ.

    Parameters
    ----------
    v : torch.Tensor
        Unit teacher direction, shape ``(d,)``.
    p0 : float
        Initial product a₀ s₀ > 0.
    lam : float
        Imbalance λ = a₀² − s₀² = ‖W_2‖² − ‖W_1‖² (:func:`imbalance` of the pair).
    dtype : torch.dtype, optional
        Defaults to the dtype of ``v`` if floating, else float64.

    Returns
    -------
    list of torch.Tensor
        ``W_1`` of shape ``(1, d)`` and ``W_2`` of shape ``(1, 1)``.
    """
    beta = 2.0 * positive("p0", p0)  # any β > p₀ gives the same start
    a0, s0 = unbalanced_layers(0.0, beta, p0, lam)
    w1, w2 = two_layer_aligned_init(v, 1.0, hidden=1, dtype=dtype)
    return [float(s0) * w1, float(a0) * w2]


def unbalanced_escape_limit(lam: float, beta: float, theta0: float, fraction: float,
                            loss0: float | None = None) -> float:
    """Leading-order escape time of a one-unit linear network started off the teacher direction.

    The flow of f(x) = a (w·x) on whitened inputs with the target β v·x, the
    first-layer row at angle θ₀ from v, in the two limits of the imbalance
    λ = a² − ‖w‖² (derived in chapter 01):

    - λ → +∞ (lazy): a ≈ √λ stays put and the end-to-end map u = a w obeys
      u̇ ≈ λ(βv − u), a linear model; the loss falls as e^{−2λt} whatever θ₀,
      so it reaches ``fraction`` of its start at t = ln(1/fraction)/(2λ).
    - λ → −∞ (rotation): ‖w‖² ≈ abs(λ) stays put, a relaxes at rate abs(λ) to
      β(w·v)/‖w‖² (the fixed-feature fit, loss ½β² sin²θ), and then w turns
      on its sphere, θ̇ = −(β²/2 abs(λ)) sin 2θ, i.e. tan θ = tan θ₀ e^{−β²t/abs(λ)};
      the loss reaches ``fraction`` × loss(0) when sin²θ = 2·fraction·loss(0)/β², at
      t = abs(λ) ln(tan θ₀ / tan θ_f) / β².

    Parameters
    ----------
    lam : float
        Imbalance λ ≠ 0 (its sign selects the limit).
    beta : float
        Target strength β > 0.
    theta0 : float
        Initial angle between the first-layer row and v, in radians, in (0, π/2).
    fraction : float
        Escape threshold as a fraction of loss(0), in (0, 1).
    loss0 : float, optional
        Initial loss (default ½β², the small-initialization value); used by the
        λ < 0 limit only.

    Returns
    -------
    float
        The leading-order escape time; relative corrections are O(β²/λ²)
        (for λ < 0: the readout's lag behind its optimum, the part a² of
        ‖w‖², and the fast first phase, which lasts O(1/abs(λ))).

    Raises
    ------
    saddlebook.errors.ParameterError
        λ = 0 or not finite, bad ``beta``, ``theta0`` or ``fraction``, or (λ < 0) a
        threshold the fixed-feature fit already reaches (sin²θ₀ ≤ 2·fraction·loss(0)/β²).
    """
    if isinstance(lam, bool) or not isinstance(lam, (int, float, np.floating, np.integer)) \
            or not math.isfinite(lam) or lam == 0:
        raise ParameterError(f"parameter 'lam' must be a finite real number != 0, got {lam!r}")
    beta = positive("beta", beta)
    theta0 = positive("theta0", theta0)
    if not theta0 < math.pi / 2:
        raise ParameterError(f"parameter 'theta0' = {theta0!r} must lie in (0, pi/2)")
    fraction = positive("fraction", fraction)
    if not fraction < 1:
        raise ParameterError(f"parameter 'fraction' = {fraction!r} must lie in (0, 1)")
    if lam > 0:
        return math.log(1.0 / fraction) / (2.0 * lam)
    loss0 = 0.5 * beta * beta if loss0 is None else positive("loss0", loss0)
    sin2 = 2.0 * fraction * loss0 / (beta * beta)
    if not sin2 < math.sin(theta0) ** 2:
        raise ParameterError(f"parameters 'theta0', 'fraction': the fixed-feature fit (loss fraction "
                             f"{math.sin(theta0) ** 2 * beta * beta / (2 * loss0):.3g}) is already below the threshold")
    theta_f = math.asin(math.sqrt(sin2))
    return -lam * math.log(math.tan(theta0) / math.tan(theta_f)) / (beta * beta)
