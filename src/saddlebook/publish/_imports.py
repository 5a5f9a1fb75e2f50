"""Which package modules a chapter uses: the part of the package its cache key covers.

Found statically (nothing is imported or executed), so it works on a package that fails
to import. A chapter writes ``import saddlebook as sb`` and calls ``sb.name``; the
package's ``__init__`` files only re-export names (a test holds them to that), so an
``__init__`` is followed only for the names asked of it. A chapter that calls
``sb.sweep`` therefore depends on the module defining ``sweep`` and on what that module
imports, not on every module the top level re-exports.
"""
from __future__ import annotations

import ast
import contextlib
import functools
import re
from pathlib import Path
from typing import Iterator

# Decides how chapters run, not what they compute: no chapter's key covers it unless the
# chapter imports it itself.
_UNKEYED = "publish"
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\{code-cell\}")
_OPTION = re.compile(r"^:[\w-]+:")
_MAGIC = re.compile(r"^([ \t]*)[%!].*$", re.MULTILINE)
ALL = None  # "every name": a module is followed whole
Wanted = frozenset | None


def code_cells(text: str) -> list[str]:
    """The Python of each ``{code-cell}`` block of a MyST notebook, cell options removed."""
    cells, body, fence = [], None, ""
    for line in text.splitlines():
        if body is None:
            if match := _FENCE.match(line):
                body, fence = [], match.group(1)
            continue
        closing = line.strip()
        if closing and set(closing) == {fence[0]} and len(closing) >= len(fence):
            cells.append("\n".join(_without_options(body)))
            body = None
        else:
            body.append(line)
    return cells


def _without_options(lines: list[str]) -> list[str]:
    if lines and lines[0].strip() == "---":  # a YAML options block
        end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() == "---"), 0)
        return lines[end + 1:]
    start = 0
    while start < len(lines) and _OPTION.match(lines[start]):
        start += 1
    return lines[start:]


def parse(code: str | bytes) -> ast.Module:
    """``code`` as Python; empty if it does not parse even with IPython magics removed."""
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError):
        pass
    if isinstance(code, str):
        # ``pass`` rather than nothing: a magic may be the only line of an indented block.
        with contextlib.suppress(SyntaxError, ValueError):
            return ast.parse(_MAGIC.sub(r"\1pass", code))
    return ast.Module(body=[], type_ignores=[])


def _statements(body: list) -> Iterator[ast.AST]:
    """Every statement in ``body``, nested ones too (imports inside functions count)."""
    for node in body:
        yield node
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            yield from _statements(getattr(node, field, None) or [])


def _below(dotted: str | None, name: str) -> tuple[str, ...] | None:
    parts = tuple((dotted or "").split("."))
    return parts[1:] if parts[0] == name else None


def _from_base(node: ast.ImportFrom, name: str, here: tuple[str, ...] | None):
    if node.level == 0:
        return _below(node.module, name)
    if here is None or node.level - 1 > len(here):  # a chapter, or above the package
        return None
    base = here[: len(here) - (node.level - 1)]
    return base + tuple(node.module.split(".")) if node.module else base


def _attributes_of(tree: ast.Module, alias: str) -> Wanted:
    """Names read as ``alias.name`` in ``tree``; ALL if ``alias`` is also used bare."""
    names = [n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
             and isinstance(n.value, ast.Name) and n.value.id == alias]
    bare = sum(isinstance(n, ast.Name) and n.id == alias for n in ast.walk(tree))
    return frozenset(names) if bare == len(names) else ALL


def imports(tree: ast.Module, name: str, here: tuple[str, ...] | None,
            usage: ast.Module | None = None) -> set[tuple[tuple[str, ...], Wanted]]:
    """(module, names wanted of it) for every import of package ``name`` in ``tree``.

    ``here`` is the package holding the importing module (``None`` for a chapter);
    ``usage`` is the code in which ``import pkg as alias`` is looked up for ``alias.name``
    (a chapter's cells together); without it such a module is wanted whole.
    """
    found = set()
    for node in _statements(tree.body):
        if isinstance(node, ast.Import):
            for a in node.names:
                parts = _below(a.name, name)
                if parts is None:
                    continue
                alias = a.asname or (a.name if not parts else None)
                wanted = _attributes_of(usage, alias) if usage is not None and alias else ALL
                found.add((parts, wanted))
        elif isinstance(node, ast.ImportFrom):
            base = _from_base(node, name, here)
            if base is not None:
                asked = frozenset(a.name for a in node.names)
                found.add((base, ALL if "*" in asked else asked))
                found.update((base + (a.name,), ALL) for a in node.names if a.name != "*")
    return found


def _reexports(tree: ast.Module, here: tuple[str, ...], name: str, wanted: Wanted):
    """What an ``__init__`` imports to provide ``wanted``: (module, names) pairs."""
    for node in tree.body:
        if isinstance(node, ast.Import):
            yield from imports(ast.Module(body=[node], type_ignores=[]), name, here)
            continue
        base = _from_base(node, name, here) if isinstance(node, ast.ImportFrom) else None
        if base is None:
            continue
        for a in node.names:
            if a.name == "*" or wanted is ALL or (a.asname or a.name) in wanted:
                if base != here:
                    yield base, ALL if a.name == "*" else frozenset([a.name])
                if a.name != "*":
                    yield base + (a.name,), ALL  # the name may be a submodule


def _file(parts: tuple[str, ...], package: Path) -> Path | None:
    init = package.joinpath(*parts, "__init__.py")
    if init.is_file():
        return init
    module = package.joinpath(*parts[:-1], parts[-1] + ".py") if parts else None
    return module if module is not None and module.is_file() else None


def package_modules(chapter_source: Path, package: Path, name: str | None = None) -> list[Path]:
    """The package's source files a chapter uses, directly or through other modules.

    Parameters
    ----------
    chapter_source : Path
        The chapter's MyST notebook; its ``{code-cell}`` blocks are read for imports.
        A cell that does not parse, even with IPython magic lines removed, is skipped.
    package : Path
        The package directory.
    name : str, optional
        The package's import name; by default the directory's name.

    Returns
    -------
    list of Path
        Every module defining a name the chapter uses, what those modules import, and
        the ``__init__`` files on the way, sorted by path below ``package``.
        ``publish/`` is in it only if the chapter imports from it itself.
    """
    name = name or package.name
    cells = [parse(c) for c in code_cells(chapter_source.read_text())]
    usage = ast.Module(body=[s for t in cells for s in t.body], type_ignores=[])
    todo = [(p, w, True) for p, w in imports(usage, name, None, usage)]
    found, seen = set(), set()
    while todo:
        parts, wanted, from_chapter = todo.pop()
        for i in range(len(parts)):  # importing a.b runs a/__init__.py first
            todo.append((parts[:i], frozenset(), from_chapter))
        f = _file(parts, package)
        if f is None or (parts, wanted) in seen or (_unkeyed(f, package) and not from_chapter):
            continue
        seen.add((parts, wanted))
        found.add(f)
        is_init = f.name == "__init__.py"
        here = parts if is_init else parts[:-1]
        tree = _parsed(f.read_bytes())
        follow = _reexports(tree, here, name, wanted) if is_init else imports(tree, name, here)
        todo += [(p, w, _unkeyed(f, package)) for p, w in follow]
    return sorted(found, key=lambda f: f.relative_to(package).as_posix())


@functools.lru_cache(maxsize=512)
def _parsed(source: bytes) -> ast.Module:
    # Keyed by the bytes, so an edited module is parsed afresh.
    return parse(source)


def _unkeyed(path: Path, package: Path) -> bool:
    return path.relative_to(package).parts[0] == _UNKEYED
