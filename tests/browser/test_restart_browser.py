"""A tab left open across a server restart (or a SIGKILL) reconnects and keeps working.

The reconnected tab starts a new session whose first run carries the widget values the
browser kept, and the control the user just moved: that run used to read a widget's key
before the widget was drawn (`KeyError: 'st.session_state has no key "model"'`) and the page
showed a traceback with the server's paths.
"""
from __future__ import annotations

import signal

import browserlib as bl
import pytest
from playwright.sync_api import expect

LOAD_TIMEOUT_MS = 150_000  # a fresh server imports torch and evaluates on a busy 2-core box
PORT = 8631


def _connected(page) -> None:
    page.wait_for_function(
        """() => { const a = document.querySelector('[data-testid="stApp"]');
                   return a && a.getAttribute('data-test-connection-state') === 'CONNECTED'; }""",
        polling=100, timeout=LOAD_TIMEOUT_MS)


@pytest.mark.parametrize("how", ["restart", "sigkill"])
def test_open_tab_recovers_after_the_server_restarts_and_a_control_moves(page, how):
    proc, url = bl.start_streamlit(bl.PROJECT_APP, port=PORT)
    try:
        page.goto(f"{url}/?model=mlp-digits&sparsity=0.3&bits=8")
        bl.wait_for_page_usable(page, min_sliders=3, min_charts=1, timeout_ms=LOAD_TIMEOUT_MS)
        bl.assert_no_exception(page)
        if how == "sigkill":
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        bl.stop_streamlit(proc)
        proc, url = bl.start_streamlit(bl.PROJECT_APP, port=PORT)
        _connected(page)  # the tab reconnects by itself
        bl.focus_slider(page, 0)  # Sparsity
        page.keyboard.press("ArrowRight")
        bl.wait_for_app_idle(page, timeout_ms=LOAD_TIMEOUT_MS)
        bl.assert_no_exception(page)
        expect(page.get_by_text("st.session_state has no key")).to_have_count(0)
        # the move was kept, and the page shows numbers for it
        assert "sparsity=0.31" in page.url, page.url
        expect(page.locator('[data-testid="stMetric"]').first).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    finally:
        bl.stop_streamlit(proc)
