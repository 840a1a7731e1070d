"""Trade-offs: a sweep over a grid you pick, its Pareto frontier, per-layer sensitivity, mixed precision.

The sweep runs one config per step and keeps each row in the session as it arrives, so the
Stop button (a rerun) ends it between two configs without losing the rows already measured.
"""
import json

import streamlit as st

import ui
from compression import charts, sweep
from compression import config as cfgmod
from ui import studio

ui.handover()  # opened first by a deep link on a fresh server: rerun through app.py
studio.goto_explore_if_asked()

sc = ui.scenario()
ss = st.session_state

st.title("Trade-offs", anchor=False)
st.caption("What is the best accuracy at this size, energy or latency? A sweep over the settings you pick, "
           "its Pareto frontier, and which layer is to blame. Other settings come from the sidebar.")
ui.stop_if_unavailable(sc.model)
no_accuracy = studio.why_no_accuracy(sc.model)
if no_accuracy:  # every chart here has accuracy on one axis: nothing honest to sweep
    # plain text: the model word passed source.parse (an architecture name or hex digits)
    st.info(f"Accuracy is {no_accuracy} for {sc.model}, so there is no trade-off to sweep and no per-layer "
            f"sensitivity or mixed precision; Explore and Compare still show its size, energy and latency.",
            icon=":material/block:")
    st.stop()

SPARSITY_OPTIONS = (0.0, 0.25, 0.5, 0.75, 0.8, 0.9, 0.95)
AXES = ("size_bytes", "energy_pj", "latency_ms")
# the sweep's own base: the sidebar's settings without fine-tuning unless asked (seconds per config)
base = sc.config


def _one_shot(config):
    return config.replace(finetune_epochs=0, prune_steps=1, qat=False)


# --------------------------------------------------------------------------- the grid

st.subheader("Sweep", anchor=False)
c1, c2 = st.columns(2)
c3, c4 = st.columns(2)
sparsities = c1.multiselect("Sparsity", SPARSITY_OPTIONS, **ui.keep("sweep_sparsity", [0.0, 0.5, 0.75, 0.9]),
                            format_func=lambda s: f"{s:.0%}", help="Fraction of weights removed.")
bits = c2.multiselect("Weight bits", ui.BIT_OPTIONS, **ui.keep("sweep_bits", [32, 8, 4, 2]),
                      format_func=lambda b: "32 (float)" if b == 32 else str(b),
                      help="Bits per weight after quantization; 32 is the float model.")
quantizers = c3.multiselect("Quantizer", cfgmod.QUANTIZERS, **ui.keep("sweep_quantizer", ["uniform"]),
                            help="How weights are rounded to the bit-width (the sidebar's Advanced panel explains each).")
structures = c4.multiselect("Pruning structure", cfgmod.STRUCTURES, **ui.keep("sweep_structure", ["unstructured"]),
                            help="What pruning removes: single weights, whole rows (neurons/filters) or 2 of every 4.")
o1, o2 = st.columns(2)
latency = o1.toggle("Measure latency", **ui.keep("sweep_latency", False),
                    help="Times one forward pass per config (slower); off: the latency chart stays empty.")
keep_training = o2.toggle("Keep fine-tuning", **ui.keep("sweep_train", False), disabled=not base.trains,
                          help="Fine-tune each config as the sidebar says (seconds per config); "
                               "off: every config prunes in one shot.")
if not keep_training:
    base = _one_shot(base)

grid = {k: v for k, v in (("sparsity", sorted(sparsities)), ("bits", sorted(bits, reverse=True)),
                          ("quantizer", quantizers), ("structure", structures)) if v}
fields = tuple(grid)
ok, configs = ui.guard(sweep.grid_configs, grid, base)
if not ok:
    st.stop()
job_key = json.dumps({"model": str(sc.model), "base": base.to_dict(), "grid": grid, "latency": latency},
                     sort_keys=True, default=str)
job = ss.get("_sweep_job")
job_model = ui.source_of(job["model"]) if job else None  # session state keeps the word


def start_sweep() -> None:
    ss["_sweep_job"] = {"key": job_key, "model": str(sc.model), "fields": fields, "latency": latency,
                        "configs": [ui.config_items(c) for c in configs], "rows": [], "status": "running"}


def stop_sweep() -> None:
    if ss.get("_sweep_job"):
        ss["_sweep_job"]["status"] = "stopped"


buttons = st.container(horizontal=True, vertical_alignment="center")
b1 = b2 = b3 = buttons
running = bool(job and job["status"] == "running")
b1.button(f"Run sweep ({len(configs)} configs)", type="primary", icon=":material/play_arrow:",
          on_click=start_sweep, disabled=running or not configs, key="sweep_run",
          help="Evaluates every config of the grid above, one after another; rows appear as they are measured.")
b2.button("Stop", icon=":material/stop:", on_click=stop_sweep, disabled=not running, key="sweep_stop",
          help="Ends the sweep after the config being measured; the rows so far are kept.")
if job and job["key"] != job_key and not running:
    b3.caption("The grid or the sidebar changed since this sweep: press Run to sweep the new grid.")

if running:
    bar = st.progress(len(job["rows"]) / len(job["configs"]), text="Sweeping")
    for i in range(len(job["rows"]), len(job["configs"])):
        if job["status"] != "running":
            break
        done = len(job["rows"]) / len(job["configs"])
        text = f"Sweeping: config {len(job['rows']) + 1} of {len(job['configs'])}"
        future = studio.sweep_row_future(job_model, job["configs"][i], job["fields"], job["latency"])
        ok, row = ui.guard(studio.wait_row, future, lambda: bar.progress(done, text=text))
        if not ok:
            job["status"] = "stopped"
            break
        job["rows"].append(row)
        acc = row["accuracy"]
        bar.progress(len(job["rows"]) / len(job["configs"]),
                     text=f"Sweeping: {len(job['rows'])}/{len(job['configs'])} configs, last "
                          f"{charts.config_text(row, job['fields'])} → {ui.pct(acc)}")
    if job["status"] == "running":
        job["status"] = "done"
    bar.empty()
    st.rerun()  # draw the buttons again: Run enabled, Stop disabled

# --------------------------------------------------------------------------- results

rows = list(job["rows"]) if job else []
if job and job["status"] == "stopped":
    st.info(f"Stopped after {len(rows)} of {len(job['configs'])} configs: the frontier below is of those.",
            icon=":material/stop_circle:")
if not rows:
    st.caption("Press Run to sweep the grid; each config takes a fraction of a second on the digits models.")
else:
    fields = tuple(job["fields"])
    current = None
    if not ui.needs_training(sc.model, sc.config) or ui.is_done(("evaluate", sc.model, sc.config_items())):
        report = ui.evaluate_report(sc)
        if report is not None:
            current = {"accuracy": report.accuracy, "size_bytes": report.size_bytes["compressed"],
                       "energy_pj": report.energy_pj["total"], "latency_ms": report.latency_ms["compressed"]}
    refs = studio.references(sc.model)
    tabs = st.tabs(["Accuracy vs size", "vs energy", "vs latency"])
    picked = None
    for tab, axis in zip(tabs, AXES):
        fig = ui.figure(("tradeoff", job["key"], len(rows), axis, json.dumps(current), len(refs)),
                        lambda axis=axis: charts.tradeoff_chart(rows, axis, fields, current, refs))
        event = tab.plotly_chart(fig, theme=None, config=ui.PLOT_CONFIG, on_select="rerun",
                                 selection_mode="points", key=f"tradeoff_{axis}")
        ui.sr_only(tab, ui.summary(fig))
        try:
            points = event["selection"]["points"]
        except (KeyError, TypeError):
            points = []
        for p in points:
            data = p.get("customdata")
            if data:
                picked = int(data[0])
    if refs:
        st.caption("Diamonds: Deep Compression's published results for the same architecture on MNIST "
                   "(Han et al. 2016, arXiv:1510.00149, Table 1), with fine-tuning and Huffman coding.")

    front = sweep.pareto_front(rows, "size_bytes", "accuracy")
    table = studio.frontier_table(rows, front, fields)
    st.markdown(f"**Pareto frontier** (accuracy vs size): {len(front)} of {len(rows)} configs"
                + (f" on {len(table)} lines: exact ties share one" if len(table) < len(front) else ""))
    st.dataframe(table, hide_index=True, width="stretch")

    # only the settings that vary name a row: "structure unstructured" on every line cut the label
    varied = tuple(f for f in fields if len({str(r.get(f)) for r in rows}) > 1) or fields
    labels = {i: charts.config_text(rows[i], varied) + ("  ★ frontier" if i in front else "") for i in range(len(rows))}
    if picked is not None and picked in labels:
        ss["studio_pick"] = picked
    elif ss.get("studio_pick") not in labels:
        ss.pop("studio_pick", None)
    p1, p2 = st.columns([3, 1], vertical_alignment="bottom")
    choice = p1.selectbox("Open a config in Explore (or click a point)", list(labels), format_func=labels.get,
                          key="studio_pick",
                          help="Pick a measured config (★: on the frontier) to open it in Explore with all its charts.")
    row_config = ui.config_of(job["configs"][choice])
    p2.button("Open in Explore", icon=":material/open_in_new:", on_click=studio.open_in_explore,
              args=(job_model, row_config.to_dict()), key="studio_open",
              help="Sets the sidebar to this config and opens Explore.")

    d1, d2 = st.columns(2)
    d1.download_button("Sweep as CSV", studio.rows_csv(rows), file_name=f"sweep-{job['model']}.csv",
                       mime="text/csv", icon=":material/download:", on_click="ignore",
                       help="Every measured row with its settings and numbers, as a CSV file.")
    d2.download_button("Sweep config as JSON", json.dumps(
        {"model": job["model"], "grid": {k: list(v) for k, v in grid.items()}, "base": base.to_dict(),
         "latency": job["latency"]}, indent=2), file_name=f"sweep-{job['model']}.json",
        mime="application/json", icon=":material/download:", on_click="ignore",
                       help="The grid and base settings of this sweep, as JSON.")


# --------------------------------------------------------------------------- per-layer sensitivity

st.subheader("Which layer is to blame?", anchor=False)
st.caption("Each layer pruned or quantized alone, the others untouched: a steep line is a sensitive layer. "
           "Computed once per model and settings, then kept across restarts.")
sens_base = _one_shot(sc.config)
sens_key = ("sensitivity", sc.model, ui.config_items(sens_base))
stored = studio.sensitivity_stored(sc.model, sens_base)
sens_slot = st.empty()
asked = False if stored else sens_slot.button("Measure per-layer sensitivity (a few seconds)", icon=":material/analytics:",
                                       key="sens_run",
                                              help="Prunes and quantizes each layer alone at several settings, the others untouched.")
if asked or stored:
    ok, sens = ui.guard(ui.with_progress, studio.sensitivity_curves, sc.model, ui.config_items(sens_base),
                        label="Per-layer sensitivity", show=not stored)
    if ok:
        sens_slot.empty()
        if sens_base.structure == "rows" and sens["config"].get("structure") != "rows":
            st.caption("This model's channels are coupled across layers (residual adds, normalisations or "
                       "attention), so one layer cannot lose rows alone: each layer's sparsity curve prunes "
                       "single weights (unstructured) instead.")
        elif sens_base.structure == "heads":
            st.caption("Attention heads are removed by one ranking of the model's heads, not one weight layer "
                       "alone: each layer's sparsity curve prunes single weights (unstructured) instead.")
        s1, s2 = st.columns(2)
        ui.plot(s1, ui.figure(("sens", *sens_key, "sparsity"), lambda: charts.sensitivity_chart(sens, "sparsity")))
        ui.plot(s2, ui.figure(("sens", *sens_key, "bits"), lambda: charts.sensitivity_chart(sens, "bits")))

        # ----------------------------------------------------------------- mixed precision
        st.subheader("Mixed precision at a size budget", anchor=False)
        ok, sizes = ui.guard(studio.uniform_sizes, sc.model, ui.config_items(sens_base))
        if ok:
            lo, hi = min(sizes.values()), max(sizes.values())
            lo_kb, hi_kb = round(lo / 1024, 1), round(hi / 1024, 1)
            if "_mp_budget" in ss and not lo_kb <= ss["_mp_budget"] <= hi_kb:  # another model's budget
                del ss["_mp_budget"]
            kb = st.slider("Size budget (KB)", lo_kb, hi_kb,
                           **ui.keep("mp_budget", round((sizes[3] + sizes[4]) / 2048, 1)), step=0.1,
                           help="Bits per layer are chosen from the curves above to fit this size; the "
                                "uniform model uses the widest single bit-width that fits.")
            with st.spinner("Allocating bits per layer and measuring both models"):
                ok, mp = ui.guard(studio.mixed_vs_uniform, sc.model, ui.config_items(sens_base), kb * 1024, sens)
            if ok:
                m1, m2, m3 = st.columns([1, 1, 2])
                for col, name, title in ((m1, "mixed", "Mixed precision"),
                                         (m2, "uniform", f"Uniform {mp['uniform_bits']} bits")):
                    r = mp[name]
                    col.metric(f"{title} (simulated)", ui.pct(r["accuracy"]),
                               delta=ui.pts(r["accuracy"] - mp["uniform"]["accuracy"]) if name == "mixed" else None)
                    col.caption(f"{charts.fmt_bytes(r['size_bytes'])} · 95% CI {ui.pct(r['accuracy_lo'])}–"
                                f"{ui.pct(r['accuracy_hi'])}")
                    col.button("Open in Explore", key=f"mp_open_{name}", on_click=studio.open_in_explore,
                               args=(sc.model, r["config"]), icon=":material/open_in_new:",
                               help="Sets the sidebar to this allocation of bits per layer and opens Explore.")
                ui.plot(m3, charts.allocation_chart(mp["layers"], mp["mixed_bits"], mp["uniform_bits"]))
                st.caption("Bits per layer minimise the summed per-layer training-loss increase within the budget "
                           "(first-order, as in sensitivity-based mixed precision); the 16 best predictions are "
                           "measured on training data and the best kept. Accuracies are on the test split.")


# --------------------------------------------------------------------------- mixed precision from an accuracy target


def accuracy_target_section() -> None:
    """Beside the size budget: the largest compression with at most X points of accuracy drop."""
    st.subheader("Mixed precision from an accuracy target", anchor=False)
    target = st.number_input("At most this many points of accuracy drop", 0.1, 20.0,
                             value=float(sc.config.max_drop or 1.0), step=0.1, key="mp_max_drop",
                             help="Bits per layer are lowered while the predicted drop stays within it; the even test "
                                  "images choose, the odd ones judge (max_drop= in the URL, --max-drop in the CLI).")
    items = ui.config_items(sens_base.replace(max_drop=0.0))
    key = ("teaching", "within_drop", sc.model, items, target)
    if not (ui.is_done(key) or ss.get("_run_within") == repr(key)):
        st.button("Find the smallest model within this drop (seconds)", key="btn_within_drop",
                  icon=":material/play_arrow:", on_click=lambda: ss.__setitem__("_run_within", repr(key)),
                  help="Lowers bits layer by layer while the predicted accuracy drop stays within the target, then "
                       "measures the result.")
        return
    ok, r = ui.guard(ui.with_progress, ui.within_drop, sc.model, items, target, label="Accuracy target",
                     show=not ui.is_done(key))
    if not ok:
        return
    c1, c2 = st.columns(2)
    c1.metric("Size (theoretical)", charts.fmt_bytes(r["bytes"]))
    c2.metric("Accuracy (simulated, judging half)", ui.pct(r["accuracy"]),
              delta=f"{r['delta'] * 100:+.1f} pts [{r['delta_lo'] * 100:+.1f}, {r['delta_hi'] * 100:+.1f}]",
              delta_color="off")
    st.dataframe([{"layer": row["name"], "bits": row["bits"], "bytes": round(row["bytes"]),
                   "drop alone (pts)": round(row["delta"] * 100, 2),
                   "95 % paired interval": f"[{row['delta_lo'] * 100:+.1f}, {row['delta_hi'] * 100:+.1f}]"}
                  for row in r["layers"]], hide_index=True)
    st.caption(("Within the target on the judging images." if r["within"] else
                f"Beyond the {target:g}-point target on the judging images: the choosing half saw "
                f"{r['validation_drop']:.1f} points; {r['n_test']} images cannot resolve a smaller difference.")
               + " Intervals are paired (Newcombe) against the float model on the same odd test images.")


ui.section(accuracy_target_section)
