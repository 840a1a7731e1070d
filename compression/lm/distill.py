"""Distillation for language (issue 18): a smaller tiny GPT trained on tinygpt-pydoc's soft targets
at temperature T, token by token (Hinton et al. 2015: compression.distill.kd_loss at every
position), beside the same student, from the same initialisation on the same windows in the same
order, trained on the next bytes alone. Both are measured on the validation split, and the change
in perplexity has a paired interval: the same bootstrap resamples of validation chunks for both.
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch

from compression import train
from compression.lm import metrics, registry, text
from compression.lm.tinygpt import GPTConfig, TinyGPT, train_lm

TEACHER = "tinygpt-pydoc"
STUDENT = GPTConfig(dim=64, depth=2, heads=2, hidden=256)  # about a tenth of the teacher
STEPS = 200         # optimizer steps per student (the teacher's recipe takes 700 at twice the batch)
BATCH = 16
LR = 3e-3
WARMUP = 20
WINDOWS = 512       # fixed training windows, the teacher's soft targets computed once for each
VALIDATION_TOKENS = 8192


HISTORY_KIND = "lm-distill"


def history_params(temperature: float, alpha: float, steps: int, seed: int) -> dict[str, Any]:
    """The history key of one trained pair (besides the teacher and the code version)."""
    return {"temperature": temperature, "alpha": alpha, "steps": steps, "seed": seed}


def student(seed: int = 0) -> TinyGPT:
    """The student architecture, freshly initialised from `seed` (the same init for both runs)."""
    torch.manual_seed(seed)
    return TinyGPT(STUDENT)


def distill(temperature: float = 2.0, alpha: float = 0.5, steps: int = STEPS, seed: int = 0,
            teacher_id: str = TEACHER, progress: Callable[[float, str], None] | None = None) -> dict[str, Any]:
    """Train the distilled and the hard-label student; a plain JSON dict of their validation
    perplexities, each with its 95 % bootstrap interval, and the paired interval of the change
    (distilled minus hard labels; negative: distillation helped). progress(fraction, message)
    through both trainings; a Stop raises from it."""
    if not 0.5 <= temperature <= 20 or not 0 <= alpha <= 1 or steps < 1:
        raise ValueError("temperature must be 0.5 to 20, alpha 0 to 1 and steps at least 1")
    lm = registry.lookup(teacher_id)
    teacher = lm.load()
    context = STUDENT.context
    tokens = text.tokens("train")
    g = torch.Generator().manual_seed(seed)
    starts = torch.randint(0, len(tokens) - context - 1, (WINDOWS,), generator=g)
    windows = tokens[starts[:, None] + torch.arange(context + 1)]
    if progress is not None:
        progress(0.0, f"the teacher's soft targets on {WINDOWS} training windows")
    with torch.no_grad():
        soft = torch.cat([teacher(w[:, :-1]) for w in windows.split(64)])
    chunks = text.chunks("validation", context, max_tokens=VALIDATION_TOKENS)
    init = student(seed)  # both students start from these weights
    out: dict[str, Any] = {"teacher": teacher_id, "temperature": temperature, "alpha": alpha, "steps": steps,
                           "batch_size": BATCH, "seed": seed, "split": "validation",
                           "student_params": sum(p.numel() for p in init.parameters()),
                           "teacher_params": sum(p.numel() for p in teacher.parameters())}
    nll: dict[str, torch.Tensor] = {}
    for i, (key, kd) in enumerate((("hard_labels", False), ("distilled", True))):
        model = copy.deepcopy(init)

        def stage(f: float, message: str, i: int = i, key: str = key) -> None:
            if progress is not None:
                progress((i + f) / 2, f"{key.replace('_', ' ')} student: {message}")

        stage(0.0, "starting")
        with train.deterministic():
            train_lm(model, tokens, steps, context=context, batch_size=BATCH, lr=LR, seed=seed, warmup=WARMUP,
                     progress=stage, windows=windows, teacher_logits=soft if kd else None,
                     temperature=temperature, alpha=alpha)
        nll[key] = metrics.score(model, chunks).nll
    teacher_nll = metrics.score(teacher, chunks).nll
    for key in nll:
        suffix = "" if key == "distilled" else "_hard_labels"
        out[f"perplexity{suffix}"] = metrics.perplexity(nll[key])
        out[f"perplexity{suffix}_ci95"] = list(metrics.perplexity_ci(nll[key]))
    out["perplexity_teacher"] = metrics.perplexity(teacher_nll)
    out["perplexity_delta_ci95"] = list(metrics.perplexity_delta_ci(nll["distilled"], nll["hard_labels"]))
    out["tokens"] = int(chunks[:, 1:].numel())
    out["chunks"] = int(len(chunks))
    if progress is not None:
        progress(1.0, "done")
    return out

