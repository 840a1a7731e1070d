"""Cached backend calls of the trade-offs studio (Trade-offs and Compare pages): sweep rows,
per-layer sensitivity, mixed precision, the history list, the published reference points."""
from __future__ import annotations

import csv
import logging
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

import streamlit as st

from compression import charts, history, sensitivity, sweep
from compression.config import CompressionConfig
from compression.source import ModelSource
from ui.state import _matching_preset, _widget_values, config_of

log = logging.getLogger("compression_lab.ui")

ROOT = Path(__file__).resolve().parent.parent
REFERENCES = ROOT / "assets" / "references" / "deep_compression.csv"


# One row per config: kept on plain values, so a sweep run again (or a page rerun in the
# middle of one) only computes the configs it has not seen. Each row is computed in a worker
# thread while the page waits on it in short steps: every step is a point where Streamlit can
# end the run, so one press of Stop ends the sweep at once, not after the config in flight (a
# fine-tuned config takes seconds; the press seemed lost and was pressed twice, issue 15). A
# config in flight is shared: a rerun that asks for it again waits on the same computation.
_ROWS: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
_IN_FLIGHT: dict[tuple, Future] = {}
_ROWS_LOCK = threading.Lock()
_ROWS_MAX = 4096
_WORKERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sweep")


def _compute_row(key: tuple) -> dict[str, Any]:
    model, items, fields, latency = key
    try:
        from ui.backend import offload  # a worker process when the server has them (ui.backend.pool)
        row = offload(sweep.evaluate_row, model, config_of(items), fields, latency)
        with _ROWS_LOCK:
            _ROWS[key] = row
            while len(_ROWS) > _ROWS_MAX:
                _ROWS.popitem(last=False)
        return row
    finally:
        with _ROWS_LOCK:
            _IN_FLIGHT.pop(key, None)  # a failure is never kept: the next ask computes again


def sweep_row_future(model: ModelSource, items: tuple, fields: tuple, latency: bool) -> Future:
    """The row of one sweep config: done at once when known, else computing (shared while in flight)."""
    key = (model, tuple(items), tuple(fields), bool(latency))
    with _ROWS_LOCK:
        if key in _ROWS:
            _ROWS.move_to_end(key)
            done: Future = Future()
            done.set_result(_ROWS[key])
            return done
        if key not in _IN_FLIGHT:
            _IN_FLIGHT[key] = _WORKERS.submit(_compute_row, key)
        return _IN_FLIGHT[key]


def wait_row(future: Future, tick: Callable[[], None], step_s: float = 0.25) -> dict[str, Any]:
    """The future's row; `tick` (an st call: a point where a Stop press ends the run) every step."""
    while True:
        try:
            return future.result(timeout=step_s)
        except FutureTimeout:
            tick()


def sensitivity_params(base: CompressionConfig) -> dict[str, Any]:
    """The history key of the default sensitivity curves (the CLI `sensitivity` uses the same)."""
    return {"config": history.config_key(sensitivity.reference_config(base)),
            "sparsity": list(sensitivity.SPARSITIES), "bits": list(sensitivity.BITS)}


@st.cache_data(show_spinner=False, max_entries=32)
def sensitivity_curves(model: ModelSource, items: tuple, _progress=None) -> dict[str, Any]:
    """Per-layer accuracy vs sparsity and vs bits; kept in history across restarts (keyed on the word)."""
    base = config_of(items)

    def compute() -> dict[str, Any]:
        return sensitivity.sensitivity(model, base, progress=_progress)
    return history.kept("sensitivity", str(model), sensitivity_params(base), compute)


def sensitivity_stored(model: ModelSource, base: CompressionConfig) -> bool:
    """Whether the curves are already in history (then the page draws them without asking)."""
    return history.is_kept("sensitivity", str(model), sensitivity_params(base))


@st.cache_data(show_spinner=False, max_entries=32)
def uniform_sizes(model: ModelSource, items: tuple) -> dict[int, float]:
    """Compressed bytes of the whole model at each uniform bit-width mixed precision picks from."""
    per_layer, other = sensitivity.layer_bytes(model, sensitivity.ALLOCATION_BITS, config_of(items))
    return {b: other + sum(sizes[b] for sizes in per_layer.values()) for b in sensitivity.ALLOCATION_BITS}


@st.cache_data(show_spinner=False, max_entries=64)
def mixed_vs_uniform(model: ModelSource, items: tuple, budget_bytes: float, sens: dict[str, Any]
                     ) -> dict[str, Any]:
    """The sensitivity-based allocation within the budget and the widest uniform bits that fit, both measured."""
    base = config_of(items)
    mixed = sensitivity.mixed_precision(model, budget_bytes, base, sens=sens)
    sizes = uniform_sizes(model, items)
    fits = [b for b, s in sizes.items() if s <= budget_bytes]
    uniform_bits = max(fits) if fits else min(sizes)
    uniform = sensitivity.reference_config(base).replace(bits=uniform_bits)
    out = {"layers": list(sens["layers"]), "mixed_bits": dict(mixed.layer_bits), "uniform_bits": uniform_bits}
    for name, config in (("mixed", mixed), ("uniform", uniform)):
        row = sweep.evaluate_row(model, config)
        out[name] = {**row, "config": config.to_dict()}
    return out


def why_no_accuracy(model: ModelSource) -> str | None:
    """Why this model has no accuracy ("n/a (no trained weights)"), None when it has; read from its
    source, so a page knows before evaluating anything."""
    from compression import source
    if model.kind == "arch":
        return source.NO_WEIGHTS
    return source.NO_DATA if model.kind == "upload" and model.data is None else None


def references(model: ModelSource) -> list[dict[str, Any]]:
    """Published points for this model (Deep Compression's table), or none."""
    if model.kind != "zoo" or model.name not in charts.PUBLISHED_MODELS or not REFERENCES.exists():
        return []
    with REFERENCES.open(newline="") as f:
        return charts.published_points(list(csv.DictReader(f)), model.name)


def history_list() -> list[dict[str, Any]]:
    """Every stored scenario under the current code, newest first (empty when history cannot be read)."""
    store = history.open_or_none()
    try:
        return [r for r in store.list() if r["current"]] if store else []
    except sqlite3.Error as e:
        log.warning("history unreadable: %s", e)
        return []


def saved_list() -> list[dict[str, Any]]:
    """The named saves (history.History.saved), newest first; empty when history cannot be read."""
    store = history.open_or_none()
    try:
        return store.saved() if store else []
    except (sqlite3.Error, TypeError, ValueError) as e:  # unreadable, or a config from older code
        log.warning("saved scenarios unreadable: %s", e)
        return []


def save_scenario(name: str, model: ModelSource, config: CompressionConfig) -> str:
    """Keep the scenario under a name; the sentence to show (saved, or why not)."""
    store = history.open_or_none()
    if store is None:
        return "Not saved: the history file cannot be written on this server."
    try:
        stored = store.save(name, str(model), config)  # the word, as the URL and the CLI write it
    except ValueError:
        return "Not saved: give the scenario a name first."
    except sqlite3.Error as e:
        log.warning("save failed: %s", e)
        return "Not saved: the history file cannot be written on this server."
    return f"Saved as “{stored}”: pick it in Compare."


def open_in_explore(model: ModelSource, config: dict[str, Any]) -> None:
    """Callback: set the shared sidebar to this scenario and ask the page to switch to Explore."""
    cfg = CompressionConfig(**config)
    ss = st.session_state
    values = _widget_values(cfg)
    values["sparsity"] = min(99, values["sparsity"])
    ss.update(values)
    ss["model"] = str(model)  # the picker's word
    ss["preset"] = _matching_preset(cfg)
    ss["_goto_explore"] = True


def goto_explore_if_asked() -> None:
    """Call at the top of a page after its buttons: switch to Explore when a callback asked."""
    if st.session_state.pop("_goto_explore", False):
        st.switch_page("pages/explore.py")


def rows_csv(rows: list[dict[str, Any]]) -> str:
    """The sweep rows as CSV text (every column any row has, in first-seen order)."""
    import io
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns]
    out = io.StringIO()
    writer = csv.DictWriter(out, columns)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()



def frontier_table(rows: list[dict[str, Any]], front: list[int], fields: tuple[str, ...]) -> list[dict[str, Any]]:
    """The frontier's rows as the table shows them, smallest first; exact ties on one line.

    Configs that tie exactly on every number (at 2 bits, 50, 75 and 90 % sparsity round to the
    same weights) are all on the frontier: one line, their settings joined ("50% / 75% / 90%").
    """
    from ui.fmt import pct
    lines: dict[tuple, dict[str, Any]] = {}
    for i in sorted(front, key=lambda i: rows[i]["size_bytes"]):
        r = rows[i]
        numbers = {"accuracy": pct(r["accuracy"]), "size": charts.fmt_bytes(r["size_bytes"]),
                   "ratio": f"{charts.fixed(r['compression_ratio'])}×", "energy": charts.fmt_energy(r["energy_pj"])}
        settings = {f: f"{r[f]:.0%}" if f == "sparsity" else str(r[f]) for f in fields}
        line = lines.setdefault(tuple(numbers.values()), {**{f: [] for f in fields}, **numbers})
        for f, v in settings.items():
            if v not in line[f]:
                line[f].append(v)
    return [{**line, **{f: " / ".join(line[f]) for f in fields}} for line in lines.values()]
