"""Every evaluated scenario, kept in one SQLite file that survives restarts; a repeat is served from it.

Keyed by model + config (canonical JSON) + code version. The code version is a hash of the
package's own sources and the model's checkpoint bytes, not the package version string: any
edit that can change a number (a quantizer fix, a retrained checkpoint) must miss the old
entries, and nobody bumps a version for each commit. Entries from older code stay listed
(marked `current: false`) but are never served.

Only one process should write (the server; sweep workers return rows to it): SQLite's WAL mode
lets readers (the CLI's `history`) read while it writes.
"""
from __future__ import annotations

import functools
import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any

from compression import models, pipeline
from compression.config import CompressionConfig
from compression.pipeline import LayerReport, Report

PACKAGE = Path(__file__).resolve().parent
SCHEMA = """CREATE TABLE IF NOT EXISTS scenarios (
    model TEXT NOT NULL, config TEXT NOT NULL, code TEXT NOT NULL,
    latency INTEGER NOT NULL, created REAL NOT NULL, report TEXT NOT NULL,
    PRIMARY KEY (model, config, code));
CREATE TABLE IF NOT EXISTS results (
    kind TEXT NOT NULL, model TEXT NOT NULL, params TEXT NOT NULL, code TEXT NOT NULL,
    created REAL NOT NULL, result TEXT NOT NULL,
    PRIMARY KEY (kind, model, params, code));
CREATE TABLE IF NOT EXISTS saved (
    name TEXT NOT NULL PRIMARY KEY, model TEXT NOT NULL, config TEXT NOT NULL, created REAL NOT NULL)"""
SAVE_NAME_MAX = 60  # a name the Compare list shows whole


def default_path() -> Path:
    """history.sqlite in the user data folder ($COMPRESSION_LAB_CACHE or ~/.cache/compression-lab)."""
    return models.cache_dir().parent / "history.sqlite"


def config_key(config: CompressionConfig | dict[str, Any]) -> str:
    """Canonical JSON of a config: equal configs give equal text (sorted keys, tuples as lists)."""
    values = config.to_dict() if isinstance(config, CompressionConfig) else CompressionConfig(**config).to_dict()
    return json.dumps(values, sort_keys=True, separators=(",", ":"))


@functools.cache
def _sources_hash() -> str:
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def code_version(model_id: str) -> str:
    """A short hash of the package sources and the model's checkpoint (none for unshipped models)."""
    digest = hashlib.sha256(_sources_hash().encode())
    try:
        digest.update(models.checkpoint_path(model_id).read_bytes())
    except (OSError, models.ModelError):
        pass  # not trained yet, or not a zoo model: the sources alone
    return digest.hexdigest()[:16]


class History:
    """The scenario store: get / put / list over one SQLite file (WAL mode)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # One short connection per call: safe across threads and processes, nothing held open.
        with closing(sqlite3.connect(self.path, timeout=10)) as db, db:
            yield db

    def get(self, model: str, config: CompressionConfig, latency: bool = False) -> dict[str, Any] | None:
        """The stored report dict for this scenario under the current code, or None.

        `latency=True` only accepts an entry whose latency was measured.
        """
        with self._connect() as db:
            row = db.execute("SELECT report, latency FROM scenarios WHERE model=? AND config=? AND code=?",
                             (model, config_key(config), code_version(model))).fetchone()
        if row is None or (latency and not row[1]):
            return None
        return json.loads(row[0])

    def put(self, report: Report | dict[str, Any]) -> None:
        """Store a report (replacing the same scenario's entry under the same code)."""
        d = report.to_dict() if isinstance(report, Report) else report
        measured = d["latency_ms"].get("compressed") is not None
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO scenarios VALUES (?, ?, ?, ?, ?, ?)",
                       (d["model"], config_key(d["config"]), code_version(d["model"]), int(measured),
                        time.time(), json.dumps(d)))

    def list(self) -> list[dict[str, Any]]:
        """Every stored scenario, newest first: its model, config, headline numbers and whether current."""
        with self._connect() as db:
            rows = db.execute("SELECT model, config, code, created, report FROM scenarios "
                              "ORDER BY created DESC").fetchall()
        out = []
        for model, config, code, created, text in rows:
            d = json.loads(text)
            out.append({"model": model, "config": CompressionConfig(**json.loads(config)).changed(),
                        "created": created, "code": code, "current": code == code_version(model),
                        "accuracy": d["accuracy"], "size_bytes": d["size_bytes"]["compressed"],
                        "energy_pj": d["energy_pj"]["total"], "latency_ms": d["latency_ms"]["compressed"]})
        return out

    def cached(self, kind: str, model: str, params: dict[str, Any], compute: Callable[[], Any]) -> Any:
        """A stored JSON result (e.g. kind "sensitivity") for these params under the current code,
        else compute() stored and returned."""
        key = (kind, model, json.dumps(params, sort_keys=True, separators=(",", ":")), code_version(model))
        with self._connect() as db:
            row = db.execute("SELECT result FROM results WHERE kind=? AND model=? AND params=? AND code=?",
                             key).fetchone()
        if row is not None:
            return json.loads(row[0])
        result = compute()
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?)",
                       (*key[:3], key[3], time.time(), json.dumps(result)))
        return result


    # Named saves: what a user chose to keep (Compare lists these), apart from every scenario
    # evaluated (the cache above). A name is the key: saving under it again replaces it.
    def save(self, name: str, model: str, config: CompressionConfig) -> str:
        """Keep this scenario under `name` (trimmed, one line); the name as stored. ValueError if empty."""
        name = " ".join(str(name).split())[:SAVE_NAME_MAX]
        if not name:
            raise ValueError("a saved scenario needs a name")
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO saved VALUES (?, ?, ?, ?)",
                       (name, model, config_key(config), time.time()))
        return name

    def saved(self) -> list[dict[str, Any]]:
        """The named saves, newest first: name, model, config (CompressionConfig), created."""
        with self._connect() as db:
            rows = db.execute("SELECT name, model, config, created FROM saved ORDER BY created DESC").fetchall()
        return [{"name": name, "model": model, "config": CompressionConfig(**json.loads(config)), "created": created}
                for name, model, config, created in rows]


def evaluate(model_id: str, config: CompressionConfig, history: History | None = None, *,
             latency: bool = True, **kwargs: Any) -> Report:
    """pipeline.evaluate, served from history when this scenario was evaluated before, else stored."""
    history = history or History()
    stored = history.get(model_id, config, latency=latency)
    if stored is not None:
        return report_from_dict(stored)
    report = pipeline.evaluate(model_id, config, latency=latency, **kwargs)
    history.put(report)
    return report


def report_from_dict(d: dict[str, Any]) -> Report:
    """A Report back from its to_dict() JSON (a null SQNR, stored for 'no error', is infinite again)."""
    names = {f.name for f in fields(Report)}
    layers = [LayerReport(**{**layer, "sqnr_db": float("inf") if layer["sqnr_db"] is None else layer["sqnr_db"]})
              for layer in d["layers"]]
    return Report(**{**{k: v for k, v in d.items() if k in names}, "layers": layers})
