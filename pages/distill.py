"""Distill: a teacher's soft targets at temperature T train a small student (Hinton et al. 2015).

Thin: pickers and buttons here; training, sweeps and compression are cached in ui/backend.py.
"""
import numpy as np
import streamlit as st

import ui
from compression import charts, data, measure, models

ui.handover()  # opened first by a deep link on a fresh server: rerun through app.py

sc = ui.scenario()
T = sc.temperature

st.title("Distill", anchor=False)
st.caption("A big teacher's softened outputs carry more than the label: which wrong classes look alike. "
           "A small student trained on them often beats the same student trained on labels alone. "
           "The compression below takes the sidebar's settings.")

# --------------------------------------------------------------------------- pickers

ids = list(models.ZOO)
default_teacher = ui.DEFAULT_TEACHER if not ui.unavailable(ui.DEFAULT_TEACHER) else "mlp-digits"
# Two controls a row: four in a row cut the model names at 1280×720 and 150 % zoom.
c1, c2 = st.columns(2)
teacher = c1.selectbox("Teacher", ids, format_func=ui.model_label,
                       help="The trained model whose soft targets the student learns from. "
                            "The student list offers the models on the same data set.",
                       **ui.keep("teacher", default_teacher))
if models.ZOO[teacher].language:  # its own student and loss, token by token (ui.lm_distill)
    from ui import lm_distill
    ui.section(lm_distill.section, teacher, float(T), float(sc.alpha), sc.config.seed)
    st.stop()
ui.stop_if_unavailable(teacher, "The teacher")
dataset = models.ZOO[teacher].dataset
students = [i for i in ids if models.ZOO[i].dataset == dataset and i != teacher and not ui.unavailable(i)]
if not students:
    st.info(f"No other zoo model uses the {dataset} data set, so {teacher} has no student here.")
    st.stop()
preferred = ui.DEFAULT_STUDENTS.get(teacher)
if st.session_state.get("_student") not in students:
    st.session_state["_student"] = preferred if preferred in students else students[0]
student = c2.selectbox("Student", students, format_func=ui.model_label,
                       help="Trained from scratch (fixed seed), twice: on the teacher's soft targets "
                            "and on hard labels only, same initial weights and batches.",
                       **ui.keep("student", students[0]))
# The page's own controls first, on the page: in the sidebar the temperature was its last
# item, off-screen on a projector (853×480).
c3, c4 = st.columns(2)
ui.temperature_slider(container=c3)
d1, d2 = st.columns(2)
alpha = c4.slider("α (soft-target weight)", 0.0, 1.0, step=ui.ALPHA_STEP, help=ui.HELP["alpha"],
                  **ui.keep("alpha", ui.DEFAULT_ALPHA))
e1, _ = st.columns(2)
epochs = e1.number_input("Epochs", 1, 60, step=1,
                         help="Training epochs for each student (20 take a few seconds on 8×8 digits, "
                              "about 20 s on mnist-5k here).",
                         **ui.keep("distill_epochs", 20))
seed = sc.config.seed

ok, ds = ui.guard(data.load, dataset)
if not ok:
    st.stop()
classes = list(ds.classes)
fraction = d1.selectbox("Student's training images", ui.DISTILL_FRACTIONS,
                        format_func=lambda f: f"{f * 100:g} % of each class",
                        help="The share of each class's training images both students learn from "
                             "(the same images for both). The teacher was trained on all of them: "
                             "with few images, its soft targets carry what the labels cannot.",
                        **ui.keep("distill_fraction", 1.0))
if st.session_state.get("_leave_out") not in range(ui.NO_LEAVE_OUT, len(classes)):
    st.session_state["_leave_out"] = ui.NO_LEAVE_OUT  # a link's class this data set does not have
left = d2.selectbox("Leave out of the student's data", range(ui.NO_LEAVE_OUT, len(classes)),
                    format_func=lambda c: "nothing (all classes)" if c == ui.NO_LEAVE_OUT else f"every {classes[c]}",
                    help="Removes one class from both students' training images; the teacher still "
                         "knows it, so its soft targets on the other images still hint at it "
                         "(Hinton, Vinyals & Dean 2015, §3). The hard-label student cannot learn it.",
                    **ui.keep("leave_out", ui.NO_LEAVE_OUT))
leave_out = None if left == ui.NO_LEAVE_OUT else int(left)

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
    img_col.image(np.clip(big, 0.0, 1.0), caption=f"label: {soft['classes'][soft['label']]}",
                  width="content")  # its own ~160 px, shrunk to a narrow (zoomed) column
    img_col.metric(f"Entropy at T = {T:g}", f"{charts.fixed(soft['entropy_t'], 2)} bits",
                   delta=f"{charts.fixed(soft['entropy_1'], 2)} bits at T = 1", delta_color="off", delta_arrow="off",
                   help="H(p) = −Σ p log₂ p of the teacher's soft targets: how much more than the "
                        "label they say. The delta line is the same at T = 1 (the ordinary softmax).")
    ui.plot(chart_col, charts.soft_targets_chart(soft["probs_t"], soft["probs_1"], soft["classes"], T,
                                              true_class=soft["label"]))

with st.expander("The loss the student learns from (KD loss)", expanded=False, icon=":material/function:"):
    # two lines, not one: a single line is cut at the right edge on a zoomed projector screen
    st.latex(r"p_i^{T} = \frac{\exp(z_i / T)}{\sum_j \exp(z_j / T)}")
    st.latex(r"\mathcal{L} = \alpha\, T^2\, \mathrm{KL}\!\left(p^{T}_\text{teacher} \,\Vert\, "
             r"p^{T}_\text{student}\right) + (1-\alpha)\, \mathrm{CE}(\text{student}, y)")
    st.caption("Hinton, Vinyals & Dean 2015: the T² keeps the soft term's gradients the same size as T "
               "changes. Both terms are taken over the student's training images only (the fraction and "
               "the left-out class above); the hard-label student uses the CE term alone (α = 0).")

# --------------------------------------------------------------------------- training

st.subheader("Train the student", anchor=False)
key = (teacher, student, float(T), float(alpha), int(epochs), int(seed), float(fraction), leave_out)
KEY_WORDS = ("teacher", "student", "T", "α", "epochs", "seed", "fraction", "left-out class")
# This session's trained results by setting (plain values), newest last: a small change (α one
# step) keeps the last result on screen and says what changed, instead of a blank page.
results: dict = st.session_state.setdefault("_distill_results", {})
trained = ui.is_done(("distill", *key))
clicked = st.button("Train student", type="primary", key="train_student", icon=":material/play_arrow:",
                    help="Trains the student twice (soft targets, hard labels) on the chosen images; "
                         "cached afterwards.")


def word(w: str, v: object) -> str:
    """A setting's value as the page says it."""
    if w == "fraction":
        return f"{float(v) * 100:g} %"
    if w == "left-out class":
        return "none" if v is None else classes[int(v)] if int(v) < len(classes) else str(v)
    return ui.fmt_number(v) if isinstance(v, float) else str(v)


def verdict_sentence(paired: dict, where: str) -> str:
    """One sentence from the paired interval: the gap, its 95 % CI and what the interval says."""
    lo, hi = paired["ci95"]
    return (f"{where}: distilled minus hard labels {ui.pts(paired['delta'])} "
            f"(paired 95 % CI {lo * 100:+.1f} to {hi * 100:+.1f} pts, {paired['n']:,} images), "
            f"{paired['verdict']}: **{ui.DISTILL_VERDICT[paired['verdict']]}**.")


def show_summary(summary: dict, setting: tuple) -> None:
    """The training curves, the accuracy cards and the measured verdicts of one trained setting."""
    s_teacher, _, s_t, s_alpha = setting[:4]
    ui.plot(st, charts.distill_history(summary["history"]))
    c1, c2, c3 = st.columns(3)
    teacher_ci = ui.wilson(summary["accuracy_teacher"], summary["n_test"])
    c1.metric(f"Teacher {s_teacher}", ui.pct(summary["accuracy_teacher"]),
              help="The teacher's accuracy on the same test split (trained on every training image).")
    c1.caption(ui.ci_text(teacher_ci))
    c2.metric(f"Student, distilled (T={s_t:g}, α={s_alpha:g})", ui.pct(summary["accuracy"]),
              delta=ui.pts(summary["accuracy"] - summary["accuracy_hard_labels"]),
              delta_description="vs hard labels",
              delta_color=ui.delta_color(summary.get("paired", {}).get("verdict")),
              delta_arrow=ui.delta_arrow(summary["accuracy"] - summary["accuracy_hard_labels"]),
              help="Trained on the teacher's soft targets (and the labels, weighted by 1 − α).")
    c2.caption(ui.ci_text(summary["accuracy_ci95"]))
    c3.metric("Student, hard labels only", ui.pct(summary["accuracy_hard_labels"]),
              help="Same initial weights, images, batches and epochs; cross-entropy on the labels only.")
    c3.caption(ui.ci_text(summary["accuracy_hard_labels_ci95"]))
    without = summary.get("leave_out")
    st.caption(f"Both students trained on {summary.get('n_train', 0):,} images "
               f"({word('fraction', summary.get('fraction', 1.0))} of each class"
               + (f", no {word('left-out class', without)}s" if without is not None else "")
               + f"), tested on the same {summary['n_test']:,} images.")
    if "paired" in summary:
        st.markdown(verdict_sentence(summary["paired"], "All test images"))
    if summary.get("leave_out") is not None and "accuracy_left_out" in summary:
        digit = word("left-out class", summary["leave_out"])
        n = summary["n_left_out"]
        l1, l2 = st.columns(2)
        gap = summary["accuracy_left_out"] - summary["accuracy_left_out_hard_labels"]
        l1.metric(f"Distilled, on the {n} test {digit}s", ui.pct(summary["accuracy_left_out"]),
                  delta=ui.pts(gap), delta_description="vs hard labels",
                  delta_color=ui.delta_color(summary.get("paired_left_out", {}).get("verdict")),
                  delta_arrow=ui.delta_arrow(gap),
                  help=f"Never shown a labelled {digit}: what it knows of {digit}s came from the teacher's "
                       "soft targets on the other images.")
        l1.caption(ui.ci_text(summary["accuracy_left_out_ci95"]))
        l2.metric(f"Hard labels, on the {n} test {digit}s", ui.pct(summary["accuracy_left_out_hard_labels"]),
                  help=f"Never shown a {digit} either; cross-entropy never rewards an unseen class.")
        l2.caption(ui.ci_text(summary["accuracy_left_out_hard_labels_ci95"]))
        if "paired_left_out" in summary:
            st.markdown(verdict_sentence(summary["paired_left_out"], f"The left-out {digit}s"))


if not (trained or clicked):
    if key in results:  # trained earlier, since dropped from the server's cache
        st.info("The server has dropped this student from its cache since you trained it: press "
                "**Train student** to train it again. Its earlier results:", icon=":material/history:")
        show_summary(results[key], key)
    elif results:
        last = list(results)[-1]
        changed = ", ".join(f"{w} {word(w, o)} → {word(w, n)}"
                            for w, o, n in zip(KEY_WORDS, last, key) if o != n)
        st.info(f"Changed since the last training: {changed}. Press **Train student** to train this "
                "setting; below, the last trained one.", icon=":material/compare_arrows:")
        show_summary(results[last], last)
    else:
        st.info(f"Press **Train student** to train {student} for {epochs} epochs at T = {T:g}, α = {alpha:g} "
                f"on {word('fraction', fraction)} of each class"
                + (f" without any {classes[leave_out]}" if leave_out is not None else "")
                + ", and the same student on hard labels only.")
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

# --------------------------------------------------------------------------- by training fraction

st.subheader("Soft targets vs hard labels by training data", anchor=False)
fractions = ui.DISTILL_FRACTIONS
frac_swept = all(ui.is_done(("distill", *key[:6], f, leave_out)) for f in fractions)
if frac_swept or st.button("Train every fraction", key="sweep_fraction", icon=":material/bar_chart:",
                           help=f"Trains this setting at {', '.join(word('fraction', f) for f in fractions)} "
                                "of each class (same T, α, epochs and left-out class); cached afterwards."):
    ok, rows = ui.guard(ui.with_progress, ui.fraction_sweep, *key[:6], fractions, leave_out,
                        label="Training per fraction", show=not frac_swept)
    if ok:
        ui.plot(st, charts.distill_fractions_chart(rows, None if leave_out is None else classes[leave_out]))
        for r in rows:
            lines = [verdict_sentence(r["paired"], f"{word('fraction', r['fraction'])} ({r['n_train']:,} images)")]
            if "paired_left_out" in r:
                lines.append(verdict_sentence(r["paired_left_out"], f"on the left-out {classes[leave_out]}s"))
            st.markdown(" — ".join(lines))
else:
    st.caption(f"Trains the student pair at {len(fractions)} fractions; the 100 % one takes about 20 s on mnist-5k "
               "the first time.")

# --------------------------------------------------------------------------- temperature sweep

st.subheader("Accuracy vs temperature", anchor=False)
sweep_key = (teacher, student, ui.DISTILL_TEMPERATURES, float(alpha), int(epochs), int(seed))  # all images
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
done = ui.is_done(("compress_student", *key[:6], items, *key[6:]))
ok, report = ui.guard(ui.with_progress, ui.compress_student, *key[:6], items, *key[6:],
                      label=f"Compressing {student}",
                      show=not done and cfg.trains)
if ok:
    teacher_fp32 = ui.model_info()[teacher]["params"] * 4
    c1, c2, c3 = st.columns(3)
    # short delta words, the rest in captions: long delta descriptions are cut ("vs the unco…")
    # in three columns at 1280×720 and 150 % zoom
    c1.metric(f"Accuracy ({report.kinds.get('accuracy', 'simulated')})", ui.pct(report.accuracy),
              delta=ui.pts(report.accuracy - report.accuracy_baseline),
              delta_color=ui.delta_color(measure.noise_verdict(report.accuracy_delta, report.accuracy_delta_ci95)),
              delta_arrow=ui.delta_arrow(report.accuracy - report.accuracy_baseline),
              help="The distilled student after the sidebar's compression, on the same test images.")
    c1.caption(f"{ui.ci_text(report.accuracy_ci95)}; delta vs the uncompressed distilled student")
    c2.metric("Size (theoretical)", charts.fmt_bytes(report.size_bytes["compressed"]),
              delta=f"{report.compression_ratio:.1f}× smaller", delta_arrow="off")
    c2.caption(f"vs {charts.fmt_bytes(report.size_bytes['fp32'])} for the fp32 student")
    vs_teacher = teacher_fp32 / report.size_bytes["compressed"]
    c3.metric("vs the teacher (fp32)",
              f"{vs_teacher:.1f}× smaller" if vs_teacher >= 1 else f"{1 / vs_teacher:.1f}× larger",
              delta=ui.pts(report.accuracy - teacher_acc),
              delta_color=ui.delta_color(None),  # two models, no paired interval: no verdict, no colour
              help=f"Teacher {teacher}: {charts.fmt_bytes(teacher_fp32)} at 32 bits per parameter.")
    c3.caption("delta: accuracy vs the teacher")
