"""Training of the families fitted by a direct loss on mini-batches: the normalizing flow
(maximum likelihood, loss −⟨ln p(E'_μ, θ' | E'_ν)⟩) and conditional flow matching (the
regression loss of :mod:`aiva.models.cfm`). Each model provides ``loss(x, e)``.

Adam with a cosine decay of the learning rate to ``lr_final_factor`` × lr (over the epochs, or
over the CPU-time budget ``cpu_minutes``). After every epoch the model is compared with held-out reference events at
the test energies by MAP (and EMD) exactly as the GAN is, and the epoch with the lowest mean MAP
is kept (on a user's file: the held-out figure of :mod:`aiva.training.validation`). Checkpoints
(weights, optimizer, RNG states) are written every epoch, so a run resumes
bit for bit; ``history.csv``/``.json`` log the loss and metrics.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from aiva.errors import AivaInputError
from aiva.models.families import FAMILIES
from aiva.training import distributed
from aiva.training.configs import CFMTrainConfig, DirectTrainConfig, FlowTrainConfig
from aiva.training.loop import FamilySteps, fit, prepare_run, run_identity
from aiva.training.validation import HeldOut

log = logging.getLogger(__name__)


def epoch_order(E: torch.Tensor, power: float, gen: torch.Generator) -> torch.Tensor:
    """Event order of one epoch: a permutation, or for ``power`` p > 0 len(E) draws with
    replacement with probability ∝ E^−p.

    The weight depends only on the condition E_ν, so the weighted maximum likelihood still has the
    true p(E'_μ, θ' | E_ν) as its optimum for every E_ν; it only moves the network's capacity
    toward the energies that have few events in an E_ν-uniform sample."""
    if power <= 0:
        return torch.randperm(len(E), generator=gen)
    w = E.double().clamp_min(1e-3) ** (-power)
    return torch.multinomial(w / w.sum(), len(E), replacement=True, generator=gen)


def train_direct(family: str, data: np.ndarray, refs: dict[float, np.ndarray] | HeldOut, out_dir, *, model_config=None,
                 train_config: DirectTrainConfig | None = None, init=None, freeze: list[str] | None = None,
                 card: dict | None = None, resume: bool = True, progress: bool = True,
                 on_step=None) -> dict[str, Any]:
    """Train (or fine-tune, with ``init`` and ``freeze``) a ``flow`` or ``cfm`` model on (N, 3) proxies;
    data-parallel under torchrun (:mod:`aiva.training.distributed`); ``on_step`` as in :func:`fit`."""
    cls, cfg_cls = FAMILIES[family]
    tcfg = train_config or (FlowTrainConfig() if family == "flow" else CFMTrainConfig())
    out, device, data = prepare_run(out_dir, tcfg, data)
    torch.manual_seed(tcfg.seed)
    model = cls(init.config if init is not None else (model_config or cfg_cls()))
    if init is not None:
        model.load_state(init.state())
    frozen = model.freeze(list(freeze or []))
    model.to(device)
    if init is not None and isinstance(refs, HeldOut):  # the parent's ln p: recomputed identically on resume
        refs.set_reference(model, device)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise AivaInputError(f"every block is frozen ({', '.join(frozen)}): nothing to train")
    opt = torch.optim.Adam(params, lr=tcfg.lr)
    data_gen = torch.Generator().manual_seed(tcfg.seed + 1)
    X = torch.from_numpy(data)
    optimizers = {"f": (opt, "opt")}
    identity = run_identity(data, tcfg, model, init, frozen)
    loss_fn = distributed.loss_function(model)  # through DDP when data-parallel

    def step(b: torch.Tensor) -> tuple[float]:
        loss = loss_fn(b[:, 1:], b[:, :1])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return (loss.item(),)

    steps = FamilySteps(optimizers=optimizers, base_lr={"f": tcfg.lr}, before_epoch=model.train,
                        order=lambda X, gen: epoch_order(X[:, 0], tcfg.energy_weight_power, gen), step=step,
                        loss_names=("loss",), lr_column="lr",
                        history_columns=("epoch", "loss", "mean_MAP", "mean_EMD", "seconds", "lr"))
    return fit(model, steps, X, refs, out, tcfg, device, card=card, frozen=frozen, identity=identity,
               data_gen=data_gen, resume=resume, progress=progress, on_step=on_step)
