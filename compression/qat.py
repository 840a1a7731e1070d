"""Quantization-aware fine-tuning vs post-training quantization, with the same budget and recipe.

Both arms start from the same trained model and fine-tune it for the same epochs with the
same recipe (train.FINETUNE_LR, cosine-decayed): QAT under fake quantization (straight-
through estimator), post-training quantization (PTQ) in float, then rounded. The float
fine-tuned model itself is measured too, so a gain of QAT is not a loss the fine-tuning
recipe caused and the PTQ arm then inherits. Accuracy intervals are Wilson's; QAT - PTQ and
each arm against the checkpoint are paired intervals on the same test images (Newcombe).
Pruning and penalties are left out: they would add their own training stages to one arm.
The Explore page's "QAT vs PTQ" view and benchmarks/qat.py both call `qat_vs_ptq`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from compression import data, measure, pipeline, source, train
from compression.config import CompressionConfig
from compression.models import Progress

BITS = (2, 3, 4, 6, 8)


def qat_vs_ptq(model: str | source.ModelSource, config: CompressionConfig = CompressionConfig(),
               bits: tuple[int, ...] = BITS, epochs: int = 5, progress: Progress | None = None,
               data_dir: str | Path | None = None) -> dict[str, Any]:
    """Accuracy of PTQ and QAT at each bit-width after `epochs` of the same fine-tuning.

    `config` supplies the quantizer, scheme, granularity, activations and seed; its bits,
    sparsity, QAT flag and fine-tuning are set here. Returns {rows: [{bits, method ("fp32",
    "fp32-finetuned", "ptq", "qat"), accuracy, lo, hi, delta, delta_lo, delta_hi}] (delta: vs
    the checkpoint, paired), gains: [{bits, delta, lo, hi}] (QAT - PTQ, paired), epochs, lr}.
    """
    src = source.parse(model) if isinstance(model, str) else model
    loaded = source.load(src, data_dir=data_dir)
    if loaded.dataset is None or not len(loaded.dataset.x_train):
        raise ValueError(f"QAT vs PTQ needs training and test images; {src} has none "
                         f"({loaded.why_no_accuracy or source.NO_DATA})")
    ds, base = loaded.dataset, loaded.model
    plain = config.replace(sparsity=0.0, layer_sparsity=(), structure="unstructured", regularize="none",
                           prune_steps=1, qat=False, finetune_epochs=0, bits=32, layer_bits=())
    correct_base = _correct(base, ds)
    rows = [_row(32, "fp32", correct_base, correct_base)]
    steps = 1 + len(bits)
    # the PTQ arm: one float fine-tuning (as pipeline.compress runs it), rounded at each bit-width
    torch.manual_seed(plain.seed)
    tuned, _, _ = pipeline.compress(base, ds, plain.replace(act_bits=32, finetune_epochs=epochs),
                                    progress=_stage(progress, 0, steps, "float fine-tuning: "))
    correct_tuned = _correct(tuned, ds)
    rows.append(_row(32, "fp32-finetuned", correct_tuned, correct_base))
    gains = []
    for i, b in enumerate(bits):
        ptq_model, _, _ = pipeline.compress(tuned, ds, plain.replace(bits=b))
        torch.manual_seed(plain.seed)
        qat_model, _, _ = pipeline.compress(base, ds, plain.replace(bits=b, qat=True, finetune_epochs=epochs),
                                            progress=_stage(progress, 1 + i, steps, f"{b} bits, QAT: "))
        c_ptq, c_qat = _correct(ptq_model, ds), _correct(qat_model, ds)
        rows += [_row(b, "ptq", c_ptq, correct_base), _row(b, "qat", c_qat, correct_base)]
        d, (lo, hi) = measure.paired_delta(c_qat, c_ptq)
        gains.append({"bits": b, "delta": d, "lo": lo, "hi": hi, "verdict": measure.noise_verdict(d, (lo, hi))})
    if progress:
        progress(1.0, "done")
    return {"model": str(src), "n_test": len(ds.y_test), "epochs": epochs, "lr": train.FINETUNE_LR,
            "recipe": f"AdamW from {train.FINETUNE_LR:g}, cosine-decayed to 0, {epochs} epochs, both arms",
            "rows": rows, "gains": gains}


def format_table(result: dict[str, Any]) -> str:
    """The comparison as plain text: accuracy per arm and bit-width, the paired QAT - PTQ gain."""
    rows = {(r["bits"], r["method"]): r for r in result["rows"]}
    base, tuned = rows[(32, "fp32")], rows[(32, "fp32-finetuned")]

    def acc(r: dict[str, Any]) -> str:
        return f"{r['accuracy']:.2%} ({r['lo']:.1%}-{r['hi']:.1%})"

    lines = [f"QAT vs PTQ on {result['model']} ({result['n_test']} test images); {result['recipe']}",
             f"checkpoint fp32   {acc(base)}",
             (f"fine-tuned fp32   {acc(tuned)}, vs checkpoint {100 * tuned['delta']:+.1f} points "
              f"(paired 95% CI {100 * tuned['delta_lo']:+.1f} to {100 * tuned['delta_hi']:+.1f}: "
              f"{measure.noise_verdict(tuned['delta'], (tuned['delta_lo'], tuned['delta_hi']))})"),
             f"{'bits':>4}  {'PTQ':>22}  {'QAT':>22}  QAT - PTQ (paired 95% CI)"]
    for g in result["gains"]:
        b = g["bits"]
        lines.append(f"{b:>4}  {acc(rows[(b, 'ptq')]):>22}  {acc(rows[(b, 'qat')]):>22}  "
                     f"{100 * g['delta']:+.1f} points ({100 * g['lo']:+.1f} to {100 * g['hi']:+.1f}, {g['verdict']})")
    return "\n".join(lines)


def _correct(model: nn.Module, ds: data.Dataset) -> list[bool]:
    return (measure.predictions(model, ds.x_test) == ds.y_test).tolist()


def _row(bits: int, method: str, correct: list[bool], correct_base: list[bool]) -> dict[str, Any]:
    n = len(correct)
    acc = sum(correct) / n
    lo, hi = measure.wilson_interval(acc, n)
    d, (dlo, dhi) = measure.paired_delta(correct, correct_base)
    return {"bits": bits, "method": method, "accuracy": acc, "lo": lo, "hi": hi,
            "delta": d, "delta_lo": dlo, "delta_hi": dhi}


def _stage(progress: Progress | None, i: int, n: int, prefix: str) -> Progress | None:
    if progress is None:
        return None
    return lambda frac, msg: progress((i + frac) / n, prefix + msg)
