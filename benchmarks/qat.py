"""Quantization-aware fine-tuning vs post-training quantization on mlp-digits.

Prints the accuracy of `evaluate --bits B --finetune-epochs 5` with and without `--qat`
(the same config otherwise, measured in the same run) and the gain in points.
Usage: python benchmarks/qat.py [--bits 2] [--epochs 5]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from compression import pipeline
from compression.config import CompressionConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bits", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--model", default="mlp-digits")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = {}
    for qat in (False, True):
        cfg = CompressionConfig(bits=args.bits, finetune_epochs=args.epochs, qat=qat)
        start = time.perf_counter()
        r = pipeline.evaluate(args.model, cfg, latency=False)
        results[qat] = r.accuracy
        lo, hi = r.accuracy_ci95
        print(f"{'QAT' if qat else 'PTQ'}  bits={args.bits} finetune_epochs={args.epochs}: "
              f"accuracy {r.accuracy:.4f} (95% CI {lo:.3f}-{hi:.3f}), {time.perf_counter() - start:.1f} s")
    print(f"QAT - PTQ: {100 * (results[True] - results[False]):+.1f} points")


if __name__ == "__main__":
    main()
