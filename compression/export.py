"""Write a compressed model as the compact file the size model describes, and read it back.

The file's length is the *measured* size: theory says what the formats cost, this says what
they cost once written (headers, byte alignment). `from_bytes` proves nothing was lost.

Layout: MAGIC, 4-byte header length, a JSON header, then each blob in header order.
A layer in a `*-huffman` format (Deep Compression stage 3) stores its codes, and its CSR gaps,
as `huffman.encode` blobs; a file holding any such layer starts with MAGIC_HUFFMAN, so a
reader of the fixed-width format refuses it instead of misreading it.
"""
from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from compression import huffman, models, quantizers, size
from compression.quantizers import FLOAT_CODEC, Codec, Quantized, lookup

# 4: each layer names its quantizer and granularity, and stores only the side information
# charged, each value in its record's dtype (float16 group scales, E8M0 / E4M3 block scales)
MAGIC = b"CLAB4"
MAGIC_HUFFMAN = b"CLAB5"  # as 4, plus layers whose codes and gaps are Huffman-coded


def codec_for(quant: Quantized | None) -> Codec:
    """The codec of a layer as compress() quantized it (`quant[name]`), or float32 when it was not."""
    return FLOAT_CODEC if quant is None else quant.codec


def to_bytes(model: nn.Module, sizes: dict[str, size.LayerSize],
             codecs: dict[str, Codec], codes: dict[str, np.ndarray] | None = None) -> bytes:
    """Serialise every compressible layer in its chosen format; other tensors as float32.

    `codes`: each layer's codes (every weight, flattened) where already computed, as the
    Huffman pricing has them: a `*-huffman` layer then does not encode its weights again.
    """
    header: dict[str, Any] = {"layers": [], "other": []}
    blobs: list[bytes] = []
    for kind, entry, parts in _entries(model, sizes, codecs, codes):
        header[kind].append(entry)
        blobs.extend(parts)
    return b"".join([_preamble(header), *blobs])  # one join: the file is built once, not copied again


def file_bytes(model: nn.Module, sizes: dict[str, size.LayerSize],
               codecs: dict[str, Codec], codes: dict[str, np.ndarray] | None = None) -> int:
    """len(to_bytes(...)), one layer's blobs at a time: a float32 SmolLM2 file is 0.65 GB, and
    holding it (and its parts) only to count it was most of an evaluation's peak memory."""
    header: dict[str, Any] = {"layers": [], "other": []}
    total = 0
    for kind, entry, parts in _entries(model, sizes, codecs, codes):
        header[kind].append(entry)
        total += sum(len(b) for b in parts)
    return len(_preamble(header)) + total


def _preamble(header: dict[str, Any]) -> bytes:
    head = json.dumps(header, separators=(",", ":")).encode()
    coded = any(e["format"].endswith("-huffman") for e in header["layers"])
    return (MAGIC_HUFFMAN if coded else MAGIC) + struct.pack("<I", len(head)) + head


def _entries(model: nn.Module, sizes: dict[str, size.LayerSize], codecs: dict[str, Codec],
             codes: dict[str, np.ndarray] | None) -> Iterator[tuple[str, dict[str, Any], tuple[bytes, ...]]]:
    """("layers" | "other", header entry, its blobs in file order), tensor by tensor."""
    layers = models.layers(model)
    for name, layer in layers.items():
        w = layer.weight.detach()
        fmt, codec = sizes[name].format, codecs.get(name, FLOAT_CODEC)
        flat = w.flatten()
        positions: torch.Tensor | None  # None: every weight (dense)
        if fmt.endswith("-huffman"):
            positions, index_blob, value_blob, index_bits = _huffman_blobs(flat, fmt, codec, (codes or {}).get(name))
        else:
            positions, index_blob, index_bits = _positions(flat, fmt)
            # a step of PACK_CHUNK codes at a time (a multiple of 8: the same bytes as at once)
            value_blob = b"".join(flat[p].float().numpy().tobytes() if codec.is_float
                                  else _pack(codec.encode(flat[p], p), codec.bits)
                                  for p in _steps(positions, flat.numel()))
        # exactly the side information theory charges, each value in its stored dtype
        side = quantizers.side_to_bytes(codec.side, codec.side_layout)
        # AWQ's / SmoothQuant's per-input-channel s, float16, in the order the weights were divided
        side += b"".join(s.half().numpy().tobytes() for s in codec.column_scales)
        entry = {"name": name, "param": layer.param, "shape": list(w.shape), "format": fmt, "quantizer": codec.quantizer,
                 "bits": codec.bits, "scheme": codec.scheme,
                 "granularity": _grain_word(codec.granularity), "side_entries": int(codec.side.numel()),
                 "entries": flat.numel() if positions is None else int(positions.numel()), "index_bits": index_bits,
                 **({"column_scales": [int(s.numel()) for s in codec.column_scales]} if codec.column_scales else {}),
                 "sizes": [len(index_blob), len(value_blob), len(side)]}
        yield "layers", entry, (index_blob, value_blob, side)
    weights = {layer.param for layer in layers.values()}
    for pname, p in model.named_parameters():
        if pname in weights:
            continue
        blob = p.detach().float().numpy().tobytes()
        yield "other", {"name": pname, "shape": list(p.shape), "size": len(blob)}, (blob,)


def from_bytes(blob: bytes) -> dict[str, torch.Tensor]:
    """Decode a file written by to_bytes into a state dict (for tests and re-use)."""
    if not blob.startswith((MAGIC, MAGIC_HUFFMAN)):
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
        coded = e["format"].endswith("-huffman")
        if coded:
            positions = _decode_huffman_positions(index_blob, e["format"], numel)
        else:
            positions = _decode_positions(index_blob, e["format"], e["entries"], numel, e["index_bits"])
        if len(positions) and (int(positions.max()) >= numel or int(positions.min()) < 0):
            raise ValueError(f"layer {e['name']!r} is corrupt: an index points outside its {numel} weights")
        record = lookup(e["quantizer"])  # an unknown quantizer: one ValueError naming it, before decoding
        grain = _grain(e["granularity"])
        layout = record.side_layout(e["scheme"], grain, e["side_entries"])
        scales, start = [], sum(count * quantizers.SIDE_DTYPES[dtype] // 8 for count, dtype in layout)
        for n in e.get("column_scales", []):
            scales.append(torch.from_numpy(np.frombuffer(side[start:start + 2 * n], dtype=np.float16).copy()).float())
            start += 2 * n
        if start != len(side):
            raise ValueError(f"layer {e['name']!r} is corrupt: its side information has {len(side)} bytes, not {start}")
        codec = Codec(e["quantizer"], e["bits"], e["scheme"], grain, e["shape"][0], max(1, numel // e["shape"][0]),
                      quantizers.side_from_bytes(side, layout), tuple(scales))
        if codec.is_float:
            values = torch.from_numpy(np.frombuffer(value_blob, dtype=np.float32).copy())
        else:
            codes = huffman.decode(value_blob) if coded else _unpack(value_blob, e["bits"], e["entries"])
            if len(codes) != len(positions):
                raise ValueError(f"layer {e['name']!r} is corrupt: {len(codes)} codes for {len(positions)} positions")
            values = codec.decode(codes, positions)
        flat = torch.zeros(numel)
        flat[positions] = values
        state[e.get("param", e["name"] + ".weight")] = flat.reshape(e["shape"])
    for e in header["other"]:
        state[e["name"]] = torch.from_numpy(
            np.frombuffer(blob[offset:offset + e["size"]], dtype=np.float32).copy()).reshape(e["shape"])
        offset += e["size"]
    return state


def _steps(positions: torch.Tensor | None, numel: int) -> Iterator[torch.Tensor]:
    """The stored entries' positions PACK_CHUNK at a time; None: every weight (dense), made a
    step at a time (SmolLM2's LM head's at once: 0.23 GB of int64)."""
    if positions is not None:
        yield from positions.split(PACK_CHUNK)
        return
    for i in range(0, numel, PACK_CHUNK):
        yield torch.arange(i, min(numel, i + PACK_CHUNK))


def _positions(flat: torch.Tensor, fmt: str) -> tuple[torch.Tensor | None, bytes, int]:
    """Positions of stored entries (None: every weight, dense), and the index blob (bitmask or
    relative indices)."""
    if fmt == "dense":
        return None, b"", 0
    nonzero = torch.nonzero(flat).flatten()
    if fmt == "bitmask":
        return nonzero, np.packbits((flat != 0).numpy()).tobytes(), 1
    p = int(fmt.split("-")[1])
    positions_t = size.csr_positions(nonzero, 2**p)
    gaps = torch.diff(positions_t, prepend=torch.tensor([-1])) - 1  # stored as distance - 1
    return positions_t, _pack(gaps.numpy(), p), p


def _grain_word(g: quantizers.Granularity) -> str:
    """'tensor', 'channel' or 'group:128' in the header."""
    return f"group:{g.size}" if isinstance(g, quantizers.PerGroup) else g.word


def _grain(word: str) -> quantizers.Granularity:
    kind, _, size_text = str(word).partition(":")
    if kind not in quantizers.GRANULARITIES or (kind == "group") != bool(size_text.isdigit()):
        raise ValueError(f"not a Compression Lab model file: granularity {word!r} is unknown")
    return quantizers.granularity(kind, int(size_text) if size_text else 0)


def _huffman_blobs(flat: torch.Tensor, fmt: str, codec: Codec, codes: np.ndarray | None = None
                   ) -> tuple[torch.Tensor, bytes, bytes, int]:
    """Positions, index blob, value blob and index bits of a `*-huffman` layout (size.huffman_streams)."""
    if codec.is_float:
        raise ValueError(f"format {fmt!r} needs quantized weights: a float layer has no codes to Huffman-code")
    if codes is None:
        codes = codec.encode(flat, torch.arange(flat.numel()))
    positions, values, gaps = size.huffman_streams(codes, torch.nonzero(flat).flatten(), fmt)
    if fmt == "bitmask-huffman":
        return positions, np.packbits((flat != 0).numpy()).tobytes(), huffman.encode(values), 1
    index_bits = 0 if gaps is None else int(fmt.split("-")[1])
    return positions, b"" if gaps is None else huffman.encode(gaps), huffman.encode(values), index_bits


def _decode_huffman_positions(index_blob: bytes, fmt: str, numel: int) -> torch.Tensor:
    if fmt == "dense-huffman":
        return torch.arange(numel)
    if fmt == "bitmask-huffman":
        return _decode_positions(index_blob, "bitmask", 0, numel, 1)
    return torch.from_numpy(np.cumsum(huffman.decode(index_blob) + 1) - 1)


def _decode_positions(index_blob: bytes, fmt: str, entries: int, numel: int, p: int) -> torch.Tensor:
    if fmt == "dense":
        return torch.arange(numel)
    if fmt == "bitmask":
        bits = np.unpackbits(np.frombuffer(index_blob, dtype=np.uint8))[:numel]
        return torch.from_numpy(np.nonzero(bits)[0])
    gaps = torch.from_numpy(_unpack(index_blob, p, entries).astype(np.int64)) + 1
    return torch.cumsum(gaps, 0) - 1


PACK_CHUNK = 2 ** 20  # codes per step: a multiple of 8, so every step but the last ends on a byte


def _pack(codes: np.ndarray, bits: int) -> bytes:
    """Pack non-negative integers at `bits` each, big-endian bit order, into bytes.

    In steps of PACK_CHUNK codes: the bit matrix of SmolLM2's LM head at once (28 M codes x 8
    bits as uint64) was 1.8 GB; a step's is 64 MB, and the bytes are the same.
    """
    codes = np.asarray(codes, dtype=np.uint64)
    shifts = np.arange(bits - 1, -1, -1, dtype=np.uint64)
    return b"".join(np.packbits(((codes[i:i + PACK_CHUNK, None] >> shifts) & 1).astype(np.uint8).ravel()).tobytes()
                    for i in range(0, len(codes), PACK_CHUNK))


def _unpack(blob: bytes, bits: int, count: int) -> np.ndarray:
    raw = np.unpackbits(np.frombuffer(blob, dtype=np.uint8))[:count * bits].reshape(count, bits)
    return (raw.astype(np.uint64) << np.arange(bits - 1, -1, -1, dtype=np.uint64)).sum(1)
