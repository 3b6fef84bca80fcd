"""Emit each page script once.

sphinx-thebe 0.3.1 registers its inline configuration script twice under Jupyter Book 1.0.4,
so every page declared ``const THEBE_JS_URL`` twice and the browser raised a SyntaxError on
every page. This extension drops exact duplicates from the page's script list before the page
is written.
"""


def _drop_duplicate_scripts(app, pagename, templatename, context, doctree):
    seen = set()
    unique = []
    for script in context.get("script_files", []):
        # The copies differ in how their empty file name is spelled (None or ""), so compare
        # what the browser receives: the source (if any) and the attributes, inline body included.
        key = (getattr(script, "filename", None) or "", tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"][:] = unique


def setup(app):
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
