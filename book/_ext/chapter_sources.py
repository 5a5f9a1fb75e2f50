"""Offer each chapter's MyST source (chapters/<name>.md) for download.

Chapter pages are built from executed notebooks, so the theme's download menu
offers the .ipynb; this adds the Markdown file that is the chapter's source of
truth, copied into the site under ``_sources/chapters/``.
"""
import shutil
from pathlib import Path

PREFIX = "book/executed/"


def _add_button(app, pagename, templatename, context, doctree):
    if not pagename.startswith(PREFIX):
        return
    stem = pagename[len(PREFIX):]
    for group in context.get("header_buttons", []):
        if group.get("label") == "download-buttons":
            group["buttons"].insert(1, {
                "type": "link",
                "url": f"{context['pathto']('_sources', 1)}/chapters/{stem}.md",
                "text": ".md",
                "tooltip": "Download the chapter's MyST source",
                "icon": "fas fa-file-lines",
                "label": "download-myst-button",
            })


def _copy(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_sources" / "chapters"
    target.mkdir(parents=True, exist_ok=True)
    for md in (Path(app.srcdir) / "chapters").glob("*.md"):
        shutil.copy2(md, target / md.name)


def setup(app):
    app.connect("html-page-context", _add_button, priority=600)
    app.connect("build-finished", _copy)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
