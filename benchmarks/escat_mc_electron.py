"""The reference MC's electron mode against the carbon (e, e′) archive and the carbon network.

χ²/N by region (W of a nucleon at rest: QE < 1.05 GeV, dip 1.05–1.15, Δ 1.15–1.35, above),
with the data's point errors, for the MC (QE + Δ, configurations default and alt), the shipped
``escat-C12`` network (λ = 1) and the MC against the network (at the data kinematics, with the
data's point errors), plus median ratios. Writes benchmarks/results/escat_mc_electron/carbon.json.

    python benchmarks/escat_mc_electron.py [--nucleons 2000]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from aiva.escat.data import PAPER_EXCLUDED, apply_cut, exclude_datasets, load_target  # noqa: E402
from aiva.escat.io import load_xsec_model  # noqa: E402
from aiva.mc import electron  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--nucleons", type=int, default=2000)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "escat_mc_electron"))
    a = p.parse_args(argv)
    d = load_target("C12")
    d, _ = exclude_datasets(d, PAPER_EXCLUDED["C12"])
    d, _ = apply_cut(d)
    reg = electron.regions(d.E, d.theta, d.omega)
    net_mean, _ = load_xsec_model("escat-C12").predict(d.E, d.omega, d.theta, warn=False)
    res = {"target": "C12", "N": len(d), "regions": {r: int((reg == r).sum()) for r in ("QE", "dip", "Delta", "above")},
           "definition": "W^2 = M^2 + 2 M omega - Q^2: QE < 1.05, dip 1.05-1.15, Delta 1.15-1.35, above >= 1.35 GeV",
           "nucleons_per_point": a.nucleons}

    def table(pred, ref, err):
        out = {}
        for r in ("QE", "dip", "Delta", "above", "all"):
            m = np.ones(len(d), bool) if r == "all" else reg == r
            if not m.any():
                continue
            pull = (pred[m] - ref[m]) / err[m]
            out[r] = {"N": int(m.sum()), "chi2_per_N": float(np.mean(pull**2)),
                      "median_ratio": float(np.median(pred[m] / np.where(ref[m] != 0, ref[m], np.nan)))}
        return out

    res["network_vs_data"] = table(net_mean, d.xsec, d.err)
    for cfg in ("default", "alt"):
        t0 = time.time()
        qe = np.concatenate([electron.qe(d.E[i:i + 200], d.theta[i:i + 200], d.omega[i:i + 200], "C12", cfg)
                             for i in range(0, len(d), 200)])
        de = np.concatenate([electron.delta(d.E[i:i + 200], d.theta[i:i + 200], d.omega[i:i + 200], "C12", cfg,
                                            n_nucleons=a.nucleons) for i in range(0, len(d), 200)])
        tot = qe + de
        res[cfg] = {"seconds": time.time() - t0, "mc_vs_data": table(tot, d.xsec, d.err),
                    "mc_vs_network": table(tot, net_mean, d.err),
                    "qe_only_vs_data": table(qe, d.xsec, d.err)}
        print(cfg, json.dumps(res[cfg], indent=1))
    print("network", json.dumps(res["network_vs_data"], indent=1))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "carbon.json").write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
