"""Pretrained checkpoints of the zoo (compression.zoo): where they live, loading them, training one on first use."""
from __future__ import annotations

import copy
import functools
import os
from pathlib import Path

import torch
from torch import nn

from compression.layers import Layer, compressible
from compression.zoo import (  # the zoo's names, importable from here as before
    DEFAULT_MODEL,
    ZOO,
    ModelError,
    ModelSpec,
    Progress,
    build,
    lenet5,
    mlp,
    save,
    spec,
)

__all__ = ["ASSETS", "DEFAULT_MODEL", "ZOO", "ModelError", "ModelSpec", "Progress", "build", "cache_dir",
           "checkpoint_path", "ensure", "layers", "lenet5", "load", "mlp", "save", "shared", "spec"]

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "checkpoints"


def cache_dir() -> Path:
    """Where models trained on first use are kept (COMPRESSION_LAB_CACHE overrides)."""
    root = os.environ.get("COMPRESSION_LAB_CACHE") or Path.home() / ".cache" / "compression-lab"
    return Path(root) / "checkpoints"


def checkpoint_path(model_id: str) -> Path:
    return (ASSETS if spec(model_id).shipped else cache_dir()) / f"{model_id}.pt"


def load(model_id: str = DEFAULT_MODEL, data_dir: str | Path | None = None,
         progress: Progress | None = None) -> nn.Module:
    """The pretrained model in eval mode; a fresh copy each call, so callers may modify it."""
    return copy.deepcopy(shared(model_id, data_dir, progress))


def shared(model_id: str = DEFAULT_MODEL, data_dir: str | Path | None = None,
           progress: Progress | None = None) -> nn.Module:
    """The pretrained model in eval mode, shared by every caller of this process: read it, never
    modify it or register hooks on it (compress() works on its own copy). Saves the deep copy
    that load() makes, which is a large part of evaluating a small model."""
    path = ensure(model_id, data_dir, progress)
    return _pretrained(model_id, str(path), path.stat().st_mtime_ns)


def ensure(model_id: str, data_dir: str | Path | None = None, progress: Progress | None = None) -> Path:
    """The checkpoint's path, trained first (with progress) when a model trained on first use has none yet."""
    path = checkpoint_path(model_id)
    if not path.exists():
        if spec(model_id).shipped:
            raise ModelError(f"checkpoint {path} is missing: rebuild it with "
                             f"`python -m compression train --model {model_id}`")
        from compression import train  # deferred: training pulls in the optimizers; train never imports this module
        train.train_zoo_model(model_id, path, data_dir=data_dir, progress=progress)
    return path


@functools.lru_cache(maxsize=8)
def _pretrained(model_id: str, path: str, mtime_ns: int) -> nn.Module:
    # Cached because every evaluate() starts from the same weights; keyed on mtime so a
    # retrained checkpoint is picked up. Never handed out: load() returns deep copies.
    model = build(model_id)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as e:  # corrupt, truncated or from another architecture
        raise ModelError(f"checkpoint {path} cannot be read ({type(e).__name__}): rebuild it "
                         f"with `python -m compression train --model {model_id}`") from None
    return model.eval()


def layers(model: nn.Module) -> dict[str, Layer]:
    """The compressible layers by name, in module order: the one definition (compression.layers)."""
    return compressible(model)
