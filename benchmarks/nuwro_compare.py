"""The reference Monte Carlo's whole events against real NuWro events (νμ CC on ¹²C at 0.5, 1, 3 GeV).

For each energy: topology fractions after FSI (CC0π, CC1π⁺, CC1π⁰, CC1π⁻, CC multi-π; 0p / 1p / 2+p,
no momentum thresholds, as the NuWro files count them) for aiva and NuWro, with the acceptance test
of issue #24 (within 25 % relative or 2 percentage points); lepton-kinematics MAP (2-D proxies,
100k vs 100k) of aiva before (MC v1: qe, res, dis) and after (the whole-event default channels)
against NuWro; the W spectra by channel (PNG). Reads ``../shared/data/nuwro/*.npz``.

    python benchmarks/nuwro_compare.py [--events 100000] [--out benchmarks/results/nuwro_compare]
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from aiva.events.table import EventTable  # noqa: E402
from aiva.events.topology import TOPOLOGIES, counts, fractions  # noqa: E402
from aiva.mc import simulate  # noqa: E402
from aiva.mc.generator import DEFAULT_CHANNELS  # noqa: E402
from aiva.metrics.core import map_2d  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NUWRO = ROOT.parent / "shared" / "data" / "nuwro"
BEFORE = ("qe", "res", "dis")
#: NuWro dyn codes → aiva channel names
DYN = {0: "qe", 2: "res", 4: "dis", 6: "coh", 8: "mec"}


def nuwro_table(E: float) -> tuple[EventTable, dict]:
    z = np.load(NUWRO / f"nuwro_numu_C12_E{E:.1f}GeV_CC.npz")
    n = len(z["E_nu"])
    t = EventTable({"Enu_true": z["E_nu"], "PDGnu": z["nu_pdg"], "tgta": np.full(n, 12, np.int32),
                    "tgtz": np.full(n, 6, np.int32), "PDGLep": z["lep_pdg"], "ELep": z["E_mu"],
                    "CosLep": z["cos_mu"], "Mode": np.ones(n, np.int32), "W": z["W"]})
    c = {"n_p": z["n_p"], "n_n": z["n_n"], "n_pip": z["n_pip"], "n_pim": z["n_pim"], "n_pi0": z["n_pi0"]}
    return t, {"counts": c, "dyn": z["dyn"]}


def verdict(a: float, b: float) -> bool:
    return abs(a - b) <= 0.02 or (b > 0 and abs(a - b) / b <= 0.25)


def w_plot(out: Path, E: float, t_aiva: EventTable, nuwro: EventTable, dyn: np.ndarray) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    M = 0.9389
    bins = np.linspace(0.6, min(np.sqrt(M * M + 2 * M * E) + 0.05, 3.0), 90)
    # W from the lepton alone, W² = M² + 2Mω − Q² (PRD 112 (2025) 013007 eq. 5), as the papers plot
    # the dip: the same formula for both samples, whatever each generator calls its own W
    wa, wn = t_aiva.kinematics()["W"], nuwro.kinematics()["W"]
    mode = np.abs(t_aiva["Mode"])
    groups = {"QE": mode == 1, "2p2h": mode == 2, "RES": (mode >= 11) & (mode <= 13), "COH": mode == 16,
              "DIS": (mode == 21) | (mode == 26)}
    for name, m in groups.items():
        if m.any():
            ax[0].hist(wa[m], bins, histtype="step", label=f"{name} ({100 * m.mean():.1f} %)")
    ax[0].hist(wa, bins, histtype="step", color="k", label="all")
    for code, name in DYN.items():
        m = dyn == code
        if m.any():
            ax[1].hist(wn[m], bins, histtype="step", label=f"{name.upper()} ({100 * m.mean():.1f} %)")
    ax[1].hist(wn, bins, histtype="step", color="k", label="all")
    ax[0].set_title(f"aiva reference MC, νμ–¹²C {E} GeV")
    ax[1].set_title(f"NuWro, νμ–¹²C {E} GeV")
    for a in ax:
        a.set_xlabel("W from the muon, nucleon at rest [GeV]")
        a.set_yscale("log")
        a.legend(fontsize=8)
    ax[0].set_ylabel("events / bin")
    fig.tight_layout()
    fig.savefig(out / f"W_{E:.1f}GeV.png", dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "nuwro_compare")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    result: dict = {"benchmark": "nuwro_compare", "events": args.events, "after_channels": list(DEFAULT_CHANNELS),
                    "before_channels": list(BEFORE), "per_energy": {}}
    for i, E in enumerate((0.5, 1.0, 3.0)):
        nu, extra = nuwro_table(E)
        t0 = time.perf_counter()
        after = simulate("C12", "numu", args.events, energy=E, seed=args.seed + i, whole_events=True)
        dt = time.perf_counter() - t0
        before = simulate("C12", "numu", args.events, energy=E, seed=args.seed + i, channels=BEFORE)
        pn = np.column_stack(nu.proxies())[:, 1:]
        map_before = map_2d(np.column_stack(before.proxies())[:, 1:], pn)
        map_after = map_2d(np.column_stack(after.proxies())[:, 1:], pn)
        fa = fractions(counts(after.particles["fsp"]))
        fn = fractions(extra["counts"])
        table = {k: {"aiva": fa[k], "nuwro": fn[k], "ok": verdict(fa[k], fn[k])} for k in TOPOLOGIES}
        mode = np.abs(after["Mode"])
        chan = {"qe": float(np.mean(mode == 1)), "mec": float(np.mean(mode == 2)),
                "res": float(np.mean((mode >= 11) & (mode <= 13))), "coh": float(np.mean(mode == 16)),
                "dis": float(np.mean((mode == 21) | (mode == 26)))}
        chan_nuwro = {name: float(np.mean(extra["dyn"] == code)) for code, name in DYN.items()}
        result["per_energy"][str(E)] = {"MAP_before": map_before, "MAP_after": map_after, "topology": table,
                                        "channel_fractions": {"aiva": chan, "nuwro": chan_nuwro},
                                        "xsec_1e-38cm2_per_nucleon": after.metadata["xsec_1e-38cm2"]["per_nucleon"],
                                        "nuwro_xsec_1e-38cm2_per_nucleon": float(np.mean(
                                            np.load(NUWRO / f"nuwro_numu_C12_E{E:.1f}GeV_CC.npz")["weight_cm2"])
                                                                                 / 1e-38),
                                        "seconds_whole_events": dt,
                                        "whole_event_stats": after.metadata["whole_events"]["stats"]}
        w_plot(args.out, E, after, nu, extra["dyn"])
        print(f"E = {E} GeV: MAP vs NuWro before {map_before:.2f}, after {map_after:.2f}")
        print(f"  {'topology':10s} {'aiva':>7s} {'NuWro':>7s}")
        for k, v in table.items():
            print(f"  {k:10s} {100 * v['aiva']:6.1f}% {100 * v['nuwro']:6.1f}%  {'ok' if v['ok'] else 'DIFFERS'}")
        print("  channels aiva:", {k: round(100 * v, 1) for k, v in chan.items()},
              "NuWro:", {k: round(100 * v, 1) for k, v in chan_nuwro.items()})
    (args.out / "nuwro_compare.json").write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out / 'nuwro_compare.json'}")


if __name__ == "__main__":
    main()
