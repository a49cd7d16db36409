"""Total cross section σ(E_ν) carried by a generator model, flux averages and E_ν sampling.

A generator learns the *shape* of the lepton kinematics at fixed E_ν; to make normalised
predictions it also carries σ(E_ν) for its target, probe and channels, in 10⁻³⁸ cm² per nucleon
and per nucleus, tabulated in the model card (``card["xsec"]``). For models trained on aiva's
reference Monte Carlo the table is the MC's pilot-run table (:mod:`aiva.mc.generator`),
evaluated on 60 log-spaced energies over the model's range. Between the nodes σ is interpolated
with a monotone cubic (PCHIP, Fritsch & Carlson, SIAM J. Numer. Anal. 17 (1980) 238) in ln E,
which follows the table without overshoot.

Flux average: ⟨σ⟩_Φ = ∫σ(E)Φ(E)dE / ∫Φ(E)dE (NuHepMC G.C.4), by quadrature over each flux bin
(Gauss–Legendre, 8 nodes per bin). Event weights for flux-folded generation: every event carries
w = ⟨σ⟩_Φ / N, so that Σ_bin w / (bin width) is the flux-averaged differential cross section in
10⁻³⁸ cm²/nucleon per unit of the variable, whatever the number N of events.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import PchipInterpolator

from aiva.errors import AivaInputError
from aiva.models.base import energy_range
from aiva.mc.flux import Flux, load_flux


@dataclass
class XsecCurve:
    energies: np.ndarray  #: GeV, increasing
    per_nucleon: np.ndarray  #: 10⁻³⁸ cm² per nucleon
    A: int
    source: str = ""

    def __post_init__(self) -> None:
        e, s = np.asarray(self.energies, float), np.asarray(self.per_nucleon, float)
        if e.ndim != 1 or e.shape != s.shape or len(e) < 2 or np.any(np.diff(e) <= 0) or e[0] <= 0:
            raise AivaInputError("cross-section table: need >= 2 increasing positive energies and as many values")
        if not np.all(np.isfinite(s)) or np.any(s < 0):
            raise AivaInputError("cross-section table: values must be finite and >= 0")
        self.energies, self.per_nucleon = e, s
        self._spline = PchipInterpolator(np.log(e), s, extrapolate=False)

    @property
    def emin(self) -> float:
        return float(self.energies[0])

    @property
    def emax(self) -> float:
        return float(self.energies[-1])

    def __call__(self, E, per: str = "nucleon") -> np.ndarray:
        """σ(E) in 10⁻³⁸ cm² per nucleon (``per="nucleus"``: × A). Outside the table: error."""
        E = np.asarray(E, float)
        if np.any((E < self.emin * (1 - 1e-12)) | (E > self.emax * (1 + 1e-12))):
            raise AivaInputError(f"E_nu outside the cross-section table [{self.emin:g}, {self.emax:g}] GeV")
        s = self._spline(np.log(np.clip(E, self.emin, self.emax)))
        return s * (self.A if per == "nucleus" else 1)

    def to_card(self) -> dict:
        return {"E_GeV": self.energies.tolist(), "per_nucleon_1e-38cm2": self.per_nucleon.tolist(),
                "per_nucleus_1e-38cm2": (self.per_nucleon * self.A).tolist(), "A": self.A, "source": self.source,
                "interpolation": "PCHIP in ln E"}

    @classmethod
    def from_card(cls, card: dict) -> XsecCurve:
        x = card.get("xsec")
        if not x:
            raise AivaInputError(f"model {card.get('name')!r} carries no cross-section table (card key 'xsec'); "
                                 "flux-folded, normalised generation needs one")
        return cls(np.array(x["E_GeV"]), np.array(x["per_nucleon_1e-38cm2"]), int(x["A"]), x.get("source", ""))


def reference_curve(target: str, probe: str, config: str = "default", channels=("qe", "res", "dis"),
                    emin: float = 0.3, emax: float = 10.0, points: int = 60) -> XsecCurve:
    """σ(E) of aiva's reference Monte Carlo for a target/probe/configuration/channel set."""
    from aiva.mc.config import get_config
    from aiva.mc.generator import get_table
    from aiva.physics import get_probe, get_target

    tgt = get_target(target)
    tab = get_table(tgt, get_probe(probe), get_config(config), tuple(channels))
    E = np.geomspace(emin, emax, points)
    per_nucleus = np.asarray(sum(tab.sigma(c, E) for c in channels), dtype=np.float64)
    return XsecCurve(E, per_nucleus / tgt.A, tgt.A,
                     f"aiva reference MC ({config}; {', '.join(channels)}), pilot-run table")


def attach_reference_xsec(card: dict) -> dict:
    """Add the reference-MC σ(E) table to a model card trained on aiva's Monte Carlo."""
    meta = (card.get("training") or {}).get("data_metadata") or {}
    cfg = (meta.get("config") or {}).get("name", "default")
    chans = [c for c in card.get("channels", []) if c != "inclusive"] or ["qe", "res", "dis"]
    lo, hi = energy_range(card)
    card["xsec"] = reference_curve(card["target"], card["probe"], cfg, tuple(chans), lo, hi).to_card()
    return card


def _gauss_nodes(flux: Flux, order: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature nodes and weights ∫Φ(E)f(E)dE ≈ Σ w f(E) for a piecewise-constant flux."""
    x, w = np.polynomial.legendre.leggauss(order)
    lo, hi = flux.edges[:-1, None], flux.edges[1:, None]
    E = 0.5 * (hi - lo) * x[None, :] + 0.5 * (hi + lo)
    W = 0.5 * w[None, :] * flux.content[:, None]  # Φ constant in a bin: (content/width)·(width/2)·w_k
    return E.ravel(), W.ravel()


def flux_average(flux: Flux, curve: XsecCurve, per: str = "nucleon") -> float:
    """⟨σ⟩_Φ = ∫σΦ / ∫Φ over the flux's range (which must lie inside the table)."""
    E, W = _gauss_nodes(flux)
    return float(np.sum(W * curve(E, per)) / np.sum(W))


def sample_energies(flux: Flux, curve: XsecCurve, n: int, rng: np.random.Generator) -> np.ndarray:
    """E_ν drawn from Φ(E)σ(E) by accept–reject under a piecewise-constant envelope: a flux bin b
    is chosen with probability ∝ Φ_b·max_b σ, E uniform inside it, accepted with σ(E)/max_b σ."""
    lo, hi = flux.edges[:-1], flux.edges[1:]
    fine = np.linspace(0, 1, 65)
    smax = np.array([curve(a + (b - a) * fine).max() for a, b in zip(lo, hi)]) * 1.02
    env = flux.content * smax
    if env.sum() <= 0:
        raise AivaInputError(f"{flux.name}: flux × cross section is zero everywhere")
    p = env / env.sum()
    out = np.empty(n)
    filled = 0
    while filled < n:
        m = 2 * (n - filled) + 100
        b = rng.choice(len(p), size=m, p=p)
        e = lo[b] + rng.random(m) * (hi[b] - lo[b])
        e = e[rng.random(m) * smax[b] < curve(e)][: n - filled]
        out[filled:filled + len(e)] = e
        filled += len(e)
    return out


def model_flux(card: dict, flux, *, flux_range=None, flux_content: str = "integral", allow_extrapolation=False):
    """The flux for flux-folded generation with a model: loaded (shipped name, CSV or ROOT),
    restricted to ``flux_range`` when given (the removed fraction is reported), and checked
    against the model's trained energy range. Returns (flux, fraction of the flux removed)."""
    f = load_flux(flux, flux_content)
    probe = (f.meta or {}).get("probe")
    if probe and probe != card.get("probe"):
        raise AivaInputError(f"flux {f.name!r} is a {probe} flux but model {card.get('name')!r} is for {card.get('probe')}")
    removed = 0.0
    if flux_range is not None:
        f, removed = f.restrict(*flux_range)
    lo, hi = energy_range(card)
    out = f.fraction_outside(lo, hi)
    if out > 0 and not allow_extrapolation:
        raise AivaInputError(f"flux {f.name!r} spans [{f.edges[0]:g}, {f.edges[-1]:g}] GeV; {100 * out:.2f} % of it lies "
                             f"outside the model's range [{lo:g}, {hi:g}] GeV. Restrict it with --flux-range {lo:g} {hi:g} "
                             "(the removed fraction is reported) or pass --allow-extrapolation")
    return f, removed


def sigma_curve(meta: dict):
    """σ_tot(E) per nucleon [10⁻³⁸ cm²] of a sample, from its producer: the reference MC's
    tables, or the generating model's card (``XsecCurve``); None if it cannot be rebuilt."""
    from aiva.errors import AivaInputError
    from aiva.mc.run import sigma_curve as mc_sigma_curve

    if meta.get("producer") == "aiva.mc":
        return mc_sigma_curve(meta)
    if not meta.get("model"):
        return None
    from aiva.models.io import read_card, resolve

    try:
        return XsecCurve.from_card(read_card(resolve(meta["model"])))
    except (AivaInputError, KeyError, TypeError, ValueError):  # a model without σ(E): no per-event σ
        return None


def writer_options(table, output) -> dict:
    """What the NuHepMC writer needs from the producer (σ(E) and the flux); {} for other formats."""
    from aiva.mc.run import flux_histogram, writer_options as mc_options

    if not mc_options(table, output):
        return {}
    return {"sigma_curve": sigma_curve(table.metadata), "flux_histogram": flux_histogram(table.metadata)}

