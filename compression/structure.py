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

    return _prune(model, input_shape, _lowest(sparsity))


def remove_zero_channels(model: nn.Module, input_shape: tuple[int, ...]) -> nn.Module:
    """A smaller copy without channels whose filters are zero in every coupled layer.

    Exact when the removed channels also have zero bias and no BatchNorm shift after them;
    otherwise each removed channel's constant output is dropped (see the module note).
    """
    def zeros(score: torch.Tensor) -> torch.Tensor:
        dead = torch.nonzero(score == 0).flatten()
        return dead[: len(score) - 1]

    return _prune(model, input_shape, zeros)


def channel_masks(model: nn.Module, input_shape: tuple[int, ...], sparsity: float) -> dict[str, torch.Tensor]:
    """Zero in place what prune_channels would remove; return {weight name: kept mask}.

    Every coupled layer loses the same channels: producers their filters (rows), consumers
    their input columns, BatchNorm its scale and shift. The model keeps its shapes (so
    histograms and sizes compare weight for weight) and computes exactly what the physically
    smaller model computes; `remove_zero_channels` then cuts the zeros out.
    """
    if not 0 <= sparsity < 1:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    names = {m: n for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))}
    keep = {m: torch.ones_like(m.weight, dtype=torch.bool) for m in names}
    graph, plans = _plans(model, input_shape, _lowest(sparsity))
    with torch.no_grad():
        for root, handler, drop in plans:
            for item in graph.get_pruning_group(root, handler, drop):
                module, idx = item.dep.target.module, torch.as_tensor(item.idxs, dtype=torch.long)
                if module in keep and graph.is_out_channel_pruning_fn(item.dep.handler):
                    keep[module][idx] = False
                elif module in keep and graph.is_in_channel_pruning_fn(item.dep.handler):
                    if getattr(module, "groups", 1) == 1:  # a grouped conv loses its rows instead
                        keep[module][:, idx] = False
                elif isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine:
                    module.weight[idx] = 0  # the channel's output is then exactly zero
                    module.bias[idx] = 0
        for module, mask in keep.items():
            module.weight.mul_(mask)
            if module.bias is not None:  # a removed filter's bias would leave a constant behind
                module.bias.mul_(mask.flatten(1).any(1))
    return {f"{names[m]}.weight": mask for m, mask in keep.items()}


def _lowest(sparsity: float) -> Chooser:
    def lowest(score: torch.Tensor) -> torch.Tensor:
        k = min(round(len(score) * sparsity), len(score) - 1)  # never empty a layer
        return torch.argsort(score, stable=True)[:k]
    return lowest


def _plans(model: nn.Module, input_shape: tuple[int, ...], choose: Chooser) -> tuple[object, list]:
    """The dependency graph of `model` and, per coupled group, the root channels to remove."""
    tp = _torch_pruning()
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=torch.zeros(1, *input_shape))
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    plans = []
    for group in graph.get_all_groups(ignored_layers=layers[-1:], root_module_types=(nn.Conv2d, nn.Linear)):
        drop = choose(_filter_l2(group, graph))
        if len(drop):
            root = group[0].dep.target.module
            plans.append((root, group[0].dep.handler, drop.tolist()))
    return graph, plans


def _prune(model: nn.Module, input_shape: tuple[int, ...], choose: Chooser) -> nn.Module:
    """Score every coupled group, then remove the chosen channels from all its layers."""
    model = copy.deepcopy(model).eval()
    graph, plans = _plans(model, input_shape, choose)
    # Groups are disjoint in the channels they own, so every plan's indices stay valid
    # while the others are carried out.
    for root, handler, drop in plans:
        pruning = graph.get_pruning_group(root, handler, drop)  # type: ignore[attr-defined]
        if graph.check_pruning_group(pruning):  # type: ignore[attr-defined]
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
