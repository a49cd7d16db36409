"""2p2h ("mec", mode ±2): the empirical MEC model with two outgoing nucleons.

Cross section — the empirical MEC of T. Katori (arXiv:1304.6014; AIP Conf. Proc. 1663 (2015)
030001) as implemented by S. Dytman in GENIE ("Empirical MEC"): the Llewellyn Smith CCQE
dσ/dQ² (same M_A and form factors as :mod:`aiva.mc.qe`) times a Gaussian in the single-nucleon
hadronic mass W (W² = (k + P₁ − k′)² with P₁ the nucleon that changes isospin) centred in the dip
between the QE and Δ peaks:

    d²σ/dQ²dW = f_MEC · (A/2) · dσ_QE/dQ² · N(W; W₀, σ_W),
    f_MEC = 0.25, W₀ = 1.08 GeV, σ_W = 0.06 GeV

(the constants :data:`aiva.mc.channels.MEC_STRENGTH`, ``MEC_W0``, ``MEC_SIGMA_W``: about 20–25 %
of the ¹²C QE cross section at 1–3 GeV before Pauli blocking; zero for A ≤ 2). The Gaussian is
normalised over the open W range, as in :func:`aiva.mc.channels.mec`, which this channel replaces.

Final state (as GENIE's MECGenerator and NuWro's ``mecevent`` do):

* the initial pair is two nucleons of the Fermi sea, P₁ (the one that changes isospin) and P₂,
  each drawn from the configuration's nuclear model with energy √(M² + p²) − ε_B (with the local
  Fermi gas the two are drawn at independent radii, a simplification: no pair correlation);
* pair isospin (GENIE Empirical MEC, fraction of np pairs f_np = 0.8, parameter
  ``EmpiricalMEC-FracPN_CC`` of GENIE's ``EmpiricalMECPXSec2015``): ν CC np → pp (0.8) and
  nn → np (0.2); ν̄ CC np → nn (0.8) and pp → np (0.2);
* the hadronic system P_had = q + P₁ + P₂ decays to the two nucleons isotropically in its rest
  frame (two-body phase space);
* both outgoing nucleons are Pauli blocked (weight 0 if |p| < k_F of their isospin), and the
  candidate is zero if √(P_had²) is below the two-nucleon mass.

Energy–momentum: k + P₁ + P₂ = k′ + p₃ + p₄ exactly (the removal energy 2ε_B sits in the off-shell
initial energies). In the :class:`~aiva.mc.channels.Candidates`, ``P`` is the pair's 4-momentum
P₁ + P₂, ``W`` the invariant mass of the two outgoing nucleons, ``hit_p`` the isospin of P₁ and
``hadrons`` the two nucleons (P₁'s successor first).
"""
from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri

from aiva.events.particles import ParticleList
from aiva.mc import qe as _qe
from aiva.mc.channels import GEV2, MEC_SIGMA_W, MEC_STRENGTH, MEC_W0, Q2_SCALE, Candidates, _lepton_frame, _w_upper
from aiva.mc.config import PhysicsConfig
from aiva.mc.nuclear import sample_nucleons
from aiva.mc.twobody import boost
from aiva.physics import constants as C
from aiva.physics.targets import Probe, Target

_M = C.M_NUCLEON
#: fraction of np initial pairs (GENIE Empirical MEC, EmpiricalMECPXSec2015 "FracPN_CC" = 0.8)
F_NP = 0.8


def _isotropic(rng, n):
    c = 2 * rng.random(n) - 1
    s = np.sqrt(1 - c * c)
    ph = 2 * np.pi * rng.random(n)
    return np.vstack([s * np.cos(ph), s * np.sin(ph), c])


def mec(E, target: Target, probe: Probe, cfg: PhysicsConfig, rng) -> Candidates:
    """Empirical 2p2h with two nucleons out (mode 2; ν̄ −2); see the module docstring."""
    E = np.asarray(E, dtype=np.float64)
    anti = probe.is_antineutrino
    n = len(E)
    m = probe.lepton_mass
    # pair isospin: the converting nucleon P1 is a neutron for ν (n → p), a proton for ν̄ (p → n)
    is_np = rng.random(n) < F_NP
    p1_proton = anti
    p3_proton = not anti
    partner_p = ~is_np if anti else is_np  # ν: np → partner p, nn → n; ν̄: np → partner n, pp → p
    nuc1 = sample_nucleons(target, cfg.nuclear_model, n, rng, p1_proton, p3_proton)
    nuc2 = sample_nucleons(target, cfg.nuclear_model, n, rng, partner_p, partner_p)
    # lepton: LS QE Q² shape × Gaussian in the single-nucleon W (truncated, by inverse CDF)
    lo = _M + 1e-3
    hi = _w_upper(E, nuc1, m) - 1e-9
    ok = hi > lo
    a = ndtr((lo - MEC_W0) / MEC_SIGMA_W)
    b = ndtr((np.where(ok, hi, lo + 1e-6) - MEC_W0) / MEC_SIGMA_W)
    W1 = MEC_W0 + MEC_SIGMA_W * ndtri(a + rng.random(n) * (b - a))
    tb, kP, flux = _lepton_frame(E, nuc1, m, W1, rng, Q2_SCALE["qe"])
    kpP = tb.El * nuc1.P0 - np.sum(tb.pl * nuc1.P, axis=0)
    d = _qe.dsigma_dQ2(kP / _M, tb.Q2, 2 * (kP + kpP) - m * m, m, cfg.qe_MA, anti, cfg.vector_ff)
    # two-nucleon final state
    m3 = C.M_PROTON if p3_proton else C.M_NEUTRON
    m4 = np.where(partner_p, C.M_PROTON, C.M_NEUTRON)
    H0 = tb.omega + nuc1.P0 + nuc2.P0
    Hv = tb.q + nuc1.P + nuc2.P
    W2 = H0 * H0 - np.sum(Hv * Hv, axis=0)
    Wpair = np.sqrt(np.clip(W2, 0, None))
    open_ = Wpair > m3 + m4 + 1e-9
    Ws = np.where(open_, Wpair, m3 + m4 + 1.0)
    lam = (Ws**2 - (m3 + m4) ** 2) * (Ws**2 - (m3 - m4) ** 2)
    ps = np.sqrt(np.clip(lam, 0, None)) / (2 * Ws)
    e3 = (Ws**2 + m3 * m3 - m4 * m4) / (2 * Ws)
    dirn = _isotropic(rng, n)
    beta = np.where(open_, Hv / H0, 0.0)  # closed candidates (weight 0) keep finite momenta
    E3, p3 = boost(e3, ps * dirn, beta)
    E4, p4 = H0 - E3, Hv - p3
    pauli = ((np.sqrt(np.sum(p3 * p3, axis=0)) > nuc1.kF_final)
             & (np.sqrt(np.sum(p4 * p4, axis=0)) > nuc2.kF_final))
    w = (MEC_STRENGTH * target.A / 2 * d * tb.q2_weight * (b - a) * flux * ok * open_ * pauli * GEV2
         * (target.A > 2))
    w = np.where(tb.valid & np.isfinite(w), w, 0.0)
    pdg3 = 2212 if p3_proton else 2112
    ev = np.repeat(np.arange(n), 2)
    pdg = np.empty(2 * n, dtype=np.int32)
    pdg[0::2], pdg[1::2] = pdg3, np.where(partner_p, 2212, 2112)
    hadrons = ParticleList.from_event_index(ev, n, pdg, np.ravel(np.column_stack([E3, E4])),
                                            *(np.ravel(np.column_stack([p3[i], p4[i]])) for i in range(3)))
    pl = np.sqrt(np.sum(tb.pl * tb.pl, axis=0))
    cos = np.where(pl > 0, tb.pl[2] / np.where(pl > 0, pl, 1), 1.0)
    P = np.vstack([(nuc1.P0 + nuc2.P0)[None, :], nuc1.P + nuc2.P])
    return Candidates(tb.El, np.clip(cos, -1.0, 1.0), w, np.full(n, -2 if anti else 2, dtype=np.int32), tb.Q2,
                      tb.omega, Ws, tb.pl, P, np.full(n, p1_proton, dtype=bool), hadrons)
