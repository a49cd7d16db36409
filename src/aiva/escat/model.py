"""The cross-section network (after B. E. Kowal et al., Phys. Rev. C 110 (2024) 025501).

Inputs (``ESConfig.inputs``): the five of PRC 110, (E, ω, θ, cos θ, Q²) scaled to O(1) as
(E/2 GeV, ω/1 GeV, θ/π, cos θ, Q²/2 GeV²) (``"prc110"``), and by default also their logarithms
ln(E/GeV), ln(ω/GeV + 10⁻³), ln(Q²/GeV² + 10⁻³) (``"prc110+log"``; the offsets keep ω = 0 and
Q² → 0 finite and change nothing above the cut, ω ≥ 20 MeV). The data span E = 0.1–6 GeV and
ω = 0.02–4 GeV: on a linear scale the spectra of the low-energy data sets occupy a few per cent of
the ω input, on a logarithmic one they are spread like the high-energy ones. On the carbon 9:1
splits the logarithms lower the test χ²/N in every paired comparison, by 5–26 % (50 members:
2.14 against 2.30; docs/escat.md, "Choosing the fit settings").
``blocks`` repeated blocks Dense(width) (defaults 4 × 64; the paper: 10 × 300) → BatchNorm → ReLU
(or SiLU, or ReLU in even and SiLU in odd members: ``activation``) (→ Dropout), then Dense(1) and an
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
    #: input features: "prc110" (E, ω, θ, cos θ, Q²) or "prc110+log" (also ln E, ln ω, ln Q²)
    inputs: str = "prc110+log"
    #: nonlinearity of the blocks: "relu" (PRC 110), "silu" (x·sigmoid(x), smooth; Elfwing et
    #: al., Neural Netw. 107 (2018) 3) or "relu+silu" (even members ReLU, odd members SiLU; the
    #: default): a piecewise-linear ReLU network needs many kinks to follow curved spectra and
    #: follows the noise too, a smooth one misses sharp structure; their errors differ, and the
    #: mixed ensemble lowers the carbon test χ²/N from 2.14 to 1.98 (docs/escat.md, "Closure test")
    activation: str = "relu+silu"

    def __post_init__(self):
        from aiva.errors import AivaInputError

        if self.inputs not in INPUTS:
            raise AivaInputError(f"ESConfig.inputs must be one of {', '.join(INPUTS)}, got {self.inputs!r}")
        if self.activation not in ACTIVATIONS:
            raise AivaInputError(f"ESConfig.activation must be one of {', '.join(ACTIVATIONS)}, "
                                 f"got {self.activation!r}")

    @classmethod
    def from_dict(cls, d: dict) -> ESConfig:
        """Cards written before ``inputs`` existed describe "prc110" networks, those written before
        ``activation`` existed ReLU networks."""
        return super().from_dict({"inputs": "prc110", "activation": "relu", **d})


#: feature set → number of inputs; the "+nucleus" sets (the joint model, :mod:`aiva.escat.joint`)
#: add ln A / 5, Z/A and k_F(A)/0.25 GeV, "+threshold" also the distance above the elastic line
#: ln(ω − Q²/2M_A + 10⁻³ GeV) and the quasielastic scaling variable ψ/3 (see :func:`features`)
INPUTS = {"prc110": 5, "prc110+log": 8, "prc110+log+nucleus": 11, "prc110+log+nucleus+threshold": 13}
#: block nonlinearities; "relu+silu": even members ReLU, odd members SiLU (one ensemble, two kinds of error)
ACTIVATIONS = ("relu", "silu", "relu+silu")
LOG_OFFSET = 1e-3  #: GeV (ω) and GeV² (Q²) added inside the logarithms


def fermi_momentum(A) -> np.ndarray:
    """A smooth k_F(A) [GeV] through the Fermi-gas values of Moniz et al., PRL 26 (1971) 445
    (¹²C 0.221, ⁴⁰Ca 0.251, ²⁰⁸Pb 0.265 GeV): 0.27·(1 − 0.9 A^(−2/3)). An input feature of the
    joint model only (it orders the nuclei by the width of their quasielastic peak)."""
    A = np.asarray(A, dtype=np.float64)
    return 0.27 * (1 - 0.9 * A ** (-2 / 3))


def features(E, omega, theta, inputs: str = ESConfig.inputs, Z=None, A=None) -> torch.Tensor:
    """Network inputs for ``inputs`` (see the module docstring); shape (N, INPUTS[inputs]).

    The "+nucleus" sets need the nucleus (``Z``, ``A``: scalars or per-point arrays)."""
    E, omega, theta = (torch.as_tensor(np.asarray(a), dtype=torch.float32) for a in (E, omega, theta))
    Q2 = 4 * E * (E - omega) * torch.sin(theta / 2) ** 2
    cols = [E / 2, omega, theta / math.pi, torch.cos(theta), Q2 / 2]
    if inputs.startswith("prc110+log"):
        cols += [torch.log(E), torch.log(omega + LOG_OFFSET), torch.log(Q2 + LOG_OFFSET)]
    if "+nucleus" in inputs:
        from aiva.physics.constants import M_NUCLEON

        if Z is None or A is None:
            from aiva.errors import AivaInputError

            raise AivaInputError(f"inputs {inputs!r} need the nucleus (Z, A)")
        n = E.shape[0]
        Af = np.broadcast_to(np.asarray(A, dtype=np.float64), (n,))
        Zf = np.broadcast_to(np.asarray(Z, dtype=np.float64), (n,))
        kF = fermi_momentum(Af)
        t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)  # noqa: E731
        cols += [t(np.log(Af) / 5), t(Zf / Af), t(kF / 0.25)]
        if inputs.endswith("+threshold"):
            # energy above the elastic line of the nucleus (the cut keeps > 20 MeV), and the
            # non-relativistic quasielastic scaling variable ψ = (ω − Q²/2M)·M/(|q| k_F), which
            # puts the quasielastic peaks of all nuclei at 0 with unit half-width
            q = torch.sqrt(Q2 + omega * omega)
            MA = t(Af * M_NUCLEON)
            above = torch.clamp(omega - Q2 / (2 * MA), min=0.0)
            psi = (omega - Q2 / (2 * M_NUCLEON)) * M_NUCLEON / (q * t(kF))
            cols += [torch.log(above + LOG_OFFSET), psi / 3]
    return torch.stack(cols, dim=-1)


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
    def __init__(self, k: int, n_in: int, width: int, dropout: float, activation: str = "relu"):
        super().__init__()
        self.k, self.width, self.activation = k, width, activation
        if activation == "relu+silu":  # a buffer, so that subsets of members keep their kind
            self.register_buffer("silu_member", torch.arange(k) % 2 == 1)
        self.linear = EnsembleLinear(k, n_in, width)
        self.norm = nn.BatchNorm1d(k * width)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.linear(x)  # (K, B, W)
        K, B, W = h.shape
        h = self.norm(h.permute(1, 0, 2).reshape(B, K * W)).reshape(B, K, W).permute(1, 0, 2)
        if self.activation == "relu":
            h = torch.relu(h)
        elif self.activation == "silu":
            h = nn.functional.silu(h)
        else:
            h = torch.where(self.silu_member[:, None, None], nn.functional.silu(h),  # type: ignore[index]
                            torch.relu(h))
        return self.drop(h)


class EnsembleNet(nn.Module):
    """K independent networks evaluated together; forward((K, B, n_inputs)) → (K, B) response."""

    def __init__(self, cfg: ESConfig, members: int = 1):
        super().__init__()
        self.cfg, self.members = cfg, members
        n_in = INPUTS[cfg.inputs]
        for i in range(cfg.blocks):
            self.add_module(f"b{i}", EnsembleBlock(members, n_in, cfg.width, cfg.dropout, cfg.activation))
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

    def subset(self, ks) -> EnsembleNet:
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

    def member(self, k: int) -> EnsembleNet:
        """A one-member network holding member k's weights and BatchNorm statistics."""
        return self.subset([k])
