"""Real-browser tests of the project's app (app.py) in headless Chromium.

One Streamlit server for the whole session (``app_server``); every test gets a fresh
browser context, hence a fresh Streamlit session. Sliders are moved with the keyboard,
as a user would; every wait is on the page's state (script not running, DOM quiet,
an element's text), never a fixed sleep.

Covered: Explore loads with its charts and headline cards; the sparsity, bit-width and
temperature sliders rerun the page and redraw their charts, and the URL follows; a link
with a scenario reopens it (sliders and the accuracy card equal the backend's number);
a bad link warns and still renders; a deep link to /distill draws the shared sidebar.
"""

from __future__ import annotations

import re

import browserlib as bl
import pytest
from browserlib import assert_no_exception, wait_for_app_idle
from playwright.sync_api import expect

LOAD_TIMEOUT_MS = bl.WAIT_LIMIT_MS  # overall limits of condition waits (see browserlib)
REDRAW_TIMEOUT_MS = bl.WAIT_LIMIT_MS
MIN_EXPLORE_CHARTS = 6
N_CARDS = 5  # accuracy, size, energy, non-zero params, latency

SEL_METRIC = '[data-testid="stMetric"]'
SEL_CARD = '.st-key-cards [data-testid="stMetric"]'  # the headline cards (other sections draw metrics too)
SEL_METRIC_VALUE = '[data-testid="stMetricValue"]'
SEL_ALERT = '[data-testid="stAlert"]'
SEL_SIDEBAR = '[data-testid="stSidebar"]'
SEL_NAV_LINK = '[data-testid="stSidebarNavLink"]'

SPARSITY, BITS, TEMPERATURE = "Sparsity", "Weight bits", "Distillation temperature T"

WEIGHTS_TITLE = re.compile(r"^Weights of ")
ERROR_BARS_TITLE = re.compile(r"^Quantization error per layer")
SOFT_TARGETS_TITLE = re.compile(r"^Teacher's soft targets")


# --------------------------------------------------------------------------- helpers


def slider(page, label: str):
    """The slider (st.slider or st.select_slider) with this label, in the sidebar or on the page
    (Distill draws its temperature first on the page, where a projector's first screen shows it)."""
    return page.locator(f'input[type="range"][aria-label="{label}"]')


def slider_text(page, label: str) -> str:
    """What the slider shows, e.g. '80 %' for sparsity, '4' or '32 (float)' for bits."""
    return slider(page, label).get_attribute("aria-valuetext")


def open_app(page, url: str, min_charts: int = MIN_EXPLORE_CHARTS) -> None:
    page.goto(url)
    bl.wait_for_page_usable(page, min_sliders=3, min_charts=min_charts, timeout_ms=LOAD_TIMEOUT_MS)


def charts_by_title(page) -> dict[str, str]:
    """{chart title: signature of its drawn traces} for every Plotly chart on the page."""
    titles = page.evaluate(
        """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(
              (p) => ((p.querySelector('.gtitle') || {}).textContent || '').trim())"""
    )
    sigs = bl.chart_signatures(page)
    assert len(titles) == len(sigs)
    return dict(zip(titles, sigs))


def chart(page, title: re.Pattern) -> tuple[str, str]:
    """(title, signature) of the one chart whose title matches."""
    found = [(t, s) for t, s in charts_by_title(page).items() if title.search(t)]
    assert len(found) == 1, f"one chart titled {title.pattern!r}; titles: {list(charts_by_title(page))}"
    return found[0]


def card(page, label_start: str):
    """The metric card whose label starts with ``label_start`` (exactly one)."""
    cards = page.locator(SEL_METRIC).filter(
        has=page.locator('[data-testid="stMetricLabel"]', has_text=re.compile("^" + re.escape(label_start)))
    )
    expect(cards).to_have_count(1)
    return cards


def card_value(page, label_start: str) -> str:
    return card(page, label_start).locator(SEL_METRIC_VALUE).inner_text().strip()


def move_slider(page, label: str, key: str, presses: int, url: re.Pattern) -> list[dict]:
    """Press ``key`` ``presses`` times on a slider, waiting for each rerun's redraw.

    Each press is timed by ``timed_key_redraw``: it waits until a rerun (or a chart
    change) followed the key and the page is quiet again. Then the URL must match
    ``url`` (the script writes it from the new value) and the page must be idle.

    One press at a time, as a user who watches the page; fast presses have their own test.
    """
    index = page.locator(bl.SEL_SLIDER).evaluate_all(
        "(els, label) => els.findIndex((e) => e.getAttribute('aria-label') === label)", label
    )
    assert index >= 0, f"no slider labelled {label!r}"
    timings = [
        bl.timed_key_redraw(page, key, slider_index=index, timeout_ms=REDRAW_TIMEOUT_MS)
        for _ in range(presses)
    ]
    expect(page).to_have_url(url, timeout=REDRAW_TIMEOUT_MS)
    wait_for_app_idle(page, timeout_ms=REDRAW_TIMEOUT_MS)
    return timings


def assert_healthy(page) -> None:
    """No exception box, no traceback text, no st.error box."""
    assert_no_exception(page)
    errors = page.locator(f'{SEL_ALERT}:has([data-testid="stAlertContentError"])')
    assert errors.count() == 0, f"error box(es): {errors.all_inner_texts()}"


@pytest.fixture(scope="module")
def backend_accuracy():
    """What the backend says for the scenario of the URL round-trip test."""
    from compression import charts, pipeline
    from compression.config import CompressionConfig

    report = pipeline.evaluate("mlp-digits", CompressionConfig(sparsity=0.8, bits=4), latency=False)
    return charts.pct(report.accuracy)


# --------------------------------------------------------------------------- tests


def test_explore_loads_with_charts_and_cards(page, app_server):
    open_app(page, app_server)

    n_charts = page.locator(bl.SEL_CHART).count()
    assert n_charts >= MIN_EXPLORE_CHARTS, f"only {n_charts} Plotly charts on Explore"
    # Every chart draws a trace, except those saying in words that there is nothing to
    # draw (the error histogram at 32 bits).
    empty = page.evaluate(
        """() => Array.from(document.querySelectorAll('.js-plotly-plot'))
                  .filter((p) => !p.querySelector('.main-svg g.trace'))
                  .map((p) => p.querySelector('.main-svg') ? p.textContent : 'NOT DRAWN')"""
    )
    assert len(empty) <= 1 and all("no quantization error at 32 bits" in t for t in empty), empty
    titles = list(charts_by_title(page))
    assert all(titles), f"a chart without a title: {titles}"
    for pattern in (WEIGHTS_TITLE, ERROR_BARS_TITLE, re.compile("^Accuracy vs sparsity"),
                    re.compile("^Accuracy vs bit-width")):
        assert any(pattern.search(t) for t in titles), f"no chart {pattern.pattern!r} in {titles}"

    expect(page.locator(SEL_CARD)).to_have_count(N_CARDS)
    for label in ("Accuracy", "Size", "Energy", "Non-zero params", "Latency"):
        assert card_value(page, label), f"{label} card has no value"
    assert re.fullmatch(r"\d{1,3}\.\d %", card_value(page, "Accuracy")), card_value(page, "Accuracy")

    expect(page.get_by_role("heading", name="Explore")).to_be_visible()
    expect(page.locator(SEL_NAV_LINK)).to_have_count(5)
    # The defaults: no warning about the link, sliders at 0 % and float.
    expect(page.locator(SEL_ALERT)).to_have_count(0)
    assert slider_text(page, SPARSITY) == "0 %"
    assert slider_text(page, BITS) == "32 (float)"
    assert "model=mlp-digits" in page.url
    assert_healthy(page)


def test_sparsity_slider_changes_accuracy_histogram_and_url(page, app_server):
    open_app(page, app_server)
    acc0 = card_value(page, "Accuracy")
    hist_title0, hist0 = chart(page, WEIGHTS_TITLE)
    nonzero0 = card_value(page, "Non-zero params")
    assert "sparsity=" not in page.url  # default sparsity is not written

    # One step right: 1 %, reruns the script, URL follows.
    (timing,) = move_slider(page, SPARSITY, "ArrowRight", 1, re.compile(r"[?&]sparsity=0\.01(&|$)"))
    assert timing["runStart"] is not None, "the key press reran the script"
    assert slider_text(page, SPARSITY) == "1 %"
    assert card_value(page, "Non-zero params") != nonzero0

    # Then on with PageUp (react-aria's page step is a tenth of the range: 1 -> 11 ->
    # 21 -> 31 %): the accuracy (97.5 -> 98.1 % for mlp-digits) and the histogram change.
    move_slider(page, SPARSITY, "PageUp", 3, re.compile(r"[?&]sparsity=0\.31(&|$)"))
    assert slider_text(page, SPARSITY) == "31 %"
    acc1 = card_value(page, "Accuracy")
    assert acc1 != acc0, f"accuracy card still {acc0} at 31 % sparsity"
    hist_title1, hist1 = chart(page, WEIGHTS_TITLE)
    assert hist1 and hist1 != hist0, "weight histogram not redrawn"
    assert hist_title1 != hist_title0  # the title names the zero fraction
    assert_healthy(page)


def test_bit_width_slider_changes_quantization_error_chart(page, app_server):
    open_app(page, app_server)
    assert slider_text(page, BITS) == "32 (float)"
    _, err0 = chart(page, ERROR_BARS_TITLE)
    size0 = card_value(page, "Size")

    # 32 -> 16 -> 12 -> 8 -> 6 -> 5 -> 4 (the select_slider's stops)
    timings = move_slider(page, BITS, "ArrowLeft", 6, re.compile(r"[?&]bits=4(&|$)"))
    assert timings[0]["runStart"] is not None, "the key press reran the script"
    assert slider_text(page, BITS) == "4"
    _, err1 = chart(page, ERROR_BARS_TITLE)
    assert err1 and err1 != err0, "quantization error chart not redrawn"
    assert card_value(page, "Size") != size0
    assert "4-bit" in chart(page, WEIGHTS_TITLE)[0]
    assert_healthy(page)


def test_distill_page_temperature_redraws_soft_targets(page, app_server):
    open_app(page, app_server)
    page.locator(SEL_NAV_LINK, has_text="Distill").click()
    expect(page).to_have_url(re.compile(r"/distill(\?|$)"))
    expect(page.get_by_role("heading", name="Distill")).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    bl.wait_for_page_usable(page, min_sliders=3, min_charts=1, timeout_ms=LOAD_TIMEOUT_MS)
    title0, soft0 = chart(page, SOFT_TARGETS_TITLE)
    assert soft0, "soft-targets chart has no drawn bars"
    assert "T = 4 " in title0 + " "
    entropy0 = card_value(page, "Entropy at T")
    assert slider_text(page, TEMPERATURE) == "4.0"

    # 4.0 -> 5.0 (step 0.5)
    timings = move_slider(page, TEMPERATURE, "ArrowRight", 2,
                          re.compile(r"/distill\?(.*&)?temperature=5(&|$)"))
    # a press whose rerun React coalesced with the next shows no "running" state of its own (seen
    # on a loaded machine): at least one press reran the script, and the end state is checked below
    assert any(t["runStart"] is not None for t in timings), "no key press reran the script"
    assert slider_text(page, TEMPERATURE) == "5.0"
    title1, soft1 = chart(page, SOFT_TARGETS_TITLE)
    assert "T = 5 " in title1 + " ", title1
    assert soft1 and soft1 != soft0, "soft-targets chart not redrawn"
    assert card_value(page, "Entropy at T") != entropy0
    assert_healthy(page)


def test_url_round_trip_opens_the_scenario(page, app_server, backend_accuracy):
    open_app(page, f"{app_server}/?model=mlp-digits&sparsity=0.8&bits=4")
    assert slider_text(page, SPARSITY) == "80 %"
    assert slider(page, SPARSITY).input_value() == "80"
    assert slider_text(page, BITS) == "4"
    assert card_value(page, "Accuracy") == backend_accuracy
    assert "4-bit" in chart(page, WEIGHTS_TITLE)[0]
    # The URL keeps the scenario (the app rewrites it from its widgets).
    assert re.search(r"[?&]sparsity=0\.8(&|$)", page.url), page.url
    assert re.search(r"[?&]bits=4(&|$)", page.url), page.url
    expect(page.locator(SEL_ALERT)).to_have_count(0)
    assert_healthy(page)


def test_bad_url_warns_and_still_renders(page, app_server):
    open_app(page, f"{app_server}/?sparsity=abc&bits=7x&model=nope")
    warning = page.locator(SEL_ALERT).filter(has_text="ignored")
    expect(warning).to_have_count(1)
    text = warning.inner_text()
    for name in ("sparsity", "bits", "model"):
        assert name in text, f"warning does not name {name!r}: {text}"
    assert page.locator(bl.SEL_CHART).count() >= MIN_EXPLORE_CHARTS
    expect(page.locator(SEL_CARD)).to_have_count(N_CARDS)
    # Fell back to the defaults, and the URL was cleaned of the bad values.
    assert slider_text(page, SPARSITY) == "0 %"
    assert slider_text(page, BITS) == "32 (float)"
    assert "abc" not in page.url and "7x" not in page.url and "nope" not in page.url
    assert_healthy(page)


def test_deep_link_to_distill_shows_the_sidebar(page, app_server):
    page.goto(f"{app_server}/distill")
    bl.wait_for_page_usable(page, min_sliders=3, min_charts=1, timeout_ms=LOAD_TIMEOUT_MS)
    expect(page.get_by_role("heading", name="Distill")).to_be_visible()
    sidebar = page.locator(SEL_SIDEBAR)
    expect(sidebar).to_be_visible()
    expect(sidebar.locator('[data-testid="stSelectbox"]', has_text="Model")).to_have_count(1)
    for label in (SPARSITY, BITS, TEMPERATURE):
        expect(slider(page, label)).to_have_count(1)
    expect(sidebar.locator(SEL_NAV_LINK)).to_have_count(5)
    chart(page, SOFT_TARGETS_TITLE)
    assert "model=mlp-digits" in page.url and "/distill" in page.url
    assert_healthy(page)


def test_fast_key_presses_end_on_the_last_value(page, app_server):
    # Keys pressed faster than the reruns: the browser sends the preset picker's stale
    # value along with the next slider value; that must not reset the controls (ui._apply_preset).
    open_app(page, app_server)
    bits = slider(page, BITS)
    bits.focus()
    for _ in range(6):
        page.keyboard.press("ArrowLeft")  # 32 -> 16 -> 12 -> 8 -> 6 -> 5 -> 4, no waiting
    expect(page).to_have_url(re.compile(r"[?&]bits=4(&|$)"), timeout=REDRAW_TIMEOUT_MS)
    wait_for_app_idle(page, timeout_ms=REDRAW_TIMEOUT_MS)
    assert slider_text(page, BITS) == "4"
    assert "4-bit" in chart(page, WEIGHTS_TITLE)[0]
    assert_healthy(page)


def test_resnet_fashion_rows_sparsity_changes_size_latency_and_accuracy(page, app_server):
    # issue 17: a trained residual net with BatchNorm on 10,000 test images, channels really
    # removed (Torch-Pruning's dependency graph): size, latency and accuracy cards all follow
    page.goto(app_server + "?model=resnet-fashion&structure=rows&sparsity=0.3")
    bl.wait_for_page_usable(page, min_sliders=3, min_charts=MIN_EXPLORE_CHARTS, timeout_ms=LOAD_TIMEOUT_MS)
    wait_for_app_idle(page, timeout_ms=REDRAW_TIMEOUT_MS)
    assert_healthy(page)
    before = {k: card_value(page, k) for k in ("Accuracy", "Size", "Latency")}
    assert slider_text(page, SPARSITY) == "30 %"
    move_slider(page, SPARSITY, "PageUp", 1, re.compile(r"[?&]sparsity=0\.4(&|$)"))
    assert slider_text(page, SPARSITY) == "40 %"
    after = {k: card_value(page, k) for k in ("Accuracy", "Size", "Latency")}
    for k in before:
        assert after[k] != before[k], f"{k} card still {before[k]} at 40 % rows on resnet-fashion"
    assert "ms" in after["Latency"] and "%" in after["Accuracy"]
    assert_healthy(page)
