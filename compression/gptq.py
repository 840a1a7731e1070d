"""GPTQ: post-training quantization with second-order error compensation (Frantar et al. 2022, arXiv:2210.17323).

Each layer's weights are quantized one input column at a time; the rounding error of a column
is spread over the columns not yet quantized by the inverse Hessian of the layer's squared
output error, H = 2 X Xᵀ over calibration inputs X (the Optimal Brain Surgeon update,
Hassibi & Stork 1993). As in the paper: H is dampened by 1 % of its mean diagonal, the
updates use the upper Cholesky factor of H⁻¹ (numerically stable), columns are processed in
lazy blocks of 128, and act-order (columns by decreasing diag(H)) is optional. Layers are
quantized in module order, each on the inputs the already-quantized earlier layers produce.

The grid is whatever the quantizer record builds: GPTQ asks the record for its grid of the
layer (the codec's levels, one set per scale group) and rounds each column to the nearest level
of each weight's group, so uniform per tensor / channel / group, k-means, powers of two, ternary,
NF4, FP8, FP4, MXFP4 and NVFP4 run through the same code, without a branch on the quantizer's name.
"""
from __future__ import annotations

import torch
from torch import Tensor

from compression.quantizers import Codec, Granularity, Quantized, Quantizer

BLOCK = 128       # lazy batch size (the paper's B = 128)
DAMP = 0.01       # dampening: 1 % of the mean diagonal of H


def hessian(x: Tensor) -> Tensor:
    """H = 2 X Xᵀ / n of an input matrix (features, samples), float64."""
    x = x.double()
    return 2 * x @ x.T / max(1, x.shape[1])


def layer_grid(record: Quantizer, w: Tensor, bits: int, scheme: str, granularity: Granularity | bool) -> Codec:
    """The codec of the record's grid built from `w` (rows, columns): the grid every weight is rounded onto."""
    g = record.grain(granularity)
    side = record.kernel(w.float(), bits, scheme, g)[1]
    return Codec(record.name, record.code_bits(bits), scheme, g, w.shape[0], w.shape[1], side.detach().float().flatten())


def position_levels(codec: Codec, rows: int, cols: int) -> tuple[Tensor, Tensor | None]:
    """(levels (groups, k) or (k,), the group of every weight (rows, cols) or None for one shared grid)."""
    levels = codec.levels().double().sort(dim=-1).values  # ascending, for nearest's binary search
    if levels.dim() == 1:
        return levels, None
    return levels, codec.groups(torch.arange(rows * cols)).reshape(rows, cols)


def nearest(column: Tensor, levels: Tensor) -> Tensor:
    """Each entry of `column` (rows,) rounded to the nearest of its row's levels (rows, k) or of
    one shared set (k,), levels ascending; a tie goes to the lower level.

    By binary search, O(rows log k): the distance to every level, (rows, k) per column, took
    most of an 8-bit LM head's time (49,152 rows x 255 levels, for each of 576 columns)."""
    shared = levels.dim() == 1
    k = levels.shape[-1]
    if k == 1:
        return levels[0].expand_as(column) if shared else levels[:, 0]
    if shared:
        hi = torch.searchsorted(levels, column.contiguous()).clamp(1, k - 1)
        below, above = levels[hi - 1], levels[hi]
    else:
        hi = torch.searchsorted(levels, column.unsqueeze(1).contiguous()).clamp(1, k - 1)
        below, above = levels.gather(1, hi - 1).squeeze(1), levels.gather(1, hi).squeeze(1)
    return torch.where(column - below <= above - column, below, above)


def quantize_weight(w: Tensor, h: Tensor, record: Quantizer, bits: int, scheme: str = "symmetric",
                    granularity: Granularity | bool = False, *, mask: Tensor | None = None,
                    act_order: bool = False, block: int = BLOCK, damp: float = DAMP) -> Tensor:
    """GPTQ's quantized weights of one layer (same shape as `w`), given H of its input matrix.

    The grid (every group's scale: per tensor, channel, group of g, a format's own blocks) is
    built once by the record from the weights GPTQ starts from, the reference implementation's
    "static groups": the file stores one grid per layer, and a format with a tensor-wide scale
    (NVFP4) cannot have its group scales chosen piece by piece. It is the grid rounding-to-nearest
    uses, so only the choice of level differs.
    mask: True = kept; pruned weights stay exactly 0 (their values are compensated like rounding errors).
    """
    shape = w.shape
    W = w.detach().reshape(shape[0], -1).double().clone()
    rows, cols = W.shape
    levels, group_of = position_levels(layer_grid(record, w.detach().reshape(rows, cols), bits, scheme, granularity),
                                       rows, cols)
    H = h.double().clone()
    keep = mask.reshape(rows, cols) if mask is not None else torch.ones_like(W, dtype=torch.bool)
    dead = torch.diag(H) == 0           # inputs never active: no information, rounded to nearest
    H[dead, dead] = 1
    perm = torch.argsort(torch.diag(H), descending=True) if act_order else torch.arange(cols)
    W, H, keep = W[:, perm], H[perm][:, perm], keep[:, perm]
    H += damp * torch.mean(torch.diag(H)) * torch.eye(cols, dtype=H.dtype)
    U = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)
    Q = torch.zeros_like(W)
    zero = torch.zeros((), dtype=W.dtype)
    for i1 in range(0, cols, block):
        i2 = min(i1 + block, cols)
        W1, E1, U1 = W[:, i1:i2].clone(), torch.zeros(rows, i2 - i1, dtype=W.dtype), U[i1:i2, i1:i2]
        lv, lv_groups = levels, None  # one shared set, or the rows' sets of the column's groups
        for i in range(i2 - i1):
            col = int(perm[i1 + i])
            if group_of is not None and (lv_groups is None or not torch.equal(lv_groups, group_of[:, col])):
                lv_groups = group_of[:, col]  # columns of one scale group share it: gathered once
                lv = levels[lv_groups]
            q = torch.where(keep[:, i1 + i], nearest(W1[:, i], lv), zero)
            Q[:, i1 + i] = q
            err = (W1[:, i] - q) / U1[i, i]
            W1[:, i:] -= err.unsqueeze(1) * U1[i, i:].unsqueeze(0)
            E1[:, i] = err
        W[:, i2:] -= E1 @ U[i1:i2, i2:]
    out = torch.empty_like(Q)
    out[:, perm] = Q
    return out.reshape(shape).to(w.dtype)


def quantized_record(record: Quantizer, before: Tensor, w_q: Tensor, bits: int, scheme: str,
                     granularity: Granularity | bool) -> Quantized:
    """The `Quantized` of GPTQ weights: the codec of the grid they were rounded onto (layer_grid of `before`)."""
    codec = layer_grid(record, before.detach().reshape(before.shape[0], -1), bits, scheme, granularity)
    kept = (before != 0).flatten()
    positions = torch.nonzero(kept).flatten()
    used = int(torch.unique(torch.from_numpy(codec.encode(w_q.flatten()[kept].float(), positions))).numel())
    return Quantized(codec, before.detach().clone(), used)
