"""Signal definitions of hadron-selected (CC0π) measurements on whole events.

A measurement whose ``measurement.json`` names a ``"signal"`` counts only the events of that
final-state topology; the selection reads the final-state particle list
``EventTable.particles["fsp"]`` (:class:`aiva.events.particles.ParticleList`: the outgoing lepton
first, then the particles that leave the nucleus after final-state interactions), the lepton
kinematics from the table's ``ELep``/``CosLep`` columns. The definitions, as the papers state them
(in their abstracts and signal definitions; the section numbers were not checked against the
published text) and as NUISANCE implements them (``SignalDef::isT2K_CC0pi``,
``SignalDef::isCC0pi_MINERvAPTPZ``; P. Stowell et al., JINST 12 (2017) P01016):

* ``"t2k-cc0pi"`` — T2K ND280 CC0π, K. Abe et al. (T2K), PRD 93, 112012 (2016) ("charged-current
  interactions ... without pions in the final state", not corrected for pions absorbed by FSI)
  and PRD 101, 112004 (2020): a νμ charged-current interaction with one μ⁻
  and **no pion (π±, π⁰) of any momentum** in the final state, any number of nucleons (and of
  other particles). No cut on the muon kinematics: both results cover the full phase space
  (cosθ_μ from −1, p_μ up to 30 GeV/c); events beyond the last p_μ edge are not counted.
* ``"minerva-qelike"`` — MINERvA CCQE-like, D. Ruterbories et al. (MINERvA), PRD 99, 012004 (2019):
  νμ CC with exactly one μ⁻ (no μ⁺), **θ_μ < 20°** (the MINOS acceptance), **no mesons**,
  no heavy (strange or charmed) baryons, no photons above nuclear de-excitation energies (E_γ >
  10 MeV, as NUISANCE's ``SignalDef::isCC0pi_MINERvAPTPZ`` implements it), any number of protons
  and neutrons. The result's phase space 1.5 < p_∥ < 20 GeV/c, p_T < 2.5 GeV/c is that of its
  binning: events outside every bin are not counted. The 12 bins with zero cross section and
  zero covariance (11 wholly outside θ_μ < 20°, one open only in a sliver p_T < 1.274 GeV/c at
  p_∥ < 3.5 GeV/c) are not shipped: with them the covariance is singular, and a χ² over them is
  undefined.

Mesons and heavy baryons are recognised from the PDG numbering scheme (PDG Review, "Monte Carlo
particle numbering scheme"): a hadron code ±n_r n_L n_q1 n_q2 n_q3 n_J is a meson when n_q1 = 0
and n_q2, n_q3 ≠ 0 (e.g. 111, 211, 130, 310, 321, 221, 331, 421), a baryon when n_q1, n_q2, n_q3
≠ 0, and a heavy baryon when its heaviest quark n_q1 ≥ 3 (s, c, b: Λ 3122, Σ 3222, Λ_c 4122);
nuclei (10LZZZAAAI) and leptons are neither.

**Per nucleon of CH.** The T2K 2016 and MINERvA results are per nucleon of CH (13 nucleons per
CH unit): σ_CH/13 = (12/13)·(σ_C/12) + σ_H/13. A νμ CC interaction on a free proton (νμ p → μ⁻ X)
leaves X with charge +2 and baryon number 1, so X always holds a positive meson (π⁺ in all but
Cabibbo-suppressed ΔS = 1 channels, νμ p → μ⁻ K⁺ p); hydrogen adds no MINERvA QE-like event and
a negligible T2K CC0π one. Events on ¹²C with weights per carbon nucleon are therefore scaled by
12/13 (``"nucleons_per_molecule": 13`` in ``measurement.json``); a file of the whole CH target (¹²C
and ¹H events, e.g. a NUISANCE flat tree of NEUT or GENIE on CH), whose weights are per nucleon of
CH already, is taken as it is, its hydrogen events going through the same signal selection.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from aiva.errors import AivaInputError
from aiva.events.particles import ParticleList
from aiva.events.select import is_cc
from aiva.events.table import EventTable

log = logging.getLogger(__name__)

PIONS = (211, -211, 111)
#: cos 20°: MINERvA's muon acceptance (θ_μ < 20°, PRD 99, 012004)
COS_20_DEG = float(np.cos(np.deg2rad(20.0)))
#: photons above this energy [GeV] are not de-excitation photons (NUISANCE isCC0pi_MINERvAPTPZ)
PHOTON_E_MAX = 0.010


def is_meson(pdg: np.ndarray) -> np.ndarray:
    """True for meson PDG codes (n_q1 = 0, n_q2 and n_q3 ≠ 0; PDG numbering scheme)."""
    a = np.abs(np.asarray(pdg, dtype=np.int64))
    hadron = (a >= 100) & (a < 1_000_000_000)
    return hadron & ((a // 1000) % 10 == 0) & ((a // 100) % 10 > 0) & ((a // 10) % 10 > 0)


def is_heavy_baryon(pdg: np.ndarray) -> np.ndarray:
    """True for baryons with a strange, charm or bottom quark (n_q1 ≥ 3; PDG numbering scheme)."""
    a = np.abs(np.asarray(pdg, dtype=np.int64))
    hadron = (a >= 1000) & (a < 1_000_000_000)
    q1, q2, q3 = (a // 1000) % 10, (a // 100) % 10, (a // 10) % 10
    return hadron & (q1 >= 3) & (q2 > 0) & (q3 > 0)


def _per_event(fsp: ParticleList, sel: np.ndarray) -> np.ndarray:
    """(n_events,) number of particles selected by the mask ``sel`` (m,)."""
    return np.bincount(fsp.event_index()[sel], minlength=fsp.n_events)


def _numu_cc(events: EventTable) -> np.ndarray:
    return is_cc(events) & (events["PDGnu"] == 14) & (events["PDGLep"] == 13)


def t2k_cc0pi(events: EventTable, fsp: ParticleList) -> np.ndarray:
    """T2K CC0π (PRD 93, 112012; PRD 101, 112004): νμ CC, no π±/π⁰ of any
    momentum, any number of nucleons."""
    return _numu_cc(events) & (fsp.count(PIONS) == 0)


def minerva_qelike(events: EventTable, fsp: ParticleList) -> np.ndarray:
    """MINERvA CCQE-like (PRD 99, 012004): νμ CC, exactly one μ⁻ and no μ⁺, θ_μ < 20°,
    no mesons, no heavy baryons, no photon above 10 MeV, any number of nucleons."""
    n_mum = fsp.count(13)
    n_mup = fsp.count(-13)
    n_bad = _per_event(fsp, is_meson(fsp.pdg) | is_heavy_baryon(fsp.pdg) | ((fsp.pdg == 22) & (fsp.E > PHOTON_E_MAX)))
    return _numu_cc(events) & (events["CosLep"] > COS_20_DEG) & (n_mum == 1) & (n_mup == 0) & (n_bad == 0)


SIGNALS: dict[str, Callable[[EventTable, ParticleList], np.ndarray]] = {
    "t2k-cc0pi": t2k_cc0pi,
    "minerva-qelike": minerva_qelike,
}


def no_particles_message(label: str, name: str) -> str:
    return (f"{label}: has no final-state particle lists: CC0π needs whole events (aiva simulate makes them, with "
            f"the hadrons after FSI; a NUISANCE flat tree or NuHepMC file with its final-state particles works too); "
            f"measurement {name!r} selects CC0π")


def final_state(events: EventTable, name: str, label: str = "events") -> ParticleList:
    """The events' final-state particle list, checked: one list per event, the outgoing lepton first."""
    fsp = events.particles.get("fsp")
    if fsp is None:
        raise AivaInputError(no_particles_message(label, name))
    if fsp.n_events != len(events):
        raise AivaInputError(f"{label}: particles 'fsp': {fsp.n_events} particle lists for {len(events)} events")
    has = fsp.counts > 0
    first = np.zeros(len(events), dtype=np.int64)
    first[has] = fsp.pdg[fsp.offsets[:-1][has]]
    bad = ~has | (first != events["PDGLep"])
    if bad.any():
        raise AivaInputError(f"{label}: particles 'fsp': {int(bad.sum())} of {len(events)} events do not list the "
                             "outgoing lepton (PDGLep) first; a final-state list starts with the lepton")
    return fsp


def signal_mask(events: EventTable, signal: str, name: str = "measurement", label: str = "events") -> np.ndarray:
    """(n_events,) True for the events of the ``signal`` topology (see the module docstring)."""
    if signal not in SIGNALS:
        raise AivaInputError(f"measurement {name!r}: unknown signal definition {signal!r}; known: {', '.join(SIGNALS)}")
    return SIGNALS[signal](events, final_state(events, name, label))


#: the nuclei (Z, A) of each compound a measurement can be per nucleon of
COMPOUNDS = {"CH": {(6, 12), (1, 1)}}


def is_whole_compound(events: EventTable, meta: dict) -> bool:
    """True when the events are those of the measurement's whole compound target (a CH file of
    another generator holds both ¹²C and ¹H events, its weights per nucleon of CH already)."""
    nuclei = COMPOUNDS.get(str(meta.get("per_nucleon_of")))
    if not nuclei or not meta.get("nucleons_per_molecule") or not len(events):
        return False
    za = {(int(z), int(a)) for z, a in np.unique(np.column_stack([events["tgtz"], events["tgta"]]), axis=0)}
    return len(za) > 1 and za <= nuclei


def _ch_scale(events: EventTable, meta: dict, label: str) -> float:
    """Weights per nucleon of the events' target → per nucleon of the measurement's compound
    (12/13 for ¹²C events and a CH measurement, 1 for a whole CH file; see the module docstring)."""
    nuc = meta.get("nucleons_per_molecule")
    if not nuc or is_whole_compound(events, meta):
        return 1.0
    norm = events.metadata.get("normalisation") or {}
    steps = events.metadata.get("selection") or []
    if any(str(s.get("filter", "")).startswith("--target") for s in steps) and not norm.get("per_nucleon_of"):
        raise AivaInputError(f"{label}: --target kept one nucleus of a compound target but the weights are still per "
                             f"nucleon of the whole file's target; give --nucleons {nuc} so that they are per nucleon "
                             f"of {meta.get('target')}")
    return float(events["tgta"][0]) / float(nuc)


def select_signal(events: EventTable, m, label: str = "events") -> EventTable:
    """The signal events of measurement ``m`` (a :class:`~aiva.measurements.core.Measurement` with
    ``meta["signal"]``), their weights per nucleon of the measurement's target; the numbers kept
    are recorded in ``metadata["signal"]``. A table without final-state particle lists is refused."""
    signal = m.meta.get("signal")
    if not signal:
        return events
    keep = signal_mask(events, str(signal), m.name, label)
    scale = _ch_scale(events, m.meta, label)
    out = events.select(keep)
    if scale != 1.0:
        out.columns["weight"] = out["weight"] * scale
    w = events["weight"]
    out.metadata["signal"] = {"definition": signal, "text": m.meta.get("signal_text"), "kept": int(keep.sum()),
                              "of": len(events), "weight_fraction": float(w[keep].sum() / w.sum()) if w.sum() else 0.0,
                              "weight_scale": scale, "per_nucleon_of": m.meta.get("per_nucleon_of")}
    log.info("%s: %s signal: %d of %d events, %.1f %% of the cross section%s", label, signal, int(keep.sum()),
             len(events), 100 * out.metadata["signal"]["weight_fraction"],
             f"; weights x {scale:.4f} (per nucleon of {m.meta.get('per_nucleon_of')})" if scale != 1.0 else "")
    return out
