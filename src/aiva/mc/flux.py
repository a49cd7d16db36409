"""Neutrino flux histograms.

CSV format (as in ``shared/data/flux/**/csv_from_root``): optional comment lines starting with
``#``, a header ``x_low,x_high,content[,error]`` with bin edges in GeV. ``content`` is the flux in
the bin (integrated over the bin, as in a ROOT TH1 of events or flux per bin); the flux is taken
as constant inside each bin.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aiva.errors import AivaInputError


@dataclass
class Flux:
    edges: np.ndarray  #: (n+1,) GeV, increasing
    content: np.ndarray  #: (n,) flux per bin, ≥ 0
    name: str = "flux"

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
    def from_csv(cls, path: str | os.PathLike) -> "Flux":
        path = Path(path)
        if not path.exists():
            raise AivaInputError(f"{path}: no such flux file")
        rows = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
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
        return cls(np.concatenate([lo, hi[-1:]]), c, name=str(path))

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
        return {"name": self.name, "emin": float(self.edges[0]), "emax": float(self.edges[-1]),
                "bins": int(len(self.content))}
