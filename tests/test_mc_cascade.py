"""Intranuclear cascade (aiva.mc.cascade) and its hadron–nucleon cross sections (aiva.mc.hadron_xsec)."""
from __future__ import annotations

import numpy as np
import pytest

from aiva.errors import AivaInputError
from aiva.events.particles import ParticleList
from aiva.mc import cascade as K
from aiva.mc import hadron_xsec as X
from aiva.physics import constants as C
from aiva.physics.targets import get_target

C12 = get_target("C12")
MP, MN, MPI = C.M_PROTON, C.M_NEUTRON, C.M_PION_CHARGED


def _pion_lab(T):
    E = T + MPI
    p = np.sqrt(E * E - MPI * MPI)
    W = np.sqrt(X.M_N ** 2 + MPI ** 2 + 2 * X.M_N * E)
    return W, E, p


# ----------------------------------------------------------------- free cross sections
def test_pin_delta_peak_against_165_mev_hydrogen_data():
    """π⁺p and π⁻p total at T_π = 165 MeV: transmission values 188.2 ± 5.4 mb and 67.5 ± 1.5 mb
    ("Scattering of Pions by Hydrogen at 165 MeV", Phys. Rev. (1950s), abstract); tolerance 5 %."""
    W, E, p = _pion_lab(0.165)
    el, cex, ab = X.pin_xsec(W, 0.165, E, p, 1, 1)
    assert float(el + cex) == pytest.approx(188.2, rel=0.05) and float(cex) == 0 and float(ab) == 0
    el, cex, _ = X.pin_xsec(W, 0.165, E, p, -1, 1)
    assert float(el + cex) == pytest.approx(67.5, rel=0.05)


def test_pin_cex_split_at_224_mev():
    """π⁻p at 224 MeV: elastic 16.0 ± 0.8 mb, charge exchange 34.4 ± 1.9 mb (hydrogen bubble chamber,
    "π⁻p interactions at 224 MeV", Phys. Rev.); the isospin-3/2 ratio 1 : 2 plus background, tolerance 25 %."""
    W, E, p = _pion_lab(0.224)
    el, cex, _ = X.pin_xsec(W, 0.224, E, p, -1, 1)
    assert float(el) == pytest.approx(16.0, rel=0.25)
    assert float(cex) == pytest.approx(34.4, rel=0.25)


def test_pin_isospin_symmetry_and_medium():
    W, E, p = _pion_lab(0.2)
    # π⁺p = π⁻n, π⁺n = π⁻p (isospin mirror)
    for a, b in (((1, 1), (-1, 0)), ((1, 0), (-1, 1)), ((0, 1), (0, 0))):
        xa, xb = X.pin_xsec(W, 0.2, E, p, *a, 0.1), X.pin_xsec(W, 0.2, E, p, *b, 0.1)
        np.testing.assert_allclose(xa, xb, rtol=1e-12)
    free = X.pin_xsec(W, 0.2, E, p, 1, 1, 0.0)
    med = X.pin_xsec(W, 0.2, E, p, 1, 1, X.RHO0)
    assert float(free[2]) == 0 and float(med[2]) > 10  # absorption needs a medium
    assert float(med[0]) < float(free[0])  # the in-medium Δ is broader: lower peak


def test_nn_cross_sections_against_pdg_values():
    """Free NN at p_lab = 2 GeV/c: σ_pp^tot ≈ 47 mb, σ_np^tot ≈ 42 mb, σ_pp^el ≈ 20–22 mb (PDG NN compilation plots);
    below the pion threshold everything is elastic; tolerance 15 %."""
    el, inel = X.nn_xsec_exact(np.array([2.0, 2.0]), np.array([True, False]))
    assert el[0] + inel[0] == pytest.approx(47.0, rel=0.15)
    assert el[1] + inel[1] == pytest.approx(42.0, rel=0.15)
    assert el[0] == pytest.approx(21.0, rel=0.15)
    el, inel = X.nn_xsec_exact(np.array([0.5, 0.5]), np.array([True, False]))
    assert (inel == 0).all() and (el > 20).all()
    # the tabulated fast path follows the formulas away from their branch points
    p = np.linspace(0.12, 4.9, 3001)
    p = p[np.min(np.abs(p[:, None] - np.array([0.4, 0.435, 0.525, 0.8, 1.0, 1.5, 2.0])[None]), axis=1) > 2e-3]
    for same in (True, False):
        for a, b in zip(X.nn_xsec(p, same), X.nn_xsec_exact(p, same)):
            np.testing.assert_allclose(a, b, rtol=5e-3, atol=1e-3)


# ----------------------------------------------------------------- geometry
def test_sample_vertex_follows_density():
    rng = np.random.default_rng(1)
    v = K.sample_vertex(C12, 50000, rng)
    r2 = (v * v).sum(0)
    r, _, rho0 = K._radial_table(C12.name, C12)
    rho = K._density(C12, r)
    expected = np.trapezoid(rho * r ** 4, r) / np.trapezoid(rho * r ** 2, r)
    assert r2.mean() == pytest.approx(expected, rel=0.02)
    assert abs(v[2].mean()) < 0.03  # isotropic
    assert np.array_equal(K.sample_vertex(get_target("H1"), 5, rng), np.zeros((3, 5)))


# ----------------------------------------------------------------- cascade
def _mixed_primaries(n, rng):
    """CC-like vertex hadrons: a proton of 0.3–1 GeV/c in every event, a π⁺ in 40 %, a π⁰ in 10 %, and a K⁺ and
    a photon (passed through) in 5 %."""
    ev, pdg, P = [], [], []

    def add(idx, code, m, pmin, pmax):
        k = len(idx)
        p = rng.uniform(pmin, pmax, k)
        c = rng.uniform(-1, 1, k)
        ph = rng.uniform(0, 2 * np.pi, k)
        s = np.sqrt(1 - c * c)
        ev.append(idx)
        pdg.append(np.full(k, code))
        P.append(np.vstack([np.sqrt(m * m + p * p), p * s * np.cos(ph), p * s * np.sin(ph), p * c]))

    add(np.arange(n), 2212, MP, 0.3, 1.0)
    add(np.flatnonzero(rng.random(n) < 0.4), 211, MPI, 0.1, 0.6)
    add(np.flatnonzero(rng.random(n) < 0.1), 111, C.M_PION_NEUTRAL, 0.1, 0.6)
    k = np.flatnonzero(rng.random(n) < 0.05)
    add(k, 321, 0.493677, 0.2, 0.5)
    add(k, 22, 0.0, 0.1, 0.2)
    P = np.hstack(P)
    return ParticleList.from_event_index(np.concatenate(ev), n, np.concatenate(pdg), *P)


def _charge(pl):
    q = np.select([pl.pdg == 2212, pl.pdg == 211, pl.pdg == -211, pl.pdg == 321], [1, 1, -1, 1], 0)
    return np.bincount(pl.event_index(), weights=q, minlength=pl.n_events)


def _baryons(pl):
    b = np.isin(pl.pdg, (2212, 2112)).astype(float)
    return np.bincount(pl.event_index(), weights=b, minlength=pl.n_events)


@pytest.mark.parametrize("name,n", [("C12", 4000), ("Ar40", 1500)])
def test_conservation_of_four_momentum_charge_and_baryon_number(name, n):
    rng = np.random.default_rng(7)
    target = get_target(name)
    prim = _mixed_primaries(n, rng)
    res = K.run_cascade(prim, K.sample_vertex(target, n, rng), target, rng)
    c = res.counts
    assert c["nn_elastic"] > 0 and c["n_absorbed_pi"] > 0 and c["n_cex"] > 0 and c["n_pauli_blocked"] > 0
    assert c["n_captured"] > 0 and c["nn_inelastic"] > 0
    lhs = prim.sum_p4() + res.sea_p4
    rhs = res.final.sum_p4() + res.well_p4 + res.captured_p4
    np.testing.assert_allclose(lhs, rhs, atol=1e-9)
    np.testing.assert_allclose(prim.sum_p4() - res.final.sum_p4(), res.remnant_p4, atol=1e-9)
    np.testing.assert_array_equal(_charge(prim) + res.n_sea[0], _charge(res.final) + res.n_captured[0])
    np.testing.assert_array_equal(_baryons(prim) + res.n_sea.sum(0), _baryons(res.final) + res.n_captured.sum(0))
    # every hadron leaves on its mass shell, and the passive particles are untouched
    f = res.final
    m = np.select([f.pdg == 2212, f.pdg == 2112, np.abs(f.pdg) == 211, f.pdg == 111],
                  [MP, MN, MPI, C.M_PION_NEUTRAL], -1.0)
    sel = m >= 0
    np.testing.assert_allclose(f.mass[sel], m[sel], atol=1e-6)
    for code in (321, 22):
        a, b = prim.filter(prim.pdg == code), f.filter(f.pdg == code)
        np.testing.assert_array_equal(a.counts, b.counts)
        np.testing.assert_allclose(a.sum_p4(), b.sum_p4(), atol=0)
    # exiting nucleons lost exactly the well depth
    assert (res.well_p4[0] >= -1e-12).all()


def test_same_seed_same_bytes_and_free_nucleon_no_fsi():
    prim = _mixed_primaries(500, np.random.default_rng(3))
    vtx = K.sample_vertex(C12, 500, np.random.default_rng(4))
    a = K.run_cascade(prim, vtx, C12, np.random.default_rng(11)).final
    b = K.run_cascade(prim, vtx, C12, np.random.default_rng(11)).final
    c = K.run_cascade(prim, vtx, C12, np.random.default_rng(12)).final
    for f in ("counts", "pdg", "E", "px", "py", "pz"):
        assert getattr(a, f).tobytes() == getattr(b, f).tobytes()
    assert a.E.tobytes() != c.E.tobytes()
    free = K.run_cascade(prim, np.zeros((3, 500)), get_target("H1"), np.random.default_rng(1))
    for f in ("counts", "pdg", "E", "px", "py", "pz"):
        assert np.array_equal(getattr(free.final, f), getattr(prim, f))
    assert free.n_interactions.sum() == 0


def test_slow_nucleons_are_captured_and_booked():
    """A 150 MeV/c proton (T = 12 MeV) is below the well depth V = T_F + S ≈ 34 MeV: it cannot leave."""
    n = 300
    P = np.vstack([np.full(n, np.sqrt(MP ** 2 + 0.15 ** 2)), np.zeros(n), np.zeros(n), np.full(n, 0.15)])
    prim = ParticleList.from_fixed(2212, P)
    rng = np.random.default_rng(2)
    res = K.run_cascade(prim, K.sample_vertex(C12, n, rng), C12, rng)
    assert res.final.count([2212, 2112]).sum() == 0
    assert res.n_captured.sum() == n + res.n_sea.sum()
    assert res.counts["n_captured"] == res.n_captured.sum()


def test_absorption_switch():
    n = 2000
    P = np.vstack([np.full(n, np.sqrt(MPI ** 2 + 0.3 ** 2)), np.zeros(n), np.zeros(n), np.full(n, 0.3)])
    prim = ParticleList.from_fixed(211, P)
    vtx = K.sample_vertex(C12, n, np.random.default_rng(5))
    on = K.run_cascade(prim, vtx, C12, np.random.default_rng(6))
    off = K.run_cascade(prim, vtx, C12, np.random.default_rng(6), K.CascadeParams(absorption="none"))
    assert off.counts["n_absorbed_pi"] == 0 and on.counts["n_absorbed_pi"] > 0.05 * n
    npi = lambda r: r.final.count([211, -211, 111]).sum()
    # pions are made only by NN → NNπ (of knocked-out nucleons) and destroyed only by absorption
    assert npi(off) == n + off.counts["nn_inelastic"]
    assert npi(on) == n - on.counts["n_absorbed_pi"] + on.counts["nn_inelastic"]


# ----------------------------------------------------------------- validation against π–¹²C and (e,e'p) data
#: π⁺–¹²C cross sections [mb] of D. Ashery et al., Phys. Rev. C 23 (1981) 2173 (reaction = inelastic + CEX +
#: absorption), as tabulated in NuWro's src/data.h (commit 80fc75d): value, measurement error.
ASHERY_PIP_C = {0.165: dict(reaction=(447.0, None), inelastic=(207.0, 33.0), cex=(46.0, 23.0), absorption=(194.0, 36.0)),
                0.245: dict(reaction=(366.0, None), inelastic=(224.0, 30.0), cex=(47.0, 23.0), absorption=(95.0, 32.0))}


@pytest.fixture(scope="module")
def beams():
    rng = np.random.default_rng(2024)
    return {T: K.pion_beam(C12, 211, T, 30000, rng) for T in ASHERY_PIP_C}


_KNOWN_SHORT = pytest.mark.xfail(strict=True, reason="known deficiency: at the Δ peak the cascade's π⁺–¹²C absorption is "
                                 "about 2/3 of Ashery's (docs/physics_cascade.md)")


@pytest.mark.parametrize("T,channel", [
    (0.165, "reaction"), (0.165, "inelastic"), (0.165, "cex"), pytest.param(0.165, "absorption", marks=_KNOWN_SHORT),
    (0.245, "reaction"), (0.245, "inelastic"), (0.245, "cex"), (0.245, "absorption"),
])
def test_pion_carbon_against_ashery(beams, T, channel):
    """Pion-beam mode against Ashery et al. 1981: tolerance 30 % of the measured value."""
    b = beams[T]
    assert sum(b[k] for k in ("absorption", "cex", "inelastic", "other")) == pytest.approx(b["reaction"])
    assert b[channel] == pytest.approx(ASHERY_PIP_C[T][channel][0], rel=0.30)


#: NuWro's in-medium π⁺N cross sections per nucleon [mb] for carbon at T_π = 165 MeV (its Oset–Salcedo tables,
#: src/pitab.cc, commit 80fc75d): ρ/ρ₀ → (π⁺p quasi-elastic, π⁺n quasi-elastic, absorption attached to the pair).
NUWRO_PIP_165 = {0.1: (151.3, 54.6, 15.7), 0.5: (93.3, 35.3, 57.4), 1.0: (54.5, 22.3, 79.7)}


@pytest.mark.parametrize("d", sorted(NUWRO_PIP_165))
def test_in_medium_pin_against_nuwro_tables(d):
    """Our Oset–Salcedo implementation against NuWro's tables: tolerance 20 %."""
    W, E, p = _pion_lab(0.165)
    a = X.pin_xsec(W, 0.165, E, p, 1, 1, d * X.RHO0)
    b = X.pin_xsec(W, 0.165, E, p, 1, 0, d * X.RHO0)
    like, unlike, absn = NUWRO_PIP_165[d]
    assert float(a[0] + a[1]) == pytest.approx(like, rel=0.2)
    assert float(b[0] + b[1]) == pytest.approx(unlike, rel=0.2)
    assert float(a[2] + b[2]) == pytest.approx(absn, rel=0.2)


def test_proton_transparency_of_carbon():
    """Nuclear transparency of ¹²C for 1.2 GeV/c protons from the vertex (Q² ≈ 1.3 GeV² quasi-elastic kinematics):
    (e,e′p) measurements give T ≈ 0.6 (T. G. O'Neill et al., Phys. Lett. B 351 (1995) 87;
    D. Abbott et al., PRL 80 (1998) 5072: 0.61 ± 0.04 at Q² = 1.8 GeV²). Compared: the fraction of protons that
    leave without any (non-Pauli-blocked) collision; tolerance ± 0.12 (the cascade has no correlation hole and
    no (e,e′p) acceptance, which both raise the measured T)."""
    n = 8000
    rng = np.random.default_rng(9)
    c = rng.uniform(-1, 1, n)
    ph = rng.uniform(0, 2 * np.pi, n)
    s = np.sqrt(1 - c * c)
    p = 1.2
    P = np.vstack([np.full(n, np.sqrt(MP ** 2 + p * p)), p * s * np.cos(ph), p * s * np.sin(ph), p * c])
    res = K.run_cascade(ParticleList.from_fixed(2212, P), K.sample_vertex(C12, n, rng), C12, rng)
    T = (res.n_interactions == 0).mean()
    assert T == pytest.approx(0.6, abs=0.12)


# ----------------------------------------------------------------- input errors
def test_bad_input_raises():
    prim = _mixed_primaries(10, np.random.default_rng(0))
    rng = np.random.default_rng(0)
    with pytest.raises(AivaInputError, match="vertex"):
        K.run_cascade(prim, np.zeros((3, 9)), C12, rng)
    with pytest.raises(AivaInputError):
        K.CascadeParams(step_fm=0)
    with pytest.raises(AivaInputError):
        K.CascadeParams(absorption="magic")
    with pytest.raises(AivaInputError):
        K.pion_beam(C12, 2212, 0.1, 10, rng)
    with pytest.raises(AivaInputError):
        K.pion_beam(get_target("H1"), 211, 0.1, 10, rng)
    with pytest.raises(AivaInputError):
        K.sample_vertex(C12, -1, rng)


def test_in_medium_nn_factor():
    """Pandharipande–Pieper: no change in vacuum, a reduction in matter that is largest for slow nucleons."""
    rng = np.random.default_rng(0)
    u = rng.normal(size=(3, 500))
    p2 = 0.2 * u / np.linalg.norm(u, axis=0)
    slow, fast = np.tile([[0.0], [0.0], [0.4]], (1, 500)), np.tile([[0.0], [0.0], [1.5]], (1, 500))
    f0, g0 = X.nn_medium_factor(fast, p2, 0.0)
    np.testing.assert_allclose(f0, 1.0, rtol=1e-12)
    np.testing.assert_allclose(g0, 1.0)
    fs, _ = X.nn_medium_factor(slow, p2, 0.16)
    ff, gf = X.nn_medium_factor(fast, p2, 0.16)
    assert 0.3 < fs.mean() < ff.mean() < 1.0 and float(np.mean(gf)) == pytest.approx(0.8)


def test_step_length_insensitive():
    """The collision point is exact within a step: halving Δx changes the collision counts by < 10 %."""
    prim = _mixed_primaries(3000, np.random.default_rng(21))
    vtx = K.sample_vertex(C12, 3000, np.random.default_rng(22))
    a = K.run_cascade(prim, vtx, C12, np.random.default_rng(23), K.CascadeParams(step_fm=0.25)).counts
    b = K.run_cascade(prim, vtx, C12, np.random.default_rng(23), K.CascadeParams(step_fm=0.5)).counts
    for k in ("nn_elastic", "pin_elastic", "n_absorbed_pi"):
        assert a[k] == pytest.approx(b[k], rel=0.10)
