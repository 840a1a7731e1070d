"""Theoretical storage size of a compressed layer (Deep Compression, Han et al. 2016).

Per layer the cheapest of three formats is chosen, and named, so the page can say which:
  dense      every weight at b bits
  bitmask    1 bit per weight saying kept/zero, plus the kept values at b bits
  csr-p      kept values at b bits, each with a p-bit *relative* index (distance to the
             previous kept weight); a gap longer than 2**p costs a filler zero entry
plus the codebook or scales and the biases at 32 bits.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from compression import quantizers

FLOAT_BITS = 32
MAX_INDEX_BITS = 16


@dataclass(frozen=True)
class LayerSize:
    format: str     # "dense", "bitmask" or "csr-<p>"
    values: int     # bits of stored weight values (including filler zeros)
    indices: int    # bits of the bitmask or relative indices
    codebook: int   # bits of k-means centroids or quantization scales/zero points
    bias: int       # bits of biases (always 32 each)

    @property
    def total(self) -> int:
        return self.values + self.indices + self.codebook + self.bias


def relative_gaps(weight: torch.Tensor) -> torch.Tensor:
    """Distance from each kept weight to the previous one (flattened order; first from -1)."""
    positions = torch.nonzero(weight.flatten()).flatten()
    return torch.diff(positions, prepend=torch.tensor([-1]))


def csr_entries(gaps: torch.Tensor, index_bits: int) -> int:
    """Stored entries (kept weights + filler zeros) with p-bit relative indices."""
    return int(gaps.numel() + ((gaps - 1) // 2**index_bits).sum())


def layer_size(weight: torch.Tensor, bits: int, codebook_bits: int = 0,
               bias_numel: int = 0, zero_code: bool = True) -> LayerSize:
    """The cheapest format for this (already compressed) weight tensor at `bits` per value.

    `zero_code=False` says no b-bit code means zero (binarized weights are only -a or +a):
    then zeros can only be stored through the bitmask, and CSR only where it needs no filler.
    """
    n = weight.numel()
    nnz = int(torch.count_nonzero(weight))
    bias = bias_numel * FLOAT_BITS
    options = [LayerSize("bitmask", nnz * bits, n, codebook_bits, bias)]
    if zero_code or nnz == n:
        options.append(LayerSize("dense", n * bits, 0, codebook_bits, bias))
    gaps = relative_gaps(weight)
    for p in range(1, MAX_INDEX_BITS + 1):
        entries = csr_entries(gaps, p)
        if zero_code or entries == nnz:
            options.append(LayerSize(f"csr-{p}", entries * bits, entries * p, codebook_bits, bias))
    return min(options, key=lambda s: s.total)


def codebook_bits(bits: int, quantizer: str, scheme: str, per_channel: bool, channels: int,
                  centroids: int | None = None) -> int:
    """Side information a quantized layer needs to be decoded: the quantizer record's cost.

    k-means stores the table it actually has: `centroids` entries (default 2**bits; fewer
    when the layer has fewer distinct kept weights, as at 12 or 16 bits).
    """
    record = quantizers.resolve(quantizer, bits)
    code_bits = record.code_bits(bits)
    return record.side_bits(code_bits, scheme, per_channel and record.channelwise, channels,
                            2**code_bits if centroids is None else centroids)


def sharing_ratio(n: int, bits: int, k: int) -> float:
    """Deep Compression eq. 1: r = n*b / (n*log2(k) + k*b) for n weights shared into k values."""
    return n * bits / (n * math.log2(k) + k * bits)
