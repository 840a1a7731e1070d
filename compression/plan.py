"""The per-layer plan: every decision about a layer, made once per (model, config).

For every compressible layer (compression.layers) the plan says which quantizer record runs,
at how many bits and at which granularity, the sparsity and structure it is pruned to,
whether its pruned rows are physically sliced out, the arithmetic the energy model charges,
and, once the layer is compressed (`Plan.store`), the storage layout the size model counts
and the file writes. The compression, the size model, the Huffman stage, the written and
the downloaded file, the ONNX export, the energy model, the report's kinds, the notes and
the chart labels all read it; none of them decides a layer's settings again.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from compression import export, heads, size, slim, structure, structures
from compression.config import CompressionConfig, ConfigError
from compression.layers import Layer, LayerKind, compressible
from compression.quantizers import (
    FLOAT,
    FLOAT_BITS,
    PER_TENSOR,
    UNIFORM,
    Codec,
    Granularity,
    PerChannel,
    Quantized,
    Quantizer,
    resolve,
)


@dataclass(frozen=True)
class LayerPlan:
    """One layer's settings, decided once."""
    name: str
    kind: LayerKind
    quantizer: Quantizer       # the record that quantizes this layer (FLOAT: not quantized)
    bits: int                  # the layer's bit-width (its override, else the global one; a format's own width)
    granularity: Granularity   # which weights share a scale, as the record really runs it (PerTensor when float)
    scheme: str                # symmetric / asymmetric (only the uniform grid reads it)
    sparsity: float            # the fraction of this layer's weights pruning aims at (its own, or the global)
    own_sparsity: bool         # pruned to exactly its own sparsity within the layer (a per-layer override)
    structure: str             # unstructured, rows or 2:4
    energy_op: str             # what the energy model charges per MAC (energy.mac_pj)
    act_bits: int              # bits of this layer's input activations (32 = float)

    @property
    def quantized(self) -> bool:
        return self.quantizer is not FLOAT

    @property
    def code_bits(self) -> int:
        """Bits per stored code: the record's (ternary stores 2, binary 1, whatever was asked)."""
        return self.quantizer.code_bits(self.bits) if self.quantized else FLOAT_BITS

    @property
    def per_channel(self) -> bool:
        return isinstance(self.granularity, PerChannel)

    @property
    def granularity_label(self) -> str:
        """'per-channel', 'per-tensor', 'per-group g=128' as the quantizer really runs; '' when not quantized."""
        return self.granularity.label if self.quantized else ""

    @property
    def label(self) -> str:
        """'4-bit', '4-bit k-means', 'MXFP4', 'float32': the bit-width and the quantizer, or the format's name."""
        if not self.quantized:
            return FLOAT.label
        if self.quantizer.width is not None:
            return self.quantizer.label
        return f"{self.bits}-bit" + ("" if self.quantizer.name in (UNIFORM.name, "binary") else f" {self.quantizer.label}")

    @property
    def method(self) -> str:
        """'uniform symmetric, per-channel', 'k-means, per-tensor', '(no quantization)'."""
        if not self.quantized:
            return "(no quantization)"
        scheme = f" {self.scheme}" if self.quantizer is UNIFORM else ""
        return f"{self.quantizer.label}{scheme}, {self.granularity_label}"


@dataclass(frozen=True, eq=False)
class Layout:
    """How one compressed layer is stored: its codec, the fixed-width layout, the Huffman one, the written one."""
    codec: Codec
    plain: size.LayerSize                  # cheapest fixed-width layout (dense, bitmask or CSR)
    coded: size.LayerSize | None           # cheapest Huffman-coded layout (None: not priced, or float)
    written: size.LayerSize                # what the file holds: coded when the config asks for Huffman
    codes: np.ndarray | None = None        # every weight's code, when the Huffman stage priced them (the file reuses them)


@dataclass(frozen=True)
class Plan:
    """Every compressible layer's settings, and the settings that concern the model as a whole."""
    layers: dict[str, LayerPlan]
    prunes: bool
    sliced: bool               # pruned rows are cut out for real (a smaller dense model is timed and exported)
    huffman: bool              # the file Huffman-codes quantized layers (Deep Compression stage 3)
    act_bits: int
    skip_zeros: bool
    masks_by_graph: bool       # rows of a residual/BatchNorm graph: coupled channels go together
    masks_by_heads: bool = False  # whole attention heads go (compression.heads), sliced out for real

    @property
    def quantizes_weights(self) -> bool:
        return any(lp.quantized for lp in self.layers.values())

    @property
    def int8(self) -> bool:
        """Every quantized layer fits int8 kernels: the timed and exported model runs ONNX Runtime int8."""
        quantized = [lp for lp in self.layers.values() if lp.quantized]
        # a number format (FP8, NF4, MXFP4 ...) is no int8 grid: its model is timed in float
        return bool(quantized) and all(lp.bits <= 8 and lp.quantizer.width is None for lp in quantized)

    @property
    def simulated(self) -> bool:
        """Accuracy is simulated (fake quantization) rather than the float model as it runs."""
        return self.quantizes_weights or self.act_bits < FLOAT_BITS

    @property
    def method(self) -> str:
        """The quantization method when every quantized layer shares it, else 'per-layer settings'."""
        methods = {lp.method for lp in self.layers.values() if lp.quantized}
        if not methods:
            return "(no quantization)"
        return methods.pop() if len(methods) == 1 else "per-layer settings"

    def sparsities(self) -> dict[str, float]:
        """{mask key: sparsity} of the layers pruned to their own sparsity (the per-layer overrides)."""
        return {f"{lp.name}.weight": lp.sparsity for lp in self.layers.values() if lp.own_sparsity}

    def store(self, layers: dict[str, Layer], quant: dict[str, Quantized]) -> dict[str, Layout]:
        """The storage layout of every compressed layer: priced once, read by the size model and the file.

        The Huffman stage is priced only when the file uses it: pricing it is most of the cost of
        sizing a layer, and without Huffman no number shows it.
        """
        out = {}
        for name, layer in layers.items():
            w = layer.weight.detach()
            codec = export.codec_for(quant.get(name))
            bias = layer.bias.numel() if layer.bias is not None else 0
            plain = size.layer_size(w, codec.bits, codec.side_bits, bias, zero_code=codec.zero_code)
            coded, codes = None, None
            if self.huffman and not codec.is_float:
                codes = codec.encode(w.flatten(), torch.arange(w.numel()))
                coded = size.huffman_size(w, codes, codec.side_bits, bias, zero_code=codec.zero_code, plain=plain)
            out[name] = Layout(codec, plain, coded, coded or plain, codes)
        return out

    def runnable(self, model: nn.Module, input_shape: tuple[int, ...]) -> nn.Module:
        """The model that is timed and exported: pruned rows sliced out when the plan slices them.

        `model` is a compressed copy without hooks (callers own it; it may be modified).
        """
        if not self.sliced:
            return model
        if self.masks_by_heads:
            return heads.remove(model)
        if isinstance(model, nn.Sequential):
            return slim.slim(model)
        return structure.remove_zero_channels(model, input_shape)


def honours(record: Quantizer, bits: int) -> bool:
    """Whether `record` quantizes at `bits` as asked: a number format only at its own width, a
    record with fixed codes (ternary: 2 bits, binary: 1) only at their width, the others at any."""
    if record is FLOAT:
        return True
    return bits == record.width if record.width is not None else record.code_bits(bits) == bits


def make(model: nn.Module, config: CompressionConfig) -> Plan:
    """The plan of `config` on `model`; ConfigError naming an override's layer the model lacks."""
    layers = compressible(model)
    _check_layer_names(config, list(layers))
    bits = dict(config.layer_bits)
    own = dict(config.layer_sparsity)
    kind = structures.structure(config.structure)
    fixed = kind.fixed_sparsity
    out = {}
    tables = [name for name, layer in layers.items() if not layer.kind.prunable]
    if any(name in own for name in tables):
        raise ConfigError(f"layer_sparsity names {', '.join(n for n in tables if n in own)}: embedding tables "
                          f"are not pruned (a zeroed row saves no multiply); quantize them with layer_bits instead")
    for name, layer in layers.items():
        b = bits.get(name, config.bits)
        record = resolve(config.quantizer, b)
        if name in bits and not honours(record, b):
            # a layer given bits its record cannot run (a format's other width, ternary's 2-bit
            # codes at 8) runs the uniform grid at them (NNCF's int8 LM head beside an NF4 body);
            # otherwise its bits would be ignored unsaid
            record = resolve(UNIFORM.name, b)
        quantized = record is not FLOAT
        b = record.width if quantized and record.width is not None else b  # a format runs at its own width
        sparsity = 0.0 if not layer.kind.prunable else fixed if fixed is not None else own.get(name, config.sparsity)
        # an embedding's input is token ids: no activations of its own to quantize
        act_bits = config.act_bits if layer.kind.multiplies else FLOAT_BITS
        out[name] = LayerPlan(
            name=name, kind=layer.kind, quantizer=record, bits=b,
            granularity=record.grain(config.grain) if quantized else PER_TENSOR,
            scheme=config.scheme, sparsity=sparsity, own_sparsity=name in own and fixed is None,
            structure=config.structure,
            # a float operand (activations at 32 bits) makes every multiply a float one
            energy_op="float" if act_bits >= FLOAT_BITS else record.energy_op,
            act_bits=act_bits)
    by_heads = config.prunes and kind.slices_heads
    if by_heads and own:
        raise ConfigError(f"layer_sparsity with structure 'heads' does not apply: heads are removed by one "
                          f"fraction of all heads (or of each layer's, scope 'layer'), not per weight layer "
                          f"({', '.join(own)}); use one global sparsity")
    sliced = config.prunes and (kind.slices_rows or by_heads)
    graph_rows = config.prunes and kind.slices_rows and coupled(model)
    if graph_rows and own:
        # structure.channel_masks prunes coupled channel groups to one global sparsity; a layer's
        # own sparsity would be silently ignored (nothing pruned at a global 0).
        raise ConfigError(f"layer_sparsity with structure 'rows' needs a plain Sequential model: in this one "
                          f"residual adds, normalisations or attention tie channels across layers, so "
                          f"{', '.join(own)} cannot lose rows alone; use one global sparsity or structure "
                          f"'unstructured'")
    return Plan(layers=out, prunes=config.prunes, sliced=sliced,
                huffman=config.huffman, act_bits=config.act_bits, skip_zeros=config.skip_zeros,
                masks_by_graph=graph_rows, masks_by_heads=by_heads)


def coupled(model: nn.Module) -> bool:
    """Whether rows pruning goes by coupled channel groups (any graph but a plain Sequential)."""
    return not isinstance(model, nn.Sequential)


def _check_layer_names(config: CompressionConfig, names: list[str]) -> None:
    """ConfigError naming an override's layer that the model does not have."""
    for key, pairs in (("layer_bits", config.layer_bits), ("layer_sparsity", config.layer_sparsity)):
        for layer, _ in pairs:
            if layer not in names:
                raise ConfigError(f"{key} names layer '{layer}', which this model does not have: "
                                  f"its layers are {', '.join(names)}.")
