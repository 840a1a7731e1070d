"""Explore's number-format views in Chromium, on a projector (1280×720 at 150 % = 853×480 CSS px):
dragging the group-size control with the mouse redraws the outlier's grid and the four formats' grids
(issue 16). Every wait is on the page's state: a chart's title, the app idle.

CLAB_SHOTS=DIR saves a screenshot of the views there (for a person to look at).
"""
from __future__ import annotations

import os
import re

import browserlib as bl
from test_app_browser import LOAD_TIMEOUT_MS, assert_healthy, chart

GROUP = "Group size in these charts"
OUTLIER_TITLE = re.compile(r"^One outlier stretches its group's grid")
GRIDS_TITLE = re.compile(r"^The levels each 4-bit format can represent")
TITLE_HAS = """(text) => Array.from(document.querySelectorAll('.js-plotly-plot .gtitle'))
    .some((t) => t.textContent.includes(text))"""


def test_dragging_the_group_size_redraws_the_grid_charts(browser, app_server):
    context, page = bl.new_projector_page(browser)
    try:
        page.goto(f"{app_server}/?model=lenet300-mnist&bits=4&granularity=group")
        bl.wait_for_page_usable(page, min_sliders=3, min_charts=1, timeout_ms=LOAD_TIMEOUT_MS)
        bl.wait_for_app_idle(page, timeout_ms=LOAD_TIMEOUT_MS)
        control = page.locator(f'input[type="range"][aria-label="{GROUP}"]')
        control.scroll_into_view_if_needed()
        page.wait_for_function(TITLE_HAS, arg="(g = 128)", timeout=LOAD_TIMEOUT_MS)
        title0, outlier0 = chart(page, OUTLIER_TITLE)
        _, grids0 = chart(page, GRIDS_TITLE)
        assert "g = 128" in title0

        # the range input is visually hidden inside the thumb; the thumb moves along the track
        thumb, track = control.locator("xpath=../.."), control.locator("xpath=../../..")
        t, r = thumb.bounding_box(), track.bounding_box()
        assert t is not None and r is not None
        y = t["y"] + t["height"] / 2
        page.mouse.move(t["x"] + t["width"] / 2, y)  # the thumb sits at the last stop, 128
        page.mouse.down()
        page.mouse.move(r["x"], y, steps=12)         # dragged to the first stop, 16
        page.mouse.up()
        page.wait_for_function(TITLE_HAS, arg="(g = 16)", timeout=LOAD_TIMEOUT_MS)
        bl.wait_for_app_idle(page, timeout_ms=LOAD_TIMEOUT_MS)

        title1, outlier1 = chart(page, OUTLIER_TITLE)
        _, grids1 = chart(page, GRIDS_TITLE)
        assert "g = 16" in title1 and outlier1 and outlier1 != outlier0, "the outlier's grid chart was not redrawn"
        assert grids1 != grids0, "INT4's and FP4's grids did not follow the group size"
        assert control.get_attribute("aria-valuetext") == "16"
        assert_healthy(page)
        if os.environ.get("CLAB_SHOTS"):
            page.locator(".js-plotly-plot").filter(has_text="One outlier").scroll_into_view_if_needed()
            page.screenshot(path=os.path.join(os.environ["CLAB_SHOTS"], "projector_formats.png"))
    finally:
        context.close()
