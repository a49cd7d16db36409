"""Conditional GAN of lepton kinematics (J. L. Bonilla, K. M. Graczyk et al., Phys. Rev. D 112
(2025) 013007, arXiv:2502.20244; the same architecture is fine-tuned in arXiv:2508.12987).

Generator G(z, E'_ν) → (E'_μ, θ'): a Gaussian latent vector z and the proxy neutrino energy pass
through ``g_blocks`` dense blocks (Dense → BatchNorm → activation → Dropout, Gaussian-noise
layers, skip connections between equal widths); in the ``inclusive`` variant E'_ν is concatenated
to the input of *every* block. Discriminator D(E'_μ, θ', E'_ν) → logit of "real", built the same
way. Blocks are named ``g0, g1, …`` and ``d0, d1, …`` (output layers ``g_out``, ``d_out``) so that
transfer learning can freeze them. Sizes are config values; the defaults are ours, sized so that
a generator is well below 1 MB and makes 10⁶ events in about a second on one CPU thread.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from aiva.models.blocks import DenseBlock
from aiva.utils import ConfigMixin


@dataclass
class GANConfig(ConfigMixin):
    _positive_ints = True
    _limits = {"g_dropout": (0.0, 0.99), "d_dropout": (0.0, 0.99), "g_noise": (0.0, None), "d_noise": (0.0, None)}
    _choices = {"g_activation": ("relu", "leaky_relu", "silu", "tanh"),
                "d_activation": ("relu", "leaky_relu", "silu", "tanh"), "output": ("linear", "tanh")}

    latent_dim: int = 8
    g_blocks: int = 5
    g_width: int = 96
    d_blocks: int = 3
    d_width: int = 96
    g_activation: str = "leaky_relu"
    d_activation: str = "leaky_relu"
    g_dropout: float = 0.0
    d_dropout: float = 0.0
    g_noise: float = 0.0  #: Gaussian-noise std after generator blocks (training only)
    d_noise: float = 0.01  #: Gaussian-noise std on discriminator inputs and blocks (training only)
    condition_every_block: bool = True  #: concatenate E'_ν into every block (inclusive model)
    output: str = "linear"  #: generator output: linear (out-of-range proxies are counted) or tanh


class _Net(nn.Module):
    """Stack of named dense blocks with E'_ν concatenated to each block input."""

    def __init__(self, prefix: str, n_in: int, width: int, n_blocks: int, n_out: int, act: str, dropout: float,
                 noise: float, cond_every: bool, input_noise: float = 0.0):
        super().__init__()
        self.prefix = prefix
        self.cond_every = cond_every
        self.n_blocks = n_blocks
        self.input_noise = input_noise
        for i in range(n_blocks):
            fan_in = (n_in if i == 0 else width) + (1 if (cond_every and i > 0) else 0)
            self.add_module(f"{prefix}{i}", DenseBlock(fan_in, width, act, True, dropout, noise, skip=i > 0))
        self.add_module(f"{prefix}_out", nn.Linear(width, n_out))

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        if self.training and self.input_noise > 0:
            x = x + self.input_noise * torch.randn_like(x)
        h = torch.cat([x, cond], dim=1)
        for i in range(self.n_blocks):
            blk = getattr(self, f"{self.prefix}{i}")
            inp = torch.cat([h, cond], dim=1) if (self.cond_every and i > 0) else h
            h = blk(inp, residual=h if i > 0 else None)
        return getattr(self, f"{self.prefix}_out")(h)


class Generator(_Net):
    def __init__(self, cfg: GANConfig):
        super().__init__("g", cfg.latent_dim + 1, cfg.g_width, cfg.g_blocks, 2, cfg.g_activation, cfg.g_dropout,
                         cfg.g_noise, cfg.condition_every_block)
        self.latent_dim = cfg.latent_dim
        self.tanh = cfg.output == "tanh"

    def forward(self, z: torch.Tensor, enu_p: torch.Tensor) -> torch.Tensor:
        out = super().forward(z, enu_p)
        return torch.tanh(out) if self.tanh else out


class Discriminator(_Net):
    def __init__(self, cfg: GANConfig):
        super().__init__("d", 3, cfg.d_width, cfg.d_blocks, 1, cfg.d_activation, cfg.d_dropout, cfg.d_noise,
                         cfg.condition_every_block, input_noise=cfg.d_noise)

    def forward(self, x: torch.Tensor, enu_p: torch.Tensor) -> torch.Tensor:
        return super().forward(x, enu_p).squeeze(1)


@dataclass
class ConditionalGAN:
    """Generator + discriminator (+ an exponential moving average of the generator's weights,
    used for sampling; an addition to the papers' recipe)."""

    family = "gan"
    has_likelihood = False

    config: GANConfig = field(default_factory=GANConfig)

    def __post_init__(self) -> None:
        self.generator = Generator(self.config)
        self.discriminator = Discriminator(self.config)
        self.ema = Generator(self.config)
        self.ema.load_state_dict(self.generator.state_dict())
        for p in self.ema.parameters():
            p.requires_grad_(False)

    def to(self, device) -> ConditionalGAN:
        for m in (self.generator, self.discriminator, self.ema):
            m.to(device)
        return self

    @torch.no_grad()
    def update_ema(self, decay: float) -> None:
        for pe, pg in zip(self.ema.parameters(), self.generator.parameters()):
            pe.mul_(decay).add_(pg.detach(), alpha=1 - decay)
        for be, bg in zip(self.ema.buffers(), self.generator.buffers()):
            be.copy_(bg)

    def _nets(self):
        return (("generator", self.generator), ("ema", self.ema), ("discriminator", self.discriminator))

    def state(self) -> dict[str, torch.Tensor]:
        """All tensors, keyed ``generator.*``, ``ema.*``, ``discriminator.*`` (the file layout)."""
        return {f"{prefix}.{k}": v.detach().cpu().contiguous()
                for prefix, net in self._nets() for k, v in net.state_dict().items()}

    def load_state(self, tensors: dict[str, torch.Tensor]) -> None:
        """Inverse of :meth:`state`; a mismatch raises ``RuntimeError`` as ``load_state_dict`` does."""
        for prefix, net in self._nets():
            net.load_state_dict({k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")})

    def block_groups(self) -> list[list[str]]:
        """The dense blocks of the generator and of the discriminator, from the input."""
        return [[f"g{i}" for i in range(self.config.g_blocks)], [f"d{i}" for i in range(self.config.d_blocks)]]

    def block_names(self) -> list[str]:
        g, d = self.block_groups()
        return g + ["g_out"] + d + ["d_out"]

    def default_freeze(self) -> list[str]:
        """The transfer-learning paper's scheme (arXiv:2508.12987): the first half of the
        generator blocks and of the discriminator blocks."""
        g, d = self.block_groups()
        return g[: len(g) // 2] + d[: len(d) // 2]

    def freeze(self, names: list[str]) -> list[str]:
        """Freeze named blocks (``g*`` in the generator and its EMA copy, ``d*`` in the discriminator)."""
        from aiva.models.blocks import freeze as freeze_blocks

        frozen: list[str] = []
        for name in names:
            net = self.generator if name.startswith("g") else self.discriminator
            frozen += freeze_blocks(net, [name])
            if name.startswith("g"):
                freeze_blocks(self.ema, [name])
        return frozen

    def sampler(self) -> nn.Module:
        """The network used for generation: the EMA weights in eval mode, folded into a
        :class:`FusedGenerator` (a snapshot: call again after the weights change)."""
        self.ema.eval()
        return FusedGenerator(self.ema)


class FusedGenerator(nn.Module):
    """An inference-only copy of a :class:`Generator` in eval mode, the same function with fewer
    memory passes per block: BatchNorm with running statistics is an affine map and is folded
    into the preceding Linear (W' = diag(s) W, b' = s (b − μ) + β with s = γ/√(σ² + ε), S. Ioffe
    and C. Szegedy, arXiv:1502.03167, Sec. 3.1, eq. of Algorithm 2 step 11), and the concatenated
    E'_ν column of every block becomes a rank-1 term added to the bias (W [h; e] = W_h h + w_e e),
    so no block copies its input. Dropout and Gaussian noise are the identity at inference.
    Agrees with the module it was made from to float rounding (about 1e-6)."""

    w_out: torch.Tensor
    b_out: torch.Tensor

    def __init__(self, g: Generator):
        super().__init__()
        self.latent_dim = g.latent_dim
        self.tanh = g.tanh
        self.cond_every = g.cond_every
        self.n_blocks = g.n_blocks
        self.slope: list[float | None] = []
        for i in range(g.n_blocks):
            blk = getattr(g, f"g{i}")
            w, b = blk.linear.weight.detach().double(), blk.linear.bias.detach().double()
            if isinstance(blk.norm, nn.BatchNorm1d):
                bn = blk.norm
                assert bn.running_var is not None and bn.running_mean is not None  # track_running_stats
                s = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
                w, b = w * s[:, None], s * (b - bn.running_mean.double()) + bn.bias.detach().double()
            cond_col = i > 0 and g.cond_every or i == 0
            w_h, w_e = (w[:, :-1], w[:, -1]) if cond_col else (w, torch.zeros_like(b))
            self.register_buffer(f"w{i}", w_h.float().contiguous())
            self.register_buffer(f"we{i}", w_e.float().reshape(1, -1).contiguous())
            self.register_buffer(f"b{i}", b.float().reshape(1, -1).contiguous())
            act = blk.act
            self.slope.append(act.negative_slope if isinstance(act, nn.LeakyReLU) else None)
            setattr(self, f"act{i}", act)
        out = getattr(g, "g_out")
        self.register_buffer("w_out", out.weight.detach().clone())
        self.register_buffer("b_out", out.bias.detach().clone().reshape(1, -1))

    def forward(self, z: torch.Tensor, enu_p: torch.Tensor) -> torch.Tensor:
        e = enu_p.reshape(-1, 1)
        h: torch.Tensor | None = None
        for i in range(self.n_blocks):
            w, we, b = getattr(self, f"w{i}"), getattr(self, f"we{i}"), getattr(self, f"b{i}")
            y = torch.addmm(torch.addmm(b, e, we), z if h is None else h, w.t())
            slope = self.slope[i]
            act = getattr(self, f"act{i}")
            if slope is not None:
                y = torch.nn.functional.leaky_relu_(y, slope)
            elif isinstance(act, nn.SiLU):  # in place: no new tensor per block
                y = torch.nn.functional.silu(y, inplace=True)
            elif isinstance(act, nn.Tanh):
                y = y.tanh_()
            else:
                y = act(y)
            h = y if h is None else h.add_(y)
        assert h is not None
        out = torch.addmm(self.b_out, h, self.w_out.t())
        return torch.tanh(out) if self.tanh else out
