"""Coherent pion production on the nucleus: Berger–Sehgal model.

ν A → ℓ⁻ π⁺ A (mode 16), ν̄ A → ℓ⁺ π⁻ A (−16) and ν A → ν π⁰ A (36, ν̄: −36), following
C. Berger and L. M. Sehgal, Phys. Rev. D 79 (2009) 053003 ("BS09"), which combines the PCAC
relation of D. Rein and L. M. Sehgal, Nucl. Phys. B 223 (1983) 29 with the measured
pion–carbon elastic cross section.

NC (BS09 eq. (7), the Rein–Sehgal PCAC form with the exact kinematic factor):

    d³σ/dQ²dy d|t| = G_F² f_π² / (4π²) · E(1 − y)/|q| · (1 − Q²/(4E²(1 − y)))
                     · G_A(Q²)² · dσ(πA → πA)/d|t|,     G_A = m_A²/(m_A² + Q²),

with f_π = 0.93 m_π, m_A = 1.0 GeV, y = ν/E, |q| = √(ν² + Q²), evaluated at the pion energy
E_π and the pion's momentum p* in the πA centre-of-mass frame.

CC (BS09 eq. (6)): twice the NC expression (isospin: the charged axial current couples √2 more
strongly to π^± than the neutral one to π⁰) times cos²θ_C, with G_A² replaced by the lepton-mass
factor of D. Rein and L. M. Sehgal, "PCAC and the deficit of forward muons in π⁺ production by
neutrinos", Phys. Lett. B 657 (2007) 207 (hep-ph/0606185; interference of the axial-vector and the
pion-pole amplitudes), which BS09 eq. (6) includes:

    C = (G_A − ½ Q²_min/(Q² + m_π²))² + ¼ y Q²_min (Q² − Q²_min)/(Q² + m_π²)²,
    Q²_min = m_ℓ² y/(1 − y),   C = 0 for Q² < Q²_min.

Pion–nucleus elastic cross section:

* T_π ≤ 1 GeV — BS09 Table I: fits dσ/d|t| = A₁ e^{−b₁|t|} to π–¹²C elastic data at thirteen
  pion kinetic energies T_i (0.076–0.870 GeV), at the πC centre-of-mass momentum p_i of each
  T_i; at the event's p* the fit is used at the same scattering angle,
  dσ/d|t| = (p_i/p*)² A₁ exp(−b₁ |t| (p_i/p*)²), and interpolated linearly in T_π between the
  table points (zero at T_π = 0; the 0.870 GeV parameters are kept up to 1 GeV). For A ≠ 12 the
  carbon fit is scaled as A₁ ∝ A^{4/3}, b₁ ∝ A^{2/3} (the extrapolation GENIE uses; BS09 fit
  carbon only).
* T_π > 1 GeV — the Rein–Sehgal form (RS83, Sec. 3; F_abs as in BS09 eq. (13)):
  dσ/d|t| = A² σ_tot(πN)²/(16π) e^{−b|t|} F_abs,  b = R₀² A^{2/3}/3,
  F_abs = exp(−9A^{1/3} σ_inel(πN)/(16π R₀²)),  R₀ = 1.0 fm, with the π±N (isospin-averaged)
  total and elastic cross sections of the parametrisation of Berger and Sehgal
  (:func:`pion_nucleon_xsec`; the one GENIE's ``utils::hadxs::berger`` carries).

Kinematics and energy conservation: E, ν and Q² fix the lepton; the pion is generated in the
centre-of-mass frame of q + P_A (P_A the nucleus at rest, M_A = A u − Z m_e), where |t| is linear
in cos θ*; the recoiling nucleus takes P_A + q − p_π, so 4-momentum is conserved exactly with a
nucleus of mass M_A (its kinetic energy, |t|/2M_A ≲ 1 MeV, is the difference between ν and E_π).
``hadrons`` holds the pion only; ``P`` is the nucleus at rest, so that k + P − k′ − p_π is the
recoiling nucleus, ``W`` the invariant mass of q + P_A (≈ M_A + ν) and ``hit_p`` False (no
struck nucleon). The nucleus stays in its ground state, so the pion should not be passed through
the intranuclear cascade (GENIE does not apply its hadron transport to coherent pions).
"""
from __future__ import annotations

import numpy as np

from aiva.events.particles import ParticleList
from aiva.mc.channels import GEV2, Candidates
from aiva.mc.config import PhysicsConfig
from aiva.mc.twobody import boost
from aiva.physics import constants as C
from aiva.physics.targets import Probe, Target

F_PI = 0.93 * C.M_PION_CHARGED  #: pion decay constant in the Rein–Sehgal normalisation (GeV)
M_A_COH = 1.0  #: axial mass of the PCAC form factor G_A (BS09, RS83), GeV
R0_FM = 1.0  #: nuclear radius parameter R = R₀ A^{1/3} (RS83), fm
MB_TO_GEV2 = 1e-27 / C.HBARC2_GEV2_CM2  #: 1 mb in GeV⁻²
#: proposal scales: ν from 1/(ν − m_π + a), Q² from 1/(Q² + c)², |t| from exp(−b₀|t|) (efficiency only)
NU_SCALE_COH = 0.2
Q2_SCALE_COH = 0.1
T_SLOPE_COH = 40.0

# BS09 Table I: π–¹²C elastic fits dσ/d|t| = A₁ exp(−b₁|t|): T_π [GeV], A₁ [mb/GeV²], b₁ [GeV⁻²];
# the first entry is the T_π = 0 anchor (zero cross section), the last repeats 0.870 GeV at 1 GeV.
_TABLE_T = np.array([0.0, 0.076, 0.080, 0.100, 0.148, 0.162, 0.226, 0.486, 0.584, 0.662, 0.766, 0.870, 1.000])
_TABLE_A1 = np.array([0.0, 11600.0, 14700.0, 18300.0, 21300.0, 22400.0, 16400.0, 5730.0, 4610.0, 4570.0,
                      4930.0, 5140.0, 5140.0])
_TABLE_B1 = np.array([0.0, 116.0, 109.0, 89.8, 91.0, 89.2, 80.8, 54.6, 55.2, 58.4, 60.5, 62.2, 62.2])


def _two_body_p(sqrt_s, m1, m2):
    lam = (sqrt_s**2 - (m1 + m2) ** 2) * (sqrt_s**2 - (m1 - m2) ** 2)
    return np.sqrt(np.clip(lam, 0, None)) / (2 * sqrt_s)


def _carbon_cm_momentum(T, m_pi=C.M_PION_CHARGED):
    """π–¹²C centre-of-mass momentum at pion kinetic energy T (the p_i of BS09 Table I)."""
    Mc = 12 * C.ATOMIC_MASS_UNIT - 6 * C.M_ELECTRON
    E = T + m_pi
    return _two_body_p(np.sqrt(m_pi**2 + Mc**2 + 2 * E * Mc), m_pi, Mc)


_TABLE_P = _carbon_cm_momentum(np.maximum(_TABLE_T, 1e-9))
_TABLE_P[-1] = _TABLE_P[-2]  # the 1 GeV point repeats the 0.870 GeV fit exactly


def pion_nucleon_xsec(p_pi):
    """(σ_tot, σ_el) of π N scattering [mb], the average of π⁺p and π⁻p, at pion lab momentum p [GeV].

    Parametrisation of Berger and Sehgal (BS09, used for F_abs and the T_π > 1 GeV region; as in
    GENIE's ``utils::hadxs::berger::PionNucleonXSec``): Breit–Wigner terms of the form
    a · 8π (ħc)²/p*² · Γ²/(4(W − M_R)² + Γ²) for the Δ(1232) (Γ = 0.15 (6p*)³/(1 + (6p*)²)) and for
    resonances at 1.98, 1.70 GeV (π⁺p; Γ ∝ p*³) and 1.52, 1.69 GeV (π⁻p; Γ ∝ p*) on polynomial
    backgrounds, and 20.1 + 15.4/√p (π⁺p), 21.64 + 17.29/√p (π⁻p) mb (total), 2.38 + 17.55/p,
    3.4 + 11.35/p mb (elastic) at high momentum. p* is the πN centre-of-mass momentum.
    """
    p = np.asarray(p_pi, dtype=np.float64)
    mpi, mp = C.M_PION_CHARGED, C.M_PROTON
    epi = np.sqrt(mpi * mpi + p * p)
    W = np.sqrt(mp * mp + mpi * mpi + 2 * epi * mp)
    ps = np.maximum(_two_body_p(W, mpi, mp), 1e-9)
    hb = 0.3892 * 8.0 * np.pi / (ps * ps)

    def bw(m_res, gam):
        return hb * gam * gam / (4.0 * (W - m_res) ** 2 + gam * gam)

    def pres(m_res):
        return _two_body_p(m_res, mpi, mp)

    g_delta = 0.15 * (6.0 * ps) ** 3 / (1.0 + (6.0 * ps) ** 2)
    f_delta = bw(1.232, g_delta)
    f2 = bw(1.98, 0.6 * (ps / pres(1.98)) ** 3)
    f3 = bw(1.70, 0.27 * (ps / pres(1.70)) ** 3)
    f5 = bw(1.52, 0.10 * (ps / pres(1.52)))
    f6 = bw(1.69, 0.14 * (ps / pres(1.69)))
    sig_plus = np.where(p > 1.9, 20.1 + 15.4 / np.sqrt(np.maximum(p, 1e-9)),
                        f_delta + 0.86 * 1.9 * f2 + 0.7 * 0.27 * f3 + 0.834 * p + 1.77 * p * p)
    sig_minus = np.where(p > 1.2, 21.64 + 17.29 / np.sqrt(np.maximum(p, 1e-9)),
                         0.94 * 0.34 * f_delta + 0.65 * 0.75 * f5 + 0.61 * 1.7 * f6
                         + 17.8 * p + 6.22 * p * p - 3.1 * p**3)
    el_plus = np.where(p > 1.9, 2.38 + 17.55 / np.maximum(p, 1e-9), f_delta + 0.411 * 1.9 * f2)
    el_minus = np.where(p > 1.5, 3.4 + 11.35 / np.maximum(p, 1e-9),
                        0.275 * 0.34 * f_delta + 0.268 * 0.75 * f5 + 0.281 * 1.7 * f6 + 11.83 * p - 3.39 * p * p)
    return 0.5 * (sig_plus + sig_minus), 0.5 * (el_plus + el_minus)


def pion_nucleus_dsigma_dt(T_pi, p_star, t, A: int):
    """dσ(πA → πA)/d|t| [GeV⁻⁴] at pion kinetic energy T_π, πA CM momentum p*, |t| (module docstring)."""
    T_pi = np.asarray(T_pi, dtype=np.float64)
    low = T_pi <= 1.0
    # BS09 Table I, interpolated linearly in T between the bracketing table points
    j = np.clip(np.searchsorted(_TABLE_T, T_pi, side="right") - 1, 0, len(_TABLE_T) - 2)
    sA, sb = (A / 12.0) ** (4.0 / 3.0), (A / 12.0) ** (2.0 / 3.0)
    ps2 = np.maximum(p_star, 1e-9) ** 2

    def fit(i):
        r = _TABLE_P[i] ** 2 / ps2
        return r * _TABLE_A1[i] * sA * np.exp(-_TABLE_B1[i] * sb * t * r)

    lo_v, hi_v = fit(j), fit(j + 1)
    u = np.clip((T_pi - _TABLE_T[j]) / (_TABLE_T[j + 1] - _TABLE_T[j]), 0.0, 1.0)
    table = (lo_v + (hi_v - lo_v) * u) * MB_TO_GEV2
    # Rein–Sehgal form above 1 GeV
    p_lab = np.sqrt(np.clip((T_pi + C.M_PION_CHARGED) ** 2 - C.M_PION_CHARGED**2, 0, None))
    s_tot, s_el = pion_nucleon_xsec(p_lab)
    s_tot, s_inel = s_tot * MB_TO_GEV2, (s_tot - s_el) * MB_TO_GEV2
    r0 = R0_FM / C.HBARC_GEV_FM  # GeV⁻¹
    b = r0 * r0 * A ** (2.0 / 3.0) / 3.0
    f_abs = np.exp(-9.0 * A ** (1.0 / 3.0) / (16.0 * np.pi * r0 * r0) * s_inel)
    rs = A * A * f_abs * s_tot * s_tot / (16.0 * np.pi) * np.exp(-b * t)
    return np.where(low, table, rs)


def coh_d3sigma(E, y, Q2, t, T_pi, p_star, A: int, m_l: float, m_pi: float, charged: bool):
    """d³σ/dQ²dy d|t| [GeV⁻⁶] of BS09 eqs. (6) (``charged``) and (7) (module docstring)."""
    nu = y * E
    qabs = np.sqrt(nu * nu + Q2)
    one_y = np.clip(1.0 - y, 1e-12, None)
    front = (C.G_FERMI**2 * F_PI**2 / (4 * np.pi**2) * E * one_y / qabs
             * (1.0 - Q2 / (4.0 * E * E * one_y)))
    ga = M_A_COH**2 / (M_A_COH**2 + Q2)
    if charged:
        q2min = m_l * m_l * y / one_y
        mp2 = m_pi * m_pi
        cfac = (ga - 0.5 * q2min / (Q2 + mp2)) ** 2 + 0.25 * y * q2min * (Q2 - q2min) / (Q2 + mp2) ** 2
        prop = 2.0 * C.COS_CABIBBO**2 * np.where(Q2 > q2min, cfac, 0.0)
    else:
        prop = ga * ga
    d = front * prop * pion_nucleus_dsigma_dt(T_pi, p_star, t, A)
    return np.where(front > 0, d, 0.0)


def nucleus_mass(target: Target) -> float:
    """M_A ≈ A u − Z m_e (atomic mass excess and electron binding neglected), GeV."""
    return target.A * C.ATOMIC_MASS_UNIT - target.Z * C.M_ELECTRON


def _coherent(E, target: Target, probe: Probe, rng, charged: bool) -> Candidates:
    anti = probe.is_antineutrino
    n = len(E)
    m_l = probe.lepton_mass if charged else 0.0
    m_pi = C.M_PION_CHARGED if charged else C.M_PION_NEUTRAL
    MA = nucleus_mass(target) if target.is_nucleus else C.M_NUCLEON
    u = rng.random((6, n))
    # ν from p(ν) ∝ 1/(ν − m_π + a) on [m_π, E − m_ℓ] (the cross section falls like 1/ν above the Δ);
    # below threshold the kinematics are made at a dummy energy (finite numbers) and the weight is 0
    ok = E - m_l > m_pi + 1e-9
    E = np.where(ok, E, m_pi + m_l + 1.0)
    nu_lo, nu_hi = m_pi, E - m_l
    a_nu = NU_SCALE_COH
    log_span = np.log1p(np.where(ok, nu_hi - nu_lo, 0.0) / a_nu)
    nu = nu_lo - a_nu + a_nu * np.exp(u[0] * log_span)
    nu_w = (nu - nu_lo + a_nu) * log_span  # 1/pdf(ν)
    El = E - nu
    pl = np.sqrt(np.clip(El * El - m_l * m_l, 0, None))
    q2lo = np.maximum(2 * E * (El - pl) - m_l * m_l, 0.0)
    q2hi = 2 * E * (El + pl) - m_l * m_l
    c = Q2_SCALE_COH
    ia, ib = 1.0 / (q2lo + c), 1.0 / (q2hi + c)
    Q2 = 1.0 / (ia - u[1] * (ia - ib)) - c
    q2w = (Q2 + c) ** 2 * (ia - ib)
    # lepton direction; q = k − k′
    cos_l = np.clip((2 * E * El - m_l * m_l - Q2) / np.where(pl > 0, 2 * E * pl, 1.0), -1.0, 1.0)
    sin_l = np.sqrt(1.0 - cos_l * cos_l)
    phi = 2 * np.pi * u[2]
    p_lep = pl * np.vstack([sin_l * np.cos(phi), sin_l * np.sin(phi), cos_l])
    q = -p_lep
    q[2] += E
    # centre-of-mass frame of q + P_A (nucleus at rest)
    W2 = MA * MA - Q2 + 2 * nu * MA
    Wc = np.sqrt(np.clip(W2, 0, None))
    open_ = ok & (Wc > MA + m_pi)
    Ws = np.where(open_, Wc, MA + m_pi + 1.0)
    p_star = _two_body_p(Ws, m_pi, MA)
    E_star = (Ws * Ws + m_pi * m_pi - MA * MA) / (2 * Ws)
    q0_star = (Ws * Ws - Q2 - MA * MA) / (2 * Ws)
    q_star = np.sqrt(q0_star * q0_star + Q2)
    # |t| = Q² − m_π² + 2(q⁰*E* − |q*|p* cos θ*): linear in cos θ*
    t_lo = np.maximum(Q2 - m_pi * m_pi + 2 * (q0_star * E_star - q_star * p_star), 0.0)
    t_hi = Q2 - m_pi * m_pi + 2 * (q0_star * E_star + q_star * p_star)
    b0 = T_SLOPE_COH
    span = 1.0 - np.exp(-b0 * np.clip(t_hi - t_lo, 0, None))
    t = t_lo - np.log1p(-u[3] * span) / b0
    tw = span / (b0 * np.exp(-b0 * (t - t_lo)))  # 1/pdf(|t|)
    cos_s = np.clip((Q2 - m_pi * m_pi + 2 * q0_star * E_star - t) / np.maximum(2 * q_star * p_star, 1e-12), -1, 1)
    sin_s = np.sqrt(1.0 - cos_s * cos_s)
    # pion in the CM frame around q̂, then boosted by β = q / (ν + M_A)
    qn = np.sqrt(np.sum(q * q, axis=0))
    qhat = q / np.where(qn > 0, qn, 1.0)
    a = np.zeros_like(qhat)
    use_x = np.abs(qhat[2]) > 0.9
    a[0], a[2] = np.where(use_x, 1.0, 0.0), np.where(use_x, 0.0, 1.0)
    e1 = np.cross(qhat, a, axis=0)
    e1 /= np.sqrt(np.sum(e1 * e1, axis=0))
    e2 = np.cross(qhat, e1, axis=0)
    psi = 2 * np.pi * u[4]
    d = cos_s * qhat + sin_s * (np.cos(psi) * e1 + np.sin(psi) * e2)
    beta = np.where(open_, q / (nu + MA), 0.0)  # closed candidates (weight 0) keep finite momenta
    E_pi, p_pi = boost(E_star, p_star * d, beta)
    T_pi = E_pi - m_pi
    y = nu / E
    d3 = coh_d3sigma(E, y, Q2, t, T_pi, p_star, target.A, m_l, m_pi, charged)
    w = d3 / E * nu_w * q2w * tw * GEV2
    w = np.where(open_ & (t_hi > t_lo) & np.isfinite(w) & (target.A > 1), w, 0.0)
    mode = np.full(n, 16 if charged else 36, dtype=np.int32)
    pdg_pi = (-211 if anti else 211) if charged else 111
    hadrons = ParticleList.from_fixed(np.full(n, pdg_pi), np.vstack([E_pi, p_pi]))
    P = np.zeros((4, n))
    P[0] = MA
    cos = np.where(pl > 0, p_lep[2] / np.where(pl > 0, pl, 1.0), 1.0)
    return Candidates(El, np.clip(cos, -1.0, 1.0), w, -mode if anti else mode, Q2, nu, Ws, p_lep, P,
                      np.zeros(n, dtype=bool), hadrons)


def coh(E, target: Target, probe: Probe, cfg: PhysicsConfig, rng) -> Candidates:
    """CC coherent π: ν A → ℓ⁻ π⁺ A (mode 16), ν̄ A → ℓ⁺ π⁻ A (−16); zero on free nucleons."""
    return _coherent(np.asarray(E, dtype=np.float64), target, probe, rng, charged=True)


def nccoh(E, target: Target, probe: Probe, cfg: PhysicsConfig, rng) -> Candidates:
    """NC coherent π⁰: ν A → ν π⁰ A (mode 36; ν̄: −36); zero on free nucleons."""
    return _coherent(np.asarray(E, dtype=np.float64), target, probe, rng, charged=False)
