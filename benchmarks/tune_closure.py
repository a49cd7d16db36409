"""Acceptance figures of ``aiva tune`` (issue #25): closure on `alt` pseudo-data and real data.

Closure (``closure-t2k``, ``closure-uboone``): the truth is the reference MC in its ``alt``
configuration folded with the measurement's flux (restricted to the model's 0.3–10 GeV, like the
model), binned like the measurement (through MicroBooNE's smearing); pseudo-data are the truth
plus one draw from the published covariance, and their covariance is C + V_truth (the truth's own
Monte Carlo variance). The default-physics model is tuned to ``--pseudo-experiments`` such draws
with each configuration of ``--configs`` (σ(E) prior τ, Q²-shape degree L and prior). Reported
per configuration, as means over the pseudo-experiments: χ² before/after, held-out χ² over blocks
of bins (conditional Gaussian) of whole cos θ slices and of interleaved bins, each beside its
calibrated expectation (``cross_validate(..., calibrate=K)``: the same procedure on pseudo-data
drawn around the tuned prediction), the Laplace band's coverage of the truth (fraction of bins
with |tuned − truth| ≤ band), and the distance to the truth. For the configuration ``--chosen``
on the first pseudo-experiment: the tuned flow (shape projected into it), MAP and MAP-3D of the
tuned and prior model against fresh flux-folded ``alt`` events inside the bins, the registry's
physics check, and how far out-of-reach predictions (E_ν bins that hold < 1 % of the flux) move
compared with the band (E_ν bins with < 1 % of the flux, and with < 1 % of the measurement's
predicted events).

Real data (``real-t2k``, ``real-uboone``): χ²/ndf of the carbon flow on T2K and of the argon
flow on MicroBooNE before/after, held-out blocks with calibrated expectations, and a fresh
500k-event prediction of the tuned model with the published covariance (comparable to
``aiva predict``), for every configuration.

    python benchmarks/tune_closure.py [--quick] [--only closure-t2k,...] [--configs ...]
"""
from __future__ import annotations

import argparse
import copy
import json
import logging
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from aiva.mc import simulate
from aiva.measurements import chi2, event_bins, load_measurement, predict_bins
from aiva.measurements.core import mc_variance
from aiva.measurements.run import flux_folded_events
from aiva.metrics.core import map_2d, map_3d
from aiva.models.base import energy_range
from aiva.models.io import load_model
from aiva.models.xsec import model_flux
from aiva.tuning import TuneConfig, Tuner, cross_validate
from aiva.tuning.tune import QUANTITY_EDGES, _prior_quantities, quantity_bins

log = logging.getLogger("tune_closure")
HERE = Path(__file__).resolve().parent
SCENARIOS = {"closure-t2k": ("numu-C12-inclusive-flow", "t2k-ccinc-2018-C", "C12"),
             "real-t2k": ("numu-C12-inclusive-flow", "t2k-ccinc-2018-C", "C12"),
             "real-uboone": ("numu-Ar40-inclusive", "microboone-ccinc-2019-Ar", "Ar40"),
             "closure-uboone": ("numu-Ar40-inclusive", "microboone-ccinc-2019-Ar", "Ar40")}


def parse_configs(text: str) -> dict[str, dict]:
    """``xsec0.1:shape0,xsec0.3:shape2:sp0.3`` -> {label: TuneConfig overrides}."""
    out = {}
    for item in text.split(","):
        d: dict = {}
        for part in item.split(":"):
            if part.startswith("xsec"):
                d["xsec_prior"] = float(part[4:])
            elif part.startswith("shape"):
                d["shape_degree"] = int(part[5:])
            elif part.startswith("sp"):
                d["shape_prior"] = float(part[2:])
            elif part == "legendre":  # the global Legendre sigma(E) basis (the default before 2026-12-02)
                d["xsec_basis"] = "legendre"
            elif part == "global":  # global shape dials
                d["shape_length"] = 0.0
            elif part.startswith("sl"):  # the shape dials local in E_nu, with this correlation length in ln E
                d["shape_length"] = float(part[2:])
            elif part.startswith("gp"):  # the Gaussian-process sigma(E) basis with this length in ln E
                d["xsec_basis"], d["xsec_length"] = "gp", float(part[2:])
            else:
                raise SystemExit(f"--configs: unknown part {part!r} (xsecT, shapeL, spT, gpL, slL, legendre, global)")
        out[item] = d
    return out


def alt_truth(m, card, target: str, n: int, seed: int):
    """Flux-folded ``alt`` reference-MC events (flux restricted to the model's range, weights
    normalised to the whole flux) and their binned prediction with its MC variance."""
    lo, hi = energy_range(card)
    fx, removed = model_flux(card, m.meta["flux"], flux_range=(lo, hi))
    ev = simulate(target, "numu", n, flux=fx, config="alt", seed=seed)
    ev.columns["weight"] = ev["weight"] * (1.0 - removed)
    return ev, predict_bins(ev, m), mc_variance(ev, m), fx, removed


def in_bins_proxies(ev, m):
    keep = event_bins(ev, m) >= 0
    e, x1, x2 = ev.proxies()
    return np.column_stack([e, x1, x2])[keep]


def fresh_prediction(net, card, m, n: int, seed: int):
    ev, _, _ = flux_folded_events(net, card, m.meta["flux"], n, seed, flux_range=energy_range(card))
    return ev, predict_bins(ev, m)


def flux_fractions(m, card) -> np.ndarray:
    from aiva.mc.flux import load_flux

    f = load_flux(m.meta["flux"])
    lo_e, hi_e = f.edges[:-1], f.edges[1:]
    out = []
    for a, b in zip(QUANTITY_EDGES[:-1], QUANTITY_EDGES[1:]):
        ov = np.clip(np.minimum(hi_e, b) - np.maximum(lo_e, a), 0, None) / (hi_e - lo_e)
        out.append(float(np.sum(f.content * ov) / f.content.sum()))
    return np.array(out)


def event_fractions(tuner: Tuner) -> np.ndarray:
    """Share of the measurement's predicted events (the prior sample inside its bins, weighted by
    σ and flux; true bins, before any smearing) in each E_ν bin of :data:`QUANTITY_EDGES`: where
    the data's events come from. One measurement (the scenario's)."""
    t = tuner.targets[0]
    inside = (t.idx < t.n_bins).numpy()
    w = t.base_w.numpy() * inside
    k = quantity_bins(t.enu)
    return np.bincount(k, weights=w, minlength=len(QUANTITY_EDGES) - 1) / w.sum()


def physics_check(net, card, tnet, tcard, target: str, seed: int) -> dict:
    """The registry's physics rule (:func:`aiva.registry.rules_generator._physics`) for the tuned
    model against its prior, on 20,000 default reference-MC events uniform in E_ν (0.3-10 GeV)."""
    from aiva.models.generate import generate_events
    from aiva.registry.rules_generator import _physics

    ref = simulate(target, "numu", 20_000, energy_range=energy_range(card), config="default", seed=seed)
    gc = generate_events(copy.deepcopy(net), card, ref["Enu_true"], seed + 1)
    gk = generate_events(copy.deepcopy(tnet), tcard, ref["Enu_true"], seed + 1)
    return _physics(gc, gk, ref, card, 0.01)


def _ratio(shift, band):
    """|shift|/band, 0 where both vanish."""
    shift, band = np.abs(np.asarray(shift)), np.asarray(band)
    return np.where(shift == 0, 0.0, shift / np.where(band > 0, band, np.nan))


def evidence(tuner: Tuner, args, seed: int) -> dict:
    """Held-out χ² over slices and interleaved blocks, each with its calibrated expectation."""
    out = {}
    for how in ("slices", "interleaved"):
        cv = cross_validate(tuner, args.blocks, args.calibrate, seed, how)["total"]
        out[how] = {k: cv[k] for k in ("heldout_chi2_before", "heldout_chi2_after", "ndf", "expectation_calibrated",
                                       "sigma_calibrated") if k in cv}
    return out


def run_config(key: str, label: str, over: dict, args, net, card, m, truth=None, cov=None) -> dict:
    """One configuration: over the pseudo-experiments (closure) or on the data (real)."""
    cfg = TuneConfig(n_events=args.n_events, n_prior_events=args.prior_events, trainable=0, seed=args.seed,
                     project_steps=args.project_steps, **over)
    closure = truth is not None
    m_fit = replace(m, covariance=cov, name=f"{m.name}-alt-pseudodata") if closure else m
    tuner = Tuner(net, card, [m_fit], cfg)
    t = tuner.targets[0]
    rows = []
    rng = np.random.default_rng(args.seed + 6)
    L = np.linalg.cholesky(cov) if closure else None
    sd = np.sqrt(np.diag(t.cov))
    prior = tuner.prior_predictions()[0]
    n_pe = args.pseudo_experiments if closure else 1
    first = None
    for k in range(n_pe):
        d = truth + L @ rng.standard_normal(len(truth)) if closure else m.values
        t.measurement = replace(m_fit, values=d)
        fit = tuner.fit()
        pred = tuner.predictions()[0]
        lap = tuner.laplace()
        row = {"chi2_before": tuner.chi2s([prior])[0], "chi2_after": tuner.chi2s([pred])[0], "ndf": t.n_bins,
               "evidence": evidence(tuner, args, args.seed + 100 + k) if k < args.evidence_experiments else None}
        if closure:
            # the truth and the prior sample are Monte Carlo estimates: their variances (in t.cov
            # beyond the published C) belong in the comparison of the tuned prediction with the truth
            band_mc = np.sqrt(lap["std"][0] ** 2 + np.clip(np.diag(t.cov) - np.diag(m.covariance), 0, None))
            row.update({"band_coverage_of_truth": float(np.mean(np.abs(pred - truth) <= lap["std"][0])),
                        "band_mc_coverage_of_truth": float(np.mean(np.abs(pred - truth) <= band_mc)),
                        # the Laplace band of the coefficients alone, without the discrepancy term
                        "band_coefficients_coverage_of_truth": float(np.mean(np.abs(pred - truth)
                                                                             <= lap["std_coefficients"][0])),
                        "discrepancy_delta2": lap["discrepancy"][0]["delta2"] if lap["discrepancy"] else 0.0,
                        "k_eff": lap["discrepancy"][0]["k_eff"] if lap["discrepancy"] else None,
                        "chi2_truth": chi2(t.measurement, truth),
                        "distance_to_truth_prior": float(np.mean(np.abs(prior - truth) / sd)),
                        "distance_to_truth_tuned": float(np.mean(np.abs(pred - truth) / sd)),
                        "band_over_error": float(np.mean(lap["std"][0] / sd))})
        rows.append(row)
        if k == 0:
            tuner.fit()
            first = {"fit": {k2: v for k2, v in fit.items() if k2 != "history"}, "state": tuner.state(),
                     "laplace": lap, "data": d, "pred": pred}
        log.info(f"{key} {label} PE {k}: " + json.dumps({a: b for a, b in row.items() if a != "evidence"},
                                                        default=float)
                 + " held-out " + json.dumps(row["evidence"], default=float))

    def mean(f):
        return float(np.mean([f(r) for r in rows]))

    summary = {"chi2_before": mean(lambda r: r["chi2_before"]), "chi2_after": mean(lambda r: r["chi2_after"]),
               "ndf": t.n_bins}
    ev_rows = [r for r in rows if r["evidence"] is not None]
    summary["evidence_experiments"] = len(ev_rows)
    for how in ("slices", "interleaved") if ev_rows else ():
        summary[f"heldout_{how}"] = {q: float(np.mean([r["evidence"][how][q] or 0.0 for r in ev_rows]))
                                     for q in ("heldout_chi2_before", "heldout_chi2_after", "expectation_calibrated",
                                               "sigma_calibrated") if q in ev_rows[0]["evidence"][how]}
        h = summary[f"heldout_{how}"]
        if "expectation_calibrated" in h:
            h["after_within_1sigma_of_calibrated"] = bool(abs(h["heldout_chi2_after"] - h["expectation_calibrated"])
                                                          <= h["sigma_calibrated"])
            h["after_within_1sigma_of_ndf"] = bool(abs(h["heldout_chi2_after"] - t.n_bins) <= np.sqrt(2 * t.n_bins))
    if closure:
        for q in ("band_coverage_of_truth", "band_mc_coverage_of_truth", "band_coefficients_coverage_of_truth",
                  "discrepancy_delta2", "chi2_truth", "distance_to_truth_prior",
                  "distance_to_truth_tuned",
                  "band_over_error"):
            summary[q] = mean(lambda r, q=q: r[q])
        cov_k = [r["band_coverage_of_truth"] for r in rows]
        # bins are correlated, so one experiment's coverage is nearly all or nothing: the mean's error
        for q in ("band_coverage_of_truth", "band_mc_coverage_of_truth", "band_coefficients_coverage_of_truth"):
            vals = [r[q] for r in rows]
            summary[q + "_stderr"] = float(np.std(vals, ddof=1) / np.sqrt(len(vals))) if len(vals) > 1 else None
        summary["band_coverage_quartiles"] = [float(x) for x in np.percentile(cov_k, [25, 50, 75])]
    return {"config": cfg.to_dict(), "pseudo_experiments": n_pe, "summary": summary, "per_experiment": rows,
            "_tuner": tuner, "_first": first}


def heavy(key: str, res_cfg: dict, args, net, card, m, target: str, closure: bool) -> dict:
    """The tuned generator of the first pseudo-experiment (or of the data): projection into the
    flow, fresh predictions, physics check, out-of-reach shifts, MAP against fresh alt events."""
    tuner, first = res_cfg["_tuner"], res_cfg["_first"]
    tuner.targets[0].measurement = replace(tuner.targets[0].measurement, values=first["data"])
    tuner.fit()
    out: dict = {}
    q_tuned = {k: v for k, v in tuner.quantities().items() if k != "E_GeV"}
    q_prior = _prior_quantities(tuner)
    band = first["laplace"]["quantities_std"]
    ff = flux_fractions(m, card)
    ef = event_fractions(tuner)
    reach = ff < 0.01
    reach_ev = ef < 0.01

    def worst(mask):
        return {k: float(np.max(_ratio(q_tuned[k] - q_prior[k], band[k])[mask])) if mask.any() else None
                for k in q_tuned}

    out["out_of_reach"] = {"E_GeV": first["laplace"]["E_GeV"].tolist(), "flux_fraction": ff.tolist(),
                           "event_fraction": ef.tolist(),
                           "out_of_reach_bins": reach.tolist(), "out_of_reach_bins_by_events": reach_ev.tolist(),
                           "shift": {k: (q_tuned[k] - q_prior[k]).tolist() for k in q_tuned},
                           "band": {k: band[k].tolist() for k in q_tuned},
                           "max_shift_over_band_out_of_reach": worst(reach),
                           "max_shift_over_band_out_of_reach_by_events": worst(reach_ev)}
    tnet, tcard = tuner.tuned_model(), tuner.tuned_card()
    out["projection"] = tcard["tuning"].get("shape_correction", {}).get("projection")
    ev_tuned, pred_tuned = fresh_prediction(copy.deepcopy(tnet), tcard, m, args.fresh_events, args.seed + 21)
    ev_prior, pred_prior = fresh_prediction(copy.deepcopy(net), card, m, args.fresh_events, args.seed + 21)
    sd = np.sqrt(np.diag(tuner.targets[0].cov))
    reweighted = tuner.predictions()[0]
    out["fresh_vs_reweighted_mean_abs_over_error"] = float(np.mean(np.abs(pred_tuned - reweighted) / sd))
    out["physics"] = physics_check(net, card, tnet, tcard, target, args.seed + 51)
    m_pub = load_measurement(m.name.replace("-alt-pseudodata", ""))
    out["fresh_prediction"] = {"events": args.fresh_events,  # against the real data: not for closure
                               "chi2_published_cov_before": None if closure else chi2(m_pub, pred_prior),
                               "chi2_published_cov_after": None if closure else chi2(m_pub, pred_tuned),
                               "ndf": len(pred_tuned)}
    if closure:
        ev_alt, *_ = alt_truth(m_pub, card, target, args.fresh_events, args.seed + 31)
        a = in_bins_proxies(ev_alt, m_pub)
        for lab, ev in (("prior", ev_prior), ("tuned", ev_tuned)):
            b = in_bins_proxies(ev, m_pub)
            out[f"MAP_{lab}"] = map_2d(a[:, 1:], b[:, 1:], bins=args.map_bins)
            out[f"MAP3D_{lab}"] = map_3d(a, b, bins=args.map3d_bins)
        ev_alt2, *_ = alt_truth(m_pub, card, target, args.fresh_events, args.seed + 41)
        b = in_bins_proxies(ev_alt2, m_pub)
        out["MAP_floor_alt_vs_alt"] = map_2d(a[:, 1:], b[:, 1:], bins=args.map_bins)
        out["MAP3D_floor_alt_vs_alt"] = map_3d(a, b, bins=args.map3d_bins)
    log.info(f"{key}: " + json.dumps({k: v for k, v in out.items() if k != "out_of_reach"}, default=float))
    return out


def run_scenario(key: str, args) -> dict:
    model, mname, target = SCENARIOS[key]
    t0 = time.process_time()
    net, card = load_model(model)
    m = load_measurement(mname)
    res: dict = {"scenario": key, "model": model, "measurement": mname, "cite": m.meta.get("cite"), "configs": {}}
    closure = key.startswith("closure")
    truth = cov = None
    if closure:
        _, truth, v_truth, _, _ = alt_truth(m, card, target, args.truth_events, args.seed + 5)
        cov = m.covariance + np.diag(v_truth)
        res["truth"] = {"events": args.truth_events, "values": truth.tolist()}
    for label, over in parse_configs(args.configs).items():
        r = run_config(key, label, over, args, net, card, m, truth, cov)
        if label == args.chosen:
            r["tuned_generator"] = heavy(key, r, args, net, card, r["_tuner"].targets[0].measurement, target, closure)
        r.pop("_tuner")
        r.pop("_first")
        res["configs"][label] = r
    res["cpu_s"] = time.process_time() - t0
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", default=",".join(SCENARIOS))
    ap.add_argument("--n-events", type=int, default=300_000, help="flux-folded prior events per measurement")
    ap.add_argument("--prior-events", type=int, default=20_000)
    ap.add_argument("--blocks", type=int, default=3)
    ap.add_argument("--calibrate", type=int, default=5, help="pseudo-experiments of each held-out expectation")
    ap.add_argument("--pseudo-experiments", type=int, default=200)
    ap.add_argument("--evidence-experiments", type=int, default=10,
                    help="held-out cross-validation on the first K pseudo-experiments only (coverage uses all)")
    ap.add_argument("--configs", default="xsec0.3:shape2,xsec0.3:shape2:legendre:global")
    ap.add_argument("--chosen", default="xsec0.3:shape2", help="the configuration whose tuned generator is made")
    ap.add_argument("--project-steps", type=int, default=400)
    ap.add_argument("--truth-events", type=int, default=300_000)
    ap.add_argument("--fresh-events", type=int, default=300_000)
    ap.add_argument("--map-bins", type=int, default=20)
    ap.add_argument("--map3d-bins", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test of the script)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "tune_closure.json")
    args = ap.parse_args(argv)
    if args.quick:
        args.n_events, args.prior_events, args.pseudo_experiments, args.calibrate = 5000, 2000, 2, 2
        args.truth_events = args.fresh_events = 20_000
        args.project_steps = 5
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    out: dict = {"settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                 "scenarios": {}}
    for key in args.only.split(","):
        out["scenarios"][key] = run_scenario(key, args)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=2, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
                            + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
