"""The training kernel shared by every family: run set-up, validation and checkpoint selection,
the learning-rate schedule, budgets, resumable checkpoints that check what they resume, history.

Checkpoint selection as in the GAN papers (PRD 112 (2025) 013007): after each epoch the model is
compared with reference events at fixed test energies (lowest mean MAP wins, EMD recorded), or on
a user's file with its held-out events (:mod:`aiva.training.validation`). Every epoch writes a
resumable checkpoint (:mod:`aiva.training.checkpoint`), so a resumed run continues bit for bit.
"""
from __future__ import annotations

import logging
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from aiva.errors import AivaInputError
from aiva.metrics.core import emd, histogram2d, mean_absolute_pull
from aiva.models.io import load_model_state, save_model
from aiva.physics.kinematics import enu_to_proxy
from aiva.training import distributed
from aiva.training.checkpoint import load_checkpoint, load_optimizer, optimizer_tensors, save_checkpoint
from aiva.training.configs import CommonTrainConfig, pick_device
from aiva.training.validation import HeldOut, format_validation, sample_proxies
from aiva.utils import atomic_write_text

log = logging.getLogger(__name__)



def validate(net: nn.Module, refs: dict[float, np.ndarray], seed: int, device) -> dict[str, Any]:
    """MAP (50×50, both counts > 0) and mean marginal EMD per test energy; lower is better."""
    res: dict[str, Any] = {"MAP": {}, "EMD": {}}
    for k, (E, ref) in enumerate(sorted(refs.items())):
        gen = sample_proxies(net, np.full(len(ref), enu_to_proxy(E)), seed + k, device=device)
        h1 = histogram2d(ref[:, 0], ref[:, 1])
        h2 = histogram2d(gen[:, 0], gen[:, 1])
        res["MAP"][str(E)] = mean_absolute_pull(h1, h2)
        ok = np.all(np.isfinite(gen), axis=1)
        res["EMD"][str(E)] = 0.5 * (emd(ref[:, 0], gen[ok, 0]) + emd(ref[:, 1], gen[ok, 1]))
    res["mean_MAP"] = float(np.mean(list(res["MAP"].values())))
    res["mean_EMD"] = float(np.mean(list(res["EMD"].values())))
    return res


def run_validation(model, refs: dict[float, np.ndarray] | HeldOut | None, seed: int, device) -> dict[str, Any]:
    """Validate ``model``: on fixed-energy references ``{E_ν: (n, 2)}`` (:func:`validate` of its
    sampler), or on the held-out events of :class:`aiva.training.validation.HeldOut`; ``{}`` without."""
    if refs is None or len(refs) == 0:
        return {}
    if isinstance(refs, HeldOut):
        return refs.evaluate(model, seed, device)
    return validate(model.sampler(), refs, seed=seed, device=device)


def validation_record(val: dict) -> dict[str, Any]:
    """The history columns of a validation result."""
    if not val:
        return {}
    if "figure" in val:
        return {"val_figure": val["figure"], "val_score": val["score"], "val_noise": val["noise"],
                "val_MAP3D": val["MAP3D"]}
    return {"mean_MAP": val["mean_MAP"], "mean_EMD": val["mean_EMD"], "MAP": val["MAP"], "EMD": val["EMD"]}


def lr_factor(cfg, epoch: int, cpu_start: float | None = None) -> float:
    """Cosine decay from 1 to ``cfg.lr_final_factor`` over ``cfg.epochs`` epochs, or over the
    CPU-time budget ``cfg.cpu_minutes`` (counted from ``cpu_start``, a ``time.process_time()``)."""
    if cfg.cpu_minutes is not None and cpu_start is not None:
        t = min((time.process_time() - cpu_start) / 60 / cfg.cpu_minutes, 1.0)
    else:
        t = min(epoch / max(cfg.epochs, 1), 1.0)
    return cfg.lr_final_factor + (1 - cfg.lr_final_factor) * 0.5 * (1 + math.cos(math.pi * t))


def prepare_run(out_dir, tcfg: CommonTrainConfig, data) -> tuple[Path, torch.device, np.ndarray]:
    """Output folder, threads, device, and the (N, 3) float32 proxies checked for shape and finiteness."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if tcfg.threads:
        torch.set_num_threads(tcfg.threads)
    data = np.asarray(data, dtype=np.float32)
    if data.ndim != 2 or data.shape[1] != 3 or len(data) < tcfg.batch_size:
        raise AivaInputError(f"training data must be (N >= batch_size={tcfg.batch_size}, 3) proxies, got {data.shape}")
    if not np.all(np.isfinite(data)):
        raise AivaInputError("training data contain non-finite proxies")
    return out, distributed.device_for(pick_device(tcfg.device)), data


#: training settings that may change when a run is resumed (a longer run, another budget or machine)
RESUMABLE_OVERRIDES = ("epochs", "max_minutes", "cpu_minutes", "threads", "device")


def run_identity(data: np.ndarray, tcfg: CommonTrainConfig, model, init=None, frozen=()) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: the training data (SHA-256 of the proxies),
    the seed and settings (less :data:`RESUMABLE_OVERRIDES`), the architecture, the parent's
    weights and the frozen blocks."""
    import hashlib

    def digest(tensors) -> str:
        h = hashlib.sha256()
        for k in sorted(tensors):
            h.update(k.encode())
            h.update(tensors[k].detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()

    return {"data_sha256": hashlib.sha256(np.ascontiguousarray(data).tobytes()).hexdigest(),
            "n_events": int(len(data)), "seed": int(tcfg.seed),
            "train_config": {k: v for k, v in tcfg.to_dict().items() if k not in RESUMABLE_OVERRIDES},
            "family": getattr(model, "family", "gan"), "model_config": model.config.to_dict(),
            "parent_sha256": digest(init.state()) if init is not None else None, "frozen": sorted(frozen)}


def _check_identity(out: Path, meta: dict, identity: dict | None) -> None:
    old = meta.get("identity")
    if identity is None or old is None:  # checkpoints written before identities were recorded
        return
    old = json.loads(json.dumps(old))
    new = json.loads(json.dumps(identity, default=list))
    for key in new:
        if old.get(key) != new.get(key):
            what = {"data_sha256": "the training data differ", "n_events": "the number of training events differs",
                    "seed": f"the seed differs ({old.get('seed')} then, {new.get('seed')} now)",
                    "parent_sha256": "the parent model differs", "frozen": "the frozen blocks differ",
                    "family": "the family differs", "model_config": "the architecture differs"}.get(key)
            if key == "train_config":
                k = next(k for k in {**old[key], **new[key]} if old[key].get(k) != new[key].get(k))
                what = f"training setting '{k}' differs ({old[key].get(k)!r} then, {new[key].get(k)!r} now)"
            raise AivaInputError(f"{out}: the checkpoint there is of another run ({what}); refusing to resume it: "
                                 "choose another --out, or start afresh with --no-resume")


def resume_checkpoint(out: Path, resume: bool, model, optimizers: dict, data_gen: torch.Generator,
                      progress: bool, identity: dict | None = None) -> tuple[int, list, dict]:
    """Restore model, optimizers (``{name: (optimizer, meta key)}``) and RNG states from
    ``out/checkpoint`` if present, after checking that it is of the same run (``identity``, see
    :func:`run_identity`); returns (start epoch, history, best)."""
    ck = load_checkpoint(out / "checkpoint") if resume else None
    if ck is None:
        return 0, [], {"score": float("inf"), "epoch": -1}
    tensors, meta = ck
    _check_identity(out, meta, identity)
    load_model_state(model, tensors, str(out / "checkpoint.safetensors"))
    for name, (opt, key) in optimizers.items():
        load_optimizer(name, opt, tensors, meta[key])
    torch.set_rng_state(tensors["rng.torch"])
    data_gen.set_state(tensors["rng.data"])
    if progress:
        log.info(f"resuming from epoch {meta['epoch']} in {out}")
    return meta["epoch"], meta["history"], meta["best"]


def keep_if_best(model, out: Path, card: dict | None, tcfg: CommonTrainConfig, val: dict, epoch: int, best: dict,
                 frozen: list[str]) -> dict:
    """Checkpoint selection: the lowest mean (or, with ``select_by = "max"``, worst-energy)
    validation MAP wins, or on held-out events the lowest held-out figure (``val["score"]``);
    without validation the last epoch. The winner is written as ``out/model``. Returns the
    (possibly new) best record."""
    if not val:
        score = -float(epoch)
    elif "score" in val:
        score = val["score"]
    else:
        score = val["mean_MAP"] if tcfg.select_by == "mean" else max(val["MAP"].values())
    if not math.isfinite(score):  # no bin filled by both samples at some energy: the worst score
        score = math.inf
    if score < best["score"] or best["epoch"] < 0:
        best = {"score": float(score), "epoch": epoch + 1, "validation": val}
        ctx = distributed.current()
        if ctx is None or ctx.is_main:
            tc = {**tcfg.to_dict(), **(ctx.record() if ctx else {})}
            save_model(model, out / "model", {**(card or {}), "metrics": {"validation": val, "epoch": epoch + 1},
                                              "training": {**(card or {}).get("training", {}),
                                                           "train_config": tc, "frozen": frozen}})
    return best


def save_epoch_checkpoint(out: Path, tensors: dict, optimizers: dict, data_gen: torch.Generator, meta: dict) -> None:
    """Write the resumable checkpoint: model ``tensors``, optimizers ``{name: (optimizer, meta key)}``,
    RNG states, and ``meta`` (epoch, history, best, configs)."""
    tensors = dict(tensors)
    for name, (opt, key) in optimizers.items():
        t, m = optimizer_tensors(name, opt)
        tensors.update(t)
        meta[key] = m
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.data"] = data_gen.get_state()
    save_checkpoint(out / "checkpoint", tensors, meta)


def out_of_time(tcfg: CommonTrainConfig, t_start: float, epoch: int, progress: bool, cpu_start: float | None = None,
                epoch_cpu: float = 0.0) -> bool:
    """Stop when the wall-clock budget ``max_minutes`` is used, or when another epoch costing as
    much CPU time as the last one would overrun the CPU budget ``cpu_minutes``."""
    if tcfg.max_minutes is not None and (time.time() - t_start) / 60 > tcfg.max_minutes:
        if progress:
            log.info(f"stopping after {epoch + 1} epochs: time budget of {tcfg.max_minutes} min used")
        return True
    if tcfg.cpu_minutes is not None and cpu_start is not None:
        used = time.process_time() - cpu_start
        if used + epoch_cpu > 60 * tcfg.cpu_minutes:
            if progress:
                log.info(f"stopping after {epoch + 1} epochs: {used / 60:.1f} of {tcfg.cpu_minutes} CPU minutes used")
            return True
    return False


def write_history(out: Path, history: list[dict], keys=("epoch", "d_loss", "g_loss", "mean_MAP", "mean_EMD",
                                                         "seconds", "lr_g")) -> None:
    """``history.json`` and ``history.csv`` (held-out validation columns when there are any)."""
    atomic_write_text(out / "history.json", json.dumps(history, indent=1) + "\n")
    if any("val_score" in h for h in history):
        keys = [k for k in keys if k not in ("mean_MAP", "mean_EMD")] + ["val_figure", "val_score", "val_noise",
                                                                         "val_MAP3D"]
    lines = [",".join(keys)] + [",".join(f"{h.get(k, '')}" for k in keys) for h in history]
    atomic_write_text(out / "history.csv", "\n".join(lines) + "\n")


@dataclass
class FamilySteps:
    """What a family supplies to the one training loop :func:`fit`: its optimisers (``{name:
    (optimizer, checkpoint key)}``) with their base learning rates, the per-epoch set-up (train
    modes), the order of the epoch's events, one mini-batch step returning its losses, and the
    names of the losses, of the learning-rate column and of the history's CSV columns."""

    optimizers: dict[str, tuple[Any, str]]  #: name -> (torch optimizer, checkpoint key)
    base_lr: dict[str, float]
    before_epoch: Callable[[], None]
    order: Callable[[torch.Tensor, torch.Generator], torch.Tensor]
    step: Callable[[torch.Tensor], tuple[float, ...]]
    loss_names: tuple[str, ...]
    lr_column: str
    history_columns: tuple[str, ...]


def fit(model, steps: FamilySteps, X: torch.Tensor, refs, out: Path, tcfg: CommonTrainConfig, device, *,
        card: dict | None, frozen: list[str], identity: dict, data_gen: torch.Generator, resume: bool = True,
        progress: bool = True, on_epoch: Callable[[int, dict], None] | None = None,
        on_step: Callable[[int, tuple[float, ...]], None] | None = None) -> dict[str, Any]:
    """The training loop of every family: per epoch the cosine learning-rate factor, the family's
    mini-batch steps over the epoch's event order, validation, checkpoint selection, a resumable
    checkpoint (resume checks :func:`run_identity`), the history, and the time/CPU budgets.
    ``on_step(global step, losses)`` is called after every mini-batch step.

    In a data-parallel run (:mod:`aiva.training.distributed`) ``tcfg.batch_size`` is the global
    batch: each rank steps on its shard of it, the losses are averaged over the ranks, and only
    rank 0 validates and writes (checkpoint, model, history, log)."""
    ctx = distributed.current()
    main = ctx is None or ctx.is_main
    progress = progress and main
    start, history, best = resume_checkpoint(out, resume, model, steps.optimizers, data_gen, progress, identity)
    n_steps = len(X) // tcfg.batch_size
    t_start, cpu_start = time.time(), time.process_time()
    first_opt = next(iter(steps.optimizers.values()))[0]
    for epoch in range(start, tcfg.epochs):
        cpu_epoch = time.process_time()
        factor = lr_factor(tcfg, epoch, cpu_start)
        if ctx is not None:  # a CPU-time schedule follows rank 0's clock, so every rank takes the same step
            factor = ctx.from_main(factor)
        for name, (opt, _) in steps.optimizers.items():
            for grp in opt.param_groups:
                grp["lr"] = steps.base_lr[name] * factor
        steps.before_epoch()
        perm = steps.order(X, data_gen)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=n_steps, desc=f"epoch {epoch + 1}/{tcfg.epochs}", unit="step", leave=False)
        sums = [0.0] * len(steps.loss_names)
        t0 = time.time()
        for s in range(n_steps):
            idx = perm[s * tcfg.batch_size:(s + 1) * tcfg.batch_size]
            losses = steps.step(X[idx if ctx is None else ctx.shard(idx)].to(device))
            if ctx is not None:
                losses = ctx.mean(losses)
            for k, v in enumerate(losses):
                sums[k] += v
            if on_step is not None:
                on_step(epoch * n_steps + s + 1, losses)
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        with torch.no_grad():
            val = run_validation(model, refs, tcfg.seed + 1000, device) if main else {}
        rec = {"epoch": epoch + 1, **{k: v / n_steps for k, v in zip(steps.loss_names, sums)},
               "seconds": time.time() - t0, steps.lr_column: first_opt.param_groups[0]["lr"], **validation_record(val)}
        history.append(rec)
        best = keep_if_best(model, out, card, tcfg, val, epoch, best, frozen)
        if main:
            save_epoch_checkpoint(out, model.state(), steps.optimizers, data_gen,
                                  {"epoch": epoch + 1, "history": history, "best": best,
                                   "train_config": tcfg.to_dict(), "model_config": model.config.to_dict(),
                                   "frozen": frozen, "identity": identity,
                                   **({"world_size": ctx.world_size} if ctx else {})})
            write_history(out, history, keys=steps.history_columns)
        if progress:
            loss_text = " ".join(f"{k} {rec[k]:.4f}" for k in steps.loss_names)
            msg = f"epoch {epoch + 1}: {loss_text} ({rec['seconds']:.0f} s)"
            if val:
                msg += "  " + (f"val mean MAP {val['mean_MAP']:.3f} EMD {val['mean_EMD']:.4f}" if "mean_MAP" in val
                               else format_validation(val)) + ("  *best*" if best["epoch"] == epoch + 1 else "")
            log.info(msg)
        if on_epoch:
            on_epoch(epoch + 1, rec)
        stop = out_of_time(tcfg, t_start, epoch, progress, cpu_start, time.process_time() - cpu_epoch)
        if ctx is not None:
            stop = ctx.agree(stop)  # rank 0's clock decides, so every rank stops after the same epoch
        if stop:
            break
    return {"best": best, "history": history, "out_dir": str(out), "model": str(out / "model.safetensors"),
            "frozen": frozen, "model_obj": model}
