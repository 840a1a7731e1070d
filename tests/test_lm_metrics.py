"""Language-model metrics against torch's own functions and hand computations."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from compression.lm import metrics


def _scored(logits, targets, reference_logits=None):
    ref = None if reference_logits is None else F.log_softmax(reference_logits, dim=-1)
    return metrics.Scored.of(F.log_softmax(logits, dim=-1), targets, ref)


@pytest.fixture
def pair():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(12, 16, 7, generator=g)
    noisy = logits + 0.3 * torch.randn(12, 16, 7, generator=g)
    targets = torch.randint(0, 7, (12, 16), generator=g)
    return _scored(logits, targets, logits), _scored(noisy, targets, logits), logits, noisy, targets


def test_perplexity_is_exp_of_torchs_cross_entropy(pair):
    ref, _, logits, _, targets = pair
    ce = F.cross_entropy(logits.reshape(-1, 7), targets.reshape(-1))
    assert metrics.perplexity(ref.nll) == pytest.approx(math.exp(float(ce)), rel=1e-6)


def test_kl_matches_torchs_kl_div(pair):
    ref, cmp, logits, noisy, _ = pair
    expected = F.kl_div(F.log_softmax(noisy, -1).reshape(-1, 7), F.log_softmax(logits, -1).reshape(-1, 7),
                        log_target=True, reduction="batchmean")
    assert metrics.kl_divergence(cmp) == pytest.approx(float(expected), rel=1e-5)
    assert metrics.kl_divergence(ref) == pytest.approx(0.0, abs=1e-7)


def test_accuracy_and_agreement_by_hand(pair):
    ref, cmp, logits, noisy, targets = pair
    acc, ci = metrics.token_accuracy(ref)
    hand = sum(int(logits[i, j].argmax() == targets[i, j]) for i in range(12) for j in range(16)) / 192
    assert acc == pytest.approx(hand)
    assert ci[0] < acc < ci[1]
    agree = sum(int(logits[i, j].argmax() == noisy[i, j].argmax()) for i in range(12) for j in range(16)) / 192
    assert metrics.top1_agreement(ref, cmp) == pytest.approx(agree)


def test_bootstrap_intervals_resample_chunks_the_same_way_for_both_models(pair):
    ref, cmp, *_ = pair
    idx = metrics.resamples(12, count=200)
    # by hand: each resample's perplexity is exp(mean over its chunks of the chunk's mean NLL)
    per_chunk = ref.nll.double().mean(1)
    hand = torch.tensor([math.exp(float(per_chunk[r].mean())) for r in idx], dtype=torch.float64)
    lo, hi = metrics.perplexity_ci(ref.nll, idx)
    assert (lo, hi) == pytest.approx((float(torch.quantile(hand, 0.025)), float(torch.quantile(hand, 0.975))))
    assert lo <= metrics.perplexity(ref.nll) <= hi
    assert metrics.perplexity_delta_ci(ref.nll, ref.nll, idx) == (0.0, 0.0)  # paired: identical models differ by 0
    c = metrics.compare(ref, cmp)
    assert c.perplexity_delta_ci95[0] <= c.perplexity - c.perplexity_baseline <= c.perplexity_delta_ci95[1]
    assert c.tokens == 192 and c.chunks == 12


def test_greedy_appends_each_argmax_from_the_last_context_tokens():
    class Next(nn.Module):  # predicts (last token + 1) mod 5, and remembers how much it saw
        seen: list[int] = []

        def forward(self, idx):
            self.seen.append(idx.shape[1])
            return F.one_hot((idx + 1) % 5, 5).float()

    m = Next()
    out = metrics.greedy(m, torch.tensor([3]), 6, context=4)
    assert out.tolist() == [3, 4, 0, 1, 2, 3, 4]
    assert max(m.seen) == 4


class _Bigram(nn.Module):
    """logits = table[token]: a model whose log-probabilities are known by hand."""

    def __init__(self, vocab: int = 11, seed: int = 2) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.randn(vocab, vocab, generator=torch.Generator().manual_seed(seed)))

    def forward(self, x):
        return self.table[x]


@pytest.mark.parametrize("in_memory", [True, False])
def test_streamed_scores_equal_torchs_cross_entropy_and_kl_div(monkeypatch, in_memory):
    # small budgets: several forward batches, and (in_memory False) the reference spilled to its file
    monkeypatch.setattr(metrics, "LOGIT_BUDGET", 3 * 9 * 11)
    if not in_memory:
        monkeypatch.setattr(metrics, "IN_MEMORY", 10)
    chunks = torch.randint(0, 11, (10, 10), generator=torch.Generator().manual_seed(3))
    ref_model, model = _Bigram(seed=2), _Bigram(seed=4)
    reference = metrics.ReferenceLogp(ref_model, chunks)
    assert (reference._file is None) == in_memory
    scored = metrics.score(model, chunks, reference=reference)
    x, y = chunks[:, :-1], chunks[:, 1:]
    with torch.no_grad():
        logp, ref_logp = F.log_softmax(model(x), -1), F.log_softmax(ref_model(x), -1)
        ce = F.cross_entropy(model(x).reshape(-1, 11), y.reshape(-1), reduction="none").reshape(10, 9)
        kl = F.kl_div(logp, ref_logp, log_target=True, reduction="none").sum(-1)
    assert torch.allclose(scored.nll, ce, atol=1e-6) and torch.equal(scored.targets, y)
    assert torch.allclose(scored.kl, kl, atol=1e-6)
    assert torch.equal(scored.top1, logp.argmax(-1))
    assert torch.allclose(reference.logp(2, 7), ref_logp[2:7], atol=1e-7)
    assert torch.allclose(reference.scored.nll, -ref_logp.gather(-1, y.unsqueeze(-1)).squeeze(-1), atol=1e-6)
    with pytest.raises(ValueError, match="other chunks"):
        metrics.score(model, chunks.flip(0), reference=reference)
