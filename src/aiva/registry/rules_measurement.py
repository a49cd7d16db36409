"""``aiva update --measurement NAME``: a registered flow tuned to published measurements
(:mod:`aiva.tuning`), promoted only on held-out evidence.

1. The measurements are loaded and checked (a covariance that is not positive definite, a
   binning that does not match, a missing flux: exit 2 before anything is recorded); a target or
   probe that differs from the model's is a recorded rejection.
2. Evidence:
   (a) **held-out χ²**: cross-validation over ``cv_blocks`` blocks of bins of every measurement
       (fit on the others, score the block under the conditional Gaussian given the fitted bins,
       :mod:`aiva.tuning.cv`); the total held-out χ² must fall by more than ``chi2_gain``
       (default 4: a 2σ likelihood-ratio gain for one degree of freedom);
   (b) **earlier measurements**: every measurement that made a version on the current lineage
       (recorded in ``version.json`` with its covariance SHA-256) is predicted afresh by current
       and candidate; the candidate's χ² may not rise by more than
       max(``n_sigma``², ``forgetting_tolerance`` × χ²_current);
   (c) **forgetting** on the lineage reference (:mod:`aiva.registry.lineage`) and the held-out
       event sets of earlier event updates: mean log-likelihood per event may not fall by more
       than max(``n_sigma`` standard errors, ``reference_nats`` / ``forgetting_nats``);
   (d) **physics**: the kinematic limits and the low-W tail of :func:`rules_generator._physics`
       on events generated at the reference's energies, and every theory constraint.
3. Promoted only if (a) holds and (b)–(d) do not fail; the version's ``version.json`` records
   the measurements (name, citation, covariance SHA-256, χ² before and after) and the evidence.
"""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from aiva.errors import AivaInputError
from aiva.registry.decision import UpdateConfig, _decide
from aiva.registry.rules_generator import (
    _loglik,
    _physics,
    lineage_check,
    load_constraints,
    theory_checks,
)
from aiva.registry.store import Registry

log = logging.getLogger(__name__)

#: events per fresh prediction of an earlier measurement
FRESH_EVENTS = 200_000


def _fresh_chi2(net, card, m, seed: int, n: int = FRESH_EVENTS) -> float:
    from aiva.measurements import chi2, predict_bins
    from aiva.measurements.run import flux_folded_events
    from aiva.models.base import energy_range

    ev, _, _ = flux_folded_events(net, card, m.meta["flux"], n, seed, flux_range=energy_range(card))
    return chi2(m, predict_bins(ev, m))


def _lineage_measurements(registry: Registry, name: str) -> list[dict]:
    out: list[dict] = []
    v: str | None = registry.current(name)
    while v:
        info = registry.info(name, v)
        out += info.get("measurements") or []
        v = info.get("parent")
    return out


def update_measurement(*, registry: Registry, name: str, measurements: list[str], constraints=None,
                       config: UpdateConfig | None = None, progress: bool = True) -> dict:
    """Tune model ``name`` to ``measurements`` and promote the tune only on held-out evidence;
    returns the decision record (also logged)."""
    from aiva.measurements import load_measurement
    from aiva.models.io import load_model, save_model, sha256_file
    from aiva.tuning import TuneConfig, Tuner, check_for_tuning, covariance_sha256, cross_validate

    cfg = config or UpdateConfig()
    cons = load_constraints(constraints) if constraints else []
    ms = [load_measurement(s) for s in measurements]
    for m in ms:
        check_for_tuning(m)
    tk = {"seed": cfg.seed}
    if cfg.tune_steps:
        tk["steps"] = cfg.tune_steps
    if cfg.tune_events:
        tk["n_events"] = cfg.tune_events
    if cfg.tune_shape_degree is not None:
        tk["shape_degree"] = cfg.tune_shape_degree
    tcfg = TuneConfig.from_dict(tk)
    provenance = [{"name": m.name, "cite": m.meta.get("cite"), "covariance_sha256": covariance_sha256(m),
                   "n_bins": len(m.values)} for m in ms]
    with registry.lock(name):
        cur_v = registry.current(name)
        cur, ccard = load_model(registry.weights(name, cur_v))
        record = {"action": "update", "data": "measurement:" + ",".join(m.name for m in ms), "measurements": provenance,
                  "current": cur_v}

        def reject(why: str, **evidence) -> dict:
            return _decide(registry, name, record, progress, why=why, **evidence)

        for m in ms:
            if (m.meta.get("target"), m.meta.get("probe")) != (ccard.get("target"), ccard.get("probe")):
                return reject(f"measurement {m.name} is {m.meta.get('probe')} on {m.meta.get('target')}, the model is "
                              f"{ccard.get('probe')} on {ccard.get('target')}")
        if getattr(cur, "family", None) != "flow":
            return reject(f"tuning to measurements needs a flow (exact likelihood); {name} {cur_v} is a "
                          f"{getattr(cur, 'family', '?')!r}")
        tuner = Tuner(cur, ccard, ms, tcfg)
        cv = cross_validate(tuner, cfg.cv_blocks)
        prior = tuner.prior_predictions()
        tuner.fit()
        tuned = tuner.predictions()
        gain = cv["total"]["heldout_chi2_before"] - cv["total"]["heldout_chi2_after"]
        ok_a = gain > cfg.chi2_gain
        cand, kcard = tuner.tuned_model(), tuner.tuned_card(ccard.get("name"))
        for p, c0, c1 in zip(provenance, tuner.chi2s(prior), tuner.chi2s(tuned)):
            p.update({"chi2_before": c0, "chi2_after": c1})
        # (b) earlier measurements of the lineage
        earlier = []
        now = {p["name"] for p in provenance}
        for e in _lineage_measurements(registry, name):
            if e["name"] in now:
                continue
            try:
                m = load_measurement(e["name"])
            except AivaInputError:
                earlier.append({"name": e["name"], "ok": True, "note": "measurement no longer available; not checked"})
                continue
            same = covariance_sha256(m) == e.get("covariance_sha256")
            c0, c1 = _fresh_chi2(cur, ccard, m, cfg.seed + 3), _fresh_chi2(cand, kcard, m, cfg.seed + 3)
            allowed = max(cfg.n_sigma ** 2, cfg.forgetting_tolerance * c0)
            earlier.append({"name": m.name, "covariance_sha256_matches": same, "chi2_current": c0, "chi2_candidate": c1,
                            "allowed_worsening": allowed, "ok": bool(c1 - c0 <= allowed)})
        # (c) forgetting: the lineage reference and earlier held-out event sets
        from aiva.events import read_events

        forget = []
        if cfg.reference_nats is not None:
            forget.append(lineage_check(registry, name, cur, cand, cfg))
        for hp in registry.holdouts(name):
            if hp.suffix != ".parquet":
                continue
            f = _loglik(cur, cand, read_events(hp))
            allowed = max(cfg.n_sigma * f["loglik_sigma"], cfg.forgetting_nats)
            forget.append({"holdout": hp.name, **f, "allowed_worsening": allowed, "ok": bool(-f["loglik_gain"] <= allowed)})
        # (d) physics on events at the reference's energies
        from aiva.models.generate import generate_events
        from aiva.registry.lineage import reference_events

        ref, _ = reference_events(registry, name)
        ref = ref.select(np.arange(len(ref)) < cfg.physics_events)
        gc = generate_events(cur, ccard, ref["Enu_true"], cfg.seed + 1)
        gk = generate_events(cand, kcard, ref["Enu_true"], cfg.seed + 1)
        phys = _physics(gc, gk, ref, ccard, cfg.physics_tolerance)
        theory = theory_checks(cand, kcard, cons, cfg)
        evidence = {"heldout_chi2": {**cv["total"], "gain": gain, "required_gain": cfg.chi2_gain, "ok": ok_a,
                                     "blocks": cv["blocks"], "measurements": cv["measurements"]},
                    "measurements": provenance, "earlier_measurements": earlier, "forgetting": forget, "physics": phys,
                    "theory": theory, "tune": {"config": tcfg.to_dict(), **tuner.diagnostics()}}
        reasons = []
        if not ok_a:
            reasons.append(f"no significant improvement of the held-out chi2 over {cfg.cv_blocks} blocks "
                           f"({cv['total']['heldout_chi2_before']:.1f} -> {cv['total']['heldout_chi2_after']:.1f} for "
                           f"{cv['total']['ndf']} bins; needs a drop > {cfg.chi2_gain:g})")
        reasons += [f"earlier measurement {e['name']} gets worse (chi2 {e['chi2_current']:.1f} -> "
                    f"{e['chi2_candidate']:.1f}, allowed +{e['allowed_worsening']:.1f})" for e in earlier if not e["ok"]]
        reasons += [f"forgetting: worse on the {f['holdout']} (log-likelihood {f['loglik_gain']:+.4f} nats/event, allowed "
                    f"loss {f['allowed_worsening']:.4f})" for f in forget if not f["ok"]]
        if not phys["ok"]:
            reasons.append(f"physics: {phys['hard_violations']} events beyond the kinematic limits; fraction with W below "
                           f"{phys['W_cut_GeV']:.3f} GeV {phys['fraction_W_below_cut']['candidate']:.4f}")
        reasons += [f"theory constraint {t['name']!r}: {t['value']:.4g} vs {t['target']} +- {t['tolerance']}"
                    for t in theory if not t["ok"]]
        if reasons:
            return reject("; ".join(reasons), evidence=evidence)
        with tempfile.TemporaryDirectory(prefix="aiva-tune-") as tmpd:
            w = save_model(cand, Path(tmpd) / "model.safetensors", kcard)
            info_v = {"parent": cur_v, "weights_sha256": sha256_file(w), "model_name": ccard.get("name"),
                      "family": kcard.get("family"), "measurements": provenance, "evidence": evidence}
            new_v = registry.add_version(name, w, info_v)
        return _decide(registry, name, record, progress, new_version=new_v, evidence=evidence,
                       summary=f"held-out chi2 {cv['total']['heldout_chi2_before']:.1f} -> "
                               f"{cv['total']['heldout_chi2_after']:.1f} over {cv['total']['ndf']} bins")
