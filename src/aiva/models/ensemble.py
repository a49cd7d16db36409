"""Ensembles of generators: per-bin mean and spread of any lepton histogram.

An ensemble is a folder with ``ensemble.json`` (format ``aiva-ensemble-1``) listing K member
models of one family, trained with different seeds on bootstrap resamples of the data
(``aiva train --ensemble K``; B. Lakshminarayanan, A. Pritzel, C. Blundell, "Simple and Scalable
Predictive Uncertainty Estimation using Deep Ensembles", NeurIPS 2017, arXiv:1612.01474, with
the bootstrap of B. Efron, Ann. Statist. 7 (1979) 1).

For a histogram of a variable at E_ν, every member generates ``n`` events; the band is the mean
over members of the normalised histograms (events per bin per event) and their standard
deviation (ddof = 1). The spread contains each member's own sampling noise, so a large ``n``
makes it measure the model uncertainty. Coverage of a reference histogram counts the bins where
|reference − mean| ≤ √(σ_ens² + σ_ref²), σ_ref the reference's Poisson error.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aiva.errors import AivaInputError
from aiva.utils import atomic_write_text

ENSEMBLE_FORMAT = "aiva-ensemble-1"

#: histogram variables: name -> (label, unit, default edges)
VARIABLES = {
    "Emu": ("E_mu", "GeV", None),
    "costheta": ("cos theta_mu", "", np.linspace(-1, 1, 41)),
    "W": ("W", "GeV", np.linspace(0.7, 2.5, 91)),
    "Q2": ("Q^2", "GeV^2", None),
}


def write_manifest(folder: str | os.PathLike, members: list[str], info: dict) -> Path:
    """``ensemble.json`` in ``folder``; member paths are stored relative to it."""
    folder = Path(folder)
    rel = [os.path.relpath(m, folder) for m in members]
    path = folder / "ensemble.json"
    atomic_write_text(path, json.dumps({"format": ENSEMBLE_FORMAT, "members": rel, **info}, indent=2) + "\n")
    return path


def load_ensemble(path: str | os.PathLike, device="cpu") -> tuple[list, list[dict], dict]:
    """Members (models), their cards and the manifest of an ensemble folder or its ensemble.json."""
    from aiva.models.io import load_model

    p = Path(path)
    manifest = p / "ensemble.json" if p.is_dir() else p
    if not manifest.exists():
        raise AivaInputError(f"{path}: no ensemble.json (train one with aiva train --ensemble K)")
    try:
        info = json.loads(manifest.read_text())
    except json.JSONDecodeError as exc:
        raise AivaInputError(f"{manifest}: not valid JSON ({exc})") from None
    if info.get("format") != ENSEMBLE_FORMAT or len(info.get("members", [])) < 2:
        raise AivaInputError(f"{manifest}: not an {ENSEMBLE_FORMAT} manifest with at least 2 members")
    models, cards = [], []
    for m in info["members"]:
        net, card = load_model(manifest.parent / m, device=device)
        models.append(net)
        cards.append(card)
    families = {c.get("family") for c in cards}
    if len(families) != 1:
        raise AivaInputError(f"{manifest}: members of different families {sorted(families)}")
    return models, cards, info


def histogram_values(table, var: str) -> np.ndarray:
    """The values of a histogram variable (Emu, costheta, W, Q2) of an event table."""
    if var == "Emu":
        return table["ELep"]
    if var == "costheta":
        return table["CosLep"]
    k = table.kinematics()
    return k[var]


def default_edges(var: str, energy: float) -> np.ndarray:
    edges = VARIABLES[var][2]
    if edges is not None:
        return np.asarray(edges)
    if var == "Emu":
        return np.linspace(0.0, energy, 51)
    return np.linspace(0.0, 2.0 * energy, 51)  # Q²


@dataclass
class Band:
    variable: str
    edges: np.ndarray
    members: np.ndarray  #: (K, bins) events per bin per generated event
    n_per_member: int

    @property
    def mean(self) -> np.ndarray:
        return self.members.mean(axis=0)

    @property
    def std(self) -> np.ndarray:
        return self.members.std(axis=0, ddof=1)

    def coverage(self, reference: np.ndarray) -> dict:
        """Fraction of bins (with reference or model content) whose normalised reference
        histogram lies within 1σ = √(σ_ens² + σ_ref²) of the ensemble mean."""
        ref = np.asarray(reference, dtype=float)
        h, _ = np.histogram(ref, self.edges)
        n = len(ref)
        r, sr = h / n, np.sqrt(h) / n
        sig = np.sqrt(self.std ** 2 + sr ** 2)
        used = (h > 0) | (self.mean > 0)
        inside = np.abs(r - self.mean) <= sig
        return {"bins": int(used.sum()), "covered": int((inside & used).sum()),
                "fraction": float((inside & used).sum() / max(used.sum(), 1)),
                "mean_abs_pull": float(np.mean(np.abs(r - self.mean)[used] / np.where(sig[used] > 0, sig[used], 1)))}

    def to_dict(self) -> dict:
        return {"variable": self.variable, "edges": self.edges.tolist(), "mean": self.mean.tolist(),
                "std": self.std.tolist(), "members": self.members.tolist(), "n_per_member": self.n_per_member,
                "normalisation": "events per bin per generated event"}


def ensemble_bands(models: list, cards: list[dict], energy: float, n: int, variables=("Emu", "costheta", "W", "Q2"),
                   seed: int = 1, edges: dict | None = None) -> dict[str, Band]:
    """Per-bin mean and spread over members of normalised histograms at one E_ν."""
    from aiva.models.generate import generate_events

    bad = [v for v in variables if v not in VARIABLES]
    if bad:
        raise AivaInputError(f"unknown histogram variable(s) {', '.join(bad)}; choose from {', '.join(VARIABLES)}")
    edges = {v: np.asarray((edges or {}).get(v, default_edges(v, energy))) for v in variables}
    hists: dict[str, list] = {v: [] for v in variables}
    for k, (net, card) in enumerate(zip(models, cards)):
        t = generate_events(net, card, np.full(n, float(energy)), seed + 1000 * k)
        for v in variables:
            x = histogram_values(t, v)
            h, _ = np.histogram(x[np.isfinite(x)], edges[v])
            hists[v].append(h / n)
    return {v: Band(v, edges[v], np.array(hists[v]), n) for v in variables}


def write_bands(bands: dict[str, Band], path: str | os.PathLike, meta: dict) -> Path:
    """Bands as JSON (``.json``) or a long CSV table (``.csv``: variable, lo, hi, mean, std)."""
    path = Path(path)
    if path.suffix == ".csv":
        rows = ["variable,bin_lo,bin_hi,mean,std"]
        for v, b in bands.items():
            rows += [f"{v},{lo:.6g},{hi:.6g},{m:.8g},{s:.8g}"
                     for lo, hi, m, s in zip(b.edges[:-1], b.edges[1:], b.mean, b.std)]
        atomic_write_text(path, "\n".join(rows) + "\n")
    elif path.suffix == ".json":
        atomic_write_text(path, json.dumps({**meta, "bands": {v: b.to_dict() for v, b in bands.items()}}) + "\n")
    else:
        raise AivaInputError(f"{path}: ensemble histograms are written as .json or .csv")
    return path
