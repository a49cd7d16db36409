"""Copy the public CC-inclusive measurements of ``../shared/data/neutrino_xsec`` into
``src/aiva/data/measurements/<name>/`` in aiva's measurement format:

- ``measurement.json``: name, description, citation, source, target, probe, flux (a shipped flux
  name), variables and units, ``last_p_bin_overflow``;
- ``data.csv``: ``bin,cos_lo,cos_hi,p_lo_GeV,p_hi_GeV,xsec,error`` with d²σ/dp dcosθ in
  10⁻³⁸ cm²/(GeV/c)/nucleon;
- ``covariance.csv``: the full covariance matrix, (10⁻³⁸ cm²/(GeV/c)/nucleon)², row by row;
- ``smearing.csv`` (when the result is in reconstructed variables): S[reco, true];
- ``predictions.csv`` (when the release has them): ``bin,<generator>,…``, the collaboration's own
  generator predictions in the same binning and unit (key ``predictions`` of measurement.json
  names their source).

    python tools/prepare_measurements.py [--shared ../shared/data]
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "src" / "aiva" / "data" / "measurements"


def _write(name: str, meta: dict, bins: np.ndarray, vals: np.ndarray, errs: np.ndarray, cov: np.ndarray,
           smear: np.ndarray | None = None, predictions: dict[str, np.ndarray] | None = None) -> None:
    d = OUT / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "measurement.json").write_text(json.dumps(meta, indent=2) + "\n")
    rows = ["bin,cos_lo,cos_hi,p_lo_GeV,p_hi_GeV,xsec,error"]
    rows += [f"{i},{b[0]:g},{b[1]:g},{b[2]:g},{b[3]:g},{v:.8g},{e:.8g}" for i, (b, v, e) in enumerate(zip(bins, vals, errs))]
    (d / "data.csv").write_text("\n".join(rows) + "\n")
    np.savetxt(d / "covariance.csv", cov, delimiter=",", fmt="%.8g")
    if smear is not None:
        np.savetxt(d / "smearing.csv", smear, delimiter=",", fmt="%.8g")
    if predictions:
        labs = list(predictions)
        rows = ["bin," + ",".join(labs)]
        rows += [f"{i}," + ",".join(f"{predictions[lab][i]:.8g}" for lab in labs) for i in range(len(vals))]
        (d / "predictions.csv").write_text("\n".join(rows) + "\n")
    print(f"{name}: {len(vals)} bins; diagonal errors agree with the covariance to "
          f"{np.max(np.abs(np.sqrt(np.diag(cov)) / errs - 1)):.2e}")


def t2k_ccinc_2018(shared: Path) -> None:
    src = shared / "neutrino_xsec/T2K/CCinc_2018_C"
    rows = [ln.split() for ln in (src / "data_unfold_with_neut.txt").read_text().splitlines()[2:] if ln.strip()]
    rng = lambda s: [float(x) for x in s.strip("[]").split(",")]  # noqa: E731
    bins = np.array([rng(r[1]) + rng(r[2]) for r in rows])
    vals = np.array([float(r[3]) for r in rows]) * 0.1  # 1e-39 -> 1e-38
    errs = np.array([float(r[4]) for r in rows]) * 0.1
    cov_rows = [ln for ln in (src / "covariance_matrix_neut.txt").read_text().splitlines()
                if re.match(r"^\s*\d+\s*\|", ln)]
    cov = np.array([[float(x) for x in ln.split("|")[1:] if x.strip()] for ln in cov_rows]) / 1e-76  # cm^4 -> (1e-38)^2
    meta = {"name": "t2k-ccinc-2018-C", "description": "T2K ND280 numu CC-inclusive double-differential cross section "
            "on carbon, d2sigma/dp dcos(theta_mu), unfolded with the NEUT prior",
            "cite": "K. Abe et al. (T2K), Phys. Rev. D 98, 012004 (2018)",
            "source": "NUISANCEMC/nuisance data/T2K/CCinc/nd280data-numu-cc-inc-xs-on-c-2018 "
                      "(data_unfold_with_neut.txt, covariance_matrix_neut.txt)",
            "target": "C12", "probe": "numu", "flux": "t2k-nd280-numu-ccinc2018",
            "variables": ["p_mu [GeV/c]", "cos(theta_mu)"], "space": "true",
            "unit": "1e-38 cm^2 / (GeV/c) / nucleon (converted from 1e-39)", "last_p_bin_overflow": False}
    preds = _t2k_release_predictions(src, bins)
    meta["predictions"] = {lab: f"histograms.root: hist_xsec_{key}_cthbin0..10 (the release README: the predicted "
                           f"flux-integrated double differential cross section in {lab})"
                           for lab, key in (("NEUT 5.3.2", "neut"), ("GENIE 2.8.0", "genie"))}
    _write("t2k-ccinc-2018-C", meta, bins, vals, errs, cov, predictions=preds)


def _t2k_release_predictions(src: Path, bins: np.ndarray) -> dict[str, np.ndarray]:
    """NEUT 5.3.2 and GENIE 2.8.0 of the release's histograms.root (its CSV conversion), one
    histogram per cos θ slice, in the data's bin order; the edges must be the data's."""
    out = {}
    for lab, key in (("NEUT 5.3.2", "neut"), ("GENIE 2.8.0", "genie")):
        rows = []
        for k in range(11):
            f = src / "csv_from_root" / "histograms" / f"hist_xsec_{key}_cthbin{k}.csv"
            rows += [[float(x) for x in ln.split(",")] for ln in f.read_text().splitlines()
                     if ln and not ln.startswith(("#", "x_low"))]
        t = np.array(rows)
        # (the cos θ slice of each histogram is in its title only; the p edges and the row count
        # are checked against the data, whose slices come in the same order)
        if len(t) != len(bins) or not np.allclose(t[:, :2], bins[:, 2:4]):
            raise SystemExit(f"{src}: the {lab} histograms' p edges are not the data's")
        out[lab] = t[:, 2] * 0.1  # 1e-39 -> 1e-38
    return out


def _th2(path: Path, n: int) -> np.ndarray:
    d = np.loadtxt(path, delimiter=",", skiprows=2)
    m = np.zeros((int(d[:, 1].max()), int(d[:, 3].max())))
    for r in d:
        m[int(r[0]), int(r[2])] = r[4]
    return m[:n, :n]


def microboone_ccinc_2019(shared: Path) -> None:
    src = shared / "neutrino_xsec/MicroBooNE/CCinc_2019_Ar"
    csv = src / "csv_from_root/microboone_numu_cc_inclusive"
    x = np.loadtxt(csv / "xsec_data.csv", delimiter=",", skiprows=2)
    n = len(x)
    b = np.loadtxt(src / "bin_definitions_pmu_costheta.csv", delimiter=",", skiprows=2)
    bins = b[:, 1:5]
    cov = _th2(csv / "covariance_matrix.csv", n)
    smear = _th2(csv / "smearing_matrix.csv", n)  # TH2 bin (reco, true), as NUISANCE reads it
    meta = {"name": "microboone-ccinc-2019-Ar", "description": "MicroBooNE numu CC-inclusive double-differential "
            "cross section on argon in reconstructed p_mu, cos(theta_mu); predictions are folded with the "
            "smearing matrix S[reco, true] applied to bin-integrated true-space cross sections",
            "cite": "P. Abratenko et al. (MicroBooNE), Phys. Rev. Lett. 123, 131801 (2019)",
            "source": "NUISANCEMC/nuisance data/MicroBooNE/CCinc/microboone_numu_cc_inclusive.root (xsec_data, "
                      "covariance_matrix, smearing_matrix); bin edges from NUISANCE MicroBooNE_CCInc_XSec_2DPcos_nu",
            "target": "Ar40", "probe": "numu", "flux": "microboone-bnb-numu",
            "variables": ["p_mu [GeV/c]", "cos(theta_mu)"], "space": "reconstructed",
            "unit": "1e-38 cm^2 / (GeV/c) / nucleon", "last_p_bin_overflow": False,
            "note": "as in NUISANCE, events with p_mu above 2.5 GeV/c (the last edge) are not counted"}
    _write("microboone-ccinc-2019-Ar", meta, bins, x[:, 2], np.sqrt(np.diag(cov)), cov, smear)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    args = ap.parse_args()
    t2k_ccinc_2018(Path(args.shared))
    microboone_ccinc_2019(Path(args.shared))


if __name__ == "__main__":
    main()
