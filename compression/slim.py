"""Structured pruning made real: a smaller dense model without the removed neurons/filters.

Zeroed rows in a dense kernel cost as much time as any other rows; only removing them
shrinks the matrix multiplies. A removed unit still outputs a constant (ReLU of its
bias), so that constant is folded into the next layer's bias: the slim model computes
exactly what the masked one does.
"""
from __future__ import annotations

import copy
from typing import cast

import torch
from torch import nn

ELEMENTWISE = (nn.ReLU, nn.MaxPool2d, nn.Identity, nn.Dropout)


def slim(model: nn.Sequential) -> nn.Sequential:
    """A copy with every all-zero row of a non-final Linear/Conv2d layer removed.

    Works on nn.Sequential models whose compressible layers are joined by ReLU, max-pool
    and Flatten. A conv filter feeding a padded conv is kept (padding breaks the fold).
    """
    model = copy.deepcopy(model)
    children = list(model.named_children())
    layers = [i for i, (_, m) in enumerate(children) if isinstance(m, (nn.Linear, nn.Conv2d))]
    with torch.no_grad():
        for a, b in zip(layers, layers[1:]):
            producer, consumer = children[a][1], children[b][1]
            between = [m for _, m in children[a + 1:b]]
            dead = _dead_rows(producer)
            if isinstance(consumer, nn.Conv2d) and any(p != 0 for p in _pairs(consumer.padding)):
                continue
            if not dead.any() or dead.all():
                continue  # nothing to remove, or removing all would leave an empty layer
            constant = producer.bias[dead] if producer.bias is not None else torch.zeros(int(dead.sum()))  # type: ignore[index]
            if any(isinstance(m, nn.ReLU) for m in between):
                constant = constant.clamp_min(0)
            per_unit = _consumer_inputs_per_unit(producer, consumer)
            keep_cols = (~dead).repeat_interleave(per_unit)
            w = consumer.weight
            # fold each removed unit's constant output into the consumer's bias
            if isinstance(consumer, nn.Linear):
                folded = w[:, ~keep_cols].reshape(w.shape[0], -1, per_unit).sum(2) @ constant
                _set(consumer, "weight", w[:, keep_cols])
                consumer.in_features = int(keep_cols.sum())
            else:
                folded = w[:, dead].sum((2, 3)) @ constant
                _set(consumer, "weight", w[:, ~dead])
                consumer.in_channels = int((~dead).sum())
            if consumer.bias is None:
                consumer.bias = nn.Parameter(torch.zeros(w.shape[0]))
            consumer.bias += folded
            _set(producer, "weight", producer.weight[~dead])
            if producer.bias is not None:
                _set(producer, "bias", producer.bias[~dead])
            if isinstance(producer, nn.Linear):
                producer.out_features = int((~dead).sum())
            else:
                producer.out_channels = int((~dead).sum())
    return model.eval()


def _dead_rows(layer: nn.Module) -> torch.Tensor:
    return cast(torch.Tensor, layer.weight).flatten(1).abs().sum(1) == 0


def _consumer_inputs_per_unit(producer: nn.Module, consumer: nn.Module) -> int:
    """How many consumer inputs one producer unit feeds (H*W after a Flatten of a conv map)."""
    if isinstance(consumer, nn.Linear):
        return consumer.in_features // producer.weight.shape[0]
    return 1


def _pairs(value) -> tuple:
    return value if isinstance(value, tuple) else (value, value)


def _set(module: nn.Module, name: str, value: torch.Tensor) -> None:
    setattr(module, name, nn.Parameter(value.detach().clone()))
