"""Training and fine-tuning loops (pruning masks held), with a progress callback."""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from compression import calibration, criteria, data, isolation, prune, structures, zoo
from compression.config import Order
from compression.zoo import Progress

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]  # (logits, x, y)
FakeQuant = dict[str, Callable[[torch.Tensor], torch.Tensor]]  # mask key ("<layer>.weight") -> quantized copy
Penalty = Callable[[nn.Module], torch.Tensor]
# The fine-tuning recipe (pruning recovery, QAT, regularization, float fine-tuning before
# post-training quantization): AdamW from 1e-3, cosine-decayed to 0 over the run. A constant
# 2e-3 moved the converged LeNet-300-100 (mnist-5k) from 94.4 % to 93.5 % in 5 float epochs, and
# then QAT and post-training quantization compared a damaged model; with this recipe 5 float
# epochs give 94.6 % (paired change +0.2 points, 95 % CI -0.5 to +0.9) and 97.5 % -> 97.5 % on
# mlp-digits, while 2-bit QAT still recovers (90.9 % and 91.1 %). Measured 2026-12 on this code.
FINETUNE_LR = 1e-3


@contextlib.contextmanager
def _fake_quantized(model: nn.Module, fake_quant: FakeQuant | None) -> Iterator[None]:
    """Swap weights for their quantized values for one forward and backward, then restore them.

    The straight-through estimator (Bengio et al. 2013; as in Courbariaux et al. 2015 and
    Jacob et al. 2018): the loss sees quantized weights, and its gradient with respect to them
    updates the float shadow weights, as if rounding had derivative 1. The optimizer steps
    the float weights, so small updates accumulate until they cross a level.
    """
    if not fake_quant:
        yield
        return
    params = prune.prunable(model)  # keyed as masks are: "<layer>.weight"
    pairs = [(params[name], fn) for name, fn in fake_quant.items()]
    shadows = [p.detach().clone() for p, _ in pairs]
    with torch.no_grad():
        for p, fn in pairs:
            p.copy_(fn(p))
    try:
        yield
    finally:
        with torch.no_grad():
            for (p, _), shadow in zip(pairs, shadows):
                p.copy_(shadow)


def regularizer(kind: str, strength: float) -> Penalty | None:
    """A sparsity penalty on the prunable weights: "l1" (lambda * sum |w|) or "group-lasso" on rows.

    Group lasso (Yuan & Lin 2006; on neurons/filters, Wen et al. 2016, as Distiller applies it)
    is lambda * sum over rows of ||W_row||_2: whole rows shrink to zero together, ready for
    structure="rows" pruning. "none" or strength 0: None.
    """
    term = structures.regularizer(kind).term  # ValueError naming the known ones
    if term is None or strength <= 0:
        return None
    def penalty(model: nn.Module) -> torch.Tensor:
        return strength * sum((term(w) for w in prune.prunable(model).values()), torch.zeros(()))

    return penalty


def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, *, lr: float = 1e-3,
        batch_size: int = 32, seed: int = 0, masks: dict[str, torch.Tensor] | None = None,
        loss_fn: LossFn | None = None, progress: Progress | None = None,
        on_epoch: Callable[[int, nn.Module], None] | None = None,
        one_cycle: bool = False, cosine: bool = False, fake_quant: FakeQuant | None = None,
        penalty: Penalty | None = None) -> nn.Module:
    """Train in place with AdamW; pruned weights (mask False) stay exactly zero throughout.

    one_cycle: warm up then anneal the learning rate (training from scratch); cosine: decay it
    from `lr` to 0 with no warm-up (fine-tuning a trained model, where a warm-up would undo its
    training and a constant rate keeps shaking it); neither: a constant rate.
    fake_quant: {parameter name: quantizer} for quantization-aware training (see `_fake_quantized`).
    penalty: a regularizer of the model's weights added to the loss (see `regularizer`).
    """
    # Dropout draws from the global generator: seed it (under isolation's lock, restored after)
    # only for a model that has such a module; the rest uses no global state.
    with isolation.seeded(seed) if isolation.stochastic(model) else contextlib.nullcontext():
        return _fit(model, x, y, epochs, lr=lr, batch_size=batch_size, seed=seed, masks=masks, loss_fn=loss_fn,
                    progress=progress, on_epoch=on_epoch, one_cycle=one_cycle, cosine=cosine,
                    fake_quant=fake_quant, penalty=penalty)


def _fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, *, lr: float, batch_size: int,
         seed: int, masks: dict[str, torch.Tensor] | None, loss_fn: LossFn | None, progress: Progress | None,
         on_epoch: Callable[[int, nn.Module], None] | None, one_cycle: bool, cosine: bool,
         fake_quant: FakeQuant | None, penalty: Penalty | None) -> nn.Module:
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * -(-len(x) // batch_size)
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
    if one_cycle and steps:
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
    elif cosine and steps:
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    reapply = prune.hold_masks(model, masks) if masks else (lambda: None)
    loss_fn = loss_fn or (lambda logits, _x, target: F.cross_entropy(logits, target))
    model.train()
    for epoch in range(epochs):
        for xb, yb in data.batches(x, y, batch_size, shuffle=True,
                                    seed=seed * 1000 + epoch):
            optimizer.zero_grad(set_to_none=True)
            with _fake_quantized(model, fake_quant):
                loss_fn(model(xb), xb, yb).backward()
            if penalty:
                penalty(model).backward()  # on the float weights, gradients add up
            optimizer.step()
            if scheduler:
                scheduler.step()
            reapply()  # Adam's momentum would otherwise revive pruned weights
        if on_epoch:
            model.eval()
            on_epoch(epoch, model)
            model.train()
        if progress:
            progress((epoch + 1) / epochs, f"epoch {epoch + 1}/{epochs}")
    return model.eval()


def prune_and_finetune(model: nn.Module, ds: data.Dataset, sparsity: float, *, steps: int = 1,
                       epochs: int = 0, scope: str = "global", structure: str = "unstructured",
                       criterion: str = "magnitude", seed: int = 0, lr: float = FINETUNE_LR,
                       layer_sparsity: dict[str, float] | None = None,
                       fake_quant: FakeQuant | None = None, order: str = "sequential",
                       penalty: Penalty | None = None,
                       progress: Progress | None = None) -> dict[str, torch.Tensor]:
    """Prune in `steps` growing stages (Zhu & Gupta schedule), fine-tuning after each.

    Han et al. 2015 found iterative pruning keeps far more accuracy than one shot at high
    sparsity. Works in place on a model the caller owns; returns the final masks.
    layer_sparsity ({weight name: sparsity}) follows the same schedule, layer by layer.

    With a penalty, a regularized fine-tuning (epochs) runs first, so weights move towards
    zero before any mask is chosen (regularize, then prune). With fake_quant (quantization-
    aware training) the order of pruning and quantization (Han et al. 2016 prune then
    quantize; seed 002 compares the three):
      sequential   prune and fine-tune in float at each step, then one QAT fine-tuning
      alternating  at each step prune, then fine-tune under fake quantization
      joint        prune once to the final masks, then QAT with masks held for steps x epochs
    """
    # the schedule's shape (fraction of the final sparsity reached after each step), shared by
    # the global target and every per-layer one
    fractions = [f / 0.5 for f in prune.gradual_schedule(0.5, steps)] if steps > 1 else [1.0]
    step_epochs = epochs
    if fake_quant and order == Order.JOINT:
        fractions, step_epochs = [1.0], epochs * len(fractions)  # the same training budget
    qat_each_step = fake_quant if order in ("alternating", "joint") else None
    qat_after = bool(fake_quant and order == Order.SEQUENTIAL and epochs)
    stages = int(bool(penalty and epochs)) + len(fractions) + int(qat_after)
    stage = 0
    if penalty and epochs:
        fit(model, ds.x_train, ds.y_train, epochs, lr=lr, seed=seed, penalty=penalty, cosine=True,
            progress=_sub_progress(progress, stage, stages, "regularized fine-tuning: "))
        stage += 1
    calib = (ds.x_calib, ds.y_calib) if criteria.lookup(criterion).needs_data else None
    if criteria.lookup(criterion).one_shot is not None:  # a Hessian wants more images than inputs (calibration.N_IMAGES)
        x_one_shot = calibration.batch(ds)
        calib = (x_one_shot, ds.y_train[:len(x_one_shot)])
    masks: dict[str, torch.Tensor] = {}
    for i, fraction in enumerate(fractions):
        target = sparsity * fraction
        masks = prune.prune_in_place(model, target, scope=scope, structure=structure, criterion=criterion,
                                     data=calib, seed=seed,
                                     layer_sparsity={n: s * fraction for n, s in (layer_sparsity or {}).items()})
        if step_epochs:
            step_progress = _sub_progress(progress, stage, stages, f"step {i + 1}/{len(fractions)} "
                                          f"(sparsity {target:.0%}): ")
            fit(model, ds.x_train, ds.y_train, step_epochs, lr=lr, seed=seed + i, masks=masks,
                fake_quant=qat_each_step, cosine=True, progress=step_progress)
        stage += 1
    if qat_after:
        fit(model, ds.x_train, ds.y_train, epochs, lr=lr, seed=seed + len(fractions), masks=masks,
            fake_quant=fake_quant, cosine=True, progress=_sub_progress(progress, stage, stages, "quantization-aware: "))
    return masks


@contextlib.contextmanager
def deterministic() -> Iterator[None]:
    """One CPU thread and PyTorch's deterministic kernels while inside; the caller's settings after.

    With several threads a matrix product splits its sums across threads, and the order of
    float additions (hence the last bits of every weight) depends on the thread count: the
    shipped checkpoints, trained that way, differed from a rebuild by up to 2.5e-5. One
    thread fixes the order, so the same seed gives the same bytes on the same CPU and PyTorch.
    """
    with isolation.one_thread(deterministic=True):  # counted: concurrent users do not undo each other
        yield


def train_zoo_model(model_id: str, path: Path, data_dir: str | Path | None = None,
                    progress: Progress | None = None) -> nn.Module:
    """Train a zoo model from its fixed seed and save its checkpoint at `path`: bit-identical on a rebuild."""
    spec = zoo.spec(model_id)
    if spec.language:
        return _train_language_model(model_id, path, progress)
    ds = data.load(spec.dataset, data_dir=data_dir)
    with deterministic():
        model = zoo.build(model_id, seed=0)
        fit(model, ds.x_train, ds.y_train, spec.epochs, lr=spec.lr, batch_size=spec.batch_size,
            seed=0, progress=progress, one_cycle=True)
    zoo.save(model, path)
    return model


def _train_language_model(model_id: str, path: Path, progress: Progress | None) -> nn.Module:
    """A zoo language model on its corpus's training split (compression.lm), same seed rule."""
    from compression.lm import text, tinygpt  # deferred: only this recipe reads the corpus
    spec = zoo.spec(model_id)
    with deterministic():
        model = zoo.build(model_id, seed=0)
        context = model.config.context if isinstance(model, tinygpt.TinyGPT) else 128
        tinygpt.train_lm(model, text.tokens("train"), spec.steps, context=context,
                         batch_size=spec.batch_size, lr=spec.lr, seed=0, warmup=50, progress=progress)
    zoo.save(model, path)
    return model


def _sub_progress(progress: Progress | None, i: int, n: int, prefix: str) -> Progress | None:
    """Map a stage's own 0..1 progress into its slice of the whole run."""
    if progress is None:
        return None
    return lambda frac, msg: progress((i + frac) / n, prefix + msg)
