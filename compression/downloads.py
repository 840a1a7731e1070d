"""The bytes a page's downloads serve: the compressed model's file and its ONNX export."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from compression import (
    data,
    export,
    models,
    plan,
    runtime,
    source,
)
from compression.apply import _applicable, _without_hooks, compress, inputs_only
from compression.config import CompressionConfig
from compression.layers import compressible
from compression.quantizers import Quantized
from compression.timing import N_RANDOM_CALIB


def _file_args(layouts: dict[str, plan.Layout]) -> tuple:
    return ({n: lay.written for n, lay in layouts.items()}, {n: lay.codec for n, lay in layouts.items()},
            {n: lay.codes for n, lay in layouts.items() if lay.codes is not None})


def file_of(model: nn.Module, layouts: dict[str, plan.Layout]) -> bytes:
    """The file of a compressed model in the layouts its plan chose: what size_bytes['file'] counts."""
    sizes, codecs, codes = _file_args(layouts)
    return export.to_bytes(model, sizes, codecs, codes=codes)


def file_size(model: nn.Module, layouts: dict[str, plan.Layout]) -> int:
    """len(file_of(model, layouts)), without holding the file (export.file_bytes)."""
    sizes, codecs, codes = _file_args(layouts)
    return export.file_bytes(model, sizes, codecs, codes=codes)


@dataclass(frozen=True, eq=False)
class Compressed:
    """A source's model compressed by a config exactly as evaluate_model compresses it."""
    model: nn.Module
    dataset: data.Dataset
    plan: plan.Plan
    masks: dict[str, torch.Tensor]
    quant: dict[str, Quantized]


def compressed(model: str | source.ModelSource, config: CompressionConfig,
               data_dir: str | Path | None = None) -> Compressed:
    """The source's model compressed by `config` as evaluate_model compresses it (same seed, same plan)."""
    src = source.parse(model) if isinstance(model, str) else model
    if src.kind == "zoo":  # as evaluate: a checkpoint trained on first use is trained here too
        models.ensure(src.name, data_dir=data_dir)
    loaded = source.load(src, data_dir=data_dir)
    ds = loaded.dataset or inputs_only(loaded.input_shape, loaded.why_no_accuracy or source.NO_DATA, str(src))
    run_config = _applicable(config, ds, loaded.model)[0]
    lp = plan.make(loaded.model, run_config)
    model_c, masks, quant = compress(loaded.model, ds, run_config, layer_plan=lp)
    return Compressed(model_c, ds, lp, masks, quant)


def file_bytes(model_id: str | source.ModelSource, config: CompressionConfig,
               data_dir: str | Path | None = None) -> bytes:
    """The compressed model's file (export.to_bytes), Huffman-coded when the config asks: the bytes size_bytes['file'] counts."""
    c = compressed(model_id, config, data_dir)
    return file_of(c.model, c.plan.store(compressible(c.model), c.quant))


def runnable_of(c: Compressed) -> nn.Module:
    """The model evaluate_model times: without activation hooks, pruned rows sliced out when the plan slices."""
    clean = _without_hooks(c.model)
    return c.plan.runnable(clean, tuple(c.dataset.input_shape)) if c.plan.sliced and c.masks else clean


def onnx_bytes(model_id: str | source.ModelSource, config: CompressionConfig,
               data_dir: str | Path | None = None) -> tuple[bytes, str]:
    """The compressed model as the ONNX file _latency times (int8 when the plan runs int8, else fp32) and its kind."""
    c = compressed(model_id, config, data_dir)
    ds = c.dataset
    fp32 = runtime.to_onnx(runnable_of(c), tuple(ds.input_shape))
    if not c.plan.int8:
        return fp32, "fp32"
    gen = torch.Generator().manual_seed(0)
    calib = ds.x_calib if len(ds.x_calib) else torch.rand(N_RANDOM_CALIB, *ds.input_shape, generator=gen)
    return runtime.quantize_int8(fp32, calib)[0], "int8"
