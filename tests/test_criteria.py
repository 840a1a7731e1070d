"""Pruning criteria records, and the neuron criteria (APoZ, entropy) against a hand computation
in numpy over activations captured by forward hooks on the real model."""
import numpy as np
import pytest
import torch

from compression import config, criteria, pipeline, prune
from compression.config import CompressionConfig


def _post_relu(model, x) -> dict[str, np.ndarray]:
    """relu(fc_i(x)) for every layer, captured by hooks (independent of criteria.activations)."""
    out = {}
    hooks = [getattr(model, n).register_forward_hook(
        lambda m, a, o, n=n: out.__setitem__(n, torch.relu(o).detach().double().numpy()))
        for n in ("fc1", "fc2", "fc3")]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return out


def _hand_apoz(a: np.ndarray) -> np.ndarray:
    return (a == 0).mean(axis=0)  # Hu et al. 2016: fraction of images where the neuron outputs 0


def _hand_entropy(a: np.ndarray) -> np.ndarray:
    h = []
    for column in a.T:
        counts, _ = np.histogram(column, bins=criteria.ENTROPY_BINS)
        p = counts[counts > 0] / len(column)
        h.append(-(p * np.log(p)).sum())
    return np.array(h)


# importance, lower = pruned first: APoZ highest first, entropy lowest first
HAND = {"apoz": lambda a: 1 - _hand_apoz(a), "entropy": _hand_entropy}


@pytest.mark.parametrize("criterion", ["apoz", "entropy"])
def test_layer_scope_removes_the_neurons_ranked_lowest_by_hand(digits, criterion):
    base, ds = digits
    acts = _post_relu(base, ds.x_calib)
    masks = prune.masks(base, 0.5, scope="layer", structure="rows", criterion=criterion,
                        data=(ds.x_calib, ds.y_calib))
    for name in ("fc1", "fc2"):
        score = HAND[criterion](acts[name])
        n_drop = round(0.5 * len(score))
        expected = set(np.argsort(score, kind="stable")[:n_drop].tolist())
        removed = set((~masks[f"{name}.weight"].all(dim=1)).nonzero().flatten().tolist())
        assert removed == expected, name
    assert masks["fc3.weight"].all()  # the classifier keeps its rows


@pytest.mark.parametrize("criterion", ["apoz", "entropy"])
def test_global_scope_removes_the_lowest_ranked_neurons_across_layers(digits, criterion):
    base, ds = digits
    acts = _post_relu(base, ds.x_calib)
    cfg = CompressionConfig(sparsity=0.5, structure="rows", criterion=criterion)
    _, masks, _ = pipeline.compress(base, ds, cfg)
    weights = {n: getattr(base, n).weight for n in ("fc1", "fc2", "fc3")}
    score = np.concatenate([HAND[criterion](acts[n]) for n in ("fc1", "fc2")])
    row_size = np.concatenate([np.full(weights[n].shape[0], weights[n].shape[1]) for n in ("fc1", "fc2")])
    target = round(0.5 * sum(w.numel() for w in weights.values()))
    order = np.argsort(score, kind="stable")
    n_drop = int(np.searchsorted(np.cumsum(row_size[order]), target, side="right"))
    expected = np.zeros(len(score), dtype=bool)
    expected[order[:n_drop]] = True
    removed = np.concatenate([(~masks[f"{n}.weight"].all(dim=1)).numpy() for n in ("fc1", "fc2")])
    assert np.array_equal(removed, expected)
    assert removed.sum() > 0


@pytest.mark.parametrize("criterion", ["apoz", "entropy"])
@pytest.mark.parametrize("structure", ["unstructured", "2:4"])
def test_neuron_criteria_need_rows(digits, criterion, structure):
    base, ds = digits
    with pytest.raises(ValueError, match="structure='rows'") as e:
        prune.masks(base, 0.5, structure=structure, criterion=criterion, data=(ds.x_calib, ds.y_calib))
    assert "\n" not in str(e.value)


def test_neuron_criteria_need_data(digits):
    base, _ = digits
    with pytest.raises(ValueError, match="needs data"):
        prune.masks(base, 0.5, structure="rows", criterion="apoz")


def test_apoz_of_a_dead_neuron_is_one_and_its_entropy_zero():
    a = torch.tensor([[0.0, 1.0], [0.0, 2.0], [0.0, 0.0], [0.0, 3.0]])
    assert criteria.apoz(a).tolist() == [1.0, 0.25]
    h = criteria.entropy(a)
    assert h[0] == 0 and h[1] > 0


def test_entropy_of_a_conv_filter_uses_its_global_average():
    a = torch.zeros(4, 1, 2, 2)
    a[:, 0, 0, 0] = torch.tensor([0.0, 4.0, 8.0, 12.0])  # averages 0, 1, 2, 3: four bins of one image
    assert criteria.entropy(a, bins=4).item() == pytest.approx(np.log(4))


@pytest.mark.parametrize("name", list(criteria.RECORDS))
def test_every_criterion_has_texts(name):
    r = criteria.RECORDS[name]
    assert r.label.strip() and r.formula.strip() and r.help.strip()
    # SparseGPT's OBS updates are per weight: whole rows are not what it removes
    assert "rows" in r.structures or r.one_shot is not None


def test_config_offers_every_criterion():
    assert config.CRITERIA == criteria.CHOICES == ("magnitude", "random", "taylor", "apoz", "entropy",
                                                         "wanda", "sparsegpt")


def test_wanda_scores_equal_the_definition():
    """|W_ij| * ||X_j||_2, X_j from hooks (Linear) and from a one-hot convolution of x² (Conv2d, no im2col)."""
    import torch.nn.functional as F

    from compression import models, source
    from compression.layers import compressible
    for model_id in ("mlp-digits", "cnn-digits"):
        loaded = source.load(source.parse(model_id))
        model, x = loaded.model, loaded.dataset.x_calib
        scores = criteria.lookup("wanda").weight_scores(model, (x, loaded.dataset.y_calib), 0)
        seen = {}
        hooks = [layer.module.register_forward_pre_hook(lambda m, a, n=name: seen.__setitem__(n, a[0].detach()))
                 for name, layer in compressible(model).items()]
        with torch.no_grad():
            model(x)
        for h in hooks:
            h.remove()
        for name, layer in models.layers(model).items():
            w, inp = layer.weight.detach(), seen[name].double()
            if w.dim() == 2:
                norm = inp.reshape(-1, inp.shape[-1]).pow(2).sum(0).sqrt()
                expected = w.abs().double() * norm.unsqueeze(0)
            else:
                m = layer.module
                kh, kw = m.kernel_size
                norm = torch.empty(w.shape[1], kh, kw, dtype=torch.float64)
                for c in range(w.shape[1]):
                    for i in range(kh):
                        for j in range(kw):
                            one = torch.zeros(1, 1, kh, kw, dtype=torch.float64)
                            one[0, 0, i, j] = 1
                            out = F.conv2d(inp[:, c:c + 1] ** 2, one, stride=m.stride, padding=m.padding,
                                           dilation=m.dilation)
                            norm[c, i, j] = out.sum().sqrt()
                expected = w.abs().double() * norm.unsqueeze(0)
            assert torch.allclose(scores[layer.key].double(), expected, rtol=1e-5, atol=1e-7), (model_id, name)


def test_wanda_prunes_each_row_to_the_sparsity(digits):
    model, ds = digits
    masks = prune.masks(model, 0.6, criterion="wanda", data=(ds.x_calib, ds.y_calib))
    for m in masks.values():
        rows = m.reshape(m.shape[0], -1)
        assert ((~rows).sum(1) == round(0.6 * rows.shape[1])).all()
