"""Distill with a language teacher (issue 18): tinygpt-pydoc's token-level soft targets train a
smaller tiny GPT, beside the same student on the next bytes alone (compression.lm.distill).

Training both takes a minute or two on one core: it runs on a button press, with progress and
Stop, in a worker; the result is kept in the history (kind "lm-distill") for every session.
"""
from __future__ import annotations

import json
from typing import Any

import streamlit as st

from compression import history, measure, workers
from compression.charts import signed
from ui import backend
from ui.fmt import DISTILL_VERDICT
from ui.sidebar import HELP, temperature_slider
from ui.state import ALPHA_STEP, keep

STEPS_MAX = 2000


@st.cache_data(show_spinner=False, max_entries=16)
def distilled(temperature: float, alpha: float, steps: int, seed: int, _progress=None) -> dict[str, Any]:
    """Both students of one setting (workers.lm_distilled, in a worker). An exception
    propagates, so st.cache_data keeps nothing for a failure or a Stop."""
    out = backend.offload(workers.lm_distilled, temperature, alpha, steps, seed, progress=_progress)
    backend._done(("lm-distill", temperature, alpha, steps, seed))
    return out


def _ppl(x: float) -> str:
    return f"{x:.2f}"


def _ci(ci: list[float]) -> str:
    return f"95 % CI {ci[0]:.2f}–{ci[1]:.2f}"


def verdict(r: dict[str, Any]) -> str:
    """One sentence from the paired interval of the change (distilled minus hard labels)."""
    lo, hi = r["perplexity_delta_ci95"]
    delta = r["perplexity"] - r["perplexity_hard_labels"]
    word = measure.noise_verdict(-delta, (-hi, -lo))  # lower perplexity is the gain
    what = DISTILL_VERDICT[word]
    return (f"Validation perplexity, distilled minus hard labels: {signed(delta)} (paired 95 % CI {signed(lo)} to "
            f"{signed(hi)}, the same {r['chunks']} chunks of {r['tokens'] // r['chunks']} bytes resampled for both), "
            f"{word}: **{what}**.")


def section(teacher: str, temperature: float, alpha: float, seed: int) -> None:
    """The whole Distill page below the teacher picker for a language teacher."""
    from compression.lm import distill
    st.caption(f"{teacher} is a language model: its student is a smaller tiny GPT "
               f"(d = {distill.STUDENT.dim}, {distill.STUDENT.depth} blocks), trained on the teacher's "
               "next-byte distributions softened at T, token by token, beside the same student on the next "
               "bytes alone. The image options (student, training images, left-out class) do not apply.")
    c1, c2 = st.columns(2)
    temperature_slider(container=c1)
    c2.slider("α (soft-target weight)", 0.0, 1.0, step=ALPHA_STEP, help=HELP["alpha"],
              **keep("alpha", alpha))
    s1, _ = st.columns(2)
    steps = int(s1.number_input("Training steps", 1, STEPS_MAX, step=50,
                                help=f"Optimizer steps for each student (batches of {distill.BATCH} windows of "
                                     f"{distill.STUDENT.context} bytes); 200 take about a minute each here.",
                                **keep("lm_distill_steps", distill.STEPS)))
    T, a = float(st.session_state["temperature"]), float(st.session_state["alpha"])
    with st.expander("The loss, token by token", expanded=False, icon=":material/function:"):
        st.latex(r"\mathcal{L} = \frac{1}{N}\sum_{t}\Big[\alpha\, T^2\, \mathrm{KL}\!\left(p^{T}_{\text{teacher}, t}"
                 r" \,\Vert\, p^{T}_{\text{student}, t}\right) + (1-\alpha)\, \mathrm{CE}_t\Big]")
        st.caption(f"Hinton, Vinyals & Dean 2015, at every position t of {distill.WINDOWS} fixed training "
                   "windows (the teacher's distributions computed once for each); the hard-label student "
                   "takes the CE term alone. Same initial weights, same batches in the same order.")
    st.subheader("Train both students", anchor=False)
    key = ("lm-distill", T, a, steps, int(seed))
    # trained by any session, before a restart too: drawn without asking
    done = backend.is_done(key) or history.is_kept(distill.HISTORY_KIND, teacher,
                                                   distill.history_params(T, a, steps, int(seed)))
    b1, b2 = st.columns(2)
    clicked = b1.button("Train both students", type="primary", key="train_lm_students", icon=":material/play_arrow:",
                        disabled=done,
                        help="Trains the distilled and the hard-label student (a minute or two); the result is "
                             "kept in the history for every session.")
    if not (done or clicked):
        st.info("Press **Train both students**: nothing is trained until you ask.", icon=":material/school:")
        return
    stop = b2.empty()
    if not done:
        # a press of Stop reruns the page, which ends the run at its next progress update
        stop.button("Stop", key="stop_lm_students", icon=":material/stop:",
                    help="Stops the training; nothing is kept.")
    ok, r = backend.guard(backend.with_progress, distilled, T, a, steps, int(seed),
                          label="Training the students", show=not done)
    stop.empty()
    if not ok:
        return
    c1, c2, c3 = st.columns(3)
    c1.metric(f"Teacher {teacher}", _ppl(r["perplexity_teacher"]),
              help=f"Validation perplexity of the teacher ({r['teacher_params']:,} parameters), on the same chunks.")
    c2.metric(f"Distilled (T = {T:g}, α = {a:g})", _ppl(r["perplexity"]),
              delta=signed(r['perplexity'] - r['perplexity_hard_labels']), delta_color="inverse",
              delta_description="vs hard labels",
              help=f"The student ({r['student_params']:,} parameters) on the teacher's soft targets; lower is better.")
    c2.caption(_ci(r["perplexity_ci95"]))
    c3.metric("Hard labels only", _ppl(r["perplexity_hard_labels"]),
              help="The same student, same init and batches, on the next bytes alone.")
    c3.caption(_ci(r["perplexity_hard_labels_ci95"]))
    st.markdown(verdict(r))
    st.caption(f"{r['steps']} steps of {r['batch_size']} windows each; validation split of CPython's documentation "
               f"topics ({r['tokens']:,} bytes); intervals: 95 % bootstrap over chunks.")
    st.download_button("Result as JSON", json.dumps(r, indent=2), file_name=f"distill-{teacher}.json",
                       mime="application/json", icon=":material/download:", key="lm_distill_json",
                       help="Exactly the numbers above (python -m compression distill --teacher "
                            f"{teacher} --temperature {T:g} --alpha {a:g} --steps {steps} --json).")
