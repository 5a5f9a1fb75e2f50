"""The other-draws run on a tiny throw-away book."""
import json

import pytest

from saddlebook.errors import ParameterError
from saddlebook.publish.chapters import Chapter, find_root
from saddlebook.publish.draws import draws
from saddlebook.publish.execute import pair
from test_pipeline import CHAPTER

DRAWS = "  name: saddlebook\nsaddlebook:\n  draws:\n  - value: 2.0\n  - value: 7.0\n---"


@pytest.fixture()
def toy(tmp_path):
    (tmp_path / "chapters").mkdir()
    (tmp_path / "chapters" / "01-toy.md").write_text(CHAPTER.replace("  name: saddlebook\n---", DRAWS))
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/executed/01-toy\n")
    # the book's own Jupytext configuration, which must keep the front matter through a sync
    (tmp_path / "jupytext.toml").write_text((find_root() / "jupytext.toml").read_text())
    return tmp_path


def test_a_claim_that_fails_at_one_draw_is_recorded_with_that_draw(toy, tmp_path):
    out = tmp_path / "draws.json"
    record = draws(toy, out=out, jobs=2, log=lambda *_: None)
    assert json.loads(out.read_text()) == record
    ch = record["chapters"]["01-toy"]
    assert [r["overrides"] for r in ch["runs"]] == [{"value": 2.0}, {"value": 7.0}]
    assert all(r["status"] == "completed" for r in ch["runs"])  # a failed check is recorded, not raised
    claim = ch["checks"]["value below five"]
    assert (claim["runs"], claim["passed"], claim["failed_at"]) == (2, 1, [{"value": 7.0}])
    assert claim["min_margin"] < 0
    assert not (toy / "book" / "executed").exists()  # the book's executed copies are never touched


def test_pairing_keeps_the_front_matter(toy):
    chapter = Chapter(toy, "01-toy")
    pair(chapter)
    assert "  draws:\n  - value: 2.0\n" in chapter.source.read_text()
    assert Chapter(toy, "01-toy").draws == [{"value": 2.0}, {"value": 7.0}]


def test_bad_draws_are_refused_before_anything_runs(toy):
    src = toy / "chapters" / "01-toy.md"
    src.write_text(src.read_text().replace("value: 7.0", "value: 70.0"))
    with pytest.raises(ParameterError, match="value"):
        draws(toy, jobs=1)
    src.write_text(src.read_text().replace("  - value: 2.0\n  - value: 70.0\n", "  - 3\n"))
    with pytest.raises(ParameterError, match="must be a list of non-empty parameter mappings"):
        draws(toy, jobs=1)
