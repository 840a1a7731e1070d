"""Import the heavy libraries once, in one thread, before a server's sessions use them.

A Streamlit server runs every session's script in its own thread. On a fresh server, 8
sessions opening at once imported pandas (pulled in lazily by Streamlit and Plotly) in
several threads together; Python's per-module import locks then break the import cycle
inside pandas by handing one thread the partially initialised module, and pages failed with
"AttributeError: partially initialized module 'pandas' has no attribute 'Series'" (22 of
48 runs in benchmarks/classroom_load.py). Importing them here under one lock, from the top
of app.py, means every later import, lazy or not, finds a finished module.
"""
from __future__ import annotations

import gc
import importlib
import threading

# What the pages and the backend import, at module level or lazily inside functions.
SERVER_MODULES = (
    "numpy", "torch", "pandas", "pyarrow", "plotly.graph_objects", "plotly.io",
    "onnx", "onnxruntime", "onnxruntime.quantization", "onnxruntime.quantization.shape_inference",
    "torch_pruning", "safetensors.torch", "sklearn.model_selection", "torchvision.models",
)

_LOCK = threading.Lock()
_done: set[str] = set()
_frozen: list[bool] = []


def modules(names: tuple[str, ...] = SERVER_MODULES) -> None:
    """Import `names` once per process, one thread at a time; a missing optional one is skipped
    (whoever needs it says so in one sentence)."""
    if _done.issuperset(names):
        return
    with _LOCK:
        for name in names:
            if name in _done:
                continue
            try:
                importlib.import_module(name)
            except ImportError:
                pass
            _done.add(name)


def freeze() -> None:
    """Once per process, after the imports: move every object alive now (the libraries' modules,
    classes, functions: ~470 thousand) out of the cyclic garbage collector's reach (gc.freeze).

    A full collection walked all of them: 0.8-1.2 s with the GIL held, and Streamlit ran one after
    every script run (`runner.postScriptGC`, off in .streamlit/config.toml for that reason), so
    with 30 sessions a fifth of the server's time went to the collector (a profile of
    benchmarks/classroom_load.py). Later objects are collected as before; these live for the
    whole process anyway.
    """
    with _LOCK:
        if _frozen:
            return
        gc.collect()  # what is garbage now is freed, not frozen
        gc.freeze()
        _frozen.append(True)
