"""Attention-head pruning (compression.heads, structure 'heads'), checked against hand computations:
a ViT forward written out here from the parameters, with a gate on every head's output."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from compression import heads, isolation, models, pipeline, plan, prune, structures
from compression.__main__ import main
from compression.config import CompressionConfig, ConfigError
from compression.zoo import SmallViT


def _tiny(depth: int = 1, n_heads: int = 2, seed: int = 0) -> SmallViT:
    with isolation.seeded(seed):
        m = SmallViT(image=8, patch=4, dim=8, depth=depth, heads=n_heads, hidden=16).eval()
        with torch.no_grad():  # a trained net's biases are not zero: make the biases matter
            for p in m.parameters():
                p.add_(torch.randn_like(p) * 0.3)
    return m


def _images(n: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 8, 8, generator=gen), torch.randint(0, 10, (n,), generator=gen)


def hand_forward(m: SmallViT, x: torch.Tensor, gates: list[torch.Tensor]) -> torch.Tensor:
    """The ViT written out from its parameters; gates[layer] (heads,) multiplies each head's output."""
    b = x.shape[0]
    p = m.patch
    tokens = x.reshape(b, 1, 8 // p, p, 8 // p, p).permute(0, 2, 4, 1, 3, 5).reshape(b, -1, p * p)
    t = tokens @ m.embed.weight.T + m.embed.bias + m.pos
    for block, gate in zip(m.blocks, gates):
        a = block.attn
        h = F.layer_norm(t, (t.shape[-1],), block.norm1.weight, block.norm1.bias)
        qkv = h @ a.qkv.weight.T + a.qkv.bias
        n_heads, d = len(gate), a.head_dim
        outs = []
        for head in range(n_heads):
            q = qkv[..., head * d:(head + 1) * d]
            k = qkv[..., (n_heads + head) * d:(n_heads + head + 1) * d]
            v = qkv[..., (2 * n_heads + head) * d:(2 * n_heads + head + 1) * d]
            w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d), dim=-1)
            outs.append(gate[head] * (w @ v))
        t = t + torch.cat(outs, dim=-1) @ a.proj.weight.T + a.proj.bias
        h = F.layer_norm(t, (t.shape[-1],), block.norm2.weight, block.norm2.bias)
        t = t + F.gelu(h @ block.fc1.weight.T + block.fc1.bias) @ block.fc2.weight.T + block.fc2.bias
    pooled = F.layer_norm(t.mean(1), (t.shape[-1],), m.norm.weight, m.norm.bias)
    return pooled @ m.head.weight.T + m.head.bias


def test_hand_forward_is_the_model():
    m, (x, _) = _tiny(depth=2), _images(5)
    with torch.no_grad():
        torch.testing.assert_close(hand_forward(m, x, [torch.ones(2), torch.ones(2)]), m(x))


@pytest.mark.parametrize("gone", [[(0, 0)], [(0, 1), (1, 0)], [(0, 2), (0, 3), (1, 1)]])
def test_removed_heads_compute_the_gated_model(gone):
    """Masks, then the physical cut: both equal the hand forward with those heads' gates at 0."""
    m, (x, _) = _tiny(depth=2, n_heads=4), _images(7)
    removed = {f"blocks.{i}.attn": torch.zeros(4, dtype=torch.bool) for i in range(2)}
    gates = [torch.ones(4), torch.ones(4)]
    for layer, h in gone:
        removed[f"blocks.{layer}.attn"][h] = True
        gates[layer][h] = 0.0
    with torch.no_grad():
        reference = hand_forward(m, x, gates)
        masked = _tiny(depth=2, n_heads=4)
        prune.apply_masks(masked, heads.masks(masked, removed))
        torch.testing.assert_close(masked(x), reference, rtol=1e-5, atol=1e-6)
        small = heads.remove(masked)
        torch.testing.assert_close(small(x), reference, rtol=1e-5, atol=1e-6)
    assert [a.heads for a in heads.attentions(small).values()] == [4 - sum(1 for li, _ in gone if li == i)
                                                                  for i in range(2)]
    assert masked.blocks[0].attn.heads == 4  # the masked model itself is left whole


def test_sliced_parameter_count_is_the_hand_count():
    m = _tiny(depth=2, n_heads=4)
    removed = {"blocks.0.attn": torch.tensor([True, False, True, False]),
               "blocks.1.attn": torch.tensor([False, False, False, True])}
    prune.apply_masks(m, heads.masks(m, removed))
    small = heads.remove(m)
    dim, d = 8, 2  # head_dim = dim / heads
    per_head = 3 * d * dim + 3 * d + dim * d  # q, k, v rows (weights + biases) and the proj columns
    before = sum(p.numel() for p in m.parameters())
    assert sum(p.numel() for p in small.parameters()) == before - 3 * per_head
    assert small.blocks[0].attn.qkv.weight.shape == (3 * 2 * d, dim)
    assert small.blocks[0].attn.proj.weight.shape == (dim, 2 * d)


def test_importance_is_the_hand_autograd_score():
    """I_h = mean over images of |dL_i/d xi_h|, each image's gradient taken alone by autograd."""
    m, (x, y) = _tiny(depth=1, n_heads=2), _images(6)
    want = torch.zeros(2)
    for i in range(len(x)):
        gate = torch.ones(2, requires_grad=True)
        loss = F.cross_entropy(hand_forward(m, x[i:i + 1], [gate]), y[i:i + 1])
        (g,) = torch.autograd.grad(loss, gate)
        want += g.abs() / len(x)
    got = heads.importance(m, x, y, batch=4)  # batches of 4 and 2: the sum stays per image
    torch.testing.assert_close(got["blocks.0.attn"], want, rtol=1e-4, atol=1e-7)
    assert all(not p.requires_grad or p.grad is None for p in m.parameters())  # the model is untouched


def test_select_global_normalizes_per_layer_and_keeps_a_head():
    scores = {"a": torch.tensor([10.0, 20.0, 30.0, 40.0]), "b": torch.tensor([0.1, 0.2, 0.3, 0.4]),
              "c": torch.tensor([1.0, 2.0, 3.0, 4.0])}
    # every layer has the same normalised scores: 3 of 12 at s=0.25 are the three lowest, one per layer
    got = heads.select(scores, 0.25)
    assert [r.tolist() for r in got.values()] == [[True, False, False, False]] * 3
    # s = 0.99 removes all it can: one head stays in every layer
    assert [int((~r).sum()) for r in heads.select(scores, 0.99).values()] == [1, 1, 1]
    by_layer = heads.select({"a": torch.tensor([3.0, 1.0, 2.0, 4.0])}, 0.5, scope="layer")
    assert by_layer["a"].tolist() == [False, True, True, False]


def test_structure_record_and_plan():
    rec = structures.structure("heads")
    assert rec.slices_heads and not rec.slices_rows and rec.ranked_by
    m = _tiny()
    lp = plan.make(m, CompressionConfig(structure="heads", sparsity=0.5))
    assert lp.sliced and lp.masks_by_heads and not lp.masks_by_graph
    with pytest.raises(ConfigError, match="heads"):
        plan.make(m, CompressionConfig(structure="heads", sparsity=0.5,
                                       layer_sparsity=(("blocks.0.attn.qkv", 0.5),)))


def test_a_model_without_heads_says_so_and_prunes_nothing():
    r = pipeline.evaluate("mlp-digits", CompressionConfig(structure="heads", sparsity=0.5), latency=False)
    assert heads.NO_HEADS in r.notes
    assert r.sparsity == 0 and r.heads is None and r.accuracy == r.accuracy_baseline


def test_cli_evaluates_vit_fashion_with_heads(tmp_path, capsys):
    """Shipped vit-fashion weights on 300 Fashion-MNIST images (the first 128 score the heads)."""
    from compression import data
    ds = data.load("fashion-mnist")
    ckpt, npz = tmp_path / "vit.pt", tmp_path / "fashion.npz"
    torch.save(models.shared("vit-fashion").state_dict(), ckpt)
    np.savez(npz, x=ds.x_test[:300].numpy(), y=ds.y_test[:300].numpy())
    assert main(["evaluate", "--model-file", str(ckpt), "--arch", "vit-fashion", "--data", str(npz),
                 "--structure", "heads", "--sparsity", "0.25"]) == 0
    out = capsys.readouterr().out
    assert "accuracy " in out and "6 of 24 attention heads removed" in out
    assert "25.0% of attention-projection weights pruned" in out
    full = sum(p.numel() for p in models.shared("vit-fashion").parameters())
    per_head = 3 * 16 * 64 + 3 * 16 + 64 * 16
    assert f"{full - 6 * per_head:,} of {full:,} parameters left" in out


def test_head_scores_chart_marks_the_removed_heads():
    import json

    import plotly.graph_objects as go

    from compression import charts
    m, (x, y) = _tiny(depth=2, n_heads=4), _images(8)

    class DS:  # the two fields heads.score reads
        x_train, y_train, x_calib = x, y, x
    s = heads.score(m, DS(), 0.25)  # type: ignore[arg-type]
    import dataclasses
    fig = charts.head_scores(dataclasses.asdict(s))
    assert json.loads(fig.to_json()) == json.loads(go.Figure(fig.to_dict(), skip_invalid=False).to_json())
    bars = fig.data[0]
    amber = charts.PALETTE["accent"]
    assert [c == amber for c in bars.marker.color] == [g for row in s.removed for g in row]
    assert sum(c == amber for c in bars.marker.color) == 2  # round(0.25 * 8)
    assert list(bars.y) == [v for row in s.normalized for v in row]
    assert "2 of 8 heads removed" in fig.layout.title.subtitle.text
    assert list(bars.x[0])[:5] == ["layer 0"] * 4 + ["layer 1"]
    from ui.plots import summary  # the screen-reader line reads the two-level axis
    assert "at layer 0 h0" in summary(fig) and "at layer 1 h3" in summary(fig)


def test_fine_tuned_heads_stay_removed_and_the_cut_is_still_exact():
    """Fine-tuning holds the masks: the removed heads' proj columns stay zero, so the smaller model
    still computes what the compressed (masked, fine-tuned) one does."""
    from compression import apply, data
    m, (x, y) = _tiny(depth=2, n_heads=4), _images(64)
    ds = data.Dataset(name="tiny", x_train=x, y_train=y, x_test=x[:16], y_test=y[:16], x_calib=x[:32],
                      classes=tuple(str(i) for i in range(10)), input_shape=(1, 8, 8), source="test")
    config = CompressionConfig(structure="heads", sparsity=0.25, finetune_epochs=1)
    lp = plan.make(m, config)
    model, masks, _ = apply.compress(m, ds, config, layer_plan=lp)
    assert set(masks) == {f"blocks.{i}.attn.{p}.weight" for i in range(2) for p in ("qkv", "proj")}
    assert not torch.equal(model.blocks[0].fc1.weight, m.blocks[0].fc1.weight)  # it did train
    small = lp.runnable(model, ds.input_shape)
    assert sum(a.heads for a in heads.attentions(small).values()) == 6  # round(0.25 * 8) = 2 removed
    with torch.no_grad():
        torch.testing.assert_close(small(x), model(x), rtol=1e-5, atol=1e-6)


def test_rounds_rescore_with_the_removed_heads_gated_off():
    """steps=2: round 1 is the one-shot selection at s/2; round 2 scores the model with those heads
    gated off (hand forward, gate 0), and the kept heads show that round's scores."""
    m, (x, y) = _tiny(depth=2, n_heads=4), _images(16)

    class DS:
        x_train, y_train, x_calib = x, y, x
    got = heads.score(m, DS(), 0.5, steps=2)  # type: ignore[arg-type]
    first = heads.select(heads.importance(m, x, y), 0.25)
    assert all(bool((got_r >= f).all()) for got_r, f in zip(heads.removed_of(got).values(), first.values()))
    assert got.n_removed == 4
    gates = [(~first[f"blocks.{i}.attn"]).float() for i in range(2)]
    want = torch.zeros(2, 4)
    for i in range(len(x)):
        g = [t.clone().requires_grad_(True) for t in gates]
        loss = F.cross_entropy(hand_forward(m, x[i:i + 1], g), y[i:i + 1])
        want += torch.stack([t.abs() for t in torch.autograd.grad(loss, g)]) / len(x)
    for li in range(2):
        kept = [h for h in range(4) if not got.removed[li][h]]
        torch.testing.assert_close(torch.tensor([got.raw[li][h] for h in kept]), want[li, kept], rtol=1e-4, atol=1e-7)


def test_the_html_report_draws_the_head_scores(tmp_path):
    """The one-file report carries the head-score chart when heads were pruned (a tiny ViT, its own data)."""
    from compression import data, report_html
    m, (x, y) = _tiny(depth=2, n_heads=4), _images(64)
    ds = data.Dataset(name="tiny", x_train=x, y_train=y, x_test=x[:32], y_test=y[:32], x_calib=x[:32],
                      classes=tuple(str(i) for i in range(10)), input_shape=(1, 8, 8), source="test")
    r = pipeline.evaluate_model(m, ds, CompressionConfig(structure="heads", sparsity=0.5), latency=False)
    assert r.heads is not None and sum(map(sum, r.heads["removed"])) == 4
    assert r.params_sliced == sum(p.numel() for p in m.parameters()) - 4 * (3 * 2 * 8 + 3 * 2 + 8 * 2)
    assert "head-scores" in [i for i, _ in report_html.figures(r)]
    plain = pipeline.evaluate_model(m, ds, CompressionConfig(sparsity=0.5), latency=False)
    assert plain.heads is None and "head-scores" not in [i for i, _ in report_html.figures(plain)]


def test_neuron_criteria_score_a_vits_features_not_its_tokens():
    """APoZ / entropy on a Linear applied to tokens: one score per output feature (Explore's neuron view)."""
    from compression import criteria
    m, (x, _) = _tiny(depth=1, n_heads=2), _images(8)
    acts = criteria.activations(m, x)
    assert acts["blocks.0.fc1.weight"].shape == (8, 16, 4)  # (images, features, tokens)
    seen = []
    twin = _tiny(depth=1, n_heads=2)
    twin.blocks[0].fc1.register_forward_hook(lambda mod, a, o: seen.append(torch.relu(o.detach())))
    with torch.no_grad():
        twin(x)
    hand = (seen[0] == 0).double().mean((0, 1))  # share of zeros per feature over images and tokens
    torch.testing.assert_close(criteria.apoz(acts["blocks.0.fc1.weight"]), hand)
    masks = prune.masks(m, 0.5, structure="rows", criterion="apoz", data=(x, torch.zeros(8, dtype=torch.long)))
    assert masks["blocks.0.fc1.weight"].shape == m.blocks[0].fc1.weight.shape
