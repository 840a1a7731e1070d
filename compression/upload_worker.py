"""The upload worker: checks (and for `.npz`, decodes) one user file in a process of its own.

Run as `python -m compression.upload_worker KIND PATH OUTDIR [MEMORY_BYTES]` by `compression.loading`.
It limits its own address space and CPU time (resource.setrlimit) before reading a byte,
so a file whose cost nobody foresaw kills this process, not the server. It imports no
torch (a fresh interpreter with numpy starts in a fraction of a second, and nothing here
can deserialize code), and it hands back only plain `.npy` arrays it wrote itself, read
by the parent with `allow_pickle=False`. Its answer is one JSON line on stdout.
"""
from __future__ import annotations

import json
import os
import sys
import zipfile

MEMORY_LIMIT = 1_500_000_000  # address space: the file read whole (<= 200 MB), its float64 x, the float32 copy, numpy
CPU_SECONDS = 120
MAX_ROWS = 100_000  # rows of an uploaded test set (the digits test split has 360)


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
