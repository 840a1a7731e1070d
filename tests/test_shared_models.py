"""A zoo model is shared by every session's thread: nothing may put a forward hook on it.

Issue 15's 30-session load found a view's hook catching another session's forward pass
("inconsistent tensor size, expected [65536] and src [512]"). Every function that hooks a model
runs its forward on a copy (compression.layers.private): the shared module's own forward never
runs inside them, so no other thread's pass can reach their hooks.
"""
from __future__ import annotations

import copy
import threading

import torch
from torch import nn

from compression import calibration, layer_error, measure, smoothquant

SEEN: list[int] = []


class Spy(nn.Module):
    """Records which instance ran forward (a copy is another instance)."""

    def forward(self, x):
        SEEN.append(id(self))
        return x


def shared_model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(Spy(), nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3)).eval()


def test_hooking_functions_never_run_the_shared_module():
    model = shared_model()
    x = torch.randn(16, 8)
    other = copy.deepcopy(model)
    SEEN.clear()
    measure.layer_shapes(model, (8,))
    layer_error.output_errors(model, other, x)
    layer_error.activation_ranges(model, x)
    calibration.inputs(model, x)
    smoothquant.outliers(model, x, 0.5)
    assert SEEN and id(model[0]) not in SEEN  # each ran on a copy
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_views_and_shapes_in_two_threads_agree_with_one_thread():
    # the race itself: one thread's layer_shapes (batch 1) beside another's output_errors (batch 64)
    model = shared_model()
    x = torch.randn(64, 8)
    other = copy.deepcopy(model)
    with torch.no_grad():
        other[1].weight.mul_(0.9)
    expected = layer_error.output_errors(model, other, x)
    failures: list[BaseException] = []
    stop = threading.Event()

    def shapes() -> None:
        while not stop.is_set():
            measure.layer_shapes(model, (8,))

    t = threading.Thread(target=shapes)
    t.start()
    try:
        for _ in range(200):
            try:
                assert layer_error.output_errors(model, other, x) == expected
            except BaseException as e:  # noqa: BLE001  (reported below)
                failures.append(e)
                break
    finally:
        stop.set()
        t.join()
    assert not failures, failures[0]
