"""Nucleon and N→Δ(1232) form factors.

Conventions: Q² = −q² ≥ 0 in GeV², τ = Q²/(4M²).

Vector (isovector) nucleon form factors, from the Sachs form factors via CVC:
    G^V_{E,M} = G^p_{E,M} − G^n_{E,M},
    F^V_1 = (G^V_E + τ G^V_M)/(1 + τ),    ξF^V_2 = (G^V_M − G^V_E)/(1 + τ)
(C. H. Llewellyn Smith, Phys. Rep. 3 (1972) 261, Sec. 3.)

* ``dipole``: G^p_E = G_D, G^p_M = μ_p G_D, G^n_M = μ_n G_D, G^n_E = 0, G_D = (1 + Q²/M_V²)⁻²,
  M_V² = 0.71 GeV².
* ``bbba05``: R. Bradford, A. Bodek, H. Budd, J. Arrington, Nucl. Phys. B Proc. Suppl. 159 (2006)
  127 (hep-ex/0602017), Table 1: G(Q²) = Σ_{k≤2} a_k τ^k / (1 + Σ_{k≤4} b_k τ^k) (τ with the proton
  mass for the proton and neutron magnetic and proton electric fits; neutron electric too).

Axial: G_A = g_A/(1 + Q²/M_A²)², pseudoscalar from PCAC (pion pole):
F_P = 2M² G_A/(m_π² + Q²) (Llewellyn Smith 1972, eq. 3.22).

N→Δ transition form factors in the convention of O. Lalakulich, E. A. Paschos, G. Piranishvili,
Phys. Rev. D 74 (2006) 014009 ("LPP06"), eqs. (12)–(13):
    C3V = 2.13 G_D/(1 + Q²/4M_V²),  C4V = −1.51 G_D/(1 + Q²/4M_V²),
    C5V = 0.48 G_D/(1 + Q²/(0.776 M_V²)),
    C5A = C5A(0)/(1 + Q²/M_AΔ²)² / (1 + Q²/(3 M_AΔ²)),  C4A = −C5A/4,  C3A = 0,
    C6A = C5A M²/(m_π² + Q²).
The ``alt`` configuration uses the pure dipole C5A = C5A(0)/(1 + Q²/M_AΔ²)² with the couplings
of the ANL+BNL fit of K. M. Graczyk, D. Kiełczewska, P. Przewłocki, J. T. Sobczyk,
Phys. Rev. D 80 (2009) 093001 (C5A(0) = 1.19, M_AΔ = 0.94 GeV) unless overridden.
"""
from __future__ import annotations


from aiva.physics import constants as C

_M = C.M_NUCLEON

# Bradford–Bodek–Budd–Arrington 2005 (Table 1 of hep-ex/0602017): (a0, a1, a2), (b1, b2, b3, b4)
_BBBA05 = {
    "GEp": ((1.0, -0.0578, 0.0), (11.1, 13.6, 33.0, 0.0)),
    "GMp": ((1.0, 0.150, 0.0), (11.1, 19.6, 7.54, 0.0)),
    "GMn": ((1.0, 1.81, 0.0), (14.1, 20.7, 68.7, 0.0)),
    "GEn": ((0.0, 1.25, 1.30), (-9.86, 305.0, -758.0, 802.0)),
}


def dipole(Q2, mass2: float = C.M_V2):
    return 1.0 / (1.0 + Q2 / mass2) ** 2


def _bbba05(name: str, Q2):
    (a0, a1, a2), (b1, b2, b3, b4) = _BBBA05[name]
    t = Q2 / (4 * C.M_PROTON**2)
    return (a0 + a1 * t + a2 * t * t) / (1 + b1 * t + b2 * t**2 + b3 * t**3 + b4 * t**4)


def sachs(Q2, model: str = "bbba05"):
    """(G_E^p, G_M^p, G_E^n, G_M^n)."""
    if model == "dipole":
        gd = dipole(Q2)
        return gd, C.MU_PROTON * gd, 0.0 * gd, C.MU_NEUTRON * gd
    if model == "bbba05":
        return (_bbba05("GEp", Q2), C.MU_PROTON * _bbba05("GMp", Q2), _bbba05("GEn", Q2),
                C.MU_NEUTRON * _bbba05("GMn", Q2))
    raise ValueError(f"unknown vector form-factor model {model!r} (dipole, bbba05)")


def isovector_dirac_pauli(Q2, model: str = "bbba05"):
    """(F1^V, ξF2^V) of the isovector weak current (CVC)."""
    gep, gmp, gen, gmn = sachs(Q2, model)
    gev, gmv = gep - gen, gmp - gmn
    tau = Q2 / (4 * _M * _M)
    return (gev + tau * gmv) / (1 + tau), (gmv - gev) / (1 + tau)


def axial(Q2, MA: float, gA: float = C.G_AXIAL):
    return gA / (1.0 + Q2 / (MA * MA)) ** 2


def pseudoscalar(Q2, GA):
    return 2 * _M * _M * GA / (C.M_PION**2 + Q2)


def delta_transition(Q2, C5A0: float = 1.2, MA: float = 1.05, shape: str = "lpp06"):
    """(C3V, C4V, C5V, C3A, C4A, C5A, C6A) of LPP06 (see module docstring)."""
    gd = dipole(Q2)
    c3v = 2.13 * gd / (1 + Q2 / (4 * C.M_V2))
    c4v = -1.51 * gd / (1 + Q2 / (4 * C.M_V2))
    c5v = 0.48 * gd / (1 + Q2 / (0.776 * C.M_V2))
    c5a = C5A0 / (1 + Q2 / MA**2) ** 2
    if shape == "lpp06":
        c5a = c5a / (1 + Q2 / (3 * MA**2))
    elif shape != "dipole":
        raise ValueError(f"unknown C5A shape {shape!r}")
    c4a = -c5a / 4
    c3a = 0.0 * c5a
    c6a = c5a * _M * _M / (C.M_PION**2 + Q2)
    return c3v, c4v, c5v, c3a, c4a, c5a, c6a
