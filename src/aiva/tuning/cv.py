"""Cross-validation of a tune over blocks of bins, with the covariance conditioned correctly.

With correlated bins a held-out block H cannot be scored by its own sub-covariance alone: the
fitted block F carries information about it. For a Gaussian residual r = d − μ ~ N(0, C) split
into (r_F, r_H), the held-out residual given the fitted one is

    r_H | r_F ~ N(C_HF C_FF⁻¹ r_F,  C_HH − C_HF C_FF⁻¹ C_FH)

(the conditional of a multivariate normal, e.g. Bishop, *Pattern Recognition and Machine
Learning* (2006), Eqs. 2.81–2.82; Rasmussen & Williams, *Gaussian Processes for Machine
Learning* (2006), Eq. A.6). The held-out χ² is the Mahalanobis distance under that conditional;
by the chain rule of the Gaussian density it satisfies χ²_full = χ²_F + χ²_{H|F} (tested), and if
the prediction is the truth it is χ²-distributed with |H| degrees of freedom: expectation |H|,
standard deviation √(2|H|).
"""
from __future__ import annotations

import numpy as np

from aiva.errors import AivaInputError
from aiva.measurements.core import Measurement


def conditional_gaussian(C: np.ndarray, held: np.ndarray, fit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(A, S): the held-out conditional mean is A r_F and its covariance S (Bishop Eqs. 2.81–2.82)."""
    from scipy.linalg import cho_factor, cho_solve

    C = np.asarray(C, float)
    held, fit = np.asarray(held), np.asarray(fit)
    if len(fit) == 0:
        return np.zeros((len(held), 0)), C[np.ix_(held, held)]
    cf = cho_factor(C[np.ix_(fit, fit)])
    A = cho_solve(cf, C[np.ix_(fit, held)]).T  # C_HF C_FF⁻¹
    S = C[np.ix_(held, held)] - A @ C[np.ix_(fit, held)]
    return A, 0.5 * (S + S.T)


def conditional_chi2(r: np.ndarray, C: np.ndarray, held, fit=None) -> float:
    """χ² of the held-out residuals r_H given the fitted ones r_F (default F: all other bins)."""
    from scipy.linalg import cho_factor, cho_solve

    r = np.asarray(r, float)
    held = np.asarray(held)
    if fit is None:
        fit = np.setdiff1d(np.arange(len(r)), held)
    fit = np.asarray(fit)
    if len(np.intersect1d(held, fit)):
        raise AivaInputError("held-out and fitted bins overlap")
    A, S = conditional_gaussian(C, held, fit)
    u = r[held] - A @ r[fit]
    return float(u @ cho_solve(cho_factor(S), u))


#: how bins are dealt into cross-validation blocks (:func:`bin_blocks`)
BLOCK_SCHEMES = ("slices", "interleaved")


def bin_blocks(m: Measurement, k: int, how: str = "slices") -> list[np.ndarray]:
    """k blocks of bins for cross-validation.

    ``slices`` (default): the cosθ slices of the binning, in order, dealt into k contiguous groups
    of about equal bin count — a block is whole slices, so held-out bins are a region of phase
    space the fit never saw (a test of extrapolation across angles). ``interleaved``: bin i goes to
    block i mod k — held-out bins are neighbours of fitted ones (a test of over-fitting at fixed
    phase-space coverage)."""
    if how not in BLOCK_SCHEMES:
        raise AivaInputError(f"cross-validation blocks: {how!r} is not one of {', '.join(BLOCK_SCHEMES)}")
    if how == "interleaved":
        n = len(m.values)
        if not 2 <= k <= n:
            raise AivaInputError(f"measurement {m.name!r}: {k} blocks requested, need 2..{n} (bins)")
        return [np.arange(j, n, k) for j in range(k)]
    slices = sorted({(float(lo), float(hi)) for lo, hi in m.bins[:, :2]})
    if not 2 <= k <= len(slices):
        raise AivaInputError(f"measurement {m.name!r}: {k} blocks requested, need 2..{len(slices)} (cos theta slices)")
    members = [np.flatnonzero((m.bins[:, 0] == lo) & (m.bins[:, 1] == hi)) for lo, hi in slices]
    sizes = np.cumsum([len(x) for x in members])
    cut = np.searchsorted(sizes, sizes[-1] * np.arange(1, k) / k)
    groups = np.split(np.arange(len(slices)), np.unique(np.clip(cut + 1, 1, len(slices) - 1)))
    blocks = [np.sort(np.concatenate([members[j] for j in g])) for g in groups if len(g)]
    if len(blocks) < 2:
        raise AivaInputError(f"measurement {m.name!r}: could not split the bins into {k} blocks")
    return blocks
