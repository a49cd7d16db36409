"""``aiva`` sub-commands — Generators: train, transfer, generate, evaluate, models, reweight. Each
only parses and calls the library."""
from __future__ import annotations

import argparse
from pathlib import Path

from aiva.errors import AivaInputError
from aiva.cli._common import _count, _finite, _flux_args, _positive, _seed, _selection, _selection_args


def _distributed():
    """Under torchrun (RANK/WORLD_SIZE set): join the process group for data-parallel training
    (:mod:`aiva.training.distributed`); the context manager leaves it at the end."""
    from contextlib import contextmanager

    from aiva.training import distributed

    @contextmanager
    def run():
        distributed.init_from_env()
        try:
            yield
        except BaseException:
            distributed.shutdown(barrier=False)  # the other ranks may never reach a barrier
            raise
        distributed.shutdown()

    return run()


def _cmd_train(args: argparse.Namespace) -> int:
    from aiva.training.run import train_from_files

    with _distributed():
        train_from_files(data=args.data, out=args.out, config=args.config, epochs=args.epochs, name=args.name,
                         val_events=args.val_events, resume=not args.no_resume, max_minutes=args.max_minutes,
                         cpu_minutes=args.cpu_minutes, threads=args.threads, seed=args.seed, family=args.family,
                         ensemble=args.ensemble, progress=not args.quiet, select=_selection(args))
    return 0


def _cmd_transfer(args: argparse.Namespace) -> int:
    from aiva.training import distributed
    from aiva.training.run import selection_line, transfer_from_files

    with _distributed():
        res = transfer_from_files(base=args.base, data=args.data, out=args.out, freeze=args.freeze,
                                  config=args.config, epochs=args.epochs, max_minutes=args.max_minutes,
                                  seed=args.seed, name=args.name, val_events=args.val_events,
                                  resume=not args.no_resume, progress=not args.quiet, members=args.members,
                                  select=_selection(args))
        main = distributed.is_main()
    if args.members == 1 and args.quiet and main:
        print(selection_line(res))
    return 0


def _shard(text: str) -> tuple[int, int]:
    """``K/N`` with 1 <= K <= N."""
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give the shard as K/N, e.g. 3/10") from None
    if not 1 <= k <= n:
        raise argparse.ArgumentTypeError(f"{text}: need 1 <= K <= N")
    return k, n


def _cmd_generate(args: argparse.Namespace) -> int:
    from aiva.training.run import ensemble_histograms_to_file, generate_to_file

    if args.ensemble is not None:
        if args.energy is None:
            raise AivaInputError("--ensemble histograms need a fixed --energy")
        ensemble_histograms_to_file(ensemble=args.ensemble, output=args.output, energy=args.energy,
                                    n_events=args.events, seed=args.seed, variables=tuple(args.hist.split(",")),
                                    allow_extrapolation=args.allow_extrapolation)
        return 0
    if args.model is None:
        from aiva.models.io import default_model

        args.model, why = default_model()
        print(f"model: {args.model} ({why})")
    generate_to_file(model=args.model, output=args.output, n_events=args.events, seed=args.seed,
                     energy=args.energy, energy_range=args.energy_range, flux=args.flux,
                     flux_range=args.flux_range, flux_content=args.flux_content,
                     allow_extrapolation=args.allow_extrapolation, float64=args.float64, device=args.device,
                     shard=args.shard)
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from aiva.training.run import evaluate_ensemble_to_dir, evaluate_to_dir

    if args.ensemble is not None:
        evaluate_ensemble_to_dir(ensemble=args.ensemble, out=args.out, reference=args.reference, events=args.events,
                                 energies=args.energies, seed=args.seed, select=_selection(args))
        return 0
    evaluate_to_dir(model=args.model, out=args.out, reference=args.reference, events=args.events,
                    energies=args.energies, seed=args.seed, c2st=not args.no_c2st, select=_selection(args))
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from aiva.models.io import default_model, list_shipped

    cards = list_shipped()
    if not cards:
        print("no pretrained models are shipped in this installation")
        return 0
    try:
        default, why = default_model()
    except AivaInputError:
        default, why = None, ""
    for c in cards:
        m = c.get("metrics", {})
        ev = m.get("evaluation", {})
        bt = m.get("benchmark_transfer") or {}
        line = f"{c['name']:<26s} {c['family']:<7s} {c.get('probe', '?')} on {c.get('target', '?')}, " \
               f"{c['_size_bytes'] / 1024:.0f} kB"
        if ev:
            line += f", mean MAP {ev.get('mean_MAP', float('nan')):.2f} (max {ev.get('max_MAP', float('nan')):.2f})"
        elif bt.get("MAP"):
            line += f", transfer benchmark mean MAP {bt['mean_MAP']:.2f} (max {max(bt['MAP'].values()):.2f})"
        elif m.get("validation"):
            line += f", validation mean MAP {m['validation'].get('mean_MAP', float('nan')):.2f}"
        sp = (m.get("speed") or {}).get("one_thread_s")
        if sp:
            line += f", 1M events in {sp:.1f} s on one thread (when built)"
        if c.get("parent"):
            par = c["parent"]
            line += f", parent {par.get('name') if isinstance(par, dict) else par}"
        if c["name"] == default:
            line += "  [default]"
        print(line)
    if default:
        print(f"default generator (aiva generate without --model): {default} — {why}")
    return 0


def _cmd_reweight(args: argparse.Namespace) -> int:
    from aiva.models.reweight import reweight_file

    reweight_file(events=args.events, model_from=args.model_from, model_to=args.model_to, output=args.output)
    return 0


def _cmd_mix(args: argparse.Namespace) -> int:
    from aiva.models.io import mix_files

    path = mix_files(args.models, args.output, name=args.name)
    print(f"wrote the equal-weight mixture of {len(args.models)} members to {path}")
    return 0


def add(sub) -> None:
    """Add this group's sub-commands to the ``aiva`` parser."""
    t = sub.add_parser("train", help="train a conditional generator on an event file (data-parallel under "
                                     "torchrun: torchrun --nproc_per_node N -m aiva.cli train ...)")
    t.add_argument("--data", type=Path, required=True, help="training events (.parquet, .csv, .root)")
    t.add_argument("--out", type=Path, required=True, help="output folder (checkpoints, history, model)")
    t.add_argument("--config", type=Path, help="TOML file with [model] and [training] tables")
    t.add_argument("--family", default="gan", choices=["gan", "flow", "cfm"],
                   help="generative family: gan (PRD 112 (2025) 013007), flow (neural spline flow) or cfm "
                        "(conditional flow matching)")
    t.add_argument("--epochs", type=_count, help="override [training].epochs")
    t.add_argument("--max-minutes", type=_positive, help="stop after this wall-clock budget (resumable)")
    t.add_argument("--cpu-minutes", type=_positive,
                   help="budget of CPU time: the learning-rate decay follows it and no epoch starts that would "
                        "overrun it (set --epochs high)")
    t.add_argument("--threads", type=_count, help="torch threads (default: all cores)")
    t.add_argument("--ensemble", type=_count, metavar="K",
                   help="train K members (seeds seed..seed+K-1, bootstrap resamples) into OUT/member-k and "
                        "OUT/ensemble.json")
    t.add_argument("--val-events", type=_count, help="reference events per validation energy")
    t.add_argument("--name", help="model name for the model card")
    t.add_argument("--seed", type=_seed, help="override [training].seed")
    t.add_argument("--no-resume", action="store_true", help="start afresh even if a checkpoint exists")
    t.add_argument("-q", "--quiet", action="store_true")
    _selection_args(t)
    t.set_defaults(func=_cmd_train)

    tl = sub.add_parser("transfer", help="fine-tune a generator on new data with frozen blocks")
    tl.add_argument("--base", required=True, help="parent model (name or .safetensors path)")
    tl.add_argument("--data", type=Path, required=True)
    tl.add_argument("--out", type=Path, required=True)
    tl.add_argument("--freeze", default="default",
                    help="default (early G and D blocks), none, all-but-last, or names like g0,g1,d0")
    tl.add_argument("--config", type=Path, help="TOML with a [training] table")
    tl.add_argument("--epochs", type=_count)
    tl.add_argument("--max-minutes", type=_positive)
    tl.add_argument("--val-events", type=_count)
    tl.add_argument("--seed", type=_seed)
    tl.add_argument("--name")
    tl.add_argument("--members", type=_count, default=1, metavar="K",
                    help="K fine-tunes (seeds SEED … SEED+K-1) combined into one equal-weight mixture (default 1)")
    tl.add_argument("--no-resume", action="store_true")
    tl.add_argument("-q", "--quiet", action="store_true")
    _selection_args(tl)
    tl.set_defaults(func=_cmd_transfer)

    g = sub.add_parser("generate", help="generate events with a trained or shipped generator")
    gm = g.add_mutually_exclusive_group()
    gm.add_argument("--model", help="shipped model name (see `aiva models`) or .safetensors path (default: the "
                                    "default numu-C12 inclusive generator marked by `aiva models`)")
    gm.add_argument("--ensemble", type=Path,
                    help="ensemble folder (aiva train --ensemble): write per-bin mean and spread of --hist")
    g.add_argument("--hist", default="Emu,costheta,W,Q2", help="with --ensemble: variables (Emu,costheta,W,Q2)")
    ge = g.add_mutually_exclusive_group(required=True)
    ge.add_argument("--energy", type=_positive, help="fixed neutrino energy [GeV]")
    ge.add_argument("--energy-range", type=_finite, nargs=2, metavar=("EMIN", "EMAX"))
    _flux_args(g, ge)
    g.add_argument("--events", type=_count, default=1_000_000)
    g.add_argument("--seed", type=_seed, default=1)
    g.add_argument("-o", "--output", type=Path, required=True,
                   help="output .parquet, .csv, .root (NUISANCE flat tree) or .hepmc3 (NuHepMC); with --ensemble "
                        ".json or .csv")
    g.add_argument("--allow-extrapolation", action="store_true", help="allow energies outside the trained range")
    g.add_argument("--float64", action="store_true", help="run the network in double precision")
    g.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    g.add_argument("--shard", type=_shard, metavar="K/N",
                   help="make only shard K of N of the run (blocks of 100k events seeded by (seed, block)): the "
                        "shards' events, in shard order, are the whole run's, whatever N")
    g.set_defaults(func=_cmd_generate)

    v = sub.add_parser("evaluate", help="compare a generator with reference events: metrics, figures, report")
    vm = v.add_mutually_exclusive_group(required=True)
    vm.add_argument("--model")
    vm.add_argument("--ensemble", type=Path, help="ensemble folder: bands and their coverage of the reference")
    v.add_argument("--out", type=Path, required=True)
    vr = v.add_mutually_exclusive_group(required=True)
    vr.add_argument("--reference", type=Path, help="reference events at fixed energies (.parquet)")
    vr.add_argument("--simulate", action="store_true", help="make fresh reference-MC events")
    v.add_argument("--events", type=_count, default=1_000_000, help="reference events per energy (--simulate)")
    v.add_argument("--energies", type=_positive, nargs="+", help="test energies [GeV]")
    v.add_argument("--seed", type=_seed, default=1)
    v.add_argument("--no-c2st", action="store_true")
    _selection_args(v)
    v.set_defaults(func=_cmd_evaluate)

    mx = sub.add_parser("mix", help="combine generators of one family into one equal-weight mixture")
    mx.add_argument("models", nargs="+", metavar="MODEL", help="shipped model names or .safetensors files (>= 2)")
    mx.add_argument("--name", help="the mixture's name in its card (default: the output's stem)")
    mx.add_argument("-o", "--output", type=Path, required=True, help="output .safetensors (card: the .json beside it)")
    mx.set_defaults(func=_cmd_mix)

    ml = sub.add_parser("models", help="list the pretrained models shipped with aiva")
    ml.set_defaults(func=_cmd_models)

    rw = sub.add_parser("reweight", help="weight events of one flow model to another with p_to/p_from")
    rw.add_argument("events", type=Path, help="event file generated with the --from model")
    rw.add_argument("--from", dest="model_from", required=True, help="flow model the events come from")
    rw.add_argument("--to", dest="model_to", required=True, help="flow model to reweight to")
    rw.add_argument("-o", "--output", type=Path, required=True)
    rw.set_defaults(func=_cmd_reweight)
