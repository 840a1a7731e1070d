"""The shared look of every figure: palette, font, template, header layout, number formats and helpers."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from compression import quantizers
from compression.quantizers import FLOAT_BITS
from compression.report import LayerReport, Report


def fixed(x: float, places: int = 1) -> str:
    """`x` with `places` decimals, but a non-zero value never reads as zero: 0.0004 -> '0.0004'.

    A small non-zero number rounded to '0.0' says the opposite of what was measured; it gets
    two significant digits instead.
    """
    text = f"{x:.{places}f}"
    if x != 0 and float(text) == 0:
        return f"{x:.2g}" if abs(x) >= 1e-4 else f"{x:.1e}"
    return text


def signed(x: float, places: int = 2) -> str:
    """`x` with a sign and `places` decimals, never '+0.00' nor '-0.00' for a non-zero value (fixed's
    rule: two significant digits then) and '+0.00' for zero: 16-bit weights' change of perplexity
    is −0.0004, not '-0.00'."""
    text = fixed(x, places) if x != 0 else fixed(0.0, places)  # -0.0 too
    return text if text.startswith("-") else "+" + text


def factor_text(x: float) -> str:
    """A saving factor as every place writes it: '1,110×', '5.5×', '0.95×' (below 1: costs more)."""
    return f"{x:,.0f}×" if x >= 100 else f"{x:.1f}×" if x >= 1 else f"{x:.2f}×"


def pct(x: float) -> str:
    """A fraction as a percentage with one decimal and a space: 0.972 -> '97.2 %', 0.00004 -> '0.004 %'."""
    return f"{fixed(x * 100)} %"


def fmt_bytes(n: float) -> str:
    """Bytes as B / KB / MB / GB, 1 KB = 1024 B (as the energy model's 32 KB SRAM)."""
    factor, unit = _pick_unit(abs(n), BYTE_UNITS)
    return f"{fixed(n, 0)} B" if factor == 1 else f"{n / factor:.1f} {unit}"


def fmt_energy(pj: float) -> str:
    """Picojoules as pJ / nJ / µJ / mJ / J with one decimal: 244501 -> '244.5 nJ'."""
    factor, unit = _pick_unit(abs(pj), ENERGY_UNITS)
    return f"{fixed(pj / factor)} {unit}"


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
                # a shown legend pushes t further; a figure may widen a side (a tick label at the edge)
                margin={**MARGIN, **layout.pop("margin", {}), "t": top + HEADER["gap"]},
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


def _layer_label(report: Report, lr: LayerReport) -> str:
    """A layer's bit-width and quantizer as its plan states them ('4-bit k-means', 'float32')."""
    return lr.label or _bits_label(report, lr.bits)  # a report saved before layers carried their plan


def _report_label(report: Report) -> str:
    """The layers' common label, or 'per-layer bits' when their plans differ."""
    labels = {_layer_label(report, lr) for lr in report.layers}
    if len(labels) == 1:
        return labels.pop()
    return "per-layer bits" if labels else _bits_label(report, report.config.get("bits", 32))


def _method(report: Report, lr: LayerReport | None = None) -> str:
    """How weights were quantized, from the plan: 'k-means, per-tensor'; 'per-layer settings' when layers differ."""
    if lr is not None and lr.method:
        return lr.method
    methods = {x.method for x in report.layers if x.method and x.quantizer != "float"}
    if not methods:
        return "(no quantization)"
    return methods.pop() if len(methods) == 1 else "per-layer settings"


def _bits_text(bits: int) -> str:
    """'4-bit' / 'float32', without the quantizer (for text that names it beside)."""
    return "float32" if bits >= FLOAT_BITS else f"{bits}-bit"


def _bits_tick(bits: float) -> str:
    """A bits-axis tick: the number, and under it 'float' at 32 (narrow, so it is never cut off)."""
    return f"{bits:g}<br>float" if bits >= FLOAT_BITS else f"{bits:g}"


def _bits_hover(bits: float) -> str:
    return f"{bits:g} bits (float)" if bits >= FLOAT_BITS else f"{bits:g} bits"


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


def count_axis(top: float, **axis: Any) -> dict[str, Any]:
    """A linear axis of counts: integer ticks only (Plotly ticks a 0-3 range at 0.5, "1.5 weights").

    Below ten, one tick per count; above, Plotly's own steps are whole numbers already.
    """
    return {**axis, "tickformat": ",d", **({"tick0": 0, "dtick": 1} if top <= 10 else {})}


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


BYTE_UNITS = ((1, "B"), (1024, "KB"), (1024**2, "MB"), (1024**3, "GB"))


ENERGY_UNITS = ((1, "pJ"), (1e3, "nJ"), (1e6, "µJ"), (1e9, "mJ"), (1e12, "J"))


TEMPLATE = _template()
