"""Readers and writers of event tables.

Formats
-------
* Parquet (``.parquet``/``.pq``): aiva's native format; metadata as JSON in the schema
  metadata key ``aiva``. Particle lists (:mod:`aiva.events.particles`) are a count column and
  five Arrow ``list<int32>``/``list<double>`` columns named as in NUISANCE's flat tree: ``nfsp``
  with ``pdg E px py pz`` (final state), ``nvertp`` with ``pdg_vert E_vert px_vert py_vert
  pz_vert`` (primary vertex, before FSI); see ``docs/particles.md``.
* CSV (``.csv``): the same scalar columns; no metadata, no particle lists.
* NUISANCE flat tree (ROOT, tree ``FlatTree_VARS``), read and written by
  :mod:`aiva.events.nuisance`: the columns have the same names; ``weight`` = ``Weight`` ×
  ``fScaleFactor`` in 10⁻³⁸ cm² per nucleon per event.
* GENIE summary tree (ROOT, tree ``gst``), read by :mod:`aiva.events.gst`: relative weights
  (``wght``), NEUT modes from ``neut_code`` or the process flags, rare processes skipped and
  counted.
* NuHepMC (``.hepmc3``): :mod:`aiva.events.hepmc`.

Every reader validates the table (:func:`aiva.events.table.validate`) before returning it.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from aiva.errors import EventFileError
from aiva.events.particles import NUISANCE_LISTS, ParticleList, check_columns, list_columns, list_names_in
from aiva.events.table import EventTable, exact_cast, validate
from aiva.utils import atomic_path, json_default

if TYPE_CHECKING:
    from aiva.events.select import Selection

log = logging.getLogger(__name__)

_META_KEY = b"aiva"


# ----------------------------------------------------------------------------------------- read
def read_events(path: str | os.PathLike, *, validate_table: bool = True, select: Selection | None = None
                ) -> EventTable:
    """Read an event file (Parquet, CSV, NUISANCE flat tree, GENIE gst or NuHepMC), validated;
    ``select`` applies the CC/target/probe filters of :mod:`aiva.events.select` (counted)."""
    path = Path(path)
    if not path.exists():
        raise EventFileError(str(path), "no such file")
    if path.stat().st_size == 0:
        raise EventFileError(str(path), "file is empty (0 bytes)")
    try:
        table = _read_by_suffix(path)
    except EventFileError as exc:  # raised by the table itself: name the file
        if exc.path != "<memory>":
            raise
        raise EventFileError(str(path), exc.problem, exc.column, exc.n_rows) from None
    for why, n in (table.metadata.get("dropped") or {}).items():  # every reader's skips, said in one place
        log.info(f"{path}: skipped {n} events: {why}")
    if validate_table:
        validate(table, str(path))
    if select is not None:
        from aiva.events.select import select_events

        table = select_events(table, select, str(path))
    return table


def _read_by_suffix(path: Path) -> EventTable:
    suffix = path.suffix.lower()
    if suffix == ".gz" and path.suffixes[-2:-1] and path.suffixes[-2].lower() in (".hepmc3", ".hepmc"):
        suffix = ".hepmc3"
    if suffix in (".parquet", ".pq"):
        table = _read_parquet(path)
    elif suffix == ".csv":
        table = _read_csv(path)
    elif suffix == ".root":
        table = _read_root(path)
    elif suffix in (".hepmc3", ".hepmc"):
        from aiva.events.hepmc import read_nuhepmc

        table = read_nuhepmc(path)
    else:
        raise EventFileError(str(path), f"unknown file type {suffix!r}; expected .parquet, .csv, .root or .hepmc3")
    return table


def _read_parquet(path: Path) -> EventTable:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
    except (pa.ArrowInvalid, OSError) as exc:
        raise EventFileError(str(path), f"not a readable Parquet file (truncated or corrupt?): "
                                        f"{str(exc).splitlines()[0][:200]}") from None
    _check_unique(names, path)
    try:
        t = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise EventFileError(str(path), f"not a readable Parquet file (truncated or corrupt?): "
                                        f"{str(exc).splitlines()[0][:200]}") from None
    meta: dict[str, Any] = {}
    raw = (t.schema.metadata or {}).get(_META_KEY)
    if raw:
        try:
            meta = json.loads(raw)
        except json.JSONDecodeError:
            raise EventFileError(str(path), "aiva metadata is not valid JSON") from None
        if not isinstance(meta, dict):
            raise EventFileError(str(path), "aiva metadata is not a JSON object")
    lists = _read_particle_lists(t, path)
    skip = {c for name in lists for c in (list_columns(name)[0], *list_columns(name)[1].values())}
    return EventTable({n: _numeric_column(t.column(n), n, path) for n in t.column_names if n not in skip}, meta,
                      lists)


def _read_particle_lists(t, path: Path) -> dict[str, ParticleList]:
    """The particle lists of an Arrow table: per list a count column (``nfsp``, ``nvertp``) and
    five ``list<>`` columns (``pdg E px py pz``, ``pdg_vert ...``), checked: no nulls, every row's
    list as long as its count, finite momenta, E ≥ |p|."""
    import pyarrow as pa

    out: dict[str, ParticleList] = {}
    # a list is announced by its count column or by a list-typed array (a scalar column "E" is no list)
    counts_known = {list_columns(n)[0] for n in NUISANCE_LISTS}
    listy = [n for n in t.column_names if pa.types.is_list(t.schema.field(n).type)
             or pa.types.is_large_list(t.schema.field(n).type)]
    for name, count_col in list_names_in(listy + [n for n in t.column_names
                                                 if n in counts_known or n.startswith("n_")]).items():
        _, cols = list_columns(name)
        if not any(c in listy for c in cols.values()):
            continue  # a count column alone (e.g. NUISANCE's scalar branches exported) stays a scalar column
        missing = [c for c in (count_col, *cols.values()) if c not in t.column_names]
        if missing:
            raise EventFileError(str(path), f"particle list '{name}' is incomplete: no column(s) {', '.join(missing)}",
                                 column=missing[0])
        counts = _numeric_column(t.column(count_col), count_col, path)
        if counts.dtype.kind not in "iu" or (counts < 0).any():
            raise EventFileError(str(path), "particle counts must be non-negative integers", column=count_col)
        arrays = {}
        for f, c in cols.items():
            col = t.column(c)
            if not (pa.types.is_list(col.type) or pa.types.is_large_list(col.type)):
                raise EventFileError(str(path), f"a particle column must be a list per event, not {col.type}", column=c)
            arr = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
            if arr.null_count:
                raise EventFileError(str(path), "empty cells (null lists)", column=c, n_rows=int(arr.null_count))
            lengths = arr.value_lengths().to_numpy(zero_copy_only=False)
            bad = lengths != counts
            if bad.any():
                raise EventFileError(str(path), f"list lengths differ from the counts in '{count_col}'", column=c,
                                     n_rows=int(bad.sum()))
            values = arr.flatten()
            if values.null_count:
                raise EventFileError(str(path), "null particle values", column=c)
            kind = pa.types.is_integer(values.type) if f == "pdg" else (
                pa.types.is_floating(values.type) or pa.types.is_integer(values.type))
            if not kind:
                raise EventFileError(str(path), f"particle values of type {values.type} "
                                                f"({'integer PDG codes' if f == 'pdg' else 'numbers'} expected)", column=c)
            arrays[f] = values.to_numpy(zero_copy_only=False)
        try:
            arrays["pdg"] = exact_cast(cols["pdg"], arrays["pdg"], np.int32, str(path))
            plist = ParticleList(counts, *(arrays[f] for f in ("pdg", "E", "px", "py", "pz")))
        except ValueError as exc:
            if isinstance(exc, EventFileError):
                raise
            raise EventFileError(str(path), str(exc), column=count_col) from None
        check_columns(plist, str(path), name)
        out[name] = plist
    return out


def _check_unique(names: list[str], path: Path) -> None:
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise EventFileError(str(path), f"column name appears {names.count(dup[0])} times", column=dup[0])


def _numeric_column(col, name: str, path: Path) -> np.ndarray:
    """A column as NumPy, refusing nulls and non-numeric types (nothing is filled in or parsed)."""
    import pyarrow as pa

    if pa.types.is_null(col.type) or col.null_count:
        raise EventFileError(str(path), "empty cells (nulls)", column=name, n_rows=int(col.null_count or len(col)))
    if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_boolean(col.type)):
        raise EventFileError(str(path), f"values are not numbers (type {col.type}); numeric text is not converted",
                             column=name)
    return col.to_numpy(zero_copy_only=False)


def _read_csv(path: Path) -> EventTable:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    try:
        t = pcsv.read_csv(path)
    except pa.ArrowInvalid as exc:
        raise EventFileError(str(path), f"not a readable CSV file: {exc}") from None
    _check_unique(t.column_names, path)
    return EventTable({n: _numeric_column(t.column(n), n, path) for n in t.column_names}, {})


def _read_root(path: Path) -> EventTable:
    import uproot

    from aiva.events.gst import read_gst
    from aiva.events.nuisance import read_flattree

    try:
        f = uproot.open(path)
    except Exception as exc:  # uproot raises several exception types for bad files
        raise EventFileError(str(path), f"not a readable ROOT file (truncated or not ROOT?): {exc}") from None
    with f:
        try:
            keys = {k.split(";")[0]: v for k, v in f.classnames().items()}
        except Exception as exc:
            raise EventFileError(str(path), f"ROOT directory cannot be read (truncated?): {exc}") from None
        for name, reader in (("FlatTree_VARS", read_flattree), ("gst", read_gst)):
            if name in keys:
                if keys[name] not in ("TTree", "ROOT::RNTuple"):
                    raise EventFileError(str(path), f"'{name}' is a {keys[name]}, not a TTree")
                try:
                    tree = f[name]
                except Exception as exc:
                    raise EventFileError(str(path), f"tree '{name}' cannot be read (truncated?): {exc}") from None
                return reader(tree, path, f)
    raise EventFileError(str(path), f"no NUISANCE 'FlatTree_VARS' or GENIE 'gst' tree; found {sorted(keys)}")


# ---------------------------------------------------------------------------------------- write
def write_parquet(table: EventTable, path: str | os.PathLike) -> Path:
    """Write Parquet atomically (temporary file in the same folder, then rename)."""
    import pyarrow.parquet as pq

    path = Path(path)
    t = _arrow(table, table.metadata)
    with atomic_path(path) as tmp:
        pq.write_table(t, tmp, compression="zstd")
    return path


def _arrow(table: EventTable, metadata: dict):
    """The table as Arrow, aiva's metadata as JSON under the schema key ``aiva``."""
    import pyarrow as pa

    t = pa.table({**table.columns, **_particle_arrays(table)})
    return t.replace_schema_metadata({_META_KEY: json.dumps(metadata, default=json_default).encode()})


def _particle_arrays(table: EventTable) -> dict:
    """Arrow columns of the particle lists: the count (int32) and ``list<int32>``/``list<double>``
    columns named as NUISANCE's flat tree (``nfsp``, ``pdg``, ``E``, ...; ``nvertp``, ``pdg_vert``, ...)."""
    import pyarrow as pa

    out: dict = {}
    for name, plist in table.particles.items():
        count, cols = list_columns(name)
        clash = [c for c in (count, *cols.values()) if c in table.columns]
        if clash:
            raise EventFileError("<memory>", f"column name is also a column of particle list '{name}'", column=clash[0])
        offsets = pa.array(plist.offsets.astype(np.int32))
        out[count] = pa.array(plist.counts.astype(np.int32))
        out[cols["pdg"]] = pa.ListArray.from_arrays(offsets, pa.array(plist.pdg.astype(np.int32)))
        for f in ("E", "px", "py", "pz"):
            out[cols[f]] = pa.ListArray.from_arrays(offsets, pa.array(getattr(plist, f).astype(np.float64)))
    return out


def write_parquet_stream(path: str | os.PathLike, tables: Iterable[EventTable], extra_metadata: dict | None = None
                         ) -> Path:
    """Write the tables one after the other as row groups of one Parquet file (memory holds one
    table), atomically; the file's metadata are the first table's updated with ``extra_metadata``."""
    import pyarrow.parquet as pq

    path = Path(path)
    writer = schema = None
    with atomic_path(path) as tmp:
        try:
            for t in tables:
                if writer is None:
                    schema = _arrow(t, {**t.metadata, **(extra_metadata or {})}).schema
                    writer = pq.ParquetWriter(str(tmp), schema, compression="zstd")
                part = _arrow(t, {})
                assert schema is not None
                if part.schema.names != schema.names:
                    raise EventFileError(str(path), f"chunk columns {part.schema.names} differ from the first chunk's "
                                                    f"{schema.names} (every chunk needs the same particle lists)")
                writer.write_table(part.cast(schema))
        finally:
            if writer is not None:
                writer.close()
    return path


def write_csv(table: EventTable, path: str | os.PathLike) -> Path:
    """Write CSV atomically (metadata is not kept in CSV)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    path = Path(path)
    if table.particles:
        log.warning("%s: CSV holds one row of numbers per event: the particle lists (%s) are not written; use "
                    ".parquet, .root or .hepmc3 for whole events", path, ", ".join(table.particles))
    with atomic_path(path) as tmp:
        pcsv.write_csv(pa.table(table.columns), tmp)
    return path


def write_events(table: EventTable, path: str | os.PathLike, **nuhepmc_options: Any) -> Path:
    """Write by suffix: ``.parquet``/``.pq``, ``.csv``, ``.root`` (NUISANCE flat tree) or
    ``.hepmc3``/``.hepmc3.gz`` (NuHepMC 1.0)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".gz" and Path(path).suffixes[-2:-1] and Path(path).suffixes[-2].lower() in (".hepmc3", ".hepmc"):
        suffix = ".hepmc3"
    if suffix == ".root":
        from aiva.events.nuisance import write_flattree

        return write_flattree(table, path)
    if suffix in (".parquet", ".pq"):
        return write_parquet(table, path)
    if suffix == ".csv":
        return write_csv(table, path)
    if suffix in (".hepmc3", ".hepmc"):
        from aiva.events.hepmc import write_nuhepmc

        return write_nuhepmc(table, path, **nuhepmc_options)
    raise EventFileError(str(path), f"cannot write {suffix!r}; use .parquet, .csv, .root or .hepmc3")


def flux_averaged_xsec(meta: dict) -> float | None:
    """⟨σ⟩_Φ per nucleon (10⁻³⁸ cm²) of a flux-folded sample, from its metadata; else None."""
    if "flux_averaged_xsec" in meta:
        return float(meta["flux_averaged_xsec"]["per_nucleon"])
    xs = meta.get("xsec_1e-38cm2") or {}
    if xs.get("how") == "flux-averaged":
        return float(xs["total_per_nucleon"])
    return None
