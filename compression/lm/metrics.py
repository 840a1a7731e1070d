"""A language model's numbers, each with its uncertainty, on fixed held-out chunks.

- perplexity exp(mean token NLL), 95 % percentile-bootstrap interval over chunks (the chunk is
  the resampled unit: tokens inside a chunk are not independent), fixed seed;
- next-token top-1 accuracy, Wilson's interval (compression.measure.wilson_interval);
- KL(reference || compressed) per token, mean over tokens, in nats;
- top-1 agreement with the reference;
- the paired change of perplexity: the same bootstrap resamples of chunks for both models, so
  the interval is that of the difference, narrower than two separate intervals;
- a greedy continuation of a prompt.
"""
from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from compression.measure import wilson_interval

RESAMPLES = 1000
SEED = 0


@dataclass(frozen=True)
class Scored:
    """One model on the chunks (rows of length + 1 tokens): per position, what the metrics read.

    The log-probabilities themselves are not kept: SmolLM2's on 4,096 tokens are 0.8 GB (vocab
    49,152). The KL against a reference is summed while both models' log-probabilities exist.
    """
    nll: torch.Tensor       # (chunks, length) negative log-likelihood of each target token, nats
    top1: torch.Tensor      # (chunks, length) argmax next token
    targets: torch.Tensor   # (chunks, length) the next tokens
    kl: torch.Tensor | None = None  # (chunks, length) KL(reference || this model), when scored beside one

    @classmethod
    def of(cls, logp: torch.Tensor, targets: torch.Tensor, reference_logp: torch.Tensor | None = None) -> Scored:
        """From log-probabilities (chunks, length, vocab), and the reference's for the KL."""
        nll = -logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        kl = None if reference_logp is None else (reference_logp.exp() * (reference_logp - logp)).sum(dim=-1)
        return cls(nll, logp.argmax(dim=-1), targets, kl)


LOGIT_BUDGET = 2 ** 23  # floats of logits per forward batch (32 MB): batch size = budget / (length x vocab)
IN_MEMORY = 2 ** 26     # reference log-probabilities up to this many floats (256 MB) stay in memory, more go to a file


def _batch_size(length: int, vocab: int) -> int:
    return max(1, LOGIT_BUDGET // (length * vocab))


class ReferenceLogp:
    """A reference model's log-probabilities on fixed chunks, computed once and read back per batch.

    Every compressed model's KL is against the same reference on the same chunks, so its forward
    runs once, not once per evaluation (SmolLM2: 18 s each). Small ones stay in memory; large
    ones (SmolLM2 on 4,096 tokens: 0.8 GB) go to an anonymous temporary file, read one batch at
    a time, so they never sit in memory.
    """

    def __init__(self, model: nn.Module, chunks: torch.Tensor,
                 progress: Callable[[float, str], None] | None = None) -> None:
        self.chunks = chunks
        self._memory: list[torch.Tensor] = []
        self._file: Any = None
        parts: list[Scored] = []
        for i, logp in _batches(model, chunks, progress):
            parts.append(Scored.of(logp, chunks[i:i + len(logp), 1:]))
            if self._file is None and not self._memory and logp.numel() * len(chunks) // len(logp) > IN_MEMORY:
                self._file = tempfile.TemporaryFile()
            if self._file is not None:
                self._file.write(logp.contiguous().numpy().tobytes())
            else:
                self._memory.append(logp)
        self.scored = _cat(parts, chunks)
        self.vocab = int(logp.shape[-1]) if len(chunks) else 0
        self._whole = torch.cat(self._memory) if self._memory else None

    def logp(self, i: int, j: int) -> torch.Tensor:
        """Log-probabilities of chunks i:j, (j − i, length, vocab)."""
        if self._whole is not None:
            return self._whole[i:j]
        length = self.chunks.shape[1] - 1
        row = length * self.vocab * 4
        self._file.seek(i * row)
        data = self._file.read((j - i) * row)
        return torch.frombuffer(bytearray(data), dtype=torch.float32).reshape(j - i, length, self.vocab)


def _batches(model: nn.Module, chunks: torch.Tensor, progress: Callable[[float, str], None] | None
             ) -> Iterator[tuple[int, torch.Tensor]]:
    """(first chunk index, log-probabilities) batch by batch; the model in eval mode meanwhile."""
    length = chunks.shape[1] - 1
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            i, batch_size = 0, 1  # after the first chunk the vocabulary, so the batch size, is known
            while i < len(chunks):
                logp = F.log_softmax(model(chunks[i:i + batch_size, :-1]).float(), dim=-1)
                yield i, logp
                i += len(logp)
                batch_size = _batch_size(length, logp.shape[-1])
                if progress is not None:
                    progress(i / len(chunks), f"scored {i} of {len(chunks)} held-out chunks")
    finally:
        model.train(was_training)


def score(model: nn.Module, chunks: torch.Tensor, reference: ReferenceLogp | None = None,
          progress: Callable[[float, str], None] | None = None) -> Scored:
    """The model's scores on every chunk; with the reference's log-probabilities on the same
    chunks, the KL per token too. `progress(fraction, message)` after each batch (a Stop raises)."""
    if reference is not None and reference.chunks is not chunks and not torch.equal(reference.chunks, chunks):
        raise ValueError("the reference was scored on other chunks")
    parts = [Scored.of(logp, chunks[i:i + len(logp), 1:],
                       reference.logp(i, i + len(logp)) if reference is not None else None)
             for i, logp in _batches(model, chunks, progress)]
    return _cat(parts, chunks)


def _cat(parts: list[Scored], chunks: torch.Tensor) -> Scored:
    if not parts:
        empty = chunks.new_zeros((0, chunks.shape[1] - 1))
        return Scored(empty.float(), empty, empty)
    kl = [p.kl for p in parts]
    return Scored(torch.cat([p.nll for p in parts]), torch.cat([p.top1 for p in parts]),
                  torch.cat([p.targets for p in parts]),
                  torch.cat(kl) if all(k is not None for k in kl) else None)  # type: ignore[arg-type]


def perplexity(nll: torch.Tensor) -> float:
    return float(nll.double().mean().exp())


def resamples(n_chunks: int, count: int = RESAMPLES, seed: int = SEED) -> torch.Tensor:
    """(count, n_chunks) chunk indices drawn with replacement from a fixed-seed generator."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, n_chunks, (count, n_chunks), generator=g)


def _resampled_perplexities(nll: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    per_chunk = nll.double().mean(dim=1)  # chunks are of equal length: mean of means = mean
    return per_chunk[idx].mean(dim=1).exp()


def _percentiles(values: torch.Tensor) -> tuple[float, float]:
    q = torch.quantile(values, torch.tensor([0.025, 0.975], dtype=values.dtype))
    return float(q[0]), float(q[1])


def perplexity_ci(nll: torch.Tensor, idx: torch.Tensor | None = None) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of perplexity over chunks."""
    return _percentiles(_resampled_perplexities(nll, resamples(len(nll)) if idx is None else idx))


def perplexity_delta_ci(nll: torch.Tensor, nll_reference: torch.Tensor,
                        idx: torch.Tensor | None = None) -> tuple[float, float]:
    """95 % interval of perplexity(model) − perplexity(reference), both on the same resamples."""
    idx = resamples(len(nll)) if idx is None else idx
    return _percentiles(_resampled_perplexities(nll, idx) - _resampled_perplexities(nll_reference, idx))


def token_accuracy(scored: Scored) -> tuple[float, tuple[float, float]]:
    """Top-1 next-token accuracy and its Wilson interval over all predicted tokens."""
    correct = scored.top1 == scored.targets
    n = correct.numel()
    p = float(correct.double().mean()) if n else 0.0
    return p, wilson_interval(p, n)


def kl_divergence(compressed: Scored) -> float:
    """Mean over tokens of KL(reference || compressed) = Σ_v p_ref (log p_ref − log p_cmp), nats
    (`compressed` scored beside its reference)."""
    if compressed.kl is None:
        raise ValueError("KL needs the model scored beside its reference (score(model, chunks, reference))")
    return float(compressed.kl.double().mean())


def top1_agreement(reference: Scored, compressed: Scored) -> float:
    return float((reference.top1 == compressed.top1).double().mean())


@torch.no_grad()
def greedy(model: nn.Module, prompt: torch.Tensor, new_tokens: int, context: int) -> torch.Tensor:
    """The prompt followed by `new_tokens` argmax tokens, each predicted from the last `context`."""
    was_training = model.training
    model.eval()
    seq = prompt.clone()
    for _ in range(new_tokens):
        logits = model(seq[-context:].unsqueeze(0))[0, -1]
        seq = torch.cat([seq, logits.argmax().reshape(1)])
    model.train(was_training)
    return seq


@dataclass(frozen=True)
class Comparison:
    """The numbers of one compressed model against its reference on the same chunks."""
    perplexity: float
    perplexity_ci95: tuple[float, float]
    perplexity_baseline: float
    perplexity_baseline_ci95: tuple[float, float]
    perplexity_delta_ci95: tuple[float, float]
    token_accuracy: float
    token_accuracy_ci95: tuple[float, float]
    token_accuracy_baseline: float
    kl_divergence: float
    top1_agreement: float
    tokens: int
    chunks: int

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def compare(reference: Scored, compressed: Scored) -> Comparison:
    """Every number of a compressed model beside its reference, one set of bootstrap resamples."""
    idx = resamples(len(reference.targets))
    acc, acc_ci = token_accuracy(compressed)
    return Comparison(
        perplexity=perplexity(compressed.nll), perplexity_ci95=perplexity_ci(compressed.nll, idx),
        perplexity_baseline=perplexity(reference.nll), perplexity_baseline_ci95=perplexity_ci(reference.nll, idx),
        perplexity_delta_ci95=perplexity_delta_ci(compressed.nll, reference.nll, idx),
        token_accuracy=acc, token_accuracy_ci95=acc_ci, token_accuracy_baseline=token_accuracy(reference)[0],
        kl_divergence=kl_divergence(compressed), top1_agreement=top1_agreement(reference, compressed),
        tokens=int(reference.targets.numel()), chunks=len(reference.targets))
