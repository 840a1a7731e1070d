"""The server's own settings the pages rely on (.streamlit/config.toml)."""
from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_no_traceback_reaches_a_page():
    # Streamlit 1.67's client.showErrorDetails: "none" shows a generic message only; false
    # (deprecated) still shows the stack trace, and the default "full" shows everything.
    assert tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["client"]["showErrorDetails"] == "none"
    # and Streamlit itself reads it so when started from the repository root, as `make run` does
    code = "import streamlit.config as c; c.get_config_options(force_reparse=True); print(c.get_option('client.showErrorDetails'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "none", out.stdout
