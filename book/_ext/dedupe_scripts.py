"""Sphinx extension: drop duplicate <script> entries from every page.

With jupyter-book 1.0.4 / sphinx-book-theme 1.3 / sphinx-thebe 0.3.1, sphinx-thebe's inline
configuration script (`const THEBE_JS_URL = ...`) is added twice, and the second copy throws
"Identifier 'THEBE_JS_URL' has already been declared" on every page. The book's browser test
caught it; this keeps the first copy of each identical script.
"""


def _key(script):
    filename = getattr(script, "filename", script)
    attributes = getattr(script, "attributes", {}) or {}
    return str(filename or ""), tuple(sorted((k, str(v)) for k, v in attributes.items()))


def _dedupe(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        key = _key(script)
        if key not in seen:
            seen.add(key)
            kept.append(script)
    scripts[:] = kept  # in place: later handlers append to this very list
    # (runs early: html-page-context stops at the first handler that returns a template)


def setup(app):
    app.connect("html-page-context", _dedupe, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
