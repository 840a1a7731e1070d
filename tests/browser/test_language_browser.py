"""The Language page in a real browser (issue 18's third "Done when" bullet).

It opens on tinygpt-pydoc; one key press on the weight-bits slider updates the cards and the
compressed model's greedy sample; the cards read what compression.lm.evaluate.evaluate returns
for the settings the page then shows (called here, in the test's process). Every wait is on the
app's state (idle, an element), never a fixed time.
"""
from __future__ import annotations

import browserlib as bl

from compression.charts import signed
from compression.config import CompressionConfig
from compression.lm import evaluate as lm_evaluate

LOAD_TIMEOUT_MS = bl.WAIT_LIMIT_MS

CARDS_JS = """() => Object.fromEntries(Array.from(document.querySelectorAll('[data-testid="stMetric"]')).map((m) =>
    [m.querySelector('[data-testid="stMetricLabel"]').innerText.trim(),
     m.querySelector('[data-testid="stMetricValue"]').innerText.trim()]))"""
SAMPLES_JS = """() => Array.from(document.querySelectorAll('[data-testid="stCode"] code')).map((c) => c.innerText)"""


def _expected(r: dict) -> dict[str, str]:
    return {"Perplexity": f"{r['perplexity']:.2f}",
            "Change vs reference": signed(r["perplexity"] - r["perplexity_baseline"]),
            "Token top-1 accuracy": f"{r['token_accuracy'] * 100:.1f} %",
            "Top-1 agreement": f"{r['top1_agreement'] * 100:.1f} %",
            "Bits per weight": f"{r['bits_per_weight']:.2f}"}


def _wait_for_cards(page) -> dict[str, str]:
    page.wait_for_selector('[data-testid="stMetric"]', timeout=LOAD_TIMEOUT_MS)
    bl.wait_for_app_idle(page, timeout_ms=LOAD_TIMEOUT_MS)
    bl.assert_no_exception(page)
    return page.evaluate(CARDS_JS)


def test_language_page_opens_on_tinygpt_and_a_bits_move_updates_cards_and_sample(page, app_server):
    page.goto(f"{app_server}/language?bits=4&granularity=group&group_size=32")
    four = _wait_for_cards(page)
    assert page.get_by_text("float32 weights trained here", exact=False).first.is_visible()  # the reference label
    picker = page.locator('[data-testid="stSelectbox"]').filter(has_text="Language model")
    assert page.evaluate("(el) => el.innerText + ' ' + Array.from(el.querySelectorAll('input')).map((i) => "
                         "i.value).join(' ')", picker.element_handle()).count("tinygpt-pydoc") >= 1
    samples4 = page.evaluate(SAMPLES_JS)
    r4 = lm_evaluate.evaluate("tinygpt-pydoc", CompressionConfig(bits=4, granularity="group", group_size=32))
    assert {k: four[k] for k in _expected(r4)} == _expected(r4)

    bits = page.locator('[data-testid="stSlider"]').filter(has_text="Weight bits").get_by_role("slider")
    bits.focus()
    page.keyboard.press("ArrowLeft")  # 4 -> 3
    page.wait_for_url("**bits=3**", timeout=LOAD_TIMEOUT_MS)
    three = _wait_for_cards(page)
    assert three["Perplexity"] != four["Perplexity"]
    samples3 = page.evaluate(SAMPLES_JS)
    assert samples3[0] == samples4[0] and samples3[1] != samples4[1]  # the reference's sample stays
    r3 = lm_evaluate.evaluate("tinygpt-pydoc", CompressionConfig(bits=3, granularity="group", group_size=32))
    assert {k: three[k] for k in _expected(r3)} == _expected(r3)
    assert samples3[1].strip() == (r3["sample_prompt"] + r3["sample"]).strip()
