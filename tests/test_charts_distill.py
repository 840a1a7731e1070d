"""charts.distill_fractions_chart: its bars and error bars are the rows' accuracies and 95 % intervals."""
import json
import math

import plotly.graph_objects as go
import pytest

from compression import charts


def wilson_by_hand(k: int, n: int, z: float = 1.959963984540054) -> list[float]:
    """Wilson 1927's score interval, written out from the formula."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return [max(0.0, centre - half), min(1.0, centre + half)]


def row(fraction: float, n_train: int, right: int, right_hard: int, right_lo: int | None = None,
        right_lo_hard: int | None = None, n: int = 1000, n_lo: int = 100) -> dict:
    r = {"fraction": fraction, "n_train": n_train, "n_test": n,
         "accuracy": right / n, "accuracy_ci95": wilson_by_hand(right, n),
         "accuracy_hard_labels": right_hard / n, "accuracy_hard_labels_ci95": wilson_by_hand(right_hard, n)}
    if right_lo is not None:
        r.update(accuracy_left_out=right_lo / n_lo, accuracy_left_out_ci95=wilson_by_hand(right_lo, n_lo),
                 accuracy_left_out_hard_labels=right_lo_hard / n_lo,
                 accuracy_left_out_hard_labels_ci95=wilson_by_hand(right_lo_hard, n_lo), n_left_out=n_lo)
    return r


ROWS = [row(1.0, 3600, 880, 860, 40, 0), row(0.05, 180, 700, 690, 12, 0), row(0.1, 360, 780, 770, 20, 0)]


def test_bars_are_the_rows_in_fraction_order_with_their_intervals():
    fig = charts.distill_fractions_chart(ROWS, leave_out="3")
    ordered = sorted(ROWS, key=lambda r: r["fraction"])
    assert [t.name for t in fig.data] == ["distilled: all test images", "hard labels: all test images",
                                          "distilled: left-out 3", "hard labels: left-out 3"]
    for trace, key in zip(fig.data, ("accuracy", "accuracy_hard_labels", "accuracy_left_out",
                                     "accuracy_left_out_hard_labels")):
        assert list(trace.x) == ["5 %<br>180 images", "10 %<br>360 images", "100 %<br>3,600 images"]
        assert list(trace.y) == [r[key] for r in ordered]
        for y, up, down, r in zip(trace.y, trace.error_y.array, trace.error_y.arrayminus, ordered):
            lo, hi = r[key + "_ci95"]
            assert y + up == pytest.approx(hi) and y - down == pytest.approx(lo)
            assert down >= 0 and up >= 0
    # a zero accuracy (the hard-label student on a class it never saw) still has an upper bar
    assert fig.data[3].y[0] == 0.0 and fig.data[3].error_y.array[0] == pytest.approx(wilson_by_hand(0, 100)[1])


def test_without_a_left_out_class_only_the_overall_bars():
    rows = [{k: v for k, v in r.items() if "left_out" not in k} for r in ROWS]
    fig = charts.distill_fractions_chart(rows)
    assert len(fig.data) == 2
    assert "left-out" not in fig.layout.title.subtitle.text
    assert "Wilson" in fig.layout.title.subtitle.text


def test_empty_rows_say_so_and_the_figure_validates():
    assert "no fractions" in charts.distill_fractions_chart([]).layout.annotations[0].text
    fig = charts.distill_fractions_chart(ROWS, leave_out="3")
    # built without validation for speed: plotly's validating constructor gives the same figure
    assert go.Figure(fig.to_dict()).to_dict() == fig.to_dict()
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text == "test accuracy (%)"
    json.loads(fig.to_json())


def test_a_confident_teachers_entropy_never_reads_zero():
    # 0.9999 on one class of ten: H = -(p log2 p + 9 q log2 q), q = 1e-4 / 9, by hand ≈ 0.0018 bits
    q = 1e-4 / 9
    by_hand = -(0.9999 * math.log2(0.9999) + 9 * q * math.log2(q))
    probs_1 = [0.9999] + [q] * 9
    fig = charts.soft_targets_chart([0.1] * 10, probs_1, [str(i) for i in range(10)], 4.0, 0)
    subtitle = fig.layout.title.subtitle.text
    assert f"vs {by_hand:.2g} bits at T = 1" in subtitle and "0.00 bits" not in subtitle, subtitle
