"""Quantization-aware fine-tuning (straight-through estimator), prune/quantize orders, and
sparsity regularization, checked against hand-computed gradients and simple counts."""
import dataclasses

import pytest
import torch
from torch import nn

from compression import data, measure, models, pipeline, prune, train
from compression.config import CompressionConfig


@pytest.fixture(scope="module")
def small():
    """mlp-digits and a 320-image training split: enough to move weights, quick to fit."""
    ds = data.load("digits")
    return models.load("mlp-digits"), dataclasses.replace(ds, x_train=ds.x_train[:320], y_train=ds.y_train[:320])


def test_fake_quantized_forward_sees_quantized_weights_and_gradient_is_straight_through():
    torch.manual_seed(0)
    layer = nn.Linear(4, 3)
    w0 = layer.weight.detach().clone()
    x, y = torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])
    q = {"weight": lambda w: torch.round(w * 4) / 4}
    with train._fake_quantized(layer, q):
        assert torch.equal(layer.weight, torch.round(w0 * 4) / 4)
        nn.functional.cross_entropy(layer(x), y).backward()
    assert torch.equal(layer.weight.detach(), w0)  # the float shadow is back
    # STE: the gradient is the one at the quantized weights, applied to the float ones
    ref = nn.Linear(4, 3)
    ref.weight.data.copy_(torch.round(w0 * 4) / 4)
    ref.bias.data.copy_(layer.bias.data)
    nn.functional.cross_entropy(ref(x), y).backward()
    assert torch.allclose(layer.weight.grad, ref.weight.grad)


def test_qat_rescues_two_bits(small):
    base, ds = small
    full = data.load("digits")
    # 5 epochs: the fine-tuning recipe decays its rate (train.FINETUNE_LR, cosine), so on 320
    # images QAT needs more steps than a constant 2e-3 took; PTQ gets the same 5 float epochs
    ptq, _, _ = pipeline.compress(base, ds, CompressionConfig(bits=2, finetune_epochs=5))
    qat, _, _ = pipeline.compress(base, ds, CompressionConfig(bits=2, finetune_epochs=5, qat=True))
    acc_ptq = measure.accuracy(ptq, full.x_test, full.y_test)
    acc_qat = measure.accuracy(qat, full.x_test, full.y_test)
    assert acc_qat > acc_ptq + 0.2, (acc_ptq, acc_qat)
    for name, layer in models.layers(qat).items():  # still exactly on the 2-bit grid
        assert len(torch.unique(layer.weight)) <= 3, name


def test_orders_hold_masks_reach_the_sparsity_and_differ(small):
    base, ds = small
    fc1 = []
    for order in ("sequential", "alternating", "joint"):
        cfg = CompressionConfig(sparsity=0.8, bits=3, prune_steps=2, finetune_epochs=1, qat=True, order=order)
        model, masks, _ = pipeline.compress(base, ds, cfg)
        assert prune.sparsity_of(masks) == pytest.approx(0.8, abs=1e-4)
        for name, mask in masks.items():
            assert torch.all(model.get_parameter(name)[~mask] == 0), (order, name)
        fc1.append(model.fc1.weight.detach())
    assert not torch.equal(fc1[0], fc1[1]) and not torch.equal(fc1[1], fc1[2])


def _near_zero(model: nn.Module) -> float:
    w = torch.cat([p.detach().flatten() for p in prune.prunable(model).values()])
    return float((w.abs() < 1e-3).float().mean())


def test_l1_moves_weights_towards_zero(small):
    _, ds = small
    plain, l1 = models.load("mlp-digits"), models.load("mlp-digits")
    train.fit(plain, ds.x_train, ds.y_train, 2, lr=train.FINETUNE_LR)
    train.fit(l1, ds.x_train, ds.y_train, 2, lr=train.FINETUNE_LR, penalty=train.regularizer("l1", 1e-3))
    assert _near_zero(l1) > 1.5 * _near_zero(plain), (_near_zero(plain), _near_zero(l1))


def test_penalties_by_hand():
    # by hand: rows [3, 4] and [0, 0]: sum of row norms 5
    model = nn.Sequential(nn.Linear(2, 2, bias=False))
    model[0].weight.data = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    with torch.no_grad():
        assert float(train.regularizer("group-lasso", 0.5)(model)) == pytest.approx(2.5)
        assert float(train.regularizer("l1", 0.5)(model)) == pytest.approx(3.5)
    assert train.regularizer("none", 0.5) is None and train.regularizer("l1", 0.0) is None


def test_regularize_then_prune_runs(small):
    base, ds = small
    cfg = CompressionConfig(sparsity=0.5, finetune_epochs=1, regularize="group-lasso", reg_strength=1e-3,
                            structure="rows")
    _, masks, _ = pipeline.compress(base, ds, cfg)
    assert 0.3 < prune.sparsity_of(masks) <= 0.5
