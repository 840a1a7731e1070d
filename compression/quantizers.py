"""One record per weight quantizer: kernel, side-information cost, energy operation, label,
formula and help text in one place. The pipeline, the size model, the file codec, the energy
model and the pages read the record; none of them branches on a quantizer's name.

Adding a quantizer is a kernel and a record here, plus its own test; tests/test_quantizers.py
loops over every record (file round trip, file size = theoretical size within the header,
label, formula and help present).

At 1 bit every quantizer is binarization and at 32 bits none quantizes (`resolve`), so those
two are records too, though not user choices. The number formats (NF4, FP8, FP4, MXFP4,
NVFP4) have their own width: any bit-width below 32 runs them at it.

Granularity is a typed value (`PerTensor`, `PerChannel`, `PerGroup(g)`, as torchao spells
it): which weights share one scale. A group is g consecutive weights of one row along the
input dimension (a conv's row is in_channels x kh x kw); a row whose length is not a multiple
of g ends in a shorter group. Each record says which granularities it honours, or fixes its
own (MXFP4's blocks of 32 are the format).
"""
from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from compression import quantize

FLOAT_BITS = 32
EnergyOp = Literal["multiply", "shift", "shift-scale", "sign", "float", "fp16", "float-narrow"]
ENERGY_OPS = ("multiply", "shift", "shift-scale", "sign", "float", "fp16", "float-narrow")


# -----------------------------------------------------------------------------
# granularity


@dataclass(frozen=True)
class PerTensor:
    """One scale for the whole tensor."""
    word = "tensor"

    @property
    def label(self) -> str:
        return "per-tensor"


@dataclass(frozen=True)
class PerChannel:
    """One scale per output channel (row of the weight)."""
    word = "channel"

    @property
    def label(self) -> str:
        return "per-channel"


@dataclass(frozen=True)
class PerGroup:
    """One scale per `size` consecutive weights of a row, along the input dimension."""
    size: int
    word = "group"

    @property
    def label(self) -> str:
        return f"per-group g={self.size}"


Granularity = PerTensor | PerChannel | PerGroup
PER_TENSOR, PER_CHANNEL = PerTensor(), PerChannel()
GRANULARITIES = ("tensor", "channel", "group")
GROUP_SIZES = (16, 32, 64, 128)


def granularity(word: str, group_size: int = 128) -> Granularity:
    """The typed value of a config's words ('tensor', 'channel', 'group' with g)."""
    if word == "group":
        return PerGroup(group_size)
    return PER_CHANNEL if word == "channel" else PER_TENSOR


def _as_granularity(g: Granularity | bool) -> Granularity:
    """Old callers pass per_channel as a bool: True is per channel, False per tensor."""
    if isinstance(g, bool):
        return PER_CHANNEL if g else PER_TENSOR
    return g


def group_count(g: Granularity, rows: int, columns: int) -> int:
    """How many scales a (rows, columns) weight has at this granularity."""
    if isinstance(g, PerGroup):
        return rows * math.ceil(columns / g.size)
    return rows if isinstance(g, PerChannel) else 1


def group_index(g: Granularity, positions: Tensor, columns: int) -> Tensor:
    """The group (scale) of each flattened weight position, in `blocks` order."""
    if isinstance(g, PerGroup):
        per_row = math.ceil(columns / g.size)
        return (positions // columns) * per_row + (positions % columns) // g.size
    if isinstance(g, PerChannel):
        return positions // max(1, columns)
    return torch.zeros_like(positions)


def blocks(w: Tensor, g: Granularity) -> tuple[Tensor, Callable[[Tensor], Tensor]]:
    """w as (groups, elements): one row per scale, zero-padded; and the map back to w's shape.

    Zero padding changes no group's max|w| nor its range (the range always holds 0), so every
    kernel below can compute per row of this matrix.
    """
    rows = w.shape[0] if w.dim() else 1
    flat = w.reshape(rows, -1)
    if isinstance(g, PerTensor):
        return w.reshape(1, -1), lambda b: b.reshape(w.shape)
    if isinstance(g, PerChannel):
        return flat, lambda b: b.reshape(w.shape)
    cols = flat.shape[1]
    per_row = math.ceil(cols / g.size)
    padded = torch.nn.functional.pad(flat, (0, per_row * g.size - cols))
    return padded.reshape(rows * per_row, g.size), lambda b: b.reshape(rows, per_row * g.size)[:, :cols].reshape(w.shape)


# -----------------------------------------------------------------------------
# how side information is stored: (count, dtype) segments of the codec's float32 `side`

SIDE_DTYPES = {"float32": 32, "float16": 16, "e4m3": 8, "e8m0": 8}


def float16_scale(s: Tensor) -> Tensor:
    """A per-channel scale as the file stores it: float16's normal range, rounded to float16 (float32 values).

    AWQ and SmoothQuant divide a layer's weights by such an s; rounding s first makes the
    layer's weights and the file's decoded weights the same float32 numbers.
    """
    return s.float().clamp(2.0 ** -14, 65504.0).half().float()
SideLayout = tuple[tuple[int, str], ...]


def side_to_bytes(side: Tensor, layout: SideLayout) -> bytes:
    """The side information in its stored dtypes (values are exactly representable in them)."""
    out, start = [], 0
    for count, dtype in layout:
        part = side[start:start + count].float()
        start += count
        if dtype == "float32":
            out.append(part.numpy().tobytes())
        elif dtype == "float16":
            out.append(part.half().numpy().tobytes())
        elif dtype == "e4m3":
            out.append(part.to(torch.float8_e4m3fn).view(torch.uint8).numpy().tobytes())
        else:  # e8m0: the biased exponent byte itself (the side holds it as a float)
            out.append(part.to(torch.uint8).numpy().tobytes())
    return b"".join(out)


def side_from_bytes(blob: bytes, layout: SideLayout) -> Tensor:
    """`side_to_bytes` inverted, back to one float32 tensor."""
    parts, offset = [], 0
    for count, dtype in layout:
        n = count * SIDE_DTYPES[dtype] // 8
        raw = np.frombuffer(blob[offset:offset + n], dtype=np.uint8).copy()
        offset += n
        t = torch.from_numpy(raw)
        if dtype == "float32":
            parts.append(t.view(torch.float32))
        elif dtype == "float16":
            parts.append(t.view(torch.float16).float())
        elif dtype == "e4m3":
            parts.append(t.view(torch.float8_e4m3fn).float())
        else:
            parts.append(t.float())
    return torch.cat(parts) if parts else torch.empty(0)


# -----------------------------------------------------------------------------
# decoding: codes in [0, 2**bits) back to values


@dataclass(frozen=True, eq=False)
class Grid:
    """The values codes decode to: an affine grid (scale, zero point), a lookup table, or a
    shared table of elements times a scale per group (the number formats)."""
    scale: Tensor | None = None        # affine / scaled table: () per tensor or (groups,)
    zero_point: Tensor | None = None
    qmin: int = 0
    qmax: int = 0
    table: Tensor | None = None        # table: (k,) shared or (groups, k); with scale: the elements

    def encode(self, values: Tensor, groups: Tensor) -> np.ndarray:
        """Codes in [0, 2**bits) of already-quantized `values` sitting in scale groups `groups`."""
        if self.table is None:
            scale, zp = _rowwise(self._scale, groups), _rowwise(self._zero_point, groups)
            return (torch.round(values * (1.0 / scale)) + zp - self.qmin).long().numpy()
        if self.scale is not None:
            # elements times a scale: values / scale sits on an element to within an ulp, far
            # from any midpoint, so the nearest element is the one the kernel chose
            s = _rowwise(self.scale, groups)
            x = torch.where(s != 0, values / torch.where(s != 0, s, torch.ones_like(s)), torch.zeros_like(values))
            return _nearest(self.table, x)
        if self.table.dim() == 1:
            return _nearest(self.table, values)
        return (values.unsqueeze(1) - self._tables(groups)).abs().argmin(1).numpy()

    def decode(self, codes: np.ndarray, groups: Tensor) -> Tensor:
        codes_t = torch.from_numpy(codes.astype(np.int64))
        if self.table is None:
            scale, zp = _rowwise(self._scale, groups), _rowwise(self._zero_point, groups)
            return ((codes_t + self.qmin - zp).float() * scale).float()
        if self.scale is not None:  # the kernel's own float32 product: element * scale
            return self.table[codes_t] * _rowwise(self.scale, groups)
        return self._tables(groups).gather(1, codes_t.unsqueeze(1)).squeeze(1)

    def levels(self) -> Tensor:
        """Every value a code can take: (k,) for one grid, (groups, k) for one per group."""
        if self.table is not None and self.scale is not None:
            return self.scale.unsqueeze(-1) * self.table
        if self.table is not None:
            return self.table
        q = torch.arange(self.qmin, self.qmax + 1, dtype=torch.float32)
        # the same float32 arithmetic as fake_quantize's dequantization, so values match exactly
        return (q - self._zero_point.unsqueeze(-1)) * self._scale.unsqueeze(-1)

    def _tables(self, groups: Tensor) -> Tensor:
        """The lookup table each value uses: its group's own or the shared one."""
        table = self.table
        assert table is not None  # a table grid
        if table.dim() == 2:
            return table[groups]
        return table.unsqueeze(0).expand(len(groups), -1)

    @property
    def _scale(self) -> Tensor:
        assert self.scale is not None  # an affine grid
        return self.scale

    @property
    def _zero_point(self) -> Tensor:
        assert self.zero_point is not None  # an affine grid
        return self.zero_point


def _nearest(table: Tensor, values: Tensor) -> np.ndarray:
    """Index of the nearest entry of a shared table, by binary search over sorted midpoints (O(n log k))."""
    order = torch.argsort(table)
    ordered = table[order]
    return order[torch.searchsorted((ordered[1:] + ordered[:-1]) / 2, values.to(ordered.dtype))].numpy()


def _rowwise(t: Tensor, groups: Tensor) -> Tensor:
    return t[groups] if t.dim() == 1 else t.expand(groups.shape)


@dataclass(frozen=True, eq=False)
class Codec:
    """How one layer's codes are stored and decoded: which quantizer, code bits, granularity, side information.

    `side` is the side information as float32 values, stored in the record's dtypes
    (`side_layout`): what the size model charges, so file and theory count the same things.
    """
    quantizer: str
    bits: int                  # bits per stored code
    scheme: str
    granularity: Granularity
    channels: int              # rows of the weight (output channels)
    columns: int               # weights per row (the input dimension, kernel taps included)
    side: Tensor
    # AWQ / SmoothQuant: the codes are those of W·diag(s) and the layer holds Q(W·diag s)·diag(s)⁻¹;
    # each s is one float16 value per input channel (a conv's kernel taps share their channel's),
    # stored beside the side information so the file decodes to exactly the weights that were
    # scored. Divided out in this order (AWQ's inside SmoothQuant's when both ran).
    column_scales: tuple[Tensor, ...] = ()

    @property
    def record(self) -> Quantizer:
        return lookup(self.quantizer)

    @property
    def per_channel(self) -> bool:
        return isinstance(self.granularity, PerChannel)

    @property
    def is_float(self) -> bool:
        return self.bits >= FLOAT_BITS

    @property
    def zero_code(self) -> bool:
        """Some code decodes to exactly 0 (else zeros are stored only through a bitmask or index)."""
        return self.record.zero_code

    @property
    def side_layout(self) -> SideLayout:
        return self.record.side_layout(self.scheme, self.granularity, self.side.numel())

    @property
    def side_bits(self) -> int:
        """Theoretical side-information bits: every stored side value at its dtype's width (and s, float16)."""
        scale_bits = sum(s.numel() for s in self.column_scales) * SIDE_DTYPES["float16"]
        return sum(count * SIDE_DTYPES[dtype] for count, dtype in self.side_layout) + scale_bits

    def with_column_scale(self, s: Tensor) -> Codec:
        """This codec after its layer's weights were divided by s (per input channel, float16-exact)."""
        return dataclasses.replace(self, column_scales=(*self.column_scales, s.detach().float().clone()))

    def _per_position(self, s: Tensor, positions: Tensor) -> Tensor:
        per_column = s.float().repeat_interleave(max(1, self.columns // max(1, s.numel())))
        return per_column[positions % self.columns]

    @property
    def bits_per_weight(self) -> float:
        """Code bits plus side information per weight (dense): INT4 g128 with fp16 scales is 4.125."""
        n = self.channels * self.columns
        return float(self.bits) + (self.side_bits / n if n else 0.0)

    def groups(self, positions: Tensor) -> Tensor:
        return group_index(self.granularity, positions, self.columns)

    @functools.cached_property
    def grid(self) -> Grid:
        return self.record.grid(self.side, self.bits, self.scheme, self.granularity)

    def encode(self, values: Tensor, positions: Tensor) -> np.ndarray:
        """Codes of already-quantized `values` at flattened weight `positions`."""
        for s in reversed(self.column_scales):  # back on the grid of W·diag(s): within an ulp of a level
            values = values * self._per_position(s, positions)
        return self.grid.encode(values, self.groups(positions))

    def decode(self, codes: np.ndarray, positions: Tensor) -> Tensor:
        values = self.grid.decode(codes, self.groups(positions))
        for s in self.column_scales:  # the same float32 divisions the layer's weights went through
            values = values / self._per_position(s, positions)
        return values

    def levels(self) -> Tensor:
        return self.grid.levels()


FLOAT_CODEC = Codec("float", FLOAT_BITS, "symmetric", PER_TENSOR, 0, 0, torch.empty(0))


USED_CHUNK = 2 ** 20  # weights encoded per step when counting the codes used


def codes_used(codec: Codec, w_q: Tensor, before: Tensor) -> int:
    """Distinct codes the kept (non-zero before) weights use, encoded a step at a time: at once,
    SmolLM2's LM head (28 M weights) took 1.4 GB of temporaries for a count below 2^bits, and its
    kept positions alone 0.23 GB."""
    kept, flat = before.detach().flatten(), w_q.detach().flatten()
    used: set[int] = set()
    for i in range(0, kept.numel(), USED_CHUNK):  # the kept positions a slice at a time, too (int64: 8 B each)
        p = torch.nonzero(kept[i:i + USED_CHUNK]).flatten() + i
        used.update(np.unique(codec.encode(flat[p].float(), p)).tolist())
    return len(used)


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

    def without_before(self) -> Quantized:
        """The same record without its copy of the weights, for a caller that reads no error
        statistics (a language model's evaluation: SmolLM2's copy is 0.5 GB)."""
        return Quantized(self.codec, _NO_WEIGHTS, self.codes_used)


_NO_WEIGHTS = torch.empty(0)


# -----------------------------------------------------------------------------
# the record


Kernel = Callable[[Tensor, int, str, Granularity], tuple[Tensor, Tensor]]   # (w, bits, scheme, grain) -> (w_q, side)
GridFn = Callable[[Tensor, int, str, Granularity], Grid]                     # (side, bits, scheme, grain)
SideLayoutFn = Callable[[str, Granularity, int], SideLayout]                 # (scheme, grain, side entries)


def _same_bits(bits: int) -> int:
    return bits


def _no_note(bits: int, scheme: str) -> str | None:
    return None


def _all_float32(scheme: str, g: Granularity, entries: int) -> SideLayout:
    return ((entries, "float32"),) if entries else ()


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
    side_layout: SideLayoutFn = _all_float32   # how the side values are stored (and charged)
    code_bits: Callable[[int], int] = _same_bits  # bits per stored code at a requested bit-width
    granularities: tuple[str, ...] = ("tensor", "channel")  # the granularities it honours
    fixed: Granularity | None = None   # the format's own blocks, whatever was asked (MXFP4: 32)
    width: int | None = None   # a number format's own bit-width: any bits < 32 run it at this width
    choice: bool = True        # offered as config.quantizer (binary and float follow from bits)
    note: Callable[[int, str], str | None] = _no_note  # (bits, scheme) -> a surprise explained, or None
    scale_dtype: str = "float32"  # what one scale costs, said on the page (per group: see side_layout)

    def grain(self, asked: Granularity | bool) -> Granularity:
        """The granularity this record really runs when `asked` is requested.

        A record that cannot do groups runs per channel (the nearest it has), one that cannot
        do channels per tensor; a format with its own blocks runs them.
        """
        asked = _as_granularity(asked)
        if self.fixed is not None:
            return self.fixed
        if asked.word in self.granularities:
            return asked
        return PER_CHANNEL if "channel" in self.granularities and isinstance(asked, PerGroup) else PER_TENSOR

    def quantize(self, w: Tensor, bits: int, scheme: str = "symmetric",
                 granularity: Granularity | bool = PER_TENSOR) -> tuple[Tensor, Quantized]:
        """(quantized weights, how) for one weight tensor; zeros (pruned weights) stay exactly 0."""
        g = self.grain(granularity)
        before = w.detach().clone()
        w_q, side = self.kernel(before, bits, scheme, g)
        columns = max(1, w[0].numel()) if w.dim() > 1 else max(1, w.numel())
        channels = w.shape[0] if w.dim() > 1 else 1
        codec = Codec(self.name, self.code_bits(bits), scheme, g, channels, columns,
                      side.detach().float().flatten())
        return w_q.to(w.dtype), Quantized(codec, before, codes_used(codec, w_q, before))

    def fake(self, w: Tensor, bits: int, scheme: str = "symmetric", granularity: Granularity | bool = PER_TENSOR) -> Tensor:
        """The quantized weights only (no bookkeeping): for quantization-aware training."""
        with torch.no_grad():
            return self.kernel(w.detach(), bits, scheme, self.grain(granularity))[0].to(w.dtype)


def _per_channel(g: Granularity) -> bool:
    return isinstance(g, PerChannel)


def _per_group(side: Tensor, g: Granularity) -> Tensor:
    """One value per group (row, group) or a 0-dim tensor (per tensor)."""
    return side.reshape(()) if isinstance(g, PerTensor) else side


def _table_grid(build: Callable[[Tensor, int], Tensor]) -> GridFn:
    """A lookup-table grid from one scale per group: build(scales, bits) -> (groups, k) table."""
    def grid(side: Tensor, bits: int, scheme: str, g: Granularity) -> Grid:
        table = build(side.reshape(-1), bits)
        return Grid(table=table if not isinstance(g, PerTensor) else table[0])
    return grid


def _scale16(scale: Tensor) -> Tensor:
    """A scale rounded to float16, as it is stored per group (4.125 bits per weight at INT4 g128).

    Kept within float16's positive range, so a tiny group's scale does not round to 0.
    """
    return scale.clamp(2.0**-24, 65504.0).half().float()


# -----------------------------------------------------------------------------
# uniform (affine) grid


def _uniform_kernel(w: Tensor, bits: int, scheme: str, g: Granularity) -> tuple[Tensor, Tensor]:
    if isinstance(g, PerGroup):
        return _uniform_groups(w, bits, scheme, g)
    per_channel = _per_channel(g)
    scale, zp, _, _ = quantize.quant_params(w, bits, scheme, per_channel, 0)
    w_q = quantize.fake_quantize(w, bits, scheme, per_channel, axis=0)
    # a symmetric grid's zero point is always 0: not stored, not charged
    side = scale.reshape(-1) if scheme == "symmetric" else torch.cat([scale.reshape(-1), zp.reshape(-1).float()])
    return w_q, side


def _uniform_groups(w: Tensor, bits: int, scheme: str, g: PerGroup) -> tuple[Tensor, Tensor]:
    """Group-wise INT-b (GPTQ / AWQ practice): one float16 scale (and zero point) per g weights of a row.

    The scale is rounded to float16 before the weights are rounded with it, so the file's
    float16 scales decode to exactly these values; the arithmetic per group is
    torch.fake_quantize_per_channel_affine's on the (groups, g) matrix.
    """
    b, back = blocks(w.float(), g)
    scale, zp, qmin, qmax = quantize.quant_params(b, bits, scheme, per_channel=True, axis=0)
    scale = _scale16(scale)
    if scheme == "asymmetric":
        zp = torch.round(-b.amin(1).clamp(max=0) / scale).clamp(qmin, qmax).to(torch.int32)
    q = quantize.affine_rows(b, scale, zp, qmin, qmax)
    side = scale if scheme == "symmetric" else torch.cat([scale, zp.float()])
    return back(q).to(w.dtype), side


def _uniform_grid(side: Tensor, bits: int, scheme: str, g: Granularity) -> Grid:
    n = side.numel() // (2 if scheme == "asymmetric" else 1)
    scale = side[:n]
    zp = side[n:2 * n].to(torch.int32) if scheme == "asymmetric" else torch.zeros(n, dtype=torch.int32)
    qmin, qmax = quantize.qrange(bits, scheme)
    return Grid(scale=_per_group(scale, g), zero_point=_per_group(zp, g), qmin=qmin, qmax=qmax)


def _uniform_side(scheme: str, g: Granularity, entries: int) -> SideLayout:
    # per group: float16 scales and zero points (4 + 16/128 = 4.125 bits per weight at INT4 g128,
    # + 16/128 more asymmetric), as GPTQ and AWQ store them; per tensor / channel: float32
    return ((entries, "float16" if isinstance(g, PerGroup) else "float32"),)


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
    help=("Evenly spaced levels: scale s from the range of the weights (per tensor, per output "
          "channel, or per group of g weights along the input with float16 scales), codes are "
          "rounded w/s. Integer multiply-accumulate on b-bit codes."),
    energy_op="multiply", zero_code=True, granularities=GRANULARITIES,
    kernel=_uniform_kernel, grid=_uniform_grid, side_layout=_uniform_side, note=_uniform_note,
    scale_dtype="float32 (float16 per group)",
)


# -----------------------------------------------------------------------------
# k-means weight sharing (Deep Compression, Han et al. 2016)


def _kmeans_kernel(w: Tensor, bits: int, scheme: str, g: Granularity) -> tuple[Tensor, Tensor]:
    # A pruned layer gives code 0 to the value zero (needed for CSR filler entries), so k-means
    # shares the remaining 2**bits - 1 codes among the kept weights.
    has_zeros = bool((w == 0).any())
    k = 2**bits - 1 if has_zeros else 2**bits
    w_q, centroids = quantize.kmeans_quantize(w, bits, mask=w != 0, k=k)
    table = torch.cat([torch.zeros(1, dtype=centroids.dtype), centroids]) if has_zeros else centroids
    return w_q, table


def _kmeans_grid(side: Tensor, bits: int, scheme: str, g: Granularity) -> Grid:
    return Grid(table=side)


KMEANS = Quantizer(
    name="kmeans", label="k-means",
    formula=r"\min_{c_1..c_k} \sum_i \min_j (w_i - c_j)^2,\qquad \hat w_i = c_{j(i)},\quad k = 2^b",
    help=("k-means weight sharing (Deep Compression, Han et al. 2016): 2^b shared values c_j per "
          "layer, linear initialisation, Lloyd to convergence; codes index a float code book."),
    energy_op="multiply", zero_code=True, granularities=("tensor",),
    # the side is the table it actually has: at most 2**bits float32 entries, fewer when the
    # layer has fewer distinct kept weights (as at 12 or 16 bits)
    kernel=_kmeans_kernel, grid=_kmeans_grid,
)


# -----------------------------------------------------------------------------
# binarization (1 bit, whatever quantizer was asked)


def _binary_kernel(w: Tensor, bits: int, scheme: str, g: Granularity) -> tuple[Tensor, Tensor]:
    per_channel = _per_channel(g)
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


def _ternary_kernel(w: Tensor, bits: int, scheme: str, g: Granularity) -> tuple[Tensor, Tensor]:
    per_channel = _per_channel(g)
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


def _pow2_kernel(w: Tensor, bits: int, scheme: str, g: Granularity) -> tuple[Tensor, Tensor]:
    per_channel = _per_channel(g)
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


def _inq_kernel(w: Tensor, bits: int, scheme: str, g: Granularity) -> tuple[Tensor, Tensor]:
    """INQ's quantizer (Zhou et al. 2017, eq. 4): levels 0, ±2**n2 .. ±2**n1, n1 = floor(log2(4 max|w| / 3)).

    Eq. 4 maps |w| to beta when (alpha + beta) / 2 <= |w| < 3 beta / 2 for adjacent levels
    alpha < beta, so a tie goes to the larger magnitude, and |w| < 2**n2 / 2 to zero. n1 puts
    max|w| below 3/2 * 2**n1, so nothing lies above the top bucket. The side value stored per
    group is 2**n1 itself, a power of two: no multiply by a scale follows the shifts.
    """
    per_channel = _per_channel(g)
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
    kernel=_pow2_kernel, grid=_table_grid(_signed_table(pow2_ratios)),
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
    kernel=_inq_kernel, grid=_table_grid(_signed_table(inq_ratios)),
)


# -----------------------------------------------------------------------------
# float (no quantization, 32 bits)


def _float_kernel(w: Tensor, bits: int, scheme: str, g: Granularity) -> tuple[Tensor, Tensor]:
    return w, torch.empty(0)


FLOAT = Quantizer(
    name="float", label="float32",
    formula=r"\hat w = w",
    help="No quantization: 32-bit floating-point weights and float multiply-accumulate.",
    energy_op="float", zero_code=True, choice=False, code_bits=lambda bits: FLOAT_BITS,
    kernel=_float_kernel, grid=lambda side, bits, scheme, g: Grid(),
)


# -----------------------------------------------------------------------------
# number formats: a shared set of elements times a scale per group. The kernel computes
# element * scale in float32 and the grid decodes with the same product, so the file's
# codes give back exactly the kernel's values.

# QLoRA's NormalFloat4 (Dettmers et al. 2023, arXiv:2305.14314, Appendix E; the same table
# ships in bitsandbytes): quantiles of N(0, 1) scaled to [-1, 1], with an exact zero
NF4_VALUES = torch.tensor([
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
    -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
    0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
    0.7229568362236023, 1.0], dtype=torch.float32)
NF4_BLOCK = 64          # QLoRA's block size for the absmax scale
MX_BLOCK = 32           # OCP Microscaling Formats v1.0: elements per shared scale
MX_EMAX_E2M1 = 2        # the largest power of two of an E2M1 element (6 = 1.5 x 2**2)
NV_BLOCK = 16           # NVFP4: elements per E4M3 block scale
# FP4 E2M1 magnitudes (OCP MX v1.0, section 5.3.3): 2 exponent bits, 1 mantissa bit, no inf/NaN
E2M1_MAGNITUDES = torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])
E2M1_MAX = 6.0
E4M3_MAX = 448.0        # torch.float8_e4m3fn: no infinity, NaN only (Micikevicius et al. 2022, arXiv:2209.05433)
E5M2_MAX = 57344.0


def _signed(magnitudes: Tensor) -> Tensor:
    return torch.cat([-magnitudes.flip(0)[:-1], magnitudes])


def _fp8_elements(dtype: torch.dtype) -> Tensor:
    """Every finite value of an 8-bit float type, sorted, one zero (+0 and -0 are one value)."""
    v = torch.arange(256, dtype=torch.int32).to(torch.uint8).view(dtype).float()
    return torch.unique(v[torch.isfinite(v)])


E2M1_ELEMENTS = _signed(E2M1_MAGNITUDES)
E4M3_ELEMENTS = _fp8_elements(torch.float8_e4m3fn)
E5M2_ELEMENTS = _fp8_elements(torch.float8_e5m2)


def round_e2m1(x: Tensor) -> Tensor:
    """x rounded to the nearest FP4 E2M1 value, ties to the even mantissa, saturating at ±6 (OCP MX v1.0)."""
    a = x.abs().clamp(max=E2M1_MAX)
    mids = (E2M1_MAGNITUDES[1:] + E2M1_MAGNITUDES[:-1]) / 2
    i = torch.bucketize(a, mids)  # a on a midpoint gets the lower neighbour ...
    tie = a == mids[i.clamp(max=len(mids) - 1)]
    # ... and a tie goes to the even mantissa: the magnitudes alternate m = 0, 1, 0, 1, ...
    i = torch.where(tie & (i % 2 == 1), i + 1, i)
    return torch.sign(x) * E2M1_MAGNITUDES[i]


def _round_nf4(x: Tensor) -> Tensor:
    """Nearest NF4 value of x in [-1, 1] (midpoint thresholds, as bitsandbytes' decision tree)."""
    return NF4_VALUES[torch.searchsorted((NF4_VALUES[1:] + NF4_VALUES[:-1]) / 2, x.contiguous())]


def _fp8(dtype: torch.dtype, top: float) -> Callable[[Tensor], Tensor]:
    def cast(x: Tensor) -> Tensor:
        # saturate first: torch's cast turns values past the top into NaN (e4m3fn) or inf (e5m2)
        return x.clamp(-top, top).to(dtype).float()
    return cast


def _on_elements(b: Tensor, s: Tensor, rounding: Callable[[Tensor], Tensor]) -> Tensor:
    """element(b / s) * s per row of blocks b, s one scale per row; a zero scale gives zeros."""
    s = s.reshape(-1, 1)
    safe = torch.where(s != 0, s, torch.ones_like(s))
    return rounding(torch.where(s != 0, b / safe, torch.zeros_like(b))) * s


def _amax_kernel(top: float, rounding: Callable[[Tensor], Tensor]) -> Kernel:
    """Scale = max|w| / top per group (float32; float16 per group of g), then each weight rounded to an element."""
    def kernel(w: Tensor, bits: int, scheme: str, g: Granularity) -> tuple[Tensor, Tensor]:
        b, back = blocks(w.float(), g)
        s = b.abs().amax(1) / top
        s = _scale16(s) if isinstance(g, PerGroup) else s
        s = torch.where(b.abs().amax(1) > 0, s, torch.zeros_like(s))
        return back(_on_elements(b, s, rounding)).to(w.dtype), s
    return kernel


def _scaled_grid(elements: Tensor) -> GridFn:
    def grid(side: Tensor, bits: int, scheme: str, g: Granularity) -> Grid:
        return Grid(table=elements, scale=_per_group(side, g))
    return grid


def _amax_side(scheme: str, g: Granularity, entries: int) -> SideLayout:
    return ((entries, "float16" if isinstance(g, PerGroup) else "float32"),)


def _nf4_kernel(w: Tensor, bits: int, scheme: str, g: Granularity) -> tuple[Tensor, Tensor]:
    b, back = blocks(w.float(), g)
    s = b.abs().amax(1)  # absmax per block, stored float32 (QLoRA's double quantization not applied)
    return back(_on_elements(b, s, _round_nf4)).to(w.dtype), s


def _mx_exponents(amax: Tensor) -> Tensor:
    """OCP MX v1.0, section 6.3: shared exponent floor(log2(amax)) - emax_elem, clamped to E8M0's range.

    frexp gives amax = m * 2**e with m in [0.5, 1), so floor(log2(amax)) = e - 1 exactly
    (no float log2 rounding); an all-zero block gets the smallest scale.
    """
    _, e = torch.frexp(amax)
    x = (e - 1 - MX_EMAX_E2M1).clamp(-127, 127)
    return torch.where(amax > 0, x, torch.full_like(x, -127))


def _mx_scale(biased: Tensor) -> Tensor:
    """E8M0 byte (exponent + 127) to its power of two, exactly."""
    return torch.ldexp(torch.ones_like(biased), biased - 127)


def _mxfp4_kernel(w: Tensor, bits: int, scheme: str, g: Granularity) -> tuple[Tensor, Tensor]:
    b, back = blocks(w.float(), PerGroup(MX_BLOCK))
    biased = (_mx_exponents(b.abs().amax(1)) + 127).float()
    # dividing by a power of two is exact, so the only rounding is E2M1's (ties to even, saturating)
    return back(_on_elements(b, _mx_scale(biased), round_e2m1)).to(w.dtype), biased


def _mxfp4_grid(side: Tensor, bits: int, scheme: str, g: Granularity) -> Grid:
    return Grid(table=E2M1_ELEMENTS, scale=_mx_scale(side))


def _nv_scales(side: Tensor) -> Tensor:
    """Each block's effective scale: its E4M3 scale times the float32 tensor scale (one float32 product)."""
    return side[:-1] * side[-1]


def _nvfp4_kernel(w: Tensor, bits: int, scheme: str, g: Granularity) -> tuple[Tensor, Tensor]:
    b, back = blocks(w.float(), PerGroup(NV_BLOCK))
    # the recipe of NVIDIA's Model Optimizer / Transformer Engine: a tensor scale that maps the
    # tensor's max|w| to the largest product of an E4M3 scale (448) and an E2M1 element (6)
    amax = b.abs().amax()
    ts = amax / (E2M1_MAX * E4M3_MAX) if float(amax) > 0 else torch.tensor(1.0)
    bs = (b.abs().amax(1) / (E2M1_MAX * ts)).clamp(max=E4M3_MAX).to(torch.float8_e4m3fn).float()
    side = torch.cat([bs, ts.reshape(1).float()])
    return back(_on_elements(b, _nv_scales(side), round_e2m1)).to(w.dtype), side


def _nvfp4_grid(side: Tensor, bits: int, scheme: str, g: Granularity) -> Grid:
    return Grid(table=E2M1_ELEMENTS, scale=_nv_scales(side))


def _four(bits: int) -> int:
    return 4


def _eight(bits: int) -> int:
    return 8


NF4 = Quantizer(
    name="nf4", label="NF4",
    formula=(r"s = \max_{\text{block of }64}|w|,\quad \hat w = s\, q_{j},\quad "
             r"j = \operatorname{arg\,min}_j \left|\tfrac{w}{s} - q_j\right|,\quad q \in \text{NF4's 16 values}"),
    help=("NormalFloat4 (QLoRA, Dettmers et al. 2023): 16 levels at quantiles of a normal "
          "distribution, scaled by the absmax of each block of 64 weights (float32, 4.5 bits per "
          "weight). Decoded to 16-bit floats before the multiply."),
    energy_op="fp16", zero_code=True, width=4, code_bits=_four, fixed=PerGroup(NF4_BLOCK),
    kernel=_nf4_kernel, grid=_scaled_grid(NF4_VALUES), scale_dtype="float32 absmax per block of 64",
)

FP8_E4M3 = Quantizer(
    name="fp8-e4m3", label="FP8 E4M3",
    formula=r"s = \frac{\max|w|}{448},\quad \hat w = s\cdot\operatorname{fp8_{E4M3}}\!\left(\operatorname{clamp}\tfrac{w}{s}\right)",
    help=("8-bit float, 4 exponent and 3 mantissa bits (Micikevicius et al. 2022), max 448, "
          "round to nearest even; one scale per tensor, channel or group (float16 per group)."),
    energy_op="float-narrow", zero_code=True, width=8, code_bits=_eight, granularities=GRANULARITIES,
    kernel=_amax_kernel(E4M3_MAX, _fp8(torch.float8_e4m3fn, E4M3_MAX)), grid=_scaled_grid(E4M3_ELEMENTS),
    side_layout=_amax_side, scale_dtype="float32 (float16 per group)",
)

FP8_E5M2 = Quantizer(
    name="fp8-e5m2", label="FP8 E5M2",
    formula=r"s = \frac{\max|w|}{57344},\quad \hat w = s\cdot\operatorname{fp8_{E5M2}}\!\left(\operatorname{clamp}\tfrac{w}{s}\right)",
    help=("8-bit float, 5 exponent and 2 mantissa bits (Micikevicius et al. 2022), max 57344: "
          "more range, less precision than E4M3; one scale per tensor, channel or group."),
    energy_op="float-narrow", zero_code=True, width=8, code_bits=_eight, granularities=GRANULARITIES,
    kernel=_amax_kernel(E5M2_MAX, _fp8(torch.float8_e5m2, E5M2_MAX)), grid=_scaled_grid(E5M2_ELEMENTS),
    side_layout=_amax_side, scale_dtype="float32 (float16 per group)",
)

FP4_E2M1 = Quantizer(
    name="fp4-e2m1", label="FP4 E2M1",
    formula=(r"s = \frac{\max|w|}{6},\quad \hat w = s\cdot\operatorname{rne}_{\{0,\pm0.5,\pm1,\pm1.5,\pm2,\pm3,\pm4,\pm6\}}"
             r"\!\left(\tfrac{w}{s}\right)"),
    help=("4-bit float E2M1: the values ±{0, 0.5, 1, 1.5, 2, 3, 4, 6}, nearest with ties to even, "
          "saturating; one scale per tensor, channel or group (float16 per group)."),
    energy_op="float-narrow", zero_code=True, width=4, code_bits=_four, granularities=GRANULARITIES,
    kernel=_amax_kernel(E2M1_MAX, round_e2m1), grid=_scaled_grid(E2M1_ELEMENTS),
    side_layout=_amax_side, scale_dtype="float32 (float16 per group)",
)

MXFP4 = Quantizer(
    name="mxfp4", label="MXFP4",
    formula=(r"X = 2^{\lfloor \log_2 \max_{32}|w| \rfloor - 2}\ (\text{E8M0}),\quad "
             r"\hat w = X\cdot\operatorname{rne}_{\text{E2M1}}\!\left(\tfrac{w}{X}\right)"),
    help=("OCP Microscaling MXFP4 (spec v1.0): blocks of 32 weights share a power-of-two scale "
          "(E8M0, 8 bits) and each weight is an E2M1 element: 4.25 bits per weight."),
    energy_op="float-narrow", zero_code=True, width=4, code_bits=_four, fixed=PerGroup(MX_BLOCK),
    kernel=_mxfp4_kernel, grid=_mxfp4_grid,
    side_layout=lambda scheme, g, entries: ((entries, "e8m0"),), scale_dtype="E8M0 per block of 32",
)

NVFP4 = Quantizer(
    name="nvfp4", label="NVFP4",
    formula=(r"t = \frac{\max|W|}{6\cdot448}\ (\text{fp32}),\quad s = \operatorname{e4m3}\!\left(\tfrac{\max_{16}|w|}{6t}\right),"
             r"\quad \hat w = s\,t\cdot\operatorname{rne}_{\text{E2M1}}\!\left(\tfrac{w}{s\,t}\right)"),
    help=("NVIDIA's NVFP4: blocks of 16 weights with an FP8 E4M3 scale, one float32 scale per "
          "tensor, E2M1 elements: 4.5 bits per weight."),
    energy_op="float-narrow", zero_code=True, width=4, code_bits=_four, fixed=PerGroup(NV_BLOCK),
    kernel=_nvfp4_kernel, grid=_nvfp4_grid,
    side_layout=lambda scheme, g, entries: ((entries - 1, "e4m3"), (1, "float32")),
    scale_dtype="E4M3 per block of 16 + one float32 per tensor",
)


# -----------------------------------------------------------------------------
# the registry


def _registry(*records: Quantizer) -> dict[str, Quantizer]:
    return {r.name: r for r in records}


RECORDS: dict[str, Quantizer] = _registry(UNIFORM, KMEANS, POW2, INQ, TERNARY, NF4, FP8_E4M3, FP8_E5M2,
                                           FP4_E2M1, MXFP4, NVFP4, BINARY, FLOAT)
CHOICES: tuple[str, ...] = tuple(name for name, r in RECORDS.items() if r.choice)


def lookup(name: str) -> Quantizer:
    """The record by name; ValueError naming the known ones."""
    if name not in RECORDS:
        raise ValueError(f"unknown quantizer '{name}': known quantizers are {', '.join(RECORDS)}")
    return RECORDS[name]


def resolve(quantizer: str, bits: int) -> Quantizer:
    """The record that quantizes at this bit-width: float at 32 bits and up, binarization at 1 bit.

    A number format (NF4, FP8, MXFP4 ...) has its own width: any bits below 32 run it.
    """
    if bits >= FLOAT_BITS:
        return FLOAT
    record = lookup(quantizer)
    if record.width is not None:
        return record
    return BINARY if bits == 1 else record
