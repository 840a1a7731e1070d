"""Slicing out pruned rows: the smaller model computes exactly what the masked one does."""
import pytest
import torch

from compression import data, models, pipeline, prune, slim
from compression.config import CompressionConfig


@pytest.mark.parametrize("model_id", ["mlp-digits", "cnn-digits"])
@pytest.mark.parametrize("sparsity", [0.3, 0.7])
def test_slim_model_matches_masked_model(model_id, sparsity):
    model = models.load(model_id)
    prune.apply_masks(model, prune.masks(model, sparsity, scope="layer", structure="rows"))
    small = slim.slim(model)
    x = data.load("digits").x_test
    assert torch.allclose(small(x), model(x), atol=1e-5)
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in model.parameters())


def test_mlp_rows_shrink_the_matrices_by_hand():
    model = models.load("mlp-digits")
    prune.apply_masks(model, prune.masks(model, 0.5, scope="layer", structure="rows"))
    small = slim.slim(model)
    assert small.fc1.weight.shape == (150, 64) and small.fc2.weight.shape == (50, 150)
    assert small.fc3.weight.shape == (10, 50)  # the classifier keeps its 10 outputs


def test_unstructured_zeros_leave_the_model_whole():
    model = models.load("mlp-digits")
    prune.apply_masks(model, prune.masks(model, 0.5))
    assert slim.slim(model).fc1.weight.shape == model.fc1.weight.shape


def test_report_counts_sliced_macs_and_measures_the_small_model():
    r = pipeline.evaluate("mlp-digits", CompressionConfig(sparsity=0.5, structure="rows", scope="layer"))
    assert r.macs_effective == 150 * 64 + 50 * 150 + 10 * 50
    assert "sliced" in r.latency_path
