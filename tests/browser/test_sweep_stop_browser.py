"""One press of the sweep's Stop ends it at once (issue 15: the first press froze the progress,
Run stayed disabled, and a second press was needed while a fine-tuned config was in flight)."""
from __future__ import annotations

import re

import browserlib as bl
from playwright.sync_api import expect
from test_deep_links import LOAD_TIMEOUT_MS


def test_one_press_of_stop_ends_the_sweep_with_the_config_in_flight_dropped(page, tmp_path):
    proc, url = bl.start_streamlit(bl.PROJECT_APP, env={"COMPRESSION_LAB_CACHE": str(tmp_path)})
    try:
        # fine-tuning kept: every pruned config trains 30 epochs (seconds each), the unpruned ones do not
        page.goto(f"{url}/tradeoffs?model=mlp-digits&sparsity=0.5&finetune_epochs=30")
        # a button with a help line is drawn twice by Streamlit 1.67 (one copy hidden, for sizing)
        run = page.locator(".st-key-sweep_run button >> visible=true")
        stop = page.locator(".st-key-sweep_stop button >> visible=true")
        # idle first: while the first run draws, the previous render's button is still on the page
        bl.wait_for_app_idle(page, timeout_ms=LOAD_TIMEOUT_MS)
        expect(run).to_be_visible(timeout=LOAD_TIMEOUT_MS)
        page.locator(".st-key-sweep_train label").click()
        bl.wait_for_app_idle(page, timeout_ms=LOAD_TIMEOUT_MS)
        expect(run).to_have_text(re.compile(r"Run sweep \(16 configs\)"))
        run.click()
        # configs 1-4 are unpruned (fast); config 5 is the first that fine-tunes
        progress = page.locator('[data-testid="stProgress"]')
        expect(progress).to_contain_text(re.compile(r"config 5 of 16|4/16 configs"), timeout=LOAD_TIMEOUT_MS)
        stop.click()  # once
        expect(page.get_by_text("Stopped after 4 of 16 configs")).to_be_visible(timeout=LOAD_TIMEOUT_MS)
        bl.wait_for_app_idle(page, timeout_ms=LOAD_TIMEOUT_MS)
        expect(run).to_be_enabled()
        expect(stop).to_be_disabled()
        bl.assert_no_exception(page)
    finally:
        bl.stop_streamlit(proc)
