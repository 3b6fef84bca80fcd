"""Links from the site to its PDF edition, and where the PDFs live.

``book/_tools/pdf_edition.py`` prints the PDFs after the HTML build (``make pdf``); this extension
only points at them, so both read the names below.

- The download menu of every page below the root offers that page's PDF in place of the theme's
  "print this page" entry (the browser's print of one page lacks the typeset edition's care);
  the root page's menu offers the whole book.
- The role ``{pdf-book}`text``` links ``text`` to the whole book's PDF.
"""

from pathlib import PurePosixPath

PDF_DIR = "pdf"
BOOK_PDF = "gaussian-mixtures.pdf"


def page_pdf(docname):
    """Path of a page's PDF inside the built site, e.g. ``pdf/01_one_gaussian.pdf``."""
    return f"{PDF_DIR}/{PurePosixPath(docname).name}.pdf"


def book_pdf():
    """Path of the whole book's PDF inside the built site."""
    return f"{PDF_DIR}/{BOOK_PDF}"


def _relative(docname, target):
    return "../" * docname.count("/") + target


def _offer_pdf(app, pagename, templatename, context, doctree):
    if doctree is None:  # search, index: pages Sphinx writes without a source
        return
    is_root = pagename == app.config.root_doc
    target = book_pdf() if is_root else page_pdf(pagename)
    entry = {
        "type": "link",
        "url": _relative(pagename, target),
        "text": ".pdf",
        "tooltip": "Download the whole book as PDF" if is_root else "Download this chapter as PDF",
        "icon": "fas fa-file-pdf",
        "label": "download-pdf-button",
    }
    for button in context.get("header_buttons", []):
        if button.get("label") == "download-buttons":
            button["buttons"] = [b for b in button["buttons"] if b.get("label") != "download-pdf-button"]
            button["buttons"].append(entry)


def _pdf_book_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    from docutils import nodes  # here, so the tools and tests can read the names without Sphinx

    docname = inliner.document.settings.env.docname
    return [nodes.reference(rawtext, text, refuri=_relative(docname, book_pdf()))], []


def setup(app):
    # After sphinx-book-theme has filled the header buttons (its handler runs at priority 501).
    app.connect("html-page-context", _offer_pdf, priority=600)
    app.add_role("pdf-book", _pdf_book_role)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
