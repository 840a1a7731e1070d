"""The Language page's helpers (issue 18): cached language-model evaluations and grids, the cards' text.

The numbers are compression.lm.evaluate's, unchanged: `evaluate_lm` returns exactly the dict
`python -m compression evaluate --model … --json` prints for the same settings, and the cards
format its fields (`cards`), so the page, its JSON download and the CLI agree. The bits × method
grid (`lm_grid`) is kept in the history (kind "lm-grid", keyed by the model and the base config),
so every session and every restart reuses one computation.
"""
from __future__ import annotations

import json
from typing import Any, NamedTuple

import streamlit as st

from compression import history
from compression.charts import fixed, fmt_bytes, fmt_energy, signed
from compression.config import CompressionConfig
from compression.lm import evaluate as lm_evaluate
from compression.lm import kvcache, registry
from ui.backend import _done, is_done, offload
from ui.fmt import pct
from ui.state import APART_BITS, APART_DEFAULT, config_items, config_of

GRID_BITS, GRID_METHODS = lm_evaluate.GRID_BITS, lm_evaluate.GRID_METHODS
CONTEXTS = (128, 256, 512, 1024, 2048, 4096, 8192)  # the KV cache's context stops (up to the model's longest)
GRID_KIND = "lm-grid"
# about how long one evaluation takes on this project's 2-core server (the page says so before a long one)
SECONDS = {"tinygpt-pydoc": 3, "smollm2-135m": 70}


class Card(NamedTuple):
    label: str
    value: str
    caption: str
    help: str


@st.cache_data(show_spinner=False, max_entries=4)
def unavailable(model_id: str) -> str | None:
    """None when the language model runs here, else registry's one sentence why not."""
    return registry.lookup(model_id).available()


def model_label(model_id: str) -> str:
    why = unavailable(model_id)
    return f"{model_id} · unavailable here" if why else model_id


@st.cache_data(show_spinner=False, max_entries=4)
def longest_context(model_id: str) -> int:
    """The longest sequence the model takes (tinygpt: its position table; SmolLM2: the GGUF's metadata,
    read without loading its weights into the server)."""
    lm = registry.lookup(model_id)
    if lm.tokens == "gguf":
        from compression.lm import gguf
        return int(gguf.open_gguf().spec.context_length)
    return lm_evaluate.max_context(lm.load())


def contexts(model_id: str) -> list[int]:
    longest = longest_context(model_id)
    stops = [c for c in CONTEXTS if c <= longest]
    return stops or [longest]


def default_context(model_id: str) -> int:
    """evaluate's own default: the model's longest, up to 2,048 tokens."""
    return min(longest_context(model_id), lm_evaluate.KV_CONTEXT)


def with_bits_apart(config: CompressionConfig, model_id: str, embedding_bits: int, head_bits: int) -> CompressionConfig:
    """The page's config with its embedding / LM head bits (APART_DEFAULT: evaluate's default) as
    per-layer bits, as `evaluate --embedding-bits B --head-bits B` sets them."""
    return lm_evaluate.with_bits_apart(config, registry.lookup(model_id).skeleton(),
                                       embedding_bits or None, head_bits or None)


def apart_label(bits: int) -> str:
    """A choice of the embedding / LM head bits control."""
    return (f"default ({lm_evaluate.HEAD_BITS} if body < {lm_evaluate.HEAD_BITS})" if bits == APART_DEFAULT
            else "32 (float)" if bits >= 32 else f"{bits}")


def apart_help(what: str) -> str:
    """The help of the embedding / LM head bits control, `what` the layer it sets."""
    return (f"{what}, set apart from the body. Default: 8 bits while the body runs below 8 bits (as NNCF; the "
            "uniform grid where the body's format has no 8-bit form), else the body's.")


def float_note(result: dict[str, Any]) -> str:
    """'tok, pos quantized, the rest float32 · ' when some layers are quantized and others not: the
    bits per weight are the quantized layers' (a float body beside 4-bit embeddings read 4.56)."""
    quantized = [lay["name"] for lay in result["layers"] if lay.get("bits_per_weight") is not None]
    if not quantized or len(quantized) == len(result["layers"]):
        return ""
    names = ", ".join(quantized) if len(quantized) <= 3 else f"{len(quantized)} of {len(result['layers'])} layers"
    return f"{names} quantized, the rest float32 · "


def apart_caption(result: dict[str, Any]) -> str:
    """What the embeddings and the LM head ran at, from the evaluation itself; empty when they ran
    at the body's bits (a float body with default settings: nothing is kept apart)."""
    body = {lay["bits"] for lay in result["layers"] if lay.get("role", "body") == "body"}
    apart = [lay for lay in result["layers"] if lay.get("role", "body") != "body"]
    if all(lay["bits"] in body for lay in apart):
        return ""
    return "Kept apart from the body: " + ", ".join(f"{lay['name']} {lay['label']}" for lay in apart) + "."


def evaluate_key(model_id: str, items: tuple, kv_bits: int, kv_context: int, kv_batch: int) -> tuple:
    return ("lm", model_id, items, kv_bits, kv_context, kv_batch)


@st.cache_data(show_spinner=False, max_entries=64)
def evaluate_lm(model_id: str, items: tuple, kv_bits: int, kv_context: int, kv_batch: int,
                _progress=None) -> dict[str, Any]:
    """compression.lm.evaluate.evaluate for these settings (in a worker process when the server has
    them). A failure propagates, so the cache keeps nothing for it."""
    result = offload(lm_evaluate.evaluate, model_id, config_of(items), kv_bits=kv_bits, kv_context=kv_context,
                     kv_batch=kv_batch, progress=_progress)
    _done(evaluate_key(model_id, items, kv_bits, kv_context, kv_batch))
    return result


def result_json(result: dict[str, Any]) -> str:
    """The download: the evaluate dict as the CLI's --json prints it."""
    return json.dumps(result, indent=2)


# --------------------------------------------------------------------------- the bits × method grid

def grid_base(config: CompressionConfig) -> CompressionConfig:
    """The config the grid varies bits and method of: the page's, with those two fixed, so every
    bits and method of one scenario shares one grid."""
    return config.replace(bits=4, method="rtn")


def grid_params(base: CompressionConfig) -> dict[str, Any]:
    """The history key of a grid (besides the model and the code version)."""
    return {"config": history.config_key(base), "bits": list(GRID_BITS), "methods": list(GRID_METHODS)}


def grid_stored(model_id: str, base_items: tuple) -> bool:
    """Whether this grid is in the history already (then the page draws it without asking)."""
    return (is_done((GRID_KIND, model_id, base_items))
            or history.is_kept(GRID_KIND, model_id, grid_params(config_of(base_items))))


@st.cache_data(show_spinner=False, max_entries=16)
def lm_grid(model_id: str, base_items: tuple, _progress=None) -> dict[str, Any]:
    """Perplexity over GRID_BITS × GRID_METHODS (compression.lm.evaluate.grid, in a worker), kept in the
    history under kind "lm-grid": computed once, then read back by every session."""
    base = config_of(base_items)

    def compute() -> dict[str, Any]:
        return offload(lm_evaluate.grid, model_id, base, GRID_BITS, GRID_METHODS, progress=_progress)
    result = history.kept(GRID_KIND, model_id, grid_params(base), compute)
    _done((GRID_KIND, model_id, base_items))
    return result


def grid_rows(grid: dict[str, Any]) -> list[dict[str, Any]]:
    """The grid as a table: one row per bits × method, with its interval and its paired change vs RTN."""
    rows = []
    for i, b in enumerate(grid["bits"]):
        for m in grid["methods"]:
            lo, hi = grid["perplexity_ci95"][m][i]
            d_lo, d_hi = grid["delta_vs_rtn_ci95"][m][i]
            rows.append({"bits": b, "method": m.upper(),
                         "perplexity (95 % CI)": f"{grid['perplexity'][m][i]:.2f} [{lo:.2f}, {hi:.2f}]",
                         "vs RTN (paired 95 %)": "—" if m == "rtn" else f"[{signed(d_lo)}, {signed(d_hi)}]",
                         "KL (nats)": fixed(grid["kl_divergence"][m][i], 4),
                         "agreement": pct(grid["top1_agreement"][m][i])})
    return rows


# --------------------------------------------------------------------------- the cards

def cards(r: dict[str, Any]) -> list[Card]:
    """The page's cards, each a field (or two) of the evaluate dict, formatted."""
    lo, hi = r["perplexity_ci95"]
    d_lo, d_hi = r["perplexity_delta_ci95"]
    a_lo, a_hi = r["token_accuracy_ci95"]
    delta = r["perplexity"] - r["perplexity_baseline"]
    bpw = r["bits_per_weight"]
    kv = r["kv_cache"]
    energy = r["energy_per_token"]
    tokens = f"{r['tokens']:,} held-out tokens"
    return [
        Card("Perplexity", f"{r['perplexity']:.2f}", f"95 % CI {lo:.2f} – {hi:.2f} · reference {r['perplexity_baseline']:.2f}",
             f"exp(mean next-token loss) on {tokens}; interval: bootstrap over chunks. Lower is better."),
        Card("Change vs reference", signed(delta), f"paired 95 % CI {signed(d_lo)} – {signed(d_hi)}",
             "Perplexity minus the reference's, on the same chunks and the same bootstrap resamples "
             "(an interval that excludes 0 is a real change)."),
        Card("Token top-1 accuracy", pct(r["token_accuracy"]),
             f"95 % CI {pct(a_lo)} – {pct(a_hi)} (Wilson) · reference {pct(r['token_accuracy_baseline'])}",
             "How often the most likely next token is the text's next token."),
        Card("KL(reference ‖ compressed)", f"{fixed(r['kl_divergence'], 2)} nats",
             "per token, averaged over the held-out tokens",
             "How far the compressed model's next-token distribution is from the reference's (0: identical)."),
        Card("Top-1 agreement", pct(r["top1_agreement"]), "same most likely token as the reference",
             "The share of positions where the compressed model's top token is the reference's top token."),
        Card("Bits per weight", "32 (float)" if bpw is None else f"{bpw:.2f}",
             float_note(r) + f"file {fmt_bytes(r['size_bytes']['file'])} · fp32 {fmt_bytes(r['size_bytes']['fp32'])}",
             "Bits per quantized weight including the scales (and zero points), the embeddings and the LM head "
             "included; the file is the compressed model as written and read back."),
        Card("KV-cache memory", fmt_bytes(kv["bytes"]),
             f"{kv['bits']}-bit · {kv['context']:,} tokens × batch {kv['batch']} · fp16 {fmt_bytes(kv['bytes_fp16'])}",
             "Keys and values of every layer for the context and batch chosen (scales included below 16 bits)."),
        Card("Energy per token (estimate)", fmt_energy(energy["pj"]),
             f"compute {fmt_energy(energy['compute_pj'])} · weights {fmt_energy(energy['weights_pj'])} · "
             f"KV cache {fmt_energy(energy['kv_cache_pj'])}",
             "An estimate, not a measurement: " + "; ".join(energy["assumptions"]) + "."),
    ]


def kv_caption(kv_bits: int) -> str:
    return ("16-bit: the cache as the model computes it (float16)." if kv_bits >= 16 else
            f"{kv_bits}-bit keys and values, in groups with float16 scales, while scoring the held-out text.")


KV_BITS = kvcache.BITS
__all__ = ["APART_BITS", "with_bits_apart", "apart_label", "apart_help", "apart_caption",
           "Card", "cards", "evaluate_lm", "lm_grid", "grid_stored", "grid_rows", "grid_base", "result_json",
           "contexts", "default_context", "longest_context", "unavailable", "model_label", "kv_caption",
           "config_items", "SECONDS", "GRID_KIND"]
