"""Which model: a zoo id, a torchvision architecture, or an uploaded file by content hash.

A `ModelSource` is a small frozen value (hashable, so caches can key on it) with one text
form shared by the URL and the CLI: `mlp-digits`, `resnet18`, `upload:<sha256 prefix>`.
`load(source)` turns it into a model, its input shape and its test data, or says in one
line why accuracy cannot be measured.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import torch
from torch import nn

from compression import data, isolation, loading, models

Kind = Literal["zoo", "arch", "upload"]
# torchvision classifiers offered without weights (none can be downloaded here), at the
# ImageNet input shape they were designed for.
ARCHITECTURES: tuple[str, ...] = ("resnet18", "mobilenet_v2")
IMAGENET_SHAPE = (3, 224, 224)
NO_WEIGHTS = "n/a (no trained weights)"
NO_DATA = "n/a (no test data)"


@dataclass(frozen=True)
class ModelSource:
    """One model choice. `name` is the zoo id, the architecture, or the upload's hash prefix.

    For uploads, `arch` names the architecture a state dict belongs to (None for a
    torch.export program) and `data` the hash prefix of an uploaded `.npz` test set.
    """

    kind: Kind
    name: str
    arch: str | None = None
    data: str | None = None
    seed: int = 0  # initialisation of an architecture without weights

    def __str__(self) -> str:
        if self.kind != "upload":
            return self.name
        # the data hash is part of the word: a link must reopen the model *with* its test set
        return f"upload:{self.name}" + (f".{self.data}" if self.data else "")

    @property
    def label(self) -> str:
        """A short human name for cards and legends."""
        if self.kind == "zoo":
            return self.name
        if self.kind == "arch":
            return f"{self.name} (random init)"
        return f"uploaded {self.arch or 'program'} {self.name[:8]}" + (" + data" if self.data else "")


class Loaded(NamedTuple):
    """What `load` gives: the model (eval mode, a fresh copy), input shape (C, H, W) or (F,),
    the data set or None, and None or the one-line reason accuracy is not measured."""

    model: nn.Module
    input_shape: tuple[int, ...]
    dataset: data.Dataset | None
    why_no_accuracy: str | None


def parse(text: str, arch: str | None = None, data_hash: str | None = None) -> ModelSource:
    """A source from its URL/CLI word; unknown words raise ModelError in one sentence."""
    text = (text or "").strip()
    if text.startswith("upload:"):
        digest, _, data_part = text[len("upload:"):].lower().partition(".")
        for h in (digest, data_part) if data_part else (digest,):
            if len(h) < 8 or any(c not in "0123456789abcdef" for c in h):
                raise models.ModelError(f"model '{text[:80]}' is not upload:<hash>[.<data hash>] with at least "
                                        f"8 hex digits each")
        data_hash = data_hash or data_part or None
        if arch is not None:
            _check_arch(arch)
        return ModelSource("upload", digest, arch=arch, data=data_hash)
    if text in models.ZOO:
        return ModelSource("zoo", text)
    if text in ARCHITECTURES:
        return ModelSource("arch", text)
    raise models.ModelError(f"unknown model '{text}': known models are "
                            f"{', '.join([*models.ZOO, *ARCHITECTURES])}, or upload:<hash>")


def upload(model_file: str | Path, arch: str | None = None, data_file: str | Path | None = None,
           content: bytes | None = None, data_content: bytes | None = None,
           data_options: dict[str, str] | None = None) -> ModelSource:
    """Store a model file (and optional test data) in the cache and return its source.

    Test data is an `.npz` (x, y), a `.zip` of a torchvision ImageFolder layout, or a folder
    of that layout (zipped here, always to the same bytes). `data_options` ("resize": "1",
    "normalize": "MEAN,STD") say how images are read; they are kept beside the stored zip.
    `content`/`data_content` give the bytes directly (a page upload); else the paths are read.
    A state dict (.pt/.pth/.safetensors) needs `arch`; the file is checked by loading it once.
    """
    name = Path(model_file).name
    suffix = Path(name).suffix.lower()
    if suffix not in loading.MODEL_SUFFIXES:
        raise loading.FileRejected(f"{name}: a model file must be one of {', '.join(loading.MODEL_SUFFIXES)}")
    if suffix != ".pt2" and arch is None:
        raise loading.FileRejected(f"{name} is a state dict: name its architecture (--arch, a zoo id "
                                   f"or one of {', '.join(ARCHITECTURES)})")
    if arch is not None:
        _check_arch(arch)
    blob = content if content is not None else _read(Path(model_file))
    stored = loading.store(blob, name, {"arch": arch} if arch else None)
    data_hash = None
    if data_file is not None or data_content is not None:
        dname = Path(data_file).name if data_file is not None else "data.npz"
        if data_content is None and data_file is not None and Path(data_file).is_dir():
            dblob, dname = loading.zip_folder(Path(data_file)), f"{Path(data_file).resolve().name}.zip"
        else:
            dblob = data_content if data_content is not None else _read(Path(data_file or ""))
        options = {k: str(v) for k, v in (data_options or {}).items() if v not in (None, "", False)}
        if options and not dname.lower().endswith(".zip"):
            raise loading.FileRejected(f"{dname}: resizing and normalization apply to image folders (.zip "
                                       f"or a folder), not to .npz arrays")
        loading.image_options(options, dname)  # a bad MEAN,STD is one sentence before anything is stored
        data_hash = loading.store(dblob, dname, variant=options).short
    source = ModelSource("upload", stored.short, arch=arch, data=data_hash)
    load(source)  # refuse a bad file now, with its one sentence, not at first use
    return source


def load(source: ModelSource, data_dir: str | Path | None = None) -> Loaded:
    """The model, its input shape, its test data (or None) and why accuracy is n/a (or None)."""
    if source.kind == "zoo" and models.spec(source.name).language:
        raise models.ModelError(f"{source.name} is a language model: it is measured by perplexity "
                                f"(`python -m compression evaluate --model {source.name}`, compression.lm.evaluate), "
                                f"not by this image-classifier view")
    if source.kind == "zoo":
        model = models.shared(source.name, data_dir=data_dir)  # read only: compress() copies it
        loading.check_finite(model.state_dict(), f"checkpoint of {source.name}")
        ds = data.load(models.spec(source.name).dataset, data_dir=data_dir)
        return Loaded(model, tuple(ds.input_shape), ds, None)
    if source.kind == "arch":
        return Loaded(build_arch(source.name, source.seed), IMAGENET_SHAPE, None, NO_WEIGHTS)
    # Every opening re-validates the stored file (a link to a hash is no way around the
    # checks), and a refused file is deleted: no later visitor can reach it by its hash.
    stored = loading.find(source.name)
    name = loading.display_name(stored)
    arch = source.arch or loading.meta(stored).get("arch")
    with _forget_if_refused(stored):
        if stored.path.suffix == ".pt2":
            model, shape = loading.load_exported(stored.path, name)
        elif arch is None:
            raise loading.FileRejected(f"{name} is a state dict with no architecture named")
        else:
            model, shape = _arch_model(arch, source.seed)
            model = loading.load_state_dict(model, loading.read_state_dict(stored.path, name), name)
    if source.data is None:
        return Loaded(model, shape or (), None, NO_DATA)
    stored_data = loading.find(source.data)
    data_name = loading.display_name(stored_data)
    images = None
    with _forget_if_refused(stored_data):
        if stored_data.path.suffix == ".zip":  # an ImageFolder layout; its options lie beside it
            x, y, images = loading.read_images(stored_data.path, data_name, shape or (), loading.meta(stored_data))
        else:
            x, y = loading.read_npz(stored_data.path, data_name)
        loading.check_fits(model, x, y, data_name)
    return Loaded(model, tuple(x.shape[1:]), _dataset(data_name, source.data, x, y, images), None)


@contextlib.contextmanager
def _forget_if_refused(stored: loading.StoredFile) -> Iterator[None]:
    try:
        yield
    except loading.FileRejected:
        loading.forget(stored)
        raise


def build_arch(name: str, seed: int = 0) -> nn.Module:
    """A torchvision classifier, randomly initialised from `seed` (no weights are downloaded)."""
    import torchvision.models as tvm  # deferred: torchvision adds ~1 s to start-up

    if name not in ARCHITECTURES:
        raise models.ModelError(f"unknown architecture '{name}': known are {', '.join(ARCHITECTURES)}")
    with isolation.seeded(seed):  # seeded without moving the caller's RNG, one builder at a time
        return getattr(tvm, name)(weights=None).eval()


def _arch_model(arch: str, seed: int) -> tuple[nn.Module, tuple[int, ...]]:
    """An untrained model of a zoo id or torchvision architecture, and its input shape."""
    if arch in models.ZOO:
        try:  # the zoo model's own data set knows its input shape
            shape: tuple[int, ...] = tuple(data.load(models.spec(arch).dataset, download=False).input_shape)
        except data.DataUnavailable:  # unknown until the user's data says
            shape = ()
        return models.build(arch, seed).eval(), shape
    return build_arch(arch, seed), IMAGENET_SHAPE


def _check_arch(arch: str) -> None:
    if arch not in models.ZOO and arch not in ARCHITECTURES:
        raise models.ModelError(f"unknown architecture '{arch}': give a zoo id ({', '.join(models.ZOO)}) "
                                f"or one of {', '.join(ARCHITECTURES)}")


def _dataset(name: str, digest: str, x: torch.Tensor, y: torch.Tensor,
             images: loading.ImageFolderInfo | None = None) -> data.Dataset:
    """An uploaded test set as a Dataset: every row the user gave is scored (for an image
    folder: every image read; the class names are its folder names).

    Calibration (int8 observer ranges, and the few rows fine-tuning or distillation use)
    needs rows too; taking them out of the test set would make the score depend on row
    order (sorted by label, class 0 would vanish). So calibration uses a copy of a seeded
    stratified sample of the rows, and the data set's source line says so.
    """
    n_calib = min(loading.N_CALIB, len(x))
    idx = _stratified(y, n_calib, seed=0)
    classes = images.classes if images else tuple(str(c) for c in range(int(y.max()) + 1))
    rows = (f"all {len(x)} images ({images.describe()}) in {len(classes)} class folders are the test set"
            + (f" ({images.skipped})" if images.skipped else "") if images else f"all {len(x)} rows are the test set")
    return data.Dataset(
        name=f"upload:{digest}", x_train=x[idx].clone(), y_train=y[idx].clone(), x_test=x, y_test=y,
        x_calib=x[idx].clone(), classes=classes, input_shape=tuple(x.shape[1:]),  # type: ignore[arg-type]
        source=f"uploaded {name}: {rows}; calibration uses a copy of {n_calib} of them (a seeded stratified sample)",
    )


def _stratified(y: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """`n` row indices with each class in proportion to its count (shuffled within a class, seeded)."""
    labels = y.numpy()
    order = np.random.default_rng(seed).permutation(len(labels))
    by_class = order[np.argsort(labels[order], kind="stable")]  # classes in blocks, random inside each
    picks = np.linspace(0, len(labels) - 1, n).round().astype(np.int64)  # evenly through the blocks
    return torch.from_numpy(np.sort(by_class[picks]))


def _read(path: Path) -> bytes:
    if not path.is_file():
        raise loading.FileRejected(f"{path.name} does not exist")
    loading.check_size(path.stat().st_size, path.name)  # before reading 10 GB into memory
    return path.read_bytes()
