"""Pages generated from the chapters' execution records (never hand-written).

The Verification page is one table of every check in the book, written from
the JSON record beside each executed notebook.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..checks import describe_bounds, format_value
from .chapters import GENERATED, Chapter


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def verification_markdown(records: list[dict]) -> str:
    total = sum(len(r["checks"]) for r in records)
    passed = sum(c["passed"] for r in records for c in r["checks"])
    lines = [
        "(verification)=",
        "# Verification",
        "",
        "Every claim the book verifies is a call to `saddlebook.checks.check`, which raises "
        "if the measured value is out of tolerance; a chapter with a failing check is not "
        "published. This table is written by the build from the records of the executed "
        "chapters, so it always matches the pages you are reading.",
        "",
        f"**{passed} of {total} checks passed** across {len(records)} chapters.",
        "",
        "## Parameters used",
        "",
        "| chapter | executed | seconds | parameters |",
        "|---|---|---|---|",
    ]
    for r in records:
        params = ", ".join(
            f"`{k}={v!r}`" + (" (overridden)" if k in r.get("overrides", {}) else "")
            for k, v in r["parameters"].items()
        )
        lines.append(
            f"| {_cell(r['chapter'])} | {_cell(r.get('executed_at', ''))} | "
            f"{r.get('seconds', '')} | {_cell(params)} |"
        )
    lines += [
        "",
        "## Checks",
        "",
        "| chapter | claim | measured | expected | result | source |",
        "|---|---|---|---|---|---|",
    ]
    for r in records:
        for c in r["checks"]:
            result = "pass" if c["passed"] else "**FAIL**"
            lines.append(
                f"| {_cell(r['chapter'])} | {_cell(c['name'])} | {format_value(c['measured'])} | "
                f"{_cell(describe_bounds(c))} | {result} | {_cell(c['source'])} |"
            )
    return "\n".join(lines) + "\n"


def write_verification(root: Path, chapters: list[Chapter]) -> Path:
    """Write only the Verification page (see :func:`write_generated` for all pages)."""
    return _write_if_changed(root / GENERATED / "verification.md", verification_markdown(_records(chapters)))

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
    """Write every generated page (Verification, Provenance)."""
    records = _records(chapters)
    return [
        _write_if_changed(root / GENERATED / "verification.md", verification_markdown(records)),
        _write_if_changed(root / GENERATED / "provenance.md", provenance_markdown(root, records)),
    ]
