"""Print the PDF edition from the built site: the whole book, and one PDF per page of the contents.

Usage (from the repository root, after the HTML build; ``make pdf`` does both)::

    python book/_tools/print_pdf.py [--html _build/html] [--toc _toc.yml] [--config _config.yml]

Debian's Chromium prints the pages the site already has, with MathJax typesetting every formula
from the local copy the browser test uses, so the PDF shows what a reader of the site sees:
executed outputs, pandas tables, the first frame of an animation, solutions unfolded (the print
rules in ``book/_static/gmm-course.css``). Why not Jupyter Book's LaTeX builder: it drops every
output that only has an HTML form (the animation becomes ``<IPython.core.display.HTML object>``,
tables fall back to plain text), it needs TeX Live (about 140 MB to download and 420 MB installed
from Debian, on every fresh machine) and several LaTeX passes per PDF, while Chromium is
installed already for the browser test and prints a chapter in seconds.

The page list comes from ``_toc.yml``, so a new chapter gets its PDF without any change here.
Each page is printed as it is, with links to other pages pointed at the online book
(``html.baseurl`` in ``_config.yml``). The whole book is one document assembled from the pages'
articles in contents order (so page numbers run through and every cross-reference becomes a link
inside the PDF), printed once, with the headings as the PDF's outline. Writes
``<html>/pdf/*.pdf`` (names from ``book/_ext/pdf_edition.py``) and ``<html>/../pdf-report.txt``.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
import time
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urljoin, urlsplit

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from offline_browser import chromium, open_offline, served, wait_for_math  # noqa: E402


def _load_names():
    spec = importlib.util.spec_from_file_location("pdf_edition_names", HERE.parent / "_ext" / "pdf_edition.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


names = _load_names()

# A4 with room for the running footer; the scale lets a 90-character code line fit the width.
PAGE = {"format": "A4", "margin": {"top": "16mm", "bottom": "18mm", "left": "16mm", "right": "16mm"},
        "scale": 0.8, "print_background": True, "outline": True, "tagged": True,
        "display_header_footer": True, "header_template": "<span></span>"}
# The running footer names the book (a chapter's PDF is a part of it) and numbers the pages.
FOOTER = ('<div style="font-size:8px; width:100%; margin:0 16mm; display:flex; justify-content:space-between;'
          ' color:#444; font-family:sans-serif"><span>{title}</span>'
          '<span><span class="pageNumber"></span> / <span class="totalPages"></span></span></div>')


def toc_pages(toc_path):
    """Every page of the table of contents, root first, as document names."""
    toc = yaml.safe_load(Path(toc_path).read_text())
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections", []))

    for part in toc.get("parts", [{"chapters": toc.get("chapters", [])}]):
        walk(part.get("chapters", []))
    return [str(PurePosixPath(p).with_suffix("")) if PurePosixPath(p).suffix in (".md", ".ipynb") else p
            for p in pages]


def _html_escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# Run in the printed page: links that leave the page point at the online book, not at the local
# server that will be gone when someone opens the PDF.
POINT_LINKS_ONLINE = r"""([site, online]) => {
  for (const a of document.querySelectorAll('a[href]')) {
    const url = new URL(a.getAttribute('href'), location.href);
    if (!url.href.startsWith(site + '/')) continue;
    if (url.pathname === location.pathname && url.hash) { a.setAttribute('href', url.hash); continue; }
    a.setAttribute('href', online + url.href.slice(site.length + 1));
  }
}"""


def _print(page, path, title):
    page.pdf(path=str(path), footer_template=FOOTER.format(title=_html_escape(title)), **PAGE)


# Printed alone, a page opens with the theme's print title block, whose heading is the bare
# title: it gets the page's own heading, chapter number (and typeset formula) included.
NUMBERED_PRINT_TITLE = r"""() => {
  const printed = document.querySelector('#jb-print-docs-body h1');
  const own = document.querySelector('article.bd-article h1');
  if (!printed || !own) return;
  const heading = own.cloneNode(true);
  heading.querySelectorAll('.headerlink').forEach((link) => link.remove());
  printed.replaceChildren(...heading.childNodes);
}"""


def print_page(browser, site, online, docname, path, book_title):
    page, response = open_offline(browser, f"{site}/{docname}.html")
    try:
        if response.status != 200:
            raise RuntimeError(f"{docname}.html: HTTP {response.status}")
        wait_for_math(page)
        page.evaluate(POINT_LINKS_ONLINE, [site, online])
        page.evaluate(NUMBERED_PRINT_TITLE)
        _print(page, path, book_title)
    finally:
        page.close()


def assemble_book(html_dir, pages, online):
    """One HTML document holding every page's article in contents order, as text.

    The root page is the frame (its head brings the theme, MathJax and its macros). Every other
    page's article follows as a chapter that starts on a new page. Ids that an earlier page
    already uses are renamed; links between pages become links inside the document; other links
    into the site (downloads, sources) point at the online book; images load from the site root.
    """
    from bs4 import BeautifulSoup

    def soup_of(docname):
        return BeautifulSoup((html_dir / f"{docname}.html").read_text(), "html.parser")

    frame = soup_of(pages[0])
    frame.html["class"] = frame.html.get("class", []) + ["pdf-book"]
    for print_header in frame.select("#jb-print-docs-body"):
        print_header.decompose()  # the theme's per-page print title; the book has its own
    book_article = frame.select_one("article.bd-article")
    articles = {pages[0]: book_article}
    articles.update({docname: soup_of(docname).select_one("article.bd-article") for docname in pages[1:]})

    # Rename ids that collide with an earlier page's, remembering the new names for the links.
    seen, renamed = set(), {}
    for docname in pages:
        key = re.sub(r"[^A-Za-z0-9_-]", "-", docname)
        renamed[docname] = {}
        for element in articles[docname].find_all(id=True):
            old = element["id"]
            if old in seen:
                element["id"] = renamed[docname][old] = f"{key}--{old}"
            seen.add(element["id"])
        renamed[docname]["__start__"] = f"pdf-chapter-{key}"

    def chapter_of(path):
        docname = str(PurePosixPath(path.lstrip("/")).with_suffix(""))
        return docname if docname in articles else None

    for docname in pages:
        base = f"/{docname}.html"
        for element in articles[docname].find_all(["a", "img", "source"]):
            attribute = "href" if element.name == "a" else "src"
            value = element.get(attribute)
            if not value or urlsplit(value).scheme or value.startswith("//"):
                continue
            parts = urlsplit(urljoin(base, value))
            target = chapter_of(parts.path) if parts.path.endswith(".html") else None
            fragment = unquote(parts.fragment)
            if element.name == "a" and target:
                element[attribute] = "#" + (renamed[target].get(fragment, fragment) if fragment
                                            else renamed[target]["__start__"])
            elif element.name == "a":
                element[attribute] = online + parts.path.lstrip("/") + (f"#{parts.fragment}" if parts.fragment else "")
            else:
                element[attribute] = parts.path

    for docname in pages[1:]:
        wrapper = frame.new_tag("div", attrs={"class": "pdf-chapter", "id": renamed[docname]["__start__"]})
        wrapper.extend(list(articles[docname].contents))
        book_article.append(wrapper)
    book_article.insert(0, frame.new_tag("div", attrs={"id": renamed[pages[0]]["__start__"]}))
    return str(frame)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", type=Path, default=Path("_build/html"))
    parser.add_argument("--toc", type=Path, default=Path("_toc.yml"))
    parser.add_argument("--config", type=Path, default=Path("_config.yml"))
    args = parser.parse_args(argv)

    config = yaml.safe_load(args.config.read_text())
    online = config["html"]["baseurl"].rstrip("/") + "/"
    title = config["title"]
    pages = toc_pages(args.toc)
    missing = [p for p in pages if not (args.html / f"{p}.html").is_file()]
    if missing:
        sys.exit(f"not built: {', '.join(missing)} (run `make book` or `make book-verified` first)")
    out_dir = args.html / names.PDF_DIR
    out_dir.mkdir(exist_ok=True)
    targets = {p: args.html / names.page_pdf(p) for p in pages[1:]}
    if len(set(targets.values())) != len(targets):
        sys.exit("two pages of _toc.yml share a file name, so their PDFs would collide")

    report = []
    with served(args.html) as site, chromium() as browser:
        for docname, path in targets.items():
            start = time.perf_counter()
            print_page(browser, site, online, docname, path, title)
            report.append((path, time.perf_counter() - start))
            print(f"printed {path}", flush=True)

        start = time.perf_counter()
        book_html = assemble_book(args.html, pages, online)
        book_path = args.html / names.book_pdf()
        # Answered from memory beside the root page (so the frame's relative links hold), never
        # written into the site.
        in_memory = f"/{PurePosixPath(pages[0]).parent}/_pdf_edition_book.html".replace("/./", "/")
        page, response = open_offline(browser, f"{site}{in_memory}", extra_routes={in_memory: book_html})
        try:
            wait_for_math(page, timeout=300000)
            page.evaluate("(title) => { document.title = title; }", title)
            _print(page, book_path, title)
        finally:
            page.close()
        report.append((book_path, time.perf_counter() - start))
        print(f"printed {book_path}", flush=True)

    from pypdf import PdfReader

    lines = ["PDF edition (printed by Chromium from the built site):"]
    for path, seconds in report:
        lines.append(f"  {len(PdfReader(path).pages):4d} pages  {path.stat().st_size / 1e6:6.2f} MB"
                     f"  {seconds:6.1f} s  {path.relative_to(args.html)}")
    lines.append(f"  total {sum(s for _, s in report):.0f} s")
    text = "\n".join(lines) + "\n"
    (args.html.parent / "pdf-report.txt").write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
