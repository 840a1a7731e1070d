"""Hostile uploads (issue 13): per case, the outcome and the peak memory of the loading step.

    python benchmarks/hostile_uploads.py

Each file of tests/hostile_corpus.py goes through `source.upload` as the CLI and the page
send it. Printed per case: refused or accepted, whether the marker file was written, the
server process's peak RSS over its RSS before the case (sampled every 2 ms), the worker's
own peak RSS (VmHWM), and the wall time. Then the worker's cost in normal use, medians in
the same run: the first opening of a good .pt2 + .npz in a process (two workers), a
reopening (the bytes are hashed; the worker's answer for those bytes is remembered), and
each worker step alone.
Target: no case above 300 MB over the idle process, no marker written.
"""
from __future__ import annotations

import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from compression import data, loading, source  # noqa: E402
from tests import hostile_corpus as hc  # noqa: E402

BOUND = 300 * hc.MB


def main() -> int:
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp_name:
        tmp = Path(tmp_name)
        os.environ["COMPRESSION_LAB_CACHE"] = str(tmp / "cache")
        good = hc.good_model_file(tmp)
        source.upload(good, arch="mlp-digits")  # warm: imports and the model builder are not the case's cost
        print(f"{'case':42} {'outcome':9} {'marker':6} {'server +MB':>10} {'worker MB':>9} {'s':>5}  message")
        worst, bad = 0, 0
        for case in hc.CASES:
            marker = tmp / "pwned"
            path = tmp / case.filename
            path.write_bytes(case.build(marker))
            t0 = time.perf_counter()
            worker = None
            with hc.PeakRSS() as rss:
                try:
                    if case.role == "model":
                        source.upload(path, arch=case.arch)
                    else:
                        source.upload(good, arch="mlp-digits", data_file=path)
                    outcome, msg = "ACCEPTED", ""
                except loading.FileRejected as e:
                    outcome, msg = "refused", str(e)
                    worker = getattr(e, "worker_peak_bytes", None)
            dt = time.perf_counter() - t0
            wrote = marker.exists()
            worst = max(worst, rss.over_start)
            bad += outcome != "refused" or wrote or rss.over_start > BOUND
            print(f"{case.name[:42]:42} {outcome:9} {'YES' if wrote else 'no':6} {rss.over_start / hc.MB:10.1f} "
                  f"{(worker or 0) / hc.MB:9.1f} {dt:5.2f}  {msg[:90]}")
            path.unlink()
        print(f"\nworst server growth {worst / hc.MB:.1f} MB (bound {BOUND / hc.MB:.0f} MB); "
              f"{bad} case(s) accepted, marked or over the bound")

        # normal use: the worker's share of a good upload's load time
        ds = data.load("digits")
        npz = tmp / "digits.npz"
        np.savez(npz, x=ds.x_test.reshape(len(ds.x_test), 64).numpy(), y=ds.y_test.numpy())  # the program takes (N, 64)
        pt2 = tmp / "mlp.pt2"
        pt2.write_bytes(hc.program())
        src = source.upload(pt2, data_file=npz)
        stored = loading.find(src.name).path
        rows = []

        def first_open() -> None:
            loading._ACCEPTED.clear()  # as in a fresh server process: the worker checks both files
            loading._DECODED.clear()
            source.load(src)

        for label, step in (("first opening (2 workers)", first_open),
                            ("reopening (bytes hashed)", lambda: source.load(src)),
                            ("worker step alone, .pt2", lambda: loading.run_worker("pt2", stored, "mlp.pt2")),
                            ("worker step alone, .npz", lambda: loading.run_worker("npz", npz, "d.npz"))):
            times, cpu = [], []
            for _ in range(5):
                c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                step()
                times.append(time.perf_counter() - t0)
                c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu.append(c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime)
            rows.append((label, statistics.median(times), statistics.median(cpu)))
        print()
        for label, t, c in rows:
            print(f"{label:30} median {t * 1000:6.0f} ms wall, worker CPU {c * 1000:5.0f} ms (5 runs)")
        print(f"reopening / first opening: {rows[1][1] / rows[0][1]:.2f}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
