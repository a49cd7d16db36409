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
        for f in ("E", "px", "py", "pz"):
            bad = ~np.isfinite(getattr(self, f))
            if bad.any():
                raise EventFileError(path, "NaN or infinite particle momenta", column=f"{f}_{name}",
                                     n_rows=int(np.unique(self.event_index()[bad]).size))
        bad = self.E < self.p - 1e-6
        if bad.any():
            raise EventFileError(path, "particles with E < |p| (energies must be total energies in GeV)",
                                 column=f"E_{name}", n_rows=int(np.unique(self.event_index()[bad]).size))
