"""Language models (issue 18), one thread: what `compression.lm.evaluate.evaluate` costs and shows.

- tinygpt-pydoc: seconds per evaluate config (target <= 3 s each), as a ratio to the float
  config's evaluate measured in the same run (the baseline);
- smollm2-135m (when its package is installed), each in its own child process so that its peak
  memory is its own (VmHWM, the peak resident set; shared library pages count in full, so it is
  an upper bound of PSS): RTN 4-bit per channel on the 4,096-token held-out slice (target <= 60 s,
  peak <= 2.5 GB) and GPTQ 4-bit (target <= 15 min), with progress lines;
- on both models: RTN vs GPTQ at 3 bits per channel, the paired 95 % interval of the perplexity
  change (the same bootstrap resamples of held-out chunks), GPTQ calibrated on train-split text.

Usage: python benchmarks/llm.py [--skip-smollm2] [--skip-gptq4]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from compression import heap  # noqa: E402
from compression.config import CompressionConfig  # noqa: E402
from compression.lm import evaluate as lm  # noqa: E402
from compression.lm import metrics, registry  # noqa: E402

CONFIGS = {
    "int4 group 32": CompressionConfig(bits=4, granularity="group", group_size=32),
    "int8 per channel": CompressionConfig(bits=8, granularity="channel"),
    "nf4 group 64": CompressionConfig(bits=4, quantizer="nf4", granularity="group", group_size=64),
    "50 % magnitude": CompressionConfig(sparsity=0.5),
    "2:4 wanda": CompressionConfig(sparsity=0.5, structure="2:4", criterion="wanda"),
    "gptq 3-bit channel": CompressionConfig(bits=3, method="gptq", granularity="channel"),
}
RTN3 = CompressionConfig(bits=3, granularity="channel")
GPTQ3 = RTN3.replace(method="gptq")


def rtn_vs_gptq(model_id: str) -> str:
    rtn, gptq = lm.scores(model_id, RTN3), lm.scores(model_id, GPTQ3)
    lo, hi = metrics.perplexity_delta_ci(rtn.nll, gptq.nll)
    p_rtn, p_gptq = metrics.perplexity(rtn.nll), metrics.perplexity(gptq.nll)
    verdict = "RTN worse" if lo > 0 else ("GPTQ worse" if hi < 0 else "not distinguishable")
    return (f"{model_id} 3-bit per channel: RTN {p_rtn:.3f}, GPTQ {p_gptq:.3f}; RTN - GPTQ {p_rtn - p_gptq:+.3f} "
            f"[{lo:+.3f}, {hi:+.3f}] (paired 95 %): {verdict}")


def child(what: str) -> None:
    """One SmolLM2 measurement in this (fresh) process; prints progress, then one JSON line."""
    torch.set_num_threads(1)
    heap.return_large_blocks()  # as the CLI and the server's workers do (compression.heap)
    start = time.perf_counter()
    last = [0.0]

    def progress(fraction: float, message: str) -> None:
        if time.perf_counter() - last[0] > 30:
            last[0] = time.perf_counter()
            print(f"    {last[0] - start:6.0f} s  {fraction:5.1%}  {message}", flush=True)

    if what == "rtn-vs-gptq3":
        print("  " + rtn_vs_gptq("smollm2-135m"))
        out: dict = {}
    else:
        lm.reference("smollm2-135m")  # the reference's forward and sample, as the page's first evaluate pays
        lm.evaluate("smollm2-135m", CompressionConfig())
        reference_s = time.perf_counter() - start
        config = CompressionConfig(bits=4, granularity="channel", method="gptq" if what == "gptq4" else "rtn")
        t = time.perf_counter()
        r = lm.evaluate("smollm2-135m", config, progress=progress)
        out = {"seconds": time.perf_counter() - t, "reference_seconds": reference_s, "perplexity": r["perplexity"],
               "perplexity_ci95": r["perplexity_ci95"], "perplexity_baseline": r["perplexity_baseline"],
               "kl_divergence": r["kl_divergence"], "top1_agreement": r["top1_agreement"], "sample": r["sample"]}
    with open("/proc/self/status") as f:
        out["peak_gb"] = next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 2 ** 20
    print("RESULT " + json.dumps(out), flush=True)


def run_child(what: str) -> dict:
    proc = subprocess.Popen([sys.executable, __file__, "--child", what], stdout=subprocess.PIPE, text=True)
    result: dict = {}
    for line in proc.stdout:  # type: ignore[union-attr]
        if line.startswith("RESULT "):
            result = json.loads(line[7:])
        else:
            print(line, end="", flush=True)
    proc.wait()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-smollm2", action="store_true")
    parser.add_argument("--skip-gptq4", action="store_true", help="leave out SmolLM2 GPTQ 4-bit (minutes)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    torch.set_num_threads(1)
    model_id = "tinygpt-pydoc"
    lm.evaluate(model_id, CompressionConfig())  # loads the model and its reference once
    times = []
    for _ in range(3):
        t = time.perf_counter()
        lm.evaluate(model_id, CompressionConfig())
        times.append(time.perf_counter() - t)
    base_s = sorted(times)[1]
    print(f"{model_id}: evaluate per config, one thread (median of 3; baseline: the float config, {base_s:.2f} s)")
    for label, config in CONFIGS.items():
        times = []
        for _ in range(3):
            t = time.perf_counter()
            r = lm.evaluate(model_id, config)
            times.append(time.perf_counter() - t)
        s = sorted(times)[1]
        lo, hi = r["perplexity_ci95"]
        print(f"  {label:20} {s:5.2f} s ({s / base_s:4.1f}x)  perplexity {r['perplexity']:.3f} [{lo:.3f}, {hi:.3f}] "
              f"(float {r['perplexity_baseline']:.3f}), KL {r['kl_divergence']:.4f}, "
              f"agreement {r['top1_agreement']:.1%}")
    print(rtn_vs_gptq(model_id))
    why = registry.lookup("smollm2-135m").available()
    if args.skip_smollm2 or why:
        print(f"smollm2-135m skipped{': ' + why if why else ''}")
        return
    print(f"smollm2-135m (reference: {registry.lookup('smollm2-135m').reference}), each in a fresh process:")
    for what, label, target in (("rtn4", "RTN 4-bit per channel", "<= 60 s, <= 2.5 GB"),
                                ("gptq4", "GPTQ 4-bit per channel", "<= 15 min")):
        if what == "gptq4" and args.skip_gptq4:
            continue
        r = run_child(what)
        lo, hi = r["perplexity_ci95"]
        print(f"  {label}: {r['seconds']:.0f} s (target {target}; the reference's first forward and sample "
              f"{r['reference_seconds']:.0f} s before it), peak {r['peak_gb']:.2f} GB; perplexity "
              f"{r['perplexity']:.2f} [{lo:.2f}, {hi:.2f}] vs {r['perplexity_baseline']:.2f}, KL "
              f"{r['kl_divergence']:.3f}, agreement {r['top1_agreement']:.1%}, sample {r['sample']!r}")
    run_child("rtn-vs-gptq3")


if __name__ == "__main__":
    main()
