"""Offer each chapter's MyST source (chapters/<name>.md) for download.

Chapter pages are built from executed notebooks, so the theme's download menu
offers the .ipynb; this adds the Markdown file that is the chapter's source of
truth, copied into the site under ``_sources/chapters/``. It also offers the
chapter's PDF (``_static/pdf/<stem>.pdf``) and, on the front page, the whole
book's (``_static/pdf/saddlebook.pdf``); ``python -m saddlebook pdf`` prints
them after the HTML build and copies them there.
"""
import shutil
from pathlib import Path

PREFIX = "book/executed/"
FRONT = PREFIX + "00-preface"
PDF_DIR = "_static/pdf"      # in the HTML output; saddlebook.publish.pdf writes here
BOOK_PDF = "saddlebook.pdf"


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
            pdfs = [(f"{stem}.pdf", ".pdf", "Download this chapter as PDF", "download-pdf-button")]
            if pagename == FRONT:
                pdfs.append((BOOK_PDF, "book .pdf", "Download the whole book as one PDF",
                             "download-book-pdf-button"))
            for k, (name, text, tooltip, label) in enumerate(pdfs):
                group["buttons"].insert(2 + k, {
                    "type": "link",
                    "url": context["pathto"](f"{PDF_DIR}/{name}", 1),
                    "text": text,
                    "tooltip": tooltip,
                    "icon": "fas fa-file-pdf",
                    "label": label,
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
