"""Option types, selections and output checks shared by the ``aiva`` sub-commands."""
from __future__ import annotations

import argparse
import math
from pathlib import Path

from aiva.errors import AivaInputError


def _number(kind, lo=None, hi=None, lo_open=False, hi_open=False, what="number"):
    """An argparse type: a finite ``kind`` number in [lo, hi] (open ends where asked)."""
    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {'an integer' if kind is int else 'a number'}: {text!r}") from None
        if kind is float and not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
        if lo is not None and (v < lo or (lo_open and v == lo)):
            raise argparse.ArgumentTypeError(f"{text}: need {what} {'>' if lo_open else '>='} {lo:g}")
        if hi is not None and (v > hi or (hi_open and v == hi)):
            raise argparse.ArgumentTypeError(f"{text}: need {what} {'<' if hi_open else '<='} {hi:g}")
        return v
    parse.__name__ = kind.__name__
    return parse


_count = _number(int, 1, what="a count")  #: events, epochs, points, members, threads, ...


_seed = _number(int, 0, 2 ** 63 - 1, what="a seed")


_finite = _number(float)


_positive = _number(float, 0, lo_open=True, what="a value")


_fraction = _number(float, 0, 1, lo_open=True, hi_open=True, what="a fraction")


def _selection(args: argparse.Namespace):
    from aiva.events.select import Selection

    if args.nucleons is not None and (args.nucleons < 1 or not args.select_target):
        raise AivaInputError("--nucleons: needs --target and a positive number of nucleons per molecule")
    return Selection(cc_only=args.cc_only, target=args.select_target, probe=args.select_probe, nucleons=args.nucleons)


def _flux_args(parser, group) -> None:
    group.add_argument("--flux", help="shipped flux name (see `aiva fluxes`), CSV (x_low,x_high,content, GeV) or "
                                      "FILE.root:HIST; E drawn from flux x sigma, events weighted to 1e-38 cm2/nucleon")
    parser.add_argument("--flux-range", type=_finite, nargs=2, metavar=("EMIN", "EMAX"),
                        help="use the flux only inside [EMIN, EMAX] GeV (the removed fraction is reported)")
    parser.add_argument("--flux-content", choices=("integral", "density"), default="integral",
                        help="flux file content: integrated over each bin (default) or per GeV")


def _selection_args(parser) -> None:
    """The filters for event files that mix channels, targets or probes (each reports what it removes)."""
    g = parser.add_argument_group("event selection (files of other generators)")
    g.add_argument("--cc-only", action="store_true", help="keep charged-current events only (NC events removed, "
                                                          "counted)")
    g.add_argument("--target", dest="select_target", metavar="TARGET",
                   help="keep events on this nucleus only (e.g. C12 of a CH file)")
    g.add_argument("--probe", dest="select_probe", metavar="PROBE", help="keep this neutrino species only")
    g.add_argument("--nucleons", type=_count, metavar="N",
                   help="with --target on a compound target: nucleons per molecule (13 for CH, 18 for H2O), so "
                        "that the weights become per nucleon of TARGET")


#: event-file suffixes the writers know (checked before any work is done)
EVENT_SUFFIXES = (".parquet", ".pq", ".csv", ".root", ".hepmc3", ".hepmc", ".gz")


def _check_output(path, option: str, *, folder: bool = False, suffixes: tuple[str, ...] | None = None) -> None:
    """Refuse, before any work, an output that cannot be written: a file where a folder is
    needed or the reverse, a parent that is a file, a folder we cannot write to, an unknown suffix."""
    import os

    p = Path(path)
    if not folder and p.is_dir():
        raise AivaInputError(f"{option} {p}: is a directory; give a file name")
    if folder and p.exists() and not p.is_dir():
        raise AivaInputError(f"{option} {p}: is a file; give a folder")
    parent = p if folder else p.parent
    for anc in [parent, *parent.parents]:
        if anc.exists():
            if not anc.is_dir():
                raise AivaInputError(f"{option} {p}: {anc} is a file, not a folder")
            if not os.access(anc, os.W_OK | os.X_OK):
                raise AivaInputError(f"{option} {p}: folder {anc} is not writable")
            break
    gz_ok = p.suffix.lower() != ".gz" or (len(p.suffixes) > 1 and p.suffixes[-2].lower() in (".hepmc3", ".hepmc"))
    if suffixes is not None and (p.suffix.lower() not in suffixes or not gz_ok):
        raise AivaInputError(f"{option} {p}: unknown file type {p.suffix or '(none)'!r}; use one of "
                             f"{', '.join(s for s in suffixes if s != '.gz')}")
