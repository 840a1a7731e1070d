"""The client-side scrubber (issue 19): the grid drawn in the browser, redrawn on every input event.

One self-contained HTML string (assets/scrubber.html, the grid inlined as JSON): no CDN, nothing
from the network, so it also works offline.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TEMPLATE = Path(__file__).resolve().parent.parent / "assets" / "scrubber.html"
HEIGHT = 560  # px of the component's frame: sliders, readouts and the histogram


def html(grid: dict[str, Any], sparsity: float = 0.0, bits: int = 32) -> str:
    """The scrubber page for `grid`, starting at the grid point nearest (sparsity, bits)."""
    start_s = min(grid["sparsities"], key=lambda s: abs(s - sparsity))
    start_b = min(grid["bits"], key=lambda b: abs(b - bits))
    payload = {**grid, "start_sparsity": start_s, "start_bits": start_b}
    # "</" cannot close the script element from inside the JSON
    text = json.dumps(payload, separators=(",", ":")).replace("</", "<\\/")
    return TEMPLATE.read_text(encoding="utf-8").replace("__GRID__", text)
