"""Validation of chapter parameters, before any expensive work starts.

Each chapter has a cell tagged ``parameters`` (plain assignments that papermill
can override) followed by a cell tagged ``validate`` that declares every
parameter once (:func:`declare`: kind, allowed values, meaning) and validates
them; the chapter's Parameters list is generated from the same declaration.
The checking functions below do the work. Each returns the normalized
value or raises :class:`ParameterError` naming the parameter and what is
allowed. The publishing pipeline runs the same two cells in-process before it
starts a kernel, so a bad value is refused in about a second and nothing
already built is touched.

An activation parameter (:func:`Activation`) takes a registry name or an
expression in ``z`` (``"atan(z)"``, ``"z + 0.3*z**2"``), parses it with the
package's whitelist, classifies it and refuses a class the chapter's claims do
not cover, naming the class found and the chapter's reason.
"""
from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..errors import NotSmoothError, ParameterError

__all__ = ["choice", "boolean", "integer", "real", "reals", "activation",
           "declare", "Declaration", "Parameter", "Boolean", "Integer", "Real", "Reals", "List", "Choice",
           "Activation"]

CLASSES = ("A", "B", "C", "D")


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _interval(lo, hi, lo_open, hi_open) -> str:
    left = "(" if lo_open else "["
    right = ")" if hi_open else "]"
    # Integers in full (a seed bound 2**31 - 1 is not 2.14748e+09); reals compactly.
    lo_s = "-inf" if lo is None else (str(lo) if isinstance(lo, int) else f"{lo:g}")
    hi_s = "inf" if hi is None else (str(hi) if isinstance(hi, int) else f"{hi:g}")
    return f"{left}{lo_s}, {hi_s}{right}"


def choice(name: str, value, allowed: Iterable[str]):
    """``value`` must be one of ``allowed`` (strings, compared exactly)."""
    allowed = tuple(allowed)
    if not isinstance(value, str) or value not in allowed:
        raise ParameterError(
            f"parameter '{name}' = {value!r} is not allowed; allowed values: {', '.join(allowed)}"
        )
    return value


def _either(labels) -> str:
    labels = list(labels)
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " or " + labels[-1]


def activation(name: str, value, classes: tuple[str, ...], reason: str, smooth: bool = True,
               slope: bool = True, odd: bool = False) -> str:
    """``value`` must name an activation of one of ``classes``: a registry name or an expression in ``z``.

    The text is parsed (:func:`saddlebook.nets.parse_activation`, a whitelist) and
    classified (:func:`saddlebook.nets.classify`, nested autograd at 0, a few
    milliseconds) with the true mathematics, whatever counterfactual is on.
    Refused, naming the parameter, the class found and ``reason``: a class
    outside ``classes``; with ``smooth``, an activation that is not smooth at 0
    (ReLU, abs, ELU, softsign, ...); with ``slope``, σ'(0) ≤ 0 (no linear
    regime at the origin); with ``odd``, σ(−z) ≠ −σ(z) on [−4, 4] beyond
    round-off. Returns ``value`` unchanged (a string, for papermill).
    """
    from ..nets import classify, get_activation, parse_activation  # deferred: nets imports this package

    need = f"this chapter's claims need {'a smooth ' if smooth else 'an '}activation of class {_either(classes)}"
    fn = parse_activation(value, name)
    try:
        found = classify(fn, counterfactual=False)
    except NotSmoothError as err:
        raise ParameterError(
            f"parameter '{name}' = {value!r} is refused before any compute: it has no class ({err}); "
            f"{need}: {reason}"
        ) from None
    except (ParameterError, TypeError) as err:
        raise ParameterError(f"parameter '{name}' = {value!r} cannot be classified at 0 ({err})") from None
    if found.label not in classes:
        raise ParameterError(
            f"parameter '{name}' = {value!r} is refused before any compute: it is class {found.label} "
            f"({found.reason}); {need}: {reason}"
        )
    if smooth and not found.smooth:
        raise ParameterError(
            f"parameter '{name}' = {value!r} is refused before any compute: it is class {found.label} but "
            f"not smooth at 0 ({found.reason}); {need}: {reason}"
        )
    if slope and not (found.alpha is not None and found.alpha > 0):
        alpha = "undefined" if found.alpha is None else f"{found.alpha:.6g}"
        raise ParameterError(
            f"parameter '{name}' = {value!r} is refused before any compute: it is class {found.label} with "
            f"σ'(0) = {alpha} ({'; '.join(found.flags)}); {need} and σ'(0) > 0: {reason}"
        )
    gap = _odd_gap(get_activation(value, param=name)[1]) if odd else 0.0
    if not gap <= 1e-12:
        raise ParameterError(
            f"parameter '{name}' = {value!r} is refused before any compute: it is class {found.label} but "
            f"not odd (max abs(σ(z) + σ(-z)) = {gap:.3g} relative, on [-4, 4]); {need} and odd: {reason}"
        )
    return value


def _odd_gap(fn) -> float:
    """max abs(σ(z) + σ(−z)) on [−4, 4], relative to 1 + max abs(σ): round-off for an odd σ."""
    import torch

    z = torch.linspace(-4.0, 4.0, 801, dtype=torch.float64)
    return float((fn(z) + fn(-z)).abs().max()) / (1.0 + float(fn(z).abs().max()))


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


# --- Declarations: each chapter parameter stated once -------------------------------------

@dataclass(frozen=True)
class Parameter:
    """One chapter parameter: its kind, its allowed values and what it means.

    Build one with :func:`Boolean`, :func:`Integer`, :func:`Real`, :func:`Reals`, :func:`List`,
    :func:`Choice` or :func:`Activation`; a chapter lists them in :func:`declare`.

    Attributes
    ----------
    kind : str
        ``"boolean"``, ``"integer"``, ``"real"``, ``"reals"``, ``"list"``, ``"choice"`` or
        ``"activation"``.
    meaning : str
        MyST Markdown shown in the chapter's Parameters list.
    options : dict
        The bounds and flags passed to the checking function of that kind.
    """

    kind: str
    meaning: str
    options: dict = field(default_factory=dict)

    def check(self, name: str, value):
        """The validated value, or :class:`ParameterError` naming ``name``."""
        return _CHECKS[self.kind](name, value, **self.options)

    def allowed(self) -> str:
        """The allowed values in words, e.g. ``integer in [3, 6]``."""
        o = self.options
        if self.kind == "boolean":
            return "True or False"
        if self.kind == "choice":
            return "one of " + ", ".join(f"`{a}`" for a in o["allowed"])
        if self.kind == "activation":
            return _activation_words(o["classes"], o["smooth"], o["slope"], o["odd"])
        if self.kind == "integer":
            return f"integer in {_interval(o.get('lo'), o.get('hi'), False, False)}"
        span = _interval(o.get("lo"), o.get("hi"), o.get("lo_open", False), o.get("hi_open", False))
        if self.kind == "real":
            return f"real in {span}"
        if self.kind == "list":
            lo, hi = o["min_len"], o["max_len"]
            more = "" if hi == lo else " or more" if hi is None else f" to {hi}"
            count = f" of {lo}{more}" if o["refusal"] else ""
            return f"list{count}, each {o['item'].allowed()}"
        lo_len, hi_len = o.get("min_len", 1), o.get("max_len")
        count = f"{lo_len} or more" if hi_len is None else f"{lo_len} to {hi_len}"
        return f"list of {count} reals in {span}"


def _list(name: str, values, item: "Parameter", refusal: str | None, min_len: int, max_len: int | None) -> list:
    # ``refusal`` words the rule in the error ("must be a list of two scales"); without it any
    # sequence is accepted and only its entries are checked.
    if refusal and not (isinstance(values, (list, tuple)) and min_len <= len(values) <= (max_len or len(values))):
        raise ParameterError(f"parameter '{name}' = {values!r} {refusal}")
    return [item.check(f"{name}[{i}]", v) for i, v in enumerate(values)]


_CHECKS = {"boolean": boolean, "integer": integer, "real": real, "reals": reals, "list": _list,
           "choice": lambda name, value, allowed: choice(name, value, allowed), "activation": activation}


def Boolean(meaning: str) -> Parameter:  # named like a class: it builds one
    """A True/False parameter."""
    return Parameter("boolean", meaning)


def Integer(lo: int | None, hi: int | None, meaning: str) -> Parameter:
    """An integer in ``[lo, hi]`` (either bound may be None)."""
    return Parameter("integer", meaning, {"lo": lo, "hi": hi})


def Real(lo: float | None, hi: float | None, meaning: str, *, lo_open: bool = False,
         hi_open: bool = False) -> Parameter:
    """A finite real in the interval given (see :func:`real`)."""
    return Parameter("real", meaning, {"lo": lo, "hi": hi, "lo_open": lo_open, "hi_open": hi_open})


def Reals(lo: float | None, hi: float | None, meaning: str, *, lo_open: bool = False, hi_open: bool = False,
          min_len: int = 1, max_len: int | None = None) -> Parameter:
    """A list of reals, each in the interval given (see :func:`reals`)."""
    return Parameter("reals", meaning, {"lo": lo, "hi": hi, "lo_open": lo_open, "hi_open": hi_open,
                                        "min_len": min_len, "max_len": max_len})


def List(item: Parameter, meaning: str, refusal: str | None = None, min_len: int = 0,
         max_len: int | None = None) -> Parameter:
    """A list whose entries are each checked like ``item`` (its own meaning is unused).

    With ``refusal`` (words such as ``"must be a list of two scales"``) a value that is not a
    list of ``min_len`` to ``max_len`` entries (no upper bound if None) is refused with them.
    """
    return Parameter("list", meaning, {"item": item, "refusal": refusal, "min_len": min_len, "max_len": max_len})


def Choice(allowed: Iterable[str], meaning: str) -> Parameter:
    """One of the strings ``allowed``."""
    return Parameter("choice", meaning, {"allowed": tuple(allowed)})


def Activation(classes: Iterable[str], meaning: str, reason: str, *, smooth: bool = True,
               slope: bool = True, odd: bool = False) -> Parameter:
    """An activation by registry name or expression in ``z``, of one of the universality ``classes``.

    Parameters
    ----------
    classes : iterable of str
        The classes (of ``"A"``, ``"B"``, ``"C"``, ``"D"``) the chapter's claims hold for.
    meaning : str
        MyST Markdown for the Parameters list.
    reason : str
        Why the chapter's claims need those classes; quoted by every refusal.
    smooth : bool, default True
        Refuse an activation that is not smooth at 0 (a kinked class-A σ such as ReLU included).
    slope : bool, default True
        Refuse σ'(0) ≤ 0 (no linear regime: the B/C escape clock ∝ α^{L−1} does not exist).
    odd : bool, default False
        Refuse an activation that is not odd (claims that use σ(−z) = −σ(z) beyond the origin).

    Examples
    --------
    >>> p = Activation(("B", "C"), "the hidden activation", "the escape law needs q = 2 or 3")
    >>> p.check("activation", "atan(z)")
    'atan(z)'
    """
    classes = tuple(classes)
    if not classes or any(c not in CLASSES for c in classes) or len(set(classes)) != len(classes):
        raise ParameterError(f"parameter 'classes' = {classes!r} must be distinct labels of {', '.join(CLASSES)}")
    if not isinstance(reason, str) or not reason.strip():
        raise ParameterError("parameter 'reason' must be a non-empty string: why the chapter needs these classes")
    return Parameter("activation", meaning, {"classes": classes, "reason": reason, "smooth": bool(smooth),
                                             "slope": bool(slope), "odd": bool(odd)})


@functools.cache
def _registry_by_class() -> dict[str, tuple[str, bool, bool, bool]]:
    """Registry name -> (class, smooth, σ'(0) > 0, odd), computed once with the true mathematics.

    Order 4 suffices for the registry (analytic functions, or kinks in the first derivative; a test
    holds it to the default order 8) and costs a hundredth of it.
    """
    from ..nets import ACTIVATIONS, classify, get_activation

    out = {}
    for name in ACTIVATIONS:
        c = classify(name, max_order=4, counterfactual=False)
        odd = _odd_gap(get_activation(name, param="activation")[1]) <= 1e-12
        out[name] = (c.label, c.smooth, c.alpha is not None and c.alpha > 0, odd)
    return out


def _activation_words(classes: tuple[str, ...], smooth: bool, slope: bool, odd: bool = False) -> str:
    """The allowed values of an Activation parameter, with the syntax and examples (MyST Markdown)."""
    from ..nets import EXPRESSION_EXAMPLES, EXPRESSION_FUNCTIONS

    names = [n for n, (label, sm, sl, od) in _registry_by_class().items()
             if label in classes and (sm or not smooth) and (sl or not slope) and (od or not odd)]
    examples = [e for c in classes for e in EXPRESSION_EXAMPLES[c][:2]]  # the class-B examples are odd
    conditions = (", smooth at 0" if smooth else "") + (", with σ'(0) > 0" if slope else "") + (", odd" if odd else "")
    return (
        f"an activation of class {_either(classes)}{conditions}: a registry name ("
        + ", ".join(f"`{n}`" for n in names)
        + ") or an expression in `z`, e.g. " + ", ".join(f'`"{e}"`' for e in examples)
        + "; an expression may use `z`, numbers, `pi`, `e`, the operators `+ - * / **` and unary `-`, and "
        "one-argument calls of " + ", ".join(f"`{f}`" for f in EXPRESSION_FUNCTIONS)
        + "; anything else, or an activation of another class, is refused before any compute"
    )


class Declaration:
    """A chapter's parameters, each declared once: validation and the Parameters list.

    Examples
    --------
    >>> PARAMETERS = declare(depth=Integer(3, 6, "number of weight matrices $L$"))
    >>> PARAMETERS.validate({"depth": 4})
    {'depth': 4}
    """

    def __init__(self, parameters: dict[str, Parameter]) -> None:
        bad = [k for k, v in parameters.items() if not isinstance(v, Parameter)]
        if bad:
            raise TypeError(f"declare() takes Parameter values; not for: {', '.join(bad)}")
        self.parameters = dict(parameters)

    def validate(self, namespace: dict) -> dict:
        """The validated value of every declared parameter found in ``namespace``.

        Raises :class:`ParameterError` for the first parameter that is missing or out of
        range, naming it and its allowed values. Chapters write
        ``globals().update(PARAMETERS.validate(globals()))``.
        """
        missing = [k for k in self.parameters if k not in namespace]
        if missing:
            raise ParameterError(f"parameter(s) {', '.join(missing)} declared but not set")
        return {k: p.check(k, namespace[k]) for k, p in self.parameters.items()}

    def markdown(self, values: dict | None = None) -> str:
        """The chapter's Parameters list (MyST Markdown), with this run's values if given."""
        lines = []
        for k, p in self.parameters.items():
            run = "" if values is None or k not in values else f"; this run: `{values[k]!r}`"
            lines.append(f"- `{k}` ({p.allowed()}{run}): {p.meaning}")
        return "\n".join(lines)


def declare(**parameters: Parameter) -> Declaration:
    """Declare a chapter's parameters in order (see :class:`Declaration`)."""
    return Declaration(parameters)
