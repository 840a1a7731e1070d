"""SmoothQuant: migrate activation outliers into the weights for W8A8 (Xiao et al. 2023, arXiv:2211.10438).

A few input channels of a layer carry much larger activations than the rest, so one
per-tensor activation scale wastes most levels on them. SmoothQuant divides each input
channel j by s_j = max|X_j|^α / max|W_j|^(1−α) and multiplies the weights' column j by it:
Y = (X diag(s)⁻¹)(diag(s) W), the same function, with flatter activations and the difficulty
moved to the weights by the migration strength α (0.5 in the paper for most models).

Simulated here on a model the caller owns, with forward pre-hooks around the activation
quantizer: x → x/s → quantized → ·s, the weights stored as Q(W·diag(s))·diag(s)⁻¹. Without the
hooks (the timed and exported model) the layer computes Q(W·diag(s))·diag(s)⁻¹ x, exactly what
the smoothed model computes before activation quantization. A conv's s is per input channel.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from compression import calibration
from compression.layers import Layer, LayerKind, compressible
from compression.quantizers import float16_scale

EPS = 1e-5


def _per_channel(v: Tensor, layer: Layer) -> Tensor:
    """A per-feature maximum (features,) as one value per input channel (a conv's over its kernel positions)."""
    if layer.kind is LayerKind.CONV:
        return v.reshape(layer.weight.shape[1], -1).amax(1)
    return v


def activation_max(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
    """{layer: max |x_j| per input channel} on calibration images x."""
    layers = compressible(model)
    return {n: _per_channel(m, layers[n])
            for n, m in calibration.input_stats(model, x, lambda m: m.abs().amax(1)).items()}


def weight_max(layer: Layer) -> Tensor:
    """max |W_:,j| per input channel (over output rows, and a conv's kernel positions)."""
    w = layer.weight.detach()
    return w.abs().amax(0).reshape(w.shape[1], -1).amax(1) if w.dim() > 2 else w.abs().amax(0)


def scales(act_max: Tensor, w_max: Tensor, alpha: float) -> Tensor:
    """s_j = max|X_j|^α / max|W_j|^(1−α) (Xiao et al. 2023, eq. 4); 1 where a channel is all zero."""
    s = act_max.clamp_min(EPS) ** alpha / w_max.clamp_min(EPS) ** (1 - alpha)
    return torch.where((act_max > 0) & (w_max > 0), s, torch.ones_like(s))


def _shape(layer: Layer, s: Tensor) -> Tensor:
    """s shaped to broadcast over the layer's input: (C, 1, 1) for a conv's (N, C, H, W), (in,) for a Linear."""
    return s.reshape(-1, 1, 1) if layer.kind is LayerKind.CONV else s


def _scale_input(s: Tensor, divide: bool):
    def hook(module: nn.Module, args: tuple) -> tuple:
        return (args[0] / s if divide else args[0] * s, *args[1:])
    return hook


def migrate(model: nn.Module, x: Tensor, alpha: float) -> dict[str, Tensor]:
    """Smooth every supported layer of `model` in place (W ← W·diag(s), input ← x / s); {layer: s}.

    The model computes the same function; call `finish` after the weights and activations are quantized.
    """
    acts = activation_max(model, x)
    layers = compressible(model)
    out = {}
    for name, a in acts.items():
        layer = layers[name]
        s = float16_scale(scales(a, weight_max(layer), alpha))  # as the file stores it (Codec.column_scales)
        with torch.no_grad():
            w = layer.weight
            w.mul_(s.reshape(1, -1, *[1] * (w.dim() - 2)))
        layer.module.register_forward_pre_hook(_scale_input(_shape(layer, s), divide=True))
        out[name] = s
    return out


def finish(model: nn.Module, smoothed: dict[str, Tensor]) -> None:
    """After quantization: weights ← Ŵ·diag(s)⁻¹ and a last pre-hook input ← input·s, so the hooks
    compute Ŵ·Q(x/s) and the model without hooks Ŵ·diag(s)⁻¹ x."""
    layers = compressible(model)
    for name, s in smoothed.items():
        layer = layers[name]
        with torch.no_grad():
            w = layer.weight
            w.div_(s.reshape(1, -1, *[1] * (w.dim() - 2)))
        layer.module.register_forward_pre_hook(_scale_input(_shape(layer, s), divide=False))


def outliers(model: nn.Module, x: Tensor, alpha: float) -> dict[str, Any]:
    """Per layer and input channel, max |x| and max |w| before and after smoothing at α (the view's data)."""
    layers = compressible(model)
    out: dict[str, Any] = {"alpha": alpha, "layers": {}}
    for name, a in activation_max(model, x).items():
        w = weight_max(layers[name])
        s = scales(a, w, alpha)
        out["layers"][name] = {"act_before": a.tolist(), "act_after": (a / s).tolist(),
                               "weight_before": w.tolist(), "weight_after": (w * s).tolist()}
    return out
