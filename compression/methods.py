"""One record per post-training rounding method: how a layer's weights are put on the quantizer's grid.

`rtn` rounds each weight to its nearest level (the quantizer record's kernel); `gptq` and `awq`
are calibrated on training images (compression.calibration). Every method runs on every
quantizer record: the record builds the grid, the method decides which level each weight takes.
Layers are processed in module order, each on the inputs the already-quantized earlier layers
produce (GPTQ's sequential scheme, Frantar et al. 2022, section 4).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from compression import awq, calibration, gptq
from compression.config import CompressionConfig
from compression.layers import Layer, compressible
from compression.models import Progress
from compression.quantizers import Quantized

# (layer, its weights, input matrix (features, samples), LayerPlan, mask or None) -> (Ŵ, Quantized)
LayerMethod = Callable[[Layer, Tensor, Tensor, object, "Tensor | None"], tuple[Tensor, Quantized]]


@dataclass(frozen=True)
class Method:
    name: str
    label: str
    help: str
    layer: LayerMethod | None  # None: round to nearest, no calibration


def _gptq(layer: Layer, w: Tensor, x: Tensor, lp, mask: Tensor | None) -> tuple[Tensor, Quantized]:
    w_q = gptq.quantize_weight(w, gptq.hessian(x), lp.quantizer, lp.bits, lp.scheme, lp.granularity, mask=mask)
    return w_q, gptq.quantized_record(lp.quantizer, w, w_q, lp.bits, lp.scheme, lp.granularity)


def _awq(layer: Layer, w: Tensor, x: Tensor, lp, mask: Tensor | None) -> tuple[Tensor, Quantized]:
    in_channels = getattr(layer.module, "in_channels", None)
    w_hat, _, s = awq.search(w, x, lp.quantizer, lp.bits, lp.scheme, lp.granularity, in_channels)
    # the codes are those of W·diag(s) on the record's grid; errors are measured against W itself
    _, q = lp.quantizer.quantize(w.reshape(w.shape[0], -1) * s.to(w.dtype), lp.bits, lp.scheme, lp.granularity)
    per_channel = s.reshape(in_channels or s.numel(), -1)[:, 0]  # a conv's taps share their channel's s
    return w_hat, Quantized(q.codec.with_column_scale(per_channel), w.detach().clone(), q.codes_used)


RTN = Method("rtn", "round to nearest", "Each weight to its nearest level of the grid (no calibration).", None)
GPTQ = Method("gptq", "GPTQ",
              "Frantar et al. 2022: columns quantized one by one, each rounding error compensated on the "
              "remaining columns through the inverse Hessian of the layer's output error on calibration inputs.",
              _gptq)
AWQ = Method("awq", "AWQ",
             "Lin et al. 2024: input channels scaled by mean|x|^α before quantization (α searched on 20 "
             "points for the smallest output error), the scale divided back out after.", _awq)
RECORDS: dict[str, Method] = {m.name: m for m in (RTN, GPTQ, AWQ)}


def lookup(name: str) -> Method:
    if name not in RECORDS:
        raise ValueError(f"method must be one of {', '.join(RECORDS)}; got {name!r}")
    return RECORDS[name]


def quantize(model: nn.Module, plan, x: Tensor, method: str,
             masks: dict[str, Tensor] | None = None, progress: Progress | None = None,
             keep_before: bool = True) -> dict[str, Quantized]:
    """Quantize every quantized layer of `model` in place by `method`, on calibration images x.

    plan: compression.plan.Plan. Layers the method cannot write as W @ X (attention's
    in-projection, grouped convs) are rounded to nearest.
    """
    record = lookup(method)
    out: dict[str, Quantized] = {}
    layers = compressible(model)
    layer_inputs = calibration.LayerInputs(model, x)
    for k, (name, layer) in enumerate(layers.items()):
        lp = plan.layers[name]
        if not lp.quantized:
            continue
        if progress is not None:  # a caller's Stop raises from here
            progress(k / len(layers), f"{record.label}: {name}")
        w = layer.weight.detach().clone()
        with torch.no_grad():
            if record.layer is not None and calibration.supported(layer) and len(x):
                xm = layer_inputs(name)
                mask = (masks or {}).get(layer.key)
                if mask is None and bool((w == 0).any()):
                    mask = w != 0
                w_q, out[name] = record.layer(layer, w, xm, lp, mask)
            else:
                w_q, out[name] = lp.quantizer.quantize(w, lp.bits, lp.scheme, lp.granularity)
            layer.weight.copy_(w_q.reshape(w.shape))
        if not keep_before:  # the caller reads no error statistics: drop the copy of the weights now
            out[name] = out[name].without_before()
    return out


COMPARE_BITS = (2, 3, 4)


def compare(model: nn.Module, ds, base: CompressionConfig | None = None, bits: tuple[int, ...] = COMPARE_BITS,
            names: tuple[str, ...] = tuple(RECORDS), progress: Progress | None = None) -> dict[str, Any]:
    """Test accuracy of every method at every bit-width on `model`, each with its paired 95 % interval
    against rounding-to-nearest at the same bits (the same test images, Newcombe's interval).

    base: the rest of the scenario (quantizer, scheme, granularity; its bits and method are replaced).
    Returns {bits, methods, labels, n_test, baseline (float accuracy), accuracy: {method: [..]},
    delta: {method: [..]}, lo, hi, verdict}.
    """
    from compression import apply, measure  # deferred: apply imports this module
    base = (base or CompressionConfig(per_channel=True)).replace(layer_bits=())
    out: dict[str, Any] = {"bits": list(bits), "methods": list(names), "n_test": len(ds.y_test),
                           "labels": {n: lookup(n).label for n in names},
                           **{k: {n: [] for n in names} for k in ("accuracy", "delta", "lo", "hi", "verdict")}}
    steps = len(bits) * len(names)
    out["baseline"] = measure.accuracy(model, ds.x_test, ds.y_test)  # the float model, for scale
    for i, b in enumerate(bits):
        correct = {}
        for j, name in enumerate(names):
            if progress:
                progress((i * len(names) + j) / steps, f"{lookup(name).label} at {b} bits")
            compressed, _, _ = apply.compress(model, ds, base.replace(bits=b, method=name), codes=False)
            correct[name] = (measure.predictions(compressed, ds.x_test) == ds.y_test).tolist()
        for name in names:
            delta, (lo, hi) = measure.paired_delta(correct[name], correct[RTN.name])
            out["accuracy"][name].append(sum(correct[name]) / max(1, len(correct[name])))
            out["delta"][name].append(delta)
            out["lo"][name].append(lo)
            out["hi"][name].append(hi)
            out["verdict"][name].append(measure.noise_verdict(delta, (lo, hi)) if name != RTN.name else "")
    if progress:
        progress(1.0, "done")
    return out
