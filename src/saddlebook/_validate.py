"""Parameter checks shared by the whole package.

Each function takes the parameter's name and the value a caller passed,
returns the value in the form the caller computes with, and otherwise raises
:class:`saddlebook.errors.ParameterError` naming the parameter and what is
allowed. Modules call these before any compute, so a bad value never reaches
torch or scipy, whose own errors would not say which argument was wrong.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np
import torch

from .errors import ParameterError

__all__ = ["positive", "nonnegative", "integer", "between", "fraction", "finite", "choice"]

# numpy scalars count as reals: chapters pass values read off numpy arrays.
_REAL = (int, float, np.floating, np.integer)


def _real(name: str, value, allowed: str) -> float:
    # bool is an int subclass, but True as a step size is a caller's mistake.
    if isinstance(value, bool) or not isinstance(value, _REAL):
        raise ParameterError(f"parameter '{name}' must be {allowed}, got {value!r}")
    return float(value)


def positive(name: str, value, allow_inf: bool = False) -> float:
    """``value`` as a float > 0 (finite unless ``allow_inf``).

    Parameters
    ----------
    name : str
        Parameter name used in the error message.
    value : int or float
        The value to check (bool is refused).
    allow_inf : bool, default False
        Accept ``+inf`` (for thresholds that may be switched off).

    Returns
    -------
    float

    Raises
    ------
    saddlebook.errors.ParameterError
        If ``value`` is not a real number, or not > 0, or infinite without
        ``allow_inf``.
    """
    value = _real(name, value, "a positive real number")
    if not (value > 0) or (not allow_inf and not math.isfinite(value)):
        raise ParameterError(f"parameter '{name}' must be finite and > 0, got {value!r}")
    return value


def nonnegative(name: str, value) -> float:
    """``value`` as a finite float >= 0.

    Parameters
    ----------
    name : str
        Parameter name used in the error message.
    value : int or float
        The value to check (bool is refused).

    Returns
    -------
    float

    Raises
    ------
    saddlebook.errors.ParameterError
        If ``value`` is not a finite real number >= 0.
    """
    value = _real(name, value, "a real number >= 0")
    if not (math.isfinite(value) and value >= 0):
        raise ParameterError(f"parameter '{name}' must be finite and >= 0, got {value!r}")
    return value


def integer(name: str, value, lo: int, hi: int | None = None) -> int:
    """``value`` as a Python int in ``[lo, hi]`` (``[lo, ∞)`` without ``hi``).

    Parameters
    ----------
    name : str
        Parameter name used in the error message.
    value : int
        The value to check; a numpy integer is converted, a bool is refused.
    lo : int
        Smallest allowed value.
    hi : int, optional
        Largest allowed value.

    Returns
    -------
    int

    Raises
    ------
    saddlebook.errors.ParameterError
        If ``value`` is not an int in range.
    """
    is_int = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not is_int or value < lo or (hi is not None and value > hi):
        span = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ParameterError(f"parameter '{name}' = {value!r} must be an integer {span}")
    return int(value)


def between(name: str, value, lo: float, hi: float) -> float:
    """``value`` as a float strictly between ``lo`` and ``hi``.

    Parameters
    ----------
    name : str
        Parameter name used in the error message.
    value : int or float
        The value to check (bool is refused).
    lo, hi : float
        The open interval's ends.

    Returns
    -------
    float

    Raises
    ------
    saddlebook.errors.ParameterError
        If ``value`` is not a real number in ``(lo, hi)``.
    """
    allowed = f"a real number in ({lo:g}, {hi:g})"
    f = _real(name, value, allowed)
    if not lo < f < hi:
        raise ParameterError(f"parameter '{name}' = {value!r} must be {allowed}")
    return f


def fraction(name: str, value) -> float:
    """``value`` as a float strictly between 0 and 1 (:func:`between` 0 and 1).

    Parameters
    ----------
    name : str
        Parameter name used in the error message.
    value : int or float
        The value to check.

    Returns
    -------
    float

    Raises
    ------
    saddlebook.errors.ParameterError
        If ``value`` is not a real number in ``(0, 1)``.
    """
    return between(name, value, 0.0, 1.0)


def finite(name: str, tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` unchanged if every entry is finite.

    Parameters
    ----------
    name : str
        Parameter name used in the error message (e.g. ``"x"``, ``"weights[0]"``).
    tensor : torch.Tensor
        The tensor to check.

    Returns
    -------
    torch.Tensor

    Raises
    ------
    saddlebook.errors.ParameterError
        If any entry is NaN or infinite.
    """
    if not bool(torch.isfinite(tensor).all()):
        raise ParameterError(
            f"parameter '{name}' contains non-finite values (NaN or inf); all entries must be finite"
        )
    return tensor


def choice(name: str, value, allowed: Iterable[str]):
    """``value`` unchanged if it is one of ``allowed``.

    Parameters
    ----------
    name : str
        Parameter name used in the error message.
    value : object
        The value to check.
    allowed : iterable of str
        The allowed values, in the order the message lists them.

    Returns
    -------
    object
        ``value``.

    Raises
    ------
    saddlebook.errors.ParameterError
        If ``value`` is not in ``allowed``.
    """
    allowed = tuple(allowed)
    if value not in allowed:
        raise ParameterError(f"parameter '{name}' is {value!r}; allowed: {', '.join(allowed)}")
    return value
