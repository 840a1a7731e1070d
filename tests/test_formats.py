"""The number-format views' data and figures (compression.formats, charts.format_grids / group_outlier),
and the CLI's bits-per-weight table, against hand computations (issue 16)."""
from __future__ import annotations

import json
import subprocess
import sys

import plotly.graph_objects as go
import torch

from compression import charts, formats, quantizers


def _w() -> torch.Tensor:
    w = torch.randn(8, 256, generator=torch.Generator().manual_seed(2)) * 0.05
    w[5, 70] = 0.8  # the outlier, in group 70 // g of row 5
    return w


def test_grids_are_the_levels_of_the_outliers_group_and_of_the_median_group():
    w = _w()
    d = formats.grids(w, 32)
    by = {f["name"]: f for f in d["formats"]}
    # INT4 symmetric, g = 32, float16 scale: the outlier's group's levels are k * fp16(0.8 / 7), k = -7..7
    s = torch.tensor(0.8 / 7).half().float()
    assert by["uniform"]["levels"] == sorted((torch.arange(-7, 8) * s).tolist())
    assert by["mxfp4"]["granularity"] == "per-group g=32" and by["nf4"]["granularity"] == "per-group g=64"
    # MXFP4: 0.8 = 1.6 * 2**-1 -> X = 2**(-1 - 2), top level 6 X = 0.75 < 0.8: the outlier saturates
    assert max(by["mxfp4"]["levels"]) == 0.75
    assert max(by["uniform"]["typical_levels"]) < 0.2 < max(by["uniform"]["levels"])
    assert d["max_abs"] == float(torch.tensor(0.8))


def test_outlier_groups_by_hand():
    w = _w()
    for g in (16, 128):
        o = formats.outlier_groups(w, g)
        assert (o["row"], o["column"]) == (5, 70)
        out = next(gr for gr in o["groups"] if gr["outlier"])
        assert (out["start"], out["end"]) == (70 // g * g, 70 // g * g + g)
        assert out["step"] == float(torch.tensor(0.8 / 7).half())
        assert o["outlier_step"] / o["median_step"] > 2
    # a larger group puts more ordinary weights under the outlier's coarse grid
    assert next(gr for gr in formats.outlier_groups(w, 128)["groups"] if gr["outlier"])["zeros"] > \
        next(gr for gr in formats.outlier_groups(w, 16)["groups"] if gr["outlier"])["zeros"]


def test_format_figures_are_what_validation_gives_and_follow_the_group_size():
    w = _w()
    figs = {g: (charts.format_grids(formats.grids(w, g)), charts.group_outlier(formats.outlier_groups(w, g)))
            for g in (16, 128)}
    for pair in figs.values():
        for fig in pair:
            fast = json.loads(fig.to_json())
            assert fast == json.loads(go.Figure(fig.to_dict(), skip_invalid=False).to_json())
            assert fig.layout.title.text
    assert "g = 16" in figs[16][1].layout.title.text and "g = 128" in figs[128][1].layout.title.text
    assert figs[16][0].to_json() != figs[128][0].to_json()  # INT4's and FP4's median grids differ


def test_table_bits_per_weight_are_the_hand_arithmetic():
    rows = {(r["format"], r["granularity"]): r for r in formats.table([torch.randn(256, 512)])}
    assert rows[("INT4", "per-group g=128")]["bits_per_weight"] == 4.125
    assert rows[("INT4 asym", "per-group g=128")]["bits_per_weight"] == 4.25
    assert rows[("MXFP4", "per-group g=32")]["bits_per_weight"] == 4.25
    assert rows[("NVFP4", "per-group g=16")]["bits_per_weight"] == 4.5 + 32 / (256 * 512)
    assert rows[("NF4", "per-group g=64")]["bits_per_weight"] == 4.5
    assert rows[("INT4", "per-group g=128")]["scales"] == "float16"
    assert rows[("MXFP4", "per-group g=32")]["scales"] == "e8m0"


def test_cli_formats_prints_the_table_and_refuses_a_bad_shape_in_one_line():
    out = subprocess.run([sys.executable, "-m", "compression", "formats", "--shape", "128x256"],
                         capture_output=True, text=True, check=True).stdout
    assert "INT4       per-group g=128         4.125" in out and "MXFP4      per-group g=32          4.250" in out
    bad = subprocess.run([sys.executable, "-m", "compression", "formats", "--shape", "12"], capture_output=True,
                         text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "--shape" in bad.stderr
    assert quantizers.GROUP_SIZES == (16, 32, 64, 128)
