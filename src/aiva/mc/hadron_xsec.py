"""Free and in-medium hadron–nucleon cross sections for the intranuclear cascade (:mod:`aiva.mc.cascade`).

Hadronic cross sections are given in **millibarn** (1 mb = 10⁻²⁷ cm² = 10¹¹ × 10⁻³⁸ cm², 0.1 fm²) per target
nucleon, the convention of the hadron-physics literature they come from; momenta and energies are in GeV.

Nucleon–nucleon (free, as a function of the projectile momentum p_lab in the target rest frame):

* total σ_pp, σ_np: J. Cugnon, D. L'Hôte, J. Vandermeulen, Nucl. Instrum. Meth. B 111 (1996) 215, in the
  piecewise form of O. Buss et al., Phys. Rep. 512 (2012) 1 (GiBUU), App. B (for p_lab < 5 GeV);
* elastic σ_pp^el, σ_np^el: Buss et al. 2012, App. B (the same piecewise fits, based on Cugnon et al.);
* inelastic = total − elastic above the single-pion threshold √s > 2M + m_π (below it all is elastic);
* the elastic slope B(p_lab) of dσ/dt ∝ exp(B t): Cugnon et al. 1996, eq. (14)
  (B = 5.5 p⁸/(7.7 + p⁸) (GeV/c)⁻² for p_lab < 2 GeV/c, 5.334 + 0.67 (p_lab − 2) above).

Pion–nucleon through the Δ(1232) (P33) resonance:

* free: relativistic Breit–Wigner σ = g_I (8π/k²) (Γ/2)² / ((W − M_Δ)² + (Γ/2)²) (spin factor (2J+1)/2 = 2
  included in 8π/k²), with the p-wave width of L. L. Salcedo, E. Oset, M. J. Vicente-Vacas, C. Garcia-Recio,
  Nucl. Phys. A 484 (1988) 557 ("Salcedo et al. 1988"), eq. (2.7):
  Γ/2 = (1/12π) (f*²/m_π²) (M/W) k³, f*²/4π = 0.36, k the πN momentum in the c.m.; g_I the squared
  isospin-3/2 Clebsch–Gordan coefficient of the πN pair (π⁺p, π⁻n: 1; π⁰N: 2/3; π⁻p, π⁺n: 1/3);
* in medium (density ρ): the Δ self-energy of E. Oset, L. L. Salcedo, Nucl. Phys. A 468 (1987) 631 (their fit of
  C_Q, C_A2, C_A3, α, β as quadratic functions of x = T_π/m_π, valid 85 < T_π < 315 MeV; x is clamped to that
  range here; used as in Salcedo et al. 1988, eq. 2.21):
  −Im Σ_Δ = C_Q (ρ/ρ₀)^α + C_A2 (ρ/ρ₀)^β + C_A3 (ρ/ρ₀)^{2β}, ρ₀ = 0.17 fm⁻³, added to the
  Pauli-reduced decay width Γ̃/2 = F(μ₀) Γ/2 (Salcedo et al. 1988, eq. 2.13: F = (μ₀³ + μ₀ + 2)/4) in the Δ
  propagator |D|² = 1/((W − M_Δ)² + (Γ̃/2 − Im Σ_Δ)²) (eq. 2.23). Per nucleon, quasi-elastic (πN → πN) and absorption
  (Δ N → N N) cross sections follow Salcedo et al. 1988, eq. (2.24): σ_QE = g_I (8π/k²)(Γ/2)(Γ̃/2)|D|² and
  σ_abs = g_I (8π/k²)(Γ/2)(C_A2 ρ̃^β + C_A3 ρ̃^{2β})|D|² (the C_Q part only broadens the Δ). The cascade
  applies explicit Pauli blocking to the outgoing nucleon on top (a small double counting, 5–10 % of σ_QE);
* s-wave terms of Salcedo et al. 1988, Sec. 3.1 and 3.3: quasi-elastic
  σ_s = (a ξ² + b ξ + c)/m_π², ξ = (W − M − m_π)/m_π, (a, b, c) = (−0.01334, 0.06889, 0.19753), isospin-averaged;
  absorption σ_s,abs = 4π Im B₀ (ħc/m_π)⁴ ρ (1 + E_π/2M) ħc/p_π with Im B₀ = 0.035 m_π⁻⁴.
  These per-nucleon in-medium values agree with the Oset–Salcedo tables NuWro uses for carbon (NuWro
  ``src/pitab.cc``) within ≈ 20 % for T_π = 30–300 MeV and ρ = 0.1–1 ρ₀ (tested at 165 MeV) — the same
  structure as NuWro's pion cascade (T. Golan, C. Juszczak, J. T. Sobczyk, Phys. Rev. C 86 (2012) 015505);
* elastic vs charge exchange of the Δ part from isospin: π⁺p → π⁺p only; π⁺n: 1/9 elastic, 2/9 CEX (→ π⁰p);
  π⁰p: 4/9 elastic, 2/9 CEX (→ π⁺n); π⁰n: 4/9, 2/9 (→ π⁻p); π⁻p: 1/9, 2/9 (→ π⁰n); π⁻n elastic only;
* a smooth non-resonant term above the Δ (the higher resonances, which this model does not resolve):
  σ_bg = b₁/(1 + exp(−(T_π − T₁)/w)) with (b₁, T₁, w) = (25 mb, 0.90, 0.15 GeV) for π⁺p / π⁻n and
  (30 mb, 0.45, 0.08 GeV) for π⁻p / π⁺n, the mean of the two for π⁰N — a coarse description of the PDG
  total cross sections (R. L. Workman et al., PTEP 2022 083C01, "Plots of cross sections", π^±p total) above the Δ,
  not a fit; it and the s-wave σ_s are 2/3 elastic and 1/3 CEX for the unlike channels (pure-isospin-1/2
  ratio), elastic only for π⁺p / π⁻n. Multi-pion production (πN → ππN) is not modelled; its cross section is
  counted as quasi-elastic.

Checks (tests/test_mc_cascade.py): σ(π⁺p) at T_π = 165 MeV against 188.2 ± 5.4 mb and σ(π⁻p) against 67.5 ± 1.5 mb
(transmission values of "Scattering of Pions by Hydrogen at 165 Mev", Phys. Rev., 1950s); π⁻p at 224 MeV
(elastic 16.0 ± 0.8, CEX 34.4 ± 1.9 mb, "π⁻p Interactions at 224 Mev", Phys. Rev.).
"""
from __future__ import annotations

from functools import cache

import numpy as np

from aiva.physics import constants as C

#: Saturation density ρ₀ [fm⁻³] of the Oset–Salcedo parametrisation.
RHO0 = 0.17
#: f*²/4π = 0.36: πNΔ coupling (Salcedo et al. 1988, eq. 2.6).
FSTAR2 = 0.36 * 4 * np.pi
#: GeV⁻² → mb.
GEV2_TO_MB = C.HBARC2_GEV2_CM2 / 1e-27
M_N = C.M_NUCLEON
M_PI = C.M_PION_CHARGED

# Oset & Salcedo, NPA 468 (1987) 631: fitted coefficients (a, b, c) of a x² + b x + c, x = T_π/m_π [MeV for C's].
_CQ = (-5.19, 15.35, 2.06)
_CA2 = (1.06, -6.64, 22.66)
_CA3 = (-13.46, 46.17, -20.34)
_ALPHA = (0.382, -1.322, 1.466)
_BETA = (-0.038, 0.204, 0.613)
_X_RANGE = (0.085 / M_PI, 0.315 / M_PI)
#: Weight of the absorptive self energy in σ_abs (1: as NuWro's Oset–Salcedo tables; see docs/physics_cascade.md).
ABS_ISOSPIN = 1.0
#: s-wave πN: σ_s = (a ξ² + b ξ + c)/m_π², ξ = (W − M − m_π)/m_π (Salcedo et al., NPA 484 (1988) 557, Sec. 3.1).
_SIGMA_S = (-0.01334, 0.06889, 0.19753)
#: s-wave absorption strength Im B₀ = 0.035 m_π⁻⁴ (Salcedo et al. 1988, Sec. 3.3).
IM_B0 = 0.035


def dot3(a, b):
    """Row-wise dot product of (3, n) arrays (faster than (a * b).sum(0) for three rows)."""
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def plab_from_s(s, m_proj, m_targ):
    """Projectile momentum in the target rest frame for invariant mass squared ``s`` [GeV]."""
    e = (s - m_proj * m_proj - m_targ * m_targ) / (2 * m_targ)
    return np.sqrt(np.maximum(e * e - m_proj * m_proj, 0.0))


def cm_momentum(W, m1, m2):
    """Two-body momentum in the c.m. frame of invariant mass W (0 below threshold)."""
    W2 = W * W
    arg = (W2 - (m1 + m2) ** 2) * (W2 - (m1 - m2) ** 2)
    return np.sqrt(np.maximum(arg, 0.0)) / (2 * np.maximum(W, 1e-12))


# ============================================================ nucleon–nucleon
def _pp_total(p):
    """σ_pp^tot [mb] (Cugnon et al. 1996; Buss et al. 2012, App. B)."""
    lo = 34.0 * (np.maximum(p, 1e-3) / 0.4) ** -2.104
    mid = 23.5 + 1000.0 * (p - 0.7) ** 4
    hi1 = 23.5 + 24.6 / (1 + np.exp(-(p - 1.2) / 0.1))
    hi2 = 41.0 + 60.0 * (p - 0.9) * np.exp(-1.2 * p)
    return np.select([p < 0.4, p < 0.8, p < 1.5], [lo, mid, hi1], hi2)


def _np_total(p):
    """σ_np^tot [mb] (Cugnon et al. 1996; Buss et al. 2012, App. B)."""
    pp = np.maximum(p, 1e-3)
    lo = 6.3555 * pp ** -3.2481 * np.exp(-0.377 * np.log(pp) ** 2)
    mid = 33.0 + 196.0 * np.abs(p - 0.95) ** 2.5
    hi1 = 24.2 + 8.9 * p
    return np.select([p < 0.4, p < 1.0, p < 2.0], [lo, mid, hi1], 42.0)


def _pp_elastic(p):
    """σ_pp^el [mb] (Buss et al. 2012, App. B); the low-p_lab branch 5.12 M/(s − 4M²) + 1.67 with s − 4M² = 2M T."""
    T = np.sqrt(p * p + M_N * M_N) - M_N
    lo = 5.12 * M_N / np.maximum(2 * M_N * T, 1e-6) + 1.67
    mid = 23.5 + 1000.0 * (p - 0.7) ** 4
    hi1 = 1250.0 / (p + 50.0) - 4.0 * (p - 1.3) ** 2
    hi2 = 77.0 / (p + 1.5)
    return np.select([p < 0.435, p < 0.8, p < 2.0], [lo, mid, hi1], hi2)


def _np_elastic(p):
    """σ_np^el [mb] (Buss et al. 2012, App. B)."""
    T = np.sqrt(p * p + M_N * M_N) - M_N
    lo = 17.05 * M_N / np.maximum(2 * M_N * T, 1e-6) - 6.83
    mid = 33.0 + 196.0 * np.abs(p - 0.95) ** 2.5
    hi1 = 31.0 / np.sqrt(np.maximum(p, 1e-6))
    hi2 = 77.0 / (p + 1.5)
    return np.select([p < 0.525, p < 0.8, p < 2.0], [lo, mid, hi1], hi2)


#: The NN fits are used up to p_lab = 5 GeV/c; above, the 5 GeV/c values (constant) are used.
NN_PLAB_MAX = 5.0
#: Cap on the NN cross sections at very low p_lab, where they diverge (≈ 1/T); such nucleons are Pauli blocked.
NN_SIGMA_MAX = 400.0


_NN_GRID = np.linspace(0.0, NN_PLAB_MAX, 5001)  # 1 MeV/c spacing


@cache
def _nn_tables():
    """(2, 2, G): [σ_el, σ_inel] × [np, pp/nn] on the p_lab grid (the formulas of :func:`nn_xsec_exact`)."""
    g = _NN_GRID
    el_s, in_s = nn_xsec_exact(g, True)
    el_d, in_d = nn_xsec_exact(g, False)
    return np.array([[el_d, el_s], [in_d, in_s]])


def uniform_index(x, x0: float, dx: float, table):
    """Cell index i and fraction f of x on the uniform grid x0 + i dx of ``table`` (clamped at both ends), for linear
    interpolation table[i] (1 − f) + table[i + 1] f."""
    n = table.shape[-1]
    u = np.clip((np.asarray(x, dtype=float) - x0) / dx, 0.0, n - 1.000001)
    i = u.astype(np.int64)
    f = u - i
    return i, f


def nn_xsec(plab, same: np.ndarray | bool):
    """:func:`nn_xsec_exact` interpolated linearly on a 1 MeV/c grid (p_lab ≤ 5 GeV/c; constant above) — the
    cascade's fast path (it differs from the formulas by < 0.5 % above p_lab = 0.1 GeV/c, except within 1 MeV/c
    of the fits' branch points, where the published pieces do not join continuously)."""
    t = _nn_tables()
    i, f = uniform_index(plab, 0.0, _NN_GRID[1], t)
    g = t.shape[-1]
    k = i + g * np.asarray(same, dtype=np.int64)  # flat index into the [np, pp/nn] rows
    t_el, t_in = t[0].ravel(), t[1].ravel()
    el = t_el.take(k) * (1 - f) + t_el.take(k + 1) * f
    inel = t_in.take(k) * (1 - f) + t_in.take(k + 1) * f
    return el, inel


def nn_xsec_exact(plab, same: np.ndarray | bool):
    """Free NN cross sections (σ_el, σ_inel) [mb] at projectile momentum ``plab`` [GeV]; ``same`` = pp or nn.

    Isospin symmetry: σ_nn = σ_pp. σ_inel = σ_tot − σ_el above the pion threshold (p_lab > 0.79 GeV, √s > 2M + m_π),
    0 below (there σ_el = σ_tot of Cugnon et al.).
    """
    p = np.minimum(np.asarray(plab, dtype=float), NN_PLAB_MAX)
    same = np.broadcast_to(np.asarray(same, dtype=bool), p.shape)
    tot = np.where(same, _pp_total(p), _np_total(p))
    el = np.where(same, _pp_elastic(p), _np_elastic(p))
    s = 2 * M_N * (M_N + np.sqrt(p * p + M_N * M_N))
    above = s > (2 * M_N + M_PI) ** 2
    inel = np.where(above, np.maximum(tot - el, 0.0), 0.0)
    el = np.where(above, np.minimum(el, tot), tot)
    return np.minimum(el, NN_SIGMA_MAX), inel


#: Pandharipande–Pieper in-medium NN parameters: ρ₀₀ [fm⁻³], β = −116 MeV ρ/ρ₀₀, Λ = (3.29 − 0.373 ρ/ρ₀₀) fm⁻¹.
_PP_RHO00 = 0.16


def _pp_effective_mass(p2, beta, lam2):
    """M*(p) = M / (1 − 2Mβ/Λ² / (1 + p²/Λ²)²) (p², Λ² in GeV², β in GeV)."""
    return M_N / (1.0 - 2.0 * M_N * beta / lam2 / (1.0 + p2 / lam2) ** 2)


def nn_medium_factor(p1, p2, rho):
    """In-medium reduction of the elastic NN cross section, σ* = f σ_free, of V. R. Pandharipande and S. C. Pieper,
    Phys. Rev. C 45 (1992) 791: f = (|k₁ − k₂|/M) / |k₁/M₁* − k₂/M₂*| × M₃*/M with the momentum-dependent
    effective masses M*(k) of their eqs. (the form NuWro uses, src/Interaction.cc), M₃* at k² = (k₁² + k₂²)/2;
    the inelastic part is reduced by (1 − 0.2 ρ/ρ₀₀) as in NuWro. ``p1``, ``p2`` (3, n) lab momenta [GeV], ``rho``
    [fm⁻³]. Returns (f_el, f_inel)."""
    d = np.maximum(np.asarray(rho, dtype=float), 0.0) / _PP_RHO00
    beta = -0.116 * d
    lam2 = ((3.29 - 0.373 * d) * C.HBARC_GEV_FM) ** 2
    q1, q2 = dot3(p1, p1), dot3(p2, p2)
    m1, m2 = _pp_effective_mass(q1, beta, lam2), _pp_effective_mass(q2, beta, lam2)
    m3 = _pp_effective_mass(0.5 * (q1 + q2), beta, lam2)
    d12 = p1 - p2
    num = np.sqrt(dot3(d12, d12)) / M_N
    v12 = p1 / m1 - p2 / m2
    den = np.sqrt(dot3(v12, v12))
    f_el = np.where(den > 1e-12, num / np.maximum(den, 1e-12), 1.0) * m3 / M_N
    return f_el, 1.0 - 0.2 * d


class MediumFactor:
    """:func:`nn_medium_factor` from invariants, for one projectile and several partners: built with the projectile's
    |p₁|² [GeV²] and the density ρ [fm⁻³]; called with the partner's |p₂|² and p₁·p₂ it returns (f_el, f_inel),
    using |k₁ − k₂|² = k₁² + k₂² − 2 k₁·k₂ and |k₁/M₁* − k₂/M₂*|² likewise (the cascade's fast path, no 3-vectors)."""

    def __init__(self, q1, rho):
        d = np.maximum(np.asarray(rho, dtype=float), 0.0) / _PP_RHO00
        self.beta = -0.116 * d
        self.lam2 = ((3.29 - 0.373 * d) * C.HBARC_GEV_FM) ** 2
        self.q1 = q1
        self.m1 = _pp_effective_mass(q1, self.beta, self.lam2)
        self.f_inel = 1.0 - 0.2 * d

    def __call__(self, q2, p12):
        q1, m1 = self.q1, self.m1
        m2 = _pp_effective_mass(q2, self.beta, self.lam2)
        m3 = _pp_effective_mass(0.5 * (q1 + q2), self.beta, self.lam2)
        num = np.sqrt(np.maximum(q1 + q2 - 2 * p12, 0.0)) / M_N
        den = np.sqrt(np.maximum(q1 / (m1 * m1) + q2 / (m2 * m2) - 2 * p12 / (m1 * m2), 0.0))
        f_el = np.where(den > 1e-12, num / np.maximum(den, 1e-12), 1.0) * m3 / M_N
        return f_el, self.f_inel


def nn_slope(plab):
    """Slope B [(GeV/c)⁻²] of dσ_el/dt ∝ exp(B t) (Cugnon et al. 1996, eq. 14)."""
    p = np.asarray(plab, dtype=float)
    p8 = p ** 8
    return np.where(p < 2.0, 5.5 * p8 / (7.7 + p8), 5.334 + 0.67 * (p - 2.0))


# ============================================================ pion–nucleon
def _quad(c, x):
    return (c[0] * x + c[1]) * x + c[2]


def delta_half_width(W, k):
    """Free Δ half width Γ/2 [GeV] (Salcedo et al., NPA 484 (1988) 557, eq. 2.7) at πN invariant mass W, c.m. momentum k."""
    return FSTAR2 / (12 * np.pi * M_PI * M_PI) * (M_N / W) * k ** 3


def oset_self_energy(T_pi, rho):
    """(C_Q ρ̃^α, C_A2 ρ̃^β + C_A3 ρ̃^{2β}) [GeV]: quasi-elastic and absorptive −Im Σ_Δ (Oset & Salcedo, NPA 468
    (1987) 631; Salcedo et al. 1988, eq. 2.21)."""
    x = np.clip(np.asarray(T_pi) / M_PI, *_X_RANGE)
    r = np.maximum(np.asarray(rho), 0.0) / RHO0
    alpha, beta = _quad(_ALPHA, x), _quad(_BETA, x)
    with np.errstate(divide="ignore"):
        lr = np.log(np.maximum(r, 1e-300))
    ra, rb = np.exp(alpha * lr), np.exp(beta * lr)
    cq = np.maximum(_quad(_CQ, x), 0.0) * ra
    ca = np.maximum(_quad(_CA2, x), 0.0) * rb + np.maximum(_quad(_CA3, x), 0.0) * rb * rb
    z = r <= 0
    return np.where(z, 0.0, cq) * 1e-3, np.where(z, 0.0, ca) * 1e-3


def pauli_reduction(W, k, E_pi, p_pi, rho):
    """F(μ₀) = (μ₀³ + μ₀ + 2)/4, clipped to [0, 1]: Pauli reduction of the Δ → πN width (Salcedo et al. 1988, eq. 2.13),
    with μ₀ = (E_Δ E_N* − E_F W)/(p_Δ k), nucleon at rest, E_F from k_F = (3π²ρ/2)^{1/3} (symmetric matter)."""
    kF = np.cbrt(1.5 * np.pi ** 2 * np.maximum(rho, 0.0)) * C.HBARC_GEV_FM
    EF = np.sqrt(kF * kF + M_N * M_N)
    ENcm = np.sqrt(k * k + M_N * M_N)
    mu0 = ((E_pi + M_N) * ENcm - EF * W) / np.maximum(p_pi * k, 1e-12)
    mu0 = np.clip(mu0, -1.0, 1.0)
    return (mu0 ** 3 + mu0 + 2) / 4


#: Isospin-3/2 weight g_I and the CEX fraction of the Δ part, indexed [pion charge + 1, nucleon is proton].
_G_I = np.array([[1.0, 1 / 3], [2 / 3, 2 / 3], [1 / 3, 1.0]])  # rows π⁻, π⁰, π⁺; columns n, p
_CEX_DELTA = np.array([[0.0, 2 / 3], [1 / 3, 1 / 3], [2 / 3, 0.0]])
#: Non-resonant term: (b0, b1, T1, w) for the 'like' (π⁺p, π⁻n) and 'unlike' (π⁻p, π⁺n) channels.
_BG_LIKE = (0.0, 25.0, 0.90, 0.15)
_BG_UNLIKE = (0.0, 30.0, 0.45, 0.08)


def _bg(T, par):
    b0, b1, t1, w = par
    return b0 + b1 / (1 + np.exp(-(T - t1) / w))


def pin_xsec(W, T_pi, E_pi, p_pi, charge, is_proton, rho=0.0):
    """πN cross sections (σ_el, σ_cex, σ_abs) [mb] per nucleon, at πN invariant mass ``W`` [GeV].

    ``T_pi``, ``E_pi``, ``p_pi``: the pion's kinetic energy, energy and momentum in the nucleon rest frame
    (for the Oset–Salcedo self energy and Pauli factor); ``charge`` ∈ {−1, 0, 1}; ``rho`` the local nucleon
    density [fm⁻³] (0: free cross sections, σ_abs = 0). See the module docstring for the model.
    """
    W = np.asarray(W, dtype=float)
    charge = np.asarray(charge, dtype=np.int64)
    isp = np.asarray(is_proton, dtype=np.int64)
    g = _G_I[charge + 1, isp]
    fcex = _CEX_DELTA[charge + 1, isp]
    k = cm_momentum(W, M_PI, M_N)
    half = delta_half_width(W, k)
    rho = np.asarray(rho, dtype=float)
    cq, ca = oset_self_energy(T_pi, rho)
    F = np.where(rho > 0, pauli_reduction(W, k, E_pi, p_pi, rho), 1.0)
    D2 = 1.0 / ((W - C.M_DELTA) ** 2 + (F * half + cq + ca) ** 2)
    pref = g * 8 * np.pi / np.maximum(k * k, 1e-8) * half * D2 * GEV2_TO_MB
    s_qe = pref * F * half
    s_abs = pref * ABS_ISOSPIN * ca
    # s-wave absorption, σ = 4π Im B₀ (ħc/m_π)⁴ ρ (1 + E_π/2M) ħc/p_π [fm²] (Salcedo et al. 1988, Sec. 3.3)
    E_pi, p_pi = np.asarray(E_pi, dtype=float), np.asarray(p_pi, dtype=float)
    s_abs = s_abs + 40 * np.pi * IM_B0 * (C.HBARC_GEV_FM / M_PI) ** 4 * np.maximum(rho, 0.0) * (
        1 + E_pi / (2 * M_N)) * C.HBARC_GEV_FM / np.maximum(p_pi, 1e-3)
    like = (charge * (2 * isp - 1)) > 0  # π⁺p or π⁻n
    neutral = charge == 0
    xi = np.maximum((W - M_N - M_PI) / M_PI, 0.0)
    s_wave = np.maximum(_quad(_SIGMA_S, xi), 0.0) / M_PI ** 2 * GEV2_TO_MB
    bg_like, bg_unlike = _bg(T_pi, _BG_LIKE), _bg(T_pi, _BG_UNLIKE)
    bg = s_wave + np.where(neutral, 0.5 * (bg_like + bg_unlike), np.where(like, bg_like, bg_unlike))
    bg_cex = np.where(like, 0.0, np.where(neutral, 0.5, 1.0) * bg / 3)
    s_cex = s_qe * fcex + bg_cex
    s_el = s_qe * (1 - fcex) + bg - bg_cex
    return s_el, s_cex, s_abs
