"""The joint (nucleus-conditioned) electron-scattering model, Coulomb distortion (EMA), predictions
for any nucleus, the MC's electron mode, and the new escat options."""
import math
import warnings

import numpy as np
import pytest
import torch

from aiva.cli import main
from aiva.errors import AivaInputError
from aiva.escat.data import EData, split
from aiva.escat.fit import chi2_terms
from aiva.escat.joint import (coulomb_potential, concat, ema_correct, fit_joint, joint_fit_config,
                               load_nucleus, nucleus_distance, parse_nucleus, save_joint)
from aiva.escat.model import features


def test_ema_potential_and_correction_hand_computed():
    # 197Au: R = 1.2 * 197^(1/3) = 6.98238 fm; V0 = 1.5 * 79 * 1.439964 MeV fm / R = 24.438 MeV; x 0.8
    R = 1.2 * 197 ** (1 / 3)
    assert R == pytest.approx(6.98238, rel=1e-5)
    V = 0.8 * 1.5 * 79 * (0.1973269804 / 137.035999084) / R
    assert V == pytest.approx(0.0195505, rel=1e-4)
    assert float(coulomb_potential(79, 197)) == pytest.approx(V, rel=1e-12)
    d = EData("Au197", 79, 197, np.array([2.0]), np.radians([30.0]), np.array([0.5]), np.array([100.0]),
              np.array([5.0]), np.array(["x"]))
    c = ema_correct(d)
    focus = ((2.0 + V) / 2.0) ** 2  # 1.019645...
    assert c.E[0] == pytest.approx(2.0195505, rel=1e-6)
    assert c.omega[0] == 0.5 and c.theta[0] == d.theta[0]
    assert c.xsec[0] == pytest.approx(100.0 / focus) and c.err[0] == pytest.approx(5.0 / focus)
    assert float(coulomb_potential(6, 12)) * 1e3 == pytest.approx(3.774, abs=1e-3)


def test_nucleus_features_and_parsing():
    x = features(np.array([1.0, 1.0]), np.array([0.3, 0.3]), np.radians([30.0, 30.0]), "prc110+log+nucleus",
                 Z=np.array([6, 79]), A=np.array([12, 197]))
    assert x.shape == (2, 11)
    assert x[0, 8] == pytest.approx(math.log(12) / 5) and x[1, 9] == pytest.approx(79 / 197)
    assert features(np.array([1.0]), np.array([0.3]), np.radians([30.0]), "prc110+log+nucleus+threshold",
                    Z=6, A=12).shape == (1, 13)
    with pytest.raises(AivaInputError):
        features(np.array([1.0]), np.array([0.3]), np.radians([30.0]), "prc110+log+nucleus")
    assert parse_nucleus("208Pb") == ("Pb208", 82, 208) and parse_nucleus("u-238") == ("U238", 92, 238)
    for bad in ("Xx12", "C", "Pb3"):
        with pytest.raises(AivaInputError):
            parse_nucleus(bad)
    d, near = nucleus_distance(82, 208, [("Au197", 79, 197), ("C12", 6, 12)])
    assert near == "Au197" and d == pytest.approx(math.hypot(math.log(208 / 197), (82 / 208 - 79 / 197) / 0.1))


def test_tiny_joint_fit_converges_and_distinguishes_two_nuclei():
    """O16 and Al27 (small tables) fitted together: the fit converges and predicts each nucleus
    better conditioned on itself than on the other."""
    torch.manual_seed(0)
    jm, splits = fit_joint(["O16", "Al27"], members=2, steps=1500, test_fraction=0.0, threads=1,
                           inputs="prc110+log+nucleus")
    assert len(jm.model.card["history"]) > 0
    own, swapped = {}, {}
    for t, (tr, _) in splits.items():
        own[t] = jm.chi2(tr)["chi2_per_N"]
        other = [(Z, A) for n, Z, A in jm.nuclei if n != t][0]
        swapped[t] = chi2_terms(jm.at(*other), tr)["chi2_per_N"]
    first = jm.model.card["history"][0]["oob_chi2_per_N_median"]
    assert max(own.values()) < first / 5, (own, first)
    for t in own:
        assert own[t] < swapped[t], (t, own, swapped)


def test_predict_unfitted_nucleus_warns_with_distance(tmp_path):
    jm, _ = fit_joint(["O16", "Al27"], members=2, steps=60, test_fraction=0.0, threads=1)
    path = save_joint(jm, tmp_path / "escat-joint")
    out = tmp_path / "pb.csv"
    with pytest.warns(UserWarning, match=r"Pb208 .*not among the fitted nuclei.*distance [0-9.]+ to the nearest, Al27"):
        assert main(["escat", "predict", "--model", str(path), "--target", "Pb208", "--energy", "1.0", "--angle",
                     "30", "--omega", "0.05", "0.8", "--points", "5", "-o", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "omega_GeV,xsec,xsec_std,valid" and len(lines) == 6
    # the band is widened by kappa * distance of sigma in quadrature
    mean, std, _ = jm.predict(82, 208, np.full(3, 1.0), np.array([0.2, 0.3, 0.4]), np.radians([30.0] * 3), warn=False)
    mean0, std0, _ = jm.predict(82, 208, np.full(3, 1.0), np.array([0.2, 0.3, 0.4]), np.radians([30.0] * 3),
                                warn=False, widen=False)
    dist, _ = jm.distance(82, 208)
    assert np.allclose(std, np.sqrt(std0**2 + (jm.kappa * dist * mean0) ** 2))
    # a fitted nucleus: no distance warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        jm.predict(8, 16, np.array([1.0]), np.array([0.3]), np.radians([32.0]), warn=False)


def test_coulomb_prediction_is_the_corrected_fit_frame():
    """χ² of the network against EMA-corrected data equals that of the distorted prediction against
    the measured data."""
    jm, _ = fit_joint(["O16"], members=2, steps=40, test_fraction=0.0, threads=1)
    raw = load_nucleus("O16", coulomb=False)
    cor = load_nucleus("O16", coulomb=True)
    mean, _, _ = jm.predict(8, 16, raw.E, raw.omega, raw.theta, warn=False)
    c_raw = np.mean(((mean - raw.xsec) / raw.err) ** 2)
    view = jm.at(8, 16)
    m2, _ = view.predict(cor.E, cor.omega, cor.theta, warn=False)
    assert c_raw == pytest.approx(np.mean(((m2 - cor.xsec) / cor.err) ** 2), rel=1e-5)


def test_joint_fit_config_scales_epochs_with_points():
    f = joint_fit_config(12_800, members=4, steps=10_000)
    assert f.epochs == 100 and f.warmup_epochs == 15 and f.members == 4


def test_concat_keeps_per_point_nucleus():
    a, b = load_nucleus("O16"), load_nucleus("Li6")
    j = concat([a, b])
    assert len(j) == len(a) + len(b) and set(np.unique(j.A)) == {6, 16}
    tr, te = split(j, 0.5, 1)
    assert len(tr.A) == len(tr) and len(te.Z) == len(te)


# --- the MC's electron mode --------------------------------------------------------------------

def test_mott_cross_section_known_value():
    from aiva.mc.electron import mott

    # alpha^2 cos^2(15 deg) / (4 E^2 sin^4(15 deg)) (hbar c)^2 at E = 1 GeV = 1.0778 microbarn/sr
    assert float(mott(1.0, math.radians(30))) == pytest.approx(1077.8, rel=1e-4)


def test_electron_qe_reduces_to_rosenbluth_and_peaks_at_q2_over_2m():
    from aiva.mc.electron import mott, qe
    from aiva.mc.formfactors import sachs
    from aiva.physics.targets import Target

    M = 0.5 * (0.93827208816 + 0.93956542052)
    E, th = 1.0, math.radians(30)
    # a (nearly) free proton: the omega integral is the Rosenbluth cross section
    w = np.linspace(0.05, 0.3, 20001)
    s = qe(E, th, w, Target("p", 1, 0, 0.005, 0.0))
    Ep = E / (1 + 2 * E / M * math.sin(th / 2) ** 2)
    Q2 = 4 * E * Ep * math.sin(th / 2) ** 2
    tau = Q2 / (4 * M * M)
    GE, GM, _, _ = sachs(Q2)
    ros = mott(E, th) * Ep / E * ((GE**2 + tau * GM**2) / (1 + tau) + 2 * tau * GM**2 * math.tan(th / 2) ** 2)
    assert np.trapezoid(s, w) == pytest.approx(float(ros), rel=2e-3)
    # carbon: the QE peak sits near Q^2/2M plus the binding energy, within the Fermi width
    w = np.linspace(0.02, 0.5, 481)
    s = qe(E, th, w, "C12")
    peak = w[np.argmax(s)]
    Q2p = 4 * E * (E - peak) * math.sin(th / 2) ** 2
    assert abs(peak - (Q2p / (2 * M) + 0.025)) < 0.02
    assert s[np.argmax(s)] > 0 and s[0] == 0.0  # below the Fermi-gas threshold


def test_electron_delta_peaks_at_the_delta():
    from aiva.mc.electron import delta, regions

    E, th = 1.0, math.radians(37.5)
    w = np.linspace(0.2, 0.7, 26)
    s = delta(E, th, w, "C12", n_nucleons=400)
    peak = w[np.argmax(s)]
    Q2 = 4 * E * (E - peak) * math.sin(th / 2) ** 2
    W = math.sqrt(0.9389**2 + 2 * 0.9389 * peak - Q2)
    assert 1.15 < W < 1.3
    assert list(regions(np.full(3, 1.0), np.full(3, th), np.array([0.15, 0.32, peak]))) == ["QE", "dip", "Delta"]


# --- options -----------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, option", [
    (["escat", "fit", "--threads", "0"], "--threads"),
    (["escat", "fit", "--split-seed", "-1"], "--split-seed"),
    (["escat", "transfer", "--members", "0"], "--members"),
    (["escat", "transfer", "--threads", "x"], "--threads"),
    (["escat", "joint", "--members", "-3"], "--members"),
    (["escat", "joint", "--steps", "0"], "--steps"),
    (["escat", "joint", "--seed", "1.5"], "--seed"),
])
def test_bad_escat_options_exit_2_naming_the_option(argv, option, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and option in err[0]


def test_predict_bad_nucleus_exits_2(tmp_path, capsys):
    assert main(["escat", "predict", "--model", "escat-C12", "--target", "Xx12", "--energy", "1", "--angle", "30",
                 "--omega", "0.1", "0.5", "-o", str(tmp_path / "x.csv")]) == 0  # a per-nucleus model ignores --target
    rc = main(["escat", "predict", "--target", "Qq12", "--energy", "1", "--angle", "30", "--omega", "0.1", "0.5",
               "-o", str(tmp_path / "x.csv")])
    assert rc == 2
    assert "Qq12" in capsys.readouterr().err


def test_transfer_members_subset_rejects_too_many():
    from aiva.escat.run import transfer

    with pytest.raises(AivaInputError, match="--members 99"):
        transfer(target="O16", members=99, baselines=False, progress=False, epochs=1)
