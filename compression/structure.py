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

Uploaded `torch.export` programs compute BatchNorm and LayerNorm as functional operators
on parameters their placeholder modules hold, which the dependency graph cannot see (so a
conv lost filters while its BatchNorm kept 16 statistics: "running_mean should contain 8
elements not 16"). `_norms_as_modules` turns those calls back into BatchNorm / LayerNorm
modules sharing the same tensors. Attention and other reshapes a program bakes its sizes
into can still couple channels in ways the tracer misreads, so in a program every group is
sliced on a trial copy first and kept only when the smaller model computes what the masked
one does; the others keep their channels, and a graph with no such group is refused. A module
whose forward splits channels by fixed sizes (the zoo's multi-head attention: q, k, v into
heads) says so with `reshapes_channels = True`, and its model is trial-sliced the same way.

LayerNorm normalises over every feature, so zeroing a feature is not removing it: the
masked model's LayerNorms average over the kept features only (`_KeptLayerNorm`), which
is what the sliced model computes (to float rounding: the statistics are summed in another order).
"""
from __future__ import annotations

import copy
import hashlib
import threading
from collections.abc import Callable
from types import ModuleType

import torch
from torch import fx, nn

from compression.config import ConfigError

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
    their input columns, BatchNorm its scale and shift, LayerNorm the feature (it then
    normalises over the kept ones). The model keeps its shapes (so histograms and sizes
    compare weight for weight) and computes what the physically smaller model computes (to
    float rounding where a LayerNorm lost features); `remove_zero_channels` then cuts the zeros out. ConfigError in one sentence
    for an uploaded program none of whose channel groups can be sliced.
    """
    if not 0 <= sparsity < 1:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    _norms_as_modules(model)
    names = {m: n for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))}
    keep = {m: torch.ones_like(m.weight, dtype=torch.bool) for m in names}
    graph, plans = _plans(model, input_shape, _lowest(sparsity))
    with torch.no_grad():
        for plan in plans:
            _zero_group(graph.get_pruning_group(*plan), graph, keep)
        _apply(keep)
    return {f"{names[m]}.weight": mask for m, mask in keep.items()}


class _KeptLayerNorm(nn.LayerNorm):
    """A LayerNorm over the kept features only, zero at the others: what the sliced model computes.

    Zeroed features would otherwise still count in the mean and variance (n instead of n - k).
    """

    kept: torch.Tensor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise the kept features of the last dimension; the removed ones output zero."""
        # The statistics as products with the kept-feature indicator, elementwise otherwise (no
        # gather or scatter): what layer_norm computes on the kept features to float rounding
        # (two-pass mean and variance), 3x faster than indexing on vit-fashion's 10,000 images.
        k = self.kept.to(x.dtype)
        n = k.sum()
        mean = (x @ k / n).unsqueeze(-1)
        centred = (x - mean) * k
        var = ((centred * centred) @ k / n).unsqueeze(-1)
        out = centred * torch.rsqrt(var + self.eps)
        if self.weight is not None:
            out = out * self.weight
        return out + self.bias * k if self.bias is not None else out


class _AnyBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm of any input rank: an exported program's functional batch_norm as a module."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        """Any rank: the program's own graph already fixed what it normalises."""


def _zero_group(group: object, graph: object, keep: dict[nn.Module, torch.Tensor]) -> None:
    """Zero one coupled group's channels in every layer it touches; masks go in `keep`."""
    for item in group:  # type: ignore[attr-defined]
        module, idx = item.dep.target.module, torch.as_tensor(item.idxs, dtype=torch.long)
        handler = item.dep.handler
        if module in keep and graph.is_out_channel_pruning_fn(handler):  # type: ignore[attr-defined]
            keep[module][idx] = False
        elif module in keep and graph.is_in_channel_pruning_fn(handler):  # type: ignore[attr-defined]
            if getattr(module, "groups", 1) == 1:  # a grouped conv loses its rows instead
                keep[module][:, idx] = False
        elif isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine:
            module.weight[idx] = 0  # the channel's output is then exactly zero
            module.bias[idx] = 0
        elif isinstance(module, nn.LayerNorm) and len(module.normalized_shape) == 1:
            if not isinstance(module, _KeptLayerNorm):
                module.__class__ = _KeptLayerNorm
                module.register_buffer("kept", torch.ones(module.normalized_shape[0], dtype=torch.bool))
            module.kept[idx] = False
        elif isinstance(module, nn.Parameter):  # a weight outside any layer module (attention's in_proj)
            module.index_fill_(item.dep.target.pruning_dim, idx, 0)


def _apply(keep: dict[nn.Module, torch.Tensor]) -> None:
    for module, mask in keep.items():
        module.weight.mul_(mask)
        if module.bias is not None:  # a removed filter's bias would leave a constant behind
            module.bias.mul_(mask.flatten(1).any(1))


def _lowest(sparsity: float) -> Chooser:
    def lowest(score: torch.Tensor) -> torch.Tensor:
        k = min(round(len(score) * sparsity), len(score) - 1)  # never empty a layer
        return torch.argsort(score, stable=True)[:k]
    return lowest


def _plans(model: nn.Module, input_shape: tuple[int, ...], choose: Chooser) -> tuple[object, list]:
    """The dependency graph of `model` and, per coupled group, the root channels to remove.

    In an uploaded program only groups that slice exactly are planned (see the module note).
    """
    tp = _torch_pruning()
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=torch.zeros(1, *input_shape), verbose=False)
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    plans = []
    for group in graph.get_all_groups(ignored_layers=layers[-1:], root_module_types=(nn.Conv2d, nn.Linear)):
        drop = choose(_filter_l2(group, graph))
        if len(drop):
            root = group[0].dep.target.module
            plans.append((root, group[0].dep.handler, drop.tolist()))
    if plans and (_is_program(model) or _reshapes_channels(model)):
        key, names = (_structure_key(model), tuple(input_shape)), {m: n for n, m in model.named_modules()}
        sliceable = [p for p in plans if _slices_exactly_memo(model, graph, p, input_shape, key, names)]
        if not sliceable:
            raise ConfigError("rows pruning cannot slice this model: none of its channel groups can be cut "
                             "out without changing what it computes (its graph reshapes with fixed sizes); "
                             "use structure unstructured or 2:4")
        plans = sliceable
    return graph, plans


def _reshapes_channels(model: nn.Module) -> bool:
    """Whether a module of `model` declares (attribute `reshapes_channels`) that its forward splits
    a layer's outputs by fixed sizes, as multi-head attention splits q/k/v into heads: the
    dependency graph cannot see that coupling, so each group is trial-sliced as in a program."""
    return any(getattr(m, "reshapes_channels", False) for m in model.modules())


def _is_program(model: nn.Module) -> bool:
    """Whether `model` holds a torch.fx graph (an uploaded torch.export program)."""
    return bool(_graphs(model))


def _graphs(model: nn.Module) -> list[fx.GraphModule]:
    """The torch.fx graphs `model` runs: its GraphModules, and one a wrapper keeps outside its
    module tree (loading's fixed-batch wrapper shares the program's submodules, not the program)."""
    found = {id(m): m for m in model.modules() if isinstance(m, fx.GraphModule)}
    for m in model.modules():
        found |= {id(v): v for v in vars(m).values() if isinstance(v, fx.GraphModule)}
    return list(found.values())


# Trial slices remembered per model structure (module names, types and parameter shapes), since
# they are its property, not its weights': a group that cannot be cut exactly for one choice of
# channels is not cut for any (always safe: it only keeps channels); one that can is remembered
# for the very channels tried. A slider move on vit-fashion with rows tried 13 groups twice
# (the masks, then the sliced model), 1.2 of its 3.5 s.
_TRIALS: dict[tuple, bool] = {}
_TRIALS_LOCK = threading.Lock()
_TRIALS_SIZE = 4096


def _structure_key(model: nn.Module) -> tuple:
    """Module names, classes (where the forward is written) and parameter shapes, and the code of
    every torch.fx graph: an uploaded program's forward is its graph, not its classes."""
    def kind(m: nn.Module) -> str:
        t = nn.LayerNorm if isinstance(m, nn.LayerNorm) else type(m)  # _KeptLayerNorm is a LayerNorm here
        return f"{t.__module__}.{t.__qualname__}"
    graphs = sorted(hashlib.sha1(gm.code.encode()).hexdigest() for gm in _graphs(model))
    return (tuple(graphs), tuple((name, kind(m), tuple((pn, tuple(p.shape)) for pn, p in m.named_parameters(recurse=False)))
                                 for name, m in model.named_modules()))


def _slices_exactly_memo(model: nn.Module, graph: object, plan: tuple, input_shape: tuple[int, ...],
                         key: tuple, names: dict[nn.Module, str]) -> bool:
    """_slices_exactly, remembered in _TRIALS; key: (_structure_key(model), input shape), names: module -> name."""
    root, handler, drop = plan
    base = (*key, names.get(root), getattr(handler, "__name__", str(handler)))
    chosen = (*base, tuple(sorted(drop)))
    with _TRIALS_LOCK:
        if _TRIALS.get(base) is False or _TRIALS.get(chosen):
            return bool(_TRIALS.get(chosen, False))
    ok = _slices_exactly(model, graph, plan, input_shape)
    with _TRIALS_LOCK:
        if len(_TRIALS) >= _TRIALS_SIZE:
            _TRIALS.clear()
        _TRIALS[chosen if ok else base] = ok
    return ok


def _slices_exactly(model: nn.Module, graph: object, plan: tuple, input_shape: tuple[int, ...]) -> bool:
    """Whether cutting one group out of a copy computes what zeroing it computes (on a probe input)."""
    tp = _torch_pruning()
    root, handler, drop = plan
    memo: dict[int, object] = {}
    masked = copy.deepcopy(model, memo)
    mapped = {m: memo.get(id(m), m) for m in model.modules()}
    keep = {mapped[m]: torch.ones_like(m.weight, dtype=torch.bool) for m in model.modules()
            if isinstance(m, (nn.Linear, nn.Conv2d))}
    x = torch.randn(2, *input_shape, generator=torch.Generator().manual_seed(0))
    try:
        with torch.no_grad():
            group = graph.get_pruning_group(root, handler, drop)  # type: ignore[attr-defined]
            _zero_group(_Mapped(group, memo), graph, keep)
            _apply(keep)
            want = masked(x)
        sliced = copy.deepcopy(masked)
        cut = tp.DependencyGraph().build_dependency(sliced, example_inputs=torch.zeros(1, *input_shape), verbose=False)
        sliced_root = dict(sliced.named_modules())[{m: n for n, m in model.named_modules()}[root]]
        pruning = cut.get_pruning_group(sliced_root, cut.get_pruner_of_module(sliced_root).prune_out_channels, drop)
        if not cut.check_pruning_group(pruning):
            return False
        pruning.prune()
        _restore_layer_norms(sliced)
        with torch.no_grad():
            got = sliced(x)
    except Exception:  # noqa: BLE001 - any failure of the trial cut means "do not cut this group"
        return False
    return got.shape == want.shape and bool(torch.allclose(got, want, rtol=1e-3, atol=1e-4 * (1 + float(want.abs().max()))))


class _Mapped:
    """A pruning group's items with their modules and parameters swapped for a deep copy's."""

    def __init__(self, group: object, memo: dict[int, object]) -> None:
        self.group, self.memo = group, memo

    def __iter__(self):
        for item in self.group:  # type: ignore[attr-defined]
            target = copy.copy(item.dep.target)
            target.module = self.memo.get(id(target.module), target.module)
            dep = copy.copy(item.dep)
            dep.target = target
            yield type("Item", (), {"dep": dep, "idxs": item.idxs, "root_idxs": item.root_idxs})


def _restore_layer_norms(model: nn.Module) -> None:
    """After slicing, a _KeptLayerNorm whose removed features are gone is a plain LayerNorm again."""
    for m in model.modules():
        if isinstance(m, _KeptLayerNorm) and m.normalized_shape[0] == int(m.kept.sum()) != len(m.kept):
            del m._buffers["kept"]
            m.__class__ = nn.LayerNorm


def _prune(model: nn.Module, input_shape: tuple[int, ...], choose: Chooser) -> nn.Module:
    """Score every coupled group, then remove the chosen channels from all its layers."""
    model = copy.deepcopy(model).eval()
    _norms_as_modules(model)
    graph, plans = _plans(model, input_shape, choose)
    # Groups are disjoint in the channels they own, so every plan's indices stay valid
    # while the others are carried out.
    for root, handler, drop in plans:
        pruning = graph.get_pruning_group(root, handler, drop)  # type: ignore[attr-defined]
        if graph.check_pruning_group(pruning):  # type: ignore[attr-defined]
            pruning.prune()
    _restore_layer_norms(model)
    return model.eval()


def _norms_as_modules(model: nn.Module) -> None:
    """In every torch.fx graph of `model`, functional batch_norm / layer_norm calls become modules.

    The module takes the place of the placeholder that held the norm's tensors (same name,
    same Parameter and buffer objects), so names, state dict and outputs are unchanged;
    only now the dependency graph sees a BatchNorm or LayerNorm to slice with its channels.
    """
    aten = torch.ops.aten
    for gm in _graphs(model):
        changed = False
        for node in list(gm.graph.nodes):
            if node.op != "call_function":
                continue
            norm: nn.Module | None = None
            if node.target is aten.batch_norm.default and not node.args[5]:  # eval-mode batch norm
                x, w, b, mean, var = node.args[:5]
                owner = _owner(gm, mean, var, w, b)
                if owner is not None:
                    bn = _AnyBatchNorm(gm.get_buffer(mean.target).numel(), eps=float(node.args[7]),
                                       momentum=float(node.args[6]), affine=w is not None)
                    norm = _share(bn, gm, weight=w, bias=b, running_mean=mean, running_var=var)
                    bn.register_buffer("num_batches_tracked", None)  # no key the upload lacks
            elif node.target is aten.layer_norm.default and len(node.args) >= 3 and node.args[2] is not None:
                x, shape, w = node.args[:3]
                b = node.args[3] if len(node.args) > 3 else None
                eps = float(node.args[4]) if len(node.args) > 4 else 1e-5
                owner = _owner(gm, w, b)
                if owner is not None:
                    ln = nn.LayerNorm(tuple(shape), eps=eps, bias=b is not None)
                    norm = _share(ln, gm, weight=w, bias=b)
            if norm is None:
                continue
            parent, _, leaf = owner.rpartition(".")
            setattr(gm.get_submodule(parent) if parent else gm, leaf, norm)
            with gm.graph.inserting_before(node):
                call = gm.graph.call_module(owner, (x,))
            node.replace_all_uses_with(call)
            gm.graph.erase_node(node)
            changed = True
        if changed:
            gm.graph.eliminate_dead_code()
            gm.recompile()


def _owner(gm: fx.GraphModule, *nodes: object) -> str | None:
    """The one placeholder module holding exactly these get_attr tensors (None nodes skipped), or None."""
    targets = [n.target for n in nodes if n is not None]
    if not targets or any(getattr(n, "op", None) != "get_attr" for n in nodes if n is not None):
        return None
    owners = {t.rpartition(".")[0] for t in targets}
    if len(owners) != 1:
        return None
    owner = owners.pop()
    holder = gm.get_submodule(owner) if owner else gm
    held = {*holder._parameters, *holder._buffers} - {k for k, v in holder._buffers.items() if v is None}
    if not owner or list(holder.children()) or held != {t.rpartition(".")[2] for t in targets}:
        return None
    return owner


def _share(norm: nn.Module, gm: fx.GraphModule, **tensors: object) -> nn.Module:
    """`norm` holding the program's own Parameter and buffer objects under the usual names."""
    for name, node in tensors.items():
        if node is None:
            continue
        if name in ("weight", "bias"):
            setattr(norm, name, gm.get_parameter(node.target))  # type: ignore[attr-defined]
        else:
            norm.register_buffer(name, gm.get_buffer(node.target))  # type: ignore[attr-defined]
    return norm.eval()


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
