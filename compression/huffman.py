"""Canonical Huffman coding of integer symbols: Deep Compression's stage 3 (Han et al. 2016, §4).

Quantized weight codes and relative-index gaps are far from uniform (most weights sit near
zero, most gaps are short), so a variable-length prefix code stores them in fewer bits than
a fixed width. The code is *canonical* (Schwartzkopf & Dallas 1964; as in DEFLATE, RFC 1951
§3.2.2): codes follow from the code lengths alone, so the table stored beside the payload
is just (symbol, length) pairs, and `coded_bits` counts that table in the size.

Byte layout of `encode` (integers little-endian):
  u32 number of symbols in the sequence n, u16 number of distinct symbols k,
  i32 smallest symbol m, u8 width w of (symbol - m)
  then one bit stream, most significant bit first, zero-padded to a whole byte:
  k x (w-bit symbol - m, 6-bit code length), in canonical order (length, then value);
  then the n codes.
Symbols are stored relative to the smallest at the width the largest needs, so a table of
4-bit weight codes costs 10 bits an entry, not 40. Six bits hold any length: a code of 64
bits needs Fibonacci-skewed counts over 2**32 symbols (Buro 1993), more than u32 n allows.
"""
from __future__ import annotations

import heapq
import struct
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

LENGTH_BITS = 6       # each table entry's code length (see the module docstring)
HEADER = struct.Struct("<IHiB")  # n, k, smallest symbol, symbol width
HEADER_BITS = 8 * HEADER.size
MAX_SYMBOLS = 2**16 - 1
LUT_MAX_BITS = 16     # decode through a 2**L lookup table up to this code length


def code_lengths(frequencies: Mapping[int, int]) -> dict[int, int]:
    """Optimal prefix-code length per symbol (Huffman 1952); a lone symbol gets 1 bit."""
    items = [(int(f), s) for s, f in frequencies.items() if f > 0]
    if not items:
        return {}
    if len(items) == 1:
        # A zero-length code cannot be written or counted; one bit per symbol is the
        # smallest real code (the payload could be omitted, but then the format lies).
        return {items[0][1]: 1}
    # Heap entries: (weight, tie-breaker, symbols in the subtree). Merging two subtrees
    # deepens every symbol in both by one bit.
    heap = [(f, i, [s]) for i, (f, s) in enumerate(sorted(items, key=lambda t: (t[0], t[1])))]
    heapq.heapify(heap)
    depth = {s: 0 for _, s in items}
    tie = len(heap)
    while len(heap) > 1:
        fa, _, a = heapq.heappop(heap)
        fb, _, b = heapq.heappop(heap)
        for s in a + b:
            depth[s] += 1
        heapq.heappush(heap, (fa + fb, tie, a + b))
        tie += 1
    return depth


def canonical_codes(lengths: Mapping[int, int]) -> dict[int, tuple[int, int]]:
    """Symbol -> (code value, length), assigned in (length, symbol) order (RFC 1951 §3.2.2)."""
    codes: dict[int, tuple[int, int]] = {}
    code, prev = 0, 0
    for sym, n in sorted(lengths.items(), key=lambda t: (t[1], t[0])):
        code <<= n - prev
        codes[sym] = (code, n)
        code += 1
        prev = n
    return codes


def symbol_width(distinct: Iterable[int]) -> int:
    """Bits each table entry spends on its symbol: enough for (largest - smallest)."""
    values = list(distinct)
    return (max(values) - min(values)).bit_length() if values else 0


def table_bits(distinct: Iterable[int]) -> int:
    """Bits of the serialized code table for these distinct symbols: header, then symbol + length each."""
    values = list(distinct)
    return HEADER_BITS + len(values) * (symbol_width(values) + LENGTH_BITS)


def histogram_bits(symbols: np.ndarray, counts: np.ndarray) -> int:
    """`coded_bits` of any sequence with this histogram (distinct symbols, their counts > 0).

    The payload of an optimal code is the sum of the weights Huffman's merges create
    (each merge adds one bit to every symbol below it), so no code lengths are built:
    this is the hot path of pricing every layer at every index width.
    """
    if len(counts) == 0:
        return table_bits([])
    heap = np.asarray(counts).tolist()
    payload = heap[0] if len(heap) == 1 else 0  # a lone symbol: 1 bit each
    heapq.heapify(heap)
    while len(heap) > 1:
        merged = heapq.heappop(heap) + heapq.heappop(heap)
        payload += merged
        heapq.heappush(heap, merged)
    width = int(symbols.max() - symbols.min()).bit_length()
    return payload + HEADER_BITS + len(counts) * (width + LENGTH_BITS)


def coded_bits(symbols: Iterable[int]) -> int:
    """Total bits `encode` writes before byte padding: payload plus code table."""
    counts = _counts(symbols)
    lengths = code_lengths(counts)
    return sum(counts[s] * n for s, n in lengths.items()) + table_bits(lengths)


def entropy_bits(symbols: Iterable[int]) -> float:
    """Shannon entropy of the sequence's empirical distribution, in bits per symbol."""
    counts = np.array(list(_counts(symbols).values()), dtype=np.float64)
    if counts.size == 0:
        return 0.0
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


def encode(symbols: Sequence[int] | np.ndarray) -> bytes:
    """Huffman-code a sequence of integers (each in int32 range) into self-describing bytes."""
    seq = np.asarray(symbols, dtype=np.int64).ravel()
    if seq.size and (seq.min() < -(2**31) or seq.max() >= 2**31):
        raise ValueError("Huffman symbols must fit in int32, got a value outside -2**31..2**31-1")
    counts = _counts(seq)
    if len(counts) > MAX_SYMBOLS:
        raise ValueError(f"Huffman coding takes at most {MAX_SYMBOLS} distinct symbols, got {len(counts)}")
    codes = canonical_codes(code_lengths(counts))
    order = sorted(codes, key=lambda s: (codes[s][1], s))
    low, width = (min(order) if order else 0), symbol_width(order)
    table = np.array([[s - low, codes[s][1]] for s in order], dtype=np.int64).reshape(-1, 2)
    table_stream = np.concatenate([_bits_of(table[:, 0], width), _bits_of(table[:, 1], LENGTH_BITS)], axis=1)
    return HEADER.pack(seq.size, len(order), low, width) + np.packbits(
        np.concatenate([table_stream.ravel(), _code_bits(seq, codes)])).tobytes()


def decode(blob: bytes) -> np.ndarray:
    """The int64 sequence `encode` wrote; ValueError on a truncated or inconsistent blob."""
    try:
        n, k, low, width = HEADER.unpack_from(blob, 0)
    except struct.error:
        raise ValueError("Huffman data is truncated: its header is incomplete") from None
    stream = np.unpackbits(np.frombuffer(blob, dtype=np.uint8, offset=HEADER.size))
    entry = width + LENGTH_BITS
    if stream.size < k * entry:
        raise ValueError("Huffman data is truncated: its code table is incomplete")
    rows = stream[:k * entry].reshape(k, entry).astype(np.int64)
    weights = 1 << np.arange(entry - 1, -1, -1, dtype=np.int64)
    symbols = rows[:, :width] @ weights[LENGTH_BITS:] + low if width else np.full(k, low, dtype=np.int64)
    lengths = dict(zip(symbols.tolist(), (rows[:, width:] @ weights[-LENGTH_BITS:]).tolist()))
    if n and not lengths:
        raise ValueError("Huffman data is inconsistent: symbols but no code table")
    bits = stream[k * entry:]
    codes = canonical_codes(lengths)
    if any(length < 1 or c >= 1 << length for c, length in codes.values()):
        raise ValueError("Huffman data is corrupt: its code lengths do not form a prefix code")
    max_len = max(lengths.values(), default=0)
    if max_len > LUT_MAX_BITS:
        return _decode_bitwise(bits, codes, n)
    # Table decoding: the next max_len bits index a table giving the symbol and its true
    # length (a prefix code makes every extension of a code map to that code's symbol).
    lut_sym = np.zeros(2**max_len, dtype=np.int64)
    lut_len = np.zeros(2**max_len, dtype=np.int64)  # 0 = no code starts with these bits
    for s, (c, length) in codes.items():
        lo = c << (max_len - length)
        lut_sym[lo:lo + (1 << (max_len - length))] = s
        lut_len[lo:lo + (1 << (max_len - length))] = length
    padded = np.concatenate([bits, np.zeros(max_len, dtype=np.uint8)]).astype(np.int64)
    windows = np.zeros(bits.size + 1, dtype=np.int64)
    for k in range(max_len):  # windows[i] = the max_len bits starting at bit i
        windows += padded[k:k + bits.size + 1] << (max_len - 1 - k)
    out = np.empty(n, dtype=np.int64)
    i = 0
    for j in range(n):
        if i >= bits.size or lut_len[windows[i]] == 0:
            raise ValueError("Huffman data is truncated or corrupt: a code does not decode")
        w = windows[i]
        out[j] = lut_sym[w]
        i += int(lut_len[w])
    if i > bits.size:
        raise ValueError("Huffman data is truncated: the last code runs past the end")
    return out


def _decode_bitwise(bits: np.ndarray, codes: Mapping[int, tuple[int, int]], n: int) -> np.ndarray:
    """Bit-by-bit decoding, for codes too long for a lookup table (very skewed frequencies)."""
    by_code = {(c, length): s for s, (c, length) in codes.items()}
    max_len = max(length for _, length in codes.values())
    out = np.empty(n, dtype=np.int64)
    code = length = i = 0
    for j in range(n):
        while True:
            if i >= bits.size or length >= max_len:
                raise ValueError("Huffman data is truncated or corrupt: a code does not decode")
            code = (code << 1) | int(bits[i])
            i += 1
            length += 1
            sym = by_code.get((code, length))
            if sym is not None:
                out[j] = sym
                code = length = 0
                break
    return out


def _bits_of(values: np.ndarray, width: int) -> np.ndarray:
    """Each value as `width` bits, most significant first: one row per value."""
    shifts = np.arange(width - 1, -1, -1, dtype=np.int64)
    return ((values[:, None] >> shifts[None, :]) & 1).astype(np.uint8)


def _code_bits(seq: np.ndarray, codes: Mapping[int, tuple[int, int]]) -> np.ndarray:
    """The codes of `seq` concatenated MSB-first, one bit per element (vectorised: ~10^5 weights)."""
    if seq.size == 0:
        return np.zeros(0, dtype=np.uint8)
    syms = np.array(sorted(codes), dtype=np.int64)
    values = np.array([codes[s][0] for s in syms], dtype=np.uint64)
    lens = np.array([codes[s][1] for s in syms], dtype=np.int64)
    idx = np.searchsorted(syms, seq)
    v, n = values[idx], lens[idx]
    max_len = int(lens.max())
    # One row of max_len bits per symbol, right-aligned code; keep each row's last n bits.
    shifts = np.arange(max_len - 1, -1, -1, dtype=np.uint64)
    bit_rows = ((v[:, None] >> shifts[None, :]) & np.uint64(1)).astype(np.uint8)
    keep = np.arange(max_len)[None, :] >= (max_len - n)[:, None]
    return bit_rows[keep]


def _counts(symbols: Iterable[int]) -> Counter[int]:
    if isinstance(symbols, np.ndarray):
        values, counts = np.unique(symbols.ravel(), return_counts=True)
        return Counter(dict(zip(values.tolist(), counts.tolist())))
    return Counter(int(s) for s in symbols)
