"""Neutrino flux histograms.

CSV format (as in ``shared/data/flux/**/csv_from_root``): optional comment lines starting with
``#``, a header ``x_low,x_high,content[,error]`` with bin edges in GeV. By default ``content`` is
the flux integrated over the bin; with ``content="density"`` it is a flux per unit energy (as in
most published flux histograms with unequal bins, e.g. "per 50 MeV" or "per GeV") and is
multiplied by the bin width. The flux is taken as constant inside each bin. A ROOT TH1 is read
with uproot from ``file.root:histogram``. Shipped fluxes (``aiva fluxes``) are stored bin-integrated
under ``aiva/data/fluxes`` with their provenance in comment lines ``# key: value``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aiva.errors import AivaInputError

FLUX_DIR = Path(__file__).resolve().parent.parent / "data" / "fluxes"


@dataclass
class Flux:
    edges: np.ndarray  #: (n+1,) GeV, increasing
    content: np.ndarray  #: (n,) flux per bin, ≥ 0
    name: str = "flux"
    meta: dict | None = None  #: provenance of a shipped flux (probe, source, citation, units)

    def __post_init__(self) -> None:
        e, c = np.asarray(self.edges, float), np.asarray(self.content, float)
        where = self.name
        if e.ndim != 1 or c.ndim != 1 or len(e) != len(c) + 1 or len(c) == 0:
            raise AivaInputError(f"{where}: need n+1 edges for n bins, got {len(e)} edges and {len(c)} contents")
        if not np.all(np.isfinite(e)):
            raise AivaInputError(f"{where}: column 'x_low/x_high': non-finite bin edges")
        if np.any(np.diff(e) <= 0):
            raise AivaInputError(f"{where}: column 'x_low/x_high': bin edges are not increasing "
                                 f"({int(np.sum(np.diff(e) <= 0))} bins)")
        bad = ~np.isfinite(c)
        if bad.any():
            raise AivaInputError(f"{where}: column 'content': NaN or infinite values ({int(bad.sum())} bins)")
        if np.any(c < 0):
            raise AivaInputError(f"{where}: column 'content': negative values ({int(np.sum(c < 0))} bins)")
        if c.sum() <= 0:
            raise AivaInputError(f"{where}: column 'content': the flux is zero everywhere")
        if e[0] < 0:
            raise AivaInputError(f"{where}: column 'x_low': negative energies")
        if e[-1] > 1000:
            raise AivaInputError(f"{where}: column 'x_high': edges up to {e[-1]:g} look like MeV; aiva expects GeV")
        self.edges, self.content = e, c

    @classmethod
    def from_csv(cls, path: str | os.PathLike, content: str = "integral") -> Flux:
        path = Path(path)
        if not path.exists():
            raise AivaInputError(f"{path}: no such flux file")
        _check_content(content)
        text = path.read_text().splitlines()
        meta = {}
        for ln in text:
            if ln.lstrip().startswith("#") and ":" in ln:
                k, v = ln.lstrip("# ").split(":", 1)
                meta[k.strip()] = v.strip()
        rows = [ln for ln in text if ln.strip() and not ln.lstrip().startswith("#")]
        if not rows:
            raise AivaInputError(f"{path}: empty flux file")
        header = [h.strip() for h in rows[0].split(",")]
        need = ["x_low", "x_high", "content"]
        if any(h not in header for h in need):
            raise AivaInputError(f"{path}: header must contain {', '.join(need)}; found {', '.join(header)}")
        idx = [header.index(h) for h in need]
        try:
            data = np.array([[float(r.split(",")[i]) for i in idx] for r in rows[1:]])
        except (ValueError, IndexError) as exc:
            raise AivaInputError(f"{path}: non-numeric or missing value in flux table ({exc})") from None
        if data.size == 0:
            raise AivaInputError(f"{path}: flux table has no bins")
        lo, hi, c = data.T
        if np.any(np.abs(lo[1:] - hi[:-1]) > 1e-9 * np.maximum(1, hi[:-1])):
            raise AivaInputError(f"{path}: column 'x_low': bins are not contiguous or not sorted")
        if content == "density":
            c = c * (hi - lo)
        return cls(np.concatenate([lo, hi[-1:]]), c, name=str(path), meta=meta or None)

    @classmethod
    def from_root(cls, spec: str, content: str = "integral") -> Flux:
        """``file.root:histogram`` (a TH1), read with uproot."""
        import uproot

        _check_content(content)
        fname, _, hname = str(spec).partition(":")
        if not hname:
            raise AivaInputError(f"{spec}: give the histogram as FILE.root:HISTOGRAM")
        if not Path(fname).exists():
            raise AivaInputError(f"{fname}: no such flux file")
        try:
            f = uproot.open(fname)
            names = f.classnames()
        except Exception as exc:  # uproot raises several types for files that are not ROOT or are cut short
            raise AivaInputError(f"{fname}: not a readable ROOT file ({' '.join(str(exc).split())[:160]})") from None
        with f:
            if hname not in {k.split(";")[0] for k in names}:
                hists = [k.split(";")[0] for k, c in names.items() if c.startswith("TH1")]
                raise AivaInputError(f"{fname}: no histogram {hname!r}; TH1s in the file: {', '.join(hists) or 'none'}")
            try:
                h = f[hname]
                if not h.classname.startswith("TH1"):
                    raise AivaInputError(f"{fname}: {hname!r} is a {h.classname}, not a TH1")
                c, e = h.values(), h.axis().edges()
            except AivaInputError:
                raise
            except Exception as exc:
                raise AivaInputError(f"{fname}: histogram {hname!r} cannot be read "
                                     f"({' '.join(str(exc).split())[:160]})") from None
        if content == "density":
            c = c * np.diff(e)
        return cls(e, c, name=str(spec))

    def restrict(self, emin: float, emax: float) -> tuple[Flux, float]:
        """The flux inside [emin, emax] (partial bins cut at the edges) and the fraction of the
        integrated flux that lay outside."""
        e = np.clip(self.edges, emin, emax)
        frac_in = np.diff(e) / np.diff(self.edges)
        c = self.content * frac_in
        keep = np.diff(e) > 0
        if not keep.any():
            raise AivaInputError(f"{self.name}: no flux inside [{emin}, {emax}] GeV")
        idx = np.flatnonzero(keep)
        edges = np.concatenate([e[idx], e[idx[-1] + 1:idx[-1] + 2]])
        return (Flux(edges, c[idx], name=f"{self.name} [{emin:g}, {emax:g}] GeV", meta=self.meta),
                self.fraction_outside(emin, emax))

    def fraction_outside(self, emin: float, emax: float) -> float:
        e = np.clip(self.edges, emin, emax)
        return float(1.0 - np.sum(self.content * np.diff(e) / np.diff(self.edges)) / self.content.sum())

    @property
    def mean_energy(self) -> float:
        """Flux-weighted mean energy [GeV] (bin centres)."""
        return float(np.sum(self.content * 0.5 * (self.edges[1:] + self.edges[:-1])) / self.content.sum())

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        p = self.content / self.content.sum()
        b = rng.choice(len(p), size=n, p=p)
        return self.edges[b] + rng.random(n) * (self.edges[b + 1] - self.edges[b])

    def density(self, E) -> np.ndarray:
        """Φ(E) per GeV (piecewise constant), 0 outside."""
        E = np.asarray(E, float)
        d = self.content / np.diff(self.edges)
        i = np.searchsorted(self.edges, E, side="right") - 1
        inside = (i >= 0) & (i < len(d))
        return np.where(inside, d[np.clip(i, 0, len(d) - 1)], 0.0)

    def quadrature(self, n: int = 2001):
        e = np.linspace(self.edges[0], self.edges[-1], n)
        return e, self.density(e)

    def describe(self) -> dict:
        d = {"name": self.name, "emin": float(self.edges[0]), "emax": float(self.edges[-1]),
             "bins": int(len(self.content))}
        if self.meta:
            d["provenance"] = dict(self.meta)
        return d


def _check_content(content: str) -> None:
    if content not in ("integral", "density"):
        raise AivaInputError(f"flux content must be 'integral' or 'density', got {content!r}")


def list_fluxes() -> list[Flux]:
    """The fluxes shipped with aiva (``aiva fluxes``)."""
    return [Flux.from_csv(p) for p in sorted(FLUX_DIR.glob("*.csv"))]


def load_flux(spec: str | os.PathLike | Flux, content: str = "integral") -> Flux:
    """A shipped flux by name (``t2k-nd280-numu``), a CSV file, or ``file.root:histogram``."""
    if isinstance(spec, Flux):
        return spec
    s = str(spec)
    shipped = FLUX_DIR / f"{s}.csv"
    if shipped.exists() and not Path(s).exists():
        f = Flux.from_csv(shipped)
        f.name = s
        return f
    if ".root:" in s or s.endswith(".root"):
        return Flux.from_root(s, content)
    if not Path(s).exists():
        names = ", ".join(p.stem for p in sorted(FLUX_DIR.glob("*.csv"))) or "none"
        raise AivaInputError(f"{s}: no such flux file or shipped flux (shipped: {names})")
    return Flux.from_csv(s, content)
