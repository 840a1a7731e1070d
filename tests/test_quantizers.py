"""Every quantizer record, looped: file round trip, file size = theory within the header, texts.

Also the new kernels against hand computations: power-of-two levels (Miyashita et al. 2016,
INQ) and ternary weights (Li & Liu 2016, TWN eq. 5-6).
"""
import json
import math
import struct

import numpy as np
import pytest
import torch

from compression import config, downloads, export, models, pipeline, plan, quantizers
from compression.config import CompressionConfig


def _configs() -> list[CompressionConfig]:
    """Each user choice at 4 bits, per tensor and per channel, pruned and not; 1 bit for binary."""
    out = []
    for name in quantizers.CHOICES:
        out += [CompressionConfig(bits=4, quantizer=name),
                CompressionConfig(bits=3, quantizer=name, sparsity=0.8, per_channel=True)]
    out += [CompressionConfig(bits=4, scheme="asymmetric", sparsity=0.5),
            CompressionConfig(bits=1, per_channel=True, sparsity=0.7), CompressionConfig(bits=1),
            CompressionConfig(bits=8, layer_bits={"fc3": 32}),  # a float layer among quantized ones
            CompressionConfig(bits=4, granularity="group", group_size=32, sparsity=0.6),
            CompressionConfig(bits=3, scheme="asymmetric", granularity="group", group_size=16),
            CompressionConfig(bits=8, quantizer="fp8-e4m3", granularity="group", group_size=64, sparsity=0.5),
            CompressionConfig(bits=4, quantizer="fp4-e2m1", granularity="group", group_size=16, huffman=True),
            CompressionConfig(bits=4, quantizer="mxfp4", huffman=True, sparsity=0.9)]
    return out


def _header_bytes(blob: bytes) -> int:
    (n,) = struct.unpack("<I", blob[len(export.MAGIC):len(export.MAGIC) + 4])
    return len(export.MAGIC) + 4 + n


def test_every_record_round_trips_and_file_matches_theory(digits):
    base, ds = digits
    seen = set()
    for cfg in _configs():
        model, _, quant = pipeline.compress(base, ds, cfg)
        layers = models.layers(model)
        seen |= {q.codec.quantizer for q in quant.values()} | ({"float"} if len(quant) < len(layers) else set())
        layouts = plan.make(base, cfg).store(layers, quant)
        sizes = {n: lay.written for n, lay in layouts.items()}
        blob = downloads.file_of(model, layouts)
        state = export.from_bytes(blob)
        for name, tensor in model.state_dict().items():
            assert torch.equal(state[name], tensor), (cfg, name)
        # theory: codes, indices, side information and biases; plus other float params
        theory_bits = sum(s.total for s in sizes.values())
        body = len(blob) - _header_bytes(blob)
        # each layer's index and value blobs are padded to whole bytes: < 1 byte each
        assert 0 <= body - theory_bits / 8 < 2 * len(layers), cfg
        # the side information the file holds is what the record's cost formula charges
        for n, q in quant.items():
            assert len(quantizers.side_to_bytes(q.codec.side, q.codec.side_layout)) * 8 == q.codec.side_bits, (cfg, n)
            assert sizes[n].codebook == q.codec.side_bits
    assert seen == set(quantizers.RECORDS), f"records never exercised: {set(quantizers.RECORDS) - seen}"


@pytest.mark.parametrize("name", list(quantizers.RECORDS))
def test_every_record_has_texts_and_an_energy_operation(name):
    r = quantizers.RECORDS[name]
    assert r.label.strip() and r.formula.strip() and r.help.strip()
    assert r.energy_op in quantizers.ENERGY_OPS
    assert "\n" not in r.formula and "\x07" not in r.formula  # raw strings: no stray escapes


def test_config_offers_exactly_the_choosable_records():
    assert config.QUANTIZERS == tuple(n for n, r in quantizers.RECORDS.items() if r.choice)
    assert set(config.QUANTIZERS) == {"uniform", "kmeans", "pow2", "inq", "ternary", "nf4", "fp8-e4m3",
                                      "fp8-e5m2", "fp4-e2m1", "mxfp4", "nvfp4"}


def test_resolve_by_bits():
    assert quantizers.resolve("kmeans", 1) is quantizers.BINARY
    assert quantizers.resolve("pow2", 32) is quantizers.FLOAT
    assert quantizers.resolve("pow2", 4) is quantizers.POW2
    with pytest.raises(ValueError, match="unknown quantizer 'log'"):
        quantizers.resolve("log", 4)


def test_energy_operations():
    ops = {n: r.energy_op for n, r in quantizers.RECORDS.items()}
    # the scaled grid's levels are s * 2**-k with a float32 s: a multiply by s remains per output
    assert ops == {"uniform": "multiply", "kmeans": "multiply", "pow2": "shift-scale", "inq": "shift",
                   "ternary": "sign", "binary": "sign", "float": "float", "nf4": "fp16",
                   "fp8-e4m3": "float-narrow", "fp8-e5m2": "float-narrow", "fp4-e2m1": "float-narrow",
                   "mxfp4": "float-narrow", "nvfp4": "float-narrow"}


def test_codes_used_counts_distinct_codes(digits):
    base, ds = digits
    _, _, quant = pipeline.compress(base, ds, CompressionConfig(bits=2, quantizer="ternary"))
    for q in quant.values():
        assert q.codes_used == len(torch.unique(q.before.sign() * (q.before.abs() > 0.7 * q.before.abs().mean())))


# -----------------------------------------------------------------------------
# power of two


def test_pow2_levels_by_hand():
    # 4 bits: K = 7 exponents, s = 1.6: magnitudes 1.6 * {1, 1/2, ..., 1/64} and 0
    w = torch.tensor([1.6, 1.0, -0.55, 0.29, 0.04, 0.0124, 0.0126, -0.013, 0.0])
    w_q, q = quantizers.POW2.quantize(w, 4)
    s = torch.tensor(1.6)
    # nearest level in the linear domain, ratios |w| / s:
    # 1.0 -> 0.625: between 1/2 and 1 (midpoint 0.75) -> 1/2;  0.55 -> 0.34375 -> 1/4 (midpoint 0.375)
    # 0.29 -> 0.18125 -> 1/8 (midpoint 0.1875);  0.04 -> 0.025 -> 1/32 (midpoint 0.0234)
    # 0.0124 -> 0.00775: below half the smallest level (1/128 = 0.0078125) -> 0;  0.0126 -> 1/64
    expected = s * torch.tensor([1, 1 / 2, -1 / 4, 1 / 8, 1 / 32, 0, 1 / 64, -1 / 64, 0])
    assert torch.equal(w_q, expected)
    assert q.bits == 4 and torch.equal(q.codec.side, s.reshape(1))
    table = sorted(q.codec.levels().tolist())
    powers = [float(s * 2.0**-k) for k in range(7)]
    assert table == sorted([-p for p in powers] + [0.0] + powers)  # 2**4 - 1 codes


def test_pow2_outputs_are_signed_powers_of_two_times_s():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(20, 30, generator=g)
    for bits in (2, 3, 5):
        for per_channel in (False, True):
            w_q, _ = quantizers.POW2.quantize(w, bits, granularity=per_channel)
            s = w.abs().amax(1, keepdim=True) if per_channel else w.abs().max()
            r = (w_q.abs() / s)[w_q != 0]
            k = -torch.log2(r)
            assert torch.equal(k, k.round()) and k.min() >= 0 and k.max() <= 2 ** (bits - 1) - 2
            # and it is the nearest such level (or zero) to each weight
            mags = torch.tensor([0.0] + [2.0**-j for j in range(2 ** (bits - 1) - 1)])
            err = (w.abs() / s).unsqueeze(-1) - mags
            best = err.abs().min(-1).values
            assert torch.allclose(((w_q - w).abs() / s), best, atol=1e-6)


def test_pow2_two_bits_is_zero_or_plus_minus_max():
    w = torch.tensor([0.9, -0.2, 0.5, -1.0])
    w_q, _ = quantizers.POW2.quantize(w, 2)
    assert w_q.tolist() == [1.0, 0.0, 0.0, -1.0]  # 0.5 is the tie between 0 and 1: the smaller


def test_pow2_is_named_as_the_scaled_grid_it_is():
    assert "scale" in quantizers.POW2.label and "float32" in quantizers.POW2.formula
    assert "INQ" not in quantizers.POW2.label


def test_inq_grid_by_hand_from_eq_4():
    # Zhou et al. 2017: n1 = floor(log2(4 * max|w| / 3)); max|w| = 0.9 -> log2(1.2) = 0.263 -> n1 = 0
    # b = 5: 2**4 / 2 = 8 exponents, n2 = 0 + 1 - 8 = -7: levels 0, 2**-7 .. 2**0
    w = torch.tensor([0.9, -0.75, 0.74, 0.375, -0.1, 0.0039, 0.00390625, 0.0])
    w_q, q = quantizers.INQ.quantize(w, 5)
    # (alpha + beta) / 2 <= |w| < 3 beta / 2 -> beta: 0.75 is the tie of 1/2 and 1 -> 1 (the larger);
    # 0.74 -> 1/2; 0.375 the tie of 1/4 and 1/2 -> 1/2; 0.1 -> 1/8 (3/32 = 0.09375 <= 0.1 < 0.1875);
    # 0.0039 < 2**-7 / 2 = 0.00390625 -> 0; exactly 2**-8 -> 2**-7 (the tie with zero goes up)
    assert w_q.tolist() == [1.0, -1.0, 0.5, 0.5, -0.125, 0.0, 2.0**-7, 0.0]
    assert q.codec.side.tolist() == [1.0]  # the top level 2**n1, a power of two
    assert sorted(q.codec.levels().tolist()) == sorted([0.0] + [sg * 2.0**-k for k in range(8) for sg in (1, -1)])
    # max|w| = 3.0: log2(4) = 2 -> n1 = 2, top level 4; 3 bits: 2 exponents {2, 4}, thresholds 1 and 3:
    # 3.0 (the tie) -> 4, 2.9 -> 2, 1.5 -> 2, 0.99 -> 0, 1.0 (the tie with zero) -> 2
    w_q, q = quantizers.INQ.quantize(torch.tensor([3.0, 2.9, 1.5, 0.99, 1.0]), 3)
    assert w_q.tolist() == [4.0, 2.0, 2.0, 0.0, 2.0] and q.codec.side.tolist() == [4.0]


def test_inq_levels_are_powers_of_two_per_channel():
    g = torch.Generator().manual_seed(3)
    w = torch.randn(6, 40, generator=g) * 0.3
    w_q, _ = quantizers.INQ.quantize(w, 4, granularity=True)
    nz = w_q[w_q != 0].abs()
    assert torch.equal(torch.log2(nz), torch.log2(nz).round())
    for row, row_q in zip(w, w_q):
        n1 = math.floor(math.log2(4 * float(row.abs().max()) / 3))
        assert float(row_q.abs().max()) == 2.0**n1 and row_q[row_q != 0].abs().min() >= 2.0 ** (n1 + 1 - 4)


# -----------------------------------------------------------------------------
# ternary (TWN)


def test_ternary_by_hand():
    w = torch.tensor([0.1, -0.5, 0.9, -1.3, 0.05, 0.25])
    # mean|w| = 3.1/6; delta = 0.7 * that = 0.3617; above: 0.5, 0.9, 1.3 -> alpha = 0.9
    w_q, q = quantizers.TERNARY.quantize(w, 4)
    assert w_q.tolist() == pytest.approx([0, -0.9, 0.9, -0.9, 0, 0], abs=1e-6)
    assert q.bits == 2 and q.codec.side.tolist() == [pytest.approx(0.9)]
    assert sorted(q.codec.levels().tolist()) == pytest.approx([-0.9, 0.0, 0.9])


def test_ternary_per_channel_against_numpy():
    g = torch.Generator().manual_seed(1)
    w = torch.randn(8, 50, generator=g)
    w_q, q = quantizers.TERNARY.quantize(w, 2, granularity=True)
    v = w.double().numpy()
    for i, row in enumerate(v):
        delta = 0.7 * np.abs(row).mean()
        alpha = np.abs(row[np.abs(row) > delta]).mean()
        ref = np.where(np.abs(row) > delta, np.sign(row) * alpha, 0.0)
        assert np.allclose(w_q[i].double().numpy(), ref, atol=1e-6)
        assert len(torch.unique(w_q[i])) == 3 and torch.equal(w_q[i].abs().max(), q.codec.side[i])


def test_ternary_ignores_pruned_zeros_in_its_threshold():
    w = torch.tensor([0.0, 0.0, 0.0, 0.0, 1.0, -2.0, 0.2])
    # over the non-zero weights: mean 3.2/3, delta 0.7467 -> {1, -2} above, alpha 1.5
    w_q, _ = quantizers.TERNARY.quantize(w, 2)
    assert w_q.tolist() == pytest.approx([0, 0, 0, 0, 1.5, -1.5, 0])


def test_report_levels_for_pow2_and_ternary():
    r = pipeline.evaluate("mlp-digits", CompressionConfig(bits=4, quantizer="pow2"), latency=False)
    for layer in r.layers:
        nz = [abs(v) for v in layer.levels if v != 0]
        s = max(nz)
        assert all(float(np.log2(s / v)).is_integer() for v in nz)
    r = pipeline.evaluate("mlp-digits", CompressionConfig(bits=2, quantizer="ternary"), latency=False)
    for layer in r.layers:
        assert len(layer.levels) == 3 and layer.levels[1] == 0 and layer.levels[0] == -layer.levels[2]


def test_header_is_json(digits):
    base, ds = digits
    cfg = CompressionConfig(bits=3, quantizer="pow2")
    model, _, quant = pipeline.compress(base, ds, cfg)
    layers = models.layers(model)
    blob = downloads.file_of(model, plan.make(base, cfg).store(layers, quant))
    head = json.loads(blob[len(export.MAGIC) + 4:_header_bytes(blob)])
    assert [e["quantizer"] for e in head["layers"]] == ["pow2"] * 3
    bad = blob.replace(b'"pow2"', b'"pow9"')
    with pytest.raises(ValueError, match="unknown quantizer 'pow9'"):
        export.from_bytes(bad)


# -----------------------------------------------------------------------------
# granularity and the number formats, each against an oracle

G = quantizers.PerGroup


def _weights(rows=24, cols=200, seed=5) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(rows, cols, generator=g) * 0.05
    w[3, 17] = 0.9  # an outlier: its group's grid stretches
    return w


def _blocks_ref(w: torch.Tensor, g: int) -> torch.Tensor:
    """(groups, g): each row cut into g-wide pieces along the input, the last one zero-padded."""
    rows, cols = w.shape
    per_row = -(-cols // g)
    out = torch.zeros(rows, per_row * g)
    out[:, :cols] = w
    return out.reshape(rows * per_row, g)


def _unblock(b: torch.Tensor, shape) -> torch.Tensor:
    rows, cols = shape
    return b.reshape(rows, -1)[:, :cols]


@pytest.mark.parametrize("g", [16, 32, 64, 128])
@pytest.mark.parametrize("scheme", ["symmetric", "asymmetric"])
def test_uniform_groups_equal_torch_per_channel_affine_on_blocks(g, scheme):
    """INT4 per group = torch.fake_quantize_per_channel_affine on the (groups, g) matrix with float16 scales."""
    w = _weights()
    w_q, q = quantizers.UNIFORM.quantize(w, 4, scheme, G(g))
    b = _blocks_ref(w, g)
    if scheme == "symmetric":
        scale = (b.abs().amax(1) / 7).half().float()
        zp, qmin, qmax = torch.zeros(len(b), dtype=torch.int32), -7, 7
    else:
        lo, hi = b.amin(1).clamp(max=0), b.amax(1).clamp(min=0)
        scale = ((hi - lo) / 15).half().float()
        zp, qmin, qmax = torch.round(-lo / scale).clamp(0, 15).to(torch.int32), 0, 15
    ref = torch.fake_quantize_per_channel_affine(b, scale, zp, 0, qmin, qmax)
    assert torch.equal(w_q, _unblock(ref, w.shape))
    assert q.codec.granularity == G(g) and q.codec.side.numel() == len(b) * (1 if scheme == "symmetric" else 2)


@pytest.mark.parametrize("name,dtype,top", [("fp8-e4m3", torch.float8_e4m3fn, 448.0), ("fp8-e5m2", torch.float8_e5m2, 57344.0)])
@pytest.mark.parametrize("grain", [quantizers.PER_TENSOR, quantizers.PER_CHANNEL, G(32)])
def test_fp8_equals_torch_float8_cast_with_the_same_scale(name, dtype, top, grain):
    w = _weights()
    w_q, q = quantizers.lookup(name).quantize(w, 8, "symmetric", grain)
    if isinstance(grain, quantizers.PerTensor):
        b = w.reshape(1, -1)
    elif isinstance(grain, quantizers.PerChannel):
        b = w
    else:
        b = _blocks_ref(w, 32)
    scale = b.abs().amax(1, keepdim=True) / top
    if isinstance(grain, quantizers.PerGroup):
        scale = scale.half().float()  # stored float16 per group
    ref = (b / scale).clamp(-top, top).to(dtype).float() * scale
    ref = ref.reshape(w.shape) if not isinstance(grain, quantizers.PerGroup) else _unblock(ref, w.shape)
    assert torch.equal(w_q, ref)
    assert q.codec.bits == 8


E2M1 = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]


def _e2m1_brute(x: float) -> float:
    """Nearest E2M1 value, ties to the even mantissa (every other magnitude: 0, 1, 2, 4 are even), saturating."""
    a = min(abs(x), 6.0)
    d = [abs(a - v) for v in E2M1]
    best = min(d)
    picks = [i for i, di in enumerate(d) if di == best]
    i = picks[0] if len(picks) == 1 else next(i for i in picks if i % 2 == 0)
    return math.copysign(E2M1[i], x) if E2M1[i] else 0.0


def test_e2m1_rounding_by_hand_and_by_brute_force():
    # OCP MX v1.0 FP4 E2M1: ties go to the even mantissa; past 6 saturates
    x = torch.tensor([0.24, 0.25, 0.26, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 5.1, 7.0, 100.0, -0.75, -2.5, -9.0])
    assert quantizers.round_e2m1(x).tolist() == [0.0, 0.0, 0.5, 1.0, 1.0, 2.0, 2.0, 4.0, 4.0, 6.0, 6.0, 6.0,
                                                 -1.0, -2.0, -6.0]
    y = torch.linspace(-7, 7, 2801)
    assert quantizers.round_e2m1(y).tolist() == [_e2m1_brute(float(v)) for v in y]
    assert sorted(set(abs(v) for v in quantizers.E2M1_ELEMENTS.tolist())) == E2M1


def test_fp4_e2m1_record_scales_by_max_over_six():
    w = _weights()
    w_q, q = quantizers.FP4_E2M1.quantize(w, 4, "symmetric", quantizers.PER_CHANNEL)
    s = w.abs().amax(1, keepdim=True) / 6
    ref = torch.tensor([[_e2m1_brute(float(v)) for v in row] for row in w / s]) * s
    assert torch.equal(w_q, ref)


# QLoRA (Dettmers et al. 2023, arXiv:2305.14314), Appendix E: the NF4 data type's 16 values
NF4_PUBLISHED = [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
                 -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
                 0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
                 0.7229568362236023, 1.0]


def test_nf4_equals_the_published_table_with_absmax_per_block_of_64():
    assert quantizers.NF4_VALUES.tolist() == [float(torch.tensor(v)) for v in NF4_PUBLISHED]
    w = _weights()
    w_q, q = quantizers.NF4.quantize(w, 4, "symmetric", quantizers.PER_TENSOR)  # NF4 runs its own blocks
    b = _blocks_ref(w, 64)
    s = b.abs().amax(1, keepdim=True)
    table = torch.tensor(NF4_PUBLISHED)
    idx = ((b / s).unsqueeze(-1) - table).abs().argmin(-1)  # brute force: nearest of the 16
    assert torch.equal(w_q, _unblock(table[idx] * s, w.shape))
    assert q.codec.granularity == G(64) and q.codec.bits == 4


def test_mxfp4_follows_the_ocp_rules_block_by_block():
    """OCP MX v1.0 §6.3: X = 2^(floor(log2(amax)) - 2) per block of 32 (E8M0), E2M1 elements, RNE, saturate."""
    w = _weights()
    w_q, q = quantizers.MXFP4.quantize(w, 4)
    b = _blocks_ref(w, 32)
    ref = torch.zeros_like(b)
    for i, row in enumerate(b.tolist()):
        amax = max(abs(v) for v in row)
        x = 2.0 ** (math.floor(math.log2(amax)) - 2)
        ref[i] = torch.tensor([_e2m1_brute(v / x) * x for v in row])
        assert q.codec.side[i] == math.floor(math.log2(amax)) - 2 + 127  # the E8M0 byte
    assert torch.equal(w_q, _unblock(ref, w.shape))
    assert q.codec.granularity == G(32)


def test_nvfp4_block_scales_are_e4m3_and_one_float32_tensor_scale():
    w = _weights()
    w_q, q = quantizers.NVFP4.quantize(w, 4)
    b = _blocks_ref(w, 16)
    ts = w.abs().max() / (6 * 448)
    bs = (b.abs().amax(1) / (6 * ts)).to(torch.float8_e4m3fn).float()
    s = (bs * ts).unsqueeze(1)
    ref = torch.tensor([[_e2m1_brute(v) for v in row] for row in (b / s).tolist()]) * s
    assert torch.equal(w_q, _unblock(ref, w.shape))
    assert torch.equal(q.codec.side[:-1], bs) and float(q.codec.side[-1]) == float(ts)


@pytest.mark.parametrize("name,grain,scheme,bpw", [
    ("uniform", G(128), "symmetric", 4 + 16 / 128),        # INT4 g128, float16 scales: 4.125
    ("uniform", G(128), "asymmetric", 4 + 32 / 128),       # + a float16 zero point per group: 4.25
    ("uniform", G(32), "symmetric", 4 + 16 / 32),
    ("mxfp4", None, "symmetric", 4 + 8 / 32),              # E8M0 per 32: 4.25
    ("nvfp4", None, "symmetric", 4 + 8 / 16 + 32 / (256 * 512)),  # E4M3 per 16 + one float32: 4.5
    ("nf4", None, "symmetric", 4 + 32 / 64),               # float32 absmax per 64: 4.5
    ("fp8-e4m3", G(128), "symmetric", 8 + 16 / 128),
    ("uniform", quantizers.PER_CHANNEL, "symmetric", 4 + 32 / 512),
])
def test_bits_per_weight_equal_the_hand_arithmetic(name, grain, scheme, bpw):
    w = torch.randn(256, 512, generator=torch.Generator().manual_seed(0))
    _, q = quantizers.lookup(name).quantize(w, 4, scheme, grain or quantizers.PER_TENSOR)
    assert q.codec.bits_per_weight == bpw
    # the file stores exactly what is charged
    assert len(quantizers.side_to_bytes(q.codec.side, q.codec.side_layout)) * 8 == q.codec.side_bits


def test_records_that_cannot_group_run_their_nearest_granularity():
    assert quantizers.POW2.grain(G(32)) == quantizers.PER_CHANNEL
    assert quantizers.KMEANS.grain(quantizers.PER_CHANNEL) == quantizers.PER_TENSOR
    assert quantizers.MXFP4.grain(quantizers.PER_CHANNEL) == G(32)
    assert quantizers.resolve("mxfp4", 1) is quantizers.MXFP4 and quantizers.resolve("nf4", 32) is quantizers.FLOAT


@pytest.mark.parametrize("bits", [3, 4, 8])
def test_pack_in_steps_is_the_hand_bit_string(monkeypatch, bits):
    from compression import export
    codes = np.random.default_rng(bits).integers(0, 2 ** bits, 37)
    hand = "".join(format(int(c), f"0{bits}b") for c in codes)
    hand += "0" * (-len(hand) % 8)
    expected = int(hand, 2).to_bytes(len(hand) // 8, "big")
    monkeypatch.setattr(export, "PACK_CHUNK", 8)  # five steps of 8 codes, the last one short
    assert export._pack(codes, bits) == expected
    assert np.array_equal(export._unpack(expected, bits, len(codes)), codes)


def test_codes_used_in_steps_counts_the_codes_of_all_kept_weights_at_once(digits, monkeypatch):
    base, ds = digits
    model, _, quant = pipeline.compress(base, ds, CompressionConfig(bits=3, sparsity=0.5))
    monkeypatch.setattr(quantizers, "USED_CHUNK", 7)
    for n, q in quant.items():
        w_q = model.get_submodule(n).weight.detach()
        kept = torch.nonzero(q.before.flatten() != 0).flatten()
        at_once = len(np.unique(q.codec.encode(w_q.flatten()[kept].float(), kept)))
        assert quantizers.codes_used(q.codec, w_q, q.before) == at_once == q.codes_used
