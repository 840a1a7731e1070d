"""SmoothQuant against its definition (Xiao et al. 2023, eq. 4) and the float model's function."""
import copy

import numpy as np
import torch

from compression import apply, measure, smoothquant
from compression.config import CompressionConfig


def test_scales_by_hand():
    a, w = np.array([4.0, 1.0, 0.0]), np.array([0.5, 2.0, 1.0])
    s = smoothquant.scales(torch.tensor(a), torch.tensor(w), 0.5).numpy()
    assert np.allclose(s[:2], np.sqrt(a[:2]) / np.sqrt(w[:2])) and s[2] == 1.0


def test_migration_keeps_the_function_and_balances_at_half(digits):
    model, ds = digits
    own = copy.deepcopy(model)
    smoothed = smoothquant.migrate(own, ds.x_calib, 0.5)
    assert set(smoothed) == {"fc1", "fc2", "fc3"}
    with torch.no_grad():
        assert torch.allclose(own(ds.x_test), model(ds.x_test), atol=1e-4)
    view = smoothquant.outliers(model, ds.x_calib, 0.5)
    for name, v in view["layers"].items():
        # at alpha = 0.5 both sides end at sqrt(max|x_j| max|w_j|) where the channel is active
        act, wt = np.array(v["act_after"]), np.array(v["weight_after"])
        live = np.array(v["act_before"]) > 0
        assert np.allclose(act[live], wt[live], rtol=1e-4), name


def test_w8a8_with_smoothing_runs_and_without_hooks_is_the_weight_function(digits):
    model, ds = digits
    config = CompressionConfig(bits=8, act_bits=8, per_channel=True, smooth_alpha=0.5)
    compressed, _, _ = apply.compress(model, ds, config)
    acc = measure.accuracy(compressed, ds.x_test, ds.y_test)
    assert acc > 0.9
    clean = apply._without_hooks(compressed)
    with torch.no_grad():  # hooks off: Q(W s)/s on raw inputs, close to the float model at 8 bits
        assert torch.allclose(clean(ds.x_test).softmax(1), model(ds.x_test).softmax(1), atol=0.05)
