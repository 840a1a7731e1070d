"""ONNX Runtime fp32 and int8 against PyTorch on the digits models."""
from __future__ import annotations

import pytest
import torch

from compression import data, models

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
from compression import runtime


def _accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return (logits.argmax(1) == y).float().mean().item()


@pytest.mark.parametrize("model_id", ["mlp-digits", "cnn-digits"])
def test_ort_matches_pytorch_and_int8_keeps_accuracy(model_id):
    ds = data.load("digits")
    model = models.load(model_id)
    fp32 = runtime.to_onnx(model, ds.input_shape)
    with torch.no_grad():
        ref = model(ds.x_test)
    out = runtime.run(runtime.session(fp32), ds.x_test)
    assert torch.allclose(out, ref, atol=1e-4)
    int8, mode = runtime.quantize_int8(fp32, ds.x_calib)
    assert mode == "static"
    q = runtime.run(runtime.session(int8), ds.x_test)
    assert not torch.equal(q, out)  # really quantized
    assert abs(_accuracy(q, ds.y_test) - _accuracy(ref, ds.y_test)) <= 0.03
    import onnx

    graph = onnx.load_from_string(int8).graph
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in graph.node}
    # every Linear/Conv weight is stored as int8: as many int8 numbers as weights (zero points aside)
    n_int8 = sum(onnx.numpy_helper.to_array(t).size for t in graph.initializer
                 if t.data_type == onnx.TensorProto.INT8 and not t.name.endswith("zero_point"))
    assert n_int8 == sum(m.weight.numel() for m in models.layers(model).values())


def test_dynamic_without_calibration_and_latency_paths():
    ds = data.load("digits")
    model = models.load("mlp-digits")
    int8, mode = runtime.quantize_int8(runtime.to_onnx(model, ds.input_shape))
    assert mode == "dynamic"
    q = runtime.run(runtime.session(int8), ds.x_test)
    assert abs(_accuracy(q, ds.y_test) - _accuracy(model(ds.x_test), ds.y_test)) <= 0.03
    lat = runtime.latency(model, ds.x_test[:1], ds.x_calib, repeats=10)
    for t in (lat.torch_fp32, lat.ort_fp32, lat.ort_int8):
        assert t.median > 0 and t.iqr >= 0 and t.repeats == 10
    assert lat.onnx_fp32 and lat.onnx_int8 and "static" in lat.int8_path




def test_latency_many_times_every_path_of_every_model_in_the_same_rounds(monkeypatch):
    ds = data.load("digits")
    seen = []
    real = runtime.measure.interleaved

    def spy(calls, **kw):
        seen.append(sorted(calls))
        return real(calls, **kw)

    monkeypatch.setattr(runtime.measure, "interleaved", spy)
    model = models.load("mlp-digits")
    lat = runtime.latency_many({"a": model, "b": torch.nn.Sequential(*list(model)[:])}, ds.x_test[:1],
                               ds.x_calib, repeats=6)
    # one measurement over all six paths, not one per model or per path
    assert seen == [sorted(f"{m}/{p}" for m in "ab" for p in ("torch", "ort", "int8"))]
    assert lat["a"].torch_fp32.repeats == lat["b"].ort_int8.repeats == 6
