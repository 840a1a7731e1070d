"""Page tests: the Streamlit app driven headlessly with streamlit.testing.v1.AppTest.

Each test starts a fresh session (AppTest.from_file); the backend caches (st.cache_data,
lru_cache) live in this process, so after the first test most runs are cache hits.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from compression import charts, pipeline  # noqa: E402
from compression.config import PRESETS, CompressionConfig  # noqa: E402
from compression.data import DataUnavailable  # noqa: E402

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 60  # importing torch and the first evaluate take seconds


def start(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metric(at: AppTest, label_start: str) -> str:
    found = [m.value for m in at.metric if m.label.startswith(label_start)]
    assert found, f"no metric labelled {label_start!r}: {[m.label for m in at.metric]}"
    return found[0]


def figures(at: AppTest) -> list[dict]:
    """The Plotly figures on the page (their JSON specs), in page order."""
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def titles(at: AppTest) -> list[str]:
    return [f["layout"]["title"]["text"] for f in figures(at)]


def figure_data(at: AppTest) -> list[str]:
    return [json.dumps(f["data"], sort_keys=True) for f in figures(at)]


# --------------------------------------------------------------------------- pages load

def test_explore_loads_with_cards_and_charts():
    at = start()
    assert not at.error, [e.value for e in at.error]
    assert metric(at, "Accuracy").endswith(" %")
    labels = [m.label for m in at.metric]
    for start_ in ("Accuracy", "Size (theoretical)", "Energy (estimate)", "Non-zero params",
                   "Latency (measured)"):
        assert any(lbl.startswith(start_) for lbl in labels), labels
    text = " ".join(titles(at)).lower()
    assert len(figures(at)) == 16, titles(at)
    for part in ("weights of", "quantization error", "per layer", "accuracy vs sparsity",
                 "accuracy vs bit", "size", "energy", "on-chip memory", "per neuron", "output error of each layer",
                 "activation outliers", "levels each 4-bit format", "stretches its group"):
        assert part in text, (part, text)
    # the sidebar's controls exist under their documented keys
    for key in ("model", "preset", "structure", "scope", "criterion", "act_bits", "profile"):
        assert at.selectbox(key=key).value is not None
    for key in ("prune_steps", "finetune_epochs", "seed"):
        assert at.number_input(key=key).value is not None
    assert at.radio(key="quantizer").value == "uniform"
    assert at.radio(key="scheme").value == "symmetric"
    assert at.radio(key="granularity").value == "tensor"
    assert at.radio(key="method").value == "rtn"
    assert at.toggle(key="skip_zeros").value is False
    assert at.slider(key="sparsity").value == 0
    assert at.select_slider(key="bits").value == 32
    assert at.slider(key="temperature").value == 4.0


def test_distill_page_loads_and_trains(monkeypatch):
    at = start({"teacher": "mlp-digits"})  # the 8×8 digits pair: seconds
    at.switch_page("pages/distill.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("soft targets" in t.lower() for t in titles(at))
    assert metric(at, "Entropy at T = 4").endswith(" bits")
    # the sidebar is still there on the second page
    assert at.slider(key="sparsity").value == 0
    at.number_input(key="distill_epochs").set_value(2).run()
    at.button(key="train_student").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert any("per epoch" in t.lower() for t in titles(at))
    for label in ("Teacher mlp-digits", "Student, distilled", "Student, hard labels only"):
        assert metric(at, label).endswith(" %")
    # compress the distilled student with the sidebar's settings
    before = metric(at, "Size (theoretical)")
    at.select_slider(key="bits").set_value(4).run()
    assert not at.exception
    assert metric(at, "Size (theoretical)") != before
    # the temperature sweep, behind its own button (2 epochs: quick)
    at.button(key="sweep_temperature").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("temperature" in t.lower() for t in titles(at))


# --------------------------------------------------------------------------- sliders move things

def test_sparsity_and_bits_sliders_change_figures_and_metrics():
    at = start()
    data0, acc0, size0 = figure_data(at), metric(at, "Accuracy"), metric(at, "Size")
    at.slider(key="sparsity").set_value(90).run()
    assert not at.exception
    data1, size1 = figure_data(at), metric(at, "Size")
    assert data1 != data0 and size1 != size0
    assert at.selectbox(key="preset").value == "custom"
    at.select_slider(key="bits").set_value(2).run()
    assert not at.exception
    data2, acc2 = figure_data(at), metric(at, "Accuracy")
    assert data2 != data1 and acc2 != acc0
    assert metric(at, "Size") != size1


def test_temperature_slider_changes_soft_targets():
    at = start()
    at.switch_page("pages/distill.py").run()
    soft = [f for f in figures(at) if "soft targets" in f["layout"]["title"]["text"].lower()][0]
    entropy = metric(at, "Entropy at T = 4")
    at.slider(key="temperature").set_value(10.0).run()
    assert not at.exception
    soft2 = [f for f in figures(at) if "soft targets" in f["layout"]["title"]["text"].lower()][0]
    assert soft2["data"][0]["y"] != soft["data"][0]["y"]
    assert metric(at, "Entropy at T = 10") != entropy


def test_accuracy_card_equals_backend():
    at = start({"sparsity": "0.5", "bits": "4"})
    expected = pipeline.evaluate("mlp-digits", CompressionConfig(sparsity=0.5, bits=4), latency=False)
    assert metric(at, "Accuracy") == charts.pct(expected.accuracy)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_star_on_both_accuracy_curves_is_the_cards_number(preset):
    at = start({"preset": preset})
    run = [b for b in at.button if b.key == "run_link"]
    if run:  # heavy work from a link waits for a click
        run[0].click().run()
    assert not at.error, [e.value for e in at.error]
    card = metric(at, "Accuracy")
    curves = [f for f in figures(at) if f["layout"]["title"]["text"].startswith("<b>Accuracy vs")]
    assert len(curves) == (1 if PRESETS[preset].structure == "2:4" else 2), titles(at)
    for fig in curves:
        stars = [t for t in fig["data"] if t.get("name") == "current setting"]
        assert len(stars) == 1, fig["layout"]["title"]["text"]
        assert charts.pct(stars[0]["y"][0]) == card, (preset, fig["layout"]["title"]["text"])
        if "one-shot" in json.dumps(fig["layout"]):  # a one-shot curve next to a fine-tuned card
            assert any("card" in a.get("text", "") for a in fig["layout"].get("annotations", []))


def test_heavy_work_from_a_link_waits_for_a_click():
    import ui

    at = start({"preset": "deep-compression", "seed": "12345"})  # a seed no test trained
    assert not at.metric, "training started unasked"
    button = at.button(key="run_link")
    seconds = ui.training_seconds(PRESETS["deep-compression"])
    assert button.label == f"Run (about {seconds:.0f} s)" and seconds > ui.LINK_BUDGET_S
    # moving a control makes the work the user's own: no second question
    at.number_input(key="finetune_epochs").set_value(0).run()
    assert metric(at, "Accuracy").endswith(" %")
    # light work from a link starts at once
    assert ui.training_seconds(PRESETS["prune-90"]) <= ui.LINK_BUDGET_S


def test_link_holds_the_page_view_settings():
    at = start({"sparsity": "0.6", "bits": "4", "layer": "fc2", "log_y": "true", "error": "mse"})
    assert not at.warning, [w.value for w in at.warning]
    fig = [f for f in figures(at) if f["layout"]["title"]["text"].startswith("<b>Weights of")][0]
    assert "fc2" in fig["layout"]["title"]["text"] and fig["layout"]["yaxis"]["type"] == "log"
    assert at.radio(key="err_metric").value == "mse"
    assert (at.query_params["layer"], at.query_params["log_y"], at.query_params["error"]) == ("fc2", "true", "mse")
    at.toggle(key="hide_zeros").set_value(True).run()
    assert at.query_params["hide_zeros"] == "true"
    at2 = start({"teacher": "mlp-digits", "student": "cnn-digits", "epochs": "3", "image": "7"})
    at2.switch_page("pages/distill.py").run()
    assert at2.selectbox(key="student").value == "cnn-digits"
    assert at2.number_input(key="distill_epochs").value == 3
    assert at2.number_input(key="sample").value == 7
    assert at2.query_params["image"] == "7" and at2.query_params["epochs"] == "3"


def test_controls_that_do_not_apply_are_disabled_and_say_so():
    at = start({"structure": "2:4"})
    assert at.slider(key="sparsity").disabled
    assert any("always 50 %" in c.value for c in at.sidebar.caption)
    assert at.slider(key="temperature").disabled  # used on Distill only
    assert not at.radio(key="scheme").disabled
    at.radio(key="quantizer").set_value("kmeans").run()
    assert at.radio(key="scheme").disabled
    at.switch_page("pages/distill.py").run()
    assert not at.slider(key="temperature").disabled
    assert at.selectbox(key="model").disabled  # Distill has its own teacher and student


def test_preset_sets_controls():
    at = start()
    at.selectbox(key="preset").set_value("int8").run()
    assert not at.exception
    p = PRESETS["int8"]
    assert at.select_slider(key="bits").value == p.bits
    assert at.selectbox(key="act_bits").value == p.act_bits
    assert at.radio(key="granularity").value == p.granularity
    assert at.query_params["bits"] == str(p.bits)


# --------------------------------------------------------------------------- URL contract

def test_url_round_trip_sets_widgets():
    at = start({"model": "cnn-digits", "sparsity": "0.8", "bits": "4", "scheme": "asymmetric",
                "per_channel": "true", "temperature": "8", "alpha": "0.5", "seed": "3"})
    assert not at.warning, [w.value for w in at.warning]
    assert at.selectbox(key="model").value == "cnn-digits"
    assert at.slider(key="sparsity").value == 80
    assert at.select_slider(key="bits").value == 4
    assert at.radio(key="scheme").value == "asymmetric"
    assert at.radio(key="granularity").value == "channel"  # the old word still opens the link
    assert at.number_input(key="seed").value == 3
    assert at.slider(key="temperature").value == 8.0
    assert at.session_state["scenario"]["alpha"] == 0.5
    # and the same scenario is written back
    q = at.query_params
    assert (q["model"], q["sparsity"], q["bits"], q["temperature"], q["alpha"]) == (
        "cnn-digits", "0.8", "4", "8", "0.5")
    at.switch_page("pages/distill.py").run()
    assert at.slider(key="alpha").value == 0.5


def test_url_preset_then_overrides():
    at = start({"preset": "deep-compression", "finetune_epochs": "0", "prune_steps": "1"})
    assert at.slider(key="sparsity").value == 96
    assert at.radio(key="quantizer").value == "kmeans"
    assert at.number_input(key="finetune_epochs").value == 0


def test_bad_url_values_warn_and_do_not_crash():
    at = start({"sparsity": "abc", "bits": "7x", "model": "nope", "temperature": "99"})
    assert len(at.warning) == 1
    text = at.warning[0].value
    for word in ("sparsity", "bits", "model", "temperature"):
        assert word in text, text
    assert at.slider(key="sparsity").value == 0
    assert at.select_slider(key="bits").value == 32
    assert at.selectbox(key="model").value == "mlp-digits"
    assert metric(at, "Accuracy").endswith(" %")
    at.run()  # the warning is shown once, on the first run
    assert not at.warning


def test_config_change_writes_query_params():
    at = start()
    assert at.query_params.get("sparsity") is None  # defaults stay out of the URL
    at.slider(key="sparsity").set_value(70).run()
    at.toggle(key="skip_zeros").set_value(True).run()
    assert at.query_params["sparsity"] == "0.7"
    assert at.query_params["skip_zeros"] == "true"
    assert at.query_params["model"] == "mlp-digits"
    at.slider(key="sparsity").set_value(0).run()
    assert "sparsity" not in at.query_params


# --------------------------------------------------------------------------- errors

def test_backend_error_shows_one_sentence(monkeypatch):
    def unavailable(*args, **kwargs):
        raise DataUnavailable("The mnist dataset is not available (test): put it there.")

    monkeypatch.setattr(pipeline, "evaluate", unavailable)
    at = start({"seed": "4242"})  # a config no other test cached
    assert not at.exception
    shown = [re.sub(r"\\(.)", r"\1", e.value) for e in at.error]  # the sentence is Markdown-escaped
    assert shown == ["The mnist dataset is not available (test): put it there."]
    assert not at.get("plotly_chart")


def test_model_that_cannot_run_here_says_why_and_keeps_the_sidebar():
    import ui

    missing = [m for m, row in ui.model_info().items() if not row["ready"]]
    if not missing:
        pytest.skip("every zoo model's data is on this machine")
    at = start({"model": missing[0]})
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("cannot run on this server" in i.value for i in at.info), [i.value for i in at.info]
    assert "/" not in " ".join(i.value for i in at.info).replace(missing[0], "")  # no server path
    assert at.slider(key="sparsity").value == 0  # the sidebar stays usable
    at.selectbox(key="model").set_value("mlp-digits").run()
    assert metric(at, "Accuracy").endswith(" %")


def test_error_sentences_are_literal_and_carry_no_server_paths():
    from ui.backend import error_sentence

    text = error_sentence(DataUnavailable("expected files in /root/.cache/lab/MNIST/raw; see [here](http://x.y)"))
    assert "/root" not in text and ".cache" not in text
    assert "](" not in text and "\\[here\\]" in text


def test_weights_fragment_layer_and_toggles():
    at = start({"sparsity": "0.6", "bits": "4"})
    hist = [t for t in titles(at) if "Weights of" in t][0]
    assert "fc1" in hist
    at.selectbox(key="layer").set_value("fc2").run()
    at.toggle(key="log_y").set_value(True).run()
    assert not at.exception
    fig = [f for f in figures(at) if "Weights of" in f["layout"]["title"]["text"]][0]
    assert "fc2" in fig["layout"]["title"]["text"]
    assert fig["layout"]["yaxis"]["type"] == "log"


def test_fine_tuning_shows_progress_and_cache_hits_replay_cleanly():
    import ui

    query = {"sparsity": "0.5", "finetune_epochs": "1", "seed": "7"}
    at = start(query)
    assert not at.error, [e.value for e in at.error]
    acc = metric(at, "Accuracy")
    # Forget that it was computed, so the next session draws a progress bar around what
    # is now a cache hit: the bar's updates must not have been recorded into the cache.
    ui._DONE.clear()
    at2 = start(query)
    assert not at2.error, [e.value for e in at2.error]
    assert metric(at2, "Accuracy") == acc
    # the curves are one-shot unless asked; the note says so
    assert any("one-shot (no fine-tuning)" in json.dumps(f["layout"]) for f in figures(at2))


def test_page_scripts_live_in_pages_and_hand_over_to_the_router():
    # Streamlit's legacy pages/ runner (a pages/ folder beside app.py) runs a deep link's page
    # without app.py; every page must hand over to the router before drawing anything.
    root = Path(APP).parent
    pages = sorted(p.name for p in (root / "pages").glob("*.py"))
    assert pages == ["compare.py", "distill.py", "explore.py", "language.py", "tradeoffs.py"], pages
    for name in pages:
        text = (root / "pages" / name).read_text()
        assert "ui.handover()" in text.split("st.", 1)[1].split("\n", 1)[0] or \
            text.index("ui.handover()") < text.index("st.title"), name


def test_sidebar_survives_reruns_and_page_switches():
    # AppTest in legacy pages/ mode dropped the sidebar after its first run: it must stay.
    at = start()
    for _ in range(2):
        at.run()
        assert at.slider(key="sparsity").value == 0
    at.switch_page("pages/distill.py").run()
    at.run()
    assert at.slider(key="sparsity").value == 0 and at.title[0].value == "Distill"


def test_pages_keep_sidebar_values_and_come_back():
    at = start({"sparsity": "0.3"})
    at.switch_page("pages/distill.py").run()
    at.slider(key="alpha").set_value(0.4).run()
    assert at.query_params["alpha"] == "0.4"
    at.switch_page("pages/explore.py").run()
    assert not at.exception
    assert at.slider(key="sparsity").value == 30
    assert at.query_params["alpha"] == "0.4" and at.query_params["sparsity"] == "0.3"
    at.switch_page("pages/distill.py").run()
    assert at.slider(key="alpha").value == 0.4


def test_distill_keeps_results_by_setting_and_says_what_changed():
    at = start({"teacher": "mlp-digits"})  # the 8×8 digits pair: seconds
    at.switch_page("pages/distill.py").run()
    at.number_input(key="distill_epochs").set_value(2).run()
    at.button(key="train_student").click().run()
    distilled = metric(at, "Student, distilled")
    at.slider(key="alpha").set_value(0.75).run()  # one step: not trained yet
    assert not at.exception
    assert any("α 0.7 → 0.75" in i.value for i in at.info), [i.value for i in at.info]
    assert metric(at, "Student, distilled") == distilled  # the last result stays on screen
    at.slider(key="alpha").set_value(0.7).run()  # back: the trained one, no button needed
    assert metric(at, "Student, distilled (T=4, α=0.7)") == distilled


def test_one_bit_beating_two_bits_is_explained_where_it_shows():
    at = start()
    curve = [f for f in figures(at) if f["layout"]["title"]["text"].startswith("<b>Accuracy vs bit")][0]
    line = next(t for t in curve["data"] if t.get("mode") == "lines+markers")
    ticks = curve["layout"]["xaxis"]["ticktext"]
    acc = dict(zip(ticks, line["y"]))
    explained = any("1 bit beat 2 bits" in c.value for c in at.caption)
    assert explained == (acc["1"] > acc["2"]), (acc["1"], acc["2"])


# --------------------------------------------------------------------------- explore: issue 10 / 7 / 6

def _captions(at: AppTest) -> str:
    return " ".join(c.value for c in at.caption)


def test_accuracy_card_shows_paired_interval_and_verdict():
    at = start({"sparsity": "0.9", "bits": "4"})
    r = pipeline.evaluate("mlp-digits", CompressionConfig(sparsity=0.9, bits=4), latency=False)
    lo, hi = r.accuracy_delta_ci95
    assert hi < 0  # the reference: this setting's paired interval excludes 0 (issue 10)
    text = _captions(at)
    num_re = r"([−+]\d+\.\d)"
    m = re.search(rf"{num_re} pts \(95 % CI {num_re} to {num_re}\): (a real loss|within noise|a real gain)", text)
    assert m, text
    num = [float(g.replace("−", "-")) for g in m.groups()[:3]]
    assert num == pytest.approx([100 * r.accuracy_delta, 100 * lo, 100 * hi], abs=0.051)
    assert m.group(4) == "a real loss"
    assert "1.5 points" not in text and "±1.5" not in text


def test_uncompressed_card_is_within_noise():
    at = start()
    assert "+0.0 pts (95 % CI +0.0 to +0.0): within noise" in _captions(at)


def test_sram_kb_in_the_url_changes_the_energy_assumption():
    small = start({"sparsity": "0.9", "bits": "4"})
    big = start({"sparsity": "0.9", "bits": "4", "sram_kb": "1024"})
    assert "fp32 in DRAM" in _captions(small)
    assert "fp32 in on-chip SRAM" in _captions(big) and "on-chip 1 MB" in _captions(big)
    assert metric(small, "Energy") != metric(big, "Energy")
    assert big.select_slider(key="sram_kb_pick").value == 1024.0
    assert float(big.query_params.get("sram_kb")) == 1024.0
    # moving the control next to the energy chart changes the estimate and the link
    small.select_slider(key="sram_kb_pick").set_value(1024.0).run()
    assert "on-chip 1 MB" in _captions(small)
    assert metric(small, "Energy") == metric(big, "Energy")


def test_pow2_qat_scenario_runs_with_its_record_formula():
    from compression import quantizers
    at = start({"model": "mlp-small-digits", "bits": "2", "quantizer": "pow2", "qat": "true",
                "finetune_epochs": "2", "per_channel": "true"})
    assert not at.error, [e.value for e in at.error]
    assert at.radio(key="quantizer").value == "pow2"
    assert at.toggle(key="qat").value is True and not at.toggle(key="qat").disabled
    assert at.radio(key="scheme").disabled  # power-of-two levels take no scheme
    formulas = [el.value for el in at.latex]
    assert any(quantizers.POW2.formula.strip() in f for f in formulas), formulas
    assert metric(at, "Accuracy").endswith(" %")


def test_controls_that_do_not_apply_are_disabled_and_say_why():
    at = start()
    assert at.select_slider(key="reg_strength").disabled  # no fine-tuning, no regularization
    assert at.toggle(key="qat").disabled and at.toggle(key="huffman").disabled  # float weights
    assert at.radio(key="order").disabled  # neither pruning nor quantizing
    assert "APoZ" not in " ".join(at.selectbox(key="criterion").options)  # neuron criteria: rows only
    text = _captions(at)
    assert "need the 'rows' structure" in text and "only when both pruning and quantizing" in text
    rows = start({"structure": "rows", "sparsity": "0.5", "bits": "4", "finetune_epochs": "1",
                  "regularize": "l1"})
    assert "APoZ" in rows.selectbox(key="criterion").options
    assert not rows.select_slider(key="reg_strength").disabled and not rows.radio(key="order").disabled
    assert not rows.toggle(key="qat").disabled and not rows.toggle(key="huffman").disabled


def test_preset_picker_offers_every_preset():
    at = start()
    assert set(PRESETS) <= set(at.selectbox(key="preset").options)


def test_neuron_scores_mark_the_highest_apoz_neurons_as_pruned():
    import torch

    from compression import data, models
    at = start({"structure": "rows", "criterion": "apoz", "sparsity": "0.5", "scope": "layer"})
    fig = next(f for f in figures(at) if f["layout"]["title"]["text"].startswith("<b>APoZ per neuron of fc1"))
    bars = fig["data"][0]
    # reference: APoZ by hand, the share of calibration images on which relu(fc1(x)) is 0
    model = models.load("mlp-digits")
    x = data.load(models.spec("mlp-digits").dataset).x_calib
    with torch.no_grad():
        a = torch.relu(model.fc1(x.flatten(1)))
    apoz = (a == 0).double().mean(0).tolist()
    assert bars["y"] == pytest.approx(sorted(apoz))
    pruned = [c == charts.PALETTE["accent"] for c in bars["marker"]["color"]]
    k = round(0.5 * len(apoz))
    assert sum(pruned) == k and all(pruned[-k:])  # layer scope: the k most often silent neurons go
    by_hand = sorted(range(len(apoz)), key=lambda i: apoz[i])
    assert max(apoz[i] for i in by_hand[:-k]) <= min(apoz[i] for i in by_hand[-k:])


def test_qat_view_measures_both_methods_on_a_click():
    at = start({"model": "mlp-small-digits", "per_channel": "true"})
    [button] = [b for b in at.button if b.label.startswith("Measure QAT")]
    button.click().run(timeout=120)
    fig = next(f for f in figures(at) if "Quantization-aware" in f["layout"]["title"]["text"])
    names = {t.get("name") for t in fig["data"]}
    assert {"post-training quantization", "quantization-aware fine-tuning"} <= names
    qat = next(t for t in fig["data"] if t.get("name") == "quantization-aware fine-tuning")
    ptq = next(t for t in fig["data"] if t.get("name") == "post-training quantization")
    assert qat["x"] == ptq["x"] == [2, 3, 4, 6, 8]
    assert qat["y"][0] > ptq["y"][0]  # 2 bits: fine-tuning under quantization recovers what rounding loses


def test_regularized_training_view_shows_weights_moving_to_zero():
    at = start({"model": "mlp-small-digits", "finetune_epochs": "3", "regularize": "l1", "reg_strength": "0.001"})
    [button] = [b for b in at.button if b.label.startswith("Train 3 regularized epochs")]
    button.click().run(timeout=120)
    assert not at.exception, [e.value for e in at.exception]
    assert at.select_slider(key="reg_epoch").options == ["0", "1", "2", "3"]
    fig = next(f for f in figures(at) if "regularized fine-tuning" in f["layout"]["title"]["text"])
    m = re.search(r"([\d.]+) % before → ([\d.]+) % at epoch 3", fig["layout"]["title"]["subtitle"]["text"])
    assert m and float(m.group(2)) > float(m.group(1))  # L1 pulls weights towards zero
    before, after = fig["data"]
    assert sum(before["y"]) == sum(after["y"]) == 64 * 32 + 32 * 10  # every prunable weight, each snapshot


def test_sidebar_granularity_and_a_number_format_reach_the_report():
    """Granularity 'group' with its group size, and MXFP4 (issue 16): the size caption counts the scales."""
    at = start({"bits": "4"})
    at.radio(key="granularity").set_value("group").run()
    at.select_slider(key="group_size").set_value(32).run()
    assert not at.exception and at.query_params["granularity"] == "group" and at.query_params["group_size"] == "32"
    # mlp-digits: every layer's rows are 64, 100 or 300 long; fc1's 64 inputs are two groups of 32
    assert any("bits per weight including scales" in c.value for c in at.caption)
    at.radio(key="quantizer").set_value("mxfp4").run()
    assert not at.exception
    assert any("MXFP4 fixes its own blocks" in c.value for c in at.sidebar.caption)
    assert at.radio(key="granularity").disabled
