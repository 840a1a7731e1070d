"""Plain-language notes on a Report: why a saving on paper is not a saving in time."""
from __future__ import annotations

from compression.plan import Plan
from compression.quantizers import FLOAT_BITS
from compression.report import Report


def _notes(lp: Plan, r: Report) -> list[str]:
    """Plain-language reasons why a saving on paper is not a saving in time here, read from the plan."""
    notes = []
    if lp.prunes and not lp.sliced:
        notes.append("Why no speed-up from pruning: the zeros are still stored and multiplied in "
                     "PyTorch's dense kernels; only sparse kernels or hardware that skips zeros "
                     "(as EIE does) turns them into time and energy saved.")
    simulated = sorted({s.bits for s in lp.layers.values() if s.quantized and s.bits != 8})
    if simulated:
        closest = "int8 kernels" if lp.int8 else "float32"
        widths = "/".join(str(b) for b in simulated)
        which = "" if len(simulated) == 1 and all(s.bits == simulated[0] for s in lp.layers.values()) else \
            " (per layer: " + ", ".join(f"{s.name} {s.label}" for s in lp.layers.values()) + ")"
        notes.append(f"{widths}-bit weights are simulated (fake quantization){which}: rounded to the "
                     f"{widths}-bit grid but stored as float32, since PyTorch has no "
                     f"{widths}-bit kernels. Accuracy is what such hardware would give; the "
                     f"latency shown is the closest real path ({closest}).")
    for s in lp.layers.values():  # the quantizer records' own explanations, once each
        note = s.quantizer.note(s.bits, s.scheme) if s.quantized else None
        if note and note not in notes:
            notes.append(note)
    if lp.act_bits < FLOAT_BITS:
        notes.append(f"{lp.act_bits}-bit activations are simulated with ranges calibrated on "
                     "128 training images.")
    return notes
