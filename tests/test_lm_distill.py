"""Distillation for language against hand cases: with alpha 0 the soft targets carry no weight, so
the distilled student is the hard-label one step for step (same init, same batches); otherwise
the two differ and the paired interval brackets their difference."""
import json

import pytest
import torch
import torch.nn.functional as F

from compression import __main__ as cli
from compression import distill as kd
from compression.lm import distill


@pytest.fixture(autouse=True)
def few_windows(monkeypatch):
    monkeypatch.setattr(distill, "WINDOWS", 32)
    monkeypatch.setattr(distill, "VALIDATION_TOKENS", 2048)


def test_alpha_zero_is_the_hard_label_student_exactly():
    r = distill.distill(temperature=2.0, alpha=0.0, steps=4)
    assert r["perplexity"] == r["perplexity_hard_labels"] and r["perplexity_delta_ci95"] == [0.0, 0.0]
    assert r["student_params"] < r["teacher_params"] / 5 and r["split"] == "validation"


def test_soft_targets_change_the_student_and_the_paired_interval_brackets_the_change():
    seen = []
    r = distill.distill(temperature=4.0, alpha=0.9, steps=6, progress=lambda f, m: seen.append(f))
    lo, hi = r["perplexity_delta_ci95"]
    assert r["perplexity"] != r["perplexity_hard_labels"]
    assert lo <= r["perplexity"] - r["perplexity_hard_labels"] <= hi
    assert r["perplexity_ci95"][0] <= r["perplexity"] <= r["perplexity_ci95"][1]
    assert r["perplexity_teacher"] < r["perplexity_hard_labels"]  # the teacher is the better model
    assert seen == sorted(seen) and seen[-1] == 1.0


def test_the_token_level_loss_is_hintons_on_every_position():
    g = torch.Generator().manual_seed(0)
    s, t, y = torch.randn(40, 256, generator=g), torch.randn(40, 256, generator=g), torch.randint(0, 256, (40,))
    hand = sum(F.kl_div(F.log_softmax(s[i] / 3, -1), F.softmax(t[i] / 3, -1), reduction="sum") for i in range(40)) / 40
    expected = 0.7 * 9 * hand + 0.3 * F.cross_entropy(s, y)
    assert float(kd.kd_loss(s, t, y, 3.0, 0.7)) == pytest.approx(float(expected), rel=1e-5)


def test_the_cli_distils_a_language_teacher_and_refuses_image_options(capsys):
    assert cli.main(["distill", "--teacher", "tinygpt-pydoc", "--steps", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["steps"] == 2 and "perplexity_delta_ci95" in out
    assert cli.main(["distill", "--teacher", "tinygpt-pydoc", "--epochs", "3"]) == 2
    err = capsys.readouterr().err
    assert "--epochs do not apply" in err and "Traceback" not in err
