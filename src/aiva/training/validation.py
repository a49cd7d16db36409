"""Checkpoint selection on events held out from a user's file (data not from aiva's Monte Carlo).

Reference-MC data are validated on fresh MC events at the test energies
(:func:`aiva.training.loop.validate`). A user's file has no such events, and fixed-energy windows
of a continuous spectrum hold too few events to select on, so a held-out part of the file itself
(:data:`HOLDOUT_FRACTION`, at most :data:`HOLDOUT_MAX` events) is used with a figure that any file
size supports:

* families with a likelihood (flow, mixtures of flows): the mean held-out negative log-likelihood
  NLL = −(1/n) Σ ln p(E'_μ, θ' | E'_ν) [nats, in the proxy variables], lower is better. Noise:
  the standard error s/√n of the mean (s: standard deviation of −ln p over the events). Two epochs
  are scored on the same events, so their difference fluctuates less than that (paired): the
  noise figure is a conservative bound.
* GAN and flow matching: MAP-3D ([GAN25] Sec. IV: mean absolute pull of 3-D histograms in
  (E'_ν, E'_μ, θ')). The held-out set is split in two halves A and B (seeded); each half is
  compared with one model event per held-out event at that event's own E_ν (G_A, G_B), and the
  figure is ½[MAP-3D(A, G_A) + MAP-3D(B, G_B)], with b = clip(⌊(n/20)^{1/3}⌋, 4, 20) bins per axis
  (about 10 events of a half per bin on average). Its floor is MAP-3D(A, B): the same statistic for
  two samples of one distribution with the same counts (√(2/π) = 0.80 when counts are Gaussian,
  lower for sparse bins). Noise: the standard error s/√B of each mean over the B bins filled in
  both histograms (s: standard deviation of |pull| over those bins), combined for the average.
  Flows record this figure too, beside their NLL.

[GAN25] J. L. Bonilla, K. M. Graczyk et al., Phys. Rev. D 112 (2025) 013007, arXiv:2502.20244.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from aiva.metrics.core import pulls

#: Fraction of a user's file held out for checkpoint selection, and its largest size (events):
#: 10⁵ events measure the NLL to ≈ 0.003 nats, finer than any epoch-to-epoch change that matters.
HOLDOUT_FRACTION = 0.1
HOLDOUT_MAX = 100_000
#: Below this many held-out events a warning says the validation is too small to select on.
HOLDOUT_MIN = 1000


def map3d_bins(n: int) -> int:
    """Bins per axis of the held-out MAP-3D of ``n`` events: about 10 events of each half per bin
    on average, 4 to 20."""
    return int(min(max(int((n / 20) ** (1 / 3)), 4), 20))


def _hist3d(p: np.ndarray, bins: int) -> np.ndarray:
    return np.histogramdd(p, bins=bins, range=[(-1.0, 1.0)] * 3)[0]


def map3d_with_noise(h1: np.ndarray, h2: np.ndarray) -> tuple[float, float]:
    """(MAP-3D, its standard error s/√B) of two equal-size 3-D histograms (B bins filled in both)."""
    filled = (h1 > 0) & (h2 > 0)
    if filled.sum() < 2:
        return math.inf, math.inf
    a = np.abs(pulls(h1, h2)[filled])
    return float(a.mean()), float(a.std(ddof=1) / math.sqrt(len(a)))


@dataclass
class HeldOut:
    """Held-out events (n, 3) proxies (E'_ν, E'_μ, θ') of the training file; :meth:`evaluate`
    scores a model on them. ``len()`` is the number of events (an empty set validates nothing)."""

    proxies: np.ndarray
    #: per-event ln p of the model training starts from (a fine-tune's parent): each epoch's
    #: gain over it is then a paired difference with its own, much smaller, standard error
    reference_lp: np.ndarray | None = field(default=None, repr=False)
    bins: int = field(init=False)
    floor: float = field(init=False)
    halves: tuple = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.proxies = np.asarray(self.proxies, dtype=np.float64)
        n = len(self.proxies)
        self.bins = map3d_bins(n)
        perm = np.random.default_rng(0).permutation(n)
        self.halves = (np.sort(perm[: n // 2]), np.sort(perm[n // 2: 2 * (n // 2)]))
        self.floor = map3d_with_noise(*(_hist3d(self.proxies[h], self.bins) for h in self.halves))[0]

    def __len__(self) -> int:
        return len(self.proxies)

    def describe(self) -> dict[str, Any]:
        return {"kind": "held-out events of the training file", "n_events": len(self), "fraction": HOLDOUT_FRACTION,
                "max_events": HOLDOUT_MAX, "MAP3D_bins": self.bins, "MAP3D_floor": self.floor}

    def map3d(self, model, seed: int, device) -> tuple[float, float]:
        """½[MAP-3D(A, G_A) + MAP-3D(B, G_B)] and its noise; G: model events at the held-out energies."""
        gen = sample_proxies(model.sampler(), self.proxies[:, 0], seed, device=device)
        g3 = np.column_stack([self.proxies[:, 0], np.where(np.isfinite(gen), gen, 2.0)])  # non-finite: no bin
        res = [map3d_with_noise(_hist3d(self.proxies[h], self.bins), _hist3d(g3[h], self.bins)) for h in self.halves]
        return 0.5 * (res[0][0] + res[1][0]), 0.5 * math.hypot(res[0][1], res[1][1])

    @torch.no_grad()
    def log_probs(self, model, device, batch: int = 65_536) -> np.ndarray:
        """ln p(E'_μ, θ' | E'_ν) of every held-out event under ``model``."""
        was_training = model.training
        model.eval()
        x = torch.as_tensor(self.proxies, dtype=torch.float32)
        lp = np.concatenate([model.log_prob(x[i:i + batch, 1:].to(device), x[i:i + batch, :1].to(device))
                             .double().cpu().numpy() for i in range(0, len(x), batch)])
        model.train(was_training)
        return lp

    def set_reference(self, model, device) -> None:
        """Remember the starting model's per-event ln p (for the paired gain of a fine-tune)."""
        if getattr(model, "has_likelihood", False) and len(self):
            self.reference_lp = self.log_probs(model, device)

    def nll(self, model, device, batch: int = 65_536) -> tuple[float, float]:
        """(mean −ln p, its standard error) of the held-out events under ``model``."""
        return self._nll(self.log_probs(model, device, batch))[:2]

    def _nll(self, lp: np.ndarray) -> tuple[float, float, dict]:
        if not np.all(np.isfinite(lp)):
            return math.inf, math.inf, {}
        n = len(lp)
        nll, se = float(-lp.mean()), float(lp.std(ddof=1) / math.sqrt(n)) if n > 1 else math.inf
        paired: dict = {}
        if self.reference_lp is not None and n > 1:
            d = lp - self.reference_lp  # same events: the paired difference to the starting model
            paired = {"gain_over_start": float(d.mean()), "gain_over_start_noise": float(d.std(ddof=1) / math.sqrt(n))}
        return nll, se, paired

    def evaluate(self, model, seed: int, device) -> dict[str, Any]:
        """The selection figure of ``model`` (``score``, lower is better) with its ``noise``."""
        m3, m3_noise = self.map3d(model, seed, device)
        res: dict[str, Any] = {"n_events": len(self), "MAP3D": m3, "MAP3D_noise": m3_noise,
                               "MAP3D_floor": self.floor, "MAP3D_bins": self.bins}
        if getattr(model, "has_likelihood", False):
            nll, se, paired = self._nll(self.log_probs(model, device))
            res.update(figure="NLL", score=nll, noise=se, **paired)
        else:
            res.update(figure="MAP-3D", score=m3, noise=m3_noise)
        return res


def format_validation(val: dict) -> str:
    """One-line summary of a validation result (fixed-energy MAP or held-out figure)."""
    if not val:
        return "no validation"
    if "figure" in val:
        s = f"held-out {val['figure']} {val['score']:.4f} ± {val['noise']:.4f} ({val['n_events']} events)"
        return s + (f", MAP-3D {val['MAP3D']:.3f}" if val["figure"] != "MAP-3D" else f", floor {val['MAP3D_floor']:.3f}")
    return f"mean validation MAP {val['mean_MAP']:.3f}"


def selection_summary(history: list[dict], best: dict) -> dict[str, Any]:
    """How well the held-out figure selected the checkpoint: the gain of the selected epoch over
    the first one in units of the figure's noise, the epochs within one noise of the best, and
    ``noise_limited`` (gain below 2 noise: the validation cannot tell the epochs apart).

    For a fine-tune with a likelihood the figure of merit is the paired gain of the selected
    epoch over the starting (parent) model on the same held-out events, mean(ln p − ln p₀), with
    its paired standard error sd(ln p − ln p₀)/√n: the unpaired s/√n of two NLLs on the same
    events overstates the noise of their difference many times over."""
    recs = [h for h in history if "val_score" in h]
    val = best.get("validation") or {}
    if not recs or "figure" not in val:
        return {}
    noise, score = float(val["noise"]), float(best["score"])
    gain = float(recs[0]["val_score"]) - score
    out: dict[str, Any] = {
        "figure": val["figure"], "selected_epoch": best["epoch"], "score": score, "noise": noise,
        "n_events": val["n_events"], "epochs_validated": len(recs), "first_epoch_score": float(recs[0]["val_score"]),
        "gain_over_first_epoch": gain, "gain_in_noise_units": gain / noise if noise > 0 else math.inf,
        "epochs_within_noise_of_best": [h["epoch"] for h in recs if h["val_score"] - score <= noise],
        "noise_limited": bool(len(recs) < 2 or not gain >= 2 * noise)}
    if "gain_over_start" in val:
        g, gn = float(val["gain_over_start"]), float(val["gain_over_start_noise"])
        out.update(gain_over_start=g, gain_over_start_noise=gn,
                   gain_over_start_in_noise_units=g / gn if gn > 0 else math.inf,
                   noise_limited=bool(not g >= 2 * gn))
    if val["figure"] == "MAP-3D":
        out["at_floor"] = bool(score - val["MAP3D_floor"] < 2 * noise)
    return out


def selection_warnings(summary: dict) -> list[str]:
    """Warnings for a held-out selection that cannot discriminate (a held-out set below
    :data:`HOLDOUT_MIN` events is warned about when it is made)."""
    w: list[str] = []
    if not summary:
        return w
    if summary["epochs_validated"] < 2:
        w.append("one validated epoch: nothing was selected")
    elif summary["noise_limited"] and "gain_over_start" in summary:
        w.append(f"selection is noise-limited: the best epoch beats the starting model by "
                 f"{summary['gain_over_start']:.3g} nats/event, less than twice its paired noise "
                 f"{summary['gain_over_start_noise']:.3g}")
    elif summary["noise_limited"]:
        w.append(f"selection is noise-limited: the best epoch beats the first by {summary['gain_over_first_epoch']:.3g}, "
                 f"less than twice the figure's noise {summary['noise']:.3g}")
    if summary.get("at_floor"):
        w.append("the held-out MAP-3D is at its statistical floor: the model cannot be told from the data at this size")
    return w


@torch.no_grad()
def sample_proxies(net: nn.Module, enu_p: np.ndarray, seed: int, batch: int = 16_384, device="cpu",
                   dtype=torch.float32) -> np.ndarray:
    """(E'_μ, θ') from a generator for conditions ``enu_p``; deterministic for a seed."""
    net.eval()
    g = torch.Generator(device="cpu").manual_seed(seed)
    out = np.empty((len(enu_p), 2), dtype=np.float64)
    latent = int(getattr(net, "latent_dim"))
    for i in range(0, len(enu_p), batch):
        e = torch.as_tensor(enu_p[i:i + batch], dtype=dtype).reshape(-1, 1)
        z = torch.randn(len(e), latent, generator=g, dtype=dtype)
        out[i:i + batch] = net(z.to(device), e.to(device)).double().cpu().numpy()
    return out
