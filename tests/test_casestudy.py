"""Seed 002's ResNet-18 case: sizes by arithmetic and the verdict on the 3x (latency faked)."""
from __future__ import annotations

import math

import pytest

from compression import runtime

pytest.importorskip("torch_pruning")
from compression import casestudy
from compression.measure import Timing


def test_sizes_and_verdict(monkeypatch):
    calls = []

    def fake_latency_many(models, x, calib=None, repeats=50, budget_s=None):
        # latency proportional to parameters, int8 twice as fast: a known answer
        calls.append(list(models))
        def t(ms: float) -> Timing:
            return Timing(ms, 0.1, repeats)

        out = {}
        for name, model in models.items():
            n = sum(p.numel() for p in model.parameters()) / 1e6
            out[name] = runtime.Latency(t(n), t(n / 2), t(n / 4), "static", b"fp32", b"int8")
        return out

    monkeypatch.setattr(casestudy.runtime, "latency_many", fake_latency_many)
    case = casestudy.reproduce_resnet18_case(repeats=3)
    sizes = case["size_bytes"]
    assert sizes["fp32"] == 4 * 11_689_512  # torchvision ResNet-18's published parameter count
    assert sizes["structured"] == 4 * case["params"]["structured"]
    assert sizes["int8"] < sizes["structured"] / 3.5
    # speed-up = params ratio x 4 (runtime 2x, int8 2x): far above 3x
    # every model timed in one interleaved measurement, not one after another
    assert calls == [["full", "small", "half"]]
    n_full, n_small = case["params"]["fp32"] / 1e6, case["params"]["structured"] / 1e6
    expected = n_full / (n_small / 4)
    assert case["speedup"] == pytest.approx(expected)
    f = case["speedup_factors"]
    assert f["pruning (PyTorch fp32)"] == pytest.approx(n_full / n_small)
    assert f["runtime (PyTorch -> ONNX Runtime, fp32)"] == pytest.approx(2.0)  # the same model on both
    assert f["int8 (ONNX Runtime)"] == pytest.approx(2.0)
    assert math.prod(f.values()) == pytest.approx(case["speedup"])
    assert f"is exceeded ({expected:.1f}x)" in case["verdict"]
    assert "ResNet-18" in casestudy.format_case(case)
