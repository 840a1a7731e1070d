"""The Distill page on mnist-5k: a fraction of the images, a left-out digit, both students with intervals.

Driven headlessly with AppTest; 1 epoch and 5 % of the images keep each training under a second.
"""
from __future__ import annotations

import re

import pytest

pytest.importorskip("streamlit")

from compression import data, distill, measure  # noqa: E402
from compression.charts import signed  # noqa: E402
from tests.test_app import figures, metric, start  # noqa: E402

VERDICTS = {"a real gain": "soft targets beat hard labels", "a real loss": "hard labels beat soft targets",
            "within noise": "no clear winner"}
SENTENCE = re.compile(r"distilled minus hard labels ([+-][\d.]+) pts \(paired 95 % CI ([+-][\d.]+) to "
                      r"([+-][\d.]+) pts, ([\d,]+) images\), (a real gain|a real loss|within noise): "
                      r"\*\*(.+?)\*\*")


def _distill_page(query: dict[str, str] | None = None):
    at = start(query)
    at.switch_page("pages/distill.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _verdicts(at) -> list[tuple[float, float, float, int, str, str]]:
    found = []
    for md in at.markdown:
        for m in SENTENCE.finditer(md.value):
            d, lo, hi, n, verdict, words = m.groups()
            found.append((float(d), float(lo), float(hi), int(n.replace(",", "")), verdict, words))
    return found


def test_pickers_open_on_a_teacher_and_student_sharing_mnist_5k():
    at = _distill_page()
    assert at.selectbox(key="teacher").value == "mlp800-mnist"
    assert at.selectbox(key="student").value == "mlp30-mnist"
    assert at.selectbox(key="distill_fraction").value == 1.0
    for key in ("teacher", "student", "distill_fraction", "leave_out"):
        assert at.selectbox(key=key).help, key  # a help line on every control
    # digits: the digits pair
    at.selectbox(key="teacher").set_value("mlp-digits").run()
    assert at.selectbox(key="student").value == "mlp-small-digits"


def test_fraction_and_left_out_digit_train_both_students_with_intervals():
    at = _distill_page({"fraction": "0.05", "leave_out": "3", "epochs": "1"})
    assert at.selectbox(key="distill_fraction").value == 0.05
    assert at.selectbox(key="leave_out").value == 3
    assert not any("per epoch" in f["layout"]["title"]["text"] for f in figures(at))
    at.button(key="train_student").click().run()  # a link never trains unasked
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    for label in ("Student, distilled", "Student, hard labels only", "Distilled, on the", "Hard labels, on the"):
        assert metric(at, label).endswith(" %"), label
    cis = [c.value for c in at.caption if c.value.startswith("95% CI")]
    assert len(cis) >= 5, cis  # teacher, two students, two on the left-out digit
    n_train = len(distill.subset_indices(data.load("mnist-5k").y_train, 0.05, 3))  # 5 % of each class but 3
    assert any(f"{n_train:,} images" in c.value and "no 3s" in c.value for c in at.caption)
    verdicts = _verdicts(at)
    assert [v[3] for v in verdicts] == [1000, 100], verdicts  # all test images, then the test 3s
    for d, lo, hi, _, verdict, words in verdicts:
        # the sentence is what the interval says (rounded to 0.1 pt as shown)
        assert lo - 0.05 <= d <= hi + 0.05
        assert verdict == measure.noise_verdict(d, (lo, hi)) or min(abs(lo), abs(hi)) < 0.05
        assert words == VERDICTS[verdict]
    # a change: the link holds it, the last result stays, and the page says what changed
    at.selectbox(key="leave_out").set_value(5).run()
    at.selectbox(key="distill_fraction").set_value(0.1).run()
    assert at.query_params["fraction"] == "0.1" and at.query_params["leave_out"] == "5"
    assert any("fraction 5 % → 10 %" in i.value and "left-out class 3 → 5" in i.value for i in at.info), \
        [i.value for i in at.info]
    assert metric(at, "Distilled, on the").endswith(" %")


def test_every_fraction_chart_and_a_verdict_per_fraction():
    at = _distill_page({"fraction": "0.05", "leave_out": "7", "epochs": "1"})
    at.button(key="train_student").click().run()
    at.button(key="sweep_fraction").click().run()
    assert not at.exception, [e.value for e in at.exception]
    fig = [f for f in figures(at) if "by training data" in f["layout"]["title"]["text"]]
    assert len(fig) == 1
    names = [t["name"] for t in fig[0]["data"]]
    assert names == ["distilled: all test images", "hard labels: all test images",
                     "distilled: left-out 7", "hard labels: left-out 7"]
    assert len(fig[0]["data"][0]["x"]) == 3  # 5 %, 10 %, 100 %
    assert len(_verdicts(at)) == 2 + 2 * 3  # the trained setting, then each fraction, overall and on the 7s


def test_a_fashion_teacher_opens_on_the_fashion_student_and_trains_both(monkeypatch):
    # issue 17: the Fashion-MNIST pair (resnet-fashion -> the 784-64-10 mlp-fashion), same controls
    at = _distill_page({"teacher": "resnet-fashion", "fraction": "0.05", "epochs": "1"})
    assert at.selectbox(key="teacher").value == "resnet-fashion"
    assert at.selectbox(key="student").value == "mlp-fashion"
    at.button(key="train_student").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    ds = data.load("fashion-mnist")
    for label in ("Student, distilled", "Student, hard labels only"):
        assert metric(at, label).endswith(" %"), label
    (found,) = _verdicts(at)
    assert found[3] == len(ds.y_test)  # the 10,000 test images, paired


def test_a_language_teacher_trains_its_own_student_with_a_paired_perplexity_interval(monkeypatch):
    from compression.lm import distill as lm_distill
    monkeypatch.setattr(lm_distill, "WINDOWS", 32)
    monkeypatch.setattr(lm_distill, "VALIDATION_TOKENS", 2048)
    monkeypatch.setenv("COMPRESSION_LAB_CACHE", str(__import__("tempfile").mkdtemp()))
    at = _distill_page({"teacher": "tinygpt-pydoc", "steps": "3", "temperature": "2", "alpha": "0.5"})
    assert not at.error, [e.value for e in at.error]
    assert at.number_input(key="lm_distill_steps").value == 3 and at.number_input(key="lm_distill_steps").help
    assert any("image options" in c.value and "do not apply" in c.value for c in at.caption)
    assert not any("Distilled (T" in m.label for m in at.metric)  # a link never trains unasked
    at.button(key="train_lm_students").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    expected = lm_distill.distill(2.0, 0.5, 3)
    assert metric(at, "Distilled (T = 2, α = 0.5)") == f"{expected['perplexity']:.2f}"
    assert metric(at, "Hard labels only") == f"{expected['perplexity_hard_labels']:.2f}"
    sentence = next(md.value for md in at.markdown if "distilled minus hard labels" in md.value)
    lo, hi = expected["perplexity_delta_ci95"]
    assert f"CI {signed(lo)} to {signed(hi)}" in sentence
