"""Tables for the prose: a chapter computes rows, this module writes the Markdown."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from ..errors import ParameterError

__all__ = ["table"]

Format = str | Callable[[object], str] | None


def _pipes(text: str) -> str:
    """A cell's ``|`` would end the cell (even inside ``$...$``): write it as ``\\vert`` in math, ``\\|`` outside."""
    parts = text.split("$")
    for i, part in enumerate(parts):
        parts[i] = part.replace("|", r"\vert{}" if i % 2 else r"\|")
    return "$".join(parts)


def _cell(value, fmt: Format) -> str:
    if fmt is None:
        text = str(value)
    elif callable(fmt):
        text = fmt(value)
    else:
        text = format(value, fmt)
    return _pipes(text)


def table(header: Sequence[str], rows: Iterable[Sequence], formats: Sequence[Format] | None = None):
    """A Markdown table to glue into the prose.

    Parameters
    ----------
    header : sequence of str
        Column titles (MyST Markdown, math allowed).
    rows : iterable of sequences
        One sequence of values per row, as many as there are columns.
    formats : sequence, optional
        Per column: a format spec (``".4g"``), a function value → str, or None for
        ``str``. Default: ``str`` for every column.

    Returns
    -------
    IPython.display.Markdown
        Ready for ``glue(name, table(...), display=False)`` and ``{glue:md}`` in the text.
    """
    from IPython.display import Markdown

    header = list(header)
    formats = [None] * len(header) if formats is None else list(formats)
    if len(formats) != len(header):
        raise ParameterError(
            f"parameter 'formats' must have one entry per column of 'header': "
            f"{len(formats)} formats for {len(header)} columns"
        )
    lines = ["| " + " | ".join(_pipes(h) for h in header) + " |", "|" + "---|" * len(header)]
    for i, row in enumerate(rows):
        row = list(row)
        if len(row) != len(header):
            raise ParameterError(
                f"parameter 'rows' must have one value per column in each row: "
                f"row {i} has {len(row)} values for {len(header)} columns"
            )
        lines.append("| " + " | ".join(_cell(v, f) for v, f in zip(row, formats)) + " |")
    return Markdown("\n".join(lines))
