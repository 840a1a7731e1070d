"""Issue 13: uploads that cannot run code or exhaust memory.

Every hostile file of tests/hostile_corpus.py (code routes of torch.export archives,
pickle payloads in every container, zip bombs, lying headers, values that break after a
cast, hostile names) is refused in one sentence naming the user's file, writes no marker,
prints nothing on stderr, leaves nothing in the uploads folder, and the loading step stays
under a stated memory bound. Two controls show the .pt2 payloads are real: torch itself runs them.
"""
from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from compression import loading, models, safe_pt2, source
from compression.safe_zip import printable
from tests import hostile_corpus as hc

PARENT_BOUND = 300 * hc.MB  # RSS growth of the server process while one upload is checked
WORKER_BOUND = 300 * hc.MB  # the worker's own peak RSS (its address space is capped at 1.5 GB)


def _upload(case: hc.Case, path: Path, tmp_path: Path) -> None:
    if case.role == "model":
        source.upload(path, arch=case.arch)
    else:
        source.upload(hc.good_model_file(tmp_path), arch="mlp-digits", data_file=path)


@pytest.mark.parametrize("case", hc.CASES, ids=[c.name for c in hc.CASES])
def test_hostile_upload_is_refused_in_one_sentence_and_runs_nothing(case, tmp_path, capfd):
    marker = tmp_path / "pwned"
    path = tmp_path / case.filename
    content = case.build(marker)
    path.write_bytes(content)
    capfd.readouterr()
    with hc.PeakRSS() as rss, pytest.raises(loading.FileRejected) as e:
        _upload(case, path, tmp_path)
    msg = str(e.value)
    assert case.says in msg, msg
    assert "\n" not in msg and "\x1b" not in msg and "\x07" not in msg
    assert "weights_only=False" not in msg and "Traceback" not in msg
    digest = hashlib.sha256(content).hexdigest()
    assert digest[:8] not in msg  # the user's own name, never the cache hash
    assert printable(case.filename) in msg
    assert not marker.exists()
    assert capfd.readouterr().err == ""  # no warning or log line before the one sentence
    assert not list((tmp_path / "cache" / "uploads").glob(f"{digest}*"))  # refused files are deleted
    assert rss.over_start < PARENT_BOUND, rss.over_start
    peak = getattr(e.value, "worker_peak_bytes", None)
    assert peak is None or peak < WORKER_BOUND, peak


@pytest.mark.parametrize("build", [hc.guards_code, hc.expr_inside_symbol])
def test_the_pt2_payloads_are_real_torch_runs_them(build, tmp_path):
    """Control: without the allow-list, torch.export.load (sympify) or the module (guards) runs them."""
    marker = tmp_path / "pwned"
    try:
        program = torch.export.load(io.BytesIO(build(marker)))
        program.module()(torch.zeros(2, 64))
    except Exception:  # noqa: BLE001 - the payload has run by the time anything fails
        pass
    assert marker.exists()


def test_a_stored_hostile_upload_opened_by_link_runs_nothing_and_is_deleted(tmp_path):
    """A file an older version stored (or anyone put in the folder) is re-validated on every opening."""
    marker = tmp_path / "pwned"
    content = hc.expr_inside_symbol(marker)
    digest = hashlib.sha256(content).hexdigest()
    folder = loading.uploads_dir()
    folder.mkdir(parents=True)
    (folder / f"{digest}.pt2").write_bytes(content)
    (folder / f"{digest}.json").write_text(json.dumps({"name": "colleague.pt2"}))
    with pytest.raises(loading.FileRejected, match="colleague.pt2 was refused: its symbolic size"):
        source.load(source.parse(f"upload:{digest[:16]}"))
    assert not marker.exists()
    assert not list(folder.glob(f"{digest}*"))
    with pytest.raises(loading.FileRejected, match="not on this server"):
        source.load(source.parse(f"upload:{digest[:16]}"))


def test_the_expression_grammar_takes_what_export_writes_and_nothing_else():
    for ok in ("Symbol('s77', positive=True, integer=True)", "Mul(Integer(2), Symbol('s0', integer=True))",
               "s0*2 + 1", "((s0//2))", "Max(1, s0)", "Eq(s0, 2)", "-s0 + 3", "s0 % 4", "FloorDiv(s1, 8)"):
        safe_pt2._check_expr(ok)  # in the grammar: no refusal
    for bad in ("__import__('os').system('x')", "Symbol('s0').__class__", "s0.real", "lambda: 1",
                "Integer(1)(2)", "exp(s0)", "Symbol('__import__')", "(s0", "s0 ** 99", "getattr(s0, 'x')",
                "Symbol('s0', positive=__import__)", "Mul(s0, eval)", "'abc'", "s0; s1", "x" * 5000):
        with pytest.raises(safe_pt2.Pt2Refused):
            safe_pt2._check_expr(bad)


def test_good_files_with_any_name_still_load_with_the_users_own_layer_names(tmp_path):
    path = tmp_path / "my model (1).pt2"
    path.write_bytes(hc.program())
    loaded = source.load(source.upload(path))
    assert list(models.layers(loaded.model)) == ["0", "2"]
    assert set(loaded.model.state_dict()) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    weights = tmp_path / "my weights (2).pt"  # torch.save names the zip's root folder after the file
    torch.save(models.build("mlp-digits").state_dict(), weights)
    assert source.load(source.upload(weights, arch="mlp-digits")).why_no_accuracy == source.NO_DATA


def test_a_program_exported_at_a_fixed_batch_keeps_the_users_names(tmp_path):
    """A reshape baked to the export batch needs chunking; the names stay the module's own (no 'inner.')."""
    class Fixed(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(64, 10)

        def forward(self, x):
            return self.fc(x.reshape(4, 64))

    model = Fixed().eval()
    path = tmp_path / "fixed.pt2"
    torch.export.save(torch.export.export(model, (torch.zeros(4, 1, 8, 8),)), path)
    got = source.load(source.upload(path)).model
    assert list(models.layers(got)) == ["fc"] and set(got.state_dict()) == {"fc.weight", "fc.bias"}
    x = torch.rand(7, 1, 8, 8)
    with torch.no_grad():
        assert torch.allclose(got(x), model.fc(x.reshape(7, 64)), atol=1e-6)
    import copy

    twin = copy.deepcopy(got)
    with torch.no_grad():
        twin.fc.weight.zero_()
        assert torch.equal(twin(x), twin.fc.bias.expand(7, 10))  # the copy computes with its own weights
        assert not torch.equal(got(x), twin(x))


def test_every_row_is_scored_and_calibration_is_a_stratified_copy(tmp_path):
    """Sorted by label, the old split dropped class 0 from the test set; now all rows are scored."""
    from compression import data

    ds = data.load("digits")
    order = torch.argsort(ds.y_test, stable=True)
    x, y = ds.x_test[order], ds.y_test[order]
    np.savez(tmp_path / "sorted.npz", x=x.numpy(), y=y.numpy())
    loaded = source.load(source.upload(hc.good_model_file(tmp_path), arch="mlp-digits", data_file=tmp_path / "sorted.npz"))
    got = loaded.dataset
    assert torch.equal(got.x_test, x) and torch.equal(got.y_test, y)  # n_test == N, class 0 included
    assert len(got.x_calib) == 128
    counts = torch.bincount(got.y_calib, minlength=10)
    expected = torch.bincount(y, minlength=10) * 128 / len(y)
    assert (counts - expected).abs().max() <= 1.5  # stratified: each class in proportion
    assert "calibration uses a copy of 128" in got.source and "sorted.npz" in got.source
    got.x_calib.add_(1)  # a copy: changing it leaves the scored rows alone
    assert torch.equal(got.x_test, x)


def test_uploads_folder_is_capped_least_recently_used_first(tmp_path, monkeypatch):
    monkeypatch.setattr(loading, "UPLOADS_CAP", 250)
    a = loading.store(b"a" * 100, "a.npz")
    b = loading.store(b"b" * 100, "b.npz")
    loading.find(a.short)  # a is used again: b is now the least recently used
    import os
    import time

    past = time.time() - 100
    os.utime(b.path, (past, past))
    c = loading.store(b"c" * 100, "c.npz")
    assert a.path.exists() and c.path.exists() and not b.path.exists()


def test_one_size_limit_one_wording(tmp_path):
    from ui import upload

    assert loading.MAX_BYTES == 200 * 10**6 and upload.MAX_MB == 200
    with pytest.raises(loading.FileRejected, match=r"over the 200 MB \(1 MB = 10\^6 bytes\) limit"):
        loading.check_size(200 * 10**6 + 1, "big.pt")


def test_state_dict_values_are_checked_after_the_cast(tmp_path):
    state = {k: v.double() for k, v in models.build("mlp-digits").state_dict().items()}
    state["fc2.bias"][0] = 1e300
    with pytest.raises(loading.FileRejected, match="NaN or Inf weights in fc2.bias"):
        loading.load_state_dict(models.build("mlp-digits"), state, "w.pt")
    state["fc2.bias"] = state["fc2.bias"].to(torch.complex64)
    with pytest.raises(loading.FileRejected, match="complex"):
        loading.load_state_dict(models.build("mlp-digits"), state, "w.pt")


def test_zip_header_limits_refuse_before_inflating():
    from compression import safe_zip

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x.npy", bytes(5 * hc.MB))
    with zipfile.ZipFile(buf) as z, pytest.raises(safe_zip.ZipRefused, match="zip bomb"):
        safe_zip.check_members(z)


def test_a_worker_out_of_memory_fails_alone_in_one_sentence(tmp_path, monkeypatch):
    """What nobody foresaw: the worker hits its address-space limit; the server says one sentence."""
    monkeypatch.setattr(loading, "WORKER_MEMORY", 40 * hc.MB)  # too small even to import numpy
    np.savez(tmp_path / "fine.npz", x=np.zeros((4, 64), np.float32), y=np.zeros(4, np.int64))
    with pytest.raises(loading.FileRejected, match=r"^fine.npz was refused: reading it needs more memory"):
        loading.read_npz(tmp_path / "fine.npz")
    monkeypatch.setattr(loading, "WORKER_MEMORY", 1_500_000_000)
    x, y = loading.read_npz(tmp_path / "fine.npz")
    assert x.dtype == torch.float32 and y.dtype == torch.int64 and x.shape == (4, 64)
