"""The scrubbing grid (issue 19) against pipeline.evaluate and hand counts."""
from __future__ import annotations

import json

import pytest
import torch

from compression import pipeline, scrub, source
from compression.config import CompressionConfig


@pytest.fixture(scope="module")
def digits_grid() -> dict:
    return scrub.grid("mlp-digits", None, CompressionConfig())


@pytest.mark.parametrize(("s", "b"), [(0.0, 32), (0.5, 4), (0.9, 2)])
def test_grid_points_are_evaluates_numbers(digits_grid: dict, s: float, b: int) -> None:
    report = pipeline.evaluate("mlp-digits", CompressionConfig(sparsity=s, bits=b), latency=False)
    point = next(p for p in digits_grid["points"] if p["sparsity"] == s and p["bits"] == b)
    assert point["accuracy"] == report.accuracy
    assert point["accuracy_ci95"] == report.accuracy_ci95
    assert point["size_bytes"] == report.size_bytes["compressed"]
    assert point["energy_pj"] == pytest.approx(report.energy_pj["total"], rel=1e-12)
    layer = next(r for r in report.layers if r.name == digits_grid["layer"])
    assert point["zeros"] == layer.hist["zeros_compressed"]
    assert point["hist"] == layer.hist["compressed"]
    assert digits_grid["edges"] == layer.hist["edges"]


def test_axes_and_shared_bins(digits_grid: dict) -> None:
    assert digits_grid["sparsities"] == [round(0.05 * i, 2) for i in range(20)]
    assert digits_grid["bits"] == [2, 3, 4, 5, 6, 8, 16, 32]
    assert len(digits_grid["points"]) == 20 * 8
    bins = len(digits_grid["edges"]) - 1
    err_bins = len(digits_grid["error_edges"]) - 1
    for p in digits_grid["points"]:
        assert len(p["hist"]) == bins and len(p["error_hist"]) == err_bins


def test_zero_count_is_the_hand_count(digits_grid: dict) -> None:
    # hand count: global magnitude pruning at 50 % zeroes the smallest |w| of all layers; count this layer's zeros
    model = source.load(source.parse("mlp-digits")).model
    ws = [m.weight.detach() for m in model.modules() if isinstance(m, torch.nn.Linear)]
    flat = torch.cat([w.abs().flatten() for w in ws])
    k = int(round(0.5 * flat.numel()))
    threshold = flat.kthvalue(k).values
    hand = int((ws[0].abs() <= threshold).sum())
    point = next(p for p in digits_grid["points"] if p["sparsity"] == 0.5 and p["bits"] == 32)
    assert point["zeros"] == hand
    # weights binned plus zeros = every weight of the layer
    assert point["zeros"] + sum(point["hist"]) == ws[0].numel()
    zeros = [next(p for p in digits_grid["points"] if p["sparsity"] == s and p["bits"] == 32)["zeros"]
             for s in digits_grid["sparsities"]]
    assert zeros == sorted(zeros) and zeros[-1] > zeros[0]


def test_json_size(digits_grid: dict) -> None:
    assert len(json.dumps(digits_grid).encode()) <= 5 * 1024 * 1024


def test_payload_readouts_are_the_cards_texts(digits_grid: dict) -> None:
    from compression import charts, report_html
    report = pipeline.evaluate("mlp-digits", CompressionConfig(sparsity=0.5, bits=4), latency=False)
    data = scrub.payload(digits_grid, 0.52, 5)  # nearest grid point: 0.5 and 5 bits
    assert (data["start_sparsity"], data["start_bits"]) == (0.5, 5)
    point = next(p for p in data["points"] if p["sparsity"] == 0.5 and p["bits"] == 4)
    card = {c["label"]: c["value"] for c in report_html.cards(report)}
    assert point["accuracy_text"] == card["Accuracy"]
    assert point["size_text"] == charts.fmt_bytes(report.size_bytes["compressed"])
    assert point["energy_text"] == charts.fmt_energy(report.energy_pj["total"])


def test_standalone_html_cannot_be_closed_by_the_data(digits_grid: dict) -> None:
    hostile = {**digits_grid, "layer": "</script><script>alert(1)</script>"}
    text = scrub.standalone_html(hostile)
    assert text.count("</script>") == 1  # only the fragment's own closing tag
    assert "mountScrubber(" in text and "http" not in text.replace("http://www.w3.org", "")


def test_two_four_has_one_sparsity_row() -> None:
    g = scrub.grid("mlp-small-digits", None, CompressionConfig(structure="2:4"), bits=(4, 32))
    assert g["sparsities"] == [0.5] and len(g["points"]) == 2


def test_worker_grid_is_kept_in_the_history(monkeypatch) -> None:
    from compression import workers
    calls = []
    real = scrub.grid
    monkeypatch.setattr(scrub, "grid", lambda *a, **k: calls.append(1) or real(*a, **k, bits=(32,)))
    first = workers.scrub_grid("mlp-small-digits", CompressionConfig())
    second = workers.scrub_grid("mlp-small-digits", CompressionConfig())
    assert calls == [1] and first == second
