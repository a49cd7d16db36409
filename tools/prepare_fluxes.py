"""Copy the public flux histograms of ``../shared/data/flux`` into ``src/aiva/data/fluxes``.

Each shipped CSV holds ``x_low,x_high,content`` with ``content`` the flux integrated over the
bin (the published histograms are densities: per 50 MeV for T2K, per GeV or per bin width for
the others; they are multiplied by the bin width here, so the shape is right for unequal bins;
the overall scale follows the source's units × GeV and plays no role in flux averages). Comment
lines carry the provenance. Run from the repository root:

    python tools/prepare_fluxes.py [--shared ../shared/data]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "src" / "aiva" / "data" / "fluxes"
NUIS = "NUISANCEMC/nuisance data/flux (commit c5966524b5b18aad1974e023c0b419db58c135d1)"
# name: (file relative to shared/data, probe, source units, description, citation)
FLUXES = {
    "t2k-nd280-numu": ("flux/NUISANCE/csv_from_root/t2kflux_2016_plus250kA/enu_nd280_numu.csv", "numu",
                       "/cm^2/50MeV/1e21POT", "T2K ND280 numu flux, +250 kA (neutrino mode), 2016 release",
                       "K. Abe et al. (T2K), Phys. Rev. D 87, 012001 (2013)"),
    "t2k-nd280-numubar": ("flux/NUISANCE/csv_from_root/t2kflux_2016_minus250kA/enu_nd280_numub.csv", "numubar",
                          "/cm^2/50MeV/1e21POT", "T2K ND280 anti-numu flux, -250 kA (antineutrino mode), 2016 release",
                          "K. Abe et al. (T2K), Phys. Rev. D 87, 012001 (2013)"),
    "t2k-nd280-numu-ccinc2018": ("neutrino_xsec/T2K/CCinc_2018_C/flux.txt", "numu", "/cm^2/50MeV",
                                 "T2K ND280 numu flux used by the 2018 CC-inclusive carbon measurement (POT-weighted runs)",
                                 "K. Abe et al. (T2K), Phys. Rev. D 98, 012004 (2018)"),
    "microboone-bnb-numu": ("flux/NUISANCE/csv_from_root/BNB_uBooNE_numu_flux_2019/numu.csv", "numu",
                            "per 50 MeV bin", "Booster Neutrino Beam numu flux at MicroBooNE (2019)",
                            "P. Abratenko et al. (MicroBooNE), Phys. Rev. Lett. 123, 131801 (2019)"),
    "miniboone-numu": ("flux/NUISANCE/csv_from_root/MiniBooNE_numu_flux/numu_mb.csv", "numu", "per 50 MeV bin",
                       "Booster Neutrino Beam numu flux at MiniBooNE",
                       "A. A. Aguilar-Arevalo et al. (MiniBooNE), Phys. Rev. D 79, 072002 (2009)"),
    "minerva-le-numu": ("flux/NUISANCE/csv_from_root/minerva_le_flux/numu_fhc.csv", "numu", "per 0.5 GeV bin",
                        "MINERvA low-energy NuMI numu flux, FHC",
                        "L. Aliaga et al. (MINERvA), Phys. Rev. D 94, 092005 (2016)"),
    "minerva-me-numu": ("flux/NUISANCE/csv_from_root/MINERvA_ME_Flux_No_Constraint/"
                        "reweightedflux_rebinned_CV_WithStatErr.csv", "numu", "per GeV (density)",
                        "MINERvA medium-energy NuMI numu flux, FHC, unconstrained",
                        "MINERvA medium-energy flux (NUISANCE MINERvA_ME_Flux_No_Constraint)"),
    "dune-nd-numu": ("flux/NUISANCE/csv_from_root/flux_dune_neutrino_ND/numu_flux.csv", "numu", "per GeV (density)",
                     "DUNE near-detector numu flux, FHC",
                     "DUNE Collaboration, TDR flux (NUISANCE flux_dune_neutrino_ND)"),
    "dune-nd-numubar": ("flux/NUISANCE/csv_from_root/flux_dune_antineutrino_ND/numubar_flux.csv", "numubar",
                        "per GeV (density)", "DUNE near-detector anti-numu flux, RHC",
                        "DUNE Collaboration, TDR flux (NUISANCE flux_dune_antineutrino_ND)"),
    "nova-nd-numu": ("flux/NUISANCE/csv_from_root/NOvA_FHC_Flux_ND_2017/flux_numu.csv", "numu", "per GeV (density)",
                     "NOvA near-detector NuMI numu flux, FHC (2017)",
                     "NOvA Collaboration (NUISANCE NOvA_FHC_Flux_ND_2017)"),
}


def _read(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if path.suffix == ".txt":  # "bin [lo,hi] value" rows after two header lines
        rows = [ln.split() for ln in path.read_text().splitlines()[2:] if ln.strip()]
        lo_hi = np.array([[float(x) for x in r[1].strip("[]").split(",")] for r in rows])
        return lo_hi[:, 0], lo_hi[:, 1], np.array([float(r[2]) for r in rows])
    d = np.loadtxt(path, delimiter=",", skiprows=2, usecols=(0, 1, 2), ndmin=2)
    return d[:, 0], d[:, 1], d[:, 2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (rel, probe, units, desc, cite) in FLUXES.items():
        lo, hi, c = _read(Path(args.shared) / rel)
        c = c * (hi - lo)  # density -> integrated over the bin
        src = NUIS if rel.startswith("flux/NUISANCE") else "NUISANCEMC/nuisance data/T2K/CCinc/nd280data-numu-cc-inc-xs-on-c-2018"
        lines = [f"# name: {name}", f"# probe: {probe}", f"# description: {desc}", f"# cite: {cite}",
                 f"# source: {src}: {Path(rel).name}",
                 f"# content: flux integrated over the bin = source value ({units}) x bin width [GeV]",
                 "x_low,x_high,content"]
        lines += [f"{a:.6g},{b:.6g},{v:.8g}" for a, b, v in zip(lo, hi, c)]
        (OUT / f"{name}.csv").write_text("\n".join(lines) + "\n")
        print(f"{name}: {len(c)} bins, {lo[0]:g}-{hi[-1]:g} GeV, mean E {np.sum(c * (lo + hi) / 2) / c.sum():.3f} GeV")


if __name__ == "__main__":
    main()
