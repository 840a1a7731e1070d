"""The page's own CSS, one block per run, no external resources: projector and accessibility."""
from __future__ import annotations

import streamlit as st

CAPTION_COLOR = "#555b6e"  # 6.2:1 on the sidebar's #f4f5fb, 6.8:1 on white (WCAG AA: 4.5:1)
FOCUS_COLOR = "#4f46e5"    # the theme's primaryColor

CSS = f"""
<style>
/* Headline numbers never end in "97.…" at 1280x720 and 150 % zoom: they shrink, then wrap. */
[data-testid="stMetricValue"], [data-testid="stMetricValue"] * {{
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important;
  overflow-wrap: anywhere;
}}
[data-testid="stMetricValue"] {{ font-size: clamp(1.35rem, 2.1vw, 2.25rem) !important; line-height: 1.2; }}
[data-testid="stMetricLabel"] *, [data-testid="stMetricDelta"] *, [data-testid="stPopover"] button *,
[data-testid="stCheckbox"] label * {{
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important;
}}
/* Formulas scroll sideways instead of being cut at the right edge. */
.katex-display {{ overflow-x: auto; overflow-y: hidden; padding: 2px 0 6px; }}
/* Captions carry the intervals and assumptions: AA contrast. */
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] * {{
  color: {CAPTION_COLOR} !important; opacity: 1 !important;
}}
/* Charts' text alternatives: for screen readers, not on screen (the usual visually-hidden rule). */
.clab-sr-only {{ position: absolute !important; width: 1px; height: 1px; padding: 0; margin: -1px;
  overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0; }}
[data-testid="stElementContainer"]:has(.clab-sr-only) {{ position: absolute !important; width: 1px !important;
  height: 1px !important; overflow: hidden !important; clip: rect(0 0 0 0); margin: -1px !important; }}
/* A focus ring you can see from the keyboard. */
:focus-visible, [role="slider"]:focus {{
  outline: 3px solid {FOCUS_COLOR} !important; outline-offset: 2px !important;
}}
/* A narrow main area (1280x720 at 150 % zoom): charts one per row, cards three per row, so no
   chart title or card is cut. */
/* The cards' captions fold into one expander on a projector-sized screen (below); here it is not needed. */
.st-key-card_details {{ display: none !important; }}
/* A multiselect shows every picked value: its chips wrap onto a second line instead of scrolling
   sideways behind a fade ("0% 50% 75% 9…" at 1280×720 and 150 % zoom). */
[data-testid="stMultiSelectTagsContainer"] {{ flex-wrap: wrap !important; overflow: visible !important;
  height: auto !important; mask-image: none !important; -webkit-mask-image: none !important; }}
[data-testid="stMultiSelect"] div:has(> [data-testid="stMultiSelectTagsContainer"]) {{
  height: auto !important; max-height: none !important; }}
/* Download buttons say their whole label (wrapping), never "Report (o…". */
[data-testid="stDownloadButton"] button, [data-testid="stDownloadButton"] button *,
[data-testid="stButton"] button, [data-testid="stButton"] button * {{
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important;
}}
@media (max-width: 1100px) {{
  /* 1280×720 at 150 % (853×480): less chrome above the content, so the first screen reaches a chart. */
  /* …but never under the header (3.75rem high, in rem: presentation mode's larger type grows it too) */
  [data-testid="stMainBlockContainer"] {{ padding-top: 4rem !important; }}
  [data-testid="stMainBlockContainer"] h1 {{ font-size: 2rem !important; padding-top: 0 !important; }}
  .st-key-cards [data-testid="stCaptionContainer"] {{ display: none !important; }}
  .st-key-cards [data-testid="stPopover"] {{ display: none !important; }}
  .st-key-card_details {{ display: block !important; }}
  /* Explore's five cards in one row (captions folded away above): label, number, delta only. */
  .st-key-cards [data-testid="stHorizontalBlock"] {{ flex-wrap: nowrap !important; gap: 0.6rem !important; }}
  .st-key-cards [data-testid="stHorizontalBlock"] > [data-testid="stColumn"] {{ min-width: 0 !important; flex: 1 1 0 !important;
    width: auto !important; }}
  .st-key-cards [data-testid="stElementContainer"]:has([data-testid="stCaptionContainer"]),
  .st-key-cards [data-testid="stElementContainer"]:has([data-testid="stPopover"]) {{ display: none !important; }}
  .st-key-cards [data-testid="stMetricLabel"] p {{ font-size: 0.8rem !important; line-height: 1.2 !important; }}
  .st-key-cards [data-testid="stMetricValue"] {{ font-size: 1.2rem !important; }}
  .st-key-cards [data-testid="stMetricDelta"] {{ font-size: 0.8rem !important; }}
  [data-testid="stHorizontalBlock"] {{ flex-wrap: wrap !important; }}
  [data-testid="stColumn"]:has([data-testid="stPlotlyChart"]) {{ min-width: 100% !important; }}
  [data-testid="stColumn"]:has([data-testid="stMetric"]) {{ min-width: calc(33% - 1rem) !important; }}
}}
</style>
"""


def inject() -> None:
    """Add the CSS block (an invisible element) to this run."""
    st.html(CSS)
    from ui import present
    present.inject()  # larger type and no advanced controls under ?view=present
