"""Metrics over time: decay curves, trend fits, threshold crossings and change points.

One group-by pass (:func:`aidebt.aggregate.sufficient_stats`, with the period computed
from the time column as a derived key) gives the sufficient statistics per period (and
per ``by`` group); :func:`aidebt.metrics.evaluate` turns them into values with
intervals. Everything after that works on this small table:

- :meth:`Decay.fit` fits a binomial GLM (logit link) to the per-period counts of
  correct/incorrect (or any proportion's numerator/denominator), with a quasi-binomial
  dispersion so that period-to-period noise beyond binomial widens the intervals
  (``model="linear"``: weighted least squares of the per-period values for numeric
  metrics);
- :meth:`Trend.crossing` inverts the fitted curve: when it crosses a threshold, with
  Fieller's interval (the set of dates where the fitted curve's confidence band contains
  the threshold) or the delta method;
- :meth:`Decay.changepoints` segments the per-period counts by binary segmentation with a
  binomial likelihood-ratio statistic, each split tested against a parametric bootstrap of
  the no-change null on the same per-period sizes.

Periods are computed in the engine with portable arithmetic on year, month and day of
year, so they work the same on polars, DuckDB and Spark.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import narwhals as nw
import numpy as np
import polars as pl
from scipy import stats as sps
from scipy.special import expit, xlogy

from aidebt import aggregate, frames
from aidebt import metrics as mreg
from aidebt import stats as st
from aidebt.errors import InvalidArgumentError, did_you_mean
from aidebt.periods import Every, as_date, epoch_day, epoch_days
from aidebt.prepare import prepare
from aidebt.results import Result

__all__ = ["Changepoints", "Crossing", "Decay", "Trend", "decay"]

# --------------------------------------------------------------------------------------
# The public function
# --------------------------------------------------------------------------------------
_PUBLIC = [
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


def decay(
    data: Any,
    time: str,
    y_true: str | None = None,
    y_pred: str | None = None,
    metric: str = "accuracy",
    every: str = "1mo",
    by: str | Sequence[str] | None = None,
    since: Any = None,
    weight: str | None = None,
    *,
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

    sums = prep.with_frame(frame).aggregate(by_cols, derived_keys={"_p": period})
    stats, auc_table = sums.stats, sums.score_counts
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
    values = mreg.evaluate(stats, keys, m, confidence=confidence, ci=ci, auc_table=auc_table)
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
    data_table = data_table.with_columns(period_col).sort([*by_cols, "_p"])
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


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------
def _group_label(by: list[str], key: tuple) -> str:
    return " / ".join(f"{c}={v}" for c, v in zip(by, key, strict=True)) if by else ""


def _groups(table: pl.DataFrame, by: list[str]):
    """(key tuple, sub-table) for each group in order; one ((), table) without groups."""
    if not by:
        yield (), table
        return
    for key, part in table.group_by(by, maintain_order=True):
        yield tuple(key), part


class Decay(Result):
    """Result of :func:`decay`: a metric per period, with intervals.

    Attributes
    ----------
    table : polars.DataFrame
        ``by`` columns, ``period``, ``metric``, ``value``, ``ci_low``, ``ci_high``, ``n``,
        ``group_n``, ``unlabeled``, ``unlabeled_share``, ``note``.
    gaps : polars.DataFrame
        The periods with no rows (kept in ``table`` with a null value, left out of fits).
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
        super().__init__(data.select([*by, *_PUBLIC]))
        self._data = data
        self._stats = stats
        self._auc = auc_table
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
    def _label(self, idx: float | int) -> str:
        if self.axis == "age":
            value = float(idx)
            text = f"{value:.0f}" if value == int(value) else f"{value:.1f}"
            return f"age {text} {self.every.unit_name}s"
        return self.every.label(int(idx))

    def _value_at(self, idx: int | None) -> Any:
        """A period number back to what fit(start=...) takes."""
        if idx is None or self.axis == "age":
            return idx
        return self.every.start(idx).item()

    def _index(self, value: Any, name: str) -> int:
        if value is None:
            return None
        if self.axis == "age":
            if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
                return int(value)
            raise InvalidArgumentError(
                f"{name}={value!r}: on an age axis (since=) give the age in periods, e.g. 3."
            )
        return self.every.index_of(value)

    # -- analyses ----------------------------------------------------------------------
    def fit(
        self,
        model: str | None = None,
        *,
        start: Any = None,
        end: Any = None,
        dispersion: str | float = "pearson",
        confidence: float | None = None,
    ) -> Trend:
        """Fit a trend to the per-period values: ``logit(metric) = a + b * period``.

        Parameters
        ----------
        model
            ``"logistic"`` (default for proportions: a binomial GLM of the per-period
            numerator/denominator counts, logit link) or ``"linear"`` (default for other
            metrics: weighted least squares of the per-period values, weights 1/SE²).
        start, end
            Fit only periods from ``start`` to ``end`` inclusive (a date or ISO string such
            as ``"2026-04"``; an age in periods with ``since=``). Use it to fit the decay
            after a change point.
        dispersion
            ``"pearson"`` (default): a quasi-likelihood scale, Pearson X² / (periods - 2),
            estimated from the scatter of the periods around the trend, with t intervals on
            periods - 2 degrees of freedom; period-to-period noise beyond binomial (or beyond
            the per-period standard errors, for ``"linear"``) widens the intervals instead
            of making them falsely narrow. ``"fixed"`` (or 1.0): the nominal binomial
            variance, normal intervals; another number: that scale.
        confidence
            Interval level; defaults to the decay's.

        Returns
        -------
        Trend
            ``.table`` per group: ``slope`` (per period, on the model's scale: log-odds for
            ``"logistic"``) with ``slope_ci_low``/``slope_ci_high`` and ``p_value``,
            ``change`` (per period, on the metric's scale at the last fitted period) with
            its interval, ``dispersion``, ``rank`` (1 = fastest decay); ``.fitted``: per
            period, the fitted value and its confidence band; ``.crossing(threshold)``.

        Examples
        --------
        >>> import aidebt as ad
        >>> d = ad.decay(ad.datasets.demo(5_000), "ts", "y_true", "y_pred")
        >>> t = d.fit(start="2026-04")
        >>> bool(t.table["slope_ci_high"][0] < 0)
        True
        """
        return Trend._fit(self, model, start, end, dispersion, confidence)

    def crossing(self, threshold: float, **kwargs: Any) -> Crossing:
        """Shortcut for ``self.fit(...).crossing(threshold)``.

        Keyword arguments go to :meth:`fit` (``model``, ``start``, ``end``, ``dispersion``)
        or to :meth:`Trend.crossing` (``method``, ``max_ahead``).
        """
        cross_kw = {k: kwargs.pop(k) for k in ("method", "max_ahead") if k in kwargs}
        return self.fit(**kwargs).crossing(threshold, **cross_kw)

    def changepoints(
        self,
        *,
        alpha: float = 0.01,
        min_size: int = 2,
        max_changes: int | None = None,
        dispersion: float = 1.0,
        penalty: float | None = None,
        n_sim: int = 2000,
        seed: int = 0,
    ) -> Changepoints:
        """Offline change points in the per-period metric, by binary segmentation.

        Each segment of periods is tested for one change in level: the statistic is the
        largest likelihood-ratio statistic over every split leaving at least ``min_size``
        periods on each side (binomial likelihood of the per-period counts for
        proportions; Gaussian with the per-period standard errors otherwise). Its null
        distribution, the maximum over the same splits with no change, comes from a
        parametric bootstrap of the per-period counts at the pooled rate and the same
        per-period sizes (``n_sim`` draws, vectorized), so the test accounts for the number
        of candidate splits. A significant split (bootstrap p < ``alpha``) cuts the segment
        and both halves are tested again.

        Parameters
        ----------
        alpha
            Level of each split test (0.01: a flat series shows no change point in about 99%
            of cases).
        min_size
            Fewest periods in a segment (2).
        max_changes
            Stop after this many change points (default: no limit).
        dispersion
            Divide the likelihood-ratio statistics by this overdispersion factor (e.g. the
            ``dispersion`` of a :meth:`fit` on a stable stretch): with large periods,
            period-to-period noise beyond binomial would otherwise read as change points.
        penalty
            Instead of the bootstrap test, accept a split when its likelihood-ratio
            statistic exceeds this fixed penalty (e.g. ``2 * log(periods)``, BIC-like);
            ``p_value`` is then the chi-square(1) tail of the statistic, for information
            only (it ignores the search over splits).
        n_sim, seed
            Bootstrap draws and seed (the result is reproducible).

        Returns
        -------
        Changepoints
            ``.table``: ``period`` (the first period after the change), ``before`` and
            ``after`` (the metric over the adjacent segments) with intervals, ``diff``,
            ``statistic`` and ``p_value``; ``.segments``: each segment's value.

        Examples
        --------
        >>> import aidebt as ad
        >>> d = ad.decay(ad.datasets.demo(20_000), "ts", "y_true", "y_pred")
        >>> str(d.changepoints().table["period"][0])
        '2026-04-01'
        """
        return Changepoints._detect(
            self, alpha, min_size, max_changes, dispersion, penalty, n_sim, seed
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
        observed = self._data.filter(pl.col("value").is_not_null())
        if observed.height == 0:
            return [f"No period has a {name} value (no labeled rows?)."]
        changes = None
        if not self.by:
            first, last = observed.row(0, named=True), observed.row(-1, named=True)
            lines.append(
                f"{name} per {unit}, {self._label(first['_p'])} to {self._label(last['_p'])}: "
                f"{first['value']:.3f} first, {last['value']:.3f} last "
                f"({observed.height} periods, {self._data['group_n'].sum():,.0f} rows)."
            )
            try:
                changes = self.changepoints()
            except Exception:  # a summary never raises; changepoints() says why
                changes = None
        else:
            n_groups = observed.select(self.by).unique().height
            lines.append(f"{name} per {unit} for {n_groups} groups of {', '.join(self.by)}.")
        start = None
        if changes is not None and changes.table.height:
            diffs = changes.table["diff"].drop_nulls()
            if diffs.len() == changes.table.height and ((diffs < 0).all() or (diffs > 0).all()):
                start = int(changes._idx[0])
        try:
            trend = self.fit(start=self._value_at(start))
            if threshold is not None:
                lines.extend(trend.crossing(threshold).summary()[:4])
            else:
                lines.extend(trend.summary()[:4])
        except Exception:  # a summary never raises; fit() says why when called
            pass
        if changes is not None:
            lines.extend(changes.summary()[:3])
        return lines

    def notes(self) -> list[str]:
        """Caveats: periods with no rows (gaps), late labels, rows without a time."""
        lines: list[str] = []
        if self.gaps.height:
            shown = ", ".join(
                self._label(p)
                for p in self._data.filter(pl.col("group_n") == 0).get_column("_p").head(6)
            )
            lines.append(
                f"{self.gaps.height} period(s) have no rows ({shown}): gaps, left out of fits."
            )
        if self.metric.needs_label:
            late = (
                self._data.group_by("_p")
                .agg(pl.col("unlabeled").sum(), pl.col("group_n").sum())
                .filter(pl.col("group_n") > 0)
                .with_columns(unlabeled_share=pl.col("unlabeled") / pl.col("group_n"))
                .filter(pl.col("unlabeled_share") > 0.1)
                .sort("_p")
            )
            if late.height:
                parts = ", ".join(
                    f"{self._label(r['_p'])} {r['unlabeled_share']:.0%}"
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
        **kwargs: Any,
    ):
        """The decay curve: each period's value with its interval band.

        ``fit=True`` (or a :class:`Trend`) adds the fitted trend with its band;
        ``threshold`` adds the threshold line and, with a fit, the projected crossing
        with its interval. See :func:`aidebt.charts.decay_chart`.
        """
        trend = self.fit() if fit is True else (fit or None)
        if threshold is not None and trend is None:
            trend = self.fit()
        if trend is not None:
            return trend.chart(threshold, **kwargs)
        from aidebt import charts

        return charts.decay_chart(
            self.table,
            by=self.by,
            metric=self.metric.name,
            axis=self.axis,
            unit=self.every.noun(),
            **kwargs,
        )

    def _display_table(self) -> pl.DataFrame:
        return self.table.select(
            [*self.by, "period", "value", "ci_low", "ci_high", "n", "unlabeled_share", "note"]
        )


def _link(model: str):
    if model == "logistic":
        return (
            lambda p: np.log(p / (1 - p)),
            expit,
        )
    return (lambda v: v, lambda eta: eta)


@dataclass
class _Fit:
    """One group's fitted line on the link scale, ``eta = b0 + b1 * (x - x0)``."""

    params: np.ndarray
    cov: np.ndarray
    crit: float
    df: float
    x0: int
    x_first: int
    x_last: int
    dispersion: float

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
    def _fit(cls, decay_: Decay, model, start, end, dispersion, confidence) -> Trend:
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
        if isinstance(dispersion, str):
            if dispersion not in ("pearson", "fixed"):
                raise InvalidArgumentError(
                    f"dispersion={dispersion!r}: use 'pearson' (quasi-likelihood), 'fixed' or "
                    "a number > 0."
                )
        elif not isinstance(dispersion, (int, float)) or dispersion <= 0:
            raise InvalidArgumentError(f"dispersion={dispersion!r} must be > 0.")
        confidence = st.check_confidence(confidence or decay_.confidence)
        lo_idx, hi_idx = decay_._index(start, "start"), decay_._index(end, "end")
        data = decay_._data.filter(pl.col("value").is_not_null() & (pl.col("n") > 0))
        if lo_idx is not None:
            data = data.filter(pl.col("_p") >= lo_idx)
        if hi_idx is not None:
            data = data.filter(pl.col("_p") <= hi_idx)
        if data.height == 0:
            raise InvalidArgumentError(
                "No period has a value to fit"
                + (f" between start={start!r} and end={end!r}" if start or end else "")
                + ". Check the window and that the periods have labeled rows."
            )
        rows, fitted, fits = [], [], {}
        for key, part in _groups(data, decay_.by):
            row = dict(zip(decay_.by, key, strict=True))
            fit, note = _fit_group(part, model, dispersion, confidence)
            row.update(model=model, periods=part.height, note=note)
            if fit is None:
                rows.append(row)
                continue
            fits[key] = fit
            x = part.get_column("_p").to_numpy()
            b1, se1 = fit.params[1], float(np.sqrt(fit.cov[1, 1]))
            inv = _link(model)[1]
            eta_last, _ = fit.eta(np.array([fit.x_last]))
            deriv = float(inv(eta_last)[0] * (1 - inv(eta_last)[0])) if model == "logistic" else 1.0
            lo, hi = b1 - fit.crit * se1, b1 + fit.crit * se1
            stat = b1 / se1 if se1 > 0 else np.inf
            p = 2 * (sps.t.sf(abs(stat), fit.df) if np.isfinite(fit.df) else sps.norm.sf(abs(stat)))
            row.update(
                slope=float(b1),
                slope_ci_low=float(lo),
                slope_ci_high=float(hi),
                p_value=float(p),
                odds_ratio=float(np.exp(b1)) if model == "logistic" else None,
                change=deriv * float(b1),
                change_ci_low=deriv * float(lo),
                change_ci_high=deriv * float(hi),
                dispersion=fit.dispersion,
                df=fit.df,
                first=int(x.min()),
                last=int(x.max()),
            )
            rows.append(row)
            est, se = fit.eta(x)
            fitted.append(
                part.select(
                    [*decay_.by, "_p", "period", "value", "ci_low", "ci_high", "n"]
                ).with_columns(
                    fit=pl.Series(inv(est)),
                    fit_low=pl.Series(inv(est - fit.crit * se)),
                    fit_high=pl.Series(inv(est + fit.crit * se)),
                )
            )
        if not rows:
            raise InvalidArgumentError(
                "No period has a value to fit"
                + (f" between start={start!r} and end={end!r}" if start or end else "")
                + ". Check the window and that the periods have labeled rows."
            )
        table = pl.DataFrame(rows, infer_schema_length=None)
        for c in (
            "slope",
            "slope_ci_low",
            "slope_ci_high",
            "p_value",
            "odds_ratio",
            "change",
            "change_ci_low",
            "change_ci_high",
            "dispersion",
            "df",
        ):
            table = table.with_columns(
                pl.col(c).cast(pl.Float64)
                if c in table.columns
                else pl.lit(None, pl.Float64).alias(c)
            )
        for c in ("first", "last"):
            if c not in table.columns:
                table = table.with_columns(pl.lit(None, pl.Int64).alias(c))
        table = _rank(table, m)
        out = cls(table, decay_, fits, model, confidence, start)
        out.fitted = (
            pl.concat(fitted, how="vertical_relaxed")
            if fitted
            else pl.DataFrame(schema={"_p": pl.Int64, "fit": pl.Float64})
        )
        return out

    def __init__(self, table, decay_: Decay, fits, model, confidence, start) -> None:
        self._decay = decay_
        self.decay = decay_
        self._fits: dict[tuple, _Fit] = fits
        self.model = model
        self.confidence = confidence
        self.by = decay_.by
        self.metric = decay_.metric
        self.every = decay_.every
        self._start = start
        self._table = table
        public = [
            *self.by,
            "model",
            "slope",
            "slope_ci_low",
            "slope_ci_high",
            "p_value",
            "odds_ratio",
            "change",
            "change_ci_low",
            "change_ci_high",
            "dispersion",
            "df",
            "periods",
            "first",
            "last",
            "decaying",
            "rank",
            "note",
        ]
        shown = table.with_columns(
            *(
                pl.Series(c, [decay_._label(v) if v is not None else None for v in table[c]])
                for c in ("first", "last")
            )
        )
        super().__init__(shown.select(public))

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
            if len(self._fits) != 1:
                raise InvalidArgumentError(
                    "This trend has several groups: pass group=(value, ...) to choose one."
                )
            return next(iter(self._fits.values()))
        group = tuple(group) if isinstance(group, (tuple, list)) else (group,)
        if group not in self._fits:
            raise InvalidArgumentError(
                f"No fitted group {group!r}. {did_you_mean(str(group), [str(k) for k in self._fits])}"
            )
        return self._fits[group]

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
        symmetric delta-method interval instead.

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
        rows = []
        for row in self._table.iter_rows(named=True):
            key = tuple(row[c] for c in self.by)
            out = dict(zip(self.by, key, strict=True))
            fit = self._fits.get(key)
            if fit is None:
                rows.append(
                    {**out, "status": "no fit", "reason": row["note"] or "no trend was fitted"}
                )
                continue
            rows.append({**out, **_cross(fit, target, threshold, method, max_ahead, self)})
        table = pl.DataFrame(rows, infer_schema_length=None)
        return Crossing(table, self, threshold, method)

    # -- display -----------------------------------------------------------------------
    def summary(self) -> list[str]:
        """One sentence per group (the fastest decaying first, at most five)."""
        lines = []
        d = self._decay
        name = self.metric.name.capitalize()
        since = (
            f" since {d._label(self._table['first'][0])}"
            if self._table.height and self._table["first"][0] is not None
            else ""
        )
        for row in self._table.head(5).iter_rows(named=True):
            who = _group_label(self.by, tuple(row[c] for c in self.by))
            who = f" for {who}" if who else ""
            if row.get("slope") is None:
                lines.append(f"No trend fitted{who}: {row['note']}.")
                continue
            start = f" since {d._label(row['first'])}" if self.by else since
            lines.append(f"{name}{who}" + _trend_sentence(row, self, start) + ".")
        return lines

    def chart(self, threshold: float | None = None, **kwargs: Any):
        """The decay curve with the fitted trend and its band; with ``threshold``, the
        threshold line and the projected crossing with its interval."""
        from aidebt import charts

        crossing = self.crossing(threshold) if threshold is not None else None
        fitted = self.fitted
        if crossing is not None and not self.by:
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
            self._decay.table,
            by=self.by,
            metric=self.metric.name,
            axis=self._decay.axis,
            unit=self.every.noun(),
            fitted=fitted,
            threshold=threshold,
            crossing=crossing.table if crossing is not None else None,
            **kwargs,
        )

    def _period_values(self, x: np.ndarray) -> pl.Series:
        if self._decay.axis == "age":
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
    level = f"{trend.confidence:.0%} CI"
    significant = lo > 0 or hi < 0
    if not significant:
        return (
            f" shows no clear trend{since}: {ch:+{fmt}}{unit} {per} ({level} {lo:+{fmt}} to "
            f"{hi:+{fmt}}, p={row['p_value']:.2g})"
        )
    verb = "fallen" if ch < 0 else "risen"
    a, b = sorted((abs(lo), abs(hi)))
    extra = ""
    if row["dispersion"] and row["dispersion"] > 1.5 and trend.model == "logistic":
        extra = f"; the periods scatter {row['dispersion']:.1f}x more than binomial noise, which the interval includes"
    return f" has {verb} {abs(ch):{fmt}}{unit} {per}{since} ({level} {a:{fmt}} to {b:{fmt}}){extra}"


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


def _fit_group(part: pl.DataFrame, model: str, dispersion, confidence: float):
    """Fit one group's GLM on its per-period table; (None, reason) when it cannot."""
    import statsmodels.api as sm

    k = part.height
    need = 3 if dispersion == "pearson" else 2
    if k < need:
        return None, f"{k} period(s) with a value; a trend needs at least {need}"
    x = part.get_column("_p").to_numpy().astype(float)
    x0 = int(x.min())
    exog = np.column_stack([np.ones(k), x - x0])
    if model == "logistic":
        num = part.get_column("_x").to_numpy().astype(float)
        den = part.get_column("n").to_numpy().astype(float)
        # Proportions with the trials as variance weights: statsmodels' two-column endog
        # gives a wrong Pearson scale (X2) in 0.14-0.15, this form gives the right one.
        endog, weights, family = num / den, den, sm.families.Binomial()
    else:
        value = part.get_column("value").to_numpy().astype(float)
        # The stored standard error, whatever the level the decay's intervals were built at
        # (it was once read back from an interval's width at a fixed 95%).
        se = part.get_column("_se").fill_null(np.nan).to_numpy().astype(float)
        ok = np.isfinite(se) & (se > 0)
        if ok.sum() < need:
            return None, "too few periods with a standard error"
        exog, endog, weights = exog[ok], value[ok], 1 / se[ok] ** 2
        family = sm.families.Gaussian()
    scale = (
        "X2" if dispersion == "pearson" else (1.0 if dispersion == "fixed" else float(dispersion))
    )
    try:
        res = sm.GLM(endog, exog, family=family, var_weights=weights).fit(scale=scale)
    except Exception as exc:  # perfect fits, separation: say so, do not crash
        return None, f"the fit failed ({type(exc).__name__}: {exc})"
    params = np.asarray(res.params, dtype=float)
    cov = np.asarray(res.cov_params(), dtype=float)
    if not np.all(np.isfinite(params)) or not np.all(np.isfinite(cov)):
        return None, "the fit did not converge (every period at 0 or 1?)"
    df = float(res.df_resid) if dispersion == "pearson" else np.inf
    crit = float(
        st.t_quantile(confidence, df) if np.isfinite(df) else st.normal_quantile(confidence)
    )
    return (
        _Fit(params, cov, crit, df, x0, int(x.min()), int(x.max()), float(res.scale)),
        None,
    )


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


def _cross(
    fit: _Fit, target: float, threshold: float, method: str, max_ahead, trend: Trend
) -> dict:
    """Inverse prediction on one group's line; a row of the crossing table."""
    d = trend._decay
    b0, b1 = fit.params
    v00, v01, v11 = fit.cov[0, 0], fit.cov[0, 1], fit.cov[1, 1]
    t2 = fit.crit**2
    span = fit.x_last - fit.x_first
    ahead_limit = float(max_ahead) if max_ahead is not None else max(float(span), 1.0)
    out: dict[str, Any] = {"status": "none", "method": method}
    if b1 == 0:
        return {**out, "reason": "the fitted trend is flat: it never crosses"}
    xc = (target - b0) / b1  # centred at x0
    x_star = xc + fit.x0
    est_eta, _ = fit.eta(np.array([fit.x_last]))
    side = "above" if est_eta[0] > target else "below"
    where = f"{threshold:g}"
    point = d._label(x_star) if abs(x_star) < 1e6 else "never"
    # Interval on the period scale.
    if method == "fieller":
        a = b1**2 - t2 * v11
        bq = (b0 - target) * b1 - t2 * v01
        cq = (b0 - target) ** 2 - t2 * v00
        disc = bq**2 - a * cq
        bounded = a > 0 and disc >= 0
        if bounded:
            r = np.sqrt(disc)
            lo, hi = sorted(((-bq - r) / a + fit.x0, (-bq + r) / a + fit.x0))
    else:
        se = np.sqrt(max(v00 + 2 * xc * v01 + xc**2 * v11, 0)) / abs(b1)
        lo, hi = x_star - fit.crit * se, x_star + fit.crit * se
        bounded = abs(b1) > fit.crit * np.sqrt(v11)
    if x_star < fit.x_first:
        moving = "away from" if (side == "above") == (b1 > 0) else "further past"
        return {
            **out,
            "status": "not crossing",
            "reason": f"the fitted curve is {side} {where} over the whole fitted window and "
            f"moves {moving} it: no crossing ahead",
        }
    if not bounded:
        return {
            **out,
            "status": "uncertain",
            "reason": f"the slope is not distinguishable from zero at {trend.confidence:.0%}, so "
            f"the crossing date cannot be bounded (the point estimate would be {point})",
        }
    status = "crossed" if x_star <= fit.x_last else "ahead"
    if x_star - fit.x_last > ahead_limit:
        return {
            **out,
            "status": "too far",
            "reason": f"the fitted curve crosses {where} around {point}, {x_star - fit.x_last:.0f} "
            f"periods after the last one: further ahead than the {ahead_limit:.0f} periods the "
            "data reach back, too far to trust the extrapolation",
        }
    values = _x_values(np.array([x_star, lo, hi]), trend)
    return {
        **out,
        "status": status,
        "estimate": values[0],
        "ci_low": values[1],
        "ci_high": values[2],
        "periods_ahead": float(x_star - fit.x_last),
        "_x": float(x_star),
        "_x_low": float(lo),
        "_x_high": float(hi),
        "reason": None,
    }


def _x_values(x: np.ndarray, trend: Trend) -> list:
    if trend._decay.axis == "age":
        return [float(v) for v in x]
    return [v.item() for v in trend.every.at(x)]


class Crossing(Result):
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
        for c, dtype in (
            ("estimate", pl.Datetime("us") if trend._decay.axis == "calendar" else pl.Float64),
            ("ci_low", None),
            ("ci_high", None),
            ("periods_ahead", pl.Float64),
            ("_x", pl.Float64),
            ("_x_low", pl.Float64),
            ("_x_high", pl.Float64),
            ("reason", pl.String),
            ("method", pl.String),
        ):
            dtype = dtype or (pl.Datetime("us") if trend._decay.axis == "calendar" else pl.Float64)
            if c not in table.columns:
                table = table.with_columns(pl.lit(None, dtype).alias(c))
        table = table.with_columns(threshold=pl.lit(float(threshold)))
        super().__init__(
            table.select(
                [
                    *trend.by,
                    "threshold",
                    "status",
                    "estimate",
                    "ci_low",
                    "ci_high",
                    "periods_ahead",
                    "method",
                    "reason",
                    "_x",
                    "_x_low",
                    "_x_high",
                ]
            )
        )
        self._trend = trend
        self.threshold = float(threshold)
        self.method = method
        first = self.table.row(0, named=True)
        self.estimate = first["estimate"]
        self.ci_low = first["ci_low"]
        self.ci_high = first["ci_high"]
        self.status = first["status"]
        self.reason = first["reason"]

    def __bool__(self) -> bool:
        return self.estimate is not None

    def summary(self) -> list[str]:
        t = self._trend
        lines = []
        ev = t.every
        fmt = (lambda v: t._decay._label(v)) if t._decay.axis == "age" else ev.label_instant
        method = "Fieller interval" if self.method == "fieller" else "delta-method interval"
        trend_rows = {tuple(r[c] for c in t.by): r for r in t._table.iter_rows(named=True)}
        for row in self.table.head(5).iter_rows(named=True):
            key = tuple(row[c] for c in t.by)
            who = _group_label(t.by, key)
            who_txt = f" for {who}" if who else ""
            trow = trend_rows.get(key, {})
            lead = ""
            if trow.get("slope") is not None:
                since = f" since {t._decay._label(trow['first'])}"
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
            lines.append(
                f"{lead}{verb} {self.threshold:g} around {fmt(row['estimate'])} "
                f"({fmt(row['ci_low'])} to {fmt(row['ci_high'])}, {t.confidence:.0%} {method})."
            )
        return lines

    def chart(self, **kwargs: Any):
        """The decay curve with the fitted trend, the threshold and this crossing."""
        return self._trend.chart(self.threshold, **kwargs)

    def _display_table(self) -> pl.DataFrame:
        return self.table.drop("_x", "_x_low", "_x_high")


# --------------------------------------------------------------------------------------
# Change points
# --------------------------------------------------------------------------------------
def _segment_loglik(x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Binomial log-likelihood at the MLE, elementwise, without the binomial coefficient:
    ``x log x + (n-x) log(n-x) - n log n`` (0 log 0 = 0)."""
    return xlogy(x, x) + xlogy(n - x, n - x) - xlogy(n, n)


def _split_stats(y: np.ndarray, n: np.ndarray, kind: str, min_size: int) -> np.ndarray:
    """Likelihood-ratio statistic of one change at each admissible split.

    ``y`` has shape (..., k): the last axis is the periods. For ``kind="binomial"``, ``y``
    are counts and ``n`` trials; for ``"gaussian"``, ``y`` values and ``n`` weights 1/SE².
    Returns (..., k - 2*min_size + 1): splits after period min_size-1 ... k-min_size-1.
    """
    k = y.shape[-1]
    cy = np.cumsum(y, axis=-1)
    cn = np.cumsum(np.broadcast_to(n, y.shape), axis=-1)
    split = np.arange(min_size, k - min_size + 1)  # size of the left part
    left_y, left_n = cy[..., split - 1], cn[..., split - 1]
    tot_y, tot_n = cy[..., -1:], cn[..., -1:]
    right_y, right_n = tot_y - left_y, tot_n - left_n
    if kind == "binomial":
        return 2 * (
            _segment_loglik(left_y, left_n)
            + _segment_loglik(right_y, right_n)
            - _segment_loglik(tot_y, tot_n)
        )
    # Gaussian with known variances: weighted sums of y*w; the statistic is the drop in
    # the weighted sum of squares, (mean_L - mean_R)^2 / (1/W_L + 1/W_R).
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_l, mean_r = left_y / left_n, right_y / right_n
        return (mean_l - mean_r) ** 2 / (1 / left_n + 1 / right_n)


def _test_segment(y, n, kind, min_size, dispersion, n_sim, rng, penalty=None):
    """Best split of one segment and its bootstrap p-value under no change (with a fixed
    ``penalty``: the chi-square(1) tail, and the split is accepted by the caller when the
    statistic exceeds the penalty)."""
    k = len(y)
    obs = _split_stats(y, n, kind, min_size) / dispersion
    best = int(np.nanargmax(obs))
    stat = float(obs[best])
    if penalty is not None:
        return best + min_size, stat, float(sps.chi2.sf(stat, 1))
    if kind == "binomial":
        trials = np.maximum(np.round(n).astype(np.int64), 0)
        pooled = y.sum() / n.sum()
        sims = rng.binomial(trials, pooled, size=(n_sim, k)).astype(float)
        null = _split_stats(sims, trials.astype(float), kind, min_size)
    else:
        mean = (y * n).sum() / n.sum()
        se = 1 / np.sqrt(n)
        sims = mean + se * rng.standard_normal((n_sim, k))
        null = _split_stats(sims * n, n, kind, min_size)
    null_max = np.nanmax(null, axis=-1)
    p = (1 + np.sum(null_max >= stat)) / (n_sim + 1)
    return best + min_size, stat, float(p)


def binary_segmentation(
    y: np.ndarray,
    n: np.ndarray,
    *,
    kind: str = "binomial",
    alpha: float = 0.01,
    min_size: int = 2,
    max_changes: int | None = None,
    dispersion: float = 1.0,
    penalty: float | None = None,
    n_sim: int = 2000,
    seed: int = 0,
) -> list[tuple[int, float, float]]:
    """Change points of a sequence of per-period counts: [(position, statistic, p), ...].

    ``position`` is the index of the first period after a change. ``kind="binomial"``:
    ``y`` successes out of ``n`` trials; ``"gaussian"``: ``n`` the weights ``1/SE^2`` of
    the per-period values and ``y`` the weighted values ``value * n``.

    Examples
    --------
    >>> n = np.full(12, 1000.0)
    >>> y = np.r_[np.full(6, 900.0), np.full(6, 850.0)]
    >>> [pos for pos, _, _ in binary_segmentation(y, n)]
    [6]
    """
    rng = np.random.default_rng(seed)
    y, n = np.asarray(y, dtype=float), np.asarray(n, dtype=float)
    found: list[tuple[int, float, float]] = []
    queue = [(0, len(y))]
    while queue:
        lo, hi = queue.pop(0)
        if hi - lo < 2 * min_size:
            continue
        if max_changes is not None and len(found) >= max_changes:
            break
        pos, stat, p = _test_segment(
            y[lo:hi], n[lo:hi], kind, min_size, dispersion, n_sim, rng, penalty
        )
        if (stat > penalty) if penalty is not None else (p < alpha):
            found.append((lo + pos, stat, p))
            queue.extend([(lo, lo + pos), (lo + pos, hi)])
    return sorted(found)


class Changepoints(Result):
    """Result of :meth:`Decay.changepoints`.

    Attributes
    ----------
    table : polars.DataFrame
        One row per change point (per group with ``by``): ``period`` (first period after
        the change), ``before``, ``before_ci_low``, ``before_ci_high``, ``after``,
        ``after_ci_low``, ``after_ci_high`` (the metric over the segments on either side,
        pooled from their sufficient statistics), ``diff`` (after - before), ``statistic``
        (likelihood ratio) and ``p_value`` (parametric bootstrap).
    segments : polars.DataFrame
        Each segment between change points: ``start``, ``end``, ``value``, ``ci_low``,
        ``ci_high``, ``n``.
    """

    title = "Change points"

    @classmethod
    def _detect(cls, d: Decay, alpha, min_size, max_changes, dispersion, penalty, n_sim, seed):
        if not 0 < alpha < 1:
            raise InvalidArgumentError(f"alpha={alpha!r} must be between 0 and 1, e.g. 0.01.")
        if not isinstance(min_size, int) or min_size < 1:
            raise InvalidArgumentError(f"min_size={min_size!r} must be an integer >= 1.")
        if not isinstance(dispersion, (int, float)) or dispersion <= 0:
            raise InvalidArgumentError(f"dispersion={dispersion!r} must be a number > 0.")
        if penalty is not None and (not isinstance(penalty, (int, float)) or penalty < 0):
            raise InvalidArgumentError(f"penalty={penalty!r} must be a number >= 0 or None.")
        m = d.metric
        kind = "binomial" if m.binomial else "gaussian"
        data = d._data.filter(pl.col("value").is_not_null() & (pl.col("n") > 0))
        if d.by:
            by_group = d._stats.partition_by(d.by, as_dict=True, maintain_order=True)
        else:
            by_group = {(): d._stats}
        changes, segments = [], []
        z = st.normal_quantile(d.confidence)
        for key, part in _groups(data, d.by):
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
            found = binary_segmentation(
                y,
                n,
                kind=kind,
                alpha=alpha,
                min_size=min_size,
                max_changes=max_changes,
                dispersion=dispersion,
                penalty=penalty,
                n_sim=n_sim,
                seed=seed,
            )
            bounds = [0, *[pos for pos, _, _ in found], len(idx)]
            seg_rows = _segment_values(d, idx, bounds, by_group[key], part, z)
            for a, b, seg in zip(bounds[:-1], bounds[1:], seg_rows, strict=True):
                segments.append(
                    {
                        **dict(zip(d.by, key, strict=True)),
                        "start": d._label(idx[a]),
                        "end": d._label(idx[b - 1]),
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
        schema = {
            **{c: pl.String for c in d.by},
            "_p": pl.Int64,
            **{
                c: pl.Float64
                for c in (
                    "before",
                    "before_ci_low",
                    "before_ci_high",
                    "after",
                    "after_ci_low",
                    "after_ci_high",
                    "diff",
                    "statistic",
                    "p_value",
                )
            },
        }
        table = pl.DataFrame(changes, schema=schema)
        if d.axis == "calendar":
            period = pl.Series("period", d.every.start(table["_p"].to_numpy())).cast(pl.Date)
        else:
            period = table["_p"].alias("period")
        table = table.with_columns(period).select(
            [*d.by, "period", *list(schema)[len(d.by) + 1 :], "_p"]
        )
        out = cls(table.drop("_p"))
        out._idx = table["_p"]
        out.segments = pl.DataFrame(segments, infer_schema_length=None)
        out._decay = d
        out.alpha = alpha
        out.min_size = min_size
        out.n_sim = n_sim
        out.penalty = penalty
        return out

    def summary(self) -> list[str]:
        d = self._decay
        name = d.metric.name
        lines = []
        if self.table.height == 0:
            rule = (
                f"a split needs a likelihood ratio above {self.penalty:g}"
                if self.penalty is not None
                else f"each split tested at {self.alpha:g} against a bootstrap of no change"
            )
            return [
                f"No change point in {name} (binary segmentation, {rule}; segments of "
                f">= {self.min_size} periods)."
            ]
        for row, idx in zip(self.table.iter_rows(named=True), self._idx, strict=True):
            who = _group_label(d.by, tuple(row[c] for c in d.by))
            who = f" for {who}" if who else ""
            lines.append(
                f"{name}{who} changed at {d._label(idx)}: {row['before']:.3f} "
                f"({row['before_ci_low']:.3f} to {row['before_ci_high']:.3f}) before, "
                f"{row['after']:.3f} ({row['after_ci_low']:.3f} to {row['after_ci_high']:.3f}) "
                + (
                    f"after (likelihood ratio {row['statistic']:.1f} > penalty {self.penalty:g})."
                    if self.penalty is not None
                    else f"after (bootstrap {_p_text(row['p_value'], self.n_sim)})."
                )
            )
        return lines

    def chart(self, **kwargs: Any):
        """The decay curve with a rule at each change point."""
        from aidebt import charts

        d = self._decay
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
