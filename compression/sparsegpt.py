"""SparseGPT: one-shot pruning with Optimal Brain Surgeon weight updates (Frantar & Alistarh 2023, arXiv:2301.00774).

Like GPTQ (compression.gptq), columns of a layer are processed one at a time against the
inverse Hessian of the layer's output error, H = 2 X Xᵀ on calibration inputs, dampened by
1 % of its mean diagonal: a pruned weight's value is not lost but compensated on the columns
not yet processed. The mask is chosen as it goes (adaptive mask selection): unstructured, in
each block of 128 columns the weights with the smallest OBS saliency w² / [H⁻¹]²_jj go, at the
layer's sparsity; 2:4, in every 4 consecutive columns the 2 with the smallest saliency.
Layers are pruned in module order on the inputs the already-pruned earlier layers produce.

Because it changes the kept weights, it is a pruning *method* that writes the model, not only a
score: the criterion record carries it as `one_shot` (compression.criteria), and
`prune.prune_in_place` runs it where other criteria compute masks and zero weights.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from compression import calibration
from compression.gptq import BLOCK, DAMP, hessian
from compression.layers import compressible


def prune_weight(w: Tensor, h: Tensor, sparsity: float = 0.5, two_four: bool = False,
                 block: int = BLOCK, damp: float = DAMP) -> tuple[Tensor, Tensor]:
    """(pruned and updated weights, keep-mask) of one layer, given H of its input matrix."""
    shape = w.shape
    W = w.detach().reshape(shape[0], -1).double().clone()
    rows, cols = W.shape
    H = h.double().clone()
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    H += damp * torch.mean(torch.diag(H)) * torch.eye(cols, dtype=H.dtype)
    U = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)
    pruned = torch.zeros_like(W, dtype=torch.bool)
    for i1 in range(0, cols, block):
        i2 = min(i1 + block, cols)
        W1, E1, U1 = W[:, i1:i2].clone(), torch.zeros(rows, i2 - i1, dtype=W.dtype), U[i1:i2, i1:i2]
        d = torch.diag(U1)
        p1 = torch.zeros_like(W1, dtype=torch.bool)
        if not two_four:
            saliency = W1 ** 2 / d.unsqueeze(0) ** 2
            k = round(sparsity * saliency.numel())
            if k:
                p1.view(-1)[saliency.flatten().argsort(stable=True)[:k]] = True
        for i in range(i2 - i1):
            if two_four and (i1 + i) % 4 == 0:
                width = min(4, cols - (i1 + i))   # a tail of 1 or 2 is kept whole, of 3 keeps 2 (as prune's 2:4)
                if width > 2:
                    sal = W1[:, i:i + width] ** 2 / d[i:i + width].unsqueeze(0) ** 2
                    idx = sal.topk(width - 2, dim=1, largest=False).indices
                    p1[:, i:i + width].scatter_(1, idx, True)
            q = torch.where(p1[:, i], torch.zeros((), dtype=W.dtype), W1[:, i])
            err = (W1[:, i] - q) / U1[i, i]
            W1[:, i:] -= err.unsqueeze(1) * U1[i, i:].unsqueeze(0)
            W1[:, i] = q
            E1[:, i] = err
        W[:, i1:i2] = W1
        pruned[:, i1:i2] = p1
        W[:, i2:] -= E1 @ U[i1:i2, i2:]
    keep = ~pruned
    return (W * keep).reshape(shape).to(w.dtype), keep.reshape(shape)


def prune_model(model: nn.Module, sparsity: float, structure: str, x: Tensor,
                layer_sparsity: dict[str, float] | None = None) -> dict[str, Tensor]:
    """Prune every compressible layer of `model` in place (a model the caller owns); {weight name: keep-mask}.

    Each layer is pruned to `sparsity` within itself (or its own from layer_sparsity); layers
    SparseGPT cannot write as W @ X (attention's in-projection, grouped convs) by magnitude.
    """
    own = layer_sparsity or {}
    masks: dict[str, Tensor] = {}
    two_four = structure == "2:4"
    layer_inputs = calibration.LayerInputs(model, x)
    for name, layer in compressible(model).items():
        if not layer.kind.prunable:
            continue
        w = layer.weight.detach()
        amount = own.get(layer.key, sparsity)
        with torch.no_grad():
            if calibration.supported(layer) and len(x):
                h = hessian(layer_inputs(name))
                w_new, keep = prune_weight(w, h, amount, two_four)
            else:
                from compression import prune  # deferred: prune imports criteria, which imports this module
                keep = (prune.two_of_four(w.abs()) if two_four else
                        prune.drop_lowest(w.abs().flatten(), round(amount * w.numel())).view_as(w))
                w_new = w * keep
            layer.weight.copy_(w_new)
        masks[layer.key] = keep
    return masks

