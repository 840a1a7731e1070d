"""The suite's own settings (tests/conftest.py): one torch thread, and no test writes the user's cache or history."""
import os
from pathlib import Path

import torch

from compression import history, loading, models


def test_one_torch_thread_in_the_tests_and_their_subprocesses():
    assert torch.get_num_threads() == 1 and os.environ["OMP_NUM_THREADS"] == "1"


def test_each_test_has_its_own_cache_and_history(cache, tmp_path):
    user = Path.home() / ".cache" / "compression-lab"
    assert cache == tmp_path / "cache" and os.environ["COMPRESSION_LAB_CACHE"] == str(cache)
    for path in (history.default_path(), models.cache_dir(), loading.uploads_dir()):
        assert cache in path.parents and user not in path.parents, path
