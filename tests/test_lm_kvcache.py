"""The KV cache's format and memory against torch's fake quantization and a hand count."""
import pytest
import torch
import torch.nn.functional as F

from compression.lm import kvcache
from compression.lm.tinygpt import GPTConfig, TinyGPT


def test_group_is_the_largest_divisor_of_the_head_up_to_32():
    assert [kvcache.group_of(h) for h in (64, 36, 32, 7)] == [32, 18, 32, 7]
    assert kvcache.bits_per_value(16, 64) == 16 and kvcache.bits_per_value(4, 64) == 4 + 16 / 32


@pytest.mark.parametrize("bits", [8, 4])
def test_fake_quantize_is_torchs_per_group_fake_quantize_with_float16_scales(bits):
    v = torch.randn(3, 5, 2 * 36, generator=torch.Generator().manual_seed(0))
    rows = v.reshape(-1, 18)  # head 36: groups of 18 along each head vector
    qmax = 2 ** (bits - 1) - 1
    scale = (rows.abs().amax(1) / qmax).half().float()
    expected = torch.fake_quantize_per_channel_affine(rows, scale, torch.zeros(len(rows), dtype=torch.int32),
                                                      0, -qmax, qmax).reshape(v.shape)
    assert torch.allclose(kvcache.fake_quantize(v, bits, 36), expected, atol=1e-6)
    assert torch.equal(kvcache.fake_quantize(v, 16, 36), v.half().float())


def test_memory_counts_keys_and_values_of_every_block_by_hand():
    model = TinyGPT(GPTConfig(dim=72, depth=3, heads=2, hidden=144, context=32))  # head 36 -> groups of 18
    assert kvcache.values_per_token(model) == 3 * 2 * 72
    m = kvcache.memory(model, 8, context=32, batch=2)
    assert m.bytes == pytest.approx(3 * 2 * 72 * 64 * (8 + 16 / 18) / 8)
    assert m.bytes_fp16 == 3 * 2 * 72 * 64 * 2


def test_install_quantizes_only_the_key_and_value_slices():
    torch.manual_seed(0)
    model = TinyGPT(GPTConfig(dim=72, depth=2, heads=2, hidden=144, context=32)).eval()
    x = torch.randint(0, 256, (2, 16))
    seen = {}
    qkv = model.blocks[0].attn.qkv
    handles = kvcache.install(model, 4)
    handles.append(qkv.register_forward_hook(lambda m, a, out: seen.update(inp=a[0], out=out)))
    with torch.no_grad():
        model(x)
        raw = F.linear(seen["inp"], qkv.weight, qkv.bias)
    out = seen["out"]
    assert torch.equal(out[..., :72], raw[..., :72])  # queries are not cached
    for s in (slice(72, 144), slice(144, 216)):
        assert torch.allclose(out[..., s], kvcache.fake_quantize(raw[..., s], 4, 36), atol=1e-6)
    for h in handles:
        h.remove()
    with pytest.raises(ValueError, match="one of 16, 8, 4"):
        kvcache.install(model, 2)
