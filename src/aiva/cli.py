"""The ``aiva`` command. Sub-commands only parse arguments and call the library."""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from aiva import __version__
from aiva.errors import AivaInputError


# --------------------------------------------------------------------------- option value types
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


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``aiva simulate: error: argument --energy: not a finite number``."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def _selection(args: argparse.Namespace):
    from aiva.events.select import Selection

    if args.nucleons is not None and (args.nucleons < 1 or not args.select_target):
        raise AivaInputError("--nucleons: needs --target and a positive number of nucleons per molecule")
    return Selection(cc_only=args.cc_only, target=args.select_target, probe=args.select_probe, nucleons=args.nucleons)


def _report_selection(table, path) -> None:
    for step in table.metadata.get("selection") or []:
        print(f"{path}: {step['filter']} removed {step['removed']} events, kept {step['kept']}")
    for why, n in (table.metadata.get("dropped") or {}).items():
        print(f"{path}: skipped {n} events: {why}")


def _cmd_compare(args: argparse.Namespace) -> int:
    from aiva.events import read_events
    from aiva.events.select import require_single
    from aiva.metrics import compare_tables

    sel = _selection(args)
    a, b = read_events(args.a, select=sel), read_events(args.b, select=sel)
    for t, path in ((a, args.a), (b, args.b)):
        _report_selection(t, path)
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
    from aiva.mc import simulate_to_file

    simulate_to_file(
        target=args.target, probe=args.probe, n_events=args.events, config=args.config, seed=args.seed,
        energy=args.energy, energy_range=args.energy_range, flux=args.flux, output=args.output,
        plot=args.plot, channels=args.channels, progress=not args.quiet, flux_range=args.flux_range,
        flux_content=args.flux_content,
    )
    return 0


def _cmd_xsec(args: argparse.Namespace) -> int:
    from aiva.mc import xsec_table_to_file

    xsec_table_to_file(target=args.target, probe=args.probe, config=args.config, emin=args.emin,
                       emax=args.emax, points=args.points, output=args.output, seed=args.seed)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from aiva.demo import run_demo

    run_demo(Path(args.out), n_events=args.events, seed=args.seed)
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from aiva.training.run import train_from_files

    train_from_files(data=args.data, out=args.out, config=args.config, epochs=args.epochs, name=args.name,
                     val_events=args.val_events, resume=not args.no_resume, max_minutes=args.max_minutes,
                     cpu_minutes=args.cpu_minutes, threads=args.threads, seed=args.seed, family=args.family,
                     ensemble=args.ensemble, progress=not args.quiet, select=_selection(args))
    return 0


def _cmd_transfer(args: argparse.Namespace) -> int:
    from aiva.training.run import selection_line, transfer_from_files

    res = transfer_from_files(base=args.base, data=args.data, out=args.out, freeze=args.freeze, config=args.config,
                              epochs=args.epochs, max_minutes=args.max_minutes, seed=args.seed, name=args.name,
                              val_events=args.val_events, resume=not args.no_resume, progress=not args.quiet,
                              members=args.members, select=_selection(args))
    if args.members == 1 and args.quiet:
        print(selection_line(res))
    return 0


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
                     allow_extrapolation=args.allow_extrapolation, float64=args.float64, device=args.device)
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
            line += f", 1M events in {sp:.1f} s on one thread"
        if c.get("parent"):
            par = c["parent"]
            line += f", parent {par.get('name') if isinstance(par, dict) else par}"
        if c["name"] == default:
            line += "  [default]"
        print(line)
    if default:
        print(f"default generator (aiva generate without --model): {default} — {why}")
    return 0


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
                       train_config=str(args.train_config) if args.train_config else None)
    if args.watch:
        done = watch(registry=reg, name=args.model, folder=args.watch, constraints=args.constraints, config=cfg,
                     once=args.once)
        decisions = {d.get("decision") for d in done}
        return 2 if "error" in decisions else (3 if "rejected" in decisions else 0)
    if args.data:
        rec = update(registry=reg, name=args.model, data=args.data, constraints=args.constraints, config=cfg)
        return 3 if rec.get("decision") == "rejected" else 0  # 3: rejected, so that a script can tell
    raise AivaInputError("aiva update needs --data FILE or --watch DIR")


def _cmd_reweight(args: argparse.Namespace) -> int:
    from aiva.models.reweight import reweight_file

    reweight_file(events=args.events, model_from=args.model_from, model_to=args.model_to, output=args.output)
    return 0


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
            print(f"{m.name:<28s} {m.meta.get('probe')} on {m.meta.get('target')}, {len(m.values)} bins, "
                  f"flux {m.meta.get('flux')}: {m.meta.get('cite')}")
        return 0
    if not args.measurement or not args.out:
        raise AivaInputError("aiva predict needs --measurement and --out (or --list)")
    from aiva.measurements.run import predict_to_dir

    predict_to_dir(measurement=args.measurement, out=args.out, models=args.model or (), events=args.events or (),
                   flux=args.flux, flux_range=args.flux_range, n_events=args.n_events, seed=args.seed,
                   allow_extrapolation=args.allow_extrapolation, select=_selection(args), xsec=args.xsec)
    return 0


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


def _blocks(v: str):
    return v if v == "all" else int(v)


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


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="aiva", description="aiva — AI for νA: neutrino– and electron–nucleus "
                                "scattering models, a reference Monte Carlo and metrics.")
    p.add_argument("--version", action="version", version=f"aiva {__version__}")
    p.add_argument("--debug", action="store_true", help="show the traceback of an internal error")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    c = sub.add_parser("compare", help="compare two event files with MAP, MAP-3D, EMD and C2ST")
    c.add_argument("a", type=Path, help="event file (.parquet, .csv, .root NUISANCE/gst, .hepmc3); weights honoured")
    c.add_argument("b", type=Path)
    c.add_argument("--json", type=Path, help="also write the metrics to this JSON file")
    c.add_argument("--no-c2st", action="store_true", help="skip the (slower) classifier two-sample test")
    c.add_argument("--seed", type=_seed, default=0)
    _selection_args(c)
    c.set_defaults(func=_cmd_compare)

    s = sub.add_parser("simulate", help="generate CC events with the reference Monte Carlo")
    s.add_argument("--target", default="C12", help="C12, O16, Ar40, H1 or n (default C12)")
    s.add_argument("--probe", default="numu", help="numu or numubar (default numu)")
    e = s.add_mutually_exclusive_group()
    e.add_argument("--energy", type=_positive, help="fixed neutrino energy [GeV]")
    e.add_argument("--energy-range", type=_finite, nargs=2, metavar=("EMIN", "EMAX"),
                   help="neutrino energy uniform in [EMIN, EMAX] GeV")
    _flux_args(s, e)
    s.add_argument("--events", type=_count, default=100_000)
    s.add_argument("--config", default="default", help="physics configuration: default or alt")
    s.add_argument("--channels", default="qe,res,dis",
                   help="comma-separated channels: qe, res, dis, and the optional empirical 2p2h mec")
    s.add_argument("--seed", type=_seed, default=1)
    s.add_argument("-o", "--output", type=Path, required=True, help="output .parquet, .csv, .root (NUISANCE flat tree) or .hepmc3 (NuHepMC)")
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

    t = sub.add_parser("train", help="train a conditional generator on an event file")
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

    ml = sub.add_parser("models", help="list the pretrained models shipped with aiva")
    ml.set_defaults(func=_cmd_models)

    rg = sub.add_parser("registry", help="versioned models and their decision log")
    rg.add_argument("--registry", type=Path, help="registry folder (default $AIVA_REGISTRY or ~/.local/share/aiva/registry)")
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
    up.add_argument("--seed", type=_seed, default=1)
    up.set_defaults(func=_cmd_update)

    rw = sub.add_parser("reweight", help="weight events of one flow model to another with p_to/p_from")
    rw.add_argument("events", type=Path, help="event file generated with the --from model")
    rw.add_argument("--from", dest="model_from", required=True, help="flow model the events come from")
    rw.add_argument("--to", dest="model_to", required=True, help="flow model to reweight to")
    rw.add_argument("-o", "--output", type=Path, required=True)
    rw.set_defaults(func=_cmd_reweight)

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
    for sub_parser in (ef, et, ej):
        sub_parser.add_argument("--threads", type=_count, help="CPU threads for torch")
        sub_parser.add_argument("--split-seed", type=_seed, default=1, help="seed of the random train/test split")
    for sub_parser in (ef, et):
        sub_parser.add_argument("--err-floor", type=_number(float, 0, what="a value"), default=0.0, metavar="F",
                                help="add F·sigma in quadrature to every point's uncertainty (default 0: as quoted)")
    ep = esub.add_parser("predict", help="d2sigma/dOmega/domega with its uncertainty on an omega grid")
    ep.add_argument("--target", default="C12",
                    help="nucleus, e.g. C12 or Pb208: its own model where shipped, else the joint model")
    ep.add_argument("--model", help="model name or path (default escat-<target>, else escat-joint)")
    ep.add_argument("--energy", type=_positive, required=True, help="beam energy [GeV]")
    ep.add_argument("--angle", type=_number(float, 0, 180, True, True, what="an angle"), required=True, help="scattering angle [degrees]")
    ep.add_argument("--omega", type=_finite, nargs=2, required=True, metavar=("OMIN", "OMAX"))
    ep.add_argument("--points", type=_count, default=100)
    ep.add_argument("--mc-dropout", type=_number(int, 0, what="a count"), default=0, help="MC-dropout passes (dropout models)")
    ep.add_argument("-o", "--output", required=True)
    eo = esub.add_parser("plot", help="sigma vs omega at the data's kinematics with bands and points")
    eo.add_argument("--target", default="C12")
    eo.add_argument("--model")
    eo.add_argument("--data")
    eo.add_argument("-o", "--output", default="escat.png")
    es.set_defaults(func=_cmd_escat)

    d = sub.add_parser("demo", help="simulate, plot, compare and tabulate on the embedded defaults")
    d.add_argument("--out", default="demo_output")
    d.add_argument("--events", type=_count, default=200_000)
    d.add_argument("--seed", type=_seed, default=1)
    d.set_defaults(func=_cmd_demo)
    return p


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
