"""The live scrubber (issue 19) in headless Chromium: dragged with the mouse on Explore, its zero count
follows the dragged sparsity while the button is still down (no server round trip); on release the
sidebar takes the point and the accuracy card shows evaluate's number for it (the CLI's). The HTML
report opened from disk with every network request refused scrubs the same way."""
from __future__ import annotations

import browserlib as bl
import pytest
from browserlib import assert_no_exception, wait_for_app_idle
from playwright.sync_api import expect

from compression import charts, pipeline, report_html, scrub
from compression.config import CompressionConfig

SEL_SP = '[data-testid="scrubber-sparsity"]'
SEL_ZEROS = '[data-testid="scrubber-zeros"]'
SEL_LABEL = '[data-testid="scrubber-label"]'


@pytest.fixture(scope="module")
def digits_grid() -> dict:
    return scrub.grid("mlp-digits", None, CompressionConfig())


def _zeros_by_sparsity(grid: dict, bits: int = 32) -> dict[str, int]:
    return {f"{round(p['sparsity'] * 100)} %": p["zeros"] for p in grid["points"] if p["bits"] == bits}


def _drag(page, frame_locator, steps: int = 8) -> list[tuple[str, int]]:
    """Mouse down on the sparsity scrubber's left end, move right in `steps`, reading (sparsity, zeros)
    at each step with the button still down; returns them (the caller releases)."""
    frame_locator.locator(SEL_SP).scroll_into_view_if_needed()
    box = frame_locator.locator(SEL_SP).bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + 2, y)
    page.mouse.down()
    seen = []
    for i in range(1, steps + 1):
        page.mouse.move(box["x"] + 2 + (box["width"] - 4) * i / (steps + 2), y, steps=3)
        text = frame_locator.locator('[data-role="spv"]').inner_text()
        zeros = int(frame_locator.locator(SEL_ZEROS).inner_text().replace(",", ""))
        seen.append((text, zeros))
    return seen


def test_dragging_the_scrubber_on_explore_then_releasing_sets_the_exact_scenario(page, app_server, digits_grid):
    page.goto(app_server + "/?model=mlp-digits")
    bl.wait_for_page_usable(page, min_sliders=3, min_charts=6, timeout_ms=bl.WAIT_LIMIT_MS)
    scrubber = page.locator(".st-key-scrubber")
    # the server shares its computed grids: another test (presentation mode computes the grid without
    # asking) may have computed this one already, and then the page draws the scrubber with no button
    button = page.get_by_role("button", name="Compute the scrubbing grid")
    expect(button.or_(scrubber.locator(SEL_SP))).to_be_visible(timeout=bl.WAIT_LIMIT_MS)
    if button.is_visible():
        button.click()
    expect(scrubber.locator(SEL_SP)).to_be_visible(timeout=bl.WAIT_LIMIT_MS)
    wait_for_app_idle(page)
    runs_before = page.evaluate("() => window.__clab.states.filter((s) => s[1] === 'running').length")
    seen = _drag(page, scrubber)
    expected = _zeros_by_sparsity(digits_grid)
    assert [z for _, z in seen] == [expected[t] for t, _ in seen]  # the grid's count at each dragged sparsity
    assert len({t for t, _ in seen}) >= 4 and seen[-1][1] > seen[0][1]  # it moved, and zeros grew
    assert "nearest grid point" in scrubber.locator(SEL_LABEL).inner_text()
    assert page.evaluate("() => window.__clab.states.filter((s) => s[1] === 'running').length") == runs_before  # no rerun while dragging
    page.mouse.up()
    released = seen[-1][0]  # e.g. "40 %"
    sidebar = page.locator('[data-testid="stSidebar"] input[type="range"][aria-label="Sparsity"]')
    expect(sidebar).to_have_attribute("aria-valuetext", released, timeout=bl.WAIT_LIMIT_MS)
    wait_for_app_idle(page)
    report = pipeline.evaluate("mlp-digits", CompressionConfig(sparsity=int(released.split()[0]) / 100),
                               latency=False)
    accuracy = page.locator('.st-key-cards [data-testid="stMetric"]').filter(has_text="Accuracy")
    expect(accuracy.locator('[data-testid="stMetricValue"]')).to_have_text(charts.pct(report.accuracy),
                                                                          timeout=bl.WAIT_LIMIT_MS)
    # the scrubber stays where it was released
    assert scrubber.locator('[data-role="spv"]').inner_text() == released
    assert_no_exception(page)


def test_report_opened_offline_scrubs_the_same_way(page, tmp_path, digits_grid):
    report = pipeline.evaluate("mlp-digits", CompressionConfig(), latency=False)
    path = tmp_path / "report.html"
    path.write_text(report_html.to_html(report, "?model=mlp-digits", scrub_grid=digits_grid), encoding="utf-8")
    refused = []

    def only_the_file(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()
    page.route("**/*", only_the_file)
    page.goto(path.as_uri())
    scrubber = page.locator("#scrubber")
    expect(scrubber.locator(SEL_SP)).to_be_visible(timeout=bl.WAIT_LIMIT_MS)
    seen = _drag(page, scrubber)
    page.mouse.up()
    expected = _zeros_by_sparsity(digits_grid)
    assert [z for _, z in seen] == [expected[t] for t, _ in seen]
    assert seen[-1][1] > seen[0][1]
    # keyboard: the bits scrubber is in the tab order and arrow keys move it (error chart appears below 32 bits)
    scrubber.locator('[data-testid="scrubber-bits"]').focus()
    page.keyboard.press("ArrowLeft")
    assert scrubber.locator('[data-role="btv"]').inner_text() == "16"
    assert "rounded" in scrubber.locator('[data-testid="scrubber-error"]').text_content()
    assert refused == []
