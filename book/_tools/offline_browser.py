"""Debian's Chromium on the built site, with no network: shared by the PDF edition and the tests.

The site is served from a directory on 127.0.0.1 by a thread of the calling process, so it is read
with the caller's own permissions. Pages load MathJax 3 from a CDN; :func:`open_offline` answers
those requests from the copy of MathJax in the ``sphinx-mathjax-offline`` wheel and refuses every
other request that leaves the machine, so nothing here touches the network.
"""

from __future__ import annotations

import contextlib
import http.server
import re
import shutil
import sys
import threading
from functools import partial
from pathlib import Path
from urllib.parse import urlparse

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MATHJAX_CDN_PATH = re.compile(r"/mathjax@3/es5/(.+?)(\?.*)?$")


class _SiteHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def end_headers(self):
        # linkchecker spaces its requests to one host 0.1-0.6 s apart, to spare other people's
        # servers, unless the server answers with this header; this one is local and ours alone.
        self.send_header("LinkChecker", "local test server")
        super().end_headers()


class _SiteServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # A checker or browser that has what it needs hangs up mid-transfer: not our error.
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


@contextlib.contextmanager
def served(directory):
    """Serve ``directory`` on 127.0.0.1 (a free port) while the block runs; yield its URL."""
    server = _SiteServer(("127.0.0.1", 0), partial(_SiteHandler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def mathjax_dir():
    """The folder of MathJax 3's ``es5`` bundle inside the ``sphinx-mathjax-offline`` wheel."""
    # The wheel's top-level folder has a hyphen, so it is found beside the other packages.
    for entry in sys.path:
        candidate = Path(entry) / "sphinx-mathjax-offline" / "static" / "mathjax"
        if (candidate / "tex-mml-chtml.js").is_file():
            return candidate
    raise FileNotFoundError("MathJax 3 not found: install the test extra (`pip install -e .[test]`)")


@contextlib.contextmanager
def chromium():
    """Launch Debian's Chromium through Playwright; yield the browser."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        raise FileNotFoundError("Chromium is missing: `make browser-deps` installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_offline(browser, url, *, mode=None, extra_routes=None, errors=None):
    """Open ``url`` in a new tab with MathJax served locally and every outside request refused.

    ``mode`` (``"light"`` or ``"dark"``) is the theme's colour mode, chosen as a reader's click
    on the theme's switch would (it is remembered in the browser's local storage); by default the
    site's own default. ``extra_routes`` maps URL paths on the site's own host to HTML text to
    answer with (a page that exists only in memory). If ``errors`` is a list, JavaScript errors
    of the page are appended to it. Returns the tab and the response of the page itself.
    """
    local_mathjax = mathjax_dir()
    extra_routes = extra_routes or {}
    page = browser.new_page(color_scheme=mode or "light")
    if mode is not None:
        page.add_init_script(f"localStorage.setItem('mode', '{mode}');")
    if errors is not None:
        page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))

        def on_console(message):
            # Our pages' own errors; a refused outside request is the test's doing, not the page's.
            if message.type == "error" and "127.0.0.1" in (message.location or {}).get("url", "127.0.0.1"):
                if not message.text.startswith("Failed to load resource"):
                    errors.append(f"console: {message.text}")

        page.on("console", on_console)

    def route(request_route):
        request_url = request_route.request.url
        parts = urlparse(request_url)
        if parts.hostname == "127.0.0.1":
            if parts.path in extra_routes:
                return request_route.fulfill(body=extra_routes[parts.path], content_type="text/html; charset=utf-8")
            return request_route.continue_()
        match = MATHJAX_CDN_PATH.search(request_url)
        if match and (local_mathjax / match.group(1)).is_file():
            return request_route.fulfill(path=str(local_mathjax / match.group(1)))
        return request_route.abort()

    page.route("**/*", route)
    response = page.goto(url, wait_until="load")
    return page, response


def wait_for_math(page, timeout=60000):
    """Wait until MathJax (if the page loads it) has typeset every formula."""
    if page.locator("script[src*='mathjax']").count():
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                               timeout=timeout)
        page.evaluate("() => MathJax.startup.promise")
