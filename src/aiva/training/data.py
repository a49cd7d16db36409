"""Training and validation data for the generators."""
from __future__ import annotations

import numpy as np

from aiva.errors import AivaInputError
from aiva.events.table import EventTable
from aiva.physics.kinematics import PROXY_EMAX, PROXY_EMIN


def training_proxies(table: EventTable, path: str = "<data>", emin: float = PROXY_EMIN,
                     emax: float = PROXY_EMAX) -> np.ndarray:
    """(N, 3) proxies (E'_ν, E'_μ, θ') of an event table; refuses events outside the proxy
    domain (E_ν outside [emin, emax], or lepton kinematics outside the proxy map) with a count."""
    E = table["Enu_true"]
    bad = (E < emin) | (E > emax)
    if bad.any():
        raise AivaInputError(f"{path}: column 'Enu_true': {int(bad.sum())} events outside the model range "
                             f"[{emin}, {emax}] GeV")
    p = np.column_stack(table.proxies())
    out = ~np.all((p >= -1) & (p <= 1), axis=1)
    if out.any():
        raise AivaInputError(f"{path}: {int(out.sum())} events map outside the proxy domain [-1, 1]^3 "
                             "(E_lep above E_nu - 9.8 MeV?)")
    return p


def reference_sets(target: str, probe: str, config: str, channels, energies, n: int, seed: int):
    """Held-out reference Monte Carlo at fixed energies: {E: (n, 2) (E'_μ, θ')}."""
    from aiva.mc import simulate

    refs = {}
    for k, E in enumerate(energies):
        t = simulate(target, probe, n, energy=float(E), seed=seed + k, config=config, channels=channels)
        refs[float(E)] = np.column_stack(t.proxies()[1:])
    return refs
