"""evaluate() on the architectures without weights: python benchmarks/evaluate_arch.py [resnet18 ...].

Prints, per architecture, the median wall time of one plain forward pass (batch 1, one
thread: the baseline measured in the same run) and of evaluate() without latency, with
latency, and with 50 % channels + int8 (ONNX Runtime), each as a multiple of the forward pass.
"""
from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from compression import pipeline, source
from compression.config import CompressionConfig

REPEATS = 3


def timed(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    """Median seconds of fn() over repeats (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


if __name__ == "__main__":
    torch.set_num_threads(1)
    for arch in sys.argv[1:] or list(source.ARCHITECTURES):
        model = source.build_arch(arch)
        x = torch.rand(1, *source.IMAGENET_SHAPE)
        with torch.no_grad():
            forward = timed(lambda: model(x), 10)
        rows = {
            "evaluate, no latency": timed(lambda: pipeline.evaluate(arch, latency=False)),
            "evaluate": timed(lambda: pipeline.evaluate(arch)),
            "evaluate rows 0.5 + int8": timed(lambda: pipeline.evaluate(
                arch, CompressionConfig(structure="rows", sparsity=0.5, bits=8))),
        }
        print(f"{arch}: forward pass {forward * 1e3:.1f} ms")
        for name, t in rows.items():
            print(f"  {name:26} {t:6.2f} s = {t / forward:5.0f}x forward")
