"""Build the book: execute every chapter that is out of date, then the HTML."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from .chapters import chapters as list_chapters
from .execute import ChapterFailed, execute
from .pages import write_verification


class BuildFailed(RuntimeError):
    """jupyter-book reported an error or warning (warnings are errors here)."""


def execute_all(root: Path, *, force: bool = False, log=print) -> list:
    """Execute every chapter whose sources, package or parameters changed.

    Every chapter is attempted even if an earlier one fails, so one run reports
    all failures; the first failure is re-raised at the end.
    """
    results, failures = [], []
    for ch in list_chapters(root):
        try:
            res = execute(ch, force=force)
        except ChapterFailed as err:
            failures.append(err)
            log(f"FAILED  {err}")
            continue
        status = f"executed in {res.seconds:6.1f} s" if res.executed else "up to date"
        log(f"{ch.stem:32s} {status}  ({len(res.record.get('checks', []))} checks)")
        results.append(res)
    if failures:
        raise ChapterFailed("; ".join(str(f) for f in failures))
    return results


def build_html(root: Path, *, log=print) -> Path:
    """Write the generated pages and run ``jupyter-book build`` with warnings as errors."""
    write_verification(root, list_chapters(root))
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe), "build", str(root), "--builder", "html", "-W", "--keep-going", "-q"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-40:])
        raise BuildFailed(f"jupyter-book build failed (exit {proc.returncode}):\n{tail}")
    index = root / "_build" / "html" / "index.html"
    log(f"HTML built in {time.perf_counter() - start:.1f} s")
    return index
