"""Latency is timed once per model, shapes and runtime path, not on every slider move."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from compression import pipeline
from compression.config import CompressionConfig
from ui.backend import LatencyMemo


class Recording:
    def __init__(self) -> None:
        self.keys: list[tuple] = []
        self.memo = LatencyMemo()

    def __call__(self, key, measure):
        self.keys.append(key)
        return self.memo(key, measure)


def test_values_that_keep_the_shapes_reuse_the_timing():
    memo = Recording()
    a = pipeline.evaluate("mlp-digits", CompressionConfig(sparsity=0.3, bits=4), latency_memo=memo)
    b = pipeline.evaluate("mlp-digits", CompressionConfig(sparsity=0.6, bits=6), latency_memo=memo)
    assert memo.keys[0] == memo.keys[1] and len(memo.memo._results) == 1
    assert a.latency_ms == b.latency_ms and a.latency_path == b.latency_path
    assert a.sparsity != b.sparsity and a.size_bytes != b.size_bytes  # the rest is the scenario's own


def test_another_runtime_path_or_sliced_rows_time_again():
    memo = Recording()
    pipeline.evaluate("mlp-digits", CompressionConfig(bits=4), latency_memo=memo)
    pipeline.evaluate("mlp-digits", CompressionConfig(bits=16), latency_memo=memo)  # no int8 kernels
    pipeline.evaluate("mlp-digits", CompressionConfig(sparsity=0.5, structure="rows", bits=16), latency_memo=memo)
    assert len(set(memo.keys)) == 3


def test_concurrent_askers_of_one_key_measure_once_and_failures_are_not_kept():
    memo = LatencyMemo()
    calls = []
    gate = threading.Barrier(6)

    def measure():
        calls.append(1)
        return ({"fp32": 1.0}, "path", [])

    def ask(_):
        gate.wait()
        return memo(("k",), measure)

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(ask, range(6)))
    assert len(calls) == 1 and all(r == results[0] for r in results)

    def boom():
        raise RuntimeError("no")
    for _ in range(2):
        try:
            memo(("bad",), boom)
        except RuntimeError:
            pass
    assert ("bad",) not in memo._results


def test_curve_points_without_codes_are_the_evaluated_weights():
    """accuracy_points quantizes with the record's `fake` (no codes): the same weights, so the
    same accuracy as evaluate() for every quantizer and granularity."""
    import torch

    from compression import models, source
    loaded = source.load(source.parse("mlp-digits"))
    for cfg in (CompressionConfig(sparsity=0.5, bits=4), CompressionConfig(bits=3, quantizer="kmeans"),
                CompressionConfig(bits=4, quantizer="pow2", per_channel=True),
                CompressionConfig(bits=5, scheme="asymmetric", per_channel=True, sparsity=0.3),
                CompressionConfig(bits=2, quantizer="ternary"), CompressionConfig(bits=1)):
        full, _, _ = pipeline.compress(loaded.model, loaded.dataset, cfg)
        light, _, _ = pipeline.compress(loaded.model, loaded.dataset, cfg, codes=False)
        for name, layer in models.layers(full).items():
            assert torch.equal(layer.weight, models.layers(light)[name].weight), (cfg, name)
