"""QAT vs post-training quantization with the same fine-tuning budget and recipe (compression.qat)."""
from __future__ import annotations

import math

import pytest
import torch

from compression import data, measure, models, pipeline, qat, train
from compression.config import CompressionConfig


def test_fine_tuning_alone_runs_before_rounding():
    # post-training quantization's arm: --finetune-epochs without pruning, QAT or a penalty
    # fine-tunes in float, then rounds (it used to skip the fine-tuning silently)
    ds, base = data.load("digits"), models.load("mlp-digits")
    cfg = CompressionConfig(bits=32, finetune_epochs=1)
    assert cfg.trains and not cfg.is_baseline
    tuned, _, _ = pipeline.compress(base, ds, cfg)
    name = next(iter(models.layers(base)))
    assert not torch.equal(models.layers(tuned)[name].weight, models.layers(base)[name].weight)


def test_recipe_decays_the_rate_from_finetune_lr_to_zero(monkeypatch):
    rates = []
    real_step = torch.optim.AdamW.step

    def spy(self, *a, **kw):
        rates.append(self.param_groups[0]["lr"])
        return real_step(self, *a, **kw)

    monkeypatch.setattr(torch.optim.AdamW, "step", spy)
    ds, base = data.load("digits"), models.load("mlp-digits")
    pipeline.compress(base, ds, CompressionConfig(bits=4, qat=True, finetune_epochs=2))
    steps = 2 * -(-len(ds.x_train) // 32)
    assert len(rates) == steps and rates[0] == pytest.approx(train.FINETUNE_LR)
    # cosine annealing by hand: lr_t = lr_0 (1 + cos(pi t / T)) / 2
    for t in (1, steps // 2, steps - 1):
        assert rates[t] == pytest.approx(train.FINETUNE_LR * (1 + math.cos(math.pi * t / steps)) / 2, rel=1e-6)


def test_both_arms_get_the_same_budget_and_ptq_is_fine_tuned_then_rounded(monkeypatch):
    fits = []
    real_fit = train.fit

    def spy(model, x, y, epochs, **kw):
        fits.append((epochs, kw.get("lr"), kw.get("cosine"), kw.get("fake_quant") is not None))
        return real_fit(model, x, y, epochs, **kw)

    monkeypatch.setattr(train, "fit", spy)
    result = qat.qat_vs_ptq("mlp-digits", bits=(2,), epochs=2)
    # one float fine-tuning (the PTQ arm, shared by its bit-widths) and one under fake quantization
    assert fits == [(2, train.FINETUNE_LR, True, False), (2, train.FINETUNE_LR, True, True)]
    monkeypatch.setattr(train, "fit", real_fit)
    rows = {(r["bits"], r["method"]): r for r in result["rows"]}
    # the PTQ row is exactly evaluate with the same config: fine-tuned in float, then rounded
    r = pipeline.evaluate("mlp-digits", CompressionConfig(bits=2, finetune_epochs=2), latency=False)
    assert rows[(2, "ptq")]["accuracy"] == r.accuracy
    # the paired QAT - PTQ interval, by the same Newcombe method the report uses
    g = result["gains"][0]
    assert g["delta"] == pytest.approx(rows[(2, "qat")]["accuracy"] - rows[(2, "ptq")]["accuracy"])
    assert g["lo"] <= g["delta"] <= g["hi"]


def test_float_fine_tuning_does_not_damage_the_converged_lenet300():
    # a constant 2e-3 moved LeNet-300-100 from 94.4 % to 93.5 % in 5 epochs (9 images of 1,000 lost);
    # the recipe must leave the converged model where it was, within noise
    ds, base = data.load("mnist-5k"), models.load("lenet300-mnist")
    tuned, _, _ = pipeline.compress(base, ds, CompressionConfig(finetune_epochs=5))
    c = (measure.predictions(tuned, ds.x_test) == ds.y_test).tolist()
    c0 = (measure.predictions(base, ds.x_test) == ds.y_test).tolist()
    d, ci = measure.paired_delta(c, c0)
    assert measure.noise_verdict(d, ci) != "a real loss" and d >= -0.005, (d, ci)
