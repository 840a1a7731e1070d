"""Drawing compression.charts figures on the page, and caching built figures."""
from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import streamlit as st

from ui.fmt import short

# No mode bar: its buttons are 8 tab stops per chart (64 on Explore) before the next control.
PLOT_CONFIG = {"displaylogo": False, "displayModeBar": False}


def plot(container, fig) -> None:
    """Draw a compression.charts figure with its text alternative for screen readers.

    The summary is visually hidden (ui.style's .clab-sr-only): read aloud, not shown; on a
    projector a line of numbers under every chart was noise. theme=None keeps the project's template.
    """
    container.plotly_chart(fig, theme=None, config=PLOT_CONFIG)
    sr_only(container, summary(fig))


def sr_only(container, text: str) -> None:
    """Text for screen readers only (visually hidden, still in the accessibility tree)."""
    container.html(f'<p class="clab-sr-only" data-testid="clab-chart-text">{html.escape(text)}</p>')


def _num(v: Any, percent: bool) -> str:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return f"{v * 100:.1f} %" if percent else f"{v:,.3g}"
    return html.unescape(re.sub(r"<[^>]+>", " ", str(v))).strip()


def summary(fig: Any, max_traces: int = 3) -> str:
    """'Chart: title. name: y from A (at x0) to B (at xn), n points; …' from the figure's own data."""
    layout = fig.layout
    title = html.unescape(re.sub(r"<[^>]+>", "", layout.title.text or "")).strip()
    percent = "%" in str(layout.yaxis.tickformat or "")
    # A categorical axis drawn at positions 0..n (the bit-widths) says its values in its tick
    # labels: "97.5 % at 32 bits", not "at 9" (the position).
    ticks = dict(zip(layout.xaxis.tickvals or (), layout.xaxis.ticktext or ()))
    x_percent = "%" in str(layout.xaxis.tickformat or "")
    parts = []
    for trace in fig.data:
        ys = list(trace.y) if getattr(trace, "y", None) is not None else []
        if not trace.name or not ys or not all(isinstance(y, (int, float)) for y in ys):
            continue
        if getattr(trace, "fill", None) == "toself":  # an interval band drawn as a closed outline
            continue
        xs = list(trace.x) if getattr(trace, "x", None) is not None else list(range(len(ys)))
        if xs and isinstance(xs[0], (list, tuple)):  # a multicategory axis: one list per level
            xs = [" ".join(str(level[i]) for level in xs) for i in range(len(xs[0]))]
        xs = [ticks.get(x, x) for x in xs]
        if len(ys) == 1:
            parts.append(f"{trace.name}: {_num(ys[0], percent)}")
        else:
            top = max(range(len(ys)), key=lambda i: ys[i])
            parts.append(f"{trace.name}: {len(ys)} points, {_num(ys[0], percent)} at {_num(xs[0], x_percent)} "
                         f"to {_num(ys[-1], percent)} at {_num(xs[-1], x_percent)}, largest {_num(ys[top], percent)}")
        if len(parts) == max_traces:
            break
    text = f"Chart: {title}." + (" " + "; ".join(parts) + "." if parts else "")
    return short(text, 600)  # plain text: sr_only escapes it for HTML


# Built figures are cached: building and validating a Plotly figure costs several ms, and a slider moved
# back and forth asks for the same eight again. Keyed on plain values that determine the
# figure (chart name, model, config, chart arguments); st.plotly_chart copies the figure
# before sending it, so the shared object is never modified.
@st.cache_resource(show_spinner=False, max_entries=512)
def figure(key: tuple, _build: Callable[[], Any]) -> Any:
    return _build()


from compression.report_html import ONE_SHOT, with_card_star  # noqa: E402,F401  (one star, page and report)
