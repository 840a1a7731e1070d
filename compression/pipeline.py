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

from compression import data, energy, export, measure, models, prune, quantize, quantizers, size, slim, train
from compression.config import CompressionConfig, ConfigError
from compression.models import Progress
from compression.quantizers import Quantized

HIST_BINS = 150  # binned on the server: raw weights never go to the browser
LATENCY_KEYS = ("fp32", "compressed", "fp32_iqr", "compressed_iqr")

# Every number says what kind it is (DESIGN principle 2).
KINDS = {
    "accuracy": "simulated",   # measured on the test split, under simulated (fake) quantization
    "size_theoretical": "theoretical",
    "size_file": "measured",
    "macs": "theoretical",
    "energy": "theoretical",   # an estimate from the energy model and its constants
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


@dataclass
class Report:
    model: str
    dataset: str
    config: dict[str, Any]
    accuracy: float
    accuracy_baseline: float
    accuracy_ci95: list[float]
    accuracy_baseline_ci95: list[float]
    accuracy_delta: float          # accuracy - accuracy_baseline, on the same test images
    accuracy_delta_ci95: list[float]  # paired 95% interval (Newcombe 1998, method 10)
    n_test: int
    params_total: int
    params_nonzero: int
    sparsity: float                # fraction of prunable weights the pruning removed (from the masks)
    zeros_from_rounding: float     # fraction of kept prunable weights that quantization rounded to 0
    macs_dense: int
    macs_effective: int
    size_bytes: dict[str, float]   # fp32, pruned, compressed (theoretical); file (measured)
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

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (infinite SQNR becomes null)."""
        return _finite(asdict(self))

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)


def evaluate(model_id: str, config: CompressionConfig = CompressionConfig(), *,
             latency: bool = True, data_dir: str | Path | None = None,
             progress: Progress | None = None) -> Report:
    """Compress the zoo model `model_id` by `config` and measure it on its test split."""
    ds = data.load(models.spec(model_id).dataset, data_dir=data_dir)
    base = models.load(model_id, data_dir=data_dir, progress=progress)
    return evaluate_model(base, ds, config, name=model_id, latency=latency, progress=progress)


def evaluate_model(base: nn.Module, ds: data.Dataset, config: CompressionConfig, *,
                   name: str = "custom", latency: bool = True,
                   progress: Progress | None = None) -> Report:
    """Compress a copy of `base` (left untouched) and measure it; the engine behind evaluate()."""
    torch.manual_seed(config.seed)
    model, masks, quant = compress(base, ds, config, progress=progress)
    originals = models.layers(base)
    compressed = models.layers(model)
    shapes = measure.layer_shapes(base, ds.input_shape)
    profile = energy.profile(config.profile, config.sram_kb)
    # Pruned rows can be cut out for real: a smaller dense model that runs faster.
    runnable = _without_hooks(model)
    if config.structure == "rows" and masks:
        runnable = slim.slim(runnable)
    slim_macs = ({s.name: s.macs for s in measure.layer_shapes(runnable, ds.input_shape)}
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
        pruned = w0 * kept
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
        errors = quantize.error_stats(before[kept], w[kept]) if kept.any() else _no_error()
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
            error_hist=quantize.error_histogram(before[kept], w[kept]) if kept.any() else {"edges": [], "counts": []},
            levels=_levels(before, config, quant.get(shape.name)),
            codes_used=quant[shape.name].codes_used if shape.name in quant else None,
        ))

    correct = measure.predictions(model, ds.x_test) == ds.y_test
    correct_base = measure.predictions(base, ds.x_test) == ds.y_test
    n = len(ds.y_test)
    acc, acc_base = int(correct.sum()) / n, int(correct_base.sum()) / n
    # The uncompressed config is the baseline model itself: its change is zero by construction.
    delta, delta_ci = ((0.0, (0.0, 0.0)) if config.is_baseline
                       else measure.paired_delta(correct.tolist(), correct_base.tolist()))
    params_total, params_nonzero = measure.count_params(model)
    fp32_bits = params_total * size.FLOAT_BITS
    codecs = {name_: export.codec_for(quant.get(name_)) for name_ in compressed}
    file_bytes = len(export.to_bytes(model, sizes, codecs))
    energy_total = _sum_energy(layer_reports)
    energy_base = _baseline_energy(shapes, profile, fp32_bits)
    act_bits_total = sum((s.in_elems + s.out_elems) * config.act_bits for s in shapes)
    weight_bits_charged = sum(sizes[s.name].total for s in shapes)
    lat, lat_path, lat_notes = (_latency(base, runnable, config, ds) if latency else
                                ({k: None for k in LATENCY_KEYS}, "not measured", []))

    report = Report(
        model=name, dataset=ds.name, config=config.to_dict(),
        accuracy=acc, accuracy_baseline=acc_base,
        accuracy_ci95=list(measure.wilson_interval(acc, n)),
        accuracy_baseline_ci95=list(measure.wilson_interval(acc_base, n)),
        accuracy_delta=delta, accuracy_delta_ci95=list(delta_ci), n_test=n,
        params_total=params_total, params_nonzero=params_nonzero,
        sparsity=prune.sparsity_of(masks),
        zeros_from_rounding=_zeros_from_rounding(compressed, masks),
        macs_dense=sum(s.macs for s in shapes),
        macs_effective=sum(r.macs_effective for r in layer_reports),
        size_bytes={"fp32": fp32_bits / 8, "pruned": pruned_bits / 8,
                    "compressed": compressed_bits / 8, "file": file_bytes},
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
    report.notes = _notes(config, report) + lat_notes
    return report


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
    if config.prunes:
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


def sweep(model_id: str, sparsities: list[float], bits: list[int],
          base_config: CompressionConfig = CompressionConfig(),
          progress: Progress | None = None) -> list[dict[str, Any]]:
    """Evaluate every (sparsity, bits) pair; one flat row of headline numbers each."""
    rows = []
    pairs = [(s, b) for s in sparsities for b in bits]
    for i, (s, b) in enumerate(pairs):
        r = evaluate(model_id, base_config.replace(sparsity=s, bits=b), latency=False)
        rows.append({"model": model_id, "sparsity": s, "bits": b, "accuracy": r.accuracy,
                     "accuracy_lo": r.accuracy_ci95[0], "accuracy_hi": r.accuracy_ci95[1],
                     "accuracy_delta": r.accuracy_delta, "accuracy_delta_lo": r.accuracy_delta_ci95[0],
                     "accuracy_delta_hi": r.accuracy_delta_ci95[1],
                     "sparsity_achieved": r.sparsity, "zeros_from_rounding": r.zeros_from_rounding,
                     "size_bytes": r.size_bytes["compressed"],
                     "file_bytes": r.size_bytes["file"], "compression_ratio": r.compression_ratio,
                     "energy_pj": r.energy_pj["total"]})
        if progress:
            progress((i + 1) / len(pairs), f"sparsity {s:.0%}, {b} bits")
    return rows


def accuracy_points(model_id: str, config: CompressionConfig, field: str, values: list[Any],
                    data_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """Accuracy (with its 95% CI) as one config field varies, the others held: a curve's points.

    Only compresses and measures accuracy (no sizes, files or latency), so a 10-point curve
    costs about as much as one full evaluate().
    """
    ds = data.load(models.spec(model_id).dataset, data_dir=data_dir)
    base = models.load(model_id, data_dir=data_dir)
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

    Both are timed in one interleaved run (measure.latency_pair), so a busy machine slows
    both alike; medians and interquartile ranges are reported.
    """
    x = ds.x_test[:1]
    notes = []
    sliced = _params(runnable) < _params(base)
    prefix = "rows sliced out, then " if sliced else ""
    if config.bits <= 8:
        path = prefix + "int8 (PyTorch dynamic quantization of Linear layers)"
        target = quantize.to_int8(runnable)
    elif sliced:
        path = "float32, pruned rows sliced out (a smaller dense model)"
        target = runnable
    else:
        path = "float32 dense (fake quantization and zeros run at float speed)"
        target = runnable
    fp32, compressed = measure.latency_pair(base, target, x)
    verdict = measure.speed_verdict(fp32.median, compressed.median, fp32.iqr, compressed.iqr)
    if config.bits <= 8 and verdict.word != "faster":
        notes.append(f"Why no speed-up from int8 ({verdict}): at this size ({_params(base):,} parameters) "
                     f"quantizing activations on the fly and kernel dispatch cost more than the "
                     f"integer arithmetic saves; measured {compressed.median:.3f} ms "
                     f"(IQR {compressed.iqr:.3f}) vs {fp32.median:.3f} ms (IQR {fp32.iqr:.3f}) fp32.")
    return ({"fp32": fp32.median, "compressed": compressed.median, "fp32_iqr": fp32.iqr,
             "compressed_iqr": compressed.iqr}, path, notes)


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
