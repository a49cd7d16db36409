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

import csv
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from aiva.errors import AivaInputError
from aiva.metrics.core import emd, histogram2d, mean_absolute_pull
from aiva.models.blocks import freeze as freeze_blocks
from aiva.models.blocks import keep_frozen_eval
from aiva.models.gan import ConditionalGAN, GANConfig
from aiva.models.io import load_model_state, save_model
from aiva.physics.kinematics import PROXY_EMAX, PROXY_EMIN
from aiva.training.checkpoint import load_checkpoint, load_optimizer, optimizer_tensors, save_checkpoint
from aiva.training.validation import HeldOut, format_validation
from aiva.utils import ConfigMixin, atomic_write_text

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


def config_classes(family: str):
    """(model config class, training config class) of a generative family."""
    from aiva.models.io import FAMILIES

    if family not in FAMILIES:
        raise AivaInputError(f"unknown family {family!r} (available: {', '.join(FAMILIES)})")
    if family in ("flow", "cfm"):
        from aiva.training.direct import CFMTrainConfig, FlowTrainConfig

        return FAMILIES[family][1], (FlowTrainConfig if family == "flow" else CFMTrainConfig)
    return FAMILIES[family][1], TrainConfig


def load_toml_config(path, family: str = "gan", tables: tuple[str, ...] = ("model", "training")):
    """(model config, training config) of a family from a TOML file's [model] and [training];
    every key is checked for type and range, and unknown tables or top-level keys are refused."""
    import tomllib

    mc, tc = config_classes(family)
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise AivaInputError(f"{path}: not a TOML text file (not UTF-8)") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise AivaInputError(f"{path}: cannot read TOML config ({' '.join(str(exc).split())})") from None
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


def enu_to_proxy(E) -> np.ndarray:
    return 2 * (np.asarray(E, dtype=np.float64) - PROXY_EMIN) / (PROXY_EMAX - PROXY_EMIN) - 1


@torch.no_grad()
def sample_proxies(net: nn.Module, enu_p: np.ndarray, seed: int, batch: int = 16_384, device="cpu",
                   dtype=torch.float32) -> np.ndarray:
    """(E'_μ, θ') from a generator for conditions ``enu_p``; deterministic for a seed."""
    net.eval()
    g = torch.Generator(device="cpu").manual_seed(seed)
    out = np.empty((len(enu_p), 2), dtype=np.float64)
    latent = net.latent_dim
    for i in range(0, len(enu_p), batch):
        e = torch.as_tensor(enu_p[i:i + batch], dtype=dtype).reshape(-1, 1)
        z = torch.randn(len(e), latent, generator=g, dtype=dtype)
        out[i:i + batch] = net(z.to(device), e.to(device)).double().cpu().numpy()
    return out


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
    return out, pick_device(tcfg.device), data


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
        print(f"resuming from epoch {meta['epoch']} in {out}")
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
        save_model(model, out / "model", {**(card or {}), "metrics": {"validation": val, "epoch": epoch + 1},
                                          "training": {**(card or {}).get("training", {}),
                                                       "train_config": tcfg.to_dict(), "frozen": frozen}})
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
            print(f"stopping after {epoch + 1} epochs: time budget of {tcfg.max_minutes} min used")
        return True
    if tcfg.cpu_minutes is not None and cpu_start is not None:
        used = time.process_time() - cpu_start
        if used + epoch_cpu > 60 * tcfg.cpu_minutes:
            if progress:
                print(f"stopping after {epoch + 1} epochs: {used / 60:.1f} of {tcfg.cpu_minutes} CPU minutes used")
            return True
    return False


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
    frozen: list[str] = []
    for name in freeze or []:
        net = model.generator if name.startswith("g") else model.discriminator
        frozen += freeze_blocks(net, [name])
        if name.startswith("g"):
            freeze_blocks(model.ema, [name])
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
            print(msg, flush=True)
        if on_epoch:
            on_epoch(epoch + 1, rec)
        if out_of_time(tcfg, t_start, epoch, progress, cpu_start, time.process_time() - cpu_epoch):
            break
    return {"best": best, "history": history, "out_dir": str(out), "model": str(out / "model.safetensors"),
            "frozen": frozen, "model_obj": model}


def write_history(out: Path, history: list[dict], keys=("epoch", "d_loss", "g_loss", "mean_MAP", "mean_EMD",
                                                         "seconds", "lr_g")) -> None:
    """``history.json`` and ``history.csv`` (held-out validation columns when there are any)."""
    atomic_write_text(out / "history.json", json.dumps(history, indent=1) + "\n")
    if any("val_score" in h for h in history):
        keys = [k for k in keys if k not in ("mean_MAP", "mean_EMD")] + ["val_figure", "val_score", "val_noise",
                                                                         "val_MAP3D"]
    lines = [",".join(keys)] + [",".join(f"{h.get(k, '')}" for k in keys) for h in history]
    atomic_write_text(out / "history.csv", "\n".join(lines) + "\n")
