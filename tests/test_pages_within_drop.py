"""Trade-offs' "Mixed precision from an accuracy target": computed on its button, each layer's choice listed."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from tests.apptest import forget_results  # noqa: E402

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def test_accuracy_target_lists_each_layer():
    forget_results()
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["model"] = "mlp-digits"
    at.run()
    at.switch_page("pages/tradeoffs.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(s.value == "Mixed precision from an accuracy target" for s in at.subheader)
    at.number_input(key="mp_max_drop").set_value(2.0).run()
    at.button(key="btn_within_drop").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    table = at.dataframe[-1].value
    assert list(table["layer"]) == ["fc1", "fc2", "fc3"]
    assert set(table["bits"]) <= {2, 3, 4, 5, 6, 8}
