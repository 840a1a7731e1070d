"""Sessions' work in threads of one process shares no torch state (compression.isolation).

Reference: the same evaluations run one after the other. Each thread uses its own seed and
the random criterion (the seed decides every mask) and fine-tunes, and latency is measured,
so ONNX exports and seeded work overlap.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import nn

from compression import isolation, pipeline, runtime, train
from compression.config import CompressionConfig

CONFIGS = [CompressionConfig(sparsity=0.6, bits=4, criterion="random", finetune_epochs=1, seed=seed)
           for seed in (1, 2, 3, 4)]


def _numbers(report: pipeline.Report) -> tuple:
    return (report.accuracy, report.sparsity, report.size_bytes["compressed"], report.size_bytes["file"],
            report.energy_pj["total"])


def test_concurrent_evaluations_give_the_sequential_numbers():
    sequential = [_numbers(pipeline.evaluate("mlp-digits", c, latency=False)) for c in CONFIGS]
    assert len(set(sequential)) > 1  # the seeds matter, so a mixed-up seed would show
    barrier = threading.Barrier(len(CONFIGS))

    def run(config: CompressionConfig) -> tuple:
        barrier.wait()  # all start together
        return _numbers(pipeline.evaluate("mlp-digits", config, latency=True))

    with ThreadPoolExecutor(len(CONFIGS)) as pool:
        concurrent = list(pool.map(run, CONFIGS))
    assert concurrent == sequential


def test_evaluate_leaves_the_global_generator_alone():
    torch.manual_seed(12345)
    before = torch.get_rng_state()
    pipeline.evaluate("mlp-digits", CONFIGS[0], latency=False)
    assert torch.equal(torch.get_rng_state(), before)


def _dropout_net() -> nn.Module:
    with isolation.seeded(0):
        return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))


def test_dropout_training_in_threads_matches_sequential():
    """Dropout can only draw from the global generator: fit seeds it under a lock."""
    x = torch.linspace(-1, 1, 64 * 8).reshape(64, 8)
    y = (torch.arange(64) % 3)

    def fit(seed: int) -> torch.Tensor:
        model = train.fit(_dropout_net(), x, y, epochs=3, seed=seed)
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    sequential = [fit(s) for s in range(4)]
    with ThreadPoolExecutor(4) as pool:
        concurrent = list(pool.map(fit, range(4)))
    assert all(torch.equal(a, b) for a, b in zip(sequential, concurrent, strict=True))
    assert not torch.equal(sequential[0], sequential[1])


def test_seeded_build_is_the_manual_seed_build_and_restores_the_generator():
    torch.manual_seed(7)
    reference = nn.Linear(4, 4).weight.detach().clone()
    torch.manual_seed(99)
    before = torch.get_rng_state()
    with isolation.seeded(7):
        built = nn.Linear(4, 4).weight.detach().clone()
    assert torch.equal(built, reference)
    assert torch.equal(torch.get_rng_state(), before)


def test_one_thread_pins_are_counted_across_threads():
    threads = torch.get_num_threads()
    inside = threading.Event()
    release = threading.Event()

    def hold() -> int:
        with isolation.one_thread():
            inside.set()
            release.wait(60)
            return torch.get_num_threads()

    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(hold)
        inside.wait(60)
        with isolation.one_thread():
            pass  # leaving while the other still holds must not restore the setting under it
        assert torch.get_num_threads() == 1
        release.set()
        assert held.result() == 1
    assert torch.get_num_threads() == threads


def test_concurrent_onnx_exports_match_a_lone_export():
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2)).eval()
    alone = runtime.to_onnx(model, (8,))
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda _: runtime.to_onnx(model, (8,)), range(8)))
    assert all(b == alone for b in together)
