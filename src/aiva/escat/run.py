"""File-level entry points of ``aiva escat``: fit, transfer, predict, plot."""
from __future__ import annotations

import logging
import json
from pathlib import Path

import numpy as np

from aiva.errors import AivaInputError
from aiva.escat.data import (PAPER_EXCLUDED, EData, apply_cut, exclude_datasets, load_csv, load_target, split,
                              with_error_floor)
from aiva.escat.fit import FitConfig, XsecModel, chi2_terms, finetune_config, fit
from aiva.escat.io import load_xsec_model, save_xsec_model
from aiva.escat.model import ESConfig
from aiva.utils import atomic_write_text

log = logging.getLogger(__name__)


def _data(target: str | None, data: str | None, exclude=None, err_floor: float = 0.0) -> tuple[EData, int]:
    """Load, drop excluded data sets (default for shipped data: those the papers did not use),
    add the optional error floor, apply the low-omega cut."""
    if data:
        d = load_csv(data, target=target)
    elif target:
        d = load_target(target)
        if exclude is None:
            exclude = PAPER_EXCLUDED.get(d.target, [])
    else:
        raise AivaInputError("give --target (shipped data) or --data my.csv")
    d, _ = exclude_datasets(d, exclude or [])
    return apply_cut(with_error_floor(d, err_floor))


def fit_target(*, target="C12", data=None, out="escat_C12", test_fraction=0.1, split_seed=1, members=None,
               epochs=None, blocks=None, width=None, dropout=None, seed=None, max_minutes=None, progress=True,
               half=False, resample=None, err_floor=0.0, inputs=None, activation=None, threads=None) -> dict:
    d, n_cut = _data(target, data, err_floor=err_floor)
    tr, te = split(d, 1 - test_fraction, split_seed)
    net_opts = {"blocks": blocks, "width": width, "dropout": dropout, "inputs": inputs, "activation": activation}
    cfg = ESConfig(**{k: v for k, v in net_opts.items() if v is not None})  # validated in ESConfig
    fcfg = FitConfig()
    for key, val in (("members", members), ("epochs", epochs), ("seed", seed), ("max_minutes", max_minutes),
                     ("resample", resample), ("threads", threads)):
        if val is not None:
            setattr(fcfg, key, val)
    if cfg.dropout > 0 and fcfg.members == 1:
        fcfg.bootstrap = False
    if progress:
        log.info(f"{d.target}: {len(d)} points after the low-omega cut ({n_cut} removed); train {len(tr)}, test {len(te)}")
        for note in d.notes:
            log.info(" ".join(str(x) for x in ("note:", note)))
    m = fit(tr, cfg, fcfg, progress=progress)
    res = {"target": d.target, "n_points": len(d), "n_cut": n_cut, "n_train": len(tr), "n_test": len(te),
           "err_floor": err_floor,
           "train": chi2_terms(m, tr), "test": chi2_terms(m, te), "seconds": m.card["seconds"],
           "lambda_mean": dict(zip(m.datasets, m.lam.mean(axis=0).round(4).tolist()))}
    if cfg.dropout > 0 and fcfg.members == 1:
        res["test_mc_dropout"] = _mc_dropout_terms(m, te)
    out = Path(out)
    save_xsec_model(m, out / f"escat-{d.target}", half=half, extra={"name": f"escat-{d.target}", "metrics": res})
    atomic_write_text(out / "metrics.json", json.dumps(res, indent=2) + "\n")
    if progress:
        log.info(f"test chi2/N {res['test']['chi2_per_N']:.3f} (N = {len(te)}); 1-sigma coverage: band "
              f"{res['test']['coverage_band']:.2f}, band (+) point error "
              f"{res['test']['coverage_band_plus_point_error']:.2f}")
    return res


def _mc_dropout_terms(m: XsecModel, d: EData, passes: int = 50) -> dict:
    mean, std = m.predict(d.E, d.omega, d.theta, mc_dropout=passes, warn=False)
    pos = {k: i for i, k in enumerate(m.datasets)}
    lam = np.array([m.lam[0, pos[k]] if k in pos else 1.0 for k in d.dataset])
    pull = (lam * mean - d.xsec) / d.err
    return {"chi2_per_N": float(np.mean(pull**2)),
            "coverage_band": float(np.mean(np.abs(lam * mean - d.xsec) <= lam * std))}


def transfer(*, base="C12", target=None, data=None, out=None, train_fraction=0.1, blocks="all", split_seed=1,
             epochs=None, seed=None, baselines=True, progress=True, base_model=None, err_floor=0.0, members=None,
             threads=None) -> dict:
    d, n_cut = _data(target, data, err_floor=err_floor)
    tr, te = split(d, train_fraction, split_seed)
    if progress:
        for note in d.notes:
            log.info(" ".join(str(x) for x in ("note:", note)))
    parent = base_model if base_model is not None else load_xsec_model(base)
    if members is not None:  # the first K members of the parent (members keep their activation)
        if not 1 <= members <= parent.net.members:
            raise AivaInputError(f"--members {members}: the base model has {parent.net.members} members")
        parent = XsecModel(parent.net.subset(range(members)), parent.A, parent.target, parent.datasets,
                           parent.lam[:members], parent.domain, parent.card, parent.Z)
    fcfg = finetune_config(parent, epochs, seed)
    fcfg.threads = threads
    tuned = fit(tr, None, fcfg, init=parent, train_blocks=blocks, progress=progress)
    res = {"target": d.target, "base": parent.card.get("name", base), "train_fraction": train_fraction,
           "err_floor": err_floor,
           "blocks": blocks, "n_train": len(tr), "n_test": len(te), "test": chi2_terms(tuned, te),
           "train": chi2_terms(tuned, tr), "seconds": tuned.card["seconds"]}
    if baselines:
        scaled = XsecModel(parent.net, d.A, d.target, [], np.ones((parent.net.members, 0)), parent.domain, parent.card)
        res["baseline_carbon_scaled"] = chi2_terms(scaled, te, fit_lambda=False)
        # from scratch: twice the fine-tuning epochs, the first half as log-residual warm-up
        scfg = FitConfig.from_dict(parent.card.get("fit", {}))
        scfg.epochs, scfg.warmup_epochs, scfg.seed = 2 * fcfg.epochs, fcfg.epochs, fcfg.seed
        scratch = fit(tr, ESConfig.from_dict(parent.card["config"]), scfg, progress=False)
        res["baseline_scratch"] = chi2_terms(scratch, te)
    if out:
        out = Path(out)
        save_xsec_model(tuned, out / f"escat-{d.target}", half=True,
                        extra={"name": f"escat-{d.target}", "parent": res["base"], "metrics": res})
        atomic_write_text(out / f"transfer_{d.target}.json", json.dumps(res, indent=2) + "\n")
    if progress:
        msg = f"{d.target} ({train_fraction:.0%} train, blocks {blocks}): test chi2/N {res['test']['chi2_per_N']:.3f}"
        if baselines:
            msg += (f"; scratch {res['baseline_scratch']['chi2_per_N']:.3f}; carbon x A/12 "
                    f"{res['baseline_carbon_scaled']['chi2_per_N']:.3f}")
        log.info(msg)
    return res


def predict_to_csv(*, model, energy, angle_deg, omega, points, output, mc_dropout=0, target=None):
    """``model`` None: the per-nucleus model escat-<target> where one is shipped, else the joint
    model (any nucleus, band widened with the distance to the fitted ones)."""
    from aiva.escat.io import resolve_xsec_model
    from aiva.escat.joint import is_joint

    if model is None:
        model = f"escat-{target}"
        try:
            resolve_xsec_model(model)
        except AivaInputError:
            from aiva.escat.joint import parse_nucleus

            parse_nucleus(target)  # a bad nucleus is named before any model is looked for
            model = "escat-joint"
    if is_joint(model):
        return _predict_joint(model=model, target=target or "C12", energy=energy, angle_deg=angle_deg, omega=omega,
                              points=points, output=output)
    m = load_xsec_model(model)
    lo, hi = omega
    if not (0 <= lo < hi < energy):
        raise AivaInputError(f"--omega {lo} {hi}: need 0 <= OMIN < OMAX < E = {energy} GeV")
    if not (0 < angle_deg <= 180):
        raise AivaInputError(f"--angle {angle_deg}: need 0 < angle <= 180 degrees")
    w = np.linspace(lo, hi, points)
    mean, std = m.predict(np.full(points, energy), w, np.full(points, np.radians(angle_deg)), mc_dropout=mc_dropout)
    text = "omega_GeV,xsec,xsec_std\n" + "\n".join(f"{a:.6g},{b:.6g},{c:.6g}" for a, b, c in zip(w, mean, std)) + "\n"
    atomic_write_text(output, text)
    log.info(f"wrote {points} points of d2sigma/dOmega/domega [nb/(sr GeV) per nucleus] for {m.target} at E = {energy} "
          f"GeV, theta = {angle_deg} deg to {output}")
    return w, mean, std


def _predict_joint(*, model, target, energy, angle_deg, omega, points, output):
    import warnings

    from aiva.escat.joint import NEAR, load_joint, parse_nucleus

    name, Z, A = parse_nucleus(target)
    jm = load_joint(model)
    lo, hi = omega
    if not (0 <= lo < hi < energy):
        raise AivaInputError(f"--omega {lo} {hi}: need 0 <= OMIN < OMAX < E = {energy} GeV")
    dist, nearest = jm.distance(Z, A)
    fitted = {n for n, _, _ in jm.nuclei}
    if name not in fitted:
        widen = f"band widened by {jm.kappa * dist:.1%} of sigma in quadrature" if dist > NEAR else \
            "band not widened (within the fitted nuclei's neighbourhood)"
        warnings.warn(f"{name} (Z = {Z}, A = {A}) is not among the fitted nuclei ({', '.join(sorted(fitted))}): "
                      f"distance {dist:.3f} to the nearest, {nearest} (sqrt(dlnA^2 + (d(Z/A)/0.1)^2)); {widen}",
                      stacklevel=2)
    w = np.linspace(lo, hi, points)
    mean, std, valid = jm.predict(Z, A, np.full(points, energy), w, np.full(points, np.radians(angle_deg)))
    text = "omega_GeV,xsec,xsec_std,valid\n" + "\n".join(
        f"{a:.6g},{b:.6g},{c:.6g},{int(v)}" for a, b, c, v in zip(w, mean, std, valid)) + "\n"
    atomic_write_text(output, text)
    log.info(f"wrote {points} points of d2sigma/dOmega/domega [nb/(sr GeV) per nucleus] for {name} (joint model, "
          f"Coulomb distortion {'on' if jm.coulomb else 'off'}; {int(valid.sum())} of {points} inside the validity "
          f"domain) at E = {energy} GeV, theta = {angle_deg} deg to {output}")
    return w, mean, std


def fit_joint_cli(*, out="escat_models", members=10, steps=40_000, seed=1, split_seed=1, threads=None, coulomb=True,
                  exclude=(), inputs="prc110+log+nucleus", progress=True) -> dict:
    """`aiva escat joint`: fit the nucleus-conditioned model on every shipped target, save it."""
    from aiva.escat.data import spectrum_edges
    from aiva.escat.joint import fit_joint, save_joint

    jm, splits = fit_joint(exclude=exclude, members=members, steps=steps, seed=seed, split_seed=split_seed,
                           coulomb=coulomb, inputs=inputs, threads=threads, progress=progress)
    res = {t: {k: v for k, v in jm.chi2(te, edge=spectrum_edges(tr, te)).items() if k != "per_dataset"}
           for t, (tr, te) in splits.items() if len(te)}
    path = save_joint(jm, Path(out) / "escat-joint", half=True, extra={"name": "escat-joint", "metrics": res})
    if progress:
        for t, r in res.items():
            log.info(f"{t}: test chi2/N {r['chi2_per_N']:.3f} (N = {r['N']})")
        log.info(f"wrote {path}")
    return res


def plot_model(*, model, target=None, data=None, output="escat.png", max_panels=12):
    from aiva.report.plots import _mpl
    from aiva.utils import atomic_path

    m = load_xsec_model(model)
    d, _ = _data(target or m.target, data)
    settings = sorted({(round(float(e), 4), round(float(np.degrees(t)), 3)) for e, t in zip(d.E, d.theta)})
    settings = settings[:: max(1, len(settings) // max_panels)][:max_panels]
    plt = _mpl()
    ncol = 4
    nrow = (len(settings) + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(6 * ncol, 4.5 * nrow), squeeze=False)
    for ax, (E, th) in zip(axes.flat, settings):
        sel = (np.abs(d.E - E) < 1e-4) & (np.abs(np.degrees(d.theta) - th) < 1e-3)
        w = np.linspace(d.omega[sel].min() * 0.9, d.omega[sel].max() * 1.05, 200)
        mean, std = m.predict(np.full(200, E), w, np.full(200, np.radians(th)), warn=False)
        ax.fill_between(w, mean - std, mean + std, alpha=0.4, color="C1", label="model ±1σ")
        ax.plot(w, mean, color="C1")
        ax.errorbar(d.omega[sel], d.xsec[sel], yerr=d.err[sel], fmt="k.", ms=3, label="data")
        ax.set_title(f"E = {E:g} GeV, θ = {th:g}°", fontsize=13)
        ax.set_xlabel(r"$\omega$ [GeV]", fontsize=12)
        ax.set_ylabel(r"d$^2\sigma$/d$\Omega$d$\omega$ [nb/(sr GeV)]", fontsize=11)
    for ax in list(axes.flat)[len(settings):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=11)
    fig.suptitle(f"{m.card.get('name', model)} on {d.target}", fontsize=18)
    fig.tight_layout()
    with atomic_path(output) as tmp:
        fig.savefig(tmp, format="png", dpi=60)
    plt.close(fig)
    log.info(f"wrote {output}")
    return Path(output)
