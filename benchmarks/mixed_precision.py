"""Mixed precision from per-layer sensitivity vs uniform bits at the same compressed size.

For each uniform bit-width b, its measured compressed size is the budget; the allocation
(compression.sensitivity.mixed_precision) picks bits per layer within it; both are compressed
and scored on the same test images (compression.sensitivity.versus_uniform). Per budget it
prints the paired change with its 95 % interval and whether the allocation differs from
uniform at all (one that gives every layer b bits is the uniform model: no comparison).
Target: where it differs, no real loss at <= the size.

    python benchmarks/mixed_precision.py [--models mlp-digits,cnn-digits] [--per-channel] [--json]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

from compression import sensitivity
from compression.config import CompressionConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mlp-digits,cnn-digits")
    parser.add_argument("--uniform", default="2,3,4,5,6", help="uniform bit-widths to compare against")
    parser.add_argument("--per-channel", action="store_true")
    parser.add_argument("--json", action="store_true", help="print versus_uniform's rows per model as JSON")
    args = parser.parse_args()
    torch.set_num_threads(1)
    base = CompressionConfig(per_channel=args.per_channel)
    counts = {"differs": 0, "a real gain": 0, "a real loss": 0, "within noise": 0}
    total = 0
    out: dict[str, list] = {}
    for model_id in args.models.split(","):
        t0 = time.perf_counter()
        sens = sensitivity.sensitivity(model_id, base, sparsities=(), bits=sensitivity.ALLOCATION_BITS)
        rows = sensitivity.versus_uniform(model_id, [int(v) for v in args.uniform.split(",")], base, sens=sens)
        out[model_id] = rows
        if args.json:
            continue
        print(f"\n{model_id}: baseline {sens['baseline']:.1%}, {rows[0]['n_test']} test images, "
              f"{time.perf_counter() - t0:.1f} s")
        print(f"{'uniform':>7} {'size (B)':>9} {'accuracy':>8} | {'mixed size':>10} {'accuracy':>8} "
              f"{'mixed - uniform (paired 95% CI)':>32}  bits per layer")
        for r in rows:
            total += 1
            change = (f"{100 * r['delta']:+.1f}p ({100 * r['delta_lo']:+.1f} to {100 * r['delta_hi']:+.1f}) "
                      f"{r['verdict']}" if r["differs"] else "= uniform (same allocation)")
            if r["differs"]:
                counts["differs"] += 1
                counts[r["verdict"]] += 1
            print(f"{r['uniform_bits']:>7} {r['budget_bytes']:>9,.0f} {r['uniform_accuracy']:>8.1%} | "
                  f"{r['mixed_bytes']:>10,.0f} {r['mixed_accuracy']:>8.1%} {change:>32}  "
                  f"{','.join(f'{n}={v}' for n, v in r['allocation'].items())}")
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"\nallocation differs from uniform at {counts['differs']}/{total} budgets; where it differs: "
          f"{counts['a real gain']} real gains, {counts['within noise']} within noise, {counts['a real loss']} real losses")


if __name__ == "__main__":
    main()
