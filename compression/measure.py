"""Measurements: accuracy with its confidence interval, parameters, MACs, sizes, latency."""
from __future__ import annotations

import hashlib
import math
import statistics
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from compression import isolation
from compression.layers import Layer, LayerKind, private
from compression.models import layers

Z95 = 1.959964  # two-sided 95 % normal quantile


# 256 rather than 2048: on Fashion-MNIST's 10,000 test images a conv net's activations for 2,048
# images outgrow the CPU caches, and LeNet-5 / the MobileNet took twice as long per image (measured).
EVAL_BATCH = 256


@torch.no_grad()
def predictions(model: nn.Module, x: torch.Tensor, batch_size: int = EVAL_BATCH) -> torch.Tensor:
    """Top-1 class of every input (one forward per batch; no DataLoader).

    Conv nets on images run in channels-last layout, on a copy (the model may be shared): CPU
    max-pooling and convolutions are faster there (resnet-fashion scores 10,000 images 1.6x
    faster, its 2x2 max-pool 6x; benchmarks/evaluate_arch.py fashion). Same arithmetic,
    other kernels: logits agree to float rounding.
    """
    model.eval()
    if len(x) == 0:
        return torch.zeros(0, dtype=torch.long)
    fmt = torch.contiguous_format
    if x.dim() == 4 and any(isinstance(m, nn.Conv2d) for m in model.modules()):
        try:
            model, fmt = private(model).to(memory_format=torch.channels_last), torch.channels_last
        except RuntimeError:  # a model deepcopy refuses (torch.nn.utils.prune's computed weights): as it is
            pass
    return torch.cat([model(x[i:i + batch_size].contiguous(memory_format=fmt)).argmax(1)
                      for i in range(0, len(x), batch_size)])


# The uncompressed model's predictions, remembered per (weights, test images): every config of a
# model scores the same baseline, which was half of a Fashion-MNIST evaluate (1.7 of 3.4 s for
# resnet-fashion). Keyed on a digest of the weights (a caller may change its model) and on the
# test tensor itself (held weakly: data sets are cached and read-only; a new one is a new key).
_REFERENCE: dict[int, tuple[weakref.ref, dict[str, torch.Tensor]]] = {}
_REFERENCE_LOCK = threading.Lock()
_REFERENCE_SIZE = 8


def state_digest(model: nn.Module) -> str:
    """SHA-1 of every parameter and buffer (names, dtypes, shapes, bytes): the model's identity as weights."""
    h = hashlib.sha1()
    for name, t in model.state_dict().items():
        t = t.detach().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def reference_predictions(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """predictions(model, x) for an uncompressed model, computed once per (weights, x) in this process."""
    digest = state_digest(model)
    with _REFERENCE_LOCK:
        entry = _REFERENCE.get(id(x))
        if entry is not None and entry[0]() is x and digest in entry[1]:
            return entry[1][digest]
    preds = predictions(model, x)
    with _REFERENCE_LOCK:
        entry = _REFERENCE.get(id(x))
        if entry is None or entry[0]() is not x:
            while len(_REFERENCE) >= _REFERENCE_SIZE:
                _REFERENCE.pop(next(iter(_REFERENCE)))
            entry = (weakref.ref(x), {})
            _REFERENCE[id(x)] = entry
        entry[1][digest] = preds
    return preds


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = EVAL_BATCH) -> float:
    """Fraction of correct top-1 predictions."""
    return int((predictions(model, x, batch_size) == y).sum()) / len(x)


def wilson_interval(p: float, n: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval for a proportion: honest near 0 and 1, unlike p ± z·se."""
    if n == 0:
        return (0.0, 1.0)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def paired_delta(correct_a: Sequence[bool], correct_b: Sequence[bool], z: float = Z95
                 ) -> tuple[float, tuple[float, float]]:
    """Accuracy of a minus accuracy of b on the same images, with its paired 95 % interval.

    Newcombe 1998 (Stat. Med. 17:2635), method 10: square-and-add of the two Wilson intervals,
    with the correlation of the paired outcomes (phi, continuity-corrected as in the paper)
    narrowing it. Two models that fail on the same hard images are strongly correlated, so the
    interval is much narrower than one that treats the two accuracies as independent.
    """
    if len(correct_a) != len(correct_b):
        raise ValueError(f"paired outcomes need the same images: {len(correct_a)} vs {len(correct_b)}")
    n = len(correct_a)
    if n == 0:
        return 0.0, (-1.0, 1.0)
    both = sum(1 for a, b in zip(correct_a, correct_b) if a and b)
    only_a = sum(1 for a, b in zip(correct_a, correct_b) if a and not b)
    only_b = sum(1 for a, b in zip(correct_a, correct_b) if b and not a)
    neither = n - both - only_a - only_b
    p1, p2 = (both + only_a) / n, (both + only_b) / n
    l1, u1 = wilson_interval(p1, n, z)
    l2, u2 = wilson_interval(p2, n, z)
    margins = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    cross = both * neither - only_a * only_b
    # phi, with Newcombe's correction: shrink a positive ad - bc by n/2, never below zero.
    if margins == 0:
        phi = 0.0
    elif cross > n / 2:
        phi = (cross - n / 2) / math.sqrt(margins)
    elif cross >= 0:
        phi = 0.0
    else:
        phi = cross / math.sqrt(margins)
    d = p1 - p2
    lo = d - math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    hi = d + math.sqrt(max(0.0, (p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2))
    return d, (max(-1.0, lo), min(1.0, hi))


def noise_verdict(delta: float, ci: Sequence[float]) -> str:
    """What a paired interval says: "a real loss", "a real gain" or "within noise"."""
    lo, hi = ci
    if hi < 0:
        return "a real loss"
    if lo > 0:
        return "a real gain"
    return "within noise"


def signed_pts(x: float) -> str:
    """A difference of two fractions in percentage points with a sign and a real minus: '−0.3', '+0.6'."""
    text = f"{x * 100:+.1f}"
    if x != 0 and float(text) == 0:  # a real difference never reads '+0.0': two significant digits
        text = f"{x * 100:+.2g}"
    return text.replace("-", "−")


def delta_sentence(delta: float, ci: Sequence[float], verdict: str | None = None) -> str:
    """'−0.3 pts (95 % CI −1.1 to +0.6): within noise' from a paired interval (and its verdict).

    The one wording of an accuracy change, on the pages and in the HTML report.
    """
    verdict = verdict or noise_verdict(delta, ci)
    return f"{signed_pts(delta)} pts (95 % CI {signed_pts(ci[0])} to {signed_pts(ci[1])}): {verdict}"


@dataclass(frozen=True)
class LayerShape:
    """What a layer costs per inference: dense MACs and the activations it reads and writes."""
    name: str
    kind: str            # "linear", "conv" or "attention" (compression.layers.LayerKind)
    weight_shape: tuple[int, ...]
    macs: int            # dense multiply-accumulates for one input sample
    in_elems: int        # input activations read, one sample
    out_elems: int       # output activations written, one sample
    fan_in: int          # weights summed into each output (sets accumulator width)


@torch.no_grad()
def layer_shapes(model: nn.Module, input_shape: tuple[int, ...]) -> list[LayerShape]:
    """Trace one sample through the model to count each compressible layer's dense MACs."""
    found: list[LayerShape] = []

    def hook(layer: Layer):
        def record(module: nn.Module, args: tuple, kwargs: dict, output) -> None:
            w = layer.weight
            fan_in = w[0].numel()  # in_features, or in_channels/groups * kh * kw, or the embedding width
            if layer.kind is LayerKind.ATTENTION:
                # q, k and v each go through their E x E third of the packed projection
                qkv = [*args, *(kwargs[k] for k in ("query", "key", "value") if k in kwargs)][:3]
                distinct = {id(t): t.numel() for t in qkv}
                read = sum(t.numel() for t in qkv)
                found.append(LayerShape(layer.name, str(layer.kind), tuple(w.shape), read * fan_in,
                                        sum(distinct.values()), read, fan_in))
                # the attention's output projection is applied inside its forward, never called as a
                # module: its hook does not fire, so it is counted here, once per query token
                out = all_layers.get(layer.name.removesuffix("in_proj") + "out_proj")
                if out is not None:
                    tokens_x_e = qkv[0].numel()
                    wo = out.weight
                    found.append(LayerShape(out.name, str(out.kind), tuple(wo.shape), tokens_x_e // wo.shape[1]
                                            * wo.numel(), tokens_x_e, tokens_x_e // wo.shape[1] * wo.shape[0],
                                            wo[0].numel()))
                return
            found.append(LayerShape(layer.name, str(layer.kind), tuple(w.shape), output.numel() * fan_in,
                                    args[0].numel(), output.numel(), fan_in))
        return record

    model = private(model)  # hooks never go on a model that other threads may run
    all_layers = layers(model)
    handles = [layer.module.register_forward_hook(hook(layer), with_kwargs=True) for layer in all_layers.values()]
    try:
        model(torch.zeros(1, *input_shape))
    finally:
        for h in handles:
            h.remove()
    return _uncalled_in_projections(found, all_layers)


def _uncalled_in_projections(found: list[LayerShape], all_layers: dict[str, Layer]) -> list[LayerShape]:
    """An exported program's attention reads its packed in-projection in its own graph (no module is
    called): counted from its output projection, which is called, as self-attention's q, k and v of
    the same tokens (3 E x E products per token), placed just before it in forward order."""
    seen = {s.name for s in found}
    out: list[LayerShape] = []
    for s in found:
        name = s.name.removesuffix("out_proj") + "in_proj"
        layer = all_layers.get(name)
        if s.name.endswith("out_proj") and layer is not None and layer.kind is LayerKind.ATTENTION and name not in seen:
            e = layer.weight.shape[1]
            tokens = s.in_elems // e
            out.append(LayerShape(name, str(layer.kind), tuple(layer.weight.shape), 3 * tokens * e * e,
                                  tokens * e, 3 * tokens * e, e))
            seen.add(name)
        out.append(s)
    return out


def count_params(model: nn.Module) -> tuple[int, int]:
    """(total, non-zero) parameter counts, read from the actual tensors."""
    total = sum(p.numel() for p in model.parameters())
    nonzero = sum(int(torch.count_nonzero(p)) for p in model.parameters())
    return total, nonzero


@dataclass(frozen=True)
class Timing:
    """Wall-clock times of one forward pass, in ms: median and interquartile range (q3 - q1)."""
    median: float
    iqr: float
    repeats: int


@dataclass(frozen=True)
class SpeedVerdict:
    """"faster", "slower" or "no change", and fp32 time / compressed time."""
    word: str
    ratio: float

    def __str__(self) -> str:
        if self.word == "faster":
            return f"{self.ratio:.1f}× faster"
        if self.word == "slower":
            return f"{1 / self.ratio:.1f}× slower"
        return "no change"


def _timing(times: list[float]) -> Timing:
    q1, q2, q3 = statistics.quantiles(times, n=4, method="inclusive")
    return Timing(median=q2 * 1e3, iqr=(q3 - q1) * 1e3, repeats=len(times))


@torch.no_grad()
def interleaved(calls: dict[str, Callable[[], object]], *, warmup: int = 5, min_repeats: int = 15,
                max_repeats: int = 500, budget_s: float = 0.01) -> dict[str, Timing]:
    """Time several paths in the same rounds, on one thread: {label: timing}.

    Every round runs every path once, so a load spike or a change of CPU clock hits all of
    them alike and ratios between them stay honest (timing one path after another lets the
    machine change in between). The order turns each round (and runs backwards every other
    one), so no path is always first after the others warmed the caches. Rounds continue until
    `budget_s` is spent (at least min_repeats, at most max_repeats). One thread, because a
    second one only adds contention for these small models and makes times depend on what else
    runs; the caller's thread count is restored.
    """
    names = list(calls)
    with isolation.one_thread():  # counted: concurrent sessions do not undo each other's setting
        for _ in range(warmup):
            for name in names:
                calls[name]()
        times: dict[str, list[float]] = {name: [] for name in names}
        start = time.perf_counter()
        i = 0
        while i < max_repeats and (i < min_repeats or time.perf_counter() - start < budget_s):
            shift = (i // 2) % len(names)
            order = names[shift:] + names[:shift]
            for name in (order if i % 2 == 0 else order[::-1]):
                t0 = time.perf_counter()
                calls[name]()
                times[name].append(time.perf_counter() - t0)
            i += 1
    return {name: _timing(t) for name, t in times.items()}


def speed_verdict(fp32_ms: float, compressed_ms: float, fp32_iqr: float = 0.0,
                  compressed_iqr: float = 0.0, band: float = 0.05) -> SpeedVerdict:
    """Faster, slower or no change: the one rule the card, the notes and the charts all use.

    "no change" when the difference is within `band` (5 %) of the fp32 time or within half the
    two interquartile ranges added: a difference smaller than the run-to-run spread is not one.
    """
    ratio = fp32_ms / compressed_ms if compressed_ms > 0 else math.inf
    noise = max(band * fp32_ms, (fp32_iqr + compressed_iqr) / 2)
    if abs(fp32_ms - compressed_ms) <= noise:
        return SpeedVerdict("no change", ratio)
    return SpeedVerdict("faster" if compressed_ms < fp32_ms else "slower", ratio)


@dataclass(frozen=True)
class LatencyVerdict:
    """The latency card's one verdict and, apart from it, what the runtime alone changed.

    `verdict` compares the compressed model with the uncompressed one on the same runtime
    (ONNX Runtime int8 against ONNX Runtime fp32 when int8 ran there, else PyTorch against
    PyTorch); `runtime` is PyTorch fp32 against ONNX Runtime fp32 (None when ONNX Runtime did
    not run): a faster runtime is not a gain of compression (issue 15: "1.6× faster" above
    "Why no speed-up?").
    """
    verdict: SpeedVerdict
    reference: str            # what the compressed time is compared with
    reference_ms: float
    reference_iqr: float
    runtime: SpeedVerdict | None


def latency_verdict(latency_ms: dict) -> LatencyVerdict | None:
    """From a Report's latency_ms (keys of pipeline.LATENCY_KEYS); None when not measured."""
    lat = latency_ms
    if not lat.get("compressed") or not lat.get("fp32"):
        return None
    if lat.get("ort_fp32"):
        ref, ref_iqr, word = lat["ort_fp32"], lat.get("ort_fp32_iqr") or 0.0, "ONNX Runtime fp32"
        runtime = speed_verdict(lat["fp32"], ref, lat.get("fp32_iqr") or 0.0, ref_iqr)
    else:
        ref, ref_iqr, word, runtime = lat["fp32"], lat.get("fp32_iqr") or 0.0, "PyTorch fp32", None
    verdict = speed_verdict(ref, lat["compressed"], ref_iqr, lat.get("compressed_iqr") or 0.0)
    return LatencyVerdict(verdict, word, ref, ref_iqr, runtime)
