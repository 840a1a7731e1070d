"""Size accounting against hand arithmetic (Deep Compression's formats)."""
import torch

from compression import size


def test_dense_is_n_times_bits():
    w = torch.randn(10, 20)
    s = size.layer_size(w, 8, codebook_bits=32, bias_numel=10)
    assert s.format == "dense" and s.values == 200 * 8 and s.indices == 0
    assert s.total == 200 * 8 + 32 + 10 * 32


def test_bitmask_beats_dense_at_half_sparsity_and_high_bits():
    w = torch.randn(100, 100)
    w[:, ::2] = 0  # 50 % zeros, every other column: every gap is 2
    s = size.layer_size(w, 32)
    # dense 320,000; bitmask 10,000 + 5,000*32 = 170,000; csr-1: 5,000*(32+1) = 165,000
    assert s.format == "csr-1" and s.total == 5000 * 33


def test_csr_fillers_counted_by_hand():
    w = torch.zeros(1, 100)
    w[0, [0, 40, 41, 99]] = 1.0
    gaps = size.relative_gaps(w)
    assert gaps.tolist() == [1, 40, 1, 58]
    # with 3-bit indices a step covers at most 8: 40 -> 4 fillers, 58 -> 7 fillers
    fillers = size.csr_fillers(w)
    assert fillers[3] == 4 + 7 and size.entries(w, "csr-3") == 4 + 4 + 7
    assert list(fillers) == [1, 2, 3, 4, 5, 6] and fillers[6] == 0  # 2**6 > 58: no wider index tried
    assert size.entries(w, "csr-8") == 4


def test_csr_fillers_read_a_slice_at_a_time_count_the_gaps_across_slices(monkeypatch):
    g = torch.Generator().manual_seed(0)
    w = torch.randn(64, 50, generator=g) * (torch.rand(64, 50, generator=g) < 0.05)
    w[10:30] = 0  # a gap of 1,000 weights over several slices
    gaps = size.relative_gaps(w) - 1  # the whole tensor at once, stored as distance - 1
    whole = {p: int((gaps >> p).sum()) for p in range(1, int(gaps.max()).bit_length() + 1)}
    monkeypatch.setattr(size, "GAP_CHUNK", 97)
    assert size.csr_fillers(w) == whole


def test_binary_weights_without_zero_code_cannot_use_dense():
    w = torch.ones(1, 16)
    w[0, 15] = 0.0
    assert size.layer_size(w, 1).format == "dense"  # 16 bits; 0 has a code
    s = size.layer_size(w, 1, zero_code=False)  # codes are only -a / +a
    assert s.format == "csr-1" and s.total == 15 * (1 + 1)  # no filler needed, so CSR is valid
    w = torch.zeros(1, 16)
    w[0, [0, 15]] = 1.0  # a gap of 15 would need fillers at any index width below 4
    s = size.layer_size(w, 1, zero_code=False)
    assert s.format in ("bitmask", "csr-4") and s.total == min(16 + 2, 2 * (1 + 4))


def test_codebook_bits():
    assert size.codebook_bits(4, "kmeans", "symmetric", False, 300) == 16 * 32
    assert size.codebook_bits(4, "uniform", "symmetric", True, 300) == 300 * 32
    assert size.codebook_bits(4, "uniform", "asymmetric", False, 300) == 64
    assert size.codebook_bits(32, "uniform", "symmetric", False, 300) == 0


def test_the_cheapest_layout_is_the_cheapest_of_every_layout_tried_by_hand():
    """Every sparsity (including few zeros, where layer_size returns dense without trying the
    others): the same total as pricing dense, bitmask and every CSR width up to 16 at once."""
    g = torch.Generator().manual_seed(1)
    for zeros in (0.0, 0.05, 0.19, 0.2, 0.21, 0.3, 0.6, 0.95):
        w = torch.randn(40, 60, generator=g)
        w[torch.rand(40, 60, generator=g) < zeros] = 0
        n, nnz = w.numel(), int(torch.count_nonzero(w))
        for bits in (1, 4, 8):
            gaps = size.relative_gaps(w) - 1
            totals = [n * bits, nnz * bits + n]
            totals += [(nnz + int((gaps >> p).sum())) * (bits + p) for p in range(1, 17)]
            assert size.layer_size(w, bits).total == min(totals), (zeros, bits)
