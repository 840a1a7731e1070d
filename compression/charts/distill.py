"""Distill's figures: soft targets, training history, temperature and data-fraction curves."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from compression.charts.theme import (
    PALETTE,
    _centre_note,
    _ci_band,
    _ci_text,
    _current,
    _figure,
    _pct_format,
    _rgba,
    fixed,
)


def soft_targets_chart(probs_t: list[float], probs_1: list[float], classes: list[str], temperature: float,
                       true_class: int | None = None) -> go.Figure:
    """The teacher's softmax at temperature T beside T = 1 for one image, per class."""
    if not len(probs_t) == len(probs_1) == len(classes):
        raise ValueError(f"probs_t, probs_1 and classes need one entry per class "
                         f"(got {len(probs_t)}, {len(probs_1)}, {len(classes)})")
    labels = [str(c) for c in classes]
    # the true class gets an outline on both of its bars: visible without a third colour
    outline = [3 if i == true_class else 0 for i in range(len(labels))]
    data = [dict(type="bar", x=labels, y=list(probs), name=name,
                 marker=dict(color=color, line=dict(width=outline, color=PALETTE["accent"])),
                 hovertemplate=f"class %{{x}}<br>p = %{{y:.3f}}<extra>{name}</extra>")
            for name, probs, color in ((f"T = {temperature:g}", probs_t, PALETTE["teacher"]),
                                       ("T = 1", probs_1, PALETTE["original"]))]
    annotations = []
    if true_class is not None:
        annotations.append(dict(x=labels[true_class], y=1, yref="paper", text="true class", showarrow=False,
                                yanchor="bottom", font=dict(color=PALETTE["accent"], size=12)))
    layout = dict(barmode="group", bargap=0.25, bargroupgap=0.05, annotations=annotations,
                  xaxis=dict(type="category"), yaxis=dict(range=[0, 1]))
    # a confident teacher's T = 1 entropy is small, never zero: it must not read "0.00 bits"
    subtitle = (f"entropy {fixed(_entropy_bits(probs_t), 2)} bits at T = {temperature:g} "
                f"vs {fixed(_entropy_bits(probs_1), 2)} bits at T = 1")
    return _figure(data, layout, f"Teacher's soft targets at T = {temperature:g} vs T = 1", "class",
                   "probability (0–1)", subtitle)


def distill_history(history: list[dict]) -> go.Figure:
    """Per-epoch test accuracy of the distilled and the hard-label student (keys may be missing mid-run)."""
    epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]
    data, seen = [], []
    for key, name, color, dash in (("distilled", "distilled (soft targets)", PALETTE["student"], "solid"),
                                   ("hard_labels", "hard labels only", PALETTE["baseline"], "dash")):
        ys = [h.get(key) for h in history]
        seen += [y for y in ys if y is not None]
        data.append(dict(type="scatter", x=epochs, y=ys, mode="lines+markers", name=name, connectgaps=False,
                         line=dict(color=color, width=2, dash=dash), marker=dict(size=5),
                         hovertemplate=f"epoch %{{x}}<br>accuracy %{{y:.1%}}<extra>{name}</extra>"))
    layout = dict(yaxis=dict(tickformat=_pct_format(seen)),
                  xaxis=dict(dtick=1 if len(epochs) <= 12 else None),
                  annotations=[] if seen else [_centre_note("training not started")])
    return _figure(data, layout, "Student test accuracy per epoch", "epoch", "test accuracy (%)")


def temperature_curve(rows: list[dict], current: float | None = None) -> go.Figure:
    """Distilled student accuracy (95% CI band) vs temperature, hard-label training as the reference."""
    rows = sorted(rows, key=lambda r: r["temperature"])
    ts = [r["temperature"] for r in rows]
    acc = [r["accuracy"] for r in rows]
    data = _ci_band(ts, [r["lo"] for r in rows], [r["hi"] for r in rows], PALETTE["student"])
    data.append(dict(type="scatter", x=ts, y=acc, mode="lines+markers", name="distilled, 95% CI",
                     line=dict(color=PALETTE["student"], width=2), marker=dict(size=6),
                     customdata=[_ci_text(r) for r in rows],
                     hovertemplate="T = %{x:g}<br>accuracy %{customdata}<extra></extra>"))
    hard = [r.get("accuracy_hard_labels") for r in rows]
    if any(h is not None for h in hard):
        data.append(dict(type="scatter", x=ts, y=hard, mode="lines", name="hard labels only",
                         line=dict(color=PALETTE["baseline"], width=1.5, dash="dash"),
                         hovertemplate="T = %{x:g}<br>hard labels only: accuracy %{y:.1%}<extra></extra>"))
    shapes: list[dict] = []
    if current is not None:
        _current(data, shapes, ts, acc, current, f"T = {current:g}")
    xaxis: dict[str, Any] = {}
    # temperatures are usually spread geometrically (1, 2, 4, 8, 16): a log axis spaces them evenly
    if ts and min(ts) > 0 and max(ts) / min(ts) >= 8:
        xaxis = dict(type="log", tickmode="array", tickvals=ts, ticktext=[f"{t:g}" for t in ts])
    span = [r["lo"] for r in rows] + [r["hi"] for r in rows] + [h for h in hard if h is not None]
    layout = dict(xaxis=xaxis, yaxis=dict(tickformat=_pct_format(span)), shapes=shapes,
                  annotations=[] if rows else [_centre_note("no temperatures evaluated yet")])
    return _figure(data, layout, "Distilled student accuracy vs temperature", "temperature T (dimensionless)",
                   "test accuracy (%)")


def _entropy_bits(probs: Sequence[float]) -> float:
    return -sum(p * math.log2(p) for p in probs if p > 0)


def distill_fractions_chart(rows: list[dict], leave_out: str | None = None) -> go.Figure:
    """Distilled vs hard-label student accuracy per training fraction (95% CI bars), and on a left-out class.

    `rows` are DistillResult.to_dict() rows (fraction, n_train, accuracy and its
    accuracy_ci95, accuracy_hard_labels and its ci95, and the accuracy_left_out* keys when a
    class was left out), one per fraction. The left-out class's bars use its own test images,
    so their intervals are wider (Hinton, Vinyals & Dean 2015, §3).
    """
    rows = sorted(rows, key=lambda r: r["fraction"])
    # two lines a tick: the labels fit side by side at 1280×720 and 150 % zoom
    labels = [f"{r['fraction'] * 100:g} %<br>{r['n_train']:,} images" for r in rows]
    series = [("accuracy", "distilled: all test images", PALETTE["student"], ""),
              ("accuracy_hard_labels", "hard labels: all test images", PALETTE["baseline"], "")]
    if leave_out is not None and rows and all("accuracy_left_out" in r for r in rows):
        series += [("accuracy_left_out", f"distilled: left-out {leave_out}", PALETTE["student"], "/"),
                   ("accuracy_left_out_hard_labels", f"hard labels: left-out {leave_out}", PALETTE["baseline"], "/")]
    data, span = [], []
    for key, name, color, pattern in series:
        ys = [r[key] for r in rows]
        cis = [r[key + "_ci95"] for r in rows]
        span += [c[0] for c in cis] + [c[1] for c in cis]
        marker: dict[str, Any] = dict(color=color if not pattern else _rgba(color, 0.35),
                                      line=dict(color=color, width=1.5))
        if pattern:  # the left-out class: hatched, so it reads apart from the overall bars without colour
            marker["pattern"] = dict(shape=pattern, fgcolor=color)
        data.append(dict(type="bar", x=labels, y=ys, name=name, marker=marker,
                         error_y=dict(type="data", symmetric=False,
                                      array=[max(0.0, c[1] - y) for c, y in zip(cis, ys)],
                                      arrayminus=[max(0.0, y - c[0]) for c, y in zip(cis, ys)],  # no -1e-18
                                      color=PALETTE["accent"], thickness=1.5, width=4),
                         customdata=[f"{y * 100:.1f} % (95% CI {c[0] * 100:.1f}–{c[1] * 100:.1f} %)"
                                     for y, c in zip(ys, cis)],
                         hovertemplate=f"%{{x}}<br>accuracy %{{customdata}}<extra>{name}</extra>"))
    layout = dict(barmode="group", bargap=0.3, bargroupgap=0.05, xaxis=dict(type="category"),
                  yaxis=dict(range=[0, 1.02], tickformat=_pct_format(span)),
                  annotations=[] if rows else [_centre_note("no fractions trained yet")])
    subtitle = "95% Wilson intervals"
    if leave_out is not None:
        subtitle += f"; the students never saw a labelled {leave_out}"
    return _figure(data, layout, "Soft targets vs hard labels by training data",
                   "student's training images (share of each class)", "test accuracy (%)", subtitle)
