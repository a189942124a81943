"""Change points of a decay curve: binary segmentation, each split tested under real noise.

:meth:`aidebt.decay.Decay.changepoints` segments the per-period values by binary
segmentation. Each segment is tested for one change in level against a null that holds on
production data, not only on binomial noise: a period's value is its sampling error
(binomial, or the stored standard error) plus a period effect that wobbles from period to
period and is correlated across neighbouring periods (AR(1); :mod:`aidebt.noise`). The
period effect's variance is estimated robustly from first differences, so a real step
does not inflate it. Each split's statistic is the generalized-least-squares F statistic of
a two-level model under that noise (its scale left free, as a quasi-likelihood), and the
largest over the admissible splits is compared with its distribution under no change,
simulated on the same periods (a parametric bootstrap), which accounts for the search over
splits. It reads the curve through :class:`aidebt.decay.Decay`'s public attributes
(``estimates``, ``stats``, ``label``).

References: Csorgo, M. and Horvath, L. (1997), *Limit Theorems in Change-Point Analysis*,
Wiley (the maximum of two-sample statistics over splits, binary segmentation); Aue, A. and
Horvath, L. (2013), "Structural breaks in time series", *Journal of Time Series Analysis*
34 (change points under dependence: the noise's long-run variance, not its marginal
variance, sets the null); Rousseeuw, P. J. and Croux, C. (1993) for the robust scale.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from aidebt import aggregate, prose
from aidebt import metrics as mreg
from aidebt import stats as st
from aidebt.distributions import chi2_isf, chi2_sf, f_sf
from aidebt.errors import InvalidArgumentError
from aidebt.groups import iter_groups
from aidebt.noise import AUTOCORRELATION, ar1_correlation, check_autocorrelation, period_variance
from aidebt.results import Result, conform

if TYPE_CHECKING:
    from aidebt.decay import Decay

__all__ = ["Changepoints", "binary_segmentation"]

COLUMNS = {
    "before": pl.Float64,
    "before_ci_low": pl.Float64,
    "before_ci_high": pl.Float64,
    "after": pl.Float64,
    "after_ci_low": pl.Float64,
    "after_ci_high": pl.Float64,
    "diff": pl.Float64,
    "statistic": pl.Float64,
    "p_value": pl.Float64,
}
"""The columns of :attr:`Changepoints.table` after the group columns and ``period``."""


_MAX_PAIRS = 2500  # split pairs searched for the noise scale (a coarser grid beyond)


def _split_stats(
    z: np.ndarray,
    white: np.ndarray,
    min_size: int,
    free_scale: bool,
    numerators: bool = False,
    two_level: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """The statistic of one change in level at each admissible split, for many series.

    ``z`` (..., k) are whitened series (``white @ values``), ``white`` the whitening matrix
    of the noise covariance (the inverse of its Cholesky factor). In the whitened space
    the no-change model is the line spanned by ``white @ 1`` and a change after ``j``
    periods adds ``white @ 1[:j]``; the numerator is the drop in the residual sum of
    squares from adding it (chi-square(1) when the noise scale is known). With a free
    scale it is divided by a residual mean square: that of the best fit with two changes
    (three levels), so that a second change in the segment (a dip and a recovery) does not
    inflate the scale and mask the first; Bai and Perron (1998) test one more break
    against the residuals of the model with more breaks the same way. Segments too short
    for three levels use the two-level fit's residuals. Returns (..., k - 2 * min_size + 1):
    splits after period min_size-1 ... k-min_size-1. ``two_level=True`` divides each split's
    numerator by its own two-level residual mean square instead: exactly F(1, k - 2) at
    that split, what a fixed penalty reads (and the numerators, with
    ``numerators=True``: they rank the splits when a noiseless series makes every
    statistic infinite).
    """
    k = z.shape[-1]
    ones = white.sum(axis=1)
    e1 = ones / np.linalg.norm(ones)
    cols = np.cumsum(white, axis=1)[:, min_size - 1 : k - min_size]  # white @ 1[:j]
    perp = cols - np.outer(e1, e1 @ cols)
    norm = np.linalg.norm(perp, axis=0)
    unit = perp / np.where(norm > 0, norm, np.inf)
    along = z @ unit
    num = along**2
    if not free_scale:
        return (num, num) if numerators else num
    total = np.sum(z * z, axis=-1, keepdims=True)
    null_rss = total - (z @ e1)[..., None] ** 2
    best, dof = (None, None) if two_level else _best_two_changes(z, perp, unit, along, min_size, k)
    if best is None:  # each split's own two-level residuals
        rss, dof = null_rss - num, k - 2
    else:
        rss = null_rss - np.maximum(best, num)
    # a segment constant to rounding (a flat noiseless series) has no change to find
    flat = null_rss <= 1e-24 * total
    with np.errstate(divide="ignore", invalid="ignore"):
        f = num / (np.maximum(rss, 0.0) / dof)
    f = np.where(flat | np.isnan(f), 0.0, f)
    return (f, num) if numerators else f


def _best_two_changes(z, perp, unit, along, min_size, k):
    """The largest drop in the residual sum of squares from two changes (three levels), per
    series, and the residual degrees of freedom; (None, None) when the segment is too short.

    For the splits ``i < j`` (at least ``min_size`` apart), the second change's direction is
    the first's complement: its component along ``unit[i]`` removed. Vectorized over the
    pairs with a Gram matrix; long series search the pairs on a coarser grid of splits (any
    grid is valid: the simulated null uses the same one).
    """
    splits = perp.shape[1]
    if k < 3 * min_size or k < 4 or splits < min_size + 1:
        return None, None
    step = max(1, int(np.ceil(splits / np.sqrt(2 * _MAX_PAIRS))))
    grid = np.arange(0, splits, step)
    i, j = np.triu_indices(len(grid), 1)
    i, j = grid[i], grid[j]
    keep = j - i >= min_size
    i, j = i[keep], j[keep]
    if len(i) == 0:
        return None, None
    cross = np.einsum("tp,tp->p", unit[:, i], perp[:, j])  # unit_i . perp_j
    length = np.einsum("tp,tp->p", perp[:, j], perp[:, j])
    second = length - cross**2
    ok = second > 1e-12 * length
    i, j, cross, second = i[ok], j[ok], cross[ok], second[ok]
    zp = (z @ perp)[..., j]
    gain = along[..., i] ** 2 + (zp - cross * along[..., i]) ** 2 / second
    return gain.max(axis=-1, keepdims=True), k - 3


class _Noise:
    """The noise covariance of one series: sampling variances plus a period effect."""

    def __init__(self, values, sampling, periods, dispersion, rho) -> None:
        self.periods = np.asarray(periods, dtype=float)
        if dispersion is None:
            self.period = period_variance(values, sampling, self.periods, rho)
            self.lam, self.rho, self.free_scale = self.period.variance, rho, True
        else:  # the stated noise: sampling variance times dispersion, independent periods
            self.period = None
            self.lam, self.rho, self.free_scale = 0.0, 0.0, False
            self.dispersion = float(dispersion)

    def covariance(self, sampling: np.ndarray, lo: int, hi: int) -> np.ndarray:
        if not self.free_scale:
            return np.diag(self.dispersion * sampling)
        return np.diag(sampling) + self.lam * ar1_correlation(self.periods[lo:hi], self.rho)

    def effects(self, lo: int, hi: int, size: int, rng: np.random.Generator) -> np.ndarray:
        """``size`` draws of the period effects of periods ``lo:hi`` under no change, each
        with a variance as uncertain as its estimate (:meth:`PeriodNoise.plausible`)."""
        if self.period is None:
            return np.zeros((size, hi - lo))
        scale = np.sqrt(self.period.plausible(size, rng))[:, None]
        return scale * _gaussian(ar1_correlation(self.periods[lo:hi], self.rho), size, rng)


def _test_segment(v, b_of, noise: _Noise, lo, hi, min_size, n_sim, rng, penalty, draw):
    """Best split of one segment, its statistic and its p-value under no change.

    With a fixed ``penalty`` the statistic is put on the chi-square(1) scale (the F
    statistic through its tail probability) and the p-value is that one split's tail,
    ignoring the search; otherwise the p-value is the share of simulated no-change series
    whose largest statistic reaches the observed one.
    """
    k = hi - lo
    seg = v[lo:hi]
    b = b_of(lo, hi)
    cov = noise.covariance(b, lo, hi)
    chol = np.linalg.cholesky(cov)
    white = np.linalg.solve(chol, np.eye(k))
    obs, num = _split_stats(
        white @ seg,
        white,
        min_size,
        noise.free_scale,
        numerators=True,
        two_level=penalty is not None,
    )
    best = int(np.argmax(np.where(obs == obs.max(), num, -np.inf)))
    stat = float(obs[best])
    if penalty is not None:
        if not noise.free_scale:
            return best + min_size, stat, float(chi2_sf(stat, 1))
        tail = float(f_sf(stat, 1, k - 2))
        return best + min_size, float(chi2_isf(tail, 1)), tail
    # the stated noise (a given dispersion) is Gaussian with that covariance; the estimated
    # one is drawn as the data arise (binomial counts around period effects)
    raw = draw(lo, hi, b, n_sim, rng) if noise.free_scale else _gaussian(cov, n_sim, rng)
    sims = raw @ white.T
    null_max = _split_stats(sims, white, min_size, noise.free_scale).max(axis=-1)
    p = (1 + np.sum(null_max >= stat * (1 - 1e-12))) / (n_sim + 1)
    return best + min_size, stat, float(p)


def binary_segmentation(
    y: np.ndarray,
    n: np.ndarray,
    *,
    kind: str = "binomial",
    alpha: float = 0.01,
    min_size: int = 2,
    max_changes: int | None = None,
    dispersion: float | None = None,
    autocorrelation: float = AUTOCORRELATION,
    penalty: float | None = None,
    n_sim: int = 2000,
    seed: int = 0,
    periods: np.ndarray | None = None,
) -> list[tuple[int, float, float]]:
    """Change points of a sequence of per-period counts: [(position, statistic, p), ...].

    ``position`` is the index of the first period after a change. ``kind="binomial"``:
    ``y`` successes out of ``n`` trials; ``"gaussian"``: ``n`` the weights ``1/SE^2`` of
    the per-period values and ``y`` the weighted values ``value * n``. ``periods``: the
    period numbers (default ``0, 1, ...``), for the correlation of period effects across
    gaps. The other options are those of :meth:`aidebt.decay.Decay.changepoints`, which
    describes the test.

    Examples
    --------
    >>> n = np.full(12, 1000.0)
    >>> y = np.r_[np.full(6, 900.0), np.full(6, 850.0)] + np.tile([3.0, -3.0], 6)
    >>> [pos for pos, _, _ in binary_segmentation(y, n)]
    [6]
    """
    options = dict(alpha=alpha, min_size=min_size, max_changes=max_changes, penalty=penalty)
    noise = dict(dispersion=dispersion, autocorrelation=autocorrelation, periods=periods)
    return _segmentation(y, n, kind=kind, n_sim=n_sim, seed=seed, **options, **noise)[0]


def _segmentation(
    y: np.ndarray,
    n: np.ndarray,
    *,
    kind: str = "binomial",
    alpha: float = 0.01,
    min_size: int = 2,
    max_changes: int | None = None,
    dispersion: float | None = None,
    autocorrelation: float = AUTOCORRELATION,
    penalty: float | None = None,
    n_sim: int = 2000,
    seed: int | list[int] = 0,
    periods: np.ndarray | None = None,
) -> tuple[list[tuple[int, float, float]], _Noise]:
    """:func:`binary_segmentation`, and the noise model it tested under."""
    rng = np.random.default_rng(seed)
    y, n = np.asarray(y, dtype=float), np.asarray(n, dtype=float)
    v = y / n
    periods = np.arange(len(v)) if periods is None else np.asarray(periods)
    rho = check_autocorrelation(autocorrelation)
    if kind == "binomial":
        trials = np.maximum(np.round(n).astype(np.int64), 0)

        def b_of(lo, hi):  # binomial variance at the segment's pooled rate
            rate = y[lo:hi].sum() / n[lo:hi].sum()
            return np.maximum(rate * (1 - rate), 0.25 / n[lo:hi].sum()) / n[lo:hi]

        def draw(lo, hi, b, size, rng):
            # binomial counts around period effects: exact at small sizes, where a
            # Gaussian approximation of the counts would not be
            rate = y[lo:hi].sum() / n[lo:hi].sum()
            p = np.clip(rate + noise.effects(lo, hi, size, rng), 0.0, 1.0)
            return rng.binomial(trials[lo:hi], p) / np.maximum(trials[lo:hi], 1)

        sampling = b_of(0, len(v))
    else:

        def b_of(lo, hi):
            return 1 / n[lo:hi]

        def draw(lo, hi, b, size, rng):
            sampling = rng.standard_normal((size, hi - lo)) * np.sqrt(b)
            return sampling + noise.effects(lo, hi, size, rng)

        sampling = 1 / n
    noise = _Noise(v, sampling, periods, dispersion, rho)
    smallest = max(2 * min_size, 3)  # a free scale needs a residual degree of freedom
    found: list[tuple[int, float, float]] = []
    queue = [(0, len(v))]
    while queue:
        lo, hi = queue.pop(0)
        if hi - lo < smallest:
            continue
        if max_changes is not None and len(found) >= max_changes:
            break
        pos, stat, p = _test_segment(v, b_of, noise, lo, hi, min_size, n_sim, rng, penalty, draw)
        if (stat > penalty) if penalty is not None else (p < alpha):
            found.append((lo + pos, stat, p))
            queue.extend([(lo, lo + pos), (lo + pos, hi)])
    return sorted(found), noise


def _gaussian(cov: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` draws of N(0, cov) (cov may be singular: period effects alone)."""
    w, vec = np.linalg.eigh(cov)
    return (rng.standard_normal((size, len(w))) * np.sqrt(np.maximum(w, 0))) @ vec.T


class Changepoints(Result):
    """Result of :meth:`Decay.changepoints`.

    Attributes
    ----------
    table : polars.DataFrame
        One row per change point (per group with ``by``): ``period`` (first period after
        the change), ``before``, ``before_ci_low``, ``before_ci_high``, ``after``,
        ``after_ci_low``, ``after_ci_high`` (the metric over the segments on either side,
        pooled from their sufficient statistics), ``diff`` (after - before), ``statistic``
        (the split's F statistic under the period-level noise; on the chi-square(1) scale
        with a ``penalty``) and ``p_value`` (the share of simulated series with no change
        and the same noise whose largest statistic reaches it).
    segments : polars.DataFrame
        Each segment between change points: ``start``, ``end``, ``value``, ``ci_low``,
        ``ci_high``, ``n``.
    index : polars.Series
        The period number of each change point (``table``'s order), as
        :meth:`aidebt.decay.Decay.label` and ``fit(start=...)`` read them.
    decay : Decay
        The curve the change points were found in.
    """

    title = "Change points"

    @classmethod
    def from_decay(
        cls,
        d: Decay,
        alpha,
        min_size,
        max_changes,
        dispersion,
        penalty,
        n_sim,
        seed,
        autocorrelation=AUTOCORRELATION,
    ) -> Changepoints:
        """Detect a decay curve's change points (see :meth:`aidebt.decay.Decay.changepoints`)."""
        if not 0 < alpha < 1:
            raise InvalidArgumentError(f"alpha={alpha!r} must be between 0 and 1, e.g. 0.01.")
        if not isinstance(min_size, int) or min_size < 1:
            raise InvalidArgumentError(f"min_size={min_size!r} must be an integer >= 1.")
        if dispersion is not None and (
            isinstance(dispersion, bool)
            or not isinstance(dispersion, (int, float))
            or dispersion <= 0
        ):
            raise InvalidArgumentError(
                f"dispersion={dispersion!r} must be None (estimate the period-level noise) "
                "or a number > 0."
            )
        check_autocorrelation(autocorrelation)
        if penalty is not None and (not isinstance(penalty, (int, float)) or penalty < 0):
            raise InvalidArgumentError(f"penalty={penalty!r} must be a number >= 0 or None.")
        m = d.metric
        kind = "binomial" if m.binomial else "gaussian"
        data = d.estimates.filter(pl.col("value").is_not_null() & (pl.col("n") > 0))
        if d.by:
            by_group = d.stats.partition_by(d.by, as_dict=True, maintain_order=True)
        else:
            by_group = {(): d.stats}
        changes, segments, noises = [], [], []
        z = st.normal_quantile(d.confidence)
        for number, (key, part) in enumerate(iter_groups(data, d.by)):
            idx = part.get_column("_p").to_numpy()
            if kind == "binomial":
                y = part.get_column("_x").to_numpy().astype(float)
                n = part.get_column("n").to_numpy().astype(float)
            else:
                se = part.get_column("_se").fill_null(np.nan).to_numpy().astype(float)
                ok = np.isfinite(se) & (se > 0)
                part, idx, se = part.filter(pl.Series(ok)), idx[ok], se[ok]
                n = 1 / se**2
                y = part.get_column("value").to_numpy().astype(float) * n
            if len(idx) == 0:
                continue
            found, noise = _segmentation(
                y,
                n,
                kind=kind,
                alpha=alpha,
                min_size=min_size,
                max_changes=max_changes,
                dispersion=dispersion,
                autocorrelation=autocorrelation,
                penalty=penalty,
                n_sim=n_sim,
                seed=[seed, number],  # each group its own draws: independent errors
                periods=idx,
            )
            noises.append(noise)
            bounds = [0, *[pos for pos, _, _ in found], len(idx)]
            seg_rows = _segment_values(d, idx, bounds, by_group[key], part, z)
            for a, b, seg in zip(bounds[:-1], bounds[1:], seg_rows, strict=True):
                segments.append(
                    {
                        **dict(zip(d.by, key, strict=True)),
                        "start": d.label(idx[a]),
                        "end": d.label(idx[b - 1]),
                        "periods": b - a,
                        **seg,
                    }
                )
            for i, (pos, stat, p) in enumerate(found):
                before, after = seg_rows[i], seg_rows[i + 1]
                changes.append(
                    {
                        **dict(zip(d.by, key, strict=True)),
                        "_p": int(idx[pos]),
                        "before": before["value"],
                        "before_ci_low": before["ci_low"],
                        "before_ci_high": before["ci_high"],
                        "after": after["value"],
                        "after_ci_low": after["ci_low"],
                        "after_ci_high": after["ci_high"],
                        "diff": (after["value"] or np.nan) - (before["value"] or np.nan),
                        "statistic": stat,
                        "p_value": p,
                    }
                )
        table = conform(changes, {"_p": pl.Int64, **COLUMNS}, lead=dict.fromkeys(d.by, pl.String))
        if d.axis == "calendar":
            period = pl.Series("period", d.every.start(table["_p"].to_numpy())).cast(pl.Date)
        else:
            period = table["_p"].alias("period")
        table = table.with_columns(period).select(*d.by, "period", *COLUMNS, "_p")
        out = cls(table.drop("_p"))
        out.index = table["_p"]
        out.segments = pl.DataFrame(segments, infer_schema_length=None)
        out.decay = d
        out.alpha = alpha
        out.min_size = min_size
        out.n_sim = n_sim
        out.penalty = penalty
        out.dispersion = dispersion
        out.autocorrelation = autocorrelation
        out._noises = noises
        return out

    def summary(self) -> list[str]:
        d = self.decay
        name = d.metric.name
        lines = []
        if self.table.height == 0:
            rule = (
                f"a split needs a statistic above {self.penalty:g}"
                if self.penalty is not None
                else f"each split tested at {self.alpha:g} against simulated series with no "
                "change and the same period-to-period noise"
            )
            return [
                f"No change point in {name} (binary segmentation, {rule}; segments of "
                f">= {self.min_size} periods)."
            ]
        for row, idx in zip(self.table.iter_rows(named=True), self.index, strict=True):
            who = f" for {prose.group_phrase(row, d.by)}" if d.by else ""
            lines.append(
                f"{name}{who} changed at {d.label(idx)}: {row['before']:.3f} "
                f"({row['before_ci_low']:.3f} to {row['before_ci_high']:.3f}) before, "
                f"{row['after']:.3f} ({row['after_ci_low']:.3f} to {row['after_ci_high']:.3f}) "
                + (
                    f"after (statistic {row['statistic']:.1f} > penalty {self.penalty:g})."
                    if self.penalty is not None
                    else f"after (tested against no change, {_p_text(row['p_value'], self.n_sim)})."
                )
            )
        return lines

    def notes(self) -> list[str]:
        """The noise a change had to stand out of: the period-level wobble beyond sampling
        error, and the correlation assumed between neighbouring periods."""
        if self.dispersion is not None:
            return [
                f"Change points tested under sampling noise times {self.dispersion:g}, periods "
                "independent: period-to-period wobble beyond that would read as change points."
            ]
        estimated = [x.period for x in self._noises if x.period is not None]
        if not estimated:
            return []
        m = self.decay.metric
        scale, unit = (100.0, " points") if m.in_points else (1.0, "")
        sds = sorted(np.sqrt(x.variance) * scale for x in estimated)
        if len(sds) == 1:
            wobble = f"{sds[0]:.2g}{unit}"
        else:
            wobble = f"{sds[0]:.2g} to {sds[-1]:.2g}{unit} across the groups"
        few = [x for x in estimated if x.df == 0]
        lines = [
            f"Period-to-period wobble beyond sampling error, estimated from the differences "
            f"between consecutive periods: {wobble} (standard deviation); neighbouring "
            f"periods are assumed correlated {self.autocorrelation:g}. A change point must "
            "stand out of that noise, not only out of sampling error."
        ]
        if few:
            lines.append(
                f"{len(few)} series have too few periods to estimate that wobble: only "
                "sampling error is assumed there."
            )
        return lines

    def chart(self, **kwargs: Any):
        """The decay curve with a rule at each change point."""
        from aidebt import charts

        d = self.decay
        return charts.decay_chart(
            d.table,
            by=d.by,
            metric=d.metric.name,
            axis=d.axis,
            unit=d.every.noun(),
            changepoints=self.table,
            **kwargs,
        )


def _p_text(p: float, n_sim: int) -> str:
    """'p=0.003', or 'p<0.001' when no bootstrap draw reached the statistic."""
    floor = 1 / (n_sim + 1)
    if p <= floor * 1.000001:
        return f"p<{10 ** np.ceil(np.log10(floor)):.0g}"
    return f"p={p:.2g}"


def _segment_values(d: Decay, idx, bounds, stats, part, z) -> list[dict]:
    """The metric pooled over each segment's periods, from its summed sufficient statistics
    (one :func:`aidebt.metrics.evaluate` call for all the segments of a series)."""
    m = d.metric
    out = []
    if m.additive:
        cols = aggregate.stat_columns(stats, [*d.by, "_p"])
        by_period = stats.select("_p", *cols)
        position = {int(p): i for i, p in enumerate(by_period["_p"].to_list())}
        matrix = by_period.select(cols).to_numpy().astype(float)
        sums = []
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            rows = [position[int(p)] for p in idx[a:b]]
            sums.append(matrix[rows].sum(axis=0))
        pooled = pl.DataFrame(np.vstack(sums), schema=cols, orient="row")
        values = mreg.evaluate(pooled, [], m, confidence=d.confidence, ci=d.ci)
        return [
            {k: row[k] for k in ("value", "ci_low", "ci_high", "n")}
            for row in values.iter_rows(named=True)
        ]
    # AUC has no additive pooling here: inverse-variance weighted mean of the periods.
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        seg = part.slice(a, b - a)
        value = seg["value"].to_numpy()
        w = 1 / seg["_se"].fill_null(np.nan).to_numpy() ** 2
        mean = float(np.sum(w * value) / np.sum(w))
        s = float(1 / np.sqrt(np.sum(w)))
        out.append(
            {
                "value": mean,
                "ci_low": mean - z * s,
                "ci_high": mean + z * s,
                "n": float(seg["n"].sum()),
            }
        )
    return out
