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


def test_rows_in_the_papers_accounting_with_its_operating_point():
    import math
    config = CompressionConfig(sparsity=0.9, bits=5, quantizer="kmeans")  # no training: fast
    r = reproduce.deep_compression("lenet300-mnist", config=config)
    # LeNet-300-100 by hand: 784*300 + 300*100 + 100*10 = 266,200 weights and 410 biases
    weights, biases = 266_200, 410
    pruned = r["stages"]["pruned"]["ours"]
    assert pruned["accounting"] == "parameters" and pruned["params"] == weights + biases
    # global 90 %: 26,620 weights kept, the biases stay: the ratio of parameter counts
    assert pruned["ratio"] == pytest.approx((weights + biases) / (26_620 + biases), rel=1e-4)
    assert r["stages"]["quantized"]["ours"]["accounting"] == r["stages"]["huffman"]["ours"]["accounting"] == "bits"
    assert r["operating_point"]["ours"]["weights_kept_pct"] == pytest.approx(10.0, abs=0.01)
    assert r["operating_point"]["paper"] == {"weights_kept_pct": 8.0, "weight_bits": "6"}
    # the row at the paper's own point: 8 % kept at 6 bits gives the paper's 12x in parameters
    # (Han et al. 2015, Table 1: 267K -> 22K)
    at = r["at_paper_point"]
    assert at["config"]["sparsity"] == pytest.approx(0.92) and at["config"]["bits"] == 6
    assert at["operating_point"]["weights_kept_pct"] == pytest.approx(8.0, abs=0.01)
    assert round(at["stages"]["pruned"]["ratio"]) == r["stages"]["pruned"]["paper"]["ratio"] == 12
    # errors carry their Wilson interval, by hand
    n, acc = r["n_test"], r["accuracy_baseline"]
    z = 1.959964
    centre = (acc + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(acc * (1 - acc) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert r["error_baseline_ci95_pct"] == pytest.approx([100 * (1 - centre - half), 100 * (1 - centre + half)])
    text = reproduce.format_table(r)
    assert "MNIST's training set" in text and "paper 8 % kept at 6 bits" in text
    assert "at the paper's operating point (8.0 % kept, 6 bits)" in text
