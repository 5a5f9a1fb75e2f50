"""Build the book: execute every chapter that is out of date, then the HTML.

Out-of-date chapters run in parallel worker processes (one kernel each, one
torch thread each: the chapters' tensors are small, and threads contending for
the same cores made them hundreds of times slower).
"""
from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from .chapters import Chapter
from .chapters import chapters as list_chapters
from .execute import ChapterFailed, execute, is_current
from .pages import write_generated


class BuildFailed(RuntimeError):
    """jupyter-book reported an error or warning (warnings are errors here)."""


def _execute_in_worker(chapter: Chapter, overrides: dict, force: bool, threads: int):
    # Runs in a fresh process: its environment is inherited by the chapter's kernel.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    try:
        return execute(chapter, overrides, force=force)
    except ChapterFailed as err:
        return err


def _applicable(chapter: Chapter, common: dict) -> dict:
    return {k: v for k, v in common.items() if k in chapter.defaults()}


def execute_all(
    root: Path,
    *,
    force: bool = False,
    jobs: int | None = None,
    common: dict | None = None,
    log=print,
) -> list:
    """Execute every chapter whose sources, package, parameters or requirements changed.

    Every chapter is attempted even if one fails, so one run reports all
    failures; they are raised together at the end. ``jobs`` defaults to the
    number of cores (at most the number of chapters to run). ``common`` holds
    parameter overrides applied to every chapter that has that parameter
    (e.g. ``{"quick": True}``).
    """
    if jobs is not None and jobs < 1:
        from ..errors import ParameterError

        raise ParameterError(f"parameter 'jobs' = {jobs!r} must be a positive integer")
    common = dict(common or {})
    all_chapters = list_chapters(root)
    todo = [
        c for c in all_chapters
        if force or not is_current(c, c.validate(_applicable(c, common)))
    ]
    for c in all_chapters:
        if c not in todo:
            log(f"{c.stem:32s} up to date")
    cores = os.cpu_count() or 1
    jobs = max(1, min(jobs or cores, len(todo) or 1))
    threads = 1  # small tensors: one thread per kernel beats sharing cores between threads
    results, failures = [], []
    start = time.perf_counter()
    if todo:
        log(f"executing {len(todo)} chapter(s) with {jobs} worker(s), {threads} thread(s) each")
        context = multiprocessing.get_context("spawn")
        # Pages that time code (run_alone) run after the others, with the machine to themselves.
        shared = [c for c in todo if not c.run_alone]
        alone = [c for c in todo if c.run_alone]
        for group, workers in ((shared, jobs), (alone, 1)):
            if not group:
                continue
            with ProcessPoolExecutor(max_workers=min(workers, len(group)), mp_context=context) as pool:
                futures = [
                    (c, pool.submit(_execute_in_worker, c, _applicable(c, common), force, threads)) for c in group
                ]
                _collect(futures, results, failures, log)
        log(f"execution finished in {time.perf_counter() - start:.1f} s")
    if failures:
        raise ChapterFailed("\n".join(str(f) for f in failures))
    return results


def _collect(futures, results, failures, log) -> None:
    for c, fut in futures:
        res = fut.result()
        if isinstance(res, ChapterFailed):
            failures.append(res)
            log(f"FAILED  {res}")
            continue
        n = len(res.record.get("checks", []))
        log(f"{c.stem:32s} executed in {res.seconds:6.1f} s  ({n} checks passed)")
        results.append(res)


_STAGED = ("_config.yml", "_toc.yml", "requirements.txt", "chapters", "book")


def stage(root: Path, dest: Path) -> Path:
    """Copy the book's sources (not its executed or built output) to ``dest``.

    Used to build a throw-away copy of the book, e.g. in quick mode for the
    tests, without touching the real ``book/executed`` or ``_build``.
    """
    dest.mkdir(parents=True, exist_ok=True)
    skip = shutil.ignore_patterns("executed", "generated", "*.ipynb", "__pycache__", ".ipynb_checkpoints")
    for name in _STAGED:
        src = root / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=skip, dirs_exist_ok=True)
        elif src.is_file():
            shutil.copy2(src, dest / name)
    return dest


def jupyter_book(root: Path, builder: str = "html") -> float:
    """Write the generated pages and run ``jupyter-book build`` with warnings as errors; seconds taken."""
    write_generated(root, list_chapters(root))
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe), "build", str(root), "--builder", builder, "-W", "--keep-going", "-q"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = (proc.stdout + proc.stderr).strip().splitlines()
        # Sphinx's own warnings say what is wrong; the traceback after them does not.
        causes = [ln for ln in lines if "WARNING" in ln or "ERROR" in ln or "CRITICAL" in ln]
        shown = "\n".join(causes[:30] or lines[-40:])
        raise BuildFailed(f"jupyter-book build --builder {builder} failed (exit {proc.returncode}):\n{shown}")
    return time.perf_counter() - start


def build_html(root: Path, *, log=print) -> Path:
    """The HTML book (``_build/html``), warnings as errors; returns its index page."""
    seconds = jupyter_book(root, "html")
    index = root / "_build" / "html" / "index.html"
    log(f"HTML built in {seconds:.1f} s")
    return index
