"""Measurements of flux-averaged d²σ/dp_μ dcosθ_μ and model predictions in their binning.

A measurement is a folder (shipped under ``aiva/data/measurements``, or the user's own in the
same format, see ``tools/prepare_measurements.py``): ``measurement.json`` (metadata, citation,
target, probe, shipped flux), ``data.csv`` (``bin,cos_lo,cos_hi,p_lo_GeV,p_hi_GeV,xsec,error``,
in 10⁻³⁸ cm²/(GeV/c)/nucleon), ``covariance.csv`` (required) and, for results in reconstructed
variables, ``smearing.csv`` with S[reco, true].

Prediction from weighted events (weights in 10⁻³⁸ cm²/nucleon summing to ⟨σ⟩_Φ, as written by
``aiva generate --flux`` and ``aiva simulate --flux``): the bin-integrated cross section
σ_b = Σ_{i∈b} w_i; in reconstructed space σ^reco = S σ^true (as NUISANCE does for MicroBooNE,
``MicroBooNE_CCInc_XSec_2DPcos_nu::ConvertEventRates``); the differential value is
σ_b / (Δp_b Δcosθ_b). With ``last_p_bin_overflow`` the last momentum bin of each cosθ slice also
takes the events above its upper edge (the bin's nominal width is kept). χ² = rᵀC⁻¹r with the
full covariance C, r = data − prediction.

Measurements in (p_T, p_∥) of the muon (MINERvA's CCQE-like result, ``"axes": "pt_pz"`` in
``measurement.json``) have ``data.csv`` columns ``bin,pt_lo_GeV,pt_hi_GeV,pz_lo_GeV,pz_hi_GeV,xsec,error``
with p_T = p sinθ_μ and p_∥ = p cosθ_μ relative to the neutrino direction (D. Ruterbories et al.
(MINERvA), PRD 99, 012004 (2019)); the value is σ_b / (Δp_T Δp_∥). Measurements of a
final-state topology (``"signal"`` in ``measurement.json``, e.g. CC0π) need whole events; their
signal selection is in :mod:`aiva.measurements.cc0pi`.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aiva.errors import AivaInputError
from aiva.events.table import EventTable, _lepton_mass_column

MEASUREMENTS_DIR = Path(__file__).resolve().parent.parent / "data" / "measurements"
_COLS = ["bin", "cos_lo", "cos_hi", "p_lo_GeV", "p_hi_GeV", "xsec", "error"]
_COLS_PTPZ = ["bin", "pt_lo_GeV", "pt_hi_GeV", "pz_lo_GeV", "pz_hi_GeV", "xsec", "error"]


@dataclass
class Measurement:
    name: str
    meta: dict
    bins: np.ndarray  #: (n, 4): cos_lo, cos_hi, p_lo, p_hi
    values: np.ndarray  #: (n,) 10⁻³⁸ cm²/(GeV/c)/nucleon
    errors: np.ndarray
    covariance: np.ndarray  #: (n, n)
    smearing: np.ndarray | None = None  #: (n, n) S[reco, true]
    #: ``"cos_p"``: bins are (cosθ slice, p_μ); ``"pt_pz"``: (p_T slice, p_∥)
    axes: str = "cos_p"
    #: {generator: values} the collaboration's own predictions in this binning (``predictions.csv``)
    predictions: dict = field(default_factory=dict)

    @property
    def widths(self) -> np.ndarray:
        return (self.bins[:, 1] - self.bins[:, 0]) * (self.bins[:, 3] - self.bins[:, 2])


def _matrix(path: Path, n: int, what: str) -> np.ndarray:
    try:
        m = np.loadtxt(path, delimiter=",", ndmin=2)
    except ValueError as exc:
        raise AivaInputError(f"{path}: {what} is not a numeric CSV matrix ({exc})") from None
    if m.shape != (n, n):
        raise AivaInputError(f"{path}: {what} has shape {m.shape}, expected ({n}, {n}) for {n} data bins")
    if not np.all(np.isfinite(m)):
        raise AivaInputError(f"{path}: {what} has NaN or infinite entries")
    return m


def load_measurement(spec: str | os.PathLike) -> Measurement:
    """A shipped measurement by name (``aiva predict --list``) or a folder in the same format."""
    d = Path(spec)
    if not d.is_dir():
        d = MEASUREMENTS_DIR / str(spec)
    if not d.is_dir():
        names = ", ".join(p.name for p in sorted(MEASUREMENTS_DIR.iterdir()) if p.is_dir())
        raise AivaInputError(f"{spec}: no such measurement folder or shipped measurement (shipped: {names})")
    for need in ("measurement.json", "data.csv"):
        if not (d / need).exists():
            raise AivaInputError(f"{d}: missing {need}")
    meta = json.loads((d / "measurement.json").read_text())
    header = (d / "data.csv").read_text().splitlines()[0].split(",")
    axes = str(meta.get("axes", "cos_p"))
    cols = {"cos_p": _COLS, "pt_pz": _COLS_PTPZ}.get(axes)
    if cols is None:
        raise AivaInputError(f"{d / 'measurement.json'}: 'axes' must be 'cos_p' or 'pt_pz', not {axes!r}")
    if [h.strip() for h in header] != cols:
        raise AivaInputError(f"{d / 'data.csv'}: header must be {','.join(cols)}; found {','.join(header)}")
    try:
        t = np.loadtxt(d / "data.csv", delimiter=",", skiprows=1, ndmin=2)
    except ValueError as exc:
        raise AivaInputError(f"{d / 'data.csv'}: non-numeric value ({exc})") from None
    if len(t) == 0:
        raise AivaInputError(f"{d / 'data.csv'}: no bins")
    for j, col in enumerate(cols):
        if not np.all(np.isfinite(t[:, j])):
            raise AivaInputError(f"{d / 'data.csv'}: column '{col}': NaN or infinite values")
    bins = t[:, 1:5]
    if np.any(bins[:, 0] >= bins[:, 1]) or np.any(bins[:, 2] >= bins[:, 3]):
        raise AivaInputError(f"{d / 'data.csv'}: columns '{cols[2]}'/'{cols[4]}': empty or inverted bins")
    if axes == "cos_p" and (np.any(bins[:, :2] < -1) or np.any(bins[:, :2] > 1)):
        raise AivaInputError(f"{d / 'data.csv'}: columns 'cos_lo'/'cos_hi': outside [-1, 1]")
    if axes == "pt_pz" and np.any(bins[:, :2] < 0):
        raise AivaInputError(f"{d / 'data.csv'}: column 'pt_lo_GeV': negative transverse momentum")
    n = len(t)
    if not (d / "covariance.csv").exists():
        raise AivaInputError(f"{d}: measurement has no covariance (covariance.csv); a chi2 needs the full covariance")
    cov = _matrix(d / "covariance.csv", n, "covariance")
    if not np.allclose(cov, cov.T, rtol=1e-6, atol=0):
        raise AivaInputError(f"{d / 'covariance.csv'}: covariance is not symmetric")
    try:
        np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise AivaInputError(f"{d / 'covariance.csv'}: covariance is not positive definite") from None
    smear = _matrix(d / "smearing.csv", n, "smearing matrix") if (d / "smearing.csv").exists() else None
    preds = _predictions(d / "predictions.csv", n) if (d / "predictions.csv").exists() else {}
    return Measurement(meta.get("name", d.name), meta, bins, t[:, 5], t[:, 6], cov, smear, axes, preds)


def _predictions(path: Path, n: int) -> dict[str, np.ndarray]:
    """``bin,<generator>,…``: published generator predictions, one row per data bin in order."""
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    head = [h.strip() for h in lines[0].split(",")] if lines else []
    if len(head) < 2 or head[0] != "bin" or len(set(head)) != len(head) or not all(head):
        raise AivaInputError(f"{path}: header must be 'bin' then one distinct, named column per generator")
    try:
        t = np.array([[float(x) for x in ln.split(",")] for ln in lines[1:]], ndmin=2)
    except ValueError as exc:
        raise AivaInputError(f"{path}: non-numeric value ({exc})") from None
    if t.shape != (n, len(head)) or not np.array_equal(t[:, 0], np.arange(n)):
        raise AivaInputError(f"{path}: needs {n} rows of {len(head)} columns, bins 0..{n - 1} in order")
    for j, col in enumerate(head[1:], 1):
        if not np.all(np.isfinite(t[:, j])):
            raise AivaInputError(f"{path}: column '{col}': NaN or infinite values")
    return {col: t[:, j] for j, col in enumerate(head[1:], 1)}


def list_measurements() -> list[Measurement]:
    return [load_measurement(p) for p in sorted(MEASUREMENTS_DIR.iterdir()) if (p / "measurement.json").exists()]


def bin_coordinates(events: EventTable, m: Measurement) -> tuple[np.ndarray, np.ndarray]:
    """Each event's (slice, bin) variables in the measurement's axes: (cos θ, p) for ``cos_p``,
    (p_T, p_∥) [GeV] for ``pt_pz``."""
    p = np.sqrt(np.maximum(events["ELep"] ** 2 - _lepton_mass_column(events["PDGLep"]) ** 2, 0.0))
    c = events["CosLep"]
    if m.axes == "pt_pz":  # slices in p_T, bins in p_∥ (PRD 99, 012004)
        c, p = p * np.sqrt(np.maximum(1.0 - c ** 2, 0.0)), p * c
    return c, p


def _bin_masks(c: np.ndarray, p: np.ndarray, m: Measurement):
    """(k, events in bin k) for every bin: half-open edges, the last cos θ edge closed at 1, and
    with ``last_p_bin_overflow`` the last bin of each slice open upwards."""
    b = m.bins
    overflow = bool(m.meta.get("last_p_bin_overflow", False))
    for k, (clo, chi, plo, phi) in enumerate(b):
        in_c = (c >= clo) & ((c < chi) | ((m.axes == "cos_p") & (chi == 1.0) & (c <= 1.0)))
        same_slice = (b[:, 0] == clo) & (b[:, 1] == chi)
        last = overflow and phi >= b[same_slice, 3].max()
        in_p = (p >= plo) & ((p < phi) | last)
        yield k, in_c & in_p


def event_bins(events: EventTable, m: Measurement) -> np.ndarray:
    """The (true-space) bin of each event, −1 outside every bin (the first bin where bins
    overlap); the same rule as :func:`predict_bins`."""
    c, p = bin_coordinates(events, m)
    idx = np.full(len(p), -1, dtype=np.int64)
    for k, mask in _bin_masks(c, p, m):
        idx[mask & (idx < 0)] = k
    return idx


def mc_variance(events: EventTable, m: Measurement, idx: np.ndarray | None = None) -> np.ndarray:
    """The Monte Carlo variance of :func:`predict_bins`' prediction from weighted events: Σw² in
    each true bin (``idx``: :func:`event_bins`, computed when not given), through the smearing
    as S²·v, over the bin widths squared."""
    n = len(m.values)
    idx = event_bins(events, m) if idx is None else idx
    v = np.bincount(np.where(idx < 0, n, idx), weights=events["weight"] ** 2, minlength=n + 1)[:n]
    return (m.smearing ** 2 @ v if m.smearing is not None else v) / m.widths ** 2


def predict_bins(events: EventTable, m: Measurement, source: str = "events") -> np.ndarray:
    """Flux-averaged d²σ/dp dcosθ (or d²σ/dp_T dp_∥) in the measurement's bins from weighted
    events (events outside every bin are not counted)."""
    if "weight" not in events.columns:
        raise AivaInputError(f"{source}: column 'weight': the events carry no cross-section weights; make them with "
                             "a flux (aiva generate --flux / aiva simulate --flux)")
    w = events["weight"]
    if len(np.unique(events["PDGLep"])) != 1:
        raise AivaInputError(f"{source}: column 'PDGLep': more than one lepton species")
    c, p = bin_coordinates(events, m)
    sig = np.zeros(len(m.bins))
    for k, mask in _bin_masks(c, p, m):
        sig[k] = w[mask].sum()
    if m.smearing is not None:
        sig = m.smearing @ sig
    return sig / m.widths


def chi2(m: Measurement, prediction: np.ndarray) -> float:
    r = m.values - prediction
    return float(r @ np.linalg.solve(m.covariance, r))


def published_chi2(m: Measurement) -> dict[str, float]:
    """{generator: χ²} of the measurement's own published predictions (``predictions.csv``)."""
    return {gen: chi2(m, v) for gen, v in m.predictions.items()}
