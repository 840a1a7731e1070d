"""A nanoGPT-style decoder (Karpathy's nanoGPT; Radford et al. 2019's GPT-2 layout): token and
learned position embeddings, pre-LayerNorm blocks of causal self-attention and a GELU MLP, a
final LayerNorm and an untied `lm_head`.

Every projection is a plain `nn.Linear` (`attn.qkv`, `attn.proj`, `fc1`, `fc2`, `lm_head`), so
`compression.layers.compressible` lists them and every quantizer and pruning criterion reaches
them; the token and position embeddings are `nn.Embedding` tables, compressible layers of their
own (`embeddings_compressible`: quantized, never pruned).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class GPTConfig:
    vocab: int = 256
    context: int = 128
    dim: int = 144
    depth: int = 4
    heads: int = 4
    hidden: int = 576


class CausalSelfAttention(nn.Module):
    """Multi-head attention where position t attends to positions <= t, written out as matrix
    products (as zoo.Attention), projections `qkv` and `proj`."""

    reshapes_channels = True  # heads are fixed slices of qkv's rows: structure slicing stays off

    def __init__(self, dim: int, heads: int, context: int) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        mask = torch.ones(context, context, dtype=torch.bool).tril()
        self.register_buffer("mask", mask, persistent=False)  # not in the checkpoint

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-2, -1) * self.head_dim ** -0.5
        scores = scores.masked_fill(~self.mask[:n, :n], float("-inf"))
        return self.proj((scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    """x + attn(LN(x)), then x + fc2(GELU(fc1(LN(x))))."""

    def __init__(self, c: GPTConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(c.dim)
        self.attn = CausalSelfAttention(c.dim, c.heads, c.context)
        self.norm2 = nn.LayerNorm(c.dim)
        self.fc1 = nn.Linear(c.dim, c.hidden)
        self.fc2 = nn.Linear(c.hidden, c.dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class TinyGPT(nn.Module):
    """tokens (batch, n <= context, int64) -> next-token logits (batch, n, vocab)."""

    embeddings_compressible = True  # compression.layers: `tok` and `pos` are layers of their own

    def __init__(self, config: GPTConfig | None = None) -> None:
        super().__init__()
        c = config or GPTConfig()
        self.config = c
        self.tok = nn.Embedding(c.vocab, c.dim)
        self.pos = nn.Embedding(c.context, c.dim)
        self.blocks = nn.Sequential(*[Block(c) for _ in range(c.depth)])
        self.norm = nn.LayerNorm(c.dim)
        self.lm_head = nn.Linear(c.dim, c.vocab, bias=False)
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2's scaled init of the residual projections
            if name.endswith(("proj.weight", "fc2.weight")):
                nn.init.normal_(p, std=0.02 / (2 * c.depth) ** 0.5)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x, _ = self.block_inputs(idx)
        return self.lm_head(self.norm(self.blocks(x)))

    # compression.calibration.Blockwise: layer-by-layer methods run one block at a time
    def block_stack(self) -> tuple[str, nn.Sequential]:
        return "blocks", self.blocks

    def block_inputs(self, idx: torch.Tensor) -> tuple[torch.Tensor, tuple]:
        n = idx.shape[1]
        return self.tok(idx) + self.pos(torch.arange(n, device=idx.device)), ()

    def run_block(self, block: nn.Module, hidden: torch.Tensor, extra: tuple) -> torch.Tensor:
        return block(hidden)

    def kv_projections(self) -> list[tuple[nn.Module, tuple[slice, ...], int]]:
        """(projection, the slices of its output that are K and V, head size) per block, for the KV cache."""
        d = self.config.dim
        attns = [cast(CausalSelfAttention, block.attn) for block in self.blocks]
        return [(a.qkv, (slice(d, 2 * d), slice(2 * d, 3 * d)), a.head_dim) for a in attns]


def train_lm(model: nn.Module, train_tokens: torch.Tensor, steps: int, *, context: int, batch_size: int,
             lr: float, seed: int = 0, warmup: int = 100, weight_decay: float = 0.1,
             progress=None, windows: torch.Tensor | None = None, teacher_logits: torch.Tensor | None = None,
             temperature: float = 1.0, alpha: float = 0.0) -> nn.Module:
    """AdamW (betas 0.9/0.95, as nanoGPT) on random windows of the training tokens drawn from a
    generator seeded by `seed`; linear warm-up then cosine decay to lr/10; gradients clipped at 1.
    Deterministic under `train.deterministic()` (one thread).

    `windows` (n, context + 1): batches drawn from these fixed windows instead of the whole split;
    with the teacher's `teacher_logits` on them (n, context, vocab), the loss is
    compression.distill.kd_loss at every token (soft targets at `temperature`, weight `alpha`;
    Hinton et al. 2015 applied token by token). The teacher runs once per window, not once per
    step, and two students from one init see the same batches, so they differ only by the loss."""
    import math

    from compression.distill import kd_loss
    g = torch.Generator().manual_seed(seed)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.95))
    offsets = torch.arange(context + 1)
    model.train()
    for step in range(steps):
        if step < warmup:
            rate = lr * (step + 1) / warmup
        else:
            rate = lr / 10 + (lr - lr / 10) * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))
        for group in opt.param_groups:
            group["lr"] = rate
        if windows is None:
            starts = torch.randint(0, len(train_tokens) - context - 1, (batch_size,), generator=g)
            window = train_tokens[starts[:, None] + offsets]
        else:
            picked = torch.randint(0, len(windows), (batch_size,), generator=g)
            window = windows[picked]
        logits = model(window[:, :-1])
        flat, targets = logits.reshape(-1, logits.shape[-1]), window[:, 1:].reshape(-1)
        if teacher_logits is None:
            loss = F.cross_entropy(flat, targets)
        else:
            loss = kd_loss(flat, teacher_logits[picked].reshape(flat.shape), targets, temperature, alpha)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if progress and ((step + 1) % 10 == 0 or step + 1 == steps):
            progress((step + 1) / steps, f"step {step + 1}/{steps}: loss {loss.item():.3f}")
    return model.eval()
