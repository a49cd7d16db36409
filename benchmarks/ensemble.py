"""Coverage of ensemble uncertainty bands (the families issue's acceptance: 60–80 % at 1 GeV).

Trains (unless ``--ensemble`` names an existing one) K flow members with seeds 1…K on bootstrap
resamples of the training events, then compares the per-bin mean ± 1σ of E_μ, cos θ, W and Q²
histograms with ``--events`` fresh reference events at each energy and reports the fraction of
bins whose reference lies within √(σ_ens² + σ_ref²) of the mean. Writes
``benchmarks/results/ensemble/`` (metrics.json, report.md, bands_E*.png, ensemble.json).

    python benchmarks/ensemble.py --data train_1M.parquet [--members 5] [--epochs 6]
    python benchmarks/ensemble.py --ensemble /tmp/ens5 --energies 0.5 1 3 9
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(__file__).resolve().parent / "results" / "ensemble"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ensemble", type=Path, help="existing ensemble folder (skips training)")
    ap.add_argument("--data", type=Path, help="training events")
    ap.add_argument("--members", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--family", default="flow")
    ap.add_argument("--work", type=Path, default=Path("/tmp/aiva_ensemble"))
    ap.add_argument("--energies", type=float, nargs="+", default=[0.5, 1.0, 3.0, 9.0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    import torch

    from aiva.training.run import evaluate_ensemble_to_dir, train_from_files

    torch.set_num_threads(args.threads)
    ens = args.ensemble
    if ens is None:
        if args.data is None:
            ap.error("give --ensemble or --data")
        train_from_files(data=args.data, out=args.work, config=ROOT / "configs" / f"{args.family}_inclusive.toml",
                         epochs=args.epochs, family=args.family, ensemble=args.members, threads=args.threads,
                         name=f"{args.family}-ensemble", progress=False)
        ens = args.work
    res = evaluate_ensemble_to_dir(ensemble=ens, out=args.out, events=args.events, energies=args.energies)
    man = json.loads((Path(ens) / "ensemble.json").read_text())
    cards = [json.loads((Path(ens) / m).with_suffix(".json").read_text()) for m in man["members"]]
    res["members_validation_mean_MAP"] = [c["metrics"]["validation"]["mean_MAP"] for c in cards]
    res["training"] = {"family": man.get("family"), "seeds": man.get("seeds"),
                       "data": cards[0]["training"]["data"], "epochs": cards[0]["training"]["train_config"]["epochs"]}
    one = res["per_energy"].get("1.0")
    if one:
        fr = [v["fraction"] for v in one.values()]
        res["coverage_1GeV"] = {"per_variable": {k: v["fraction"] for k, v in one.items()},
                                "all_bins": sum(v["covered"] for v in one.values()) / sum(v["bins"] for v in one.values()),
                                "mean_of_variables": float(np.mean(fr))}
        print(f"coverage at 1 GeV, all bins: {100 * res['coverage_1GeV']['all_bins']:.1f} % (target 60-80 %)")
    (args.out / "ensemble.json").write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
