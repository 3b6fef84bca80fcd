"""Accessibility of the built book in Chromium: axe-core on every page, light and dark mode.

- axe-core (the ``axe.min.js`` that the ``axe-playwright-python`` wheel ships, so no Node is
  needed) runs on every page of ``_toc.yml`` in the theme's light and dark mode, with its default
  rules (WCAG 2 A/AA, best practices) and its experimental ones; no serious or critical violation
  may remain. Fixes belong in our CSS,
  templates and extensions (``book/_static``, ``book/_templates``, ``book/_ext``), never in
  switching a rule off.
- In dark mode every figure and animation frame, drawn on white, must still show its ink
  (axes, labels, lines) at text contrast against its own background, measured on a screenshot.
- Every folded solution and every folded code cell opens from the keyboard.
"""

import importlib.util
import io
from pathlib import Path

import pytest
from book_helpers import HTML, PAGES, browser, html_dir, offline_browser, site  # noqa: F401 (fixtures)

pytestmark = pytest.mark.book

MODES = ["light", "dark"]
WCAG_TEXT_CONTRAST = 4.5


def _axe_script():
    spec = importlib.util.find_spec("axe_playwright_python")
    if spec is None:
        pytest.fail("axe-core not found: install the test extra (`pip install -e .[test]`)")
    return Path(spec.origin).parent / "axe.min.js"


def _open(browser, site, page_name, mode):
    page, response = offline_browser.open_offline(browser, f"{site}/{page_name}.html", mode=mode)
    assert response.status == 200
    offline_browser.wait_for_math(page)
    theme = page.evaluate("() => document.documentElement.dataset.theme")
    assert theme == mode, f"the theme shows {theme!r} where {mode!r} was chosen"
    return page


RUN_AXE = """async () => {
  // axe's default rules (WCAG 2 A and AA, best practices) and its experimental ones too
  // (label-content-name-mismatch is one); not the AAA rules, which are not our target.
  const rules = Object.fromEntries(axe.getRules(['experimental']).map(rule => [rule.ruleId, {enabled: true}]));
  const result = await axe.run(document, {rules, resultTypes: ['violations']});
  return result.violations
    .filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => ({rule: v.id, impact: v.impact, help: v.help,
                where: v.nodes.slice(0, 4).map(n => n.target.join(' ') + ': ' +
                                                    (n.failureSummary || '').split('\\n')[1])}));
}"""


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("page_name", PAGES)
def test_axe_finds_no_serious_violation(site, browser, page_name, mode):
    page = _open(browser, site, page_name, mode)
    try:
        page.add_script_tag(path=str(_axe_script()))
        violations = page.evaluate(RUN_AXE)
    finally:
        page.close()
    report = "\n".join(f"{v['impact']} {v['rule']} ({v['help']}):\n    " + "\n    ".join(v["where"])
                       for v in violations)
    assert not violations, f"{page_name} in {mode} mode:\n{report}"


def _luminance(rgb):
    """Relative luminance of sRGB pixels (WCAG 2), for an array of shape (..., 3) in 0..255."""
    import numpy as np

    channels = np.asarray(rgb, dtype=float) / 255
    linear = np.where(channels <= 0.03928, channels / 12.92, ((channels + 0.055) / 1.055) ** 2.4)
    return linear @ np.array([0.2126, 0.7152, 0.0722])


def _ink_contrast(image):
    """Contrast between a figure's background (its commonest colour) and its darkest ink.

    The ink is the 1st percentile of luminance: a figure's axis lines and labels, drawn in black.
    On a white backdrop this stays high; a figure whose white became the page's dark background
    loses its black ink in it, and the ratio falls towards 1.
    """
    import numpy as np

    pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    colours, counts = np.unique(pixels, axis=0, return_counts=True)
    background = _luminance(colours[counts.argmax()])
    ink = np.percentile(_luminance(pixels), 1)
    return (max(background, ink) + 0.05) / (min(background, ink) + 0.05)


def _as_drawn_on_white(figure, site):
    """The figure's image file as light mode shows it: composited onto the white page."""
    import base64
    import urllib.request

    from PIL import Image

    source = figure.evaluate("el => el.currentSrc")
    if source.startswith("data:"):  # an animation's current frame
        data = base64.b64decode(source.split(",", 1)[1])
    else:
        assert source.startswith(site), source
        with urllib.request.urlopen(source) as response:
            data = response.read()
    image = Image.open(io.BytesIO(data)).convert("RGBA")
    white = Image.new("RGBA", image.size, "white")
    return Image.alpha_composite(white, image)


PAGES_WITH_FIGURES = [p for p in PAGES if "<img" in (HTML / f"{p}.html").read_text()] if HTML.exists() else PAGES


@pytest.mark.parametrize("page_name", PAGES_WITH_FIGURES)
def test_figures_stay_readable_in_dark_mode(site, browser, page_name):
    """Each figure's ink keeps text contrast in dark mode, or at least the contrast it has on white."""
    from PIL import Image

    page = _open(browser, site, page_name, "dark")
    try:
        figures = page.locator("main article img:visible")
        assert figures.count(), "no figure on a page whose HTML has one"
        weak = []
        for index in range(figures.count()):
            figure = figures.nth(index)
            figure.scroll_into_view_if_needed()
            dark = _ink_contrast(Image.open(io.BytesIO(figure.screenshot())))
            on_white = _ink_contrast(_as_drawn_on_white(figure, site))
            if dark < min(WCAG_TEXT_CONTRAST, on_white):
                weak.append(f"{figure.get_attribute('alt')[:60]!r}: {dark:.1f}:1 (on white {on_white:.1f}:1)")
    finally:
        page.close()
    assert not weak, f"figures whose ink fades in dark mode (need {WCAG_TEXT_CONTRAST}:1): {weak}"


PAGES_WITH_FOLDS = [p for p in PAGES if any(marker in (HTML / f"{p}.html").read_text()
                                            for marker in ('class="admonition solution dropdown', "<details"))
                    ] if HTML.exists() else PAGES


@pytest.mark.parametrize("page_name", PAGES_WITH_FOLDS)
def test_folded_solutions_and_code_open_with_the_keyboard(site, browser, page_name):
    page = _open(browser, site, page_name, "light")
    try:
        solutions = page.locator("main .solution.dropdown")
        for index in range(solutions.count()):
            solution = solutions.nth(index)
            body = solution.locator("section").first
            toggle = solution.locator("button.toggle-button")
            assert not body.is_visible(), "a solution is visible before it is opened"
            toggle.focus()
            assert toggle.evaluate("el => el === document.activeElement && el.tabIndex >= 0"), \
                "a solution's toggle cannot take the keyboard focus"
            page.keyboard.press("Enter")
            body.wait_for(state="visible", timeout=5000)
            assert toggle.get_attribute("aria-expanded") == "true"
            page.keyboard.press(" ")
            body.wait_for(state="hidden", timeout=5000)
        folds = page.locator("main details")
        for index in range(folds.count()):
            fold = folds.nth(index)
            summary = fold.locator("summary").first
            summary.focus()
            assert summary.evaluate("el => el === document.activeElement"), "a fold's summary cannot take focus"
            page.keyboard.press("Enter")
            assert fold.evaluate("el => el.open"), "Enter does not open a folded block"
    finally:
        page.close()
