"""Deep Compression reproduction: the paper's side read from its table, ours measured per stage."""
import csv

import pytest

from compression import reproduce
from compression.config import CompressionConfig


def test_paper_side_is_the_reference_table():
    rows = {r["model"]: r for r in csv.DictReader(reproduce.REFERENCES.open())}
    paper = reproduce.paper_rows("lenet300-mnist")
    stages = paper["stages"]
    assert stages["huffman"]["ratio"] == float(rows["LeNet-300-100"]["compression_ratio"]) == 40
    assert stages["huffman"]["error_pct"] == float(rows["LeNet-300-100"]["error_compressed_pct"])
    assert stages["pruned"]["ratio"] == 12 and stages["quantized"]["ratio"] == 32  # Table 1's stages
    assert stages["pruned"]["error_pct"] == float(rows["LeNet-300-100 (pruning only)"]["error_compressed_pct"])
    assert paper["error_reference_pct"] == 1.64 and "arXiv:1510.00149" in stages["huffman"]["source"]
    assert reproduce.paper_rows("lenet5-mnist")["stages"]["quantized"]["ratio"] == 33
    with pytest.raises(ValueError, match="lenet300-mnist"):
        reproduce.paper_rows("mlp-digits")


def test_three_stages_measured_on_lenet300_without_finetuning():
    config = CompressionConfig(sparsity=0.9, bits=5, quantizer="kmeans")  # no training: fast
    r = reproduce.deep_compression("lenet300-mnist", config=config)
    ours = {s: r["stages"][s]["ours"] for s in reproduce.STAGES}
    assert 1 < ours["pruned"]["ratio"] < ours["quantized"]["ratio"] < ours["huffman"]["ratio"]
    assert ours["huffman"]["error_pct"] == ours["quantized"]["error_pct"]  # Huffman coding is lossless
    assert r["stages"]["huffman"]["paper"]["ratio"] == 40
    assert r["n_test"] == 1000 and r["dataset"] == "mnist-5k"
    fc1 = next(layer for layer in r["layers"] if layer["name"] == "fc1")
    assert fc1["weights"] == 784 * 300 and 5 < fc1["weights_kept_pct"] < 15
    assert fc1["huffman_bits_per_weight"] < 5  # below the fixed 5-bit code
    h = r["stages"]["huffman"]["ours"]
    assert h["ratio_file"] == pytest.approx(r["fp32_bytes"] / h["file_bytes"])
    assert "Huffman" in reproduce.format_table(r)
