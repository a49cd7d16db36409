"""The decision rules of ``aiva update`` for electron-scattering models: new cross-section data in,
a fine-tuned candidate out, promoted only when its held-out χ² improves and the earlier data do not
get worse."""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from aiva.registry.store import Registry
from aiva.registry.decision import UpdateConfig, _decide

log = logging.getLogger(__name__)


def _escat_pull2(model, d) -> np.ndarray:
    """Per-point squared pulls of points ``d`` (ensemble mean with the fitted normalisations);
    their mean is χ²/N."""
    from aiva.escat.fit import member_predictions

    return ((member_predictions(model, d).mean(axis=0) - d.xsec) / d.err) ** 2


def update_escat(*, registry: Registry, name: str, data, config: UpdateConfig, progress: bool = True) -> dict:
    """The update rule for electron-scattering networks. The held-out χ²/N (with the fitted data-set
    normalisations) must improve significantly: χ² sums are dominated by a few points with huge
    pulls, so the test is the paired one-sided Wilcoxon signed-rank test of the per-point squared
    pulls (p < 0.1/``n_sigma``, i.e. 0.05 by default). Earlier held-out points may not get
    significantly worse by more than ``forgetting_tolerance`` × χ²/N. The candidate's normalisation
    penalties ((1 − λ_k)/Δλ_k)², averaged over data sets and members, must stay below 4 (λ_k within
    2 Δλ_k on average), and its predictions must be positive and finite."""
    from aiva.escat.data import load_csv, split, write_csv
    from scipy.stats import wilcoxon

    from aiva.escat.fit import finetune_config, fit
    from aiva.escat.io import load_xsec_model, save_xsec_model
    from aiva.models.io import sha256_file

    cfg = config
    with registry.lock(name):
        cur_v = registry.current(name)
        cur = load_xsec_model(registry.weights(name, cur_v))
        d = load_csv(data)
        record = {"action": "update", "data": str(data), "data_sha256": sha256_file(data), "n_points": len(d),
                  "current": cur_v}

        def reject(why, **ev):
            return _decide(registry, name, record, progress, why=why, **ev)

        if d.A != cur.A:
            return reject(f"data are for A = {d.A} ({d.target}), the model is for A = {cur.A} ({cur.target})")
        train, hold = split(d, 1 - cfg.holdout, cfg.seed)
        cand = fit(train, None, finetune_config(cur, cfg.epochs, cfg.seed), init=cur, progress=False)
        alpha = 0.1 / cfg.n_sigma

        def compare(pts):
            a, b = _escat_pull2(cur, pts), _escat_pull2(cand, pts)
            return {"chi2_per_N_current": float(a.mean()), "chi2_per_N_candidate": float(b.mean()),
                    "improvement": float(a.mean() - b.mean()), "N": len(pts),
                    "p_better": float(wilcoxon(a, b, alternative="greater").pvalue),
                    "p_worse": float(wilcoxon(a, b, alternative="less").pvalue)}

        a = compare(hold)
        ok_a = a["improvement"] > 0 and a["p_better"] < alpha
        forget = []
        for hp in registry.holdouts(name):
            f = compare(load_csv(hp))
            worse = f["p_worse"] < alpha and -f["improvement"] > cfg.forgetting_tolerance * f["chi2_per_N_current"]
            forget.append({"holdout": hp.name, **f, "ok": not worse})
        dl = train.dnorm(cand.datasets)
        pen = (((1 - cand.lam) / dl) ** 2).mean(axis=0)
        mean, _ = cand.predict(d.E, d.omega, d.theta, warn=False)
        ok_c = bool(pen.mean() < 4.0 and np.all(np.isfinite(mean)) and np.all(mean > 0))
        evidence = {"new_holdout": {**a, "ok": ok_a}, "forgetting": forget,
                    "normalisation_penalty": dict(zip(cand.datasets, map(float, pen))), "physics_ok": ok_c}
        reasons = []
        if not ok_a:
            reasons.append(f"no significant improvement of held-out chi2/N ({a['chi2_per_N_current']:.3f} -> "
                           f"{a['chi2_per_N_candidate']:.3f}, Wilcoxon p = {a['p_better']:.3g}, needs < {alpha:.3g})")
        reasons += [f"worse on earlier held-out points {f['holdout']}" for f in forget if not f["ok"]]
        if not ok_c:
            reasons.append("mean normalisation penalty above 4 per data set, or non-positive predictions")
        if reasons:
            return reject("; ".join(reasons), evidence=evidence)
        with tempfile.TemporaryDirectory(prefix="aiva-update-") as tmpd:
            w = save_xsec_model(cand, Path(tmpd) / "model", half=cur.card.get("dtype") == "float16",
                                extra={"name": cur.card.get("name", name), "parent": cur_v})
            hold_f = write_csv(hold, Path(tmpd) / "holdout.csv")
            new_v = registry.add_version(name, w, {"parent": cur_v, "weights_sha256": sha256_file(w),
                                                   "family": "escat", "evidence": evidence,
                                                   "data": [{"file": Path(data).name, "sha256": record["data_sha256"],
                                                             "n_train": len(train), "n_holdout": len(hold)}]},
                                         holdout=hold_f)
        return _decide(registry, name, record, progress, new_version=new_v, evidence=evidence,
                       summary=f"held-out chi2/N {a['chi2_per_N_current']:.3f} -> {a['chi2_per_N_candidate']:.3f} "
                               f"(Wilcoxon p = {a['p_better']:.2g})")
