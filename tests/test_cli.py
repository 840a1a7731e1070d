"""The CLI: same numbers as the API, JSON with DESIGN's keys, one-line errors with exit status 2."""
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from compression import pipeline
from compression import sweep as sweep_module
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
    (["distill", "--seed", "1e20"], "--seed"),
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


@pytest.mark.parametrize("args,flag", [
    (["distill", "--temperature", "1e308"], "--temperature"),
    (["distill", "--temperature", "0.01"], "--temperature"),
    (["distill", "--alpha", "1.5"], "--alpha"),
    (["distill", "--seed", "-1"], "--seed"),
    (["evaluate", "--seed", "1e20"], "--seed"),
    (["evaluate", "--seed", str(2**31)], "--seed"),
    (["evaluate", "--prune-steps", "9" * 30], "--prune-steps"),
    (["evaluate", "--sparsity", "1.5"], "--sparsity"),
    (["evaluate", "--sram-kb", "0.5"], "--sram-kb"),
    (["evaluate", "--sram-kb", "inf"], "--sram-kb"),
    (["evaluate", "--reg-strength", "nan"], "--reg-strength"),
    (["evaluate", "--layer-bits", "fc1=7x"], "--layer-bits"),
    (["evaluate", "--layer-sparsity", "fc1=2"], "--layer-sparsity"),
    (["evaluate", "--order", "random"], "--order"),
    (["evaluate", "--regularize", "l3"], "--regularize"),
    (["evaluate", "--method", "optq"], "--method"),
    (["evaluate", "--smooth-alpha", "1.5"], "--smooth-alpha"),
    (["evaluate", "--max-drop", "-1"], "--max-drop"),
    (["sensitivity", "--max-drop", "nan"], "--max-drop"),
])
def test_every_value_is_bounded_and_the_error_names_the_flag(capsys, args, flag):
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"argument {flag}" in err[0]


def test_every_config_field_has_its_flag():
    from compression import config as cfg
    from compression.__main__ import build_parser
    evaluate = build_parser()._subparsers._group_actions[0].choices["evaluate"]
    flags = {o for a in evaluate._actions for o in a.option_strings}
    assert {"--" + f.replace("_", "-") for f in cfg.FIELDS} <= flags
    assert {"--sram-kb", "--qat", "--regularize", "--reg-strength", "--order", "--huffman", "--layer-bits",
            "--layer-sparsity"} <= flags


@pytest.mark.parametrize("kb, pj, fp32_in", [("8", 5.0, "dram"), ("32", 10.0, "dram"), ("1024", 50.0, "sram")])
def test_sram_kb_flag_sets_the_energy_assumption(capsys, kb, pj, fp32_in):
    assert main(["evaluate", "--sram-kb", kb, "--json"]) == 0
    a = json.loads(capsys.readouterr().out)["energy_assumptions"]
    assert a["sram_pj_per_32bit"] == pytest.approx(pj, rel=0.01) and a["baseline_weights_in"] == fp32_in


def test_failed_sweep_leaves_an_existing_csv_untouched(tmp_path, monkeypatch, capsys):
    out = tmp_path / "sweep.csv"
    out.write_text("earlier results\n")

    def boom(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(sweep_module, "sweep", boom)
    assert main(["sweep", "--sparsity", "0.5", "--bits", "4", "--csv", str(out)]) == 130
    assert out.read_text() == "earlier results\n"
    assert [p.name for p in tmp_path.iterdir()] == ["sweep.csv"]  # no temporary file left behind
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["python -m compression sweep: interrupted"]


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(pipeline, "evaluate", interrupted)
    assert main(["evaluate"]) == 130
    assert capsys.readouterr().err.strip().splitlines() == ["python -m compression evaluate: interrupted"]


@pytest.mark.parametrize("legacy", [True, False])
def test_pickle_checkpoint_is_one_line_and_runs_no_code(tmp_path, monkeypatch, capsys, legacy):
    import torch

    from compression import models
    ran = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(ran), "w"))
    path = tmp_path / "mlp-small-digits.pt"
    torch.save({"fc1.weight": Evil()}, path, _use_new_zipfile_serialization=not legacy)
    monkeypatch.setattr(models, "checkpoint_path", lambda model_id: path)
    assert main(["evaluate", "--model", "mlp-small-digits"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot be read" in err[0] and "train --model mlp-small-digits" in err[0]
    assert not ran.exists()  # weights_only: the pickle's code never ran


def test_failed_report_leaves_an_existing_report_whole(tmp_path, monkeypatch, capsys):
    """`report --html` used to open (empty) the file before the work: a later error left 0 bytes."""
    out = tmp_path / "r.html"
    out.write_text("<html>earlier report</html>")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(pipeline, "evaluate", interrupted)
    assert main(["report", "--html", str(out)]) == 130
    assert out.read_text() == "<html>earlier report</html>"
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]  # no temporary file left behind


def test_report_replaces_the_file_when_done(tmp_path, capsys):
    out = tmp_path / "r.html"
    out.write_text("old")
    mode = out.stat().st_mode & 0o777
    assert main(["report", "--html", str(out), "--sparsity", "0.5"]) == 0
    assert out.read_text().lstrip().lower().startswith("<!doctype html")
    assert out.stat().st_mode & 0o777 == mode  # not the temporary file's private 0600
    # no temporary file left beside it (the test's cache folder holds the history the scrubber's grid is kept in)
    assert [p.name for p in tmp_path.iterdir() if p.name != "cache"] == ["r.html"]


@pytest.mark.parametrize("command", [["sweep", "--sparsity", "0.5", "--bits", "4", "--csv"], ["report", "--html"]])
def test_output_that_is_a_folder_fails_before_the_work_naming_it(tmp_path, monkeypatch, capsys, command):
    def must_not_run(*args, **kwargs):
        raise AssertionError("the work started before the output path was checked")
    monkeypatch.setattr(pipeline, "evaluate", must_not_run)
    monkeypatch.setattr(sweep_module, "sweep", must_not_run)
    folder = tmp_path / "out"
    folder.mkdir()
    assert main([*command, str(folder)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(folder) in err[0] and "folder" in err[0] and ".tmp" not in err[0]
    assert list(folder.iterdir()) == []


def _children(pid: int) -> list[int]:
    """Child process ids of `pid` (Linux /proc; empty elsewhere)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads child processes from /proc")
def test_ctrl_c_on_a_process_pool_sweep_is_one_line():
    """The terminal's Ctrl-C reaches the whole process group: each worker printed its traceback (65 lines)."""
    p = subprocess.Popen([sys.executable, "-m", "compression", "sweep", "--processes", "2",
                          "--sparsity", "0.5,0.6,0.7,0.8", "--bits", "4,8", "--finetune-epochs", "5"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(_children(p.pid)) < 2 and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # polling for the workers to exist, not a timing assumption
        assert p.poll() is None, "the sweep ended before it could be interrupted"
        os.killpg(p.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        _, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode == 130
    assert err.strip().splitlines() == ["python -m compression sweep: interrupted"]


def test_method_words_reach_the_config(capsys):
    assert main(["evaluate", "--model", "mlp-digits", "--bits", "3", "--granularity", "group", "--group-size", "16",
                 "--method", "gptq", "--criterion", "wanda", "--sparsity", "0.5", "--act-bits", "8",
                 "--smooth-alpha", "0.5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["config"]["method"], out["config"]["criterion"], out["config"]["smooth_alpha"]) == ("gptq", "wanda", 0.5)
    assert main(["sensitivity", "--model", "mlp-digits", "--max-drop", "1.0", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in r["layers"]] == ["fc1", "fc2", "fc3"]


def test_granularity_group_size_and_format_words_and_their_bits_per_weight(tmp_path):
    """--granularity group --group-size 128 and --quantizer mxfp4 (issue 16): bits per weight incl. scales."""
    def run(*args):
        return subprocess.run([sys.executable, "-m", "compression", "evaluate", "--model", "mlp-digits", *args,
                               "--json"], capture_output=True, text=True)
    r = run("--bits", "4", "--granularity", "group", "--group-size", "32")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["config"]["granularity"] == "group" and out["config"]["group_size"] == 32
    # mlp-digits' fc1 has 64 inputs: two groups of 32 per row, one float16 scale each
    assert out["layers"][0]["bits_per_weight"] == 4 + 16 / 32
    assert out["layers"][0]["granularity"] == "per-group g=32"
    mx = json.loads(run("--quantizer", "mxfp4").stdout)  # no --bits: the format's own 4 bits
    assert mx["layers"][0]["bits_per_weight"] == 4.25 and mx["layers"][0]["label"] == "MXFP4"
    old = json.loads(run("--bits", "4", "--per-channel").stdout)
    assert old["layers"][0]["granularity"] == "per-channel"
    for bad in (("--granularity", "rows"), ("--group-size", "100"), ("--quantizer", "fp6")):
        r = run(*bad)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and bad[0] in r.stderr, r.stderr
