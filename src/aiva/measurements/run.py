"""``aiva predict``: a model's (or weighted events') prediction for a published measurement."""
from __future__ import annotations

import logging
import json
from pathlib import Path

import numpy as np

from aiva.errors import AivaInputError
from aiva.measurements.core import Measurement, chi2, load_measurement, predict_bins
from aiva.utils import atomic_write_text

log = logging.getLogger(__name__)


def flux_folded_events(net, card: dict, flux, n_events: int, seed: int, *, flux_range=None,
                       allow_extrapolation: bool = False):
    """``n_events`` events of a generator folded with ``flux`` (restricted to ``flux_range``),
    weights normalised to the *whole* flux: Σw = ∫_range σΦ / ∫_all Φ, so what lies outside the
    range is missing from a prediction rather than rescaled. Returns (events, the flux used, the
    removed flux fraction)."""
    from aiva.models.generate import generate_with_flux
    from aiva.models.xsec import model_flux

    fx, removed = model_flux(card, flux, flux_range=flux_range, allow_extrapolation=allow_extrapolation)
    ev = generate_with_flux(net, card, fx, n_events, seed, removed=removed, allow_extrapolation=allow_extrapolation)
    ev.columns["weight"] = ev["weight"] * (1.0 - removed)
    return ev, fx, removed


def _model_events(model: str, m: Measurement, flux, flux_range, n_events: int, seed: int, allow_extrapolation: bool):
    from aiva.models.io import load_model

    net, card = load_model(model)
    if card.get("target") != m.meta.get("target") or card.get("probe") != m.meta.get("probe"):
        raise AivaInputError(f"model {card.get('name')!r} is {card.get('probe')} on {card.get('target')} but measurement "
                             f"{m.name!r} is {m.meta.get('probe')} on {m.meta.get('target')}")
    ev, fx, removed = flux_folded_events(net, card, flux, n_events, seed, flux_range=flux_range,
                                         allow_extrapolation=allow_extrapolation)
    # What lies outside the model's range is missing from the prediction (its flux fraction is reported).
    avg = ev.metadata["flux_averaged_xsec"]["per_nucleon"] * (1.0 - removed)
    return ev, {"model": card.get("name"), "flux": fx.describe(), "fraction_of_flux_outside_model_range": removed,
                "flux_averaged_xsec_per_nucleon_inside_range_over_full_flux": avg}


def events_for_measurement(path, m: Measurement, *, select=None, xsec: float | None = None):
    """A weighted event file ready for :func:`predict_bins`: read (any format) with the ``select``
    filters, one CC target and probe matching the measurement's, weights in 10⁻³⁸ cm² per nucleon
    (``Weight`` × ``fScaleFactor`` of a NUISANCE tree, FATX of NuHepMC, aiva's own weights, or
    relative weights scaled to ``xsec``, the run's flux-averaged σ per nucleon)."""
    from aiva.events import read_events

    return events_ready(read_events(path, select=select), m, label=str(path), xsec=xsec)


def events_ready(ev, m: Measurement, *, label: str = "events", xsec: float | None = None):
    """An event table ready for :func:`predict_bins` (see :func:`events_for_measurement`); the
    caller's table is not changed."""
    from aiva.events.select import normalise_to, require_single
    from aiva.events.table import cross_section_weights
    from aiva.physics.targets import get_probe, get_target

    path = label
    if xsec is not None:
        ev = normalise_to(ev, xsec, path)
    from aiva.measurements.cc0pi import is_whole_compound

    compound = is_whole_compound(ev, m.meta)  # e.g. a CH file (C and H events) for a per-CH-nucleon result
    require_single(ev, path, what=("cc", "probe") if compound else ("cc", "target", "probe"))
    want_t, want_p = m.meta.get("target"), m.meta.get("probe")
    if want_t and not compound:
        t = get_target(want_t)
        if int(ev["tgta"][0]) != t.A or int(ev["tgtz"][0]) != t.Z:
            raise AivaInputError(f"{path}: column 'tgta': events on Z={ev['tgtz'][0]} A={ev['tgta'][0]} but "
                                 f"measurement {m.name!r} is on {t.name}")
    if want_p and int(ev["PDGnu"][0]) != get_probe(want_p).pdg:
        raise AivaInputError(f"{path}: column 'PDGnu': events of PDG {ev['PDGnu'][0]} but measurement {m.name!r} "
                             f"is {want_p}")
    w = cross_section_weights(ev)
    if w is None:
        why = (ev.metadata.get("normalisation") or {}).get("why", "no cross-section weights")
        raise AivaInputError(f"{path}: column 'weight': {why}; make flux-folded events (aiva simulate/generate "
                             "--flux) or give the run's flux-averaged cross section with --xsec")
    ev = ev.with_columns(weight=np.asarray(w, dtype=np.float64))
    if m.meta.get("signal"):  # a CC0π-type measurement: its signal events only (needs the particle lists)
        from aiva.measurements.cc0pi import select_signal

        ev = select_signal(ev, m, label=path)
    return ev


def predict_to_dir(*, measurement: str, out, models=(), events=(), flux=None, flux_range=None,
                   n_events: int = 1_000_000, seed: int = 1, allow_extrapolation: bool = False, select=None,
                   xsec: float | None = None) -> dict:
    """Predictions of models and/or weighted event files for a measurement, their χ²/ndf and a
    plot; writes ``prediction.csv``, ``result.json`` and ``prediction.png`` to ``out``."""
    m = load_measurement(measurement)
    if not models and not events:
        raise AivaInputError("give at least one --model or --events")
    if models and m.meta.get("signal"):  # aiva's generator models give the lepton only
        from aiva.measurements.cc0pi import no_particles_message

        raise AivaInputError(no_particles_message(f"model {models[0]!r}", m.name))
    preds, results = {}, []
    for model in models:
        ev, info = _model_events(model, m, flux or m.meta.get("flux"), flux_range, n_events, seed, allow_extrapolation)
        preds[info["model"]] = predict_bins(ev, m, source=info["model"])
        results.append({"prediction_from": info["model"], **info})
    for path in events:
        ev = events_for_measurement(path, m, select=select, xsec=xsec)
        tgt = sorted({(int(a), int(z)) for a, z in zip(ev["tgta"], ev["tgtz"])})
        lab = Path(path).name
        preds[lab] = predict_bins(ev, m, source=str(path))
        results.append({"prediction_from": lab, "events": str(path), "n_events": len(ev), "targets_AZ": tgt,
                        "flux": (ev.metadata.get("energy") or {}).get("flux"),
                        "normalisation": ev.metadata.get("normalisation"), "selection": ev.metadata.get("selection"),
                        "dropped_when_read": ev.metadata.get("dropped"), "signal": ev.metadata.get("signal"),
                        "sum_of_weights_per_nucleon": float(ev["weight"].sum())})
    for lab, values in m.predictions.items():  # the collaboration's own generator predictions
        key = f"{lab} (published)"
        preds[key] = values
        results.append({"prediction_from": key, "published_prediction": True,
                        "source": (m.meta.get("predictions") or {}).get(lab, "predictions.csv")})
    n = len(m.values)
    for r in results:
        c2 = chi2(m, preds[r["prediction_from"]])
        r.update({"chi2": c2, "ndf": n, "chi2_per_ndf": c2 / n})
        log.info(f"{m.name} ({m.meta.get('cite')}): {r['prediction_from']}: chi2/ndf = {c2:.1f}/{n} = {c2 / n:.2f}")
    res = {"measurement": m.name, "cite": m.meta.get("cite"), "unit": m.meta.get("unit", "1e-38 cm^2 / (GeV/c) / nucleon"),
           "predictions": results}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    labs = list(preds)
    lines = ["bin,cos_lo,cos_hi,p_lo_GeV,p_hi_GeV,data,error," + ",".join(labs)]
    err = np.sqrt(np.diag(m.covariance))
    for i, b in enumerate(m.bins):
        lines.append(f"{i},{b[0]:g},{b[1]:g},{b[2]:g},{b[3]:g},{m.values[i]:.6g},{err[i]:.6g},"
                     + ",".join(f"{preds[k][i]:.6g}" for k in labs))
    atomic_write_text(out / "prediction.csv", "\n".join(lines) + "\n")
    atomic_write_text(out / "result.json", json.dumps(res, indent=2, default=str) + "\n")
    plot_prediction(m, preds, out / "prediction.png", {r["prediction_from"]: r["chi2"] for r in results})
    return res


def plot_prediction(m: Measurement, preds: dict[str, np.ndarray], path, chi2s: dict[str, float] | None = None) -> None:
    """One panel per cosθ slice: data with √diag(C) errors, predictions as step lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    plt.style.use(mplhep.style.ROOT)
    slices = sorted({(lo, hi) for lo, hi in m.bins[:, :2]})
    ncol = 4
    nrow = (len(slices) + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.4 * nrow), squeeze=False)
    err = np.sqrt(np.diag(m.covariance))
    for ax, (lo, hi) in zip(axes.ravel(), slices):
        k = np.flatnonzero((m.bins[:, 0] == lo) & (m.bins[:, 1] == hi))
        k = k[np.argsort(m.bins[k, 2])]
        pl, ph = m.bins[k, 2], m.bins[k, 3]
        ph_plot = np.minimum(ph, max(2.0 * pl.max(), pl.max() + 1.0))  # wide last bins drawn shortened
        x = 0.5 * (pl + ph_plot)
        ax.errorbar(x, m.values[k], yerr=err[k], xerr=0.5 * (ph_plot - pl), fmt="o", color="k", ms=3, label="data")
        for j, (lab, p) in enumerate(preds.items()):
            edges = np.concatenate([pl, ph_plot[-1:]])
            ax.stairs(p[k], edges, color=f"C{j}", lw=1.5, label=lab)
        if m.axes == "pt_pz":
            ax.set_title(rf"${lo:g} \leq p_T < {hi:g}$ GeV/c", fontsize=10)
            ax.set_xlabel(r"$p_\parallel$ [GeV/c]", fontsize=10)
        else:
            ax.set_title(rf"${lo:g} \leq \cos\theta_\mu < {hi:g}$", fontsize=10)
            ax.set_xlabel(r"$p_\mu$ [GeV/c]", fontsize=10)
        ax.tick_params(labelsize=8)
    for ax in axes.ravel()[len(slices):]:
        ax.axis("off")
    axes[0, 0].set_ylabel(r"$d^2\sigma/dp_T\,dp_\parallel$ [$10^{-38}$ cm$^2$/GeV$^2$/nucleon]" if m.axes == "pt_pz"
                          else r"$d^2\sigma/dp\,d\cos\theta$ [$10^{-38}$ cm$^2$/GeV/nucleon]", fontsize=9)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if chi2s:
        labels = [f"{lab} ($\\chi^2$/ndf = {chi2s[lab]:.0f}/{len(m.values)})" if lab in chi2s else lab for lab in labels]
    fig.legend(handles, labels, loc="lower right", fontsize=9)
    fig.suptitle(f"{m.name}: {m.meta.get('cite', '')}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
