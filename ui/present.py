"""Presentation mode (`?view=present`): no advanced controls or debug detail, larger type, presets as steps.

In the spirit of TensorFlow Playground's links that hide controls: the same app, told as a story.
"""
from __future__ import annotations

import streamlit as st

from compression.config import PRESETS
from ui.state import _widget_values, preset_config, value

# The story: (preset, what to say about it). Only presets that exist are shown.
STORY = (
    ("baseline", "The trained model, uncompressed: the reference every number is measured against."),
    ("int8", "8-bit weights and activations: four times smaller, accuracy within the noise."),
    ("prune-90", "Nine weights in ten removed, then a few epochs of fine-tuning win the accuracy back."),
    ("deep-compression", "Pruning, k-means weight sharing and fine-tuning together (Han et al. 2016)."),
    ("extreme-2bit", "Too far: 2-bit weights without retraining, and the accuracy falls."),
)

CSS = """
<style>
/* Presentation mode: type a projector can carry, no advanced controls, no debug chrome. */
html { font-size: 18px !important; }
[data-testid="stMetricLabel"], [data-testid="stMetricLabel"] * { overflow-wrap: normal !important; word-break: normal !important; }
[data-testid="stSidebar"] [data-testid="stExpander"], [data-testid="stToolbar"],
[data-testid="stDecoration"], [data-testid="stMainMenu"] { display: none !important; }
h1 { font-size: 2.6rem !important; }
</style>
"""


def active() -> bool:
    """Whether this session is in presentation mode (the link's `view=present`, kept in the URL)."""
    return st.session_state.get("_view") == "present" or st.query_params.get("view") == "present"


def inject() -> None:
    """The presentation CSS, in presentation mode only."""
    if active():
        st.html(CSS)


def _steps() -> list[tuple[str, str]]:
    return [(name, text) for name, text in STORY if name in PRESETS]


def _go(name: str) -> None:
    ss = st.session_state
    ss.update(_widget_values(preset_config(name)))
    ss["preset"] = name


def _leave() -> None:
    st.session_state["_view"] = "normal"


def steps() -> None:
    """In presentation mode: 'Step i of n', what this step shows, Previous / Next (in the sidebar)."""
    if not active():
        return
    st.session_state["_view"] = "present"
    story = _steps()
    names = [n for n, _ in story]
    here = value("preset")  # before the sidebar draws the Preset box (see ui.state.value)
    i = names.index(here) if here in names else -1
    st.markdown(f"**Step {i + 1} of {len(story)}: {here}**" if i >= 0 else f"**The story: {len(story)} steps**")
    if i >= 0:
        st.caption(story[i][1])
    c1, c2 = st.columns(2)
    c1.button("Back", icon=":material/arrow_back:", key="present_prev", disabled=i <= 0, width="stretch",
              on_click=_go, args=(names[max(0, i - 1)],))
    c2.button("Next", icon=":material/arrow_forward:", key="present_next", disabled=i >= len(story) - 1,
              width="stretch", on_click=_go, args=(names[min(len(story) - 1, i + 1)],), type="primary")
    st.button("Leave presentation mode", key="present_leave", on_click=_leave, type="tertiary")
