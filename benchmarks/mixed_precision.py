"""Mixed precision from per-layer sensitivity vs uniform bits at the same compressed size.

For each uniform bit-width b, its measured compressed size is the budget; the allocation
(compression.sensitivity.mixed_precision) picks bits per layer within it; both are evaluated
by pipeline.evaluate on the test split. Target: allocation accuracy >= uniform at <= the size.

    python benchmarks/mixed_precision.py [--models mlp-digits,cnn-digits] [--per-channel]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

from compression import pipeline, sensitivity
from compression.config import CompressionConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mlp-digits,cnn-digits")
    parser.add_argument("--uniform", default="2,3,4,5,6", help="uniform bit-widths to compare against")
    parser.add_argument("--per-channel", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    base = CompressionConfig(per_channel=args.per_channel)
    wins = total = 0
    for model_id in args.models.split(","):
        t0 = time.perf_counter()
        sens = sensitivity.sensitivity(model_id, base, sparsities=(), bits=sensitivity.ALLOCATION_BITS)
        print(f"\n{model_id}: baseline {sens['baseline']:.1%}, sensitivity in {time.perf_counter() - t0:.1f} s")
        print(f"{'uniform':>7} {'size (B)':>9} {'accuracy':>8} | {'mixed size':>10} {'accuracy':>8} "
              f"{'delta':>7}  bits per layer")
        for b in (int(v) for v in args.uniform.split(",")):
            uniform = pipeline.evaluate(model_id, base.replace(bits=b), latency=False)
            budget = uniform.size_bytes["compressed"]
            config = sensitivity.mixed_precision(model_id, budget, base, sens=sens)
            mixed = pipeline.evaluate(model_id, config, latency=False)
            delta = mixed.accuracy - uniform.accuracy
            ok = mixed.accuracy >= uniform.accuracy and mixed.size_bytes["compressed"] <= budget
            wins += ok
            total += 1
            print(f"{b:>7} {budget:>9,.0f} {uniform.accuracy:>8.1%} | {mixed.size_bytes['compressed']:>10,.0f} "
                  f"{mixed.accuracy:>8.1%} {delta * 100:>+6.1f}p  "
                  f"{','.join(f'{n}={v}' for n, v in config.layer_bits)}{'' if ok else '  (below target)'}")
    print(f"\nallocation >= uniform at <= the same size: {wins}/{total}")


if __name__ == "__main__":
    main()
