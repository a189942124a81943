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

References: Newey, W. K. and West, K. D. (1987), "A simple, positive semi-definite,
heteroskedasticity and autocorrelation consistent covariance matrix", Econometrica 55 (why
independent-period standard errors are too small under autocorrelation; with a dozen
periods a kernel estimate of the long-run variance is itself too noisy, so the
autocorrelation is modeled instead); Breslow, N. E. and Clayton, D. G. (1993),
"Approximate inference in generalized linear mixed models", JASA 88; Satterthwaite, F. E.
(1946); Fieller, E. C. (1954), "Some problems in interval estimation", JRSS B 16.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
from scipy import stats as sps
from scipy.special import expit, ndtr

from aidebt import metrics as mreg
from aidebt import stats as st
from aidebt.errors import InvalidArgumentError, did_you_mean
from aidebt.groups import iter_groups, label
from aidebt.noise import (
    AUTOCORRELATION,
    PeriodNoise,
    ar1_correlation,
    check_autocorrelation,
    period_variance,
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
        data = decay_.estimates.filter(pl.col("value").is_not_null() & (pl.col("n") > 0))
        # the period-level noise of each group, from its whole history (every period of the
        # curve, not only the fitted window): short windows borrow it
        history = (
            {key: _period_noise(part, model, rho) for key, part in iter_groups(data, decay_.by)}
            if dispersion == "history"
            else {}
        )
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
            fit, note = _fit_group(part, model, dispersion, confidence, history.get(key))
            row.update(model=model, periods=part.height, note=note)
            if fit is None:
                rows.append(row)
                continue
            fits[key] = fit
            x = _position(part)
            number = part.get_column("_p").to_numpy()
            b1, se1 = fit.params[1], float(np.sqrt(fit.cov[1, 1]))
            inv = _link(model)[1]
            eta_last, _ = fit.eta(np.array([fit.x_last]))
            deriv = float(inv(eta_last)[0] * (1 - inv(eta_last)[0])) if model == "logistic" else 1.0
            lo, hi = b1 - fit.crit * se1, b1 + fit.crit * se1
            stat = b1 / se1 if se1 > 0 else np.inf
            p = 2 * (sps.t.sf(abs(stat), fit.df) if np.isfinite(fit.df) else sps.norm.sf(abs(stat)))
            if fit.p_value is not None:
                p = fit.p_value
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
                first=float(number.min()),
                last=float(number.max()),
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
        out = cls(table, decay_, fits, model, confidence, start, dispersion)
        out.fitted = (
            pl.concat(fitted, how="vertical_relaxed")
            if fitted
            else pl.DataFrame(schema={"_p": pl.Int64, "fit": pl.Float64})
        )
        return out

    def __init__(
        self, table, decay_: Decay, fits, model, confidence, start, dispersion="history"
    ) -> None:
        self.decay = decay_
        self.dispersion = dispersion
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
    def notes(self) -> list[str]:
        """The noise the interval allows for, and what it assumes."""
        fits = [f for f in self.fits.values() if f.noise is not None]
        if not fits:
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
        rho = fits[0].noise.rho
        lines = [
            f"The interval allows for a {unit}-to-{unit} wobble beyond sampling error, "
            f"measured on the differences between consecutive {unit}s of the whole curve, "
            f"and assumes neighbouring {unit}s are correlated {rho:g} (AR(1)); it also "
            "allows for how uncertain that wobble is."
        ]
        few = sorted({f.noise.periods for f in fits if f.noise.periods < 6})
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
            who = f" for {label(row, self.by)}" if self.by else ""
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


def _period_noise(part: pl.DataFrame, model: str, rho: float) -> PeriodNoise:
    """The period-effect variance of one group's curve, on the scale the model fits.

    Logistic: on the log-odds of each period, the empirical logit with its binomial
    variance (Cox and Snell's ``+ 0.5``, so that a period at 0% or 100% is finite); linear:
    on the values with their stored standard errors.
    """
    periods = part.get_column("_p").to_numpy()
    if model == "logistic":
        x = part.get_column("_x").to_numpy().astype(float)
        n = part.get_column("n").to_numpy().astype(float)
        values = np.log((x + 0.5) / (n - x + 0.5))
        variances = 1 / (x + 0.5) + 1 / (n - x + 0.5)
    else:
        values = part.get_column("value").to_numpy().astype(float)
        variances = part.get_column("_se").fill_null(np.nan).to_numpy().astype(float) ** 2
    return period_variance(values, variances, periods, rho)


def _position(part: pl.DataFrame) -> np.ndarray:
    """Where each period's value sits on the axis: its rows' mean time (``_t``, from
    :func:`aidebt.decay.decay`), else its number (``_p``: tables that carry no time)."""
    return part.get_column("_t" if "_t" in part.columns else "_p").to_numpy().astype(float)


def _fit_group(
    part: pl.DataFrame, model: str, dispersion, confidence: float, noise: PeriodNoise | None
):
    """Fit one group's line on its per-period table; (None, reason) when it cannot."""
    if dispersion == "history":
        return _fit_history(part, model, confidence, noise)
    import statsmodels.api as sm

    k = part.height
    need = 3 if dispersion == "pearson" else 2
    if k < need:
        return None, f"{k} period(s) with a value; a trend needs at least {need}"
    x = _position(part)
    x0 = float(np.floor(x.min()))
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
        exog, endog, weights, x = exog[ok], value[ok], 1 / se[ok] ** 2, x[ok]
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
    crit = _critical(confidence, df)
    return _Fit(params, cov, crit, df, x0, float(x.min()), float(x.max()), float(res.scale)), None


def _critical(confidence: float, df: float) -> float:
    """The two-sided critical value: Student's t on ``df``, the normal when infinite."""
    if np.isfinite(df):
        return float(st.t_quantile(confidence, df))
    return float(st.normal_quantile(confidence))


def _fit_history(part: pl.DataFrame, model: str, confidence: float, noise: PeriodNoise | None):
    """Generalized least squares of the line under sampling error plus period effects.

    The noise of period ``t``'s value (its log-odds for ``"logistic"``) is its sampling
    error (binomial variance at the fitted rate, or the stored standard error) plus a
    period effect of variance ``lam`` (estimated on the group's whole curve,
    :func:`aidebt.noise.period_variance`) with AR(1) correlation ``rho ** |s - t|``
    across periods. The logistic line is fitted by iteratively reweighted generalized
    least squares on the working log-odds (the quasi-likelihood of a logistic model with a
    correlated random period effect; Breslow and Clayton 1993); with ``lam = 0`` it is the
    binomial maximum-likelihood fit. The covariance of the coefficients is
    ``(X' V^-1 X)^-1``.

    ``lam`` rests on a dozen differences: a calm-looking history can hide a real wobble.
    The interval integrates over that uncertainty: the slope's distribution is the mixture
    of normals ``N(0, var(lam*))`` over the plausible values ``lam*`` of the period-effect
    variance (the differences' spread known up to a chi-square on ``noise.df`` degrees of
    freedom, :meth:`aidebt.noise.PeriodNoise.plausible_quantiles`; with a variance that
    scales with ``lam`` this is Student's t on ``noise.df``, Satterthwaite 1946). The fit
    then carries the covariance at the plausible ``lam`` whose normal interval matches the
    mixture's, so the crossing and the band use the same noise; the p-value is the
    mixture's tail.
    """
    k = part.height
    if k < 2:
        return None, f"{k} period(s) with a value; a trend needs at least 2"
    x = _position(part)
    periods = part.get_column("_p").to_numpy().astype(float)
    x0 = float(np.floor(x.min()))
    exog = np.column_stack([np.ones(k), x - x0])
    lam = noise.variance if noise is not None else 0.0
    plausible = noise.plausible_quantiles() if noise is not None else np.zeros(1)
    corr = ar1_correlation(periods, noise.rho) if plausible.max() > 0 else np.eye(k)
    if model == "logistic":
        count = part.get_column("_x").to_numpy().astype(float)
        trials = part.get_column("n").to_numpy().astype(float)
        fitted = _logistic_gls(count, trials, exog, lam * corr)
        if fitted is None:
            return None, "the fit did not converge (every period at 0 or 1?)"
        params, sampling = fitted
    else:
        value = part.get_column("value").to_numpy().astype(float)
        se = part.get_column("_se").fill_null(np.nan).to_numpy().astype(float)
        ok = np.isfinite(se) & (se > 0)
        if ok.sum() < 2:
            return None, "too few periods with a standard error"
        exog, value, sampling, corr, x = exog[ok], value[ok], se[ok] ** 2, corr[ok][:, ok], x[ok]
        params = _gls(value, exog, np.diag(sampling) + lam * corr)[0]

    def covariance(effect: float) -> np.ndarray:
        return _gls(np.zeros(len(sampling)), exog, np.diag(sampling) + effect * corr)[1]

    grid, at = _slope_variances(covariance, plausible)
    slope_var = np.interp(plausible, grid, at)
    z = st.normal_quantile(confidence)
    half = _mixture_quantile(slope_var, confidence)
    # the plausible period-effect variance whose normal interval is the mixture's
    effect = float(np.interp((half / z) ** 2, at, grid)) if at[-1] > at[0] else grid[0]
    cov = covariance(effect)
    p = float(np.mean(2 * ndtr(-abs(params[1]) / np.sqrt(slope_var))))
    if not np.all(np.isfinite(params)) or not np.all(np.isfinite(cov)):
        return None, "the fit did not converge (every period at 0 or 1?)"
    base = float(np.mean(sampling))
    dispersion = (base + lam) / base if base > 0 else np.nan
    df = noise.df if noise is not None and noise.estimated and plausible.max() > 0 else np.inf
    fit = _Fit(params, cov, z, df, x0, float(x.min()), float(x.max()), dispersion, noise, p, effect)
    return fit, None


def _slope_variances(covariance, plausible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The slope's variance on a grid of period-effect variances spanning the plausible ones
    (it is smooth, increasing and nearly linear in them: interpolated in between)."""
    if plausible.max() <= plausible.min():
        value = covariance(float(plausible[0]))[1, 1]
        return np.array([plausible[0], plausible[0]]), np.array([value, value])
    grid = np.linspace(plausible.min(), plausible.max(), 9)
    return grid, np.array([covariance(g)[1, 1] for g in grid])


def _mixture_quantile(variances: np.ndarray, confidence: float) -> float:
    """The half-width ``h`` with ``mean(P(|N(0, v)| <= h)) = confidence`` over ``variances``."""
    sd = np.sqrt(variances)
    lo, hi = 0.0, float(st.normal_quantile(1 - (1 - confidence) / 100) * sd.max())
    for _ in range(60):
        mid = (lo + hi) / 2
        covered = np.mean(1 - 2 * ndtr(-mid / sd))
        lo, hi = (mid, hi) if covered < confidence else (lo, mid)
    return (lo + hi) / 2


def _gls(y: np.ndarray, exog: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Generalized least squares: coefficients and their covariance ``(X' V^-1 X)^-1``."""
    chol = np.linalg.cholesky(cov)
    wx = np.linalg.solve(chol, exog)
    wy = np.linalg.solve(chol, y)
    inv = np.linalg.inv(wx.T @ wx)
    return inv @ (wx.T @ wy), inv


def _logistic_gls(count, trials, exog, effect, iterations: int = 100):
    """Iteratively reweighted GLS of a logistic line with correlated period effects (the
    covariance ``effect`` on the log-odds scale): (coefficients, binomial variances of the
    log-odds at the fitted rates), or None when it does not converge."""
    rate = np.clip(count.sum() / trials.sum(), 1e-9, 1 - 1e-9)
    params = np.array([np.log(rate / (1 - rate)), 0.0])
    for _ in range(iterations):
        eta = exog @ params
        mu = expit(eta)
        weight = trials * mu * (1 - mu)
        if not np.all(weight > 1e-12):
            return None
        working = eta + (count - trials * mu) / weight
        new = _gls(working, exog, np.diag(1 / weight) + effect)[0]
        if not np.all(np.isfinite(new)):
            return None
        done = np.max(np.abs(new - params)) < 1e-10
        params = new
        if done:
            break
    else:
        return None
    mu = expit(exog @ params)
    return params, 1 / (trials * mu * (1 - mu))


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
