"""The in-memory Python API: objects in, result objects out.

Everything the ``aiva`` command does is here as a function over :class:`~aiva.events.EventTable`
objects, configs and generators (:class:`~aiva.models.base.Generator`); the CLI only parses
options and calls these. Functions log (``logging``, logger ``aiva``) and never print.

    import aiva
    ref = aiva.simulate("C12", "numu", 100_000, energy=1.0, seed=1)        # reference Monte Carlo
    gen = aiva.generate("numu-C12-inclusive-flow", 100_000, energy=1.0, seed=2)  # learned generator
    print(aiva.compare(ref, gen).MAP)                                      # ≈ 0.8–1.1
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aiva.events import EventTable, read_events, write_events
from aiva.events.select import Selection
from aiva.models.base import Generator, ModelCard

__all__ = ["Comparison", "EventTable", "Prediction", "Selection", "TrainResult", "compare", "evaluate", "generate",
           "load_model", "predict", "read_events", "simulate", "train", "transfer", "write_events"]


@dataclass
class Comparison:
    """Metrics of two samples ([GAN25] Sec. IV): MAP (50 × 50 in (E'_μ, θ'); ≈ 0.80 for two samples
    of one distribution), MAP-3D, EMD per variable, C2ST ROC AUC (0.5: indistinguishable)."""

    MAP: float
    MAP3D: float
    EMD: dict[str, float]
    C2ST_AUC: float | None
    weighted: bool
    raw: dict[str, Any] = field(repr=False)


@dataclass
class TrainResult:
    """A trained (or fine-tuned) generator: the selected model, its card and file, the history
    and how the checkpoint was selected."""

    model: Any
    card: ModelCard
    path: Path
    history: list[dict]
    selection: dict
    raw: dict[str, Any] = field(repr=False)


@dataclass
class Prediction:
    """A flux-averaged prediction in a measurement's binning with its χ² (full covariance)."""

    measurement: str
    values: np.ndarray  #: 10⁻³⁸ cm²/(GeV/c)/nucleon per bin
    data: np.ndarray
    chi2: float
    ndf: int

    @property
    def chi2_per_ndf(self) -> float:
        return self.chi2 / self.ndf


def simulate(target: str = "C12", probe: str = "numu", n_events: int = 100_000, *, energy: float | None = None,
             energy_range: tuple[float, float] | None = None, flux=None, config: str = "default",
             channels=("qe", "res", "dis"), seed: int = 1, workers: int = 1, whole_events: bool = False,
             fsi: bool = True) -> EventTable:
    """Events of the reference Monte Carlo (:func:`aiva.mc.simulate`): exactly one of ``energy``
    [GeV], ``energy_range`` [GeV, GeV] or ``flux`` (shipped name, file or :class:`aiva.mc.Flux`;
    events then carry cross-section weights in 10⁻³⁸ cm² per nucleon).

    The default channels are those the shipped lepton generators were trained on (qe, res, dis),
    so that ``compare(simulate(...), generate(...))`` compares like with like; the whole-event MC
    of ``aiva simulate`` is ``channels=aiva.mc.DEFAULT_CHANNELS, whole_events=True`` (particle lists
    in ``table.particles``, after the cascade unless ``fsi=False``)."""
    from aiva.mc import simulate as _simulate

    return _simulate(target, probe, n_events, energy=energy, energy_range=energy_range, flux=flux, config=config,
                     channels=channels, seed=seed, workers=workers, whole_events=whole_events, fsi=fsi)


def load_model(model: str | os.PathLike) -> tuple[Generator, ModelCard]:
    """A shipped model by name (``aiva models``) or a ``.safetensors`` file, validated, with its card."""
    from aiva.models.io import load_model as _load

    net, card = _load(model)
    return net, ModelCard(card)


def _model(model) -> tuple[Any, ModelCard]:
    if isinstance(model, tuple):
        return model[0], ModelCard(model[1])
    return load_model(model)


def generate(model, n_events: int, *, energy: float | None = None, energy_range: tuple[float, float] | None = None,
             flux=None, flux_range: tuple[float, float] | None = None, seed: int = 1,
             allow_extrapolation: bool = False, device: str = "cpu") -> EventTable:
    """Events of a learned generator (a name, a path, or a ``(generator, card)`` pair): at a fixed
    ``energy``, uniform in ``energy_range``, or folded with ``flux`` (E_ν drawn from Φσ with the
    card's σ(E); each event weighs ⟨σ⟩_Φ/N in 10⁻³⁸ cm² per nucleon)."""
    from aiva.errors import AivaInputError
    from aiva.models.generate import BYTES_PER_EVENT, energies_for, generate_events, generate_with_flux
    from aiva.models.xsec import model_flux
    from aiva.utils import check_fits_in_memory

    if n_events <= 0:
        raise AivaInputError(f"number of events must be positive, got {n_events}")
    check_fits_in_memory(n_events, BYTES_PER_EVENT, "n_events")
    net, card = _model(model)
    if sum(x is not None for x in (energy, energy_range, flux)) != 1:
        raise AivaInputError("give exactly one of energy, energy_range or flux")
    if flux is not None:
        fx, removed = model_flux(card, flux, flux_range=flux_range, allow_extrapolation=allow_extrapolation)
        return generate_with_flux(net, card, fx, n_events, seed, removed=removed,
                                  allow_extrapolation=allow_extrapolation, device=device)
    E = energies_for(n_events, np.random.default_rng(seed), energy, energy_range)
    return generate_events(net, card, E, seed, allow_extrapolation=allow_extrapolation, device=device)


def compare(a: EventTable, b: EventTable, *, c2st: bool = True, seed: int = 0) -> Comparison:
    """Compare two event tables with every metric (weighted by their ``weight`` columns)."""
    from aiva.events.select import require_single
    from aiva.metrics import compare_tables

    for t, what in ((a, "first table"), (b, "second table")):
        require_single(t, what)
    res = compare_tables(a, b, c2st=c2st, seed=seed)
    return Comparison(MAP=res["MAP"], MAP3D=res["MAP3D"], EMD=res["EMD"], C2ST_AUC=res.get("C2ST_AUC"),
                      weighted=res["weighted"], raw=res)


def _train_result(res: dict) -> TrainResult:
    from aiva.models.io import load_model as _load

    path = Path(res["model"])
    net, card = _load(path)
    return TrainResult(model=net, card=ModelCard(card), path=path, history=res.get("history", []),
                       selection=res.get("selection") or {}, raw=res)


def train(events: EventTable, out: str | os.PathLike, *, family: str = "flow", config=None,
          epochs: int | None = None, seed: int | None = None, name: str | None = None,
          cpu_minutes: float | None = None, threads: int | None = None, resume: bool = True) -> TrainResult:
    """Train a generator of ``family`` (gan, flow, cfm) on ``events``; checkpoints in ``out``.
    ``config``: a TOML path or ``{"model": {...}, "training": {...}}`` (the same schema)."""
    from aiva.training.run import train_table

    res = train_table(events, out=out, config=config, epochs=epochs, seed=seed, name=name, cpu_minutes=cpu_minutes,
                      threads=threads, family=family, resume=resume, progress=False)
    return _train_result(res)


def transfer(base, events: EventTable, out: str | os.PathLike, *, freeze: str = "default", config=None,
             epochs: int | None = None, seed: int | None = None, name: str | None = None,
             members: int = 1, resume: bool = True) -> TrainResult:
    """Fine-tune ``base`` (name, path or ``(generator, card)``) on ``events`` (arXiv:2508.12987)."""
    from aiva.training.run import transfer_table

    net, card = _model(base)
    res = transfer_table(net, card, events, out=out, freeze=freeze, config=config, epochs=epochs, seed=seed,
                         name=name, members=members, resume=resume, progress=False)
    return _train_result(res)


def evaluate(model, references: dict[float, EventTable] | None = None, out: str | os.PathLike = "evaluation", *,
             events: int = 1_000_000, seed: int = 1, c2st: bool = True) -> dict:
    """Metrics, figures and a report of ``model`` against reference events at fixed energies
    (``{E_ν: table}``; default: fresh reference-MC events at the 8 test energies)."""
    from aiva.training.evaluate import evaluate_model, reference_tables

    net, card = _model(model)
    refs = references if references is not None else reference_tables(card, n=events, seed=seed + 4241)
    return evaluate_model(net, card, refs, Path(out), seed=seed, c2st=c2st)


def predict(measurement: str, events: EventTable) -> Prediction:
    """The prediction of weighted ``events`` (10⁻³⁸ cm² per nucleon per event, e.g. from
    :func:`generate` or :func:`simulate` with a flux) for a shipped measurement, with χ²."""
    from aiva.measurements import chi2, load_measurement, predict_bins
    from aiva.measurements.run import events_ready

    m = load_measurement(measurement)
    pred = predict_bins(events_ready(events, m), m)  # the file route's checks: one CC target and probe, weights
    c2 = chi2(m, pred)
    return Prediction(measurement=m.name, values=pred, data=m.values, chi2=c2, ndf=len(m.values))
