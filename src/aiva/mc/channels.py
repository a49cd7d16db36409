"""Interaction channels as weighted-candidate generators on a nucleus.

Each channel draws, for neutrino energies E (lab, along +z), one candidate event per entry with
a weight w such that σ_channel(E) = E[w] (10⁻³⁸ cm² per nucleus). Candidates share one recipe:

1. draw the struck nucleon from the nuclear model (:mod:`aiva.mc.nuclear`);
2. draw the hadronic mass M_X (fixed for QE; Breit–Wigner-like for the Δ; uniform for DIS);
3. draw the lepton uniformly in cos θ* and φ in the ν–nucleon centre-of-mass frame
   (:mod:`aiva.mc.twobody`): a uniform Q² over its range, with ΔQ² = 4E*_k p*_ℓ;
4. weight = (nucleon count × isospin factor) × dσ/dQ²(dW) × ΔQ² (× 1/pdf(W)) × flux factor
   (k·P)/(E P⁰) × Pauli factor × transition factor.

The free-nucleon formulas are evaluated with the invariants of the bound nucleon (E → k·P/M).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aiva.events.particles import ParticleList
from aiva.mc import delta as _delta
from aiva.mc import dis as _dis
from aiva.mc import qe as _qe
from aiva.mc.config import PhysicsConfig
from aiva.mc.nuclear import sample_nucleons
from aiva.mc.twobody import sample as twobody
from aiva.physics import constants as C
from aiva.physics.targets import Probe, Target

_M = C.M_NUCLEON
GEV2 = C.GEV2_TO_1E38CM2


@dataclass
class Candidates:
    """Weighted candidates of one channel; the vertex fields feed the whole-event stage.

    Lab frame, beam along +z, GeV. ``pl`` is the lepton 3-momentum, ``P`` the struck nucleon's
    4-momentum (energy off shell: √(M² + p²) − ε_B; for coherent scattering the nucleus at rest),
    so that the hadronic system is P_had = k + P − k′ with invariant mass ``W``; ``hit_p`` says
    whether the struck nucleon is a proton. Channels whose hadrons are not a function of P_had
    alone (coherent π, 2p2h) give them in ``hadrons`` (one list per candidate, lab frame).
    """

    El: np.ndarray
    cos: np.ndarray
    weight: np.ndarray
    mode: np.ndarray
    Q2: np.ndarray
    q0: np.ndarray
    W: np.ndarray
    pl: np.ndarray | None = None  #: (3, n) lepton momentum
    P: np.ndarray | None = None  #: (4, n) struck nucleon (E, px, py, pz)
    hit_p: np.ndarray | None = None  #: (n,) struck nucleon is a proton
    hadrons: ParticleList | None = None  #: primary hadrons made by the channel itself

    def take(self, idx: np.ndarray) -> Candidates:
        """The candidates at ``idx`` (an index array or boolean mask)."""
        def cut(a):
            return None if a is None else a[..., idx]

        return Candidates(self.El[idx], self.cos[idx], self.weight[idx], self.mode[idx], self.Q2[idx], self.q0[idx],
                          self.W[idx], cut(self.pl), cut(self.P), cut(self.hit_p),
                          None if self.hadrons is None else self.hadrons.take(idx))


def smoothstep(x, lo: float, hi: float):
    """0 below lo, 1 above hi, 3u² − 2u³ in between (continuous with continuous slope)."""
    u = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return u * u * (3 - 2 * u)


#: Q² proposal scales c of p(Q²) ∝ 1/(Q² + c)² (GeV²), chosen for acceptance efficiency only
Q2_SCALE = {"qe": 0.6, "res": 0.6, "dis": 1.0}


def _lepton_frame(E, nuc, m_l, MX, rng, q2_scale):
    n = len(E)
    u = rng.random(n)
    phi = 2 * np.pi * rng.random(n)
    tb = twobody(E, nuc.P0, nuc.P, m_l, MX, u, phi, q2_scale)
    kP = E * nuc.P0 - E * nuc.P[2]
    flux = kP / (E * nuc.P0)
    return tb, kP, flux


def _finish(tb, w, mode, W, nuc=None, hit_p=None):
    pl = np.sqrt(np.sum(tb.pl * tb.pl, axis=0))
    cos = np.where(pl > 0, tb.pl[2] / np.where(pl > 0, pl, 1), 1.0)
    w = np.where(tb.valid & np.isfinite(w), w, 0.0)
    P = None if nuc is None else np.vstack([nuc.P0[None, :], nuc.P])
    hit = None if hit_p is None else np.broadcast_to(np.asarray(hit_p, dtype=bool), W.shape).copy()
    return Candidates(tb.El, np.clip(cos, -1.0, 1.0), w, mode, tb.Q2, tb.omega, W, tb.pl, P, hit)


def qe(E, target: Target, probe: Probe, cfg: PhysicsConfig, rng) -> Candidates:
    """CCQE: ν n → ℓ⁻ p, ν̄ p → ℓ⁺ n (Mode ±1)."""
    anti = probe.is_antineutrino
    count = target.Z if anti else target.N
    struck_p, final_p = (True, False) if anti else (False, True)
    n = len(E)
    nuc = sample_nucleons(target, cfg.nuclear_model, n, rng, struck_p, final_p)
    Mf = C.M_NEUTRON if anti else C.M_PROTON
    m = probe.lepton_mass
    tb, kP, flux = _lepton_frame(E, nuc, m, np.full(n, Mf), rng, Q2_SCALE["qe"])
    kpP = tb.El * nuc.P0 - np.sum(tb.pl * nuc.P, axis=0)
    s_minus_u = 2 * (kP + kpP) - m * m
    d = _qe.dsigma_dQ2(kP / _M, tb.Q2, s_minus_u, m, cfg.qe_MA, anti, cfg.vector_ff)
    pf = nuc.P + tb.q
    pauli = np.sqrt(np.sum(pf * pf, axis=0)) > nuc.kF_final
    w = count * d * tb.q2_weight * flux * pauli * GEV2
    W = np.full(n, Mf)
    return _finish(tb, w, np.full(n, -1 if anti else 1, dtype=np.int32), W, nuc, struck_p)


def _w_upper(E, nuc, m):
    K0 = E + nuc.P0
    Kv = nuc.P.copy()
    Kv[2] += E
    s = K0 * K0 - np.sum(Kv * Kv, axis=0)
    return np.sqrt(np.clip(s, 0, None)) - m


def res(E, target: Target, probe: Probe, cfg: PhysicsConfig, rng) -> Candidates:
    """Δ(1232) production (Mode ±11, ±12, ±13)."""
    anti = probe.is_antineutrino
    par = cfg.delta
    n = len(E)
    # isospin: ν p (×3, Δ++), ν n (×1, Δ+); ν̄ n (×3, Δ−), ν̄ p (×1, Δ0)
    w_p, w_n = (target.Z * 1.0, target.N * 3.0) if anti else (target.Z * 3.0, target.N * 1.0)
    total = w_p + w_n
    is_p = rng.random(n) < (w_p / total if total > 0 else 0.0)
    nuc = sample_nucleons(target, cfg.nuclear_model, n, rng, is_p, is_p)
    m = probe.lepton_mass
    # W from a Cauchy proposal around the Δ, truncated to [W_MIN, min(W_top, √s − m)]
    w_hi = np.minimum(_w_upper(E, nuc, m) - 1e-9, cfg.res_w_hi)
    ok = w_hi > _delta.W_MIN
    g2 = par.width / 2
    a_lo = np.arctan((_delta.W_MIN - par.mass) / g2)
    a_hi = np.arctan((np.where(ok, w_hi, _delta.W_MIN + 1e-6) - par.mass) / g2)
    u = rng.random(n)
    W = par.mass + g2 * np.tan(a_lo + u * (a_hi - a_lo))
    pdf = (g2 / ((W - par.mass) ** 2 + g2 * g2)) / (a_hi - a_lo)
    tb, kP, flux = _lepton_frame(E, nuc, m, W, rng, Q2_SCALE["res"])
    d = _delta.dsigma_dQ2dW(kP / _M, tb.Q2, W, m, anti, par)
    transition = 1.0 - smoothstep(W, cfg.res_w_lo, cfg.res_w_hi)
    # rounding can make the contraction −1e-16 at the kinematic edge: no events there, not negative weights
    w = total * np.maximum(d, 0.0) * tb.q2_weight / pdf * flux * transition * ok * GEV2
    # modes: Δ++/Δ− → 11; Δ+ → pπ0 (12, 2/3) or nπ+ (13, 1/3); Δ0 likewise with sign flipped
    single = (~is_p) if anti else is_p
    r = rng.random(n)
    mode = np.where(single, 11, np.where(r < 2 / 3, 12, 13)).astype(np.int32)
    return _finish(tb, w, -mode if anti else mode, W, nuc, is_p)


def dis(E, target: Target, probe: Probe, cfg: PhysicsConfig, rng) -> Candidates:
    """Inelastic scattering above the Δ (Mode ±21 for W < 2 GeV, ±26 above)."""
    anti = probe.is_antineutrino
    n = len(E)
    is_p = rng.random(n) < target.Z / target.A
    nuc = sample_nucleons(target, cfg.nuclear_model, n, rng, is_p, is_p)
    m = probe.lepton_mass
    w_lo = cfg.dis_w_lo
    w_hi = _w_upper(E, nuc, m) - 1e-9
    ok = w_hi > w_lo
    W = w_lo + rng.random(n) * np.where(ok, w_hi - w_lo, 0.0)
    tb, kP, flux = _lepton_frame(E, nuc, m, W, rng, Q2_SCALE["dis"])
    d = _dis.dsigma_dQ2dW(kP / _M, tb.Q2, W, anti, is_p)
    w = target.A * d * tb.q2_weight * (w_hi - w_lo) * flux * smoothstep(W, cfg.dis_w_lo, cfg.dis_w_hi) * ok * GEV2
    mode = np.where(W < 2.0, 21, 26).astype(np.int32)
    return _finish(tb, w, -mode if anti else mode, W, nuc, is_p)


#: Empirical 2p2h ("mec"): strength relative to the QE cross section and the Gaussian in the
#: final hadronic mass that places it in the dip between the QE and Δ peaks.
MEC_STRENGTH = 0.25
MEC_W0, MEC_SIGMA_W = 1.08, 0.06


def mec(E, target: Target, probe: Probe, cfg: PhysicsConfig, rng) -> Candidates:
    """Empirical 2p2h (Mode ±2), off by default.

    In the spirit of the empirical MEC model of T. Katori (arXiv:1304.6014, AIP Conf. Proc. 1663
    (2015) 030001; GENIE's "Empirical MEC" of S. Dytman): the Llewellyn Smith QE Q² dependence
    (same M_A) times a Gaussian in the invariant mass of the hadronic final state centred in the
    dip region (W₀ = 1.08 GeV, σ_W = 0.06 GeV), with σ_2p2h ≈ MEC_STRENGTH × (A/2) × σ_QE(free
    nucleon), MEC_STRENGTH = 0.25: about 20–25 % of the ¹²C QE cross section at 1–3 GeV (ν and ν̄
    alike, no Pauli blocking; zero for A ≤ 2).
    """
    anti = probe.is_antineutrino
    n = len(E)
    is_p = rng.random(n) < target.Z / target.A
    nuc = sample_nucleons(target, cfg.nuclear_model, n, rng, is_p, is_p)
    m = probe.lepton_mass
    lo = C.M_NUCLEON + 1e-3
    hi = _w_upper(E, nuc, m) - 1e-9
    ok = hi > lo
    # truncated Gaussian in W by inverse CDF
    from scipy.special import ndtr, ndtri

    a = ndtr((lo - MEC_W0) / MEC_SIGMA_W)
    b = ndtr((np.where(ok, hi, lo + 1e-6) - MEC_W0) / MEC_SIGMA_W)
    W = MEC_W0 + MEC_SIGMA_W * ndtri(a + rng.random(n) * (b - a))
    tb, kP, flux = _lepton_frame(E, nuc, m, W, rng, Q2_SCALE["qe"])
    kpP = tb.El * nuc.P0 - np.sum(tb.pl * nuc.P, axis=0)
    d = _qe.dsigma_dQ2(kP / _M, tb.Q2, 2 * (kP + kpP) - m * m, m, cfg.qe_MA, anti, cfg.vector_ff)
    # the Gaussian is a probability density in W already normalised over [lo, hi] by (b - a)
    w = MEC_STRENGTH * target.A / 2 * d * tb.q2_weight * (b - a) * flux * ok * GEV2 * (target.A > 2)
    return _finish(tb, w, np.full(n, -2 if anti else 2, dtype=np.int32), W, nuc, is_p)


CHANNELS = {"qe": qe, "res": res, "dis": dis, "mec": mec}
