"""Issue 15, uploads on the pages: rows pruning of an engineer's own graph (AppTest).

An upload none of whose channel groups can be cut says so in one sentence of its own (not
"Something went wrong"); one where only some can says which layers kept their rows; Trade-offs'
per-layer sensitivity of a coupled graph prunes each layer unstructured and says so.
"""
from __future__ import annotations

import pytest

pytest.importorskip("streamlit")
pytest.importorskip("torch_pruning")

from compression import source  # noqa: E402
from tests import apptest, own_models  # noqa: E402

TIMEOUT = 300


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    """{kind: (.pt2 path, .npz path)} of three own models, trained once for the module."""
    folder = tmp_path_factory.mktemp("own")
    return {kind: own_models.build(kind, folder)[1:] for kind in ("attn-only", "attn", "rescnn")}


def _word(own, kind: str) -> str:
    """The upload's word, the files put in this test's own cache (conftest gives each test one)."""
    program, npz = own[kind]
    return str(source.upload(program, data_file=npz))


def _errors(at) -> list[str]:
    return [e.value.replace("\\", "") for e in at.error]


def test_an_upload_rows_cannot_cut_says_why_in_one_sentence(own):
    at = apptest.start(query={"model": _word(own, "attn-only"), "structure": "rows", "sparsity": "0.5"}, timeout=TIMEOUT)
    errors = _errors(at)
    assert len(errors) == 1, errors
    assert errors[0].startswith("This setting is not allowed: rows pruning cannot slice this model"), errors
    assert "Something went wrong" not in errors[0] and "\n" not in errors[0]


def test_an_upload_rows_can_cut_only_in_part_names_the_layers_left_whole(own):
    at = apptest.start(query={"model": _word(own, "attn"), "structure": "rows", "sparsity": "0.5"}, timeout=TIMEOUT)
    assert not _errors(at), _errors(at)
    notes = [i.value.replace("\\", "") for i in at.info if "left" in i.value]
    assert len(notes) == 1, [i.value for i in at.info]
    # the embedding and the attention's output projection feed the attention: their groups stay whole
    assert "3 of 4 layers whole (embed, attn.in_proj, attn.out_proj)" in notes[0], notes


def test_tradeoffs_sensitivity_of_a_coupled_graph_is_unstructured_and_says_so(own):
    apptest.forget_results()
    at = apptest.start("pages/tradeoffs.py", {"model": _word(own, "rescnn"), "structure": "rows"}, timeout=TIMEOUT)
    at.button(key="sens_run").click().run()
    assert not at.exception and not _errors(at), _errors(at)
    assert any("coupled across layers" in c.value and "unstructured" in c.value for c in at.caption)
