"""Where do soft targets beat hard labels? Distillation on mnist-5k by data fraction and a left-out digit.

    python benchmarks/distill_mnist.py [--teacher mlp800-mnist] [--student mlp30-mnist]
        [--fractions 0.05,0.1,1] [--leave-out 3] [--epochs 30] [--temperature 8] [--alpha 0.9]

Per row: the student distilled from the teacher's soft targets beside the same student on
hard labels (same init, same images, same batches), test accuracy with 95 % Wilson
intervals, and for the left-out digit its accuracy on that digit's test images (Hinton,
Vinyals & Dean 2015, §3). Read the intervals before claiming a difference.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from compression import data, distill, models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", default="mlp800-mnist")
    parser.add_argument("--student", default="mlp30-mnist")
    parser.add_argument("--fractions", default="0.05,0.1,1")
    parser.add_argument("--leave-out", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--temperature", type=float, default=8.0)
    parser.add_argument("--alpha", type=float, default=0.9)
    args = parser.parse_args()
    torch.set_num_threads(1)
    ds = data.load("mnist-5k")
    teacher = models.load(args.teacher)
    runs = [(float(f), None) for f in args.fractions.split(",")] + [(1.0, args.leave_out)]
    print(f"teacher {args.teacher}, student {args.student}, T={args.temperature:g}, "
          f"alpha={args.alpha:g}, {args.epochs} epochs; {ds.source}")
    for fraction, leave_out in runs:
        t = time.perf_counter()
        r = distill.distill(teacher, models.build(args.student, seed=0), ds, args.temperature,
                            args.alpha, args.epochs, fraction=fraction, leave_out=leave_out).to_dict()
        ci, ci_h = r["accuracy_ci95"], r["accuracy_hard_labels_ci95"]
        line = (f"fraction {fraction:>5.0%} ({r['n_train']:>4} images){'' if leave_out is None else f', no {leave_out}s'}: "
                f"distilled {r['accuracy']:.1%} [{ci[0]:.1%}, {ci[1]:.1%}]  hard labels "
                f"{r['accuracy_hard_labels']:.1%} [{ci_h[0]:.1%}, {ci_h[1]:.1%}]")
        if leave_out is not None:
            lo, lo_h = r["accuracy_left_out_ci95"], r["accuracy_left_out_hard_labels_ci95"]
            line += (f"; on the {r['n_left_out']} test {leave_out}s: distilled {r['accuracy_left_out']:.1%} "
                     f"[{lo[0]:.1%}, {lo[1]:.1%}], hard labels {r['accuracy_left_out_hard_labels']:.1%} "
                     f"[{lo_h[0]:.1%}, {lo_h[1]:.1%}]")
        print(line + f"  ({time.perf_counter() - t:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
