"""Report -> plotly figures: pure functions, no streamlit, one shared look.

Every figure has a title, axis titles with units and hover text with units, and says
which kind of number it shows (simulated / theoretical / measured / estimate) where the
page around it might not. Histograms arrive binned from the server, so a figure is a
handful of traces of at most ~150 points. Each figure is built as plain dicts in plotly's
canonical form and handed to go.Figure without property-by-property validation (~0.5 ms
instead of 3-4 ms a figure, which matters when eight charts redraw on a slider move); the
tests rebuild every figure with validation and check it is the same.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from compression import quantizers
from compression.pipeline import LayerReport, Report

# -----------------------------------------------------------------------------
# formatting helpers (the page uses these for its metric cards too)


def pct(x: float) -> str:
    """A fraction as a percentage with one decimal and a space: 0.972 -> '97.2 %'."""
    return f"{x * 100:.1f} %"


def fmt_bytes(n: float) -> str:
    """Bytes as B / KB / MB / GB, 1 KB = 1024 B (as the energy model's 32 KB SRAM)."""
    factor, unit = _pick_unit(abs(n), BYTE_UNITS)
    return f"{n:.0f} B" if factor == 1 else f"{n / factor:.1f} {unit}"


def fmt_energy(pj: float) -> str:
    """Picojoules as pJ / nJ / µJ / mJ / J with one decimal: 244501 -> '244.5 nJ'."""
    factor, unit = _pick_unit(abs(pj), ENERGY_UNITS)
    return f"{pj / factor:.1f} {unit}"


# -----------------------------------------------------------------------------
# weights and quantization error


def weight_histogram(report: Report, layer: str, hide_zeros: bool = False,
                     log_y: bool = False) -> go.Figure:
    """Original vs compressed non-zero weights of one layer, the zero spike and the quantization grid."""
    lr = _layer(report, layer)
    h = lr.hist
    edges = h["edges"]
    width = edges[1] - edges[0]
    centres = _centres(edges)
    half = f"{width / 2:.2g}"  # hover says centre ± half a bin: one number per bar keeps the JSON small
    series = (("original", "original (fp32)", h["original"], h["zeros_original"]),
              ("compressed", "compressed", h["compressed"], h["zeros_compressed"]))
    data = [dict(type="bar", x=centres, y=counts, width=width, name=name, legendgroup=key, opacity=0.55,
                 marker=dict(color=PALETTE[key], line=dict(width=0)),
                 hovertemplate=f"weight %{{x:.3f}} ± {half}<br>%{{y:,}} weights<extra>{name}</extra>")
            for key, name, counts, _ in series]
    if not hide_zeros:
        # Zeros are counted apart: pruned weights would otherwise vanish into the bin around 0.
        # Three bins wide so a one-bin sliver stays visible; labelled, since it is not a bin.
        why = "pruned or rounded to 0" if lr.bits < 32 else "pruned"
        for key, name, _, zeros in series:
            label = "exactly 0" if key == "original" else f"zeros ({why})"
            data.append(dict(type="bar", x=[0.0], y=[zeros], width=3 * width, name=f"{name}: zeros",
                             legendgroup=key, showlegend=False, opacity=0.85,
                             marker=dict(color=PALETTE[key], line=dict(width=1, color=PALETTE[key])),
                             text=[f"{zeros:,} zeros"] if key == "compressed" and zeros else None,
                             textposition="outside", constraintext="none", cliponaxis=False,
                             hovertemplate=f"{label}<br>%{{y:,}} weights<extra>{name}</extra>"))
    layout: dict[str, Any] = dict(barmode="overlay", bargap=0)
    tallest_kept = max([*h["original"], *h["compressed"], 1])
    spike = 0 if hide_zeros else max(h["zeros_original"], h["zeros_compressed"])
    if not log_y and spike > 4 * tallest_kept:
        # At high sparsity the zero spike would flatten the kept weights into the axis: keep
        # the scale of the kept weights and let the spike run off the top, saying so.
        top = 1.25 * tallest_kept
        layout["yaxis"] = dict(range=[0, top])
        for trace in data:
            trace.pop("text", None)
        layout["annotations"] = [dict(x=0, y=top, text=f"↑ {h['zeros_compressed']:,} zeros (off scale)",
                                      showarrow=False, yanchor="bottom", xanchor="left", xshift=6,
                                      font=dict(size=11, color=PALETTE["compressed"]))]
    if lr.levels:
        # All levels as one trace of None-separated vertical segments on a hidden 0..1 axis:
        # full height on linear and log scales alike, one legend entry that toggles them, and
        # ~5x cheaper to build than one layout shape per level.
        data.append(dict(type="scatter", x=[v for v in lr.levels for v in (v, v, None)],
                         y=[0, 1, None] * len(lr.levels), yaxis="y2", mode="lines",
                         name=f"{len(lr.levels)} quantization levels",
                         line=dict(color=PALETTE["accent"], width=1, dash="dot"),
                         hovertemplate="quantization level %{x:.4f}<extra></extra>"))
        layout["yaxis2"] = dict(overlaying="y", range=[0, 1], visible=False, fixedrange=True)
    sparsity = h["zeros_compressed"] / math.prod(lr.shape)
    if log_y:
        # Our own ticks: plotly labels every digit of a narrow decade (they collide) or shows 20 as "2"
        tallest = max([*h["original"], *h["compressed"], 0 if hide_zeros else h["zeros_original"],
                       0 if hide_zeros else h["zeros_compressed"], 1])
        ticks = _log_ticks(tallest)
        layout["yaxis"] = dict(type="log", tickmode="array", tickvals=ticks, ticktext=[_count_text(t) for t in ticks])
    return _figure(data, layout, f"Weights of {lr.name} · {_bits_label(report, lr.bits)} · {pct(sparsity)} zero",
                   "weight value", "count of weights (log scale)" if log_y else "count of weights")


def quant_error_bars(report: Report, metric: str = "sqnr_db") -> go.Figure:
    """Per-layer weight quantization error: SQNR in dB (higher is better) or MSE (lower is better)."""
    if metric not in ERROR_METRICS:
        raise ValueError(f"metric={metric!r} is not allowed: use one of {', '.join(ERROR_METRICS)}")
    label, y_title, better, fmt, unit = ERROR_METRICS[metric]
    names, values, text, hover, annotations = [], [], [], [], []
    how = _quantizer_label(report)
    bits = report.config.get("bits", 32)
    for lr in report.layers:
        v = getattr(lr, metric)
        finite = v is not None and math.isfinite(v)
        names.append(lr.name)
        values.append(v if finite else None)
        text.append(("0" if v == 0 else _number(v, fmt) + unit) if finite else "")
        hover.append(f"{_bits_text(lr.bits)} {how}<br>stored as {lr.format}")
        if not finite:
            # None / inf = no error at all (an infinitely tall bar cannot be drawn): say it in words
            sign = "−" if v is not None and v < 0 else ""
            annotations.append(dict(x=lr.name, y=0, text=f"{sign}∞", showarrow=False, yanchor="bottom",
                                    yshift=4, font=dict(size=16, color=PALETTE["accent"]),
                                    hovertext=f"{lr.name}: no quantization error ({label} = {sign}∞)"))
    data = [dict(type="bar", x=names, y=values, customdata=hover, name=label, text=text,
                 marker=dict(color=PALETTE["compressed"], line=dict(width=0)), textposition="outside", cliponaxis=False,
                 hovertemplate=f"%{{x}}<br>{label} %{{y:{fmt}}}{unit}<br>%{{customdata}}<extra></extra>")]
    # MSE: powers of ten on every tick (minexponent 0), written as the bar labels are: 4.96e−4
    layout: dict[str, Any] = dict(showlegend=False,
                                  yaxis=dict(exponentformat="e", minexponent=0) if metric == "mse" else {})
    if all(not v for v in values):  # None (SQNR ∞) or 0 (MSE) everywhere
        annotations.append(_centre_note("no quantization error at 32 bits" if bits >= 32 else "no quantization error"))
        layout["yaxis"].update(range=[0, 1], showticklabels=False, ticks="")  # no scale to read: no numbers
    layout["annotations"] = annotations
    return _figure(data, layout, "Quantization error per layer", "layer", y_title,
                   f"{label}: {better} · {_bits_text(bits)} {how}")


def error_distribution(report: Report, layer: str) -> go.Figure:
    """Histogram of the quantization error w_q − w over one layer's kept weights."""
    lr = _layer(report, layer)
    edges, counts = lr.error_hist.get("edges", []), lr.error_hist.get("counts", [])
    title = f"Quantization error of {lr.name} · {_bits_label(report, lr.bits)}"
    x_title = "quantization error w_q − w (weight units)"
    # At 32 bits the error histogram is one spike at 0 (or empty): a sentence says more.
    if lr.bits >= 32 or not counts or lr.max_abs_error == 0:
        note = "no quantization error at 32 bits" if lr.bits >= 32 else "no quantization error"
        blank = dict(range=[0, 1], showticklabels=False, showgrid=False, ticks="")
        return _figure([], dict(showlegend=False, annotations=[_centre_note(note)], xaxis=dict(blank, range=[-1, 1]),
                                yaxis=blank), title, x_title, "count of weights")
    width = edges[1] - edges[0]
    data = [dict(type="bar", x=_centres(edges), y=counts, width=width, name="error",
                 marker=dict(color=PALETTE["compressed"], line=dict(width=0)),
                 hovertemplate=f"error %{{x:.4f}} ± {width / 2:.2g}<br>%{{y:,}} weights<extra></extra>")]
    sqnr = "∞" if lr.sqnr_db is None or not math.isfinite(lr.sqnr_db) else f"{lr.sqnr_db:.1f} dB"
    subtitle = (f"MSE {_number(lr.mse, '.2e')} · SQNR {sqnr} · max |error| {lr.max_abs_error:.3g} "
                "(kept weights only)")
    return _figure(data, dict(showlegend=False, bargap=0), title, x_title, "count of weights", subtitle)


# -----------------------------------------------------------------------------
# accuracy


def accuracy_curve(points: list[dict], field: str, current: float, baseline: float,
                   baseline_ci: tuple[float, float] | None = None, note: str | None = None) -> go.Figure:
    """Accuracy with its 95% CI as one config field varies; the current setting and the baseline marked."""
    pts = sorted(points, key=lambda p: p[field])
    values = [p[field] for p in pts]
    acc = [p["accuracy"] for p in pts]
    xaxis: dict[str, Any] = {}
    if field == "bits":
        # Bit-widths 1..8, 12, 16, 32 are choices, not a scale: evenly spaced, labelled by value.
        xs: list[float] = list(range(len(values)))
        x_current = _position(values, current)
        x_title, title = "weight bits", "Accuracy vs bit-width"
        # Half a step of room beyond the first and last value, so "32 / float" sits inside the plot.
        xaxis = dict(tickmode="array", tickvals=xs, ticktext=[_bits_tick(v) for v in values],
                     range=[-0.5, max(len(values), 1) - 0.5], ticklabeloverflow="allow")
        x_text, current_text = [_bits_hover(v) for v in values], _bits_hover(current)
    elif field == "sparsity":
        xs, x_current = list(values), current
        x_title, title = "sparsity (%)", "Accuracy vs sparsity"
        xaxis = dict(tickformat=".0%")
        x_text, current_text = [f"sparsity {pct(v)}" for v in values], f"sparsity {pct(current)}"
    else:
        xs, x_current = list(values), current
        words = field.replace("_", " ")
        x_title, title = words, f"Accuracy vs {words}"
        x_text, current_text = [f"{words} {v:g}" for v in values], f"{words} {current:g}"
    data = _ci_band(xs, [p["lo"] for p in pts], [p["hi"] for p in pts], PALETTE["compressed"])
    data.append(dict(type="scatter", x=xs, y=acc, mode="lines+markers", name="compressed, 95% CI",
                     line=dict(color=PALETTE["compressed"], width=2), marker=dict(size=6),
                     customdata=[[t, _ci_text(p)] for t, p in zip(x_text, pts)],
                     hovertemplate="%{customdata[0]}<br>accuracy %{customdata[1]}<extra></extra>"))
    shapes: list[dict] = []
    _baseline(data, shapes, xs, baseline, baseline_ci)
    _current(data, shapes, xs, acc, x_current, current_text)
    span = [p["lo"] for p in pts] + [p["hi"] for p in pts] + [baseline]
    layout = dict(xaxis=xaxis, yaxis=dict(tickformat=_pct_format(span)), shapes=shapes,
                  annotations=[] if pts else [_centre_note("no points yet")])
    return _figure(data, layout, title, x_title, "test accuracy (%)", note)


# -----------------------------------------------------------------------------
# size and energy


def size_waterfall(report: Report) -> go.Figure:
    """Model size fp32 → pruned → compressed (theoretical) → saved file (measured), with the ratio vs fp32."""
    s = report.size_bytes
    # two short lines a bar: five bars must fit side by side in a 450 px column
    bits = _bits_label(report, report.config.get("bits", 32)).replace(" ", "<br>")
    labels = ["fp32<br>dense", "pruned<br>fp32", bits, "file<br>(measured)"]
    sizes = [s["fp32"], s["pruned"], s["compressed"], s["file"]]
    theory = [0, 1, 2]
    if "huffman" in s:  # Deep Compression's stage 3: entropy-coded codes and index gaps
        labels.insert(3, "Huffman<br>coded")
        sizes.insert(3, s["huffman"])
        theory.append(3)
    factor, unit = _pick_unit(max(sizes), BYTE_UNITS)
    # the ratio says which way: "27.5× smaller" (a bare "27.5×" reads as larger as easily)
    text = [fmt_bytes(sizes[0])] + [f"{fmt_bytes(v)}<br>{_ratio_text(s['fp32'], v)}" if v else "0 B"
                                    for v in sizes[1:]]
    hover = [f"{v:,.0f} bytes, fp32 ÷ this = {s['fp32'] / v:.2f}" if v else "0 bytes" for v in sizes]
    data = [dict(type="bar", x=[labels[i] for i in idx], y=[sizes[i] / factor for i in idx], name=name,
                 text=[text[i] for i in idx], customdata=[hover[i] for i in idx],
                 textposition="outside", cliponaxis=False, constraintext="none",  # full-size labels
                 marker=dict(color=PALETTE[kind], line=dict(width=0),
                             pattern=dict(shape=pattern, bgcolor=PALETTE[kind], fgcolor="white", solidity=0.25)),
                 hovertemplate=f"%{{x}}<br>%{{y:,.1f}} {unit} (%{{customdata}})<extra>{name}</extra>")
            for name, kind, idx, pattern in (("theoretical (bit count)", "theoretical", theory, ""),
                                             ("measured (file bytes)", "measured", [len(sizes) - 1], "/"))]
    layout = dict(barmode="relative", bargap=0.35,  # relative: one bar per category, no empty group slots
                  xaxis=dict(categoryorder="array", categoryarray=labels),
                  yaxis=dict(range=[0, max(sizes) / factor * 1.3]))  # room for the labels above the bars
    return _figure(data, layout, "Model size at each step", "", f"size ({unit})")


def size_breakdown(report: Report) -> go.Figure:
    """Per-layer theoretical size stacked as values / indices / codebook / bias, with the storage format."""
    names = [lr.name for lr in report.layers]
    totals = [lr.size_bits["total"] / 8 for lr in report.layers]
    factor, unit = _pick_unit(max(totals, default=0), BYTE_UNITS)
    data = []
    for part in SIZE_PARTS:
        bits = [lr.size_bits[part] for lr in report.layers]
        data.append(dict(type="bar", x=names, y=[b / 8 / factor for b in bits], name=part, customdata=bits,
                         marker=dict(color=PALETTE[part], line=dict(width=0)),
                         hovertemplate=f"%{{x}} {part}<br>%{{y:,.2f}} {unit} (%{{customdata:,}} bits)<extra></extra>"))
    annotations = [dict(x=lr.name, y=t / factor, text=f"<b>{lr.format}</b> · {fmt_bytes(t)}", showarrow=False,
                        yanchor="bottom", yshift=2, hovertext=FORMAT_HELP[lr.format.split("-")[0]])
                   for lr, t in zip(report.layers, totals)]
    layout = dict(barmode="stack", bargap=0.35, annotations=annotations, legend=dict(traceorder="normal"),
                  yaxis=dict(range=[0, max(totals, default=1) / factor * 1.18]))
    return _figure(data, layout, "Compressed size per layer (theoretical)", "layer", f"size ({unit})",
                   "storage format above each bar: hover it for what it means")


def energy_breakdown(report: Report) -> go.Figure:
    """Estimated energy per inference: compute + memory per layer, and the total beside the uncompressed model's."""
    e, base = report.energy_pj, report.energy_baseline_pj
    names = [lr.name for lr in report.layers]
    # Two panels, each in its own unit: the uncompressed total is often 100× a layer (DRAM
    # reads), which on one axis would flatten the per-layer bars to nothing.
    f_layer, u_layer = _pick_unit(max((lr.energy_pj["total"] for lr in report.layers), default=0), ENERGY_UNITS)
    f_total, u_total = _pick_unit(max(e["total"], base["total"]), ENERGY_UNITS)
    totals_x = ["compressed", "uncompressed"]
    data = []
    for part in ("compute", "memory"):
        data.append(dict(type="bar", x=names, y=[lr.energy_pj[part] / f_layer for lr in report.layers], name=part,
                         legendgroup=part, marker=dict(color=PALETTE[part], line=dict(width=0)),
                         hovertemplate=f"%{{x}} {part}<br>%{{y:,.1f}} {u_layer}<extra>estimate</extra>"))
        data.append(dict(type="bar", x=totals_x, y=[e[part] / f_total, base[part] / f_total], name=part,
                         legendgroup=part, showlegend=False, xaxis="x2", yaxis="y2",
                         marker=dict(color=PALETTE[part], line=dict(width=0), opacity=[1.0, 0.45]),
                         hovertemplate=f"%{{x}} model, {part}<br>%{{y:,.1f}} {u_total}<extra>estimate</extra>"))
    ratio = _times(base["total"], e["total"], "less", "more")
    annotations = [dict(x=x, y=v / f_total, xref="x2", yref="y2", text=t, showarrow=False, yanchor="bottom",
                         yshift=2)
                    for x, v, t in ((totals_x[0], e["total"], f"{fmt_energy(e['total'])}<br>{ratio}"),
                                    (totals_x[1], base["total"], fmt_energy(base["total"])))]
    axis = dict(TEMPLATE.layout.xaxis.to_plotly_json())  # a second axis pair does not inherit the template's
    layout = dict(barmode="stack", bargap=0.35, annotations=annotations,
                  xaxis=dict(domain=[0, PANEL_SPLIT]),
                  xaxis2=dict(axis, domain=[PANEL_SPLIT + PANEL_GAP, 1], anchor="y2",
                              title=dict(axis["title"], text="whole model")),
                  yaxis2=dict(axis, anchor="x2", title=dict(axis["title"], text=f"energy ({u_total})"),
                              range=[0, max(e["total"], base["total"]) / f_total * 1.3]))
    where = "on-chip SRAM" if report.weights_on_chip else "DRAM (too big for the on-chip SRAM)"
    zeros = "hardware skips zeros" if report.config.get("skip_zeros") else "dense hardware: zeros still multiplied"
    return _figure(data, layout, f"Estimated energy per inference ({report.energy_profile})",
                   "layer (compressed model)", f"energy ({u_layer})", f"weights read from {where} · {zeros}", height=HEIGHT + 30)


# -----------------------------------------------------------------------------
# distillation


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
    subtitle = (f"entropy {_entropy_bits(probs_t):.2f} bits at T = {temperature:g} "
                f"vs {_entropy_bits(probs_1):.2f} bits at T = 1")
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


# -----------------------------------------------------------------------------
# internals


def _figure(data: list[dict], layout: dict[str, Any], title: str, x_title: str, y_title: str,
            subtitle: str | None = None, height: int | None = None) -> go.Figure:
    """The shared look (template, title, axis titles, height) merged in.

    The header is stacked in pixels from the top of the figure: title, subtitle, then the
    legend, anchored by its top edge to the container. Plotly pushes the plot area down
    by as much as the legend needs, so a legend that wraps onto a second line at a narrow
    width moves the plot, never onto the subtitle.
    """
    xaxis, yaxis = layout.pop("xaxis", {}), layout.pop("yaxis", {})
    h = height or HEIGHT
    top = HEADER["title_top"] + HEADER["title"] + (HEADER["subtitle"] if subtitle else 0)
    title_dict: dict[str, Any] = dict(text=f"<b>{title}</b>", y=1 - HEADER["title_top"] / h)
    if subtitle:
        title_dict["subtitle"] = dict(text=subtitle)
    full = dict(template=TEMPLATE, height=h, title=title_dict,
                legend=dict(layout.pop("legend", {}), y=1 - top / h),
                margin=dict(MARGIN, t=top + HEADER["gap"]),  # a shown legend pushes this further
                xaxis=dict(xaxis, title=dict(text=x_title)), yaxis=dict(yaxis, title=dict(text=y_title)))
    full.update((k, v) for k, v in layout.items() if v != [])  # validation would drop an empty list too
    return _new_figure(data, full)


def _new_figure(data: list[dict], layout: dict[str, Any]) -> go.Figure:
    """go.Figure without property-by-property validation: ~0.5 ms instead of 3-4 ms a figure.

    The dicts here are written in plotly's canonical form (no magic underscores, no None
    values), so the figure is the one validation would give: tests rebuild every figure
    with validation and compare. A plotly without the (private) flag validates as before.
    """
    try:
        return go.Figure(data=data, layout=layout, _validate=False)
    except TypeError:  # pragma: no cover - plotly without _validate
        return go.Figure(data=data, layout=layout)


def _layer(report: Report, name: str) -> LayerReport:
    for lr in report.layers:
        if lr.name == name:
            return lr
    raise KeyError(f"layer {name!r} not in the report: layers are {', '.join(lr.name for lr in report.layers)}")


def _centres(edges: Sequence[float]) -> list[float]:
    return [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:])]


def _bits_label(report: Report, bits: int) -> str:
    """'4-bit', '4-bit k-means', 'float32': the bit-width, and the quantizer when not the plain grid."""
    q = quantizers.resolve(report.config.get("quantizer", "uniform"), bits)
    if q is quantizers.FLOAT:
        return q.label
    return f"{bits}-bit" + ("" if q in (quantizers.UNIFORM, quantizers.BINARY) else f" {q.label}")


def _bits_text(bits: int) -> str:
    """'4-bit' / 'float32', without the quantizer (for text that names it beside)."""
    return "float32" if bits >= 32 else f"{bits}-bit"


def _quantizer_label(report: Report) -> str:
    c = report.config
    q = quantizers.resolve(c.get("quantizer", "uniform"), c.get("bits", 32))
    if q is quantizers.FLOAT:
        return "(no quantization)"
    grain = "per-channel" if c.get("per_channel") else "per-tensor"
    scheme = f" {c.get('scheme', 'symmetric')}" if q is quantizers.UNIFORM else ""
    return f"{q.label}{scheme}, {grain}"


def _times(reference: float, value: float, less: str, more: str) -> str:
    """'7.9× smaller' / '1.2× larger' / 'the same': a ratio in words, either way round."""
    if not value or not reference:
        return "n/a"
    r = reference / value
    return "the same" if 0.995 < r < 1.005 else f"{r:.1f}× {less}" if r > 1 else f"{1 / r:.1f}× {more}"


def _ratio_text(reference: float, value: float) -> str:
    """value against reference in words: '7.9× smaller', '2.5× larger', '3 % smaller', 'same size'."""
    r = reference / value
    if abs(r - 1) < 0.005:
        return "same size"
    if 1 / 1.05 < r < 1.05:  # "1.0× smaller" says nothing: a percentage does
        return f"{abs(1 - value / reference) * 100:.0f} % {'smaller' if r > 1 else 'larger'}"
    return f"{r:.1f}× smaller" if r > 1 else f"{1 / r:.1f}× larger"


def _bits_tick(bits: float) -> str:
    """A bits-axis tick: the number, and under it 'float' at 32 (narrow, so it is never cut off)."""
    return f"{bits:g}<br>float" if bits >= 32 else f"{bits:g}"


def _bits_hover(bits: float) -> str:
    return f"{bits:g} bits (float)" if bits >= 32 else f"{bits:g} bits"


def _number(v: float, fmt: str) -> str:
    """v in a d3-style format; exponents as plotly's axis writes them (4.96e−4, not 4.96e-04)."""
    if not fmt.endswith("e"):
        return f"{v:{fmt}}"
    mantissa, exponent = f"{v:{fmt}}".split("e")
    return f"{mantissa}e{int(exponent)}".replace("-", "−")


def _log_ticks(top: float) -> list[int]:
    """Counts to label on a log axis up to `top`: 1, 2, 5, 10, ... over three decades or less, else powers of 10."""
    decades = max(0, math.ceil(math.log10(top)))
    steps = (1, 2, 5) if decades <= 3 else (1,)
    return [m * 10 ** e for e in range(decades + 1) for m in steps if m * 10 ** e <= top * 1.5] or [1]


def _count_text(n: int) -> str:
    return f"{n // 1000:,}k" if n >= 1000 and n % 1000 == 0 else f"{n:,}"


def _position(values: Sequence[float], v: float) -> float | None:
    """Where v falls on an evenly spaced axis of sorted values (interpolated; None outside)."""
    return _interp(values, list(range(len(values))), v)


def _interp(xs: Sequence[float], ys: Sequence[float], x: float) -> float | None:
    """Linear interpolation through sorted xs; None outside their range."""
    for i, xi in enumerate(xs):
        if xi == x:
            return ys[i]
        if i and xs[i - 1] < x < xi:
            return ys[i - 1] + (x - xs[i - 1]) / (xi - xs[i - 1]) * (ys[i] - ys[i - 1])
    return None


def _ci_band(xs: Sequence[float], lo: Sequence[float], hi: Sequence[float], color: str) -> list[dict]:
    """The 95% CI as one closed polygon (hi forwards, lo backwards) instead of two filled traces."""
    if not xs:
        return []
    return [dict(type="scatter", x=list(xs) + list(xs)[::-1], y=list(hi) + list(lo)[::-1], fill="toself",
                 mode="lines", line=dict(width=0), fillcolor=_rgba(color, 0.15), name="95% CI",
                 showlegend=False, hoverinfo="skip")]


def _ci_text(p: dict) -> str:
    return f"{pct(p['accuracy'])} (95% CI {pct(p['lo'])} – {pct(p['hi'])})"


def _baseline(data: list[dict], shapes: list[dict], xs: Sequence[float], baseline: float,
              ci: tuple[float, float] | None) -> None:
    """Dashed uncompressed accuracy across the curve, a faint band for its CI."""
    x0, x1 = (min(xs), max(xs)) if xs else (0, 1)
    ci_text = f" (95% CI {pct(ci[0])} – {pct(ci[1])})" if ci else ""
    data.append(dict(type="scatter", x=[x0, x1], y=[baseline, baseline], mode="lines",
                     name=f"uncompressed {pct(baseline)}", line=dict(color=PALETTE["baseline"], width=1.5, dash="dash"),
                     hovertemplate=f"uncompressed baseline<br>accuracy {pct(baseline)}{ci_text}<extra></extra>"))
    if ci:
        shapes.append(dict(type="rect", name="baseline CI", xref="paper", x0=0, x1=1, yref="y", y0=ci[0],
                           y1=ci[1], fillcolor=_rgba(PALETTE["baseline"], 0.12), line=dict(width=0), layer="below"))


def _current(data: list[dict], shapes: list[dict], xs: Sequence[float], ys: Sequence[float],
             x: float | None, text: str) -> None:
    """A star on the curve at the current setting and a dotted vertical line through it."""
    if x is None:
        return
    shapes.append(dict(type="line", name="current", xref="x", yref="paper", x0=x, x1=x, y0=0, y1=1,
                       line=dict(color=PALETTE["accent"], width=1, dash="dot")))
    y = _interp(xs, ys, x)
    if y is not None:
        approx = "" if x in xs else "≈ "  # between two measured points: interpolated, say so
        data.append(dict(type="scatter", x=[x], y=[y], mode="markers", name="current setting",
                         marker=dict(symbol="star", size=15, color=PALETTE["accent"], line=dict(width=1, color="white")),
                         hovertemplate=f"current: {text}<br>accuracy {approx}{pct(y)}<extra></extra>"))


def _pct_format(values: Sequence[float]) -> str:
    """Whole percents on a wide axis, one decimal when the spread is a few points."""
    return ".1%" if values and max(values) - min(values) < 0.08 else ".0%"


def _centre_note(text: str) -> dict[str, Any]:
    return dict(text=text, xref="paper", yref="paper", x=0.5, y=0.5, showarrow=False,
                font=dict(size=14, color=PALETTE["muted"]))


def _entropy_bits(probs: Sequence[float]) -> float:
    return -sum(p * math.log2(p) for p in probs if p > 0)


def _pick_unit(value: float, units: Sequence[tuple[float, str]]) -> tuple[float, str]:
    """The largest unit in which `value` is at least 1 (the smallest unit for 0)."""
    chosen = units[0]
    for factor, name in units:
        if value >= factor:
            chosen = (factor, name)
    return chosen


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _template() -> go.layout.Template:
    """Built once at import: white card, thin grid, title top-left, legend under the title above the plot."""
    axis = dict(showgrid=True, gridcolor=PALETTE["grid"], zeroline=False, linecolor=PALETTE["grid"],
                ticks="outside", tickcolor=PALETTE["grid"], automargin=True,
                title=dict(standoff=6, font=dict(size=14, color=PALETTE["muted"])))
    return go.layout.Template(layout=dict(
        font=FONT, colorway=COLORWAY, paper_bgcolor="white", plot_bgcolor="white",
        # title and legend start at the figure's left edge (container), the legend with the full width
        title=dict(x=0, xanchor="left", xref="container", yanchor="top", yref="container", pad=dict(l=HEADER["left"]),
                   font=dict(size=17), subtitle=dict(font=dict(size=12, color=PALETTE["muted"]))),
        # y is set per figure (below the title and subtitle); yref container: the legend pushes the plot down
        legend=dict(orientation="h", x=0, xanchor="left", xref="container", yref="container", yanchor="top",
                    font=dict(size=12), bgcolor="rgba(0,0,0,0)"),
        xaxis=axis, yaxis=axis, hovermode="closest", bargap=0.2,
        hoverlabel=dict(bgcolor="white", bordercolor=PALETTE["grid"], font=dict(family=FONT["family"], size=14)),
    ))


# -----------------------------------------------------------------------------
# constants

PRIMARY = "#4f46e5"  # indigo-600: the app theme's primaryColor (.streamlit/config.toml)

PALETTE: dict[str, str] = {
    "original": "#94a3b8",     # slate-400: the uncompressed model, drawn behind
    "compressed": PRIMARY,
    "accent": "#f59e0b",       # amber: quantization levels, the current setting, the true class
    "compute": PRIMARY,
    "memory": "#14b8a6",       # teal-500
    "values": PRIMARY,
    "indices": "#a5b4fc",      # indigo-300: belongs with the values it locates
    "codebook": "#f59e0b",
    "bias": "#94a3b8",
    "teacher": "#0f766e",      # teal-700
    "student": PRIMARY,
    "baseline": "#475569",     # slate-600: uncompressed / hard-label references, dashed
    "theoretical": PRIMARY,
    "measured": "#0d9488",     # teal-600, hatched: bytes of a real file stand apart from bit counts
    "grid": "#e5e7eb",
    "muted": "#6b7280",        # subtitles, axis titles, notes
    "text": "#1f2937",
}
COLORWAY = [PRIMARY, "#14b8a6", "#f59e0b", "#94a3b8", "#0f766e", "#a5b4fc", "#475569"]

FONT: dict[str, Any] = {
    "family": '"Source Sans 3", "Source Sans Pro", system-ui, -apple-system, "Segoe UI", sans-serif',
    "size": 13,
    "color": PALETTE["text"],
}

HEIGHT = 340  # px: two charts side by side fit a laptop screen
MARGIN = dict(l=56, r=16, t=44, b=44)  # t: set per figure from HEADER
# The header, in px from the top: title, subtitle line, then the legend; gap: down to the plot area
# when there is no legend (a legend pushes the plot area down by its own height).
HEADER = dict(title_top=10, title=28, subtitle=24, gap=12, left=6)
PANEL_SPLIT, PANEL_GAP = 0.55, 0.12  # energy figure: per-layer panel | totals panel

BYTE_UNITS = ((1, "B"), (1024, "KB"), (1024**2, "MB"), (1024**3, "GB"))
ENERGY_UNITS = ((1, "pJ"), (1e3, "nJ"), (1e6, "µJ"), (1e9, "mJ"), (1e12, "J"))
SIZE_PARTS = ("values", "indices", "codebook", "bias")

# metric -> (label, y-axis title with unit, which way is better, d3 number format, unit suffix)
ERROR_METRICS: dict[str, tuple[str, str, str, str, str]] = {
    "sqnr_db": ("SQNR", "SQNR (dB)", "higher is better", ".1f", " dB"),
    "mse": ("MSE", "MSE (weight units²)", "lower is better", ".2e", ""),
}

FORMAT_HELP = {
    "dense": "dense: every weight stored at b bits",
    "bitmask": "bitmask: 1 bit per weight (kept or zero) + the kept values at b bits",
    "csr": "csr-p: kept values at b bits, each with a p-bit relative index (filler zeros for long gaps)",
}

TEMPLATE = _template()


# --- trade-offs studio
# Sweep rows (compression.sweep.evaluate_row), sensitivity curves (compression.sensitivity)
# and several Reports side by side. Plain rows in, figures out.

# axis key -> (short name, axis title with unit, value formatter)
TRADEOFF_AXES: dict[str, tuple[str, str, Any]] = {
    "size_bytes": ("size", "compressed size (bytes, log scale)", lambda v: fmt_bytes(v)),
    "energy_pj": ("energy", "energy per inference (pJ, log scale, estimate)", lambda v: fmt_energy(v)),
    "latency_ms": ("latency", "latency per image (ms, measured)", lambda v: f"{v:.3f} ms"),
}
# Published models the zoo reproduces: zoo id -> model name in the references table.
PUBLISHED_MODELS = {"lenet300-mnist": "LeNet-300-100", "lenet5-mnist": "LeNet-5"}


def config_text(row: dict[str, Any], fields: Sequence[str]) -> str:
    """'sparsity 50 % · bits 4 · quantizer kmeans': the swept settings of one row."""
    parts = []
    for f in fields:
        v = row.get(f)
        if f == "sparsity" and isinstance(v, (int, float)):
            parts.append(f"sparsity {v * 100:.0f} %")
        elif f == "bits" and isinstance(v, (int, float)):
            parts.append(_bits_text(int(v)))
        else:
            parts.append(f"{f.replace('_', ' ')} {v}")
    return " · ".join(parts) or "defaults"


def published_points(table: Sequence[dict[str, str]], model_id: str) -> list[dict[str, Any]]:
    """Deep Compression's published (accuracy, size) rows for a zoo model that reproduces one.

    `table` is the references CSV as dicts (csv.DictReader). Size: the compressed KB (1 KB =
    1000 B, as in the paper's 1070 KB for 267k fp32 weights), or reference KB / ratio when
    the paper gives only the ratio (pruning-only rows).
    """
    name = PUBLISHED_MODELS.get(model_id)
    out = []
    for r in table:
        label = r.get("model", "")
        if name is None or not (label == name or label.startswith(name + " (")):
            continue
        try:
            acc = 1 - float(r["error_compressed_pct"]) / 100
            size_kb = (float(r["size_compressed_kb"]) if r.get("size_compressed_kb")
                       else float(r["size_reference_kb"]) / float(r["compression_ratio"]))
        except (KeyError, ValueError, ZeroDivisionError):
            continue
        out.append({"label": label, "accuracy": acc, "size_bytes": size_kb * 1000,
                    "source": r.get("source", "")})
    return out


def tradeoff_chart(rows: Sequence[dict[str, Any]], x: str = "size_bytes", fields: Sequence[str] = (),
                   current: dict[str, Any] | None = None, references: Sequence[dict[str, Any]] = ()
                   ) -> go.Figure:
    """Accuracy vs size / energy / latency of every swept config, the Pareto frontier drawn as the
    best accuracy reachable at each cost, the current scenario and published points.

    Each point's customdata[0] is its row index (for a click to pick it).
    """
    from compression.sweep import pareto_front  # one home for the frontier
    name, x_title, fmt = TRADEOFF_AXES[x]
    idx = [i for i, r in enumerate(rows) if r.get(x) is not None and r.get("accuracy") is not None]
    front = set(pareto_front(rows, x, "accuracy"))
    data: list[dict] = []
    for on, label, color, size in ((False, "dominated", PALETTE["original"], 8),
                                   (True, "Pareto frontier", PALETTE["compressed"], 10)):
        pts = [i for i in idx if (i in front) == on]
        data.append(dict(type="scatter", x=[rows[i][x] for i in pts], y=[rows[i]["accuracy"] for i in pts],
                         mode="markers", name=label, customdata=[[i] for i in pts],
                         marker=dict(color=color, size=size, line=dict(width=1, color="white")),
                         text=[f"{config_text(rows[i], fields)}<br>{name} {fmt(rows[i][x])}" for i in pts],
                         hovertemplate="%{text}<br>accuracy %{y:.1%}<extra>" + label + "</extra>"))
    line = sorted(front, key=lambda i: rows[i][x])
    if len(line) > 1:  # the staircase: best accuracy at this cost or less
        data.append(dict(type="scatter", x=[rows[i][x] for i in line], y=[rows[i]["accuracy"] for i in line],
                         mode="lines", line=dict(color=PALETTE["compressed"], width=1.5, shape="hv"),
                         name="frontier", showlegend=False, hoverinfo="skip"))
    if current and current.get(x) is not None:
        data.append(dict(type="scatter", x=[current[x]], y=[current["accuracy"]], mode="markers",
                         name="current scenario",
                         marker=dict(symbol="star", size=16, color=PALETTE["accent"], line=dict(width=1, color="white")),
                         hovertemplate=f"current scenario<br>{name} {fmt(current[x])}<br>accuracy "
                                       f"{pct(current['accuracy'])}<extra></extra>"))
    refs = [r for r in references if r.get(x) is not None]
    if refs:
        data.append(dict(type="scatter", x=[r[x] for r in refs], y=[r["accuracy"] for r in refs],
                         mode="markers", name="published (Deep Compression)",
                         marker=dict(symbol="diamond", size=11, color=PALETTE["teacher"]),
                         text=[f"{r['label']}<br>{name} {fmt(r[x])}" for r in refs],
                         hovertemplate="%{text}<br>accuracy %{y:.1%}<extra>published</extra>"))
    ys = [rows[i]["accuracy"] for i in idx] + [r["accuracy"] for r in refs]
    note = None if idx else (f"no {name} measured: tick 'Measure latency' and run the sweep again"
                             if x == "latency_ms" and rows else "run a sweep to see its points")
    xs = [rows[i][x] for i in idx] + [r[x] for r in refs] + ([current[x]] if current and current.get(x) else [])
    layout = dict(xaxis=_log_axis(xs, BYTE_UNITS if x == "size_bytes" else ENERGY_UNITS, fmt)
                  if x != "latency_ms" else {},
                  yaxis=dict(tickformat=_pct_format(ys)), annotations=[_centre_note(note)] if note else [])
    return _figure(data, layout, f"Accuracy vs {name}", x_title, "test accuracy (%)",
                   subtitle=f"{len(front)} of {len(idx)} configs on the frontier" if idx else None)


def sensitivity_chart(sens: dict[str, Any], kind: str = "sparsity") -> go.Figure:
    """Accuracy when one layer alone is pruned (kind 'sparsity') or quantized ('bits'), a line per layer."""
    curves = sens[kind]
    values = list(curves["values"])
    if kind == "bits":  # bit-widths are choices, not a scale: evenly spaced (as accuracy_curve)
        xs: list[float] = list(range(len(values)))
        xaxis = dict(tickmode="array", tickvals=xs, ticktext=[_bits_tick(v) for v in values])
        hover, x_title, title = [_bits_hover(v) for v in values], "weight bits of that layer", "Per-layer bits"
    else:
        xs, xaxis = values, dict(tickformat=".0%")
        hover, x_title, title = [f"sparsity {pct(v)}" for v in values], "sparsity of that layer (%)", \
            "Per-layer sparsity"
    data = [dict(type="scatter", x=xs, y=curves["accuracy"][layer], mode="lines+markers", name=layer,
                 customdata=hover, hovertemplate=f"{layer} at %{{customdata}}<br>accuracy %{{y:.1%}}<extra></extra>")
            for layer in sens["layers"]]
    shapes: list[dict] = []
    if values:
        _baseline(data, shapes, xs, sens["baseline"], None)
    ys = [a for layer in sens["layers"] for a in curves["accuracy"][layer]] + [sens["baseline"]]
    layout = dict(xaxis=xaxis, yaxis=dict(tickformat=_pct_format(ys)), shapes=shapes)
    return _figure(data, layout, title, x_title, "test accuracy (%)",
                   subtitle="one layer compressed, others untouched")


def allocation_chart(layers: Sequence[str], mixed: dict[str, int], uniform: int) -> go.Figure:
    """Bits per layer: the sensitivity-based allocation beside uniform bits."""
    data = [dict(type="bar", x=list(layers), y=[mixed.get(n, uniform) for n in layers], name="mixed precision",
                 marker=dict(color=PALETTE["compressed"]), hovertemplate="%{x}: %{y} bits<extra>mixed</extra>"),
            dict(type="bar", x=list(layers), y=[uniform] * len(layers), name=f"uniform {uniform} bits",
                 marker=dict(color=PALETTE["original"]), hovertemplate="%{x}: %{y} bits<extra>uniform</extra>")]
    return _figure(data, dict(barmode="group", yaxis=dict(dtick=1)), "Bits per layer", "layer", "weight bits")


def compare_histograms(series: Sequence[tuple[str, Report]], layer: str) -> go.Figure:
    """One layer's compressed non-zero weights in several scenarios, overlaid as outlines."""
    data = []
    for label, report in series:
        h = _layer(report, layer).hist
        data.append(dict(type="scatter", x=_centres(h["edges"]), y=list(h["compressed"]), mode="lines",
                         line=dict(shape="hvh", width=2), name=label,
                         hovertemplate=f"weight %{{x:.3f}}<br>%{{y:,}} weights<extra>{label}</extra>"))
    return _figure(data, {}, f"Weights of {layer}, compared", "weight value", "count of non-zero weights",
                   subtitle="zeros (pruned weights) not drawn")


def compare_bars(items: Sequence[tuple[str, float]], metric: str = "size_bytes") -> go.Figure:
    """Size or energy of several scenarios as horizontal bars, the value written on each."""
    name, _, fmt = TRADEOFF_AXES[metric]
    labels = [label for label, _ in items]
    values = [v for _, v in items]
    unit = "bytes" if metric == "size_bytes" else "pJ"
    data = [dict(type="bar", orientation="h", y=labels, x=values, text=[fmt(v) for v in values],
                 textposition="auto", marker=dict(color=PALETTE["memory" if metric == "energy_pj" else "compressed"]),
                 name=name, hovertemplate="%{y}: %{text}<extra></extra>")]
    layout = dict(showlegend=False, yaxis=dict(autorange="reversed", automargin=True))
    title = "Compressed size" if metric == "size_bytes" else "Energy per inference (estimate)"
    return _figure(data, layout, title, f"{name} ({unit})", "", height=max(180, 70 + 48 * len(items)))


def _log_axis(values: Sequence[float], units: Sequence[tuple[float, str]], fmt: Any) -> dict[str, Any]:
    """A log axis labelled at 1-2-5 steps of each unit ('2 KB', '50 KB', '1 MB'), at most ~8 labels."""
    vals = [v for v in values if v and v > 0]
    if not vals:
        return dict(type="log")
    lo, hi = min(vals) / 1.3, max(vals) * 1.3
    ticks = sorted({m * 10 ** e * f for f, _ in units for e in range(3) for m in (1, 2, 5)
                    if lo <= m * 10 ** e * f <= hi})
    for keep in ((1, 2, 5), (1, 5), (1,)):
        kept = [t for t in ticks if any(abs(t / (m * 10 ** round(math.log10(t / m))) - 1) < 1e-9 for m in keep)
                or t in [f for f, _ in units]]
        if len(kept) <= 8:
            break
    ticks = kept or ticks
    return dict(type="log", tickmode="array", tickvals=ticks, ticktext=[fmt(t).replace(".0 ", " ") for t in ticks])


# --- distillation that teaches


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


# --- explore: energy, Deep Compression, techniques


def energy_vs_sram(points: list[dict], sram_kb: float, model_kb: float, baseline_kb: float) -> go.Figure:
    """Energy per inference against the assumed on-chip memory size (pipeline.energy_curve).

    Log-log: a model's energy drops by a step (the cliff) at the size where its weights start
    to fit on chip; dotted vertical lines mark each model's weight size, the solid one the
    size in force, and a star the current estimate.
    """
    if not points:
        return _figure([], dict(annotations=[_centre_note("no points")]), "Energy vs on-chip memory size",
                       "on-chip memory (KB, log)", "energy (pJ)")
    xs = [p["sram_kb"] for p in points]
    top = max(max(p["baseline_pj"], p["compressed_pj"]) for p in points)
    factor, unit = _pick_unit(top, ENERGY_UNITS)
    data = []
    for key, name, color, dash in (("baseline_pj", "uncompressed fp32", PALETTE["baseline"], "dash"),
                                   ("compressed_pj", "compressed", PALETTE["compressed"], "solid")):
        where = "baseline_weights_in" if key == "baseline_pj" else "weights_in"
        data.append(dict(type="scatter", x=xs, y=[p[key] / factor for p in points], mode="lines+markers",
                         name=name, line=dict(color=color, width=2.5, dash=dash, shape="hv"),
                         marker=dict(size=5), customdata=[p[where].upper() for p in points],
                         hovertemplate=f"{name}<br>%{{x:,.0f}} KB on chip<br>%{{y:,.3g}} {unit}, "
                                       f"weights in %{{customdata}}<extra>estimate</extra>"))
    y_now = _interp(xs, [p["compressed_pj"] / factor for p in points], sram_kb)
    if y_now is None:
        near = min(points, key=lambda p: abs(math.log(p["sram_kb"] / sram_kb)))
        y_now = near["compressed_pj"] / factor
    data.append(dict(type="scatter", x=[sram_kb], y=[y_now], mode="markers", name="current setting",
                     marker=dict(symbol="star", size=16, color=PALETTE["accent"], line=dict(width=1, color="white")),
                     hovertemplate=f"current: {sram_kb:,.0f} KB on chip<br>≈ %{{y:,.3g}} {unit}<extra></extra>"))
    shapes = [dict(type="line", xref="x", yref="paper", x0=sram_kb, x1=sram_kb, y0=0, y1=1,
                   line=dict(color=PALETTE["accent"], width=2))]
    annotations = []
    # each model's weight size: below it the weights spill to DRAM; labels at two heights, never overlapping
    for kb, label, color, y, side in ((model_kb, "compressed weights", PALETTE["compressed"], 0.02, "right"),
                                      (baseline_kb, "fp32 weights", PALETTE["baseline"], 0.6, "left")):
        if xs[0] <= kb <= xs[-1]:
            shapes.append(dict(type="line", xref="x", yref="paper", x0=kb, x1=kb, y0=0, y1=1,
                               line=dict(color=color, width=1, dash="dot")))
            annotations.append(dict(x=math.log10(kb), xref="x", yref="paper", y=y, yanchor="bottom", xanchor=side,
                                    xshift=3 if side == "left" else -3, text=f"{label}<br>{_kb_text(kb)}",
                                    showarrow=False, align=side,
                                    font=dict(size=12, color=color), bgcolor="rgba(255,255,255,0.8)"))
    ys = [p[k] / factor for p in points for k in ("baseline_pj", "compressed_pj")] + [y_now]
    ticks = _log_125_ticks(min(ys), max(ys))
    xticks = [kb for kb in (1, 8, 32, 128, 1024, 4096, 16384) if xs[0] <= kb <= xs[-1]]
    layout = dict(xaxis=dict(type="log", range=[math.log10(xs[0]), math.log10(xs[-1])], tickvals=xticks,
                             ticktext=[_kb_text(kb).replace(".0 ", " ") for kb in xticks]),
                  yaxis=dict(type="log", tickvals=ticks, ticktext=[f"{t:g}" for t in ticks]),
                  shapes=shapes, annotations=annotations)
    return _figure(data, layout, "Energy vs on-chip memory size (estimate)", "on-chip memory (log scale)",
                   f"energy per inference ({unit}, log)",
                   f"step down = weights now fit on chip · amber line: {_kb_text(sram_kb)} in force",
                   height=HEIGHT + 30)


def _log_125_ticks(lo: float, hi: float) -> list[float]:
    """1-2-5 ticks spanning [lo, hi] on a log axis: readable labels instead of plotly's small digits."""
    ticks, k = [], math.floor(math.log10(lo))
    while 10 ** k <= hi * 10:
        ticks += [m * 10 ** k for m in (1, 2, 5) if lo / 2 <= m * 10 ** k <= hi * 2]
        k += 1
    return [float(f"{t:.3g}") for t in ticks]


def _kb_text(kb: float) -> str:
    return fmt_bytes(kb * 1024)


def deep_compression_stages(result: dict[str, Any]) -> go.Figure:
    """Compression ratio per Deep Compression stage, ours beside the paper's, errors in the labels."""
    stages = list(result["stages"])
    names = {"pruned": "pruned", "quantized": "+ quantized", "huffman": "+ Huffman"}
    x = [names.get(s, s) for s in stages]
    data = []
    for side, label, color, pattern in (("paper", f"paper ({result['paper']['model']})", PALETTE["original"], "/"),
                                        ("ours", "ours (measured)", PALETTE["compressed"], "")):
        rows = [result["stages"][s][side] for s in stages]
        ratio = [r["ratio"] if r.get("ratio") is not None else 0 for r in rows]
        text = [f"{r['ratio']:.0f}×" if r.get("ratio") is not None else "–" for r in rows]
        errors = [f"test error {r['error_pct']:.2f} %" if r.get("error_pct") is not None else "error not given"
                  for r in rows]
        data.append(dict(type="bar", x=x, y=ratio, name=label, text=text, textposition="outside",
                         cliponaxis=False, constraintext="none", customdata=errors,
                         marker=dict(color=color, line=dict(width=0),
                                     pattern=dict(shape=pattern, fgcolor="white", bgcolor=color, solidity=0.25)),
                         hovertemplate=f"{label}<br>%{{x}}: %{{y:.1f}}× smaller than fp32, %{{customdata}}"
                                       "<extra></extra>"))
    top = max((v for d in data for v in d["y"]), default=1)
    layout = dict(barmode="group", bargap=0.3, yaxis=dict(range=[0, top * 1.2]))
    return _figure(data, layout, "Deep Compression, stage by stage", "stage", "× smaller than fp32",
                   "compression ratio per stage; test errors in the table")


def qat_vs_ptq(rows: list[dict]) -> go.Figure:
    """Accuracy at each bit-width after post-training quantization and after QAT, with 95% CI bands.

    rows: {bits, method ("ptq" or "qat"), accuracy, lo, hi}; baseline rows (method "fp32") draw a dashed line.
    """
    data: list[dict] = []
    labels = {"ptq": ("post-training quantization", PALETTE["original"]),
              "qat": ("quantization-aware fine-tuning", PALETTE["compressed"])}
    for method, (name, color) in labels.items():
        pts = sorted((r for r in rows if r["method"] == method), key=lambda r: r["bits"])
        xs = [r["bits"] for r in pts]
        data += _ci_band(xs, [r["lo"] for r in pts], [r["hi"] for r in pts], color)
        data.append(dict(type="scatter", x=xs, y=[r["accuracy"] for r in pts], mode="lines+markers", name=name,
                         line=dict(color=color, width=2.5), marker=dict(size=8),
                         customdata=[_ci_text(r) for r in pts],
                         hovertemplate=f"{name}<br>%{{x}} bits: %{{customdata}}<extra>simulated</extra>"))
    base = [r for r in rows if r["method"] == "fp32"]
    shapes = []
    if base:
        shapes.append(dict(type="line", xref="paper", x0=0, x1=1, yref="y", y0=base[0]["accuracy"],
                           y1=base[0]["accuracy"], line=dict(color=PALETTE["baseline"], width=1.5, dash="dash")))
    bits = sorted({r["bits"] for r in rows if r["method"] != "fp32"})
    span = [r["lo"] for r in rows] + [r["hi"] for r in rows]
    low = max(0.0, min(span, default=0.0) - 0.05)  # zoomed to the data: close results stay apart
    layout = dict(xaxis=dict(tickmode="array", tickvals=bits, ticktext=[str(b) for b in bits]),
                  yaxis=dict(tickformat=_pct_format(span), range=[low, min(1.0, max(span, default=1.0)) + 0.02]),
                  shapes=shapes)
    note = f"dashed: uncompressed {pct(base[0]['accuracy'])}" if base else None
    return _figure(data, layout, "Quantization-aware fine-tuning vs rounding after training", "weight bits",
                   "test accuracy (%)", note)


def weight_snapshots(snapshots: list[dict], epoch: int, threshold: float = 1e-3) -> go.Figure:
    """The weight histogram at one epoch of regularized fine-tuning, over the one before training.

    snapshots: {epoch, edges, counts, near_zero} (epoch 0 = before training); `near_zero` is the
    fraction of weights with |w| < threshold, shown in the subtitle.
    """
    by_epoch = {s["epoch"]: s for s in snapshots}
    if epoch not in by_epoch:
        raise ValueError(f"no snapshot at epoch {epoch}: have {sorted(by_epoch)}")
    first, now = snapshots[0], by_epoch[epoch]
    data = []
    for s, name, color in ((first, "before training", PALETTE["original"]),
                           (now, f"after epoch {epoch}", PALETTE["compressed"])):
        data.append(dict(type="bar", x=_centres(s["edges"]), y=s["counts"], name=name, opacity=0.75,
                         marker=dict(color=color, line=dict(width=0)),
                         hovertemplate=f"{name}<br>w ≈ %{{x:.3f}}: %{{y:,}} weights<extra></extra>"))
    layout = dict(barmode="overlay", bargap=0)
    return _figure(data, layout, "Weights during regularized fine-tuning", "weight value", "count",
                   f"|w| < {threshold:g}: {pct(first['near_zero'])} before → {pct(now['near_zero'])} at epoch {epoch}")


def neuron_scores(scores: list[float], pruned: list[bool], layer: str, label: str,
                  lower_is_pruned: bool = True) -> go.Figure:
    """One layer's per-neuron pruning scores, sorted, the neurons pruning removes marked."""
    # ties sit with the pruned ones at the end where pruning starts, so the marked bars form one run
    order = sorted(range(len(scores)), key=lambda i: (scores[i], pruned[i] != lower_is_pruned))
    ys = [scores[i] for i in order]
    colors = [PALETTE["accent"] if pruned[i] else PALETTE["compressed"] for i in order]
    data = [dict(type="bar", x=list(range(len(order))), y=ys, name="score", showlegend=False,
                 marker=dict(color=colors, line=dict(width=0)), customdata=[[order[k], "pruned" if pruned[order[k]]
                                                                             else "kept"] for k in range(len(order))],
                 hovertemplate=f"neuron %{{customdata[0]}}: {label} %{{y:.3g}} (%{{customdata[1]}})<extra></extra>")]
    n_pruned = sum(pruned)
    for name, color in (("pruned", PALETTE["accent"]), ("kept", PALETTE["compressed"])):
        data.append(dict(type="scatter", x=[None], y=[None], mode="markers", name=name,
                         marker=dict(symbol="square", size=12, color=color)))
    return _figure(data, dict(bargap=0), f"{label} per neuron of {layer}", "neurons, sorted by score",
                   label, f"amber: the {n_pruned} of {len(scores)} neurons pruning removes")
