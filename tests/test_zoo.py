"""Every zoo model, one by one: it loads, one compressed configuration evaluates to finite numbers,
and the compressed model is no larger than fp32. A model added to the zoo is checked here unasked."""
import dataclasses
import math

import pytest
import torch

from compression import data, measure, models, pipeline
from compression.config import CompressionConfig

CONFIG = CompressionConfig(sparsity=0.5, bits=4)
SHIPPED = [m for m, s in models.ZOO.items() if s.shipped and not s.language]
UNSHIPPED = [m for m, s in models.ZOO.items() if not s.shipped]


def _finite(value) -> bool:
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values() if v is not None)
    return isinstance(value, (int, float)) and math.isfinite(value)


# Fashion-MNIST's 10,000 test images take seconds per pass on one thread: its models are
# checked on the first 30 test images of each class (the full set is the README's figure).
SUBSET_ABOVE, PER_CLASS = 2000, 30


def _small(ds: data.Dataset) -> data.Dataset:
    if len(ds.y_test) <= SUBSET_ABOVE:
        return ds
    idx = torch.cat([torch.nonzero(ds.y_test == c).flatten()[:PER_CLASS] for c in range(ds.num_classes)])
    return dataclasses.replace(ds, x_test=ds.x_test[idx], y_test=ds.y_test[idx])


@pytest.mark.parametrize("model_id", SHIPPED)
def test_every_shipped_zoo_model_evaluates_a_compressed_config(model_id):
    model = models.load(model_id)
    full = data.load(models.spec(model_id).dataset)
    ds = _small(full)
    report = (pipeline.evaluate(model_id, CONFIG, latency=False) if ds is full else
              pipeline.evaluate_model(models.load(model_id), ds, CONFIG, name=model_id, latency=False))
    params = sum(p.numel() for p in model.parameters())
    # References computed here, not by the pipeline: fp32 bytes by hand, accuracy by measure on the raw model.
    assert report.params_total == params and report.size_bytes["fp32"] == 4 * params
    assert report.accuracy_baseline == measure.accuracy(model, ds.x_test, ds.y_test)
    assert 0 <= report.accuracy <= 1 and report.n_test == len(ds.y_test)
    for name in ("size_bytes", "energy_pj", "energy_baseline_pj", "accuracy", "compression_ratio"):
        assert _finite(getattr(report, name)), (name, getattr(report, name))
    assert report.size_bytes["compressed"] <= report.size_bytes["fp32"]
    assert report.size_bytes["file"] <= report.size_bytes["fp32"]
    assert 0 < report.energy_pj["total"] <= report.energy_baseline_pj["total"]
    assert report.params_nonzero <= params


@pytest.mark.parametrize("model_id", UNSHIPPED)
def test_every_unshipped_zoo_model_builds_and_runs_on_its_inputs(model_id):
    # Trained on first use from a folder of full MNIST (absent here): the architecture must still
    # build, run on images of its data set's shape and give one logit per class.
    x = data.load("mnist-5k").x_test[:4]
    with torch.no_grad():
        logits = models.build(model_id)(x)
    assert logits.shape == (4, 10) and torch.isfinite(logits).all()
