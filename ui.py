"""Shared UI helpers for the pages: the sidebar, the URL contract, cached backend calls.

Pages stay thin: they read the scenario (`scenario()`), call the cached wrappers below and
draw `compression.charts` figures. Everything in st.session_state is a plain value (str,
int, float, bool, tuples of them): never tensors or models.

Session-state / URL contract
- Widget keys of the shared sidebar: "model", "preset", "sparsity" (int percent 0..99),
  "bits", "temperature", and one key per advanced CompressionConfig field under the
  field's own name ("structure", "scope", "criterion", "scheme", "per_channel",
  "quantizer", "act_bits", "prune_steps", "finetune_epochs", "profile", "skip_zeros",
  "seed").
- st.session_state["scenario"] = {"model": str, "config": CompressionConfig.to_dict(),
  "temperature": float, "alpha": float}, rebuilt on every run by the sidebar; read it
  with `scenario()`.
- The URL query holds the same scenario: `model`, every non-default CompressionConfig
  field under its own name (config.to_query), plus `temperature` and `alpha` when not
  at their defaults. A `preset` key is read on first load (the preset, then the other
  keys on top of it), never written.
"""
from __future__ import annotations

import contextvars
import logging
import math
import threading
from typing import Any, Callable, NamedTuple

import streamlit as st
import torch

from compression import config as cfgmod
from compression import data, distill, energy, models, pipeline
from compression.config import PRESETS, CompressionConfig, ConfigError

log = logging.getLogger("compression_lab.ui")

# --------------------------------------------------------------------------- constants

BIT_OPTIONS = (1, 2, 3, 4, 5, 6, 8, 12, 16, 32)        # the bit-width slider's stops
ACT_BIT_OPTIONS = tuple(b for b in cfgmod.BITS if b >= 2)  # activations: no binarization
SPARSITY_CURVE = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
BITS_CURVE = BIT_OPTIONS
DISTILL_TEMPERATURES = (1.0, 2.0, 4.0, 8.0, 16.0)
DEFAULT_MODEL = models.DEFAULT_MODEL
DEFAULT_TEMPERATURE = 4.0
DEFAULT_ALPHA = 0.7
T_MIN, T_MAX, T_STEP = 1.0, 20.0, 0.5
ALPHA_STEP = 0.05
CUSTOM = "custom"
FIELDS = cfgmod.FIELDS

HELP = {
    "model": "Pretrained zoo model; accuracy is measured on its data set's held-out test split.",
    "preset": "A named scenario that sets every control at once; moving a control makes it 'custom'.",
    "sparsity": "Fraction of weights set to zero; magnitude pruning keeps the top-k by |w|, "
                "k = (1 − s)·n.",
    "bits": "Weight bits; symmetric uniform quantization uses scale = max|w| / (2^(b−1) − 1), "
            "ŵ = scale·round(w/scale); 32 = float (no quantization).",
    "temperature": "Distillation temperature T (used on the Distill page): soft targets "
                   "p = softmax(z / T); higher T spreads probability onto the wrong classes.",
    "structure": "What is removed: single weights, whole rows (neurons/filters, by L2 norm), or "
                 "2 of every 4 weights (2:4, the pattern sparse tensor cores run).",
    "scope": "Global: one threshold across all layers; layer: each layer pruned to the same sparsity.",
    "criterion": "Which weights go first: smallest |w|, random, or smallest Taylor score |w·∂L/∂w|.",
    "scheme": "Symmetric: scale = max|w| / (2^(b−1) − 1), zero point 0; asymmetric: "
              "scale = (max − min) / (2^b − 1), zero point = round(−min / scale).",
    "per_channel": "One scale (and zero point) per output channel instead of one per tensor.",
    "quantizer": "Uniform grid, or k-means weight sharing (Deep Compression): 2^b shared values "
                 "c_j minimizing Σ (w − c_j)².",
    "act_bits": "Activation bits (simulated, ranges calibrated on 128 training images); 32 = float.",
    "prune_steps": "Gradual pruning: reach the target sparsity in N growing steps, fine-tuning "
                   "between them (Zhu & Gupta schedule).",
    "finetune_epochs": "Epochs of fine-tuning after each pruning step, pruned weights held at zero "
                       "(takes seconds: the result is cached).",
    "profile": "Energy constants (pJ per operation and per memory access) with their source.",
    "skip_zeros": "Hardware that skips zero weights (EIE-style): MACs_eff = MACs · density; off = "
                  "dense CPU/GPU kernels.",
    "seed": "Random seed for the random criterion and fine-tuning shuffles: same seed, same numbers.",
    "alpha": "Loss = α·T²·KL(teacher_T ‖ student_T) + (1 − α)·CE(student, label); α = 0: hard labels only.",
}

# Keys (plain tuples) of heavy results computed in this process. Used only to decide
# whether to show a progress bar (a hit returns at once); a wrong guess costs nothing
# but a missing bar.
_DONE: set[tuple] = set()
_DONE_LOCK = threading.Lock()


def _done(key: tuple) -> None:
    with _DONE_LOCK:
        _DONE.add(key)


def is_done(key: tuple) -> bool:
    with _DONE_LOCK:
        return key in _DONE


PLOT_CONFIG = {"displaylogo": False}


def plot(container, fig) -> None:
    """Draw a compression.charts figure; theme=None keeps the project's own template."""
    container.plotly_chart(fig, theme=None, config=PLOT_CONFIG)


class Scenario(NamedTuple):
    model: str
    config: CompressionConfig
    temperature: float
    alpha: float

    def config_items(self) -> tuple:
        return config_items(self.config)


def config_items(config: CompressionConfig) -> tuple:
    """The config as a tuple of (field, value) pairs: a plain, hashable cache key."""
    return tuple(config.to_dict().items())


def config_of(items: tuple) -> CompressionConfig:
    return CompressionConfig(**dict(items))


# --------------------------------------------------------------------------- formatting

def pct(x: float) -> str:
    """A fraction as '97.2 %' (charts.pct when the charts module has one)."""
    try:
        from compression import charts
        return charts.pct(x)
    except (ImportError, AttributeError):
        return f"{x * 100:.1f} %"


def ci_text(ci: list[float] | tuple[float, float]) -> str:
    return f"95% CI {ci[0] * 100:.1f}–{ci[1] * 100:.1f} %"


def wilson(p: float, n: int) -> tuple[float, float]:
    from compression import measure
    return measure.wilson_interval(p, n)


def pts(delta: float) -> str:
    """A difference of two fractions in percentage points, with a real minus sign for Streamlit."""
    return f"{delta * 100:+.1f} pts"


def bits_text(bits: int) -> str:
    return "float32 weights" if bits >= 32 else f"{bits}-bit weights"


def fmt_number(x: float) -> str:
    return f"{x:g}"


# --------------------------------------------------------------------------- model info

@st.cache_data(show_spinner=False)
def model_info() -> dict[str, dict[str, Any]]:
    """Per zoo id: dataset, parameter count, baseline test accuracy (None when not at hand).

    Cached for the process: building the small nets and one forward pass over the digits
    test split take milliseconds, but every run draws the picker. Models whose data set is
    not on disk are not downloaded or trained here (that would stall the first page).
    """
    info = {}
    for mid, spec in models.ZOO.items():
        row: dict[str, Any] = {"dataset": spec.dataset, "description": spec.description,
                               "params": sum(p.numel() for p in models.build(mid).parameters()),
                               "accuracy": None, "ready": False}
        try:
            if models.checkpoint_path(mid).exists():
                ds = data.load(spec.dataset, download=False)
                from compression import measure
                row["accuracy"] = measure.accuracy(models.load(mid), ds.x_test, ds.y_test)
                row["ready"] = True
        except Exception as e:  # data not on disk, unreadable checkpoint: no accuracy in the label
            log.info("model_info(%s): %s", mid, e)
        info[mid] = row
    return info


def model_label(mid: str) -> str:
    """'mlp-digits · 97.5 %': the id and its baseline accuracy (the caption gives the rest)."""
    row = model_info().get(mid)
    if row is None:
        return mid
    acc = pct(row["accuracy"]) if row["accuracy"] is not None else (
        "trained on first use" if not models.ZOO[mid].shipped else "n/a")
    return f"{mid} · {acc}"


def model_caption(mid: str) -> str:
    row = model_info().get(mid, {})
    return (f"{row.get('description', '')} · {row.get('params', 0):,} params · data: {row.get('dataset', '?')}"
            + ("" if row.get("accuracy") is not None else " · baseline accuracy measured on first use"))


# --------------------------------------------------------------------------- state

def _widget_values(config: CompressionConfig) -> dict[str, Any]:
    """The sidebar widget values (by key) that show `config`."""
    values = config.to_dict()
    values["sparsity"] = int(round(config.sparsity * 100))
    return values


def _config_from_state() -> CompressionConfig:
    ss = st.session_state
    values = {f: ss[f] for f in FIELDS}
    values["sparsity"] = ss["sparsity"] / 100
    return CompressionConfig(**values)


def _matching_preset(config: CompressionConfig) -> str:
    for name, preset in PRESETS.items():
        if preset == config:
            return name
    return CUSTOM


def _snap(x: float, lo: float, hi: float, step: float) -> float:
    return min(hi, max(lo, round(round((x - lo) / step) * step + lo, 6)))


def _parse_float(name: str, text: str, lo: float, hi: float, warnings: list[str]) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        warnings.append(f"{name}={text!r} is not a number (ignored)")
        return None
    if not (math.isfinite(value) and lo <= value <= hi):
        warnings.append(f"{name}={text!r} is out of range {lo:g}–{hi:g} (ignored)")
        return None
    return value


def _read_url() -> tuple[dict[str, Any], list[str]]:
    """Widget values from the URL query (first load only), and one warning per ignored value."""
    query = {k: st.query_params.get(k) for k in st.query_params.keys()}
    config, warnings = cfgmod.from_mapping(query)
    if config.bits not in BIT_OPTIONS:
        warnings.append(f"bits={config.bits} has no stop on the slider "
                        f"({', '.join(map(str, BIT_OPTIONS))}) (ignored)")
        config = config.replace(bits=CompressionConfig().bits)
    if round(config.sparsity * 100, 6) != int(round(config.sparsity * 100)):
        shown = min(99, int(round(config.sparsity * 100)))
        warnings.append(f"sparsity={config.sparsity:g} shown as {shown} % (the slider moves in 1 % steps)")
        config = config.replace(sparsity=shown / 100)
    values = _widget_values(config)
    values["preset"] = _matching_preset(config)

    model = query.get("model")
    if model is not None:
        if model in models.ZOO:
            values["model"] = model
        else:
            warnings.append(f"model={model!r} is unknown: known models are {', '.join(models.ZOO)} (ignored)")
    if "temperature" in query:
        t = _parse_float("temperature", query["temperature"], T_MIN, T_MAX, warnings)
        if t is not None:
            values["temperature"] = _snap(t, T_MIN, T_MAX, T_STEP)
    if "alpha" in query:
        a = _parse_float("alpha", query["alpha"], 0.0, 1.0, warnings)
        if a is not None:
            values["_alpha"] = _snap(a, 0.0, 1.0, ALPHA_STEP)
    return values, warnings


def init_state() -> None:
    """Defaults for every shared control, overridden once per session by the URL query."""
    ss = st.session_state
    if ss.get("_initialized"):
        return
    defaults = _widget_values(CompressionConfig())
    defaults.update(model=DEFAULT_MODEL, preset=_matching_preset(CompressionConfig()),
                    temperature=DEFAULT_TEMPERATURE, _alpha=DEFAULT_ALPHA)
    try:
        from_url, warnings = _read_url()
    except Exception as e:  # a malformed query must never stop the page
        log.warning("could not read the URL query: %s", e)
        from_url, warnings = {}, [f"the link's settings could not be read ({type(e).__name__})"]
    defaults.update(from_url)
    for key, value in defaults.items():
        ss[key] = value
    ss["_url_warnings"] = warnings
    ss["_initialized"] = True


def _apply_preset() -> None:
    """Preset picked: set every control to the preset's values.

    When a control moved in the same message, the "new" preset is the browser echoing the
    value it had before our last _control_changed reached it (fast slider moves): applying
    it would throw the user's move away, so name the matching preset instead.
    """
    ss = st.session_state
    try:
        now = _config_from_state().to_dict()
    except ConfigError:
        now = None
    if now is not None and ss.get("_last_config") not in (None, now):
        ss["preset"] = _matching_preset(CompressionConfig(**now))
        return
    name = ss["preset"]
    if name in PRESETS:
        ss.update(_widget_values(PRESETS[name]))


def _control_changed() -> None:
    """A control moved: the preset picker names the preset this now equals, else 'custom'."""
    try:
        st.session_state["preset"] = _matching_preset(_config_from_state())
    except ConfigError:
        st.session_state["preset"] = CUSTOM


def keep(key: str, default: Any) -> dict[str, Any]:
    """Keep a page widget's value when the user visits another page and comes back.

    Streamlit forgets the state of widgets that were not drawn in a run; a shadow key
    ("_" + key) outlives them. Use as `st.slider(..., **keep("alpha", 0.7))` (no value=).
    """
    ss = st.session_state
    shadow = "_" + key
    if shadow not in ss:
        ss[shadow] = default
    ss[key] = ss[shadow]
    return {"key": key, "on_change": _copy_to_shadow, "args": (key,)}


def _copy_to_shadow(key: str) -> None:
    st.session_state["_" + key] = st.session_state[key]


# --------------------------------------------------------------------------- sidebar

def sidebar() -> Scenario:
    """The one shared sidebar (drawn by app.py on every page); returns the scenario."""
    init_state()
    ss = st.session_state
    with st.sidebar:
        st.markdown("### Scenario")
        st.selectbox("Model", list(models.ZOO), key="model", format_func=model_label,
                     help=HELP["model"])
        st.caption(model_caption(ss["model"]))
        st.selectbox("Preset", [CUSTOM, *PRESETS], key="preset", on_change=_apply_preset,
                     help=HELP["preset"])
        st.slider("Sparsity", 0, 99, step=1, format="%d %%", key="sparsity",
                  on_change=_control_changed, help=HELP["sparsity"])
        st.select_slider("Weight bits", options=BIT_OPTIONS, key="bits",
                         format_func=lambda b: "32 (float)" if b == 32 else str(b),
                         on_change=_control_changed, help=HELP["bits"])
        st.slider("Distillation temperature T", T_MIN, T_MAX, step=T_STEP, format="%.1f",
                  key="temperature", help=HELP["temperature"])
        with st.expander("Advanced"):
            changed = {"on_change": _control_changed}
            st.selectbox("Pruning structure", cfgmod.STRUCTURES, key="structure",
                         help=HELP["structure"], **changed)
            st.selectbox("Pruning scope", cfgmod.SCOPES, key="scope", help=HELP["scope"], **changed)
            st.selectbox("Pruning criterion", cfgmod.CRITERIA, key="criterion",
                         help=HELP["criterion"], **changed)
            st.number_input("Prune steps", 1, 10, step=1, key="prune_steps",
                            help=HELP["prune_steps"], **changed)
            st.number_input("Fine-tuning epochs (per step)", 0, 50, step=1, key="finetune_epochs",
                            help=HELP["finetune_epochs"], **changed)
            st.radio("Quantizer", cfgmod.QUANTIZERS, key="quantizer", horizontal=True,
                     format_func={"uniform": "uniform", "kmeans": "k-means"}.get,
                     help=HELP["quantizer"], **changed)
            st.radio("Scheme", cfgmod.SCHEMES, key="scheme", horizontal=True, help=HELP["scheme"],
                     **changed)
            st.toggle("Per-channel scales", key="per_channel", help=HELP["per_channel"], **changed)
            st.selectbox("Activation bits", ACT_BIT_OPTIONS, key="act_bits",
                         format_func=lambda b: "32 (float)" if b == 32 else str(b),
                         help=HELP["act_bits"], **changed)
            st.selectbox("Energy profile", list(energy.PROFILES), key="profile",
                         help=HELP["profile"], **changed)
            st.toggle("Hardware skips zeros", key="skip_zeros", help=HELP["skip_zeros"], **changed)
            st.number_input("Seed", 0, 2**31 - 1, step=1, key="seed", help=HELP["seed"], **changed)
    try:
        config = _config_from_state()
    except ConfigError as e:  # cannot happen from these widgets; never crash on it
        st.sidebar.error(f"Invalid setting, using the defaults: {e}")
        config = CompressionConfig()
    ss["_last_config"] = config.to_dict()  # what the browser last showed (see _apply_preset)
    sc = Scenario(ss["model"], config, float(ss["temperature"]), float(ss["_alpha"]))
    ss["scenario"] = {"model": sc.model, "config": config.to_dict(),
                      "temperature": sc.temperature, "alpha": sc.alpha}
    return sc


def scenario() -> Scenario:
    """The scenario the sidebar built in this run (defaults if none yet)."""
    raw = st.session_state.get("scenario")
    if not raw:
        return Scenario(DEFAULT_MODEL, CompressionConfig(), DEFAULT_TEMPERATURE, DEFAULT_ALPHA)
    return Scenario(raw["model"], CompressionConfig(**raw["config"]), raw["temperature"], raw["alpha"])


def show_url_warnings() -> None:
    """One small warning for the link's ignored values, on the first run only."""
    warnings = st.session_state.pop("_url_warnings", None)
    if warnings:
        st.warning("Some settings in the link were ignored: " + "; ".join(warnings) + ".",
                   icon=":material/link_off:")


def write_url(sc: Scenario) -> None:
    """Write the scenario into the URL (non-default values only), so a copied link reopens it."""
    query = {"model": sc.model, **cfgmod.to_query(sc.config)}
    if sc.temperature != DEFAULT_TEMPERATURE:
        query["temperature"] = fmt_number(sc.temperature)
    if sc.alpha != DEFAULT_ALPHA:
        query["alpha"] = fmt_number(sc.alpha)
    current = {k: st.query_params.get(k) for k in st.query_params.keys()}
    if current != query:
        st.query_params.from_dict(query)


# --------------------------------------------------------------------------- errors, progress

def error_sentence(e: BaseException) -> str:
    if isinstance(e, ConfigError):
        return f"This setting is not allowed: {e}."
    if isinstance(e, (data.DataUnavailable, models.ModelError)):
        return str(e)
    return (f"Something went wrong while computing this view ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else 'no details'}); try another setting.")


def guard(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[bool, Any]:
    """Call fn; on any error show one clear sentence (no traceback on the page) and log it."""
    try:
        return True, fn(*args, **kwargs)
    except (ConfigError, data.DataUnavailable, models.ModelError) as e:  # expected: say it, no trace
        log.warning("%s: %s", type(e).__name__, e)
        st.error(error_sentence(e), icon=":material/error:")
    except Exception as e:  # a bug: one sentence on the page, the traceback in the server log
        log.exception("backend call failed")
        st.error(error_sentence(e), icon=":material/error:")
    return False, None


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
@st.cache_data(show_spinner=False, max_entries=256)
def evaluate(model_id: str, config_items: tuple, _progress=None) -> pipeline.Report:
    report = pipeline.evaluate(model_id, config_of(config_items), progress=_progress)
    _done(("evaluate", model_id, config_items))
    return report


def needs_training(model_id: str, config: CompressionConfig) -> bool:
    """Whether evaluating this scenario trains (fine-tuning, or a model trained on first use)."""
    try:
        trains_model = not models.checkpoint_path(model_id).exists()
    except models.ModelError:
        trains_model = False
    return trains_model or (config.finetune_epochs > 0 and (config.sparsity > 0 or config.structure == "2:4"))


def evaluate_report(sc: Scenario) -> pipeline.Report | None:
    """The scenario's Report, with a progress bar when it trains; None (error shown) on failure."""
    items = sc.config_items()
    show = needs_training(sc.model, sc.config) and not is_done(("evaluate", sc.model, items))
    ok, report = guard(with_progress, evaluate, sc.model, items,
                       label=f"Fine-tuning {sc.model}", show=show)
    return report if ok else None


# Cached per curve: the sparsity curve depends on every field but sparsity (its key has
# sparsity reset), the bits curve on every field but bits, so moving one slider recomputes
# only the other curve.
@st.cache_data(show_spinner=False, max_entries=256)
def accuracy_points(model_id: str, config_items: tuple, field: str, values: tuple,
                    _progress=None) -> list[dict[str, Any]]:
    config = config_of(config_items)
    if _progress is None:
        points = pipeline.accuracy_points(model_id, config, field, list(values))
    else:  # one value at a time, to report progress (each may fine-tune)
        points = []
        for i, v in enumerate(values):
            points += pipeline.accuracy_points(model_id, config, field, [v])
            _progress((i + 1) / len(values), f"{field} = {v:g}")
    _done(("points", model_id, config_items, field, values))
    return points


def curve_points(sc: Scenario, report: pipeline.Report, field: str, values: tuple,
                 finetune: bool) -> tuple[list[dict[str, Any]], str | None]:
    """Points of accuracy vs `field`, other fields held; the current point from the report.

    With fine-tuning configured and `finetune` False, the curve is one-shot (no fine-tuning,
    one step): seconds per point otherwise. The note says so.
    """
    config = sc.config
    note = None
    # Does any point of this curve fine-tune? (Fine-tuning only runs after pruning.)
    trains = config.finetune_epochs > 0 and (field == "sparsity" or config.sparsity > 0
                                             or config.structure == "2:4")
    one_shot = trains and not finetune
    if one_shot:
        config = config.replace(finetune_epochs=0, prune_steps=1)
        note = "one-shot, without fine-tuning"
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


# Figures too: building and validating a Plotly figure costs several ms, and a slider moved
# back and forth asks for the same eight again. Keyed on plain values that determine the
# figure (chart name, model, config, chart arguments); st.plotly_chart copies the figure
# before sending it, so the shared object is never modified.
@st.cache_resource(show_spinner=False, max_entries=512)
def figure(key: tuple, _build: Callable[[], Any]) -> Any:
    return _build()


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
@st.cache_resource(show_spinner=False, max_entries=16)
def distilled_students(teacher_id: str, student_id: str, temperature: float, alpha: float,
                       epochs: int, seed: int, _progress=None) -> tuple[torch.nn.Module, dict[str, Any]]:
    ds = data.load(models.spec(teacher_id).dataset)
    result = distill.distill(models.load(teacher_id), models.build(student_id, seed=seed), ds,
                             temperature, alpha, epochs, seed=seed, progress=_progress)
    _done(("distill", teacher_id, student_id, temperature, alpha, epochs, seed))
    return result.student, result.to_dict()


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
                     seed: int, config_items: tuple, _progress=None) -> pipeline.Report:
    """The distilled student compressed by the sidebar's config (plain Report)."""
    student, _ = distilled_students(teacher_id, student_id, temperature, alpha, epochs, seed)
    ds = data.load(models.spec(teacher_id).dataset)
    report = pipeline.evaluate_model(student, ds, config_of(config_items),
                                     name=f"{student_id} (distilled)", latency=False, progress=_progress)
    _done(("compress_student", teacher_id, student_id, temperature, alpha, epochs, seed, config_items))
    return report
