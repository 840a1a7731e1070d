"""Compression Lab: the router. One shared sidebar (model, preset, sliders), then the page.

Run with `streamlit run app.py`. Widgets drawn here keep their values across pages.
The pages live in pages/; a deep link such as /distill opened first on a fresh server is
run by Streamlit's legacy pages/ runner without this script and runs it in its place
(ui/router.py).
"""
from pathlib import Path

import streamlit as st

from compression import preload

# A local icon: a ":material/…:" page icon is fetched from fonts.gstatic.com by the browser.
st.set_page_config(page_title="Compression Lab", page_icon=str(Path(__file__).parent / "assets" / "icon.png"),
                   layout="wide")

# First run of a session: start the browser loading Plotly.js now, while the server
# imports torch and the data (seconds), instead of after the script ends. The slot is
# always created so the page's element positions are the same on every run.
_preload = st.empty()
_first_run = "_initialized" not in st.session_state
# Sessions start in threads of their own: the heavy libraries are imported once, one thread at
# a time (compression.preload says why); what this chart needs first, the rest after it.
preload.modules(("pandas", "plotly.graph_objects", "plotly.io"))
if _first_run:
    # The widgets' code is loaded by the browser on first use too: each shows a grey placeholder
    # until its chunk arrives, and on a busy 2-core server those chunks came ~13 s after the
    # script had finished (issue 15). One hidden instance of each kind asks for them now.
    with _preload.container(key="clab_preload"):
        st.html("<style>.st-key-clab_preload{position:absolute!important;left:-10000px;width:1px;"
                "height:1px;overflow:hidden}</style>")
        st.plotly_chart({"data": [{"type": "scatter", "x": [], "y": []}],
                         "layout": {"height": 10, "margin": {"t": 0, "b": 0, "l": 0, "r": 0}}},
                        config={"staticPlot": True})
        hidden = {"label_visibility": "collapsed", "disabled": True}
        st.selectbox("preload", ["-"], key="_pre_select", **hidden)
        st.multiselect("preload", ["-"], key="_pre_multi", **hidden)
        st.slider("preload", 0, 1, key="_pre_slider", **hidden)
        st.select_slider("preload", ["a", "b"], key="_pre_sselect", **hidden)
        st.toggle("preload", key="_pre_toggle", **hidden)
        st.radio("preload", ["-"], key="_pre_radio", **hidden)
        st.number_input("preload", key="_pre_number", **hidden)
        st.text_input("preload", key="_pre_text", **hidden)
        st.download_button("preload", b"", key="_pre_download", disabled=True)

# `compression` was imported first (above, with preload): it pins MKL/ATen/oneDNN to one code
# path before torch runs.
preload.modules((*preload.SERVER_MODULES, "ui"))

import torch  # noqa: E402

# Streamlit's file watcher walks every module's __path__; torch.classes' lazy __path__
# raises inside it (streamlit issue #10992). An empty path gives it nothing to walk.
torch.classes.__path__ = []
# The models are tiny: intra-op threads only contend with each other (and with other
# sessions) on 2 cores; one thread trains and evaluates several times faster here.
torch.set_num_threads(1)

import ui  # noqa: E402
from ui import style  # noqa: E402

preload.freeze()  # once: the libraries' objects out of the collector's walk (compression.preload)
ui.backend.start_workers()  # the heavy backend calls' worker processes, started once (ui.backend.pool)

pages = st.navigation([
    st.Page("pages/explore.py", title="Explore", icon=":material/tune:", default=True),
    st.Page("pages/distill.py", title="Distill", icon=":material/school:"),
    st.Page("pages/tradeoffs.py", title="Trade-offs", icon=":material/scatter_plot:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
    st.Page("pages/language.py", title="Language", icon=":material/translate:"),
])
style.inject()
scenario = ui.sidebar(pages.title)
ui.show_url_warnings()
ui.write_url(scenario)
if _first_run:
    _preload.empty()  # Plotly.js is loading by now; the page's charts follow in a moment
try:
    pages.run()
except Exception as e:  # the last net under every page: one sentence, never a traceback (st.stop passes)
    ui.backend.log.exception("page failed")
    st.error(ui.error_sentence(e), icon=":material/error:")
