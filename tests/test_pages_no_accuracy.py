"""Trade-offs, Compare and a deep link with a model that has no accuracy (a torchvision
architecture with random weights), and a link to a heavy model waiting for a click (AppTest).
Each test uses a cache folder of its own."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 120


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPRESSION_LAB_CACHE", str(tmp_path / "cache"))


def start(page: str | None, query: dict[str, str]) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_tradeoffs_without_accuracy_says_na_with_its_reason_and_sweeps_nothing():
    at = start("pages/tradeoffs.py", {"model": "mobilenet_v2"})
    text = " ".join(i.value for i in at.info)
    assert "Accuracy is n/a (no trained weights)" in text, text
    assert not at.get("plotly_chart") and "_sweep_job" not in at.session_state
