"""Per-layer sensitivity (each layer compressed alone) and mixed-precision bits allocated from it.

Sensitivity follows Han et al. 2015 (arXiv:1506.02626, Fig. 5): prune or quantize one layer,
leave the others untouched, and measure accuracy. The allocation treats the accuracy drops
as additive across layers (the usual first-order assumption of sensitivity-based mixed
precision, e.g. HAQ, Wang et al. 2019, arXiv:1811.08886, uses measured feedback instead)
and picks the bits per layer that minimise the summed drop within a size budget.
"""
from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import torch

from compression import measure, models, pipeline, plan, source, structures
from compression.config import CompressionConfig, ConfigError
from compression.models import Progress

SPARSITIES = (0.0, 0.25, 0.5, 0.75, 0.9, 0.95)
BITS = (1, 2, 3, 4, 5, 6, 8, 32)
ALLOCATION_BITS = (2, 3, 4, 5, 6, 8)   # the choices mixed precision picks from per layer
CANDIDATES = 16                        # allocations compressed and measured before one is picked
EXHAUSTIVE_MAX = 200_000               # beyond this many combinations, greedy instead of exact


def reference_config(base_config: CompressionConfig | None = None) -> CompressionConfig:
    """The config every layer is measured against: the base's choices, nothing pruned or quantized."""
    base = base_config or CompressionConfig()
    return base.replace(sparsity=0.0, bits=32, layer_bits=(), layer_sparsity=(),
                        structure="unstructured" if base.structure == "2:4" or _by_heads(base) else base.structure)


def _by_heads(config: CompressionConfig) -> bool:
    """Heads go by one ranking of all heads, never one weight layer alone: per layer, weights are pruned instead."""
    return structures.structure(config.structure).slices_heads


def load(model_id: str | source.ModelSource, data_dir: str | Path | None = None) -> source.Loaded:
    """The model a zoo id or upload word names, with its test data; ValueError when it has none.

    Every curve here is an accuracy: a model without labelled data has nothing to measure.
    """
    src = source.parse(model_id) if isinstance(model_id, str) else model_id
    loaded = source.load(src, data_dir=data_dir)
    if loaded.dataset is None or not len(loaded.dataset.y_test):
        raise ValueError(f"{src} has no test data ({loaded.why_no_accuracy or source.NO_DATA}): per-layer "
                         f"sensitivity and mixed precision measure accuracy; give an .npz test set")
    return loaded


def layer_scores(model_id: str, config: CompressionConfig, data_dir: str | Path | None = None
                 ) -> dict[str, float]:
    """Test accuracy and training-split loss of the model compressed by `config`: one task.

    The loss is on training images so an allocation chosen by it is not fitted to the test split
    that later judges it; and unlike accuracy (steps of 1/n_test) it moves with every bit.
    Module-level with a plain model word, so a process pool or Dask worker can run it.
    """
    return _scores(load(model_id, data_dir), config)


def _scores(loaded: source.Loaded, config: CompressionConfig) -> dict[str, float]:
    if torch.get_num_threads() != 1:  # a fresh pool worker: one thread per task (tiny models, 2 cores)
        torch.set_num_threads(1)
    ds = loaded.dataset
    assert ds is not None  # load() refuses a model without data
    model, _, _ = pipeline.compress(loaded.model, ds, config)
    # an upload's training split is its calibration rows; with none, the test rows stand in
    x, y = (ds.x_train, ds.y_train) if len(ds.y_train) else (ds.x_test, ds.y_test)
    with torch.no_grad():
        loss = float(torch.nn.functional.cross_entropy(model(x), y))
    return {"accuracy": measure.accuracy(model, ds.x_test, ds.y_test), "train_loss": loss}


def sensitivity(model_id: str | source.ModelSource, base_config: CompressionConfig | None = None,
                sparsities: Sequence[float] = SPARSITIES, bits: Sequence[int] = BITS,
                executor: Executor | None = None, progress: Progress | None = None,
                data_dir: str | Path | None = None) -> dict[str, Any]:
    """Accuracy of each layer alone at each sparsity and each bit-width, the other layers untouched.

    `model_id` is a zoo id or an upload word (`upload:<hash>.<data hash>`, see compression.source).
    Returns {model, config, baseline, baseline_train_loss, n_test, layers,
    sparsity: {values, accuracy: {layer: [...]}, train_loss: {layer: [...]}}, bits: {same}}.
    """
    ref = reference_config(base_config)
    loaded = load(model_id, data_dir)
    if ref.structure == "rows" and plan.coupled(loaded.model):
        # one layer alone cannot lose rows where channels are coupled across layers (plan.make
        # refuses it): each layer is pruned weight by weight instead; the result's config says so
        ref = ref.replace(structure="unstructured")
    model_id = str(source.parse(model_id)) if isinstance(model_id, str) else str(model_id)
    names = list(models.layers(loaded.model))
    ds = loaded.dataset
    assert ds is not None
    tasks: list[tuple[str, str, float, CompressionConfig]] = [("baseline", "", 0, ref)]
    tasks += [("sparsity", n, s, ref.replace(layer_sparsity={n: s})) for n in names for s in sparsities]
    tasks += [("bits", n, b, ref.replace(layer_bits={n: b})) for n in names for b in bits]
    results = _run(model_id, [t[3] for t in tasks], executor, data_dir,
                   lambda i: _progress(progress, i + 1, len(tasks), tasks[i]), loaded)
    score = {(kind, n, v): r for (kind, n, v, _), r in zip(tasks, results)}

    def curves(kind: str, values: Sequence[Any]) -> dict[str, Any]:
        return {"values": list(values),
                **{k: {n: [score[(kind, n, v)][k] for v in values] for n in names}
                   for k in ("accuracy", "train_loss")}}

    base = score[("baseline", "", 0)]
    return {"model": model_id, "config": ref.changed(), "baseline": base["accuracy"],
            "baseline_train_loss": base["train_loss"], "n_test": len(ds.y_test), "layers": names,
            "sparsity": curves("sparsity", sparsities), "bits": curves("bits", bits)}


def _run(model_id: str, configs: list[CompressionConfig], executor: Executor | None,
         data_dir: str | Path | None, done: Any, loaded: source.Loaded | None = None) -> list[dict[str, float]]:
    """layer_scores for every config, in order, here or on the executor; done(i) after each.

    In this process the model is loaded once (an upload's program is checked and read once);
    workers get the model word and load it themselves.
    """
    results = []
    if executor is None:
        loaded = loaded or load(model_id, data_dir)
        for i, config in enumerate(configs):
            results.append(_scores(loaded, config))
            done(i)
        return results
    futures = [executor.submit(layer_scores, model_id, config, data_dir) for config in configs]
    for i, future in enumerate(futures):
        results.append(future.result())
        done(i)
    return results


def layer_bytes(model_id: str | source.ModelSource, bits: Sequence[int], base_config: CompressionConfig | None = None,
                data_dir: str | Path | None = None) -> tuple[dict[str, dict[int, float]], float]:
    """Compressed bytes of each layer at each bit-width (the pipeline's own accounting), and the
    bytes outside those layers. A layer's size depends only on its own bits, so sizes add up."""
    ref = reference_config(base_config)
    per_layer: dict[str, dict[int, float]] = {}
    other = 0.0
    for b in bits:
        r = pipeline.evaluate(model_id, ref.replace(bits=b), latency=False, data_dir=data_dir)
        for layer in r.layers:
            per_layer.setdefault(layer.name, {})[b] = layer.size_bits["total"] / 8
        other = r.size_bytes["compressed"] - sum(layer.size_bits["total"] for layer in r.layers) / 8
    return per_layer, other


def allocate_bits(drops: dict[str, dict[int, float]], sizes: dict[str, dict[int, float]],
                  budget_bytes: float, fixed_bytes: float = 0.0, keep: int = 1) -> list[dict[str, int]]:
    """Bits per layer minimising the summed drop with total bytes <= budget: the `keep` best, best first.

    Exact (every combination) for small models; otherwise greedy from the widest bits, each
    step lowering the layer that loses least per byte saved (one answer). ValueError when even
    the fewest bits do not fit.
    """
    names = list(drops)
    options = {n: sorted(drops[n]) for n in names}
    smallest = fixed_bytes + sum(sizes[n][options[n][0]] for n in names)
    if smallest > budget_bytes:
        raise ValueError(f"a size budget of {budget_bytes:,.0f} bytes is below the smallest allocation "
                         f"({smallest:,.0f} bytes at the fewest bits everywhere)")
    if math.prod(len(o) for o in options.values()) <= EXHAUSTIVE_MAX:
        scored = []
        for combo in itertools.product(*(options[n] for n in names)):
            total = fixed_bytes + sum(sizes[n][b] for n, b in zip(names, combo))
            if total <= budget_bytes:  # ties: the larger model first
                scored.append((sum(drops[n][b] for n, b in zip(names, combo)), -total, combo))
        return [dict(zip(names, combo)) for _, _, combo in heapq.nsmallest(keep, scored)]
    alloc = {n: options[n][-1] for n in names}
    while fixed_bytes + sum(sizes[n][alloc[n]] for n in names) > budget_bytes:
        def cost(n: str) -> float:
            lower = options[n][options[n].index(alloc[n]) - 1]
            saved = sizes[n][alloc[n]] - sizes[n][lower]
            return (drops[n][lower] - drops[n][alloc[n]]) / saved if saved > 0 else math.inf
        step = min((n for n in names if alloc[n] != options[n][0]), key=cost)
        alloc[step] = options[step][options[step].index(alloc[step]) - 1]
    return [alloc]


def mixed_precision(model_id: str | source.ModelSource, budget_bytes: float, base_config: CompressionConfig | None = None,
                    bits: Sequence[int] = ALLOCATION_BITS, sens: dict[str, Any] | None = None,
                    candidates: int = CANDIDATES, executor: Executor | None = None,
                    progress: Progress | None = None, data_dir: str | Path | None = None
                    ) -> CompressionConfig:
    """A config with bits per layer (layer_bits) that fits the size budget.

    The per-layer curves (training loss when that layer alone is quantized) predict, as a sum,
    each allocation's loss; the `candidates` best predictions are then compressed for real and
    the one with the lowest measured training loss wins (layers interact; the sum is first order).
    The test split is never used to choose.
    """
    if sens is None:
        sens = sensitivity(model_id, base_config, sparsities=(), bits=bits, executor=executor,
                           progress=progress, data_dir=data_dir)
    missing = [b for b in bits if b not in sens["bits"]["values"]]
    if missing:
        raise ConfigError(f"the sensitivity curves have no point at {missing} bits")
    index = {b: sens["bits"]["values"].index(b) for b in bits}
    drops = {n: {b: loss[index[b]] - sens["baseline_train_loss"] for b in bits}
             for n, loss in sens["bits"]["train_loss"].items()}
    sizes, other = layer_bytes(model_id, bits, base_config, data_dir)
    ref = reference_config(base_config)
    configs = [ref.replace(bits=max(bits), layer_bits=a)
               for a in allocate_bits(drops, sizes, budget_bytes, other, keep=candidates)]
    if len(configs) == 1:
        return configs[0]
    # workers get the word (as sensitivity() gives them)
    losses = [r["train_loss"] for r in _run(str(model_id), configs, executor, data_dir, lambda i: None)]
    return configs[losses.index(min(losses))]


def _progress(progress: Progress | None, done: int, total: int, task: tuple) -> None:
    if progress:
        kind, name, value = task[:3]
        what = "baseline" if kind == "baseline" else (
            f"{name} at {value:.0%} sparsity" if kind == "sparsity" else f"{name} at {value} bits")
        progress(done / total, what)


def versus_uniform(model_id: str | source.ModelSource, uniform_bits: Sequence[int], base_config: CompressionConfig | None = None,
                   bits: Sequence[int] = ALLOCATION_BITS, sens: dict[str, Any] | None = None,
                   data_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """Mixed precision against uniform bits at the same size: per budget, the paired change and
    whether the allocation differs from uniform at all.

    For each uniform bit-width b its compressed size is the budget; mixed_precision allocates
    within it. Both are compressed and scored on the same test images, so the change comes
    with its paired 95 % interval (Newcombe, as the report's). An allocation that gives every
    layer b bits is the uniform model itself: its change is zero by construction, not a tie
    within noise, and `differs` says so (a mixed-precision "win" there would be noise).
    """
    base = base_config or CompressionConfig()
    ref = reference_config(base)
    if sens is None:
        sens = sensitivity(model_id, base, sparsities=(), bits=bits, data_dir=data_dir)
    loaded = load(model_id, data_dir)
    ds, model = loaded.dataset, loaded.model
    assert ds is not None  # load() refuses a model without test data
    rows = []
    for b in uniform_bits:
        uniform_cfg = ref.replace(bits=b)
        uniform = pipeline.evaluate(model_id, uniform_cfg, latency=False, data_dir=data_dir)
        budget = uniform.size_bytes["compressed"]
        mixed_cfg = mixed_precision(model_id, budget, base, bits=bits, sens=sens, data_dir=data_dir)
        mixed = pipeline.evaluate(model_id, mixed_cfg, latency=False, data_dir=data_dir)
        allocation = {n: mixed_cfg.bits_for(n) for n in models.layers(model)}
        differs = any(v != b for v in allocation.values())
        if differs:
            correct = {}
            for key, c in (("uniform", uniform_cfg), ("mixed", mixed_cfg)):
                compressed, _, _ = pipeline.compress(model, ds, c)
                correct[key] = (measure.predictions(compressed, ds.x_test) == ds.y_test).tolist()
            delta, (lo, hi) = measure.paired_delta(correct["mixed"], correct["uniform"])
            verdict = measure.noise_verdict(delta, (lo, hi))
        else:
            delta, lo, hi, verdict = 0.0, 0.0, 0.0, "the uniform allocation itself"
        rows.append({"uniform_bits": b, "budget_bytes": budget, "uniform_accuracy": uniform.accuracy,
                     "mixed_bytes": mixed.size_bytes["compressed"], "mixed_accuracy": mixed.accuracy,
                     "allocation": allocation, "differs": differs, "delta": delta, "delta_lo": lo,
                     "delta_hi": hi, "verdict": verdict, "n_test": len(ds.y_test)})
    return rows


def within_drop(model_id: str | source.ModelSource, max_drop: float, base_config: CompressionConfig | None = None,
                bits: Sequence[int] = ALLOCATION_BITS, progress: Progress | None = None,
                data_dir: str | Path | None = None) -> dict[str, Any]:
    """The smallest model whose accuracy drops at most `max_drop` points: bits per layer (the largest compression
    within an accuracy target, beside mixed_precision's size budget).

    The test images are split in two by position: the even ones choose (a validation half), the
    odd ones judge, so no number reported was seen by the choice. Training images would not do:
    the model fits them, and a layer's drop there is a fraction of its drop on unseen images
    (LeNet-300-100 at 3 bits: 0.4 points on training images, 2.1 on test images).
    Each layer's drop when it alone is quantized (validation accuracy, points) predicts an
    allocation's drop as their sum; greedily the step that saves the most bytes per point of
    predicted drop is taken while the sum stays within the target; the allocation is then
    compressed for real and, while its measured validation drop exceeds the target, the layer
    with the largest own drop gets its bits back one step at a time. The result lists each
    layer's choice with the paired 95 % interval of its own drop on the judging half (that layer
    alone at its bits vs the float model) and the whole model's drop with its interval.
    """
    if not 0 < max_drop <= 100:
        raise ConfigError(f"max_drop={max_drop!r} is not allowed: use accuracy points from 0 (off) to 100, e.g. 1.0")
    loaded = load(model_id, data_dir)
    ds, model = loaded.dataset, loaded.model
    assert ds is not None
    ref = reference_config(base_config)
    names = list(models.layers(model))
    options = sorted(bits)
    x, y = ds.x_test[0::2], ds.y_test[0::2]            # choose
    x_judge, y_judge = ds.x_test[1::2], ds.y_test[1::2]  # judge

    def correct(config: CompressionConfig, xs: torch.Tensor, ys: torch.Tensor) -> list[bool]:
        compressed, _, _ = pipeline.compress(model, ds, config)
        return (measure.predictions(compressed, xs) == ys).tolist()

    def points(c: list[bool]) -> float:
        return 100.0 * sum(c) / max(1, len(c))

    base_val = points(correct(ref, x, y))
    drops: dict[str, dict[int, float]] = {}
    steps = len(names) * len(options)
    for i, n in enumerate(names):
        drops[n] = {}
        for j, b in enumerate(options):
            if progress:
                progress((i * len(options) + j) / (steps + 4), f"{n} at {b} bits")
            drops[n][b] = max(0.0, base_val - points(correct(ref.replace(layer_bits={n: b}), x, y)))
    sizes, other = layer_bytes(model_id, options, base_config, data_dir)
    alloc = {n: options[-1] for n in names}
    predicted = sum(drops[n][alloc[n]] for n in names)
    while True:
        best: tuple[float, str] | None = None
        for n in names:
            k = options.index(alloc[n])
            if k == 0:
                continue
            lower = options[k - 1]
            more = drops[n][lower] - drops[n][alloc[n]]
            saved = sizes[n][alloc[n]] - sizes[n][lower]
            if saved > 0 and predicted + more <= max_drop:
                value = saved / max(more, 1e-3)
                if best is None or value > best[0]:
                    best = (value, n)
        if best is None:
            break
        n = best[1]
        lower = options[options.index(alloc[n]) - 1]
        predicted += drops[n][lower] - drops[n][alloc[n]]
        alloc[n] = lower

    def config_of(a: dict[str, int]) -> CompressionConfig:
        return ref.replace(bits=options[-1], layer_bits=a)

    if progress:
        progress(steps / (steps + 4), "checking the allocation")
    measured = base_val - points(correct(config_of(alloc), x, y))
    while measured > max_drop and any(alloc[n] != options[-1] for n in names):
        n = max((n for n in names if alloc[n] != options[-1]), key=lambda n: drops[n][alloc[n]])
        alloc[n] = options[options.index(alloc[n]) + 1]
        measured = base_val - points(correct(config_of(alloc), x, y))
    if progress:
        progress((steps + 2) / (steps + 4), "measuring on the test split")
    base_test = correct(ref, x_judge, y_judge)
    final = correct(config_of(alloc), x_judge, y_judge)
    delta, (lo, hi) = measure.paired_delta(final, base_test)
    layers = []
    for n in names:
        own = correct(ref.replace(layer_bits={n: alloc[n]}), x_judge, y_judge)
        d, (dlo, dhi) = measure.paired_delta(own, base_test)
        layers.append({"name": n, "bits": alloc[n], "bytes": sizes[n][alloc[n]], "validation_drop": drops[n][alloc[n]],
                       "delta": d, "delta_lo": dlo, "delta_hi": dhi})
    if progress:
        progress(1.0, "done")
    total = other + sum(sizes[n][alloc[n]] for n in names)
    return {"config": config_of(alloc).to_dict(), "allocation": alloc, "layers": layers, "max_drop": max_drop,
            "validation_drop": measured, "predicted_drop": predicted, "bytes": total,
            "accuracy": sum(final) / max(1, len(final)), "baseline": sum(base_test) / max(1, len(base_test)),
            "delta": delta, "delta_lo": lo, "delta_hi": hi, "n_test": len(base_test),
            "within": -delta * 100 <= max_drop}
