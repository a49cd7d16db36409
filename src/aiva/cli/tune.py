"""``aiva`` sub-commands — Tuning to published measurements: tune. Each only parses and calls the library."""
from __future__ import annotations

import argparse
from pathlib import Path

from aiva.cli._common import _count, _number, _positive, _seed


def _cmd_tune(args: argparse.Namespace) -> int:
    from aiva.errors import AivaInputError
    from aiva.tuning import TuneConfig, tune_to_dir

    if args.blocks == 1:
        raise AivaInputError("--blocks: need 0 (no cross-validation) or >= 2")
    if args.calibrate < 0 or args.calibrate == 1:
        raise AivaInputError(f"--calibrate: need 0 (off) or >= 2 pseudo-experiments, got {args.calibrate}")
    given = {"n_events": args.n_events, "n_prior_events": args.prior_events, "steps": args.steps, "lr": args.lr,
             "trainable": args.trainable, "penalty": args.penalty, "strength": args.strength,
             "xsec_degree": args.xsec_degree, "xsec_prior": args.xsec_prior, "xsec_basis": args.xsec_basis,
             "xsec_length": args.xsec_length, "shape_degree": args.shape_degree,
             "shape_prior": args.shape_prior, "shape_length": args.shape_length,
             "band_discrepancy": args.band_discrepancy, "seed": args.seed}
    cfg = TuneConfig.from_dict({k: v for k, v in given.items() if v is not None})  # unset: TuneConfig's defaults
    res = tune_to_dir(model=args.model, measurements=args.measurement, out=args.out, config=cfg, blocks=args.blocks,
                      members=args.members, name=args.name, calibrate=args.calibrate, cv_blocks=args.cv_blocks)
    for m in res["measurements"]:
        print(f"{m['name']}: chi2/ndf {m['chi2_before']:.1f}/{m['ndf']} -> {m['chi2_after']:.1f}/{m['ndf']}")
        if m.get("published_predictions_chi2"):  # compared on the published covariance alone
            print(f"  published covariance only: tuned {m['chi2_published_covariance_only_after']:.1f}/{m['ndf']} "
                  f"(prior {m['chi2_published_covariance_only_before']:.1f})")
        for gen, c2 in (m.get("published_predictions_chi2") or {}).items():
            print(f"  {gen} (the collaboration's prediction, published covariance): chi2/ndf {c2:.1f}/{m['ndf']}")
    for d in (res.get("posterior") or {}).get("discrepancy", []):
        print(f"{d['measurement']}: band discrepancy delta^2 = {d['delta2']:.3f} (chi2 {d['chi2']:.1f} over "
              f"nu = {d['nu']:.1f}: {d['n_bins']} bins less {d['k_eff']:.1f} effective coefficients)")
    cv = res.get("cross_validation", {}).get("total")
    if cv:
        exp = (f"calibrated expectation {cv['expectation_calibrated']:.1f} +- {cv['sigma_calibrated'] or 0:.1f}"
               if "expectation_calibrated" in cv else f"expectation {cv['ndf']} +- {cv['sigma']:.1f}")
        print(f"held-out chi2 over {args.blocks} {args.cv_blocks} blocks: {cv['heldout_chi2_before']:.1f} -> "
              f"{cv['heldout_chi2_after']:.1f} ({exp})")
    print(f"wrote {res['tuned_model']}")
    return 0


def add(sub) -> None:
    """Add this group's sub-commands to the ``aiva`` parser."""
    tu = sub.add_parser("tune", help="fine-tune a flow and its sigma(E) to published measurements (chi2 with the full "
                                     "covariance plus a prior penalty)")
    tu.add_argument("--model", required=True, help="flow model (shipped name or .safetensors)")
    tu.add_argument("--measurement", action="append", required=True,
                    help="shipped measurement or folder in the same format (repeatable)")
    tu.add_argument("--out", type=Path, required=True, help="output folder (model.safetensors, result.json, predictions)")
    tu.add_argument("--name", help="name of the tuned model (default: MODEL-tuned)")
    tu.add_argument("--steps", type=_count, default=None,
                    help="Adam steps per fit with --trainable >= 1 (default 150; trainable 0 is solved by Gauss-Newton)")
    tu.add_argument("--lr", type=_positive, help="Adam learning rate (default 3e-3)")
    tu.add_argument("--n-events", type=_count, default=None, help="flux-folded prior events per measurement (default 40000)")
    tu.add_argument("--prior-events", type=_count, default=None,
                    help="prior events (uniform E_nu) for the KL penalty (default 20000)")
    tu.add_argument("--trainable", type=int,
                    help="flow transforms trained, the last ones (default 0: sigma(E) and the Q2 shape only, the "
                         "choice of the held-out validation in docs/tuning.md)")
    tu.add_argument("--penalty", choices=("kl", "l2sp"), help="prior penalty (default kl)")
    tu.add_argument("--strength", type=_positive, default=None,
                    help="kl: prior pseudo-events N_p (default 3000); l2sp: alpha")
    tu.add_argument("--xsec-degree", type=int, default=None,
                    help="Legendre degree of the sigma(E) correction, --xsec-basis legendre only (default 3)")
    tu.add_argument("--xsec-basis", choices=("legendre", "gp"), default=None,
                    help="basis of the sigma(E) correction: Legendre polynomials in ln E (global) or a Gaussian process "
                         "in ln E that returns to the prior where no flux reaches (default gp; docs/tuning.md)")
    tu.add_argument("--xsec-length", type=_positive, default=None,
                    help="gp: correlation length of the sigma(E) correction in ln E (default 0.35)")
    tu.add_argument("--xsec-prior", type=_positive, default=None,
                    help="prior sigma of each sigma(E) coefficient (default 0.3)")
    tu.add_argument("--shape-degree", type=int, default=None,
                    help="Legendre degree L of the Q2-shape correction, split at the N-pi threshold in W (default 2; "
                         "0: off; docs/tuning.md)")
    tu.add_argument("--shape-prior", type=_positive, default=None,
                    help="prior sigma of each shape coefficient (default 0.3)")
    tu.add_argument("--shape-length", type=_number(float, 0, what="a length"), default=None,
                    help="the shape dials local in E_nu: a Gaussian process in ln E_nu with this correlation length, "
                         "back to the prior where no flux reaches (default 1; 0: global dials)")
    tu.add_argument("--blocks", type=int, default=3, help="cross-validation blocks of bins (0: none)")
    tu.add_argument("--cv-blocks", choices=("slices", "interleaved"), default="slices",
                    help="blocks of whole cos-theta slices (extrapolation, default) or every k-th bin (interleaved)")
    tu.add_argument("--calibrate", type=int, default=0,
                    help="pseudo-experiments that measure the held-out chi2's expectation after a fit (default 0)")
    tu.add_argument("--members", type=int, default=0, help="posterior ensemble members (0: none)")
    tu.add_argument("--band-discrepancy", action=argparse.BooleanOptionalAction, default=None,
                    help="widen the Laplace band by the model-discrepancy term that the fit's chi2/nu measures "
                         "(default: on; docs/tuning.md)")
    tu.add_argument("--seed", type=_seed)
    tu.set_defaults(func=_cmd_tune)
