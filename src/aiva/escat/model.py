"""The cross-section network (after B. E. Kowal et al., Phys. Rev. C 110 (2024) 025501).

Inputs (E, ω, θ, cos θ, Q²) are scaled to O(1): (E/2 GeV, ω/1 GeV, θ/π, cos θ, Q²/2 GeV²).
``blocks`` repeated blocks Dense(width) (defaults 4 × 64; the paper: 10 × 300) → BatchNorm → ReLU (→ Dropout), then Dense(1) and an
exponential (predictions are positive, and the response, which spans seven decades between the
quasielastic peak and the low-ω tails, is learnt in logarithm); the result multiplies the
Mott-like factor

    F(E, θ, A) = (A/12) · K · [cos²(θ/2) + 2 sin²(θ/2)] / (4 E³ sin⁴(θ/2)),   K = 10²,

so that the logarithm of the response is O(1). This is the factor of Kowal et al. (the Mott cross
section over E, scaled with A/12) with the magnetic-like term 2 sin²(θ/2) added so that it stays
finite at θ = 180° (backward-angle data exist for ⁵⁶Fe). Cross sections in nb/(sr GeV) per nucleus.

An ensemble of K members is one module with weights of shape (K, in, out) (batched matmuls) and
BatchNorm over K × width channels, so a 50-member bootstrap trains as one model; member k
alone gives exactly the same outputs (tested).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from aiva.utils import ConfigMixin

K_SCALE = 1e2


@dataclass
class ESConfig(ConfigMixin):
    """Network size. PRC 110 (2024) 025501 used 10 blocks of 300 (``--blocks 10 --width 300``);
    the default is smaller so that a 50-member ensemble trains in minutes on two CPU cores."""

    blocks: int = 4
    width: int = 64
    dropout: float = 0.0


def features(E, omega, theta) -> torch.Tensor:
    E, omega, theta = (torch.as_tensor(np.asarray(a), dtype=torch.float32) for a in (E, omega, theta))
    Q2 = 4 * E * (E - omega) * torch.sin(theta / 2) ** 2
    return torch.stack([E / 2, omega, theta / math.pi, torch.cos(theta), Q2 / 2], dim=-1)


def mott_like(E, theta, A) -> np.ndarray:
    E, theta = np.asarray(E, dtype=np.float64), np.asarray(theta, dtype=np.float64)
    s2, c2 = np.sin(theta / 2) ** 2, np.cos(theta / 2) ** 2
    return (A / 12) * K_SCALE * (c2 + 2 * s2) / (4 * E**3 * s2 * s2)


class EnsembleLinear(nn.Module):
    def __init__(self, k: int, n_in: int, n_out: int):
        super().__init__()
        bound = 1 / math.sqrt(n_in)
        self.weight = nn.Parameter(torch.empty(k, n_in, n_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(k, 1, n_out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (K, B, in) -> (K, B, out)
        return torch.baddbmm(self.bias, x, self.weight)


class EnsembleBlock(nn.Module):
    def __init__(self, k: int, n_in: int, width: int, dropout: float):
        super().__init__()
        self.k, self.width = k, width
        self.linear = EnsembleLinear(k, n_in, width)
        self.norm = nn.BatchNorm1d(k * width)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.linear(x)  # (K, B, W)
        K, B, W = h.shape
        h = self.norm(h.permute(1, 0, 2).reshape(B, K * W)).reshape(B, K, W).permute(1, 0, 2)
        return self.drop(torch.relu(h))


class EnsembleNet(nn.Module):
    """K independent networks evaluated together; forward((K, B, 5)) → (K, B) response."""

    def __init__(self, cfg: ESConfig, members: int = 1):
        super().__init__()
        self.cfg, self.members = cfg, members
        n_in = 5
        for i in range(cfg.blocks):
            self.add_module(f"b{i}", EnsembleBlock(members, n_in, cfg.width, cfg.dropout))
            n_in = cfg.width
        self.out = EnsembleLinear(members, n_in, 1)

    @property
    def block_names(self) -> list[str]:
        return [f"b{i}" for i in range(self.cfg.blocks)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(self.members, -1, -1)
        for name in self.block_names:
            x = getattr(self, name)(x)
        return torch.exp(self.out(x)).squeeze(-1)

    def subset(self, ks) -> "EnsembleNet":
        """A network holding members ``ks`` (weights and BatchNorm statistics)."""
        ks = list(ks)
        sub = EnsembleNet(self.cfg, len(ks))
        W = self.cfg.width
        sd = {}
        for name, v in self.state_dict().items():
            if name.endswith("num_batches_tracked"):
                sd[name] = v
            elif ".norm." in name:
                sd[name] = torch.cat([v[k * W:(k + 1) * W] for k in ks]).clone()
            else:
                sd[name] = v[ks].clone()
        sub.load_state_dict(sd)
        sub.train(self.training)
        return sub

    def member(self, k: int) -> "EnsembleNet":
        """A one-member network holding member k's weights and BatchNorm statistics."""
        return self.subset([k])
