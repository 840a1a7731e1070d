"""Attention-head pruning (Michel et al. 2019, "Are Sixteen Heads Really Better than One?", arXiv:1905.10650).

Each head h of a multi-head attention gets a gate ξ_h = 1 multiplying its output (the slice of
the output projection's input that the head writes). Its importance is

    I_h = E_x | ∂L(x) / ∂ξ_h |

on calibration images of the training split (cross-entropy with their labels; the absolute
value is taken per image, then averaged). Heads are removed from the lowest score up: globally
by default, each layer's scores divided by their L2 norm first (as the paper does, so layers
compare), or the same fraction in every layer (scope "layer"); every layer keeps at least one head.

Removing head h zeroes its columns of the output projection (its gate at 0: exactly the gated
model) and its q, k and v rows of the packed `qkv` projection (masks, so size and fine-tuning
see them); `remove` then cuts both out for real: a smaller model computing what the masked one does.
Works on the zoo's `Attention` (compression.zoo: `qkv`, `proj`, `heads`, `head_dim`).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from compression import calibration, data, prune
from compression.layers import private
from compression.zoo import Attention

# Calibration images scored for head importance: 128 training images (Michel et al. score on a subset too)
# keep a slider move on vit-fashion (24 heads) near a second of backward passes on one thread.
N_IMAGES = 128
BATCH = 128
NO_HEADS = ("Head pruning does not apply: this model has no attention whose heads can be cut out (the zoo's "
            "vit-fashion has; nn.MultiheadAttention not yet); nothing was pruned.")


@dataclass(frozen=True)
class HeadScores:
    """Every attention layer's head scores and which heads go: plain values, for charts and the CLI."""
    layers: tuple[str, ...]                    # attention module names, in module order
    raw: tuple[tuple[float, ...], ...]         # I_h per layer and head (random draws for the baseline)
    normalized: tuple[tuple[float, ...], ...]  # raw / ||raw of the layer||_2: what a global ranking compares
    removed: tuple[tuple[bool, ...], ...]
    scope: str                                 # global or layer
    criterion: str                             # "importance" (Michel et al.) or "random"
    n_images: int
    steps: int = 1                             # rounds of scoring (each rescored with the removed heads gated off)

    @property
    def n_removed(self) -> int:
        return sum(sum(r) for r in self.removed)

    @property
    def n_heads(self) -> int:
        return sum(len(r) for r in self.removed)


def attentions(model: nn.Module) -> dict[str, Attention]:
    """{module name: attention} for every multi-head attention whose heads can be removed."""
    return {name: m for name, m in model.named_modules() if isinstance(m, Attention)}


def has_heads(model: nn.Module) -> bool:
    return bool(attentions(model))


def importance(model: nn.Module, x: Tensor, y: Tensor, batch: int = BATCH) -> dict[str, Tensor]:
    """{attention name: (heads,) I_h = mean over images of |∂L/∂ξ_h|}, L the image's cross-entropy.

    A gate per image and head multiplies the head's slice of `proj`'s input (a pre-hook on a
    private copy): with the losses summed, d(sum)/d gate[i, h] is image i's own ∂L_i/∂ξ_h.
    """
    model = private(model).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    attns = attentions(model)
    gates: dict[str, Tensor] = {}
    handles = []
    for name, attn in attns.items():
        def gate(module: nn.Module, args: tuple, name: str = name, attn: Attention = attn) -> tuple:
            h = args[0]
            g = gates[name]
            shaped = h.reshape(*h.shape[:-1], attn.heads, attn.head_dim) * g[:, None, :, None]
            return (shaped.reshape(h.shape),)
        handles.append(attn.proj.register_forward_pre_hook(gate))
    totals = {name: torch.zeros(attn.heads, dtype=torch.float64) for name, attn in attns.items()}
    try:
        for start in range(0, len(x), batch):
            xb, yb = x[start:start + batch], y[start:start + batch]
            for name, attn in attns.items():
                gates[name] = torch.ones(len(xb), attn.heads, requires_grad=True)
            loss = F.cross_entropy(model(xb), yb, reduction="sum")
            grads = torch.autograd.grad(loss, [gates[n] for n in attns])
            for name, g in zip(attns, grads):
                totals[name] += g.abs().sum(0).double()
    finally:
        for h in handles:
            h.remove()
    n = max(len(x), 1)
    return {name: (t / n).float() for name, t in totals.items()}


def random_scores(model: nn.Module, seed: int) -> dict[str, Tensor]:
    """The baseline: uniform random scores from a private generator (reproducible, global RNG untouched)."""
    gen = torch.Generator().manual_seed(seed)
    return {name: torch.rand(attn.heads, generator=gen) for name, attn in attentions(model).items()}


def select(scores: dict[str, Tensor], sparsity: float, scope: str = "global") -> dict[str, Tensor]:
    """{attention name: (heads,) bool, True = removed}: the lowest-scored fraction of heads, rounded.

    global: round(s · all heads) go, ranked on each layer's scores divided by their L2 norm
    (Michel et al. 2019, section 4.1); layer: round(s · heads) in every layer. A layer keeps one head.
    """
    removed = {name: torch.zeros(len(s), dtype=torch.bool) for name, s in scores.items()}
    if scope == "layer":
        for name, s in scores.items():
            k = min(round(sparsity * len(s)), len(s) - 1)
            removed[name][torch.argsort(s, stable=True)[:k]] = True
        return removed
    normed = {name: _normalize(s) for name, s in scores.items()}
    flat = [(float(v), i, name, h) for i, (name, s) in enumerate(normed.items()) for h, v in enumerate(s)]
    k = round(sparsity * len(flat))
    left = {name: len(s) for name, s in scores.items()}
    for _, _, name, h in sorted(flat):
        if k == 0:
            break
        if left[name] > 1:
            removed[name][h] = True
            left[name] -= 1
            k -= 1
    return removed


def masks(model: nn.Module, removed: dict[str, Tensor]) -> dict[str, Tensor]:
    """{mask key: kept positions}: each removed head's q, k, v rows of `qkv` and its columns of `proj`.

    Every attention's projections get a mask (all kept where no head goes), so the report's sparsity
    is the fraction of attention-projection weights removed.
    """
    out = {}
    for name, attn in attentions(model).items():
        gone = removed.get(name, torch.zeros(attn.heads, dtype=torch.bool))
        per_head = gone.repeat_interleave(attn.head_dim)           # (heads * head_dim,)
        rows = per_head.repeat(3)                                  # q, k, v blocks in qkv's output order
        prefix = f"{name}." if name else ""
        out[f"{prefix}qkv.weight"] = (~rows)[:, None].expand_as(attn.qkv.weight).clone()
        out[f"{prefix}proj.weight"] = (~per_head)[None, :].expand_as(attn.proj.weight).clone()
    return out


def score(model: nn.Module, ds: data.Dataset, sparsity: float, scope: str = "global",
          criterion: str = "importance", seed: int = 0, n: int = N_IMAGES, steps: int = 1) -> HeadScores:
    """Every head's score on the first n calibration images (training split) and the heads that go.

    steps > 1: removed in rounds, s·i/steps of the heads after round i, the model rescored each round
    with the heads removed so far gated off (their gradient is then exactly 0: they stay removed).
    On vit-fashion (88.6 %) half the heads removed in one shot leave 61.4 %, in four rounds 82.8 %
    (10,000 test images, no fine-tuning: benchmarks/heads.py).
    A removed head shows the score it had in the round that removed it.
    """
    attns = attentions(model)
    x = calibration.batch(ds, n)
    y = ds.y_train[:n]
    if criterion == "random":
        raw = random_scores(model, seed)
        removed = select(raw, sparsity, scope)
        shown = raw
    elif len(x) == 0 or len(y) != len(x):
        raise ValueError("Head importance needs labelled training images and this data set has none.")
    else:
        removed = {a: torch.zeros(m.heads, dtype=torch.bool) for a, m in attns.items()}
        shown = {a: torch.zeros(m.heads) for a, m in attns.items()}
        for i in range(1, max(steps, 1) + 1):
            gated = private(model)
            prune.apply_masks(gated, masks(gated, removed))
            raw = importance(gated, x, y)
            now = select(raw, sparsity * i / max(steps, 1), scope)
            for a in attns:
                fresh = now[a] & ~removed[a]
                keep = ~(now[a] | removed[a])
                shown[a] = torch.where(fresh | keep, raw[a], shown[a])
                removed[a] = removed[a] | now[a]
    return HeadScores(
        layers=tuple(attns), raw=tuple(tuple(float(v) for v in shown[a]) for a in attns),
        normalized=tuple(tuple(float(v) for v in _normalize(shown[a])) for a in attns),
        removed=tuple(tuple(bool(v) for v in removed[a]) for a in attns),
        scope=scope, criterion=criterion, n_images=0 if criterion == "random" else len(x), steps=max(steps, 1))


def removed_of(scores: HeadScores) -> dict[str, Tensor]:
    return {name: torch.tensor(r, dtype=torch.bool) for name, r in zip(scores.layers, scores.removed)}


def remove(model: nn.Module) -> nn.Module:
    """A copy of `model` without every head whose columns of `proj` are all zero (its output reaches nothing).

    The head's q, k, v rows and biases and its `proj` columns go, and `heads` shrinks: the smaller
    model computes exactly what the masked one does. A layer keeps at least one head.
    """
    model = copy.deepcopy(model)
    with torch.no_grad():
        for attn in attentions(model).values():
            d = attn.head_dim
            cols = attn.proj.weight.reshape(attn.proj.out_features, attn.heads, d)
            dead = cols.abs().sum((0, 2)) == 0
            if dead.all():
                dead[0] = False
            if not dead.any():
                continue
            keep = (~dead).repeat_interleave(d)
            rows = keep.repeat(3)
            kept = int((~dead).sum())
            qkv, proj = attn.qkv, attn.proj
            # sliced in place (no new nn.Linear: its initialiser would draw from the global generator)
            qkv.weight = nn.Parameter(qkv.weight[rows].clone())
            if qkv.bias is not None:
                qkv.bias = nn.Parameter(qkv.bias[rows].clone())
            qkv.out_features = 3 * kept * d
            proj.weight = nn.Parameter(proj.weight[:, keep].clone())
            proj.in_features = kept * d
            attn.heads = kept
    return model.eval()


def _normalize(s: Tensor) -> Tensor:
    norm = s.norm()
    return s / norm if norm > 0 else s
