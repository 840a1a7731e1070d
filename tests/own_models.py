"""An engineer's own models, built and saved as the engineer would: not zoo models.

Three small classifiers on the 8×8 digits (scikit-learn's, shipped), each trained for a few
seconds so accuracy means something, then saved with `torch.export.save` (.pt2) and their
test split as an `.npz` of x and y:

- `ResCNN`: a residual CNN with BatchNorm (stem, one basic block, global average pool);
- `NormMLP`: an MLP with LayerNorm and GELU;
- `AttnNet`: the 8 image rows as 8 tokens, one `nn.MultiheadAttention` block with a
  residual and LayerNorm, mean pooled, then an MLP head;
- `AttnOnly`: attention straight into the classifier (no channel group outside attention:
  rows pruning must refuse it in one sentence).

`state_dict_upload` writes a torchvision / zoo architecture's state dict (the only kind of
state dict an upload can name an architecture for).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from compression import data

SHAPE = (1, 8, 8)


class ResCNN(nn.Module):
    """conv-BN-ReLU stem, one basic residual block (He et al. 2016), GAP, linear classifier."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, width, 3, padding=1, bias=False)
        self.bn0 = nn.BatchNorm2d(width)
        self.conv1 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.fc = nn.Linear(width * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn0(self.stem(x)))
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        x = torch.relu(x + y)
        x = nn.functional.max_pool2d(x, 2)
        return self.fc(torch.flatten(x, 1))  # a flatten of channels: export bakes its sizes


class NormMLP(nn.Module):
    """64-64-32-10 with LayerNorm and GELU after each hidden layer."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.LayerNorm(64), nn.GELU(),
                                 nn.Linear(64, 32), nn.LayerNorm(32), nn.GELU(), nn.Linear(32, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class AttnNet(nn.Module):
    """Image rows as tokens: embed, self-attention with residual + LayerNorm, mean pool, MLP head."""

    def __init__(self, dim: int = 16, heads: int = 2) -> None:
        super().__init__()
        self.embed = nn.Linear(8, dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Sequential(nn.Linear(dim, 32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.embed(x.flatten(1, 2))  # (B, 1, 8, 8) -> (B, 8 tokens, 8) -> (B, 8, dim)
        a, _ = self.attn(t, t, t, need_weights=False)
        t = self.norm(t + a)
        return self.head(t.mean(1))


class AttnOnly(nn.Module):
    """Attention straight into the classifier: every channel group runs through the attention."""

    def __init__(self, dim: int = 16, heads: int = 2) -> None:
        super().__init__()
        self.embed = nn.Linear(8, dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.fc = nn.Linear(dim, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.embed(x.flatten(1, 2))
        a, _ = self.attn(t, t, t, need_weights=False)
        return self.fc((t + a).mean(1))


BUILDERS = {"rescnn": ResCNN, "normmlp": NormMLP, "attn": AttnNet, "attn-only": AttnOnly}
EPOCHS = {"rescnn": 4, "normmlp": 8, "attn": 10, "attn-only": 2}  # seconds each, well above chance


def train(model: nn.Module, epochs: int, seed: int = 0) -> nn.Module:
    """A few seconds of Adam on the digits' training split: well above chance, not a zoo model."""
    ds = data.load("digits")
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(epochs):
        for i in range(0, len(ds.x_train), 64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(ds.x_train[i:i + 64]), ds.y_train[i:i + 64]).backward()
            opt.step()
    return model.eval()


def build(kind: str, folder: Path, epochs: int | None = None) -> tuple[nn.Module, Path, Path]:
    """Train one own model, save it as `<kind>.pt2` and the digits test split as `<kind>.npz`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):
        model = train(BUILDERS[kind](), epochs or EPOCHS[kind])
    ds = data.load("digits")
    program = folder / f"{kind}.pt2"
    torch.export.save(torch.export.export(model, (ds.x_test[:1],)), str(program))
    npz = folder / f"{kind}.npz"
    np.savez(npz, x=ds.x_test.numpy().astype(np.float32), y=ds.y_test.numpy().astype(np.int64))
    return model, program, npz


def state_dict_upload(model: nn.Module, folder: Path, name: str) -> Path:
    """`model`'s state dict as the engineer saves it: torch.save(model.state_dict(), path)."""
    path = Path(folder) / f"{name}.pt"
    torch.save(model.state_dict(), path)
    return path
