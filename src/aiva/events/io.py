"""Readers and writers of event tables.

Formats
-------
* Parquet (``.parquet``/``.pq``): aiva's native format; metadata as JSON in the schema
  metadata key ``aiva``.
* CSV (``.csv``): the same columns; no metadata.
* NUISANCE flat tree (ROOT, tree ``FlatTree_VARS``; P. Stowell et al., JINST 12 (2017) P01016):
  the columns have the same names; energies are already in GeV. ``W_nuc_rest`` becomes ``W``,
  ``Weight`` becomes ``weight``; ``fScaleFactor`` (cross section per event, cm² per nucleon)
  is kept in the metadata.
* GENIE summary tree (ROOT, tree ``gst``; GENIE Physics & User Manual, "gst" ntuple):
  ``neu``→PDGnu, ``Ev``→Enu_true, ``fspl``→PDGLep, ``El``→ELep, ``cthl``→CosLep, ``A``,``Z``→
  tgta,tgtz, ``Q2``, ``W``, ``wght``→weight; the process flags are mapped to NEUT modes:
  CC qel→1, mec→2, res→11, dis→26, coh→16; NC qel→51, res→31, dis→46, coh→36 (negative for
  antineutrinos). GENIE's ``res`` does not say which single-pion final state was made, so all CC
  resonant events carry mode 11.

Every reader validates the table (:func:`aiva.events.table.validate`) before returning it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from aiva.errors import EventFileError
from aiva.events.table import REQUIRED_COLUMNS, EventTable, validate
from aiva.utils import atomic_path

_META_KEY = b"aiva"


# ----------------------------------------------------------------------------------------- read
def read_events(path: str | os.PathLike, *, validate_table: bool = True) -> EventTable:
    """Read an event file (Parquet, CSV, NUISANCE flat tree or GENIE gst), validated."""
    path = Path(path)
    if not path.exists():
        raise EventFileError(str(path), "no such file")
    if path.stat().st_size == 0:
        raise EventFileError(str(path), "file is empty (0 bytes)")
    suffix = path.suffix.lower()
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
    return validate(table, str(path)) if validate_table else table


def _read_parquet(path: Path) -> EventTable:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        t = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise EventFileError(str(path), f"not a readable Parquet file (truncated or corrupt?): {exc}") from None
    meta: dict[str, Any] = {}
    raw = (t.schema.metadata or {}).get(_META_KEY)
    if raw:
        try:
            meta = json.loads(raw)
        except json.JSONDecodeError:
            raise EventFileError(str(path), "aiva metadata is not valid JSON") from None
    return EventTable({n: t.column(n).to_numpy() for n in t.column_names}, meta)


def _read_csv(path: Path) -> EventTable:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    try:
        t = pcsv.read_csv(path)
    except pa.ArrowInvalid as exc:
        raise EventFileError(str(path), f"not a readable CSV file: {exc}") from None
    cols = {}
    for n in t.column_names:
        col = t.column(n)
        if pa.types.is_null(col.type) or (col.null_count and not pa.types.is_floating(col.type)):
            raise EventFileError(str(path), "empty or non-numeric cells", column=n, n_rows=int(col.null_count))
        if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
            raise EventFileError(str(path), f"values are not numeric (type {col.type})", column=n)
        cols[n] = col.to_numpy(zero_copy_only=False)
    return EventTable(cols, {})


def _read_root(path: Path) -> EventTable:
    import uproot

    try:
        f = uproot.open(path)
    except Exception as exc:  # uproot raises several exception types for bad files
        raise EventFileError(str(path), f"not a readable ROOT file: {exc}") from None
    with f:
        keys = {k.split(";")[0] for k in f.keys()}
        if "FlatTree_VARS" in keys:
            return _from_nuisance(f["FlatTree_VARS"], path)
        if "gst" in keys:
            return _from_gst(f["gst"], path)
    raise EventFileError(str(path), f"no NUISANCE 'FlatTree_VARS' or GENIE 'gst' tree; found {sorted(keys)}")


def _branches(tree, names, path: Path, kind: str) -> dict[str, np.ndarray]:
    have = set(tree.keys())
    missing = [n for n in names if n not in have]
    if missing:
        raise EventFileError(str(path), f"{kind} tree lacks branch(es) {', '.join(missing)}", column=missing[0])
    return {n: np.asarray(a) for n, a in tree.arrays(names, library="np").items()}


def _from_nuisance(tree, path: Path) -> EventTable:
    b = _branches(tree, list(REQUIRED_COLUMNS), path, "NUISANCE FlatTree_VARS")
    extra = {"Q2": "Q2", "q0": "q0", "W_nuc_rest": "W", "Weight": "weight"}
    have = set(tree.keys())
    for src, dst in extra.items():
        if src in have:
            b[dst] = np.asarray(tree[src].array(library="np"))
    meta: dict[str, Any] = {"producer": "NUISANCE flat tree", "source_file": path.name}
    if "fScaleFactor" in have:
        sf = np.asarray(tree["fScaleFactor"].array(library="np"), dtype=np.float64)
        if len(sf):
            meta["fScaleFactor_cm2_per_nucleon"] = float(sf[0])
    return EventTable(b, meta)


def _from_gst(tree, path: Path) -> EventTable:
    names = ["neu", "fspl", "Ev", "El", "cthl", "A", "Z", "qel", "mec", "res", "dis", "coh", "cc", "nc"]
    b = _branches(tree, names, path, "GENIE gst")
    cc = b["cc"].astype(bool)
    mode = np.zeros(len(cc), dtype=np.int32)
    for flag, cc_mode, nc_mode in (("qel", 1, 51), ("mec", 2, 53), ("res", 11, 31), ("dis", 26, 46), ("coh", 16, 36)):
        f = b[flag].astype(bool)
        mode[f & cc] = cc_mode
        mode[f & ~cc] = nc_mode
    unknown = mode == 0
    if unknown.any():
        raise EventFileError(str(path), "events with no known process flag (qel/mec/res/dis/coh)",
                             column="Mode", n_rows=int(unknown.sum()))
    mode = np.where(b["neu"] < 0, -mode, mode)
    cols = {
        "Enu_true": b["Ev"], "PDGnu": b["neu"], "tgta": b["A"], "tgtz": b["Z"], "PDGLep": b["fspl"],
        "ELep": b["El"], "CosLep": b["cthl"], "Mode": mode,
    }
    have = set(tree.keys())
    for src, dst in (("Q2", "Q2"), ("W", "W"), ("wght", "weight")):
        if src in have:
            cols[dst] = np.asarray(tree[src].array(library="np"))
    return EventTable(cols, {"producer": "GENIE gst", "source_file": path.name})


# ---------------------------------------------------------------------------------------- write
def write_parquet(table: EventTable, path: str | os.PathLike) -> Path:
    """Write Parquet atomically (temporary file in the same folder, then rename)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    t = pa.table(table.columns)
    t = t.replace_schema_metadata({_META_KEY: json.dumps(table.metadata, default=_json_default).encode()})
    with atomic_path(path) as tmp:
        pq.write_table(t, tmp, compression="zstd")
    return path


def write_csv(table: EventTable, path: str | os.PathLike) -> Path:
    """Write CSV atomically (metadata is not kept in CSV)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    path = Path(path)
    with atomic_path(path) as tmp:
        pcsv.write_csv(pa.table(table.columns), tmp)
    return path


def write_events(table: EventTable, path: str | os.PathLike) -> Path:
    """Write by suffix: ``.parquet``/``.pq``, ``.csv`` or ``.hepmc3`` (NuHepMC)."""
    suffix = Path(path).suffix.lower()
    if suffix in (".parquet", ".pq"):
        return write_parquet(table, path)
    if suffix == ".csv":
        return write_csv(table, path)
    if suffix in (".hepmc3", ".hepmc"):
        from aiva.events.hepmc import write_nuhepmc

        return write_nuhepmc(table, path, flux_averaged_xsec=flux_averaged_xsec(table.metadata))
    raise EventFileError(str(path), f"cannot write {suffix!r}; use .parquet, .csv or .hepmc3")


def flux_averaged_xsec(meta: dict) -> float | None:
    """⟨σ⟩_Φ per nucleon (10⁻³⁸ cm²) of a flux-folded sample, from its metadata; else None."""
    if "flux_averaged_xsec" in meta:
        return float(meta["flux_averaged_xsec"]["per_nucleon"])
    xs = meta.get("xsec_1e-38cm2") or {}
    if xs.get("how") == "flux-averaged":
        return float(xs["total_per_nucleon"])
    return None


def _json_default(obj: Any):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj)}")
