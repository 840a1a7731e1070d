"""Physical channel removal in residual, BatchNorm and depthwise graphs."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from compression import models, slim, source

pytest.importorskip("torch_pruning")
from compression import structure


def _params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("arch", ["resnet18", "mobilenet_v2"])
def test_half_the_channels_go_and_the_output_shape_stays(arch):
    model = source.build_arch(arch)
    before = [p.clone() for p in model.parameters()]
    shape = (3, 64, 64)  # the channel coupling does not depend on the resolution; smaller is faster
    small = structure.prune_channels(model, shape, 0.5)
    x = torch.rand(1, *shape)
    with torch.no_grad():
        assert small(x).shape == model(x).shape == (1, 1000)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))  # original untouched
    # half the channels on both sides of most convolutions: about a quarter of the weights
    assert 0.15 * _params(model) < _params(small) < 0.45 * _params(model)
    convs = [m for m in small.modules() if isinstance(m, nn.Conv2d)]
    originals = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    first, first0 = convs[0], originals[0]
    assert first.out_channels == first0.out_channels // 2
    for m in small.modules():  # every BatchNorm follows its conv
        if isinstance(m, nn.BatchNorm2d):
            assert m.weight.shape == m.running_mean.shape
    if arch == "mobilenet_v2":  # depthwise convs stay depthwise
        dw = [m for m in convs if m.groups > 1]
        assert dw and all(m.groups == m.in_channels == m.out_channels for m in dw)


def test_lowest_l2_filters_go_first():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 3)).eval()
    with torch.no_grad():
        model[0].weight.mul_(torch.arange(1, 9).float().view(8, 1, 1, 1))  # norms grow with the index
    small = structure.prune_channels(model, (3, 10, 10), 0.5)
    norms = model[0].weight.flatten(1).norm(dim=1)
    assert torch.equal(small[0].weight, model[0].weight[norms.argsort()[4:].sort().values])
    assert small[3].in_channels == 4 and small[1].num_features == 4


def test_sequential_mlp_equals_slim_on_zeroed_rows():
    model = models.load("mlp-digits")
    with torch.no_grad():  # zero 150 of fc1's rows and 50 of fc2's, weights and biases
        for name, n in (("fc1", 150), ("fc2", 50)):
            layer = getattr(model, name)
            rows = torch.randperm(layer.out_features, generator=torch.Generator().manual_seed(1))[:n]
            layer.weight[rows] = 0
            layer.bias[rows] = 0
    ref = slim.slim(model)
    ours = structure.remove_zero_channels(model, (1, 8, 8))
    assert (ours.fc1.out_features, ours.fc2.out_features) == (ref.fc1.out_features, ref.fc2.out_features) == (150, 50)
    x = torch.rand(64, 1, 8, 8)
    with torch.no_grad():
        assert torch.allclose(ours(x), ref(x), atol=1e-5)
        assert torch.allclose(ours(x), model(x), atol=1e-5)
    # by sparsity: zero-norm rows are the lowest, so the same rows go
    by_sparsity = structure.prune_channels(model, (1, 8, 8), 0.5)
    with torch.no_grad():
        assert torch.allclose(by_sparsity(x), model(x), atol=1e-5)


def test_bad_sparsity_is_one_sentence():
    with pytest.raises(ValueError, match="sparsity must be in"):
        structure.prune_channels(models.load("mlp-digits"), (1, 8, 8), 1.0)
