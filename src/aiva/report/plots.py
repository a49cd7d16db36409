"""Figures of event samples: (E_μ, cos θ), W and Q² from the lepton."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from aiva.events.table import MODE_NAMES, EventTable


def _mpl():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    plt.style.use(mplhep.style.ROOT)
    return plt


def plot_sample(table: EventTable, path: str | os.PathLike, title: str | None = None) -> Path:
    """Three panels: 2-D (E_μ, cos θ_μ), W and Q² from the lepton (nucleon at rest), by mode."""
    from aiva.utils import atomic_path

    plt = _mpl()
    kin = table.kinematics()
    fig, ax = plt.subplots(1, 3, figsize=(21, 6.5))
    h = ax[0].hist2d(table["ELep"], table["CosLep"], bins=(100, 100), cmap="viridis", cmin=1)
    fig.colorbar(h[3], ax=ax[0], label="events")
    ax[0].set_xlabel(r"$E_\mu$ [GeV]")
    ax[0].set_ylabel(r"$\cos\theta_\mu$")
    modes = np.abs(table["Mode"])
    groups = {"QE": modes == 1, "2p2h": modes == 2, r"$\Delta$/1$\pi$": (modes >= 11) & (modes <= 13),
              "DIS": modes >= 21}
    W = kin["W"]
    wbins = np.arange(0.7, 2.5001, 0.02)
    qbins = np.linspace(0, min(4.0, float(np.nanpercentile(kin["Q2"], 99.5)) * 1.1 + 1e-3), 80)
    for name, m in groups.items():
        if m.any():
            ax[1].hist(W[m & np.isfinite(W)], bins=wbins, histtype="step", lw=2, label=name)
            ax[2].hist(kin["Q2"][m], bins=qbins, histtype="step", lw=2, label=name)
    ax[1].hist(W[np.isfinite(W)], bins=wbins, histtype="step", color="k", lw=2, label="all")
    ax[2].hist(kin["Q2"], bins=qbins, histtype="step", color="k", lw=2, label="all")
    ax[1].set_xlabel(r"$W$ from the muon [GeV] (20 MeV bins)")
    ax[2].set_xlabel(r"$Q^2$ [GeV$^2$]")
    for a in ax[1:]:
        a.set_ylabel("events / bin")
        a.legend(fontsize=14)
    meta = table.metadata
    fig.suptitle(title or f"{meta.get('probe', '')} on {meta.get('target', '')} — {len(table)} events "
                 f"({meta.get('config', {}).get('name', '') if isinstance(meta.get('config'), dict) else ''})",
                 fontsize=18)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
    return path


__all__ = ["plot_sample", "MODE_NAMES"]
