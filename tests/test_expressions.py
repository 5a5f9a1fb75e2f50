"""Activations as expressions in z: the whitelist parser, its evaluator and its derivative rules."""
import builtins
import inspect
import math
import pickle
import re

import pytest
import torch
import torch.nn.functional as F

from saddlebook.errors import ParameterError
from saddlebook.nets import (
    EXPRESSION_EXAMPLES,
    EXPRESSION_FUNCTIONS,
    EXPRESSION_MAX_LENGTH,
    Expression,
    parse_expression,
)
from saddlebook.nets import _expressions as module

F64 = torch.float64
Z = torch.linspace(-3.0, 3.0, 121, dtype=F64)


def _softplus(z):
    return torch.logaddexp(z, torch.zeros((), dtype=z.dtype))


# text: the same function written by hand in torch
HAND = {
    "atan(z)": torch.atan,
    "z*tanh(softplus(z))": lambda z: z * torch.tanh(_softplus(z)),
    "z + 0.3*z**2": lambda z: z + 0.3 * z**2,
    "z - z**3/3 + z**5/10": lambda z: z - z**3 / 3 + z**5 / 10,
    "0*z + 1": lambda z: 0 * z + 1,
    "-z + 2*sin(z)/(1 + z**2)": lambda z: -z + 2 * torch.sin(z) / (1 + z**2),
    "gelu(z) - 0.5*silu(-z)": lambda z: F.gelu(z) - 0.5 * F.silu(-z),
    "erf(sqrt(pi)*z/2)": lambda z: torch.erf(math.sqrt(math.pi) * z / 2),
    "2**z - e**z": lambda z: 2**z - math.e**z,
}


@pytest.mark.parametrize("text", list(HAND))
def test_values_equal_the_hand_written_formula(text):
    sigma = Expression(text)
    for z in (Z, Z.reshape(11, 11)):
        out = sigma(z)
        assert out.dtype == F64 and out.shape == z.shape
        want = HAND[text](z)
        assert float((out - want).abs().max()) <= 1e-15 * max(1.0, float(want.abs().max()))


def test_float32_and_constants_broadcast():
    z32 = Z.to(torch.float32).reshape(11, 11)[:, ::2]  # float32, and not contiguous
    for text in ("0*z + 1", "1", "pi", "exp(1)", "z + 0.3*z**2"):
        sigma = Expression(text)
        for z in (Z, z32):
            out, d = sigma.pair(z)
            assert out.shape == d.shape == z.shape and out.dtype == d.dtype == z.dtype
    assert torch.equal(Expression("0*z + 1")(Z), torch.ones_like(Z))
    assert torch.equal(Expression("pi")(Z), torch.full_like(Z, math.pi))
    assert torch.equal(Expression("exp(1)").derivative(Z), torch.zeros_like(Z))


# z grids inside each function's domain and away from its kinks (for finite differences)
def _grid(name):
    if name in ("log", "sqrt"):
        return torch.linspace(0.2, 3.0, 57, dtype=F64)
    if name == "log1p":
        return torch.linspace(-0.7, 3.0, 57, dtype=F64)
    if name in ("asin", "atanh"):
        return torch.linspace(-0.9, 0.9, 57, dtype=F64)
    if name == "tan":
        return torch.linspace(-1.2, 1.2, 57, dtype=F64)
    g = torch.linspace(-2.9, 2.9, 59, dtype=F64)
    return g[(g.abs() > 1e-3) & ((g.abs() - 1).abs() > 1e-3)]


def _autograd(fn, z):
    zz = z.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(fn(zz).sum(), zz)
    return g


@pytest.mark.parametrize("name", list(EXPRESSION_FUNCTIONS))
def test_derivative_rule_equals_autograd_and_finite_differences(name):
    for text in (f"{name}(z)", f"0.5*{name}(0.8*z + 0.05)**2 - z*{name}(z)"):
        sigma = Expression(text)
        z = _grid(name)
        value, d = sigma.pair(z)
        assert torch.equal(value, sigma(z))
        auto = _autograd(sigma, z)
        assert torch.allclose(d, auto, rtol=1e-13, atol=1e-14), text
        h = 1e-6
        fd = (sigma(z + h) - sigma(z - h)) / (2 * h)
        assert torch.allclose(d, fd, rtol=1e-6, atol=1e-7), text


KINKS = torch.tensor([-1.0, -1e-300, -0.0, 0.0, 1e-300, 1.0], dtype=F64)


@pytest.mark.parametrize("name", [n for n, f in EXPRESSION_FUNCTIONS.items() if not f.smooth])
def test_derivative_rule_keeps_torch_conventions_at_kinks(name):
    sigma = Expression(f"{name}(z)")
    assert torch.allclose(sigma.derivative(KINKS), _autograd(sigma, KINKS), rtol=1e-15, atol=0)


@pytest.mark.parametrize("text", ["z**2", "z**3", "z**0", "z**1", "z**0.5 + 1", "3**z", "z**z", "z**(1 + z)"])
def test_powers(text):
    sigma = Expression(text)
    z = torch.linspace(0.3, 2.0, 18, dtype=F64)
    assert torch.allclose(sigma.derivative(z), _autograd(sigma, z), rtol=1e-14, atol=1e-15)
    # at 0 the special cases of the power rule match torch's (no 0 * inf)
    zero = torch.zeros(1, dtype=F64)
    if text in ("z**2", "z**3", "z**0", "z**1"):
        assert torch.equal(sigma.derivative(zero), _autograd(sigma, zero))


def test_examples_of_every_class_parse():
    for texts in EXPRESSION_EXAMPLES.values():
        for text in texts:
            assert Expression(text)(Z).shape == Z.shape


REFUSED = [
    ("atan(z", "not a valid expression"),
    ("atan(z))", "not a valid expression"),
    ("", "empty"),
    ("   ", "empty"),
    ("__import__('os')", "unknown function '__import__'"),
    ("__import__('os').system('true')", "attribute access"),
    ("z.exp()", "attribute access ('.exp')"),
    ("torch.tanh(z)", "attribute access"),
    ("foo(z)", "unknown function 'foo'"),
    ("print(z)", "unknown function 'print'"),
    ("x+1", "unknown name 'x'"),
    ("atan(x)", "unknown name 'x'"),
    ("atan", "atan is a function: call it"),
    ("gelu(z, approximate='tanh')", "keyword arguments"),
    ("softplus(z, beta=2)", "keyword arguments"),
    ("atan(z, z)", "exactly one argument"),
    ("atan()", "exactly one argument"),
    ("atan(*z)", "starred"),
    ("z[0]", "subscripts"),
    ("[t for t in z]", "comprehensions"),
    ("(t for t in z)", "comprehensions"),
    ("lambda z: z", "lambda"),
    ("(lambda: 0)()", "only the listed functions can be called"),
    ("z if z > 0 else 0", "conditional expressions"),
    ("z > 0", "comparisons"),
    ("z and 1", "boolean operators"),
    ("not z", "operator 'not'"),
    ("z // 2", "operator '//'"),
    ("z % 2", "operator '%'"),
    ("z @ z", "operator '@'"),
    ("~z", "operator '~'"),
    ("(y := z)", "assignments"),
    ("z, z", "tuples"),
    ("'z'", "constant 'z'"),
    ("True*z", "constant True"),
    ("1j*z", "constant 1j"),
    ("None", "constant None"),
    ("1e400*z", "not finite"),
    ("10**10**10 * z", "cannot be evaluated"),
    ("z/(1/0)", "cannot be evaluated"),
    ("(-8)**(1/3) * z", "not a finite real number"),
    ("sqrt(-1) + z", "not finite"),
    ("z; import os", "not a valid expression"),
    ("z" + " + z" * (EXPRESSION_MAX_LENGTH // 4), f"limit of {EXPRESSION_MAX_LENGTH}"),
]


@pytest.mark.parametrize("text, words", REFUSED)
def test_refusals_name_the_parameter_the_problem_and_what_is_allowed(text, words):
    with pytest.raises(ParameterError) as err:
        Expression(text)
    msg = str(err.value)
    assert msg.startswith(f"parameter 'activation' = {text!r}: ")
    assert words in msg
    assert "allowed: z, numbers" in msg and "+ - * / **" in msg
    assert all(f in msg for f in ("atan", "tanh", "softplus", "mish", "relu"))


def test_the_caller_names_the_parameter():
    with pytest.raises(ParameterError, match=r"^parameter 'sigma' = 'x'"):
        Expression("x", param="sigma")
    with pytest.raises(ParameterError, match="registry name \\(tanh, sin\\) or an expression"):
        Expression("x", names=("tanh", "sin"))
    with pytest.raises(ParameterError, match="must be a string"):
        parse_expression(3.0)
    with pytest.raises(ParameterError, match="must be a string"):
        Expression(["z"])


def test_nothing_in_the_text_is_ever_run(monkeypatch, capsys, tmp_path):
    calls = []

    def spy(*args, **kwargs):  # reachable by name from builtins, torch and this module
        calls.append(args)
        return args[0] if args else None

    monkeypatch.setattr(builtins, "spy", spy, raising=False)
    monkeypatch.setattr(torch, "spy", spy, raising=False)
    target = tmp_path / "touched"
    for text in ("spy(z)", "torch.spy(z)", "print('evaluated')", f"__import__('os').system('touch {target}')",
                 "spy(z) + 1", "atan(spy(z))", "(lambda: spy(0))()", "[spy(t) for t in z]"):
        with pytest.raises(ParameterError):
            Expression(text)
    assert calls == [] and not target.exists() and capsys.readouterr().out == ""


def test_the_module_never_evaluates_text():
    source = inspect.getsource(module)
    for word in ("eval", "exec", "compile", "getattr", "__import__", "globals", "import_module"):
        assert not re.search(rf"(?<![\w.]){word}\(", source), word


def test_name_equality_hash_and_pickling():
    a = Expression("z+0.3*z**2")
    b = Expression("  z + 0.3 * z ** 2 ")
    assert a.__name__ == a.text == "z+0.3*z**2" and b.text == "z + 0.3 * z ** 2"
    assert a == b and hash(a) == hash(b) and a.normal == "z + 0.3 * z ** 2"
    assert a != Expression("z + 0.31*z**2") and a != "z+0.3*z**2"
    assert repr(a) == "Expression('z+0.3*z**2')"
    for text in HAND:
        e = Expression(text)
        back = pickle.loads(pickle.dumps(e))
        assert back == e and back.text == e.text and torch.equal(back(Z), e(Z))
        assert torch.equal(back.derivative(Z), e.derivative(Z))


def test_parse_expression_is_cached_and_input_must_be_a_tensor():
    assert parse_expression("atan(z)") is parse_expression("atan(z)")
    with pytest.raises(TypeError, match="parameter 'z'"):
        Expression("atan(z)")(0.5)
    with pytest.raises(TypeError, match="parameter 'z'"):
        Expression("atan(z)").pair([0.5])


def test_nested_autograd_through_the_expression():
    # classify differentiates an expression up to order 8: σ must stay a torch graph.
    z = torch.tensor([0.3], dtype=F64, requires_grad=True)
    d1 = torch.autograd.grad(Expression("atan(z)")(z).sum(), z, create_graph=True)[0]
    d2 = torch.autograd.grad(d1.sum(), z)[0]
    assert math.isclose(float(d2), -2 * 0.3 / (1 + 0.09) ** 2, rel_tol=1e-14)
