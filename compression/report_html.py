"""One self-contained HTML file for a Report: readable offline, Plotly embedded, nothing fetched.

Every user-controlled string (model name, notes, config values, the link) is HTML-escaped;
figure data goes through Plotly's JSON encoder, which escapes "</" so no string can close the
script it sits in.
"""
from __future__ import annotations

import html
import json
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
import plotly.offline

from compression import charts, measure, pipeline
from compression.config import CompressionConfig, to_query
from compression.pipeline import Report

ONE_SHOT = "one-shot (no fine-tuning)"
CURVE_SPARSITIES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)  # Explore's curves
CURVE_BITS = (1, 2, 3, 4, 5, 6, 8, 12, 16, 32)

SAFE_LINK_PREFIXES = ("?", "/", "http://", "https://")  # never javascript: or data:
STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1100px;
     padding:0 1rem;color:#1f2430;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem} h2{margin-top:2rem;border-bottom:1px solid #ddd}
.sub{color:#5b6270}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(200px,1fr));gap:.8rem}
.card{border:1px solid #d9dce3;border-radius:8px;padding:.7rem .9rem}
.card .label{font-size:.85rem;color:#5b6270} .card .value{font-size:1.5rem;font-weight:600}
.card .kind{display:inline-block;font-size:.75rem;border-radius:4px;padding:0 .35rem;background:#eef1f6}
.card .detail{font-size:.85rem;color:#5b6270}
.figure{margin:1rem 0} pre{background:#f6f7f9;padding:.8rem;overflow:auto}
"""


def cards(report: Report) -> list[dict[str, str]]:
    """The headline numbers, each with its kind (simulated / theoretical / measured / estimate)."""
    r = report
    kinds = r.kinds
    acc = (f"{charts.pct(r.accuracy)} [{charts.pct(r.accuracy_ci95[0])}, {charts.pct(r.accuracy_ci95[1])}]"
           if r.accuracy is not None and r.accuracy_ci95 is not None else "n/a")
    base = charts.pct(r.accuracy_baseline) if r.accuracy_baseline is not None else "n/a"
    change = ""
    if r.accuracy is not None and r.accuracy_delta is not None and r.accuracy_delta_ci95 is not None:
        # the page's own sentence: both models on the same images, Newcombe's paired interval
        change = f"change vs uncompressed {measure.delta_sentence(r.accuracy_delta, r.accuracy_delta_ci95)}; "
    out = [
        {"label": "Accuracy", "kind": kinds["accuracy"], "value": acc,
         "detail": f"{change}95 % interval on {r.n_test} test images of {r.dataset}; uncompressed {base}"},
        {"label": "Size", "kind": kinds["size_theoretical"], "value": charts.fmt_bytes(r.size_bytes["compressed"]),
         "detail": f"{charts.fixed(r.compression_ratio)}× smaller than fp32 {charts.fmt_bytes(r.size_bytes['fp32'])}"
                   + (f"; {r.bits_per_weight:.3f} bits per weight including scales"
                      if r.bits_per_weight is not None else "")},
        {"label": "File", "kind": kinds["size_file"], "value": charts.fmt_bytes(r.size_bytes["file"]),
         "detail": "bytes of the exported file, read back losslessly"},
        {"label": "Energy per inference", "kind": kinds["energy"], "value": charts.fmt_energy(r.energy_pj["total"]),
         "detail": f"uncompressed {charts.fmt_energy(r.energy_baseline_pj['total'])}; {r.energy_profile}, "
                   f"weights in {'on-chip SRAM' if r.weights_on_chip else 'DRAM'}"},
        {"label": "Non-zero parameters", "kind": "measured", "value": f"{r.params_nonzero:,}",
         "detail": f"of {r.params_total:,}; {charts.pct(r.sparsity)} of prunable weights are zero"},
        {"label": "MACs charged", "kind": kinds["macs"], "value": f"{r.macs_effective:,}",
         "detail": f"of {r.macs_dense:,} dense"},
    ]
    lv = measure.latency_verdict(r.latency_ms)
    if lv is not None:
        runtime = (f"; the runtime alone (PyTorch fp32 {ms(r.latency_ms['fp32'])} → ONNX Runtime fp32): "
                   f"{lv.runtime}" if lv.runtime is not None else "")
        out.append({"label": "Latency", "kind": kinds["latency"], "value": ms(r.latency_ms['compressed']),
                    "detail": f"{lv.verdict} vs {lv.reference} {ms(lv.reference_ms)} (same runtime){runtime}; "
                              f"batch 1, {r.latency_path}"})
    else:
        out.append({"label": "Latency", "kind": kinds["latency"], "value": "not measured", "detail": ""})
    return out


def ms(x: float | None) -> str:
    """Milliseconds with three decimals; a non-zero time never reads '0.000 ms'."""
    return "n/a" if x is None else f"{charts.fixed(x, 3)} ms"


def with_card_star(fig: Any, accuracy: float, ci: tuple[float, float], one_shot: bool) -> Any:
    """The accuracy curve with its "current setting" star at the card's number and interval.

    The curve's own point at the current setting can differ from the card: a one-shot curve
    (no fine-tuning) next to a fine-tuned card. The star always shows what the card shows,
    with the card's 95 % interval as error bars; a one-shot curve is labelled beside it.
    Returns a new figure (a cached one may be shared). Explore and the report both draw it.
    """
    fig = _copy(fig)
    xs = [v for t in fig.data if t.x is not None for v in t.x if isinstance(v, (int, float))]
    for trace in fig.data:
        if trace.name == "current setting":
            x = trace.x[0]
            trace.y = [accuracy]
            trace.error_y = dict(type="data", symmetric=False, array=[max(0.0, ci[1] - accuracy)],
                                 arrayminus=[max(0.0, accuracy - ci[0])], color=trace.marker.color,
                                 thickness=1.5, width=4)
            trace.hovertemplate = (f"current setting (the card): {accuracy * 100:.1f} %, "
                                   f"95 % CI {ci[0] * 100:.1f}–{ci[1] * 100:.1f} %<extra></extra>")
            if one_shot:
                # the label reads away from the nearer edge: right of a star at 90 % sparsity it was
                # cut at the plot's edge on a narrow (projector) screen
                right = bool(xs) and x > (min(xs) + max(xs)) / 2
                fig.add_annotation(x=x, y=accuracy, text="★ the card (fine-tuned)", showarrow=False,
                                   xanchor="right" if right else "left", xshift=-10 if right else 10, yshift=10,
                                   font=dict(size=14))
        elif one_shot and trace.name == "compressed, 95% CI":
            trace.name = f"{ONE_SHOT}, 95% CI"
    return fig


def _copy(fig: Any) -> Any:
    """A copy of a figure without validating it again: go.Figure(fig) took ~30 ms (Explore draws two
    a run, and a class of 30 reruns a lot); the figure was validated, or built canonical
    (compression.charts.theme._new_figure), when it was made."""
    try:
        return go.Figure(fig.to_dict(), _validate=False)
    except TypeError:  # pragma: no cover - plotly without _validate
        return go.Figure(fig)


def curve_configs(config: CompressionConfig) -> dict[str, tuple[CompressionConfig, tuple, bool]]:
    """The base config, the values and whether it is one-shot, of each accuracy curve Explore draws.

    A curve whose points would fine-tune is drawn one-shot (no fine-tuning, one prune step), as
    Explore's curves are by default (fine-tuning only runs after pruning). Same keys as the page's.
    """
    out = {}
    for field, values in (("sparsity", CURVE_SPARSITIES), ("bits", CURVE_BITS)):
        if field == "sparsity" and config.structure == "2:4":  # always 50 %: no sparsity axis
            continue
        one_shot = config.finetune_epochs > 0 and (field == "sparsity" or config.sparsity > 0
                                                   or config.structure == "2:4")
        c = config.replace(finetune_epochs=0, prune_steps=1) if one_shot else config
        current = getattr(config, field)
        if one_shot and current not in values:
            # the one-shot curve's own point at the current setting (as Explore measures it): the
            # fine-tuned card's number there drew a one-shot curve jumping from 35 % to 97 %
            values = tuple(sorted((*values, current)))
        out[field] = (c.replace(**{field: getattr(CompressionConfig(), field)}), values, one_shot)
    return out


def accuracy_curves(model_id: str, config: CompressionConfig, data_dir: str | None = None
                    ) -> dict[str, tuple[list[dict], bool]]:
    """The points of Explore's accuracy curves for the report: {field: (points, one_shot)}.

    For a command-line report; the page passes the points it has drawn (its cache).
    """
    kwargs = {"data_dir": data_dir} if data_dir else {}
    return {field: (pipeline.accuracy_points(model_id, base, field, list(values), **kwargs), one_shot)
            for field, (base, values, one_shot) in curve_configs(config).items()}


def curve_figures(report: Report, curves: dict[str, tuple[list[dict], bool]]) -> list[tuple[str, go.Figure]]:
    """The accuracy curves as Explore draws them, the star at the card's number."""
    acc, ci, base = report.accuracy, report.accuracy_ci95, report.accuracy_baseline
    if acc is None or ci is None or base is None:  # no accuracy: no curve (all three come together)
        return []
    lo, hi = ci
    base_ci = report.accuracy_baseline_ci95
    config = CompressionConfig(**report.config)
    out = []
    for field, (points, one_shot) in curves.items():
        current = getattr(config, field)
        pts = list(points)
        if current not in [p[field] for p in pts] and not one_shot:  # the card is this curve's point
            pts.append({field: current, "accuracy": acc, "lo": lo, "hi": hi})
        fig = charts.accuracy_curve(pts, field, current, base,
                                    (base_ci[0], base_ci[1]) if base_ci else None,
                                    note=ONE_SHOT if one_shot else None)
        out.append((f"accuracy-{field}", with_card_star(fig, acc, (lo, hi), one_shot)))
    return out


def figures(report: Report, curves: dict[str, tuple[list[dict], bool]] | None = None) -> list[tuple[str, go.Figure]]:
    """(id, figure) for every chart of one scenario, from compression.charts (the page's charts)."""
    a = report.energy_assumptions
    out = [*curve_figures(report, curves or {}),
           ("size-waterfall", charts.size_waterfall(report)), ("size-breakdown", charts.size_breakdown(report)),
           ("energy-breakdown", charts.energy_breakdown(report)),
           ("energy-vs-memory", charts.energy_vs_sram(pipeline.energy_curve(report), report.config.get("sram_kb", 32.0),
                                                      a["weight_bits"] / 8 / 1024, a["baseline_weight_bits"] / 8 / 1024)),
           ("quant-error", charts.quant_error_bars(report)),
           *([("head-scores", charts.head_scores(report.heads))] if report.heads else [])]
    for i, layer in enumerate(report.layers):
        out.append((f"weights-{i}", charts.weight_histogram(report, layer.name)))
        out.append((f"error-{i}", charts.error_distribution(report, layer.name)))
    return out


def layer_views(model_id: str, config: CompressionConfig, data_dir: str | None = None) -> dict[str, Any] | None:
    """compression.layer_error.views of a model with data (the "Layer by layer" section), else None."""
    from compression import layer_error, source
    loaded = source.load(source.parse(model_id), data_dir=data_dir)
    if loaded.dataset is None or not len(loaded.dataset.x_calib):
        return None
    return layer_error.views(loaded.model, loaded.dataset, config)


def layer_figures(report: Report, views: dict[str, Any]) -> tuple[list[tuple[str, go.Figure]], str]:
    """The "Layer by layer" section's figures, and its BitOps / memory line."""
    from compression import layer_error
    out = [("layer-sqnr", charts.layer_error_chart(views["errors"])),
           ("layer-cosine", charts.layer_error_chart(views["errors"], "cosine"))]
    for i, name in enumerate(views["activations"]):
        out.append((f"activations-{i}", charts.activation_histogram(views["activations"], name)))
        out.append((f"weight-ranges-{i}", charts.weight_range_chart(views["weights"], name)))
    c = layer_error.costs(report, views["shapes"])
    line = (f"{c['macs']:,} MACs and {c['bitops']:.3g} BitOps per image ({c['bitops'] / max(1, c['bitops_float']):.1%} "
            f"of float; theoretical); weight memory {charts.fmt_bytes(c['weight_bytes'])}, peak activation memory "
            f"{charts.fmt_bytes(c['peak_activation_bytes'])} per image at {c['act_bits']} bits (theoretical).")
    return out, line


def format_views(model: str, group_size: int = 128) -> dict[str, Any] | None:
    """The number-format views' data for the model's largest layer (compression.formats), or None
    when the model cannot be opened here (the section is then left out)."""
    from compression import formats, source
    from compression.layers import compressible
    try:
        net = source.load(source.parse(model)).model
    except Exception:  # noqa: BLE001 - an optional section: any failure leaves it out, never the report
        return None
    layers = compressible(net)
    if not layers:
        return None
    name = max(layers, key=lambda n: layers[n].weight.numel())
    w = formats.weight(net, name)
    return {"layer": name, "grids": formats.grids(w, group_size), "outlier": formats.outlier_groups(w, group_size)}


def _formats_section(report: Report, views: dict[str, Any]) -> list[str]:
    e = html.escape
    bpw = ("" if report.bits_per_weight is None else
           f" This scenario stores {report.bits_per_weight:.3f} bits per weight including scales (theoretical).")
    out = ["<h2>Number formats</h2>",
           f"<p>The levels INT4, NF4, FP4 and MXFP4 can represent, over the weights of layer "
           f"<code>{e(views['layer'])}</code>, and one outlier stretching its group's INT4 grid at "
           f"g = {views['grids']['group_size']}. Bits per weight include the scales: INT4 g128 with float16 "
           f"scales 4.125, MXFP4 (E8M0 per 32) 4.25, NVFP4 (E4M3 per 16 + one float32) 4.5.{e(bpw)}</p>"]
    for fig_id, fig in (("format-grids", charts.format_grids(views["grids"])),
                        ("group-outlier", charts.group_outlier(views["outlier"]))):
        out.append("<div class='figure'>" + pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=fig_id,
                                                         config={"displaylogo": False, "responsive": True}) + "</div>")
    return out


def to_html(report: Report, link: str = "", curves: dict[str, tuple[list[dict], bool]] | None = None,
            views: dict[str, Any] | None = None, formats: dict[str, Any] | None = None,
            scrub_grid: dict[str, Any] | None = None) -> str:
    """A single HTML page: the scenario, every card with its kind, the figures, the notes, the config, the link.

    `curves`: the accuracy curves' points ({field: (points, one_shot)}, see accuracy_curves);
    `views`: the layer-by-layer views (layer_views), drawn in a section of their own;
    `formats`: the number-format views' data (format_views); None leaves that section out;
    `scrub_grid`: the scenario's scrubbing grid (compression.scrub.grid), drawn as the live scrubber
    (the page's own script, inlined: it scrubs offline, with no server); None leaves it out.
    """
    e = html.escape
    config = dict(report.config)
    changed = _changed(config)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Compression Lab report: {e(report.model)}</title><style>{STYLE}</style>",
        f"<script type='text/javascript'>{plotly.offline.get_plotlyjs()}</script></head><body>",
        f"<h1>Compression Lab: {e(report.model)}</h1>",
        f"<p class='sub'>on {e(report.dataset)} · {e(changed or 'no compression (baseline)')}</p>",
        "<h2>Headline numbers</h2><div class='cards'>",
    ]
    for c in cards(report):
        parts.append(f"<div class='card'><div class='label'>{e(c['label'])} <span class='kind'>{e(c['kind'])}"
                     f"</span></div><div class='value'>{e(c['value'])}</div>"
                     f"<div class='detail'>{e(c['detail'])}</div></div>")
    parts.append("</div>")
    if report.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in report.notes) + "</ul>")
    parts.append("<h2>Figures</h2>")
    for fig_id, fig in figures(report, curves):
        parts.append("<div class='figure'>" + pio.to_html(
            fig, full_html=False, include_plotlyjs=False, div_id=fig_id,
            config={"displaylogo": False, "responsive": True}) + "</div>")
    if views is not None:
        figs, line = layer_figures(report, views)
        parts.append("<h2>Layer by layer</h2><p class='sub'>Output error of each layer against the float model on "
                     "calibration images (training split): that layer alone compressed, and accumulated. "
                     + e(line) + "</p>")
        for fig_id, fig in figs:
            parts.append("<div class='figure'>" + pio.to_html(
                fig, full_html=False, include_plotlyjs=False, div_id=fig_id,
                config={"displaylogo": False, "responsive": True}) + "</div>")
    if formats is not None:
        parts += _formats_section(report, formats)
    if scrub_grid is not None:
        from compression import scrub
        parts.append("<h2>Live scrubbing</h2><p class='sub'>Every sparsity × bit-width point of this scenario, "
                     "computed when the report was written; drag a slider (or use the arrow keys) to move "
                     "between them. The headline numbers above are the exact scenario's.</p>")
        parts.append(scrub.standalone_html(scrub_grid, float(config.get("sparsity", 0.0)),
                                           int(config.get("bits", 32))))
    parts.append("<h2>Scenario</h2>")
    if link:
        if link.startswith("?"):  # the server's address was not known: say where the query goes
            parts.append(f"<p>Reopen it in Compression Lab: add this to the app's address "
                         f"(e.g. http://localhost:8501/): <code>{e(link)}</code></p>")
        elif link.startswith(SAFE_LINK_PREFIXES):
            parts.append(f"<p>Reopen it in Compression Lab: <a href='{e(link, quote=True)}'>{e(link)}</a></p>")
        else:
            parts.append(f"<p>Link: <code>{e(link)}</code></p>")
    parts.append(f"<pre>{e(json.dumps(config, indent=2))}</pre>")
    parts.append(f"<p class='sub'>Kinds of number: {e(', '.join(f'{k} {v}' for k, v in report.kinds.items()))}."
                 "</p></body></html>")
    return "\n".join(parts)


def _changed(config: dict[str, Any]) -> str:
    """The settings that differ from the defaults, as URL-style words."""
    try:
        query = to_query(CompressionConfig(**config))
    except (TypeError, ValueError):
        return ""
    return " ".join(f"{k}={v}" for k, v in query.items())
