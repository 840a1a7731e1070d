"""Trade-offs' figures: sweep rows on a size/energy/latency axis, sensitivity, mixed precision."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from compression.charts.theme import (
    BYTE_UNITS,
    ENERGY_UNITS,
    PALETTE,
    _baseline,
    _bits_hover,
    _bits_text,
    _bits_tick,
    _centre_note,
    _figure,
    _pct_format,
    fmt_bytes,
    fmt_energy,
    pct,
)

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
