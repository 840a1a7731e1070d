"""The one shared sidebar: model, preset, sliders and the advanced controls."""
from __future__ import annotations

import streamlit as st

from compression import config as cfgmod
from compression import energy
from compression.config import PRESETS, CompressionConfig, ConfigError
from ui import present, upload
from ui.backend import model_caption, model_label
from ui.state import (ACT_BIT_OPTIONS, BIT_OPTIONS, CUSTOM, T_MAX, T_MIN, T_STEP, Scenario,
                      _apply_preset, _config_from_state, _control_changed, init_state)

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


def sidebar(page: str = "Explore") -> Scenario:
    """The one shared sidebar (drawn by app.py on every page); returns the scenario.

    `page` is the title of the page being drawn: a control that does not apply there (or in
    the current setting) is disabled and says why, rather than silently doing nothing.
    """
    init_state()
    ss = st.session_state
    on_distill = page == "Distill"
    with st.sidebar:
        present.steps()  # presentation mode: presets as steps (nothing otherwise)
        st.markdown("### Scenario")
        st.selectbox("Model", upload.options(ss["model"]), key="model", format_func=model_label,
                     help=HELP["model"], disabled=on_distill)
        st.caption("Distill picks its own teacher and student on the page." if on_distill
                   else model_caption(ss["model"]))
        upload.panel()  # the upload form while "Upload your own…" is picked (ui.upload)
        st.selectbox("Preset", [CUSTOM, *PRESETS], key="preset", on_change=_apply_preset,
                     help=HELP["preset"])
        two_four = ss.get("structure") == "2:4"
        st.slider("Sparsity", 0, 99, step=1, format="%d %%", key="sparsity",
                  on_change=_control_changed, help=HELP["sparsity"], disabled=two_four)
        if two_four:
            st.caption("2:4 pruning keeps 2 of every 4 weights: always 50 % sparsity, "
                       "so this slider does not apply.")
        st.select_slider("Weight bits", options=BIT_OPTIONS, key="bits",
                         format_func=lambda b: "32 (float)" if b == 32 else str(b),
                         on_change=_control_changed, help=HELP["bits"])
        st.slider("Distillation temperature T", T_MIN, T_MAX, step=T_STEP, format="%.1f",
                  key="temperature", help=HELP["temperature"], disabled=not on_distill)
        if not on_distill:
            st.caption("The temperature is used on the Distill page only.")
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
                     format_func=lambda q: {"kmeans": "k-means", "pow2": "powers of 2"}.get(q, q),
                     help=HELP["quantizer"], **changed)
            kmeans = ss.get("quantizer") == "kmeans"
            st.radio("Scheme", cfgmod.SCHEMES, key="scheme", horizontal=True, help=HELP["scheme"],
                     disabled=kmeans, **changed)
            if kmeans:
                st.caption("k-means learns its shared values: no scheme applies.")
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
