"""Where compression hurts, layer by layer: the views behind Explore's "Layer by layer" section.

- Output error of every layer between the float and the compressed model on calibration
  images (training split): SQNR (10 log10 ‖y‖² / ‖y − ŷ‖², dB) and cosine of the layer's output,
  both "alone" (only this layer compressed, its inputs the float model's) and "accumulated"
  (the whole compressed model, so earlier layers' errors arrive with the input).
- Activation ranges (a histogram of each layer's inputs on calibration images) and per-output-
  channel weight ranges (min and max of each row).
- Cost per inference beside the usual counts: BitOps (MACs × weight bits × activation bits, the
  measure of Zhou et al. 2016 DoReFa / Baskin et al.'s UNIQ, arXiv:1804.10969) beside MACs, and
  peak activation memory (the largest input + output of one layer, at the activation bits)
  beside weight memory.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from compression import measure
from compression.layers import LayerKind, compressible, private
from compression.report import Report

HIST_BINS = 40


def _outputs(model: nn.Module, x: Tensor, names: list[str]) -> tuple[dict[str, Tensor], dict[str, tuple]]:
    """Each named layer's output and its positional inputs on one forward pass of x (hooks on a copy)."""
    model = private(model)
    layers = compressible(model)
    outs: dict[str, Tensor] = {}
    ins: dict[str, tuple] = {}
    handles = []
    for n in names:
        m = layers[n].module
        handles.append(m.register_forward_pre_hook(lambda mod, a, n=n: ins.__setitem__(n, tuple(t.detach() for t in a))))
        handles.append(m.register_forward_hook(lambda mod, a, o, n=n: outs.__setitem__(n, o.detach())))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return outs, ins


def sqnr_db(y: Tensor, y_hat: Tensor) -> float | None:
    """10 log10(‖y‖² / ‖y − ŷ‖²); None when ŷ = y (no error)."""
    noise = float(((y.double() - y_hat.double()) ** 2).sum())
    return None if noise == 0 else 10 * math.log10(max(float((y.double() ** 2).sum()), 1e-300) / noise)


def cosine(y: Tensor, y_hat: Tensor) -> float:
    a, b = y.double().flatten(), y_hat.double().flatten()
    denom = float(a.norm() * b.norm())
    return float(a @ b) / denom if denom else 1.0


def output_errors(base: nn.Module, compressed: nn.Module, x: Tensor) -> dict[str, Any]:
    """{layers, alone: {sqnr_db, cosine}, accumulated: {sqnr_db, cosine}} on calibration images x.

    `compressed` is compress()'s model (hooks included: its activation quantization counts);
    neither model is modified. Attention's in-projection has no output of its own: left out.
    """
    names = [n for n, layer in compressible(base).items() if layer.kind is not LayerKind.ATTENTION]
    ref, ref_in = _outputs(base, x, names)
    acc, _ = _outputs(compressed, x, names)
    layers = compressible(compressed)
    out: dict[str, Any] = {"layers": names, "alone": {"sqnr_db": [], "cosine": []},
                           "accumulated": {"sqnr_db": [], "cosine": []}}
    for n in names:
        with torch.no_grad():
            alone = layers[n].module(*ref_in[n])  # this layer compressed, the float model's input
        for key, y_hat in (("alone", alone), ("accumulated", acc[n])):
            out[key]["sqnr_db"].append(sqnr_db(ref[n], y_hat))
            out[key]["cosine"].append(cosine(ref[n], y_hat))
    return out


def activation_ranges(model: nn.Module, x: Tensor, bins: int = HIST_BINS) -> dict[str, dict[str, Any]]:
    """{layer: {edges, counts, min, max}}: a histogram of the layer's inputs on calibration images."""
    names = [n for n, layer in compressible(model).items() if layer.kind is not LayerKind.ATTENTION]
    _, ins = _outputs(model, x, names)
    out = {}
    for n in names:
        v = ins[n][0].double().flatten().numpy()
        counts, edges = np.histogram(v, bins=bins)
        out[n] = {"edges": edges.tolist(), "counts": counts.tolist(), "min": float(v.min()), "max": float(v.max())}
    return out


def weight_ranges(model: nn.Module) -> dict[str, dict[str, list[float]]]:
    """{layer: {min, max}} of every output channel (row) of its weights."""
    out = {}
    for n, layer in compressible(model).items():
        rows = layer.weight.detach().reshape(layer.weight.shape[0], -1)
        out[n] = {"min": rows.amin(1).tolist(), "max": rows.amax(1).tolist()}
    return out


def costs(report: Report, shapes: list[measure.LayerShape]) -> dict[str, Any]:
    """MACs and BitOps per layer, and peak activation memory beside weight memory (bytes, one image).

    BitOps = effective MACs × weight bits × activation bits (32 for float); the peak activation
    memory is the largest input + output of one layer at the activation bits.
    """
    act_bits = int(report.config.get("act_bits", 32))
    by_name = {s.name: s for s in shapes}
    rows: list[dict[str, Any]] = []
    for layer in report.layers:
        shape = by_name.get(layer.name)
        act = (shape.in_elems + shape.out_elems) * act_bits / 8 if shape else 0.0
        rows.append({"name": layer.name, "macs": layer.macs_effective,
                     "bitops": layer.macs_effective * layer.bits * act_bits,
                     "bitops_float": layer.macs * 32 * 32, "activation_bytes": act,
                     "weight_bytes": layer.size_bits["total"] / 8})
    return {"layers": rows, "macs": sum(r["macs"] for r in rows), "bitops": sum(r["bitops"] for r in rows),
            "bitops_float": sum(r["bitops_float"] for r in rows),
            "peak_activation_bytes": max((r["activation_bytes"] for r in rows), default=0.0),
            "weight_bytes": report.size_bytes["compressed"], "act_bits": act_bits}


def views(model: nn.Module, ds: Any, config: Any, layer_plan: Any = None) -> dict[str, Any]:
    """Everything the "Layer by layer" views draw for (model, config), on calibration images (training split).

    {errors (output_errors), activations (activation_ranges), weights (weight_ranges of the
    compressed model), outliers (SmoothQuant's per-channel maxima at its α, 0.5 when off), shapes}.
    """
    from compression import apply, calibration, smoothquant  # deferred: apply reads the plan, which is heavy
    compressed, _, _ = apply.compress(model, ds, config, layer_plan=layer_plan, codes=False)
    x = calibration.batch(ds, len(ds.x_calib) or calibration.N_IMAGES)
    return {"errors": output_errors(model, compressed, x),
            "activations": activation_ranges(model, x),
            "weights": weight_ranges(compressed),
            "outliers": smoothquant.outliers(model, x, config.smooth_alpha or 0.5),
            "shapes": measure.layer_shapes(model, tuple(ds.input_shape))}
