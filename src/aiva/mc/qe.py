"""Charged-current quasielastic scattering, ν n → ℓ⁻ p and ν̄ p → ℓ⁺ n.

Free-nucleon cross section of C. H. Llewellyn Smith, Phys. Rep. 3 (1972) 261, eq. (3.18), in
the notation of J. A. Formaggio and G. P. Zeller, Rev. Mod. Phys. 84 (2012) 1307, eq. (58):

    dσ/dQ² = M² G_F² cos²θ_C / (8π E_ν²) · [A ∓ B (s−u)/M² + C (s−u)²/M⁴]   (− for ν, + for ν̄
    with g_A < 0),
    A = (m² + Q²)/M² · [(1+τ)G_A² − (1−τ)F₁² + τ(1−τ)(ξF₂)² + 4τF₁ξF₂
                         − m²/(4M²)((F₁+ξF₂)² + (G_A+2F_P)² − 4(1+τ)F_P²)],
    B = Q²/M² · G_A (F₁ + ξF₂),
    C = ¼ (G_A² + F₁² + τ(ξF₂)²),
    s − u = 4ME_ν − Q² − m²,   τ = Q²/4M².

For a bound nucleon of four-momentum P the invariants are used: E_ν → k·P/M,
s − u → 2(k + k')·P − m², and the flux factor (k·P)/(E_ν P⁰) converts the invariant cross
section to the lab (Smith & Moniz 1972).
"""
from __future__ import annotations

import numpy as np

from aiva.mc.formfactors import axial, isovector_dirac_pauli, pseudoscalar
from aiva.physics import constants as C

_M = C.M_NUCLEON


def ls_structure(Q2, m_l: float, MA: float, ff: str = "bbba05"):
    """(A, B, C) of Llewellyn Smith's formula."""
    F1, xF2 = isovector_dirac_pauli(Q2, ff)
    GA = axial(Q2, MA)
    FP = pseudoscalar(Q2, GA)
    M2 = _M * _M
    tau = Q2 / (4 * M2)
    m2 = m_l * m_l
    A = (m2 + Q2) / M2 * ((1 + tau) * GA**2 - (1 - tau) * F1**2 + tau * (1 - tau) * xF2**2 + 4 * tau * F1 * xF2
                          - m2 / (4 * M2) * ((F1 + xF2) ** 2 + (GA + 2 * FP) ** 2 - 4 * (1 + tau) * FP**2))
    B = Q2 / M2 * GA * (F1 + xF2)
    Cc = 0.25 * (GA**2 + F1**2 + tau * xF2**2)
    return A, B, Cc


def dsigma_dQ2(E_eff, Q2, s_minus_u, m_l: float, MA: float, antineutrino: bool, ff: str = "bbba05"):
    """Llewellyn Smith dσ/dQ² in GeV⁻⁴ (multiply by GEV2_TO_1E38CM2 for 10⁻³⁸ cm²/GeV²)."""
    A, B, Cc = ls_structure(Q2, m_l, MA, ff)
    sign = 1.0 if antineutrino else -1.0
    M2 = _M * _M
    pref = M2 * C.G_FERMI**2 * C.COS_CABIBBO**2 / (8 * np.pi * E_eff * E_eff)
    return pref * (A + sign * B * s_minus_u / M2 + Cc * s_minus_u**2 / (M2 * M2))


def free_xsec(E, *, m_l: float = C.M_MUON, MA: float = 1.03, antineutrino: bool = False, ff: str = "bbba05",
              n_gauss: int = 64) -> np.ndarray:
    """σ(E) on a free nucleon at rest [10⁻³⁸ cm²], Gauss–Legendre over the physical Q² range.

    Initial/final nucleon masses: n → p for ν, p → n for ν̄ (PDG masses).
    """
    E = np.atleast_1d(np.asarray(E, dtype=np.float64))
    Mi, Mf = (C.M_PROTON, C.M_NEUTRON) if antineutrino else (C.M_NEUTRON, C.M_PROTON)
    s = Mi * Mi + 2 * Mi * E
    rs = np.sqrt(s)
    ok = rs > Mf + m_l
    lam = np.clip((s - (Mf + m_l) ** 2) * (s - (Mf - m_l) ** 2), 0, None)
    pl = np.sqrt(lam) / (2 * rs)
    El = (s + m_l * m_l - Mf * Mf) / (2 * rs)
    kc = (s - Mi * Mi) / (2 * rs)
    q2min = 2 * kc * (El - pl) - m_l * m_l
    q2max = 2 * kc * (El + pl) - m_l * m_l
    x, w = np.polynomial.legendre.leggauss(n_gauss)
    Q2 = 0.5 * (q2max - q2min)[:, None] * x[None, :] + 0.5 * (q2max + q2min)[:, None]
    su = 4 * Mi * E[:, None] - Q2 - m_l * m_l
    d = dsigma_dQ2(E[:, None], Q2, su, m_l, MA, antineutrino, ff)
    sig = 0.5 * (q2max - q2min) * np.sum(w[None, :] * d, axis=1)
    return np.where(ok, sig, 0.0) * C.GEV2_TO_1E38CM2
