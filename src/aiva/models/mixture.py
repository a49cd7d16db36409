"""Equal-weight mixtures of generators: one model made of K trained members.

p(x | E_ν) = (1/K) Σ_k p_k(x | E_ν). Averaging the densities of K networks trained with
different seeds on the same events removes much of the seed-to-seed error of a single network
where the data are thin (the predictive distribution of a deep ensemble: B. Lakshminarayanan,
A. Pritzel, C. Blundell, NeurIPS 2017, arXiv:1612.01474). A mixture is stored like any model
(family ``mixture``: member tensors ``m<k>.<name>``, the member family and configuration in the
card) and generates through the same ``sampler()`` interface: its latent vector has one extra
component u ~ N(0, 1), and an event comes from member ⌊K Φ(u)⌋, so each member makes 1/K of the
events in expectation and the same seed gives the same events.

Unlike :mod:`aiva.models.ensemble` (a folder of members whose spread is reported as an
uncertainty band), a mixture is a single generator; it cannot be a transfer-learning base (fine-tune
one of its members instead).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from aiva.errors import AivaInputError
from aiva.utils import ConfigMixin


@dataclass
class MixtureConfig(ConfigMixin):
    _positive_ints = True
    _choices = {"family": ("gan", "flow", "cfm")}

    family: str = "flow"  #: family of every member
    members: int = 2
    member: dict = field(default_factory=dict)  #: the members' configuration (one for all)


class _MixtureSampler(nn.Module):
    def __init__(self, samplers: list[nn.Module]):
        super().__init__()
        self.samplers = nn.ModuleList(samplers)
        self.latent_dim = max(s.latent_dim for s in samplers) + 1

    def forward(self, z: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        k = len(self.samplers)
        u = 0.5 * (1.0 + torch.erf(z[:, -1] / math.sqrt(2.0)))  # Φ(z): uniform on (0, 1)
        pick = torch.clamp((u * k).long(), 0, k - 1)
        out = torch.empty(len(z), 2, dtype=z.dtype, device=z.device)
        for i, s in enumerate(self.samplers):
            m = pick == i
            if m.any():
                out[m] = s(z[m, : s.latent_dim], e[m]).to(z.dtype)
        return out


class MixtureModel:
    """K generators of one family and configuration with equal weights."""

    family = "mixture"

    def __init__(self, config: MixtureConfig | None = None, members: list | None = None):
        from aiva.models.io import FAMILIES

        self.config = config or MixtureConfig()
        c = self.config
        if c.family not in FAMILIES:
            raise AivaInputError(f"mixture members must be of one generator family ({', '.join(FAMILIES)}), "
                                 f"got {c.family!r}")
        if c.members < 2:
            raise AivaInputError(f"a mixture needs at least 2 members, got {c.members}")
        if members is None:
            cls, cfg = FAMILIES[c.family]
            members = [cls(cfg.from_dict(c.member)) for _ in range(c.members)]
        if len(members) != c.members:
            raise AivaInputError(f"mixture config says {c.members} members, {len(members)} given")
        self.members = members

    def _each(self, method: str, *args) -> "MixtureModel":
        for m in self.members:
            getattr(m, method)(*args)
        return self

    def to(self, device) -> "MixtureModel":
        return self._each("to", device)

    def double(self) -> "MixtureModel":
        return self._each("double")

    def float(self) -> "MixtureModel":
        return self._each("float")

    def eval(self) -> "MixtureModel":
        return self._each("eval")

    def state(self) -> dict[str, torch.Tensor]:
        return {f"m{k}.{name}": t for k, m in enumerate(self.members) for name, t in m.state().items()}

    def load_state(self, tensors: dict[str, torch.Tensor]) -> None:
        for k, m in enumerate(self.members):
            prefix = f"m{k}."
            own = {n[len(prefix):]: t for n, t in tensors.items() if n.startswith(prefix)}
            if not own:
                raise RuntimeError(f"no tensors for mixture member {k} (prefix {prefix!r})")
            m.load_state(own)
        known = {f"m{k}" for k in range(len(self.members))}
        stray = [n for n in tensors if n.split(".", 1)[0] not in known]
        if stray:
            raise RuntimeError(f"tensors that belong to no member: {', '.join(stray[:5])}")

    def sampler(self) -> nn.Module:
        return _MixtureSampler([m.sampler() for m in self.members])

    @property
    def has_likelihood(self) -> bool:
        """True when every member has an exact likelihood (a mixture of flows)."""
        return all(getattr(m, "has_likelihood", False) for m in self.members)

    def log_prob(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """ln p(x | E'_ν) = logsumexp_k ln p_k − ln K; needs members with an exact likelihood (flows)."""
        if not self.has_likelihood:
            raise AivaInputError(f"a mixture of {self.config.family} members has no likelihood")
        lp = torch.stack([m.log_prob(x, e) for m in self.members])
        return torch.logsumexp(lp, dim=0) - math.log(len(self.members))

    def block_names(self) -> list[str]:
        raise AivaInputError("a mixture cannot be fine-tuned as a whole; use one of its members as the base")

    freeze = block_names


def mix_models(models: list, cards: list[dict], name: str) -> tuple[MixtureModel, dict]:
    """A mixture of trained models and its card. The members must share family, configuration,
    target, probe, sample and energy range; the card keeps the first member's data and σ(E)
    records and lists every member (name, weights SHA-256, seed, validation MAP)."""
    if len(models) < 2:
        raise AivaInputError(f"a mixture needs at least 2 members, got {len(models)}")
    first = cards[0]
    for key in ("family", "config", "target", "probe", "mode_code", "energy_range_GeV"):
        vals = [c.get(key) for c in cards]
        if any(v != vals[0] for v in vals[1:]):
            raise AivaInputError(f"mixture members differ in {key!r}: "
                                 + ", ".join(f"{c.get('name')}: {v}" for c, v in zip(cards, vals)))
    mix = MixtureModel(MixtureConfig(family=first["family"], members=len(models), member=first["config"]),
                       members=list(models))
    keep = ("target", "probe", "channels", "mode_code", "energy_range_GeV", "parent", "training", "xsec")
    card = {"name": name, **{k: first[k] for k in keep if k in first}}
    card["mixture"] = [{"name": c.get("name"), "weights_sha256": c.get("weights_sha256"),
                        "seed": (c.get("training", {}).get("train_config") or {}).get("seed"),
                        "validation_mean_MAP": (c.get("metrics", {}).get("validation") or {}).get("mean_MAP")}
                       for c in cards]
    return mix, card


def mix_files(models: list, out, name: str | None = None, extra: dict | None = None):
    """``aiva mix``: load the generators ``models`` (shipped names or .safetensors paths; at least
    2, one family, configuration, target, probe, sample and energy range), write their
    equal-weight mixture to ``out`` (.safetensors + .json card) and return its path. The card
    lists every member (:func:`mix_models`); ``training.mixed_from`` records each member's file,
    learning rate, seed and weights SHA-256; ``extra`` is merged into the card."""
    from pathlib import Path

    from aiva.models.io import load_model, resolve, save_model

    if len(models) < 2:
        raise AivaInputError(f"a mixture needs at least 2 members, got {len(models)}")
    paths = [resolve(m) for m in models]  # a missing file is an input error naming it
    loaded = [load_model(p) for p in paths]
    for p, (net, card) in zip(paths, loaded):
        if card.get("family") == "mixture":
            raise AivaInputError(f"{p}: is itself a mixture; mix its members instead")
    out = Path(out).with_suffix(".safetensors")
    mix, card = mix_models([m for m, _ in loaded], [c for _, c in loaded], name or out.stem)
    tcs = [(c.get("training", {}).get("train_config") or {}) for _, c in loaded]
    card["training"] = {**card.get("training", {}),
                        "mixed_from": [{"file": str(p), "lr": t.get("lr"), "seed": t.get("seed"),
                                        "weights_sha256": c.get("weights_sha256")}
                                       for p, t, (_, c) in zip(paths, tcs, loaded)]}
    card.update(extra or {})
    out.parent.mkdir(parents=True, exist_ok=True)
    return save_model(mix, out, card)
