"""The interface every generative family implements, and the model card.

A generator maps a latent z and the condition E'_ν to the proxies (E'_μ, θ') of the GAN papers
(PRD 112 (2025) 013007); :class:`Generator` declares what the rest of aiva may ask of it, so that
training, transfer learning, generation, reweighting and the registry never branch on family
names. The model card (:class:`ModelCard`) is the JSON record beside the safetensors weights.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from aiva.errors import AivaInputError
from aiva.physics.kinematics import PROXY_EMAX, PROXY_EMIN

#: the E_ν range [GeV] of the proxy map, and of every model trained on it unless its card says otherwise
DEFAULT_ENERGY_RANGE = (PROXY_EMIN, PROXY_EMAX)


@runtime_checkable
class Generator(Protocol):
    """What every family (GAN, flow, flow matching, and mixtures of one family) provides.

    * ``family``, ``config`` (a :class:`aiva.utils.ConfigMixin` dataclass), ``has_likelihood``
      (True where ``log_prob(x, e)`` gives the exact ln p(E'_μ, θ' | E'_ν));
    * ``sampler()``: the ``nn.Module`` that maps (z, E'_ν) to proxies (``latent_dim`` attribute);
    * ``state()`` / ``load_state(tensors)``: the tensors of the weights file;
    * ``block_names()``, ``block_groups()`` (the blocks of each network in input order),
      ``default_freeze()`` and ``freeze(names)`` for transfer learning;
    * ``to(device)``.
    """

    family: str
    config: Any

    @property
    def has_likelihood(self) -> bool: ...

    def sampler(self) -> nn.Module: ...

    def state(self) -> dict[str, torch.Tensor]: ...

    def load_state(self, tensors: dict[str, torch.Tensor]) -> None: ...

    def block_names(self) -> list[str]: ...

    def block_groups(self) -> list[list[str]]: ...

    def default_freeze(self) -> list[str]: ...

    def freeze(self, names: list[str]) -> list[str]: ...

    def to(self, device: Any) -> Any: ...


def energy_range(card: Mapping[str, Any]) -> tuple[float, float]:
    """The trained E_ν range [GeV] of a model card (default :data:`DEFAULT_ENERGY_RANGE`)."""
    lo, hi = card.get("energy_range_GeV") or DEFAULT_ENERGY_RANGE
    return float(lo), float(hi)


def check_energies(card: Mapping[str, Any], enu, allow_extrapolation: bool = False, what: str = "energies") -> None:
    """Refuse neutrino energies outside the model's trained range unless extrapolation is allowed."""
    lo, hi = energy_range(card)
    e = np.asarray(enu, dtype=np.float64)
    outside = (e < lo) | (e > hi)
    if outside.any() and not allow_extrapolation:
        raise AivaInputError(f"{int(outside.sum())} {what} outside the trained range [{lo}, {hi}] GeV "
                             "(use --allow-extrapolation to generate anyway)")


class ModelCard(dict):
    """The model card: a JSON object (it stays a ``dict`` for the files and old code) with typed
    access to what every consumer needs. Keys: ``name``, ``family``, ``config``, ``target``,
    ``probe``, ``channels``, ``mode_code``, ``energy_range_GeV``, ``xsec`` (σ(E) table),
    ``parent``, ``training`` (data with SHA-256, settings), ``metrics``, ``weights_sha256``."""

    @property
    def name(self) -> str:
        return str(self.get("name", ""))

    @property
    def family(self) -> str:
        return str(self.get("family", ""))

    @property
    def target(self) -> str:
        return str(self.get("target", "C12"))

    @property
    def probe(self) -> str:
        return str(self.get("probe", "numu"))

    @property
    def energy_range(self) -> tuple[float, float]:
        return energy_range(self)

    @property
    def metrics(self) -> dict:
        return dict(self.get("metrics") or {})

    @property
    def parent(self) -> dict | None:
        p = self.get("parent")
        return p if isinstance(p, dict) else ({"name": p} if p else None)

    @property
    def training_data(self) -> list[dict]:
        return list((self.get("training") or {}).get("data") or [])

    def check_energies(self, enu, allow_extrapolation: bool = False, what: str = "energies") -> None:
        check_energies(self, enu, allow_extrapolation, what)
