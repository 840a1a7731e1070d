"""evaluate(): the Report's numbers against independent arithmetic and PyTorch's own tools."""
import json

import pytest
import torch
import torch.nn.utils.prune as torch_prune

from compression import data, downloads, export, measure, models, pipeline, plan
from compression.config import PRESETS, CompressionConfig

KEYS = ["model", "config", "accuracy", "accuracy_baseline", "accuracy_ci95", "accuracy_baseline_ci95",
        "accuracy_delta", "accuracy_delta_ci95", "n_test", "params_total", "params_nonzero", "sparsity",
        "zeros_from_rounding", "macs_dense", "macs_effective", "size_bytes", "compression_ratio",
        "compression_ratio_file", "energy_pj", "energy_baseline_pj", "energy_profile", "energy_assumptions",
        "energy_factors", "layers", "latency_ms", "latency_path", "kinds", "notes"]
LAYER_KEYS = ["name", "shape", "params", "nonzero", "bits", "macs", "mse", "sqnr_db", "energy_pj"]


@pytest.fixture(scope="module")
def report():
    return pipeline.evaluate("mlp-digits", CompressionConfig(sparsity=0.9, bits=4))


def test_report_is_json_with_every_design_key(report):
    d = json.loads(report.to_json())
    assert all(k in d for k in KEYS)
    assert set(d["size_bytes"]) >= {"fp32", "compressed", "file"}
    assert set(d["energy_pj"]) == {"compute", "memory", "total"}
    assert set(d["latency_ms"]) == {"fp32", "compressed", "fp32_iqr", "compressed_iqr", "ort_fp32", "ort_fp32_iqr",
                                    "pruned_fp32", "pruned_fp32_iqr"}
    assert set(d["energy_assumptions"]) >= {"sram_bytes", "sram_pj_per_32bit", "dram_pj_per_32bit", "weights_in"}
    assert set(d["energy_factors"]) == {"compute", "memory", "placement"}
    assert d["compression_ratio_file"] == pytest.approx(d["size_bytes"]["fp32"] / d["size_bytes"]["file"])
    assert all(k in layer for layer in d["layers"] for k in LAYER_KEYS)
    assert 0 <= d["accuracy"] <= 1 and d["accuracy_ci95"][0] <= d["accuracy"] <= d["accuracy_ci95"][1]


def test_uncompressed_config_reproduces_the_baseline():
    r = pipeline.evaluate("mlp-digits", CompressionConfig(), latency=False)
    ds = data.load("digits")
    assert r.accuracy == r.accuracy_baseline == measure.accuracy(models.load("mlp-digits"), ds.x_test, ds.y_test)
    assert r.kinds["accuracy"] == "measured" and r.sparsity == 0
    assert r.size_bytes["fp32"] == 50610 * 4


def test_accuracy_equals_torch_prune_plus_torch_fake_quantize():
    # Rebuild the same scenario with PyTorch's own tools only, and compare the accuracy.
    cfg = CompressionConfig(sparsity=0.7, bits=6)
    ds = data.load("digits")
    model = models.load("mlp-digits")
    params = [(m, "weight") for m in (model.fc1, model.fc2, model.fc3)]
    torch_prune.global_unstructured(params, pruning_method=torch_prune.L1Unstructured, amount=0.7)
    with torch.no_grad():
        for m, _ in params:
            torch_prune.remove(m, "weight")
            w = m.weight
            scale = float(w.abs().max()) / (2 ** 5 - 1)
            m.weight.copy_(torch.fake_quantize_per_tensor_affine(w, scale, 0, -31, 31))
    expected = measure.accuracy(model, ds.x_test, ds.y_test)
    assert pipeline.evaluate("mlp-digits", cfg, latency=False).accuracy == expected


def test_sizes_equal_arithmetic_for_dense_8_bit():
    r = pipeline.evaluate("mlp-digits", CompressionConfig(bits=8), latency=False)
    weights, biases = 64 * 300 + 300 * 100 + 100 * 10, 300 + 100 + 10
    # every layer dense at 8 bits + one 32-bit scale per layer + biases at 32 bits
    assert r.size_bytes["compressed"] == (weights * 8 + 3 * 32 + biases * 32) / 8
    assert all(layer.format == "dense" for layer in r.layers)
    assert r.compression_ratio == pytest.approx(50610 * 32 / (weights * 8 + 3 * 32 + biases * 32))


def test_file_round_trips_to_the_compressed_weights():
    for cfg in [CompressionConfig(sparsity=0.9, bits=4), CompressionConfig(sparsity=0.95, bits=3, quantizer="kmeans"),
                CompressionConfig(sparsity=0.5, bits=8, scheme="asymmetric", per_channel=True),
                CompressionConfig(bits=1, per_channel=True), CompressionConfig(sparsity=0.8)]:
        ds = data.load("digits")
        base = models.load("mlp-digits")
        model, _, quant = pipeline.compress(base, ds, cfg)
        state = export.from_bytes(downloads.file_of(model, plan.make(base, cfg).store(models.layers(model), quant)))
        for name, tensor in model.state_dict().items():
            assert torch.allclose(state[name], tensor, atol=1e-6), (cfg, name)


def test_file_is_close_to_theory(report):
    # the file adds a header and byte padding, nothing more
    assert report.size_bytes["compressed"] < report.size_bytes["file"] < report.size_bytes["compressed"] + 1500


def test_macs_and_energy_follow_the_model(report):
    assert report.macs_dense == 64 * 300 + 300 * 100 + 100 * 10
    assert report.macs_effective == report.macs_dense  # dense hardware is the default
    skip = pipeline.evaluate("mlp-digits", CompressionConfig(sparsity=0.9, bits=4, skip_zeros=True), latency=False)
    assert skip.macs_effective == pytest.approx(sum(l.macs * (l.nonzero - l.shape[0]) / (l.params - l.shape[0])
                                                    for l in skip.layers), abs=3)
    assert skip.energy_pj["compute"] < report.energy_pj["compute"]
    assert report.energy_pj["total"] == pytest.approx(sum(l.energy_pj["total"] for l in report.layers))
    # fp32 weights (198 KB) do not fit a 32 KB SRAM: DRAM dominates the uncompressed model
    assert report.energy_baseline_pj["memory"] > 100 * report.energy_baseline_pj["compute"]
    assert report.weights_on_chip


def test_deterministic():
    cfg = CompressionConfig(sparsity=0.8, bits=4, criterion="random", finetune_epochs=1)
    a = pipeline.evaluate("mlp-digits", cfg, latency=False).to_dict()
    b = pipeline.evaluate("mlp-digits", cfg, latency=False).to_dict()
    assert a == b


def test_does_not_modify_the_cached_model():
    before = models.load("mlp-digits").state_dict()
    pipeline.evaluate("mlp-digits", CompressionConfig(sparsity=0.9, bits=2, finetune_epochs=1), latency=False)
    after = models.load("mlp-digits").state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_every_structure_criterion_and_model_runs():
    for model_id in ["mlp-digits", "cnn-digits"]:
        for cfg in [CompressionConfig(sparsity=0.5, structure="rows", scope="layer"),
                    CompressionConfig(structure="2:4", bits=8, act_bits=8),
                    CompressionConfig(sparsity=0.5, criterion="taylor", bits=3, scheme="asymmetric")]:
            r = pipeline.evaluate(model_id, cfg, latency=False)
            assert 0 < r.accuracy <= 1 and r.sparsity > 0.3


def test_deep_compression_preset_reaches_40x_within_one_point():
    r = pipeline.evaluate("mlp-digits", PRESETS["deep-compression"], latency=False)
    assert r.compression_ratio >= 40  # Deep Compression's LeNet-300-100 figure
    assert r.accuracy >= r.accuracy_baseline - 0.01


def test_notes_explain_missing_speed_up(report):
    assert any("Why no speed-up from pruning" in n for n in report.notes)
    assert report.latency_ms["fp32"] > 0 and report.latency_ms["compressed"] > 0


def test_accuracy_points_match_evaluate():
    cfg = CompressionConfig(bits=4)
    points = pipeline.accuracy_points("mlp-digits", cfg, "sparsity", [0.0, 0.8])
    for p in points:
        assert p["accuracy"] == pipeline.evaluate("mlp-digits", cfg.replace(sparsity=p["sparsity"]), latency=False).accuracy
        assert p["lo"] <= p["accuracy"] <= p["hi"]


def test_two_bit_symmetric_note_explains_the_ternary_grid():
    r = pipeline.evaluate("mlp-digits", CompressionConfig(bits=2), latency=False)
    assert any("ternary" in n for n in r.notes)
    # the note's claim, checked: with s = max|w| most weights of every layer round to zero
    assert all(layer.nonzero - layer.shape[0] < 0.5 * (layer.params - layer.shape[0]) for layer in r.layers)


def test_binarized_size_does_not_depend_on_the_quantizer_setting():
    # at 1 bit the weights are binarized whatever the quantizer: one scale per channel
    sizes = {q: pipeline.evaluate("mlp-digits", CompressionConfig(bits=1, per_channel=True, quantizer=q),
                                  latency=False).size_bytes["compressed"] for q in ("uniform", "kmeans")}
    assert sizes["uniform"] == sizes["kmeans"]


@pytest.mark.parametrize("model_id,cfg", [("cnn-digits", CompressionConfig(bits=16, quantizer="kmeans")),
                                          ("mlp-digits", CompressionConfig(sparsity=0.5, bits=12, quantizer="kmeans"))])
def test_kmeans_codebook_counts_the_centroids_it_has(model_id, cfg):
    r = pipeline.evaluate(model_id, cfg, latency=False)
    # fewer distinct kept weights than 2**b: the table holds those, and the file agrees with theory
    assert r.size_bytes["compressed"] < r.size_bytes["file"] < r.size_bytes["compressed"] + 1500
    for layer in r.layers:
        distinct = layer.size_bits["codebook"] // 32
        assert distinct <= min(2 ** cfg.bits, layer.params)


def test_pruning_note_only_when_something_was_pruned():
    r = pipeline.evaluate("mlp-digits", CompressionConfig(bits=2), latency=False)
    assert r.sparsity == 0 and r.zeros_from_rounding > 0.5  # ternary rounding zeroes most weights ...
    assert not any("from pruning" in n for n in r.notes)  # ... but nothing was pruned


def test_quantization_error_is_measured_after_fine_tuning_not_against_the_originals():
    cfg = CompressionConfig(sparsity=0.9, bits=8, finetune_epochs=2)
    r = pipeline.evaluate("mlp-digits", cfg, latency=False)
    model, masks, quant = pipeline.compress(models.load("mlp-digits"), data.load("digits"), cfg)
    w_before, w_after = quant["fc1"].before, model.fc1.weight.detach()
    kept = masks["fc1.weight"]
    scale = float(w_before.abs().max()) / 127
    # 8-bit rounding error is at most half a step, whatever fine-tuning did before it
    assert r.layers[0].max_abs_error <= scale / 2 + 1e-7
    assert r.layers[0].mse == pytest.approx(float(((w_after - w_before)[kept] ** 2).mean()), rel=1e-5)


@pytest.mark.parametrize("kb, pj", [(8, 5.0), (32, 10.0), (1024, 50.0)])
def test_sram_size_sets_the_sram_cost(kb, pj):
    r = pipeline.evaluate("mlp-digits", CompressionConfig(sparsity=0.9, bits=4, sram_kb=kb), latency=False)
    a = r.energy_assumptions
    assert a["sram_pj_per_32bit"] == pytest.approx(pj, rel=0.01)  # Horowitz 10/20/100 pJ per 64 bits
    assert a["sram_bytes"] == kb * 1024 and a["dram_pj_per_32bit"] == 640.0
    # fp32 mlp-digits is 50,610 x 4 B = 202 KB: on chip only with 1 MB; the compressed model fits all three
    assert a["baseline_weights_in"] == ("sram" if kb == 1024 else "dram")
    assert a["weights_in"] == "sram" and r.weights_on_chip


@pytest.mark.parametrize("cfg", [CompressionConfig(sparsity=0.9, bits=4), CompressionConfig(bits=8, act_bits=8),
                                 CompressionConfig(sparsity=0.86, bits=4, sram_kb=8),
                                 CompressionConfig(sparsity=0.5, sram_kb=1024),
                                 CompressionConfig(bits=1, skip_zeros=True, sparsity=0.5),
                                 CompressionConfig(bits=4, quantizer="pow2", act_bits=8)])
def test_energy_factors_multiply_to_the_saving(cfg):
    r = pipeline.evaluate("mlp-digits", cfg, latency=False)
    f = r.energy_factors
    ratio = r.energy_baseline_pj["total"] / r.energy_pj["total"]
    assert f["compute"] * f["memory"] * f["placement"] == pytest.approx(ratio, rel=0.01)
    same_level = r.energy_assumptions["weights_in"] == r.energy_assumptions["baseline_weights_in"]
    assert (f["placement"] == 1.0) == same_level


def test_fp32_weights_in_sram_when_they_fit():
    # hand arithmetic: the uncompressed model at 1 MB on chip reads 202,440 B at 50 pJ per 4 B
    r = pipeline.evaluate("mlp-digits", CompressionConfig(sram_kb=1024), latency=False)
    acts = sum((64 + 300) + (300 + 100) + (100 + 10) for _ in [0]) * 32
    p = r.energy_assumptions["sram_pj_per_32bit"]
    assert r.energy_baseline_pj["memory"] == pytest.approx(50610 * p + acts / 32 * p)
    assert r.energy_factors == {"compute": 1.0, "memory": 1.0, "placement": 1.0}


def test_energy_curve_shows_the_cliff_and_holds_the_reports_point():
    r = pipeline.evaluate("mlp-digits", CompressionConfig(sparsity=0.9, bits=4), latency=False)
    curve = pipeline.energy_curve(r)
    assert curve[0]["sram_kb"] == 1 and curve[-1]["sram_kb"] == 16 * 1024
    assert [p["baseline_weights_in"] for p in curve].count("dram") == sum(p["sram_kb"] * 1024 < 50610 * 4 for p in curve)
    at_32 = next(p for p in curve if p["sram_kb"] == 32)
    assert at_32["compressed_pj"] == pytest.approx(r.energy_pj["total"])
    assert at_32["baseline_pj"] == pytest.approx(r.energy_baseline_pj["total"])


def test_energy_op_follows_the_quantizer():
    def op(config: CompressionConfig, layer: str) -> str:
        return plan.make(models.load("mlp-digits"), config).layers[layer].energy_op

    assert op(CompressionConfig(bits=4), "fc1") == "float"           # float activations
    assert op(CompressionConfig(bits=4, act_bits=8), "fc1") == "multiply"
    assert op(CompressionConfig(bits=4, act_bits=8, quantizer="pow2"), "fc1") == "shift-scale"
    assert op(CompressionConfig(bits=4, act_bits=8, quantizer="inq"), "fc1") == "shift"
    assert op(CompressionConfig(bits=2, act_bits=8, quantizer="ternary"), "fc1") == "sign"
    assert op(CompressionConfig(bits=1, act_bits=8), "fc1") == "sign"
    assert op(CompressionConfig(bits=4, act_bits=8, layer_bits={"fc1": 32}), "fc1") == "float"


def test_paired_delta_is_zero_for_the_baseline_and_real_for_a_lossy_config():
    base = pipeline.evaluate("mlp-digits", CompressionConfig(), latency=False)
    assert base.accuracy_delta == 0 and base.accuracy_delta_ci95 == [0.0, 0.0]
    r = pipeline.evaluate("mlp-digits", CompressionConfig(sparsity=0.9, bits=4), latency=False)
    lo, hi = r.accuracy_delta_ci95
    assert r.accuracy_delta == pytest.approx(r.accuracy - r.accuracy_baseline)
    assert lo <= r.accuracy_delta <= hi < 0
    assert measure.noise_verdict(r.accuracy_delta, r.accuracy_delta_ci95) == "a real loss"
    # narrower than the unpaired difference of the two Wilson intervals
    (l1, u1), (l2, u2) = r.accuracy_ci95, r.accuracy_baseline_ci95
    assert hi - lo < (u1 - l1) + (u2 - l2) and lo > l1 - u2 and hi < u1 - l2


def test_sparsity_counts_pruning_and_rounding_zeros_apart():
    r = pipeline.evaluate("mlp-digits", CompressionConfig(bits=4), latency=False)
    assert r.sparsity == 0 and r.zeros_from_rounding > 0
    # by hand: kept weights that round to 0 on the 4-bit symmetric grid are those below scale/2
    w = [models.load("mlp-digits").get_submodule(n).weight.detach() for n in ("fc1", "fc2", "fc3")]
    small = sum(int((t.abs() < t.abs().max() / 7 / 2).sum()) for t in w)
    assert r.zeros_from_rounding == pytest.approx(small / sum(t.numel() for t in w), abs=1e-3)
    p = pipeline.evaluate("mlp-digits", CompressionConfig(sparsity=0.5), latency=False)
    assert p.sparsity == pytest.approx(0.5, abs=1e-3) and p.zeros_from_rounding == 0


def test_sparsity_path_ends_at_evaluates_accuracy_when_the_schedule_matches():
    from compression import prune
    cfg = CompressionConfig(sparsity=0.8, bits=4, prune_steps=3, finetune_epochs=1)
    schedule = prune.gradual_schedule(cfg.sparsity, cfg.prune_steps)
    seen = []
    points = pipeline.sparsity_path("mlp-digits", cfg, [0.0, *schedule], progress=lambda f, m: seen.append(f))
    assert [p["sparsity"] for p in points] == [0.0, *schedule] and seen[-1] == 1.0
    assert points[-1]["accuracy"] == pipeline.evaluate("mlp-digits", cfg, latency=False).accuracy
    # the path's unpruned point takes no pruning step, so no fine-tuning (evaluate would fine-tune the float weights)
    unpruned = cfg.replace(sparsity=0.0, finetune_epochs=0)
    assert points[0]["accuracy"] == pipeline.evaluate("mlp-digits", unpruned, latency=False).accuracy
    assert all(p["lo"] <= p["accuracy"] <= p["hi"] for p in points)
    with pytest.raises(ValueError, match="2:4"):
        pipeline.sparsity_path("mlp-digits", cfg.replace(structure="2:4"), [0.5])
