"""The presenter's pages (issue 15, defects 2 and 5): presentation mode, Compare's presets,
named saves, the report's link and contents, one colour rule for deltas. AppTest; each test
has a history file of its own."""
from __future__ import annotations

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from compression.config import PRESETS  # noqa: E402
from tests import apptest  # noqa: E402

TIMEOUT = 120


def start(page: str | None = None, query: dict[str, str] | None = None) -> AppTest:
    return apptest.start(page, query, timeout=TIMEOUT)


def _presenting(at: AppTest) -> bool:
    return any(m.value.startswith("**Step") or m.value.startswith("**The story") for m in at.sidebar.markdown)


def test_leave_presentation_mode_leaves_it_and_the_url():
    at = start(query={"view": "present"})
    assert _presenting(at)
    at.button(key="present_leave").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not _presenting(at), [m.value for m in at.sidebar.markdown]
    assert "view" not in at.query_params
    at.run()  # and it stays left on the next run
    assert not _presenting(at)


def test_the_story_tells_every_preset_and_ends_on_the_qat_rescue():
    from ui import present
    names = [n for n, _ in present._steps()]
    assert sorted(names) == sorted(PRESETS) and len(names) == len(set(names))
    assert names[0] == "baseline" and names[-2:] == ["extreme-2bit", "qat-2bit"]
    at = start(query={"view": "present"})
    assert any(f"Step 1 of {len(PRESETS)}" in m.value for m in at.sidebar.markdown)


def test_compare_preset_is_the_sidebars_variant_for_the_models_data_set():
    """Compare's "preset: deep-compression" on LeNet-300-100 is what the sidebar's picker sets there."""
    from compression import config as cfgmod
    variant = cfgmod.preset("deep-compression", "mnist-5k")
    assert variant != PRESETS["deep-compression"]  # the digits setting differs: the bug's premise
    at = start(query={"model": "lenet300-mnist"})
    at.selectbox(key="preset").set_value("deep-compression").run()  # the sidebar's picker
    assert at.session_state["sparsity"] == round(variant.sparsity * 100) and at.session_state["bits"] == variant.bits
    at.switch_page("pages/compare.py").run()
    at.multiselect(key="compare").set_value(["current scenario (sidebar)", "preset: deep-compression"]).run()
    assert not at.exception, [e.value for e in at.exception]
    captions = [c.value.replace("\\", "") for c in at.caption]
    captions = [c for c in captions if c.startswith("lenet300-mnist ·")]
    assert len(captions) == 2 and captions[0] == captions[1], captions  # one name, one setting


def test_named_save_is_listed_in_compare_and_slider_steps_are_not():
    at = start(query={"sparsity": "0.5", "bits": "4"})
    at.slider(key="sparsity").set_value(60).run()  # a slider step: evaluated, not saved
    at.text_input(key="save_name").input("my 4-bit").run()
    at.button(key="save_scenario").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Saved as" in c.value for c in at.caption), [c.value for c in at.caption]
    at.switch_page("pages/compare.py").run()
    options = at.multiselect(key="compare").options
    saved = [o for o in options if o.startswith("saved:")]
    assert saved == ["saved: my 4-bit (mlp-digits)"], saved
    at.multiselect(key="compare").set_value(["current scenario (sidebar)", saved[0]]).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [m for m in at.markdown if "saved: my 4-bit" in m.value.replace("\\", "")]


def test_compare_opens_on_the_two_newest_named_saves():
    from compression.config import CompressionConfig
    from compression.source import ModelSource
    from ui import studio
    model = ModelSource("zoo", "mlp-digits")
    for name, bits in (("oldest", 8), ("middle", 6), ("newest", 4)):
        assert studio.save_scenario(name, model, CompressionConfig(bits=bits)).startswith("Saved")
    at = start("pages/compare.py")
    assert at.multiselect(key="compare").value == ["saved: newest (mlp-digits)", "saved: middle (mlp-digits)"]
    titles = [m.value.replace("\\", "") for m in at.markdown if m.value.startswith("**saved")]
    assert titles == ["**saved: newest (mlp-digits)**", "**saved: middle (mlp-digits)**"], titles


def test_a_within_noise_delta_is_grey_on_every_page():
    from streamlit.proto.Metric_pb2 import Metric

    import ui
    from compression import measure
    assert ui.delta_color("within noise") == "off"
    assert ui.delta_color("a real loss") == "normal" and ui.delta_color("a real gain") == "normal"
    assert ui.delta_color(None) == "off"
    # 3-bit weights on the digits MLP: −1.4 pts whose paired interval holds 0 (checked, not assumed)
    from compression import pipeline
    from compression.config import CompressionConfig
    r = pipeline.evaluate("mlp-digits", CompressionConfig(bits=3), latency=False)
    assert r.accuracy_delta < 0 and measure.noise_verdict(r.accuracy_delta, r.accuracy_delta_ci95) == "within noise"
    at = start(query={"bits": "3"})
    card = next(m for m in at.metric if m.label.startswith("Accuracy"))
    assert card.proto.color == Metric.MetricColor.GRAY
    at.switch_page("pages/compare.py").run()
    assert not at.exception, [e.value for e in at.exception]
    current = next(m for m in at.metric if m.label.startswith("Accuracy"))  # the current scenario's card
    assert current.proto.delta == card.proto.delta and current.proto.color == Metric.MetricColor.GRAY


def test_no_arrow_on_a_change_of_exactly_zero():
    from streamlit.proto.Metric_pb2 import Metric
    at = start()  # the uncompressed model: its change is exactly 0
    card = next(m for m in at.metric if m.label.startswith("Accuracy"))
    assert card.proto.delta == "+0.0 pts" and card.proto.direction == Metric.MetricDirection.NONE
    at.switch_page("pages/compare.py").run()
    current = next(m for m in at.metric if m.label.startswith("Accuracy"))
    assert current.proto.delta == "+0.0 pts" and current.proto.direction == Metric.MetricDirection.NONE
