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
    stages = json.loads(out)["stages"]
    names = {"pruned": "pruned", "quantized": "+ quantized", "huffman": "+ Huffman"}
    ours = ", ".join(f"{names[s]} {stages[s]['ours']['ratio']:.1f}×" for s in names)
    paper = ", ".join(f"{stages[s]['paper']['ratio']:g}×" for s in names if stages[s]["paper"].get("ratio"))
    return f"{ours} (paper: {paper})"


def _qat(out: str, seconds: float) -> str:
    ptq = float(_find(r"^PTQ\b.*?accuracy (\d\.\d+)", out)[1])
    qat = float(_find(r"^QAT\b.*?accuracy (\d\.\d+)", out)[1])
    return f"{_pct(qat)} with QAT, {_pct(ptq)} without"


def _distill(out: str, seconds: float) -> str:
    m = _find(r"on the (\d+) test (\d)s: distilled ([\d.]+)% \[[^\]]*\], hard labels ([\d.]+)%", out)
    return (f"distilled student gets {m[3]} % of the {m[1]} test {m[2]}s right, "
            f"hard labels {m[4]} %")


def _resnet18(out: str, seconds: float) -> str:
    d = json.loads(out)
    s, ms = d["size_bytes"], d["latency_ms"]
    return (f"{s['int8'] / 1e6:.1f} MB vs {s['fp32'] / 1e6:.1f} MB fp32; batch-1 latency "
            f"{ms['structured_ort_int8']['median']:.1f} ms ONNX Runtime int8 vs {ms['torch_fp32']['median']:.1f} ms "
            f"PyTorch fp32 (speed-up {d['speedup']:.1f}×)")


def _mixed(out: str, seconds: float) -> str:
    m = _find(r"allocation >= uniform at <= the same size: (\d+)/(\d+)", out)
    return f"at least as accurate in {m[1]} of {m[2]} budgets (mlp-digits, cnn-digits)"


def _backend(out: str, seconds: float) -> str:
    # The benchmark's first row: one config's median and its ratio to the naive path, same run.
    m = _find(r"one config[^\n]*?(\d+(?:\.\d+)?) ms[^\n]*?(\d+(?:\.\d+)?)x", out)
    return f"median {m[1]} ms; naive / ours = {m[2]}× (the naive path timed in the same run)"


FIGURES = [
    Figure("Deep Compression on LeNet-300-100 (mnist-5k)",
           "python -m compression evaluate --model lenet300-mnist --preset deep-compression --json",
           _deep_compression_preset),
    Figure("its three stages beside the paper's", "python -m compression reproduce deep-compression --json",
           _deep_compression_stages),
    Figure("QAT at 2 bits (mlp-digits, 5 epochs)", "python benchmarks/qat.py", _qat),
    Figure("distillation, digit 3 left out of the student's data", "python benchmarks/distill_mnist.py", _distill),
    Figure("ResNet-18 (random init), 50 % channels + int8", "python -m compression reproduce resnet18-case --json",
           _resnet18),
    Figure("mixed precision vs uniform bits at the same size", "python benchmarks/mixed_precision.py", _mixed),
    Figure("one mlp-digits config, compress + evaluate", "python benchmarks/backend.py", _backend),
]


def run(fig: Figure, cache: str) -> tuple[str, float]:
    argv = shlex.split(fig.command)
    argv[0] = sys.executable
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "COMPRESSION_LAB_CACHE": cache}
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
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
                figures[fig.command], seconds = run(fig, cache)
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
