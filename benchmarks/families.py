"""Generative families compared at equal training budgets (the families issue's acceptance).

Every family (gan, flow, cfm) is trained on the same reference events (4M νμ–¹²C events, E_ν
uniform in 0.3–10 GeV) with its config from ``configs/<family>_inclusive.toml``, for a budget of
CPU time (``--budgets`` minutes; the learning rate decays over the budget and no epoch starts that
would overrun it; validation at the test energies counts inside the budget). Budgets are CPU time
of the training process on ``--threads`` threads: on the 2-core CI-class machine two runs go side
by side, one thread each, and a busy machine does not shorten anyone's budget. The selected
model is then compared with ``--events`` fresh reference events at each of the 8 test energies
(MAP, EMD, C2ST) and on a uniform-energy sample (MAP-3D); generation speed is timed on one
thread (10⁶ events at 1 GeV incl. proxy inversion and Parquet writing, median of 3).

    python benchmarks/families.py --data train_4M.parquet --families gan flow cfm --budgets 15 60
    python benchmarks/families.py --merge          # families.json, families.md, families.png

Each (family, budget) run writes ``<out>/runs/<family>_<budget>min.json``; ``--merge`` collects
them.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(__file__).resolve().parent / "results" / "families"


def _speed(model, card, n: int = 1_000_000, repeats: int = 3) -> list[float]:
    import torch

    from aiva.events import write_parquet
    from aiva.models.generate import generate_events

    torch.set_num_threads(1)
    times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        table = generate_events(model, card, np.full(n, 1.0), 11 + i)
        with tempfile.TemporaryDirectory() as d:
            write_parquet(table, Path(d) / "gen.parquet")
        times.append(time.perf_counter() - t0)
    return times


def run_one(family: str, budget: float, args) -> dict:
    from aiva.mc import simulate
    from aiva.models.io import load_model
    from aiva.training.evaluate import evaluate_model, reference_tables
    from aiva.training.run import train_from_files

    out = args.out / "runs" / f"{family}_{budget:g}min"
    t0, c0 = time.time(), time.process_time()
    res = train_from_files(data=args.data, out=out, config=ROOT / "configs" / f"{family}_inclusive.toml",
                           epochs=100_000, cpu_minutes=budget, threads=args.threads, seed=args.seed,
                           family=family, name=f"{family}-{budget:g}min", resume=False, progress=False)
    train_wall, train_cpu = time.time() - t0, time.process_time() - c0
    model, card = load_model(res["model"])
    refs = reference_tables(card, n=args.events, seed=4242)
    uni = simulate("C12", "numu", args.events, energy_range=(0.3, 10.0), seed=4343)
    try:
        ev = evaluate_model(model, card, refs, out / "evaluation", seed=1, uniform_reference=uni, figures=False)
    except RuntimeError as exc:  # e.g. a model too poor to land in the proxy domain
        rec = {"family": family, "budget_cpu_min": budget, "failed": str(exc), "epochs": len(res["history"])}
        (args.out / "runs" / f"{family}_{budget:g}min.json").write_text(json.dumps(rec, indent=2) + "\n")
        print(f"{family} {budget:g} min: evaluation failed: {exc}", flush=True)
        return rec
    speed = _speed(model, card)
    rec = {"family": family, "budget_cpu_min": budget, "threads": args.threads, "train_cpu_min": train_cpu / 60,
           "train_wall_min": train_wall / 60, "epochs": len(res["history"]), "best_epoch": res["best"]["epoch"],
           "weights_bytes": Path(res["model"]).stat().st_size, "gen_1M_one_thread_s": speed,
           "gen_1M_one_thread_median_s": statistics.median(speed),
           "MAP": {e: v["MAP"] for e, v in ev["per_energy"].items()},
           "EMD_Emu_p": {e: v["EMD_Emu_p"] for e, v in ev["per_energy"].items()},
           "C2ST_AUC": {e: v["C2ST_AUC"] for e, v in ev["per_energy"].items()},
           "mean_MAP": ev["mean_MAP"], "max_MAP": ev["max_MAP"], "max_C2ST_AUC": ev["max_C2ST_AUC"],
           "MAP3D_uniform": ev["uniform"]["MAP3D"], "W_peaks_1GeV": ev["per_energy"]["1.0"].get("W_peaks"),
           "events_per_energy": args.events, "data": str(args.data), "model": res["model"]}
    path = args.out / "runs" / f"{family}_{budget:g}min.json"
    path.write_text(json.dumps(rec, indent=2) + "\n")
    print(f"{family} {budget:g} min: {rec['epochs']} epochs, mean MAP {rec['mean_MAP']:.3f} (max {rec['max_MAP']:.3f}), "
          f"MAP-3D {rec['MAP3D_uniform']:.3f}, max AUC {rec['max_C2ST_AUC']:.3f}, "
          f"1M events in {rec['gen_1M_one_thread_median_s']:.2f} s on one thread", flush=True)
    return rec


def merge(out: Path) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))]
    failed = [r for r in runs if "failed" in r]
    runs = [r for r in runs if "failed" not in r]
    if not runs:
        raise SystemExit(f"no runs in {out / 'runs'}")
    runs.sort(key=lambda r: (r["budget_cpu_min"], r["family"]))
    lines = ["| family | budget (CPU min) | epochs | mean MAP | max MAP | MAP-3D | max C2ST AUC | mean EMD E'μ "
             "| 1M events, 1 thread | weights |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        lines.append(f"| {r['family']} | {r['budget_cpu_min']:g} | {r['epochs']} | {r['mean_MAP']:.3f} "
                     f"| {r['max_MAP']:.3f} | {r['MAP3D_uniform']:.3f} | {r['max_C2ST_AUC']:.3f} "
                     f"| {np.mean(list(r['EMD_Emu_p'].values())):.4f} | {r['gen_1M_one_thread_median_s']:.2f} s "
                     f"| {r['weights_bytes'] / 1024:.0f} kB |")
    lines += [f"| {r['family']} | {r['budget_cpu_min']:g} | {r['epochs']} | failed: {r['failed']} |||||||"
              for r in failed]
    summary_lines = []
    for budget in sorted({r["budget_cpu_min"] for r in runs}):
        rs = {r["family"]: r for r in runs if r["budget_cpu_min"] == budget}
        best = min(rs.values(), key=lambda r: r["mean_MAP"])
        line = f"{budget:g} CPU min: best {best['family']} (mean MAP {best['mean_MAP']:.3f})"
        if "gan" in rs:
            line += "; mean MAP below the GAN's by " + ", ".join(
                f"{f} {100 * (1 - r['mean_MAP'] / rs['gan']['mean_MAP']):.0f} %" for f, r in rs.items() if f != "gan")
        summary_lines.append(line)
    table = "\n".join(lines) + "\n\n" + "\n".join(f"* {x}" for x in summary_lines) + "\n"
    (out / "families.md").write_text(table)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in runs:
        E = [float(e) for e in r["MAP"]]
        ax.plot(E, list(r["MAP"].values()), marker="o", ls="-" if r["budget_cpu_min"] >= 60 else "--",
                label=f"{r['family']}, {r['budget_cpu_min']:g} CPU min")
    ax.axhline(0.8, color="k", lw=0.8, ls=":", label="perfect model (0.80)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"$E_\nu$ [GeV]")
    ax.set_ylabel("MAP (50×50, 1M vs 1M)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "families.png", dpi=120)
    summary = {"benchmark": "families", "runs": runs, "summary": summary_lines}
    (out / "families.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(table)
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, help="training events (4M reference events)")
    ap.add_argument("--families", nargs="+", default=["gan", "flow", "cfm"])
    ap.add_argument("--budgets", nargs="+", type=float, default=[15.0, 60.0], help="CPU minutes")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--events", type=int, default=1_000_000, help="reference events per test energy")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--merge", action="store_true", help="only collect the runs into the table and plot")
    args = ap.parse_args()
    if args.merge:
        merge(args.out)
        return
    if args.data is None:
        ap.error("--data is required (e.g. aiva simulate --target C12 --events 4000000 --energy-range 0.3 10)")
    for budget in args.budgets:
        for fam in args.families:
            run_one(fam, budget, args)


if __name__ == "__main__":
    main()
