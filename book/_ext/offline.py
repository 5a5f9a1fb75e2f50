"""Make every built page work offline: vendored MathJax, no remote scripts.

MathJax 3 is served from the built site instead of a CDN.

The MathJax files come from the PyPI package ``django-static-mathjax``. They
are copied into ``_static/mathjax/`` of the HTML output when the build
finishes; they are not placed in the source ``_static/`` folder because
Jupyter Book would then add every one of its scripts to every page.
``mathjax_path`` (set here, relative to ``_static``) makes Sphinx load only
the one entry script.
"""
import shutil
from pathlib import Path

ENTRY = "mathjax/tex-chtml.js"


def _source() -> Path:
    import mathjax  # installed by django-static-mathjax

    path = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (path / "tex-chtml.js").is_file():
        raise RuntimeError(f"MathJax files not found at {path}; is django-static-mathjax installed?")
    return path


def _copy(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / "mathjax"
    if not (target / "tex-chtml.js").is_file():
        shutil.copytree(_source(), target, dirs_exist_ok=True)


def _drop_remote_scripts(app, pagename, templatename, context, doctree):
    # sphinx-thebe (always loaded by Jupyter Book) embeds an unpkg.com URL in
    # every page; the book has no live-code button, so the script goes.
    def remote(script):
        body = getattr(script, "attributes", {}).get("body", "") or ""
        name = getattr(script, "filename", None) or str(script)
        return "thebe" in name or "THEBE" in body or name.startswith(("http://", "https://", "//"))

    if "script_files" in context:
        context["script_files"] = [s for s in context["script_files"] if not remote(s)]


def _configure(app, config):
    config.mathjax_path = ENTRY


def setup(app):
    _source()  # fail early, before a long build, if the files are missing
    app.connect("config-inited", _configure, priority=900)
    app.connect("build-finished", _copy)
    app.connect("html-page-context", _drop_remote_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
