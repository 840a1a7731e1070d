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

from compression import charts
from compression.config import CompressionConfig, to_query
from compression.pipeline import Report

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
           if r.accuracy is not None else "n/a")
    base = charts.pct(r.accuracy_baseline) if r.accuracy_baseline is not None else "n/a"
    out = [
        {"label": "Accuracy", "kind": kinds["accuracy"], "value": acc,
         "detail": f"95 % interval on {r.n_test} test images of {r.dataset}; uncompressed {base}"},
        {"label": "Size", "kind": kinds["size_theoretical"], "value": charts.fmt_bytes(r.size_bytes["compressed"]),
         "detail": f"{r.compression_ratio:.1f}× smaller than fp32 {charts.fmt_bytes(r.size_bytes['fp32'])}"},
        {"label": "File", "kind": kinds["size_file"], "value": charts.fmt_bytes(r.size_bytes["file"]),
         "detail": "bytes of the exported file, read back losslessly"},
        {"label": "Energy per inference", "kind": kinds["energy"], "value": charts.fmt_energy(r.energy_pj["total"]),
         "detail": f"uncompressed {charts.fmt_energy(r.energy_baseline_pj['total'])}; {r.energy_profile}, "
                   f"weights in {'on-chip SRAM' if r.weights_on_chip else 'DRAM'}"},
        {"label": "Non-zero parameters", "kind": "measured", "value": f"{r.params_nonzero:,}",
         "detail": f"of {r.params_total:,}; {r.sparsity:.1%} of prunable weights are zero"},
        {"label": "MACs charged", "kind": kinds["macs"], "value": f"{r.macs_effective:,}",
         "detail": f"of {r.macs_dense:,} dense"},
    ]
    lat = r.latency_ms
    if lat.get("compressed") is not None and lat.get("fp32") is not None:
        out.append({"label": "Latency", "kind": kinds["latency"], "value": f"{lat['compressed']:.3f} ms",
                    "detail": f"fp32 {lat['fp32']:.3f} ms; batch 1, {r.latency_path}"})
    else:
        out.append({"label": "Latency", "kind": kinds["latency"], "value": "not measured", "detail": ""})
    return out


def figures(report: Report) -> list[tuple[str, go.Figure]]:
    """(id, figure) for every chart of one scenario, from compression.charts."""
    out = [("size-waterfall", charts.size_waterfall(report)), ("size-breakdown", charts.size_breakdown(report)),
           ("energy-breakdown", charts.energy_breakdown(report)), ("quant-error", charts.quant_error_bars(report))]
    for i, layer in enumerate(report.layers):
        out.append((f"weights-{i}", charts.weight_histogram(report, layer.name)))
        out.append((f"error-{i}", charts.error_distribution(report, layer.name)))
    return out


def to_html(report: Report, link: str = "") -> str:
    """A single HTML page: the scenario, every card with its kind, the figures, the notes, the config, the link."""
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
    for fig_id, fig in figures(report):
        parts.append("<div class='figure'>" + pio.to_html(
            fig, full_html=False, include_plotlyjs=False, div_id=fig_id,
            config={"displaylogo": False, "responsive": True}) + "</div>")
    parts.append("<h2>Scenario</h2>")
    if link:
        if link.startswith(SAFE_LINK_PREFIXES):
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
