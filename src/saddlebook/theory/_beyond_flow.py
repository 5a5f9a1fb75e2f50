"""Leading-order laws of the escape beyond plain gradient flow: thresholds and discrete steps.

All on the balanced bottleneck of the critical-depth law (NOTES §6, chapter 5):
r layers at the common scale y, the others at s, ẏ = Γ_eff y^{r−1} (1 + O(y²))
with Γ_eff = α^{L−1} s^{L−r} Γ, and the loss 𝓛 = 𝓛₀ − Γ_eff y^r (1 + O(y²))
(chapter 9 derives both statements used here).

- **Thresholds.** Escape at 𝓛 = c 𝓛(0) happens at the gain where
  Γ_eff y^r = (1 − c) 𝓛(0). For c → 1 that gain y_c is small and the
  leading order holds there: :func:`threshold_gain`, and the time between two
  such thresholds, :func:`threshold_shift`, which does not depend on ε.
- **Gradient descent.** Fixed steps η follow, to first order in η, the
  modified flow θ̇ = −∇𝓛 − (η/2) H∇𝓛, which on the bottleneck is
  ẏ = Γ_eff y^{r−1} [1 − (η/2)(r − 1) Γ_eff y^{r−2} + …], so descent escapes later
  by η [(r − 1)/2 · ln(1/ε) + K] + O(η²): :func:`descent_delay_slope`. For r = 2
  the linear growth is stepped exactly, y_{k+1} = (1 + ηΓ_eff) y_k, and
  the logarithmic law's prefactor grows by :func:`euler_rate_ratio`.
"""

from __future__ import annotations

import math

from .. import _validate as V
from ..errors import ParameterError
from ._reduced import critical_depth_integral

__all__ = ["threshold_gain", "threshold_shift", "descent_delay_slope", "euler_rate_ratio"]


def threshold_gain(c: float, loss0: float, gamma_eff: float, r: int) -> float:
    """Bottleneck gain y_c at which the loss has fallen to ``c`` × 𝓛(0), at leading order.

    Γ_eff y_c^r = (1 − c) 𝓛(0); valid when y_c ≪ 1 (c close to 1), with
    relative corrections O(y_c²).

    Parameters
    ----------
    c : float
        Threshold fraction in (0, 1).
    loss0 : float
        Initial (plateau) loss 𝓛(0) > 0.
    gamma_eff : float
        Γ_eff > 0.
    r : int
        Number of bottleneck layers (≥ 1).

    Returns
    -------
    float
    """
    c = V.fraction("c", c)
    loss0, gamma_eff, r = V.positive("loss0", loss0), V.positive("gamma_eff", gamma_eff), V.integer("r", r, 1)
    return ((1.0 - c) * loss0 / gamma_eff) ** (1.0 / r)


def threshold_shift(c_early: float, c_late: float, loss0: float, gamma_eff: float, r: int) -> float:
    """Leading-order time from the loss threshold ``c_early`` to the later ``c_late`` (< ``c_early``).

    ∫_{y_early}^{y_late} dy / (Γ_eff y^{r−1}) with the gains of
    :func:`threshold_gain`: the ε-independent difference of the two escape
    times τ_{c_late} − τ_{c_early} as ε → 0, when both thresholds are close to 1.

    Parameters
    ----------
    c_early, c_late : float
        Threshold fractions, 0 < ``c_late`` < ``c_early`` < 1.
    loss0, gamma_eff, r
        As in :func:`threshold_gain`.

    Returns
    -------
    float
        > 0.
    """
    y_early = threshold_gain(c_early, loss0, gamma_eff, r)
    y_late = threshold_gain(c_late, loss0, gamma_eff, r)
    if not y_late > y_early:
        raise ParameterError(f"parameter 'c_late' = {c_late!r} must be below c_early = {c_early!r}")
    return critical_depth_integral(y_early, y_late, r) / gamma_eff


def descent_delay_slope(r: int) -> float:
    """Coefficient (r − 1)/2 of η ln(1/ε) in the delay τ_GD − τ_flow of gradient descent.

    From the first-order modified flow on the balanced bottleneck (module
    docstring): δτ = (η/2) ∫_ε^ϑ (r − 1) dy / y + η K + O(η²). For r ≥ 3 the
    delay is therefore a vanishing fraction, ∝ η ε^{r−2} ln(1/ε), of
    τ ∝ ε^{−(r−2)}: descent has the flow's exponent and prefactor.

    Parameters
    ----------
    r : int
        Number of bottleneck layers (≥ 1).

    Returns
    -------
    float
    """
    return (V.integer("r", r, 1) - 1) / 2.0


def euler_rate_ratio(eta: float, rate: float) -> float:
    """ηΓ / ln(1 + ηΓ): how much slower fixed steps η grow y under ẏ = Γ y (r = 2).

    y_{k+1} = (1 + ηΓ) y_k grows as exp(t ln(1 + ηΓ)/η), so the prefactor of
    τ ≈ A ln(1/ε) is this ratio times the flow's 1/Γ; 1 + ηΓ/2 + O(η²).

    Parameters
    ----------
    eta : float
        Step η > 0.
    rate : float
        Growth rate Γ > 0.

    Returns
    -------
    float
    """
    x = V.positive("eta", eta) * V.positive("rate", rate)
    return x / math.log1p(x)
