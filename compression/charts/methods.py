"""Figures of the calibrated methods (Explore's "Rounding methods" and "Layer by layer" sections)."""
from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from compression.charts.theme import COLORWAY, PALETTE, _centres, _figure, _pct_format, pct

METHOD_COLORS = {"rtn": PALETTE["original"], "gptq": PALETTE["compressed"], "awq": COLORWAY[2]}


def methods_chart(result: dict[str, Any]) -> go.Figure:
    """Test accuracy of each rounding method at each bit-width; bars: the paired 95 % interval of its
    change against round-to-nearest at the same bits, drawn around its accuracy (methods.compare)."""
    data: list[dict] = []
    bits = result["bits"]
    span: list[float] = []
    for name in result["methods"]:
        acc = result["accuracy"][name]
        d, lo, hi = result["delta"][name], result["lo"][name], result["hi"][name]
        up = [h - x for h, x in zip(hi, d)]
        down = [x - lo_ for x, lo_ in zip(d, lo)]
        span += [a + u for a, u in zip(acc, up)] + [a - w for a, w in zip(acc, down)]
        label = result["labels"][name]
        text = [f"{pct(a)}" + ("" if name == "rtn" else f"; vs RTN {x * 100:+.1f} pts [{lo_ * 100:+.1f}, {h * 100:+.1f}]")
                for a, x, lo_, h in zip(acc, d, lo, hi)]
        data.append(dict(type="scatter", x=bits, y=acc, mode="lines+markers", name=label,
                         line=dict(color=METHOD_COLORS.get(name, COLORWAY[3]), width=2.5), marker=dict(size=8),
                         error_y=dict(type="data", symmetric=False, array=up, arrayminus=down, visible=name != "rtn"),
                         customdata=text, hovertemplate=f"{label}<br>%{{x}} bits: %{{customdata}}<extra>simulated</extra>"))
    low = max(0.0, min(span, default=0.0) - 0.03)
    layout = dict(xaxis=dict(tickmode="array", tickvals=bits, ticktext=[str(b) for b in bits]),
                  yaxis=dict(tickformat=_pct_format(span), range=[low, min(1.0, max(span, default=1.0)) + 0.02]))
    return _figure(data, layout, "Rounding to nearest vs GPTQ vs AWQ", "weight bits", "test accuracy (%)",
                   f"bars: paired 95 % interval of the change vs RTN on the same {result['n_test']} test images")


def layer_error_chart(errors: dict[str, Any], metric: str = "sqnr_db") -> go.Figure:
    """Each layer's output SQNR (dB) or cosine to the float model: that layer alone compressed, and accumulated."""
    names = errors["layers"]
    data = []
    for key, label, color in (("alone", "this layer alone compressed", PALETTE["original"]),
                              ("accumulated", "accumulated (whole compressed model)", PALETTE["compressed"])):
        ys = [v if v is not None else 0.0 for v in errors[key][metric]]
        text = ["no error" if v is None else (f"{v:.1f} dB" if metric == "sqnr_db" else f"{v:.4f}")
                for v in errors[key][metric]]
        data.append(dict(type="bar", x=names, y=ys, name=label, marker=dict(color=color), customdata=text,
                         hovertemplate=f"{label}<br>%{{x}}: %{{customdata}}<extra>simulated</extra>"))
    y_title = "output SQNR (dB)" if metric == "sqnr_db" else "output cosine similarity"
    return _figure(data, dict(barmode="group"), "Output error of each layer against the float model", "layer",
                   y_title, "on calibration images (training split); higher is closer to the float model")


def activation_histogram(ranges: dict[str, Any], layer: str) -> go.Figure:
    """A histogram of one layer's inputs on the calibration images."""
    r = ranges[layer]
    data = [dict(type="bar", x=_centres(r["edges"]), y=r["counts"], name="inputs", marker=dict(color=PALETTE["original"]),
                 hovertemplate="input %{x:.3g}: %{y} values<extra>calibration</extra>")]
    return _figure(data, dict(bargap=0.02, yaxis=dict(type="log")), f"Inputs of {layer} on calibration images",
                   "activation value", "count (log)", f"range {r['min']:.3g} … {r['max']:.3g}")


def weight_range_chart(ranges: dict[str, Any], layer: str) -> go.Figure:
    """Min and max of every output channel of one layer's weights."""
    r = ranges[layer]
    xs = list(range(len(r["min"])))
    data = [dict(type="bar", x=xs, y=[hi - lo for lo, hi in zip(r["min"], r["max"])], base=r["min"], name="range",
                 marker=dict(color=PALETTE["compressed"]),
                 hovertemplate="channel %{x}: %{base:.3g} … %{y:.3g} wide<extra></extra>")]
    return _figure(data, dict(bargap=0.1), f"Weight range of each output channel of {layer}", "output channel",
                   "weight value", "one scale per channel fits each bar; one per tensor must span them all")


def outliers_chart(view: dict[str, Any], layer: str) -> go.Figure:
    """max |x| of each input channel before and after SmoothQuant's migration at α."""
    r = view["layers"][layer]
    xs = list(range(len(r["act_before"])))
    data = [dict(type="bar", x=xs, y=r["act_before"], name="activations before", marker=dict(color=PALETTE["original"]),
                 hovertemplate="channel %{x}: max|x| %{y:.3g}<extra>before</extra>"),
            dict(type="bar", x=xs, y=r["act_after"], name=f"after smoothing (α = {view['alpha']:g})",
                 marker=dict(color=PALETTE["compressed"]),
                 hovertemplate="channel %{x}: max|x/s| %{y:.3g}<extra>after</extra>")]
    return _figure(data, dict(barmode="overlay", bargap=0.05), f"Activation outliers of {layer}: max |x| per input channel",
                   "input channel", "max |x| on calibration images",
                   "SmoothQuant divides channel j by s_j = max|X_j|^α / max|W_j|^(1−α) and multiplies the weights by it")
