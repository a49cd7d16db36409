"""Intranuclear cascade: final-state interactions of the hadrons made at the primary vertex.

The model follows the semi-classical cascades of NuWro (T. Golan, C. Juszczak, J. T. Sobczyk, Phys. Rev. C 86
(2012) 015505, "Final state interactions effects in neutrino-nucleus interactions") and GENIE's hN (S. Dytman et
al., Phys. Rev. D 104 (2021) 053006), simplified; the physics write-up is ``docs/physics_cascade.md``.

* Geometry: the nucleon density ρ(r) of the target (HO or 2pF profiles of De Vries et al. 1987, see
  :mod:`aiva.physics.targets`), normalised to A, with ρ_p = (Z/A) ρ and ρ_n = (N/A) ρ; the nucleus ends at R_max,
  where ρ falls below 10⁻³ of its maximum. Hadrons move on straight lines between collisions.
* Mean free path: each hadron carries an optical depth τ ~ Exp(1). At the start of each step the local rate
  Λ = ρ_p σ_hp + ρ_n σ_hn (+ the pion absorption rate) is evaluated with a proton and a neutron drawn from the local
  Fermi sea; the hadron advances min(Δx, τ/Λ), spends Λ × (distance) of τ and collides if τ ran out — the free
  mean free path λ = 1/Λ of NuWro (Golan et al. 2012, Sec. II), exact for a rate constant over a step and not
  limited to one collision per step (cross sections from :mod:`aiva.mc.hadron_xsec`).
* Target nucleons: local Fermi gas, |p| uniform in the sphere of radius k_F,τ(r) = (3π² ρ_τ(r))^{1/3}, on shell.
* Collisions, exactly 4-momentum conserving (two-body kinematics in the c.m. of the colliding pair):
  NN elastic (dσ/dt ∝ e^{Bt}, Cugnon et al. 1996; in-medium cross sections of V. R. Pandharipande, S. C. Pieper,
  Phys. Rev. C 45 (1992) 791, as NuWro), NN → NΔ → NNπ above threshold (Δ mass from a Breit–Wigner truncated to
  the phase space, isotropic NΔ production and Δ decay; isospin from the Clebsch–Gordan weights
  pp → nΔ⁺⁺ : pΔ⁺ = 3 : 1 and np → pΔ⁰ : nΔ⁺ = 1 : 1), πN elastic and charge exchange (Δ-like 1 + 3cos²θ in the
  c.m.), and pion absorption on a quasi-deuteron pn pair of the Fermi sea, π N N → N N, isotropic (the pn pair
  dominance of D. Ashery et al., Phys. Rev. C 23 (1981) 2173 and H. J. Weyer, Phys. Rep. 195 (1990) 295).
* Pauli blocking: a collision whose outgoing nucleons do not all have |p| > k_F,τ(r) is undone (counted).
* Leaving the nucleus a nucleon loses the well depth V = T_F + S (T_F the kinetic Fermi energy of the target's
  k_F, S = 8 MeV a separation energy; NuWro uses E_F + 7 MeV, its ``kaskada_w``); a nucleon whose kinetic energy
  is (or falls, after a collision) below V cannot leave and is taken out where it is (``captured``, counted, its
  4-momentum booked, never dropped silently). Pions and other particles leave unchanged.
* Bookkeeping, per event, exact up to rounding: Σ primary + sea = Σ final + well + captured, where ``sea`` is the
  sum of the Fermi-sea nucleons brought into collisions, ``well`` the 4-momentum lost to the well at exit and
  ``captured`` that of the nucleons that stay bound. Charge and baryon number balance the same way.

Everything is vectorised over all particles of all events: one loop over steps of all particles still inside.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from aiva.errors import AivaInputError
from aiva.events.particles import ParticleList
from aiva.mc import hadron_xsec as X
from aiva.mc.nuclear import _density, _radial_table
from aiva.physics import constants as C
from aiva.physics.targets import Target

log = logging.getLogger(__name__)

PROTON, NEUTRON, PIP, PIM, PI0 = 2212, 2112, 211, -211, 111
_MB_TO_FM2 = 0.1
_dot = X.dot3


@dataclass(frozen=True)
class CascadeParams:
    """Options of :func:`run_cascade` (defaults in brackets)."""

    step_fm: float = 0.5  #: maximum step length Δx [fm] (0.5); a collision inside a step ends it there
    #: Formation length [fm] a primary hadron travels before it can interact (0 = off, the default;
    #: NuWro's formation-zone options are not reproduced, only a fixed length).
    formation_fm: float = 0.0
    #: Pion absorption: ``"oset"`` (Oset–Salcedo Δ self-energy, default) or ``"none"``.
    absorption: str = "oset"
    absorption_scale: float = 1.0  #: multiplies the absorption rate (1.0)
    pauli_blocking: bool = True  #: Pauli blocking of outgoing nucleons (True)
    #: Separation energy S [GeV] added to the kinetic Fermi energy for the exit well V = T_F + S (0.008).
    separation_energy: float = 0.008
    #: Override of the whole well depth V [GeV] (None: T_F + S; 0: nucleons leave with their inside momentum).
    well_depth: float | None = None
    nn_inelastic: bool = True  #: NN → NNπ above threshold (True)
    #: In-medium NN cross sections of Pandharipande & Pieper 1992, as NuWro (True); False: free ones.
    nn_medium: bool = True
    #: Scale of the NN cross sections (1.0); NuWro's default mean-free-path scale 0.76 (fitted to transparency
    #: data, K. Niewczas, J. T. Sobczyk, PRC 100 (2019) 015505) corresponds to 1/0.76 here.
    nn_xsec_scale: float = 1.0
    max_steps: int = 20000  #: safety stop; particles still inside then are moved out (and logged)

    def __post_init__(self) -> None:
        if not self.step_fm > 0:
            raise AivaInputError(f"cascade step_fm must be > 0, got {self.step_fm}")
        if self.absorption not in ("oset", "none"):
            raise AivaInputError(f"cascade absorption must be 'oset' or 'none', got {self.absorption!r}")
        if self.formation_fm < 0 or self.absorption_scale < 0 or self.separation_energy < 0 or self.nn_xsec_scale < 0:
            raise AivaInputError("cascade formation_fm, absorption_scale, separation_energy, nn_xsec_scale must be ≥ 0")


@dataclass
class CascadeResult:
    final: ParticleList  #: the hadrons that leave the nucleus (and the untouched other particles)
    counts: dict[str, int]  #: totals for the log: collisions by kind, Pauli-blocked, captured, steps
    n_interactions: np.ndarray  #: (n_events,) collisions that happened (not Pauli blocked), all particles
    sea_p4: np.ndarray  #: (4, n_events) Fermi-sea nucleons brought into collisions
    well_p4: np.ndarray  #: (4, n_events) 4-momentum left in the nuclear well by exiting nucleons
    captured_p4: np.ndarray  #: (4, n_events) nucleons that could not escape
    n_sea: np.ndarray  #: (2, n_events) sea protons, neutrons taken
    n_captured: np.ndarray  #: (2, n_events) captured protons, neutrons
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def remnant_p4(self) -> np.ndarray:
        """(4, n_events) what the residual nucleus absorbs: captured + well − sea (= Σ primary − Σ final)."""
        return self.captured_p4 + self.well_p4 - self.sea_p4


# ============================================================ nucleus geometry
@dataclass(frozen=True)
class _Nucleus:
    r: np.ndarray  #: radial grid [fm]
    rho: np.ndarray  #: ρ(r) [fm⁻³], ∫ρ d³r = A
    r_max: float
    fp: float  #: Z/A
    fn: float
    well: float


def well_depth(target: Target, params: CascadeParams = CascadeParams()) -> float:
    """The exit well V [GeV] a nucleon loses leaving ``target``: T_F + S, or ``params.well_depth``."""
    TF = np.sqrt(target.kF ** 2 + C.M_NUCLEON ** 2) - C.M_NUCLEON
    return float(TF + params.separation_energy) if params.well_depth is None else float(params.well_depth)


def _nucleus(target: Target, params: CascadeParams) -> _Nucleus:
    r, _, rho0 = _radial_table(target.name, target)
    rho = rho0 * _density(target, r)
    r_max = float(r[np.nonzero(rho > 1e-3 * rho.max())[0][-1]])
    return _Nucleus(r, rho, r_max, target.Z / target.A, target.N / target.A, well_depth(target, params))


def sample_vertex(target: Target, n: int, rng: np.random.Generator) -> np.ndarray:
    """(3, n) interaction points [fm] drawn from ρ(r) r² of ``target``, isotropic; free nucleon: the origin."""
    if n < 0:
        raise AivaInputError(f"number of vertices must be ≥ 0, got {n}")
    if not target.is_nucleus:
        return np.zeros((3, n))
    r_grid, cdf, _ = _radial_table(target.name, target)
    u = rng.random((3, n))
    r = np.interp(u[0], cdf, r_grid)
    cth = 2 * u[1] - 1
    sth = np.sqrt(1 - cth * cth)
    ph = 2 * np.pi * u[2]
    return np.vstack([r * sth * np.cos(ph), r * sth * np.sin(ph), r * cth])


# ============================================================ kinematics helpers
def _boost(e, p, b):
    """Boost the 4-vectors (e, p[3]) by velocity b[3] (lab ← frame moving with b)."""
    b2 = np.maximum(_dot(b, b), 1e-300)
    g = 1.0 / np.sqrt(np.maximum(1.0 - b2, 1e-300))
    bp = _dot(b, p)
    e2 = g * (e + bp)
    p2 = p + ((g - 1.0) * bp / b2 + g * e) * b
    return e2, p2


def _rotate(axis, cth, phi):
    """Unit vectors at polar angle acos(cth), azimuth phi about the unit vectors ``axis`` (3, n)."""
    ax = axis / np.maximum(np.sqrt(_dot(axis, axis)), 1e-300)
    x, y, z = ax
    use_x = np.abs(z) > 0.9
    # e1 = ax × a with a = x̂ (|a_z| > 0.9) or ẑ, written out; e2 = ax × e1
    e1 = np.empty_like(ax)
    e1[0] = np.where(use_x, 0.0, y)
    e1[1] = np.where(use_x, z, -x)
    e1[2] = np.where(use_x, -y, 0.0)
    e1 /= np.sqrt(_dot(e1, e1))
    a, b, c = e1
    e2 = np.empty_like(ax)
    e2[0] = y * c - z * b
    e2[1] = z * a - x * c
    e2[2] = x * b - y * a
    sth = np.sqrt(np.maximum(1 - cth * cth, 0.0))
    return cth * ax + sth * (np.cos(phi) * e1 + np.sin(phi) * e2)


def _two_body(P, m1, m2, cth, phi, axis_lab=None):
    """Split total 4-momentum P (4, n) into on-shell m1, m2 at c.m. angles (cth, phi) about the c.m. direction of
    ``axis_lab`` (a lab 4-vector (4, n), the incoming particle; None: the z axis). Returns (p1, p2) (4, n) with
    p1 + p2 = P exactly."""
    W = np.sqrt(np.maximum(P[0] ** 2 - _dot(P[1:], P[1:]), 0.0))
    b = P[1:] / P[0]
    if axis_lab is None:
        axis = np.broadcast_to(np.array([[0.0], [0.0], [1.0]]), (3, P.shape[1]))
    else:
        _, axis = _boost(axis_lab[0], axis_lab[1:], -b)
    k = X.cm_momentum(W, m1, m2)
    d = _rotate(axis, cth, phi) * k
    e1, p1 = _boost(np.sqrt(k * k + m1 * m1), d, b)
    p1v = np.vstack([e1, p1])
    return p1v, P - p1v


def _iso_cos(rng, n):
    return 2 * rng.random(n) - 1


def _delta_cos(rng, n):
    """cos θ from 1 + 3 cos²θ (p-wave Δ decay), by exact inversion of the CDF (a cubic, solved by bisection-free
    Cardano: F(c) = (c + c³ + 2)/4)."""
    u = rng.random(n)
    q = 2 - 4 * u  # c³ + c + q = 0
    disc = np.sqrt(q * q / 4 + 1 / 27)
    return np.cbrt(-q / 2 + disc) + np.cbrt(-q / 2 - disc)


def _slope_cos(rng, plab, k):
    """cos θ_cm from dσ/dt ∝ exp(B t), t ∈ [−4k², 0] (Cugnon et al. 1996)."""
    B = X.nn_slope(plab)
    x = 4 * k * k * B
    u = rng.random(len(k))
    small = x < 1e-6
    with np.errstate(divide="ignore", invalid="ignore"):
        t_over = np.log(1 - u * (1 - np.exp(-x))) / np.where(small, 1.0, x)  # t/(4k²) ∈ [−1, 0]
    frac = np.where(small, -u, t_over)
    return np.clip(1 + 2 * frac, -1.0, 1.0)


def _mass(pdg):
    return np.select([pdg == PROTON, pdg == NEUTRON, np.abs(pdg) == PIP, pdg == PI0],
                     [C.M_PROTON, C.M_NEUTRON, C.M_PION_CHARGED, C.M_PION_NEUTRAL], 0.0)


def _charge(pdg):
    return np.select([pdg == PROTON, pdg == PIP, pdg == PIM], [1, 1, -1], 0)


def _pion_pdg(q):
    return np.select([q > 0, q < 0], [PIP, PIM], PI0).astype(np.int32)


def _nuc_pdg(isp):
    return np.where(isp, PROTON, NEUTRON).astype(np.int32)


# ============================================================ the cascade
class _State:
    """Arrays of the particles still inside (index i over particles, not events). The float properties live in one
    (9, m) array (rows E, px, py, pz, x, y, z, τ, formation length left), so that compaction is one take."""

    def __init__(self, ev, pdg, p4, x, primary):
        self.ev = ev
        self.pdg = pdg
        self.f = np.empty((9, len(ev)))
        self.f[0:4] = p4
        self.f[4:7] = x
        self.f[7:9] = 0.0
        self.primary = primary
        self._views()

    def _views(self):
        f = self.f
        self.p4, self.x, self.tau, self.fz = f[0:4], f[4:7], f[7], f[8]

    def keep(self, m):
        idx = np.flatnonzero(m)
        self.ev = self.ev[idx]
        self.pdg = self.pdg[idx]
        self.primary = self.primary[idx]
        self.f = self.f.take(idx, axis=1)
        self._views()

    def add(self, ev, pdg, p4, x, tau):
        k = len(ev)
        self.ev = np.concatenate([self.ev, ev])
        self.pdg = np.concatenate([self.pdg, pdg])
        self.primary = np.concatenate([self.primary, np.zeros(k, bool)])
        g = np.empty((9, k))
        g[0:4] = p4
        g[4:7] = x
        g[7] = tau
        g[8] = 0.0
        self.f = np.concatenate([self.f, g], axis=1)
        self._views()


def _bincount4(ev, p4, n):
    return np.vstack([np.bincount(ev, weights=p4[j], minlength=n) for j in range(4)])


def run_cascade(primary: ParticleList, vertex: np.ndarray, target: Target, rng: np.random.Generator,
                params: CascadeParams = CascadeParams(), start: np.ndarray | None = None) -> CascadeResult:
    """Propagate the primary hadrons of every event out of ``target``.

    ``primary``: the hadrons at the vertex (any other particle is passed through untouched); ``vertex`` (3,
    n_events) the interaction point of each event [fm] (e.g. :func:`sample_vertex`); ``start`` (3, m), optional,
    a start point per particle instead (used by the pion-beam mode). Free-nucleon targets: no FSI, the output
    equals the input.
    """
    n = primary.n_events
    vertex = np.asarray(vertex, dtype=float)
    if vertex.shape != (3, n):
        raise AivaInputError(f"vertex must have shape (3, {n}), got {vertex.shape}")
    zeros4 = np.zeros((4, n))
    zeros2 = np.zeros((2, n), dtype=np.int64)
    if not target.is_nucleus:
        return CascadeResult(primary, {}, np.zeros(n, np.int64), zeros4, zeros4.copy(), zeros4.copy(), zeros2,
                             zeros2.copy())
    nuc = _nucleus(target, params)
    ev0 = primary.event_index()
    pdg0 = primary.pdg
    tracked = np.isin(pdg0, [PROTON, NEUTRON, PIP, PIM, PI0])
    p4_0 = np.vstack([primary.E, primary.px, primary.py, primary.pz])
    x0 = vertex[:, ev0] if start is None else np.asarray(start, dtype=float)
    if x0.shape != (3, len(ev0)):
        raise AivaInputError(f"start must have shape (3, {len(ev0)}), got {x0.shape}")

    # particles that left, in order of leaving (pass-through first): their well loss is booked at the end
    out_ev = [ev0[~tracked]]
    out_pdg = [pdg0[~tracked]]
    out_p4 = [p4_0[:, ~tracked]]
    st = _State(ev0[tracked], pdg0[tracked].astype(np.int32), p4_0[:, tracked], x0[:, tracked],
                np.ones(int(tracked.sum()), bool))
    st.tau[:] = rng.exponential(size=len(st.ev))
    st.fz[:] = params.formation_fm

    cnt = dict(nn_elastic=0, nn_inelastic=0, pin_elastic=0, n_cex=0, n_absorbed_pi=0, n_pauli_blocked=0,
               n_captured=0, n_steps=0, n_forced_out=0, n_capped=0)
    n_int = np.zeros(n, np.int64)
    sea_p4 = np.zeros((4, n))
    n_sea = np.zeros((2, n), np.int64)
    R2 = nuc.r_max ** 2
    dx = params.step_fm
    rgrid, rhogrid = nuc.r, nuc.rho
    rstep = float(rgrid[1] - rgrid[0])  # the radial table is uniform (mc.nuclear._radial_table)
    kf_const = (3 * np.pi ** 2) ** (1 / 3) * C.HBARC_GEV_FM
    kfp_scale, kfn_scale = kf_const * nuc.fp ** (1 / 3), kf_const * nuc.fn ** (1 / 3)  # k_F,τ = c (f_τ ρ)^{1/3}

    # guard against runaway multiplication (no Pauli blocking and no well): at most 4A + 8 hadrons per event
    cap_per_event = 4 * target.A + 8
    step = 0
    while len(st.ev):
        step += 1
        x, p4, pdg = st.x, st.p4, st.pdg
        r2 = _dot(x, x)
        leaving = (r2 > R2) & (_dot(x, p4[1:]) >= 0)
        is_prot = pdg == PROTON
        is_nuc = is_prot | (pdg == NEUTRON)
        if nuc.well > 0:
            # a nucleon below the well depth cannot leave: it is captured where it is (booked in captured_p4)
            leaving |= is_nuc & (p4[0] - np.where(is_prot, C.M_PROTON, C.M_NEUTRON) <= nuc.well)
        if step >= params.max_steps:
            cnt["n_forced_out"] += int((~leaving).sum())
            leaving[:] = True
        if leaving.any():
            idx = np.flatnonzero(leaving)
            out_ev.append(st.ev[idx])
            out_pdg.append(pdg[idx])
            out_p4.append(p4[:, idx])
            if len(idx) == len(st.ev):
                break
            stay = ~leaving
            st.keep(stay)
            r2, is_prot, is_nuc = r2[stay], is_prot[stay], is_nuc[stay]
            x, p4, pdg = st.x, st.p4, st.pdg
        m = len(st.ev)
        pabs = np.sqrt(_dot(p4[1:], p4[1:]))
        r = np.sqrt(r2)
        ir, fr = X.uniform_index(r, 0.0, rstep, rhogrid)
        rho = rhogrid[ir] * (1 - fr) + rhogrid[ir + 1] * fr
        rho[r >= rgrid[-1]] = 0.0
        crho = np.cbrt(rho)
        kfp, kfn = kfp_scale * crho, kfn_scale * crho
        # sea partners (a proton and a neutron candidate per particle and step): one draw serves both, the
        # neutron candidate is the proton one scaled by k_F,n/k_F,p (only one of the two takes part in a
        # collision, so their correlation does not matter); zero outside the density (k_F = 0). The rates need only
        # |p_sea| = k_F u^{1/3} and its cosine to the particle's momentum (uniform: an isotropic sea); the azimuth
        # about p, which completes the vector, is drawn for the particles that collide.
        us = rng.random((2, m))
        ua = np.cbrt(us[0])
        cz = 2 * us[1] - 1
        u2 = ua * ua
        pu = pabs * ua * cz  # p · û: p · p_sea = pu k_F
        Ep = np.sqrt(C.M_PROTON ** 2 + kfp * kfp * u2)
        En = np.sqrt(C.M_NEUTRON ** 2 + kfn * kfn * u2)
        total, parts = _rates(p4[0], pabs, pu, u2, is_nuc, is_prot, pdg, Ep, En, kfp, kfn, rho, nuc.fp, nuc.fn, params)
        # advance to the collision point if it lies within this step (exact for a rate constant over the step)
        fz = st.fz
        can = (fz <= 0) & (total > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            dcoll = np.where(can, st.tau / total, np.inf)
        hitm = dcoll <= dx
        adv = np.where(hitm, dcoll, dx)
        x += (adv / np.maximum(pabs, 1e-300)) * p4[1:]
        fz -= adv
        st.tau -= np.where(can, total * adv, 0.0)
        hit = np.flatnonzero(hitm)
        if len(hit) and cap_per_event:
            full = np.bincount(st.ev, minlength=n)[st.ev[hit]] >= cap_per_event
            if full.any():
                cnt["n_capped"] += int(full.sum())
                st.tau[hit[full]] = rng.exponential(size=int(full.sum()))
                hit = hit[~full]
        if len(hit):
            rates = _hit_rates(parts, hit, is_nuc)
            ph = pabs[hit]
            ax = p4[1:, hit].copy()
            ax[2, ph <= 0] = 1.0
            ush = ua[hit] * _rotate(ax, cz[hit], 2 * np.pi * rng.random(len(hit)))
            _collide(st, hit, rates, ush * kfp[hit], ush * kfn[hit], Ep[hit], En[hit], is_nuc[hit],
                     kfp[hit], kfn[hit], params, rng, cnt, n_int, sea_p4, n_sea)
    cnt["n_steps"] = step
    if cnt["n_forced_out"]:
        log.warning("cascade: %d particles still inside after %d steps were moved out", cnt["n_forced_out"], step)
    ev = np.concatenate(out_ev)
    pdg = np.concatenate(out_pdg)
    p4 = np.hstack(out_p4)
    well_p4, capt_p4, n_capt, keep = _exit_well(ev, pdg, p4, len(out_ev[0]), nuc, cnt, n)
    final = ParticleList.from_event_index(ev[keep], n, pdg[keep], p4[0, keep], p4[1, keep], p4[2, keep], p4[3, keep])
    log.debug("cascade %s: %s", target.name, cnt)
    return CascadeResult(final, cnt, n_int, sea_p4, well_p4, capt_p4, n_sea, n_capt)


def _rates(E, pabs, pu, u2, is_nuc, is_prot, pdg, Ep, En, kfp, kfn, rho, fp, fn, params):
    """Collision rates [fm⁻¹] (ρ_τ σ for each channel and partner isospin) of all particles inside: the total (m,)
    and the parts (nucleon indices, (4, m_N) el_p, inel_p, el_n, inel_n; pion indices, (6, m_π) el_p, cex_p, abs_p,
    el_n, cex_n, abs_n). With p·p_sea = (p·û) k_F the invariants need no 3-vectors: the projectile's energy in the
    partner's rest frame is e = (E E_sea − p·p_sea)/M_sea and p_lab = √(e² − m²)."""
    total = np.zeros(len(E))
    i_n = np.flatnonzero(is_nuc)
    i_pi = np.flatnonzero(~is_nuc)
    r_nuc = r_pi = None
    if len(i_n):
        En_, pa, pu_, rr = E[i_n], pabs[i_n], pu[i_n], rho[i_n]
        kp, kn = kfp[i_n], kfn[i_n]
        m2 = np.maximum(En_ * En_ - pa * pa, 0.0)
        isprot = is_prot[i_n]
        q1 = pa * pa
        if params.nn_medium:
            med = X.MediumFactor(q1, rr)
        r_nuc = np.empty((4, len(i_n)))
        u2n = u2[i_n]
        for k, (Es, ms, kf, same, fr) in enumerate(((Ep[i_n], C.M_PROTON, kp, isprot, fp),
                                                     (En[i_n], C.M_NEUTRON, kn, ~isprot, fn))):
            pdot = pu_ * kf
            e = (En_ * Es - pdot) / ms
            plab = np.sqrt(np.maximum(e * e - m2, 0.0))
            el, inel = X.nn_xsec(plab, same)
            scale = rr * (fr * _MB_TO_FM2 * params.nn_xsec_scale)
            if params.nn_medium:
                f_el, f_in = med(kf * kf * u2n, pdot)
                el, inel = el * f_el, inel * f_in
            r_nuc[2 * k] = el * scale
            r_nuc[2 * k + 1] = inel * scale if params.nn_inelastic else 0.0
        total[i_n] = r_nuc.sum(0)
    if len(i_pi):
        Epi, pu_, rr = E[i_pi], pu[i_pi], rho[i_pi]
        q = _charge(pdg[i_pi])
        mpi = X.M_PI
        r_pi = np.empty((6, len(i_pi)))
        for k, (Es, mt, isp, kf, fr) in enumerate(((Ep[i_pi], C.M_PROTON, 1, kfp[i_pi], fp),
                                                    (En[i_pi], C.M_NEUTRON, 0, kfn[i_pi], fn))):
            e = (Epi * Es - pu_ * kf) / mt  # pion energy in the nucleon rest frame
            s = mpi * mpi + mt * mt + 2 * mt * e
            W = np.sqrt(np.maximum(s, 0.0))
            ps = np.sqrt(np.maximum(e * e - mpi * mpi, 0.0))
            el, cex, ab = X.pin_xsec(W, e - mpi, e, ps, q, isp, rr)
            sc = rr * (fr * _MB_TO_FM2)
            r_pi[3 * k] = el * sc
            r_pi[3 * k + 1] = cex * sc
            r_pi[3 * k + 2] = ab * (sc * params.absorption_scale) if params.absorption != "none" else 0.0
        total[i_pi] = r_pi.sum(0)
    return total, (i_n, r_nuc, i_pi, r_pi)


def _hit_rates(parts, hit, is_nuc):
    """(10, n_hit) rates of the particles ``hit`` in the channel order of :func:`_collide`."""
    i_n, r_nuc, i_pi, r_pi = parts
    out = np.zeros((10, len(hit)))
    isn = is_nuc[hit]
    # position of particle i among its species: i_n and i_pi are the sorted indices of the two species
    pos = np.cumsum(is_nuc) - 1
    pos_pi = np.arange(len(is_nuc)) - pos - 1
    if r_nuc is not None and isn.any():
        out[0:4, isn] = r_nuc[:, pos[hit[isn]]]
    if r_pi is not None and (~isn).any():
        out[4:10, ~isn] = r_pi[:, pos_pi[hit[~isn]]]
    return out


def _exit_well(ev, pdg, p4, n_pass, nuc, cnt, n):
    """The well at the exit, for all particles that left (the first ``n_pass`` were passed through untouched):
    each nucleon loses V (its |p| rescaled on shell); one with E − V ≤ M stays bound (captured). Modifies ``p4`` in
    place; returns (well_p4, captured_p4, n_captured, mask of the particles that leave)."""
    well_p4 = np.zeros((4, n))
    capt_p4 = np.zeros((4, n))
    n_capt = np.zeros((2, n), np.int64)
    keep_out = np.ones(len(ev), bool)
    isn = (pdg == PROTON) | (pdg == NEUTRON)
    isn[:n_pass] = False
    if nuc.well > 0 and isn.any():
        j = np.flatnonzero(isn)
        pj = p4[:, j]
        evj, pdgj = ev[j], pdg[j]
        M = np.where(pdgj == PROTON, C.M_PROTON, C.M_NEUTRON)
        E_out = pj[0] - nuc.well
        bound = E_out <= M
        pold = np.sqrt(_dot(pj[1:], pj[1:]))
        pnew = np.sqrt(np.maximum(E_out * E_out - M * M, 0.0))
        new = np.vstack([np.where(bound, 0.0, E_out), pj[1:] * np.where(bound, 0.0, pnew / np.maximum(pold, 1e-300))])
        lost = pj - new
        fr = ~bound
        well_p4 += _bincount4(evj[fr], lost[:, fr], n)
        capt_p4 += _bincount4(evj[bound], pj[:, bound], n)
        n_capt[0] += np.bincount(evj[bound & (pdgj == PROTON)], minlength=n)
        n_capt[1] += np.bincount(evj[bound & (pdgj == NEUTRON)], minlength=n)
        cnt["n_captured"] += int(bound.sum())
        p4[:, j[fr]] = new[:, fr]
        keep_out[j[bound]] = False
    return well_p4, capt_p4, n_capt, keep_out


def _collide(st, hit, rates, sp, sn, Ep, En, isn_hit, kfp, kfn, params, rng, cnt, n_int, sea_p4, n_sea):
    """Collisions of the particles ``hit`` (indices into the state), vectorised by kind; ``rates`` (10, n_hit) and
    the sea partners ``sp``, ``sn`` (3, n_hit), ``Ep``, ``En``, ``kfp``, ``kfn`` are those of the hit particles."""
    st.tau[hit] = rng.exponential(size=len(hit))
    cum = np.cumsum(rates, axis=0)
    u = rng.random(len(hit)) * cum[-1]
    ch = (u[None, :] >= cum).sum(0)  # channel index 0..9
    ch = np.minimum(ch, 9)
    with_p = np.isin(ch, (0, 1, 4, 5, 6))
    sea_mom = np.where(with_p, sp, sn)
    sea_E = np.where(with_p, Ep, En)
    sea_isp = with_p
    sea4 = np.vstack([sea_E, sea_mom])
    a4 = st.p4[:, hit]
    P = a4 + sea4
    nh = len(hit)
    new_p4a = a4.copy()
    new_pdga = st.pdg[hit].copy()
    add_p4 = []
    add_pdg = []
    add_from = []  # index into hit of the parent (position, event)
    ok = np.zeros(nh, bool)
    kf_hit = np.vstack([kfn, kfp])  # [isospin] → k_F

    def pauli_ok(p4, isp, sel):
        if not params.pauli_blocking:
            return np.ones(p4.shape[1], bool)
        pp = np.sqrt(_dot(p4[1:], p4[1:]))
        return pp > kf_hit[isp.astype(int), sel]

    # --- NN elastic (ch 0, 2)
    sel = np.flatnonzero(isn_hit & ((ch == 0) | (ch == 2)))
    if len(sel):
        m1 = _mass(new_pdga[sel])
        m2 = np.where(sea_isp[sel], C.M_PROTON, C.M_NEUTRON)
        W = np.sqrt(np.maximum(P[0, sel] ** 2 - _dot(P[1:, sel], P[1:, sel]), 0.0))
        k = X.cm_momentum(W, m1, m2)
        plab = X.plab_from_s(W * W, m1, m2)
        cth = _slope_cos(rng, plab, k)
        phi = 2 * np.pi * rng.random(len(sel))
        p1, p2 = _two_body(P[:, sel], m1, m2, cth, phi, a4[:, sel])
        good = pauli_ok(p1, new_pdga[sel] == PROTON, sel) & pauli_ok(p2, sea_isp[sel], sel)
        g = sel[good]
        new_p4a[:, g] = p1[:, good]
        add_p4.append(p2[:, good])
        add_pdg.append(_nuc_pdg(sea_isp[g]))
        add_from.append(g)
        ok[g] = True
        cnt["nn_elastic"] += len(g)
    # --- NN → N Δ → N N π (ch 1, 3)
    sel = np.flatnonzero(isn_hit & ((ch == 1) | (ch == 3)))
    if len(sel):
        q_tot = (new_pdga[sel] == PROTON).astype(int) + sea_isp[sel].astype(int)  # 2 pp, 1 np, 0 nn
        W = np.sqrt(np.maximum(P[0, sel] ** 2 - _dot(P[1:, sel], P[1:, sel]), 0.0))
        mN = X.M_N
        lo, hi = mN + X.M_PI + 1e-4, W - mN - 1e-4
        valid = hi > lo
        G2 = C.GAMMA_DELTA / 2
        alo = np.arctan((lo - C.M_DELTA) / G2)
        ahi = np.arctan((np.maximum(hi, lo) - C.M_DELTA) / G2)
        mD = C.M_DELTA + G2 * np.tan(alo + rng.random(len(sel)) * (ahi - alo))
        # charges: the Δ charge qD and the spectator nucleon isospin
        u1 = rng.random(len(sel))
        # pp: 3/4 nΔ⁺⁺, 1/4 pΔ⁺; np: 1/2 pΔ⁰, 1/2 nΔ⁺; nn: 3/4 pΔ⁻, 1/4 nΔ⁰
        spec_p = np.select([q_tot == 2, q_tot == 1], [u1 >= 0.75, u1 < 0.5], u1 < 0.75)
        qD = q_tot - spec_p.astype(int)  # Δ charge −1..2
        # Δ → N π: Δ⁺⁺ → pπ⁺; Δ⁺ → pπ⁰ (2/3), nπ⁺ (1/3); Δ⁰ → nπ⁰ (2/3), pπ⁻ (1/3); Δ⁻ → nπ⁻
        u2 = rng.random(len(sel))
        dN_p = np.select([qD == 2, qD == 1, qD == 0], [True, u2 < 2 / 3, u2 >= 2 / 3], False)
        qpi = qD - dN_p.astype(int)
        m_spec = np.where(spec_p, C.M_PROTON, C.M_NEUTRON)
        mDv = np.where(valid, mD, lo)
        pS, pD = _two_body(P[:, sel], m_spec, mDv, _iso_cos(rng, len(sel)), 2 * np.pi * rng.random(len(sel)),
                           a4[:, sel])
        m_dn = np.where(dN_p, C.M_PROTON, C.M_NEUTRON)
        m_pi = np.where(qpi == 0, C.M_PION_NEUTRAL, C.M_PION_CHARGED)
        valid &= mDv > m_dn + m_pi
        pN2, ppi = _two_body(pD, m_dn, m_pi, _iso_cos(rng, len(sel)), 2 * np.pi * rng.random(len(sel)))
        good = valid & pauli_ok(pS, spec_p, sel) & pauli_ok(pN2, dN_p, sel)
        g = sel[good]
        new_p4a[:, g] = pS[:, good]
        new_pdga[g] = _nuc_pdg(spec_p[good])
        add_p4 += [pN2[:, good], ppi[:, good]]
        add_pdg += [_nuc_pdg(dN_p[good]), _pion_pdg(qpi[good])]
        add_from += [g, g]
        ok[g] = True
        cnt["nn_inelastic"] += len(g)
    # --- πN elastic / CEX (pion channels: 4,5 on p; 7,8 on n)
    sel = np.flatnonzero(~isn_hit & np.isin(ch, (4, 5, 7, 8)))
    if len(sel):
        qpi = _charge(new_pdga[sel])
        isp = sea_isp[sel]
        cex = np.isin(ch[sel], (5, 8))
        # charge exchange: π⁺n → π⁰p, π⁰p → π⁺n, π⁰n → π⁻p, π⁻p → π⁰n
        new_q = qpi + np.where(cex, np.where(isp, 1, -1), 0)  # on p the pion gains a unit of charge, on n loses one
        nuc_p_out = np.where(cex, ~isp, isp)
        m_pi = np.where(new_q == 0, C.M_PION_NEUTRAL, C.M_PION_CHARGED)
        m_n = np.where(nuc_p_out, C.M_PROTON, C.M_NEUTRON)
        ppi, pN = _two_body(P[:, sel], m_pi, m_n, _delta_cos(rng, len(sel)), 2 * np.pi * rng.random(len(sel)),
                            a4[:, sel])
        W = np.sqrt(np.maximum(P[0, sel] ** 2 - _dot(P[1:, sel], P[1:, sel]), 0.0))
        good = (W > m_pi + m_n) & pauli_ok(pN, nuc_p_out, sel)
        g = sel[good]
        new_p4a[:, g] = ppi[:, good]
        new_pdga[g] = _pion_pdg(new_q[good])
        add_p4.append(pN[:, good])
        add_pdg.append(_nuc_pdg(nuc_p_out[good]))
        add_from.append(g)
        ok[g] = True
        cnt["pin_elastic"] += int((~cex[good]).sum())
        cnt["n_cex"] += int(cex[good].sum())
    # --- absorption on a pn pair (ch 6 on p, 9 on n; the second nucleon of the pair is the other isospin)
    sel = np.flatnonzero(~isn_hit & np.isin(ch, (6, 9)))
    second4 = None
    if len(sel):
        isp = sea_isp[sel]
        mom2 = np.where(isp, sn[:, sel], sp[:, sel])
        E2 = np.where(isp, En[sel], Ep[sel])
        second4 = np.vstack([E2, mom2])
        Pabs = P[:, sel] + second4
        qpi = _charge(new_pdga[sel])
        # π⁺ pn → pp, π⁻ pn → nn, π⁰ pn → pn
        n1_p = qpi >= 0
        n2_p = qpi > 0
        m1 = np.where(n1_p, C.M_PROTON, C.M_NEUTRON)
        m2 = np.where(n2_p, C.M_PROTON, C.M_NEUTRON)
        p1, p2 = _two_body(Pabs, m1, m2, _iso_cos(rng, len(sel)), 2 * np.pi * rng.random(len(sel)), a4[:, sel])
        g = sel
        new_p4a[:, g] = p1
        new_pdga[g] = _nuc_pdg(n1_p)
        add_p4.append(p2)
        add_pdg.append(_nuc_pdg(n2_p))
        add_from.append(g)
        ok[g] = True
        cnt["n_absorbed_pi"] += len(g)
        # the second sea nucleon
        ev2 = st.ev[hit[sel]]
        sea_p4 += _bincount4(ev2, second4, sea_p4.shape[1])
        n_sea[0] += np.bincount(ev2[~isp], minlength=sea_p4.shape[1])
        n_sea[1] += np.bincount(ev2[isp], minlength=sea_p4.shape[1])
    # --- bookkeeping of the first sea nucleon of every collision that happened
    gi = np.flatnonzero(ok)
    cnt["n_pauli_blocked"] += nh - len(gi)
    if len(gi):
        ev = st.ev[hit[gi]]
        nn = sea_p4.shape[1]
        sea_p4 += _bincount4(ev, sea4[:, gi], nn)
        n_sea[0] += np.bincount(ev[sea_isp[gi]], minlength=nn)
        n_sea[1] += np.bincount(ev[~sea_isp[gi]], minlength=nn)
        n_int += np.bincount(ev, minlength=nn)
    st.p4[:, hit] = new_p4a
    st.pdg[hit] = new_pdga
    st.primary[hit[gi]] = False
    if add_p4:
        frm = hit[np.concatenate(add_from)]
        p4n = np.hstack(add_p4)
        st.add(st.ev[frm], np.concatenate(add_pdg).astype(np.int32), p4n, st.x[:, frm].copy(),
               rng.exponential(size=len(frm)))


# ============================================================ pion beam ("incoming pion") mode
def pion_beam(target: Target, pion_pdg: int, T_pi: float, n: int, rng: np.random.Generator,
              params: CascadeParams = CascadeParams()) -> dict[str, float]:
    """π–nucleus cross sections [mb] from a pion beam on ``target``: pions of kinetic energy ``T_pi`` [GeV] along +z
    start at z = −R_max with impact parameters uniform over the disk of radius R_max (σ = π R_max² × fraction).

    Channels, as in the measurement of D. Ashery et al., Phys. Rev. C 23 (1981) 2173: ``absorption`` (no pion
    leaves), ``cex`` (one π⁰ and no charged pion for a charged beam), ``inelastic`` (one pion of the beam charge,
    after at least one collision: quasi-elastic scattering), ``other`` (double charge exchange, pion production)
    and ``reaction`` = their sum (every event with a collision; coherent elastic scattering is not in a cascade).
    Each value comes with ``<name>_err``, its binomial standard error.
    """
    if pion_pdg not in (PIP, PIM, PI0):
        raise AivaInputError(f"pion_beam needs a pion PDG code (211, -211, 111), got {pion_pdg}")
    if not target.is_nucleus:
        raise AivaInputError("pion_beam needs a nucleus target")
    if not T_pi > 0 or n <= 0:
        raise AivaInputError("pion_beam needs T_pi > 0 and n > 0")
    nuc = _nucleus(target, params)
    R = nuc.r_max
    m = C.M_PION_NEUTRAL if pion_pdg == PI0 else C.M_PION_CHARGED
    E = T_pi + m
    p = np.sqrt(E * E - m * m)
    b = R * np.sqrt(rng.random(n))
    ph = 2 * np.pi * rng.random(n)
    start = np.vstack([b * np.cos(ph), b * np.sin(ph), np.full(n, -R * (1 - 1e-9))])
    z = np.zeros(n)
    prim = ParticleList(np.ones(n, np.int32), np.full(n, pion_pdg), np.full(n, E), z, z, np.full(n, p))
    res = run_cascade(prim, np.zeros((3, n)), target, rng, params, start=start)
    f = res.final
    npip, npim, npi0 = f.count(PIP), f.count(PIM), f.count(PI0)
    npi = npip + npim + npi0
    hit = res.n_interactions > 0
    q = 1 if pion_pdg == PIP else (-1 if pion_pdg == PIM else 0)
    same = {1: npip, -1: npim, 0: npi0}[q]
    absn = hit & (npi == 0)
    if q != 0:
        cex = hit & (npi == 1) & (npi0 == 1)
    else:
        cex = hit & (npi == 1) & (npi0 == 0)
    inel = hit & (npi == 1) & (same == 1)
    other = hit & ~absn & ~cex & ~inel
    area = np.pi * R * R * 10.0  # fm² → mb
    out: dict[str, float] = {}
    for name, sel in (("reaction", hit), ("absorption", absn), ("cex", cex), ("inelastic", inel), ("other", other)):
        fr = sel.mean()
        out[name] = float(area * fr)
        out[name + "_err"] = float(area * np.sqrt(fr * (1 - fr) / n))
    out["r_max_fm"] = R
    return out
