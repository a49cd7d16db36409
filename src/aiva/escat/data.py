"""Inclusive (e, e') data: loading, validation, the low-ω cut and train/test splits.

Cut (stated and applied as in the papers, which remove the elastic peak and discrete nuclear
states): a point is kept if its energy transfer exceeds the elastic line of the nucleus by more
than ``OMEGA_CUT`` = 20 MeV, ω − Q²/(2M_A) > 0.020 GeV, with M_A ≈ A·M_N and
Q² = 4E(E − ω) sin²(θ/2). The number of points removed is reported.
"""
from __future__ import annotations

import csv
import os
from typing import Any
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from aiva.errors import AivaInputError
from aiva.physics.constants import M_NUCLEON

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "escat"
REQUIRED = ["E_GeV", "theta_deg", "omega_GeV", "xsec_nb_per_sr_GeV", "err_nb_per_sr_GeV", "dataset"]
OMEGA_CUT = 0.020  #: GeV above the elastic line
DEFAULT_NORM_UNC = 0.05  #: for data sets without a published normalisation uncertainty
#: relative point uncertainty below which a load reports the points: inclusive (e, e') cross
#: sections are not known to better than about 1 % point to point (radiative corrections,
#: acceptance), so errors of 0.1 % or less are statistical only or a transcription artefact
SMALL_REL_ERR = 1e-3
SHIPPED = {"C12": "C12.csv", "Li6": "Li6.csv", "O16": "O16.csv", "Al27": "Al27.csv", "Ca40": "Ca40.csv",
           "Fe56": "Fe56.csv", "He3": "He3.csv", "He4": "He4.csv", "H2": "H2.csv", "H3": "H3.csv",
           "Au197": "Au197.csv", "U238": "U238.csv"}


@dataclass
class EData:
    """Points of one target. Angles in radians inside; cross sections nb/(sr GeV) per nucleus."""

    target: str
    Z: Any  #: int, or per-point arrays for several nuclei (the joint model)
    A: Any
    E: np.ndarray
    theta: np.ndarray
    omega: np.ndarray
    xsec: np.ndarray
    err: np.ndarray
    dataset: np.ndarray  #: per-point dataset key (str)
    norm_unc: dict = field(default_factory=dict)  #: dataset → Δλ (fraction)
    source: str = ""
    notes: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.E)

    @property
    def Q2(self) -> np.ndarray:
        return 4 * self.E * (self.E - self.omega) * np.sin(self.theta / 2) ** 2

    @property
    def datasets(self) -> list[str]:
        return sorted(set(self.dataset.tolist()))

    def subset(self, mask) -> EData:
        if np.ndim(self.A) > 0:  # several nuclei (the joint model): per-point Z and A
            return replace(self, Z=self.Z[mask], A=self.A[mask], E=self.E[mask], theta=self.theta[mask],
                           omega=self.omega[mask], xsec=self.xsec[mask], err=self.err[mask],
                           dataset=self.dataset[mask], notes=list(self.notes))
        return replace(self, E=self.E[mask], theta=self.theta[mask], omega=self.omega[mask], xsec=self.xsec[mask],
                       err=self.err[mask], dataset=self.dataset[mask], notes=list(self.notes))

    def dataset_index(self, keys: list[str]) -> np.ndarray:
        pos = {k: i for i, k in enumerate(keys)}
        return np.array([pos[d] for d in self.dataset], dtype=np.int64)

    def dnorm(self, keys: list[str]) -> np.ndarray:
        return np.array([self.norm_unc.get(k, DEFAULT_NORM_UNC) for k in keys])


def _norm_table() -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    with open(DATA_DIR / "dataset_normalization_uncertainties.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["norm_unc_percent"]:
                out.setdefault(_canonical(row["target"]), {})[row["dataset"]] = float(row["norm_unc_percent"]) / 100
    return out


def _canonical(name: str) -> str:
    """'12C' or 'C12' → 'C12'."""
    n = name.strip()
    digits = "".join(ch for ch in n if ch.isdigit())
    letters = "".join(ch for ch in n if ch.isalpha())
    return f"{letters.capitalize()}{digits}"


def load_csv(path: str | os.PathLike, *, target: str | None = None, Z: int | None = None,
             A: int | None = None) -> EData:
    """Read a CSV in the shipped schema (at least the columns of ``REQUIRED``; ``Z``, ``A`` and
    ``target`` columns or arguments). Every problem raises one error naming file, column, rows."""
    path = Path(path)
    if not path.exists():
        raise AivaInputError(f"{path}: no such file")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise AivaInputError(f"{path}: no data rows")
    cols = rows[0].keys()
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        raise AivaInputError(f"{path}: missing column(s) {', '.join(missing)}")
    num = {}
    for c in REQUIRED[:-1]:
        vals = np.empty(len(rows))
        bad = []
        for i, r in enumerate(rows):
            try:
                vals[i] = float(r[c])
            except (TypeError, ValueError):
                bad.append(i)
        if bad:
            raise AivaInputError(f"{path}: column '{c}': non-numeric or empty values ({len(bad)} rows, "
                                 f"first at data row {bad[0] + 1})")
        nonfin = ~np.isfinite(vals)
        if nonfin.any():
            raise AivaInputError(f"{path}: column '{c}': NaN or infinite values ({int(nonfin.sum())} rows)")
        num[c] = vals
    checks = [("E_GeV", num["E_GeV"] <= 0, "non-positive beam energies"),
              ("E_GeV", num["E_GeV"] > 100, "beam energies above 100 — MeV instead of GeV?"),
              ("theta_deg", (num["theta_deg"] <= 0) | (num["theta_deg"] > 180), "angles outside (0, 180] degrees"),
              ("omega_GeV", (num["omega_GeV"] < 0) | (num["omega_GeV"] >= num["E_GeV"]),
               "energy transfer outside [0, E)")]
    for col, mask, what in checks:
        if mask.any():
            raise AivaInputError(f"{path}: column '{col}': {what} ({int(mask.sum())} rows)")
    zs: set = {r.get("Z") for r in rows} if "Z" in cols else set()
    as_: set = {r.get("A") for r in rows} if "A" in cols else set()
    if Z is None:
        if len(zs) != 1:
            raise AivaInputError(f"{path}: column 'Z': need one target per file (give --Z/--A or a Z column)")
        Z = int(float(zs.pop()))
    if A is None:
        if len(as_) != 1:
            raise AivaInputError(f"{path}: column 'A': need one target per file (give --Z/--A or an A column)")
        A = int(float(as_.pop()))
    if target is None:
        tg = {r.get("target") for r in rows} if "target" in cols else {None}
        target = _canonical(str(tg.pop())) if len(tg) == 1 and None not in tg else f"Z{Z}A{A}"
    ds = np.array([r["dataset"].strip() or "unknown" for r in rows], dtype=object)
    # data sets whose normalisation is split by angle in the published table ("Will1997 (90 deg)")
    norm_all = _norm_table()
    norms = norm_all.get(target, {})
    theta = num["theta_deg"]
    for i, d in enumerate(ds):
        angled = f"{d} ({theta[i]:g} deg)"
        if angled in norms:
            ds[i] = angled
    notes = []
    # measured cross sections may be negative (fluctuations around zero) and are kept; points
    # without a positive uncertainty cannot enter a chi^2: they are excluded, and counted
    noerr = num["err_nb_per_sr_GeV"] <= 0
    if noerr.any():
        notes.append(f"excluded {int(noerr.sum())} points with non-positive uncertainty (column "
                     f"'err_nb_per_sr_GeV', data rows {', '.join(str(i + 1) for i in np.flatnonzero(noerr)[:5])}"
                     f"{', ...' if noerr.sum() > 5 else ''})")
    notes += _small_error_notes(num["xsec_nb_per_sr_GeV"], num["err_nb_per_sr_GeV"], ds)
    missing_norm = sorted({d for d in ds if d not in norms})
    if missing_norm:
        notes.append(f"no published normalisation uncertainty for {', '.join(missing_norm)}: "
                     f"{DEFAULT_NORM_UNC:.0%} assumed")
    d = EData(target, Z, A, num["E_GeV"], np.radians(theta), num["omega_GeV"], num["xsec_nb_per_sr_GeV"],
              num["err_nb_per_sr_GeV"], ds.astype(str), norms, str(path), notes)
    return d.subset(~noerr) if noerr.any() else d


def _small_error_notes(xsec: np.ndarray, err: np.ndarray, ds: np.ndarray) -> list[str]:
    """One note per data set with points whose relative uncertainty is below SMALL_REL_ERR."""
    rel = np.full(len(xsec), np.inf)
    ok = (xsec != 0) & (err > 0)
    rel[ok] = err[ok] / np.abs(xsec[ok])
    notes = []
    for k in sorted(set(ds[rel < SMALL_REL_ERR].tolist())):
        sel = (ds == k) & ok
        n_small = int(np.sum(rel[sel] < SMALL_REL_ERR))
        notes.append(f"data set {k}: {n_small} of {int(sel.sum())} points quote a relative uncertainty below "
                     f"{SMALL_REL_ERR:.1%} (smallest {rel[sel].min():.3%}, median {np.median(rel[sel]):.2%}); "
                     "they dominate any chi^2 (an error floor, --err-floor, adds a point-to-point term)")
    return notes


def with_error_floor(d: EData, floor: float) -> EData:
    """Add a relative point-to-point uncertainty in quadrature: Δσ' = √(Δσ² + (f·σ)²).

    An analysis choice for data whose quoted errors are statistical only; 0 leaves the data as
    quoted (the default, and what every published comparison in docs/escat.md uses)."""
    if not 0 <= floor < 1:
        raise AivaInputError(f"error floor must be a fraction in [0, 1), got {floor}")
    if floor == 0:
        return d
    out = replace(d, err=np.sqrt(d.err**2 + (floor * d.xsec) ** 2), notes=list(d.notes))
    out.notes.append(f"error floor: {floor:.1%} of each cross section added in quadrature to its uncertainty")
    return out


def load_target(name: str) -> EData:
    """One of the shipped targets (C12, Li6, O16, Al27, Ca40, Fe56, He3, ...)."""
    key = _canonical(name)
    if key not in SHIPPED:
        raise AivaInputError(f"no shipped electron-scattering data for {name!r}; shipped: {', '.join(SHIPPED)} "
                             "(bring your own with --data my.csv)")
    return load_csv(DATA_DIR / SHIPPED[key], target=key)


#: data sets in the archive that the papers did not use (Kowal et al. PRC 110: no Zell1973 for
#: carbon; the domain-adaptation paper's Table II: no Hott1994 for iron); excluded by default
PAPER_EXCLUDED = {"C12": ["Zell1973"], "Fe56": ["Hott1994"]}


def exclude_datasets(d: EData, names) -> tuple[EData, int]:
    """Drop the named data sets; returns the data and the number of points removed."""
    names = set(names or [])
    unknown = names - set(d.datasets)
    if unknown:
        raise AivaInputError(f"{d.target}: no data set(s) {', '.join(sorted(unknown))}; have {', '.join(d.datasets)}")
    keep = ~np.isin(d.dataset, list(names))
    out = d.subset(keep)
    if names:
        out.notes.append(f"excluded data set(s) {', '.join(sorted(names))} ({int((~keep).sum())} points)")
    return out, int((~keep).sum())


def apply_cut(d: EData) -> tuple[EData, int]:
    """Remove the elastic peak and discrete states: keep ω − Q²/(2M_A) > OMEGA_CUT."""
    MA = d.A * M_NUCLEON
    keep = d.omega - d.Q2 / (2 * MA) > OMEGA_CUT
    return d.subset(keep), int((~keep).sum())


def split(d: EData, train_fraction: float, seed: int) -> tuple[EData, EData]:
    """Random split of the points (train_fraction : 1 − train_fraction)."""
    if not 0 < train_fraction < 1:
        raise AivaInputError(f"train fraction must be in (0, 1), got {train_fraction}")
    rng = np.random.default_rng(seed)
    m = rng.random(len(d)) < train_fraction
    return d.subset(m), d.subset(~m)


def spectrum_edges(train: EData, test: EData) -> np.ndarray:
    """Which ``test`` points a model fitted to ``train`` must extrapolate to along ω: True where
    the point lies outside the ω range of the training points of its own spectrum (same data set,
    E and θ, to 10 keV and 10⁻⁶ rad), or where that spectrum has fewer than two training points."""
    def spectrum(ds, E, th):
        return ds, round(float(E), 5), round(float(th), 6)

    spectra: dict = {}
    for ds, E, th, om in zip(train.dataset, train.E, train.theta, train.omega):
        spectra.setdefault(spectrum(ds, E, th), []).append(om)
    edge = np.ones(len(test), dtype=bool)
    for j, (ds, E, th, om) in enumerate(zip(test.dataset, test.E, test.theta, test.omega)):
        w = spectra.get(spectrum(ds, E, th), [])
        edge[j] = len(w) < 2 or not min(w) < om < max(w)
    return edge


def write_csv(d: EData, path: str | os.PathLike) -> Path:
    """Write points in the shipped schema (readable by :func:`load_csv`), atomically."""
    from aiva.utils import atomic_write_text

    lines = [",".join(REQUIRED + ["Z", "A", "target"])]
    for i in range(len(d)):
        lines.append(f"{d.E[i]!r},{np.degrees(d.theta[i])!r},{d.omega[i]!r},{d.xsec[i]!r},{d.err[i]!r},"
                     f"{d.dataset[i]},{d.Z},{d.A},{d.target}")
    atomic_write_text(path, "\n".join(lines) + "\n")
    return Path(path)
