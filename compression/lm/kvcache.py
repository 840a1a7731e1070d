"""The key/value cache: its memory at a context length and batch, and its quantization.

A decoder keeps every past token's keys and values, per block: memory grows with context x
batch while the weights do not. Quantized as llama.cpp's `--cache-type-k/v q8_0 | q4_0` do:
groups of 32 consecutive values of one head vector (or the largest divisor of the head size below 32), symmetric, one float16 scale each, so
bits + 16/32 bits per value; 16 is the float16 cache.

The models name what they cache (`kv_projections()`: each projection, the slices of its output
that are K and V, the head size). Here K is quantized as the projection writes it, before the
rotary embedding (llama.cpp caches it after): the rotation is orthogonal per pair of values, so
the error per head vector is the same; the grouping differs slightly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

BITS = (16, 8, 4)
GROUP = 32
SCALE_BITS = 16


def group_of(head_dim: int) -> int:
    """Values per scale: GROUP, or the largest divisor of the head size below it (36 -> 18)."""
    return max(g for g in range(1, min(GROUP, head_dim) + 1) if head_dim % g == 0)


def bits_per_value(bits: int, head_dim: int) -> float:
    return float(bits) if bits >= 16 else bits + SCALE_BITS / group_of(head_dim)


def _cached(model: nn.Module) -> list[tuple[int, int]]:
    """(values per token, head size) of every cached slice."""
    return [(len(range(proj.out_features)[s]), head_dim)
            for proj, slices, head_dim in model.kv_projections() for s in slices]  # type: ignore[operator]


def values_per_token(model: nn.Module) -> int:
    """Cached values per token: every block's K and V widths."""
    return sum(n for n, _ in _cached(model))


@dataclass(frozen=True)
class Memory:
    bits: int
    context: int
    batch: int
    bytes: float          # at `bits`
    bytes_fp16: float     # the float16 cache, for scale

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def memory(model: nn.Module, bits: int, context: int, batch: int = 1) -> Memory:
    tokens = context * batch
    return Memory(bits, context, batch, sum(n * tokens * bits_per_value(bits, hd) for n, hd in _cached(model)) / 8,
                  values_per_token(model) * tokens * 16 / 8)


def fake_quantize(v: torch.Tensor, bits: int, head_dim: int) -> torch.Tensor:
    """Values (..., heads * head_dim) through the cache's format: groups of GROUP along each head
    vector, symmetric absmax scale (float16), integer codes in [-(2^(b-1) - 1), 2^(b-1) - 1]."""
    if bits >= 16:
        return v.to(torch.float16).to(v.dtype)
    group = group_of(head_dim)
    shape = v.shape
    g = v.reshape(*shape[:-1], shape[-1] // group, group)
    qmax = 2 ** (bits - 1) - 1
    scale = (g.abs().amax(dim=-1, keepdim=True) / qmax).to(torch.float16).to(v.dtype).clamp_min(1e-12)
    return ((g / scale).round().clamp(-qmax, qmax) * scale).reshape(shape)


def install(model: nn.Module, bits: int) -> list[torch.utils.hooks.RemovableHandle]:
    """Forward hooks on the model's K/V projections that pass their cached outputs through the
    cache's format (a model the caller owns: compression.layers.private)."""
    if bits not in BITS:
        raise ValueError(f"KV-cache bits must be one of {', '.join(map(str, BITS))}; got {bits}")
    handles = []
    for proj, slices, head_dim in model.kv_projections():  # type: ignore[operator]
        def hook(module: nn.Module, args: tuple, out: torch.Tensor, slices=slices, head_dim=head_dim) -> torch.Tensor:
            out = out.clone()
            for s in slices:
                out[..., s] = fake_quantize(out[..., s], bits, head_dim)
            return out
        handles.append(proj.register_forward_hook(hook))
    return handles
