"""The CLI: `python -m compression COMMAND`; the same numbers as the pages (`--help` lists the commands)."""
from __future__ import annotations

import argparse
import csv
import dataclasses
import errno
import json
import math
import os
import sqlite3
import sys
import tempfile
import time
import urllib.parse
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import torch

from compression import config as cfg
from compression import (  # studio
    data,
    distill,
    heap,
    history,
    measure,
    models,
    pipeline,
    report_html,
    scrub,
    sensitivity,
    source,
    sweep,
    train,
)
from compression.config import CompressionConfig, ConfigError
from compression.lm import evaluate as lm_evaluate
from compression.lm import kvcache
from compression.lm import registry as lm_registry

TEMPERATURE = (0.1, 100.0)  # softmax temperatures worth trying; Hinton et al. 2015 used 1..20
SEED_MAX = 2**31 - 1         # torch.manual_seed and NumPy both take this range
COUNT_MAX = 2**31 - 1        # a count with no bound of its own (a context length, a batch)


class Parser(argparse.ArgumentParser):
    """argparse, but a bad argument gives one line on stderr (and exit status 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # torch.ao's notice, not the user's
    torch.set_num_threads(1)  # these models are tiny: a second thread only adds contention
    heap.return_large_blocks()  # a language model's freed activations go back to the system (compression.heap)
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:  # Ctrl-C: one line, not a traceback; 130 = 128 + SIGINT
        print(f"\npython -m compression {args.command}: interrupted", file=sys.stderr)
        return 130
    except (ConfigError, ValueError) as e:
        print(f"python -m compression {args.command}: error: {e}", file=sys.stderr)
        return 2
    except (data.DataUnavailable, models.ModelError) as e:
        print(f"python -m compression {args.command}: {e}", file=sys.stderr)
        return 1
    except sqlite3.Error as e:  # a history file that can be neither read nor moved aside
        print(f"python -m compression {args.command}: history unavailable: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # e.g. --csv into a folder that does not exist
        where = f"{e.filename}: " if e.filename else ""
        print(f"python -m compression {args.command}: {where}{e.strerror or e}", file=sys.stderr)
        return 1


def cmd_models(args: argparse.Namespace) -> int:
    rows = []
    for spec in models.ZOO.values():
        row: dict[str, Any] = {"id": spec.id, "dataset": spec.dataset, "description": spec.description}
        if spec.language:  # no class accuracy: perplexity, from `evaluate --model ID`
            row.update(params=sum(p.numel() for p in models.build(spec.id).parameters()), accuracy=None,
                       note="language model: `evaluate` gives perplexity")
        elif models.checkpoint_path(spec.id).exists():
            model = models.load(spec.id)
            ds = data.load(spec.dataset, data_dir=args.data_dir)
            acc = measure.accuracy(model, ds.x_test, ds.y_test)
            row.update(params=sum(p.numel() for p in model.parameters()), accuracy=acc,
                       accuracy_ci95=list(measure.wilson_interval(acc, len(ds.y_test))))
        else:
            row.update(params=sum(p.numel() for p in models.build(spec.id).parameters()),
                       accuracy=None, note="trained on first use (needs the data set)")
        rows.append(row)
    for lm in lm_registry.MODELS.values():
        if lm.id not in models.ZOO:  # read from a package's file, not trained here
            why = lm.available()
            rows.append({"id": lm.id, "dataset": "pydoc", "description": lm.description, "params": None,
                         "accuracy": None, "note": why or f"language model: `evaluate` gives perplexity against the "
                                                          f"{lm.reference} reference"})
    for arch in source.ARCHITECTURES:
        rows.append({"id": arch, "dataset": "none", "description": f"torchvision {arch}, random init, "
                     f"input {'x'.join(map(str, source.IMAGENET_SHAPE))}",
                     "params": sum(p.numel() for p in source.build_arch(arch).parameters()),
                     "accuracy": None, "note": source.NO_WEIGHTS})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["id"]) for r in rows)  # one column, however long the ids grow
    print(f"{'id':{width}} {'dataset':8} {'params':>10}  {'test accuracy':24} description")
    for r in rows:
        acc_text = (f"{r['accuracy']:.1%} [{r['accuracy_ci95'][0]:.1%}, {r['accuracy_ci95'][1]:.1%}]"
                    if r["accuracy"] is not None else r["note"])
        params = f"{r['params']:,}" if r["params"] is not None else "-"
        print(f"{r['id']:{width}} {r['dataset']:8} {params:>10}  {acc_text:24} {r['description']}")
    return 0


def cmd_formats(args: argparse.Namespace) -> int:
    """Bits per weight including scales, and weight SQNR, of every format on one model's layers."""
    from compression import formats
    if args.shape:
        try:
            n_rows, n_cols = (int(v) for v in args.shape.lower().split("x"))
            if not (0 < n_rows <= 16384 and 0 < n_cols <= 16384):
                raise ValueError
        except ValueError:
            raise ConfigError(f"--shape {cfg._short(args.shape)!r} is not ROWSxCOLUMNS, e.g. 4096x4096 "
                              "(at most 16384 each)") from None
        ws = [torch.randn(n_rows, n_cols, generator=torch.Generator().manual_seed(0))]
    else:
        ws = formats.model_weights(source.load(source.parse(model_from_args(args))).model)
    rows = formats.table(ws)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'format':10} {'granularity':17} {'bits/weight':>11} {'weight SQNR':>11}  scales")
    for row in rows:
        print(f"{row['format']:10} {row['granularity']:17} {row['bits_per_weight']:11.3f} {row['sqnr_db']:8.1f} dB  "
              f"{row['scales']}")
    print("bits per weight = code bits + scales (and zero points) per weight, theoretical; SQNR of the "
          "weights alone (no accuracy)")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    model = model_from_args(args)
    if lm_evaluate.is_language_model(model):
        return _evaluate_language_model(args, model, config)
    language_only = (("--kv-bits", args.kv_bits, 16), ("--kv-context", args.kv_context, None),
                     ("--kv-batch", args.kv_batch, 1), ("--embedding-bits", args.embedding_bits, None),
                     ("--head-bits", args.head_bits, None))
    given = [flag for flag, value, default in language_only if value != default]
    if given:
        verb = "applies" if len(given) == 1 else "apply"
        raise ConfigError(f"{', '.join(given)} {verb} to language models only ({', '.join(lm_registry.MODELS)}), "
                          f"not to {model}")
    report = pipeline.evaluate(model, config, data_dir=args.data_dir,
                               progress=_stderr_progress if config.finetune_epochs else None)
    _record(args, report)
    if args.json:
        print(report.to_json(indent=2))
        return 0
    print(summary(report))
    return 0


def _evaluate_language_model(args: argparse.Namespace, model: str, config: CompressionConfig) -> int:
    """A zoo language model (compression.lm): perplexity, token accuracy, KL and agreement, with intervals."""
    config = lm_evaluate.with_bits_apart(config, lm_registry.lookup(model).skeleton(), args.embedding_bits, args.head_bits)
    r = lm_evaluate.evaluate(model, config, kv_bits=args.kv_bits, kv_context=args.kv_context, kv_batch=args.kv_batch,
                             progress=_stderr_progress)
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    lo, hi = r["perplexity_ci95"]
    dlo, dhi = r["perplexity_delta_ci95"]
    alo, ahi = r["token_accuracy_ci95"]
    bpw = r["bits_per_weight"]
    print(f"{model}  {' '.join(f'{k}={v}' for k, v in cfg.to_query(config).items()) or 'float32'}")
    print(f"reference       {r['reference']}")
    if r["contained"]:
        print(f"note            this format {r['contained']}")
    print(f"perplexity      {r['perplexity']:.3f} [{lo:.3f}, {hi:.3f}]  reference {r['perplexity_baseline']:.3f}, "
          f"change {r['perplexity'] - r['perplexity_baseline']:+.3f} [{dlo:+.3f}, {dhi:+.3f}] (paired)")
    print(f"token accuracy  {r['token_accuracy']:.1%} [{alo:.1%}, {ahi:.1%}]  reference {r['token_accuracy_baseline']:.1%}")
    print(f"KL(ref||this)   {r['kl_divergence']:.4f} nats/token, top-1 agreement {r['top1_agreement']:.1%}")
    print(f"size            {r['size_bytes']['compressed']:,.0f} B (file {r['size_bytes']['file']:,} B, "
          f"fp32 {r['size_bytes']['fp32']:,.0f} B), " + (f"{bpw:.2f} bits/weight" if bpw else "float weights"))
    print(f"MACs per token  {r['macs_per_token_effective']:,} nonzero of {r['macs_per_token']:,}")
    kv, e = r["kv_cache"], r["energy_per_token"]
    print(f"KV cache        {kv['bytes']:,.0f} B at {kv['bits']} bits, context {kv['context']:,}, batch {kv['batch']} "
          f"(float16 {kv['bytes_fp16']:,.0f} B)")
    print(f"energy / token  {e['pj'] / 1e6:,.1f} µJ ({e['kind']}: {'; '.join(e['assumptions'][1:])})")
    print(f"sample          {r['sample_prompt']!r} -> {r['sample']!r}")
    print(f"reference       {r['sample_prompt']!r} -> {r['sample_baseline']!r}")
    for note in r["notes"]:
        print(f"note: {note}")
    return 0


def _history(args: argparse.Namespace) -> history.History:
    """The user's history; a corrupt file is moved aside and said so in one line on stderr."""
    return history.History(on_recover=lambda message: print(f"python -m compression {args.command}: {message}",
                                                            file=sys.stderr))


def _record(args: argparse.Namespace, report: pipeline.Report) -> None:
    """Save an evaluated scenario to the history, as the pages do (`history` lists it); a history
    that cannot be written costs only the record, never the numbers."""
    try:
        _history(args).put(report)
    except (OSError, sqlite3.Error) as e:
        print(f"python -m compression {args.command}: not saved to the history: {e}", file=sys.stderr)


def cmd_export(args: argparse.Namespace) -> int:
    """Write the compressed model's file (--file) and/or its ONNX export (--onnx): the bytes the page's downloads serve."""
    if not args.file and not args.onnx:
        raise ValueError("export needs --file OUT (the compressed model file) or --onnx OUT.onnx, or both")
    config = config_from_args(args)
    model = model_from_args(args)
    outputs = []
    if args.file:
        outputs.append((args.file, pipeline.file_bytes(model, config, data_dir=args.data_dir), "compressed model file"))
    if args.onnx:
        blob, kind = pipeline.onnx_bytes(model, config, data_dir=args.data_dir)
        outputs.append((args.onnx, blob, f"ONNX ({kind})"))
    for path, blob, what in outputs:
        tmp = _temp_beside(path)
        try:
            Path(tmp).write_bytes(blob)
            os.replace(tmp, path)  # atomic: an existing file is replaced only by a complete one
        finally:
            Path(tmp).unlink(missing_ok=True)
        print(f"wrote {path}: {what}, {len(blob):,} bytes", file=sys.stderr)
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    grid = {"sparsity": _list(args.sparsity, float, "--sparsity"), "bits": _list(args.bits, int, "--bits")}
    for item in args.grid or []:
        field, _, values = item.partition("=")
        if field.replace("-", "_") not in cfg.FIELDS or not values:
            raise ConfigError(f"argument --grid: {cfg._short(item)!r} is not FIELD=V1,V2 with FIELD one of "
                              f"{', '.join(f for f in cfg.FIELDS if f not in grid)}")
        field = field.replace("-", "_")
        grid[field] = [cfg.parse_value(field, v) for v in values.split(",") if v.strip()]
    base = config_from_args(args, skip=tuple(grid))
    sweep.grid_configs(grid, base)  # validate every value before the long run starts
    tmp = _temp_beside(args.csv) if args.csv else None  # fail before the long run, not after
    try:
        with sweep.executor_for(args.dask, args.processes) as executor:
            rows = sweep.sweep(model_from_args(args), grid, base, executor=executor, progress=_stderr_progress,
                               latency=args.latency)
        if tmp:
            def write(out: TextIO) -> None:
                writer = csv.DictWriter(out, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
            _write_atomic(tmp, args.csv, write, newline="")
            tmp = None
    finally:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
    if args.csv:
        print(f"wrote {len(rows)} rows to {args.csv}", file=sys.stderr)
    extra = [f for f in grid if f not in ("sparsity", "bits")]
    print(f"{'sparsity':>8} {'bits':>4} " + "".join(f"{f:>13} " for f in extra)
          + f"{'accuracy':>9} {'size (B)':>10} {'ratio':>7} {'energy (nJ)':>11}  frontier")
    for r in rows:
        acc = f"{r['accuracy']:>9.1%}" if r["accuracy"] is not None else f"{'n/a':>9}"
        print(f"{r['sparsity']:>8.0%} {r['bits']:>4} " + "".join(f"{str(r[f]):>13} " for f in extra)
              + f"{acc} {r['size_bytes']:>10,.0f} {r['compression_ratio']:>6.1f}x "
              f"{r['energy_pj'] / 1e3:>11.2f}  {'*' if r['on_frontier'] else ''}")
    return 0


def cmd_distill(args: argparse.Namespace) -> int:
    if models.spec(args.teacher).language:
        return _distill_language(args)
    args.student = args.student or "mlp-small-digits"
    args.epochs = args.epochs or 30
    teacher, student = models.spec(args.teacher), models.spec(args.student)
    if teacher.dataset != student.dataset:
        raise ValueError(f"--teacher {args.teacher} ({teacher.dataset}) and --student "
                         f"{args.student} ({student.dataset}) must share a data set")
    ds = data.load(teacher.dataset, data_dir=args.data_dir)
    result = distill.distill(models.load(args.teacher, data_dir=args.data_dir),
                             models.build(args.student, seed=args.seed), ds, args.temperature,
                             args.alpha, args.epochs, seed=args.seed, progress=_stderr_progress)
    out = {"teacher": args.teacher, "student": args.student, "temperature": args.temperature,
           "alpha": args.alpha, "epochs": args.epochs, **result.to_dict()}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    ci = out["accuracy_ci95"], out["accuracy_hard_labels_ci95"]
    print(f"teacher {args.teacher}: {result.accuracy_teacher:.1%}")
    print(f"student {args.student}, distilled at T={args.temperature:g}, alpha={args.alpha:g}: "
          f"{result.accuracy:.1%} [{ci[0][0]:.1%}, {ci[0][1]:.1%}]")
    print(f"student {args.student}, hard labels only: "
          f"{result.accuracy_baseline:.1%} [{ci[1][0]:.1%}, {ci[1][1]:.1%}]")
    return 0


def _distill_language(args: argparse.Namespace) -> int:
    from compression.lm import distill as lm_distill  # deferred: only a language teacher reads the corpus
    if args.student is not None or args.epochs is not None:
        raise ValueError(f"--teacher {args.teacher} distils into its own smaller tiny GPT, counted in steps: "
                         "--student and --epochs do not apply (use --steps)")
    out = lm_distill.distill(args.temperature, args.alpha, args.steps or lm_distill.STEPS, seed=args.seed,
                             teacher_id=args.teacher, progress=_stderr_progress)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    lo, hi = out["perplexity_delta_ci95"]
    print(f"teacher {args.teacher} ({out['teacher_params']:,} parameters): validation perplexity "
          f"{out['perplexity_teacher']:.3f}")
    for key, label in (("", f"distilled at T={args.temperature:g}, alpha={args.alpha:g}"), ("_hard_labels", "hard labels only")):
        ci = out[f"perplexity{key}_ci95"]
        print(f"student ({out['student_params']:,} parameters, {out['steps']} steps), {label}: "
              f"{out['perplexity' + key]:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]")
    print(f"distilled minus hard labels: {out['perplexity'] - out['perplexity_hard_labels']:+.3f} "
          f"[{lo:+.3f}, {hi:+.3f}] (paired 95 %, {out['tokens']:,} validation tokens)")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    model = train.train_zoo_model(args.model, models.checkpoint_path(args.model), data_dir=args.data_dir,
                                  progress=_stderr_progress)
    if models.spec(args.model).language:
        from compression.lm import metrics, text  # deferred: only a language model reads the corpus
        nll = metrics.score(model, text.chunks("test", lm_registry.lookup(args.model).context)).nll
        lo, hi = metrics.perplexity_ci(nll)
        print(f"{args.model}: test perplexity {metrics.perplexity(nll):.3f} [{lo:.3f}, {hi:.3f}] "
              f"({nll.numel():,} tokens), saved to {models.checkpoint_path(args.model)}")
        return 0
    ds = data.load(models.spec(args.model).dataset, data_dir=args.data_dir)
    print(f"{args.model}: test accuracy {measure.accuracy(model, ds.x_test, ds.y_test):.1%}, "
          f"saved to {models.checkpoint_path(args.model)}")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    """A published result beside ours: Deep Compression's LeNets, or seed 002's ResNet-18 case."""
    if args.study == "fashion-case":
        from compression import casestudy  # deferred: fine-tunes and times resnet-fashion

        case = casestudy.reproduce_fashion_case(progress=_stderr_progress)
        print(json.dumps(case, indent=2) if args.json else casestudy.format_fashion_case(case))
        return 0
    if args.study == "resnet18-case":
        from compression import casestudy  # deferred: builds and times three ResNet-18s

        case = casestudy.reproduce_resnet18_case()
        print(json.dumps(case, indent=2) if args.json else casestudy.format_case(case))
        return 0
    from compression import reproduce  # deferred: only this command needs it

    result = reproduce.deep_compression(args.model, progress=_stderr_progress)
    print(json.dumps(result, indent=2) if args.json else reproduce.format_table(result))
    return 0


# --- studio: history, sensitivity, report ---------------------------------------------------
def cmd_history(args: argparse.Namespace) -> int:
    entries = _history(args).list()
    if args.json:
        print(json.dumps(entries, indent=2))
        return 0
    if not entries:
        print(f"no saved scenarios yet in {history.default_path()}")
    for e in entries:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(e["created"]))
        acc = f"{e['accuracy']:.1%}" if e["accuracy"] is not None else "n/a"
        config = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in cfg.to_query(
            CompressionConfig(**e["config"])).items()) or "(baseline)"
        print(f"{when}  {e['model']:16} {acc:>6} {e['size_bytes']:>10,.0f} B  {config}"
              + ("" if e["current"] else "  (older code)"))
    return 0


def cmd_sensitivity(args: argparse.Namespace) -> int:
    sparsities = _list(args.sparsity, float, "--sparsity") if args.sparsity.strip() else []
    bits = _list(args.bits, int, "--bits") if args.bits.strip() else []
    base = config_from_args(args, skip=("sparsity", "bits"))
    for s in sparsities:
        base.replace(sparsity=s)  # validate every value before the long run starts
    for b in bits:
        base.replace(bits=b)
    model = model_from_args(args)
    if base.max_drop > 0:  # mixed precision from an accuracy target instead of the curves
        return _within_drop(args, model, base, bits)

    def compute() -> dict[str, Any]:
        with sweep.executor_for(args.dask, args.processes) as executor:
            return sensitivity.sensitivity(model, base, sparsities, bits, executor=executor,
                                           progress=_stderr_progress, data_dir=args.data_dir)
    params = {"config": history.config_key(sensitivity.reference_config(base)),
              "sparsity": sparsities, "bits": bits}
    result = _history(args).cached("sensitivity", model, params, compute)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{model}: baseline accuracy {result['baseline']:.1%} ({result['n_test']} test images); "
          "each layer compressed alone, the others untouched")
    width = max([12, *(len(n) + 1 for n in result["layers"])])  # an upload's layer names can be long
    for kind, label in (("sparsity", lambda v: f"{v:.0%}"), ("bits", lambda v: f"{v}b")):
        if result[kind]["values"]:
            print(f"\naccuracy vs {kind}\n{'layer':{width}}" + "".join(f"{label(v):>7}" for v in result[kind]["values"]))
            for name, accs in result[kind]["accuracy"].items():
                print(f"{name:{width}}" + "".join(f"{a:>7.1%}" for a in accs))
    return 0


def _within_drop(args: argparse.Namespace, model: Any, base: CompressionConfig, bits: list[int]) -> int:
    """`sensitivity --max-drop X`: bits per layer for the smallest model within X points of drop."""
    options = [b for b in bits if 2 <= b <= 16] or list(sensitivity.ALLOCATION_BITS)
    r = sensitivity.within_drop(model, base.max_drop, base.replace(max_drop=0.0), bits=options,
                                progress=_stderr_progress, data_dir=args.data_dir)
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"{model}: at most {r['max_drop']:g} points of drop -> {r['bytes']:,.0f} bytes; chosen on the even test "
          f"images, judged on the odd ones ({r['n_test']})")
    print(f"{'layer':14}{'bits':>5}{'bytes':>10}  drop alone (95 % paired)")
    for row in r["layers"]:
        print(f"{row['name']:14}{row['bits']:>5}{row['bytes']:>10,.0f}  {row['delta'] * 100:+.1f} pts "
              f"[{row['delta_lo'] * 100:+.1f}, {row['delta_hi'] * 100:+.1f}]")
    print(f"whole model: {r['accuracy']:.1%} vs {r['baseline']:.1%}, {r['delta'] * 100:+.1f} pts "
          f"[{r['delta_lo'] * 100:+.1f}, {r['delta_hi'] * 100:+.1f}]"
          + ("" if r["within"] else f" -- beyond the {r['max_drop']:g}-point target on the judging images"))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    tmp = _temp_beside(args.html)  # fail before the work; an existing report stays whole until the new one is
    try:
        report = pipeline.evaluate(args.model, config, data_dir=args.data_dir,
                                   progress=_stderr_progress if config.trains else None)
        link = args.app_url + "?" + urllib.parse.urlencode({"model": args.model, **cfg.to_query(config)})
        # the accuracy curves Explore draws beside the cards (one-shot where the page's are)
        curves = (report_html.accuracy_curves(args.model, config, data_dir=args.data_dir)
                  if report.accuracy is not None else {})
        views = report_html.layer_views(args.model, config, data_dir=args.data_dir) if report.accuracy is not None else None
        formats = report_html.format_views(args.model, config.group_size)
        grid = (scrub.kept_grid(args.model, config, _history(args), data_dir=args.data_dir)
                if report.accuracy is not None and not args.no_scrub else None)
        _write_atomic(tmp, args.html, lambda out: _write_text(out, report_html.to_html(report, link, curves, views,
                                                                                        formats, grid)))
    finally:
        Path(tmp).unlink(missing_ok=True)
    print(f"wrote {args.html}", file=sys.stderr)
    return 0
# --- end studio ------------------------------------------------------------------------------


def model_from_args(args: argparse.Namespace) -> str:
    """The model word: --model, or --model-file [--arch] [--data] stored as an upload (checked once).

    --data with a zoo --model (no --model-file) scores the zoo checkpoint on the user's data:
    the checkpoint is stored as an upload of that architecture, so every command and page
    sees the same upload:<model>.<data> word a page upload gives.
    """
    model_file, arch, data_file = (getattr(args, k, None) for k in ("model_file", "arch", "data"))
    options = {"resize": "1" if getattr(args, "resize", False) else "",
               "normalize": getattr(args, "normalize", None) or ""}
    if any(options.values()) and data_file is None:
        raise ValueError("--resize and --normalize go with --data (an image folder)")
    if model_file is None and arch:
        raise ValueError("--arch and --data go with --model-file PATH")
    if model_file is None and data_file is None:
        return args.model
    if model_file is None:
        if args.model not in models.ZOO:
            raise ValueError("--data goes with a zoo --model or with --model-file PATH")
        model_file, arch = models.ensure(args.model, data_dir=args.data_dir), args.model
    word = source.upload(model_file, arch=arch, data_file=data_file, data_options=options)
    if data_file is not None and not str(data_file).lower().endswith(".npz"):  # an image folder: what was read
        ds = source.load(word).dataset
        print(f"data: {ds.source if ds else 'none'}", file=sys.stderr)
    return str(word)


def config_from_args(args: argparse.Namespace, skip: tuple[str, ...] = ()) -> CompressionConfig:
    """The preset (if any, in its variant for the model's data set), then every flag given on top."""
    model_id = None if getattr(args, "model_file", None) else getattr(args, "model", None)
    dataset = models.ZOO[model_id].dataset if model_id in models.ZOO else None
    config = cfg.preset(args.preset, dataset) if args.preset else CompressionConfig()
    given = {f: getattr(args, f) for f in cfg.FIELDS
             if f not in skip and getattr(args, f, None) is not None}
    # a number format named without --bits runs at its own width (--quantizer mxfp4 is MXFP4)
    return cfg.with_format_bits(config.replace(**given), "bits" in given)


def _methods(r: pipeline.Report) -> str:
    """The quantization method of the quantized layers ('MXFP4, per-group g=32'), or 'per-layer settings'."""
    methods = {layer.method for layer in r.layers if layer.bits_per_weight is not None}
    return methods.pop() if len(methods) == 1 else "per-layer settings"


def _head_lines(r: pipeline.Report) -> list[str]:
    """Structure 'heads': how many heads went and each layer's scores, removed ones marked with *."""
    h = r.heads
    if not h:
        return []
    n_removed = sum(sum(row) for row in h["removed"])
    n_heads = sum(len(row) for row in h["removed"])
    by = (f"I_h = E|dL/dxi_h| on {h['n_images']} training images" if h["criterion"] == "importance"
          else "random scores (baseline)")
    if h.get("steps", 1) > 1:
        by += f", {h['steps']} rounds, rescored with the removed heads gated off"
    lines = [f"heads      {n_removed} of {n_heads} attention heads removed ({h['scope']}; {by})"]
    for name, raw, gone in zip(h["layers"], h["raw"], h["removed"]):
        lines.append(f"  {name}: " + "  ".join(f"{v:.4f}{'*' if g else ' '}" for v, g in zip(raw, gone)))
    return lines


def summary(r: pipeline.Report) -> str:
    """A human-readable report: the headline numbers, each with its kind."""
    f, a = r.energy_factors, r.energy_assumptions
    lines = [f"model {r.model} on {r.dataset} ({r.n_test} test images)" if r.n_test
             else f"model {r.model} (no test data)"]
    if r.accuracy is None or r.accuracy_ci95 is None or r.accuracy_delta is None or r.accuracy_delta_ci95 is None:
        lines.append(f"accuracy   {r.accuracy_note}")
    else:
        (lo, hi), (dlo, dhi) = r.accuracy_ci95, r.accuracy_delta_ci95
        lines += [
            f"accuracy   {r.accuracy:.1%} [95% CI {lo:.1%}, {hi:.1%}] ({r.kinds['accuracy']}), "
            f"uncompressed {r.accuracy_baseline:.1%}",
            f"change     {r.accuracy_delta * 100:+.1f} pts (paired 95% CI {dlo * 100:+.1f} to {dhi * 100:+.1f}): "
            f"{measure.noise_verdict(r.accuracy_delta, r.accuracy_delta_ci95)}"]
    lines += [
        f"sparsity   {r.sparsity:.1%} of {'attention-projection' if r.heads else 'prunable'} weights pruned; "
        f"{r.zeros_from_rounding:.1%} of the kept weights rounded to zero; {r.params_nonzero:,} of {r.params_total:,} parameters non-zero",
        *([f"sliced     {r.params_sliced:,} of {r.params_total:,} parameters left once the pruned "
           f"{'heads' if r.heads else 'rows'} are cut out (measured on the smaller model)"]
          if r.params_sliced is not None else []),
        *_head_lines(r),
        f"size       fp32 {r.size_bytes['fp32']:,.0f} B -> compressed {r.size_bytes['compressed']:,.0f} B "
        f"({r.compression_ratio:.1f}x, theoretical); file {r.size_bytes['file']:,.0f} B (measured)",
        *([f"format     {_methods(r)}: {r.bits_per_weight:.3f} bits per weight including scales (theoretical)"]
          if r.bits_per_weight is not None else []),
        f"energy     {r.energy_pj['total'] / 1e3:,.1f} nJ vs {r.energy_baseline_pj['total'] / 1e3:,.1f} nJ "
        f"uncompressed (estimate, {r.energy_profile}): {f['compute']:.2f}x compute * {f['memory']:.2f}x "
        f"memory * {f['placement']:.2f}x placement",
        f"           assumes {a['sram_bytes'] / 1024:g} KB on chip at {a['sram_pj_per_32bit']:.1f} pJ per 32-bit "
        f"word, DRAM {a['dram_pj_per_32bit']:.0f} pJ; weights in {a['weights_in'].upper()} "
        f"(uncompressed: {a['baseline_weights_in'].upper()})",
    ]
    lat = r.latency_ms
    if lat["fp32"] is not None:
        verdict = measure.speed_verdict(lat["fp32"], lat["compressed"], lat["fp32_iqr"], lat["compressed_iqr"])
        lines.append(f"latency    {lat['compressed']:.3f} ms (IQR {lat['compressed_iqr']:.3f}) vs {lat['fp32']:.3f} ms "
                     f"(IQR {lat['fp32_iqr']:.3f}) fp32: {verdict} (measured, batch 1, one thread; {r.latency_path})")
    lines += [f"layer {layer.name}: {layer.format}, {layer.nonzero:,}/{layer.params:,} non-zero, "
              f"SQNR {layer.sqnr_db:.1f} dB" if layer.sqnr_db is not None and layer.sqnr_db != float("inf")
              else f"layer {layer.name}: {layer.format}, {layer.nonzero:,}/{layer.params:,} non-zero"
              for layer in r.layers]
    return "\n".join(lines + [f"note: {n}" for n in r.notes])


def build_parser() -> Parser:
    parser = Parser(prog="python -m compression",
                    description="Compression Lab: prune, quantize and distill real PyTorch models, "
                                "and measure what it costs and buys.")
    parser.add_argument("--data-dir", help="folder with MNIST/CIFAR files (default: "
                        "$COMPRESSION_LAB_DATA or ~/.cache/compression-lab/data)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    p = sub.add_parser("models", help="list the model zoo with measured test accuracy")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=cmd_models)

    p = sub.add_parser("formats", help="bits per weight including scales of every number format on a model")
    _model_arg(p, archs=True)
    _upload_args(p)
    p.add_argument("--shape", metavar="ROWSxCOLS", help="one random normal weight of this shape instead of "
                   "a model's layers (e.g. 4096x4096: the hand arithmetic, no partial groups)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=cmd_formats)

    p = sub.add_parser("evaluate", help="compress one model by one config and measure it")
    _model_arg(p, archs=True, languages=True)
    _upload_args(p)
    _config_args(p)
    p.add_argument("--json", action="store_true", help="print the full report as one JSON object")
    p.add_argument("--kv-bits", type=int, default=16, choices=kvcache.BITS,
                   help="language models: the KV cache's bits while scoring (16 = float16; 8, 4 = groups of 32 "
                        "with a float16 scale)")
    p.add_argument("--kv-context", type=_number_in(int, 1, COUNT_MAX), default=None, metavar="TOKENS",
                   help="language models: the context length the KV-cache memory is given at (default: the "
                        "model's longest, up to 2,048)")
    p.add_argument("--kv-batch", type=_number_in(int, 1, COUNT_MAX), default=1, metavar="N",
                   help="language models: the batch the KV-cache memory is given at")
    p.add_argument("--embedding-bits", type=int, default=None, choices=cfg.BITS, metavar="B",
                   help="language models: the embedding tables' bits (default: 8 while the body is below 8 "
                        "bits, else the body's)")
    p.add_argument("--head-bits", type=int, default=None, choices=cfg.BITS, metavar="B",
                   help="language models: the LM head's bits (default: 8 while the body is below 8 bits, "
                        "else the body's)")
    p.set_defaults(run=cmd_evaluate)

    p = sub.add_parser("export", help="write the compressed model file and/or its ONNX export "
                       "(the bytes the page's downloads serve)")
    _model_arg(p, archs=True)
    p.add_argument("--model-file", metavar="PATH", help="your model instead of --model (as for evaluate)")
    p.add_argument("--arch", metavar="ID", help="the architecture a state dict belongs to (as for evaluate)")
    p.add_argument("--data", metavar="PATH.npz|DIR", help="test data (calibrates int8; as for evaluate)")
    _image_args(p)
    _config_args(p)
    p.add_argument("--file", metavar="OUT", help="write the compressed model file (Huffman-coded with --huffman)")
    p.add_argument("--onnx", metavar="OUT.onnx", help="write the ONNX model ONNX Runtime times "
                   "(int8 at 8 bits or fewer, else fp32)")
    p.set_defaults(run=cmd_export)

    p = sub.add_parser("sweep", help="evaluate every sparsity x bit-width pair")
    _model_arg(p, archs=True)
    _upload_args(p)
    _config_args(p, skip=("sparsity", "bits"))
    p.add_argument("--sparsity", default="0,0.5,0.9", help="comma-separated fractions, e.g. 0,0.5,0.9")
    p.add_argument("--bits", default="2,4,8,32", help="comma-separated bit-widths, e.g. 2,4,8")
    p.add_argument("--csv", help="also write the rows to this CSV file")
    p.add_argument("--dask", metavar="ADDRESS", help="run on this Dask scheduler, e.g. tcp://host:8786 "
                   f"(default: ${sweep.DASK_ENV} if set)")
    p.add_argument("--processes", type=_number_in(int, 0, 64), default=0,
                   help="run in a local pool of this many processes (default 0: in this process)")
    p.add_argument("--grid", action="append", metavar="FIELD=V1,V2",
                   help="sweep another setting too, e.g. --grid quantizer=uniform,kmeans (repeatable)")
    p.add_argument("--latency", action="store_true", help="also measure latency per config (slower)")
    p.set_defaults(run=cmd_sweep)

    p = sub.add_parser("distill", help="train a student from a teacher's soft targets, "
                       "beside the same student on hard labels")
    p.add_argument("--teacher", default="mlp-digits", choices=list(models.ZOO), metavar="ID",
                   help="teacher model id (default mlp-digits)")
    p.add_argument("--student", default=None, choices=list(models.ZOO), metavar="ID",
                   help="student architecture id, trained from scratch (default mlp-small-digits; a language "
                        "teacher has its own student)")
    p.add_argument("--temperature", type=_number_in(float, *TEMPERATURE), default=4.0,
                   help=f"softmax temperature T, {TEMPERATURE[0]:g}..{TEMPERATURE[1]:g} (default 4)")
    p.add_argument("--alpha", type=_number_in(float, 0.0, 1.0), default=0.7,
                   help="weight of the soft-target loss, 0..1 (default 0.7)")
    p.add_argument("--epochs", type=_number_in(int, 1, 200), default=None, help="training epochs (default 30)")
    p.add_argument("--steps", type=_number_in(int, 1, 5000), default=None,
                   help="optimizer steps per student for a language teacher (default 200)")
    p.add_argument("--seed", type=_number_in(int, 0, SEED_MAX), default=0,
                   help=f"random seed, 0..{SEED_MAX} (default 0)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_distill)

    p = sub.add_parser("train", help="rebuild a zoo checkpoint from its fixed seed (deterministic)")
    _model_arg(p, default=None)
    p.set_defaults(run=cmd_train)

    p = sub.add_parser("reproduce", help="run a published compression result and print ours beside the paper's")
    p.add_argument("study", choices=["deep-compression", "resnet18-case", "fashion-case"],
                   help="deep-compression (Han et al. 2016, Table 1), resnet18-case (seed 002: sizes and "
                        "measured latency of ResNet-18, 50 %% channels, int8) or fashion-case (the same on the "
                        "trained resnet-fashion, with accuracy on 10,000 test images)")
    p.add_argument("--model", default="lenet300-mnist", choices=["lenet300-mnist", "lenet5-mnist"],
                   metavar="ID", help="for deep-compression: lenet300-mnist (default) or lenet5-mnist")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_reproduce)
    # studio: history, sensitivity, report
    p = sub.add_parser("history", help="list the saved scenarios (newest first)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_history)

    p = sub.add_parser("sensitivity", help="accuracy of each layer compressed alone, at each sparsity "
                       "and each bit-width")
    _model_arg(p)
    _upload_args(p, needs_data=True)
    _config_args(p, skip=("sparsity", "bits"))
    p.add_argument("--sparsity", default=",".join(f"{v:g}" for v in sensitivity.SPARSITIES),
                   help="comma-separated fractions (empty: skip)")
    p.add_argument("--bits", default=",".join(str(v) for v in sensitivity.BITS),
                   help="comma-separated bit-widths (empty: skip)")
    p.add_argument("--dask", metavar="ADDRESS", help=f"run on this Dask scheduler (default: ${sweep.DASK_ENV})")
    p.add_argument("--processes", type=_number_in(int, 0, 64), default=0,
                   help="run in a local pool of this many processes (default 0: in this process)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_sensitivity)

    p = sub.add_parser("report", help="write one self-contained HTML report (readable offline)")
    _model_arg(p)
    _config_args(p)
    p.add_argument("--html", required=True, metavar="PATH", help="the HTML file to write")
    p.add_argument("--app-url", default="http://localhost:8501/",
                   help="where the dashboard runs, for the link that reopens the scenario")
    p.add_argument("--no-scrub", action="store_true",
                   help="leave out the live scrubber (its grid evaluates every sparsity × bit-width point once, "
                        "kept in the history)")
    p.set_defaults(run=cmd_report)
    return parser


def _model_arg(p: argparse.ArgumentParser, default: str | None = models.DEFAULT_MODEL, archs: bool = False,
               languages: bool = False) -> None:
    """--model: a zoo id, or (archs) also a torchvision architecture without trained weights, or
    (languages) a language model that is not in the zoo (SmolLM2, read from its GGUF file)."""
    known = [*models.ZOO, *(m for m in lm_registry.MODELS if languages and m not in models.ZOO),
             *(source.ARCHITECTURES if archs else ())]
    p.add_argument("--model", default=default, required=default is None, choices=known,
                   metavar="ID", help=f"one of {', '.join(known)}"
                   + (f" (default {default})" if default else ""))


def _upload_args(p: argparse.ArgumentParser, needs_data: bool = False) -> None:
    """--model-file, --arch, --data: the engineer's own model instead of --model (as evaluate takes them)."""
    p.add_argument("--model-file", metavar="PATH", help="your model instead of --model: a torch.export "
                   "program (.pt2) or a state dict (.pt/.pth/.safetensors, with --arch)")
    p.add_argument("--arch", metavar="ID", help="the architecture a state dict belongs to: a zoo id or "
                   f"one of {', '.join(source.ARCHITECTURES)}")
    p.add_argument("--data", metavar="PATH.npz|DIR", help="test data for --model-file or a zoo --model: an .npz "
                   "with x (float inputs) and y (integer labels), or an image folder (DIR or DIR.zip, one "
                   "folder of PNG/JPEG per class, class index = sorted folder position, pixels / 255); "
                   + ("needed here (every curve is an accuracy)" if needs_data
                      else "without it a --model-file has accuracy n/a"))
    _image_args(p)


def _image_args(p: argparse.ArgumentParser) -> None:
    """--resize, --normalize: how an image-folder --data is read."""
    p.add_argument("--resize", action="store_true", help="resize the images of an image-folder --data to the "
                   "model's input height x width (bilinear, as torchvision's Resize)")
    p.add_argument("--normalize", metavar="MEAN,STD", help="after pixels / 255, (x - MEAN) / STD for every "
                   "channel of an image-folder --data (e.g. 0.5,0.5)")


HELP = {
    "sparsity": "fraction of prunable weights set to zero, in [0, 1)",
    "bits": f"weight bits, one of {cfg.BITS} (32 = float)",
    "act_bits": "activation bits (32 = float)",
    "scheme": "uniform quantizer grid",
    "per_channel": "one scale per output channel (the old word for --granularity channel)",
    "granularity": "which weights share a scale: the tensor, each output channel, or groups of --group-size",
    "group_size": f"weights per group along the input, one of {cfg.GROUP_SIZES} (with --granularity group)",
    "quantizer": "uniform grid, k-means, powers of two, ternary, or a number format (NF4, FP8, FP4, MXFP4, NVFP4)",
    "structure": "what is pruned together",
    "scope": "rank weights across the model or within each layer",
    "criterion": "which weights are pruned first",
    "prune_steps": "gradual pruning in this many steps, 1..10 (1 = one shot)",
    "finetune_epochs": "fine-tuning epochs after each pruning step, 0..50 (0 = none)",
    "profile": "energy model profile",
    "skip_zeros": "hardware skips zero weights (EIE-style)",
    "seed": "random seed, 0..2147483647",
    "qat": "fine-tune under fake quantization (straight-through estimator)",
    "regularize": "sparsity penalty while fine-tuning",
    "reg_strength": f"weight of the penalty, 0..{cfg.REG_STRENGTH_MAX:g}",
    "order": "prune then quantize, alternate them, or both at once",
    "huffman": "Huffman-code weight codes and index gaps (Deep Compression stage 3)",
    "sram_kb": f"on-chip memory in KB for the energy model, {cfg.SRAM_KB_RANGE[0]:g}..{cfg.SRAM_KB_RANGE[1]:g}",
    "layer_bits": "per-layer weight bits, e.g. fc1=8,fc2=4",
    "layer_sparsity": "per-layer sparsity, e.g. fc1=0.5,fc3=0",
    "method": "how weights are rounded: rtn (nearest level), gptq or awq (calibrated on training images)",
    "smooth_alpha": "SmoothQuant migration strength for W8A8, 0 (off)..1",
    "max_drop": f"mixed precision: at most this many accuracy points of drop, 0 (off)..{cfg.MAX_DROP:g}",
}
CHOICES = {"scheme": cfg.SCHEMES, "quantizer": cfg.QUANTIZERS, "granularity": cfg.GRANULARITIES, "structure": cfg.STRUCTURES,
           "scope": cfg.SCOPES, "criterion": cfg.CRITERIA, "profile": cfg.PROFILES,
           "regularize": cfg.REGULARIZERS, "order": cfg.ORDERS, "method": cfg.METHODS}
METAVAR = {"bits": "B", "act_bits": "B", "sparsity": "S", "seed": "N", "prune_steps": "N",
           "finetune_epochs": "N", "reg_strength": "X", "sram_kb": "KB", "layer_bits": "NAME=B,...",
           "layer_sparsity": "NAME=S,...", "smooth_alpha": "A", "max_drop": "POINTS"}


def _config_args(p: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """One flag per CompressionConfig field, named after it; None = not given (the preset or default holds)."""
    kinds = {f.name: f.type for f in dataclasses.fields(CompressionConfig)}
    for field in cfg.FIELDS:
        if field in skip:
            continue
        flag = "--" + field.replace("_", "-")
        if kinds[field] == "bool":
            kwargs: dict[str, Any] = {"action": "store_true", "default": None}
        elif field in CHOICES:
            kwargs = {"choices": CHOICES[field]}
        else:
            kwargs = {"type": _field_value(field), "metavar": METAVAR.get(field)}
        p.add_argument(flag, dest=field, help=HELP.get(field, field.replace("_", " ")), **kwargs)
    p.add_argument("--preset", choices=list(cfg.PRESETS), help="start from a named scenario; "
                   "flags given too override it")


def _field_value(field: str):
    """argparse type for one config field: parsed and range-checked by the config itself."""
    kind = {f.name: f.type for f in dataclasses.fields(CompressionConfig)}[field]

    def parse(text: str) -> Any:
        try:
            # Fractions on the command line are fractions: no "90 means 90 %" reading as in a URL.
            value = _float(field, text) if kind == "float" else cfg.parse_value(field, text)
            CompressionConfig().replace(**{field: value})  # the field's own range check
        except ConfigError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        return value
    parse.__name__ = field
    return parse


def _list(text: str, kind: type, flag: str) -> list[Any]:
    try:
        values = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"argument {flag}: {text!r} is not a comma-separated list of "
                          f"{kind.__name__} values") from None
    if not values:
        raise ConfigError(f"argument {flag}: give at least one value, e.g. {flag} 0,0.5,0.9")
    return values


def _number_in(kind: type, lo: float, hi: float):
    """argparse type: a finite int or float in [lo, hi]; anything else is one line (argparse names the flag)."""
    name = "an integer" if kind is int else "a number"
    bounds = f"{lo}..{hi}" if kind is int else f"{lo:g}..{hi:g}"

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"{cfg._short(text)!r} is not {name}: use {bounds}") from None
        if not (math.isfinite(value) and lo <= value <= hi):
            raise argparse.ArgumentTypeError(f"{cfg._short(text)} is out of range: use {bounds}")
        return value
    parse.__name__ = kind.__name__
    return parse


def _float(field: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{field}={cfg._short(text)!r} is not a number") from None


def _temp_beside(path: str) -> str:
    """An empty temporary file in the target's folder (so the final rename is atomic).

    Called before the long work starts, so an output that cannot be written fails first, in
    one sentence naming the user's path (not the temporary file's).
    """
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file to write", path)
    if target.exists() and not os.access(target, os.W_OK):
        raise PermissionError(errno.EACCES, "cannot be overwritten (permission denied)", path)
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + target.name + ".", suffix=".tmp", dir=target.parent)
    except OSError as e:
        raise type(e)(e.errno, f"cannot be written ({e.strerror or e})", path) from None
    os.close(fd)
    return tmp


def _write_text(out: TextIO, text: str) -> None:
    out.write(text)


def _write_atomic(tmp: str, path: str, write: Callable[[TextIO], None], newline: str | None = None) -> None:
    """Fill the temporary file, then rename it over `path`: an existing file is only ever
    replaced by a finished one (an error or Ctrl-C before the rename leaves it as it was)."""
    with open(tmp, "w", encoding="utf-8", newline=newline) as out:
        write(out)
    # mkstemp's file is private (0600); the result gets the old file's mode, else the usual 0644
    os.chmod(tmp, os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o644)
    os.replace(tmp, path)


def _stderr_progress(fraction: float, message: str) -> None:
    """A one-line progress bar on a terminal; silent when stderr is a file or pipe."""
    if sys.stderr.isatty():
        end = "\n" if fraction >= 1 else ""
        print(f"\r[{fraction:4.0%}] {message:60}", end=end, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
