"""Reference Monte Carlo speed: inclusive νμ–¹²C events per second, E_ν uniform in [0.3, 10] GeV.

Prints the figures and writes ``benchmarks/results/mc_speed.json``. One thread: one process
(NumPy's element-wise kernels are single-threaded; BLAS threads are pinned to 1). All cores:
``workers = os.cpu_count()`` processes over 100k-event chunks. Medians of ``--repeats`` runs;
cross-section tables are built (and cached) before timing.

    python benchmarks/mc_speed.py [--events 500000] [--repeats 3]
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from aiva import __version__  # noqa: E402
from aiva.mc import simulate  # noqa: E402


def timed(n, workers, seed, **kw):
    t0 = time.perf_counter()
    simulate("C12", "numu", n, energy_range=(0.3, 10.0), seed=seed, workers=workers, **kw)
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=500_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "mc_speed.json")
    args = ap.parse_args()
    simulate("C12", "numu", 1000, energy_range=(0.3, 10.0), seed=0)  # build/cache the tables
    ncpu = os.cpu_count() or 1
    one = [timed(args.events, 1, 100 + i) for i in range(args.repeats)]
    allc = [timed(args.events, ncpu, 200 + i) for i in range(args.repeats)]
    res = {
        "benchmark": "mc_speed", "aiva": __version__, "target": "C12", "probe": "numu",
        "energy": "uniform 0.3-10 GeV", "channels": "qe,res,dis", "events_per_run": args.events,
        "repeats": args.repeats, "one_thread_events_per_s": one,
        "one_thread_median": statistics.median(one), "all_cores": ncpu, "all_cores_events_per_s": allc,
        "all_cores_median": statistics.median(allc), "target_events_per_s": 50_000,
        "machine": platform.platform(), "python": platform.python_version(),
    }
    print(f"one thread : median {res['one_thread_median']:,.0f} events/s  (runs: "
          + ", ".join(f"{x:,.0f}" for x in one) + ")")
    print(f"{ncpu} cores    : median {res['all_cores_median']:,.0f} events/s  (runs: "
          + ", ".join(f"{x:,.0f}" for x in allc) + ")")
    print(f"target ≥ 50,000 events/s on one thread: {'MET' if res['one_thread_median'] >= 50_000 else 'NOT MET'}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from aiva.utils import atomic_write_text

    atomic_write_text(args.out, json.dumps(res, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
