"""measure.py against trusted references: FlopCounterMode, hand arithmetic, Wilson's formula."""
import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from compression import measure, models


@pytest.mark.parametrize("model_id", ["mlp-digits", "cnn-digits", "mlp-small-digits", "lenet5-mnist"])
def test_dense_macs_equal_flop_counter_over_two(model_id):
    model = models.build(model_id)
    shape = (1, 8, 8) if "digits" in model_id else (1, 28, 28)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, *shape))
    # FlopCounterMode counts matmul/conv FLOPs only (2 per MAC); biases are not MACs.
    assert sum(s.macs for s in measure.layer_shapes(model, shape)) == counter.get_total_flops() // 2


def test_mlp_macs_by_hand():
    shapes = measure.layer_shapes(models.build("mlp-digits"), (1, 8, 8))
    assert [s.macs for s in shapes] == [64 * 300, 300 * 100, 100 * 10]
    assert [s.fan_in for s in shapes] == [64, 300, 100]


def test_wilson_interval_matches_formula():
    p, n, z = 0.972, 360, 1.959964
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    lo, hi = measure.wilson_interval(p, n)
    assert lo == pytest.approx(centre - half) and hi == pytest.approx(centre + half)
    # digits' 360 test images: about +-1.5 points at 97 %, as DESIGN.md says
    assert 1.0 < (hi - lo) * 100 / 2 < 2.0
    assert measure.wilson_interval(1.0, 360)[1] == 1.0


def test_accuracy_counts_correct_predictions():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Identity())
    x = torch.eye(4).reshape(4, 1, 1, 4)
    assert measure.accuracy(model, x, torch.tensor([0, 1, 2, 0])) == 0.75


def test_count_params_reads_tensors():
    model = models.build("mlp-small-digits")
    with torch.no_grad():
        model.fc1.weight[:10].zero_()
    total, nonzero = measure.count_params(model)
    assert total == 64 * 32 + 32 + 32 * 10 + 10
    assert nonzero == total - 10 * 64
