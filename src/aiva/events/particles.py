"""Per-event particle lists (jagged arrays) for whole events.

A :class:`ParticleList` holds the particles of ``n_events`` events in flat arrays, event by event,
with ``counts[i]`` particles in event ``i``: the layout of the NUISANCE flat tree's ``nfsp`` with
``pdg[nfsp]``, ``E[nfsp]``, ``px[nfsp]``, ``py[nfsp]``, ``pz[nfsp]`` (P. Stowell et al., JINST 12
(2017) P01016) and of an Arrow ``list<…>`` column. Momenta and energies are in GeV, lab frame,
beam along +z. An :class:`~aiva.events.EventTable` carries its lists in ``particles``:

* ``"fsp"`` — the final state after final-state interactions: the outgoing lepton first, then the
  hadrons that leave the nucleus (NUISANCE ``nfsp``);
* ``"vert"`` — the particles at the primary vertex before final-state interactions (NUISANCE
  ``nvertp`` and the ``*_vert`` arrays), lepton first.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from aiva.errors import EventFileError

FIELDS = ("pdg", "E", "px", "py", "pz")


@dataclass
class ParticleList:
    counts: np.ndarray  #: (n_events,) int32, particles per event
    pdg: np.ndarray  #: (m,) int32 PDG codes
    E: np.ndarray  #: (m,) float64 total energy [GeV]
    px: np.ndarray  #: (m,) float64 [GeV]
    py: np.ndarray
    pz: np.ndarray

    def __post_init__(self) -> None:
        self.counts = np.asarray(self.counts, dtype=np.int32)
        self.pdg = np.asarray(self.pdg, dtype=np.int32)
        for f in ("E", "px", "py", "pz"):
            setattr(self, f, np.asarray(getattr(self, f), dtype=np.float64))
        m = len(self.pdg)
        if any(len(getattr(self, f)) != m for f in FIELDS):
            raise ValueError(f"particle arrays have different lengths: {[len(getattr(self, f)) for f in FIELDS]}")
        if self.counts.ndim != 1 or (self.counts < 0).any() or int(self.counts.sum()) != m:
            raise ValueError(f"counts (sum {int(self.counts.sum())}) do not match the {m} particles")

    # ------------------------------------------------------------------ construction
    @classmethod
    def empty(cls, n_events: int) -> ParticleList:
        z = np.zeros(0)
        return cls(np.zeros(n_events, np.int32), np.zeros(0, np.int32), z, z, z, z)

    @classmethod
    def from_event_index(cls, event: np.ndarray, n_events: int, pdg, E, px, py, pz) -> ParticleList:
        """Particles given with the index of their event, in any order; the order of particles
        within an event is kept (stable sort)."""
        event = np.asarray(event, dtype=np.int64)
        if len(event) and (event.min() < 0 or event.max() >= n_events):
            raise ValueError("event index out of range")
        order = np.argsort(event, kind="stable")
        counts = np.bincount(event, minlength=n_events).astype(np.int32)
        return cls(counts, *(np.asarray(a)[order] for a in (pdg, E, px, py, pz)))

    @classmethod
    def from_fixed(cls, pdg, p4) -> ParticleList:
        """One particle per event: ``pdg`` (n,) and ``p4`` (4, n) = (E, px, py, pz)."""
        pdg = np.asarray(pdg)
        n = p4.shape[1]
        return cls(np.ones(n, np.int32), np.broadcast_to(pdg, (n,)).copy(), p4[0], p4[1], p4[2], p4[3])

    @staticmethod
    def concatenate(lists: Sequence[ParticleList]) -> ParticleList:
        """Events of several lists one after the other (the lists of consecutive chunks)."""
        return ParticleList(np.concatenate([p.counts for p in lists]),
                            *(np.concatenate([getattr(p, f) for p in lists]) for f in FIELDS))

    @staticmethod
    def merge(lists: Sequence[ParticleList]) -> ParticleList:
        """Event by event: event i holds the particles of event i of each list, in list order."""
        n = len(lists[0].counts)
        if any(len(p.counts) != n for p in lists):
            raise ValueError("merged particle lists must have the same number of events")
        ev = np.concatenate([p.event_index() for p in lists])
        return ParticleList.from_event_index(ev, n, *(np.concatenate([getattr(p, f) for p in lists])
                                                      for f in FIELDS))

    # ------------------------------------------------------------------ access
    @property
    def n_events(self) -> int:
        return len(self.counts)

    def __len__(self) -> int:
        return len(self.counts)

    @property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.counts, dtype=np.int64)])

    def event_index(self) -> np.ndarray:
        """(m,) index of each particle's event."""
        return np.repeat(np.arange(self.n_events, dtype=np.int64), self.counts)

    def take(self, which: np.ndarray) -> ParticleList:
        """Events selected by a boolean mask (n_events,) or an index array, in that order."""
        which = np.asarray(which)
        idx = np.flatnonzero(which) if which.dtype == bool else which.astype(np.int64)
        return ParticleList(self.counts[idx], *(getattr(self, f)[self.positions(idx)] for f in FIELDS))

    def positions(self, idx: np.ndarray) -> np.ndarray:
        """Positions in the flat arrays of the particles of events ``idx`` (an index array), event
        by event: what :meth:`take` gathers, for carrying per-particle flags along."""
        counts = self.counts[idx]
        starts = self.offsets[idx]
        rep = np.repeat(starts - np.concatenate([[0], np.cumsum(counts, dtype=np.int64)[:-1]]), counts)
        return rep + np.arange(int(counts.sum()), dtype=np.int64)

    def filter(self, keep: np.ndarray) -> ParticleList:
        """Particles kept by a boolean mask (m,); events keep their places."""
        keep = np.asarray(keep, dtype=bool)
        counts = np.bincount(self.event_index()[keep], minlength=self.n_events).astype(np.int32)
        return ParticleList(counts, *(getattr(self, f)[keep] for f in FIELDS))

    @property
    def p(self) -> np.ndarray:
        """|p| of each particle [GeV]."""
        return np.sqrt(self.px ** 2 + self.py ** 2 + self.pz ** 2)

    @property
    def mass(self) -> np.ndarray:
        """Invariant mass of each particle [GeV] (≥ 0)."""
        return np.sqrt(np.maximum(self.E ** 2 - self.p ** 2, 0.0))

    def sum_p4(self) -> np.ndarray:
        """(4, n_events) sum of (E, px, py, pz) over each event's particles."""
        ev = self.event_index()
        return np.vstack([np.bincount(ev, weights=getattr(self, f), minlength=self.n_events)
                          for f in ("E", "px", "py", "pz")])

    def count(self, pdg_codes: Sequence[int] | int, p_min: float = 0.0) -> np.ndarray:
        """(n_events,) number of particles with a PDG code in ``pdg_codes`` and |p| > ``p_min`` GeV."""
        codes = np.atleast_1d(np.asarray(pdg_codes))
        sel = np.isin(self.pdg, codes)
        if p_min > 0:
            sel &= self.p > p_min
        return np.bincount(self.event_index()[sel], minlength=self.n_events).astype(np.int32)

    def event(self, i: int) -> dict[str, np.ndarray]:
        """The particles of event ``i`` as a dict of arrays (for printing and tests)."""
        a, b = self.offsets[i], self.offsets[i + 1]
        return {f: getattr(self, f)[a:b] for f in FIELDS}

    def check(self, path: str = "<memory>", name: str = "fsp") -> None:
        """Finite values and E ≥ |p| − 1 keV; raise :class:`EventFileError` naming the list."""
        _check_values(self, path, {f: f"{f}_{name}" for f in ("E", "px", "py", "pz")}, 0.0)


# ------------------------------------------------------------------ file layout (additions for #24 records)
#: NUISANCE flat-tree names of the lists (``GenericFlux_Vectors`` / ``HadronFlux_Vectors``
#: ``AddEventVariablesToTree``): count branch and the suffix of the ``pdg``/``E``/``px``/``py``/``pz`` arrays.
#: Other list names are written as ``n_<name>`` with ``<field>_<name>``. An optional ``"init"`` list holds,
#: as NUISANCE's ``ninitp``, the initial state of the primary interaction: the probe, then the struck
#: nucleon(s) (written to NuHepMC as P.C.1 struck nucleons, status 21).
NUISANCE_LISTS: dict[str, tuple[str, str]] = {"fsp": ("nfsp", ""), "vert": ("nvertp", "_vert"), "init": ("ninitp", "_init")}


def list_columns(name: str) -> tuple[str, dict[str, str]]:
    """(count column, {field: column}) of particle list ``name`` in files: ``"fsp"`` →
    ``nfsp`` with ``pdg E px py pz``; ``"vert"`` → ``nvertp`` with ``pdg_vert E_vert ...``."""
    count, suffix = NUISANCE_LISTS.get(name, (f"n_{name}", f"_{name}"))
    return count, {f: f"{f}{suffix}" for f in FIELDS}


def list_names_in(columns: Sequence[str]) -> dict[str, str]:
    """{list name: count column} for every particle list whose count column and five arrays are
    all among ``columns`` (known NUISANCE names first, then the generic ``n_<name>`` layout)."""
    have = set(columns)
    out: dict[str, str] = {}
    for name in NUISANCE_LISTS:
        count, cols = list_columns(name)
        if count in have or any(c in have for c in cols.values()):
            out[name] = count
    for c in columns:
        if c.startswith("n_") and f"pdg_{c[2:]}" in have and c[2:] not in out:
            out[c[2:]] = c
    return out


def check_columns(plist: ParticleList, path: str, name: str, *, rtol: float = 0.0) -> None:
    """Like :meth:`ParticleList.check` (finite values, E ≥ |p| − 1 keV − ``rtol``·E; ``rtol`` for
    values stored in single precision) but naming the file's own column (``E``, ``px_vert``, ...)
    in the :class:`EventFileError`."""
    _check_values(plist, path, list_columns(name)[1], rtol)


def _check_values(plist: ParticleList, path: str, cols: dict[str, str], rtol: float) -> None:
    """The checks of :meth:`ParticleList.check` and :func:`check_columns`, naming ``cols[field]``."""
    ev = plist.event_index()
    for f in ("E", "px", "py", "pz"):
        bad = ~np.isfinite(getattr(plist, f))
        if bad.any():
            raise EventFileError(path, "NaN or infinite particle momenta", column=cols[f],
                                 n_rows=int(np.unique(ev[bad]).size))
    bad = plist.E < plist.p - 1e-6 - rtol * np.abs(plist.E)
    if bad.any():
        raise EventFileError(path, "particles with E < |p| (energies must be total energies in GeV)",
                             column=cols["E"], n_rows=int(np.unique(ev[bad]).size))


def lepton_first(plist: ParticleList, pdg_lep: np.ndarray) -> ParticleList:
    """The same events with, in each event, the most energetic particle of code ``pdg_lep[i]``
    moved to the front (the other particles keep their order); events without one are unchanged.
    NUISANCE's ``PDGLep`` is the highest-momentum lepton (``GetHMFSAnyLepton``), generators list
    particles in their own order."""
    ev = plist.event_index()
    is_lep = plist.pdg == np.asarray(pdg_lep)[ev]
    chosen = np.zeros(len(ev), dtype=bool)
    if is_lep.any():
        idx = np.flatnonzero(is_lep)
        o = np.lexsort((-plist.E[idx], ev[idx]))  # by event, most energetic first
        _, first = np.unique(ev[idx][o], return_index=True)
        chosen[idx[o][first]] = True
    order = np.argsort(2 * ev + (~chosen), kind="stable")
    if np.array_equal(order, np.arange(len(ev))):
        return plist
    return ParticleList(plist.counts, *(getattr(plist, f)[order] for f in FIELDS))


def same_events(a: ParticleList, b: ParticleList, *, rtol: float = 0.0) -> np.ndarray:
    """(n_events,) True where event i has the same particles, in the same order, in ``a`` and
    ``b`` (codes equal, momenta equal within ``rtol`` of the energy): e.g. "fsp" equal to "vert"
    means no final-state interaction changed the event."""
    if a.n_events != b.n_events:
        raise ValueError("particle lists have different numbers of events")
    same = a.counts == b.counts
    ia, ib = a.event_index(), b.event_index()
    # compare only events whose counts agree: their particles line up one to one
    ka, kb = same[ia], same[ib]
    diff = a.pdg[ka] != b.pdg[kb]
    for f in ("E", "px", "py", "pz"):
        diff |= np.abs(getattr(a, f)[ka] - getattr(b, f)[kb]) > rtol * np.abs(a.E[ka])
    bad = np.bincount(ia[ka][diff], minlength=a.n_events) > 0
    return same & ~bad
