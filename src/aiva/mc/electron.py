"""The electron mode of the reference Monte Carlo: inclusive (e, e′) d²σ/dΩdω from the same
nuclear model, vector form factors and Δ(1232) vertex as the neutrino QE and Δ channels.

One-photon exchange, electron mass neglected. Cross sections per nucleus in nb/(sr GeV).

**Mott cross section** (no recoil):  σ_M = α² cos²(θ/2) / (4E² sin⁴(θ/2)) (ħc)².

**Quasielastic** (:func:`qe`). Relativistic Fermi gas of the MC (:mod:`aiva.mc.nuclear`: momenta
uniform below k_F, initial energy √(M² + p²) − ε_B, Pauli blocking |p + q| > k_F; "lfg": local
k_F(r) of each isospin from the density profile, averaged over ρ(r) d³r), with the Rosenbluth
decomposition

    d²σ/dΩdω = σ_M [v_L R_L + v_T R_T],   v_L = (Q²/q²)²,   v_T = Q²/(2q²) + tan²(θ/2),

R_L = W⁰⁰, R_T = W¹¹ + W²², q along z. Each nucleon τ of momentum p contributes the free on-shell
tensor with the de Forest prescription (T. de Forest, Nucl. Phys. A 392 (1983) 232: the nucleon
current sees q̃ = (ω − ε_B, q), so that it is conserved):

    H^{μν} = 4M² [ τ̃ G_M² (−g^{μν} + q̃^μq̃^ν/q̃²) + (G_E² + τ̃ G_M²)/(1 + τ̃) · p̄^μ p̄^ν/M² ],
    p̄ = p − (p·q̃/q̃²) q̃,   τ̃ = −q̃²/4M²,

with the Sachs form factors G_{E,M}^{p,n} of :func:`aiva.mc.formfactors.sachs` (BBBA05 or
dipole, the MC's ``vector_ff``), and

    W^{μν} = N_τ · 3/(4π k_F³) ∫ d³p θ(k_F − p) θ(|p + q| − k_F) H^{μν}/(4 E_p E_{p+q})
             δ(ω + E_p − ε_B − E_{p+q}).

The δ function fixes the angle between p and q (Jacobian E_{p+q}/(p q)); p is integrated by
Gauss–Legendre quadrature. For a nucleon at rest this reduces to the Rosenbluth formula
(tested). This is the electromagnetic counterpart of the Llewellyn Smith vector current used by
the neutrino QE channel (same G_E, G_M; here with proton and neutron separately).

**Δ(1232)** (:func:`delta`). The MC's isobar model with the axial form factors set to zero
(:mod:`aiva.mc.delta`, LPP06 C3V, C4V, C5V), its Rarita–Schwinger hadron tensor and Breit–Wigner.
For the electromagnetic current the lepton tensor is ½ Tr = 2(k′^μk^ν + k^μk′^ν − g^{μν}k·k′),
a quarter of the symmetric part of the neutrino one, and the coupling e²/Q² replaces G_F cos θ_C/√2:

    d²σ/dQ²dW = 4π²α²/Q⁴ · L_{μν}H^{μν}[ν tensor, axial = 0] / (64π M² E*²) · R(W).

Isospin: the isovector photon current excites p → Δ⁺ and n → Δ⁰ with the amplitude of the
form factors themselves (Clebsch–Gordan √(2/3) against 1 for ν p → Δ⁺⁺ with V⁺, whose extra √2
makes the factor √3 of the neutrino channel), so every nucleon counts once. The bound nucleon
is drawn from the nuclear model as in the neutrino channel (invariants E* = k·P/M, flux factor
(k·P)/(E P⁰), no Pauli blocking of the Δ), and the lab cross section uses the Jacobian of
(Q², W) → (cos θ, ω) for the moving nucleon,
d²σ/dΩdω = (k·P)/(E P⁰) · |∂(Q², W)/∂(cos θ, ω)|/(2π) · d²σ/dQ²dW, averaged over drawn nucleons.
Switched off above W = 1.6–2.0 GeV as in the MC. No non-resonant background, no 2p2h, no DIS:
the electron mode checks the MC's QE and Δ vector response only.
"""
from __future__ import annotations

import numpy as np

from aiva.mc.config import PhysicsConfig, get_config
from aiva.mc.formfactors import sachs
from aiva.physics import constants as C
from aiva.physics.targets import Target, get_target

_M = C.M_NUCLEON
NB_GEV2 = C.HBARC2_GEV2_CM2 / 1e-33  #: GeV⁻² → nb


def mott(E, theta) -> np.ndarray:
    """σ_Mott [nb/sr], no recoil factor."""
    E, theta = np.asarray(E, dtype=np.float64), np.asarray(theta, dtype=np.float64)
    s2 = np.sin(theta / 2) ** 2
    return C.ALPHA_EM**2 * (1 - s2) / (4 * E * E * s2 * s2) * NB_GEV2


def _kinematics(E, theta, omega):
    Ep = E - omega
    Q2 = 4 * E * Ep * np.sin(theta / 2) ** 2
    q = np.sqrt(Q2 + omega * omega)
    return Ep, Q2, q


def _rfg_responses(q, omega, kF_i, kF_f, eps, ff, n_p: int = 64):
    """(R_L, R_T) per nucleon of each isospin, shape (2, 2, N): [proton, neutron] × [L, T]."""
    x, w = np.polynomial.legendre.leggauss(n_p)
    out = np.zeros((2, 2) + q.shape)
    wt = omega - eps  # de Forest: energy transfer seen by the nucleon current
    for iso in (0, 1):
        kf_i, kf_f = kF_i[iso], kF_f[iso]
        p = 0.5 * kf_i * (x + 1)[:, None]  # (n_p, 1)
        wp = 0.5 * kf_i * w[:, None]
        Ep = np.sqrt(_M * _M + p * p)
        Epp = Ep + wt  # final energy
        pp2 = Epp * Epp - _M * _M
        cosa = (pp2 - p * p - q * q) / (2 * p * q)
        ok = (np.abs(cosa) <= 1) & (pp2 > kf_f * kf_f) & (wt > 0)
        cosa = np.clip(cosa, -1, 1)
        pz = p * cosa
        pperp2 = p * p * (1 - cosa * cosa)
        qt2 = wt * wt - q * q  # q̃² < 0
        Qt2 = -qt2
        tau = Qt2 / (4 * _M * _M)
        GEp, GMp, GEn, GMn = sachs(Qt2, ff)
        GE, GM = (GEp, GMp) if iso == 0 else (GEn, GMn)
        W2 = (GE * GE + tau * GM * GM) / (1 + tau)
        pq = Ep * wt - pz * q
        pbar0 = Ep - pq / qt2 * wt
        H00 = 4 * _M * _M * (tau * GM * GM * (-1 + wt * wt / qt2) + W2 * pbar0 * pbar0 / (_M * _M))
        HT = 4 * _M * _M * (2 * tau * GM * GM + W2 * pperp2 / (_M * _M))
        jac = Epp / (p * q)
        norm = 3 / (4 * np.pi * kf_i**3) * 2 * np.pi
        for k, H in enumerate((H00, HT)):
            integrand = np.where(ok, p * p * jac * H / (4 * Ep * Epp), 0.0)
            out[iso, k] = norm * np.sum(wp * integrand, axis=0)
    return out


def qe(E, theta, omega, target: str | Target = "C12", config: str | PhysicsConfig = "default",
       n_r: int = 24) -> np.ndarray:
    """Quasielastic d²σ/dΩdω [nb/(sr GeV) per nucleus] at (E [GeV], θ [rad], ω [GeV]) arrays."""
    tg = get_target(target) if isinstance(target, str) else target
    cfg = get_config(config) if isinstance(config, str) else config
    E, theta, omega = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (E, theta, omega)))
    Ep, Q2, q = _kinematics(E, theta, omega)
    if cfg.nuclear_model == "rfg":
        shells = [(1.0, (tg.kF, tg.kF))]
    elif cfg.nuclear_model == "lfg":
        from aiva.mc.nuclear import _density

        r = np.linspace(0, 10.0, 400)[1:]
        rho = _density(tg, r)
        wr = rho * r * r
        wr = wr / wr.sum()
        rho0 = tg.A / (4 * np.pi * np.sum(rho * r * r) * (r[1] - r[0]))
        # coarse shells: the n_r quantiles of ρ r² dr
        edges = np.searchsorted(np.cumsum(wr), np.linspace(0, 1, n_r + 1)[1:-1])
        shells = []
        for idx in np.split(np.arange(len(r)), edges):
            if len(idx) == 0:
                continue
            rho_s = rho0 * np.average(rho[idx], weights=wr[idx])
            kfp = (3 * np.pi**2 * rho_s * tg.Z / tg.A) ** (1 / 3) * C.HBARC_GEV_FM
            kfn = (3 * np.pi**2 * rho_s * tg.N / tg.A) ** (1 / 3) * C.HBARC_GEV_FM
            shells.append((wr[idx].sum(), (kfp, kfn)))
    else:
        raise ValueError(f"unknown nuclear model {cfg.nuclear_model!r}")
    RL = np.zeros_like(q)
    RT = np.zeros_like(q)
    for weight, (kfp, kfn) in shells:
        resp = _rfg_responses(q, omega, (kfp, kfn), (kfp, kfn), tg.eps_b, cfg.vector_ff)
        RL += weight * (tg.Z * resp[0, 0] + tg.N * resp[1, 0])
        RT += weight * (tg.Z * resp[0, 1] + tg.N * resp[1, 1])
    vL = (Q2 / (q * q)) ** 2
    vT = Q2 / (2 * q * q) + np.tan(theta / 2) ** 2
    return mott(E, theta) * (vL * RL + vT * RT)


def delta(E, theta, omega, target: str | Target = "C12", config: str | PhysicsConfig = "default",
          n_nucleons: int = 2000, seed: int = 1) -> np.ndarray:
    """Δ(1232) electroproduction d²σ/dΩdω [nb/(sr GeV) per nucleus] (see the module docstring)."""
    from dataclasses import replace

    from aiva.mc import delta as _delta
    from aiva.mc.channels import smoothstep
    from aiva.mc.nuclear import sample_nucleons

    tg = get_target(target) if isinstance(target, str) else target
    cfg = get_config(config) if isinstance(config, str) else config
    par = replace(cfg.delta, C5A0=0.0)  # the vector current only
    E, theta, omega = (np.atleast_1d(np.asarray(a, dtype=np.float64)) for a in
                       np.broadcast_arrays(E, theta, omega))
    rng = np.random.default_rng(seed)
    is_p = rng.random(n_nucleons) < tg.Z / tg.A
    nuc = sample_nucleons(tg, cfg.nuclear_model, n_nucleons, rng, is_p, is_p)
    P0, Px, Pz = nuc.P0[None, :], nuc.P[0][None, :], nuc.P[2][None, :]
    Ee, th, om = E[:, None], theta[:, None], omega[:, None]
    Ep = Ee - om
    s, c = np.sin(th), np.cos(th)
    Q2 = 2 * Ee * Ep * (1 - c)
    qx, qz = -Ep * s, Ee - Ep * c
    pq = Px * qx + Pz * qz
    Pm2 = P0 * P0 - np.sum(nuc.P**2, axis=0)[None, :]
    W2 = Pm2 + 2 * (P0 * om - pq) - Q2
    W = np.sqrt(np.clip(W2, 0, None))
    kP = Ee * (P0 - Pz)
    Estar = kP / _M
    # Jacobian ∂(Q², W)/∂(cos θ, ω) at fixed E
    dQ2_dc, dQ2_dw = -2 * Ee * Ep, -2 * Ee * (1 - c)
    dpq_dw = Px * s + Pz * c  # ∂(p·q)/∂ω (E' = E − ω)
    dpq_dc = -Ep * (Px * (-c / np.where(s > 0, s, 1e-12)) + Pz)
    dW2_dw = 2 * P0 - 2 * dpq_dw - dQ2_dw
    dW2_dc = -2 * dpq_dc - dQ2_dc
    det = np.abs(dQ2_dc * dW2_dw - dQ2_dw * dW2_dc) / (2 * np.where(W > 0, W, 1.0))
    ok = (W > _delta.W_MIN) & (W < _delta.W_MAX_TABLE)
    Q2 = np.broadcast_to(Q2, W.shape)
    lh = _delta.contracted(Estar.ravel(), Q2.ravel(), np.where(ok, W, 1.3).ravel(), 0.0, False, par).reshape(W.shape)
    d2 = 4 * np.pi**2 * C.ALPHA_EM**2 / (Q2 * Q2) * lh / (64 * np.pi * _M * _M * Estar * Estar) \
        * _delta.breit_wigner(np.where(ok, W, 1.3), par)
    d2 *= 1.0 - smoothstep(W, cfg.res_w_lo, cfg.res_w_hi)
    flux = kP / (Ee * P0)
    per = np.where(ok, flux * det / (2 * np.pi) * d2, 0.0)
    return tg.A * per.mean(axis=1) * NB_GEV2


def inclusive(E, theta, omega, target="C12", config="default", channels=("qe", "res")) -> dict:
    """{channel: d²σ/dΩdω} and their sum ("total") [nb/(sr GeV) per nucleus]."""
    out = {}
    if "qe" in channels:
        out["qe"] = qe(E, theta, omega, target, config)
    if "res" in channels:
        out["res"] = delta(E, theta, omega, target, config)
    out["total"] = np.sum([out[c] for c in out], axis=0)
    return out


def regions(E, theta, omega) -> np.ndarray:
    """'QE' (W < 1.05 GeV), 'dip' (1.05–1.15), 'Delta' (1.15–1.35), 'above' (W ≥ 1.35) for a
    nucleon at rest: W² = M² + 2Mω − Q²."""
    E, theta, omega = (np.asarray(a, dtype=np.float64) for a in (E, theta, omega))
    _, Q2, _ = _kinematics(E, theta, omega)
    W = np.sqrt(np.clip(_M * _M + 2 * _M * omega - Q2, 0, None))
    return np.select([W < 1.05, W < 1.15, W < 1.35], ["QE", "dip", "Delta"], "above")
