"""Compression Lab backend: pruning, quantization and distillation on real PyTorch models.

Plain Python + PyTorch; never imports streamlit, so every number a page shows can be
reproduced from this package or its CLI (`python -m compression`).

Importing the package pins the CPU kernels' code path (below) before torch runs its first
operation, so that training gives the same bytes on any x86-64 CPU with AVX2.
"""
import os

# The same float program gives different last bits on different CPUs because each library
# picks the widest vector unit it finds, and a wider unit sums in another order:
# - MKL (torch's BLAS in the 2.14 wheels: every Linear's matrix product) dispatches AVX-512
#   or AMX kernels on newer Xeons. Intel's Conditional Numerical Reproducibility
#   (MKL_CBWR=AVX2; STRICT also makes gemm independent of array alignment) fixes one code
#   path on every CPU that has it.
# - ATen's own vectorized kernels (sums in the loss, softmax, the optimizer's updates) pick
#   AVX-512 the same way; ATEN_CPU_CAPABILITY=avx2 fixes theirs.
# - oneDNN (Conv2d) is capped at the same instruction set by ONEDNN_MAX_CPU_ISA.
# All three are read once, when the library first runs, hence here rather than in train.py;
# setdefault leaves a user's own choice alone. Cost on an AVX-512 machine: a few per cent on
# these small models. With one thread (train.deterministic) the shipped checkpoints are
# rebuilt bit for bit (tests/test_train.py).
REPRODUCIBLE_ENV = {"MKL_CBWR": "AVX2,STRICT", "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
for _name, _value in REPRODUCIBLE_ENV.items():
    os.environ.setdefault(_name, _value)
