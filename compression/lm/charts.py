"""Figures of the Language page (issue 18): each layer's output error, and perplexity over bits × method.

Pure functions of the plain dicts `compression.lm.evaluate.evaluate` and `.grid` return, in the
shared look of compression.charts (theme's `_figure`: title, subtitle, axis titles with units,
hover text saying the kind of number). Large enough to read from the back of a room: a layer's
name on its own line when the model has few layers, one tick per block when it has many.
"""
from __future__ import annotations

import math
import re
from typing import Any

import plotly.graph_objects as go

from compression.charts.methods import METHOD_COLORS
from compression.charts.theme import COLORWAY, HEIGHT, PALETTE, _figure, signed

NAMED_LAYERS_MAX = 24   # up to this many layers each gets its own labelled bar; more: one tick per block
ROW_PX = 26             # height of one labelled bar
METHOD_LABELS = {"rtn": "RTN", "gptq": "GPTQ", "awq": "AWQ"}
_BLOCK = re.compile(r"^(?:.*\.)?(?:blocks|layers|h)\.(\d+)\.")


def sqnr_db(error: float | None) -> float | None:
    """‖(W−Ŵ)x‖² / ‖Wx‖² as a signal-to-noise ratio in dB (None: no error to show, a float layer)."""
    if error is None or error <= 0 or not math.isfinite(error):
        return None
    return -10.0 * math.log10(error)


def _block(name: str) -> int | None:
    m = _BLOCK.match(name)
    return int(m.group(1)) if m else None


def layer_error_chart(result: dict[str, Any]) -> go.Figure:
    """Each compressed layer's output SQNR against the reference's weights on the same inputs
    (evaluate's `layers[*].output_error`, ‖(W−Ŵ)x‖² / ‖Wx‖² on held-out text): higher is closer."""
    layers = [lay for lay in result["layers"] if sqnr_db(lay.get("output_error")) is not None]
    names = [lay["name"] for lay in layers]
    ys = [sqnr_db(lay["output_error"]) for lay in layers]
    text = [f"{lay['label']} · SQNR {y:.1f} dB · relative error {lay['output_error']:.2e}" for lay, y in zip(layers, ys)]
    subtitle = "‖(W−Ŵ)x‖² / ‖Wx‖² on held-out text, as dB (higher: closer to the reference)"
    roles = [lay.get("role", "body") for lay in layers]
    apart = set(roles) - {"body"}
    # the layers kept apart (their own bits) as a second, orange trace named in the legend
    apart_name = " and ".join(w for r, w in (("embedding", "embeddings"), ("head", "LM head")) if r in apart)
    groups = [("body", PALETTE["compressed"], [i for i, r in enumerate(roles) if r == "body"]),
              (apart_name, COLORWAY[2], [i for i, r in enumerate(roles) if r != "body"])]
    groups = [g for g in groups if g[2]]
    legend = dict(showlegend=bool(apart))
    title = "Output error of each layer"
    if not layers:
        return _figure([], dict(annotations=[dict(text="no layer is changed by this setting", showarrow=False,
                                                  xref="paper", yref="paper", x=0.5, y=0.5, font=dict(size=18))]),
                       title, "", "", subtitle)
    data: list[dict[str, Any]]
    if len(layers) <= NAMED_LAYERS_MAX:
        data = [dict(type="bar", orientation="h", y=[names[i] for i in idx], x=[ys[i] for i in idx],
                     marker=dict(color=color), customdata=[text[i] for i in idx], name=name,
                     hovertemplate="%{y}<br>%{customdata}<extra>simulated</extra>") for name, color, idx in groups]
        # module order, whatever trace a layer is in
        layout = dict(yaxis=dict(autorange="reversed", automargin=True, tickfont=dict(size=15),
                                 categoryorder="array", categoryarray=names),
                      bargap=0.25, barmode="overlay", **legend)
        height = max(HEIGHT, 120 + ROW_PX * len(layers))
        return _figure(data, layout, title, "output SQNR (dB)", "", subtitle, height=height)
    xs = list(range(len(layers)))
    blocks = [_block(n) for n in names]
    ticks = [(i, f"block {b}") for i, b in enumerate(blocks)
             if b is not None and (i == 0 or blocks[i - 1] != b) and b % 5 == 0]
    # a layer outside the blocks (the embeddings, the LM head) is named; a block's tick too close to
    # one goes (model.embed_tokens and "block 0" were one blur, one layer apart)
    named = [(i, n.rsplit(".", 1)[-1]) for i, n in enumerate(names) if _block(n) is None]  # embed_tokens
    near = max(1, len(layers) // 12)
    ticks = sorted(named + [(i, t) for i, t in ticks if all(abs(i - j) >= near for j, _ in named)])
    # width in layers: a trace of two far-apart bars (the embedding and the LM head) is otherwise
    # drawn as wide as the gap between them
    data = [dict(type="bar", width=0.9, x=[xs[i] for i in idx], y=[ys[i] for i in idx], marker=dict(color=color),
                 name=name, customdata=[(names[i], text[i]) for i in idx],
                 hovertemplate="%{customdata[0]}<br>%{customdata[1]}<extra>simulated</extra>")
            for name, color, idx in groups]
    # the range fixed to the layers: autorange padded a two-bar trace's far-apart bars by half a gap each
    layout = dict(xaxis=dict(tickmode="array", tickvals=[t[0] for t in ticks], ticktext=[t[1] for t in ticks],
                             tickfont=dict(size=14), range=[-0.5, len(layers) - 0.5]),
                  bargap=0.1, barmode="overlay", margin=dict(r=40), **legend)  # room for "lm_head" under the last bar
    return _figure(data, layout, title, f"layer ({len(layers)} in module order)", "output SQNR (dB)", subtitle,
                   height=HEIGHT + 60)


def lm_grid_chart(grid: dict[str, Any]) -> go.Figure:
    """Perplexity at each weight bit-width for each rounding method (evaluate.grid), with its 95 %
    bootstrap interval as bars, and the reference's perplexity dashed. Log axis: 2-bit rounding
    can multiply perplexity by hundreds while 8-bit stays on the reference."""
    bits = grid["bits"]
    data: list[dict] = []
    span: list[float] = [grid["perplexity_baseline"]]
    for i, m in enumerate(grid["methods"]):
        ppl = grid["perplexity"][m]
        ci = grid["perplexity_ci95"][m]
        delta = grid["delta_vs_rtn_ci95"][m]
        span += [c[1] for c in ci] + [c[0] for c in ci]
        label = METHOD_LABELS.get(m, m)
        hover = [f"perplexity {p:.2f} [{lo:.2f}, {hi:.2f}]"
                 + ("" if m == "rtn" else f"<br>change vs RTN: paired 95 % interval [{signed(d[0])}, {signed(d[1])}]")
                 for p, (lo, hi), d in zip(ppl, ci, delta)]
        data.append(dict(type="scatter", x=bits, y=ppl, mode="lines+markers", name=label,
                         line=dict(color=METHOD_COLORS.get(m, COLORWAY[3 + i % 3]), width=3), marker=dict(size=10),
                         error_y=dict(type="data", symmetric=False, array=[hi - p for p, (_, hi) in zip(ppl, ci)],
                                      arrayminus=[p - lo for p, (lo, _) in zip(ppl, ci)], thickness=2),
                         customdata=hover, hovertemplate=f"{label}, %{{x}} bits<br>%{{customdata}}<extra>measured</extra>"))
    base = grid["perplexity_baseline"]
    data.append(dict(type="scatter", x=[min(bits), max(bits)], y=[base, base], mode="lines", name="reference",
                     line=dict(color=PALETTE["original"], dash="dash", width=2),
                     hovertemplate=f"reference: perplexity {base:.2f}<extra>{grid['reference']}</extra>"))
    lo, hi = max(min(span), 1e-3), max(span)
    layout = dict(xaxis=dict(tickmode="array", tickvals=bits, ticktext=[str(b) for b in bits], tickfont=dict(size=15)),
                  yaxis=dict(type="log", range=[math.log10(lo) - 0.03, math.log10(hi) + 0.05], tickfont=dict(size=14)),
                  legend=dict(orientation="h", x=0, xanchor="left", font=dict(size=15)))
    return _figure(data, layout, "Perplexity by weight bits and rounding method", "weight bits",
                   "perplexity (log scale)",
                   f"bars: 95 % bootstrap interval on {grid['tokens']:,} held-out tokens; dashed: the reference",
                   height=HEIGHT + 80)
