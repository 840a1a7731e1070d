"""The tiny GPT: causal, every projection a compressible Linear, the shipped checkpoint loads."""
import torch
import torch.nn.functional as F
from torch import nn

from compression import models, zoo
from compression.layers import compressible
from compression.lm import text, tinygpt


def test_a_later_token_never_changes_an_earlier_prediction():
    m = zoo.build("tinygpt-pydoc").eval()
    x = torch.randint(0, 256, (2, 40))
    y = x.clone()
    y[:, 25:] = (y[:, 25:] + 7) % 256
    with torch.no_grad():
        a, b = m(x), m(y)
    assert torch.allclose(a[:, :25], b[:, :25], atol=1e-6)
    assert not torch.allclose(a[:, 25:], b[:, 25:])


def test_attention_equals_torchs_causal_scaled_dot_product():
    att = tinygpt.CausalSelfAttention(32, 4, 16).eval()
    x = torch.randn(3, 10, 32)
    q, k, v = att.qkv(x).reshape(3, 10, 3, 4, 8).permute(2, 0, 3, 1, 4)
    ref = att.proj(F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(3, 10, 32))
    assert torch.allclose(att(x), ref, atol=1e-5)


def test_every_projection_is_a_compressible_linear_and_the_size_is_in_range():
    m = zoo.build("tinygpt-pydoc")
    layers = compressible(m)
    linears = [n for n, mod in m.named_modules() if isinstance(mod, nn.Linear)]
    # the two embedding tables first (module order), then every projection
    assert list(layers) == ["tok", "pos", *linears] and "lm_head" in layers and "blocks.0.attn.qkv" in layers
    assert 1_000_000 <= sum(p.numel() for p in m.parameters()) <= 5_000_000
    assert m.lm_head.weight.data_ptr() != m.tok.weight.data_ptr()  # untied


def test_the_shipped_checkpoint_predicts_held_out_text_far_better_than_uniform():
    path = models.checkpoint_path("tinygpt-pydoc")
    assert path.exists() and path.stat().st_size <= 12 * 2**20
    m = models.load("tinygpt-pydoc")
    chunk = text.chunks("test", 128, max_tokens=2048)
    with torch.no_grad():
        loss = F.cross_entropy(m(chunk[:, :-1]).reshape(-1, 256), chunk[:, 1:].reshape(-1))
    assert float(loss.exp()) < 8  # uniform over bytes: 256; unigram about 30
