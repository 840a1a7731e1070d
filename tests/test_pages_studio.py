"""Trade-offs and Compare pages, Explore's downloads, history behind evaluate, presentation mode
(AppTest). Each test uses a history file of its own (COMPRESSION_LAB_CACHE)."""
from __future__ import annotations

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from compression import export, history, pipeline  # noqa: E402
from compression.config import CompressionConfig  # noqa: E402
from tests import apptest  # noqa: E402

TIMEOUT = 90


def start(page: str | None = None, query: dict[str, str] | None = None) -> AppTest:
    return apptest.start(page, query, timeout=TIMEOUT)


def brute_force_front(rows):
    def dominates(a, b):
        return (a["size_bytes"] <= b["size_bytes"] and a["accuracy"] >= b["accuracy"]
                and (a["size_bytes"] < b["size_bytes"] or a["accuracy"] > b["accuracy"]))
    return [r for r in rows if not any(dominates(o, r) for o in rows)]


def test_tradeoffs_small_sweep_lists_its_frontier():
    at = start("pages/tradeoffs.py")
    at.multiselect(key="sweep_sparsity").set_value([0.0, 0.5, 0.9])
    at.multiselect(key="sweep_bits").set_value([32, 4])
    at.run()
    at.button(key="sweep_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    rows = at.session_state["_sweep_job"]["rows"]
    assert len(rows) == 6 and at.session_state["_sweep_job"]["status"] == "done"
    table = at.dataframe[0].value
    assert len(table) == len(brute_force_front(rows))
    assert any("Pareto frontier" in m.value and f"of {len(rows)} configs" in m.value for m in at.markdown)
    assert len(at.get("plotly_chart")) >= 3  # accuracy vs size, energy, latency
    # the picker names a row by the settings that vary: one quantizer and one structure were swept
    labels = at.selectbox(key="studio_pick").options
    assert len(labels) == 6 and not [t for t in labels if "quantizer" in t or "structure" in t], labels


def test_stop_keeps_the_rows_measured_so_far():
    at = start("pages/tradeoffs.py")
    at.session_state["_sweep_job"] = {"key": "k", "model": "mlp-digits", "fields": ("sparsity",), "latency": False,
                                      "configs": [tuple(CompressionConfig(sparsity=s).to_dict().items())
                                                  for s in (0.0, 0.5)],
                                      "rows": [], "status": "running"}
    at.session_state["_sweep_job"]["status"] = "stopped"  # what the Stop button's callback does
    at.run()
    assert not at.exception
    assert any("Stopped after 0 of 2" in i.value for i in at.info)


def test_compare_shows_two_scenarios_side_by_side():
    at = start("pages/compare.py")
    accuracy = [m for m in at.metric if m.label.startswith("Accuracy")]
    assert len(accuracy) == 2
    assert len([m for m in at.metric if m.label.startswith("Size")]) == 2
    assert len(at.get("plotly_chart")) == 3  # overlaid histograms, size bars, energy bars


def test_explore_offers_report_config_and_model_downloads_and_history_keeps_the_scenario():
    at = start(query={"sparsity": "0.37", "bits": "6"})
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels[:2] == ["Report (one HTML file)", "Config (JSON)"] and labels[2].startswith("Compressed model")
    listed = history.History().list()
    assert any(r["config"] == {"sparsity": 0.37, "bits": 6} for r in listed), listed


def test_model_file_is_the_measured_file_and_reads_back():
    config = CompressionConfig(sparsity=0.5, bits=4)
    blob = pipeline.file_bytes("mlp-digits", config)
    report = pipeline.evaluate("mlp-digits", config, latency=False)
    assert len(blob) == report.size_bytes["file"]
    weights = export.from_bytes(blob)
    assert set(weights) >= {"fc1.weight", "fc2.weight", "fc3.weight"}


def test_presentation_mode_steps_through_presets():
    at = start(query={"view": "present"})
    assert any("Step 1 of" in m.value for m in at.sidebar.markdown)
    at.button(key="present_next").click().run()
    assert at.session_state["preset"] == "int8" and at.session_state["bits"] == 8
    assert at.query_params.get("view") == ["present"] or at.query_params.get("view") == "present"


def test_the_frontier_table_puts_exact_ties_on_one_line():
    # at 2 bits, 50 %, 75 % and 90 % sparsity gave the same weights: three identical lines
    from compression import charts, sweep
    from ui import studio
    tie = {"bits": 2, "accuracy": 0.139, "size_bytes": 2867.0, "compression_ratio": 69.7, "energy_pj": 246900.0}
    rows = [{**tie, "sparsity": s} for s in (0.5, 0.75, 0.9)]
    rows.append({"sparsity": 0.5, "bits": 4, "accuracy": 0.978, "size_bytes": 20480.0, "compression_ratio": 9.9,
                 "energy_pj": 290900.0})
    front = sweep.pareto_front(rows)
    assert front == [0, 1, 2, 3]  # exact ties: none dominates another
    table = studio.frontier_table(rows, front, ("sparsity", "bits"))
    assert [t["size"] for t in table] == [charts.fmt_bytes(2867), charts.fmt_bytes(20480)]  # smallest first
    assert table[0]["sparsity"] == "50% / 75% / 90%" and table[0]["bits"] == "2"
    assert table[1]["sparsity"] == "50%" and table[1]["bits"] == "4"
