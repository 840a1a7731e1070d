"""Size, energy, histograms and quantization grids of a compressed model: the numbers a Report counts."""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from compression import (
    energy,
    measure,
)
from compression.config import CompressionConfig
from compression.layers import Layer
from compression.quantizers import Quantized
from compression.report import Report

HIST_BINS = 150  # binned on the server: raw weights never go to the browser


def _bias_numel(layer: Layer) -> int:
    return layer.bias.numel() if layer.bias is not None else 0


def _zeros_from_rounding(compressed: dict[str, Layer], masks: dict[str, torch.Tensor]) -> float:
    """Fraction of the weights pruning kept that quantization rounded to exactly zero."""
    kept = zeros = 0
    for name, layer in compressed.items():
        w = layer.weight.detach()
        keep = masks.get(name + ".weight", torch.ones_like(w, dtype=torch.bool))
        kept += int(keep.sum())
        zeros += int(((w == 0) & keep).sum())
    return zeros / kept if kept else 0.0


def energy_curve(report: Report, sizes_kb: list[float] | None = None) -> list[dict[str, Any]]:
    """Energy of the compressed and the fp32 model as the assumed on-chip size varies.

    One point per size (default 1 KB .. 16 MB): the cliff where a model's weights no longer
    fit and move to DRAM shows as a step; the report's own sram_kb is the capacity line.
    """
    a = report.energy_assumptions
    p = energy.profile(report.energy_profile)
    sizes = sizes_kb or energy.sram_sizes_kb()
    ours = energy.vs_sram(p, report.energy_pj["compute"], a["weight_bits"], a["activation_bits"], sizes)
    base = energy.vs_sram(p, report.energy_baseline_pj["compute"], a["baseline_weight_bits"],
                          a["baseline_activation_bits"], sizes)
    return [{"sram_kb": o["sram_kb"], "compressed_pj": o["total"], "baseline_pj": b["total"],
             "weights_in": o["weights_in"], "baseline_weights_in": b["weights_in"],
             "ratio": b["total"] / o["total"]} for o, b in zip(ours, base)]


def _baseline_energy(shapes: list[measure.LayerShape], profile: energy.Profile,
                     fp32_bits: int) -> dict[str, float]:
    """The uncompressed float model on dense hardware: what the reduction factor divides."""
    on_chip = energy.weights_on_chip(profile, fp32_bits / 8)
    compute = sum(s.macs * energy.mac_pj(profile, 32, 32, s.fan_in) for s in shapes)
    weight_bits = fp32_bits  # every parameter read once at 32 bits
    act_bits = sum((s.in_elems + s.out_elems) * 32 for s in shapes)
    memory = energy.memory_pj(profile, weight_bits, act_bits, on_chip)
    return {"compute": compute, "memory": memory, "total": compute + memory}


def _energy_totals(profile: energy.Profile, compute_pj: float, weight_bits: float, activation_bits: float,
                   on_chip: bool) -> dict[str, float]:
    """Compute and memory energy of one inference from the model's totals (as _baseline_energy prices its own)."""
    memory = energy.memory_pj(profile, weight_bits, activation_bits, on_chip)
    return {"compute": compute_pj, "memory": memory, "total": compute_pj + memory}


def _histograms(w0: torch.Tensor, w: torch.Tensor) -> dict[str, Any]:
    """Non-zero weights before and after, on shared bins; zeros counted apart (the spike)."""
    lo, hi = float(w0.min()), float(w0.max())
    if hi <= lo:
        hi = lo + 1e-8
    edges = torch.linspace(lo, hi, HIST_BINS + 1)

    def counts(t: torch.Tensor) -> list[int]:
        nz = t[t != 0].clamp(lo, hi)
        return torch.histc(nz, HIST_BINS, lo, hi).long().tolist()

    return {"edges": edges.tolist(), "original": counts(w0), "compressed": counts(w),
            "zeros_original": int((w0 == 0).sum()), "zeros_compressed": int((w == 0).sum())}


def _levels(w: torch.Tensor, config: CompressionConfig, quant: Quantized | None) -> list[float]:
    """The values compressed weights may take, drawn as lines over the histogram (≤ 64)."""
    if quant is None or quant.bits > 6:
        return []
    levels = quant.codec.levels()
    # one grid per channel: too many lines to read
    return sorted(levels.tolist()) if levels.dim() == 1 else []


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _no_error() -> dict[str, float]:
    return {"mse": 0.0, "sqnr_db": math.inf, "max_abs": 0.0}
