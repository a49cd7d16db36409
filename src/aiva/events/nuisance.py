"""NUISANCE flat trees (``FlatTree_VARS``) in and out.

The flat tree is the output of NUISANCE's ``nuisflat`` (P. Stowell et al., JINST 12 (2017)
P01016), written by its ``GenericFlux_Vectors`` sample: one entry per event with the branches
(ROOT leaf types in brackets) ``Mode`` [I], ``cc`` [B], ``PDGnu`` [I], ``Enu_true`` [F], ``tgt``
[I, nuclear PDG code 10LZZZAAAI], ``tgta``/``tgtz`` [I, newer releases only], ``PDGLep`` [I],
``ELep`` [F], ``CosLep`` [F], ``Q2``, ``q0``, ``q3``, ``W_nuc_rest``, ``W`` [F], the final-state
particle arrays ``nfsp`` [I] and ``px``/``py``/``pz``/``E`` [F, length nfsp], ``pdg`` [I], the
weights ``Weight`` = ``RWWeight`` × ``InputWeight`` [F] and ``fScaleFactor`` [D], and signal
flags such as ``flagCCINC`` [O]. Energies and momenta are in GeV.

Normalisation (NUISANCE ``GenericFlux_Vectors``): ``fScaleFactor`` = (∫Φσ / N) / ∫Φ in cm² per
nucleon, the same for every event of one run, so that a histogram filled with ``Weight`` and
scaled by ``fScaleFactor`` / bin width is the flux-averaged differential cross section per
nucleon. aiva's ``weight`` column carries the same thing in 10⁻³⁸ cm² per nucleon per event:
``weight = Weight × fScaleFactor / 10⁻³⁸ cm²``; Σ weight is ⟨σ⟩_Φ per nucleon.

For NC events NUISANCE stores the outgoing neutrino as "the lepton" (``GetHMFSAnyLepton``):
``PDGLep`` is then 12/14/16 and ``cc`` is 0. The reader keeps them (they are removed and
counted by ``--cc-only``, :func:`aiva.events.select.select_events`) and drops, with a count,
only entries with no lepton at all (``PDGLep`` = 0, the tree's −999 placeholders).

Particle lists (:mod:`aiva.events.particles`): the final-state arrays ``nfsp``, ``pdg[nfsp]``,
``E``, ``px``, ``py``, ``pz`` become ``table.particles["fsp"]`` and the pre-FSI arrays of newer
NUISANCE releases (``HadronFlux_Vectors``/``GenericFlux_Vectors`` with ``SavePreFSI``: ``nvertp``,
``pdg_vert[nvertp]``, ``E_vert``, ``px_vert``, ``py_vert``, ``pz_vert``) ``table.particles["vert"]``
(and the initial-state ``ninitp``/``*_init`` arrays ``table.particles["init"]``),
in GeV as float64 (the tree stores float32), with the lepton of ``PDGLep`` moved to the front of each
event (NUISANCE keeps the generator's order). Arrays with non-finite momenta or E < |p| are an
:class:`~aiva.errors.EventFileError` naming the branch. The writer writes a table's lists with the
same names; a table without lists (aiva's generators model the lepton only) gets the charged lepton
(with an azimuth drawn uniformly from the seed) as its only final-state particle (``nfsp`` = 1),
and ``metadata['particle_lists']`` (``{"fsp": "lepton only"}``, else ``"whole events"`` per list)
says so: aiva's reader gives such a file no lists, as that empty hadronic system is no 0π, 0p
topology.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from aiva.errors import EventFileError
from aiva.events.particles import ParticleList, check_columns, lepton_first, list_columns
from aiva.events.select import NEUTRINOS, is_cc
from aiva.events.table import EventTable, cross_section_weights, lepton_momenta

log = logging.getLogger(__name__)

TREE = "FlatTree_VARS"
METADATA_KEY = "aiva_metadata"
#: leaf types of the branches written (NUISANCE GenericFlux_Vectors::AddEventVariablesToTree)
_SCALARS = {"Mode": np.int32, "cc": np.int8, "PDGnu": np.int32, "Enu_true": np.float32, "tgt": np.int32,
            "tgta": np.int32, "tgtz": np.int32, "PDGLep": np.int32, "ELep": np.float32, "CosLep": np.float32,
            "Q2": np.float32, "q0": np.float32, "q3": np.float32, "W_nuc_rest": np.float32, "W": np.float32,
            "Weight": np.float32, "InputWeight": np.float32, "RWWeight": np.float32, "fScaleFactor": np.float64,
            "flagCCINC": np.bool_, "flagNCINC": np.bool_}
_CM2 = 1e-38  #: aiva's cross-section unit in cm²
_M_PROTON = 0.93827208816  #: GeV (PDG 2024); NUISANCE's W_nuc_rest uses the proton mass


def za_from_pdg(code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Z, A) of nuclear PDG codes 10LZZZAAAI; 2212 → (1, 1), 2112 → (0, 1); 0 where unknown."""
    code = np.asarray(code, dtype=np.int64)
    nucleus = code >= 1_000_000_000
    Z = np.where(nucleus, (code // 10_000) % 1000, np.where(code == 2212, 1, 0))
    A = np.where(nucleus, (code // 10) % 1000, np.where((code == 2212) | (code == 2112), 1, 0))
    return Z.astype(np.int32), A.astype(np.int32)


def _scalar_branches(tree, path: Path, names: list[str]) -> dict[str, np.ndarray]:
    out = {}
    for n in names:
        try:
            arr = tree[n].array(library="np")
        except Exception as exc:  # uproot raises several types for unreadable baskets
            raise EventFileError(str(path), f"branch cannot be read ({type(exc).__name__}: {exc})", column=n) from None
        if arr.dtype == object:
            raise EventFileError(str(path), "branch is not a scalar per event", column=n)
        out[n] = np.asarray(arr)
    return out


def read_flattree(tree, path: Path, root=None) -> EventTable:
    """An event table from a NUISANCE ``FlatTree_VARS`` tree (see the module docstring)."""
    have = set(tree.keys())
    need = ["Mode", "PDGnu", "Enu_true", "PDGLep", "ELep", "CosLep"]
    missing = [n for n in need if n not in have]
    if not ({"tgta", "tgtz"} <= have or "tgt" in have):
        missing.append("tgta/tgtz (or tgt)")
    if missing:
        raise EventFileError(str(path), f"NUISANCE {TREE} tree lacks branch(es) {', '.join(missing)}",
                             column=missing[0])
    opt = [n for n in ("cc", "tgt", "tgta", "tgtz", "Q2", "q0", "W", "W_nuc_rest", "Weight", "fScaleFactor")
           if n in have]
    b = _scalar_branches(tree, path, need + [n for n in opt if n not in need])
    n_all = len(b["Mode"])
    if n_all == 0:
        raise EventFileError(str(path), f"{TREE} has no entries")
    if {"tgta", "tgtz"} <= have:
        Z, A = b["tgtz"], b["tgta"]
    else:
        Z, A = za_from_pdg(b["tgt"])
        if np.any(A == 0):
            raise EventFileError(str(path), "target PDG code is not a nucleus or nucleon", column="tgt",
                                 n_rows=int(np.sum(A == 0)))
    no_lep = b["PDGLep"] == 0
    cols: dict[str, np.ndarray] = {
        "Enu_true": b["Enu_true"], "PDGnu": b["PDGnu"], "tgta": A, "tgtz": Z, "PDGLep": b["PDGLep"],
        "ELep": b["ELep"], "CosLep": b["CosLep"], "Mode": b["Mode"],
    }
    for src, dst in (("Q2", "Q2"), ("q0", "q0")):
        if src in b:
            cols[dst] = b[src]
    w_src = "W" if "W" in b else ("W_nuc_rest" if "W_nuc_rest" in b else None)
    if w_src:
        cols["W"] = b[w_src]
    lists = _read_lists(tree, path, have, b["PDGLep"])
    meta: dict[str, Any] = {"producer": "NUISANCE flat tree", "source_file": path.name, "n_entries": int(n_all)}
    if "cc" in b:
        cc = b["cc"].astype(bool)
        inconsistent = cc & np.isin(np.abs(b["PDGLep"]), NEUTRINOS)
        if inconsistent.any():
            raise EventFileError(str(path), "cc = 1 but the lepton is a neutrino", column="cc",
                                 n_rows=int(inconsistent.sum()))
    cols["weight"], meta["normalisation"] = _weights(b, path, have)
    raw = _metadata(root, path) if root is not None else None
    if raw:  # a file aiva wrote: its metadata come back, with what the reader found
        meta = {**raw, **{k: v for k, v in meta.items() if k != "producer"}, "read_as": "NUISANCE flat tree"}
    marks = raw.get("particle_lists") if raw else None
    if raw and not (isinstance(marks, dict) and marks.get("fsp") == "whole events"):
        lists.pop("fsp", None)  # aiva's lepton-only placeholder (files before the marks were all lepton-only)
    table = EventTable(cols, meta, lists)
    if no_lep.any():
        table = table.select(~no_lep)
        table.metadata["dropped"] = {"no outgoing lepton (PDGLep = 0)": int(no_lep.sum())}
        if len(table) == 0:
            raise EventFileError(str(path), "no entry has an outgoing lepton", column="PDGLep", n_rows=n_all)
    return table


def _read_lists(tree, path: Path, have: set, pdg_lep: np.ndarray) -> dict[str, ParticleList]:
    """The particle lists of the tree (``nfsp`` + ``pdg E px py pz``; ``nvertp`` + ``*_vert``), checked."""
    out: dict[str, ParticleList] = {}
    for name in ("fsp", "vert", "init"):
        count, cols = list_columns(name)
        present = [c for c in (count, *cols.values()) if c in have]
        if not present:
            continue
        if len(present) < 6:
            missing = [c for c in (count, *cols.values()) if c not in have]
            raise EventFileError(str(path), f"particle list '{name}' is incomplete: no branch(es) {', '.join(missing)}",
                                 column=missing[0])
        try:
            n = np.asarray(tree[count].array(library="np")).astype(np.int64)
            jag = {f: tree[c].array(library="ak") for f, c in cols.items()}
        except Exception as exc:  # uproot raises several types for unreadable baskets
            raise EventFileError(str(path), f"particle branches cannot be read ({type(exc).__name__}: {exc})",
                                 column=count) from None
        import awkward as ak

        for f, c in cols.items():
            lengths = np.asarray(ak.num(jag[f], axis=1))
            bad = lengths != n
            if bad.any():
                raise EventFileError(str(path), f"array lengths differ from '{count}'", column=c, n_rows=int(bad.sum()))
        flat = {f: np.asarray(ak.flatten(jag[f], axis=1)) for f in cols}
        plist = ParticleList(n.astype(np.int32), flat["pdg"], *(flat[f].astype(np.float64) for f in ("E", "px", "py", "pz")))
        check_columns(plist, str(path), name, rtol=1e-6)  # float32 branches
        out[name] = plist if name == "init" else lepton_first(plist, pdg_lep)
    return out


def _weights(b: dict[str, np.ndarray], path: Path, have: set) -> tuple[np.ndarray, dict]:
    """Per-event weight in 10⁻³⁸ cm²/nucleon (``Weight`` × ``fScaleFactor``), or relative weights."""
    n = len(b["Mode"])
    W = b["Weight"].astype(np.float64) if "Weight" in b else np.ones(n)
    if not np.all(np.isfinite(W)):
        raise EventFileError(str(path), "NaN or infinite weights", column="Weight", n_rows=int((~np.isfinite(W)).sum()))
    if W.sum() <= 0:
        raise EventFileError(str(path), f"the event weights sum to {W.sum():g} (zero-weight file)", column="Weight")
    if "fScaleFactor" not in b:
        return W, {"unit": "relative", "sum_weight_all_entries": float(W.sum()),
                   "why": "no fScaleFactor branch: the file carries no cross section"}
    sf = b["fScaleFactor"].astype(np.float64)
    vals = np.unique(sf)
    if len(vals) > 1:
        raise EventFileError(str(path), f"{len(vals)} different values ({vals.min():.4g} to {vals.max():.4g} cm2); "
                                        "one run has one scale factor: were runs merged with hadd? "
                                        "Read each run's file separately", column="fScaleFactor")
    s = float(vals[0])
    if not np.isfinite(s) or s < 0:
        raise EventFileError(str(path), f"value {s!r} is not a cross section (need >= 0 cm2)", column="fScaleFactor")
    if s == 0:
        return W, {"unit": "relative", "sum_weight_all_entries": float(W.sum()),
                   "why": "fScaleFactor = 0: the file carries no cross section"}
    if s > 1e-30:
        raise EventFileError(str(path), f"value {s:g} is not in cm2 per nucleon (a neutrino cross section is "
                                        "below 1e-35 cm2 per event)", column="fScaleFactor")
    w = W * (s / _CM2)
    return w, {"unit": "1e-38 cm2 per nucleon", "fScaleFactor_cm2_per_nucleon": s, "sum_Weight": float(W.sum()),
               "flux_averaged_xsec_per_nucleon": float(w.sum())}


def _metadata(f, path: Path) -> dict | None:
    """The table metadata aiva stores beside the tree (a TObjString of JSON), if there."""
    try:
        keys = {k.split(";")[0] for k in f.keys()}
    except Exception:
        return None
    if METADATA_KEY not in keys:
        return None
    try:
        return json.loads(str(f[METADATA_KEY]))
    except (ValueError, TypeError):
        raise EventFileError(str(path), f"'{METADATA_KEY}' is not valid JSON") from None


def write_flattree(table: EventTable, path: str | os.PathLike, *, seed: int | None = None) -> Path:
    """Write ``table`` as a NUISANCE ``FlatTree_VARS`` tree (atomic). ``fScaleFactor`` is
    ⟨w⟩·10⁻³⁸ cm² and ``Weight`` = w/⟨w⟩ for the cross-section weights w of
    :func:`aiva.events.table.cross_section_weights`; a table without a known cross section is
    written with ``fScaleFactor`` = 0 (and a warning), which aiva reads back as relative weights.
    The lepton azimuth is drawn uniformly with ``seed`` (default: the table's metadata seed)."""
    import awkward as ak
    import uproot

    from aiva.utils import atomic_path, json_default

    path = Path(path)
    n = len(table)
    w = cross_section_weights(table)
    if w is None:
        log.warning("%s: the events carry no cross section (not flux-folded, not at a fixed energy): "
                    "fScaleFactor = 0", path)
        scale, Wt = 0.0, table["weight"] if "weight" in table.columns else np.ones(n)
    else:
        mean = float(np.mean(w))
        if not mean > 0:
            raise EventFileError(str(path), "cross-section weights sum to zero", column="weight")
        scale, Wt = mean * _CM2, w / mean
    E, El, cos = table["Enu_true"], table["ELep"], table["CosLep"]
    fsp_list = table.particles.get("fsp")
    if fsp_list is not None and fsp_list.n_events and np.all(fsp_list.counts > 0):
        fsp_list = lepton_first(fsp_list, table["PDGLep"])
        first = fsp_list.offsets[:-1]  # the lepton leads each event's list
        px, py, pz = fsp_list.px[first], fsp_list.py[first], fsp_list.pz[first]
    else:
        px, py, pz = lepton_momenta(table, seed if seed is not None else int(table.metadata.get("seed", 0) or 0))
    q0 = E - El
    q3 = np.sqrt(px ** 2 + py ** 2 + (E - pz) ** 2)
    Q2 = q3 ** 2 - q0 ** 2
    w_rest = np.sqrt(np.maximum(-Q2 + 2 * _M_PROTON * q0 + _M_PROTON ** 2, 0.0))
    lep = table["PDGLep"]
    cc = is_cc(table)
    data: dict[str, Any] = {
        "Mode": table["Mode"], "cc": cc.astype(np.int8), "PDGnu": table["PDGnu"], "Enu_true": E,
        "tgt": _nuclear_pdg_vec(table["tgtz"], table["tgta"]),
        "tgta": table["tgta"], "tgtz": table["tgtz"], "PDGLep": lep, "ELep": El, "CosLep": cos,
        "Q2": table["Q2"] if "Q2" in table.columns else Q2, "q0": table["q0"] if "q0" in table.columns else q0,
        "q3": q3, "W_nuc_rest": w_rest, "W": table["W"] if "W" in table.columns else w_rest,
        "Weight": Wt, "InputWeight": Wt, "RWWeight": np.ones(n), "fScaleFactor": np.full(n, scale),
        "flagCCINC": cc, "flagNCINC": ~cc,
    }
    data = {k: np.asarray(v).astype(_SCALARS[k]) for k, v in data.items()}
    lists = dict(table.particles)
    meta_d = dict(table.metadata)
    placeholder = "fsp" not in lists
    if placeholder:  # lepton-only table: the lepton as the only final-state particle
        lists["fsp"] = ParticleList(np.ones(n, np.int32), lep, El, px, py, pz)
    # what the lists are, for aiva's reader (a table's own older mark is replaced)
    meta_d["particle_lists"] = {k: "lepton only" if (k == "fsp" and placeholder) else "whole events"
                                for k in ("fsp", "vert", "init") if k in lists}
    records: dict[str, Any] = {}
    for name in ("fsp", "vert", "init"):
        if name not in lists:
            continue
        pl, counts = lists[name], lists[name].counts.astype(np.int64)
        records[name] = ak.zip({f: ak.unflatten(getattr(pl, f).astype(np.int32 if f == "pdg" else np.float32), counts)
                                for f in ("px", "py", "pz", "E", "pdg")})
    others = sorted(set(lists) - set(records))
    if others:
        log.warning("%s: particle lists %s have no NUISANCE flat-tree branches and are not written", path, others)
    types: dict[str, Any] = {**{k: v.dtype for k, v in data.items()}, **{k: r.type for k, r in records.items()}}
    payload: dict[str, Any] = {**data, **records}
    meta = json.dumps(meta_d, default=json_default)
    with atomic_path(path) as tmp, uproot.recreate(tmp) as f:
        f.mktree(TREE, types, counter_name=lambda name: list_columns(name)[0],
                 field_name=lambda outer, inner: list_columns(outer)[1][inner],
                 title="aiva events in the NUISANCE flat-tree format")
        f[TREE].extend(payload)
        f[METADATA_KEY] = meta
    return path


def _nuclear_pdg_vec(Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """Vectorised :func:`aiva.physics.targets.nuclear_pdg`."""
    Z, A = np.asarray(Z, dtype=np.int64), np.asarray(A, dtype=np.int64)
    return np.where(A == 1, np.where(Z == 1, 2212, 2112), 1_000_000_000 + 10_000 * Z + 10 * A)
