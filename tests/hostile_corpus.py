"""Hostile uploads, built in code (no binaries shipped): each one only ever touches a marker file.

Shared by tests/test_hostile_uploads.py and benchmarks/hostile_uploads.py. Each case is
(file name, builder(marker) -> bytes, role "model"/"data", arch, words the refusal says).
The .pt2 cases start from a real `torch.export.save` of a tiny model and edit its zip.
"""
from __future__ import annotations

import io
import json
import os
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

MB = 1_000_000


@dataclass(frozen=True)
class Case:
    name: str
    filename: str
    build: Callable[[Path], bytes]
    role: str = "model"  # "model": the model file; "data": an .npz or image-folder .zip beside a good model
    arch: str | None = None
    says: str = "refused"


def tiny_program() -> bytes:
    """A torch.export archive of a 64 -> 10 classifier (mlp-digits' shape) with a dynamic batch."""
    model = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10)).eval()
    program = torch.export.export(model, (torch.zeros(2, 64),), dynamic_shapes=({0: torch.export.Dim("batch")},))
    buf = io.BytesIO()
    torch.export.save(program, buf)
    return buf.getvalue()


_PROGRAM: list[bytes] = []


def program() -> bytes:
    if not _PROGRAM:
        _PROGRAM.append(tiny_program())
    return _PROGRAM[0]


def edit_zip(raw: bytes, change: Callable[[str, bytes], bytes | None] | None = None,
             extra: dict[str, bytes] | None = None) -> bytes:
    """`raw` with each member passed through change(rel_name, data) (None drops it) and `extra` added."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zout:
        root = zin.namelist()[0].split("/")[0]
        for info in zin.infolist():
            data = zin.read(info)
            rel = info.filename.split("/", 1)[1]
            if change is not None:
                data = change(rel, data)
            if data is not None:
                zout.writestr(info.filename, data)
        for rel, data in (extra or {}).items():
            zout.writestr(f"{root}/{rel}" if not rel.startswith("/") and not rel.startswith("..") else rel, data)
    return out.getvalue()


def edit_json(edit: Callable[[dict], object], text: Callable[[str], str] | None = None) -> bytes:
    """The tiny program with models/model.json edited as a dict (and then as text)."""
    def change(rel: str, data: bytes) -> bytes:
        if rel != "models/model.json":
            return data
        obj = json.loads(data)
        edit(obj)
        s = json.dumps(obj)
        return (text(s) if text else s).encode()
    return edit_zip(program(), change)


def shell(marker: Path) -> str:
    return f"__import__('os').system('touch {marker}')"


class Payload:
    """Pickled, it calls os.system: the classic __reduce__ exploit."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _set_expr_in(obj: dict, key: str, payload: str) -> None:
    """Put `payload` as the expr_str of the first as_expr found below `key`."""
    def walk(o: object, inside: bool) -> bool:
        if isinstance(o, dict):
            for k, v in o.items():
                if inside and k == "expr_str":
                    o[k] = payload
                    return True
                if walk(v, inside or k == key):
                    return True
        elif isinstance(o, list):
            return any(walk(v, inside) for v in o)
        return False
    assert walk(obj, False), key


# ---- .pt2: the code routes and their variants ----------------------------------------------

def guards_code(marker: Path) -> bytes:
    return edit_json(lambda o: o.update(guards_code=[f"{shell(marker)} == 0"]))


def guards_code_injected(marker: Path) -> bytes:  # a newline escapes the generated function body
    return edit_json(lambda o: o.update(guards_code=[f"True, 'x')\n{shell(marker)}\n#"]))


def guards_code_nested(marker: Path) -> bytes:  # the key where no schema has it
    return edit_json(lambda o: o["graph_module"]["graph"]["nodes"][0]["metadata"].update(guards_code=shell(marker)))


def expr_in_sizes(marker: Path) -> bytes:
    return edit_json(lambda o: _set_expr_in(o, "tensor_values", shell(marker)))


def expr_in_sym_values(marker: Path) -> bytes:
    def edit(o: dict) -> None:
        o["graph_module"]["graph"]["sym_int_values"]["evil"] = {"as_expr": {"expr_str": shell(marker), "hint": None}}
    return edit_json(edit)


def expr_inside_symbol(marker: Path) -> bytes:  # hidden inside a well-formed srepr
    return edit_json(lambda o: None, lambda s: s.replace("Symbol('s", f"Symbol({shell(marker)} or 's", 1))


def expr_unicode_escaped(marker: Path) -> bytes:  # JSON \u escapes: the text never says __import__
    def text(s: str) -> str:
        return s.replace("Symbol('s", f"Symbol({shell(marker)} or 's", 1).replace(
            "__import__", "\\u005f\\u005fimport\\u005f\\u005f")
    return edit_json(lambda o: None, text)


def expr_in_range_key(marker: Path) -> bytes:
    def edit(o: dict) -> None:
        o["range_constraints"][shell(marker)] = {"min_val": 0, "max_val": 10}
    return edit_json(edit)


def foreign_target(marker: Path) -> bytes:  # a node calling a Python builtin
    def edit(o: dict) -> None:
        o["graph_module"]["graph"]["nodes"][0]["target"] = "builtins.exec"
    return edit_json(edit)


def extension_target(marker: Path) -> bytes:  # '#…' targets go to deserialize_extension_operator
    def edit(o: dict) -> None:
        o["graph_module"]["graph"]["nodes"][0]["metadata"]["source_fn_stack"] = "linear,#custom.op"
    return edit_json(edit)


def custom_object(marker: Path) -> bytes:
    def edit(o: dict) -> None:
        o["graph_module"]["graph"]["custom_obj_values"] = {"obj": {"name": "obj", "class_fqn": "os.system"}}
    return edit_json(edit)


def code_in_parameter_name(marker: Path) -> bytes:
    """A parameter FQN that FX would paste into generated source as getattr(self, "...")."""
    evil = f'0.weight")+{shell(marker)}+getattr(self, "x'

    def text(s: str) -> str:
        return s.replace('"0.weight"', json.dumps(evil))
    raw = edit_json(lambda o: None, text)
    return edit_zip(raw, lambda rel, d: d.replace(b'"0.weight"', json.dumps(evil).encode())
                    if rel.endswith("_weights_config.json") else d)


def unknown_key(marker: Path) -> bytes:
    return edit_json(lambda o: o["graph_module"].update(code=shell(marker)))


# ---- pickle payloads in every container -----------------------------------------------------

def _pickled(marker: Path) -> bytes:
    buf = io.BytesIO()
    torch.save({"x": Payload(marker)}, buf)
    return buf.getvalue()


def pt_reduce(marker: Path) -> bytes:
    buf = io.BytesIO()
    torch.save({"fc1.weight": torch.zeros(1), "x": Payload(marker)}, buf)
    return buf.getvalue()


def pt_legacy(marker: Path) -> bytes:
    buf = io.BytesIO()
    torch.save({"x": Payload(marker)}, buf, _use_new_zipfile_serialization=False)
    return buf.getvalue()


def pt2_sample_inputs_pickle(marker: Path) -> bytes:  # the weights_only=False fallback route
    return edit_zip(program(), lambda rel, d: _pickled(marker) if rel.startswith("data/sample_inputs/") else d)


def pt2_weights_use_pickle(marker: Path) -> bytes:
    def change(rel: str, data: bytes) -> bytes:
        if rel.endswith("_weights_config.json"):
            cfg = json.loads(data)
            first = next(iter(cfg["config"].values()))
            first["use_pickle"] = True
            return json.dumps(cfg).encode()
        if rel == "data/weights/weight_0":
            return _pickled(marker)
        return data
    return edit_zip(program(), change)


def pt2_pickled_constant(marker: Path) -> bytes:
    return edit_zip(program(), extra={"data/constants/custom_obj_0": _pickled(marker)})


def pt2_aotinductor(marker: Path) -> bytes:
    return edit_zip(program(), extra={"data/aotinductor/model/model.so": b"\x7fELF" + b"\0" * 60})


def npz_object_array(marker: Path) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, x=np.array([Payload(marker)] * 4, dtype=object), y=np.zeros(4, np.int64))
    return buf.getvalue()


# ---- zip bombs and lying headers -------------------------------------------------------------

def _deflated_member(zout: zipfile.ZipFile, name: str, header: bytes, nbytes: int) -> None:
    with zout.open(zipfile.ZipInfo(name), "w", force_zip64=True) as f:
        f.write(header)
        chunk = bytes(16 * 2**20)
        left = nbytes
        while left > 0:
            f.write(chunk[: min(left, len(chunk))])
            left -= len(chunk)


def _npy_header(shape: tuple[int, ...], dtype: str = "<f8") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def npz_bomb(marker: Path, nbytes: int = 1024 * 2**20) -> bytes:
    """1 GiB of float64 zeros (the issue's case), deflated to about 1 MB."""
    out = io.BytesIO()
    rows = nbytes // (64 * 8)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        zout.comment = b""
        info = zipfile.ZipInfo("x.npy")
        info.compress_type = zipfile.ZIP_DEFLATED
        with zout.open(info, "w", force_zip64=True) as f:
            f.write(_npy_header((rows, 1, 8, 8)))
            chunk = bytes(16 * 2**20)
            for _ in range(nbytes // len(chunk)):
                f.write(chunk)
        zout.writestr("y.npy", _npy_bytes(np.zeros(rows % 1000 + 2, np.int64)))
    return out.getvalue()


def pt2_bomb(marker: Path, nbytes: int = 1536 * 2**20) -> bytes:
    """A weight entry that inflates to 1.5 GiB (the issue's case)."""
    def change(rel: str, data: bytes) -> bytes | None:
        return None if rel == "data/weights/weight_0" else data
    base = edit_zip(program(), change)
    out = io.BytesIO(base)
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as zout:
        root = zout.namelist()[0].split("/")[0]
        info = zipfile.ZipInfo(f"{root}/data/weights/weight_0")
        info.compress_type = zipfile.ZIP_DEFLATED
        with zout.open(info, "w", force_zip64=True) as f:
            chunk = bytes(16 * 2**20)
            for _ in range(nbytes // len(chunk)):
                f.write(chunk)
    return out.getvalue()


def pt_bomb(marker: Path) -> bytes:
    """A torch.save zip whose storage record inflates to 300 MB."""
    buf = io.BytesIO()
    torch.save({"fc1.weight": torch.zeros(4)}, buf)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename.endswith("/data/0"):
                big = zipfile.ZipInfo(info.filename)
                big.compress_type = zipfile.ZIP_DEFLATED
                with zout.open(big, "w", force_zip64=True) as f:
                    for _ in range(300 * MB // 2**20):
                        f.write(bytes(2**20))
            else:
                zout.writestr(info.filename, zin.read(info))
    return out.getvalue()


def npz_many_members(marker: Path) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zout:
        for i in range(5000):
            zout.writestr(f"a{i}.npy", b"")
        zout.writestr("x.npy", _npy_bytes(np.zeros((4, 64), np.float32)))
        zout.writestr("y.npy", _npy_bytes(np.zeros(4, np.int64)))
    return out.getvalue()


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def npz_lying_zip_header(marker: Path) -> bytes:
    """The central directory states 1 KB for x.npy; its deflated data holds 200 MB of zeros."""
    rows = 200 * MB // (64 * 4)
    head = _npy_header((rows, 1, 8, 8), "<f4")
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    parts = [comp.compress(head)]
    chunk = bytes(16 * 2**20)
    for _ in range(rows * 256 // len(chunk) + 1):
        parts.append(comp.compress(chunk))
    data = b"".join(parts) + comp.flush()
    stated = 1024
    raw = (head + chunk)[:stated]
    y = _npy_bytes(np.zeros(4, np.int64))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zout:
        zout.writestr("y.npy", y)
    # append x.npy by hand: local header and central directory both state the small size
    body = out.getvalue()
    cd_at = body.rfind(b"PK\x01\x02")
    eocd_at = body.rfind(b"PK\x05\x06")
    local_y, cd_y = body[:cd_at], body[cd_at:eocd_at]
    crc = zlib.crc32(raw)
    name = b"x.npy"
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(data), stated, len(name), 0) + name
    offset = len(local_y)
    central = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(data), stated,
                          len(name), 0, 0, 0, 0, 0, offset) + name
    cd = cd_y + central
    files = local_y + local + data
    eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 2, 2, len(cd), len(files), 0)
    return files + cd + eocd


def npz_lying_npy_header(marker: Path) -> bytes:
    """x.npy states 10^9 rows; it holds four."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zout:
        zout.writestr("x.npy", _npy_header((10**9, 1, 8, 8), "<f4") + bytes(4 * 64 * 4))
        zout.writestr("y.npy", _npy_bytes(np.zeros(4, np.int64)))
    return out.getvalue()


def npz_path_traversal(marker: Path) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zout:
        zout.writestr("x.npy", _npy_bytes(np.zeros((4, 1, 8, 8), np.float32)))
        zout.writestr("y.npy", _npy_bytes(np.zeros(4, np.int64)))
        zout.writestr(f"../../{marker.name}", b"x")
    return out.getvalue()


def pt2_path_traversal(marker: Path) -> bytes:
    return edit_zip(program(), extra={"../../tmp/evil.json": b"{}"})


def _png(seed: int = 0, mode: str = "L", size: tuple[int, int] = (8, 8)) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(buf, "PNG")
    return buf.getvalue()


def _image_zip(extra: Callable[[zipfile.ZipFile], None]) -> bytes:
    """A good two-class grey 8x8 image folder, zipped, with hostile members added by `extra`."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zout:
        for i in range(4):
            zout.writestr(f"a/{i}.png", _png(i))
            zout.writestr(f"b/{i}.png", _png(10 + i))
        extra(zout)
    return out.getvalue()


def images_path_traversal(marker: Path) -> bytes:
    return _image_zip(lambda z: z.writestr(f"a/../../{marker.name}.png", _png(99)))


def images_many_members(marker: Path) -> bytes:
    def extra(zout: zipfile.ZipFile) -> None:
        for i in range(20_001):
            zout.writestr(f"b/x{i}.png", b"")
    return _image_zip(extra)


def images_zip_bomb(marker: Path) -> bytes:
    """A "PNG" member that inflates to 151 MB of zeros (under the member limit; the ratio refuses it)."""
    def extra(zout: zipfile.ZipFile) -> None:
        info = zipfile.ZipInfo("b/huge.png")
        info.compress_type = zipfile.ZIP_DEFLATED
        with zout.open(info, "w", force_zip64=True) as f:
            chunk = bytes(16 * 2**20)
            for _ in range(9):
                f.write(chunk)
    return _image_zip(extra)


# ---- values -------------------------------------------------------------------------------

def _npz(x: np.ndarray, y: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, x=x, y=y)
    return buf.getvalue()


def npz_float64_overflow(marker: Path) -> bytes:
    x = np.zeros((10, 1, 8, 8))
    x[3, 0, 2, 2] = 1e300  # finite as float64, inf as float32
    return _npz(x, np.zeros(10, np.int64))


def npz_complex(marker: Path) -> bytes:
    return _npz(np.zeros((10, 1, 8, 8), np.complex64), np.zeros(10, np.int64))


def npz_uint64_labels(marker: Path) -> bytes:
    y = np.zeros(10, np.uint64)
    y[0] = 2**63 + 5  # wraps to a negative int64
    return _npz(np.zeros((10, 1, 8, 8), np.float32), y)


def pt_float64_overflow(marker: Path) -> bytes:
    from compression import models

    state = {k: v.double() for k, v in models.build("mlp-digits").state_dict().items()}
    state["fc1.weight"][0, 0] = 1e300
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


ESCAPE_NAME = "\x1b[31mred\x1b[0m\x07.npz"

CASES: tuple[Case, ...] = (
    Case("pt2 guards_code", "guards.pt2", guards_code, says="guards_code"),
    Case("pt2 guards_code newline injection", "inject.pt2", guards_code_injected, says="guards_code"),
    Case("pt2 guards_code in node metadata", "nested.pt2", guards_code_nested, says="metadata"),
    Case("pt2 expr_str in tensor sizes", "sizes.pt2", expr_in_sizes, says="symbolic size"),
    Case("pt2 expr_str in sym_int_values", "symint.pt2", expr_in_sym_values, says="symbolic size"),
    Case("pt2 expr_str hidden in Symbol()", "symbol.pt2", expr_inside_symbol, says="symbolic size"),
    Case("pt2 expr_str JSON-unicode-escaped", "escaped.pt2", expr_unicode_escaped, says="symbolic size"),
    Case("pt2 code as a range_constraints key", "range.pt2", expr_in_range_key, says="not a plain identifier"),
    Case("pt2 node target builtins.exec", "target.pt2", foreign_target, says="not a built-in tensor operator"),
    Case("pt2 extension operator in metadata", "ext.pt2", extension_target, says="not a built-in function"),
    Case("pt2 custom object", "custom.pt2", custom_object, says="custom"),
    Case("pt2 unknown JSON field", "unknown.pt2", unknown_key, says="outside the allow-list"),
    Case("pt2 code in a parameter name", "fqn.pt2", code_in_parameter_name, says="not a plain name"),
    Case("pt2 pickled sample inputs", "sample.pt2", pt2_sample_inputs_pickle, says="sample inputs"),
    Case("pt2 weights use_pickle", "wpickle.pt2", pt2_weights_use_pickle, says="pickle"),
    Case("pt2 pickled constant entry", "const.pt2", pt2_pickled_constant, says="custom objects"),
    Case("pt2 AOTInductor library", "aoti.pt2", pt2_aotinductor, says="native code"),
    Case("pt __reduce__ payload", "evil.pt", pt_reduce, arch="mlp-digits", says="not a tensor type"),
    Case("pt legacy pickle payload", "legacy.pt", pt_legacy, arch="mlp-digits", says="legacy"),
    Case("npz object array (pickle)", "obj.npz", npz_object_array, role="data", says="Python objects"),
    Case("npz zip bomb 1 GiB", "bomb.npz", npz_bomb, role="data", says="MB"),
    Case("pt2 zip bomb 1.5 GiB entry", "bomb.pt2", pt2_bomb, says="MB"),
    Case("pt zip bomb 300 MB record", "bomb.pt", pt_bomb, arch="mlp-digits", says="MB"),
    Case("npz 5000 members", "many.npz", npz_many_members, role="data", says="members"),
    Case("npz lying zip header", "lying.npz", npz_lying_zip_header, role="data", says="states"),
    Case("npz lying npy header", "lyingnpy.npz", npz_lying_npy_header, role="data", says="states shape"),
    Case("npz path traversal member", "trav.npz", npz_path_traversal, role="data", says="not a plain relative path"),
    Case("pt2 path traversal member", "trav.pt2", pt2_path_traversal, says="not a plain relative path"),
    Case("image folder path traversal member", "trav.zip", images_path_traversal, role="data",
         says="not a plain relative path"),
    Case("image folder 20,009 members", "many.zip", images_many_members, role="data", says="members"),
    Case("image folder zip bomb 151 MB member", "bomb.zip", images_zip_bomb, role="data", says="zip bomb"),
    Case("npz float64 1e300 (inf as float32)", "overflow.npz", npz_float64_overflow, role="data", says="float32"),
    Case("npz complex x", "complex.npz", npz_complex, role="data", says="complex"),
    Case("npz uint64 labels", "uint64.npz", npz_uint64_labels, role="data", says=str(2**63 + 5)),
    Case("pt float64 1e300 weight", "overflow.pt", pt_float64_overflow, arch="mlp-digits", says="NaN or Inf"),
    Case("npz name with escape codes", ESCAPE_NAME, npz_float64_overflow, role="data", says="red.npz"),
)


class PeakRSS:
    """Peak resident memory of this process while the block runs, over its RSS at entry (sampled
    every 2 ms from /proc; ru_maxrss would not do: it is the whole process's lifetime high)."""

    def __enter__(self) -> PeakRSS:
        import threading

        self.start = self.peak = _rss()
        self._stop = threading.Event()

        def sample() -> None:
            while not self._stop.wait(0.002):
                self.peak = max(self.peak, _rss())
        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())

    @property
    def over_start(self) -> int:
        return self.peak - self.start


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def good_model_file(tmp: Path) -> Path:
    """A plain mlp-digits state dict to pair the hostile .npz cases with."""
    from compression import models

    path = tmp / "good.pt"
    torch.save(models.build("mlp-digits").state_dict(), path)
    return path
