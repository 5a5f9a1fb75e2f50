"""Let the ``singlehtml`` builder render every node the ``html`` builder can.

myst-nb (``HideCodeCellNode``), sphinx-proof (``theorem_node``, ...) and others
register their node visitors for the ``html`` builder only. Sphinx looks up a
builder's handlers by its name first (``singlehtml``) and falls back to its
format (``html``) only when no extension registered any for that name, so a
single-page build stops at the first such node ("departing unknown node type").
When the builder starts (every extension loaded, no translator created yet),
copy each ``html`` handler the ``singlehtml`` table lacks. The single-page
edition is what ``python -m saddlebook pdf`` prints.
"""

BUILDERS = ("singlehtml",)


def copy_html_handlers(registry, builder_name: str) -> list[str]:
    """Copy missing ``html`` (visit, depart) handlers to ``builder_name``; return the node names copied."""
    source = registry.translation_handlers.get("html", {})
    target = registry.translation_handlers.setdefault(builder_name, {})
    missing = [name for name in source if name not in target]
    for name in missing:
        target[name] = source[name]
    return missing


def _builder_inited(app):
    if app.builder.name in BUILDERS:
        copy_html_handlers(app.registry, app.builder.name)


def setup(app):
    app.connect("builder-inited", _builder_inited)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
