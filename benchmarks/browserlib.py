"""Shared helpers for the real-browser tests (tests/browser/) and the browser benchmark.

- Streamlit server start/stop on 127.0.0.1 (own process group, health-checked).
- Headless Chromium launch arguments (Debian's /usr/bin/chromium through Playwright).
- An in-page instrument (MutationObserver + keydown timestamp) used to wait for a
  Streamlit page to go idle and to time "slider moved -> last DOM change".

Only the standard library and Playwright are imported here (Playwright lazily), so
the module can be imported by pytest's conftest and by the benchmark alike.

Ignored mutations (they would bias the redraw timer, and are not the page's content):
- anything inside the ``stStatusWidget`` (the "Running..." man is swapped every 200 ms
  while a script runs, and the widget fades out with a 200 ms CSS transition after
  the run ends: counting it would add ~200 ms of animation to every measurement);
- the ``data-test-*`` attributes (test hooks such as ``data-test-script-state``; they
  are invisible; the script state is tracked separately).
Everything else counts, including the stale-element fade Streamlit applies during a
rerun and Plotly's own (asynchronous) SVG updates.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BARE_APP = REPO_ROOT / "benchmarks" / "bare_app.py"
PROJECT_APP = REPO_ROOT / "app.py"

CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",  # we only ever talk to 127.0.0.1
]
CHROMIUM_MISSING_MSG = "chromium missing: run make test which installs it"
VIEWPORT = {"width": 1400, "height": 1000}

# Every wait here is on a condition (the app idle, an element present, a server healthy); these
# are only the overall limits after which a wait gives up. They are generous on purpose: a fresh
# server imports torch and evaluates first, and a loaded 2-core machine (or a slow clean one)
# can take minutes where an idle one takes seconds. A wait that is met returns at once, so a
# long limit costs nothing when the app is healthy. WAIT_LIMIT_S overrides both.
WAIT_LIMIT_MS = int(float(os.environ.get("WAIT_LIMIT_S", "300")) * 1000)
SERVER_START_S = WAIT_LIMIT_MS / 1000

# Selectors (checked against streamlit 1.67's frontend).
SEL_APP = '[data-testid="stApp"]'
SEL_STATUS = '[data-testid="stStatusWidget"]'
SEL_RUNNING = '[data-testid="stStatusWidgetRunningIcon"]'
SEL_EXCEPTION = '[data-testid="stException"]'
# Streamlit >= 1.5x renders its slider with react-aria: a visually hidden
# <input type="range"> (implicit ARIA role "slider", no role attribute). Other slider
# widgets (e.g. select_slider, third-party) may carry an explicit role="slider".
SEL_SLIDER = '[data-testid="stSlider"] input[type="range"], [role="slider"]'
SEL_CHART = '[data-testid="stPlotlyChart"]'
# A Plotly chart counts as rendered once Plotly has drawn its main SVG.
SEL_CHART_RENDERED = ".js-plotly-plot .main-svg"


# --------------------------------------------------------------------------- chromium


def chromium_path() -> str | None:
    """Path of the Chromium executable, or None when it is not installed."""
    if os.path.isfile(CHROMIUM_PATH) and os.access(CHROMIUM_PATH, os.X_OK):
        return CHROMIUM_PATH
    return None


def chromium_launch_kwargs() -> dict:
    """Keyword arguments for ``playwright.chromium.launch`` (does not check the path).

    Playwright creates (and deletes) a fresh temporary user-data-dir for each launch.
    """
    return {"executable_path": CHROMIUM_PATH, "headless": True, "args": list(CHROMIUM_ARGS)}


def launch_browser(playwright):
    """Launch headless Chromium with the project's arguments.

    Raises ``FileNotFoundError`` (message starts with ``CHROMIUM_MISSING_MSG``) when
    the executable is missing.
    """
    if chromium_path() is None:
        raise FileNotFoundError(f"{CHROMIUM_MISSING_MSG} (looked for {CHROMIUM_PATH})")
    return playwright.chromium.launch(**chromium_launch_kwargs())


# ---------------------------------------------------------------------- streamlit


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def health_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with _NO_PROXY_OPENER.open(f"{url}/_stcore/health", timeout=timeout) as r:
            return r.status == 200 and r.read().strip() == b"ok"
    except (urllib.error.URLError, OSError, ValueError):
        return False


def streamlit_command(script_path, port: int) -> list[str]:
    return [
        sys.executable, "-m", "streamlit", "run", str(script_path),
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--server.fileWatcherType", "none",  # torch + the watcher: slow and noisy
        "--server.runOnSave", "false",
        "--browser.gatherUsageStats", "false",
        "--global.developmentMode", "false",
    ]


def _log_tail(proc, n: int = 4000) -> str:
    path = getattr(proc, "log_path", None)
    if not path:
        return ""
    try:
        return Path(path).read_text(errors="replace")[-n:]
    except OSError:
        return ""


def start_streamlit(script_path, port=None, env=None, timeout: float = SERVER_START_S, cwd=None):
    """Start ``streamlit run script_path`` on 127.0.0.1 and wait until it is healthy.

    Returns ``(process, url)``. The process runs in its own process group (stop it with
    :func:`stop_streamlit`); its output goes to ``process.log_path`` (a temp file).
    ``env`` entries are added to ``os.environ``. Raises ``RuntimeError`` (with the
    server's log) when it exits or is not healthy within ``timeout`` seconds. With
    ``port=None`` a free port is picked (and retried if it was taken meanwhile).
    """
    script_path = Path(script_path).resolve()
    if not script_path.is_file():
        raise FileNotFoundError(f"Streamlit script not found: {script_path}")
    attempts = 3 if port is None else 1
    last_error = None
    for _ in range(attempts):
        p = port or free_port()
        try:
            return _start_once(script_path, p, env, timeout, cwd)
        except RuntimeError as e:  # port race or real failure: retry only a port race
            last_error = e
            if "already in use" not in str(e).lower():
                raise
    raise last_error


def _start_once(script_path: Path, port: int, env, timeout: float, cwd):
    full_env = dict(os.environ)
    full_env.update({"PYTHONUNBUFFERED": "1", "NO_PROXY": "127.0.0.1,localhost"})
    if env:
        full_env.update(env)
    fd, log_path = tempfile.mkstemp(prefix="streamlit-", suffix=".log")
    with os.fdopen(fd, "wb") as log:
        proc = subprocess.Popen(
            streamlit_command(script_path, port),
            cwd=str(cwd or REPO_ROOT),
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: killpg tears down children
        )
    proc.log_path = log_path
    proc.start_time = time.time()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = _log_tail(proc)
            stop_streamlit(proc)
            raise RuntimeError(
                f"streamlit exited with code {proc.returncode} before becoming healthy "
                f"({script_path}).\n--- log ---\n{tail}"
            )
        if health_ok(url, timeout=1.0):
            return proc, url
        time.sleep(0.02)
    tail = _log_tail(proc)
    stop_streamlit(proc)
    raise RuntimeError(
        f"streamlit not healthy after {timeout:.0f} s at {url} ({script_path}).\n"
        f"--- log ---\n{tail}"
    )


def stop_streamlit(proc, timeout: float = 10.0) -> None:
    """Terminate the server's whole process group (SIGTERM, then SIGKILL)."""
    if proc is None:
        return
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        pgid = None
    if pgid is not None and proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            proc.wait(timeout=timeout)
    elif pgid is not None:  # leader gone; make sure no child survives
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    log_path = getattr(proc, "log_path", None)
    if log_path and not os.environ.get("KEEP_STREAMLIT_LOGS"):
        with contextlib.suppress(OSError):
            os.unlink(log_path)


@contextlib.contextmanager
def serve_streamlit(script_path, port=None, env=None, timeout: float = SERVER_START_S):
    """Context manager around :func:`start_streamlit`; yields ``(process, url)``."""
    proc, url = start_streamlit(script_path, port=port, env=env, timeout=timeout)
    try:
        yield proc, url
    finally:
        stop_streamlit(proc)


# ------------------------------------------------------------------- in-page probe

# Installed with context.add_init_script (before any page script) or, late, with
# page.evaluate. All times are performance.now() of the page (ms).
INSTRUMENT_JS = r"""
(() => {
  if (window.__clab) return;
  const S = window.__clab = {
    last: 0,          // time of the last counted mutation
    count: 0,         // number of counted mutation records
    chartLast: 0,     // time of the last counted mutation inside a Plotly chart
    chartCount: 0,
    keyT: null,       // time of the last keydown (capture phase, before any handler)
    key: null,
    states: [],       // [time, data-test-script-state] transitions of stApp
  };
  const STATUS = '[data-testid="stStatusWidget"]';
  const CHART = '[data-testid="stPlotlyChart"], .js-plotly-plot';
  const elem = (n) => (n && n.nodeType === 1 ? n : n && n.parentElement);
  const inStatus = (n) => {
    const e = elem(n);
    return !!(e && e.closest && e.closest(STATUS));
  };
  const ignored = (m) => {
    if (m.type === 'attributes' && m.attributeName &&
        m.attributeName.startsWith('data-test-')) return true;
    if (inStatus(m.target)) return true;
    if (m.type === 'childList') {
      const nodes = [...m.addedNodes, ...m.removedNodes];
      if (nodes.length && nodes.every(inStatus)) return true;
    }
    return false;
  };
  // Cheap per batch: only the first counted record (and the first chart record) of
  // each callback is looked for, so a 20k-record Plotly redraw costs a few checks.
  const obs = new MutationObserver((records) => {
    const now = performance.now();
    let counted = false, chart = false;
    for (const m of records) {
      if (m.type === 'attributes' && m.attributeName === 'data-test-script-state') {
        const e = m.target;
        if (e.getAttribute && e.getAttribute('data-testid') === 'stApp')
          S.states.push([now, e.getAttribute('data-test-script-state')]);
      }
      if (chart || ignored(m)) continue;
      if (!counted) { counted = true; S.last = now; S.count++; }
      const e = elem(m.target);
      if (e && e.closest && e.closest(CHART)) { chart = true; S.chartLast = now; S.chartCount++; }
    }
  });
  const start = () => obs.observe(document, {
    subtree: true, childList: true, attributes: true, characterData: true,
  });
  if (document.documentElement) start();
  else document.addEventListener('readystatechange', start, { once: true });
  window.addEventListener('keydown', (ev) => {
    S.keyT = performance.now(); S.key = ev.key;
  }, true);
})();
"""

# The script has finished: stApp present, connected, script not running, no running
# indicator. Shared by both probes below (a JS function expression, spliced in).
_SCRIPT_DONE_JS = r"""
(() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!window.__clab || !app) return false;
  if (app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  const conn = app.getAttribute('data-test-connection-state');
  if (conn && conn !== 'CONNECTED') return false;
  return !document.querySelector('[data-testid="stStatusWidgetRunningIcon"]');
})
"""

# True when the Streamlit page is idle: the script is done and no counted DOM mutation
# happened for `quiet` ms.
IDLE_JS = r"""
(quiet) => {
  if (!(SCRIPT_DONE)()) return false;
  return performance.now() - window.__clab.last >= quiet;
}
""".replace("SCRIPT_DONE", _SCRIPT_DONE_JS.strip())


# Page usable: idle (as above), at least `minSliders` sliders and `minCharts` Plotly
# charts with a drawn trace. Returns the time of the last counted mutation.
USABLE_JS = r"""
([quiet, minSliders, minCharts, selSlider]) => {
  if (!(SCRIPT_DONE)()) return null;
  const S = window.__clab;
  if (document.querySelectorAll(selSlider).length < minSliders) return null;
  const drawn = Array.from(document.querySelectorAll('.js-plotly-plot'))
    .filter((p) => p.querySelector('.main-svg g.trace')).length;
  if (drawn < minCharts) return null;
  if (performance.now() - S.last < quiet) return null;
  return S.last;
}
""".replace("SCRIPT_DONE", _SCRIPT_DONE_JS.strip())


def install_instrument(page) -> None:
    """Install the probe in an already loaded page (idempotent).

    Prefer ``context.add_init_script(INSTRUMENT_JS)`` before navigation, so the probe
    sees the page from its first mutation.
    """
    page.evaluate(INSTRUMENT_JS)


def wait_for_app_idle(page, quiet_ms: int = 300, timeout_ms: int = WAIT_LIMIT_MS) -> None:
    """Wait until Streamlit has finished running the script and the DOM is quiet.

    Idle means: ``[data-testid="stApp"]`` present, connected, its
    ``data-test-script-state`` is ``notRunning``, no "Running..." status icon, and no
    DOM mutation (outside the status widget) for ``quiet_ms``. Raises Playwright's
    ``TimeoutError`` after ``timeout_ms``.
    """
    if not page.evaluate("() => !!window.__clab"):
        install_instrument(page)
    page.wait_for_function(IDLE_JS, arg=quiet_ms, polling=50, timeout=timeout_ms)


def wait_for_page_usable(page, min_sliders: int = 1, min_charts: int = 1,
                         quiet_ms: int = 300, timeout_ms: int = WAIT_LIMIT_MS) -> float:
    """Wait until the page is idle with >= ``min_sliders`` sliders and >= ``min_charts``
    drawn Plotly charts. Returns the page time (``performance.now()``, ms) of the last
    counted DOM mutation, i.e. when the page became usable."""
    if not page.evaluate("() => !!window.__clab"):
        install_instrument(page)
    handle = page.wait_for_function(
        USABLE_JS, arg=[quiet_ms, min_sliders, min_charts, SEL_SLIDER],
        polling=50, timeout=timeout_ms,
    )
    return float(handle.json_value())


def assert_no_exception(page) -> None:
    """Assert the page shows no Streamlit exception box and no "Traceback" text."""
    n_exc = page.locator(SEL_EXCEPTION).count()
    if n_exc:
        texts = page.locator(SEL_EXCEPTION).all_inner_texts()
        raise AssertionError(f"{n_exc} stException element(s) on the page:\n" + "\n".join(texts))
    tb = page.get_by_text("Traceback")
    n_tb = tb.count()
    if n_tb:
        raise AssertionError(f"'Traceback' appears on the page: {tb.first.inner_text()[:2000]}")


def new_instrumented_page(browser, viewport=None, device_scale_factor=1):
    """A fresh context + page with the probe installed before any page script."""
    context = browser.new_context(viewport=viewport or VIEWPORT, device_scale_factor=device_scale_factor)
    context.add_init_script(INSTRUMENT_JS)
    return context, context.new_page()


# 150 % browser zoom on a 1280x720 projector: 853x480 CSS pixels at device scale 1.5.
PROJECTOR_VIEWPORT = {"width": 853, "height": 480}
PROJECTOR_SCALE = 1.5


def new_projector_page(browser):
    """new_instrumented_page as a projector shows it (1280x720 at 150 % zoom)."""
    return new_instrumented_page(browser, PROJECTOR_VIEWPORT, PROJECTOR_SCALE)


# --------------------------------------------------------------- redraw timing

# Done once: a keydown was seen; after it, the script state went to "running" or a
# Plotly chart changed (a rerun coalesced by React might never show "running"); the
# script is not running any more and the page is quiet. Returns ms relative to the
# keydown, or null while not done.
REDRAW_DONE_JS = r"""
([quiet, nStatesBefore]) => {
  const S = window.__clab;
  if (!S || S.keyT === null) return null;
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return null;
  if (document.querySelector('[data-testid="stStatusWidgetRunningIcon"]')) return null;
  if (performance.now() - S.last < quiet) return null;
  const after = S.states.slice(nStatesBefore).filter(([t]) => t >= S.keyT);
  const run = after.find(([, s]) => s === 'running');
  const chartChanged = S.chartLast > S.keyT;
  if (!run && !chartChanged) return null;
  const end = after.filter(([, s]) => s === 'notRunning').pop();
  return {
    last: S.last - S.keyT,
    chartLast: chartChanged ? S.chartLast - S.keyT : null,
    runStart: run ? run[0] - S.keyT : null,
    runEnd: end ? end[0] - S.keyT : null,
  };
}
"""

DIAG_JS = r"""
() => {
  const S = window.__clab || {};
  const app = document.querySelector('[data-testid="stApp"]');
  const a = document.activeElement;
  return {
    now: performance.now(), keyT: S.keyT, key: S.key, last: S.last, chartLast: S.chartLast,
    states: (S.states || []).slice(-4),
    scriptState: app && app.getAttribute('data-test-script-state'),
    connection: app && app.getAttribute('data-test-connection-state'),
    runningIcon: !!document.querySelector('[data-testid="stStatusWidgetRunningIcon"]'),
    activeElement: a ? a.outerHTML.slice(0, 160) : null,
  };
}
"""


def sliders(page):
    """Locator of the page's sliders, in document order."""
    return page.locator(SEL_SLIDER)


def focus_slider(page, index: int = 0) -> None:
    sliders(page).nth(index).focus()


def slider_value(page, index: int = 0) -> str | None:
    """The slider's current value as text (input value, else aria-valuetext/-now)."""
    return sliders(page).nth(index).evaluate(
        """(e) => (e.tagName === 'INPUT' ? e.value : null)
                  ?? e.getAttribute('aria-valuetext') ?? e.getAttribute('aria-valuenow')"""
    )


def timed_key_redraw(page, key: str, slider_index: int = 0, quiet_ms: int = 300,
                     settle_ms: int = 0, timeout_ms: int = WAIT_LIMIT_MS) -> dict:
    """Press ``key`` on a slider and wait until the rerun's redraw is over.

    Focuses slider ``slider_index`` (waiting for idle after focusing) unless it already
    has the focus, presses ``key`` and waits until: the script ran (or a chart
    changed), the script is not running, no "Running..." icon, and no counted DOM
    mutation for ``quiet_ms``. With ``settle_ms`` it then waits that much longer and
    takes the last mutation seen by then (so a redraw that paused longer than
    ``quiet_ms`` is still counted; ``late`` tells whether that happened).

    Returns ms relative to the keydown (``performance.now()`` of the page, taken in a
    capture-phase listener before any handler): ``last`` (last counted DOM mutation:
    the redraw latency), ``chartLast`` (last mutation inside a Plotly chart),
    ``runStart``/``runEnd`` (script-state transitions as shown in the DOM), ``late``.
    Raises ``TimeoutError`` with the page's state after ``timeout_ms``.
    """
    from playwright.sync_api import TimeoutError as PWTimeout

    slider = sliders(page).nth(slider_index)
    if not slider.evaluate("(e) => e === document.activeElement"):
        slider.focus()
        wait_for_app_idle(page, quiet_ms=quiet_ms, timeout_ms=timeout_ms)
    n_states = page.evaluate(
        "() => { window.__clab.keyT = null; return window.__clab.states.length; }"
    )
    page.keyboard.press(key)
    try:
        result = page.wait_for_function(
            REDRAW_DONE_JS, arg=[quiet_ms, n_states], polling=50, timeout=timeout_ms
        ).json_value()
    except PWTimeout:
        raise TimeoutError(
            f"no finished redraw {timeout_ms} ms after pressing {key!r} on slider "
            f"{slider_index}: {page.evaluate(DIAG_JS)}"
        ) from None
    result["late"] = False
    if settle_ms > 0:
        page.wait_for_timeout(settle_ms)
        last = page.evaluate("() => window.__clab.last - window.__clab.keyT")
        if last > result["last"] + 0.5:
            result["last"], result["late"] = last, True
    return result


def chart_signatures(page) -> list[str]:
    """One string per Plotly chart on the page: the SVG paths of its traces.

    Changes whenever a chart's drawn data changes (used to check charts redraw).
    """
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map((p) =>
              Array.from(p.querySelectorAll('g.trace path'))
                .map((e) => e.getAttribute('d') || '').join('|'))"""
    )


def page_time_to_epoch(page, t_ms: float) -> float:
    """Convert a page ``performance.now()`` value (ms) to epoch seconds."""
    origin = page.evaluate("() => performance.timeOrigin")
    return (origin + t_ms) / 1000.0
