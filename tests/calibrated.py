"""Shared by the calibrated-method tests: every layer of the trained zoo models with its calibration inputs."""
from collections.abc import Iterator

import pytest
import torch

from compression import calibration, gptq, models, source
from compression.layers import compressible

TRAINED = [m for m, spec in models.ZOO.items() if spec.shipped and not spec.language]


def layers_with_inputs(model_id: str) -> Iterator[tuple[str, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """(layer name, weight, input matrix (features, samples), H = 2XXᵀ/n) on the 128 calibration images.

    Every layer whose output is W @ X (calibration.supported); the others (grouped / depthwise
    convs, attention's packed in-projection) are rounded to nearest by the methods, not tested here.
    """
    if not models.checkpoint_path(model_id).exists():
        pytest.skip(f"{model_id}'s checkpoint is not in this checkout")
    loaded = source.load(source.parse(model_id))
    xs = calibration.inputs(loaded.model, loaded.dataset.x_calib)
    for name, layer in compressible(loaded.model).items():
        if calibration.supported(layer):
            yield name, layer.weight.detach(), xs[name], gptq.hessian(xs[name])
