"""Training and fine-tuning loops (pruning masks held), with a progress callback."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from compression import criteria, data, models, prune
from compression.models import Progress

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]  # (logits, x, y)


def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, *, lr: float = 1e-3,
        batch_size: int = 32, seed: int = 0, masks: dict[str, torch.Tensor] | None = None,
        loss_fn: LossFn | None = None, progress: Progress | None = None,
        on_epoch: Callable[[int, nn.Module], None] | None = None,
        one_cycle: bool = False) -> nn.Module:
    """Train in place with AdamW; pruned weights (mask False) stay exactly zero throughout.

    one_cycle: warm up then anneal the learning rate (training from scratch); otherwise a
    constant rate (fine-tuning a trained model, where a warm-up would undo its training).
    """
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * -(-len(x) // batch_size)
    scheduler = (torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
                 if one_cycle and steps else None)
    reapply = prune.hold_masks(model, masks) if masks else (lambda: None)
    loss_fn = loss_fn or (lambda logits, _x, target: F.cross_entropy(logits, target))
    model.train()
    for epoch in range(epochs):
        for xb, yb in data.batches(x, y, batch_size, shuffle=True,
                                    seed=seed * 1000 + epoch):
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(xb), xb, yb).backward()
            optimizer.step()
            if scheduler:
                scheduler.step()
            reapply()  # Adam's momentum would otherwise revive pruned weights
        if on_epoch:
            model.eval()
            on_epoch(epoch, model)
            model.train()
        if progress:
            progress((epoch + 1) / epochs, f"epoch {epoch + 1}/{epochs}")
    return model.eval()


def prune_and_finetune(model: nn.Module, ds: data.Dataset, sparsity: float, *, steps: int = 1,
                       epochs: int = 0, scope: str = "global", structure: str = "unstructured",
                       criterion: str = "magnitude", seed: int = 0, lr: float = 2e-3,
                       layer_sparsity: dict[str, float] | None = None,
                       progress: Progress | None = None) -> dict[str, torch.Tensor]:
    """Prune in `steps` growing stages (Zhu & Gupta schedule), fine-tuning after each.

    Han et al. 2015 found iterative pruning keeps far more accuracy than one shot at high
    sparsity. Works in place on a model the caller owns; returns the final masks.
    layer_sparsity ({weight name: sparsity}) follows the same schedule, layer by layer.
    """
    # the schedule's shape (fraction of the final sparsity reached after each step), shared by
    # the global target and every per-layer one
    fractions = [f / 0.5 for f in prune.gradual_schedule(0.5, steps)] if steps > 1 else [1.0]
    calib = (ds.x_calib, ds.y_calib) if criteria.lookup(criterion).needs_data else None
    masks: dict[str, torch.Tensor] = {}
    for i, fraction in enumerate(fractions):
        target = sparsity * fraction
        masks = prune.masks(model, target, scope=scope, structure=structure, criterion=criterion,
                            data=calib, seed=seed,
                            layer_sparsity={n: s * fraction for n, s in (layer_sparsity or {}).items()})
        prune.apply_masks(model, masks)
        if epochs:
            step_progress = _sub_progress(progress, i, len(fractions), f"step {i + 1}/{len(fractions)} "
                                          f"(sparsity {target:.0%}): ")
            fit(model, ds.x_train, ds.y_train, epochs, lr=lr, seed=seed + i, masks=masks,
                progress=step_progress)
    return masks


def train_zoo_model(model_id: str, data_dir: str | Path | None = None,
                    progress: Progress | None = None, path: Path | None = None) -> nn.Module:
    """Train a zoo model from its fixed seed and save its checkpoint (deterministic)."""
    spec = models.spec(model_id)
    ds = data.load(spec.dataset, data_dir=data_dir)
    model = models.build(model_id, seed=0)
    fit(model, ds.x_train, ds.y_train, spec.epochs, lr=spec.lr, batch_size=spec.batch_size,
        seed=0, progress=progress, one_cycle=True)
    models.save(model, path or models.checkpoint_path(model_id))
    return model


def _sub_progress(progress: Progress | None, i: int, n: int, prefix: str) -> Progress | None:
    """Map a stage's own 0..1 progress into its slice of the whole run."""
    if progress is None:
        return None
    return lambda frac, msg: progress((i + frac) / n, prefix + msg)
