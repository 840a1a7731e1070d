"""Compare's figures: several Reports side by side."""
from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from compression.charts.theme import PALETTE, _centres, _figure, _layer, count_axis
from compression.charts.tradeoffs import TRADEOFF_AXES
from compression.report import Report


def compare_histograms(series: Sequence[tuple[str, Report]], layer: str) -> go.Figure:
    """One layer's compressed non-zero weights in several scenarios, overlaid as outlines."""
    data = []
    top = 0
    for label, report in series:
        h = _layer(report, layer).hist
        data.append(dict(type="scatter", x=_centres(h["edges"]), y=list(h["compressed"]), mode="lines",
                         line=dict(shape="hvh", width=2), name=label,
                         hovertemplate=f"weight %{{x:.3f}}<br>%{{y:,}} weights<extra>{label}</extra>"))
        top = max(top, *h["compressed"], 0)
    return _figure(data, {"yaxis": count_axis(top)}, f"Weights of {layer}, compared", "weight value", "count of non-zero weights",
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
