"""The one shared sidebar: model, preset, sliders and the advanced controls."""
from __future__ import annotations

import streamlit as st

from compression import config as cfgmod
from compression import criteria, energy, heads, methods, quantizers, structures
from compression.config import PRESETS, CompressionConfig, ConfigError
from ui import present, upload
from ui.backend import has_heads, model_caption, model_label
from ui.state import (
    ACT_BIT_OPTIONS,
    BIT_OPTIONS,
    CUSTOM,
    DEFAULT_TEMPERATURE,
    T_MAX,
    T_MIN,
    T_STEP,
    Scenario,
    _apply_preset,
    _config_from_state,
    _control_changed,
    init_state,
    source_of,
    value,
)

LANGUAGE = "Language"  # the Language page's title (app.py's navigation)

HELP = {
    "model": "Pretrained zoo model; accuracy is measured on its data set's held-out test split.",
    "preset": "A named scenario that sets every control at once; moving a control makes it 'custom'.",
    "sparsity": "Fraction of weights set to zero; magnitude pruning keeps the top-k by |w|, "
                "k = (1 − s)·n.",
    "bits": "Weight bits; symmetric uniform quantization uses scale = max|w| / (2^(b−1) − 1), "
            "ŵ = scale·round(w/scale); 32 = float (no quantization).",
    "temperature": "Distillation temperature T (used on the Distill page): soft targets "
                   "p = softmax(z / T); higher T spreads probability onto the wrong classes.",
    "structure": "What is removed: single weights, whole rows (neurons/filters, by L2 norm), "
                 "2 of every 4 weights (2:4, the pattern sparse tensor cores run), or whole attention heads "
                 "(heads: the sparsity is the fraction of heads, ranked by Michel et al.'s gate-gradient importance).",
    "scope": "Global: one threshold across all layers; layer: each layer pruned to the same sparsity.",
    "criterion": "Which weights (or neurons) go first. " + " ".join(
        f"{c.label}: {c.help}" for c in criteria.RECORDS.values()),
    "scheme": "Symmetric: scale = max|w| / (2^(b−1) − 1), zero point 0; asymmetric: "
              "scale = (max − min) / (2^b − 1), zero point = round(−min / scale).",
    "granularity": ("Which weights share one scale (and zero point): the whole tensor, each output "
                    "channel, or each group of g weights along the input. Bits per weight include the scales."),
    "group_size": ("Weights per group (granularity 'group'): smaller groups follow outliers closely "
                   "but store more scales (INT4 g128 with float16 scales: 4.125 bits per weight)."),
    "method": "Which level each weight takes on the quantizer's grid. " + " ".join(
        f"{m.label}: {m.help}" for m in methods.RECORDS.values()),
    "quantizer": "How weights map to 2^b levels. " + " ".join(
        f"{quantizers.RECORDS[q].label}: {quantizers.RECORDS[q].help}" for q in quantizers.CHOICES),
    "qat": "Quantization-aware fine-tuning: the fine-tuning epochs run with the weights fake-quantized "
           "(straight-through estimator: the forward pass sees quantized weights, gradients update the "
           "float ones), so the network learns to live with the rounding. Rescues low bit-widths.",
    "regularize": "A sparsity penalty added to the loss while fine-tuning, before pruning: L1 (λ·Σ|w|) "
                  "pulls single weights to zero; group lasso (λ·Σ_rows ‖W_row‖₂) whole neurons.",
    "reg_strength": "λ, the penalty's weight: larger pushes more weights towards zero (and costs accuracy).",
    "order": "When pruning and quantizing: prune then quantize (sequential), alternate the two at each "
             "prune step, or fine-tune under quantization with the masks held (joint).",
    "huffman": "Huffman-code the quantized weight codes and the sparse index gaps (Deep Compression's "
               "third stage): lossless, frequent codes get short bit strings.",
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

# The format controls, drawn by the sidebar, or by the Language page in its place (same keys).
# Moved between the two, a control is a new widget, which would start at its first option: its
# value is handed over through the Session State API first (as temperature_slider's is).

def _hand_over(key: str) -> None:
    ss = st.session_state
    if ss.get("_format_moved") and key in ss:  # not yet decodable (a tab kept across a restart): the widget reads the browser's value
        ss[key] = ss[key]


def sparsity_slider(container=st) -> None:
    _hand_over("sparsity")
    two_four = value("structure") == "2:4"
    container.slider("Sparsity", 0, 99, step=1, format="%d %%", key="sparsity",
                     on_change=_control_changed, help=HELP["sparsity"], disabled=two_four)
    if two_four:
        container.caption("2:4 pruning keeps 2 of every 4 weights: always 50 % sparsity, "
                          "so this slider does not apply.")


def bits_slider(container=st) -> None:
    _hand_over("bits")
    container.select_slider("Weight bits", options=BIT_OPTIONS, key="bits",
                            format_func=lambda b: "32 (float)" if b == 32 else str(b),
                            on_change=_control_changed, help=HELP["bits"])


def quantizer_control(container=st, select: bool = False) -> None:
    """The quantizer record: radio buttons in the sidebar, a "Format" list on the Language page."""
    _hand_over("quantizer")
    common = {"key": "quantizer", "format_func": lambda q: quantizers.lookup(q).label, "help": HELP["quantizer"],
              "on_change": _control_changed}
    if select:
        container.selectbox("Format", quantizers.CHOICES, **common)
    else:
        container.radio("Quantizer", quantizers.CHOICES, horizontal=True, **common)


def granularity_controls(container=st, group_container=None, explain: bool = False) -> None:
    _hand_over("granularity")
    _hand_over("group_size")
    group_container = group_container or container
    record = quantizers.lookup(value("quantizer"))
    container.radio("Granularity", cfgmod.GRANULARITIES, key="granularity", horizontal=True,
                    help=HELP["granularity"], disabled=record.fixed is not None, on_change=_control_changed)
    group_container.select_slider("Group size g", cfgmod.GROUP_SIZES, key="group_size", help=HELP["group_size"],
                                  disabled=value("granularity") != "group" or record.fixed is not None,
                                  on_change=_control_changed)
    if record.fixed is not None:
        container.caption(f"{record.label} fixes its own blocks: {record.fixed.label}, scales {record.scale_dtype}.")
    elif explain and value("granularity") != "group":
        group_container.caption("The group size applies to granularity 'group' only.")
    if record.width is not None and value("bits", 32) >= 32:
        container.caption(f"Weight bits at 32 keep the weights float: any bits below 32 run {record.label} "
                          f"at its own {record.width} bits.")
    elif record.width is not None and value("bits", 32) != record.width:
        container.caption(f"{record.label} runs at its own {record.width} bits: the weight bits "
                          f"({value('bits', 32)}) only say it is on (any value below 32).")


def method_radio(container=st, explain: bool = False) -> None:
    _hand_over("method")
    container.radio("Rounding method", cfgmod.METHODS, key="method", horizontal=True,
                    format_func=lambda m: methods.lookup(m).label, help=HELP["method"],
                    disabled=value("bits", 32) >= 32, on_change=_control_changed)
    if explain and value("bits", 32) >= 32:
        container.caption("The rounding method applies once the weight bits are below 32.")


REG_STRENGTHS = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1)


def _strength_stops(current: float | None) -> tuple[float, ...]:
    """The strength stops, plus a link's own value so it stays pickable."""
    return tuple(sorted({*REG_STRENGTHS, *([float(current)] if current is not None else [])}))


def temperature_slider(disabled: bool = False, container=st) -> None:
    """The one temperature control (key "temperature"): Distill draws it first on its page,
    where a projector's 853×480 screen shows it; elsewhere the sidebar shows it, disabled."""
    ss = st.session_state
    # Drawn in two places (the sidebar, Distill's page): Streamlit forgets a widget's value when
    # the page changes, so a shadow key keeps it (as ui.keep does for the pages' own widgets).
    if "_temperature" not in ss:
        ss["_temperature"] = float(ss.get("temperature", DEFAULT_TEMPERATURE))
    ss["temperature"] = ss["_temperature"]
    container.slider("Distillation temperature T", T_MIN, T_MAX, step=T_STEP, format="%.1f",
                     key="temperature", help=HELP["temperature"], disabled=disabled,
                     on_change=lambda: ss.update(_temperature=ss["temperature"]))


def sidebar(page: str = "Explore") -> Scenario:
    """The one shared sidebar (drawn by app.py on every page); returns the scenario.

    `page` is the title of the page being drawn: a control that does not apply there (or in
    the current setting) is disabled and says why, rather than silently doing nothing.
    """
    init_state()
    ss = st.session_state
    on_distill = page == "Distill"
    # the Language page draws the format controls (sparsity, bits, quantizer, granularity, group
    # size, method) on the page, under the same keys: drawn here too they would be two widgets of one key
    on_language = page == LANGUAGE
    place = "page" if on_language else "sidebar"
    ss["_format_moved"] = ss.get("_format_place", "sidebar") != place  # see _hand_over
    ss["_format_place"] = place
    with st.sidebar:
        present.steps()  # presentation mode: presets as steps (nothing otherwise)
        st.markdown("### Scenario")
        st.selectbox("Model", upload.options(value("model")), key="model", format_func=model_label,
                     help=HELP["model"], disabled=on_distill or on_language)
        st.caption("Distill picks its own teacher and student on the page." if on_distill
                   else "The Language page picks its language model on the page." if on_language
                   else model_caption(value("model")))
        upload.panel()  # the upload form while "Upload your own…" is picked (ui.upload)
        st.selectbox("Preset", [CUSTOM, *PRESETS], key="preset", on_change=_apply_preset,
                     help=HELP["preset"])
        if on_language:
            st.caption("Sparsity, weight bits, format, granularity, group size and rounding method are set "
                       "on the Language page.")
        else:
            sparsity_slider()
            bits_slider()
        if not on_distill:  # on Distill it is the page's own first control (temperature_slider)
            temperature_slider(disabled=True)
            st.caption("The temperature is used on the Distill page only.")
        with st.expander("Advanced"):
            changed = {"on_change": _control_changed}
            st.selectbox("Pruning structure", cfgmod.STRUCTURES, key="structure",
                         help=HELP["structure"], **changed)
            st.selectbox("Pruning scope", cfgmod.SCOPES, key="scope", help=HELP["scope"], **changed)
            structure = value("structure")
            ranked_by = structures.structure(structure).ranked_by
            if structures.structure(structure).slices_heads and has_heads(value("model")) is False:
                st.caption(heads.NO_HEADS)
            # a structure with its own score (heads) leaves the criterion showing, disabled
            allowed = (criteria.CHOICES if ranked_by else
                       tuple(c for c in criteria.CHOICES if structure in criteria.lookup(c).structures))
            if value("criterion") not in allowed:  # neuron criteria score rows only
                ss["criterion"] = allowed[0]
            st.selectbox("Pruning criterion", allowed, key="criterion", disabled=ranked_by is not None,
                         format_func=lambda c: criteria.lookup(c).label, help=HELP["criterion"], **changed)
            if ranked_by:
                st.caption(f"Heads are ranked by {ranked_by}: the criterion does not apply.")
            elif len(allowed) < len(criteria.CHOICES):
                rows_only = ", ".join(criteria.lookup(c).label for c in criteria.CHOICES if c not in allowed)
                st.caption(f"{rows_only}: score whole neurons, so they need the 'rows' structure.")
            st.number_input("Prune steps", 1, 10, step=1, key="prune_steps",
                            help=HELP["prune_steps"], **changed)
            st.number_input("Fine-tuning epochs (per step)", 0, 50, step=1, key="finetune_epochs",
                            help=HELP["finetune_epochs"], **changed)
            no_training = value("finetune_epochs", 0) == 0
            st.selectbox("Sparsity regularization", cfgmod.REGULARIZERS, key="regularize",
                         format_func={"none": "none", "l1": "L1", "group-lasso": "group lasso (rows)"}.get,
                         help=HELP["regularize"], disabled=no_training, **changed)
            st.select_slider("Regularization strength λ", _strength_stops(value("reg_strength")),
                             key="reg_strength", format_func=lambda v: f"{v:g}", help=HELP["reg_strength"],
                             disabled=no_training or value("regularize") == "none", **changed)
            if no_training:
                st.caption("Regularization and QAT act during fine-tuning: set fine-tuning epochs above 0.")
            elif value("regularize") == "none":
                st.caption("λ applies once a regularization is chosen.")
            if not on_language:
                quantizer_control()
            uniform = value("quantizer") == "uniform"
            st.radio("Scheme", cfgmod.SCHEMES, key="scheme", horizontal=True, help=HELP["scheme"],
                     disabled=not uniform, **changed)
            if not uniform:
                st.caption(f"{quantizers.lookup(value('quantizer')).label} sets its own levels: "
                           "no scheme applies.")
            if not on_language:
                granularity_controls()
                method_radio()
            else:
                st.caption("Fine-tuning, QAT, regularization, rows/heads pruning and the Taylor, APoZ and "
                           "entropy criteria are for image models: set here, the Language page says so.")
            float_weights = value("bits", 32) >= 32
            st.toggle("Quantization-aware fine-tuning (QAT)", key="qat", help=HELP["qat"],
                      disabled=float_weights or no_training, **changed)
            both = (value("sparsity", 0) > 0 or structure == "2:4") and not float_weights
            st.radio("Order of prune and quantize", cfgmod.ORDERS, key="order", horizontal=True,
                     help=HELP["order"], disabled=not both, **changed)
            if not both:
                st.caption("The order matters only when both pruning and quantizing.")
            st.toggle("Huffman coding", key="huffman", help=HELP["huffman"], disabled=float_weights, **changed)
            if float_weights:
                st.caption("QAT and Huffman coding need quantized weights (bits below 32).")
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
    temperature = ss.get("_temperature", ss.get("temperature", DEFAULT_TEMPERATURE))
    sc = Scenario(source_of(ss["model"]), config, float(temperature), float(ss["_alpha"]))
    ss["scenario"] = {"model": ss["model"], "config": config.to_dict(),
                      "temperature": sc.temperature, "alpha": sc.alpha}
    return sc
