"""Closure test of the carbon fit: what test χ²/N does the fitting method reach when the truth is known?

For each random 9:1 split of the ¹²C points (after the low-ω cut, the data sets of the paper):

* **synthetic**: pseudo-data σ_i = T_i + Δσ_i·N(0, 1) at the measured kinematics with the quoted
  point errors Δσ_i, where the truth T is a smooth function, the mean of a saved carbon ensemble
  (``--truth``, default the shipped ``escat-C12``, with λ = 1). An ensemble is fitted to the
  training points exactly as the real data are (``aiva.escat.fit.fit``) and scored on the test
  points. The truth scored on the same test points gives χ²/N ≈ 1; what the fit adds above it is
  the cost of the method (the variance of a network fitted to noisy points, interpolation and
  extrapolation along each spectrum) with none of the real data's own problems (data sets that
  disagree, errors quoted too small, structure finer than the point spacing).
* **real**: the same fit on the measured cross sections, the figure of the escat benchmark; and
  on split 1, the split of ``benchmarks/escat.py``, also the saved model ``--truth`` itself on
  its test points (no fit).

With ``--transfers``, the same for fine-tuning the first 10 members of the carbon model on 70 % of
a target's points (``aiva.escat.fit.finetune_config``, all blocks, as ``aiva escat transfer``),
the truth being the shipped transferred model ``escat-<target>``.

Both are split into test points inside the ω range that the training points cover in their own
spectrum (same data set, E, θ) and the others ("edge": ends of spectra, or spectra with fewer than
two training points), where the network extrapolates along ω.

Writes ``benchmarks/results/escat_closure/closure.json``.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from aiva.escat.data import PAPER_EXCLUDED, EData, apply_cut, exclude_datasets, load_target, spectrum_edges, split
from aiva.escat.fit import FitConfig, chi2_terms, finetune_config, fit, member_predictions
from aiva.escat.io import load_xsec_model
from aiva.escat.model import ACTIVATIONS, ESConfig
from aiva.utils import atomic_write_text


def score(model, train: EData, test: EData, truth_test: np.ndarray | None) -> dict:
    te = chi2_terms(model, test, edge=spectrum_edges(train, test))
    out = {"test_chi2_per_N": te["chi2_per_N"], "test_chi2_per_N_with_band": te["chi2_per_N_with_band"],
           "train_chi2_per_N": chi2_terms(model, train)["chi2_per_N"],
           "coverage_band_plus_point_error": te["coverage_band_plus_point_error"],
           **{k: te[k] for k in ("n_edge", "interior_chi2_per_N", "edge_chi2_per_N", "edge_share_of_chi2")}}
    if truth_test is not None:
        out["truth_test_chi2_per_N"] = float(np.mean(((truth_test - test.xsec) / test.err) ** 2))
    return out


def pseudo_data(d: EData, truth_model: str, noise_seed: int) -> tuple[np.ndarray, EData]:
    """The truth (mean of ``truth_model``, λ = 1) at the points of ``d``, and pseudo-data drawn
    around it with the quoted errors."""
    truth = member_predictions(load_xsec_model(truth_model), d, fit_lambda=False).mean(axis=0)
    rng = np.random.default_rng(noise_seed)
    return truth, replace(d, xsec=truth + d.err * rng.standard_normal(len(d)))


def closure_pair(label: str, d: EData, truth: np.ndarray, pseudo: EData, train_fraction: float, split_seed: int,
                 fit_one) -> dict:
    """``fit_one(train)`` on the pseudo-data and on the real data ``d``, each scored on its test points."""
    out: dict = {}
    truth_te = split(replace(d, xsec=truth), train_fraction, seed=split_seed)[1].xsec
    for kind, data in (("synthetic", pseudo), ("real", d)):
        tr, te = split(data, train_fraction, seed=split_seed)
        t0 = time.time()
        model = fit_one(tr)
        out[kind] = r = {**score(model, tr, te, truth_te if kind == "synthetic" else None), "seconds": time.time() - t0}
        print(f"{label} {kind:9s}: test chi2/N {r['test_chi2_per_N']:.2f} (train {r['train_chi2_per_N']:.2f}; "
              f"interior {r['interior_chi2_per_N']:.2f}, {r['n_edge']} edge points {r['edge_chi2_per_N']:.2f})"
              + (f", truth itself {r['truth_test_chi2_per_N']:.2f}" if kind == "synthetic" else "")
              + f", {r['seconds']:.0f} s", flush=True)
    return out


def transfer_closure(target: str, base, noise_seed: int, train_fraction: float = 0.7) -> dict:
    d, _ = exclude_datasets(load_target(target), PAPER_EXCLUDED.get(target, []))
    d, _ = apply_cut(d)
    truth, pseudo = pseudo_data(d, f"escat-{target}", noise_seed)
    return closure_pair(f"{target} 70:30", d, truth, pseudo, train_fraction, 1,
                        lambda tr: fit(tr, None, finetune_config(base), init=base, progress=False))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--truth", default="escat-C12", help="saved carbon model whose mean is the truth")
    ap.add_argument("--splits", type=int, nargs="*", default=[1, 2, 3])
    ap.add_argument("--members", type=int, default=10)
    ap.add_argument("--noise-seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--transfers", nargs="*", default=[], help="targets for the transfer closure (70:30)")
    ap.add_argument("--activation", default=ESConfig.activation, choices=ACTIVATIONS)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "escat_closure")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    d, _ = exclude_datasets(load_target("C12"), PAPER_EXCLUDED["C12"])
    d, _ = apply_cut(d)
    truth, pseudo = pseudo_data(d, args.truth, args.noise_seed)
    res: dict = {"benchmark": "escat_closure", "args": {k: str(v) for k, v in vars(args).items()},
                 "n_points": len(d), "splits": []}
    for s in args.splits:
        row: dict = {"split_seed": s}
        if s == 1:  # the shipped model's own split: its test points (other splits hold its training points)
            tr, te = split(d, 0.9, seed=s)
            row["truth_model_on_real"] = score(load_xsec_model(args.truth), tr, te, None)
            print(f"split {s} {args.truth} itself on the real test points: test chi2/N "
                  f"{row['truth_model_on_real']['test_chi2_per_N']:.2f} (interior "
                  f"{row['truth_model_on_real']['interior_chi2_per_N']:.2f}, {row['truth_model_on_real']['n_edge']} "
                  f"edge points {row['truth_model_on_real']['edge_chi2_per_N']:.2f})", flush=True)
        row.update(closure_pair(f"split {s}", d, truth, pseudo, 0.9, s, lambda tr: fit(
            tr, ESConfig(activation=args.activation), FitConfig(members=args.members, threads=args.threads),
            progress=False)))
        res["splits"].append(row)
        atomic_write_text(args.out / "closure.json", json.dumps(res, indent=1))
    if args.transfers:
        base = load_xsec_model(args.truth)
        base.net, base.lam = base.net.subset(range(min(10, base.net.members))), base.lam[:10]
        res["transfers"] = {tgt: transfer_closure(tgt, base, args.noise_seed) for tgt in args.transfers}
        atomic_write_text(args.out / "closure.json", json.dumps(res, indent=1))
    if args.splits:
        for kind in ("synthetic", "real"):
            res[f"median_test_chi2_per_N_{kind}"] = float(np.median([r[kind]["test_chi2_per_N"] for r in res["splits"]]))
        print(f"carbon, median test chi2/N: synthetic {res['median_test_chi2_per_N_synthetic']:.2f}, "
              f"real {res['median_test_chi2_per_N_real']:.2f}")
    atomic_write_text(args.out / "closure.json", json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
