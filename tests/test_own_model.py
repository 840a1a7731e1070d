"""Issue 9 wired: architectures without weights, uploads through the CLI, graphs pruned for real."""
from __future__ import annotations

import copy
import json
import os

import numpy as np
import pytest
import torch
from torch.nn.utils import prune as torch_prune

from compression import data, measure, models, pipeline, source
from compression.__main__ import build_parser, main
from compression.config import CompressionConfig

RESNET18_PARAMS = 11_689_512  # torchvision's published parameter count for resnet18


def test_resnet18_sizes_are_real_and_accuracy_is_null_with_its_reason():
    r = pipeline.evaluate("resnet18", latency=False).to_dict()
    assert r["model"] == "resnet18"
    assert r["size_bytes"]["fp32"] == 4 * RESNET18_PARAMS
    assert r["accuracy"] is None and r["accuracy_delta"] is None and r["accuracy_ci95"] is None
    assert r["accuracy_note"] == source.NO_WEIGHTS and any(source.NO_WEIGHTS in n for n in r["notes"])
    # torchvision's model card: 1.81 GFLOPS (multiply-accumulates) at 224x224
    assert round(r["macs_dense"] / 1e9, 2) == 1.81
    assert len(r["layers"]) == 21 and all(layer["hist"]["original"] for layer in r["layers"])
    assert r["energy_pj"]["total"] > 0 and r["size_bytes"]["file"] > 0


def test_mobilenet_rows_time_the_physically_smaller_int8_model():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("torch_pruning")
    from compression import structure

    base = source.build_arch("mobilenet_v2")
    shape = (3, 32, 32)  # channel coupling does not depend on the resolution; smaller is faster
    ds = pipeline.inputs_only(shape, source.NO_WEIGHTS, "mobilenet_v2")
    r = pipeline.evaluate_model(base, ds, CompressionConfig(structure="rows", sparsity=0.5, bits=8),
                                name="mobilenet_v2", why_no_accuracy=source.NO_WEIGHTS)
    assert r.accuracy is None and r.accuracy_note == source.NO_WEIGHTS
    assert "sliced out" in r.latency_path and "ONNX Runtime int8" in r.latency_path
    assert all(r.latency_ms[k] > 0 for k in ("fp32", "compressed", "ort_fp32"))
    # the model that runs computes what Torch-Pruning's own physical removal gives
    small = structure.prune_channels(base, shape, 0.5)
    assert r.macs_effective == sum(s.macs for s in measure.layer_shapes(small, shape))
    assert r.params_nonzero <= sum(p.numel() for p in small.parameters())


def _export(tmp_path) -> tuple[torch.nn.Module, str, str, torch.Tensor, torch.Tensor]:
    model = models.load("cnn-digits")
    pt2 = tmp_path / "cnn.pt2"
    torch.export.save(torch.export.export(model, (torch.zeros(1, 1, 8, 8),)), pt2)
    ds = data.load("digits")
    npz = tmp_path / "digits.npz"
    np.savez(npz, x=ds.x_test.numpy(), y=ds.y_test.numpy())
    return model, str(pt2), str(npz), ds.x_test, ds.y_test


def _cli_json(capsys, *args: str) -> dict:
    assert main(["evaluate", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_exported_model_and_npz_from_the_cli_match_pytorch(tmp_path, capsys):
    model, pt2, npz, x, y = _export(tmp_path)
    plain = _cli_json(capsys, "--model-file", pt2, "--data", npz, "--sparsity", "0", "--bits", "32")
    n = plain["n_test"]  # every row the user gave is scored (calibration uses a copy of a sample)
    assert n == len(y) and plain["model"].startswith("upload:")
    assert plain["accuracy"] == measure.accuracy(model, x, y)

    pruned = _cli_json(capsys, "--model-file", pt2, "--data", npz, "--sparsity", "0.5", "--bits", "32")
    ref = copy.deepcopy(model)
    params = [(layer.module, layer.weight_attr) for layer in models.layers(ref).values()]
    torch_prune.global_unstructured(params, pruning_method=torch_prune.L1Unstructured, amount=0.5)
    assert pruned["accuracy"] == measure.accuracy(ref, x, y)
    assert pruned["sparsity"] == pytest.approx(0.5, abs=1e-3)


def test_hostile_pickle_from_the_cli_is_one_line_exit_2_and_never_runs(tmp_path, capsys):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.pt"
    torch.save({"fc1.weight": torch.zeros(1), "x": Payload()}, evil)
    assert main(["evaluate", "--model-file", str(evil), "--arch", "mlp-digits"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "refused" in err and "Traceback" not in err
    assert not marker.exists()


def test_cli_knows_the_architectures_and_lists_them(capsys):
    assert build_parser().parse_args(["evaluate", "--model", "mobilenet_v2"]).model == "mobilenet_v2"
    assert build_parser().parse_args(["reproduce", "resnet18-case", "--json"]).study == "resnet18-case"
    assert main(["evaluate", "--arch", "resnet18"]) == 2  # --arch without --model-file
    assert "--model-file" in capsys.readouterr().err
    assert main(["models", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["resnet18"]["params"] == RESNET18_PARAMS
    assert rows["resnet18"]["accuracy"] is None and rows["resnet18"]["note"] == source.NO_WEIGHTS
