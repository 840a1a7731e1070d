"""The Trade-offs page opened first by a deep link on a fresh server: the shared sidebar, a sweep
that runs and lists its frontier, a point opened in Explore, no exception and nothing fetched
from outside the machine."""
from __future__ import annotations

from urllib.parse import urlsplit

import browserlib as bl
from playwright.sync_api import expect
from test_deep_links import LOAD_TIMEOUT_MS, assert_sidebar_and_title, outside_requests


def test_tradeoffs_deep_link_first_runs_a_sweep_and_opens_a_point_in_explore(page, tmp_path):
    proc, url = bl.start_streamlit(bl.PROJECT_APP, env={"COMPRESSION_LAB_CACHE": str(tmp_path)})
    try:
        outside = outside_requests(page)
        page.goto(f"{url}/tradeoffs?bits=8")
        expect(page.get_by_role("heading", name="Trade-offs", exact=True)).to_be_visible(timeout=LOAD_TIMEOUT_MS)
        bl.wait_for_app_idle(page, timeout_ms=LOAD_TIMEOUT_MS)
        assert_sidebar_and_title(page, "Trade-offs")
        assert urlsplit(page.url).path == "/tradeoffs" and "bits=8" in page.url, page.url

        page.get_by_role("button", name="Run sweep").click()
        expect(page.get_by_text("Pareto frontier", exact=False).first).to_be_visible(timeout=LOAD_TIMEOUT_MS)
        bl.wait_for_app_idle(page, timeout_ms=LOAD_TIMEOUT_MS)
        expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(1)
        expect(page.get_by_role("button", name="Run sweep")).to_be_enabled()
        expect(page.get_by_role("button", name="Stop")).to_be_disabled()
        bl.assert_no_exception(page)

        page.get_by_role("button", name="Open in Explore").first.click()
        expect(page.get_by_role("heading", name="Explore", exact=True)).to_be_visible(timeout=LOAD_TIMEOUT_MS)
        bl.wait_for_app_idle(page, timeout_ms=LOAD_TIMEOUT_MS)
        bl.assert_no_exception(page)
        assert not outside, outside
    finally:
        bl.stop_streamlit(proc)
