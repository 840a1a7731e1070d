"""Worker processes for a server's heavy backend calls: the machine's other cores.

A Streamlit server runs every session in a thread of one process, and PyTorch on models this
small is bound by Python's GIL: 30 sessions on a 2-core server used one core (issue 15). The
pure backend calls (pipeline.evaluate → Report, the accuracy curves, the teaching views, sweep
rows) take plain values and return plain values, so a `Pool` runs them in a few worker
processes instead: started once, each pinned to one torch thread, the zoo models loaded before
the first call. What stays in the server is what must be shared there: Streamlit's cache (one
computation per key while the others wait on it) and the progress bars, which the calling
thread draws from the progress a worker sends back through a queue.

The workers are forked from a fork server that imported torch and `compression` once
(`forkserver` with preload): they share those pages with it instead of each holding its own
copy. Each worker process keeps its own state here (its progress queue, the list of cancelled
jobs, its store of latencies): nothing is shared between processes but the queue and that list.
PyTorch's per-process state (compression.isolation) is per worker: two jobs never run in one
worker at once, so they cannot meet on it.
"""
from __future__ import annotations

import itertools
import logging
import multiprocessing as mp
import os
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

log = logging.getLogger("compression_lab.workers")

CANCEL_SLOTS = 64  # recently cancelled job ids a worker checks at each progress step


class LatencyMemo:
    """Latencies measured in one process, shared by the calls it serves (pipeline.latency_key).

    Moving a slider changes the weights' values, not the shapes that run: without this every
    rerun exported the model to ONNX, quantized it to int8 and timed three runtimes (0.5–4 s,
    and with 30 sessions all timing at once, numbers mostly of each other's load). One timing
    per key: concurrent callers asking for the same key wait for the first one's measurement.
    Bounded (least recently used out); a failed measurement is not stored.
    """

    def __init__(self, size: int = 128) -> None:
        self.size = size
        self._results: OrderedDict[tuple, tuple] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[tuple, threading.Lock] = {}

    def __call__(self, key: tuple, measure: Callable[[], tuple]) -> tuple:
        with self._lock:
            if key in self._results:
                self._results.move_to_end(key)
                return self._results[key]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._results:
                    return self._results[key]
            result = measure()
            with self._lock:
                self._results[key] = result
                while len(self._results) > self.size:
                    self._results.popitem(last=False)
                self._key_locks.pop(key, None)
            return result


class Cancelled(Exception):
    """The caller stopped waiting (Stop pressed, session closed): the job ends at its next progress step."""


class WorkerLost(RuntimeError):
    """A worker process died under a job (killed, out of memory)."""


# --------------------------------------------------------------------------- the workers' side

_worker: dict[str, Any] = {}  # in a worker process only: its queue, the cancelled list, its latency store


# Data sets a worker loads before its first job: the small ones. Fashion-MNIST as float32 is
# 220 MB per process; warmed in both workers (and loaded by the server for the model picker) it
# was 660 MB of a 30-session server's 2.2 GB (benchmarks/classroom_load.py). A worker now
# reads it at its first Fashion job (about 1.4 s, once).
WARM_DATASETS = ("digits", "mnist-5k")


def _start(progress_queue: Any, cancelled: Any, warm: tuple[str, ...]) -> None:
    """A worker's initialiser: one torch thread, exit with the server, the zoo models loaded."""
    import torch

    from compression import data, heap, models
    torch.set_num_threads(1)  # the models are tiny: more intra-op threads only contend
    heap.return_large_blocks()  # a language model's freed activations go back to the system
    _worker.update(queue=progress_queue, cancelled=cancelled, latency=LatencyMemo())
    parent = os.getppid()

    def orphaned() -> None:  # a server killed with SIGKILL cannot stop its workers: they notice
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=orphaned, name="orphan-watch", daemon=True).start()
    for mid in warm:
        try:
            models.shared(mid)
            if models.spec(mid).dataset in WARM_DATASETS:
                data.load(models.spec(mid).dataset, download=False)
        except Exception as e:  # the call that needs it will say why
            log.info("warm %s: %s", mid, e)


def latency_memo() -> LatencyMemo | None:
    """This worker's store of latencies (None outside a worker)."""
    return _worker.get("latency")


def _run(job: int, fn: Callable[..., Any], args: tuple, kwargs: dict, progress: bool) -> Any:
    if progress:
        q, cancelled = _worker["queue"], _worker["cancelled"]

        def report(fraction: float, message: str) -> None:
            if job in cancelled[:]:
                raise Cancelled("stopped")
            q.put((job, float(fraction), str(message)))

        kwargs = {**kwargs, "progress": report}
    return fn(*args, **kwargs)


def zoo_rows() -> dict[str, dict[str, Any]]:
    """Per zoo id: dataset, description, parameter count, whether it has attention heads, test
    accuracy of the shipped or trained checkpoint (None without one), whether it runs here and
    why not (the model picker's rows).

    Data sets that are not on disk are not downloaded (that would stall the first page).
    """
    from compression import data, heads, measure, models
    info: dict[str, dict[str, Any]] = {}
    for mid, spec in models.ZOO.items():
        built = models.build(mid)
        row: dict[str, Any] = {"dataset": spec.dataset, "description": spec.description,
                               "params": sum(p.numel() for p in built.parameters()),
                               "heads": heads.has_heads(built),  # structure 'heads' applies
                               "accuracy": None, "ready": False, "reason": None}
        if spec.language:  # measured by perplexity (compression.lm), not by the image pages
            row["reason"] = "a language model: the Language page (and `python -m compression evaluate`) measures it"
            info[mid] = row
            continue
        try:
            ds = data.load(spec.dataset, download=False)
            row["ready"] = True  # a missing checkpoint is trained on first use
            if models.checkpoint_path(mid).exists():
                row["accuracy"] = measure.accuracy(models.load(mid), ds.x_test, ds.y_test)
        except data.DataUnavailable as e:
            log.info("zoo_rows(%s): %s", mid, e)
            row["reason"] = f"its data set ({spec.dataset}) is not on this server"
        except Exception as e:  # unreadable checkpoint: no accuracy in the label
            log.info("zoo_rows(%s): %s", mid, e)
            row["ready"], row["reason"] = False, "its checkpoint cannot be read here"
        info[mid] = row
    return info


def ping() -> int:
    return os.getpid()


# --------------------------------------------------------------------------- the jobs (in a worker or in-process)

def evaluate(model: Any, config: Any, progress: Callable[[float, str], None] | None = None,
             latency_memo: LatencyMemo | None = None) -> Any:
    """history.evaluate (pipeline.evaluate, served from the history when seen before, else stored);
    pipeline.evaluate alone when the history cannot be opened (a read-only disk only costs the reuse).
    Latencies come from `latency_memo`, else this worker's own store."""
    from compression import history, pipeline
    memo = latency_memo if latency_memo is not None else _worker.get("latency")
    store = history.open_or_none()
    if store is None:
        return pipeline.evaluate(model, config, progress=progress, latency_memo=memo)
    return history.evaluate(model, config, store, progress=progress, latency_memo=memo)


def scrub_grid(model: Any, config: Any, progress: Callable[[float, str], None] | None = None) -> dict[str, Any]:
    """scrub.kept_grid in this user's history (computed, not kept, when it cannot be opened)."""
    from compression import history, scrub
    return scrub.kept_grid(model, config, history.open_or_none(), progress=progress)


def accuracy_points(model: Any, config: Any, field: str, values: tuple,
                    progress: Callable[[float, str], None] | None = None) -> list[dict[str, Any]]:
    """pipeline.accuracy_points; with `progress`, one value at a time to report it (each may fine-tune)."""
    from compression import pipeline
    if progress is None:
        return pipeline.accuracy_points(model, config, field, list(values))
    points: list[dict[str, Any]] = []
    for i, v in enumerate(values):
        points += pipeline.accuracy_points(model, config, field, [v])
        progress((i + 1) / len(values), f"{field} = {v:g}")
    return points


# --------------------------------------------------------------------------- the server's side

def _no_main_script() -> None:
    """New processes of this one do not import its `__main__` (once per process).

    multiprocessing starts a child by importing the parent's main module first (as
    `__mp_main__`), so that functions defined there can be found. In a Streamlit server that
    module is the app's script (Streamlit runs app.py as `__main__`): every worker ran the whole
    app in bare mode and died. The jobs here are module-level functions of `compression`; the
    workers need nothing from `__main__`.
    """
    from multiprocessing import spawn
    if getattr(spawn.get_preparation_data, "_no_main", False):
        return
    original = spawn.get_preparation_data

    def preparation_data(name: str) -> dict[str, Any]:
        data = original(name)
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
        return data

    preparation_data._no_main = True  # type: ignore[attr-defined]
    spawn.get_preparation_data = preparation_data  # type: ignore[assignment]


class Pool:
    """`workers` processes running plain functions; `call` waits in the caller's thread.

    `call(fn, *args, progress=cb)` runs `fn(*args, progress=…)` in a worker and calls `cb`
    in the caller's thread with what the worker reports, so a Streamlit progress bar is drawn by
    its own script thread. An exception in the worker is raised in the caller (a cache then
    keeps nothing); an exception in the caller (Streamlit's Stop) cancels the job: a queued job
    never starts, a running one ends at its next progress step.
    """

    def __init__(self, workers: int = 2, warm: tuple[str, ...] = ()) -> None:
        self.workers, self.warm = workers, warm
        _no_main_script()
        self._ctx = mp.get_context("forkserver")
        # the fork server imports these once; every worker forked from it shares their pages
        self._ctx.set_forkserver_preload(["compression.workers", "compression.pipeline", "compression.history"])
        self._queue = self._ctx.Queue()
        self._cancelled = self._ctx.Array("q", [-1] * CANCEL_SLOTS)
        self._cancel_next = 0
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self._inboxes: dict[int, queue.SimpleQueue] = {}
        self._executor: ProcessPoolExecutor | None = None
        threading.Thread(target=self._listen, name="worker-progress", daemon=True).start()

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(self.workers, mp_context=self._ctx, initializer=_start,
                                                     initargs=(self._queue, self._cancelled, self.warm))
            return self._executor

    def apart(self, fn: Callable[..., Any], *args: Any) -> Any:
        """fn(*args) in a process of its own, forked from the same fork server, that exits after:
        whatever it loads (a whole data set to score a checkpoint once) is freed with it."""
        with ProcessPoolExecutor(1, mp_context=self._ctx) as one:
            return one.submit(fn, *args).result()

    def start(self) -> None:
        """Start the workers now (a ping each), so the first session does not wait for them."""
        pool = self._pool()
        for _ in range(self.workers):
            pool.submit(ping)

    def _listen(self) -> None:
        while True:
            try:
                job, fraction, message = self._queue.get()
            except (EOFError, OSError):  # the server is shutting down
                return
            with self._lock:
                inbox = self._inboxes.get(job)
            if inbox is not None:
                inbox.put((fraction, message))

    def _cancel(self, job: int) -> None:
        with self._cancelled.get_lock():
            self._cancelled[self._cancel_next % CANCEL_SLOTS] = job
            self._cancel_next += 1

    def call(self, fn: Callable[..., Any], *args: Any, progress: Callable[[float, str], None] | None = None,
             **kwargs: Any) -> Any:
        job = next(self._ids)
        inbox: queue.SimpleQueue = queue.SimpleQueue()
        with self._lock:
            self._inboxes[job] = inbox
        future: Future | None = None
        try:
            future = self._pool().submit(_run, job, fn, args, kwargs, progress is not None)
            if progress is not None:
                future.add_done_callback(lambda _: inbox.put(None))
                done = False
                while not done and (item := inbox.get()) is not None:
                    while not inbox.empty():  # behind: draw only the latest
                        newer = inbox.get()
                        if newer is None:  # the end came with them: no further get (it would wait forever)
                            done = True
                            break
                        item = newer
                    progress(*item)
            return future.result()
        except BrokenProcessPool as e:
            with self._lock:
                if self._executor is not None:
                    self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None  # the next call starts fresh workers
            raise WorkerLost("the worker computing this view stopped (out of memory or killed); "
                             "try again") from e
        except BaseException:
            if future is not None and not future.done():
                future.cancel()
                self._cancel(job)
            raise
        finally:
            with self._lock:
                self._inboxes.pop(job, None)

    def shutdown(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


def lm_distilled(temperature: float, alpha: float, steps: int, seed: int,
                 progress: Callable[[float, str], None] | None = None) -> dict[str, Any]:
    """compression.lm.distill.distill, kept in this user's history (kind "lm-distill") so every
    session reuses a trained pair; computed, not kept, when the history cannot be opened."""
    from compression import history
    from compression.lm import distill
    def compute() -> dict[str, Any]:
        return distill.distill(temperature, alpha, steps, seed=seed, progress=progress)
    return history.kept(distill.HISTORY_KIND, distill.TEACHER, distill.history_params(temperature, alpha, steps, seed),
                        compute)
