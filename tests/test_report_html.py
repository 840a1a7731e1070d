"""One-file HTML report: Plotly embedded (no CDN), every card and figure, user strings escaped."""
import html
import json
import re
from html.parser import HTMLParser

import plotly.offline
import pytest

from compression import pipeline, report_html
from compression.__main__ import main
from compression.config import CompressionConfig

CONFIG = CompressionConfig(sparsity=0.9, bits=4)


@pytest.fixture(scope="module")
def report():
    return pipeline.evaluate("mlp-digits", CONFIG, latency=False)


@pytest.fixture(scope="module")
def page(report):
    return report_html.to_html(report, "http://localhost:8501/?model=mlp-digits&sparsity=0.9&bits=4")


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text of every <script>."""

    def __init__(self):
        super().__init__()
        self.tags, self.scripts, self._in_script = [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, text):
        if self._in_script:
            self.scripts.append(text)


def test_no_external_script_and_plotly_embedded(page):
    tags = Tags()
    tags.feed(page)
    assert not [a for t, a in tags.tags if t == "script" and "src" in a]
    assert not [a for t, a in tags.tags if t == "link"]  # no external stylesheet either
    assert plotly.offline.get_plotlyjs() in page


def test_every_figure_div_and_card_kind(report, page):
    ids = [fig_id for fig_id, _ in report_html.figures(report)]
    assert len(ids) == 5 + 2 * len(report.layers)  # with the energy-vs-memory chart the page shows
    for fig_id in ids:
        assert f'id="{fig_id}"' in page
        assert page.count(f'"{fig_id}"') >= 2  # the div and the Plotly.newPlot call that fills it
    for card in report_html.cards(report):
        assert html.escape(card["kind"]) in page and html.escape(card["value"]) in page
    for note in report.notes:
        assert html.escape(note) in page


def test_config_and_link(report, page):
    block = re.search(r"<pre>(.*?)</pre>", page, re.DOTALL).group(1)
    assert json.loads(html.unescape(block)) == report.to_dict()["config"]
    assert "href='http://localhost:8501/?model=mlp-digits&amp;sparsity=0.9&amp;bits=4'" in page


def test_user_strings_are_escaped(report):
    evil = "<script>alert(1)</script>"
    report = pipeline.Report(**{**report.__dict__, "model": evil, "notes": [evil]})
    out = report_html.to_html(report, "javascript:alert(1)")
    assert evil not in out
    assert html.escape(evil) in out
    assert "href='javascript" not in out


def test_cli_writes_the_file(tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", "--model", "mlp-digits", "--bits", "8", "--html", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "Compression Lab: mlp-digits" in text and "model=mlp-digits&amp;bits=8" in text


def test_cli_unwritable_path_is_one_line(tmp_path, capsys):
    assert main(["report", "--html", str(tmp_path / "no" / "r.html")]) == 1
    assert capsys.readouterr().err.count("\n") == 1


# --------------------------------------------------------------------------- what the page shows (issue 15, defect 5)

def test_the_report_carries_the_paired_change_and_the_word_estimate(report, page):
    from compression import measure
    sentence = measure.delta_sentence(report.accuracy_delta, report.accuracy_delta_ci95)
    assert html.escape(sentence) in page  # the page's card caption, word for word
    energy = next(c for c in report_html.cards(report) if c["label"].startswith("Energy"))
    assert energy["kind"] == "estimate"  # as the page's "Energy (estimate)"
    assert "theoretical" not in energy["kind"]
    assert 'id="energy-vs-memory"' in page


def test_the_report_draws_the_accuracy_curves_with_the_card_star(report):
    curves = report_html.accuracy_curves("mlp-digits", CONFIG)
    assert set(curves) == {"sparsity", "bits"}
    # each point is a real evaluation: the curve's 90 % / 4-bit point is the report's own accuracy
    bits_points = {p["bits"]: p["accuracy"] for p in curves["bits"][0]}
    assert bits_points[4] == pytest.approx(report.accuracy)
    page = report_html.to_html(report, "", curves=curves)
    for fig_id in ("accuracy-sparsity", "accuracy-bits"):
        assert f'id="{fig_id}"' in page
    figs = dict(report_html.figures(report, curves))
    star = next(t for t in figs["accuracy-bits"].data if t.name == "current setting")
    assert list(star.y) == [report.accuracy]


def test_a_link_without_host_says_where_it_goes(report):
    page = report_html.to_html(report, "?model=mlp-digits&bits=4")
    assert "href='?model" not in page and "add this to the app" in page
    assert "http://?" not in page


@pytest.mark.parametrize("url, root", [
    ("http://localhost:8501", "http://localhost:8501/"),  # the default page: no trailing slash (the bug)
    ("http://localhost:8501/", "http://localhost:8501/"),
    ("http://10.0.0.5:8501/distill", "http://10.0.0.5:8501/"),
    ("https://lab.example.org/course/compare", "https://lab.example.org/course/"),
    ("https://lab.example.org/course/", "https://lab.example.org/course/"),
    (None, ""), ("", ""), ("javascript:alert(1)", ""), ("http://", ""),
])
def test_app_root_keeps_the_host(url, root):
    pytest.importorskip("streamlit")
    from ui import downloads
    assert downloads.app_root(url) == root


def test_the_cli_report_carries_the_accuracy_curves(tmp_path):
    out = tmp_path / "r.html"
    assert main(["report", "--model", "mlp-digits", "--bits", "4", "--html", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    for fig_id in ("accuracy-sparsity", "accuracy-bits"):  # as the page's report carries them
        assert f'id="{fig_id}"' in text


def test_a_small_non_zero_number_never_reads_zero(report):
    import dataclasses
    tiny = dataclasses.replace(report, sparsity=0.00004,
                               latency_ms={**report.latency_ms, "compressed": 0.0004, "fp32": 0.0006})
    cards = {c["label"]: c for c in report_html.cards(tiny)}
    assert "0.004 %" in cards["Non-zero parameters"]["detail"]  # 0.00004 = 0.004 %, not "0.0 %"
    assert report_html.ms(0.0004) == "0.0004 ms" and report_html.ms(1.23456) == "1.235 ms"
    from compression import charts, measure
    assert charts.pct(0.00004) == "0.004 %" and charts.pct(0.972) == "97.2 %" and charts.pct(0) == "0.0 %"
    assert charts.fmt_bytes(0.25) == "0.25 B" and charts.fmt_energy(0.04) == "0.04 pJ"
    assert measure.signed_pts(0.0001) == "+0.01" and measure.signed_pts(-0.003) == "−0.3"


def test_a_one_shot_curve_never_carries_the_fine_tuned_cards_number():
    # 96 % pruned and fine-tuned: the one-shot sparsity curve's point at 96 % is one-shot too
    # (the report drew the card's 97 % there, a curve jumping back up from 35 % at 95 %)
    config = CompressionConfig(sparsity=0.96, finetune_epochs=1)
    curves = report_html.accuracy_curves("mlp-digits", config)
    points, one_shot = curves["sparsity"]
    assert one_shot and 0.96 in [p["sparsity"] for p in points]
    alone = pipeline.evaluate("mlp-digits", CompressionConfig(sparsity=0.96), latency=False)  # one shot, by hand
    assert next(p["accuracy"] for p in points if p["sparsity"] == 0.96) == pytest.approx(alone.accuracy)
