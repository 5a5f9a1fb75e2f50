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
    records = []
    for ch in chapters:
        path = ch.record()
        if not path.is_file():
            raise FileNotFoundError(
                f"chapter {ch.stem} has no execution record at {path}; execute it first"
            )
        records.append(json.loads(path.read_text()))
    out = root / GENERATED / "verification.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    text = verification_markdown(records)
    if not out.is_file() or out.read_text() != text:  # unchanged file → Sphinx keeps its cache
        out.write_text(text)
    return out
