"""Freed memory handed back to the system: glibc's threshold for large blocks, set once per process.

glibc's malloc serves a block below its mmap threshold from the heap, and a freed heap block
stays with the process while any block above it is live. Its threshold starts at 128 kB and
rises (up to 32 MB on 64-bit) each time a larger mmapped block is freed (mallopt(3), "M_MMAP_THRESHOLD"),
so after a few forward passes a language model's activations and logits (1–32 MB each) all
came from the heap: SmolLM2's evaluation kept 1.1 GB it had freed (RSS 2.33 GB after its
reference forward, 1.21 GB after malloc_trim), and peaked at 3.05 GB. A fixed threshold of
4 MB returns every such block on free: peak 2.31 GB, 5 % slower (benchmarks/llm.py; 1 MB:
2.16 GB, 2x slower from page faults).

A process-wide setting, so only the processes that evaluate call it: the CLI, each server
worker, the server itself when it has none (ui.backend.offload), a benchmark's child.
Elsewhere (another libc, another OS) it does nothing.
"""
from __future__ import annotations

import ctypes
import functools
import sys

M_MMAP_THRESHOLD = -3          # mallopt's parameter number (glibc's malloc.h)
MMAP_THRESHOLD = 4 * 2 ** 20   # bytes: blocks at least this large are mmapped, returned on free


@functools.cache  # once per process: a server without workers calls it before every backend call
def return_large_blocks(threshold: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at `threshold` bytes; False where the C library has no mallopt."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    mallopt = getattr(libc, "mallopt", None)
    return bool(mallopt(M_MMAP_THRESHOLD, threshold)) if mallopt is not None else False
