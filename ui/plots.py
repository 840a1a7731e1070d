"""Drawing compression.charts figures on the page, and caching built figures."""
from __future__ import annotations

from typing import Any, Callable

import plotly.graph_objects as go
import streamlit as st

PLOT_CONFIG = {"displaylogo": False}


def plot(container, fig) -> None:
    """Draw a compression.charts figure; theme=None keeps the project's own template."""
    container.plotly_chart(fig, theme=None, config=PLOT_CONFIG)


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
