"""Users' files, read without running their code: weights, torch.export programs, test data.

Every reader here refuses rather than trusts: pickle is only ever read by
`torch.load(weights_only=True)`, whose unpickler builds tensors and plain containers and
nothing else; `.safetensors` holds no code at all; a `.pt2` archive is checked entry by
entry before `torch.export.load` sees it, because that loader falls back to full pickle
(`weights_only=False`) for pickled weights, constants and sample inputs and loads compiled
AOTInductor libraries. Files are kept in the user cache under their SHA-256.
"""
from __future__ import annotations

import hashlib
import io
import json
import operator
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

MAX_BYTES = 200 * 1024 * 1024  # refuse anything larger before reading it
MODEL_SUFFIXES = (".pt2", ".pt", ".pth", ".safetensors")
DATA_SUFFIX = ".npz"
N_CALIB = 128  # calibration rows taken from the front of an uploaded test set
HASH_CHARS = 16  # hex digits of the SHA-256 that name an upload in a URL (64 bits)


class FileRejected(ValueError):
    """A user's file that is refused: unsafe, too large, malformed, or not fitting the model."""


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


def store(content: bytes, filename: str, meta: Mapping[str, str] | None = None) -> StoredFile:
    """Keep an uploaded file under its SHA-256 (suffix from `filename`); `meta` goes in a JSON beside it."""
    suffix = Path(filename).suffix.lower()
    if suffix not in (*MODEL_SUFFIXES, DATA_SUFFIX):
        raise FileRejected(f"{filename}: unsupported file type {suffix or '(none)'}; give one of "
                           f"{', '.join((*MODEL_SUFFIXES, DATA_SUFFIX))}")
    check_size(len(content), filename)
    digest = hashlib.sha256(content).hexdigest()
    folder = uploads_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest}{suffix}"
    if not path.exists():
        tmp = path.with_suffix(suffix + ".tmp")
        tmp.write_bytes(content)
        tmp.replace(path)  # atomic: a half-written upload is never found by its hash
    if meta:
        (folder / f"{digest}.json").write_text(json.dumps(dict(meta), sort_keys=True))
    return StoredFile(digest, path)


def find(prefix: str) -> StoredFile:
    """The stored upload whose hash starts with `prefix`; one sentence if this server lacks it."""
    if not prefix or any(c not in "0123456789abcdef" for c in prefix.lower()):
        raise FileRejected(f"upload:{prefix} is not a content hash (hex digits expected)")
    folder = uploads_dir()
    hits = sorted(p for p in folder.glob(f"{prefix.lower()}*") if p.suffix in (*MODEL_SUFFIXES, DATA_SUFFIX))
    if not hits:
        raise FileRejected(f"upload:{prefix} is not on this server (uploads live in {folder}): "
                           f"upload the file again")
    if len({p.stem for p in hits}) > 1:
        raise FileRejected(f"upload:{prefix} matches {len(hits)} uploads: give more hex digits of the hash")
    return StoredFile(hits[0].stem, hits[0])


def meta(stored: StoredFile) -> dict[str, str]:
    """The JSON kept beside an upload (e.g. its architecture), or {}."""
    side = stored.path.with_name(f"{stored.sha256}.json")
    return json.loads(side.read_text()) if side.exists() else {}


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a `.pt`/`.pth` (weights_only unpickler) or `.safetensors` file."""
    path = Path(path)
    check_size(path.stat().st_size, path.name)
    if path.suffix.lower() == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as e:
            raise FileRejected(f"{path.name} is not a readable safetensors file ({_first_line(e)})") from None
    else:
        try:
            # weights_only: the restricted unpickler refuses any global that is not a tensor,
            # storage or plain container, so a __reduce__ payload is never called.
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - a hostile file may raise anything; all mean "refuse"
            raise FileRejected(f"{path.name} was refused: it is not a plain state dict of tensors that "
                               f"loads with torch.load(weights_only=True) ({_first_line(e)})") from None
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]  # the common {"state_dict": ..., "epoch": ...} checkpoint
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise FileRejected(f"{path.name} holds no state dict (a mapping of names to tensors)")
    return dict(state)


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
    check_finite(state, name)
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})
    return model.eval()


def check_finite(state: Mapping[str, torch.Tensor], name: str) -> None:
    """Refuse weights holding NaN or Inf (they make every later statistic meaningless)."""
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise FileRejected(f"{name} holds NaN or Inf weights in {_few('', bad).strip()}: "
                           f"fix the training run that wrote it")


# Entries a torch.export archive may hold (path below its root folder). Everything else
# (AOTInductor libraries, pickled custom objects, legacy pickled weights) is refused.
_PT2_FIXED = {"archive_format", "archive_version", "byteorder", ".data/version", ".data/serialization_id"}
_PT2_PREFIXES = ("models/", "data/weights/", "data/constants/", "data/sample_inputs/", "extra/")


def load_exported(path: Path) -> tuple[nn.Module, tuple[int, ...] | None]:
    """A `torch.export.save` program as a module, and its example input shape (without batch)."""
    path = Path(path)
    check_size(path.stat().st_size, path.name)
    content = path.read_bytes()
    _check_pt2(content, path.name)
    try:
        # The bytes checked above, not the path: the file cannot change in between.
        program = torch.export.load(io.BytesIO(content))
    except Exception as e:  # noqa: BLE001 - a hostile file may raise anything; all mean "refuse"
        raise FileRejected(f"{path.name} is not a torch.export program this PyTorch can read "
                           f"({_first_line(e)})") from None
    _check_ops(program, path.name)
    args = program.example_inputs[0] if program.example_inputs else ()
    example = args[0] if len(args) == 1 and isinstance(args[0], torch.Tensor) else None
    if example is None:
        raise FileRejected(f"{path.name} was refused: the program must take one tensor input")
    module = _with_layers(program.module())
    check_finite(dict(module.state_dict()), path.name)
    return _batch_safe(module, example), tuple(example.shape[1:])


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
    """Runs a program exported for batch size `batch` on any batch, chunk by chunk (padded)."""

    def __init__(self, inner: nn.Module, batch: int) -> None:
        super().__init__()
        self.inner, self.batch = inner, batch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs for every row of x."""
        outs = []
        for chunk in x.split(self.batch):
            pad = self.batch - len(chunk)
            full = torch.cat([chunk, chunk.new_zeros((pad, *chunk.shape[1:]))]) if pad else chunk
            outs.append(self.inner(full)[: len(chunk)])
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


def _check_pt2(content: bytes, name: str) -> None:
    """Refuse a .pt2 whose loading would run pickle code or native libraries."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        names = archive.namelist()
    except zipfile.BadZipFile:
        raise FileRejected(f"{name} is not a torch.export archive (not a zip file)") from None
    for entry in names:
        rel = entry.split("/", 1)[1] if "/" in entry else entry
        ok = rel in _PT2_FIXED or (rel.startswith(_PT2_PREFIXES) and not rel.endswith(".pt")) \
            or (rel.startswith("data/sample_inputs/") and rel.endswith(".pt"))
        if not ok:
            raise FileRejected(f"{name} was refused: its entry {rel} would be loaded as pickle or "
                               f"native code (only plain torch.export archives are accepted)")
        if rel.endswith(("weights_config.json", "constants_config.json")):
            config = json.loads(archive.read(entry)).get("config", {})
            for key, payload in config.items():
                if payload.get("use_pickle") or not str(payload.get("path_name", "")).startswith(
                        ("weight_", "tensor_")):
                    raise FileRejected(f"{name} was refused: {key} is stored as pickle, which "
                                       f"torch.export.load would run unrestricted")
        if rel.startswith("data/sample_inputs/"):
            try:  # torch.export.load tries weights_only=True first; make sure it succeeds
                torch.load(io.BytesIO(archive.read(entry)), weights_only=True)
            except Exception:  # noqa: BLE001 - a hostile file may raise anything; all mean "refuse"
                raise FileRejected(f"{name} was refused: its sample inputs are not plain tensors") from None


def _check_ops(program: torch.export.ExportedProgram, name: str) -> None:
    """Only ATen/prims operators and tuple indexing may run: no Python callables from the file."""
    for node in program.graph.nodes:
        if node.op != "call_function":
            continue
        target = node.target
        if target is operator.getitem:
            continue
        if isinstance(target, torch._ops.OpOverload) and target.namespace in ("aten", "prims"):
            continue
        raise FileRejected(f"{name} was refused: it calls {target}, not a built-in tensor operator")


def read_npz(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """(x float32, y int64) from an `.npz` with arrays `x` and `y`, read without pickle."""
    path = Path(path)
    check_size(path.stat().st_size, path.name)
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "x" not in npz or "y" not in npz:
                raise FileRejected(f"{path.name} must hold arrays named x (inputs) and y (labels); "
                                   f"it holds {', '.join(npz.files) or 'none'}")
            x, y = npz["x"], npz["y"]
    except FileRejected:
        raise
    except (ValueError, OSError, zipfile.BadZipFile) as e:  # ValueError: object arrays need pickle
        raise FileRejected(f"{path.name} is not a plain .npz of numeric arrays ({_first_line(e)})") from None
    if not np.issubdtype(x.dtype, np.number) or x.ndim < 2:
        raise FileRejected(f"{path.name}: x must be a numeric array (N, ...), got {x.dtype} {x.shape}")
    if not np.issubdtype(y.dtype, np.integer) or y.ndim != 1:
        raise FileRejected(f"{path.name}: y must be 1-D integer labels, got {y.dtype} {y.shape}")
    if len(x) != len(y) or len(x) < 2:
        raise FileRejected(f"{path.name}: x has {len(x)} rows and y {len(y)}; they must match (at least 2)")
    if not np.isfinite(x).all():
        raise FileRejected(f"{path.name}: x holds NaN or Inf values")
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.int64))


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
        raise FileRejected(f"{name} is {n / 1e6:.0f} MB, over the {MAX_BYTES / 1e6:.0f} MB limit")


def _few(label: str, keys: list[str], n: int = 3) -> str:
    if not keys:
        return ""
    more = f" and {len(keys) - n} more" if len(keys) > n else ""
    return f"{label} {', '.join(keys[:n])}{more}"


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:160]}" if text else type(e).__name__
