"""Drawing compression.charts figures on the page, and caching built figures."""
from __future__ import annotations

from typing import Any, Callable

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
