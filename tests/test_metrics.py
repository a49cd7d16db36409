"""Metrics as defined in PRD 112 (2025) 013007, Sec. IV."""
import math

import numpy as np
import pytest

from aiva.errors import AivaInputError
from aiva.metrics import c2st_auc, emd, map_2d, map_3d, mean_absolute_pull, pulls
from aiva.metrics.core import EXPECTED_MAP_SAME


def _sample(rng, n, slope=0.5):
    # a smooth, non-trivial distribution filling [-1,1]^2; `slope` sets the x-y correlation
    x = 2 * rng.beta(2.0, 2.5, n) - 1
    y = np.clip(slope * x + 0.3 * rng.standard_normal(n), -0.999, 0.999)
    return np.column_stack([x, y])


def test_pull_definition():
    n1 = np.array([100, 0, 4, 0])
    n2 = np.array([80, 9, 0, 0])
    p = pulls(n1, n2)
    assert p[0] == pytest.approx(20 / math.sqrt(180))
    assert p[1] == pytest.approx(-3.0)
    assert p[2] == pytest.approx(2.0)
    assert np.isnan(p[3])
    # MAP over bins where both are non-zero: only bin 0
    assert mean_absolute_pull(n1, n2) == pytest.approx(20 / math.sqrt(180))


def test_map_same_distribution_is_sqrt_2_over_pi():
    rng = np.random.default_rng(42)
    a, b = _sample(rng, 1_000_000), _sample(rng, 1_000_000)
    m = map_2d(a, b)
    assert abs(m - EXPECTED_MAP_SAME) < 0.03, m
    assert abs(map_2d(a, b, min_count=5) - EXPECTED_MAP_SAME) < 0.03


def test_map_different_distributions_is_large():
    rng = np.random.default_rng(43)
    a, b = _sample(rng, 1_000_000), _sample(rng, 1_000_000, slope=0.0)
    assert map_2d(a, b) > 3.0


def test_map_unequal_sizes_is_normalised():
    rng = np.random.default_rng(44)
    a, b = _sample(rng, 1_000_000), _sample(rng, 250_000)
    assert abs(map_2d(a, b) - EXPECTED_MAP_SAME) < 0.05


def test_map_3d():
    rng = np.random.default_rng(45)
    def s3(n, slope=0.5):
        e = rng.uniform(-1, 1, n)
        xy = _sample(rng, n, slope)
        return np.column_stack([e, xy])
    same = map_3d(s3(500_000), s3(500_000))
    assert abs(same - EXPECTED_MAP_SAME) < 0.05
    assert map_3d(s3(500_000), s3(500_000, 0.0)) > 2.0


def test_emd_known_value():
    # W1 distance between two point masses/shifted samples is the shift
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, 50_000)
    assert emd(a, a + 0.3) == pytest.approx(0.3, abs=1e-9)
    with pytest.raises(AivaInputError, match="non-finite"):
        emd(np.array([1.0, np.nan]), a)


def test_c2st_same_vs_different():
    rng = np.random.default_rng(3)
    same = c2st_auc(_sample(rng, 20_000), _sample(rng, 20_000))
    # two unit Gaussians 2.5 sigma apart: the optimal AUC is Phi(2.5/sqrt 2) = 0.96
    diff = c2st_auc(rng.normal(0, 1, (20_000, 2)), rng.normal([2.5, 0], 1, (20_000, 2)))
    assert abs(same - 0.5) < 0.03, same
    assert 0.93 < diff < 0.98, diff
