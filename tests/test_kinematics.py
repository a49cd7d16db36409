"""Kinematics and proxy variables (PRD 112 (2025) 013007, eqs. 5–6 and Sec. III)."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from aiva.physics import constants as C
from aiva.physics import from_proxies, get_probe, get_target, lepton_kinematics, to_proxies
from aiva.errors import AivaInputError

MMU = C.M_MUON
M = C.M_NUCLEON


@st.composite
def physical_points(draw):
    enu = draw(st.floats(0.3, 10.0))
    frac = draw(st.floats(0.0, 1.0))
    emu = MMU + frac * (enu - 0.0098 - MMU)
    theta = draw(st.floats(0.0, math.pi))
    return enu, emu, theta


@settings(max_examples=300, deadline=None)
@given(physical_points())
def test_proxy_round_trip_kinematics_to_proxies(pt):
    enu, emu, theta = pt
    back = from_proxies(*to_proxies(enu, emu, theta))
    assert np.allclose(back, (enu, emu, theta), rtol=0, atol=1e-10)


@settings(max_examples=300, deadline=None)
@given(st.floats(-1, 1), st.floats(-1, 1), st.floats(-1, 1))
def test_proxy_round_trip_proxies_to_kinematics(a, b, c):
    again = to_proxies(*from_proxies(a, b, c))
    assert np.allclose(again, (a, b, c), rtol=0, atol=1e-10)


def test_physical_region_maps_into_unit_cube():
    rng = np.random.default_rng(1)
    enu = rng.uniform(0.3, 10, 10000)
    emu = MMU + rng.uniform(0, 1, 10000) * (enu - 0.0098 - MMU)
    theta = rng.uniform(0, math.pi, 10000)
    p = np.array(to_proxies(enu, emu, theta))
    assert p.min() >= -1 and p.max() <= 1
    # edges: E_mu = m_mu -> E'_mu = +1; E_mu = max -> -1; theta 0 -> -1, pi -> +1; Emin -> -1, Emax -> +1
    assert np.allclose(to_proxies(0.3, MMU, 0.0), (-1, 1, -1))
    assert np.allclose(to_proxies(10.0, 10.0 - 0.0098, math.pi), (1, -1, 1))


def test_proxies_torch_matches_numpy():
    rng = np.random.default_rng(2)
    enu = rng.uniform(0.3, 10, 100)
    emu = MMU + rng.uniform(0, 1, 100) * (enu - 0.0098 - MMU)
    th = rng.uniform(0, math.pi, 100)
    pn = to_proxies(enu, emu, th)
    pt = to_proxies(torch.tensor(enu), torch.tensor(emu), torch.tensor(th))
    assert all(isinstance(x, torch.Tensor) for x in pt)
    for a, b in zip(pn, pt):
        assert np.allclose(a, b.numpy(), atol=1e-12)


def test_W_Q2_hand_computed():
    # E=1 GeV, E_mu=0.7 GeV, cos=0.8 computed by hand:
    p = math.sqrt(0.7**2 - MMU**2)
    q2 = 2 * 1.0 * (0.7 - p * 0.8) - MMU**2
    w2 = M**2 + 2 * M * 0.3 - q2
    k = lepton_kinematics(1.0, 0.7, 0.8)
    assert k["Q2"] == pytest.approx(q2, rel=1e-14)
    assert k["W"] == pytest.approx(math.sqrt(w2), rel=1e-14)
    assert k["q0"] == pytest.approx(0.3)
    assert k["pz"] == pytest.approx(0.8 * p)
    assert k["pt"] == pytest.approx(0.6 * p)
    # numbers: Q2 = 0.28166832 GeV^2, W = 1.07854131 GeV
    assert k["Q2"] == pytest.approx(0.2816683, abs=1e-6)
    assert k["W"] == pytest.approx(1.0785413, abs=1e-6)


def test_free_qe_gives_W_equal_nucleon_mass():
    # Free-nucleon QE with M_n = M_p = M: Q2 = 2 M omega exactly -> W = M, x = 1
    enu, cos = 2.0, 0.9
    # solve E_mu for elastic scattering on a nucleon at rest (equal masses)
    from scipy.optimize import brentq

    def f(emu):
        p = math.sqrt(emu**2 - MMU**2)
        return 2 * enu * (emu - p * cos) - MMU**2 - 2 * M * (enu - emu)

    emu = brentq(f, MMU + 1e-9, enu)
    k = lepton_kinematics(enu, emu, cos)
    assert k["W"] == pytest.approx(M, rel=1e-10)
    assert k["x"] == pytest.approx(1.0, rel=1e-10)


def test_W_undefined_for_negative_W2_is_nan():
    k = lepton_kinematics(np.array([1.0]), np.array([0.9]), np.array([-1.0]))
    assert k["W2"][0] < 0 and np.isnan(k["W"][0])


def test_targets_and_probes():
    c = get_target("C12")
    assert (c.Z, c.N, c.A, c.pdg) == (6, 6, 12, 1000060120)
    assert get_target("argon").A == 40 and get_target("Ar40").pdg == 1000180400
    assert get_target("O16").kF > 0 and get_target("H1").pdg == 2212
    assert get_probe("numu").pdg == 14 and get_probe("numubar").pdg == -14 and get_probe("e").pdg == 11
    with pytest.raises(AivaInputError, match="unknown target"):
        get_target("Xx99")
    with pytest.raises(AivaInputError, match="unknown probe"):
        get_probe("tau")


def test_constants_conversions():
    # 1 GeV^-2 = 0.3894 mb = 3.894e-28 cm^2 = 3.894e10 x 1e-38 cm^2
    assert C.GEV2_TO_1E38CM2 == pytest.approx(3.893793721e10)
    assert C.M_NUCLEON == pytest.approx(0.938919, abs=1e-6)
