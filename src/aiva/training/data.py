"""Training and validation data for the generators.

[GAN25] J. L. Bonilla, K. M. Graczyk et al., Phys. Rev. D 112 (2025) 013007, arXiv:2502.20244.
"""
from __future__ import annotations

import numpy as np

from aiva.errors import AivaInputError
from aiva.events.table import EventTable
from aiva.physics.kinematics import PROXY_EMAX, PROXY_EMIN


#: Largest fraction of a user's file (data not from aiva's Monte Carlo) that may be dropped for
#: mapping outside the proxy domain; above it the file is refused. Other generators allow energy
#: transfers below the 9.8 MeV of the proxy map (NuWro's spectral-function QE: 22 of 500,000 νμ–¹²C
#: events), a physical corner the proxies of [GAN25] do not cover.
MAX_DROPPED_FRACTION = 0.01


def proxy_domain(table: EventTable, path: str = "<data>", emin: float = PROXY_EMIN, emax: float = PROXY_EMAX,
                 max_dropped: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) proxies (E'_ν, E'_μ, θ') of an event table and the mask of events inside [−1, 1]³.

    Events with E_ν outside [emin, emax] are refused. Events whose lepton kinematics map outside
    the proxy domain (E'_μ > 1: energy transfer E_ν − E_ℓ below 9.8 MeV, [GAN25] Sec. III) are
    refused when they are more than ``max_dropped`` of the file (0: any), with a one-line error
    naming the file, the column, the count and the likely cause."""
    E = table["Enu_true"]
    bad = (E < emin) | (E > emax)
    if bad.any():
        raise AivaInputError(f"{path}: column 'Enu_true': {int(bad.sum())} events outside the model range "
                             f"[{emin}, {emax}] GeV")
    with np.errstate(invalid="ignore"):  # E_lep above E_nu - 9.8 MeV: NaN proxies, counted below
        p = np.column_stack(table.proxies())
    ok = np.all((p >= -1) & (p <= 1), axis=1)
    n_out = int((~ok).sum())
    if n_out > max_dropped * len(p):
        if max_dropped == 0:
            raise AivaInputError(f"{path}: {n_out} events map outside the proxy domain [-1, 1]^3 "
                                 "(E_lep above E_nu - 9.8 MeV?)")
        raise AivaInputError(f"{path}: column 'ELep': {n_out} of {len(p)} events ({100 * n_out / len(p):.2f} %) map "
                             f"outside the proxy domain [-1, 1]^3 (energy transfer Enu_true - ELep below 9.8 MeV); at "
                             f"most {100 * max_dropped:g} % may be dropped: is ELep the total lepton energy and "
                             "Enu_true the true neutrino energy of each event?")
    return p, ok


def training_proxies(table: EventTable, path: str = "<data>", emin: float = PROXY_EMIN,
                     emax: float = PROXY_EMAX) -> np.ndarray:
    """(N, 3) proxies (E'_ν, E'_μ, θ') of an event table; refuses events outside the proxy
    domain (E_ν outside [emin, emax], or lepton kinematics outside the proxy map) with a count."""
    return proxy_domain(table, path, emin, emax)[0]


def reference_sets(target: str, probe: str, config: str, channels, energies, n: int, seed: int):
    """Held-out reference Monte Carlo at fixed energies: {E: (n, 2) (E'_μ, θ')}."""
    from aiva.mc import simulate

    refs = {}
    for k, E in enumerate(energies):
        t = simulate(target, probe, n, energy=float(E), seed=seed + k, config=config, channels=channels)
        refs[float(E)] = np.column_stack(t.proxies()[1:])
    return refs
