"""NuHepMC output and input (HepMC3 ASCII through pyhepmc).

Follows the NuHepMC specification (S. Gardiner, L. Pickering, C. Wret et al., "NuHepMC: A
standardized event record format for neutrino event generators", arXiv:2310.13211; spec
version 1.0): run info with the NuHepMC version (G.R.2), the tool (G.R.3), the process table
(G.R.4, ranges of E.C.1: 200s QE, 300s 2p2h, 400s RES, 500s shallow inelastic, 600s DIS, CC in
X00–X49), vertex and particle status tables (G.R.5, G.R.6), the "CV" weight (G.R.7), the
conventions followed (G.C.1), the exposure in events (G.C.2), the flux-averaged total cross
section (G.C.4) and its units and target scale. Each event has a positive number (E.R.1), its
"ProcID" (E.R.2), GeV/mm units (E.R.3), "LabPos" (E.R.4) and exactly one vertex, the primary
(status 1, E.R.5), with the incoming neutrino (status 4), the target nucleus (status 20, PDG
code 10LZZZAAAI) and the outgoing lepton (status 1), in the lab frame with the beam along +z.
aiva models the lepton only; the hadronic system is not written.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from aiva.errors import EventFileError
from aiva.events.table import EventTable, _lepton_mass_column
from aiva.physics.constants import ATOMIC_MASS_UNIT
from aiva.physics.targets import nuclear_pdg
from aiva.utils import atomic_path

NUHEPMC_VERSION = (1, 0, 0)
#: NEUT mode (absolute value) -> NuHepMC process ID, and its name/description.
PROCESSES = {
    1: (200, "CCQE", "charged-current quasielastic (Llewellyn Smith, Phys. Rep. 3 (1972) 261)"),
    2: (300, "CC2p2h", "charged-current two-nucleon knockout, empirical (aiva docs/physics.md)"),
    11: (400, "CCRES p pi+", "charged-current Delta(1232) production (isobar model, LPP06 form factors)"),
    12: (401, "CCRES p pi0", "charged-current Delta(1232) production (isobar model, LPP06 form factors)"),
    13: (402, "CCRES n pi+", "charged-current Delta(1232) production (isobar model, LPP06 form factors)"),
    21: (500, "CC multi-pi", "charged-current shallow inelastic, W below the DIS region"),
    26: (600, "CCDIS", "charged-current deep inelastic (Bodek-Yang, arXiv:hep-ex/0308007)"),
    0: (700, "CC inclusive (unlabelled)", "charged-current event of a generative model without a channel label"),
}
_MODE_OF_PROC = {v[0]: k for k, v in PROCESSES.items()}
STATUS_PRIMARY_VERTEX = 1
PARTICLE_STATUS = {1: ("UndecayedPhysical", "outgoing final-state particle"),
                   4: ("IncomingBeam", "the incoming neutrino"),
                   20: ("Target", "the target nucleus")}
CONVENTIONS = ["G.C.1", "G.C.2", "G.C.4", "G.C.5", "E.C.1"]


def _za_from_pdg(pdg: int) -> tuple[int, int]:
    if pdg == 2212:
        return 1, 1
    if pdg == 2112:
        return 0, 1
    return (pdg // 10_000) % 1000, (pdg // 10) % 1000


def write_nuhepmc(table: EventTable, path: str | os.PathLike, *, flux_averaged_xsec: float | None = None,
                  generator: str = "aiva", description: str = "") -> Path:
    """Write ``table`` as a NuHepMC file. ``flux_averaged_xsec``: ⟨σ⟩_Φ in 10⁻³⁸ cm² per nucleon;
    weights are the table's ``weight`` column (10⁻³⁸ cm²/nucleon per event) or 1."""
    import pyhepmc as hp

    from aiva import __version__

    path = Path(path)
    n = len(table)
    modes = np.abs(table["Mode"]).astype(int)
    unknown = sorted(set(np.unique(modes)) - set(PROCESSES))
    if unknown:
        raise EventFileError(str(path), f"column 'Mode': no NuHepMC process ID for mode(s) {unknown}")
    run = hp.GenRunInfo()
    run.tools = [(generator, __version__, description or "aiva: AI for neutrino-nucleus scattering")]
    run.weight_names = ["CV"]
    a = run.attributes
    for key, v in zip(("Major", "Minor", "Patch"), NUHEPMC_VERSION):
        a[f"NuHepMC.Version.{key}"] = v
    used = sorted({PROCESSES[m][0] for m in np.unique(modes)})
    a["NuHepMC.ProcessIDs"] = used
    for m, (pid, name, desc) in PROCESSES.items():
        if pid in used:
            a[f"NuHepMC.ProcessInfo[{pid}].Name"] = name
            a[f"NuHepMC.ProcessInfo[{pid}].Description"] = desc
    a["NuHepMC.VertexStatusIDs"] = [STATUS_PRIMARY_VERTEX]
    a[f"NuHepMC.VertexStatusInfo[{STATUS_PRIMARY_VERTEX}].Name"] = "PrimaryVertex"
    a[f"NuHepMC.VertexStatusInfo[{STATUS_PRIMARY_VERTEX}].Description"] = "the primary interaction"
    a["NuHepMC.ParticleStatusIDs"] = sorted(PARTICLE_STATUS)
    for sid, (name, desc) in PARTICLE_STATUS.items():
        a[f"NuHepMC.ParticleStatusInfo[{sid}].Name"] = name
        a[f"NuHepMC.ParticleStatusInfo[{sid}].Description"] = desc
    a["NuHepMC.Conventions"] = CONVENTIONS
    a["NuHepMC.Exposure.NEvents"] = int(n)
    a["NuHepMC.Units.CrossSection.Unit"] = "1e-38 cm2"
    a["NuHepMC.Units.CrossSection.TargetScale"] = "PerTargetNucleon"
    if flux_averaged_xsec is not None:
        a["NuHepMC.FluxAveragedTotalCrossSection"] = float(flux_averaged_xsec)
    seed = table.metadata.get("seed")
    if seed is not None:
        a["NuHepMC.Provenance.RNGState"] = str(seed)

    E, El, cos = table["Enu_true"], table["ELep"], table["CosLep"]
    ml = _lepton_mass_column(table["PDGLep"])
    p = np.sqrt(np.maximum(El ** 2 - ml ** 2, 0.0))
    sin = np.sqrt(np.maximum(1 - cos ** 2, 0.0))
    w = table["weight"] if "weight" in table.columns else np.ones(n)
    with atomic_path(path) as tmp, hp.open(str(tmp), "w") as f:
        for i in range(n):
            ev = hp.GenEvent(hp.Units.GEV, hp.Units.MM)
            ev.run_info = run
            ev.event_number = i + 1
            ev.weights = [float(w[i])]
            ev.attributes["ProcID"] = int(PROCESSES[modes[i]][0])
            ev.attributes["LabPos"] = [0.0, 0.0, 0.0]
            v = hp.GenVertex()
            v.status = STATUS_PRIMARY_VERTEX
            Z, A = int(table["tgtz"][i]), int(table["tgta"][i])
            M = A * ATOMIC_MASS_UNIT  # nucleus at rest; mass ≈ A·u (mass excess ignored)
            v.add_particle_in(hp.GenParticle((0.0, 0.0, float(E[i]), float(E[i])), int(table["PDGnu"][i]), 4))
            v.add_particle_in(hp.GenParticle((0.0, 0.0, 0.0, M), nuclear_pdg(Z, A), 20))
            v.add_particle_out(hp.GenParticle((float(p[i] * sin[i]), 0.0, float(p[i] * cos[i]), float(El[i])),
                                              int(table["PDGLep"][i]), 1))
            ev.add_vertex(v)
            f.write(ev)
    return path


def _attr(a, key, kind):
    x = a[key]
    return x.astype(kind) if hasattr(x, "astype") else x


def read_nuhepmc(path: str | os.PathLike) -> EventTable:
    """Read a NuHepMC file written by aiva (or any file with one primary vertex, a status-4
    neutrino, a status-20 nucleus and one status-1 charged lepton) into an event table."""
    import pyhepmc as hp

    path = Path(path)
    cols = {k: [] for k in ("Enu_true", "PDGnu", "tgta", "tgtz", "PDGLep", "ELep", "CosLep", "Mode", "weight")}
    run_attrs = {}
    with hp.open(str(path)) as f:
        for ev in f:
            if not run_attrs and ev.run_info is not None:
                run_attrs = {k: ev.run_info.attributes[k] for k in ev.run_info.attributes}
            prim = [v for v in ev.vertices if v.status == STATUS_PRIMARY_VERTEX]
            if len(prim) != 1:
                raise EventFileError(str(path), f"event {ev.event_number}: {len(prim)} primary vertices (need 1)")
            parts = prim[0].particles_in + prim[0].particles_out
            nu = [q for q in parts if q.status == 4]
            tg = [q for q in parts if q.status == 20]
            lep = [q for q in parts if q.status == 1 and abs(q.pid) in (11, 13, 15)]
            if len(nu) != 1 or len(tg) != 1 or len(lep) != 1:
                raise EventFileError(str(path), f"event {ev.event_number}: need one beam neutrino (status 4), one "
                                                "target (status 20) and one outgoing charged lepton (status 1)")
            pn, pl = nu[0].momentum, lep[0].momentum
            z, a = _za_from_pdg(tg[0].pid)
            pmag = np.sqrt(pl.px ** 2 + pl.py ** 2 + pl.pz ** 2)
            nmag = np.sqrt(pn.px ** 2 + pn.py ** 2 + pn.pz ** 2)
            proc = int(_attr(ev.attributes, "ProcID", int))
            mode = _MODE_OF_PROC.get(proc, 0)
            cols["Enu_true"].append(pn.e)
            cols["PDGnu"].append(nu[0].pid)
            cols["tgta"].append(a)
            cols["tgtz"].append(z)
            cols["PDGLep"].append(lep[0].pid)
            cols["ELep"].append(pl.e)
            cols["CosLep"].append((pl.px * pn.px + pl.py * pn.py + pl.pz * pn.pz) / (pmag * nmag) if pmag > 0 else 1.0)
            cols["Mode"].append(-mode if nu[0].pid < 0 else mode)
            cols["weight"].append(ev.weights[0] if len(ev.weights) else 1.0)
    if not cols["Enu_true"]:
        raise EventFileError(str(path), "no events")
    from aiva.events.table import OPTIONAL_COLUMNS, REQUIRED_COLUMNS

    dtypes = {**REQUIRED_COLUMNS, **OPTIONAL_COLUMNS}
    data = {k: np.asarray(v, dtype=dtypes[k]) for k, v in cols.items()}
    meta = {"producer": "NuHepMC file", "source": str(path),
            "nuhepmc_run_info": {k: str(v.astype(str)) if hasattr(v, "astype") else str(v)
                                 for k, v in run_attrs.items()}}
    return EventTable(data, meta)
