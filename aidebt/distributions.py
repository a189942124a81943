"""The tail probabilities and quantiles aidebt needs, straight from ``scipy.special``.

Why not ``scipy.stats``: importing it builds every distribution class scipy has, about
0.4 s of CPU that each analysis would pay before its first figure (``import
aidebt.disaggregate`` took 1.0 s of CPU with it, 0.55 s without). These are the very
functions ``scipy.stats`` calls underneath (``norm.sf`` is ``ndtr(-x)``, ``t.ppf`` is
``stdtrit``, ``chi2.sf`` is ``chdtrc``...), so every value is identical to the last bit
(tests/test_distributions.py compares them on grids). The rare paths that need more
(exact binomial and Kolmogorov distributions, contingency tables) import ``scipy.stats``
where they run.

Examples
--------
>>> from aidebt.distributions import norm_ppf, norm_sf
>>> round(float(norm_ppf(0.975)), 4), round(float(2 * norm_sf(1.96)), 4)
(1.96, 0.05)
"""

from __future__ import annotations

import numpy as np
from scipy import special


def norm_cdf(x):
    """Standard normal distribution function, P(Z <= x)."""
    return special.ndtr(x)


def norm_sf(x):
    """Standard normal upper tail, P(Z > x)."""
    return special.ndtr(np.negative(x))


def norm_ppf(q):
    """Standard normal quantile: the x with P(Z <= x) = q."""
    return special.ndtri(q)


def t_sf(x, df):
    """Student t upper tail on ``df`` degrees of freedom, P(T > x)."""
    return special.stdtr(df, np.negative(x))


def t_ppf(q, df):
    """Student t quantile on ``df`` degrees of freedom."""
    # stdtrit(df, 0) is +inf; scipy.stats sets the quantile of 0 to the lower bound.
    return np.where(np.equal(q, 0), -np.inf, special.stdtrit(df, q))[()]


def chi2_sf(x, df):
    """Chi-square upper tail on ``df`` degrees of freedom, P(X > x)."""
    return special.chdtrc(df, x)


def chi2_ppf(q, df):
    """Chi-square quantile on ``df`` degrees of freedom (as ``scipy.stats.chi2.ppf``)."""
    return 2 * special.gammaincinv(np.divide(df, 2), q)


def chi2_isf(p, df):
    """Chi-square upper quantile: the x with P(X > x) = p."""
    return special.chdtri(df, p)


def f_sf(x, dfn, dfd):
    """F distribution upper tail on (``dfn``, ``dfd``) degrees of freedom."""
    return special.fdtrc(dfn, dfd, x)


def logistic_cdf(x):
    """Standard logistic distribution function, 1 / (1 + exp(-x))."""
    return special.expit(x)


def poisson_cdf(k, mu):
    """Poisson distribution function, P(K <= k) at mean ``mu``."""
    return special.pdtr(np.floor(k), mu)
