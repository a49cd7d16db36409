"""Neutral-current channels: NC elastic, NC Δ(1232) and NC inelastic ("DIS") scattering.

The outgoing lepton is the (anti)neutrino itself (massless); the channel functions have the
signature of :mod:`aiva.mc.channels` and return :class:`~aiva.mc.channels.Candidates` whose ``El``,
``pl`` and ``cos`` describe the scattered neutrino. NEUT mode numbers (NEUT's ``nemodsel`` table):
51 ν p → ν p, 52 ν n → ν n; 31 ν n → ν n π⁰, 32 ν p → ν p π⁰, 33 ν n → ν p π⁻, 34 ν p → ν n π⁺;
41 multi-π (W < 2 GeV), 46 DIS (W > 2 GeV); negative for ν̄.

Electroweak couplings (tree level, standard model): the hadronic neutral current is
J^Z_μ = V³_μ − A³_μ − 2 sin²θ_W J^em_μ − ½ (V^s_μ − A^s_μ), with the same G_F/√2 as the charged
current (e.g. C. H. Llewellyn Smith, Phys. Rep. 3 (1972) 261, Sec. 4; W. M. Alberico, S. M. Bilenky,
C. Maieron, Phys. Rep. 358 (2002) 227, Sec. 2); sin²θ_W = 0.23129 (PDG 2024, MS-bar at M_Z).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from aiva.mc import delta as _delta
from aiva.mc import dis as _dis
from aiva.mc.channels import GEV2, Q2_SCALE, Candidates, _finish, _lepton_frame, _w_upper, smoothstep
from aiva.mc.config import PhysicsConfig
from aiva.mc.formfactors import axial, dipole, sachs
from aiva.mc.nuclear import sample_nucleons
from aiva.physics import constants as C
from aiva.physics.targets import Probe, Target

_M = C.M_NUCLEON
#: weak mixing angle, PDG 2024 (MS-bar, M_Z): sin²θ̂_W = 0.23129
SIN2_THETA_W = 0.23129
#: strange axial coupling Δs of the nucleon: G_A^s(0) = Δs; BNL E734 (L. A. Ahrens et al.,
#: Phys. Rev. D 35 (1987) 785) fitted η = 0.12 ± 0.07 with Δs = −η g_A ≈ −0.15
DELTA_S = -0.15


def nc_nucleon_form_factors(Q2, proton, MA: float, ff: str = "bbba05", delta_s: float = DELTA_S):
    """(F₁^Z, ξF₂^Z, G_A^Z) of the weak neutral current on the proton (``proton`` True) or neutron.

    Vector (Alberico, Bilenky, Maieron Phys. Rep. 358 (2002) 227, Sec. 2; no strange
    vector form factors): F^{Z,p}_i = (½ − 2 sin²θ_W) F^p_i − ½ F^n_i,
    F^{Z,n}_i = (½ − 2 sin²θ_W) F^n_i − ½ F^p_i, with F₁ = (G_E + τG_M)/(1 + τ),
    ξF₂ = (G_M − G_E)/(1 + τ) from the Sachs form factors (:func:`aiva.mc.formfactors.sachs`).
    Axial (ibid.): G_A^{Z,p/n} = ±½ G_A − ½ G_A^s in the convention g_A > 0; in aiva's
    sign convention (g_A = −1.2723, :mod:`aiva.mc.qe`) that is ±½ G_A + ½ G_A^s with
    G_A = g_A/(1 + Q²/M_A²)² and G_A^s = Δs/(1 + Q²/M_A²)² (same M_A).
    """
    gep, gmp, gen, gmn = sachs(Q2, ff)
    tau = Q2 / (4 * _M * _M)
    f1p, f2p = (gep + tau * gmp) / (1 + tau), (gmp - gep) / (1 + tau)
    f1n, f2n = (gen + tau * gmn) / (1 + tau), (gmn - gen) / (1 + tau)
    a = 0.5 - 2 * SIN2_THETA_W
    F1 = np.where(proton, a * f1p - 0.5 * f1n, a * f1n - 0.5 * f1p)
    F2 = np.where(proton, a * f2p - 0.5 * f2n, a * f2n - 0.5 * f2p)
    ga = axial(Q2, MA)
    gs = delta_s * dipole(Q2, MA * MA)
    GA = np.where(proton, 0.5 * ga, -0.5 * ga) + 0.5 * gs
    return F1, F2, GA


def ncel_dsigma_dQ2(E_eff, Q2, s_minus_u, proton, MA: float, antineutrino: bool, ff: str = "bbba05",
                    delta_s: float = DELTA_S):
    """NC elastic dσ/dQ² [GeV⁻⁴] on a free nucleon (E_eff: ν energy in its rest frame).

    Llewellyn Smith, Phys. Rep. 3 (1972) 261, eq. (3.18) (form of Formaggio & Zeller RMP 84 (2012)
    1307, eq. (58)) with m_ℓ = 0, no cos²θ_C and the NC form factors of
    :func:`nc_nucleon_form_factors`:
    dσ/dQ² = M²G_F²/(8πE²) [A ∓ B (s−u)/M² + C (s−u)²/M⁴],
    A = Q²/M² [(1+τ)G_A² − (1−τ)F₁² + τ(1−τ)(ξF₂)² + 4τF₁ξF₂], B = Q²/M² G_A(F₁ + ξF₂),
    C = ¼(G_A² + F₁² + τ(ξF₂)²); − for ν, + for ν̄ (sign convention of :mod:`aiva.mc.qe`).
    """
    F1, xF2, GA = nc_nucleon_form_factors(Q2, proton, MA, ff, delta_s)
    M2 = _M * _M
    tau = Q2 / (4 * M2)
    A = Q2 / M2 * ((1 + tau) * GA**2 - (1 - tau) * F1**2 + tau * (1 - tau) * xF2**2 + 4 * tau * F1 * xF2)
    B = Q2 / M2 * GA * (F1 + xF2)
    Cc = 0.25 * (GA**2 + F1**2 + tau * xF2**2)
    sign = 1.0 if antineutrino else -1.0
    pref = M2 * C.G_FERMI**2 / (8 * np.pi * E_eff * E_eff)
    return pref * (A + sign * B * s_minus_u / M2 + Cc * s_minus_u**2 / (M2 * M2))


def ncel(E, target: Target, probe: Probe, cfg: PhysicsConfig, rng) -> Candidates:
    """NC elastic ν N → ν N (modes 51 p, 52 n; ν̄: −51, −52), on the nucleus of the configuration's
    nuclear model, struck proton with probability Z/A, Pauli blocking of the outgoing nucleon."""
    anti = probe.is_antineutrino
    n = len(E)
    is_p = rng.random(n) < target.Z / target.A
    nuc = sample_nucleons(target, cfg.nuclear_model, n, rng, is_p, is_p)
    MX = np.where(is_p, C.M_PROTON, C.M_NEUTRON)
    tb, kP, flux = _lepton_frame(E, nuc, 0.0, MX, rng, Q2_SCALE["qe"])
    kpP = tb.El * nuc.P0 - np.sum(tb.pl * nuc.P, axis=0)
    d = ncel_dsigma_dQ2(kP / _M, tb.Q2, 2 * (kP + kpP), is_p, cfg.qe_MA, anti, cfg.vector_ff)
    pf = nuc.P + tb.q
    pauli = np.sqrt(np.sum(pf * pf, axis=0)) > nuc.kF_final
    w = target.A * d * tb.q2_weight * flux * pauli * GEV2
    mode = np.where(is_p, 51, 52).astype(np.int32)
    return _finish(tb, w, -mode if anti else mode, MX, nuc, is_p)


# ---------------------------------------------------------------------------------------- NC Δ
def nc_delta_contracted(E, Q2, W, antineutrino: bool, par: _delta.DeltaParams, sin2w: float = SIN2_THETA_W):
    """L_{μν}H^{μν}_NC of the N → Δ neutral current for a massless outgoing neutrino.

    The isovector NC vertex is the charged-current one of :mod:`aiva.mc.delta` (LPP06 form
    factors) with the vector form factors C3V, C4V, C5V multiplied by g_V = 1 − 2 sin²θ_W and the
    axial ones unchanged: the isovector part of J^Z is (1 − 2 sin²θ_W)V³ − A³ and the isoscalar
    current cannot excite the Δ (module docstring). As H^{μν} is
    quadratic in the couplings, H_NC = g_V² H_VV + g_V H_VA + H_AA with H_VV the tensor at
    C5A(0) = 0 (all axial form factors ∝ C5A(0)); by parity H_VA is the antisymmetric (ε) part,
    which changes sign between ν and ν̄. With S ± X the CC contraction for ν (+) and ν̄ (−)
    (m_ℓ = 0) and S_VV that of H_VV: L·H_NC = S + (g_V² − 1) S_VV ± g_V X.
    """
    g = 1.0 - 2.0 * sin2w
    c_nu = _delta.contracted(E, Q2, W, 0.0, False, par)
    c_nub = _delta.contracted(E, Q2, W, 0.0, True, par)
    s_vv = _delta.contracted(E, Q2, W, 0.0, False, replace(par, C5A0=0.0))
    S, X = 0.5 * (c_nu + c_nub), 0.5 * (c_nu - c_nub)
    return S + (g * g - 1.0) * s_vv + (-g if antineutrino else g) * X


def ncres(E, target: Target, probe: Probe, cfg: PhysicsConfig, rng) -> Candidates:
    """NC Δ(1232) production ν N → ν Δ (modes 31–34; ν̄ negative).

    d²σ/dQ²dW = R(W) G_F² L·H_NC / (128π M² E²) (the CC formula of :mod:`aiva.mc.delta` without
    cos²θ_C), isospin factor 1 for ν p → ν Δ⁺ and for ν n → ν Δ⁰ in the normalisation where
    ν p → ℓ⁻Δ⁺⁺ has 3: the I = 1 current's third component gives Clebsch–Gordan amplitudes
    √(2/3) for both, the charged one √2 × 1 (Δ⁺⁺) and √2 × √(1/3) (Δ⁺). Δ⁺ → p π⁰ (32, 2/3) or
    n π⁺ (34, 1/3); Δ⁰ → n π⁰ (31, 2/3) or p π⁻ (33, 1/3). Same W proposal and RES → DIS
    smoothstep as the CC channel.
    """
    anti = probe.is_antineutrino
    par = cfg.delta
    n = len(E)
    is_p = rng.random(n) < target.Z / target.A
    nuc = sample_nucleons(target, cfg.nuclear_model, n, rng, is_p, is_p)
    w_hi = np.minimum(_w_upper(E, nuc, 0.0) - 1e-9, cfg.res_w_hi)
    ok = w_hi > _delta.W_MIN
    g2 = par.width / 2
    a_lo = np.arctan((_delta.W_MIN - par.mass) / g2)
    a_hi = np.arctan((np.where(ok, w_hi, _delta.W_MIN + 1e-6) - par.mass) / g2)
    W = par.mass + g2 * np.tan(a_lo + rng.random(n) * (a_hi - a_lo))
    pdf = (g2 / ((W - par.mass) ** 2 + g2 * g2)) / (a_hi - a_lo)
    tb, kP, flux = _lepton_frame(E, nuc, 0.0, W, rng, Q2_SCALE["res"])
    E_eff = kP / _M
    # at the kinematic edge (k′ ∥ q, W at its maximum) the contraction is 0 up to rounding: no negative weights
    lh = np.maximum(nc_delta_contracted(E_eff, tb.Q2, W, anti, par), 0.0)
    d = C.G_FERMI**2 / 2 * lh / (64 * np.pi * _M * _M * E_eff * E_eff) * _delta.breit_wigner(W, par)
    transition = 1.0 - smoothstep(W, cfg.res_w_lo, cfg.res_w_hi)
    w = target.A * d * tb.q2_weight / pdf * flux * transition * ok * GEV2
    r = rng.random(n) < 2 / 3
    mode = np.where(is_p, np.where(r, 32, 34), np.where(r, 31, 33)).astype(np.int32)
    return _finish(tb, w, -mode if anti else mode, W, nuc, is_p)


# ---------------------------------------------------------------------------------------- NC DIS
def nc_quark_couplings(sin2w: float = SIN2_THETA_W):
    """Chiral NC couplings (g_L, g_R) of u- and d-type quarks (tree level):
    g_L = T₃ − Q s², g_R = −Q s²: u: (½ − ⅔ s², −⅔ s²), d, s: (−½ + ⅓ s², ⅓ s²) (PDG 2024,
    "Electroweak model and constraints on new physics" review)."""
    s = sin2w
    return {"u": (0.5 - 2 * s / 3, -2 * s / 3), "d": (-0.5 + s / 3, s / 3)}


def nc_structure_functions(x, Q2, proton, sin2w: float = SIN2_THETA_W):
    """(F₂^NC, xF₃^NC) with the Bodek–Yang ξ_w, K factors and parton densities of :mod:`aiva.mc.dis`.

    F₂ = 2ξ Σ_q (g_L² + g_R²)(q + q̄), xF₃ = 2ξ Σ_q (g_L² − g_R²)(q − q̄) (quark–parton model with
    the Z couplings, e.g. R. Devenish and A. Cooper-Sarkar, "Deep Inelastic Scattering", OUP 2004), which
    in d²σ/dxdy = (G_F² M E/π)[y²xF₁ + (1 − y − Mxy/2E)F₂ ± y(1 − y/2)xF₃] reproduces the parton
    model x[(g_L² + g_R²(1−y)²) q + (g_R² + g_L²(1−y)²) q̄] per flavour. s and s̄ couple as d.
    """
    xi = _dis.xi_w(x, Q2)
    xuv, xdv, xub, xdb, xs = _dis.pdfs(xi)
    xuv, xdv = np.where(proton, xuv, xdv), np.where(proton, xdv, xuv)
    xub, xdb = np.where(proton, xub, xdb), np.where(proton, xdb, xub)
    gd2 = dipole(Q2) ** 2
    kv = {f: (1 - gd2) * (Q2 + c2) / (Q2 + c1) for f, (c1, c2) in _dis._CV.items()}
    ks = {f: Q2 / (Q2 + c) for f, c in _dis._CS.items()}
    u, ub = kv["u"] * xuv + ks["u"] * xub, ks["u"] * xub
    d, db = kv["d"] * xdv + ks["d"] * xdb, ks["d"] * xdb
    s = ks["d"] * xs
    (uL, uR), (dL, dR) = nc_quark_couplings(sin2w).values()
    F2 = 2 * ((uL**2 + uR**2) * (u + ub) + (dL**2 + dR**2) * (d + db + 2 * s))
    xF3 = 2 * ((uL**2 - uR**2) * (u - ub) + (dL**2 - dR**2) * (d - db))
    return F2, xF3


def ncdis_dsigma_dQ2dW(E, Q2, W, antineutrino: bool, proton):
    """NC d²σ/dQ²dW [GeV⁻⁵] on a nucleon at rest: the formula of :func:`aiva.mc.dis.dsigma_dQ2dW`
    (Callan–Gross with the target-mass factor) with :func:`nc_structure_functions`."""
    nu = (W * W - _M * _M + Q2) / (2 * _M)
    x = Q2 / (2 * _M * nu)
    F2, xF3 = nc_structure_functions(x, Q2, proton)
    return _dis.dsigma_from_structure_functions(E, Q2, W, F2, xF3, antineutrino)


def ncdis(E, target: Target, probe: Probe, cfg: PhysicsConfig, rng) -> Candidates:
    """NC inelastic scattering above the Δ (mode 41 for W < 2 GeV — NEUT's NC multi-π — and 46
    above; ν̄ negative), with the same W range and smooth RES → DIS switch-on as the CC ``dis``."""
    anti = probe.is_antineutrino
    n = len(E)
    is_p = rng.random(n) < target.Z / target.A
    nuc = sample_nucleons(target, cfg.nuclear_model, n, rng, is_p, is_p)
    w_lo = cfg.dis_w_lo
    w_hi = _w_upper(E, nuc, 0.0) - 1e-9
    ok = w_hi > w_lo
    W = w_lo + rng.random(n) * np.where(ok, w_hi - w_lo, 0.0)
    tb, kP, flux = _lepton_frame(E, nuc, 0.0, W, rng, Q2_SCALE["dis"])
    d = ncdis_dsigma_dQ2dW(kP / _M, tb.Q2, W, anti, is_p)
    w = target.A * d * tb.q2_weight * (w_hi - w_lo) * flux * smoothstep(W, cfg.dis_w_lo, cfg.dis_w_hi) * ok * GEV2
    mode = np.where(W < 2.0, 41, 46).astype(np.int32)
    return _finish(tb, w, -mode if anti else mode, W, nuc, is_p)
