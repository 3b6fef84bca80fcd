"""What the checks of the built book share (test_site, test_pdf, test_accessibility).

The built site (``_build/html`` or ``$BOOK_HTML``), its pages in the order of ``_toc.yml`` (or
``$BOOK_TOC``), and pytest fixtures for the site served on 127.0.0.1 and for Debian's Chromium,
both from ``book/_tools/offline_browser.py``, which the PDF edition uses as well.
"""

import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html"))


def load_module(path, name):
    """Import a file of the repository that is not in a package (tools, Sphinx extensions)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


print_pdf = load_module(ROOT / "book" / "_tools" / "print_pdf.py", "print_pdf")
offline_browser = sys.modules["offline_browser"]  # imported by print_pdf from its folder
pdf_names = print_pdf.names

# Every page of the table of contents, root first; new chapters are picked up from _toc.yml.
PAGES = print_pdf.toc_pages(os.environ.get("BOOK_TOC", ROOT / "_toc.yml"))


def require_built_site():
    if not (HTML / "index.html").exists():
        pytest.fail(f"no built book in {HTML}: run `make book-verified` (or `make book`) first")
    return HTML


@pytest.fixture(scope="module")
def html_dir():
    return require_built_site()


@pytest.fixture(scope="module")
def site(html_dir):
    with offline_browser.served(html_dir) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    try:
        with offline_browser.chromium() as chromium:
            yield chromium
    except FileNotFoundError as missing:
        pytest.fail(str(missing))
