"""GPTQ: post-training quantization with second-order error compensation (Frantar et al. 2022, arXiv:2210.17323).

Each layer's weights are quantized one input column at a time; the rounding error of a column
is spread over the columns not yet quantized by the inverse Hessian of the layer's squared
output error, H = 2 X Xᵀ over calibration inputs X (the Optimal Brain Surgeon update,
Hassibi & Stork 1993). As in the paper: H is dampened by 1 % of its mean diagonal, the
updates use the upper Cholesky factor of H⁻¹ (numerically stable), columns are processed in
lazy blocks of 128, and act-order (columns by decreasing diag(H)) is optional. Layers are
quantized in module order, each on the inputs the already-quantized earlier layers produce.

The grid is whatever the quantizer record builds: GPTQ asks the record for the levels of each
row's grid (from the weights of the grid's group when its first column is reached) and rounds
each column to the nearest level, so uniform, k-means, powers of two, ternary and every new
format run through the same code, without a branch on the quantizer's name.
"""
from __future__ import annotations

import torch
from torch import Tensor

from compression.quantizers import Codec, Quantized, Quantizer

BLOCK = 128       # lazy batch size (the paper's B = 128)
DAMP = 0.01       # dampening: 1 % of the mean diagonal of H


def hessian(x: Tensor) -> Tensor:
    """H = 2 X Xᵀ / n of an input matrix (features, samples), float64."""
    x = x.double()
    return 2 * x @ x.T / max(1, x.shape[1])


def row_levels(record: Quantizer, w: Tensor, bits: int, scheme: str, per_channel: bool) -> Tensor:
    """(rows, k): the values each row of `w` can take on the record's grid built from `w` itself."""
    side = record.kernel(w.float(), bits, scheme, per_channel and record.channelwise)[1]
    codec = Codec(record.name, record.code_bits(bits), scheme, per_channel and record.channelwise,
                  w.shape[0], side.detach().float().flatten())
    levels = codec.levels().double()
    return levels.expand(w.shape[0], -1) if levels.dim() == 1 else levels


def nearest(column: Tensor, levels: Tensor) -> Tensor:
    """Each entry of `column` (rows,) rounded to the nearest of its row's levels (rows, k)."""
    return levels.gather(1, (column.unsqueeze(1) - levels).abs().argmin(1, keepdim=True)).squeeze(1)


def quantize_weight(w: Tensor, h: Tensor, record: Quantizer, bits: int, scheme: str = "symmetric",
                    per_channel: bool = False, *, group: int | None = None, mask: Tensor | None = None,
                    act_order: bool = False, block: int = BLOCK, damp: float = DAMP) -> Tensor:
    """GPTQ's quantized weights of one layer (same shape as `w`), given H of its input matrix.

    group: columns sharing one grid per row (its levels computed from the group's current
    weights when its first column is reached); None: one grid per row (per_channel) or for the
    whole tensor, computed from the original weights, exactly the grid rounding-to-nearest uses.
    mask: True = kept; pruned weights stay exactly 0 (their values are compensated like rounding errors).
    """
    shape = w.shape
    W = w.detach().reshape(shape[0], -1).double().clone()
    rows, cols = W.shape
    H = h.double().clone()
    keep = mask.reshape(rows, cols) if mask is not None else torch.ones_like(W, dtype=torch.bool)
    dead = torch.diag(H) == 0           # inputs never active: no information, set to the grid's nearest
    H[dead, dead] = 1
    perm = torch.argsort(torch.diag(H), descending=True) if act_order else torch.arange(cols)
    W, H, keep = W[:, perm], H[perm][:, perm], keep[:, perm]
    H += damp * torch.mean(torch.diag(H)) * torch.eye(cols, dtype=H.dtype)
    U = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)
    # the grid: fixed from the original weights, or per group (static groups under act-order,
    # so a group's columns are the stored format's contiguous columns)
    whole = row_levels(record, w.reshape(rows, cols), bits, scheme, per_channel) if group is None else None
    static = {}
    if group is not None and act_order:
        orig = w.detach().reshape(rows, cols)
        static = {g: row_levels(record, orig[:, g:g + group], bits, scheme, True) for g in range(0, cols, group)}
    levels = whole
    Q = torch.zeros_like(W)
    for i1 in range(0, cols, block):
        i2 = min(i1 + block, cols)
        W1, E1, U1 = W[:, i1:i2].clone(), torch.zeros(rows, i2 - i1, dtype=W.dtype), U[i1:i2, i1:i2]
        for i in range(i2 - i1):
            col = int(perm[i1 + i])
            if group is not None:
                if act_order:
                    levels = static[col - col % group]
                elif (i1 + i) % group == 0:   # a group's first column: its grid from its current weights
                    current = torch.cat([W1[:, i:], W[:, i2:]], dim=1)[:, :group]
                    levels = row_levels(record, current.float(), bits, scheme, True)
            assert levels is not None
            q = torch.where(keep[:, i1 + i], nearest(W1[:, i], levels), torch.zeros((), dtype=W.dtype))
            Q[:, i1 + i] = q
            err = (W1[:, i] - q) / U1[i, i]
            W1[:, i:] -= err.unsqueeze(1) * U1[i, i:].unsqueeze(0)
            E1[:, i] = err
        W[:, i2:] -= E1 @ U[i1:i2, i2:]
    out = torch.empty_like(Q)
    out[:, perm] = Q
    return out.reshape(shape).to(w.dtype)


def quantized_record(record: Quantizer, before: Tensor, w_q: Tensor, bits: int, scheme: str,
                     per_channel: bool) -> Quantized:
    """The `Quantized` of GPTQ weights: the record's codec of the original weights (GPTQ keeps RTN's grid)."""
    per_channel = per_channel and record.channelwise
    side = record.kernel(before.float(), bits, scheme, per_channel)[1]
    codec = Codec(record.name, record.code_bits(bits), scheme, per_channel, before.shape[0],
                  side.detach().float().flatten())
    kept = before != 0
    rows = torch.nonzero(kept.flatten()).flatten() // max(1, before[0].numel())
    used = int(torch.unique(torch.from_numpy(codec.encode(w_q.flatten()[kept.flatten()].float(), rows))).numel())
    return Quantized(codec, before.detach().clone(), used)
