"""Selections of events from files that mix channels, targets or probes, and normalisation of
relative weights. Every selection counts what it removed (``metadata["selection"]``); nothing
is dropped silently.

* ``cc_only``: keep charged-current events (a charged lepton out, NEUT |Mode| < 30); NC events,
  which NUISANCE stores with the outgoing neutrino as ``PDGLep``, are removed.
* ``target``: keep one nucleus of a compound target (CH, H₂O). The weights keep their meaning
  "per nucleon of the file's whole target"; they are rescaled to per nucleon of the chosen
  nucleus only when ``nucleons`` (the nucleons per molecule, 13 for CH) is given.
* ``probe``: keep one neutrino species (numu, numubar, nue, ...).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from aiva.errors import AivaInputError, EventFileError
from aiva.events.table import EventTable, cross_section_weights
from aiva.physics.targets import get_probe, get_target

log = logging.getLogger(__name__)

#: PDG codes of the neutrinos (the "lepton" of an NC event in a NUISANCE tree)
NEUTRINOS = (12, 14, 16)


@dataclass(frozen=True)
class Selection:
    """Filters applied to an event file after reading (CLI ``--cc-only``, ``--target``, ``--probe``)."""

    cc_only: bool = False
    target: str | None = None
    probe: str | None = None
    #: nucleons per molecule of a compound target, to give per-nucleon-of-``target`` weights
    nucleons: int | None = None

    @property
    def empty(self) -> bool:
        return not (self.cc_only or self.target or self.probe)


def is_cc(table: EventTable) -> np.ndarray:
    """True for charged-current events: a charged lepton out and |Mode| < 30 (NEUT codes)."""
    return ~np.isin(np.abs(table["PDGLep"]), NEUTRINOS) & (np.abs(table["Mode"]) < 30)


def select_events(table: EventTable, sel: Selection | None, path: str = "<events>") -> EventTable:
    """Apply ``sel``; record each filter's removed/kept counts in ``metadata["selection"]``."""
    if sel is None or sel.empty:
        return table
    w = cross_section_weights(table)
    if w is not None and "weight" not in table.columns:  # σ/N per event must stay that of the whole file
        table = table.with_columns(weight=w)
    steps: list[dict] = []
    keep = np.ones(len(table), dtype=bool)

    def apply(name: str, mask: np.ndarray, column: str) -> None:
        nonlocal keep
        before = int(keep.sum())
        keep &= mask
        removed = before - int(keep.sum())
        steps.append({"filter": name, "removed": removed, "kept": int(keep.sum())})
        log.info("%s: %s removed %d events, kept %d", path, name, removed, int(keep.sum()))
        if not keep.any():
            raise EventFileError(path, f"{name} removes every event ({before} before it)", column=column)

    tgt = get_target(sel.target) if sel.target else None
    if sel.cc_only:
        apply("--cc-only", is_cc(table), "PDGLep")
    if tgt is not None:
        apply(f"--target {tgt.name}", (table["tgta"] == tgt.A) & (table["tgtz"] == tgt.Z), "tgta")
    if sel.probe:
        p = get_probe(sel.probe)
        apply(f"--probe {p.name}", table["PDGnu"] == p.pdg, "PDGnu")
    out = table.select(keep)
    out.metadata["selection"] = (table.metadata.get("selection") or []) + steps
    if tgt is not None and sel.nucleons and "weight" in out.columns:
        out.columns["weight"] = out["weight"] * (sel.nucleons / tgt.A)
        out.metadata["normalisation"] = {**(out.metadata.get("normalisation") or {}), "per_nucleon_of": tgt.name}
    return out


def require_single(table: EventTable, path: str, *, what: tuple[str, ...] = ("cc", "target", "probe")) -> None:
    """Refuse a table that mixes CC and NC, targets or probes, naming the filter that separates them."""
    if "cc" in what:
        nc = ~is_cc(table)
        if nc.any():
            raise EventFileError(path, f"{int(nc.sum())} of {len(table)} events are not charged-current (NC: the "
                                       "'lepton' is the outgoing neutrino); aiva's models are CC: pass --cc-only",
                                 column="PDGLep")
    if "target" in what:
        za = np.unique(np.column_stack([table["tgtz"], table["tgta"]]), axis=0)
        if len(za) > 1:
            names = ", ".join(f"Z={z} A={a}" for z, a in za)
            raise EventFileError(path, f"the events mix {len(za)} targets ({names}); choose one with --target",
                                 column="tgta")
    if "probe" in what:
        pr = np.unique(table["PDGnu"])
        if len(pr) > 1:
            raise EventFileError(path, f"the events mix probes (PDG {', '.join(map(str, pr))}); choose one with "
                                       "--probe", column="PDGnu")


def normalise_to(table: EventTable, xsec_per_nucleon: float, path: str = "<events>") -> EventTable:
    """Scale relative weights so that the whole file's weights sum to ``xsec_per_nucleon``
    (10⁻³⁸ cm², the run's flux-averaged total cross section per nucleon)."""
    if not (np.isfinite(xsec_per_nucleon) and xsec_per_nucleon > 0):
        raise AivaInputError(f"--xsec: need a positive cross section in 1e-38 cm2 per nucleon, got {xsec_per_nucleon}")
    norm = table.metadata.get("normalisation") or {}
    if norm.get("unit") != "relative":
        raise AivaInputError(f"{path}: --xsec is for files without a cross section (GENIE gst, fScaleFactor = 0); "
                             f"this file's weights are already in {norm.get('unit', '1e-38 cm2 per nucleon')}")
    w = table["weight"] if "weight" in table.columns else np.ones(len(table))
    total = float(norm.get("sum_weight_all_entries", w.sum()))
    out = table.with_columns(weight=w * (xsec_per_nucleon / total))
    out.metadata["normalisation"] = {**norm, "unit": "1e-38 cm2 per nucleon",
                                     "flux_averaged_xsec_per_nucleon": xsec_per_nucleon, "how": "--xsec"}
    return out
