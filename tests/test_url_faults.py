"""Odd links: a per-layer override naming a layer the model lacks is ignored with a warning like
every other bad value (it used to put an error box where the numbers go), and the warnings are
shown whole (they were cut mid-word: "(ign…")."""
from __future__ import annotations

from tests.test_app import metric, start


def plain(markdown: str) -> str:
    """The warning's text without the escapes that keep a link's values literal."""
    return markdown.replace("\\", "")


def test_unknown_layer_in_a_link_is_ignored_with_a_warning_and_numbers_shown():
    at = start({"model": "mlp-digits", "layer_bits": "nosuch=4,fc1=8", "bits": "4"})
    assert not at.error, [e.value for e in at.error]
    assert len(at.warning) == 1
    text = plain(at.warning[0].value)
    assert "nosuch" in text and "fc1, fc2, fc3" in text and "(ignored)" in text, text
    assert metric(at, "Accuracy").endswith(" %")
    # the layer the model has is kept
    assert at.query_params["layer_bits"] == "fc1=8"


def test_unknown_layer_sparsity_is_ignored_too():
    at = start({"layer_sparsity": "fc9=0.5"})
    assert not at.error, [e.value for e in at.error]
    assert "fc9" in plain(at.warning[0].value)
    assert "layer_sparsity" not in at.query_params


def test_url_warnings_are_shown_whole():
    at = start({"model": "nope" * 3, "sparsity": "abc", "bits": "7x", "scheme": "sideways"})
    text = plain(at.warning[0].value)
    assert "…" not in text.replace("nopenopenope", ""), text  # no sentence cut short
    assert text.count("(ignored)") == 4, text
    assert text.rstrip(".").endswith("(ignored)"), text
