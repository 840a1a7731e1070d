"""Which weights of a model are compressible: the one definition every part reads.

A compressible layer is a weight matrix (or filter bank) that the pruning, the quantizers,
the size model, the file, the energy model and the charts treat as one unit:

- every `nn.Linear` (including `nn.MultiheadAttention.out_proj`) and `nn.Conv2d`, by its
  module name ("fc1", "features.0");
- the packed query/key/value projection of an `nn.MultiheadAttention` ("attn.in_proj"), a
  (3E, E) matrix that PyTorch keeps as the parameter `in_proj_weight` of the attention module
  rather than as a Linear of its own (when the three projections share one width);
- the `nn.Embedding` tables of a model that declares `embeddings_compressible = True` (the
  language models of compression.lm: a token table is often the largest matrix of a small LM).
  A table is a lookup, not a product: it is quantized like any (rows, columns) weight, one row
  per token, but it is never pruned, has no multiply-accumulates and no calibrated inputs
  (`LayerKind.EMBEDDING`). Other models keep their tables as float parameters.

A layer is addressed by its name as in the user's module; its masks are keyed
"<name>.weight" (`Layer.key`), and `Layer.param` is the weight's name in the state dict
("fc1.weight", "attn.in_proj_weight").
"""
from __future__ import annotations

import copy
import enum
from dataclasses import dataclass

from torch import Tensor, nn


class LayerKind(enum.StrEnum):
    """What arithmetic a layer's weights enter: a matrix product, a convolution, attention's in-projection."""
    LINEAR = "linear"
    CONV = "conv"
    ATTENTION = "attention"  # nn.MultiheadAttention's packed q/k/v projection
    EMBEDDING = "embedding"  # an nn.Embedding table of a language model: looked up, never multiplied

    @property
    def prunable(self) -> bool:
        """Whether pruning reaches it: a zeroed table entry saves no multiply, only damages a token."""
        return self is not LayerKind.EMBEDDING

    @property
    def multiplies(self) -> bool:
        """Whether its weights enter multiply-accumulates (an embedding's are only read, one row per token)."""
        return self is not LayerKind.EMBEDDING


@dataclass(frozen=True, eq=False)
class Layer:
    """One compressible weight: its owner module and the attributes holding its weight and bias."""
    name: str                  # as in the user's module: "fc1", "attn.in_proj"
    module: nn.Module          # the module owning the parameters (the attention module for in_proj)
    kind: LayerKind
    param: str                 # the weight's state-dict name: "fc1.weight", "attn.in_proj_weight"
    weight_attr: str = "weight"
    bias_attr: str = "bias"

    @property
    def weight(self) -> Tensor:
        return getattr(self.module, self.weight_attr)

    @property
    def bias(self) -> Tensor | None:
        return getattr(self.module, self.bias_attr, None)

    @property
    def key(self) -> str:
        """The key of this layer's mask and of its pruning scores."""
        return f"{self.name}.weight" if self.name else "weight"

    @property
    def bias_param(self) -> str | None:
        if self.bias is None:
            return None
        owner = self.param.rsplit(".", 1)[0] + "." if "." in self.param else ""
        return owner + self.bias_attr


def compressible(model: nn.Module) -> dict[str, Layer]:
    """The compressible layers of `model` by name, in module order (see the module docstring)."""
    out: dict[str, Layer] = {}
    tables = bool(getattr(model, "embeddings_compressible", False))
    for name, m in model.named_modules():
        prefix = f"{name}." if name else ""
        if tables and isinstance(m, nn.Embedding):
            out[name] = Layer(name, m, LayerKind.EMBEDDING, prefix + "weight")
        elif isinstance(m, (nn.Linear, nn.Conv2d)):
            kind = LayerKind.CONV if isinstance(m, nn.Conv2d) else LayerKind.LINEAR
            out[name] = Layer(name, m, kind, prefix + "weight")
        elif isinstance(m, nn.MultiheadAttention) and m.in_proj_weight is not None:
            # q, k and v of different widths are three parameters (q_proj_weight, ...): not packed,
            # left as float parameters of the model
            layer_name = prefix + "in_proj"
            out[layer_name] = Layer(layer_name, m, LayerKind.ATTENTION, prefix + "in_proj_weight",
                                    weight_attr="in_proj_weight", bias_attr="in_proj_bias")
        elif _packed_in_proj(m):
            # an uploaded torch.export program keeps the attention's parameters on a plain module
            # whose graph reads them (unflatten does not rebuild nn.MultiheadAttention): the same layer
            layer_name = prefix + "in_proj"
            out[layer_name] = Layer(layer_name, m, LayerKind.ATTENTION, prefix + "in_proj_weight",
                                    weight_attr="in_proj_weight", bias_attr="in_proj_bias")
    # named_modules visits the attention module before its out_proj child: module order holds
    return out


def _packed_in_proj(m: nn.Module) -> bool:
    """A module (not nn.MultiheadAttention) that owns a packed (3E, E) `in_proj_weight` parameter itself."""
    w = m._parameters.get("in_proj_weight")
    return (not isinstance(m, nn.MultiheadAttention) and w is not None and w.dim() == 2
            and w.shape[0] == 3 * w.shape[1])


def private(model: nn.Module) -> nn.Module:
    """A copy of `model` to put forward hooks on: a zoo model is shared by every session's thread.

    A hook on the shared module fires on every thread's forward: a view once caught another
    session's batch-1 pass in its own dictionary (issue 15, 30 concurrent sessions: "inconsistent
    tensor size, expected [65536] and src [512]"). Rule: hooks only ever go on a model the caller
    made, so a shared model never carries one and its copies never inherit a foreign hook.
    """
    return copy.deepcopy(model)


def layer_params(layers: dict[str, Layer]) -> set[str]:
    """State-dict names of the weights and biases the layers own (the rest are 'other' parameters)."""
    names = {layer.param for layer in layers.values()}
    names |= {layer.bias_param for layer in layers.values() if layer.bias_param}
    return names
