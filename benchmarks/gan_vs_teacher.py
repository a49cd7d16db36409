"""Where a distilled student's error comes from: its MAP against its teacher and against the
reference MC, and the teacher's against the reference MC, at the same energies and event counts.

MAP is the 50 × 50 proxy-histogram mean absolute pull of aiva.metrics (two samples of one
distribution: ≈ 0.80). In pull units MAP² ≈ 0.80² + s² with s the systematic part, so a student
whose MAP against its teacher is as large as against the reference is limited by its own
regression, not by the teacher. Writes ``benchmarks/results/gan_vs_teacher_<student>.json``.

    python benchmarks/gan_vs_teacher.py [--student numu-C12-inclusive] [--teacher numu-C12-inclusive-flow]
        [--energies 0.5,0.8,1,3,9] [--events 1000000]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from aiva.metrics.core import map_2d
from aiva.models.generate import generate_events
from aiva.models.io import load_model
from aiva.training.evaluate import reference_tables
from aiva.utils import atomic_write_text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--student", default="numu-C12-inclusive")
    ap.add_argument("--teacher", default="numu-C12-inclusive-flow")
    ap.add_argument("--energies", default="0.5,0.8,1,3,9")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    try:
        energies = [float(x) for x in args.energies.split(",")]
    except ValueError:
        ap.error(f"--energies {args.energies!r}: need comma-separated numbers in GeV")
    if min(energies) <= 0 or args.events < 1 or args.threads < 1:
        ap.error("--energies must be positive, --events and --threads at least 1")
    torch.set_num_threads(args.threads)
    student, teacher = load_model(args.student), load_model(args.teacher)
    rows = {}
    refs = reference_tables(student[1], energies, args.events, args.seed)  # the build's evaluation's references
    for i, (E, ref) in enumerate(refs.items()):
        n, s = args.events, args.seed + 10 * i
        p = {"reference": np.column_stack(ref.proxies())[:, 1:]}
        for tag, (m, c), k in (("student", student, 1), ("teacher", teacher, 2)):
            p[tag] = np.column_stack(generate_events(m, c, np.full(n, E), s + k).proxies())[:, 1:]
        rows[str(E)] = {"student_vs_teacher": map_2d(p["student"], p["teacher"]),
                        "student_vs_reference": map_2d(p["reference"], p["student"]),
                        "teacher_vs_reference": map_2d(p["reference"], p["teacher"])}
        print(f"E = {E:g} GeV: " + ", ".join(f"{k} {v:.3f}" for k, v in rows[str(E)].items()), flush=True)
    out = Path(__file__).parent / "results" / f"gan_vs_teacher_{Path(args.student).stem}.json"
    atomic_write_text(out, json.dumps({"student": args.student, "teacher": args.teacher, "events": args.events,
                                       "seed": args.seed, "threads": args.threads, "per_energy": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
