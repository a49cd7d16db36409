"""Fine-tuning recipes for one transfer-learning scenario at 100k events (the 0.5 GeV shortfall).

The transfer issue asks for MAP <= 2.0 at every test energy after fine-tuning on 100k events.
For ν̄μ–¹²C (scenario B) the flow misses it at 0.5 GeV. This script fine-tunes the shipped νμ–¹²C
flow on the benchmark's 100k-event file with one recipe (frozen blocks, learning rate, epochs) and
scores it against 10⁶ fresh reference events per energy (an independent seed from the training's
validation), appending the result to ``benchmarks/results/transfer_flow/recipes.json``.

    python benchmarks/transfer.py --base numu-C12-inclusive-flow --work /tmp/aiva_transfer_flow2 ...  # makes B_100000.parquet
    python benchmarks/transfer_recipes.py --scenario B --freeze none --lr 3e-4 --epochs 60
    python benchmarks/transfer_recipes.py --scenario B --freeze none --lr 3e-4 --epochs 60 --select-by max --members 3

It only measures; the shipped ``numubar-C12-inclusive`` (a nine-member mixture of such
fine-tunes) is built by ``tools/build_models.py`` from ``configs/shipped.toml``.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "transfer_flow" / "recipes.json"
SCENARIOS = {"A": ("Ar40", "numu", "default"), "B": ("C12", "numubar", "default"), "C": ("C12", "numu", "alt")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="B", choices=sorted(SCENARIOS))
    ap.add_argument("--data", help="training file (default WORK/<scenario>_100000.parquet)")
    ap.add_argument("--work", default="/tmp/aiva_transfer_flow2")
    ap.add_argument("--base", default="numu-C12-inclusive-flow")
    ap.add_argument("--freeze", default="none")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--energy-weight-power", type=float, default=0.0,
                    help="draw training events with probability ∝ E_nu^-p (0: uniform permutation)")
    ap.add_argument("--select-by", default="mean", choices=("mean", "max"),
                    help="keep the epoch with the lowest mean or worst-energy validation MAP")
    ap.add_argument("--members", type=int, default=1,
                    help="K fine-tunes (seeds SEED … SEED+K-1) scored as one equal-weight mixture")
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--val-events", type=int, default=100_000)
    ap.add_argument("--events", type=int, default=1_000_000, help="reference events per test energy")
    ap.add_argument("--energies", default="0.5,0.8,1,2,5,9")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=11, help="training seed (event order, initial validation draw)")
    ap.add_argument("--out", help="model folder (default a temporary one)")
    ap.add_argument("--results", type=Path, default=RESULTS)
    ap.add_argument("--score-only", action="store_true",
                    help="do not train: score the model already in --out")
    ap.add_argument("--mix", nargs="+", metavar="DIR",
                    help="do not train: mix the fine-tunes already in these folders (e.g. runs with other "
                         "learning rates) into one equal-weight mixture in --out, then score it")
    args = ap.parse_args()

    import torch

    from aiva.models.io import load_model
    from aiva.training.evaluate import evaluate_model, reference_tables
    from aiva.training.run import transfer_from_files
    from aiva.utils import atomic_write_text

    torch.set_num_threads(args.threads)
    data = args.data or f"{args.work}/{args.scenario}_100000.parquet"
    out = Path(args.out or tempfile.mkdtemp(prefix=f"recipe_{args.scenario}_"))
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.process_time()
    mixed_from = None
    if args.mix:
        from aiva.models.io import mix_files

        mix_files([Path(d) / "model.safetensors" for d in args.mix], out / "model.safetensors")
        loaded = [load_model(Path(d) / "model.safetensors") for d in args.mix]
        tcs = [c.get("training", {}).get("train_config") or {} for _, c in loaded]
        mixed_from = [{"folder": str(d), "lr": t.get("lr"), "seed": t.get("seed"),
                       "weights_sha256": c.get("weights_sha256")} for d, t, (_, c) in zip(args.mix, tcs, loaded)]
        args.members = len(args.mix)
        args.lr = sorted({t.get("lr") for t in tcs})  # the row records what the members were trained with
        args.epochs = sorted({t.get("epochs") for t in tcs})
        args.select_by = sorted({t.get("select_by") for t in tcs})
        args.seed = sorted({t.get("seed") for t in tcs})
    elif not args.score_only:
        toml = out / "budget.toml"
        toml.write_text(f"[training]\nbatch_size = {args.batch_size}\nepochs = {args.epochs}\n"
                        f"threads = {args.threads}\nlr = {args.lr}\nval_events = {args.val_events}\n"
                        f"seed = {args.seed}\nenergy_weight_power = {args.energy_weight_power}\n"
                        f"select_by = \"{args.select_by}\"\n")
        transfer_from_files(base=args.base, data=data, out=out, config=toml, freeze=args.freeze, progress=False,
                            members=args.members)
    cpu_min = (time.process_time() - t0) / 60
    net, card = load_model(out / "model.safetensors")
    tgt, probe, cfg = SCENARIOS[args.scenario]
    ref_card = {**card, "target": tgt, "probe": probe, "training": {"data_metadata": {"config": {"name": cfg}}}}
    energies = tuple(float(e) for e in args.energies.split(","))
    refs = reference_tables(ref_card, energies, args.events, seed=9000)
    r = evaluate_model(net, card, refs, out / "eval", c2st=False, figures=False)
    row = {"scenario": args.scenario, "freeze": args.freeze, "lr": args.lr, "epochs": args.epochs,
           "energy_weight_power": args.energy_weight_power, "select_by": args.select_by, "seed": args.seed,
           "members": args.members, **({"mixed_from": mixed_from} if mixed_from else {}),
           "batch_size": args.batch_size, "val_events": args.val_events, "train_cpu_minutes": round(cpu_min, 2),
           "MAP": {e: round(v["MAP"], 3) for e, v in r["per_energy"].items()},
           "EMD_Emu_p": {e: round(v["EMD_Emu_p"], 4) for e, v in r["per_energy"].items()}}
    rows = json.loads(args.results.read_text()) if args.results.exists() else []
    rows.append(row)
    atomic_write_text(args.results, json.dumps(rows, indent=1) + "\n")
    print(json.dumps(row))


if __name__ == "__main__":
    main()
