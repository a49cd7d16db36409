"""GENIE summary trees (``gst``, written by ``gntpc -f gst``; GENIE Physics & User Manual).

Branches used: ``neu``→PDGnu, ``Ev``→Enu_true, ``fspl``→PDGLep, ``El``→ELep, ``cthl``→CosLep,
``Z``/``A``→tgtz/tgta, ``Q2``, ``W``, ``wght`` (the event weight), ``neut_code`` (GENIE's NEUT
reaction code, ``utils::ghep::NeutReactionCode``) and the process flags ``qel mec res dis coh``
with ``cc``/``nc``. The mode is ``neut_code`` when the branch is there and non-zero, otherwise
from the flags: CC qel→1, mec→2, res→11, dis→26, coh→16; NC qel→51, res→31, dis→46, coh→36
(negative for antineutrinos; GENIE's ``res`` flag does not say which single-pion state was made).

Processes aiva has no model or mode for — ``nuel`` (ν–e elastic), ``imd``/``imdanh`` (inverse
muon decay), ``dfr`` (diffractive), ``singlek`` (single kaon), ``em``, ``amnugamma`` — are
skipped and counted in the metadata (``dropped``), not fatal. Events with no process flag at
all are skipped and counted too.

Particle lists (:mod:`aiva.events.particles`): with the lepton's ``El``/``pxl``/``pyl``/``pzl``,
the final-state hadronic arrays ``nf``, ``pdgf[nf]``, ``Ef``, ``pxf``, ``pyf``, ``pzf`` (after
intranuclear rescattering; GENIE's ``gntpc`` leaves the primary lepton out of them) give
``table.particles["fsp"]`` = lepton + those, and the primary hadronic system before rescattering
``ni``, ``pdgi[ni]``, ``Ei``, ``pxi``, ``pyi``, ``pzi`` gives ``table.particles["vert"]`` = lepton +
those; checked (finite, E ≥ |p|) with errors naming the branch.

Normalisation: a gst file carries no cross section (GENIE normalises with its splines), so the
weights are relative (``normalisation.unit = "relative"``); commands that need σ take the
flux-averaged total cross section of the file's run (``aiva predict --xsec``) and scale the
weights to it (:func:`aiva.events.select.normalise_to`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from aiva.errors import EventFileError
from aiva.events.particles import ParticleList
from aiva.events.table import EventTable

TREE = "gst"
_REQUIRED = ["neu", "fspl", "Ev", "El", "cthl", "A", "Z", "qel", "res", "dis", "coh", "cc", "nc"]
_RARE = ("nuel", "imd", "imdanh", "dfr", "singlek", "em", "amnugamma")
_FLAG_MODES = (("qel", 1, 51), ("mec", 2, 53), ("res", 11, 31), ("dis", 26, 46), ("coh", 16, 36))


def read_gst(tree, path: Path, root=None) -> EventTable:
    have = set(tree.keys())
    missing = [n for n in _REQUIRED if n not in have]
    if missing:
        raise EventFileError(str(path), f"GENIE gst tree lacks branch(es) {', '.join(missing)}", column=missing[0])
    opt = [n for n in ("mec", "neut_code", "wght", "Q2", "W", *_RARE) if n in have]
    try:
        b = {k: np.asarray(v) for k, v in tree.arrays(_REQUIRED + opt, library="np").items()}
    except Exception as exc:  # uproot raises several types for unreadable baskets
        raise EventFileError(str(path), f"gst tree cannot be read ({type(exc).__name__}: {exc})") from None
    n_all = len(b["neu"])
    if n_all == 0:
        raise EventFileError(str(path), "gst tree has no entries")
    cc = b["cc"].astype(bool)
    dropped: dict[str, int] = {}
    keep = np.ones(n_all, dtype=bool)
    for flag in _RARE:
        if flag in b:
            f = b[flag].astype(bool) & keep
            if f.any():
                dropped[f"process '{flag}' (no aiva model)"] = int(f.sum())
                keep &= ~f
    mode = np.zeros(n_all, dtype=np.int32)
    for flag, cc_mode, nc_mode in _FLAG_MODES:
        if flag in b:
            f = b[flag].astype(bool)
            mode[f & cc] = cc_mode
            mode[f & ~cc] = nc_mode
    mode = np.where(b["neu"] < 0, -mode, mode)
    if "neut_code" in b:
        nc_code = b["neut_code"].astype(np.int32)
        mode = np.where(nc_code != 0, nc_code, mode)
    unknown = (mode == 0) & keep
    if unknown.any():
        dropped["no process flag (qel/mec/res/dis/coh) and no neut_code"] = int(unknown.sum())
        keep &= ~unknown
    if not keep.any():
        raise EventFileError(str(path), f"no event of a process aiva models (skipped: {dropped})", column="Mode",
                             n_rows=n_all)
    w = b["wght"].astype(np.float64) if "wght" in b else np.ones(n_all)
    if not np.all(np.isfinite(w[keep])):
        raise EventFileError(str(path), "NaN or infinite weights", column="wght")
    if w[keep].sum() <= 0:
        raise EventFileError(str(path), f"the event weights sum to {w[keep].sum():g} (zero-weight file)",
                             column="wght")
    cols = {"Enu_true": b["Ev"], "PDGnu": b["neu"], "tgta": b["A"], "tgtz": b["Z"], "PDGLep": b["fspl"],
            "ELep": b["El"], "CosLep": b["cthl"], "Mode": mode, "weight": w}
    for src in ("Q2", "W"):
        if src in b:
            cols[src] = b[src]
    meta = {"producer": "GENIE gst", "source_file": path.name, "n_entries": int(n_all),
            "normalisation": {"unit": "relative", "sum_weight_all_entries": float(w.sum()),
                              "why": "a gst file carries no cross section; give the run's flux-averaged cross "
                                     "section (aiva predict --xsec)"}}
    if dropped:
        meta["dropped"] = dropped
    lists = {k: v.take(keep) for k, v in _gst_lists(tree, path, have, b["fspl"]).items()}
    return EventTable({k: np.asarray(v)[keep] for k, v in cols.items()}, meta, lists)


_LEPTON = ("El", "pxl", "pyl", "pzl")
_GST_LISTS = {"fsp": ("nf", "pdgf", "Ef", "pxf", "pyf", "pzf"), "vert": ("ni", "pdgi", "Ei", "pxi", "pyi", "pzi")}


def _gst_lists(tree, path: Path, have: set, pdg_lep: np.ndarray) -> dict[str, ParticleList]:
    """Lepton + hadron arrays of the gst tree (all entries; the caller keeps its rows)."""
    if not set(_LEPTON) <= have:
        return {}
    out: dict[str, ParticleList] = {}
    lep = None
    for name, branches in _GST_LISTS.items():
        if not set(branches) <= have:
            continue
        import awkward as ak

        try:
            if lep is None:
                lep = {k: np.asarray(tree[k].array(library="np"), dtype=np.float64) for k in _LEPTON}
            n = np.asarray(tree[branches[0]].array(library="np")).astype(np.int64)
            jag = {k: tree[k].array(library="ak") for k in branches[1:]}
        except Exception as exc:  # uproot raises several types for unreadable baskets
            raise EventFileError(str(path), f"particle branches cannot be read ({type(exc).__name__}: {exc})",
                                 column=branches[0]) from None
        for k, arr in jag.items():
            bad = np.asarray(ak.num(arr, axis=1)) != n
            if bad.any():
                raise EventFileError(str(path), f"array lengths differ from '{branches[0]}'", column=k,
                                     n_rows=int(bad.sum()))
        flat = [np.asarray(ak.flatten(jag[k], axis=1)) for k in branches[1:]]
        hadrons = ParticleList(n.astype(np.int32), flat[0], *(np.asarray(a, dtype=np.float64) for a in flat[1:]))
        for f, k in zip(("E", "px", "py", "pz"), branches[2:]):
            if not np.all(np.isfinite(getattr(hadrons, f))):
                raise EventFileError(str(path), "NaN or infinite particle momenta", column=k)
        if np.any(hadrons.E < hadrons.p - 1e-6):
            raise EventFileError(str(path), "particles with E < |p|", column=branches[2])
        lepton = ParticleList(np.ones(len(n), np.int32), pdg_lep, lep["El"], lep["pxl"], lep["pyl"], lep["pzl"])
        out[name] = ParticleList.merge([lepton, hadrons])
    return out
