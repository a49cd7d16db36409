"""Vectorised two-body kinematics ν(k) + N(P) → ℓ(k') + X(p_X) with X of mass M_X.

The neutrino moves along +z with energy E. The struck nucleon has four-momentum P (possibly
off-shell: bound nucleons carry E_N = √(M² + p²) − ε). The lepton is generated in the centre-of-
mass frame of K = k + P, uniformly in cos θ* (angle to the neutrino direction there) and φ,
and boosted to the lab. Because Q² = 2E*_k (E*_ℓ − p*_ℓ cos θ*) − m_ℓ² is linear in cos θ*,
a uniform cos θ* is a uniform Q² over [Q²_min, Q²_max] with dQ²/dcos θ* = 2 E*_k p*_ℓ.

For efficiency at high energy, Q² can instead be drawn from the truncated density
p(Q²) ∝ 1/(Q² + c)² on [Q²_min, Q²_max] (``q2_scale = c``); ``q2_weight`` is then 1/p(Q²), and
the range ΔQ² for uniform sampling.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class TwoBody:
    valid: np.ndarray  #: above threshold
    El: np.ndarray  #: lab lepton energy
    pl: np.ndarray  #: lab lepton 3-momentum (3, N)
    Q2: np.ndarray
    q2_weight: np.ndarray  #: 1/p(Q²) of the Q² proposal (ΔQ² for uniform sampling)
    q: np.ndarray  #: lab 3-momentum transfer k − k' (3, N)
    omega: np.ndarray  #: lab energy transfer E − E_ℓ


def boost(E, p, beta):
    """Boost four-vectors (E, p) by velocity ``beta`` (3, N): returns (E', p')."""
    b2 = np.sum(beta * beta, axis=0)
    gamma = 1.0 / np.sqrt(1.0 - b2)
    bp = np.sum(beta * p, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        coef = np.where(b2 > 0, (gamma - 1.0) * bp / b2, 0.0) + gamma * E
    return gamma * (E + bp), p + coef * beta


def sample(E, P0, P, m_l: float, MX, u, phi, q2_scale: float | None = None) -> TwoBody:
    """Generate the lepton for given E (N,), nucleon (P0 (N,), P (3, N)), final mass MX (N,).

    ``u`` (N,) uniform in [0, 1) chooses Q² (uniformly, or from 1/(Q² + q2_scale)²); ``phi`` the
    azimuth around the neutrino direction in the CM frame.
    """
    n = len(E)
    k = np.zeros((3, n))
    k[2] = E
    K0 = E + P0
    Kv = k + P
    s = K0 * K0 - np.sum(Kv * Kv, axis=0)
    sqrt_s = np.sqrt(np.maximum(s, 0.0))
    valid = sqrt_s > m_l + MX
    ss = np.where(valid, s, (m_l + MX + 1.0) ** 2)
    rs = np.sqrt(ss)
    lam = (ss - (m_l + MX) ** 2) * (ss - (m_l - MX) ** 2)
    pstar = np.sqrt(np.maximum(lam, 0.0)) / (2 * rs)
    Estar = (ss + m_l * m_l - MX * MX) / (2 * rs)
    beta = Kv / K0
    # neutrino in the CM frame (massless): direction n, energy |k*|
    kE, kv = boost(E, k, -beta)
    nrm = np.sqrt(np.sum(kv * kv, axis=0))
    nhat = kv / nrm
    # orthonormal basis around nhat
    a = np.zeros_like(nhat)
    use_x = np.abs(nhat[2]) > 0.9
    a[0] = np.where(use_x, 1.0, 0.0)
    a[2] = np.where(use_x, 0.0, 1.0)
    e1 = np.cross(nhat, a, axis=0)
    e1 /= np.sqrt(np.sum(e1 * e1, axis=0))
    e2 = np.cross(nhat, e1, axis=0)
    q2lo = 2 * kE * (Estar - pstar) - m_l * m_l
    q2hi = 2 * kE * (Estar + pstar) - m_l * m_l
    if q2_scale is None:
        Q2 = q2lo + u * (q2hi - q2lo)
        q2w = q2hi - q2lo
    else:
        c = q2_scale
        ia, ib = 1.0 / (q2lo + c), 1.0 / (q2hi + c)
        D = ia - ib
        Q2 = 1.0 / (ia - u * D) - c
        q2w = (Q2 + c) ** 2 * D
    cos_star = np.clip((Estar - (Q2 + m_l * m_l) / (2 * kE)) / np.where(pstar > 0, pstar, 1.0), -1.0, 1.0)
    sin_star = np.sqrt(np.maximum(1 - cos_star * cos_star, 0.0))
    d = cos_star * nhat + sin_star * (np.cos(phi) * e1 + np.sin(phi) * e2)
    El, pl = boost(Estar, pstar * d, beta)
    q = k - pl
    return TwoBody(valid, El, pl, Q2, q2w, q, E - El)
