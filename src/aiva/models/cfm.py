"""Conditional flow matching of lepton kinematics.

A velocity field v_θ(x, t | E'_ν) is trained so that the ODE dx/dt = v_θ carries a standard
normal x₀ at t = 0 to the data x₁ = (E'_μ, θ') at t = 1. Training regresses v_θ onto the velocity
of the straight path x_t = (1 − t) x₀ + t x₁, i.e. minimises ⟨|v_θ(x_t, t | E'_ν) − (x₁ − x₀)|²⟩
with t ~ U(0, 1) (conditional flow matching with σ_min = 0: Y. Lipman et al., "Flow Matching for
Generative Modeling", ICLR 2023, arXiv:2210.02747, Eqs. 20–23; the same path as the rectified flow
of X. Liu, C. Gong, Q. Liu, arXiv:2209.03003).

Sampling integrates the ODE with a few fixed steps of the explicit midpoint rule (``steps``
steps, two network passes each), so a sample is a deterministic function of the latent x₀ and
E'_ν — the same ``sampler()`` interface as the GAN and the flow (``latent_dim = 2``).

The network is a stack of named residual blocks ``b0, b1, …`` (Linear → SiLU on the block input
concatenated with E'_ν and a Fourier embedding of t) and an output layer ``out``; transfer
learning freezes blocks by name.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from aiva.models.blocks import NamedBlocksMixin
from aiva.utils import ConfigMixin


@dataclass
class CFMConfig(ConfigMixin):
    _positive_ints = True

    hidden: int = 64
    blocks: int = 4
    time_features: int = 8  #: sin/cos pairs of the time embedding
    steps: int = 6  #: midpoint steps of the ODE sampler (2 network passes each)


class _Block(nn.Module):
    def __init__(self, n_in: int, n_cond: int, width: int):
        super().__init__()
        self.lin = nn.Linear(n_in + n_cond, width)
        self.act = nn.SiLU()
        self.residual = n_in == width

    def forward(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        y = self.act(self.lin(torch.cat([h, c], dim=1)))
        return h + y if self.residual else y


class VelocityField(nn.Module):
    freqs: torch.Tensor

    def __init__(self, c: CFMConfig):
        super().__init__()
        self.register_buffer("freqs", math.pi * 2.0 ** torch.arange(c.time_features, dtype=torch.float32))
        n_cond = 1 + 2 * c.time_features
        self.blocks = nn.ModuleList([_Block(2 if i == 0 else c.hidden, n_cond, c.hidden) for i in range(c.blocks)])
        self.out = nn.Linear(c.hidden + n_cond, 2)

    def forward(self, x: torch.Tensor, t: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        a = t.reshape(-1, 1) * self.freqs
        c = torch.cat([e, torch.sin(a), torch.cos(a)], dim=1)
        h = x
        for b in self.blocks:
            h = b(h, c)
        return self.out(torch.cat([h, c], dim=1))


class _Sampler(nn.Module):
    latent_dim = 2

    def __init__(self, field: VelocityField, steps: int):
        super().__init__()
        self.field, self.steps = field, steps

    def forward(self, z: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        x, dt = z, 1.0 / self.steps
        for k in range(self.steps):
            t = torch.full((len(x), 1), k * dt, dtype=x.dtype, device=x.device)
            xm = x + 0.5 * dt * self.field(x, t, e)
            x = x + dt * self.field(xm, t + 0.5 * dt, e)
        return x


class ConditionalCFM(NamedBlocksMixin, nn.Module):
    _core = "field"
    family = "cfm"
    has_likelihood = False  #: no tractable ln p here (it needs an ODE trace integral)

    def __init__(self, config: CFMConfig | None = None):
        super().__init__()
        self.config = config or CFMConfig()
        self.field = VelocityField(self.config)

    def loss(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """Flow-matching loss on a batch: x (N, 2) proxies, e (N, 1) E'_ν; draws t and x₀ from
        torch's global generator (seeded by the training loop, restored on resume)."""
        x0 = torch.randn_like(x)
        t = torch.rand(len(x), 1, dtype=x.dtype, device=x.device)
        xt = (1 - t) * x0 + t * x
        return ((self.field(xt, t, e) - (x - x0)) ** 2).sum(dim=1).mean()

    def sampler(self) -> nn.Module:
        self.eval()
        return _Sampler(self.field, self.config.steps)

    def blocks(self) -> dict[str, nn.Module]:
        return {**{f"b{i}": b for i, b in enumerate(self.field.blocks)}, "out": self.field.out}
