"""The Llama decoder: each part against a trusted reference (torch's rms_norm, Meta's complex
rotary, attention written out), then the SmolLM2 file read into it: perplexity and English text."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from compression.layers import compressible
from compression.lm import llama
from compression.lm.gguf import LlamaSpec
from tests.smollm2 import PATH, needs_file

TINY = LlamaSpec(architecture="llama", name="tiny", block_count=2, embedding_length=32, feed_forward_length=48,
                 head_count=4, head_count_kv=2, rope_theta=10000.0, rope_dimension=8, rms_eps=1e-5,
                 context_length=64, vocab_size=50)


def test_rmsnorm_equals_torch() -> None:
    norm = llama.RMSNorm(32, 1e-5)
    with torch.no_grad():
        norm.weight.normal_()
    x = torch.randn(3, 7, 32)
    torch.testing.assert_close(norm(x), F.rms_norm(x, (32,), norm.weight, 1e-5))


def test_permutation_round_trip() -> None:
    w = torch.randn(4 * 8, 5)
    torch.testing.assert_close(llama.unpermute_rows(llama.permute_rows(w, 4), 4), w, rtol=0, atol=0)
    # llama.cpp's permute sends HF row i (first half of a head) to row 2i, i + d/2 to 2i + 1
    p = llama.permute_rows(torch.arange(8.0)[:, None], 1)
    assert p.flatten().tolist() == [0, 4, 1, 5, 2, 6, 3, 7]


def _meta_rope(x: torch.Tensor, theta: float, positions: torch.Tensor) -> torch.Tensor:
    """Meta's reference rotary: adjacent pairs as complex numbers times e^{i·pos·θ^(-2j/d)}."""
    d = x.shape[-1]
    freqs = 1.0 / theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d)
    rot = torch.polar(torch.ones(len(positions), d // 2, dtype=torch.float64), positions[:, None].double() * freqs)
    xc = torch.view_as_complex(x.double().reshape(*x.shape[:-1], d // 2, 2))
    return torch.view_as_real(xc * rot).flatten(-2).float()


def test_rope_layouts_agree_with_meta_reference() -> None:
    torch.manual_seed(0)
    hf = torch.randn(2, 3, 6, 8)  # (B, H, T, D) in HF's half-split layout
    pos = torch.arange(5, 11)
    cos, sin = llama.rope_tables(8, 10000.0, pos)
    # llama.cpp layout = permuted rows: interleaved rotation there is Meta's complex rotation
    inter = hf[..., [0, 4, 1, 5, 2, 6, 3, 7]]  # permute_rows on the D axis of every head
    torch.testing.assert_close(llama.apply_rope_interleaved(inter, cos, sin), _meta_rope(inter, 10000.0, pos), atol=1e-5, rtol=1e-5)
    # half-split rotation on HF rows = the same numbers, in HF's order
    torch.testing.assert_close(llama.apply_rope(hf, cos, sin)[..., [0, 4, 1, 5, 2, 6, 3, 7]],
                               _meta_rope(inter, 10000.0, pos), atol=1e-5, rtol=1e-5)


def _tiny_model() -> llama.LlamaForCausalLM:
    torch.manual_seed(1)
    m = llama.LlamaForCausalLM(TINY).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 0.3)
    return m


def test_attention_equals_written_out_gqa() -> None:
    m = _tiny_model()
    att = m.model.layers[0].self_attn
    x = torch.randn(2, 6, 32)
    cos, sin = llama.rope_tables(8, TINY.rope_theta, torch.arange(6))
    got, _ = att(x, cos, sin)
    q = (x @ att.q_proj.weight.T).view(2, 6, 4, 8).transpose(1, 2)
    k = (x @ att.k_proj.weight.T).view(2, 6, 2, 8).transpose(1, 2)
    v = (x @ att.v_proj.weight.T).view(2, 6, 2, 8).transpose(1, 2)
    q, k = llama.apply_rope(q, cos, sin), llama.apply_rope(k, cos, sin)
    heads = []
    for h in range(4):
        kv = h // 2  # 4 query heads share 2 key/value heads: 0,1 -> 0 and 2,3 -> 1
        s = q[:, h] @ k[:, kv].transpose(-1, -2) / math.sqrt(8)
        s = s.masked_fill(torch.ones(6, 6, dtype=torch.bool).triu(1), float("-inf"))
        heads.append(s.softmax(-1) @ v[:, kv])
    want = torch.stack(heads, 1).transpose(1, 2).reshape(2, 6, 32) @ att.o_proj.weight.T
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_cache_gives_the_full_forward_logits() -> None:
    m = _tiny_model()
    ids = torch.randint(0, 50, (1, 9))
    full = m(ids)
    logits, past = m.forward_with_cache(ids[:, :4])
    parts = [logits]
    step, past = m.forward_with_cache(ids[:, 4:7], past)  # several new tokens after a cache
    parts.append(step)
    for t in (7, 8):
        step, past = m.forward_with_cache(ids[:, t:t + 1], past)
        parts.append(step)
    torch.testing.assert_close(torch.cat(parts, 1), full, atol=1e-5, rtol=1e-4)


def test_token_nll_equals_cross_entropy_per_chunk() -> None:
    m = _tiny_model()
    ids = torch.randint(0, 50, (21,))
    seen: list[tuple[int, int]] = []
    nll = llama.token_nll(m, ids, chunk=8, progress=lambda done, total: seen.append((done, total)))
    assert nll.shape == (3, 7) and seen == [(1, 3), (2, 3), (3, 3)]
    for c, window in enumerate((ids[0:8], ids[8:16], ids[16:21])):
        want = F.cross_entropy(m(window[None])[0, :-1], window[1:], reduction="none")
        torch.testing.assert_close(nll[c, :len(want)], want)
    assert nll[2, 4:].isnan().all()


def test_every_projection_is_a_compressible_linear() -> None:
    names = set(compressible(_tiny_model()))
    assert "lm_head" in names and "model.layers.1.self_attn.q_proj" in names and "model.layers.0.mlp.down_proj" in names
    assert len(names) == 2 * 7 + 2 and "model.embed_tokens" in names  # + the head and the embedding


@pytest.fixture(scope="module")
def smol():
    return llama.load_smollm2(PATH)


def _held_out_ids(tok, n: int) -> list[int]:
    from pydoc_data.topics import topics

    keys = sorted(topics)
    text = "\n\n".join(topics[k] for k in keys[-40:])  # the last topics alphabetically (while, with, yield ...)
    return tok.encode(text)[:n]


@needs_file
def test_smollm2_structure_and_info(smol) -> None:
    model, tok, info = smol
    assert info.n_parameters == 134_515_008 + 49152 * 576  # 134.5 M + the untied LM head copy
    assert info.tied_embeddings
    torch.testing.assert_close(model.lm_head.weight, model.model.embed_tokens.weight, rtol=0, atol=0)
    assert model.lm_head.weight.data_ptr() != model.model.embed_tokens.weight.data_ptr()  # compressible apart
    assert "dequantized Q4_1" in info.reference_label
    assert len(compressible(model)) == 30 * 7 + 2  # the embedding and the LM head


@needs_file
def test_smollm2_perplexity_and_rope_convention(smol) -> None:
    model, tok, _ = smol
    ids = _held_out_ids(tok, 1024)
    nll = llama.token_nll(model, ids, chunk=512)
    assert nll.shape == (2, 511)
    ppl = math.exp(float(nll.nanmean()))
    assert 5 < ppl < 30, ppl
    # The file's raw q/k rows (llama.cpp's interleaved layout) under the half-split rotation: broken
    qk = [(layer.self_attn.q_proj.weight, layer.self_attn.k_proj.weight) for layer in model.model.layers]
    with torch.no_grad():
        try:
            for q, k in qk:
                q.copy_(llama.permute_rows(q, 9))
                k.copy_(llama.permute_rows(k, 3))
            wrong = math.exp(float(llama.token_nll(model, ids[:256], chunk=256).nanmean()))
        finally:
            for q, k in qk:
                q.copy_(llama.unpermute_rows(q, 9))
                k.copy_(llama.unpermute_rows(k, 3))
    print(f"perplexity {ppl:.1f}, raw llama.cpp q/k rows under half-split rope {wrong:.0f}")
    assert wrong > 5 * ppl, (wrong, ppl)


@needs_file
def test_smollm2_greedy_continuation_reads_as_english(smol) -> None:
    model, tok, _ = smol
    new = llama.generate(model, tok.encode("The capital of France is"), max_new_tokens=12, eos_id=tok.eos_id)
    text = tok.decode(new)
    assert "Paris" in text, text
