"""Final-state topologies of whole events, in one place, for particle lists and for count arrays.

Two inputs are supported:

* a :class:`~aiva.events.particles.ParticleList` (e.g. ``table.particles["fsp"]``, the final
  state after FSI) — :func:`counts` turns it into per-event particle counts, with optional
  momentum thresholds per PDG code;
* count arrays given directly, e.g. the real NuWro files ``/work/shared/data/nuwro/*.npz``, which
  carry ``n_p n_n n_pip n_pim n_pi0`` after FSI (and no count of other mesons).

:func:`topology` gives boolean masks, :func:`fractions` their (weighted) fractions.

Definitions (the NUISANCE signal definitions, ``SignalDef::isCC0pi``/``isCC1pi`` with
``FitEvent::NumFSMesons``; P. Stowell et al., JINST 12 (2017) P01016), applied to the particles that
leave the nucleus after FSI, as the NuWro files' counts are:

* a **meson** is a final-state particle with 111 ≤ |PDG| ≤ 557 (NUISANCE ``NumFSMesons``): π, K, η,
  ρ, ω, D, ... **Mesons other than pions count as pions for the 0π and Nπ definitions** (a CC0π
  event has no meson at all; a kaon makes an event "CCNπ"-like, not CC0π), as in NUISANCE;
* ``CC0pi``: charged current and no meson;
* ``CC1pip`` / ``CC1pim`` / ``CC1pi0``: charged current, exactly one meson, and it is a π⁺ / π⁻ / π⁰
  (NUISANCE ``isCC1pi(event, nu, 211 | -211 | 111)``: one meson in total *and* one of that pion);
* ``CCNpi``: charged current and at least two mesons;
* ``0p`` / ``1p`` / ``2p+``: exactly zero / one / at least two protons (above threshold), whatever
  the rest of the event; ``CC0pi0p``, ``CC0pi1p``, ``CC0pi2p+`` are the CC0π events of each proton
  multiplicity (the T2K/MicroBooNE CC0πNp split).

Neutrons, photons, nuclear fragments and the outgoing lepton do not change the topology. With
``p_min`` (|p| thresholds in GeV per PDG code; a code's threshold applies to its antiparticle too
unless that has its own entry), particles below threshold are not counted — a 250 MeV/c proton
threshold makes a soft-proton event "0p". Count arrays carry no momenta: thresholds are the
producer's business there, and without an ``n_meson`` key other mesons are taken as absent (the
NuWro files count pions only).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from aiva.errors import AivaInputError
from aiva.events.particles import ParticleList

if TYPE_CHECKING:
    from aiva.events.table import EventTable

#: PDG codes of the named counts
PDG_COUNTS = {"n_p": 2212, "n_n": 2112, "n_pip": 211, "n_pim": -211, "n_pi0": 111, "n_gamma": 22}
CHARGED_LEPTONS = (11, 13, 15)
NEUTRINOS = (12, 14, 16)
#: NUISANCE FitEvent::NumFSMesons: 111 <= |pdg| <= 557
MESON_RANGE = (111, 557)
TOPOLOGIES = ("CC0pi", "CC1pip", "CC1pim", "CC1pi0", "CCNpi", "0p", "1p", "2p+", "CC0pi0p", "CC0pi1p", "CC0pi2p+")
#: count keys :func:`topology` needs (``n_meson`` is optional: other mesons, 0 when absent)
REQUIRED_COUNTS = ("n_p", "n_pip", "n_pim", "n_pi0")


def _thresholds(pdg: np.ndarray, p_min: dict[int, float] | None) -> np.ndarray:
    """(m,) |p| threshold of each particle [GeV] (0 where none)."""
    thr = np.zeros(len(pdg))
    if not p_min:
        return thr
    for code, v in p_min.items():
        if not (np.isfinite(v) and v >= 0):
            raise AivaInputError(f"p_min[{code}] = {v!r}: a momentum threshold must be >= 0 GeV")
    codes = {int(c): float(v) for c, v in p_min.items()}
    for c, v in codes.items():  # own code first, then the antiparticle inherits where it has no entry
        thr[pdg == c] = v
        if -c not in codes:
            thr[pdg == -c] = v
    return thr


def counts(plist: ParticleList, *, p_min: dict[int, float] | None = None) -> dict[str, np.ndarray]:
    """Per-event counts (int32 arrays of ``n_events``) of the particles of ``plist``:

    ``n_p`` (2212), ``n_n`` (2112), ``n_pip`` (211), ``n_pim`` (−211), ``n_pi0`` (111), ``n_meson``
    (other mesons, 111 ≤ |PDG| ≤ 557 but not a pion), ``n_gamma`` (22), ``n_lep`` (charged leptons),
    ``n_nu`` (neutrinos), ``n_other`` (everything else: hyperons, antinucleons, nuclei, the P.C.2
    remnant, ...). Particles with |p| ≤ ``p_min[pdg]`` GeV are not counted in any key."""
    pdg = plist.pdg
    if p_min:
        thr = _thresholds(pdg, p_min)
        keep = (plist.p > thr) | (thr == 0)
    else:
        keep = np.ones(len(pdg), dtype=bool)
    ev = plist.event_index()
    n = plist.n_events

    def count(sel: np.ndarray) -> np.ndarray:
        return np.bincount(ev[sel & keep], minlength=n).astype(np.int32)

    a = np.abs(pdg)
    named = np.zeros(len(pdg), dtype=bool)
    out: dict[str, np.ndarray] = {}
    for key, code in PDG_COUNTS.items():
        sel = pdg == code
        out[key] = count(sel)
        named |= sel
    meson = (a >= MESON_RANGE[0]) & (a <= MESON_RANGE[1]) & ~np.isin(pdg, (211, -211, 111))
    lep, nu = np.isin(a, CHARGED_LEPTONS), np.isin(a, NEUTRINOS)
    out["n_meson"] = count(meson)
    out["n_lep"] = count(lep)
    out["n_nu"] = count(nu)
    out["n_other"] = count(~(named | meson | lep | nu))
    return out


def topology(counts: dict, *, cc: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Boolean masks of the topologies :data:`TOPOLOGIES` (definitions in the module docstring)
    from per-event counts (from :func:`counts`, or arrays such as the NuWro files' ``n_p``,
    ``n_pip``, ``n_pim``, ``n_pi0``). ``cc``: per-event charged-current flags (default: every
    event is CC, as aiva's tables are)."""
    missing = [k for k in REQUIRED_COUNTS if k not in counts]
    if missing:
        raise AivaInputError(f"topology needs the counts {', '.join(REQUIRED_COUNTS)}; missing {', '.join(missing)}")
    c = {k: np.asarray(counts[k]) for k in REQUIRED_COUNTS}
    n = len(c["n_p"])
    if any(len(v) != n for v in c.values()):
        raise AivaInputError("topology: count arrays have different lengths")
    other = np.asarray(counts["n_meson"]) if "n_meson" in counts else np.zeros(n, dtype=np.int32)
    is_cc = np.ones(n, dtype=bool) if cc is None else np.asarray(cc, dtype=bool)
    if len(is_cc) != n or len(other) != n:
        raise AivaInputError("topology: cc or n_meson has a different length from the counts")
    n_meson = c["n_pip"] + c["n_pim"] + c["n_pi0"] + other
    np_ = c["n_p"]
    cc0pi = is_cc & (n_meson == 0)
    return {
        "CC0pi": cc0pi,
        "CC1pip": is_cc & (n_meson == 1) & (c["n_pip"] == 1),
        "CC1pim": is_cc & (n_meson == 1) & (c["n_pim"] == 1),
        "CC1pi0": is_cc & (n_meson == 1) & (c["n_pi0"] == 1),
        "CCNpi": is_cc & (n_meson >= 2),
        "0p": np_ == 0,
        "1p": np_ == 1,
        "2p+": np_ >= 2,
        "CC0pi0p": cc0pi & (np_ == 0),
        "CC0pi1p": cc0pi & (np_ == 1),
        "CC0pi2p+": cc0pi & (np_ >= 2),
    }


def table_counts(table: EventTable, *, name: str = "fsp", p_min: dict[int, float] | None = None
                 ) -> dict[str, np.ndarray]:
    """:func:`counts` of a table's particle list ``name`` (default the final state after FSI);
    :class:`AivaInputError` if the table has no particle lists (lepton-only tables: their
    topology is unknown, not 0π 0p)."""
    if name not in table.particles:
        have = ", ".join(table.particles) or "none"
        raise AivaInputError(f"the events carry no particle list {name!r} (lists: {have}): aiva's generative "
                             "models and lepton-only files give no hadronic final state, so no topology")
    return counts(table.particles[name], p_min=p_min)


def fractions(table_or_counts, weights: np.ndarray | None = None, *, cc: np.ndarray | None = None,
              p_min: dict[int, float] | None = None) -> dict[str, float]:
    """Fraction of events (Σ weight of the topology / Σ weight) of each topology.

    ``table_or_counts``: an :class:`~aiva.events.EventTable` with particle lists (its final-state
    list ``"fsp"``, CC flags from :func:`aiva.events.select.is_cc`, weights from its ``weight``
    column when ``weights`` is None) or a dict of count arrays (unit weights unless given).
    Fractions of a weighted sample are Σ w over the topology / Σ w over all events."""
    from aiva.events.table import EventTable

    if isinstance(table_or_counts, EventTable):
        from aiva.events.select import is_cc

        table = table_or_counts
        c = table_counts(table, p_min=p_min)
        cc = is_cc(table) if cc is None else cc
        if weights is None and "weight" in table.columns:
            weights = table["weight"]
    else:
        if p_min:
            raise AivaInputError("p_min needs particle momenta; count arrays carry none")
        c = table_or_counts
    masks = topology(c, cc=cc)
    n = len(next(iter(masks.values())))
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    if len(w) != n:
        raise AivaInputError(f"weights: {len(w)} values for {n} events")
    total = float(w.sum())
    if not (np.isfinite(total) and total > 0):
        raise AivaInputError(f"weights sum to {total!r}: no fractions")
    return {k: float(w[m].sum() / total) for k, m in masks.items()}
