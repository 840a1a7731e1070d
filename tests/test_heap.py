"""compression.heap: freed large blocks go back to the system (the OS's resident set is the reference)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# In a fresh interpreter: free one 16 MB block (glibc raises its dynamic mmap threshold to 16 MB),
# then allocate 40 blocks of 8 MB, each with a small one after it, free the 40 and read how
# much of the 320 MB the process still holds.
RETAINED = textwrap.dedent("""
    import sys
    import torch
    from compression import heap
    if sys.argv[1] == "fixed":
        assert heap.return_large_blocks()
    def rss():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) * 1024
    big = torch.ones(4 * 2 ** 20)                    # 16 MB, mmapped, then freed
    del big
    before = rss()
    blocks, pins = [], []
    for _ in range(40):                              # 8 MB blocks, each followed by a small one
        blocks.append(torch.ones(2 * 2 ** 20))
        pins.append(torch.ones(1000))
    del blocks
    print((rss() - before) / 2 ** 20)
""")


def _retained_mb(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", RETAINED, mode], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    return float(out.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_fixed_threshold_returns_freed_blocks_the_dynamic_one_keeps():
    assert _retained_mb("dynamic") > 250   # glibc's default: the 320 MB stay with the process
    assert _retained_mb("fixed") < 40      # 4 MB threshold: each 8 MB block is unmapped on free
