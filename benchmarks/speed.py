"""Generation speed as ratios measured in one run (issue #26): the default generator, the GAN and
a plain matrix product of the same arithmetic, on one thread.

For each model: 10⁶ events at E_ν = 1 GeV end to end (network, redraws, proxy inversion, the
event table, Parquet written to a temporary folder) and the stages on their own; its floating-
point operations per event counted by ``torch.utils.flop_counter`` on one batch of its sampler;
and the time of a plain float32 matrix product (16,384 × 128 by 128 × 128, repeated) of the same
total FLOPs: the arithmetic limit of that network on this machine. The runs are interleaved
(model A, model B, matmul, model A, …) so that a machine shared with other jobs disturbs all of
them alike; figures are medians of ``--repeats``. For a flow, the network stage is also timed
through zuko's generic inverse (``zuko_sampler()``, what ``sampler()`` was before the fast path of
:mod:`aiva.models.fastspline`), with its FLOPs. Writes ``benchmarks/results/speed.json``.

    python benchmarks/speed.py [--models default numu-C12-inclusive] [--events 1000000] [--repeats 5]
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from aiva.events import write_parquet
from aiva.models.generate import generate_events, generate_proxies
from aiva.models.io import default_model, load_model
from aiva.utils import atomic_write_text

BATCH = 16_384
MM = 128  #: the reference product: (BATCH × MM) @ (MM × MM)


def flops_per_event(net: torch.nn.Module) -> float:
    """Matmul FLOPs per event of one sampler pass (multiply and add counted: 2 per MAC)."""
    from torch.utils.flop_counter import FlopCounterMode

    z, e = torch.randn(BATCH, net.latent_dim), torch.zeros(BATCH, 1)
    fc = FlopCounterMode(display=False)
    with torch.inference_mode(), fc:
        net(z, e)
    return fc.get_total_flops() / BATCH


def matmul_seconds(flops: float) -> float:
    """Wall time of plain float32 products (BATCH × MM)(MM × MM) adding up to ``flops``."""
    a, b = torch.randn(BATCH, MM), torch.randn(MM, MM)
    out = torch.empty(BATCH, MM)
    calls = max(1, round(flops / (2.0 * BATCH * MM * MM)))
    with torch.inference_mode():
        torch.mm(a, b, out=out)
        t0 = time.perf_counter()
        for _ in range(calls):
            torch.mm(a, b, out=out)
        return (time.perf_counter() - t0) * flops / (calls * 2.0 * BATCH * MM * MM)


def stages(model, card, n: int, seed: int) -> dict[str, float]:
    """Seconds of each stage of ``n`` events at 1 GeV: end to end, and network + redraws alone."""
    enu = np.full(n, 1.0)
    t0 = time.perf_counter()
    table = generate_events(model, card, enu, seed)
    t1 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        write_parquet(table, Path(d) / "gen.parquet")
    t2 = time.perf_counter()
    generate_proxies(model, enu, seed)
    t3 = time.perf_counter()
    return {"end_to_end_s": t2 - t0, "table_s": t1 - t0, "parquet_s": t2 - t1, "network_s": t3 - t2}


class _Zuko:
    """A flow whose ``sampler()`` is zuko's generic inverse (the reference of the fast path)."""

    def __init__(self, model):
        self.model = model

    def sampler(self):
        return self.model.zuko_sampler()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["default", "numu-C12-inclusive"],
                    help="shipped names or paths; 'default' is aiva's default generator (models.io.default_model)")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "speed.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    names = [default_model()[0] if m == "default" else m for m in args.models]
    loaded = {n: load_model(n) for n in names}
    fl = {n: flops_per_event(m.sampler()) for n, (m, _) in loaded.items()}
    zuko = {n: _Zuko(m) for n, (m, _) in loaded.items() if hasattr(m, "zuko_sampler")}
    fl_zuko = {n: flops_per_event(z.sampler()) for n, z in zuko.items()}
    for m, c in loaded.values():
        generate_events(m, c, np.full(10_000, 1.0), 0)  # warm-up
    runs: dict[str, list[dict]] = {n: [] for n in names}
    mm: dict[str, list[float]] = {n: [] for n in names}
    for r in range(args.repeats):
        for n, (m, c) in loaded.items():
            runs[n].append(stages(m, c, args.events, 1 + r))
            if n in zuko:
                t0 = time.perf_counter()
                generate_proxies(zuko[n], np.full(args.events, 1.0), 1 + r)
                runs[n][-1]["network_zuko_inverse_s"] = time.perf_counter() - t0
            mm[n].append(matmul_seconds(fl[n] * args.events))
    res: dict = {"benchmark": "speed", "events": args.events, "repeats": args.repeats, "threads": 1,
                 "energy_GeV": 1.0, "default_model": default_model()[0], "batch": BATCH,
                 "reference_matmul": f"float32 ({BATCH} x {MM}) @ ({MM} x {MM}), repeated to the same FLOPs",
                 "note": "medians of interleaved runs on a machine shared with other jobs: compare the ratios",
                 "models": {}}
    for n in names:
        med = {k: statistics.median(r[k] for r in runs[n]) for k in runs[n][0]}
        m_s = statistics.median(mm[n])
        res["models"][n] = {"family": loaded[n][1].get("family"), "flops_per_event": fl[n], **med,
                            "matmul_same_flops_s": m_s, "network_fraction_of_matmul_limit": m_s / med["network_s"],
                            "end_to_end_fraction_of_matmul_limit": m_s / med["end_to_end_s"],
                            "runs": runs[n], "matmul_runs_s": mm[n]}
        if n in zuko:
            res["models"][n]["flops_per_event_zuko_inverse"] = fl_zuko[n]
            res["models"][n]["network_speedup_over_zuko_inverse"] = med["network_zuko_inverse_s"] / med["network_s"]
            zs = med["network_zuko_inverse_s"]
            print(f"{n:28s} zuko's inverse: {fl_zuko[n] / 1e3:7.1f} kFLOP/event, network "
                  f"{zs:.2f} s ({zs / med['network_s']:.2f} x the fast path)")
        print(f"{n:28s} {fl[n] / 1e3:7.1f} kFLOP/event  end-to-end {med['end_to_end_s']:.2f} s  network "
              f"{med['network_s']:.2f} s  parquet {med['parquet_s']:.2f} s  matmul of the same FLOPs {m_s:.2f} s "
              f"({100 * m_s / med['network_s']:.0f} % of the limit)")
    if len(names) > 1:
        a, b = names[0], names[1]
        res["ratio_end_to_end"] = {f"{a}/{b}": res["models"][a]["end_to_end_s"] / res["models"][b]["end_to_end_s"]}
        print(f"end to end {a} / {b}: {res['ratio_end_to_end'][f'{a}/{b}']:.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
