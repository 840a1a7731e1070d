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
    n_train: int = 0                         # images the students trained on
    fraction: float = 1.0                    # of the training split, per class
    leave_out: int | None = None             # a class the students never saw labelled
    accuracy_left_out: float | None = None   # on that class's test images
    accuracy_left_out_baseline: float | None = None
    n_left_out: int = 0

    def to_dict(self) -> dict[str, object]:
        ci = measure.wilson_interval
        out: dict[str, object] = {
            "accuracy": self.accuracy, "accuracy_ci95": list(ci(self.accuracy, self.n_test)),
            "accuracy_hard_labels": self.accuracy_baseline,
            "accuracy_hard_labels_ci95": list(ci(self.accuracy_baseline, self.n_test)),
            "accuracy_teacher": self.accuracy_teacher, "n_test": self.n_test,
            "n_train": self.n_train, "fraction": self.fraction, "leave_out": self.leave_out,
            "history": self.history}
        if self.leave_out is not None and self.accuracy_left_out is not None:
            base = self.accuracy_left_out_baseline or 0.0
            out.update(accuracy_left_out=self.accuracy_left_out,
                       accuracy_left_out_ci95=list(ci(self.accuracy_left_out, self.n_left_out)),
                       accuracy_left_out_hard_labels=base,
                       accuracy_left_out_hard_labels_ci95=list(ci(base, self.n_left_out)),
                       n_left_out=self.n_left_out)
        return out


def subset_indices(y: torch.Tensor, fraction: float = 1.0, leave_out: int | None = None,
                   seed: int = 0) -> torch.Tensor:
    """Train rows for the student: `fraction` of each class (seeded, at least one), minus `leave_out`.

    Per class, so 5 % of the data still holds every digit in its proportion; sorted, so the
    batches depend only on the seed given to training.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction={fraction!r} is not allowed: use a fraction in (0, 1], e.g. 0.1")
    classes = torch.unique(y).tolist()
    if leave_out is not None and leave_out not in classes:
        raise ValueError(f"leave_out={leave_out!r} is not allowed: use one of the classes {classes}")
    gen = torch.Generator().manual_seed(seed)
    keep = []
    for c in classes:
        if c == leave_out:
            continue
        rows = torch.nonzero(y == c).flatten()
        rows = rows[torch.randperm(len(rows), generator=gen)]
        keep.append(rows[:max(1, math.ceil(fraction * len(rows)))])
    return torch.sort(torch.cat(keep)).values


def distill(teacher: nn.Module, student: nn.Module, ds: data.Dataset, temperature: float = 4.0,
            alpha: float = 0.7, epochs: int = 20, *, lr: float = 3e-3, seed: int = 0,
            fraction: float = 1.0, leave_out: int | None = None,
            progress: Progress | None = None) -> DistillResult:
    """Train `student` (in place) on the teacher's soft targets, and a copy on hard labels only.

    Both start from the same weights and see the same batches of the same images, so the
    difference between them is the effect of distillation, measured on the held-out test
    split. `fraction` trains on that share of each class; `leave_out` removes one class from
    the students' images (the teacher, trained on all, still knows it): Hinton et al. 2015
    §3 showed soft targets on the other digits teach a digit never shown.
    """
    if not (temperature > 0 and math.isfinite(temperature)):
        raise ValueError(f"temperature={temperature!r} is not allowed: use a number > 0, e.g. 4")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha={alpha!r} is not allowed: use a fraction in [0, 1], e.g. 0.7")
    rows_used = subset_indices(ds.y_train, fraction, leave_out, seed)
    x_train, y_train = ds.x_train[rows_used], ds.y_train[rows_used]
    teacher = teacher.eval()
    with torch.no_grad():
        teacher_logits = teacher(x_train)
    # fit() sees row numbers as its "labels", so the loss can look up both the true label
    # and the teacher's logits of exactly the images in the (shuffled) batch.
    rows = torch.arange(len(y_train))

    def loss(logits: torch.Tensor, _xb: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return kd_loss(logits, teacher_logits[idx], y_train[idx], temperature, alpha)

    baseline = copy.deepcopy(student)
    history: list[dict[str, float]] = [{} for _ in range(epochs)]

    def record(key: str):
        def on_epoch(epoch: int, model: nn.Module) -> None:
            history[epoch]["epoch"] = epoch + 1
            history[epoch][key] = measure.accuracy(model, ds.x_test, ds.y_test)
        return on_epoch

    half = (lambda f, m: progress(f / 2, "distilled student: " + m)) if progress else None
    train.fit(student, x_train, rows, epochs, lr=lr, seed=seed, loss_fn=loss,
              progress=half, on_epoch=record("distilled"), one_cycle=True)
    rest = (lambda f, m: progress(0.5 + f / 2, "hard-label student: " + m)) if progress else None
    train.fit(baseline, x_train, y_train, epochs, lr=lr, seed=seed, progress=rest,
              on_epoch=record("hard_labels"), one_cycle=True)
    result = DistillResult(student, baseline, history,
                           accuracy=measure.accuracy(student, ds.x_test, ds.y_test),
                           accuracy_baseline=measure.accuracy(baseline, ds.x_test, ds.y_test),
                           accuracy_teacher=measure.accuracy(teacher, ds.x_test, ds.y_test),
                           n_test=len(ds.y_test), n_train=len(rows_used), fraction=fraction,
                           leave_out=leave_out)
    if leave_out is not None:
        sel = ds.y_test == leave_out
        result.n_left_out = int(sel.sum())
        result.accuracy_left_out = measure.accuracy(student, ds.x_test[sel], ds.y_test[sel])
        result.accuracy_left_out_baseline = measure.accuracy(baseline, ds.x_test[sel], ds.y_test[sel])
    return result


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
