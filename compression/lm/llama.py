"""A minimal Llama decoder in PyTorch, built in fp32 from a GGUF file (SmolLM2-135M).

Every projection is a plain `nn.Linear` under transformers' names (`model.layers.i.self_attn.q_proj`,
`mlp.gate_proj`, `lm_head` ...), so `compression.layers.compressible` finds them and every
quantizer, pruning criterion and rounding method runs on them unchanged.

The blocks are Llama's: x + Attn(RMSNorm(x)), then x + MLP(RMSNorm(x)); attention with rotary
embeddings at the file's theta and grouped-query attention (each key/value head serves
head_count / head_count_kv query heads); the MLP is SwiGLU, down(silu(gate(x)) · up(x)).

Rotary layout. llama.cpp's converter permutes the rows of q and k (within each head, HF's
"half-split" order — dimension i paired with i + d/2 — becomes interleaved pairs 2i, 2i+1) because
its kernel rotates adjacent pairs. `unpermute_rows` undoes that, so the weights here are in HF's
layout and the rotation is HF's `rotate_half`. A test checks that this equals interleaved rotation
on the file's raw rows, and the perplexity test checks that it reads English (a wrong pairing gives
perplexity in the hundreds or more).

The file has no `output.weight`: the LM head is the token embedding. `lm_head` gets its own copy of
that matrix (untied) so a page can compress the head and the embedding apart without one silently
changing the other; `ModelInfo.tied_embeddings` records where it came from.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from compression.lm.gguf import GGUFFile, GGUFInfo, LlamaSpec, open_gguf
from compression.lm.tokenizer import BPETokenizer, from_gguf

KVCache = list[tuple[torch.Tensor, torch.Tensor]]


class RMSNorm(nn.Module):
    """x / sqrt(mean(x²) + eps) · weight (Zhang & Sennrich 2019), as Llama uses it."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """HF's rotation helper: (x1, x2) -> (-x2, x1) on the two halves of the last dimension."""
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rope_tables(head_dim: int, theta: float, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin, (T, head_dim), half-split layout: frequency j at columns j and j + head_dim/2."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    angles = positions.to(torch.float64)[:, None] * inv_freq[None, :]
    angles = torch.cat((angles, angles), dim=-1)
    return angles.cos().to(torch.float32), angles.sin().to(torch.float32)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate (B, H, T, D) by the tables (T, D) in the half-split layout."""
    return x * cos + rotate_half(x) * sin


def apply_rope_interleaved(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """The same rotation with pairs (2j, 2j+1), llama.cpp's layout (tables as `rope_tables` makes them)."""
    half = x.shape[-1] // 2
    c, s = cos[..., :half], sin[..., :half]
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack((even * c - odd * s, even * s + odd * c), dim=-1).flatten(-2)


def unpermute_rows(w: torch.Tensor, n_head: int) -> torch.Tensor:
    """Undo llama.cpp's q/k row permutation (interleaved pairs back to HF's half-split rows).

    The converter does w.reshape(n_head, 2, d/2, in).swapaxes(1, 2); this is its inverse.
    """
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape).contiguous()


def permute_rows(w: torch.Tensor, n_head: int) -> torch.Tensor:
    """llama.cpp's converter permutation (HF rows -> interleaved pairs); for tests."""
    rows = w.shape[0]
    return w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape).contiguous()


class Attention(nn.Module):
    def __init__(self, spec: LlamaSpec) -> None:
        super().__init__()
        d, hd = spec.embedding_length, spec.head_dim
        self.n_head, self.n_kv, self.head_dim = spec.head_count, spec.head_count_kv, hd
        self.q_proj = nn.Linear(d, self.n_head * hd, bias=False)
        self.k_proj = nn.Linear(d, self.n_kv * hd, bias=False)
        self.v_proj = nn.Linear(d, self.n_kv * hd, bias=False)
        self.o_proj = nn.Linear(self.n_head * hd, d, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                past: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.n_head, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.n_kv, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.n_kv, self.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if past is not None:
            k, v = torch.cat((past[0], k), dim=2), torch.cat((past[1], v), dim=2)
        present = (k, v)
        rep = self.n_head // self.n_kv  # query head h reads key/value head h // rep (HF's repeat_kv)
        kk, vv = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        if past is None:
            out = F.scaled_dot_product_attention(q, kk, vv, is_causal=True)
        else:  # new queries sit after the cached positions: query i sees keys up to offset + i
            offset = kk.shape[2] - t
            mask = torch.ones(t, kk.shape[2], dtype=torch.bool).tril(diagonal=offset)
            out = F.scaled_dot_product_attention(q, kk, vv, attn_mask=mask)
        return self.o_proj(out.transpose(1, 2).reshape(b, t, -1)), present


class MLP(nn.Module):
    def __init__(self, spec: LlamaSpec) -> None:
        super().__init__()
        d, f = spec.embedding_length, spec.feed_forward_length
        self.gate_proj = nn.Linear(d, f, bias=False)
        self.up_proj = nn.Linear(d, f, bias=False)
        self.down_proj = nn.Linear(f, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, spec: LlamaSpec) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(spec.embedding_length, spec.rms_eps)
        self.self_attn = Attention(spec)
        self.post_attention_layernorm = RMSNorm(spec.embedding_length, spec.rms_eps)
        self.mlp = MLP(spec)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                past: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        h, present = self.self_attn(self.input_layernorm(x), cos, sin, past)
        x = x + h
        return x + self.mlp(self.post_attention_layernorm(x)), present


class LlamaBody(nn.Module):
    """transformers' `LlamaModel`: embedding, blocks, final norm."""

    def __init__(self, spec: LlamaSpec, meta: bool = False) -> None:
        super().__init__()
        # on the meta device nn.Embedding's normal_ init imports torch._refs (1.5 s): skip it there
        weight = torch.empty(spec.vocab_size, spec.embedding_length, device="meta") if meta else None
        self.embed_tokens = nn.Embedding(spec.vocab_size, spec.embedding_length, _weight=weight)
        self.layers = nn.ModuleList(DecoderLayer(spec) for _ in range(spec.block_count))
        self.norm = RMSNorm(spec.embedding_length, spec.rms_eps)


class LlamaForCausalLM(nn.Module):
    """Causal Llama LM: `forward(ids (B, T)) -> logits (B, T, vocab)`; `forward_with_cache` for generation."""

    embeddings_compressible = True  # compression.layers: `model.embed_tokens` is a layer of its own

    def __init__(self, spec: LlamaSpec, meta: bool = False) -> None:
        super().__init__()
        self.spec = spec
        self.model = LlamaBody(spec, meta)
        self.lm_head = nn.Linear(spec.embedding_length, spec.vocab_size, bias=False)

    def forward_with_cache(self, ids: torch.Tensor, past: KVCache | None = None) -> tuple[torch.Tensor, KVCache]:
        """Logits of ids placed after the cached positions, and the extended cache."""
        offset = 0 if not past else past[0][0].shape[2]
        t = ids.shape[1]
        if offset + t > self.spec.context_length:
            raise ValueError(f"{offset + t} tokens exceed the model's context of {self.spec.context_length}")
        cos, sin = rope_tables(self.spec.head_dim, self.spec.rope_theta, torch.arange(offset, offset + t))
        x = self.model.embed_tokens(ids)
        new: KVCache = []
        for i, layer in enumerate(self.model.layers):
            x, present = layer(x, cos, sin, past[i] if past else None)
            new.append(present)
        return self.lm_head(self.model.norm(x)), new

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.forward_with_cache(ids)[0]

    # compression.calibration.Blockwise: layer-by-layer methods (GPTQ, SparseGPT) run one block
    # at a time on the cached hidden state instead of the whole model per layer
    def block_stack(self) -> tuple[str, nn.ModuleList]:
        return "model.layers", self.model.layers

    def block_inputs(self, ids: torch.Tensor) -> tuple[torch.Tensor, tuple]:
        t = ids.shape[1]
        cos, sin = rope_tables(self.spec.head_dim, self.spec.rope_theta, torch.arange(t))
        return self.model.embed_tokens(ids), (cos, sin)

    def run_block(self, block: nn.Module, hidden: torch.Tensor, extra: tuple) -> torch.Tensor:
        return block(hidden, *extra)[0]

    def kv_projections(self) -> list[tuple[nn.Module, tuple[slice, ...], int]]:
        """(projection, the slice of its output cached, head size) for K and V of every block."""
        whole = (slice(None),)
        attns = [cast(Attention, layer.self_attn) for layer in self.model.layers]
        return [pair for a in attns for pair in ((a.k_proj, whole, self.spec.head_dim),
                                                 (a.v_proj, whole, self.spec.head_dim))]


@dataclass(frozen=True)
class ModelInfo:
    """Where a loaded model came from and what its reference numbers mean."""

    gguf: GGUFInfo
    load_seconds: float
    tied_embeddings: bool
    n_parameters: int

    @property
    def reference_label(self) -> str:
        return self.gguf.reference_label


def _copy(dst: torch.Tensor, src: torch.Tensor, name: str) -> None:
    if tuple(dst.shape) != tuple(src.shape):
        raise ValueError(f"{name}: the file holds {tuple(src.shape)}, the model expects {tuple(dst.shape)}")
    dst.copy_(src)


def build_from_gguf(f: GGUFFile) -> LlamaForCausalLM:
    """The fp32 model of a llama GGUF file, q/k rows in HF's layout, lm_head an untied copy if the file ties it."""
    spec = f.spec
    if spec.rope_dimension != spec.head_dim:
        raise ValueError(f"partial rotary ({spec.rope_dimension} of {spec.head_dim} dimensions) is not supported")
    with torch.device("meta"):
        model = LlamaForCausalLM(spec, meta=True)
    model = model.to_empty(device="cpu")
    with torch.no_grad():
        f.tensor("token_embd.weight", out=model.model.embed_tokens.weight)
        if f.has("output.weight"):
            f.tensor("output.weight", out=model.lm_head.weight)
        else:
            _copy(model.lm_head.weight, model.model.embed_tokens.weight, "output.weight")
        f.tensor("output_norm.weight", out=model.model.norm.weight)
        for i, module in enumerate(model.model.layers):
            p, layer = f"blk.{i}.", cast(DecoderLayer, module)
            att, mlp = layer.self_attn, layer.mlp
            f.tensor(p + "attn_norm.weight", out=layer.input_layernorm.weight)
            f.tensor(p + "ffn_norm.weight", out=layer.post_attention_layernorm.weight)
            _copy(att.q_proj.weight, unpermute_rows(f.tensor(p + "attn_q.weight"), spec.head_count), p + "attn_q.weight")
            _copy(att.k_proj.weight, unpermute_rows(f.tensor(p + "attn_k.weight"), spec.head_count_kv), p + "attn_k.weight")
            f.tensor(p + "attn_v.weight", out=att.v_proj.weight)
            f.tensor(p + "attn_output.weight", out=att.o_proj.weight)
            f.tensor(p + "ffn_gate.weight", out=mlp.gate_proj.weight)
            f.tensor(p + "ffn_up.weight", out=mlp.up_proj.weight)
            f.tensor(p + "ffn_down.weight", out=mlp.down_proj.weight)
    return model.eval().requires_grad_(False)


def load_smollm2(path: str | Path | None = None) -> tuple[LlamaForCausalLM, BPETokenizer, ModelInfo]:
    """SmolLM2-135M-Instruct from the installed package's GGUF (or `path`): fp32 model, tokenizer, info.

    Raises data.DataUnavailable when the package is missing, loading.FileRejected for a file that
    is not a readable llama GGUF file.
    """
    start = time.perf_counter()
    f = open_gguf(path)
    model = build_from_gguf(f)
    tokenizer = from_gguf(f)
    info = ModelInfo(
        gguf=f.info,
        load_seconds=time.perf_counter() - start,
        tied_embeddings=f.info.tied_embeddings,
        n_parameters=sum(p.numel() for p in model.parameters()),
    )
    return model, tokenizer, info


@torch.no_grad()
def token_nll(model: nn.Module, ids: Sequence[int] | torch.Tensor, chunk: int = 512,
              progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """Negative log-likelihood (nats) of every token after the first of each chunk, chunk by chunk.

    The text is cut into non-overlapping windows of `chunk` tokens (the last may be shorter); in
    each, token j is predicted from tokens 0..j-1 of its window. Returns a (chunks, chunk-1) tensor,
    NaN-padded in the last row, so a bootstrap can resample whole chunks. `progress(done, total)`
    is called after each chunk (a caller's Stop raises from it).
    """
    seq = torch.as_tensor(ids, dtype=torch.long).flatten()
    n_chunks = max(1, math.ceil(seq.numel() / chunk))
    out = torch.full((n_chunks, chunk - 1), float("nan"))
    for c in range(n_chunks):
        window = seq[c * chunk:(c + 1) * chunk]
        if window.numel() < 2:
            continue
        logits = model(window[None])[0, :-1]
        out[c, :window.numel() - 1] = F.cross_entropy(logits, window[1:], reduction="none")
        if progress is not None:
            progress(c + 1, n_chunks)
    return out


@torch.no_grad()
def generate(model: LlamaForCausalLM, ids: Sequence[int], max_new_tokens: int = 30, eos_id: int | None = None) -> list[int]:
    """Greedy continuation (argmax each step) with a key/value cache; the new ids only."""
    logits, past = model.forward_with_cache(torch.as_tensor(list(ids), dtype=torch.long)[None])
    out: list[int] = []
    for _ in range(max_new_tokens):
        nxt = int(logits[0, -1].argmax())
        if eos_id is not None and nxt == eos_id:
            break
        out.append(nxt)
        logits, past = model.forward_with_cache(torch.tensor([[nxt]]), past)
    return out
