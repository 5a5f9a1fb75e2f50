"""Link each glued figure's caption to the code cell that drew it.

A chapter's figure is ```` ```{glue:figure} KEY ```` with a ``:name:``; the
code cell that made it is the one whose output was glued as ``KEY`` in the
executed notebook. That cell gets the anchor ``code-<name>`` and the caption a
"(code)" link to it, so a reader can go from any figure to its source.
"""
import json
import re
from pathlib import Path

from docutils import nodes

PREFIX = "book/executed/"
_GLUE_FIGURE = re.compile(r"```\{glue:figure\}\s+(\S+)\s*\n((?::[^\n]*\n)*)")
_NAME = re.compile(r"^:name:\s*(\S+)", re.M)


def figure_cells(nb: dict) -> dict[str, int]:
    """Figure name -> index of the code cell whose glued output the figure shows."""
    glued, names = {}, {}
    for i, cell in enumerate(nb.get("cells", [])):
        source = "".join(cell.get("source", ""))
        if cell.get("cell_type") == "code":
            for out in cell.get("outputs", []):
                key = out.get("metadata", {}).get("scrapbook", {}).get("name")
                if key:
                    glued[key] = i
        elif cell.get("cell_type") == "markdown":
            for m in _GLUE_FIGURE.finditer(source + "\n"):
                name = _NAME.search(m.group(2))
                if name:
                    names[name.group(1)] = m.group(1)
    return {name: glued[key] for name, key in names.items() if key in glued}


def anchor(name: str) -> str:
    return nodes.make_id(f"code-{name}")


def _link(app, doctree):
    docname = app.env.docname
    if not docname.startswith(PREFIX):
        return
    path = Path(app.env.doc2path(docname))
    if path.suffix != ".ipynb":
        return
    cells = figure_cells(json.loads(path.read_text()))
    if not cells:
        return
    containers = {
        c["cell_index"]: c
        for c in doctree.findall(nodes.container)
        if c.get("nb_element") == "cell_code" and "cell_index" in c
    }
    for figure in doctree.findall(nodes.figure):
        name = next((n for n in figure["names"] if n in cells), None)
        cell = containers.get(cells.get(name))
        caption = next(iter(figure.findall(nodes.caption)), None)
        if cell is None or caption is None:
            continue
        target = anchor(name)
        if target not in cell["ids"]:
            cell["ids"].append(target)
        link = nodes.reference("", "code", refid=target, classes=["figure-code-link"],
                               reftitle="the notebook cell that drew this figure")
        caption += [nodes.Text(" ("), link, nodes.Text(")")]


def setup(app):
    app.connect("doctree-read", _link)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
