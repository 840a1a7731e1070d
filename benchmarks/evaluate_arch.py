"""evaluate() on the architectures without weights: python benchmarks/evaluate_arch.py [resnet18 ...].

Prints, per architecture, the median wall time of one plain forward pass (batch 1, one
thread: the baseline measured in the same run) and of evaluate() without latency, with
latency, and with 50 % channels + int8 (ONNX Runtime), each as a multiple of the forward pass.

`python benchmarks/evaluate_arch.py fashion [resnet-fashion ...]`: the trained Fashion-MNIST
models on their 10,000 test images, one thread: per slider configuration the median of
compress + evaluate (what a slider move on Explore runs; latency is timed once per model and
shapes on the page, so it is left out), beside one plain forward pass over the 10,000 images
measured in the same run, and the target (1.5 s for resnet-fashion, 3 s for vit-fashion).
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


FASHION_TARGET_S = {"resnet-fashion": 1.5, "vit-fashion": 3.0}
FASHION_CONFIGS = {
    "sparsity 0.5": CompressionConfig(sparsity=0.5),
    "8-bit": CompressionConfig(bits=8),
    "sparsity 0.7 + 4-bit": CompressionConfig(sparsity=0.7, bits=4),
    "rows 0.3 + 8-bit": CompressionConfig(structure="rows", sparsity=0.3, bits=8),
}


def fashion(model_ids: list[str]) -> None:
    """Median compress + evaluate per configuration for each Fashion-MNIST model (see the module note)."""
    from compression import data, measure, models

    ds = data.load("fashion-mnist")
    for model_id in model_ids or [m for m, s in models.ZOO.items() if s.dataset == "fashion-mnist"]:
        model = models.shared(model_id)
        forward = timed(lambda: measure.accuracy(model, ds.x_test, ds.y_test))
        target = FASHION_TARGET_S.get(model_id)
        print(f"{model_id}: forward pass over {len(ds.y_test)} test images {forward:.2f} s"
              + (f"; target per slider move {target:.1f} s" if target else ""))
        for name, config in FASHION_CONFIGS.items():
            t = timed(lambda: pipeline.evaluate(model_id, config, latency=False))
            verdict = "" if target is None else ("  within target" if t <= target else "  OVER target")
            print(f"  {name:22} {t:6.2f} s = {t / forward:4.1f}x forward{verdict}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    if sys.argv[1:2] == ["fashion"]:
        fashion(sys.argv[2:])
        sys.exit(0)
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
