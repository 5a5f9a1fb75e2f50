"""Lints of the chapter sources that the HTML build does not catch."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "chapters").glob("*.md")) + sorted((ROOT / "book").glob("*.md"))


def test_refs_to_headings_with_math_carry_their_own_text():
    # Sphinx uses the heading as the link text and shows its TeX raw ("$u \ge s$").
    headings = {}
    for path in SOURCES:
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines[:-1]):
            m = re.match(r"^\((.+)\)=$", line)
            if m and lines[i + 1].startswith("#"):
                headings[m.group(1)] = lines[i + 1]
    bad = [
        f"{path.name}: {{ref}}`{label}` -> {headings[label]!r}"
        for path in SOURCES
        for label in re.findall(r"\{ref\}`([^`<]+)`", path.read_text())
        if "$" in headings.get(label, "")
    ]
    assert not bad, "give these references explicit text, {ref}`text <label>`:\n" + "\n".join(bad)
