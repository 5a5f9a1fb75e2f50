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


def _code_cell_lengths(text: str) -> list[tuple[int, int]]:
    """(first line, number of code lines) of every code cell, options excluded."""
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):
        if not lines[i].startswith("```{code-cell}"):
            i += 1
            continue
        j = i + 1
        if j < len(lines) and lines[j].strip() == "---":
            j = lines.index("---", j + 1) + 1
        options = []
        while lines[j].startswith(":"):
            options.append(lines[j])
            j += 1
        k = j
        while not lines[k].startswith("```"):
            k += 1
        body = [line for line in lines[j:k] if line.strip()]
        # The validate cell is the chapter's declaration of its parameters (one entry per
        # parameter) and must be one cell: the pipeline runs it alone, before any kernel.
        if not any("validate" in o for o in options):
            out.append((i + 1, len(body)))
        i = k + 1
    return out


def test_no_code_cell_is_longer_than_a_reader_takes_in_at_once():
    # QuantEcon-style lectures: compute, check and plot in separate short cells.
    long = [f"{path.name}:{line} has {n} lines" for path in sorted((ROOT / "chapters").glob("*.md"))
            for line, n in _code_cell_lengths(path.read_text()) if n > 40]
    assert not long, "code cells over 40 lines:\n" + "\n".join(long)
