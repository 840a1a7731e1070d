"""Energy model (an estimate, always labelled so) and hardware profiles with sources.

E = sum over layers of MACs_eff * (E_mult(b_w, b_a) + E_add(b_acc))
  + sum over tensors of bits_moved * e_bit(memory)

Weights are read once per inference from SRAM when the whole compressed model fits on
chip, else from DRAM: the point Deep Compression and EIE make. Activations are read and
written once, from on-chip SRAM.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

SOURCE_HOROWITZ = ("Horowitz, 'Computing's energy problem', ISSCC 2014 (45 nm, 0.9 V), as quoted in "
                   "Han et al. 2015 (arXiv:1506.02626, Fig. 1) and Kim et al. 2023 "
                   "(arXiv:2302.14017, Fig. 15)")


@dataclass(frozen=True)
class Profile:
    name: str
    source: str
    int_mult_8: float = 0.2          # pJ, 8x8-bit integer multiply; scaled by b_w*b_a/64
    int_add: tuple[tuple[int, float], ...] = ((8, 0.03), (16, 0.05), (32, 0.1))  # pJ by width
    fp32_mult: float = 3.7           # pJ
    fp32_add: float = 0.9            # pJ
    register_32: float = 1.0         # pJ per 32-bit register file access
    sram_32: float = 5.0             # pJ per 32-bit read of a 32 KB SRAM
    dram_32: float = 640.0           # pJ per 32-bit DRAM read
    sram_bytes: int = 32 * 1024      # on-chip capacity: the SRAM size the 5 pJ figure is for


PROFILES: dict[str, Profile] = {
    "horowitz-45nm": Profile("horowitz-45nm", SOURCE_HOROWITZ),
}


def profile(name: str) -> Profile:
    if name not in PROFILES:
        raise ValueError(f"unknown energy profile '{name}': known profiles are {', '.join(PROFILES)}")
    return PROFILES[name]


def accumulator_bits(w_bits: int, a_bits: int, fan_in: int) -> int:
    """Integer accumulator width: product bits plus log2(fan-in) of headroom, rounded up."""
    need = w_bits + a_bits + math.ceil(math.log2(max(fan_in, 2)))
    return 8 if need <= 8 else 16 if need <= 16 else 32


def mac_pj(p: Profile, w_bits: int, a_bits: int, fan_in: int) -> float:
    """Energy of one multiply-accumulate. Float when either operand is float (32 bits)."""
    if w_bits >= 32 or a_bits >= 32:
        # Weight-only quantization still multiplies in float once weights are decoded.
        return p.fp32_mult + p.fp32_add
    mult = p.int_mult_8 * (w_bits * a_bits) / 64
    add = dict(p.int_add)[accumulator_bits(w_bits, a_bits, fan_in)]
    return mult + add


def weights_on_chip(p: Profile, model_bytes: float) -> bool:
    return model_bytes <= p.sram_bytes


def memory_pj(p: Profile, weight_bits: float, activation_bits: float, on_chip: bool) -> float:
    """Energy of moving a layer's weights (SRAM or DRAM) and activations (SRAM) once."""
    per_bit_weights = (p.sram_32 if on_chip else p.dram_32) / 32
    return weight_bits * per_bit_weights + activation_bits * p.sram_32 / 32


def constants_table(p: Profile) -> list[dict[str, object]]:
    """The constants in force, for the page's 'constants and sources' expander."""
    rows = [("int multiply, 8 bit", p.int_mult_8), ("fp32 multiply", p.fp32_mult),
            ("fp32 add", p.fp32_add), ("register file, 32-bit access", p.register_32),
            ("SRAM (32 KB), 32-bit read", p.sram_32), ("DRAM, 32-bit read", p.dram_32)]
    rows += [(f"int add, {bits} bit", pj) for bits, pj in p.int_add]
    return [{"operation": name, "energy_pj": pj, "source": p.source} for name, pj in rows]
