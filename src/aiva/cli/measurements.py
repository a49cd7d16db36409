"""``aiva`` sub-commands — Fluxes and published measurements: fluxes, predict. Each only parses and calls the library."""
from __future__ import annotations

import argparse
from pathlib import Path

from aiva.errors import AivaInputError
from aiva.cli._common import _count, _finite, _positive, _seed, _selection, _selection_args


def _cmd_fluxes(args: argparse.Namespace) -> int:
    from aiva.mc.flux import list_fluxes

    for f in list_fluxes():
        m = f.meta or {}
        print(f"{m.get('name', f.name):<26s} {m.get('probe', '?'):<8s} {f.edges[0]:g}-{f.edges[-1]:g} GeV, "
              f"mean {f.mean_energy:.2f} GeV, {len(f.content)} bins: {m.get('description', '')} [{m.get('cite', '')}]")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    if args.list:
        from aiva.measurements import list_measurements

        for m in list_measurements():
            on = m.meta.get("per_nucleon_of") or m.meta.get("target")
            sig = f" {m.meta['signal']}" if m.meta.get("signal") else ""
            print(f"{m.name:<28s} {m.meta.get('probe')}{sig} on {on}, {len(m.values)} bins, "
                  f"flux {m.meta.get('flux')}: {m.meta.get('cite')}")
        return 0
    if not args.measurement or not args.out:
        raise AivaInputError("aiva predict needs --measurement and --out (or --list)")
    from aiva.measurements.run import predict_to_dir

    predict_to_dir(measurement=args.measurement, out=args.out, models=args.model or (), events=args.events or (),
                   flux=args.flux, flux_range=args.flux_range, n_events=args.n_events, seed=args.seed,
                   allow_extrapolation=args.allow_extrapolation, select=_selection(args), xsec=args.xsec)
    return 0


def add(sub) -> None:
    """Add this group's sub-commands to the ``aiva`` parser."""
    fl = sub.add_parser("fluxes", help="list the neutrino fluxes shipped with aiva")
    fl.set_defaults(func=_cmd_fluxes)

    pr = sub.add_parser("predict", help="flux-averaged prediction for a published measurement, with chi2 and plot")
    pr.add_argument("--measurement", help="shipped measurement (see --list) or a folder in the same format")
    pr.add_argument("--model", action="append", help="generator model (repeatable)")
    pr.add_argument("--events", type=Path, action="append",
                    help="weighted events, e.g. from `aiva simulate --flux` (repeatable)")
    pr.add_argument("--flux", help="flux for --model (default: the measurement's flux)")
    pr.add_argument("--flux-range", type=_finite, nargs=2, metavar=("EMIN", "EMAX"),
                    help="use the flux only inside [EMIN, EMAX] GeV; predictions stay normalised to the whole flux")
    pr.add_argument("--n-events", type=_count, default=1_000_000, help="events generated per model")
    pr.add_argument("--seed", type=_seed, default=1)
    pr.add_argument("--allow-extrapolation", action="store_true")
    pr.add_argument("--out", type=Path, help="output folder (prediction.csv, result.json, prediction.png)")
    pr.add_argument("--list", action="store_true", help="list the shipped measurements")
    pr.add_argument("--xsec", type=_positive, metavar="SIGMA",
                    help="for --events without a cross section (GENIE gst, fScaleFactor = 0): the run's "
                         "flux-averaged total cross section in 1e-38 cm2 per nucleon")
    _selection_args(pr)
    pr.set_defaults(func=_cmd_predict)
