"""The server's worker processes (compression.workers): the heavy backend calls on another core."""
from __future__ import annotations

import os
import threading

import pytest
import torch

from compression import history, pipeline, workers
from compression.config import CompressionConfig


def _state(progress=None) -> dict:
    """What a job sees of its process: its pid, torch's thread count, the global generator's state."""
    if progress is not None:
        progress(0.5, "half")
    return {"pid": os.getpid(), "threads": torch.get_num_threads(),
            "rng": torch.default_generator.get_state().tolist()[:8]}


def _fails(progress=None) -> None:
    raise ValueError("bad setting")


def _slow(steps: int, progress=None) -> int:
    import time
    for i in range(steps):
        time.sleep(0.05)
        if progress is not None:
            progress(i / steps, f"step {i}")
    return steps


@pytest.fixture(scope="module")
def pool():
    p = workers.Pool(2, warm=("mlp-small-digits",))
    p.start()
    yield p
    p.shutdown()


def test_a_job_runs_in_another_process_with_one_torch_thread(pool):
    state = pool.call(_state)
    assert state["pid"] != os.getpid() and state["threads"] == 1


def test_the_report_is_the_one_computed_in_this_process(pool):
    # the trusted reference: pipeline.evaluate called here, as the CLI's `evaluate` does
    config = CompressionConfig(sparsity=0.6, bits=3)
    here = pipeline.evaluate("mlp-small-digits", config, latency=False)
    there = pool.call(pipeline.evaluate, "mlp-small-digits", config, latency=False)
    assert there.accuracy == here.accuracy and there.size_bytes == here.size_bytes
    assert [lr.nonzero for lr in there.layers] == [lr.nonzero for lr in here.layers]


def _history_path(progress=None) -> str:
    return str(history.default_path())


def test_a_scenario_a_worker_evaluated_is_in_the_history():
    # the workers keep the environment their fork server started with (a server's is fixed;
    # here the first test's COMPRESSION_LAB_CACHE): the row is in the history at their path
    pool = workers.Pool(1)
    try:
        config = CompressionConfig(sparsity=0.3, bits=5)
        report = pool.call(workers.evaluate, "mlp-small-digits", config)
        path = pool.call(_history_path)
    finally:
        pool.shutdown()
    stored = history.History(path).get("mlp-small-digits", config, latency=True)
    assert stored is not None and stored["accuracy"] == report.accuracy


def test_progress_is_reported_in_the_callers_thread(pool):
    seen = []
    result = pool.call(_slow, 4, progress=lambda f, m: seen.append((threading.get_ident(), f, m)))
    assert result == 4 and seen
    assert {t for t, _, _ in seen} == {threading.get_ident()}
    steps = [m for _, _, m in seen]  # in order; the result may overtake the last few (another channel)
    assert steps == sorted(steps) and set(steps) <= {f"step {i}" for i in range(4)}


def test_a_failure_is_raised_in_the_caller(pool):
    with pytest.raises(ValueError, match="bad setting"):
        pool.call(_fails)
    assert pool.call(_state)["threads"] == 1  # the pool still works


def test_the_callers_exception_stops_the_job_and_the_pool_goes_on(pool):
    class Stop(BaseException):  # Streamlit's StopException is a BaseException too
        pass

    def stop(fraction, message):
        raise Stop

    with pytest.raises(Stop):
        pool.call(_slow, 200, progress=stop)  # 10 s if it ran to the end
    assert pool.call(_slow, 2) == 2


def _reseed(seed: int, progress=None) -> None:
    torch.default_generator.manual_seed(seed)


def test_a_job_that_moves_torch_global_state_does_not_move_the_next_ones_numbers(pool):
    # fine-tuning draws batches and initialisations: the numbers in a worker whose global
    # generator another job re-seeded equal the ones computed here (compression.isolation)
    config = CompressionConfig(sparsity=0.5, bits=4, finetune_epochs=1)
    here = pipeline.evaluate("mlp-small-digits", config, latency=False)
    for seed in (1, 2):
        pool.call(_reseed, seed)
        pool.call(_reseed, seed)  # both workers, whichever takes which
        there = pool.call(pipeline.evaluate, "mlp-small-digits", config, latency=False)
        assert there.accuracy == here.accuracy
        assert [lr.mse for lr in there.layers] == [lr.mse for lr in here.layers]


def test_the_latency_memo_times_each_key_once():
    memo = workers.LatencyMemo(size=2)
    calls = []
    assert memo(("a",), lambda: calls.append(1) or (1.0,)) == (1.0,)
    assert memo(("a",), lambda: calls.append(1) or (2.0,)) == (1.0,)
    assert len(calls) == 1


def test_apart_runs_in_a_process_that_exits_and_the_picker_rows_match_the_library(pool):
    # the model picker's accuracies are scored apart, so the server never holds every data set
    import os

    from compression import data, measure, models
    assert pool.apart(os.getpid) != os.getpid()
    rows = pool.apart(workers.zoo_rows)
    ds = data.load("digits")
    assert rows["mlp-digits"]["accuracy"] == measure.accuracy(models.load("mlp-digits"), ds.x_test, ds.y_test)
    assert rows["vit-fashion"]["heads"] and not rows["mlp-digits"]["heads"]
    assert "fashion-mnist" not in workers.WARM_DATASETS  # 220 MB as float32: read at first use
