"""Model sources and safe loading of users' files."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from compression import data, loading, models, source


def _accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def _digits_npz(tmp_path: Path) -> Path:
    ds = data.load("digits")
    path = tmp_path / "digits.npz"
    np.savez(path, x=ds.x_test.numpy(), y=ds.y_test.numpy())
    return path


def test_parse_words_and_errors():
    assert source.parse("mlp-digits") == source.ModelSource("zoo", "mlp-digits")
    assert source.parse("resnet18").kind == "arch"
    up = source.parse("upload:ABCDEF0123456789")
    assert (up.kind, up.name, str(up)) == ("upload", "abcdef0123456789", "upload:abcdef0123456789")
    assert hash(up) == hash(source.parse("upload:abcdef0123456789"))
    for bad in ("nope", "upload:xyz", "upload:12"):
        with pytest.raises(models.ModelError) as e:
            source.parse(bad)
        assert "\n" not in str(e.value)


def test_zoo_and_architecture_loads():
    loaded = source.load(source.parse("cnn-digits"))
    assert loaded.input_shape == (1, 8, 8) and loaded.dataset.name == "digits" and loaded.why_no_accuracy is None
    arch = source.load(source.parse("resnet18"))
    assert arch.input_shape == (3, 224, 224) and arch.dataset is None
    assert arch.why_no_accuracy == source.NO_WEIGHTS
    assert sum(p.numel() for p in arch.model.parameters()) == 11_689_512  # torchvision's published count
    again = source.load(source.parse("resnet18")).model
    assert torch.equal(arch.model.fc.weight, again.fc.weight)  # seeded


def test_hostile_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"
    torch.save({"fc1.weight": torch.zeros(1), "x": Payload()}, path)
    with pytest.raises(loading.FileRejected) as e:
        source.upload(path, arch="mlp-digits")
    assert "weights_only" in str(e.value) and "\n" not in str(e.value)
    assert not marker.exists()
    # the same payload is a real threat: plain pickle runs it
    pickle.loads(pickle.dumps(Payload()))
    assert marker.exists()


def test_state_dict_upload_roundtrip_and_checks(tmp_path):
    model = models.load("mlp-digits")
    pt, st = tmp_path / "w.pt", tmp_path / "w.safetensors"
    torch.save(model.state_dict(), pt)
    save_file = pytest.importorskip("safetensors.torch").save_file

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(st))
    npz = _digits_npz(tmp_path)
    for path in (pt, st):
        src = source.upload(path, arch="mlp-digits", data_file=npz)
        loaded = source.load(src)
        assert src.kind == "upload" and loaded.why_no_accuracy is None
        ds = loaded.dataset
        assert len(ds.x_test) == 360 and len(ds.x_calib) == 128  # every row scored; calibration on a copy
        assert _accuracy(loaded.model, ds.x_test, ds.y_test) == _accuracy(model, ds.x_test, ds.y_test)
    # reopening by the URL word alone (architecture kept beside the file)
    assert source.load(source.parse(f"upload:{src.name}")).why_no_accuracy == source.NO_DATA
    # wrong architecture: one sentence naming the mismatch
    with pytest.raises(loading.FileRejected, match="does not fit the architecture: unexpected fc3.weight"):
        source.upload(pt, arch="mlp-small-digits")
    # NaN weights
    bad = model.state_dict()
    bad["fc2.weight"][0, 0] = float("nan")
    torch.save(bad, tmp_path / "nan.pt")
    with pytest.raises(loading.FileRejected, match="NaN or Inf"):
        source.upload(tmp_path / "nan.pt", arch="mlp-digits")
    # data that does not fit the model
    np.savez(tmp_path / "wide.npz", x=np.zeros((10, 1, 9, 9), np.float32), y=np.zeros(10, np.int64))
    with pytest.raises(loading.FileRejected, match=r"inputs of shape \(1, 9, 9\) do not fit"):
        source.upload(pt, arch="mlp-digits", data_file=tmp_path / "wide.npz")
    # object arrays would need pickle
    np.savez(tmp_path / "obj.npz", x=np.array([object()] * 4), y=np.zeros(4, np.int64))
    with pytest.raises(loading.FileRejected, match="holds Python objects"):
        source.upload(pt, arch="mlp-digits", data_file=tmp_path / "obj.npz")


def test_missing_upload_and_size_limit(tmp_path, monkeypatch):
    with pytest.raises(loading.FileRejected, match="not on this server"):
        source.load(source.parse("upload:0123456789abcdef"))
    monkeypatch.setattr(loading, "MAX_BYTES", 100)
    torch.save(models.load("mlp-digits").state_dict(), tmp_path / "big.pt")
    with pytest.raises(loading.FileRejected, match=r"over the 0\.0001 MB \(1 MB = 10\^6 bytes\) limit"):
        source.upload(tmp_path / "big.pt", arch="mlp-digits")


def test_exported_program_matches_pytorch(tmp_path):
    model = models.load("cnn-digits")
    path = tmp_path / "cnn.pt2"
    torch.export.save(torch.export.export(model, (torch.zeros(1, 1, 8, 8),)), path)
    src = source.upload(path, data_file=_digits_npz(tmp_path))
    loaded = source.load(src)
    ds = loaded.dataset
    assert loaded.input_shape == (1, 8, 8)
    assert _accuracy(loaded.model, ds.x_test, ds.y_test) == _accuracy(model, ds.x_test, ds.y_test)


def test_exported_program_with_pickled_parts_is_refused(tmp_path):
    import zipfile

    model = models.load("mlp-digits")
    good = tmp_path / "m.pt2"
    torch.export.save(torch.export.export(model, (torch.zeros(1, 64),)), good)
    evil = tmp_path / "evil.pt2"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(evil, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, zin.read(item.filename))
        root = zin.namelist()[0].split("/")[0]
        zout.writestr(f"{root}/data/aotinductor/model/lib.so", b"\x7fELF")
    with pytest.raises(loading.FileRejected, match="native code"):
        source.upload(evil)


def test_exported_program_prunes_like_torch_global_unstructured(tmp_path):
    from torch.nn.utils import prune as torch_prune

    from compression import prune

    model = models.load("cnn-digits")
    path = tmp_path / "cnn.pt2"
    torch.export.save(torch.export.export(model, (torch.zeros(1, 1, 8, 8),)), path)
    loaded = source.load(source.upload(path)).model
    assert list(models.layers(loaded)) == list(models.layers(model))  # layers rebuilt from the graph
    ours = prune.masks(loaded, 0.5)
    ref = models.load("cnn-digits")
    params = [(layer.module, layer.weight_attr) for layer in models.layers(ref).values()]
    torch_prune.global_unstructured(params, pruning_method=torch_prune.L1Unstructured, amount=0.5)
    for name, layer in models.layers(ref).items():
        assert torch.equal(ours[f"{name}.weight"], layer.module.weight_mask.bool())
