"""Training of the conditional normalizing flow: maximum likelihood.

Loss −⟨ln p(E'_μ, θ' | E'_ν)⟩ over mini-batches, Adam with a cosine decay of the learning rate to
``lr_final_factor`` × lr. After every epoch the flow is compared with held-out reference events at
the test energies by MAP (and EMD) exactly as the GAN is, and the epoch with the lowest mean MAP
is kept. Checkpoints (weights, optimizer, RNG states) are written every epoch, so a run resumes
bit for bit; ``history.csv``/``.json`` log the loss and metrics.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from aiva.errors import AivaInputError
from aiva.models.flow import ConditionalFlow, FlowConfig
from aiva.models.io import save_model
from aiva.training.checkpoint import load_checkpoint, load_optimizer, optimizer_tensors, save_checkpoint
from aiva.training.gan import CommonTrainConfig, _write_history, prepare_run, validate


@dataclass
class FlowTrainConfig(CommonTrainConfig):
    epochs: int = 20
    lr: float = 1e-3
    lr_final_factor: float = 0.05


def train_flow(data: np.ndarray, refs: dict[float, np.ndarray], out_dir, *, model_config: FlowConfig | None = None,
               train_config: FlowTrainConfig | None = None, init: ConditionalFlow | None = None,
               freeze: list[str] | None = None, card: dict | None = None, resume: bool = True,
               progress: bool = True) -> dict[str, Any]:
    """Train (or fine-tune, with ``init`` and ``freeze``) a conditional flow on (N, 3) proxies."""
    tcfg = train_config or FlowTrainConfig()
    out, device, data = prepare_run(out_dir, tcfg, data)
    torch.manual_seed(tcfg.seed)
    model = ConditionalFlow(init.config if init is not None else (model_config or FlowConfig()))
    if init is not None:
        model.load_state(init.state())
    frozen = model.freeze(list(freeze or []))
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise AivaInputError(f"every block is frozen ({', '.join(frozen)}): nothing to train")
    opt = torch.optim.Adam(params, lr=tcfg.lr)
    data_gen = torch.Generator().manual_seed(tcfg.seed + 1)
    X = torch.from_numpy(data)
    start, history, best = 0, [], {"score": float("inf"), "epoch": -1}
    ck = load_checkpoint(out / "checkpoint") if resume else None
    if ck is not None:
        tensors, meta = ck
        model.load_state(tensors)
        load_optimizer("f", opt, tensors, meta["opt"])
        torch.set_rng_state(tensors["rng.torch"])
        data_gen.set_state(tensors["rng.data"])
        start, history, best = meta["epoch"], meta["history"], meta["best"]
        if progress:
            print(f"resuming from epoch {start} in {out}")
    steps = len(X) // tcfg.batch_size
    t_start = time.time()
    for epoch in range(start, tcfg.epochs):
        frac = min(epoch / max(tcfg.epochs, 1), 1.0)
        for grp in opt.param_groups:
            grp["lr"] = tcfg.lr * (tcfg.lr_final_factor + (1 - tcfg.lr_final_factor) * 0.5 * (1 + math.cos(math.pi * frac)))
        model.train()
        perm = torch.randperm(len(X), generator=data_gen)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=steps, desc=f"epoch {epoch + 1}/{tcfg.epochs}", unit="step", leave=False)
        total, t0 = 0.0, time.time()
        for s in range(steps):
            b = X[perm[s * tcfg.batch_size:(s + 1) * tcfg.batch_size]].to(device)
            loss = -model.log_prob(b[:, 1:], b[:, :1]).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item()
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        with torch.no_grad():
            val = validate(model.sampler(), refs, seed=tcfg.seed + 1000, device=device) if refs else {}
        rec = {"epoch": epoch + 1, "nll": total / steps, "seconds": time.time() - t0, "lr": opt.param_groups[0]["lr"],
               **({"mean_MAP": val["mean_MAP"], "mean_EMD": val["mean_EMD"], "MAP": val["MAP"], "EMD": val["EMD"]}
                  if val else {})}
        history.append(rec)
        score = val["mean_MAP"] if val else -float(epoch)
        score = score if math.isfinite(score) else math.inf
        if score < best["score"] or best["epoch"] < 0:
            best = {"score": float(score), "epoch": epoch + 1, "validation": val}
            save_model(model, out / "model", {**(card or {}), "metrics": {"validation": val, "epoch": epoch + 1},
                                              "training": {**(card or {}).get("training", {}),
                                                           "train_config": tcfg.to_dict(), "frozen": frozen}})
        tensors = model.state()
        to, mo = optimizer_tensors("f", opt)
        tensors.update(to)
        tensors["rng.torch"] = torch.get_rng_state()
        tensors["rng.data"] = data_gen.get_state()
        save_checkpoint(out / "checkpoint", tensors, {"epoch": epoch + 1, "history": history, "best": best, "opt": mo,
                                                      "train_config": tcfg.to_dict(), "frozen": frozen,
                                                      "model_config": model.config.to_dict()})
        _write_history(out, history, keys=["epoch", "nll", "mean_MAP", "mean_EMD", "seconds", "lr"])
        if progress:
            print(f"epoch {epoch + 1}: NLL {rec['nll']:.4f} ({rec['seconds']:.0f} s)"
                  + (f"  val mean MAP {val['mean_MAP']:.3f}" + ("  *best*" if best["epoch"] == epoch + 1 else "")
                     if val else ""), flush=True)
        if tcfg.max_minutes is not None and (time.time() - t_start) / 60 > tcfg.max_minutes:
            if progress:
                print(f"stopping after {epoch + 1} epochs: time budget of {tcfg.max_minutes} min used")
            break
    return {"best": best, "history": history, "out_dir": str(out), "model": str(out / "model.safetensors"),
            "frozen": frozen, "model_obj": model}
