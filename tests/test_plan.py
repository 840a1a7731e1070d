"""The per-layer plan: one decision per layer, read by every consumer (issue 14 items 1, 2, 7; issue 15 attention)."""
from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from compression import charts, downloads, export, layers, models, pipeline, plan, quantizers, source
from compression.config import PRESETS, CompressionConfig

MODEL = "mlp-digits"

# One config per quantizer record (binary is 1 bit whatever the quantizer; float is pruning only).
RECORD_CONFIGS = {
    "uniform": CompressionConfig(sparsity=0.9, bits=4),
    "kmeans": CompressionConfig(sparsity=0.9, bits=4, quantizer="kmeans"),
    "pow2": CompressionConfig(sparsity=0.5, bits=4, quantizer="pow2", per_channel=True),
    "inq": CompressionConfig(sparsity=0.5, bits=4, quantizer="inq", per_channel=True),
    "ternary": CompressionConfig(sparsity=0.5, bits=2, quantizer="ternary", per_channel=True),
    "binary": CompressionConfig(sparsity=0.5, bits=1),
    "float": CompressionConfig(sparsity=0.8),
    "uniform-g32": CompressionConfig(sparsity=0.5, bits=4, granularity="group", group_size=32),
    "nf4": CompressionConfig(sparsity=0.5, bits=4, quantizer="nf4"),
    "fp8-e4m3": CompressionConfig(bits=8, quantizer="fp8-e4m3", granularity="group", group_size=32),
    "fp8-e5m2": CompressionConfig(sparsity=0.3, bits=8, quantizer="fp8-e5m2", per_channel=True),
    "fp4-e2m1": CompressionConfig(bits=4, quantizer="fp4-e2m1", granularity="group", group_size=16),
    "mxfp4": CompressionConfig(sparsity=0.9, bits=4, quantizer="mxfp4"),
    "nvfp4": CompressionConfig(sparsity=0.5, bits=4, quantizer="nvfp4"),
}

# Methods that divide a per-input-channel s back out (issue 16): the file stores s beside the codes.
METHOD_CONFIGS = {
    "awq": CompressionConfig(bits=4, per_channel=True, method="awq"),
    "awq-nf4-pruned": CompressionConfig(sparsity=0.5, bits=4, quantizer="nf4", method="awq"),
    "awq-g32": CompressionConfig(bits=3, granularity="group", group_size=32, method="awq"),
    "smoothquant": CompressionConfig(bits=8, act_bits=8, per_channel=True, smooth_alpha=0.5),
    "smoothquant-gptq": CompressionConfig(bits=4, act_bits=8, per_channel=True, smooth_alpha=0.5, method="gptq"),
    "awq+smoothquant": CompressionConfig(bits=4, act_bits=8, per_channel=True, smooth_alpha=0.5, method="awq"),
}


def test_the_configs_cover_every_quantizer_record():
    base = models.load(MODEL)
    used = {lp.quantizer.name for c in RECORD_CONFIGS.values() for lp in plan.make(base, c).layers.values()}
    assert used == set(quantizers.RECORDS)


@pytest.mark.parametrize("huffman", [False, True], ids=["fixed-width", "huffman"])
@pytest.mark.parametrize("record", list(RECORD_CONFIGS) + list(METHOD_CONFIGS))
def test_download_is_the_counted_file(record, huffman, monkeypatch):
    # Before the plan the download wrote the fixed-width file while size_bytes['file'] counted
    # the Huffman-coded one (8,041 B served vs 6,957 B counted at sparsity 0.9, 4 bits, huffman).
    # AWQ's and SmoothQuant's files re-rounded Q(W·s)/s onto the grid of W·s before s was stored.
    cfg = {**RECORD_CONFIGS, **METHOD_CONFIGS}[record].replace(huffman=huffman)
    written: list[bytes] = []
    real = downloads.file_of
    monkeypatch.setattr(downloads, "file_of", lambda *a: written.append(real(*a)) or written[-1])
    report = pipeline.evaluate(MODEL, cfg, latency=False)
    served = pipeline.file_bytes(MODEL, cfg)
    assert served == written[0]  # byte for byte the file evaluate counted
    assert len(served) == report.size_bytes["file"]
    assert served.startswith(export.MAGIC_HUFFMAN if huffman and record != "float" else export.MAGIC)
    assert (record in METHOD_CONFIGS) == any(q.codec.column_scales for q in downloads.compressed(MODEL, cfg).quant.values())
    # and it decodes to the weights that were scored
    model = downloads.compressed(MODEL, cfg).model
    state = export.from_bytes(served)
    for name, tensor in model.state_dict().items():
        assert torch.equal(state[name], tensor), (record, name)


def _onnx_weight_shapes(blob: bytes) -> list[tuple[int, ...]]:
    graph = onnx.load_model_from_string(blob).graph
    return sorted(tuple(init.dims) for init in graph.initializer if len(init.dims) == 2)


def test_onnx_download_is_the_timed_model_with_per_layer_row_sparsity():
    # Rows pruned through per-layer sparsity only (global sparsity 0): the file held the
    # unsliced weights while the card said the rows were sliced out.
    cfg = CompressionConfig(structure="rows", layer_sparsity="fc1=0.5")
    report = pipeline.evaluate(MODEL, cfg, latency=False)
    assert report.layers[0].sliced
    blob, kind = pipeline.onnx_bytes(MODEL, cfg)
    assert kind == report.onnx_kind == "fp32"
    # fc1 keeps 150 of its 300 rows, and fc2 reads only those 150 inputs
    assert _onnx_weight_shapes(blob) == sorted([(150, 64), (100, 150), (10, 100)])


def test_per_layer_bits_make_accuracy_simulated():
    r = pipeline.evaluate(MODEL, CompressionConfig(layer_bits="fc1=2"), latency=False)
    assert r.kinds["accuracy"] == "simulated"
    assert [lr.label for lr in r.layers] == ["2-bit", "float32", "float32"]
    assert r.onnx_kind == pipeline.onnx_bytes(MODEL, CompressionConfig(layer_bits="fc1=2"))[1] == "int8"
    plain = pipeline.evaluate(MODEL, CompressionConfig(sparsity=0.5), latency=False)
    assert plain.kinds["accuracy"] == "measured"  # pruned, nothing simulated: the model as it runs


def test_kmeans_hover_names_the_granularity_that_ran():
    # k-means shares one table per layer: per_channel asked for, per tensor ran
    r = pipeline.evaluate(MODEL, CompressionConfig(bits=4, quantizer="kmeans", per_channel=True), latency=False)
    fig = charts.quant_error_bars(r)
    text = " ".join(fig.data[0].customdata) + fig.layout.title.subtitle.text
    assert "per-tensor" in text and "per-channel" not in text
    uniform = pipeline.evaluate(MODEL, CompressionConfig(bits=4, per_channel=True), latency=False)
    assert all("per-channel" in h for h in charts.quant_error_bars(uniform).data[0].customdata)


@pytest.mark.parametrize("name", ["qat-2bit", "ternary", "prune-90", "deep-compression"])
def test_presets_that_fine_tune_say_so_everywhere(name):
    from ui import backend, state
    config = PRESETS[name]
    assert config.trains
    assert backend.needs_training(source.parse(MODEL), config)
    assert state.training_seconds(config) > 0


def test_finetune_epochs_without_pruning_fine_tune_then_quantize():
    # --finetune-epochs N with neither pruning, QAT nor a penalty did nothing at all
    base = models.load(MODEL)
    from compression import data
    ds = data.load("digits")
    cfg = CompressionConfig(bits=4, finetune_epochs=1)
    assert cfg.trains
    _, _, quant = pipeline.compress(base, ds, cfg)
    before = quant["fc1"].before  # the weights the quantizer saw: fine-tuned, not the checkpoint's
    assert not torch.equal(before, base.fc1.weight.detach())
    _, _, untrained = pipeline.compress(base, ds, cfg.replace(finetune_epochs=0))
    assert torch.equal(untrained["fc1"].before, base.fc1.weight.detach())


def test_sweep_of_an_architecture_without_accuracy_runs():
    # `sweep --model mobilenet_v2` ended in a TypeError: accuracy_ci95 is None without weights
    from compression import sweep
    row = sweep.evaluate_row("resnet18", CompressionConfig(sparsity=0.5, bits=4), ["sparsity", "bits"])
    assert row["accuracy"] is None and row["accuracy_lo"] is None and row["size_bytes"] > 0 and row["energy_pj"] > 0


# --- nn.MultiheadAttention (issue 15) -------------------------------------------------------


class AttentionNet(nn.Module):
    """Tokens -> embedding -> self-attention -> LayerNorm -> classifier, as a user's small attention block."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Linear(8, 16)
        self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
        self.norm = nn.LayerNorm(16)
        self.head = nn.Linear(4 * 16, 3)
        with torch.no_grad():  # PyTorch starts attention biases at zero: make every weight non-zero
            for p in self.parameters():
                p.add_(0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x)
        a, _ = self.attn(h, h, h, need_weights=False)
        return self.head(self.norm(h + a).flatten(1))


def _attention_report(config: CompressionConfig) -> pipeline.Report:
    ds = pipeline.inputs_only((4, 8), "n/a (no test data)", "attention")
    return pipeline.evaluate_model(AttentionNet().eval(), ds, config, latency=False)


def test_attention_in_projection_is_a_compressible_layer():
    found = layers.compressible(AttentionNet())
    assert list(found) == ["embed", "attn.in_proj", "attn.out_proj", "head"]
    assert found["attn.in_proj"].param == "attn.in_proj_weight" and found["attn.in_proj"].weight.shape == (48, 16)
    r = _attention_report(CompressionConfig(bits=4))
    assert [lr.name for lr in r.layers] == ["embed", "attn.in_proj", "attn.out_proj", "head"]
    model, _, quant = pipeline.compress(AttentionNet().eval(), pipeline.inputs_only((4, 8), "", "a"),
                                        CompressionConfig(bits=4))
    assert "attn.in_proj" in quant
    assert np.unique(model.attn.in_proj_weight.detach().numpy()).size <= 16  # 4-bit grid
    # MACs by hand: 4 tokens x (3 x 16 x 16) for q, k, v, and 4 x 16 x 16 for the output projection
    macs = {lr.name: lr.macs for lr in r.layers}
    assert macs["attn.in_proj"] == 4 * 3 * 16 * 16 and macs["attn.out_proj"] == 4 * 16 * 16
    # the file stores it as a layer and reads back the same parameters
    state = export.from_bytes(downloads.file_of(model, plan.make(model, CompressionConfig(bits=4)).store(
        layers.compressible(model), quant)))
    for name, tensor in model.state_dict().items():
        assert torch.equal(state[name], tensor), name


def test_uncompressed_attention_model_saves_no_energy():
    # "Energy 1.4x less" with identical bits: in_proj (and LayerNorm) weights were charged to the
    # baseline's memory only
    r = _attention_report(CompressionConfig())
    assert r.energy_factors == {"compute": 1.0, "memory": 1.0, "placement": 1.0}
    assert r.energy_pj == r.energy_baseline_pj
    assert r.size_bytes["compressed"] == r.size_bytes["fp32"]


def test_attention_layers_can_be_pruned_by_rows_and_sparsity():
    r = _attention_report(CompressionConfig(sparsity=0.5, layer_sparsity="attn.in_proj=0.25"))
    by_name = {lr.name: lr for lr in r.layers}
    w = by_name["attn.in_proj"]
    assert w.nonzero - 48 == round(0.75 * 48 * 16)  # its own sparsity (+ 48 biases, non-zero)


# --- python -m compression export (item 7) --------------------------------------------------


def test_cli_export_writes_the_bytes_the_page_serves(tmp_path):
    from ui import downloads as page_downloads
    from ui.state import config_items
    cfg = CompressionConfig(sparsity=0.9, bits=4, huffman=True)
    out, out_onnx = tmp_path / "m.clab", tmp_path / "m.onnx"
    done = subprocess.run([sys.executable, "-m", "compression", "export", "--model", MODEL, "--sparsity", "0.9",
                           "--bits", "4", "--huffman", "--file", str(out), "--onnx", str(out_onnx)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    items = config_items(cfg)
    assert out.read_bytes() == page_downloads.model_file(source.parse(MODEL), items)
    assert out_onnx.read_bytes() == page_downloads.onnx_file(source.parse(MODEL), items)
    onnx.checker.check_model(onnx.load(io.BytesIO(out_onnx.read_bytes())))


def test_cli_export_without_an_output_is_one_line(capsys):
    from compression.__main__ import main
    assert main(["export", "--bits", "4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--file" in err[0]


def test_concurrent_evaluates_share_the_zoo_model_without_crosstalk():
    # evaluate reads the process's one copy of a zoo model; tracing hooks go on its own copy,
    # so two sessions' threads at once get exactly the numbers each gets alone
    from concurrent.futures import ThreadPoolExecutor
    configs = [CompressionConfig(sparsity=0.5, bits=8), CompressionConfig(bits=4, quantizer="kmeans")] * 3
    alone = [pipeline.evaluate(MODEL, c, latency=False) for c in configs]
    with ThreadPoolExecutor(max_workers=3) as pool:
        together = list(pool.map(lambda c: pipeline.evaluate(MODEL, c, latency=False), configs))
    for a, b in zip(alone, together):
        assert (a.macs_dense, a.energy_pj, a.size_bytes, a.accuracy) == (b.macs_dense, b.energy_pj, b.size_bytes,
                                                                          b.accuracy)


def test_attention_inputs_are_quantized_with_the_activations():
    # the plan charges attention's in-projection at act_bits: its q, k, v inputs are quantized too
    from compression import quantize
    net = AttentionNet().eval()
    x = torch.randn(16, 4, 8, generator=torch.Generator().manual_seed(0))
    ranges = quantize.calibrate_activations(net, x)
    assert set(ranges) == {"embed", "attn", "head"}  # out_proj runs inside attention's forward
    lo, hi = ranges["attn"]
    seen = []
    quantize.quantize_activations(net, ranges, 4)
    net.attn.register_forward_pre_hook(lambda m, args: seen.append(args[0]))  # after the quantizing hook
    net(x)
    levels = torch.unique(seen[0])
    step = (hi - lo) / 15  # a 4-bit grid over the calibrated range (its zero point rounds it by < 1 step)
    assert len(levels) <= 16 and float(levels.min()) >= lo - step and float(levels.max()) <= hi + step
    assert torch.allclose(torch.diff(levels), torch.full((len(levels) - 1,), step), rtol=1e-3)


def test_layer_sparsity_by_rows_on_a_coupled_graph_is_refused_in_one_sentence():
    # A residual / BatchNorm graph prunes rows by coupled channel groups at the one global
    # sparsity: a layer's own rows sparsity pruned nothing at all (global 0), silently.
    from compression.config import ConfigError
    from tests import own_models
    model = own_models.ResCNN()
    with pytest.raises(ConfigError, match="Sequential") as e:
        plan.make(model, CompressionConfig(structure="rows", layer_sparsity="conv1=0.5"))
    assert "\n" not in str(e.value) and "conv1" in str(e.value)
    # the same override unstructured, and rows at one global sparsity, still run there
    assert plan.make(model, CompressionConfig(layer_sparsity="conv1=0.5")).layers["conv1"].sparsity == 0.5
    assert plan.make(model, CompressionConfig(structure="rows", sparsity=0.5)).masks_by_graph
