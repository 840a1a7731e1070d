"""Accuracy curves: one config field varied, or a gradual pruning path along the sparsity axis."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from compression import (
    data,
    measure,
    models,
    source,
    structures,
    train,
)
from compression.apply import compress
from compression.config import CompressionConfig
from compression.models import Progress


def accuracy_points(model_id: str | source.ModelSource, config: CompressionConfig, field: str, values: list[Any],
                    data_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """Accuracy (with its 95% CI) as one config field varies, the others held: a curve's points.

    Only compresses and measures accuracy (no sizes, files or latency), so a 10-point curve
    costs about as much as one full evaluate().
    """
    loaded = source.load(source.parse(model_id) if isinstance(model_id, str) else model_id, data_dir=data_dir)
    if loaded.dataset is None:
        raise models.ModelError(f"{model_id}: no accuracy curve, accuracy is {loaded.why_no_accuracy}")
    base, ds = loaded.model, loaded.dataset
    points = []
    for value in values:
        model, _, _ = compress(base, ds, config.replace(**{field: value}))
        acc = measure.accuracy(model, ds.x_test, ds.y_test)
        lo, hi = measure.wilson_interval(acc, len(ds.y_test))
        points.append({field: value, "accuracy": acc, "lo": lo, "hi": hi})
    return points


def sparsity_path(model_id: str, config: CompressionConfig, values: list[float],
                  progress: Progress | None = None, data_dir: str | Path | None = None
                  ) -> list[dict[str, Any]]:
    """A fine-tuned accuracy curve along the sparsity axis in one gradual pruning run.

    Prune to the smallest sparsity, fine-tune (config.finetune_epochs, masks held), measure
    under the config's quantization; prune further from there to the next value, and so on
    (gradual pruning, Zhu & Gupta 2017): every point costs one pruning step, not a whole
    schedule. Step i fine-tunes with seed config.seed + i, as evaluate()'s own schedule does,
    so when `values` is that schedule (prune.gradual_schedule(config.sparsity,
    config.prune_steps)) the last point is evaluate()'s accuracy exactly (for the "random"
    criterion the masks' seeds differ). Other points are one path's, not each sparsity's own
    best schedule: label the curve so.
    """
    if structures.structure(config.structure).fixed_sparsity is not None:
        raise ValueError("structure=2:4 prunes a fixed half of every group: there is no sparsity axis to walk")
    ds = data.load(models.spec(model_id).dataset, data_dir=data_dir)
    model = models.load(model_id, data_dir=data_dir)
    quant_only = config.replace(sparsity=0.0, prune_steps=1, finetune_epochs=0, layer_sparsity=())
    targets = sorted(set(values))
    points = []
    steps = 0  # pruning steps taken so far: step k fine-tunes with seed config.seed + k
    for i, target in enumerate(targets):
        if target > 0:
            step = (lambda f, m, i=i, t=target: progress((i + f) / len(targets), f"sparsity {t:.0%}: {m}")
                    if progress else None)
            train.prune_and_finetune(model, ds, target, steps=1, epochs=config.finetune_epochs,
                                     scope=config.scope, structure=config.structure,
                                     criterion=config.criterion, seed=config.seed + steps,
                                     progress=step if progress else None)
            steps += 1
        train.seed_cpu(config.seed)
        measured, _, _ = compress(model, ds, quant_only)
        acc = measure.accuracy(measured, ds.x_test, ds.y_test)
        lo, hi = measure.wilson_interval(acc, len(ds.y_test))
        points.append({"sparsity": target, "accuracy": acc, "lo": lo, "hi": hi, "curve": "fine-tuned path"})
        if progress:
            progress((i + 1) / len(targets), f"sparsity {target:.0%}")
    return points
