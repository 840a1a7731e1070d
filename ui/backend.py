"""Cached backend calls: evaluate, curves, distillation; errors as one sentence; progress bars."""
from __future__ import annotations

import contextvars
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import streamlit as st
import torch

from compression import data, distill, heap, loading, measure, models, pipeline, qat, reproduce, workers
from compression.config import CompressionConfig, ConfigError
from compression.source import ModelSource
from ui.fmt import literal, pct, short, without_paths
from ui.plots import ONE_SHOT
from ui.state import UPLOAD_PLACEHOLDER, Scenario, config_items, config_of

log = logging.getLogger("compression_lab.ui")

# Keys (plain tuples) of heavy results computed in this process. Used only to decide
# whether to show a progress bar (a hit returns at once); a wrong guess costs nothing
# but a missing bar.
# Kept in least-recently-used order per kind (key[0]) and cut to the size of that kind's
# cache, so that a result the cache has evicted is not reported as done (a trained student
# evicted from the cache then gets its button and progress bar again, not a silent retrain).
_DONE: OrderedDict[tuple, None] = OrderedDict()
_DONE_LOCK = threading.Lock()
CACHE_SIZES = {"evaluate": 256, "points": 256, "distill": 16, "sweep": 32, "compress_student": 64,
               "deep_compression": 4, "teaching": 16}


def _done(key: tuple) -> None:
    with _DONE_LOCK:
        _DONE[key] = None
        _DONE.move_to_end(key)
        same = [k for k in _DONE if k[0] == key[0]]
        for old in same[:max(0, len(same) - CACHE_SIZES.get(key[0], 256))]:
            del _DONE[old]


def is_done(key: tuple) -> bool:
    with _DONE_LOCK:
        if key not in _DONE:
            return False
        _DONE.move_to_end(key)  # the cache counts this use too
        return True


@st.cache_data(show_spinner=False)
def model_info() -> dict[str, dict[str, Any]]:
    """Per zoo id: dataset, parameter count, baseline test accuracy, and whether it runs here.

    Cached for the process: building the small nets and one forward pass over the digits
    test split take milliseconds, but every run draws the picker. Models whose data set is
    not on disk are not downloaded or trained here (that would stall the first page): they
    are "unavailable", with a short reason for the picker.
    """
    # scored in a process of its own: loading every data set here (Fashion-MNIST is 220 MB as
    # float32) would keep them in the server for good, for one number per model
    p = pool()
    return workers.zoo_rows() if p is None else p.apart(workers.zoo_rows)


def has_heads(mid: str) -> bool | None:
    """Whether a zoo model has attention heads to remove (None: an upload, not known before it runs)."""
    return model_info()[mid]["heads"] if mid in models.ZOO else None


def unavailable(mid: str) -> str | None:
    """Why this model cannot run on this server (a short phrase), or None when it can."""
    if mid not in models.ZOO:
        from ui import upload  # ui.upload imports this module
        return upload.unavailable(mid)
    row = model_info().get(mid)
    return None if row is None or row["ready"] else row["reason"]


def model_label(mid: str) -> str:
    """'mlp-digits · 97.5 %': the id and its baseline accuracy (the caption gives the rest)."""
    row = model_info().get(mid)
    if row is None:
        from ui import upload
        return upload.label(mid)
    if models.ZOO[mid].language:  # measured by perplexity on the Language page, taught on Distill
        return f"{mid} · language model"
    if not row["ready"]:
        return f"{mid} · unavailable here"
    acc = pct(row["accuracy"]) if row["accuracy"] is not None else "trained on first use"
    return f"{mid} · {acc}"


def model_caption(mid: str) -> str:
    if mid not in models.ZOO:
        from ui import upload
        return upload.caption(mid)
    row = model_info().get(mid, {})
    text = f"{row.get('description', '')} · {row.get('params', 0):,} params · data: {row.get('dataset', '?')}"
    if row.get("reason"):
        return f"{text} · unavailable: {row['reason']}"
    return text + ("" if row.get("accuracy") is not None else " · baseline accuracy measured on first use")


def stop_if_unavailable(model: str | ModelSource | None, role: str = "This model") -> None:
    """A model that cannot run here: one short note, and the page stops (the sidebar stays).

    `model` is a zoo id, or the scenario's ModelSource (None: nothing uploaded yet)."""
    mid = UPLOAD_PLACEHOLDER if model is None else str(model)
    reason = unavailable(mid)
    if mid == UPLOAD_PLACEHOLDER:  # nothing chosen yet, not a failure
        st.info("Upload a model file in the sidebar (and, for accuracy, a test set: .npz or image-folder .zip), then press "
                "Use this model.", icon=":material/upload:")
        st.stop()
    if reason:
        st.info(literal(f"{role} ({short(mid, 48)}) cannot run on this server: {reason}. Pick another model."),
                icon=":material/block:")
        st.stop()


def error_sentence(e: BaseException) -> str:
    """One sentence for the page: no traceback, no server paths, nothing that renders as Markdown."""
    if isinstance(e, ConfigError):
        text = f"This setting is not allowed: {e}."
    elif isinstance(e, (data.DataUnavailable, models.ModelError, loading.FileRejected)):
        text = str(e)
    else:
        text = (f"Something went wrong while computing this view ({type(e).__name__}: "
                f"{str(e).splitlines()[0] if str(e) else 'no details'}); try another setting.")
    return literal(without_paths(text), limit=400)


def guard(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[bool, Any]:
    """Call fn; on any error show one clear sentence (no traceback on the page) and log it."""
    try:
        return True, fn(*args, **kwargs)
    except (ConfigError, data.DataUnavailable, models.ModelError, loading.FileRejected) as e:  # expected: no trace
        log.warning("%s: %s", type(e).__name__, e)
        st.error(error_sentence(e), icon=":material/error:")
    except Exception as e:  # a bug: one sentence on the page, the traceback in the server log
        log.exception("backend call failed")
        st.error(error_sentence(e), icon=":material/error:")
    return False, None


def section(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
    """Draw one section of a page: a failure in it shows one sentence and the rest of the page still draws.

    No exception reaches the page (issue 15: one missing key once replaced half of Explore with a
    traceback). Streamlit's own st.stop / st.rerun are BaseExceptions and pass through.
    """
    return guard(fn, *args, **kwargs)[0]


def with_progress(fn: Callable[..., Any], *args: Any, label: str, show: bool) -> Any:
    """Run a cached heavy function (taking `_progress`) with a progress bar while it works.

    The callback writes to the bar through a copy of the caller's context, made outside
    the cached function, so Streamlit does not record the bar's updates as part of the
    cached result (it would replay them, on an element it does not own, on every hit).
    """
    if not show:
        return fn(*args, _progress=None)
    slot = st.empty()
    bar = slot.progress(0.0, text=label)
    outside = contextvars.copy_context()

    def update(fraction: float, message: str) -> None:
        outside.run(bar.progress, min(1.0, max(0.0, float(fraction))), text=f"{label} — {message}")

    try:
        return fn(*args, _progress=update)
    finally:
        slot.empty()


# --------------------------------------------------------------------------- cached backend

# Cached because the same scenario comes back all the time (a slider moved back and forth,
# page switches, several users on one link) and evaluate() compresses, measures accuracy,
# sizes, energy and latency each time. Keyed on plain values (model id and the config as a
# tuple of pairs); returns the Report, a dataclass of plain values and small lists.
#
# Below the session cache, history (compression.history, SQLite in the user data folder) keeps
# every evaluated scenario across restarts and serves a repeat at once; only this server
# process writes it. A history that cannot be opened (read-only disk) only costs the reuse.
LatencyMemo = workers.LatencyMemo  # the store's class (a worker keeps its own)
LATENCY = LatencyMemo()  # latencies measured in this process (backend calls run here, not in a worker)


# --------------------------------------------------------------------------- the worker processes

def _workers_wanted() -> int:
    """COMPRESSION_LAB_WORKERS worker processes (default 2: a 2-core classroom server); 0 runs
    every backend call in the session's own thread."""
    try:
        return max(0, int(os.environ.get("COMPRESSION_LAB_WORKERS", "2")))
    except ValueError:
        return 2


_POOL: dict[str, workers.Pool] = {}
_POOL_LOCK = threading.Lock()


def pool() -> workers.Pool | None:
    """The server's worker processes (compression.workers: the heavy backend calls on the other
    core), started on first use; None under AppTest or the CLI (no Streamlit server) or with
    COMPRESSION_LAB_WORKERS=0: the call runs in the session's thread."""
    from streamlit.runtime import Runtime
    n = _workers_wanted()
    # AppTest installs a mock Runtime (its isinstance passes): page tests run the calls in-thread,
    # where they can patch the backend
    if n == 0 or not Runtime.exists() or type(Runtime.instance()) is not Runtime:
        return None
    with _POOL_LOCK:
        if "pool" not in _POOL:
            warm = tuple(m for m, spec in models.ZOO.items() if spec.shipped)
            _POOL["pool"] = workers.Pool(n, warm=warm)
            _POOL["pool"].start()
        return _POOL["pool"]


def start_workers() -> None:
    """Start the worker processes in the background (first run of the server), so the first
    session's numbers do not wait for them to import torch."""
    if _workers_wanted() and "pool" not in _POOL and not _POOL_LOCK.locked():
        threading.Thread(target=pool, name="start-workers", daemon=True).start()


def offload(fn: Callable[..., Any], *args: Any, progress: Callable[[float, str], None] | None = None,
            **kwargs: Any) -> Any:
    """fn(*args, **kwargs) (and progress=…, when given) in a worker process, else in this thread.

    fn takes and returns plain, picklable values (a Report, rows, lists). The caller's thread
    waits and draws the progress itself; its exception (Stop) cancels the job; the job's
    exception is raised here, so st.cache_data above keeps nothing."""
    p = pool()
    if p is None:
        heap.return_large_blocks()  # this process evaluates: its freed activations go back as a worker's do
        return fn(*args, **kwargs, **({"progress": progress} if progress is not None else {}))
    return p.call(fn, *args, progress=progress, **kwargs)


@st.cache_data(show_spinner=False, max_entries=256)
def evaluate(model: ModelSource, config_items: tuple, _progress=None) -> pipeline.Report:
    config = config_of(config_items)
    if pool() is None:
        report = workers.evaluate(model, config, progress=_progress, latency_memo=LATENCY)
    else:  # the worker times latencies in its own store: one per key and worker
        report = offload(workers.evaluate, model, config, progress=_progress)
    _done(("evaluate", model, config_items))
    return report


def needs_training(model: ModelSource, config: CompressionConfig) -> bool:
    """Whether evaluating this scenario trains (fine-tuning, or a zoo model trained on first use)."""
    trains_model = model.kind == "zoo" and not models.checkpoint_path(model.name).exists()
    return trains_model or config.trains


def evaluate_report(sc: Scenario) -> pipeline.Report | None:
    """The scenario's Report, with a progress bar when it trains; None (error shown) on failure."""
    items = sc.config_items()
    model = sc.model
    assert model is not None  # the page stopped first (stop_if_unavailable) when nothing is uploaded
    heavy = model.kind != "zoo"  # a real architecture: seconds to measure, say so
    show = (heavy or needs_training(model, sc.config)) and not is_done(("evaluate", model, items))
    ok, report = guard(with_progress, evaluate, model, items,
                       label=f"{'Measuring' if heavy else 'Fine-tuning'} {short(str(model), 40)}", show=show)
    return report if ok else None


# Cached per curve: the sparsity curve depends on every field but sparsity (its key has
# sparsity reset), the bits curve on every field but bits, so moving one slider recomputes
# only the other curve.
@st.cache_data(show_spinner=False, max_entries=256)
def accuracy_points(model: ModelSource, config_items: tuple, field: str, values: tuple,
                    _progress=None) -> list[dict[str, Any]]:
    points = offload(workers.accuracy_points, model, config_of(config_items), field, values, progress=_progress)
    _done(("points", model, config_items, field, values))
    return points


def curve_points(sc: Scenario, report: pipeline.Report, field: str, values: tuple,
                 finetune: bool) -> tuple[list[dict[str, Any]], str | None]:
    """Points of accuracy vs `field`, other fields held; the current point from the report.

    With fine-tuning configured and `finetune` False, the curve is one-shot (no fine-tuning,
    one step): seconds per point otherwise. The note says so.
    """
    config = sc.config
    note = None
    # Does any point of this curve fine-tune? Every point does when the config has epochs.
    trains = config.trains
    one_shot = trains and not finetune
    if one_shot:
        config = config.replace(finetune_epochs=0, prune_steps=1)
        note = ONE_SHOT
    base = config.replace(**{field: getattr(CompressionConfig(), field)})
    items = config_items(base)
    show = trains and not one_shot and not is_done(("points", sc.model, items, field, values))
    points = with_progress(accuracy_points, sc.model, items, field, values,
                           label=f"Accuracy vs {field}", show=show)
    current = getattr(config, field)
    if current not in values:
        if one_shot:
            extra = accuracy_points(sc.model, items, field, (current,))
        else:
            extra = [{field: current, "accuracy": report.accuracy,
                      "lo": report.accuracy_ci95[0], "hi": report.accuracy_ci95[1]}]
        points = sorted([*points, *extra], key=lambda p: p[field])
    return points, note


# --------------------------------------------------------------------------- distillation

@st.cache_data(show_spinner=False, max_entries=64)
def teacher_soft_targets(teacher_id: str, index: int, temperature: float) -> dict[str, Any]:
    """The teacher's soft targets for one test image at T and at T=1 (plain lists)."""
    ds = data.load(models.spec(teacher_id).dataset)
    with torch.no_grad():
        logits = models.load(teacher_id)(ds.x_test[index:index + 1])[0]
    p_t = distill.soft_targets(logits, temperature)
    p_1 = distill.soft_targets(logits, 1.0)
    return {"probs_t": p_t.tolist(), "probs_1": p_1.tolist(),
            "entropy_t": float(distill.entropy_bits(p_t)), "entropy_1": float(distill.entropy_bits(p_1)),
            "label": int(ds.y_test[index]), "classes": list(ds.classes)}


# The trained students are models: st.cache_resource (shared, never copied, never modified:
# evaluate_model compresses a copy). Keyed on plain values only.
@st.cache_resource(show_spinner=False, max_entries=CACHE_SIZES["distill"])
def distilled_students(teacher_id: str, student_id: str, temperature: float, alpha: float,
                       epochs: int, seed: int, fraction: float = 1.0, leave_out: int | None = None,
                       _progress=None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Both students of one setting, and a plain summary with the paired difference on the same images."""
    ds = data.load(models.spec(teacher_id).dataset)
    result = distill.distill(models.load(teacher_id), models.build(student_id, seed=seed), ds,
                             temperature, alpha, epochs, seed=seed, fraction=fraction,
                             leave_out=leave_out, progress=_progress)
    summary = result.to_dict()
    # Both students answer the same test images: the paired interval (Newcombe 1998) is the
    # one that can tell them apart, far narrower than two overlapping Wilson intervals.
    with torch.no_grad():
        right_soft = (measure.predictions(result.student, ds.x_test) == ds.y_test).tolist()
        right_hard = (measure.predictions(result.baseline, ds.x_test) == ds.y_test).tolist()
    summary["paired"] = _paired(right_soft, right_hard)
    if leave_out is not None:
        sel = (ds.y_test == leave_out).tolist()
        summary["paired_left_out"] = _paired([a for a, s in zip(right_soft, sel) if s],
                                             [b for b, s in zip(right_hard, sel) if s])
    _done(("distill", teacher_id, student_id, temperature, alpha, epochs, seed, fraction, leave_out))
    return result.student, summary


def _paired(right_a: list[bool], right_b: list[bool]) -> dict[str, Any]:
    delta, ci = measure.paired_delta(right_a, right_b)
    return {"delta": delta, "ci95": list(ci), "verdict": measure.noise_verdict(delta, ci), "n": len(right_a)}


def fraction_sweep(teacher_id: str, student_id: str, temperature: float, alpha: float, epochs: int,
                   seed: int, fractions: tuple, leave_out: int | None = None,
                   _progress=None) -> list[dict[str, Any]]:
    """The summaries of one setting at each training fraction (each a cached distilled_students)."""
    rows = []
    for i, f in enumerate(fractions):
        sub = ((lambda x, m, i=i, f=f: _progress((i + x) / len(fractions), f"{f * 100:g} % of the images: {m}"))
               if _progress else None)
        rows.append(distilled_students(teacher_id, student_id, temperature, alpha, epochs, seed, f,
                                       leave_out, _progress=sub)[1])
    return rows


@st.cache_data(show_spinner=False, max_entries=32)
def temperature_sweep(teacher_id: str, student_id: str, temperatures: tuple, alpha: float,
                      epochs: int, seed: int, _progress=None) -> list[dict[str, float]]:
    ds = data.load(models.spec(teacher_id).dataset)
    rows = distill.temperature_sweep(models.load(teacher_id), models.build(student_id, seed=seed), ds,
                                     list(temperatures), alpha, epochs, seed=seed, progress=_progress)
    _done(("sweep", teacher_id, student_id, temperatures, alpha, epochs, seed))
    return rows


@st.cache_data(show_spinner=False, max_entries=64)
def compress_student(teacher_id: str, student_id: str, temperature: float, alpha: float, epochs: int,
                     seed: int, config_items: tuple, fraction: float = 1.0, leave_out: int | None = None,
                     _progress=None) -> pipeline.Report:
    """The distilled student compressed by the sidebar's config (plain Report)."""
    student, _ = distilled_students(teacher_id, student_id, temperature, alpha, epochs, seed, fraction, leave_out)
    ds = data.load(models.spec(teacher_id).dataset)
    report = pipeline.evaluate_model(student, ds, config_of(config_items),
                                     name=f"{student_id} (distilled)", latency=False, progress=_progress)
    _done(("compress_student", teacher_id, student_id, temperature, alpha, epochs, seed, config_items,
           fraction, leave_out))
    return report


# --------------------------------------------------------------------------- Explore's on-demand views

@st.cache_data(show_spinner=False, max_entries=4)
def deep_compression(model: ModelSource, _progress=None) -> dict[str, Any]:
    """Deep Compression's three stages on a zoo model beside the paper's table (about a minute)."""
    result = offload(reproduce.deep_compression, model.name, progress=_progress)
    _done(("deep_compression", model))
    return result


QAT_BITS = qat.BITS


@st.cache_data(show_spinner=False, max_entries=16)
def qat_vs_ptq(model: ModelSource, config_items: tuple, epochs: int, _progress=None) -> list[dict[str, Any]]:
    """Accuracy with its 95% CI at each bit-width: rounded after fine-tuning (PTQ) vs fine-tuned under it (QAT).

    compression.qat.qat_vs_ptq, as benchmarks/qat.py runs it: both arms get the same fine-tuning
    budget and recipe. Rows: the checkpoint (method "fp32"), the float fine-tuned model
    ("fp32-finetuned"), then "ptq" and "qat" per bit-width.
    """
    result = offload(qat.qat_vs_ptq, model, config_of(config_items), bits=QAT_BITS, epochs=epochs, progress=_progress)
    _done(("teaching", "qat", model, config_items, epochs))
    return result["rows"]


NEAR_ZERO = 0.01  # |w| below this counts as "near zero" in the regularization view


@st.cache_data(show_spinner=False, max_entries=16)
def regularized_snapshots(src: ModelSource, kind: str, strength: float, epochs: int, seed: int,
                          _progress=None) -> list[dict[str, Any]]:
    """Histograms of all prunable weights before and after each epoch of regularized fine-tuning (a zoo model)."""
    import copy

    import numpy as np

    from compression import prune, train
    model_id = src.name
    ds = data.load(models.spec(model_id).dataset)
    model = copy.deepcopy(models.load(model_id))
    weights = lambda m: torch.cat([w.detach().flatten() for w in prune.prunable(m).values()]).numpy()  # noqa: E731
    w0 = weights(model)
    top = float(np.abs(w0).max())
    edges = np.linspace(-top, top, 81)

    def snap(epoch: int, m) -> dict[str, Any]:
        w = weights(m)
        counts, _ = np.histogram(np.clip(w, -top, top), bins=edges)
        return {"epoch": epoch, "edges": edges.tolist(), "counts": counts.tolist(),
                "near_zero": float((np.abs(w) < NEAR_ZERO).mean())}

    snaps = [snap(0, model)]
    train.fit(model, ds.x_train, ds.y_train, epochs, seed=seed, penalty=train.regularizer(kind, strength),
              on_epoch=lambda e, m: snaps.append(snap(e + 1, m)),
              progress=(lambda f, msg: _progress(f, msg)) if _progress else None)
    _done(("teaching", "reg", src, kind, strength, epochs, seed))
    return snaps


@st.cache_data(show_spinner=False, max_entries=32)
def neuron_scores(src: ModelSource, criterion: str, sparsity: float, scope: str, seed: int) -> dict[str, Any]:
    """Per-neuron scores of a neuron criterion on the calibration images, and which rows pruning drops.

    One-shot, on the pretrained zoo model: {layer: {"scores": [...], "pruned": [...]}} and the score's label.
    """
    from compression import criteria, prune
    model_id = src.name
    ds = data.load(models.spec(model_id).dataset)
    model = models.load(model_id)
    acts = criteria.activations(model, ds.x_calib)
    record = criteria.neuron_view(criterion)
    score = record.neuron_score
    assert score is not None  # neuron_view returns a neuron criterion
    masks = prune.masks(model, sparsity, scope=scope, structure="rows", criterion=record.name,
                        data=(ds.x_calib, ds.y_calib), seed=seed)
    layers = {}
    for name, a in acts.items():
        keep = masks[name].flatten(1).any(1)
        layers[name.removesuffix(".weight")] = {"scores": [float(v) for v in score(a)],
                                                "pruned": [not bool(k) for k in keep]}
    return {"label": record.label, "layers": layers}


# --------------------------------------------------------------------------- calibrated methods (issue 16)


@st.cache_data(show_spinner=False, max_entries=16)
def rounding_methods(src: ModelSource, config_items: tuple, _progress=None) -> dict[str, Any]:
    """RTN vs GPTQ vs AWQ at 2, 3 and 4 bits with paired intervals (compression.methods.compare)."""
    from compression import methods, source
    loaded = source.load(src)
    assert loaded.dataset is not None  # the page asks only for a model with data
    result = methods.compare(loaded.model, loaded.dataset, config_of(config_items), progress=_progress)
    _done(("teaching", "methods", src, config_items))
    return result


@st.cache_data(show_spinner=False, max_entries=32)
def layer_views(src: ModelSource, config_items: tuple) -> dict[str, Any]:
    """Per-layer output error, activation and weight ranges, outliers (compression.layer_error.views)."""
    from compression import layer_error, source
    loaded = source.load(src)
    assert loaded.dataset is not None
    return layer_error.views(loaded.model, loaded.dataset, config_of(config_items))


@st.cache_data(show_spinner=False, max_entries=64)
def smooth_outliers(src: ModelSource, alpha: float) -> dict[str, Any]:
    """Per-channel activation and weight maxima before and after SmoothQuant at α (compression.smoothquant)."""
    from compression import calibration, smoothquant, source
    loaded = source.load(src)
    assert loaded.dataset is not None
    return smoothquant.outliers(loaded.model, calibration.batch(loaded.dataset, len(loaded.dataset.x_calib)), alpha)


@st.cache_data(show_spinner=False, max_entries=64)
def format_views(src: ModelSource, layer: str, group_size: int) -> dict[str, Any]:
    """The format views' data for one layer (compression.formats): four grids, and one outlier's groups."""
    from compression import formats, source
    w = formats.weight(source.load(src).model, layer)
    return {"grids": formats.grids(w, group_size), "outlier": formats.outlier_groups(w, group_size)}


@st.cache_data(show_spinner=False, max_entries=16)
def within_drop(src: ModelSource, config_items: tuple, max_drop: float, _progress=None) -> dict[str, Any]:
    """Bits per layer for the smallest model within max_drop points (compression.sensitivity.within_drop)."""
    from compression import sensitivity
    result = sensitivity.within_drop(src, max_drop, config_of(config_items), progress=_progress)
    _done(("teaching", "within_drop", src, config_items, max_drop))
    return result


# --------------------------------------------------------------------------- scrubbing grid (issue 19)

@st.cache_data(show_spinner=False, max_entries=32)
def scrub_grid(model: ModelSource, config_items: tuple, _progress=None) -> dict[str, Any]:
    """The scenario's scrubbing grid (compression.scrub.kept_grid, in a worker); pass the items of
    scrub.axes(config), so every sparsity and bits of one scenario share this cache entry.

    An exception propagates, so st.cache_data keeps nothing for a failure."""
    grid = offload(workers.scrub_grid, model, config_of(config_items), progress=_progress)
    _done(("scrub", model, config_items))
    return grid
