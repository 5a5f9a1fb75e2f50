"""The book's chapters: where they live, what parameters they take.

The table of contents (``_toc.yml``) is the single list of chapters: every
entry under ``book/executed/`` is the executed copy of ``chapters/<stem>.md``.
"""
from __future__ import annotations

import ast
import contextlib
import io
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import jupytext
import nbformat
import yaml
from papermill.translators import PythonTranslator

from ..errors import ParameterError

EXECUTED = Path("book") / "executed"
GENERATED = Path("book") / "generated"


def find_root(start: Path | None = None) -> Path:
    """The repository root: the nearest folder holding ``_toc.yml`` and ``chapters/``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").is_file() and (folder / "chapters").is_dir():
            return folder
    raise FileNotFoundError(
        f"no saddlebook checkout found at or above {here} (looked for _toc.yml and chapters/)"
    )


def _toc_files(node) -> list[str]:
    files = []
    if isinstance(node, dict):
        for key in ("root", "file"):
            if isinstance(node.get(key), str):
                files.append(node[key])
        for value in node.values():
            if isinstance(value, (list, dict)):
                files.extend(_toc_files(value))
    elif isinstance(node, list):
        for item in node:
            files.extend(_toc_files(item))
    return files


@dataclass(frozen=True)
class Chapter:
    """One chapter: its MyST source and where its executed copy goes."""

    root: Path
    stem: str

    @property
    def source(self) -> Path:
        return self.root / "chapters" / f"{self.stem}.md"

    @property
    def paired(self) -> Path:
        """The Jupytext-paired notebook (generated, never committed, never executed into)."""
        return self.root / "chapters" / f"{self.stem}.ipynb"

    def executed(self, out_dir: Path | None = None) -> Path:
        return (out_dir or self.root / EXECUTED) / f"{self.stem}.ipynb"

    def record(self, out_dir: Path | None = None) -> Path:
        """JSON beside the executed notebook: parameters, timing, cache key, checks."""
        return (out_dir or self.root / EXECUTED) / f"{self.stem}.json"

    @cached_property
    def notebook(self):
        return jupytext.read(self.source)

    @property
    def run_alone(self) -> bool:
        """True if the chapter's front matter asks to execute with no other chapter running.

        Set ``saddlebook: {run_alone: true}`` in the front matter of pages that time code.
        """
        return bool((self.notebook.metadata.get("saddlebook") or {}).get("run_alone", False))

    @property
    def draws(self) -> list[dict]:
        """The other draws the chapter's claims must hold at, from its front matter.

        ``saddlebook: {draws: [{seed: 1}, {seed: 2}, ...]}``: each entry is a set
        of parameter overrides (seeds only, by convention) that
        ``python -m saddlebook draws`` executes; empty if none are declared.
        """
        draws = (self.notebook.metadata.get("saddlebook") or {}).get("draws", [])
        if not isinstance(draws, list) or not all(isinstance(d, dict) and d for d in draws):
            raise ParameterError(
                f"chapter {self.stem}: front matter 'saddlebook: draws' must be a list of "
                "non-empty parameter mappings, e.g. [{seed: 1}, {seed: 2}]"
            )
        return [dict(d) for d in draws]

    def _tagged(self, tag: str) -> str:
        cells = [
            c for c in self.notebook.cells
            if c.cell_type == "code" and tag in c.get("metadata", {}).get("tags", [])
        ]
        if len(cells) != 1:
            raise ValueError(
                f"chapter {self.stem}: expected exactly one code cell tagged '{tag}', found {len(cells)}"
            )
        return cells[0].source

    def defaults(self) -> dict:
        """Parameter names and default values, read from the ``parameters`` cell.

        The cell must hold only literal assignments (``name = <literal>``), which
        is what lets papermill and this pipeline override them safely.
        """
        out = {}
        for node in ast.parse(self._tagged("parameters")).body:
            if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name)):
                raise ValueError(
                    f"chapter {self.stem}: the parameters cell may hold only 'name = literal' lines"
                )
            out[node.targets[0].id] = ast.literal_eval(node.value)
        # papermill reads the cell with its own line parser, which drops a line it cannot
        # parse (e.g. a comment containing '=') and then ignores that override silently.
        seen = {p.name for p in PythonTranslator.inspect(nbformat.v4.new_code_cell(self._tagged("parameters")))}
        if seen != set(out):
            raise ValueError(
                f"chapter {self.stem}: papermill cannot read parameter(s) {', '.join(sorted(set(out) - seen))} "
                "of the parameters cell; write each as 'name = literal  # comment' with no '=' in the comment"
            )
        return out

    def validate(self, overrides: dict) -> dict:
        """Merge ``overrides`` into the defaults and run the chapter's ``validate`` cell.

        Runs in this process, before any kernel starts: an unknown parameter
        name or a value out of range raises :class:`ParameterError`.
        Returns the full, merged parameter dict.
        """
        defaults = self.defaults()
        unknown = sorted(set(overrides) - set(defaults))
        if unknown:
            raise ParameterError(
                f"chapter {self.stem} has no parameter {', '.join(map(repr, unknown))}; "
                f"its parameters are: {', '.join(defaults)}"
            )
        merged = {**defaults, **overrides}
        namespace = dict(merged)
        # The validate cell may print; keep the command line quiet.
        code = compile(self._tagged("validate"), f"<{self.stem}: validate cell>", "exec")
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(code, namespace)
        except ParameterError:
            raise
        except (ValueError, TypeError) as err:
            raise ParameterError(f"chapter {self.stem}: {err}") from None
        return merged


def chapters(root: Path | None = None) -> list[Chapter]:
    """The chapters listed in ``_toc.yml``, in reading order."""
    root = root or find_root()
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    prefix = EXECUTED.as_posix() + "/"
    stems = [f[len(prefix):] for f in _toc_files(toc) if f.startswith(prefix)]
    found = []
    for stem in stems:
        ch = Chapter(root, stem.removesuffix(".ipynb"))
        if not ch.source.is_file():
            raise FileNotFoundError(f"_toc.yml lists {prefix}{stem} but {ch.source} does not exist")
        found.append(ch)
    listed = {c.stem for c in found}
    orphans = sorted(p.stem for p in (root / "chapters").glob("*.md") if p.stem not in listed)
    if orphans:
        raise ValueError(f"chapters not listed in _toc.yml: {', '.join(orphans)}")
    return found


def resolve(name: str, root: Path | None = None) -> Chapter:
    """A chapter by full stem or unique prefix (``"02"`` → ``02-imbalance-identity``)."""
    all_chapters = chapters(root)
    exact = [c for c in all_chapters if c.stem == name]
    matches = exact or [c for c in all_chapters if c.stem.startswith(name)]
    if len(matches) != 1:
        names = ", ".join(c.stem for c in all_chapters)
        what = "is ambiguous" if matches else "is unknown"
        raise ParameterError(f"chapter {name!r} {what}; chapters: {names}")
    return matches[0]
