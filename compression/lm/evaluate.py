"""Evaluate a compressed language model through the same per-layer plan as every other model.

`plan.make` + `apply.compress` compress a copy (every quantizer record and granularity, RTN /
GPTQ / AWQ, SmoothQuant, magnitude / random / Wanda / SparseGPT pruning, unstructured or 2:4);
calibrated methods read token chunks of the TRAIN split. Then perplexity, token accuracy, KL
and agreement against the float model on held-out TEST chunks (compression.lm.metrics), sizes
from the plan's layouts (bits per weight with scales, the written file) and MACs per token.

The LM head is kept at 8 bits unless the config names its bits (`--layer-bits lm_head=B`), as
NNCF does; the token and position embeddings are `nn.Embedding` tables, not compressible
layers, and stay float32 (counted in the size as such).
"""
from __future__ import annotations

import functools
from typing import Any

import torch
from torch import nn

from compression import apply, criteria, data, downloads, models, plan, prune, size
from compression.config import CompressionConfig, ConfigError
from compression.layers import compressible, layer_params
from compression.lm import metrics, text

CONTEXT = 128
EVAL_TOKENS = 8192          # held-out test tokens scored per evaluation (64 chunks of 128)
CALIB_CHUNKS = 32           # train chunks read by calibrated methods: 4,096 tokens > every layer's inputs (640)
HEAD = "lm_head"
HEAD_BITS = 8
PROMPT = "If the exception "
SAMPLE_TOKENS = 80
CRITERIA = ("magnitude", "random", "wanda", "sparsegpt")
STRUCTURES = ("unstructured", "2:4")


def dataset(context: int = CONTEXT) -> data.Dataset:
    """Token chunks as the pipeline's Dataset: x_* are inputs (chunks, context), y_* next tokens.

    x_train holds only the calibration chunks (the first CALIB_CHUNKS windows of the train
    split), so calibration.batch, criteria and activation ranges all read training text.
    """
    train = text.chunks("train", context)[:CALIB_CHUNKS]
    test = text.chunks("test", context, max_tokens=EVAL_TOKENS)
    return data.Dataset(name="pydoc", x_train=train[:, :-1], y_train=train[:, 1:], x_test=test[:, :-1],
                        y_test=test[:, 1:], x_calib=train[:, :-1], classes=(), input_shape=(context,),  # type: ignore[arg-type]
                        source="CPython documentation topics (pydoc_data.topics), byte tokens; sorted topic i: "
                               "validation if i % 10 == 0, test if i % 10 == 1, else train")


def lm_config(config: CompressionConfig, model: nn.Module) -> CompressionConfig:
    """The config a language model runs, or ConfigError naming the first setting that cannot apply."""
    why = None
    if config.trains:
        why = "fine-tuning and QAT are not available for language models yet (finetune_epochs 0, no qat)"
    elif config.prunes and config.structure not in STRUCTURES:
        why = (f"structure '{config.structure}' does not apply to a language model: use "
               f"{' or '.join(STRUCTURES)}")
    elif config.prunes and config.criterion not in CRITERIA:
        why = (f"criterion '{config.criterion}' does not apply to a language model (it scores image classes "
               f"or post-ReLU neurons): use one of {', '.join(CRITERIA)}")
    elif config.max_drop:
        why = "max_drop (bits per layer within an accuracy drop) is for image classifiers, not language models"
    if why:
        raise ConfigError(why)
    names = compressible(model)
    if config.quantizes_weights and HEAD in names and HEAD not in dict(config.layer_bits) and config.bits < HEAD_BITS:
        config = config.replace(layer_bits=(*config.layer_bits, (HEAD, HEAD_BITS)))
    return config


@functools.lru_cache(maxsize=2)
def _reference(model_id: str) -> tuple[metrics.Scored, str]:
    """The float model's scores and sample (the shared model is read, never modified)."""
    base = models.shared(model_id)
    return metrics.score(base, _chunks()), _sample(base)


@functools.lru_cache(maxsize=1)
def _chunks() -> torch.Tensor:
    return text.chunks("test", CONTEXT, max_tokens=EVAL_TOKENS)


def _sample(model: nn.Module) -> str:
    out = metrics.greedy(model, text.encode(PROMPT), SAMPLE_TOKENS, CONTEXT)
    return text.decode(out[len(text.encode(PROMPT)):])


def macs_per_token(model: nn.Module) -> tuple[int, int]:
    """(dense, nonzero) multiply-accumulates of the compressible layers per generated token:
    each token passes once through every Linear (attention's score products, which grow with
    the context, are not counted here)."""
    layers = compressible(model)
    dense = sum(lay.weight.numel() for lay in layers.values())
    return dense, sum(int(torch.count_nonzero(lay.weight)) for lay in layers.values())


def evaluate(model_id: str, config: CompressionConfig = CompressionConfig()) -> dict[str, Any]:
    """Compress a copy of the zoo language model by `config` and measure it: a plain JSON dict."""
    return evaluate_model(models.shared(model_id), config, name=model_id, reference=_reference(model_id))


def evaluate_model(base: nn.Module, config: CompressionConfig, *, name: str = "custom",
                   reference: tuple[metrics.Scored, str] | None = None) -> dict[str, Any]:
    """The engine of evaluate() on any next-token model (base left untouched); `reference`: the
    float model's (scores, sample) when already known."""
    run, lp, (model, masks, quant) = _compress(base, config)
    ds = dataset()
    reference_scores, sample_baseline = reference or (metrics.score(base, _chunks()), _sample(base))
    compressed_scores = metrics.score(model, _chunks())
    comparison = metrics.compare(reference_scores, compressed_scores)

    layers = compressible(model)
    layouts = lp.store(layers, quant)
    owned = layer_params(layers)
    other_params = sum(p.numel() for n, p in model.named_parameters() if n not in owned)
    compressed_bits = sum(lay.plain.total for lay in layouts.values()) + other_params * size.FLOAT_BITS
    params_total = sum(p.numel() for p in model.parameters())
    quantized = [q.codec for q in quant.values()]
    weights = sum(c.channels * c.columns for c in quantized)
    file_bytes = len(downloads.file_of(_without_hooks(model), layouts))
    dense, nonzero = macs_per_token(model)
    notes = [f"Perplexity on {comparison.tokens:,} held-out test tokens ({comparison.chunks} chunks of "
             f"{CONTEXT}); interval: 95 % bootstrap over chunks ({metrics.RESAMPLES} resamples, seed "
             f"{metrics.SEED}), the same resamples for the change against the float model.",
             "Token and position embeddings are kept in float32 (not compressible layers)."]
    if dict(run.layer_bits).get(HEAD) == HEAD_BITS and HEAD not in dict(config.layer_bits):
        notes.append(f"The LM head is kept at {HEAD_BITS} bits (set it with --layer-bits {HEAD}=B).")
    if run.method != "rtn" or run.smooth_alpha or (run.prunes and criteria.lookup(run.criterion).needs_data):
        notes.append(f"Calibrated on {CALIB_CHUNKS} chunks ({CALIB_CHUNKS * CONTEXT:,} tokens) of the train split.")
    return {
        "model": name, "dataset": ds.name, "config": config.to_dict(),
        **comparison.to_dict(),
        "sample_prompt": PROMPT, "sample": _sample(model), "sample_baseline": sample_baseline,
        "params_total": params_total, "params_nonzero": sum(int(torch.count_nonzero(p)) for p in model.parameters()),
        "sparsity": prune.sparsity_of(masks),
        "size_bytes": {"fp32": params_total * size.FLOAT_BITS / 8, "compressed": compressed_bits / 8, "file": file_bytes},
        "compression_ratio": params_total * size.FLOAT_BITS / compressed_bits,
        "bits_per_weight": (sum(c.bits * c.channels * c.columns + c.side_bits for c in quantized) / weights
                            if weights else None),
        "macs_per_token": dense, "macs_per_token_effective": nonzero,
        "layers": [{"name": n, "shape": list(layers[n].weight.shape), "bits": lp.layers[n].bits,
                    "label": lp.layers[n].label, "method": lp.layers[n].method,
                    "bits_per_weight": quant[n].codec.bits_per_weight if n in quant else None,
                    "size_bits": layouts[n].plain.total} for n in layers],
        "notes": notes,
    }


def _compress(base: nn.Module, config: CompressionConfig
              ) -> tuple[CompressionConfig, plan.Plan, tuple[nn.Module, dict[str, torch.Tensor], dict]]:
    run = lm_config(config, base)
    lp = plan.make(base, run)
    return run, lp, apply.compress(base, dataset(), run, layer_plan=lp)


def scores(base: nn.Module, config: CompressionConfig) -> metrics.Scored:
    """The compressed copy's scores on the held-out chunks (for paired comparisons of two configs)."""
    return metrics.score(_compress(base, config)[2][0], _chunks())


def _without_hooks(model: nn.Module) -> nn.Module:
    return apply._without_hooks(model) if any(m._forward_pre_hooks for m in model.modules()) else model


def is_language_model(model_id: str) -> bool:
    return model_id in models.ZOO and models.spec(model_id).language

