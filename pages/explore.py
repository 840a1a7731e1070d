"""Explore: what sparsity × bits do to the chosen model, all live plots.

Thin: read the scenario the sidebar built, call the cached backend, draw charts.
"""
import streamlit as st

import ui
from compression import charts, criteria, energy, layer_error, measure, pipeline, quantizers, reproduce, structures
from compression.source import ModelSource
from ui import present
from ui.state import _control_changed

ui.handover()  # opened first by a deep link on a fresh server: rerun through app.py

sc = ui.scenario()
cfg = sc.config

st.title("Explore", anchor=False)
st.caption("Prune and quantize a pretrained model and see what it costs and saves. "
           "Every number says what kind it is: simulated, measured, theoretical or estimate.")

ui.stop_if_unavailable(sc.model)
wait = ui.heavy_from_link(cfg)
if wait and not ui.is_done(("evaluate", sc.model, sc.config_items())):
    st.info(ui.heavy_link_text(cfg, wait), icon=":material/hourglass_empty:")
    st.button(f"Run (about {wait:.0f} s)", key="run_link", type="primary", icon=":material/play_arrow:",
              on_click=ui.confirm_link,
              help="This link fine-tunes or trains: it runs once asked, then every visitor gets the result at once.")
    st.stop()
report = ui.evaluate_report(sc)
if report is None:
    st.stop()


# --------------------------------------------------------------------------- headline cards

def _caption(col, card: str, text: str) -> None:
    col.caption(text)
    st.session_state.setdefault("_card_captions", []).append(f"**{card}**: {text}")


def headline(r) -> None:
    st.session_state["_card_captions"] = []
    acc_kind = r.kinds.get("accuracy", "simulated")
    # key "cards": on a projector-sized screen (ui.style) the cards' captions fold into the one
    # "cards in detail" expander below them, so the first screen reaches a chart.
    cols = st.container(key="cards").columns(5)
    if r.accuracy is None:  # an architecture without weights, or an upload without data
        ui.upload.no_accuracy(cols[0], r)
    else:
        delta, dci = r.accuracy_delta, r.accuracy_delta_ci95
        verdict = measure.noise_verdict(delta, dci)
        cols[0].metric(f"Accuracy ({acc_kind})", ui.pct(r.accuracy), delta=ui.pts(delta),
                       delta_color=ui.delta_color(verdict), delta_arrow=ui.delta_arrow(delta),
                       help=f"Top-1 accuracy on the {r.n_test} held-out test images of {r.dataset}. The change "
                            "against the uncompressed model has a paired 95 % interval (both models scored on the "
                            "same images, Newcombe 1998): a change whose interval holds 0 is within noise. "
                            + ("Weights/activations are fake-quantized: what such hardware would give."
                               if acc_kind == "simulated" else "Nothing simulated: the model as it runs."))
        _caption(cols[0], "Accuracy", ui.delta_sentence(delta, dci, verdict)
                 + f" · uncompressed {ui.pct(r.accuracy_baseline)}")

    size = r.size_bytes
    cols[1].metric("Size (theoretical)", charts.fmt_bytes(size["compressed"]),
                   delta=f"{r.compression_ratio:.1f}× smaller", delta_arrow="off",
                   delta_color="normal" if r.compression_ratio > 1 else "off",
                   help="Bit count of the cheapest storage format per layer (dense, bitmask or CSR) "
                        "plus codebooks and 32-bit biases (Deep Compression accounting).")
    coded = (f" · Huffman-coded {charts.fmt_bytes(size['huffman'])} (theoretical)" if "huffman" in size else "")
    bpw = (f" · {r.bits_per_weight:.3f} bits per weight including scales" if r.bits_per_weight is not None else "")
    _caption(cols[1], "Size", f"fp32 {charts.fmt_bytes(size['fp32'])} · file {charts.fmt_bytes(size['file'])}, "
                    f"{charts._ratio_text(size['fp32'], size['file'])} (measured){coded}{bpw}")

    e, e0 = r.energy_pj["total"], r.energy_baseline_pj["total"]
    f = r.energy_factors
    a = r.energy_assumptions
    cols[2].metric("Energy (estimate)", charts.fmt_energy(e),
                   delta=f"{ui.factor_text(e0 / e)} less" if e else None, delta_arrow="off",
                   delta_color="normal" if e < e0 else "off",
                   help="Per inference: E = Σ MACs_eff·(E_mult + E_add) + Σ bits moved·e_bit. The saving "
                        "splits into three factors that multiply to it: compute (cheaper or fewer MACs), "
                        "memory (fewer bits moved at the same memory level) and placement (weights moving "
                        "between DRAM and on-chip memory). See the energy section.")
    _caption(cols[2], "Energy", f"= compute {ui.factor_text(f['compute'])} · memory {ui.factor_text(f['memory'])} · "
                    f"placement {ui.factor_text(f['placement'])} · weights in {ui.where_text(a['weights_in'])} "
                    f"(fp32 in {ui.where_text(a['baseline_weights_in'])}), on-chip "
                    f"{ui.kb_text(a['sram_bytes'] / 1024)}")

    cols[3].metric("Non-zero params", f"{r.params_nonzero:,}",
                   delta=f"{r.sparsity * 100:.1f} % pruned", delta_color="off", delta_arrow="off",
                   help="Parameters not exactly zero after compression, counted on the tensors. The delta is "
                        "the fraction of prunable weights pruning removed; zeros that quantization made by "
                        "rounding small kept weights are counted apart.")
    rounding = (f" · {r.zeros_from_rounding * 100:.1f} % of kept weights rounded to 0 (quantization)"
                if r.zeros_from_rounding > 0 else "")
    if r.heads:  # the delta is then of the attention projections' weights, which the head masks cover
        gone = sum(map(sum, r.heads["removed"]))
        rounding += (f" · {gone} of {sum(map(len, r.heads['removed']))} attention heads removed "
                     f"({r.sparsity * 100:.1f} % of the attention projections), {r.params_sliced:,} params once cut out")
    _caption(cols[3], "Non-zero params", f"of {r.params_total:,} · MACs {r.macs_effective:,} charged (theoretical){rounding}")

    lat = r.latency_ms
    lv = measure.latency_verdict(lat)
    if lv is not None:
        cols[4].metric("Latency (measured)", f"{lat['compressed']:.3f} ms", delta=str(lv.verdict),
                       delta_color="off", delta_arrow="off",
                       help=f"Median wall-clock time of one single-image forward pass on this server, ± half "
                            f"the interquartile range; compressed path: {r.latency_path}. The verdict compares "
                            f"it with the uncompressed model on the same runtime ({lv.reference}); a difference "
                            "within the run-to-run spread (or 5 %) is 'no change'. What the runtime alone "
                            "changes (PyTorch → ONNX Runtime, both fp32) is shown apart.")
        caption = (f"vs uncompressed on the same runtime: {lv.reference} {lv.reference_ms:.3f} ± "
                   f"{lv.reference_iqr / 2:.3f} ms (median ± IQR/2; compressed ± "
                   f"{(lat.get('compressed_iqr') or 0) / 2:.3f})")
        if lv.runtime is not None:
            caption += (f" · the runtime alone, PyTorch fp32 {lat['fp32']:.3f} ms → ONNX Runtime fp32: "
                        f"{lv.runtime} (not compression)")
        _caption(cols[4], "Latency", caption)
    else:
        cols[4].metric("Latency (measured)", "not measured")
    if r.notes:
        label = "Why no speed-up?" if lv is None or lv.verdict.word != "faster" else "About the speed"
        with cols[4].popover(label, icon=":material/help:"):
            for note in r.notes:
                st.markdown(f"- {note}")
        st.session_state.setdefault("_card_captions", []).extend(f"**{label}** {note}" for note in r.notes)


ui.section(headline, report)


def card_details() -> None:
    """The cards' captions again, in one expander shown only where ui.style folds them away."""
    with st.container(key="card_details"), st.expander("The cards in detail: intervals, files, assumptions",
                                                         icon=":material/info:"):
        for cap in st.session_state.pop("_card_captions", []):
            st.markdown(f"- {cap}")


ui.section(card_details)


# --------------------------------------------------------------------------- live scrubbing (issue 19)

def scrub_section() -> None:
    from compression import scrub
    from ui import scrubber
    st.subheader("Live scrubbing", anchor=False)
    items = ui.config_items(scrub.axes(cfg))
    st.caption("Every sparsity × bit-width point of this scenario computed once (kept in the history for every "
               "session); dragging redraws in the browser, and the release sets the sidebar to that point.")
    # a presenter drags live: presentation mode computes the grid without asking (seconds on the zoo's nets)
    if not (present.active() or computed_on_click(
            ("scrub", sc.model, items), "scrub_grid", items, "Compute the scrubbing grid",
            help="Evaluates every sparsity × bit-width point of this scenario once (no training unless the "
                 "scenario fine-tunes); then it is kept in the history for every session.")):
        return
    grid = ui.with_progress(ui.scrub_grid, sc.model, items, label="Scrubbing grid",
                            show=not ui.is_done(("scrub", sc.model, items)))
    scrubber.draw(grid, cfg.sparsity, cfg.bits)


# --------------------------------------------------------------------------- techniques (teaching views)


def _on_click(flag: str, value) -> None:
    st.session_state[flag] = value


def computed_on_click(key: tuple, flag: str, value, button: str,
                      help: str = "Runs this view's training once; then it is cached for everyone on this server.",
                      ) -> bool:
    """True when the view's result is cached or its button was pressed; else draws the button."""
    value = repr(value)  # session state keeps plain values (the key holds a ModelSource)
    if ui.is_done(key) or st.session_state.get(flag) == value:
        return True
    st.button(button, key=f"btn{flag}", icon=":material/play_arrow:", on_click=_on_click, args=(flag, value),
              help=help)
    return False


if report.accuracy is not None and present.active():  # the presenter drags live, under the cards
    ui.section(scrub_section)

if sc.model.kind == "upload":
    partial = ui.upload.rows_left_whole(report, cfg)
    if partial:
        st.info(ui.literal(partial), icon=":material/content_cut:")


# --------------------------------------------------------------------------- explanations

def formulas(c) -> None:
    """The math of the current setting, each formula from its technique's record."""
    if c.is_baseline:
        st.markdown("No compression: the float32 model as trained.")
    if c.regularizes and c.finetune_epochs > 0:
        st.markdown(f"**Sparsity regularization** ({c.regularize}, λ = {c.reg_strength:g}), while fine-tuning")
        st.latex(structures.regularizer(c.regularize).formula)
    kind = structures.structure(c.structure)
    if c.prunes and kind.ranked_by:  # the structure ranks by its own score (heads): no criterion formula
        st.markdown(f"**Pruning** ({c.structure}, {c.scope}) by **{kind.ranked_by}**: {kind.help}")
        st.latex(kind.formula)
    elif c.prunes:
        crit = criteria.lookup(c.criterion)
        st.markdown(f"**Pruning** ({c.structure}, {c.scope}) by **{crit.label}**: {crit.help}")
        st.latex(crit.formula)
        st.latex(kind.formula)
    if c.quantizes_weights:
        q = quantizers.resolve(c.quantizer, c.bits)
        grain = q.grain(c.grain).label
        width = q.width or c.bits
        st.markdown(f"**{q.label[:1].upper() + q.label[1:]} quantization** ({width} bits, {grain}, scales {q.scale_dtype}): {q.help}")
        st.latex(q.formula)
        note = q.note(c.bits, c.scheme)
        if note:
            st.caption(note)
        if c.qat and c.finetune_epochs > 0:
            st.markdown("**Quantization-aware fine-tuning** (straight-through estimator)")
            st.latex(r"\text{forward: } \hat w = Q(w),\qquad \text{backward: } "
                     r"\frac{\partial L}{\partial w} \approx \frac{\partial L}{\partial \hat w}")
    if c.huffman and c.quantizes_weights:
        st.markdown("**Huffman coding** of the weight codes and index gaps (lossless)")
        st.latex(r"\bar\ell = \sum_k p_k \ell_k,\qquad H \le \bar\ell < H + 1,\quad H = -\sum_k p_k \log_2 p_k")


# --------------------------------------------------------------------------- weights

st.subheader("Weights and quantization error", anchor=False)


@st.fragment
def weights_section(r, key: tuple) -> None:
    """Layer picker and toggles rerun only this fragment: one or two charts, not the page."""
    ui.section(_weights, r, key)  # a fragment rerun does not pass app.py's net: its own


def _weights(r, key: tuple) -> None:
    names = [lr.name for lr in r.layers]
    if st.session_state.get("_layer") not in names:  # another model, or a link's unknown layer
        st.session_state["_layer"] = names[0]
    charts_row = st.container()  # the charts first, their controls under them: a chart on the first screen
    c1, c2, c3 = st.columns([2, 1, 1], vertical_alignment="bottom")
    layer = c1.selectbox("Layer", names, **ui.keep("layer", names[0]),
                         format_func=lambda n: f"{n} {next(lr.shape for lr in r.layers if lr.name == n)}",
                         help="Which layer's weights to show in the histogram and the error distribution.")
    hide = c2.toggle("Hide zeros", **ui.keep("hide_zeros", False),
                     help="Hide the spike of exact zeros (pruned weights) to see the kept ones.")
    log_y = c3.toggle("Log scale", **ui.keep("log_y", False),
                      help="Logarithmic count axis: shows the thin tails.")
    ui.write_url(ui.scenario())  # a fragment rerun skips app.py: keep the link up to date here
    a, b = charts_row.columns(2)
    ui.plot(a, ui.figure(("hist", *key, layer, hide, log_y),
                      lambda: charts.weight_histogram(r, layer, hide_zeros=hide, log_y=log_y)))
    ui.plot(b, ui.figure(("error_dist", *key, layer), lambda: charts.error_distribution(r, layer)))


@st.fragment
def error_bars_section(r, key: tuple) -> None:
    ui.section(_error_bars, r, key)


def _error_bars(r, key: tuple) -> None:
    metric = st.radio("Error measure", ["sqnr_db", "mse"], **ui.keep("err_metric", "sqnr_db"), horizontal=True,
                      format_func={"sqnr_db": "SQNR (dB)", "mse": "MSE"}.get,
                      help="SQNR = 10·log₁₀(Σw² / Σ(ŵ − w)²), higher is better; "
                           "MSE = mean (ŵ − w)², lower is better.")
    ui.plot(st, ui.figure(("error_bars", *key, metric), lambda: charts.quant_error_bars(r, metric)))
    ui.write_url(ui.scenario())


fig_key = (sc.model, sc.config_items())  # what the report, hence every figure, depends on
weights_section(report, fig_key)
error_bars_section(report, fig_key)

noise = (measure.noise_verdict(report.accuracy_delta, report.accuracy_delta_ci95)
         if report.accuracy is not None else None)
left, right = st.columns(2)
with left.expander("What am I looking at?", icon=":material/help:"):
    st.markdown(
        "- **Cards**: accuracy on the held-out test split, and its change with a paired 95 % interval "
        + (f"(here {ui.delta_sentence(report.accuracy_delta, report.accuracy_delta_ci95, noise)}); "
           if report.accuracy is not None else f"({report.accuracy_note}); ")
        + "size by bit count, energy from a 45 nm model split into its three causes, non-zero parameters "
        "and the measured time of one forward pass.\n"
        "- **Weights**: the histogram of a layer before (grey) and after (indigo) compression; "
        "pruned weights pile up in the zero spike, quantized ones on the dotted grid.\n"
        "- **Quantization error**: SQNR = 10·log₁₀(Σw² / Σ(ŵ−w)²) per layer, and the spread of ŵ − w.\n"
        "- **Accuracy curves**: each point is a real measurement with the other settings held; "
        "the star is where you are.\n"
        "- **Size and energy**: where the bits and picojoules go, layer by layer; energy against the "
        "assumed on-chip memory size shows the cliff where weights no longer fit and come from DRAM.\n"
        "- **Techniques**: QAT against rounding after training, weights moving during regularized "
        "training, and the neuron scores that choose what rows pruning removes.")
with right.expander("The math of the current setting", icon=":material/function:"):
    ui.section(formulas, cfg)


# --------------------------------------------------------------------------- accuracy curves

def accuracy_section() -> None:
    st.subheader("Accuracy", anchor=False)
    ft_curves = False
    if cfg.finetune_epochs > 0:
        ft_curves = st.toggle("Fine-tune every curve point too (slow: seconds per point, then cached)",
                              key="curves_finetune",
                              help="Off: the curves prune in one shot without fine-tuning, so they draw at "
                                   "once; the cards above are fine-tuned.")
    base_ci = tuple(report.accuracy_baseline_ci95 or ())
    c1, c2 = st.columns(2)
    reached = f"at {report.sparsity * 100:.0f} % sparsity reached"  # what pruning gave, not the slider
    curves = [("sparsity", ui.SPARSITY_CURVE, cfg.sparsity, f"at {ui.bits_text(cfg.bits)}", c1),
              ("bits", ui.BITS_CURVE, cfg.bits, reached, c2)]
    if cfg.structure == "2:4":  # 2:4 is always 50 %: a sparsity axis does not apply
        curves.pop(0)
        c1.caption("No accuracy-vs-sparsity curve: 2:4 pruning keeps 2 of every 4 weights, always 50 % "
                   "sparsity. Pick another pruning structure to vary it.")
    if report.accuracy is None:  # nothing to measure accuracy on: say why instead of empty charts
        curves = []
        st.caption(ui.upload.why_no_curves(report))
    for field, values, current, held, column in curves:
        ok, curve = ui.guard(ui.curve_points, sc, report, field, values, ft_curves)
        if ok:
            points, note = curve
            fig = ui.figure((f"curve_{field}", *fig_key, ft_curves), lambda: charts.accuracy_curve(
                points, field, current, report.accuracy_baseline, base_ci, note=f"{note} · {held}" if note else held))
            ui.plot(column, ui.with_card_star(fig, report.accuracy, tuple(report.accuracy_ci95),
                                              one_shot=note is not None))
            by_bits = {p["bits"]: p["accuracy"] for p in points} if field == "bits" else {}
            surprise = quantizers.resolve(cfg.quantizer, 2).note(2, cfg.scheme)  # the record explains it
            if by_bits.get(1, 0) > by_bits.get(2, 1) and surprise:
                column.caption(f"Why does 1 bit beat 2 bits? {surprise}")


ui.section(accuracy_section)


# --------------------------------------------------------------------------- attention heads

def heads_section() -> None:
    """Structure 'heads': every head's score and the heads removed (Michel et al. 2019)."""
    st.subheader("Attention heads", anchor=False)
    ui.plot(st, ui.figure(("head_scores", *fig_key), lambda: charts.head_scores(report.heads)))
    st.caption(structures.structure("heads").help + f" The smaller model has {report.params_sliced:,} of "
               f"{report.params_total:,} parameters and computes exactly what the gated one does.")


if report.heads:
    ui.section(heads_section)


# --------------------------------------------------------------------------- size

def size_section() -> None:
    st.subheader("Size", anchor=False)
    c1, c2 = st.columns(2)
    ui.plot(c1, ui.figure(("size_waterfall", *fig_key), lambda: charts.size_waterfall(report)))
    ui.plot(c2, ui.figure(("size_breakdown", *fig_key), lambda: charts.size_breakdown(report)))
    st.caption("Storage format per layer (the cheapest of the three, Deep Compression accounting): "
               + " · ".join(f"**{lr.name}** {lr.format}" for lr in report.layers)
               + ". dense = every weight at b bits; bitmask = 1 bit per weight + kept values; "
                 "csr-p = kept values with p-bit relative indices.")


ui.section(size_section)


if report.accuracy is not None and not present.active():  # presentation mode draws it under the cards
    ui.section(scrub_section)


def qat_view(c) -> None:
    epochs = min(max(c.finetune_epochs, 3), 5)  # seconds per bit-width, not minutes
    # quantization only (no pruning, no penalty): the view isolates what QAT adds
    items = ui.config_items(c.replace(bits=32, qat=False, finetune_epochs=0, sparsity=0.0, structure="unstructured",
                                      layer_sparsity=(), prune_steps=1, regularize="none", huffman=False))
    key = ("teaching", "qat", sc.model, items, epochs)
    st.markdown(f"**Quantization-aware fine-tuning vs rounding after training**, at each bit-width, without "
                f"pruning: QAT fine-tunes {epochs} epochs under quantization; post-training quantization fine-tunes "
                f"the same {epochs} epochs in float (the same recipe), then rounds. Quantizer, scheme and "
                "activation bits as set.")
    if computed_on_click(key, "_run_qat", (sc.model, items, epochs),
                         f"Measure QAT and PTQ at {len(ui.QAT_BITS)} bit-widths (seconds to a minute, then cached)"):
        ok, rows = ui.guard(ui.with_progress, ui.qat_vs_ptq, sc.model, items, epochs,
                            label="QAT vs PTQ", show=not ui.is_done(key))
        if ok:
            ui.plot(st, ui.figure(("qat", *key), lambda: charts.qat_vs_ptq(rows)))


def regularization_view(c) -> None:
    kind = c.regularize if c.regularize != "none" else "l1"
    strength = c.reg_strength if c.regularize != "none" else 1e-4
    epochs = min(max(c.finetune_epochs, 3), 5)  # a few snapshots, seconds each
    key = ("teaching", "reg", sc.model, kind, strength, epochs, c.seed)
    st.markdown(f"**Weights during {kind} regularized fine-tuning** (λ = {strength:g}, {epochs} epochs"
                + ("" if c.regularize != "none" else "; pick a regularization in Advanced to change it") + ")")
    if computed_on_click(key, "_run_reg", key,
                         f"Train {epochs} regularized epochs and watch the weights (seconds, then cached)"):
        ok, snaps = ui.guard(ui.with_progress, ui.regularized_snapshots, sc.model, kind, strength, epochs,
                             c.seed, label="Regularized fine-tuning", show=not ui.is_done(key))
        if ok:
            epoch = st.select_slider("Epoch", [s["epoch"] for s in snaps], value=snaps[-1]["epoch"],
                                     key="reg_epoch", help="0 = before training; slide to see the mass "
                                                           "shift towards zero.")
            ui.plot(st, ui.figure(("reg", *key, epoch), lambda: charts.weight_snapshots(snaps, epoch, ui.NEAR_ZERO)))


def neuron_view(c) -> None:
    record = criteria.neuron_view(c.criterion)
    crit = record.name
    s = c.sparsity if c.structure == "rows" and c.sparsity > 0 else 0.5
    st.markdown(f"**The neuron scores that choose what to prune** ({record.label}, rows pruning at "
                f"{s:.0%}, one shot on the pretrained model, {c.scope} scope)")
    ok, res = ui.guard(ui.neuron_scores, sc.model, crit, s, c.scope, c.seed)
    if not ok:
        return
    names = [n for n, v in res["layers"].items() if len(v["scores"]) > 1]
    if st.session_state.get("neuron_layer") not in names:  # another model
        st.session_state["neuron_layer"] = names[0]
    layer = st.selectbox("Layer", names, key="neuron_layer",
                         help="Which layer's neuron scores to show.")
    v = res["layers"][layer]
    ui.plot(st, ui.figure(("neurons", sc.model, crit, s, c.scope, c.seed, layer),
                          lambda: charts.neuron_scores(v["scores"], v["pruned"], layer, res["label"],
                                                       lower_is_pruned=record.lower_is_pruned)))
    st.caption(record.neuron_caption)


def techniques_section() -> None:
    st.subheader("Techniques, seen at work", anchor=False)
    if sc.model.kind != "zoo" or report.accuracy is None:
        # these views fine-tune and score neurons on the model's own training and calibration images
        st.caption("These views train on the model's own training images: they need a zoo model with its data "
                   f"({report.accuracy_note or 'this model has none here'}).")
    else:
        tab_qat, tab_reg, tab_neuron = st.tabs(["QAT vs post-training", "Regularized training", "Neuron scores"])
        with tab_qat:
            qat_view(cfg)
        with tab_reg:
            regularization_view(cfg)
        with tab_neuron:
            neuron_view(cfg)


ui.section(techniques_section)


# --------------------------------------------------------------------------- calibrated methods, layer by layer


def rounding_methods_view(c) -> None:
    items = ui.config_items(c.replace(method="rtn", layer_bits=(), finetune_epochs=0, qat=False))
    key = ("teaching", "methods", sc.model, items)
    st.markdown("**Rounding to nearest vs GPTQ vs AWQ** at 2, 3 and 4 bits, on the quantizer, granularity and "
                "pruning as set. GPTQ (Frantar et al. 2022) compensates each rounding error on the weights not yet "
                "rounded; AWQ (Lin et al. 2024) scales the input channels that carry large activations before "
                "rounding. Both calibrate on training images; accuracy is on the test split.")
    if computed_on_click(key, "_run_methods", (sc.model, items),
                         "Compare RTN, GPTQ and AWQ at 2, 3 and 4 bits (seconds to a minute, then cached)"):
        ok, result = ui.guard(ui.with_progress, ui.rounding_methods, sc.model, items,
                              label="Rounding methods", show=not ui.is_done(key))
        if ok:
            ui.plot(st, ui.figure(("methods", *key), lambda: charts.methods_chart(result)))


def layer_by_layer_view(c) -> None:
    ok, v = ui.guard(ui.layer_views, sc.model, ui.config_items(c))
    if not ok:
        return
    metric = st.radio("Output error as", ["SQNR (dB)", "cosine"], horizontal=True, key="layer_error_metric",
                      help="How far each layer's output moves from the float model's: SQNR in dB (higher is closer) "
                           "or the cosine similarity of the two outputs (1 = same direction).")
    ui.plot(st, ui.figure(("layer_error", sc.model, ui.config_items(c), metric),
                          lambda: charts.layer_error_chart(v["errors"], "sqnr_db" if metric.startswith("SQNR") else "cosine")))
    st.caption("Alone: only this layer compressed, its input the float model's. Accumulated: the whole compressed "
               "model, so the errors of earlier layers arrive with the input.")
    names = list(v["activations"])
    if st.session_state.get("range_layer") not in names:
        st.session_state["range_layer"] = names[0]
    layer = st.selectbox("Layer", names, key="range_layer",
                         help="Which layer's input activations and weight ranges to show.")
    left, right = st.columns(2)
    ui.plot(left, ui.figure(("act_hist", sc.model, layer), lambda: charts.activation_histogram(v["activations"], layer)))
    ui.plot(right, ui.figure(("w_ranges", sc.model, ui.config_items(c), layer),
                             lambda: charts.weight_range_chart(v["weights"], layer)))
    costs = layer_error.costs(report, v["shapes"])
    a, b, d, e = st.columns(4)
    a.metric("MACs per image", f"{costs['macs']:,}", help="theoretical: multiply-accumulates the layers run")
    b.metric("BitOps per image", f"{costs['bitops']:.3g}",
             delta=f"{costs['bitops'] / max(1, costs['bitops_float']):.1%} of float", delta_color="off",
             help=f"theoretical: MACs × weight bits × activation bits ({costs['act_bits']})")
    d.metric("Weight memory", charts.fmt_bytes(costs["weight_bytes"]), help="theoretical: the compressed size")
    e.metric("Peak activation memory", charts.fmt_bytes(costs["peak_activation_bytes"]),
             help="theoretical: the largest input + output of one layer for one image, at the activation bits")


def outliers_view(c) -> None:
    alpha = st.slider("SmoothQuant migration strength α", 0.0, 1.0, value=float(c.smooth_alpha or 0.5), step=0.05,
                      key="smooth_alpha_view",
                      help="0: activations unchanged, the weights absorb nothing; 1: all the range moves into the weights. "
                           "Set smooth_alpha (URL) or --smooth-alpha (CLI) to evaluate W8A8 with it.")
    ok, view = ui.guard(ui.smooth_outliers, sc.model, alpha)
    if not ok:
        return
    names = list(view["layers"])
    if st.session_state.get("outlier_layer") not in names:
        st.session_state["outlier_layer"] = names[-1]
    layer = st.selectbox("Layer", names, key="outlier_layer",
                         help="Which layer's per-channel activation and weight ranges to show, before and after smoothing.")
    ui.plot(st, ui.figure(("outliers", sc.model, alpha, layer), lambda: charts.outliers_chart(view, layer)))


def calibrated_section() -> None:
    st.subheader("Calibrated methods, layer by layer", anchor=False)
    if sc.model.kind != "zoo" or report.accuracy is None:
        st.caption("These views calibrate on the model's own training images: they need a zoo model with its data "
                   f"({report.accuracy_note or 'this model has none here'}).")
        return
    views = {"RTN vs GPTQ vs AWQ": rounding_methods_view, "Layer by layer": layer_by_layer_view,
             "Outliers (SmoothQuant)": outliers_view}
    for tab, view in zip(st.tabs(list(views)), views.values()):
        with tab:
            view(cfg)


ui.section(calibrated_section)


# --------------------------------------------------------------------------- number formats

FORMAT_HELP_GROUP = ("Weights per group sharing one scale (INT4 and FP4 here; NF4 keeps its blocks of 64 and "
                     "MXFP4 its 32). Smaller groups follow an outlier closely but store more scales.")


@st.fragment
def formats_section(model: ModelSource, names: list[str]) -> None:
    """Four 4-bit formats' grids over one layer, and one outlier stretching its group's grid: the
    group-size control reruns only this fragment."""
    ui.section(_formats, model, names)


def _formats(model: ModelSource, names: list[str]) -> None:
    st.subheader("Number formats: what 4 bits can represent", anchor=False)
    charts_row = st.container()
    c1, c2 = st.columns([1, 2], vertical_alignment="bottom")
    layer = c1.selectbox("Layer", names, **ui.keep("fmt_layer", names[0]),
                         help="Whose weights the format grids are drawn over (the same layer in both charts).")
    g = c2.select_slider("Group size in these charts", quantizers.GROUP_SIZES, **ui.keep("fmt_group", 128), help=FORMAT_HELP_GROUP)
    ok, views = ui.guard(ui.format_views, model, layer, g)
    if not ok:
        return
    left, right = charts_row.columns(2)
    ui.plot(left, ui.figure(("fmt_grids", model, layer, g), lambda: charts.format_grids(views["grids"])))
    ui.plot(right, ui.figure(("fmt_outlier", model, layer, g), lambda: charts.group_outlier(views["outlier"])))
    st.caption("Bits per weight include the scales: INT4 g128 with float16 scales is 4 + 16/128 = 4.125, MXFP4 "
               "(E8M0 per 32) 4.25, NVFP4 (E4M3 per 16 + one float32) 4.5, NF4 (float32 absmax per 64) 4.5; a row "
               "that is not a multiple of g ends in a shorter group. Pick a format in the sidebar (Quantizer) "
               "to measure its accuracy.")


if sc.model is not None:
    formats_section(sc.model, [lr.name for lr in report.layers])


# --------------------------------------------------------------------------- Deep Compression


def deep_compression_section(model: ModelSource) -> None:
    """The paper's table beside ours, per stage and per layer: computed on a click, then cached."""
    st.subheader("Deep Compression, reproduced", anchor=False)
    st.caption(f"Han, Mao & Dally 2016 (arXiv:1510.00149), Table 1: {reproduce.PAPER_NAMES[model.name]} pruned, "
               "then k-means quantized, then Huffman-coded. Our three stages run on this model and data; "
               "the paper's figures come from its table.")
    key = ("deep_compression", model)
    if not (ui.is_done(key) or st.session_state.get("_run_deep") == str(model)):
        st.button("Run the three stages (about a minute, then cached)", key="run_deep",
                  icon=":material/play_arrow:",
                  on_click=lambda: st.session_state.update(_run_deep=str(model)),
                  help="Prunes, fine-tunes, shares weights by k-means and Huffman-codes them, as Han et al. 2016 did.")
        return
    ok, result = ui.guard(ui.with_progress, ui.deep_compression, model,
                          label="Deep Compression", show=not ui.is_done(key))
    if not ok:
        return
    c1, c2 = st.columns(2)
    ui.plot(c1, ui.figure(("deep_stages", model), lambda: charts.deep_compression_stages(result)))
    names = {"pruned": "pruned", "quantized": "+ quantized (k-means)", "huffman": "+ Huffman"}

    def cell(v, fmt):
        return "–" if v is None else fmt.format(v)

    with c2:
        op = result["operating_point"]
        st.markdown(f"**Per stage**, each counted as the paper counts it (error = 100 % − test accuracy, "
                    f"95 % interval; baseline: ours {result['error_baseline_pct']:.2f} %, paper "
                    f"{result['paper']['error_reference_pct']:.2f} %). Ours keeps {op['ours']['weights_kept_pct']:.1f} % "
                    f"at {op['ours']['weight_bits']} bits, the paper {op['paper']['weights_kept_pct']:g} % at "
                    f"{op['paper']['weight_bits']} bits.")

        def stage_rows(stages: dict, paper: bool) -> list[dict]:
            return [{"stage": names.get(stage, stage), "counts": row["ours"]["accounting"],
                     "ours: ratio": f"{row['ours']['ratio']:.1f}×",
                     "ours: error": (f"{row['ours']['error_pct']:.2f} % ({row['ours']['error_ci95_pct'][0]:.2f}–"
                                     f"{row['ours']['error_ci95_pct'][1]:.2f})"),
                     **({"paper: ratio": cell(row["paper"]["ratio"], "{:.0f}×"),
                         "paper: error": cell(row["paper"]["error_pct"], "{:.2f} %")} if paper else {})}
                    for stage, row in stages.items()]

        st.dataframe(stage_rows(result["stages"], True), hide_index=True, width="stretch")
        at = result.get("at_paper_point")
        if at:
            st.markdown(f"**At the paper's operating point** ({at['operating_point']['weights_kept_pct']:.1f} % kept, "
                        f"{at['operating_point']['weight_bits']} bits)")
            st.dataframe(stage_rows({k: {"ours": v} for k, v in at["stages"].items()}, False),
                         hide_index=True, width="stretch")
        st.markdown(f"**Per layer** (paper: {result['paper']['weights_kept_pct']:g} % of weights kept overall, "
                    f"{result['paper']['weight_bits']} bits)")
        st.dataframe([{"layer": lr["name"], "weights": f"{lr['weights']:,}",
                       "kept": f"{lr['weights_kept_pct']:.1f} %", "bits": lr["weight_bits"],
                       "Huffman bits/weight": f"{lr['huffman_bits_per_weight']:.2f}",
                       "bits/index": cell(lr["huffman_bits_per_index"], "{:.2f}")}
                      for lr in result["layers"]], hide_index=True, width="stretch")
    q = result["stages"]["huffman"]["ours"]
    st.caption(f"Written file after quantization and Huffman coding: {charts.fmt_bytes(q['file_bytes'])} "
               f"({q['ratio_file']:.1f}× smaller, measured). " + " ".join(result["notes"]))


if sc.model.kind == "zoo" and sc.model.name in reproduce.PAPER_NAMES:
    ui.section(deep_compression_section, sc.model)


SRAM_OPTIONS = (8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0, 16384.0)


def _sram_picked() -> None:
    st.session_state["sram_kb"] = float(st.session_state["sram_kb_pick"])
    _control_changed()



def energy_section() -> None:
    st.subheader("Energy (estimate)", anchor=False)
    assumed = report.energy_assumptions
    ui.plot(st, ui.figure(("energy", *fig_key), lambda: charts.energy_breakdown(report)))
    c1, c2 = st.columns(2)
    with c1:
        options = tuple(sorted({*SRAM_OPTIONS, float(cfg.sram_kb)}))  # a link's own size stays pickable
        st.session_state["sram_kb_pick"] = float(cfg.sram_kb)
        st.select_slider("On-chip memory (SRAM) the weights may use", options=options, key="sram_kb_pick",
                         format_func=ui.kb_text, on_change=_sram_picked,
                         help="An assumption of the energy estimate: how much on-chip memory the hardware has. "
                              "A model whose weights fit is read from SRAM (≈ 5–50 pJ per 32-bit word, larger "
                              "memories cost more per access), else from DRAM (640 pJ). In the link as sram_kb.")
    curve = pipeline.energy_curve(report)
    ui.plot(c2, ui.figure(("energy_sram", *fig_key), lambda: charts.energy_vs_sram(
        curve, cfg.sram_kb, assumed["weight_bits"] / 8 / 1024, assumed["baseline_weight_bits"] / 8 / 1024)))
    f = report.energy_factors
    c1.markdown(
        f"**Where the {ui.factor_text(report.energy_baseline_pj['total'] / report.energy_pj['total'])} comes from** "
        f"(the three multiply to it): compute **{ui.factor_text(f['compute'])}** (cheaper or fewer MACs) × memory "
        f"**{ui.factor_text(f['memory'])}** (fewer bits moved at the same memory level) × placement "
        f"**{ui.factor_text(f['placement'])}** (weights moved between DRAM and on-chip memory). "
        + (f"Placement is the cliff on the chart beside this: with {ui.kb_text(cfg.sram_kb)} on chip the compressed "
           f"weights ({charts.fmt_bytes(assumed['weight_bits'] / 8)}) sit in "
           f"{ui.where_text(assumed['weights_in'])} and the fp32 ones "
           f"({charts.fmt_bytes(assumed['baseline_weight_bits'] / 8)}) "
           f"in {ui.where_text(assumed['baseline_weights_in'])}; a larger on-chip memory holds both, and the factor "
           "falls back to 1×." if f["placement"] > 1.05 else
           "Placement is 1×: both models' weights sit at the same memory level at this on-chip size."))
    with st.expander("Energy constants, sources and assumptions", icon=":material/bolt:"):
        profile = energy.profile(report.energy_profile, cfg.sram_kb)
        st.markdown(
            f"- Zero skipping: **{'on' if cfg.skip_zeros else 'off'}** — "
            + ("MACs on zero weights are skipped (EIE-style hardware)." if cfg.skip_zeros
               else "every MAC is charged, zeros included (dense CPU/GPU kernels)"
               + ("; pruned rows are cut out of the matrices (a smaller dense model), so their MACs "
                  "are gone on any hardware." if cfg.structure == "rows" and cfg.sparsity > 0 else "."))
            + f"\n- On-chip memory: **{ui.kb_text(assumed['sram_bytes'] / 1024)}** (assumed; set above), "
              f"**{assumed['sram_pj_per_32bit']:.1f} pJ** per 32-bit read (Horowitz's 8 KB / 32 KB / 1 MB points, "
              f"log-log interpolated); DRAM **{assumed['dram_pj_per_32bit']:.0f} pJ** per 32-bit read."
            + f"\n- Weights are read once per inference from **{ui.where_text(assumed['weights_in'])}** (compressed, "
              f"{charts.fmt_bytes(assumed['weight_bits'] / 8)}) and **{ui.where_text(assumed['baseline_weights_in'])}** "
              f"(fp32, {charts.fmt_bytes(assumed['baseline_weight_bits'] / 8)})."
            + "\n- Integer multiply ≈ 0.2 pJ·(b_w·b_a)/64; float when either operand is 32-bit. "
              "Activations are read and written once, from SRAM.")
        st.dataframe([{"operation": row["operation"], "energy (pJ)": f"{row['energy_pj']:g}", "source": row["source"]}
                      for row in energy.constants_table(profile)], hide_index=True, width="stretch")
        st.caption(f"Profile source: {profile.source}")


ui.section(energy_section)
ui.section(ui.downloads.download_row, sc, report)  # report (HTML), config (JSON), compressed model file
