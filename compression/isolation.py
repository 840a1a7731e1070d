"""Torch's process-wide state, used by one caller's work without reaching another's.

The classroom server runs many sessions' evaluations in threads of one process, and some of
PyTorch's state is per process, not per thread: the default random generator, the intra-op
thread count, the deterministic-algorithms flag and the TorchScript ONNX exporter's globals
(`torch.onnx`'s GLOBALS: opset, export mode, the symbolic registry in use). One session's
`torch.manual_seed` while another exported to ONNX showed up as a `KeyError: 'custom'` on
a page (2 of 180 runs with 30 sessions). The rule in `compression/`:

- randomness draws from a local `torch.Generator` (see `generator`); only what cannot take
  one (a module's initialisation, dropout while training) uses the global generator, inside
  `seeded`, which holds a process-wide lock and restores the generator afterwards;
- the thread count and the deterministic flag are changed only through `one_thread`, which
  counts its users so concurrent callers neither undo each other nor leave the setting changed;
- `torch.onnx.export` runs under `onnx_export`'s lock (it mutates module globals while it runs).

grad mode (`torch.no_grad`, `set_grad_enabled`) is thread-local in PyTorch and needs nothing.
The locks are the only global state here; they guard PyTorch's.
"""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import torch
from torch import nn

_RNG_LOCK = threading.RLock()      # re-entrant: a seeded build may call another seeded build
_EXPORT_LOCK = threading.RLock()   # the TorchScript exporter may fall back to the dynamo one inside it
_PIN_LOCK = threading.Lock()
_pins = {"users": 0, "threads": 1, "strict_users": 0, "strict": False}

# Modules whose forward pass draws from the global generator while training.
STOCHASTIC = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
              nn.FeatureAlphaDropout, nn.RReLU)


def generator(seed: int) -> torch.Generator:
    """A private CPU generator: reproducible from `seed`, and nobody else's draws move it."""
    return torch.Generator().manual_seed(int(seed))


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """The global generator seeded with `seed` inside, as it was after; one caller at a time.

    Only for code that cannot be given a generator (nn.Module initialisers, dropout).
    `torch.default_generator.manual_seed`, not `torch.manual_seed`: the latter also seeds
    every accelerator backend and the private-use device, state this code never draws from.
    """
    with _RNG_LOCK, torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(int(seed))
        yield


def stochastic(model: nn.Module) -> bool:
    """Whether training `model` draws from the global generator (it holds a dropout-like module)."""
    return any(isinstance(m, STOCHASTIC) for m in model.modules())


@contextlib.contextmanager
def one_thread(deterministic: bool = False) -> Iterator[None]:
    """One intra-op thread inside (and PyTorch's deterministic kernels if asked); the setting
    before the first of any concurrent users is back once the last one leaves."""
    with _PIN_LOCK:
        if _pins["users"] == 0:
            _pins["threads"] = torch.get_num_threads()
            if _pins["threads"] != 1:
                torch.set_num_threads(1)
        _pins["users"] += 1
        if deterministic:
            if _pins["strict_users"] == 0:
                _pins["strict"] = torch.are_deterministic_algorithms_enabled()
                torch.use_deterministic_algorithms(True)
            _pins["strict_users"] += 1
    try:
        yield
    finally:
        with _PIN_LOCK:
            if deterministic:
                _pins["strict_users"] -= 1
                if _pins["strict_users"] == 0:
                    torch.use_deterministic_algorithms(bool(_pins["strict"]))
            _pins["users"] -= 1
            if _pins["users"] == 0 and torch.get_num_threads() != _pins["threads"]:
                torch.set_num_threads(int(_pins["threads"]))


@contextlib.contextmanager
def onnx_export() -> Iterator[None]:
    """Hold while calling torch.onnx.export: it sets module-level globals (opset, export mode,
    the symbolic registry) for the duration of the call and resets them after, so two exports
    at once, or a seeding in between, see each other's. An export of these models takes ~0.1 s."""
    with _EXPORT_LOCK:
        yield
