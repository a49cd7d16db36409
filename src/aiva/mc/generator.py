"""Unweighted event generation and cross-section tables for the reference Monte Carlo.

For each channel a pilot run at every point of an energy grid gives σ_c(E) (the mean candidate
weight) and the largest weight w_max(E). Events are then made by accept–reject: a candidate at
the event's own energy is kept with probability w / ŵ(E), where ŵ is 1.5 × the largest pilot
weight of the two neighbouring grid points. Candidates heavier than ŵ are counted and reported
in the metadata (``n_overweight``) rather than hidden.

Energies: fixed (``energy``), uniform (``energy_range``) or a flux histogram (``flux``). For
fixed and uniform energies the channel of each event is drawn with probability σ_c(E)/σ(E) at its
energy; with a flux, E is drawn from Φ(E)σ(E).

Reproducibility: the events are made in chunks of ``CHUNK`` events, each with its own child
seed of ``numpy.random.SeedSequence(seed)``; the result is the same for any number of worker
processes. Tables are built with a fixed seed and cached on disk (``$AIVA_CACHE_DIR`` or
``~/.cache/aiva``).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from aiva.errors import AivaInputError
from aiva.events.particles import ParticleList
from aiva.events.table import EventTable
from aiva.mc import channels as _ch
from aiva.mc.config import PhysicsConfig, get_config
from aiva.mc.flux import Flux
from aiva.physics.constants import M_NUCLEON as C_M_NUCLEON
from aiva.physics.targets import Probe, Target, get_probe, get_target

MC_VERSION = 2  #: bump when physics changes, to invalidate cached tables
#: what version 1 made (lepton-only qe, res, dis of νμ/ν̄μ on C, O, Ar, H, n): such samples are byte-identical
#: in version 2 and keep ``mc_version`` 1 in their metadata, so the data recipes of the shipped models keep
#: their SHA-256 (configs/shipped.toml)
V1_CHANNELS = frozenset({"qe", "res", "dis"})
V1_TARGETS = frozenset({"C12", "O16", "Ar40", "H1", "n"})
HADRON_STREAM = 0x68616472  #: second word of the hadron stage's seed, SeedSequence([seed, HADRON_STREAM])
CHUNK = 100_000
GRID_V1 = np.geomspace(0.1, 50.0, 61)  #: MC v1's energy grid [GeV]
#: MC v2 extends the tables to 120 GeV, so that ≥ 99 % of the event rate of every shipped flux is
#: inside them (DUNE ND νμ had 3.4 % and MINERvA LE 1.5 % of its rate above 50 GeV); the v1 points
#: and their pilot runs are kept as they were (same seed), the new points get their own seed
GRID_HIGH = np.geomspace(50.0, 120.0, 10)[1:]
GRID = np.concatenate([GRID_V1, GRID_HIGH])
PILOT = 20_000
TABLE_SEED = 20240101
WMAX_SAFETY = 1.5
DEFAULT_CHANNELS = ("qe", "res", "dis", "mec", "coh")  #: CC channels of whole events (MC v2)
#: candidates drawn per pending event and accept–reject round, for channels of low acceptance (≈ 10 % for coherent
#: π): speed only (the first accepted candidate of an event is kept); the others, v1's qe/res/dis among them, draw
#: one at a time and keep their bytes
OVERSAMPLE = {"coh": 8, "nccoh": 8}


@dataclass
class XsecTable:
    energies: np.ndarray
    xsec: dict[str, np.ndarray]  #: per channel, 10⁻³⁸ cm² per nucleus
    xsec_err: dict[str, np.ndarray]
    wmax: dict[str, np.ndarray]

    def sigma(self, ch: str, E) -> np.ndarray:
        """σ_c(E) interpolated linearly in log E; 0 outside the grid's lower end."""
        E = np.asarray(E, dtype=np.float64)
        with np.errstate(divide="ignore"):  # E = 0 (a flux's first edge): log → -inf → σ = 0
            return np.interp(np.log(E), np.log(self.energies), self.xsec[ch], left=0.0, right=np.nan)

    def w_hat(self, ch: str, E) -> np.ndarray:
        idx = np.clip(np.searchsorted(self.energies, E), 1, len(self.energies) - 1)
        w = self.wmax[ch]
        return WMAX_SAFETY * np.maximum(w[idx - 1], w[idx])


#: peak memory per event of :func:`simulate` (11 columns, the chunks and their concatenation)
BYTES_PER_EVENT = 256
#: the same with whole events: ~12 particles × 44 bytes in two lists, their concatenation, the
#: columns (measured: 1,060 bytes/event peak increase for 3·10⁵ events on ¹²C, E in 0.3–10 GeV)
BYTES_PER_EVENT_WHOLE = 1536

def _cache_dir() -> Path:
    return Path(os.environ.get("AIVA_CACHE_DIR", Path.home() / ".cache" / "aiva"))


def _pilot(ch: str, E: float, target: Target, probe: Probe, cfg: PhysicsConfig, n: int, rng):
    c = _ch.CHANNELS[ch](np.full(n, E), target, probe, cfg, rng)
    return c.weight.mean(), c.weight.std() / np.sqrt(n), c.weight.max()


def build_table(target: Target, probe: Probe, cfg: PhysicsConfig, chans=DEFAULT_CHANNELS,
                energies=GRID, n_pilot: int = PILOT, seed: int = TABLE_SEED) -> XsecTable:
    """Pilot runs on an energy grid (no caching). On :data:`GRID` the v1 points are run first with
    ``seed`` exactly as in MC v1 and the points above 50 GeV with ``seed + 1``, so the v1 tables,
    and every sample below 50 GeV, are unchanged."""
    energies = np.asarray(energies, dtype=np.float64)
    if energies is GRID or (len(energies) == len(GRID) and np.array_equal(energies, GRID)):
        segments = [(GRID_V1, seed), (GRID_HIGH, seed + 1)]
    else:
        segments = [(energies, seed)]
    xs: dict[str, list] = {c: [] for c in chans}
    err: dict[str, list] = {c: [] for c in chans}
    wm: dict[str, list] = {c: [] for c in chans}
    for grid, sd in segments:
        rng = np.random.default_rng(sd)
        for ch in chans:
            vals = np.array([_pilot(ch, float(E), target, probe, cfg, n_pilot, rng) for E in grid])
            xs[ch].append(vals[:, 0])
            err[ch].append(vals[:, 1])
            wm[ch].append(vals[:, 2])
    return XsecTable(energies, {c: np.concatenate(v) for c, v in xs.items()},
                     {c: np.concatenate(v) for c, v in err.items()}, {c: np.concatenate(v) for c, v in wm.items()})


@lru_cache(maxsize=32)
def _cached_table(target_name: str, probe_name: str, cfg: PhysicsConfig, chans: tuple) -> XsecTable:
    key = json.dumps({"v": MC_VERSION, "t": target_name, "p": probe_name, "cfg": cfg.to_dict(), "ch": chans,
                      "grid": [GRID[0], GRID[-1], len(GRID)], "pilot": PILOT, "seed": TABLE_SEED}, sort_keys=True)
    path = _cache_dir() / f"mc_table_{hashlib.sha256(key.encode()).hexdigest()[:20]}.npz"
    if path.exists():
        try:
            z = np.load(path, allow_pickle=False)
            return XsecTable(z["energies"], {c: z[f"x_{c}"] for c in chans}, {c: z[f"e_{c}"] for c in chans},
                             {c: z[f"w_{c}"] for c in chans})
        except (OSError, KeyError, ValueError):
            pass  # unreadable cache: rebuild below
    tab = build_table(get_target(target_name), get_probe(probe_name), cfg, chans)
    try:
        from aiva.utils import atomic_path

        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                arrays = {"energies": tab.energies, **{f"x_{c}": tab.xsec[c] for c in chans},
                          **{f"e_{c}": tab.xsec_err[c] for c in chans}, **{f"w_{c}": tab.wmax[c] for c in chans}}
                np.savez(fh, **arrays)  # type: ignore[arg-type]
    except OSError:
        pass  # a read-only cache is not an error: the table lives in memory
    return tab


def get_table(target: Target, probe: Probe, cfg: PhysicsConfig, chans=DEFAULT_CHANNELS) -> XsecTable:
    return _cached_table(target.name, probe.name, cfg, tuple(chans))


def _check_channels(chans) -> tuple[str, ...]:
    chans = tuple(c.strip() for c in chans)
    bad = [c for c in chans if c not in _ch.CHANNELS]
    if bad or not chans:
        raise AivaInputError(f"unknown channel(s) {bad}; available: {', '.join(_ch.CHANNELS)}")
    return chans


def _sample_channel(ch, E, target, probe, cfg, tab: XsecTable, rng, max_rounds: int = 100_000):
    """Accept–reject for the events at energies ``E``: (accepted candidates in the order of E,
    number of candidates above the bound)."""
    n = len(E)
    parts: list[tuple[np.ndarray, _ch.Candidates]] = []
    pending = np.arange(n)
    n_over = 0
    rounds = 0
    k = OVERSAMPLE.get(ch, 1)
    while pending.size:
        rounds += 1
        if rounds > max_rounds:
            raise RuntimeError(f"{ch}: accept-reject did not converge for {pending.size} events "
                               f"(E = {E[pending][:3]} GeV ...)")
        if k == 1:
            Ep = E[pending]
            c = _ch.CHANNELS[ch](Ep, target, probe, cfg, rng)
            wh = tab.w_hat(ch, Ep)
            n_over += int(np.sum(c.weight > wh))
            acc = rng.random(pending.size) * wh < c.weight
            parts.append((pending[acc], c.take(np.flatnonzero(acc))))
            pending = pending[~acc]
            continue
        # k candidates per pending event, the first accepted one kept: the same distribution as one candidate at a
        # time until accepted, in far fewer rounds
        t = pending.size
        Ep = np.repeat(E[pending], k)
        c = _ch.CHANNELS[ch](Ep, target, probe, cfg, rng)
        wh = tab.w_hat(ch, Ep)
        n_over += int(np.sum(c.weight > wh))
        A = (rng.random(t * k) * wh < c.weight).reshape(t, k)
        got = A.any(axis=1)
        first = (np.arange(t) * k + A.argmax(axis=1))[got]
        parts.append((pending[got], c.take(first)))
        pending = pending[~got]
    idx = np.concatenate([p[0] for p in parts])
    inverse = np.empty(n, dtype=np.int64)
    inverse[idx] = np.arange(n)
    return _concat_candidates([p[1] for p in parts]).take(inverse), n_over


def _concat_candidates(cs: list[_ch.Candidates]) -> _ch.Candidates:
    def cat(name, axis=-1):
        vals = [getattr(c, name) for c in cs]
        return None if any(v is None for v in vals) else np.concatenate(vals, axis=axis)

    had = [c.hadrons for c in cs]
    return _ch.Candidates(*(cat(k) for k in ("El", "cos", "weight", "mode", "Q2", "q0", "W", "pl", "P", "hit_p")),
                          hadrons=None if any(h is None for h in had) else ParticleList.concatenate(had))  # type: ignore


def _energies(n, rng, energy, energy_range, flux: Flux | None, tabs: list[tuple[XsecTable, int]], chans):
    if energy is not None:
        return np.full(n, float(energy))
    if energy_range is not None:
        lo, hi = energy_range
        return lo + (hi - lo) * rng.random(n)
    assert flux is not None  # one of energy, energy_range and flux is given (checked by simulate)
    return sample_flux_times_sigma(flux, tabs, chans, n, rng)


def _sigma_total(tabs: list[tuple[XsecTable, int]], chans, E) -> np.ndarray:
    """Σ over the nuclei (× their count per molecule) and channels of σ_c(E)."""
    total = np.zeros(np.shape(E))
    for tab, cnt in tabs:
        total = total + cnt * sum(tab.sigma(c, E) for c in chans)
    return total


def sample_flux_times_sigma(flux: Flux, tabs: XsecTable | list[tuple[XsecTable, int]], chans, n: int,
                            rng) -> np.ndarray:
    """E_ν drawn from Φ(E)σ_tot(E): piecewise-constant flux, accept–reject on σ_tot (for a compound
    target σ_tot = Σ_i n_i σ_i, the nuclei of one molecule)."""
    if isinstance(tabs, XsecTable):
        tabs = [(tabs, 1)]
    e_grid = np.geomspace(max(flux.edges[0], GRID[0]), flux.edges[-1], 400)
    smax = np.nanmax(_sigma_total(tabs, chans, e_grid)) * 1.05
    out = np.empty(0)
    while out.size < n:
        m = 2 * (n - out.size) + 100
        E = flux.sample(m, rng)
        s = _sigma_total(tabs, chans, E)
        out = np.concatenate([out, E[rng.random(m) * smax < s]])
    return out[:n]


def _generate_chunk(args):
    """One chunk of events on the nuclei ``comps`` [(Target, count per molecule)]: each event's
    nucleus and channel are drawn together with probability n_i σ_{i,c}(E) / Σ."""
    (n, seed_seq, comps, probe, cfg, chans, energy, energy_range, flux, whole) = args
    rng = np.random.default_rng(seed_seq)
    tabs = [(get_table(t, probe, cfg, chans), cnt) for t, cnt in comps]
    E = _energies(n, rng, energy, energy_range, flux, tabs, chans)
    sig = np.vstack([cnt * tab.sigma(c, E) for tab, cnt in tabs for c in chans])
    if not np.all(np.isfinite(sig)):
        raise AivaInputError(f"neutrino energies above {GRID[-1]} GeV are outside the Monte Carlo's tables")
    tot = sig.sum(axis=0)
    if np.any(tot <= 0):
        raise AivaInputError(f"no channel is open at E = {E[tot <= 0].min():.3f} GeV for "
                             f"{probe.name} on {'+'.join(t.name for t, _ in comps)}")
    cum = np.cumsum(sig / tot, axis=0)
    which = (rng.random(n)[None, :] > cum).sum(axis=0)
    which = np.minimum(which, len(sig) - 1)
    cols = {k: np.empty(n) for k in ("ELep", "CosLep", "Q2", "q0", "W")}
    mode = np.empty(n, dtype=np.int32)
    nucleus = which // len(chans)
    n_over = 0
    pieces = []  # per nucleus: (its events, their accepted candidates by channel)
    for k, (target, _) in enumerate(comps):
        sels, cands = [], []
        for i, ch in enumerate(chans):
            sel = np.flatnonzero(which == k * len(chans) + i)
            sels.append(sel)
            if sel.size == 0:
                cands.append(None)
                continue
            c, nov = _sample_channel(ch, E[sel], target, probe, cfg, tabs[k][0], rng)
            cands.append(c)
            cols["ELep"][sel], cols["CosLep"][sel] = c.El, c.cos
            cols["Q2"][sel], cols["q0"][sel], cols["W"][sel] = c.Q2, c.q0, _w_column(c)
            mode[sel] = c.mode
            n_over += nov
        pieces.append((sels, cands))
    events = None
    if whole is not None:  # (seed sequence of the hadron stage, fsi)
        from aiva.mc.whole import assemble

        hrng = np.random.default_rng(whole[0])
        lep_pdg = np.where(np.abs(mode) >= 30, probe.pdg, probe.lepton_pdg).astype(np.int32)
        parts, where = [], []
        for (target, _), (sels, cands) in zip(comps, pieces):
            idx = np.concatenate(sels)
            if idx.size == 0:
                continue
            local = np.empty(n, dtype=np.int64)
            local[idx] = np.arange(idx.size)
            parts.append(assemble(E[idx], chans, cands, [local[s] for s in sels], lep_pdg[idx], target, probe, hrng,
                                  fsi=whole[1]))
            where.append(idx)
        events = _join_events(parts, where, n)
    return E, cols, mode, n_over, events, nucleus


def _w_column(c: _ch.Candidates) -> np.ndarray:
    """The ``W`` column: the hadronic mass of the channel, except for coherent π (modes ±16, ±36),
    whose q + nucleus mass (≈ M_A + ω) would sit far above every nucleon channel: there
    W = √(M² + 2Mω − Q²) of a nucleon at rest (PRD 112 (2025) 013007 eq. 5)."""
    coh = np.isin(np.abs(c.mode), (16, 36))
    if not coh.any():
        return c.W
    M = C_M_NUCLEON
    w_free = np.sqrt(np.maximum(M * M + 2 * M * c.q0 - c.Q2, 0.0))
    return np.where(coh, w_free, c.W)


def _join_events(parts, where, n):
    from aiva.mc.whole import WholeEvents

    if len(parts) == 1 and np.array_equal(where[0], np.arange(n)):
        return parts[0]
    idx = np.concatenate(where)
    inverse = np.empty(n, dtype=np.int64)
    inverse[idx] = np.arange(n)
    stats: dict[str, int] = {}
    for p in parts:
        for k, v in p.stats.items():
            stats[k] = stats.get(k, 0) + v
    return WholeEvents(ParticleList.concatenate([p.vert for p in parts]).take(inverse),
                       ParticleList.concatenate([p.fsp for p in parts]).take(inverse), stats)


def _components(target) -> tuple[str, list[tuple[Target, int]]]:
    """(name, [(nucleus, count per molecule)]) of a target or compound (``CH``, ``H2O``)."""
    if isinstance(target, Target):
        return target.name, [(target, 1)]
    try:
        return get_target(target).name, [(get_target(target), 1)]
    except AivaInputError as err:
        from aiva.physics import targets as _targets

        try:
            comp = _targets.get_compound(target)
        except AivaInputError:
            raise AivaInputError(f"{err}; compounds: {', '.join(_targets.COMPOUNDS)}") from None
        return comp.name, [(t, int(c)) for t, c in comp.components]


def simulate(target: str | Target = "C12", probe: str | Probe = "numu", n_events: int = 100_000, *,
             config: str | PhysicsConfig = "default", seed: int = 1, energy: float | None = None,
             energy_range: tuple[float, float] | None = None, flux: Flux | str | os.PathLike | None = None,
             channels=DEFAULT_CHANNELS, workers: int = 1, progress: bool = False, whole_events: bool = False,
             fsi: bool = True) -> EventTable:
    """Generate ``n_events`` unweighted events; returns an :class:`~aiva.events.EventTable`.

    Exactly one of ``energy`` (GeV), ``energy_range`` (GeV, GeV) or ``flux`` must be given.
    With ``whole_events`` the table carries the particle lists ``particles["vert"]`` (primary
    vertex) and ``particles["fsp"]`` (after the intranuclear cascade; the vertex itself when
    ``fsi`` is False), see :mod:`aiva.mc.whole`; the lepton columns are the same either way.
    """
    from aiva._version import __version__

    tgt_name, comps = _components(target)
    prb = probe if isinstance(probe, Probe) else get_probe(probe)
    if abs(prb.pdg) not in (12, 14):
        raise AivaInputError(f"the reference Monte Carlo's neutrino mode simulates numu, numubar, nue and nuebar, "
                             f"not {prb.name!r} (electron scattering: aiva escat / aiva.mc.electron)")
    cfg = get_config(config)
    chans = _check_channels(channels)
    if sum(x is not None for x in (energy, energy_range, flux)) != 1:
        raise AivaInputError("give exactly one of energy, energy_range or flux")
    if n_events <= 0:
        raise AivaInputError(f"number of events must be positive, got {n_events}")
    from aiva.utils import check_fits_in_memory

    check_fits_in_memory(n_events, BYTES_PER_EVENT_WHOLE if whole_events else BYTES_PER_EVENT)
    if energy is not None and not (0 < energy <= GRID[-1]):
        raise AivaInputError(f"energy {energy} GeV outside (0, {GRID[-1]}] GeV")
    if energy_range is not None:
        lo, hi = energy_range
        if not (0 < lo < hi <= GRID[-1]):
            raise AivaInputError(f"energy range [{lo}, {hi}] GeV must satisfy 0 < EMIN < EMAX <= {GRID[-1]}")
    if flux is not None and not isinstance(flux, Flux):
        from aiva.mc.flux import load_flux

        flux = load_flux(flux)
    if flux is not None and flux.edges[-1] > GRID[-1]:
        raise AivaInputError(f"flux extends to {flux.edges[-1]} GeV, above the tables' {GRID[-1]} GeV")
    tabs = [(get_table(t, prb, cfg, chans), cnt) for t, cnt in comps]
    if energy is not None:
        total = _sigma_total(tabs, chans, energy)
        if total <= 0:
            raise AivaInputError(f"E = {energy} GeV is below threshold for {prb.name} on {tgt_name}")

    n_chunks = (n_events + CHUNK - 1) // CHUNK
    seqs = np.random.SeedSequence(seed).spawn(n_chunks)
    # the hadron stage draws from its own streams, so the lepton columns do not depend on it
    hseqs = np.random.SeedSequence([seed, HADRON_STREAM]).spawn(n_chunks)
    sizes = [min(CHUNK, n_events - i * CHUNK) for i in range(n_chunks)]
    jobs = [(sz, sq, comps, prb, cfg, chans, energy, energy_range, flux, (hs, fsi) if whole_events else None)
            for sz, sq, hs in zip(sizes, seqs, hseqs)]
    results = _run_jobs(jobs, workers, progress)
    E = np.concatenate([r[0] for r in results])
    cols = {k: np.concatenate([r[1][k] for r in results]) for k in results[0][1]}
    mode = np.concatenate([r[2] for r in results])
    n_over = sum(r[3] for r in results)
    nucleus = np.concatenate([r[5] for r in results])
    A = np.array([t.A for t, _ in comps], np.int32)
    Z = np.array([t.Z for t, _ in comps], np.int32)
    n = len(E)
    particles: dict[str, ParticleList] = {}
    if whole_events:
        particles = {k: ParticleList.concatenate([getattr(r[4], k) for r in results]) for k in ("vert", "fsp")}
    data = {
        "Enu_true": E, "PDGnu": np.full(n, prb.pdg, np.int32), "tgta": A[nucleus], "tgtz": Z[nucleus],
        "PDGLep": np.where(np.abs(mode) >= 30, prb.pdg, prb.lepton_pdg).astype(np.int32),
        "ELep": cols["ELep"], "CosLep": cols["CosLep"], "Mode": mode, "Q2": cols["Q2"], "q0": cols["q0"],
        "W": cols["W"],
    }
    xs = _summary_xsec(tabs, chans, comps, energy, energy_range, flux)
    if flux is not None:  # flux-folded sample: Σ weights = ⟨σ⟩_Φ per nucleon, whatever n (see models.xsec)
        data["weight"] = np.full(n, xs["total_per_nucleon"] / n)
    meta = {
        "producer": "aiva.mc", "version": __version__, "mc_version": (1 if not whole_events and set(chans) <= V1_CHANNELS
                                                            and tgt_name in V1_TARGETS and abs(prb.pdg) == 14
                                                            else MC_VERSION), "seed": seed,
        "target": tgt_name, **({"target_nuclei": {t.name: cnt for t, cnt in comps}} if len(comps) > 1 else {}),
        "probe": prb.name, "config": cfg.to_dict(), "channels": list(chans),
        "energy": {"fixed": energy} if energy is not None else (
            {"uniform": list(energy_range)} if energy_range is not None
            else {"flux": flux.describe()}),  # type: ignore[union-attr]
        "xsec_1e-38cm2": xs,
        **({"weight": "10^-38 cm^2 per nucleon per event: sum over a bin = flux-averaged cross section"}
           if flux is not None else {}),
        "n_overweight": int(n_over),
        "W_column": "true invariant mass of the hadronic system (struck nucleon + q)",
    }
    if whole_events:
        stats: dict[str, int] = {}
        for r in results:
            for k, v in r[4].stats.items():
                stats[k] = stats.get(k, 0) + v
        meta["whole_events"] = {"fsi": bool(fsi), "lists": {"vert": "primary vertex, lepton first",
                                                            "fsp": "final state after FSI, lepton first"},
                                "stats": stats}
    return EventTable(data, meta, particles)


def _run_jobs(jobs, workers: int, progress: bool):
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=sum(j[0] for j in jobs), unit="ev", desc="simulating", unit_scale=True)
    results = []
    if workers > 1 and len(jobs) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers) as ex:
            for job, r in zip(jobs, ex.map(_generate_chunk, jobs)):
                results.append(r)
                if bar:
                    bar.update(job[0])
    else:
        for job in jobs:
            results.append(_generate_chunk(job))
            if bar:
                bar.update(job[0])
    if bar:
        bar.close()
    return results


def _summary_xsec(tabs: list[tuple[XsecTable, int]], chans, comps: list[tuple[Target, int]], energy, energy_range,
                  flux) -> dict:
    """Per-channel σ (per nucleus — per molecule for a compound — and per nucleon): at the fixed
    energy, averaged over the uniform range, or flux-averaged ∫σΦ/∫Φ."""
    def sig(c, e):
        return sum(cnt * tab.sigma(c, e) for tab, cnt in tabs)

    if energy is not None:
        per = {c: float(sig(c, energy)) for c in chans}
        how = f"at E = {energy} GeV"
    else:
        if energy_range is not None:
            e = np.linspace(energy_range[0], energy_range[1], 2001)
            w = np.ones_like(e)
            how = f"averaged over E uniform in [{energy_range[0]}, {energy_range[1]}] GeV"
        else:
            e, w = flux.quadrature(2001)
            how = "flux-averaged"
        per = {c: float(np.trapezoid(sig(c, e) * w, e) / np.trapezoid(w, e)) for c in chans}
    nucleons = sum(t.A * cnt for t, cnt in comps)
    out = {"how": how, "per_nucleus": per, "per_nucleon": {c: v / nucleons for c, v in per.items()},
           "total_per_nucleus": sum(per.values()), "total_per_nucleon": sum(per.values()) / nucleons}
    if len(comps) > 1:
        out["per_nucleus_is"] = f"per molecule ({'+'.join(f'{cnt} {t.name}' for t, cnt in comps)}), {nucleons} nucleons"
    return out


def xsec_table(target: str = "C12", probe: str = "numu", config: str = "default", energies=None,
               n_candidates: int = 200_000, seed: int = 1, chans=DEFAULT_CHANNELS) -> dict[str, np.ndarray]:
    """σ_c(E) per nucleus with statistical errors from fresh runs of ``n_candidates`` candidates."""
    tgt, prb, cfg = get_target(target), get_probe(probe), get_config(config)
    energies = np.asarray(energies if energies is not None else np.geomspace(0.2, 10, 25), dtype=np.float64)
    tab = build_table(tgt, prb, cfg, _check_channels(chans), energies, n_candidates, seed)
    out = {"E_GeV": energies}
    for c in chans:
        out[f"{c}_per_nucleus"] = tab.xsec[c]
        out[f"{c}_err_per_nucleus"] = tab.xsec_err[c]
    out["total_per_nucleus"] = sum(tab.xsec[c] for c in chans)
    out["total_err_per_nucleus"] = np.sqrt(sum(tab.xsec_err[c] ** 2 for c in chans))
    out["total_per_nucleon"] = out["total_per_nucleus"] / tgt.A
    return out
