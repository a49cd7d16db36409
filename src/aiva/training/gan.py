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
import time
from pathlib import Path
from typing import Any
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from aiva.models.blocks import keep_frozen_eval
from aiva.models.gan import ConditionalGAN, GANConfig
from aiva.training.configs import TrainConfig
from aiva.training.loop import (keep_if_best, lr_factor, out_of_time, prepare_run, resume_checkpoint, run_identity,
                                run_validation, save_epoch_checkpoint, validation_record, write_history)
from aiva.training.validation import HeldOut, format_validation

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
    start_epoch, history, best = resume_checkpoint(out, resume, model, optimizers, data_gen, progress, identity)

    n = len(X)
    steps = n // tcfg.batch_size
    t_start, cpu_start = time.time(), time.process_time()
    bar = None
    for epoch in range(start_epoch, tcfg.epochs):
        cpu_epoch = time.process_time()
        for opt, lr in ((opt_g, tcfg.lr_g), (opt_d, tcfg.lr_d)):
            for grp in opt.param_groups:
                grp["lr"] = lr * lr_factor(tcfg, epoch, cpu_start)
        model.generator.train()
        model.discriminator.train()
        keep_frozen_eval(model.generator)
        keep_frozen_eval(model.discriminator)
        perm = torch.randperm(n, generator=data_gen)
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=steps, desc=f"epoch {epoch + 1}/{tcfg.epochs}", unit="step", leave=False)
        sum_d = sum_g = 0.0
        t0 = time.time()
        for s in range(steps):
            batch = X[perm[s * tcfg.batch_size:(s + 1) * tcfg.batch_size]].to(device)
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
            sum_d += loss_d.item()
            sum_g += loss_g.item()
            if bar is not None:
                bar.update(1)
                if s % 100 == 0:
                    bar.set_postfix(d=f"{sum_d / (s + 1):.3f}", g=f"{sum_g / (s + 1):.3f}")
        if bar is not None:
            bar.close()
        val = run_validation(model, refs, tcfg.seed + 1000, device)
        rec = {"epoch": epoch + 1, "d_loss": sum_d / steps, "g_loss": sum_g / steps, "seconds": time.time() - t0,
               "lr_g": opt_g.param_groups[0]["lr"], **validation_record(val)}
        history.append(rec)
        best = keep_if_best(model, out, card, tcfg, val, epoch, best, frozen)
        save_epoch_checkpoint(out, model.state(), optimizers, data_gen,
                              {"epoch": epoch + 1, "history": history, "best": best, "train_config": tcfg.to_dict(),
                               "model_config": model.config.to_dict(), "frozen": frozen, "identity": identity})
        write_history(out, history)
        if progress:
            msg = f"epoch {epoch + 1}: D {rec['d_loss']:.4f} G {rec['g_loss']:.4f} ({rec['seconds']:.0f} s)"
            if val:
                msg += ("  " + (f"val mean MAP {val['mean_MAP']:.3f} EMD {val['mean_EMD']:.4f}" if "mean_MAP" in val
                                else format_validation(val)) + ("  *best*" if best["epoch"] == epoch + 1 else ""))
            log.info(msg)
        if on_epoch:
            on_epoch(epoch + 1, rec)
        if out_of_time(tcfg, t_start, epoch, progress, cpu_start, time.process_time() - cpu_epoch):
            break
    return {"best": best, "history": history, "out_dir": str(out), "model": str(out / "model.safetensors"),
            "frozen": frozen, "model_obj": model}
