"""Downloads of one scenario: the one-file HTML report, the config as JSON, the compressed model file."""
from __future__ import annotations

import json
from urllib.parse import urlencode

import streamlit as st

from compression import config as cfgmod
from compression import pipeline, report_html
from ui.state import Scenario, config_of


def link(sc: Scenario) -> str:
    """The link that reopens this scenario: this app's address (when the browser told it) and the query."""
    query = "?" + urlencode({"model": sc.model, **cfgmod.to_query(sc.config)})
    try:
        here = (st.context.url or "").split("?")[0].split("#")[0]
    except Exception:  # no browser context (bare run, AppTest): the query alone still reopens it
        here = ""
    if not here.startswith(("http://", "https://")):
        return query
    return here.rsplit("/", 1)[0] + "/" + query  # the app's root, so Explore opens


# Built on click (download_button's deferred data) and cached: the report embeds Plotly.js
# (~4 MB) and the model file compresses the model again.
@st.cache_data(show_spinner=False, max_entries=16)
def report_file(model_id: str, items: tuple, _report: pipeline.Report, url: str) -> str:
    return report_html.to_html(_report, url)


@st.cache_data(show_spinner=False, max_entries=16)
def model_file(model_id: str, items: tuple) -> bytes:
    return pipeline.file_bytes(model_id, config_of(items))


@st.cache_data(show_spinner=False, max_entries=8)
def onnx_file(model_id: str, items: tuple) -> bytes:
    """The compressed model as ONNX, the file ONNX Runtime times (int8 below 9 bits, else fp32)."""
    return pipeline.onnx_bytes(model_id, config_of(items))[0]


def download_row(sc: Scenario, report: pipeline.Report) -> None:
    """Three download buttons under a small heading: report (HTML), config (JSON), model file."""
    st.subheader("Take it with you", anchor=False)
    items = sc.config_items()
    url = link(sc)
    name = f"{sc.model}-{'-'.join(f'{k}{v}' for k, v in cfgmod.to_query(sc.config).items()) or 'baseline'}"
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80]
    c1, c2, c3, c4 = st.columns(4)
    c1.download_button("Report (one HTML file)", lambda: report_file(sc.model, items, report, url),
                       file_name=f"{name}.html", mime="text/html", icon=":material/description:",
                       on_click="ignore", key="dl_report",
                       help="Every card, chart, note and the config in one file that opens offline.")
    c2.download_button("Config (JSON)", json.dumps({"model": sc.model, "config": sc.config.to_dict(), "link": url},
                                                   indent=2), file_name=f"{name}.json", mime="application/json",
                       icon=":material/data_object:", on_click="ignore", key="dl_config")
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
