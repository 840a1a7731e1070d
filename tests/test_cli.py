"""The CLI: same numbers as the API, JSON with DESIGN's keys, one-line errors with exit status 2."""
import csv
import json
import subprocess
import sys

import pytest

from compression import pipeline
from compression.__main__ import main
from compression.config import CompressionConfig
from tests.test_pipeline import KEYS


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "compression", *args], capture_output=True, text=True,
                          timeout=120)


def test_evaluate_json_has_every_key_and_matches_the_api(capsys):
    assert main(["evaluate", "--model", "mlp-digits", "--sparsity", "0.9", "--bits", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert all(k in out for k in KEYS)
    api = pipeline.evaluate("mlp-digits", CompressionConfig(sparsity=0.9, bits=4), latency=False)
    assert out["accuracy"] == api.accuracy and out["size_bytes"]["compressed"] == api.size_bytes["compressed"]


def test_preset_with_override(capsys):
    assert main(["evaluate", "--preset", "int8", "--bits", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["config"]["bits"] == 4 and out["config"]["act_bits"] == 8


@pytest.mark.parametrize("args,needle", [
    (["evaluate", "--bits", "7x"], "--bits"),
    (["evaluate", "--sparsity", "1.5"], "sparsity"),
    (["evaluate", "--model", "nope"], "mlp-digits"),
    (["evaluate", "--scheme", "odd"], "symmetric"),
    (["sweep", "--sparsity", "0,a"], "--sparsity"),
    (["sweep", "--sparsity", ","], "--sparsity"),
    (["distill", "--temperature", "0"], "temperature"),
    (["frobnicate"], "models"),
])
def test_bad_arguments_exit_2_with_one_line(args, needle):
    result = run_cli(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0]
    assert "Traceback" not in result.stderr


def test_missing_dataset_is_one_sentence(tmp_path):
    result = subprocess.run([sys.executable, "-m", "compression", "--data-dir", str(tmp_path), "evaluate",
                             "--model", "lenet300-mnist-full"], capture_output=True, text=True, timeout=120,
                            env={"COMPRESSION_LAB_CACHE": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 1
    assert "MNIST" in result.stderr and "Traceback" not in result.stderr


def test_sweep_writes_csv(tmp_path, capsys):
    out = tmp_path / "sweep.csv"
    assert main(["sweep", "--sparsity", "0,0.5", "--bits", "4,8", "--csv", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [(float(r["sparsity"]), int(r["bits"])) for r in rows] == [(0, 4), (0, 8), (0.5, 4), (0.5, 8)]
    api = pipeline.evaluate("mlp-digits", CompressionConfig(sparsity=0.5, bits=4), latency=False)
    assert float(rows[2]["accuracy"]) == api.accuracy


def test_models_lists_the_zoo(capsys):
    assert main(["models", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["mlp-digits"]["params"] == 50610 and rows["mlp-digits"]["accuracy"] >= 0.97
    assert rows["lenet300-mnist-full"]["accuracy"] is None


def test_distill_json(capsys):
    assert main(["distill", "--epochs", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["temperature"] == 4.0 and len(out["history"]) == 2 and 0 < out["accuracy"] <= 1


def test_unwritable_csv_fails_fast_with_one_line(tmp_path):
    result = run_cli("sweep", "--sparsity", "0.5", "--bits", "4", "--csv", str(tmp_path / "no" / "x.csv"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "x.csv" in result.stderr
