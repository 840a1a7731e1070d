"""Formatting for the pages: percentages, points, intervals, and echoed text made literal."""
from __future__ import annotations

import re
import string

from compression.config import MAX_ECHO
from compression.measure import delta_sentence, signed_pts  # noqa: F401  (the pages' one wording)

# Every ASCII punctuation character may be backslash-escaped in CommonMark (spec §2.4), and
# escaping them all turns off links, images, HTML, emphasis, Streamlit's ":material/…:" icons,
# ":red[…]" colours and "$…$" math alike; ":" and "." escaped also stop GFM's autolinks
# ("https://…", "www.…") in the Markdown parse. But remark-gfm's autolink pass runs on the
# parsed text, after the escapes are gone, so a word joiner (U+2060, invisible) also breaks
# the three patterns it looks for: "scheme://", "www." and "name@host".
_AUTOLINK = re.compile(r"(:)(?=//)|(?<=www)(\.)|(@)", re.IGNORECASE)
_MD_ESCAPE = str.maketrans({c: "\\" + c for c in string.punctuation})


def short(text: object, limit: int = MAX_ECHO) -> str:
    """A value from outside (URL, file name) cut to `limit` characters, on one line."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


# An absolute path (POSIX or Windows) or a home-relative one, up to the next space or quote.
_PATH = re.compile(r"(?:~|[A-Za-z]:)?(?:[/\\][^\s'\"()/\\]+){2,}[/\\]?")


def without_paths(text: str) -> str:
    """A message with server file paths cut to their last part ('…/train-images-idx3-ubyte')."""
    return _PATH.sub(lambda m: "…/" + re.split(r"[/\\]", m.group(0).rstrip("/\\"))[-1], text)


def literal(text: object, limit: int | None = None) -> str:
    """Text that Streamlit's Markdown shows exactly as written (shortened when `limit` is given)."""
    text = short(text, limit) if limit else " ".join(str(text).split())
    text = _AUTOLINK.sub(lambda m: "\u2060" + m.group(0), text)
    return text.translate(_MD_ESCAPE)


def pct(x: float) -> str:
    """A fraction as '97.2 %' (charts.pct when the charts module has one)."""
    try:
        from compression import charts
        return charts.pct(x)
    except (ImportError, AttributeError):
        return f"{x * 100:.1f} %"


def ci_text(ci: list[float] | tuple[float, float]) -> str:
    return f"95% CI {ci[0] * 100:.1f}–{ci[1] * 100:.1f} %"


def wilson(p: float, n: int) -> tuple[float, float]:
    from compression import measure
    return measure.wilson_interval(p, n)


def pts(delta: float) -> str:
    """A difference of two fractions in percentage points, with a real minus sign for Streamlit."""
    from compression.charts import fixed
    text = fixed(delta * 100)  # a real change never reads '+0.0'
    return f"{text if text.startswith('-') else '+' + text} pts"


def bits_text(bits: int) -> str:
    return "float32 weights" if bits >= 32 else f"{bits}-bit weights"


# what a paired verdict on two students means, in the Distill page's words (images and language)
DISTILL_VERDICT = {"a real gain": "soft targets beat hard labels", "a real loss": "hard labels beat soft targets",
                   "within noise": "no clear winner"}


def fmt_number(x: float) -> str:
    return f"{x:g}"


def delta_color(verdict: str | None) -> str:
    """The one colour rule of an accuracy change (st.metric's delta_color), on every page.

    A change whose paired 95 % interval holds 0 is grey ("off"): within noise is no news,
    good or bad. Only a real loss (red) or a real gain (green) is coloured.
    """
    return "normal" if verdict in ("a real loss", "a real gain") else "off"


def delta_arrow(delta: float) -> str:
    """st.metric's delta_arrow: none on a change of exactly zero (an up arrow on "+0.0 pts" says a gain)."""
    return "off" if delta == 0 else "auto"


def kb_text(kb: float) -> str:
    """An on-chip memory size in KB as '32 KB' or '1 MB'."""
    return f"{kb / 1024:g} MB" if kb >= 1024 else f"{kb:g} KB"


def factor_text(x: float) -> str:
    """A saving factor: '23×', '5.5×', '1.0×' (below 1: costs more)."""
    from compression.charts import factor_text  # the charts' own wording: one format in both places
    return factor_text(x)


def where_text(weights_in: str) -> str:
    """'sram' / 'dram' as the page says it."""
    return {"sram": "on-chip SRAM", "dram": "DRAM"}.get(weights_in, weights_in)
