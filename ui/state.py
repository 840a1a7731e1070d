"""Session state and the URL: the scenario, its widget values, the link that reopens it."""
from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import streamlit as st

from compression import config as cfgmod
from compression import models, source
from compression.config import PRESETS, CompressionConfig, ConfigError
from compression.lm import registry
from compression.source import ModelSource
from ui.fmt import fmt_number, literal, short

log = logging.getLogger("compression_lab.ui")

BIT_OPTIONS = (1, 2, 3, 4, 5, 6, 8, 12, 16, 32)        # the bit-width slider's stops
ACT_BIT_OPTIONS = tuple(b for b in cfgmod.BITS if b >= 2)  # activations: no binarization
SPARSITY_CURVE = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
BITS_CURVE = BIT_OPTIONS
DISTILL_TEMPERATURES = (1.0, 2.0, 4.0, 8.0, 16.0)
DISTILL_FRACTIONS = (0.05, 0.1, 1.0)  # shares of each class the student trains on (Distill page)
NO_LEAVE_OUT = -1                      # the "leave out" picker's value for "every class kept"
DEFAULT_MODEL = models.DEFAULT_MODEL
DEFAULT_TEMPERATURE = 4.0
DEFAULT_ALPHA = 0.7
DEFAULT_TEACHER = "mlp800-mnist"  # the Distill pickers open on a pair sharing a data set
DEFAULT_STUDENTS = {"mlp800-mnist": "mlp30-mnist", "mlp-digits": "mlp-small-digits",
                    **{t: "mlp-fashion" for t in ("resnet-fashion", "mobilenet-fashion", "lenet5-fashion", "vit-fashion")}}
T_MIN, T_MAX, T_STEP = 1.0, 20.0, 0.5
ALPHA_STEP = 0.05
CUSTOM = "custom"
LM_MODELS = tuple(registry.MODELS)  # the Language page's models (compression.lm.registry)
DEFAULT_LM = "tinygpt-pydoc"
KV_BITS = (16, 8, 4)  # the KV cache's formats (compression.lm.kvcache.BITS)
APART_DEFAULT = 0      # the Language page's embedding / LM head bits: 0 = evaluate's default (8 below 8 bits)
APART_BITS = (APART_DEFAULT, *(b for b in BIT_OPTIONS if b >= 2))
FIELDS = cfgmod.SETTINGS  # per_channel is only an alias of granularity: no widget of its own


class Scenario(NamedTuple):
    """The sidebar's scenario. `model` is the model as a `ModelSource`, parsed once from the state's
    word (None while the picker's "Upload your own…" has nothing uploaded yet): pages and the cached
    backend pass it on as it is (a frozen dataclass: a cache key); the URL and the history keep
    its word, `str(model)`."""
    model: ModelSource | None
    config: CompressionConfig
    temperature: float
    alpha: float

    @property
    def word(self) -> str:
        """The model's word in the URL and the CLI (the picker's placeholder when none)."""
        return str(self.model) if self.model is not None else UPLOAD_PLACEHOLDER

    def config_items(self) -> tuple:
        return config_items(self.config)


UPLOAD_PLACEHOLDER = "+upload"  # the picker's "Upload your own…" entry (ui.upload.UPLOAD): not a model word


def source_of(word: str) -> ModelSource | None:
    """The ModelSource of a model word from the state (a zoo id, an architecture, `upload:…`);
    None for the upload picker's placeholder, or a word that is not a model (logged)."""
    if word == UPLOAD_PLACEHOLDER:
        return None
    try:
        return source.parse(word)
    except models.ModelError as e:  # the picker and the link offer model words only
        log.warning("not a model word in the state: %s", e)
        return None


def config_items(config: CompressionConfig) -> tuple:
    """The config as a tuple of (field, value) pairs: a plain, hashable cache key."""
    return tuple(config.to_dict().items())


def config_of(items: tuple) -> CompressionConfig:
    return CompressionConfig(**dict(items))


def _widget_values(config: CompressionConfig) -> dict[str, Any]:
    """The sidebar widget values (by key) that show `config`."""
    values = config.to_dict()
    values["sparsity"] = int(round(config.sparsity * 100))
    return values


def _config_from_state() -> CompressionConfig:
    values = {f: value(f) for f in FIELDS}
    values["sparsity"] = value("sparsity") / 100
    return CompressionConfig(**values)


def _dataset(model: str | ModelSource | None) -> str | None:
    """The data set of a zoo model (None otherwise): a preset may have a variant per data set."""
    spec = models.ZOO.get(str(model) if model is not None else "")  # a zoo source's word is its id
    return spec.dataset if spec else None


def preset_config(name: str, model: str | ModelSource | None = None) -> CompressionConfig:
    """The preset `name` as it applies to `model` (default: the sidebar's model)."""
    return cfgmod.preset(name, _dataset(model if model is not None else value("model")))


def _matching_preset(config: CompressionConfig, model: str | None = None) -> str:
    for name in PRESETS:
        if preset_config(name, model) == config:
            return name
    return CUSTOM


def _snap(x: float, lo: float, hi: float, step: float) -> float:
    return min(hi, max(lo, round(round((x - lo) / step) * step + lo, 6)))


def _parse_float(name: str, text: str, lo: float, hi: float, warnings: list[str]) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        warnings.append(f"{name}={short(text)!r} is not a number (ignored)")
        return None
    if not (math.isfinite(value) and lo <= value <= hi):
        warnings.append(f"{name}={short(text)!r} is out of range {lo:g}–{hi:g} (ignored)")
        return None
    return value


# A parser's ValueError says what it takes (shown in the link's warning); a bare one says nothing more.
def _int_in(lo: int, hi: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if not lo <= value <= hi:
            raise ValueError(f"use a whole number from {lo:,} to {hi:,}")
        return value
    return parse


def _bool(text: str) -> bool:
    if text.lower() not in ("true", "false"):
        raise ValueError("use true or false")
    return text.lower() == "true"


def _one_of(options: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in options:
            raise ValueError(f"use one of {', '.join(options)}")
        return text
    return parse


def _one_of_number(options: tuple[float, ...], kind: Callable[[str], Any] = float) -> Callable[[str], Any]:
    """A URL value read as `kind` (float, int) that must be one of `options`."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except (TypeError, ValueError):
            value = None
        if value not in options:
            raise ValueError(f"use one of {', '.join(f'{o:g}' for o in options)}")
        return value
    return parse


def _layer_name(text: str) -> str:
    if not (0 < len(text) <= 64 and all(c.isalnum() or c in "._" for c in text)):
        raise ValueError
    return text


# The pages' own view settings in the URL (so the link holds what you see): URL word ->
# (ui.keep key, parser, default). Written only when not at the default; a page checks a
# value against what it offers (a layer name against the model's layers).
PAGE_KEYS: dict[str, tuple[str, Callable[[str], Any], Any]] = {
    "layer": ("layer", _layer_name, None),
    "hide_zeros": ("hide_zeros", _bool, False),
    "log_y": ("log_y", _bool, False),
    "error": ("err_metric", _one_of(("sqnr_db", "mse")), "sqnr_db"),
    "teacher": ("teacher", _one_of(tuple(models.ZOO)), DEFAULT_TEACHER),
    "student": ("student", _one_of(tuple(models.ZOO)), None),
    "epochs": ("distill_epochs", _int_in(1, 60), 20),
    "image": ("sample", _int_in(0, 100_000), 0),
    "view": ("view", _one_of(("normal", "present")), "normal"),  # presentation mode (ui.present)
    "fraction": ("distill_fraction", _one_of_number(DISTILL_FRACTIONS), 1.0),
    "leave_out": ("leave_out", _int_in(NO_LEAVE_OUT, 999), NO_LEAVE_OUT),
    "steps": ("lm_distill_steps", _int_in(1, 2000), 200),  # Distill, a language teacher (ui.lm_distill)
    # the Language page (ui.language): its model, and the KV cache's bits, context (0: the model's own) and batch
    "lm": ("lm_model", _one_of(tuple(LM_MODELS)), DEFAULT_LM),
    "kv_bits": ("kv_bits", _one_of_number(KV_BITS, int), 16),
    "kv_context": ("kv_context", _int_in(0, 1 << 20), 0),
    "kv_batch": ("kv_batch", _int_in(1, 256), 1),
    "emb_bits": ("lm_emb_bits", _one_of_number(APART_BITS, int), APART_DEFAULT),
    "head_bits": ("lm_head_bits", _one_of_number(APART_BITS, int), APART_DEFAULT),
}


def _read_url() -> tuple[dict[str, Any], list[str]]:
    """Widget values from the URL query (first load only), and one warning per ignored value."""
    query = {k: st.query_params.get(k) for k in st.query_params.keys()}
    config, warnings = cfgmod.from_mapping(query, dataset=_dataset(query.get("model")))
    config = _known_layers_only(config, query.get("model"), warnings)
    if config.bits not in BIT_OPTIONS:
        warnings.append(f"bits={config.bits} has no stop on the slider "
                        f"({', '.join(map(str, BIT_OPTIONS))}) (ignored)")
        config = config.replace(bits=CompressionConfig().bits)
    if round(config.sparsity * 100, 6) != int(round(config.sparsity * 100)):
        shown = min(99, int(round(config.sparsity * 100)))
        warnings.append(f"sparsity={config.sparsity:g} shown as {shown} % (the slider moves in 1 % steps)")
        config = config.replace(sparsity=shown / 100)
    values = _widget_values(config)
    values["preset"] = _matching_preset(config, query.get("model") or DEFAULT_MODEL)

    model = query.get("model")
    if model is not None:
        from ui import upload  # zoo, architectures and this server's uploads (ui.upload imports ui.state)
        word, missing = upload.from_link(model)
        if word is not None:
            values["model"] = word
        elif missing:
            warnings.append(missing)
        else:
            warnings.append(f"model={short(model)!r} is unknown: known models are {', '.join(models.ZOO)} (ignored)")
    if "temperature" in query:
        t = _parse_float("temperature", query["temperature"], T_MIN, T_MAX, warnings)
        if t is not None:
            values["temperature"] = _snap(t, T_MIN, T_MAX, T_STEP)
    if "alpha" in query:
        a = _parse_float("alpha", query["alpha"], 0.0, 1.0, warnings)
        if a is not None:
            values["_alpha"] = _snap(a, 0.0, 1.0, ALPHA_STEP)
    for word, (key, parse, _) in PAGE_KEYS.items():
        if word in query:
            try:
                values["_" + key] = parse(query[word])
            except (TypeError, ValueError) as e:
                # int('x')'s own message is Python's, not the user's: only a parser's own sentence is shown
                why = f": {e}" if str(e).startswith("use ") else ""
                warnings.append(f"{word}={short(query[word])!r} is not allowed{why} (ignored)")
    return values, warnings


@st.cache_data(show_spinner=False, max_entries=64)
def layer_names(model_id: str) -> tuple[str, ...] | None:
    """The compressible layers of a model (zoo id, architecture or this server's upload); None if
    it cannot be built here (the page says why elsewhere)."""
    from compression import source
    try:
        model = models.build(model_id) if model_id in models.ZOO else source.load(source.parse(model_id)).model
        return tuple(models.layers(model))
    except Exception as e:  # unavailable here: nothing to check the link's names against
        log.info("no layer names for %s: %s", short(model_id, 48), e)
        return None


def _known_layers_only(config: CompressionConfig, model: str | None, warnings: list[str]) -> CompressionConfig:
    """A link's per-layer override naming a layer the model does not have is dropped with a
    warning, like every other bad value in a link (evaluating it would fail the whole page)."""
    if not (config.layer_bits or config.layer_sparsity):
        return config
    from ui import upload  # the model the link opens (ui.upload imports ui.state)
    word = (upload.from_link(model)[0] if model is not None else None) or DEFAULT_MODEL
    names = layer_names(word)
    if names is None:
        return config
    changes = {}
    for field in ("layer_bits", "layer_sparsity"):
        pairs = getattr(config, field)
        kept = tuple((layer, v) for layer, v in pairs if layer in names)
        for layer, _ in pairs:
            if layer not in names:
                warnings.append(f"{field} names layer {short(layer)!r}, which {short(word, 48)} does not have "
                                f"(its layers: {', '.join(names)}) (ignored)")
        if kept != pairs:
            changes[field] = kept
    return config.replace(**changes) if changes else config


def _sent_by_browser() -> set[str]:
    """Keys of the widgets whose values the browser sent with this run.

    A tab kept open across a server restart starts a new session whose first run carries
    the control the user just moved: setting that key from the URL would throw the move away.
    Streamlit keeps no public list of them; without one, nothing is skipped.
    """
    try:
        from streamlit.runtime.state import get_session_state
        from streamlit.runtime.state.common import user_key_from_element_id
        states = get_session_state()._state._new_widget_state.states
        # app.py's hidden first-run widgets ("_pre_…", they load the widgets' code) are drawn, not sent
        return {k for k in (user_key_from_element_id(wid) for wid in states) if k and not k.startswith("_pre_")}
    except Exception:  # a private detail of Streamlit changed: lose at most that one move
        return set()


def _defaults() -> dict[str, Any]:
    """Every shared control's value when nothing else says: the default scenario."""
    values = _widget_values(CompressionConfig())
    values.update(model=DEFAULT_MODEL, preset=_matching_preset(CompressionConfig(), DEFAULT_MODEL),
                  temperature=DEFAULT_TEMPERATURE, _alpha=DEFAULT_ALPHA)
    return values


def _from_url_or_defaults() -> tuple[dict[str, Any], list[str]]:
    values = _defaults()
    try:
        from_url, warnings = _read_url()
    except Exception as e:  # a malformed query must never stop the page
        log.warning("could not read the URL query: %s", e)
        from_url, warnings = {}, [f"the link's settings could not be read ({type(e).__name__})"]
    values.update(from_url)
    return values, warnings


def init_state() -> None:
    """The one initialiser of the shared controls, called first on every run (cheap after the first).

    First run of a session: defaults, overridden by the URL query. Every run: a control's key
    that is missing (Streamlit drops the state of a widget not drawn in some run) is put back
    from the URL, which mirrors the scenario shown (write_url), else from the defaults. A key
    whose value the browser sent with this run is never overwritten (see _sent_by_browser);
    until its widget is drawn, read it with `value()`.
    """
    ss = st.session_state
    sent = _sent_by_browser()
    if ss.get("_initialized"):
        missing = [k for k in (ss.get("_fallback") or _defaults()) if k not in sent and k not in ss]
        if missing:
            values, _ = _from_url_or_defaults()
            for key in missing:
                ss[key] = values[key]
            ss["_fallback"] = values
        return
    values, warnings = _from_url_or_defaults()
    ss["_fallback"] = values  # what value() answers for a key the browser sent but whose widget is not drawn yet
    for key, v in values.items():
        if key not in sent:
            ss[key] = v
    ss["_url_warnings"] = warnings
    ss["_link_config"] = _config_from_state().to_dict() if not sent else None  # see heavy_from_link
    ss["_link_model"] = value("model")
    ss["_initialized"] = True


def value(key: str, default: Any = None) -> Any:
    """A shared control's current value, also before its widget is drawn in this run.

    A tab kept open across a server restart reconnects to a new session, and its first run
    carries the browser's widget values in a form Streamlit decodes only when each widget is
    drawn: reading `st.session_state["model"]` before the Model box raised `KeyError: 'st.
    session_state has no key "model"'` and replaced the page. Until then the value the URL holds
    (the scenario the tab showed) stands in; the widget itself then shows the browser's value.
    """
    ss = st.session_state
    try:
        return ss[key]
    except KeyError:
        return (ss.get("_fallback") or {}).get(key, default)


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
    name = value("preset")
    if name in PRESETS:
        ss.update(_widget_values(preset_config(name)))


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


def scenario() -> Scenario:
    """The scenario the sidebar built in this run (defaults if none yet)."""
    raw = st.session_state.get("scenario")
    if not raw:
        return Scenario(source_of(DEFAULT_MODEL), CompressionConfig(), DEFAULT_TEMPERATURE, DEFAULT_ALPHA)
    return Scenario(source_of(raw["model"]), CompressionConfig(**raw["config"]), raw["temperature"], raw["alpha"])


def show_url_warnings() -> None:
    """One small warning for the link's ignored values, on the first run only.

    The values come from whoever wrote the link: each is shortened where it is quoted, and
    the sentence is escaped, so nothing in it renders as a link, image, HTML or icon.
    """
    warnings = st.session_state.pop("_url_warnings", None)
    if warnings:
        text = "; ".join(warnings[:12])  # whole: each quoted value is already shortened where it is quoted
        more = f" (and {len(warnings) - 12} more)" if len(warnings) > 12 else ""
        st.warning(literal(f"Some settings in the link were ignored: {text}{more}."),
                   icon=":material/link_off:")


def write_url(sc: Scenario) -> None:
    """Write the scenario into the URL (non-default values only), so a copied link reopens it."""
    query = {"model": sc.word, **cfgmod.to_query(sc.config)}
    if sc.temperature != DEFAULT_TEMPERATURE:
        query["temperature"] = fmt_number(sc.temperature)
    if sc.alpha != DEFAULT_ALPHA:
        query["alpha"] = fmt_number(sc.alpha)
    ss = st.session_state
    for word, (key, _, default) in PAGE_KEYS.items():
        value = ss.get("_" + key, default)
        if value is not None and value != default:
            query[word] = str(value).lower() if isinstance(value, bool) else str(value)
    current = {k: st.query_params.get(k) for k in st.query_params.keys()}
    if current != query:
        st.query_params.from_dict(query)


# Heavy work a link may ask for: beyond LINK_BUDGET_S, a link waits for a click instead of
# starting it unasked. Measured on this project's 2-core CI machine: about 0.3 s per fine-tuning
# epoch of the digits MLP (deep-compression: 60 epoch-steps, ~19 s); one evaluation of a
# torchvision architecture, latency timed, took 3.3 s for MobileNetV2 (3.5 M parameters) and
# 4.0 s for ResNet-18 (11.7 M) alone on it, longer under load: a fixed part plus a part per parameter.
SECONDS_PER_EPOCH_STEP = 0.3
SECONDS_TO_MEASURE = 2.5
SECONDS_PER_MILLION_PARAMS = 0.25
LINK_BUDGET_S = 3.0


def training_seconds(config: CompressionConfig, model_id: str | None = None) -> float:
    """A rough estimate of the time evaluating `config` takes here: fine-tuning, plus measuring a large model."""
    measuring = 0.0 if model_id is None or model_id in models.ZOO else (
        SECONDS_TO_MEASURE + param_count(model_id) / 1e6 * SECONDS_PER_MILLION_PARAMS)
    if not config.trains:
        return measuring
    return measuring + config.finetune_epochs * config.prune_steps * SECONDS_PER_EPOCH_STEP


@st.cache_data(show_spinner=False, max_entries=64)
def param_count(model_id: str) -> int:
    """Parameters of a non-zoo model (an architecture or an upload); 0 when it cannot be built."""
    from compression import measure, source
    try:
        return measure.count_params(source.load(source.parse(model_id)).model)[0]
    except Exception as e:  # unavailable here: the page says so elsewhere, no estimate needed
        log.info("no parameter count for %s: %s", short(model_id, 48), e)
        return 0


def heavy_from_link(config: CompressionConfig, model_id: str | None = None) -> float:
    """Seconds of work (training, or measuring a large model) the opening link asks for and nobody
    has confirmed yet (0: none).

    Only the link's own setting waits: once the user moves a control, picks another model or
    presses Run, the work is theirs to ask for. `model_id` defaults to the sidebar's model.
    """
    ss = st.session_state
    model_id = model_id if model_id is not None else value("model")
    if ss.get("_link_config") != config.to_dict() or ss.get("_link_model", model_id) != model_id:
        ss["_link_config"] = None  # moved away from the link's setting: never ask again
        return 0.0
    seconds = training_seconds(config, model_id)
    return seconds if seconds > LINK_BUDGET_S else 0.0


def heavy_link_text(config: CompressionConfig, seconds: float, model_id: str | None = None) -> str:
    """The sentence above the Run button: what the link asks for and about how long it takes."""
    model_id = model_id if model_id is not None else value("model")
    parts = [] if model_id is None or model_id in models.ZOO else [
        f"measuring {short(model_id, 48)} ({param_count(model_id) / 1e6:.1f} M parameters)"]
    if training_seconds(config) > 0:
        parts.append(f"{config.finetune_epochs} fine-tuning epochs × {config.prune_steps} prune steps")
    return (f"This link asks for {' and '.join(parts)}: about {seconds:.0f} s on this server. "
            "It starts when you press Run.")


def confirm_link() -> None:
    """The user pressed Run: the link's setting is theirs now."""
    st.session_state["_link_config"] = None
