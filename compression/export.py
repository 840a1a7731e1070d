"""Write a compressed model as the compact file the size model describes, and read it back.

The file's length is the *measured* size: theory says what the formats cost, this says what
they cost once written (headers, byte alignment). `from_bytes` proves nothing was lost.

Layout: MAGIC, 4-byte header length, a JSON header, then each blob in header order.
"""
from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import torch
from torch import nn

from compression import models, size
from compression.quantizers import FLOAT_CODEC, Codec, Quantized, lookup

MAGIC = b"CLAB2"  # 2: each layer names its quantizer and stores only the side information charged


def codec_for(quant: Quantized | None) -> Codec:
    """The codec of a layer as compress() quantized it (`quant[name]`), or float32 when it was not."""
    return FLOAT_CODEC if quant is None else quant.codec


def to_bytes(model: nn.Module, sizes: dict[str, size.LayerSize],
             codecs: dict[str, Codec]) -> bytes:
    """Serialise every compressible layer in its chosen format; other tensors as float32."""
    header: dict[str, Any] = {"layers": [], "other": []}
    blobs: list[bytes] = []
    layers = models.layers(model)
    for name, layer in layers.items():
        w = layer.weight.detach()
        fmt, codec = sizes[name].format, codecs.get(name, FLOAT_CODEC)
        flat = w.flatten()
        positions, index_blob, index_bits = _positions(flat, fmt)
        rows = positions // max(1, w[0].numel())
        values = flat[positions]
        value_blob = (values.float().numpy().tobytes() if codec.is_float
                      else _pack(codec.encode(values, rows), codec.bits))
        side = codec.side.float().numpy().tobytes()  # exactly the side information theory charges
        entry = {"name": name, "shape": list(w.shape), "format": fmt, "quantizer": codec.quantizer,
                 "bits": codec.bits, "scheme": codec.scheme, "per_row": codec.per_channel,
                 "entries": int(positions.numel()), "index_bits": index_bits}
        blobs.extend((index_blob, value_blob, side))
        entry["sizes"] = [len(index_blob), len(value_blob), len(side)]
        header["layers"].append(entry)
    for pname, p in model.named_parameters():
        if pname.rsplit(".", 1)[0] in layers and pname.endswith(".weight"):
            continue
        blob = p.detach().float().numpy().tobytes()
        header["other"].append({"name": pname, "shape": list(p.shape), "size": len(blob)})
        blobs.append(blob)
    head = json.dumps(header, separators=(",", ":")).encode()
    return MAGIC + struct.pack("<I", len(head)) + head + b"".join(blobs)


def from_bytes(blob: bytes) -> dict[str, torch.Tensor]:
    """Decode a file written by to_bytes into a state dict (for tests and re-use)."""
    if not blob.startswith(MAGIC):
        raise ValueError("not a Compression Lab model file (bad magic bytes)")
    (n,) = struct.unpack("<I", blob[len(MAGIC):len(MAGIC) + 4])
    offset = len(MAGIC) + 4
    header = json.loads(blob[offset:offset + n])
    offset += n
    state: dict[str, torch.Tensor] = {}
    for e in header["layers"]:
        parts = []
        for length in e["sizes"]:
            parts.append(blob[offset:offset + length])
            offset += length
        index_blob, value_blob, side = parts
        numel = int(np.prod(e["shape"]))
        positions = _decode_positions(index_blob, e["format"], e["entries"], numel, e["index_bits"])
        rows = positions // max(1, numel // e["shape"][0])
        lookup(e["quantizer"])  # an unknown quantizer: one ValueError naming it, before decoding
        codec = Codec(e["quantizer"], e["bits"], e["scheme"], e["per_row"], e["shape"][0],
                      torch.from_numpy(np.frombuffer(side, dtype=np.float32).copy()))
        if codec.is_float:
            values = torch.from_numpy(np.frombuffer(value_blob, dtype=np.float32).copy())
        else:
            values = codec.decode(_unpack(value_blob, e["bits"], e["entries"]), rows)
        flat = torch.zeros(numel)
        flat[positions] = values
        state[e["name"] + ".weight"] = flat.reshape(e["shape"])
    for e in header["other"]:
        state[e["name"]] = torch.from_numpy(
            np.frombuffer(blob[offset:offset + e["size"]], dtype=np.float32).copy()).reshape(e["shape"])
        offset += e["size"]
    return state


def _positions(flat: torch.Tensor, fmt: str) -> tuple[torch.Tensor, bytes, int]:
    """Positions of stored entries, and the index blob (bitmask or relative indices)."""
    if fmt == "dense":
        return torch.arange(flat.numel()), b"", 0
    nonzero = torch.nonzero(flat).flatten()
    if fmt == "bitmask":
        return nonzero, np.packbits((flat != 0).numpy()).tobytes(), 1
    p = int(fmt.split("-")[1])
    positions_t = _with_fillers(nonzero, 2**p)
    gaps = torch.diff(positions_t, prepend=torch.tensor([-1])) - 1  # stored as distance - 1
    return positions_t, _pack(gaps.numpy(), p), p


def _with_fillers(nonzero: torch.Tensor, limit: int) -> torch.Tensor:
    """Entry positions: each kept weight, preceded by a filler every `limit` steps of a long gap."""
    gaps = torch.diff(nonzero, prepend=torch.tensor([-1]))
    counts = (gaps - 1) // limit + 1          # fillers + the kept weight itself
    group = torch.repeat_interleave(torch.arange(len(nonzero)), counts)
    first = torch.cumsum(counts, 0) - counts
    step = torch.arange(int(counts.sum())) - first[group] + 1
    positions = (nonzero - gaps)[group] + limit * step
    positions[torch.cumsum(counts, 0) - 1] = nonzero  # the last of each group is the weight
    return positions


def _decode_positions(index_blob: bytes, fmt: str, entries: int, numel: int, p: int) -> torch.Tensor:
    if fmt == "dense":
        return torch.arange(numel)
    if fmt == "bitmask":
        bits = np.unpackbits(np.frombuffer(index_blob, dtype=np.uint8))[:numel]
        return torch.from_numpy(np.nonzero(bits)[0])
    gaps = torch.from_numpy(_unpack(index_blob, p, entries).astype(np.int64)) + 1
    return torch.cumsum(gaps, 0) - 1


def _pack(codes: np.ndarray, bits: int) -> bytes:
    """Pack non-negative integers at `bits` each, big-endian bit order, into bytes."""
    codes = np.asarray(codes, dtype=np.uint64)
    bit_matrix = (codes[:, None] >> np.arange(bits - 1, -1, -1, dtype=np.uint64)) & 1
    return np.packbits(bit_matrix.astype(np.uint8).flatten()).tobytes()


def _unpack(blob: bytes, bits: int, count: int) -> np.ndarray:
    raw = np.unpackbits(np.frombuffer(blob, dtype=np.uint8))[:count * bits].reshape(count, bits)
    return (raw.astype(np.uint64) << np.arange(bits - 1, -1, -1, dtype=np.uint64)).sum(1)
