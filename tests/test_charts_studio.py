"""Trade-offs studio figures against their input data: a brute-force Pareto filter, the published
table read by hand, the sensitivity curves and reports they are drawn from."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import plotly.graph_objects as go
import pytest

from compression import charts, pipeline
from compression.config import CompressionConfig

REFS = Path(__file__).resolve().parent.parent / "assets" / "references" / "deep_compression.csv"

ROWS = [  # (sparsity, bits) -> size, energy, accuracy: hand-made so the frontier is known
    {"sparsity": 0.0, "bits": 32, "size_bytes": 200_000, "energy_pj": 3e7, "accuracy": 0.975, "latency_ms": None},
    {"sparsity": 0.5, "bits": 32, "size_bytes": 110_000, "energy_pj": 2e7, "accuracy": 0.975, "latency_ms": None},
    {"sparsity": 0.5, "bits": 8, "size_bytes": 30_000, "energy_pj": 1e7, "accuracy": 0.970, "latency_ms": None},
    {"sparsity": 0.9, "bits": 8, "size_bytes": 9_000, "energy_pj": 5e6, "accuracy": 0.900, "latency_ms": None},
    {"sparsity": 0.9, "bits": 32, "size_bytes": 25_000, "energy_pj": 6e6, "accuracy": 0.880, "latency_ms": None},
    {"sparsity": 0.0, "bits": 4, "size_bytes": 30_000, "energy_pj": 9e6, "accuracy": 0.960, "latency_ms": None},
]


def brute_force_front(rows, x):
    """Rows no other row dominates (x smaller is better, accuracy larger is better)."""
    def dominates(a, b):
        return (a[x] <= b[x] and a["accuracy"] >= b["accuracy"]
                and (a[x] < b[x] or a["accuracy"] > b["accuracy"]))
    return {i for i, r in enumerate(rows) if not any(dominates(o, r) for o in rows)}


def trace(fig, name):
    found = [t for t in fig.data if t.name == name]
    assert found, [t.name for t in fig.data]
    return found[0]


@pytest.mark.parametrize("x", ["size_bytes", "energy_pj"])
def test_frontier_drawn_is_the_brute_force_pareto_filter(x):
    fig = charts.tradeoff_chart(ROWS, x, fields=("sparsity", "bits"))
    front = {c[0] for c in trace(fig, "Pareto frontier").customdata}
    dominated = {c[0] for c in trace(fig, "dominated").customdata}
    assert front == brute_force_front(ROWS, x)
    assert dominated == set(range(len(ROWS))) - front
    for t in (trace(fig, "Pareto frontier"), trace(fig, "dominated")):  # each point at its row's numbers
        for (i,), px, py in zip(t.customdata, t.x, t.y):
            assert (px, py) == (ROWS[i][x], ROWS[i]["accuracy"])
    # the staircase runs through the frontier, cheapest first
    line = trace(fig, "frontier")
    assert list(line.x) == sorted(ROWS[i][x] for i in front)


def test_hover_names_the_config_and_current_and_published_points_are_drawn():
    current = {"size_bytes": 50_000, "accuracy": 0.95}
    refs = [{"label": "LeNet-300-100", "accuracy": 0.9842, "size_bytes": 27_000}]
    fig = charts.tradeoff_chart(ROWS, "size_bytes", ("sparsity", "bits"), current, refs)
    t = trace(fig, "Pareto frontier")
    for (i,), text in zip(t.customdata, t.text):
        assert f"sparsity {ROWS[i]['sparsity'] * 100:.0f} %" in text
    star = trace(fig, "current scenario")
    assert (star.x[0], star.y[0]) == (50_000, 0.95)
    pub = trace(fig, "published (Deep Compression)")
    assert (pub.x[0], pub.y[0]) == (27_000, 0.9842)


def test_latency_not_measured_says_so():
    fig = charts.tradeoff_chart(ROWS, "latency_ms", ("sparsity",))
    assert "Measure latency" in fig.layout.annotations[0].text


def test_published_points_read_the_deep_compression_table():
    with REFS.open() as f:
        table = list(csv.DictReader(f))
    pts = {p["label"]: p for p in charts.published_points(table, "lenet300-mnist")}
    # Table 1 of arXiv:1510.00149: LeNet-300-100 compressed to 27 KB at 1.58 % error
    assert pts["LeNet-300-100"]["accuracy"] == pytest.approx(1 - 0.0158)
    assert pts["LeNet-300-100"]["size_bytes"] == pytest.approx(27_000)
    # pruning only: 1070 KB / 12x
    assert pts["LeNet-300-100 (pruning only)"]["size_bytes"] == pytest.approx(1070_000 / 12)
    assert {p["label"] for p in charts.published_points(table, "lenet5-mnist")} == {"LeNet-5", "LeNet-5 (pruning only)"}
    assert charts.published_points(table, "mlp-digits") == []


SENS = {"baseline": 0.975, "layers": ["fc1", "fc2"],
        "sparsity": {"values": [0.0, 0.5, 0.9], "accuracy": {"fc1": [0.975, 0.97, 0.8], "fc2": [0.975, 0.974, 0.95]}},
        "bits": {"values": [2, 4, 32], "accuracy": {"fc1": [0.5, 0.96, 0.975], "fc2": [0.9, 0.97, 0.975]}}}


@pytest.mark.parametrize("kind", ["sparsity", "bits"])
def test_sensitivity_chart_one_line_per_layer_at_the_measured_accuracy(kind):
    fig = charts.sensitivity_chart(SENS, kind)
    for layer in SENS["layers"]:
        assert list(trace(fig, layer).y) == SENS[kind]["accuracy"][layer]
    assert trace(fig, "uncompressed 97.5 %").y[0] == 0.975


def test_allocation_and_compare_figures_show_their_inputs():
    fig = charts.allocation_chart(["fc1", "fc2", "fc3"], {"fc1": 3, "fc2": 6}, 4)
    assert list(trace(fig, "mixed precision").y) == [3, 6, 4]
    assert list(trace(fig, "uniform 4 bits").y) == [4, 4, 4]
    bars = charts.compare_bars([("a", 1000.0), ("b", 2048.0)], "size_bytes")
    assert list(bars.data[0].x) == [1000.0, 2048.0] and list(bars.data[0].text) == ["1000 B", "2.0 KB"]


@pytest.fixture(scope="module")
def two_reports():
    return [(name, pipeline.evaluate("mlp-digits", cfg, latency=False)) for name, cfg in
            (("4-bit", CompressionConfig(bits=4)), ("50 %", CompressionConfig(sparsity=0.5)))]


def test_compare_histograms_overlay_each_reports_counts(two_reports):
    fig = charts.compare_histograms(two_reports, "fc1")
    for (label, report), t in zip(two_reports, fig.data):
        assert t.name == label and list(t.y) == report.layers[0].hist["compressed"]


def test_studio_figures_are_what_validation_gives(two_reports):
    figs = [charts.tradeoff_chart(ROWS, x, ("sparsity", "bits"), {"size_bytes": 1, "energy_pj": 1, "accuracy": .9},
                                  [{"label": "x", "accuracy": .9, "size_bytes": 10}]) for x in charts.TRADEOFF_AXES]
    figs += [charts.sensitivity_chart(SENS, k) for k in ("sparsity", "bits")]
    figs += [charts.allocation_chart(["fc1"], {"fc1": 3}, 4), charts.compare_bars([("a", 1.0)], "energy_pj"),
             charts.compare_histograms(two_reports, "fc2")]
    for fig in figs:
        fast = json.loads(fig.to_json())
        assert fast == json.loads(go.Figure(fig.to_dict(), skip_invalid=False).to_json())
