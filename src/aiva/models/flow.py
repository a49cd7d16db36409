"""Conditional normalizing flow of lepton kinematics.

A neural spline flow (C. Durkan, A. Bekasov, I. Murray, G. Papamakarios, "Neural Spline Flows",
NeurIPS 2019, arXiv:1906.04032): ``transforms`` monotonic rational-quadratic spline transforms
with ``bins`` bins, each autoregressive over the two proxies (E'_μ, θ') and conditioned on E'_ν
through a masked MLP, on a standard normal base; implemented with zuko (F. Rozet et al.,
https://github.com/probabilists/zuko). With two variables an autoregressive transform is a pair
of couplings, so sampling costs two MLP passes per transform, and the exact likelihood p(x | E_ν)
is available (reweighting between models). Transforms are the named blocks ``t0, t1, …`` that
transfer learning can freeze.

The generation interface is shared with the GAN: ``model.sampler()`` returns a module mapping a
latent z ~ N(0, 1)² and E'_ν to proxies, with ``latent_dim = 2``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import nn

from aiva.models.blocks import NamedBlocksMixin
from aiva.utils import ConfigMixin

log = logging.getLogger(__name__)


@dataclass
class FlowConfig(ConfigMixin):
    _positive_ints = True

    transforms: int = 4
    bins: int = 16
    hidden: int = 64
    layers: int = 2  #: hidden layers of each transform's MLP


class _Sampler(nn.Module):
    latent_dim = 2

    def __init__(self, flow: nn.Module):
        super().__init__()
        self.flow = flow

    def forward(self, z: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        return self.flow(e).transform.inv(z)


class ConditionalFlow(NamedBlocksMixin, nn.Module):
    _core = "flow"
    family = "flow"
    #: exact ln p(x | E_ν) via log_prob (reweighting, likelihood evidence in `aiva update`)
    has_likelihood = True

    def __init__(self, config: FlowConfig | None = None):
        import zuko

        super().__init__()
        self.config = config or FlowConfig()
        c = self.config
        self.flow = zuko.flows.NSF(features=2, context=1, transforms=c.transforms, bins=c.bins,
                                   hidden_features=[c.hidden] * c.layers)

    def log_prob(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """ln p(E'_μ, θ' | E'_ν) for x of shape (N, 2) and e of shape (N, 1)."""
        return self.flow(e).log_prob(x)

    def loss(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """Training loss on a batch: the mean negative log-likelihood."""
        return -self.log_prob(x, e).mean()

    def default_freeze(self) -> list[str]:
        """Every transform but the last (the layer-wise study of ``benchmarks/transfer.py``,
        νμ–⁴⁰Ar at 10k events: MAP-3D 1.20, 1.11, 1.01, 0.97 with 0, 1, 2, 3 of 4 transforms frozen)."""
        return self.block_names()[:-1]

    def sampler(self) -> nn.Module:
        """The inverse flow as a module (z, E'_ν) → proxies: :class:`aiva.models.fastspline.FastSplineSampler`
        (the same mathematics with only the needed arithmetic, a snapshot of the weights), or zuko's
        inverse for a structure that it does not cover."""
        from aiva.models.fastspline import FastSplineSampler

        self.eval()
        try:
            return FastSplineSampler(self.flow)
        except ValueError as exc:
            log.debug("zuko's inverse for sampling: %s", exc)
            return self.zuko_sampler()

    def zuko_sampler(self) -> nn.Module:
        """zuko's generic inverse (two MLP passes per transform; the reference of the fast sampler)."""
        self.eval()
        return _Sampler(self.flow)

    def blocks(self) -> dict[str, nn.Module]:
        return {f"t{i}": t for i, t in enumerate(self.flow.transform.transforms)}
