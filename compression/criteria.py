"""One record per pruning criterion: how it scores weights or neurons, its label, formula and help.

Higher score = more important; pruning drops the lowest. Weight criteria (magnitude, random,
taylor) score every weight, and a row (neuron / filter) by the L2 norm of its weights' scores.
Neuron criteria (apoz, entropy) score rows directly from activations on calibration images,
so they exist only for structure="rows".
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from compression import calibration, sparsegpt
from compression.layers import LayerKind, compressible

Batch = tuple[Tensor, Tensor]
WeightScores = Callable[[nn.Module, "Batch | None", int], dict[str, Tensor]]
RowScores = Callable[[nn.Module, "dict[str, Tensor] | None", "Batch | None", int], dict[str, Tensor]]
# (model the caller owns, sparsity, structure, calibration images, {weight name: own sparsity}) -> masks;
# prunes and updates the weights in place
OneShot = Callable[[nn.Module, float, str, Tensor, "dict[str, float] | None"], dict[str, Tensor]]
ENTROPY_BINS = 32  # histogram bins of each neuron's activations (128 calibration images by default)


def prunable(model: nn.Module) -> dict[str, Tensor]:
    """{"<layer>.weight": weight} for every compressible layer that pruning reaches (compression.layers:
    all but a language model's embedding tables), in module order."""
    return {layer.key: layer.weight for layer in compressible(model).values() if layer.kind.prunable}


@dataclass(frozen=True)
class Criterion:
    """Everything about one pruning criterion that any part of the product needs."""
    name: str
    label: str
    formula: str               # LaTeX of the score
    help: str
    needs_data: bool           # scores need calibration images (x, y)
    row_scores: RowScores      # (model, weight scores or None, data, seed) -> {weight name: (rows,)}
    weight_scores: WeightScores | None = None  # None: scores neurons only (structure="rows")
    comparable: bool = False   # row scores comparable across layers as they are (else divided by sqrt(fan-in))
    # What the neuron view shows for a neuron criterion: its statistic of (images, rows) activations,
    # which way pruning goes, and one sentence under the chart. None: not a neuron criterion.
    neuron_score: Callable[[Tensor], Tensor] | None = None
    lower_is_pruned: bool = True
    neuron_caption: str = ""
    per_row: bool = False      # unstructured: weights compared within each output row, each row to the sparsity
    # A pruning method that also updates the kept weights (SparseGPT): it chooses the masks and
    # writes the model (prune.prune_in_place); None: a score, masks from the lowest scores.
    one_shot: OneShot | None = None

    @property
    def structures(self) -> tuple[str, ...]:
        """The structures this criterion can rank."""
        if self.one_shot is not None:
            return ("unstructured", "2:4")
        return ("unstructured", "rows", "2:4") if self.weight_scores else ("rows",)


# -----------------------------------------------------------------------------
# weight criteria


def _norm_rows(model: nn.Module, scores: dict[str, Tensor] | None, data: Batch | None, seed: int) -> dict[str, Tensor]:
    # for magnitude this is ||w_row||_2, as in torch.nn.utils.prune.ln_structured(n=2, dim=0)
    return {n: s.flatten(1).norm(dim=1) for n, s in (scores or {}).items()}


def _magnitude(model: nn.Module, data: Batch | None, seed: int) -> dict[str, Tensor]:
    return {n: w.detach().abs() for n, w in prunable(model).items()}


def _random(model: nn.Module, data: Batch | None, seed: int) -> dict[str, Tensor]:
    # a private generator: reproducible from seed, and the global RNG is left alone
    gen = torch.Generator().manual_seed(seed)
    return {n: torch.rand(w.shape, generator=gen).to(w.device) for n, w in prunable(model).items()}


def _random_rows(model: nn.Module, scores: dict[str, Tensor] | None, data: Batch | None, seed: int) -> dict[str, Tensor]:
    # one uniform draw per row, so every row is equally likely whatever its layer's fan-in
    gen = torch.Generator().manual_seed(seed)
    return {n: torch.rand(w.shape[0], generator=gen).to(w.device) for n, w in prunable(model).items()}


def _taylor(model: nn.Module, data: Batch | None, seed: int) -> dict[str, Tensor]:
    # |w * dL/dw| is the first-order estimate of the loss change when w is set to 0
    # (Molchanov et al., 2017). Work on an eval-mode copy: the caller's model may be shared, so
    # its .grad, BatchNorm statistics and train/eval flag must stay as they are; eval mode also
    # keeps dropout out of the scores, so the same seed and data give the same masks
    assert data is not None
    twin = copy.deepcopy(model).eval()
    weights = prunable(twin)
    for w in weights.values():
        w.requires_grad_(True)
    x, y = data
    with torch.enable_grad():
        loss = F.cross_entropy(twin(x), y)
        grads = torch.autograd.grad(loss, list(weights.values()), allow_unused=True)
    return {n: (w.detach() * (torch.zeros_like(w) if g is None else g)).abs()
            for (n, w), g in zip(weights.items(), grads)}


MAGNITUDE = Criterion(
    "magnitude", "magnitude |w|", r"|w_i|",
    "Smallest |w| first (Han et al. 2015); rows by the L2 norm of their weights.",
    needs_data=False, weight_scores=_magnitude, row_scores=_norm_rows)
RANDOM = Criterion(
    "random", "random", r"u_i \sim U(0,1)",
    "Uniformly at random (seeded): the baseline any real criterion must beat.",
    needs_data=False, weight_scores=_random, row_scores=_random_rows, comparable=True)
TAYLOR = Criterion(
    "taylor", "Taylor |w·∂L/∂w|", r"\left|w_i \,\partial L / \partial w_i\right|",
    "Smallest first-order loss change |w·∂L/∂w| on the calibration images first (Molchanov et al. 2017).",
    needs_data=True, weight_scores=_taylor, row_scores=_norm_rows)


def _wanda(model: nn.Module, data: Batch | None, seed: int) -> dict[str, Tensor]:
    # Sun et al. 2024 (arXiv:2306.11695): |W_ij| * ||X_j||_2, X_j input feature j over the
    # calibration tokens (here images, and a conv's patch positions); a layer whose input is
    # not a matrix product (attention's in-projection) falls back to |W|
    assert data is not None
    norms = calibration.input_stats(model, data[0], lambda m: m.norm(dim=1), eval_mode=True)
    out = {}
    for layer in compressible(model).values():
        if not layer.kind.prunable:
            continue
        w = layer.weight.detach().abs()
        if layer.name in norms:
            out[layer.key] = (w.reshape(w.shape[0], -1) * norms[layer.name].unsqueeze(0)).reshape(w.shape)
        else:
            out[layer.key] = w
    return out


def _sparsegpt(model: nn.Module, sparsity: float, structure: str, x: Tensor,
               layer_sparsity: dict[str, float] | None) -> dict[str, Tensor]:
    return sparsegpt.prune_model(model, sparsity, structure, x, layer_sparsity)


WANDA = Criterion(
    "wanda", "Wanda |w|·‖x‖", r"S_{ij} = |W_{ij}| \cdot \lVert X_j \rVert_2",
    "Weights scored by |w| times the L2 norm of their input over the calibration images, compared "
    "within each output row (Sun et al. 2024); every layer to the sparsity.",
    needs_data=True, weight_scores=_wanda, row_scores=_norm_rows, per_row=True)
SPARSEGPT = Criterion(
    "sparsegpt", "SparseGPT (OBS)", r"\varepsilon_{ij} = \frac{W_{ij}^2}{[H^{-1}]_{jj}^2},\quad "
    r"\delta W_{i,:} = -\frac{W_{ij}}{[H^{-1}]_{jj}} H^{-1}_{j,:}",
    "One-shot pruning with weight updates (Frantar & Alistarh 2023): the smallest OBS saliency "
    "w²/[H⁻¹]²_jj goes and the rest of the row compensates, H = 2XXᵀ on calibration images; "
    "every layer to the sparsity. Unstructured or 2:4.",
    needs_data=True, row_scores=_norm_rows, one_shot=_sparsegpt)


# -----------------------------------------------------------------------------
# neuron criteria, from activations on calibration images


def activations(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
    """{weight name: (images, rows) post-ReLU activation} of every prunable layer on x.

    A row's activation is relu(layer output): the value after the ReLU that follows every
    hidden layer of the zoo's models. A conv filter's is kept per position, (images, C, H, W).
    """
    twin = copy.deepcopy(model).eval()  # hooks and eval mode on a copy: the model may be shared
    # attention's in-projection has no output of its own to hook: its rows get no activation score
    names = {layer.module: layer.key for layer in compressible(twin).values() if layer.kind is not LayerKind.ATTENTION}
    out: dict[str, Tensor] = {}

    def hook(module: nn.Module, args: tuple, output: Tensor) -> None:
        a = output.detach()
        if isinstance(module, nn.Linear) and a.dim() > 2:  # tokens (a ViT's): features second, as a conv's channels
            a = a.movedim(-1, 1)
        out[names[module]] = torch.relu(a)

    handles = [m.register_forward_hook(hook) for m in names]
    try:
        with torch.no_grad():
            twin(x)
    finally:
        for h in handles:
            h.remove()
    return {n: out[n] for n in names.values() if n in out}


def apoz(a: Tensor) -> Tensor:
    """Average percentage of zeros of each row's post-ReLU activation (Hu et al. 2016, eq. 1)."""
    per_row = a.transpose(0, 1).reshape(a.shape[1], -1)  # all images (and positions) of a row
    return (per_row == 0).double().mean(1)


def entropy(a: Tensor, bins: int = ENTROPY_BINS) -> Tensor:
    """Entropy (nats) of each row's activation distribution over the images (Luo & Wu 2017).

    A conv filter's activation per image is its global average (their eq. 1); its values over
    the images are binned into `bins` equal bins over the row's own range, H = -sum p log p.
    """
    per_image = a.flatten(2).mean(2) if a.dim() > 2 else a  # (images, rows)
    v = per_image.double().numpy()
    h = np.empty(v.shape[1])
    for j in range(v.shape[1]):
        counts, _ = np.histogram(v[:, j], bins=bins)
        p = counts[counts > 0] / v.shape[0]
        h[j] = float(-(p * np.log(p)).sum())
    return torch.from_numpy(h)


def _apoz_rows(model: nn.Module, scores: dict[str, Tensor] | None, data: Batch | None, seed: int) -> dict[str, Tensor]:
    assert data is not None
    # importance = 1 - APoZ: the neurons that are most often zero go first
    return {n: 1 - apoz(a) for n, a in activations(model, data[0]).items()}


def _entropy_rows(model: nn.Module, scores: dict[str, Tensor] | None, data: Batch | None, seed: int) -> dict[str, Tensor]:
    assert data is not None
    return {n: entropy(a) for n, a in activations(model, data[0]).items()}


APOZ = Criterion(
    "apoz", "APoZ", r"\mathrm{APoZ}_j = \frac{1}{N M}\sum_{n=1}^{N}\sum_{k=1}^{M} \mathbb{1}\left[a_{j}^{(n,k)} = 0\right]",
    "Neurons whose post-ReLU output is most often zero on the calibration images go first "
    "(Average Percentage of Zeros, Hu et al. 2016). Rows only.",
    needs_data=True, row_scores=_apoz_rows, comparable=True, neuron_score=apoz, lower_is_pruned=False,
    neuron_caption="APoZ is the share of calibration images on which a neuron's ReLU output is 0: the most "
                   "often silent neurons (highest APoZ) go first.")
ENTROPY = Criterion(
    "entropy", "activation entropy", r"H_j = -\sum_{i=1}^{m} p_{j,i} \log p_{j,i}",
    "Neurons whose activation carries least information over the calibration images "
    f"(entropy of its values in {ENTROPY_BINS} bins) go first (Luo & Wu 2017). Rows only.",
    needs_data=True, row_scores=_entropy_rows, comparable=True, neuron_score=entropy,
    neuron_caption="Entropy of a neuron's activations over the calibration images: a neuron whose output "
                   "hardly varies carries little information and goes first.")


RECORDS: dict[str, Criterion] = {c.name: c for c in (MAGNITUDE, RANDOM, TAYLOR, APOZ, ENTROPY, WANDA, SPARSEGPT)}
CHOICES: tuple[str, ...] = tuple(RECORDS)


def lookup(name: str) -> Criterion:
    """The record by name; ValueError naming the known ones."""
    if name not in RECORDS:
        raise ValueError(f"criterion must be one of {', '.join(repr(c) for c in RECORDS)}; got {name!r}")
    return RECORDS[name]


def neuron_view(name: str) -> Criterion:
    """The criterion whose neuron scores the neuron view shows: `name` when it scores neurons, else APoZ."""
    record = lookup(name)
    return record if record.neuron_score is not None else APOZ
