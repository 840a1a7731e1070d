"""The Distill page at 1280×720 and 150 % zoom: pickers, cards and verdicts are never cut.

A link with a fraction and a left-out digit waits for a click, then both students show
with their intervals; no selectbox value, metric value or delta text is truncated.
"""
from __future__ import annotations

import browserlib as bl

LOAD_TIMEOUT_MS = bl.WAIT_LIMIT_MS

# Elements whose text overflows their box (scrollWidth past clientWidth), with their text.
CUT_JS = """(sel) => Array.from(document.querySelectorAll(sel)).flatMap((e) =>
    [e, ...e.querySelectorAll('*')].filter((c) => c.scrollWidth > c.clientWidth + 1 && c.innerText)
    .map((c) => c.innerText.slice(0, 60)))"""


def test_distill_at_projector_zoom_is_not_cut(browser, app_server):
    context, page = bl.new_projector_page(browser)
    try:
        page.goto(f"{app_server}/distill?fraction=0.05&leave_out=3&epochs=1")
        page.wait_for_selector('[data-testid="stSelectbox"]', timeout=LOAD_TIMEOUT_MS)
        bl.wait_for_app_idle(page, timeout_ms=LOAD_TIMEOUT_MS)
        assert page.locator('[data-testid="stMetricValue"]').count() == 1  # the entropy only: no training
        page.get_by_role("button", name="Train student").click()
        page.wait_for_selector('text=Hard labels, on the', timeout=LOAD_TIMEOUT_MS)
        bl.wait_for_app_idle(page, timeout_ms=LOAD_TIMEOUT_MS)
        bl.assert_no_exception(page)
        for sel in ('[data-testid="stSelectbox"] [data-baseweb="select"]', '[data-testid="stMetricValue"]',
                    '[data-testid="stMetricDelta"]', '[data-testid="stMetric"]'):
            cut = page.evaluate(CUT_JS, sel)
            assert not cut, (sel, cut)
        assert page.get_by_text("95% CI", exact=False).count() >= 5
        assert page.get_by_text("paired 95 % CI", exact=False).count() == 2
    finally:
        context.close()
