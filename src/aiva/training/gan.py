"""Training of the conditional GAN (PRD 112 (2025) 013007, Sec. III).

Loss: binary cross entropy; the discriminator minimises BCE(D(x), 1) + BCE(D(G(z)), 0), the
generator the non-saturating BCE(D(G(z)), 1). Adam for both, a cosine learning-rate decay to
``lr_final_factor`` × lr, and an exponential moving average (EMA) of the generator weights that
is used for validation and generation.

Checkpoint selection as in the papers: after each epoch the EMA generator is compared with
held-out reference events at fixed test energies; the epoch with the lowest mean MAP wins (EMD
recorded alongside), not the last one. On a user's file (not aiva's MC) the references are held-out
events of the file, scored by :mod:`aiva.training.validation`. Every epoch writes a resumable checkpoint
(:mod:`aiva.training.checkpoint`) and appends to ``history.csv``/``history.json``; a resumed run
continues bit for bit.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from aiva.models.blocks import keep_frozen_eval
from aiva.models.gan import ConditionalGAN, GANConfig
from aiva.training.configs import TrainConfig
from aiva.training.loop import FamilySteps, fit, prepare_run, run_identity
from aiva.training.validation import HeldOut

log = logging.getLogger(__name__)


def train_gan(data: np.ndarray, refs: dict[float, np.ndarray] | HeldOut, out_dir: str | Path, *,
              model_config: GANConfig | None = None, train_config: TrainConfig | None = None,
              init: ConditionalGAN | None = None, freeze: list[str] | None = None, card: dict | None = None,
              resume: bool = True, progress: bool = True,
              on_epoch: Callable[[int, dict], None] | None = None) -> dict[str, Any]:
    """Train (or fine-tune, with ``init`` and ``freeze``) a conditional GAN.

    ``data``: (N, 3) proxies (E'_ν, E'_μ, θ'). ``refs``: {E_ν: (n, 2) reference (E'_μ, θ')}, or
    held-out events of the training file (:class:`~aiva.training.validation.HeldOut`).
    Writes to ``out_dir``: ``checkpoint.*`` (resumable), ``history.csv``/``.json``, and the
    selected model ``model.safetensors`` + ``model.json``. Returns the summary.
    """
    tcfg = train_config or TrainConfig()
    out, device, data = prepare_run(out_dir, tcfg, data)

    torch.manual_seed(tcfg.seed)
    if init is not None:
        model = ConditionalGAN(init.config)
        model.load_state(init.state())
    else:
        model = ConditionalGAN(model_config or GANConfig())
    model.to(device)
    frozen = model.freeze(list(freeze or []))
    params_g = [p for p in model.generator.parameters() if p.requires_grad]
    params_d = [p for p in model.discriminator.parameters() if p.requires_grad]
    opt_g = torch.optim.Adam(params_g, lr=tcfg.lr_g, betas=(tcfg.beta1, tcfg.beta2))
    opt_d = torch.optim.Adam(params_d, lr=tcfg.lr_d, betas=(tcfg.beta1, tcfg.beta2))
    data_gen = torch.Generator().manual_seed(tcfg.seed + 1)
    bce = nn.BCEWithLogitsLoss()
    X = torch.from_numpy(data)

    optimizers = {"g": (opt_g, "opt_g"), "d": (opt_d, "opt_d")}
    identity = run_identity(data, tcfg, model, init, frozen)

    def before_epoch() -> None:
        model.generator.train()
        model.discriminator.train()
        keep_frozen_eval(model.generator)
        keep_frozen_eval(model.discriminator)

    def step(batch: torch.Tensor) -> tuple[float, float]:
        cond, real = batch[:, :1], batch[:, 1:]
        z = torch.randn(len(batch), model.config.latent_dim, device=device)
        fake = model.generator(z, cond)
        # discriminator step. Real and generated events go through D in ONE batch so that its
        # BatchNorm layers normalise both with the same statistics (separate batches would hide
        # exactly the mean/width differences D must detect).
        b = len(batch)
        cond2 = torch.cat([cond, cond])
        logits = model.discriminator(torch.cat([real, fake.detach()]), cond2)
        loss_d = bce(logits[:b], torch.ones(b, device=device)) + bce(logits[b:], torch.zeros(b, device=device))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        # generator step (non-saturating), same mixed batch
        logits = model.discriminator(torch.cat([real, fake]), cond2)
        loss_g = bce(logits[b:], torch.ones(b, device=device))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        model.update_ema(tcfg.ema_decay)
        return loss_d.item(), loss_g.item()

    steps = FamilySteps(optimizers=optimizers, base_lr={"g": tcfg.lr_g, "d": tcfg.lr_d}, before_epoch=before_epoch,
                        order=lambda X, gen: torch.randperm(len(X), generator=gen), step=step,
                        loss_names=("d_loss", "g_loss"), lr_column="lr_g",
                        history_columns=("epoch", "d_loss", "g_loss", "mean_MAP", "mean_EMD", "seconds", "lr_g"))
    return fit(model, steps, X, refs, out, tcfg, device, card=card, frozen=frozen, identity=identity,
               data_gen=data_gen, resume=resume, progress=progress, on_epoch=on_epoch)
