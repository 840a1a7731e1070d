"""A page script run outside app.py's router hands over to it, keeping its path and query.

Streamlit 1.67 decides per server process (AppTest: per run) whether the app is a legacy
multipage app: a `pages/` folder beside the entry script sets the class-wide
`PagesManager.uses_pages_directory`, and until some script calls the public `st.navigation`
each run goes through the legacy runner, which runs the page a deep link names (`/distill`)
*instead of* app.py, so without the shared sidebar. app.py calls `st.navigation`, which
clears the flag. So a page that finds the flag still set was not started by the router: it
runs app.py in its place, in the same run (the URL path and query, the widget values and a
button's click all stay as they are; a rerun would drop the click), then stops. app.py's
router resolves the same page from the same path, and this time the flag is clear.
"""
from __future__ import annotations

import types

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx


def outside_router() -> bool:
    """Whether this run was started by Streamlit's legacy pages/ runner, not by app.py."""
    return bool(PagesManager.uses_pages_directory) and get_script_run_ctx() is not None


def handover() -> None:
    """Call first in every page: when the router did not start this run, run it instead."""
    if not outside_router():
        return
    pages_manager = get_script_run_ctx().pages_manager
    main = str(pages_manager.main_script_path)
    module = types.ModuleType("__main__")
    module.__dict__["__file__"] = main
    exec(pages_manager.get_page_script_byte_code(main), module.__dict__)  # noqa: S102  (app.py)
    st.stop()  # the router drew this page; nothing of the legacy run is left to draw
