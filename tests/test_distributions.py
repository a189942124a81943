"""The light distribution functions equal scipy.stats bit for bit, and the analyses
import without scipy.stats (the reason they exist)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import stats as sps
from scipy.spatial.distance import jensenshannon

from aidebt import distributions as dist
from aidebt.drift import _jensen_shannon

X = np.concatenate([np.linspace(-40, 40, 801), [-np.inf, np.inf, 0.0, 1e-300, np.nan]])
Q = np.concatenate([np.linspace(0, 1, 1001), [1e-300, 1e-17, 1 - 1e-16, np.nan]])
DF = np.array([0.5, 1, 2, 3.5, 10, 29, 100, 1e6])


def same(a, b) -> bool:
    return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)


def test_the_normal_functions_are_scipys():
    assert same(dist.norm_cdf(X), sps.norm.cdf(X))
    assert same(dist.norm_sf(X), sps.norm.sf(X))
    assert same(dist.norm_ppf(Q), sps.norm.ppf(Q))
    assert same(dist.logistic_cdf(X), sps.logistic.cdf(X))


@pytest.mark.parametrize("df", DF)
def test_t_chi2_and_f_are_scipys(df):
    assert same(dist.t_sf(X, df), sps.t.sf(X, df))
    assert same(dist.t_ppf(Q, df), sps.t.ppf(Q, df))
    positive = np.abs(X)
    assert same(dist.chi2_sf(positive, df), sps.chi2.sf(positive, df))
    assert same(dist.chi2_ppf(Q, df), sps.chi2.ppf(Q, df))
    assert same(dist.chi2_isf(Q, df), sps.chi2.isf(Q, df))
    assert same(dist.f_sf(positive, 1, df + 2), sps.f.sf(positive, 1, df + 2))


def test_arrays_of_degrees_and_scalars_broadcast_as_scipy():
    assert same(dist.t_ppf(0.975, DF), sps.t.ppf(0.975, DF))
    assert same(dist.t_sf(2.0, DF), sps.t.sf(2.0, DF))
    assert isinstance(float(dist.norm_ppf(0.975)), float)
    k = np.arange(15)
    assert same(dist.poisson_cdf(k, 1.0), sps.poisson.cdf(k, 1.0))
    assert same(dist.poisson_cdf(k + 0.5, 2.5), sps.poisson.cdf(k + 0.5, 2.5))


def test_the_jensen_shannon_distance_is_scipys():
    rng = np.random.default_rng(7)
    for _ in range(200):
        k = int(rng.integers(2, 30))
        p = rng.integers(0, 50, k).astype(float) + (rng.random(k) < 0.5)
        q = rng.integers(0, 50, k).astype(float) + 1
        p, q = p / p.sum(), q / q.sum()
        assert _jensen_shannon(p, q) == float(jensenshannon(p, q, base=2))


def test_analyses_import_without_scipy_stats():
    """scipy.stats costs ~0.4 s of CPU to import: no analysis module may pull it in at
    import time (only the rare paths that need it, when they run)."""
    code = (
        "import sys\n"
        "import aidebt.disaggregate, aidebt.decay, aidebt.drift, aidebt.simpson, aidebt.compare\n"
        "import aidebt.trend, aidebt.changepoints, aidebt.fairness, aidebt.labels\n"
        "import aidebt.feedback, aidebt.slices, aidebt.lifecycle, aidebt.versions\n"
        "import aidebt.estimate, aidebt.refresh, aidebt.curve, aidebt.gates\n"
        "print(sorted(m for m in sys.modules if m.startswith(('scipy.stats', 'scipy.spatial',"
        " 'statsmodels'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
