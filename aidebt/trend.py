"""Trends of a decay curve, and when they cross a threshold.

:meth:`aidebt.decay.Decay.fit` fits a line to the per-period values: on the log-odds of
the per-period counts for proportions (``model="logistic"``), or through the values with
their stored standard errors (``model="linear"``). Each period sits on the time axis at
the mean time of its rows, not at its start. By default the noise around the line is what
production data show (:mod:`aidebt.noise`): sampling error plus a period-to-period
wobble, correlated between neighbouring periods (AR(1)), whose variance is estimated
robustly on the whole curve; the line is fitted by generalized least squares under that
noise and its interval allows for the wobble's own uncertainty. ``dispersion="pearson"``
keeps the quasi-likelihood fit of independent periods. :meth:`Trend.crossing` inverts the
fitted curve: when it crosses a threshold, with Fieller's interval (the set of dates where
the fitted curve's confidence band contains the threshold) or the delta method. Both read
the curve through :class:`aidebt.decay.Decay`'s public attributes (``estimates``,
``label``, ``index_of``).

Many groups (``by=``) are fitted at once, not one after another: groups with the same
number of periods are stacked into arrays and every step (the noise estimate's bisection,
the iteratively reweighted GLS with numpy's stacked solves, the mixture quantile)
runs on all of them in step, each group stopping where its own fit would; 100,000 groups
of 12 months take seconds (benchmarks/bench_trend_groups.py). :meth:`Trend.crossing`
works on the same arrays: every group's Fieller quadratic (or delta-method interval) is
solved elementwise over the fitted coefficients and their covariances, its cases (flat,
crossed before the data, unbounded, too far ahead) are masks, and its reasons are built
by polars (100,000 groups in a fraction of a second). The limit is per group: a fit
holds a periods x periods covariance (8 x periods² bytes), so a group may have at most
:data:`MAX_PERIODS` (2,000) periods, and a clear error says so above it; groups are
processed in chunks of about 64 MB per such array, so their number is bounded only by
the memory of the per-period table.

References: Newey, W. K. and West, K. D. (1987), "A simple, positive semi-definite,
heteroskedasticity and autocorrelation consistent covariance matrix", Econometrica 55 (why
independent-period standard errors are too small under autocorrelation; with a dozen
periods a kernel estimate of the long-run variance is itself too noisy, so the
autocorrelation is modeled instead); Breslow, N. E. and Clayton, D. G. (1993),
"Approximate inference in generalized linear mixed models", JASA 88; Satterthwaite, F. E.
(1946); Fieller, E. C. (1954), "Some problems in interval estimation", JRSS B 16.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import polars as pl
from scipy.special import expit, ndtr

from aidebt import metrics as mreg
from aidebt import prose
from aidebt import stats as st
from aidebt.distributions import norm_sf, t_sf
from aidebt.errors import InvalidArgumentError, did_you_mean
from aidebt.noise import (
    AUTOCORRELATION,
    PeriodNoise,
    check_autocorrelation,
    period_variances,
    plausible_quantiles,
)
from aidebt.results import Result, conform

if TYPE_CHECKING:
    from aidebt.decay import Decay

__all__ = ["Crossing", "Trend"]

COLUMNS = {
    "model": pl.String,
    "slope": pl.Float64,
    "slope_ci_low": pl.Float64,
    "slope_ci_high": pl.Float64,
    "p_value": pl.Float64,
    "odds_ratio": pl.Float64,
    "change": pl.Float64,
    "change_ci_low": pl.Float64,
    "change_ci_high": pl.Float64,
    "dispersion": pl.Float64,
    "df": pl.Float64,
    "periods": pl.Int64,
    "first": pl.Float64,  # axis coordinates in Trend.estimates, labels in Trend.table
    "last": pl.Float64,
    "decaying": pl.Boolean,
    "rank": pl.Int64,
    "note": pl.String,
}
"""The columns of :attr:`Trend.table` after the group columns."""


def _crossing_columns(axis: str) -> dict[str, Any]:
    """The columns of :attr:`Crossing.table` after the group columns (dates or ages)."""
    when = pl.Datetime("us") if axis == "calendar" else pl.Float64
    return {
        "threshold": pl.Float64,
        "status": pl.String,
        "estimate": when,
        "ci_low": when,
        "ci_high": when,
        "periods_ahead": pl.Float64,
        "method": pl.String,
        "reason": pl.String,
        "_x": pl.Float64,
        "_x_low": pl.Float64,
        "_x_high": pl.Float64,
    }


def _link(model: str):
    if model == "logistic":
        return (
            lambda p: np.log(p / (1 - p)),
            expit,
        )
    return (lambda v: v, lambda eta: eta)


@dataclass
class _Fit:
    """One group's fitted line on the link scale, ``eta = b0 + b1 * (x - x0)``.

    ``x`` is the time axis in fractional period numbers: each period's mean time.
    """

    params: np.ndarray
    cov: np.ndarray
    crit: float
    df: float
    x0: float  # axis coordinates: period numbers, ages, or any numeric axis
    x_first: float
    x_last: float
    dispersion: float
    noise: PeriodNoise | None = None
    p_value: float | None = None  # the slope's, when not a plain t or normal tail
    effect: float = 0.0  # the period-effect variance ``cov`` is computed at

    def eta(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        xc = np.asarray(x, dtype=float) - self.x0
        est = self.params[0] + self.params[1] * xc
        var = self.cov[0, 0] + 2 * xc * self.cov[0, 1] + xc**2 * self.cov[1, 1]
        return est, np.sqrt(np.maximum(var, 0))


class Trend(Result):
    """Result of :meth:`Decay.fit`: a trend per group, its fitted curve and band.

    Attributes
    ----------
    table : polars.DataFrame
        One row per group: ``model``, ``slope`` (per period on the model's scale: log-odds
        for ``"logistic"``, the metric for ``"linear"``), ``slope_ci_low``,
        ``slope_ci_high``, ``p_value`` (slope = 0), ``odds_ratio`` (logistic),
        ``change`` with ``change_ci_low``/``change_ci_high`` (per period on the metric's
        scale, at the last fitted period), ``dispersion``, ``df``, ``periods``,
        ``first``, ``last``, ``decaying`` (the interval excludes 0 in the bad direction),
        ``rank`` (1 = fastest decay) and ``note``. With ``by``, sorted by ``rank``.
    fitted : polars.DataFrame
        Per group and fitted period: ``period``, ``value`` (observed), ``fit``,
        ``fit_low``, ``fit_high`` (pointwise confidence band of the fitted curve).
    """

    title = "Trend"

    @classmethod
    def from_decay(
        cls,
        decay_: Decay,
        model,
        start,
        end,
        dispersion,
        confidence,
        autocorrelation=AUTOCORRELATION,
    ) -> Trend:
        """Fit a decay curve's trend (see :meth:`aidebt.decay.Decay.fit`)."""
        m = decay_.metric
        if model is None:
            model = m.trend_model
        if model not in ("logistic", "linear"):
            raise InvalidArgumentError(
                f"model={model!r} is not a trend model; use 'logistic' (proportions) or "
                "'linear' (any metric)."
            )
        if model == "logistic" and not m.binomial:
            raise InvalidArgumentError(
                f"model='logistic' fits counts of a proportion; {m.name!r} is a {m.kind}. "
                "Use model='linear'."
            )
        check_dispersion(dispersion)
        rho = check_autocorrelation(autocorrelation)
        confidence = st.check_confidence(confidence or decay_.confidence)
        lo_idx, hi_idx = decay_.index_of(start, "start"), decay_.index_of(end, "end")
        by = decay_.by
        data = decay_.estimates.filter(pl.col("value").is_not_null() & (pl.col("n") > 0))
        data, group = _stack(data, by)
        groups = int(group.max()) + 1 if group.size else 0
        counts = np.bincount(group, minlength=groups)
        first_row = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        heads = data.select(by).gather(first_row) if by else pl.DataFrame()
        keys = heads.rows() if by else [()] * groups
        _check_periods(counts, keys, by)
        # the period-level noise of each group, from its whole history (every period of the
        # curve, not only the fitted window): short windows borrow it
        history = dispersion == "history"
        noise = _period_noise(data, group, groups, model, rho) if history else None
        window = np.ones(data.height, dtype=bool)
        p_all = data.get_column("_p").to_numpy()
        if lo_idx is not None:
            window &= p_all >= lo_idx
        if hi_idx is not None:
            window &= p_all <= hi_idx
        data, group = data.filter(pl.Series(window)), group[window]
        if data.height == 0:
            raise InvalidArgumentError(
                "No period has a value to fit"
                + (f" between start={start!r} and end={end!r}" if start or end else "")
                + ". Check the window and that the periods have labeled rows."
            )
        fit = _fit_all(data, group, groups, model, dispersion, confidence, noise, rho)
        table, fits, fitted, rows = _assemble(
            data, group, groups, heads, keys, fit, model, noise, rho, by
        )
        # each row's group number rides along the ranking: crossings read the fits' arrays
        # by it, not by a dictionary lookup per group
        table = conform(table, COLUMNS, lead=dict.fromkeys(by, pl.String))
        table = _rank(table.with_columns(_g=pl.Series(rows, dtype=pl.Int64)), m)
        out = cls(table.drop("_g"), decay_, fits, model, confidence, start, dispersion)
        out.fitted = fitted
        out._groups = table.get_column("_g").to_numpy()
        return out

    def __init__(
        self, table, decay_: Decay, fits, model, confidence, start, dispersion="history"
    ) -> None:
        self.decay = decay_
        self.dispersion = dispersion
        self.fits: Mapping[tuple, _Fit] = fits
        self.model = model
        self.confidence = confidence
        self.by = decay_.by
        self.metric = decay_.metric
        self.every = decay_.every
        self.start = start
        self.estimates = table
        # a label per distinct period, not per group (100,000 groups share a dozen)
        ends = pl.concat([table["first"], table["last"]]).drop_nulls().unique().to_list()
        names = {v: decay_.label(v) for v in ends}
        shown = table.with_columns(
            pl.col(c).replace_strict(names, default=None, return_dtype=pl.String)
            for c in ("first", "last")
        )
        super().__init__(shown.select(*self.by, *COLUMNS))

    # -- the curve ---------------------------------------------------------------------
    def predict(self, periods: Any, group: tuple | None = None) -> pl.DataFrame:
        """The fitted curve and its band at (fractional) period numbers, for one group."""
        fit = self._fit_for(group)
        x = np.asarray(periods, dtype=float)
        est, se = fit.eta(x)
        inv = _link(self.model)[1]
        return pl.DataFrame(
            {
                "_p": x,
                "fit": inv(est),
                "fit_low": inv(est - fit.crit * se),
                "fit_high": inv(est + fit.crit * se),
            }
        )

    def _fit_for(self, group: tuple | None) -> _Fit:
        if group is None:
            if not self.fits:  # zero fits are not "several groups"
                raise InvalidArgumentError(
                    "No trend was fitted (too few periods with a value: a trend needs at "
                    "least 3), so there is no curve to predict."
                )
            if len(self.fits) != 1:
                raise InvalidArgumentError(
                    "This trend has several groups: pass group=(value, ...) to choose one."
                )
            return next(iter(self.fits.values()))
        group = tuple(group) if isinstance(group, (tuple, list)) else (group,)
        if group not in self.fits:
            raise InvalidArgumentError(
                f"No fitted group {group!r}. {did_you_mean(str(group), [str(k) for k in self.fits])}"
            )
        return self.fits[group]

    def crossing(
        self,
        threshold: float,
        *,
        method: str = "fieller",
        max_ahead: float | None = None,
    ) -> Crossing:
        """When the fitted curve crosses ``threshold``, with an interval.

        Inverse prediction: the estimate solves ``fit(t) = threshold``. The interval is,
        by default, Fieller's: every date at which the fitted curve's pointwise confidence
        band contains the threshold (an exact inversion of the Wald test on the linear
        predictor; asymmetric, wider on the far side). ``method="delta"`` gives the
        symmetric delta-method interval instead. Every group is solved at once, on the
        arrays of fitted lines (no loop over groups).

        Parameters
        ----------
        threshold
            A value inside the metric's range (strictly between 0 and 1 for proportions).
        method
            ``"fieller"`` (default) or ``"delta"``.
        max_ahead
            How far beyond the last fitted period an estimate is still reported, in
            periods; default the length of the fitted window (no further ahead than the
            data reach back).

        Returns
        -------
        Crossing
            ``.estimate``, ``.ci_low``, ``.ci_high`` (datetimes, or ages in periods with
            ``since=``) and ``.reason``; ``None`` estimates come with the reason (the trend
            does not cross, its slope is not distinguishable from zero, or the crossing lies
            too far ahead). ``.table`` has one row per group.

        Examples
        --------
        >>> import aidebt as ad
        >>> d = ad.decay(ad.datasets.demo(5_000), "ts", "y_true", "y_pred")
        >>> c = d.fit(start="2026-04").crossing(0.70)
        >>> c.status, f"{c.estimate:%Y-%m}"
        ('ahead', '2026-12')
        """
        _check_threshold(threshold, self.metric, self.model)
        if method not in ("fieller", "delta"):
            raise InvalidArgumentError(f"method={method!r}: use 'fieller' or 'delta'.")
        link = _link(self.model)[0]
        target = float(link(np.float64(threshold)))
        fitted = self._groups >= 0
        line = self.fits.lines(self._groups[fitted])
        found = _cross_all(line, target, threshold, method, max_ahead, self)
        return Crossing(self._with_fits(fitted, found), self, threshold, method)

    def _with_fits(self, fitted: np.ndarray, found: pl.DataFrame) -> pl.DataFrame:
        """One row per row of :attr:`estimates`: the group columns, then ``found``'s row
        where the group has a fit (``fitted``, in order), else status "no fit" and why."""
        index = pl.Series("_i", np.flatnonzero(fitted), dtype=pl.UInt32)
        return (
            self.estimates.select(*self.by, "note")
            .with_row_index("_i")
            .join(found.with_columns(index), on="_i", how="left", maintain_order="left")
            .with_columns(
                status=pl.col("status").fill_null("no fit"),
                reason=pl.when(pl.Series(fitted))
                .then(pl.col("reason"))
                .otherwise(pl.col("note").fill_null("no trend was fitted")),
            )
            .drop("_i", "note")
        )

    # -- display -----------------------------------------------------------------------
    def notes(self) -> list[str]:
        """The noise the interval allows for, and what it assumes."""
        periods = self.fits.noise_periods() if isinstance(self.fits, _Fits) else None
        if periods is None or periods.size == 0:
            if isinstance(self.dispersion, str) and self.dispersion == "pearson":
                return [
                    "The interval assumes independent periods (quasi-likelihood): with "
                    "neighbouring periods correlated it is too narrow."
                ]
            return [
                "The interval assumes sampling noise only: periods that wobble beyond it "
                "make it too narrow."
            ]
        unit = self.every.unit_name
        rho = self.fits.rho
        lines = [
            f"The interval allows for a {unit}-to-{unit} wobble beyond sampling error, "
            f"measured on the differences between consecutive {unit}s of the whole curve, "
            f"and assumes neighbouring {unit}s are correlated {rho:g} (AR(1)); it also "
            "allows for how uncertain that wobble is."
        ]
        few = sorted(set(periods[periods < 6].astype(int).tolist()))
        if few:
            lines.append(
                f"Some curves have only {few[0]} {unit}s to measure the wobble on: their "
                "intervals are wide, and only a steep trend shows."
            )
        return lines

    def summary(self) -> list[str]:
        """One sentence per group (the fastest decaying first, at most five)."""
        lines = []
        d = self.decay
        name = self.metric.name.capitalize()
        since = (
            f" since {d.label(self.estimates['first'][0])}"
            if self.estimates.height and self.estimates["first"][0] is not None
            else ""
        )
        for row in self.estimates.head(5).iter_rows(named=True):
            who = f" for {prose.group_phrase(row, self.by)}" if self.by else ""
            if row.get("slope") is None:
                lines.append(f"No trend fitted{who}: {row['note']}.")
                continue
            start = f" since {d.label(row['first'])}" if self.by else since
            lines.append(f"{name}{who}" + _trend_sentence(row, self, start) + ".")
        return lines

    def chart(self, threshold: float | None = None, *, estimate: Any = None, **kwargs: Any):
        """The decay curve with the fitted trend and its band; with ``threshold``, the
        threshold line and the projected crossing with its interval; with ``estimate`` (an
        :class:`aidebt.estimate.Estimate`), the periods not yet labeled as an estimate."""
        from aidebt import charts
        from aidebt.decay import estimated_tail

        crossing = self.crossing(threshold) if threshold is not None else None
        fitted = self.fitted
        if crossing is not None and not self.by and self.fits:  # no fit: the curve alone
            fit = self._fit_for(None)
            ahead = [fit.x_last]
            est = crossing.table.row(0, named=True)
            for c in ("_x", "_x_high"):
                if est.get(c) is not None and np.isfinite(est[c]):
                    ahead.append(est[c])
            end = max(ahead)
            if end > fit.x_last:
                grid = np.linspace(fit.x_last, end + 0.5, 30)
                extra = self.predict(grid).with_columns(period=self._period_values(grid))
                fitted = pl.concat([fitted, extra], how="diagonal_relaxed")
        return charts.decay_chart(
            self.decay.table,
            by=self.by,
            metric=self.metric.name,
            axis=self.decay.axis,
            unit=self.every.noun(),
            fitted=fitted,
            threshold=threshold,
            crossing=crossing.table if crossing is not None else None,
            estimated=estimated_tail(estimate, self.metric.name),
            **kwargs,
        )

    def _period_values(self, x: np.ndarray) -> pl.Series:
        if self.decay.axis != "calendar":  # age, or any numeric axis (aidebt.curve)
            return pl.Series("period", x, dtype=pl.Float64)
        return pl.Series("period", self.every.at(x).astype("datetime64[us]"))

    def _display_table(self) -> pl.DataFrame:
        return self.table.select(
            [
                *self.by,
                "slope",
                "slope_ci_low",
                "slope_ci_high",
                "p_value",
                "change",
                "rank",
                "note",
            ]
        )


def _trend_sentence(row: dict, trend: Trend, since: str) -> str:
    per = trend.every.per()
    m = trend.metric
    points = m.in_points
    scale, unit = (100.0, " points") if points else (1.0, "")
    fmt = ".1f" if points else ".3g"
    ch, lo, hi = (row[c] * scale for c in ("change", "change_ci_low", "change_ci_high"))
    level = f"{trend.confidence:.0%} interval"
    significant = lo > 0 or hi < 0
    if not significant and points and hi - lo > 100:
        # A share cannot move 100 points a period: the data cannot tell, say so, not the band.
        return (
            f" shows no clear trend{since}: too few {trend.every.unit_name}s or rows to tell "
            f"(the {level} of the change {per} is wider than 100 points, "
            f"{prose.pvalue(row['p_value'])})"
        )
    if not significant:
        return (
            f" shows no clear trend{since}: {ch:+{fmt}}{unit} {per} ({level} {lo:+{fmt}} to "
            f"{hi:+{fmt}}, {prose.pvalue(row['p_value'])})"
        )
    verb = "fallen" if ch < 0 else "risen"
    a, b = sorted((abs(lo), abs(hi)))
    extra = ""
    fit = trend.fits.get(tuple(row[c] for c in trend.by))
    wobble = _wobble(fit, trend) if fit is not None else None
    if wobble is not None:
        extra = (
            f"; the {trend.every.unit_name}s wobble about {wobble * scale:{fmt}}{unit} beyond "
            "sampling error, which the interval includes"
        )
    elif row["dispersion"] and row["dispersion"] > 1.5 and trend.model == "logistic":
        extra = f"; the periods scatter {row['dispersion']:.1f}x more than binomial noise, which the interval includes"
    return f" has {verb} {abs(ch):{fmt}}{unit} {per}{since} ({level} {a:{fmt}} to {b:{fmt}}){extra}"


def _wobble(fit: _Fit, trend: Trend) -> float | None:
    """The period effect's standard deviation on the metric's scale (at the last fitted
    period), or None when there is none."""
    if fit.noise is None or fit.noise.variance <= 0:
        return None
    sd = float(np.sqrt(fit.noise.variance))
    if trend.model == "logistic":
        eta, _ = fit.eta(np.array([fit.x_last]))
        rate = float(expit(eta[0]))
        sd *= rate * (1 - rate)
    return sd


def _rank(table: pl.DataFrame, m: mreg.Metric) -> pl.DataFrame:
    """Rank groups by how fast they decay, in the metric's bad direction."""
    if m.higher_is_better is True:
        badness = -pl.col("change")
        bad_ci = pl.col("slope_ci_high") < 0
    elif m.higher_is_better is False:
        badness = pl.col("change")
        bad_ci = pl.col("slope_ci_low") > 0
    else:
        badness = pl.col("change").abs()
        bad_ci = (pl.col("slope_ci_high") < 0) | (pl.col("slope_ci_low") > 0)
    return (
        table.with_columns(_bad=badness, decaying=bad_ci.fill_null(False))
        .with_columns(rank=pl.col("_bad").rank("ordinal", descending=True).cast(pl.Int64))
        .sort("rank", nulls_last=True)
        .drop("_bad")
    )


DISPERSIONS = ("history", "pearson", "fixed")
"""The named noise models of a trend fit (a number is a fixed scale)."""


def check_dispersion(dispersion: Any) -> None:
    """Raise unless ``dispersion`` is one of :data:`DISPERSIONS` or a number > 0."""
    if isinstance(dispersion, str):
        if dispersion not in DISPERSIONS:
            raise InvalidArgumentError(
                f"dispersion={dispersion!r}: use 'history' (period-level noise estimated on "
                "the whole curve), 'pearson' (quasi-likelihood), 'fixed' or a number > 0."
            )
    elif (
        isinstance(dispersion, bool) or not isinstance(dispersion, (int, float)) or dispersion <= 0
    ):
        raise InvalidArgumentError(f"dispersion={dispersion!r} must be > 0.")


MAX_PERIODS = 2_000
"""The most periods one group's trend is fitted over. A fit holds, per group, a periods x
periods covariance (8 x periods² bytes: 1.2 kB at 12 periods, 32 MB at 2,000) and the
noise estimate the pairwise differences of its periods; groups are fitted together in
chunks of about :data:`_CHUNK_BYTES` per such array, so the number of groups is bounded
only by the memory of the per-period table itself."""

_CHUNK_BYTES = 64 * 2**20


def _stack(data: pl.DataFrame, by: list[str]) -> tuple[pl.DataFrame, np.ndarray]:
    """``data`` with ``_g``, each group's number in order of first appearance, its rows
    together (in their order); and the group number of every row."""
    if by:
        data = (
            data.with_row_index("_r")
            .with_columns(_g=(pl.col("_r").min().over(by).rank("dense") - 1).cast(pl.Int64))
            .sort("_g", maintain_order=True)
            .drop("_r")
        )
    else:
        data = data.with_columns(_g=pl.lit(0, pl.Int64))
    return data, data.get_column("_g").to_numpy()


def _chunks(group: np.ndarray, groups: int):
    """``(rows, members)`` for every set of groups with the same number of rows, in chunks
    of at most :data:`_CHUNK_BYTES` per periods x periods array: ``members`` are the group
    numbers, ``rows`` (members x periods) the row numbers of each member's rows in order.
    ``group`` is each row's group number, rows of a group together."""
    counts = np.bincount(group, minlength=groups)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    for k in np.unique(counts):
        members = np.flatnonzero(counts == k)
        size = max(1, _CHUNK_BYTES // (8 * max(int(k), 1) ** 2))
        for start in range(0, members.size, size):
            chunk = members[start : start + size]
            yield offsets[chunk, None] + np.arange(k), chunk


def _check_periods(counts: np.ndarray, keys: list[tuple], by: list[str]) -> None:
    if counts.size and counts.max() > MAX_PERIODS:
        worst = int(np.argmax(counts))
        who = f" ({prose.group_phrase(dict(zip(by, keys[worst], strict=True)), by)})" if by else ""
        raise InvalidArgumentError(
            f"A trend fit is limited to {MAX_PERIODS:,} periods per group: one curve{who} "
            f"has {int(counts.max()):,}, and its fit would hold a "
            f"{int(counts.max()):,} x {int(counts.max()):,} covariance "
            f"({8 * int(counts.max()) ** 2 / 2**20:,.0f} MB). Use longer periods (every='1w' "
            "instead of '1d') or fit a window with start= and end=."
        )


def _period_noise(data: pl.DataFrame, group: np.ndarray, groups: int, model: str, rho: float):
    """The period-effect variance of every group's curve, on the scale the model fits
    (:func:`aidebt.noise.period_variances`; fields as arrays over the groups).

    Logistic: on the log-odds of each period, the empirical logit with its binomial
    variance (Cox and Snell's ``+ 0.5``, so that a period at 0% or 100% is finite); linear:
    on the values with their stored standard errors.
    """
    periods = data.get_column("_p").to_numpy().astype(float)
    if model == "logistic":
        x = data.get_column("_x").to_numpy().astype(float)
        n = data.get_column("n").to_numpy().astype(float)
        values = np.log((x + 0.5) / (n - x + 0.5))
        variances = 1 / (x + 0.5) + 1 / (n - x + 0.5)
    else:
        values = data.get_column("value").to_numpy().astype(float)
        variances = data.get_column("_se").fill_null(np.nan).to_numpy().astype(float) ** 2
    ok = np.isfinite(values) & np.isfinite(variances) & (variances >= 0)
    values, variances, periods, group = values[ok], variances[ok], periods[ok], group[ok]
    out = {f: np.zeros(groups) for f in _NOISE_FIELDS}
    for rows, members in _chunks(group, groups):
        fields = period_variances(values[rows], variances[rows], periods[rows], rho)
        for f in _NOISE_FIELDS:
            out[f][members] = fields[f]
    return out


_NOISE_FIELDS = ("variance", "df", "periods", "spread", "sampling", "effect")


def _position(part: pl.DataFrame) -> np.ndarray:
    """Where each period's value sits on the axis: its rows' mean time (``_t``, from
    :func:`aidebt.decay.decay`), else its number (``_p``: tables that carry no time)."""
    return part.get_column("_t" if "_t" in part.columns else "_p").to_numpy().astype(float)


def _critical(confidence: float, df: np.ndarray) -> np.ndarray:
    """The two-sided critical values: Student's t on ``df``, the normal where infinite."""
    out = np.full(df.shape, float(st.normal_quantile(confidence)))
    for value in np.unique(df[np.isfinite(df)]):  # a few distinct df: one ppf call each
        out[df == value] = float(st.t_quantile(confidence, value))
    return out


def _fit_all(data, group, groups, model, dispersion, confidence, noise, rho):
    """Fit every group's line at once; per group (arrays over ``groups``): ``params``,
    ``cov``, ``crit``, ``df``, ``dispersion``, ``p`` (NaN: a t or normal tail), ``effect``,
    ``x0``, ``x_first``, ``x_last`` and ``note`` (None where fitted).

    Groups with the same number of periods are stacked into (groups x periods) arrays
    and solved together: batched solves and eigendecompositions (numpy's stacked linear
    algebra); the iteratively reweighted fit, the noise estimate's bisection and the
    mixture quantile's Newton steps run on every group in step, each group stopping where
    its own loop would. The same numbers as one fit per
    group (tests/test_decay.py keeps that loop as the reference).
    """
    history = dispersion == "history"
    x = _position(data)
    x0 = np.full(groups, np.nan)
    np.fmin.at(x0, group, x)
    x0 = np.floor(x0)
    counts = np.bincount(group, minlength=groups)
    need = 3 if isinstance(dispersion, str) and dispersion == "pearson" else 2
    out = {
        "params": np.full((groups, 2), np.nan),
        "cov": np.full((groups, 2, 2), np.nan),
        "df": np.full(groups, np.inf),
        "dispersion": np.full(groups, np.nan),
        "p": np.full(groups, np.nan),
        "effect": np.zeros(groups),
        "x0": x0,
        "x_first": np.full(groups, np.nan),
        "x_last": np.full(groups, np.nan),
        "note": np.full(groups, None, dtype=object),
    }
    few = counts < need
    for k in np.unique(counts[few]):
        out["note"][few & (counts == k)] = (
            f"{k} period(s) with a value; a trend needs at least {need}"
        )
    used = ~few[group]
    if model == "logistic":
        count = data.get_column("_x").to_numpy().astype(float)
        trials = data.get_column("n").to_numpy().astype(float)
    else:
        value = data.get_column("value").to_numpy().astype(float)
        se = data.get_column("_se").fill_null(np.nan).to_numpy().astype(float)
        ok = np.isfinite(se) & (se > 0)
        short = ~few & (np.bincount(group[ok], minlength=groups) < need)
        out["note"][short] = "too few periods with a standard error"
        used &= ok & ~short[group]
    rows_used = np.flatnonzero(used)
    sub = group[rows_used]
    np.fmin.at(out["x_first"], sub, x[rows_used])
    np.fmax.at(out["x_last"], sub, x[rows_used])
    periods = data.get_column("_p").to_numpy().astype(float)
    for rows, members in _chunks(sub, groups):
        if rows.shape[1] == 0:
            continue
        r = rows_used[rows]
        xs = x[r] - x0[members, None]
        exog = np.stack([np.ones_like(xs), xs], axis=-1)
        if history:
            fields = {f: noise[f][members] for f in _NOISE_FIELDS}
            plausible = plausible_quantiles(fields)
            args = (count[r], trials[r]) if model == "logistic" else (value[r], se[r] ** 2)
            fit = _history_rows(model, exog, periods[r], fields, plausible, rho, confidence, *args)
        elif model == "logistic":
            fit = _binomial_rows(exog, count[r], trials[r], dispersion)
        else:
            fit = _weighted_rows(exog, value[r], se[r] ** 2, dispersion)
        for name, values in fit.items():
            out[name][members] = values
    # the history fit's interval is the mixture's, at the normal quantile
    out["crit"] = (
        np.full(groups, float(st.normal_quantile(confidence)))
        if history
        else _critical(confidence, out["df"])
    )
    return out


_FAILED = "the fit did not converge (every period at 0 or 1?)"


def _history_rows(model, exog, periods, noise, plausible, rho, confidence, y, b):
    """Generalized least squares of the lines under sampling error plus period effects.

    The noise of period ``t``'s value (its log-odds for ``"logistic"``) is its sampling
    error (binomial variance at the fitted rate, or the stored standard error) plus a
    period effect of variance ``lam`` (estimated on the group's whole curve,
    :func:`aidebt.noise.period_variances`) with AR(1) correlation ``rho ** |s - t|``
    across periods. The logistic line is fitted by iteratively reweighted generalized
    least squares on the working log-odds (the quasi-likelihood of a logistic model with a
    correlated random period effect; Breslow and Clayton 1993); with ``lam = 0`` it is the
    binomial maximum-likelihood fit. The covariance of the coefficients is
    ``(X' V^-1 X)^-1``.

    ``lam`` rests on a dozen differences: a calm-looking history can hide a real wobble.
    The interval integrates over that uncertainty: the slope's distribution is the mixture
    of normals ``N(0, var(lam*))`` over the plausible values ``lam*`` of the period-effect
    variance (the differences' spread known up to a chi-square on ``noise.df`` degrees of
    freedom, :func:`aidebt.noise.plausible_quantiles`; with a variance that scales with
    ``lam`` this is Student's t on ``noise.df``, Satterthwaite 1946). The fit then carries
    the covariance at the plausible ``lam`` whose normal interval matches the mixture's, so
    the crossing and the band use the same noise; the p-value is the mixture's tail.

    ``y, b``: counts and trials (logistic) or values and their sampling variances (linear),
    arrays of shape (groups, periods).
    """
    g, k = periods.shape
    lam = noise["variance"]
    high, low = plausible.max(axis=1), plausible.min(axis=1)
    corr = np.broadcast_to(np.eye(k), (g, k, k)).copy()
    wobbly = high > 0
    if rho != 0 and wobbly.any():
        p = periods[wobbly]
        corr[wobbly] = rho ** np.abs(p[:, :, None] - p[:, None, :])
    if model == "logistic":
        params, sampling, failed = _logistic_gls_rows(y, b, exog, lam[:, None, None] * corr)
    else:
        sampling, failed = b, np.zeros(g, dtype=bool)
        params = _gls_rows(y, exog, _diag(sampling) + lam[:, None, None] * corr)[0]

    # (X' (S + e C)^-1 X)^-1 at many e from one eigendecomposition per group: with
    # S^-1/2 C S^-1/2 = Q diag(l) Q', X' (S + e C)^-1 X = Y' diag(1 / (1 + e l)) Y for
    # Y = Q' S^-1/2 X (S the sampling variances, C the period effects' correlation)
    root = 1 / np.sqrt(sampling)
    eig, basis = np.linalg.eigh(corr * root[:, :, None] * root[:, None, :])
    eig = np.maximum(eig, 0.0)  # C is a correlation matrix: rounding below 0 only
    y_ = np.swapaxes(basis, 1, 2) @ (exog * root[:, :, None])

    def covariance(effect: np.ndarray) -> np.ndarray:
        """The coefficients' covariances at period-effect variances ``effect`` (groups x
        points): an array of shape (groups, points, 2, 2)."""
        w = 1 / (1 + effect[:, :, None] * eig[:, None, :])
        a = np.einsum("gki,gpk,gkj->gpij", y_, w, y_)
        det = a[..., 0, 0] * a[..., 1, 1] - a[..., 0, 1] * a[..., 1, 0]
        inv = np.stack([a[..., 1, 1], -a[..., 0, 1], -a[..., 1, 0], a[..., 0, 0]], axis=-1)
        return inv.reshape(*a.shape) / det[..., None, None]

    # the slope's variance on a grid spanning the plausible period-effect variances (it is
    # smooth, increasing and nearly linear in them: interpolated in between)
    step = (high - low) / 8
    grid = low[:, None] + np.arange(9) * step[:, None]  # numpy's linspace, row by row
    grid[:, -1] = high
    at = covariance(grid)[:, :, 1, 1]
    slope_var = _interp_rows(plausible, grid, at)
    z = st.normal_quantile(confidence)
    half = _mixture_quantiles(slope_var, confidence)
    # the plausible period-effect variance whose normal interval is the mixture's
    effect = np.where(
        at[:, -1] > at[:, 0], _interp_rows(((half / z) ** 2)[:, None], at, grid)[:, 0], grid[:, 0]
    )
    cov = covariance(effect[:, None])[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.mean(2 * ndtr(-np.abs(params[:, 1, None]) / np.sqrt(slope_var)), axis=1)
        base = sampling.mean(axis=1)
        dispersion = np.where(base > 0, (base + lam) / np.where(base > 0, base, 1), np.nan)
    failed |= ~np.all(np.isfinite(params), axis=1) | ~np.all(np.isfinite(cov), axis=(1, 2))
    df = np.where((noise["df"] > 0) & wobbly, noise["df"], np.inf)
    return _outcome(failed, params, cov, df, dispersion, p=p, effect=effect)


def _outcome(failed, params, cov, df, dispersion, **extra) -> dict[str, np.ndarray]:
    """A chunk's fits, with NaN and the note where a fit failed."""
    out = {"params": params, "cov": cov, "df": df, "dispersion": dispersion, **extra}
    out = {
        name: np.where(failed.reshape(-1, *[1] * (v.ndim - 1)), np.nan, v)
        for name, v in out.items()
    }
    out["df"] = np.where(failed, np.inf, df)
    if "effect" in out:
        out["effect"] = np.where(failed, 0.0, extra["effect"])
    out["note"] = np.where(failed, _FAILED, None).astype(object)
    return out


def _binomial_rows(exog, count, trials, dispersion):
    """The binomial GLM of every group's counts (the maximum-likelihood logistic line, by
    iteratively reweighted least squares in step), with the scale ``dispersion``:
    ``"pearson"`` (X² / (periods - 2), t on periods - 2), ``"fixed"`` (1) or a number.
    The same as statsmodels' ``GLM(count / trials, exog, Binomial(), var_weights=trials)``."""
    g, k = count.shape
    params, sampling, failed = _logistic_gls_rows(count, trials, exog, np.zeros((g, k, k)))
    mu = expit(np.einsum("gkj,gj->gk", exog, np.nan_to_num(params)))
    with np.errstate(divide="ignore", invalid="ignore"):
        pearson = np.sum(trials * (count / trials - mu) ** 2 / (mu * (1 - mu)), axis=1) / (k - 2)
    return _scaled(exog, params, sampling, failed, pearson, dispersion)


def _weighted_rows(exog, value, sampling, dispersion):
    """Weighted least squares of every group's values with their stored standard errors
    (statsmodels' Gaussian GLM with ``var_weights = 1 / se²``), with the scale
    ``dispersion`` as in :func:`_binomial_rows`."""
    g, k = value.shape
    params = _gls_rows(value, exog, _diag(sampling))[0]
    resid = value - np.einsum("gkj,gj->gk", exog, params)
    pearson = np.sum(resid**2 / sampling, axis=1) / (k - 2) if k > 2 else np.full(g, np.nan)
    return _scaled(exog, params, sampling, np.zeros(g, dtype=bool), pearson, dispersion)


def _scaled(exog, params, sampling, failed, pearson, dispersion):
    g, k = sampling.shape
    safe = np.where(failed[:, None], 1.0, sampling)
    base = _gls_rows(None, exog, _diag(safe))[1]
    if dispersion == "pearson":
        scale, df = pearson, np.full(g, float(k - 2))
    else:
        scale = np.full(g, 1.0 if dispersion == "fixed" else float(dispersion))
        df = np.full(g, np.inf)
    cov = scale[:, None, None] * base
    exact = ~failed & (scale <= 0)  # "pearson" on periods exactly on a line: no scatter
    failed = failed | ~np.all(np.isfinite(params), axis=1) | ~np.all(np.isfinite(cov), axis=(1, 2))
    out = _outcome(failed | exact, params, cov, df, scale)
    out["note"][exact & ~failed] = _EXACT
    return out


_EXACT = (
    "the periods lie exactly on a line: there is no scatter to estimate the dispersion from "
    "(use dispersion='history' or 'fixed')"
)


def _diag(values: np.ndarray) -> np.ndarray:
    """Stacked diagonal matrices (groups x k x k) of the rows of ``values``."""
    g, k = values.shape
    out = np.zeros((g, k, k))
    out[:, np.arange(k), np.arange(k)] = values
    return out


def _gls_rows(y, exog, cov) -> tuple[np.ndarray | None, np.ndarray]:
    """Generalized least squares of stacked problems: coefficients (None without ``y``) and
    their covariances ``(X' V^-1 X)^-1`` (one batched solve of ``V`` against ``[X y]``)."""
    rhs = exog if y is None else np.concatenate([exog, y[:, :, None]], axis=2)
    solved = np.linalg.solve(cov, rhs)
    inv = np.linalg.inv(np.swapaxes(exog, 1, 2) @ solved[:, :, :2])
    if y is None:
        return None, inv
    return (inv @ (np.swapaxes(exog, 1, 2) @ solved[:, :, 2:]))[:, :, 0], inv


def _logistic_gls_rows(count, trials, exog, effect, iterations: int = 100):
    """Iteratively reweighted GLS of logistic lines with correlated period effects (the
    covariances ``effect`` on the log-odds scale), every group in step until its own
    change is below 1e-10: (coefficients, binomial variances of the log-odds at the fitted
    rates, failed), a group failing when a weight vanishes or it does not converge."""
    g, k = count.shape
    rate = np.clip(count.sum(axis=1) / trials.sum(axis=1), 1e-9, 1 - 1e-9)
    params = np.stack([np.log(rate / (1 - rate)), np.zeros(g)], axis=1)
    active = np.ones(g, dtype=bool)
    failed = np.zeros(g, dtype=bool)
    for _ in range(iterations):
        rows = np.flatnonzero(active)
        if rows.size == 0:
            break
        eta = np.einsum("gkj,gj->gk", exog[rows], params[rows])
        mu = expit(eta)
        weight = trials[rows] * mu * (1 - mu)
        good = np.all(weight > 1e-12, axis=1)
        failed[rows[~good]] = True
        active[rows[~good]] = False
        rows, eta, mu, weight = rows[good], eta[good], mu[good], weight[good]
        if rows.size == 0:
            break
        working = eta + (count[rows] - trials[rows] * mu) / weight
        new = _gls_rows(working, exog[rows], _diag(1 / weight) + effect[rows])[0]
        finite = np.all(np.isfinite(new), axis=1)
        failed[rows[~finite]] = True
        active[rows[~finite]] = False
        rows, new = rows[finite], new[finite]
        done = np.max(np.abs(new - params[rows]), axis=1) < 1e-10
        params[rows] = new
        active[rows[done]] = False
    failed |= active  # not converged
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        mu = expit(np.einsum("gkj,gj->gk", exog, np.where(failed[:, None], 0.0, params)))
        sampling = 1 / (trials * mu * (1 - mu))
    return params, np.where(failed[:, None], 1.0, sampling), failed


def _interp_rows(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """``np.interp(x[i], xp[i], fp[i])`` for every row ``i`` (``xp`` increasing by row)."""
    q = xp.shape[1]
    j = np.clip(np.sum(xp[:, None, :] <= x[:, :, None], axis=2) - 1, 0, q - 2)
    x0, x1 = np.take_along_axis(xp, j, 1), np.take_along_axis(xp, j + 1, 1)
    f0, f1 = np.take_along_axis(fp, j, 1), np.take_along_axis(fp, j + 1, 1)
    dx = x1 - x0
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(dx > 0, (f1 - f0) / np.where(dx > 0, dx, 1) * (x - x0) + f0, f0)
    out = np.where(x <= xp[:, :1], fp[:, :1], out)
    return np.where(x >= xp[:, -1:], fp[:, -1:], out)


def _mixture_quantiles(variances: np.ndarray, confidence: float) -> np.ndarray:
    """Per row, the half-width ``h`` with ``mean(P(|N(0, v)| <= h)) = confidence`` over the
    row's ``variances``.

    Newton's method from ``z * min(sd)``, where no component covers more than
    ``confidence``: the coverage is increasing and concave in ``h``, so the steps rise
    monotonically to the root, without overshooting; stopped at machine precision.
    """
    sd = np.sqrt(variances)
    z = float(st.normal_quantile(confidence))
    h = z * sd.min(axis=1)
    active = np.flatnonzero(np.all(sd > 0, axis=1))
    for _ in range(100):
        if active.size == 0:
            break
        s, at = sd[active], h[active]
        u = at[:, None] / s
        covered = np.mean(1 - 2 * ndtr(-u), axis=1)
        slope = np.mean(2 * np.exp(-0.5 * u**2) / (np.sqrt(2 * np.pi) * s), axis=1)
        step = (confidence - covered) / slope
        h[active] = at + np.maximum(step, 0.0)
        active = active[step > 1e-15 * at]
    return h


class _Lines(NamedTuple):
    """Many groups' fitted lines (:class:`_Fit`'s fields, one entry per group)."""

    params: np.ndarray  # groups x 2
    cov: np.ndarray  # groups x 2 x 2
    crit: np.ndarray
    x0: np.ndarray
    x_first: np.ndarray
    x_last: np.ndarray

    def eta(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each line at its own position ``x`` (one per group): :meth:`_Fit.eta`'s value
        and standard error on the link scale."""
        xc = x - self.x0
        est = self.params[:, 0] + self.params[:, 1] * xc
        cov = self.cov
        var = cov[:, 0, 0] + 2 * xc * cov[:, 0, 1] + xc**2 * cov[:, 1, 1]
        return est, np.sqrt(np.maximum(var, 0))


class _Fits(Mapping):
    """The fits by group key, a :class:`_Fit` built when a group is asked for (a trend over
    100,000 groups holds its numbers in arrays, not in 100,000 objects)."""

    def __init__(self, index: dict[tuple, int], fit: dict, noise: dict | None, rho: float):
        self._index, self._fit, self._noise, self.rho = index, fit, noise, rho

    def __getitem__(self, key: tuple) -> _Fit:
        g, f = self._index[key], self._fit
        noise = None
        if self._noise is not None:
            fields = {name: float(self._noise[name][g]) for name in _NOISE_FIELDS}
            noise = PeriodNoise(rho=self.rho, **{**fields, "periods": int(fields["periods"])})
        return _Fit(
            f["params"][g],
            f["cov"][g],
            float(f["crit"][g]),
            float(f["df"][g]),
            float(f["x0"][g]),
            float(f["x_first"][g]),
            float(f["x_last"][g]),
            float(f["dispersion"][g]),
            noise,
            float(f["p"][g]) if noise is not None else None,
            float(f["effect"][g]),
        )

    def __iter__(self):
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def lines(self, groups: np.ndarray) -> _Lines:
        """The fitted lines of groups given by number, as arrays (one entry per group)."""
        f = self._fit
        return _Lines(
            *(f[name][groups] for name in ("params", "cov", "crit", "x0", "x_first", "x_last"))
        )

    def noise_periods(self) -> np.ndarray | None:
        """How many periods each fitted group's noise estimate rests on (None: no noise)."""
        if self._noise is None:
            return None
        return self._noise["periods"][np.fromiter(self._index.values(), int, len(self._index))]


def _assemble(data, group, groups, heads, keys, fit, model, noise, rho, by):
    """The trend table (one row per group with a period in the window, in order), the
    fits by group key, the fitted curves, and each table row's group number in
    :func:`_fit_all`'s arrays (-1 where the group has no fit)."""
    present = np.bincount(group, minlength=groups) > 0
    done = present & np.array([n is None for n in fit["note"]], dtype=bool)
    b0, b1 = fit["params"][:, 0], fit["params"][:, 1]
    cov, crit, df, x0 = fit["cov"], fit["crit"], fit["df"], fit["x0"]
    with np.errstate(invalid="ignore", divide="ignore"):
        se1 = np.sqrt(cov[:, 1, 1])
        eta_last = b0 + b1 * (fit["x_last"] - x0)
        deriv = expit(eta_last) * (1 - expit(eta_last)) if model == "logistic" else 1.0
        lo, hi = b1 - crit * se1, b1 + crit * se1
        stat = np.abs(np.where(se1 > 0, b1 / se1, np.inf))
        tail = np.where(
            np.isfinite(df), t_sf(stat, np.where(np.isfinite(df), df, 1.0)), norm_sf(stat)
        )
    p = np.where(np.isnan(fit["p"]), 2 * tail, fit["p"])
    number = data.get_column("_p").to_numpy().astype(float)
    first, last = np.full(groups, np.nan), np.full(groups, np.nan)
    np.fmin.at(first, group, number)
    np.fmax.at(last, group, number)
    columns = {
        "slope": b1,
        "slope_ci_low": lo,
        "slope_ci_high": hi,
        "p_value": p,
        "odds_ratio": np.exp(b1) if model == "logistic" else np.full(groups, np.nan),
        "change": deriv * b1,
        "change_ci_low": deriv * lo,
        "change_ci_high": deriv * hi,
        "dispersion": fit["dispersion"],
        "df": df,
        "first": first,
        "last": last,
    }
    keep = np.flatnonzero(present)
    shown = pl.Series(done[keep])
    table = pl.DataFrame({"model": [model] * keep.size})
    if by:
        table = pl.concat([heads[keep], table], how="horizontal")
    table = table.with_columns(
        periods=pl.Series(np.bincount(group, minlength=groups)[keep]),
        note=pl.Series(list(fit["note"][keep]), dtype=pl.String),
        **{
            name: pl.when(shown).then(pl.Series(values[keep], dtype=pl.Float64))
            for name, values in columns.items()
        },
    )
    if model != "logistic":
        table = table.with_columns(odds_ratio=pl.lit(None, pl.Float64))
    fits = _Fits({keys[g]: g for g in np.flatnonzero(done).tolist()}, fit, noise, rho)
    numbers = np.where(done[keep], keep, -1)
    rows = done[group]
    if not rows.any():
        return table, fits, pl.DataFrame(schema={"_p": pl.Int64, "fit": pl.Float64}), numbers
    g = group[rows]
    xc = _position(data)[rows] - x0[g]
    est = b0[g] + b1[g] * xc
    se = np.sqrt(np.maximum(cov[g, 0, 0] + 2 * xc * cov[g, 0, 1] + xc**2 * cov[g, 1, 1], 0))
    inv = _link(model)[1]
    fitted = (
        data.filter(pl.Series(rows))
        .select([*by, "_p", "period", "value", "ci_low", "ci_high", "n"])
        .with_columns(
            fit=pl.Series(inv(est)),
            fit_low=pl.Series(inv(est - crit[g] * se)),
            fit_high=pl.Series(inv(est + crit[g] * se)),
        )
    )
    return table, fits, fitted, numbers


def _check_threshold(threshold: Any, m: mreg.Metric, model: str) -> None:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating)):
        raise InvalidArgumentError(f"threshold={threshold!r} must be a number.")
    if not np.isfinite(threshold):
        raise InvalidArgumentError(f"threshold={threshold!r} must be finite.")
    if m.bounded and not 0 <= threshold <= 1:
        raise InvalidArgumentError(
            f"threshold={threshold!r} is outside the range of {m.name} (0 to 1): the curve "
            "can never cross it. Give the threshold as a proportion, e.g. 0.85 for 85%."
        )
    if model == "logistic" and not 0 < threshold < 1:
        raise InvalidArgumentError(
            f"threshold={threshold!r}: a logistic curve reaches 0 and 1 only at infinity; "
            "pass a threshold strictly between 0 and 1."
        )


def _cross_all(line: _Lines, target: float, threshold: float, method: str, max_ahead, trend):
    """Inverse prediction on every fitted group's line at once: the crossing table's rows
    (one per entry of ``line``), without the group columns.

    The cases are masks, in the order a reader asks them (:func:`_status`): a flat line
    never crosses; a crossing before the first fitted period is none ahead; an interval
    that is not bounded (Fieller: the band contains the threshold over two rays or the
    whole line; delta: the slope's own interval holds 0) leaves the date uncertain; a
    crossing more than ``max_ahead`` periods ahead is too far to trust.
    """
    b0, b1 = line.params[:, 0], line.params[:, 1]
    v00, v01, v11 = line.cov[:, 0, 0], line.cov[:, 0, 1], line.cov[:, 1, 1]
    crit, x0, x_first, x_last = line.crit, line.x0, line.x_first, line.x_last
    if max_ahead is not None:
        limit = np.full(b1.shape, float(max_ahead))
    else:
        limit = np.maximum(x_last - x_first, 1.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        xc = (target - b0) / b1  # centred at x0
        x_star = xc + x0
        above = b0 + b1 * (x_last - x0) > target
        if method == "fieller":
            t2 = crit**2
            lo, hi, bounded = _quadratic_interval(
                b1**2 - t2 * v11, (b0 - target) * b1 - t2 * v01, (b0 - target) ** 2 - t2 * v00
            )
            lo, hi = lo + x0, hi + x0
        else:
            se = np.sqrt(np.maximum(v00 + 2 * xc * v01 + xc**2 * v11, 0)) / np.abs(b1)
            lo, hi = x_star - crit * se, x_star + crit * se
            bounded = np.abs(b1) > crit * np.sqrt(v11)
        status = _status(b1 == 0, x_star, x_first, x_last, bounded, limit)
        ahead = x_star - x_last
    point = _point_labels(trend.decay, x_star, (status == "uncertain") | (status == "too far"))
    far = status == "too far"
    where = f"{threshold:g}"
    rows = pl.DataFrame(
        {
            "status": status,
            "side": np.where(above, "above", "below"),
            "moving": np.where(above == (b1 > 0), "away from", "further past"),
            "point": pl.Series(point.tolist(), dtype=pl.String),
            "ahead": pl.Series(_fixed(ahead, far).tolist(), dtype=pl.String),
            "limit": pl.Series(_fixed(limit, far).tolist(), dtype=pl.String),
            "_x": x_star,
            "_x_low": lo,
            "_x_high": hi,
        },
    )
    reason = _by_status(
        {
            "none": pl.lit("the fitted trend is flat: it never crosses"),
            "not crossing": pl.format(
                f"the fitted curve is {{}} {where} over the whole fitted window and moves {{}} "
                "it: no crossing ahead",
                "side",
                "moving",
            ),
            "uncertain": pl.format(
                f"the slope is not distinguishable from zero at {trend.confidence:.0%}, so the "
                "crossing date cannot be bounded (the point estimate would be {})",
                "point",
            ),
            "too far": pl.format(
                f"the fitted curve crosses {where} around {{}}, {{}} periods after the last "
                "one: further ahead than the {} periods the data reach back, too far to trust "
                "the extrapolation",
                "point",
                "ahead",
                "limit",
            ),
        }
    )
    found = pl.Series(np.isin(status, _FOUND))
    x = rows.select(pl.when(found).then(pl.col("_x", "_x_low", "_x_high")))
    dates = {c: _x_values(x.get_column(c), trend) for c in x.columns}
    return rows.select(
        "status",
        pl.lit(method).alias("method"),
        reason.alias("reason"),
        estimate=dates["_x"],
        ci_low=dates["_x_low"],
        ci_high=dates["_x_high"],
        periods_ahead=pl.when(found).then(pl.Series(ahead)),
        _x=x.get_column("_x"),
        _x_low=x.get_column("_x_low"),
        _x_high=x.get_column("_x_high"),
    )


_FOUND = ("crossed", "ahead")
"""The statuses of a crossing with an estimate and an interval."""


def _by_status(texts: Mapping[str, pl.Expr]) -> pl.Expr:
    """``texts[status]`` on each row of a table with a ``status`` column (null for a status
    not in ``texts``): the reasons of a crossing table."""
    expr: Any = pl
    for status, text in texts.items():
        expr = expr.when(pl.col("status") == status).then(text)
    return expr


def _quadratic_interval(a, b, c) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where ``a w² + 2 b w + c <= 0``, elementwise: ``(low, high, bounded)``.

    ``bounded`` where ``a > 0`` and the discriminant is not negative: the set is the
    interval ``[low, high]``. Elsewhere it is two rays or the whole line (``low``/``high``
    NaN). The inversion of a Wald test on a line, as Fieller's interval (Fieller 1954).
    """
    disc = b**2 - a * c
    bounded = (a > 0) & (disc >= 0)
    r = np.sqrt(np.where(bounded, disc, np.nan))
    return (-b - r) / a, (-b + r) / a, bounded


def _status(flat, x, x_first, x_last, bounded, limit) -> np.ndarray:
    """The crossing's status per group, the first case that holds: "none" (a flat line),
    "not crossing" (it crossed before the first fitted period), "uncertain" (no bounded
    interval), "too far" (more than ``limit`` periods ahead), then "crossed" (within the
    fitted window) or "ahead"."""
    return np.select(
        [flat, x < x_first, ~bounded, x - x_last > limit, x <= x_last],
        ["none", "not crossing", "uncertain", "too far", "crossed"],
        "ahead",
    )


def _point_labels(decay, x: np.ndarray, wanted: np.ndarray, never: float = 1e6) -> np.ndarray:
    """``decay.label(x)`` where ``wanted`` ("never" ``never`` periods away or more, or past
    the year 9999 on a calendar; None where not wanted), computed at once where the axis
    has ``labels`` (calendar and age axes) and once per distinct value elsewhere."""
    out = np.full(x.shape, None, dtype=object)
    near = wanted & (np.abs(x) < never)
    if decay.axis == "calendar":
        near &= decay.every.at(x) < np.datetime64("10000-01-01")
    out[wanted & ~near] = "never"
    if near.any():
        many = getattr(decay, "labels", None)
        if many is not None:
            out[near] = many(x[near])
        else:
            values, inverse = np.unique(x[near], return_inverse=True)
            out[near] = np.array([decay.label(v) for v in values.tolist()], dtype=object)[inverse]
    return out


def _fixed(values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """``f"{v:.0f}"`` of each value where ``wanted`` (None elsewhere)."""
    out = np.full(values.shape, None, dtype=object)
    out[wanted] = np.char.mod("%.0f", values[wanted])
    return out


def _x_values(x: pl.Series, trend: Trend) -> pl.Series:
    """Positions on the fit's axis as the crossing table shows them: instants on a
    calendar axis (null where ``x`` is), the positions themselves elsewhere."""
    if trend.decay.axis != "calendar":
        return x
    return pl.Series(trend.every.at(x.to_numpy()).astype("datetime64[us]"))


class BaseCrossing(Result):
    """A crossing result (:class:`Crossing`, :class:`aidebt.curve.CurveCrossing`): the
    first row's ``estimate``, ``ci_low``, ``ci_high``, ``status`` and ``reason`` as
    attributes; truthy when it has an estimate."""

    def __init__(self, table: pl.DataFrame) -> None:
        super().__init__(table)
        first = self.table.row(0, named=True)
        self.estimate = first["estimate"]
        self.ci_low = first["ci_low"]
        self.ci_high = first["ci_high"]
        self.status = first["status"]
        self.reason = first["reason"]

    def __bool__(self) -> bool:
        return self.estimate is not None


class Crossing(BaseCrossing):
    """Result of :meth:`Trend.crossing`: when the fitted curve crosses a threshold.

    Attributes
    ----------
    table : polars.DataFrame
        One row per group: ``threshold``, ``status`` (``"ahead"``, ``"crossed"`` within the
        data, ``"not crossing"``, ``"uncertain"``, ``"too far"``), ``estimate``,
        ``ci_low``, ``ci_high`` (datetimes, or ages in periods with ``since=``),
        ``periods_ahead``, ``method`` and ``reason`` (why there is no estimate).
    estimate, ci_low, ci_high, reason, status
        The single group's values (the first row's with ``by``).

    A crossing is truthy when it has an estimate.
    """

    title = "Threshold crossing"

    def __init__(self, table: pl.DataFrame, trend: Trend, threshold: float, method: str) -> None:
        table = table.with_columns(threshold=pl.lit(float(threshold)))
        lead = dict.fromkeys(trend.by, pl.String)
        super().__init__(conform(table, _crossing_columns(trend.decay.axis), lead=lead))
        self.trend = trend
        self.threshold = float(threshold)
        self.method = method

    def summary(self) -> list[str]:
        t = self.trend
        lines = []
        ev = t.every
        fmt = (lambda v: t.decay.label(v)) if t.decay.axis != "calendar" else ev.label_instant
        method = "Fieller interval" if self.method == "fieller" else "delta-method interval"
        shown = self.table.head(5)
        # the trend rows of the groups shown only (100,000 groups make 100,000 rows)
        trends = (
            t.estimates.join(shown.select(t.by), on=t.by, how="semi", nulls_equal=True)
            if t.by
            else t.estimates
        )
        trend_rows = {tuple(r[c] for c in t.by): r for r in trends.iter_rows(named=True)}
        for row in shown.iter_rows(named=True):
            key = tuple(row[c] for c in t.by)
            who_txt = f" for {prose.group_phrase(row, t.by)}" if t.by else ""
            trow = trend_rows.get(key, {})
            lead = ""
            if trow.get("slope") is not None:
                since = f" since {t.decay.label(trow['first'])}"
                lead = (
                    f"{t.metric.name.capitalize()}{who_txt}"
                    + _trend_sentence(trow, t, since)
                    + "; "
                )
            else:
                lead = f"{t.metric.name.capitalize()}{who_txt}: "
            if row["estimate"] is None:
                lines.append(f"{lead}no crossing of {self.threshold:g} to report: {row['reason']}.")
                continue
            verb = "crossed" if row["status"] == "crossed" else "at this rate it crosses"
            low, high = fmt(row["ci_low"]), fmt(row["ci_high"])
            # an interval inside one period reads as that period, never "2026-05 to 2026-05"
            within = f"within {low}" if low == high else f"{low} to {high}"
            lines.append(
                f"{lead}{verb} {self.threshold:g} around {fmt(row['estimate'])} "
                f"({within}, {t.confidence:.0%} {method})."
            )
        return lines

    def chart(self, **kwargs: Any):
        """The decay curve with the fitted trend, the threshold and this crossing."""
        return self.trend.chart(self.threshold, **kwargs)

    def _display_table(self) -> pl.DataFrame:
        return self.table.drop("_x", "_x_low", "_x_high")
