"""Physical filter removal in any graph: residual adds, BatchNorm, depthwise convolutions.

Removing an output channel of one layer forces the same removal in every layer coupled to
it: the BatchNorm after it, the inputs of its consumers, every other branch summed into
the same residual add, and the depthwise convolution that shares its channels. Torch-Pruning's
dependency graph (Fang et al. 2023, "DepGraph", arXiv:2301.12900) finds these groups by
tracing the model once; here each group is scored by the L2 norm of the filters removed
together (Li et al. 2017, arXiv:1608.08710, rank filters by norm) and the weakest channels
of every group go. The final classifier keeps its outputs.

For a plain Sequential model `compression.slim.slim` stays the exact tool: it also folds
the constant output ReLU(bias) of a removed unit into the next layer's bias, where this
module simply drops it (the two agree when the removed units' biases are zero).
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from types import ModuleType

import torch
from torch import nn

Chooser = Callable[[torch.Tensor], torch.Tensor]  # per-channel scores -> indices to remove


def prune_channels(model: nn.Module, input_shape: tuple[int, ...], sparsity: float) -> nn.Module:
    """A smaller copy with `sparsity` of each group's channels removed, lowest filter L2 first."""
    if not 0 <= sparsity < 1:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")

    def lowest(score: torch.Tensor) -> torch.Tensor:
        k = min(round(len(score) * sparsity), len(score) - 1)  # never empty a layer
        return torch.argsort(score, stable=True)[:k]

    return _prune(model, input_shape, lowest)


def remove_zero_channels(model: nn.Module, input_shape: tuple[int, ...]) -> nn.Module:
    """A smaller copy without channels whose filters are zero in every coupled layer.

    Exact when the removed channels also have zero bias and no BatchNorm shift after them;
    otherwise each removed channel's constant output is dropped (see the module note).
    """
    def zeros(score: torch.Tensor) -> torch.Tensor:
        dead = torch.nonzero(score == 0).flatten()
        return dead[: len(score) - 1]

    return _prune(model, input_shape, zeros)


def _prune(model: nn.Module, input_shape: tuple[int, ...], choose: Chooser) -> nn.Module:
    """Score every coupled group, then remove the chosen channels from all its layers."""
    tp = _torch_pruning()
    model = copy.deepcopy(model).eval()
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=torch.zeros(1, *input_shape))
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    plans = []
    for group in graph.get_all_groups(ignored_layers=layers[-1:], root_module_types=(nn.Conv2d, nn.Linear)):
        drop = choose(_filter_l2(group, graph))
        if len(drop):
            root = group[0].dep.target.module
            plans.append((root, group[0].dep.handler, drop.tolist()))
    # Groups are disjoint in the channels they own, so every plan's indices stay valid
    # while the others are carried out.
    for root, handler, drop in plans:
        pruning = graph.get_pruning_group(root, handler, drop)
        if graph.check_pruning_group(pruning):
            pruning.prune()
    return model.eval()


def _filter_l2(group: object, graph: object) -> torch.Tensor:
    """Per root channel: sqrt of the summed squares of every coupled filter that would go."""
    items = list(group)  # type: ignore[call-overload]
    total = torch.zeros(len(items[0].root_idxs))  # the root item holds every channel
    for item in items:
        module = item.dep.target.module
        if isinstance(module, (nn.Linear, nn.Conv2d)) and graph.is_out_channel_pruning_fn(item.dep.handler):  # type: ignore[attr-defined]
            rows = module.weight.detach()[torch.as_tensor(item.idxs)]
            total.index_add_(0, torch.as_tensor(item.root_idxs), rows.flatten(1).pow(2).sum(1))
    return total.sqrt()


def _torch_pruning() -> ModuleType:
    try:
        import torch_pruning
    except ImportError:
        raise ValueError("structured pruning of this graph needs torch-pruning: "
                         "pip install torch-pruning") from None
    return torch_pruning
