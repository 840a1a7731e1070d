"""Downloads of one scenario: the one-file HTML report, the config as JSON, the compressed model file."""
from __future__ import annotations

import json
import logging
from urllib.parse import urlencode, urlsplit, urlunsplit

import streamlit as st

from compression import config as cfgmod
from compression import pipeline, report_html
from compression.source import ModelSource
from ui.state import Scenario, config_of

log = logging.getLogger("compression_lab.ui")

PAGE_PATHS = ("explore", "distill", "tradeoffs", "compare")  # app.py's pages, as Streamlit names their URLs


def app_root(url: str | None) -> str:
    """The app's root address ('http://host:8501/', 'https://x.org/lab/') from a page's URL; '' if none.

    st.context.url has no trailing slash on the default page ('http://host:8501'): cutting
    its last '/' part gave 'http:/' and links read 'http://?model=…' (issue 15).
    """
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    segments = [p for p in parts.path.split("/") if p]
    if segments and segments[-1] in PAGE_PATHS:
        segments.pop()
    return urlunsplit((parts.scheme, parts.netloc, "/" + "".join(f"{p}/" for p in segments), "", ""))


def _here() -> str:
    """This app's root as the browser reaches it: st.context.url, else the Host header."""
    try:
        root = app_root(st.context.url)
        if not root:
            host = (st.context.headers or {}).get("Host")
            root = app_root(f"http://{host}/") if host else ""
    except Exception:  # no browser context (bare run, AppTest): the query alone still reopens it
        root = ""
    return root


def link(sc: Scenario) -> str:
    """The link that reopens this scenario: this app's address (when the browser told it) and the query."""
    return _here() + "?" + urlencode({"model": sc.word, **cfgmod.to_query(sc.config)})


# Built on click (download_button's deferred data) and cached: the report embeds Plotly.js
# (~4 MB) and the model file compresses the model again.
@st.cache_data(show_spinner=False, max_entries=16)
def report_file(model: ModelSource, items: tuple, _report: pipeline.Report, url: str) -> str:
    views = None
    if model.kind == "zoo" and _report.accuracy is not None:
        from ui.backend import layer_views
        views = layer_views(model, items)
    formats = report_html.format_views(str(model), dict(items).get("group_size", 128))
    return report_html.to_html(_report, url, curves=_curves(model, items, _report), views=views, formats=formats,
                               scrub_grid=_scrub_grid(model, items, _report))


def _scrub_grid(model: ModelSource, items: tuple, report: pipeline.Report) -> dict | None:
    """The scenario's scrubbing grid (the page's cached one; the history keeps it), for the report's scrubber."""
    from compression import scrub
    from ui.backend import scrub_grid
    from ui.state import config_items
    if report.accuracy is None:
        return None
    try:
        return scrub_grid(model, config_items(scrub.axes(config_of(items))))
    except Exception as e:  # the report without its scrubber is still the report
        log.warning("report without the scrubber: %s", e)
        return None


def _curves(model: ModelSource, items: tuple, report: pipeline.Report) -> dict:
    """The accuracy curves Explore draws (its cached points, one-shot as there); none when they fail."""
    from ui.backend import accuracy_points  # cached: the page has usually computed them already
    if report.accuracy is None:
        return {}
    try:
        return {field: (accuracy_points(model, tuple(base.to_dict().items()), field, values), one_shot)
                for field, (base, values, one_shot) in report_html.curve_configs(config_of(items)).items()}
    except Exception as e:  # the report without its curves is still the report
        log.warning("report without accuracy curves: %s", e)
        return {}


@st.cache_data(show_spinner=False, max_entries=16)
def model_file(model: ModelSource, items: tuple) -> bytes:
    return pipeline.file_bytes(model, config_of(items))


@st.cache_data(show_spinner=False, max_entries=8)
def onnx_file(model: ModelSource, items: tuple) -> bytes:
    """The compressed model as ONNX, the file ONNX Runtime times (int8 below 9 bits, else fp32)."""
    return pipeline.onnx_bytes(model, config_of(items))[0]


def download_row(sc: Scenario, report: pipeline.Report) -> None:
    """Three download buttons under a small heading: report (HTML), config (JSON), model file."""
    st.subheader("Take it with you", anchor=False)
    items = sc.config_items()
    url = link(sc)
    name = f"{sc.word}-{'-'.join(f'{k}{v}' for k, v in cfgmod.to_query(sc.config).items()) or 'baseline'}"
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80]
    # One wrapping row, each button as wide as its label: four fixed columns cut the labels
    # ("Report (o…", "Compres…") at 1280×720 and 150 % zoom.
    c1 = c2 = c3 = c4 = st.container(horizontal=True, gap="small")
    c1.download_button("Report (one HTML file)", lambda: report_file(sc.model, items, report, url),
                       file_name=f"{name}.html", mime="text/html", icon=":material/description:",
                       on_click="ignore", key="dl_report",
                       help="Every card, chart, note and the config in one file that opens offline.")
    c2.download_button("Config (JSON)", json.dumps({"model": sc.word, "config": sc.config.to_dict(), "link": url},
                                                   indent=2), file_name=f"{name}.json", mime="application/json",
                       icon=":material/data_object:", on_click="ignore", key="dl_config",
                       help="The model id, every setting and the link that reopens this scenario.")
    c3.download_button(f"Compressed model ({report.size_bytes['file']:,} bytes)",
                       lambda: model_file(sc.model, items), file_name=f"{name}.clab",
                       mime="application/octet-stream", icon=":material/download:", on_click="ignore",
                       key="dl_model",
                       help="The exported file whose length is the measured size (compression.export format).")
    kind = report.onnx_kind  # the plan's: what onnx_file serves and the latency card times
    c4.download_button(f"Compressed model as ONNX ({kind})", lambda: onnx_file(sc.model, items),
                       file_name=f"{name}.onnx", mime="application/octet-stream", icon=":material/memory:",
                       on_click="ignore", key="dl_onnx",
                       help="The compressed model as ONNX Runtime runs it: the file the latency card times "
                            f"({'int8 kernels, static quantization' if kind == 'int8' else 'float32'}).")
    save_row(sc)


def _save(model: ModelSource, config: dict) -> None:
    from ui import studio
    ss = st.session_state
    ss["_save_msg"] = studio.save_scenario(ss.get("save_name", ""), model, cfgmod.CompressionConfig(**config))


def save_row(sc: Scenario) -> None:
    """Keep this scenario under a name: Compare lists the named saves (not every slider step)."""
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    c1.text_input("Name for this scenario", key="save_name", max_chars=60, placeholder="e.g. 4-bit, 90 % pruned",
                  help="Saved scenarios are kept on this server across restarts and listed in Compare "
                       "under their names. The same name again replaces the earlier save.")
    c2.button("Save scenario", icon=":material/bookmark_add:", key="save_scenario", on_click=_save,
              args=(sc.model, sc.config.to_dict()), width="stretch",
              help="Keeps this scenario under the name on the left; Compare lists it.")
    msg = st.session_state.pop("_save_msg", None)
    if msg:
        st.caption(msg)
