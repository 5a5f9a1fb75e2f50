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


def _glue_keys(text: str) -> tuple[list[str], set[str]]:
    """Keys glued by literal name in code, and keys the prose shows."""
    glued = re.findall(r"""\bglue\(\s*["']([^"'{}]+)["']""", text)
    shown = set(re.findall(r"\{glue(?::\w+)?\}`([^`:]+)", text))
    shown |= set(re.findall(r"\{glue(?::\w+)?\}\s*([\w.-]+)", text))
    return glued, shown


def test_every_glued_key_is_shown():
    # A glued number the prose never shows is computed, stored and read by no one.
    unused = []
    for path in sorted((ROOT / "chapters").glob("*.md")):
        glued, shown = _glue_keys(path.read_text())
        unused += [f"{path.name}: {key}" for key in dict.fromkeys(glued) if key not in shown]
    assert not unused, "glued but never shown:\n" + "\n".join(unused)


def test_the_lint_sees_glue_in_every_form():
    text = 'glue("a", 1)\n glue(\'b\', 2, display=False)\nglue(f"c-{x}", 3)\n{glue:text}`a:.3g` {glue}`b`\n'
    glued, shown = _glue_keys(text)
    assert glued == ["a", "b"] and shown == {"a", "b"}
    assert _glue_keys("```{glue:figure} fig-x\n```")[1] == {"fig-x"}
