"""Smoke test of the browser infrastructure against benchmarks/bare_app.py.

Proves that the server fixture, Chromium, the idle wait and the redraw probe work:
the page loads, six 150-bar Plotly charts render, a keyboard slider move reruns the
script and redraws every chart, moving back restores the same drawing, and no
exception or warning is shown.
"""

import browserlib as bl
from browserlib import assert_no_exception, wait_for_app_idle
from playwright.sync_api import expect

N_CHARTS = 6
N_BARS = 150


def _bars_per_chart(page) -> list[int]:
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('.js-plotly-plot'))
                  .map((p) => p.querySelectorAll('g.trace.bars g.point').length)"""
    )


def test_bare_app_loads_and_slider_redraws_every_chart(page, bare_app_server):
    page.goto(bare_app_server)
    wait_for_app_idle(page)

    expect(page.locator(bl.SEL_SLIDER)).to_have_count(1)
    expect(page.locator(bl.SEL_CHART)).to_have_count(N_CHARTS)
    assert _bars_per_chart(page) == [N_BARS] * N_CHARTS
    assert_no_exception(page)
    # No st.warning/st.error boxes, e.g. a deprecation notice for a plotly_chart kwarg.
    expect(page.locator('[data-testid="stAlert"]')).to_have_count(0)

    value0 = bl.slider_value(page)
    sigs0 = bl.chart_signatures(page)
    assert len(sigs0) == N_CHARTS and all(sigs0), "every chart draws bar paths"

    bl.focus_slider(page)
    timing = bl.timed_key_redraw(page, "ArrowRight")
    assert timing["runStart"] is not None, "the key press reran the script"
    assert timing["chartLast"] is not None, "a chart changed after the key press"
    assert bl.slider_value(page) == str(int(value0) + 1)
    sigs1 = bl.chart_signatures(page)
    changed = [a != b for a, b in zip(sigs0, sigs1)]
    assert changed == [True] * N_CHARTS, f"charts redrawn: {changed}"
    assert _bars_per_chart(page) == [N_BARS] * N_CHARTS
    assert_no_exception(page)

    # Back to the first value: the data is seeded by the value, so the drawing returns.
    bl.timed_key_redraw(page, "ArrowLeft")
    assert bl.slider_value(page) == value0
    assert bl.chart_signatures(page) == sigs0
    assert_no_exception(page)


def test_assert_no_exception_detects_a_traceback(page, bare_app_server):
    """The helper itself must be able to fail (a check that cannot fail is a defect)."""
    page.goto(bare_app_server)
    wait_for_app_idle(page)
    assert_no_exception(page)
    page.evaluate(
        """() => { const d = document.createElement('div');
                   d.setAttribute('data-testid', 'stException');
                   d.textContent = 'Traceback (most recent call last): boom';
                   document.querySelector('[data-testid="stApp"]').appendChild(d); }"""
    )
    try:
        assert_no_exception(page)
    except AssertionError as e:
        assert "boom" in str(e)
    else:
        raise AssertionError("assert_no_exception missed an injected stException")
