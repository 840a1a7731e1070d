"""Compress a model by a config and measure everything a page shows: the Report."""
from __future__ import annotations

import copy
import functools
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from compression import (
    criteria,
    data,
    energy,
    export,
    measure,
    models,
    prune,
    quantize,
    quantizers,
    runtime,
    size,
    slim,
    source,
    structure,
    train,
)
from compression.config import CompressionConfig, ConfigError
from compression.models import Progress
from compression.quantizers import Codec, Quantized

N_RANDOM_CALIB = 8  # random images calibrating int8 when there is no data (for timing only)
HIST_BINS = 150  # binned on the server: raw weights never go to the browser
# fp32: PyTorch, the uncompressed model; compressed: what compression runs; ort_fp32: ONNX
# Runtime fp32 on the same (pruned) model as compressed, so int8 and runtime effects stay apart.
LATENCY_KEYS = ("fp32", "compressed", "fp32_iqr", "compressed_iqr", "ort_fp32", "ort_fp32_iqr")

# Every number says what kind it is (DESIGN principle 2).
KINDS = {
    "accuracy": "simulated",   # measured on the test split, under simulated (fake) quantization
    "size_theoretical": "theoretical",
    "size_file": "measured",
    "macs": "theoretical",
    "energy": "estimate",      # from the energy model and its constants: the page's word too
    "latency": "measured",
}


@dataclass
class LayerReport:
    name: str
    kind: str                      # "linear" or "conv"
    shape: list[int]
    params: int                    # weights + bias
    nonzero: int                   # non-zero weights + biases after compression
    bits: int
    macs: int                      # dense MACs per sample
    macs_effective: int            # MACs the energy model charges (x density when skipping zeros)
    mse: float                     # quantization error over kept weights
    sqnr_db: float | None          # None = no error (infinite SQNR)
    max_abs_error: float
    format: str                    # storage format chosen: dense, bitmask or csr-<p>
    size_bits: dict[str, int]      # values, indices, codebook, bias, total
    energy_pj: dict[str, float]    # compute, memory, total
    hist: dict[str, Any]           # edges, original, compressed (non-zero counts), zeros_*
    error_hist: dict[str, list]    # edges, counts of (w_q - w) on kept weights
    levels: list[float]            # quantization grid (per-tensor view) for histogram lines
    codes_used: int | None = None  # distinct codes the kept weights use (None: not quantized)
    huffman: dict[str, Any] | None = None  # format, values, indices, entries, total bits; None: not quantized


@dataclass
class Report:
    model: str
    dataset: str
    config: dict[str, Any]
    accuracy: float | None         # None: no test data or no trained weights (accuracy_note says)
    accuracy_baseline: float | None
    accuracy_ci95: list[float] | None
    accuracy_baseline_ci95: list[float] | None
    accuracy_delta: float | None   # accuracy - accuracy_baseline, on the same test images
    accuracy_delta_ci95: list[float] | None  # paired 95% interval (Newcombe 1998, method 10)
    n_test: int
    params_total: int
    params_nonzero: int
    sparsity: float                # fraction of prunable weights the pruning removed (from the masks)
    zeros_from_rounding: float     # fraction of kept prunable weights that quantization rounded to 0
    macs_dense: int
    macs_effective: int
    size_bytes: dict[str, float]   # fp32, pruned, compressed, huffman if quantized (theoretical); file (measured)
    compression_ratio: float       # fp32 / compressed (theoretical)
    compression_ratio_file: float  # fp32 / bytes of the written file (measured)
    energy_pj: dict[str, float]    # compute, memory, total (estimate)
    energy_baseline_pj: dict[str, float]
    energy_profile: str
    energy_assumptions: dict[str, Any]  # sram_bytes, sram/dram pJ per 32-bit word, weights_in, ...
    energy_factors: dict[str, float]    # compute x memory x placement = baseline / compressed energy
    weights_on_chip: bool
    layers: list[LayerReport]
    latency_ms: dict[str, float | None]  # fp32, compressed medians and their IQRs (measured)
    latency_path: str              # what actually ran for the compressed latency
    kinds: dict[str, str] = field(default_factory=lambda: dict(KINDS))
    notes: list[str] = field(default_factory=list)  # "why no speed-up" and similar
    accuracy_note: str | None = None  # why accuracy is null, e.g. "n/a (no trained weights)"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (infinite SQNR becomes null)."""
        return _finite(asdict(self))

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)


def evaluate(model: str | source.ModelSource, config: CompressionConfig = CompressionConfig(), *,
             latency: bool = True, data_dir: str | Path | None = None,
             progress: Progress | None = None) -> Report:
    """Compress the model a source names (or its URL/CLI word) by `config` and measure it.

    Without test data or trained weights, accuracy is null with the reason; everything else
    (size, MACs, energy, latency) is measured on the model as it is.
    """
    src = source.parse(model) if isinstance(model, str) else model
    if src.kind == "zoo":  # trains a missing checkpoint with progress before source.load reads it
        models.load(src.name, data_dir=data_dir, progress=progress)
    loaded = source.load(src, data_dir=data_dir)
    ds = loaded.dataset or inputs_only(loaded.input_shape, loaded.why_no_accuracy or source.NO_DATA, str(src))
    return evaluate_model(loaded.model, ds, config, name=str(src), latency=latency, progress=progress,
                          why_no_accuracy=loaded.why_no_accuracy)


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


def evaluate_model(base: nn.Module, ds: data.Dataset, config: CompressionConfig, *,
                   name: str = "custom", latency: bool = True,
                   progress: Progress | None = None, why_no_accuracy: str | None = None) -> Report:
    """Compress a copy of `base` (left untouched) and measure it; the engine behind evaluate().

    `ds` may hold no images (see inputs_only): accuracy is then null, `why_no_accuracy`
    (default "n/a (no test data)") says why, and steps that need data are skipped with a note.
    """
    torch.manual_seed(config.seed)
    if len(ds.y_test) == 0:
        why_no_accuracy = why_no_accuracy or source.NO_DATA
    run_config, skipped = _applicable(config, ds, base)
    model, masks, quant = compress(base, ds, run_config, progress=progress)
    originals = models.layers(base)
    compressed = models.layers(model)
    shapes = measure.layer_shapes(base, ds.input_shape)
    profile = energy.profile(config.profile, config.sram_kb)
    # Pruned rows can be cut out for real: a smaller dense model that runs faster.
    runnable = _without_hooks(model)
    if config.structure == "rows" and masks:
        runnable = (slim.slim(runnable) if isinstance(runnable, nn.Sequential)
                    else structure.remove_zero_channels(runnable, ds.input_shape))
    # a layer cut out entirely is absent from the smaller model: it costs nothing
    slim_macs = ({n: 0 for n in compressed} | {s.name: s.macs for s in measure.layer_shapes(runnable, ds.input_shape)}
                 if config.structure == "rows" and masks else {})

    # Sizes first: whether weights fit on chip decides the memory energy of every layer.
    sizes = {n: _layer_size(compressed[n], config, quant.get(n)) for n in compressed}
    other_params = sum(p.numel() for n, p in model.named_parameters()
                       if n.rsplit(".", 1)[0] not in compressed)
    compressed_bits = sum(s.total for s in sizes.values()) + other_params * size.FLOAT_BITS
    on_chip = energy.weights_on_chip(profile, compressed_bits / 8)

    layer_reports = []
    pruned_bits = other_params * size.FLOAT_BITS
    for shape in shapes:
        w0, w = originals[shape.name].weight.detach(), compressed[shape.name].weight.detach()
        kept = masks[shape.name + ".weight"] if masks else torch.ones_like(w0, dtype=torch.bool)
        pruned = w0 * kept if masks else w0
        pruned_bits += size.layer_size(pruned, size.FLOAT_BITS, 0, _bias_numel(originals[shape.name])).total
        density = float(torch.count_nonzero(w)) / w.numel()
        if config.skip_zeros:
            macs_eff = round(shape.macs * density)
        else:
            macs_eff = slim_macs.get(shape.name, shape.macs)
        compute = macs_eff * energy.mac_pj(profile, config.bits_for(shape.name), config.act_bits, shape.fan_in,
                                           _energy_op(config, shape.name))
        act_bits = (shape.in_elems + shape.out_elems) * config.act_bits
        memory = energy.memory_pj(profile, sizes[shape.name].total, act_bits, on_chip)
        # Quantization error is against the weights just before quantization: after
        # fine-tuning those are no longer the originals, and the drift is not rounding error.
        before = quant[shape.name].before if shape.name in quant else w
        # boolean indexing copies every kept weight: skipped when nothing was pruned
        kept_before, kept_w = (before[kept], w[kept]) if masks else (before.flatten(), w.flatten())
        errors = quantize.error_stats(kept_before, kept_w) if kept_w.numel() else _no_error()
        bias = compressed[shape.name].bias
        layer_reports.append(LayerReport(
            name=shape.name, kind=shape.kind, shape=list(shape.weight_shape),
            params=w.numel() + _bias_numel(compressed[shape.name]),
            nonzero=int(torch.count_nonzero(w)) + (int(torch.count_nonzero(bias)) if bias is not None else 0),
            bits=config.bits_for(shape.name), macs=shape.macs, macs_effective=macs_eff,
            mse=errors["mse"], sqnr_db=errors["sqnr_db"], max_abs_error=errors["max_abs"],
            format=sizes[shape.name].format,
            size_bits={**{k: getattr(sizes[shape.name], k) for k in ("values", "indices", "codebook", "bias")},
                       "total": sizes[shape.name].total},
            energy_pj={"compute": compute, "memory": memory, "total": compute + memory},
            hist=_histograms(w0, w),
            error_hist=(quantize.error_histogram(kept_before, kept_w) if kept_w.numel()
                        else {"edges": [], "counts": []}),
            levels=_levels(before, config, quant.get(shape.name)),
            codes_used=quant[shape.name].codes_used if shape.name in quant else None,
        ))

    acc = _accuracy(base, model, ds, config) if why_no_accuracy is None else None
    params_total, params_nonzero = measure.count_params(model)
    fp32_bits = params_total * size.FLOAT_BITS
    codecs = {name_: export.codec_for(quant.get(name_)) for name_ in compressed}
    # Deep Compression stage 3: priced whenever weights are quantized (the page can show it),
    # written to the file only when the config asks for it.
    coded = _huffman_sizes(compressed, codecs, sizes) if config.quantizes_weights else None
    huffman_bytes = {} if coded is None else {"huffman": (sum(s.total for s in coded.values())
                                                          + other_params * size.FLOAT_BITS) / 8}
    file_bytes = len(export.to_bytes(model, coded if config.huffman and coded else sizes, codecs))
    for lr in layer_reports if coded else []:
        h = coded[lr.name]  # type: ignore[index]
        lr.huffman = {"format": h.format, "values": h.values, "indices": h.indices, "total": h.total,
                      "entries": size.entries(compressed[lr.name].weight.detach(), h.format)}
    energy_total = _sum_energy(layer_reports)
    energy_base = _baseline_energy(shapes, profile, fp32_bits)
    act_bits_total = sum((s.in_elems + s.out_elems) * config.act_bits for s in shapes)
    weight_bits_charged = sum(sizes[s.name].total for s in shapes)
    lat, lat_path, lat_notes = (_latency(base, runnable, run_config, ds) if latency else
                                ({k: None for k in LATENCY_KEYS}, "not measured", []))

    report = Report(
        model=name, dataset=ds.name, config=config.to_dict(),
        **(acc or dict.fromkeys(("accuracy", "accuracy_baseline", "accuracy_ci95", "accuracy_baseline_ci95",
                                 "accuracy_delta", "accuracy_delta_ci95"))),
        n_test=len(ds.y_test), accuracy_note=why_no_accuracy,
        params_total=params_total, params_nonzero=params_nonzero,
        sparsity=prune.sparsity_of(masks),
        zeros_from_rounding=_zeros_from_rounding(compressed, masks),
        macs_dense=sum(s.macs for s in shapes),
        macs_effective=sum(r.macs_effective for r in layer_reports),
        size_bytes={"fp32": fp32_bits / 8, "pruned": pruned_bits / 8,
                    "compressed": compressed_bits / 8, **huffman_bytes, "file": file_bytes},
        compression_ratio=fp32_bits / compressed_bits,
        compression_ratio_file=fp32_bits / 8 / file_bytes,
        energy_pj=energy_total,
        energy_baseline_pj=energy_base,
        energy_profile=profile.name,
        energy_assumptions={
            **energy.assumptions(profile, compressed_bits),
            "baseline_weights_in": energy.assumptions(profile, fp32_bits)["weights_in"],
            # What energy_curve() needs to re-price the same traffic at another on-chip size.
            "weight_bits": compressed_bits, "activation_bits": act_bits_total,
            "baseline_weight_bits": fp32_bits,
            "baseline_activation_bits": sum((s.in_elems + s.out_elems) * 32 for s in shapes)},
        energy_factors=energy.factors(
            profile, (energy_base["compute"], fp32_bits, sum((s.in_elems + s.out_elems) * 32 for s in shapes)),
            (energy_total["compute"], weight_bits_charged, act_bits_total),
            levels=(energy.weights_on_chip(profile, fp32_bits / 8), on_chip)),
        weights_on_chip=on_chip,
        layers=layer_reports, latency_ms=lat, latency_path=lat_path,
    )
    if config.bits >= 32 and config.act_bits >= 32:
        report.kinds["accuracy"] = "measured"  # nothing simulated: the float model as it runs
    report.notes = ([f"Accuracy {why_no_accuracy}: size, MACs, energy and latency are measured on the "
                     f"model as it is."] if why_no_accuracy else []) + skipped + _notes(run_config, report) + lat_notes
    return report


def _accuracy(base: nn.Module, model: nn.Module, ds: data.Dataset, config: CompressionConfig) -> dict[str, Any]:
    """Accuracy of both models on the test split, their Wilson intervals and the paired change."""
    correct = measure.predictions(model, ds.x_test) == ds.y_test
    correct_base = measure.predictions(base, ds.x_test) == ds.y_test
    n = len(ds.y_test)
    acc, acc_base = int(correct.sum()) / n, int(correct_base.sum()) / n
    # The uncompressed config is the baseline model itself: its change is zero by construction.
    delta, delta_ci = ((0.0, (0.0, 0.0)) if config.is_baseline
                       else measure.paired_delta(correct.tolist(), correct_base.tolist()))
    return {"accuracy": acc, "accuracy_baseline": acc_base,
            "accuracy_ci95": list(measure.wilson_interval(acc, n)),
            "accuracy_baseline_ci95": list(measure.wilson_interval(acc_base, n)),
            "accuracy_delta": delta, "accuracy_delta_ci95": list(delta_ci)}


def _applicable(config: CompressionConfig, ds: data.Dataset, base: nn.Module
                ) -> tuple[CompressionConfig, list[str]]:
    """The config this model and data can run, and one note per setting that could not apply."""
    notes, changes = [], {}
    has_data = len(ds.x_train) > 0
    if not has_data and config.trains:
        changes.update(finetune_epochs=0, qat=False)
        notes.append("Fine-tuning skipped: it needs training data and this model has none.")
    if not has_data and config.quantizes_activations:
        changes["act_bits"] = 32
        notes.append(f"{config.act_bits}-bit activations not simulated: their ranges need calibration "
                     f"images and this model has none.")
    graph_rows = config.prunes and config.structure == "rows" and not isinstance(base, nn.Sequential)
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
        if config.layer_sparsity or config.scope != "global":
            notes.append("Per-layer sparsity and scope do not apply to this graph: every coupled channel "
                         "group loses the same fraction of its channels.")
    return (config.replace(**changes) if changes else config), notes


def criteria_need_data(criterion: str, graph_rows: bool) -> bool:
    """Whether `criterion` cannot run here: any but magnitude on a graph, a data criterion without data."""
    return criterion != "magnitude" and (graph_rows or criteria.lookup(criterion).needs_data)


def compress(base: nn.Module, ds: data.Dataset, config: CompressionConfig,
             progress: Progress | None = None
             ) -> tuple[nn.Module, dict[str, torch.Tensor], dict[str, Quantized]]:
    """A compressed copy of `base`: pruned (and fine-tuned), then weights and activations quantized.

    Each layer uses its own bits and sparsity when config overrides them. Fine-tuning may be
    regularized (config.regularize) and quantization-aware (config.qat, in config.order with
    pruning); either way the weights are then quantized by their layer's quantizer record.
    Returns (model, masks, {layer: Quantized}). Activation quantization is installed as forward
    pre-hooks on the copy, with ranges calibrated on ds.x_calib.
    """
    model = copy.deepcopy(base)
    names = list(models.layers(model))
    _check_layer_names(config, names)
    masks: dict[str, torch.Tensor] = {}
    fake = _fake_quant(config, names) if config.qat and config.quantizes_weights else None
    penalty = train.regularizer(config.regularize, config.reg_strength)
    if config.prunes and config.structure == "rows" and not isinstance(model, nn.Sequential):
        # Residual adds, BatchNorm and depthwise convs couple channels across layers: a
        # filter can only go with every coupled filter, input column and BatchNorm channel.
        masks = structure.channel_masks(model, tuple(ds.input_shape), config.sparsity)
    elif config.prunes:
        masks = train.prune_and_finetune(
            model, ds, config.sparsity, steps=config.prune_steps, epochs=config.finetune_epochs,
            scope=config.scope, structure=config.structure, criterion=config.criterion,
            seed=config.seed, layer_sparsity={f"{n}.weight": s for n, s in config.layer_sparsity},
            fake_quant=fake, order=config.order, penalty=penalty, progress=progress)
    elif config.finetune_epochs and (fake or penalty):
        train.fit(model, ds.x_train, ds.y_train, config.finetune_epochs, lr=train.FINETUNE_LR,
                  seed=config.seed, fake_quant=fake, penalty=penalty, progress=progress)
    quant: dict[str, Quantized] = {}
    if config.quantizes_weights:
        with torch.no_grad():
            for name, layer in models.layers(model).items():
                if config.bits_for(name) < 32:
                    layer.weight.copy_(_quantize_weight(layer.weight, config, quant, name))
    if config.quantizes_activations:
        ranges = quantize.calibrate_activations(model, ds.x_calib)
        quantize.quantize_activations(model, ranges, config.act_bits)
    return model.eval(), masks, quant


def _fake_quant(config: CompressionConfig, names: list[str]) -> train.FakeQuant:
    """{weight name: its layer's quantizer as a function}, for quantization-aware fine-tuning."""
    return {f"{name}.weight": functools.partial(quantizers.for_layer(config, name).fake, bits=config.bits_for(name),
                                                scheme=config.scheme, per_channel=config.per_channel)
            for name in names if config.bits_for(name) < 32}


def _check_layer_names(config: CompressionConfig, names: list[str]) -> None:
    """ConfigError naming an override's layer that the model does not have."""
    for key, pairs in (("layer_bits", config.layer_bits), ("layer_sparsity", config.layer_sparsity)):
        for layer, _ in pairs:
            if layer not in names:
                raise ConfigError(f"{key} names layer '{layer}', which this model does not have: "
                                  f"its layers are {', '.join(names)}.")


def _quantize_weight(w: torch.Tensor, config: CompressionConfig, quant: dict[str, Quantized],
                     name: str) -> torch.Tensor:
    """Quantize one weight tensor by its layer's quantizer record and record how (the file needs the codes)."""
    record = quantizers.for_layer(config, name)
    w_q, quant[name] = record.quantize(w, config.bits_for(name), config.scheme, config.per_channel)
    return w_q


def sweep(model_id: str | source.ModelSource, sparsities: list[float], bits: list[int],
          base_config: CompressionConfig = CompressionConfig(),
          progress: Progress | None = None) -> list[dict[str, Any]]:
    """Evaluate every (sparsity, bits) pair; one flat row of headline numbers each."""
    rows = []
    pairs = [(s, b) for s in sparsities for b in bits]
    for i, (s, b) in enumerate(pairs):
        r = evaluate(model_id, base_config.replace(sparsity=s, bits=b), latency=False)
        lo, hi = r.accuracy_ci95 or (None, None)  # None: no data or no trained weights
        dlo, dhi = r.accuracy_delta_ci95 or (None, None)
        rows.append({"model": str(model_id), "sparsity": s, "bits": b, "accuracy": r.accuracy,
                     "accuracy_lo": lo, "accuracy_hi": hi,
                     "accuracy_delta": r.accuracy_delta, "accuracy_delta_lo": dlo, "accuracy_delta_hi": dhi,
                     "sparsity_achieved": r.sparsity, "zeros_from_rounding": r.zeros_from_rounding,
                     "size_bytes": r.size_bytes["compressed"],
                     "file_bytes": r.size_bytes["file"], "compression_ratio": r.compression_ratio,
                     "energy_pj": r.energy_pj["total"]})
        if progress:
            progress((i + 1) / len(pairs), f"sparsity {s:.0%}, {b} bits")
    return rows


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
    if config.structure == "2:4":
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
        torch.manual_seed(config.seed)
        measured, _, _ = compress(model, ds, quant_only)
        acc = measure.accuracy(measured, ds.x_test, ds.y_test)
        lo, hi = measure.wilson_interval(acc, len(ds.y_test))
        points.append({"sparsity": target, "accuracy": acc, "lo": lo, "hi": hi, "curve": "fine-tuned path"})
        if progress:
            progress((i + 1) / len(targets), f"sparsity {target:.0%}")
    return points


def _layer_size(layer: nn.Module, config: CompressionConfig, quant: Quantized | None) -> size.LayerSize:
    """Theoretical size of one layer: its codes at the record's bits, its side information, biases."""
    w = layer.weight.detach()
    codec = export.codec_for(quant)
    return size.layer_size(w, codec.bits, codec.side_bits, _bias_numel(layer), zero_code=codec.zero_code)


def _huffman_sizes(layers: dict[str, nn.Module], codecs: dict[str, Codec],
                   plain: dict[str, size.LayerSize]) -> dict[str, size.LayerSize]:
    """Per layer the cheapest Huffman-coded layout of its codes, or its `plain` one where cheaper."""
    out = {}
    for name, layer in layers.items():
        w, codec = layer.weight.detach(), codecs[name]
        if codec.is_float:
            out[name] = plain[name]
            continue
        codes = codec.encode(w.flatten(), torch.arange(w.numel()) // max(1, w[0].numel()))
        out[name] = size.huffman_size(w, codes, codec.side_bits, _bias_numel(layer),
                                      zero_code=codec.zero_code, plain=plain[name])
    return out


def _bias_numel(layer: nn.Module) -> int:
    return layer.bias.numel() if layer.bias is not None else 0


def _energy_op(config: CompressionConfig, layer: str) -> str:
    """The arithmetic one layer's MACs need, for energy.mac_pj: its quantizer record's energy_op."""
    if config.act_bits >= 32:
        return "float"  # a float operand: the multiply is a float multiply
    return quantizers.for_layer(config, layer).energy_op


def _zeros_from_rounding(compressed: dict[str, nn.Module], masks: dict[str, torch.Tensor]) -> float:
    """Fraction of the weights pruning kept that quantization rounded to exactly zero."""
    kept = zeros = 0
    for name, layer in compressed.items():
        w = layer.weight.detach()
        keep = masks.get(name + ".weight", torch.ones_like(w, dtype=torch.bool))
        kept += int(keep.sum())
        zeros += int(((w == 0) & keep).sum())
    return zeros / kept if kept else 0.0


def energy_curve(report: Report, sizes_kb: list[float] | None = None) -> list[dict[str, Any]]:
    """Energy of the compressed and the fp32 model as the assumed on-chip size varies.

    One point per size (default 1 KB .. 16 MB): the cliff where a model's weights no longer
    fit and move to DRAM shows as a step; the report's own sram_kb is the capacity line.
    """
    a = report.energy_assumptions
    p = energy.profile(report.energy_profile)
    sizes = sizes_kb or energy.sram_sizes_kb()
    ours = energy.vs_sram(p, report.energy_pj["compute"], a["weight_bits"], a["activation_bits"], sizes)
    base = energy.vs_sram(p, report.energy_baseline_pj["compute"], a["baseline_weight_bits"],
                          a["baseline_activation_bits"], sizes)
    return [{"sram_kb": o["sram_kb"], "compressed_pj": o["total"], "baseline_pj": b["total"],
             "weights_in": o["weights_in"], "baseline_weights_in": b["weights_in"],
             "ratio": b["total"] / o["total"]} for o, b in zip(ours, base)]


def _baseline_energy(shapes: list[measure.LayerShape], profile: energy.Profile,
                     fp32_bits: int) -> dict[str, float]:
    """The uncompressed float model on dense hardware: what the reduction factor divides."""
    on_chip = energy.weights_on_chip(profile, fp32_bits / 8)
    compute = sum(s.macs * energy.mac_pj(profile, 32, 32, s.fan_in) for s in shapes)
    weight_bits = fp32_bits  # every parameter read once at 32 bits
    act_bits = sum((s.in_elems + s.out_elems) * 32 for s in shapes)
    memory = energy.memory_pj(profile, weight_bits, act_bits, on_chip)
    return {"compute": compute, "memory": memory, "total": compute + memory}


def _sum_energy(layers: list[LayerReport]) -> dict[str, float]:
    compute = sum(r.energy_pj["compute"] for r in layers)
    memory = sum(r.energy_pj["memory"] for r in layers)
    return {"compute": compute, "memory": memory, "total": compute + memory}


def _histograms(w0: torch.Tensor, w: torch.Tensor) -> dict[str, Any]:
    """Non-zero weights before and after, on shared bins; zeros counted apart (the spike)."""
    lo, hi = float(w0.min()), float(w0.max())
    if hi <= lo:
        hi = lo + 1e-8
    edges = torch.linspace(lo, hi, HIST_BINS + 1)

    def counts(t: torch.Tensor) -> list[int]:
        nz = t[t != 0].clamp(lo, hi)
        return torch.histc(nz, HIST_BINS, lo, hi).long().tolist()

    return {"edges": edges.tolist(), "original": counts(w0), "compressed": counts(w),
            "zeros_original": int((w0 == 0).sum()), "zeros_compressed": int((w == 0).sum())}


def _levels(w: torch.Tensor, config: CompressionConfig, quant: Quantized | None) -> list[float]:
    """The values compressed weights may take, drawn as lines over the histogram (≤ 64)."""
    if quant is None or quant.bits > 6:
        return []
    levels = quant.codec.levels()
    # one grid per channel: too many lines to read
    return sorted(levels.tolist()) if levels.dim() == 1 else []


def _latency(base: nn.Module, runnable: nn.Module, config: CompressionConfig, ds: data.Dataset
             ) -> tuple[dict[str, float | None], str, list[str]]:
    """Measured time of one single-image forward pass: float model vs what compression runs.

    Below 9 bits the compressed model runs int8 kernels in ONNX Runtime (static quantization
    calibrated on the data set's calibration slice, else on random inputs), and ONNX Runtime
    fp32 on the same model is timed too, so the runtime's own speed is not sold as int8's.
    Above 8 bits no int8 kernel applies and ONNX Runtime is not run: the compressed model is
    timed in PyTorch (export and quantization would cost more than the whole evaluate of a
    small model). Pairs are interleaved (measure.latency_pair): a busy machine slows both alike.
    """
    gen = torch.Generator().manual_seed(0)
    x = ds.x_test[:1] if len(ds.x_test) else torch.rand(1, *ds.input_shape, generator=gen)
    notes: list[str] = []
    sliced = _params(runnable) < _params(base)
    prefix = "rows sliced out, then " if sliced else ""
    ort_fp32 = None
    if config.bits <= 8:
        try:
            fp32_onnx = runtime.to_onnx(runnable, tuple(x.shape[1:]))
            # Without data, random images calibrate: the scales then fit no real input, but
            # the int8 kernels (and their speed) are the ones static quantization runs, where
            # dynamic quantization would time ONNX Runtime's slow ConvInteger path instead.
            calib = ds.x_calib if len(ds.x_calib) else torch.rand(N_RANDOM_CALIB, *ds.input_shape, generator=gen)
            int8_onnx, mode = runtime.quantize_int8(fp32_onnx, calib)
            target: nn.Module = runtime.OrtModule(runtime.session(int8_onnx))
            ort_fp32 = runtime.OrtModule(runtime.session(fp32_onnx))
            path = prefix + runtime.LATENCY_PATHS["ort-int8"].format(mode=mode)
            if not len(ds.x_calib):
                path += ", calibrated on random inputs (no data)"
        except runtime.RuntimeUnavailable as e:
            notes.append(f"int8 kernels not timed: {e}; the compressed latency is float32 in PyTorch.")
            target, path = runnable, prefix + "float32 in PyTorch (ONNX Runtime unavailable)"
    elif sliced:
        path, target = "float32, pruned rows sliced out (a smaller dense model)", runnable
    else:
        path, target = "float32 dense (fake quantization and zeros run at float speed)", runnable
    # a big model gets fewer repeats: its single pass already spans the time budget
    repeats = 15 if _params(base) < 1_000_000 else 5
    fp32, compressed = measure.latency_pair(base, target, x, min_repeats=repeats)
    ort = measure.latency_pair(ort_fp32, target, x, min_repeats=repeats)[0] if ort_fp32 is not None else None
    verdict = measure.speed_verdict(fp32.median, compressed.median, fp32.iqr, compressed.iqr)
    if ort is not None:
        int8_alone = measure.speed_verdict(ort.median, compressed.median, ort.iqr, compressed.iqr)
        runtime_alone = measure.speed_verdict(fp32.median, ort.median, fp32.iqr, ort.iqr)
        measured = (f"ONNX Runtime int8 {compressed.median:.3f} ms (IQR {compressed.iqr:.3f}), ONNX Runtime "
                    f"fp32 {ort.median:.3f} ms (IQR {ort.iqr:.3f}), PyTorch fp32 {fp32.median:.3f} ms "
                    f"(IQR {fp32.iqr:.3f})")
        if int8_alone.word != "faster":
            notes.append(f"Why no speed-up from int8 (ONNX Runtime int8 vs fp32 on the same model: {int8_alone}): "
                         f"at this size ({_params(runnable):,} parameters) quantizing activations and kernel "
                         f"dispatch cost more than the integer arithmetic saves.")
        notes.append(f"Latency apart: PyTorch fp32 -> ONNX Runtime int8 {verdict}; the runtime alone "
                     f"(PyTorch -> ONNX Runtime, fp32) {runtime_alone}, int8 alone {int8_alone}; "
                     f"measured {measured}.")
    elif config.bits <= 8 and verdict.word != "faster":
        notes.append(f"Why no speed-up ({verdict}): no int8 kernel ran; measured {compressed.median:.3f} ms "
                     f"(IQR {compressed.iqr:.3f}) vs {fp32.median:.3f} ms (IQR {fp32.iqr:.3f}) fp32.")
    return ({"fp32": fp32.median, "compressed": compressed.median, "fp32_iqr": fp32.iqr,
             "compressed_iqr": compressed.iqr, "ort_fp32": ort.median if ort else None,
             "ort_fp32_iqr": ort.iqr if ort else None}, path, notes)


def _without_hooks(model: nn.Module) -> nn.Module:
    clean = copy.deepcopy(model)
    for m in clean.modules():
        m._forward_pre_hooks.clear()
    return clean


def _notes(config: CompressionConfig, r: Report) -> list[str]:
    """Plain-language reasons why a saving on paper is not a saving in time here."""
    notes = []
    if (config.sparsity > 0 and config.structure != "rows") or config.structure == "2:4":
        notes.append("Why no speed-up from pruning: the zeros are still stored and multiplied in "
                     "PyTorch's dense kernels; only sparse kernels or hardware that skips zeros "
                     "(as EIE does) turns them into time and energy saved.")
    if 8 < config.bits < 32 or config.bits < 8:
        closest = "int8 kernels" if config.bits < 8 else "float32"
        notes.append(f"{config.bits}-bit weights are simulated (fake quantization): rounded to the "
                     f"{config.bits}-bit grid but stored as float32, since PyTorch has no "
                     f"{config.bits}-bit kernels. Accuracy is what such hardware would give; the "
                     f"latency shown is the closest real path ({closest}).")
    for layer in r.layers:  # the quantizer records' own explanations, once each
        note = quantizers.for_layer(config, layer.name).note(config.bits_for(layer.name), config.scheme)
        if note and note not in notes:
            notes.append(note)
    if config.act_bits < 32:
        notes.append(f"{config.act_bits}-bit activations are simulated with ranges calibrated on "
                     "128 training images.")
    return notes


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _no_error() -> dict[str, float]:
    return {"mse": 0.0, "sqnr_db": math.inf, "max_abs": 0.0}


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _compressed(model: str | source.ModelSource, config: CompressionConfig, data_dir: str | Path | None = None
                ) -> tuple[nn.Module, data.Dataset, dict[str, Quantized]]:
    """The source's model compressed by `config` as evaluate_model compresses it, its data and quantizers."""
    src = source.parse(model) if isinstance(model, str) else model
    loaded = source.load(src, data_dir=data_dir)
    ds = loaded.dataset or inputs_only(loaded.input_shape, loaded.why_no_accuracy or source.NO_DATA, str(src))
    torch.manual_seed(config.seed)  # as evaluate_model: the same seed compresses to the same weights
    compressed, _, quant = compress(loaded.model, ds, _applicable(config, ds, loaded.model)[0])
    return compressed, ds, quant


def file_bytes(model_id: str | source.ModelSource, config: CompressionConfig,
               data_dir: str | Path | None = None) -> bytes:
    """The compressed model as the exported file (export.to_bytes): the bytes size_bytes['file'] counts."""
    model, _, quant = _compressed(model_id, config, data_dir)
    layers = models.layers(model)
    sizes = {n: _layer_size(layers[n], config, quant.get(n)) for n in layers}
    return export.to_bytes(model, sizes, {n: export.codec_for(quant.get(n)) for n in layers})


def onnx_bytes(model_id: str | source.ModelSource, config: CompressionConfig,
               data_dir: str | Path | None = None) -> tuple[bytes, str]:
    """The compressed model as the ONNX file _latency times (int8 below 9 bits, else fp32) and its kind."""
    model, ds, _ = _compressed(model_id, config, data_dir)
    runnable = _without_hooks(model)
    if config.structure == "rows" and config.sparsity > 0:  # the physically smaller model, as timed
        runnable = (slim.slim(runnable) if isinstance(runnable, nn.Sequential)
                    else structure.remove_zero_channels(runnable, ds.input_shape))
    fp32 = runtime.to_onnx(runnable, tuple(ds.input_shape))
    if config.bits > 8:
        return fp32, "fp32"
    gen = torch.Generator().manual_seed(0)
    calib = ds.x_calib if len(ds.x_calib) else torch.rand(N_RANDOM_CALIB, *ds.input_shape, generator=gen)
    return runtime.quantize_int8(fp32, calib)[0], "int8"
