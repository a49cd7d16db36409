"""Δ(1232) production, ν N → ℓ⁻ Δ and ν̄ N → ℓ⁺ Δ, on free nucleons.

Model: the isobar model of the N→Δ weak transition with the vertex of C. H. Llewellyn Smith,
Phys. Rep. 3 (1972) 261 in the conventions of O. Lalakulich and E. A. Paschos, Phys. Rev. D 71
(2005) 074003 (hep-ph/0501109), eqs. (2)–(4):

    ⟨Δ|V^μ|N⟩ = ū_α [ C3V/M (g^{αμ} q̸ − q^α γ^μ) + C4V/M² (g^{αμ} q·p_Δ − q^α p_Δ^μ)
                       + C5V/M² (g^{αμ} q·p − q^α p^μ) ] γ5 u,
    ⟨Δ|A^μ|N⟩ = ū_α [ C3A/M (g^{αμ} q̸ − q^α γ^μ) + C4A/M² (g^{αμ} q·p_Δ − q^α p_Δ^μ)
                       + C5A g^{αμ} + C6A/M² q^α q^μ ] u,

J = V − A, form factors of :func:`aiva.mc.formfactors.delta_transition` (LPP06). The hadronic
tensor H^{μν} = ½ Σ J^μ J^{ν*} is evaluated numerically with the Rarita–Schwinger spin sum

    Σ u^α ū^β = −(p̸_Δ + W)[g^{αβ} − γ^αγ^β/3 − 2p_Δ^α p_Δ^β/(3W²) + (p_Δ^α γ^β − p_Δ^β γ^α)/(3W)]

on a grid of (Q², W) in the nucleon rest frame with q along z, where H depends on nothing else,
and contracted with the lepton tensor event by event. The Δ line shape is a relativistic
Breit–Wigner normalised in W,

    R(W) = (2W/π) M_Δ Γ(W) / ((W² − M_Δ²)² + M_Δ² Γ(W)²),
    Γ(W) = Γ₀ (M_Δ/W) (p_π(W)/p_π(M_Δ))³     (P-wave, e.g. LPP06 eq. (19)),

so that d²σ/dQ²dW = R(W) · G_F² cos²θ_C L_{μν}H^{μν} / (128π M² E²) with E the neutrino energy
in the nucleon rest frame.

Isospin: with this normalisation of C5A(0) ≈ 1.2 (off-diagonal Goldberger–Treiman relation) the
amplitudes are √3 for ν p → ℓ⁻Δ⁺⁺ and ν̄ n → ℓ⁺Δ⁻ and 1 for ν n → ℓ⁻Δ⁺ and ν̄ p → ℓ⁺Δ⁰
(Clebsch–Gordan coefficients of the I = 1 current; LPP06 Sec. II), i.e. cross-section factors 3
and 1. Δ⁺ (Δ⁰) decays to pπ⁰ (nπ⁰) with probability 2/3 and to nπ⁺ (pπ⁻) with 1/3.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from aiva.mc.dirac import GAMMA, GAMMA5, ID4, METRIC, bar, dot, slash
from aiva.mc.formfactors import delta_transition
from aiva.physics import constants as C

_M = C.M_NUCLEON
W_MIN = C.M_NUCLEON + C.M_PION_NEUTRAL  #: πN threshold
W_MAX_TABLE = 2.2  #: GeV, upper edge of the tabulated W range
Q2_MAX_TABLE = 8.0  #: GeV², above which the Δ tensor is taken as zero (form factors ~ Q⁻¹⁰)


@dataclass(frozen=True)
class DeltaParams:
    C5A0: float = 1.2
    MA: float = 1.05
    shape: str = "lpp06"
    width: float = C.GAMMA_DELTA
    mass: float = C.M_DELTA


def _pion_momentum(W):
    m, M = C.M_PION, _M
    lam = (W * W - (M + m) ** 2) * (W * W - (M - m) ** 2)
    return np.sqrt(np.clip(lam, 0, None)) / (2 * W)


def breit_wigner(W, par: DeltaParams):
    """R(W) in GeV⁻¹ (∫R dW ≈ 1)."""
    gam = par.width * (par.mass / W) * (_pion_momentum(W) / _pion_momentum(par.mass)) ** 3
    return (2 * W / np.pi) * par.mass * gam / ((W * W - par.mass**2) ** 2 + (par.mass * gam) ** 2)


def hadron_tensor(Q2, W, par: DeltaParams):
    """H^{μν} (N, 4, 4) at (Q², W) in the nucleon rest frame, q along +z."""
    Q2 = np.asarray(Q2, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    n = len(Q2)
    omega = (W * W - _M * _M + Q2) / (2 * _M)
    q3 = np.sqrt(Q2 + omega * omega)
    p = np.zeros((n, 4))
    p[:, 0] = _M
    q = np.zeros((n, 4))
    q[:, 0], q[:, 3] = omega, q3
    pd = p + q
    c3v, c4v, c5v, c3a, c4a, c5a, c6a = (np.broadcast_to(c, Q2.shape) for c in
                                         delta_transition(Q2, par.C5A0, par.MA, par.shape))
    qs = slash(q)
    g = np.diag(METRIC)
    qpd, qp = dot(q, pd), dot(q, p)
    # vertex Γ^{αμ} (N, α, μ, 4, 4)
    t1 = np.einsum("am,nij->namij", g, qs) - np.einsum("na,mij->namij", q, GAMMA)
    t2 = (np.einsum("am,n->nam", g, qpd) - np.einsum("na,nm->nam", q, pd))[..., None, None] * ID4
    t3 = (np.einsum("am,n->nam", g, qp) - np.einsum("na,nm->nam", q, p))[..., None, None] * ID4
    s = lambda c: c[:, None, None, None, None]  # noqa: E731
    V = (s(c3v) / _M * t1 + s(c4v) / _M**2 * t2 + s(c5v) / _M**2 * t3) @ GAMMA5
    A = (s(c3a) / _M * t1 + s(c4a) / _M**2 * t2 + s(c5a) * g[None, :, :, None, None] * ID4
         + s(c6a) / _M**2 * np.einsum("na,nm->nam", q, q)[..., None, None] * ID4)
    G = V + A
    Gbar = bar(G)
    # Rarita–Schwinger spin sum P^{βα}
    pds = slash(pd)
    Wc = W[:, None, None, None, None]
    gam_ba = np.einsum("bij,ajk->baik", GAMMA, GAMMA)  # γ^β γ^α
    bracket = (g[None, :, :, None, None] * ID4 - gam_ba[None] / 3
               - 2 * np.einsum("nb,na->nba", pd, pd)[..., None, None] * ID4 / (3 * Wc**2)
               + (np.einsum("nb,aij->nbaij", pd, GAMMA) - np.einsum("na,bij->nbaij", pd, GAMMA)) / (3 * Wc))
    P = -np.einsum("nij,nbajk->nbaik", pds + W[:, None, None] * ID4, bracket)
    # lower α and β: H^{μν} = ½ Σ g_αα g_ββ Tr[P^{βα} Γ^{αμ} (p̸+M) Γ̄^{βν}]
    P = P * (METRIC[None, :, None, None, None] * METRIC[None, None, :, None, None])
    X = G @ (slash(p) + _M * ID4)[:, None, None]
    return 0.5 * np.einsum("nbaij,namjk,nbvki->nmv", P, X, Gbar, optimize=True)


#: offset of the Q² grid variable t = ln(Q² + Q2_OFFSET): dense at low Q², where the pion pole
#: of C6A and the cancellations in L_{μν}H^{μν} make the tensor vary fastest
Q2_OFFSET = 0.02


@dataclass
class DeltaTable:
    """Components of H^{μν} on a grid uniform in (ln(Q² + Q2_OFFSET), W): 00, 03, 33, 11 (real)
    and 12 (imaginary)."""

    q2: np.ndarray
    w: np.ndarray
    comps: np.ndarray  # (5, nq, nw)
    order: int = 3

    def __post_init__(self) -> None:
        from scipy.ndimage import spline_filter

        # cubic B-spline coefficients, computed once (map_coordinates then skips its prefilter)
        self._coef = np.stack([spline_filter(c, order=self.order, mode="nearest") for c in self.comps])

    def interpolate(self, Q2, W):
        """Cubic-spline interpolation of the five components; zero outside the grid."""
        from scipy.ndimage import map_coordinates

        t = np.log(Q2 + Q2_OFFSET)
        t0 = np.log(self.q2[0] + Q2_OFFSET)
        iq = (t - t0) / (np.log(self.q2[1] + Q2_OFFSET) - t0)
        iw = (W - self.w[0]) / (self.w[1] - self.w[0])
        coords = np.vstack([iq, iw])
        out = np.stack([map_coordinates(c, coords, order=self.order, mode="nearest", prefilter=False)
                        for c in self._coef])
        inside = (Q2 >= self.q2[0]) & (Q2 <= self.q2[-1]) & (W <= self.w[-1]) & (W >= self.w[0])
        return out * inside


@lru_cache(maxsize=8)
def delta_table(par: DeltaParams, nq: int = 161, nw: int = 113) -> DeltaTable:
    q2 = np.exp(np.linspace(np.log(Q2_OFFSET), np.log(Q2_MAX_TABLE + Q2_OFFSET), nq)) - Q2_OFFSET
    q2[0] = 0.0
    w = np.linspace(W_MIN, W_MAX_TABLE, nw)
    QQ2, WW2 = np.meshgrid(q2, w, indexing="ij")
    QQ, WW = QQ2.ravel(), WW2.ravel()
    comps = np.empty((5, QQ.size))
    step = 2000
    for i in range(0, QQ.size, step):
        H = hadron_tensor(QQ[i:i + step], WW[i:i + step], par)
        comps[0, i:i + step] = H[:, 0, 0].real
        comps[1, i:i + step] = H[:, 0, 3].real
        comps[2, i:i + step] = H[:, 3, 3].real
        comps[3, i:i + step] = H[:, 1, 1].real
        comps[4, i:i + step] = H[:, 1, 2].imag
    return DeltaTable(q2, w, comps.reshape(5, nq, nw))


def contracted(E, Q2, W, m_l: float, antineutrino: bool, par: DeltaParams):
    """L_{μν}H^{μν} for neutrino energy E (nucleon rest frame), Q², W; (N,) array.

    In the frame with q along z, k lies in the x–z plane with k⁰ = E,
    k_z = (Eω + (Q² + m²)/2)/|q|, k_x = √(E² − k_z²), k' = k − q; then the lepton tensor
    L^{μν} = 8[k'^μk^ν + k^μk'^ν − g^{μν}k·k' ± iε^{μναβ}k_αk'_β] is contracted with the
    tabulated components.
    """
    h00, h03, h33, h11, h12 = delta_table(par).interpolate(Q2, W)
    omega = (W * W - _M * _M + Q2) / (2 * _M)
    q3 = np.sqrt(Q2 + omega * omega)
    kz = (E * omega + 0.5 * (Q2 + m_l * m_l)) / q3
    kx = np.sqrt(np.clip(E * E - kz * kz, 0, None))
    k0p, kxp, kzp = E - omega, kx, kz - q3
    kk = 0.5 * (Q2 + m_l * m_l)  # k·k'
    L00 = 8 * (2 * E * k0p - kk)
    L03 = 8 * (k0p * kz + E * kzp)
    L33 = 8 * (2 * kzp * kz + kk)
    L11 = 8 * (2 * kxp * kx + kk)
    L22 = 8 * kk
    # antisymmetric part: L^{12} = s·8i ε^{12αβ} k_α k'_β with ε^{1203} = +1, ε^{1230} = −1
    # (k_α lower: k_0 = k⁰, k_3 = −k^z) → ε^{12αβ}k_αk'_β = k_0 k'_3 − k_3 k'_0
    s = -1.0 if antineutrino else 1.0
    L12_im = s * 8 * (E * (-kzp) - (-kz) * k0p)
    # Σ g g L^{μν}H^{μν}: 00 (+), 03 & 30 (−), 33 (+), 11, 22 (+), 12 & 21 (+)
    re = L00 * h00 - 2 * L03 * h03 + L33 * h33 + (L11 + L22) * h11
    # L^{12}H^{12} + L^{21}H^{21} = 2 Re[(i a)(i b)] = −2 a b
    re = re - 2 * L12_im * h12
    return re


def dsigma_dQ2dW(E, Q2, W, m_l: float, antineutrino: bool, par: DeltaParams):
    """d²σ/dQ²dW [GeV⁻⁵] for isospin factor 1, neutrino energy E in the nucleon rest frame."""
    lh = contracted(E, Q2, W, m_l, antineutrino, par)
    return (C.G_FERMI**2 * C.COS_CABIBBO**2 / 2) * lh / (64 * np.pi * _M * _M * E * E) * breit_wigner(W, par)
