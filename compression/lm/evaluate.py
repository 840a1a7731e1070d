"""Evaluate a compressed language model through the same per-layer plan as every other model.

`plan.make` + `apply.compress` compress a copy (every quantizer record and granularity, RTN /
GPTQ / AWQ, SmoothQuant, magnitude / random / Wanda / SparseGPT pruning, unstructured or 2:4);
calibrated methods read token chunks of the TRAIN split. Then perplexity, token accuracy, KL
and agreement against the float model on held-out TEST chunks (compression.lm.metrics), sizes
from the plan's layouts (bits per weight with scales, the written file) and MACs per token.

The embedding tables and the LM head are layers of their own (compression.layers) and are kept
at 8 bits while the body runs below 8 (`kept_apart`, `body_bits`; the uniform grid where the
body's record has no 8-bit form, compression.plan.honours) unless the config names their bits
(`--embedding-bits B`, `--head-bits B`, `--layer-bits lm_head=B`), as NNCF does. An embedding
is looked up, not multiplied: it has no MACs, one row of it is read per token, and it is never
pruned.
"""
from __future__ import annotations

import functools
from typing import Any, cast

import torch
from torch import nn

from compression import apply, criteria, data, downloads, energy, plan, prune, quantizers, size
from compression.config import METHODS, CompressionConfig, ConfigError
from compression.layers import Layer, LayerKind, compressible, layer_params
from compression.lm import gguf, kvcache, metrics, registry
from compression.zoo import Progress

HEAD = "lm_head"
HEAD_BITS = 8               # the embeddings' and the LM head's bits unless the config names theirs (NNCF's)
CRITERIA = ("magnitude", "random", "wanda", "sparsegpt")
STRUCTURES = ("unstructured", "2:4")
GRID_BITS = (2, 3, 4, 8)    # the bits × method grid's axes (the Language page's and the CLI's)
GRID_METHODS = METHODS
ERROR_CHUNKS = 2            # held-out chunks on which each layer's output error is measured
KV_CONTEXT = 2048           # default context length and batch of the KV-cache memory
CONTAINED = ("cannot lose anything by construction: its grid contains the reference's Q4_1 grid, so every "
             "reference weight is representable exactly. This is no evidence that {bits}-bit is free for the "
             "original bf16 model.")


def dataset(lm: registry.LanguageModel) -> data.Dataset:
    """Token chunks as the pipeline's Dataset: x_* are inputs (chunks, context), y_* next tokens.

    x_train holds only the calibration chunks (the first calib_chunks windows of the train
    split), so calibration.batch, criteria and activation ranges all read training text.
    """
    train, test = lm.calibration_chunks(), lm.test_chunks()
    return data.Dataset(name="pydoc", x_train=train[:, :-1], y_train=train[:, 1:], x_test=test[:, :-1],
                        y_test=test[:, 1:], x_calib=train[:, :-1], classes=(), input_shape=(lm.context,),  # type: ignore[arg-type]
                        source="CPython documentation topics (pydoc_data.topics); sorted topic i: "
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
    named = dict(config.layer_bits)
    if config.quantizes_weights and body_bits(config) < HEAD_BITS:
        kept = [(name, HEAD_BITS) for name in kept_apart(model) if name not in named]
        if kept:
            config = config.replace(layer_bits=(*config.layer_bits, *kept))
    return config


def body_bits(config: CompressionConfig) -> int:
    """The bits the body really runs at: a number format's own width (FP8 at any bits below 32
    is 8 bits, so nothing is kept apart beside it), else the config's."""
    return quantizers.resolve(config.quantizer, config.bits).width or config.bits


def with_bits_apart(config: CompressionConfig, model: nn.Module, embedding_bits: int | None = None,
                    head_bits: int | None = None) -> CompressionConfig:
    """`config` with every embedding table at `embedding_bits` and the LM head at `head_bits`, as
    per-layer bits (None: the default of lm_config, HEAD_BITS while the body is below it)."""
    named = dict(config.layer_bits)
    for names, b in ((embeddings(model), embedding_bits), (_head(model), head_bits)):
        if b is not None:
            named.update({name: b for name in names})
    return config.replace(layer_bits=tuple(named.items())) if named != dict(config.layer_bits) else config


def embeddings(model: nn.Module) -> list[str]:
    """The model's embedding tables as compressible layers (compression.layers), in module order."""
    return [n for n, layer in compressible(model).items() if layer.kind is LayerKind.EMBEDDING]


def _head(model: nn.Module) -> list[str]:
    """[HEAD] when the model has an LM head among its compressible layers, else []."""
    return [HEAD] if HEAD in compressible(model) else []


def kept_apart(model: nn.Module) -> list[str]:
    """The layers set apart from the body: every embedding table and the LM head, kept at
    HEAD_BITS unless the config names their bits (NNCF's default for both)."""
    return embeddings(model) + _head(model)


def role(name: str, layer: Layer) -> str:
    """'embedding', 'head' (the two kept apart) or 'body': what a layer is to a language model."""
    return "embedding" if layer.kind is LayerKind.EMBEDDING else "head" if name == HEAD else "body"


def rows_read_per_token(layer: Layer) -> int:
    """How many rows of a layer's weights one token reads: all of a matrix, one of a table."""
    return 1 if layer.kind is LayerKind.EMBEDDING else int(layer.weight.shape[0])


def bits_read_per_token(layers: dict[str, Layer], layouts: dict[str, plan.Layout]) -> dict[str, float]:
    """{layer: stored bits one token reads}: a matrix's whole layout, an embedding's one row of it
    (its share of the layout: codes, scales and index of one of its rows on average)."""
    return {n: layouts[n].plain.total * rows_read_per_token(layer) / layer.weight.shape[0]
            for n, layer in layers.items()}


@functools.lru_cache(maxsize=2)
def _reference_sample(model_id: str) -> str:
    lm = registry.lookup(model_id)
    return lm.sample(lm.load())


_REFERENCES: dict[str, metrics.ReferenceLogp] = {}


def reference(model_id: str, progress: Progress | None = None) -> metrics.ReferenceLogp:
    """The reference's log-probabilities on the model's held-out chunks, computed once per process."""
    if model_id not in _REFERENCES:
        lm = registry.lookup(model_id)
        _REFERENCES[model_id] = metrics.ReferenceLogp(lm.load(), lm.test_chunks(), progress)
    return _REFERENCES[model_id]


def macs_per_token(model: nn.Module) -> tuple[int, int]:
    """(dense, nonzero) multiply-accumulates of the compressible layers per generated token:
    each token passes once through every Linear (attention's score products, which grow with
    the context, are not counted here; an embedding is a lookup, no MAC)."""
    layers = {n: layer for n, layer in compressible(model).items() if layer.kind.multiplies}
    dense = sum(lay.weight.numel() for lay in layers.values())
    return dense, sum(int(torch.count_nonzero(lay.weight)) for lay in layers.values())


def _stage(progress: Progress | None, lo: float, hi: float, prefix: str = "") -> Progress | None:
    """A progress callback for one stage, mapped onto [lo, hi] of the whole evaluation, its
    messages after `prefix` (the reference's and the compressed model's scoring both count chunks)."""
    if progress is None:
        return None
    return lambda f, message: progress(lo + (hi - lo) * min(max(f, 0.0), 1.0), prefix + message)


def evaluate(model_id: str, config: CompressionConfig = CompressionConfig(), *, kv_bits: int = 16,
             kv_context: int | None = None, kv_batch: int = 1, progress: Progress | None = None) -> dict[str, Any]:
    """Compress a copy of a language model (compression.lm.registry) by `config` and measure it
    against its reference on held-out text: a plain JSON dict (the `evaluate --json` shape).

    kv_bits: the key/value cache's format (16, 8 or 4; compression.lm.kvcache), applied while
    scoring; kv_context (default: the model's longest, up to 2,048), kv_batch: the context and
    batch its memory is given at.
    progress(fraction, message): called through every long stage; a Stop raises from it.
    """
    lm = registry.lookup(model_id)
    why = lm.available()
    if why:
        raise data.DataUnavailable(why)
    if kv_bits not in kvcache.BITS:
        raise ConfigError(f"KV-cache bits must be one of {', '.join(map(str, kvcache.BITS))}; got {kv_bits}")
    base = lm.load()
    longest = max_context(base)
    kv_context = min(longest, KV_CONTEXT) if kv_context is None else kv_context
    if not 1 <= kv_context <= longest or kv_batch < 1:
        raise ConfigError(f"the KV cache's context must be 1 to {longest:,} tokens ({model_id}'s longest) and "
                          "its batch at least 1")
    run = lm_config(config, base)
    lp = plan.make(base, run)
    ds = dataset(lm)
    if progress:
        progress(0.0, f"compressing {model_id}")
    ref = reference(model_id, _stage(progress, 0.0, 0.2, "the reference: "))
    model, masks, quant = apply.compress(base, ds, run, progress=_stage(progress, 0.2, 0.6), layer_plan=lp,
                                         keep_before=False)
    layers = compressible(model)
    layouts = lp.store(layers, quant)
    if progress:
        progress(0.6, "writing the compressed file")
    file_bytes = downloads.file_size(model, layouts)  # reads the weights only: hooks do not matter
    if kv_bits < 16:
        kvcache.install(model, kv_bits)
    scored = metrics.score(model, lm.test_chunks(), reference=ref,
                           progress=_stage(progress, 0.65, 0.9, "the compressed model: "))
    comparison = metrics.compare(ref.scored, scored)
    if progress:
        progress(0.9, "per-layer output error and the greedy samples")
    errors = layer_output_error(base, model, lm.test_chunks()[:ERROR_CHUNKS, :-1])
    sample, sample_baseline = lm.sample(model), _reference_sample(model_id)

    owned = layer_params(layers)
    other_params = sum(p.numel() for n, p in model.named_parameters() if n not in owned)
    weight_bits = sum(lay.plain.total for lay in layouts.values())
    compressed_bits = weight_bits + other_params * size.FLOAT_BITS
    params_total = sum(p.numel() for p in model.parameters())
    quantized = [q.codec for q in quant.values()]
    weights = sum(c.channels * c.columns for c in quantized)
    dense, nonzero = macs_per_token(model)
    kv = kvcache.memory(model, kv_bits, kv_context, kv_batch)
    per_token = energy_per_token(model, lp, layouts, run, kv_bits, kv_context)
    notes = [f"Reference: {lm.reference}.",
             f"Perplexity on {comparison.tokens:,} held-out test tokens ({comparison.chunks} chunks of "
             f"{lm.context}); interval: 95 % bootstrap over chunks ({metrics.RESAMPLES} resamples, seed "
             f"{metrics.SEED}), the same resamples for the change against the reference."]
    defaulted = [n for n in kept_apart(base) if n not in dict(config.layer_bits) and n in dict(run.layer_bits)]
    if defaulted:
        verb = "is" if len(defaulted) == 1 else "are"
        notes.append(f"{_roles(defaulted)} {verb} kept at {HEAD_BITS} bits ({lp.layers[defaulted[0]].method}) while "
                     f"the body is below {HEAD_BITS}, as NNCF does ({_flags(defaulted)}).")
    tables = embeddings(base)
    notes.append(f"Embedding tables ({', '.join(tables)}) are looked up, not multiplied: one row read per token, "
                 "no MACs, never pruned.")
    if run.method != "rtn" or run.smooth_alpha or (run.prunes and criteria.lookup(run.criterion).needs_data):
        notes.append(f"Calibrated on {lm.calib_chunks} chunks ({lm.calib_chunks * lm.context:,} tokens) of the "
                     "train split.")
    if kv_bits < 16:
        group = kvcache.group_of(model.kv_projections()[0][2])  # type: ignore[operator]
        notes.append(f"KV cache at {kv_bits} bits (groups of {group}, float16 scales) while scoring"
                     + ("; keys quantized before the rotary embedding." if hasattr(model, "forward_with_cache")
                        else "."))
    contained = contained_sentence(model_id, run, lp)
    if contained:
        notes.append(f"This format {contained}")
    return {
        "model": model_id, "dataset": ds.name, "config": config.to_dict(), "reference": lm.reference,
        "contained": contained,
        **comparison.to_dict(),
        "sample_prompt": lm.prompt, "sample": sample, "sample_baseline": sample_baseline,
        "params_total": params_total, "params_nonzero": sum(int(torch.count_nonzero(p)) for p in model.parameters()),
        "sparsity": prune.sparsity_of(masks),
        "size_bytes": {"fp32": params_total * size.FLOAT_BITS / 8, "compressed": compressed_bits / 8, "file": file_bytes},
        "compression_ratio": params_total * size.FLOAT_BITS / compressed_bits,
        "bits_per_weight": (sum(c.bits * c.channels * c.columns + c.side_bits for c in quantized) / weights
                            if weights else None),
        "macs_per_token": dense, "macs_per_token_effective": nonzero,
        "kv_cache": kv.to_dict(),
        "bytes_moved_per_token": {"weights": sum(bits_read_per_token(layers, layouts).values()) / 8,
                                  "kv_cache": kv.bytes / kv_batch},
        "energy_per_token": per_token,
        "layers": [{"name": n, "role": role(n, layers[n]), "shape": list(layers[n].weight.shape),
                    "bits": lp.layers[n].bits,
                    "label": lp.layers[n].label, "method": lp.layers[n].method,
                    "bits_per_weight": quant[n].codec.bits_per_weight if n in quant else None,
                    "size_bits": layouts[n].plain.total, "output_error": errors.get(n)} for n in layers],
        "notes": notes,
    }


def _roles(names: list[str]) -> str:
    """'The embedding tables tok, pos and the LM head' for the names kept apart."""
    tables = [n for n in names if n != HEAD]
    parts = ([f"the embedding table{'s' if len(tables) > 1 else ''} {', '.join(tables)}"] if tables else []) + (
        ["the LM head"] if HEAD in names else [])
    text = " and ".join(parts)
    return text[:1].upper() + text[1:]


def _flags(names: list[str]) -> str:
    """How the defaulted ones are set: the CLI's flag and the Language page's control."""
    ways = ([("--embedding-bits B", "Embedding bits")] if any(n != HEAD for n in names) else []) + (
        [("--head-bits B", "LM head bits")] if HEAD in names else [])
    return ("set with " + " and ".join(flag for flag, _ in ways) + ", or "
            + " and ".join(f"'{control}'" for _, control in ways) + " on the Language page")


def max_context(model: nn.Module) -> int:
    """The longest sequence the model takes (positions it has embeddings or rotary tables for)."""
    spec = getattr(model, "spec", None)
    return int(spec.context_length) if spec is not None else int(cast(Any, model).config.context)


def contained_sentence(model_id: str, run: CompressionConfig, layer_plan: plan.Plan | None = None) -> str | None:
    """For SmolLM2 (its reference is already quantized): the sentence saying that this format
    cannot lose anything by construction, when every layer's grid contains the reference's
    (Q4_1 for the block matrices, Q8_0 for the embedding and the LM head copied from it;
    compression.lm.gguf.grid_contained), else None. `layer_plan`: run's plan, when made already."""
    if registry.lookup(model_id).tokens != "gguf" or not run.quantizes_weights or run.prunes:
        return None
    lp = layer_plan or plan.make(registry.lookup(model_id).load(), run)
    for name, s in lp.layers.items():
        if not s.quantized:
            continue
        reference = "Q8_0" if name == HEAD or s.kind is LayerKind.EMBEDDING else "Q4_1"
        # the uniform record's zero point is an integer and its group scales are float16
        if not gguf.grid_contained(reference, s.quantizer.name, s.bits, s.scheme, s.granularity,
                                   zero_point="integer", scale_dtype="float16").contained:
            return None
    return CONTAINED.format(bits=run.bits)


@torch.no_grad()
def layer_output_error(base: nn.Module, model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """{layer: ||(W − Ŵ) x||² / ||W x||²} on the inputs each layer receives in the compressed
    model, W the reference's weights, one forward pass (hooks on `model`, the caller's own
    compressed copy, removed after; its training mode is left as it was). An embedding's
    "output" is the rows it looks up: ||E[ids] − Ê[ids]||² / ||E[ids]||²."""
    copy = model
    originals = compressible(base)
    sums: dict[str, list[float]] = {}
    handles = []

    def add(name: str, ref: torch.Tensor, diff: torch.Tensor) -> None:
        acc = sums.setdefault(name, [0.0, 0.0])
        acc[0] += float(diff.pow(2).sum())
        acc[1] += float(ref.pow(2).sum())

    for name, layer in compressible(copy).items():
        w0 = originals[name].weight.detach()

        def hook(module: nn.Module, args: tuple, name: str = name, w0: torch.Tensor = w0) -> None:
            inp = args[0].reshape(-1, args[0].shape[-1]).float()
            add(name, inp @ w0.T.float(), inp @ (w0 - cast(torch.Tensor, module.weight)).T.float())

        def lookup(module: nn.Module, args: tuple, name: str = name, w0: torch.Tensor = w0) -> None:
            ref = w0[args[0].reshape(-1)].float()
            add(name, ref, ref - cast(torch.Tensor, module.weight)[args[0].reshape(-1)].float())
        embedding = layer.kind is LayerKind.EMBEDDING
        handles.append(layer.module.register_forward_pre_hook(lookup if embedding else hook))
    was_training = copy.training
    try:
        copy.eval()(x)
    finally:
        for h in handles:
            h.remove()
        copy.train(was_training)
    return {n: (e / r if r else 0.0) for n, (e, r) in sums.items()}


def energy_per_token(model: nn.Module, lp: plan.Plan, layouts: dict[str, plan.Layout], run: CompressionConfig,
                     kv_bits: int, kv_context: int) -> dict[str, Any]:
    """Energy of generating one token at batch 1, an estimate (compression.energy's constants):
    every weight layer's MACs at its arithmetic, every matrix's weights read once and one row of
    every embedding table (from DRAM when the model does not fit on chip), and the whole KV
    cache at `kv_context` read once."""
    p = energy.profile(run.profile, run.sram_kb)
    layers = compressible(model)
    weight_bits = sum(lay.plain.total for lay in layouts.values())
    on_chip = energy.weights_on_chip(p, weight_bits / 8)
    read = bits_read_per_token(layers, layouts)
    compute = memory = 0.0
    for name, layer in layers.items():
        s = lp.layers[name]
        rows, width = layer.weight.shape[0], layer.weight.shape[1]
        if not layer.kind.multiplies:  # a lookup: one row read and written out, no arithmetic
            memory += energy.memory_pj(p, read[name], width * s.act_bits, on_chip)
            continue
        macs = int(torch.count_nonzero(layer.weight)) if run.skip_zeros else layer.weight.numel()
        # per token: each weight once, and one output per row
        compute += energy.layer_compute_pj(p, macs, rows, s.bits, s.act_bits, width, s.energy_op)
        memory += energy.memory_pj(p, read[name], (width + rows) * s.act_bits, on_chip)
    kv_bits_read = kvcache.memory(model, kv_bits, kv_context, 1).bytes * 8
    kv = energy.memory_pj(p, kv_bits_read, 0.0, energy.weights_on_chip(p, kv_bits_read / 8))
    return {"kind": "estimate", "pj": compute + memory + kv, "compute_pj": compute, "weights_pj": memory,
            "kv_cache_pj": kv,
            "assumptions": [f"{p.name}: {p.source}",
                            f"batch 1: every weight of the matrices and one row of each embedding table read once "
                            f"per token from {'on-chip SRAM' if on_chip else 'DRAM'} ({p.dram_32:g} pJ per 32 bits "
                            f"from DRAM)",
                            f"the KV cache of {kv_context:,} past tokens read once per token",
                            "attention's score products and softmax, and the norms, not counted"]}


def grid(model_id: str, base: CompressionConfig = CompressionConfig(granularity="channel"),
         bits: tuple[int, ...] = GRID_BITS, methods: tuple[str, ...] = GRID_METHODS,
         progress: Progress | None = None) -> dict[str, Any]:
    """Perplexity of every (bits, method) on the held-out chunks, each with its 95 % interval and
    the paired interval of its change against rounding-to-nearest at the same bits."""
    lm = registry.lookup(model_id)
    why = lm.available()
    if why:
        raise data.DataUnavailable(why)
    ref = lm.load()
    chunks = lm.test_chunks()
    logp = reference(model_id)
    out: dict[str, Any] = {"model": model_id, "reference": lm.reference, "bits": list(bits), "methods": list(methods),
                           "config": base.to_dict(), "tokens": int(chunks[:, 1:].numel()),
                           **{k: {m: [] for m in methods} for k in ("perplexity", "perplexity_ci95",
                                                                   "delta_vs_rtn_ci95", "kl_divergence",
                                                                   "top1_agreement")}}
    reference_scores = logp.scored
    out["perplexity_baseline"] = metrics.perplexity(reference_scores.nll)
    steps = len(bits) * len(methods)
    for i, b in enumerate(bits):
        nll: dict[str, torch.Tensor] = {}
        for j, m in enumerate(methods):
            k = i * len(methods) + j
            stage = _stage(progress, k / steps, (k + 1) / steps, f"{k + 1} of {steps}, {m} at {b} bits: ")
            if stage:
                stage(0.0, "compressing")
            compressed = compressed_model(ref, lm, base.replace(bits=b, method=m), stage)
            scored = metrics.score(compressed, chunks, reference=logp)
            c = metrics.compare(reference_scores, scored)
            nll[m] = scored.nll
            out["perplexity"][m].append(c.perplexity)
            out["perplexity_ci95"][m].append(list(c.perplexity_ci95))
            out["kl_divergence"][m].append(c.kl_divergence)
            out["top1_agreement"][m].append(c.top1_agreement)
        for m in methods:
            lo_hi = (metrics.perplexity_delta_ci(nll[m], nll["rtn"]) if "rtn" in nll and m != "rtn" else (0.0, 0.0))
            out["delta_vs_rtn_ci95"][m].append(list(lo_hi))
    if progress:
        progress(1.0, "done")
    return out


def compressed_model(base: nn.Module, lm: registry.LanguageModel, config: CompressionConfig,
                     progress: Progress | None = None) -> nn.Module:
    """The compressed copy evaluate() scores (calibrated on lm's train chunks)."""
    run = lm_config(config, base)
    return apply.compress(base, dataset(lm), run, progress=progress, layer_plan=plan.make(base, run),
                          keep_before=False)[0]


def scores(model_id: str, config: CompressionConfig) -> metrics.Scored:
    """The compressed copy's scores on the held-out chunks, beside the reference (for paired
    comparisons of two configs on the same chunks)."""
    lm = registry.lookup(model_id)
    base = lm.load()
    return metrics.score(compressed_model(base, lm, config), lm.test_chunks(), reference=reference(model_id))


def is_language_model(model_id: str) -> bool:
    return model_id in registry.MODELS
