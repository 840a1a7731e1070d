"""Explore's energy, Deep Compression and technique figures: each draws exactly its input data."""
from __future__ import annotations

import math

import plotly.graph_objects as go
import pytest

from compression import charts, pipeline
from compression.config import CompressionConfig as C


def _valid(fig: go.Figure) -> dict:
    """The figure rebuilt with plotly's validation (charts builds without it) as JSON."""
    return go.Figure(fig.to_dict()).to_plotly_json()


@pytest.fixture(scope="module")
def report() -> pipeline.Report:
    return pipeline.evaluate("mlp-digits", C(sparsity=0.9, bits=4), latency=False)


def test_energy_vs_sram_draws_the_curve_in_its_unit(report):
    points = pipeline.energy_curve(report)
    fig = charts.energy_vs_sram(points, 32.0, 7.2, 197.7)
    _valid(fig)
    unit = fig.layout.yaxis.title.text.split("(")[1].split(",")[0]
    factor = dict((u, f) for f, u in charts.ENERGY_UNITS)[unit]
    base, ours = fig.data[0], fig.data[1]
    assert list(base.x) == [p["sram_kb"] for p in points]
    assert list(ours.y) == pytest.approx([p["compressed_pj"] / factor for p in points])
    assert list(base.y) == pytest.approx([p["baseline_pj"] / factor for p in points])
    assert fig.layout.xaxis.type == "log"
    # the capacity line at the size in force, and one dotted line per model's weight size
    xs = sorted(s.x0 for s in fig.layout.shapes)
    assert xs == pytest.approx([7.2, 32.0, 197.7])
    # the star sits on the compressed curve at 32 KB (a point of the default grid)
    at32 = next(p for p in points if p["sram_kb"] == 32.0)
    assert fig.data[2].y[0] == pytest.approx(at32["compressed_pj"] / factor)


def test_energy_vs_sram_shows_the_cliff(report):
    """The fp32 curve steps down by the DRAM/SRAM price ratio where its 198 KB starts to fit."""
    points = pipeline.energy_curve(report, [128.0, 256.0])
    a, b = points
    assert a["baseline_weights_in"] == "dram" and b["baseline_weights_in"] == "sram"
    fig = charts.energy_vs_sram(points, 256.0, 7.2, 197.7)
    assert fig.data[0].y[0] > 5 * fig.data[0].y[1]  # 640 pJ DRAM vs ~20 pJ SRAM per word


def test_energy_vs_sram_empty():
    fig = charts.energy_vs_sram([], 32.0, 1.0, 2.0)
    assert fig.layout.annotations[0].text == "no points"


RESULT = {
    "paper": {"model": "LeNet-300-100"},
    "stages": {"pruned": {"ours": {"ratio": 11.5, "error_pct": 2.1}, "paper": {"ratio": 12.0, "error_pct": 1.59}},
               "quantized": {"ours": {"ratio": 30.2, "error_pct": 2.2}, "paper": {"ratio": 32.0, "error_pct": None}},
               "huffman": {"ours": {"ratio": 41.0, "error_pct": 2.2}, "paper": {"ratio": 40.0, "error_pct": 1.58}}},
}


def test_deep_compression_stages_puts_ours_beside_the_paper():
    fig = charts.deep_compression_stages(RESULT)
    _valid(fig)
    paper, ours = fig.data
    assert list(paper.x) == ["pruned", "+ quantized", "+ Huffman"]
    assert list(paper.y) == [12.0, 32.0, 40.0] and list(ours.y) == [11.5, 30.2, 41.0]
    assert paper.customdata[2] == "test error 1.58 %" and paper.customdata[1] == "error not given"
    assert ours.text[0] == "12×" and ours.customdata[0] == "test error 2.10 %"  # 11.5 labelled 12; the bar exact


def test_qat_vs_ptq_draws_both_methods_with_their_intervals():
    rows = [{"bits": b, "method": m, "accuracy": acc, "lo": acc - 0.02, "hi": acc + 0.02}
            for b, m, acc in ((2, "ptq", 0.14), (4, "ptq", 0.9), (2, "qat", 0.92), (4, "qat", 0.95))]
    rows.append({"bits": 32, "method": "fp32", "accuracy": 0.97, "lo": 0.95, "hi": 0.98})
    fig = charts.qat_vs_ptq(rows)
    _valid(fig)
    lines = {t.name: t for t in fig.data if t.mode == "lines+markers"}
    assert list(lines["post-training quantization"].y) == [0.14, 0.9]
    assert list(lines["quantization-aware fine-tuning"].y) == [0.92, 0.95]
    band = next(t for t in fig.data if t.fill == "toself")
    assert list(band.y) == pytest.approx([0.16, 0.92, 0.88, 0.12])  # hi forwards, lo backwards
    assert fig.layout.shapes[0].y0 == 0.97
    assert list(fig.layout.xaxis.tickvals) == [2, 4]


def test_weight_snapshots_overlays_an_epoch_on_the_start():
    snaps = [{"epoch": 0, "edges": [-1, 0, 1], "counts": [5, 5], "near_zero": 0.1},
             {"epoch": 3, "edges": [-1, 0, 1], "counts": [2, 8], "near_zero": 0.6}]
    fig = charts.weight_snapshots(snaps, 3)
    _valid(fig)
    assert list(fig.data[0].x) == [-0.5, 0.5] and list(fig.data[0].y) == [5, 5] and list(fig.data[1].y) == [2, 8]
    assert "10.0 % before → 60.0 % at epoch 3" in fig.layout.title.subtitle.text
    with pytest.raises(ValueError, match="epoch 2"):
        charts.weight_snapshots(snaps, 2)


def test_neuron_scores_sorted_with_the_pruned_marked():
    scores, pruned = [0.5, 0.1, 0.9, 0.3], [False, True, False, True]
    fig = charts.neuron_scores(scores, pruned, "fc1", "APoZ")
    _valid(fig)
    bars = fig.data[0]
    assert list(bars.y) == [0.1, 0.3, 0.5, 0.9]
    assert [c[0] for c in bars.customdata] == [1, 3, 0, 2]
    amber = charts.PALETTE["accent"]
    assert [c == amber for c in bars.marker.color] == [True, True, False, False]
    assert "2 of 4" in fig.layout.title.subtitle.text
    assert not math.isnan(bars.y[0])


def test_size_waterfall_draws_the_huffman_bar_when_present(report):
    plain = {k: v for k, v in report.size_bytes.items() if k != "huffman"}
    fig = charts.size_waterfall(pipeline.Report(**{**report.__dict__, "size_bytes": plain}))
    assert len([x for t in fig.data for x in t.x]) == 4  # no Huffman size: no Huffman bar
    s = dict(report.size_bytes, huffman=report.size_bytes["compressed"] * 0.8)
    coded = pipeline.Report(**{**report.__dict__, "size_bytes": s})
    fig = charts.size_waterfall(coded)
    theory, measured = fig.data
    assert list(theory.x)[-1] == "Huffman<br>coded" and len(theory.x) == 4 and len(measured.x) == 1
    unit = fig.layout.yaxis.title.text.split("(")[1].rstrip(")")
    factor = dict((u, f) for f, u in charts.BYTE_UNITS)[unit]
    assert theory.y[-1] * factor == pytest.approx(s["huffman"])
    assert measured.y[0] * factor == pytest.approx(s["file"])


def test_count_axes_tick_whole_numbers_only(report):
    # a layer with a handful of weights per bin: Plotly ticked 0, 0.5, 1, 1.5 … "weights"
    import copy
    small = copy.deepcopy(report)
    lr = small.layers[-1]
    n = len(lr.hist["original"])
    lr.hist = {**lr.hist, "original": [i % 4 for i in range(n)], "compressed": [i % 3 for i in range(n)],
               "zeros_original": 0, "zeros_compressed": 2}
    lr.error_hist = {**lr.error_hist, "counts": [i % 3 for i in range(len(lr.error_hist.get("counts", [])))]}
    for fig in (charts.weight_histogram(small, lr.name), charts.compare_histograms([("a", small)], lr.name)):
        y = _valid(fig)["layout"]["yaxis"]
        assert y["tickformat"] == ",d" and y["tick0"] == 0 and y["dtick"] == 1, y
    big = _valid(charts.weight_histogram(report, report.layers[0].name))["layout"]["yaxis"]
    assert big["tickformat"] == ",d" and "dtick" not in big  # large counts: Plotly's whole-number steps


def test_energy_vs_sram_labels_read_towards_the_middle(report):
    # Deep Compression's 4.5 KB sits near the left end of the 1 KB … 16 MB axis: its label, right-
    # anchored (text left of its line), ran over the y axis and was cut
    points = pipeline.energy_curve(report)
    labels = {a.text.split("<br>")[0]: a for a in charts.energy_vs_sram(points, 32.0, 4.5, 197.7).layout.annotations}
    assert labels["compressed weights"].xanchor == "left" and labels["compressed weights"].xshift > 0
    labels = {a.text.split("<br>")[0]: a for a in charts.energy_vs_sram(points, 32.0, 40.0, 197.7).layout.annotations}
    assert labels["compressed weights"].xanchor == "right"  # mid-axis: beside its line, away from fp32's


def test_a_saving_factor_reads_the_same_in_the_chart_and_the_text(report):
    import ui
    assert charts.factor_text(1109.8) == ui.factor_text(1109.8) == "1,110×"
    assert charts.factor_text(5.54) == "5.5×" and charts.factor_text(0.954) == "0.95×"
    fig = charts.energy_breakdown(report)
    ratio = report.energy_baseline_pj["total"] / report.energy_pj["total"]
    assert any(f"{charts.factor_text(ratio)} less" in a.text for a in fig.layout.annotations)
