"""Scrubbing grid (issue 19): time to compute it (median of 3, one thread) and its JSON size.

    .venv/bin/python benchmarks/scrub.py [model]    # default mlp-digits; target <= 5 s, <= 5 MB
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from compression import scrub  # noqa: E402
from compression.config import CompressionConfig  # noqa: E402


def main() -> None:
    torch.set_num_threads(1)
    name = sys.argv[1] if len(sys.argv) > 1 else "mlp-digits"
    scrub.grid(name, None, CompressionConfig(), sparsities=(0.0,), bits=(32,))  # warm: checkpoint and data loaded
    times, g = [], {}
    for _ in range(3):
        t = time.perf_counter()
        g = scrub.grid(name, None, CompressionConfig())
        times.append(time.perf_counter() - t)
    size = len(json.dumps(g).encode())
    print(f"{name}: {len(g['points'])} points, grid {statistics.median(times):.2f} s (median of 3, 1 thread), "
          f"JSON {size / 1e6:.3f} MB")


if __name__ == "__main__":
    main()
