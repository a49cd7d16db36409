"""Nuclear models: the struck nucleon's momentum, energy and the Pauli-blocking Fermi momentum.

* ``rfg`` — relativistic Fermi gas of R. A. Smith and E. J. Moniz, Nucl. Phys. B 43 (1972) 605:
  momenta uniform in a sphere of radius k_F, energy E_N = √(M² + p²) − ε_B with one average
  binding energy per nucleus (values in :mod:`aiva.physics.targets`); the final nucleon is
  Pauli blocked if |p + q| < k_F.
* ``lfg`` — local Fermi gas: the interaction point r is drawn from the nucleon density ρ(r) r²
  (profiles of De Vries et al. 1987, see :mod:`aiva.physics.targets`), the local Fermi momentum
  is k_F(r) = (3π² ρ_τ(r))^{1/3} with ρ_p = (Z/A) ρ, ρ_n = (N/A) ρ (e.g. J. Nieves, J. E. Amaro,
  M. Valverde, Phys. Rev. C 70 (2004) 055503), the binding energy is the same average ε_B, and
  Pauli blocking uses the local Fermi momentum of the outgoing nucleon's isospin.
* free nucleons (A = 1): at rest, no binding, no blocking.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from aiva.physics import constants as C
from aiva.physics.targets import Target


@dataclass
class Nucleons:
    P0: np.ndarray  #: energy (off-shell: √(M²+p²) − ε_B)
    P: np.ndarray  #: 3-momentum (3, N)
    E_onshell: np.ndarray  #: √(M² + p²), for the flux factor
    kF_final: np.ndarray  #: Fermi momentum for Pauli blocking of the outgoing nucleon (0: none)


def _density(target: Target, r):
    if target.density == "ho":
        a, alpha = target.density_params
        x = r / a
        return (1 + alpha * x * x) * np.exp(-x * x)
    if target.density == "2pf":
        c, z = target.density_params
        return 1.0 / (1 + np.exp((r - c) / z))
    raise ValueError(f"{target.name}: no density profile")


@cache
def _radial_table(name: str, target: Target):
    """Inverse CDF of r for ρ(r) r², and the normalisation ρ₀ (∫ρ d³r = A)."""
    r = np.linspace(0, 12.0, 4001)  # fm
    rho = _density(target, r)
    w = rho * r * r
    cdf = np.concatenate([[0], np.cumsum(0.5 * (w[1:] + w[:-1]) * np.diff(r))])
    norm = target.A / (4 * np.pi * cdf[-1])  # ρ₀ in fm⁻³
    return r, cdf / cdf[-1], norm


def sample_nucleons(target: Target, model: str, n: int, rng: np.random.Generator, struck_is_proton,
                    final_is_proton) -> Nucleons:
    """Draw ``n`` struck nucleons; the isospin flags may be scalars or boolean arrays (n,)."""
    struck_is_proton = np.broadcast_to(np.asarray(struck_is_proton, dtype=bool), (n,))
    final_is_proton = np.broadcast_to(np.asarray(final_is_proton, dtype=bool), (n,))
    M = np.where(struck_is_proton, C.M_PROTON, C.M_NEUTRON)
    if not target.is_nucleus:
        return Nucleons(M.copy(), np.zeros((3, n)), M.copy(), np.zeros(n))
    u = rng.random((3, n))
    if model == "rfg":
        kf_i = np.full(n, target.kF)
        kf_f = kf_i
    elif model == "lfg":
        r_grid, cdf, rho0 = _radial_table(target.name, target)
        r = np.interp(u[2], cdf, r_grid)
        rho = rho0 * _density(target, r)
        frac_i = np.where(struck_is_proton, target.Z, target.N) / target.A
        frac_f = np.where(final_is_proton, target.Z, target.N) / target.A
        kf_i = (3 * np.pi**2 * rho * frac_i) ** (1 / 3) * C.HBARC_GEV_FM
        kf_f = (3 * np.pi**2 * rho * frac_f) ** (1 / 3) * C.HBARC_GEV_FM
        u = np.vstack([u[:2], rng.random(n)])
    else:
        raise ValueError(f"unknown nuclear model {model!r} (rfg, lfg)")
    p = kf_i * np.cbrt(u[0])
    cth = 2 * u[1] - 1
    sth = np.sqrt(1 - cth * cth)
    ph = 2 * np.pi * u[2]
    P = np.vstack([p * sth * np.cos(ph), p * sth * np.sin(ph), p * cth])
    E_on = np.sqrt(M * M + p * p)
    return Nucleons(E_on - target.eps_b, P, E_on, kf_f)
