"""Model zoo: ids, shipped checkpoints, fresh copies, clear errors, deterministic rebuild."""
import pytest
import torch

from compression import data, measure, models, train


def test_unknown_id_lists_known_ones():
    with pytest.raises(models.ModelError) as e:
        models.load("resnet-9000")
    assert all(mid in str(e.value) for mid in models.ZOO)


@pytest.mark.parametrize("model_id", ["mlp-digits", "cnn-digits", "mlp-small-digits"])
def test_shipped_checkpoints_load_in_eval_mode_as_fresh_copies(model_id):
    a, b = models.load(model_id), models.load(model_id)
    assert not a.training and a is not b
    with torch.no_grad():
        a.fc1.weight.zero_()
    assert torch.count_nonzero(b.fc1.weight) > 0  # the cache was not touched


def test_mlp_digits_reaches_97_percent():
    ds = data.load("digits")
    assert measure.accuracy(models.load("mlp-digits"), ds.x_test, ds.y_test) >= 0.97


def test_assets_are_small():
    sizes = {p.name: p.stat().st_size for p in models.ASSETS.glob("*.pt")}
    assert all(size <= 5 * 2**20 for size in sizes.values()), sizes  # each checkpoint at most 5 MiB
    assert sum(sizes.values()) < 16 * 2**20


FASHION = ["lenet5-fashion", "resnet-fashion", "mobilenet-fashion", "vit-fashion"]


def _stratified_test_subset(ds, per_class: int = 30):
    """The first `per_class` test images of each class: a fixed subset small enough for seconds."""
    idx = torch.cat([torch.nonzero(ds.y_test == c).flatten()[:per_class] for c in range(10)])
    return ds.x_test[idx], ds.y_test[idx]


@pytest.mark.parametrize("model_id", FASHION)
def test_fashion_models_ship_trained(model_id):
    # Shipped (loaded offline, no training); the full 10,000-image figures are in the README
    # (`python -m compression models`); here 300 test images, a loose floor (the Wilson
    # interval on 300 images is about +-3.5 points around 90 %).
    spec = models.spec(model_id)
    assert spec.dataset == "fashion-mnist" and spec.shipped and models.checkpoint_path(model_id).exists()
    x, y = _stratified_test_subset(data.load("fashion-mnist"))
    model = models.load(model_id)
    with torch.no_grad():
        correct = (model(x).argmax(1) == y).float().mean().item()  # by hand, not measure.accuracy
    assert correct >= 0.82, correct


def test_resnet_fashion_has_batchnorm_identity_and_projection_shortcuts():
    from compression.zoo import BasicBlock

    model = models.build("resnet-fashion")
    blocks = [m for m in model.modules() if isinstance(m, BasicBlock)]
    kinds = {type(b.shortcut).__name__ for b in blocks}
    assert kinds == {"Identity", "Sequential"}  # He et al.'s identity and projection (option B)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())


def test_mobilenet_fashion_has_depthwise_convs_and_inverted_residuals():
    from compression.zoo import InvertedResidual

    model = models.build("mobilenet-fashion")
    depthwise = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1]
    assert depthwise and all(m.groups == m.in_channels == m.out_channels for m in depthwise)
    blocks = [m for m in model.modules() if isinstance(m, InvertedResidual)]
    assert any(b.residual for b in blocks) and any(not b.residual for b in blocks)


def test_vit_fashion_linear_layers_are_all_compressible():
    from compression.layers import compressible

    model = models.build("vit-fashion")
    linear = {n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    assert set(compressible(model)) == linear and len(linear) == 2 + 6 * 4  # embed, head; qkv, proj, fc1, fc2
    assert any(isinstance(m, torch.nn.LayerNorm) for m in model.modules())
    # multi-head attention computed as softmax(q k^T / sqrt(d)) v per head: PyTorch's own
    # scaled_dot_product_attention is the reference
    attn = model.blocks[0].attn
    x = torch.randn(2, 16, 64)
    b, n, _ = x.shape
    q, k, v = attn.qkv(x).reshape(b, n, 3, attn.heads, attn.head_dim).permute(2, 0, 3, 1, 4)
    ref = attn.proj(torch.nn.functional.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, -1))
    with torch.no_grad():
        assert torch.allclose(attn(x), ref, atol=1e-5)


@pytest.mark.parametrize("model_id, floor", [("lenet300-mnist", 0.93), ("lenet5-mnist", 0.97),
                                             ("mlp800-mnist", 0.93), ("mlp30-mnist", 0.88)])
def test_mnist5k_models_ship_trained(model_id, floor):
    # Shipped, so they load offline with no training; LeNet-300-100 >= 93 % on the 1,000 test images.
    spec = models.spec(model_id)
    assert spec.dataset == "mnist-5k" and spec.shipped and models.checkpoint_path(model_id).exists()
    ds = data.load("mnist-5k")
    assert measure.accuracy(models.load(model_id), ds.x_test, ds.y_test) >= floor


def test_lenet_shapes_match_the_papers():
    # Han et al. 2015 Table 1: LeNet-300-100 has 267K weights, Caffe's LeNet-5 431K.
    count = lambda m: sum(p.numel() for p in models.build(m).parameters())
    assert count("lenet300-mnist") == 784 * 300 + 300 + 300 * 100 + 100 + 100 * 10 + 10
    assert count("lenet5-mnist") == 431_080
    assert models.spec("lenet300-mnist-full").dataset == "mnist" and not models.spec("lenet5-mnist-full").shipped


def test_corrupt_checkpoint_gives_one_clear_sentence(tmp_path, monkeypatch):
    bad = tmp_path / "checkpoints"
    bad.mkdir()
    (bad / "mlp-digits.pt").write_bytes(b"not a checkpoint")
    monkeypatch.setattr(models, "ASSETS", bad)
    with pytest.raises(models.ModelError, match="cannot be read.*python -m compression train"):
        models.load("mlp-digits")


def test_missing_mnist_data_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPRESSION_LAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "_reachable", lambda *a, **k: False)
    with pytest.raises(data.DataUnavailable) as e:
        models.load("lenet300-mnist-full", data_dir=tmp_path / "nodata")
    assert "MNIST" in str(e.value) and "\n" not in str(e.value)


def test_training_is_deterministic(tmp_path):
    # Same seed, same weights: the same recipe run twice gives identical checkpoints.
    spec = models.spec("mlp-small-digits")
    ds = data.load("digits")
    runs = []
    for _ in range(2):
        model = models.build(spec.id, seed=0)
        train.fit(model, ds.x_train, ds.y_train, 2, lr=spec.lr, seed=0, one_cycle=True)
        runs.append(model.state_dict())
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
