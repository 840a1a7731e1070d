"""Tests for compression.charts: the figures' data must be the report's numbers, in the units
their axis titles say, and every figure must be labelled (title, axis titles) and serialise."""

import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import plotly
import plotly.graph_objects as go
import pytest

from compression import charts, pipeline
from compression.config import CompressionConfig as C

CONFIGS = {
    "fp32": ("mlp-digits", C()),
    "prune90-4bit": ("mlp-digits", C(sparsity=0.9, bits=4)),
    "kmeans": ("mlp-digits", C(sparsity=0.9, bits=4, quantizer="kmeans")),
    "binary": ("mlp-digits", C(bits=1)),
    "cnn": ("cnn-digits", C(sparsity=0.5, bits=8)),
}


@pytest.fixture(scope="module")
def reports() -> dict[str, pipeline.Report]:
    return {k: pipeline.evaluate(m, c, latency=False) for k, (m, c) in CONFIGS.items()}


@pytest.fixture(params=list(CONFIGS))
def report(request, reports) -> pipeline.Report:
    return reports[request.param]


def _unit_factor(axis_title: str, units) -> float:
    """The scale an axis title like 'size (KB)' promises, from the module's own unit table."""
    unit = axis_title.rsplit("(", 1)[1].rstrip(")")
    return dict((u, f) for f, u in units)[unit]


def _trace(fig: go.Figure, name: str):
    found = [t for t in fig.data if t.name == name]
    assert len(found) == 1, f"expected one trace named {name!r}, got {[t.name for t in fig.data]}"
    return found[0]


def _all_figures(r: pipeline.Report) -> list[go.Figure]:
    layer = r.layers[0].name
    pts = [{"sparsity": s, "accuracy": a, "lo": a - 0.02, "hi": min(1, a + 0.02)}
           for s, a in ((0.0, 0.97), (0.5, 0.96), (0.9, 0.6))]
    return [
        charts.weight_histogram(r, layer), charts.weight_histogram(r, layer, hide_zeros=True, log_y=True),
        charts.quant_error_bars(r), charts.quant_error_bars(r, "mse"), charts.error_distribution(r, layer),
        charts.accuracy_curve(pts, "sparsity", 0.5, 0.97, (0.95, 0.98), note="measured on 360 test images"),
        charts.size_waterfall(r), charts.size_breakdown(r), charts.energy_breakdown(r),
        charts.soft_targets_chart([0.1] * 10, [0.0] * 9 + [1.0], list("0123456789"), 4.0, 9),
        charts.distill_history([{"epoch": 1, "distilled": 0.8, "hard_labels": 0.7}, {"epoch": 2, "distilled": 0.9}]),
        charts.temperature_curve([{"temperature": t, "accuracy": 0.9, "lo": 0.87, "hi": 0.93,
                                   "accuracy_hard_labels": 0.88} for t in (1, 2, 4, 8)], current=4),
    ]


# -----------------------------------------------------------------------------
# every figure: labelled, one look, serialisable


def test_every_figure_is_labelled_styled_and_serialises(report):
    for fig in _all_figures(report):
        lay = fig.layout
        assert lay.title.text and lay.title.text.strip("<b/>"), "no title"
        assert lay.xaxis.title.text is not None and lay.yaxis.title.text, f"axis titles missing: {lay.title.text}"
        assert 320 <= lay.height <= 380
        assert lay.template.layout.font.family == charts.FONT["family"]
        assert lay.template.layout.legend.orientation == "h"
        back = json.loads(fig.to_json())
        assert back["layout"]["title"]["text"] == lay.title.text
        # light: no figure ships more than a few hundred points to the browser
        assert sum(len(t.x or ()) for t in fig.data) < 1000


def test_palette_and_primary():
    assert charts.PRIMARY == "#4f46e5"
    for key in ("original", "compressed", "accent", "compute", "memory", "values", "indices", "codebook",
                "bias", "teacher", "student", "baseline"):
        assert charts.PALETTE[key].startswith("#") and len(charts.PALETTE[key]) == 7, key


def test_formatting_helpers():
    assert charts.pct(0.972) == "97.2 %"
    assert charts.pct(1.0) == "100.0 %"
    assert charts.pct(0.0) == "0.0 %"
    assert charts.fmt_bytes(812) == "812 B"
    assert charts.fmt_bytes(7368.875) == "7.2 KB"
    assert charts.fmt_bytes(202440) == "197.7 KB"
    assert charts.fmt_bytes(3 * 1024**2) == "3.0 MB"
    assert charts.fmt_energy(13.6) == "13.6 pJ"
    assert charts.fmt_energy(244501.09) == "244.5 nJ"
    assert charts.fmt_energy(32625690.0) == "32.6 µJ"
    assert charts.fmt_energy(0) == "0.0 pJ"


# -----------------------------------------------------------------------------
# weight histogram


def test_histogram_bars_are_the_reports_counts(report):
    for lr in report.layers:
        fig = charts.weight_histogram(report, lr.name)
        orig, comp = _trace(fig, "original (fp32)"), _trace(fig, "compressed")
        assert list(orig.y) == lr.hist["original"] and list(comp.y) == lr.hist["compressed"]
        edges = lr.hist["edges"]
        assert len(orig.x) == len(edges) - 1
        assert orig.x[0] == pytest.approx((edges[0] + edges[1]) / 2)
        assert orig.x[-1] == pytest.approx((edges[-2] + edges[-1]) / 2)
        assert fig.layout.barmode == "overlay" and orig.opacity < 1


def test_zero_spike_shown_unless_hidden(reports):
    r = reports["prune90-4bit"]
    lr = r.layers[1]
    shown = charts.weight_histogram(r, lr.name)
    spike = _trace(shown, "compressed: zeros")
    assert list(spike.x) == [0.0] and list(spike.y) == [lr.hist["zeros_compressed"]] and spike.y[0] > 0
    assert "pruned" in spike.hovertemplate
    assert list(_trace(shown, "original (fp32): zeros").y) == [lr.hist["zeros_original"]]
    hidden = charts.weight_histogram(r, lr.name, hide_zeros=True)
    assert not [t for t in hidden.data if "zeros" in (t.name or "")]
    assert len(hidden.data) == len(shown.data) - 2


def test_a_towering_zero_spike_runs_off_scale_so_kept_weights_stay_readable(reports):
    r = reports["prune90-4bit"]
    lr = r.layers[0]
    tallest_kept = max(lr.hist["original"] + lr.hist["compressed"])
    assert lr.hist["zeros_compressed"] > 4 * tallest_kept  # the case at hand
    fig = charts.weight_histogram(r, lr.name)
    top = fig.layout.yaxis.range[1]
    assert tallest_kept < top < lr.hist["zeros_compressed"]
    assert any(f"{lr.hist['zeros_compressed']:,} zeros (off scale)" in a.text for a in fig.layout.annotations)
    # no clipping on a log axis, where the spike fits, or when the zeros are hidden
    assert charts.weight_histogram(r, lr.name, log_y=True).layout.yaxis.range is None
    assert charts.weight_histogram(r, lr.name, hide_zeros=True).layout.yaxis.range is None
    # nor where nothing was pruned
    assert charts.weight_histogram(reports["fp32"], "fc1").layout.yaxis.range is None


@pytest.mark.parametrize("key", ["prune90-4bit", "kmeans", "binary", "fp32", "cnn"])
def test_quantization_levels_one_line_each(reports, key):
    r = reports[key]
    lr = r.layers[0]
    fig = charts.weight_histogram(r, lr.name)
    lines = [t for t in fig.data if "quantization levels" in (t.name or "")]
    if not lr.levels:
        assert lines == []
        return
    assert len(lines) == 1, "all levels in one trace, not one trace per level"
    xs = lines[0].x
    segments = [xs[i] for i in range(0, len(xs), 3)]
    assert len(segments) == len(lr.levels)
    assert segments == pytest.approx(lr.levels)
    assert all(xs[i] == xs[i + 1] for i in range(0, len(xs), 3)), "each level is a vertical segment"
    # full height: from 0 to 1 on a hidden 0..1 axis over the counts (linear or log alike)
    assert list(lines[0].y) == [0, 1, None] * len(lr.levels) and lines[0].yaxis == "y2"
    assert tuple(fig.layout.yaxis2.range) == (0, 1) and fig.layout.yaxis2.overlaying == "y"
    assert lines[0].name.startswith(str(len(lr.levels)))


def test_histogram_title_and_log_axis(reports):
    r = reports["prune90-4bit"]
    lr = r.layers[0]
    fig = charts.weight_histogram(r, lr.name, log_y=True)
    title = fig.layout.title.text
    assert lr.name in title and "4-bit" in title
    assert charts.pct(lr.hist["zeros_compressed"] / math.prod(lr.shape)) in title
    assert fig.layout.yaxis.type == "log"
    assert charts.weight_histogram(r, lr.name).layout.yaxis.type != "log"
    assert "float32" in charts.weight_histogram(reports["fp32"], "fc1").layout.title.text
    assert "k-means" in charts.weight_histogram(reports["kmeans"], "fc1").layout.title.text
    with pytest.raises(KeyError, match="fc1"):
        charts.weight_histogram(r, "nope")


# -----------------------------------------------------------------------------
# quantization error


def test_sqnr_bars_are_the_reports_values(reports):
    r = reports["prune90-4bit"]
    fig = charts.quant_error_bars(r)
    bar = fig.data[0]
    assert list(bar.x) == [lr.name for lr in r.layers]
    assert list(bar.y) == pytest.approx([lr.sqnr_db for lr in r.layers])
    assert fig.layout.yaxis.title.text == "SQNR (dB)"
    assert "simulated" not in fig.layout.title.text
    assert all("4-bit" in c and lr.format in c for c, lr in zip(bar.customdata, r.layers))
    mse = charts.quant_error_bars(r, "mse")
    assert list(mse.data[0].y) == pytest.approx([lr.mse for lr in r.layers])
    with pytest.raises(ValueError, match="sqnr_db"):
        charts.quant_error_bars(r, "psnr")


def test_infinite_sqnr_is_an_annotation_not_a_crash(reports):
    r = reports["fp32"]
    assert all(lr.sqnr_db == math.inf for lr in r.layers)
    fig = charts.quant_error_bars(r)
    assert all(y is None for y in fig.data[0].y)
    texts = [a.text for a in fig.layout.annotations]
    assert texts.count("∞") == len(r.layers)
    assert "no quantization error at 32 bits" in texts
    # the JSON form of a report says None for an infinite SQNR: the same figure results
    for lr in r.layers:
        lr.sqnr_db = None
    try:
        again = charts.quant_error_bars(r)
        assert [a.text for a in again.layout.annotations] == texts
    finally:
        for lr in r.layers:
            lr.sqnr_db = math.inf
    fig.to_json()


def test_error_distribution(reports):
    r = reports["binary"]
    lr = r.layers[2]
    fig = charts.error_distribution(r, lr.name)
    assert list(fig.data[0].y) == lr.error_hist["counts"]
    assert len(fig.data[0].x) == len(lr.error_hist["edges"]) - 1
    assert "w_q − w" in fig.layout.xaxis.title.text
    none = charts.error_distribution(reports["fp32"], "fc2")
    assert len(none.data) == 0
    assert [a.text for a in none.layout.annotations] == ["no quantization error at 32 bits"]


# -----------------------------------------------------------------------------
# accuracy


def test_accuracy_curve_with_real_points(reports):
    r = reports["prune90-4bit"]
    pts = pipeline.accuracy_points("mlp-digits", C(bits=4), "sparsity", [0.9, 0.0, 0.5])
    fig = charts.accuracy_curve(pts, "sparsity", 0.9, r.accuracy_baseline, tuple(r.accuracy_baseline_ci95),
                                note="measured on 360 test images, simulated quantization")
    curve = _trace(fig, "compressed, 95% CI")
    assert list(curve.x) == [0.0, 0.5, 0.9]  # sorted
    assert list(curve.y) == [p["accuracy"] for p in sorted(pts, key=lambda p: p["sparsity"])]
    star = _trace(fig, "current setting")
    assert list(star.x) == [0.9] and star.y[0] == pytest.approx(r.accuracy)  # same config, same number
    assert star.marker.symbol == "star"
    base = _trace(fig, f"uncompressed {charts.pct(r.accuracy_baseline)}")
    assert set(base.y) == {r.accuracy_baseline} and base.line.dash == "dash"
    band = [t for t in fig.data if t.fill == "toself"][0]
    assert max(band.y) == pytest.approx(max(p["hi"] for p in pts))
    assert min(band.y) == pytest.approx(min(p["lo"] for p in pts))
    ci = [s for s in fig.layout.shapes if s.name == "baseline CI"][0]
    assert (ci.y0, ci.y1) == tuple(r.accuracy_baseline_ci95)
    assert fig.layout.title.text == "<b>Accuracy vs sparsity</b>"
    assert fig.layout.title.subtitle.text.startswith("measured on 360")
    assert fig.layout.xaxis.title.text == "sparsity (%)" and fig.layout.xaxis.tickformat.endswith("%")
    assert fig.layout.yaxis.tickformat.endswith("%")


def test_accuracy_curve_bits_axis_and_interpolated_current():
    pts = [{"bits": b, "accuracy": a, "lo": a - 0.03, "hi": a + 0.01}
           for b, a in ((32, 0.97), (2, 0.5), (8, 0.96), (4, 0.9))]
    fig = charts.accuracy_curve(pts, "bits", 4, 0.97)
    # 32 bits: "float" on a second line, so the last label is as narrow as the others and never cut off
    assert list(fig.layout.xaxis.ticktext) == ["2", "4", "8", "32<br>float"]
    assert tuple(fig.layout.xaxis.range) == (-0.5, 3.5), "half a step of room beyond the first and last value"
    assert fig.layout.xaxis.ticklabeloverflow == "allow"
    star = _trace(fig, "current setting")
    assert list(star.x) == [1] and list(star.y) == [0.9]
    assert fig.layout.title.text == "<b>Accuracy vs bit-width</b>"
    assert not [s for s in fig.layout.shapes if s.name == "baseline CI"]
    # between two measured points: placed proportionally and marked as an estimate
    mid = charts.accuracy_curve(pts, "bits", 6, 0.97)
    star = _trace(mid, "current setting")
    assert star.x[0] == pytest.approx(1.5) and star.y[0] == pytest.approx(0.93)
    assert "≈" in star.hovertemplate
    # outside the measured range: no invented point
    assert not [t for t in charts.accuracy_curve(pts, "bits", 1, 0.97).data if t.name == "current setting"]


# -----------------------------------------------------------------------------
# size and energy


def test_waterfall_values_are_report_sizes(report):
    fig = charts.size_waterfall(report)
    factor = _unit_factor(fig.layout.yaxis.title.text, charts.BYTE_UNITS)
    theo = _trace(fig, "theoretical (bit count)")
    meas = _trace(fig, "measured (file bytes)")
    s = report.size_bytes
    stages = [s["fp32"], s["pruned"], s["compressed"]] + ([s["huffman"]] if "huffman" in s else [])
    assert [y * factor for y in theo.y] == pytest.approx(stages)
    assert meas.y[0] * factor == pytest.approx(s["file"])
    assert meas.marker.pattern.shape and not theo.marker.pattern.shape  # the measured bar looks different
    assert theo.text[0] == charts.fmt_bytes(s["fp32"])  # the reference: no ratio
    assert charts._ratio_text(s["fp32"], s["compressed"]) in theo.text[2]
    assert charts.fmt_bytes(s["compressed"]) in theo.text[2]
    assert charts._ratio_text(s["fp32"], s["file"]) in meas.text[0]
    assert theo.constraintext == "none", "labels keep their size above a thin bar"


def test_ratio_text_says_which_way():
    assert charts._ratio_text(202440, 7369) == "27.5× smaller"
    assert charts._ratio_text(100, 250) == "2.5× larger"
    assert charts._ratio_text(100, 98) == "2 % smaller"  # not "1.0× smaller"
    assert charts._ratio_text(100, 103) == "3 % larger"
    assert charts._ratio_text(202440, 203080) == "same size"


def test_breakdown_stacks_sum_to_layer_size(report):
    fig = charts.size_breakdown(report)
    factor = _unit_factor(fig.layout.yaxis.title.text, charts.BYTE_UNITS)
    assert fig.layout.barmode == "stack"
    assert [t.name for t in fig.data] == ["values", "indices", "codebook", "bias"]
    for i, lr in enumerate(report.layers):
        stacked = sum(t.y[i] for t in fig.data) * factor
        assert stacked == pytest.approx(lr.size_bits["total"] / 8)
        assert fig.data[0].customdata[i] == lr.size_bits["values"]
    labels = [a.text for a in fig.layout.annotations]
    assert all(f"<b>{lr.format}</b>" in t for lr, t in zip(report.layers, labels))
    assert "theoretical" in fig.layout.title.text


def test_energy_stacks_sum_to_report_energy(report):
    fig = charts.energy_breakdown(report)
    per_layer = [t for t in fig.data if t.xaxis in (None, "x")]
    totals = [t for t in fig.data if t.xaxis == "x2"]
    f_layer = _unit_factor(fig.layout.yaxis.title.text, charts.ENERGY_UNITS)
    f_total = _unit_factor(fig.layout.yaxis2.title.text, charts.ENERGY_UNITS)
    assert {t.name for t in per_layer} == {"compute", "memory"} and fig.layout.barmode == "stack"
    layer_sum = sum(sum(t.y) for t in per_layer) * f_layer
    assert layer_sum == pytest.approx(report.energy_pj["total"])
    compute = [t for t in per_layer if t.name == "compute"][0]
    assert [y * f_layer for y in compute.y] == pytest.approx([lr.energy_pj["compute"] for lr in report.layers])
    assert sum(t.y[0] for t in totals) * f_total == pytest.approx(report.energy_pj["total"])
    assert sum(t.y[1] for t in totals) * f_total == pytest.approx(report.energy_baseline_pj["total"])
    # two side-by-side panels, not overlapping
    assert fig.layout.xaxis.domain[1] < fig.layout.xaxis2.domain[0] and fig.layout.yaxis2.anchor == "x2"
    assert "Estimated" in fig.layout.title.text and report.energy_profile in fig.layout.title.text
    # units are chosen to be readable: the tallest bar lies between 1 and 1000 of its unit
    assert 1 <= max(lr.energy_pj["total"] for lr in report.layers) / f_layer < 1000


# -----------------------------------------------------------------------------
# distillation


def test_soft_targets_chart():
    p_t = [0.05] * 9 + [0.55]
    p_1 = [0.001] * 9 + [0.991]
    fig = charts.soft_targets_chart(p_t, p_1, list(range(10)), 4, true_class=9)
    assert [t.name for t in fig.data] == ["T = 4", "T = 1"]
    assert list(fig.data[0].y) == p_t and list(fig.data[1].y) == p_1
    widths = list(fig.data[0].marker.line.width)
    assert widths[9] > 0 and not any(widths[:9])
    assert [a.text for a in fig.layout.annotations] == ["true class"]
    assert fig.layout.annotations[0].x == "9"
    assert tuple(fig.layout.yaxis.range) == (0, 1)
    assert not charts.soft_targets_chart(p_t, p_1, list(range(10)), 4).layout.annotations
    with pytest.raises(ValueError, match="one entry per class"):
        charts.soft_targets_chart(p_t, p_1[:5], list(range(10)), 4)


def test_distill_history_handles_missing_keys():
    hist = [{"epoch": 1, "distilled": 0.8, "hard_labels": 0.7}, {"epoch": 2, "distilled": 0.9}, {}]
    fig = charts.distill_history(hist)
    d, h = _trace(fig, "distilled (soft targets)"), _trace(fig, "hard labels only")
    assert list(d.x) == [1, 2, 3]
    assert list(d.y) == [0.8, 0.9, None] and list(h.y) == [0.7, None, None]
    assert fig.layout.yaxis.tickformat.endswith("%")
    empty = charts.distill_history([])
    assert [a.text for a in empty.layout.annotations] == ["training not started"]


def test_temperature_curve():
    rows = [{"temperature": t, "accuracy": a, "lo": a - 0.03, "hi": a + 0.02, "accuracy_hard_labels": 0.9}
            for t, a in ((8, 0.93), (1, 0.91), (4, 0.95), (2, 0.94))]
    fig = charts.temperature_curve(rows, current=4)
    curve = _trace(fig, "distilled, 95% CI")
    assert list(curve.x) == [1, 2, 4, 8] and list(curve.y) == [0.91, 0.94, 0.95, 0.93]
    star = _trace(fig, "current setting")
    assert list(star.x) == [4] and list(star.y) == [0.95]
    hard = _trace(fig, "hard labels only")
    assert hard.line.dash == "dash" and set(hard.y) == {0.9}
    assert fig.layout.xaxis.type == "log"
    assert not [t for t in charts.temperature_curve(rows).data if t.name == "current setting"]


# -----------------------------------------------------------------------------
# the log-count axis of the histogram


def test_log_ticks_are_few_and_fully_written(reports):
    assert charts._log_ticks(9) == [1, 2, 5, 10]
    assert charts._log_ticks(120) == [1, 2, 5, 10, 20, 50, 100]
    assert charts._log_ticks(16000) == [1, 10, 100, 1000, 10000]  # past three decades: powers of ten only
    assert [charts._count_text(t) for t in (1, 20, 1000, 10000, 1500)] == ["1", "20", "1k", "10k", "1,500"]
    r = reports["prune90-4bit"]
    lr = r.layers[-1]
    fig = charts.weight_histogram(r, lr.name, hide_zeros=True, log_y=True)
    tallest = max(lr.hist["original"] + lr.hist["compressed"])
    ticks = list(fig.layout.yaxis.tickvals)
    assert fig.layout.yaxis.type == "log" and ticks[0] == 1 and max(ticks) >= tallest / 1.5
    assert list(fig.layout.yaxis.ticktext) == [charts._count_text(t) for t in ticks]  # 20 reads "20", not "2"


# -----------------------------------------------------------------------------
# speed: built without per-property validation, and still exactly what validation gives


def _builders(r: pipeline.Report) -> dict:
    """Every chart function on report r, with curves as long as the page's (11 sparsities, 10 bit-widths)."""
    layer = r.layers[1].name
    spars = [{"sparsity": s, "accuracy": a, "lo": a - 0.03, "hi": min(1, a + 0.02)}
             for s, a in zip((0, .1, .2, .3, .4, .5, .6, .7, .8, .9, .95),
                             (.975, .975, .974, .974, .98, .977, .975, .96, .93, .53, .33))]
    bits = [{"bits": b, "accuracy": a, "lo": a - 0.04, "hi": min(1, a + 0.03)}
            for b, a in zip((1, 2, 3, 4, 5, 6, 8, 12, 16, 32), (.59, .14, .51, .53, .57, .58, .57, .57, .57, .57))]
    ci = tuple(r.accuracy_baseline_ci95)
    return {
        "weight_histogram": lambda: charts.weight_histogram(r, layer),
        "weight_histogram log": lambda: charts.weight_histogram(r, layer, hide_zeros=True, log_y=True),
        "quant_error_bars": lambda: charts.quant_error_bars(r),
        "quant_error_bars mse": lambda: charts.quant_error_bars(r, "mse"),
        "error_distribution": lambda: charts.error_distribution(r, layer),
        "accuracy_curve sparsity": lambda: charts.accuracy_curve(spars, "sparsity", 0.9, r.accuracy_baseline, ci,
                                                                 note="one-shot, without fine-tuning"),
        "accuracy_curve bits": lambda: charts.accuracy_curve(bits, "bits", 4, r.accuracy_baseline, ci,
                                                             note="at 90 % sparsity"),
        "size_waterfall": lambda: charts.size_waterfall(r),
        "size_breakdown": lambda: charts.size_breakdown(r),
        "energy_breakdown": lambda: charts.energy_breakdown(r),
        "soft_targets_chart": lambda: charts.soft_targets_chart(
            [.3, .01, .05, .02, .02, .1, .01, .02, .27, .2], [.9, 0, 0, 0, 0, .02, 0, 0, .05, .03], list(range(10)),
            4.0, 0),  # the true class under the legend: its label must still clear it
        "distill_history": lambda: charts.distill_history(
            [{"epoch": i, "distilled": 0.8 + 0.015 * i, "hard_labels": 0.78 + 0.012 * i} for i in range(1, 11)]),
        "head_scores": lambda: charts.head_scores(  # vit-fashion's 6 x 4 heads, a quarter removed in 4 rounds
            {"layers": [f"blocks.{i}.attn" for i in range(6)], "raw": [[.02 * (1 + (i * 4 + h) % 5) for h in range(4)]
                                                                     for i in range(6)],
             "normalized": [[.3 + .1 * ((i * 4 + h) % 5) for h in range(4)] for i in range(6)],
             "removed": [[(i * 4 + h) % 4 == 3 and i % 2 == 0 for h in range(4)] for i in range(6)],
             "scope": "global", "criterion": "importance", "n_images": 128, "steps": 4}),
        "temperature_curve": lambda: charts.temperature_curve(
            [{"temperature": t, "accuracy": a, "lo": a - .03, "hi": a + .02, "accuracy_hard_labels": .9}
             for t, a in ((1, .91), (2, .94), (4, .95), (8, .93), (16, .92))], current=4),
    }


def test_every_figure_is_what_validation_gives(report):
    """The figures skip plotly's property-by-property validation (several ms a figure). Rebuilt
    with validation (skip_invalid=False: an unknown or bad property raises), each is the same."""
    for fig in _all_figures(report) + [build() for build in _builders(report).values()]:
        fast = json.loads(fig.to_json())
        validated = json.loads(go.Figure(fig.to_dict(), skip_invalid=False).to_json())
        assert fast == validated, fast["layout"]["title"]["text"]


# -----------------------------------------------------------------------------
# layout in a real browser: title, subtitle and legend stacked without overlap; every label
# inside the figure; tick labels and bar labels apart. Plotly.js (the copy plotly.py ships)
# draws each figure at the widths the page gives it, and the text boxes are measured.

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
HALF_WIDTHS = (600, 450)    # two charts side by side: a laptop, a small laptop
FULL_WIDTHS = (1200, 600)   # one chart across the page
FULL_WIDTH_CHARTS = ("quant_error_bars", "energy_breakdown", "head_scores")
REPORT_FREE_CHARTS = ("accuracy_curve", "soft_targets_chart", "distill_history", "temperature_curve", "head_scores")  # drawn once

# Runs in a child process: the browser tests' Playwright may hold this process's event loop.
_PROBE = r"""
import json, sys
from playwright.sync_api import sync_playwright

MEASURE = '''async (specs) => {
  const out = [];
  for (const spec of specs) {
    const div = document.createElement('div');
    div.style.cssText = `position:absolute;left:0;top:0;width:${spec.width}px;height:${spec.fig.layout.height}px`;
    document.body.appendChild(div);
    await Plotly.newPlot(div, spec.fig.data, spec.fig.layout, {displayModeBar: false});
    const d = div.getBoundingClientRect();
    const box = (el) => { const r = el.getBoundingClientRect();
      return {x0: r.left - d.left, y0: r.top - d.top, x1: r.right - d.left, y1: r.bottom - d.top}; };
    const shown = (el) => { const r = el.getBoundingClientRect();
      return r.width > 0 && r.height > 0 && getComputedStyle(el).display !== 'none'; };
    const texts = (sel) => Array.from(div.querySelectorAll(sel)).filter(shown)
      .map((el) => ({text: el.textContent, ...box(el)}));
    const legend = div.querySelector('.legend .scrollbox');
    const plot = div.querySelector('.draglayer .xy .nsewdrag');
    out.push({
      name: spec.name, width: spec.width, height: spec.fig.layout.height,
      plot: plot ? box(plot) : null, legend: legend && shown(legend) ? box(legend) : null,
      title: texts('.gtitle'), subtitle: texts('.gtitle-subtitle'), legend_items: texts('.legend .legendtext'),
      xticks: texts('.xtick text'), yticks: texts('.ytick text'),
      x2ticks: texts('.x2tick text'), y2ticks: texts('.y2tick text'),
      axis_titles: texts('.g-xtitle text, .g-ytitle text, .g-x2title text, .g-y2title text'),
      labels: texts('.annotation-text-g text, .bartext text'),
    });
    Plotly.purge(div);
    div.remove();
  }
  return out;
}'''

specs = json.load(sys.stdin)
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=sys.argv[1], headless=True, args=[
        "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-proxy-server"])
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(sys.argv[2])  # a blank page that loads plotly.min.js
    json.dump(page.evaluate(MEASURE, specs), sys.stdout)
    browser.close()
"""


def _overlap(a: dict, b: dict, tol: float = 0.5) -> bool:
    return (min(a["x1"], b["x1"]) - max(a["x0"], b["x0"]) > tol
            and min(a["y1"], b["y1"]) - max(a["y0"], b["y0"]) > tol)


def _layout_problems(m: dict) -> list[str]:
    where = f"{m['name']} at {m['width']} px:"
    found = []
    header = [("title", t) for t in m["title"]] + [("subtitle", t) for t in m["subtitle"]]
    header += [("legend", m["legend"])] if m["legend"] else []
    for i, (na, a) in enumerate(header):
        found += [f"{where} {na} overlaps {nb}" for nb, b in header[i + 1:] if _overlap(a, b)]
        if m["plot"] and a["y1"] > m["plot"]["y0"] + 0.5:
            found.append(f"{where} {na} reaches into the plot area")
    ticks = [(k, t) for k in ("xticks", "yticks", "x2ticks", "y2ticks") for t in m[k]]
    texts = [(k, t) for k in ("title", "subtitle", "legend_items", "axis_titles", "labels") for t in m[k]] + ticks
    for k, t in texts:
        if t["x0"] < -0.5 or t["y0"] < -0.5 or t["x1"] > m["width"] + 0.5 or t["y1"] > m["height"] + 0.5:
            found.append(f"{where} {k} {t['text']!r} is cut off by the figure's edge")
    for k in ("xticks", "yticks", "x2ticks", "y2ticks"):
        found += [f"{where} {k} {a['text']!r} overlaps {b['text']!r}"
                  for i, a in enumerate(m[k]) for b in m[k][i + 1:] if _overlap(a, b)]
    fixed = header + ticks + [("axis title", t) for t in m["axis_titles"]]
    for i, a in enumerate(m["labels"]):
        found += [f"{where} label {a['text']!r} overlaps {nb} {b.get('text', '')!r}" for nb, b in fixed
                  if _overlap(a, b)]
        found += [f"{where} label {a['text']!r} overlaps {b['text']!r}" for b in m["labels"][i + 1:]
                  if _overlap(a, b)]
    return found


@pytest.fixture(scope="module")
def drawn(reports) -> list[dict]:
    """Every chart of every test report drawn by Plotly.js in headless Chromium, text boxes measured."""
    missing = None if os.access(CHROMIUM, os.X_OK) else "chromium"
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing = "playwright"
    if missing:
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(f"{missing} missing: the layout tests need a real browser (make browser)")
        pytest.skip(f"{missing} missing: the layout tests need a real browser (make browser)")
    specs = []
    for i, (key, r) in enumerate(reports.items()):
        for name, build in _builders(r).items():
            if i and name.split()[0] in REPORT_FREE_CHARTS:
                continue
            widths = FULL_WIDTHS if name.split()[0] in FULL_WIDTH_CHARTS else HALF_WIDTHS
            fig = json.loads(build().to_json())
            specs += [{"name": f"{key} {name}", "fig": fig, "width": w} for w in widths]
    with tempfile.TemporaryDirectory() as tmp:  # the page loads plotly.js from disk (faster than inlining it)
        page = Path(tmp) / "page.html"
        plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
        page.write_text(f"<html><head><script src='{plotly_js.as_uri()}'></script></head>"
                        "<body style='margin:0'></body></html>")
        done = subprocess.run([sys.executable, "-c", _PROBE, CHROMIUM, page.as_uri()], input=json.dumps(specs),
                              capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_layout_nothing_overlaps_or_is_cut_off(drawn):
    assert len(drawn) == 2 * (len(CONFIGS) * 8 + 6)  # 8 charts per report, 6 drawn once, each at two widths
    problems = [p for m in drawn for p in _layout_problems(m)]
    assert not problems, "\n".join(problems)


def test_layout_accuracy_curve_header_and_bits_axis(drawn):
    """The page author's two reports: the note overlapped the legend; '32 (float)' was cut off."""
    curves = [m for m in drawn if "accuracy_curve" in m["name"]]
    assert len(curves) == 2 * len(HALF_WIDTHS)
    for m in curves:
        (title,), (note,), legend, plot = m["title"], m["subtitle"], m["legend"], m["plot"]
        # stacked top to bottom: title, note, legend, plot
        assert title["y1"] <= note["y0"] and note["y1"] <= legend["y0"] and legend["y1"] <= plot["y0"], m["name"]
        assert plot["y1"] - plot["y0"] >= 130, f"{m['name']} at {m['width']} px: the plot keeps its height"
        if m["width"] >= 600:
            assert len({round(t["y0"]) for t in m["legend_items"]}) == 1, f"{m['name']}: a one-line legend"
        if "bits" in m["name"]:
            labels = [t["text"] for t in m["xticks"]]
            assert labels == ["1", "2", "3", "4", "5", "6", "8", "12", "16", "32float"], labels
            last = m["xticks"][-1]
            assert last["x1"] <= m["width"] and last["y1"] <= m["height"], "the last label is drawn in full"


def test_a_signed_change_never_reads_as_a_signed_zero():
    from compression.charts import signed
    assert signed(0.4091) == "+0.41" and signed(-1.5) == "-1.50"
    assert signed(-0.0004) == "-0.0004" and signed(0.00042) == "+0.00042"  # measured, not zero
    assert signed(0.0) == "+0.00" and signed(-0.0) == "+0.00"
