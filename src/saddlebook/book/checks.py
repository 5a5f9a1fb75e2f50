"""Checks: one call per verified statement of a chapter, of one of two kinds.

``kind="claim"``
    A measurement compared with what the paper or one of our derivations
    predicts, at a tolerance the measurement could miss: it fails if the
    statement is false. Only claims count as evidence for the paper.
``kind="consistency"``
    An implementation cross-check, algebra, round-off, or a property of the
    set-up. Useful, but never evidence for the paper.

Every check records what was measured, what was expected (a value with a
tolerance, or bounds), its kind, its margin (how far inside the tolerance it
landed) and where the statement comes from, then raises a readable
:class:`CheckFailed` if the measurement is out of tolerance. A failed check
therefore stops the chapter, and the publishing pipeline refuses to publish
it.

Under the falsification run (environment variable ``SADDLEBOOK_FALSIFY`` set
to ``1``) a failed check is recorded and does not raise, so that every later
check of the chapter is still evaluated under the counterfactual.

The records of one chapter run are written, after every check, to the JSON
file named by the environment variable ``SADDLEBOOK_CHECKS`` (the pipeline
sets it to a temporary file and keeps it beside the executed notebook only if
the whole chapter succeeds). Outside the pipeline, records are kept in memory
(:func:`records`) and nothing is written.

This module is a leaf: it knows nothing of the mathematics or of Sphinx.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

from ..errors import ParameterError

__all__ = ["check", "CheckFailed", "KINDS", "records", "reset", "margin"]

ENV_FILE = "SADDLEBOOK_CHECKS"
ENV_FALSIFY = "SADDLEBOOK_FALSIFY"
KINDS = ("claim", "consistency")

_RECORDS: list[dict] = []


class CheckFailed(AssertionError):
    """A verified claim did not hold; the message says measured vs expected."""


def reset() -> None:
    """Forget the checks recorded so far in this process."""
    _RECORDS.clear()


def records() -> list[dict]:
    """A copy of the check records of this process, in the order made."""
    return [dict(r) for r in _RECORDS]


def _as_float(value, what: str) -> float:
    if isinstance(value, bool):
        return float(value)
    try:
        # torch / numpy scalars and 0-d arrays all support float()
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"check: {what} must be a real number, got {value!r}") from None


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    if x == 0 or (1e-3 <= abs(x) < 1e5):
        return f"{x:.6g}"
    return f"{x:.3e}"


def check(
    name: str,
    measured,
    *,
    expected=None,
    rtol: float | None = None,
    atol: float | None = None,
    lo=None,
    hi=None,
    source: str,
    kind: str,
) -> float:
    """Verify one claim and record it.

    Parameters
    ----------
    name : str
        Short description of the claim, unique within the chapter, e.g.
        ``"imbalance identity, tanh, mse: max relative error"``.
    measured : float-like
        The value computed by the chapter (Python, numpy or 0-d torch scalar;
        ``bool`` counts as 0/1).
    expected : float-like, optional
        Target value. Needs ``rtol`` and/or ``atol``: the check passes iff
        ``|measured - expected| <= atol + rtol * |expected|``.
    rtol, atol : float, optional
        Relative and absolute tolerance for ``expected``.
    lo, hi : float-like, optional
        Bounds (inclusive) instead of, or in addition to, ``expected``.
    source : str
        Where the claim comes from (NOTES section, theorem, equation, or
        "derived here").
    kind : {"claim", "consistency"}
        ``"claim"``: the paper's statement or a prediction of our derivation,
        which fails if the statement is false. ``"consistency"``: an
        implementation cross-check, algebra, round-off or a set-up property.

    Returns
    -------
    float
        ``measured`` as a float, so the call can sit inside an expression.

    Raises
    ------
    CheckFailed
        If the measurement is out of tolerance or not finite.
    saddlebook.errors.ParameterError
        (a ValueError) If the check is malformed (no expected value and no
        bounds, an expected value without tolerance, negative tolerance).
    """
    m, e, lo_f, hi_f = _parsed(name, measured, expected, rtol, atol, lo, hi, source, kind)
    reasons, allowed = _reasons(m, e, lo_f, hi_f, rtol, atol)

    record = {
        "name": name,
        "measured": m,
        "expected": e,
        "rtol": rtol,
        "atol": atol,
        "lo": lo_f,
        "hi": hi_f,
        "passed": not reasons,
        "source": source,
        "kind": kind,
    }
    record["margin"] = margin(record)
    _RECORDS.append(record)
    _write()
    if reasons and os.environ.get(ENV_FALSIFY) != "1":
        want = []
        if e is not None:
            want.append(f"expected {_fmt(e)} ± {_fmt(allowed)}")
        if lo_f is not None or hi_f is not None:
            want.append(f"within [{_fmt(lo_f)}, {_fmt(hi_f)}]")
        raise CheckFailed(
            f"check {name!r} failed: measured {_fmt(m)}, {'; '.join(want)} "
            f"({'; '.join(reasons)}). Source: {source}"
        )
    return m


def _parsed(name, measured, expected, rtol, atol, lo, hi, source, kind) -> tuple:
    """``(measured, expected, lo, hi)`` as floats (None kept) of a well-formed check."""
    if not isinstance(name, str) or not name.strip():
        raise ParameterError("check: parameter 'name' must be a non-empty string")
    if not isinstance(source, str) or not source.strip():
        raise ParameterError(f"check {name!r}: parameter 'source' must say where the claim comes from")
    if kind not in KINDS:
        raise ParameterError(f"check {name!r}: parameter 'kind' must be one of {KINDS}, got {kind!r}")
    m = _as_float(measured, "measured")
    e = None if expected is None else _as_float(expected, "expected")
    lo_f = None if lo is None else _as_float(lo, "lo")
    hi_f = None if hi is None else _as_float(hi, "hi")
    if e is None and lo_f is None and hi_f is None:
        raise ParameterError(f"check {name!r}: give expected= (with rtol/atol) or lo=/hi=")
    if e is not None and rtol is None and atol is None:
        raise ParameterError(f"check {name!r}: expected= needs rtol= and/or atol=")
    for tol_name, tol in (("rtol", rtol), ("atol", atol)):
        if tol is not None and not (tol >= 0):
            raise ParameterError(f"check {name!r}: parameter '{tol_name}' must be >= 0, got {tol!r}")
    return m, e, lo_f, hi_f


def _reasons(m: float, e, lo_f, hi_f, rtol, atol) -> tuple[list[str], float | None]:
    """Why the measurement fails (empty if it passes), and the allowed deviation from ``e``."""
    reasons = []
    if not math.isfinite(m):
        reasons.append("measured value is not finite")
    allowed = None
    if e is not None:
        allowed = (atol or 0.0) + (rtol or 0.0) * abs(e)
        if math.isfinite(m) and not abs(m - e) <= allowed:
            reasons.append(f"|measured - expected| = {_fmt(abs(m - e))} > {_fmt(allowed)}")
    if lo_f is not None and math.isfinite(m) and not m >= lo_f:
        reasons.append(f"measured < lower bound {_fmt(lo_f)}")
    if hi_f is not None and math.isfinite(m) and not m <= hi_f:
        reasons.append(f"measured > upper bound {_fmt(hi_f)}")
    return reasons, allowed


def margin(record: dict) -> float | None:
    """How far inside its tolerance a check landed: 1 dead centre, 0 on the edge, < 0 failed.

    For ``expected ± allowed`` it is ``1 - |measured - expected| / allowed``.
    For bounds it is the distance to the nearest bound divided by the
    interval's half-width (two bounds) or by the bound's magnitude (one bound,
    or 1 for a bound at 0). The smallest of the applicable margins is
    returned; None for a non-finite measurement.
    """
    m = record["measured"]
    if not math.isfinite(m):
        return None
    out = []
    e, lo, hi = record.get("expected"), record.get("lo"), record.get("hi")
    if e is not None:
        allowed = (record.get("atol") or 0.0) + (record.get("rtol") or 0.0) * abs(e)
        out.append(1.0 - abs(m - e) / allowed if allowed > 0 else (1.0 if m == e else -math.inf))
    if lo is not None and hi is not None and hi > lo:
        out.append(min(m - lo, hi - m) / ((hi - lo) / 2))
    else:
        if lo is not None:
            out.append((m - lo) / (abs(lo) or 1.0))
        if hi is not None:
            out.append((hi - m) / (abs(hi) or 1.0))
    return min(out)


def describe_bounds(record: dict) -> str:
    """Human-readable 'expected' column for a record (used by the Verification page)."""
    parts = []
    if record.get("expected") is not None:
        tol = (record.get("atol") or 0.0) + (record.get("rtol") or 0.0) * abs(record["expected"])
        parts.append(f"{_fmt(record['expected'])} ± {_fmt(tol)}")
    if record.get("lo") is not None or record.get("hi") is not None:
        lo, hi = record.get("lo"), record.get("hi")
        if lo is not None and hi is not None:
            parts.append(f"[{_fmt(lo)}, {_fmt(hi)}]")
        elif lo is not None:
            parts.append(f"≥ {_fmt(lo)}")
        else:
            parts.append(f"≤ {_fmt(hi)}")
    return "; ".join(parts)


def format_value(x: float | None) -> str:
    """The number format used in check tables."""
    return _fmt(x)


def _write() -> None:
    target = os.environ.get(ENV_FILE)
    if not target:
        return
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write-then-rename so a reader never sees a half-written file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".part")
    with os.fdopen(fd, "w") as fh:
        json.dump(_RECORDS, fh, indent=1)
    os.replace(tmp, path)
