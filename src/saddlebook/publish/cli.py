"""Command line: ``python -m saddlebook list | run CHAPTER -p NAME VALUE … | build | student |
grade NOTEBOOK | falsify | draws``.

Exit codes: 0 success; 1 a chapter or the HTML build failed (the last good
executed copy is kept); 2 bad input (unknown chapter or parameter, value out
of range), refused before anything runs.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

from ..errors import ParameterError
from .build import BuildFailed, build_html, execute_all
from .chapters import chapters, find_root, resolve
from .classroom import GradeError
from .execute import ChapterFailed, execute


def parse_value(text: str):
    """A command-line value: a Python literal if it parses as one, else the string.

    So ``True``, ``4``, ``1e-3`` and ``[0.1, 0.05]`` become Python values, and a bare word
    (``tanh``) or an expression (``atan(z)``, ``z + 0.3*z**2``: calls, names and operators
    are not literals) stays the string it is. ``literal_eval`` never evaluates code; text it
    cannot build a value from, such as ``{[]: 1}`` or deep nesting, also stays a string.
    """
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def _cmd_list(args, root: Path) -> int:
    for ch in chapters(root):
        params = ", ".join(f"{k}={v!r}" for k, v in ch.defaults().items())
        print(f"{ch.stem}\n    {params}")
    return 0


def _cmd_run(args, root: Path) -> int:
    ch = resolve(args.chapter, root)
    overrides = {}
    for name, value in args.param or []:
        overrides[name] = parse_value(value)
    out_dir = Path(args.out).resolve() if args.out else None
    res = execute(ch, overrides, out_dir=out_dir, force=not args.cached, cell_timeout=args.timeout)
    n = len(res.record.get("checks", []))
    state = f"executed in {res.seconds:.1f} s" if res.executed else "up to date (cached)"
    print(f"{ch.stem}: {state}; {n} checks passed -> {ch.executed(out_dir)}")
    if args.html and out_dir is None:
        print(f"index: {build_html(root)}")
    return 0


def _cmd_build(args, root: Path) -> int:
    common = {name: parse_value(value) for name, value in args.param or []}
    execute_all(root, force=args.force, jobs=args.jobs, common=common, scheduler=args.scheduler)
    index = build_html(root)
    print(f"Book built: {index}")
    return 0


def _cmd_student(args, root: Path) -> int:
    out = Path(args.out).resolve() if args.out else root / "_build" / "student"
    if args.format == "otter":
        from .otter import write_assignments

        made = write_assignments(root, out)
        for m in made:
            print(f"{m['student'].parent.parent.parent.name}: student {m['student']}, autograder {m['autograder']}")
        return 0
    from .classroom import write_student_edition

    made = write_student_edition(root, out)
    print(f"student HTML (solutions hidden): {made['index']}")
    print(f"otter assignments (student notebooks, autograder zips): {out / 'assignments'}")
    return 0


def _cmd_grade(args, root: Path) -> int:
    from .otter import grade

    if args.timeout is not None and args.timeout < 1:
        raise ParameterError(f"parameter 'timeout' = {args.timeout} must be a positive number of seconds")
    report = grade(args.notebook, chapter=args.chapter, cell_timeout=args.timeout or 300, root=root)
    print(report.table())
    if args.json:
        Path(args.json).write_text(report.to_json())
        print(f"JSON report: {args.json}")
    return 0


def _cmd_falsify(args, root: Path) -> int:
    from .falsify import falsify

    out = Path(args.out).resolve() if args.out else None
    falsify(
        root,
        chapter_names=args.chapter,
        counterfactual_names=args.counterfactual,
        quick=not args.full,
        jobs=args.jobs,
        out=out,
    )
    return 0


def _cmd_draws(args, root: Path) -> int:
    from .draws import draws

    out = Path(args.out).resolve() if args.out else None
    draws(root, chapter_names=args.chapter, quick_too=args.quick_too, jobs=args.jobs, out=out)
    return 0


def _cmd_pdf(args, root: Path) -> int:
    from .pdf import PdfFailed, make_pdf

    if args.jobs is not None and args.jobs < 1:
        raise ParameterError(f"parameter 'jobs' = {args.jobs} must be a positive number of Chromium processes")
    try:
        made = make_pdf(root, jobs=args.jobs)
    except PdfFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"PDF (whole book): {made['book']}")
    print(f"PDF per chapter: {made['book'].parent} ({len(made['chapters'])} chapters); copied to {made['html']}")
    return 0


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m saddlebook", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list chapters and their default parameters")
    _add_run(sub)
    _add_build(sub)
    student = sub.add_parser(
        "student", help="write the student edition: otter assignments (student notebooks, Gradescope "
        "autograder zips) and, unless --format otter, the HTML without solutions")
    student.add_argument("--format", choices=("html", "otter"), default="html",
                         help="otter: the assignments only (no executed book needed); html (default): also the HTML")
    student.add_argument("--out", help="output folder (default: _build/student)")
    _add_grade(sub)
    _add_falsify(sub)
    _add_draws(sub)
    _add_pdf(sub)
    return parser


def _add_run(sub) -> None:
    run = sub.add_parser("run", help="execute one chapter (parameters overridable) and rebuild the HTML")
    run.add_argument("chapter", help="chapter stem or unique prefix, e.g. 02")
    run.add_argument(
        "-p",
        "--param",
        nargs=2,
        action="append",
        metavar=("NAME", "VALUE"),
        help="override a parameter (VALUE is a Python literal or a bare string)",
    )
    run.add_argument("--out", help="write the executed notebook here instead of book/executed (no HTML)")
    run.add_argument("--cached", action="store_true", help="skip if an executed copy with the same inputs exists")
    run.add_argument("--no-html", dest="html", action="store_false", help="do not rebuild the HTML")
    run.add_argument("--timeout", type=int, default=None, help="per-cell time limit in seconds")


def _add_build(sub) -> None:
    build = sub.add_parser("build", help="execute out-of-date chapters, then build the HTML")
    build.add_argument("--force", action="store_true", help="re-execute every chapter")
    build.add_argument("--jobs", type=int, default=None,
                       help="workers of the local Dask cluster: chapters executed in parallel (default: cores)")
    build.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="execute the chapters on the Dask cluster at this scheduler address (tcp://host:8786) "
                            "instead of a local one; its workers must see this checkout at the same path")
    build.add_argument(
        "-p",
        "--param",
        nargs=2,
        action="append",
        metavar=("NAME", "VALUE"),
        help="override a parameter in every chapter that has it, e.g. -p quick True",
    )


def _add_grade(sub) -> None:
    grade = sub.add_parser("grade", help="grade a submitted notebook with otter (offline), points per exercise")
    grade.add_argument("notebook", help="the submitted .ipynb")
    grade.add_argument("--chapter", help="chapter it answers (default: read from the notebook)")
    grade.add_argument("--timeout", type=int, default=None, help="per-cell time limit in seconds (default 300)")
    grade.add_argument("--json", help="also write the report as JSON to this file")


def _add_falsify(sub) -> None:
    from ..book.counterfactual import COUNTERFACTUALS

    fals = sub.add_parser(
        "falsify",
        help="execute chapters under counterfactual mathematics; "
        "record which claim checks each one breaks (book/falsification.json)",
    )
    fals.add_argument("--chapter", action="append", help="chapter stem or prefix (repeatable; default: all)")
    fals.add_argument(
        "--counterfactual",
        action="append",
        metavar="NAME",
        help=f"repeatable; default: all of {', '.join(COUNTERFACTUALS)}",
    )
    fals.add_argument("--full", action="store_true", help="default parameters instead of the quick setting")
    fals.add_argument("--jobs", type=int, default=None, help="executions in parallel (default: cores)")
    fals.add_argument("--out", help="write the record here instead of book/falsification.json")


def _add_draws(sub) -> None:
    other = sub.add_parser(
        "draws",
        help="execute chapters at the other draws their front matter declares; "
        "record which checks hold at each (book/draws.json)",
    )
    other.add_argument(
        "--chapter",
        action="append",
        help="chapter stem or prefix (repeatable; default: every chapter that declares draws)",
    )
    other.add_argument(
        "--no-quick",
        dest="quick_too",
        action="store_false",
        help="only the default setting (default: the quick setting too, where a chapter has one)",
    )
    other.add_argument("--jobs", type=int, default=None, help="executions in parallel (default: cores)")
    other.add_argument("--out", help="write the record here instead of book/draws.json")


def _add_pdf(sub) -> None:
    pdf = sub.add_parser(
        "pdf",
        help="print every page to PDF with headless Chromium: one PDF per chapter and the whole book "
        "(_build/pdf; after `build`)",
    )
    pdf.add_argument("--jobs", type=int, default=None, help="Chromium processes at once (default: 2 x cores + 2)")


def _take_params(argv: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Pull ``-p NAME VALUE`` pairs out of argv before argparse sees them.

    argparse would read a VALUE such as ``-1e-3`` as an option flag.
    """
    rest, pairs, i = [], [], 0
    while i < len(argv):
        if argv[i] in ("-p", "--param"):
            if len(argv) - i < 3:
                raise ParameterError(f"{argv[i]} needs a NAME and a VALUE")
            pairs.append((argv[i + 1], argv[i + 2]))
            i += 3
        else:
            rest.append(argv[i])
            i += 1
    return rest, pairs


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        argv, pairs = _take_params(argv)
    except ParameterError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    args = make_parser().parse_args(argv)
    if pairs:
        if args.command not in ("run", "build"):
            print(f"error: -p is not an option of '{args.command}'", file=sys.stderr)
            return 2
        args.param = (args.param or []) + [list(p) for p in pairs]
    try:
        root = find_root()
        handler = {
            "list": _cmd_list,
            "run": _cmd_run,
            "build": _cmd_build,
            "student": _cmd_student,
            "grade": _cmd_grade,
            "falsify": _cmd_falsify,
            "draws": _cmd_draws,
            "pdf": _cmd_pdf,
        }[args.command]
        return handler(args, root)
    except (ParameterError, FileNotFoundError, GradeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (ChapterFailed, BuildFailed) as err:
        print(f"error: {err}", file=sys.stderr)
        print("The last good executed copy, if any, was kept.", file=sys.stderr)
        return 1
