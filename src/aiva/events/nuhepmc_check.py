"""A NuHepMC 1.0 validator written from the specification text (github.com/NuHepMC/Spec,
README.md, version 1.0.0; arXiv:2310.13211).

:func:`check_nuhepmc` returns the problems found, each starting with the id of the item it
checks (``"E.R.3: event 7: ..."``); an empty list means the file conforms as far as these
checks go. Per-event problems are reported once with the first event and a count. Checked:

* framing: HepMC3 ASCII header, end marker, a units line per event (E.R.1, E.R.4);
* run info: G.R.1 present; G.R.2 version attributes, version 1.0; G.R.3 tools with name and
  version; G.R.4 ``NuHepMC.Conventions``; G.R.5 G.C.2 or E.C.4 signalled and honoured (FATX
  attribute > 0, or a ``GenCrossSection`` on every event); G.R.6 unit and target-scale
  attributes, with values outside the reserved ones (``pb``, ``10-38 cm2``, ``cm2``;
  ``PerAtom``, ``PerNucleon``) reported, as 1.0 strongly recommends them; G.R.7 weight ``CV``;
  G.R.8 process ids with name and description; G.R.9/G.R.10 status tables, every
  generator-dependent status used declared (V.C.1/P.C.1 exempt 21), reserved codes unused;
  G.R.11 2009900000 declared unless P.C.2 is signalled; G.C.1 and G.C.4 honoured if signalled
  (exposure attribute; beam type, energy unit, histogram sizes, one energy if MonoEnergetic);
* events: E.R.2 unique non-negative numbers; E.R.3 ``signal_process_id`` declared in G.R.8;
  E.R.5 ``lab_pos`` with 3 or 4 entries; E.R.6 one primary vertex (status 1), no status 0;
  E.R.7 one beam (status 4) and one target (status 20); P.R.1 incoming particles are beam or
  target, no status 0, outgoing real particles (no end vertex; the P.C.2 pseudoparticle and
  documentation lines exempt) have status 1 and no status-1 particle enters a vertex; E.C.1
  (if signalled) CC ids (X00–X49) have a charged lepton of the beam's flavour in the final
  state and NC ids an outgoing neutrino; E.C.2/E.C.3 (if signalled) ``tot_xs``/``proc_xs``
  on every event; pre-1.0 attribute names (``ProcID``, ``LabPos``, ``TotXS``, ``ProcXS``,
  ``NuHepMC.Beam.RateUnit``) and convention labels.
"""
from __future__ import annotations

import math
import os
import re
from collections import defaultdict
from pathlib import Path

from aiva.errors import EventFileError

RESERVED_UNITS = ("pb", "10-38 cm2", "cm2")
RESERVED_SCALES = ("PerAtom", "PerNucleon")
_LEGACY_EVENT = {"ProcID": "signal_process_id", "LabPos": "lab_pos", "TotXS": "tot_xs", "ProcXS": "proc_xs"}
_LABEL = re.compile(r"^[GEVP]\.[RCS]\.\d+$")
#: labels defined in 1.0
_KNOWN = {f"G.R.{i}" for i in range(1, 12)} | {f"G.C.{i}" for i in range(1, 6)} | {f"G.S.{i}" for i in range(1, 4)} \
    | {f"E.R.{i}" for i in range(1, 10)} | {f"E.C.{i}" for i in range(1, 6)} | {"E.S.1", "V.R.1", "V.C.1", "P.R.1",
                                                                             "P.C.1", "P.C.2"}


def _s(x) -> str:
    return str(x.astype(str)) if hasattr(x, "astype") else str(x)


def _ints(text: str | None) -> list[int] | None:
    try:
        return [int(v) for v in (text or "").split()]
    except ValueError:
        return None


def check_nuhepmc(path: str | os.PathLike) -> list[str]:
    """Problems of a NuHepMC file against the 1.0 specification (empty list: conforming)."""
    import pyhepmc as hp

    from aiva.events.hepmc import scan_listing

    path = Path(path)
    try:
        n_listed = scan_listing(path)
    except EventFileError as exc:
        return [f"E.R.1: {exc.problem}"]
    run: list[str] = []
    per_event: dict[str, list] = {}  # message -> [first event, number of events, last event]

    def ev_problem(item: str, num: int, msg: str) -> None:
        key = f"{item}: {msg}"
        if key not in per_event:
            per_event[key] = [num, 1, num]
        elif per_event[key][2] != num:  # count events, not particles
            per_event[key][1] += 1
            per_event[key][2] = num

    numbers: set[int] = set()
    n, ctx, last_xs = 0, None, None
    beam_E: defaultdict[int, set] = defaultdict(set)
    with hp.open(str(path)) as f:
        for ev in f:
            n += 1
            num = ev.event_number
            if ctx is None:
                ctx = _check_run(ev.run_info, run)
                if ctx is None:
                    break
            _check_event(ev, ctx, num, numbers, ev_problem, beam_E)
            if ev.cross_section is not None:
                last_xs = ev.cross_section
    if n != n_listed:
        run.append(f"E.R.1: HepMC3 parsing stopped after {n} of {n_listed} events")
    if ctx is not None:
        conv = ctx["conv"]
        if "E.C.4" in conv and "G.C.2" not in conv and (last_xs is None or not last_xs.xsec(0) > 0):
            run.append("G.R.5/E.C.4: E.C.4 is signalled but the last event has no positive GenCrossSection")
        if "G.C.4" in conv:
            for pdg, es in beam_E.items():
                if ctx["beam_type"].get(pdg) == "MonoEnergetic" and len(es) > 1:
                    run.append(f"G.C.4: beam {pdg} is MonoEnergetic but its events have {len(es)} different energies")
                if pdg not in ctx["beam_type"]:
                    run.append(f"G.C.4: no 'NuHepMC.Beam[{pdg}].Type' for the beam particle {pdg}")
    out = list(run)
    for key, (first, count, _) in per_event.items():
        item, msg = key.split(": ", 1)
        out.append(f"{item}: event {first}" + (f" (and {count - 1} more)" if count > 1 else "") + f": {msg}")
    return out


def _check_run(ri, out: list[str]) -> dict | None:
    if ri is None:
        out.append("G.R.1: the file has no GenRunInfo")
        return None
    a = {k: _s(ri.attributes[k]) for k in ri.attributes}
    ver = [a.get(f"NuHepMC.Version.{k}") for k in ("Major", "Minor", "Patch")]
    if None in ver or _ints(" ".join(v or "" for v in ver)) is None:
        out.append(f"G.R.2: NuHepMC.Version.Major/Minor/Patch missing or not integers ({ver})")
    elif (int(ver[0] or 0), int(ver[1] or 0)) != (1, 0):
        out.append(f"G.R.2: the file declares NuHepMC {'.'.join(v or '?' for v in ver)}; checked against 1.0.0")
    if not ri.tools or not all(t.name and t.version for t in ri.tools):
        out.append("G.R.3: every ToolInfo needs a non-empty name and version")
    if "NuHepMC.Conventions" not in a:
        out.append("G.R.4: no 'NuHepMC.Conventions' attribute")
    conv = a.get("NuHepMC.Conventions", "").split()
    bad = [c for c in conv if not _LABEL.match(c) or c not in _KNOWN]
    if bad:
        out.append(f"G.R.4: convention labels not defined in 1.0: {bad}")
    if "G.C.2" not in conv and "E.C.4" not in conv:
        out.append("G.R.5: neither G.C.2 nor E.C.4 is signalled (the flux-averaged total cross section)")
    if "G.C.2" in conv:
        try:
            fatx = float(a["NuHepMC.FluxAveragedTotalCrossSection"])
            if not (math.isfinite(fatx) and fatx > 0):
                out.append(f"G.C.2: NuHepMC.FluxAveragedTotalCrossSection = {fatx} is not positive")
        except (KeyError, ValueError):
            out.append("G.C.2: signalled but 'NuHepMC.FluxAveragedTotalCrossSection' is missing or not a number")
    for key, reserved in (("Unit", RESERVED_UNITS), ("TargetScale", RESERVED_SCALES)):
        v = a.get(f"NuHepMC.Units.CrossSection.{key}")
        if v is None:
            out.append(f"G.R.6: no 'NuHepMC.Units.CrossSection.{key}' attribute")
        elif v not in reserved:
            out.append(f"G.R.6: NuHepMC.Units.CrossSection.{key} = {v!r} is not a reserved value {list(reserved)}")
    names = list(ri.weight_names)
    if "CV" not in names:
        out.append(f"G.R.7: no weight named 'CV' (weights {names})")
    ids = _ints(a.get("NuHepMC.ProcessIDs"))
    if not ids:
        out.append("G.R.8: 'NuHepMC.ProcessIDs' missing, empty or not integers")
    for pid in ids or []:
        for what in ("Name", "Description"):
            if f"NuHepMC.ProcessInfo[{pid}].{what}" not in a:
                out.append(f"G.R.8: no 'NuHepMC.ProcessInfo[{pid}].{what}'")
    tables = {}
    for item, kind in (("G.R.9", "Vertex"), ("G.R.10", "Particle")):
        codes = _ints(a.get(f"NuHepMC.{kind}StatusIDs"))
        if codes is None or f"NuHepMC.{kind}StatusIDs" not in a:
            out.append(f"{item}: 'NuHepMC.{kind}StatusIDs' missing or not integers")
        for c in codes or []:
            for what in ("Name", "Description"):
                if f"NuHepMC.{kind}StatusInfo[{c}].{what}" not in a:
                    out.append(f"{item}: no 'NuHepMC.{kind}StatusInfo[{c}].{what}'")
        tables[kind] = set(codes or [])
    extra = set(_ints(a.get("NuHepMC.AdditionalParticleNumbers")) or [])
    if "NuHepMC.Beam.RateUnit" in a:
        out.append("G.C.4: pre-1.0 'NuHepMC.Beam.RateUnit' (1.0: 'NuHepMC.Beam.FluxUnit')")
    if "G.C.1" in conv and not ({"NuHepMC.Exposure.POT", "NuHepMC.Exposure.Livetime"} & set(a)):
        out.append("G.C.1: signalled but neither 'NuHepMC.Exposure.POT' nor 'NuHepMC.Exposure.Livetime' is set")
    beam_type = {}
    if "G.C.4" in conv:
        if not a.get("NuHepMC.Beam.EnergyUnit"):
            out.append("G.C.4: 'NuHepMC.Beam.EnergyUnit' missing or empty")
        for k, v in a.items():
            m = re.fullmatch(r"NuHepMC\.Beam\[(-?\d+)\]\.Type", k)
            if m:
                pdg = int(m.group(1))
                beam_type[pdg] = v
                if v not in ("MonoEnergetic", "Histogram"):
                    out.append(f"G.C.4: {k} = {v!r}, not 'MonoEnergetic' or 'Histogram'")
                if v == "Histogram":
                    edges = a.get(f"NuHepMC.Beam[{pdg}].Histogram.BinEdges", "").split()
                    content = a.get(f"NuHepMC.Beam[{pdg}].Histogram.BinContent", "").split()
                    if not content or len(edges) != len(content) + 1:
                        out.append(f"G.C.4: beam {pdg}: {len(edges)} bin edges for {len(content)} bin contents")
    return {"conv": set(conv), "ids": set(ids or []), "vstat": tables["Vertex"], "pstat": tables["Particle"],
            "extra": extra, "nw": len(names), "beam_type": beam_type}


def _check_event(ev, ctx: dict, num: int, numbers: set, problem, beam_E) -> None:
    conv, at = ctx["conv"], ev.attributes
    if num < 0 or num in numbers:
        problem("E.R.2", num, "event number negative or not unique")
    numbers.add(num)
    for old, new in _LEGACY_EVENT.items():
        if old in at:
            problem("E.R.3" if old == "ProcID" else "E.R.5" if old == "LabPos" else "E.C.2", num,
                    f"pre-1.0 attribute '{old}' (1.0: '{new}')")
    pid = None
    if "signal_process_id" not in at:
        problem("E.R.3", num, "no 'signal_process_id' attribute")
    else:
        try:
            pid = int(_s(at["signal_process_id"]).split()[0])
            if pid not in ctx["ids"]:
                problem("E.R.3", num, f"signal_process_id {pid} is not in NuHepMC.ProcessIDs")
        except (ValueError, IndexError):
            problem("E.R.3", num, "signal_process_id is not an integer")
    if "lab_pos" not in at:
        problem("E.R.5", num, "no 'lab_pos' attribute")
    elif len(_s(at["lab_pos"]).split()) not in (3, 4):
        problem("E.R.5", num, "lab_pos needs 3 or 4 entries (E.C.5)")
    if len(ev.weights) != ctx["nw"] or not all(math.isfinite(w) for w in ev.weights):
        problem("G.R.7", num, f"{len(ev.weights)} weights for {ctx['nw']} names, or non-finite weights")
    for item, key in (("E.C.2", "tot_xs"), ("E.C.3", "proc_xs")):
        if item in conv and key not in at:
            problem(item, num, f"{item} is signalled but the event has no '{key}'")
    if "E.C.4" in conv and ev.cross_section is None:
        problem("E.C.4", num, "E.C.4 is signalled but the event has no GenCrossSection")
    vst = [v.status for v in ev.vertices]
    if vst.count(1) != 1:
        problem("E.R.6", num, f"{vst.count(1)} primary vertices (status 1); exactly one is required")
    for s in set(vst):
        if s == 0:
            problem("E.R.6", num, "a vertex has the 'not defined' status 0")
        elif 3 <= s <= 20:
            problem("V.R.1", num, f"vertex status {s} is reserved for future NuHepMC standards")
        elif s > 20 and s not in ctx["vstat"] and not (s == 21 and "V.C.1" in conv):
            problem("G.R.9", num, f"vertex status {s} is not declared in NuHepMC.VertexStatusIDs")
    parts = ev.particles
    pst = [p.status for p in parts]
    if pst.count(4) != 1 or pst.count(20) != 1:
        problem("E.R.7", num, f"{pst.count(4)} beam particles (status 4) and {pst.count(20)} targets (status 20); "
                              "one each is required")
    for s in set(pst):
        if s == 0 or 5 <= s <= 19:
            problem("P.R.1", num, f"particle status {s} is {'not defined' if s == 0 else 'reserved'}")
        elif s > 20 and s not in ctx["pstat"] and not (s == 21 and "P.C.1" in conv):
            problem("G.R.10", num, f"particle status {s} is not declared in NuHepMC.ParticleStatusIDs")
    for p in parts:
        pv = p.production_vertex
        if (pv is None or pv.id == 0) and p.status not in (3, 4, 20):  # 3: documentation, not real
            problem("P.R.1", num, f"incoming particle {p.pid} has status {p.status}, not 4 or 20")
        ev_end = p.end_vertex
        if p.status == 1 and ev_end is not None and ev_end.id != 0:
            problem("P.R.1", num, f"particle {p.pid} has status 1 (undecayed physical) but enters a vertex")
        if (ev_end is None or ev_end.id == 0) and pv is not None and pv.id != 0 and p.status not in (1, 3) \
                and p.pid != 2009900000:
            problem("P.R.1", num, f"outgoing particle {p.pid} has status {p.status}; an outgoing real particle "
                                  "must have status 1")
        if p.pid == 2009900000 and "P.C.2" not in conv and p.pid not in ctx["extra"]:
            problem("G.R.11", num, "particle number 2009900000 used without P.C.2 or NuHepMC.AdditionalParticleNumbers")
    beams = [p for p in parts if p.status == 4]
    if beams:
        beam_E[beams[0].pid].add(round(beams[0].momentum.e, 9))
    if "E.C.1" in conv and pid is not None and pid > 0 and beams and abs(beams[0].pid) in (12, 14, 16):
        nu = beams[0].pid
        lep = nu - 1 if nu > 0 else nu + 1
        final = {p.pid for p in parts if p.status == 1}
        prim_out = {p.pid for v in ev.vertices if v.status == 1 for p in v.particles_out}
        if pid % 100 < 50 and lep not in final | prim_out:
            problem("E.C.1", num, f"process {pid} is in a charged-current block (X00-X49) but no {lep} lepton "
                                  "leaves the event")
        if pid % 100 >= 50 and nu not in final | prim_out:
            problem("E.C.1", num, f"process {pid} is in a neutral-current block (X50-X99) but no outgoing "
                                  f"neutrino {nu}")
