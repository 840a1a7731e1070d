"""One record per weight quantizer: kernel, side-information cost, energy operation, label,
formula and help text in one place. The pipeline, the size model, the file codec, the energy
model and the pages read the record; none of them branches on a quantizer's name.

Adding a quantizer is a kernel and a record here, plus its own test; tests/test_quantizers.py
loops over every record (file round trip, file size = theoretical size within the header,
label, formula and help present).

At 1 bit every quantizer is binarization and at 32 bits none quantizes (`resolve`), so those
two are records too, though not user choices.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from compression import quantize

FLOAT_BITS = 32
EnergyOp = Literal["multiply", "shift", "shift-scale", "sign", "float"]
ENERGY_OPS = ("multiply", "shift", "shift-scale", "sign", "float")


# -----------------------------------------------------------------------------
# decoding: codes in [0, 2**bits) back to values


@dataclass(frozen=True, eq=False)
class Grid:
    """The values codes decode to: an affine grid (scale, zero point) or a lookup table."""
    scale: Tensor | None = None        # affine: () per tensor or (rows,)
    zero_point: Tensor | None = None
    qmin: int = 0
    qmax: int = 0
    table: Tensor | None = None        # table: (k,) shared or (rows, k)

    def encode(self, values: Tensor, rows: Tensor) -> np.ndarray:
        """Codes in [0, 2**bits) of already-quantized `values` sitting in weight rows `rows`."""
        if self.table is None:
            scale, zp = _rowwise(self._scale, rows), _rowwise(self._zero_point, rows)
            return (torch.round(values * (1.0 / scale)) + zp - self.qmin).long().numpy()
        if self.table.dim() == 1:
            # one shared table: nearest entry by binary search over sorted midpoints, O(n log k)
            # instead of an n x k distance matrix (values are entries, so no ties at midpoints)
            order = torch.argsort(self.table)
            ordered = self.table[order]
            return order[torch.searchsorted((ordered[1:] + ordered[:-1]) / 2, values.to(ordered.dtype))].numpy()
        return (values.unsqueeze(1) - self._tables(rows)).abs().argmin(1).numpy()

    def decode(self, codes: np.ndarray, rows: Tensor) -> Tensor:
        codes_t = torch.from_numpy(codes.astype(np.int64))
        if self.table is None:
            scale, zp = _rowwise(self._scale, rows), _rowwise(self._zero_point, rows)
            return ((codes_t + self.qmin - zp).float() * scale).float()
        return self._tables(rows).gather(1, codes_t.unsqueeze(1)).squeeze(1)

    def levels(self) -> Tensor:
        """Every value a code can take: (k,) for one grid, (rows, k) for one per channel."""
        if self.table is not None:
            return self.table
        q = torch.arange(self.qmin, self.qmax + 1, dtype=torch.float32)
        # the same float32 arithmetic as fake_quantize's dequantization, so values match exactly
        return (q - self._zero_point.unsqueeze(-1)) * self._scale.unsqueeze(-1)

    def _tables(self, rows: Tensor) -> Tensor:
        """The lookup table each value uses: its row's own (per channel) or the shared one."""
        table = self.table
        assert table is not None  # a table grid
        if table.dim() == 2:
            return table[rows]
        return table.unsqueeze(0).expand(len(rows), -1)

    @property
    def _scale(self) -> Tensor:
        assert self.scale is not None  # an affine grid
        return self.scale

    @property
    def _zero_point(self) -> Tensor:
        assert self.zero_point is not None  # an affine grid
        return self.zero_point


def _rowwise(t: Tensor, rows: Tensor) -> Tensor:
    return t[rows] if t.dim() == 1 else t.expand(rows.shape)


@dataclass(frozen=True, eq=False)
class Codec:
    """How one layer's codes are stored and decoded: which quantizer, code bits, grain, side information.

    `side` is the side information exactly as the file stores it (float32, 1-D): what the
    size model charges, so file and theory count the same things.
    """
    quantizer: str
    bits: int                  # bits per stored code
    scheme: str
    per_channel: bool
    channels: int              # rows of the weight (output channels)
    side: Tensor

    @property
    def record(self) -> Quantizer:
        return lookup(self.quantizer)

    @property
    def is_float(self) -> bool:
        return self.bits >= FLOAT_BITS

    @property
    def zero_code(self) -> bool:
        """Some code decodes to exactly 0 (else zeros are stored only through a bitmask or index)."""
        return self.record.zero_code

    @property
    def side_bits(self) -> int:
        """Theoretical side-information bits (the record's cost formula)."""
        return self.record.side_bits(self.bits, self.scheme, self.per_channel, self.channels, self.side.numel())

    @functools.cached_property
    def grid(self) -> Grid:
        return self.record.grid(self.side, self.bits, self.scheme, self.per_channel, self.channels)

    def encode(self, values: Tensor, rows: Tensor) -> np.ndarray:
        return self.grid.encode(values, rows)

    def decode(self, codes: np.ndarray, rows: Tensor) -> Tensor:
        return self.grid.decode(codes, rows)

    def levels(self) -> Tensor:
        return self.grid.levels()


FLOAT_CODEC = Codec("float", FLOAT_BITS, "symmetric", False, 0, torch.empty(0))


@dataclass(frozen=True, eq=False)
class Quantized:
    """How the pipeline quantized one layer: the codec the file uses, and what the report measures."""
    codec: Codec
    before: Tensor             # weights just before quantization: errors are measured against them
    codes_used: int            # distinct codes the kept (non-zero before) weights use

    @property
    def bits(self) -> int:
        return self.codec.bits

    @property
    def record(self) -> Quantizer:
        return self.codec.record


# -----------------------------------------------------------------------------
# the record


Kernel = Callable[[Tensor, int, str, bool], tuple[Tensor, Tensor]]   # (w, bits, scheme, per_channel) -> (w_q, side)
GridFn = Callable[[Tensor, int, str, bool, int], Grid]                # (side, bits, scheme, per_channel, channels)
SideBits = Callable[[int, str, bool, int, int], int]                  # (bits, scheme, per_channel, channels, side entries)


def _same_bits(bits: int) -> int:
    return bits


def _no_note(bits: int, scheme: str) -> str | None:
    return None


@dataclass(frozen=True)
class Quantizer:
    """Everything about one quantizer that any part of the product needs."""
    name: str
    label: str                 # short name for charts and the sidebar
    formula: str               # LaTeX
    help: str                  # one or two sentences for tooltips and CLI help
    energy_op: EnergyOp        # what the energy model charges per MAC: multiply, shift, sign flip + add, float
    zero_code: bool            # some code decodes to exactly 0
    kernel: Kernel
    grid: GridFn
    side_bits: SideBits        # theoretical side-information bits (scales, zero points, code book)
    code_bits: Callable[[int], int] = _same_bits  # bits per stored code at a requested bit-width
    channelwise: bool = True   # honours per_channel (one grid per output channel)
    choice: bool = True        # offered as config.quantizer (binary and float follow from bits)
    note: Callable[[int, str], str | None] = _no_note  # (bits, scheme) -> a surprise explained, or None

    def quantize(self, w: Tensor, bits: int, scheme: str = "symmetric",
                 per_channel: bool = False) -> tuple[Tensor, Quantized]:
        """(quantized weights, how) for one weight tensor; zeros (pruned weights) stay exactly 0."""
        per_channel = per_channel and self.channelwise
        before = w.detach().clone()
        w_q, side = self.kernel(before, bits, scheme, per_channel)
        codec = Codec(self.name, self.code_bits(bits), scheme, per_channel, w.shape[0],
                      side.detach().float().flatten())
        kept = before != 0
        rows = torch.nonzero(kept.flatten()).flatten() // max(1, w[0].numel())
        used = int(np.unique(codec.encode(w_q.detach().flatten()[kept.flatten()].float(), rows)).size)
        return w_q.to(w.dtype), Quantized(codec, before, used)

    def fake(self, w: Tensor, bits: int, scheme: str = "symmetric", per_channel: bool = False) -> Tensor:
        """The quantized weights only (no bookkeeping): for quantization-aware training."""
        with torch.no_grad():
            return self.kernel(w.detach(), bits, scheme, per_channel and self.channelwise)[0].to(w.dtype)


def _groups(per_channel: bool, channels: int) -> int:
    return channels if per_channel else 1


def _per_group(side: Tensor, per_channel: bool) -> Tensor:
    """One value per row (per channel) or a 0-dim tensor (per tensor)."""
    return side if per_channel else side.reshape(())


def _table_grid(build: Callable[[Tensor, int], Tensor]) -> GridFn:
    """A lookup-table grid from one scale per group: build(scales, bits) -> (groups, k) table."""
    def grid(side: Tensor, bits: int, scheme: str, per_channel: bool, channels: int) -> Grid:
        table = build(side.reshape(-1), bits)
        return Grid(table=table if per_channel else table[0])
    return grid


def _one_scale_per_group(bits: int, scheme: str, per_channel: bool, channels: int, entries: int) -> int:
    return _groups(per_channel, channels) * FLOAT_BITS


# -----------------------------------------------------------------------------
# uniform (affine) grid


def _uniform_kernel(w: Tensor, bits: int, scheme: str, per_channel: bool) -> tuple[Tensor, Tensor]:
    scale, zp, _, _ = quantize.quant_params(w, bits, scheme, per_channel, 0)
    w_q = quantize.fake_quantize(w, bits, scheme, per_channel, axis=0)
    # a symmetric grid's zero point is always 0: not stored, not charged
    side = scale.reshape(-1) if scheme == "symmetric" else torch.cat([scale.reshape(-1), zp.reshape(-1).float()])
    return w_q, side


def _uniform_grid(side: Tensor, bits: int, scheme: str, per_channel: bool, channels: int) -> Grid:
    n = _groups(per_channel, channels)
    scale = side[:n]
    zp = side[n:2 * n].to(torch.int32) if scheme == "asymmetric" else torch.zeros(n, dtype=torch.int32)
    qmin, qmax = quantize.qrange(bits, scheme)
    return Grid(scale=_per_group(scale, per_channel), zero_point=_per_group(zp, per_channel), qmin=qmin, qmax=qmax)


def _uniform_side_bits(bits: int, scheme: str, per_channel: bool, channels: int, entries: int) -> int:
    return _groups(per_channel, channels) * FLOAT_BITS * (2 if scheme == "asymmetric" else 1)


def _uniform_note(bits: int, scheme: str) -> str | None:
    if bits == 2 and scheme == "symmetric":
        return ("2-bit symmetric is ternary: the only levels are -s, 0 and +s with s = max|w|, "
                "so every weight smaller than max|w|/2 becomes zero. That is why 2 bits can "
                "score below 1 bit (sign(w)·mean|w| keeps every sign); per-channel scales, "
                "the asymmetric scheme, k-means or TWN's ternary threshold do better.")
    return None


UNIFORM = Quantizer(
    name="uniform", label="uniform",
    formula=(r"s = \begin{cases} \dfrac{\max|w|}{2^{b-1}-1},\ z = 0 & \text{symmetric}\\[4pt]"
             r"\dfrac{\max(w,0)-\min(w,0)}{2^{b}-1},\ z = \operatorname{round}\dfrac{-\min(w,0)}{s}"
             r" & \text{asymmetric}\end{cases}\quad "
             r"\hat w = s\left(\operatorname{clamp}\!\left(\operatorname{round}\tfrac{w}{s} + z,\ q_{\min},\ q_{\max}\right) - z\right)"),
    help=("Evenly spaced levels: scale s from the range of the weights (per tensor or per output "
          "channel), codes are rounded w/s. Integer multiply-accumulate on b-bit codes."),
    energy_op="multiply", zero_code=True,
    kernel=_uniform_kernel, grid=_uniform_grid, side_bits=_uniform_side_bits, note=_uniform_note,
)


# -----------------------------------------------------------------------------
# k-means weight sharing (Deep Compression, Han et al. 2016)


def _kmeans_kernel(w: Tensor, bits: int, scheme: str, per_channel: bool) -> tuple[Tensor, Tensor]:
    # A pruned layer gives code 0 to the value zero (needed for CSR filler entries), so k-means
    # shares the remaining 2**bits - 1 codes among the kept weights.
    has_zeros = bool((w == 0).any())
    k = 2**bits - 1 if has_zeros else 2**bits
    w_q, centroids = quantize.kmeans_quantize(w, bits, mask=w != 0, k=k)
    table = torch.cat([torch.zeros(1, dtype=centroids.dtype), centroids]) if has_zeros else centroids
    return w_q, table


def _kmeans_grid(side: Tensor, bits: int, scheme: str, per_channel: bool, channels: int) -> Grid:
    return Grid(table=side)


def _kmeans_side_bits(bits: int, scheme: str, per_channel: bool, channels: int, entries: int) -> int:
    # the table it actually has: at most 2**bits entries, fewer when the layer has fewer
    # distinct kept weights (as at 12 or 16 bits)
    return entries * FLOAT_BITS


KMEANS = Quantizer(
    name="kmeans", label="k-means",
    formula=r"\min_{c_1..c_k} \sum_i \min_j (w_i - c_j)^2,\qquad \hat w_i = c_{j(i)},\quad k = 2^b",
    help=("k-means weight sharing (Deep Compression, Han et al. 2016): 2^b shared values c_j per "
          "layer, linear initialisation, Lloyd to convergence; codes index a float code book."),
    energy_op="multiply", zero_code=True, channelwise=False,
    kernel=_kmeans_kernel, grid=_kmeans_grid, side_bits=_kmeans_side_bits,
)


# -----------------------------------------------------------------------------
# binarization (1 bit, whatever quantizer was asked)


def _binary_kernel(w: Tensor, bits: int, scheme: str, per_channel: bool) -> tuple[Tensor, Tensor]:
    alpha = quantize.quant_params(w, 1, per_channel=per_channel, axis=0)[0]
    return quantize.fake_quantize(w, 1, per_channel=per_channel, axis=0), alpha.reshape(-1)


BINARY = Quantizer(
    name="binary", label="binary",
    formula=r"\hat w = \alpha\,\operatorname{sign}(w),\qquad \alpha = \operatorname{mean}_{w \ne 0}|w|",
    help=("Binarization (BinaryConnect / XNOR-Net): one bit per weight, its sign, times the mean "
          "|w| of the tensor or channel. Multiplies become sign flips and adds."),
    energy_op="sign", zero_code=False, choice=False, code_bits=lambda bits: 1,
    kernel=_binary_kernel,
    grid=_table_grid(lambda a, bits: torch.stack([-a, a], dim=-1)),
    side_bits=_one_scale_per_group,
)


# -----------------------------------------------------------------------------
# ternary (Ternary Weight Networks, Li & Liu 2016, arXiv:1605.04711)

TWN_DELTA = 0.7  # Li & Liu's threshold factor: delta = 0.7 * mean|w| approximates the optimum for Gaussian weights


def ternary_params(w: Tensor, per_channel: bool = False) -> tuple[Tensor, Tensor]:
    """(delta, alpha) per group: delta = 0.7 mean|w|, alpha = mean of the |w| above delta.

    Means are over the non-zero weights, so pruned zeros do not pull the threshold down
    (on a dense tensor this is exactly Li & Liu's eq. 5 and 6).
    """
    a = (w.reshape(w.shape[0], -1) if per_channel else w.reshape(1, -1)).abs().double()
    nz = (a != 0).sum(1).clamp_min(1)
    delta = TWN_DELTA * a.sum(1) / nz
    above = a > delta.unsqueeze(1)
    alpha = (a * above).sum(1) / above.sum(1).clamp_min(1)
    return delta.float(), alpha.float()


def _ternary_kernel(w: Tensor, bits: int, scheme: str, per_channel: bool) -> tuple[Tensor, Tensor]:
    delta, alpha = ternary_params(w, per_channel)
    shape = [-1] + [1] * (w.dim() - 1) if per_channel else []
    d, a = delta.reshape(shape), alpha.reshape(shape)
    w_q = torch.where(w.abs().float() > d, torch.sign(w.float()) * a, torch.zeros((), dtype=torch.float32))
    return w_q, alpha


TERNARY = Quantizer(
    name="ternary", label="ternary",
    formula=(r"\Delta = 0.7\,\operatorname{mean}|w|,\quad \alpha = \operatorname{mean}_{|w_i|>\Delta}|w_i|,"
             r"\quad \hat w = \alpha\,\operatorname{sign}(w)\,\mathbb{1}\left[|w| > \Delta\right]"),
    help=("Ternary Weight Networks (Li & Liu 2016): levels {-α, 0, +α} with threshold Δ = 0.7·mean|w| "
          "and α the mean |w| above it, per tensor or channel; 2-bit codes whatever the bit-width. "
          "Multiplies become sign flips, adds and skips."),
    energy_op="sign", zero_code=True, code_bits=lambda bits: 2,
    kernel=_ternary_kernel,
    grid=_table_grid(lambda a, bits: torch.stack([-a, torch.zeros_like(a), a], dim=-1)),
    side_bits=_one_scale_per_group,
)


# -----------------------------------------------------------------------------
# powers of two (logarithmic quantization: Miyashita et al. 2016, arXiv:1603.01025;
# Zhou et al. 2017, INQ, arXiv:1702.03044). Two records: INQ's own grid, whose levels are
# powers of two, and a grid scaled by max|w|, whose levels are powers of two times a float32
# scale: a shift per MAC, then one real multiply by the scale per output.


def pow2_ratios(bits: int) -> Tensor:
    """Magnitudes of the scaled grid relative to s: 0 and 2**-k for k = 2**(b-1)-2 .. 0, ascending.

    b bits give 2**b - 1 codes: zero and +/- s*2**-k for K = 2**(b-1) - 1 exponents
    (b = 2: {0, ±s}; b = 4: {0, ±s, ±s/2, ..., ±s/64}).
    """
    k = 2 ** (bits - 1) - 1
    return torch.cat([torch.zeros(1), torch.pow(2.0, -torch.arange(k - 1, -1, -1, dtype=torch.float32))])


def inq_ratios(bits: int) -> Tensor:
    """Magnitudes of INQ's grid relative to its top level 2**n1: 0 and 2**-k, k = K-1 .. 0, ascending.

    Zhou et al. 2017, section 2.1: of b bits one codes zero and b - 1 code 2**(b-1) signed
    powers, so K = n1 - n2 + 1 = 2**(b-1) / 2 exponents (b = 2: {0, ±2**n1}; b = 5: 8 exponents).
    """
    k = max(1, 2 ** (bits - 1) // 2)
    return torch.cat([torch.zeros(1), torch.pow(2.0, -torch.arange(k - 1, -1, -1, dtype=torch.float32))])


def _signed_table(ratios: Callable[[int], Tensor]) -> Callable[[Tensor, int], Tensor]:
    def build(s: Tensor, bits: int) -> Tensor:
        r = ratios(bits)
        signed = torch.cat([-r.flip(0)[:-1], r])  # -1 .. -smallest, 0, smallest .. 1
        return s.unsqueeze(-1) * signed
    return build


def _pow2_kernel(w: Tensor, bits: int, scheme: str, per_channel: bool) -> tuple[Tensor, Tensor]:
    flat = (w.reshape(w.shape[0], -1) if per_channel else w.reshape(1, -1)).float()
    s = flat.abs().amax(1)
    r = pow2_ratios(bits)
    # nearest level in the linear domain: thresholds at midpoints between neighbouring
    # magnitudes, 3/4 * 2**-k between powers and 2**-(K-1) / 2 above zero; a tie goes to the
    # smaller magnitude (INQ's rule, the other way, is the "inq" record's). s * 2**-k is exact
    # in float, so every output is exactly +/- s * 2**-k or 0
    ratio = flat.abs() / torch.where(s > 0, s, torch.ones_like(s)).unsqueeze(1)
    idx = torch.bucketize(ratio, (r[:-1] + r[1:]) / 2)
    w_q = torch.sign(flat) * s.unsqueeze(1) * r[idx]
    return w_q.reshape(w.shape), s


def _inq_kernel(w: Tensor, bits: int, scheme: str, per_channel: bool) -> tuple[Tensor, Tensor]:
    """INQ's quantizer (Zhou et al. 2017, eq. 4): levels 0, ±2**n2 .. ±2**n1, n1 = floor(log2(4 max|w| / 3)).

    Eq. 4 maps |w| to beta when (alpha + beta) / 2 <= |w| < 3 beta / 2 for adjacent levels
    alpha < beta, so a tie goes to the larger magnitude, and |w| < 2**n2 / 2 to zero. n1 puts
    max|w| below 3/2 * 2**n1, so nothing lies above the top bucket. The side value stored per
    group is 2**n1 itself, a power of two: no multiply by a scale follows the shifts.
    """
    flat = (w.reshape(w.shape[0], -1) if per_channel else w.reshape(1, -1)).float()
    s = flat.abs().amax(1)
    n1 = torch.floor(torch.log2(torch.where(s > 0, 4 * s / 3, torch.ones_like(s))))
    top = torch.pow(2.0, n1)
    r = inq_ratios(bits)
    # |w| / 2**n1 is exact (a division by a power of two), and so are the midpoints: ties are exact
    idx = torch.bucketize(flat.abs() / top.unsqueeze(1), (r[:-1] + r[1:]) / 2, right=True)
    w_q = torch.sign(flat) * top.unsqueeze(1) * r[idx]
    return w_q.reshape(w.shape), top


POW2 = Quantizer(
    name="pow2", label="power of two × scale",
    formula=(r"\hat w = \operatorname{sign}(w)\, s\, 2^{-k},\quad s = \max|w| \text{ (a float32 scale)},\quad "
             r"k = \operatorname{arg\,min}_{k \in \{0..2^{b-1}-2\}} \left| |w| - s\,2^{-k} \right|"
             r"\ \text{(or 0 below } s\,2^{-(2^{b-1}-2)}/2\text{; ties to the smaller)}"),
    help=("Powers of two times a scale: 0 and ±s·2^-k with s = max|w| per tensor or channel (a float32, "
          "not a power of two), nearest level. Each multiply becomes a shift, but every output is then "
          "multiplied once by s; INQ's grid (inq) has no scale."),
    energy_op="shift-scale", zero_code=True,
    kernel=_pow2_kernel, grid=_table_grid(_signed_table(pow2_ratios)), side_bits=_one_scale_per_group,
)

INQ = Quantizer(
    name="inq", label="power of two (INQ)",
    formula=(r"\hat w = \begin{cases} \beta\,\operatorname{sign}(w) & \tfrac{\alpha+\beta}{2} \le |w| < "
             r"\tfrac{3\beta}{2}\\ 0 & \text{otherwise}\end{cases},\quad \alpha < \beta \text{ adjacent in } "
             r"\{0, 2^{n_2}, \dots, 2^{n_1}\},\quad n_1 = \left\lfloor \log_2 \tfrac{4\max|w|}{3} \right\rfloor,\ "
             r"n_2 = n_1 + 1 - 2^{b-1}/2"),
    help=("INQ's grid (Zhou et al. 2017, eq. 4): 0 and ±2^n for 2^(b-2) exponents below n1 = "
          "floor(log2(4·max|w|/3)), per tensor or channel, ties to the larger magnitude. Every level is a "
          "power of two: a multiply becomes a shift, with no scale applied afterwards."),
    energy_op="shift", zero_code=True,
    kernel=_inq_kernel, grid=_table_grid(_signed_table(inq_ratios)), side_bits=_one_scale_per_group,
)


# -----------------------------------------------------------------------------
# float (no quantization, 32 bits)


def _float_kernel(w: Tensor, bits: int, scheme: str, per_channel: bool) -> tuple[Tensor, Tensor]:
    return w, torch.empty(0)


FLOAT = Quantizer(
    name="float", label="float32",
    formula=r"\hat w = w",
    help="No quantization: 32-bit floating-point weights and float multiply-accumulate.",
    energy_op="float", zero_code=True, choice=False, code_bits=lambda bits: FLOAT_BITS,
    kernel=_float_kernel, grid=lambda side, bits, scheme, per_channel, channels: Grid(),
    side_bits=lambda bits, scheme, per_channel, channels, entries: 0,
)


# -----------------------------------------------------------------------------
# the registry


def _registry(*records: Quantizer) -> dict[str, Quantizer]:
    return {r.name: r for r in records}


RECORDS: dict[str, Quantizer] = _registry(UNIFORM, KMEANS, POW2, INQ, TERNARY, BINARY, FLOAT)
CHOICES: tuple[str, ...] = tuple(name for name, r in RECORDS.items() if r.choice)


def lookup(name: str) -> Quantizer:
    """The record by name; ValueError naming the known ones."""
    if name not in RECORDS:
        raise ValueError(f"unknown quantizer '{name}': known quantizers are {', '.join(RECORDS)}")
    return RECORDS[name]


def resolve(quantizer: str, bits: int) -> Quantizer:
    """The record that quantizes at this bit-width: float at 32 bits and up, binarization at 1 bit."""
    if bits >= FLOAT_BITS:
        return FLOAT
    if bits == 1:
        return BINARY
    return lookup(quantizer)
