"""Explore on a projector: 1280×720 at 150 % zoom is 853×480 CSS px (issue 15, defect 6): a chart on
the first screen, every button label whole, no visible "Chart: …" text, the cards' details one click away."""
from __future__ import annotations

import browserlib as bl
from test_deep_links import LOAD_TIMEOUT_MS

CUT_JS = """() => Array.from(document.querySelectorAll('[data-testid="stMain"] button'))
  .filter((b) => b.offsetParent !== null)
  .flatMap((b) => [b, ...b.querySelectorAll('*')])
  .filter((e) => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).textOverflow === 'ellipsis')
  .map((e) => e.innerText)"""


def test_projector_first_screen_has_a_chart_and_whole_labels(browser, app_server):
    context, page = bl.new_projector_page(browser)
    try:
        page.goto(f"{app_server}/?sparsity=0.9&bits=4")
        bl.wait_for_page_usable(page, min_sliders=3, min_charts=1, timeout_ms=LOAD_TIMEOUT_MS)
        bl.wait_for_app_idle(page, timeout_ms=LOAD_TIMEOUT_MS)
        bl.assert_no_exception(page)
        page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollTo(0, 0)")
        tops = page.evaluate("""() => Array.from(document.querySelectorAll('.js-plotly-plot'))
            .map((p) => p.getBoundingClientRect().top).filter((t) => t >= 0)""")
        assert tops and min(tops) < 480 - 60, tops  # at least 60 px of a chart on the first screen
        cards = page.locator('.st-key-cards [data-testid="stMetric"]')
        assert cards.count() == 5
        assert len({round(b["y"]) for b in (cards.nth(i).bounding_box() for i in range(5))}) == 1  # one row
        expander = page.locator(".st-key-card_details")
        assert expander.is_visible()
        assert not page.evaluate(CUT_JS)
        # the charts' text alternatives are there for screen readers, visually hidden (1×1 px, clipped)
        boxes = page.evaluate("""() => Array.from(document.querySelectorAll('.clab-sr-only'))
            .map((e) => [e.getBoundingClientRect().width, e.getBoundingClientRect().height])""")
        assert boxes and all(w <= 1 and h <= 1 for w, h in boxes), boxes
    finally:
        context.close()


HEADER_JS = """() => [document.querySelector('[data-testid=stHeader]').getBoundingClientRect().bottom,
  document.querySelector('[data-testid=stMain] h1').getBoundingClientRect().top]"""


def test_the_header_never_covers_the_title_on_a_projector_nor_in_presentation_mode(browser, app_server):
    context, page = bl.new_projector_page(browser)
    try:
        for query in ("", "?view=present"):
            page.goto(f"{app_server}/{query}")
            bl.wait_for_page_usable(page, min_sliders=1, min_charts=1, timeout_ms=LOAD_TIMEOUT_MS)
            bl.wait_for_app_idle(page, timeout_ms=LOAD_TIMEOUT_MS)
            bl.assert_no_exception(page)
            page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollTo(0, 0)")
            header_bottom, title_top = page.evaluate(HEADER_JS)
            assert title_top >= header_bottom, (query, header_bottom, title_top)
    finally:
        context.close()


STAR_JS = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).flatMap((p) => {
  const box = p.getBoundingClientRect();
  return Array.from(p.querySelectorAll('.annotation-text')).filter((t) => t.textContent.includes('★'))
    .map((t) => { const r = t.getBoundingClientRect(); return [t.textContent, r.left >= box.left - 1 && r.right <= box.right + 1]; });
})"""


def test_the_cards_star_label_is_whole_at_high_sparsity_on_a_projector(browser, app_server):
    # 90 % pruned and fine-tuned: the one-shot curve's star sits near the right edge; its label
    # "★ the card (fine-tuned)" ran off the plot to the right
    context, page = bl.new_projector_page(browser)
    try:
        page.goto(f"{app_server}/?preset=prune-90")
        bl.wait_for_app_idle(page, timeout_ms=LOAD_TIMEOUT_MS)
        run = page.locator(".st-key-run_link button")
        if run.count():  # a link that fine-tunes waits for Run
            run.click()
        bl.wait_for_page_usable(page, min_sliders=1, min_charts=4, timeout_ms=LOAD_TIMEOUT_MS)
        bl.wait_for_app_idle(page, timeout_ms=LOAD_TIMEOUT_MS)
        bl.assert_no_exception(page)
        page.get_by_text("★ the card (fine-tuned)").first.scroll_into_view_if_needed()
        labels = page.evaluate(STAR_JS)
        assert labels and all(inside for _, inside in labels), labels
    finally:
        context.close()


CHIPS_JS = """() => Array.from(document.querySelectorAll('[data-testid=stMultiSelectTagsContainer]')).map((c) => {
  const box = c.getBoundingClientRect();
  const widget = c.closest('[data-testid=stMultiSelect]').getBoundingClientRect();
  const chips = Array.from(c.querySelectorAll('[data-baseweb=tag]'));
  return [chips.length, chips.filter((t) => { const r = t.getBoundingClientRect();  // inside, not over what follows
    return r.left >= box.left - 1 && r.right <= box.right + 1 && r.bottom <= widget.bottom + 1; }).length,
    c.scrollWidth <= c.clientWidth + 1];
})"""


def test_every_picked_value_of_a_multiselect_is_visible_on_a_projector(browser, app_server):
    # Trade-offs' sweep grid picks 4 sparsities and 4 bit-widths: the fourth chip was cut ("9…")
    context, page = bl.new_projector_page(browser)
    try:
        page.goto(f"{app_server}/tradeoffs")
        page.locator('[data-testid="stMultiSelectTagsContainer"]').first.wait_for()
        bl.wait_for_app_idle(page, timeout_ms=LOAD_TIMEOUT_MS)
        bl.assert_no_exception(page)
        boxes = page.evaluate(CHIPS_JS)
        assert boxes and all(n == whole and fits for n, whole, fits in boxes), boxes
    finally:
        context.close()


CHART_TEXT_CUT_JS = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).flatMap((p) => {
  const box = p.getBoundingClientRect();
  return Array.from(p.querySelectorAll('.gtitle, .annotation-text, .legendtext'))
    .filter((t) => { const r = t.getBoundingClientRect(); return r.width && (r.right > box.right + 1 || r.left < box.left - 1); })
    .map((t) => t.textContent.slice(0, 60));
})"""


def test_no_chart_title_subtitle_or_label_runs_off_its_chart_on_a_projector(browser, app_server):
    # a Plotly subtitle or annotation does not wrap: the 4-bit formats' panel labels and subtitle,
    # the energy chart's subtitle were cut at 1280×720 and 150 % zoom
    context, page = bl.new_projector_page(browser)
    try:
        page.goto(f"{app_server}/?sparsity=0.5&bits=4")
        bl.wait_for_page_usable(page, min_sliders=3, min_charts=6, timeout_ms=LOAD_TIMEOUT_MS)
        bl.wait_for_app_idle(page, timeout_ms=LOAD_TIMEOUT_MS)
        bl.assert_no_exception(page)
        assert not page.evaluate(CHART_TEXT_CUT_JS)
    finally:
        context.close()
