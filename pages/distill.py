"""Distill: a teacher's soft targets at temperature T train a small student (Hinton et al. 2015).

Thin: pickers and buttons here; training, sweeps and compression are cached in ui/backend.py.
"""
import numpy as np
import streamlit as st

import ui
from compression import charts, data, models

ui.handover()  # opened first by a deep link on a fresh server: rerun through app.py

sc = ui.scenario()
T = sc.temperature

st.title("Distill", anchor=False)
st.caption("A big teacher's softened outputs carry more than the label: which wrong classes look alike. "
           "A small student trained on them often beats the same student trained on labels alone. "
           "The temperature T is the sidebar's slider.")

# --------------------------------------------------------------------------- pickers

ids = list(models.ZOO)
c1, c2, c3, c4 = st.columns([3, 3, 2, 2])
teacher = c1.selectbox("Teacher", ids, format_func=ui.model_label,
                       help="The trained model whose soft targets the student learns from.",
                       **ui.keep("teacher", "mlp-digits"))
ui.stop_if_unavailable(teacher, "The teacher")
dataset = models.ZOO[teacher].dataset
students = [i for i in ids if models.ZOO[i].dataset == dataset and i != teacher and not ui.unavailable(i)]
if not students:
    st.info(f"No other zoo model uses the {dataset} data set, so {teacher} has no student here.")
    st.stop()
if st.session_state.get("_student") not in students:
    st.session_state["_student"] = "mlp-small-digits" if "mlp-small-digits" in students else students[0]
student = c2.selectbox("Student", students, format_func=ui.model_label,
                       help="Trained from scratch (fixed seed), twice: on the teacher's soft targets "
                            "and on hard labels only, same initial weights and batches.",
                       **ui.keep("student", students[0]))
alpha = c3.slider("α (soft-target weight)", 0.0, 1.0, step=ui.ALPHA_STEP, help=ui.HELP["alpha"],
                  **ui.keep("alpha", ui.DEFAULT_ALPHA))
epochs = c4.number_input("Epochs", 1, 60, step=1,
                         help="Training epochs for each student (20 takes a few seconds here).",
                         **ui.keep("distill_epochs", 20))
seed = sc.config.seed

ok, ds = ui.guard(data.load, dataset)
if not ok:
    st.stop()

# --------------------------------------------------------------------------- soft targets

st.subheader("Soft targets", anchor=False)
img_col, chart_col = st.columns([1, 3])
n_test = len(ds.y_test)
st.session_state["_sample"] = min(int(st.session_state.get("_sample", 0)), n_test - 1)  # other data set
index = img_col.number_input("Test image #", 0, n_test - 1, step=1,
                             help=f"Which of the {n_test} held-out test images to show.",
                             **ui.keep("sample", 0))
image = ds.x_test[index].numpy()
image = image[0] if image.shape[0] == 1 else np.transpose(image, (1, 2, 0))
scale = max(1, 160 // image.shape[0])
big = np.kron(image, np.ones((scale, scale) + ((1,) if image.ndim == 3 else ()), dtype=image.dtype))
ok, soft = ui.guard(ui.teacher_soft_targets, teacher, int(index), float(T))
if ok:
    img_col.image(np.clip(big, 0.0, 1.0), caption=f"label: {soft['classes'][soft['label']]}", width=160)
    img_col.metric(f"Entropy at T = {T:g}", f"{soft['entropy_t']:.2f} bits",
                   delta=f"{soft['entropy_1']:.2f} bits at T = 1", delta_color="off", delta_arrow="off",
                   help="H(p) = −Σ p log₂ p of the teacher's soft targets: how much more than the "
                        "label they say. The delta line is the same at T = 1 (the ordinary softmax).")
    ui.plot(chart_col, charts.soft_targets_chart(soft["probs_t"], soft["probs_1"], soft["classes"], T,
                                              true_class=soft["label"]))
    chart_col.latex(r"p_i^{T} = \frac{\exp(z_i / T)}{\sum_j \exp(z_j / T)},\qquad "
                    r"\mathcal{L} = \alpha\, T^2\, \mathrm{KL}\!\left(p^{T}_\text{teacher} \,\Vert\, p^{T}_\text{student}\right)"
                    r" + (1-\alpha)\, \mathrm{CE}(\text{student}, y)")

# --------------------------------------------------------------------------- training

st.subheader("Train the student", anchor=False)
key = (teacher, student, float(T), float(alpha), int(epochs), int(seed))
KEY_WORDS = ("teacher", "student", "T", "α", "epochs", "seed")
# This session's trained results by setting (plain values), newest last: a small change (α one
# step) keeps the last result on screen and says what changed, instead of a blank page.
results: dict = st.session_state.setdefault("_distill_results", {})
trained = ui.is_done(("distill", *key))
clicked = st.button("Train student", type="primary", key="train_student", icon=":material/play_arrow:",
                    help="Trains the student twice (soft targets, hard labels); cached afterwards.")


def show_summary(summary: dict, setting: tuple) -> None:
    """The training curves and the three accuracy cards of one trained setting."""
    s_teacher, _, s_t, s_alpha = setting[:4]
    ui.plot(st, charts.distill_history(summary["history"]))
    c1, c2, c3 = st.columns(3)
    teacher_ci = ui.wilson(summary["accuracy_teacher"], summary["n_test"])
    c1.metric(f"Teacher {s_teacher}", ui.pct(summary["accuracy_teacher"]),
              help="The teacher's accuracy on the same test split.")
    c1.caption(ui.ci_text(teacher_ci))
    c2.metric(f"Student, distilled (T={s_t:g}, α={s_alpha:g})", ui.pct(summary["accuracy"]),
              delta=ui.pts(summary["accuracy"] - summary["accuracy_hard_labels"]),
              delta_description="vs hard labels",
              help="Trained on the teacher's soft targets (and the labels, weighted by 1 − α).")
    c2.caption(ui.ci_text(summary["accuracy_ci95"]))
    c3.metric("Student, hard labels only", ui.pct(summary["accuracy_hard_labels"]),
              help="Same initial weights, batches and epochs; cross-entropy on the labels only.")
    c3.caption(ui.ci_text(summary["accuracy_hard_labels_ci95"]))
    (lo1, hi1), (lo2, hi2) = summary["accuracy_ci95"], summary["accuracy_hard_labels_ci95"]
    if lo1 <= hi2 and lo2 <= hi1:  # from the intervals themselves, not a typed threshold
        st.caption(f"The two students' 95 % intervals overlap on {summary['n_test']} test images: "
                   "no clear winner at this setting.")


if not (trained or clicked):
    if key in results:  # trained earlier, since dropped from the server's cache
        st.info("The server has dropped this student from its cache since you trained it: press "
                "**Train student** to train it again. Its earlier results:", icon=":material/history:")
        show_summary(results[key], key)
    elif results:
        last = list(results)[-1]
        changed = ", ".join(f"{w} {ui.fmt_number(o) if isinstance(o, float) else o} → "
                            f"{ui.fmt_number(n) if isinstance(n, float) else n}"
                            for w, o, n in zip(KEY_WORDS, last, key) if o != n)
        st.info(f"Changed since the last training: {changed}. Press **Train student** to train this "
                "setting; below, the last trained one.", icon=":material/compare_arrows:")
        show_summary(results[last], last)
    else:
        st.info(f"Press **Train student** to train {student} for {epochs} epochs at T = {T:g}, α = {alpha:g}, "
                f"and the same student on hard labels only.")
    st.stop()

ok, result = ui.guard(ui.with_progress, ui.distilled_students, *key,
                      label=f"Training {student}", show=not trained)
if not ok:
    st.stop()
_, summary = result
results.pop(key, None)
results[key] = summary
while len(results) > 8:
    results.pop(next(iter(results)))
teacher_acc = summary["accuracy_teacher"]
show_summary(summary, key)

# --------------------------------------------------------------------------- temperature sweep

st.subheader("Accuracy vs temperature", anchor=False)
sweep_key = (teacher, student, ui.DISTILL_TEMPERATURES, float(alpha), int(epochs), int(seed))
swept = ui.is_done(("sweep", *sweep_key))
if swept or st.button("Sweep temperature", key="sweep_temperature", icon=":material/show_chart:",
                      help=f"Distil at T = {', '.join(f'{t:g}' for t in ui.DISTILL_TEMPERATURES)} "
                           "(same α and epochs); cached afterwards."):
    ok, rows = ui.guard(ui.with_progress, ui.temperature_sweep, *sweep_key,
                        label="Temperature sweep", show=not swept)
    if ok:
        ui.plot(st, charts.temperature_curve(rows, current=T))
else:
    st.caption(f"Trains {len(ui.DISTILL_TEMPERATURES)} more students; takes a little while the first time.")

# --------------------------------------------------------------------------- compress the student

cfg = sc.config
st.subheader("Compress the distilled student", anchor=False)
st.caption(f"With the sidebar's settings: {cfg.sparsity * 100:.0f} % sparsity, {ui.bits_text(cfg.bits)}"
           + (f", {cfg.finetune_epochs} fine-tuning epochs" if cfg.finetune_epochs else "") + ".")
items = ui.config_items(cfg)
done = ui.is_done(("compress_student", *key, items))
ok, report = ui.guard(ui.with_progress, ui.compress_student, *key, items,
                      label=f"Compressing {student}",
                      show=not done and cfg.finetune_epochs > 0 and (cfg.sparsity > 0 or cfg.structure == "2:4"))
if ok:
    teacher_fp32 = ui.model_info()[teacher]["params"] * 4
    c1, c2, c3 = st.columns(3)
    c1.metric(f"Accuracy ({report.kinds.get('accuracy', 'simulated')})", ui.pct(report.accuracy),
              delta=ui.pts(report.accuracy - report.accuracy_baseline),
              delta_color="normal" if report.accuracy != report.accuracy_baseline else "off",
              delta_description="vs the uncompressed distilled student")
    c1.caption(ui.ci_text(report.accuracy_ci95))
    c2.metric("Size (theoretical)", charts.fmt_bytes(report.size_bytes["compressed"]),
              delta=f"{report.compression_ratio:.1f}× smaller", delta_arrow="off",
              delta_description=f"vs {charts.fmt_bytes(report.size_bytes['fp32'])} fp32 student")
    vs_teacher = teacher_fp32 / report.size_bytes["compressed"]
    c3.metric("vs the teacher (fp32)", f"{vs_teacher:.1f}× smaller" if vs_teacher >= 1 else f"{1 / vs_teacher:.1f}× larger",
              delta=ui.pts(report.accuracy - teacher_acc), delta_description="accuracy vs teacher",
              help=f"Teacher {teacher}: {charts.fmt_bytes(teacher_fp32)} at 32 bits per parameter.")
