"""``aiva`` sub-commands — Electron scattering: escat fit | transfer | predict | plot. Each only
parses and calls the library."""
from __future__ import annotations

import argparse

from aiva.errors import AivaInputError
from aiva.cli._common import _count, _finite, _fraction, _number, _positive, _seed


def _blocks(v: str):
    return v if v == "all" else int(v)


def _cmd_escat(args: argparse.Namespace) -> int:
    from aiva.escat import run

    if args.escat_cmd == "fit":
        run.fit_target(target=args.target, data=args.data, out=args.out, test_fraction=args.test_fraction,
                       members=args.members, epochs=args.epochs, blocks=args.blocks, width=args.width,
                       dropout=args.dropout, seed=args.seed, max_minutes=args.max_minutes, half=args.half,
                       resample=args.resample, err_floor=args.err_floor, inputs=args.inputs,
                       activation=args.activation, threads=args.threads, split_seed=args.split_seed)
    elif args.escat_cmd == "transfer":
        run.transfer(base=args.base, target=args.target, data=args.data, out=args.out,
                     train_fraction=args.train_fraction, blocks=args.blocks, epochs=args.epochs, seed=args.seed,
                     baselines=not args.no_baselines, err_floor=args.err_floor, members=args.members,
                     threads=args.threads, split_seed=args.split_seed)
    elif args.escat_cmd == "joint":
        run.fit_joint_cli(out=args.out, members=args.members, steps=args.steps, seed=args.seed,
                          split_seed=args.split_seed, threads=args.threads, coulomb=not args.no_coulomb,
                          exclude=args.exclude_target or ())
    elif args.escat_cmd == "predict":
        run.predict_to_csv(model=args.model, target=args.target, energy=args.energy, angle_deg=args.angle,
                           omega=args.omega, points=args.points, output=args.output, mc_dropout=args.mc_dropout)
    elif args.escat_cmd == "plot":
        run.plot_model(model=args.model or f"escat-{args.target}", target=args.target, data=args.data,
                       output=args.output)
    else:
        raise AivaInputError("aiva escat needs a sub-command: fit, transfer, joint, predict or plot")
    return 0


def add(sub) -> None:
    """Add this group's sub-commands to the ``aiva`` parser."""
    es = sub.add_parser("escat", help="electron-nucleus cross sections: fit, transfer, joint, predict, plot")
    esub = es.add_subparsers(dest="escat_cmd", metavar="SUBCOMMAND")
    ef = esub.add_parser("fit", help="fit a network ensemble to one target's data")
    ef.add_argument("--target", default="C12")
    ef.add_argument("--data", help="your own CSV in the shipped schema instead of the shipped table")
    ef.add_argument("--out", default="escat_models")
    ef.add_argument("--test-fraction", type=_fraction, default=0.1)
    ef.add_argument("--members", type=_count, help="ensemble members (bootstrap); 1 with --dropout for MC dropout")
    ef.add_argument("--epochs", type=_count)
    ef.add_argument("--blocks", type=_count)
    ef.add_argument("--width", type=_count)
    ef.add_argument("--dropout", type=_number(float, 0, 1, hi_open=True, what="a fraction"))
    ef.add_argument("--inputs", choices=["prc110", "prc110+log"],
                    help="network inputs: the five of PRC 110, or those and ln E, ln omega, ln Q2 (default)")
    ef.add_argument("--activation", choices=["relu", "silu", "relu+silu"],
                    help="nonlinearity of the blocks: relu (PRC 110), the smooth silu, or relu in even and "
                         "silu in odd members (default)")
    ef.add_argument("--resample", choices=["points", "replicas"],
                    help="members fit resampled points (bootstrap) or Monte Carlo replicas of the data")
    ef.add_argument("--seed", type=_seed)
    ef.add_argument("--max-minutes", type=_positive)
    ef.add_argument("--half", action="store_true", help="store weights as float16")
    et = esub.add_parser("transfer", help="fine-tune the carbon model on another target")
    et.add_argument("--base", default="escat-C12")
    et.add_argument("--target")
    et.add_argument("--data", help="your own CSV (a target the package does not ship)")
    et.add_argument("--train-fraction", type=_fraction, default=0.1)
    et.add_argument("--blocks", type=_blocks, default="all", help="fine-tune the last L blocks, or 'all'")
    et.add_argument("--epochs", type=_count)
    et.add_argument("--seed", type=_seed)
    et.add_argument("--out", default="escat_models")
    et.add_argument("--no-baselines", action="store_true")
    et.add_argument("--members", type=_count, help="fine-tune the first K members of the base model")
    ej = esub.add_parser("joint", help="fit one nucleus-conditioned ensemble to every shipped target")
    ej.add_argument("--members", type=_count, default=10)
    ej.add_argument("--steps", type=_count, default=40_000, help="optimiser steps (the cost of the fit)")
    ej.add_argument("--seed", type=_seed, default=1)
    ej.add_argument("--exclude-target", action="append", metavar="TARGET", help="leave a target out (repeatable)")
    ej.add_argument("--no-coulomb", action="store_true", help="no Coulomb distortion (EMA) of heavy nuclei")
    ej.add_argument("--out", default="escat_models")
    for sp in (ef, et, ej):
        sp.add_argument("--threads", type=_count, help="CPU threads for torch")
        sp.add_argument("--split-seed", type=_seed, default=1, help="seed of the random train/test split")
    for sub_parser in (ef, et):
        sub_parser.add_argument("--err-floor", type=_number(float, 0, what="a value"), default=0.0, metavar="F",
                                help="add F·sigma in quadrature to every point's uncertainty (default 0: as quoted)")
    ep = esub.add_parser("predict", help="d2sigma/dOmega/domega with its uncertainty on an omega grid")
    ep.add_argument("--target", default="C12",
                    help="nucleus, e.g. C12 or Pb208: its own model where shipped, else the joint model")
    ep.add_argument("--model", help="model name or path (default escat-<target>, else escat-joint)")
    ep.add_argument("--energy", type=_positive, required=True, help="beam energy [GeV]")
    ep.add_argument("--angle", type=_number(float, 0, 180, True, True, what="an angle"), required=True,
                    help="scattering angle [degrees]")
    ep.add_argument("--omega", type=_finite, nargs=2, required=True, metavar=("OMIN", "OMAX"))
    ep.add_argument("--points", type=_count, default=100)
    ep.add_argument("--mc-dropout", type=_number(int, 0, what="a count"), default=0,
                    help="MC-dropout passes (dropout models)")
    ep.add_argument("-o", "--output", required=True)
    eo = esub.add_parser("plot", help="sigma vs omega at the data's kinematics with bands and points")
    eo.add_argument("--target", default="C12")
    eo.add_argument("--model")
    eo.add_argument("--data")
    eo.add_argument("-o", "--output", default="escat.png")
    es.set_defaults(func=_cmd_escat)
