"""SparseGPT against references: valid 2:4 masks, and a per-layer output error no larger than
magnitude pruning's with the same pattern on the same calibration inputs."""
import pytest
import torch

from compression import apply, calibration, prune, sparsegpt
from compression.config import CompressionConfig
from compression.layers import compressible
from tests.calibrated import TRAINED, layers_with_inputs


def _valid_two_four(keep: torch.Tensor) -> bool:
    rows = keep.reshape(keep.shape[0], -1)
    full = rows[:, : rows.shape[1] // 4 * 4].reshape(rows.shape[0], -1, 4)
    return bool((full.sum(-1) == 2).all())


@pytest.mark.parametrize("model_id", TRAINED)
def test_two_four_valid_and_error_at_most_magnitude(model_id):
    for name, w, x, h in layers_with_inputs(model_id):
        pruned, keep = sparsegpt.prune_weight(w, h, two_four=True)
        assert _valid_two_four(keep), (model_id, name)
        assert bool((pruned[~keep] == 0).all())
        magnitude = w * prune.two_of_four(w.abs())
        ours, theirs = (calibration.reconstruction_error(w, p, x) for p in (pruned, magnitude))
        assert ours <= theirs, (model_id, name, ours, theirs)
        # unstructured at the same sparsity, within the layer
        pruned_u, keep_u = sparsegpt.prune_weight(w, h, sparsity=0.5)
        k = round(0.5 * w.numel())
        assert int((~keep_u).sum()) == k
        mag_u = w * prune.drop_lowest(w.abs().flatten(), k).view_as(w)
        assert calibration.reconstruction_error(w, pruned_u, x) <= calibration.reconstruction_error(w, mag_u, x)


def test_masks_leave_the_model_alone_and_compress_updates_weights(digits):
    model, ds = digits
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batch = (ds.x_calib, ds.y_calib)
    masks = prune.masks(model, 0.0, structure="2:4", criterion="sparsegpt", data=batch)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(_valid_two_four(m) for m in masks.values())
    compressed, got, _ = apply.compress(model, ds, CompressionConfig(structure="2:4", criterion="sparsegpt"))
    changed = False
    for name, layer in compressible(compressed).items():
        w, keep = layer.weight.detach(), got[layer.key]
        assert bool((w[~keep] == 0).all())
        changed |= not torch.equal(w[keep], before[f"{name}.weight"][keep])  # OBS updated the kept weights
    assert changed


def test_rows_structure_refused(digits):
    model, ds = digits
    with pytest.raises(ValueError, match="rows"):
        prune.prune_in_place(model, 0.5, structure="rows", criterion="sparsegpt", data=(ds.x_calib, ds.y_calib))
