"""Compress a model by a config and measure everything a page shows: the Report."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch import nn

from compression import (
    data,
    downloads,
    energy,
    measure,
    models,
    plan,
    prune,
    quantize,
    size,
    source,
)
from compression.accounting import (
    HIST_BINS,
    _baseline_energy,
    _bias_numel,
    _energy_totals,
    _histograms,
    _levels,
    _no_error,
    _zeros_from_rounding,
    energy_curve,
)
from compression.apply import _applicable, _without_hooks, compress, head_scores, inputs_only
from compression.config import CompressionConfig
from compression.curves import accuracy_points, sparsity_path
from compression.downloads import file_bytes, onnx_bytes
from compression.layers import Layer, compressible, layer_params
from compression.models import Progress
from compression.notes import _notes
from compression.quantizers import Quantized
from compression.report import KINDS, LATENCY_KEYS, LayerReport, Report
from compression.timing import N_RANDOM_CALIB, LatencyMemo, _latency, latency_key

# The jobs evaluate() composes live in their own modules (report, apply, accounting, timing,
# notes, curves, downloads); their names stay importable from here, as pages, the CLI and
# tests have always used them.
__all__ = ["HIST_BINS", "KINDS", "LATENCY_KEYS", "N_RANDOM_CALIB", "LayerReport", "Report", "accuracy_points",
           "compress", "energy_curve", "evaluate", "evaluate_model", "file_bytes", "inputs_only", "onnx_bytes",
           "sparsity_path"]


def evaluate(model: str | source.ModelSource, config: CompressionConfig = CompressionConfig(), *,
             latency: bool = True, data_dir: str | Path | None = None,
             progress: Progress | None = None, latency_memo: LatencyMemo | None = None) -> Report:
    """Compress the model a source names (or its URL/CLI word) by `config` and measure it.

    Without test data or trained weights, accuracy is null with the reason; everything else
    (size, MACs, energy, latency) is measured on the model as it is. `latency_memo`: see
    evaluate_model.
    """
    src = source.parse(model) if isinstance(model, str) else model
    if src.kind == "zoo":  # trains a missing checkpoint with progress before source.load reads it
        models.ensure(src.name, data_dir=data_dir, progress=progress)
    loaded = source.load(src, data_dir=data_dir)
    ds = loaded.dataset or inputs_only(loaded.input_shape, loaded.why_no_accuracy or source.NO_DATA, str(src))
    return evaluate_model(loaded.model, ds, config, name=str(src), latency=latency, progress=progress,
                          why_no_accuracy=loaded.why_no_accuracy, latency_memo=latency_memo)


def evaluate_model(base: nn.Module, ds: data.Dataset, config: CompressionConfig, *,
                   name: str = "custom", latency: bool = True,
                   progress: Progress | None = None, why_no_accuracy: str | None = None,
                   latency_memo: LatencyMemo | None = None) -> Report:
    """Compress a copy of `base` (left untouched) and measure it; the engine behind evaluate().

    `ds` may hold no images (see inputs_only): accuracy is then null, `why_no_accuracy`
    (default "n/a (no test data)") says why, and steps that need data are skipped with a note.
    Every layer's settings come from one plan (compression.plan), made here once.

    `latency_memo(key, measure)`: the caller's store of latencies (a server keeps one for all its
    sessions). Dense kernels take the same time whatever the weights' values, so a latency
    depends only on the model, the shapes of what runs and the runtime path (latency_key): a
    slider move that changes values but not shapes reuses the timing instead of exporting,
    quantizing and timing again (seconds per rerun on a busy server).
    """
    # No global seeding here: every random draw below takes config.seed itself (criteria,
    # batches, dropout in train.fit), so concurrent sessions cannot move each other's numbers.
    if len(ds.y_test) == 0:
        why_no_accuracy = why_no_accuracy or source.NO_DATA
    run_config, skipped = _applicable(config, ds, base)
    lp = plan.make(base, run_config)
    scores = head_scores(base, ds, run_config) if lp.masks_by_heads else None
    model, masks, quant = compress(base, ds, run_config, progress=progress, layer_plan=lp, scores=scores)
    originals = compressible(base)
    compressed = compressible(model)
    # traced on our own copy: `base` may be the process's shared model, which is never hooked
    shapes = _shapes(model, compressed, ds.input_shape)
    profile = energy.profile(config.profile, config.sram_kb)
    # Pruned rows can be cut out for real: a smaller dense model that runs faster. The copy
    # without activation hooks is needed only to slice or to time.
    sliced = lp.sliced and bool(masks)
    clean = _without_hooks(model) if run_config.quantizes_activations and (sliced or latency) else model
    runnable = lp.runnable(clean, ds.input_shape) if sliced else clean
    # a layer cut out entirely is absent from the smaller model: it costs nothing
    slim_macs = ({n: 0 for n in compressed} | {s.name: s.macs for s in measure.layer_shapes(runnable, ds.input_shape)}
                 if sliced else {})

    # Sizes first: whether weights fit on chip decides the memory energy of every layer.
    layouts = lp.store(compressed, quant)
    sizes = {n: lay.plain for n, lay in layouts.items()}
    owned = layer_params(compressed)
    other_params = sum(p.numel() for n, p in model.named_parameters() if n not in owned)
    other_bits = other_params * size.FLOAT_BITS
    compressed_bits = sum(s.total for s in sizes.values()) + other_bits
    on_chip = energy.weights_on_chip(profile, compressed_bits / 8)

    layer_reports = []
    pruned_bits = other_bits
    for shape in shapes:
        settings = lp.layers[shape.name]
        w0, w = originals[shape.name].weight.detach(), compressed[shape.name].weight.detach()
        mask = masks.get(shape.name + ".weight")
        kept = mask if mask is not None else torch.ones_like(w0, dtype=torch.bool)
        pruned = w0 * kept if mask is not None else w0
        pruned_bits += size.layer_size(pruned, size.FLOAT_BITS, 0, _bias_numel(originals[shape.name])).total
        density = float(torch.count_nonzero(w)) / w.numel()
        if config.skip_zeros:
            macs_eff = round(shape.macs * density)
        else:
            macs_eff = slim_macs.get(shape.name, shape.macs)
        compute = energy.layer_compute_pj(profile, macs_eff, shape.out_elems, settings.bits, settings.act_bits,
                                          shape.fan_in, settings.energy_op)
        act_bits = (shape.in_elems + shape.out_elems) * settings.act_bits
        memory = energy.memory_pj(profile, sizes[shape.name].total, act_bits, on_chip)
        # Quantization error is against the weights just before quantization: after
        # fine-tuning those are no longer the originals, and the drift is not rounding error.
        before = quant[shape.name].before if shape.name in quant else w
        # boolean indexing copies every kept weight: skipped when nothing was pruned
        kept_before, kept_w = (before[kept], w[kept]) if mask is not None else (before.flatten(), w.flatten())
        errors = quantize.error_stats(kept_before, kept_w) if kept_w.numel() else _no_error()
        bias = compressed[shape.name].bias
        layout = layouts[shape.name]
        layer_reports.append(LayerReport(
            name=shape.name, kind=shape.kind, shape=list(shape.weight_shape),
            params=w.numel() + _bias_numel(compressed[shape.name]),
            nonzero=int(torch.count_nonzero(w)) + (int(torch.count_nonzero(bias)) if bias is not None else 0),
            bits=settings.bits, macs=shape.macs, macs_effective=macs_eff,
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
            huffman=(None if layout.coded is None else
                     {"format": layout.coded.format, "values": layout.coded.values, "indices": layout.coded.indices,
                      "total": layout.coded.total, "entries": size.entries(w, layout.coded.format)}),
            label=settings.label, method=settings.method, quantizer=settings.quantizer.name,
            granularity=settings.granularity_label, energy_op=settings.energy_op,
            bits_per_weight=quant[shape.name].codec.bits_per_weight if shape.name in quant else None,
            sliced=sliced,
        ))

    acc = _accuracy(base, model, ds, config) if why_no_accuracy is None else None
    params_total, params_nonzero = measure.count_params(model)
    fp32_bits = params_total * size.FLOAT_BITS
    coded = any(lay.coded is not None for lay in layouts.values())
    huffman_bytes = ({"huffman": (sum(lay.written.total for lay in layouts.values()) + other_bits) / 8}
                     if coded else {})
    file_bytes = downloads.file_size(model, layouts)
    act_bits_total = sum((s.in_elems + s.out_elems) * lp.layers[s.name].act_bits for s in shapes)
    baseline_act_bits = sum((s.in_elems + s.out_elems) * size.FLOAT_BITS for s in shapes)
    # Totals from totals: every weight bit, the parameters outside compressible layers (norms,
    # embeddings) included, is charged once, as the baseline charges them; with nothing
    # compressed both sides are the same numbers and every factor is exactly 1.
    energy_total = _energy_totals(profile, sum(r.energy_pj["compute"] for r in layer_reports),
                                  compressed_bits, act_bits_total, on_chip)
    energy_base = _baseline_energy(shapes, profile, fp32_bits)
    lat: dict[str, float | None]
    lat_notes: list[str]
    if not latency:
        lat, lat_path, lat_notes = {k: None for k in LATENCY_KEYS}, "not measured", []
    elif latency_memo is None:
        lat, lat_path, lat_notes = _latency(base, runnable, run_config, ds, int8=lp.int8)
    else:
        lat, lat_path, lat_notes = latency_memo(latency_key(name, base, runnable, lp.int8, ds),
                                                lambda: _latency(base, runnable, run_config, ds, int8=lp.int8))
        lat, lat_notes = dict(lat), list(lat_notes)  # the store's copy stays as it was

    report = Report(
        params_sliced=sum(p.numel() for p in runnable.parameters()) if sliced else None,
        heads=dataclasses.asdict(scores) if scores is not None else None,
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
        bits_per_weight=_bits_per_weight(quant),
        energy_pj=energy_total,
        energy_baseline_pj=energy_base,
        energy_profile=profile.name,
        energy_assumptions={
            **energy.assumptions(profile, compressed_bits),
            "baseline_weights_in": energy.assumptions(profile, fp32_bits)["weights_in"],
            # What energy_curve() needs to re-price the same traffic at another on-chip size.
            "weight_bits": compressed_bits, "activation_bits": act_bits_total,
            "baseline_weight_bits": fp32_bits,
            "baseline_activation_bits": baseline_act_bits},
        energy_factors=energy.factors(
            profile, (energy_base["compute"], fp32_bits, baseline_act_bits),
            (energy_total["compute"], compressed_bits, act_bits_total),
            levels=(energy.weights_on_chip(profile, fp32_bits / 8), on_chip)),
        weights_on_chip=on_chip,
        layers=layer_reports, latency_ms=lat, latency_path=lat_path, onnx_kind="int8" if lp.int8 else "fp32",
    )
    if not lp.simulated:
        report.kinds["accuracy"] = "measured"  # nothing simulated: the float model as it runs
    report.notes = ([f"Accuracy {why_no_accuracy}: size, MACs, energy and latency are measured on the "
                     f"model as it is."] if why_no_accuracy else []) + skipped + _notes(lp, report) + lat_notes
    return report


def _shapes(base: nn.Module, layers: dict[str, Layer], input_shape: tuple[int, ...]) -> list[measure.LayerShape]:
    """Every compressible layer's shape, in forward order; a layer the forward never reaches costs no MACs."""
    traced = measure.layer_shapes(base, input_shape)
    seen = {s.name for s in traced}
    return traced + [measure.LayerShape(n, str(layer.kind), tuple(layer.weight.shape), 0, 0, 0, layer.weight[0].numel())
                     for n, layer in layers.items() if n not in seen]


def _accuracy(base: nn.Module, model: nn.Module, ds: data.Dataset, config: CompressionConfig) -> dict[str, Any]:
    """Accuracy of both models on the test split, their Wilson intervals and the paired change."""
    correct = measure.predictions(model, ds.x_test) == ds.y_test
    correct_base = measure.reference_predictions(base, ds.x_test) == ds.y_test
    n = len(ds.y_test)
    acc, acc_base = int(correct.sum()) / n, int(correct_base.sum()) / n
    # The uncompressed config is the baseline model itself: its change is zero by construction.
    delta, delta_ci = ((0.0, (0.0, 0.0)) if config.is_baseline
                       else measure.paired_delta(correct.tolist(), correct_base.tolist()))
    return {"accuracy": acc, "accuracy_baseline": acc_base,
            "accuracy_ci95": list(measure.wilson_interval(acc, n)),
            "accuracy_baseline_ci95": list(measure.wilson_interval(acc_base, n)),
            "accuracy_delta": delta, "accuracy_delta_ci95": list(delta_ci)}


def _bits_per_weight(quant: dict[str, Quantized]) -> float | None:
    """Code bits plus side information per weight over the quantized layers (None: nothing quantized)."""
    codecs = [q.codec for q in quant.values()]
    weights = sum(c.channels * c.columns for c in codecs)
    return sum(c.bits * c.channels * c.columns + c.side_bits for c in codecs) / weights if weights else None
