"""Explore's Deep Compression section shows each row's accounting, its interval and the paper's operating point."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from compression import reproduce  # noqa: E402
from compression.config import CompressionConfig  # noqa: E402
from tests.apptest import forget_results  # noqa: E402

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def test_section_renders_accounting_intervals_and_the_paper_point(monkeypatch):
    fast = reproduce.deep_compression("lenet300-mnist", config=CompressionConfig(sparsity=0.9, bits=5,
                                                                                 quantizer="kmeans"))
    monkeypatch.setattr(reproduce, "deep_compression", lambda model_id, progress=None, config=None: fast)
    # an earlier test in this process may have run the section on this model: its cached result
    # (and "done" mark) would hide the button and the result this test gives
    forget_results()
    at = AppTest.from_file(APP, default_timeout=600)
    at.query_params["model"] = "lenet300-mnist"
    at.run()
    at.button(key="run_deep").click().run()
    assert not at.exception, [e.value for e in at.exception]
    text = " ".join(m.value for m in at.markdown)
    assert "each counted as the paper counts it" in text and "the paper 8 % at 6 bits" in text
    assert "At the paper's operating point** (8.0 % kept, 6 bits)" in text
    tables = [df.value for df in at.dataframe]
    stages = next(t for t in tables if "counts" in t.columns and "paper: ratio" in t.columns)
    assert list(stages["counts"]) == ["parameters", "bits", "bits"]
    assert all("–" in e for e in stages["ours: error"])  # each error with its interval
