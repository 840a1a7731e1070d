"""Real int8 kernels through ONNX Runtime, for Linear and Conv layers, and their latency.

The model is exported to ONNX once; ONNX Runtime runs the fp32 graph and an int8 graph
made by its own quantizer: static (activation ranges calibrated on a calibration slice,
QDQ format, per-channel weight scales) when calibration inputs exist, dynamic (activation
ranges computed per batch at run time) otherwise. Latency is reported separately for
PyTorch fp32, ONNX Runtime fp32 and ONNX Runtime int8, so the runtime's own speed-up is
never sold as the effect of int8. Heavy imports (onnx, onnxruntime) happen inside
functions: importing this module costs nothing.
"""
from __future__ import annotations

import functools
import io
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from compression import measure
from compression.measure import Timing  # one Timing type for every latency

Mode = Literal["static", "dynamic"]
INPUT, OUTPUT = "x", "y"
LATENCY_PATHS = {
    "torch": "PyTorch fp32 (eager, 1 thread)",
    "ort": "ONNX Runtime fp32 (CPU, 1 thread)",
    "ort-int8": "ONNX Runtime int8 (CPU, 1 thread, {mode} quantization)",
}


class RuntimeUnavailable(RuntimeError):
    """ONNX / ONNX Runtime missing or unable to take this model; one sentence for the user."""


@dataclass(frozen=True)
class Latency:
    """Latency of the same model on three paths, and the ONNX files that were timed."""

    torch_fp32: Timing
    ort_fp32: Timing
    ort_int8: Timing
    int8_mode: Mode
    onnx_fp32: bytes = b""
    onnx_int8: bytes = b""

    @property
    def int8_path(self) -> str:
        """One line naming what the int8 number measures."""
        return LATENCY_PATHS["ort-int8"].format(mode=self.int8_mode)


def to_onnx(model: nn.Module, input_shape: tuple[int, ...], opset: int = 17) -> bytes:
    """The model as ONNX bytes with a dynamic batch axis (input `x`, output `y`)."""
    model = model.eval()
    example = torch.zeros(1, *input_shape)
    # The TorchScript exporter first: it takes ~0.1 s where the torch.export-based one
    # (onnxscript) takes seconds for the same small model; it is deprecated, so the
    # torch.export-based exporter is the fallback when it fails or is gone.
    try:
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (example,), buf, dynamo=False, opset_version=opset,
                              input_names=[INPUT], output_names=[OUTPUT],
                              dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}})
        return buf.getvalue()
    except Exception as legacy_error:  # noqa: BLE001 - any failure: try the other exporter
        try:
            program = torch.onnx.export(model, (example,), dynamo=True, input_names=[INPUT],
                                        output_names=[OUTPUT],
                                        dynamic_shapes=({0: torch.export.Dim("batch")},))
            return program.model_proto.SerializeToString()
        except Exception as e:  # noqa: BLE001
            raise RuntimeUnavailable(f"the model cannot be exported to ONNX ({type(legacy_error).__name__}, "
                                     f"then {type(e).__name__}: {str(e).splitlines()[0][:120]})") from None


def session(onnx_bytes: bytes, threads: int = 1) -> Any:
    """An ONNX Runtime CPU session pinned to `threads` intra-op threads (and one inter-op)."""
    ort = _ort()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # warnings about unused initializers are noise here
    return ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])


def run(sess: Any, x: torch.Tensor) -> torch.Tensor:
    """Outputs of an ONNX Runtime session on a batch."""
    return torch.from_numpy(sess.run([OUTPUT], {INPUT: x.numpy().astype(np.float32)})[0])


class OrtModule(nn.Module):
    """An ONNX Runtime session behind a module's call, so PyTorch's timing and accuracy code runs it."""

    def __init__(self, sess: Any) -> None:
        super().__init__()
        self.sess = sess

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run(self.sess, x)


def quantize_int8(onnx_fp32: bytes, calib: torch.Tensor | None = None, batch: int = 16) -> tuple[bytes, Mode]:
    """int8 ONNX: static QDQ per-channel calibrated on `calib` when given, else dynamic."""
    _ort()
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        src, pre, out = (Path(tmp) / n for n in ("fp32.onnx", "pre.onnx", "int8.onnx"))
        src.write_bytes(onnx_fp32)
        try:  # folds BatchNorm into Conv and infers shapes, so each Conv quantizes whole
            quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        except Exception:  # noqa: BLE001 - optional optimisation: quantize the plain graph
            pre = src
        if calib is None:
            quantize_dynamic(str(pre), str(out), weight_type=QuantType.QInt8, per_channel=True)
            return out.read_bytes(), "dynamic"

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self.batches = iter([{INPUT: c.numpy().astype(np.float32)} for c in calib.split(batch)])

            def get_next(self) -> dict[str, np.ndarray] | None:
                return next(self.batches, None)

        quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        return out.read_bytes(), "static"


def latency(model: nn.Module, x: torch.Tensor, calib: torch.Tensor | None = None, repeats: int = 50,
            budget_s: float | None = None) -> Latency:
    """Latency on input batch `x` for PyTorch fp32, ONNX Runtime fp32 and ONNX Runtime int8.

    The three paths are timed in the same rounds (see latency_many); `calib` chooses static
    int8 (see quantize_int8). The ONNX bytes timed come back for download.
    """
    return latency_many({"model": model}, x, calib, repeats, budget_s)["model"]


def latency_many(models: dict[str, nn.Module], x: torch.Tensor, calib: torch.Tensor | None = None,
                 repeats: int = 50, budget_s: float | None = None) -> dict[str, Latency]:
    """Latency of several models on their three paths each, all paths interleaved in the same rounds.

    Every ratio between two of the timings (pruning: the full model vs the pruned one in
    PyTorch; the runtime: PyTorch vs ONNX Runtime fp32 on the same model; int8: ONNX Runtime
    fp32 vs int8 on the same model) then compares times measured side by side: timed one
    after the other, a machine that speeds up or slows down between them makes a factor of
    the clock (measure.interleaved). Threads are pinned to one for both runtimes.
    """
    feed = {INPUT: x.numpy().astype(np.float32)}
    calls: dict[str, Callable[[], object]] = {}
    files: dict[str, tuple[bytes, bytes, Mode]] = {}
    for name, model in models.items():
        model = model.eval()
        fp32 = to_onnx(model, tuple(x.shape[1:]))
        int8, mode = quantize_int8(fp32, calib)
        files[name] = (fp32, int8, mode)
        s_fp32, s_int8 = session(fp32), session(int8)
        calls[f"{name}/torch"] = functools.partial(model, x)
        calls[f"{name}/ort"] = functools.partial(s_fp32.run, [OUTPUT], feed)
        calls[f"{name}/int8"] = functools.partial(s_int8.run, [OUTPUT], feed)
    # `repeats` rounds, fewer (but at least 5) once budget_s has been spent on all paths together
    t = measure.interleaved(calls, min_repeats=repeats if budget_s is None else min(5, repeats),
                            max_repeats=repeats, budget_s=0.0 if budget_s is None else budget_s)
    return {name: Latency(t[f"{name}/torch"], t[f"{name}/ort"], t[f"{name}/int8"], mode, fp32, int8)
            for name, (fp32, int8, mode) in files.items()}


def _ort() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise RuntimeUnavailable("ONNX Runtime is not installed: pip install onnxruntime onnx") from None
    return onnxruntime
