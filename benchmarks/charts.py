"""Chart build times: every compression.charts figure on a real report, best of 15.

    python benchmarks/charts.py

The page redraws up to eight figures on a slider move, so each should build in well under
3 ms (a target, kept out of the timed-test suite because shared machines are noisy).
"""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from compression import pipeline  # noqa: E402
from compression.config import CompressionConfig  # noqa: E402
from tests.test_charts import _builders  # noqa: E402  the same figures the tests check

TARGET_MS = 3.0


def main() -> None:
    report = pipeline.evaluate("mlp-digits", CompressionConfig(sparsity=0.9, bits=4), latency=False)
    print(f"{'figure':28} {'best of 15':>11}  target <= {TARGET_MS:g} ms")
    for name, build in _builders(report).items():
        build()
        best = math.inf
        for _ in range(15):
            start = time.perf_counter()
            build()
            best = min(best, time.perf_counter() - start)
        print(f"{name:28} {best * 1e3:8.2f} ms  {'ok' if best * 1e3 <= TARGET_MS else 'MISSED'}")


if __name__ == "__main__":
    main()
