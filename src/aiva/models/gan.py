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

    def sampler(self) -> Generator:
        """The network used for generation (EMA weights, eval mode)."""
        self.ema.eval()
        return self.ema
