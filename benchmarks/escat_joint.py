"""The joint (nucleus-conditioned) electron-scattering model: main fit, leave-one-nucleus-out,
Coulomb distortion on/off, and the summary table of docs/escat.md ("Across the nuclear chart").

Each run writes one JSON to --out (default benchmarks/results/escat_joint/), so the runs can be
made one at a time (two cores shared) and ``--summary`` collects them:

    python benchmarks/escat_joint.py main [--no-coulomb] [--inputs ...] [--save PATH]
    python benchmarks/escat_joint.py lono Fe56 [--no-coulomb]
    python benchmarks/escat_joint.py transfer Au197        # per-nucleus transfer 10:90 (first 10 carbon members)
    python benchmarks/escat_joint.py summary               # table + κ of the band widening
    python benchmarks/escat_joint.py coulomb --against M   # the shipped fit (EMA) vs a saved fit M without it,
                                                           # test and training χ²/N by data set
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from aiva.escat.data import spectrum_edges, split  # noqa: E402
from aiva.escat.fit import XsecModel, chi2_terms  # noqa: E402
from aiva.escat.io import load_xsec_model  # noqa: E402
from aiva.escat.joint import fit_joint, load_nucleus, nucleus_distance, save_joint  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "escat_joint"
#: test χ²/N of per-nucleus transfer at 10:90 and of carbon × A/12 (docs/escat.md, "Transfer")
DOCS_TL_10_90 = {"He3": 58.2, "Li6": 2.9e7, "O16": 4.23, "Al27": 123, "Ca40": 45.8, "Fe56": 14.4}
DOCS_CARBON_SCALED_10_90 = {"He3": 3659, "Li6": 2.2e8, "O16": 2.85, "Al27": 71.0, "Ca40": 923, "Fe56": 54.9}


def _slim(t: dict) -> dict:
    keep = ("N", "chi2_per_N", "chi2_per_N_with_band", "coverage_band_plus_point_error", "n_edge",
            "interior_chi2_per_N", "edge_chi2_per_N", "edge_share_of_chi2")
    out = {k: t[k] for k in keep if k in t}
    out["per_dataset"] = {k: round(v["chi2_per_N"], 4) for k, v in t.get("per_dataset", {}).items()}
    return out


def carbon_scaled(te_raw, A):
    c12 = load_xsec_model("escat-C12")
    scaled = XsecModel(c12.net, A, te_raw.target, [], np.ones((c12.net.members, 0)), c12.domain, c12.card)
    return scaled


def run_main(a) -> dict:
    t0 = time.time()
    jm, splits = fit_joint(members=a.members, steps=a.steps, seed=a.seed, split_seed=a.split_seed,
                           coulomb=not a.no_coulomb, inputs=a.inputs, threads=a.threads)
    res = {"kind": "main", "coulomb": not a.no_coulomb, "inputs": a.inputs, "members": a.members, "steps": a.steps,
           "seed": a.seed, "split_seed": a.split_seed, "epochs": jm.model.card["fit"]["epochs"],
           "seconds": time.time() - t0, "targets": {}}
    for t, (tr, te) in splits.items():
        res["targets"][t] = {"n_train": len(tr), "test": _slim(jm.chi2(te, edge=spectrum_edges(tr, te))),
                             "train_chi2_per_N": jm.chi2(tr)["chi2_per_N"]}
    lam = dict(zip(jm.model.datasets, jm.model.lam.mean(axis=0).round(4).tolist()))
    res["lambda_mean"] = lam
    if a.save:  # a path of the user's: shipping goes through tools/build_models.py
        path = save_joint(jm, a.save, half=True, extra={"name": "escat-joint", "metrics": {
            t: {"test_chi2_per_N": v["test"]["chi2_per_N"]} for t, v in res["targets"].items()},
            "built_with": " ".join(["python benchmarks/escat_joint.py"] + sys.argv[1:])})
        res["saved"] = str(path)
    return res


def run_lono(a) -> dict:
    t0 = time.time()
    target = a.target
    jm, splits = fit_joint(exclude=[target], members=a.members, steps=a.steps, seed=a.seed, test_fraction=0.0,
                           coulomb=not a.no_coulomb, inputs=a.inputs, threads=a.threads)
    d = load_nucleus(target, coulomb=not a.no_coulomb)
    tr10, te90 = split(d, 0.1, a.split_seed)  # the test points of the per-nucleus transfer at 10:90
    edge = spectrum_edges(tr10, te90)
    res = {"kind": "lono", "target": target, "coulomb": not a.no_coulomb, "inputs": a.inputs, "members": a.members,
           "steps": a.steps, "seed": a.seed, "seconds": time.time() - t0,
           "distance_to_nearest": nucleus_distance(int(d.Z), int(d.A), jm.nuclei),
           "test_10_90": _slim(jm.chi2(te90, edge=edge, fit_lambda=False)),
           "all_points": _slim(jm.chi2(d, fit_lambda=False))}
    raw = load_nucleus(target, coulomb=False)
    rtr, rte = split(raw, 0.1, a.split_seed)
    res["carbon_scaled_10_90"] = _slim(chi2_terms(carbon_scaled(rte, int(raw.A)), rte, fit_lambda=False,
                                                  edge=spectrum_edges(rtr, rte)))
    # residuals for the calibration of the band widening (κ)
    view = jm.at(int(d.Z), int(d.A))
    mean, std = view.predict(te90.E, te90.omega, te90.theta, warn=False)
    res["resid"] = {"mean": mean.tolist(), "std": std.tolist(), "y": te90.xsec.tolist(), "err": te90.err.tolist()}
    return res


def run_transfer(a) -> dict:
    """Fine-tune all blocks of the first 10 carbon members on 10 % of the target (as in docs/escat.md)."""
    from aiva.escat.fit import finetune_config, fit
    from aiva.escat.run import _data

    parent = load_xsec_model("escat-C12")
    sub = XsecModel(parent.net.subset(range(10)), parent.A, parent.target, parent.datasets, parent.lam[:10],
                    parent.domain, parent.card)
    d, _ = _data(a.target, None)
    tr, te = split(d, 0.1, a.split_seed)
    t0 = time.time()
    tuned = fit(tr, None, finetune_config(sub, None, None), init=sub, train_blocks="all", progress=False)
    return {"kind": "transfer", "target": a.target, "seconds": time.time() - t0,
            "test_10_90": _slim(chi2_terms(tuned, te, edge=spectrum_edges(tr, te)))}


def summary(out: Path) -> dict:
    rows, kap = {}, []
    for f in sorted(out.glob("lono_*.json")):
        r = json.loads(f.read_text())
        key = (r["target"], r["coulomb"], r["inputs"])
        rows[key] = r
    tl = {json.loads(f.read_text())["target"]: json.loads(f.read_text()) for f in out.glob("transfer_*.json")}
    table = []
    for (t, coul, inp), r in sorted(rows.items()):
        tl_v = DOCS_TL_10_90.get(t)
        tl_src = "docs"
        if t in tl:
            tl_v, tl_src = tl[t]["test_10_90"]["chi2_per_N"], "re-measured"
        table.append({"target": t, "coulomb": coul, "inputs": inp, "lono": r["test_10_90"]["chi2_per_N"],
                      "lono_interior": r["test_10_90"].get("interior_chi2_per_N"),
                      "lono_edge": r["test_10_90"].get("edge_chi2_per_N"),
                      "carbon_scaled": r["carbon_scaled_10_90"]["chi2_per_N"], "transfer_10_90": tl_v,
                      "transfer_source": tl_src if tl_v is not None else None,
                      "distance": r["distance_to_nearest"]})
        if coul:
            # κ for this nucleus: Σ (m − y)²/(Δy² + s² + (κ d m)²)/N = 1
            res = r["resid"]
            m, s, y, e = (np.asarray(res[k]) for k in ("mean", "std", "y", "err"))
            dist = max(r["distance_to_nearest"][0], 1e-3)
            f = lambda k: np.mean((m - y) ** 2 / (e**2 + s**2 + (k * dist * m) ** 2)) - 1  # noqa: E731
            if f(0.0) > 0:
                lo, hi = 0.0, 100.0
                for _ in range(80):
                    mid = 0.5 * (lo + hi)
                    lo, hi = (mid, hi) if f(mid) > 0 else (lo, mid)
                kap.append((t, 0.5 * (lo + hi)))
    kappa = float(np.median([k for _, k in kap])) if kap else None
    return {"table": table, "kappa_per_nucleus": kap, "kappa_median": kappa}


def run_coulomb(a) -> dict:
    """Per-data-set test (10 %) and training χ²/N of the shipped escat-joint (Coulomb distortion
    on) and of ``--against``, a fit of the same settings saved with ``main --no-coulomb --save``."""
    from aiva.escat.joint import load_joint

    if not a.against:
        raise SystemExit("coulomb needs --against PATH (a fit saved by: main --no-coulomb --save PATH)")
    models = {"coulomb": load_joint("escat-joint"), "no_coulomb": load_joint(a.against)}
    if models["no_coulomb"].coulomb:
        raise SystemExit(f"{a.against}: that fit has the Coulomb correction on")
    res: dict = {"kind": "coulomb", "against": a.against, "targets": {}}
    for t in ("Fe56", "Au197", "U238", "C12", "Ca40"):
        res["targets"][t] = {}
        for lab, jm in models.items():
            tr, te = split(load_nucleus(t, lab == "coulomb"), 0.9, a.split_seed)
            r, rt = jm.chi2(te, edge=spectrum_edges(tr, te)), jm.chi2(tr)
            res["targets"][t][lab] = {
                "test": r["chi2_per_N"], "train": rt["chi2_per_N"],
                "test_per_dataset": {k: v["chi2_per_N"] for k, v in r.get("per_dataset", {}).items()},
                "n_test_per_dataset": {k: v.get("N") for k, v in r.get("per_dataset", {}).items()},
                "train_per_dataset": {k: v["chi2_per_N"] for k, v in rt.get("per_dataset", {}).items()}}
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", choices=["main", "lono", "transfer", "summary", "coulomb"])
    p.add_argument("target", nargs="?")
    p.add_argument("--members", type=int, default=10)
    p.add_argument("--steps", type=int, default=40_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--split-seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--inputs", default="prc110+log+nucleus")
    p.add_argument("--no-coulomb", action="store_true")
    p.add_argument("--save", help="save the main fit's model to this path (float16; not into the package: "
                                  "shipping is tools/build_models.py --only escat-joint --install)")
    p.add_argument("--against", help="coulomb: a saved joint fit without the Coulomb correction")
    p.add_argument("--out", default=str(OUT))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    tag = f"{'' if not a.no_coulomb else '_nocoul'}{'' if a.inputs == 'prc110+log+nucleus' else '_' + a.inputs.split('+')[-1]}"
    if a.kind == "summary":
        res = summary(out)
        (out / "summary.json").write_text(json.dumps(res, indent=1) + "\n")
        for row in res["table"]:
            print(row)
        print("kappa", res["kappa_median"], res["kappa_per_nucleus"])
        return 0
    if a.kind in ("lono", "transfer") and not a.target:
        p.error(f"{a.kind} needs a target")
    res = {"main": run_main, "lono": run_lono, "transfer": run_transfer, "coulomb": run_coulomb}[a.kind](a)
    name = f"{a.kind}{'_' + a.target if a.target else ''}{tag}.json"
    (out / name).write_text(json.dumps(res, indent=1) + "\n")
    brief = {k: v for k, v in res.items() if k not in ("resid", "lambda_mean")}
    print(json.dumps(brief, indent=1)[:4000])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
