"""``aiva`` sub-commands — The demo of the main job. Each only parses and calls the library."""
from __future__ import annotations

import argparse
from pathlib import Path

from aiva.cli._common import _count, _seed


def _cmd_demo(args: argparse.Namespace) -> int:
    from aiva.demo import run_demo

    run_demo(Path(args.out), n_events=args.events, seed=args.seed)
    return 0


def add(sub) -> None:
    """Add this group's sub-commands to the ``aiva`` parser."""
    d = sub.add_parser("demo",
                       help="the main job on the embedded defaults: the default learned generator against the reference MC")
    d.add_argument("--out", default="demo_output")
    d.add_argument("--events", type=_count, default=200_000)
    d.add_argument("--seed", type=_seed, default=1)
    d.set_defaults(func=_cmd_demo)
