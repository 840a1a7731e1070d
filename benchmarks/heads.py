"""Attention-head pruning on vit-fashion: Michel et al.'s importance against random heads.

python benchmarks/heads.py [--n-test N]

Scores every head once (I_h = E|dL/dξ_h| on 128 training images, compression.heads), then for
each fraction of heads removed (global ranking, no fine-tuning) prints the accuracy on the test
images with its paired change against the float model, for the importance ranking and for
random heads (seed 0), for four rounds of importance (rescored with the removed heads gated off),
and the parameters left in the smaller model. One thread.
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from compression import data, heads, measure, models, prune

FRACTIONS = (0.25, 0.5, 0.75)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-test", type=int, default=10_000, help="test images scored (default: all 10,000)")
    args = p.parse_args()
    torch.set_num_threads(1)
    ds = data.load("fashion-mnist")
    base = models.load("vit-fashion")
    x, y = ds.x_test[:args.n_test], ds.y_test[:args.n_test]
    right_base = (measure.predictions(base, x) == y).tolist()
    t = time.perf_counter()
    importance = heads.score(base, ds, 0.0)
    scoring = time.perf_counter() - t
    raw = {name: torch.tensor(r) for name, r in zip(importance.layers, importance.raw)}
    rand = heads.random_scores(base, seed=0)
    full = sum(q.numel() for q in base.parameters())
    print(f"vit-fashion, {len(y):,} test images: float {sum(right_base) / len(y):.1%}; "
          f"{importance.n_heads} heads scored on {importance.n_images} training images in {scoring:.1f} s")
    print(f"{'removed':>8} {'ranking':>11} {'accuracy':>9} {'change (paired 95% CI)':>28} {'params left':>16}")
    for s in FRACTIONS:
        rounds = heads.removed_of(heads.score(base, ds, s, steps=4))
        for label, removed in (("importance", heads.select(raw, s)), ("random", heads.select(rand, s)),
                               ("4 rounds", rounds)):
            model = copy.deepcopy(base)
            prune.apply_masks(model, heads.masks(model, removed))
            small = heads.remove(model)
            right = (measure.predictions(small, x) == y).tolist()
            d, (lo, hi) = measure.paired_delta(right, right_base)
            n_left = sum(q.numel() for q in small.parameters())
            print(f"{s:>8.0%} {label:>11} {sum(right) / len(y):>9.1%} {d * 100:>+9.1f} pts ({lo * 100:+.1f}, "
                  f"{hi * 100:+.1f}) {n_left:>9,} / {full:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
