"""An engineer's own residual CNN with BatchNorm in a real browser (issue 15, uploads): upload
the .pt2 and its .npz in the sidebar, prune whole filters (rows) in Explore, then measure
per-layer sensitivity and mixed precision on Trade-offs. Before the fix rows pruning showed
"running_mean should contain 8 elements not 16" and Trade-offs "unknown model 'upload:…'".

With COMPRESSION_LAB_SHOTS=DIR set, screenshots of each step (1400×1000) go to DIR."""
from __future__ import annotations

import os
import re

import browserlib as bl
from playwright.sync_api import expect
from test_app_browser import LOAD_TIMEOUT_MS, SEL_SIDEBAR, assert_healthy, card_value

from tests import own_models

SLOW_MS = 4 * LOAD_TIMEOUT_MS  # a sensitivity run is ~100 compressions on a busy 2-core box


def _shot(page, name: str) -> None:
    folder = os.environ.get("COMPRESSION_LAB_SHOTS")
    if folder:
        os.makedirs(folder, exist_ok=True)
        page.screenshot(path=os.path.join(folder, f"{name}.png"))


def test_own_residual_cnn_prunes_rows_in_explore_and_measures_sensitivity_in_tradeoffs(page, tmp_path):
    _, program, npz = own_models.build("rescnn", tmp_path)
    proc, url = bl.start_streamlit(bl.PROJECT_APP, env={"COMPRESSION_LAB_CACHE": str(tmp_path / "c")})
    try:
        page.goto(url)
        bl.wait_for_page_usable(page, min_sliders=3, min_charts=4, timeout_ms=LOAD_TIMEOUT_MS)
        sidebar = page.locator(SEL_SIDEBAR)
        sidebar.locator('[data-testid="stSelectbox"]').first.click()
        page.get_by_role("option", name="Upload your own…").click()
        expect(page.get_by_text("Upload a model file in the sidebar")).to_be_visible(timeout=LOAD_TIMEOUT_MS)
        bl.wait_for_app_idle(page)
        files = sidebar.locator('input[type="file"]')
        files.nth(0).set_input_files(str(program))
        # the file is listed once the server has it: only then does the button see it
        expect(sidebar.get_by_text(program.name, exact=True)).to_be_visible(timeout=LOAD_TIMEOUT_MS)
        bl.wait_for_app_idle(page)
        files.nth(1).set_input_files(str(npz))
        # the file is listed once the server has it: only then does the button see it
        expect(sidebar.get_by_text(npz.name, exact=True)).to_be_visible(timeout=LOAD_TIMEOUT_MS)
        bl.wait_for_app_idle(page)
        sidebar.get_by_role("button", name="Use this model").click()
        expect(page).to_have_url(re.compile(r"model=upload(%3A|:)[0-9a-f]{16}\.[0-9a-f]{16}"), timeout=LOAD_TIMEOUT_MS)
        bl.wait_for_page_usable(page, min_sliders=3, min_charts=4, timeout_ms=LOAD_TIMEOUT_MS)
        word = re.search(r"model=([^&]+)", page.url).group(1)

        # Explore: half of every coupled filter group cut out (residual add, BatchNorms)
        page.goto(f"{url}?model={word}&structure=rows&sparsity=0.5")
        bl.wait_for_page_usable(page, min_sliders=3, min_charts=4, timeout_ms=LOAD_TIMEOUT_MS)
        bl.wait_for_app_idle(page, timeout_ms=LOAD_TIMEOUT_MS)
        assert_healthy(page)
        expect(page.get_by_text("running_mean")).to_have_count(0)
        assert card_value(page, "Accuracy").endswith("%")
        assert card_value(page, "Non-zero params") != "7,418"  # the whole model has 7,418
        _shot(page, "rescnn-explore-rows")

        # Trade-offs: per-layer sensitivity, then mixed precision at a size budget
        page.goto(f"{url}/tradeoffs?model={word}")
        bl.wait_for_app_idle(page, timeout_ms=LOAD_TIMEOUT_MS)
        assert_healthy(page)
        page.get_by_role("button", name=re.compile("Measure per-layer sensitivity")).click()
        expect(page.get_by_text("Mixed precision (simulated)")).to_be_visible(timeout=SLOW_MS)
        bl.wait_for_app_idle(page, timeout_ms=SLOW_MS)
        assert_healthy(page)
        expect(page.get_by_text("unknown model")).to_have_count(0)
        page.get_by_text("Which layer is to blame?").scroll_into_view_if_needed()
        _shot(page, "rescnn-tradeoffs-sensitivity")
        page.get_by_text("Mixed precision at a size budget").scroll_into_view_if_needed()
        _shot(page, "rescnn-tradeoffs-mixed-precision")
    finally:
        bl.stop_streamlit(proc)
