"""Quantization-aware fine-tuning vs post-training quantization, the same budget and recipe for both.

Prints compression.qat.qat_vs_ptq (the function behind Explore's "QAT vs PTQ" view): the
checkpoint, the float model after the same fine-tuning (it must not lose accuracy beyond
noise, or the comparison starts from a damaged model), PTQ (fine-tuned in float, then
rounded) and QAT (fine-tuned under fake quantization) at each bit-width, and QAT - PTQ with
its paired 95 % interval.
Usage: python benchmarks/qat.py [--model mlp-digits] [--bits 2,3,4] [--epochs 5] [--per-channel] [--json]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from compression import qat
from compression.config import CompressionConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bits", default="2,3,4")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--model", default="mlp-digits")
    parser.add_argument("--per-channel", action="store_true")
    parser.add_argument("--json", action="store_true", help="print qat_vs_ptq's result as JSON")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    result = qat.qat_vs_ptq(args.model, CompressionConfig(per_channel=args.per_channel),
                            bits=tuple(int(b) for b in args.bits.split(",")), epochs=args.epochs)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(qat.format_table(result))
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
