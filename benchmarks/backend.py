"""Backend benchmark: one evaluate, with and without Huffman, and an 80-config sweep, against the naive path.

    python benchmarks/backend.py [--repeats 15] [--model mlp-digits]

Everything runs in one process on one torch thread, and every figure is a ratio against the
naive path measured in the same run (a loaded or faster machine moves both alike):

    naive = deep copy + torch.nn.utils.prune (global L1) + per-tensor fake quantization
            (torch.fake_quantize_per_tensor_affine) + evaluation of the test split

Ours is `pipeline.evaluate(..., latency=False)`: accuracy with its intervals, sizes, the
written file, histograms and energy. Targets (issue 14): one evaluate <= 3x naive, <= 4x
with Huffman coding on; the 10 sparsities x 8 bit-widths sweep <= 80 x 3 naive medians.
Exit status 1 when a target is missed.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.utils.prune as torch_prune

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from compression import data, models, pipeline, sweep  # noqa: E402
from compression.config import CompressionConfig  # noqa: E402

SPARSITIES = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
BITS = [1, 2, 3, 4, 5, 6, 8, 32]
TARGETS = {"evaluate": 3.0, "evaluate_huffman": 4.0, "sweep_per_config": 3.0}


def naive_evaluate(model_id: str, sparsity: float, bits: int) -> float:
    """The textbook way: deep copy, prune through torch's hooks, fake-quantize per tensor, evaluate."""
    ds = data.load(models.spec(model_id).dataset)
    model = copy.deepcopy(models.load(model_id))
    params = [(layer.module, layer.weight_attr) for layer in models.layers(model).values()]
    if sparsity:
        torch_prune.global_unstructured(params, pruning_method=torch_prune.L1Unstructured, amount=sparsity)
    if 1 < bits < 32:
        qmax = 2 ** (bits - 1) - 1
        with torch.no_grad():
            for module, attr in params:
                w = getattr(module, attr)
                scale = max(float(w.abs().max()), 1e-12) / qmax
                q = torch.fake_quantize_per_tensor_affine(w, scale, 0, -qmax, qmax)
                getattr(module, attr + "_orig" if sparsity else attr).copy_(q)
    with torch.no_grad():
        correct = int((model(ds.x_test).argmax(1) == ds.y_test).sum())
    return correct / len(ds.y_test)


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Median wall-clock seconds of `repeats` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved(a: Callable[[], object], b: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Medians of a and b timed in alternating rounds, so drift in machine load hits both alike."""
    ta, tb = [], []
    for i in range(repeats):
        for fn, out in ((a, ta), (b, tb)) if i % 2 == 0 else ((b, tb), (a, ta)):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return statistics.median(ta), statistics.median(tb)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--model", default="mlp-digits")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the CLI, the app's workers and sweeps run: one thread
    cfg = CompressionConfig(sparsity=0.9, bits=4)
    huff = cfg.replace(huffman=True)
    for c in (cfg, huff):  # warm: imports, data set and checkpoint caches
        pipeline.evaluate(args.model, c, latency=False)
    naive_evaluate(args.model, 0.9, 4)

    naive, ours = interleaved(lambda: naive_evaluate(args.model, 0.9, 4),
                              lambda: pipeline.evaluate(args.model, cfg, latency=False), args.repeats)
    naive_h, ours_h = interleaved(lambda: naive_evaluate(args.model, 0.9, 4),
                                  lambda: pipeline.evaluate(args.model, huff, latency=False), args.repeats)
    grid = {"sparsity": SPARSITIES, "bits": BITS}
    start = time.perf_counter()
    rows = sweep.sweep(args.model, grid)
    sweep_s = time.perf_counter() - start
    naive_after = timed(lambda: naive_evaluate(args.model, 0.9, 4), args.repeats)
    naive_median = statistics.median([naive, naive_h, naive_after])

    results = [
        ("evaluate (sparsity 0.9, 4 bits; latency off)", ours, naive, "evaluate"),
        ("evaluate with Huffman coding", ours_h, naive_h, "evaluate_huffman"),
        (f"sweep of {len(rows)} configs, per config", sweep_s / len(rows), naive_median, "sweep_per_config"),
    ]
    print(f"model {args.model}, torch threads {torch.get_num_threads()}, medians of {args.repeats} "
          f"interleaved rounds; naive median {naive_median * 1e3:.2f} ms")
    print(f"{'what':48} {'ours':>10} {'naive':>10} {'ours/naive':>10} {'target':>8}")
    missed = []
    for name, value, ref, key in results:
        ratio = value / ref
        ok = ratio <= TARGETS[key]
        missed += [] if ok else [name]
        print(f"{name:48} {value * 1e3:7.2f} ms {ref * 1e3:7.2f} ms {ratio:9.2f}x {'<= ' + str(TARGETS[key]) + 'x':>8}"
              f"  {'ok' if ok else 'MISSED'}")
    print(f"sweep total {sweep_s:.2f} s for {len(rows)} configs; budget 80 x 3 naive medians = "
          f"{len(rows) * TARGETS['sweep_per_config'] * naive_median:.2f} s")
    print("naive = deep copy + torch.nn.utils.prune (global L1) + per-tensor fake quantization + test-split "
          "accuracy; ours adds intervals, sizes, the written file, histograms and energy")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
