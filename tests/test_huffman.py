"""Huffman coding against a reference Huffman length (heapq), the Shannon bound, and round trips."""
import heapq
import math
from collections import Counter

import numpy as np
import pytest

from compression import huffman


def reference_huffman_length(freqs: list[int]) -> int:
    """Total coded length of an optimal prefix code: the sum of all merge weights (Huffman 1952)."""
    if len(freqs) == 1:
        return freqs[0]  # one symbol: one bit each
    heap = list(freqs)
    heapq.heapify(heap)
    total = 0
    while len(heap) > 1:
        merged = heapq.heappop(heap) + heapq.heappop(heap)
        total += merged
        heapq.heappush(heap, merged)
    return total


def entropy(freqs: list[int]) -> float:
    n = sum(freqs)
    return -sum(f / n * math.log2(f / n) for f in freqs)


SEQUENCES = {
    "skewed": np.random.default_rng(0).geometric(0.3, size=5000) - 1,
    "uniform-16": np.random.default_rng(1).integers(0, 16, size=4000),
    "negative": np.random.default_rng(2).integers(-40, 40, size=3000),
    "two": np.array([7] * 99 + [-3]),
    "dyadic": np.array([0] * 8 + [1] * 4 + [2] * 2 + [3] + [4]),
}


@pytest.mark.parametrize("name", SEQUENCES)
def test_code_is_prefix_free(name):
    lengths = huffman.code_lengths(Counter(SEQUENCES[name].tolist()))
    words = [format(c, f"0{n}b") for c, n in huffman.canonical_codes(lengths).values()]
    assert len(set(words)) == len(words)
    for a in words:
        for b in words:
            assert a == b or not b.startswith(a), (a, b)
    assert sum(2.0 ** -len(w) for w in words) <= 1.0  # Kraft inequality


@pytest.mark.parametrize("name", SEQUENCES)
def test_length_is_optimal_and_within_entropy_bounds(name):
    seq = SEQUENCES[name]
    freqs = list(Counter(seq.tolist()).values())
    payload = huffman.coded_bits(seq) - huffman.table_bits(set(seq.tolist()))
    assert payload == reference_huffman_length(freqs)
    h = entropy(freqs) * len(seq)
    assert h - 1e-9 <= payload < h + len(seq)  # Shannon: H <= L < H + 1 bit per symbol
    assert huffman.entropy_bits(seq) == pytest.approx(entropy(freqs))
    assert huffman.histogram_bits(*np.unique(seq, return_counts=True)) == huffman.coded_bits(seq)


def test_dyadic_frequencies_meet_entropy_exactly():
    seq = SEQUENCES["dyadic"]  # probabilities 1/2, 1/4, 1/8, 1/16, 1/16
    payload = huffman.coded_bits(seq) - huffman.table_bits(set(seq.tolist()))
    assert payload == pytest.approx(entropy([8, 4, 2, 1, 1]) * len(seq))


@pytest.mark.parametrize("name", SEQUENCES)
def test_decode_inverts_encode_and_size_matches_coded_bits(name):
    seq = SEQUENCES[name]
    blob = huffman.encode(seq)
    assert np.array_equal(huffman.decode(blob), seq)
    assert len(blob) == math.ceil(huffman.coded_bits(seq) / 8)  # the file is what is counted


def test_one_symbol_and_empty_sequences():
    one = np.full(10, 5)
    assert huffman.code_lengths(Counter(one.tolist())) == {5: 1}
    assert huffman.coded_bits(one) - huffman.table_bits({5}) == 10
    assert np.array_equal(huffman.decode(huffman.encode(one)), one)
    assert huffman.coded_bits([]) == huffman.table_bits([])
    assert huffman.decode(huffman.encode([])).size == 0
    assert huffman.entropy_bits([]) == 0.0


def test_long_codes_decode_without_lookup_table():
    # Fibonacci frequencies give the deepest Huffman tree: code lengths up to k-1 bits.
    fib = [1, 1]
    while len(fib) < 22:
        fib.append(fib[-1] + fib[-2])
    seq = np.repeat(np.arange(len(fib)), fib)
    np.random.default_rng(0).shuffle(seq)
    assert max(huffman.code_lengths(Counter(seq.tolist())).values()) > huffman.LUT_MAX_BITS
    assert np.array_equal(huffman.decode(huffman.encode(seq)), seq)


def test_corrupt_or_bad_input_is_one_clear_error():
    blob = huffman.encode(SEQUENCES["skewed"])
    with pytest.raises(ValueError, match="truncated"):
        huffman.decode(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="truncated"):
        huffman.decode(blob[:3])
    with pytest.raises(ValueError, match="int32"):
        huffman.encode([2**40])


@pytest.mark.parametrize("name", SEQUENCES)
def test_histogram_bits_equals_coded_bits(name):
    symbols, counts = np.unique(SEQUENCES[name], return_counts=True)
    assert huffman.histogram_bits(symbols, counts) == huffman.coded_bits(SEQUENCES[name])
