"""Transfer learning vs training from scratch (the transfer-learning issue, arXiv:2508.12987).

Three scenarios, each with reference-MC training sets of 10k and 100k events, E_ν uniform in
[0.3, 10] GeV: (A) νμ–⁴⁰Ar, (B) ν̄μ–¹²C, (C) νμ–¹²C with the ``alt`` physics configuration.
For each scenario and size, a model fine-tuned from a νμ–C12 base (``--base``, default the shipped
``numu-C12-inclusive`` GAN; a flow base makes it a flow study) with the default freezing scheme (TL; a cfm base makes it a flow-matching study) and the same architecture trained from scratch on the same data with
the same number of optimiser steps (scratch). Both are evaluated against ``--events`` fresh
reference events at each test energy (MAP 50×50, EMD of E'_μ). Plus the layer-wise study:
scenario A at 10k with the first k generator blocks frozen, k = 0 … all, scored by MAP-3D on a
uniform-energy sample.

It only measures: the shipped transfer-learned models are built by ``tools/build_models.py``
from ``configs/shipped.toml``. Writes ``benchmarks/results/transfer/``: ``transfer.json``,
``map_emd_vs_energy.png``, ``convergence.png``, ``layerwise.png``, and per-model evaluation
folders (W, Q² and (E'_μ, θ') figures at 0.5 and 5 GeV among them).

    python benchmarks/transfer.py [--events 1000000] [--threads 1] [--work /tmp/aiva_transfer]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results" / "transfer"
# scenario: (target, probe, physics config, the shipped model its 100k fine-tune became; built by
# tools/build_models.py from configs/shipped.toml, not by this benchmark)
SCENARIOS = {"A": ("Ar40", "numu", "default", "numu-Ar40-inclusive"),
             "B": ("C12", "numubar", "default", "numubar-C12-inclusive"),
             "C": ("C12", "numu", "alt", "numu-C12-alt-inclusive")}
# Same optimiser-step budget for TL and scratch: batch size and epochs per training-set size.
# GAN: lr 1e-4 for TL and scratch (at 2e-4 with small batches fine-tuning the shipped GAN diverged
# within an epoch). Flow: maximum likelihood is stable; lr 1e-3 with cosine decay.
BUDGETS = {"gan": {10_000: {"batch_size": 512, "epochs": 200, "lr": 1e-4},
                   100_000: {"batch_size": 1024, "epochs": 40, "lr": 1e-4}},
           "flow": {10_000: {"batch_size": 512, "epochs": 60, "lr": 1e-3},
                    100_000: {"batch_size": 1024, "epochs": 20, "lr": 1e-3}},
           "cfm": {10_000: {"batch_size": 512, "epochs": 60, "lr": 2e-3},
                   100_000: {"batch_size": 1024, "epochs": 20, "lr": 2e-3}}}


def _toml(path: Path, size: int, threads: int, val_events: int, scale: float = 1.0, family: str = "gan") -> Path:
    b = BUDGETS[family][size]
    epochs = max(1, round(b["epochs"] * scale))
    lr = f"lr_g = {b['lr']}\nlr_d = {b['lr']}\n" if family == "gan" else f"lr = {b['lr']}\n"
    path.write_text(f"[training]\nbatch_size = {b['batch_size']}\nepochs = {epochs}\nthreads = {threads}\n{lr}"
                    f"val_events = {val_events}\nseed = 11\n")
    return path


def _data(work: Path, key: str, seed: int) -> dict[int, Path]:
    from aiva.events import read_events, write_events
    from aiva.mc import simulate

    tgt, probe, cfg, _ = SCENARIOS[key]
    full = work / f"{key}_100000.parquet"
    small = work / f"{key}_10000.parquet"
    if not full.exists():
        t = simulate(tgt, probe, 100_000, energy_range=(0.3, 10.0), seed=seed, config=cfg, progress=False)
        write_events(t, full)
    if not small.exists():
        t = read_events(full)
        write_events(t.select(np.arange(len(t)) < 10_000), small)
    return {100_000: full, 10_000: small}


def _train(kind: str, data: Path, out: Path, cfg: Path, freeze: str | None = None, base: str = "numu-C12-inclusive",
           family: str = "gan") -> dict:
    from aiva.training.run import train_from_files, transfer_from_files

    t0 = time.perf_counter()
    if kind == "tl":
        res = transfer_from_files(base=base, data=data, out=out, config=cfg, freeze=freeze,
                                  progress=False)
    else:
        res = train_from_files(data=data, out=out, config=cfg, family=family, progress=False)
    hist = [{"epoch": h["epoch"], "val_mean_MAP": h.get("mean_MAP")} for h in res["history"]]
    return {"model": res["model"], "train_minutes": (time.perf_counter() - t0) / 60,
            "best_epoch": res["best"]["epoch"], "history": hist}


def _evaluate(model: str, refs: dict, out: Path, figures: bool) -> dict:
    from aiva.models.io import load_model
    from aiva.training.evaluate import evaluate_model

    net, card = load_model(model)
    sub = {e: r for e, r in refs.items() if figures and e in (0.5, 5.0)}
    res = evaluate_model(net, card, {e: r for e, r in refs.items() if e not in sub}, out, c2st=False, figures=False)
    if sub:  # figures only at 0.5 and 5 GeV
        res2 = evaluate_model(net, card, sub, out / "figures", c2st=False, figures=True)
        res["per_energy"].update(res2["per_energy"])
    per = dict(sorted(res["per_energy"].items(), key=lambda kv: float(kv[0])))
    return {"MAP": {e: v["MAP"] for e, v in per.items()}, "EMD_Emu_p": {e: v["EMD_Emu_p"] for e, v in per.items()},
            "mean_MAP": float(np.mean([v["MAP"] for v in per.values()])),
            "mean_EMD_Emu_p": float(np.mean([v["EMD_Emu_p"] for v in per.values()])),
            "W_peaks_1GeV": per.get("1.0", {}).get("W_peaks")}


def _qe_width(ref_1gev) -> float:
    """RMS of W in the QE region (0.8–1.08 GeV) of a reference sample at 1 GeV."""
    W = ref_1gev.kinematics()["W"]
    W = W[np.isfinite(W) & (W > 0.8) & (W < 1.08) & (np.abs(ref_1gev["Mode"]) == 1)]
    return float(np.std(W))


def _plots(res: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(14, 7), sharex=True)
    for j, key in enumerate(SCENARIOS):
        for size, ls in ((10_000, "--"), (100_000, "-")):
            if str(size) not in res["scenarios"][key]:
                continue
            for kind, col in (("tl", "C0"), ("scratch", "C3")):
                r = res["scenarios"][key][str(size)][kind]["eval"]
                E = [float(e) for e in r["MAP"]]
                axes[0, j].plot(E, list(r["MAP"].values()), ls, color=col, marker="o", label=f"{kind} {size // 1000}k")
                axes[1, j].plot(E, list(r["EMD_Emu_p"].values()), ls, color=col, marker="o")
        axes[0, j].set_title(f"{key}: {SCENARIOS[key][3]}")
        axes[0, j].set_yscale("log")
        axes[1, j].set_xlabel(r"$E_\nu$ [GeV]")
    axes[0, 0].set_ylabel("MAP (50x50)")
    axes[1, 0].set_ylabel(r"EMD $E'_\mu$")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "map_emd_vs_energy.png", dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for j, key in enumerate(SCENARIOS):
        for size, ls in ((10_000, "--"), (100_000, "-")):
            if str(size) not in res["scenarios"][key]:
                continue
            for kind, col in (("tl", "C0"), ("scratch", "C3")):
                h = res["scenarios"][key][str(size)][kind]["train"]["history"]
                axes[j].plot([x["epoch"] for x in h], [x["val_mean_MAP"] for x in h], ls, color=col,
                             label=f"{kind} {size // 1000}k")
        axes[j].set_yscale("log")
        axes[j].set_title(key)
        axes[j].set_xlabel("epoch")
    axes[0].set_ylabel("validation mean MAP")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "convergence.png", dpi=110)
    plt.close(fig)

    lw = res.get("layerwise")
    if lw:
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.plot([x["frozen_g_blocks"] for x in lw], [x["MAP3D"] for x in lw], "o-")
        ax.set_xlabel("frozen generator blocks (from the input)")
        ax.set_ylabel("MAP-3D (uniform sample)")
        ax.set_title(r"A: $\nu_\mu$-Ar40, 10k events")
        fig.tight_layout()
        fig.savefig(out / "layerwise.png", dpi=110)
        plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000, help="reference events per test energy")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--val-events", type=int, default=20_000)
    ap.add_argument("--work", default="/tmp/aiva_transfer")
    ap.add_argument("--base", default="numu-C12-inclusive", help="pretrained numu-C12 model (name or path)")
    ap.add_argument("--results", default=str(RESULTS), help="output folder")
    ap.add_argument("--sizes", default="10000,100000", help="training-set sizes to run")
    ap.add_argument("--merge", action="store_true", help="update the results' existing transfer.json")
    ap.add_argument("--epochs-100k", type=int, help="override the 100k epoch budget (TL and scratch alike)")
    ap.add_argument("--scenarios", default="ABC")
    ap.add_argument("--reuse-scratch", action="store_true",
                    help="with --merge: keep the from-scratch results already in transfer.json (same data, budget "
                         "and references) and rerun only the fine-tuning, e.g. after changing the freezing scheme")
    ap.add_argument("--no-layerwise", action="store_true")
    ap.add_argument("--epochs-scale", type=float, default=1.0, help="scale the epoch budget (quick checks)")
    args = ap.parse_args()

    import torch

    from aiva.mc import simulate
    from aiva.models.io import load_model
    from aiva.training.evaluate import reference_tables
    from aiva.training.configs import TEST_ENERGIES

    torch.set_num_threads(args.threads)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    base_model, base_card = load_model(args.base)
    family = base_card.get("family", "gan")
    if args.epochs_100k:
        BUDGETS[family][100_000]["epochs"] = args.epochs_100k
    jpath = results / "transfer.json"
    res = {"events_per_energy": args.events, "threads": args.threads, "budget": BUDGETS[family], "scenarios": {}}
    if args.merge and jpath.exists():
        res = json.loads(jpath.read_text())
        res["budget"] = {str(k): v for k, v in BUDGETS[family].items()}
    res["base"] = {"name": base_card.get("name"), "family": family, "weights_sha256": base_card.get("weights_sha256")}
    sizes = [int(x) for x in args.sizes.split(",")]
    for key in args.scenarios:
        tgt, probe, cfg, _ = SCENARIOS[key]
        files = _data(work, key, seed=100 + ord(key))
        card = base_card
        rcard = {**card, "target": tgt, "probe": probe,
                 "training": {"data_metadata": {"config": {"name": cfg}}}}
        refs = reference_tables(rcard, TEST_ENERGIES, args.events, seed=5000 + ord(key))
        sres = res["scenarios"].get(key, {}) if args.merge else {}
        sres.update({"target": tgt, "probe": probe, "config": cfg, "reference_QE_W_rms_1GeV": _qe_width(refs[1.0])})
        for size in sizes:
            cfg_path = _toml(work / f"budget_{size}.toml", size, args.threads, args.val_events, args.epochs_scale,
                             family)
            old = sres.get(str(size), {})
            sres[str(size)] = {}
            for kind in ("tl", "scratch"):
                if kind == "scratch" and args.reuse_scratch and "scratch" in old:
                    sres[str(size)]["scratch"] = old["scratch"]
                    continue
                out = work / f"{key}_{size}_{kind}"
                tr = _train(kind, files[size], out, cfg_path, base=args.base, family=family)
                try:
                    ev = _evaluate(tr["model"], refs, results / f"{key}_{size // 1000}k_{kind}", figures=size == 10_000)
                except RuntimeError as exc:  # a generator that cannot fill the proxy domain scores worst
                    ev = {"failed": str(exc), "MAP": {}, "EMD_Emu_p": {}, "mean_MAP": float("inf"),
                          "mean_EMD_Emu_p": float("inf")}
                sres[str(size)][kind] = {"train": tr, "eval": ev}
                print(f"{key} {size:>6} {kind:>7}: mean MAP {ev['mean_MAP']:.3f}, mean EMD {ev['mean_EMD_Emu_p']:.4f}, "
                      f"training {tr['train_minutes']:.1f} min", flush=True)
            tl, sc = sres[str(size)]["tl"]["eval"], sres[str(size)]["scratch"]["eval"]
            sres[str(size)]["MAP_ratio_tl_over_scratch"] = tl["mean_MAP"] / sc["mean_MAP"]
            sres[str(size)]["EMD_tl_below_scratch"] = tl["mean_EMD_Emu_p"] < sc["mean_EMD_Emu_p"]
        res["scenarios"][key] = sres
        jpath.write_text(json.dumps(res, indent=1) + "\n")
    if not args.no_layerwise and "A" in args.scenarios:
        from aiva.metrics.core import map_3d
        from aiva.models.generate import generate_events

        files = _data(work, "A", seed=100 + ord("A"))
        uni = simulate("Ar40", "numu", min(args.events, 1_000_000), energy_range=(0.3, 10.0), seed=777, progress=False)
        lw = []
        cfg_path = _toml(work / "budget_10000.toml", 10_000, args.threads, args.val_events, args.epochs_scale, family)
        blocks = base_model.block_groups()[0]  # the generating network's blocks, from the input
        for k in range(len(blocks) + (1 if family == "gan" else 0)):  # a flow needs one trainable block
            freeze = ",".join(blocks[:k] + (["d0"] if family == "gan" else [])) or "none"
            out = work / f"A_10000_frozen{k}"
            tr = _train("tl", files[10_000], out, cfg_path, freeze=freeze, base=args.base, family=family)
            net, card = load_model(tr["model"])
            gen = generate_events(net, card, uni["Enu_true"], 31)
            m3 = map_3d(np.column_stack(uni.proxies()), np.column_stack(gen.proxies()))
            lw.append({"frozen_g_blocks": k, "freeze": freeze, "MAP3D": m3, "train_minutes": tr["train_minutes"]})
            print(f"layer-wise: {k} frozen generator blocks: MAP-3D {m3:.3f}", flush=True)
        res["layerwise"] = lw
    jpath.write_text(json.dumps(res, indent=1) + "\n")
    if all(k in res["scenarios"] for k in SCENARIOS):
        _plots(res, results)
    for key, s in res["scenarios"].items():
        for size in ("10000", "100000"):
            if size not in s:
                continue
            r = s[size]
            print(f"{key} {size}: TL/scratch mean MAP {r['MAP_ratio_tl_over_scratch']:.3f}, "
                  f"TL EMD below scratch: {r['EMD_tl_below_scratch']}, TL max MAP {max(r['tl']['eval']['MAP'].values(), default=float('inf')):.2f}")


if __name__ == "__main__":
    main()
