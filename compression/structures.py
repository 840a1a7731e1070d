"""One record per pruning structure and per sparsity regularizer: label, formula, help and the facts
other parts ask (does it slice rows out, is its sparsity fixed, what does the penalty sum).

The pages, the CLI and the plan read these records instead of branching on a structure's or
a regularizer's name, as they read compression.quantizers and compression.criteria.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class Structure:
    """What pruning removes: single weights, whole rows, or 2 of every 4."""
    name: str
    label: str
    formula: str               # LaTeX of the keep rule
    help: str
    slices_rows: bool          # whole rows go: they can be cut out of the model for real
    fixed_sparsity: float | None = None  # the pattern sets the sparsity (2:4: one half); None: the config's
    slices_heads: bool = False  # whole attention heads go (compression.heads), cut out of the model for real
    ranked_by: str | None = None  # the structure ranks by its own score (the criterion does not apply): its name


UNSTRUCTURED = Structure(
    "unstructured", "unstructured",
    r"m_i = \mathbb{1}\left[\text{score}_i \text{ among the top } k\right],\quad "
    r"k = n - \operatorname{round}(s\,n),\quad \hat w = m \odot w",
    "Single weights with the lowest scores are set to zero; the matrix keeps its shape.",
    slices_rows=False)
ROWS = Structure(
    "rows", "rows (neurons / filters)",
    r"\text{keep row } j \iff \text{score}_j \text{ among the top } (1-s)\,n_\text{rows}",
    "Whole output neurons or filters go; the classifier keeps every row. The rows are then cut out "
    "of the model, a smaller dense model that runs faster.",
    slices_rows=True)
TWO_FOUR = Structure(
    "2:4", "2:4 (semi-structured)",
    r"\text{in every group of 4 inputs keep the 2 with the largest score}",
    "2 of every 4 consecutive weights along the input are kept (NVIDIA's sparse tensor cores): "
    "always 50 % of full groups, whatever the sparsity setting.",
    slices_rows=False, fixed_sparsity=0.5)

HEADS = Structure(
    "heads", "attention heads",
    # Michel et al. 2019 (arXiv:1905.10650): a gate xi_h = 1 on each head's output
    r"I_h = \mathbb{E}_x \left| \frac{\partial L(x)}{\partial \xi_h} \right|,\quad "
    r"\text{remove the } \operatorname{round}(s\,n_\text{heads}) \text{ heads of lowest } I_h / \lVert I_\text{layer} \rVert_2",
    "Whole attention heads go (Michel et al. 2019): each head is scored by the mean |gradient of the loss| "
    "with respect to a gate on its output, on training images; the lowest fraction of all heads "
    "(scope global: scores divided by their layer's L2 norm; scope layer: the same fraction per layer) "
    "is cut out of q, k, v and the output projection; with prune steps above 1, in rounds, rescored "
    "each round (fine-tuning runs once, after the last). Applies to models with multi-head attention.",
    slices_rows=False, slices_heads=True, ranked_by="head importance (Michel et al. 2019)")

STRUCTURES: dict[str, Structure] = {s.name: s for s in (UNSTRUCTURED, ROWS, TWO_FOUR, HEADS)}
STRUCTURE_CHOICES: tuple[str, ...] = tuple(STRUCTURES)


def structure(name: str) -> Structure:
    """The record by name; ValueError naming the known ones."""
    if name not in STRUCTURES:
        raise ValueError(f"structure must be one of {', '.join(repr(s) for s in STRUCTURES)}; got {name!r}")
    return STRUCTURES[name]


@dataclass(frozen=True)
class Regularizer:
    """A sparsity penalty added to the loss while fine-tuning: lambda times `term` summed over the weights."""
    name: str
    label: str
    formula: str               # LaTeX of the loss
    help: str
    term: Callable[[Tensor], Tensor] | None  # one weight tensor -> its penalty (before lambda); None: no penalty


NONE = Regularizer("none", "none", r"L = L_\text{CE}", "No penalty: plain cross-entropy.", None)
L1 = Regularizer(
    "l1", "L1", r"L = L_\text{CE} + \lambda \sum_i |w_i|",
    "lambda times the sum of |w|: pushes single weights towards zero, ready for unstructured pruning.",
    lambda w: w.abs().sum())
GROUP_LASSO = Regularizer(
    "group-lasso", "group lasso", r"L = L_\text{CE} + \lambda \sum_{j} \lVert W_{j,:} \rVert_2",
    # Yuan & Lin 2006; on neurons/filters, Wen et al. 2016, as Distiller applies it
    "lambda times the sum over rows of ||W_row||_2: whole rows shrink to zero together, ready for "
    "rows pruning (Wen et al. 2016).",
    lambda w: w.flatten(1).norm(dim=1).sum())

REGULARIZERS: dict[str, Regularizer] = {r.name: r for r in (NONE, L1, GROUP_LASSO)}
REGULARIZER_CHOICES: tuple[str, ...] = tuple(REGULARIZERS)


def regularizer(name: str) -> Regularizer:
    """The record by name; ValueError naming the known ones."""
    if name not in REGULARIZERS:
        raise ValueError(f"regularize must be one of {', '.join(REGULARIZERS)}; got {name!r}")
    return REGULARIZERS[name]
