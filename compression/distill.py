"""Knowledge distillation (Hinton, Vinyals & Dean, 2015): a student learns the teacher's soft targets."""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from compression import data, measure, train
from compression.models import Progress


def soft_targets(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """softmax(logits / T): a higher T spreads probability onto the 'wrong' classes."""
    return F.softmax(logits / temperature, dim=-1)


def entropy_bits(probs: torch.Tensor) -> torch.Tensor:
    """Shannon entropy in bits of each probability row (how much a soft target says)."""
    return -(probs * torch.log2(probs.clamp_min(1e-12))).sum(-1)


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, targets: torch.Tensor,
            temperature: float, alpha: float) -> torch.Tensor:
    """alpha * T^2 * KL(p_teacher^T || p_student^T) + (1 - alpha) * CE(student, targets).

    The T^2 keeps the soft term's gradients the same size as T changes (Hinton et al. 2015).
    """
    t = temperature
    soft = F.kl_div(F.log_softmax(student_logits / t, dim=-1), F.log_softmax(teacher_logits / t, dim=-1),
                    reduction="batchmean", log_target=True)
    hard = F.cross_entropy(student_logits, targets)
    return alpha * t * t * soft + (1 - alpha) * hard


@dataclass
class DistillResult:
    """A distilled student beside the same student trained on hard labels alone."""
    student: nn.Module
    baseline: nn.Module                      # same init, same data, hard labels only
    history: list[dict[str, float]] = field(default_factory=list)  # per epoch: test accuracy of both
    accuracy: float = 0.0
    accuracy_baseline: float = 0.0
    accuracy_teacher: float = 0.0
    n_test: int = 0

    def to_dict(self) -> dict[str, object]:
        ci = measure.wilson_interval
        return {"accuracy": self.accuracy, "accuracy_ci95": list(ci(self.accuracy, self.n_test)),
                "accuracy_hard_labels": self.accuracy_baseline,
                "accuracy_hard_labels_ci95": list(ci(self.accuracy_baseline, self.n_test)),
                "accuracy_teacher": self.accuracy_teacher, "n_test": self.n_test,
                "history": self.history}


def distill(teacher: nn.Module, student: nn.Module, ds: data.Dataset, temperature: float = 4.0,
            alpha: float = 0.7, epochs: int = 20, *, lr: float = 3e-3, seed: int = 0,
            progress: Progress | None = None) -> DistillResult:
    """Train `student` (in place) on the teacher's soft targets, and a copy on hard labels only.

    Both start from the same weights and see the same batches, so the difference between
    them is the effect of distillation, measured on the held-out test split.
    """
    if not (temperature > 0 and math.isfinite(temperature)):
        raise ValueError(f"temperature={temperature!r} is not allowed: use a number > 0, e.g. 4")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha={alpha!r} is not allowed: use a fraction in [0, 1], e.g. 0.7")
    teacher = teacher.eval()
    with torch.no_grad():
        teacher_logits = teacher(ds.x_train)
    # fit() sees row numbers as its "labels", so the loss can look up both the true label
    # and the teacher's logits of exactly the images in the (shuffled) batch.
    rows = torch.arange(len(ds.y_train))

    def loss(logits: torch.Tensor, _xb: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return kd_loss(logits, teacher_logits[idx], ds.y_train[idx], temperature, alpha)

    baseline = copy.deepcopy(student)
    history: list[dict[str, float]] = [{} for _ in range(epochs)]

    def record(key: str):
        def on_epoch(epoch: int, model: nn.Module) -> None:
            history[epoch]["epoch"] = epoch + 1
            history[epoch][key] = measure.accuracy(model, ds.x_test, ds.y_test)
        return on_epoch

    half = (lambda f, m: progress(f / 2, "distilled student: " + m)) if progress else None
    train.fit(student, ds.x_train, rows, epochs, lr=lr, seed=seed, loss_fn=loss,
              progress=half, on_epoch=record("distilled"), one_cycle=True)
    rest = (lambda f, m: progress(0.5 + f / 2, "hard-label student: " + m)) if progress else None
    train.fit(baseline, ds.x_train, ds.y_train, epochs, lr=lr, seed=seed, progress=rest,
              on_epoch=record("hard_labels"), one_cycle=True)
    return DistillResult(student, baseline, history,
                         accuracy=measure.accuracy(student, ds.x_test, ds.y_test),
                         accuracy_baseline=measure.accuracy(baseline, ds.x_test, ds.y_test),
                         accuracy_teacher=measure.accuracy(teacher, ds.x_test, ds.y_test),
                         n_test=len(ds.y_test))



def temperature_sweep(teacher: nn.Module, student: nn.Module, ds: data.Dataset,
                      temperatures: list[float], alpha: float = 0.7, epochs: int = 20,
                      seed: int = 0, progress: Progress | None = None) -> list[dict[str, float]]:
    """Distilled student accuracy at each temperature (same init and batches every time)."""
    rows = []
    for i, t in enumerate(temperatures):
        sub = (lambda f, m, i=i, t=t: progress((i + f) / len(temperatures), f"T={t:g}: {m}")) if progress else None
        r = distill(teacher, copy.deepcopy(student), ds, t, alpha, epochs, seed=seed, progress=sub)
        lo, hi = measure.wilson_interval(r.accuracy, r.n_test)
        rows.append({"temperature": t, "accuracy": r.accuracy, "lo": lo, "hi": hi,
                     "accuracy_hard_labels": r.accuracy_baseline})
    return rows
