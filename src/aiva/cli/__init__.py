"""The ``aiva`` command: one small module per command group (:mod:`aiva.cli.events`,
:mod:`aiva.cli.models`, :mod:`aiva.cli.registry`, :mod:`aiva.cli.measurements`,
:mod:`aiva.cli.tune`, :mod:`aiva.cli.escat`, :mod:`aiva.cli.demo`) that only parses options and calls the library.
Exit codes: 0 success, 2 bad input (one line naming the file and the column, key or option),
3 an ``aiva update`` rejected, 70 an internal error (a bug; the traceback with ``--debug``)."""
from __future__ import annotations

import argparse
import logging
import sys

from aiva._version import __version__
from aiva.cli import demo, escat, events, measurements, models, registry, tune
from aiva.cli._common import EVENT_SUFFIXES, _check_output
from aiva.errors import AivaInputError

GROUPS = (events, models, registry, measurements, tune, escat, demo)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``aiva simulate: error: argument --energy: not a finite number``."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="aiva", description="aiva — AI for νA: neutrino– and electron–nucleus "
                                "scattering models, a reference Monte Carlo and metrics.")
    p.add_argument("--version", action="version", version=f"aiva {__version__}")
    p.add_argument("--debug", action="store_true", help="show the traceback of an internal error")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    for group in GROUPS:
        group.add(sub)
    return p


def _check_outputs(args: argparse.Namespace) -> None:
    cmd = args.command
    if getattr(args, "output", None) is not None:
        sfx = EVENT_SUFFIXES if cmd in ("simulate", "reweight") or (cmd == "generate" and args.ensemble is None) \
            else None
        _check_output(args.output, "-o/--output", suffixes=sfx)
    if getattr(args, "json", None) is not None:
        _check_output(args.json, "--json")
    out = getattr(args, "out", None)
    if out is not None and cmd not in ("registry",):
        _check_output(out, "--out", folder=True)


class _ConsoleHandler(logging.Handler):
    """The CLI's view of the library's log: INFO to standard output, warnings and errors to
    standard error with a ``warning:`` prefix (the streams of the moment, so that tests capture them)."""

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if record.levelno >= logging.WARNING:
            sys.stderr.write(("warning: " if record.levelno == logging.WARNING else "error: ") + msg + "\n")
            sys.stderr.flush()
        else:
            sys.stdout.write(msg + "\n")
            sys.stdout.flush()


def _setup_logging() -> None:
    logger = logging.getLogger("aiva")
    for h in [h for h in logger.handlers if isinstance(h, _ConsoleHandler)]:
        logger.removeHandler(h)
    logger.addHandler(_ConsoleHandler())
    logger.setLevel(logging.INFO)
    logger.propagate = False


def main(argv: list[str] | None = None) -> int:
    """Run the CLI: 0 success, 2 bad input (one line naming the file/option), 3 an update rejected
    (``aiva update``), 70 an internal error (a bug: the traceback only with ``--debug``)."""
    import os

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a one-line option error (code 2)
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    debug = bool(getattr(args, "debug", False) or os.environ.get("AIVA_DEBUG"))
    _setup_logging()
    try:
        _check_outputs(args)
        return int(args.func(args) or 0)
    except AivaInputError as exc:
        print(f"aiva: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("aiva: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not bad input: say so, keep the traceback for --debug
        if debug:
            import traceback

            traceback.print_exc()
        msg = " ".join(str(exc).split())[:300]
        print(f"aiva: internal error ({type(exc).__name__}: {msg}); this is a bug in aiva, please report it with "
              f"the command line{'' if debug else ' (run with aiva --debug for the traceback)'}", file=sys.stderr)
        return 70


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
