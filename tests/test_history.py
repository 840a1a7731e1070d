"""History: SQLite in WAL mode, keyed by model + config + code version, surviving a process restart."""
import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys

import pytest

from compression import history, pipeline
from compression.config import CompressionConfig

CONFIG = CompressionConfig(sparsity=0.5, bits=4)


@pytest.fixture(scope="module")
def report():
    return pipeline.evaluate("mlp-digits", CONFIG, latency=False)


def test_put_then_get_returns_the_same_report(tmp_path, report):
    h = history.History(tmp_path / "h.sqlite")
    assert h.get("mlp-digits", CONFIG) is None
    h.put(report)
    assert h.get("mlp-digits", CONFIG) == report.to_dict()
    assert h.get("mlp-digits", CONFIG.replace(bits=8)) is None
    assert h.get("cnn-digits", CONFIG) is None
    # Stored without latency: a caller that needs latency is not served the entry.
    assert h.get("mlp-digits", CONFIG, latency=True) is None


def test_file_is_in_wal_mode(tmp_path):
    history.History(tmp_path / "h.sqlite")
    with sqlite3.connect(tmp_path / "h.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_default_path_follows_the_cache_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPRESSION_LAB_CACHE", str(tmp_path))
    assert history.default_path() == tmp_path / "history.sqlite"


def test_config_key_is_canonical():
    a = CompressionConfig(layer_bits={"fc2": 4, "fc1": 8})
    assert history.config_key(a) == history.config_key(CompressionConfig(layer_bits="fc1=8,fc2=4"))
    assert history.config_key(a) == history.config_key(json.loads(json.dumps(a.to_dict())))
    assert history.config_key(a) != history.config_key(CompressionConfig())


def test_a_repeated_scenario_is_served_without_evaluating(tmp_path, monkeypatch, report):
    h = history.History(tmp_path / "h.sqlite")
    calls = []
    real = pipeline.evaluate
    monkeypatch.setattr(pipeline, "evaluate", lambda *a, **k: calls.append(a) or real(*a, **k))
    first = history.evaluate("mlp-digits", CONFIG, h, latency=False)
    second = history.evaluate("mlp-digits", CONFIG, h, latency=False)
    assert len(calls) == 1
    assert second.to_dict() == first.to_dict() == report.to_dict()


def test_new_code_misses_old_entries_but_lists_them(tmp_path, monkeypatch, report):
    h = history.History(tmp_path / "h.sqlite")
    h.put(report)
    monkeypatch.setattr(history, "code_version", lambda model: "another-version")
    assert h.get("mlp-digits", CONFIG) is None
    assert [e["current"] for e in h.list()] == [False]


def test_report_round_trips_through_its_dict(report):
    back = history.report_from_dict(json.loads(report.to_json()))
    assert back.to_dict() == report.to_dict()
    assert back.layers[0].name == report.layers[0].name


def test_survives_a_process_restart(tmp_path, monkeypatch):
    # Written by this process, listed by a fresh one (the CLI): the file is all that carries over.
    monkeypatch.setenv("COMPRESSION_LAB_CACHE", str(tmp_path))
    expected = pipeline.evaluate("mlp-digits", CompressionConfig(bits=8), latency=False)
    history.History().put(expected)
    out = subprocess.run([sys.executable, "-m", "compression", "history", "--json"],
                         env={**os.environ, "COMPRESSION_LAB_CACHE": str(tmp_path)},
                         capture_output=True, text=True, check=True, timeout=60).stdout
    entries = json.loads(out)
    assert [(e["model"], e["config"], e["current"]) for e in entries] == [("mlp-digits", {"bits": 8}, True)]
    assert entries[0]["accuracy"] == expected.accuracy


def test_cached_results_are_computed_once(tmp_path):
    h = history.History(tmp_path / "h.sqlite")
    calls = []
    compute = lambda: calls.append(1) or {"curve": [0.5, 0.25]}
    assert h.cached("sensitivity", "mlp-digits", {"bits": [2, 4]}, compute) == {"curve": [0.5, 0.25]}
    assert history.History(tmp_path / "h.sqlite").cached("sensitivity", "mlp-digits", {"bits": [2, 4]},
                                                          compute) == {"curve": [0.5, 0.25]}
    assert len(calls) == 1
    h.cached("sensitivity", "mlp-digits", {"bits": [2, 8]}, compute)
    assert len(calls) == 2


# --------------------------------------------------------------- several writers, the CLI's runs

_ROW = {"model": "mlp-digits", "latency_ms": {"compressed": None}, "accuracy": 0.5,
        "size_bytes": {"compressed": 1}, "energy_pj": {"total": 1.0}, "layers": [], "pad": "x" * 4000}


def _writer(path: str, writer: int, n: int, start) -> None:
    start.wait()  # all four begin together
    for i in range(n):
        # A fresh History per row, as the server makes one per evaluate: creation races too.
        history.History(path).put({**_ROW, "config": {"bits": 2 + writer, "sparsity": i / 1000}})


def test_four_writer_processes_lose_no_row(tmp_path):
    # Four processes (forked: no second torch import) on a file that does not exist yet: all
    # create it, switch it to WAL and insert at once; the busy timeout makes each wait its turn.
    path, n = tmp_path / "h.sqlite", 25
    ctx = multiprocessing.get_context("fork")
    start = ctx.Barrier(4)
    procs = [ctx.Process(target=_writer, args=(str(path), w, n, start)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0] * 4
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM scenarios").fetchone()[0] == 4 * n
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert sorted({e["config"]["bits"] for e in history.History(path).list()}) == [2, 3, 4, 5]


def test_connections_wait_for_a_busy_writer():
    with history.History()._connect() as db:
        assert db.execute("PRAGMA busy_timeout").fetchone()[0] == history.BUSY_TIMEOUT_S * 1000 >= 10_000


def test_cli_evaluate_saves_to_the_history_that_history_json_lists(capsys):
    from compression.__main__ import main
    assert main(["evaluate", "--model", "mlp-small-digits", "--bits", "6", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert main(["history", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [(e["model"], e["config"], e["current"]) for e in entries] == [("mlp-small-digits", {"bits": 6}, True)]
    assert entries[0]["accuracy"] == printed["accuracy"]
    assert entries[0]["size_bytes"] == printed["size_bytes"]["compressed"]


# --------------------------------------------------------------- a corrupt file

def _garbage(path):
    path.write_bytes(bytes(range(256)) * 64)


def _bad_page(path, report_dict):
    h = history.History(path)
    for i in range(20):
        h.put({**report_dict, "config": {**report_dict["config"], "sparsity": i / 100}})
    blob = bytearray(path.read_bytes())
    page = 4096
    blob[page:4 * page] = b"\xff" * (3 * page)  # pages 2-4: the table's root and its first leaves
    path.write_bytes(bytes(blob))


def _folder(path):
    path.mkdir()
    (path / "something").write_text("not a database")


CORRUPTIONS = {"garbage": lambda p, d: _garbage(p), "bad page": _bad_page, "folder": lambda p, d: _folder(p)}


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_a_corrupt_file_is_moved_aside_and_a_new_one_keeps_saving(kind, cache, report):
    path = history.default_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    CORRUPTIONS[kind](path, report.to_dict())
    told = []
    h = history.History(on_recover=told.append)
    assert h.list() == []
    h.put(report)
    assert h.get("mlp-digits", CONFIG) == report.to_dict()
    assert len(told) == 1 and "moved it to history.sqlite.corrupt-" in told[0], told
    aside = [p for p in path.parent.iterdir() if p.name.startswith("history.sqlite.corrupt-")]
    assert aside == [h.moved_to]  # kept for whoever wants to look at it, out of the way


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_cli_history_and_sensitivity_on_a_corrupt_file_say_one_sentence(kind, cache, report, capsys):
    from compression.__main__ import main  # in this process: a traceback would fail the test as well
    path = history.default_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    CORRUPTIONS[kind](path, report.to_dict())
    assert main(["history"]) == 0
    out, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1 and "unreadable" in err and "started a new one" in err, err
    assert "no saved scenarios yet" in out
    # The file is good again; spoil it once more for `sensitivity`, which reads and then writes it.
    for side in path.parent.glob("history.sqlite*"):
        if ".corrupt-" not in side.name:
            side.unlink()
    CORRUPTIONS[kind](path, report.to_dict())
    assert main(["sensitivity", "--model", "mlp-small-digits", "--sparsity", "0.5", "--bits", "", "--json"]) == 0
    out, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1 and "started a new one" in err, err
    assert json.loads(out)["sparsity"]["values"] == [0.5]
    with sqlite3.connect(path) as db:  # the curves were saved in the new file
        assert db.execute("SELECT kind, model FROM results").fetchall() == [("sensitivity", "mlp-small-digits")]
    assert len([p for p in path.parent.iterdir() if ".corrupt-" in p.name and not p.name.endswith(("-wal", "-shm"))]) == 2
