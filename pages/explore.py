"""Explore: what sparsity × bits do to the chosen model, all live plots.

Thin: read the scenario the sidebar built, call the cached backend, draw charts.
"""
import streamlit as st

import ui
from compression import charts, energy

ui.handover()  # opened first by a deep link on a fresh server: rerun through app.py

sc = ui.scenario()
cfg = sc.config

st.title("Explore", anchor=False)
st.caption("Prune and quantize a pretrained model and see what it costs and saves. "
           "Every number says what kind it is: simulated, measured, theoretical or estimate.")

ui.stop_if_unavailable(sc.model)
wait = ui.heavy_from_link(cfg)
if wait and not ui.is_done(("evaluate", sc.model, sc.config_items())):
    st.info(f"This link asks for {cfg.finetune_epochs} fine-tuning epochs × {cfg.prune_steps} prune steps: "
            f"about {wait:.0f} s of training on this server. It starts when you press Run.",
            icon=":material/hourglass_empty:")
    st.button(f"Run (about {wait:.0f} s)", key="run_link", type="primary", icon=":material/play_arrow:",
              on_click=ui.confirm_link)
    st.stop()
report = ui.evaluate_report(sc)
if report is None:
    st.stop()


# --------------------------------------------------------------------------- headline cards

def headline(r) -> None:
    acc_kind = r.kinds.get("accuracy", "simulated")
    cols = st.columns(5)
    if r.accuracy is None:  # an architecture without weights, or an upload without data
        ui.upload.no_accuracy(cols[0], r)
    else:
        delta = r.accuracy - r.accuracy_baseline
        cols[0].metric(f"Accuracy ({acc_kind})", ui.pct(r.accuracy), delta=ui.pts(delta),
                       delta_color="normal" if delta else "off",
                       help=f"Top-1 accuracy on the {r.n_test} held-out test images of {r.dataset}, with its "
                            f"95 % Wilson interval; the delta is against the uncompressed model. "
                            + ("Weights/activations are fake-quantized: what such hardware would give."
                               if acc_kind == "simulated" else "Nothing simulated: the model as it runs."))
        half = (r.accuracy_ci95[1] - r.accuracy_ci95[0]) * 50
        cols[0].caption(f"±{half:.1f} pts (95% CI) · uncompressed {ui.pct(r.accuracy_baseline)}")

    size = r.size_bytes
    cols[1].metric("Size (theoretical)", charts.fmt_bytes(size["compressed"]),
                   delta=f"{r.compression_ratio:.1f}× smaller", delta_arrow="off",
                   delta_color="normal" if r.compression_ratio > 1 else "off",
                   help="Bit count of the cheapest storage format per layer (dense, bitmask or CSR) "
                        "plus codebooks and 32-bit biases (Deep Compression accounting).")
    cols[1].caption(f"fp32 {charts.fmt_bytes(size['fp32'])} · file {charts.fmt_bytes(size['file'])} (measured)")

    e, e0 = r.energy_pj["total"], r.energy_baseline_pj["total"]
    cols[2].metric("Energy (estimate)", charts.fmt_energy(e),
                   delta=f"{e0 / e:.1f}× less" if e else None, delta_arrow="off",
                   delta_color="normal" if e < e0 else "off",
                   help="Per inference: E = Σ MACs_eff·(E_mult + E_add) + Σ bits moved·e_bit "
                        f"({r.energy_profile} constants; see the energy section).")
    cols[2].caption(f"fp32 {charts.fmt_energy(e0)} · weights in {'SRAM' if r.weights_on_chip else 'DRAM'}")

    cols[3].metric("Non-zero params", f"{r.params_nonzero:,}",
                   delta=f"{r.sparsity * 100:.1f} % zero", delta_color="off", delta_arrow="off",
                   help="Parameters not exactly zero after compression, counted on the tensors; "
                        "the delta is the achieved sparsity of the prunable weights.")
    cols[3].caption(f"of {r.params_total:,} · MACs {r.macs_effective:,} charged (theoretical)")

    lat = r.latency_ms
    if lat.get("compressed") and lat.get("fp32"):
        speed = lat["fp32"] / lat["compressed"]
        cols[4].metric("Latency (measured)", f"{lat['compressed']:.3f} ms",
                       delta=f"{speed:.1f}× faster" if speed >= 1.05 else
                       (f"{1 / speed:.1f}× slower" if speed <= 0.95 else "no change"),
                       delta_color="off", delta_arrow="off",
                       help=f"Median wall-clock time of one single-image forward pass on this server; "
                            f"compressed path: {r.latency_path}.")
        cols[4].caption(f"PyTorch fp32 {lat['fp32']:.3f} ms"
                        + (f" · ONNX Runtime fp32 {lat['ort_fp32']:.3f} ms" if lat.get("ort_fp32") else ""))
    else:
        cols[4].metric("Latency (measured)", "not measured")
    if r.notes:
        with cols[4].popover("Why no speed-up?", icon=":material/help:"):
            for note in r.notes:
                st.markdown(f"- {note}")


headline(report)


# --------------------------------------------------------------------------- explanations

def formulas(c) -> None:
    if c.sparsity == 0 and c.bits >= 32 and c.act_bits >= 32 and c.structure != "2:4":
        st.markdown("No compression: the float32 model as trained.")
    if c.sparsity > 0 or c.structure == "2:4":
        st.markdown(f"**Pruning** ({c.structure}, {c.scope}, {c.criterion})")
        score = {"magnitude": r"|w_i|", "random": r"u_i \sim U(0,1)",
                 "taylor": r"\left|w_i \,\partial L / \partial w_i\right|"}[c.criterion]
        if c.structure == "unstructured":
            st.latex(r"m_i = \mathbb{1}\left[" + score + r" \text{ among the top } k\right],\quad "
                     r"k = n - \operatorname{round}(s\,n),\quad \hat w = m \odot w")
        elif c.structure == "rows":
            st.latex(r"\text{keep row } j \iff \lVert W_{j,:} \rVert_2 \text{ among the top } (1-s)\,n_\text{rows}")
        else:
            st.latex(r"\text{in every group of 4 inputs keep the 2 largest } " + score)
    if c.bits < 32:
        if c.bits == 1:
            st.markdown("**Binarization** (1 bit)")
            st.latex(r"\hat w = \operatorname{sign}(w)\cdot \operatorname{mean}|w|")
        elif c.quantizer == "kmeans":
            st.markdown(f"**k-means weight sharing** ({c.bits} bits, k = {2 ** c.bits} shared values)")
            st.latex(r"\min_{c_1..c_k} \sum_i \min_j (w_i - c_j)^2,\qquad \hat w_i = c_{j(i)}")
        elif c.scheme == "symmetric":
            st.markdown(f"**Symmetric uniform quantization** ({c.bits} bits, "
                        f"{'per channel' if c.per_channel else 'per tensor'})")
            st.latex(r"s = \frac{\max|w|}{2^{b-1}-1},\quad q = \operatorname{clamp}\!\left(\operatorname{round}"
                     r"\frac{w}{s},\,-(2^{b-1}-1),\,2^{b-1}-1\right),\quad \hat w = s\,q")
        else:
            st.markdown(f"**Asymmetric uniform quantization** ({c.bits} bits, "
                        f"{'per channel' if c.per_channel else 'per tensor'})")
            st.latex(r"s = \frac{\max(w,0)-\min(w,0)}{2^{b}-1},\ z = \operatorname{round}\frac{-\min(w,0)}{s},\ "
                     r"q = \operatorname{clamp}\!\left(\operatorname{round}\frac{w}{s}+z,\,0,\,2^b-1\right),\ "
                     r"\hat w = s\,(q - z)")


left, right = st.columns(2)
with left.expander("What am I looking at?", icon=":material/help:"):
    st.markdown(
        "- **Cards**: accuracy on the held-out test split with its 95 % confidence interval "
        + (f"(here ±{(report.accuracy_ci95[1] - report.accuracy_ci95[0]) * 50:.1f} points on {report.n_test} images: "
           "a smaller change is within noise)" if report.accuracy is not None else f"({report.accuracy_note})")
        + ", size by bit count, energy from a "
        "45 nm model, non-zero parameters and the measured time of one forward pass.\n"
        "- **Weights**: the histogram of a layer before (grey) and after (indigo) compression; "
        "pruned weights pile up in the zero spike, quantized ones on the dotted grid.\n"
        "- **Quantization error**: SQNR = 10·log₁₀(Σw² / Σ(ŵ−w)²) per layer, and the spread of ŵ − w.\n"
        "- **Accuracy curves**: each point is a real measurement with the other settings held; "
        "the star is where you are.\n"
        "- **Size and energy**: where the bits and picojoules go, layer by layer.")
with right.expander("The math of the current setting", icon=":material/function:"):
    formulas(cfg)


# --------------------------------------------------------------------------- weights

st.subheader("Weights and quantization error", anchor=False)


@st.fragment
def weights_section(r, key: tuple) -> None:
    """Layer picker and toggles rerun only this fragment: one or two charts, not the page."""
    names = [lr.name for lr in r.layers]
    if st.session_state.get("_layer") not in names:  # another model, or a link's unknown layer
        st.session_state["_layer"] = names[0]
    c1, c2, c3 = st.columns([2, 1, 1], vertical_alignment="bottom")
    layer = c1.selectbox("Layer", names, **ui.keep("layer", names[0]),
                         format_func=lambda n: f"{n} {next(lr.shape for lr in r.layers if lr.name == n)}",
                         help="Which layer's weights to show in the histogram and the error distribution.")
    hide = c2.toggle("Hide zeros", **ui.keep("hide_zeros", False),
                     help="Hide the spike of exact zeros (pruned weights) to see the kept ones.")
    log_y = c3.toggle("Log scale", **ui.keep("log_y", False),
                      help="Logarithmic count axis: shows the thin tails.")
    ui.write_url(ui.scenario())  # a fragment rerun skips app.py: keep the link up to date here
    a, b = st.columns(2)
    ui.plot(a, ui.figure(("hist", *key, layer, hide, log_y),
                      lambda: charts.weight_histogram(r, layer, hide_zeros=hide, log_y=log_y)))
    ui.plot(b, ui.figure(("error_dist", *key, layer), lambda: charts.error_distribution(r, layer)))


@st.fragment
def error_bars_section(r, key: tuple) -> None:
    metric = st.radio("Error measure", ["sqnr_db", "mse"], **ui.keep("err_metric", "sqnr_db"), horizontal=True,
                      format_func={"sqnr_db": "SQNR (dB)", "mse": "MSE"}.get,
                      help="SQNR = 10·log₁₀(Σw² / Σ(ŵ − w)²), higher is better; "
                           "MSE = mean (ŵ − w)², lower is better.")
    ui.plot(st, ui.figure(("error_bars", *key, metric), lambda: charts.quant_error_bars(r, metric)))
    ui.write_url(ui.scenario())


fig_key = (sc.model, sc.config_items())  # what the report, hence every figure, depends on
weights_section(report, fig_key)
error_bars_section(report, fig_key)


# --------------------------------------------------------------------------- accuracy curves

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
        if by_bits.get(1, 0) > by_bits.get(2, 1) and cfg.quantizer == "uniform" and cfg.scheme == "symmetric":
            column.caption("Why does 1 bit beat 2 bits? Symmetric 2-bit has only three levels, "
                           "−s, 0 and +s with s = max|w| (ternary): most weights are far below max|w| and "
                           "round to 0. 1 bit keeps every sign and scales by mean|w| instead.")


# --------------------------------------------------------------------------- size

st.subheader("Size", anchor=False)
c1, c2 = st.columns(2)
ui.plot(c1, ui.figure(("size_waterfall", *fig_key), lambda: charts.size_waterfall(report)))
ui.plot(c2, ui.figure(("size_breakdown", *fig_key), lambda: charts.size_breakdown(report)))
st.caption("Storage format per layer (the cheapest of the three, Deep Compression accounting): "
           + " · ".join(f"**{lr.name}** {lr.format}" for lr in report.layers)
           + ". dense = every weight at b bits; bitmask = 1 bit per weight + kept values; "
             "csr-p = kept values with p-bit relative indices.")


# --------------------------------------------------------------------------- energy

st.subheader("Energy (estimate)", anchor=False)
ui.plot(st, ui.figure(("energy", *fig_key), lambda: charts.energy_breakdown(report)))
with st.expander("Energy constants, sources and assumptions", icon=":material/bolt:"):
    profile = energy.PROFILES[report.energy_profile]
    st.markdown(
        f"- Zero skipping: **{'on' if cfg.skip_zeros else 'off'}** — "
        + ("MACs on zero weights are skipped (EIE-style hardware)." if cfg.skip_zeros
           else "every MAC is charged, zeros included (dense CPU/GPU kernels)"
           + ("; pruned rows are cut out of the matrices (a smaller dense model), so their MACs "
              "are gone on any hardware." if cfg.structure == "rows" and cfg.sparsity > 0 else "."))
        + f"\n- Weights are read once per inference from **{'on-chip SRAM' if report.weights_on_chip else 'DRAM'}**"
        + f" (the compressed model is {charts.fmt_bytes(report.size_bytes['compressed'])}; on-chip SRAM "
          f"holds {charts.fmt_bytes(profile.sram_bytes)})."
        + "\n- Integer multiply ≈ 0.2 pJ·(b_w·b_a)/64; float when either operand is 32-bit. "
          "Activations are read and written once, from SRAM.")
    st.table([{"operation": row["operation"], "energy (pJ)": row["energy_pj"]}
              for row in energy.constants_table(profile)])
    st.caption(f"Source: {profile.source}")

ui.downloads.download_row(sc, report)  # report (HTML), config (JSON), compressed model file
