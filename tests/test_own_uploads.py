"""Issue 15, uploads: an engineer's own models behave like zoo models.

Three own models (tests/own_models.py: a residual CNN with BatchNorm, an MLP with LayerNorm
and GELU, an nn.MultiheadAttention classifier) are uploaded as torch.export programs with
.npz test sets, and a torchvision ResNet-18 as a state dict. Rows pruning must cut channels
as a hand-sliced copy of the engineer's own eager module computes; unstructured pruning,
4 bits, sweeps and per-layer sensitivity must run on them from the API, the CLI (no
traceback) and the Trade-offs page.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from compression import downloads, measure, models, pipeline, sensitivity, source
from compression.config import CompressionConfig, ConfigError
from compression.layers import compressible as layers_of
from tests import own_models

pytest.importorskip("torch_pruning")
ROOT = Path(__file__).resolve().parent.parent
KINDS = ("rescnn", "normmlp", "attn")


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    """{kind: (eager model, .pt2 path, .npz path)}, and a cache of this module's own."""
    folder = tmp_path_factory.mktemp("own")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COMPRESSION_LAB_CACHE", str(folder / "cache"))
        yield {k: own_models.build(k, folder) for k in (*KINDS, "attn-only")}


@pytest.fixture(autouse=True)
def _cache(own):  # every test here sees the module's cache (set by `own`)
    yield


def _upload(own, kind: str) -> tuple[source.ModelSource, torch.Tensor, torch.Tensor]:
    _, program, npz = own[kind]
    src = source.upload(program, data_file=npz)
    ds = source.load(src).dataset
    return src, ds.x_test, ds.y_test


def _rows_by_l2(*weights: torch.Tensor, drop: int) -> torch.Tensor:
    """Kept row indices (sorted) after dropping the `drop` rows of lowest joint L2 norm (Li et al. 2017)."""
    score = sum(w.flatten(1).pow(2).sum(1) for w in weights).sqrt()
    return torch.argsort(score, stable=True)[drop:].sort().values


def _sliced_rescnn(m: own_models.ResCNN) -> nn.Module:
    """The residual CNN with half its channels cut by hand: the residual group (stem and conv2,
    summed by the add) loses its weakest 8, conv1's group its weakest 8; BatchNorms follow."""
    a = _rows_by_l2(m.stem.weight, m.conv2.weight, drop=8)
    b = _rows_by_l2(m.conv1.weight, drop=8)
    small = own_models.ResCNN(8).eval()
    with torch.no_grad():
        small.stem.weight.copy_(m.stem.weight[a])
        small.conv1.weight.copy_(m.conv1.weight[b][:, a])
        small.conv2.weight.copy_(m.conv2.weight[a][:, b])
        for bn, src, keep in ((small.bn0, m.bn0, a), (small.bn1, m.bn1, b), (small.bn2, m.bn2, a)):
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(bn, name).copy_(getattr(src, name)[keep])
        cols = (a[:, None] * 16 + torch.arange(16)).flatten()  # flatten: channel-major, 4x4 each
        small.fc.weight.copy_(m.fc.weight[:, cols])
        small.fc.bias.copy_(m.fc.bias)
    return small


def _sliced_normmlp(m: own_models.NormMLP) -> nn.Module:
    """The LayerNorm MLP with half of each hidden layer cut by hand; each LayerNorm then
    normalises over the features that are left (what a smaller nn.LayerNorm does)."""
    l1, n1, l2, n2, l3 = m.net[1], m.net[2], m.net[4], m.net[5], m.net[7]
    k1, k2 = _rows_by_l2(l1.weight, drop=32), _rows_by_l2(l2.weight, drop=16)

    def linear(w, b):
        layer = nn.Linear(w.shape[1], w.shape[0])
        layer.weight, layer.bias = nn.Parameter(w.clone()), nn.Parameter(b.clone())
        return layer

    def norm(n, k):
        ln = nn.LayerNorm(len(k))
        ln.weight, ln.bias = nn.Parameter(n.weight[k].clone()), nn.Parameter(n.bias[k].clone())
        return ln

    with torch.no_grad():
        return nn.Sequential(nn.Flatten(), linear(l1.weight[k1], l1.bias[k1]), norm(n1, k1), nn.GELU(),
                             linear(l2.weight[k2][:, k1], l2.bias[k2]), norm(n2, k2), nn.GELU(),
                             linear(l3.weight[:, k2], l3.bias)).eval()


def _sliced_attn(m: own_models.AttnNet) -> nn.Module:
    """The attention classifier with half its head's hidden units cut by hand; the embedding width
    (summed into the residual and projected by attention's in_proj) keeps all 16."""
    import copy

    small = copy.deepcopy(m)
    k = _rows_by_l2(m.head[0].weight, drop=16)
    with torch.no_grad():
        first, last = nn.Linear(16, 16), nn.Linear(16, 10)
        first.weight.copy_(m.head[0].weight[k])
        first.bias.copy_(m.head[0].bias[k])
        last.weight.copy_(m.head[2].weight[:, k])
        last.bias.copy_(m.head[2].bias)
    small.head = nn.Sequential(first, nn.ReLU(), last)
    return small.eval()


HAND_SLICED = {"rescnn": _sliced_rescnn, "normmlp": _sliced_normmlp, "attn": _sliced_attn}


@pytest.mark.parametrize("kind", KINDS)
def test_rows_pruning_of_an_upload_equals_the_engineers_model_sliced_by_hand(own, kind):
    eager = own[kind][0]
    src, x, y = _upload(own, kind)
    r = pipeline.evaluate(src, CompressionConfig(structure="rows", sparsity=0.5), latency=False)
    small = HAND_SLICED[kind](eager)
    assert r.accuracy == measure.accuracy(small, x, y)
    assert r.accuracy_baseline == measure.accuracy(eager, x, y)
    assert r.macs_effective < r.macs_dense
    if kind != "attn":  # eager attention calls out_proj functionally: no module hook counts it
        # the MACs counted are those of the smaller model that really runs
        assert r.macs_effective == sum(s.macs for s in measure.layer_shapes(small, own_models.SHAPE))


def test_an_attention_graph_with_nothing_to_slice_is_refused_in_one_sentence(own):
    src, _, _ = _upload(own, "attn-only")
    with pytest.raises(ConfigError, match="rows pruning cannot slice this model") as e:
        pipeline.evaluate(src, CompressionConfig(structure="rows", sparsity=0.5), latency=False)
    assert "\n" not in str(e.value)
    # the other structures still work on it
    r = pipeline.evaluate(src, CompressionConfig(structure="2:4", sparsity=0.5), latency=False)
    assert r.accuracy is not None


@pytest.mark.parametrize("kind", KINDS)
def test_unstructured_and_4_bits_on_an_upload(own, kind):
    eager = own[kind][0]
    src, x, y = _upload(own, kind)
    r = pipeline.evaluate(src, CompressionConfig(sparsity=0.5), latency=False)
    assert r.accuracy is not None and abs(r.sparsity - 0.5) < 0.01
    # global magnitude pruning by PyTorch's own torch.nn.utils.prune on the eager module, over
    # every Linear/Conv2d weight and nn.MultiheadAttention's packed in_proj_weight
    import copy

    from torch.nn.utils import prune as torch_prune
    ref = copy.deepcopy(eager)
    params = [(m, "weight") for m in ref.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    params += [(m, "in_proj_weight") for m in ref.modules() if isinstance(m, nn.MultiheadAttention)]
    torch_prune.global_unstructured(params, torch_prune.L1Unstructured, amount=0.5)
    assert r.accuracy == measure.accuracy(ref, x, y)
    q = pipeline.evaluate(src, CompressionConfig(bits=4), latency=False)
    assert q.accuracy is not None and q.compression_ratio > 4
    assert all(layer.bits == 4 for layer in q.layers)


def test_an_uploaded_attention_lists_compresses_and_counts_its_in_projection(own):
    # issue 15: the exported program keeps in_proj_weight on a plain module its graph reads; it was
    # counted in the size but neither compressed nor listed, and its MACs were missing
    eager = own["attn"][0].eval()
    src, _, _ = _upload(own, "attn")
    loaded = source.load(src).model
    assert sorted(layers_of(loaded)) == sorted(layers_of(eager))  # the user's own names
    shape = tuple(source.load(src).input_shape)
    assert [(s.name, s.macs) for s in measure.layer_shapes(loaded, shape)] == \
        [(s.name, s.macs) for s in measure.layer_shapes(eager, shape)]
    q = pipeline.evaluate(src, CompressionConfig(bits=4), latency=False)
    in_proj = next(layer for layer in q.layers if layer.name == "attn.in_proj")
    assert in_proj.bits == 4
    w = downloads.compressed(src, CompressionConfig(bits=4)).model.get_submodule("attn").in_proj_weight
    assert max(len(torch.unique(row)) for row in w) <= 16  # on the 4-bit grid


def test_a_state_dict_upload_of_resnet18_prunes_rows_through_its_batchnorms(own, tmp_path):
    from compression import structure

    model = source.build_arch("resnet18", seed=3)
    path = own_models.state_dict_upload(model, tmp_path, "resnet18")
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(24, 3, 32, 32, generator=gen)
    y = torch.randint(0, 1000, (24,), generator=gen)
    np.savez(tmp_path / "rgb.npz", x=x.numpy(), y=y.numpy())
    src = source.upload(path, arch="resnet18", data_file=tmp_path / "rgb.npz")
    ds = source.load(src).dataset
    r = pipeline.evaluate(src, CompressionConfig(structure="rows", sparsity=0.5), latency=False)
    small = structure.prune_channels(model, (3, 32, 32), 0.5)  # Torch-Pruning on torchvision's module
    assert r.accuracy == measure.accuracy(small, ds.x_test, ds.y_test)
    assert r.macs_effective == sum(s.macs for s in measure.layer_shapes(small, (3, 32, 32)))


def test_sensitivity_and_mixed_precision_take_an_upload(own):
    eager = own["normmlp"][0]
    src, x, y = _upload(own, "normmlp")
    sens = sensitivity.sensitivity(str(src), sparsities=(0.0, 0.5), bits=(8, 4))
    names = list(models.layers(eager))
    assert sens["layers"] == names and sens["model"] == str(src)
    assert sens["baseline"] == measure.accuracy(eager, x, y) and sens["n_test"] == len(y)
    # a layer at 0 % sparsity is the untouched model
    assert all(sens["sparsity"]["accuracy"][n][0] == sens["baseline"] for n in names)
    per_layer, other = sensitivity.layer_bytes(str(src), (4, 8))
    budget = other + sum(s[4] for s in per_layer.values()) + 1
    mixed = sensitivity.mixed_precision(str(src), budget, sens=sens, bits=(4, 8))
    assert set(dict(mixed.layer_bits)) == set(names)


def test_sensitivity_by_rows_on_a_coupled_graph_prunes_each_layer_unstructured(own):
    # one layer of a residual graph cannot lose rows alone (plan.make refuses it): the curves
    # prune weight by weight, and the result's config says so
    src, _, _ = _upload(own, "rescnn")
    sens = sensitivity.sensitivity(str(src), CompressionConfig(structure="rows"), sparsities=(0.0, 0.9), bits=())
    assert sens["config"].get("structure", "unstructured") == "unstructured"
    assert any(acc[1] != acc[0] for acc in sens["sparsity"]["accuracy"].values())  # 90 % pruned changes something


def test_sensitivity_without_test_data_is_one_sentence(own):
    src = source.upload(own["normmlp"][1])
    with pytest.raises(ValueError, match="no test data") as e:
        sensitivity.sensitivity(str(src), sparsities=(0.5,), bits=())
    assert "\n" not in str(e.value)


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "compression", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def cli_env(own):
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


@pytest.mark.parametrize("kind", KINDS)
def test_cli_evaluate_sweep_and_sensitivity_take_model_file(own, cli_env, kind):
    _, program, npz = own[kind]
    files = ["--model-file", str(program), "--data", str(npz)]
    ev = _cli("evaluate", *files, "--structure", "rows", "--sparsity", "0.5", "--json", env=cli_env)
    assert ev.returncode == 0 and "Traceback" not in ev.stderr, ev.stderr[-2000:]
    src, _, _ = _upload(own, kind)
    api = pipeline.evaluate(src, CompressionConfig(structure="rows", sparsity=0.5), latency=False)
    assert json.loads(ev.stdout)["accuracy"] == api.accuracy

    # one sweep covers rows, unstructured and 4 bits
    sw = _cli("sweep", *files, "--sparsity", "0.5", "--bits", "4", "--grid", "structure=unstructured,rows",
              env=cli_env)
    assert sw.returncode == 0 and "Traceback" not in sw.stderr, sw.stderr[-2000:]
    lines = [ln.split() for ln in sw.stdout.splitlines()[1:]]
    assert [ln[:3] for ln in lines] == [["50%", "4", "unstructured"], ["50%", "4", "rows"]]

    se = _cli("sensitivity", *files, "--sparsity", "0.5", "--bits", "4", "--json", env=cli_env)
    assert se.returncode == 0 and "Traceback" not in se.stderr, se.stderr[-2000:]
    result = json.loads(se.stdout)
    assert result["model"] == str(src) and result["layers"] == list(models.layers(source.load(src).model))


def test_cli_refuses_an_unsliceable_graph_with_one_line_and_exit_2(own, cli_env):
    _, program, npz = own["attn-only"]
    p = _cli("evaluate", "--model-file", str(program), "--data", str(npz), "--structure", "rows",
             "--sparsity", "0.5", env=cli_env)
    assert p.returncode == 2, p.stderr[-2000:]
    assert len(p.stderr.strip().splitlines()) == 1 and "rows pruning cannot slice" in p.stderr


def test_cli_sensitivity_arch_needs_model_file_and_data_names_a_missing_file(cli_env):
    p = _cli("sensitivity", "--arch", "cnn-digits", env=cli_env)
    assert p.returncode == 2 and "--model-file" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    # --data goes with a zoo --model too (issue 17: the zoo model scored on the user's data)
    p = _cli("sensitivity", "--data", "x.npz", env=cli_env)
    assert p.returncode == 2 and "x.npz does not exist" in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_tradeoffs_page_measures_sensitivity_and_mixed_precision_of_an_upload(own):
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    src, _, _ = _upload(own, "normmlp")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.query_params["model"] = str(src)
    at.run()
    at.switch_page("pages/tradeoffs.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not [w.value for w in at.warning if "unknown model" in w.value]
    at.button(key="sens_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    titles = [c.proto.spec for c in at.get("plotly_chart")]
    assert sum("sensitiv" in t.lower() or "layer" in t.lower() for t in titles) >= 2
    cards = {m.label: m.value for m in at.metric}
    assert "Mixed precision (simulated)" in cards and cards["Mixed precision (simulated)"].endswith("%")
