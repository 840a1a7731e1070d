"""The teacher's pages on a projector (issue 15, defect 6), as far as AppTest sees them; the
layout itself is checked in tests/browser/test_projector_browser.py."""
from __future__ import annotations

import html
import re

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from tests import apptest  # noqa: E402

TIMEOUT = 120


def start(page: str | None = None, query: dict[str, str] | None = None) -> AppTest:
    return apptest.start(page, query, timeout=TIMEOUT)


def chart_texts(at: AppTest) -> list[str]:
    bodies = [el.proto.body for el in at.get("html")]
    return [html.unescape(m) for b in bodies for m in re.findall(r'class="clab-sr-only"[^>]*>(.*?)</p>', b)]


def test_chart_text_is_for_screen_readers_not_a_caption():
    at = start(query={"sparsity": "0.9", "bits": "4"})
    assert not [c.value for c in at.caption if c.value.startswith("Chart:")]
    texts = chart_texts(at)
    assert len(texts) == len(at.get("plotly_chart")), texts  # one per chart
    assert all(t.startswith("Chart: ") for t in texts)


def test_chart_text_names_bit_widths_not_list_positions():
    at = start(query={"sparsity": "0.9", "bits": "4"})
    bits = next(t for t in chart_texts(at) if t.startswith("Chart: Accuracy vs bit-width"))
    # the curve's points run from 1 bit to 32 (float): the text says so, not "at 0" … "at 9"
    assert " at 9" not in bits and " at 0 " not in bits, bits
    assert re.search(r"at 1\b", bits) and re.search(r"at 32|at float", bits), bits


def test_distill_draws_its_temperature_on_the_page_not_last_in_the_sidebar():
    at = start("pages/distill.py")
    assert not [s for s in at.sidebar.slider if s.key == "temperature"]
    main = [s.key for s in at.main.slider]
    assert main[0] == "temperature", main  # the page's own control, first among its sliders
    at.slider(key="temperature").set_value(8.0).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(m.label == "Entropy at T = 8" for m in at.metric), [m.label for m in at.metric]
    at.switch_page("pages/explore.py").run()  # elsewhere: in the sidebar, disabled, value kept
    t = at.sidebar.slider(key="temperature")
    assert t.disabled and t.value == 8.0
