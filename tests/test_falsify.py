"""The falsification run on a tiny throw-away book, and on one real chapter."""
import json
import textwrap

import pytest

from saddlebook.errors import ParameterError
from saddlebook.publish.falsify import falsify
from test_pipeline import CHAPTER

TOY = CHAPTER.replace(
    'check("value below five", value, hi=5, source="toy", kind="claim")',
    textwrap.dedent(
        """\
        import math, torch
        import saddlebook as sb
        t = math.tanh(0.5)
        check("phi of tanh at 0.5", float(sb.phi("tanh", torch.tensor(0.5, dtype=torch.float64))),
              expected=0.5 * (1 - t * t) - t, rtol=1e-12, source="toy", kind="claim")
        check("value below five", value, hi=5, source="toy", kind="consistency")"""
    ),
)


@pytest.fixture()
def toy(tmp_path):
    (tmp_path / "chapters").mkdir()
    (tmp_path / "chapters" / "01-toy.md").write_text(TOY)
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/executed/01-toy\n")
    return tmp_path


def test_a_claim_is_broken_by_the_counterfactual_that_falsifies_it(toy, tmp_path):
    out = tmp_path / "fals.json"
    record = falsify(toy, counterfactual_names=["phi_zero", "variance_clock"], out=out, jobs=2, log=lambda *_: None)
    assert json.loads(out.read_text()) == record
    ch = record["chapters"]["01-toy"]
    assert ch["baseline"] == "completed"
    assert ch["claims"] == {"phi of tanh at 0.5": {"baseline_passed": True, "broken_by": ["phi_zero"]}}
    # consistency checks are not claims: recorded as failed or not, never counted as falsified
    assert ch["runs"]["variance_clock"] == {"status": "completed", "seconds": ch["runs"]["variance_clock"]["seconds"],
                                            "failed": []}
    assert not (toy / "book" / "executed").exists()  # the book's executed copies are never touched


def test_unknown_counterfactual_is_refused_before_anything_runs(toy):
    with pytest.raises(ParameterError, match="'counterfactual' = 'flat_earth' is not known; allowed"):
        falsify(toy, counterfactual_names=["flat_earth"])


def test_chapter_02_claims_fall_to_a_scaled_layer_gradient(tmp_path):
    # The cheap real subset: one chapter, quick setting, one counterfactual. Theorem 1's
    # matrix form and the derived GD drift coefficient both rest on the true gradient,
    # so scaling one layer's gradient must break them, and without it they must pass.
    from saddlebook.publish.chapters import find_root

    record = falsify(find_root(), chapter_names=["02"], counterfactual_names=["gradient_scale"],
                     out=tmp_path / "fals.json", jobs=2, log=lambda *_: None)
    ch = record["chapters"]["02-imbalance-identity"]
    assert ch["baseline"] == "completed"
    assert all(c["baseline_passed"] for c in ch["claims"].values())
    broken = {name for name, c in ch["claims"].items() if c["broken_by"] == ["gradient_scale"]}
    assert "matrix imbalance identity, all smooth activations and losses: max relative error" in broken
    assert any(name.startswith("linear network, GD over fixed flow time: drift/eta") for name in broken)
