"""Explore's "Calibrated methods, layer by layer" section: drawn without an error on a zoo model, and
the RTN / GPTQ / AWQ comparison computed on its button with its chart."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from tests.apptest import forget_results  # noqa: E402

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 300


def test_methods_section_draws_and_compares_on_click():
    forget_results()
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["model"] = "mlp-digits"
    at.query_params["bits"] = "3"
    at.query_params["method"] = "gptq"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert any(s.value == "Calibrated methods, layer by layer" for s in at.subheader)
    assert any(m.label == "BitOps per image" for m in at.metric)
    assert any(m.label == "Peak activation memory" for m in at.metric)
    at.button(key="btn_run_methods").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    titles = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("Rounding to nearest vs GPTQ vs AWQ" in t for t in titles)
    assert any("Output error of each layer" in t for t in titles)
