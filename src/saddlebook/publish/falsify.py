"""The falsification run: does each claim check fail when the mathematics is wrong?

Every chapter is executed once as it is (the baseline) and once under each
counterfactual of :mod:`saddlebook.book.counterfactual`, with failing checks
recorded instead of raised (``SADDLEBOOK_FALSIFY=1``) so that every later
check is still evaluated. A claim check that passed in the baseline and
failed under some counterfactual is *shown falsifiable*; the record names the
counterfactuals that broke it. A claim no counterfactual broke is listed by
name on the Verification page. A chapter stopped by an error under a
counterfactual breaks none of the checks it did not reach.

The record is written to ``book/falsification.json`` (committed: the run
takes longer than CI allows), and the Verification page shows it with the
commit and setting it was made at.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

from ..book.checks import ENV_FALSIFY
from ..book.counterfactual import COUNTERFACTUALS, ENV
from ..errors import ParameterError
from ._runs import commit as _commit
from ._runs import run_recorded, worker_pool, write_record
from .chapters import Chapter, resolve
from .chapters import chapters as list_chapters
from .execute import pair

RECORD = Path("book") / "falsification.json"


def _select(root: Path, names) -> list[Chapter]:
    if names:
        return [resolve(n, root) for n in names]
    return [c for c in list_chapters(root) if not c.run_alone]


def _counterfactuals(names) -> list[str]:
    names = list(names or COUNTERFACTUALS)
    unknown = [n for n in names if n not in COUNTERFACTUALS]
    if unknown:
        raise ParameterError(
            f"parameter 'counterfactual' = {unknown[0]!r} is not known; allowed: {', '.join(COUNTERFACTUALS)}"
        )
    return names


def summarise(baseline: dict, runs: dict[str, dict]) -> dict:
    """Per claim check: passed in the baseline, and the counterfactuals that made it fail."""
    claims = {c["name"]: {"baseline_passed": c["passed"], "broken_by": []}
              for c in baseline["checks"] if c["kind"] == "claim"}
    for name, run in runs.items():
        for c in run["checks"]:
            if c["name"] in claims and not c["passed"] and claims[c["name"]]["baseline_passed"]:
                claims[c["name"]]["broken_by"].append(name)
    return claims


def falsify(root: Path, *, chapter_names=None, counterfactual_names=None, quick: bool = True,
            jobs: int | None = None, out: Path | None = None, log=print) -> dict:
    """Run the falsification and write its record; returns the record.

    Parameters
    ----------
    root : Path
        The book's root folder.
    chapter_names : list of str, optional
        Chapters (stems or unique prefixes); default every chapter except
        pages that run alone (the Performance page).
    counterfactual_names : list of str, optional
        Default: every counterfactual.
    quick : bool, default True
        Execute chapters that have a ``quick`` parameter in their quick setting.
    jobs : int, optional
        Executions in parallel (default: the number of cores).
    out : Path, optional
        Where to write the record (default ``book/falsification.json``).
    """
    chosen = _select(root, chapter_names)
    cfs = _counterfactuals(counterfactual_names)
    if jobs is not None and jobs < 1:
        raise ParameterError(f"parameter 'jobs' = {jobs!r} must be a positive integer")
    for c in chosen:
        c.validate({"quick": True} if quick and "quick" in c.defaults() else {})
        pair(c)
    start = time.perf_counter()
    with worker_pool("saddlebook-falsify-", jobs) as (tmp, pool):
        futures = {}
        for c in chosen:
            overrides = {"quick": True} if quick and "quick" in c.defaults() else {}
            for cf in [None, *cfs]:
                out_dir = tmp / c.stem / (cf or "baseline")
                # The baseline raises on a failed check, as the build does.
                env = {ENV: cf or "", ENV_FALSIFY: "1" if cf else "0"}
                futures[(c.stem, cf)] = pool.submit(run_recorded, c, overrides, env, str(out_dir), pure=False)
        chapters_out = {}
        for c in chosen:
            baseline = futures[(c.stem, None)].result()
            runs = {cf: futures[(c.stem, cf)].result() for cf in cfs}
            claims = summarise(baseline, runs)
            broken = sum(bool(v["broken_by"]) for v in claims.values())
            log(f"{c.stem:32s} {broken} of {len(claims)} claim checks broken; "
                + ", ".join(f"{cf}: {r['status'].split(':')[0]}" for cf, r in runs.items()))
            chapters_out[c.stem] = {
                "commit": _commit(root),
                "baseline": baseline["status"],
                "runs": {cf: {"status": r["status"], "seconds": r["seconds"],
                              "failed": [x["name"] for x in r["checks"] if not x["passed"]]}
                         for cf, r in runs.items()},
                "claims": claims,
            }
    record = {
        "made_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": _commit(root),
        "setting": "quick" if quick else "default",
        "seconds": round(time.perf_counter() - start, 1),
        "counterfactuals": {cf: COUNTERFACTUALS[cf] for cf in cfs},
        "chapters": chapters_out,
    }
    target = out or root / RECORD
    # A partial run updates only its own chapters in the book's record.
    write_record(target, record, merge=out is None and bool(chapter_names))
    log(f"falsification record: {target} ({record['seconds']} s)")
    return record
