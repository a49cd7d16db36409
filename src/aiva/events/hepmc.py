"""NuHepMC 1.0 output and input (HepMC3 ASCII, plain or ``.gz``, through pyhepmc).

Specification: S. Gardiner, J. Isaacson, L. Pickering, "NuHepMC: A standardized event record
format for neutrino event generators", arXiv:2310.13211, and its living text, version 1.0.0
(github.com/NuHepMC/Spec, README.md). Item ids below (G.R.2, E.C.1, ...) are those of 1.0.

Writing (:func:`write_nuhepmc`)
-------------------------------
Run info: version 1.0.0 (G.R.2); the tool aiva (G.R.3); ``NuHepMC.Conventions`` (G.R.4); the
flux-averaged total cross section, FATX, for *every* run (G.R.5 through G.C.2; for a
fixed-energy run FATX = σ(E)); cross sections in the reserved units ``"pb"`` ``"PerAtom"``
(G.R.6, the spec's recommendation; ``"PerNucleon"`` if the table mixes targets); the weight
``"CV"`` (G.R.7); process, vertex-status and particle-status tables (G.R.8–G.R.10, with the
standard codes listed as G.S.2 suggests); the beam (G.C.4: ``MonoEnergetic`` or ``Histogram``,
``"GEV"``); provenance (G.S.1: model name and SHA-256, flux, seeds) under
``NuHepMC.Provenance.aiva.*``. Each event: event number (E.R.2), ``signal_process_id`` (E.R.3)
from the E.C.1 ranges (CC in X00–X49; events without a channel label get 700, "other"), GeV/mm
(E.R.4), ``lab_pos`` = [0, 0, 0] (E.R.5), one primary vertex (status 1, E.R.6, V.R.1) with the
beam (status 4) and the target nucleus at rest (status 20, code 10LZZZAAAI) in (E.R.7), the
lepton (status 1) and one P.C.2 nuclear-remnant pseudoparticle (2009900000, status 1) carrying
the four-momentum balance out: aiva's generative models give the lepton only, so the hadronic
system is not simulated (E.R.8 asks for every *simulated* particle).

Whole events (a table with ``particles``, :mod:`aiva.events.particles`) are written with every
particle (E.R.8). An event whose final state ``"fsp"`` equals its primary-vertex list ``"vert"``
(no FSI, ``--no-fsi``, or no ``"vert"`` list) has one primary vertex (V.R.1 status 1) from which
the final-state particles (P.R.1 status 1) and the P.C.2 remnant leave. Otherwise the primary
vertex emits the lepton (status 1) and the pre-FSI particles with aiva's generator-dependent
status 22 ("PreFSI", P.R.1 range 21–200, declared per G.R.10) and the residual nucleus as a P.C.2
pseudoparticle with status 23 ("ResidualNucleusPreFSI"); these enter one FSI summary vertex
(V.R.1 status 2), which emits the hadrons of the final state (status 1) and the remnant after FSI
(P.C.2, status 1). Four-momentum is conserved at each vertex (the remnants carry the balance;
the nucleus is at rest with mass A·u). The status tables (G.R.9, G.R.10) list every code used,
standard ones included (G.S.2). A table with an ``"init"`` list (NUISANCE ``ninitp``: the probe,
then the struck nucleons) gets the struck nucleons as P.C.1 particles (status 21) leaving a V.C.1
bound-nucleon separation vertex (status 21) fed by the target, with the spectator nucleus as a
P.C.2 pseudoparticle (status 1, or 23 into the FSI vertex); P.C.1 and V.C.1 are then signalled
(the beam always comes from ``Enu_true``). The run attribute
``NuHepMC.Provenance.aiva.ParticleLists`` names the lists written (absent: lepton only).
``tot_xs`` (E.C.2) is written where σ(E)
is known from the table's metadata (reference MC tables, model cards), ``proc_xs`` (E.C.3) only
for single-process runs. The lepton azimuth φ is drawn uniformly from a NumPy ``Generator``
seeded with ``seed`` (argument, else the table's ``metadata['seed']``, else 0), on its own
stream ``default_rng([seed, 0x4E48])``: same table and seed, same bytes.

CV weights: flux-folded tables carry ``weight`` (10⁻³⁸ cm²/nucleon per event) and are written
as w/⟨w⟩; uniform-energy samples (not flux-folded) get w ∝ σ(E_i) when σ(E) is known, so that
together with FATX = ⟨σ⟩ they describe a flat flux; fixed-energy samples have w = 1.

Reading (:func:`read_nuhepmc`)
------------------------------
Files of aiva, NuWro (nuwro2hepmc3), NEUT, GENIE and GiBUU, 1.0 or pre-1.0 names (``ProcID``,
``LabPos``, ``PerTargetNucleon``, target status 11). Units are converted to GeV. Per event:
the primary vertex (status 1, E.R.6), the beam (status 4) and the target (status 20; 11 in
drafts), E.R.7. The process id (``signal_process_id``, else legacy ``ProcID``) says CC or NC by
the E.C.1 blocks when the file claims E.C.1, else by the final state. The lepton of a CC event
is the charged lepton of the beam's flavour among the primary vertex's outgoing particles
(documentation copies, status 3, included: NuWro writes the hard-scatter lepton there and its
final-state copy on the FSI vertex); if the primary vertex has none, the most energetic
final-state (status 1) one anywhere in the event. NC events have no charged lepton: they are
skipped and counted in ``metadata['nuhepmc']['dropped']['nc']`` (aiva's tables are CC). The
particle lists: ``"fsp"`` = every status-1 particle but the P.C.2 remnant, ``"vert"`` = what
leaves the primary vertex but the remnant, given when the file has secondary (FSI) vertices,
``"init"`` = the beam and the struck nucleons (status 21) entering the primary vertex, given when
some event has one, or, for aiva's own files, as their ``ParticleLists`` attribute says (an aiva file without it is
lepton-only and gets no lists: its remnant is no 0π final state); the lepton leads each event. The
NEUT-like ``Mode`` comes from NEUT's own ``neutmode=`` descriptions, aiva's own table, or the
E.C.1 ranges (QE 1, MEC 2, RES 11, SIS 21, DIS 26, coherent 16 by name); else 0, counted.

Normalisation: with FATX from G.C.2 (or the last event's E.C.4 ``GenCrossSection``), the
``weight`` column is the cross section per event in **10⁻³⁸ cm² per nucleon**,
``weight_i = FATX · w_i / Σ_all w`` (Σ over *all* events read, NC included, so that the kept
CC events sum to their share of FATX), converted from ``pb``/``10-38 cm2``/``cm2`` and from
per atom to per nucleon with the target's A. ``metadata['nuhepmc']`` keeps FATX, its unit and
target scale, Σw and the number of events (:func:`nuhepmc_xsec_weights` recomputes weights).
Every anomaly is an :class:`~aiva.errors.EventFileError` naming file, event and attribute.
"""
from __future__ import annotations

import gzip
import os
import re
from pathlib import Path
from typing import Any
from collections.abc import Callable

import numpy as np

from aiva.errors import EventFileError
from aiva.events.particles import ParticleList, lepton_first, same_events
from aiva.events.table import EventTable, lepton_momenta
from aiva.physics.constants import ATOMIC_MASS_UNIT
from aiva.physics.targets import nuclear_pdg
from aiva.utils import atomic_path

NUHEPMC_VERSION = (1, 0, 0)
#: NEUT mode (absolute value) -> NuHepMC process ID (E.C.1 blocks), name, description.
PROCESSES = {
    1: (200, "CCQE", "charged-current quasielastic (Llewellyn Smith, Phys. Rep. 3 (1972) 261)"),
    2: (300, "CC2p2h", "charged-current two-nucleon knockout, empirical (aiva docs/physics.md)"),
    11: (400, "CCRES p pi+", "charged-current Delta(1232) production (isobar model, LPP06 form factors)"),
    12: (401, "CCRES p pi0", "charged-current Delta(1232) production (isobar model, LPP06 form factors)"),
    13: (402, "CCRES n pi+", "charged-current Delta(1232) production (isobar model, LPP06 form factors)"),
    21: (500, "CC multi-pi", "charged-current shallow inelastic, W below the DIS region"),
    26: (600, "CCDIS", "charged-current deep inelastic (Bodek-Yang, arXiv:hep-ex/0308007)"),
    16: (701, "CC coherent pi", "charged-current coherent pion production (Berger-Sehgal, PRD 79 (2009) 053003)"),
    51: (250, "NC elastic p", "neutral-current elastic on a proton (Llewellyn Smith with NC form factors)"),
    52: (251, "NC elastic n", "neutral-current elastic on a neutron (Llewellyn Smith with NC form factors)"),
    31: (450, "NCRES n pi0", "neutral-current Delta(1232) production, n pi0"),
    32: (451, "NCRES p pi0", "neutral-current Delta(1232) production, p pi0"),
    33: (452, "NCRES p pi-", "neutral-current Delta(1232) production, p pi-"),
    34: (453, "NCRES n pi+", "neutral-current Delta(1232) production, n pi+"),
    41: (550, "NC multi-pi", "neutral-current shallow inelastic, W below the DIS region"),
    46: (650, "NCDIS", "neutral-current deep inelastic (Bodek-Yang structure functions with NC couplings)"),
    36: (751, "NC coherent pi0", "neutral-current coherent pi0 production (Berger-Sehgal)"),
    0: (700, "CC inclusive (unlabelled)", "charged-current event of a generative model without a channel label"),
}
_MODE_OF_PROC = {v[0]: k for k, v in PROCESSES.items()}
#: E.C.1 block (id // 100) -> NEUT mode for CC; NC adds the NEUT NC codes.
_CC_MODE = {2: 1, 3: 2, 4: 11, 5: 21, 6: 26}
_NC_MODE = {2: 51, 4: 31, 5: 41, 6: 46}
STATUS_PRIMARY_VERTEX = 1  # V.R.1
STATUS_FSI_VERTEX = 2  # V.R.1: FSI summary vertex
VERTEX_STATUS = {STATUS_PRIMARY_VERTEX: ("PrimaryVertex", "the primary interaction"),
                 STATUS_FSI_VERTEX: ("FSISummaryVertex", "final-state interactions of the hadrons in the nucleus, "
                                                         "in one summary vertex")}
#: particle status codes: P.R.1 standard codes (1, 4, 20) and aiva's generator-dependent codes (21-200)
STATUS_FINAL, STATUS_BEAM, STATUS_TARGET = 1, 4, 20
STATUS_SEPARATION_VERTEX = 21  # V.C.1: bound-nucleon separation vertex
STATUS_STRUCK = 21  # P.C.1: the struck (bound) nucleon
STATUS_PRE_FSI = 22  # generator-dependent (P.R.1): a primary-vertex particle that then undergoes FSI
STATUS_RESIDUAL = 23  # generator-dependent (P.R.1): a residual nucleus entering the FSI vertex
PARTICLE_STATUS = {STATUS_FINAL: ("UndecayedPhysical", "outgoing final-state particle"),
                   STATUS_BEAM: ("IncomingBeam", "the incoming neutrino"),
                   STATUS_TARGET: ("Target", "the target nucleus")}
PARTICLE_STATUS_FSI = {STATUS_PRE_FSI: ("PreFSI", "particle made at the primary vertex, before final-state "
                                                  "interactions: enters the FSI summary vertex (status 2)"),
                       STATUS_RESIDUAL: ("ResidualNucleusPreFSI", "P.C.2 pseudoparticle: the nucleus left by the "
                                                                  "primary interaction, entering the FSI summary vertex")}
VERTEX_STATUS_STRUCK = {STATUS_SEPARATION_VERTEX: ("NucleonSeparation", "V.C.1: the target nucleus gives up the "
                                                                        "struck nucleon")}
PARTICLE_STATUS_STRUCK = {STATUS_STRUCK: ("StruckNucleon", "P.C.1: the bound nucleon struck by the neutrino")}
REMNANT_PDG = 2009900000  # P.C.2
#: G.R.6 cross-section units -> factor to 10⁻³⁸ cm² ("1e-38 cm2" is a pre-1.0 spelling).
XS_UNITS = {"pb": 100.0, "10-38 cm2": 1.0, "1e-38 cm2": 1.0, "cm2": 1e38}
PER_ATOM = ("PerAtom", "PerTargetAtom", "PerTarget")
PER_NUCLEON = ("PerNucleon", "PerTargetNucleon", "PerTargetMolecularNucleon")


# ----------------------------------------------------------------------------------- helpers
def _s(x: Any) -> str:
    """Text of a pyhepmc attribute (UnparsedAttribute or a Python value)."""
    return str(x.astype(str)) if hasattr(x, "astype") else str(x)


def _num(x: float) -> str:
    return repr(float(x))  # shortest exact round trip (pyhepmc writes doubles with 15 digits)


def _za_from_pdg(pdg: int) -> tuple[int, int]:
    if pdg == 2212:
        return 1, 1
    if pdg == 2112:
        return 0, 1
    return (pdg // 10_000) % 1000, (pdg // 10) % 1000


def open_text(path: Path):
    """Text lines of a plain or gzip-compressed file."""
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt", errors="replace") if gz else open(path, errors="replace")


def scan_listing(path: Path) -> int:
    """Check the HepMC3 ASCII framing before pyhepmc (which stops silently on damage): header
    lines, one ``U`` units line per event (E.R.4), the end marker. Returns the number of events."""
    n, event, units, tail = 0, "?", True, ""
    head: list[str] = []
    with open_text(path) as f:
        for line in f:
            if len(head) < 2:
                head.append(line.strip())
                continue
            if line.startswith("E "):
                if n and not units:
                    raise EventFileError(str(path), f"event {event}: no 'U' units line (NuHepMC E.R.4)")
                n, units, event = n + 1, False, (line.split() + ["?"])[1]
            elif line.startswith("U "):
                units = True
            elif n == 0 and line.startswith("A ") and len(line.rstrip("\n").split(" ")) < 3:  # no value separator
                raise EventFileError(str(path), f"run-info attribute '{line.split()[1]}' has no value "
                                                "(HepMC3 cannot parse the run info)")
            if line.strip():
                tail = line.strip()
    if len(head) < 2 or not head[0].startswith("HepMC::Version") or head[1] != "HepMC::Asciiv3-START_EVENT_LISTING":
        raise EventFileError(str(path), "not a HepMC3 ASCII file (no 'HepMC::Version' and "
                                        "'HepMC::Asciiv3-START_EVENT_LISTING' header)")
    if n == 0:
        raise EventFileError(str(path), "no events")
    if n and not units:
        raise EventFileError(str(path), f"event {event}: no 'U' units line (NuHepMC E.R.4)")
    if tail != "HepMC::Asciiv3-END_EVENT_LISTING":
        raise EventFileError(str(path), f"file ends inside event {event} without 'HepMC::Asciiv3-END_EVENT_LISTING' "
                                        "(truncated?)")
    return n


# ----------------------------------------------------------------------------------- writing
def _run_xsec(table: EventTable, explicit: float | None, path: Path,
              curve: Callable[[np.ndarray], np.ndarray] | None):
    """(FATX per nucleon, relative CV weights, σ_tot(E_i) per nucleon or None, how)."""
    meta, E, n = table.metadata, table["Enu_true"], len(table)
    sig = None
    if curve is not None:
        try:
            sig = np.asarray(curve(E), float)
            sig = sig if np.all(np.isfinite(sig)) and np.all(sig > 0) else None
        except Exception:
            sig = None
    fixed = bool(np.all(E == E[0]))
    xs = meta.get("xsec_1e-38cm2") or {}
    fatx: float | None
    if "weight" in table.columns:
        w = np.asarray(table["weight"], float)
        fatx = explicit if explicit is not None else (
            float(meta["flux_averaged_xsec"]["per_nucleon"]) if "flux_averaged_xsec" in meta
            else float(xs["total_per_nucleon"]) if "total_per_nucleon" in xs else float(w.sum()))
        return fatx, w / w.mean(), sig, "flux-folded weighted events"
    if fixed:
        fatx = explicit if explicit is not None else (
            float(xs["total_per_nucleon"]) if "total_per_nucleon" in xs else float(sig[0]) if sig is not None else None)
        how = f"mono-energetic: FATX = sigma({E[0]:g} GeV)"
        w = np.ones(n)
    else:
        if sig is None and explicit is None:
            raise EventFileError(str(path), "energies are not fixed and not flux-folded, and sigma(E) is unknown: "
                                            "NuHepMC G.R.5 needs the flux-averaged cross section (add a 'weight' column "
                                            "in 1e-38 cm2/nucleon per event or pass flux_averaged_xsec)")
        w = sig / sig.mean() if sig is not None else np.ones(n)
        fatx = explicit if explicit is not None else (
            float(xs["total_per_nucleon"]) if "total_per_nucleon" in xs else float(np.mean(sig)))  # type: ignore
        how = "uniform energies: flat flux, CV weight proportional to sigma(E)"
    if fatx is None:
        raise EventFileError(str(path), "no cross section in the table's metadata: NuHepMC G.R.5 needs the "
                                        "flux-averaged cross section (pass flux_averaged_xsec)")
    return fatx, w, sig, how


def write_nuhepmc(table: EventTable, path: str | os.PathLike, *, flux_averaged_xsec: float | None = None,
                  seed: int | None = None, generator: str = "aiva", description: str = "",
                  sigma_curve: Callable[[np.ndarray], np.ndarray] | None = None,
                  flux_histogram: tuple[np.ndarray, np.ndarray] | None = None) -> Path:
    """Write ``table`` as a NuHepMC 1.0 file (``.hepmc3``; ``.hepmc3.gz`` compressed), atomically.

    ``flux_averaged_xsec``: ⟨σ⟩_Φ in 10⁻³⁸ cm² per nucleon, overriding the metadata (G.R.5,
    G.C.2); ``seed``: of the lepton azimuth (default ``metadata['seed']``, else 0);
    ``sigma_curve``: σ_tot(E) per nucleon [10⁻³⁸ cm²] for the per-event ``tot_xs`` (E.C.2) and the
    weights of uniform-energy samples; ``flux_histogram``: (edges, content) of the beam (G.C.4).
    Both come from the table's producer (:func:`aiva.mc.run.writer_options`,
    :func:`aiva.models.xsec.writer_options`): this module reads no model or Monte Carlo table."""
    import pyhepmc as hp

    from aiva._version import __version__

    path = Path(path)
    n = len(table)
    meta = table.metadata
    modes = np.abs(table["Mode"]).astype(int)
    unknown = sorted(set(np.unique(modes).tolist()) - set(PROCESSES))
    if unknown:
        raise EventFileError(str(path), f"no NuHepMC process ID for mode(s) {unknown}", column="Mode")
    fatx, cvw, sig, how = _run_xsec(table, flux_averaged_xsec, path, sigma_curve)
    A_all = np.unique(table["tgta"])
    per_atom = len(A_all) == 1
    A0 = int(A_all[0])
    to_file = (A0 if per_atom else 1.0) / XS_UNITS["pb"]  # 1e-38 cm2/nucleon -> pb per atom (or nucleon)
    seed = int(seed if seed is not None else meta.get("seed", 0) or 0)

    used = sorted({PROCESSES[m][0] for m in np.unique(modes).tolist()})
    fsp, vert, fsi = _event_lists(table, path)
    init = table.particles.get("init") if fsp is not None else None
    if init is not None:
        init.check(str(path), "init")
    struck = init is not None and bool(np.isin(init.pdg, (2212, 2112)).any())
    any_fsi = fsi is not None and bool(fsi.any())
    conventions = ["G.C.2", "G.C.4", "E.C.1", "P.C.2"] + (["E.C.2"] if sig is not None else []) \
        + (["E.C.3"] if sig is not None and len(used) == 1 else []) + (["P.C.1", "V.C.1"] if struck else [])
    run = hp.GenRunInfo()
    run.tools = [(generator, __version__, description or "aiva: AI for neutrino-nucleus scattering")]  # G.R.3
    run.weight_names = ["CV"]  # G.R.7
    a = run.attributes
    for key, v in zip(("Major", "Minor", "Patch"), NUHEPMC_VERSION):  # G.R.2
        a[f"NuHepMC.Version.{key}"] = v
    a["NuHepMC.Conventions"] = conventions  # G.R.4
    a["NuHepMC.FluxAveragedTotalCrossSection"] = _num(fatx * to_file)  # G.R.5, G.C.2
    a["NuHepMC.Units.CrossSection.Unit"] = "pb"  # G.R.6
    a["NuHepMC.Units.CrossSection.TargetScale"] = "PerAtom" if per_atom else "PerNucleon"
    a["NuHepMC.ProcessIDs"] = used  # G.R.8
    for pid, name, desc in PROCESSES.values():
        if pid in used:
            a[f"NuHepMC.ProcessInfo[{pid}].Name"] = name
            a[f"NuHepMC.ProcessInfo[{pid}].Description"] = desc
    vstat = {**{k: v for k, v in VERTEX_STATUS.items() if k == STATUS_PRIMARY_VERTEX or any_fsi},
             **(VERTEX_STATUS_STRUCK if struck else {})}
    pstat = {**PARTICLE_STATUS, **(PARTICLE_STATUS_FSI if any_fsi else {}),
             **(PARTICLE_STATUS_STRUCK if struck else {})}
    a["NuHepMC.VertexStatusIDs"] = sorted(vstat)  # G.R.9 (standard codes listed too, G.S.2)
    for sid, (name, desc) in vstat.items():
        a[f"NuHepMC.VertexStatusInfo[{sid}].Name"] = name
        a[f"NuHepMC.VertexStatusInfo[{sid}].Description"] = desc
    a["NuHepMC.ParticleStatusIDs"] = sorted(pstat)  # G.R.10 (standard codes listed too, G.S.2)
    for sid, (name, desc) in pstat.items():
        a[f"NuHepMC.ParticleStatusInfo[{sid}].Name"] = name
        a[f"NuHepMC.ParticleStatusInfo[{sid}].Description"] = desc
    a["NuHepMC.Beam.EnergyUnit"] = "GEV"  # G.C.4
    for pdg in np.unique(table["PDGnu"]).tolist():
        E = table["Enu_true"][table["PDGnu"] == pdg]
        if np.all(E == E[0]):
            a[f"NuHepMC.Beam[{pdg}].Type"] = "MonoEnergetic"
            a[f"NuHepMC.Beam[{pdg}].MonoEnergetic.Energy"] = _num(E[0])
        else:
            flux = flux_histogram if flux_histogram is not None else _flux_histogram(meta, E)
            a[f"NuHepMC.Beam[{pdg}].Type"] = "Histogram"
            a[f"NuHepMC.Beam[{pdg}].Histogram.BinEdges"] = " ".join(_num(x) for x in flux[0])
            a[f"NuHepMC.Beam[{pdg}].Histogram.BinContent"] = " ".join(_num(x) for x in flux[1])
            a[f"NuHepMC.Beam[{pdg}].Histogram.ContentIsPerWidth"] = 0
    a["NuHepMC.Beam.FluxUnit"] = "Arbitrary"
    prov = {"Producer": meta.get("producer"), "Model": meta.get("model"), "ModelSHA256": meta.get("model_sha256"),
            "Flux": (meta.get("flux") or {}).get("name"), "Seed": meta.get("seed"), "AzimuthSeed": seed,
            "AzimuthRNG": f"numpy.random.default_rng([{seed}, 0x4E48]).uniform(0, 2 pi)",
            "CrossSection": how, "MCVersion": meta.get("mc_version"),
            "ParticleLists": " ".join(k for k in ("fsp", "vert", "init") if k in table.particles) or None}
    for k, v in prov.items():  # G.S.1
        if v is not None:
            a[f"NuHepMC.Provenance.aiva.{k}"] = str(v)

    E, El = table["Enu_true"], table["ELep"]
    px, py, pz = lepton_momenta(table, [seed, 0x4E48])
    with atomic_path(path) as tmp:
        tmp_gz = tmp.with_name(tmp.name + ".gz") if path.suffix.lower() == ".gz" else tmp
        with hp.open(str(tmp_gz), "w") as f:
            for i in range(n):
                ev = hp.GenEvent(hp.Units.GEV, hp.Units.MM)  # E.R.4
                ev.run_info = run
                ev.event_number = i + 1  # E.R.2
                ev.weights = [float(cvw[i])]
                ev.attributes["signal_process_id"] = int(PROCESSES[modes[i]][0])  # E.R.3
                ev.attributes["lab_pos"] = "0 0 0"  # E.R.5
                if sig is not None:
                    ev.attributes["tot_xs"] = _num(sig[i] * to_file)  # E.C.2
                    if len(used) == 1:
                        ev.attributes["proc_xs"] = _num(sig[i] * to_file)  # E.C.3
                Z, A = int(table["tgtz"][i]), int(table["tgta"][i])
                lep = np.array([px[i], py[i], pz[i], El[i]]) if fsp is None else None
                _add_vertices(ev, i, float(E[i]), int(table["PDGnu"][i]), Z, A, int(table["PDGLep"][i]), lep,
                              fsp, vert, bool(fsi[i]) if fsi is not None else False, init)
                f.write(ev)
        if tmp_gz != tmp:
            os.replace(tmp_gz, tmp)
    return path


def _add_vertices(ev, i: int, Enu: float, pdg_nu: int, Z: int, A: int, pdg_lep: int, lep: np.ndarray | None,
                  fsp: ParticleList | None, vert: ParticleList | None, fsi: bool, init: ParticleList | None) -> None:
    """The vertices and particles of event ``i`` (layout in the module docstring)."""
    import pyhepmc as hp

    def particle(p4, code: int, status: int):
        return hp.GenParticle(tuple(map(float, p4)), int(code), status)

    M = A * ATOMIC_MASS_UNIT  # nucleus at rest; mass ≈ A·u (mass excess ignored)
    beam = np.array([0.0, 0.0, Enu, Enu])
    target = np.array([0.0, 0.0, 0.0, M])
    v = hp.GenVertex()
    v.status = STATUS_PRIMARY_VERTEX  # E.R.6
    v.add_particle_in(particle(beam, pdg_nu, STATUS_BEAM))  # E.R.7
    struck = _p4(init, i) if init is not None else np.zeros((0, 4))
    struck_pdg = init.event(i)["pdg"] if init is not None else np.zeros(0, np.int32)
    nucleon = np.isin(struck_pdg, (2212, 2112))  # the probe in "init" is the beam, written above
    struck, struck_pdg = struck[nucleon], struck_pdg[nucleon]
    spectator = None
    if len(struck):  # V.C.1: the nucleus gives up the struck nucleon(s) (P.C.1 status 21)
        vs = hp.GenVertex()
        vs.status = STATUS_SEPARATION_VERTEX
        vs.add_particle_in(particle(target, nuclear_pdg(Z, A), STATUS_TARGET))
        for q, code in zip(struck, struck_pdg):
            part = particle(q, code, STATUS_STRUCK)
            vs.add_particle_out(part)
            v.add_particle_in(part)
        spectator = _remnant(target - struck.sum(axis=0), STATUS_RESIDUAL if fsi else STATUS_FINAL)  # P.C.2
        vs.add_particle_out(spectator)
        ev.add_vertex(vs)
        total = beam + struck.sum(axis=0)  # into the primary vertex
    else:
        v.add_particle_in(particle(target, nuclear_pdg(Z, A), STATUS_TARGET))
        total = beam + target
    if fsp is None:  # lepton-only table: the hadronic system is not simulated
        assert lep is not None
        v.add_particle_out(particle(lep, pdg_lep, STATUS_FINAL))
        v.add_particle_out(_remnant(total - lep, STATUS_FINAL))  # P.C.2: hadrons and remnant
        ev.add_vertex(v)
        return
    if not fsi:  # no FSI: the primary vertex makes the final state
        out = _p4(fsp, i)
        for q, code in zip(out, fsp.event(i)["pdg"]):
            v.add_particle_out(particle(q, code, STATUS_FINAL))
        v.add_particle_out(_remnant(total - out.sum(axis=0), STATUS_FINAL))  # P.C.2
        ev.add_vertex(v)
        return
    # primary vertex -> pre-FSI particles -> FSI summary vertex (V.R.1 status 2) -> final state
    assert vert is not None
    pre, post = _p4(vert, i), _p4(fsp, i)
    pre_pdg, post_pdg = vert.event(i)["pdg"], fsp.event(i)["pdg"]
    # the lepton leaves the nucleus as it was made unless its lists differ
    through = bool(len(pre) and len(post) and pre_pdg[0] == post_pdg[0] and np.array_equal(pre[0], post[0]))
    v2 = hp.GenVertex()
    v2.status = STATUS_FSI_VERTEX
    for j, (q, code) in enumerate(zip(pre, pre_pdg)):
        part = particle(q, code, STATUS_FINAL if (j == 0 and through) else STATUS_PRE_FSI)
        v.add_particle_out(part)
        if not (j == 0 and through):
            v2.add_particle_in(part)
    residual = _remnant(total - pre.sum(axis=0), STATUS_RESIDUAL)  # P.C.2, internal
    v.add_particle_out(residual)
    v2.add_particle_in(residual)
    left = total - pre.sum(axis=0) + pre[int(through):].sum(axis=0) - post[int(through):].sum(axis=0)
    if spectator is not None:  # the spectator nucleus takes part in FSI too
        v2.add_particle_in(spectator)
        left = left + (target - struck.sum(axis=0))
    ev.add_vertex(v)
    for q, code in zip(post[int(through):], post_pdg[int(through):]):
        v2.add_particle_out(particle(q, code, STATUS_FINAL))
    v2.add_particle_out(_remnant(left, STATUS_FINAL))  # P.C.2: the nucleus after FSI
    ev.add_vertex(v2)


def _p4(plist: ParticleList, i: int) -> np.ndarray:
    """(k, 4) HepMC3-ordered (px, py, pz, E) of event i's particles."""
    a, b = plist.offsets[i], plist.offsets[i + 1]
    return np.column_stack([plist.px[a:b], plist.py[a:b], plist.pz[a:b], plist.E[a:b]])


def _remnant(p4: np.ndarray, status: int):
    """The P.C.2 nuclear-remnant pseudoparticle (2009900000) carrying the four-momentum balance."""
    import pyhepmc as hp

    return hp.GenParticle(tuple(map(float, p4)), REMNANT_PDG, status)


def _event_lists(table: EventTable, path: Path) -> tuple[ParticleList | None, ParticleList | None, np.ndarray | None]:
    """(final-state list, pre-FSI list, per-event "FSI changed the event") of a table; the final
    state is ``"fsp"`` (or ``"vert"`` alone when the table has no FSI stage), lepton first."""
    fsp, vert = table.particles.get("fsp"), table.particles.get("vert")
    if fsp is None and vert is None:
        return None, None, None
    if fsp is None:  # only the primary vertex's particles: no FSI was simulated
        fsp, vert = vert, None
    assert fsp is not None
    fsp.check(str(path), "fsp")
    fsp = lepton_first(fsp, table["PDGLep"])
    if vert is None:
        return fsp, None, None
    vert.check(str(path), "vert")
    vert = lepton_first(vert, table["PDGLep"])
    return fsp, vert, ~same_events(fsp, vert)


def _flux_histogram(meta: dict, E: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """G.C.4 histogram when the producer gave none: the flux's range of a flux-folded table as
    one bin, else the sampled range with one flat bin (uniform-energy samples)."""
    fl = meta.get("flux") or (meta.get("energy") or {}).get("flux")
    if fl:
        return np.array([fl["emin"], fl["emax"]]), np.array([1.0])
    uni = (meta.get("energy") or {}).get("uniform")
    lo, hi = (uni if uni else (float(E.min()), float(E.max())))
    return np.array([lo, hi]), np.array([1.0])


# ----------------------------------------------------------------------------------- reading
def _attr(attrs, key: str) -> str | None:
    return _s(attrs[key]) if key in attrs else None


def _process_modes(run_attrs, ids: list[int], tool_names: list[str]) -> dict[int, int]:
    """NuHepMC process id -> NEUT-like mode (unsigned; 0 = unknown)."""
    out = {}
    for pid in ids:
        desc = _attr(run_attrs, f"NuHepMC.ProcessInfo[{pid}].Description") or ""
        name = (_attr(run_attrs, f"NuHepMC.ProcessInfo[{pid}].Name") or "").lower()
        m = re.search(r"neutmode=(-?\d+)", desc)
        if m:
            out[pid] = abs(int(m.group(1)))
        elif "aiva" in tool_names and pid in _MODE_OF_PROC:
            out[pid] = _MODE_OF_PROC[pid]
        elif 100 <= pid < 200 and "coh" in name:
            out[pid] = 16 if pid % 100 < 50 else 36
        else:
            out[pid] = (_CC_MODE if pid % 100 < 50 else _NC_MODE).get(pid // 100, 0) if pid > 0 else 0
    return out


def _xs_to_1e38_per_nucleon(unit: str | None, scale: str | None, A: int) -> float | None:
    if unit not in XS_UNITS or scale not in PER_ATOM + PER_NUCLEON:
        return None
    return XS_UNITS[unit] / (A if scale in PER_ATOM else 1)


def read_nuhepmc(path: str | os.PathLike) -> EventTable:
    """Read a NuHepMC file (any generator; plain or ``.gz``) into an event table of CC events
    with a ``weight`` column in 10⁻³⁸ cm² per nucleon per event (see the module docstring)."""
    import pyhepmc as hp

    path = Path(path)
    f = str(path)
    n_listed = scan_listing(path)
    cols: dict[str, list] = {k: [] for k in ("Enu_true", "PDGnu", "tgta", "tgtz", "PDGLep", "ELep", "CosLep",
                                             "Mode", "cv")}
    cv_all: list[float] = []
    counts = {"mode_unmapped": 0, "process_id_not_declared": 0, "legacy_ProcID": 0}
    dropped = {"nc": 0}
    run_attrs: dict[str, str] = {}
    info: dict[str, Any] = {}
    last_xs = None
    n_read = 0
    parts_read: dict[str, list] = {"fsp": [], "vert": [], "secondary": [], "init": []}
    try:
        with hp.open(f) as fh:
            for ev in fh:
                n_read += 1
                num = ev.event_number
                if not info:
                    ri = ev.run_info
                    if ri is None:
                        raise EventFileError(f, "no GenRunInfo (NuHepMC G.R.1)")
                    ra = ri.attributes
                    run_attrs = {k: _s(ra[k]) for k in ra}
                    tools = [t.name for t in ri.tools]
                    ids = [int(x) for x in run_attrs.get("NuHepMC.ProcessIDs", "").split()]
                    names = list(ri.weight_names)
                    if "CV" not in names:
                        raise EventFileError(f, f"run info: no weight named 'CV' (NuHepMC G.R.7); weights {names}")
                    info = {"tools": tools, "ids": set(ids), "modes": _process_modes(ra, ids, tools),
                            "cv": names.index("CV"),
                            "ec1": "E.C.1" in run_attrs.get("NuHepMC.Conventions", "").split()}
                ev.set_units(hp.Units.GEV, hp.Units.MM)
                w = list(ev.weights)
                if len(w) <= info["cv"]:
                    raise EventFileError(f, f"event {num}: no 'CV' weight (NuHepMC G.R.7)")
                cv_all.append(float(w[info["cv"]]))
                if ev.cross_section is not None:  # E.C.4: the running estimate; the last one counts
                    last_xs = float(ev.cross_section.xsec(info["cv"]))
                key = "signal_process_id" if "signal_process_id" in ev.attributes else "ProcID"
                if key not in ev.attributes:
                    raise EventFileError(f, f"event {num}: no attribute 'signal_process_id' (NuHepMC E.R.3)")
                counts["legacy_ProcID"] += key == "ProcID"
                try:
                    proc = int(_s(ev.attributes[key]).split()[0])
                except (ValueError, IndexError):
                    raise EventFileError(f, f"event {num}: attribute '{key}' is not an integer") from None
                if proc not in info["ids"]:
                    counts["process_id_not_declared"] += 1
                row = _event_row(ev, proc, info, f, num)
                if row is None:
                    dropped["nc"] += 1
                    continue
                row["cv"] = cv_all[-1]
                for k, v in row.items():
                    cols[k].append(v)
                for name, got in zip(("fsp", "vert", "secondary", "init"), _event_particles(ev)):
                    parts_read[name].append(got)
                counts["mode_unmapped"] += row["Mode"] == 0
    except EventFileError:
        raise
    except Exception as exc:  # a structure pyhepmc cannot give us: one line, not a traceback
        raise EventFileError(f, f"event {n_read}: cannot be read ({type(exc).__name__}: {exc})") from None
    if n_read != n_listed:
        raise EventFileError(f, f"HepMC3 parsing stopped after {n_read} of {n_listed} events (damaged event)")
    if not cols["Enu_true"]:
        raise EventFileError(f, f"no charged-current events ({dropped['nc']} NC events skipped)")
    from aiva.events.table import OPTIONAL_COLUMNS, REQUIRED_COLUMNS

    dtypes = {**REQUIRED_COLUMNS, **OPTIONAL_COLUMNS}
    cv = np.asarray(cols.pop("cv"), float)
    data: dict[str, np.ndarray] = {k: np.asarray(v, dtype=dtypes[k]) for k, v in cols.items()}
    fatx_raw = run_attrs.get("NuHepMC.FluxAveragedTotalCrossSection")
    src = "G.C.2" if fatx_raw is not None else ("E.C.4" if last_xs is not None else None)
    nh = {"version": ".".join(run_attrs.get(f"NuHepMC.Version.{k}", "?") for k in ("Major", "Minor", "Patch")),
          "tools": info["tools"], "conventions": run_attrs.get("NuHepMC.Conventions", "").split(),
          "fatx": float(fatx_raw) if fatx_raw is not None else last_xs, "fatx_source": src,
          "xs_unit": run_attrs.get("NuHepMC.Units.CrossSection.Unit"),
          "target_scale": run_attrs.get("NuHepMC.Units.CrossSection.TargetScale"),
          "n_events": n_read, "sum_cv_weights": float(np.sum(cv_all)), "dropped": dropped, "counts": counts,
          "provenance": {k: v for k, v in run_attrs.items() if k.startswith("NuHepMC.Provenance.aiva.")}}
    lists = _particle_lists(parts_read, run_attrs, info["tools"], data["PDGLep"], f)
    nh["particle_lists"] = sorted(lists) or "none (lepton-only aiva file)"
    table = EventTable(data, {"producer": "NuHepMC file", "source": f, "nuhepmc": nh}, lists)
    wcol = nuhepmc_xsec_weights(table, cv)
    if wcol is not None:
        data["weight"] = wcol
        table = EventTable(data, table.metadata, lists)
        if len(np.unique(data["tgta"])) == 1:
            A = int(data["tgta"][0])
            table.metadata["flux_averaged_xsec"] = {
                "per_nucleon": float(wcol.sum()), "per_nucleus": float(wcol.sum()) * A, "unit": "1e-38 cm2",
                "source": f"NuHepMC FATX ({src}) times the kept events' share of the CV weights"}
        table.metadata["normalisation"] = {"unit": "1e-38 cm2 per nucleon",
                                           "flux_averaged_xsec_per_nucleon": float(wcol.sum()), "fatx_source": src}
    else:
        data["weight"] = cv
        table = EventTable(data, table.metadata, lists)
        nh["weight_note"] = "no usable FATX/units: 'weight' is the CV weight, not normalised"
        table.metadata["normalisation"] = {"unit": "relative", "sum_weight_all_entries": float(np.sum(cv_all)),
                                           "why": "no usable flux-averaged cross section (FATX) or units in the file"}
    if dropped["nc"]:
        table.metadata["dropped"] = {"NC events (no charged lepton; aiva's tables are CC)": int(dropped["nc"])}
    prov = nh["provenance"]
    if "NuHepMC.Provenance.aiva.Seed" in prov:
        table.metadata["seed"] = int(prov["NuHepMC.Provenance.aiva.Seed"])
    return table


def nuhepmc_xsec_weights(table: EventTable, cv: np.ndarray | None = None) -> np.ndarray | None:
    """Per-event cross section in 10⁻³⁸ cm² per nucleon, ``FATX · w_i / Σ_all w`` (Σ over all
    events of the file, from ``metadata['nuhepmc']``), with units (G.R.6) and per-atom → per-nucleon
    conversion by each event's target A. ``cv``: the CV weights of the table's events (default
    the table's ``weight`` column read as CV weights). None if FATX or its units are unusable."""
    nh = table.metadata.get("nuhepmc") or {}
    fatx, total = nh.get("fatx"), nh.get("sum_cv_weights")
    if fatx is None or not total:
        return None
    cv = np.asarray(table["weight"] if cv is None else cv, float)
    A = np.asarray(table["tgta"], float)
    f = np.array([_xs_to_1e38_per_nucleon(nh.get("xs_unit"), nh.get("target_scale"), int(a)) or np.nan for a in A])
    if not np.all(np.isfinite(f)):
        return None
    return float(fatx) * f * cv / float(total)


_NU = (12, 14, 16)


def _rows(parts) -> np.ndarray:
    """(k, 5) pdg, E, px, py, pz of pyhepmc particles."""
    return np.array([(q.pid, q.momentum.e, q.momentum.px, q.momentum.py, q.momentum.pz) for q in parts],
                    dtype=np.float64).reshape(-1, 5)


def _event_particles(ev) -> tuple[np.ndarray, np.ndarray, bool, np.ndarray]:
    """(final state, primary-vertex particles, has a secondary vertex, initial state) of one event:
    the final state is every undecayed physical particle (status 1, P.R.1) but the P.C.2 remnant;
    the primary-vertex list is what leaves the primary vertex (documentation copies included) but
    the remnant — before FSI when the event has an FSI vertex; the initial state is the beam and
    the struck nucleons (P.C.1 status 21) entering the primary vertex."""
    fsp = [q for q in ev.particles if q.status == STATUS_FINAL and q.pid != REMNANT_PDG]
    prim = [v for v in ev.vertices if v.status == STATUS_PRIMARY_VERTEX][0]
    vert = [q for q in prim.particles_out if q.pid != REMNANT_PDG]
    secondary = any(v.status not in (STATUS_PRIMARY_VERTEX, STATUS_SEPARATION_VERTEX) for v in ev.vertices)
    init = [q for q in prim.particles_in if q.status == STATUS_BEAM] + \
        [q for q in prim.particles_in if q.status == STATUS_STRUCK]
    return _rows(fsp), _rows(vert), secondary, _rows(init)


def _particle_lists(parts: dict[str, list], run_attrs: dict[str, str], tools: list[str], pdg_lep: np.ndarray,
                    f: str) -> dict[str, ParticleList]:
    """The particle lists of the kept events. aiva's own files say which lists they carry
    (``NuHepMC.Provenance.aiva.ParticleLists``; none: a lepton-only table, whose remnant
    pseudoparticle is not a hadronic final state); other generators' files give the final state,
    and the primary-vertex list when some event has a secondary (FSI) vertex."""
    if not parts["fsp"]:
        return {}
    declared = run_attrs.get("NuHepMC.Provenance.aiva.ParticleLists")
    if any(k.startswith("NuHepMC.Provenance.aiva.") for k in run_attrs):  # written by aiva (AzimuthSeed always)
        want = set((declared or "").split())
    else:
        want = {"fsp"} | ({"vert"} if any(parts["secondary"]) else set()) \
            | ({"init"} if any(len(r) > 1 for r in parts["init"]) else set())
    out: dict[str, ParticleList] = {}
    for name in ("fsp", "vert", "init"):
        if name not in want:
            continue
        rows = parts[name]
        counts = np.array([len(r) for r in rows], dtype=np.int32)
        flat = np.concatenate(rows) if rows else np.zeros((0, 5))
        pl = ParticleList(counts, flat[:, 0].astype(np.int32), flat[:, 1], flat[:, 2], flat[:, 3], flat[:, 4])
        pl.check(f, name)
        out[name] = pl if name == "init" else lepton_first(pl, pdg_lep)
    return out


def _event_row(ev, proc: int, info: dict, f: str, num: int) -> dict | None:
    """Columns of one event, or None for an NC event (no charged lepton)."""
    prim = [v for v in ev.vertices if v.status == STATUS_PRIMARY_VERTEX]
    if len(prim) != 1:
        raise EventFileError(f, f"event {num}: {len(prim)} vertices with status 1, the primary vertex "
                                "(NuHepMC E.R.6 needs exactly one)")
    parts = ev.particles
    beam = [q for q in parts if q.status == 4]
    tgt = [q for q in parts if q.status == 20] or [q for q in parts if q.status == 11 and q.production_vertex is None]
    if len(beam) != 1 or len(tgt) != 1:
        raise EventFileError(f, f"event {num}: {len(beam)} beam particles (status 4) and {len(tgt)} targets "
                                "(status 20) (NuHepMC E.R.7 needs one each)")
    nu = beam[0]
    if abs(nu.pid) not in _NU:
        raise EventFileError(f, f"event {num}: beam particle {nu.pid} is not a neutrino")
    want = nu.pid - 1 if nu.pid > 0 else nu.pid + 1  # ν_ℓ -> ℓ⁻, ν̄_ℓ -> ℓ⁺
    is_cc = (proc % 100 < 50) if info["ec1"] and proc > 0 else None
    cand = [q for q in prim[0].particles_out if q.pid == want]
    if not cand:
        cand = sorted((q for q in parts if q.status == 1 and q.pid == want), key=lambda q: -q.momentum.e)
    if not cand:
        out_nu = [q for q in prim[0].particles_out if q.pid == nu.pid] or [q for q in parts if q.status == 1
                                                                          and q.pid == nu.pid]
        if is_cc:
            raise EventFileError(f, f"event {num}: process {proc} is charged-current by NuHepMC E.C.1 but the event "
                                    f"has no outgoing {want} lepton")
        if out_nu:
            return None
        raise EventFileError(f, f"event {num}: neither a charged lepton {want} nor an outgoing neutrino")
    if is_cc is False:
        return None  # NC by E.C.1 (a charged lepton of the beam's flavour would be a pair product)
    lep = cand[0]
    pn, pl = nu.momentum, lep.momentum
    z, a = _za_from_pdg(tgt[0].pid)
    pmag = np.sqrt(pl.px ** 2 + pl.py ** 2 + pl.pz ** 2)
    nmag = np.sqrt(pn.px ** 2 + pn.py ** 2 + pn.pz ** 2)
    mode = info["modes"].get(proc, 0)
    return {"Enu_true": pn.e, "PDGnu": nu.pid, "tgta": a, "tgtz": z, "PDGLep": lep.pid, "ELep": pl.e,
            "CosLep": float(np.clip((pl.px * pn.px + pl.py * pn.py + pl.pz * pn.pz) / (pmag * nmag), -1, 1))
            if pmag > 0 and nmag > 0 else 1.0,
            "Mode": -mode if nu.pid < 0 else mode}
