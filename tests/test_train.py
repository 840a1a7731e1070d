"""Training is bit-reproducible: the shipped checkpoints are what `python -m compression train` writes,
on this machine and on any other x86-64 CPU with AVX2 (compression/__init__.py pins the kernels' code path)."""
import os
import platform
import subprocess
import sys
from pathlib import Path

import torch

import compression
from compression import models, train


def _has_avx2() -> bool:
    try:
        return " avx2 " in f" {Path('/proc/cpuinfo').read_text()} ".replace("\n", " ")
    except OSError:
        return False


# On an x86-64 CPU with AVX2 (every x86 server since 2013-2015) MKL's conditional numerical
# reproducibility, ATen's and oneDNN's pinned instruction set give one summation order, so the
# bytes must match. Elsewhere (an older x86, another architecture) the kernels sum in another
# order: each weight then differs in its last bits, and 30 epochs of SGD keep that drift small
# (ATen's plain-C path measured 1.3e-6 here); 1e-4 is a bound with room that still catches a
# change of recipe, seed or data (those move weights by 1e-2 and more).
BIT_EXACT = platform.machine() in ("x86_64", "AMD64") and _has_avx2()
TOLERANCE = 1e-4


def test_rebuilding_a_shipped_checkpoint_gives_the_same_bytes(tmp_path):
    # mlp-small-digits is the cheapest zoo model (a few seconds); the same code path trains the others.
    # Same file name as the shipped one: torch.save writes the name's stem into the archive.
    path = tmp_path / "mlp-small-digits.pt"
    threads = torch.get_num_threads()
    train.train_zoo_model("mlp-small-digits", path=path)
    shipped = models.checkpoint_path("mlp-small-digits")
    if BIT_EXACT:
        assert path.read_bytes() == shipped.read_bytes()
    else:
        ours, theirs = torch.load(path, weights_only=True), torch.load(shipped, weights_only=True)
        assert ours.keys() == theirs.keys()
        for name in ours:
            assert torch.allclose(ours[name], theirs[name], rtol=0, atol=TOLERANCE), name
    assert torch.get_num_threads() == threads  # the caller's thread setting is restored


def test_importing_the_package_pins_the_kernels_code_path_before_torch_runs():
    # A fresh process, as a user's: the variables are set by `import compression` (unless the user
    # set their own), and ATen then reports AVX2 even on an AVX-512 or AMX machine.
    env = {k: v for k, v in os.environ.items() if k not in compression.REPRODUCIBLE_ENV}
    out = subprocess.run([sys.executable, "-c", "import compression, os, torch; torch.ones(2) + 1; "
                          "print(torch.backends.cpu.get_cpu_capability(), os.environ['MKL_CBWR'], "
                          "os.environ['ONEDNN_MAX_CPU_ISA'])"],
                         env=env, capture_output=True, text=True, check=True, timeout=120).stdout.split()
    assert out[1:] == ["AVX2,STRICT", "AVX2"]
    if BIT_EXACT:
        assert out[0] == "AVX2"


def test_deterministic_pins_one_thread_and_restores_the_callers_settings():
    before = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    with train.deterministic():
        assert torch.get_num_threads() == 1 and torch.are_deterministic_algorithms_enabled()
    assert (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()) == before
