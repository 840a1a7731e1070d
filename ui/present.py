"""Presentation mode (`?view=present`): no advanced controls or debug detail, larger type, presets as steps.

In the spirit of TensorFlow Playground's links that hide controls: the same app, told as a story.
"""
from __future__ import annotations

import streamlit as st

from compression.config import PRESETS
from ui.state import _widget_values, preset_config, value

# The story: (preset, what to say about it), every preset once, ending on the rescue of the
# failure before it (2 bits rounded after training, then the same 2 bits fine-tuned under QAT).
# A preset added later without a line here is told just before that ending (see _steps).
STORY = (
    ("baseline", "The trained model, uncompressed: the reference every number is measured against."),
    ("int8", "8-bit weights and activations: four times smaller, accuracy within the noise."),
    ("2:4-sparse-int8", "Two of every four weights removed (the pattern sparse tensor cores run), the rest in 8 bits."),
    ("prune-90", "Nine weights in ten removed, then a few epochs of fine-tuning win the accuracy back."),
    ("regularize-then-prune", "Group lasso pushes whole neurons towards zero while fine-tuning; then they are cut out."),
    ("deep-compression", "Pruning, k-means weight sharing and Huffman coding together (Han et al. 2016)."),
    ("ternary", "Three values per channel, {−a, 0, +a}, learned while fine-tuning (Li & Liu 2016)."),
    ("extreme-2bit", "Too far: 2-bit weights rounded after training, and the accuracy falls."),
    ("qat-2bit", "The rescue: the same 2 bits, fine-tuned under quantization (QAT), win most of it back."),
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
    """Whether this session is in presentation mode (the link's `view=present`, kept in the URL).

    The session's own choice wins over the URL: "Leave presentation mode" sets it to normal
    while the address bar may still say view=present for a moment.
    """
    view = st.session_state.get("_view")
    if view is not None:
        return view == "present"
    return st.query_params.get("view") == "present"


def inject() -> None:
    """The presentation CSS, in presentation mode only."""
    if active():
        st.html(CSS)


def _steps() -> list[tuple[str, str]]:
    told = [(name, text) for name, text in STORY if name in PRESETS]
    untold = [(name, f"The preset {name}.") for name in PRESETS if name not in dict(STORY)]
    return told[:-2] + untold + told[-2:]  # the failure and its rescue stay last


def _go(name: str) -> None:
    ss = st.session_state
    ss.update(_widget_values(preset_config(name)))
    ss["preset"] = name


def _leave() -> None:
    st.session_state["_view"] = "normal"
    if "view" in st.query_params:  # write_url writes the view only when not normal: drop it now
        del st.query_params["view"]


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
              on_click=_go, args=(names[max(0, i - 1)],),
              help="The previous step of the story.")
    c2.button("Next", icon=":material/arrow_forward:", key="present_next", disabled=i >= len(story) - 1,
              width="stretch", on_click=_go, args=(names[min(len(story) - 1, i + 1)],), type="primary",
              help="The next step of the story: the sidebar's settings change to its preset.")
    st.button("Leave presentation mode", key="present_leave", on_click=_leave, type="tertiary",
              help="Back to the full app with every control.")
