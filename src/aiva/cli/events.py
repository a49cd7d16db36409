"""``aiva`` sub-commands — Event files and the reference Monte Carlo: compare, simulate, xsec. Each
only parses and calls the library."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from aiva.cli._common import _count, _finite, _flux_args, _positive, _seed, _selection, _selection_args


def _cmd_compare(args: argparse.Namespace) -> int:
    from aiva.events import read_events
    from aiva.events.select import require_single
    from aiva.metrics import compare_tables

    sel = _selection(args)
    a, b = read_events(args.a, select=sel), read_events(args.b, select=sel)
    for t, path in ((a, args.a), (b, args.b)):
        require_single(t, str(path))
    res = compare_tables(a, b, c2st=not args.no_c2st, seed=args.seed)
    res["files"] = [str(args.a), str(args.b)]
    text = json.dumps(res, indent=2)
    print(text)
    if args.json:
        from aiva.utils import atomic_write_text

        atomic_write_text(args.json, text + "\n")
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from aiva.mc import DEFAULT_CHANNELS, simulate_to_file

    simulate_to_file(
        target=args.target, probe=args.probe, n_events=args.events, config=args.config, seed=args.seed,
        energy=args.energy, energy_range=args.energy_range, flux=args.flux, output=args.output,
        plot=args.plot, channels=DEFAULT_CHANNELS if args.channels is None else args.channels,
        progress=not args.quiet, flux_range=args.flux_range, flux_content=args.flux_content,
        whole_events=not args.lepton_only, fsi=not args.no_fsi,
        workers=args.workers,
    )
    return 0


def _cmd_xsec(args: argparse.Namespace) -> int:
    from aiva.mc import xsec_table_to_file

    xsec_table_to_file(target=args.target, probe=args.probe, config=args.config, emin=args.emin,
                       emax=args.emax, points=args.points, output=args.output, seed=args.seed)
    return 0


def add(sub) -> None:
    """Add this group's sub-commands to the ``aiva`` parser."""
    c = sub.add_parser("compare", help="compare two event files with MAP, MAP-3D, EMD and C2ST")
    c.add_argument("a", type=Path, help="event file (.parquet, .csv, .root NUISANCE/gst, .hepmc3); weights honoured")
    c.add_argument("b", type=Path)
    c.add_argument("--json", type=Path, help="also write the metrics to this JSON file")
    c.add_argument("--no-c2st", action="store_true", help="skip the (slower) classifier two-sample test")
    c.add_argument("--seed", type=_seed, default=0)
    _selection_args(c)
    c.set_defaults(func=_cmd_compare)

    s = sub.add_parser("simulate", help="generate whole events with the reference Monte Carlo")
    s.add_argument("--target", default="C12",
                   help="C12, O16, Ar40, Fe56, H1, n, or a compound: CH, H2O (default C12)")
    s.add_argument("--probe", default="numu", help="numu, numubar, nue or nuebar (default numu)")
    e = s.add_mutually_exclusive_group()
    e.add_argument("--energy", type=_positive, help="fixed neutrino energy [GeV]")
    e.add_argument("--energy-range", type=_finite, nargs=2, metavar=("EMIN", "EMAX"),
                   help="neutrino energy uniform in [EMIN, EMAX] GeV")
    _flux_args(s, e)
    s.add_argument("--events", type=_count, default=100_000)
    s.add_argument("--config", default="default", help="physics configuration: default or alt")
    s.add_argument("--channels", default=None,
                   help="comma-separated channels (default aiva.mc.DEFAULT_CHANNELS: the CC channels of whole events): "
                        "CC qe, res, dis, mec (2p2h), coh (coherent pi); NC ncel, ncres, ncdis")
    s.add_argument("--lepton-only", action="store_true",
                   help="only the lepton columns, no particle lists (the lepton columns are the same either way)")
    s.add_argument("--no-fsi", action="store_true",
                   help="no intranuclear cascade: the final state is the primary vertex")
    s.add_argument("--workers", type=_count, default=1, help="processes (same events whatever the number)")
    s.add_argument("--seed", type=_seed, default=1)
    s.add_argument("-o", "--output", type=Path, required=True,
                   help="output .parquet, .csv, .root (NUISANCE flat tree) or .hepmc3 (NuHepMC)")
    s.add_argument("--plot", action="store_true", help="also write a PNG of (E_mu, cos), W and Q2")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_cmd_simulate)

    x = sub.add_parser("xsec", help="print and write per-channel cross sections vs E_nu")
    x.add_argument("--target", default="C12")
    x.add_argument("--probe", default="numu")
    x.add_argument("--config", default="default")
    x.add_argument("--emin", type=_positive, default=0.2)
    x.add_argument("--emax", type=_positive, default=10.0)
    x.add_argument("--points", type=_count, default=25)
    x.add_argument("--seed", type=_seed, default=1)
    x.add_argument("-o", "--output", type=Path, help="CSV file (default xsec_<target>_<probe>.csv)")
    x.set_defaults(func=_cmd_xsec)
