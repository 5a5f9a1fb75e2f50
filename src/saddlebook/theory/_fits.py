"""Fits of escape times against the bottleneck scale ε.

Three laws (NOTES §6–7): a power law τ ≈ A ε^{−p} read off as the log–log
slope over the smallest ε (:func:`loglog_slope`), the same with a constant
offset, τ = A ε^{−p} + B (:func:`fit_power`, which removes the
finite-ε bias of the slope), and the logarithmic law of two bottleneck
layers, τ = A log(1/ε) + B (:func:`fit_log`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.optimize import least_squares

from ..errors import ParameterError

__all__ = ["loglog_slope", "local_slopes", "corrected_exponent", "log_power", "limit_at_zero", "fit_power",
           "fit_log", "PowerFit", "LogFit"]


class PowerFit(NamedTuple):
    """τ = A ε^{−p} + B."""

    A: float
    p: float
    B: float

    def __call__(self, eps):
        return self.A * np.asarray(eps, dtype=float) ** (-self.p) + self.B


class LogFit(NamedTuple):
    """τ = A log(1/ε) + B."""

    A: float
    B: float

    def __call__(self, eps):
        return self.A * np.log(1.0 / np.asarray(eps, dtype=float)) + self.B


def _pairs(eps, tau, need: int):
    e = np.asarray(eps, dtype=float).ravel()
    t = np.asarray(tau, dtype=float).ravel()
    if e.shape != t.shape:
        raise ParameterError(f"eps ({e.size} values) and tau ({t.size} values) must have the same length")
    if e.size < need:
        raise ParameterError(f"the fit needs at least {need} points, got {e.size}")
    if not (np.all(np.isfinite(e)) and np.all(np.isfinite(t)) and np.all(e > 0) and np.all(t > 0)):
        raise ParameterError("eps and tau must be finite and > 0 (a NaN tau means a run did not escape)")
    order = np.argsort(e)
    return e[order], t[order]


def loglog_slope(eps, tau, n_smallest: int | None = None) -> float:
    """Least-squares slope of log τ against log ε.

    Parameters
    ----------
    eps, tau : array_like
        Scales and escape times (> 0).
    n_smallest : int, optional
        Use only the ``n_smallest`` smallest ε (≥ 2); default all.

    Returns
    -------
    float
        d log τ / d log ε; −(r − 2) is the critical-depth prediction for r ≥ 3.
    """
    e, t = _pairs(eps, tau, 2)
    if n_smallest is not None:
        if isinstance(n_smallest, bool) or not isinstance(n_smallest, int) or n_smallest < 2:
            raise ParameterError(f"parameter 'n_smallest' = {n_smallest!r} must be an integer >= 2")
        e, t = e[:n_smallest], t[:n_smallest]
    return float(np.polyfit(np.log(e), np.log(t), 1)[0])


def local_slopes(eps, tau) -> tuple[np.ndarray, np.ndarray]:
    """Slopes of log τ vs log ε between neighbouring ε (sorted ascending).

    Returns
    -------
    eps_mid : numpy.ndarray
        Geometric midpoints.
    slopes : numpy.ndarray
        Finite-difference slopes.
    """
    e, t = _pairs(eps, tau, 2)
    le, lt = np.log(e), np.log(t)
    return np.exp(0.5 * (le[1:] + le[:-1])), np.diff(lt) / np.diff(le)


def corrected_exponent(eps, values, n_smallest: int = 4) -> float:
    """Exponent p of ``|v| = a ε^p (1 + β ε + …)``, with its first correction fitted.

    Least squares of ``log|v|`` on (log ε, 1, ε) over the ``n_smallest`` smallest
    ε. The correction term removes the O(ε) bias of a plain log–log slope
    (a relative correction βε bends the local slope by about βε); with
    ``n_smallest`` ≥ 4 the three parameters are over-determined, so a
    deviation that is not of this form shows as a wrong p rather than being
    absorbed exactly.

    Parameters
    ----------
    eps : array_like
        Scales ε > 0.
    values : array_like
        Non-zero deviations v(ε) (signs ignored), same length.
    n_smallest : int, default 4
        Number of smallest ε used (≥ 4).

    Returns
    -------
    float
        p.
    """
    if isinstance(n_smallest, bool) or not isinstance(n_smallest, int) or n_smallest < 4:
        raise ParameterError(f"parameter 'n_smallest' = {n_smallest!r} must be an integer >= 4")
    v = np.abs(np.asarray(values, dtype=float).ravel())
    e, a = _pairs(eps, np.where(v > 0, v, np.nan), n_smallest)
    e, a = e[:n_smallest], a[:n_smallest]
    design = np.c_[np.log(e), np.ones_like(e), e]
    return float(np.linalg.lstsq(design, np.log(a), rcond=None)[0][0])


def log_power(eps, values) -> float:
    """Exponent κ of v ≈ c [log(1/ε)]^κ: slope of log v against log log(1/ε).

    κ = 1 is a factor log(1/ε); κ = 0 is no such factor.

    Parameters
    ----------
    eps : array_like
        Scales, 0 < ε < 1 (at least 2).
    values : array_like
        Positive values, same length (for example ε^{r−2} τ).

    Returns
    -------
    float
        κ (least squares over all points).
    """
    e, v = _pairs(eps, values, 2)
    if np.any(e >= 1):
        raise ParameterError("log_power needs eps < 1 (log(1/eps) > 0)")
    return float(np.polyfit(np.log(np.log(1.0 / e)), np.log(v), 1)[0])


def limit_at_zero(eps, values) -> float:
    """The ε → 0 limit of ``values``, extrapolated linearly from the two smallest ε.

    For v(ε) = a + bε + cε² this returns a − c ε₁ε₂ (first-order Richardson
    extrapolation), so it tests a limit rather than a value at one finite ε.

    Parameters
    ----------
    eps : array_like
        Scales, > 0 and distinct (at least 2).
    values : array_like
        Finite values of either sign, same length.

    Returns
    -------
    float
        The extrapolated value at ε = 0.
    """
    e = np.asarray(eps, dtype=float).ravel()
    v = np.asarray(values, dtype=float).ravel()
    if e.shape != v.shape or e.size < 2:
        raise ParameterError(f"eps and values need the same length, at least 2 (got {e.size} and {v.size})")
    if not (np.all(np.isfinite(e)) and np.all(np.isfinite(v)) and np.all(e > 0)):
        raise ParameterError("eps must be finite and > 0, values finite")
    order = np.argsort(e)
    (e1, e2), (v1, v2) = e[order][:2], v[order][:2]
    if e1 == e2:
        raise ParameterError("the two smallest eps must differ")
    return float(v1 - e1 * (v2 - v1) / (e2 - e1))


def fit_power(eps, tau) -> PowerFit:
    """Fit τ = A ε^{−p} + B by least squares on relative residuals.

    Parameters
    ----------
    eps, tau : array_like
        At least 3 points.

    Returns
    -------
    PowerFit
        ``(A, p, B)``; callable to evaluate the fit.
    """
    e, t = _pairs(eps, tau, 3)
    p0 = max(-loglog_slope(e, t, min(3, e.size)), 0.1)

    def resid(q):
        return (q[0] * e ** (-q[1]) + q[2]) / t - 1.0

    a0 = t[0] * e[0] ** p0
    sol = least_squares(resid, x0=[a0, p0, 0.0], x_scale=[abs(a0) + 1e-300, 1.0, float(t.max())], method="lm")
    return PowerFit(float(sol.x[0]), float(sol.x[1]), float(sol.x[2]))


def fit_log(eps, tau) -> LogFit:
    """Fit τ = A log(1/ε) + B (ordinary least squares).

    Parameters
    ----------
    eps, tau : array_like
        At least 2 points.

    Returns
    -------
    LogFit
        ``(A, B)``; callable.
    """
    e, t = _pairs(eps, tau, 2)
    A, B = np.polyfit(np.log(1.0 / e), t, 1)
    return LogFit(float(A), float(B))
