"""Drawing compression.charts figures on the page, and caching built figures."""
from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from ui.fmt import literal

# No mode bar: its buttons are 8 tab stops per chart (64 on Explore) before the next control.
PLOT_CONFIG = {"displaylogo": False, "displayModeBar": False}


def plot(container, fig) -> None:
    """Draw a compression.charts figure with a one-line text summary under it (its text alternative).

    theme=None keeps the project's own template.
    """
    container.plotly_chart(fig, theme=None, config=PLOT_CONFIG)
    container.caption(summary(fig))


def _num(v: Any, percent: bool) -> str:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return f"{v * 100:.1f} %" if percent else f"{v:,.3g}"
    return html.unescape(re.sub(r"<[^>]+>", " ", str(v))).strip()


def summary(fig: Any, max_traces: int = 3) -> str:
    """'Chart: title. name: y from A (at x0) to B (at xn), n points; …' from the figure's own data."""
    layout = fig.layout
    title = html.unescape(re.sub(r"<[^>]+>", "", layout.title.text or "")).strip()
    percent = "%" in str(layout.yaxis.tickformat or "")
    parts = []
    for trace in fig.data:
        ys = list(trace.y) if getattr(trace, "y", None) is not None else []
        if not trace.name or not ys or not all(isinstance(y, (int, float)) for y in ys):
            continue
        xs = list(trace.x) if getattr(trace, "x", None) is not None else list(range(len(ys)))
        if len(ys) == 1:
            parts.append(f"{trace.name}: {_num(ys[0], percent)}")
        else:
            top = max(range(len(ys)), key=lambda i: ys[i])
            parts.append(f"{trace.name}: {len(ys)} points, {_num(ys[0], percent)} at {_num(xs[0], False)} "
                         f"to {_num(ys[-1], percent)} at {_num(xs[-1], False)}, largest {_num(ys[top], percent)}")
        if len(parts) == max_traces:
            break
    text = f"Chart: {title}." + (" " + "; ".join(parts) + "." if parts else "")
    return literal(text, limit=600)


# Built figures are cached: building and validating a Plotly figure costs several ms, and a slider moved
# back and forth asks for the same eight again. Keyed on plain values that determine the
# figure (chart name, model, config, chart arguments); st.plotly_chart copies the figure
# before sending it, so the shared object is never modified.
@st.cache_resource(show_spinner=False, max_entries=512)
def figure(key: tuple, _build: Callable[[], Any]) -> Any:
    return _build()


ONE_SHOT = "one-shot (no fine-tuning)"


def with_card_star(fig: Any, accuracy: float, ci: tuple[float, float], one_shot: bool) -> Any:
    """The accuracy curve with its "current setting" star at the card's number and interval.

    The curve's own point at the current setting can differ from the card: a one-shot curve
    (no fine-tuning) next to a fine-tuned card. The star always shows what the card shows,
    with the card's 95 % interval as error bars; a one-shot curve is labelled beside it.
    Returns a new figure (the cached one is shared).
    """
    fig = go.Figure(fig)
    for trace in fig.data:
        if trace.name == "current setting":
            x = trace.x[0]
            trace.y = [accuracy]
            trace.error_y = dict(type="data", symmetric=False, array=[max(0.0, ci[1] - accuracy)],
                                 arrayminus=[max(0.0, accuracy - ci[0])], color=trace.marker.color,
                                 thickness=1.5, width=4)
            trace.hovertemplate = (f"current setting (the card): {accuracy * 100:.1f} %, "
                                   f"95 % CI {ci[0] * 100:.1f}–{ci[1] * 100:.1f} %<extra></extra>")
            if one_shot:
                fig.add_annotation(x=x, y=accuracy, text="★ the card (fine-tuned)", showarrow=False,
                                   xanchor="left", xshift=10, yshift=10, font=dict(size=14))
        elif one_shot and trace.name == "compressed, 95% CI":
            trace.name = f"{ONE_SHOT}, 95% CI"
    return fig
