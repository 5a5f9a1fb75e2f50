"""Otter assignments and grading on a throw-away chapter with three exercises, and on the real book."""
import json
import zipfile

import nbformat
import pytest

from saddlebook.publish import otter
from saddlebook.publish.chapters import Chapter
from saddlebook.publish.classroom import GradeError
from saddlebook.publish.cli import main

FRONT = """\
---
jupytext:
  formats: md:myst,ipynb
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: saddlebook
---
"""

BODY = """
# Toy with exercises

```{code-cell} ipython3
:tags: [parameters]

quick = False
value = 1.0
```

```{code-cell} ipython3
:tags: [validate]

from saddlebook.book import parameters as P
quick = P.boolean("quick", quick)
value = P.real("value", value, 0, 10)
from saddlebook.book.checks import check
```

```{exercise} A
:label: ex-t-a
Set answer_a to two.
```

```{solution-start} ex-t-a
:class: dropdown
```

```{code-cell} ipython3
answer_a = 2
```

```{code-cell} ipython3
:tags: [answer-check]

check("exercise a", answer_a, expected=2, atol=0, source="toy", kind="claim")
```

```{solution-end}
```

```{exercise} B
:label: ex-t-b
Set answer_b to three times value.
```

```{solution-start} ex-t-b
:class: dropdown
```

```{code-cell} ipython3
answer_b = 3 * value
```

```{code-cell} ipython3
:tags: [answer-check]

check("exercise b", answer_b, expected=3 * value, rtol=1e-12, source="toy", kind="claim")
```

```{solution-end}
```

```{exercise} C
:label: ex-t-c
Set answer_c to minus one.
```

```{solution-start} ex-t-c
:class: dropdown
```

```{code-cell} ipython3
answer_c = -1
```

```{code-cell} ipython3
:tags: [answer-check]

check("exercise c", answer_c, expected=-1, atol=0, source="toy", kind="claim")
```

```{solution-end}
```
"""


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    (root / "chapters").mkdir()
    (root / "chapters" / "01-toy.md").write_text(FRONT + BODY)
    (root / "chapters" / "02-other.md").write_text(FRONT + BODY.replace("ex-t-", "ex-o-"))
    (root / "_toc.yml").write_text(
        "format: jb-book\nroot: book/executed/01-toy\nchapters:\n  - file: book/executed/02-other\n"
    )
    made = otter.write_assignments(root, root / "_build" / "otter", log=lambda *_: None)
    return {"root": root, "made": {m["student"].stem: m for m in made}}


def _submission(book, answers, name):
    """The student notebook with the prompt of each label in ``answers`` replaced by that code."""
    nb = nbformat.read(book["made"]["01-toy"]["student"], as_version=4)
    for cell in nb.cells:
        for label, code in answers.items():
            if cell.cell_type == "code" and cell.source.startswith(f"# Exercise {label}:"):
                cell.source = code
    path = book["root"] / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


def _statuses(report):
    return {r.exercise: (r.status, r.points) for r in report.results}


def test_student_notebook_has_prompts_and_public_tests_only(book):
    made = book["made"]["01-toy"]
    text = made["student"].read_text()
    assert "Set answer_a to two." in text and "answer_a = ..." in text
    assert "answer_a = 2" not in text and "answer_b = 3 * value" not in text, "a solution reached the student"
    assert "hidden_check" not in text and "BEGIN TEST CONFIG" not in text
    assert [c for c in otter.submitted_labels(nbformat.read(made["student"], as_version=4))] == \
        ["ex-t-a", "ex-t-b", "ex-t-c"]
    # Public tests travel in the notebook's metadata (grader.check runs them); hidden ones do not.
    tests = nbformat.read(made["student"], as_version=4).metadata["otter"]["tests"]
    assert sorted(tests) == ["ex-t-a", "ex-t-b", "ex-t-c"]
    cases = [c for t in tests.values() for s in t["suites"] for c in s["cases"]]
    assert len(cases) == 3 and not any(c["hidden"] for c in cases)
    assert not (made["student"].parent / "tests").exists()


def test_autograder_zip_holds_hidden_tests_and_the_package(book):
    with zipfile.ZipFile(book["made"]["01-toy"]["autograder"]) as zf:
        names = zf.namelist()
        hidden = zf.read("tests/ex-t-b.py").decode()
        reqs = zf.read("environment.yml").decode()  # otter puts the requirements in its pip section
        config = json.loads(zf.read("otter_config.json"))
    assert "hidden_check" in hidden and "'hidden': True" in hidden.replace('"', "'")
    wheel = [n for n in names if n.startswith("files/saddlebook-") and n.endswith(".whl")]
    assert wheel, names
    assert f"/autograder/source/{wheel[0]}" in reqs and "torch==2.13.0" in reqs and "mlxtend==0.25.0" in reqs
    assert config.get("pdf", False) is False


def test_partial_submission_gets_points_per_exercise(book):
    path = _submission(book, {"ex-t-a": "answer_a = 2", "ex-t-b": "answer_b = 99"}, "partial")
    report = otter.grade(path, root=book["root"])
    assert _statuses(report) == {"ex-t-a": ("pass", 2), "ex-t-b": ("fail", 0), "ex-t-c": ("not attempted", 0)}
    reason = next(r.reason for r in report.results if r.exercise == "ex-t-b")
    assert "CheckFailed" in reason and "99" in reason
    assert report.points == (2, 6) and "score: 2/6 points, 1/3 exercises passed" in report.table()


def test_tampering_passes_the_public_test_but_not_the_hidden_one(book):
    # A redefined check() fools the public test; the hidden test uses the genuine one.
    fake = "answer_b = 99\ncheck = lambda *a, **k: None"
    report = otter.grade(_submission(book, {"ex-t-b": fake}, "tamper"), root=book["root"])
    b = next(r for r in report.results if r.exercise == "ex-t-b")
    assert (b.status, b.points, b.possible) == ("fail", 1, 2) and b.reason.startswith("hidden test")
    nan = otter.grade(_submission(book, {"ex-t-a": "answer_a = float('nan')"}, "nan"), root=book["root"])
    assert nan.results[0].status == "fail" and nan.results[0].points < 2


def test_full_solution_scores_full_marks(book):
    path = _submission(book, {"ex-t-a": "answer_a = 2", "ex-t-b": "answer_b = 3 * value",
                              "ex-t-c": "answer_c = -1"}, "full")
    report = otter.grade(path, root=book["root"])
    assert report.score == (3, 3) and report.points == (6, 6), report.table()


def test_other_chapter_and_unreadable_notebooks_are_refused(book):
    path = _submission(book, {}, "untouched")
    with pytest.raises(GradeError, match="belongs to chapter 01-toy, not 02-other"):
        otter.grade(path, chapter="02", root=book["root"])
    bad = book["root"] / "broken.ipynb"
    bad.write_text("{ not json")
    with pytest.raises(GradeError, match="cannot read .* as a Jupyter notebook"):
        otter.grade(bad, root=book["root"])
    anonymous = nbformat.read(path, as_version=4)
    anonymous.metadata.pop("saddlebook")
    other = book["root"] / "anon.ipynb"
    nbformat.write(anonymous, other)
    with pytest.raises(GradeError, match="not those of chapter 02-other"):
        otter.grade(other, chapter="02", root=book["root"])


def test_grade_command_line_writes_json(book, monkeypatch, capsys):
    monkeypatch.chdir(book["root"])
    path = _submission(book, {"ex-t-c": "answer_c = -1"}, "cli")
    assert main(["grade", str(path), "--json", str(book["root"] / "report.json")]) == 0
    out = capsys.readouterr().out
    assert "ex-t-c" in out and "score: 2/6 points, 1/3 exercises passed" in out
    data = json.loads((book["root"] / "report.json").read_text())
    assert (data["passed"], data["total"], data["points"], data["possible"]) == (1, 3, 2, 6)
    assert main(["grade", str(book["root"] / "missing.ipynb")]) == 2
    assert "no such notebook" in capsys.readouterr().err


# --- the real book ------------------------------------------------------------------------------


def _chapters_with_exercises():
    from saddlebook.publish.chapters import chapters

    return [c.stem for c in chapters() if otter.chapter_exercises(c)]


def test_every_chapter_assigns_and_the_student_edition_builds(quick_book, tmp_path):
    from saddlebook.publish.classroom import write_student_edition

    made = write_student_edition(quick_book["root"], tmp_path / "student", log=lambda *_: None)
    assert sorted(p.stem for p in made["notebooks"]) == _chapters_with_exercises()
    for m in made["assignments"]:
        nb = nbformat.read(m["student"], as_version=4)
        labels = [e.label for e in otter.chapter_exercises(Chapter(quick_book["root"], m["student"].stem))]
        assert len(labels) >= 3 and otter.submitted_labels(nb) == labels, m["student"]
        assert "hidden_check" not in m["student"].read_text() and m["autograder"].is_file()
    html_dir = made["index"].parent / "book" / "executed"
    for stem in _chapters_with_exercises():
        page = (html_dir / f"{stem}.html").read_text()
        assert 'class="solution' not in page, f"{stem}: a solution is visible in the student HTML"
        assert "exercise" in page


def _solved(made: dict) -> nbformat.NotebookNode:
    """The student notebook with every prompt replaced by the master's solution, as a student would."""
    import re

    master = nbformat.read(made["master"], as_version=4)
    solutions = [re.search(r"(?s)# BEGIN SOLUTION NO PROMPT\n(.*)\n# END SOLUTION", c.source).group(1)
                 for c in master.cells if c.cell_type == "code" and "# BEGIN SOLUTION NO PROMPT" in c.source]
    nb = nbformat.read(made["student"], as_version=4)
    prompts = [c for c in nb.cells if c.cell_type == "code" and re.match(r"# Exercise \S+: replace", c.source)]
    assert len(prompts) == len(solutions) > 0
    for cell, code in zip(prompts, solutions):
        cell.source = code
    return nb


@pytest.mark.parametrize("stem", ["02-imbalance-identity"])
def test_real_chapter_solved_full_marks_student_zero(quick_book, tmp_path, stem):
    root = quick_book["root"]
    made = otter.assign(Chapter(root, stem), tmp_path / "otter")
    solved = _solved(made)
    solved_path = tmp_path / f"{stem}-solved.ipynb"
    nbformat.write(solved, solved_path)
    report = otter.grade(solved_path, root=root, cache=tmp_path / "otter")
    assert report.points[0] == report.points[1] > 0, report.table()
    report = otter.grade(made["student"], root=root, cache=tmp_path / "otter")
    assert {r.status for r in report.results} == {"not attempted"} and report.points[0] == 0, report.table()
