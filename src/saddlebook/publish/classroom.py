"""Classroom edition: student notebooks without solutions, and an autograder.

Exercises are sphinx-exercise blocks. A solution is the material between
```` ```{solution-start} LABEL ```` and ```` ```{solution-end} ````; its code
cells are the solution, except cells tagged ``answer-check``, which hold the
check of the exercise's named answer and are kept for the student.

* :func:`student_notebook` replaces every solution code cell by a stub that
  raises ``NotImplementedError("Exercise LABEL: ...")`` and clears outputs;
  prose, the exercise statements and the other cells are kept.
* :func:`grade` executes a submitted notebook with papermill (a time limit
  per cell; exercise cells may fail without stopping the run) and reports
  each exercise as ``pass``, ``fail`` (with the error, e.g. a failed check's
  measured-vs-expected message) or ``not attempted``.
"""
from __future__ import annotations

import copy
import json
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import jupytext
import nbformat

from .chapters import Chapter, chapters, resolve
from .execute import KERNEL

_START = re.compile(r"```\{solution-start\}\s+(\S+)")
_END = re.compile(r"```\{solution-end\}")
CHECK_TAG = "answer-check"
GRADING_TAG = "raises-exception"  # nbclient lets a cell with this tag fail without stopping


class GradeError(ValueError):
    """The submission cannot be graded (unreadable, or another chapter's)."""


@dataclass
class Exercise:
    label: str
    solution_cells: list[int] = field(default_factory=list)  # replaced by stubs for students
    check_cells: list[int] = field(default_factory=list)  # kept: they grade the answer


def exercises(nb) -> list[Exercise]:
    """The exercises of a notebook, in order, with the indices of their code cells."""
    found, current = [], None
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            text = cell.source
            start = _START.search(text)
            if start:
                current = Exercise(start.group(1))
                found.append(current)
            if _END.search(text) and (not start or _END.search(text).start() > start.start()):
                current = None
        elif cell.cell_type == "code" and current is not None:
            tags = cell.get("metadata", {}).get("tags", [])
            (current.check_cells if CHECK_TAG in tags else current.solution_cells).append(i)
    return found


_START_BLOCK = re.compile(r"```\{solution-start\}[^\n]*\n(?::[^\n]*\n)*```")
_END_BLOCK = re.compile(r"```\{solution-end\}[^\n]*\n```")


def strip_solutions(nb):
    """A copy of ``nb`` with every gated solution removed (prose and code).

    Used for the student HTML. (sphinx-exercise's ``hide_solutions`` fails on
    gated solutions in the pinned version: "unknown node type: solution_end_node".)
    """
    out = copy.deepcopy(nb)
    kept, inside = [], False
    for cell in out.cells:
        if cell.cell_type != "markdown":
            if not inside:
                kept.append(cell)
            continue
        text, pieces, pos = cell.source, [], 0
        while True:
            pattern = _END_BLOCK if inside else _START_BLOCK
            m = pattern.search(text, pos)
            if not m:
                if not inside:
                    pieces.append(text[pos:])
                break
            if not inside:
                pieces.append(text[pos:m.start()])
            inside = not inside
            pos = m.end()
        remaining = "".join(pieces).strip()
        if remaining:
            cell.source = remaining
            kept.append(cell)
    out.cells = kept
    return out


def stub_source(label: str) -> str:
    return (
        f"# Exercise {label}: replace this cell with your solution.\n"
        f'raise NotImplementedError("Exercise {label}: not attempted")\n'
    )


def student_notebook(nb, stem: str):
    """A copy of ``nb`` with solution code replaced by stubs and all outputs cleared."""
    out = copy.deepcopy(nb)
    for ex in exercises(out):
        for i in ex.solution_cells:
            out.cells[i].source = stub_source(ex.label)
    for cell in out.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    out.metadata["saddlebook"] = {"chapter": stem, "edition": "student"}
    out.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3 (saddlebook)", "language": "python"}
    return out


def instructor_notebook(chapter: Chapter):
    nb = jupytext.read(chapter.source)
    nb.metadata["saddlebook"] = {"chapter": chapter.stem, "edition": "instructor"}
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3 (saddlebook)", "language": "python"}
    return nb


def write_student_notebooks(root: Path, out_dir: Path) -> list[Path]:
    """Write ``out_dir/<chapter>.ipynb`` for every chapter with exercises."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for ch in chapters(root):
        nb = instructor_notebook(ch)
        if not exercises(nb):
            continue
        path = out_dir / f"{ch.stem}.ipynb"
        nbformat.write(student_notebook(nb, ch.stem), path)
        written.append(path)
    return written


# ---------------------------------------------------------------- grading

@dataclass
class ExerciseResult:
    exercise: str
    status: str  # "pass" | "fail" | "not attempted" | "not graded"
    reason: str = ""


@dataclass
class GradeReport:
    notebook: str
    chapter: str
    results: list[ExerciseResult]
    note: str = ""

    @property
    def score(self) -> tuple[int, int]:
        return sum(r.status == "pass" for r in self.results), len(self.results)

    def to_json(self) -> str:
        passed, total = self.score
        data = asdict(self)
        data.update(passed=passed, total=total)
        return json.dumps(data, indent=1)

    def table(self) -> str:
        width = max([len(r.exercise) for r in self.results] + [8])
        lines = [f"{'exercise':{width}s}  {'result':14s}  reason", "-" * (width + 40)]
        for r in self.results:
            lines.append(f"{r.exercise:{width}s}  {r.status:14s}  {r.reason}")
        passed, total = self.score
        lines.append(f"score: {passed}/{total} exercises passed ({self.chapter})")
        if self.note:
            lines.append(f"note: {self.note}")
        return "\n".join(lines)


def _first_line(text: str, limit: int = 300) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(text)).strip()
    return (text.splitlines() or [""])[0][:limit]


def _identify(nb, chapter: str | None, root: Path | None) -> Chapter:
    meta = nb.metadata.get("saddlebook", {}) if isinstance(nb.metadata, dict) else {}
    claimed = meta.get("chapter")
    if chapter:
        ch = resolve(chapter, root)
        if claimed and claimed != ch.stem:
            raise GradeError(f"this notebook belongs to chapter {claimed}, not {ch.stem}")
    elif claimed:
        ch = resolve(claimed, root)
    else:
        labels = {e.label for e in exercises(nb)}
        matches = [c for c in chapters(root)
                   if labels and labels == {e.label for e in exercises(instructor_notebook(c))}]
        if len(matches) != 1:
            raise GradeError("cannot tell which chapter this notebook is; pass --chapter")
        ch = matches[0]
    expected = [e.label for e in exercises(instructor_notebook(ch))]
    got = [e.label for e in exercises(nb)]
    if set(got) != set(expected):
        raise GradeError(
            f"this notebook's exercises ({', '.join(got) or 'none'}) are not those of chapter "
            f"{ch.stem} ({', '.join(expected)}): is it another chapter's notebook?"
        )
    return ch


def grade(
    notebook: Path | str,
    *,
    chapter: str | None = None,
    cell_timeout: int = 300,
    root: Path | None = None,
    parameters: dict | None = None,
) -> GradeReport:
    """Execute a submitted notebook and grade each exercise.

    Runs the chapter in its quick setting unless ``parameters`` says otherwise.
    A failing exercise does not stop the others; a failure outside the
    exercises stops the run, and exercises after it are "not graded".
    """
    path = Path(notebook)
    nb = _read_submission(path)
    ch = _identify(nb, chapter, root)
    exs = exercises(nb)
    graded = _tag_for_grading(nb, exs)
    params = dict(parameters if parameters is not None else {})
    if parameters is None and "quick" in ch.defaults():
        params["quick"] = True
    if params:
        ch.validate(params)
    executed, stopped = _execute_submission(nb, ch, params, cell_timeout)
    by_id = {c.get("id"): c for c in executed.cells}
    stopped = _failure_outside_exercises(nb, graded, by_id, stopped)
    results = [_exercise_result(ex, nb, by_id, stopped) for ex in exs]
    return GradeReport(str(path), ch.stem, results, stopped)


def _read_submission(path: Path):
    try:
        return nbformat.read(path, as_version=4)
    except FileNotFoundError:
        raise GradeError(f"no such notebook: {path}") from None
    except Exception as err:  # nbformat raises several kinds for bad JSON/schema
        raise GradeError(f"cannot read {path} as a Jupyter notebook: {_first_line(err)}") from None


def _tag_for_grading(nb, exs) -> set[int]:
    """Tag the exercise cells (so their errors do not stop the run) and return their indices."""
    graded = set()
    for ex in exs:
        for i in ex.solution_cells + ex.check_cells:
            graded.add(i)
            tags = nb.cells[i].metadata.setdefault("tags", [])
            if GRADING_TAG not in tags:
                tags.append(GRADING_TAG)
    # papermill adds cells (injected parameters, error banners): match cells by id.
    for i, cell in enumerate(nb.cells):
        if not cell.get("id"):
            cell["id"] = f"sb-cell-{i}"
    return graded


def _execute_submission(nb, ch, params: dict, cell_timeout: int) -> tuple:
    """The executed notebook (``nb`` itself if nothing was written) and why the run stopped, if it did."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    stopped = ""
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "submission.ipynb", Path(tmp) / "graded.ipynb"
        nbformat.write(nb, src)
        try:
            papermill.execute_notebook(
                str(src),
                str(out),
                parameters=params,
                kernel_name=KERNEL,
                cwd=str(ch.root / "chapters"),
                progress_bar=False,
                log_output=False,
                request_save_on_cell_execute=True,
                execution_timeout=cell_timeout,
            )
        except PapermillExecutionError:
            pass  # exercise errors are expected; a stop outside them is found below
        except Exception as err:  # e.g. a cell over the time limit
            stopped = f"the run stopped: {type(err).__name__}: {_first_line(err)}"
        executed = nbformat.read(out, as_version=4) if out.is_file() else nb
    return executed, stopped


def _failure_outside_exercises(nb, graded: set[int], by_id: dict, stopped: str) -> str:
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or i in graded or stopped:
            continue
        ran = by_id.get(cell.get("id"), {})
        for o in ran.get("outputs", []):
            if o.get("output_type") == "error":
                stopped = (
                    f"chapter code outside the exercises failed at cell {i}: "
                    f"{o.get('ename')}: {_first_line(o.get('evalue', ''))}"
                )
    return stopped


def _exercise_result(ex, nb, by_id: dict, stopped: str) -> ExerciseResult:
    errors, ran_all = [], True
    for i in ex.solution_cells + ex.check_cells:
        cell = by_id.get(nb.cells[i].get("id"), {})
        if cell.get("execution_count") is None and not cell.get("outputs"):
            ran_all = False
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                errors.append((o.get("ename", ""), o.get("evalue", "")))
    if any(name == "NotImplementedError" for name, _ in errors):
        return ExerciseResult(ex.label, "not attempted", "the solution stub was not replaced")
    if errors:
        name, value = errors[0]
        return ExerciseResult(ex.label, "fail", f"{name}: {_first_line(value)}")
    if not ran_all:
        return ExerciseResult(ex.label, "not graded", stopped or "the cell did not run")
    return ExerciseResult(ex.label, "pass")


def write_student_edition(root: Path, out: Path, *, log=print) -> dict:
    """Student notebooks in ``out/notebooks`` and a student HTML build (solutions hidden) in ``out/book``.

    The HTML is built from the executed chapters in ``book/executed`` (run
    ``make book`` first), with every solution removed.
    """
    import shutil

    import yaml

    from .build import build_html, stage

    notebooks = write_student_notebooks(root, out / "notebooks")
    staged = stage(root, out / "book")
    executed = root / "book" / "executed"
    missing = [c.stem for c in chapters(root) if not c.executed().is_file() or not c.record().is_file()]
    if missing:
        raise FileNotFoundError(
            f"no executed copy of {', '.join(missing)}: run `make book` before building the student edition"
        )
    target = staged / "book" / "executed"
    target.mkdir(parents=True, exist_ok=True)
    for f in executed.iterdir():
        if f.suffix == ".json":
            shutil.copy2(f, target / f.name)
        elif f.suffix == ".ipynb":
            nbformat.write(strip_solutions(nbformat.read(f, as_version=4)), target / f.name)
    config_path = staged / "_config.yml"
    config = yaml.safe_load(config_path.read_text())
    config["title"] = config.get("title", "") + " (student edition)"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    index = build_html(staged, log=log)
    return {"notebooks": notebooks, "index": index}
