"""Bad parameters raise ParameterError naming the parameter; no stray ValueError in the source."""

import ast
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

import saddlebook as sb
from saddlebook import _validate as V
from saddlebook.book._tables import table
from saddlebook.book.checks import check
from saddlebook.book.counterfactual import active
from saddlebook.errors import ParameterError
from saddlebook.geometry._manifold import from_reduced

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "saddlebook"
F64 = torch.float64

# ``raise ValueError`` that are not about a caller's parameter: (module, function) -> count.
NOT_A_PARAMETER = {
    # the environment variable SADDLEBOOK_COUNTERFACTUAL, not an argument
    ("book/counterfactual.py", "current"): 1,
    # a chapter's source file or _toc.yml is malformed: the book, not a call, is wrong
    ("publish/chapters.py", "_tagged"): 1,
    ("publish/chapters.py", "defaults"): 2,
    ("publish/chapters.py", "chapters"): 1,
    # the paper's-figures page names a chapter that _toc.yml does not list
    ("publish/paper_figures.py", "paper_figures_markdown"): 1,
    # a chapter's exercise has no answer-check cell to make its otter tests from
    ("publish/otter.py", "end"): 1,
}

# Modules another change is still converting: module -> most ValueErrors allowed; each
# count may only go down. Empty now: every module raises ParameterError for parameters.
PENDING: dict[str, int] = {}


def _value_errors():
    """Every ``raise ValueError`` in the package as (module, enclosing function)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()

        def visit(node, func):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    visit(child, child.name)
                    continue
                if isinstance(child, ast.Raise) and child.exc is not None:
                    exc = child.exc.func if isinstance(child.exc, ast.Call) else child.exc
                    if isinstance(exc, ast.Name) and exc.id == "ValueError":
                        found.append((rel, func))
                visit(child, func)

        visit(ast.parse(path.read_text()), "<module>")
    return found


def test_no_value_error_outside_the_allow_list():
    found = _value_errors()
    here = Counter(site for site in found if site[0] not in PENDING)
    assert dict(here) == NOT_A_PARAMETER, (
        "raise ParameterError for a bad parameter; a ValueError that is not about a parameter "
        f"belongs in NOT_A_PARAMETER with its reason. Found: {dict(here)}"
    )
    pending = Counter(rel for rel, _ in found if rel in PENDING)
    over = {rel: n for rel, n in pending.items() if n > PENDING[rel]}
    assert not over, f"new ValueErrors in modules being converted: {over}"


def test_the_scan_sees_a_value_error(tmp_path, monkeypatch):
    # Guards the scan itself: a test that finds nothing would pass for the wrong reason.
    (tmp_path / "m.py").write_text("def f():\n    raise ValueError('x')\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", tmp_path)
    assert _value_errors() == [("m.py", "f")]


X = torch.randn(6, 3, dtype=F64, generator=torch.Generator().manual_seed(0))
Y = torch.randn(6, dtype=F64, generator=torch.Generator().manual_seed(1))
W = sb.init_gaussian([3, 4, 1], seed=0)

BAD = [
    ("n", lambda: sb.whitened_inputs(0, 3)),
    ("n", lambda: sb.whitened_inputs(2, 3)),
    ("max_order", lambda: sb.classify("tanh", max_order=1)),
    ("tol", lambda: sb.classify("tanh", tol=1.0)),
    ("sigma", lambda: sb.get_activation("no-such-activation")),
    ("s", lambda: sb.saxe_mode_strength(0.0, s=-1.0, u0=0.1)),
    ("widths", lambda: sb.init_gaussian([3, 0, 1])),
    ("scale", lambda: sb.init_gaussian([3, 4, 1], scale=-1.0)),
    ("hidden", lambda: sb.widths_for(3, 0, 2)),
    ("weights", lambda: sb.check_shapes([], X)),
    ("x", lambda: sb.check_shapes(W, torch.zeros(6, 5, dtype=F64))),
    ("y", lambda: sb.check_shapes(W, X, torch.zeros(5, dtype=F64))),
    ("loss", lambda: sb.loss_value(torch.zeros(3), torch.zeros(3), "hinge")),
    ("scale", lambda: sb.linear_coefficient("tanh", scale=-1.0)),
    ("metric", lambda: sb.overlap_matrix(W[0], torch.eye(3, dtype=F64), metric="bad")),
    ("y", lambda: sb.gamma(X, Y[:5])),
    ("n_nodes", lambda: sb.first_hermite("tanh", n_nodes=1)),
    ("weights", lambda: sb.imbalance([W[0]])),
    ("w", lambda: from_reduced(torch.zeros(4, dtype=F64), torch.zeros(1, dtype=F64), [3, 4, 1])),
    ("rows", lambda: table(["a"], [[1, 2]])),
    ("name", lambda: active("no-such-switch")),
    ("source", lambda: check("c", 1.0, lo=0, source="", kind="claim")),
    ("observable", lambda: sb.NetworkBatch("tanh", X, Y, observable="bad")),
    ("x", lambda: sb.NetworkBatch("tanh", X[0], Y)),
    ("y", lambda: sb.NetworkBatch("tanh", X, Y[:5])),
    ("sample_weights", lambda: sb.NetworkBatch("tanh", X, Y, sample_weights=-torch.ones(6, dtype=F64))),
]


@pytest.mark.parametrize("name, call", BAD, ids=[f"{i}-{n}" for i, (n, _) in enumerate(BAD)])
def test_bad_input_raises_parameter_error_naming_it(name, call):
    with pytest.raises(ParameterError, match=f"'{name}'"):
        call()


# The same bad input to the full network batch and the reduced chain.
CHAIN_BAD = [
    ("observable", dict(observable="bad")),
    ("x", dict(x=X[0])),
    ("y", dict(y=Y[:5])),
    ("y", dict(y=Y.tolist())),
    ("sample_weights", dict(sample_weights=-torch.ones(6, dtype=F64))),
    ("sample_weights", dict(sample_weights=torch.ones(5, dtype=F64) / 5)),
]


@pytest.mark.parametrize("name, bad", CHAIN_BAD)
def test_network_batch_refuses_bad_data_with_parameter_error(name, bad):
    args = dict(sigma="tanh", x=X, y=Y) | bad
    with pytest.raises(ParameterError, match=f"'{name}'"):
        sb.NetworkBatch(**args)


@pytest.mark.parametrize("name, bad", CHAIN_BAD)
def test_reduced_chain_refuses_the_same_bad_data_alike(name, bad):
    from saddlebook.theory._reduced import ReducedChain

    args = dict(sigma="tanh", x=X, y=Y) | bad
    with pytest.raises(ParameterError, match=f"'{name}'"):
        ReducedChain(width=4, **args)


def test_validators_return_the_value_in_the_form_used():
    assert V.positive("a", 2) == 2.0 and isinstance(V.positive("a", np.int64(2)), float)
    assert V.positive("a", math.inf, allow_inf=True) == math.inf
    assert V.nonnegative("a", 0) == 0.0
    assert V.integer("k", 3, 1) == 3 and V.integer("k", 12, 2, 12) == 12
    assert V.between("t", 1e-9, 0.0, 1e-2) == 1e-9
    assert V.fraction("f", 0.5) == 0.5
    assert V.choice("m", "v", ("v", "cov")) == "v"
    t = torch.ones(2)
    assert V.finite("x", t) is t


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: V.positive("lr", True), "'lr' must be a positive real number"),
        (lambda: V.positive("lr", "1"), "'lr' must be a positive real number"),
        (lambda: V.positive("lr", 0.0), "'lr' must be finite and > 0"),
        (lambda: V.positive("lr", math.inf), "'lr' must be finite and > 0"),
        (lambda: V.positive("lr", math.nan, allow_inf=True), "'lr' must be finite and > 0"),
        (lambda: V.nonnegative("s", -1e-300), "'s' must be finite and >= 0"),
        (lambda: V.integer("k", 2.0, 1), r"'k' = 2\.0 must be an integer >= 1"),
        (lambda: V.integer("k", True, 0), "'k' = True must be an integer >= 0"),
        (lambda: V.integer("k", 13, 2, 12), r"'k' = 13 must be an integer in \[2, 12\]"),
        (lambda: V.between("tol", 0.01, 0.0, 1e-2), r"'tol' = 0\.01 must be a real number in \(0, 0\.01\)"),
        (lambda: V.fraction("f", 1.0), r"'f' = 1\.0 must be a real number in \(0, 1\)"),
        (lambda: V.finite("x", torch.tensor([0.0, math.nan])), "'x' contains non-finite values"),
        (lambda: V.choice("m", "w", ("v", "cov")), "'m' is 'w'; allowed: v, cov"),
    ],
)
def test_validators_name_the_parameter_and_what_is_allowed(call, match):
    with pytest.raises(ParameterError, match=match):
        call()
