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
    use_x = np.abs(ax[2]) > 0.9
    a = np.where(use_x, np.array([[1.0], [0.0], [0.0]]), np.array([[0.0], [0.0], [1.0]]))
    e1 = np.cross(ax, a, axis=0)
    e1 /= np.sqrt(_dot(e1, e1))
    e2 = np.cross(ax, e1, axis=0)
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


def _fermi_sea(rng, kf):
    """(3, n) momenta uniform in spheres of radii kf."""
    u = rng.random((3, len(kf)))
    p = kf * np.cbrt(u[0])
    cth = 2 * u[1] - 1
    sth = np.sqrt(1 - cth * cth)
    ph = 2 * np.pi * u[2]
    return np.vstack([p * sth * np.cos(ph), p * sth * np.sin(ph), p * cth])


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
    """Arrays of the particles still inside (index i over particles, not events)."""

    def __init__(self, ev, pdg, p4, x, primary):
        self.ev = ev
        self.pdg = pdg
        self.p4 = p4
        self.x = x
        self.primary = primary
        self.tau = np.zeros(len(ev))
        self.fz = np.zeros(len(ev))

    def keep(self, m):
        for a in ("ev", "pdg", "tau", "fz", "primary"):
            setattr(self, a, getattr(self, a)[m])
        self.p4 = self.p4[:, m]
        self.x = self.x[:, m]

    def add(self, ev, pdg, p4, x, tau):
        self.ev = np.concatenate([self.ev, ev])
        self.pdg = np.concatenate([self.pdg, pdg])
        self.p4 = np.hstack([self.p4, p4])
        self.x = np.hstack([self.x, x])
        self.primary = np.concatenate([self.primary, np.zeros(len(ev), bool)])
        self.tau = np.concatenate([self.tau, tau])
        self.fz = np.concatenate([self.fz, np.zeros(len(ev))])


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

    out_ev = [ev0[~tracked]]
    out_pdg = [pdg0[~tracked]]
    out_p4 = [p4_0[:, ~tracked]]
    # order of particles in the output: pass-through first, then in order of leaving (deterministic)
    st = _State(ev0[tracked], pdg0[tracked].astype(np.int32), p4_0[:, tracked].copy(), x0[:, tracked].copy(),
                np.ones(int(tracked.sum()), bool))
    st.tau = rng.exponential(size=len(st.ev))
    st.fz = np.where(st.primary, params.formation_fm, 0.0)

    cnt = dict(nn_elastic=0, nn_inelastic=0, pin_elastic=0, n_cex=0, n_absorbed_pi=0, n_pauli_blocked=0,
               n_captured=0, n_steps=0, n_forced_out=0, n_capped=0)
    n_int = np.zeros(n, np.int64)
    sea_p4 = np.zeros((4, n))
    well_p4 = np.zeros((4, n))
    capt_p4 = np.zeros((4, n))
    n_sea = np.zeros((2, n), np.int64)
    n_capt = np.zeros((2, n), np.int64)
    R2 = nuc.r_max ** 2
    dx = params.step_fm
    rgrid, rhogrid = nuc.r, nuc.rho
    rstep = float(rgrid[1] - rgrid[0])  # the radial table is uniform (mc.nuclear._radial_table)
    kf_const = (3 * np.pi ** 2) ** (1 / 3) * C.HBARC_GEV_FM

    # guard against runaway multiplication (no Pauli blocking and no well): at most 4A + 8 hadrons per event
    cap_per_event = 4 * target.A + 8
    step = 0
    while len(st.ev):
        step += 1
        r2 = _dot(st.x, st.x)
        leaving = (r2 > R2) & (_dot(st.x, st.p4[1:]) >= 0)
        if nuc.well > 0:
            # a nucleon below the well depth cannot leave: it is captured where it is (booked in captured_p4)
            isn_all = (st.pdg == PROTON) | (st.pdg == NEUTRON)
            leaving |= isn_all & (st.p4[0] - _mass(st.pdg) <= nuc.well)
        if step >= params.max_steps:
            cnt["n_forced_out"] += int((~leaving).sum())
            leaving[:] = True
        if leaving.any():
            _exit(st, leaving, nuc, out_ev, out_pdg, out_p4, well_p4, capt_p4, n_capt, cnt, n)
            if not len(st.ev):
                break
            r2 = r2[~leaving]
        pabs = np.sqrt(_dot(st.p4[1:], st.p4[1:]))
        r = np.sqrt(r2)
        ir, fr = X.uniform_index(r, 0.0, rstep, rhogrid)
        rho = np.where(r < rgrid[-1], rhogrid[ir] * (1 - fr) + rhogrid[ir + 1] * fr, 0.0)
        rho_p, rho_n = nuc.fp * rho, nuc.fn * rho
        kfp, kfn = kf_const * np.cbrt(rho_p), kf_const * np.cbrt(rho_n)
        m = len(st.ev)
        inside = np.flatnonzero(rho > 0)
        total = np.zeros(m)
        rates = np.zeros((10, m))  # nucleons: el_p, inel_p, el_n, inel_n; pions: el_p, cex_p, abs_p, el_n, cex_n, abs_n
        # sea partners (a proton and a neutron candidate per particle and step)
        sp = np.zeros((3, m))
        sn = np.zeros((3, m))
        # one draw serves both: the neutron candidate is the proton one scaled by k_F,n/k_F,p (only one of the two
        # takes part in a collision, so their correlation does not matter)
        unit = _fermi_sea(rng, np.ones(len(inside)))
        sp[:, inside] = unit * kfp[inside]
        sn[:, inside] = unit * kfn[inside]
        Ep = np.sqrt(C.M_PROTON ** 2 + _dot(sp, sp))
        En = np.sqrt(C.M_NEUTRON ** 2 + _dot(sn, sn))
        is_nuc = (st.pdg == PROTON) | (st.pdg == NEUTRON)
        if len(inside):
            _rates(st, inside, is_nuc, pabs, sp, sn, Ep, En, rho, rho_p, rho_n, params, rates)
            total = rates.sum(0)
        # advance to the collision point if it lies within this step (exact for a rate constant over the step)
        can = (st.fz <= 0) & (total > 0)
        with np.errstate(divide="ignore"):
            dcoll = np.where(can, st.tau / np.where(can, total, 1.0), np.inf)
        hitm = dcoll <= dx
        adv = np.where(hitm, dcoll, dx)
        st.x += adv * st.p4[1:] / np.maximum(pabs, 1e-300)
        st.fz -= adv
        st.tau -= np.where(can, total * adv, 0.0)
        hit = np.flatnonzero(hitm)
        if len(hit) and cap_per_event:
            full = np.bincount(st.ev, minlength=n)[st.ev[hit]] >= cap_per_event
            if full.any():
                cnt["n_capped"] += int(full.sum())
                st.tau[hit[full]] = rng.exponential(size=int(full.sum()))
                hit = hit[~full]
        if len(hit):
            _collide(st, hit, rates, sp, sn, Ep, En, is_nuc, kfp, kfn, params, rng, cnt, n_int, sea_p4, n_sea)
    cnt["n_steps"] = step
    if cnt["n_forced_out"]:
        log.warning("cascade: %d particles still inside after %d steps were moved out", cnt["n_forced_out"], step)
    ev = np.concatenate(out_ev)
    p4 = np.hstack(out_p4)
    final = ParticleList.from_event_index(ev, n, np.concatenate(out_pdg), p4[0], p4[1], p4[2], p4[3])
    log.debug("cascade %s: %s", target.name, cnt)
    return CascadeResult(final, cnt, n_int, sea_p4, well_p4, capt_p4, n_sea, n_capt)


def _rates(st, inside, is_nuc, pabs, sp, sn, Ep, En, rho, rho_p, rho_n, params, rates):
    """Fill ``rates`` (10, m) [fm⁻¹] for the particles ``inside``: ρ_τ σ for each channel and partner isospin."""
    p4 = st.p4
    tp = p4[1:] + sp
    s_p = (p4[0] + Ep) ** 2 - _dot(tp, tp)
    tn = p4[1:] + sn
    s_n = (p4[0] + En) ** 2 - _dot(tn, tn)
    i = inside[is_nuc[inside]]
    if len(i):
        mp = np.sqrt(np.maximum(p4[0, i] ** 2 - pabs[i] ** 2, 0.0))
        isprot = st.pdg[i] == PROTON
        for k, (s, mt, same, rr, sea) in enumerate(((s_p[i], C.M_PROTON, isprot, rho_p[i], sp[:, i]),
                                                     (s_n[i], C.M_NEUTRON, ~isprot, rho_n[i], sn[:, i]))):
            plab = X.plab_from_s(s, mp, mt)
            el, inel = X.nn_xsec(plab, same)
            scale = rr * _MB_TO_FM2 * params.nn_xsec_scale
            if params.nn_medium:
                f_el, f_in = X.nn_medium_factor(p4[1:, i], sea, rho[i])
                el, inel = el * f_el, inel * f_in
            rates[2 * k, i] = el * scale
            if params.nn_inelastic:
                rates[2 * k + 1, i] = inel * scale
    i = inside[~is_nuc[inside]]
    if len(i):
        q = _charge(st.pdg[i])
        mpi = X.M_PI
        for k, (s, mt, isp, rr) in enumerate(((s_p[i], C.M_PROTON, 1, rho_p[i]),
                                               (s_n[i], C.M_NEUTRON, 0, rho_n[i]))):
            W = np.sqrt(np.maximum(s, 0.0))
            Es = (s - mpi * mpi - mt * mt) / (2 * mt)
            ps = np.sqrt(np.maximum(Es * Es - mpi * mpi, 0.0))
            el, cex, ab = X.pin_xsec(W, Es - mpi, Es, ps, q, isp, rho[i])
            rates[4 + 3 * k, i] = rr * el * _MB_TO_FM2
            rates[5 + 3 * k, i] = rr * cex * _MB_TO_FM2
            if params.absorption != "none":
                rates[6 + 3 * k, i] = rr * ab * _MB_TO_FM2 * params.absorption_scale


def _exit(st, leaving, nuc, out_ev, out_pdg, out_p4, well_p4, capt_p4, n_capt, cnt, n):
    idx = np.flatnonzero(leaving)
    pdg = st.pdg[idx]
    p4 = st.p4[:, idx].copy()
    ev = st.ev[idx]
    isn = (pdg == PROTON) | (pdg == NEUTRON)
    if nuc.well > 0 and isn.any():
        j = np.flatnonzero(isn)
        M = _mass(pdg[j])
        E_out = p4[0, j] - nuc.well
        bound = E_out <= M
        pold = np.sqrt(_dot(p4[1:, j], p4[1:, j]))
        pnew = np.sqrt(np.maximum(E_out * E_out - M * M, 0.0))
        new = np.vstack([np.where(bound, 0.0, E_out), p4[1:, j] * np.where(bound, 0.0, pnew / np.maximum(pold, 1e-300))])
        lost = p4[:, j] - new
        free_j, bound_j = j[~bound], j[bound]
        well_p4 += _bincount4(ev[free_j], lost[:, ~bound], n)
        capt_p4 += _bincount4(ev[bound_j], p4[:, bound_j], n)
        n_capt[0] += np.bincount(ev[bound_j][pdg[bound_j] == PROTON], minlength=n)
        n_capt[1] += np.bincount(ev[bound_j][pdg[bound_j] == NEUTRON], minlength=n)
        cnt["n_captured"] += int(bound.sum())
        p4[:, free_j] = new[:, ~bound]
        keep_out = np.ones(len(idx), bool)
        keep_out[bound_j] = False
    else:
        keep_out = np.ones(len(idx), bool)
    out_ev.append(ev[keep_out])
    out_pdg.append(pdg[keep_out])
    out_p4.append(p4[:, keep_out])
    st.keep(~leaving)


def _collide(st, hit, rates, sp, sn, Ep, En, is_nuc, kfp, kfn, params, rng, cnt, n_int, sea_p4, n_sea):
    """Collisions of the particles ``hit`` (indices into the state), vectorised by kind."""
    st.tau[hit] = rng.exponential(size=len(hit))
    cum = np.cumsum(rates[:, hit], axis=0)
    u = rng.random(len(hit)) * cum[-1]
    ch = (u[None, :] >= cum).sum(0)  # channel index 0..9
    ch = np.minimum(ch, 9)
    with_p = np.isin(ch, (0, 1, 4, 5, 6))
    sea_mom = np.where(with_p, sp[:, hit], sn[:, hit])
    sea_E = np.where(with_p, Ep[hit], En[hit])
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
    isn_hit = is_nuc[hit]
    kf_hit = np.vstack([kfn[hit], kfp[hit]])  # [isospin] → k_F

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
        mom2 = np.where(isp, sn[:, hit[sel]], sp[:, hit[sel]])
        E2 = np.where(isp, En[hit[sel]], Ep[hit[sel]])
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
