"""Explore with a model that has no accuracy (an architecture without weights) and a link naming
an upload this server lacks (AppTest). Each test uses a cache folder of its own."""
from __future__ import annotations

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from compression import charts  # noqa: E402
from tests import apptest  # noqa: E402

TIMEOUT = 120


def start(query: dict[str, str]) -> AppTest:
    return apptest.start(query=query, timeout=TIMEOUT)


def test_architecture_without_weights_shows_na_accuracy_with_its_reason():
    at = start({"model": "mobilenet_v2"})
    assert at.selectbox(key="model").value == "mobilenet_v2"
    # a link to a torchvision architecture waits for Run, unless this process has the result already
    if any(b.key == "run_link" for b in at.button):
        at.button(key="run_link").click().run()
    cards = {m.label: m.value for m in at.metric}
    assert cards["Accuracy"] == "n/a"
    assert any("no trained weights" in c.value for c in at.caption)  # the reason, on the card and the curves
    assert any(c.value.startswith("No accuracy curves") for c in at.caption)
    # everything else is real: 4 bytes per parameter of torchvision's own MobileNetV2
    import torchvision
    n = sum(p.numel() for p in torchvision.models.mobilenet_v2(weights=None).parameters())
    assert n == 3_504_872  # torchvision's documented parameter count
    assert cards["Size (theoretical)"] == charts.fmt_bytes(4 * n)
    assert cards["Latency (measured)"].endswith(" ms")


def test_link_to_an_upload_missing_here_says_so_in_one_sentence_and_keeps_the_page():
    word = "upload:" + "ab" * 8 + "<b>x</b>"  # not hex past the hash: still one escaped sentence
    at = start({"model": word})
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 1, warnings
    assert "not on this server" in warnings[0] or "is unknown" in warnings[0]
    assert "<b>" not in warnings[0].replace("\\<b>", "")
    at2 = start({"model": "upload:" + "ab" * 8})
    text = [w.value for w in at2.warning]
    assert len(text) == 1 and "not on this server" in text[0] and "\n" not in text[0], text
    assert at2.selectbox(key="model").value == "mlp-digits"  # the page stays usable on the default model
    assert {m.label for m in at2.metric} >= {"Size (theoretical)"}


def test_the_upload_entry_asks_for_a_file_instead_of_failing():
    at = start({"model": "mlp-digits"})
    at.selectbox(key="model").set_value("+upload").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Upload a model file" in i.value for i in at.info)
    assert "resnet18 · random init: accuracy n/a" in at.selectbox(key="model").options


def test_a_link_to_a_zoo_model_with_an_image_folder_scores_the_folder(tmp_path):
    """The Dataset of an image-folder upload is the one an .npz gives: Explore draws its cards unchanged,
    with the accuracy torchvision's own ImageFolder + ToTensor tensors give, and says what was skipped."""
    import torch

    from compression import models, source
    from tests.test_imagefolder import digits_folder

    root, x, y = digits_folder(tmp_path / "digits", n=30)
    (root / "5" / "broken.png").write_bytes(b"junk")
    src = source.upload(models.ensure("mlp-digits"), arch="mlp-digits", data_file=root)
    with torch.no_grad():
        want = int((models.load("mlp-digits")(x).argmax(1) == y).sum()) / len(y)
    at = start({"model": str(src)})
    if any(b.key == "run_link" for b in at.button):
        at.button(key="run_link").click().run()
    assert not at.exception, [e.value for e in at.exception]
    cards = {m.label.split(" (")[0]: m.value for m in at.metric}
    assert cards["Accuracy"] == charts.pct(want), cards
    captions = " ".join(c.value for c in at.caption)
    assert "test set digits.zip: 30 images in 10 class folders (pixels / 255); 1 image skipped: not readable" \
        in captions, captions
