"""A server killed (SIGKILL) while a sweep writes its history leaves every committed row readable.

SQLite in WAL mode commits each put() atomically; the reference is SQLite's own
`PRAGMA integrity_check` and the rows counted before the kill.
"""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from compression import history

WRITER = r"""
import sys
from compression import history, pipeline
from compression.config import CompressionConfig
store = history.History(sys.argv[1])
d = pipeline.evaluate("mlp-digits", CompressionConfig(bits=8), latency=False).to_dict()
i = 0
while True:  # a sweep writing one row per finished config, until killed
    d["config"] = CompressionConfig(sparsity=(i % 99) / 100, seed=i).to_dict()
    store.put(d)
    i += 1
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_during_history_writes_leaves_it_intact(tmp_path: Path):
    path = tmp_path / "history.sqlite"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    p = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], env=env)
    try:
        deadline = time.monotonic() + 180
        seen = 0
        while seen < 50 and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # polling for rows, not a timing assumption
            if path.exists():
                try:
                    with sqlite3.connect(path, timeout=10) as db:
                        seen = db.execute("SELECT COUNT(*) FROM scenarios").fetchone()[0]
                except sqlite3.OperationalError:  # the table is not created yet
                    pass
        assert p.poll() is None and seen >= 50, "the writer did not get going"
        p.send_signal(signal.SIGKILL)
        p.wait(30)
    finally:
        if p.poll() is None:
            p.kill()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = history.History(path).list()
    assert len(rows) >= seen
    assert all(r["accuracy"] is not None for r in rows)
