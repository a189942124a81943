"""Trends of a decay curve, and when they cross a threshold.

:meth:`aidebt.decay.Decay.fit` fits a binomial GLM (logit link) to the per-period counts of
correct/incorrect (or any proportion's numerator/denominator), with a quasi-binomial
dispersion so that period-to-period noise beyond binomial widens the intervals
(``model="linear"``: weighted least squares of the per-period values, weights
``1 / se^2`` from the standard errors stored with each estimate). :meth:`Trend.crossing`
inverts the fitted curve: when it crosses a threshold, with Fieller's interval (the set
of dates where the fitted curve's confidence band contains the threshold) or the delta
method. Both read the curve through :class:`aidebt.decay.Decay`'s public attributes
(``estimates``, ``label``, ``index_of``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
from scipy import stats as sps
from scipy.special import expit

from aidebt import metrics as mreg
from aidebt import stats as st
from aidebt.errors import InvalidArgumentError, did_you_mean
from aidebt.groups import iter_groups, label
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
    """One group's fitted line on the link scale, ``eta = b0 + b1 * (x - x0)``."""

    params: np.ndarray
    cov: np.ndarray
    crit: float
    df: float
    x0: float  # axis coordinates: period numbers, ages, or any numeric axis
    x_first: float
    x_last: float
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
    def from_decay(cls, decay_: Decay, model, start, end, dispersion, confidence) -> Trend:
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
        if isinstance(dispersion, str):
            if dispersion not in ("pearson", "fixed"):
                raise InvalidArgumentError(
                    f"dispersion={dispersion!r}: use 'pearson' (quasi-likelihood), 'fixed' or "
                    "a number > 0."
                )
        elif not isinstance(dispersion, (int, float)) or dispersion <= 0:
            raise InvalidArgumentError(f"dispersion={dispersion!r} must be > 0.")
        confidence = st.check_confidence(confidence or decay_.confidence)
        lo_idx, hi_idx = decay_.index_of(start, "start"), decay_.index_of(end, "end")
        data = decay_.estimates.filter(pl.col("value").is_not_null() & (pl.col("n") > 0))
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
        for key, part in iter_groups(data, decay_.by):
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
                first=float(x.min()),
                last=float(x.max()),
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
        table = _rank(conform(rows, COLUMNS, lead=dict.fromkeys(decay_.by, pl.String)), m)
        out = cls(table, decay_, fits, model, confidence, start)
        out.fitted = (
            pl.concat(fitted, how="vertical_relaxed")
            if fitted
            else pl.DataFrame(schema={"_p": pl.Int64, "fit": pl.Float64})
        )
        return out

    def __init__(self, table, decay_: Decay, fits, model, confidence, start) -> None:
        self.decay = decay_
        self.fits: dict[tuple, _Fit] = fits
        self.model = model
        self.confidence = confidence
        self.by = decay_.by
        self.metric = decay_.metric
        self.every = decay_.every
        self.start = start
        self.estimates = table
        shown = table.with_columns(
            *(
                pl.Series(c, [decay_.label(v) if v is not None else None for v in table[c]])
                for c in ("first", "last")
            )
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
        for row in self.estimates.iter_rows(named=True):
            key = tuple(row[c] for c in self.by)
            out = dict(zip(self.by, key, strict=True))
            fit = self.fits.get(key)
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
        d = self.decay
        name = self.metric.name.capitalize()
        since = (
            f" since {d.label(self.estimates['first'][0])}"
            if self.estimates.height and self.estimates["first"][0] is not None
            else ""
        )
        for row in self.estimates.head(5).iter_rows(named=True):
            who = f" for {label(row, self.by)}" if self.by else ""
            if row.get("slope") is None:
                lines.append(f"No trend fitted{who}: {row['note']}.")
                continue
            start = f" since {d.label(row['first'])}" if self.by else since
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
            self.decay.table,
            by=self.by,
            metric=self.metric.name,
            axis=self.decay.axis,
            unit=self.every.noun(),
            fitted=fitted,
            threshold=threshold,
            crossing=crossing.table if crossing is not None else None,
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
    x0 = float(x.min())
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
        _Fit(params, cov, crit, df, x0, float(x.min()), float(x.max()), float(res.scale)),
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
    d = trend.decay
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
    point = d.label(x_star) if abs(x_star) < 1e6 else "never"
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
    if trend.decay.axis != "calendar":
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
        table = table.with_columns(threshold=pl.lit(float(threshold)))
        lead = dict.fromkeys(trend.by, pl.String)
        super().__init__(conform(table, _crossing_columns(trend.decay.axis), lead=lead))
        self.trend = trend
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
        t = self.trend
        lines = []
        ev = t.every
        fmt = (lambda v: t.decay.label(v)) if t.decay.axis != "calendar" else ev.label_instant
        method = "Fieller interval" if self.method == "fieller" else "delta-method interval"
        trend_rows = {tuple(r[c] for c in t.by): r for r in t.estimates.iter_rows(named=True)}
        for row in self.table.head(5).iter_rows(named=True):
            key = tuple(row[c] for c in t.by)
            who_txt = f" for {label(row, t.by)}" if t.by else ""
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
            lines.append(
                f"{lead}{verb} {self.threshold:g} around {fmt(row['estimate'])} "
                f"({fmt(row['ci_low'])} to {fmt(row['ci_high'])}, {t.confidence:.0%} {method})."
            )
        return lines

    def chart(self, **kwargs: Any):
        """The decay curve with the fitted trend, the threshold and this crossing."""
        return self.trend.chart(self.threshold, **kwargs)

    def _display_table(self) -> pl.DataFrame:
        return self.table.drop("_x", "_x_low", "_x_high")
