"""Theoretical storage size of a compressed layer (Deep Compression, Han et al. 2016).

Per layer the cheapest of three formats is chosen, and named, so the page can say which:
  dense      every weight at b bits
  bitmask    1 bit per weight saying kept/zero, plus the kept values at b bits
  csr-p      kept values at b bits, each with a p-bit *relative* index (distance to the
             previous kept weight); a gap longer than 2**p costs a filler zero entry
plus the codebook or scales and the biases at 32 bits.

With Deep Compression's stage 3 (`huffman_size`) the same layouts store their codes and
relative indices Huffman-coded per layer, code tables counted.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from compression import huffman, quantizers

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


def layer_size(weight: torch.Tensor, bits: int, codebook_bits: int = 0,
               bias_numel: int = 0, zero_code: bool = True) -> LayerSize:
    """The cheapest format for this (already compressed) weight tensor at `bits` per value.

    `zero_code=False` says no b-bit code means zero (binarized weights are only -a or +a):
    then zeros can only be stored through the bitmask, and CSR only where it needs no filler.
    """
    n = weight.numel()
    nnz = int(torch.count_nonzero(weight))
    bias = bias_numel * FLOAT_BITS
    dense = LayerSize("dense", n * bits, 0, codebook_bits, bias)
    if nnz == n:  # nothing to skip: a bitmask or an index only adds bits (and CSR costs a pass per p)
        return dense
    if zero_code and (n - nnz) * (bits + 1) <= n:
        # too few zeros for another layout to win: a bitmask adds n bits and saves (n - nnz)·b,
        # CSR stores at least nnz·(b + 1) bits (RTN's rounded-to-zero weights land here)
        return dense
    options = [LayerSize("bitmask", nnz * bits, n, codebook_bits, bias)]
    if zero_code:
        options.append(dense)
    for p, fillers in csr_fillers(weight).items():
        entries = nnz + fillers
        if zero_code or entries == nnz:
            options.append(LayerSize(f"csr-{p}", entries * bits, entries * p, codebook_bits, bias))
    return min(options, key=lambda s: s.total)


GAP_CHUNK = 2 ** 22  # weights read per step by csr_fillers (their int64 positions: 32 MB at most)


def csr_fillers(weight: torch.Tensor) -> dict[int, int]:
    """{p: filler entries CSR with p-bit relative indices needs}, for p = 1 up to the width that
    needs none (a wider index only costs more; trying every width up to 16 was most of the time
    of sizing a layer). A gap of g - 1 >= 2**p needs (g - 1) >> p fillers.

    Read GAP_CHUNK weights at a time: at once, SmolLM2's LM head's kept positions and gaps
    took 0.6 GB of int64 for a handful of sums."""
    flat = weight.detach().flatten()
    sums, longest, last = [0] * (MAX_INDEX_BITS + 1), 0, -1
    for i in range(0, flat.numel(), GAP_CHUNK):
        positions = torch.nonzero(flat[i:i + GAP_CHUNK]).flatten() + i
        if not len(positions):
            continue  # a gap goes on across slices: `last` stays where it was
        gaps = torch.diff(positions, prepend=torch.tensor([last])) - 1  # stored as distance - 1
        last, widest = int(positions[-1]), int(gaps.max())
        longest = max(longest, widest)
        for p in range(1, min(MAX_INDEX_BITS, max(1, widest.bit_length())) + 1):
            sums[p] += int((gaps >> p).sum())
    return {p: sums[p] for p in range(1, min(MAX_INDEX_BITS, max(1, longest.bit_length())) + 1)}


def csr_positions(nonzero: torch.Tensor, limit: int) -> torch.Tensor:
    """Entry positions: each kept weight, preceded by a filler every `limit` steps of a long gap."""
    gaps = torch.diff(nonzero, prepend=torch.tensor([-1]))
    counts = (gaps - 1) // limit + 1          # fillers + the kept weight itself
    group = torch.repeat_interleave(torch.arange(len(nonzero)), counts)
    first = torch.cumsum(counts, 0) - counts
    step = torch.arange(int(counts.sum())) - first[group] + 1
    positions = (nonzero - gaps)[group] + limit * step
    positions[torch.cumsum(counts, 0) - 1] = nonzero  # the last of each group is the weight
    return positions


def entries(weight: torch.Tensor, fmt: str) -> int:
    """Stored weight entries of a layout: every weight (dense), kept ones, or kept + CSR fillers."""
    if fmt.startswith("dense"):
        return weight.numel()
    if fmt.startswith("bitmask"):
        return int(torch.count_nonzero(weight))
    nnz = int(torch.count_nonzero(weight))
    return nnz + csr_fillers(weight).get(int(fmt.split("-")[1]), 0)


def huffman_streams(codes: np.ndarray, nonzero: torch.Tensor, fmt: str
                    ) -> tuple[torch.Tensor, np.ndarray, np.ndarray | None]:
    """(entry positions, their codes, gaps - 1 or None) of a `*-huffman` layout of one layer.

    `codes`: every weight's code (flattened). Fillers of a CSR gap take the code of the zero
    they stand on, so a per-channel grid with a different zero code per row still decodes.
    """
    if fmt == "dense-huffman":
        return torch.arange(len(codes)), codes, None
    if fmt == "bitmask-huffman":
        return nonzero, codes[nonzero.numpy()], None
    positions = csr_positions(nonzero, 2 ** int(fmt.split("-")[1]))
    gaps = torch.diff(positions, prepend=torch.tensor([-1])).numpy() - 1
    return positions, codes[positions.numpy()], gaps


def huffman_size(weight: torch.Tensor, codes: np.ndarray, codebook_bits: int = 0, bias_numel: int = 0,
                 zero_code: bool = True, plain: LayerSize | None = None) -> LayerSize:
    """The cheapest layout with codes and relative indices Huffman-coded (Han et al. 2016, §4).

    Same layouts as `layer_size` (dense, bitmask, relative-index CSR with fillers), but the
    codes and the CSR gaps are each Huffman-coded, their code tables counted; a bitmask stays
    1 bit per weight. `codes`: each weight's non-negative integer code, flattened. Formats end
    in "-huffman". Given `plain` (the fixed-width layout), a small layer whose code tables
    outweigh the saving keeps it, as a DEFLATE encoder stores a block uncoded (RFC 1951
    §3.2.4): coding never makes a layer larger.
    """
    flat_codes = np.asarray(codes).ravel()
    nonzero = torch.nonzero(weight.flatten()).flatten()
    n, nnz, bias = flat_codes.size, len(nonzero), bias_numel * FLOAT_BITS
    is_zero = (weight.flatten() == 0).numpy()
    zeros = np.flatnonzero(np.bincount(flat_codes[is_zero])) if is_zero.any() else np.zeros(0, np.int64)
    # minlength: room for the zero's code, which CSR fillers add to the kept codes' histogram
    kept_hist = np.bincount(flat_codes[nonzero.numpy()], minlength=int(zeros.max(initial=0)) + 1)
    options = [LayerSize("bitmask-huffman", _hist_bits(kept_hist), n, codebook_bits, bias)]
    if zero_code or nnz == n:
        options.append(LayerSize("dense-huffman", _hist_bits(np.bincount(flat_codes)), 0, codebook_bits, bias))
    gaps = relative_gaps(weight).numpy() - 1  # stored as distance - 1
    # Above the width that needs no filler every p gives the same two streams: stop there.
    widest = max(1, int(gaps.max()).bit_length()) if nnz else 1
    for p in range(1, min(MAX_INDEX_BITS, widest) + 1):
        limit = 1 << p
        fillers = int((gaps // limit).sum())
        if fillers and not zero_code:
            continue
        fmt = f"csr-{p}-huffman"
        if fillers and len(zeros) > 1:  # zero codes differ by row: count the fillers' own codes
            _, values, index = huffman_streams(flat_codes, nonzero, fmt)
            assert index is not None  # a CSR layout has gaps
            value_bits, index_bits = huffman.coded_bits(values), huffman.coded_bits(index)
        else:
            # A long gap becomes `gap // limit` fillers, each the zero's code with the largest
            # gap (limit - 1), then the kept weight with gap % limit: histograms, no streams.
            value_hist = kept_hist.copy()
            if fillers:
                value_hist[zeros[0]] += fillers
            gap_hist = np.bincount(gaps % limit, minlength=limit)
            gap_hist[limit - 1] += fillers
            value_bits, index_bits = _hist_bits(value_hist), _hist_bits(gap_hist)
        options.append(LayerSize(fmt, value_bits, index_bits, codebook_bits, bias))
    return min([*options, *([plain] if plain else [])], key=lambda s: s.total)


def _hist_bits(hist: np.ndarray) -> int:
    """Huffman-coded bits, table counted, of a sequence given as counts per symbol 0, 1, ..."""
    symbols = np.flatnonzero(hist)
    return huffman.histogram_bits(symbols, hist[symbols])


def codebook_bits(bits: int, quantizer: str, scheme: str, per_channel: bool | quantizers.Granularity,
                  channels: int, centroids: int | None = None, columns: int = 1) -> int:
    """Side information a quantized layer needs to be decoded: the quantizer record's cost.

    k-means stores the table it actually has: `centroids` entries (default 2**bits; fewer
    when the layer has fewer distinct kept weights, as at 12 or 16 bits). A grid with scales
    stores one per group (`columns`: weights per row, for groups along the input).
    """
    record = quantizers.resolve(quantizer, bits)
    code_bits = record.code_bits(bits)
    g = record.grain(per_channel)
    if record is quantizers.KMEANS:
        entries = 2**code_bits if centroids is None else centroids
    else:  # the side values the kernel itself produces on a weight of this shape
        entries = record.kernel(torch.ones(channels, columns), bits, scheme, g)[1].numel()
    side = torch.zeros(entries)
    return quantizers.Codec(record.name, code_bits, scheme, g, channels, columns, side).side_bits


def bits_per_weight(codec: quantizers.Codec) -> float:
    """Code bits plus side information per weight, as stored dense: INT4 g128, fp16 scales = 4.125."""
    return codec.bits_per_weight
