"""The app over a corrupt history.sqlite (AppTest): numbers on the page, the scenario saved in a new file."""
from __future__ import annotations

import pytest

pytest.importorskip("streamlit")

from compression import history, pipeline  # noqa: E402
from compression.config import CompressionConfig  # noqa: E402
from tests.test_history import CORRUPTIONS  # noqa: E402
from tests.test_pages_studio import start  # noqa: E402


@pytest.mark.parametrize("kind, sparsity", [("garbage", "0.31"), ("bad page", "0.32"), ("folder", "0.33")])
def test_explore_keeps_working_and_saving_over_a_corrupt_history(kind, sparsity, report_dict_for_corruption):
    # A sparsity of its own per case: the session cache must not serve the scenario without the history.
    path = history.default_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    CORRUPTIONS[kind](path, report_dict_for_corruption)
    at = start(query={"sparsity": sparsity, "bits": "6"})
    assert at.get("metric"), "no numbers on the page"
    listed = history.History().list()
    assert [r["config"] for r in listed] == [{"sparsity": float(sparsity), "bits": 6}]
    assert any(".corrupt-" in p.name for p in path.parent.iterdir())


@pytest.fixture(scope="module")
def report_dict_for_corruption():
    return pipeline.evaluate("mlp-digits", CompressionConfig(sparsity=0.5, bits=4), latency=False).to_dict()
