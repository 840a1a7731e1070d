"""Pruning masks: which Linear/Conv2d weights to zero, and helpers to apply and hold them.

A mask is a bool tensor shaped like its weight, True = kept. Masks are computed from
the model without touching it (models are shared between sessions); only `apply_masks`
and `hold_masks` write, and only to a model the caller owns.
"""

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from compression import criteria, structures
from compression.config import (  # one list of choices: config's
    CRITERIA,
    SCOPES,
)
from compression.config import STRUCTURES as _ALL_STRUCTURES
from compression.criteria import prunable
from compression.layers import LayerKind, compressible

# the structures weight masks express (heads go by compression.heads, through apply.compress)
STRUCTURES = tuple(s for s in _ALL_STRUCTURES if not structures.structure(s).slices_heads)

# -----------------------------------------------------------------------------
# what can be pruned


def _classifier(model: nn.Module) -> str | None:
    """Mask key of the last nn.Linear: the classifier, whose rows (classes) are never removed."""
    linears = [layer.key for layer in compressible(model).values() if layer.kind is LayerKind.LINEAR]
    return linears[-1] if linears else None


# -----------------------------------------------------------------------------
# argument checks


def _check_choice(arg: str, value: object, allowed: tuple[str, ...]) -> None:
    """ValueError naming the argument and its allowed values unless value is one of them."""
    if value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{arg} must be one of {options}; got {value!r}")


def _check_sparsity(sparsity: object, arg: str = "sparsity") -> None:
    """ValueError unless sparsity is a real number in [0, 1)."""
    if isinstance(sparsity, bool) or not isinstance(sparsity, numbers.Real) or not 0 <= float(sparsity) < 1:
        raise ValueError(f"{arg} must be a number in [0, 1) (the fraction of weights set to zero); got {sparsity!r}")


# -----------------------------------------------------------------------------
# selection


def _kth_smallest(x: Tensor, k: int) -> Tensor:
    """The k-th smallest entry (1-based) of a 1-D tensor."""
    if x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64):
        # numpy's introselect is ~10x faster than torch.kthvalue on CPU (0.06 vs 0.7 ms for
        # 50k scores), and the dashboard computes masks on every slider move
        return torch.as_tensor(np.partition(x.numpy(), k - 1)[k - 1])
    return x.kthvalue(k).values


def drop_lowest(scores: Tensor, k: int) -> Tensor:
    """Keep-mask over a 1-D score vector with its k lowest entries dropped (ties: lowest index first)."""
    if k == 0:
        return torch.ones_like(scores, dtype=torch.bool)
    # a threshold and a compare instead of topk(k, largest=False), which takes ~4 ms for
    # 50k weights on CPU
    threshold = _kth_smallest(scores, k)
    drop = scores <= threshold
    if int(drop.sum()) > k:  # scores tie at the threshold: drop only as many as needed
        below = scores < threshold
        tied = drop & ~below
        drop = below | (tied & (tied.cumsum(0) <= k - int(below.sum())))
    return ~drop


def _unstructured(scores: dict[str, Tensor], sparsity: float, scope: str) -> dict[str, Tensor]:
    """Drop the lowest-scored round(sparsity * n) weights, over all layers or in each layer."""
    # Python round(), as torch.nn.utils.prune._compute_nparams_toprune, so counts match torch
    if scope == "layer":
        return {n: drop_lowest(s.flatten(), round(sparsity * s.numel())).view_as(s) for n, s in scores.items()}
    flat = torch.cat([s.flatten() for s in scores.values()])
    keep = drop_lowest(flat, round(sparsity * flat.numel()))
    parts = keep.split([s.numel() for s in scores.values()])
    return {n: p.view_as(s) for (n, s), p in zip(scores.items(), parts)}


def _per_row(s: Tensor, sparsity: float) -> Tensor:
    """Keep-mask dropping the round(sparsity * row length) lowest scores of every output row."""
    rows = s.reshape(s.shape[0], -1)
    k = round(sparsity * rows.shape[1])
    return torch.stack([drop_lowest(r, k) for r in rows]).view_as(s)


def _expand_rows(keep_rows: Tensor, like: Tensor) -> Tensor:
    """Row keep-mask [out] -> weight-shaped keep-mask."""
    return keep_rows.view(-1, *[1] * (like.dim() - 1)).expand_as(like).clone()


def _rows(
    scores: dict[str, Tensor], row_scores: dict[str, Tensor], sparsity: float, scope: str,
    comparable: bool, classifier: str | None,
) -> dict[str, Tensor]:
    """Drop whole rows (output neurons / filters, dim 0) with the lowest row scores; the classifier keeps all.

    scores: weight-shaped tensors (only their shapes count here); row_scores: one score per row.
    """
    keep = {n: torch.ones(s.shape[0], dtype=torch.bool, device=s.device) for n, s in scores.items()}
    candidates = [n for n in scores if n != classifier]
    if scope == "layer":
        # round(sparsity * rows) rows in each non-classifier layer, as ln_structured(amount=sparsity)
        for n in candidates:
            keep[n] = drop_lowest(row_scores[n], round(sparsity * row_scores[n].numel()))
    elif candidates:
        row_size = {n: scores[n][0].numel() for n in candidates}
        # a row's L2 norm grows with sqrt(fan-in), so compare rows across layers by their RMS
        # (norm / sqrt(row size)); otherwise narrow layers would always be pruned first.
        # Random, APoZ and entropy row scores are already comparable.
        scale = {n: 1.0 if comparable else math.sqrt(row_size[n]) for n in candidates}
        ranked = torch.cat([row_scores[n] / scale[n] for n in candidates])
        sizes = torch.cat([torch.full_like(row_scores[n], row_size[n], dtype=torch.long) for n in candidates])
        target = round(sparsity * sum(s.numel() for s in scores.values()))
        order = ranked.argsort(stable=True)
        # rule: drop the longest prefix of the ranking (lowest first) whose zeroed weights do
        # not exceed the target, so a layer's rows go strictly in score order and the achieved
        # sparsity is at most the target, short of it by less than one row (or by the
        # classifier's share when the target is out of reach)
        n_drop = int(torch.searchsorted(sizes[order].cumsum(0), target, right=True))
        dropped = torch.zeros_like(ranked, dtype=torch.bool)
        dropped[order[:n_drop]] = True
        for n, d in zip(candidates, dropped.split([row_scores[n].numel() for n in candidates])):
            keep[n] = ~d
    return {n: _expand_rows(keep[n], s) for n, s in scores.items()}


def two_of_four(s: Tensor) -> Tensor:
    """Keep the 2 highest scores in every 4 consecutive weights along the input dim (Conv2d: in*kh*kw)."""
    rows = s.flatten(1)
    width = rows.shape[1]
    # pad a short tail group with -inf: the padding is never preferred to a real weight, so a
    # tail of 1 or 2 weights is kept whole and a tail of 3 keeps its best 2 -- exactly what a
    # 2:4 kernel needs after zero-padding the input dim to a multiple of 4
    padded = F.pad(rows, (0, -width % 4), value=-math.inf)
    groups = padded.view(rows.shape[0], -1, 4)
    keep = torch.zeros_like(groups, dtype=torch.bool).scatter_(-1, groups.topk(2, dim=-1).indices, True)
    return keep.view(rows.shape[0], -1)[:, :width].reshape(s.shape)


def masks(
    model: nn.Module,
    sparsity: float,
    scope: str = "global",
    structure: str = "unstructured",
    criterion: str = "magnitude",
    *,
    data: tuple[Tensor, Tensor] | None = None,
    seed: int = 0,
    layer_sparsity: Mapping[str, float] | None = None,
) -> dict[str, Tensor]:
    """{weight name: bool mask, True = kept} for every prunable weight; the model is not modified.

    sparsity: fraction in [0, 1) of prunable weights to zero, over all of them (scope="global")
      or in each layer (scope="layer"). Counts are round(sparsity * n), as torch.nn.utils.prune;
      among equal scores at the threshold the lowest index (in module order) is dropped first.
    structure: "unstructured" (single weights); "rows" (whole output neurons / filters,
      ranked by the L2 norm of their scores; the classifier, the last nn.Linear, keeps all its
      rows, so the achieved sparsity can be below the asked one: measure it with sparsity_of);
      "2:4" (2 kept in every 4 consecutive weights along the input dim; always 50% in full
      groups, so sparsity and scope are ignored).
    criterion: a record of compression.criteria: "magnitude" |w|; "random" (seeded by seed);
      "taylor" |w * dL/dw| with L the cross-entropy on data=(x, y), computed on an eval-mode copy
      of the model; "apoz" and "entropy" (rows only) from the post-ReLU activations on data's x.
    layer_sparsity: {weight name: sparsity} for layers pruned to exactly their own sparsity
      within the layer (layer scope); the other layers follow sparsity and scope. Ignored by 2:4.
    """
    _check_sparsity(sparsity)
    _check_choice("scope", scope, SCOPES)
    if structure in _ALL_STRUCTURES and structures.structure(structure).slices_heads:
        raise ValueError("structure='heads' removes whole attention heads by their own score: "
                         "compression.heads (through apply.compress) prunes it, not weight masks")
    _check_choice("structure", structure, STRUCTURES)
    _check_choice("criterion", criterion, CRITERIA)
    record = criteria.lookup(criterion)
    if structure not in record.structures:
        raise ValueError(f"criterion={criterion!r} scores whole neurons, so it needs structure='rows', "
                         f"not {structure!r}")
    if record.needs_data and data is None:
        raise ValueError(f"criterion={criterion!r} needs data=(x, y): its scores are computed on that batch")
    own = dict(layer_sparsity or {})
    for name, s in own.items():
        _check_sparsity(s, f"layer_sparsity[{name!r}]")
    weights = {n: w.detach() for n, w in prunable(model).items()}
    if record.one_shot is not None:  # a method that updates weights: its masks, from a copy it prunes
        assert data is not None
        return record.one_shot(copy.deepcopy(model).eval(), sparsity, structure, data[0], own)
    scores = record.weight_scores(model, data, seed) if record.weight_scores else weights
    unknown = sorted(set(own) - set(scores))
    if unknown:
        raise ValueError(f"layer_sparsity names {', '.join(map(repr, unknown))}, not a prunable weight "
                         f"of this model; prunable weights: {', '.join(scores)}")
    if not scores:
        return {}
    if structure == "2:4":
        return {n: two_of_four(s) for n, s in scores.items()}
    rest = {n: s for n, s in scores.items() if n not in own}
    classifier = _classifier(model)
    rows = (record.row_scores(model, scores if record.weight_scores else None, data, seed)
            if structure == "rows" else {})

    def select(group: dict[str, Tensor], amount: float, group_scope: str) -> dict[str, Tensor]:
        if not group:
            return {}
        if structure == "unstructured" and record.per_row:  # Wanda: each output row to the sparsity
            return {n: _per_row(s, amount) for n, s in group.items()}
        if structure == "unstructured":
            return _unstructured(group, amount, group_scope)
        # a layer without a neuron score (attention's in-projection has no activation of its own) keeps its rows
        kept = {n: rows[n] if n in rows else torch.full((group[n].shape[0],), math.inf) for n in group}
        return _rows(group, kept, amount, group_scope, record.comparable, classifier)

    out = select(rest, sparsity, scope)
    for name, amount in own.items():  # a layer with its own sparsity: exactly that, within it
        out.update(select({name: scores[name]}, amount, "layer"))
    return {n: out[n] for n in scores}  # module order


def prune_in_place(model: nn.Module, sparsity: float, scope: str = "global", structure: str = "unstructured",
                   criterion: str = "magnitude", *, data: tuple[Tensor, Tensor] | None = None, seed: int = 0,
                   layer_sparsity: Mapping[str, float] | None = None) -> dict[str, Tensor]:
    """Prune a model the caller owns (never a cached one) and return its masks, as `masks` + `apply_masks`.

    A criterion with a one-shot method (SparseGPT) also updates the kept weights to compensate
    for the pruned ones, so its pruned model is not the original times the masks.
    """
    record = criteria.lookup(criterion)
    if record.one_shot is not None:
        _check_sparsity(sparsity)
        _check_choice("structure", structure, record.structures)
        if data is None:
            raise ValueError(f"criterion={criterion!r} needs data=(x, y): it is calibrated on that batch")
        return record.one_shot(model, sparsity, structure, data[0], dict(layer_sparsity or {}))
    out = masks(model, sparsity, scope, structure, criterion, data=data, seed=seed, layer_sparsity=layer_sparsity)
    apply_masks(model, out)
    return out


# -----------------------------------------------------------------------------
# applying masks


def _masked_weights(model: nn.Module, masks: dict[str, Tensor]) -> list[tuple[str, Tensor, Tensor]]:
    """(name, weight, pruned-positions) for every mask, checked against the model's prunable weights."""
    weights = prunable(model)
    out = []
    for name, mask in masks.items():
        if name not in weights:
            raise ValueError(f"mask {name!r} names no prunable weight; prunable weights: {list(weights)}")
        w = weights[name]
        if mask.shape != w.shape:
            raise ValueError(f"mask {name!r} has shape {tuple(mask.shape)}, its weight {tuple(w.shape)}")
        out.append((name, w, ~mask.to(device=w.device, dtype=torch.bool)))
    return out


def apply_masks(model: nn.Module, masks: dict[str, Tensor]) -> None:
    """Zero the pruned weights in place; only for a model the caller owns (never a cached one)."""
    with torch.no_grad():
        for _, w, pruned in _masked_weights(model, masks):
            # masked_fill, not multiply: an exact +0.0 even where a weight is inf or nan
            w.masked_fill_(pruned, 0.0)


def hold_masks(model: nn.Module, masks: dict[str, Tensor]) -> Callable[[], None]:
    """Zero the pruned weights now; return a function that zeroes them again, to call after each optimizer.step()."""
    # re-zeroing after the step, rather than zeroing gradients, also undoes what momentum and
    # weight decay would move, and installs no hooks on the model (nothing to remove later)
    pairs = [(w, pruned) for _, w, pruned in _masked_weights(model, masks)]

    def hold() -> None:
        with torch.no_grad():
            for w, pruned in pairs:
                w.masked_fill_(pruned, 0.0)

    hold()
    return hold


# -----------------------------------------------------------------------------
# measuring and scheduling


def sparsity_of(masks: dict[str, Tensor]) -> float:
    """Fraction of weights zeroed over all masks (0.0 for no masks)."""
    total = sum(m.numel() for m in masks.values())
    kept = sum(int(m.sum()) for m in masks.values())
    return (total - kept) / total if total else 0.0


def layer_sparsity(masks: dict[str, Tensor]) -> dict[str, float]:
    """{name: fraction of that weight zeroed}."""
    return {n: (m.numel() - int(m.sum())) / m.numel() if m.numel() else 0.0 for n, m in masks.items()}


def gradual_schedule(final_sparsity: float, steps: int) -> list[float]:
    """Sparsity after each of n pruning steps: s_f * (1 - (1 - t/n)**3), t = 1..n (Zhu & Gupta, 2017)."""
    # cubic: prune fast while many redundant weights remain, slowly near the end, with
    # fine-tuning between steps (iterative pruning, Han et al., 2015)
    _check_sparsity(final_sparsity, "final_sparsity")
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1; got {steps!r}")
    return [final_sparsity * (1 - (1 - t / steps) ** 3) for t in range(1, steps + 1)]
