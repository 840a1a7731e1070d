"""GPTQ and AWQ against references: the per-layer output error of plain rounding on the same
calibration inputs, and a hand computation of the Optimal Brain Surgeon update (Hassibi & Stork 1993)."""
import numpy as np
import pytest
import torch

from compression import apply, awq, calibration, gptq, methods, quantizers
from compression.config import QUANTIZERS, CompressionConfig, ConfigError, from_mapping
from compression.layers import compressible
from tests.calibrated import TRAINED, layers_with_inputs

# every kind of grid: uniform per tensor / channel / group, powers of two, NF4, FP4 per group, the MX and NV formats
GRIDS = ((quantizers.UNIFORM, "symmetric", quantizers.PER_CHANNEL, (2, 3, 4)),
         (quantizers.UNIFORM, "asymmetric", quantizers.PER_TENSOR, (2, 3, 4)),
         (quantizers.UNIFORM, "symmetric", quantizers.PerGroup(32), (3,)),
         (quantizers.POW2, "symmetric", quantizers.PER_CHANNEL, (3,)),
         (quantizers.lookup("nf4"), "symmetric", quantizers.PER_CHANNEL, (4,)),
         (quantizers.lookup("fp4-e2m1"), "symmetric", quantizers.PerGroup(32), (4,)),
         (quantizers.lookup("mxfp4"), "symmetric", quantizers.PER_CHANNEL, (4,)),
         (quantizers.lookup("nvfp4"), "symmetric", quantizers.PER_CHANNEL, (4,)))


@pytest.mark.parametrize("model_id", TRAINED)
def test_gptq_error_at_most_rtn_on_every_layer(model_id):
    for name, w, xm, h in layers_with_inputs(model_id):
        for record, scheme, grain, widths in GRIDS:
            for bits in widths:
                rtn = calibration.reconstruction_error(w, record.fake(w, bits, scheme, grain), xm)
                ours = calibration.reconstruction_error(
                    w, gptq.quantize_weight(w, h, record, bits, scheme, grain), xm)
                assert ours <= rtn, (model_id, name, record.name, scheme, grain, bits, ours, rtn)


def test_one_column_obs_update_by_hand():
    # 3-bit symmetric per tensor: s = max|w| / 3 = 1, levels -3..3. Column 2 pins the scale and is
    # independent of the others (block-diagonal H).
    w = torch.tensor([[1.4, 0.45, 3.0]])
    h = torch.tensor([[2.0, 1.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 1.0]])
    hinv = np.linalg.inv(h.double().numpy())
    q0 = 1.0                                          # round(1.4)
    # OBS: quantizing w0 to q0 moves the remaining weights by -(w0 - q0) * H^-1[0, :] / H^-1[0, 0]
    w1 = 0.45 - (1.4 - q0) * hinv[0, 1] / hinv[0, 0]  # 0.45 + 0.2 = 0.65
    expected = [q0, float(np.round(w1)), 3.0]         # [1, 1, 3]; rounding to nearest gives [1, 0, 3]
    got = gptq.quantize_weight(w, h, quantizers.UNIFORM, 3, "symmetric", False, damp=0.0)
    assert got.flatten().tolist() == expected
    assert quantizers.UNIFORM.fake(w, 3).flatten().tolist() == [1.0, 0.0, 3.0]


def test_act_order_and_groups_keep_the_error_below_rtn(digits):
    model, ds = digits
    layer = compressible(model)["fc1"]
    w = layer.weight.detach()
    xm = calibration.inputs(model, ds.x_calib)["fc1"]
    h = gptq.hessian(xm)
    for grain in (quantizers.PER_CHANNEL, quantizers.PerGroup(16)):
        rtn = calibration.reconstruction_error(w, quantizers.UNIFORM.fake(w, 3, "symmetric", grain), xm)
        for act_order in (False, True):
            q = gptq.quantize_weight(w, h, quantizers.UNIFORM, 3, "symmetric", grain, act_order=act_order)
            assert calibration.reconstruction_error(w, q, xm) <= rtn


def test_pruned_weights_stay_zero(digits):
    model, ds = digits
    w = compressible(model)["fc2"].weight.detach()
    mask = w.abs() > w.abs().median()
    xm = calibration.inputs(model, ds.x_calib)["fc2"]
    q = gptq.quantize_weight(w * mask, gptq.hessian(xm), quantizers.UNIFORM, 4, "symmetric", True, mask=mask)
    assert bool((q[~mask] == 0).all())


@pytest.mark.parametrize("quantizer", QUANTIZERS)
@pytest.mark.parametrize("method", ["gptq", "awq"])
@pytest.mark.parametrize("granularity", ["channel", "group"])
def test_every_quantizer_record_runs_and_lands_on_its_grid(digits, quantizer, method, granularity):
    model, ds = digits
    config = CompressionConfig(bits=3, quantizer=quantizer, granularity=granularity, group_size=16, method=method)
    compressed, _, quant = apply.compress(model, ds, config)
    for name, layer in compressible(compressed).items():
        w = layer.weight.detach()
        if method == "gptq":  # the stored codes decode to exactly the weights the model computes with
            positions = torch.arange(w.numel())
            decoded = quant[name].codec.decode(quant[name].codec.encode(w.flatten(), positions), positions)
            assert torch.equal(decoded.reshape(w.shape), w), (quantizer, name)
        assert torch.isfinite(w).all()


def test_awq_error_at_most_rtn_and_alpha_zero_is_rtn(digits):
    model, ds = digits
    xs = calibration.inputs(model, ds.x_calib)
    for name, layer in compressible(model).items():
        w, xm = layer.weight.detach(), xs[name]
        rtn = quantizers.UNIFORM.fake(w, 3, "symmetric", True)
        w_hat, alpha, s = awq.search(w, xm, quantizers.UNIFORM, 3, "symmetric", True)
        assert calibration.reconstruction_error(w, w_hat, xm) <= calibration.reconstruction_error(w, rtn, xm)
        # s follows its definition: mean |x_j| to the chosen power, up to the centring constant,
        # rounded to float16 as the file stores it (relative error at most 2^-11)
        a = xm.abs().double().mean(1).clamp_min(1e-8) ** alpha
        ratio = s.double() / a
        assert torch.allclose(ratio, ratio[0].expand_as(ratio), rtol=2 * 2.0 ** -11)
        assert torch.equal(s, s.half().float())
        only_zero, _, _ = awq.search(w, xm, quantizers.UNIFORM, 3, "symmetric", True, alphas=(0.0,))
        assert torch.equal(only_zero, rtn)


def test_calibration_batch_is_training_images(digits):
    _, ds = digits
    x = calibration.batch(ds)
    assert torch.equal(x, ds.x_train[:len(x)])


def test_method_words_and_bad_values():
    config, warnings = from_mapping({"method": "gptq", "smooth_alpha": "0.5", "max_drop": "1"})
    assert (config.method, config.smooth_alpha, config.max_drop, warnings) == ("gptq", 0.5, 1.0, [])
    for bad in ({"method": "optq"}, {"smooth_alpha": 1.5}, {"max_drop": -1.0}):
        with pytest.raises(ConfigError) as e:
            CompressionConfig(**bad)
        assert "\n" not in str(e.value) and next(iter(bad)) in str(e.value)
    assert set(methods.RECORDS) == {"rtn", "gptq", "awq"}


@pytest.mark.parametrize("shared", [True, False])
def test_nearest_by_binary_search_is_the_brute_force_argmin(shared):
    g = torch.Generator().manual_seed(0)
    levels = torch.randn(7 if shared else (50, 7), generator=g, dtype=torch.float64).sort(dim=-1).values
    column = 2 * torch.randn(50, generator=g, dtype=torch.float64)  # beyond both ends too
    rows = levels.expand(50, -1)
    brute = rows.gather(1, (column.unsqueeze(1) - rows).abs().argmin(1, keepdim=True)).squeeze(1)
    assert torch.equal(gptq.nearest(column, levels), brute)
