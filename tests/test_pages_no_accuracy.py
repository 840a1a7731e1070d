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


def test_compare_without_accuracy_shows_na_cards_and_still_the_size_and_energy_bars():
    at = start("pages/compare.py", {"model": "mobilenet_v2"})
    cards = [m for m in at.metric if m.label == "Accuracy"]
    assert [m.value for m in cards] == ["n/a", "n/a"]
    assert sum("no trained weights" in c.value for c in at.caption) >= 2
    sizes = [m.value for m in at.metric if m.label.startswith("Size")]
    assert len(sizes) == 2 and sizes[0] != sizes[1]  # fp32 vs int8: different bytes
    assert len(at.get("plotly_chart")) == 3  # histograms of one layer, size bars, energy bars
    at.run()  # both are in history now, but only scenarios saved with a name are listed (issue 15)
    assert not at.exception, [e.value for e in at.exception]
    assert not [o for o in at.multiselect(key="compare").options if o.startswith("saved:")]


def test_link_to_a_large_architecture_waits_for_run_and_evaluates_only_when_clicked():
    from ui import state
    at = start(None, {"model": "resnet18"})
    # ResNet-18 has 11,689,512 parameters (torchvision's documented count)
    seconds = state.SECONDS_TO_MEASURE + 11.689512 * state.SECONDS_PER_MILLION_PARAMS
    assert at.button(key="run_link").label == f"Run (about {seconds:.0f} s)"
    assert not at.metric  # nothing evaluated yet: no cards
    at.button(key="run_link").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert {m.label: m.value for m in at.metric}["Accuracy"] == "n/a"


def test_the_wait_sentence_names_the_model_and_its_parameters(monkeypatch):
    from compression.config import CompressionConfig
    from ui import state
    monkeypatch.setattr(state.st, "session_state", {"model": "resnet18"})
    text = state.heavy_link_text(CompressionConfig(), 5.4)
    assert text == ("This link asks for measuring resnet18 (11.7 M parameters): about 5 s on this server. "
                    "It starts when you press Run.")
    both = state.heavy_link_text(CompressionConfig(sparsity=0.5, finetune_epochs=2, prune_steps=3), 7.2)
    assert "resnet18 (11.7 M parameters) and 2 fine-tuning epochs × 3 prune steps" in both
