"""What calibrated methods see of a layer: its inputs on calibration images, as a matrix.

GPTQ, AWQ, SmoothQuant, Wanda and SparseGPT all read a layer's inputs X (features x samples):
a Linear's input rows, a Conv2d's input patches (im2col via `F.unfold`, in the same order as
`weight.flatten(1)`), so that the layer's output is W @ X for both. The images are the data
set's calibration slice, drawn from its training split (compression.data), never the test split.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol, cast, runtime_checkable

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
def capture(model: nn.Module, names: list[str],
            reduce: Callable[[Tensor], Tensor] | None = None) -> Iterator[dict[str, Tensor]]:
    """Inside the block, every forward of `model` stores each named layer's input matrix (the
    last call's), or `reduce` of it."""
    layers = compressible(model)
    out: dict[str, Tensor] = {}
    handles = []
    for name in names:
        layer = layers[name]

        def hook(module: nn.Module, args: tuple, layer: Layer = layer) -> None:
            if args:
                m = as_matrix(layer, args[0].detach())
                out[layer.name] = reduce(m) if reduce is not None else m
        handles.append(layer.module.register_forward_pre_hook(hook))
    try:
        yield out
    finally:
        for h in handles:
            h.remove()


def inputs(model: nn.Module, x: Tensor, names: list[str] | None = None) -> dict[str, Tensor]:
    """{layer: input matrix (features, samples)} of the supported layers on one forward pass of x."""
    return input_stats(model, x, lambda m: m, names)


def input_stats(model: nn.Module, x: Tensor, reduce: Callable[[Tensor], Tensor],
                names: list[str] | None = None, *, eval_mode: bool = False) -> dict[str, Tensor]:
    """{layer: reduce(its input matrix)} on one forward pass of x, reduced as each layer runs.

    A statistic of the inputs (Wanda's column norms, SmoothQuant's channel maxima) never holds
    every layer's matrix at once: a 135 M-parameter decoder's inputs on 4,096 tokens are 2.4 GB.
    """
    model = private(model)  # hooks never go on a model that other threads may run
    if eval_mode:
        model.eval()
    layers = compressible(model)
    wanted = [n for n in (names if names is not None else list(layers)) if supported(layers[n])]
    with capture(model, wanted, reduce) as out, torch.no_grad():
        model(x)
    return {n: out[n] for n in wanted if n in out}


class _Captured(Exception):
    """Raised by a capture hook once it has its layer's input: the rest of the forward is not needed."""


@runtime_checkable
class Blockwise(Protocol):
    """A model whose forward is a stack of blocks on one hidden state (compression.lm's decoders).

    `block_stack` names the ModuleList of blocks; `block_inputs(x)` is the hidden state entering
    the first block and the extra arguments every block takes (rotary tables); `run_block` runs
    one block. Layer-by-layer methods then run one block per layer, not the whole model.
    """

    def block_stack(self) -> tuple[str, nn.ModuleList]: ...

    def block_inputs(self, x: Tensor) -> tuple[Tensor, tuple]: ...

    def run_block(self, block: nn.Module, hidden: Tensor, extra: tuple) -> Tensor: ...


class LayerInputs:
    """Each layer's input matrix on the model as it is at the call, for methods that compress
    layer after layer in module order, each on the inputs the already-compressed earlier layers
    produce (GPTQ's sequential scheme, Frantar et al. 2022, section 4).

    `model` is the caller's own copy, modified in place between calls: the hooks go on it. A
    generic model runs one forward per layer; a `Blockwise` one keeps the hidden state entering
    the current block, advances it one block at a time (block k's weights are final once a layer
    of block k + 1 is asked for) and stops each capture at its layer. Layers outside the blocks
    (an LM head) run the whole forward.
    """

    def __init__(self, model: nn.Module, x: Tensor) -> None:
        self.model, self.x = model, x
        self.layers = compressible(model)
        self._blockwise = isinstance(model, Blockwise)
        self._at: tuple[int, Tensor, tuple] | None = None  # (block index, hidden entering it, extra)

    def __call__(self, name: str) -> Tensor:
        block = self._block_of(name)
        if block is None:
            return self._whole_forward(name)
        blocks = cast(Blockwise, self.model)
        prefix, stack = blocks.block_stack()
        if self._at is None or self._at[0] > block:
            with torch.no_grad():
                self._at = (0, *blocks.block_inputs(self.x))
        with torch.no_grad():
            while self._at[0] < block:
                i, hidden, extra = self._at
                self._at = (i + 1, blocks.run_block(stack[i], hidden, extra), extra)
        i, hidden, extra = self._at
        return self._first_input(name, lambda: blocks.run_block(stack[i], hidden, extra))

    def _block_of(self, name: str) -> int | None:
        if not self._blockwise:
            return None
        prefix, stack = self.model.block_stack()  # type: ignore[union-attr]
        head, _, rest = name.partition(prefix + ".")
        if head or not rest:
            return None
        index = rest.split(".", 1)[0]
        return int(index) if index.isdigit() and int(index) < len(stack) else None

    def _whole_forward(self, name: str) -> Tensor:
        if not self._blockwise:  # the image models' path, unchanged: a copy per layer
            return inputs(self.model, self.x, [name])[name]
        return self._first_input(name, lambda: self.model(self.x))

    def _first_input(self, name: str, run: Callable[[], object]) -> Tensor:
        """The layer's input matrix on `run`, which is stopped as soon as the layer is reached."""
        layer = self.layers[name]
        out: dict[str, Tensor] = {}

        def hook(module: nn.Module, args: tuple) -> None:
            out[name] = as_matrix(layer, args[0].detach())
            raise _Captured

        handle = layer.module.register_forward_pre_hook(hook)
        try:
            with torch.no_grad():
                run()
        except _Captured:
            pass
        finally:
            handle.remove()
        return out[name]


def reconstruction_error(w: Tensor, w_hat: Tensor, x: Tensor) -> float:
    """||W X - Ŵ X||_F^2 for weights (rows, ...) and an input matrix (features, samples), in float64."""
    diff = (w - w_hat).reshape(w.shape[0], -1).double()
    return float(((diff @ x.double()) ** 2).sum())
