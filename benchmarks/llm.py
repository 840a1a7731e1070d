"""Language models (issue 18), tinygpt-pydoc part: seconds per evaluate config on one thread, and
RTN vs GPTQ at 3 bits with the paired 95 % interval of the perplexity change (the same bootstrap
resamples of held-out chunks for both), GPTQ calibrated on train-split chunks.
Usage: python benchmarks/llm.py [--model tinygpt-pydoc]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from compression import models
from compression.config import CompressionConfig
from compression.lm import evaluate as lm
from compression.lm import metrics

CONFIGS = {
    "int4 group 32": CompressionConfig(bits=4, granularity="group", group_size=32),
    "int8 per channel": CompressionConfig(bits=8, granularity="channel"),
    "nf4 group 64": CompressionConfig(bits=4, quantizer="nf4", granularity="group", group_size=64),
    "50 % magnitude": CompressionConfig(sparsity=0.5),
    "2:4 wanda": CompressionConfig(sparsity=0.5, structure="2:4", criterion="wanda"),
    "gptq 3-bit channel": CompressionConfig(bits=3, method="gptq", granularity="channel"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tinygpt-pydoc")
    args = parser.parse_args()
    torch.set_num_threads(1)
    lm.evaluate(args.model, CompressionConfig())  # the float reference, computed once and kept
    print(f"{args.model}: evaluate per config, one thread")
    for label, config in CONFIGS.items():
        t = time.perf_counter()
        r = lm.evaluate(args.model, config)
        lo, hi = r["perplexity_ci95"]
        print(f"  {label:20} {time.perf_counter() - t:5.2f} s  perplexity {r['perplexity']:.3f} [{lo:.3f}, {hi:.3f}] "
              f"(float {r['perplexity_baseline']:.3f}), KL {r['kl_divergence']:.4f}, agreement {r['top1_agreement']:.1%}")
    base = models.shared(args.model)
    for granularity in ("channel", "tensor"):
        rtn = lm.scores(base, CompressionConfig(bits=3, granularity=granularity))
        gptq = lm.scores(base, CompressionConfig(bits=3, granularity=granularity, method="gptq"))
        lo, hi = metrics.perplexity_delta_ci(rtn.nll, gptq.nll)
        p_rtn, p_gptq = metrics.perplexity(rtn.nll), metrics.perplexity(gptq.nll)
        verdict = "RTN worse" if lo > 0 else ("GPTQ worse" if hi < 0 else "not distinguishable")
        print(f"3-bit per {granularity}: RTN {p_rtn:.3f}, GPTQ {p_gptq:.3f}; RTN - GPTQ {p_rtn - p_gptq:+.3f} "
              f"[{lo:+.3f}, {hi:+.3f}] (paired 95 %): {verdict}")


if __name__ == "__main__":
    main()
