"""Generation speed of a generator: 10⁶ events at E_ν = 1 GeV, including the proxy inversion and
writing Parquet. One thread (``torch.set_num_threads(1)``), all cores, and CUDA where present.
Medians of ``--repeats``; writes ``benchmarks/results/gan_speed.json``.

    python benchmarks/gan_speed.py [--model numu-C12-inclusive] [--events 1000000]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from aiva.events import write_parquet
from aiva.models.generate import generate_events
from aiva.models.io import load_model, resolve
from aiva.utils import atomic_write_text


def one_run(model, card, n, seed, device):
    t0 = time.perf_counter()
    table = generate_events(model, card, np.full(n, 1.0), seed, device=device)
    with tempfile.TemporaryDirectory() as d:
        write_parquet(table, Path(d) / "gen.parquet")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="numu-C12-inclusive")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "gan_speed.json")
    args = ap.parse_args()
    model, card = load_model(args.model)
    res = {"benchmark": "gan_speed", "model": card["name"], "events": args.events,
           "weights_bytes": resolve(args.model).stat().st_size, "repeats": args.repeats}
    settings = [("one_thread", 1, "cpu"), ("all_cores", os.cpu_count() or 1, "cpu")]
    if torch.cuda.is_available():
        settings.append(("cuda", os.cpu_count() or 1, "cuda"))
    for tag, threads, dev in settings:
        torch.set_num_threads(threads)
        model.to(dev)
        one_run(model, card, 10_000, 0, dev)  # warm-up
        times = [one_run(model, card, args.events, 1 + i, dev) for i in range(args.repeats)]
        res[tag] = {"threads": threads, "device": dev, "seconds": times, "median_s": statistics.median(times)}
        print(f"{tag:10s}: median {statistics.median(times):.2f} s per {args.events:,} events "
              f"(runs: {', '.join(f'{t:.2f}' for t in times)})")
    res["target_one_thread_s"] = 5.0
    print(f"target ≤ 5 s on one thread: {'MET' if res['one_thread']['median_s'] <= 5.0 else 'NOT MET'}; "
          f"weights {res['weights_bytes'] / 1024:.0f} kB (target < 1 MB)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
