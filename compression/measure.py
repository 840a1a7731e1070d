"""Measurements: accuracy with its confidence interval, parameters, MACs, sizes, latency."""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass

import torch
from torch import nn

from compression.models import layers


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 2048) -> float:
    """Fraction of correct top-1 predictions (one forward per batch; no DataLoader)."""
    model.eval()
    correct = sum(int((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum())
                  for i in range(0, len(x), batch_size))
    return correct / len(x)


def wilson_interval(p: float, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval for a proportion: honest near 0 and 1, unlike p ± z·se."""
    if n == 0:
        return (0.0, 1.0)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class LayerShape:
    """What a layer costs per inference: dense MACs and the activations it reads and writes."""
    name: str
    kind: str            # "linear" or "conv"
    weight_shape: tuple[int, ...]
    macs: int            # dense multiply-accumulates for one input sample
    in_elems: int        # input activations read, one sample
    out_elems: int       # output activations written, one sample
    fan_in: int          # weights summed into each output (sets accumulator width)


@torch.no_grad()
def layer_shapes(model: nn.Module, input_shape: tuple[int, ...]) -> list[LayerShape]:
    """Trace one sample through the model to count each layer's dense MACs."""
    found: list[LayerShape] = []

    def hook(name: str):
        def record(module: nn.Module, inputs, output) -> None:
            w = module.weight
            fan_in = w[0].numel()  # in_features, or in_channels/groups * kh * kw
            found.append(LayerShape(name, "conv" if isinstance(module, nn.Conv2d) else "linear",
                                    tuple(w.shape), output.numel() * fan_in, inputs[0].numel(),
                                    output.numel(), fan_in))
        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in layers(model).items()]
    try:
        model(torch.zeros(1, *input_shape))
    finally:
        for h in handles:
            h.remove()
    return found


def count_params(model: nn.Module) -> tuple[int, int]:
    """(total, non-zero) parameter counts, read from the actual tensors."""
    total = sum(p.numel() for p in model.parameters())
    nonzero = sum(int(torch.count_nonzero(p)) for p in model.parameters())
    return total, nonzero


@torch.no_grad()
def latency_ms(model: nn.Module, x: torch.Tensor, repeats: int = 30, warmup: int = 5) -> float:
    """Median wall-clock time of one forward pass, in milliseconds (measured, not modelled)."""
    model.eval()
    for _ in range(warmup):
        model(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3
