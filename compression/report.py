"""The Report: the plain values one evaluate() gives a page, the CLI and the history."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

# fp32: PyTorch, the uncompressed model; compressed: what compression runs; ort_fp32: ONNX
# Runtime fp32 on the same (pruned) model as compressed, so int8 and runtime effects stay apart;
# pruned_fp32: PyTorch fp32 on the model with pruned rows sliced out (None when none are).
LATENCY_KEYS = ("fp32", "compressed", "fp32_iqr", "compressed_iqr", "ort_fp32", "ort_fp32_iqr",
                "pruned_fp32", "pruned_fp32_iqr")


# Every number says what kind it is (DESIGN principle 2).
KINDS = {
    "accuracy": "simulated",   # measured on the test split, under simulated (fake) quantization
    "size_theoretical": "theoretical",
    "size_file": "measured",
    "macs": "theoretical",
    "energy": "estimate",      # from the energy model and its constants: the page's word too
    "latency": "measured",
}


@dataclass
class LayerReport:
    name: str
    kind: str                      # "linear", "conv" or "attention" (compression.layers.LayerKind)
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
    huffman: dict[str, Any] | None = None  # format, values, indices, entries, total bits; None: not Huffman-coded
    # The layer's plan (compression.plan), as charts and notes read it
    label: str = ""                # "4-bit k-means", "float32"
    method: str = ""               # "k-means, per-tensor", "uniform symmetric, per-channel", "(no quantization)"
    quantizer: str = "float"       # the quantizer record's name
    granularity: str = ""          # "per-channel", "per-tensor", "" when not quantized
    energy_op: str = "float"       # what the energy model charges per MAC
    sliced: bool = False           # pruned rows cut out for real in the timed and exported model
    bits_per_weight: float | None = None  # code bits + scales / zero points per weight (None: not quantized)


@dataclass
class Report:
    model: str
    dataset: str
    config: dict[str, Any]
    accuracy: float | None         # None: no test data or no trained weights (accuracy_note says)
    accuracy_baseline: float | None
    accuracy_ci95: list[float] | None
    accuracy_baseline_ci95: list[float] | None
    accuracy_delta: float | None   # accuracy - accuracy_baseline, on the same test images
    accuracy_delta_ci95: list[float] | None  # paired 95% interval (Newcombe 1998, method 10)
    n_test: int
    params_total: int
    params_nonzero: int
    sparsity: float                # fraction of prunable weights the pruning removed (from the masks)
    zeros_from_rounding: float     # fraction of kept prunable weights that quantization rounded to 0
    macs_dense: int
    macs_effective: int
    size_bytes: dict[str, float]   # fp32, pruned, compressed, huffman if quantized (theoretical); file (measured)
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
    accuracy_note: str | None = None  # why accuracy is null, e.g. "n/a (no trained weights)"
    onnx_kind: str = "fp32"        # the timed and exported ONNX model: int8 when the plan runs int8 kernels
    bits_per_weight: float | None = None  # over the quantized layers: code bits + scales (and zero points) per weight
    params_sliced: int | None = None  # parameters of the timed model once pruned rows / heads are cut out (None: not sliced)
    # structure "heads": every attention layer's head scores and the removed heads (compression.heads.HeadScores
    # as plain lists: layers, raw, normalized, removed, scope, criterion, n_images); None otherwise
    heads: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (infinite SQNR becomes null)."""
        return _finite(asdict(self))

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
