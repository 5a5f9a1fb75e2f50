"""Classroom edition: exercises, the student HTML (solutions removed) and grade reports.

Exercises are sphinx-exercise blocks. A solution is the material between
```` ```{solution-start} LABEL ```` and ```` ```{solution-end} ````; its code
cells are the solution, except cells tagged ``answer-check``, which hold the
check of the exercise's named answer. Student notebooks, the autograder and
grading are otter-grader's (:mod:`saddlebook.publish.otter`); this module
finds the exercises, builds the student HTML and holds the report that
``python -m saddlebook grade`` prints.
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from .chapters import chapters

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


# ---------------------------------------------------------------- grade reports

@dataclass
class ExerciseResult:
    exercise: str
    status: str  # "pass" | "fail" | "not attempted" | "not graded"
    reason: str = ""
    points: float = 0.0
    possible: float = 0.0


@dataclass
class GradeReport:
    notebook: str
    chapter: str
    results: list[ExerciseResult]
    note: str = ""

    @property
    def score(self) -> tuple[int, int]:
        """Exercises passed, out of all."""
        return sum(r.status == "pass" for r in self.results), len(self.results)

    @property
    def points(self) -> tuple[float, float]:
        return sum(r.points for r in self.results), sum(r.possible for r in self.results)

    def to_json(self) -> str:
        passed, total = self.score
        earned, possible = self.points
        data = asdict(self)
        data.update(passed=passed, total=total, points=earned, possible=possible)
        return json.dumps(data, indent=1)

    def table(self) -> str:
        width = max([len(r.exercise) for r in self.results] + [8])
        lines = [f"{'exercise':{width}s}  {'points':>7s}  {'result':14s}  reason", "-" * (width + 50)]
        for r in self.results:
            lines.append(f"{r.exercise:{width}s}  {r.points:g}/{r.possible:g}".ljust(width + 11)
                         + f"{r.status:14s}  {r.reason}")
        passed, total = self.score
        earned, possible = self.points
        lines.append(f"score: {earned:g}/{possible:g} points, {passed}/{total} exercises passed ({self.chapter})")
        if self.note:
            lines.append(f"note: {self.note}")
        return "\n".join(lines)


def write_student_edition(root: Path, out: Path, *, log=print) -> dict:
    """A student HTML build (every solution removed) in ``out/book``.

    Built from the executed chapters in ``book/executed`` (run ``make book``
    first). The student notebooks are the otter assignments, written to
    ``out/assignments`` (:func:`saddlebook.publish.otter.write_assignments`).
    """
    import shutil

    import yaml

    from .build import build_html, stage
    from .otter import write_assignments

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
    made = write_assignments(root, out / "assignments", log=log)
    return {"index": index, "assignments": made, "notebooks": [m["student"] for m in made]}
