"""The scrubbing grid (issue 19): every (sparsity, bits) point of one scenario, precomputed.

A browser-side scrubber redraws from this grid while a slider is dragged, with no server round
trip. The fast path prunes once per sparsity and quantizes that pruned copy once per bit-width;
accuracy, size and energy are computed the way pipeline.evaluate_model computes them (the same
plan, quantizer records, size layouts and energy model), so at a grid point the numbers are
evaluate's (tests/test_scrub.py checks). Configs whose quantization depends on more than the
pruned weights (QAT, GPTQ/AWQ, SmoothQuant) or whose pruned rows are sliced out run the full
compress() per point: exact, slower.
"""
from __future__ import annotations

import copy
import html as html_lib
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from compression import data, energy, measure, models, plan, quantize, size, source, structures
from compression.accounting import _energy_totals, _histograms
from compression.apply import _applicable, compress
from compression.config import BITS, FLOAT_BITS, CompressionConfig
from compression.layers import compressible, layer_params
from compression.models import Progress
from compression.quantizers import Quantized, lookup

SPARSITIES: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(20))  # 0 .. 0.95
UNIFORM_BITS = (2, 3, 4, 5, 6, 8, 16, FLOAT_BITS)
ERROR_BINS = 60


def bits_range(quantizer: str) -> tuple[int, ...]:
    """The bit-widths the grid spans: a number format's own width and float, else 2..8, 16, 32."""
    record = lookup(quantizer)
    if record.width is not None:
        return (record.width, FLOAT_BITS)
    return tuple(b for b in UNIFORM_BITS if b in BITS)


def axes(config: CompressionConfig) -> CompressionConfig:
    """The scenario a grid is made for: sparsity and bits are its axes, everything else stays as set."""
    return config.replace(sparsity=0.0, bits=FLOAT_BITS)


def kept_grid(model: str | source.ModelSource, config: CompressionConfig, store: Any | None, *,
              data_dir: str | Path | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """grid() for `config`'s axes, kept in `store` (a history.History, kind "scrub", keyed by the model,
    those axes and the code version): computed once per scenario, then read back by every session,
    the report and the CLI. `store` None: computed, not kept (a history that cannot be opened)."""
    scenario = axes(config)

    def compute() -> dict[str, Any]:
        return grid(model, None, scenario, data_dir=data_dir, progress=progress)
    return compute() if store is None else store.cached("scrub", str(model), scenario.to_dict(), compute)


def _exact_only(config: CompressionConfig) -> bool:
    """Quantization that depends on more than the pruned weights: every point runs compress()."""
    return config.qat or config.method != "rtn" or config.smooth_alpha > 0


def grid(model: str | source.ModelSource | nn.Module, ds: data.Dataset | None, config: CompressionConfig,
         layer: str | None = None, *, sparsities: tuple[float, ...] = SPARSITIES, bits: tuple[int, ...] | None = None,
         data_dir: str | Path | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """The grid as plain JSON-able values: axes, the layer's shared bin edges, one record per point.

    `model`: a source (or its word) loaded here with its own test data, or a module with `ds`.
    `layer`: the layer whose weight and error histograms are kept (default: the first compressible).
    Each point: accuracy with its Wilson interval, size in bytes (compressed, without writing
    the file), energy in pJ, the layer's non-zero histogram on the shared edges with the zero
    count apart, and its quantization-error histogram on shared edges.
    """
    if not isinstance(model, nn.Module):
        src = source.parse(model) if isinstance(model, str) else model
        if src.kind == "zoo":
            models.ensure(src.name, data_dir=data_dir, progress=progress)
        loaded = source.load(src, data_dir=data_dir)
        base, ds = loaded.model, loaded.dataset
    else:
        base = model
    if ds is None or len(ds.y_test) == 0:
        raise ValueError("the scrubbing grid needs test data: this model has none")
    bits = bits or bits_range(config.quantizer)
    fixed = structures.structure(config.structure).fixed_sparsity
    if fixed is not None:  # 2:4 sets the sparsity itself: one row, the slider says so
        sparsities = (fixed,)
    originals = compressible(base)
    layer = layer or next(iter(originals))
    if layer not in originals:
        raise ValueError(f"unknown layer '{layer}': compressible layers are {', '.join(originals)}")
    w0 = originals[layer].weight.detach()
    # error edges shared by all points: the largest rounding error of a symmetric 2-bit grid is
    # half its step, max|w|/2; anything beyond (asymmetric, k-means outliers) lands in the end bins
    e_max = max(float(w0.abs().max()) / 2, 1e-8)
    err_edges = torch.linspace(-e_max, e_max, ERROR_BINS + 1)
    shapes = measure.layer_shapes(copy.deepcopy(base), ds.input_shape)  # traced on a copy: base may be shared
    n = len(ds.y_test)
    points: list[dict[str, Any]] = []
    edges: list[float] = []
    total = len(sparsities) * len(bits)
    for i, s in enumerate(sparsities):
        pruned_cfg = config.replace(sparsity=s, bits=FLOAT_BITS, layer_bits=(), act_bits=FLOAT_BITS)
        run_pruned, _ = _applicable(pruned_cfg, ds, base)
        pruned, masks, _ = compress(base, ds, run_pruned)
        for j, b in enumerate(bits):
            cfg = config.replace(sparsity=s, bits=b)
            run_cfg, _ = _applicable(cfg, ds, base)
            lp = plan.make(base, run_cfg)
            if _exact_only(run_cfg) or lp.sliced or lp.masks_by_heads:
                m, _, quant = compress(base, ds, run_cfg, layer_plan=lp)
            else:
                m, quant = _quantized(pruned, ds, run_cfg, lp)
            point = _point(base, m, masks, quant, lp, run_cfg, shapes, n, ds, layer, w0, err_edges)
            edges = point.pop("edges")
            points.append({"sparsity": s, "bits": b, **point})
            if progress is not None:
                done = i * len(bits) + j + 1
                progress(done / total, f"scrubbing grid: {done} of {total} points")
    return {"model": getattr(model, "name", None) if not isinstance(model, str) else model,
            "layer": layer, "sparsities": list(sparsities), "bits": list(bits), "n_test": n,
            "edges": edges, "error_edges": err_edges.tolist(), "points": points,
            "config": json.loads(json.dumps(config.to_dict()))}  # plain JSON: equal after the history's round trip


def _quantized(pruned: nn.Module, ds: data.Dataset, config: CompressionConfig, lp: plan.Plan
               ) -> tuple[nn.Module, dict[str, Quantized]]:
    """compress()'s round-to-nearest and activation stages on a copy of the pruned model."""
    model = copy.deepcopy(pruned)
    quant: dict[str, Quantized] = {}
    if lp.quantizes_weights:
        with torch.no_grad():
            for name, layer in compressible(model).items():
                st = lp.layers[name]
                if st.quantized:
                    w_q, quant[name] = st.quantizer.quantize(layer.weight, st.bits, st.scheme, st.granularity)
                    layer.weight.copy_(w_q)
    if config.quantizes_activations:
        ranges = quantize.calibrate_activations(model, ds.x_calib)
        quantize.quantize_activations(model, ranges, config.act_bits)
    return model.eval(), quant


def _point(base: nn.Module, model: nn.Module, masks: dict[str, torch.Tensor], quant: dict[str, Quantized],
           lp: plan.Plan, config: CompressionConfig, shapes: list[measure.LayerShape], n: int,
           ds: data.Dataset, layer: str, w0: torch.Tensor, err_edges: torch.Tensor) -> dict[str, Any]:
    """One grid point's numbers, each as evaluate_model computes it."""
    compressed = compressible(model)
    correct = int((measure.predictions(model, ds.x_test) == ds.y_test).sum())
    acc = correct / n
    layouts = lp.store(compressed, quant)
    owned = layer_params(compressed)
    other_bits = sum(p.numel() for nm, p in model.named_parameters() if nm not in owned) * size.FLOAT_BITS
    compressed_bits = sum(lay.plain.total for lay in layouts.values()) + other_bits
    profile = energy.profile(config.profile, config.sram_kb)
    on_chip = energy.weights_on_chip(profile, compressed_bits / 8)
    compute = 0.0
    for shape in shapes:
        st = lp.layers[shape.name]
        w = compressed[shape.name].weight.detach()
        macs_eff = round(shape.macs * float(torch.count_nonzero(w)) / w.numel()) if config.skip_zeros else shape.macs
        compute += energy.layer_compute_pj(profile, macs_eff, shape.out_elems, st.bits, st.act_bits, shape.fan_in,
                                           st.energy_op)
    act_bits = sum((s.in_elems + s.out_elems) * lp.layers[s.name].act_bits for s in shapes)
    e = _energy_totals(profile, compute, compressed_bits, act_bits, on_chip)
    w = compressed[layer].weight.detach()
    hist = _histograms(w0, w)
    mask = masks.get(layer + ".weight")
    before = quant[layer].before if layer in quant else w
    err = (w - before)[mask] if mask is not None else (w - before).flatten()
    lo, hi = float(err_edges[0]), float(err_edges[-1])
    err_counts = torch.histc(err.double().clamp(lo, hi), ERROR_BINS, lo, hi).long().tolist() if err.numel() else \
        [0] * ERROR_BINS
    ci = measure.wilson_interval(acc, n)
    return {"edges": hist["edges"], "accuracy": acc, "accuracy_ci95": [ci[0], ci[1]],
            "size_bytes": compressed_bits / 8, "energy_pj": e["total"],
            "hist": hist["compressed"], "zeros": hist["zeros_compressed"], "error_hist": err_counts}


# --------------------------------------------------------------------------- drawn in the browser

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "scrubber"


def page_parts() -> tuple[str, str, str]:
    """The scrubber's markup, style and script (assets/scrubber/): one source for the page and the report."""
    return tuple((ASSETS / f"scrubber.{ext}").read_text(encoding="utf-8") for ext in ("html", "css", "js"))  # type: ignore[return-value]


def payload(grid_: dict[str, Any], sparsity: float = 0.0, bits: int = FLOAT_BITS, *,
            release_text: str = "") -> dict[str, Any]:
    """The grid as the browser draws it: each point's readouts formatted as the cards format them
    (charts.pct / fmt_bytes / fmt_energy), the start at the point nearest (sparsity, bits), a help line."""
    from compression import charts  # plotly: only when drawing
    points = [{**p, "sparsity_text": f"{round(p['sparsity'] * 100)} %",
               "accuracy_text": f"{charts.pct(p['accuracy'])} [{charts.pct(p['accuracy_ci95'][0])}, "
                                f"{charts.pct(p['accuracy_ci95'][1])}]",
               "size_text": charts.fmt_bytes(p["size_bytes"]), "energy_text": charts.fmt_energy(p["energy_pj"])}
              for p in grid_["points"]]
    sp, bt = grid_["sparsities"], grid_["bits"]
    fixed = " The structure fixes the sparsity at " + points[0]["sparsity_text"] + "." if len(sp) == 1 else ""
    only = " This number format has one width (and float)." if len(bt) == 2 and bt[0] != 2 else ""
    help_line = (f"Drag or use the arrow keys: every one of the {len(points)} points ({len(sp)} sparsities × "
                 f"{len(bt)} bit-widths) was computed once on {grid_['n_test']:,} test images; the charts "
                 "redraw in the browser, with no server round trip." + fixed + only)
    return {**grid_, "points": points, "help": help_line, "release_text": release_text,
            "start_sparsity": min(sp, key=lambda s: abs(s - sparsity)),
            "start_bits": min(bt, key=lambda b: abs(b - bits))}


def standalone_html(grid_: dict[str, Any], sparsity: float = 0.0, bits: int = FLOAT_BITS) -> str:
    """The scrubber as one HTML fragment (style, markup, script, the grid inlined): the offline report's."""
    markup, css, js = page_parts()
    data_ = json.dumps(payload(grid_, sparsity, bits, release_text="The report holds the grid's points only."),
                       separators=(",", ":")).replace("</", "<\\/")  # "</" cannot close the script element
    return (f"<style>{css}</style><div id='scrubber' data-model='{html_lib.escape(str(grid_.get('model')))}'>"
            f"{markup}</div><script>{js}\nmountScrubber(document.getElementById('scrubber'), {data_}, null);"
            "</script>")


__all__ = ["SPARSITIES", "axes", "bits_range", "grid", "kept_grid", "page_parts", "payload", "standalone_html"]
