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

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from compression.measure import wilson_interval

RESAMPLES = 1000
SEED = 0


@dataclass(frozen=True)
class Scored:
    """One model on the chunks (rows of length + 1 tokens): each position's log-probabilities."""
    logp: torch.Tensor      # (chunks, length, vocab) log-softmax of the next token
    targets: torch.Tensor   # (chunks, length) the next tokens

    @property
    def nll(self) -> torch.Tensor:
        """(chunks, length) negative log-likelihood of each target token, nats."""
        return -self.logp.gather(-1, self.targets.unsqueeze(-1)).squeeze(-1)

    @property
    def top1(self) -> torch.Tensor:
        return self.logp.argmax(dim=-1)


@torch.no_grad()
def score(model: nn.Module, chunks: torch.Tensor, batch_size: int = 32) -> Scored:
    """The model's next-token log-probabilities on every chunk (model in eval mode, no grad)."""
    was_training = model.training
    model.eval()
    out = [F.log_softmax(model(chunks[i:i + batch_size, :-1]).float(), dim=-1)
           for i in range(0, len(chunks), batch_size)]
    model.train(was_training)
    return Scored(torch.cat(out), chunks[:, 1:])


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


def kl_divergence(reference: Scored, compressed: Scored) -> float:
    """Mean over tokens of KL(reference || compressed) = Σ_v p_ref (log p_ref − log p_cmp), nats."""
    kl = (reference.logp.exp() * (reference.logp - compressed.logp)).sum(dim=-1)
    return float(kl.double().mean())


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
        kl_divergence=kl_divergence(reference, compressed), top1_agreement=top1_agreement(reference, compressed),
        tokens=int(reference.targets.numel()), chunks=len(reference.targets))
