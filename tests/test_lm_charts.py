"""The Language page's figures (compression.lm.charts): the numbers they draw are evaluate's and
grid's, transformed by hand here (SQNR = −10·log10 of the relative error), and each figure is what
plotly's own validation gives."""
from __future__ import annotations

import json
import math

import plotly.graph_objects as go

from compression.lm import charts

RESULT = {"layers": [{"name": "tok", "role": "embedding", "label": "8-bit", "output_error": 1e-5}]
          + [{"name": f"blocks.{b}.{k}", "role": "body", "label": "4-bit", "output_error": 10 ** -(1 + b + i / 10)}
             for b in range(2) for i, k in enumerate(("attn.qkv", "fc1"))]
          + [{"name": "lm_head", "role": "head", "label": "8-bit", "output_error": 1e-6},
             {"name": "x", "role": "body", "label": "float32", "output_error": 0.0}]}
GRID = {"model": "tinygpt-pydoc", "reference": "float32 weights trained here", "bits": [2, 4], "methods": ["rtn", "gptq"],
        "tokens": 8192, "perplexity_baseline": 4.39, "perplexity": {"rtn": [40.0, 4.6], "gptq": [12.0, 4.5]},
        "perplexity_ci95": {"rtn": [[35.0, 45.0], [4.3, 4.9]], "gptq": [[11.0, 13.0], [4.2, 4.8]]},
        "delta_vs_rtn_ci95": {"rtn": [[0.0, 0.0], [0.0, 0.0]], "gptq": [[-30.0, -25.0], [-0.2, -0.05]]}}


def _validated(fig: go.Figure) -> dict:
    return json.loads(go.Figure(fig.to_dict(), skip_invalid=False).to_json())


def test_layer_error_is_sqnr_in_db_and_a_float_layer_has_no_bar():
    fig = charts.layer_error_chart(RESULT)
    drawn = {y: x for bar in fig.data for y, x in zip(bar.y, bar.x)}
    assert list(fig.layout.yaxis.categoryarray) == [lay["name"] for lay in RESULT["layers"][:-1]]  # module order
    assert set(drawn) == {lay["name"] for lay in RESULT["layers"][:-1]}  # "x" changed nothing: no bar
    for lay in RESULT["layers"][:-1]:
        assert math.isclose(drawn[lay["name"]], -10 * math.log10(lay["output_error"]))
    # the layers kept apart: their own trace, named in the legend, not the body's colour
    body, apart = fig.data
    assert body.name == "body" and body.marker.color == charts.PALETTE["compressed"]
    assert apart.name == "embeddings and LM head" and apart.marker.color != body.marker.color
    assert list(apart.y) == [lay["name"] for lay in RESULT["layers"] if lay["role"] != "body"]
    assert fig.layout.showlegend
    assert _validated(fig) == json.loads(fig.to_json())


def test_many_layers_get_one_tick_per_five_blocks():
    many = {"layers": [{"name": f"model.layers.{b}.mlp.{k}", "label": "4-bit", "output_error": 0.01}
                       for b in range(30) for k in ("gate_proj", "up_proj", "down_proj")]}
    fig = charts.layer_error_chart(many)
    assert len(fig.data) == 1 and not fig.layout.showlegend  # nothing kept apart: no legend
    assert list(fig.layout.xaxis.ticktext) == [f"block {b}" for b in range(0, 30, 5)]
    assert list(fig.layout.xaxis.tickvals) == [3 * b for b in range(0, 30, 5)]


def test_many_layers_with_the_embedding_and_head_apart_name_them_and_keep_their_bars_one_layer_wide():
    body = [{"name": f"model.layers.{b}.mlp.{k}", "role": "body", "label": "4-bit", "output_error": 0.01}
            for b in range(30) for k in ("gate_proj", "up_proj", "down_proj")]
    many = {"layers": [{"name": "model.embed_tokens", "role": "embedding", "label": "8-bit", "output_error": 1e-4}]
            + body + [{"name": "lm_head", "role": "head", "label": "8-bit", "output_error": 1e-4}]}
    fig = charts.layer_error_chart(many)
    assert [t.width for t in fig.data] == [0.9, 0.9]  # in layers, not the gap between the two apart
    assert list(fig.layout.xaxis.range) == [-0.5, 91.5]
    ticks = dict(zip(fig.layout.xaxis.tickvals, fig.layout.xaxis.ticktext))
    assert ticks[0] == "embed_tokens" and ticks[91] == "lm_head"
    assert "block 0" not in ticks.values() and ticks[1 + 3 * 5] == "block 5"  # one layer from the embedding: dropped


def test_grid_chart_draws_each_interval_around_its_perplexity():
    fig = charts.lm_grid_chart(GRID)
    gptq = next(t for t in fig.data if t.name == "GPTQ")
    assert list(gptq.y) == [12.0, 4.5]
    assert [y + up for y, up in zip(gptq.y, gptq.error_y.array)] == [13.0, 4.8]
    assert [round(y - down, 6) for y, down in zip(gptq.y, gptq.error_y.arrayminus)] == [11.0, 4.2]
    assert "[-30.00, -25.00]" in gptq.customdata[0]
    ref = next(t for t in fig.data if t.name == "reference")
    assert list(ref.y) == [4.39, 4.39]
    assert fig.layout.yaxis.type == "log"
    assert _validated(fig) == json.loads(fig.to_json())
