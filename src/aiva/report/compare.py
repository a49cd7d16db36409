"""Comparison figures: (E'_μ, θ') histograms side by side with the pull map; W and Q² spectra
with ratio panels."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from aiva.metrics.core import histogram2d, pulls
from aiva.report.plots import _mpl
from aiva.utils import atomic_path


def _save(fig, path):
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=70)
    return path


def plot_proxy_comparison(ref: np.ndarray, gen: np.ndarray, path: str | os.PathLike, title: str) -> Path:
    """``ref``, ``gen``: (N, 2) arrays of (E'_μ, θ')."""
    plt = _mpl()
    h1 = histogram2d(ref[:, 0], ref[:, 1])
    h2 = histogram2d(gen[:, 0], gen[:, 1])
    p = pulls(h1, h2, len(ref) / len(gen))
    p = np.where((h1 > 0) & (h2 > 0), p, np.nan)
    fig, ax = plt.subplots(1, 3, figsize=(21, 6.5))
    vmax = max(h1.max(), h2.max())
    for a, h, name in ((ax[0], h1, "reference"), (ax[1], h2, "model")):
        im = a.imshow(h.T, origin="lower", extent=[-1, 1, -1, 1], aspect="auto", vmin=0, vmax=vmax, cmap="viridis")
        a.set_title(name)
        fig.colorbar(im, ax=a)
    im = ax[2].imshow(p.T, origin="lower", extent=[-1, 1, -1, 1], aspect="auto", vmin=-4, vmax=4, cmap="RdBu_r")
    ax[2].set_title(f"pull, MAP = {np.nanmean(np.abs(p)):.3f}")
    fig.colorbar(im, ax=ax[2])
    for a in ax:
        a.set_xlabel(r"$E'_\mu$")
        a.set_ylabel(r"$\theta'$")
    fig.suptitle(title, fontsize=18)
    fig.tight_layout()
    out = _save(fig, path)
    plt.close(fig)
    return out


def plot_spectra_ratio(ref: dict, gen: dict, path: str | os.PathLike, title: str) -> Path:
    """``ref``/``gen``: {"W": array, "Q2": array}; step histograms with model/reference ratios."""
    plt = _mpl()
    fig, ax = plt.subplots(2, 2, figsize=(16, 9), gridspec_kw={"height_ratios": [3, 1]}, sharex="col")
    specs = (("W", np.arange(0.7, 2.5001, 0.02), r"$W$ from the muon [GeV]"),
             ("Q2", np.linspace(0, np.nanpercentile(ref["Q2"], 99.5) * 1.05 + 1e-3, 60), r"$Q^2$ [GeV$^2$]"))
    for j, (key, bins, label) in enumerate(specs):
        r = ref[key][np.isfinite(ref[key])]
        g = gen[key][np.isfinite(gen[key])]
        hr, _ = np.histogram(r, bins)
        hg, _ = np.histogram(g, bins)
        scale = len(r) / max(len(g), 1)
        c = 0.5 * (bins[1:] + bins[:-1])
        ax[0, j].step(c, hr, where="mid", color="k", label="reference")
        ax[0, j].step(c, hg * scale, where="mid", color="C1", label="model")
        ax[0, j].legend()
        ax[0, j].set_ylabel("events / bin")
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = hg * scale / hr
            err = np.sqrt(hg * scale**2 + hr * ratio**2) / hr
        ax[1, j].errorbar(c, ratio, yerr=err, fmt=".", color="C1")
        ax[1, j].axhline(1, color="k", lw=1)
        ax[1, j].set_ylim(0.8, 1.2)
        ax[1, j].set_ylabel("model/ref")
        ax[1, j].set_xlabel(label)
    fig.suptitle(title, fontsize=18)
    fig.tight_layout()
    out = _save(fig, path)
    plt.close(fig)
    return out


def plot_bands(bands: dict, reference: dict, path: str | os.PathLike, title: str) -> Path:
    """Ensemble bands (mean ± 1σ over members, :class:`aiva.models.ensemble.Band`) of each
    variable with the normalised reference histogram and its Poisson errors; pulls below."""
    plt = _mpl()
    names = list(bands)
    fig, ax = plt.subplots(2, len(names), figsize=(6 * len(names), 7), gridspec_kw={"height_ratios": [3, 1]},
                           sharex="col", squeeze=False)
    for j, v in enumerate(names):
        b = bands[v]
        c = 0.5 * (b.edges[1:] + b.edges[:-1])
        x = np.asarray(reference[v])
        h, _ = np.histogram(x[np.isfinite(x)], b.edges)
        r, sr = h / len(x), np.sqrt(h) / len(x)
        ax[0, j].fill_between(c, b.mean - b.std, b.mean + b.std, step="mid", alpha=0.4, color="C1",
                              label=f"ensemble ±1σ ({len(b.members)} members)")
        ax[0, j].step(c, b.mean, where="mid", color="C1")
        ax[0, j].errorbar(c, r, yerr=sr, fmt=".", color="k", ms=3, label="reference")
        ax[0, j].set_ylabel("fraction of events / bin")
        ax[0, j].legend(fontsize=8)
        sig = np.sqrt(b.std ** 2 + sr ** 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            pull = np.where(sig > 0, (r - b.mean) / sig, np.nan)
        ax[1, j].plot(c, pull, ".", color="k")
        ax[1, j].axhspan(-1, 1, color="C1", alpha=0.2)
        ax[1, j].set_ylim(-4, 4)
        ax[1, j].set_ylabel("(ref − mean)/σ")
        ax[1, j].set_xlabel(v)
    fig.suptitle(title)
    fig.tight_layout()
    out = _save(fig, path)
    plt.close(fig)
    return out
