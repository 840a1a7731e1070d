"""Explore's figures: weights, quantization error, accuracy, size, energy, Deep Compression, techniques."""
from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go

from compression.charts.theme import (
    BYTE_UNITS,
    ENERGY_UNITS,
    HEIGHT,
    PALETTE,
    TEMPLATE,
    _baseline,
    _bits_hover,
    _bits_text,
    _bits_tick,
    _centre_note,
    _centres,
    _ci_band,
    _ci_text,
    _count_text,
    _current,
    _figure,
    _interp,
    _layer,
    _layer_label,
    _log_ticks,
    _method,
    _number,
    _pct_format,
    _pick_unit,
    _position,
    _report_label,
    count_axis,
    factor_text,
    fmt_bytes,
    fmt_energy,
    pct,
)
from compression.quantizers import FLOAT_BITS
from compression.report import Report


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
        why = "pruned or rounded to 0" if lr.bits < FLOAT_BITS else "pruned"
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
        layout["yaxis"] = count_axis(top, range=[0, top])
        for trace in data:
            trace.pop("text", None)
        layout["annotations"] = [dict(x=0, y=top, text=f"↑ {h['zeros_compressed']:,} zeros (off scale)",
                                      showarrow=False, yanchor="bottom", xanchor="left", xshift=6,
                                      font=dict(size=11, color=PALETTE["compressed"]))]
    if lr.levels:
        # All levels as one trace of None-separated vertical segments on a hidden 0..1 axis:
        # full height on linear and log scales alike, one legend entry that toggles them, and
        # ~5x cheaper to build than one layout shape per level.
        data.append(dict(type="scatter", x=[x for v in lr.levels for x in (v, v, None)],
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
    elif "yaxis" not in layout:
        layout["yaxis"] = count_axis(max(tallest_kept, spike))
    return _figure(data, layout, f"Weights of {lr.name} · {_layer_label(report, lr)} · {pct(sparsity)} zero",
                   "weight value", "count of weights (log scale)" if log_y else "count of weights")


def quant_error_bars(report: Report, metric: str = "sqnr_db") -> go.Figure:
    """Per-layer weight quantization error: SQNR in dB (higher is better) or MSE (lower is better)."""
    if metric not in ERROR_METRICS:
        raise ValueError(f"metric={metric!r} is not allowed: use one of {', '.join(ERROR_METRICS)}")
    label, y_title, better, fmt, unit = ERROR_METRICS[metric]
    names, values, text, hover, annotations = [], [], [], [], []
    how = _method(report)
    quantized = any(lr.bits < FLOAT_BITS for lr in report.layers)
    for lr in report.layers:
        v = getattr(lr, metric)
        finite = v is not None and math.isfinite(v)
        names.append(lr.name)
        values.append(v if finite else None)
        text.append(("0" if v == 0 else _number(v, fmt) + unit) if finite else "")
        hover.append(f"{_bits_text(lr.bits)} {_method(report, lr)}<br>stored as {lr.format}")
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
        annotations.append(_centre_note("no quantization error at 32 bits" if not quantized else "no quantization error"))
        layout["yaxis"].update(range=[0, 1], showticklabels=False, ticks="")  # no scale to read: no numbers
    layout["annotations"] = annotations
    return _figure(data, layout, "Quantization error per layer", "layer", y_title,
                   f"{label}: {better} · {_report_label(report)} · {how}")


def error_distribution(report: Report, layer: str) -> go.Figure:
    """Histogram of the quantization error w_q − w over one layer's kept weights."""
    lr = _layer(report, layer)
    edges, counts = lr.error_hist.get("edges", []), lr.error_hist.get("counts", [])
    title = f"Quantization error of {lr.name} · {_layer_label(report, lr)}"
    x_title = "quantization error w_q − w (weight units)"
    # At 32 bits the error histogram is one spike at 0 (or empty): a sentence says more.
    if lr.bits >= FLOAT_BITS or not counts or lr.max_abs_error == 0:
        note = "no quantization error at 32 bits" if lr.bits >= FLOAT_BITS else "no quantization error"
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
    return _figure(data, dict(showlegend=False, bargap=0, yaxis=count_axis(max(counts))), title, x_title,
                   "count of weights", subtitle)


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


def size_waterfall(report: Report) -> go.Figure:
    """Model size fp32 → pruned → compressed (theoretical) → saved file (measured), with the ratio vs fp32."""
    s = report.size_bytes
    # two short lines a bar: five bars must fit side by side in a 450 px column
    bits = _report_label(report).replace(" ", "<br>")
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
    # short enough for one line at 1280×720 and 150 % zoom (a Plotly subtitle does not wrap)
    where = "on-chip SRAM" if report.weights_on_chip else "DRAM (too big for on-chip SRAM)"
    zeros = "zeros skipped" if report.config.get("skip_zeros") else "dense: zeros multiplied"
    return _figure(data, layout, f"Estimated energy per inference ({report.energy_profile})",
                   "layer (compressed model)", f"energy ({u_layer})", f"weights in {where} · {zeros}", height=HEIGHT + 30)


def _times(reference: float, value: float, less: str, more: str) -> str:
    """'7.9× smaller' / '1.2× larger' / 'the same': a ratio in words, either way round."""
    if not value or not reference:
        return "n/a"
    r = reference / value
    return "the same" if 0.995 < r < 1.005 else f"{factor_text(r)} {less}" if r > 1 else f"{factor_text(1 / r)} {more}"


def _ratio_text(reference: float, value: float) -> str:
    """value against reference in words: '7.9× smaller', '2.5× larger', '3 % smaller', 'same size'."""
    r = reference / value
    if abs(r - 1) < 0.005:
        return "same size"
    if 1 / 1.05 < r < 1.05:  # "1.0× smaller" says nothing: a percentage does
        return f"{abs(1 - value / reference) * 100:.0f} % {'smaller' if r > 1 else 'larger'}"
    return f"{factor_text(r)} smaller" if r > 1 else f"{factor_text(1 / r)} larger"


PANEL_SPLIT, PANEL_GAP = 0.55, 0.12  # energy figure: per-layer panel | totals panel


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
            # a label reads towards the middle when its line is near an edge: "compressed weights"
            # left of a line at 4.5 KB ran over the y axis and was cut
            along = (math.log(kb) - math.log(xs[0])) / ((math.log(xs[-1]) - math.log(xs[0])) or 1)
            side = "left" if along < 0.3 else "right" if along > 0.7 else side
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


def head_scores(heads: dict[str, Any]) -> go.Figure:
    """Every attention head's score (structure 'heads', Report.heads), grouped by layer, removed heads amber.

    The bars show what the ranking compares: each layer's scores divided by their L2 norm for a
    global ranking (Michel et al. 2019), the raw E|dL/dξ| within each layer for scope 'layer'.
    """
    global_rank = heads["scope"] != "layer"
    values = heads["normalized"] if global_rank else heads["raw"]
    blocks, names, ys, colors, custom = [], [], [], [], []
    for li, (layer, row, raw, gone) in enumerate(zip(heads["layers"], values, heads["raw"], heads["removed"])):
        for h, (v, r, g) in enumerate(zip(row, raw, gone)):
            blocks.append(f"layer {li}")
            names.append(f"h{h}")
            ys.append(v)
            colors.append(PALETTE["accent"] if g else PALETTE["compressed"])
            custom.append([layer, h, r, "removed" if g else "kept"])
    random = heads["criterion"] == "random"
    what = "random score (baseline)" if random else (
        "I_h / ‖I_layer‖₂" if global_rank else "I_h = E|∂L/∂ξ_h|")
    data = [dict(type="bar", x=[blocks, names], y=ys, name="score", showlegend=False,
                 marker=dict(color=colors, line=dict(width=0)), customdata=custom,
                 hovertemplate=("%{customdata[0]} head %{customdata[1]}: " + what + " %{y:.3g}"
                                + ("" if random else ", E|∂L/∂ξ| %{customdata[2]:.3g}")
                                + " (%{customdata[3]})<extra></extra>"))]
    for name, color in (("removed", PALETTE["accent"]), ("kept", PALETTE["compressed"])):
        data.append(dict(type="scatter", x=[None], y=[None], mode="markers", name=name,
                         marker=dict(symbol="square", size=12, color=color)))
    n_removed = sum(sum(r) for r in heads["removed"])
    n_heads = sum(len(r) for r in heads["removed"])
    on = "" if random else f"; {heads['n_images']} images"
    if heads.get("steps", 1) > 1:  # a removed head shows its score in the round that removed it
        on += f", {heads['steps']} rounds"
    rank = "lowest across layers" if global_rank else "lowest per layer"
    return _figure(data, dict(bargap=0.15, xaxis=dict(type="multicategory")),
                   "Attention-head scores", "layer and head", what,
                   f"amber: {n_removed} of {n_heads} heads removed ({rank}{on})")


# --------------------------------------------------------------------------- number formats

FORMAT_PANEL_HEIGHT = 92  # px per format: four formats and the header fit a projector's 480 px
FORMAT_GAP = 0.05


def format_grids(data: dict[str, Any]) -> go.Figure:
    """The levels of INT4, NF4, FP4 and MXFP4 over one layer's weight histogram, one panel a format.

    Each format's levels are those of the group holding the layer's largest |w| (compression.
    formats.grids), tall, and the median group's, short, to scale on one shared weight axis: evenly spaced (INT4), dense near zero
    (NF4's normal quantiles), logarithmic (FP4), and MXFP4's power-of-two scale, which can
    leave the largest weights above its top level (they saturate).
    """
    fmts = data["formats"]
    n = len(fmts)
    edges, counts = data["hist"]["edges"], data["hist"]["counts"]
    centres, width = _centres(edges), edges[1] - edges[0]
    top = max(counts) if counts else 1
    span = (1 - FORMAT_GAP * (n - 1)) / n
    traces: list[dict] = []
    layout: dict[str, Any] = {"showlegend": False, "annotations": []}
    for i, f in enumerate(fmts):
        axis = "" if i == 0 else str(i + 1)
        lo = 1 - (i + 1) * span - i * FORMAT_GAP
        layout[f"yaxis{axis}"] = dict(domain=[lo, lo + span], showticklabels=False, range=[0, top * 1.08],
                                      **({"title": dict(text="")} if i else {}))
        layout[f"xaxis{axis}"] = dict(anchor=f"y{axis}", showticklabels=i == n - 1,
                                      **({"matches": "x"} if i else {}),
                                      **({"title": dict(text="weight value (the layer's histogram in grey)")}
                                         if i == n - 1 and i else {}))
        traces.append(dict(type="bar", x=centres, y=counts, width=width, xaxis=f"x{axis}", yaxis=f"y{axis}",
                           marker=dict(color=PALETTE["original"], line=dict(width=0)), opacity=0.6,
                           name="weights", hovertemplate="weight %{x:.3f}<br>%{y:,} weights<extra></extra>"))
        for key, color, height, what in (("typical_levels", PALETTE["memory"], 0.45, "median group"),
                                         ("levels", PALETTE["compressed"], 1.08, "largest-|w| group")):
            xs: list[float | None] = []
            ys: list[float | None] = []
            for v in f[key]:
                xs += [v, v, None]
                ys += [0, top * height, None]
            traces.append(dict(type="scatter", mode="lines", x=xs, y=ys, xaxis=f"x{axis}", yaxis=f"y{axis}",
                               line=dict(color=color, width=1.6), name=f"{f['label']}, {what}",
                               hovertemplate=f"{f['label']} level %{{x:.4f}} ({what})<extra></extra>"))
        sqnr = "∞" if f["sqnr_db"] is None or not math.isfinite(f["sqnr_db"]) else f"{f['sqnr_db']:.1f}"
        grain = f["granularity"].replace("per-group g=", "g")
        layout["annotations"].append(dict(
            xref="paper", yref="paper", x=0, y=lo + span, xanchor="left", yanchor="top", showarrow=False,
            align="left", bgcolor="rgba(255,255,255,0.85)", font=dict(size=14),
            text=f"<b>{f['label']}</b> {grain} · {f['bits_per_weight']:.3f} bits/w · {sqnr} dB"))
    layout["xaxis"] = dict(layout.get("xaxis", {}), range=[-data["max_abs"] * 1.05, data["max_abs"] * 1.05])
    return _figure(traces, layout, "The levels each 4-bit format can represent",
                   "" if n > 1 else "weight value (the layer's histogram in grey)", "",
                   # short enough for one line at 1280×720 and 150 % zoom (a Plotly subtitle does not wrap)
                   subtitle="tall lines: the largest-|w| group's grid · short teal: the median group's",
                   height=HEADER_PX + n * FORMAT_PANEL_HEIGHT)


HEADER_PX = 120


def group_outlier(data: dict[str, Any]) -> go.Figure:
    """One row of weights around the layer's largest |w|: each group of g and its INT-b grid.

    The outlier's group (shaded) has a grid stretched to reach it: its step is the outlier /
    (2**(b-1)-1), so the group's other weights fall on few levels; the neighbouring groups
    keep fine grids. Levels are short horizontal lines over the group they belong to.
    """
    g, groups = data["group_size"], data["groups"]
    traces: list[dict] = []
    shapes: list[dict] = []
    for outlier in (False, True):
        xs: list[float | None] = []
        ys: list[float | None] = []
        for gr in groups:
            if gr["outlier"] != outlier:
                continue
            for v in gr["levels"]:
                xs += [gr["start"] - 0.5, gr["end"] - 0.5, None]
                ys += [v, v, None]
        traces.append(dict(type="scatter", mode="lines", x=xs, y=ys, hoverinfo="skip",
                           line=dict(color=PALETTE["accent"] if outlier else PALETTE["original"],
                                     width=1.4 if outlier else 1),
                           name="the outlier's group: its levels" if outlier else "other groups: their levels"))
    cols = [c for gr in groups for c in range(gr["start"], gr["end"])]
    vals = [v for gr in groups for v in gr["values"]]
    traces.append(dict(type="scatter", mode="markers", x=cols, y=vals, name="weights",
                       marker=dict(color=PALETTE["compressed"], size=6),
                       hovertemplate="input %{x}<br>weight %{y:.4f}<extra></extra>"))
    for gr in groups:
        if gr["outlier"]:
            shapes.append(dict(type="rect", xref="x", yref="paper", x0=gr["start"] - 0.5, x1=gr["end"] - 0.5,
                               y0=0, y1=1, fillcolor="rgba(245,158,11,0.12)", line=dict(width=0), layer="below"))
        shapes.append(dict(type="line", xref="x", yref="paper", x0=gr["start"] - 0.5, x1=gr["start"] - 0.5,
                           y0=0, y1=1, line=dict(color=PALETTE["grid"], width=1)))
    out = next(gr for gr in groups if gr["outlier"])
    ratio = out["step"] / data["median_step"] if data["median_step"] else math.inf
    # short enough for one line on a projector (a Plotly subtitle does not wrap)
    subtitle = (f"INT{data['bits']}: its step {out['step']:.3g} is {ratio:.1f}× the median group's · "
                f"{out['zeros']} other weights round to 0")
    return _figure(traces, {"shapes": shapes, "legend": dict(orientation="h", x=0, xanchor="left")},
                   f"One outlier stretches its group's grid (g = {g})",
                   f"input index in row {data['row']} (groups of {g} between lines)", "weight value",
                   subtitle=subtitle, height=HEIGHT + 60)
