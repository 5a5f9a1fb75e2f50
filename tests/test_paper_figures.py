import base64
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from saddlebook.publish import paper_figures as pf
from saddlebook.publish.chapters import chapters

ROOT = Path(__file__).resolve().parents[1]
PNG = base64.b64encode(b"\x89PNG fake").decode()


class _Stub:
    """What the page reads of a chapter: its executed notebook and record."""

    def __init__(self, folder: Path, stem: str, glued: dict, checks: list) -> None:
        self.stem, self.folder = stem, folder
        outputs = [{"output_type": "display_data", "metadata": {"scrapbook": {"name": k}}, "data": v}
                   for k, v in glued.items()]
        (folder / f"{stem}.ipynb").write_text(json.dumps({"cells": [{"cell_type": "code", "outputs": outputs}]}))
        (folder / f"{stem}.json").write_text(json.dumps({"checks": checks}))

    def executed(self):
        return self.folder / f"{self.stem}.ipynb"

    def record(self):
        return self.folder / f"{self.stem}.json"


FIG = pf.PaperFigure("A figure", "what the paper shows", "99-x", "99-sec", ("99-fig",), ("slope",),
                     (("a number", "n1"),), "a note", ("t1",))
CHECK = {"name": "r = 3: slope", "kind": "claim", "measured": -1.01, "expected": -1.0, "atol": 0.02,
         "rtol": None, "lo": None, "hi": None, "passed": True}


def _page(tmp_path, monkeypatch, glued, checks=(CHECK,)):
    monkeypatch.setattr(pf, "FIGURES", (FIG,))
    stub = _Stub(tmp_path, "99-x", glued, list(checks))
    return pf.paper_figures_markdown(tmp_path, [stub])


GLUED = {"99-fig": {"image/png": PNG}, "n1": {"application/papermill.record/text/plain": "0.123456789"},
         "t1": {"application/papermill.record/text/markdown": "| a |\n|---|\n| 1 |"}}


def test_the_page_copies_figures_checks_and_numbers(tmp_path, monkeypatch):
    md = _page(tmp_path, monkeypatch, GLUED)
    assert "> The paper, as the notes describe it: what the paper shows" in md
    assert "](figures/99-fig.png)" in md
    assert (tmp_path / "book" / "generated" / "figures" / "99-fig.png").read_bytes() == b"\x89PNG fake"
    assert "| r = 3: slope | claim | -1.01 |" in md and "| pass |" in md
    assert "| a number | 0.1235 |" in md and "| a |\n|---|\n| 1 |" in md and "{ref}`99-sec`" in md


def test_a_failed_check_is_shown_as_failed(tmp_path, monkeypatch):
    md = _page(tmp_path, monkeypatch, GLUED, [dict(CHECK, passed=False)])
    assert "**FAIL**" in md


@pytest.mark.parametrize("drop, what", [("99-fig", "glued figure '99-fig'"), ("n1", "glued number 'n1'"),
                                        ("t1", "glued number 't1'")])
def test_what_the_chapter_lacks_stops_the_page_by_name(tmp_path, monkeypatch, drop, what):
    with pytest.raises(ValueError, match=re.escape(what)):
        _page(tmp_path, monkeypatch, {k: v for k, v in GLUED.items() if k != drop})


def test_a_check_fragment_that_matches_nothing_stops_the_page(tmp_path, monkeypatch):
    monkeypatch.setattr(pf, "FIGURES", (replace(FIG, checks=("nothing like it",)),))
    stub = _Stub(tmp_path, "99-x", GLUED, [CHECK])
    with pytest.raises(ValueError, match="checks named like 'nothing like it'"):
        pf.paper_figures_markdown(tmp_path, [stub])


def test_every_entry_points_at_a_chapter_section_and_glued_keys_that_exist():
    stems = {ch.stem: ch for ch in chapters(ROOT)}
    for fig in pf.FIGURES:
        assert fig.chapter in stems, fig.title
        text = stems[fig.chapter].source.read_text()
        assert f"({fig.section})=" in text, (fig.title, fig.section)
        for key in (*fig.figures, *fig.tables, *(k for _, k in fig.numbers)):
            assert re.search(rf'glue\(\s*"{re.escape(key)}"', text), (fig.title, key)
