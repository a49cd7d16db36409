"""Training on a user's generator output (issue #21): NuWro fine-tuning and a 500k flat-flux file.

(a) ``--nuwro DIR``: the real NuWro events of ``DIR`` (``nuwro_numu_C12_E{0.5,1.0,3.0}GeV_CC.npz``,
    see its README) become an :class:`aiva.events.EventTable` with NUISANCE column names (Mode
    from NuWro's ``dyn``: 0 QE→1, 8 MEC→2, 2 RES→11, 4 DIS→26, 6 COH→16), are written with
    :func:`aiva.events.write_events` (``--format root``: a NUISANCE ``FlatTree_VARS`` tree; parquet
    where this installation cannot write ROOT) and read back with :func:`aiva.events.read_events`.
    Each file is split in two seeded halves. The default generator is fine-tuned (``aiva transfer``'s
    library function, freeze none) on the union of the three first halves (3 × 50k events): one
    model for νμ–¹²C at all energies, as a user would want it, whose E_ν-conditioning stays
    meaningful across the three energies (a per-energy fine-tune would see one condition only); its
    checkpoint is selected on a held-out 10 % of that union. Reported per energy: MAP (50 × 50 in
    (E'_μ, θ'), :func:`aiva.metrics.map_2d`) against the second half for the tuned and the untuned
    model (as many generated events as the half holds), and the half-vs-half floor (first half
    against second half).
(b) ``--flat N``: N events (default 500k) of the reference MC with E_ν uniform in [0.3, 10] GeV,
    marked as another generator's output (producer not ``aiva.mc``), written with ``write_events``
    and trained on with ``--family flow`` under a CPU budget (``--cpu-minutes``); reported: the
    held-out figure per epoch with its noise, the chosen epoch and whether selection was
    noise-limited. For comparison, the fixed-energy windows (±5 %, ≥ 2000 held-out events) that
    the old held-out validation used are listed.

(c) ``--transfer N``: ``aiva transfer`` of the default generator (default freezing) on N (default
    10k) external flat-flux events of the reference MC's ``alt`` physics, ``--epochs`` epochs.

Writes ``benchmarks/results/byo/nuwro.json``, ``flat.json`` and ``transfer.json``.

    OMP_NUM_THREADS=1 python benchmarks/byo_generator.py --nuwro ../shared/data/nuwro [--epochs 20]
    OMP_NUM_THREADS=1 python benchmarks/byo_generator.py --flat 500000 [--cpu-minutes 10]
    OMP_NUM_THREADS=1 python benchmarks/byo_generator.py --transfer 10000 --epochs 10
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results" / "byo"
ENERGIES = (0.5, 1.0, 3.0)
NUWRO_MODE = {0: 1, 8: 2, 2: 11, 4: 26, 6: 16}  # NuWro dyn (CC) -> NEUT mode
BASE = "numu-C12-inclusive-flow"
#: (c)'s external files: (target, probe, physics configuration of the reference MC)
TRANSFER_CASES = {"alt": ("C12", "numu", "alt"), "Ar40": ("Ar40", "numu", "default"),
                  "numubar": ("C12", "numubar", "default")}


def write_read(table, stem: Path, fmt: str):
    """Write ``table`` with write_events as ``fmt`` (root falls back to parquet where it cannot be
    written) and read it back through read_events; returns (table read back, format used)."""
    from aiva.errors import EventFileError
    from aiva.events import read_events, write_events

    try:
        p = write_events(table, stem.parent / f"{stem.name}.{fmt}")
    except EventFileError as exc:
        if fmt != "root":
            raise
        print(f"note: {exc}; writing parquet instead")
        p, fmt = write_events(table, stem.parent / f"{stem.name}.parquet"), "parquet"
    return read_events(p), fmt, p


def nuwro_table(npz: Path):
    from aiva.events import EventTable

    d = np.load(npz)
    dyn = d["dyn"]
    unknown = ~np.isin(dyn, list(NUWRO_MODE))
    if unknown.any():
        raise SystemExit(f"{npz}: {int(unknown.sum())} events with an unknown NuWro dyn code")
    mode = np.vectorize(NUWRO_MODE.get)(dyn)
    cols = {"Enu_true": d["E_nu"], "PDGnu": d["nu_pdg"], "tgta": d["target_Z"] + d["target_N"], "tgtz": d["target_Z"],
            "PDGLep": d["lep_pdg"], "ELep": d["E_mu"], "CosLep": np.clip(d["cos_mu"], -1, 1),
            "Mode": np.where(d["nu_pdg"] < 0, -mode, mode), "Q2": d["Q2"], "W": d["W"]}
    return EventTable(cols, {"producer": "NuWro", "version": "nuwro_25.11-24-g80fc75d", "source_file": npz.name,
                             "energy": {"fixed": float(d["E_nu"][0])},  # σ of the run -> fScaleFactor of the tree
                             "flux_averaged_xsec": {"per_nucleon": float(d["weight_cm2"][0]) / 1e-38}})


def _prox2(table) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        p = np.column_stack(table.proxies()[1:])
    return p[np.all(np.isfinite(p), axis=1)]


def run_nuwro(args) -> dict:
    import torch

    from aiva.events import EventTable
    from aiva.metrics import map_2d
    from aiva.models.generate import generate_events
    from aiva.models.io import load_model
    from aiva.training.run import transfer_from_files

    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="aiva-byo-nuwro-"))
    firsts, seconds, fmt_used = {}, {}, None
    for k, E in enumerate(ENERGIES):
        src = Path(args.nuwro) / f"nuwro_numu_C12_E{E:.1f}GeV_CC.npz"
        t, fmt_used, p = write_read(nuwro_table(src), work / f"nuwro_E{1000 * E:.0f}MeV", args.format)
        print(f"{src.name}: {len(t)} events -> {p.name} ({p.stat().st_size / 1e6:.1f} MB) -> read back "
              f"(producer {t.metadata.get('producer')!r})")
        half = np.zeros(len(t), bool)
        half[np.random.default_rng(args.seed + k).permutation(len(t))[: len(t) // 2]] = True
        firsts[E], seconds[E] = t.select(half), t.select(~half)
    union = EventTable.concatenate(list(firsts.values()))
    union.metadata = {"producer": "NuWro", "note": "first halves of the 0.5, 1 and 3 GeV files"}
    _, _, train_path = write_read(union, work / "nuwro_first_halves", fmt_used)
    cfg = work / "tl.toml"
    cfg.write_text(f"[training]\nbatch_size = {args.batch_size}\nlr = {args.lr}\nseed = {args.seed}\n")
    t0, c0 = time.time(), time.process_time()
    res = transfer_from_files(base=BASE, data=train_path, out=work / "tuned", freeze="none", config=cfg,
                              epochs=args.epochs, seed=args.seed, name="numu-C12-nuwro-tuned", progress=not args.quiet)
    wall, cpu = time.time() - t0, time.process_time() - c0
    tuned, tcard = load_model(res["model"])
    base, bcard = load_model(BASE)
    per_e = {}
    for k, E in enumerate(ENERGIES):
        ref, first = _prox2(seconds[E]), _prox2(firsts[E])
        n = len(seconds[E])
        row = {"n_second_half": n, "floor_half_vs_half": map_2d(first, ref)}
        for label, (net, card) in (("tuned", (tuned, tcard)), ("untuned", (base, bcard))):
            g = generate_events(net, card, np.full(n, E), seed=args.seed + 100 + k)
            row[label] = map_2d(_prox2(g), ref)
        per_e[str(E)] = row
        print(f"E_nu = {E:g} GeV: MAP tuned {row['tuned']:.3f}, untuned {row['untuned']:.3f}, half-vs-half floor "
              f"{row['floor_half_vs_half']:.3f} ({n} events per half)")
    tr = json.loads(Path(res["model"]).with_suffix(".json").read_text())["training"]
    return {"base": BASE, "format": fmt_used, "fine_tune": {"events_union_of_first_halves": len(union),
            "freeze": "none", "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
            "wall_s": wall, "cpu_s": cpu, "threads": args.threads,
            "dropped_outside_proxy_domain": tr["dropped_outside_proxy_domain"], "validation": tr["validation"],
            "selection": res.get("selection"),
            "history": [{k: h.get(k) for k in ("epoch", "loss", "val_score", "val_noise", "val_MAP3D")}
                        for h in res["history"]]},
            "MAP_50x50_vs_second_half": per_e}


def run_flat(args) -> dict:
    from aiva.mc import simulate
    from aiva.training.run import train_from_files

    work = Path(tempfile.mkdtemp(prefix="aiva-byo-flat-"))
    t0 = time.time()
    t = simulate("C12", "numu", args.flat, seed=args.seed, energy_range=(0.3, 10.0))
    t.metadata = {"producer": "external (aiva reference MC written as a user's file)", "seed": args.seed}
    t, fmt, path = write_read(t, work / "flat", args.format)
    print(f"{args.flat} flat-flux events of the reference MC in {time.time() - t0:.0f} s -> {path.name} "
          f"(producer {t.metadata.get('producer')!r})")
    t0, c0 = time.time(), time.process_time()
    res = train_from_files(data=path, out=work / "flow", family="flow", epochs=10_000, cpu_minutes=args.cpu_minutes,
                           threads=args.threads, seed=args.seed, progress=not args.quiet)
    wall, cpu = time.time() - t0, time.process_time() - c0
    card = json.loads(Path(res["model"]).with_suffix(".json").read_text())
    # what the old held-out validation had: ±5 % windows around the test energies with >= 2000 events
    from aiva.training.configs import TEST_ENERGIES

    hold_n = card["training"]["validation"]["n_events"]
    E = t["Enu_true"]
    windows = {str(e): int(round(np.sum(np.abs(E - e) <= 0.05 * e) * hold_n / len(E))) for e in TEST_ENERGIES}
    return {"n_events": args.flat, "format": fmt, "cpu_minutes_budget": args.cpu_minutes, "threads": args.threads,
            "wall_s": wall, "cpu_s": cpu,
            "dropped_outside_proxy_domain": card["training"]["dropped_outside_proxy_domain"],
            "validation": card["training"]["validation"], "selection": res["selection"],
            "selected": card["metrics"]["validation"],
            "history": [{k: h.get(k) for k in ("epoch", "loss", "val_score", "val_noise", "val_MAP3D", "lr")}
                        for h in res["history"]],
            "old_windows_expected_heldout_events": windows,
            "old_windows_usable_(>=2000)": [e for e, n in windows.items() if n >= 2000]}


def run_transfer(args) -> dict:
    """(c) ``aiva transfer`` of the default generator on N (default 10k) external flat-flux events."""
    from aiva.mc import simulate
    from aiva.training.run import transfer_from_files
    import torch

    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="aiva-byo-tl-"))
    target, probe, config = TRANSFER_CASES[args.transfer_case]
    t = simulate(target, probe, args.transfer, seed=args.seed + 1, energy_range=(0.3, 10.0), config=config)
    t.metadata = {"producer": f"external (aiva reference MC, {probe} on {target}, {config} physics, written as a "
                              "user's file)"}
    t, fmt, path = write_read(t, work / f"flat_{args.transfer_case}", args.format)
    res = transfer_from_files(base=BASE, data=path, out=work / "tl", epochs=args.epochs, seed=args.seed,
                              progress=not args.quiet)
    return {"n_events": args.transfer, "case": args.transfer_case, "target": target, "probe": probe,
            "physics": config, "base": BASE, "freeze": "default", "epochs": args.epochs,
            "format": fmt, "selection": res["selection"],
            "history": [{k: h.get(k) for k in ("epoch", "loss", "val_score", "val_noise", "val_MAP3D")}
                        for h in res["history"]]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nuwro", nargs="?",
                    const=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "nuwro"),
                    help="NuWro .npz folder (default ../shared/data/nuwro): run (a)")
    ap.add_argument("--flat", type=int, nargs="?", const=500_000, help="events of the flat-flux file: run (b)")
    ap.add_argument("--transfer", type=int, nargs="?", const=10_000,
                    help="events of an external flat-flux file (alt physics) to fine-tune the default generator on: "
                         "run (c), with --epochs")
    ap.add_argument("--transfer-case", default="alt", choices=sorted(TRANSFER_CASES),
                    help="(c): alt physics on C12 (default), numu on Ar40, or numubar on C12")
    ap.add_argument("--format", default="root", choices=["root", "parquet"])
    ap.add_argument("--epochs", type=int, default=20, help="(a) fine-tuning epochs")
    ap.add_argument("--batch-size", type=int, default=1024, help="(a)")
    ap.add_argument("--lr", type=float, default=1e-3, help="(a)")
    ap.add_argument("--cpu-minutes", type=float, default=10.0, help="(b) CPU budget of the training")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args()
    if args.nuwro is None and args.flat is None and args.transfer is None:
        ap.error("give --nuwro [DIR], --flat [N] and/or --transfer [N]")
    RESULTS.mkdir(parents=True, exist_ok=True)
    for key, fn in (("nuwro", run_nuwro), ("flat", run_flat), ("transfer", run_transfer)):
        if getattr(args, key) is None:
            continue
        out = {"command": f"byo_generator.py --{key} {getattr(args, key)}", **fn(args)}
        path = RESULTS / (f"transfer_{args.transfer_case}.json" if key == "transfer" and args.transfer_case != "alt"
                          else f"{key}.json")
        path.write_text(json.dumps(out, indent=1) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
