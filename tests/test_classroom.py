"""Student edition and autograder, on a throw-away chapter with three exercises."""
import json

import nbformat
import pytest

from saddlebook.publish.chapters import Chapter
from saddlebook.publish.classroom import (
    GradeError,
    exercises,
    grade,
    instructor_notebook,
    student_notebook,
    write_student_notebooks,
)
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


@pytest.fixture()
def book(tmp_path):
    (tmp_path / "chapters").mkdir()
    (tmp_path / "chapters" / "01-toy.md").write_text(FRONT + BODY)
    (tmp_path / "chapters" / "02-other.md").write_text(FRONT + BODY.replace("ex-t-", "ex-o-"))
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/executed/01-toy\nchapters:\n  - file: book/executed/02-other\n"
    )
    return tmp_path


def _student(book, solved=None):
    nb = student_notebook(instructor_notebook(Chapter(book, "01-toy")), "01-toy")
    for label, code in (solved or {}).items():
        ex = next(e for e in exercises(nb) if e.label == label)
        nb.cells[ex.solution_cells[0]].source = code
    path = book / f"submission-{len(solved or {})}-{abs(hash(str(solved)))}.ipynb"
    nbformat.write(nb, path)
    return path


def _statuses(report):
    return {r.exercise: r.status for r in report.results}


def test_student_notebook_hides_solutions_keeps_checks(book):
    nb = instructor_notebook(Chapter(book, "01-toy"))
    stud = student_notebook(nb, "01-toy")
    exs = exercises(stud)
    assert [e.label for e in exs] == ["ex-t-a", "ex-t-b", "ex-t-c"]
    for e in exs:
        assert all("NotImplementedError" in stud.cells[i].source for i in e.solution_cells)
        assert all("check(" in stud.cells[i].source for i in e.check_cells)
    text = json.dumps(stud)
    assert "answer_a = 2" not in text and "Set answer_a to two." in text
    written = write_student_notebooks(book, book / "student")
    assert [p.name for p in written] == ["01-toy.ipynb", "02-other.ipynb"]


def test_instructor_notebook_scores_full_marks(book):
    path = book / "instructor.ipynb"
    nbformat.write(instructor_notebook(Chapter(book, "01-toy")), path)
    report = grade(path, root=book)
    assert _statuses(report) == {"ex-t-a": "pass", "ex-t-b": "pass", "ex-t-c": "pass"}
    assert report.score == (3, 3)


def test_untouched_student_notebook_scores_zero(book):
    report = grade(_student(book), root=book)
    assert set(_statuses(report).values()) == {"not attempted"}
    assert report.score == (0, 3)


def test_partial_and_wrong_answers(book):
    path = _student(book, {"ex-t-a": "answer_a = 2", "ex-t-b": "answer_b = 99"})
    report = grade(path, root=book)
    assert _statuses(report) == {"ex-t-a": "pass", "ex-t-b": "fail", "ex-t-c": "not attempted"}
    reason = next(r.reason for r in report.results if r.exercise == "ex-t-b")
    assert "CheckFailed" in reason and "measured 99" in reason and "expected 3" in reason
    assert "score: 1/3" in report.table()


def test_other_chapter_and_unreadable_notebooks_are_refused(book):
    path = _student(book)
    with pytest.raises(GradeError, match="belongs to chapter 01-toy, not 02-other"):
        grade(path, chapter="02", root=book)
    bad = book / "broken.ipynb"
    bad.write_text("{ not json")
    with pytest.raises(GradeError, match="cannot read .* as a Jupyter notebook"):
        grade(bad, root=book)
    anonymous = nbformat.read(path, as_version=4)
    anonymous.metadata.pop("saddlebook")
    other = book / "anon.ipynb"
    nbformat.write(anonymous, other)
    with pytest.raises(GradeError, match="not those of chapter 02-other"):
        grade(other, chapter="02", root=book)


def test_grade_command_line_writes_json(book, monkeypatch, capsys):
    monkeypatch.chdir(book)
    path = _student(book, {"ex-t-c": "answer_c = -1"})
    assert main(["grade", str(path), "--json", str(book / "report.json")]) == 0
    out = capsys.readouterr().out
    assert "ex-t-c" in out and "score: 1/3" in out
    data = json.loads((book / "report.json").read_text())
    assert data["passed"] == 1 and data["total"] == 3
    assert main(["grade", str(book / "missing.ipynb")]) == 2
    assert "no such notebook" in capsys.readouterr().err


def test_student_edition_of_the_real_book(quick_book, tmp_path):
    from saddlebook.publish.classroom import write_student_edition

    made = write_student_edition(quick_book["root"], tmp_path / "student", log=lambda *_: None)
    assert made["index"].is_file() and made["notebooks"]
    html_dir = made["index"].parent / "book" / "executed"
    for nb_path in made["notebooks"]:
        nb = nbformat.read(nb_path, as_version=4)
        exs = exercises(nb)
        assert exs, f"{nb_path.name} has no exercises"
        for ex in exs:
            assert all("NotImplementedError" in nb.cells[i].source for i in ex.solution_cells)
        page = (html_dir / f"{nb_path.stem}.html").read_text()
        assert 'class="solution' not in page, f"{nb_path.stem}: a solution is visible in the student HTML"
        assert "exercise" in page


def _chapters_with_exercises():
    from saddlebook.publish.chapters import chapters

    return [c.stem for c in chapters() if exercises(instructor_notebook(c))]


@pytest.mark.parametrize("stem", _chapters_with_exercises())
def test_real_chapter_instructor_full_marks_student_zero(quick_book, tmp_path, stem):
    root = quick_book["root"]
    chapter = Chapter(root, stem)
    inst = tmp_path / f"{stem}-instructor.ipynb"
    nbformat.write(instructor_notebook(chapter), inst)
    report = grade(inst, root=root)
    assert report.score == (len(report.results), len(report.results)), report.table()
    assert len(report.results) >= 3, f"{stem} has fewer than 3 exercises"
    stud = tmp_path / f"{stem}-student.ipynb"
    nbformat.write(student_notebook(instructor_notebook(chapter), stem), stud)
    report = grade(stud, root=root)
    assert {r.status for r in report.results} == {"not attempted"}, report.table()
