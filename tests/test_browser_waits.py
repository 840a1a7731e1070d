"""The browser tests wait on the app's state, never for a fixed time, and give up only after generous limits.

A fixed wait is either too short on a loaded machine (a Trade-offs test failed on Playwright's
default 5 s `expect` under load) or wasted on an idle one. This reads the browser tests' sources.
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import browserlib  # noqa: E402

BROWSER_TESTS = sorted((ROOT / "tests" / "browser").glob("*.py"))
FIXED_WAIT = re.compile(r"wait_for_timeout\(|time\.sleep\(|\bsleep\(")
LITERAL_LIMIT = re.compile(r"timeout(_ms)?\s*=\s*[0-9]")


def test_browser_tests_have_no_fixed_waits_or_literal_limits():
    found = [f"{p.name}:{i}: {line.strip()}" for p in BROWSER_TESTS
             for i, line in enumerate(p.read_text().splitlines(), 1)
             if FIXED_WAIT.search(line) or LITERAL_LIMIT.search(line)]
    assert found == [], "\n".join(found)


def test_browserlib_waits_are_condition_waits_with_generous_limits():
    source = (ROOT / "benchmarks" / "browserlib.py").read_text()
    # Two timed pauses remain, neither a wait for the app: polling the health URL between tries,
    # and the latency benchmark's optional settle time (timed_key_redraw(settle_ms=0) by default).
    assert len(FIXED_WAIT.findall(source)) == 2
    assert re.search(r"def timed_key_redraw\([^)]*settle_ms: int = 0", source)
    assert browserlib.WAIT_LIMIT_MS >= 180_000 and browserlib.SERVER_START_S >= 180
    assert not LITERAL_LIMIT.search(source.replace("timeout=1.0", "")), "limits come from WAIT_LIMIT_MS"


def test_the_browser_conftest_raises_playwrights_default_limits():
    conftest = (ROOT / "tests" / "browser" / "conftest.py").read_text()
    assert "expect.set_options(timeout=browserlib.WAIT_LIMIT_MS)" in conftest
    assert "set_default_timeout(browserlib.WAIT_LIMIT_MS)" in conftest
