"""The number formats side by side on one layer: what Explore's and the report's format views
draw, and the CLI's bits-per-weight table.

`grids` gives the levels INT4, NF4, FP4 and MXFP4 can represent in the group holding the
layer's largest |w| (so each grid spans that group's range, to scale over the layer's
histogram), and in the median group (the grid most weights see: finer with smaller groups).
`outlier_groups` gives, at a group size, the row around the largest |w|: each
group's INT4 grid, so one outlier stretching its own group's grid is seen beside its
neighbours'. Every grid comes from the quantizer records themselves (their codecs' levels).
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from compression import quantize, quantizers
from compression.layers import compressible
from compression.quantizers import PER_CHANNEL, PER_TENSOR, Granularity, PerGroup

VIEW = ("uniform", "nf4", "fp4-e2m1", "mxfp4")  # INT4, NF4, FP4, MXFP4
HIST_BINS = 120
WINDOW_GROUPS = 2  # groups shown on each side of the outlier's


def model_weights(model: nn.Module) -> list[Tensor]:
    return [layer.weight.detach().float() for layer in compressible(model).values()]


def weight(model: nn.Module, layer: str) -> Tensor:
    """A compressible layer's weight as (rows, inputs) float32, kernel taps flattened into the row."""
    layers = compressible(model)
    if layer not in layers:
        raise ValueError(f"layer '{layer}' is not a compressible layer of this model: its layers are "
                         f"{', '.join(layers)}")
    w = layers[layer].weight.detach().float()
    return w.reshape(w.shape[0], -1)


def _label(name: str, g: Granularity) -> str:
    record = quantizers.lookup(name)
    return "INT4" if record is quantizers.UNIFORM else record.label


def _histogram(w: Tensor, bins: int = HIST_BINS) -> dict[str, list]:
    top = float(w.abs().max()) or 1.0
    counts, edges = torch.histogram(w.flatten(), bins=bins, range=(-top, top))
    return {"edges": edges.tolist(), "counts": [int(c) for c in counts.tolist()]}


def _group_of_max(codec: quantizers.Codec, w: Tensor) -> int:
    position = int(w.abs().flatten().argmax())
    return int(codec.groups(torch.tensor([position]))[0])


def grids(w: Tensor, group_size: int = 128, names: tuple[str, ...] = VIEW) -> dict[str, Any]:
    """Each format's levels in the group holding the largest |w|, over the layer's histogram.

    INT4 (symmetric) and FP4 run groups of `group_size`; NF4 and MXFP4 their own blocks (64, 32).
    """
    out = []
    for name in names:
        record = quantizers.lookup(name)
        w_q, q = record.quantize(w, 4, "symmetric", PerGroup(group_size))
        levels = typical = q.codec.levels()
        if levels.dim() == 2:
            # the median group by its top level (its scale): what most weights see
            typical = levels[levels.amax(1).argsort()[len(levels) // 2]]
            levels = levels[_group_of_max(q.codec, w)]
        stats = quantize.error_stats(w, w_q)
        out.append({"name": name, "label": _label(name, q.codec.granularity),
                    "granularity": q.codec.granularity.label, "levels": sorted(set(levels.tolist())),
                    "typical_levels": sorted(set(typical.tolist())),
                    "bits_per_weight": q.codec.bits_per_weight, "sqnr_db": stats["sqnr_db"],
                    "scale_dtype": record.scale_dtype})
    return {"hist": _histogram(w), "max_abs": float(w.abs().max()), "group_size": group_size, "formats": out}


def outlier_groups(w: Tensor, group_size: int, bits: int = 4) -> dict[str, Any]:
    """The row holding the largest |w|, its groups of `group_size` around it, and each group's INT-b grid.

    A group's step (its scale) is max|w| of the group / (2**(b-1) - 1): the outlier's group
    steps far wider than a typical one, and its other weights fall on few levels (many on 0).
    """
    g = PerGroup(group_size)
    w_q, q = quantizers.UNIFORM.quantize(w, bits, "symmetric", g)
    rows, cols = w.shape
    row, col = divmod(int(w.abs().flatten().argmax()), cols)
    per_row = math.ceil(cols / group_size)
    k = col // group_size
    scales = q.codec.side  # one float16 scale per group, row-major
    groups = []
    for j in range(max(0, k - WINDOW_GROUPS), min(per_row, k + WINDOW_GROUPS + 1)):
        start, end = j * group_size, min(cols, (j + 1) * group_size)
        s = float(scales[row * per_row + j])
        vals, rounded = w[row, start:end], w_q[row, start:end]
        used = sorted(set(rounded.tolist()))
        groups.append({"start": start, "end": end, "outlier": j == k, "step": s,
                       "levels": [s * c for c in range(-(2 ** (bits - 1) - 1), 2 ** (bits - 1))],
                       "values": vals.tolist(), "levels_used": len(used),
                       "zeros": int(((rounded == 0) & (vals != 0)).sum())})
    outlier = next(gr for gr in groups if gr["outlier"])
    return {"row": row, "column": col, "value": float(w[row, col]), "group_size": group_size, "bits": bits,
            "groups": groups, "outlier_step": outlier["step"], "median_step": float(scales.median()),
            "sqnr_db": quantize.error_stats(w, w_q)["sqnr_db"], "bits_per_weight": q.codec.bits_per_weight}


# The CLI's table: each format at its granularities, bits per weight including scales.
TABLE: tuple[tuple[str, int, str, Granularity], ...] = (
    ("uniform", 8, "symmetric", PER_CHANNEL),
    ("uniform", 4, "symmetric", PER_TENSOR),
    ("uniform", 4, "symmetric", PER_CHANNEL),
    *(("uniform", 4, "symmetric", PerGroup(n)) for n in (128, 64, 32, 16)),
    ("uniform", 4, "asymmetric", PerGroup(128)),
    ("nf4", 4, "symmetric", PER_TENSOR),
    ("fp8-e4m3", 8, "symmetric", PER_CHANNEL),
    ("fp8-e5m2", 8, "symmetric", PER_CHANNEL),
    ("fp4-e2m1", 4, "symmetric", PerGroup(32)),
    ("mxfp4", 4, "symmetric", PER_TENSOR),
    ("nvfp4", 4, "symmetric", PER_TENSOR),
)


def table(ws: list[Tensor]) -> list[dict[str, Any]]:
    """Bits per weight including scales (and zero points) over weights `ws`, and the weight SQNR,
    for every row of TABLE: the hand arithmetic (4.125, 4.25, 4.5) on real shapes."""
    rows = []
    for name, bits, scheme, grain in TABLE:
        record = quantizers.lookup(name)
        code = side = 0
        dtypes: dict[str, None] = {}
        signal = noise = 0.0
        g = grain
        for w in ws:
            w_q, q = record.quantize(w, bits, scheme, grain)
            g = q.codec.granularity
            code += q.codec.bits * w.numel()
            side += q.codec.side_bits
            dtypes.update(dict.fromkeys(dtype for _, dtype in q.codec.side_layout))
            signal += float((w.double() ** 2).sum())
            noise += float(((w_q.double() - w.double()) ** 2).sum())
        label = f"INT{bits}" + (" asym" if scheme == "asymmetric" else "") if record is quantizers.UNIFORM \
            else record.label
        rows.append({"format": label, "quantizer": name, "granularity": g.label, "scales": " + ".join(dtypes),
                     "bits_per_weight": (code + side) / sum(w.numel() for w in ws),
                     "sqnr_db": 10 * math.log10(signal / noise) if noise else math.inf})
    return rows
