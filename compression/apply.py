"""Compress a copy of a model by a config: prune (and fine-tune), quantize weights and activations."""
from __future__ import annotations

import copy
import functools
from typing import Any

import torch
from torch import nn

from compression import (
    calibration,
    criteria,
    data,
    heads,
    methods,
    models,
    prune,
    quantize,
    smoothquant,
    structure,
    structures,
    train,
)
from compression import plan as plan_mod
from compression.config import CompressionConfig, Scope
from compression.layers import compressible
from compression.models import Progress
from compression.quantizers import Quantized


def inputs_only(input_shape: tuple[int, ...], why: str, name: str) -> data.Dataset:
    """A data set with no images, only an input shape: for a model measured without data."""
    if not input_shape:
        raise models.ModelError(f"{name}: its input shape is unknown; give test data (--data PATH.npz) "
                                f"so the shape can be read from it")
    empty = torch.zeros(0, *input_shape)
    no_labels = torch.zeros(0, dtype=torch.long)
    return data.Dataset(name="none", x_train=empty, y_train=no_labels, x_test=empty, y_test=no_labels,
                        x_calib=empty, classes=(), input_shape=input_shape,  # type: ignore[arg-type]
                        source=why)


def _applicable(config: CompressionConfig, ds: data.Dataset, base: nn.Module
                ) -> tuple[CompressionConfig, list[str]]:
    """The config this model and data can run, and one note per setting that could not apply."""
    notes: list[str] = []
    changes: dict[str, Any] = {}
    has_data = len(ds.x_train) > 0
    if not has_data and config.trains:
        changes.update(finetune_epochs=0, qat=False)
        notes.append("Fine-tuning skipped: it needs training data and this model has none.")
    if not has_data and config.quantizes_activations:
        changes["act_bits"] = 32
        notes.append(f"{config.act_bits}-bit activations not simulated: their ranges need calibration "
                     f"images and this model has none.")
    if not has_data and config.method != "rtn" and config.quantizes_weights:
        changes["method"] = "rtn"
        notes.append(f"{config.method.upper()} not applied: it calibrates on training images and this model "
                     f"has none; weights rounded to nearest.")
    if config.smooth_alpha > 0 and not (config.quantizes_activations and has_data):
        changes["smooth_alpha"] = 0.0
        notes.append("SmoothQuant not applied: it moves activation outliers into the weights for "
                     "quantized activations (act_bits below 32) calibrated on training images.")
    if config.prunes and structures.structure(config.structure).slices_heads:
        return _heads_applicable(config, ds, base, changes, notes)
    graph_rows = config.prunes and structures.structure(config.structure).slices_rows and not isinstance(base, nn.Sequential)
    if config.prunes and (graph_rows or not has_data) and criteria_need_data(config.criterion, graph_rows):
        changes["criterion"] = "magnitude"
        notes.append(f"Criterion '{config.criterion}' not applied: "
                     + ("channels of a residual/BatchNorm graph are removed by coupled-filter L2 norm."
                        if graph_rows else "its scores need data and this model has none; magnitude used."))
    if graph_rows:
        if config.trains and has_data:
            changes.update(finetune_epochs=0, qat=False)
            notes.append("Fine-tuning skipped: holding coupled channels at zero through BatchNorm "
                         "is not supported for this graph.")
        if config.layer_sparsity or config.scope != Scope.GLOBAL:
            notes.append("Per-layer sparsity and scope do not apply to this graph: every coupled channel "
                         "group loses the same fraction of its channels.")
    return (config.replace(**changes) if changes else config), notes


def _heads_applicable(config: CompressionConfig, ds: data.Dataset, base: nn.Module, changes: dict[str, Any],
                      notes: list[str]) -> tuple[CompressionConfig, list[str]]:
    """What structure 'heads' can run: a model with attention heads, scored on labelled training images."""
    if not heads.has_heads(base):
        changes.update(sparsity=0.0, layer_sparsity=())
        notes.append(heads.NO_HEADS)
    elif not len(ds.x_train):
        changes.update(sparsity=0.0, layer_sparsity=())
        notes.append("Head pruning not applied: head importance is scored on training images and this "
                     "model has none; nothing was pruned.")
    else:
        if config.criterion != "magnitude":
            notes.append(f"Criterion '{config.criterion}' not applied: heads are ranked by "
                         f"{structures.structure(config.structure).ranked_by}.")
        if config.layer_sparsity:
            changes["layer_sparsity"] = ()
            notes.append("Per-layer sparsity does not apply to heads: one fraction of all heads is removed.")
    return (config.replace(**changes) if changes else config), notes


def head_scores(base: nn.Module, ds: data.Dataset, config: CompressionConfig) -> heads.HeadScores:
    """The head scores and removed heads that `compress` uses for this config (structure 'heads')."""
    return heads.score(base, ds, config.sparsity, scope=str(config.scope), seed=config.seed, steps=config.prune_steps)


def criteria_need_data(criterion: str, graph_rows: bool) -> bool:
    """Whether `criterion` cannot run here: any but magnitude on a graph, a data criterion without data."""
    return criterion != "magnitude" and (graph_rows or criteria.lookup(criterion).needs_data)


def compress(base: nn.Module, ds: data.Dataset, config: CompressionConfig,
             progress: Progress | None = None, layer_plan: plan_mod.Plan | None = None, *, codes: bool = True,
             scores: heads.HeadScores | None = None, keep_before: bool = True
             ) -> tuple[nn.Module, dict[str, torch.Tensor], dict[str, Quantized]]:
    """A compressed copy of `base`: pruned (and fine-tuned), then weights and activations quantized.

    Each layer is compressed as the plan of (base, config) says (compression.plan; built here
    when not given): its own bits, quantizer and sparsity. Fine-tuning may be regularized
    (config.regularize) and quantization-aware (config.qat, in config.order with pruning);
    without pruning, fine-tuning runs on the float weights, which are then quantized.
    Returns (model, masks, {layer: Quantized}). Activation quantization is installed as
    forward pre-hooks on the copy, with ranges calibrated on ds.x_calib.

    scores: structure "heads" removes the heads these say (head_scores(base, ds, config); computed when None).

    codes=False: the same weights without the per-layer codes and statistics a Report needs
    (the quantizer's `fake`, the same kernel): 20x cheaper per layer, for accuracy-only curves.
    keep_before=False: each Quantized's `before` (a copy of the weights, for error statistics)
    is dropped as soon as its layer is done: a language model's evaluation never reads it, and
    for SmolLM2 it is 0.5 GB.
    """
    lp = layer_plan or plan_mod.make(base, config)
    # an embedding table that stays float is never changed without training: the copy shares it
    # (SmolLM2's is 113 MB of float32, 5 % of an evaluation's peak memory); a table the plan
    # quantizes, or tied to a layer that may change (a tied LM head), is copied
    changed = {id(layer.weight) for name, layer in compressible(base).items()
               if layer.kind.prunable or lp.layers[name].quantized}
    shared = {} if config.trains else {id(m.weight): m.weight for m in base.modules()
                                       if isinstance(m, nn.Embedding) and id(m.weight) not in changed}
    model = copy.deepcopy(base, memo=shared)
    masks: dict[str, torch.Tensor] = {}
    fake = _fake_quant(lp) if config.qat and lp.quantizes_weights else None
    penalty = train.regularizer(config.regularize, config.reg_strength)
    if lp.masks_by_heads:
        # whole attention heads (Michel et al. 2019), scored on the float model, then fine-tuned with them held
        masks = heads.masks(model, heads.removed_of(scores or head_scores(model, ds, config)))
        prune.apply_masks(model, masks)
        if config.finetune_epochs and len(ds.x_train):
            train.fit(model, ds.x_train, ds.y_train, config.finetune_epochs, lr=train.FINETUNE_LR, cosine=True,
                      seed=config.seed, masks=masks, fake_quant=fake, penalty=penalty, progress=progress)
    elif lp.masks_by_graph:
        # Residual adds, BatchNorm and depthwise convs couple channels across layers: a
        # filter can only go with every coupled filter, input column and BatchNorm channel.
        masks = structure.channel_masks(model, tuple(ds.input_shape), config.sparsity)
    elif lp.prunes:
        masks = train.prune_and_finetune(
            model, ds, config.sparsity, steps=config.prune_steps, epochs=config.finetune_epochs,
            scope=config.scope, structure=config.structure, criterion=config.criterion,
            seed=config.seed, layer_sparsity=lp.sparsities(),
            fake_quant=fake, order=config.order, penalty=penalty, progress=progress)
    elif config.finetune_epochs:
        # nothing pruned: fine-tune the float weights (under fake quantization with QAT), then quantize
        train.fit(model, ds.x_train, ds.y_train, config.finetune_epochs, lr=train.FINETUNE_LR, cosine=True,
                  seed=config.seed, fake_quant=fake, penalty=penalty, progress=progress)
    quant: dict[str, Quantized] = {}
    # SmoothQuant (Xiao et al. 2023) before weights are quantized: they are quantized as W·diag(s)
    smoothed = (smoothquant.migrate(model, ds.x_calib, config.smooth_alpha)
                if config.smooth_alpha > 0 and config.quantizes_activations and len(ds.x_calib) else {})
    if lp.quantizes_weights and config.method != "rtn" and len(ds.x_train):
        # calibrated rounding (GPTQ / AWQ) on training images; codes=False makes no difference here
        quant = methods.quantize(model, lp, calibration.batch(ds), config.method, masks, progress, keep_before)
    elif lp.quantizes_weights:
        with torch.no_grad():
            for name, layer in compressible(model).items():
                settings = lp.layers[name]
                if settings.quantized and not codes:
                    layer.weight.copy_(settings.quantizer.fake(layer.weight, settings.bits, settings.scheme,
                                                               settings.granularity))
                elif settings.quantized:
                    w_q, q = settings.quantizer.quantize(layer.weight, settings.bits, settings.scheme,
                                                         settings.granularity)
                    quant[name] = q if keep_before else q.without_before()
                    layer.weight.copy_(w_q)
    if config.quantizes_activations:
        ranges = quantize.calibrate_activations(model, ds.x_calib)
        quantize.quantize_activations(model, ranges, config.act_bits)
    smoothquant.finish(model, smoothed)
    for name, s in smoothed.items():  # the file divides the decoded weights by s as finish did
        if name in quant:
            q = quant[name]
            quant[name] = Quantized(q.codec.with_column_scale(s), q.before, q.codes_used)
    return model.eval(), masks, quant


def _fake_quant(lp: plan_mod.Plan) -> train.FakeQuant:
    """{mask key: its layer's quantizer as a function}, for quantization-aware fine-tuning."""
    return {f"{s.name}.weight": functools.partial(s.quantizer.fake, bits=s.bits, scheme=s.scheme,
                                                  granularity=s.granularity)
            for s in lp.layers.values() if s.quantized}


def _without_hooks(model: nn.Module) -> nn.Module:
    clean = copy.deepcopy(model)
    for m in clean.modules():
        m._forward_pre_hooks.clear()
    return clean
