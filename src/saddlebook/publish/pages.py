"""Pages generated from the chapters' execution records (never hand-written).

The Verification page lists every check in the book by chapter and kind
(claim or consistency) with its margin, written from the JSON record beside
each executed notebook, and, when ``book/falsification.json`` and
``book/draws.json`` are present, the counterfactuals that broke each claim and
how each claim fared at the other draws.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..book.checks import describe_bounds, format_value
from .chapters import GENERATED, Chapter
from .paper_figures import write_paper_figures


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _margin(c: dict) -> str:
    m = c.get("margin")
    return "-" if m is None else f"{m:.2f}"


def _broken_by(c: dict, chapter: dict | None) -> str:
    if chapter is None:
        return "not run"
    claim = chapter["claims"].get(c["name"])
    if claim is None:
        return "not in run"
    return ", ".join(f"`{n}`" for n in claim["broken_by"]) or "**none**"


def _draws_cell(c: dict, chapter: dict | None) -> str:
    if chapter is None:
        return "not run"
    seen = chapter["checks"].get(c["name"])
    if seen is None:
        return "not in run"
    worst = "" if seen["min_margin"] is None else f", margin ≥ {seen['min_margin']:.2f}"
    text = f"{seen['passed']} of {seen['runs']}{worst}"
    return text if seen["passed"] == seen["runs"] else f"**{text}**"


def _check_table(title: str, what: str, rows: list[dict], extra: list) -> list[str]:
    # One table of checks; ``extra`` holds (header, cell function) columns (claims: broken by, other draws).
    if not rows:
        return []
    heads = "".join(f" {h} |" for h, _ in extra)
    lines = [title, "", f"| {what} | measured | expected | margin | result |{heads} source |",
             "|---|---|---|---|---|" + "---|" * len(extra) + "---|"]
    for c in rows:
        cells = [_cell(c["name"]), format_value(c["measured"]), _cell(describe_bounds(c)), _margin(c),
                 "pass" if c["passed"] else "**FAIL**"] + [f(c) for _, f in extra] + [_cell(c["source"])]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def _draws_summary(records: list[dict], drawn: dict | None) -> list[str]:
    if drawn is None:
        return ["No record of other draws is present (`python -m saddlebook draws` writes "
                "`book/draws.json`), so this build does not say whether its claims hold at other seeds.", ""]
    lines = [
        f"The build checks one draw of every random ingredient (the seeds in *Parameters used* "
        f"below). The record of other draws (last run {drawn['made_at']}, commit `{drawn['commit'][:12]}`; "
        "each chapter's commit is in `book/draws.json`) executed each chapter at the other seeds its "
        "front matter declares (`saddlebook: draws`), in its default and its quick setting, with "
        "failed checks recorded instead of raised. Column *other draws* below gives, for each claim, "
        "at how many of those runs it passed and its smallest margin there.",
        "",
        "| chapter | other draws | runs | stopped | claims passed at every run |",
        "|---|---|---|---|---|",
    ]
    claims_of = {r["chapter"]: [c for c in r["checks"] if c.get("kind") == "claim"] for r in records}
    failing, absent = [], []
    for stem, ch in drawn["chapters"].items():
        draws = []
        for run in ch["runs"]:
            o = {k: v for k, v in run["overrides"].items() if k != "quick"}
            if o not in draws:
                draws.append(o)
        claims = claims_of.get(stem, [])
        seen = [ch["checks"].get(c["name"]) for c in claims]
        held = sum(1 for x in seen if x and x["passed"] == x["runs"])
        stopped = sum(r["status"] != "completed" for r in ch["runs"])
        lines.append(f"| {stem} | {_cell('; '.join(', '.join(f'{k}={v!r}' for k, v in d.items()) for d in draws))} "
                     f"| {len(ch['runs'])} | {stopped} | {held} of {len(claims)} |")
        absent += [f"- {stem}: {_cell(c['name'])}" for c in claims if c["name"] not in ch["checks"]]
        # every check that failed at some run, including those whose names only the quick setting makes
        for name, x in ch["checks"].items():
            if x["passed"] < x["runs"]:
                at = "; ".join(", ".join(f"{k}={v!r}" for k, v in o.items()) for o in x["failed_at"])
                failing.append(f"- {stem}, {x['kind']}: {_cell(name)} (failed at {_cell(at)})")
    lines.append("")
    lines += (["Checks that failed at some other draw:", ""] + failing + [""]) if failing else [
        "**No check failed at any of these runs.**", ""]
    if absent:
        lines += ["Claims of this build that no run at another draw made (their names depend on "
                  "parameters the draws change):", ""] + absent + [""]
    stopped = [f"- {stem} at {_cell(run['overrides'])}: {_cell(run['status'])}"
               for stem, ch in drawn["chapters"].items() for run in ch["runs"] if run["status"] != "completed"]
    if stopped:
        lines += ["Runs that stopped early:", ""] + stopped + [""]
    return lines


def _falsification_summary(records: list[dict], fals: dict | None) -> list[str]:
    if fals is None:
        return [
            "No falsification record is present (`python -m saddlebook falsify` writes "
            "`book/falsification.json`), so this build does not say which claims a "
            "counterfactual would break.",
            "",
        ]
    claims = [(r["chapter"], c) for r in records for c in r["checks"] if c.get("kind") == "claim"]
    shown = [(stem, c) for stem, c in claims if _broken_by(c, fals["chapters"].get(stem)).startswith("`")]
    lines = [
        f"The falsification record (last run {fals['made_at']}, commit `{fals['commit'][:12]}`; a run "
        "for some chapters replaces only their entries, and each chapter's commit is in "
        f"`book/falsification.json`) executed the chapters in their {fals['setting']} setting once as "
        "they are and once per counterfactual below, with failed checks recorded instead of raised:",
        "",
        "| counterfactual | what it changes |",
        "|---|---|",
    ]
    lines += [f"| `{k}` | {_cell(v)} |" for k, v in fals["counterfactuals"].items()]
    lines += [
        "",
        f"**{len(shown)} of the {len(claims)} claim checks of this build failed under at least one "
        "counterfactual** (column *broken by* below). A claim marked *not in run* has no entry in "
        "the record: its name depends on parameters that differ from the falsification setting, or "
        "the claim was changed after its chapter's falsification run.",
        "",
    ]
    unbroken = [(stem, c) for stem, c in claims if _broken_by(c, fals["chapters"].get(stem)) == "**none**"]
    if unbroken:
        lines += ["Claim checks that no counterfactual broke:", ""]
        lines += [f"- {stem}: {_cell(c['name'])}" for stem, c in unbroken]
        lines.append("")
    stopped = [
        f"- {stem} under `{cf}`: {_cell(run['status'])}"
        for stem, ch in fals["chapters"].items() for cf, run in ch["runs"].items()
        if run["status"] != "completed"
    ]
    if stopped:
        lines += ["Runs that stopped early (the checks after the stop were not evaluated):", ""] + stopped + [""]
    return lines


def verification_markdown(records: list[dict], falsification: dict | None = None,
                          drawn: dict | None = None) -> str:
    total = sum(len(r["checks"]) for r in records)
    passed = sum(c["passed"] for r in records for c in r["checks"])
    n_claim = sum(c.get("kind") == "claim" for r in records for c in r["checks"])
    lines = [
        "(verification)=",
        "# Verification",
        "",
        "Every statement the book verifies is a call to `saddlebook.book.checks.check`, which raises "
        "if the measured value is out of tolerance; a chapter with a failing check is not "
        "published. This page is written by the build from the records of the executed "
        "chapters, so it always matches the pages you are reading.",
        "",
        "Each check has a kind. A **claim** compares a measurement with what the paper or one "
        "of our derivations predicts, at a tolerance the measurement could miss; only claims "
        "are evidence for the paper. A **consistency** check is an implementation cross-check, "
        "algebra, round-off or a property of the set-up. The **margin** says how far inside "
        "its tolerance a check landed: 1 dead centre, 0 on the edge (for bounds: the distance "
        "to the nearest bound over the interval's half-width, or over the bound's magnitude).",
        "",
        f"**{passed} of {total} checks passed** across {len(records)} chapters: "
        f"{n_claim} claims and {total - n_claim} consistency checks.",
        "",
        "## Falsification",
        "",
        *_falsification_summary(records, falsification),
        "## Other draws",
        "",
        *_draws_summary(records, drawn),
        "## Parameters used",
        "",
        *_parameters_table(records),
        "",
        "## Checks by chapter",
        "",
    ]
    for r in records:
        lines += _chapter_checks(r, falsification, drawn)
    return "\n".join(lines) + "\n"


def _parameters_table(records: list[dict]) -> list[str]:
    lines = ["| chapter | executed | seconds | parameters |", "|---|---|---|---|"]
    for r in records:
        params = ", ".join(
            f"`{k}={v!r}`" + (" (overridden)" if k in r.get("overrides", {}) else "")
            for k, v in r["parameters"].items()
        )
        lines.append(
            f"| {_cell(r['chapter'])} | {_cell(r.get('executed_at', ''))} | "
            f"{r.get('seconds', '')} | {_cell(params)} |"
        )
    return lines


def _chapter_checks(r: dict, falsification: dict | None, drawn: dict | None) -> list[str]:
    # A chapter's claims and consistency checks; nothing for a chapter without checks.
    if not r["checks"]:
        return []
    fals = None if falsification is None else falsification["chapters"].get(r["chapter"])
    other = None if drawn is None else drawn["chapters"].get(r["chapter"])
    claims = [c for c in r["checks"] if c.get("kind") == "claim"]
    others = [c for c in r["checks"] if c.get("kind") != "claim"]
    extra = [("broken by", (lambda c: "-") if falsification is None else (lambda c: _broken_by(c, fals))),
             ("other draws", (lambda c: "-") if drawn is None else (lambda c: _draws_cell(c, other)))]
    return ([f"### {r['chapter']}", ""]
            + _check_table(f"Claims ({len(claims)})", "claim", claims, extra)
            + _check_table(f"Consistency checks ({len(others)})", "check", others, []))


def _record(root: Path, name: str) -> dict | None:
    path = root / "book" / name
    return json.loads(path.read_text()) if path.is_file() else None


def _verification(root: Path, records: list[dict]) -> str:
    return verification_markdown(records, _record(root, "falsification.json"), _record(root, "draws.json"))


def write_verification(root: Path, chapters: list[Chapter]) -> Path:
    """Write only the Verification page (see :func:`write_generated` for all pages)."""
    return _write_if_changed(
        root / GENERATED / "verification.md", _verification(root, _records(chapters))
    )

def _git(root: Path, *args: str) -> str:
    import subprocess

    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


_VERSIONS = (
    "torch", "numpy", "scipy", "matplotlib", "jupyter-book", "sphinx", "myst-nb", "myst-parser",
    "sphinx-book-theme", "sphinx-proof", "sphinx-exercise", "sphinxcontrib-bibtex", "papermill",
    "jupytext", "nbclient", "ipykernel",
)


def provenance_markdown(root: Path, records: list[dict]) -> str:
    """What produced this build: commit, date, machine, versions, per-chapter runs."""
    import os
    import platform
    import sys
    from datetime import datetime, timezone
    from importlib.metadata import PackageNotFoundError, version

    commit = _git(root, "rev-parse", "HEAD")
    dirty = _git(root, "status", "--porcelain", "--untracked-files=no")
    state = "" if dirty in ("", "unknown") else " (with uncommitted changes)"
    lines = [
        "(provenance)=",
        "# Provenance",
        "",
        "What produced the pages you are reading. Written by the build; the per-chapter "
        "rows come from each chapter's execution record (a chapter that was up to date "
        "keeps the record of the run that produced it).",
        "",
        "| | |",
        "|---|---|",
        f"| git commit | `{commit}`{state} |",
        f"| HTML built | {datetime.now(timezone.utc).isoformat(timespec='seconds')} |",
        f"| machine | {_cell(_cpu_model())}, {os.cpu_count()} logical cores, {platform.machine()} |",
        f"| operating system | {_cell(platform.platform())} |",
        f"| Python | {sys.version.split()[0]} |",
        "",
        "## Package versions",
        "",
        "| package | version |",
        "|---|---|",
    ]
    for name in _VERSIONS:
        try:
            v = version(name)
        except PackageNotFoundError:
            v = "not installed"
        lines.append(f"| {name} | {v} |")
    lines += [
        "",
        "## Chapter executions",
        "",
        "| chapter | executed at (UTC) | seconds | parameters | cache key |",
        "|---|---|---|---|---|",
    ]
    for r in records:
        params = ", ".join(f"`{k}={v!r}`" for k, v in r["parameters"].items())
        lines.append(
            f"| {_cell(r['chapter'])} | {_cell(r.get('executed_at', ''))} | {r.get('seconds', '')} | "
            f"{_cell(params)} | `{r.get('cache_key', '')[:12]}` |"
        )
    return "\n".join(lines) + "\n"


def _records(chapters: list[Chapter]) -> list[dict]:
    records = []
    for ch in chapters:
        path = ch.record()
        if not path.is_file():
            raise FileNotFoundError(
                f"chapter {ch.stem} has no execution record at {path}; execute it first"
            )
        records.append(json.loads(path.read_text()))
    return records


def _write_if_changed(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text() != text:  # unchanged file → Sphinx keeps its cache
        path.write_text(text)
    return path


def write_generated(root: Path, chapters: list[Chapter]) -> list[Path]:
    """Write every generated page (Verification, Provenance, the paper's figures)."""
    records = _records(chapters)
    return [
        _write_if_changed(root / GENERATED / "verification.md", _verification(root, records)),
        _write_if_changed(root / GENERATED / "provenance.md", provenance_markdown(root, records)),
        write_paper_figures(root, chapters),
    ]
