"""``aiva`` sub-commands — The model registry and objective updates: registry, update (exit 3 when
an update is rejected). Each only parses and calls the library."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from aiva.errors import AivaInputError
from aiva.cli._common import _count, _fraction, _seed


def _cmd_registry(args: argparse.Namespace) -> int:
    from aiva.registry import Registry

    reg = Registry(args.registry)
    if args.reg_cmd == "list":
        for name in reg.models():
            cur = reg.current(name)
            print(f"{name:<28s} current {cur} of {len(reg.versions(name))} version(s)")
        if not reg.models():
            print(f"registry {reg.root} is empty")
    elif args.reg_cmd == "add":
        print(f"{args.name}: registered {reg.register(args.name, args.model)} in {reg.root}")
    elif args.reg_cmd == "show":
        info = reg.info(args.name, args.version)
        print(json.dumps({"current": reg.current(args.name), "versions": reg.versions(args.name), **info}, indent=2))
    elif args.reg_cmd == "log":
        for rec in reg.log(args.name):
            line = f"{rec['time']} {rec['action']}"
            if rec["action"] == "update":
                line += f" {Path(rec['data']).name}: {rec['decision']}" + (
                    f" -> {rec['new_version']}" if rec.get("new_version") else f" ({rec.get('reason')})")
            elif rec["action"] == "rollback":
                line += f" {rec['from']} -> {rec['to']}"
            else:
                line += f" {rec.get('version')}"
            print(line)
    elif args.reg_cmd == "rollback":
        print(f"{args.name}: current version is now {reg.rollback(args.name)}")
    elif args.reg_cmd == "export":
        print(f"wrote {reg.export(args.name, args.out, args.version)}")
    return 0


def _cmd_update(args: argparse.Namespace) -> int:
    from aiva.registry import Registry, UpdateConfig, update, watch

    reg = Registry(args.registry)
    if args.register_from and args.model not in reg.models():
        reg.register(args.model, args.register_from)
    cfg = UpdateConfig(holdout=args.holdout, epochs=args.epochs, seed=args.seed,
                       train_config=str(args.train_config) if args.train_config else None,
                       tune_steps=args.tune_steps, tune_events=args.tune_events,
                       tune_shape_degree=args.tune_shape_degree)
    if args.watch:
        done = watch(registry=reg, name=args.model, folder=args.watch, constraints=args.constraints, config=cfg,
                     once=args.once)
        decisions = {d.get("decision") for d in done}
        return 2 if "error" in decisions else (3 if "rejected" in decisions else 0)
    if args.data or args.measurement:
        if args.data and args.measurement:
            raise AivaInputError("aiva update: give --data or --measurement, not both")
        rec = update(registry=reg, name=args.model, data=args.data, constraints=args.constraints, config=cfg,
                     measurements=args.measurement)
        return 3 if rec.get("decision") == "rejected" else 0  # 3: rejected, so that a script can tell
    raise AivaInputError("aiva update needs --data FILE, --measurement NAME or --watch DIR")


def add(sub) -> None:
    """Add this group's sub-commands to the ``aiva`` parser."""
    rg = sub.add_parser("registry", help="versioned models and their decision log")
    rg.add_argument("--registry", type=Path,
                    help="registry folder (default $AIVA_REGISTRY or ~/.local/share/aiva/registry)")
    rgs = rg.add_subparsers(dest="reg_cmd", required=True)
    rgs.add_parser("list", help="registered models")
    ra = rgs.add_parser("add", help="register a model (shipped name or .safetensors) as version v0001")
    ra.add_argument("name")
    ra.add_argument("--model", required=True)
    for cmd in ("show", "log", "rollback", "export"):
        sp = rgs.add_parser(cmd)
        sp.add_argument("name")
        if cmd in ("show", "export"):
            sp.add_argument("--version")
        if cmd == "export":
            sp.add_argument("--out", type=Path, required=True)
    rg.set_defaults(func=_cmd_registry)

    up = sub.add_parser("update", help="fine-tune on new data; promote only if held-out metrics improve")
    up.add_argument("--model", required=True, help="registered model name")
    up.add_argument("--data", type=Path, help="new event file")
    up.add_argument("--watch", type=Path, help="process files dropped into this folder, in name order")
    up.add_argument("--once", action="store_true", help="with --watch: one pass, then exit")
    up.add_argument("--registry", type=Path)
    up.add_argument("--register-from", help="register this model first when --model is not registered yet")
    up.add_argument("--holdout", type=_fraction, default=0.2, help="held-out fraction of the new data (default 0.2)")
    up.add_argument("--epochs", type=_count, help="fine-tuning epochs (default: the family's training default)")
    up.add_argument("--constraints", type=Path, help="TOML file of theory constraints")
    up.add_argument("--train-config", type=Path, help="TOML with a [training] table for the fine-tuning")
    up.add_argument("--measurement", action="append",
                    help="tune to this published measurement instead (repeatable; see docs/tuning.md)")
    up.add_argument("--tune-steps", type=_count, help="with --measurement: Adam steps per fit")
    up.add_argument("--tune-events", type=_count, help="with --measurement: flux-folded prior events per measurement")
    up.add_argument("--tune-shape-degree", type=int,
                    help="with --measurement: degree of the Q2-shape correction (default 2; 0: sigma(E) only)")
    up.add_argument("--seed", type=_seed, default=1)
    up.set_defaults(func=_cmd_update)
