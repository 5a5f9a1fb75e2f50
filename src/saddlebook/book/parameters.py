"""Validation of chapter parameters, before any expensive work starts.

Each chapter has a cell tagged ``parameters`` (plain assignments that papermill
can override) followed by a cell tagged ``validate`` that passes every
parameter through one of the functions below. Each returns the normalized
value or raises :class:`ParameterError` naming the parameter and what is
allowed. The publishing pipeline runs the same two cells in-process before it
starts a kernel, so a bad value is refused in about a second and nothing
already built is touched.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence

from ..errors import ParameterError

__all__ = ["choice", "boolean", "integer", "real", "reals"]


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _interval(lo, hi, lo_open, hi_open) -> str:
    left = "(" if lo_open else "["
    right = ")" if hi_open else "]"
    lo_s = "-inf" if lo is None else f"{lo:g}"
    hi_s = "inf" if hi is None else f"{hi:g}"
    return f"{left}{lo_s}, {hi_s}{right}"


def choice(name: str, value, allowed: Iterable[str]):
    """``value`` must be one of ``allowed`` (strings, compared exactly)."""
    allowed = tuple(allowed)
    if not isinstance(value, str) or value not in allowed:
        raise ParameterError(
            f"parameter '{name}' = {value!r} is not allowed; allowed values: {', '.join(allowed)}"
        )
    return value


def boolean(name: str, value) -> bool:
    """``value`` must be True or False."""
    if not isinstance(value, bool):
        raise ParameterError(f"parameter '{name}' = {value!r} must be True or False")
    return value


def integer(name: str, value, lo: int | None = None, hi: int | None = None) -> int:
    """``value`` must be an int in ``[lo, hi]`` (either bound may be None)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ParameterError(
            f"parameter '{name}' = {value!r} must be an integer in {_interval(lo, hi, False, False)}"
        )
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ParameterError(
            f"parameter '{name}' = {value!r} is out of range; allowed: integers in "
            f"{_interval(lo, hi, False, False)}"
        )
    return int(value)


def real(
    name: str,
    value,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    """``value`` must be a finite real number in the interval given.

    ``lo_open`` / ``hi_open`` make the corresponding end exclusive, e.g.
    ``real("eps", eps, 0, 1, lo_open=True)`` allows ``0 < eps <= 1``.
    """
    span = _interval(lo, hi, lo_open, hi_open)
    if not _is_real(value) or not math.isfinite(value):
        raise ParameterError(f"parameter '{name}' = {value!r} must be a finite real number in {span}")
    bad = (
        (lo is not None and (value < lo or (lo_open and value == lo)))
        or (hi is not None and (value > hi or (hi_open and value == hi)))
    )
    if bad:
        raise ParameterError(f"parameter '{name}' = {value!r} is out of range; allowed: {span}")
    return float(value)


def reals(
    name: str,
    values,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
    min_len: int = 1,
    max_len: int | None = None,
) -> list[float]:
    """A non-empty list of reals, each validated like :func:`real`."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ParameterError(f"parameter '{name}' = {values!r} must be a list of numbers")
    n = len(values)
    if n < min_len or (max_len is not None and n > max_len):
        upper = "" if max_len is None else f" and at most {max_len}"
        raise ParameterError(
            f"parameter '{name}' has {n} entries; it needs at least {min_len}{upper}"
        )
    out = []
    for i, v in enumerate(values):
        out.append(real(f"{name}[{i}]", v, lo, hi, lo_open=lo_open, hi_open=hi_open))
    return out
