"""New channels, probes and targets of the reference Monte Carlo (issue #24): coherent π, 2p2h with two
nucleons, NC elastic / Δ / DIS, νe and ν̄e, ⁵⁶Fe and compound targets."""
from dataclasses import replace

import numpy as np
import pytest

from aiva.errors import AivaInputError
from aiva.mc import channels, coherent, delta, nc, twop2h
from aiva.mc.config import get_config
from aiva.physics import constants as C
from aiva.physics.targets import get_compound, get_probe, get_target

CFG = get_config("default")
N = 20_000


def cands(fn, E, target="C12", probe="numu", seed=1, n=N, cfg=CFG):
    return fn(np.full(n, float(E)), get_target(target), get_probe(probe), cfg, np.random.default_rng(seed))


def sigma(fn, E, **kw):
    c = cands(fn, E, **kw)
    return c.weight.mean(), c.weight.std() / np.sqrt(len(c.weight))


def _momentum_balance(c, E):
    """(k + P) − (k′ + Σ hadrons) per candidate, (4, n)."""
    k = np.zeros((4, len(c.El)))
    k[0], k[3] = E, E
    out = c.hadrons.sum_p4() + np.vstack([c.El[None, :], c.pl])
    return k + c.P - out


def test_registered_channel_names():
    for name in ("coh", "nccoh", "mec", "ncel", "ncres", "ncdis"):
        assert name in channels.CHANNELS
    assert channels.CHANNELS["mec"] is twop2h.mec
    from aiva.events.table import MODE_NAMES

    assert {16, 36, 31, 32, 33, 34, 41, 46, 51, 52} <= set(MODE_NAMES)


# ------------------------------------------------------------------------------------------ coherent
#: NuWro (Berger–Sehgal) σ_COH per nucleon on ¹²C, /work/shared/data/nuwro/README.md [cm²]
NUWRO_COH = {0.5: 7.4e-42, 1.0: 4.9e-41, 3.0: 1.7e-40}


@pytest.mark.parametrize("E", sorted(NUWRO_COH))
def test_coherent_cc_carbon_vs_nuwro_berger_sehgal(E):
    s, e = sigma(coherent.coh, E)
    per_nucleon = s / 12 * 1e-38
    assert e < 0.05 * s
    assert per_nucleon == pytest.approx(NUWRO_COH[E], rel=0.35)


def test_coherent_cc_nc_isospin_and_lepton_mass():
    # massless limit (high E): σ_CC = 2 cos²θ_C σ_NC (BS09 eq. 6 vs 7); the muon mass suppresses CC at low E
    cc, _ = sigma(coherent.coh, 20.0)
    ncs, _ = sigma(coherent.nccoh, 20.0)
    assert cc / ncs == pytest.approx(2 * C.COS_CABIBBO**2, rel=0.1)
    cc, _ = sigma(coherent.coh, 0.4)
    ncs, _ = sigma(coherent.nccoh, 0.4)
    assert cc / ncs < 1.0
    # ν̄ = ν for coherent π in the PCAC model; zero without a nucleus
    nub, e = sigma(coherent.coh, 3.0, probe="numubar")
    nu, e2 = sigma(coherent.coh, 3.0, seed=2)
    assert nub == pytest.approx(nu, abs=4 * np.hypot(e, e2))
    assert cands(coherent.coh, 1.0, target="H1", n=100).weight.max() == 0
    below = cands(coherent.coh, 0.2, n=100)  # under the π + μ threshold: zero weight, finite kinematics
    assert below.weight.max() == 0 and np.all(np.isfinite(below.hadrons.E)) and np.all(np.isfinite(below.El))


def test_coherent_kinematics_conserve_four_momentum():
    E = 2.0
    c = cands(coherent.coh, E, n=5000)
    on = c.weight > 0
    assert on.mean() > 0.5
    assert set(np.unique(c.mode)) == {16} and set(np.unique(c.hadrons.pdg)) == {211}
    recoil = _momentum_balance(c, E)[:, on]
    MA = coherent.nucleus_mass(get_target("C12"))
    m_recoil = np.sqrt(recoil[0] ** 2 - np.sum(recoil[1:] ** 2, axis=0))
    assert np.max(np.abs(m_recoil - MA)) < 1e-3  # the recoiling nucleus is on shell: E conserved to < 1 MeV
    w = c.weight[on]
    assert np.sum(w * (recoil[0] - MA > 5e-3)) / np.sum(w) < 0.01  # and it takes little energy (|t|/2M_A)
    assert np.all(np.isfinite(c.hadrons.E)) and np.all(np.isfinite(c.hadrons.px))
    pi = c.hadrons
    assert np.allclose(pi.mass, C.M_PION_CHARGED, atol=1e-6)
    assert np.allclose(c.q0, E - c.El)
    anti = cands(coherent.coh, E, probe="numubar", n=200)
    assert set(np.unique(anti.hadrons.pdg)) == {-211} and set(np.unique(anti.mode)) == {-16}
    ncc = cands(coherent.nccoh, E, n=200)
    assert set(np.unique(ncc.hadrons.pdg)) == {111} and set(np.unique(ncc.mode)) == {36}


def test_pion_nucleon_parametrisation():
    # Δ(1232) peak of π⁺p near p_π ≈ 0.3 GeV (≈ 200 mb) averaged with π⁻p (≈ 70 mb); ≈ 25 mb at high momentum
    p = np.linspace(0.15, 0.6, 200)
    tot, el = coherent.pion_nucleon_xsec(p)
    assert 0.25 < p[np.argmax(tot)] < 0.35 and 110 < tot.max() < 160
    assert np.all(el < tot) and np.all(el > 0)
    hi, hi_el = coherent.pion_nucleon_xsec(np.array([10.0]))
    assert 24 < hi[0] < 28 and 3 < hi_el[0] < 6


# ------------------------------------------------------------------------------------------ 2p2h
#: NuWro (Valencia) σ_MEC per nucleon on ¹²C [cm²]
NUWRO_MEC = {0.5: 2.74e-40, 1.0: 1.08e-39, 3.0: 1.12e-39}


@pytest.mark.parametrize("probe,pair_fraction_pdg", [("numu", (2212, 2212)), ("numubar", (2112, 2112))])
def test_2p2h_two_nucleons_outside_fermi_sea_and_isospin(probe, pair_fraction_pdg):
    E = 1.0
    c = cands(twop2h.mec, E, probe=probe)
    assert set(np.unique(np.abs(c.mode))) == {2}
    h = c.hadrons
    assert np.all(h.counts == 2)
    on = c.weight > 0
    bal = _momentum_balance(c, E)
    assert np.max(np.abs(bal[:, on])) < 1e-6
    kf = get_target("C12").kF
    assert np.all(h.p.reshape(-1, 2)[on] > kf)  # both Pauli-allowed
    assert np.allclose(h.mass.reshape(-1, 2)[on], np.where(h.pdg == 2212, C.M_PROTON, C.M_NEUTRON).reshape(-1, 2)[on],
                       atol=1e-6)
    pdg = h.pdg.reshape(-1, 2)
    same = (pdg[:, 0] == pair_fraction_pdg[0]) & (pdg[:, 1] == pair_fraction_pdg[1])
    frac = np.sum(c.weight * same) / np.sum(c.weight)
    assert frac == pytest.approx(twop2h.F_NP, abs=0.02)
    # the other final state is np
    assert np.all(np.sort(pdg[~same], axis=1) == [2112, 2212])
    # W is the invariant mass of the two nucleons
    assert np.all(c.W[on] > C.M_PROTON + C.M_NEUTRON - 2e-3)


def test_2p2h_normalisation_and_blocking():
    s, _ = sigma(twop2h.mec, 1.0)
    old, _ = sigma(channels.mec, 1.0)
    assert 0.75 < s / old < 1.0  # Pauli blocking of two nucleons removes some of the empirical strength
    for E, ref in NUWRO_MEC.items():
        s, _ = sigma(twop2h.mec, E, n=10_000)
        assert 0.5 < s / 12 * 1e-38 / ref < 2.0  # within a factor 2 of Valencia (see docs/physics_channels.md)
    assert cands(twop2h.mec, 1.0, target="H1", n=100).weight.max() == 0


# ------------------------------------------------------------------------------------------ NC
def test_ncel_bnl_e734_ratio_and_carbon():
    # BNL E734 (Ahrens et al. PRD 35 (1987) 785): σ(νp→νp)/σ(νn→μ⁻p) = 0.153 ± 0.018 for 0.5 < Q² < 1.0 GeV²
    E = 1.3
    p = cands(nc.ncel, E, target="H1", n=40_000)
    q = cands(channels.qe, E, target="n", n=40_000)

    def win(c):
        return np.sum(c.weight * ((c.Q2 > 0.5) & (c.Q2 < 1.0)))

    assert win(p) / win(q) == pytest.approx(0.153, abs=0.03)
    assert set(np.unique(p.mode)) == {51}
    # carbon at 1 GeV: per nucleus NCEL (p + n) / CCQE (n)
    s_nc, _ = sigma(nc.ncel, 1.0)
    s_cc, _ = sigma(channels.qe, 1.0)
    assert 0.28 < s_nc / s_cc < 0.40
    s_nb, _ = sigma(nc.ncel, 1.0, probe="numubar")
    assert 0.4 < s_nb / s_nc < 0.8
    c = cands(nc.ncel, 1.0)
    frac_p = np.sum(c.weight * (c.mode == 51)) / np.sum(c.weight)
    assert 0.4 < frac_p < 0.6


def test_nc_form_factors_limits():
    # Q² = 0: F1^Z,p = ½ − 2 sin²θ_W, F1^Z,n = −½; G_A^Z = ∓½ g_A ... in aiva's sign convention ±½ g_A + ½ Δs
    F1, xF2, GA = nc.nc_nucleon_form_factors(np.array([0.0, 0.0]), np.array([True, False]), 1.03)
    assert F1[0] == pytest.approx(0.5 - 2 * nc.SIN2_THETA_W) and F1[1] == pytest.approx(-0.5)
    kp, kn = C.MU_PROTON - 1, C.MU_NEUTRON
    assert xF2[0] == pytest.approx((0.5 - 2 * nc.SIN2_THETA_W) * kp - 0.5 * kn)
    assert GA[0] == pytest.approx(0.5 * C.G_AXIAL + 0.5 * nc.DELTA_S)
    assert GA[1] == pytest.approx(-0.5 * C.G_AXIAL + 0.5 * nc.DELTA_S)


def test_delta_vector_axial_interference_is_antisymmetric():
    # basis of nc_delta_contracted: the V–A interference sits only in the ε (H^{12}) part
    Q2, W = np.array([0.1, 0.5, 1.2]), np.array([1.15, 1.23, 1.4])
    par = CFG.delta
    hp = delta.hadron_tensor(Q2, W, par)
    hm = delta.hadron_tensor(Q2, W, replace(par, C5A0=-par.C5A0))
    for mu, nu_ in ((0, 0), (0, 3), (3, 3), (1, 1)):
        assert np.allclose(hp[:, mu, nu_].real, hm[:, mu, nu_].real, rtol=1e-10)
    assert np.allclose(hp[:, 1, 2].imag, -hm[:, 1, 2].imag, rtol=1e-10)
    assert np.max(np.abs(hp[:, 1, 2].imag)) > 1e-3 * np.max(np.abs(hp[:, 1, 1].real))


def test_ncres_modes_and_strength():
    c = cands(nc.ncres, 1.0)
    w = c.weight
    m = c.mode
    assert set(np.unique(m)) <= {31, 32, 33, 34}
    hit_p = c.hit_p
    assert np.all(np.isin(m[hit_p], (32, 34))) and np.all(np.isin(m[~hit_p], (31, 33)))
    assert np.sum(w * (m == 32)) / np.sum(w * hit_p) == pytest.approx(2 / 3, abs=0.03)
    assert cands(nc.ncres, 0.4, target="n", n=5000).weight.min() >= 0  # no rounding-negative weights at the edge
    s_nc, _ = sigma(nc.ncres, 1.0)
    s_cc, _ = sigma(channels.res, 1.0)
    assert 0.25 < s_nc / s_cc < 0.5
    # with sin²θ_W = 0 the NC tensor is the CC one at m_ℓ = 0 (no cos²θ_C): contraction identity
    Q2, W, E = np.array([0.3, 0.6]), np.array([1.2, 1.25]), np.array([1.0, 2.0])
    assert np.allclose(nc.nc_delta_contracted(E, Q2, W, False, CFG.delta, sin2w=0.0),
                       delta.contracted(E, Q2, W, 0.0, False, CFG.delta))


@pytest.mark.parametrize("probe,lo,hi", [("numu", 0.27, 0.36), ("numubar", 0.33, 0.45)])
def test_nc_over_cc_at_high_energy(probe, lo, hi):
    # Llewellyn Smith relation R_ν = ½ − s² + 20/27 s⁴ (1 + r) ≈ 0.31 (CHARM 0.3093, CDHS 0.3072),
    # R_ν̄ = ½ − s² + 20/27 s⁴ (1 + 1/r) ≈ 0.38
    E = 20.0
    ncs = sum(sigma(f, E, probe=probe, n=10_000)[0] for f in (nc.ncel, nc.ncres, nc.ncdis))
    ccs = sum(sigma(f, E, probe=probe, n=10_000)[0] for f in (channels.qe, channels.res, channels.dis))
    assert lo < ncs / ccs < hi
    c = cands(nc.ncdis, E, probe=probe, n=2000)
    assert set(np.unique(np.abs(c.mode))) <= {41, 46} and np.all((np.abs(c.mode) == 46) == (c.W >= 2.0))


# ------------------------------------------------------------------------------------------ νe, targets
def test_nue_probes_and_ccqe_ratio():
    nue, nueb = get_probe("nue"), get_probe("nuebar")
    assert (nue.pdg, nue.lepton_pdg, nueb.pdg, nueb.lepton_pdg) == (12, 11, -12, -11)
    assert nue.lepton_mass == C.M_ELECTRON and nueb.is_antineutrino and not nue.is_antineutrino
    assert get_probe("-12") is nueb and get_probe("12") is nue and get_probe("-14").pdg == -14

    def ratio(E, n=N):
        se, _ = sigma(channels.qe, E, probe="nue", n=n)
        sm, _ = sigma(channels.qe, E, probe="numu", n=n)  # same seed: correlated candidates
        return se / sm

    assert ratio(5.0) == pytest.approx(1.0, abs=0.02)  # Day & McFarland PRD 86 (2012) 053003, Fig. 2
    assert ratio(0.3) > 1.1
    c = cands(channels.qe, 0.5, probe="nuebar", n=200)
    assert np.all(c.mode == -1)


def test_fe56_and_compounds():
    fe = get_target("Fe")
    assert (fe.Z, fe.N, fe.A, fe.density) == (26, 30, 56, "2pf") and get_target("56fe") is fe
    # CCQE per neutron on iron within 15 % of carbon at 2 GeV (same free cross section, similar blocking)
    s_fe, _ = sigma(channels.qe, 2.0, target="Fe56", n=10_000)
    s_c, _ = sigma(channels.qe, 2.0, n=10_000)
    assert s_fe / 30 == pytest.approx(s_c / 6, rel=0.15)
    s_lfg, _ = sigma(channels.qe, 2.0, target="Fe56", n=10_000, cfg=get_config("alt"))
    assert s_lfg > 0
    ch = get_compound("CH")
    assert ch.A == 13 and ch.Z == 7
    assert ch.sigma_per_nucleon([12.0, 1.0]) == pytest.approx(1.0)
    h2o = get_compound("water")
    assert h2o.A == 18 and {t.name: k for t, k in h2o.components} == {"H1": 2, "O16": 1}
    f = h2o.fractions([np.array([1.0, 2.0]), np.array([8.0, 8.0])])
    assert np.allclose(sum(f), 1.0) and np.allclose(f[0], [0.2, 4 / 12])
    with pytest.raises(AivaInputError, match="unknown compound"):
        get_compound("CH2O")
    with pytest.raises(AivaInputError, match="components"):
        ch.sigma_per_nucleon([1.0])


def test_new_channels_through_the_generator():
    from aiva.mc import simulate

    t = simulate("C12", "numu", 3000, energy=1.0, seed=5, channels=("qe", "ncel", "coh"))
    modes = set(np.unique(t["Mode"]))
    assert {1, 51, 52} <= modes and modes <= {1, 16, 51, 52}
    xs = t.metadata["xsec_1e-38cm2"]["per_nucleus"]
    assert xs["coh"] / xs["qe"] < 0.05 and xs["ncel"] / xs["qe"] == pytest.approx(0.34, abs=0.06)


@pytest.mark.parametrize("name", ["coh", "nccoh", "mec", "ncel", "ncres", "ncdis"])
def test_same_seed_same_candidates(name):
    a = cands(channels.CHANNELS[name], 2.0, n=500, seed=9)
    b = cands(channels.CHANNELS[name], 2.0, n=500, seed=9)
    c = cands(channels.CHANNELS[name], 2.0, n=500, seed=10)
    for f in ("El", "cos", "weight", "Q2", "q0", "W", "pl", "P"):
        assert getattr(a, f).tobytes() == getattr(b, f).tobytes()
    assert a.El.tobytes() != c.El.tobytes()
    if a.hadrons is not None:
        assert a.hadrons.E.tobytes() == b.hadrons.E.tobytes()
