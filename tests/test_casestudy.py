"""Seed 002's ResNet-18 case: sizes by arithmetic and the verdict on the 3x (latency faked)."""
from __future__ import annotations

import pytest

from compression import runtime

pytest.importorskip("torch_pruning")
from compression import casestudy
from compression.measure import Timing


def test_sizes_and_verdict(monkeypatch):
    calls = []

    def fake_latency(model, x, calib=None, repeats=50, budget_s=None):
        # latency proportional to parameters, int8 twice as fast: a known answer
        n = sum(p.numel() for p in model.parameters()) / 1e6
        calls.append(n)
        def t(ms: float) -> Timing:
            return Timing(ms, 0.1, repeats)

        return runtime.Latency(t(n), t(n / 2), t(n / 4), "static", b"fp32", b"int8")

    monkeypatch.setattr(casestudy.runtime, "latency", fake_latency)
    case = casestudy.reproduce_resnet18_case(repeats=3)
    sizes = case["size_bytes"]
    assert sizes["fp32"] == 4 * 11_689_512  # torchvision ResNet-18's published parameter count
    assert sizes["structured"] == 4 * case["params"]["structured"]
    assert sizes["int8"] < sizes["structured"] / 3.5
    # speed-up = params ratio x 4 (runtime 2x, int8 2x): far above 3x
    expected = calls[0] / (calls[1] / 4)
    assert case["speedup"] == pytest.approx(expected)
    assert f"is exceeded ({expected:.1f}x)" in case["verdict"]
    assert "ResNet-18" in casestudy.format_case(case)
