"""Tests for compression.quantize against trusted references: torch's own quantization
functions, scikit-learn's KMeans, numpy's histogram, and arithmetic done by hand."""

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn

from compression.quantize import (
    calibrate_activations,
    error_histogram,
    error_stats,
    fake_quantize,
    kmeans_quantize,
    levels,
    quant_params,
    quantize_activations,
)
from compression.quantizers import resolve

SCHEMES = ("symmetric", "asymmetric")


def _tensors() -> list[torch.Tensor]:
    """Random tensors of several shapes and spreads, plus ones built to hit rounding ties."""
    g = torch.Generator().manual_seed(0)
    ts = [
        torch.randn(32, 48, generator=g),
        torch.randn(16, 3, 5, 5, generator=g) * 0.05,  # conv-weight-like, small values
        torch.rand(40, 7, generator=g) * 3 + 0.5,  # all positive: asymmetric zero point 0
        torch.rand(9, 20, generator=g) * -2 - 0.1,  # all negative
    ]
    # max|x| = 127 -> symmetric 8-bit scale is exactly 1, and every x/scale is a .5 tie
    ts.append((torch.arange(-254, 255, dtype=torch.float32) * 0.5).reshape(1, -1).repeat(3, 1))
    # a coarse integer grid: many exact ties at low bit-widths
    ts.append(torch.randint(-20, 21, (24, 30), generator=g).float() * 0.05)
    return ts


def _torch_reference(x, bits, scheme, per_channel, axis):
    """torch.fake_quantize_* given our scale, zero point and integer range."""
    scale, zp, qmin, qmax = quant_params(x, bits, scheme, per_channel, axis)
    if per_channel:
        return torch.fake_quantize_per_channel_affine(x, scale, zp, axis, qmin, qmax)
    return torch.fake_quantize_per_tensor_affine(x, float(scale), int(zp), qmin, qmax)


# -----------------------------------------------------------------------------
# fake_quantize against torch


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("bits", [2, 3, 4, 5, 6, 7, 8, 12, 16])
def test_fake_quantize_equals_torch(bits, scheme):
    for x in _tensors():
        assert torch.equal(fake_quantize(x, bits, scheme), _torch_reference(x, bits, scheme, False, 0))
        for axis in range(x.dim()):
            got = fake_quantize(x, bits, scheme, per_channel=True, axis=axis)
            assert torch.equal(got, _torch_reference(x, bits, scheme, True, axis))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_fake_quantize_equals_torch_other_dtypes(dtype):
    for x in _tensors():
        x = x.to(dtype)
        for bits in (2, 4, 8):
            for scheme in SCHEMES:
                for per_channel in (False, True):
                    got = fake_quantize(x, bits, scheme, per_channel, 0)
                    assert got.dtype == dtype
                    assert torch.equal(got, _torch_reference(x, bits, scheme, per_channel, 0))


def test_ties_round_half_to_even():
    # scale is exactly 1 here, so x = k + 0.5 must round to the even neighbour, as torch does
    x = torch.tensor([-127.0, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 127.0])
    assert torch.equal(fake_quantize(x, 8), torch.tensor([-127.0, -2.0, -2.0, -0.0, 0.0, 2.0, 2.0, 127.0]))


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_quant_params_follow_design_formulas(bits):
    x = _tensors()[0]
    scale, zp, qmin, qmax = quant_params(x, bits, "symmetric")
    assert (qmin, qmax) == (-(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1)
    assert float(scale) == pytest.approx(float(x.abs().max()) / (2 ** (bits - 1) - 1), rel=1e-6)
    assert int(zp) == 0

    scale, zp, qmin, qmax = quant_params(x, bits, "asymmetric")
    lo, hi = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    assert (qmin, qmax) == (0, 2**bits - 1)
    assert float(scale) == pytest.approx((hi - lo) / (2**bits - 1), rel=1e-6)
    assert int(zp) == round(-lo / float(scale))

    scale, zp, _, _ = quant_params(x, bits, "symmetric", per_channel=True, axis=1)
    assert scale.shape == (x.shape[1],) and zp.shape == (x.shape[1],)
    assert torch.allclose(scale, x.abs().amax(0) / (2 ** (bits - 1) - 1))


def test_quantization_error_within_half_a_step():
    x = _tensors()[0]
    for bits in (2, 4, 8):
        for scheme in SCHEMES:
            scale = float(quant_params(x, bits, scheme)[0])
            err = (fake_quantize(x, bits, scheme) - x).abs().max()
            assert err <= scale / 2 * (1 + 1e-5)


def test_all_zero_slices_give_zeros_not_nan():
    x = torch.randn(6, 10)
    x[2] = 0
    for bits in (1, 2, 4, 8):
        for scheme in SCHEMES:
            y = fake_quantize(x, bits, scheme, per_channel=True)
            assert not torch.isnan(y).any()
            assert torch.equal(y[2], torch.zeros(10))
            zeros = torch.zeros(3, 4)
            assert torch.equal(fake_quantize(zeros, bits, scheme), zeros)
            assert torch.equal(fake_quantize(zeros, bits, scheme, per_channel=True), zeros)


def test_tiny_values_do_not_overflow():
    x = torch.tensor([1e-40, -3e-41, 0.0, 2e-39])  # subnormal scale would make 1/scale inf
    for scheme in SCHEMES:
        y = fake_quantize(x, 8, scheme)
        assert torch.isfinite(y).all()
        assert (y - x).abs().max() <= 2e-39


def test_bits_32_is_identity():
    x = torch.randn(5, 5)
    assert fake_quantize(x, 32) is x
    assert fake_quantize(x, 64, "asymmetric", per_channel=True) is x


def test_binarization():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(8, 16, generator=g)
    assert torch.equal(fake_quantize(x, 1), torch.sign(x) * x.abs().mean())
    assert torch.allclose(fake_quantize(x, 1, per_channel=True), torch.sign(x) * x.abs().mean(1, keepdim=True))
    assert torch.allclose(fake_quantize(x, 1, per_channel=True, axis=1), torch.sign(x) * x.abs().mean(0, keepdim=True))
    # zeros (pruned weights) stay zero; the scale is the mean over the kept weights
    xp = torch.where(x.abs() > 0.5, x, torch.zeros_like(x))
    kept = xp[xp != 0]
    assert torch.allclose(fake_quantize(xp, 1), torch.sign(xp) * kept.abs().mean())
    assert torch.equal(fake_quantize(xp, 1) == 0, xp == 0)
    # the file's codec (what export writes) decodes its codes back to exactly these values
    w_q, how = resolve("uniform", 1).quantize(xp, 1)
    kept = (xp != 0).flatten()
    codes = _codes(how.codec, w_q, kept)
    assert set(np.unique(codes).tolist()) <= {0, 1}
    assert torch.equal(how.codec.decode(codes, _rows(w_q, kept)), w_q.flatten()[kept])


@pytest.mark.parametrize("bad", [0, 17, 31, -4, 4.0, True, "8", None])
def test_invalid_bits_raise(bad):
    with pytest.raises(ValueError, match="bits"):
        fake_quantize(torch.randn(3), bad)
    with pytest.raises(ValueError, match="bits"):
        levels(torch.randn(3), bad)


def test_invalid_scheme_and_axis_raise():
    with pytest.raises(ValueError, match="scheme.*symmetric, asymmetric"):
        fake_quantize(torch.randn(3), 8, "affine")
    with pytest.raises(ValueError, match="axis"):
        fake_quantize(torch.randn(3, 4), 8, per_channel=True, axis=2)
    with pytest.raises(ValueError, match="bits"):
        quant_params(torch.randn(3), 32)


def test_numpy_int_bits_and_negative_axis_accepted():
    x = torch.randn(6, 10)
    assert torch.equal(fake_quantize(x, np.int64(4)), fake_quantize(x, 4))
    assert torch.equal(fake_quantize(x, 4, per_channel=True, axis=-1), _torch_reference(x, 4, "symmetric", True, 1))


# -----------------------------------------------------------------------------
# integer codes and levels


def _rows(w: torch.Tensor, kept: torch.Tensor | None = None) -> torch.Tensor:
    """The flattened position of each value, as the file's codec takes them (it finds each one's group)."""
    positions = torch.arange(w.numel())
    return positions if kept is None else positions[kept]


def _codes(codec, w_q: torch.Tensor, kept: torch.Tensor | None = None) -> np.ndarray:
    flat = w_q.flatten().float()
    return codec.encode(flat if kept is None else flat[kept], _rows(w_q, kept))


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("bits", [2, 4, 8, 12, 16])
def test_file_codes_decode_to_fake_quantize(bits, scheme):
    """The codes the file stores (uniform record's codec) decode to torch's fake-quantized values."""
    x = _tensors()[1]
    for per_channel in (False, True):
        w_q, how = resolve("uniform", bits).quantize(x, bits, scheme, per_channel)
        codes = _codes(how.codec, w_q)
        _, _, qmin, qmax = quant_params(x, bits, scheme, per_channel)
        assert codes.min() >= 0 and codes.max() <= qmax - qmin < 2 ** bits
        ref = _torch_reference(x, bits, scheme, per_channel, 0)
        assert torch.equal(how.codec.decode(codes, _rows(w_q)).reshape(x.shape), ref)


@pytest.mark.parametrize("scheme,qdtype", [("symmetric", torch.qint8), ("asymmetric", torch.quint8)])
def test_int8_codes_equal_torch_quantize(scheme, qdtype):
    """The file's 8-bit codes (offset by the grid's qmin) are torch's own integer representation."""
    x = _tensors()[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quantized tensor creation is deprecated; still a reference
        scale, zp, _, _ = quant_params(x, 8, scheme)
        w_q, how = resolve("uniform", 8).quantize(x, 8, scheme)
        ref = torch.quantize_per_tensor(x, float(scale), int(zp), qdtype).int_repr()
        assert np.array_equal(_codes(how.codec, w_q) + how.codec.grid.qmin, ref.flatten().long().numpy())
        scale, zp, _, _ = quant_params(x, 8, scheme, per_channel=True, axis=0)
        w_q, how = resolve("uniform", 8).quantize(x, 8, scheme, granularity=True)
        ref = torch.quantize_per_channel(x, scale.double(), zp.long(), 0, qdtype).int_repr()
        assert np.array_equal(_codes(how.codec, w_q) + how.codec.grid.qmin, ref.flatten().long().numpy())


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("bits", [1, 2, 3, 4, 8])
def test_levels_hold_every_output_value(bits, scheme):
    x = _tensors()[0]
    lv = levels(x, bits, scheme)
    assert torch.equal(lv, lv.sort().values)
    out = fake_quantize(x, bits, scheme).unique()
    assert torch.isin(out, lv).all()
    if bits > 1:
        scale = float(quant_params(x, bits, scheme)[0])
        assert len(lv) == ((2 ** (bits - 1) - 1) * 2 + 1 if scheme == "symmetric" else 2**bits)
        assert torch.allclose(lv.diff(), torch.full((len(lv) - 1,), scale), atol=1e-6)
        assert 0.0 in lv.tolist()  # zero is exactly representable in both schemes
    else:
        assert torch.allclose(lv, torch.tensor([-1.0, 1.0]) * x.abs().mean())


def test_levels_edge_cases():
    assert levels(torch.randn(10), 32).numel() == 0
    assert torch.equal(levels(torch.zeros(4), 4), torch.zeros(1))


# -----------------------------------------------------------------------------
# k-means weight sharing


def _lloyd_reference(v: np.ndarray, c: np.ndarray, iters: int) -> np.ndarray:
    """Plain Lloyd's algorithm with an n x k distance matrix (the textbook version)."""
    for _ in range(iters):
        a = np.abs(v[:, None] - c[None, :]).argmin(1)
        c = np.array([v[a == j].mean() if (a == j).any() else c[j] for j in range(len(c))])
    return c


def test_kmeans_one_lloyd_step_by_hand():
    w = torch.tensor([0.0, 1.0, 2.0, 4.0, 10.0])  # the 0 is a pruned weight
    # kept: 1, 2, 4, 10; linear init with k=2: [1, 10]; midpoint 5.5 -> {1,2,4}, {10}
    w_q, c = kmeans_quantize(w, 1, iters=1)
    assert torch.allclose(c, torch.tensor([7.0 / 3.0, 10.0]))
    assert torch.allclose(w_q, torch.tensor([0.0, 7 / 3, 7 / 3, 7 / 3, 10.0]))


def test_kmeans_matches_sklearn_with_same_init():
    from sklearn.cluster import KMeans

    g = torch.Generator().manual_seed(2)
    w = torch.randn(3000, generator=g) * 0.1
    v = w.double().numpy()
    _, c = kmeans_quantize(w, 4, iters=30)
    init = np.linspace(v.min(), v.max(), 16).reshape(-1, 1)
    km = KMeans(n_clusters=16, init=init, n_init=1, max_iter=30, tol=0, algorithm="lloyd").fit(v.reshape(-1, 1))
    assert np.allclose(c.double().numpy(), km.cluster_centers_.ravel(), atol=1e-6)
    # other sizes against the textbook n x k version (sklearn is slow to start, once is enough)
    for bits, iters in ((2, 30), (3, 1), (5, 3), (5, 30)):
        k = 2**bits
        _, c = kmeans_quantize(w, bits, iters=iters)
        assert np.allclose(c.double().numpy(), _lloyd_reference(v, np.linspace(v.min(), v.max(), k), iters), atol=1e-6)


def test_kmeans_outputs_are_centroids_and_pruned_stay_zero():
    g = torch.Generator().manual_seed(3)
    w = torch.randn(50, 40, generator=g)
    mask = torch.rand(50, 40, generator=g) > 0.7
    for bits in (1, 2, 3, 5):
        w_q, c = kmeans_quantize(w, bits, mask=mask)
        assert w_q.shape == w.shape and len(c) == 2**bits
        assert torch.equal(w_q[~mask], torch.zeros(int((~mask).sum())))
        assert torch.isin(w_q[mask], c).all()
        assert torch.isin(w_q.unique(), torch.cat([c, torch.zeros(1)])).all()
        # each kept weight sits at its nearest centroid
        nearest = c[(w[mask][:, None] - c[None, :]).abs().argmin(1)]
        assert torch.allclose((w[mask] - w_q[mask]).abs(), (w[mask] - nearest).abs())
    # without a mask the zeros are the pruned weights
    wz = w * mask
    assert torch.equal(kmeans_quantize(wz, 3)[0], kmeans_quantize(w, 3, mask=mask)[0])


def test_kmeans_exact_when_few_distinct_values():
    # mask keeps the zeros too: 5 distinct values, 8 centroids
    w = torch.tensor([0.0, 0.1, 1.0, 1.0, -3.0, 0.1, 0.0, 2.0]).repeat(10)
    w_q, c = kmeans_quantize(w, 3, mask=torch.ones_like(w, dtype=torch.bool))
    assert torch.equal(w_q, w)
    assert error_stats(w, w_q)["mse"] == 0.0
    assert torch.equal(c, torch.tensor([-3.0, 0.0, 0.1, 1.0, 2.0]))


def test_kmeans_k_at_least_distinct_gives_zero_error():
    w = torch.tensor([-0.5, 0.25, 0.25, 3.0, -0.5, 7.0])
    w_q, c = kmeans_quantize(w, 2)
    assert torch.equal(w_q, w)
    assert torch.equal(c, torch.tensor([-0.5, 0.25, 3.0, 7.0]))
    w_q, c = kmeans_quantize(w, 3)  # more centroids than values: the codebook is the values
    assert torch.equal(w_q, w)


def test_kmeans_fewer_centroids_than_codes():
    g = torch.Generator().manual_seed(5)
    w = torch.randn(1000, generator=g)
    v = w.double().numpy()
    w_q, c = kmeans_quantize(w, 3, k=7, iters=30)  # one of 8 codes kept for the pruned zeros
    assert len(c) == 7 and torch.isin(w_q, c).all()
    assert np.allclose(c.double().numpy(), _lloyd_reference(v, np.linspace(v.min(), v.max(), 7), 30), atol=1e-6)
    w_q, c = kmeans_quantize(w, 3, k=1)
    assert torch.allclose(c, w.double().mean().float().reshape(1)) and torch.equal(w_q, c.expand(1000))
    with pytest.raises(ValueError, match="k must be"):
        kmeans_quantize(w, 3, k=9)


def test_kmeans_deterministic_and_edge_cases():
    w = torch.randn(2000)
    a, b = kmeans_quantize(w, 4), kmeans_quantize(w, 4)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    w_q, c = kmeans_quantize(torch.zeros(10), 4)
    assert torch.equal(w_q, torch.zeros(10)) and len(c) == 16
    w_q, c = kmeans_quantize(w, 32, mask=w > 0)
    assert torch.equal(w_q, torch.where(w > 0, w, 0.0)) and c.numel() == 0


# -----------------------------------------------------------------------------
# error statistics


def test_error_stats_by_hand():
    w = torch.tensor([1.0, -2.0, 3.0, 0.5])
    w_q = torch.tensor([1.0, -1.5, 3.5, 0.5])
    s = error_stats(w, w_q)
    assert s["mse"] == pytest.approx((0.25 + 0.25) / 4)
    assert s["sqnr_db"] == pytest.approx(10 * math.log10((1 + 4 + 9 + 0.25) / 0.5))
    assert s["max_abs"] == pytest.approx(0.5)
    assert all(type(v) is float for v in s.values())
    assert error_stats(w, w.clone())["sqnr_db"] == float("inf")


def test_error_histogram_equals_numpy():
    g = torch.Generator().manual_seed(4)
    w = torch.randn(5000, generator=g)
    w_q = fake_quantize(w, 3)
    h = error_histogram(w, w_q, bins=40)
    counts, edges = np.histogram((w_q.double() - w.double()).numpy(), bins=40)
    assert h["counts"] == counts.tolist()
    assert np.allclose(h["edges"], edges)
    assert sum(h["counts"]) == w.numel() and len(h["edges"]) == 41
    assert all(type(c) is int for c in h["counts"])
    same = error_histogram(w, w, bins=10)
    assert sum(same["counts"]) == w.numel() and same["edges"][0] < 0 < same["edges"][-1]


# -----------------------------------------------------------------------------
# activations


def _mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 10)).eval()


def test_calibrate_activations_records_layer_inputs():
    model = _mlp()
    x = torch.randn(50, 64)
    ranges = calibrate_activations(model, x)
    assert set(ranges) == {"0", "2", "4"}
    with torch.no_grad():
        h1 = model[1](model[0](x))
        h2 = model[3](model[2](h1))
    for name, inp in (("0", x), ("2", h1), ("4", h2)):
        assert ranges[name] == (float(inp.min()), float(inp.max()))
    assert all(len(m._forward_pre_hooks) == 0 for m in model.modules())


def test_quantize_activations_equals_torch_fake_quant_chain():
    model = _mlp()
    x_cal, x = torch.randn(50, 64), torch.randn(20, 64) * 1.5  # wider than calibration: clamps
    ranges = calibrate_activations(model, x_cal)
    with torch.no_grad():
        plain = model(x)
    for scheme in SCHEMES:
        handles = quantize_activations(model, ranges, 4, scheme)
        assert len(handles) == 3
        with torch.no_grad():
            got = model(x)
            # the reference: torch's fake quantization of each layer input with params from the range
            h = x
            for i in (0, 2, 4):
                lo, hi = ranges[str(i)]
                if scheme == "symmetric":
                    scale, zp, qmin, qmax = max(-lo, hi) / 7, 0, -7, 7
                else:
                    lo, hi = min(lo, 0.0), max(hi, 0.0)
                    scale = float(torch.tensor(hi - lo) / 15)
                    zp, qmin, qmax = round(-lo / scale), 0, 15
                scale = float(torch.tensor(scale, dtype=torch.float32))
                h = model[i](torch.fake_quantize_per_tensor_affine(h, scale, zp, qmin, qmax))
                if i < 4:
                    h = torch.relu(h)
        assert torch.allclose(got, h, atol=1e-6)
        assert not torch.allclose(got, plain)
        for hd in handles:
            hd.remove()
        with torch.no_grad():
            assert torch.equal(model(x), plain)
    assert quantize_activations(model, ranges, 32) == []
    with pytest.raises(ValueError, match="activation bits"):
        quantize_activations(model, ranges, 1)


# -----------------------------------------------------------------------------
# k-means to convergence (Deep Compression's linear init), against scikit-learn


def _mlp_weights() -> dict[str, torch.Tensor]:
    from compression import models

    return {n: m.weight.detach() for n, m in models.layers(models.load("mlp-digits")).items()}


def test_kmeans_converged_error_within_one_percent_of_sklearn():
    from sklearn.cluster import KMeans

    for name, w in _mlp_weights().items():
        v = w.double().flatten().numpy()
        init = np.linspace(v.min(), v.max(), 16).reshape(-1, 1)
        km = KMeans(n_clusters=16, init=init, n_init=1, max_iter=300, tol=0, algorithm="lloyd").fit(v.reshape(-1, 1))
        ref_mse = float(((v - km.cluster_centers_.ravel()[km.labels_]) ** 2).mean())
        w_q, _ = kmeans_quantize(w, 4)
        ours = error_stats(w, w_q)["mse"]
        assert ours <= 1.01 * ref_mse, (name, ours, ref_mse)
        assert len(torch.unique(w_q)) == 16, name  # every code in use


def test_kmeans_reseeds_centroids_stranded_in_the_pruned_gap():
    # pruned at 90 %: kept weights sit away from zero, linear init puts centroids in the gap
    w = _mlp_weights()["fc1"]
    keep = w.abs() > w.abs().flatten().kthvalue(int(0.9 * w.numel())).values
    w_q, _ = kmeans_quantize(w, 4, mask=keep, k=15)
    assert len(torch.unique(w_q[keep])) == 15
    # and it does better than the old fixed 30 Lloyd steps, which left codes unused
    v = np.sort(w[keep].double().numpy())
    old = _lloyd_reference(v, np.linspace(v[0], v[-1], 15), 30)
    old_mse = float(((v[:, None] - old[None, :]) ** 2).min(1).mean())
    assert error_stats(w[keep], w_q[keep])["mse"] < old_mse


def test_kmeans_reseed_by_hand():
    # values {1, 2, 3, 11, 12, 13}, 3 centroids from linear init [1, 7, 13]: the middle one is
    # stranded (midpoints 4 and 10 hold no value). The clusters {1,2,3} and {11,12,13} tie at
    # SSE 2, so the first is split: the centroid moves to its farthest value (1 and 3 tie: 1),
    # then Lloyd gives {1}, {2,3}, {11,12,13}: centroids 1, 2.5, 12 (total SSE 2.5, optimal)
    w = torch.tensor([1.0, 2.0, 3.0, 11.0, 12.0, 13.0])
    w_q, c = kmeans_quantize(w, 2, k=3)
    assert c.tolist() == [1.0, 2.5, 12.0]
    assert w_q.tolist() == [1.0, 2.5, 2.5, 12.0, 12.0, 12.0]
