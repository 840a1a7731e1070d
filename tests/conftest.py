"""What every test shares: one torch thread, a cache and history of its own, the common fixtures.

- One thread. These models are tiny: on a 2-core machine shared with other work, intra-op
  threads only contend (the slowest test took 138 s with the default threads, 15 s with one).
  The variables are set before torch loads, so subprocesses (the CLI, Streamlit servers)
  inherit them too.
- Isolation. `COMPRESSION_LAB_CACHE` points at a fresh folder for the session (what
  module-scoped fixtures and the browser tests' servers write), and at a folder of each
  test's own while it runs (its history.sqlite, uploads, models trained on first use), so
  a test run never writes into the user's ~/.cache/compression-lab and no test sees
  another's history.
- Fixtures: `digits` (module scope: the mlp-digits model and the digits data, copied in four
  files before), `cache` (this test's cache folder, a Path).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"
_SESSION_CACHE = Path(tempfile.mkdtemp(prefix="compression-lab-tests-"))
os.environ["COMPRESSION_LAB_CACHE"] = str(_SESSION_CACHE)

import pytest  # noqa: E402
import torch  # noqa: E402

import compression  # noqa: E402,F401  (pins the CPU kernels' code path before torch loads)

torch.set_num_threads(1)


def pytest_unconfigure(config):
    shutil.rmtree(_SESSION_CACHE, ignore_errors=True)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    """This test's own cache folder ($COMPRESSION_LAB_CACHE): its history.sqlite lives here."""
    root = tmp_path / "cache"
    monkeypatch.setenv("COMPRESSION_LAB_CACHE", str(root))
    return root


@pytest.fixture(scope="module")
def digits():
    """The shipped mlp-digits model (a fresh copy per module: tests may modify it) and the digits data."""
    from compression import data, models
    return models.load("mlp-digits"), data.load("digits")
