"""Metrics for comparing two samples of events.

Definitions follow J. L. Bonilla, K. M. Graczyk et al., Phys. Rev. D 112 (2025) 013007
(arXiv:2502.20244), Sec. IV ("[GAN25]"), and the transfer-learning paper Phys. Rev. D 113 (2026)
053001 (arXiv:2508.12987, "[TL26]"):

* the two samples are histogrammed in the proxy variables (E'_μ, θ') with 50 × 50 bins on
  [−1, 1]²;
* the pull of a bin is (n₁ − n₂)/√(σ₁² + σ₂²) with Poisson variances σᵢ² = nᵢ;
* MAP, the mean absolute pull, averages |pull| over the bins where both counts are non-zero
  (and, as a variant, where both exceed 5). For two samples of one distribution the pulls are
  ≈ N(0, 1) and MAP → E|N(0,1)| = √(2/π) ≈ 0.798;
* MAP-3D does the same in (E'_ν, E'_μ, θ') (our binning: 20 bins per axis on [−1, 1]³);
* EMD is the 1-D Wasserstein distance (:func:`scipy.stats.wasserstein_distance`) of each
  marginal and of W;
* C2ST (classifier two-sample test; D. Lopez-Paz & M. Oquab, ICLR 2017) trains a gradient-boosted
  classifier (scikit-learn ``HistGradientBoostingClassifier``) to tell the samples apart on one half
  and reports the ROC AUC on the other half: 0.5 means indistinguishable, 1 fully separable.

When the samples differ in size, sample 2 is scaled by r = N₁/N₂ and its variance by r²
(for N₁ = N₂ this is exactly the papers' pull).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from aiva.errors import AivaInputError

EXPECTED_MAP_SAME = math.sqrt(2.0 / math.pi)  #: E|N(0,1)|


def histogram2d(x, y, bins: int = 50, lo: float = -1.0, hi: float = 1.0) -> np.ndarray:
    """Counts of (x, y) in ``bins`` × ``bins`` equal bins on [lo, hi]²."""
    h, _, _ = np.histogram2d(np.asarray(x), np.asarray(y), bins=bins, range=[[lo, hi], [lo, hi]])
    return h


def pulls(n1: np.ndarray, n2: np.ndarray, ratio: float = 1.0) -> np.ndarray:
    """Per-bin pulls (n₁ − r n₂)/√(n₁ + r² n₂); NaN where both counts are zero."""
    n1 = np.asarray(n1, dtype=np.float64)
    n2 = np.asarray(n2, dtype=np.float64)
    var = n1 + ratio * ratio * n2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(var > 0, (n1 - ratio * n2) / np.sqrt(var), np.nan)


def mean_absolute_pull(n1: np.ndarray, n2: np.ndarray, min_count: float = 0, ratio: float = 1.0) -> float:
    """MAP over bins with n₁ > ``min_count`` and n₂ > ``min_count`` ([GAN25] Sec. IV)."""
    mask = (np.asarray(n1) > min_count) & (np.asarray(n2) > min_count)
    if not mask.any():
        return float("nan")
    return float(np.mean(np.abs(pulls(n1, n2, ratio)[mask])))


def _ratio(a, b) -> float:
    return len(a) / len(b)


def map_2d(p1: np.ndarray, p2: np.ndarray, bins: int = 50, min_count: float = 0) -> float:
    """MAP of two samples of (E'_μ, θ') given as arrays of shape (N, 2)."""
    p1, p2 = np.asarray(p1), np.asarray(p2)
    h1 = histogram2d(p1[:, 0], p1[:, 1], bins)
    h2 = histogram2d(p2[:, 0], p2[:, 1], bins)
    return mean_absolute_pull(h1, h2, min_count, _ratio(p1, p2))


def map_3d(p1: np.ndarray, p2: np.ndarray, bins: int = 20, min_count: float = 0) -> float:
    """MAP-3D of two samples of (E'_ν, E'_μ, θ') of shape (N, 3) on [−1, 1]³."""
    p1, p2 = np.asarray(p1), np.asarray(p2)
    rng = [(-1.0, 1.0)] * 3
    h1, _ = np.histogramdd(p1, bins=bins, range=rng)
    h2, _ = np.histogramdd(p2, bins=bins, range=rng)
    return mean_absolute_pull(h1, h2, min_count, _ratio(p1, p2))


def emd(a: np.ndarray, b: np.ndarray) -> float:
    """Earth mover's (1-D Wasserstein) distance between two samples; non-finite values refused."""
    from scipy.stats import wasserstein_distance

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    for name, v in (("first", a), ("second", b)):
        if not np.isfinite(v).all():
            raise AivaInputError(f"EMD: {name} sample has {int((~np.isfinite(v)).sum())} non-finite values")
    return float(wasserstein_distance(a, b))


def c2st_auc(x1: np.ndarray, x2: np.ndarray, *, max_per_class: int = 100_000, seed: int = 0) -> float:
    """Classifier two-sample test: held-out ROC AUC of a gradient-boosted classifier.

    Each sample is subsampled to at most ``max_per_class`` rows; the union is split in halves
    (stratified), the classifier is trained on one half and scored on the other.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    rng = np.random.default_rng(seed)
    x1 = np.asarray(x1, dtype=np.float64).reshape(len(x1), -1)
    x2 = np.asarray(x2, dtype=np.float64).reshape(len(x2), -1)
    n = min(len(x1), len(x2), max_per_class)
    if n < 20:
        raise AivaInputError(f"C2ST needs at least 20 events per sample, got {len(x1)} and {len(x2)}")
    x1 = x1[rng.choice(len(x1), n, replace=False)]
    x2 = x2[rng.choice(len(x2), n, replace=False)]
    X = np.vstack([x1, x2])
    y = np.concatenate([np.zeros(n), np.ones(n)])
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.5, stratify=y, random_state=seed)
    clf = HistGradientBoostingClassifier(max_iter=100, random_state=seed)
    clf.fit(Xtr, ytr)
    return float(roc_auc_score(yte, clf.predict_proba(Xte)[:, 1]))


def compare_samples(prox1: np.ndarray, prox2: np.ndarray, W1: np.ndarray | None = None,
                    W2: np.ndarray | None = None, *, c2st: bool = True, seed: int = 0) -> dict[str, Any]:
    """All metrics for two samples of proxies (N, 3) = (E'_ν, E'_μ, θ') and optional W arrays."""
    prox1, prox2 = np.asarray(prox1), np.asarray(prox2)
    out: dict[str, Any] = {"n1": int(len(prox1)), "n2": int(len(prox2))}
    for tag, p in (("n1_outside", prox1), ("n2_outside", prox2)):
        out[tag] = int((~np.all((p >= -1) & (p <= 1), axis=1)).sum())
    out["MAP"] = map_2d(prox1[:, 1:], prox2[:, 1:])
    out["MAP_gt5"] = map_2d(prox1[:, 1:], prox2[:, 1:], min_count=5)
    out["MAP3D"] = map_3d(prox1, prox2)
    out["EMD"] = {"Emu_p": emd(prox1[:, 1], prox2[:, 1]), "theta_p": emd(prox1[:, 2], prox2[:, 2])}
    if W1 is not None and W2 is not None:
        w1, w2 = np.asarray(W1), np.asarray(W2)
        f1, f2 = np.isfinite(w1), np.isfinite(w2)
        out["EMD"]["W"] = emd(w1[f1], w2[f2])
        out["n1_W_undefined"] = int((~f1).sum())
        out["n2_W_undefined"] = int((~f2).sum())
    if c2st:
        out["C2ST_AUC"] = c2st_auc(prox1, prox2, seed=seed)
    return out


def compare_tables(a, b, *, c2st: bool = True, seed: int = 0) -> dict[str, Any]:
    """Compare two :class:`aiva.events.EventTable` s with every metric above."""
    pa = np.column_stack(a.proxies())
    pb = np.column_stack(b.proxies())
    return compare_samples(pa, pb, a.kinematics()["W"], b.kinematics()["W"], c2st=c2st, seed=seed)
