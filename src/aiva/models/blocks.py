"""Building blocks: dense blocks, Gaussian-noise layers, freezing by name."""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

_ACT: dict[str, Callable[[], nn.Module]] = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2),
                                             "silu": nn.SiLU, "tanh": nn.Tanh}


class GaussianNoise(nn.Module):
    """Adds N(0, σ²) noise in training mode only (against mode collapse; PRD 112 (2025) 013007)."""

    def __init__(self, std: float):
        super().__init__()
        self.std = float(std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.std > 0:
            return x + self.std * torch.randn_like(x)
        return x


class DenseBlock(nn.Module):
    """Dense → BatchNorm → activation → Dropout (→ Gaussian noise), with an optional skip
    connection when input and output widths agree."""

    def __init__(self, n_in: int, n_out: int, activation: str = "leaky_relu", batchnorm: bool = True,
                 dropout: float = 0.0, noise: float = 0.0, skip: bool = True):
        super().__init__()
        if activation not in _ACT:
            raise ValueError(f"unknown activation {activation!r}; choose from {sorted(_ACT)}")
        self.linear = nn.Linear(n_in, n_out)
        self.norm = nn.BatchNorm1d(n_out) if batchnorm else nn.Identity()
        self.act = _ACT[activation]()
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.noise = GaussianNoise(noise)
        self.skip = skip

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        h = self.noise(self.drop(self.act(self.norm(self.linear(x)))))
        if self.skip and residual is not None and residual.shape == h.shape:
            h = h + residual
        return h


def freeze(module: nn.Module, names: list[str]) -> list[str]:
    """Freeze the named child blocks: no gradients, BatchNorm in eval mode (running statistics
    untouched). Returns the names frozen; unknown names raise ``KeyError``."""
    children = dict(module.named_children())
    for name in names:
        if name not in children:
            raise KeyError(f"no block named {name!r}; blocks: {', '.join(children)}")
        blk = children[name]
        for p in blk.parameters():
            p.requires_grad_(False)
        blk.eval()
        setattr(blk, "_aiva_frozen", True)  # train() keeps it in eval mode, see keep_frozen_eval
    return list(names)


def keep_frozen_eval(module: nn.Module) -> None:
    """Call after ``module.train()``: put frozen blocks back into eval mode."""
    for m in module.modules():
        if getattr(m, "_aiva_frozen", False):
            m.eval()


def freeze_params(blocks: dict[str, nn.Module], names: list[str]) -> list[str]:
    """Freeze the named blocks of a model without BatchNorm (flow, cfm): no gradients. Unknown
    names raise ``KeyError``. Returns the names frozen."""
    for name in names:
        if name not in blocks:
            raise KeyError(f"no block named {name!r}; blocks: {', '.join(blocks)}")
        for p in blocks[name].parameters():
            p.requires_grad_(False)
    return list(names)


class NamedBlocksMixin:
    """``block_names``, ``freeze``, ``state`` and ``load_state`` for a model (flow, cfm) whose
    weights all live in one submodule, named by the class attribute ``_core``; the model
    provides ``blocks()``. Tensors are stored as ``<_core>.<name>``."""

    _core: str

    def blocks(self) -> dict[str, nn.Module]:  # provided by the model class
        raise NotImplementedError

    def block_names(self) -> list[str]:
        return list(self.blocks())

    def block_groups(self) -> list[list[str]]:
        return [self.block_names()]

    def default_freeze(self) -> list[str]:
        """The first half of the blocks (flow matching); flows override it."""
        names = self.block_names()
        return names[: len(names) // 2]

    def freeze(self, names: list[str]) -> list[str]:
        """Freeze named blocks (no gradients); unknown names raise ``KeyError``."""
        return freeze_params(self.blocks(), names)

    def state(self) -> dict[str, torch.Tensor]:
        net = getattr(self, self._core)
        return {f"{self._core}.{k}": v.detach().cpu().contiguous() for k, v in net.state_dict().items()}

    def load_state(self, tensors: dict[str, torch.Tensor]) -> None:
        prefix = self._core + "."
        getattr(self, self._core).load_state_dict({k[len(prefix):]: v for k, v in tensors.items()
                                                   if k.startswith(prefix)})
