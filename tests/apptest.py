"""Starting the app under Streamlit's AppTest, shared by the page tests."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def start(page: str | None = None, query: dict[str, str] | None = None, timeout: float = 120) -> AppTest:
    """The app run once with `query` in its URL, then switched to `page`; no exception raised."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def forget_results() -> None:
    """Drop what earlier tests in this process computed (Streamlit's cache and the "done" marks).

    A section that ran once is drawn from the cache without its button; a test that presses
    that button, or counts the backend's calls, must start from a process that has not run it.
    """
    import streamlit as st

    import ui
    st.cache_data.clear()
    ui._DONE.clear()
