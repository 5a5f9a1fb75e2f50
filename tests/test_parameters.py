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
