"""Quantizers and quantization error: uniform (fake) quantization, k-means weight sharing,
simulated activation quantization, and a real int8 path for measured latency and size.

Uniform quantization follows DESIGN.md:
  symmetric:  scale = max|x| / (2**(b-1) - 1), zero point 0, codes in [-(2**(b-1)-1), 2**(b-1)-1]
  asymmetric: scale = (max(x,0) - min(x,0)) / (2**b - 1), zp = round(-min(x,0) / scale), codes in [0, 2**b-1]
and fake_quantize is bit-identical to torch.fake_quantize_per_{tensor,channel}_affine given
the same scale, zero point and range (the tests compare with torch.equal).
"""

import math
import operator

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor

SCHEMES = ("symmetric", "asymmetric")
IDENTITY_BITS = 32  # bits >= this: no quantization at all (fp32)
MAX_INT_BITS = 16

# -----------------------------------------------------------------------------
# argument checks


def _check_bits(bits: int, name: str = "bits", lo: int = 1) -> int:
    """Return bits as an int, or raise ValueError naming the argument and the allowed values."""
    try:
        b = operator.index(bits)  # accepts numpy ints, rejects 4.0 and "4"
    except TypeError:
        b = None
    if b is None or isinstance(bits, bool) or not (lo <= b <= MAX_INT_BITS or b >= IDENTITY_BITS):
        raise ValueError(f"{name} must be an integer in {lo}..{MAX_INT_BITS} or >= {IDENTITY_BITS} (no quantization), got {bits!r}")
    return b


def _check_scheme(scheme: str) -> str:
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
    return scheme


def _check_axis(x: Tensor, axis: int) -> int:
    if not -x.dim() <= axis < max(x.dim(), 1):
        raise ValueError(f"axis must be in {-x.dim()}..{x.dim() - 1} for a tensor of shape {tuple(x.shape)}, got {axis}")
    return axis % max(x.dim(), 1)


# -----------------------------------------------------------------------------
# uniform quantization


def qrange(bits: int, scheme: str) -> tuple[int, int]:
    """Integer code range (qmin, qmax) for a bit-width and scheme."""
    if scheme == "symmetric":
        # one code short of two's complement, so the grid is symmetric around 0 and
        # -max|x| is representable; bits=1 has no symmetric affine grid (binarization instead)
        return -(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def _per_slice(x: Tensor, per_channel: bool, axis: int) -> Tensor:
    """x as a 2-D (slices, elements) view: one row per channel along axis, or one row in all."""
    if not per_channel:
        return x.reshape(1, -1)
    return x.movedim(axis, 0).reshape(x.shape[axis], -1)


def _broadcast(t: Tensor, x: Tensor, per_channel: bool, axis: int) -> Tensor:
    """Per-slice values t shaped to broadcast against x (a 0-dim tensor when per tensor)."""
    if not per_channel:
        return t.reshape(())
    return t.reshape([-1 if d == axis else 1 for d in range(x.dim())])


def _affine_params(lo: Tensor, hi: Tensor, bits: int, scheme: str) -> tuple[Tensor, Tensor, int, int]:
    """Scale (float32) and zero point (int32) from the range [lo, hi] of each slice."""
    qmin, qmax = qrange(bits, scheme)
    lo, hi = lo.float(), hi.float()
    if scheme == "symmetric":
        scale = torch.maximum(-lo, hi).clamp_min(0) / qmax
        zp = torch.zeros_like(scale, dtype=torch.int32)
    else:
        # the range always holds 0, so 0 (ReLU zeros, pruned weights) is exactly representable
        lo, hi = lo.clamp(max=0), hi.clamp(min=0)
        scale = (hi - lo) / (qmax - qmin)
    # an all-zero slice has scale 0, and 1/0 * 0 = NaN in torch's kernel: any positive scale
    # maps zeros to code zp and back to exactly 0, so use 1; a subnormal scale would make
    # 1/scale overflow to inf, so floor it at the smallest normal float
    scale = torch.where(scale > 0, scale.clamp_min(torch.finfo(torch.float32).tiny), torch.ones_like(scale))
    if scheme == "asymmetric":
        zp = torch.round(-lo / scale).clamp(qmin, qmax).to(torch.int32)
    return scale, zp, qmin, qmax


def _binary_scale(x: Tensor, per_channel: bool, axis: int) -> Tensor:
    """Mean |x| over the non-zero entries of each slice (0 for an all-zero slice)."""
    s = _per_slice(x, per_channel, axis).float()
    n = (s != 0).sum(1)
    return (s.abs().sum(1) / n.clamp_min(1)).float()


def quant_params(
    x: Tensor, bits: int, scheme: str = "symmetric", per_channel: bool = False, axis: int = 0
) -> tuple[Tensor, Tensor, int, int]:
    """(scale, zero_point, qmin, qmax) of uniform quantization of x; per-slice 1-D tensors when per_channel."""
    bits, scheme = _check_bits(bits), _check_scheme(scheme)
    if bits >= IDENTITY_BITS:
        raise ValueError(f"bits >= {IDENTITY_BITS} means no quantization, so there are no quantization parameters")
    axis = _check_axis(x, axis) if per_channel else 0
    if bits == 1:
        # binarization is not affine: codes are sign(x) in {-1, 0, 1} and scale is mean|x|
        scale = _binary_scale(x, per_channel, axis)
        scale = scale if per_channel else scale.reshape(())
        return scale, torch.zeros_like(scale, dtype=torch.int32), -1, 1
    s = _per_slice(x, per_channel, axis)
    scale, zp, qmin, qmax = _affine_params(s.amin(1), s.amax(1), bits, scheme)
    if not per_channel:
        scale, zp = scale.reshape(()), zp.reshape(())
    return scale, zp, qmin, qmax


def _quantize_codes(x: Tensor, scale: Tensor, zp: Tensor, qmin: int, qmax: int) -> Tensor:
    """Integer codes (as floats) with torch's own arithmetic: zp + nearbyint(x * (1/scale)), clamped."""
    # torch's CPU kernel multiplies by a float32 inv_scale rather than dividing by scale, and
    # rounds half to even (std::nearbyint == torch.round); x / scale rounds the other way on
    # rare near-ties (about 1 value in a few million), which torch.equal would catch
    inv_scale = 1.0 / scale
    return (torch.round(x * inv_scale) + zp).clamp(qmin, qmax)


def fake_quantize(x: Tensor, bits: int, scheme: str = "symmetric", per_channel: bool = False, axis: int = 0) -> Tensor:
    """Quantize then dequantize x (bits >= 32: x itself; bits == 1: sign(x) * mean|x|)."""
    bits, scheme = _check_bits(bits), _check_scheme(scheme)
    if bits >= IDENTITY_BITS or x.numel() == 0:
        return x
    axis = _check_axis(x, axis) if per_channel else 0
    if bits == 1:
        # sign(0) = 0: zeros (pruned weights, an all-zero tensor) stay exactly zero, and the
        # scale is the mean over the non-zero entries, the least-squares optimal scale for
        # their signs (XNOR-Net); on a dense tensor this is exactly sign(x) * mean|x|
        a = _broadcast(_binary_scale(x, per_channel, axis), x, per_channel, axis)
        return (torch.sign(x if x.dtype == torch.float64 else x.float()) * a).to(x.dtype)
    scale, zp, qmin, qmax = quant_params(x, bits, scheme, per_channel, axis)
    scale, zp = _broadcast(scale, x, per_channel, axis), _broadcast(zp, x, per_channel, axis)
    # half/bfloat16 are computed in float32 and cast back, as torch's kernel does
    xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    q = _quantize_codes(xf, scale, zp, qmin, qmax)
    # torch's per-tensor kernel dequantizes in float32 even for float64 input (per channel it
    # uses the input's precision); follow it so float64 results are bit-identical too
    q = q - zp if per_channel else (q - zp).float()
    return (q * scale).to(x.dtype)


def affine_rows(x: Tensor, scale: Tensor, zp: Tensor, qmin: int, qmax: int) -> Tensor:
    """Fake-quantize each row of a 2-D x with its own scale and zero point (float32).

    The arithmetic of torch.fake_quantize_per_channel_affine(x, scale, zp, 0, qmin, qmax):
    group-wise grids run it on the (groups, g) matrix of their blocks.
    """
    s, z = scale.reshape(-1, 1).float(), zp.reshape(-1, 1)
    return (_quantize_codes(x.float(), s, z, qmin, qmax) - z) * s


def levels(x: Tensor, bits: int, scheme: str = "symmetric") -> Tensor:
    """Sorted values that per-tensor fake_quantize(x, bits, scheme) can output (empty for bits >= 32)."""
    bits, scheme = _check_bits(bits), _check_scheme(scheme)
    dtype = x.dtype if x.is_floating_point() else torch.float32
    if bits >= IDENTITY_BITS:
        return torch.empty(0, dtype=dtype)
    if x.numel() == 0 or not bool((x != 0).any()):
        return torch.zeros(1, dtype=dtype)
    scale, zp, qmin, qmax = quant_params(x, bits, scheme)
    if bits == 1:
        return torch.stack([-scale, scale]).to(dtype)
    q = torch.arange(qmin, qmax + 1, dtype=torch.float32)
    # the same float32 arithmetic as fake_quantize's dequantization, so the values match exactly
    return ((q - zp) * scale).to(dtype)


# -----------------------------------------------------------------------------
# k-means weight sharing (Deep Compression, Han et al. 2016)


KMEANS_MAX_ITERS = 300  # a generous cap: Lloyd in 1-D converges in tens of steps here


def kmeans_quantize(
    w: Tensor, bits: int, mask: Tensor | None = None, iters: int = KMEANS_MAX_ITERS, k: int | None = None
) -> tuple[Tensor, Tensor]:
    """Share weights among 2**bits k-means centroids (linear init, Lloyd to convergence); returns (w_q, centroids).

    Lloyd runs until no weight changes cluster (or `iters` updates); a centroid left with no
    weights (stranded, e.g. in the pruned gap around zero) is moved to the weight farthest from
    its centre in the cluster with the largest squared error, so every code ends up in use.

    Only kept weights (mask True, or non-zero when mask is None) are clustered; the others
    come back exactly 0. k (default 2**bits) may be smaller, e.g. 2**bits - 1 when one code
    is kept for the pruned zeros. centroids is sorted and has k entries, or fewer when the
    kept weights have fewer distinct values (then they are the centroids and the error is 0).
    """
    bits = _check_bits(bits)
    if bits >= IDENTITY_BITS:
        keep = (w != 0) if mask is None else mask.bool()
        return torch.where(keep, w, torch.zeros_like(w)), torch.empty(0, dtype=w.dtype)
    k = 2**bits if k is None else k
    if not 1 <= k <= 2**bits:
        raise ValueError(f"k must be in 1..{2**bits} for bits={bits}, got {k}")
    # numpy for the 1-D core: np.sort is ~25x faster than torch.sort on CPU at 50k elements,
    # and numpy's per-call overhead is lower for the many tiny ops of the loop
    wn = w.detach().cpu()
    wn = (wn if wn.dtype == torch.float64 else wn.float()).numpy()  # numpy has no bfloat16
    keep = (wn != 0) if mask is None else mask.detach().cpu().bool().numpy()
    kept = wn[keep]
    if kept.size == 0:
        return torch.zeros_like(w), torch.zeros(k, dtype=w.dtype)
    v = np.sort(kept).astype(np.float64)  # float64 so the prefix sums below stay exact enough
    distinct = v[np.concatenate(([True], v[1:] != v[:-1]))]
    if distinct.size <= k:
        # Lloyd from linear init can strand centroids in empty gaps; with no more distinct
        # values than centroids the optimum is the values themselves (zero error)
        c = distinct
    else:
        # linear init between min and max: Han et al. found it beats density-based and random
        # init because it keeps centroids on the rare large weights, which matter most
        c = np.linspace(v[0], v[-1], k)
        c = _lloyd_1d(v, c, iters)
    centroids = c.astype(wn.dtype)
    idx = np.searchsorted((c[:-1] + c[1:]) / 2, wn, side="left")  # same tie rule as the loop
    w_q = np.where(keep, centroids[idx], 0).astype(wn.dtype)
    return torch.from_numpy(w_q).to(w.dtype).to(w.device), torch.from_numpy(centroids).to(w.dtype)


def _lloyd_1d(v: np.ndarray, c: np.ndarray, iters: int) -> np.ndarray:
    """Lloyd's k-means on sorted 1-D values v from sorted centroids c, until assignments settle."""
    k = c.size
    csum = np.concatenate(([0.0], np.cumsum(v)))
    csum2 = np.concatenate(([0.0], np.cumsum(v * v)))
    ends = np.zeros(k + 1, dtype=np.int64)  # cluster j is v[ends[j]:ends[j+1]]
    ends[-1] = v.size
    previous = None
    for _ in range(iters):
        # in 1-D with sorted centroids each cluster is the run of sorted weights between two
        # midpoints: O(k log n) per step with prefix sums instead of an n x k distance matrix;
        # a weight exactly on a midpoint goes to the lower centroid, as argmin would
        ends[1:-1] = np.searchsorted(v, (c[:-1] + c[1:]) / 2, side="right")
        count, sums = np.diff(ends), np.diff(csum[ends])
        if (count == 0).any():
            c = _reseed(v, c, ends, count, sums, np.diff(csum2[ends]))
            previous = None
            continue
        if previous is not None and np.array_equal(ends, previous):
            break  # converged: no weight changed cluster, so c are already their means
        previous = ends.copy()
        # centroids stay sorted since each mean lies inside its own cluster's interval
        c = sums / count
    return c


def _reseed(v: np.ndarray, c: np.ndarray, ends: np.ndarray, count: np.ndarray, sums: np.ndarray,
            squares: np.ndarray) -> np.ndarray:
    """Move one empty cluster's centroid to the farthest weight of the cluster with the largest error."""
    # deterministic (no random restart): sklearn also relocates empty clusters to far points;
    # with more distinct values than centroids some cluster has a positive error to split
    sse = np.where(count > 0, squares - sums**2 / np.maximum(count, 1), -1.0)
    worst = int(np.argmax(sse))
    centre = sums[worst] / count[worst]
    lo, hi = v[ends[worst]], v[ends[worst + 1] - 1]
    c = c.copy()
    c[int(np.flatnonzero(count == 0)[0])] = lo if centre - lo >= hi - centre else hi
    return np.sort(c)


# -----------------------------------------------------------------------------
# quantization error


def error_stats(w: Tensor, w_q: Tensor) -> dict[str, float]:
    """Mean squared error, signal-to-quantization-noise ratio in dB, and max |w - w_q|."""
    w, e = w.double(), (w_q.double() - w.double())
    if e.numel() == 0:
        return {"mse": 0.0, "sqnr_db": float("inf"), "max_abs": 0.0}
    signal, noise = float((w * w).sum()), float((e * e).sum())
    if noise == 0:
        sqnr = float("inf")
    elif signal == 0:
        sqnr = float("-inf")
    else:
        sqnr = 10 * math.log10(signal / noise)
    return {"mse": noise / e.numel(), "sqnr_db": sqnr, "max_abs": float(e.abs().max())}


def error_histogram(w: Tensor, w_q: Tensor, bins: int = 60) -> dict[str, list]:
    """Histogram of the error w_q - w, binned here so only bins+1 edges and bins counts leave the server."""
    e = (w_q.double() - w.double()).flatten()
    lo, hi = (float(e.min()), float(e.max())) if e.numel() else (0.0, 0.0)
    if lo == hi:  # all errors equal (e.g. none): one unit-wide window around the value
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = torch.histogram(e, bins=bins, range=(lo, hi))
    return {"edges": edges.tolist(), "counts": [int(c) for c in counts.tolist()]}


# -----------------------------------------------------------------------------
# activation quantization (simulated)

ACT_LAYERS = (nn.Linear, nn.Conv2d, nn.MultiheadAttention)  # the modules owning compressible layers


def _inputs(module: nn.Module, args: tuple) -> int:
    """How many leading arguments are activations entering the layer's weights: q, k and v for attention."""
    return 3 if isinstance(module, nn.MultiheadAttention) else 1


def calibrate_activations(model: nn.Module, x_calib: Tensor) -> dict[str, tuple[float, float]]:
    """Min and max of the input of every Linear / Conv2d over one forward pass of x_calib."""
    ranges: dict[str, tuple[float, float]] = {}

    def record(name: str):
        def hook(module: nn.Module, args: tuple) -> None:
            xs = [a.detach() for a in args[:_inputs(module, args)] if isinstance(a, Tensor)]
            if not xs:  # called with keyword arguments only: nothing to calibrate
                return
            lo, hi = min(float(x.min()) for x in xs), max(float(x.max()) for x in xs)
            if name in ranges:  # a module called twice: the union of its ranges
                lo, hi = min(lo, ranges[name][0]), max(hi, ranges[name][1])
            ranges[name] = (lo, hi)

        return hook

    handles = [m.register_forward_pre_hook(record(n)) for n, m in model.named_modules() if isinstance(m, ACT_LAYERS)]
    try:
        with torch.no_grad():
            model(x_calib)
    finally:
        for h in handles:  # leave the caller's (possibly shared) model as we found it
            h.remove()
    return ranges


def quantize_activations(
    model: nn.Module, ranges: dict[str, tuple[float, float]], bits: int, scheme: str = "asymmetric"
) -> list:
    """Fake-quantize the input of each calibrated layer to a fixed range; returns hook handles to remove."""
    bits, scheme = _check_bits(bits, name="activation bits", lo=2), _check_scheme(scheme)
    if bits >= IDENTITY_BITS:
        return []
    handles = []
    for name, module in model.named_modules():
        if name not in ranges or not isinstance(module, ACT_LAYERS):
            continue
        lo, hi = ranges[name]
        # a fixed (static) range: inputs outside it clamp to the end codes, as int8 inference would
        scale, zp, qmin, qmax = _affine_params(torch.tensor(lo), torch.tensor(hi), bits, scheme)

        def hook(module: nn.Module, args: tuple, scale=scale, zp=zp, qmin=qmin, qmax=qmax) -> tuple:
            def fake(x):
                if not isinstance(x, Tensor):
                    return x
                xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
                return ((_quantize_codes(xf, scale, zp, qmin, qmax) - zp) * scale).to(x.dtype)

            n = _inputs(module, args)
            return (*(fake(a) for a in args[:n]), *args[n:])

        handles.append(module.register_forward_pre_hook(hook))
    return handles
