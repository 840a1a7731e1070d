"""History: SQLite in WAL mode, keyed by model + config + code version, surviving a process restart."""
import json
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
