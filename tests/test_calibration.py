"""LayerInputs (the sequential inputs of GPTQ / SparseGPT) against calibration.inputs, which hooks
one full forward per layer: the block-by-block cache must give the same matrices while earlier
layers change between calls."""
import pytest
import torch

from compression import calibration
from compression.layers import compressible
from compression.lm import llama
from compression.lm.gguf import LlamaSpec
from compression.lm.tinygpt import GPTConfig, TinyGPT


def _tinygpt():
    torch.manual_seed(0)
    return TinyGPT(GPTConfig(dim=48, depth=3, heads=2, hidden=96, context=16)).eval(), torch.randint(0, 256, (3, 16))


def _llama():
    torch.manual_seed(0)
    spec = LlamaSpec(architecture="llama", name="tiny", block_count=3, embedding_length=32, feed_forward_length=48,
                     head_count=4, head_count_kv=2, rope_theta=10000.0, rope_dimension=8, rms_eps=1e-5,
                     context_length=64, vocab_size=50)
    model = llama.LlamaForCausalLM(spec).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
    return model, torch.randint(0, 50, (2, 10))


@pytest.mark.parametrize("build", [_tinygpt, _llama])
def test_blockwise_inputs_equal_a_full_forward_per_layer_while_layers_change(build):
    model, x = build()
    assert isinstance(model, calibration.Blockwise)
    get = calibration.LayerInputs(model, x)
    layers = compressible(model)
    names = [n for n, layer in layers.items() if calibration.supported(layer)]  # an embedding has no input matrix
    assert len(names) > 6 and len(names) < len(layers)
    for name in layers:  # in module order, as GPTQ asks, each layer changed once it is read
        if name in names:
            expected = calibration.inputs(model, x, [name])[name]
            assert torch.allclose(get(name), expected, atol=1e-5), name
        with torch.no_grad():
            model.get_submodule(name).weight.mul_(-1.5)  # the embeddings too: the blocks' inputs change
    first = names[0]  # asking an earlier layer again restarts from the embeddings
    assert torch.allclose(get(first), calibration.inputs(model, x, [first])[first], atol=1e-5)
