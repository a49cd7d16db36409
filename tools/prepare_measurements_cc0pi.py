"""Copy the public CC0π measurements of ``../shared/data/neutrino_xsec`` into
``src/aiva/data/measurements/<name>/`` in aiva's measurement format (see
``tools/prepare_measurements.py`` and :mod:`aiva.measurements.core`), with a ``README.md``
giving each file's source and the conversions made here:

- ``t2k-cc0pi-2016-CH``: T2K ND280 νμ CC0π on CH, analysis I (K. Abe et al., PRD 93, 112012
  (2016)); ``cross-section_analysisI.txt`` and the sum of its three covariance files
  (statistical, shape systematics, flux normalisation), already in 10⁻³⁸ cm²/(GeV/c)/nucleon;
- ``t2k-cc0pi-2020-O`` / ``t2k-cc0pi-2020-C``: T2K νμ CC0π on oxygen and on carbon from the joint
  O–C fit, unregularised (K. Abe et al., PRD 101, 112004 (2020)); ``LinResult`` and the O and C
  blocks ``covmatrixObin`` / ``covmatrixCbin`` of ``covmatrix_noreg.root`` (ROOT ``TMatrixTSym``:
  the stored elements are the upper triangle, row by row; the CSV conversion in the shared folder
  reads them as a full matrix and is wrong), in 10⁻³⁹ → converted to 10⁻³⁸;
- ``minerva-cc0pi-ptpz-2019-CH``: MINERvA low-energy CCQE-like d²σ/dp_T dp_∥ on CH
  (D. Ruterbories et al., PRD 99, 012004 (2019)); ``pt_pl_cross_section`` (cm²/GeV²/nucleon)
  and ``TotalCovariance`` (global index = i_pT × 12 + i_p∥, as MINERvA and NUISANCE's
  ``MINERvA_CC0pi_XSec_2D_nu::GetLikelihood`` use it; checked here against the histogram's
  errors), × 10³⁸; the 12 bins with zero cross section and zero covariance (high p_T at low
  p_∥: 11 wholly outside θ_μ < 20°, one open only in a sliver p_T < 1.274 GeV/c) are left out, so
  that the covariance is positive definite.

    python tools/prepare_measurements_cc0pi.py [--shared ../shared/data]
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "src" / "aiva" / "data" / "measurements"
T2K_SIGNAL = ("numu CC with no charged or neutral pion of any momentum in the final state (after FSI); any number "
              "of nucleons")


def _write(name: str, meta: dict, header: str, bins: np.ndarray, vals: np.ndarray, cov: np.ndarray,
           readme: str) -> None:
    d = OUT / name
    d.mkdir(parents=True, exist_ok=True)
    errs = np.sqrt(np.diag(cov))
    (d / "measurement.json").write_text(json.dumps(meta, indent=2) + "\n")
    rows = [header] + [f"{i},{b[0]:g},{b[1]:g},{b[2]:g},{b[3]:g},{v:.8g},{e:.8g}"
                       for i, (b, v, e) in enumerate(zip(bins, vals, errs))]
    (d / "data.csv").write_text("\n".join(rows) + "\n")
    np.savetxt(d / "covariance.csv", cov, delimiter=",", fmt="%.7g")
    (d / "README.md").write_text(readme)
    w = np.linalg.eigvalsh(cov)
    total = np.sum(vals * (bins[:, 1] - bins[:, 0]) * (bins[:, 3] - bins[:, 2]))
    print(f"{name}: {len(vals)} bins, flux-integrated {total:.4f} 1e-38 cm2/nucleon, "
          f"covariance eigenvalues {w[0]:.3g} .. {w[-1]:.3g}")


def _t2k_meta(name: str, target: str, desc: str, cite: str, source: str, per: str, extra: dict | None = None) -> dict:
    return {"name": name, "description": desc, "cite": cite, "source": source, "target": target, "probe": "numu",
            "flux": "t2k-nd280-numu", "variables": ["p_mu [GeV/c]", "cos(theta_mu)"], "space": "true",
            "unit": "1e-38 cm^2 / (GeV/c) / nucleon", "per_nucleon_of": per, "last_p_bin_overflow": False,
            "signal": "t2k-cc0pi", "signal_text": T2K_SIGNAL, **(extra or {})}


def t2k_cc0pi_2016(shared: Path) -> None:
    src = shared / "neutrino_xsec/T2K/CC0pi_2016_CH"
    rows = [ln.split("|") for ln in (src / "cross-section_analysisI.txt").read_text().splitlines()[3:] if ln.strip()]
    rng = lambda s: [float(x) for x in re.split(r"\s+-\s+", s.strip())]  # noqa: E731
    bins = np.array([rng(r[1]) + rng(r[2]) for r in rows])
    vals = np.array([float(r[3]) for r in rows])
    n = len(vals)
    cov = np.zeros((n, n))
    for f in ("statisticUncertainty", "shapeSystematics", "fluxNormalizationSystematics"):
        for ln in (src / f"covariance_{f}_analysisI.txt").read_text().splitlines():
            m = re.match(r"^\s*(\d+)\s*-\s*(\d+)\s*\|\s*(\S+)", ln)
            if m:
                cov[int(m[1]), int(m[2])] += float(m[3])
    meta = _t2k_meta("t2k-cc0pi-2016-CH", "C12",
                     "T2K ND280 numu CC0pi double-differential cross section on hydrocarbon (FGD1), analysis I "
                     "(full phase space), d2sigma/dp dcos(theta_mu)",
                     "K. Abe et al. (T2K), Phys. Rev. D 93, 112012 (2016)",
                     "NUISANCEMC/nuisance data/T2K/CC0pi/ (cross-section_analysisI.txt; covariance = sum of "
                     "covariance_{statisticUncertainty,shapeSystematics,fluxNormalizationSystematics}_analysisI.txt)",
                     "CH", {"nucleons_per_molecule": 13,
                            "note": "per nucleon of CH (13 nucleons); events on C12 with weights per C nucleon are "
                                    "scaled by 12/13 (numu CC on hydrogen has a positive meson in every final state, "
                                    "so it adds no CC0pi)"})
    readme = (f"# {meta['name']}\n\n{meta['cite']}. Source: `{meta['source']}` (copied to the shared data folder "
              "`neutrino_xsec/T2K/CC0pi_2016_CH/`).\n\n"
              "- `data.csv`: the 67 bins of analysis I as released (cos θ slices, p_μ bins up to 30 GeV/c), "
              "d²σ/dp dcosθ in 10⁻³⁸ cm²/(GeV/c)/nucleon of CH; `error` = √diag(covariance).\n"
              "- `covariance.csv`: statistical + shape-systematic + flux-normalisation covariance, (10⁻³⁸)²; "
              "equal (to 1e-9 relative) to `analysis1_totcov` of `T2K_CC0PI_2DPmuCosmu_Data.root`; positive "
              "definite.\n\nMade by `tools/prepare_measurements_cc0pi.py`.\n")
    _write(meta["name"], meta, "bin,cos_lo,cos_hi,p_lo_GeV,p_hi_GeV,xsec,error", bins, vals, cov, readme)


def _tmatrix_sym(path: Path, key: str) -> np.ndarray:
    import uproot

    o = uproot.open(path)[key]
    n = int(o.member("fNrows"))
    e = np.asarray(o.member("fElements"), dtype=np.float64)
    if len(e) != n * (n + 1) // 2:
        raise ValueError(f"{path}:{key}: {len(e)} elements for a symmetric {n}x{n} matrix")
    m = np.zeros((n, n))
    m[np.triu_indices(n)] = e  # ROOT streams a TMatrixTSym as its upper triangle, row by row
    return m + m.T - np.diag(np.diag(m))


def t2k_cc0pi_2020(shared: Path) -> None:
    src = shared / "neutrino_xsec/T2K/CC0pi_2020_O_C"
    bins = np.loadtxt(src / "Binning.txt", comments="//")
    for t, tname, key, nuc in (("O", "O16", "covmatrixObin", "oxygen"), ("C", "C12", "covmatrixCbin", "carbon")):
        csv = src / f"csv_from_root/linear_unreg_results_{t}_nuisance/LinResult.csv"
        vals = np.loadtxt(csv, delimiter=",", skiprows=2)[:, 2] * 0.1  # 1e-39 -> 1e-38
        cov = _tmatrix_sym(src / "covmatrix_noreg.root", key) * 0.01
        name = f"t2k-cc0pi-2020-{t}"
        meta = _t2k_meta(name, tname,
                         f"T2K ND280 numu CC0pi double-differential cross section on {nuc}, from the joint "
                         "oxygen-carbon fit (FGD1 and FGD2), unregularised result, d2sigma/dp dcos(theta_mu)",
                         "K. Abe et al. (T2K), Phys. Rev. D 101, 112004 (2020)",
                         f"NUISANCEMC/nuisance data/T2K/CC0pi/JointO-C/ (linear_unreg_results_{t}_nuisance.root "
                         f"LinResult; covmatrix_noreg.root {key}; Binning.txt)",
                         tname, {"note": f"per nucleon of {nuc}; the {t} block of the joint O-C covariance (the "
                                         "O-C correlations, covmatrixOeCbin, are not used by a single-target "
                                         "prediction); the released values are in 1e-39 and were multiplied by 0.1"})
        readme = (f"# {name}\n\n{meta['cite']}. Source: `{meta['source']}` (copied to the shared data folder "
                  "`neutrino_xsec/T2K/CC0pi_2020_O_C/`).\n\n"
                  "- `data.csv`: the 29 bins of `Binning.txt` (cos θ slices from −1, p_μ bins up to 30 GeV/c) with "
                  "`LinResult` (the unregularised result) × 0.1: the release is in 10⁻³⁹ cm²/(GeV/c)/nucleon "
                  "(its flux-integrated σ is then 0.53 (O) and 0.47 (C) × 10⁻³⁸ cm² per nucleon, next to 0.46 for "
                  f"the 2016 CH result). Per nucleon of {nuc}. The histogram errors in `LinResult` are √content "
                  "placeholders; `error` here is √diag(covariance).\n"
                  f"- `covariance.csv`: `{key}` of `covmatrix_noreg.root` × 0.01 ((10⁻³⁹)² → (10⁻³⁸)²). That "
                  "object is a `TMatrixTSym<double>` whose stored elements are the upper triangle row by row "
                  "(n(n+1)/2 = 435 numbers); it is unpacked here (the `csv_from_root/covmatrix_noreg/*.csv` files "
                  "in the shared folder read the 435 numbers as a full matrix and are not usable). Positive "
                  "definite; the O–C cross-covariance (`covmatrixOeCbin`, 58×58) is not shipped.\n\n"
                  "Made by `tools/prepare_measurements_cc0pi.py`.\n")
        _write(name, meta, "bin,cos_lo,cos_hi,p_lo_GeV,p_hi_GeV,xsec,error", bins, vals, cov, readme)


def minerva_cc0pi_ptpz(shared: Path) -> None:
    import uproot

    src = shared / "neutrino_xsec/MINERvA/CC0pi_2D_ptpz_CH"
    f = uproot.open(src / "cov_ptpl_2D_qelike.root")
    h = f["pt_pl_cross_section"]
    pz, pt = h.axis(0).edges(), h.axis(1).edges()
    nz, nt = len(pz) - 1, len(pt) - 1
    vals = h.values().T.ravel() * 1e38  # global index i_pt * nz + i_pz
    errs = h.errors().T.ravel() * 1e38
    c = f["TotalCovariance"]
    cov = np.asarray(c.member("fElements"), dtype=np.float64).reshape(nz * nt, nz * nt) * 1e76
    if not np.allclose(np.sqrt(np.diag(cov)), errs, rtol=1e-6, atol=0):
        raise ValueError("covariance diagonal does not match the histogram errors in the i_pt * n_pz + i_pz order")
    it, iz = np.divmod(np.arange(nz * nt), nz)
    bins = np.column_stack([pt[it], pt[it + 1], pz[iz], pz[iz + 1]])
    keep = ~((vals == 0) & (np.diag(cov) == 0))
    dropped = [f"p_T {b[0]:g}-{b[1]:g}, p_par {b[2]:g}-{b[3]:g}" for b in bins[~keep]]
    meta = {"name": "minerva-cc0pi-ptpz-2019-CH",
            "description": "MINERvA low-energy numu CCQE-like (CC0pi) double-differential cross section "
                           "d2sigma/dp_T dp_par on hydrocarbon, muon angle < 20 degrees",
            "cite": "D. Ruterbories et al. (MINERvA), Phys. Rev. D 99, 012004 (2019)",
            "source": "NUISANCEMC/nuisance data/MINERvA/CC0pi_2D/cov_ptpl_2D_qelike.root (pt_pl_cross_section, "
                      "TotalCovariance)",
            "target": "C12", "probe": "numu", "flux": "minerva-le-numu", "axes": "pt_pz",
            "variables": ["p_T [GeV/c] (slices)", "p_par [GeV/c]"], "space": "true",
            "unit": "1e-38 cm^2 / (GeV/c)^2 / nucleon", "per_nucleon_of": "CH", "nucleons_per_molecule": 13,
            "last_p_bin_overflow": False, "signal": "minerva-qelike",
            "signal_text": "numu CC, exactly one mu-, theta_mu < 20 deg, no mesons, no heavy (strange or charmed) "
                           "baryons, no photons above 10 MeV, any number of nucleons",
            "bins_left_out": dropped,
            "note": "per nucleon of CH (13 nucleons); events on C12 with weights per C nucleon are scaled by 12/13 "
                    "(numu CC on hydrogen always has a positive meson, so adds no QE-like events); 12 bins at high "
                    "p_T and low p_par (11 wholly outside theta_mu < 20 deg, one open only in a sliver) have zero "
                    "cross section and zero covariance and are left out"}
    readme = (f"# {meta['name']}\n\n{meta['cite']}. Source: `{meta['source']}` (copied to the shared data folder "
              "`neutrino_xsec/MINERvA/CC0pi_2D_ptpz_CH/`).\n\n"
              f"- `data.csv`: slices of p_T (13 bins, 0–2.5 GeV/c) × p_∥ (12 bins, 1.5–20 GeV/c), in the global "
              "order i_pT × 12 + i_p∥ of the covariance; d²σ/dp_T dp_∥ × 10³⁸, i.e. in 10⁻³⁸ cm²/(GeV/c)²/nucleon "
              f"of CH. {len(dropped)} of the 156 bins are left out: zero cross section and zero covariance rows "
              f"(the matrix is singular with them); 11 lie wholly outside θ_μ < 20° (p_T,lo ≥ tan 20° p_∥,hi), "
              f"the last (p_T 1.25–1.5, p_∥ 3–3.5) is open only for p_T < 1.274 GeV/c: {'; '.join(dropped)}.\n"
              "- `covariance.csv`: `TotalCovariance` × 10⁷⁶ on the 144 kept bins; its diagonal equals the "
              "histogram's squared errors (checked); positive definite.\n\n"
              "The medium-energy result (M. F. Carneiro et al., PRL 124, 121801 (2020); "
              "`minerva_cc0pi_ME_ptpz.root`) comes without a covariance in NUISANCE and is not shipped: no χ² "
              "with the full covariance can be made for it.\n\nMade by `tools/prepare_measurements_cc0pi.py`.\n")
    _write(meta["name"], meta, "bin,pt_lo_GeV,pt_hi_GeV,pz_lo_GeV,pz_hi_GeV,xsec,error", bins[keep], vals[keep],
           cov[np.ix_(keep, keep)], readme)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    args = ap.parse_args()
    t2k_cc0pi_2016(Path(args.shared))
    t2k_cc0pi_2020(Path(args.shared))
    minerva_cc0pi_ptpz(Path(args.shared))


if __name__ == "__main__":
    main()
