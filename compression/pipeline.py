"""Compress a model by a config and measure everything a page shows: the Report."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from compression import (
    data,
    energy,
    export,
    measure,
    models,
    prune,
    quantize,
    size,
    slim,
    source,
    structure,
)
from compression.accounting import (
    HIST_BINS,
    _baseline_energy,
    _bias_numel,
    _energy_op,
    _histograms,
    _huffman_sizes,
    _layer_size,
    _levels,
    _no_error,
    _sum_energy,
    _zeros_from_rounding,
    energy_curve,
)
from compression.apply import _applicable, _without_hooks, compress, inputs_only
from compression.config import CompressionConfig
from compression.curves import accuracy_points, sparsity_path
from compression.downloads import file_bytes, onnx_bytes
from compression.models import Progress
from compression.notes import _notes
from compression.report import KINDS, LATENCY_KEYS, LayerReport, Report
from compression.timing import N_RANDOM_CALIB, _latency

# The jobs evaluate() composes live in their own modules (report, apply, accounting, timing,
# notes, curves, downloads); their names stay importable from here, as pages, the CLI and
# tests have always used them.
__all__ = ["HIST_BINS", "KINDS", "LATENCY_KEYS", "N_RANDOM_CALIB", "LayerReport", "Report", "accuracy_points",
           "compress", "energy_curve", "evaluate", "evaluate_model", "file_bytes", "inputs_only", "onnx_bytes",
           "sparsity_path", "sweep", "_energy_op", "_huffman_sizes", "_layer_size"]


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
        op = _energy_op(config, shape.name)
        compute = macs_eff * energy.mac_pj(profile, config.bits_for(shape.name), config.act_bits, shape.fan_in, op)
        if macs_eff:  # a scale left after the shifts: one multiply per output
            compute += shape.out_elems * energy.output_pj(profile, config.bits_for(shape.name), config.act_bits, op)
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
