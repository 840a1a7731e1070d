"""Baseline page for the browser benchmark (DESIGN.md, Performance targets).

A bare Streamlit page: one slider and six Plotly bar charts of 150 bars each.
The data depends trivially on the slider value (numpy, seeded by the value); there
is no other computation, so the time from a slider move to the last redraw is the
framework's floor that the real app is compared with.

Run alone with:  streamlit run benchmarks/bare_app.py
"""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

N_CHARTS = 6
N_BARS = 150

st.set_page_config(page_title="Bare baseline", layout="wide")

value = st.slider("Value", min_value=0, max_value=100, value=50)

x = np.arange(N_BARS)
columns = st.columns(2)
for i in range(N_CHARTS):
    rng = np.random.default_rng(value * N_CHARTS + i)
    fig = go.Figure(go.Bar(x=x, y=rng.random(N_BARS)))
    fig.update_layout(
        title=f"Chart {i + 1}",
        height=260,
        margin=dict(l=10, r=10, t=40, b=10),
    )
    columns[i % 2].plotly_chart(fig, width="stretch")
