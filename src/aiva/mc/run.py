"""File-level entry points used by the CLI: simulate to a file, tabulate cross sections."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from aiva.events.io import write_events
from aiva.mc.generator import DEFAULT_CHANNELS, simulate, xsec_table
from aiva.utils import atomic_write_text

log = logging.getLogger(__name__)


def simulate_to_file(*, target: str, probe: str, n_events: int, config: str, seed: int, output: os.PathLike,
                     energy: float | None = None, energy_range=None, flux=None, plot: bool = False,
                     channels: str | tuple = DEFAULT_CHANNELS, progress: bool = True, workers: int = 1,
                     flux_range=None, flux_content: str = "integral", whole_events: bool = False, fsi: bool = True):
    chans = tuple(channels.split(",")) if isinstance(channels, str) else tuple(channels)
    if flux is not None:
        from aiva.mc.flux import load_flux

        flux = load_flux(flux, flux_content)
        if flux_range is not None:
            flux, removed = flux.restrict(*flux_range)
            log.info(f"flux restricted to [{flux_range[0]:g}, {flux_range[1]:g}] GeV: {100 * removed:.2f} % of it removed")
    if energy is None and energy_range is None and flux is None:
        energy_range = (0.3, 10.0)
    table = simulate(target, probe, n_events, config=config, seed=seed, energy=energy,
                     energy_range=tuple(energy_range) if energy_range is not None else None, flux=flux,
                     channels=chans, progress=progress, workers=workers, whole_events=whole_events, fsi=fsi)
    out = write_events(table, output, **writer_options(table, output))
    xs = table.metadata["xsec_1e-38cm2"]
    log.info(f"wrote {len(table)} events to {out}")
    log.info(f"cross sections {xs['how']} [1e-38 cm^2 per nucleus]: "
          + ", ".join(f"{k} {v:.4g}" for k, v in xs["per_nucleus"].items())
          + f"; total {xs['total_per_nucleus']:.4g} ({xs['total_per_nucleon']:.4g} per nucleon)")
    if whole_events:
        fsp = table.particles["fsp"]
        log.info(f"whole events: {len(fsp.pdg) - len(fsp.counts)} hadrons after FSI"
                 + ("" if fsi else " (FSI off)") + "; " + ", ".join(f"{k} {v}" for k, v in
                                                                   table.metadata["whole_events"]["stats"].items()))
    if table.metadata["n_overweight"]:
        log.info(f"note: {table.metadata['n_overweight']} candidates exceeded the accept-reject bound")
    if plot:
        from aiva.report.plots import plot_sample

        png = Path(output).with_suffix(".png")
        plot_sample(table, png)
        log.info(f"wrote {png}")
    return table


def xsec_table_to_file(*, target: str, probe: str, config: str, emin: float, emax: float, points: int,
                       output: os.PathLike | None, seed: int = 1):
    from aiva.errors import AivaInputError

    if not (0 < emin < emax):
        raise AivaInputError(f"need 0 < emin < emax, got {emin}, {emax}")
    from aiva.physics import get_target

    E = np.geomspace(emin, emax, points)
    chans = DEFAULT_CHANNELS
    tab = xsec_table(target, probe, config, E, seed=seed, chans=chans)
    A = get_target(target).A
    cols = {"E_GeV": E}
    for c in chans:
        cols[f"{c}_per_nucleus"] = tab[f"{c}_per_nucleus"]
    cols["total_per_nucleus"] = tab["total_per_nucleus"]
    cols["total_err_per_nucleus"] = tab["total_err_per_nucleus"]
    for c in chans:
        cols[f"{c}_per_nucleon"] = tab[f"{c}_per_nucleus"] / A
    cols["total_per_nucleon"] = tab["total_per_nucleus"] / A
    cols["total_per_nucleon_per_GeV"] = tab["total_per_nucleus"] / A / E
    shown = ["E_GeV"] + [f"{c}_per_nucleus" for c in chans] + ["total_per_nucleus", "total_per_nucleon",
                                                               "total_per_nucleon_per_GeV"]
    log.info(f"# CC {probe} on {target} (A = {A}, config {config}): sigma in 1e-38 cm^2; all columns, with "
          f"statistical errors and per-nucleon values per channel, are in the CSV")
    log.info("  ".join(f"{h:>14s}" for h in shown))
    for i in range(len(E)):
        log.info("  ".join(f"{cols[h][i]:14.5g}" for h in shown))
    out = Path(output) if output else Path(f"xsec_{target}_{probe}.csv")
    text = ",".join(cols) + "\n" + "\n".join(",".join(f"{cols[h][i]:.6g}" for h in cols)
                                               for i in range(len(E))) + "\n"
    atomic_write_text(out, text)
    log.info(f"wrote {out}")
    return tab


def sigma_curve(meta: dict):
    """σ_tot(E) per nucleon [10⁻³⁸ cm²] of a reference-MC sample, rebuilt from its metadata
    (target, probe, physics configuration, channels), or None if the metadata do not say."""
    from aiva.errors import AivaInputError
    from aiva.mc.config import PhysicsConfig
    from aiva.mc.delta import DeltaParams
    from aiva.mc.generator import get_table
    from aiva.physics import get_probe, get_target

    if meta.get("producer") != "aiva.mc":
        return None
    try:
        tgt = get_target(meta["target"])
        chans = tuple(meta["channels"])
        raw = dict(meta["config"])
        cfg = PhysicsConfig(**{**raw, "delta": DeltaParams(**raw.get("delta", {}))})
        tab = get_table(tgt, get_probe(meta["probe"]), cfg, chans)
    except (KeyError, TypeError, AivaInputError):  # metadata of another version: no per-event σ
        return None
    return lambda E: sum(tab.sigma(c, E) for c in chans) / tgt.A


def flux_histogram(meta: dict):
    """(edges, content) of the flux a sample was folded with (shipped name, restricted to the
    range used), for the NuHepMC beam description; None if unknown."""
    from aiva.errors import AivaInputError
    from aiva.mc.flux import load_flux

    fl = meta.get("flux") or (meta.get("energy") or {}).get("flux")
    if not fl or "name" not in fl:
        return None
    try:
        f = load_flux(fl["name"]).restrict(fl["emin"], fl["emax"])[0]
    except (KeyError, TypeError, AivaInputError):
        return None
    return f.edges, f.content


def writer_options(table, output) -> dict:
    """What the NuHepMC writer needs from the producer (σ(E) and the flux); {} for other formats."""
    suffixes = [s.lower() for s in Path(output).suffixes[-2:]]
    if not any(s in (".hepmc3", ".hepmc") for s in suffixes):
        return {}
    return {"sigma_curve": sigma_curve(table.metadata), "flux_histogram": flux_histogram(table.metadata)}
