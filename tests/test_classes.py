"""saddlebook.classes.classify: the registry, and activations defined only here."""
import math

import pytest
import torch
import torch.nn.functional as F

from saddlebook.nets import ACTIVATIONS, SMOOTH, quadratic
from saddlebook.nets._classes import ActivationClass, NotSmoothError, classify

SQRT_PI = math.sqrt(math.pi)

# name: (label, q, c_q, alpha, offset) -- exact Taylor values
REGISTRY = {
    "identity": ("A", None, 0.0, 1.0, 0.0),
    "tanh": ("B", 3, -2.0 / 3.0, 1.0, 0.0),
    "sin": ("B", 3, -1.0 / 3.0, 1.0, 0.0),
    "erf": ("B", 3, -4.0 / (3.0 * SQRT_PI), 2.0 / SQRT_PI, 0.0),
    "gelu": ("C", 2, 1.0 / math.sqrt(2.0 * math.pi), 0.5, 0.0),
    "silu": ("C", 2, 0.25, 0.5, 0.0),
    "quadratic": ("C", 2, 0.5, 1.0, 0.0),
    "sigmoid": ("D", 0, -0.5, 0.25, 0.5),
    "softplus": ("D", 0, -math.log(2.0), 0.5, math.log(2.0)),
    "mish": ("C", 2, 0.32, 0.6, 0.0),  # tanh(log 2) = 3/5; s_2 = sech^2(log 2)/2 = 0.32
    "gelu_tanh": ("C", 2, 1.0 / math.sqrt(2.0 * math.pi), 0.5, 0.0),  # s_2 = sqrt(2/pi)/2
    "logsigmoid": ("D", 0, math.log(2.0), 0.5, -math.log(2.0)),
}


def _same(a, b, tol=1e-10):
    return (a is None and b is None) or (a is not None and b is not None and abs(a - b) <= tol * max(1.0, abs(b)))


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_registry_smooth(name):
    label, q, c, alpha, offset = REGISTRY[name]
    r = classify(name)
    assert isinstance(r, ActivationClass)
    assert r.label == label and r.q == q and r.smooth
    assert _same(r.coefficient, c) and _same(r.alpha, alpha) and _same(r.offset, offset)
    assert r.flags == ()
    assert r.name == name


def test_every_registry_entry_is_classified():
    for name in ACTIVATIONS:
        r = classify(name)
        assert r.label in {"A", "B", "C", "D"}
        assert r.smooth == (name in SMOOTH)


@pytest.mark.parametrize("name, slopes", [("relu", (0.0, 1.0)), ("leaky_relu", (0.01, 1.0))])
def test_homogeneous_piecewise_linear_is_class_a(name, slopes):
    r = classify(name)
    assert r.label == "A" and r.q is None and r.coefficient == 0.0
    assert not r.smooth and r.alpha is None
    assert r.slopes == pytest.approx(slopes, abs=1e-12)
    assert "homogeneous" in r.reason
    assert any("does not exist" in f for f in r.flags)


@pytest.mark.parametrize("a", [0.5, -0.3, 2.0])
def test_quadratic_coefficient(a):
    r = classify(quadratic(a))
    assert r.label == "C" and r.q == 2 and _same(r.coefficient, a) and _same(r.alpha, 1.0)


# Activations that appear nowhere in the package or the book.
def cubic(z):
    return z + z**3


def z_sigmoid_2z(z):
    return z * torch.sigmoid(2 * z)


def one_plus_tanh(z):
    return 1 + torch.tanh(z)


def generic_c(z):
    return z + z**2 + z**3


def quartic(z):
    return 2 * z - z**4


def fifth(z):
    return torch.tanh(z) + z**3 / 3


def shifted_exp(z):
    return torch.exp(z) - 1 - z**2 / 2


@pytest.mark.parametrize(
    "fn, label, q, c, alpha, offset",
    [
        (cubic, "B", 3, 2.0, 1.0, 0.0),
        (torch.sinh, "B", 3, 1.0 / 3.0, 1.0, 0.0),
        (torch.atan, "B", 3, -2.0 / 3.0, 1.0, 0.0),
        (fifth, "B", 5, 8.0 / 15.0, 1.0, 0.0),  # tanh = z - z^3/3 + 2z^5/15
        (z_sigmoid_2z, "C", 2, 0.5, 0.5, 0.0),
        (generic_c, "C", 2, 1.0, 1.0, 0.0),
        (quartic, "C", 4, -3.0, 2.0, 0.0),
        (shifted_exp, "B", 3, 1.0 / 3.0, 1.0, 0.0),  # e^z - 1 - z^2/2 = z + z^3/6 + ...
        (F.mish, "C", 2, 0.32, 0.6, 0.0),  # tanh(log 2) = 3/5, sech^2(log 2)/2 = 0.32
        (one_plus_tanh, "D", 0, -1.0, 1.0, 1.0),
        (F.logsigmoid, "D", 0, math.log(2.0), 0.5, -math.log(2.0)),
    ],
)
def test_unseen_smooth_callables(fn, label, q, c, alpha, offset):
    r = classify(fn)
    assert (r.label, r.q) == (label, q)
    assert _same(r.coefficient, c, 1e-9) and _same(r.alpha, alpha, 1e-9) and _same(r.offset, offset, 1e-9)
    assert r.smooth and r.flags == ()


def test_coefficients_match_phi_numerically():
    # c_q z^q must approximate φ_σ(z) = zσ'(z) − σ(z) near 0.
    from saddlebook.nets import phi

    for fn in (cubic, torch.atan, z_sigmoid_2z, one_plus_tanh, fifth):
        r = classify(fn)
        z = torch.tensor([1e-2, -1e-2], dtype=torch.float64)
        ratio = phi(fn, z) / (r.coefficient * z**r.q)
        assert torch.allclose(ratio, torch.ones_like(ratio), rtol=0.05)


def test_alpha_zero_is_flagged():
    r = classify(torch.cos)
    assert r.label == "D" and r.q == 0 and _same(r.coefficient, -1.0)
    assert r.alpha == 0.0 and not r.linear_regime
    assert any("σ'(0) = 0" in f for f in r.flags)

    def square_plus_cube(z):
        return z**2 + z**3

    r = classify(square_plus_cube)
    assert r.label == "C" and r.alpha == 0.0 and r.flags

    r = classify(torch.nn.Tanhshrink())  # z - tanh z = z^3/3 + ...
    assert r.label == "B" and r.alpha == 0.0 and r.flags


def test_negative_alpha_is_flagged():
    def minus_tanh(z):
        return -torch.tanh(z)

    r = classify(minus_tanh)
    assert r.label == "B" and _same(r.alpha, -1.0)
    assert any("α > 0" in f for f in r.flags)


@pytest.mark.parametrize(
    "fn, order",
    [
        (F.elu, 2),
        (F.selu, 1),
        (F.celu, 2),
        (F.softsign, 2),
        (lambda z: z + z * z.abs(), 2),
        (lambda z: torch.tanh(z) + z.abs() ** 5 * z, 6),
        (lambda z: torch.where(z == 0, torch.ones_like(z), z), 0),
    ],
)
def test_not_smooth_raises(fn, order):
    with pytest.raises(NotSmoothError, match="not smooth at 0") as info:
        classify(fn)
    assert info.value.order == order
    assert isinstance(info.value, ValueError)


def test_softsign_would_fool_nested_autograd():
    # The trap the smoothness test exists for: at 0 torch's derivative of |z|
    # is 0, so nested autograd sees softsign as z to third order.
    z = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    d1 = torch.autograd.grad(F.softsign(z).sum(), z, create_graph=True)[0]
    d2 = torch.autograd.grad(d1.sum(), z, create_graph=True)[0]
    assert float(d1.detach()) == 1.0 and float(d2.detach()) == 0.0
    with pytest.raises(NotSmoothError):
        classify(F.softsign)


def test_homogeneous_unseen():
    r = classify(torch.abs)
    assert r.label == "A" and r.alpha is None and r.slopes == pytest.approx((-1.0, 1.0))

    def two_slopes(z):
        return 2 * torch.relu(z) - 0.5 * torch.relu(-z)

    r = classify(two_slopes)
    assert r.label == "A" and r.slopes == pytest.approx((0.5, 2.0))


def test_linear_near_zero_is_class_a():
    r = classify(F.hardtanh)  # the identity on [-1, 1]
    assert r.label == "A" and r.smooth and _same(r.alpha, 1.0)


def test_leading_term_beyond_max_order():
    def twelfth(z):
        return z + z**12

    with pytest.raises(ValueError, match="max_order"):
        classify(twelfth)
    assert classify(twelfth, max_order=12).q == 12


def test_bad_input_names_the_parameter():
    with pytest.raises(ValueError, match="parameter 'sigma'"):
        classify("swish")
    with pytest.raises(TypeError, match="parameter 'sigma'"):
        classify(3.0)
    with pytest.raises(TypeError, match="parameter 'sigma'"):
        classify(None)
    with pytest.raises(ValueError, match="parameter 'max_order'"):
        classify("tanh", max_order=1)
    with pytest.raises(ValueError, match="parameter 'max_order'"):
        classify("tanh", max_order=2.5)
    with pytest.raises(ValueError, match="parameter 'tol'"):
        classify("tanh", tol=0)


def test_bad_callables():
    with pytest.raises(TypeError, match="parameter 'sigma'"):
        classify(lambda z: float(z.sum()))
    with pytest.raises(TypeError, match="float64"):
        classify(lambda z: z.float())
    with pytest.raises(ValueError, match="elementwise"):
        classify(lambda z: z - z.mean())
    with pytest.raises(ValueError, match="not finite"):
        classify(lambda z: 1 / z)
    with pytest.raises(ValueError, match="autograd cannot"):
        classify(F.hardsigmoid)


def test_deterministic_and_str():
    a, b = classify("erf"), classify("erf")
    assert a == b
    assert "class B" in str(a)


def test_taylor_coefficients_raw_and_the_trap():
    from saddlebook.nets import taylor_coefficients

    s = taylor_coefficients("tanh", max_order=5)
    assert s == pytest.approx((0.0, 1.0, 0.0, -1.0 / 3.0, 0.0, 2.0 / 15.0), abs=1e-12)
    # Without the smoothness test softsign looks linear to every order.
    s = taylor_coefficients(F.softsign, max_order=6)
    assert s == pytest.approx((0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0), abs=1e-12)
    with pytest.raises(ValueError, match="parameter 'max_order'"):
        taylor_coefficients("tanh", max_order=13)


def test_tanhshrink_is_class_b_without_a_linear_regime():
    r = classify("tanhshrink(z)")  # z - tanh z = z^3/3 - 2z^5/15 + ...: phi = (2/3) z^3 + ...
    assert (r.label, r.q) == ("B", 3) and _same(r.coefficient, 2.0 / 3.0) and r.alpha == 0.0 and r.flags


# Expressions in z. Coefficients derived by hand: for sigma = sum s_k z^k,
# phi = z sigma' - sigma = -s_0 + sum_{k>=2} (k-1) s_k z^k.
EXPRESSIONS = [
    # atan z = z - z^3/3 + z^5/5: c_3 = 2 (-1/3) = -2/3, c_5 = 4/5
    ("atan(z)", "B", 3, -2.0 / 3.0, 1.0, 0.0, {5: 0.8}),
    # c_3 = 2 (-1/3), c_5 = 4 (1/10)
    ("z - z**3/3 + z**5/10", "B", 3, -2.0 / 3.0, 1.0, 0.0, {5: 0.4}),
    # c_2 = 1 * 0.3, nothing above
    ("z + 0.3*z**2", "C", 2, 0.3, 1.0, 0.0, {3: 0.0, 4: 0.0}),
    ("z*tanh(softplus(z))", "C", 2, 0.32, 0.6, 0.0, {}),
    # sigma(0) = 0.5: c_0 = -0.5
    ("z + 0.5", "D", 0, -0.5, 1.0, 0.5, {2: 0.0}),
    ("0*z + 1", "D", 0, -1.0, 0.0, 1.0, {}),
    ("2*z", "A", None, 0.0, 2.0, 0.0, {}),
]


@pytest.mark.parametrize("text, label, q, c, alpha, offset, more", EXPRESSIONS)
def test_expressions_are_classified(text, label, q, c, alpha, offset, more):
    r = classify(text)
    assert r.name == text and (r.label, r.q) == (label, q) and r.smooth
    assert _same(r.coefficient, c, 1e-12) and _same(r.alpha, alpha, 1e-12) and _same(r.offset, offset, 1e-12)
    for k, ck in more.items():
        assert abs(r.phi_taylor[k] - ck) <= 1e-12


def test_an_expression_classifies_like_its_callable():
    for text, fn in (("atan(z)", torch.atan), ("z*tanh(softplus(z))", F.mish), ("sinh(z)", torch.sinh),
                     ("z*sigmoid(2*z)", z_sigmoid_2z)):
        a, b = classify(text), classify(fn)
        assert (a.label, a.q) == (b.label, b.q)
        assert all(abs(x - y) <= 1e-12 for x, y in zip(a.phi_taylor, b.phi_taylor))


def test_kinked_expressions():
    r = classify("relu(z)")
    assert r.label == "A" and not r.smooth and r.alpha is None
    r = classify("abs(z)")  # homogeneous of degree one: class A, but not smooth
    assert r.label == "A" and not r.smooth and r.slopes == pytest.approx((-1.0, 1.0))
    for text, order in (("elu(z)", 2), ("softsign(z)", 2), ("z + z*abs(z)", 2), ("tanh(z) + abs(z)**5*z", 6)):
        with pytest.raises(NotSmoothError) as info:
            classify(text)
        assert info.value.order == order


def test_bad_expressions_name_the_parameter():
    with pytest.raises(ValueError, match=r"^classify: parameter 'sigma' = 'atan\(x\)': unknown name 'x'"):
        classify("atan(x)")
    with pytest.raises(ValueError, match="not finite near 0"):
        classify("log(z)")


def test_phi_zero_counterfactual_and_the_switch_to_ignore_it(monkeypatch):
    from saddlebook.book.counterfactual import ENV

    monkeypatch.setenv(ENV, "phi_zero")
    assert classify("atan(z)").label == "A"
    r = classify("atan(z)", counterfactual=False)
    assert (r.label, r.q) == ("B", 3) and _same(r.coefficient, -2.0 / 3.0)
