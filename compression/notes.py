"""Plain-language notes on a Report: why a saving on paper is not a saving in time."""
from __future__ import annotations

from compression import (
    quantizers,
)
from compression.config import CompressionConfig
from compression.report import Report


def _notes(config: CompressionConfig, r: Report) -> list[str]:
    """Plain-language reasons why a saving on paper is not a saving in time here."""
    notes = []
    if (config.sparsity > 0 and config.structure != "rows") or config.structure == "2:4":
        notes.append("Why no speed-up from pruning: the zeros are still stored and multiplied in "
                     "PyTorch's dense kernels; only sparse kernels or hardware that skips zeros "
                     "(as EIE does) turns them into time and energy saved.")
    if 8 < config.bits < 32 or config.bits < 8:
        closest = "int8 kernels" if config.bits < 8 else "float32"
        notes.append(f"{config.bits}-bit weights are simulated (fake quantization): rounded to the "
                     f"{config.bits}-bit grid but stored as float32, since PyTorch has no "
                     f"{config.bits}-bit kernels. Accuracy is what such hardware would give; the "
                     f"latency shown is the closest real path ({closest}).")
    for layer in r.layers:  # the quantizer records' own explanations, once each
        note = quantizers.for_layer(config, layer.name).note(config.bits_for(layer.name), config.scheme)
        if note and note not in notes:
            notes.append(note)
    if config.act_bits < 32:
        notes.append(f"{config.act_bits}-bit activations are simulated with ranges calibrated on "
                     "128 training images.")
    return notes
