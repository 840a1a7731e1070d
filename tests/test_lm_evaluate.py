"""A compressed language model through the per-layer plan, measured against torch's cross entropy."""
import json
import math

import pytest
import torch
import torch.nn.functional as F

from compression import __main__ as cli
from compression import apply, models, plan
from compression.config import CompressionConfig, ConfigError
from compression.lm import evaluate as lm

MODEL = "tinygpt-pydoc"
KEYS = ("perplexity", "perplexity_ci95", "perplexity_baseline", "perplexity_delta_ci95", "token_accuracy",
        "token_accuracy_ci95", "kl_divergence", "top1_agreement", "sample", "sample_baseline")


def _ppl(model, chunks):
    with torch.no_grad():
        return math.exp(float(F.cross_entropy(model(chunks[:, :-1]).reshape(-1, 256), chunks[:, 1:].reshape(-1))))


def test_the_float_config_is_its_own_baseline():
    r = lm.evaluate(MODEL, CompressionConfig())
    assert r["perplexity"] == r["perplexity_baseline"]
    assert r["perplexity_delta_ci95"] == [0.0, 0.0] and r["top1_agreement"] == 1.0
    assert r["kl_divergence"] == pytest.approx(0.0, abs=1e-9) and r["sample"] == r["sample_baseline"]
    assert r["perplexity"] == pytest.approx(_ppl(models.load(MODEL), lm._chunks()), rel=1e-5)


def test_four_bit_groups_match_the_plans_own_compressed_model_and_keep_the_head_at_8_bits():
    config = CompressionConfig(bits=4, granularity="group", group_size=32)
    r = lm.evaluate(MODEL, config)
    base = models.load(MODEL)
    run = lm.lm_config(config, base)
    compressed, _, _ = apply.compress(base, lm.dataset(), run, layer_plan=plan.make(base, run))
    assert r["perplexity"] == pytest.approx(_ppl(compressed, lm._chunks()), rel=1e-5)
    assert r["perplexity_ci95"][0] <= r["perplexity"] <= r["perplexity_ci95"][1]
    bits = {row["name"]: row["bits"] for row in r["layers"]}
    assert bits["lm_head"] == 8 and bits["blocks.0.fc1"] == 4
    # weights of 4 bits + one float16 scale per 32 in every block layer, 8 bits + scales in the head
    assert 4 < r["bits_per_weight"] < 5 and r["size_bytes"]["compressed"] < r["size_bytes"]["fp32"] / 4
    assert r["macs_per_token"] == sum(m.weight.numel() for m in models.layers(base).values())


@pytest.mark.parametrize("config, word", [
    (CompressionConfig(sparsity=0.5, criterion="taylor"), "criterion"),
    (CompressionConfig(sparsity=0.5, structure="rows"), "structure"),
    (CompressionConfig(sparsity=0.5, finetune_epochs=1), "fine-tuning"),
])
def test_settings_that_do_not_apply_give_one_sentence(config, word):
    with pytest.raises(ConfigError, match=word):
        lm.evaluate(MODEL, config)


def test_the_cli_prints_every_language_key(capsys):
    assert cli.main(["evaluate", "--model", MODEL, "--bits", "4", "--granularity", "group", "--group-size", "32",
                     "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert all(k in r for k in KEYS)
    assert r["perplexity_baseline"] < r["perplexity"] < 2 * r["perplexity_baseline"]
    assert cli.main(["evaluate", "--model", MODEL, "--sparsity", "0.5", "--criterion", "taylor"]) == 2
    assert "criterion 'taylor' does not apply" in capsys.readouterr().err


def test_calibration_reads_train_chunks_never_held_out_text():
    from compression import calibration
    from compression.lm import text
    ds = lm.dataset()
    assert torch.equal(calibration.batch(ds), text.chunks("train", lm.CONTEXT)[:lm.CALIB_CHUNKS, :-1])
    assert torch.equal(ds.x_test, lm._chunks()[:, :-1])


def test_gptq_3_bit_beats_rounding_to_nearest_by_a_paired_interval():
    from compression.lm import metrics
    base = models.shared(MODEL)
    rtn = lm.scores(base, CompressionConfig(bits=3, granularity="channel"))
    gptq = lm.scores(base, CompressionConfig(bits=3, granularity="channel", method="gptq"))
    lo, _ = metrics.perplexity_delta_ci(rtn.nll, gptq.nll)
    assert lo > 0  # RTN's perplexity minus GPTQ's, on the same resamples of held-out chunks
