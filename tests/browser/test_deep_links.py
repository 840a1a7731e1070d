"""Deep links opened first on a fresh server, shared links that try to inject, no network.

Each deep-link test starts its own Streamlit server, so the link is the first script run of
the process: Streamlit's legacy pages/ runner then runs the page without app.py, and the page
must hand over to the router (ui/router.py). Every request the browser makes is logged; none
may leave the machine (page icon, Material icon font, images from a link).
"""
from __future__ import annotations

from urllib.parse import quote, urlsplit

import browserlib as bl
import pytest
from playwright.sync_api import expect

LOAD_TIMEOUT_MS = bl.WAIT_LIMIT_MS  # overall limit of condition waits (see browserlib)
SEL_SIDEBAR = '[data-testid="stSidebar"]'
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}


def outside_requests(page) -> list[str]:
    """Start logging requests whose host is not this machine; returns the live list."""
    seen: list[str] = []

    def log(request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("data", "blob", "about", "chrome-extension"):
            return
        if parts.hostname not in LOCAL_HOSTS:
            seen.append(request.url)

    page.on("request", log)
    return seen


def assert_sidebar_and_title(page, title: str) -> None:
    sidebar = page.locator(SEL_SIDEBAR)
    expect(sidebar).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    expect(sidebar.locator('[data-testid="stSelectbox"]', has_text="Model")).to_have_count(
        1, timeout=LOAD_TIMEOUT_MS)
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    expect(sidebar.locator('[data-testid="stSidebarNavLink"]')).to_have_count(5)
    bl.assert_no_exception(page)


@pytest.mark.parametrize(("path", "title", "query", "shown_path"), [
    ("/distill", "Distill", "?bits=4", "/distill"),
    ("/explore", "Explore", "?sparsity=0.5", "/"),  # the default page is shown as "/"
    ("/language", "Language models", "?bits=4", "/language"),
])
def test_deep_link_first_on_a_fresh_server_shows_the_shared_sidebar(page, path, title, query, shown_path):
    proc, url = bl.start_streamlit(bl.PROJECT_APP)
    try:
        outside = outside_requests(page)
        page.goto(f"{url}{path}{query}")
        bl.wait_for_page_usable(page, min_sliders=3, min_charts=1, timeout_ms=LOAD_TIMEOUT_MS)
        assert_sidebar_and_title(page, title)
        # the path and the link's settings are kept
        assert urlsplit(page.url).path == shown_path, page.url
        key, value = query[1:].split("=")
        assert f"{key}={value}" in page.url, page.url
        assert not outside, outside
    finally:
        bl.stop_streamlit(proc)


INJECTIONS = {
    "model": "[Click here to re-login](https://evil.example/login)",
    "scheme": "![x](http://evil.example/x.png)",
    "profile": "<img src=http://evil.example/y.png><a href=https://evil.example>z</a>",
    "criterion": "A" * 5000,
}


def test_injection_links_render_as_plain_text_and_nothing_leaves_the_machine(page, app_server):
    outside = outside_requests(page)
    query = "&".join(f"{k}={quote(v)}" for k, v in INJECTIONS.items())
    page.goto(f"{app_server}/?{query}")
    bl.wait_for_page_usable(page, min_sliders=3, min_charts=1, timeout_ms=LOAD_TIMEOUT_MS)
    bl.wait_for_app_idle(page, timeout_ms=LOAD_TIMEOUT_MS)
    alert = page.locator('[data-testid="stAlert"]', has_text="ignored")
    expect(alert).to_have_count(1)
    assert alert.locator("a, img").count() == 0
    assert page.locator('a[href*="evil.example"], img[src*="evil.example"]').count() == 0
    text = alert.inner_text()
    assert "Click here" in text and "evil.example" in text  # shown, as literal text
    assert len(text) < 1500, len(text)  # the 5,000-character value is shortened
    assert not outside, outside


CONTRAST_JS = r"""
(sel) => {
  const lum = (rgb) => {
    const c = rgb.match(/[\d.]+/g).slice(0, 3).map((v) => {
      v = Number(v) / 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const bg = (el) => {
    for (; el; el = el.parentElement) {
      const b = getComputedStyle(el).backgroundColor;
      if (b && !b.startsWith('rgba(0, 0, 0, 0)') && b !== 'transparent') return b;
    }
    return 'rgb(255, 255, 255)';
  };
  return Array.from(document.querySelectorAll(sel)).filter((e) => e.innerText.trim()).map((e) => {
    const a = lum(getComputedStyle(e).color), b = lum(bg(e));
    return [e.innerText.slice(0, 40), (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)];
  });
}
"""


def test_projector_at_1280x720_and_150_percent_zoom(browser, app_server):
    # 150 % browser zoom on a 1280x720 screen: 853x480 CSS pixels at device scale 1.5.
    context, page = bl.new_projector_page(browser)
    try:
        page.goto(f"{app_server}/?sparsity=0.9&bits=4")
        bl.wait_for_page_usable(page, min_sliders=3, min_charts=1, timeout_ms=LOAD_TIMEOUT_MS)
        bl.wait_for_app_idle(page, timeout_ms=LOAD_TIMEOUT_MS)
        values = page.evaluate("""() => Array.from(document.querySelectorAll('[data-testid="stMetricValue"]'))
            .map((e) => [e.innerText, e.scrollWidth - e.clientWidth,
                         Array.from(e.querySelectorAll('*')).some((c) => c.scrollWidth > c.clientWidth + 1)])""")
        assert len(values) >= 5, values
        for text, overflow, inner in values:
            assert "…" not in text and overflow <= 1 and not inner, (text, overflow, inner)
        low = [(t, round(r, 2)) for t, r in page.evaluate(CONTRAST_JS, '[data-testid="stCaptionContainer"]')
               if r < 4.5]
        assert not low, low
        assert page.locator(".modebar-btn").count() == 0  # chart toolbars are not tab stops
        # every chart's text alternative is there for screen readers, and not on screen (issue 15)
        assert page.locator('[data-testid="stCaptionContainer"]', has_text="Chart: ").count() == 0
        boxes = page.evaluate("""() => Array.from(document.querySelectorAll('.clab-sr-only'))
            .map((e) => [e.textContent, e.getBoundingClientRect().width, e.getBoundingClientRect().height])""")
        assert len(boxes) >= 6 and all(t.startswith("Chart: ") and w <= 1 and h <= 1 for t, w, h in boxes), boxes
    finally:
        context.close()
