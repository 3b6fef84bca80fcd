"""Checks of the PDF edition (``make pdf``, run by ``make book`` and by ``make test`` before this).

Every page of ``_toc.yml`` below the root has its PDF and the whole book has one: each holds the
titles it should, embeds the figures its page shows, reaches the reader with typeset formulas
rather than TeX source, and links nowhere but to itself and the online book. The site links to
the PDFs. Text and images are read with Poppler's ``pdftotext`` and ``pdfimages`` (``make
browser-deps`` installs them; pypdf took a minute for the whole book's text), links with pypdf.
"""

import re
import shutil
import subprocess
import unicodedata

import pytest
import yaml
from book_helpers import HTML, PAGES, ROOT, require_built_site
from book_helpers import pdf_names as names

pytestmark = pytest.mark.book

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
# Formula source that must never reach a reader: TeX commands and the delimiters MathJax removes.
RAW_TEX = [r"\frac", r"\mathbf", "$$", r"\(", r"\[", r"\begin{"]


def _poppler(tool, *args):
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} is missing: `make browser-deps` installs it (apt-get install poppler-utils)")
    return subprocess.run([tool, *map(str, args)], capture_output=True, text=True, check=True, timeout=300).stdout


@pytest.fixture(scope="module")
def pdf_text(html_dir_exists):
    """Extracted text of every PDF, keyed by its path inside the site; fails if a PDF is missing."""
    paths = [names.page_pdf(page) for page in PAGES[1:]] + [names.book_pdf()]
    missing = [p for p in paths if not (HTML / p).is_file()]
    if missing:
        pytest.fail(f"PDFs missing: {missing}; run `make pdf` after the build")
    return {p: _poppler("pdftotext", "-enc", "UTF-8", HTML / p, "-") for p in paths}


def _soup(page):
    from bs4 import BeautifulSoup

    return BeautifulSoup((HTML / f"{page}.html").read_text(), "html.parser")


def _title(page):
    heading = _soup(page).find("article").find("h1")
    for link in heading.select("a.headerlink"):
        link.decompose()
    for formula in heading.select(".math"):
        # A formula in a title reaches the PDF typeset: keep its letters, not its TeX markup.
        formula.string = re.sub(r"\\[()\[\]]|\\[A-Za-z]+|[{}^_]", "", formula.get_text())
    return heading.get_text(" ", strip=True)


def _squeeze(text):
    # Line breaks fall where the page width puts them, and pdftotext joins a word broken after a
    # hyphen without the hyphen ("k-" + "means" -> "kmeans"): compare without either. NFKC reads
    # a typeset formula's mathematical italic letters as plain ones.
    return re.sub(r"[\s\u00ad\u2010\u2011-]+", "", unicodedata.normalize("NFKC", text))


def test_whole_book_holds_every_title_in_contents_order(pdf_text):
    book = _squeeze(pdf_text[names.book_pdf()])
    positions = []
    for page in PAGES:
        title = _squeeze(_title(page))
        assert title in book, f"{page}: title {_title(page)!r} is not in the whole book"
        positions.append(book.index(title, positions[-1] if positions else 0))
    assert positions == sorted(positions), "the whole book's chapters are not in the order of _toc.yml"


@pytest.mark.parametrize("page", PAGES[1:])
def test_page_pdf_holds_its_title(pdf_text, page):
    # A chapter printed alone opens with its number and title, as on the site ("4. Deriving EM").
    title = _title(page)
    body = pdf_text[names.page_pdf(page)].split("\f")  # pages; the running footer is on each
    assert _squeeze(title) in _squeeze(body[0]), f"{page}: {title!r} is not on the PDF's first page"


def _raster_figures(page):
    """Distinct raster images the page's article shows (what must be embedded in its PDF)."""
    sources = {img.get("src") for img in _soup(page).find("article").find_all("img")}
    return {s for s in sources if s and re.search(r"(\.(png|jpe?g|gif)$)|^data:image/(png|jpeg|gif)", s)}


def _embedded_images(path):
    # `pdfimages -list`: two header lines, then one line per image drawn.
    return len(_poppler("pdfimages", "-list", path).splitlines()) - 2


@pytest.mark.parametrize("page", PAGES[1:])
def test_figures_are_embedded(html_dir_exists, page):
    wanted = len(_raster_figures(page))
    assert _embedded_images(HTML / names.page_pdf(page)) >= wanted, f"{page}: {wanted} figures on the page"


def test_whole_book_embeds_every_figure(html_dir_exists):
    wanted = sum(len(_raster_figures(page)) for page in PAGES)
    assert wanted > 0
    assert _embedded_images(HTML / names.book_pdf()) >= wanted


@pytest.fixture(scope="module")
def html_dir_exists():
    require_built_site()


def _code_text(page):
    return "\n".join(block.get_text() for block in _soup(page).find("article").find_all("pre"))


@pytest.mark.parametrize("page", PAGES[1:])
def test_no_formula_reaches_the_reader_as_tex(pdf_text, page):
    # Code shows TeX on purpose (matplotlib labels such as r"$\mu$"): the PDF may repeat what the
    # page's code blocks hold, nothing more.
    text, code = pdf_text[names.page_pdf(page)], _code_text(page)
    leaked = {token: text.count(token) for token in RAW_TEX if text.count(token) > code.count(token)}
    assert not leaked, f"{page}: TeX source in the PDF's text: {leaked}"


def test_no_formula_reaches_the_reader_of_the_whole_book_as_tex(pdf_text):
    text, code = pdf_text[names.book_pdf()], "\n".join(_code_text(page) for page in PAGES)
    leaked = {token: text.count(token) for token in RAW_TEX if text.count(token) > code.count(token)}
    assert not leaked, f"TeX source in the whole book's text: {leaked}"


def _links(path):
    """(internal destinations, outside addresses) of a PDF's link annotations."""
    from pypdf import PdfReader

    internal, outside = 0, []
    for page in PdfReader(path).pages:
        for annotation in page.get("/Annots") or []:
            annotation = annotation.get_object()
            if annotation.get("/Subtype") != "/Link":
                continue
            action = annotation.get("/A")
            if action is not None and action.get("/S") == "/URI":
                outside.append(str(action["/URI"]))
            else:
                internal += 1
    return internal, outside


@pytest.mark.parametrize("path", [names.book_pdf()] + [names.page_pdf(p) for p in PAGES[1:]])
def test_pdf_links_lead_somewhere_a_reader_can_go(html_dir_exists, path):
    _, outside = _links(HTML / path)
    local = [u for u in outside if re.match(r"(https?://(127\.|localhost|\[::1\])|file:)", u)]
    assert not local, f"{path} links to the machine that printed it: {local[:5]}"


def test_whole_book_cross_references_stay_inside_the_pdf(html_dir_exists):
    internal, outside = _links(HTML / names.book_pdf())
    online = CONFIG["html"]["baseurl"]
    assert internal > 100, "links between chapters should be links inside the whole book"
    assert not [u for u in outside if u.startswith(online) and ".html" in u], \
        "a link between pages of the book leaves the whole-book PDF"


@pytest.mark.parametrize("page", PAGES[1:])
def test_every_page_offers_its_pdf_in_the_download_menu(html_dir_exists, page):
    menu = [a.get("href", "") for a in _soup(page).select(".dropdown-download-buttons a")]
    wanted = (HTML / names.page_pdf(page)).resolve()
    assert any((HTML / page).parent.joinpath(h).resolve() == wanted for h in menu), menu


def test_intro_offers_the_whole_book(html_dir_exists):
    root = PAGES[0]
    article_links = [a.get("href", "") for a in _soup(root).find("article").find_all("a")]
    whole = (HTML / names.book_pdf()).resolve()
    assert any((HTML / root).parent.joinpath(h).resolve() == whole for h in article_links if h.endswith(".pdf"))
