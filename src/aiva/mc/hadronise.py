"""Hadronisation of the inelastic ("DIS") hadronic system: AGKY-like KNO model and PYTHIA 8 strings.

Input: the lab 4-momentum of the hadronic system P_had (invariant mass W), the struck nucleon,
the probe and the current. Output: the primary hadrons (:class:`ParticleList`, lab frame), whose
4-momenta add up to P_had (to rounding, ≪ 1 MeV), whose charge is the struck nucleon's plus
+1 (ν CC), −1 (ν̄ CC) or 0 (NC), and whose baryon number is 1. Model after AGKY (T. Yang,
C. Andreopoulos, H. Gallagher, K. Hofmann, P. Kehayias, Eur. Phys. J. C 63 (2009) 1,
arXiv:0904.4043), GENIE's hadronisation; details and limits in ``docs/physics_hadrons.md``.

* W < ``w_kno_max``: KNO model (:func:`kno_hadrons`); W > ``w_pythia_min``: PYTHIA 8 string
  fragmentation (:func:`pythia_hadrons`); in between PYTHIA is used with probability rising
  linearly from 0 to 1 (AGKY Sec. 3.3).
* KNO: total hadron multiplicity n from P(n) = L(n/⟨n⟩; c)/⟨n⟩ with ⟨n⟩ = 1.5 ⟨n_ch⟩,
  ⟨n_ch⟩ = a + b ln W², the Levy function L(z; c) = 2 e^{−c} c^{cz+1}/Γ(cz + 1) (AGKY eqs. (2)–(4)),
  n = 2 … n_max(W) = ⌊(W − M_N)/m_π⁰⌋ + 1 (GENIE's limit); then the baryon (p or n with the
  NeuGEN probabilities of AGKY Sec. 3.1.2), charged pions to balance the charge, a π⁰ if an odd
  number is left and π⁺π⁻ (2/3) or π⁰π⁰ (1/3) pairs for the rest; redrawn (up to 50 times,
  then the lightest state) if the masses exceed W; the baryon's x_F and p_T² about q from AGKY's
  parametrisation (GENIE's decay method 2) and the other hadrons from exact N-body phase space
  (Raubold–Lynch / GENBOD, F. James, CERN 68-15 (1968)) with weight rejection.
* PYTHIA 8 (C. Bierlich et al., SciPost Phys. Codeb. 8 (2022)): one quark–diquark string in the
  hadronic rest frame, the quark along the direction of q, ``forceHadronLevel``; decays of
  π⁰, η, K_S, K_L, K±, Λ, Σ, Ξ, Ω (and antiparticles) off, so these are final (NEUT/GENIE leave
  them to the event-level decayer), the strong and electromagnetic decays of other resonances on;
  fragmentation parameters of GENIE's tune G18_02a_03_330 (:data:`PYTHIA_SETTINGS`).
"""
from __future__ import annotations

import logging
from functools import lru_cache

import numpy as np
from scipy.special import gammaln

from aiva.errors import AivaInputError
from aiva.events.particles import ParticleList
from aiva.mc.hadrons import (
    PDG_N,
    PDG_P,
    PDG_PI0,
    PDG_PIM,
    PDG_PIP,
    _check_p4,
    invariant_mass,
    random_directions,
    rotate_z_to,
    to_lab,
    two_body_momentum,
)
from aiva.mc.twobody import boost
from aiva.physics import constants as C

log = logging.getLogger(__name__)

#: AGKY / GENIE defaults (arXiv:0904.4043 Sec. 3.1.1; GENIE config/AGKYLowW2019.xml, KNO-Alpha-*,
#: KNO-Beta-*, KNO-LevyC-*): (a, b) of ⟨n_ch⟩ = a + b ln W² and the Levy parameter c (ν p and ν̄ n:
#: 7.93, ν n and ν̄ p: 5.22, T. Yang's fit), keyed by (antineutrino, hit proton)
AGKY = {
    (False, True): (0.40, 1.42, 7.93),   # ν p
    (False, False): (-0.20, 1.42, 5.22),  # ν n
    (True, True): (0.02, 1.28, 5.22),    # ν̄ p
    (True, False): (0.80, 0.95, 7.93),   # ν̄ n
}
#: ⟨n⟩ / ⟨n_ch⟩ (AGKY eq. (3))
TOTAL_OVER_CHARGED = 1.5
#: probability of a π⁺π⁻ pair (else π⁰π⁰) when filling neutral pairs (GENIE KNO-ProbPiplusPiminus
#: 0.6267 and KNO-ProbPi0Pi0 0.3133, renormalised after dropping the K⁺K⁻ and K⁰K̄⁰ pairs, 0.03 each)
P_PIPM_PAIR = 2.0 / 3.0
N_MAX = 18  #: hard upper limit of the KNO multiplicity
MAX_REDRAW = 50
#: two-hadron KNO states: decays drawn per pending event and round of the x_F, p_T² rejection (speed only)
KNO2_BATCH = 8

_M_PI0, _M_PIC = C.M_PION_NEUTRAL, C.M_PION_CHARGED
_M_N_MIN = C.M_PROTON

#: PDG codes left undecayed by PYTHIA (and their antiparticles)
STABLE = (111, 221, 310, 130, 321, 3122, 3222, 3212, 3112, 3322, 3312, 3334)
#: the codes used by NEUT/GENIE for the K⁰ produced in strings: PYTHIA mixes K⁰/K̄⁰ into K_S/K_L


def _probe_sign(probe_pdg: int) -> int:
    if abs(int(probe_pdg)) not in (12, 14, 16):
        raise AivaInputError(f"hadronise: probe_pdg must be a neutrino (±12, ±14, ±16), got {probe_pdg}")
    return 1 if probe_pdg > 0 else -1


def hadronic_charge(hit_is_proton: np.ndarray, probe_pdg: int, current: str) -> np.ndarray:
    """Charge of the hadronic system: Q_N + 1 (ν CC), Q_N − 1 (ν̄ CC), Q_N (NC)."""
    s = _probe_sign(probe_pdg)
    if current not in ("cc", "nc"):
        raise AivaInputError(f"hadronise: current must be 'cc' or 'nc', got {current!r}")
    return np.asarray(hit_is_proton, dtype=np.int64) + (s if current == "cc" else 0)


def mean_charged_multiplicity(W, antineutrino: bool, proton) -> np.ndarray:
    """AGKY ⟨n_ch⟩ = a + b ln W² (arXiv:0904.4043 eq. (2)), per event."""
    W = np.asarray(W, dtype=np.float64)
    proton = np.broadcast_to(np.asarray(proton, dtype=bool), W.shape)
    a = np.where(proton, AGKY[(antineutrino, True)][0], AGKY[(antineutrino, False)][0])
    b = np.where(proton, AGKY[(antineutrino, True)][1], AGKY[(antineutrino, False)][1])
    return a + b * np.log(W * W)


def levy(z, c):
    """Levy function L(z; c) = 2 e^{−c} c^{cz+1} / Γ(cz + 1) (AGKY eq. (4)); ∫L dz ≈ 1, ⟨z⟩ ≈ 1."""
    x = c * np.asarray(z, dtype=np.float64) + 1
    return 2 * np.exp(-c + x * np.log(c) - gammaln(x))


def max_multiplicity(W) -> np.ndarray:
    """n_max = ⌊(W − M_N)/m_π⁰⌋ + 1, at least 2 (GENIE KNOHadronization::MaxMult)."""
    return np.clip(np.floor((np.asarray(W) - C.M_NUCLEON) / _M_PI0).astype(np.int64) + 1, 2, N_MAX)


def sample_multiplicity(W, antineutrino: bool, proton, rng: np.random.Generator) -> np.ndarray:
    """Total hadron multiplicity n ∈ [2, n_max(W)] from P(n) ∝ L(n/⟨n⟩; c)/⟨n⟩ (AGKY eqs. (3)–(4))."""
    W = np.asarray(W, dtype=np.float64)
    proton = np.broadcast_to(np.asarray(proton, dtype=bool), W.shape)
    avn = TOTAL_OVER_CHARGED * mean_charged_multiplicity(W, antineutrino, proton)
    c = np.where(proton, AGKY[(antineutrino, True)][2], AGKY[(antineutrino, False)][2])
    nn = np.arange(2, N_MAX + 1)
    prob = levy(nn[None, :] / avn[:, None], c[:, None]) / avn[:, None]
    prob = np.where(nn[None, :] <= max_multiplicity(W)[:, None], prob, 0.0)
    cdf = np.cumsum(prob, axis=1)
    u = rng.random(len(W)) * cdf[:, -1]
    return nn[np.minimum((cdf < u[:, None]).sum(axis=1), len(nn) - 1)]


def _proton_probability(Q: np.ndarray, n: np.ndarray) -> np.ndarray:
    """P(baryon = p) of the NeuGEN/AGKY rule (arXiv:0904.4043 Sec. 3.1.2; GENIE
    KNOHadronization::GenerateBaryonPdgCode) for hadronic charge Q and multiplicity n."""
    two = n == 2
    return np.select([Q >= 2, Q == 1, Q == 0, Q <= -1],
                     [np.where(two, 1.0, 2 / 3), np.where(two, 1 / 3, 0.5), np.where(two, 2 / 3, 0.5),
                      np.where(two, 0.0, 1 / 3)])


def select_hadrons(W, Q, antineutrino: bool, proton, rng: np.random.Generator,
                   stats: dict[str, int] | None = None):
    """Multiplicity and species: (baryon_is_p, n_pi+, n_pi−, n_pi0) per event, Σ masses < W.

    Events whose drawn state is heavier than W are redrawn (multiplicity and species) up to
    MAX_REDRAW times, then given the lightest state of their charge (counted in
    ``stats["kno_lightest"]``).
    """
    W = np.asarray(W, dtype=np.float64)
    n_ev = len(W)
    Q = np.asarray(Q, dtype=np.int64)
    proton = np.broadcast_to(np.asarray(proton, dtype=bool), W.shape)
    isp = np.zeros(n_ev, bool)
    npp = np.zeros(n_ev, np.int64)
    npm = np.zeros(n_ev, np.int64)
    np0 = np.zeros(n_ev, np.int64)
    todo = np.arange(n_ev)
    for _ in range(MAX_REDRAW):
        if not todo.size:
            break
        w, q = W[todo], Q[todo]
        n = sample_multiplicity(w, antineutrino, proton[todo], rng)
        bp = rng.random(todo.size) < _proton_probability(q, n)
        qr = q - bp
        r = n - 1 - np.abs(qr)  # neutral slots left; ≥ 0 by the baryon rule
        pairs = r // 2
        k = rng.binomial(pairs, P_PIPM_PAIR)
        a_pp = np.maximum(qr, 0) + k
        a_pm = np.maximum(-qr, 0) + k
        a_p0 = r % 2 + 2 * (pairs - k)
        mass = np.where(bp, C.M_PROTON, C.M_NEUTRON) + (a_pp + a_pm) * _M_PIC + a_p0 * _M_PI0
        ok = mass < w - 1e-6
        sel = todo[ok]
        isp[sel], npp[sel], npm[sel], np0[sel] = bp[ok], a_pp[ok], a_pm[ok], a_p0[ok]
        todo = todo[~ok]
    if todo.size:
        # lightest state of each charge: Q=2 pπ⁺, 1 pπ⁰, 0 nπ⁰, −1 nπ⁻
        q = Q[todo]
        isp[todo] = q >= 1
        npp[todo] = q == 2
        npm[todo] = q == -1
        np0[todo] = (q == 1) | (q == 0)
        mass = np.where(isp[todo], C.M_PROTON, C.M_NEUTRON) + _M_PIC * (npp[todo] + npm[todo]) + _M_PI0 * np0[todo]
        if (mass >= W[todo]).any():
            raise AivaInputError(f"hadronise: W = {W[todo][mass >= W[todo]][0]:.4f} GeV is below the N π threshold")
        log.info("hadronise: %d KNO events took the lightest hadronic state after %d redraws", todo.size, MAX_REDRAW)
        if stats is not None:
            stats["kno_lightest"] = stats.get("kno_lightest", 0) + int(todo.size)
    return isp, npp, npm, np0


def _genbod_weights(M, m, cm, T, rng, k_trials: int = 1):
    """GENBOD weights Π_k p*(M_{k+1}; M_k, m_{k+1}) of ``k_trials`` draws per event, with the
    intermediate masses: (w (k_trials, n), invM (k_trials, N, n), p (k_trials, N − 1, n))."""
    N, n = m.shape
    r = np.sort(rng.random((k_trials, N - 2, n)), axis=1)
    frac = np.concatenate([np.zeros((k_trials, 1, n)), r, np.ones((k_trials, 1, n))], axis=1)
    invM = cm[None] + frac * T[None, None, :]
    pk = two_body_momentum(invM[:, 1:], invM[:, :-1], m[None, 1:])
    return np.prod(pk, axis=1), invM, pk


#: trials per event for the maximum phase-space weight, and the safety factor on their maximum
PS_TRIALS, PS_SAFETY = 64, 1.3
#: draws per pending event and round of the weight rejection (speed only)
PS_BATCH = 4


def phase_space(M: np.ndarray, m: np.ndarray, rng: np.random.Generator,
                stats: dict[str, int] | None = None) -> tuple[np.ndarray, ...]:
    """Unweighted N-body phase space at rest: (E, px, py, pz), each (N, n), for total mass M (n,)
    and masses m (N, n).

    Raubold–Lynch (GENBOD, F. James, CERN 68-15 (1968)): intermediate masses
    M_k = Σ_{i≤k} m_i + r_k T with sorted uniform r_k and T = M − Σm, weight
    w = Π_k p*(M_{k+1}; M_k, m_{k+1}); accepted with probability w / w_max; each step is a
    two-body decay isotropic in its rest frame. w_max is the smaller of the strict bound of ROOT's
    TGenPhaseSpace, Π_k p*(T + Σ_{i≤k+1} m_i; Σ_{i≤k} m_i, m_{k+1}) (loose by orders of magnitude
    for N ≥ 5), and PS_SAFETY × the largest of PS_TRIALS trial weights of the same event (as GENIE
    does, with 200 trials × 2.3); draws above it (counted in ``stats["ps_overweight"]``) are accepted.
    """
    N, n = m.shape
    if N < 2:
        raise ValueError("phase space needs at least two particles")
    T = M - m.sum(axis=0)
    if (T <= 0).any():
        raise ValueError("phase space below threshold")
    cm = np.cumsum(m, axis=0)
    wmax = np.ones(n)
    for k in range(1, N):
        wmax *= two_body_momentum(T + cm[k], cm[k - 1], m[k])
    if N > 2:
        wt, _, _ = _genbod_weights(M, m, cm, T, rng, PS_TRIALS)
        wmax = np.minimum(wmax, PS_SAFETY * wt.max(axis=0))
    n_over = 0
    E = np.empty((N, n))
    P = np.empty((3, N, n))
    todo = np.arange(n)
    k = 1 if N == 2 else PS_BATCH  # N = 2: w = w_max, every draw is accepted
    while todo.size:
        # k independent draws per pending event at once; the first accepted one is kept (the same distribution as
        # drawing one at a time until one is accepted, in fewer rounds)
        t = todo.size
        rep = np.repeat(todo, k)
        w, invM, pk = _genbod_weights(M[rep], m[:, rep], cm[:, rep], T[rep], rng)
        w, invM, pk = w[0], invM[0], pk[0]
        accr = rng.random(t * k) * wmax[rep] <= w
        A = accr.reshape(t, k)
        got = A.any(axis=1)
        first = np.arange(t) * k + A.argmax(axis=1)
        n_over += int((w[first[got]] > wmax[todo[got]]).sum())
        acc = got
        idx = todo[acc]
        a = idx.size
        if a:
            ch = first[got]
            pk, invM, mm = pk[:, ch], invM[:, ch], m[:, idx]
            Ea = np.empty((N, a))
            Pa = np.empty((3, N, a))
            d = random_directions(a, rng)
            Pa[:, 1] = pk[0] * d
            Pa[:, 0] = -pk[0] * d
            Ea[1] = np.sqrt(mm[1] ** 2 + pk[0] ** 2)
            Ea[0] = np.sqrt(mm[0] ** 2 + pk[0] ** 2)
            for k in range(2, N):
                d = random_directions(a, rng)
                p = pk[k - 1]
                Esub = np.sqrt(invM[k - 1] ** 2 + p * p)
                beta = -(p / Esub) * d
                for j in range(k):
                    Ea[j], Pa[:, j] = boost(Ea[j], Pa[:, j], beta)
                Pa[:, k] = p * d
                Ea[k] = np.sqrt(mm[k] ** 2 + p * p)
            E[:, idx] = Ea
            P[:, :, idx] = Pa
        todo = todo[~acc]
    if stats is not None and n_over:
        stats["ps_overweight"] = stats.get("ps_overweight", 0) + n_over
    return E, P[0], P[1], P[2]


def _axis(P_had: np.ndarray, q: np.ndarray | None) -> np.ndarray:
    """Direction of q in the hadronic rest frame ((3, n) unit vectors); without q, that of the
    hadronic 3-momentum (the same for a struck nucleon at rest)."""
    if q is None:
        v = P_had[1:]
    else:
        _, v = boost(q[0], q[1:], -P_had[1:] / P_had[0])
    nv = np.sqrt(np.sum(v * v, axis=0))
    return np.where(nv > 0, v / np.where(nv > 0, nv, 1.0), np.array([[0.0], [0.0], [1.0]]))


#: AGKY leading-baryon distributions (GENIE AGKYLowW2019, "decay method 2"): x_F = 2p_z/W from a
#: Gaussian of mean −0.385 and variance 0.131 on [−1, 0.5], p_T² from exp(−6.625 p_T²/GeV²) on
#: [0, 0.6] GeV², in the hadronic rest frame with z along q (arXiv:0904.4043 Sec. 3.1.3)
XF_MEAN, XF_VAR, XF_RANGE = -0.385, 0.131, (-1.0, 0.5)
PT2_SLOPE, PT2_MAX = 6.625, 0.6


def _xf_pdf(x):
    return np.exp(-0.5 * (x - XF_MEAN) ** 2 / XF_VAR)


def sample_baryon_xf_pt2(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """x_F and p_T² of the leading baryon (truncated Gaussian and exponential, by inverse CDF)."""
    from scipy.special import ndtr, ndtri

    sd = np.sqrt(XF_VAR)
    lo, hi = ndtr((XF_RANGE[0] - XF_MEAN) / sd), ndtr((XF_RANGE[1] - XF_MEAN) / sd)
    xf = XF_MEAN + sd * ndtri(lo + rng.random(n) * (hi - lo))
    cut = 1 - np.exp(-PT2_SLOPE * PT2_MAX)
    pt2 = -np.log1p(-rng.random(n) * cut) / PT2_SLOPE
    return xf, pt2


def _decay_with_baryon(W: np.ndarray, m: np.ndarray, rng: np.random.Generator, stats: dict[str, int] | None):
    """Hadrons (E, px, py, pz) (N, n) at rest, z along q, slot 0 the baryon (AGKY / GENIE decay
    method 2): two bodies: isotropic decay accepted with probability f(x_F) g(p_T²)/max; more:
    the baryon from (x_F, p_T², φ uniform), redrawn until the rest has mass above its masses
    (200 tries, then plain phase space, counted in ``stats["kno_plain_phase_space"]``), the other
    N − 1 by phase space in their rest frame."""
    N, n = m.shape
    if N == 2:
        E = np.empty((2, n))
        P = np.empty((3, 2, n))
        todo = np.arange(n)
        k = KNO2_BATCH
        while todo.size:
            # k isotropic decays per pending event at once, the first accepted one kept (the same distribution as
            # one at a time until accepted)
            t = todo.size
            rep = np.repeat(todo, k)
            e, px, py, pz = phase_space(W[rep], m[:, rep], rng, stats)
            xf = 2 * pz[0] / W[rep]
            pt2 = px[0] ** 2 + py[0] ** 2
            A = ((rng.random(t * k) * 1.1 < _xf_pdf(xf))
                 & (rng.random(t * k) * 1.1 < np.exp(-PT2_SLOPE * pt2))).reshape(t, k)
            got = A.any(axis=1)
            ch = (np.arange(t) * k + A.argmax(axis=1))[got]
            dst = todo[got]
            E[:, dst] = e[:, ch]
            P[:, :, dst] = np.stack([px[:, ch], py[:, ch], pz[:, ch]])
            todo = todo[~got]
        return E, P[0], P[1], P[2]
    mB, mr = m[0], m[1:]
    m_rest = mr.sum(axis=0)
    pB = np.zeros((3, n))
    ok = np.zeros(n, bool)
    todo = np.arange(n)
    k = KNO2_BATCH // 2
    for _ in range(200 // k):  # 200 tries per event, k at a time (the first good one is kept)
        if not todo.size:
            break
        t = todo.size
        rep = np.repeat(todo, k)
        xf, pt2 = sample_baryon_xf_pt2(t * k, rng)
        phi = 2 * np.pi * rng.random(t * k)
        pz = xf * W[rep] / 2
        EB = np.sqrt(mB[rep] ** 2 + pt2 + pz * pz)
        md2 = (W[rep] - EB) ** 2 - pt2 - pz * pz
        G = ((W[rep] > EB) & (md2 > (m_rest[rep] + 1e-6) ** 2)).reshape(t, k)
        good = G.any(axis=1)
        ch = (np.arange(t) * k + G.argmax(axis=1))[good]
        sel = todo[good]
        pt = np.sqrt(pt2[ch])
        pB[:, sel] = np.vstack([pt * np.cos(phi[ch]), pt * np.sin(phi[ch]), pz[ch]])
        ok[sel] = True
        todo = todo[~good]
    E = np.empty((N, n))
    P = np.empty((3, N, n))
    if todo.size:
        log.info("kno_hadrons: %d events found no baryon (x_F, p_T²) with room for the rest; plain phase space",
                 todo.size)
        if stats is not None:
            stats["kno_plain_phase_space"] = stats.get("kno_plain_phase_space", 0) + int(todo.size)
        e, px, py, pz = phase_space(W[todo], m[:, todo], rng, stats)
        E[:, todo] = e
        P[:, :, todo] = np.stack([px, py, pz])
    idx = np.flatnonzero(ok)
    if idx.size:
        pb = pB[:, idx]
        EB = np.sqrt(mB[idx] ** 2 + np.sum(pb * pb, axis=0))
        Ed = W[idx] - EB
        md = np.sqrt(Ed * Ed - np.sum(pb * pb, axis=0))
        e, px, py, pz = phase_space(md, mr[:, idx], rng, stats)
        beta = -pb / Ed
        for j in range(N - 1):
            E[j + 1, idx], P[:, j + 1, idx] = boost(e[j], np.vstack([px[j], py[j], pz[j]]), beta)
        E[0, idx], P[:, 0, idx] = EB, pb
    return E, P[0], P[1], P[2]


def kno_hadrons(P_had: np.ndarray, hit_is_proton: np.ndarray, probe_pdg: int, current: str,
                rng: np.random.Generator, q: np.ndarray | None = None, stats: dict[str, int] | None = None,
                *, baryon_xf_pt: bool = True) -> ParticleList:
    """KNO-model hadrons (AGKY low-W model, module docstring) for all events, lab frame.

    With ``baryon_xf_pt`` (default, as GENIE) the baryon's x_F and p_T² follow AGKY's
    parametrisation (:func:`_decay_with_baryon`) about the direction of q in the hadronic rest
    frame (``q`` (4, n); without it, that of P_had); otherwise all hadrons share N-body phase space.
    """
    P_had = _check_p4(P_had)
    n_ev = P_had.shape[1]
    W = invariant_mass(P_had)
    anti = _probe_sign(probe_pdg) < 0
    Q = hadronic_charge(hit_is_proton, probe_pdg, current)
    isp, npp, npm, np0 = select_hadrons(W, Q, anti, hit_is_proton, rng, stats)
    mult = 1 + npp + npm + np0
    axis = _axis(P_had, q)
    ev_parts, pdg_parts, E_parts, px_parts, py_parts, pz_parts = [], [], [], [], [], []
    for N in np.unique(mult):
        idx = np.flatnonzero(mult == N)
        slot = np.arange(N)[:, None]
        # species per slot: baryon, then π⁺, π⁻, π⁰
        a, b = npp[idx][None, :], npm[idx][None, :]
        pdg = np.where(slot == 0, np.where(isp[idx], PDG_P, PDG_N)[None, :],
                       np.where(slot <= a, PDG_PIP, np.where(slot <= a + b, PDG_PIM, PDG_PI0)))
        m = np.where(pdg == PDG_P, C.M_PROTON, np.where(pdg == PDG_N, C.M_NEUTRON,
                                                        np.where(pdg == PDG_PI0, _M_PI0, _M_PIC)))
        if baryon_xf_pt:
            E, px, py, pz = _decay_with_baryon(W[idx], m, rng, stats)
        else:
            E, px, py, pz = phase_space(W[idx], m, rng, stats)
        pv = np.vstack([px.ravel(), py.ravel(), pz.ravel()])
        if baryon_xf_pt:
            pv = rotate_z_to(pv, np.repeat(axis[:, idx][:, None, :], N, axis=1).reshape(3, -1))
        Pg = np.repeat(P_had[:, idx][:, None, :], N, axis=1).reshape(4, -1)
        El, pl = to_lab(E.ravel(), pv, Pg)
        ev_parts.append(np.broadcast_to(idx[None, :], (N, idx.size)).ravel())
        pdg_parts.append(pdg.ravel())
        E_parts.append(El)
        px_parts.append(pl[0])
        py_parts.append(pl[1])
        pz_parts.append(pl[2])
    if not ev_parts:
        return ParticleList.empty(n_ev)
    cat = np.concatenate
    # within an event the particles come slot by slot (baryon first); from_event_index keeps that order
    return ParticleList.from_event_index(cat(ev_parts), n_ev, cat(pdg_parts), cat(E_parts), cat(px_parts),
                                         cat(py_parts), cat(pz_parts))


# ---------------------------------------------------------------------------------------- PYTHIA
_SIN2W = 0.2312  #: sin²θ_W (PDG 2024, MS-bar at M_Z 0.23122)


def _nc_weights(antineutrino: bool) -> tuple[float, float]:
    """Relative NC couplings of a ν (ν̄) to u and d quarks integrated over y:
    g_L² + g_R²/3 (ν) or g_L²/3 + g_R² (ν̄), with g_L = T₃ − e_q sin²θ_W, g_R = −e_q sin²θ_W
    (e.g. PDG 2024 "Electroweak model" review, eq. (10.19))."""
    gLu, gRu = 0.5 - 2 / 3 * _SIN2W, -2 / 3 * _SIN2W
    gLd, gRd = -0.5 + 1 / 3 * _SIN2W, 1 / 3 * _SIN2W
    if antineutrino:
        return gLu ** 2 / 3 + gRu ** 2, gLd ** 2 / 3 + gRd ** 2
    return gLu ** 2 + gRu ** 2 / 3, gLd ** 2 + gRd ** 2 / 3


def string_flavours(hit_is_proton: np.ndarray, probe_pdg: int, current: str,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(quark, diquark) PDG codes of the string: the struck valence quark after the interaction
    and the remnant diquark (as in AGKY Sec. 3.2 / GENIE's PYTHIA interface for valence hits).

    CC ν: d → u (p: u + uu, n: u + ud); CC ν̄: u → d (p: d + ud, n: d + dd). NC: u or d struck,
    unchanged, with probability ∝ (number in the nucleon) × coupling (:func:`_nc_weights`).
    A ud diquark is spin 0 (2101) with probability 3/4, else spin 1 (2103). Sea quarks are not
    struck in this picture (the charge and baryon number are the same either way).
    """
    hp = np.asarray(hit_is_proton, dtype=bool)
    n = len(hp)
    anti = _probe_sign(probe_pdg) < 0
    ud = np.where(rng.random(n) < 0.75, 2101, 2103)
    if current == "cc":
        if not anti:
            return np.full(n, 2), np.where(hp, 2203, ud)
        return np.full(n, 1), np.where(hp, ud, 1103)
    wu, wd = _nc_weights(anti)
    nu_, nd_ = np.where(hp, 2, 1), np.where(hp, 1, 2)
    hit_u = rng.random(n) * (nu_ * wu + nd_ * wd) < nu_ * wu
    quark = np.where(hit_u, 2, 1)
    # remnant: p = uud, n = udd minus the struck quark
    rem = np.where(hp, np.where(hit_u, ud, 2203), np.where(hit_u, 1103, ud))
    return quark, rem


#: PYTHIA 8 settings read before ``init`` (after the fixed ones of :func:`_pythia`): GENIE's
#: hadronisation tune G18_02a_03_330 (J. Tena-Vidal et al., Phys. Rev. D 105 (2022) 012009,
#: arXiv:2106.05884; GENIE config/G18_02a/G18_02a_03_330/Pythia8Hadro2019.xml) with GENIE's mapping
#: of the PYTHIA 6 parameters (PARJ(1), (11), (12), (2), (23), (33), (41), (42), (45)) to PYTHIA 8;
#: GENIE's PARJ(21) → Diffraction:primKTwidth is left out (it does not act on strings)
PYTHIA_SETTINGS: tuple[str, ...] = (
    "StringFlav:probQQtoQ = 0.10", "StringFlav:mesonUDvector = 0.50", "StringFlav:mesonSvector = 0.60",
    "StringFlav:probStoUD = 0.27", "StringPT:enhancedFraction = 0.01", "StringFragmentation:stopMass = 0.30",
    "StringZ:aLund = 1.53", "StringZ:bLund = 1.16", "StringZ:aExtraDiquark = 0.5",
)


@lru_cache(maxsize=1)
def _pythia():
    import pythia8mc

    py = pythia8mc.Pythia("", False)
    for s in ("ProcessLevel:all = off", "HadronLevel:all = on", "Print:quiet = on", "Next:numberCount = 0",
              "Check:event = on", "Random:setSeed = on", "Random:seed = 1") + PYTHIA_SETTINGS:
        py.readString(s)
    for pdg in STABLE:
        py.readString(f"{pdg}:mayDecay = off")
    if not py.init():
        raise RuntimeError("PYTHIA 8 failed to initialise")
    return py


def particle_charge(pdg) -> np.ndarray:
    """Electric charge of PDG codes (from PYTHIA's particle data)."""
    pdg = np.asarray(pdg, dtype=np.int64)
    pd = _pythia().particleData
    u, inv = np.unique(pdg, return_inverse=True)
    return np.array([pd.charge(int(c)) for c in u])[inv].reshape(pdg.shape)


def baryon_number(pdg) -> np.ndarray:
    """Baryon number of hadron PDG codes (±1 for the 4-digit baryon codes, else 0)."""
    a = np.abs(np.asarray(pdg, dtype=np.int64))
    is_b = (a >= 1000) & (a < 10000) & ((a // 10) % 10 > 0) & ((a // 100) % 10 > 0)
    return np.where(is_b, np.sign(pdg), 0)


def _exact_rest_frame(E, P, ev, n_ev, W):
    """Boost each event's particles (E (m,), P (3, m), event index ev) to their own rest frame and
    scale the momenta by λ so that Σ√(m² + λ²p²) = W exactly (Newton iteration): removes the
    rounding residuals of the string fragmentation."""
    m2 = np.maximum(E * E - np.sum(P * P, axis=0), 0.0)
    tot = np.vstack([np.bincount(ev, weights=x, minlength=n_ev) for x in (E, P[0], P[1], P[2])])
    E, P = boost(E, P, -(tot[1:] / tot[0])[:, ev])
    lam = np.ones(n_ev)
    p2 = np.sum(P * P, axis=0)
    for _ in range(20):
        e = np.sqrt(m2 + lam[ev] ** 2 * p2)
        f = np.bincount(ev, weights=e, minlength=n_ev) - W
        df = np.bincount(ev, weights=lam[ev] * p2 / e, minlength=n_ev)
        step = np.where(df > 0, f / np.where(df > 0, df, 1.0), 0.0)
        lam = lam - step
        if np.abs(step).max(initial=0.0) < 1e-15:
            break
    P = P * lam[ev]
    return np.sqrt(m2 + np.sum(P * P, axis=0)), P


def pythia_hadrons(P_had: np.ndarray, hit_is_proton: np.ndarray, probe_pdg: int, current: str,
                   rng: np.random.Generator, q: np.ndarray | None = None,
                   stats: dict[str, int] | None = None) -> ParticleList:
    """PYTHIA 8 string fragmentation of a quark–diquark string (one Python loop over events).

    PYTHIA's generator is re-seeded from ``rng`` (one ``rng.integers`` draw per call), so the same
    rng state gives the same output. An event whose fragmentation fails 10 times (rare, W close
    to the string threshold) is made by the KNO model instead and counted in
    ``stats["pythia_failed"]``.
    """
    P_had = _check_p4(P_had)
    n_ev = P_had.shape[1]
    W = invariant_mass(P_had)
    quark, diq = string_flavours(hit_is_proton, probe_pdg, current, rng)
    py = _pythia()
    py.rndm.init(int(rng.integers(1, 900_000_000)))
    pd = py.particleData
    ev = py.event
    m_q = np.where(quark == 2, pd.m0(2), pd.m0(1))
    m_d = np.select([diq == c for c in (1103, 2101, 2103, 2203)], [pd.m0(c) for c in (1103, 2101, 2103, 2203)])
    # the two string ends back to back along +z (quark) and −z (diquark) in the hadronic rest frame
    p_end = two_body_momentum(W, m_q, m_d)
    rows = zip(W.tolist(), quark.tolist(), diq.tolist(), m_q.tolist(), m_d.tolist(), p_end.tolist(),
               np.sqrt(m_q * m_q + p_end * p_end).tolist(), np.sqrt(m_d * m_d + p_end * p_end).tolist())
    out_ev: list[int] = []
    out_pdg: list[int] = []
    out_p: list[float] = []
    failed = []
    # the loop is pure Python per event: bound methods looked up once, only the final particles' id and p4 read
    reset, append, force, size = ev.reset, ev.append, py.forceHadronLevel, ev.size
    add_ev, add_pdg, add_p = out_ev.append, out_pdg.append, out_p.extend
    for i, (w, a, b, ma, mb, p, ea, eb) in enumerate(rows):
        ok = False
        for _ in range(10):
            reset()
            sys0 = ev[0]
            sys0.e(w)
            sys0.m(w)
            append(a, 23, 101, 0, 0.0, 0.0, p, ea, ma)
            append(b, 23, 0, 101, 0.0, 0.0, -p, eb, mb)
            if force():
                ok = True
                break
        if not ok:
            failed.append(i)
            continue
        for j in range(3, size()):
            pa = ev[j]
            if pa.isFinal():
                add_ev(i)
                add_pdg(pa.id())
                add_p((pa.e(), pa.px(), pa.py(), pa.pz()))
    evi = np.asarray(out_ev, dtype=np.int64)
    p4 = np.asarray(out_p, dtype=np.float64).reshape(-1, 4).T
    E, P = _exact_rest_frame(p4[0], p4[1:], evi, n_ev, W)
    axis = _axis(P_had, q)[:, evi]
    P = rotate_z_to(P, axis)
    El, pl = to_lab(E, P, P_had[:, evi])
    plist = ParticleList.from_event_index(evi, n_ev, np.asarray(out_pdg, dtype=np.int64), El, pl[0], pl[1], pl[2])
    if failed:
        log.warning("pythia_hadrons: %d events failed string fragmentation; made by the KNO model", len(failed))
        if stats is not None:
            stats["pythia_failed"] = stats.get("pythia_failed", 0) + len(failed)
        fi = np.asarray(failed)
        kno = kno_hadrons(P_had[:, fi], np.asarray(hit_is_proton)[fi], probe_pdg, current, rng,
                          None if q is None else q[:, fi], stats)
        keep = np.ones(n_ev, bool)
        keep[fi] = False
        plist = _combine(n_ev, [(np.flatnonzero(keep), plist.take(keep)), (fi, kno)])
    return plist


def _combine(n_ev: int, parts: list[tuple[np.ndarray, ParticleList]]) -> ParticleList:
    """Put the events of several lists (each with the indices of its events) into one list."""
    ev = np.concatenate([idx[p.event_index()] for idx, p in parts])
    cols = [np.concatenate([getattr(p, f) for _, p in parts]) for f in ("pdg", "E", "px", "py", "pz")]
    return ParticleList.from_event_index(ev, n_ev, *cols)


def hadronise(P_had: np.ndarray, W: np.ndarray, hit_is_proton: np.ndarray, probe_pdg: int, current: str,
              rng: np.random.Generator, *, w_kno_max: float = 2.3, w_pythia_min: float = 3.0,
              q: np.ndarray | None = None, stats: dict[str, int] | None = None) -> ParticleList:
    """Primary hadrons of the inelastic hadronic system (AGKY scheme; module docstring).

    ``P_had`` (4, n) lab 4-momentum of the hadronic system, ``W`` (n,) its invariant mass (must
    agree with √(P_had²) to 10 keV; the hadrons are built at √(P_had²)), ``hit_is_proton`` (n,),
    ``probe_pdg`` a neutrino PDG code, ``current`` "cc" or "nc". PYTHIA is used with probability
    clip((W − w_kno_max)/(w_pythia_min − w_kno_max), 0, 1) (AGKY's linear transition). ``q``
    (4, n), if given, sets the string axis (default: the direction of P_had). ``stats`` collects
    counts of the fall-backs (see :func:`select_hadrons`, :func:`pythia_hadrons`).
    """
    P_had = _check_p4(P_had)
    n = P_had.shape[1]
    W = np.asarray(W, dtype=np.float64)
    hp = np.asarray(hit_is_proton, dtype=bool)
    if W.shape != (n,) or hp.shape != (n,):
        raise AivaInputError(f"hadronise: W {W.shape} and hit_is_proton {hp.shape} must have shape ({n},)")
    if q is not None:
        q = _check_p4(q, "q")
        if q.shape != P_had.shape:
            raise AivaInputError(f"hadronise: q {q.shape} must have the shape of P_had {P_had.shape}")
    if not w_pythia_min > w_kno_max > 0:
        raise AivaInputError(f"hadronise: need 0 < w_kno_max < w_pythia_min, got {w_kno_max}, {w_pythia_min}")
    hadronic_charge(hp, probe_pdg, current)  # validates probe and current
    Wm = invariant_mass(P_had)
    if (np.abs(Wm - W) > 1e-5).any():
        bad = np.abs(Wm - W) > 1e-5
        raise AivaInputError(f"hadronise: {int(bad.sum())} events have W different from √(P_had²) "
                             f"(e.g. {W[bad][0]:.6f} vs {Wm[bad][0]:.6f} GeV)")
    if (Wm <= C.M_PROTON + _M_PI0).any():
        raise AivaInputError(f"hadronise: W = {Wm.min():.4f} GeV is below the N π threshold")
    p_py = np.clip((Wm - w_kno_max) / (w_pythia_min - w_kno_max), 0.0, 1.0)
    use_py = rng.random(n) < p_py
    ik, ip = np.flatnonzero(~use_py), np.flatnonzero(use_py)
    parts = []
    if ik.size:
        parts.append((ik, kno_hadrons(P_had[:, ik], hp[ik], probe_pdg, current, rng,
                                      None if q is None else q[:, ik], stats)))
    if ip.size:
        parts.append((ip, pythia_hadrons(P_had[:, ip], hp[ip], probe_pdg, current, rng,
                                         None if q is None else q[:, ip], stats)))
    if not parts:
        return ParticleList.empty(n)
    return _combine(n, parts)
