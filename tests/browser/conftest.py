"""Real-browser test fixtures: headless Debian Chromium driven by Playwright.

Fixtures
- ``browser`` (session): Chromium from /usr/bin/chromium (env CHROMIUM_PATH overrides)
  with the project's launch arguments. Missing executable: failure when env ``CI`` is
  set, skip otherwise.
- ``page`` (function): pytest-playwright's page (fresh context per test), 1400x1000,
  with the browserlib probe installed before any page script.
- ``streamlit_server`` (session): factory ``start(script_path, port=None, env=None,
  timeout=browserlib.SERVER_START_S) -> url``; every server it starts is stopped at the end
  of the session.

Waits: every wait is on the app's state (``wait_for_app_idle``, an element, a URL), never a
fixed time. Playwright's own default limit (5 s for ``expect`` and actions) is far too short
for a loaded machine, so this conftest raises it, for every page and every ``expect``, to
``browserlib.WAIT_LIMIT_MS`` (generous: a wait that is met returns at once).
- ``app_server`` (session): URL of the project's ``app.py`` (repo root).
- ``bare_app_server`` (session): URL of ``benchmarks/bare_app.py``.

Helpers (import them from ``browserlib``; ``benchmarks/`` is put on ``sys.path`` here):
``start_streamlit(script_path, port=None, env=None) -> (process, url)``,
``stop_streamlit(process)``, ``wait_for_app_idle(page)``, ``assert_no_exception(page)``,
``timed_key_redraw(page, key)``, ``chart_signatures(page)``, ``slider_value(page)``.

All tests in this folder get the ``browser`` marker (deselect with ``-m "not browser"``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
_BENCH = str(REPO_ROOT / "benchmarks")
if _BENCH not in sys.path:
    sys.path.insert(0, _BENCH)

import browserlib  # noqa: E402  (shared with benchmarks/browser_latency.py)
from browserlib import (  # noqa: E402,F401  (re-exported for convenience)
    assert_no_exception,
    start_streamlit,
    stop_streamlit,
    wait_for_app_idle,
)
from playwright.sync_api import expect  # noqa: E402

try:
    import pytest_playwright  # noqa: F401

    HAVE_PYTEST_PLAYWRIGHT = True
except ImportError:  # plain playwright: provide the few fixtures we need ourselves
    HAVE_PYTEST_PLAYWRIGHT = False

_THIS_DIR = Path(__file__).resolve().parent


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: real-browser test (headless Chromium)")
    expect.set_options(timeout=browserlib.WAIT_LIMIT_MS)


def _generous(page):
    page.set_default_timeout(browserlib.WAIT_LIMIT_MS)
    page.set_default_navigation_timeout(browserlib.WAIT_LIMIT_MS)
    return page


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _THIS_DIR in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.browser)


def _require_chromium() -> None:
    if browserlib.chromium_path() is not None:
        return
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(
            f"{browserlib.CHROMIUM_MISSING_MSG} (looked for {browserlib.CHROMIUM_PATH})",
            pytrace=False,
        )
    pytest.skip(
        f"{browserlib.CHROMIUM_MISSING_MSG} (looked for {browserlib.CHROMIUM_PATH}; "
        "with CI set this is a failure)"
    )


if HAVE_PYTEST_PLAYWRIGHT:

    @pytest.fixture(scope="session")
    def browser_type_launch_args(browser_type_launch_args):
        return {**browser_type_launch_args, **browserlib.chromium_launch_kwargs()}

    @pytest.fixture(scope="session")
    def browser_context_args(browser_context_args):
        return {**browser_context_args, "viewport": dict(browserlib.VIEWPORT)}

    @pytest.fixture
    def page(context):
        context.add_init_script(browserlib.INSTRUMENT_JS)
        return _generous(context.new_page())  # closed with its context by pytest-playwright

else:
    from playwright.sync_api import sync_playwright

    @pytest.fixture(scope="session")
    def playwright():
        with sync_playwright() as pw:
            yield pw

    @pytest.fixture(scope="session")
    def browser_type_launch_args():
        return browserlib.chromium_launch_kwargs()

    @pytest.fixture
    def page(browser):
        context, pg = browserlib.new_instrumented_page(browser)
        yield _generous(pg)
        context.close()


@pytest.fixture(scope="session")
def browser(playwright, browser_type_launch_args):
    """Headless Debian Chromium (session-scoped)."""
    _require_chromium()
    b = playwright.chromium.launch(**browser_type_launch_args)
    yield b
    b.close()


@pytest.fixture(scope="session")
def streamlit_server():
    """Factory: ``start(script_path, port=None, env=None, timeout=SERVER_START_S) -> url``."""
    procs = []

    def start(script_path, port=None, env=None, timeout: float = browserlib.SERVER_START_S) -> str:
        proc, url = start_streamlit(script_path, port=port, env=env, timeout=timeout)
        procs.append(proc)
        return url

    yield start
    for proc in procs:
        stop_streamlit(proc)


@pytest.fixture(scope="session")
def app_server(streamlit_server):
    """URL of the project's app.py, served for the whole session."""
    if not browserlib.PROJECT_APP.is_file():
        pytest.fail(f"{browserlib.PROJECT_APP} does not exist", pytrace=False)
    return streamlit_server(browserlib.PROJECT_APP)


@pytest.fixture(scope="session")
def bare_app_server(streamlit_server):
    """URL of benchmarks/bare_app.py (the benchmark baseline)."""
    return streamlit_server(browserlib.BARE_APP)
