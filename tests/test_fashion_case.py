"""`reproduce fashion-case`: resnet-fashion at 50 % channels, fine-tuned, int8, on a few hundred images
(latency faked: timing is benchmarks' business; the int8 file is the real one ONNX Runtime scores)."""
from __future__ import annotations

import pytest
import torch

from compression import models, runtime
from compression.measure import Timing

pytest.importorskip("torch_pruning")
pytest.importorskip("onnxruntime")
from compression import casestudy


def test_fashion_case_on_300_images(monkeypatch):
    def fake_latency_many(models_, x, calib=None, repeats=50, budget_s=None):
        # time proportional to parameters (int8 twice as fast as ONNX Runtime fp32, which is twice
        # PyTorch); the int8 file is really quantized, since the case scores it
        out = {}
        for name, model in models_.items():
            n = sum(p.numel() for p in model.parameters()) / 1e3
            fp32 = runtime.to_onnx(model, tuple(x.shape[1:]))
            int8, mode = runtime.quantize_int8(fp32, calib)
            out[name] = runtime.Latency(Timing(n, 0.1, 3), Timing(n / 2, 0.1, 3), Timing(n / 4, 0.1, 3),
                                        mode, fp32, int8)
        return out

    monkeypatch.setattr(casestudy.runtime, "latency_many", fake_latency_many)
    case = casestudy.reproduce_fashion_case(epochs=1, repeats=3, subset=300)
    full = models.load("resnet-fashion")
    n_full = sum(p.numel() for p in full.parameters())
    assert case["size_bytes"]["fp32"] == 4 * n_full and case["n_test"] == 300
    assert case["params"]["structured"] < n_full / 2  # half the channels: about a quarter of the weights
    # accuracy of the full model on the same 300 images, computed here by hand
    from compression import data

    ds = data.load("fashion-mnist")
    with torch.no_grad():
        by_hand = (full(ds.x_test[:300]).argmax(1) == ds.y_test[:300]).float().mean().item()
    assert case["accuracy"]["fp32"]["value"] == pytest.approx(by_hand)
    lo, hi = case["accuracy"]["int8"]["ci95"]
    assert lo <= case["accuracy"]["int8"]["value"] <= hi
    # int8 in ONNX Runtime computes nearly what the fine-tuned fp32 model does
    assert abs(case["accuracy"]["int8"]["value"] - case["accuracy"]["structured"]["value"]) <= 0.03
    assert case["speedup"] == pytest.approx(n_full / (case["params"]["structured"] / 4))
    text = casestudy.format_fashion_case(case)
    assert "seed ResNet-18" in text and "44.7 MB" in text and "68.9%" in text and "Differences:" in text
    assert len(case["differences"]) == 4
