"""Per-layer bit-width and sparsity overrides, checked against fake_quantize and torch's pruning by hand."""
import pytest
import torch
from torch.nn.utils import prune as tprune

from compression import models, pipeline, prune
from compression.config import CompressionConfig, ConfigError
from compression.quantize import fake_quantize


def test_layer_bits_quantize_only_that_layer(digits):
    base, ds = digits
    model, _, quant = pipeline.compress(base, ds, CompressionConfig(layer_bits={"fc2": 4}))
    assert list(quant) == ["fc2"]
    for name, layer in models.layers(model).items():
        w0 = models.layers(base)[name].weight.detach()
        expected = fake_quantize(w0, 4) if name == "fc2" else w0
        assert torch.equal(layer.weight.detach(), expected), name


def test_layer_bits_override_the_global_width(digits):
    base, ds = digits
    model, _, _ = pipeline.compress(base, ds, CompressionConfig(bits=8, layer_bits={"fc1": 2, "fc3": 32}))
    w0 = {n: m.weight.detach() for n, m in models.layers(base).items()}
    got = {n: m.weight.detach() for n, m in models.layers(model).items()}
    assert torch.equal(got["fc1"], fake_quantize(w0["fc1"], 2))
    assert torch.equal(got["fc2"], fake_quantize(w0["fc2"], 8))
    assert torch.equal(got["fc3"], w0["fc3"])


def test_layer_sparsity_exact_in_its_layer_rest_global(digits):
    base, ds = digits
    cfg = CompressionConfig(sparsity=0.8, layer_sparsity={"fc1": 0.3})
    _, masks, _ = pipeline.compress(base, ds, cfg)
    w = {n: m.weight.detach() for n, m in models.layers(base).items()}
    # fc1: exactly round(0.3 n) zeros, the smallest |w| of fc1 (torch's l1_unstructured)
    layer = torch.nn.Linear(w["fc1"].shape[1], w["fc1"].shape[0])
    layer.weight.data.copy_(w["fc1"])
    tprune.l1_unstructured(layer, "weight", amount=0.3)
    assert torch.equal(masks["fc1.weight"], layer.weight_mask.bool())
    # fc2 and fc3: the global rule over those two alone, at 0.8
    rest = [torch.nn.Linear(1, 1) for _ in range(2)]
    for lin, name in zip(rest, ("fc2", "fc3")):
        lin.weight = torch.nn.Parameter(w[name].clone())
    tprune.global_unstructured([(lin, "weight") for lin in rest], tprune.L1Unstructured, amount=0.8)
    for lin, name in zip(rest, ("fc2", "fc3")):
        assert torch.equal(masks[f"{name}.weight"], lin.weight_mask.bool()), name


def test_layer_sparsity_alone_prunes_only_that_layer(digits):
    base, ds = digits
    _, masks, _ = pipeline.compress(base, ds, CompressionConfig(layer_sparsity={"fc2": 0.5}))
    spars = prune.layer_sparsity(masks)
    assert spars["fc2.weight"] == pytest.approx(0.5, abs=1e-3)
    assert spars["fc1.weight"] == 0 and spars["fc3.weight"] == 0


def test_layer_sparsity_rows_prunes_that_layers_rows(digits):
    base, ds = digits
    cfg = CompressionConfig(structure="rows", sparsity=0.0, layer_sparsity={"fc1": 0.25})
    _, masks, _ = pipeline.compress(base, ds, cfg)
    norms = models.layers(base)["fc1"].weight.detach().norm(dim=1)
    dropped = ~masks["fc1.weight"].all(dim=1)
    assert int(dropped.sum()) == round(0.25 * len(norms))
    assert set(dropped.nonzero().flatten().tolist()) == set(norms.argsort()[:int(dropped.sum())].tolist())


@pytest.mark.parametrize("field", ["layer_bits", "layer_sparsity"])
def test_unknown_layer_is_one_sentence_listing_the_layers(digits, field):
    base, ds = digits
    value = {"conv9": 4} if field == "layer_bits" else {"conv9": 0.5}
    with pytest.raises(ConfigError) as e:
        pipeline.compress(base, ds, CompressionConfig(**{field: value}))
    msg = str(e.value)
    assert "conv9" in msg and field in msg and "fc1, fc2, fc3" in msg and "\n" not in msg
