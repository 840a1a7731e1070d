"""What calibrated methods see of a layer: its inputs on calibration images, as a matrix.

GPTQ, AWQ, SmoothQuant, Wanda and SparseGPT all read a layer's inputs X (features x samples):
a Linear's input rows, a Conv2d's input patches (im2col via `F.unfold`, in the same order as
`weight.flatten(1)`), so that the layer's output is W @ X for both. The images are the data
set's calibration slice, drawn from its training split (compression.data), never the test split.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from compression import data
from compression.layers import Layer, LayerKind, compressible, private

# Calibration images of the calibrated methods. GPTQ's H has rank at most the number of
# samples: with fewer samples than inputs (784 for LeNet-300-100) it fits the calibration
# images and generalises worse, so it reads more than the 128 activation-range images.
N_IMAGES = 1024


def batch(ds: data.Dataset, n: int = N_IMAGES) -> Tensor:
    """The first n training images (the calibration slice when the training split is empty).

    Training images only: the test split judges the result and must not shape it. An
    upload's "training split" is its calibration rows, a sample of its own test file.
    """
    return ds.x_train[:n] if len(ds.x_train) else ds.x_calib[:n]


def supported(layer: Layer) -> bool:
    """Whether the layer's output is weight.flatten(1) @ input matrix: Linear, and Conv2d with one group.

    Attention's packed in-projection and grouped / depthwise convolutions are rounded to nearest instead.
    """
    m = layer.module
    if layer.kind is LayerKind.LINEAR:
        return True
    return (layer.kind is LayerKind.CONV and isinstance(m, nn.Conv2d) and m.groups == 1
            and m.padding_mode == "zeros" and not isinstance(m.padding, str))


def as_matrix(layer: Layer, x: Tensor) -> Tensor:
    """The layer's input as (features, samples): W.flatten(1) @ it is the layer's output before bias."""
    m = layer.module
    if layer.kind is LayerKind.CONV:
        assert isinstance(m, nn.Conv2d)
        cols = F.unfold(x, m.kernel_size, dilation=m.dilation, padding=m.padding,  # type: ignore[arg-type]
                        stride=m.stride)  # (N, C*kh*kw, L)
        return cols.transpose(0, 1).reshape(cols.shape[1], -1)
    return x.reshape(-1, x.shape[-1]).T


@contextmanager
def capture(model: nn.Module, names: list[str]) -> Iterator[dict[str, Tensor]]:
    """Inside the block, every forward of `model` stores each named layer's input matrix (the last call's)."""
    layers = compressible(model)
    out: dict[str, Tensor] = {}
    handles = []
    for name in names:
        layer = layers[name]

        def hook(module: nn.Module, args: tuple, layer: Layer = layer) -> None:
            if args:
                out[layer.name] = as_matrix(layer, args[0].detach())
        handles.append(layer.module.register_forward_pre_hook(hook))
    try:
        yield out
    finally:
        for h in handles:
            h.remove()


def inputs(model: nn.Module, x: Tensor, names: list[str] | None = None) -> dict[str, Tensor]:
    """{layer: input matrix (features, samples)} of the supported layers on one forward pass of x."""
    model = private(model)  # hooks never go on a model that other threads may run
    layers = compressible(model)
    wanted = [n for n in (names if names is not None else list(layers)) if supported(layers[n])]
    with capture(model, wanted) as out, torch.no_grad():
        model(x)
    return {n: out[n] for n in wanted if n in out}


def reconstruction_error(w: Tensor, w_hat: Tensor, x: Tensor) -> float:
    """||W X - Ŵ X||_F^2 for weights (rows, ...) and an input matrix (features, samples), in float64."""
    diff = (w - w_hat).reshape(w.shape[0], -1).double()
    return float(((diff @ x.double()) ** 2).sum())
