"""Metrics over time: the decay curve, a metric per period with its interval.

One group-by pass (:func:`aidebt.aggregate.sufficient_stats`, with the period computed
from the time column as a derived key) gives the sufficient statistics per period (and
per ``by`` group); :func:`aidebt.metrics.evaluate` turns them into values with
intervals. Everything after that works on this small table (the per-period estimates,
:attr:`Decay.estimates`, and sums, :attr:`Decay.stats`):

- :meth:`Decay.fit` fits a trend (:mod:`aidebt.trend`: a logistic line of the per-period
  counts, or a line through the values, by generalized least squares under sampling error
  plus correlated period effects, :mod:`aidebt.noise`), and
  :meth:`aidebt.trend.Trend.crossing` says when it crosses a threshold (Fieller's
  interval);
- :meth:`Decay.changepoints` finds changes in level (:mod:`aidebt.changepoints`: binary
  segmentation, each split tested under the same noise against simulated series with no
  change).

Periods are computed in the engine with portable arithmetic on year, month and day of
year (:mod:`aidebt.periods`), so they work the same on polars, DuckDB and Spark.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import narwhals as nw
import numpy as np
import polars as pl

from aidebt import aggregate, frames, prose
from aidebt import metrics as mreg
from aidebt._deprecated import keyword_only
from aidebt.changepoints import COLUMNS as CHANGEPOINT_COLUMNS
from aidebt.changepoints import Changepoints
from aidebt.errors import AidebtError, InvalidArgumentError, did_you_mean
from aidebt.groups import check_names
from aidebt.periods import Every, as_date, epoch_day, epoch_days
from aidebt.prepare import prepare
from aidebt.results import Result
from aidebt.trend import COLUMNS as TREND_COLUMNS
from aidebt.trend import Crossing, Trend

__all__ = ["Changepoints", "Crossing", "Decay", "Every", "Trend", "decay"]

_MONTH_DAYS = 30.436875  # the mean Gregorian month: a month on the age axis

# --------------------------------------------------------------------------------------
# The public function
# --------------------------------------------------------------------------------------
COLUMNS = [
    "period",
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "n",
    "group_n",
    "unlabeled",
    "unlabeled_share",
    "note",
]
"""The columns of :attr:`Decay.table` after the group columns."""


@keyword_only("weight", after=8)
def decay(
    data: Any,
    time: str,
    y_true: str | None = None,
    y_pred: str | None = None,
    metric: str = "accuracy",
    every: str = "1mo",
    by: str | Sequence[str] | None = None,
    since: Any = None,
    *,
    weight: str | None = None,
    y_score: str | None = None,
    confidence: float = 0.95,
    ci: str = "wilson",
    pos_label: Any = None,
) -> Decay:
    """A metric per period (and per group), with intervals: the decay curve.

    Parameters
    ----------
    data
        polars DataFrame/LazyFrame, pandas DataFrame, pyarrow Table, DuckDB relation,
        PySpark DataFrame, or a path/glob to parquet or CSV.
    time
        A Date or Datetime column: when each row happened.
    y_true, y_pred
        Label and prediction (0/1 or booleans, or any values with ``pos_label``). A null
        label is an unlabeled row (labels arrive late): it counts in ``group_n`` and
        ``unlabeled``, never in a label-based metric.
    metric
        A registry name (``accuracy``, ``fnr``, ``precision``, ``f1``, ``mean``,
        ``brier``, ``auc``...; see :func:`aidebt.disaggregate`).
    every
        Period length as a polars duration string: ``"1d"``, ``"1w"``, ``"4w"``,
        ``"1mo"``, ``"3mo"``, ``"1q"``, ``"1y"``.
    by
        Group column(s): one curve per group; :meth:`Decay.fit` ranks the groups by how
        fast they decay.
    since
        Switch the axis from calendar time to age. A date (or ISO string) is a deployment
        date: ``period`` becomes whole periods since that date and earlier rows are left
        out. A column name (e.g. ``"model_version"``) measures age from each value's first
        row, and adds the column to ``by``, so versions are compared at equal age. On the
        age axis a month is 30.436875 days and ages are counted in whole days.
    weight
        Frequency weights (counts >= 0).
    y_score
        Score column, for ``mean_score``, ``brier`` and ``auc``.
    confidence
        Level of every interval (0.95).
    ci
        Interval for proportions: ``"wilson"`` (default), ``"jeffreys"`` or ``"exact"``.
    pos_label
        The label value that means positive, when labels are not 0/1.

    Returns
    -------
    Decay
        ``.table``: the ``by`` columns, ``period`` (the period's first day, or the age in
        periods with ``since=``), ``metric``, ``value``, ``ci_low``, ``ci_high``, ``n``
        (the metric's denominator), ``group_n`` (weighted rows), ``unlabeled``,
        ``unlabeled_share`` and ``note`` (why a value is missing: a period with no rows is
        kept as a gap, not dropped). Then ``.fit()``, ``.crossing(threshold)``,
        ``.changepoints()``, ``.chart()``, ``.summary()``.

    Examples
    --------
    >>> import aidebt as ad
    >>> logs = ad.datasets.demo(n_per_month=2_000, months=4)
    >>> d = ad.decay(logs, time="ts", y_true="y_true", y_pred="y_pred")
    >>> d.table.select("period", "value").height
    4
    >>> d.fit().table["slope"].dtype
    Float64
    """
    ev = Every.parse(every)
    if not isinstance(time, str):
        raise InvalidArgumentError(f"time={time!r} must be the name of a Date/Datetime column.")
    by_cols = frames.as_list(by)
    check_names(by_cols, {*COLUMNS, *CHANGEPOINT_COLUMNS, *TREND_COLUMNS}, role="a by column")
    prep = prepare(
        data,
        metrics=[metric],
        y_true=y_true,
        y_pred=y_pred,
        y_score=y_score,
        weight=weight,
        pos_label=pos_label,
        columns={"time": time, "a by column": by_cols},
        confidence=confidence,
    )
    frames.require_temporal(prep.frame, time, needed_by="decay")
    (m,), confidence, frame, schema = prep.metrics, prep.confidence, prep.frame, prep.schema

    col = nw.col(time)
    axis, since_label = "calendar", None
    # where in its period each row is (whole seconds, so that its sum is exact and equal in
    # every engine): a period's mean time, not its start, is where its value sits on the
    # time axis of a trend
    clock = _epoch_seconds(col, schema[time], frame.implementation)
    if since is None:
        period = ev.index(col)
    else:
        axis = "age"
        days = epoch_days(col)
        if isinstance(since, str) and since in schema:
            if since not in by_cols:
                by_cols = [*by_cols, since]
            origin = days.min().over(since)
            since_label = f"the first row of each {since}"
        else:
            if isinstance(since, str) and not any(ch.isdigit() for ch in since):
                raise InvalidArgumentError(
                    f"since={since!r} is neither a column nor a date. Pass a deployment date "
                    f"('2026-04-01') or a column such as 'model_version'. "
                    f"{did_you_mean(since, schema)}"
                )
            origin_day = as_date(since, "since")
            origin = nw.lit(epoch_day(origin_day))
            frame = frame.filter(days >= origin)
            since_label = origin_day.isoformat()
        period = ev.age_index(days - origin)
        clock = clock - origin * _DAY_SECONDS

    sums = prep.with_frame(frame).aggregate(by_cols, derived_keys={"_p": period}, time=clock)
    stats, auc_table = sums.stats, sums.auc_table()
    # A quantile metric (p95_latency_ms): its own pass per (group, period).
    quantiles = prep.with_frame(frame).quantiles(by_cols, derived_keys={"_p": period})
    if quantiles is not None:
        quantiles = quantiles.filter(pl.col("_p").is_not_null()).with_columns(
            pl.col("_p").cast(pl.Int64)
        )
    if auc_table is not None:
        auc_table = auc_table.filter(pl.col("_p").is_not_null()).with_columns(
            pl.col("_p").cast(pl.Int64)
        )
    no_time = float(stats.filter(pl.col("_p").is_null()).get_column("n").sum() or 0)
    stats = stats.filter(pl.col("_p").is_not_null()).with_columns(pl.col("_p").cast(pl.Int64))
    if stats.height == 0:
        raise InvalidArgumentError(
            f"No rows with a {time!r} value{' on or after since=' + repr(since) if axis == 'age' else ''}: "
            "there is nothing to chart. Check the time column and the filters."
        )
    stats = _fill_gaps(stats, by_cols)
    keys = [*by_cols, "_p"]
    values = mreg.evaluate(
        stats, keys, m, confidence=confidence, ci=ci, auc_table=auc_table, quantiles=quantiles
    )
    group_n = stats.get_column("n").cast(pl.Float64)
    labeled = (
        stats.get_column("labeled").cast(pl.Float64) if "labeled" in stats.columns else group_n
    )
    needs_label = m.needs_label
    gap = stats.get_column("rows") == 0
    data_table = values.with_columns(
        group_n=group_n,
        unlabeled=group_n - labeled,
        rows=stats.get_column("rows"),
    ).with_columns(
        unlabeled_share=pl.when(pl.col("group_n") > 0).then(
            pl.col("unlabeled") / pl.col("group_n")
        ),
        note=pl.when(gap)
        .then(pl.lit("no rows in this period (a gap)"))
        .when(
            pl.lit(needs_label)
            & (pl.col("group_n") > 0)
            & (pl.col("unlabeled") >= pl.col("group_n"))
        )
        .then(pl.lit("no labeled rows yet (labels arrive late)"))
        .otherwise(pl.col("note")),
    )
    if axis == "calendar":
        starts = ev.start(data_table.get_column("_p").to_numpy())
        period_col = pl.Series("period", starts).cast(pl.Date)
    else:
        period_col = data_table.get_column("_p").alias("period")
    position = _positions(stats, ev, axis, "t_labeled" if needs_label else "t_sum")
    data_table = data_table.with_columns(period_col, position).sort([*by_cols, "_p"])
    return Decay(
        data_table,
        stats.sort(keys),
        auc_table,
        by=by_cols,
        metric=m,
        every=ev,
        axis=axis,
        since=since_label,
        confidence=confidence,
        ci=ci,
        no_time=no_time,
    )


_DAY_SECONDS = 86_400


def _epoch_seconds(col: nw.Expr, dtype: Any, implementation: Any) -> nw.Expr:
    """Whole seconds since 1970-01-01 of each row, on the column's own wall clock (the
    calendar its periods are cut in), as an integer expression.

    Where the engine can cast a timestamp to a number (polars, pandas, pyarrow) that cast
    is used: the calendar-field route below costs about three times the rest of the
    accuracy pass at 2M rows. DuckDB and Spark take the fields (narwhals has no portable
    cast there). Both give the same integers, so every engine's sums agree bit for bit.
    """
    if dtype != nw.Date and (
        implementation.is_polars() or implementation.is_pandas() or implementation.is_pyarrow()
    ):
        local = col.dt.replace_time_zone(None) if getattr(dtype, "time_zone", None) else col
        return local.dt.timestamp("us") // 1_000_000
    return epoch_days(col) * _DAY_SECONDS + _second_of_day(col, dtype)


def _second_of_day(col: nw.Expr, dtype: Any) -> nw.Expr:
    """The time of day in whole seconds (noon for a Date column: a whole day)."""
    if dtype == nw.Date:
        return nw.lit(_DAY_SECONDS // 2, nw.Int64)
    return (
        col.dt.hour().cast(nw.Int64) * 3600
        + col.dt.minute().cast(nw.Int64) * 60
        + col.dt.second().cast(nw.Int64)
    )


def _positions(stats: pl.DataFrame, ev: Every, axis: str, summed: str) -> pl.Series:
    """Each period's mean time as a fractional period number (``_t``), from its summed time.

    A period's value is an average over its rows, so on the time axis it belongs at their
    mean time, not at the period's start: placed at the start, a trend's crossing date comes
    out half a period early. ``summed`` is the time summed over the rows the metric counts
    (the labeled ones for a label metric), divided by their number. A period whose rows
    carry no time falls back to its midpoint.
    """
    p = stats.get_column("_p").to_numpy()
    count = stats.get_column("labeled" if summed == "t_labeled" else "n").to_numpy()
    total = stats.get_column(summed).to_numpy() if summed in stats.columns else np.zeros(len(p))
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_day = np.where(count > 0, total / count / _DAY_SECONDS, np.nan)
    if axis == "calendar":
        start = ev.start(p).astype("datetime64[D]").astype(np.int64)
        end = ev.start(p + 1).astype("datetime64[D]").astype(np.int64)
        offset = (mean_day - start) / (end - start)
    else:
        length = ev.months * _MONTH_DAYS if ev.months is not None else float(ev.days)
        offset = mean_day / length - p
    offset = np.where(np.isfinite(offset), np.clip(offset, 0.0, 1.0), 0.5)
    return pl.Series("_t", p + offset, dtype=pl.Float64)


def _fill_gaps(stats: pl.DataFrame, by_cols: list[str]) -> pl.DataFrame:
    """Every period between a group's first and last, with zero sums where no row fell."""
    if by_cols:
        ranges = stats.group_by(by_cols).agg(
            pl.col("_p").min().alias("_lo"), pl.col("_p").max().alias("_hi")
        )
    else:
        ranges = stats.select(pl.col("_p").min().alias("_lo"), pl.col("_p").max().alias("_hi"))
    grid = (
        ranges.with_columns(_p=pl.int_ranges("_lo", pl.col("_hi") + 1, dtype=pl.Int64))
        .explode("_p")
        .drop("_lo", "_hi")
    )
    full = grid.join(stats, on=[*by_cols, "_p"], how="left")
    sums = aggregate.stat_columns(stats, [*by_cols, "_p"])
    return full.with_columns(pl.col(c).fill_null(0) for c in sums).select(stats.columns)


class Decay(Result):
    """Result of :func:`decay`: a metric per period, with intervals.

    Attributes
    ----------
    table : polars.DataFrame
        ``by`` columns, ``period``, ``metric``, ``value``, ``ci_low``, ``ci_high``, ``n``,
        ``group_n``, ``unlabeled``, ``unlabeled_share``, ``note``.
    gaps : polars.DataFrame
        The periods with no rows (kept in ``table`` with a null value, left out of fits).
    estimates : polars.DataFrame
        ``table`` with what fits and change points read: ``_p`` (the period number),
        ``_t`` (the period's mean time as a fractional period number: where its value
        sits on a trend's time axis), ``_x`` and ``_se`` (the numerator and the standard
        error of each value) and ``rows``.
    stats : polars.DataFrame
        The sufficient statistics per (group and) period number ``_p``.
    score_counts : polars.DataFrame or None
        AUC's placement sums (:data:`aidebt.aggregate.AUC_SUMS`) per (group and) period,
        when the metric is ``auc``.
    """

    title = "Metric over time"

    def __init__(
        self,
        data: pl.DataFrame,
        stats: pl.DataFrame,
        auc_table: pl.DataFrame | None,
        *,
        by: list[str],
        metric: mreg.Metric,
        every: Every,
        axis: str,
        since: str | None,
        confidence: float,
        ci: str,
        no_time: float,
    ) -> None:
        super().__init__(data.select([*by, *COLUMNS]))
        self.estimates = data
        self.stats = stats
        self.score_counts = auc_table
        self.by = by
        self.metric = metric
        self.every = every
        self.axis = axis
        self.since = since
        self.confidence = confidence
        self.ci = ci
        self.no_time = no_time
        self.gaps = self.table.filter(pl.col("group_n") == 0).select([*by, "period"])

    # -- labels ------------------------------------------------------------------------
    def label(self, idx: float | int) -> str:
        """A readable name of period number ``idx``: '2026-04', or 'age 3 months'."""
        if self.axis == "age":
            value = float(idx)
            text = f"{value:.0f}" if value == int(value) else f"{value:.1f}"
            return f"age {text} {self.every.unit_name}s"
        return self.every.label(int(idx))

    def labels(self, x: np.ndarray) -> np.ndarray:
        """:meth:`label` of many (fractional) period numbers at once (an object array)."""
        x = np.asarray(x, dtype=float)
        if self.axis == "age":
            whole = x == np.trunc(x)
            text = np.where(whole, np.char.mod("%.0f", x), np.char.mod("%.1f", x))
            return np.char.add(np.char.add("age ", text), f" {self.every.unit_name}s").astype(
                object
            )
        return self.every.labels(np.trunc(x).astype(np.int64))

    def date_of(self, idx: int | None) -> Any:
        """A period number back to what fit(start=...) takes."""
        if idx is None or self.axis == "age":
            return idx
        return self.every.start(idx).item()

    def index_of(self, value: Any, name: str) -> int | None:
        """The period number of a date (an age in periods with ``since=``), for fit windows."""
        if value is None:
            return None
        if self.axis == "age":
            if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
                return int(value)
            raise InvalidArgumentError(
                f"{name}={value!r}: on an age axis (since=) give the age in periods, e.g. 3."
            )
        return self.every.index_of(value)

    def conf_int(self, confidence: float = 0.95) -> pl.DataFrame:
        """Each period's value with its interval at another level, from the stored estimates.

        No new pass over the data (statsmodels' ``conf_int(alpha)`` pattern).

        Examples
        --------
        >>> import aidebt as ad
        >>> d = ad.decay(ad.datasets.demo(2_000, months=3), "ts", "y_true", "y_pred")
        >>> d.conf_int(0.8).columns
        ['period', 'metric', 'value', 'ci_low', 'ci_high', 'n']
        """
        from aidebt import stats as st

        table = mreg.table_conf_int(self.estimates, st.check_confidence(confidence), self.ci)
        return table.select(*self.by, "period", "metric", "value", "ci_low", "ci_high", "n")

    # -- analyses ----------------------------------------------------------------------
    def fit(
        self,
        model: str | None = None,
        *,
        start: Any = None,
        end: Any = None,
        dispersion: str | float = "history",
        confidence: float | None = None,
        autocorrelation: float = 0.5,
    ) -> Trend:
        """Fit a trend to the per-period values: ``logit(metric) = a + b * time``.

        Each period sits on the time axis at the mean time of its rows (the labeled ones,
        for a label metric), not at its start: a period's value is an average over its
        rows, and placed at the start a crossing date would come out half a period early.

        Parameters
        ----------
        model
            ``"logistic"`` (default for proportions: the per-period numerator/denominator
            counts, logit link) or ``"linear"`` (default for other metrics: the per-period
            values with their standard errors).
        start, end
            Fit only periods from ``start`` to ``end`` inclusive (a date or ISO string such
            as ``"2026-04"``; an age in periods with ``since=``). Use it to fit the decay
            after a change point.
        dispersion
            The noise the slope's interval allows for.

            - ``"history"`` (default): sampling error plus a period effect, the
              period-to-period wobble that production metrics show beyond sampling error
              (half a point a month is common at 50,000 rows a month), correlated between
              neighbouring periods (AR(1), ``autocorrelation``). Its variance is estimated
              on the whole curve, every period, not only the fitted window, with a robust
              scale of the differences between consecutive periods, so changes and trends
              in the history do not inflate it (:mod:`aidebt.noise`). The line is fitted
              by generalized least squares under that noise (Breslow and Clayton 1993), with
              Student's t intervals on Satterthwaite's degrees of freedom for the estimated
              wobble (Satterthwaite 1946). A short window (the last three months) borrows
              the noise level of the longer history, so it is neither blind to the wobble
              nor powerless.
            - ``"pearson"``: a quasi-likelihood scale, Pearson X² / (periods - 2), from the
              scatter of the fitted periods around the trend, with t intervals on
              periods - 2 degrees of freedom. It assumes independent periods: with months
              correlated 0.5 its 95% interval covers the slope about 78% of the time.
            - ``"fixed"`` (or 1.0): the nominal binomial variance (or the standard errors),
              normal intervals: too narrow whenever periods wobble. Another number: that
              scale.

            Measured by simulation (tests/test_decay.py): with a 0.6-point monthly wobble,
            months correlated 0.5 and 50,000 rows a month, the default's 95% interval
            covers the slope and the crossing date about 95% of the time.
        confidence
            Interval level; defaults to the decay's.
        autocorrelation
            The working lag-1 correlation of period effects for ``"history"``, in [0, 1)
            (0.5: twelve months cannot estimate it; assuming 0.5 when the truth is 0 only
            widens the interval).

        Returns
        -------
        Trend
            ``.table`` per group: ``slope`` (per period, on the model's scale: log-odds for
            ``"logistic"``) with ``slope_ci_low``/``slope_ci_high`` and ``p_value``,
            ``change`` (per period, on the metric's scale at the last fitted period) with
            its interval, ``dispersion`` (the periods' variance as a multiple of sampling
            variance), ``df``, ``rank`` (1 = fastest decay); ``.fitted``: per period, the
            fitted value and its confidence band; ``.crossing(threshold)``.

        Examples
        --------
        >>> import aidebt as ad
        >>> d = ad.decay(ad.datasets.demo(5_000), "ts", "y_true", "y_pred")
        >>> t = d.fit(start="2026-04")
        >>> bool(t.table["slope_ci_high"][0] < 0)
        True
        """
        return Trend.from_decay(self, model, start, end, dispersion, confidence, autocorrelation)

    def crossing(self, threshold: float, **kwargs: Any) -> Crossing:
        """Shortcut for ``self.fit(...).crossing(threshold)``.

        Keyword arguments go to :meth:`fit` (``model``, ``start``, ``end``, ``dispersion``,
        ``autocorrelation``) or to :meth:`Trend.crossing` (``method``, ``max_ahead``).
        """
        cross_kw = {k: kwargs.pop(k) for k in ("method", "max_ahead") if k in kwargs}
        return self.fit(**kwargs).crossing(threshold, **cross_kw)

    def changepoints(
        self,
        *,
        alpha: float = 0.01,
        min_size: int = 2,
        max_changes: int | None = None,
        dispersion: float | None = None,
        autocorrelation: float = 0.5,
        penalty: float | None = None,
        n_sim: int = 2000,
        seed: int = 0,
    ) -> Changepoints:
        """Offline change points in the per-period metric, by binary segmentation.

        Each segment of periods is tested for one change in level. The noise it must stand
        out of is what production data show, not only sampling error: each period's value
        is its sampling error (binomial for proportions, the stored standard error
        otherwise) plus a period effect, a wobble from period to period that neighbouring
        periods share (AR(1) with lag-1 correlation ``autocorrelation``). The period
        effect's variance is estimated from the differences between consecutive periods
        with a robust scale (Qn), so a real step, which moves one difference, or a steady
        trend, which moves them all alike, does not inflate it (:mod:`aidebt.noise`).
        Under that noise each split's statistic is the generalized-least-squares F
        statistic of a level change there (the noise's overall scale left free); the
        largest over every split leaving ``min_size`` periods on each side is compared with
        its distribution in ``n_sim`` simulated series with no change and the same noise
        (a parametric bootstrap, vectorized), which accounts for the search over splits.
        A significant split (p < ``alpha``) cuts the segment and both halves are tested
        again (Csorgo and Horvath 1997; Aue and Horvath 2013 on change points under
        dependence: the noise's long-run variance sets the null).

        The assumption is AR(1) period effects with correlation at most
        ``autocorrelation``. Measured by simulation (tests/test_decay.py): a flat series of
        14 months with a 0.6-point monthly wobble, AR(1) correlation 0.5 and 50,000 rows a
        month shows no change point in about 99% of cases (the pure binomial null flagged
        98% of them), and a 3-point step in the middle is found in about 9 series in 10
        (nearly all with 24 months; at 2,000 rows a month, where sampling error is as large
        as the wobble, in about half, 4 in 5 with 24 months). With pure binomial noise a
        flat series shows no change point in about 99% of cases too. With more strongly
        correlated months, say so with ``autocorrelation=0.8``.

        Parameters
        ----------
        alpha
            Level of each split test (0.01: a flat series shows no change point in about 99%
            of cases under the noise above).
        min_size
            Fewest periods in a segment (2).
        max_changes
            Stop after this many change points (default: no limit).
        dispersion
            None (default): estimate the period-level noise as above. A number: assume
            instead that the noise is sampling error times this factor with independent
            periods (``1.0`` is the pure binomial null, which reads ordinary month-to-month
            wobble as change points at large sizes).
        autocorrelation
            The working lag-1 correlation of period effects, in [0, 1) (0.5).
        penalty
            Instead of the simulation test, accept a split when its statistic, on the
            chi-square(1) scale, exceeds this fixed penalty; ``p_value`` is then that one
            split's tail probability, for information only. It is fast (no simulation) but
            its false-alarm rate depends on the number of periods and is not ``alpha``: on
            flat series of 14 periods, ``4 * log(periods)`` flags about 1 in 100 (1 to 3 in
            100 with a monthly wobble) and the BIC-like ``2 * log(periods)`` about 1 in 9
            (1 in 5 with a wobble); fewer with more periods.
        n_sim, seed
            Simulated series and seed (the result is reproducible).

        Returns
        -------
        Changepoints
            ``.table``: ``period`` (the first period after the change), ``before`` and
            ``after`` (the metric over the adjacent segments) with intervals, ``diff``,
            ``statistic`` and ``p_value``; ``.segments``: each segment's value; ``.notes()``
            the period-level noise it was tested under.

        Examples
        --------
        >>> import aidebt as ad
        >>> d = ad.decay(ad.datasets.demo(20_000), "ts", "y_true", "y_pred")
        >>> cp = d.changepoints()  # the demo's ramp from 2026-04: one break, mid-ramp
        >>> str(cp.table["period"][0]), cp.table["diff"][0] < 0
        ('2026-07-01', True)
        """
        return Changepoints.from_decay(
            self,
            alpha,
            min_size,
            max_changes,
            dispersion,
            penalty,
            n_sim,
            seed,
            autocorrelation,
        )

    # -- display -----------------------------------------------------------------------
    def summary(self, threshold: float | None = None) -> list[str]:
        """Plain-English findings: range, trend and change points (caveats: :meth:`notes`).

        Without groups, when change points split the series and every change since the
        first one goes the same way, the trend is fitted from that first change (the
        current decline), not over the whole window. With ``threshold``, the trend's
        projected crossing is added.
        """
        lines: list[str] = []
        name = self.metric.name
        unit = self.every.noun() if self.axis == "calendar" else f"{self.every.noun()} of age"
        observed = self.estimates.filter(pl.col("value").is_not_null())
        if observed.height == 0:
            return [f"No period has a {name} value (no labeled rows?)."]
        changes = None
        if not self.by:
            first, last = observed.row(0, named=True), observed.row(-1, named=True)
            said = self.metric.display_name
            value = (lambda v: prose.percent(v, 1)) if self.metric.in_points else prose.number
            lines.append(
                f"{prose.capital(said)} per {unit}, {self.label(first['_p'])} to "
                f"{self.label(last['_p'])}: {value(first['value'])} first, "
                f"{value(last['value'])} last "
                f"({prose.count(observed.height, 'period')}, {self.estimates['group_n'].sum():,.0f} rows)."
            )
            try:
                changes = self.changepoints()
            except AidebtError:  # too few periods to test: the summary says what it can
                changes = None
        else:
            n_groups = observed.select(self.by).unique().height
            lines.append(f"{name} per {unit} for {n_groups} groups of {', '.join(self.by)}.")
        start = None
        if changes is not None and changes.table.height:
            diffs = changes.table["diff"].drop_nulls()
            if diffs.len() == changes.table.height and ((diffs < 0).all() or (diffs > 0).all()):
                start = int(changes.index[0])
        try:
            trend = self.fit(start=self.date_of(start))
            if threshold is not None:
                lines.extend(trend.crossing(threshold).summary()[:4])
            else:
                lines.extend(trend.summary()[:4])
        except AidebtError:  # no period to fit (no labels yet): fit() says why when called
            pass
        if changes is not None:
            lines.extend(changes.summary()[:3])
        return lines

    def notes(self) -> list[str]:
        """Caveats: periods with no rows (gaps), late labels, rows without a time."""
        lines: list[str] = []
        if self.gaps.height:
            shown = ", ".join(
                self.label(p)
                for p in self.estimates.filter(pl.col("group_n") == 0).get_column("_p").head(6)
            )
            lines.append(
                f"{self.gaps.height} period(s) have no rows ({shown}): gaps, left out of fits."
            )
        if self.metric.needs_label:
            late = (
                self.estimates.group_by("_p")
                .agg(pl.col("unlabeled").sum(), pl.col("group_n").sum())
                .filter(pl.col("group_n") > 0)
                .with_columns(unlabeled_share=pl.col("unlabeled") / pl.col("group_n"))
                .filter(pl.col("unlabeled_share") > 0.1)
                .sort("_p")
            )
            if late.height:
                parts = ", ".join(
                    f"{self.label(r['_p'])} {r['unlabeled_share']:.0%}"
                    for r in late.tail(4).iter_rows(named=True)
                )
                lines.append(
                    f"Unlabeled share (labels arrive late): {parts}; those values rest on "
                    "fewer rows and have wider intervals."
                )
        if self.no_time:
            lines.append(f"{self.no_time:,.0f} rows have no time value and are left out.")
        return lines

    def chart(
        self,
        threshold: float | None = None,
        *,
        fit: bool | Trend = False,
        estimate: Any = None,
        **kwargs: Any,
    ):
        """The decay curve: each period's value with its interval band.

        ``fit=True`` (or a :class:`Trend`) adds the fitted trend with its band;
        ``threshold`` adds the threshold line and, with a fit, the projected crossing
        with its interval. ``estimate`` (an :class:`aidebt.estimate.Estimate` of the same
        metric) draws the periods whose labels have not all arrived as an estimate from
        the scores, dotted beside the measured curve. See
        :func:`aidebt.charts.decay_chart`.
        """
        trend = self.fit() if fit is True else (fit or None)
        if threshold is not None and trend is None:
            trend = self.fit()
        if trend is not None:
            return trend.chart(threshold, estimate=estimate, **kwargs)
        from aidebt import charts

        return charts.decay_chart(
            self.table,
            by=self.by,
            metric=self.metric.name,
            axis=self.axis,
            unit=self.every.noun(),
            estimated=estimated_tail(estimate, self.metric.name),
            **kwargs,
        )

    def _display_table(self) -> pl.DataFrame:
        return self.table.select(
            [*self.by, "period", "value", "ci_low", "ci_high", "n", "unlabeled_share", "note"]
        )


def estimated_tail(estimate: Any, metric: str) -> pl.DataFrame | None:
    """The tail an :class:`aidebt.estimate.Estimate` adds to a decay chart (None: none)."""
    if estimate is None:
        return None
    if metric not in estimate.metrics:
        raise InvalidArgumentError(
            f"The estimate has no {metric}: its metrics are {', '.join(estimate.metrics)}. "
            f"Estimate with metrics=[{metric!r}] to draw it on this chart."
        )
    return estimate.tail(metric)
