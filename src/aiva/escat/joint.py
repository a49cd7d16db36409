"""One network for every nucleus: the joint (nucleus-conditioned) ensemble, Coulomb distortion in
the effective-momentum approximation, and predictions for any (Z, A).

**Conditioning.** The inputs of the carbon network (E, ω, θ, cos θ, Q² and their logarithms) plus
ln A / 5, Z/A and k_F(A)/0.25 GeV (``ESConfig.inputs = "prc110+log+nucleus"``), optionally the
distance above the elastic line and the quasielastic scaling variable ψ ("...+threshold"; see
:func:`aiva.escat.model.features`). The output keeps the Mott-like factor with A/12 per point.
Every shipped target is fitted at once, each data set of each target with its own normalisation
λ (keys "C12:Arri1995"), with the existing replicas ensemble (:func:`aiva.escat.fit.fit`).

**Coulomb distortion (EMA).** The electron is accelerated in the field of the nucleus. In the
effective-momentum approximation (e.g. A. Aste, C. von Arx, D. Trautmann, Eur. Phys. J. A 26
(2005) 167; A. Aste, D. Trautmann, Eur. Phys. J. A 33 (2007) 11, arXiv:0705.1119; O. Benhar,
D. Day, I. Sick, Rev. Mod. Phys. 80 (2008) 189, Sec. II) the plane-wave cross section is taken at
the energies the electron has at the nucleus,

    E_eff = E + |V|,  E'_eff = E' + |V|  (ω and θ unchanged),
    |V| = f · (3/2) Z α ħc / R,  R = 1.2 A^{1/3} fm  (the potential at the centre of a uniformly
    charged sphere, f = 0.8 for the effective value over the nuclear volume, as in the
    improved EMA of Aste et al.),

times the focusing factor of the incoming wave, (E_eff/E)² (the focusing of the outgoing wave
cancels against its phase space; Aste & Trautmann 2007):

    σ_measured(E, ω, θ) = (E_eff/E)² σ_PWBA(E_eff, ω, θ).

Implemented on the data (:func:`ema_correct`): every point is moved to E_eff with cross section
and error divided by (E_eff/E)², before fitting and before any χ²; a prediction for measured
kinematics is the network at E_eff times (E_eff/E)² (:meth:`JointModel.predict`). χ² is the same
either way (residual and error scale together). |V| is 3.8 MeV for ¹²C, 9.8 MeV for ⁵⁶Fe,
19.6 MeV for ¹⁹⁷Au, 21.4 MeV for ²³⁸U.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from aiva.errors import AivaInputError
from aiva.escat.data import (PAPER_EXCLUDED, SHIPPED, SMALL_REL_ERR, EData, apply_cut, exclude_datasets, load_target,
                              split)
from aiva.escat.fit import FitConfig, XsecModel, chi2_terms, fit
from aiva.escat.model import ESConfig
from aiva.physics.constants import ALPHA_EM, HBARC_GEV_FM, M_NUCLEON

ELEMENTS = ("H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br Kr "
            "Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb "
            "Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu Am Cm Bk Cf Es Fm Md No Lr Rf "
            "Db Sg Bh Hs Mt Ds Rg Cn Nh Fl Mc Lv Ts Og").split()
EMA_FRACTION = 0.8  #: effective potential / central potential of the uniform sphere
R0_FM = 1.2  #: R = R0 A^{1/3}
#: data sets whose quoted errors are flagged as artefacts (below SMALL_REL_ERR, docs/escat.md "How much
#: of the gap is the quoted errors") get this relative floor in quadrature in the joint *training*
#: only (⁶Li Heim1973 with 0.01 % errors would otherwise carry most of the joint χ²)
JOINT_TRAIN_FLOOR = 0.01
#: nucleus distance (ln A, Z/A / 0.1) below which a nucleus counts as covered by a fitted one
NEAR = 0.05


def parse_nucleus(name: str) -> tuple[str, int, int]:
    """'Pb208', '208Pb', 'pb-208' → ('Pb208', 82, 208)."""
    n = name.strip().replace("-", "").replace("_", "")
    digits = "".join(ch for ch in n if ch.isdigit())
    letters = "".join(ch for ch in n if ch.isalpha()).capitalize()
    if letters not in ELEMENTS or not digits:
        raise AivaInputError(f"--target {name!r}: not a nucleus (give element and mass number, e.g. Pb208 or 208Pb)")
    Z, A = ELEMENTS.index(letters) + 1, int(digits)
    if not Z <= A <= 300:
        raise AivaInputError(f"--target {name!r}: mass number {A} impossible for Z = {Z}")
    return f"{letters}{A}", Z, A


def coulomb_potential(Z, A, fraction: float = EMA_FRACTION) -> np.ndarray:
    """|V| [GeV]: fraction × (3/2) Z α ħc / R of a uniformly charged sphere, R = 1.2 A^{1/3} fm."""
    Z, A = np.asarray(Z, dtype=np.float64), np.asarray(A, dtype=np.float64)
    return fraction * 1.5 * Z * ALPHA_EM * HBARC_GEV_FM / (R0_FM * A ** (1 / 3))


def ema_correct(d: EData, fraction: float = EMA_FRACTION) -> EData:
    """The points at E_eff = E + |V| with σ and Δσ divided by the focusing factor (E_eff/E)²."""
    V = coulomb_potential(d.Z, d.A, fraction)
    Eeff = d.E + V
    focus = (Eeff / d.E) ** 2
    out = replace(d, E=Eeff, xsec=d.xsec / focus, err=d.err / focus, notes=list(d.notes))
    out.notes.append(f"Coulomb distortion (EMA): |V| = {1e3 * float(np.mean(V)):.2f} MeV, data at E + |V|, "
                     "divided by (E_eff/E)^2")
    return out


def load_nucleus(target: str, coulomb: bool = True) -> EData:
    """A shipped target, the papers' exclusions, the low-ω cut, data-set keys "target:set", optionally EMA."""
    d = load_target(target)
    d, _ = exclude_datasets(d, PAPER_EXCLUDED.get(d.target, []))
    d, _ = apply_cut(d)
    pref = f"{d.target}:"
    d = replace(d, dataset=np.array([pref + k for k in d.dataset]), norm_unc={pref + k: v for k, v in d.norm_unc.items()},
                notes=list(d.notes))
    return ema_correct(d) if coulomb else d


def train_floor(d: EData, floor: float = JOINT_TRAIN_FLOOR) -> EData:
    """Floor (in quadrature) the errors of the data sets that quote relative errors below SMALL_REL_ERR."""
    rel = d.err / np.maximum(np.abs(d.xsec), 1e-300)
    flagged = sorted(set(d.dataset[rel < SMALL_REL_ERR].tolist()))
    if not flagged or floor == 0:
        return d
    m = np.isin(d.dataset, flagged)
    err = d.err.copy()
    err[m] = np.sqrt(err[m] ** 2 + (floor * d.xsec[m]) ** 2)
    out = replace(d, err=err, notes=list(d.notes))
    out.notes.append(f"joint training: {floor:.0%} floor on {', '.join(flagged)}")
    return out


def concat(parts: list[EData]) -> EData:
    """Points of several nuclei in one EData with per-point Z and A."""
    cat = lambda f: np.concatenate([getattr(p, f) for p in parts])  # noqa: E731
    norms = {}
    for p in parts:
        norms.update(p.norm_unc)
    return EData("joint", np.concatenate([np.full(len(p), p.Z) for p in parts]),
                 np.concatenate([np.full(len(p), p.A) for p in parts]), cat("E"), cat("theta"), cat("omega"),
                 cat("xsec"), cat("err"), cat("dataset"), norms, "joint",
                 [f"{p.target}: {n}" for p in parts for n in p.notes])


def joint_fit_config(n_train: int, members: int = 10, steps: int = 40_000, seed: int = 1, batch_size: int = 128,
                     threads: int | None = None) -> FitConfig:
    """The carbon defaults with the epochs set by the number of optimiser steps (the cost of a fit
    is steps × members, whatever the number of points); warm-up 15 % of the epochs as on carbon."""
    epochs = max(20, math.ceil(steps / max(1, n_train // batch_size)))
    return FitConfig(members=members, epochs=epochs, warmup_epochs=max(1, int(0.15 * epochs)), seed=seed,
                     batch_size=batch_size, threads=threads, eval_every=max(1, epochs // 100))


def nucleus_distance(Z: int, A: int, fitted) -> tuple[float, str]:
    """Distance to the nearest fitted nucleus, √((Δ ln A)² + (Δ(Z/A)/0.1)²), and its name."""
    best = (math.inf, "")
    for name, Zi, Ai in fitted:
        dist = math.hypot(math.log(A / Ai), (Z / A - Zi / Ai) / 0.1)
        best = min(best, (dist, name))
    return best


@dataclass
class JointModel:
    """The joint network with its fitted nuclei, the EMA setting and the band widening κ."""

    model: XsecModel
    nuclei: list  #: [(name, Z, A)] of the fitted nuclei
    coulomb: bool = True
    #: relative band added in quadrature per unit of nucleus distance (σ·κ·d); calibrated on the
    #: leave-one-nucleus-out fits (benchmarks/escat_joint.py), stored in the card
    kappa: float = 0.5

    def at(self, Z: int, A: int) -> XsecModel:
        """The network as a model of nucleus (Z, A) (in the EMA frame when ``coulomb``)."""
        m = self.model
        return XsecModel(m.net, int(A), m.target, m.datasets, m.lam, m.domain, m.card, int(Z))

    def distance(self, Z: int, A: int) -> tuple[float, str]:
        return nucleus_distance(Z, A, self.nuclei)

    def predict(self, Z: int, A: int, E, omega, theta, warn: bool = True, widen: bool = True):
        """Mean and band of σ at the measured kinematics (EMA: network at E + |V| × (E_eff/E)²),
        the band widened by κ·d·σ (d the distance to the nearest fitted nucleus), and a mask of
        the points inside the validity domain (above the cut line and inside the trained domain)."""
        E, omega, theta = (np.atleast_1d(np.asarray(a, dtype=np.float64)) for a in (E, omega, theta))
        V = coulomb_potential(Z, A) if self.coulomb else 0.0
        Eeff = E + V
        focus = (Eeff / E) ** 2
        view = self.at(Z, A)
        mean, std = view.predict(Eeff, omega, theta, warn=False)
        mean, std = mean * focus, std * focus
        dist, _ = self.distance(Z, A)
        if widen and dist > NEAR:
            std = np.sqrt(std**2 + (self.kappa * dist * mean) ** 2)
        valid = validity(view, Eeff, omega, theta, A)
        if warn and not valid.all():
            import warnings

            warnings.warn(f"{int((~valid).sum())} of {len(E)} points lie outside the validity domain of the joint "
                          f"model (omega - Q2/2M_A < 20 MeV, the elastic and discrete region cut from the data, or "
                          "outside the trained E, theta, omega ranges): extrapolation", stacklevel=2)
        return mean, std, valid

    def chi2(self, d: EData, edge=None, fit_lambda: bool = True) -> dict:
        """χ² terms of one nucleus's points (already EMA-corrected when ``coulomb``)."""
        return chi2_terms(self.at(int(d.Z), int(d.A)), d, fit_lambda=fit_lambda, edge=edge)


def validity(model: XsecModel, E, omega, theta, A) -> np.ndarray:
    """Inside the data's domain: above the cut line ω − Q²/2M_A > 20 MeV and inside the trained
    (E, θ, ω) ranges."""
    from aiva.escat.data import OMEGA_CUT

    Q2 = 4 * E * (E - omega) * np.sin(theta / 2) ** 2
    d = model.domain
    return ((omega - Q2 / (2 * A * M_NUCLEON) > OMEGA_CUT) & (E >= d["E"][0]) & (E <= d["E"][1])
            & (theta >= d["theta"][0]) & (theta <= d["theta"][1]) & (omega >= d["omega"][0]) & (omega <= d["omega"][1]))


def fit_joint(targets=None, *, exclude=(), members=10, steps=40_000, seed=1, split_seed=1, test_fraction=0.1,
              coulomb=True, inputs="prc110+log+nucleus", activation="relu+silu", threads=None, progress=False,
              train_floor_frac=JOINT_TRAIN_FLOOR):
    """Fit the joint model on ``targets`` minus ``exclude`` (each split test_fraction at random with
    ``split_seed``, as the per-nucleus fits are). Returns (JointModel, {target: (train, test)})."""
    targets = list(targets or SHIPPED)
    use = [t for t in targets if t not in set(exclude)]
    if not use:
        raise AivaInputError("joint fit: no targets left")
    splits = {}
    for t in use:
        d = load_nucleus(t, coulomb)
        if test_fraction > 0:
            tr, te = split(d, 1 - test_fraction, split_seed)
        else:
            tr, te = d, d.subset(np.zeros(len(d), dtype=bool))
        splits[d.target] = (tr, te)
    train = concat([train_floor(tr, train_floor_frac) for tr, _ in splits.values()])
    cfg = ESConfig(inputs=inputs, activation=activation)
    fcfg = joint_fit_config(len(train), members, steps, seed, threads=threads)
    m = fit(train, cfg, fcfg, progress=progress)
    m.card.update({"name": "escat-joint", "target": "joint", "joint": {
        "nuclei": [[tr.target, int(tr.Z), int(tr.A)] for tr, _ in splits.values()], "coulomb": coulomb,
        "ema_fraction": EMA_FRACTION, "steps": steps, "split_seed": split_seed, "test_fraction": test_fraction,
        "train_floor": train_floor_frac}})
    m.target = "joint"
    jm = JointModel(m, [(tr.target, int(tr.Z), int(tr.A)) for tr, _ in splits.values()], coulomb)
    return jm, splits


def save_joint(jm: JointModel, path, half: bool = True, extra: dict | None = None) -> Path:
    from aiva.escat.io import save_xsec_model

    card_extra = {**(extra or {}), "joint": {**jm.model.card.get("joint", {}), "nuclei": [list(n) for n in jm.nuclei],
                                               "coulomb": jm.coulomb, "kappa": jm.kappa}}
    return save_xsec_model(jm.model, path, half=half, extra=card_extra)


def load_joint(name_or_path="escat-joint") -> JointModel:
    from aiva.escat.io import load_xsec_model

    m = load_xsec_model(name_or_path)
    j = m.card.get("joint")
    if not isinstance(j, dict) or "nuclei" not in j:
        raise AivaInputError(f"{name_or_path}: not a joint (nucleus-conditioned) electron-scattering model")
    return JointModel(m, [tuple(n) for n in j["nuclei"]], bool(j.get("coulomb", True)), float(j.get("kappa", 0.5)))


def is_joint(name_or_path) -> bool:
    from aiva.escat.io import resolve_xsec_model

    try:
        card = json.loads(resolve_xsec_model(name_or_path).with_suffix(".json").read_text())
    except (AivaInputError, OSError, ValueError):
        return False
    return isinstance(card, dict) and isinstance(card.get("joint"), dict)
