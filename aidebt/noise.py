"""Period-level noise beyond sampling error: the month effect that trends and change points face.

A production metric measured per period is not a binomial draw around a smooth curve.
Each period has its own small wobble (the traffic mix, a holiday, a labeling batch): at
50,000 decisions a month, half a point of month-to-month wobble dwarfs the 0.13-point
binomial standard error, and neighbouring months wobble together. aidebt models each
period's value as

    value_t = curve(t) + u_t + e_t,

with ``e_t`` the sampling error (binomial, or the stored standard error; variance ``b_t``,
known) and ``u_t`` a period effect of variance ``lam`` that follows a stationary AR(1)
across periods, ``corr(u_s, u_t) = rho ** |s - t|`` (period numbers, so a gap counts).

``lam`` is estimated robustly from first differences (:func:`period_variance`): a change in
level or a steady trend moves one difference or all of them by the same amount, so a
location-free robust scale of the differences (Rousseeuw and Croux's Qn) is not inflated
by the changes the analyses look for. ``rho`` cannot be estimated from a dozen periods
(the standard error of a lag-1 autocorrelation from 12 points is about 0.25), so it is a
stated working assumption, 0.5 by default: months of production data are typically that
correlated, and assuming it when the truth is 0 only widens intervals.

References: Rousseeuw, P. J. and Croux, C. (1993), "Alternatives to the median absolute
deviation", JASA 88; Croux, C. and Rousseeuw, P. J. (1992), "Time-efficient algorithms for
two highly robust estimators of scale" (the small-sample factors); Satterthwaite, F. E.
(1946), "An approximate distribution of estimates of variance components" (the degrees
of freedom of a variance with an estimated component).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from aidebt.errors import InvalidArgumentError

__all__ = ["PeriodNoise", "ar1_correlation", "check_autocorrelation", "period_variance"]

AUTOCORRELATION = 0.5
"""The default working lag-1 correlation of period effects."""

# Croux and Rousseeuw (1992): Qn's small-sample consistency factors.
_QN_SMALL = {2: 0.399, 3: 0.994, 4: 0.512, 5: 0.844, 6: 0.611, 7: 0.857, 8: 0.669, 9: 0.872}


_QN_NORMAL = 1 / (np.sqrt(2) * 0.31863936396437514)  # 1 / (sqrt 2 * Phi^-1(5/8)) = 2.2191
_QN_PAIRS = 2000  # up to this length, the k-th pairwise distance directly (vectorized)


@lru_cache(maxsize=64)
def _pairs(m: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(m, 1)


def _qn(a: np.ndarray) -> float:
    """Qn scale of ``a`` (Rousseeuw and Croux 1993): the k-th smallest of the pairwise
    distances, k = C(h, 2) with h = m // 2 + 1, times the normal consistency constant and
    Croux and Rousseeuw's small-sample factor. Equal to statsmodels' ``qn_scale`` times
    that factor; computed directly for short series (it is called inside a bisection)."""
    return float(_qn_rows(np.asarray(a, dtype=float)[None, :])[0])


def _qn_rows(a: np.ndarray) -> np.ndarray:
    """:func:`_qn` of each row of ``a`` (groups x m), vectorized over the rows."""
    m = a.shape[1]
    factor = _QN_SMALL.get(m) or (m / (m + 1.4) if m % 2 else m / (m + 3.8))
    if m > _QN_PAIRS:
        from statsmodels.robust.scale import qn_scale

        return np.array([float(qn_scale(row)) * factor for row in a])
    i, j = _pairs(m)
    h = m // 2 + 1
    k = h * (h - 1) // 2
    pairs = np.abs(np.take(a, i, axis=1) - np.take(a, j, axis=1))  # take: faster than a[:, i]
    kth = np.partition(pairs, k - 1, axis=1)[:, k - 1]
    return kth * _QN_NORMAL * factor


def check_autocorrelation(rho: float) -> float:
    """``rho`` as a float in [0, 1), or an error that says so."""
    if isinstance(rho, bool) or not isinstance(rho, (int, float, np.floating)):
        raise InvalidArgumentError(f"autocorrelation={rho!r} must be a number in [0, 1), e.g. 0.5.")
    if not 0 <= rho < 1:
        raise InvalidArgumentError(
            f"autocorrelation={rho!r} must be in [0, 1): the lag-1 correlation of period "
            "effects (0 = independent periods, 0.5 = the default)."
        )
    return float(rho)


def ar1_correlation(periods: np.ndarray, rho: float) -> np.ndarray:
    """The AR(1) correlation matrix ``rho ** |p_i - p_j|`` of periods numbered ``periods``."""
    p = np.asarray(periods, dtype=float)
    if rho == 0:
        return np.eye(len(p))
    return rho ** np.abs(p[:, None] - p[None, :])


@dataclass(frozen=True)
class PeriodNoise:
    """A series' period-effect variance and how well it is known.

    ``variance`` is ``lam`` on the scale of the values it was estimated from; ``rho`` the
    working AR(1) correlation; ``df`` the effective degrees of freedom of the estimate
    (``inf`` when given, not estimated; 0 when there were too few periods to estimate it,
    in which case ``variance`` is 0); ``periods`` how many periods it rests on.
    """

    variance: float
    rho: float
    df: float
    periods: int
    spread: float = 0.0  # the estimated mean variance of a difference (not floored)
    sampling: float = 0.0  # its sampling part, b_t + b_s on average
    effect: float = 0.0  # its period-effect part per unit variance, 2 (1 - rho^gap)

    @property
    def estimated(self) -> bool:
        return self.df > 0

    def plausible(self, size: int, rng: np.random.Generator) -> np.ndarray:
        """``size`` period-effect variances as uncertain as the estimate.

        The differences' spread is known up to a chi-square with ``df`` degrees of
        freedom: a plausible true spread is the estimate times ``df / chi2(df)`` (its
        fiducial distribution), and the period-effect variance is what that spread leaves
        after sampling error (0 when none). Simulating a null with these, rather than with
        the estimate itself, makes a test's p-value account for how poorly a dozen periods
        pin the wobble down: a plug-in estimate that happens to be low would otherwise
        make the test too eager.
        """
        if not self.estimated or self.effect <= 0:
            return np.full(size, self.variance)
        return self._variance_at(rng.chisquare(self.df, size))

    def plausible_quantiles(self, points: int = 64) -> np.ndarray:
        """:meth:`plausible`'s distribution at ``points`` evenly spaced probabilities (a
        deterministic quadrature of it, for intervals)."""
        fields = {f: np.array([getattr(self, f)]) for f in _FIELDS}
        return plausible_quantiles(fields, points)[0]

    def _variance_at(self, chi2: np.ndarray) -> np.ndarray:
        spread = self.spread * self.df / np.maximum(chi2, 1e-300)
        return np.maximum(spread - self.sampling, 0.0) / self.effect


def period_variance(
    values: np.ndarray, variances: np.ndarray, periods: np.ndarray, rho: float
) -> PeriodNoise:
    """Robust estimate of the period-effect variance of one series.

    The differences of consecutive observed periods, ``d = v_t - v_s``, have variance
    ``b_t + b_s + 2 lam (1 - rho^(t - s))`` under the model of this module with a locally
    flat curve. ``lam`` is the smallest value >= 0 at which the differences, standardized
    by that variance, have a Qn scale of 1 (0 when the differences scatter no more than
    sampling error explains). Qn (Rousseeuw and Croux 1993) is location-free (a trend
    shifts every difference alike) and has a 50% breakdown point (a change in level moves
    one difference): neither inflates the estimate.

    Its precision: on ``m`` differences, the Qn variance behaves like a chi-square with
    about ``(m - 1) / 2`` degrees of freedom (measured by simulation for m = 5 to 47 under
    independent and AR(1) noise; the differences are themselves correlated, which is why
    it is fewer than the sample variance's). That is ``df``.

    Parameters
    ----------
    values
        The per-period values (proportions, log-odds, means...), in period order.
    variances
        Their known sampling variances ``b_t``.
    periods
        Their period numbers (integers; a gap makes two periods further apart).
    rho
        The working lag-1 correlation of period effects.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> wobble = rng.normal(0, 0.006, 24)           # 0.6 points of month effect
    >>> b = np.full(24, 0.9 * 0.1 / 50_000)         # binomial variance at 50,000 rows
    >>> v = 0.9 + wobble + rng.normal(0, np.sqrt(b))
    >>> v[12:] -= 0.03                              # a 3-point drop does not inflate it
    >>> noise = period_variance(v, b, np.arange(24), rho=0.0)
    >>> bool(0.003 < noise.variance ** 0.5 < 0.009), noise.df
    (True, 11.0)
    """
    v = np.asarray(values, dtype=float)
    b = np.asarray(variances, dtype=float)
    p = np.asarray(periods, dtype=float)
    ok = np.isfinite(v) & np.isfinite(b) & (b >= 0)
    fields = period_variances(v[ok][None, :], b[ok][None, :], p[ok][None, :], rho)
    values_ = {f: float(fields[f][0]) for f in _FIELDS}
    return PeriodNoise(rho=rho, **{**values_, "periods": int(values_["periods"])})


_FIELDS = ("variance", "df", "periods", "spread", "sampling", "effect")
"""The fields of :class:`PeriodNoise` that :func:`period_variances` returns as arrays."""


def period_variances(
    values: np.ndarray, variances: np.ndarray, periods: np.ndarray, rho: float
) -> dict[str, np.ndarray]:
    """:func:`period_variance` of many series of the same length at once.

    ``values``, ``variances`` and ``periods`` are arrays of shape (series, periods), every
    entry finite with ``variances >= 0`` (the caller drops the others, as
    :func:`period_variance` does). Returns :class:`PeriodNoise`'s fields (``variance``,
    ``df``, ``periods``, ``spread``, ``sampling``, ``effect``) as arrays of one value per
    series: the same numbers as one call per series (the same bisection, run on every
    series in step).
    """
    v, b, p = (np.asarray(a, dtype=float) for a in (values, variances, periods))
    g, k = v.shape
    m = k - 1
    zeros = np.zeros(g)
    if m < 2:
        return dict(
            variance=zeros,
            df=zeros,
            periods=np.full(g, k),
            spread=zeros,
            sampling=zeros,
            effect=zeros,
        )
    d = np.diff(v, axis=1)
    bb = b[:, 1:] + b[:, :-1]
    lag = 2 * (1 - rho ** np.diff(p, axis=1))  # 2 (1 - rho^gap): the period effects' share

    def excess(lam: np.ndarray, rows) -> np.ndarray:
        scale = np.sqrt(bb[rows] + lam[:, None] * lag[rows])
        return _qn_rows(d[rows] / np.where(scale > 0, scale, np.inf)) - 1

    everyone = slice(None)
    sampling, effect = bb.mean(axis=1), lag.mean(axis=1)
    at_zero = excess(zeros, everyone)
    # no spread beyond sampling error; how much less than it, for plausible()
    calm = ~np.all(bb + lag > 0, axis=1) | (at_zero <= 0)
    below = np.where(np.all(bb > 0, axis=1), (at_zero + 1) ** 2, 1.0)
    variance, spread = zeros.copy(), below * sampling
    rows = np.flatnonzero(~calm)
    if rows.size:
        lo = np.zeros(rows.size)
        hi = _qn_rows(d[rows]) ** 2 / np.maximum(lag[rows].min(axis=1), 1e-12)
        while True:  # only when the sampling variances are tiny against the spread
            grow = excess(hi, rows) > 0
            if not grow.any():
                break
            hi = np.where(grow, hi * 4, hi)
        for _ in range(60):  # bisection: excess() decreases in lam
            mid = (lo + hi) / 2
            up = excess(mid, rows) > 0
            lo, hi = np.where(up, mid, lo), np.where(up, hi, mid)
        variance[rows] = (lo + hi) / 2
        spread[rows] = sampling[rows] + variance[rows] * effect[rows]
    return dict(
        variance=variance,
        df=np.full(g, max((m - 1) / 2, 0.5)),
        periods=np.full(g, k),
        spread=spread,
        sampling=sampling,
        effect=effect,
    )


def plausible_quantiles(noise: dict[str, np.ndarray], points: int = 64) -> np.ndarray:
    """:meth:`PeriodNoise.plausible_quantiles` of many series (``noise`` as returned by
    :func:`period_variances`): an array of shape (series, points)."""
    from aidebt.distributions import chi2_ppf

    variance = np.asarray(noise["variance"], dtype=float)
    out = np.repeat(variance[:, None], points, axis=1)
    df = np.asarray(noise["df"], dtype=float)
    drawn = (df > 0) & (np.asarray(noise["effect"]) > 0)
    probabilities = (np.arange(points) + 0.5) / points
    for value in np.unique(df[drawn]):  # a few distinct df: one ppf call each
        rows = drawn & (df == value)
        chi2 = chi2_ppf(probabilities, value)
        spread = noise["spread"][rows, None] * value / np.maximum(chi2, 1e-300)
        out[rows] = (
            np.maximum(spread - noise["sampling"][rows, None], 0.0) / noise["effect"][rows, None]
        )
    return out
