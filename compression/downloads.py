"""The bytes a page's downloads serve: the compressed model's file and its ONNX export."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from compression import (
    data,
    export,
    models,
    runtime,
    slim,
    source,
    structure,
)
from compression.accounting import _layer_size
from compression.apply import _applicable, _without_hooks, compress, inputs_only
from compression.config import CompressionConfig
from compression.quantizers import Quantized
from compression.timing import N_RANDOM_CALIB


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
