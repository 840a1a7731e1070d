"""The client-side scrubber (issue 19) on a page: a Streamlit v2 component (mounted in the page's own
DOM, no iframe) whose markup, style and script are the package's (compression.scrub.page_parts:
assets/scrubber/, nothing from a CDN). Every input event redraws in the browser; the release sends
the dragged point back, which becomes the sidebar's sparsity and bits, so the cards then show
evaluate's exact numbers for it (the CLI's).
"""
from __future__ import annotations

from typing import Any

import streamlit as st

from compression import scrub, structures
from ui.state import _control_changed, value

KEY = "scrubber"
RELEASE = ("On release the sidebar takes this point and the cards above show the exact result for it "
           "(the numbers python -m compression evaluate prints).")

_markup, _css, _js = scrub.page_parts()
# mountScrubber(root, grid, onRelease) is the report's function too; the component's entry point wraps it
_COMPONENT = st.components.v2.component(
    "compression_lab_scrubber", html=_markup, css=_css,
    js=_js + "\nexport default function(c) {\n  return mountScrubber(c.parentElement, c.data, "
             "(v) => c.setTriggerValue('release', v));\n}\n")


def _released() -> None:
    """The scrubber's release: its point becomes the sidebar's sparsity (whole percent) and bits."""
    point = (st.session_state.get(KEY) or {}).get("release")
    if not isinstance(point, dict):
        return
    try:
        sparsity, bits = float(point["sparsity"]), int(point["bits"])
    except (KeyError, TypeError, ValueError):
        return
    ss = st.session_state
    if structures.structure(value("structure", "unstructured")).fixed_sparsity is None:  # 2:4 sets its own
        ss["sparsity"] = int(round(sparsity * 100))
    ss["bits"] = bits
    _control_changed()


def draw(grid: dict[str, Any], sparsity: float, bits: int) -> None:
    """The scrubber for `grid`, starting at the grid point nearest the sidebar's (sparsity, bits)."""
    _COMPONENT(data=scrub.payload(grid, sparsity, bits, release_text=RELEASE), key=KEY,
               on_release_change=_released)
