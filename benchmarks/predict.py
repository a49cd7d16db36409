"""Predictions for the shipped measurements (the flux/NuHepMC issue's acceptance figure).

T2K CC-inclusive on carbon (PRD 98 (2018) 012004) with the shipped carbon generator and the
reference Monte Carlo; MicroBooNE CC-inclusive on argon (PRL 123 (2019) 131801, folded with its
smearing matrix) with the reference MC and, when shipped, the argon generator. Each with
``--events`` events; writes ``benchmarks/results/predict/<measurement>/`` (prediction.csv,
result.json, prediction.png) and ``predict.json``.

    python benchmarks/predict.py [--events 1000000]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "predict"
CASES = {"t2k-ccinc-2018-C": ("C12", ["numu-C12-inclusive", "numu-C12-inclusive-flow"]),
         "microboone-ccinc-2019-Ar": ("Ar40", ["numu-Ar40-inclusive"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", default="/tmp/aiva_predict")
    args = ap.parse_args()

    from aiva.events import write_events
    from aiva.mc import simulate
    from aiva.measurements import load_measurement
    from aiva.measurements.run import predict_to_dir
    from aiva.models.io import MODELS_DIR

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    summary = {}
    for name, (target, candidates) in CASES.items():
        m = load_measurement(name)
        mc = work / f"mc_{target}.parquet"
        write_events(simulate(target, "numu", args.events, flux=m.meta["flux"], seed=args.seed, workers=2), mc)
        models = [m for m in candidates if (MODELS_DIR / f"{m}.safetensors").exists()]
        res = predict_to_dir(measurement=name, out=RESULTS / name, models=models, events=[mc], flux_range=(0.3, 10.0),
                             n_events=args.events, seed=args.seed)
        summary[name] = {r["prediction_from"].replace(mc.name, "reference MC"): {"chi2": r["chi2"], "ndf": r["ndf"]}
                         for r in res["predictions"]}
    (RESULTS / "predict.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
