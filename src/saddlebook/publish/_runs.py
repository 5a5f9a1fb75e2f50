"""One recorded execution of a chapter, for the runs the build does not publish.

The falsification run and the other-draws run both execute chapters into a
throw-away folder, as tasks on a local Dask cluster, and keep only the check records.
"""
from __future__ import annotations

import json
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from ..book.checks import ENV_FALSIFY
from ._cluster import dask_client, isolated
from .chapters import Chapter
from .execute import ChapterFailed, execute

FIELDS = ("name", "kind", "passed", "measured", "margin")


def run_recorded(chapter: Chapter, overrides: dict, env: dict, out_dir: str) -> dict:
    """Execute once with failing checks recorded, not raised; never raises.

    One bad run must not hide the others, so an error that stops the chapter
    becomes the run's status, with the checks made before it.
    """
    threads = {var: "1" for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    start = time.perf_counter()
    try:
        made = isolated(execute, chapter, overrides, out_dir=Path(out_dir), force=True,
                        env={**threads, ENV_FALSIFY: "1", **env}, paired=True).record["checks"]
        status = "completed"
    except ChapterFailed as err:
        made, status = err.checks, f"stopped: {str(err).splitlines()[0]}"
    return {
        "status": status,
        "seconds": round(time.perf_counter() - start, 1),
        "checks": [{k: c.get(k) for k in FIELDS} for c in made],
    }


def commit(root: Path) -> str:
    """The checkout's commit, or ``"unknown"``."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


@contextmanager
def worker_pool(prefix: str, jobs: int | None):
    """A throw-away folder and a Dask client on a local cluster of ``jobs`` workers (default: the number of
    cores); submit with ``pure=False`` (every run is its own task)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp, dask_client(None, jobs) as client:
        yield Path(tmp), client


def write_record(target: Path, record: dict, merge: bool) -> None:
    """Write a run's record; with ``merge``, its chapters replace only theirs in the record already there."""
    if merge:
        old = json.loads(target.read_text()) if target.is_file() else {}
        record["chapters"] = {**old.get("chapters", {}), **record["chapters"]}
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
