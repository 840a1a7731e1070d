"""Every evaluated scenario, kept in one SQLite file that survives restarts; a repeat is served from it.

Keyed by model + config (canonical JSON) + code version. The code version is a hash of the
package's own sources and the model's checkpoint bytes, not the package version string: any
edit that can change a number (a quantizer fix, a retrained checkpoint) must miss the old
entries, and nobody bumps a version for each commit. Entries from older code stay listed
(marked `current: false`) but are never served.

Several processes write it (the server, the CLI's `evaluate`, a second server): SQLite's WAL mode
lets readers read while one writes, and a busy timeout makes a writer wait for another's short
transaction instead of failing (tests/test_history.py: 4 writer processes, no row lost). Sweep
workers return rows to their caller, which alone writes.

A file that is not a database any more (garbage written over it, a bad page, a folder at its
path) is moved aside, named `history.sqlite.corrupt-<time>`, and a new one started: the history
is a cache of numbers anyone can recompute, and a page or the CLI must keep working and saving.
The caller is told in one sentence (`on_recover`).
"""
from __future__ import annotations

import builtins
import functools
import hashlib
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

from compression import models, pipeline, source
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
    # every module, subpackages too: a change in compression/lm/ must not serve an old lm-grid
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def code_version(model_id: str) -> str:
    """A short hash of the package sources and the model's checkpoint (none for unshipped models)."""
    digest = hashlib.sha256(_sources_hash().encode())
    try:
        digest.update(models.checkpoint_path(model_id).read_bytes())
    except (OSError, models.ModelError):
        pass  # not trained yet, or not a zoo model: the sources alone
    return digest.hexdigest()[:16]


log = logging.getLogger(__name__)
T = TypeVar("T")
# A writer waits this long for another's transaction (each is one INSERT: milliseconds) before failing.
BUSY_TIMEOUT_S = 30.0


class HistoryError(sqlite3.Error):
    """The history file can neither be used nor moved aside (a read-only folder, say): one sentence."""


def _is_corrupt(e: sqlite3.Error) -> bool:
    # SQLITE_NOTADB: garbage where the header should be; SQLITE_CORRUPT(_*): a bad page. Not
    # SQLITE_BUSY / LOCKED / READONLY / FULL: those say nothing about the file's contents.
    name = getattr(e, "sqlite_errorname", "") or ""
    return (name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))
            or any(s in str(e) for s in ("file is not a database", "malformed")))


def _result_key(kind: str, model: str, params: dict[str, Any]) -> tuple[str, str, str, str]:
    return kind, model, json.dumps(params, sort_keys=True, separators=(",", ":")), code_version(model)


def kept(kind: str, model: str, params: dict[str, Any], compute: Callable[[], Any]) -> Any:
    """History.cached in this user's history; compute() alone when it cannot be opened."""
    store = open_or_none()
    return compute() if store is None else store.cached(kind, model, params, compute)


def is_kept(kind: str, model: str, params: dict[str, Any]) -> bool:
    """Whether History.stored has this result (False when the history cannot be read): a page
    then draws it without asking."""
    store = open_or_none()
    try:
        return store is not None and store.stored(kind, model, params) is not None
    except sqlite3.Error:
        return False


def open_or_none() -> History | None:
    """This user's History, or None when it cannot be opened (a read-only or full disk): the
    caller then computes without keeping, which only costs the reuse."""
    try:
        return History()
    except (OSError, sqlite3.Error) as e:
        log.warning("history unavailable: %s", e)
        return None


class History:
    """The scenario store: get / put / list over one SQLite file (WAL mode, busy timeout).

    A corrupt file or a folder at the path is moved aside and a new file started, on opening or
    on the first statement that meets a bad page; `on_recover` (default: a log warning) gets
    the sentence that says so.
    """

    def __init__(self, path: str | Path | None = None, on_recover: Callable[[str], None] | None = None) -> None:
        self.path = Path(path) if path else default_path()
        self.on_recover = on_recover or log.warning
        self.moved_to: Path | None = None  # where a corrupt file went, once this object moved one
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._safely(self._create)

    def _create(self) -> None:
        if self.path.is_dir():
            raise sqlite3.DatabaseError("a folder is in its place")
        # Switching a new file to WAL takes an exclusive lock that SQLite does not wait for (no busy
        # handler): several processes creating the file at once retry here for up to the busy timeout.
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                with self._connect() as db:
                    db.execute("PRAGMA journal_mode=WAL")
                    db.executescript(SCHEMA)
                return
            except sqlite3.OperationalError as e:
                if not any(s in str(e) for s in ("locked", "busy")) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # One short connection per call: safe across threads and processes, nothing held open.
        with closing(sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S)) as db, db:
            db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            # Bytes changed inside a row: not UTF-8 any more, then not JSON, and the row is skipped.
            db.text_factory = lambda b: b.decode("utf-8", "replace")
            yield db

    def _safely(self, run: Callable[[], T]) -> T:
        """run(), and once more on a new file if the old one turns out corrupt."""
        try:
            return run()
        except sqlite3.DatabaseError as e:
            if not (_is_corrupt(e) or self.path.is_dir()):
                raise
            if self._still_bad():  # not when another process has just put a new file in its place
                self._move_aside(e)
            else:
                self._create()
            return run()

    def _still_bad(self) -> bool:
        """Whether the file now at the path is corrupt (SQLite's own check of every page)."""
        if self.path.is_dir():
            return True
        if not self.path.exists():
            return False
        try:
            with closing(sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S)) as db:
                return db.execute("PRAGMA quick_check").fetchall() != [("ok",)]
        except sqlite3.DatabaseError as e:
            return _is_corrupt(e)

    def _move_aside(self, error: sqlite3.Error) -> None:
        target = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**6}")
        try:
            self.path.rename(target)
            for suffix in ("-wal", "-shm"):  # the log belongs to the bad file; the index is rebuilt
                side = self.path.with_name(self.path.name + suffix)
                if side.exists():
                    side.rename(target.with_name(target.name + suffix))
        except FileNotFoundError:
            pass  # another process moved it first and may have started the new file: use that
        except OSError as e:
            raise HistoryError(f"the history file {self.path} is unreadable ({error}) and cannot be moved aside "
                               f"({e.strerror or e}); remove it to keep saving scenarios") from None
        else:
            self.moved_to = target
            self.on_recover(f"the history file {self.path} was unreadable ({error}): moved it to {target.name} "
                            "and started a new one")
        self._create()

    def get(self, model: str, config: CompressionConfig, latency: bool = False) -> dict[str, Any] | None:
        """The stored report dict for this scenario under the current code, or None.

        `latency=True` only accepts an entry whose latency was measured.
        """
        def read() -> Any:
            with self._connect() as db:
                return db.execute("SELECT report, latency FROM scenarios WHERE model=? AND config=? AND code=?",
                                  (model, config_key(config), code_version(model))).fetchone()
        row = self._safely(read)
        if row is None or (latency and not row[1]):
            return None
        return _json_or_none(row[0])

    def put(self, report: Report | dict[str, Any]) -> None:
        """Store a report (replacing the same scenario's entry under the same code)."""
        d = report.to_dict() if isinstance(report, Report) else report
        measured = d["latency_ms"].get("compressed") is not None
        row = (d["model"], config_key(d["config"]), code_version(d["model"]), int(measured), time.time(), json.dumps(d))

        def write() -> None:
            with self._connect() as db:
                db.execute("INSERT OR REPLACE INTO scenarios VALUES (?, ?, ?, ?, ?, ?)", row)
        self._safely(write)

    def list(self) -> list[dict[str, Any]]:
        """Every stored scenario, newest first: its model, config, headline numbers and whether current."""
        def read() -> list[Any]:
            with self._connect() as db:
                return db.execute("SELECT model, config, code, created, report FROM scenarios "
                                  "ORDER BY created DESC").fetchall()
        out = []
        for model, config, code, created, text in self._safely(read):
            d, values = _json_or_none(text), _json_or_none(config)
            if d is None or values is None:
                continue  # a damaged row (bytes changed inside a page SQLite still reads): not a scenario
            out.append({"model": model, "config": CompressionConfig(**values).changed(),
                        "created": created, "code": code, "current": code == code_version(model),
                        "accuracy": d["accuracy"], "size_bytes": d["size_bytes"]["compressed"],
                        "energy_pj": d["energy_pj"]["total"], "latency_ms": d["latency_ms"]["compressed"]})
        return out

    def stored(self, kind: str, model: str, params: dict[str, Any]) -> Any | None:
        """The stored JSON result (e.g. kind "sensitivity") for these params under the current
        code, or None."""
        return self._result_at(_result_key(kind, model, params))

    def _result_at(self, key: tuple[str, str, str, str]) -> Any | None:
        def read() -> Any:
            with self._connect() as db:
                return db.execute("SELECT result FROM results WHERE kind=? AND model=? AND params=? AND code=?",
                                  key).fetchone()
        row = self._safely(read)
        return None if row is None else _json_or_none(row[0])

    def cached(self, kind: str, model: str, params: dict[str, Any], compute: Callable[[], Any]) -> Any:
        """stored(kind, model, params), else compute() stored and returned."""
        key = _result_key(kind, model, params)  # the code version the result is computed under
        stored = self._result_at(key)
        if stored is not None:
            return stored
        result = compute()

        def write() -> None:
            with self._connect() as db:
                db.execute("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?)",
                           (*key, time.time(), json.dumps(result)))
        self._safely(write)
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

    def saved(self) -> builtins.list[dict[str, Any]]:  # `list` is a method here
        """The named saves, newest first: name, model, config (CompressionConfig), created."""
        with self._connect() as db:
            rows = db.execute("SELECT name, model, config, created FROM saved ORDER BY created DESC").fetchall()
        return [{"name": name, "model": model, "config": CompressionConfig(**json.loads(config)), "created": created}
                for name, model, config, created in rows]


def _json_or_none(text: Any) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


def evaluate(model_id: str | source.ModelSource, config: CompressionConfig, history: History | None = None, *,
             latency: bool = True, **kwargs: Any) -> Report:
    """pipeline.evaluate, served from history when this scenario was evaluated before, else stored.

    The history keys on the model's word (`str(source)`), as the URL and the CLI write it."""
    history = history or History()
    stored = history.get(str(model_id), config, latency=latency)
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
