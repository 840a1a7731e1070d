"""Energy model (an estimate, always labelled so) and hardware profiles with sources.

E = sum over layers of MACs_eff * E_op(b_w, b_a, b_acc)
  + sum over tensors of bits_moved * e_bit(memory)

Weights are read once per inference from on-chip SRAM when the whole model fits in it, else
from DRAM: the point Deep Compression (Han et al. 2016) and EIE (Han et al. 2016,
arXiv:1602.01528) make. Activations are read and written once, from on-chip SRAM. The
on-chip capacity is a named assumption (config `sram_kb`), and the SRAM cost per access grows
with it, from Horowitz's three published cache sizes.

The constants, each with its source, are in assets/references/energy_45nm.csv.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from compression.quantizers import FLOAT_BITS

SOURCE_HOROWITZ = ("Horowitz, 'Computing's energy problem', ISSCC 2014 (45 nm, 0.9 V), as quoted in "
                   "Han et al. 2015 (arXiv:1506.02626, Fig. 1) and Kim et al. 2023 "
                   "(arXiv:2302.14017, Fig. 15)")
SOURCE_SRAM = ("Horowitz, ISSCC 2014, 45 nm: cache access 10 / 20 / 100 pJ per 64 bits at 8 KB / 32 KB / "
               "1 MB, i.e. 5 / 10 / 50 pJ per 32-bit word; log-log interpolated between them")
SOURCE_DRAM = ("Han et al. 2015 (arXiv:1506.02626, Fig. 1): 640 pJ per 32-bit DRAM read; Horowitz, "
               "ISSCC 2014 gives 1.3-2.6 nJ per 64 bits")
SOURCE_ADD16 = ("Kim et al. 2023 (arXiv:2302.14017, Fig. 15); Horowitz lists only 8-bit (0.03 pJ) and "
                "32-bit (0.1 pJ) adds, between which a log-log interpolation gives 0.055 pJ")
SOURCE_SHIFT = ("an assumption: Horowitz lists no shifter; a shift of the activation is charged as one add "
                "at the activation's width, the scale ShiftAddNet (You et al. 2020, arXiv:2010.12785, Table 1) "
                "reports for 45 nm shifts")

SOURCE_FP16 = "Horowitz ISSCC 2014, 45 nm: fp16 multiply 1.1 pJ, fp16 add 0.4 pJ (Kim et al. 2023, arXiv:2302.14017, Fig. 15)"
SOURCE_FLOAT_NARROW = ("an assumption: Horowitz lists no FP8 or FP4 arithmetic; a b_w x b_a float multiply is "
                       "charged as his fp16 multiply (1.1 pJ) times b_w*b_a/256, the product-of-widths scaling "
                       "his integer multiplies follow (8 to 32 bits: x15.5 for x16), accumulated by an fp16 add "
                       "(0.4 pJ); block scales (MXFP4, NVFP4) are not charged")

KB = 1024
SRAM_POINTS: tuple[tuple[int, float], ...] = ((8 * KB, 5.0), (32 * KB, 10.0), (1024 * KB, 50.0))
OPS = ("multiply", "shift", "shift-scale", "sign", "float", "fp16", "float-narrow")


@dataclass(frozen=True)
class Profile:
    name: str
    source: str
    int_mult_8: float = 0.2          # pJ, 8x8-bit integer multiply; scaled by b_w*b_a/64
    int_add: tuple[tuple[int, float], ...] = ((8, 0.03), (16, 0.05), (32, 0.1))  # pJ by width
    fp32_mult: float = 3.7           # pJ
    fp32_add: float = 0.9            # pJ
    fp16_mult: float = 1.1           # pJ
    fp16_add: float = 0.4            # pJ
    register_32: float = 1.0         # pJ per 32-bit register file access: the floor of any memory
    dram_32: float = 640.0           # pJ per 32-bit DRAM read
    # On-chip capacity (the config's sram_kb). Default 32 KB: Horowitz's middle point, and the
    # L1 data cache of one core of Intel's Sandy Bridge to Skylake CPUs: memory a CPU core has
    # beside it for sure; larger caches are shared and slower, and are a what-if on the page.
    sram_bytes: int = 32 * KB
    sram_32: float = 10.0            # pJ per 32-bit SRAM read at sram_bytes (derived: sram_pj)


PROFILES: dict[str, Profile] = {
    "horowitz-45nm": Profile("horowitz-45nm", SOURCE_HOROWITZ),
}


def sram_pj(p: Profile, capacity_bytes: float) -> float:
    """pJ per 32-bit read of an SRAM of this size: Horowitz's 8 KB / 32 KB / 1 MB points, log-log.

    Between the points the cost is a straight line in log-log space (wire length, hence
    energy, grows about as the square root of capacity). Below 8 KB and above 1 MB the end
    segment's slope is extended, but never below a register-file access (the cheapest memory)
    nor above a DRAM read (past that, the data would sit in DRAM).
    """
    if capacity_bytes <= 0:
        raise ValueError(f"on-chip memory size must be positive, not {capacity_bytes!r} bytes")
    pts = SRAM_POINTS
    i = 0 if capacity_bytes <= pts[1][0] else 1
    (s0, e0), (s1, e1) = pts[i], pts[i + 1]
    slope = math.log(e1 / e0) / math.log(s1 / s0)
    pj = e0 * math.exp(slope * math.log(capacity_bytes / s0))
    return min(max(pj, p.register_32), p.dram_32)


def profile(name: str, sram_kb: float | None = None) -> Profile:
    """The named profile, with on-chip capacity `sram_kb` (default: the profile's own) priced in."""
    if name not in PROFILES:
        raise ValueError(f"unknown energy profile '{name}': known profiles are {', '.join(PROFILES)}")
    p = PROFILES[name]
    capacity = p.sram_bytes if sram_kb is None else round(sram_kb * KB)
    return dataclasses.replace(p, sram_bytes=capacity, sram_32=sram_pj(p, capacity))


def accumulator_bits(w_bits: int, a_bits: int, fan_in: int) -> int:
    """Integer accumulator width: product bits plus log2(fan-in) of headroom, rounded up."""
    need = w_bits + a_bits + math.ceil(math.log2(max(fan_in, 2)))
    return 8 if need <= 8 else 16 if need <= 16 else 32


def add_width(bits: int) -> int:
    """The adder width that holds a `bits`-wide operand: 8, 16 or 32 (the widths Horowitz prices)."""
    return 8 if bits <= 8 else 16 if bits <= 16 else 32


def mac_pj(p: Profile, w_bits: int, a_bits: int, fan_in: int, op: str = "multiply") -> float:
    """Energy of one multiply-accumulate by the arithmetic the weights allow.

    op: "multiply" (integer, 0.2 pJ * b_w*b_a/64 + add), "shift" and "shift-scale" (power-of-two
    weights: a shift of the activation, charged as one add at the activation's width, then the
    add at the accumulator's; "shift-scale" also costs output_pj once per output), "sign"
    (binary/ternary weights: the weight only flips the sign, so one add), "float" (fp32 multiply
    + add), "fp16" (weights decoded to 16-bit floats, as NF4's kernels do: Horowitz's fp16
    multiply + add), "float-narrow" (FP8 / FP4 weights times activations of b_a bits: an
    assumption, SOURCE_FLOAT_NARROW). Any 32-bit operand makes it float: weight-only
    quantization still multiplies in float once weights are decoded.
    """
    if op not in OPS:
        raise ValueError(f"unknown arithmetic '{op}': use one of {', '.join(OPS)}")
    if op == "float" or w_bits >= FLOAT_BITS or a_bits >= FLOAT_BITS:
        return p.fp32_mult + p.fp32_add
    if op == "fp16":
        return p.fp16_mult + p.fp16_add
    if op == "float-narrow":
        return p.fp16_mult * (w_bits * min(a_bits, 16)) / 256 + p.fp16_add
    add = dict(p.int_add)[accumulator_bits(w_bits, a_bits, fan_in)]
    if op == "sign":
        return add
    if op in ("shift", "shift-scale"):
        return dict(p.int_add)[add_width(a_bits)] + add
    return p.int_mult_8 * (w_bits * a_bits) / 64 + add


def output_pj(p: Profile, w_bits: int, a_bits: int, op: str) -> float:
    """Energy spent once per output activation after its MACs: the multiply by a scale, where one remains.

    Powers of two times a float32 scale ("shift-scale": levels s * 2**-k, s = max|w|) shift
    inside the sum but must multiply each output by s, an fp32 multiply (Horowitz 3.7 pJ).
    INQ's grid ("shift") has no scale; with float operands the scale is folded into the decoded
    weights, so nothing is charged.
    """
    if op == "shift-scale" and w_bits < 32 and a_bits < 32:
        return p.fp32_mult
    return 0.0


def layer_compute_pj(p: Profile, macs: int, out_elems: int, w_bits: int, a_bits: int, fan_in: int,
                     op: str = "multiply") -> float:
    """A layer's arithmetic in one pass: each of its `macs` at mac_pj, and, when it computes at
    all, output_pj once per output (the scale a power-of-two format leaves)."""
    pj = macs * mac_pj(p, w_bits, a_bits, fan_in, op)
    if macs:
        pj += out_elems * output_pj(p, w_bits, a_bits, op)
    return pj


def weights_on_chip(p: Profile, model_bytes: float) -> bool:
    return model_bytes <= p.sram_bytes


def memory_pj(p: Profile, weight_bits: float, activation_bits: float, on_chip: bool) -> float:
    """Energy of moving a layer's weights (SRAM or DRAM) and activations (SRAM) once."""
    per_bit_weights = (p.sram_32 if on_chip else p.dram_32) / 32
    return weight_bits * per_bit_weights + activation_bits * p.sram_32 / 32


def total_pj(p: Profile, compute_pj: float, weight_bits: float, activation_bits: float) -> dict[str, float]:
    """Compute + memory of one inference, weights placed by whether they fit in p's SRAM."""
    memory = memory_pj(p, weight_bits, activation_bits, weights_on_chip(p, weight_bits / 8))
    return {"compute": compute_pj, "memory": memory, "total": compute_pj + memory}


def factors(p: Profile, baseline: tuple[float, float, float], compressed: tuple[float, float, float],
            levels: tuple[bool, bool] | None = None) -> dict[str, float]:
    """The saving E0/E1 split into three factors that multiply to it exactly.

    Each model is (compute pJ, weight bits moved, activation bits moved); levels = whether each
    model's weights are on chip (default: whether its weight bits fit). With E_a = compressed
    compute plus the baseline's memory traffic, and E_b = compressed compute plus the compressed
    bits moved at the baseline's memory level: compute = E0/E_a (cheaper or fewer MACs),
    memory = E_a/E_b (fewer bits at the same level), placement = E_b/E1 (the move between DRAM
    and SRAM; 1 when both sit at the same level). The product telescopes to E0/E1.
    """
    c0, w0, a0 = baseline
    c1, w1, a1 = compressed
    level0, level1 = levels or (weights_on_chip(p, w0 / 8), weights_on_chip(p, w1 / 8))
    e0 = c0 + memory_pj(p, w0, a0, level0)
    e_a = c1 + memory_pj(p, w0, a0, level0)
    e_b = c1 + memory_pj(p, w1, a1, level0)
    e1 = c1 + memory_pj(p, w1, a1, level1)
    return {"compute": e0 / e_a, "memory": e_a / e_b, "placement": e_b / e1}


def assumptions(p: Profile, weight_bits: float) -> dict[str, object]:
    """What the estimate assumed: on-chip size, its cost per word, DRAM's, and where weights sit."""
    return {"sram_bytes": p.sram_bytes, "sram_pj_per_32bit": p.sram_32, "dram_pj_per_32bit": p.dram_32,
            "weights_in": "sram" if weights_on_chip(p, weight_bits / 8) else "dram"}


def sram_sizes_kb(lo_kb: float = 1.0, hi_kb: float = 16 * 1024.0, per_octave: int = 2) -> list[float]:
    """On-chip sizes from lo to hi KB, evenly spaced on a log axis (for the cliff chart)."""
    n = round(math.log2(hi_kb / lo_kb) * per_octave)
    return [lo_kb * 2 ** (i / per_octave) for i in range(n + 1)]


def vs_sram(p: Profile, compute_pj: float, weight_bits: float, activation_bits: float,
            sizes_kb: list[float] | None = None) -> list[dict[str, Any]]:
    """Energy of one inference as the on-chip size varies: shows the cliff where weights spill to DRAM."""
    points = []
    for kb in sizes_kb or sram_sizes_kb():
        q = profile(p.name, kb)
        points.append({"sram_kb": kb, **total_pj(q, compute_pj, weight_bits, activation_bits),
                       "weights_in": "sram" if weights_on_chip(q, weight_bits / 8) else "dram"})
    return points


def constants_table(p: Profile) -> list[dict[str, object]]:
    """The constants in force, each with its source, for the page's 'constants and sources' list."""
    rows = [("int multiply, 8 bit", p.int_mult_8, SOURCE_HOROWITZ), ("fp32 multiply", p.fp32_mult, SOURCE_HOROWITZ),
            ("fp32 add", p.fp32_add, SOURCE_HOROWITZ),
            ("register file, 32-bit access (floor of the SRAM curve)", p.register_32,
             "Han et al. 2015 (arXiv:1506.02626, Fig. 1)"),
            *[(f"SRAM {size // KB:,} KB, 32-bit read (published point)", pj, SOURCE_SRAM)
              for size, pj in SRAM_POINTS],
            (f"SRAM {p.sram_bytes / KB:g} KB, 32-bit read (in force)", p.sram_32, SOURCE_SRAM),
            ("DRAM, 32-bit read", p.dram_32, SOURCE_DRAM)]
    rows += [(f"int add, {bits} bit", pj, SOURCE_ADD16 if bits == 16 else SOURCE_HOROWITZ) for bits, pj in p.int_add]
    rows += [("shift (power-of-two weight), charged as an add at the activation's width: 8 bit",
              dict(p.int_add)[8], SOURCE_SHIFT),
             ("scale multiply, once per output (power of two × scale), fp32", p.fp32_mult, SOURCE_HOROWITZ),
             ("fp16 multiply (NF4 weights decoded to 16-bit floats)", p.fp16_mult, SOURCE_FP16),
             ("fp16 add", p.fp16_add, SOURCE_FP16),
             ("FP8 x FP8 multiply (assumed: fp16's x 64/256)", p.fp16_mult * 64 / 256, SOURCE_FLOAT_NARROW),
             ("FP4 x FP8 multiply (assumed: fp16's x 32/256)", p.fp16_mult * 32 / 256, SOURCE_FLOAT_NARROW)]
    return [{"operation": name, "energy_pj": pj, "source": src} for name, pj, src in rows]
