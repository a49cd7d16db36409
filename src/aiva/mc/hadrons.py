"""Primary hadrons of the exclusive channels: the QE nucleon and the Δ(1232) → N π decay.

Input is the hadronic system of an accepted event, P_had = k + P − k′ (lab frame, beam along +z,
GeV; rows E, px, py, pz), whose invariant mass is the channel's W. Output is an
:class:`aiva.events.particles.ParticleList` of the particles at the primary vertex (before
final-state interactions), nucleon first. See ``docs/physics_hadrons.md``.

Δ decay (:func:`delta_decay`)
-----------------------------
The final state is fixed by the NEUT mode drawn by :func:`aiva.mc.channels.res`, which already
contains the isospin Clebsch–Gordan branching (Δ⁺⁺, Δ⁻ → one channel; Δ⁺ → pπ⁰ : nπ⁺ = 2/3 : 1/3,
Δ⁰ → nπ⁰ : pπ⁻ = 2/3 : 1/3, i.e. |⟨1 m_π; ½ m_N | 3/2 m_Δ⟩|²). Codes (NEUT, as in the NEUT mode
table also used by NUISANCE; negative for ν̄ with the same hadrons):

=====  ==========================  =====  =============================
 11    ν p → ℓ⁻ p π⁺                −11    ν̄ n → ℓ⁺ n π⁻
 12    ν n → ℓ⁻ p π⁰                −12    ν̄ p → ℓ⁺ n π⁰
 13    ν n → ℓ⁻ n π⁺                −13    ν̄ p → ℓ⁺ p π⁻
 31    ν n → ν n π⁰                 32     ν p → ν p π⁰
 33    ν n → ν p π⁻                 34     ν p → ν n π⁺
=====  ==========================  =====  =============================

The decay is two-body in the Δ rest frame, |p*| = λ^½(W², m_N², m_π²)/(2W), with the physical
(PDG 2024) masses of the chosen charge states. The pion direction is drawn in the Adler frame
(Δ rest frame, z along the momentum transfer q) from

    W(cos θ) ∝ 1 − (2ρ₃₃ − 1) P₂(cos θ),     φ uniform,

which is the spin-3/2 → ½ + 0 (P-wave) decay distribution of a Δ whose |m| = 3/2 sub-states carry
the population ρ₃₃ and the |m| = ½ ones 1 − ρ₃₃ (Rein & Sehgal, Ann. Phys. 133 (1981) 79,
Sec. 5; the off-diagonal ρ₃₁, ρ₃₋₁ terms that give a φ dependence are dropped, as in NEUT and in
GENIE's BaryonResonanceDecayer, which writes it as 1 − P₃/₂ P₂ + P₁/₂ P₂ with P₃/₂ + P₁/₂ = 1).
ρ₃₃ = 0.75 is the Rein–Sehgal value (pure magnetic-dipole N→Δ transition); ANL measured
0.66 ± 0.06 (G. M. Radecky et al., Phys. Rev. D 25 (1982) 1161); ρ₃₃ = ½ is isotropic
(``angular="iso"``).

Below the Nπ threshold of the chosen charges (possible only within a few MeV of the lowest
threshold, since the channel draws W > M̄_N + m_π⁰), the other charge state of the same total
charge is used when it is open (13 → 12, −13 → −12, 33 → 31, 34 → 32) and counted in
``stats["switched"]``. Δ⁺⁺ and Δ⁻ (modes ±11) have no other Nπ state: such an event (W below the
threshold by less than 1 MeV) gets both particles at rest in the Δ frame, which misses the 4-momentum by
(1 − W/W_thr) P_had, and is counted in ``stats["below_threshold"]``; further below it is an input error.
"""
from __future__ import annotations

import logging

import numpy as np

from aiva.errors import AivaInputError
from aiva.events.particles import ParticleList
from aiva.mc.twobody import boost
from aiva.physics import constants as C

log = logging.getLogger(__name__)

PDG_P, PDG_N = 2212, 2112
PDG_PIP, PDG_PIM, PDG_PI0 = 211, -211, 111

#: PDG 2024 masses of the hadrons made here [GeV]
MASS = {PDG_P: C.M_PROTON, PDG_N: C.M_NEUTRON, PDG_PIP: C.M_PION_CHARGED, PDG_PIM: C.M_PION_CHARGED,
        PDG_PI0: C.M_PION_NEUTRAL}

#: NEUT single-pion modes → (nucleon, pion); the ν̄ modes are the negatives
DELTA_MODES: dict[int, tuple[int, int]] = {
    11: (PDG_P, PDG_PIP), 12: (PDG_P, PDG_PI0), 13: (PDG_N, PDG_PIP),
    -11: (PDG_N, PDG_PIM), -12: (PDG_N, PDG_PI0), -13: (PDG_P, PDG_PIM),
    31: (PDG_N, PDG_PI0), 32: (PDG_P, PDG_PI0), 33: (PDG_P, PDG_PIM), 34: (PDG_N, PDG_PIP),
    -31: (PDG_N, PDG_PI0), -32: (PDG_P, PDG_PI0), -33: (PDG_P, PDG_PIM), -34: (PDG_N, PDG_PIP),
}
#: the other Nπ state of the same charge (used below the threshold of the drawn one)
SAME_CHARGE = {12: 13, 13: 12, -12: -13, -13: -12, 31: 33, 33: 31, 32: 34, 34: 32,
               -31: -33, -33: -31, -32: -34, -34: -32}
#: the Rein–Sehgal density-matrix element ρ₃₃ (Ann. Phys. 133 (1981) 79)
RHO33_RS = 0.75


def invariant_mass(P: np.ndarray) -> np.ndarray:
    """√(E² − p²) of (4, n) four-vectors (0 where space-like)."""
    m2 = P[0] * P[0] - P[1] * P[1] - P[2] * P[2] - P[3] * P[3]
    return np.sqrt(np.maximum(m2, 0.0))


def two_body_momentum(M, m1, m2):
    """|p*| = λ^½(M², m₁², m₂²)/(2M) of a two-body decay at rest (0 below threshold)."""
    M = np.asarray(M, dtype=np.float64)
    lam = (M * M - (m1 + m2) ** 2) * (M * M - (m1 - m2) ** 2)
    return np.sqrt(np.maximum(lam, 0.0)) / (2 * np.where(M > 0, M, 1.0))


def rotate_z_to(v: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Rotate vectors ``v`` (3, n) by the rotation that takes ẑ to the unit vectors ``u`` (3, n)
    (the rotation of ROOT's TVector3::RotateUz: about ẑ × u)."""
    ux, uy, uz = u
    up = np.sqrt(ux * ux + uy * uy)
    safe = np.where(up > 0, up, 1.0)
    x, y, z = v
    rx = np.where(up > 0, (ux * uz * x - uy * y) / safe + ux * z, np.where(uz < 0, -x, x))
    ry = np.where(up > 0, (uy * uz * x + ux * y) / safe + uy * z, y)
    rz = np.where(up > 0, -up * x + uz * z, np.where(uz < 0, -z, z))
    return np.vstack([rx, ry, rz])


def to_lab(E: np.ndarray, p: np.ndarray, P_had: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boost (E (m,), p (3, m)) from the rest frame of P_had (4, m) to the lab."""
    return boost(E, p, P_had[1:] / P_had[0])


def random_directions(n: int, rng: np.random.Generator) -> np.ndarray:
    """(3, n) unit vectors uniform on the sphere."""
    c = 2 * rng.random(n) - 1
    phi = 2 * np.pi * rng.random(n)
    s = np.sqrt(np.maximum(1 - c * c, 0.0))
    return np.vstack([s * np.cos(phi), s * np.sin(phi), c])


def _check_p4(P_had, name: str = "P_had") -> np.ndarray:
    P_had = np.asarray(P_had, dtype=np.float64)
    if P_had.ndim != 2 or P_had.shape[0] != 4:
        raise AivaInputError(f"{name} must be a (4, n) array of (E, px, py, pz), got shape {P_had.shape}")
    if not np.isfinite(P_had).all():
        raise AivaInputError(f"{name} has NaN or infinite entries")
    return P_had


def qe_nucleon(P_had: np.ndarray, final_is_proton: np.ndarray) -> ParticleList:
    """The outgoing nucleon of (quasi-)elastic scattering: one particle with 4-momentum P_had.

    P_had must have the invariant mass of the nucleon (PDG 2024 M_p or M_n) to 1 MeV, as the QE
    channel makes it (:func:`aiva.mc.channels.qe` draws the lepton with M_X = M_f).
    """
    P_had = _check_p4(P_had)
    fp = np.asarray(final_is_proton, dtype=bool)
    if fp.shape != (P_had.shape[1],):
        raise AivaInputError(f"final_is_proton must have shape ({P_had.shape[1]},), got {fp.shape}")
    pdg = np.where(fp, PDG_P, PDG_N)
    m_exp = np.where(fp, C.M_PROTON, C.M_NEUTRON)
    off = np.abs(invariant_mass(P_had) - m_exp) > 1e-3
    if off.any():
        raise AivaInputError(f"qe_nucleon: {int(off.sum())} events have a hadronic mass that is not the nucleon's "
                             f"(e.g. {invariant_mass(P_had)[off][0]:.4f} GeV)")
    return ParticleList.from_fixed(pdg, P_had)


def sample_cos_adler(n: int, rng: np.random.Generator, rho33: float) -> np.ndarray:
    """cos θ from W(cos θ) ∝ 1 − (2ρ₃₃ − 1) P₂(cos θ) by rejection (vectorised)."""
    a = 2 * rho33 - 1
    wmax = 1 + a / 2 if a > 0 else 1 - a  # P₂ ∈ [−½, 1]
    out = np.empty(n)
    todo = np.arange(n)
    while todo.size:
        c = 2 * rng.random(todo.size) - 1
        w = 1 - a * 0.5 * (3 * c * c - 1)
        acc = rng.random(todo.size) * wmax <= w
        out[todo[acc]] = c[acc]
        todo = todo[~acc]
    return out


def delta_decay(P_had: np.ndarray, mode: np.ndarray, q: np.ndarray, rng: np.random.Generator, *,
                angular: str = "rs", rho33: float = RHO33_RS, stats: dict[str, int] | None = None) -> ParticleList:
    """Δ → N π at the primary vertex: nucleon then pion per event, lab frame.

    ``P_had`` (4, n) is the Δ 4-momentum (mass W), ``mode`` (n,) the NEUT mode (table in the module
    docstring), ``q`` (4, n) the lab 4-momentum transfer k − k′ (its direction in the Δ rest frame
    is the quantisation axis). ``angular`` is ``"rs"`` (Rein–Sehgal, W ∝ 1 − (2ρ₃₃ − 1)P₂(cos θ),
    Ann. Phys. 133 (1981) 79) or ``"iso"``. ``stats`` (if given) is incremented with the number
    of events whose charge state was switched below threshold (``"switched"``) and of those left
    below threshold (``"below_threshold"``).
    """
    P_had = _check_p4(P_had)
    q = _check_p4(q, "q")
    n = P_had.shape[1]
    mode = np.asarray(mode).astype(np.int64)
    if mode.shape != (n,) or q.shape != (4, n):
        raise AivaInputError(f"delta_decay: mode {mode.shape} and q {q.shape} must match P_had {P_had.shape}")
    if angular not in ("rs", "iso"):
        raise AivaInputError(f"delta_decay: angular must be 'rs' or 'iso', got {angular!r}")
    if not 0.0 <= rho33 <= 1.0:
        raise AivaInputError(f"delta_decay: rho33 must be in [0, 1], got {rho33}")
    known = np.isin(mode, list(DELTA_MODES))
    if not known.all():
        raise AivaInputError(f"delta_decay: unknown NEUT single-pion modes {sorted(set(mode[~known].tolist()))}; "
                             f"known: {sorted(DELTA_MODES)}")
    W = invariant_mass(P_had)
    codes = np.array(sorted(DELTA_MODES))
    nuc_of = np.array([DELTA_MODES[c][0] for c in codes])
    pi_of = np.array([DELTA_MODES[c][1] for c in codes])
    mass_of = lambda pdg: np.where(np.abs(pdg) == PDG_PIP, C.M_PION_CHARGED,  # noqa: E731
                                   np.where(pdg == PDG_PI0, C.M_PION_NEUTRAL,
                                            np.where(pdg == PDG_P, C.M_PROTON, C.M_NEUTRON)))
    k = np.searchsorted(codes, mode)
    nuc, pi = nuc_of[k], pi_of[k]
    thr = mass_of(nuc) + mass_of(pi)
    below = W < thr
    n_switched = 0
    if below.any():
        alt = np.array([SAME_CHARGE.get(int(c), int(c)) for c in mode[below]])
        ka = np.searchsorted(codes, alt)
        thr_alt = mass_of(nuc_of[ka]) + mass_of(pi_of[ka])
        use = (alt != mode[below]) & (W[below] >= thr_alt)
        idx = np.flatnonzero(below)[use]
        nuc[idx], pi[idx] = nuc_of[ka[use]], pi_of[ka[use]]
        n_switched = int(use.sum())
        thr = mass_of(nuc) + mass_of(pi)
    still = W < thr
    if (W < thr - 1e-3).any():
        bad = W < thr - 1e-3
        raise AivaInputError(f"delta_decay: {int(bad.sum())} events lie more than 1 MeV below the N π threshold "
                             f"of their mode (e.g. W = {W[bad][0]:.5f} GeV, mode {mode[bad][0]})")
    n_below = int(still.sum())
    if n_switched or n_below:
        log.warning("delta_decay: %d events below the N π threshold of their mode switched to the other charge "
                    "state; %d below every N π threshold of their charge (made at rest, < 1 MeV short)",
                    n_switched, n_below)
    if stats is not None:
        stats["switched"] = stats.get("switched", 0) + n_switched
        stats["below_threshold"] = stats.get("below_threshold", 0) + n_below
    mN, mpi = mass_of(nuc), mass_of(pi)
    pstar = two_body_momentum(W, mN, mpi)
    # quantisation axis: q in the Δ rest frame
    beta = P_had[1:] / P_had[0]
    _, qs = boost(q[0], q[1:], -beta)
    qn = np.sqrt(np.sum(qs * qs, axis=0))
    axis = np.where(qn > 0, qs / np.where(qn > 0, qn, 1.0), np.array([[0.0], [0.0], [1.0]]))
    cos = sample_cos_adler(n, rng, rho33) if angular == "rs" else 2 * rng.random(n) - 1
    phi = 2 * np.pi * rng.random(n)
    sin = np.sqrt(np.maximum(1 - cos * cos, 0.0))
    d = rotate_z_to(np.vstack([sin * np.cos(phi), sin * np.sin(phi), cos]), axis)
    p_pi = pstar * d
    E_pi, p_pi = boost(np.sqrt(mpi * mpi + pstar * pstar), p_pi, beta)
    E_N, p_N = boost(np.sqrt(mN * mN + pstar * pstar), -pstar * d, beta)
    inter = lambda a, b: np.stack([a, b], axis=-1).ravel()  # noqa: E731  (event-major order)
    return ParticleList(np.full(n, 2, np.int32), inter(nuc, pi), inter(E_N, E_pi),
                        inter(p_N[0], p_pi[0]), inter(p_N[1], p_pi[1]), inter(p_N[2], p_pi[2]))
