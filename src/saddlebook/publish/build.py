"""Build the book: execute every chapter that is out of date, then the HTML.

Out-of-date chapters run as tasks on a Dask cluster (:mod:`._cluster`): one
kernel per worker, one torch thread per kernel (the chapters' tensors are
small, and threads contending for the same cores made them hundreds of times
slower).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ..errors import ParameterError
from ._cluster import dask_client, isolated, worker_count
from .chapters import Chapter
from .chapters import chapters as list_chapters
from .execute import ChapterFailed, execute, is_current, read_record
from .pages import write_generated


class BuildFailed(RuntimeError):
    """jupyter-book reported an error or warning (warnings are errors here)."""


def _execute_in_worker(chapter: Chapter, overrides: dict, force: bool, threads: int):
    # A task on a Dask worker: the kernel gets its thread count through its own environment.
    env = {var: str(threads) for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    try:
        return isolated(execute, chapter, overrides, force=force, env=env)
    except ChapterFailed as err:
        return err


def _applicable(chapter: Chapter, common: dict) -> dict:
    return {k: v for k, v in common.items() if k in chapter.defaults()}


def _expected_seconds(chapter: Chapter) -> float:
    """How long the chapter took last time (its record), or a large number if it never ran here."""
    record = read_record(chapter)
    return float(record.get("seconds", 1e6)) if record else 1e6


def execute_all(
    root: Path,
    *,
    force: bool = False,
    jobs: int | None = None,
    common: dict | None = None,
    scheduler: str | None = None,
    log=print,
) -> list:
    """Execute every chapter whose sources, package, parameters or requirements changed.

    Each chapter is a task on a Dask cluster: the one at ``scheduler`` (an
    address such as ``tcp://host:8786``), or a local cluster of ``jobs``
    single-threaded workers (default: the number of cores, at most
    the number of chapters to run), started only if something is out of
    date. The longest chapters (by their last run) are started first; pages
    that time code (``run_alone`` in their front matter) run after all the
    others, one at a time. Every chapter is attempted even if one fails, so
    one run reports all failures; they are raised together at the end.
    ``common`` holds parameter overrides applied to every chapter that has
    that parameter (e.g. ``{"quick": True}``).
    """
    if jobs is not None and jobs < 1:
        raise ParameterError(f"parameter 'jobs' = {jobs!r} must be a positive integer")
    if jobs is not None and scheduler is not None:
        raise ParameterError("give either 'jobs' (the workers of a local cluster) or 'scheduler' "
                             "(a running cluster's address), not both")
    common = dict(common or {})
    all_chapters = list_chapters(root)
    todo = [
        c for c in all_chapters
        if force or not is_current(c, c.validate(_applicable(c, common)))
    ]
    for c in all_chapters:
        if c not in todo:
            log(f"{c.stem:32s} up to date")
    results, failures = [], []
    if not todo:
        return results
    start = time.perf_counter()
    workers = None if scheduler else max(1, min(jobs or os.cpu_count() or 1, len(todo)))
    with dask_client(scheduler, workers) as client:
        where = f"the Dask scheduler at {scheduler}" if scheduler else "a local Dask cluster"
        log(f"executing {len(todo)} chapter(s) on {where} with {worker_count(client)} worker(s), one kernel each")
        shared = sorted((c for c in todo if not c.run_alone), key=_expected_seconds, reverse=True)
        # Pages that time code (run_alone) run after the others, with the machine to themselves.
        batches = [shared] + [[c] for c in todo if c.run_alone]
        for batch in batches:
            futures = {client.submit(_execute_in_worker, c, _applicable(c, common), force, 1, pure=False,
                                     priority=len(batch) - i): c for i, c in enumerate(batch)}
            _collect(futures, results, failures, log)
    log(f"execution finished in {time.perf_counter() - start:.1f} s")
    if failures:
        raise ChapterFailed("\n".join(str(f) for f in failures))
    return results


def _collect(futures: dict, results, failures, log) -> None:
    from dask.distributed import as_completed

    for fut in as_completed(list(futures)):
        c, res = futures[fut], fut.result()
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
