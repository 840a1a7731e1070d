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
