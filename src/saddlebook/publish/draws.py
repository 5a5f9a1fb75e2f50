"""Other draws: do the claim checks hold at seeds the build does not use?

No seed is special: a claim that holds at the build's draw and fails at
another is an anecdote. Each chapter declares other draws in its front matter
(``saddlebook: {draws: [...]}``, parameter overrides, seeds only), and
``python -m saddlebook draws`` executes it at every one of them, in its
default and, where it has one, its quick setting, with failing checks recorded
instead of raised so that every later check is still evaluated.

The record is written to ``book/draws.json`` (committed: the runs take longer
than CI allows). The Verification page shows, for every claim of the build,
at how many of those runs it passed and its smallest margin there.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

from ..errors import ParameterError
from ._runs import commit, run_recorded, worker_pool, write_record
from .chapters import Chapter, resolve
from .chapters import chapters as list_chapters
from .execute import pair

RECORD = Path("book") / "draws.json"


def _settings(chapter: Chapter, quick_too: bool) -> list[dict]:
    has_quick = "quick" in chapter.defaults()
    return [{}] + ([{"quick": True}] if quick_too and has_quick else [])


def _plan(chapter: Chapter, quick_too: bool) -> list[dict]:
    """Every (setting, draw) override set of one chapter, validated before anything runs."""
    plan = [{**setting, **draw} for draw in chapter.draws for setting in _settings(chapter, quick_too)]
    for overrides in plan:
        chapter.validate(overrides)
    return plan


def summarise(runs: list[dict]) -> dict:
    """Per check name: runs it appeared in, runs it passed, its smallest margin there."""
    out: dict[str, dict] = {}
    for run in runs:
        for c in run["checks"]:
            s = out.setdefault(c["name"], {"kind": c["kind"], "runs": 0, "passed": 0, "min_margin": None,
                                           "failed_at": []})
            s["runs"] += 1
            s["passed"] += bool(c["passed"])
            if not c["passed"]:
                s["failed_at"].append(run["overrides"])
            if c.get("margin") is not None:
                s["min_margin"] = c["margin"] if s["min_margin"] is None else min(s["min_margin"], c["margin"])
    return out


def draws(root: Path, *, chapter_names=None, quick_too: bool = True, jobs: int | None = None,
          out: Path | None = None, log=print) -> dict:
    """Execute every chapter at its declared other draws and write the record; returns it.

    Parameters
    ----------
    root : Path
        The book's root folder.
    chapter_names : list of str, optional
        Chapters (stems or unique prefixes); default every chapter that declares draws.
    quick_too : bool, default True
        Also run each draw in the quick setting of chapters that have one.
    jobs : int, optional
        Executions in parallel (default: the number of cores).
    out : Path, optional
        Where to write the record (default ``book/draws.json``; a run for some
        chapters then replaces only their entries).
    """
    if jobs is not None and jobs < 1:
        raise ParameterError(f"parameter 'jobs' = {jobs!r} must be a positive integer")
    chosen = [resolve(n, root) for n in chapter_names] if chapter_names else [
        c for c in list_chapters(root) if c.draws]
    plans = {c.stem: _plan(c, quick_too) for c in chosen}
    empty = [stem for stem, plan in plans.items() if not plan]
    if empty:
        raise ParameterError(f"chapter {empty[0]} declares no draws (front matter 'saddlebook: draws')")
    for c in chosen:
        pair(c)
    start = time.perf_counter()
    with worker_pool("saddlebook-draws-", jobs) as (tmp, pool):
        futures = {
            (c.stem, i): pool.submit(run_recorded, c, overrides, {}, str(tmp / c.stem / str(i)), pure=False)
            for c in chosen for i, overrides in enumerate(plans[c.stem])
        }
        chapters_out = {}
        for c in chosen:
            runs = [{"overrides": o, **futures[(c.stem, i)].result()} for i, o in enumerate(plans[c.stem])]
            failed = sorted({x["name"] for r in runs for x in r["checks"] if not x["passed"]})
            stopped = sum(r["status"] != "completed" for r in runs)
            log(f"{c.stem:32s} {len(runs)} runs, {stopped} stopped, {len(failed)} checks failed somewhere")
            chapters_out[c.stem] = {"commit": commit(root), "runs": runs, "checks": summarise(runs)}
    record = {
        "made_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": commit(root),
        "seconds": round(time.perf_counter() - start, 1),
        "chapters": chapters_out,
    }
    target = out or root / RECORD
    write_record(target, record, merge=out is None and bool(chapter_names))
    log(f"draws record: {target} ({record['seconds']} s)")
    return record
