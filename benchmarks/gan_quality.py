"""Quality of a shipped generator against fresh reference-MC events (the GAN issue's acceptance).

For each test energy (0.5, 0.8, 1, 2, 3, 5, 7, 9 GeV): MAP (50×50, both counts > 0), EMD, C2ST
AUC, with ``--events`` reference and as many generated events; W peaks at 1 GeV. Writes
``benchmarks/results/gan_quality_<model>/`` (metrics.json, report.md, figures).

    python benchmarks/gan_quality.py [--model numu-C12-inclusive] [--events 1000000]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from aiva.training.run import evaluate_to_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="numu-C12-inclusive")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-c2st", action="store_true")
    args = ap.parse_args()
    out = Path(__file__).parent / "results" / f"gan_quality_{Path(args.model).stem}"
    res = evaluate_to_dir(model=args.model, out=out, events=args.events, seed=args.seed, c2st=not args.no_c2st)
    ok_map = res["max_MAP"] <= 1.5 and res["mean_MAP"] <= 1.2
    ok_auc = res.get("max_C2ST_AUC", 1.0) <= 0.60
    print(f"acceptance: MAP <= 1.5 everywhere and <= 1.2 on average: {'MET' if ok_map else 'NOT MET'}; "
          f"C2ST AUC <= 0.60: {'MET' if ok_auc else 'NOT MET'}")


if __name__ == "__main__":
    main()
