"""Every control on a page says what it does: a help line (the "?" beside it), for a projector
audience and a screen reader alike (issue 15: controls without one were found in a walk)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WIDGETS = {"button", "download_button", "toggle", "radio", "selectbox", "multiselect", "number_input", "slider",
           "select_slider", "text_input", "file_uploader", "checkbox", "color_picker", "date_input", "text_area"}


def _is_call_of(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == name


def test_every_control_on_the_pages_has_a_help_line():
    missing = []
    for path in sorted([*ROOT.glob("pages/*.py"), *ROOT.glob("ui/*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in WIDGETS:
                keywords = {k.arg for k in node.keywords}
                # **kwargs may carry it, except ui.keep's (key and on_change only) and the hidden preloads'
                carried = [k for k in node.keywords if k.arg is None and not _is_call_of(k.value, "keep")]
                if "help" not in keywords and not carried:
                    missing.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.func.attr}")
    assert not missing, missing
