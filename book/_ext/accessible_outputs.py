"""Give the controls and tables of our pages the names and headers a screen reader needs.

- matplotlib's JavaScript animations (``Animation.to_jshtml``) come with a frame slider without a
  label, announced as a bare "slider" (axe: ``label``, critical). The slider gets a name in the
  HTML the build writes; the notebooks stay as they are.
- A cell whose code is folded away (tag ``hide-input``) opens with a ``<summary>`` that MyST-NB
  names "Toggle hidden content" while it shows "Show code cell source" (axe:
  ``label-content-name-mismatch``, WCAG 2.5.3: a speech user says what they see). Our visitor
  writes the same disclosure without that name, so the visible words name it.
- A table whose top-left header cell is empty has a column of row labels ("Learns from",
  "Output", ...). Its body cells then had no header to be read with (axe: ``td-has-header``,
  critical): the first column becomes a stub column, which Sphinx writes as row headers
  (``<th>``), so each cell is announced with its row and its column.
"""

import re
from html import escape

from docutils import nodes

UNNAMED_ANIMATION_SLIDER = re.compile(r'<input(?![^>]*\baria-label=)([^>]*\bclass="anim-slider")')


def _name_controls(app, doctree, docname):
    for raw in doctree.findall(nodes.raw):
        if "html" not in raw.get("format", "").split() or "anim-slider" not in raw.astext():
            continue
        named = UNNAMED_ANIMATION_SLIDER.sub(r'<input aria-label="Animation frame"\1', raw.astext())
        raw.replace_self(nodes.raw(raw.rawsource, named, format=raw["format"]))


def _label_rows(app, doctree, docname):
    for group in doctree.findall(nodes.tgroup):
        head = next(iter(group.findall(nodes.thead)), None)
        colspecs = [child for child in group.children if isinstance(child, nodes.colspec)]
        if head is None or not colspecs or not head.children:
            continue
        corner = head.children[0].children[0] if head.children[0].children else None
        if corner is not None and not corner.astext().strip():
            colspecs[0]["stub"] = 1


def _open_hidden_code(translator, node):
    classes = " ".join(["admonition", "hide", *node["classes"]])
    translator.body.append(
        f'<details class="{classes}">\n<summary>\n'
        f'<p class="collapsed admonition-title">{escape(node["prompt_show"])}</p>\n'
        f'<p class="expanded admonition-title">{escape(node["prompt_hide"])}</p>\n'
        "</summary>\n"
    )


def _close_hidden_code(translator, node):
    translator.body.append("</details>\n")


def _replace_hidden_code_visitor(app):
    from myst_nb.sphinx_ import HideCodeCellNode

    # Once every extension is set up, so ours replaces MyST-NB's whatever the loading order.
    app.add_node(HideCodeCellNode, override=True, html=(_open_hidden_code, _close_hidden_code))


def setup(app):
    app.connect("doctree-resolved", _name_controls)
    app.connect("doctree-resolved", _label_rows)
    app.connect("builder-inited", _replace_hidden_code_visitor)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
