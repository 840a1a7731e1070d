"""Zip archives from strangers, measured from their headers before a byte is inflated.

`.npz`, `.pt2` and zip-format `.pt`/`.pth` files are zip archives. A zip's central
directory states every member's compressed and uncompressed size, so a zip bomb (1 MB
that inflates to 1 GiB) is refused from the directory alone. A lying header (it states
a small size, the deflated data is larger) cannot cost memory either: Python's zipfile
stops inflating at the stated size and then fails the CRC check, so `read_member` never
holds more than the stated size. No torch import here: the upload worker uses it.
"""
from __future__ import annotations

import re
import unicodedata
import zipfile
from dataclasses import dataclass

MB = 1_000_000  # every size limit is in MB = 10^6 bytes (the unit the page and the CLI print)
UPLOAD_LIMIT = 200 * MB  # one limit: an upload's file size, and what its archive may unpack to


class ZipRefused(ValueError):
    """An archive refused from its headers: one sentence, without the file's name (the caller adds it)."""


@dataclass(frozen=True)
class ZipLimits:
    """What an archive may state in its central directory."""

    max_members: int = 4096  # a torch.export program stores one member per tensor
    max_member_bytes: int = UPLOAD_LIMIT
    max_total_bytes: int = UPLOAD_LIMIT  # all members inflated: never more than the upload limit itself
    max_ratio: float = 200.0  # inflated / compressed, for members over `ratio_floor` bytes
    ratio_floor: int = 1 * MB


_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)?|\x1b.")


def printable(text: str, limit: int = 200) -> str:
    """`text` without terminal escape sequences or control characters, at most `limit` characters."""
    text = _ESCAPES.sub("", str(text))
    text = "".join(c if unicodedata.category(c)[0] != "C" else (" " if c in "\t\n\r" else "") for c in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_members(archive: zipfile.ZipFile, limits: ZipLimits = ZipLimits()) -> list[zipfile.ZipInfo]:
    """Every member's header checked (names, sizes, ratio, method); the members, or ZipRefused."""
    infos = archive.infolist()
    if len(infos) > limits.max_members:
        raise ZipRefused(f"it holds {len(infos)} archive members, over the limit of {limits.max_members}")
    seen: set[str] = set()
    total = 0
    for info in infos:
        name = info.filename
        shown = printable(name, 80)
        if (not name or name.startswith(("/", "\\")) or "\\" in name or ":" in name.split("/")[0]
                or any(part == ".." for part in name.split("/")) or printable(name, 10_000) != name):
            raise ZipRefused(f"its archive member name {shown!r} is not a plain relative path")
        if name in seen:
            raise ZipRefused(f"its archive holds {shown!r} twice")
        seen.add(name)
        if info.flag_bits & 0x1:
            raise ZipRefused(f"its archive member {shown!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ZipRefused(f"its archive member {shown!r} uses an unsupported compression method")
        if info.file_size > limits.max_member_bytes:
            raise ZipRefused(f"its archive member {shown!r} unpacks to {info.file_size / MB:,.0f} MB, "
                             f"over the {limits.max_member_bytes / MB:.0f} MB limit")
        if info.file_size > limits.ratio_floor and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise ZipRefused(f"its archive member {shown!r} is compressed {info.file_size / max(info.compress_size, 1):,.0f}"
                             f" to 1, over the limit of {limits.max_ratio:.0f} to 1 (a zip bomb)")
        total += info.file_size
        if total > limits.max_total_bytes:
            raise ZipRefused(f"its archive unpacks to more than {limits.max_total_bytes / MB:.0f} MB")
    return infos


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int | None = None) -> bytes:
    """The member's bytes, never more than its stated size (or `cap`); ZipRefused if the data disagrees."""
    if cap is not None and info.file_size > cap:
        raise ZipRefused(f"its archive member {printable(info.filename, 80)!r} is {info.file_size / MB:,.1f} MB, "
                         f"over the {cap / MB:,.1f} MB this kind of entry may hold")
    try:
        with archive.open(info) as f:
            data = f.read(info.file_size + 1)  # zipfile itself stops at the stated size
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as e:
        raise ZipRefused(f"its archive member {printable(info.filename, 80)!r} is corrupt "
                         f"({printable(str(e), 80)})") from None
    if len(data) != info.file_size:
        raise ZipRefused(f"its archive member {printable(info.filename, 80)!r} does not hold the size its header states")
    return data


def open_zip(source) -> zipfile.ZipFile:
    """A ZipFile over a path or binary file; ZipRefused if it is not a zip."""
    try:
        return zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise ZipRefused(f"it is not a zip archive ({printable(str(e), 80)})") from None
