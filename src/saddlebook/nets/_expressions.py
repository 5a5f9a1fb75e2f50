"""Activations written as expressions in ``z``: a whitelist parser, never ``eval``.

A researcher names an activation on the command line or through papermill as
text, e.g. ``"atan(z)"``, ``"z*tanh(softplus(z))"``, ``"z + 0.3*z**2"`` or
``"z - z**3/3 + z**5/10"``. :class:`Expression` parses such text with
:mod:`ast` and accepts only

- the name ``z`` (and the constants ``pi`` and ``e``), int and float literals;
- the operators ``+ - * / **`` and unary ``+ -``;
- calls, with one positional argument, of the elementwise functions of
  :data:`EXPRESSION_FUNCTIONS` (tanh, sin, atan, softplus, gelu, mish, relu, abs, ...).

Everything else (other names, attributes, subscripts, keywords, lambdas,
comprehensions, comparisons, text over :data:`EXPRESSION_MAX_LENGTH` characters) is
refused with a :class:`~saddlebook.errors.ParameterError` that names the
parameter, the offending piece and what is allowed. The accepted tree is
compiled into a tree of small evaluator nodes; the text itself is never
executed, so a function outside the table can never run.

Non-smooth functions (relu, abs, elu, softsign, ...) are accepted here:
smoothness is a property of the whole expression, and
:func:`saddlebook.nets.classify` decides it where a claim needs it.

Each node also carries its derivative rule, so :meth:`Expression.pair`
returns (σ, σ') in one forward pass (forward-mode differentiation), without
autograd; the rules follow torch's conventions at kinks (relu'(0) = 0,
abs'(0) = 0), so they agree with autograd everywhere to round-off.
"""
from __future__ import annotations

import ast
import functools
import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from ..errors import ParameterError

__all__ = ["Expression", "Elementwise", "EXPRESSION_FUNCTIONS", "EXPRESSION_CONSTANTS", "EXPRESSION_MAX_LENGTH",
           "EXPRESSION_SYNTAX", "EXPRESSION_EXAMPLES", "parse_expression"]

EXPRESSION_MAX_LENGTH = 200
"""Longest expression text accepted (characters)."""

EXPRESSION_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}
"""Named constants an expression may use besides ``z``."""

_SQRT_2PI = math.sqrt(2.0 * math.pi)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_K_TANH = math.sqrt(2.0 / math.pi)  # GELU's tanh approximation, as torch writes it
_C_TANH = 0.044715
_SELU_SCALE = 1.0507009873554804934193349852946
_SELU_ALPHA = 1.6732632423543772848170429916717


@dataclass(frozen=True)
class Elementwise:
    """One function an expression may call: f and its derivative rule.

    Attributes
    ----------
    name : str
        The name used in expressions.
    fn : callable
        ``fn(u) -> f(u)``, elementwise, keeps dtype and shape.
    rule : callable
        ``rule(u, v) -> f'(u)`` given ``v = f(u)`` (so tanh' = 1 − v² reuses v).
        At a kink it returns torch's autograd convention.
    smooth : bool
        False if f has a kink or a jump of some derivative on the real line
        (documentation only; :func:`~saddlebook.nets.classify` decides).
    """

    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    rule: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    smooth: bool = True

    def pair(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(f(u), f'(u))."""
        v = self.fn(u)
        return v, self.rule(u, v)


def _softplus(u):
    # torch's F.softplus switches to the identity above a threshold; logaddexp is exact everywhere.
    return torch.logaddexp(u, torch.zeros((), dtype=u.dtype, device=u.device))


def _gelu_rule(u, v):
    cdf = 0.5 * (1.0 + torch.erf(u / math.sqrt(2.0)))
    return cdf + u * torch.exp(-0.5 * u * u) / _SQRT_2PI


def _gelu_tanh_rule(u, v):
    t = torch.tanh(_K_TANH * (u + _C_TANH * u * u * u))
    return 0.5 * (1.0 + t) + 0.5 * u * (1.0 - t * t) * _K_TANH * (1.0 + 3.0 * _C_TANH * u * u)


def _silu_rule(u, v):
    s = torch.sigmoid(u)
    return s * (1.0 + u * (1.0 - s))


def _mish_rule(u, v):
    t = torch.tanh(_softplus(u))
    return t + u * (1.0 - t * t) * torch.sigmoid(u)


def _where_positive(u, left):
    # u > 0: slope 1; else ``left`` (torch's convention at 0 is the left branch).
    return torch.where(u > 0, torch.ones_like(u), left)


def _table() -> dict[str, Elementwise]:
    E = Elementwise
    entries = [
        E("tanh", torch.tanh, lambda u, v: 1.0 - v * v),
        E("sin", torch.sin, lambda u, v: torch.cos(u)),
        E("cos", torch.cos, lambda u, v: -torch.sin(u)),
        E("tan", torch.tan, lambda u, v: 1.0 + v * v),
        E("exp", torch.exp, lambda u, v: v),
        E("expm1", torch.expm1, lambda u, v: v + 1.0),
        E("log", torch.log, lambda u, v: 1.0 / u),
        E("log1p", torch.log1p, lambda u, v: 1.0 / (1.0 + u)),
        E("sqrt", torch.sqrt, lambda u, v: 0.5 / v),
        E("atan", torch.atan, lambda u, v: 1.0 / (1.0 + u * u)),
        E("asin", torch.asin, lambda u, v: torch.rsqrt(1.0 - u * u)),
        E("asinh", torch.asinh, lambda u, v: torch.rsqrt(1.0 + u * u)),
        E("atanh", torch.atanh, lambda u, v: 1.0 / (1.0 - u * u)),
        E("sinh", torch.sinh, lambda u, v: torch.cosh(u)),
        E("cosh", torch.cosh, lambda u, v: torch.sinh(u)),
        E("erf", torch.erf, lambda u, v: _TWO_OVER_SQRT_PI * torch.exp(-u * u)),
        E("erfc", torch.erfc, lambda u, v: -_TWO_OVER_SQRT_PI * torch.exp(-u * u)),
        E("sigmoid", torch.sigmoid, lambda u, v: v * (1.0 - v)),
        E("softplus", _softplus, lambda u, v: torch.sigmoid(u)),
        E("logsigmoid", F.logsigmoid, lambda u, v: torch.sigmoid(-u)),
        E("gelu", lambda u: F.gelu(u, approximate="none"), _gelu_rule),
        E("gelu_tanh", lambda u: F.gelu(u, approximate="tanh"), _gelu_tanh_rule),
        E("silu", F.silu, _silu_rule),
        E("mish", F.mish, _mish_rule),
        E("tanhshrink", F.tanhshrink, lambda u, v: torch.tanh(u) ** 2),
        E("relu", torch.relu, lambda u, v: (u > 0).to(u.dtype), smooth=False),
        E("leaky_relu", F.leaky_relu, lambda u, v: _where_positive(u, torch.full_like(u, 0.01)), smooth=False),
        E("abs", torch.abs, lambda u, v: torch.sign(u), smooth=False),
        E("elu", F.elu, lambda u, v: _where_positive(u, torch.exp(u)), smooth=False),
        E("celu", F.celu, lambda u, v: _where_positive(u, torch.exp(u)), smooth=False),
        E("selu", F.selu, lambda u, v: _SELU_SCALE * _where_positive(u, _SELU_ALPHA * torch.exp(u)),
          smooth=False),
        E("softsign", F.softsign, lambda u, v: 1.0 / (1.0 + u.abs()) ** 2, smooth=False),
        E("hardtanh", F.hardtanh, lambda u, v: ((u > -1.0) & (u < 1.0)).to(u.dtype), smooth=False),
    ]
    return {e.name: e for e in sorted(entries, key=lambda e: e.name)}


EXPRESSION_FUNCTIONS: dict[str, Elementwise] = _table()
"""The functions an expression may call, by name (alphabetical)."""

EXPRESSION_SYNTAX = (
    "z, numbers, the constants pi and e, + - * / ** (and unary + -), and one-argument calls of the "
    "functions " + ", ".join(EXPRESSION_FUNCTIONS)
)
"""What an expression may contain, in words (quoted by every refusal)."""

EXPRESSION_EXAMPLES: dict[str, tuple[str, ...]] = {
    "A": ("z", "2*z"),
    "B": ("atan(z)", "z - z**3/3 + z**5/10", "sinh(z)"),
    "C": ("z + 0.3*z**2", "z*tanh(softplus(z))", "z*sigmoid(2*z)"),
    "D": ("z + 0.5", "sigmoid(z)"),
}
"""Example expressions by universality class (for documentation and tests)."""


# --- The evaluator tree: built once per expression, never from text at call time ----------

class _Node:
    """An evaluator node that depends on z: ``value(z)`` and ``dual(z) -> (value, d value/dz)``."""

    def value(self, z):  # pragma: no cover - abstract
        raise NotImplementedError

    def dual(self, z):  # pragma: no cover - abstract
        raise NotImplementedError


class _Var(_Node):
    def value(self, z):
        return z

    def dual(self, z):
        return z, 1.0


class _Neg(_Node):
    def __init__(self, arg: _Node):
        self.arg = arg

    def value(self, z):
        return -self.arg.value(z)

    def dual(self, z):
        v, d = self.arg.dual(z)
        return -v, -d


class _Call(_Node):
    def __init__(self, fn: Elementwise, arg: _Node):
        self.fn, self.arg = fn, arg

    def value(self, z):
        return self.fn.fn(self.arg.value(z))

    def dual(self, z):
        u, du = self.arg.dual(z)
        v, dv = self.fn.pair(u)
        return v, dv * du


def _d_pow_const_exponent(a, da, c: float):
    # d(a^c) = c a^(c-1) da, with torch's special cases: c = 0 gives 0 (not 0 * a^-1, nan at a = 0).
    if c == 0.0:
        return 0.0
    if c == 1.0:
        return da
    if c == 2.0:
        return 2.0 * a * da
    return c * a ** (c - 1.0) * da


class _Bin(_Node):
    """``left op right``; one side may be a Python float (a folded constant), never both."""

    def __init__(self, op: str, left, right):
        self.op, self.left, self.right = op, left, right

    @staticmethod
    def _side_value(side, z):
        return side if isinstance(side, float) else side.value(z)

    @staticmethod
    def _side_dual(side, z):
        return (side, 0.0) if isinstance(side, float) else side.dual(z)

    def value(self, z):
        return _APPLY[self.op](self._side_value(self.left, z), self._side_value(self.right, z))

    def dual(self, z):
        (a, da), (b, db) = self._side_dual(self.left, z), self._side_dual(self.right, z)
        const_a, const_b = isinstance(self.left, float), isinstance(self.right, float)
        op = self.op
        if op == "+":
            return a + b, db if const_a else da if const_b else da + db
        if op == "-":
            return a - b, -db if const_a else da if const_b else da - db
        if op == "*":
            return a * b, a * db if const_a else da * b if const_b else da * b + a * db
        if op == "/":
            v = a / b
            return v, da / b if const_b else -v * db / b if const_a else (da - v * db) / b
        v = a ** b  # op == "**"
        if const_b:
            return v, _d_pow_const_exponent(a, da, b)
        if const_a:
            return v, v * (math.log(a) if a > 0 else math.nan) * db
        return v, b * a ** (b - 1.0) * da + v * torch.log(a) * db


_APPLY = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "**": lambda a, b: a ** b,
}
_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_OTHER_OPS = {ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>",
              ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&", ast.Not: "not", ast.Invert: "~"}
_REFUSED = {  # node type -> what the refusal calls it
    ast.Attribute: "attribute access", ast.Subscript: "subscripts", ast.Slice: "slices",
    ast.Lambda: "lambda", ast.ListComp: "comprehensions", ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions", ast.GeneratorExp: "comprehensions", ast.Compare: "comparisons",
    ast.BoolOp: "boolean operators", ast.IfExp: "conditional expressions", ast.NamedExpr: "assignments",
    ast.Starred: "starred arguments", ast.Tuple: "tuples", ast.List: "lists", ast.Dict: "dicts",
    ast.Set: "sets", ast.JoinedStr: "f-strings", ast.Await: "await", ast.Yield: "yield",
    ast.YieldFrom: "yield",
}


class _Parse:
    """One parse: the text, the parameter name and the registry names, for the messages."""

    def __init__(self, text: str, param: str, names: tuple[str, ...]):
        self.text, self.param, self.names = text, param, names

    def refuse(self, problem: str) -> ParameterError:
        registry = f"a registry name ({', '.join(self.names)}) or an expression in z: " if self.names else ""
        return ParameterError(
            f"parameter '{self.param}' = {self.text!r}: {problem}; allowed: {registry}{EXPRESSION_SYNTAX}"
        )

    def build(self, node: ast.AST):
        """A Python float (constant subtree, folded) or a :class:`_Node`."""
        if isinstance(node, ast.Constant):
            return self._constant(node.value)
        if isinstance(node, ast.Name):
            return self._name(node.id)
        if isinstance(node, ast.UnaryOp):
            return self._unary(node)
        if isinstance(node, ast.BinOp):
            return self._binary(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        what = _REFUSED.get(type(node), f"'{type(node).__name__}' nodes")
        raise self.refuse(f"{what} are not allowed" if what.endswith("s") else f"{what} is not allowed")

    def _constant(self, value) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.refuse(f"the constant {value!r} is not allowed (numbers only)")
        try:
            out = float(value)
        except OverflowError:
            raise self.refuse(f"the number {value} is too large for a float") from None
        if not math.isfinite(out):
            raise self.refuse(f"the number {value!r} is not finite")
        return out

    def _name(self, name: str):
        if name == "z":
            return _Var()
        if name in EXPRESSION_CONSTANTS:
            return EXPRESSION_CONSTANTS[name]
        hint = f" ({name} is a function: call it, e.g. '{name}(z)')" if name in EXPRESSION_FUNCTIONS else ""
        raise self.refuse(f"unknown name {name!r}{hint}")

    def _unary(self, node: ast.UnaryOp):
        if isinstance(node.op, (ast.UAdd, ast.USub)):
            arg = self.build(node.operand)
            if isinstance(node.op, ast.UAdd):
                return arg
            return -arg if isinstance(arg, float) else _Neg(arg)
        raise self.refuse(f"the operator '{_OTHER_OPS.get(type(node.op), type(node.op).__name__)}' is not allowed")

    def _binary(self, node: ast.BinOp):
        op = _BINOPS.get(type(node.op))
        if op is None:
            raise self.refuse(f"the operator '{_OTHER_OPS.get(type(node.op), type(node.op).__name__)}' is not allowed")
        left, right = self.build(node.left), self.build(node.right)
        if isinstance(left, float) and isinstance(right, float):
            return self._fold(op, left, right)
        return _Bin(op, left, right)

    def _fold(self, op: str, a: float, b: float) -> float:
        # Floats only, so '10**10**10' overflows at once instead of building a huge integer.
        try:
            out = _APPLY[op](a, b)
        except (OverflowError, ZeroDivisionError) as err:
            raise self.refuse(f"the constant part {a!r} {op} {b!r} cannot be evaluated ({err})") from None
        if isinstance(out, complex) or not math.isfinite(out):
            raise self.refuse(f"the constant part {a!r} {op} {b!r} is not a finite real number")
        return float(out)

    def _call(self, node: ast.Call):
        if isinstance(node.func, ast.Attribute):
            raise self.refuse(f"attribute access ('.{node.func.attr}') is not allowed")
        if not isinstance(node.func, ast.Name):
            raise self.refuse("only the listed functions can be called, by name")
        name = node.func.id
        if name not in EXPRESSION_FUNCTIONS:
            raise self.refuse(f"unknown function {name!r}")
        if node.keywords:
            keys = ", ".join(f"{k.arg}=" if k.arg else "**" for k in node.keywords)
            raise self.refuse(f"keyword arguments are not allowed (found {keys} in {name}(...))")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise self.refuse("starred arguments are not allowed")
        if len(node.args) != 1:
            raise self.refuse(f"the function {name!r} takes exactly one argument, got {len(node.args)}")
        arg = self.build(node.args[0])
        fn = EXPRESSION_FUNCTIONS[name]
        if isinstance(arg, float):
            out = float(fn.fn(torch.tensor(arg, dtype=torch.float64)))
            if not math.isfinite(out):
                raise self.refuse(f"the constant part {name}({arg!r}) is not finite")
            return out
        return _Call(fn, arg)


def _parse(text, param: str, names: tuple[str, ...]) -> tuple[str, object]:
    """(normalised text, folded float or evaluator node), or ParameterError."""
    if not isinstance(text, str):
        raise ParameterError(
            f"parameter '{param}' = {text!r} must be a string: an expression in z ({EXPRESSION_SYNTAX})"
        )
    p = _Parse(text, param, names)
    stripped = text.strip()
    if not stripped:
        raise p.refuse("the expression is empty")
    if len(stripped) > EXPRESSION_MAX_LENGTH:
        raise p.refuse(f"the expression has {len(stripped)} characters, more than the limit of {EXPRESSION_MAX_LENGTH}")
    try:
        tree = ast.parse(stripped, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
        detail = (err.msg if isinstance(err, SyntaxError) else str(err)) or type(err).__name__
        raise p.refuse(f"not a valid expression ({detail})") from None
    return ast.unparse(tree), p.build(tree.body)


def _finish(out, z: torch.Tensor) -> torch.Tensor:
    # A constant (sub)expression broadcasts to z's shape, dtype and device.
    if isinstance(out, torch.Tensor) and out.shape == z.shape and out.dtype == z.dtype:
        return out
    return torch.zeros_like(z) + out


class Expression:
    """An activation given as an expression in ``z`` (see the module docstring for the syntax).

    Parameters
    ----------
    text : str
        The expression, e.g. ``"atan(z)"`` or ``"z + 0.3*z**2"``; at most
        :data:`EXPRESSION_MAX_LENGTH` characters.
    param : str, default "activation"
        The parameter name that refusals quote.
    names : tuple of str, default ()
        Registry names the caller also accepts; refusals list them.

    Attributes
    ----------
    text : str
        The expression as given (stripped); also ``__name__``.
    normal : str
        The normalised text (``ast.unparse``): equality and hashing use it,
        so ``"z+0.3*z**2" == "z + 0.3 * z ** 2"``.

    Raises
    ------
    saddlebook.errors.ParameterError
        (a ValueError) Malformed text, an unknown name or function, keywords,
        attributes, subscripts, comprehensions, ..., or text over the length
        limit: naming ``param``, the offending piece and what is allowed.

    Examples
    --------
    >>> import torch
    >>> sigma = Expression("z + 0.3*z**2")
    >>> sigma(torch.tensor([1.0, 2.0], dtype=torch.float64))
    tensor([1.3000, 3.2000], dtype=torch.float64)
    """

    def __init__(self, text: str, *, param: str = "activation", names: tuple[str, ...] = ()):
        self.normal, self._tree = _parse(text, param, tuple(names))
        self.text = text.strip()
        self.__name__ = self.__qualname__ = self.text

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        """σ(z), same shape, dtype and device as ``z``; differentiable by autograd."""
        if not isinstance(z, torch.Tensor):
            raise TypeError(f"parameter 'z' must be a torch.Tensor, got {type(z).__name__}")
        out = self._tree if isinstance(self._tree, float) else self._tree.value(z)
        return _finish(out, z)

    def pair(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(σ(z), σ'(z)) in one forward pass, σ' by the derivative rules (no autograd)."""
        if not isinstance(z, torch.Tensor):
            raise TypeError(f"parameter 'z' must be a torch.Tensor, got {type(z).__name__}")
        if isinstance(self._tree, float):
            return _finish(self._tree, z), torch.zeros_like(z)
        v, d = self._tree.dual(z)
        return _finish(v, z), _finish(d, z)

    def derivative(self, z: torch.Tensor) -> torch.Tensor:
        """σ'(z) by the derivative rules."""
        return self.pair(z)[1]

    def __eq__(self, other) -> bool:
        return isinstance(other, Expression) and other.normal == self.normal

    def __hash__(self) -> int:
        return hash(("Expression", self.normal))

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"

    def __reduce__(self):
        # Rebuilt from the text in the receiving process (a pool worker, Dask): the tree is not pickled.
        return (Expression, (self.text,))


def parse_expression(text: str, param: str = "activation", names: tuple[str, ...] = ()) -> Expression:
    """:class:`Expression` of ``text``, cached (expressions are immutable).

    Parameters and errors as :class:`Expression`.
    """
    if not isinstance(text, str):
        _parse(text, param, tuple(names))  # raises the ParameterError for a non-string
    return _cached(text, param, tuple(names))


@functools.lru_cache(maxsize=256)
def _cached(text: str, param: str, names: tuple[str, ...]) -> Expression:
    return Expression(text, param=param, names=names)
