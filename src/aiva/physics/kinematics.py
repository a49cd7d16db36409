"""Lepton kinematics and the proxy variables of the conditional-GAN papers.

All functions are vectorised: they take NumPy arrays, Python floats or ``torch.Tensor`` s and
return the same kind (the operations used exist in both libraries).

References
----------
* [GAN25] J. L. Bonilla, K. M. Graczyk et al., "Generative adversarial neural networks for
  simulating neutrino interactions", Phys. Rev. D 112 (2025) 013007, arXiv:2502.20244:
  eqs. 5–6 (ω, Q², W from the lepton with the nucleon at rest, average nucleon mass) and the
  proxy variables of Sec. III.
* [TL26] J. L. Bonilla et al., Phys. Rev. D 113 (2026) 053001, arXiv:2508.12987 (same proxies).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from aiva.physics.constants import M_MUON, M_NUCLEON

#: Lower and upper neutrino energy of the proxy E'_ν [GAN25]: E_min = 0.3 GeV, E_max = 10 GeV.
PROXY_EMIN = 0.3
PROXY_EMAX = 10.0
#: Energy subtracted from E_ν in ΔE = E_ν − 9.8 MeV − m_μ [GAN25].
PROXY_THRESHOLD = 0.0098


def _xp(x: Any):
    """Return the array module (numpy or torch) for ``x``."""
    if type(x).__module__.startswith("torch"):
        import torch

        return torch
    return np


def _asarray(x: Any):
    if type(x).__module__.startswith("torch"):
        return x
    return np.asarray(x, dtype=np.float64)


def lepton_kinematics(enu, elep, costh, *, m_lep: float = M_MUON, m_nucleon: float = M_NUCLEON) -> dict:
    """Kinematic variables from (E_ν, E_ℓ, cos θ_ℓ), with the struck nucleon at rest.

    Parameters
    ----------
    enu, elep, costh : array-like
        Neutrino energy [GeV], total lepton energy [GeV], cosine of the lepton angle w.r.t. the
        neutrino direction.
    m_lep : float
        Charged-lepton mass [GeV] (muon by default).
    m_nucleon : float
        Nucleon mass used for W and x; the average nucleon mass by default, as in [GAN25].

    Returns
    -------
    dict with ``q0`` (= ω = E_ν − E_ℓ), ``plep`` (|p_ℓ|), ``pz`` and ``pt`` (lepton momentum
    along / transverse to the beam), ``Q2`` (= 2E_ν(E_ℓ − p_ℓ cos θ) − m_ℓ²), ``q3`` (|q|),
    ``W2`` (= M² + 2Mω − Q², [GAN25] eq. 6), ``W`` (√W², NaN where W² < 0 — possible for bound
    nucleons), ``x`` (= Q²/2Mω) and ``y`` (= ω/E_ν).
    """
    enu, elep, costh = _asarray(enu), _asarray(elep), _asarray(costh)
    xp = _xp(enu) if _xp(enu) is not np else _xp(elep) if _xp(elep) is not np else _xp(costh)
    p2 = elep * elep - m_lep * m_lep
    plep = xp.sqrt(xp.where(p2 > 0, p2, p2 * 0))
    q0 = enu - elep
    pz = plep * costh
    sin2 = 1 - costh * costh
    pt = plep * xp.sqrt(xp.where(sin2 > 0, sin2, sin2 * 0))
    Q2 = 2 * enu * (elep - pz) - m_lep * m_lep  # [GAN25] eq. 5
    q3 = xp.sqrt(Q2 + q0 * q0)
    W2 = m_nucleon * m_nucleon + 2 * m_nucleon * q0 - Q2  # [GAN25] eq. 6
    W = xp.sqrt(xp.where(W2 >= 0, W2, W2 * 0 + float("nan")))
    x = Q2 / (2 * m_nucleon * q0)
    y = q0 / enu
    return {"q0": q0, "plep": plep, "pz": pz, "pt": pt, "Q2": Q2, "q3": q3, "W2": W2, "W": W, "x": x, "y": y}


def delta_e(enu, m_lep: float = M_MUON):
    """ΔE = E_ν − 9.8 MeV − m_μ: the largest muon kinetic energy of the proxy map [GAN25]."""
    return enu - PROXY_THRESHOLD - m_lep


def to_proxies(enu, elep, theta, *, m_lep: float = M_MUON, emin: float = PROXY_EMIN, emax: float = PROXY_EMAX):
    """Map (E_ν, E_μ, θ) to the proxy variables (E'_ν, E'_μ, θ') of [GAN25].

    E'_ν = 2 (E_ν − E_min)/(E_max − E_min) − 1,
    E'_μ = 2 √(1 − (E_μ − m_μ)/ΔE) − 1 with ΔE = E_ν − 9.8 MeV − m_μ,
    θ'   = 2 √(θ/π) − 1   (θ in radians).

    Physical events map into [−1, 1]³. The map is exact; values outside the physical region
    give values outside [−1, 1] (or NaN for negative square-root arguments), never clipped.
    """
    enu, elep, theta = _asarray(enu), _asarray(elep), _asarray(theta)
    xp = _xp(enu) if _xp(enu) is not np else _xp(elep) if _xp(elep) is not np else _xp(theta)
    enu_p = 2 * (enu - emin) / (emax - emin) - 1
    emu_p = 2 * xp.sqrt(1 - (elep - m_lep) / delta_e(enu, m_lep)) - 1
    theta_p = 2 * xp.sqrt(theta / math.pi) - 1
    return enu_p, emu_p, theta_p


def from_proxies(enu_p, emu_p, theta_p, *, m_lep: float = M_MUON, emin: float = PROXY_EMIN, emax: float = PROXY_EMAX):
    """Exact inverse of :func:`to_proxies`: return (E_ν, E_μ, θ) in GeV and radians.

    E_ν = E_min + (E'_ν + 1)(E_max − E_min)/2,
    E_μ = m_μ + ΔE [1 − ((E'_μ + 1)/2)²],
    θ   = π ((θ' + 1)/2)².
    """
    enu_p, emu_p, theta_p = _asarray(enu_p), _asarray(emu_p), _asarray(theta_p)
    enu = emin + (enu_p + 1) * (emax - emin) / 2
    u = (emu_p + 1) / 2
    elep = m_lep + delta_e(enu, m_lep) * (1 - u * u)
    v = (theta_p + 1) / 2
    theta = math.pi * v * v
    return enu, elep, theta


def in_proxy_domain(*proxies) -> Any:
    """Boolean mask: all proxies finite and inside [−1, 1]."""
    xp = _xp(proxies[0])
    mask = None
    for p in proxies:
        m = (p >= -1) & (p <= 1)
        mask = m if mask is None else mask & m
    return mask if xp is not np else np.asarray(mask)


def enu_to_proxy(E) -> np.ndarray:
    """E'_ν = 2 (E_ν − E_min)/(E_max − E_min) − 1 [GAN25], the generators' condition."""
    return 2 * (np.asarray(E, dtype=np.float64) - PROXY_EMIN) / (PROXY_EMAX - PROXY_EMIN) - 1
