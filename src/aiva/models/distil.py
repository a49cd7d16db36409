"""Distillation of a generator into a one-step network (issue #26).

A flow is a deterministic map x = T(z | E'_ν) of a base noise z ~ N(0, I) (zuko's spline
autoregressive transform run backwards, :mod:`aiva.models.flow`). A student network G(z, E'_ν) is
regressed on that map with unlimited fresh pairs (z, E'_ν, T(z | E'_ν)) and a mean-squared (or
Huber) loss, E_ν uniform over the teacher's trained range. This is "knowledge distillation" of a
sampler in the sense of E. Luhman and T. Luhman, "Knowledge distillation in iterative generative
models for improved sampling speed", arXiv:2101.02388 (2021), Sec. 3, eq. (4): a one-step
student trained on the teacher's noise → sample pairs; here the teacher is a flow, so a pair
costs one inverse pass and no ODE.

When the student has a larger latent than the teacher (the GAN generator of
PRD 112 (2025) 013007 has ``latent_dim = 8``, the flow 2), the teacher's z fills the first
coordinates and the rest are extra N(0, 1) noise that the student learns to ignore: the student
stays a sampler with the generation interface of every family (``sampler()``, ``latent_dim``).

The student keeps an exponential moving average of its weights (the GAN's ``ema`` copy), and
that average is what generates.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from aiva.utils import ConfigMixin

log = logging.getLogger(__name__)


@dataclass
class DistilConfig(ConfigMixin):
    """Settings of :func:`distil` (not an architecture: the student's is its own config)."""

    _positive_ints = True

    _limits = {"lr": (("gt", 0.0), None), "lr_final_factor": (("gt", 0.0), 1.0), "ema_decay": (0.0, 1.0),
               "huber_delta": (0.0, None), "refresh": (0.0, 1.0), "weight_decay": (0.0, None),
               "energy_power": (0.0, 5.0)}
    _choices = {"loss": ("mse", "huber", "l1"), "final": ("ema", "generator"), "energy": ("uniform", "log", "power")}

    steps: int = 20_000
    batch: int = 4096
    lr: float = 2e-3
    lr_final_factor: float = 0.01  #: cosine decay of the learning rate to lr × this
    weight_decay: float = 0.0
    pool: int = 2_000_000  #: teacher pairs held at once
    refresh: float = 0.05  #: fraction of the pool replaced by fresh teacher pairs every ``refresh_every`` steps
    refresh_every: int = 100
    ema_decay: float = 0.999
    loss: str = "mse"
    huber_delta: float = 0.02
    seed: int = 1
    #: what generates: the EMA of the weights or the generator's last weights (copied into the EMA slot)
    final: str = "ema"
    #: batches of BatchNorm re-estimation for the generating weights after training (0: none)
    bn_batches: int = 50
    #: how E_ν of the pairs (and of the BatchNorm re-estimation) is drawn over the teacher's range:
    #: uniform, or uniform in ln E_ν (more pairs at low E_ν, where the QE ridge is narrow)
    energy: str = "uniform"
    #: with ``energy = "power"``: E_ν drawn with density ∝ E_ν^−p over the range (p = 0 uniform,
    #: p = 1 uniform in ln E_ν; p > 1 puts still more pairs at low E_ν)
    energy_power: float = 2.0


def draw_energies(n: int, gen: torch.Generator, energy_range: tuple[float, float], how: str = "uniform",
                  power: float = 2.0) -> torch.Tensor:
    """E'_ν (n, 1), the proxy of E_ν drawn uniformly (``how = "uniform"``), uniformly in ln E_ν
    (``"log"``) or with density ∝ E_ν^−``power`` (``"power"``, by inversion of its CDF) over
    ``energy_range`` [GeV]."""
    from aiva.physics.kinematics import PROXY_EMAX, PROXY_EMIN

    lo, hi = energy_range
    u = torch.rand(n, 1, generator=gen)
    if how == "power":
        k, u64 = 1.0 - power, u.double()
        enu = (lo * (hi / lo) ** u64 if abs(k) < 1e-12 else (lo ** k + u64 * (hi ** k - lo ** k)) ** (1.0 / k)).float()
    else:
        enu = lo * (hi / lo) ** u if how == "log" else lo + (hi - lo) * u
    return 2 * (enu - PROXY_EMIN) / (PROXY_EMAX - PROXY_EMIN) - 1


@torch.no_grad()
def teacher_pairs(teacher: nn.Module, n: int, gen: torch.Generator, energy_range: tuple[float, float],
                  student_latent: int, *, chunk: int = 65_536, energy: str = "uniform", power: float = 2.0
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` fresh pairs of the teacher's sampler: z (n, student_latent), E'_ν (n, 1) with E_ν
    drawn by :func:`draw_energies` (``energy``, ``power``) over ``energy_range``, x = teacher(z[:, :k], E'_ν)
    with k the teacher's latent size."""
    k = int(getattr(teacher, "latent_dim", 2))
    if student_latent < k:
        raise ValueError(f"student latent {student_latent} < teacher latent {k}")
    z = torch.randn(n, student_latent, generator=gen)
    e = draw_energies(n, gen, energy_range, energy, power)
    x = torch.empty(n, 2)
    for i in range(0, n, chunk):
        x[i:i + chunk] = teacher(z[i:i + chunk, :k], e[i:i + chunk])
    return z, e, x


def _loss(cfg: DistilConfig, pred: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    if cfg.loss == "mse":
        return torch.mean((pred - x) ** 2)
    if cfg.loss == "l1":
        return torch.mean(torch.abs(pred - x))
    return nn.functional.huber_loss(pred, x, delta=cfg.huber_delta)


def distil(teacher_model, student, cfg: DistilConfig, *, energy_range: tuple[float, float],
           state: dict | None = None, callback: Callable[[int, dict], None] | None = None,
           log_every: int = 500) -> dict:
    """Regress ``student`` (a :class:`aiva.models.gan.ConditionalGAN`: its generator is trained,
    its EMA copy follows) on the sampler of ``teacher_model`` (any family with a deterministic
    ``sampler()``). ``state`` resumes from a previous call's returned state (optimizer, step,
    generator). ``callback(step, info)`` is called every ``log_every`` steps (checkpoints).
    Returns {"step", "loss" (mean of the last ``log_every`` steps), "optimizer", "gen", "seconds"}."""
    teacher = teacher_model.sampler().float().eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    net = student.generator
    latent = int(net.latent_dim)
    gen = torch.Generator().manual_seed(int(cfg.seed))
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step = 0
    if state:
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["gen"])
        step = int(state["step"])
    t0, run, info = time.perf_counter(), 0.0, {"loss": (state or {}).get("loss")}
    if step < cfg.steps:  # a run resumed at its last step draws no pool
        z, e, x = teacher_pairs(teacher, cfg.pool, gen, energy_range, latent, energy=cfg.energy,
                                power=cfg.energy_power)
    n_ref = max(1, int(cfg.refresh * cfg.pool))
    net.train()
    while step < cfg.steps:
        frac = step / max(1, cfg.steps)
        lr = cfg.lr * (cfg.lr_final_factor + (1 - cfg.lr_final_factor) * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        idx = torch.randint(0, cfg.pool, (cfg.batch,), generator=gen)
        loss = _loss(cfg, net(z[idx], e[idx]), x[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        student.update_ema(cfg.ema_decay)
        run += float(loss.detach())
        step += 1
        if step % cfg.refresh_every == 0 and cfg.refresh > 0:
            j = torch.randint(0, cfg.pool, (n_ref,), generator=gen)
            z[j], e[j], x[j] = teacher_pairs(teacher, n_ref, gen, energy_range, latent, energy=cfg.energy,
                                power=cfg.energy_power)
        if step % log_every == 0 or step == cfg.steps:
            info = {"step": step, "loss": run / (log_every if step % log_every == 0 else step % log_every),
                    "lr": lr, "seconds": time.perf_counter() - t0}
            log.info("distil step %d: loss %.3g, lr %.2g, %.0f s", step, info["loss"], lr, info["seconds"])
            run = 0.0
            if callback is not None:
                callback(step, {**info, "optimizer": opt.state_dict(), "gen": gen.get_state()})
    net.eval()
    if cfg.final == "generator":
        student.ema.load_state_dict(net.state_dict())
    if cfg.bn_batches:
        recalibrate_batchnorm(student.ema, cfg.bn_batches, cfg.batch, torch.Generator().manual_seed(cfg.seed + 1),
                              energy_range, cfg.energy, cfg.energy_power)
    return {**info, "step": step, "optimizer": opt.state_dict(), "gen": gen.get_state()}


@torch.no_grad()
def recalibrate_batchnorm(net: nn.Module, batches: int, batch: int, gen: torch.Generator,
                          energy_range: tuple[float, float], energy: str = "uniform", power: float = 2.0) -> None:
    """Re-estimate the BatchNorm running statistics of ``net`` (a generator) for its present
    weights: the mean and variance over ``batches`` batches of inputs z ~ N(0, I), E_ν drawn as
    in training (:func:`draw_energies`, ``energy``) over ``energy_range`` (cumulative averages,
    momentum None). Averaged weights (an EMA) do not match the running statistics collected along
    the way; re-estimating them is the batch-norm update of stochastic weight averaging
    (P. Izmailov et al., "Averaging weights leads to wider optima and better generalization",
    UAI 2018, arXiv:1803.05407, Sec. 3.2)."""
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm1d)]
    if not bns:
        return
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    net.train()
    for _ in range(batches):
        z = torch.randn(batch, int(getattr(net, "latent_dim")), generator=gen)
        net(z, draw_energies(batch, gen, energy_range, energy, power))
    for m, mom in zip(bns, momenta):
        m.momentum = mom
    net.eval()


#: card keys a distilled student takes from its teacher: what it generates and its σ(E) table
_INHERITED = ("target", "probe", "channels", "mode_code", "energy_range_GeV", "xsec")


def distil_to_file(parent, out, *, student: dict | None = None, settings: dict | None = None, name: str | None = None,
                   resume: bool = True, init=None) -> dict:
    """Distil the generator ``parent`` (shipped name or path) into a GAN-architecture student
    (:class:`aiva.models.gan.GANConfig` keys ``student``) with :class:`DistilConfig` keys
    ``settings``; write ``out`` (.safetensors + card). The card takes the teacher's target,
    probe, channels, sample code, energy range and σ(E) table, records the teacher as parent
    (name and weights SHA-256) and the settings under ``training``. A checkpoint
    ``<out>.ckpt.safetensors`` (+ ``.ckpt.json``) every ``settings.checkpoint_every`` steps
    (default 1000) lets an interrupted run resume (``resume``) at that step with the same random stream; its
    pool of teacher pairs is drawn afresh, so a resumed run is not bit-identical to one without
    interruption. Returns
    {"model": path, "loss", "steps", "seconds"}."""
    from pathlib import Path

    import torch as _torch
    from safetensors.torch import load_file

    from aiva.errors import AivaInputError
    from aiva.models.artefact import write_artefact
    from aiva.models.gan import ConditionalGAN, GANConfig
    from aiva.models.io import load_model, resolve, save_model, sha256_file

    settings = dict(settings or {})
    every = int(settings.pop("checkpoint_every", 1000))
    try:
        scfg, dcfg = GANConfig.from_dict(student or {}), DistilConfig.from_dict(settings)
    except (TypeError, ValueError) as exc:
        raise AivaInputError(f"distil: {exc}") from None
    teacher, tcard = load_model(parent)
    out = Path(out).with_suffix(".safetensors")
    ckpt = out.with_name(out.stem + ".ckpt.safetensors")
    _torch.manual_seed(dcfg.seed)
    model = ConditionalGAN(scfg)
    state = None
    init_record = None
    if init is not None:
        start, icard = load_model(init)
        if not isinstance(start, ConditionalGAN) or start.config.to_dict() != scfg.to_dict():
            raise AivaInputError(f"distil: init {init}: not a GAN of the student's architecture "
                                 f"({getattr(start, 'config', None)} against {scfg})")
        model.load_state(start.state())
        model.generator.load_state_dict(model.ema.state_dict())
        init_record = {"name": icard.get("name"), "weights_sha256": sha256_file(resolve(init))}
    if resume and ckpt.exists():
        import json

        meta = json.loads(ckpt.with_suffix(".json").read_text())
        tensors = load_file(str(ckpt))
        model.load_state({k: v for k, v in tensors.items() if not k.startswith("_opt.")})
        state = {"step": meta["step"], "gen": tensors["_opt.gen"], "loss": meta.get("loss"),
                 "optimizer": _unflatten_opt(tensors, meta["optimizer"])}
        log.info("distil: resuming %s at step %d", out, meta["step"])

    def checkpoint(step: int, info: dict) -> None:
        if step % every and step != dcfg.steps:
            return
        tensors = {**model.state(), "_opt.gen": info["gen"]}
        flat, meta = _flatten_opt(info["optimizer"])
        write_artefact(ckpt, {**tensors, **flat}, {"step": step, "loss": info["loss"], "optimizer": meta})

    res = distil(teacher, model, dcfg, energy_range=tuple(tcard.get("energy_range_GeV") or (0.3, 10.0)),
                 state=state, callback=checkpoint)
    card = {k: tcard[k] for k in _INHERITED if k in tcard}
    card.update({"name": name or out.stem,
                 "parent": {"name": tcard.get("name"), "weights_sha256": sha256_file(resolve(parent)),
                            "relation": "teacher of a distillation (aiva.models.distil)"},
                 "training": {"method": "distillation", "distil_config": dcfg.to_dict(), "threads": _torch.get_num_threads(),
                              "final_loss": res.get("loss"), "teacher": tcard.get("name")}})
    if init_record:
        card["training"]["init"] = init_record
    path = save_model(model, out, card)
    return {"model": str(path), "loss": res.get("loss"), "steps": res["step"], "seconds": res.get("seconds")}


def _flatten_opt(sd: dict) -> tuple[dict, dict]:
    """An optimizer state dict as tensors ``_opt.<param>.<key>`` and JSON for the rest (no pickles)."""
    tensors, meta = {}, {"param_groups": sd["param_groups"], "state": {}}
    for pid, st in sd["state"].items():
        meta["state"][str(pid)] = []
        for k, v in st.items():
            tensors[f"_opt.{pid}.{k}"] = v.detach().clone().contiguous().reshape(v.shape)
            meta["state"][str(pid)].append(k)
    return tensors, meta


def _unflatten_opt(tensors: dict, meta: dict) -> dict:
    return {"param_groups": meta["param_groups"],
            "state": {int(pid): {k: tensors[f"_opt.{pid}.{k}"] for k in keys} for pid, keys in meta["state"].items()}}
