"""Measured latency: the float model against what compression runs (ONNX Runtime int8 below 9 bits)."""
from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import nn

from compression import (
    data,
    measure,
    runtime,
    structures,
)
from compression.accounting import _params
from compression.config import CompressionConfig

N_RANDOM_CALIB = 8  # random images calibrating int8 when there is no data (for timing only)
LatencyMemo = Callable[[tuple, Callable[[], tuple]], tuple]  # (key, measure) -> measure()'s result, maybe stored


def latency_key(name: str, base: nn.Module, runnable: nn.Module, int8: bool, ds: data.Dataset) -> tuple:
    """What _latency's result depends on: the model, the shapes of the fp32 and of the running
    model (rows sliced out change them), the runtime path (int8 kernels or not) and the inputs
    used. Not the weights' values: dense kernels take the same time whatever they are."""
    def shapes(m: nn.Module) -> tuple:
        return tuple((n, tuple(p.shape)) for n, p in m.named_parameters())
    return (name, shapes(base), shapes(runnable), bool(int8), tuple(ds.input_shape), len(ds.x_test) > 0,
            len(ds.x_calib) > 0)


def _latency(base: nn.Module, runnable: nn.Module, config: CompressionConfig, ds: data.Dataset,
             int8: bool | None = None
             ) -> tuple[dict[str, float | None], str, list[str]]:
    """Measured time of one single-image forward pass: float model vs what compression runs.

    Below 9 bits the compressed model runs int8 kernels in ONNX Runtime (static quantization
    calibrated on the data set's calibration slice, else on random inputs), and ONNX Runtime
    fp32 on the same model is timed too, so the runtime's own speed is not sold as int8's.
    Above 8 bits no int8 kernel applies and ONNX Runtime is not run: the compressed model is
    timed in PyTorch (export and quantization would cost more than the whole evaluate of a
    small model). All paths run in the same rounds (measure.interleaved): a busy machine slows
    them alike, and the note splits the speed-up into pruning x runtime x int8.
    `int8`: the plan's word on whether int8 kernels apply (compression.plan.Plan.int8).
    """
    int8 = config.bits <= 8 if int8 is None else int8
    gen = torch.Generator().manual_seed(0)
    x = ds.x_test[:1] if len(ds.x_test) else torch.rand(1, *ds.input_shape, generator=gen)
    notes: list[str] = []
    sliced = _params(runnable) < _params(base)
    what = "heads" if structures.structure(config.structure).slices_heads else "rows"
    prefix = f"{what} sliced out, then " if sliced else ""
    ort_fp32 = None
    if int8:
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
        path, target = f"float32, pruned {what} sliced out (a smaller dense model)", runnable
    else:
        path, target = "float32 dense (fake quantization and zeros run at float speed)", runnable
    # a big model gets fewer repeats: its single pass already spans the time budget
    repeats = 15 if _params(base) < 1_000_000 else 5
    # Every path in the same rounds (measure.interleaved), so each factor of the speed-up
    # compares times measured side by side: pruning = the float model vs the sliced one in
    # PyTorch; the runtime = PyTorch vs ONNX Runtime fp32 on the same (sliced) model; int8 =
    # ONNX Runtime fp32 vs int8 on the same model. They multiply to the end-to-end ratio.
    paths: dict[str, nn.Module] = {"fp32": base, "compressed": target}
    if sliced and target is not runnable:
        paths["pruned"] = runnable
    if ort_fp32 is not None:
        paths["ort"] = ort_fp32
    for m in paths.values():
        m.eval()
    t = measure.interleaved({k: functools.partial(m, x) for k, m in paths.items()}, min_repeats=repeats)
    fp32, compressed, ort = t["fp32"], t["compressed"], t.get("ort")
    pruned = t.get("pruned", compressed if sliced else None)
    verdict = measure.speed_verdict(fp32.median, compressed.median, fp32.iqr, compressed.iqr)
    if ort is not None:
        same = pruned or fp32  # the model ONNX Runtime runs, in PyTorch
        int8_alone = measure.speed_verdict(ort.median, compressed.median, ort.iqr, compressed.iqr)
        runtime_alone = measure.speed_verdict(same.median, ort.median, same.iqr, ort.iqr)
        factors = ([f"pruning ({what} sliced out, PyTorch fp32) {fp32.median / pruned.median:.2f}×"] if pruned else [])
        factors += [f"runtime (PyTorch → ONNX Runtime fp32, the same model) {same.median / ort.median:.2f}×",
                    f"int8 (ONNX Runtime fp32 → int8, the same model) {ort.median / compressed.median:.2f}×"]
        measured = (f"ONNX Runtime int8 {compressed.median:.3f} ms (IQR {compressed.iqr:.3f}), ONNX Runtime "
                    f"fp32 {ort.median:.3f} ms (IQR {ort.iqr:.3f}), "
                    + (f"PyTorch fp32 sliced {pruned.median:.3f} ms (IQR {pruned.iqr:.3f}), " if pruned else "")
                    + f"PyTorch fp32 {fp32.median:.3f} ms (IQR {fp32.iqr:.3f})")
        if int8_alone.word != "faster":
            notes.append(f"Why no speed-up from int8 (ONNX Runtime int8 vs fp32 on the same model: {int8_alone}): "
                         f"at this size ({_params(runnable):,} parameters) quantizing activations and kernel "
                         f"dispatch cost more than the integer arithmetic saves.")
        notes.append(f"Latency apart (every path timed in the same rounds): PyTorch fp32 → ONNX Runtime int8 "
                     f"{verdict}, {fp32.median / compressed.median:.2f}× = {' × '.join(factors)}; the runtime "
                     f"alone {runtime_alone}, int8 alone {int8_alone}; measured {measured}.")
    elif int8 and verdict.word != "faster":
        notes.append(f"Why no speed-up ({verdict}): no int8 kernel ran; measured {compressed.median:.3f} ms "
                     f"(IQR {compressed.iqr:.3f}) vs {fp32.median:.3f} ms (IQR {fp32.iqr:.3f}) fp32.")
    return ({"fp32": fp32.median, "compressed": compressed.median, "fp32_iqr": fp32.iqr,
             "compressed_iqr": compressed.iqr, "ort_fp32": ort.median if ort else None,
             "ort_fp32_iqr": ort.iqr if ort else None,
             "pruned_fp32": pruned.median if pruned else None,
             "pruned_fp32_iqr": pruned.iqr if pruned else None}, path, notes)
