"""Per-layer sensitivity against hand-compressed models, and the mixed-precision allocation."""
import itertools
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
import torch.nn.utils.prune as torch_prune

from compression import data, measure, models, pipeline, sensitivity
from compression.__main__ import main
from compression.config import CompressionConfig

SPARSITIES = (0.0, 0.5)
BITS = (1, 4, 32)


@pytest.fixture(scope="module")
def sens():
    return sensitivity.sensitivity("mlp-digits", sparsities=SPARSITIES, bits=BITS)


@pytest.fixture(scope="module")
def digits():
    return data.load("digits")


def test_untouched_layers_score_the_baseline(sens, digits):
    baseline = measure.accuracy(models.load("mlp-digits"), digits.x_test, digits.y_test)
    assert sens["baseline"] == baseline
    assert sens["layers"] == ["fc1", "fc2", "fc3"]
    for name in sens["layers"]:
        assert sens["sparsity"]["accuracy"][name][SPARSITIES.index(0.0)] == baseline
        assert sens["bits"]["accuracy"][name][BITS.index(32)] == baseline


def test_one_layer_at_one_bit_matches_a_hand_binarised_model(sens, digits):
    # Only fc2 binarised to sign(w)·mean|w| (Rastegari et al. 2016); fc1 and fc3 untouched.
    model = models.load("mlp-digits")
    w = model.fc2.weight.data
    model.fc2.weight.data = torch.sign(w) * w.abs().mean()
    expected = measure.accuracy(model, digits.x_test, digits.y_test)
    assert sens["bits"]["accuracy"]["fc2"][BITS.index(1)] == expected
    assert expected < sens["baseline"]  # the test can see a difference


def test_one_layer_pruned_matches_torch_prune(sens, digits):
    model = models.load("mlp-digits")
    torch_prune.l1_unstructured(model.fc1, "weight", amount=0.5)
    expected = measure.accuracy(model, digits.x_test, digits.y_test)
    assert sens["sparsity"]["accuracy"]["fc1"][SPARSITIES.index(0.5)] == pytest.approx(expected, abs=1 / 360)


def test_executor_gives_the_same_curves(sens):
    with ThreadPoolExecutor(2) as pool:
        assert sensitivity.sensitivity("mlp-digits", sparsities=SPARSITIES, bits=BITS, executor=pool) == sens


def test_progress_reaches_one():
    seen = []
    sensitivity.sensitivity("mlp-digits", sparsities=(), bits=(8,), progress=lambda f, m: seen.append(f))
    assert seen[-1] == 1 and len(seen) == 1 + 3


def brute_force(drops, sizes, budget):
    names = list(drops)
    best = None
    for combo in itertools.product(*(sorted(drops[n]) for n in names)):
        total = sum(sizes[n][b] for n, b in zip(names, combo))
        drop = sum(drops[n][b] for n, b in zip(names, combo))
        if total <= budget and (best is None or (drop, -total) < best[0]):
            best = ((drop, -total), dict(zip(names, combo)))
    return best[1]


@pytest.mark.parametrize("budget", [30, 45, 60, 80, 100])
def test_allocation_is_the_best_within_budget(budget):
    drops = {"a": {2: 0.5, 4: 0.1, 8: 0.0}, "b": {2: 0.05, 4: 0.01, 8: 0.0}, "c": {2: 0.3, 4: 0.2, 8: 0.0}}
    sizes = {n: {b: 10 * b / 2 for b in (2, 4, 8)} for n in "abc"}
    assert sensitivity.allocate_bits(drops, sizes, budget)[0] == brute_force(drops, sizes, budget)


def test_greedy_allocation_for_large_models(monkeypatch):
    monkeypatch.setattr(sensitivity, "EXHAUSTIVE_MAX", 1)
    drops = {"a": {2: 0.5, 8: 0.0}, "b": {2: 0.01, 8: 0.0}}
    sizes = {n: {2: 10, 8: 40} for n in "ab"}
    assert sensitivity.allocate_bits(drops, sizes, 50) == [{"a": 8, "b": 2}]  # b costs least per byte


def test_budget_below_the_smallest_is_one_error():
    with pytest.raises(ValueError, match="budget"):
        sensitivity.allocate_bits({"a": {2: 0.1}}, {"a": {2: 100}}, 50)


def test_mixed_precision_fits_and_matches_uniform_accuracy():
    uniform = pipeline.evaluate("mlp-digits", CompressionConfig(bits=4), latency=False)
    budget = uniform.size_bytes["compressed"]
    config = sensitivity.mixed_precision("mlp-digits", budget)
    mixed = pipeline.evaluate("mlp-digits", config, latency=False)
    assert mixed.size_bytes["compressed"] <= budget
    assert mixed.accuracy >= uniform.accuracy
    assert [layer.bits for layer in mixed.layers] == [b for _, b in config.layer_bits]


def test_cli_json_is_cached_in_history(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("COMPRESSION_LAB_CACHE", str(tmp_path))
    assert main(["sensitivity", "--model", "mlp-digits", "--sparsity", "0,0.9", "--bits", "2,32", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sparsity"]["values"] == [0.0, 0.9] and out["bits"]["values"] == [2, 32]
    assert all(acc[0] == out["baseline"] for acc in out["sparsity"]["accuracy"].values())
    monkeypatch.setattr(sensitivity, "sensitivity", None)  # a second run must not compute
    assert main(["sensitivity", "--model", "mlp-digits", "--sparsity", "0,0.9", "--bits", "2,32", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == out


def test_cli_bad_bits_is_one_line(capsys):
    assert main(["sensitivity", "--bits", "2,7x"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_versus_uniform_pairs_the_change_and_says_when_the_allocation_is_uniform(monkeypatch):
    names = list(models.layers(models.load("mlp-digits")))
    allocations = {2: {n: 2 for n in names},                        # the uniform model itself
                   4: {names[0]: 3, **{n: 5 for n in names[1:]}}}   # a real mixed allocation

    def fake_mixed(model_id, budget, base=None, bits=(), sens=None, data_dir=None):
        b = 2 if budget < pipeline.evaluate("mlp-digits", CompressionConfig(bits=3), latency=False).size_bytes[
            "compressed"] else 4
        return sensitivity.reference_config(base).replace(bits=8, layer_bits=allocations[b])

    monkeypatch.setattr(sensitivity, "mixed_precision", fake_mixed)
    rows = sensitivity.versus_uniform("mlp-digits", [2, 4], sens={"unused": True})
    same, mixed = rows
    assert not same["differs"] and same["allocation"] == allocations[2]
    assert same["delta"] == same["delta_lo"] == same["delta_hi"] == 0.0  # zero by construction
    assert same["mixed_accuracy"] == same["uniform_accuracy"]
    assert mixed["differs"] and mixed["allocation"] == allocations[4]
    # the change is the difference of the two evaluated accuracies, its interval the paired one
    # on the same test images
    ds = data.load("digits")
    base = models.load("mlp-digits")
    correct = {}
    for key, cfg in (("u", CompressionConfig(bits=4)), ("m", CompressionConfig(bits=8, layer_bits=allocations[4]))):
        model, _, _ = pipeline.compress(base, ds, cfg)
        correct[key] = (measure.predictions(model, ds.x_test) == ds.y_test).tolist()
    assert mixed["delta"] == pytest.approx(mixed["mixed_accuracy"] - mixed["uniform_accuracy"])
    d, (lo, hi) = measure.paired_delta(correct["m"], correct["u"])
    assert (mixed["delta"], mixed["delta_lo"], mixed["delta_hi"]) == pytest.approx((d, lo, hi))


def test_within_drop_keeps_the_choice_off_the_judging_images():
    from compression import source
    from compression.config import ConfigError
    r = sensitivity.within_drop("mlp-digits", 1.0, bits=(2, 3, 4, 8))
    assert set(r["allocation"].values()) <= {2, 3, 4, 8}
    assert r["validation_drop"] <= 1.0 or set(r["allocation"].values()) == {8}
    loaded = source.load(source.parse("mlp-digits"))
    ds = loaded.dataset
    config = CompressionConfig(**r["config"])
    assert dict(config.layer_bits) == r["allocation"]
    x, y = ds.x_test[1::2], ds.y_test[1::2]  # the judging half: the odd test images

    def correct(c):
        return (measure.predictions(pipeline.compress(loaded.model, ds, c)[0], x) == y).tolist()
    delta, (lo, hi) = measure.paired_delta(correct(config), correct(sensitivity.reference_config()))
    assert (r["delta"], r["delta_lo"], r["delta_hi"]) == (delta, lo, hi)
    assert r["n_test"] == len(y)
    with pytest.raises(ConfigError):
        sensitivity.within_drop("mlp-digits", 0.0)
