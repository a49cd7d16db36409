"""The decision rules of ``aiva update`` for generators: new events in, a fine-tuned candidate out,
promoted only on held-out evidence.

For a registered generator and a new event file:

1. the file is checked against the model (target, probe, energy range); a mismatch is a recorded
   rejection, not a crash;
2. the events are split (seeded) into a training part and a held-out part (``holdout``);
3. a candidate is fine-tuned from the current version (transfer learning, default freezing);
4. candidate and current version are compared on
   (a) the new held-out events: MAP (12 × 12 bins of (E'_μ, θ')) between the held-out events and
       ``gen_factor`` × as many events generated at the same energies; the improvement must
       exceed ``n_sigma`` × its bootstrap standard deviation (held-out events resampled, paired).
       For flows, which have a likelihood, the criterion is the paired held-out log-likelihood:
       its mean gain per event must exceed ``n_sigma`` standard errors (MAP is recorded too; at
       2,000 held-out events it cannot resolve differences as small as default vs ``alt``);
   (b) the held-out sets of all earlier updates on the current lineage (forgetting): the
       candidate may not be worse by more than max(``n_sigma`` σ, ``forgetting_tolerance`` × MAP)
       (flows: lose more than max(``n_sigma`` standard errors, ``forgetting_nats``) of mean
       log-likelihood per event);
   (c) physics: the candidate's events at the held-out energies must respect the kinematic
       limits (E_μ ≤ E_ν, |cos θ| ≤ 1), and their fraction with W² < 0 or W below
       M_N − ε_B − 100 MeV (W from the lepton with the nucleon at rest; Fermi motion puts 0.5–2.5 %
       of the reference events there) may not exceed the larger of the current version's and the
       new data's by more than ``physics_tolerance``; plus the theory constraints of a TOML file
       (evaluated on events generated at 0.5, 1, 3 and 9 GeV);
5. promoted (a new version, ``CURRENT`` moved) only if (a) holds and (b), (c) do not fail;
   otherwise the current version stays untouched. Either way the decision and its evidence go
   to the log.

Theory constraints (``--constraints file.toml``), each ``[[constraint]]`` with ``name``,
``quantity`` (``mean_cos``, ``mean_Q2``, ``mean_W``, ``mean_Emu_over_Enu``, ``fraction_W_below``
with ``w_cut``, or ``xsec_ratio`` with ``energy2``), ``energy`` [GeV], ``value`` and ``tolerance``:
the candidate must satisfy |quantity − value| ≤ tolerance.
"""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from aiva.errors import AivaInputError
from aiva.models.base import energy_range
from aiva.registry.store import Registry
from aiva.registry.decision import UpdateConfig, _decide

log = logging.getLogger(__name__)


PHYSICS_ENERGIES = (0.5, 1.0, 3.0, 9.0)


QUANTITIES = ("mean_cos", "mean_Q2", "mean_W", "mean_Emu_over_Enu", "fraction_W_below", "xsec_ratio")


def _generated(model, card, hold, seed: int, gen_factor: int):
    from aiva.models.generate import generate_events

    return generate_events(model, card, np.repeat(hold["Enu_true"], gen_factor), seed)


def _holdout_map(gen, hold, boot) -> np.ndarray:
    """MAP (12 × 12 bins of (E'_μ, θ')) of the held-out events vs events generated at the same
    energies, for each bootstrap resample of the held-out events. Generating at the held-out
    energies makes this a comparison of the conditional distributions averaged over the data's
    E_ν spectrum; 144 bins keep ~15 events per bin for 2,000 held-out events."""
    from aiva.metrics.core import histogram2d, mean_absolute_pull

    _, gx, gy = gen.proxies()
    _, hx, hy = hold.proxies()
    hg = histogram2d(gx, gy, bins=12)
    return np.array([mean_absolute_pull(histogram2d(hx[i], hy[i], bins=12), hg, 0, len(i) / len(gx)) for i in boot])


def _compare(gen_cur, gen_cand, hold, cfg: UpdateConfig, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    boot = [np.arange(len(hold))] + [rng.integers(0, len(hold), len(hold)) for _ in range(cfg.bootstrap)]
    a, b = _holdout_map(gen_cur, hold, boot), _holdout_map(gen_cand, hold, boot)
    d = a[1:] - b[1:]
    return {"MAP_current": float(a[0]), "MAP_candidate": float(b[0]), "improvement": float(a[0] - b[0]),
            "sigma": float(d.std(ddof=1)), "n_events": len(hold)}


def _loglik(cur, cand, hold) -> dict:
    """Paired held-out log-likelihood of two flows: mean gain (nats/event) and its standard error."""
    from aiva.models.reweight import log_prob

    d = log_prob(cand, hold) - log_prob(cur, hold)
    return {"loglik_gain": float(d.mean()), "loglik_sigma": float(d.std(ddof=1) / np.sqrt(len(d)))}


def _w_tail(table, w_cut: float) -> float:
    W = table.kinematics()["W"]
    return float(np.mean(~np.isfinite(W) | (W < w_cut)))


def _physics(gen_cur, gen_cand, hold, card, tol: float) -> dict:
    """Kinematic limits of the candidate's events at the held-out energies, and its low-W tail
    (W² < 0 or W < M_N − ε_B − 100 MeV, W from the lepton with the nucleon at rest) against the
    larger of the current version's and the new data's."""
    from aiva.physics.constants import M_NUCLEON
    from aiva.physics.targets import get_target

    w_cut = M_NUCLEON - get_target(card["target"]).eps_b - 0.100
    hard = int(np.sum(gen_cand["ELep"] > gen_cand["Enu_true"]) + np.sum(np.abs(gen_cand["CosLep"]) > 1))
    tails = {"current": _w_tail(gen_cur, w_cut), "candidate": _w_tail(gen_cand, w_cut), "data": _w_tail(hold, w_cut)}
    ok = hard == 0 and tails["candidate"] <= max(tails["current"], tails["data"]) + tol
    return {"hard_violations": hard, "W_cut_GeV": w_cut, "fraction_W_below_cut": tails, "ok": bool(ok)}


def _constraint_quantities(model, card, n: int, seed: int) -> dict:
    from aiva.models.generate import generate_events

    out = {}
    for k, E in enumerate(PHYSICS_ENERGIES):
        t = generate_events(model, card, np.full(n, E), seed + k)
        kin = t.kinematics()
        out[str(E)] = {"mean_cos": float(np.mean(t["CosLep"])), "mean_Q2": float(np.mean(kin["Q2"])),
                       "mean_W": float(np.nanmean(kin["W"])), "mean_Emu_over_Enu": float(np.mean(t["ELep"] / E)),
                       "W": kin["W"]}
    return out


def load_constraints(path) -> list[dict]:
    """The theory constraints of a TOML file, every key checked for type and range before any
    training starts (a wrong type must not surface only after a whole fine-tune)."""
    from aiva.utils import read_toml

    raw = read_toml(path, "constraints")
    extra = sorted(set(raw) - {"constraint"})
    if extra:
        raise AivaInputError(f"{path}: unknown key or table '{extra[0]}' (constraints are [[constraint]] tables)")
    cons = raw.get("constraint", [])
    if not isinstance(cons, list) or not all(isinstance(c, dict) for c in cons):
        raise AivaInputError(f"{path}: 'constraint' must be an array of tables ([[constraint]])")
    numeric = {"value": None, "tolerance": "positive", "energy": "positive", "energy2": "positive",
               "w_cut": "positive"}
    for i, c in enumerate(cons):
        for key in ("name", "quantity", "value", "tolerance"):
            if key not in c:
                raise AivaInputError(f"{path}: constraint {i + 1}: missing '{key}'")
        unknown = sorted(set(c) - {"name", "quantity", *numeric})
        if unknown:
            raise AivaInputError(f"{path}: constraint {i + 1}: unknown key '{unknown[0]}'")
        for key in ("name", "quantity"):
            if not isinstance(c[key], str):
                raise AivaInputError(f"{path}: constraint {i + 1}: key '{key}' must be a string")
        for key, kind in numeric.items():
            if key in c:
                v = c[key]
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
                    raise AivaInputError(f"{path}: constraint {c['name']!r}: key '{key}' = {v!r}: expected a number")
                if kind == "positive" and not v > 0:
                    raise AivaInputError(f"{path}: constraint {c['name']!r}: key '{key}' = {v!r}: must be > 0")
        if c["quantity"] not in QUANTITIES:
            raise AivaInputError(f"{path}: constraint {c['name']!r}: unknown quantity {c['quantity']!r} "
                                 f"(known: {', '.join(QUANTITIES)})")
        if c["quantity"] != "xsec_ratio" and float(c.get("energy", -1)) not in PHYSICS_ENERGIES:
            raise AivaInputError(f"{path}: constraint {c['name']!r}: energy must be one of {PHYSICS_ENERGIES} GeV")
    return cons


def theory_checks(model, card: dict, cons, cfg) -> list[dict]:
    """Each theory constraint's value for ``model`` against its target and tolerance."""
    out: list[dict] = []
    if cons:
        pk = _constraint_quantities(model, card, cfg.physics_events, cfg.seed + 31)
        for c in cons:
            val = _constraint_value(c, pk, card)
            out.append({"name": c["name"], "value": val, "target": c["value"], "tolerance": c["tolerance"],
                        "ok": abs(val - c["value"]) <= c["tolerance"]})
    return out


def _constraint_value(c: dict, phys: dict, card: dict) -> float:
    q = c["quantity"]
    if q == "xsec_ratio":
        from aiva.models.xsec import XsecCurve

        curve = XsecCurve.from_card(card)
        return float(curve(c["energy"]) / curve(c["energy2"]))
    p = phys[str(float(c["energy"]))]
    if q == "fraction_W_below":
        return float(np.mean(p["W"] < c["w_cut"]))
    return float(p[q])


def lineage_check(registry: Registry, name: str, cur, cand, cfg: UpdateConfig) -> dict:
    """Paired log-likelihood of candidate vs current on the lineage reference
    (:mod:`aiva.registry.lineage`): the candidate may not lose more than
    max(``n_sigma`` standard errors, ``reference_nats``) per event."""
    from aiva.registry.lineage import reference_events

    ref, spec = reference_events(registry, name)
    f = _loglik(cur, cand, ref)
    allowed = max(cfg.n_sigma * f["loglik_sigma"], float(cfg.reference_nats or 0.0))
    return {"holdout": f"lineage reference ({spec['kind']}, {spec['version']}, {spec['n_events']} events)",
            "MAP_current": float("nan"), "MAP_candidate": float("nan"), **f, "allowed_worsening": allowed,
            "ok": bool(-f["loglik_gain"] <= allowed), "lineage_reference": spec}


def update_generator(*, registry: Registry, name: str, data, constraints=None, config: UpdateConfig | None = None,
           progress: bool = True) -> dict:
    """Process one data file for model ``name``; returns the decision record (also logged)."""
    from aiva.events import read_events, write_events
    from aiva.models.io import load_model, sha256_file
    from aiva.training.run import describe_data, transfer_from_files

    cfg = config or UpdateConfig()
    cons = load_constraints(constraints) if constraints else []
    data = Path(data)
    with registry.lock(name):
        cur_v = registry.current(name)
        cur_w = registry.weights(name, cur_v)
        cur, ccard = load_model(cur_w)
        table = read_events(data)
        record = {"action": "update", "data": str(data), "data_sha256": sha256_file(data), "n_events": len(table),
                  "current": cur_v}

        def reject(why: str, **evidence) -> dict:
            return _decide(registry, name, record, progress, why=why, **evidence)

        info = describe_data(table, data)
        if (info["target"], info["probe"]) != (ccard.get("target"), ccard.get("probe")):
            return reject(f"data are {info['probe']} on {info['target']}, the model is {ccard.get('probe')} on "
                          f"{ccard.get('target')}")
        lo, hi = energy_range(ccard)
        out = int(np.sum((table["Enu_true"] < lo) | (table["Enu_true"] > hi)))
        if out:
            return reject(f"{out} events with E_nu outside the model's range [{lo}, {hi}] GeV")

        rng = np.random.default_rng(cfg.seed)
        is_hold = np.zeros(len(table), bool)
        is_hold[rng.permutation(len(table))[: int(round(cfg.holdout * len(table)))]] = True
        with tempfile.TemporaryDirectory(prefix="aiva-update-") as tmpd:
            tmp = Path(tmpd)
            hold = table.select(is_hold)
            train_f = write_events(table.select(~is_hold), tmp / "train.parquet")
            hold_f = write_events(hold, tmp / "holdout.parquet")
            res = transfer_from_files(base=cur_w, data=train_f, out=tmp / "candidate", freeze=cfg.freeze,
                                      config=cfg.train_config,
                                      epochs=cfg.epochs, seed=cfg.seed, val_events=cfg.val_events,
                                      name=ccard.get("name"), progress=False)
            cand, kcard = load_model(res["model"])
            gc, gk = (_generated(m, c, hold, cfg.seed + 1, cfg.gen_factor) for m, c in ((cur, ccard), (cand, kcard)))
            a = _compare(gc, gk, hold, cfg, cfg.seed + 11)
            likelihood = getattr(cur, "has_likelihood", False) and getattr(cand, "has_likelihood", False)
            if likelihood:  # flows: the paired held-out log-likelihood, the most sensitive evidence
                a.update(_loglik(cur, cand, hold))
                ok_a = a["loglik_gain"] > cfg.n_sigma * a["loglik_sigma"]
            else:
                ok_a = a["improvement"] > cfg.n_sigma * a["sigma"]
            forget = []
            for hp in registry.holdouts(name):
                h = read_events(hp)
                f = _compare(_generated(cur, ccard, h, cfg.seed + 2, cfg.gen_factor),
                             _generated(cand, kcard, h, cfg.seed + 2, cfg.gen_factor), h, cfg, cfg.seed + 23)
                if likelihood:
                    f.update(_loglik(cur, cand, h))
                    allowed = max(cfg.n_sigma * f["loglik_sigma"], cfg.forgetting_nats)
                    ok = -f["loglik_gain"] <= allowed
                else:
                    allowed = max(cfg.n_sigma * f["sigma"], cfg.forgetting_tolerance * f["MAP_current"])
                    ok = -f["improvement"] <= allowed
                forget.append({"holdout": hp.name, **f, "allowed_worsening": allowed, "ok": ok})
            if likelihood and cfg.reference_nats is not None:  # forgetting from the first update on
                forget.append(lineage_check(registry, name, cur, cand, cfg))
            phys = _physics(gc, gk, hold, ccard, cfg.physics_tolerance)
            ok_c = phys["ok"]
            theory = theory_checks(cand, kcard, cons, cfg)
            evidence = {"new_holdout": {**a, "ok": ok_a}, "forgetting": forget, "physics": phys, "theory": theory,
                        "candidate_training": {"best_epoch": res["best"]["epoch"],
                                               "validation_mean_MAP": res["best"]["score"]}}
            reasons = []
            if not ok_a:
                gain = (f"log-likelihood gain {a['loglik_gain']:.4f} nats/event, needs > {cfg.n_sigma:g} x "
                        f"{a['loglik_sigma']:.4f}" if likelihood else f"needs > {cfg.n_sigma:g} x sigma = "
                        f"{cfg.n_sigma * a['sigma']:.3f}")
                reasons.append(f"no significant improvement on the new held-out events (MAP {a['MAP_current']:.3f}"
                               f" -> {a['MAP_candidate']:.3f}, {gain})")
            reasons += [f"worse on earlier held-out set {f['holdout']} (MAP {f['MAP_current']:.3f} -> "
                        f"{f['MAP_candidate']:.3f}" + (f", log-likelihood {f['loglik_gain']:+.4f} nats/event" if likelihood
                                                      else "") + f", allowed worsening {f['allowed_worsening']:.3f})"
                        for f in forget if not f["ok"] and "lineage_reference" not in f]
            reasons += [f"forgetting: worse on the {f['holdout']} (log-likelihood {f['loglik_gain']:+.4f} nats/event, "
                        f"allowed loss {f['allowed_worsening']:.4f})" for f in forget
                        if not f["ok"] and "lineage_reference" in f]
            if not ok_c:
                t = phys["fraction_W_below_cut"]
                reasons.append(f"physics: {phys['hard_violations']} events beyond the kinematic limits; fraction with W "
                               f"below {phys['W_cut_GeV']:.3f} GeV {t['candidate']:.4f} vs current {t['current']:.4f}, "
                               f"data {t['data']:.4f}")
            reasons += [f"theory constraint {t['name']!r}: {t['value']:.4g} vs {t['target']} +- {t['tolerance']}"
                        for t in theory if not t["ok"]]
            if reasons:
                return reject("; ".join(reasons), evidence=evidence)
            info_v = {"parent": cur_v, "weights_sha256": sha256_file(res["model"]), "model_name": ccard.get("name"),
                      "family": kcard.get("family"), "data": [{"file": data.name, "sha256": record["data_sha256"],
                                                               "n_train": int((~is_hold).sum()),
                                                               "n_holdout": int(is_hold.sum())}],
                      "holdout_sha256": sha256_file(hold_f), "evidence": evidence}
            new_v = registry.add_version(name, Path(res["model"]), info_v, holdout=hold_f)
        return _decide(registry, name, record, progress, new_version=new_v, evidence=evidence,
                       summary=f"held-out MAP {a['MAP_current']:.3f} -> {a['MAP_candidate']:.3f} (+- {a['sigma']:.3f})")
