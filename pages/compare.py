"""Compare: two to four scenarios side by side (the current one, presets, saved ones from history)."""
import streamlit as st

import ui
from compression import charts, measure
from compression.config import PRESETS, CompressionConfig, to_query
from compression.source import ModelSource
from ui import studio, upload
from ui.fmt import short

ui.handover()  # opened first by a deep link on a fresh server: rerun through app.py
studio.goto_explore_if_asked()

sc = ui.scenario()
ss = st.session_state

st.title("Compare", anchor=False)
st.caption("Two to four scenarios side by side: their accuracy with its interval, where the weights go, "
           "what they cost in bytes and energy.")
ui.stop_if_unavailable(sc.model)

CURRENT = "current scenario (sidebar)"


def _words(config: CompressionConfig) -> str:
    query = to_query(config)
    return " ".join(f"{k}={v}" for k, v in query.items()) or "no compression"


# label -> (model, config); the current scenario first, then presets (in the variant for this
# model's data set, as the sidebar's preset picker sets them), then the named saves
options: dict[str, tuple[ModelSource, CompressionConfig]] = {CURRENT: (sc.model, sc.config)}
for name in PRESETS:
    options[f"preset: {name}"] = (sc.model, ui.preset_config(name, sc.model))
saves = []  # newest first
for row in studio.saved_list():
    saved_model = ui.source_of(row["model"])  # the stored word, parsed once
    if saved_model is not None:
        saves.append(f"saved: {row['name']} ({short(row['model'], 32)})")
        options.setdefault(saves[-1], (saved_model, row["config"]))

# the two newest named saves when there are two: what a presenter saved to show; else the sidebar vs int8
default = saves[:2] if len(saves) >= 2 else [CURRENT, "preset: int8" if "preset: int8" in options else list(options)[1]]
picked = st.multiselect("Scenarios (2 to 4)", list(options), **ui.keep("compare", default), max_selections=4,
                        help="Presets apply to the sidebar's model, as the sidebar's preset picker sets them; saved "
                             "scenarios are the ones saved with a name on Explore (kept across restarts).")
picked = [p for p in picked if p in options]
if len(picked) < 2:
    st.info("Pick at least two scenarios to compare.", icon=":material/compare:")
    st.stop()

reports = []
for label in picked:
    model, config = options[label]
    items = ui.config_items(config)
    show = ui.needs_training(model, config) and not ui.is_done(("evaluate", model, items))
    ok, report = ui.guard(ui.with_progress, ui.evaluate, model, items,
                          label=f"Fine-tuning {model} for '{label}'", show=show)
    if ok:
        reports.append((label, model, config, report))
if len(reports) < 2:
    st.stop()


def short_label(label: str) -> str:
    return label.replace(" (sidebar)", "")


# --------------------------------------------------------------------------- cards

cols = st.columns(len(reports))
for col, (label, model, config, r) in zip(cols, reports):
    with col.container(border=True):
        st.markdown(f"**{ui.literal(short_label(label))}**")
        st.caption(ui.literal(f"{model} · {_words(config)}", limit=160))
        if r.accuracy is None:  # an architecture without weights, or an upload without data
            upload.no_accuracy(st, r)
        else:
            delta = getattr(r, "accuracy_delta", None)
            delta_ci = getattr(r, "accuracy_delta_ci95", None)
            if delta is None:
                delta = r.accuracy - r.accuracy_baseline
            verdict = measure.noise_verdict(delta, delta_ci) if delta_ci is not None else None
            st.metric(f"Accuracy ({r.kinds.get('accuracy', 'simulated')})", ui.pct(r.accuracy), delta=ui.pts(delta),
                      delta_color=ui.delta_color(verdict), delta_arrow=ui.delta_arrow(delta))
            if delta_ci is not None:
                st.caption(f"change vs uncompressed: {ui.delta_sentence(delta, delta_ci, verdict)}")
            else:
                st.caption(f"95% Wilson interval {ui.pct(r.accuracy_ci95[0])}–{ui.pct(r.accuracy_ci95[1])} "
                           f"on {r.n_test} test images; uncompressed {ui.pct(r.accuracy_baseline)}")
        st.metric("Size (theoretical)", charts.fmt_bytes(r.size_bytes["compressed"]),
                  delta=f"{r.compression_ratio:.1f}× smaller", delta_arrow="off", delta_color="off")
        st.metric("Energy (estimate)", charts.fmt_energy(r.energy_pj["total"]))
        st.button("Open in Explore", key=f"compare_open_{label}", on_click=studio.open_in_explore,
                  args=(model, config.to_dict()), icon=":material/open_in_new:",
                  help="Sets the sidebar to this scenario and opens Explore.")

# --------------------------------------------------------------------------- weights and bars

st.subheader("Weights", anchor=False)
common = [lr.name for lr in reports[0][3].layers
          if all(any(x.name == lr.name for x in rep.layers) for *_, rep in reports[1:])]
if common and len({m for _, m, _, _ in reports}) == 1:
    layer = st.selectbox("Layer", common, key="compare_layer",
                         help="Which layer's weights to overlay for the scenarios above.")
    series = [(short_label(label), r) for label, _, _, r in reports]
    ui.plot(st, charts.compare_histograms(series, layer))
else:
    st.caption("The scenarios use different models: their weights are not comparable layer by layer.")

st.subheader("Size and energy", anchor=False)
b1 = b2 = st.container()  # one above the other: side by side they are too narrow at 150 % zoom
names = [short_label(label) for label, *_ in reports]
ui.plot(b1, charts.compare_bars(list(zip(names, [r.size_bytes["compressed"] for *_, r in reports])), "size_bytes"))
ui.plot(b2, charts.compare_bars(list(zip(names, [r.energy_pj["total"] for *_, r in reports])), "energy_pj"))
