"""The upload worker: checks (and for `.npz` and image folders, decodes) one user file in a process of its own.

Run as `python -m compression.upload_worker KIND PATH OUTDIR [MEMORY_BYTES [OPTIONS_JSON]]` by
`compression.loading`.
It limits its own address space and CPU time (resource.setrlimit) before reading a byte,
so a file whose cost nobody foresaw kills this process, not the server. It imports no
torch (a fresh interpreter with numpy starts in a fraction of a second, and nothing here
can deserialize code; image folders are decoded with Pillow, PNG and JPEG only, under a
decompression-bomb limit), and it hands back only plain `.npy` arrays it wrote itself, read
by the parent with `allow_pickle=False`. Its answer is one JSON line on stdout.
"""
from __future__ import annotations

import json
import os
import struct
import sys
import zipfile
from pathlib import PurePosixPath

MEMORY_LIMIT = 1_500_000_000  # address space: the file read whole (<= 200 MB), its float64 x, the float32 copy, numpy
CPU_SECONDS = 120
MAX_ROWS = 100_000  # rows of an uploaded test set (the digits test split has 360)
IMAGE_MEMBERS = 20_000  # members of an image-folder zip: a 10,000-image test set with its folders, twice over
IMAGE_PIXELS = 4096 * 4096  # Pillow's decompression-bomb limit for one image (its default is 89 M)
DECODED_BYTES = 200_000_000  # the float32 pixels an image folder may decode to (the upload limit)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def _limit(memory: int = MEMORY_LIMIT) -> None:
    import resource

    for res, value in ((resource.RLIMIT_AS, memory), (resource.RLIMIT_CPU, CPU_SECONDS)):
        soft, hard = resource.getrlimit(res)
        cap = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(res, (cap, hard))


class Refused(ValueError):
    pass


def _npy(archive: zipfile.ZipFile, info: zipfile.ZipInfo, label: str):
    """One array of an .npz, its header checked against the zip's stated size before reading."""
    import numpy as np
    from numpy.lib import format as npf

    with archive.open(info) as f:
        try:
            version = npf.read_magic(f)
            shape, fortran, dtype = (npf.read_array_header_1_0(f) if version == (1, 0)
                                     else npf.read_array_header_2_0(f, max_header_size=10_000))
        except (ValueError, OSError, EOFError, SyntaxError) as e:
            raise Refused(f"its array {label} is not a plain .npy array ({str(e).splitlines()[0][:80]})") from None
        header = f.tell()
        if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
            raise Refused(f"its array {label} holds Python objects or records, not numbers (pickle is refused)")
        if dtype.kind == "c":
            raise Refused(f"its array {label} is complex ({dtype}); give real numbers")
        if dtype.kind not in "biuf":
            raise Refused(f"its array {label} is {dtype}, not numbers")
        count = 1
        for n in shape:
            count *= int(n)
        if count * dtype.itemsize != info.file_size - header:
            raise Refused(f"its array {label} states shape {tuple(shape)} ({dtype}) but holds "
                          f"{info.file_size - header} bytes of data")
        if len(shape) >= 1 and shape[0] > MAX_ROWS:
            raise Refused(f"its array {label} has {shape[0]:,} rows, over the limit of {MAX_ROWS:,}")
        data = f.read(count * dtype.itemsize)  # exactly what the header and the zip both state
    if len(data) != count * dtype.itemsize:
        raise Refused(f"its array {label} is shorter than its header states")
    return np.frombuffer(data, dtype).reshape(shape, order="F" if fortran else "C")


def check_npz(path: str, outdir: str) -> dict:
    import hashlib
    import io

    import numpy as np

    from compression.safe_zip import check_members, open_zip

    with open(path, "rb") as f:
        content = f.read()
    with open_zip(io.BytesIO(content)) as archive:
        infos = {i.filename: i for i in check_members(archive)}
        names = sorted(n[:-4] for n in infos if n.endswith(".npy"))
        if "x.npy" not in infos or "y.npy" not in infos:
            raise Refused(f"it must hold arrays named x (inputs) and y (labels); it holds "
                          f"{', '.join(names) or 'none'}")
        x = _npy(archive, infos["x.npy"], "x")
        y = _npy(archive, infos["y.npy"], "y")
    if x.dtype.kind == "b" or x.ndim < 2:
        raise Refused(f"x must be a numeric array (N, ...), got {x.dtype} {x.shape}")
    if y.dtype.kind not in "iu" or y.ndim != 1:
        raise Refused(f"y must be 1-D integer labels, got {y.dtype} {y.shape}")
    if len(x) != len(y) or len(x) < 2:
        raise Refused(f"x has {len(x)} rows and y {len(y)}; they must match (at least 2)")
    lo, hi = int(y.min()), int(y.max())  # Python ints: a uint64 label is reported as it is
    if lo < 0 or hi >= 2**31:
        raise Refused(f"y holds labels from {lo} to {hi}; labels must be class indices 0, 1, 2, …")
    # The check is on the float32 tensor the model will see: float64 1e300 is finite, its cast is not.
    x32 = np.empty(x.shape, np.float32)
    rows = max(1, (16 * 2**20) // max(1, x[0].size * 4))
    with np.errstate(over="ignore", invalid="ignore"):
        for i in range(0, len(x), rows):
            x32[i:i + rows] = x[i:i + rows]
            if not np.isfinite(x32[i:i + rows]).all():
                raise Refused("x holds NaN or Inf values as float32 (values beyond ±3.4e38 overflow float32)")
    del x
    np.save(os.path.join(outdir, "x.npy"), x32, allow_pickle=False)
    np.save(os.path.join(outdir, "y.npy"), y.astype(np.int64), allow_pickle=False)
    return {"rows": len(x32), "classes_max": hi, "sha256": hashlib.sha256(content).hexdigest()}


def _image_layout(names: list[str]) -> tuple[list[str], list[tuple[str, int]], dict[str, int]]:
    """torchvision ImageFolder's layout read from member names: (classes, [(member, class)], skipped).

    Classes are the sorted names of the folders that hold PNG/JPEG files, files in sorted
    (folder, name) order as ImageFolder walks them; one enclosing folder (a zipped folder)
    is looked through. Hidden files and __MACOSX/ are ignored; other files are counted.
    """
    files = [n for n in names if not n.endswith("/")
             and not any(p.startswith(".") or p == "__MACOSX" for p in n.split("/"))]
    parts = [n.split("/") for n in files]
    tops = {p[0] for p in parts}
    strip = 1 if len(tops) == 1 and all(len(p) >= 3 for p in parts) else 0
    skipped: dict[str, int] = {}
    picked: list[tuple[str, str]] = []
    for name, p in zip(files, parts):
        rel = p[strip:]
        if PurePosixPath(name).suffix.lower() not in IMAGE_SUFFIXES:
            skipped["not PNG/JPEG"] = skipped.get("not PNG/JPEG", 0) + 1
        elif len(rel) < 2:
            skipped["not in a class folder"] = skipped.get("not in a class folder", 0) + 1
        else:
            picked.append((rel[0], name))
    classes = sorted({c for c, _ in picked})
    index = {c: i for i, c in enumerate(classes)}
    # ImageFolder: for each class, sorted(os.walk(class folder)), i.e. by folder path string, then file name
    order = sorted(picked, key=lambda cn: (cn[0], str(PurePosixPath(cn[1]).parent), PurePosixPath(cn[1]).name))
    return classes, [(n, index[c]) for c, n in order], skipped


def _decode(data: bytes, resize: tuple[int, int] | None):
    """One image as uint8 (H, W, C) with its own channels (grey 1, else RGB 3); a reason string if skipped."""
    import io
    import warnings

    import numpy as np
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data), formats=["PNG", "JPEG"])
            if opened.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
                return "not 8-bit"
            opened.load()
            img = opened.convert("L") if opened.mode in ("1", "L", "LA") else opened.convert("RGB")
            if resize is not None:  # as torchvision's Resize((H, W)) does on a PIL image
                img = img.resize((resize[1], resize[0]), Image.Resampling.BILINEAR)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return f"over {IMAGE_PIXELS:,} pixels"
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, KeyError, struct.error):
        return "not readable"
    a = np.asarray(img, np.uint8)
    return a[:, :, None] if a.ndim == 2 else a


def check_images(path: str, outdir: str, options: dict) -> dict:
    """An ImageFolder zip decoded as ToTensor does (pixels / 255), optionally resized and normalized."""
    import hashlib
    import io

    import numpy as np

    from compression.safe_zip import ZipLimits, check_members, open_zip, printable, read_member

    with open(path, "rb") as f:
        content = f.read()
    shape = tuple(options.get("shape") or ())
    expected = shape if len(shape) == 3 else None
    resize = None
    if options.get("resize"):
        if expected is None:
            raise Refused("resizing needs the model's input height and width, and this model does not state them")
        resize = (int(expected[1]), int(expected[2]))
    mean, std = options.get("mean"), options.get("std")
    with open_zip(io.BytesIO(content)) as archive:
        infos = {i.filename: i for i in check_members(archive, ZipLimits(max_members=IMAGE_MEMBERS))}
        classes, files, skipped = _image_layout(sorted(infos))
        if not files:
            raise Refused("it holds no PNG/JPEG images in class folders (an image folder has one folder per "
                          "class, the images inside)")
        if len(classes) < 2:
            raise Refused(f"it holds one class folder only ({printable(classes[0], 60)!r}); a test set needs "
                          f"at least two")
        if len(files) > MAX_ROWS:
            raise Refused(f"it holds {len(files):,} images, over the limit of {MAX_ROWS:,}")
        x: np.ndarray | None = None
        y: np.ndarray | None = None
        first = ""
        n = 0
        for name, label in files:
            got = _decode(read_member(archive, infos[name]), resize)
            if isinstance(got, str):
                skipped[got] = skipped.get(got, 0) + 1
                continue
            chw = (got.shape[2], got.shape[0], got.shape[1])
            if expected is not None and chw != expected:
                raise Refused(f"image {printable(name, 80)!r} is {chw} (channels, height, width), but the "
                              f"model expects {expected}" + ("" if resize else "; resizing is an option"))
            if x is None:
                if len(files) * got.size * 4 > DECODED_BYTES:
                    raise Refused(f"its {len(files):,} images of {chw} decode to "
                                  f"{len(files) * got.size * 4 / 1e6:,.0f} MB of float32, over the "
                                  f"{DECODED_BYTES / 1e6:.0f} MB limit")
                x = np.empty((len(files), *chw), np.float32)
                y = np.empty(len(files), np.int64)
                first = name
            assert y is not None
            if chw != x.shape[1:]:
                raise Refused(f"image {printable(name, 80)!r} is {chw} (channels, height, width), but "
                              f"{printable(first, 80)!r} is {tuple(x.shape[1:])}: all must share one shape"
                              + ("" if resize else "; resizing is an option"))
            # ToTensor: float32 of the uint8 pixels, divided by 255, channels first
            x[n] = got.transpose(2, 0, 1).astype(np.float32) / np.float32(255)
            y[n] = label
            n += 1
    if x is None or y is None or n < 2:
        raise Refused(f"only {n} of its {len(files)} images could be read ({skipped_text(skipped)})")
    x, y = x[:n], y[:n]
    if mean is not None and std is not None:  # as torchvision's Normalize: (x - mean) / std in float32
        x -= np.float32(mean)
        x /= np.float32(std)
        if not np.isfinite(x).all():
            raise Refused(f"normalizing by ({mean:g}, {std:g}) gives values beyond float32's range")
    np.save(os.path.join(outdir, "x.npy"), x, allow_pickle=False)
    np.save(os.path.join(outdir, "y.npy"), y, allow_pickle=False)
    return {"rows": n, "classes": classes, "skipped": skipped, "sha256": hashlib.sha256(content).hexdigest()}


def skipped_text(skipped: dict[str, int]) -> str:
    """'3 images skipped: not readable', '5 files skipped: 3 not readable, 2 not PNG/JPEG', or ''."""
    total = sum(skipped.values())
    if not total:
        return ""
    what = "file" if set(skipped) & {"not PNG/JPEG", "not in a class folder"} else "image"
    reasons = sorted(skipped.items())
    return (f"{total} {what}{'s' if total != 1 else ''} skipped: "
            + (reasons[0][0] if len(reasons) == 1 else ", ".join(f"{n} {k}" for k, n in reasons)))


def check_pt2(path: str) -> dict:
    """The archive's bytes, validated from memory; their hash lets the parent load exactly these."""
    import hashlib
    import io

    from compression.safe_pt2 import check_archive
    from compression.safe_zip import open_zip

    with open(path, "rb") as f:
        content = f.read()
    with open_zip(io.BytesIO(content)) as archive:
        check_archive(archive)
    return {"sha256": hashlib.sha256(content).hexdigest()}


def check_torch_zip(path: str) -> dict:
    """A `.pt`/`.pth` state dict: a torch.save zip whose headers are within the limits."""
    import hashlib
    import io

    from compression.safe_pt2 import _TORCH_ZIP
    from compression.safe_zip import check_members, open_zip, printable

    with open(path, "rb") as f:
        content = f.read()
    if not zipfile.is_zipfile(io.BytesIO(content)):
        raise Refused("it is not a torch.save zip archive (the legacy pre-1.6 format is refused; "
                      "re-save it with torch.save)")
    with open_zip(io.BytesIO(content)) as archive:
        for info in check_members(archive):
            if not _TORCH_ZIP.fullmatch(info.filename):
                raise Refused(f"its archive holds {printable(info.filename, 80)!r}, not a tensor record")
    return {"sha256": hashlib.sha256(content).hexdigest()}


def _peak_rss() -> int | None:
    """This process's own peak RSS (VmHWM; ru_maxrss would include the parent's pages before exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def main(argv: list[str]) -> int:
    kind, path, outdir = argv[:3]
    _limit(int(argv[3]) if len(argv) > 3 else MEMORY_LIMIT)
    from compression.safe_pt2 import Pt2Refused
    from compression.safe_zip import ZipRefused

    try:
        if kind == "npz":
            info = check_npz(path, outdir)
        elif kind == "images":
            info = check_images(path, outdir, json.loads(argv[4]) if len(argv) > 4 else {})
        elif kind == "pt2":
            info = check_pt2(path)
        elif kind == "pt":
            info = check_torch_zip(path)
        else:
            raise Refused(f"unknown kind {kind}")
        answer = {"ok": True, **info}
    except (Refused, Pt2Refused, ZipRefused) as e:
        answer = {"ok": False, "reason": str(e)}
    except (MemoryError, ImportError):  # ImportError: numpy's own import can fail at the limit
        answer = {"ok": False, "reason": "reading it needs more memory than an upload may use"}
    except Exception as e:  # noqa: BLE001 - an unforeseen file fails here, alone, in one sentence
        answer = {"ok": False, "reason": f"it could not be read ({type(e).__name__})"}
    answer["peak_bytes"] = _peak_rss()
    sys.stdout.write(json.dumps(answer) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
