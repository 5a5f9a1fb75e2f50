import pytest

from saddlebook.book import parameters as P


def test_choice():
    assert P.choice("activation", "tanh", ["tanh", "sin"]) == "tanh"
    with pytest.raises(P.ParameterError, match=r"'activation' = 'cos'.*allowed values: tanh, sin"):
        P.choice("activation", "cos", ["tanh", "sin"])


def test_real_ranges():
    assert P.real("eps", 0.1, 0, 1, lo_open=True) == 0.1
    for bad in (0, -0.1, 1.5, float("nan"), float("inf"), "0.1", True, None):
        with pytest.raises(P.ParameterError, match="'eps'"):
            P.real("eps", bad, 0, 1, lo_open=True)


def test_integer():
    assert P.integer("depth", 3, 2, 8) == 3
    for bad in (1, 9, 3.0, "3", True):
        with pytest.raises(P.ParameterError, match="'depth'"):
            P.integer("depth", bad, 2, 8)


def test_boolean():
    assert P.boolean("quick", True) is True
    with pytest.raises(P.ParameterError, match="'quick'.*True or False"):
        P.boolean("quick", 1)


def test_reals():
    assert P.reals("eps_values", [0.1, 0.2], 0, 1, lo_open=True) == [0.1, 0.2]
    with pytest.raises(P.ParameterError, match=r"eps_values\[1\]"):
        P.reals("eps_values", [0.1, -1], 0, 1, lo_open=True)
    with pytest.raises(P.ParameterError, match="at least 2"):
        P.reals("eps_values", [0.1], min_len=2)
    with pytest.raises(P.ParameterError, match="list of numbers"):
        P.reals("eps_values", "0.1")


# The activation kind: a registry name or an expression in z, classified before any compute.
BC = P.Activation(("B", "C"), "the hidden activation", "the escape law is derived for q = 2 and q = 3")


@pytest.mark.parametrize("value", ["atan(z)", "z*tanh(softplus(z))", "z + 0.3*z**2", "z - z**3/3 + z**5/10",
                                   "tanh", "gelu"])
def test_activation_accepts_names_and_expressions_and_keeps_the_string(value):
    assert BC.check("activation", value) == value


@pytest.mark.parametrize("value, words", [
    ("relu(z)", "it is class A (not smooth at 0"),
    ("relu", "it is class A (not smooth at 0"),
    ("z + 0.5", "it is class D (σ(0) = 0.5 ≠ 0"),
    ("sigmoid", "it is class D"),
    ("2*z", "it is class A (φ_σ ≡ 0"),
    ("abs(z)", "it is class A (not smooth at 0"),
    ("elu(z)", "it has no class (activation 'elu(z)' is not smooth at 0"),
    ("tanhshrink(z)", "class B with σ'(0) = 0"),
    ("-atan(z)", "class B with σ'(0) = -1"),
    ("log(z)", "cannot be classified at 0"),
    ("atan(x)", "unknown name 'x'"),
    ("atan(z", "not a valid expression"),
    ("__import__('os')", "unknown function '__import__'"),
    (12345, "must be a string"),
    (None, "must be a string"),
])
def test_activation_refusals_name_the_parameter_the_class_and_the_reason(value, words):
    with pytest.raises(P.ParameterError) as err:
        BC.check("activation", value)
    msg = str(err.value)
    assert msg.startswith(f"parameter 'activation' = {value!r}") and words in msg
    if words.startswith(("it ", "class ")):
        assert "need a smooth activation of class B or C" in msg
        assert msg.endswith("the escape law is derived for q = 2 and q = 3")


def test_activation_options():
    anything = P.Activation(("A", "B", "C", "D"), "m", "r", smooth=False, slope=False)
    for value in ("relu(z)", "z + 0.5", "tanhshrink(z)", "abs(z)"):
        assert anything.check("activation", value) == value
    with pytest.raises(P.ParameterError, match="no class"):
        anything.check("activation", "elu(z)")  # not smooth and not homogeneous: no class at all
    assert P.Activation(("B",), "m", "r", slope=False).check("a", "tanhshrink(z)") == "tanhshrink(z)"
    for bad in ((), ("E",), ("B", "B")):
        with pytest.raises(P.ParameterError, match="parameter 'classes'"):
            P.Activation(bad, "m", "r")
    with pytest.raises(P.ParameterError, match="parameter 'reason'"):
        P.Activation(("B",), "m", " ")


def test_activation_ignores_the_phi_zero_counterfactual(monkeypatch):
    from saddlebook.book.counterfactual import ENV

    monkeypatch.setenv(ENV, "phi_zero")
    assert BC.check("activation", "atan(z)") == "atan(z)"


def test_activation_documentation_shows_the_syntax_and_examples():
    words = BC.allowed()
    assert "class B or C, smooth at 0, with σ'(0) > 0" in words
    registry = words.split(") or an expression")[0]
    assert "`tanh`" in registry and "`gelu`" in registry and "`relu`" not in registry
    assert "`sigmoid`" not in registry and "`logsigmoid`" not in registry  # class D
    assert '`"atan(z)"`' in words and '`"z + 0.3*z**2"`' in words and "`+ - * / **`" in words
    assert "`softplus`" in words and "`mish`" in words
    line = P.declare(activation=BC).markdown({"activation": "atan(z)"})
    assert line.startswith("- `activation` (an activation of class B or C") and "this run: `'atan(z)'`" in line


def test_the_documented_registry_classes_equal_the_full_classification():
    from saddlebook.nets import ACTIVATIONS, classify

    for name, (label, smooth, slope, _) in P._registry_by_class().items():
        c = classify(name)
        assert (label, smooth, slope) == (c.label, c.smooth, c.alpha is not None and c.alpha > 0), name
    assert set(P._registry_by_class()) == set(ACTIVATIONS)
    odd = {name for name, entry in P._registry_by_class().items() if entry[3]}
    assert {"tanh", "sin", "erf", "identity"} <= odd and not odd & {"gelu", "silu", "softplus", "quadratic"}


def test_an_odd_activation_parameter_refuses_an_even_part():
    p = P.Activation(("B",), "the hidden activation", "the claims use sigma(-z) = -sigma(z)", odd=True)
    assert p.check("activation", "atan(z)") == "atan(z)"
    assert p.check("activation", "z - z**3/3 + z**5/10") == "z - z**3/3 + z**5/10"
    with pytest.raises(P.ParameterError, match=r"'activation' = 'z - z\*\*3/3 \+ z\*\*4/10' .* not odd"):
        p.check("activation", "z - z**3/3 + z**4/10")
    assert ", odd: a registry name (`tanh`, `sin`, `erf`)" in p.allowed()


def test_command_line_values_keep_expressions_as_strings():
    from saddlebook.publish.cli import parse_value

    for text in ("atan(z)", "z*tanh(softplus(z))", "z + 0.3*z**2", "z - z**3/3 + z**5/10", "-z", "z",
                 "tanh", "atan(z", "{[]: 1}", "(" * 300 + ")" * 300):
        assert parse_value(text) == text
    assert parse_value("True") is True and parse_value("4") == 4 and parse_value("[0.1, 0.05]") == [0.1, 0.05]
