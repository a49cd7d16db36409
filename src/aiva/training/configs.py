"""Training settings of every generative family, their TOML files and the device choice.

``[training]`` of a TOML config is a :class:`TrainConfig` (GAN), :class:`FlowTrainConfig` or
:class:`CFMTrainConfig`; ``[model]`` the family's architecture config. Every key is checked for
type and range (:class:`aiva.utils.ConfigMixin`), unknown tables and keys are refused.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from aiva.errors import AivaInputError
from aiva.utils import ConfigMixin

TEST_ENERGIES = (0.5, 0.8, 1.0, 2.0, 3.0, 5.0, 7.0, 9.0)


@dataclass
class CommonTrainConfig(ConfigMixin):
    """Training settings shared by the generative families."""

    #: bounds of every family's training settings (a TOML file or a model card is checked against them)
    _limits = {"epochs": (1, None), "batch_size": (1, None), "seed": (0, None), "val_events": (1, None),
               "max_minutes": (("gt", 0.0), None), "cpu_minutes": (("gt", 0.0), None), "threads": (1, None),
               "lr": (("gt", 0.0), 10.0), "lr_g": (("gt", 0.0), 10.0), "lr_d": (("gt", 0.0), 10.0),
               "beta1": (0.0, 0.9999), "beta2": (0.0, 0.99999), "lr_final_factor": (("gt", 0.0), 1.0),
               "ema_decay": (0.0, 0.99999), "energy_weight_power": (0.0, 10.0)}
    _choices = {"select_by": ("mean", "max")}

    epochs: int = 40
    batch_size: int = 2048
    seed: int = 1
    val_events: int = 100_000
    val_energies: tuple = TEST_ENERGIES
    device: str = "auto"
    max_minutes: float | None = None
    #: checkpoint selection: the lowest "mean" validation MAP over the test energies, or the lowest
    #: "max" (the worst energy; for a target of MAP below a bound at every energy)
    select_by: str = "mean"
    #: budget of this process's CPU time (benchmarks/families.py): the cosine learning-rate decay
    #: follows the fraction of it used instead of the epoch count, and no epoch starts that would
    #: overrun it (judged by the last epoch's cost). A resumed run starts a fresh budget.
    cpu_minutes: float | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.select_by not in ("mean", "max"):
            raise AivaInputError(f"select_by must be 'mean' or 'max', got {self.select_by!r}")
        import re

        if not isinstance(self.device, str) or not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", self.device):
            raise AivaInputError(f"key 'device' = {self.device!r}: must be auto, cpu, cuda, cuda:N or mps")
        ve = self.val_energies
        if not all(isinstance(e, (int, float)) and not isinstance(e, bool) and 0 < e < 1e3 for e in ve):
            raise AivaInputError(f"key 'val_energies' = {list(ve)!r}: need positive energies in GeV")

    @classmethod
    def from_dict(cls, d: dict):
        d = dict(d)
        if "val_energies" in d:
            d["val_energies"] = tuple(d["val_energies"])
        return super().from_dict(d)


@dataclass
class TrainConfig(CommonTrainConfig):
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    lr_final_factor: float = 0.1
    ema_decay: float = 0.999


@dataclass
class DirectTrainConfig(CommonTrainConfig):
    """Settings of the families trained by a direct loss (flow, cfm)."""

    #: p > 0: each epoch draws its events with probability ∝ E_ν^−p (with replacement) instead of
    #: a permutation, giving low-energy events more of the fit (see :func:`epoch_order`)
    energy_weight_power: float = 0.0
    lr: float = 1e-3
    lr_final_factor: float = 0.05


@dataclass
class FlowTrainConfig(DirectTrainConfig):
    epochs: int = 20


@dataclass
class CFMTrainConfig(DirectTrainConfig):
    epochs: int = 20
    lr: float = 2e-3
    lr_final_factor: float = 0.02


def config_classes(family: str):
    """(model config class, training config class) of a generative family."""
    from aiva.models.families import FAMILIES

    if family not in FAMILIES:
        raise AivaInputError(f"unknown family {family!r} (available: {', '.join(FAMILIES)})")
    tc = {"gan": TrainConfig, "flow": FlowTrainConfig, "cfm": CFMTrainConfig}[family]
    return FAMILIES[family][1], tc


def load_toml_config(path, family: str = "gan", tables: tuple[str, ...] = ("model", "training")):
    """(model config, training config) of a family from a TOML file's [model] and [training];
    every key is checked for type and range, and unknown tables or top-level keys are refused."""
    from aiva.utils import read_toml

    mc, tc = config_classes(family)
    raw = read_toml(path, "TOML config")
    unknown = sorted(set(raw) - set(tables))
    if unknown:
        what = "table" if isinstance(raw[unknown[0]], dict) else "top-level key"
        raise AivaInputError(f"{path}: unknown {what} '{unknown[0]}' (a config has the tables "
                             f"{', '.join(f'[{t}]' for t in tables)})")
    out = []
    for table, cls in (("model", mc), ("training", tc)):
        try:
            out.append(cls.from_dict(raw.get(table, {})))
        except (TypeError, AivaInputError) as exc:
            raise AivaInputError(f"{path}: [{table}] {exc}") from None
    return out[0], out[1]


def pick_device(name: str) -> torch.device:
    """``auto`` (CUDA when present), ``cpu``, ``cuda[:N]`` (refused when CUDA is not available)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(name).startswith("cuda") and not torch.cuda.is_available():
        raise AivaInputError(f"--device {name}: CUDA is not available on this machine (use cpu or auto)")
    try:
        return torch.device(name)
    except RuntimeError:
        raise AivaInputError(f"--device {name!r}: not a torch device (cpu, cuda, cuda:N, auto)") from None
