"""Pruning masks against torch.nn.utils.prune and plain arithmetic."""

from __future__ import annotations

import copy
import math
from collections import OrderedDict

import pytest
import torch
from torch import Tensor, nn
from torch.nn.utils import prune as tprune

from compression import prune

SPARSITIES = [0.0, 0.1, 0.5, 0.8, 0.9, 0.97]


def mlp() -> nn.Sequential:
    """64-300-100-10 MLP (LeNet-300-100 shape), random init."""
    torch.manual_seed(0)
    return nn.Sequential(OrderedDict(
        fc1=nn.Linear(64, 300), relu1=nn.ReLU(),
        fc2=nn.Linear(300, 100), relu2=nn.ReLU(),
        fc3=nn.Linear(100, 10),
    ))


def cnn() -> nn.Sequential:
    """Small LeNet-style CNN for 1x8x8 inputs, random init."""
    torch.manual_seed(1)
    return nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(1, 6, 3, padding=1), relu1=nn.ReLU(), pool=nn.MaxPool2d(2),
        conv2=nn.Conv2d(6, 16, 3), relu2=nn.ReLU(), flat=nn.Flatten(),
        fc1=nn.Linear(64, 32), relu3=nn.ReLU(),
        fc2=nn.Linear(32, 10),
    ))


MODELS = {"mlp": mlp, "cnn": cnn}


def batch(model_id: str, n: int = 32) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(2)
    shape = (n, 64) if model_id == "mlp" else (n, 1, 8, 8)
    return torch.randn(shape, generator=g), torch.randint(0, 10, (n,), generator=g)


def modules(model: nn.Module) -> dict[str, nn.Module]:
    return {f"{n}.weight": m for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))}


def torch_global(model: nn.Module, amount: float, scores: dict[str, Tensor] | None = None) -> dict[str, Tensor]:
    """Reference: torch.nn.utils.prune.global_unstructured with L1Unstructured on a copy."""
    twin = copy.deepcopy(model)
    mods = modules(twin)
    importance = None if scores is None else {(mods[n], "weight"): s for n, s in scores.items()}
    tprune.global_unstructured([(m, "weight") for m in mods.values()], pruning_method=tprune.L1Unstructured,
                               importance_scores=importance, amount=amount)
    return {n: m.weight_mask.bool() for n, m in mods.items()}


def assert_same_selection(ours: dict[str, Tensor], ref: dict[str, Tensor], scores: dict[str, Tensor]) -> None:
    """Same keys, same number dropped, and any disagreement only among tied threshold scores (ties aside)."""
    assert list(ours) == list(ref)
    assert sum(int((~m).sum()) for m in ours.values()) == sum(int((~m).sum()) for m in ref.values())
    for n in ours:
        assert ours[n].dtype == torch.bool and ours[n].shape == ref[n].shape
        differ = ours[n] != ref[n]
        if differ.any():  # only allowed where the dropped and kept scores tie
            dropped_max = max(float(s[~ref[k]].max()) for k, s in scores.items() if (~ref[k]).any())
            assert torch.all(scores[n][differ] == dropped_max), n


def abs_scores(model: nn.Module) -> dict[str, Tensor]:
    return {n: m.weight.detach().abs() for n, m in modules(model).items()}


# -----------------------------------------------------------------------------
# prunable


@pytest.mark.parametrize("model_id, names", [
    ("mlp", ["fc1.weight", "fc2.weight", "fc3.weight"]),
    ("cnn", ["conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight"]),
])
def test_prunable_lists_linear_and_conv_weights_in_order(model_id, names):
    model = MODELS[model_id]()
    weights = prune.prunable(model)
    assert list(weights) == names
    for n, w in weights.items():
        assert w is model.get_parameter(n)  # the weight itself, never a bias


# -----------------------------------------------------------------------------
# unstructured magnitude == torch.nn.utils.prune


@pytest.mark.parametrize("model_id", MODELS)
@pytest.mark.parametrize("sparsity", SPARSITIES)
def test_global_unstructured_matches_torch(model_id, sparsity):
    model = MODELS[model_id]()
    ours = prune.masks(model, sparsity)
    assert_same_selection(ours, torch_global(model, sparsity), abs_scores(model))
    n = sum(w.numel() for w in prune.prunable(model).values())
    assert prune.sparsity_of(ours) == round(sparsity * n) / n


@pytest.mark.parametrize("model_id", MODELS)
@pytest.mark.parametrize("sparsity", SPARSITIES)
def test_layer_unstructured_matches_torch(model_id, sparsity):
    model = MODELS[model_id]()
    ours = prune.masks(model, sparsity, scope="layer")
    twin = copy.deepcopy(model)
    ref = {}
    for n, m in modules(twin).items():
        tprune.l1_unstructured(m, "weight", amount=sparsity)
        ref[n] = m.weight_mask.bool()
    scores = abs_scores(model)
    for n in ours:
        assert_same_selection({n: ours[n]}, {n: ref[n]}, {n: scores[n]})


def test_masks_leave_model_untouched():
    model = mlp()
    before = copy.deepcopy(model.state_dict())
    for structure in prune.STRUCTURES:
        prune.masks(model, 0.7, structure=structure)
    prune.masks(model, 0.7, criterion="taylor", data=batch("mlp"))
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in model.parameters())
    assert model.training  # taylor scores ran on an eval-mode copy, not on the model


# -----------------------------------------------------------------------------
# rows


def is_rows(mask: Tensor) -> bool:
    """True when every row (dim 0) is all kept or all dropped."""
    rows = mask.flatten(1)
    return bool(torch.all(rows.all(dim=1) | ~rows.any(dim=1)))


@pytest.mark.parametrize("model_id", MODELS)
@pytest.mark.parametrize("sparsity", [0.0, 0.2, 0.5, 0.9])
def test_layer_rows_match_torch_ln_structured(model_id, sparsity):
    model = MODELS[model_id]()
    ours = prune.masks(model, sparsity, scope="layer", structure="rows")
    twin = copy.deepcopy(model)
    names = list(modules(twin))
    for n, m in modules(twin).items():
        if n == names[-1]:  # the classifier keeps every class
            assert ours[n].all()
            continue
        tprune.ln_structured(m, "weight", amount=sparsity, n=2, dim=0)
        assert torch.equal(ours[n], m.weight_mask.bool()), n


@pytest.mark.parametrize("model_id", MODELS)
@pytest.mark.parametrize("sparsity", [0.1, 0.5, 0.9, 0.99])
def test_global_rows_drop_lowest_rms_rows_up_to_target(model_id, sparsity):
    model = MODELS[model_id]()
    ours = prune.masks(model, sparsity, structure="rows")
    weights = prune.prunable(model)
    classifier = list(weights)[-1]
    assert ours[classifier].all()
    assert all(is_rows(m) for m in ours.values())
    # reference ranking: row L2 norm / sqrt(row size), over every non-classifier row
    rms, size, dropped = [], [], []
    for n, w in weights.items():
        if n != classifier:
            r = w.detach().flatten(1)
            rms += (r.norm(dim=1) / math.sqrt(r.shape[1])).tolist()
            size += [r.shape[1]] * r.shape[0]
            dropped += (~ours[n].flatten(1)[:, 0]).tolist()
    kept_rms = [v for v, d in zip(rms, dropped) if not d]
    dropped_rms = [v for v, d in zip(rms, dropped) if d]
    target = round(sparsity * sum(w.numel() for w in weights.values()))
    zeroed = sum(s for s, d in zip(size, dropped) if d)
    assert zeroed == sum(int((~m).sum()) for m in ours.values())
    assert zeroed <= target
    assert dropped_rms  # every case above asks for at least one row
    if kept_rms:
        assert max(dropped_rms) < min(kept_rms)  # a prefix of the ranking
        next_row = size[rms.index(min(kept_rms))]
        assert zeroed + next_row > target  # the next row in line would overshoot


def test_global_rows_compare_layers_by_rms_not_norm():
    # layer "a": rows of 4 ones (norm 2, rms 1); layer "b": rows of 100 x 0.5 (norm 5, rms 0.5);
    # by raw L2 norm "a" would go first, by rms "b" must
    model = nn.Sequential(OrderedDict(a=nn.Linear(4, 100, bias=False), b=nn.Linear(100, 10, bias=False),
                                      head=nn.Linear(10, 2, bias=False)))
    with torch.no_grad():
        model.a.weight.fill_(1.0)
        model.b.weight.fill_(0.5)
    ours = prune.masks(model, 0.3, structure="rows")
    # target round(0.3 * 1420) = 426 weights. By rms, b's rows come first and 4 of them
    # (400 weights) fit; by raw norm all 100 rows of a (400 weights) would go instead
    assert int((~ours["b.weight"]).sum()) == 400
    assert ours["a.weight"].all() and ours["head.weight"].all()


# -----------------------------------------------------------------------------
# 2:4


def two_of_four_reference(scores: Tensor) -> Tensor:
    """Loop reference: in each group of 4 (tail group: of what is left) keep the top min(2, len) scores."""
    rows = scores.flatten(1)
    keep = torch.zeros_like(rows, dtype=torch.bool)
    for i in range(rows.shape[0]):
        for start in range(0, rows.shape[1], 4):
            group = rows[i, start:start + 4].tolist()
            for j in sorted(range(len(group)), key=lambda j: -group[j])[:2]:
                keep[i, start + j] = True
    return keep.view_as(scores)


@pytest.mark.parametrize("model_id", MODELS)
def test_two_of_four_keeps_top_two_in_every_group(model_id):
    model = MODELS[model_id]()
    ours = prune.masks(model, 0.5, structure="2:4")
    for n, s in abs_scores(model).items():
        assert torch.equal(ours[n], two_of_four_reference(s)), n
        if s[0].numel() % 4 == 0:
            assert prune.layer_sparsity({n: ours[n]})[n] == 0.5
    ignored = prune.masks(model, 0.0, structure="2:4")  # sparsity plays no part in 2:4
    assert all(torch.equal(ours[n], m) for n, m in ignored.items())


@pytest.mark.parametrize("width, kept_in_tail", [(5, 1), (6, 2), (7, 2), (8, 2)])
def test_two_of_four_tail_group(width, kept_in_tail):
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(width, 3), nn.Linear(3, 2))
    mask = prune.masks(model, 0.5, structure="2:4")["0.weight"]
    assert torch.equal(mask, two_of_four_reference(model[0].weight.detach().abs()))
    assert torch.all(mask[:, :4].sum(dim=1) == 2)
    assert torch.all(mask[:, 4:].sum(dim=1) == kept_in_tail)


# -----------------------------------------------------------------------------
# criteria


def test_random_is_seeded_and_exact_in_count():
    model = mlp()
    a = prune.masks(model, 0.6, criterion="random", seed=1)
    b = prune.masks(model, 0.6, criterion="random", seed=1)
    c = prune.masks(model, 0.6, criterion="random", seed=2)
    assert all(torch.equal(a[n], b[n]) for n in a)
    assert any(not torch.equal(a[n], c[n]) for n in a)
    n = sum(m.numel() for m in a.values())
    assert prune.sparsity_of(a) == round(0.6 * n) / n
    # uniform over weights: each layer lands near 60% (binomial sd < 0.02 for the smallest, 1000 weights)
    assert all(abs(s - 0.6) < 0.08 for s in prune.layer_sparsity(a).values())


def test_random_rows_are_rows():
    ours = prune.masks(cnn(), 0.5, structure="rows", criterion="random", seed=0)
    assert all(is_rows(m) for m in ours.values())
    assert 0 < prune.sparsity_of(ours) <= 0.5


@pytest.mark.parametrize("model_id", MODELS)
@pytest.mark.parametrize("sparsity", [0.3, 0.9])
def test_taylor_matches_torch_with_w_times_grad_importance(model_id, sparsity):
    model = MODELS[model_id]()
    x, y = batch(model_id)
    twin = copy.deepcopy(model)
    nn.functional.cross_entropy(twin(x), y).backward()
    scores = {n: (m.weight * m.weight.grad).detach().abs() for n, m in modules(twin).items()}
    ours = prune.masks(model, sparsity, criterion="taylor", data=(x, y))
    assert_same_selection(ours, torch_global(model, sparsity, scores), scores)
    assert all(p.grad is None for p in model.parameters())


def test_taylor_needs_data():
    with pytest.raises(ValueError, match="data"):
        prune.masks(mlp(), 0.5, criterion="taylor")


@pytest.mark.parametrize("kwargs, arg", [
    ({"sparsity": -0.1}, "sparsity"), ({"sparsity": 1.0}, "sparsity"), ({"sparsity": float("nan")}, "sparsity"),
    ({"sparsity": "0.5"}, "sparsity"), ({"sparsity": True}, "sparsity"),
    ({"scope": "local"}, "scope"), ({"structure": "4:8"}, "structure"), ({"criterion": "l1"}, "criterion"),
])
def test_invalid_arguments_name_argument_and_allowed_values(kwargs, arg):
    kwargs = {"sparsity": 0.5, **kwargs}
    with pytest.raises(ValueError, match=arg) as err:
        prune.masks(mlp(), **kwargs)
    allowed = {"sparsity": "[0, 1)", "scope": "'layer'", "structure": "'2:4'", "criterion": "'taylor'"}[arg]
    assert allowed in str(err.value)


# -----------------------------------------------------------------------------
# applying, measuring, holding


def test_apply_masks_zeroes_exactly_the_pruned_weights():
    model = mlp()
    before = copy.deepcopy(model.state_dict())
    ours = prune.masks(model, 0.8)
    weight = model.fc1.weight
    prune.apply_masks(model, ours)
    assert model.fc1.weight is weight  # in place
    for n, w in prune.prunable(model).items():
        assert torch.equal(w.detach(), before[n] * ours[n])
    for n in ("fc1.bias", "fc2.bias", "fc3.bias"):
        assert torch.equal(model.get_parameter(n).detach(), before[n])


def test_masks_with_unknown_name_are_rejected():
    with pytest.raises(ValueError, match="fc9.weight"):
        prune.apply_masks(mlp(), {"fc9.weight": torch.ones(3, dtype=torch.bool)})


def test_sparsity_arithmetic():
    m = {"a": torch.tensor([True, False, False, True]), "b": torch.tensor([[False, False], [False, True]])}
    assert prune.sparsity_of(m) == 5 / 8
    assert prune.layer_sparsity(m) == {"a": 0.5, "b": 0.75}
    assert prune.sparsity_of({}) == 0.0


@pytest.mark.parametrize("final, steps", [(0.9, 10), (0.5, 3), (0.8, 1)])
def test_gradual_schedule_is_zhu_gupta_cubic(final, steps):
    sched = prune.gradual_schedule(final, steps)
    assert len(sched) == steps
    assert sched == pytest.approx([final * (1 - (1 - t / steps) ** 3) for t in range(1, steps + 1)])
    assert sched[-1] == final
    assert all(a < b for a, b in zip(sched, sched[1:]))


def test_gradual_schedule_rejects_bad_arguments():
    with pytest.raises(ValueError, match="steps"):
        prune.gradual_schedule(0.9, 0)
    with pytest.raises(ValueError, match="final_sparsity"):
        prune.gradual_schedule(1.5, 5)


def test_hold_masks_keeps_pruned_weights_zero_through_sgd():
    model = mlp()
    ours = prune.masks(model, 0.9)
    start = copy.deepcopy(model.state_dict())
    hold = prune.hold_masks(model, ours)
    x, y = batch("mlp", 64)
    # momentum and weight decay would move a pruned weight even with its gradient zeroed
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    for _ in range(5):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        hold()
        for n, w in prune.prunable(model).items():
            assert torch.all(w[~ours[n]] == 0), n
    # training did happen: kept weights moved
    assert not torch.equal(model.fc1.weight[ours["fc1.weight"]], start["fc1.weight"][ours["fc1.weight"]])


def test_ties_drop_exactly_the_count_lowest_index_first():
    model = nn.Sequential(nn.Linear(4, 10), nn.Linear(10, 2))
    with torch.no_grad():
        model[0].weight.fill_(0.5)
        model[1].weight.fill_(1.0)
    ours = prune.masks(model, 0.3)  # round(0.3 * 60) = 18 of the 40 tied 0.5s
    assert torch.equal(~ours["0.weight"].flatten(), torch.arange(40) < 18)
    assert ours["1.weight"].all()


def test_iterative_pruning_keeps_earlier_zeros_dropped():
    model = mlp()
    first = prune.masks(model, 0.5)
    prune.apply_masks(model, first)
    second = prune.masks(model, 0.8)  # the zeros score lowest, so they stay pruned
    assert all(torch.all(~second[n] | first[n]) for n in first)
    assert prune.sparsity_of(second) == round(0.8 * 50200) / 50200
