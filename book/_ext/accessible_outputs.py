"""Give the controls that notebook cells bring into the page names a screen reader can say.

- matplotlib's JavaScript animations (``Animation.to_jshtml``) come with a frame slider without a
  label, announced as a bare "slider" (axe: ``label``, critical). The slider gets a name in the
  HTML the build writes; the notebooks stay as they are.
- A cell whose code is folded away (tag ``hide-input``) opens with a ``<summary>`` that MyST-NB
  names "Toggle hidden content" while it shows "Show code cell source" (axe:
  ``label-content-name-mismatch``, WCAG 2.5.3: a speech user says what they see). Our visitor
  writes the same disclosure without that name, so the visible words name it.
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
    app.connect("builder-inited", _replace_hidden_code_visitor)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
