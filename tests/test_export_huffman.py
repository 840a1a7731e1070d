"""Deep Compression stage 3 in the size model and the written file (Han et al. 2016, §4).

References: a Huffman code length from `heapq` (the textbook merge, written here apart from
compression.huffman), hand-built streams, and the original tensors the file must give back.
"""
import struct

import numpy as np
import pytest
import torch
from torch import nn

from compression import downloads, export, models, pipeline, plan, quantizers, size
from compression.config import PRESETS, CompressionConfig
from tests.test_huffman import reference_huffman_length


def _stream_bits(stream: np.ndarray) -> int:
    """Payload from heapq plus the table the format stores: an 11-byte header, then per
    distinct symbol its offset from the smallest (at the width the largest needs) and 6 bits."""
    values, counts = np.unique(stream, return_counts=True)
    width = int(values.max() - values.min()).bit_length()
    return reference_huffman_length(counts.tolist()) + 88 + (width + 6) * len(counts)


def _configs() -> list[CompressionConfig]:
    """Every quantizer record, pruned and not, per tensor and per channel; 1 bit; a float layer."""
    out = []
    for name in quantizers.CHOICES:
        out += [CompressionConfig(bits=4, quantizer=name, huffman=True),
                CompressionConfig(bits=3, quantizer=name, sparsity=0.8, per_channel=True, huffman=True)]
    out += [CompressionConfig(bits=4, scheme="asymmetric", sparsity=0.5, per_channel=True, huffman=True),
            CompressionConfig(bits=1, per_channel=True, sparsity=0.7, huffman=True),
            CompressionConfig(bits=1, huffman=True),
            CompressionConfig(bits=8, layer_bits={"fc3": 32}, sparsity=0.9, huffman=True)]
    return out


def _header_bytes(blob: bytes) -> int:
    (n,) = struct.unpack("<I", blob[5:9])
    return 9 + n


def test_tiny_layer_by_hand():
    # 16 weights, 4 kept; a 2-bit symmetric grid with scale 1: codes = value - qmin (qmin = -1).
    w = torch.zeros(2, 8)
    w[0, 1], w[0, 2], w[1, 3], w[1, 7] = 1.0, 1.0, -1.0, 1.0
    codes = (w.flatten() + 1).long().numpy()  # zero -> code 1
    plain = size.layer_size(w, 2, 32, 2)
    best = size.huffman_size(w, codes, codebook_bits=32, bias_numel=2, plain=plain)
    # kept positions 1, 2, 11, 15: gaps - 1 = 1, 0, 8, 3. At p = 4 no filler is needed:
    # codes [2, 2, 0, 2] -> Huffman lengths {2: 1, 0: 1}: 4 bits + header 88 + 2 x (2 + 6) = 108;
    # gaps [1, 0, 8, 3] -> 4 distinct, lengths 2 each: 8 bits + 88 + 4 x (4 + 6) = 136.
    # Smaller p needs fillers (zeros, code 1); the search must find the cheapest of all,
    # or the fixed-width layout when the code tables cost more than they save (here they do).
    candidates = {}
    for p in (1, 2, 3, 4):
        _, v, g = size.huffman_streams(codes, torch.nonzero(w.flatten()).flatten(), f"csr-{p}-huffman")
        rebuilt = np.full(16, 1)
        rebuilt[np.cumsum(g + 1) - 1] = v
        assert np.array_equal(rebuilt, codes)  # fillers carry the zero's code
        candidates[f"csr-{p}-huffman"] = _stream_bits(v) + _stream_bits(g)
    _, v4, g4 = size.huffman_streams(codes, torch.nonzero(w.flatten()).flatten(), "csr-4-huffman")
    assert v4.tolist() == [2, 2, 0, 2] and g4.tolist() == [1, 0, 8, 3]
    assert candidates["csr-4-huffman"] == 108 + 136
    candidates["dense-huffman"] = _stream_bits(codes)
    candidates["bitmask-huffman"] = _stream_bits(codes[[1, 2, 11, 15]]) + 16
    assert best.values + best.indices == min(*candidates.values(), plain.values + plain.indices)
    # 4,000 copies of the same rows: now the tables are cheap and coding must win
    big = w.repeat(500, 1)
    big_codes = (big.flatten() + 1).long().numpy()
    coded = size.huffman_size(big, big_codes, plain=size.layer_size(big, 2))
    assert coded.format.endswith("-huffman") and coded.total < size.layer_size(big, 2).total
    assert best.codebook == 32 and best.bias == 64


def test_every_record_round_trips_huffman_coded(digits):
    base, ds = digits
    seen, formats = set(), set()
    for cfg in _configs():
        model, _, quant = pipeline.compress(base, ds, cfg)
        layers = models.layers(model)
        seen |= {q.codec.quantizer for q in quant.values()}
        layouts = plan.make(base, cfg.replace(huffman=True)).store(layers, quant)
        sizes = {n: lay.written for n, lay in layouts.items()}
        blob = downloads.file_of(model, layouts)
        formats |= {s.format.split("-", 1)[0] + "-huffman" for s in sizes.values() if s.format.endswith("-huffman")}
        coded = any(s.format.endswith("-huffman") for s in sizes.values())
        assert blob.startswith(export.MAGIC_HUFFMAN if coded else export.MAGIC), cfg
        state = export.from_bytes(blob)
        for name, tensor in model.state_dict().items():
            assert torch.equal(state[name], tensor), (cfg, name)
        theory = sum(s.total for s in sizes.values())
        body = len(blob) - _header_bytes(blob)
        assert 0 <= body - theory / 8 < 2 * len(layers), cfg  # < 1 byte of padding per blob
    assert seen == set(quantizers.RECORDS) - {"float"}
    assert formats == {"dense-huffman", "bitmask-huffman", "csr-huffman"}, formats


def test_plain_files_unchanged(digits):
    base, ds = digits
    cfg = CompressionConfig(bits=4, sparsity=0.9)
    model, _, quant = pipeline.compress(base, ds, cfg)
    layers = models.layers(model)
    blob = downloads.file_of(model, plan.make(base, cfg).store(layers, quant))
    assert blob.startswith(export.MAGIC) and not blob.startswith(export.MAGIC_HUFFMAN)


def test_deep_compression_report_on_digits():
    # the preset's stages with a shorter schedule (the full one is benchmarks/backend.py's)
    short = PRESETS["deep-compression"].replace(prune_steps=2, finetune_epochs=1)
    r = pipeline.evaluate("mlp-digits", short, latency=False)
    sb = r.size_bytes
    assert sb["huffman"] <= sb["compressed"]
    assert any(layer.huffman["format"].endswith("-huffman") for layer in r.layers)  # coding paid somewhere
    assert r.compression_ratio_file == pytest.approx(sb["fp32"] / sb["file"])
    # the written file is the Huffman-coded one: theory plus the JSON header and padding
    assert 0 <= sb["file"] - sb["huffman"] < 2000
    plain = pipeline.evaluate("mlp-digits", short.replace(huffman=False), latency=False)
    assert "huffman" not in plain.size_bytes  # priced only when the file is coded (it is most of a layer's sizing)
    assert plain.size_bytes["file"] > sb["file"]


def test_no_huffman_size_without_quantization(digits):
    r = pipeline.evaluate_model(digits[0], digits[1], CompressionConfig(sparsity=0.5), latency=False)
    assert "huffman" not in r.size_bytes


def test_corrupt_huffman_file_is_one_error(digits):
    base, ds = digits
    cfg = CompressionConfig(bits=4, sparsity=0.9, huffman=True)
    model, _, quant = pipeline.compress(base, ds, cfg)
    blob = downloads.file_of(model, plan.make(base, cfg).store(models.layers(model), quant))
    head = _header_bytes(blob)
    with pytest.raises(ValueError):
        export.from_bytes(blob[:head + 20])


def test_float_layer_cannot_be_huffman_coded():
    layer = nn.Linear(4, 2)
    sizes = {"fc": size.LayerSize("dense-huffman", 0, 0, 0, 0)}

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = layer

    with pytest.raises(ValueError, match="quantized"):
        export.to_bytes(Net(), sizes, {})


def test_histogram_pricing_equals_the_written_streams():
    # 5 % kept with long runs of zeros: small widths need many fillers
    rng = np.random.default_rng(3)
    w = torch.from_numpy(np.where(rng.random((40, 500)) < 0.05, rng.integers(1, 8, (40, 500)), 0)).float()
    w[:5] = 0
    codes = w.flatten().long().numpy()  # the code of 0 is 0
    nonzero = torch.nonzero(w.flatten()).flatten()
    from_streams = {}
    for p in range(1, 17):
        _, v, g = size.huffman_streams(codes, nonzero, f"csr-{p}-huffman")
        from_streams[f"csr-{p}-huffman"] = _stream_bits(v) + _stream_bits(g)
    from_streams["dense-huffman"] = _stream_bits(codes)
    from_streams["bitmask-huffman"] = _stream_bits(codes[nonzero.numpy()]) + w.numel()
    best = size.huffman_size(w, codes)
    assert best.values + best.indices == min(from_streams.values())
    assert from_streams[best.format] == best.values + best.indices


@pytest.mark.parametrize("cfg", [CompressionConfig(), CompressionConfig(bits=4, sparsity=0.9),
                                 CompressionConfig(bits=4, sparsity=0.5, huffman=True),
                                 CompressionConfig(bits=4, granularity="group", group_size=16)])
def test_file_size_is_the_length_of_the_file_without_building_it(digits, cfg):
    base, ds = digits
    model, _, quant = pipeline.compress(base, ds, cfg)
    layouts = plan.make(base, cfg).store(models.layers(model), quant)
    assert downloads.file_size(model, layouts) == len(downloads.file_of(model, layouts))
