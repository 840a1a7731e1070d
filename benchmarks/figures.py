"""The README's figures, from one command: `make figures` (python benchmarks/figures.py).

Each row of the README's figures table is a command and what it printed: this script runs
every command exactly as the table shows it, reads the figure from that command's own output
(its JSON where it has one), and rewrites the table between the README's markers. So the
README cannot say what the commands do not print: a new figure needs a new run, and a command
whose output no longer has the figure stops this script with the command and its output.

    python benchmarks/figures.py            # run every command (minutes), rewrite the README table
    python benchmarks/figures.py --dry-run  # list the commands, run nothing
    python benchmarks/figures.py --only qat # run the rows whose command contains "qat"; other rows kept

One torch thread (as the CLI and the app run), a cache folder of its own (nothing is served
from or written to the user's history).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
RAW = ROOT / "benchmarks" / "results" / "figures"  # git-ignored
BEGIN = "<!-- figures:begin (written by `make figures`, benchmarks/figures.py: edit that, not this table) -->"
END = "<!-- figures:end -->"
HEADER = "| what | figure | command |\n| --- | --- | --- |"


class FigureMissing(RuntimeError):
    """A command's output no longer holds the figure its row reads."""


@dataclass(frozen=True)
class Figure:
    what: str
    command: str                           # exactly as the README shows it ("python" = this interpreter)
    read: Callable[[str, float], str]      # (stdout, wall seconds) -> the figure's text


def _find(pattern: str, out: str) -> re.Match[str]:
    m = re.search(pattern, out, re.MULTILINE)
    if m is None:
        raise FigureMissing(f"no match for {pattern!r}")
    return m


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _deep_compression_preset(out: str, seconds: float) -> str:
    d = json.loads(out)
    # No wall time: on a shared machine it says more about the load than the code (benchmarks/backend.py
    # times this preset against a baseline in the same run).
    return (f"file {d['compression_ratio_file']:.1f}× smaller than fp32, {_pct(d['accuracy'])} vs "
            f"{_pct(d['accuracy_baseline'])} uncompressed")


def _deep_compression_stages(out: str, seconds: float) -> str:
    d = json.loads(out)
    stages, op = d["stages"], d["operating_point"]
    names = {"pruned": "pruned", "quantized": "+ quantized", "huffman": "+ Huffman"}
    counts = {"parameters": "parameters", "bits": "bits"}
    ours = ", ".join(f"{names[s]} {stages[s]['ours']['ratio']:.1f}× ({counts[stages[s]['ours']['accounting']]})"
                     for s in names)
    paper = ", ".join(f"{stages[s]['paper']['ratio']:g}×" for s in names if stages[s]["paper"].get("ratio"))
    h = stages["huffman"]["ours"]
    text = (f"ours {op['ours']['weights_kept_pct']:.1f} % kept at {op['ours']['weight_bits']} bits: {ours}; error "
            f"{h['error_pct']:.1f} % (95 % CI {h['error_ci95_pct'][0]:.1f}–{h['error_ci95_pct'][1]:.1f}) vs "
            f"{d['error_baseline_pct']:.1f} % unpruned; paper {op['paper']['weights_kept_pct']:g} % at "
            f"{op['paper']['weight_bits']} bits: {paper}")
    at = d.get("at_paper_point")
    if at:
        text += "; ours at the paper's point: " + ", ".join(f"{at['stages'][s]['ratio']:.1f}×" for s in names)
    return text + f" (our {d['n_test']:,} test images are MNIST training images)"


def _qat(out: str, seconds: float) -> str:
    d = json.loads(out)
    rows = {(r["bits"], r["method"]): r for r in d["rows"]}
    g = d["gains"][0]
    b, tuned = g["bits"], rows[(32, "fp32-finetuned")]
    return (f"{_pct(rows[(b, 'qat')]['accuracy'])} with QAT, {_pct(rows[(b, 'ptq')]['accuracy'])} with PTQ "
            f"(QAT − PTQ {100 * g['delta']:+.1f} points, paired 95 % CI {100 * g['lo']:+.1f} to {100 * g['hi']:+.1f}); "
            f"the float model after the same fine-tuning {_pct(tuned['accuracy'])} "
            f"(checkpoint {_pct(rows[(32, 'fp32')]['accuracy'])})")


def _distill(out: str, seconds: float) -> str:
    m = _find(r"on the (\d+) test (\d)s: distilled ([\d.]+)% \[[^\]]*\], hard labels ([\d.]+)%", out)
    return (f"distilled student gets {m[3]} % of the {m[1]} test {m[2]}s right, "
            f"hard labels {m[4]} %")


def _resnet18(out: str, seconds: float) -> str:
    d = json.loads(out)
    s, ms = d["size_bytes"], d["latency_ms"]
    f = d["speedup_factors"]
    return (f"{s['int8'] / 1e6:.1f} MB vs {s['fp32'] / 1e6:.1f} MB fp32; batch-1 latency "
            f"{ms['structured_ort_int8']['median']:.1f} ms ONNX Runtime int8 vs {ms['torch_fp32']['median']:.1f} ms "
            f"PyTorch fp32: speed-up {d['speedup']:.1f}× = pruning {f['pruning (PyTorch fp32)']:.2f}× × runtime "
            f"{f['runtime (PyTorch -> ONNX Runtime, fp32)']:.2f}× × int8 {f['int8 (ONNX Runtime)']:.2f}×, every "
            "path timed in the same rounds")


def _mixed(out: str, seconds: float) -> str:
    rows = [r for model_rows in json.loads(out).values() for r in model_rows]
    differ = [r for r in rows if r["differs"]]
    verdicts = {v: sum(r["verdict"] == v for r in differ) for v in ("a real gain", "within noise", "a real loss")}
    return (f"the allocation differs from uniform at {len(differ)} of {len(rows)} budgets (mlp-digits, cnn-digits); "
            f"there: {verdicts['a real gain']} real gains, {verdicts['within noise']} within noise, "
            f"{verdicts['a real loss']} real losses (paired 95 % CI)")


def _backend(out: str, seconds: float) -> str:
    # Ratios to the naive path timed in the same interleaved rounds (absolute times depend on the load).
    def ratio(label: str) -> tuple[str, str]:
        m = _find(rf"^{label}[^\n]*?([\d.]+)x\s+<= ([\d.]+)x", out)
        return m[1], m[2]
    (e, et), (h, ht), (s, st) = ratio(r"evaluate \("), ratio("evaluate with Huffman"), ratio("sweep of 80 configs")
    return (f"evaluate {e}× the naive path (target ≤ {et}×), with Huffman {h}× (≤ {ht}×), "
            f"an 80-config sweep {s}× per config (≤ {st}×)")


def _llm(out: str, seconds: float) -> str:
    int4 = _find(r"^\s+int4 group 32\s.*?perplexity ([\d.]+) \[([\d.]+), ([\d.]+)\] \(float ([\d.]+)\)", out)
    orders = {m[1]: (m[2], m[3], m[4]) for m in re.finditer(
        r"^\s*(\S+) 3-bit per channel: .*?RTN - GPTQ (\S+) \[(\S+), (\S+)\] \(paired 95 %\): (?:RTN worse)", out,
        re.MULTILINE)}
    tiny, smol = orders["tinygpt-pydoc"], orders["smollm2-135m"]
    rtn = _find(r"^\s+RTN 4-bit per channel: (\d+) s .*?peak ([\d.]+) GB", out)
    return (f"tinygpt-pydoc int4 g32: perplexity {int4[1]} (95 % CI {int4[2]}–{int4[3]}) vs float {int4[4]}; "
            f"3-bit per channel, RTN − GPTQ {tiny[0]} [{tiny[1]}, {tiny[2]}] on tinygpt-pydoc and {smol[0]} "
            f"[{smol[1]}, {smol[2]}] on SmolLM2 (paired 95 %): RTN worse on both; SmolLM2 RTN 4-bit evaluate "
            f"{rtn[1]} s, peak {rtn[2]} GB (targets ≤ 60 s, ≤ 2.5 GB)")


FIGURES = [
    Figure("Deep Compression on LeNet-300-100 (mnist-5k)",
           "python -m compression evaluate --model lenet300-mnist --preset deep-compression --json",
           _deep_compression_preset),
    Figure("its three stages beside the paper's, each in the paper's accounting",
           "python -m compression reproduce deep-compression --json",
           _deep_compression_stages),
    Figure("QAT vs PTQ at 2 bits (mlp-digits, the same 5 epochs and recipe for both)",
           "python benchmarks/qat.py --bits 2 --json", _qat),
    Figure("distillation, digit 3 left out of the student's data", "python benchmarks/distill_mnist.py", _distill),
    Figure("ResNet-18 (random init), 50 % channels + int8", "python -m compression reproduce resnet18-case --json",
           _resnet18),
    Figure("mixed precision vs uniform bits at the same size", "python benchmarks/mixed_precision.py --json", _mixed),
    Figure("one mlp-digits config, compress + evaluate", "python benchmarks/backend.py", _backend),
    Figure("language models (the SmolLM2 reference is dequantized Q4_1, not bf16)",
           "python benchmarks/llm.py --skip-gptq4", _llm),
]


def raw_path(fig: Figure) -> Path:
    return RAW / (re.sub(r"[^A-Za-z0-9]+", "_", fig.command).strip("_") + ".out")


def run(fig: Figure, cache: str, reuse: bool = False) -> tuple[str, float]:
    if reuse and raw_path(fig).exists():  # re-read the last run's own output (after changing a reader)
        return fig.read(raw_path(fig).read_text(), 0.0), 0.0
    argv = shlex.split(fig.command)
    argv[0] = sys.executable
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "COMPRESSION_LAB_CACHE": cache}
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    RAW.mkdir(parents=True, exist_ok=True)  # each command's own output, kept for whoever checks a cell
    raw_path(fig).write_text(done.stdout)
    if done.returncode != 0:
        raise FigureMissing(f"`{fig.command}` exited {done.returncode}:\n{done.stderr[-3000:]}")
    try:
        return fig.read(done.stdout, seconds), seconds
    except (FigureMissing, KeyError, TypeError, ValueError) as e:
        raise FigureMissing(f"`{fig.command}` printed no figure for {fig.what!r} ({e!r}); its output:\n"
                            f"{done.stdout[-3000:]}") from None


def table_rows(readme: str) -> dict[str, str]:
    """{command: figure} of the table now between the README's markers."""
    body = readme.split(BEGIN, 1)[1].split(END, 1)[0]
    rows = {}
    for line in body.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[2].startswith("`"):
            rows[cells[2].strip("`")] = cells[1]
    return rows


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, one torch thread"


CAPTION = "Generated by `make figures` on {when} ({machine}); each figure is read from the output of the command beside it."


def render(figures: dict[str, str], caption: str) -> str:
    lines = [BEGIN, HEADER]
    lines += [f"| {f.what} | {figures[f.command]} | `{f.command}` |" for f in FIGURES]
    return "\n".join([*lines, "", caption, END])


def caption_of(readme: str) -> str:
    """The caption line of the table now in the README."""
    body = readme.split(BEGIN, 1)[1].split(END, 1)[0]
    return body.strip().splitlines()[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="list the commands, run nothing")
    parser.add_argument("--reuse", action="store_true",
                        help="read the outputs the last run kept (benchmarks/results/figures/) instead of running again")
    parser.add_argument("--only", help="run only the rows whose command contains this text; keep the others")
    args = parser.parse_args(argv)
    if args.dry_run:
        print("\n".join(f.command for f in FIGURES))
        return 0
    readme = README.read_text(encoding="utf-8")
    if BEGIN not in readme or END not in readme:
        sys.exit(f"{README.name} has no figures markers ({BEGIN!r} ... {END!r})")
    figures = table_rows(readme) if args.only else {}
    with tempfile.TemporaryDirectory(prefix="figures-") as cache:
        for fig in FIGURES:
            if args.only and args.only not in fig.command:
                if fig.command not in figures:
                    sys.exit(f"--only: the README has no figure yet for `{fig.command}`; run every row once")
                continue
            print(f"running {fig.command} ...", file=sys.stderr, flush=True)
            try:
                figures[fig.command], seconds = run(fig, cache, args.reuse)
            except FigureMissing as e:
                print(f"figures: {e}", file=sys.stderr)
                return 1
            print(f"  {figures[fig.command]}  ({seconds:.0f} s)", file=sys.stderr, flush=True)
    before, rest = readme.split(BEGIN, 1)
    after = rest.split(END, 1)[1]
    caption = CAPTION.format(when=time.strftime("%Y-%m-%d"), machine=machine())
    README.write_text(before + render(figures, caption) + after, encoding="utf-8")
    print(f"wrote the figures table of {README.name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
