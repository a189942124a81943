"""Quality along a numeric axis: input length, context size, document pages, turns.

A model card advertises a 128K context; the team's items show quality falling off well
before that. :func:`curve` measures a metric per bin of any numeric column, with
intervals, fits a trend along that axis and says where quality falls to a share of its
level at the start (``.crossing(relative=0.85)``: the "effective context length").

1. **One aggregation pass** (:meth:`aidebt.prepare.Prepared.aggregate`): the bin of each
   row is a group key computed in the data's engine (a sum of comparisons with the bin
   edges), and the sufficient statistics of the metric and the sum of the axis column
   (each bin's mean position) are summed per bin. With ``bins=10`` the edges are the
   deciles of the column, read by one small query first (equal-count bins, so each bin's
   figure is about equally precise); a list of edges needs no such query.
2. **Inference on the small table**: each bin's value and interval as in
   :func:`aidebt.disaggregate`; the trend and the crossing are the machinery of
   :mod:`aidebt.trend`, with the numeric axis in place of time (each bin sits at the mean
   of its rows' values): a quasi-binomial logistic fit for a rate (the scatter of the bins
   around the fitted curve widens its intervals, so a curve that is not a straight line
   on the logit scale gets honest, wider intervals), weighted least squares otherwise,
   and Fieller's interval for the crossing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import narwhals as nw
import numpy as np
import polars as pl

from aidebt import aggregate, frames, prose
from aidebt import metrics as mreg
from aidebt.errors import InvalidArgumentError, InvalidValueError
from aidebt.groups import check_names, iter_groups
from aidebt.prepare import prepare
from aidebt.results import Result, conform
from aidebt.trend import (
    _FOUND,
    BaseCrossing,
    Trend,
    _by_status,
    _link,
    _point_labels,
    _quadratic_interval,
    _status,
)
from aidebt.trend import COLUMNS as TREND_COLUMNS

__all__ = ["Axis", "Curve", "CurveCrossing", "curve"]

COLUMNS = [
    "bin",
    "x_low",
    "x_high",
    "x",
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "n",
    "note",
]
"""The columns of :attr:`Curve.table` after the group columns."""

CROSSING_COLUMNS = {
    "start": pl.Float64,
    "start_level": pl.Float64,
    "start_ci_low": pl.Float64,
    "start_ci_high": pl.Float64,
    "relative": pl.Float64,
    "threshold": pl.Float64,
    "status": pl.String,
    "estimate": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "method": pl.String,
    "reason": pl.String,
}
"""The columns of :attr:`CurveCrossing.table` after the group columns."""


class Axis:
    """A numeric axis in the shape :mod:`aidebt.trend` reads a time axis.

    Positions are kept in ``unit`` (a power of ten chosen from the column's range, 1,000
    for input tokens up to 128K), so a slope reads "per 1,000 input_tokens".
    """

    def __init__(self, name: str, unit: float) -> None:
        self.name = name
        self.unit = unit

    @property
    def unit_name(self) -> str:
        return self.name

    def noun(self) -> str:
        """'bin of input_tokens' (chart titles)."""
        return f"bin of {self.name}"

    def per(self) -> str:
        """'per 1,000 input_tokens' (trend sentences)."""
        return f"per {_number(self.unit)} {self.name}"

    def text(self, position: float | None) -> str:
        """A position in the axis' own units, as text: '32,000 input_tokens'."""
        return "n/a" if position is None else f"{_number(position * self.unit)} {self.name}"

    def title(self) -> str:
        """The x axis title of a chart."""
        return self.name if self.unit == 1 else f"{self.name} (in units of {_number(self.unit)})"


class _AxisView:
    """The per-bin estimates as :class:`aidebt.trend.Trend` reads a decay curve: ``_p`` is
    the bin's mean position (in the axis unit), ``period`` the same for charts."""

    axis = "numeric"

    def __init__(self, estimates, by, metric, every: Axis, confidence, ci) -> None:
        self.estimates = estimates
        self.table = estimates
        self.by = by
        self.metric = metric
        self.every = every
        self.confidence = confidence
        self.ci = ci

    def label(self, idx: Any) -> str:
        return self.every.text(float(idx))

    def index_of(self, value: Any, name: str) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidArgumentError(
                f"{name}={value!r}: give a position on the {self.every.name} axis, e.g. 8000."
            )
        return float(value) / self.every.unit

    def date_of(self, idx: Any) -> Any:
        return None if idx is None else float(idx) * self.every.unit


def curve(
    data: Any,
    x: str,
    y_true: str | None = None,
    y_pred: str | None = None,
    *,
    bins: int | Sequence[float] = 10,
    by: str | Sequence[str] | None = None,
    metric: str = "accuracy",
    weight: str | None = None,
    y_score: str | None = None,
    confidence: float = 0.95,
    ci: str = "wilson",
    pos_label: Any = None,
) -> Curve:
    """A metric per bin of a numeric column, with intervals, a trend and its crossing.

    Parameters
    ----------
    data
        Any input aidebt accepts (polars, pandas, arrow, DuckDB, Spark, a path).
    x
        The numeric axis: input tokens, context size, document pages, turns.
    y_true, y_pred
        Label and prediction columns, as for :func:`aidebt.disaggregate`.
    bins
        A number of bins (default 10): edges at the column's quantiles, so every bin holds
        about as many rows (ties merge bins); or the edges themselves, increasing
        (``[0, 4000, 8000, 16000, 32000, 64000, 128000]``): a row outside them is left
        out and counted.
    by
        Group column(s): one curve per group (e.g. the model).
    metric
        A registry metric (accuracy, error_rate, fnr...; ``p95_latency_ms`` for a quantile
        of a column; ``mean_cost_usd``).
    weight, y_score, confidence, ci, pos_label
        As for :func:`aidebt.disaggregate`.

    Returns
    -------
    Curve
        ``.table`` (one row per group and bin: ``bin``, ``x_low``, ``x_high``, ``x``
        the bin's mean position, the metric's ``value`` with ``ci_low``/``ci_high``,
        ``n``, ``note``), ``.fit()`` (a :class:`aidebt.trend.Trend` along the axis),
        ``.crossing(relative=0.85)``, ``.summary()``, ``.chart()``.

    Notes
    -----
    Each bin's interval is the metric's own (Wilson for a rate). The trend and the
    crossing assume the bins' values vary smoothly with the axis (a straight line on the
    logit scale for a rate); a cliff is not a straight line, but the quasi-binomial
    dispersion estimated from the bins' scatter widens the crossing's interval to match
    (on the demo's cliff at 32,000 tokens, the interval holds it). Rows are assumed
    independent: items that share a document are not.

    Examples
    --------
    >>> import aidebt as ad
    >>> ev = ad.datasets.demo_versions().filter(model_version="m1")
    >>> c = ad.curve(ev, x="input_tokens", y_true="y_true", y_pred="y_pred")
    >>> c.table.height
    10
    >>> cross = c.crossing(relative=0.85)  # m1's planted cliff: 32,000 input tokens
    >>> bool(cross.ci_low < 32_000 < cross.ci_high)
    True
    """
    if not isinstance(x, str):
        raise InvalidArgumentError(f"x={x!r} must be the name of a numeric column.")
    by_cols = frames.as_list(by)
    if x in by_cols:
        raise InvalidArgumentError(f"by={by_cols} contains the axis column {x!r}.")
    # The trend reads the bins as a decay curve (its ``period``) and adds its own columns.
    taken = {*COLUMNS, *CROSSING_COLUMNS, *TREND_COLUMNS, "period"}
    check_names(by_cols, taken, role="a by column")
    position = mreg.column_mean(x)
    prep = prepare(
        data,
        metrics=[metric, position],
        y_true=y_true,
        y_pred=y_pred,
        y_score=y_score,
        weight=weight,
        pos_label=pos_label,
        columns={"the axis (x)": x, "a by column": by_cols},
        confidence=confidence,
    )
    m, confidence = prep.metrics[0], prep.confidence
    edges = _edges(prep.frame, x, bins)
    col = nw.col(x).cast(nw.Float64)
    inside = (col >= edges[0]) & (col <= edges[-1])
    if frames.columns(prep.frame)[x].is_float():
        inside = inside & col.is_finite()
    interior = [(col >= float(e)).cast(nw.Int64) for e in edges[1:-1]]
    index = nw.sum_horizontal(*interior) if interior else nw.lit(0, nw.Int64)
    bin_key = nw.when(inside.fill_null(False)).then(index)
    sums = prep.aggregate(by_cols, derived_keys={"_bin": bin_key})
    stats = sums.stats
    outside = float(stats.filter(pl.col("_bin").is_null())["n"].sum() or 0)
    stats = stats.filter(pl.col("_bin").is_not_null()).with_columns(pl.col("_bin").cast(pl.Int64))
    if stats.height == 0:
        raise InvalidValueError(
            f"No row has a {x!r} value within the bins ({_number(edges[0])} to "
            f"{_number(edges[-1])}): there is nothing to chart."
        )
    auc = sums.auc_table()
    if auc is not None:
        auc = auc.filter(pl.col("_bin").is_not_null()).with_columns(pl.col("_bin").cast(pl.Int64))
    quantiles = prep.quantiles(by_cols, derived_keys={"_bin": bin_key})
    if quantiles is not None:
        quantiles = quantiles.filter(pl.col("_bin").is_not_null()).with_columns(
            pl.col("_bin").cast(pl.Int64)
        )
    keys = [*by_cols, "_bin"]
    values = mreg.evaluate(
        stats, keys, m, confidence=confidence, ci=ci, auc_table=auc, quantiles=quantiles
    )
    total, _, count = aggregate.value_sums(x)
    mean_x = (stats[total] / stats[count]).alias("x")
    b = stats["_bin"].to_numpy()
    lows, highs = np.asarray(edges[:-1])[b], np.asarray(edges[1:])[b]
    unit = _unit(edges)
    estimates = values.with_columns(
        mean_x,
        x_low=pl.Series(lows, dtype=pl.Float64),
        x_high=pl.Series(highs, dtype=pl.Float64),
        bin=pl.Series([f"{_number(a)} to {_number(z)}" for a, z in zip(lows, highs, strict=True)]),
    ).with_columns(_p=pl.col("x") / unit, period=pl.col("x") / unit)
    estimates = estimates.sort([*by_cols, "_bin"])
    return Curve(
        estimates,
        x=x,
        by=by_cols,
        metric=m,
        axis=Axis(x, unit),
        edges=np.asarray(edges, dtype=float),
        confidence=confidence,
        ci=ci,
        outside=outside,
    )


def _edges(frame: nw.LazyFrame, x: str, bins: Any) -> list[float]:
    """The bin edges: given, or the column's quantiles (one small query)."""
    if isinstance(bins, bool) or not isinstance(bins, int | Sequence) or isinstance(bins, str):
        raise InvalidArgumentError(
            f"bins={bins!r} must be a number of bins (e.g. 10) or a list of increasing edges."
        )
    if isinstance(bins, int):
        if bins < 1:
            raise InvalidArgumentError(f"bins={bins!r} must be at least 1.")
        col = nw.col(x).cast(nw.Float64)
        if frames.columns(frame)[x].is_float():
            col = nw.when(col.is_finite()).then(col)  # NaN and infinities: no position
        qs = np.linspace(0, 1, bins + 1)
        row = aggregate.collect(
            frame.select(
                *(
                    col.quantile(float(q), interpolation="linear").alias(f"_q{i}")
                    for i, q in enumerate(qs)
                )
            )
        ).row(0)
        found = [float(v) for v in row if v is not None and math.isfinite(float(v))]
        if not found:
            raise InvalidValueError(
                f"Column {x!r} (the axis) has no value: there is nothing to bin."
            )
        edges = sorted(set(found))
        return edges if len(edges) > 1 else [edges[0], edges[0]]
    edges = [float(e) for e in bins]
    if len(edges) < 2 or any(not math.isfinite(e) for e in edges) or np.any(np.diff(edges) <= 0):
        raise InvalidArgumentError(
            f"bins={list(bins)!r} must be at least two finite, strictly increasing edges, "
            "e.g. [0, 4000, 8000, 16000, 32000, 64000, 128000]."
        )
    return edges


def _unit(edges: Sequence[float]) -> float:
    """A power of ten for the axis positions: about a hundredth of its largest value."""
    top = max(abs(edges[0]), abs(edges[-1]))
    if top == 0:
        return 1.0
    power = math.floor(math.log10(top)) - 2
    return float(10 ** max(power, 0)) if top >= 1 else float(10.0**power)


def _number(v: float) -> str:
    """12,000 / 3.5 / 0.0042: an axis value in a label."""
    a = abs(v)
    if a >= 100 or (a >= 1 and float(v).is_integer()):
        return f"{v:,.0f}"
    return f"{v:.3g}"


class Curve(Result):
    """Result of :func:`curve`: a metric per bin of a numeric column.

    Attributes
    ----------
    table : polars.DataFrame
        The ``by`` columns, ``bin`` (its range as text), ``x_low``, ``x_high`` (its edges),
        ``x`` (the mean position of its rows), ``metric``, ``value``, ``ci_low``,
        ``ci_high``, ``n`` (the metric's denominator) and ``note``.
    edges : numpy.ndarray
        The bin edges.
    outside : float
        Rows left out: no value of ``x``, or outside the edges.
    """

    title = "Quality along a numeric axis"

    def __init__(self, estimates: pl.DataFrame, **info: Any) -> None:
        by = info["by"]
        super().__init__(estimates.select(*by, *COLUMNS))
        self.estimates = estimates
        self.x: str = info["x"]
        self.by: list[str] = by
        self.metric: mreg.Metric = info["metric"]
        self.axis: Axis = info["axis"]
        self.edges: np.ndarray = info["edges"]
        self.confidence: float = info["confidence"]
        self.ci: str = info["ci"]
        self.outside: float = info["outside"]
        self._view = _AxisView(estimates, by, self.metric, self.axis, self.confidence, self.ci)

    def fit(
        self,
        model: str | None = None,
        *,
        start: float | None = None,
        end: float | None = None,
        dispersion: str | float = "pearson",
        confidence: float | None = None,
    ) -> Trend:
        """The trend along the axis (:meth:`aidebt.decay.Decay.fit`, with the axis for time).

        ``start`` and ``end`` bound the fitted bins by position (``start=8000``: from the
        bins whose mean lies at 8,000 or beyond). Slopes are per :attr:`Axis.unit` of the
        column (``per 1,000 input_tokens``).
        """
        return Trend.from_decay(self._view, model, start, end, dispersion, confidence)

    def crossing(
        self,
        relative: float | None = 0.85,
        *,
        threshold: float | None = None,
        **fit: Any,
    ) -> CurveCrossing:
        """Where the fitted curve falls to ``relative`` times its level at the start.

        The level at the start is the fitted value at the first bin (the shortest inputs);
        the crossing solves ``fit(x) = relative * fit(start)``. With ``relative=0.85`` on
        accuracy by input length it is the "effective context length": the length beyond
        which quality is below 85% of what short inputs get. ``threshold=`` gives an
        absolute level instead (``relative=None``): Fieller's interval of
        :meth:`aidebt.trend.Trend.crossing`. Keyword arguments go to :meth:`fit`.

        The relative crossing's interval counts the start level's own error: it is the set
        of positions ``x`` where the test of ``g(x) = eta(x) - link(relative *
        inverse_link(eta(start))) = 0`` does not reject (``eta`` the fitted line on the
        link scale; the variance of ``g`` by the delta method, linear in ``x``), which is
        a quadratic inequality in ``x`` solved in closed form, as Fieller's. Treating the
        start level as known instead would be conservative (its error moves the whole
        curve, and so the threshold with it): in the tests' simulation (a logistic decline,
        10 bins of 200 rows, 300 replicates, MC SE 0.013) this interval covers 0.950, and
        0.943 with extra-binomial noise per bin; the fixed-threshold one 1.000. Every group
        is solved at once, on the trend's arrays of fitted lines.
        """
        if (relative is None) == (threshold is None):
            raise InvalidArgumentError(
                "Give relative= (a share of the start level, e.g. 0.85) or threshold= (a "
                "level), not both."
            )
        if relative is not None and (
            isinstance(relative, bool) or not isinstance(relative, int | float) or relative <= 0
        ):
            raise InvalidArgumentError(
                f"relative={relative!r} must be a number > 0, e.g. 0.85 (85% of the start level)."
            )
        trend = self.fit(**fit)
        fitted = trend._groups >= 0
        line = trend.fits.lines(trend._groups[fitted])
        # the fitted level at each group's first bin, with its band (Trend.predict's)
        with np.errstate(invalid="ignore", over="ignore"):
            eta, se = line.eta(line.x_first)
            half = line.crit * se
        inv = _link(trend.model)[1]
        start = inv(eta)
        if threshold is not None:
            at = trend.crossing(threshold).table.filter(pl.Series(fitted))
            where = at.select("status", "reason", "_x", "_x_low", "_x_high")
            level, method = np.full(start.shape, float(threshold)), "fieller"
        else:
            level, method = relative * start, "delta"
            outside = ~((level > 0) & (level < 1))
            if trend.model == "logistic" and outside.any():
                raise InvalidArgumentError(
                    f"relative={relative!r} puts the threshold at {level[outside][0]:.3g}, "
                    "outside 0 to 1."
                )
            where = _relative_crossing(line, trend.model, relative, trend)
        found = pl.col("status").is_in(_FOUND)
        u = self.axis.unit
        rows = where.select(
            start=pl.Series(line.x_first * u),
            start_level=pl.Series(start),
            start_ci_low=pl.Series(inv(eta - half)),
            start_ci_high=pl.Series(inv(eta + half)),
            relative=pl.lit(relative, pl.Float64),
            threshold=pl.Series(level),
            status="status",
            estimate=pl.when(found).then(pl.col("_x").fill_nan(None) * u),
            ci_low=pl.when(found).then(pl.col("_x_low").fill_nan(None) * u),
            ci_high=pl.when(found).then(pl.col("_x_high").fill_nan(None) * u),
            method=pl.lit(method),
            reason="reason",
        )
        table = conform(
            trend._with_fits(fitted, rows), CROSSING_COLUMNS, lead=dict.fromkeys(self.by, pl.String)
        )
        return CurveCrossing(table, self, trend)

    def summary(self) -> list[str]:
        """The metric at the start and the end of the axis, its trend, per group."""
        lines = []
        name = self.metric.name
        values = self.table.filter(pl.col("value").is_not_null())
        if values.is_empty():
            why = self.table.get_column("note").drop_nulls().head(1).to_list()
            return [f"No bin of {self.x} has a value of {name}" + (f" ({why[0]})." if why else ".")]
        for key, part in iter_groups(values, self.by):
            who = (
                f" for {prose.group_phrase(dict(zip(self.by, key, strict=True)), self.by)}"
                if self.by
                else ""
            )
            first, last = part.row(0, named=True), part.row(-1, named=True)
            lines.append(
                f"{name.capitalize()}{who} is {_value(self.metric, first['value'])} on the shortest "
                f"{self.x} ({first['bin']}) and {_value(self.metric, last['value'])} on the "
                f"longest ({last['bin']}), over {prose.count(part.height, 'bin')}."
            )
        try:
            lines += self.fit().summary()[:3]
        except InvalidArgumentError:  # too few bins for a trend
            pass
        return lines

    def notes(self) -> list[str]:
        out = []
        if self.outside:
            out.append(
                f"{self.outside:,.0f} rows have no {self.x} value within the bins and are left out."
            )
        out.append(
            f"Intervals are {self.confidence:.0%}. The trend is a straight line on the "
            f"{'logit' if self.metric.binomial else 'metric'} scale along {self.x}; a curve "
            "that bends (a cliff) shows as a large dispersion, which widens its intervals."
        )
        return out

    def chart(self, relative: float | None = None, **kwargs: Any):
        """The metric per bin with its interval band; with ``relative``, the fitted trend,
        the threshold and the crossing (of the first group, with ``by``)."""
        from aidebt import charts

        x_title = kwargs.pop("x_title", self.axis.title())
        if relative is not None:
            return self.crossing(relative).chart(x_title=x_title, **kwargs)
        return charts.decay_chart(
            self.estimates,
            by=self.by,
            metric=self.metric.name,
            axis="numeric",
            unit=self.axis.noun(),
            x_title=x_title,
            **kwargs,
        )

    def _display_table(self) -> pl.DataFrame:
        return self.table.select(*self.by, "bin", "x", "value", "ci_low", "ci_high", "n")


class CurveCrossing(BaseCrossing):
    """Result of :meth:`Curve.crossing`: where the curve falls to a share of its start.

    Attributes
    ----------
    table : polars.DataFrame
        One row per group: ``start`` (the first bin's position), ``start_level`` with
        ``start_ci_low``/``start_ci_high`` (the fitted level there), ``relative``,
        ``threshold`` (``relative * start_level``), ``status`` (``crossed`` within the
        data, ``ahead``, ``not crossing``, ``uncertain``, ``too far``), ``estimate``,
        ``ci_low``, ``ci_high`` (positions on the axis), ``method`` and ``reason``.
    estimate, ci_low, ci_high, status, reason
        The first group's values.
    """

    title = "Where quality falls below its start"

    def __init__(self, table: pl.DataFrame, curve_: Curve, trend: Trend) -> None:
        super().__init__(table)
        self.curve = curve_
        self.trend = trend

    def summary(self) -> list[str]:
        c = self.curve
        name, x = c.metric.name, c.x
        lines = []
        for row in self.table.iter_rows(named=True):
            who = f" for {prose.group_phrase(row, c.by)}" if c.by else ""
            if row["start_level"] is None:
                lines.append(f"No trend of {name}{who}: {row['reason']}.")
                continue
            share = (
                f"{row['relative']:.0%} of its level at the start "
                f"({_value(c.metric, row['start_level'])} at {_number(row['start'])} {x})"
                if row["relative"] is not None
                else "the threshold"
            )
            if row["estimate"] is None:
                lines.append(
                    f"{name.capitalize()}{who} does not show where it falls to {share}, "
                    f"{_value(c.metric, row['threshold'])}: {row['reason']}."
                )
                continue
            lines.append(
                f"{name.capitalize()}{who} falls to {share}, "
                f"{_value(c.metric, row['threshold'])}, at about {_number(row['estimate'])} "
                f"{x} ({c.confidence:.0%} interval {_number(row['ci_low'])} to "
                f"{_number(row['ci_high'])}): beyond it, quality is below that level."
            )
        return lines

    def notes(self) -> list[str]:
        return [
            "The crossing inverts the fitted trend; the start level is the fitted value at "
            "the first bin, and the interval counts its error (a delta-method band "
            "inversion; Fieller's interval for an absolute threshold)."
        ]

    def chart(self, **kwargs: Any):
        """The curve, the fitted trend, the threshold and the crossing (the first group)."""
        from aidebt import charts

        c = self.curve
        first = self.table.head(1)
        u = c.axis.unit
        crossing = first.with_columns(
            pl.col("estimate", "ci_low", "ci_high") / u
        )  # the chart's axis is in the axis unit
        return charts.decay_chart(
            c.estimates if not c.by else c.estimates.join(first.select(c.by), on=c.by),
            by=c.by,
            metric=c.metric.name,
            axis="numeric",
            unit=c.axis.noun(),
            fitted=self.trend.fitted
            if not c.by
            else self.trend.fitted.join(first.select(c.by), on=c.by),
            threshold=first["threshold"][0],
            crossing=crossing,
            x_title=kwargs.pop("x_title", c.axis.title()),
            **kwargs,
        )


def _relative_crossing(line, model: str, relative: float, trend: Trend) -> pl.DataFrame:
    """Where each fitted line falls to ``relative`` times its value at its first position,
    with the delta-method band inversion of :meth:`Curve.crossing` (positions in the fit's
    units), for every group at once: ``status``, ``reason``, ``_x``, ``_x_low``, ``_x_high``.

    With ``eta(x) = b0 + b1 (x - x0)``, ``s`` the first position and ``h =
    link(relative * inverse_link(eta(s)))``, the gap ``g(x) = eta(x) - h`` has gradient
    ``(1 - k, (x - x0) - k (s - x0))`` in ``(b0, b1)``, with ``k = dh / d eta(s)``
    (``(1 - p) / (1 - relative p)`` for a logistic fit, ``relative`` for a linear one).
    Writing ``w = x - x0 - k (s - x0)``: ``g = c0 + b1 w``, and ``g^2 <= t^2 var(g)`` is
    ``A w^2 + 2 B w + C <= 0``, solved as Fieller's (:func:`aidebt.trend._quadratic_interval`);
    the cases are :func:`aidebt.trend._status`'s, "too far" beyond the span of the data.
    """
    b0, b1 = line.params[:, 0], line.params[:, 1]
    v00, v01, v11 = line.cov[:, 0, 0], line.cov[:, 0, 1], line.cov[:, 1, 1]
    s, x0 = line.x_first, line.x0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        eta_s = b0 + b1 * (s - x0)
        if model == "logistic":
            p = 1 / (1 + np.exp(-eta_s))
            q = relative * p
            h, k = np.log(q / (1 - q)), (1 - p) / (1 - q)
        else:
            h, k = relative * eta_s, np.full(eta_s.shape, float(relative))
        alpha, delta = 1 - k, k * (s - x0)
        c0 = b0 - h + b1 * delta
        t2 = line.crit**2
        x_star = -c0 / b1 + delta + x0
        lo, hi, bounded = _quadratic_interval(
            b1**2 - t2 * v11, c0 * b1 - t2 * alpha * v01, c0**2 - t2 * alpha**2 * v00
        )
        span = np.maximum(line.x_last - s, 1e-12)
        status = _status(b1 == 0, x_star, s, line.x_last, bounded, span)
    flat = status == "none"
    wanted = (status == "uncertain") | (status == "too far")
    point = _point_labels(trend.decay, x_star, wanted, never=np.inf)
    rows = pl.DataFrame(
        {
            "status": status,
            "point": pl.Series(point.tolist(), dtype=pl.String),
            "_x": np.where(flat, np.nan, x_star),
            "_x_low": lo + delta + x0,
            "_x_high": hi + delta + x0,
        },
    )
    reason = _by_status(
        {
            "none": pl.lit("the fitted trend is flat: it never falls to that level"),
            "not crossing": pl.lit(
                "the fitted curve does not fall to that level along the data: its trend moves "
                "away from it"
            ),
            "uncertain": pl.format(
                f"the slope is not distinguishable from zero at {trend.confidence:.0%}, so the "
                "position cannot be bounded (the point estimate would be {})",
                "point",
            ),
            "too far": pl.format(
                "the fitted curve reaches that level around {}, further along the axis than "
                "the data reach: too far to trust the extrapolation",
                "point",
            ),
        }
    )
    return rows.select("status", reason.alias("reason"), "_x", "_x_low", "_x_high")


def _value(metric: mreg.Metric, v: float | None) -> str:
    if v is None:
        return "n/a"
    return f"{v:.1%}" if metric.in_points else _number(v)
