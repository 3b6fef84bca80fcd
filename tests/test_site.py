"""Checks of the built book, as readers meet it: pages, launch buttons, links and a real browser.

Run by ``make test`` after the strict build (``pytest -m book``); the HTML is read from
``_build/html`` (or ``$BOOK_HTML``). The browser is Debian's Chromium driven by Playwright; the
page's only outside resource we need, MathJax 3, is served from a local copy (the npm bundle
shipped in the ``sphinx-mathjax-offline`` wheel), and every other outside request is refused, so
the test needs no network.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse, urlsplit

import pytest
import yaml
from book_helpers import HTML, PAGES, ROOT, browser, html_dir, offline_browser, site  # noqa: F401 (fixtures)

pytestmark = pytest.mark.book

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
MAX_PAGE_BYTES = 5 * 1024 * 1024
CHAPTERS = [page for page in PAGES if page.startswith("notebooks/")]


def _soup(page):
    from bs4 import BeautifulSoup

    return BeautifulSoup((HTML / f"{page}.html").read_text(), "html.parser")


def _main(page):
    return _soup(page).find("main") or _soup(page)


# ----------------------------------------------------------------------------------------------
# Static checks of the HTML
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_page_has_a_title_and_one_h1(html_dir, page):
    soup = _soup(page)
    assert soup.title and soup.title.get_text(strip=True), "page without a <title>"
    # The theme repeats the title in a print-only header; the article is what a reader sees.
    assert len(soup.find("article").find_all("h1")) == 1, "a page needs exactly one h1 (one `# Title`)"


@pytest.mark.parametrize("page", CHAPTERS)
def test_chapter_launch_buttons_and_download(html_dir, page):
    repo = urlparse(CONFIG["repository"]["url"]).path.strip("/")
    branch = CONFIG["repository"]["branch"]
    links = [a.get("href", "") for a in _soup(page).find_all("a")]
    binder = [h for h in links if "mybinder.org/v2/gh/" in h]
    colab = [h for h in links if "colab.research.google.com/github/" in h]
    assert binder and colab, "chapter pages need Binder and Colab launch buttons"
    assert binder[0].startswith(f"https://mybinder.org/v2/gh/{repo}/{branch}?")
    assert f"urlpath=lab/tree/{page}.ipynb" in binder[0]
    assert colab[0] == f"https://colab.research.google.com/github/{repo}/blob/{branch}/{page}.ipynb"
    downloads = [h for h in links if h.endswith(f"{Path(page).name}.ipynb") and "_sources" in h]
    assert downloads, "chapter pages offer the .ipynb download"
    assert (HTML / "_sources" / f"{page}.ipynb").exists()


@pytest.mark.parametrize("page", PAGES)
def test_figures_have_real_alt_text(html_dir, page):
    for image in _main(page).find_all("img"):
        alt = (image.get("alt") or "").strip()
        assert alt, f"image {image.get('src')} has no alt text"
        assert not re.search(r"\.(png|jpe?g|svg)$", alt), f"alt text is a file name: {alt}"


@pytest.mark.parametrize("page", PAGES)
def test_pages_load_no_scripts_from_elsewhere_but_mathjax(html_dir, page):
    """A reader's browser fetches no code from third parties beyond MathJax. The interactive
    widgets of chapters 3 and 5 run only in Jupyter (their outputs are removed from the book), so
    their saved state must not pull the widget manager and require.js from CDNs into the page."""
    outside = [script["src"] for script in _soup(page).find_all("script", src=True)
               if urlparse(script["src"]).netloc and "/mathjax@3/" not in script["src"]]
    assert not outside, f"scripts loaded from other sites: {outside}"


def _page_weight(page):
    """Bytes a reader downloads for the page's own content: HTML, its images and inline media."""
    path = HTML / f"{page}.html"
    total = path.stat().st_size
    for image in _main(page).find_all("img"):
        src = image.get("src", "")
        if src and not src.startswith(("data:", "http")):
            total += (path.parent / src).resolve().stat().st_size
    return total


def test_pages_stay_light(html_dir):
    weights = {page: _page_weight(page) for page in PAGES}
    report = "\n".join(f"  {w / 1e6:6.2f} MB  {p}" for p, w in sorted(weights.items()))
    # Kept beside the build so `make test` can show it (pytest hides a passing test's output).
    (html_dir.parent / "page-weights.txt").write_text(
        f"Page weights (HTML + images + embedded animations), limit 5 MB:\n{report}\n"
    )
    heavy = {p: w for p, w in weights.items() if w > MAX_PAGE_BYTES}
    assert not heavy, f"pages above 5 MB: {heavy}"


def test_internal_links_resolve_from_a_private_directory(html_dir, tmp_path):
    """linkchecker follows every link of the site, from a copy only its owner can enter.

    A fresh machine's user is root with the checkout in a private directory. linkchecker started
    as root switches to the user ``nobody`` before it reads anything, and ``nobody`` cannot open
    ``file://`` URLs there, so the site is served over HTTP by this process, which keeps the test's
    own user. Only the site's own addresses are followed: outside ones are not ours to reach.
    Anchors are checked by the next test, which parses each page once (linkchecker's anchor
    plugin downloads and parses a page again for every distinct anchor linked to it).
    """
    private = tmp_path / "private"
    private.mkdir()
    private.chmod(0o700)
    site = shutil.copytree(html_dir, private / "html")
    with offline_browser.served(site) as url:
        config = tmp_path / "linkcheckerrc"
        config.write_text(f"[filtering]\nignore=\n  ^(?!{re.escape(url)}/)\n")
        result = subprocess.run(
            [str(Path(sys.executable).parent / "linkchecker"), "--config", str(config), "--no-status",
             f"{url}/index.html"],
            capture_output=True, text=True, timeout=600,
        )
    report = result.stdout[-4000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    # A check that followed nothing would pass as well: it must have walked every page.
    checked = re.search(r"(\d+) links? in (\d+) URLs? checked", result.stdout)
    assert checked and int(checked.group(2)) >= len(PAGES), report


def _in_site_links(html_dir):
    """Yield ``(page, link, target file, fragment)`` for every link from one built page to another."""
    from bs4 import BeautifulSoup

    for page in sorted(html_dir.rglob("*.html")):
        if "_static" in page.relative_to(html_dir).parts:
            continue
        soup = BeautifulSoup(page.read_text(), "html.parser")
        for element in soup.find_all(["a", "link", "img", "script", "source", "iframe"]):
            link = element.get("href") or element.get("src")
            parts = urlsplit(link or "")
            if not link or parts.scheme or parts.netloc:
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            yield page.relative_to(html_dir), link, target, unquote(parts.fragment)


def test_internal_links_and_anchors_resolve(html_dir):
    from bs4 import BeautifulSoup

    anchors = {}

    def anchors_of(path):
        if path not in anchors:
            soup = BeautifulSoup(path.read_text(), "html.parser")
            anchors[path] = {e["id"] for e in soup.find_all(id=True)}
            anchors[path] |= {e["name"] for e in soup.find_all("a", attrs={"name": True})}
        return anchors[path]

    broken, count = [], 0
    for page, link, target, fragment in _in_site_links(html_dir):
        count += 1
        if not target.is_file():
            broken.append(f"{page}: {link} (no such file)")
        elif fragment and target.suffix == ".html" and fragment not in anchors_of(target):
            broken.append(f"{page}: {link} (no element with id {fragment!r})")
    assert count > 10 * len(PAGES), f"only {count} links found: is the site built?"
    assert not broken, "broken links:\n" + "\n".join(broken)


# ----------------------------------------------------------------------------------------------
# A real browser
# ----------------------------------------------------------------------------------------------


def _open(browser, url):
    """Open ``url`` offline; return the tab, its response and a list collecting its JS errors."""
    errors = []
    page, response = offline_browser.open_offline(browser, url, errors=errors)
    return page, response, errors


MATH_PROBLEMS = r"""() => {
  // MathJax keeps each formula's TeX source next to its typeset DOM node: report the source.
  const items = window.MathJax && MathJax.startup && MathJax.startup.document
      ? [...MathJax.startup.document.math] : [];
  const isRed = e => getComputedStyle(e).color === 'rgb(255, 0, 0)';
  const errors = items.filter(i => i.typesetRoot && i.typesetRoot.querySelector('mjx-merror'))
      .map(i => i.math);
  const undefinedMacros = items.filter(i => i.typesetRoot &&
      [...i.typesetRoot.querySelectorAll('mjx-mtext')].some(isRed)).map(i => i.math);
  const untypeset = [...document.querySelectorAll('main .math')]
      .filter(e => !e.querySelector('mjx-container') && !e.closest('mjx-container'))
      .map(e => e.textContent.slice(0, 80));
  // TeX that never reached MathJax: markdown broke the formula apart (e.g. a line of inline
  // math starting with "- " became a list item), so its pieces stand in the text as-is.
  const walker = document.createTreeWalker(document.querySelector('main article') || document.body,
                                           NodeFilter.SHOW_TEXT);
  const rawTex = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.parentElement.closest('mjx-container, pre, code, script, style, .math, .highlight, .output')) continue;
    if (/\\[a-zA-Z]+|\$[^$\s][^$]*\$/.test(node.textContent)) rawTex.push(node.textContent.trim().slice(0, 80));
  }
  return {errors, undefinedMacros, untypeset, rawTex};
}"""


@pytest.mark.parametrize("page_name", PAGES)
def test_page_in_browser(site, browser, page_name):
    page, response, errors = _open(browser, f"{site}/{page_name}.html")
    try:
        assert response.status == 200
        offline_browser.wait_for_math(page)  # Sphinx loads MathJax only where there is math
        math = page.evaluate(MATH_PROBLEMS)
        assert not math["errors"], f"MathJax errors: {math['errors']}"
        assert not math["undefinedMacros"], f"undefined TeX macros: {math['undefinedMacros']}"
        assert not math["untypeset"], f"formulas left as raw TeX: {math['untypeset']}"
        assert not math["rawTex"], f"TeX outside any formula (broken by markdown?): {math['rawTex']}"
        assert page.locator("main h1:visible").count() == 1
        assert page.title().strip()
        for image in page.locator("main img").all():
            assert (image.get_attribute("alt") or "").strip(), "image without alt text"
        solutions = page.locator("main .solution.dropdown")
        for index in range(solutions.count()):
            solution = solutions.nth(index)
            body = solution.locator("section").first
            assert not body.is_visible(), "an exercise solution is visible before it is clicked"
            solution.locator(".admonition-title").click()
            body.wait_for(state="visible", timeout=5000)
        page.wait_for_timeout(200)
        assert not errors, "\n".join(errors)
    finally:
        page.close()


def test_search_finds_the_em_chapter(site, browser):
    target = "notebooks/04_deriving_em"
    if target not in PAGES:
        pytest.skip("the EM chapter is not in the table of contents")
    page, response, errors = _open(browser, f"{site}/search.html?q=responsibilities")
    try:
        page.wait_for_selector("#search-results li a", timeout=20000)
        hits = [a.get_attribute("href") for a in page.locator("#search-results li a").all()]
        assert any(target in (h or "") for h in hits), f"search results: {hits}"
    finally:
        page.close()
