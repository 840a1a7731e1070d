"""Explore with structure 'heads': the head-score chart on a model with attention, one sentence elsewhere."""
from __future__ import annotations

import dataclasses

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from compression import data, heads  # noqa: E402
from tests.apptest import forget_results, start  # noqa: E402


def _explore(query: dict[str, str], timeout: float = 300) -> AppTest:
    forget_results()
    return start(query=query, timeout=timeout)


def _texts(at: AppTest) -> str:
    return " ".join([c.value for c in at.caption] + [m.value for m in at.markdown] + [e.value for e in at.error])


def test_heads_on_a_model_without_attention_says_it_does_not_apply():
    at = _explore({"model": "mlp-digits", "structure": "heads", "sparsity": "0.5"})
    assert heads.NO_HEADS in _texts(at)
    assert at.selectbox(key="criterion").disabled
    assert not any(s.value == "Attention heads" for s in at.subheader)


@pytest.fixture
def small_fashion(monkeypatch):
    """Fashion-MNIST with 200 test images: the page's sections run in seconds, not minutes."""
    real = data.load

    def load(name, *args, **kwargs):
        ds = real(name, *args, **kwargs)
        return dataclasses.replace(ds, x_test=ds.x_test[:200], y_test=ds.y_test[:200]) if name == "fashion-mnist" else ds
    monkeypatch.setattr(data, "load", load)


def test_heads_on_vit_fashion_draws_the_head_scores(small_fashion):
    at = _explore({"model": "vit-fashion", "structure": "heads", "sparsity": "0.25"}, timeout=600)
    assert any(s.value == "Attention heads" for s in at.subheader), [s.value for s in at.subheader]
    assert "computes exactly what the gated one does" in _texts(at)
    assert "6 of 24 attention heads removed (25.0 % of the attention projections), 180,970 params" in _texts(at)
    assert any(m.value.startswith("**Pruning** (heads, global) by **head importance") for m in at.markdown)
    assert "Heads are ranked by head importance (Michel et al. 2019): the criterion does not apply." in _texts(at)
    assert not at.error, [e.value for e in at.error]  # the neuron view too (a ViT's features, not its tokens)
