"""Backend benchmark: compress+evaluate one config, an 80-config sweep, and the naive way.

    python benchmarks/backend.py [--repeats 15]

Prints medians, and the ratio against the naive way (deep copy + torch.nn.utils.prune
hooks + DataLoader evaluation) measured in the same run. Targets from DESIGN.md:
one config <= 20 ms, the 10 x 8 sweep <= 3 s, deep-compression preset < 10 s.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.utils.prune as torch_prune
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from compression import data, models, pipeline  # noqa: E402
from compression.config import PRESETS, CompressionConfig  # noqa: E402

SPARSITIES = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
BITS = [1, 2, 3, 4, 5, 6, 8, 32]


def naive_evaluate(model_id: str, sparsity: float, bits: int) -> float:
    """The textbook way: deep copy, prune through hooks, fake-quantize, DataLoader loop."""
    ds = data.load(models.spec(model_id).dataset)
    model = copy.deepcopy(models.load(model_id))
    params = [(m, "weight") for m in models.layers(model).values()]
    if sparsity:
        torch_prune.global_unstructured(params, pruning_method=torch_prune.L1Unstructured, amount=sparsity)
    with torch.no_grad():
        for m, _ in params:
            if bits < 32 and bits > 1:
                w = m.weight
                scale = max(float(w.abs().max()), 1e-12) / (2 ** (bits - 1) - 1)
                q = torch.fake_quantize_per_tensor_affine(w, scale, 0, -(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1)
                if sparsity:
                    m.weight_orig.copy_(q)
                else:
                    m.weight.copy_(q)
    loader = DataLoader(TensorDataset(ds.x_test, ds.y_test), batch_size=64)
    correct = 0
    with torch.no_grad():
        for xb, yb in loader:
            correct += int((model(xb).argmax(1) == yb).sum())
    return correct / len(ds.y_test)


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--model", default="mlp-digits")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the CLI and app run: tiny models, no thread contention
    cfg = CompressionConfig(sparsity=0.9, bits=4)
    pipeline.evaluate(args.model, cfg)  # warm: imports, data set and checkpoint caches

    one = timed(lambda: pipeline.evaluate(args.model, cfg, latency=False), args.repeats)
    acc_only = timed(lambda: pipeline.accuracy_points(args.model, cfg, "sparsity", [0.9]), args.repeats)
    one_lat = timed(lambda: pipeline.evaluate(args.model, cfg), args.repeats)
    naive_one = timed(lambda: naive_evaluate(args.model, 0.9, 4), args.repeats)
    sweep = timed(lambda: pipeline.sweep(args.model, SPARSITIES, BITS), 3)
    naive_sweep = timed(lambda: [naive_evaluate(args.model, s, b) for s in SPARSITIES for b in BITS], 3)
    start = time.perf_counter()
    dc = pipeline.evaluate(args.model, PRESETS["deep-compression"], latency=False)
    deep = time.perf_counter() - start

    rows = [
        ("compress+evaluate, one config (full report)", one * 1e3, "ms", "<= 20", naive_one * 1e3),
        ("  accuracy only (the accuracy-curve path)", acc_only * 1e3, "ms", "", naive_one * 1e3),
        ("  full report + measured latency (30 runs x 2 paths)", one_lat * 1e3, "ms", "", None),
        ("sweep 10 sparsities x 8 bit-widths (full reports)", sweep, "s", "<= 3", naive_sweep),
        ("deep-compression preset (6 prune steps x 10 epochs)", deep, "s", "< 10", None),
    ]
    print(f"model {args.model}, torch threads 1, medians of {args.repeats} (sweep: of 3)")
    print(f"{'what':55} {'ours':>10} {'target':>8} {'naive':>10} {'naive/ours':>10}")
    for name, value, unit, target, naive in rows:
        naive_txt = f"{naive:.3f} {unit}" if naive is not None else ""
        ratio = f"{naive / value:.1f}x" if naive is not None else ""
        print(f"{name:55} {value:7.3f} {unit:2} {target:>8} {naive_txt:>10} {ratio:>10}")
    print(f"deep-compression: {dc.compression_ratio:.1f}x theoretical, accuracy {dc.accuracy:.1%} "
          f"vs {dc.accuracy_baseline:.1%} uncompressed")
    print("naive = deep copy + torch.nn.utils.prune hooks + DataLoader evaluation, accuracy only "
          "(no sizes, histograms, energy or file)")


if __name__ == "__main__":
    main()
