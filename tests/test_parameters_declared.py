"""Chapter parameters declared once: validation and the Parameters list from one declaration."""
import pytest

from saddlebook.book import parameters as P
from saddlebook.book import table
from saddlebook.errors import ParameterError

DECL = P.declare(
    quick=P.Boolean("shorter runs"),
    depth=P.Integer(3, 6, "number of weight matrices $L$"),
    activation=P.Choice(["tanh", "sin"], "hidden activation"),
    scale=P.Real(0, 0.2, "initial norm", lo_open=True),
    eps_values=P.Reals(0, 0.3, "initial scales", lo_open=True, min_len=3),
)
GOOD = {"quick": False, "depth": 4, "activation": "tanh", "scale": 0.03, "eps_values": [0.1, 0.05, 0.01]}


def test_validate_returns_every_declared_value_normalised():
    out = DECL.validate({**GOOD, "other": object(), "depth": 4, "scale": 1 / 32})
    assert list(out) == ["quick", "depth", "activation", "scale", "eps_values"]
    assert out["scale"] == 0.03125 and isinstance(out["depth"], int)


@pytest.mark.parametrize("name, value, words", [
    ("depth", 7, "integers in [3, 6]"),
    ("depth", 4.0, "integer"),
    ("activation", "relu", "allowed values: tanh, sin"),
    ("scale", 0.0, "(0, 0.2]"),
    ("eps_values", [0.1, 0.05], "at least 3"),
    ("quick", "yes", "True or False"),
])
def test_a_bad_value_is_refused_naming_the_parameter(name, value, words):
    with pytest.raises(ParameterError, match=name) as err:
        DECL.validate({**GOOD, name: value})
    assert words in str(err.value)


def test_a_declared_parameter_that_is_not_set_is_refused():
    with pytest.raises(ParameterError, match="depth"):
        DECL.validate({k: v for k, v in GOOD.items() if k != "depth"})


def test_the_parameters_list_comes_from_the_declaration():
    text = DECL.markdown(GOOD)
    assert text.splitlines()[1] == "- `depth` (integer in [3, 6]; this run: `4`): number of weight matrices $L$"
    assert "list of 3 or more reals in (0, 0.3]" in text and "one of `tanh`, `sin`" in text
    assert len(text.splitlines()) == 5


def test_declare_takes_parameters_only():
    with pytest.raises(TypeError, match="depth"):
        P.declare(depth=4)


def test_table_writes_markdown_and_checks_its_shape():
    md = table(["$r$", "p"], [(3, 1.0123), (4, 2.0)], [None, ".3f"]).data
    assert md.splitlines() == ["| $r$ | p |", "|---|---|", "| 3 | 1.012 |", "| 4 | 2.000 |"]
    with pytest.raises(ValueError, match="row 0"):
        table(["a", "b"], [(1,)])


def test_a_list_parameter_checks_its_shape_and_every_entry():
    two = P.List(P.Real(0, 1, ""), "two scales", "must be a list of two scales", 2, 2)
    assert two.check("s", [0.1, 0.2]) == [0.1, 0.2]
    assert two.allowed() == "list of 2, each real in [0, 1]"
    with pytest.raises(ParameterError, match="must be a list of two scales"):
        two.check("s", [0.1])
    with pytest.raises(ParameterError, match=r"s\[1\]"):
        two.check("s", [0.1, 2.0])
    anything = P.List(P.Integer(0, 2**31 - 1, ""), "seeds")
    assert anything.allowed() == "list, each integer in [0, 2147483647]"
