#!/usr/bin/env python3
"""mypy on compression/ against a baseline: fail on a NEW error only.

The backend had 83 type errors when CI started checking it; failing on all of them would block
every change until they are fixed, and ignoring mypy would let new ones in. So the errors of
that day are listed in .ci/mypy-baseline.txt, and CI fails when mypy reports one that is not
there. An entry is the error's text and code without file and line ("Argument 2 to "f" has
incompatible type ...  [arg-type]"): moving code between files (splitting a module) or adding
lines above an error does not make it new, while a new mistake almost always names another
function, variable or type. Fixed errors are reported; `make mypy-baseline` rewrites the list
(do it when an error is fixed, so it cannot come back unnoticed).

Usage: python .ci/mypy_check.py [--update]
"""
from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / ".ci" / "mypy-baseline.txt"
ERROR = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+):(?:\d+:)? error: (?P<text>.*)$")


def run_mypy() -> list[tuple[str, str]]:
    """(location, key) for every error mypy reports on compression/ (config in pyproject.toml)."""
    done = subprocess.run([sys.executable, "-m", "mypy", "compression"], cwd=ROOT, capture_output=True, text=True)
    if done.returncode not in (0, 1) or "error: " not in done.stdout and done.returncode:
        sys.exit(f"mypy did not run (exit {done.returncode}):\n{done.stdout}{done.stderr}")
    out = []
    for line in done.stdout.splitlines():
        m = ERROR.match(line)
        if m:
            out.append((f"{m['path']}:{m['line']}", " ".join(m["text"].split())))
    return out


def read_baseline() -> Counter[str]:
    if not BASELINE.exists():
        return Counter()
    return Counter(line for line in BASELINE.read_text().splitlines() if line.strip() and not line.startswith("#"))


def main(argv: list[str]) -> int:
    errors = run_mypy()
    current = Counter(key for _, key in errors)
    if "--update" in argv:
        BASELINE.write_text("# mypy errors on compression/ accepted for now (.ci/mypy_check.py); one per line, "
                            "text and code without file and line. Shrink it, never grow it.\n"
                            + "".join(f"{key}\n" for key in sorted(current.elements())))
        print(f"mypy baseline: {sum(current.values())} errors written to {BASELINE.relative_to(ROOT)}")
        return 0
    baseline = read_baseline()
    new = current - baseline
    fixed = baseline - current
    if fixed:
        print(f"mypy: {sum(fixed.values())} baseline error(s) fixed; run `make mypy-baseline` to drop them:")
        for key in sorted(fixed.elements()):
            print(f"  fixed: {key}")
    if new:
        print(f"mypy: {sum(new.values())} new error(s) (not in {BASELINE.relative_to(ROOT)}):")
        left = Counter(new)
        for where, key in errors:
            if left[key] > 0 and current[key] - baseline[key] > 0:
                print(f"  {where}: error: {key}")
                left[key] -= 1
        return 1
    print(f"mypy: {sum(current.values())} errors, none new (baseline {sum(baseline.values())})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
