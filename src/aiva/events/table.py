"""In-memory event table and its validation.

Column names follow the NUISANCE flat tree (``FlatTree_VARS``; P. Stowell et al.,
JINST 12 (2017) P01016) so that users recognise them:

==========  =====================================================================
column      meaning
==========  =====================================================================
Enu_true    neutrino energy [GeV]
PDGnu       PDG code of the probe (14 νμ, −14 ν̄μ, 11 e⁻)
tgta        target mass number A
tgtz        target charge Z
PDGLep      PDG code of the outgoing lepton (13 μ⁻, −13 μ⁺, ...)
ELep        total energy of the outgoing lepton [GeV]
CosLep      cosine of the lepton angle w.r.t. the beam
Mode        NEUT interaction mode: 1 CCQE, 2 2p2h, 11–13 CC1π, 21 CC multi-π, 26 DIS;
            negative for antineutrinos
Q2, q0, W   optional: Q² [GeV²], energy transfer [GeV], hadronic invariant mass [GeV]
weight      optional per-event weight
==========  =====================================================================
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aiva.errors import EventFileError
from aiva.events.particles import FIELDS as _PARTICLE_FIELDS
from aiva.events.particles import ParticleList

REQUIRED_COLUMNS: dict[str, type] = {
    "Enu_true": np.float64,
    "PDGnu": np.int32,
    "tgta": np.int32,
    "tgtz": np.int32,
    "PDGLep": np.int32,
    "ELep": np.float64,
    "CosLep": np.float64,
    "Mode": np.int32,
}
OPTIONAL_COLUMNS: dict[str, type] = {"Q2": np.float64, "q0": np.float64, "W": np.float64, "weight": np.float64}

#: NEUT mode codes used by aiva (sign flipped for antineutrinos).
MODE_NAMES = {1: "CCQE", 2: "2p2h", 11: "CC1pi+ p", 12: "CC1pi0 p", 13: "CC1pi+ n", 16: "CC coherent",
              21: "CC multi-pi", 26: "CC DIS", 31: "NC1pi0 n", 32: "NC1pi0 p", 33: "NC1pi- p", 34: "NC1pi+ n",
              36: "NC coherent", 41: "NC multi-pi", 46: "NC DIS", 51: "NCEL p", 52: "NCEL n"}

#: Median energy above which a column "looks like MeV": no accelerator beam of aiva's range has
#: a median above 100 GeV, while MeV-valued columns of few-GeV samples sit at 300–10,000.
MEV_SUSPICION_GEV = 100.0

#: per-row limit: no accelerator-neutrino event has E_ν or E_l above 1 TeV (row by row, not only the median)
MAX_ENERGY_GEV = 1000.0

_LEPTON_MASS = {11: 0.51099895e-3, 13: 0.1056583755, 15: 1.77686, 12: 0.0, 14: 0.0, 16: 0.0}


@dataclass
class EventTable:
    """Columns as 1-D NumPy arrays of equal length, plus a metadata dictionary.

    The metadata carries the producer, its version and configuration, the seed and, when
    known, per-channel cross sections (``xsec``); it travels in the Parquet file's schema
    metadata under the key ``aiva``.
    """

    columns: dict[str, np.ndarray]
    metadata: dict[str, Any] = field(default_factory=dict)
    #: per-event particle lists of whole events (see :mod:`aiva.events.particles`): ``"fsp"``
    #: (final state after FSI, lepton first) and ``"vert"`` (primary vertex, before FSI)
    particles: dict[str, ParticleList] = field(default_factory=dict)

    def __post_init__(self) -> None:
        lengths = {k: len(v) for k, v in self.columns.items()}
        lengths.update({f"particles[{k}]": len(v) for k, v in self.particles.items()})
        if len(set(lengths.values())) > 1:
            raise ValueError(f"columns have different lengths: {lengths}")
        for name, dtype in {**REQUIRED_COLUMNS, **OPTIONAL_COLUMNS}.items():
            if name in self.columns:
                self.columns[name] = exact_cast(name, self.columns[name], dtype)

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def __contains__(self, name: str) -> bool:
        return name in self.columns

    @property
    def names(self) -> list[str]:
        return list(self.columns)

    def select(self, mask: np.ndarray) -> EventTable:
        """Events chosen by a boolean mask or an index array (particle lists follow)."""
        return EventTable({k: v[mask] for k, v in self.columns.items()}, dict(self.metadata),
                          {k: p.take(mask) for k, p in self.particles.items()})

    def with_columns(self, **columns: np.ndarray) -> EventTable:
        """A new table with columns added or replaced; metadata and particle lists kept."""
        return EventTable({**self.columns, **columns}, dict(self.metadata), dict(self.particles))

    @property
    def theta(self) -> np.ndarray:
        """Lepton angle [rad]."""
        return np.arccos(self.columns["CosLep"])

    def kinematics(self) -> dict[str, np.ndarray]:
        """ω, Q², W, ... from the lepton alone (see :func:`aiva.physics.lepton_kinematics`)."""
        from aiva.physics.kinematics import lepton_kinematics

        m = _lepton_mass_column(self.columns["PDGLep"])
        return lepton_kinematics(self.columns["Enu_true"], self.columns["ELep"], self.columns["CosLep"],
                                 m_lep=m)  # type: ignore[arg-type]  # a per-event mass array works too

    def proxies(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(E'_ν, E'_μ, θ') of the GAN papers."""
        from aiva.physics.kinematics import to_proxies

        m = _lepton_mass_column(self.columns["PDGLep"])
        return to_proxies(self.columns["Enu_true"], self.columns["ELep"], self.theta,
                          m_lep=m)  # type: ignore[arg-type]  # a per-event mass array works too

    @staticmethod
    def concatenate(tables: list[EventTable]) -> EventTable:
        names = tables[0].names
        lists = {k: ParticleList.concatenate([t.particles[k] for t in tables]) for k in tables[0].particles}
        return EventTable({k: np.concatenate([t[k] for t in tables]) for k in names}, dict(tables[0].metadata),
                          lists)


def exact_cast(name: str, values, dtype, path: str = "<memory>") -> np.ndarray:
    """``values`` as ``dtype`` without changing any value: integer columns refuse non-integral,
    non-finite or out-of-range numbers, every column refuses strings and other non-numbers."""
    a = np.asarray(values)
    if a.dtype == dtype:
        return a
    if a.dtype.kind not in "biuf":
        raise EventFileError(path, f"values are not numbers (type {a.dtype})", column=name, n_rows=len(a))
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        if a.dtype.kind == "f":
            bad = ~np.isfinite(a) | (a != np.round(a))
            if bad.any():
                raise EventFileError(path, f"values are not integers (e.g. {a[bad][0]!r}); integer codes are never "
                                           "rounded", column=name, n_rows=int(bad.sum()))
        bad = (a < info.min) | (a > info.max)
        if bad.any():
            raise EventFileError(path, f"values outside the {np.dtype(dtype).name} range", column=name,
                                 n_rows=int(bad.sum()))
    return a.astype(dtype)


def _lepton_mass_column(pdg: np.ndarray) -> np.ndarray | float:
    codes = np.unique(np.abs(pdg))
    if len(codes) == 1:
        return _LEPTON_MASS.get(int(codes[0]), 0.0)
    return np.vectorize(lambda c: _LEPTON_MASS.get(abs(int(c)), 0.0))(pdg)


def validate(table: EventTable, path: str = "<memory>") -> EventTable:
    """Check an event table; raise :class:`EventFileError` naming file, column and row count.

    Checks, in order: no rows; missing required columns; NaN/inf in any numeric column;
    energies that look like MeV; negative energies; |CosLep| > 1; ELep below the lepton mass;
    ELep above Enu_true. Nothing is dropped or clipped: the first failing check raises.
    """
    if len(table.columns) == 0 or len(table) == 0:
        raise EventFileError(path, "contains no events")
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise EventFileError(path, f"missing required column(s) {', '.join(missing)}; "
                                   f"found {', '.join(table.names) or 'none'}",
                             column=missing[0])
    for name, col in table.columns.items():
        if np.issubdtype(col.dtype, np.floating):
            bad = ~np.isfinite(col)
            if bad.any():
                raise EventFileError(path, "NaN or infinite values", column=name, n_rows=int(bad.sum()))
    for name in ("Enu_true", "ELep"):
        med = float(np.median(table[name]))
        if med > MEV_SUSPICION_GEV:
            raise EventFileError(path, f"values look like MeV (median {med:g}); aiva expects GeV — "
                                       f"divide by 1000", column=name, n_rows=len(table))
        huge = table[name] > MAX_ENERGY_GEV
        if huge.any():
            raise EventFileError(path, f"energies above {MAX_ENERGY_GEV:g} GeV (largest {table[name].max():g}): MeV "
                                       "values, or not an accelerator-neutrino sample", column=name,
                                 n_rows=int(huge.sum()))
        neg = table[name] < 0
        if neg.any():
            raise EventFileError(path, "negative energies", column=name, n_rows=int(neg.sum()))
    bad = np.abs(table["CosLep"]) > 1.0 + 1e-12
    if bad.any():
        raise EventFileError(path, "|CosLep| > 1", column="CosLep", n_rows=int(bad.sum()))
    mass = _lepton_mass_column(table["PDGLep"])
    bad = table["ELep"] < mass * (1 - 1e-9)
    if bad.any():
        raise EventFileError(path, "ELep below the lepton mass (is it kinetic energy? aiva expects total "
                                   "energy)", column="ELep", n_rows=int(bad.sum()))
    bad = table["ELep"] > table["Enu_true"] * (1 + 1e-9)
    if bad.any():
        raise EventFileError(path, "ELep above Enu_true", column="ELep", n_rows=int(bad.sum()))
    return table


def cross_section_weights(table: EventTable) -> np.ndarray | None:
    """Per-event weights in 10⁻³⁸ cm² per nucleon (Σ over a bin = the bin's flux-averaged cross
    section), or None when the events carry no cross section.

    In order: the ``weight`` column unless the table's ``normalisation`` says it is relative
    (files with event weights but no cross section, e.g. a GENIE gst file); σ/N for a sample at
    one fixed energy whose metadata gives σ (``xsec_1e-38cm2`` of the reference MC,
    ``flux_averaged_xsec`` of a generator)."""
    norm = table.metadata.get("normalisation") or {}
    if "weight" in table.columns:
        return None if norm.get("unit") == "relative" else table["weight"]
    n = len(table)
    fixed = (table.metadata.get("energy") or {}).get("fixed")
    if fixed is None and n and np.all(table["Enu_true"] == table["Enu_true"][0]):
        fixed = float(table["Enu_true"][0])
    if fixed is None:
        return None
    xs = table.metadata.get("xsec_1e-38cm2") or {}
    if "total_per_nucleon" in xs and str(xs.get("how", "")).startswith("at E"):
        return np.full(n, float(xs["total_per_nucleon"]) / n)
    fa = table.metadata.get("flux_averaged_xsec") or {}
    if "per_nucleon" in fa:
        return np.full(n, float(fa["per_nucleon"]) / n)
    return None


def lepton_momenta(table: EventTable, seed: int | list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(p_x, p_y, p_z) of the lepton [GeV] with the beam along +z and the azimuth φ drawn uniformly
    in [0, 2π) from ``numpy.random.default_rng(seed)`` (an int or a list of ints): the models and the
    reference MC give (E_l, cos θ) only, and the cross section does not depend on φ for an
    unpolarised target."""
    m = _lepton_mass_column(table["PDGLep"])
    El, cos = table["ELep"], table["CosLep"]
    p = np.sqrt(np.maximum(El ** 2 - np.asarray(m) ** 2, 0.0))
    sin = np.sqrt(np.maximum(1.0 - cos ** 2, 0.0))
    phi = np.random.default_rng(seed).uniform(0.0, 2 * np.pi, len(table))
    return p * sin * np.cos(phi), p * sin * np.sin(phi), p * cos


def table_sha256(table: EventTable) -> str:
    """SHA-256 of a table's columns (names, dtypes and bytes, in column order): the identity of
    in-memory training data, as the file's SHA-256 is for data read from a file."""
    import hashlib

    h = hashlib.sha256()
    for name, col in table.columns.items():
        a = np.ascontiguousarray(col)
        h.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    for lname, plist in table.particles.items():  # whole events: the particle lists too
        for f in ("counts", *_PARTICLE_FIELDS):
            a = np.ascontiguousarray(getattr(plist, f))
            h.update(f"{lname}.{f}:{a.dtype.str}:{a.shape}".encode())
            h.update(a.tobytes())
    return h.hexdigest()

