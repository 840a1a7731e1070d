"""The presenter's pages (issue 15, defects 2 and 5): presentation mode, Compare's presets,
named saves, the report's link and contents, one colour rule for deltas. AppTest; each test
has a history file of its own."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from compression.config import PRESETS  # noqa: E402

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 120


@pytest.fixture(autouse=True)
def own_history(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPRESSION_LAB_CACHE", str(tmp_path / "cache"))


def start(page: str | None = None, query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _presenting(at: AppTest) -> bool:
    return any(m.value.startswith("**Step") or m.value.startswith("**The story") for m in at.sidebar.markdown)


def test_leave_presentation_mode_leaves_it_and_the_url():
    at = start(query={"view": "present"})
    assert _presenting(at)
    at.button(key="present_leave").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not _presenting(at), [m.value for m in at.sidebar.markdown]
    assert "view" not in at.query_params
    at.run()  # and it stays left on the next run
    assert not _presenting(at)


def test_the_story_tells_every_preset_and_ends_on_the_qat_rescue():
    from ui import present
    names = [n for n, _ in present._steps()]
    assert sorted(names) == sorted(PRESETS) and len(names) == len(set(names))
    assert names[0] == "baseline" and names[-2:] == ["extreme-2bit", "qat-2bit"]
    at = start(query={"view": "present"})
    assert any(f"Step 1 of {len(PRESETS)}" in m.value for m in at.sidebar.markdown)
