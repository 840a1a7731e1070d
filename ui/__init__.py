"""Streamlit helpers for the pages, by job; pages use `import ui` and the names below.

- ui.state: the scenario in session state and in the URL (the link holds what you see).
- ui.sidebar: the one shared sidebar.
- ui.backend: cached backend calls, errors as one sentence, progress bars.
- ui.fmt: number formatting and echoed text made literal.
- ui.plots: drawing compression.charts figures.
- ui.router: a page run outside app.py's router hands over to it.
- ui.language: the Language page's cached language-model evaluations, its bits × method grid
  (history kind "lm-grid") and its cards' text; imported by that page only.

Session-state / URL contract
- Widget keys of the shared sidebar: "model", "preset", "sparsity" (int percent 0..99),
  "bits", "temperature", and one key per advanced CompressionConfig field under the
  field's own name ("structure", "scope", "criterion", "scheme", "per_channel",
  "quantizer", "act_bits", "prune_steps", "finetune_epochs", "profile", "skip_zeros",
  "seed").
- st.session_state["scenario"] = {"model": str, "config": CompressionConfig.to_dict(),
  "temperature": float, "alpha": float}, rebuilt on every run by the sidebar; read it
  with `scenario()`, whose `model` is a `compression.source.ModelSource` parsed once from that
  word (None while "Upload your own…" has nothing uploaded): pages pass it to the cached
  backend as it is; the URL and the history keep its word, `str(model)` (`Scenario.word`).
- The URL query holds the same scenario: `model`, every non-default CompressionConfig
  field under its own name (config.to_query), plus `temperature` and `alpha` when not
  at their defaults, and the page's own view settings (ui.state.PAGE_KEYS). A `preset`
  key is read on first load (the preset, then the other keys on top of it), never written.
Everything in st.session_state is a plain value (str, int, float, bool, tuples of them).
"""
from ui import downloads, studio  # noqa: F401,E402  (trade-offs studio)
from ui.backend import *  # noqa: F401,F403
from ui.backend import _DONE  # noqa: F401
from ui.fmt import *  # noqa: F401,F403
from ui.plots import *  # noqa: F401,F403
from ui.router import handover  # noqa: F401
from ui.sidebar import *  # noqa: F401,F403
from ui.state import *  # noqa: F401,F403
