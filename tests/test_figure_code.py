"""The figure-to-code extension (book/_ext/figure_code.py) finds the cell that drew each figure."""
import importlib.util
from pathlib import Path

import jupytext

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("figure_code", ROOT / "book" / "_ext" / "figure_code.py")
figure_code = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(figure_code)


def _cell(kind, source, key=None):
    cell = {"cell_type": kind, "source": source, "metadata": {}}
    if kind == "code":
        cell["outputs"] = [] if key is None else [
            {"output_type": "display_data", "data": {}, "metadata": {"scrapbook": {"name": key}}}]
    return cell


def test_figure_cells_maps_each_named_figure_to_the_cell_that_glued_it():
    nb = {"cells": [
        _cell("code", "x = 1"),
        _cell("code", "glue('k-a', fig)", key="k-a"),
        _cell("code", "glue('k-b', fig)", key="k-b"),
        _cell("markdown", "```{glue:figure} k-b\n:name: fig-b\n:width: 80%\n\nCaption b.\n```\n"
                          "```{glue:figure} k-a\n:name: fig-a\n\nCaption a.\n```"),
        _cell("markdown", "```{glue:figure} k-missing\n:name: fig-missing\n```"),
        _cell("markdown", "```{glue:figure} k-a\n\nNo name: nothing to link from.\n```"),
    ]}
    assert figure_code.figure_cells(nb) == {"fig-a": 1, "fig-b": 2}


def test_every_chapter_figure_is_glued_by_name_in_its_source():
    # Without a :name: and a literal glue of its key, a figure gets no link to its code.
    for md in sorted((ROOT / "chapters").glob("0*.md")):
        nb = jupytext.read(md)
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                for m in figure_code._GLUE_FIGURE.finditer(cell.source + "\n"):
                    assert figure_code._NAME.search(m.group(2)), f"{md.name}: figure {m.group(1)} has no :name:"
