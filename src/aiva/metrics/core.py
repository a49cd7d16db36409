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


def histogram2d(x, y, bins: int = 50, lo: float = -1.0, hi: float = 1.0, weights=None) -> np.ndarray:
    """Counts (or sums of ``weights``) of (x, y) in ``bins`` × ``bins`` equal bins on [lo, hi]²."""
    h, _, _ = np.histogram2d(np.asarray(x), np.asarray(y), bins=bins, range=[[lo, hi], [lo, hi]], weights=weights)
    return h


def pulls(n1: np.ndarray, n2: np.ndarray, ratio: float = 1.0, var1=None, var2=None) -> np.ndarray:
    """Per-bin pulls (n₁ − r n₂)/√(v₁ + r² v₂); NaN where both variances are zero. Counts have
    Poisson variances vᵢ = nᵢ (the default); weighted sums nᵢ = Σw have vᵢ = Σw²."""
    n1 = np.asarray(n1, dtype=np.float64)
    n2 = np.asarray(n2, dtype=np.float64)
    v1 = n1 if var1 is None else np.asarray(var1, dtype=np.float64)
    v2 = n2 if var2 is None else np.asarray(var2, dtype=np.float64)
    var = v1 + ratio * ratio * v2
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


def _uniform(w) -> bool:
    return w is None or bool(np.all(np.asarray(w) == np.asarray(w).flat[0]))


def check_weights(w, what: str = "weights") -> np.ndarray:
    """Finite, non-negative weights with a positive sum (the weighted metrics need them)."""
    w = np.asarray(w, dtype=np.float64)
    if not np.all(np.isfinite(w)):
        raise AivaInputError(f"{what}: {int((~np.isfinite(w)).sum())} non-finite event weights")
    if np.any(w < 0):
        raise AivaInputError(f"{what}: {int((w < 0).sum())} negative event weights; the weighted MAP, EMD and "
                             "C2ST need weights >= 0")
    if not w.sum() > 0:
        raise AivaInputError(f"{what}: the event weights sum to zero")
    return w


def _weighted_map(h: list[tuple[np.ndarray, ...]], w1, w2, n1: int, n2: int, min_count: float) -> float:
    """MAP of weighted histograms: pulls (S₁ − r S₂)/√(V₁ + r² V₂) with S = Σw, V = Σw² per bin and
    r = ΣW₁/ΣW₂, over bins with more than ``min_count`` events in both samples. For unit weights
    this is exactly the unweighted MAP."""
    (s1, v1, c1), (s2, v2, c2) = h
    r = float(np.sum(w1) / np.sum(w2)) if w1 is not None or w2 is not None else n1 / n2
    mask = (c1 > min_count) & (c2 > min_count)
    if not mask.any():
        return float("nan")
    return float(np.mean(np.abs(pulls(s1, s2, r, v1, v2)[mask])))


def map_2d(p1: np.ndarray, p2: np.ndarray, bins: int = 50, min_count: float = 0, w1=None, w2=None) -> float:
    """MAP of two samples of (E'_μ, θ') given as arrays of shape (N, 2), optionally weighted."""
    p1, p2 = np.asarray(p1), np.asarray(p2)
    if _uniform(w1) and _uniform(w2):
        h1 = histogram2d(p1[:, 0], p1[:, 1], bins)
        h2 = histogram2d(p2[:, 0], p2[:, 1], bins)
        return mean_absolute_pull(h1, h2, min_count, _ratio(p1, p2))
    w1 = np.ones(len(p1)) if w1 is None else check_weights(w1, "first sample")
    w2 = np.ones(len(p2)) if w2 is None else check_weights(w2, "second sample")
    hs = [tuple(histogram2d(p[:, 0], p[:, 1], bins, weights=x) for x in (w, w * w, None))
          for p, w in ((p1, w1), (p2, w2))]
    return _weighted_map(hs, w1, w2, len(p1), len(p2), min_count)


def map_3d(p1: np.ndarray, p2: np.ndarray, bins: int = 20, min_count: float = 0, w1=None, w2=None) -> float:
    """MAP-3D of two samples of (E'_ν, E'_μ, θ') of shape (N, 3) on [−1, 1]³, optionally weighted."""
    p1, p2 = np.asarray(p1), np.asarray(p2)
    rng = [(-1.0, 1.0)] * 3
    if _uniform(w1) and _uniform(w2):
        h1, _ = np.histogramdd(p1, bins=bins, range=rng)
        h2, _ = np.histogramdd(p2, bins=bins, range=rng)
        return mean_absolute_pull(h1, h2, min_count, _ratio(p1, p2))
    w1 = np.ones(len(p1)) if w1 is None else check_weights(w1, "first sample")
    w2 = np.ones(len(p2)) if w2 is None else check_weights(w2, "second sample")
    hs = [tuple(np.histogramdd(p, bins=bins, range=rng, weights=x)[0] for x in (w, w * w, None))
          for p, w in ((p1, w1), (p2, w2))]
    return _weighted_map(hs, w1, w2, len(p1), len(p2), min_count)


def emd(a: np.ndarray, b: np.ndarray, wa=None, wb=None) -> float:
    """Earth mover's (1-D Wasserstein) distance between two (optionally weighted) samples;
    non-finite values refused."""
    from scipy.stats import wasserstein_distance

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    for name, v in (("first", a), ("second", b)):
        if not np.isfinite(v).all():
            raise AivaInputError(f"EMD: {name} sample has {int((~np.isfinite(v)).sum())} non-finite values")
    if _uniform(wa) and _uniform(wb):
        return float(wasserstein_distance(a, b))
    return float(wasserstein_distance(a, b, wa, wb))


def c2st_auc(x1: np.ndarray, x2: np.ndarray, *, max_per_class: int = 100_000, seed: int = 0, w1=None,
             w2=None) -> float:
    """Classifier two-sample test: held-out ROC AUC of a gradient-boosted classifier.

    Each sample is subsampled to at most ``max_per_class`` rows; the union is split in halves
    (stratified), the classifier is trained on one half and scored on the other. With event
    weights, each class's weights are normalised to sum 1 and enter the fit and the AUC as
    sample weights.
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
    i1 = rng.choice(len(x1), n, replace=False)
    i2 = rng.choice(len(x2), n, replace=False)
    X = np.vstack([x1[i1], x2[i2]])
    y = np.concatenate([np.zeros(n), np.ones(n)])
    clf = HistGradientBoostingClassifier(max_iter=100, random_state=seed)
    if _uniform(w1) and _uniform(w2):
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.5, stratify=y, random_state=seed)
        clf.fit(Xtr, ytr)
        return float(roc_auc_score(yte, clf.predict_proba(Xte)[:, 1]))
    a = np.ones(len(x1)) if w1 is None else check_weights(w1, "first sample")
    b = np.ones(len(x2)) if w2 is None else check_weights(w2, "second sample")
    sw = np.concatenate([a[i1] / a[i1].sum(), b[i2] / b[i2].sum()]) * n
    Xtr, Xte, ytr, yte, wtr, wte = train_test_split(X, y, sw, test_size=0.5, stratify=y, random_state=seed)
    clf.fit(Xtr, ytr, sample_weight=wtr)
    return float(roc_auc_score(yte, clf.predict_proba(Xte)[:, 1], sample_weight=wte))


def compare_samples(prox1: np.ndarray, prox2: np.ndarray, W1: np.ndarray | None = None,
                    W2: np.ndarray | None = None, *, c2st: bool = True, seed: int = 0, w1=None,
                    w2=None) -> dict[str, Any]:
    """All metrics for two samples of proxies (N, 3) = (E'_ν, E'_μ, θ') and optional W arrays;
    ``w1``/``w2`` are event weights (None: unweighted)."""
    prox1, prox2 = np.asarray(prox1), np.asarray(prox2)
    weighted = not (_uniform(w1) and _uniform(w2))
    if weighted:
        w1 = np.ones(len(prox1)) if w1 is None else check_weights(w1, "first sample")
        w2 = np.ones(len(prox2)) if w2 is None else check_weights(w2, "second sample")
    else:
        w1 = w2 = None
    out: dict[str, Any] = {"n1": int(len(prox1)), "n2": int(len(prox2)), "weighted": weighted}
    for tag, p in (("n1_outside", prox1), ("n2_outside", prox2)):
        out[tag] = int((~np.all((p >= -1) & (p <= 1), axis=1)).sum())
    out["MAP"] = map_2d(prox1[:, 1:], prox2[:, 1:], w1=w1, w2=w2)
    out["MAP_gt5"] = map_2d(prox1[:, 1:], prox2[:, 1:], min_count=5, w1=w1, w2=w2)
    out["MAP3D"] = map_3d(prox1, prox2, w1=w1, w2=w2)
    out["EMD"] = {"Emu_p": emd(prox1[:, 1], prox2[:, 1], w1, w2), "theta_p": emd(prox1[:, 2], prox2[:, 2], w1, w2)}
    if W1 is not None and W2 is not None:
        a, b = np.asarray(W1), np.asarray(W2)
        f1, f2 = np.isfinite(a), np.isfinite(b)
        out["EMD"]["W"] = emd(a[f1], b[f2], None if w1 is None else w1[f1], None if w2 is None else w2[f2])
        out["n1_W_undefined"] = int((~f1).sum())
        out["n2_W_undefined"] = int((~f2).sum())
    if c2st:
        out["C2ST_AUC"] = c2st_auc(prox1, prox2, seed=seed, w1=w1, w2=w2)
    return out


def compare_tables(a, b, *, c2st: bool = True, seed: int = 0) -> dict[str, Any]:
    """Compare two :class:`aiva.events.EventTable` s with every metric above, weighted by their
    ``weight`` columns when they have them (a shape comparison: each sample's weights are
    normalised to its own sum)."""
    pa = np.column_stack(a.proxies())
    pb = np.column_stack(b.proxies())
    wa = a["weight"] if "weight" in a.columns else None
    wb = b["weight"] if "weight" in b.columns else None
    return compare_samples(pa, pb, a.kinematics()["W"], b.kinematics()["W"], c2st=c2st, seed=seed, w1=wa, w2=wb)
