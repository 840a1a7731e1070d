"""Sweeps over a grid of configs, run on any concurrent.futures.Executor, and their Pareto frontier.

The executor is the scale-out seam: None runs in this process, `process_pool()` on local
cores, and a Dask cluster plugs in unchanged through `distributed.Client(address).get_executor()`.
Every task returns plain values to the caller, which alone writes history.
"""
from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import torch

from compression import config as cfg
from compression import pipeline, source
from compression.config import CompressionConfig, ConfigError
from compression.models import Progress

DASK_ENV = "COMPRESSION_LAB_DASK"  # scheduler address, e.g. tcp://10.0.0.5:8786
METRICS = ("accuracy", "accuracy_lo", "accuracy_hi", "sparsity_achieved", "size_bytes",
           "file_bytes", "compression_ratio", "energy_pj", "latency_ms")
# Where each axis of the trade-offs wants to go: size, energy and latency down, accuracy up.
MINIMIZE = ("size_bytes", "file_bytes", "energy_pj", "latency_ms")
MAXIMIZE = ("accuracy", "compression_ratio")


def grid_configs(grid: Mapping[str, Sequence[Any]], base_config: CompressionConfig | None = None
                 ) -> list[CompressionConfig]:
    """Every config of the cartesian grid, validated before any work starts (ConfigError naming the field)."""
    for field, values in grid.items():
        if field not in cfg.FIELDS:
            raise ConfigError(f"sweep over unknown setting '{cfg._short(field)}': known settings are "
                              f"{', '.join(cfg.FIELDS)}")
        if isinstance(values, (str, bytes)) or not list(values):
            raise ConfigError(f"sweep over {field}: give a non-empty list of values")
    fields = list(grid)
    base_config = base_config or CompressionConfig()
    return [base_config.replace(**dict(zip(fields, combo)))
            for combo in itertools.product(*(list(grid[f]) for f in fields))]


def evaluate_row(model_id: str | source.ModelSource, config: CompressionConfig, fields: Sequence[str] = (),
                 latency: bool = False, data_dir: str | Path | None = None) -> dict[str, Any]:
    """One config's flat row: model, the grid's fields, the other changed fields, headline numbers.

    Module-level and plain-valued in and out, so a process pool or a Dask worker can run it.
    """
    if torch.get_num_threads() != 1:  # a fresh pool worker: one task per core, a second thread only contends
        torch.set_num_threads(1)
    r = pipeline.evaluate(model_id, config, latency=latency, data_dir=data_dir)
    query = cfg.to_query(config)
    row: dict[str, Any] = {"model": str(model_id)}  # the word: rows are plain values
    for f in [*fields, *(f for f in config.changed() if f not in fields)]:
        value = getattr(config, f)
        row[f] = query.get(f, "") if isinstance(value, tuple) else value  # per-layer: "fc1=8,fc2=4"
    lo, hi = r.accuracy_ci95 or (None, None)  # None: no test data or no trained weights (size, energy still count)
    row.update(accuracy=r.accuracy, accuracy_lo=lo, accuracy_hi=hi,
               sparsity_achieved=r.sparsity, size_bytes=r.size_bytes["compressed"],
               file_bytes=r.size_bytes["file"], compression_ratio=r.compression_ratio,
               energy_pj=r.energy_pj["total"], latency_ms=r.latency_ms["compressed"])
    return row


def sweep(model_id: str, grid: Mapping[str, Sequence[Any]],
          base_config: CompressionConfig | None = None, executor: Executor | None = None,
          progress: Progress | None = None, should_stop: Callable[[], bool] | None = None, *,
          latency: bool = False, data_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """Evaluate every config of the grid; rows in grid order, each marked `on_frontier` (size vs accuracy).

    `should_stop()` is asked between results: when it says True, pending work is cancelled and
    the rows finished so far are returned.
    """
    configs = grid_configs(grid, base_config)
    fields = list(grid)
    rows: dict[int, dict[str, Any]] = {}
    if executor is None:
        for i, config in enumerate(configs):
            if should_stop and should_stop():
                break
            rows[i] = evaluate_row(model_id, config, fields, latency, data_dir)
            _report(progress, len(rows), len(configs), rows[i])
    else:
        futures: dict[Future, int] = {
            executor.submit(evaluate_row, model_id, config, fields, latency, data_dir): i
            for i, config in enumerate(configs)}
        try:
            for future in as_completed(futures):
                rows[futures[future]] = future.result()
                _report(progress, len(rows), len(configs), rows[futures[future]])
                if should_stop and should_stop():
                    break
        finally:
            for future in futures:
                future.cancel()
    ordered = [rows[i] for i in sorted(rows)]
    return mark_frontier(ordered)


def pareto_front(rows: Sequence[Mapping[str, Any]], x: str = "size_bytes", y: str = "accuracy"
                 ) -> list[int]:
    """Indices of the rows no other row dominates (x minimized, y maximized unless x/y say otherwise).

    A row is dominated when another is at least as good on both axes and better on one. Sort
    by x (best first), then keep each row whose y beats every y seen so far: O(n log n).
    Rows with a missing value on either axis are never on the frontier.
    """
    sx = 1 if x not in MAXIMIZE else -1   # sign that turns the axis into "smaller is better"
    sy = -1 if y not in MINIMIZE else 1
    valid = [i for i, r in enumerate(rows) if r.get(x) is not None and r.get(y) is not None]
    order = sorted(valid, key=lambda i: (sx * rows[i][x], sy * rows[i][y]))
    front: list[int] = []
    best: float | None = None
    for i in order:
        v = sy * rows[i][y]
        if best is None or v < best:
            front.append(i)
            best = v
        elif v == best and front and sx * rows[front[-1]][x] == sx * rows[i][x]:
            front.append(i)  # an exact tie on both axes: neither dominates the other
    return sorted(front)


def mark_frontier(rows: list[dict[str, Any]], x: str = "size_bytes", y: str = "accuracy"
                  ) -> list[dict[str, Any]]:
    """Set each row's `on_frontier` (in place) and return the rows."""
    front = set(pareto_front(rows, x, y))
    for i, row in enumerate(rows):
        row["on_frontier"] = i in front
    return rows


def process_pool(workers: int | None = None) -> ProcessPoolExecutor:
    """A local process pool; spawned workers, since forking a process that holds torch threads can hang.

    The workers ignore Ctrl-C: the terminal sends SIGINT to the whole process group, and each
    worker would print its own KeyboardInterrupt traceback (also while it is still importing
    torch, before any initializer runs). So from the main thread the workers are started at
    once with SIGINT blocked, a mask a child keeps across exec; the initializer covers other
    threads. The parent alone handles Ctrl-C (stop_pool) and ends them.
    """
    workers = workers or os.cpu_count() or 1
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_ignore_sigint)
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "pthread_sigmask"):
        # Blocked rather than ignored here: a Ctrl-C meanwhile stays pending for the parent (and
        # arrives as KeyboardInterrupt on unblocking), while each child keeps the blocked mask
        # across exec and never sees it.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            for _ in range(workers):  # each submit to a pool without an idle worker starts one
                pool.submit(int)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    return pool


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def stop_pool(pool: ProcessPoolExecutor) -> None:
    """End a pool now: queued work is dropped and running workers are terminated (Ctrl-C, an error).

    shutdown() alone would wait for every running evaluation to finish (seconds to minutes).
    """
    pool.shutdown(wait=False, cancel_futures=True)
    for process in list((getattr(pool, "_processes", None) or {}).values()):  # no public handle on them
        with contextlib.suppress(Exception):
            process.terminate()
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(Exception):
            process.join(5)


@contextlib.contextmanager
def executor_for(dask: str | None = None, processes: int = 0) -> Iterator[Executor | None]:
    """The executor a sweep should use: a Dask cluster (address given or in $COMPRESSION_LAB_DASK),
    else a local process pool when processes > 0, else None (in-process)."""
    address = dask or os.environ.get(DASK_ENV)
    if address:
        try:
            from distributed import Client
        except ImportError:
            raise ValueError(f"a Dask address ({address}) was given but the 'distributed' package is "
                             "not installed: pip install distributed") from None
        try:
            client = Client(address, timeout=10)
        except OSError as e:
            raise ValueError(f"cannot reach the Dask scheduler at {cfg._short(address)}: {e}") from None
        with client:
            yield client.get_executor()
    elif processes > 0:
        pool = process_pool(processes)
        try:
            yield pool
        except BaseException:  # Ctrl-C or an error: do not wait for the running work
            stop_pool(pool)
            raise
        pool.shutdown()
    else:
        yield None


def _report(progress: Progress | None, done: int, total: int, row: Mapping[str, Any]) -> None:
    if progress:
        acc = row["accuracy"]
        progress(done / total, f"{done}/{total} configs" + (f", last: accuracy {acc:.1%}" if acc is not None else ""))
