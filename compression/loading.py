"""Users' files, read without running their code: weights, torch.export programs, test data.

Every reader here refuses rather than trusts. Before torch sees a byte, a worker process
with a memory and CPU limit (compression.upload_worker) reads the zip headers of `.npz`,
`.pt2`, `.pt` and image-folder `.zip` files (sizes, ratio, member count, names:
compression.safe_zip) and, for `.pt2`, checks every entry, JSON field, operator and
symbolic expression against an allow-list (compression.safe_pt2), because
`torch.export.load` evaluates expressions with sympy, `ExportedProgram.module()` executes
`guards_code`, and pickled parts fall back to `weights_only=False`. `.npz` arrays and
image folders (PNG/JPEG through Pillow) are decoded in that worker only, and come back as
float32/int64 `.npy` files it wrote. Pickle is only ever read by
`torch.load(weights_only=True)`; `.safetensors` holds no code at all. Files are kept in
the user cache under their SHA-256, in a folder with a size cap (least recently used
files go first); a refused file is deleted.
"""
from __future__ import annotations

import collections
import contextlib
import hashlib
import io
import json
import logging
import operator
import os
import re
import subprocess
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from compression import safe_pt2, upload_worker
from compression.safe_zip import MB, UPLOAD_LIMIT, printable

MAX_BYTES = UPLOAD_LIMIT  # one limit for files and for their unpacked content; MB = 10^6 bytes
MAX_ROWS = upload_worker.MAX_ROWS  # rows of an uploaded test set (checked from the .npy header)
UPLOADS_CAP = 2_000 * MB  # the uploads folder; least recently used files are evicted beyond it
MODEL_SUFFIXES = (".pt2", ".pt", ".pth", ".safetensors")
DATA_SUFFIXES = (".npz", ".zip")  # arrays x and y, or a zipped torchvision ImageFolder layout
N_CALIB = 128  # calibration rows: a seeded stratified sample (a copy) of an uploaded test set
HASH_CHARS = 16  # hex digits of the SHA-256 that name an upload in a URL (64 bits)
WORKER_TIMEOUT_S = 300  # wall clock for the worker; its CPU time is limited to 120 s inside
WORKER_MEMORY = upload_worker.MEMORY_LIMIT  # the worker's address space (RLIMIT_AS)


class FileRejected(ValueError):
    """A user's file that is refused: unsafe, too large, malformed, or not fitting the model.

    The message is one line without terminal escape codes or control characters, whatever
    the file's name or torch's exception text held.
    """

    def __init__(self, message: str) -> None:
        super().__init__(printable(message, 400))


def limit_text() -> str:
    """The size limit as every page and CLI message words it."""
    return f"{MAX_BYTES / MB:g} MB (1 MB = 10^6 bytes)"


@dataclass(frozen=True)
class StoredFile:
    """An upload in the cache: its content hash (full hex) and where it lies."""

    sha256: str
    path: Path

    @property
    def short(self) -> str:
        """The hash prefix that names the upload in a URL."""
        return self.sha256[:HASH_CHARS]


def uploads_dir() -> Path:
    """Where uploads are kept: $COMPRESSION_LAB_CACHE/uploads, else ~/.cache/compression-lab/uploads."""
    root = os.environ.get("COMPRESSION_LAB_CACHE") or Path.home() / ".cache" / "compression-lab"
    return Path(root) / "uploads"


def store(content: bytes, filename: str, meta: Mapping[str, str] | None = None,
          variant: Mapping[str, str] | None = None) -> StoredFile:
    """Keep an uploaded file under its SHA-256 (suffix from `filename`); `meta` goes in a JSON beside it.

    The user's own file name is kept in that JSON (as "name"), so messages can say it
    instead of the hash. `variant` (how the file is read: an image folder's resize and
    normalization) is kept there too and is part of the name: the SHA-256 of the content
    followed by the variant's JSON, so the same zip read two ways is two links, each
    reopening its own way. The folder is then trimmed to UPLOADS_CAP, oldest use first.
    """
    filename = printable(Path(str(filename)).name, 120) or "the uploaded file"
    suffix = Path(filename).suffix.lower()
    if suffix not in (*MODEL_SUFFIXES, *DATA_SUFFIXES):
        raise FileRejected(f"{filename}: unsupported file type {suffix or '(none)'}; give one of "
                           f"{', '.join((*MODEL_SUFFIXES, *DATA_SUFFIXES))}")
    check_size(len(content), filename)
    meta = {**(meta or {}), **(variant or {}), "name": filename}
    digest = hashlib.sha256(content + (b"\0" + json.dumps(dict(variant), sort_keys=True).encode()
                                       if variant else b"")).hexdigest()
    folder = uploads_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest}{suffix}"
    if not path.exists():
        tmp = path.with_suffix(suffix + ".tmp")
        tmp.write_bytes(content)
        tmp.replace(path)  # atomic: a half-written upload is never found by its hash
    else:
        os.utime(path)  # a re-upload counts as a use
    (folder / f"{digest}.json").write_text(json.dumps(dict(meta), sort_keys=True))
    _evict(folder, keep=path)
    return StoredFile(digest, path)


def _evict(folder: Path, keep: Path, cap: int | None = None) -> None:
    """Delete least recently used uploads until the folder holds at most `cap` bytes (never `keep`)."""
    cap = UPLOADS_CAP if cap is None else cap
    files = [p for p in folder.iterdir() if p.suffix in (*MODEL_SUFFIXES, *DATA_SUFFIXES) and p.is_file()]
    total = sum(p.stat().st_size for p in files)
    for p in sorted(files, key=lambda p: p.stat().st_mtime):
        if total <= cap:
            break
        if p == keep:
            continue
        total -= p.stat().st_size
        forget(StoredFile(p.stem, p))


def forget(stored: StoredFile) -> None:
    """Delete an upload and the JSON beside it (a refused file must not stay reachable by its hash)."""
    for p in (stored.path, stored.path.with_name(f"{stored.sha256}.json")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def display_name(stored: StoredFile) -> str:
    """The user's own file name for messages (never the cache hash)."""
    try:
        name = meta(stored).get("name")
    except (OSError, ValueError):
        name = None
    return printable(name, 120) if name else f"the uploaded {stored.path.suffix} file"


def find(prefix: str) -> StoredFile:
    """The stored upload whose hash starts with `prefix`; one sentence if this server lacks it."""
    if not prefix or any(c not in "0123456789abcdef" for c in prefix.lower()):
        raise FileRejected(f"upload:{prefix} is not a content hash (hex digits expected)")
    folder = uploads_dir()
    hits = sorted(p for p in folder.glob(f"{prefix.lower()}*") if p.suffix in (*MODEL_SUFFIXES, *DATA_SUFFIXES))
    if not hits:
        raise FileRejected(f"upload:{prefix} is not on this server (uploads live in {folder}): "
                           f"upload the file again")
    if len({p.stem for p in hits}) > 1:
        raise FileRejected(f"upload:{prefix} matches {len(hits)} uploads: give more hex digits of the hash")
    with contextlib.suppress(OSError):
        os.utime(hits[0])  # its last use, for least-recently-used eviction
    return StoredFile(hits[0].stem, hits[0])


def meta(stored: StoredFile) -> dict[str, str]:
    """The JSON kept beside an upload (e.g. its architecture), or {}."""
    side = stored.path.with_name(f"{stored.sha256}.json")
    try:
        got = json.loads(side.read_text()) if side.exists() else {}
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in got.items()} if isinstance(got, dict) else {}


def read_state_dict(path: Path, name: str | None = None) -> dict[str, torch.Tensor]:
    """Tensors of a `.pt`/`.pth` (zip headers checked in the worker, then the weights_only
    unpickler) or `.safetensors` file. `name` is the user's file name for messages."""
    path = Path(path)
    name = name or path.name
    check_size(path.stat().st_size, name)
    if path.suffix.lower() == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            with quiet():
                state = load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError, RuntimeError) as e:
            raise FileRejected(f"{name} is not a readable safetensors file ({_first_line(e)})") from None
    else:
        content = path.read_bytes()
        checked("pt", path, content, name)
        try:
            # weights_only: the restricted unpickler refuses any global that is not a tensor,
            # storage or plain container, so a __reduce__ payload is never called.
            with quiet():
                state = torch.load(io.BytesIO(content), map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - a hostile file may raise anything; all mean "refuse"
            raise FileRejected(f"{name} was refused: it is not a plain state dict of tensors that "
                               f"loads with torch.load(weights_only=True) ({_pickle_reason(e)})") from None
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]  # the common {"state_dict": ..., "epoch": ...} checkpoint
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise FileRejected(f"{name} holds no state dict (a mapping of names to tensors)")
    return {printable(str(k), 200): v for k, v in state.items()}


def _pickle_reason(e: BaseException) -> str:
    """What the weights_only unpickler objected to, without torch's advice on bypassing it."""
    text = str(e)
    hit = (re.search(r"Unsupported global: GLOBAL ([\w.]+)", text) or re.search(r"unsupported GLOBAL ([\w.]+)", text)
           or re.search(r"Unsupported operand (\w+)", text))
    if hit:
        return f"it references {printable(hit.group(1), 80)}, which is not a tensor type"
    if "weights_only" in text.lower() or "Weights only" in text:
        return "it holds Python objects other than tensors"
    return _first_line(e)


def load_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor], name: str) -> nn.Module:
    """Put `state` into `model`, saying in one sentence what did not fit; refuses NaN/Inf."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    if missing or extra:
        raise FileRejected(f"{name} does not fit the architecture: "
                           + "; ".join(filter(None, [_few("missing", missing), _few("unexpected", extra)])))
    for k, v in own.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise FileRejected(f"{name} does not fit the architecture: {k} has shape "
                               f"{tuple(state[k].shape)}, the model expects {tuple(v.shape)}")
    complex_ = [k for k, v in state.items() if v.is_complex()]
    if complex_:
        raise FileRejected(f"{name} holds complex tensors ({_few('', complex_).strip()}); real weights are expected")
    # Checked after the cast to the model's dtype: a float64 1e300 is finite, its float32 is not.
    cast = {k: v.to(own[k].dtype) for k, v in state.items()}
    check_finite(cast, name)
    model.load_state_dict(cast)
    return model.eval()


def check_finite(state: Mapping[str, torch.Tensor], name: str) -> None:
    """Refuse weights holding NaN or Inf (they make every later statistic meaningless)."""
    bad = [k for k, v in state.items() if (v.is_floating_point() or v.is_complex()) and not torch.isfinite(v).all()]
    if bad:
        raise FileRejected(f"{name} holds NaN or Inf weights in {_few('', bad).strip()}: "
                           f"fix the training run that wrote it")


def load_exported(path: Path, name: str | None = None) -> tuple[nn.Module, tuple[int, ...] | None]:
    """A `torch.export.save` program as a module, and its example input shape (without batch).

    The archive is validated in the worker (compression.safe_pt2) every time it is opened,
    also when a link names a stored hash; torch then reads exactly the bytes that were
    validated (their hash is compared), never a file that changed in between.
    """
    path = Path(path)
    name = name or path.name
    check_size(path.stat().st_size, name)
    content = path.read_bytes()
    checked("pt2", path, content, name)
    try:
        with quiet():
            _check_sample_inputs(content, name)
            program = torch.export.load(io.BytesIO(content))
    except FileRejected:
        raise
    except Exception as e:  # noqa: BLE001 - a hostile file may raise anything; all mean "refuse"
        raise FileRejected(f"{name} is not a torch.export program this PyTorch can read "
                           f"({_first_line(e)})") from None
    _check_ops(program, name)
    args = program.example_inputs[0] if program.example_inputs else ()
    example = args[0] if len(args) == 1 and isinstance(args[0], torch.Tensor) else None
    if example is None:
        raise FileRejected(f"{name} was refused: the program must take one tensor input")
    with quiet():
        module = _with_layers(program.module())
    check_finite(dict(module.state_dict()), name)
    return _batch_safe(module, example), tuple(example.shape[1:])


def _check_sample_inputs(content: bytes, name: str) -> None:
    """torch.export.load tries weights_only=True on the sample inputs and falls back to full
    pickle when that fails; the same bytes must load here with weights_only=True, so the
    fallback is never reached."""
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        for entry in archive.namelist():
            if "/data/sample_inputs/" in entry:
                try:
                    torch.load(io.BytesIO(archive.read(entry)), weights_only=True)
                except Exception:  # noqa: BLE001 - a hostile file may raise anything; all mean "refuse"
                    raise FileRejected(f"{name} was refused: its sample inputs are not plain tensors "
                                       f"(pickled objects are refused)") from None


def _with_layers(gm: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """Turn functional aten.linear/conv2d calls back into nn.Linear/nn.Conv2d submodules.

    An exported program computes with functional operators, so it holds no layer modules;
    pruning, quantization and the per-layer report find layers by module type, so the
    module holding each weight becomes the matching layer, sharing the same parameters.
    """
    graph = gm.graph
    for node in list(graph.nodes):
        if node.op == "call_module" and node.target == "_guards_fn":
            graph.erase_node(node)  # export's input-shape guard; batch handling is _batch_safe's
            continue
        if node.op != "call_function" or node.target not in (torch.ops.aten.linear.default,
                                                              torch.ops.aten.conv2d.default):
            continue
        w_node = node.args[1]
        b_node = node.args[2] if len(node.args) > 2 else None
        if getattr(w_node, "op", None) != "get_attr" or not w_node.target.endswith(".weight"):
            continue
        owner = w_node.target.rsplit(".", 1)[0]
        if b_node is not None and getattr(b_node, "target", None) != f"{owner}.bias":
            continue
        weight = gm.get_parameter(w_node.target)
        bias = gm.get_parameter(b_node.target) if b_node is not None else None
        if node.target is torch.ops.aten.linear.default:
            layer: nn.Module = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
        else:
            stride, padding, dilation, groups = (list(node.args[3:]) + [1, 0, 1, 1][len(node.args[3:]):])[:4]
            layer = nn.Conv2d(weight.shape[1] * groups, weight.shape[0], tuple(weight.shape[2:]),
                              stride=_pair(stride), padding=_pair(padding), dilation=_pair(dilation),
                              groups=groups, bias=bias is not None)
        layer.weight = weight
        if bias is not None:
            layer.bias = bias
        parent, _, leaf = owner.rpartition(".")
        setattr(gm.get_submodule(parent) if parent else gm, leaf, layer)
        with graph.inserting_before(node):
            call = graph.call_module(owner, (node.args[0],))
        node.replace_all_uses_with(call)
        graph.erase_node(node)
    graph.eliminate_dead_code()
    # A plain GraphModule: export's own class refuses .eval()/.train(), which callers use.
    return torch.fx.GraphModule(gm, graph).eval()


def _pair(v: object) -> tuple[int, int]:
    v = list(v) if isinstance(v, (list, tuple)) else [v]
    return (int(v[0]), int(v[-1]))


class _FixedBatch(nn.Module):
    """Runs a program exported for batch size `batch` on any batch, chunk by chunk (padded).

    It shares the program's own parameter, buffer and submodule tables (the same dicts),
    so every name (state_dict keys, layer names in reports) is the user's own, without a
    wrapper prefix; the program itself is kept outside the module tree.
    """

    def __init__(self, inner: nn.Module, batch: int) -> None:
        super().__init__()
        self._parameters, self._buffers, self._modules = inner._parameters, inner._buffers, inner._modules
        self.__dict__["_program"] = inner  # not a child: its children are already ours
        self.batch = batch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs for every row of x."""
        inner = self.__dict__["_program"]
        inner.training = self.training
        outs = []
        for chunk in x.split(self.batch):
            pad = self.batch - len(chunk)
            full = torch.cat([chunk, chunk.new_zeros((pad, *chunk.shape[1:]))]) if pad else chunk
            outs.append(inner(full)[: len(chunk)])
        return torch.cat(outs)


def _batch_safe(module: nn.Module, example: torch.Tensor) -> nn.Module:
    """The module if it handles any batch size (checked on two inputs), else chunked at its own."""
    probe = torch.cat([example[:1], example[:1] * 0.5])
    try:
        with torch.no_grad():
            together = module(probe)
            alone = torch.cat([module(probe[:1]), module(probe[1:])])
        if together.shape == alone.shape and torch.allclose(together, alone, atol=1e-5):
            return module
    except (RuntimeError, AssertionError, ValueError, IndexError):  # a reshape baked to the export batch
        return _FixedBatch(module, len(example))
    return _FixedBatch(module, len(example))


_SIZE_OPERATORS = tuple(getattr(operator, n) for n in safe_pt2.SIZE_OPERATORS)


def _check_ops(program: torch.export.ExportedProgram, name: str) -> None:
    """Only ATen/prims operators and tuple indexing may run: no Python callables from the file."""
    for node in program.graph.nodes:
        if node.op != "call_function":
            continue
        target = node.target
        if target in _SIZE_OPERATORS:  # tuple indexing, SymInt arithmetic of dynamic shapes
            continue
        if isinstance(target, torch._ops.OpOverload) and target.namespace in ("aten", "prims"):
            continue
        raise FileRejected(f"{name} was refused: it calls {target}, not a built-in tensor operator")


def read_npz(path: Path, name: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(x float32, y int64) from an `.npz` with arrays `x` and `y`.

    Decoded in the worker: zip headers and .npy headers are checked before reading, object
    arrays (pickle) and complex numbers are refused, NaN/Inf are checked on the float32
    values the model will see, labels are checked as the integers they are.
    """
    path = Path(path)
    name = name or path.name
    check_size(path.stat().st_size, name)
    content = path.read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    if digest in _DECODED:  # these very bytes were decoded by the worker in this process
        _DECODED.move_to_end(digest)
        return _DECODED[digest]
    with tempfile.TemporaryDirectory(prefix="upload-") as out:
        checked("npz", path, content, name, out, remember=False)
        x = torch.from_numpy(np.load(Path(out) / "x.npy", allow_pickle=False))
        y = torch.from_numpy(np.load(Path(out) / "y.npy", allow_pickle=False))
    _DECODED[digest] = (x, y)  # shared like data.load's sets: callers never modify them in place
    while len(_DECODED) > 2:
        _DECODED.popitem(last=False)
    return x, y


def read_images(path: Path, name: str | None = None, shape: tuple[int, ...] = (),
                options: Mapping[str, str] | None = None) -> tuple[torch.Tensor, torch.Tensor, ImageFolderInfo]:
    """(x float32 (N, C, H, W), y int64, what was read) from a zip of a torchvision ImageFolder layout.

    Decoded in the worker with Pillow after the same zip-header checks as `.npz` (member
    count, sizes, ratio, plain names): class index = position of the folder name in sorted
    order, pixels / 255 with the image's own channels (grey 1, colour 3) as ToTensor gives
    them. `shape` is the model's input (C, H, W) when known: images must fit it. `options`
    (an upload's stored meta) may hold "resize" ("1": to the model's H×W, bilinear, as
    torchvision's Resize) and "normalize" ("MEAN,STD": (x - MEAN) / STD after the division).
    Unreadable images are skipped and counted; everything else is one sentence.
    """
    path = Path(path)
    name = name or path.name
    check_size(path.stat().st_size, name)
    opts = image_options(options or {}, name)
    job = {"shape": [int(n) for n in shape], **opts}
    content = path.read_bytes()
    key = hashlib.sha256(content).hexdigest() + json.dumps(job, sort_keys=True)
    if key in _DECODED_IMAGES:
        _DECODED_IMAGES.move_to_end(key)
        return _DECODED_IMAGES[key]
    with tempfile.TemporaryDirectory(prefix="upload-") as out:
        answer = checked("images", path, content, name, out, remember=False, options=job)
        x = torch.from_numpy(np.load(Path(out) / "x.npy", allow_pickle=False))
        y = torch.from_numpy(np.load(Path(out) / "y.npy", allow_pickle=False))
    skipped = {str(k): int(v) for k, v in dict(answer.get("skipped") or {}).items()}
    info = ImageFolderInfo(tuple(printable(str(c), 60) for c in answer.get("classes", [])),
                           upload_worker.skipped_text(skipped), opts)
    _DECODED_IMAGES[key] = (x, y, info)
    while len(_DECODED_IMAGES) > 2:
        _DECODED_IMAGES.popitem(last=False)
    return x, y, info


@dataclass(frozen=True)
class ImageFolderInfo:
    """What an image folder held beside its pixels: class (folder) names, the skipped-files
    sentence ('' if none), and the options it was read with."""

    classes: tuple[str, ...]
    skipped: str
    options: Mapping[str, object]

    def describe(self) -> str:
        """'resized to the model's input, normalized (x - 0.5) / 0.25', or 'pixels / 255'."""
        parts = ["pixels / 255"]
        if self.options.get("resize"):
            parts.append("resized to the model's input (bilinear)")
        if self.options.get("mean") is not None:
            parts.append(f"normalized (x - {self.options['mean']:g}) / {self.options['std']:g}")
        return ", ".join(parts)


def decoded_images(sha256: str) -> tuple[int, ImageFolderInfo] | None:
    """(images, what was read) of the image folder with this hash if this process decoded it, else None."""
    for key in reversed(_DECODED_IMAGES):
        if key.startswith(sha256):
            x, _, info = _DECODED_IMAGES[key]
            return len(x), info
    return None


def image_options(meta: Mapping[str, str], name: str = "the image folder") -> dict[str, object]:
    """The decoding options of an image folder from its stored meta: resize (bool), mean and std (floats or None)."""
    resize = str(meta.get("resize", "")).lower() in ("1", "true", "yes")
    mean = std = None
    text = str(meta.get("normalize", "") or "").strip()
    if text:
        mean, std = parse_normalize(text, name)
    return {"resize": resize, "mean": mean, "std": std}


def parse_normalize(text: str, name: str = "--normalize") -> tuple[float, float]:
    """'MEAN,STD' as two finite floats with STD > 0; one sentence otherwise."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        mean, std = (float(p) for p in parts) if len(parts) == 2 else (float("nan"), 0.0)
    except ValueError:
        mean, std = float("nan"), 0.0
    if not (np.isfinite(mean) and np.isfinite(std) and std > 0):
        raise FileRejected(f"{name}: normalization {printable(text, 40)!r} is not MEAN,STD with two numbers "
                           f"and STD > 0 (e.g. 0.5,0.5)")
    return mean, std


def zip_folder(folder: Path) -> bytes:
    """A folder's files as a zip (names relative to it, sorted, fixed dates), so that the same
    folder always gives the same bytes and hence the same upload hash. Symbolic links are
    not followed; the size limit is checked as files are added."""
    folder = Path(folder)
    name = folder.name or "the folder"
    if not folder.is_dir():
        raise FileRejected(f"{name} is not a folder")
    paths = []
    for root, dirs, files in os.walk(folder):  # followlinks=False: a linked folder is not entered
        dirs.sort()
        paths += [Path(root) / f for f in files if not (Path(root) / f).is_symlink()]
    out = io.BytesIO()
    total = 0
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zout:
        for p in sorted(paths):
            total += p.stat().st_size
            check_size(total, name)
            info = zipfile.ZipInfo(p.relative_to(folder).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
            zout.writestr(info, p.read_bytes())
    return out.getvalue()


# What the worker accepted in this process, by the SHA-256 of the bytes it checked. The
# checks are a pure function of the bytes, so reopening an upload (every slider move runs
# source.load) costs one hash instead of a worker, while a link to a stored file that this
# process never checked, or whose bytes changed, always goes through the worker.
_ACCEPTED: collections.OrderedDict[tuple[str, str], dict] = collections.OrderedDict()
_DECODED: collections.OrderedDict[str, tuple[torch.Tensor, torch.Tensor]] = collections.OrderedDict()
_DECODED_IMAGES: collections.OrderedDict[str, tuple[torch.Tensor, torch.Tensor, ImageFolderInfo]] = (
    collections.OrderedDict())


def checked(kind: str, path: Path, content: bytes, name: str, outdir: str | None = None,
            remember: bool = True, options: Mapping[str, object] | None = None) -> dict:
    """The worker's answer for `content` (the bytes the caller will read, which lie at `path`)."""
    digest = hashlib.sha256(content).hexdigest()
    if remember and (kind, digest) in _ACCEPTED:
        _ACCEPTED.move_to_end((kind, digest))
        return _ACCEPTED[(kind, digest)]
    answer = run_worker(kind, path, name, outdir, options)
    if answer.get("sha256") != digest:  # the file changed between the two reads
        raise FileRejected(f"{name} changed while it was being checked: upload it again")
    if remember:
        _ACCEPTED[(kind, digest)] = answer
        while len(_ACCEPTED) > 64:
            _ACCEPTED.popitem(last=False)
    return answer


def run_worker(kind: str, path: Path, name: str, outdir: str | None = None,
               options: Mapping[str, object] | None = None) -> dict:
    """Run compression.upload_worker on `path` (a fresh interpreter, memory- and CPU-limited).

    A fresh interpreter rather than fork: forking a process that runs torch threads can
    deadlock, and the worker must not inherit anything. Refusal: FileRejected naming `name`.
    """
    with contextlib.ExitStack() as stack:
        if outdir is None:
            outdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="upload-"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   PYTHONPATH=str(Path(__file__).resolve().parent.parent))
        try:
            proc = subprocess.run([sys.executable, "-m", "compression.upload_worker", kind, str(path), outdir,
                                   str(WORKER_MEMORY), *([json.dumps(dict(options))] if options else [])],
                                  capture_output=True, text=True, env=env, timeout=WORKER_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise FileRejected(f"{name} was refused: checking it took over {WORKER_TIMEOUT_S} s") from None
        lines = proc.stdout.strip().splitlines()
        try:
            answer = json.loads(lines[-1]) if lines else None
        except ValueError:
            answer = None
        if not isinstance(answer, dict):  # killed by its memory or CPU limit, or crashed
            raise FileRejected(f"{name} was refused: reading it needs more memory or time than an upload may use")
        if not answer.get("ok"):
            refused = FileRejected(f"{name} was refused: {answer.get('reason', 'it could not be read')}")
            refused.worker_peak_bytes = answer.get("peak_bytes")  # type: ignore[attr-defined]  # benchmarks
            raise refused
        return answer


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """No warnings or log lines from torch while a user's file is read: the one sentence says it all."""
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


def check_fits(model: nn.Module, x: torch.Tensor, y: torch.Tensor, name: str) -> None:
    """Run one input through the model; one sentence if the data's shape or labels do not fit."""
    try:
        with torch.no_grad():
            out = model(x[:1])
    except Exception as e:  # noqa: BLE001 - a shape mismatch surfaces as any error deep in a layer
        raise FileRejected(f"{name}: inputs of shape {tuple(x.shape[1:])} do not fit the model "
                           f"({_first_line(e)})") from None
    if out.ndim != 2:
        raise FileRejected(f"{name}: the model outputs shape {tuple(out.shape)}, not (batch, classes)")
    if int(y.min()) < 0 or int(y.max()) >= out.shape[1]:
        raise FileRejected(f"{name}: labels run from {int(y.min())} to {int(y.max())}, but the model "
                           f"has {out.shape[1]} outputs")


def check_size(n: int, name: str) -> None:
    """Refuse a file over MAX_BYTES before it is read."""
    if n > MAX_BYTES:
        raise FileRejected(f"{name} is {n / MB:,.1f} MB, over the {limit_text()} limit")


def _few(label: str, keys: list[str], n: int = 3) -> str:
    if not keys:
        return ""
    more = f" and {len(keys) - n} more" if len(keys) > n else ""
    return f"{label} {', '.join(keys[:n])}{more}"


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return printable(f"{type(e).__name__}: {text[0][:160]}" if text else type(e).__name__, 200)
