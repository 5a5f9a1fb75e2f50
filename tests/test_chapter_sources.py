"""Lints of the chapter sources that the HTML build does not catch."""
import ast
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


def _code_cells(text: str) -> list[str]:
    """The source of every code cell, options and IPython magics left out."""
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):
        if not lines[i].startswith("```{code-cell}"):
            i += 1
            continue
        j = i + 1
        if j < len(lines) and lines[j].strip() == "---":
            j = lines.index("---", j + 1) + 1
        while lines[j].startswith(":"):
            j += 1
        k = j
        while not lines[k].startswith("```"):
            k += 1
        out.append("\n".join(line for line in lines[j:k] if not line.lstrip().startswith(("%", "!"))))
        i = k + 1
    return out


def _assembles_prose(node, assigned: dict, seen: frozenset = frozenset()) -> str | None:
    """Why an expression handed to ``Markdown(...)`` is prose put together in Python, or None.

    An f-string that only marks up one value (``f"`{activation}`"``, no words) is a value,
    not prose; a name is followed to its assignments in the chapter.
    """
    if isinstance(node, ast.JoinedStr):
        literal = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
        return "an f-string with words" if re.search(r"[A-Za-z]{2}", literal) else None
    if isinstance(node, (ast.IfExp, ast.BoolOp)):
        return "a conditional expression"
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Attribute) and node.func.attr == "join":
            return "a string join"
        return None  # table(...), PARAMETERS.markdown(...), a value's own text
    if isinstance(node, ast.BinOp):
        if any(isinstance(side, ast.Constant) and isinstance(side.value, str) and re.search(r"[A-Za-z]{2}", side.value)
               for side in (node.left, node.right)):
            return "a string concatenation"
        return _assembles_prose(node.left, assigned, seen) or _assembles_prose(node.right, assigned, seen)
    if isinstance(node, ast.Name) and node.id not in seen:
        values = assigned.get(node.id, [])
        if len(values) > 1:
            return f"{node.id!r}, a text chosen among {len(values)} assignments"
        return next((why for v in values if (why := _assembles_prose(v, assigned, seen | {node.id}))), None)
    return None


def _words_in_text_glue(node, functions: dict | None = None) -> str | None:
    """Why a plain-text glue value is prose chosen or listed in Python, or None.

    Numbers, ranges ("a to b") and lists of values are values; a word picked by a
    conditional, or a list whose items carry words, is prose (a sentence or a table).
    """
    def has_words(n):
        return any(isinstance(c, ast.Constant) and isinstance(c.value, str) and re.search(r"[A-Za-z]{3}", c.value)
                   for c in ast.walk(n))
    branches = [node.body, node.orelse] if isinstance(node, ast.IfExp) else \
        node.values if isinstance(node, ast.BoolOp) else []
    if any(isinstance(b, (ast.Constant, ast.JoinedStr)) and has_words(b) for b in branches):
        return "a word chosen by a conditional"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join" \
            and node.args and has_words(node.args[0]):
        return "a joined list of items with words (use book.table)"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in (functions or {}):
        returns = [r.value for r in ast.walk(functions[node.func.id]) if isinstance(r, ast.Return) and r.value]
        if any(_words_in_text_glue(r) or (isinstance(r, (ast.Constant, ast.JoinedStr)) and has_words(r))
               for r in returns):
            return f"words chosen by the chapter's function {node.func.id}()"
    return None


def _prose_glued_as_markdown(text: str) -> list[tuple[str, str]]:
    """(key, reason) for every ``glue(key, Markdown(x))`` whose x is assembled prose."""
    trees = []
    for source in _code_cells(text):
        try:
            trees.append(ast.parse(source))
        except SyntaxError:
            continue
    assigned: dict[str, list] = {}
    functions = {node.name: node for tree in trees for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        assigned.setdefault(target.id, []).append(node.value)
    found = []
    for tree in trees:
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "glue"
                    and len(node.args) >= 2):
                continue
            value = node.args[1]
            if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "Markdown":
                why = _assembles_prose(value.args[0], assigned) if value.args else None
            else:
                why = _words_in_text_glue(value, functions)
            if why:
                key = node.args[0]
                found.append((key.value if isinstance(key, ast.Constant) else ast.unparse(key), why))
    return found


# Glued Markdown that still assembles text in Python, in chapters whose owners have not
# rewritten it yet: (chapter, key) -> what it is. Each entry must still be needed.
PROSE_IN_PYTHON_ALLOWED: dict = {}


def test_no_chapter_glues_prose_assembled_in_python():
    # QuantEcon style: glue numbers and book.table(...) tables; the sentence is MyST prose
    # that is true whatever was measured (or states the criterion), and check() decides.
    found = {(path.name, key): why for path in sorted((ROOT / "chapters").glob("*.md"))
             for key, why in _prose_glued_as_markdown(path.read_text())}
    bad = [f"{name}: {key} ({why})" for (name, key), why in found.items()
           if (name, key) not in PROSE_IN_PYTHON_ALLOWED]
    stale = [f"{name}: {key}" for name, key in PROSE_IN_PYTHON_ALLOWED if (name, key) not in found]
    assert not bad, ("glued Markdown assembled from an f-string, a join or a conditional; glue the "
                     "numbers or a book.table(...) and write the sentence in MyST:\n" + "\n".join(bad))
    assert not stale, "allow-list entries no longer needed:\n" + "\n".join(stale)


def test_the_prose_lint_sees_every_form():
    cell = "```{code-cell} ipython3\n:tags: [hide-input]\n\n%s\n```\n"
    flagged = {
        'glue("a", Markdown(f"escape at t = {t:.3g}"))': "f-string",
        'glue("a", Markdown(", ".join(names)), display=False)': "join",
        'glue("a", Markdown("none" if x is None else "some"))': "conditional",
        'glue("a", Markdown(", ".join(names) or "none"))': "conditional",
        'v = f"rho is {rho:.2g}"\nglue("a", Markdown(v))': "f-string",
        'if ok:\n    v = "met"\nelse:\n    v = "not met"\nglue("a", Markdown(v))': "chosen",
        'glue("a", Markdown("met for " + s))': "concatenation",
        'glue("a", Markdown("$" + s + "$"))': None,
        'glue("a", "below" if x < 0 else "above")': "conditional",
        'glue("a", "; ".join(f"{n} {v:.3f} (draws {lo:.3f})" for n in names))': "joined list",
        'glue("a", ", ".join(str(s) for s in seeds))': None,
        'glue("a", f"{lo:.3f} to {hi:.3f}")': None,
        'glue("a", float("nan") if t is None else float(t))': None,
        'def side(e):\n    return "inside" if e < 1 else "outside"\nglue("a", side(x))': "function",
        'def f(e):\n    return float(e)\nglue("a", f(x))': None,
    }
    for source, why in flagged.items():
        found = _prose_glued_as_markdown(cell % source)
        assert (why is None and not found) or (found and why in found[0][1]), (source, found)
    for source in ['glue("a", Markdown(PARAMETERS.markdown(PARAMETERS.validate(globals()))))',
                   'glue("a", Markdown(f"`{activation}`"), display=False)',
                   'glue("a", table(["x"], rows))', 'glue("a", Markdown(cvm.source))']:
        assert not _prose_glued_as_markdown(cell % source), source


def test_directive_fences_have_no_backtick_in_their_argument():
    # CommonMark: a backtick fence's info string may not hold a backtick; such a line is
    # silently prose, and the directive (a table caption, say) never happens.
    bad = []
    for path in sorted((ROOT / "chapters").glob("*.md")):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            m = re.match(r"(`{3,})\{", line)
            if m and "`" in line[len(m.group(1)):]:
                bad.append(f"{path.name}:{i}: {line[:80]}")
    assert not bad, "\n".join(bad)
