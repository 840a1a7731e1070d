"""The HTML report opens from a file in headless Chromium: every figure drawn, no network request."""
import browserlib as bl

from compression import pipeline, report_html
from compression.config import CompressionConfig


def test_report_opens_offline_with_every_figure(page, tmp_path):
    report = pipeline.evaluate("mlp-digits", CompressionConfig(sparsity=0.5, bits=4), latency=False)
    path = tmp_path / "report.html"
    path.write_text(report_html.to_html(report, "?model=mlp-digits"), encoding="utf-8")
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    ids = [fig_id for fig_id, _ in report_html.figures(report)]
    page.wait_for_function(f"() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= {len(ids)}",
                           timeout=bl.WAIT_LIMIT_MS)
    for fig_id in ids:
        # Plotly adds class js-plotly-plot and an SVG with at least one drawn trace.
        assert page.locator(f"#{fig_id}.js-plotly-plot .main-svg").count() >= 1
        assert page.locator(f"#{fig_id} .trace").count() >= 1, fig_id
    assert [u for u in requests if not u.startswith("file://")] == []
