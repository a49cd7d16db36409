"""Whole events: the particles of accepted candidates, at the primary vertex and after FSI.

For each accepted event the channel gives, in the lab frame (beam along +z, GeV), the lepton
momentum k′, the struck nucleon's 4-momentum P (energy off shell) and the hadronic invariant
mass W. The hadronic system P_had = k + P − k′ (W² = P_had²) becomes primary hadrons by channel:

* QE: the nucleon P_had (:func:`aiva.mc.hadrons.qe_nucleon`);
* Δ (RES): N π by the NEUT mode the channel drew (:func:`aiva.mc.hadrons.delta_decay`);
* DIS: KNO-type multiplicities at low W, PYTHIA 8 strings above (:func:`aiva.mc.hadronise.hadronise`);
* 2p2h and coherent π: the channel's own hadrons (two nucleons; one pion).

All primary hadrons start at one interaction point drawn from the nuclear density and go through
the intranuclear cascade (:func:`aiva.mc.cascade.run_cascade`), except the coherent pion (the
nucleus stays in its ground state, as in NuWro and GENIE). With ``fsi=False`` the final state is
the primary vertex. The lepton is the first particle of both lists.

Randomness: the hadron stage has its own generator (its seeds are spawned apart from the lepton's),
so the lepton columns of a sample do not depend on whether whole events are made.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from aiva.events.particles import ParticleList
from aiva.mc.channels import Candidates
from aiva.physics.targets import Probe, Target

log = logging.getLogger(__name__)


@dataclass
class WholeEvents:
    vert: ParticleList  #: primary vertex, lepton first
    fsp: ParticleList  #: final state after FSI, lepton first
    stats: dict  #: counts from the hadron and cascade stages (for the metadata)


def lepton_list(c: Candidates, lepton_pdg: np.ndarray) -> ParticleList:
    assert c.pl is not None
    return ParticleList.from_fixed(lepton_pdg, np.vstack([c.El[None, :], c.pl]))


def _k_and_kprime(E: np.ndarray, c: Candidates) -> tuple[np.ndarray, np.ndarray]:
    """The neutrino (beam along +z) and lepton four-momenta (4, n)."""
    assert c.pl is not None
    return np.vstack([E[None, :], np.zeros((2, len(E))), E[None, :]]), np.vstack([c.El[None, :], c.pl])


def primary_hadrons(channel: str, E: np.ndarray, c: Candidates, probe: Probe, rng) -> ParticleList:
    """Primary hadrons of the accepted candidates ``c`` of one channel."""
    if c.hadrons is not None:
        return c.hadrons
    n = len(E)
    if n == 0:
        return ParticleList.empty(0)
    assert c.P is not None and c.hit_p is not None
    k, kp = _k_and_kprime(E, c)
    P_had = k + c.P - kp  # the hadronic system, invariant mass W
    nc = channel.startswith("nc")
    if channel in ("qe", "ncel"):
        from aiva.mc.hadrons import qe_nucleon

        final_p = c.hit_p if nc else np.full(n, not probe.is_antineutrino)
        return qe_nucleon(P_had, final_p)
    q = k - kp
    if channel in ("res", "ncres"):
        from aiva.mc.hadrons import delta_decay

        return delta_decay(P_had, c.mode, q, rng)
    if channel in ("dis", "ncdis"):
        from aiva.mc.hadronise import hadronise

        # the string (and the KNO leading baryon's x_F) along q in the hadronic rest frame
        return hadronise(P_had, c.W, c.hit_p, probe.pdg, "nc" if nc else "cc", rng, q=q)
    raise ValueError(f"channel {channel!r} gives no hadrons")


#: formation time c·τ₀ [fm] of hadrons from hadronisation: GENIE's hA/hN value (ct0 = 0.342 fm;
#: formation length L = c·τ₀ · |p|/m in the lab, T. Golan et al., PRC 86 (2012) 015505 Sec. II.D
#: discusses the same "SKAT" form for NuWro)
FORMATION_CT0_FM = 0.342


def _formation_start(plist: ParticleList, hadronised: np.ndarray, vertex: np.ndarray) -> np.ndarray:
    """(3, m) start points: the vertex, moved by the formation length L = c·τ₀ |p|/m along the
    momentum for hadrons made by hadronisation (DIS/KNO/PYTHIA; QE, Δ and 2p2h hadrons start at
    the vertex). A hadron formed outside the nucleus leaves it untouched."""
    x = vertex[:, plist.event_index()].copy()
    if hadronised.any():
        p = plist.p[hadronised]
        m = np.maximum(np.sqrt(np.maximum(plist.E[hadronised] ** 2 - p ** 2, 0.0)), 1e-3)  # ParticleList.mass
        L = FORMATION_CT0_FM * p / m
        x[:, hadronised] += L * np.vstack([plist.px[hadronised], plist.py[hadronised],
                                           plist.pz[hadronised]]) / np.maximum(p, 1e-300)
    return x


def _inside_the_well(plist: ParticleList, target: Target) -> ParticleList:
    """Vertex nucleons in the cascade's convention: the vertex already took the binding ε_B from the
    struck nucleon (E = √(M² + p²) − ε_B), while the cascade's nucleons move in a well of depth
    V = T_F + S and lose V at the exit (:func:`aiva.mc.cascade.well_depth`). Each primary nucleon
    enters with E + V (|p| rescaled on shell, same direction), so one that meets nothing leaves
    with exactly its vertex four-momentum and the binding is not counted twice."""
    from aiva.mc.cascade import well_depth

    V = well_depth(target)
    nuc = (plist.pdg == 2212) | (plist.pdg == 2112)
    if V <= 0 or not nuc.any():
        return plist
    E = plist.E.copy()
    p_old = plist.p[nuc]
    m2 = np.maximum(plist.E[nuc] ** 2 - p_old ** 2, 0.0)
    E[nuc] += V
    scale = np.ones_like(E)
    scale[nuc] = np.sqrt(np.maximum(E[nuc] ** 2 - m2, 0.0)) / np.maximum(p_old, 1e-300)
    return ParticleList(plist.counts, plist.pdg, E, plist.px * scale, plist.py * scale, plist.pz * scale)


def assemble(E: np.ndarray, chans: tuple[str, ...], cands: list[Candidates | None],
             sel: list[np.ndarray], lepton_pdg: np.ndarray, target: Target, probe: Probe, rng,
             fsi: bool = True) -> WholeEvents:
    """Whole events of one chunk: ``cands[i]`` are channel ``chans[i]``'s accepted candidates for
    the events ``sel[i]`` (in that order)."""
    n = len(E)
    order = np.concatenate([s for s in sel]) if sel else np.zeros(0, np.int64)
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    leptons, hadrons, origin = [], [], []  # origin: each primary hadron's channel (index into chans)
    for i, (ch, c, s) in enumerate(zip(chans, cands, sel)):
        if c is None or len(s) == 0:
            continue
        leptons.append(lepton_list(c, lepton_pdg[s]))
        h = primary_hadrons(ch, E[s], c, probe, rng)
        hadrons.append(h)
        origin.append(np.full(len(h.pdg), i))
    lep = ParticleList.concatenate(leptons).take(inverse)
    prim = ParticleList.concatenate(hadrons)
    # reorder events, and each particle's channel with them
    chan_of = (np.concatenate(origin) if origin else np.zeros(0, np.int64))[prim.positions(inverse)]
    prim = prim.take(inverse)
    coh_mask = np.isin(chan_of, [i for i, ch in enumerate(chans) if ch in ("coh", "nccoh")])
    fz_mask = np.isin(chan_of, [i for i, ch in enumerate(chans) if ch in ("dis", "ncdis")])
    stats: dict = {}
    if fsi and target.is_nucleus:
        from aiva.mc.cascade import run_cascade, sample_vertex

        to_cascade = _inside_the_well(prim.filter(~coh_mask), target)
        vertex = sample_vertex(target, n, rng)
        start = _formation_start(to_cascade, fz_mask[~coh_mask], vertex)
        res = run_cascade(to_cascade, vertex, target, rng, start=start)
        final = ParticleList.merge([res.final, prim.filter(coh_mask)])
        stats = {k: int(v) for k, v in res.counts.items()}
    else:
        final = prim
    return WholeEvents(ParticleList.merge([lep, prim]), ParticleList.merge([lep, final]), stats)

