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
    total = sum(p.stat().st_size for p in models.ASSETS.glob("*.pt"))
    assert total < 10 * 2**20


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
