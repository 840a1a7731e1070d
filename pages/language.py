"""Language: what a format, bits, group size, method, sparsity and KV-cache bits do to a language model.

Thin: the controls here (the format ones under the sidebar's keys, so the URL holds them), the
numbers from compression.lm.evaluate through ui/language.py (cached, in a worker), the figures
from compression.lm.charts.
"""
import streamlit as st

import ui
from compression.lm import charts as lm_charts
from compression.lm import registry
from ui import language as lang
from ui.sidebar import bits_slider, granularity_controls, method_radio, quantizer_control, sparsity_slider
from ui.state import _control_changed

ui.handover()  # opened first by a deep link on a fresh server: rerun through app.py

ss = st.session_state
sc = ui.scenario()

st.title("Language models", anchor=False)
st.caption("Perplexity, agreement with the reference, size and energy per token of a compressed language model, "
           "on held-out CPython documentation text. The numbers are `python -m compression evaluate --model …`'s.")

# --------------------------------------------------------------------------- controls

c1, c2 = st.columns(2)
if ss.get("_lm_model") not in ui.LM_MODELS:
    ss["_lm_model"] = ui.DEFAULT_LM
model_id = c1.selectbox("Language model", ui.LM_MODELS, format_func=lang.model_label,
                        help="tinygpt-pydoc: a 1.1 M-parameter GPT trained here on CPython's documentation (about "
                             "3 s an evaluation); smollm2-135m: SmolLM2-135M-Instruct read from its GGUF file "
                             "(about 70 s and 3 GB an evaluation).",
                        **ui.keep("lm_model", ui.DEFAULT_LM))
lm = registry.lookup(model_id)
c2.markdown(f"**Reference:** {lm.reference}")
c2.caption(lm.description)
why = lang.unavailable(model_id)
if why:
    st.info(ui.literal(f"{model_id} cannot run on this server: {why}"), icon=":material/block:")
    st.stop()

f1, f2 = st.columns(2)
quantizer_control(f1, select=True)
bits_slider(f2)
g1, g2 = st.columns(2)
granularity_controls(g1, g2, explain=True)
m1, m2 = st.columns(2)
method_radio(m1, explain=True)
sparsity_slider(m2)

e1, e2 = st.columns(2)
emb_bits = e1.selectbox("Embedding bits", lang.APART_BITS, format_func=lang.apart_label,
                        help=lang.apart_help("The token (and position) embedding tables (a lookup: one row read per "
                                             "token, never pruned)"),
                        **ui.keep("lm_emb_bits", 0))
head_bits = e2.selectbox("LM head bits", lang.APART_BITS, format_func=lang.apart_label,
                         help=lang.apart_help("The output projection to the vocabulary"), **ui.keep("lm_head_bits", 0))
config = lang.with_bits_apart(sc.config, model_id, emb_bits, head_bits)

k1, k2, k3 = st.columns(3)
kv_bits = k1.selectbox("KV-cache bits", lang.KV_BITS, format_func=lambda b: "16 (float16)" if b >= 16 else str(b),
                       help="The key/value cache's format while the held-out text is scored: 16 = float16 as "
                            "computed; 8 or 4 = integers in groups with float16 scales.",
                       **ui.keep("kv_bits", 16))
default_ctx = lang.default_context(model_id)
stops = [c for c in lang.contexts(model_id) if c != default_ctx]  # the default is listed once, as 0
if ss.get("_kv_context") not in (0, *stops):
    ss["_kv_context"] = 0  # another model's context, or the default's own number
kv_ctx = k2.selectbox("KV-cache context", (0, *stops),
                      format_func=lambda c: f"{default_ctx:,} tokens (default)" if c == 0 else f"{c:,} tokens",
                      help="The context length in tokens the KV cache's memory and energy are given at (its memory "
                           "grows with context × batch); the default is the model's longest, up to 2,048.",
                      disabled=not stops, **ui.keep("kv_context", 0))
kv_batch = int(k3.number_input("KV-cache batch", 1, 256, step=1,
                               help="Sequences held at once: the cache's memory is per sequence times this.",
                               **ui.keep("kv_batch", 1)))
notes = [lang.kv_caption(kv_bits)]
if len(stops) == 1:
    notes.append(f"{model_id} attends to {stops[0]:,} tokens at most: no other context applies.")
st.caption(" ".join(notes))

if config.is_baseline:
    # the shared scenario starts uncompressed: say so, and offer the first question in one press
    def _four_bit_groups() -> None:
        ss.update(bits=4, granularity="group", group_size=32)
        _control_changed()
    h1, h2 = st.columns([3, 1], vertical_alignment="center")
    h1.info("These settings compress nothing (32-bit float weights and activations, no sparsity): the cards "
            "below are the reference itself. Move the bits, or try 4-bit weights in groups of 32.", icon=":material/lightbulb:")
    h2.button("4-bit, groups of 32", key="lm_suggest", icon=":material/compress:", on_click=_four_bit_groups,
              help="Sets weight bits 4, granularity 'group' and group size 32 (the other settings stay).")

# --------------------------------------------------------------------------- one evaluation

context = kv_ctx or default_ctx
items = ui.config_items(config)
key = lang.evaluate_key(model_id, items, kv_bits, context, kv_batch)
done = ui.is_done(key)
long = lang.SECONDS.get(model_id, 0) > ui.LINK_BUDGET_S
if long and not done:
    # the same Evaluate button in both runs, disabled while it works: a button the running page
    # no longer draws stays on screen, stale and clickable, under the progress bar to the end
    running = ss.get("_lm_run") == repr(key)
    st.button(f"Evaluate {model_id} (about {lang.SECONDS[model_id]} s)", type="primary", disabled=running,
              icon=":material/play_arrow:", key="lm_run", on_click=lambda: ss.__setitem__("_lm_run", repr(key)),
              help="Compresses a copy of the model with these settings and scores it on the held-out text; "
                   "progress shows while it works, and Stop ends it.")
    if not running:
        if ss.pop("_lm_stopped", None) == repr(key):
            st.info("Stopped before the evaluation finished: nothing was kept.", icon=":material/stop_circle:")
        st.stop()

stop_slot = st.empty()
if long and not done:
    def _stop_evaluation() -> None:
        ss["_lm_run"] = None
        ss["_lm_stopped"] = repr(key)
    stop_slot.button("Stop", icon=":material/stop:", key="lm_stop", on_click=_stop_evaluation,
                     help="Ends the evaluation now; nothing of it is kept.")
ok, result = ui.guard(ui.with_progress, lang.evaluate_lm, model_id, items, kv_bits, context, kv_batch,
                      label=f"Evaluating {model_id}", show=not done)
stop_slot.empty()
ss["_lm_run"] = None
if not ok:
    st.stop()

if result["contained"]:
    st.warning(f"This format {result['contained']}", icon=":material/info:")

cards = lang.cards(result)
for row in (cards[:4], cards[4:]):
    for col, card in zip(st.columns(len(row)), row):
        col.metric(card.label, card.value, help=card.help)
        col.caption(card.caption)
energy = result["energy_per_token"]
st.caption(" ".join(filter(None, [lang.apart_caption(result), "Energy per token is an **estimate**: "
                                  + "; ".join(energy["assumptions"]) + "."])))

st.subheader("Greedy continuation of the same prompt", anchor=False)
s1, s2 = st.columns(2)
s1.markdown(f"**Reference** ({result['reference']})")
s1.code(result["sample_prompt"] + result["sample_baseline"], language=None, wrap_lines=True)
s2.markdown("**Compressed** (these settings)")
s2.code(result["sample_prompt"] + result["sample"], language=None, wrap_lines=True)

ui.plot(st, ui.figure(("lm-layer-error", *key), lambda: lm_charts.layer_error_chart(result)))

d1, d2 = st.columns([1, 2], vertical_alignment="center")
d1.download_button("Evaluation as JSON", lang.result_json(result), file_name=f"evaluate-{model_id}.json",
                   mime="application/json", icon=":material/download:", on_click="ignore",
                   help="Exactly the dict `python -m compression evaluate --json` prints for these settings: "
                        "the numbers on the cards.")
with d2.expander("How these numbers are measured"):
    for note in result["notes"]:
        st.markdown(f"- {note}")

# --------------------------------------------------------------------------- the bits × method grid


def grid_section() -> None:
    st.subheader("Bits × rounding method", anchor=False)
    st.caption(f"Perplexity at {', '.join(map(str, lang.GRID_BITS))} bits with rounding to nearest, GPTQ and AWQ, "
               "the other settings as above. Computed once, then kept in the history for every session.")
    base_items = ui.config_items(lang.grid_base(config))
    gkey = repr((lang.GRID_KIND, model_id, base_items))
    stored = lang.grid_stored(model_id, base_items)
    if not stored:  # the same button, disabled while the grid runs (not drawn, it stayed on screen, stale)
        running = ss.get("_lm_grid_run") == gkey
        n = len(lang.GRID_BITS) * len(lang.GRID_METHODS)
        minutes = n * lang.SECONDS.get(model_id, 0) / 60
        length = f", {minutes:.0f} min or more" if minutes >= 2 else ""
        st.button(f"Compute the grid ({n} evaluations{length})", icon=":material/play_arrow:", key="lm_grid_run",
                  on_click=lambda: ss.__setitem__("_lm_grid_run", gkey), disabled=running,
                  help="Compresses and scores the model at every bits × method of the grid (GPTQ and AWQ "
                       "calibrate on training text); progress shows while it works, and Stop ends it.")
        if not running:
            if ss.pop("_lm_grid_stopped", None) == gkey:
                st.info("Stopped before the grid was complete: nothing was kept.", icon=":material/stop_circle:")
            return
    slot = st.empty()
    if not stored:
        def _stop_grid() -> None:
            ss["_lm_grid_run"] = None
            ss["_lm_grid_stopped"] = gkey
        slot.button("Stop", icon=":material/stop:", key="lm_grid_stop", on_click=_stop_grid,
                    help="Ends the grid now; nothing of it is kept.")
    ok, grid = ui.guard(ui.with_progress, lang.lm_grid, model_id, base_items, label="Bits × method grid",
                        show=not stored)
    slot.empty()
    ss["_lm_grid_run"] = None
    if not ok:
        return
    ui.plot(st, ui.figure(("lm-grid", model_id, base_items), lambda: lm_charts.lm_grid_chart(grid)))
    rows = lang.grid_rows(grid)
    st.dataframe(rows, hide_index=True, width="stretch", height=35 * (len(rows) + 1) + 3)  # every row, no scroll


ui.section(grid_section)
