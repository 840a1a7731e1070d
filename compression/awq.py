"""AWQ: activation-aware weight quantization (Lin et al. 2024, arXiv:2306.00978).

The few input channels with large activations matter most to a layer's output. AWQ scales
each input channel j of the weights by s_j = mean|x_j|^α before quantization, so those
channels get relatively finer levels, and divides the scale back out afterwards:
Ŵ = Q(W·diag(s))·diag(s)⁻¹, the same function form as W (in a deployed model 1/s is folded into
the previous operator). α is searched on a grid of 20 points in [0, 1] for the smallest output
error ‖WX − ŴX‖² on calibration inputs; α = 0 is plain rounding, so the search never loses to it
on those inputs. The quantizer is whatever record the plan chose.
"""
from __future__ import annotations

import torch
from torch import Tensor

from compression import calibration
from compression.quantizers import Granularity, Quantizer, float16_scale

ALPHAS = tuple(float(a) for a in torch.linspace(0, 1, 20))
MAX_SAMPLES = 8192  # input columns the search scores (every k-th): a conv's patches run to 10^5


def channel_scale(x: Tensor, in_channels: int) -> Tensor:
    """mean|x_j| per input channel of an input matrix (features, samples), expanded to the features.

    A conv's features are (channel, kh, kw): its scale is per channel (what a previous layer can
    absorb), the mean over the channel's kernel positions.
    """
    a = x.abs().double().mean(1)
    per = a.reshape(in_channels, -1).mean(1, keepdim=True)
    return per.expand(in_channels, a.numel() // in_channels).reshape(-1)


def search(w: Tensor, x: Tensor, record: Quantizer, bits: int, scheme: str, granularity: Granularity | bool,
           in_channels: int | None = None, alphas: tuple[float, ...] = ALPHAS) -> tuple[Tensor, float, Tensor]:
    """(Ŵ, the chosen α, s) for one layer: the α of the grid with the smallest output error on x."""
    flat = w.detach().reshape(w.shape[0], -1).float()
    x = x[:, ::max(1, x.shape[1] // MAX_SAMPLES)].float()
    a = channel_scale(x, in_channels or flat.shape[1]).float().clamp_min(1e-8)
    best: tuple[float, Tensor, float, Tensor] | None = None
    for alpha in alphas:
        s = a ** alpha
        s = s / (s.max() * s.min()).sqrt()    # centred around 1, as the authors' implementation
        s = float16_scale(s)                  # as the file stores it (Codec.column_scales)
        w_hat = record.fake(flat * s, bits, scheme, granularity) / s
        err = calibration.reconstruction_error(flat, w_hat, x)
        if best is None or err < best[0]:
            best = (err, w_hat, alpha, s)
    assert best is not None
    return best[1].reshape(w.shape).to(w.dtype), best[2], best[3]
