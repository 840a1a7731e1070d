"""Per-layer views against references: SQNR and cosine by numpy on outputs of a model built by hand
(one layer's weights swapped), BitOps by the hand product, and every figure as plotly validates it."""
import copy
import json

import numpy as np
import plotly.graph_objects as go
import torch

from compression import apply, charts, layer_error, measure, methods, pipeline, smoothquant
from compression.config import CompressionConfig


def test_alone_and_accumulated_against_a_hand_built_model(digits):
    model, ds = digits
    compressed, _, _ = apply.compress(model, ds, CompressionConfig(bits=3, per_channel=True))
    x = ds.x_calib
    errors = layer_error.output_errors(model, compressed, x)
    assert errors["layers"] == ["fc1", "fc2", "fc3"]
    for k, name in enumerate(errors["layers"]):
        swapped = copy.deepcopy(model)
        getattr(swapped, name).weight.data.copy_(getattr(compressed, name).weight)
        out = {}
        for m, tag in ((model, "ref"), (swapped, "alone"), (compressed, "acc")):
            h = getattr(m, name).register_forward_hook(lambda mod, a, o, tag=tag: out.__setitem__(tag, o.double().numpy()))
            with torch.no_grad():
                m(x)
            h.remove()
        y = out["ref"]
        for key, tag in (("alone", "alone"), ("accumulated", "acc")):
            y_hat = out[tag]
            sqnr = 10 * np.log10((y ** 2).sum() / ((y - y_hat) ** 2).sum())
            cos = (y * y_hat).sum() / np.linalg.norm(y) / np.linalg.norm(y_hat)
            assert np.isclose(errors[key]["sqnr_db"][k], sqnr, rtol=1e-6)
            assert np.isclose(errors[key]["cosine"][k], cos, rtol=1e-9)
    assert errors["alone"]["sqnr_db"][0] == errors["accumulated"]["sqnr_db"][0]  # the first layer's input is the image


def test_costs_by_hand(digits):
    model, ds = digits
    report = pipeline.evaluate("mlp-digits", CompressionConfig(bits=4, act_bits=8), latency=False)
    shapes = measure.layer_shapes(model, tuple(ds.input_shape))
    c = layer_error.costs(report, shapes)
    for row, lr, s in zip(c["layers"], report.layers, shapes):
        assert row["bitops"] == lr.macs_effective * 4 * 8
        assert row["activation_bytes"] == (s.in_elems + s.out_elems) * 8 / 8
    assert c["peak_activation_bytes"] == max((s.in_elems + s.out_elems) for s in shapes)


def test_every_methods_figure_validates(digits):
    model, ds = digits
    compressed, _, _ = apply.compress(model, ds, CompressionConfig(bits=3, per_channel=True))
    errors = layer_error.output_errors(model, compressed, ds.x_calib)
    result = methods.compare(model, ds, CompressionConfig(per_channel=True), bits=(3,))
    figures = [charts.methods_chart(result), charts.layer_error_chart(errors),
               charts.layer_error_chart(errors, "cosine"),
               charts.activation_histogram(layer_error.activation_ranges(model, ds.x_calib), "fc2"),
               charts.weight_range_chart(layer_error.weight_ranges(model), "fc2"),
               charts.outliers_chart(smoothquant.outliers(model, ds.x_calib, 0.5), "fc2")]
    for fig in figures:
        validated = json.loads(go.Figure(fig.to_dict(), skip_invalid=False).to_json())
        assert validated == json.loads(fig.to_json())
        assert fig.layout.title.text and fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
    assert result["delta"]["rtn"] == [0.0]


def test_the_html_report_has_the_layer_section():
    from compression import report_html
    config = CompressionConfig(bits=4, per_channel=True)
    report = pipeline.evaluate("mlp-digits", config, latency=False)
    views = report_html.layer_views("mlp-digits", config)
    page = report_html.to_html(report, views=views)
    assert "<h2>Layer by layer</h2>" in page and "BitOps" in page
    for fig_id in ("layer-sqnr", "layer-cosine", "activations-0", "weight-ranges-2"):
        assert f"id=\"{fig_id}\"" in page or f"id='{fig_id}'" in page
    assert "Layer by layer" not in report_html.to_html(report)
