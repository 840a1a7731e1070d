"""The latency note splits the speed-up into pruning x runtime x int8, from paths timed in the same rounds."""
from __future__ import annotations

import re

import pytest

from compression import measure, pipeline
from compression.config import CompressionConfig
from compression.measure import Timing

pytest.importorskip("onnxruntime")


def test_factors_compare_the_same_model_and_multiply_to_the_total(monkeypatch):
    # known medians: PyTorch full 4 ms, PyTorch sliced 2 ms, ONNX Runtime fp32 1 ms, int8 0.5 ms
    known = {"fp32": 4.0, "pruned": 2.0, "ort": 1.0, "compressed": 0.5}
    seen = []

    def fake(calls, **kw):
        seen.append(sorted(calls))
        return {k: Timing(known[k], 0.0, 15) for k in calls}

    monkeypatch.setattr(measure, "interleaved", fake)
    r = pipeline.evaluate("mlp-digits", CompressionConfig(sparsity=0.5, structure="rows", bits=8))
    assert seen == [sorted(known)]  # all four paths in one interleaved measurement
    note = next(n for n in r.notes if n.startswith("Latency apart"))
    # by hand: 4/2 = 2 (pruning), 2/1 = 2 (the runtime, on the sliced model), 1/0.5 = 2 (int8); 8 in all
    assert re.search(r"pruning \(rows sliced out, PyTorch fp32\) 2\.00×", note)
    assert re.search(r"runtime \(PyTorch → ONNX Runtime fp32, the same model\) 2\.00×", note)
    assert re.search(r"int8 \(ONNX Runtime fp32 → int8, the same model\) 2\.00×", note)
    assert "8.00× =" in note
    assert r.latency_ms["pruned_fp32"] == 2.0 and r.latency_ms["ort_fp32"] == 1.0


def test_unsliced_model_has_no_pruning_factor(monkeypatch):
    known = {"fp32": 3.0, "ort": 1.5, "compressed": 1.0}
    monkeypatch.setattr(measure, "interleaved", lambda calls, **kw: {k: Timing(known[k], 0.0, 15) for k in calls})
    r = pipeline.evaluate("mlp-digits", CompressionConfig(bits=8))
    note = next(n for n in r.notes if n.startswith("Latency apart"))
    assert "pruning" not in note and "the same model) 2.00×" in note and "1.50×" in note
    assert r.latency_ms["pruned_fp32"] is None
