"""Step 2 helpers: intervals, tests and adjustment on the small table, vectorized.

Thin over statsmodels where it has the method (binomial intervals, Newcombe and log
intervals for two proportions, multiple-testing adjustment); closed forms with numpy
where statsmodels only offers a scalar routine. Every function takes and returns numpy
arrays, one element per (group, metric), so the cost does not grow with a Python loop.
Undefined results (an empty denominator) are NaN here and become nulls with a reason in
the result tables.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import polars as pl
from scipy import stats as sps

from aidebt.errors import InvalidArgumentError

CI_METHODS = {"wilson": "wilson", "jeffreys": "jeffreys", "exact": "beta"}
ADJUST_METHODS = {
    "holm": "holm",
    "bh": "fdr_bh",
    "fdr_bh": "fdr_bh",
    "by": "fdr_by",
    "fdr_by": "fdr_by",
    "bonferroni": "bonferroni",
}


def _arr(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


@functools.lru_cache(maxsize=64)
def normal_quantile(confidence: float) -> float:
    """The two-sided normal critical value of a confidence level (1.96 at 0.95).

    The one place aidebt turns a level into a normal quantile; cached, because scipy's
    ``norm.ppf`` costs tens of microseconds a call.

    Examples
    --------
    >>> round(normal_quantile(0.95), 4)
    1.96
    """
    return float(sps.norm.ppf(0.5 + confidence / 2))


def t_quantile(confidence: float, df) -> np.ndarray:
    """The two-sided Student t critical value(s) of a confidence level on ``df`` degrees."""
    return sps.t.ppf(0.5 + confidence / 2, df)


def test_level(confidence: float) -> float:
    """The level of a test, ``alpha = 1 - confidence`` (0.05 at 0.95, not 0.050000000000000044)."""
    return round(1 - confidence, 12)


def check_confidence(confidence: float) -> float:
    if not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise InvalidArgumentError(
            f"confidence={confidence!r} must be a number strictly between 0 and 1, e.g. 0.95."
        )
    return float(confidence)


def proportion_ci(
    count, nobs, confidence: float = 0.95, method: str = "wilson"
) -> tuple[np.ndarray, np.ndarray]:
    """Binomial confidence interval for ``count / nobs``; NaN where ``nobs == 0``.

    ``method`` is ``"wilson"`` (default), ``"jeffreys"`` or ``"exact"`` (Clopper-Pearson).
    Wilson is the closed-form score interval in numpy (equal to statsmodels'
    ``proportion_confint`` to 1e-12, tested; statsmodels' version costs a scipy quantile
    call per use, which dominated a fast audit); the others call statsmodels.

    Examples
    --------
    >>> lo, hi = proportion_ci([5], [50])
    >>> round(float(lo[0]), 4), round(float(hi[0]), 4)
    (0.0435, 0.2136)
    """
    if method not in CI_METHODS:
        raise InvalidArgumentError(
            f"ci={method!r} is not an interval method; use one of {sorted(CI_METHODS)}."
        )
    count, nobs = _arr(count), _arr(nobs)
    if method == "wilson":
        return wilson_ci(count, nobs, confidence)
    ok = nobs > 0
    lo = np.full(count.shape, np.nan)
    hi = np.full(count.shape, np.nan)
    if ok.any():
        from statsmodels.stats.proportion import proportion_confint

        lo[ok], hi[ok] = proportion_confint(
            count[ok], nobs[ok], alpha=1 - confidence, method=CI_METHODS[method]
        )
    return np.clip(lo, 0, 1), np.clip(hi, 0, 1)


def wilson_ci(count, nobs, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval, vectorized; NaN where ``nobs == 0``."""
    count, nobs = _arr(count), _arr(nobs)
    z = normal_quantile(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = count / nobs
        denom = 1 + z**2 / nobs
        center = (p + z**2 / (2 * nobs)) / denom
        half = z / denom * np.sqrt(np.maximum(p * (1 - p) / nobs + z**2 / (4 * nobs**2), 0))
        lo = np.where(nobs > 0, center - half, np.nan)
        hi = np.where(nobs > 0, center + half, np.nan)
    return np.clip(lo, 0, 1), np.clip(hi, 0, 1)


def proportion_se(count, nobs) -> np.ndarray:
    """The standard error of a proportion: half its 95% Wilson interval, over z(0.975).

    Level-free (an interval at any level is built from it later), and unlike the Wald
    ``sqrt(p (1 - p) / n)`` it stays positive at 0 and 1, so a period where every row was
    right still weighs in a fit weighted by ``1 / se^2``. NaN where ``nobs == 0``.

    Examples
    --------
    >>> round(float(proportion_se([5], [50])[0]), 4)
    0.0434
    """
    lo, hi = wilson_ci(count, nobs, 0.95)
    return (hi - lo) / (2 * normal_quantile(0.95))


def mean_ci(total, total_sq, size, confidence: float = 0.95):
    """Mean, standard error and t interval from a sum, a sum of squares and a size.

    Returns ``(mean, se, low, high)``; the interval needs at least two rows.
    """
    total, total_sq, size = _arr(total), _arr(total_sq), _arr(size)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(size > 0, total / size, np.nan)
        var = np.where(size > 1, (total_sq - size * mean**2) / (size - 1), np.nan)
        se = np.sqrt(np.maximum(var, 0) / size)
        t = t_quantile(confidence, np.maximum(size - 1, 1))
    return mean, se, mean - t * se, mean + t * se


def f1_with_se(tp, fp, fn, tn):
    """F1 = 2tp / (2tp + fp + fn) and its delta-method standard error.

    The four cells are treated as multinomial counts with the observed total, so the
    variance is ``g' Σ g`` with ``g`` the gradient of F1 in the counts and ``Σ`` the
    multinomial covariance.
    """
    tp, fp, fn, tn = (_arr(v) for v in (tp, fp, fn, tn))
    n = tp + fp + fn + tn
    d = 2 * tp + fp + fn
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(d > 0, 2 * tp / d, np.nan)
        g_tp = 2 * (fp + fn) / d**2
        g_err = -2 * tp / d**2  # same for fp and fn
        p = np.stack([tp, fp, fn]) / n
        g = np.stack([g_tp, g_err, g_err])
        # g' (diag(p) - p p') g * n, written without building the matrix.
        var = n * ((g**2 * p).sum(axis=0) - (g * p).sum(axis=0) ** 2)
    return f1, np.sqrt(np.maximum(var, 0))


def auc_delong(counts: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """AUC and its DeLong standard error per group, from (group, score, label) counts.

    ``counts`` has the group keys, ``_score``, ``_label`` (0/1) and ``_w`` (weighted count).
    Ties count one half. DeLong's placement values depend on a row only through its score
    and label, so the aggregated counts give the exact same AUC and variance as the rows.
    Returns keys, ``auc``, ``auc_se``, ``n_pos``, ``n_neg``.
    """
    keys = list(keys)
    over = keys or None
    pos = pl.when(pl.col("_label") == 1).then(pl.col("_w")).otherwise(0)
    neg = pl.when(pl.col("_label") == 0).then(pl.col("_w")).otherwise(0)
    by_score = counts.group_by([*keys, "_score"]).agg(pos.sum().alias("p"), neg.sum().alias("q"))
    by_score = by_score.sort([*keys, "_score"])

    def win(expr: pl.Expr) -> pl.Expr:
        return expr.over(over) if over else expr

    cum_q_below = win(pl.col("q").cum_sum()) - pl.col("q")
    cum_p_above = win(pl.col("p").sum()) - win(pl.col("p").cum_sum())
    placed = by_score.with_columns(
        n_pos=win(pl.col("p").sum()),
        n_neg=win(pl.col("q").sum()),
        below=cum_q_below,
        above=cum_p_above,
    ).with_columns(
        # V10: for a positive at this score, share of negatives ranked below it.
        v10=(pl.col("below") + 0.5 * pl.col("q")) / pl.col("n_neg"),
        # V01: for a negative at this score, share of positives ranked above it.
        v01=(pl.col("above") + 0.5 * pl.col("p")) / pl.col("n_pos"),
    )
    agg = [
        pl.col("n_pos").first(),
        pl.col("n_neg").first(),
        ((pl.col("p") * pl.col("v10")).sum() / pl.col("n_pos").first()).alias("auc"),
        (pl.col("p") * pl.col("v10") ** 2).sum().alias("s10"),
        (pl.col("q") * pl.col("v01") ** 2).sum().alias("s01"),
    ]
    out = placed.group_by(keys).agg(agg) if keys else placed.select(agg)
    m, n, auc = pl.col("n_pos"), pl.col("n_neg"), pl.col("auc")
    # Sample variances of the placements (mean of V10 and of V01 are both the AUC).
    var10 = (pl.col("s10") - m * auc**2) / (m - 1)
    var01 = (pl.col("s01") - n * (1 - auc) ** 2) / (n - 1)
    defined = (m > 0) & (n > 0)
    out = out.with_columns(
        auc=pl.when(defined).then(auc),
        auc_se=pl.when((m > 1) & (n > 1)).then((var10 / m + var01 / n).clip(0).sqrt()),
    )
    return out.select([*keys, "auc", "auc_se", "n_pos", "n_neg"])


def two_proportions(x1, n1, x2, n2, confidence: float = 0.95) -> dict[str, np.ndarray]:
    """Compare independent proportions ``x1/n1`` and ``x2/n2``.

    Difference with Newcombe's hybrid-score interval (from the two Wilson intervals),
    ratio with the log (Katz) interval, both in closed form and equal to statsmodels'
    ``confint_proportions_2indep`` (``newcomb``, ``log``) to 1e-12 (tested); p-value from
    the pooled score (z) test of equal proportions. NaN where a side is empty or the
    ratio undefined.
    """
    x1, n1, x2, n2 = (_arr(v) for v in (x1, n1, x2, n2))
    out = {
        k: np.full(x1.shape, np.nan)
        for k in ("diff", "diff_lo", "diff_hi", "ratio", "ratio_lo", "ratio_hi", "p")
    }
    ok = (n1 > 0) & (n2 > 0)
    if not ok.any():
        return out
    a, b, c, d = x1[ok], n1[ok], x2[ok], n2[ok]
    p1, p2 = a / b, c / d
    z = normal_quantile(confidence)
    l1, u1 = wilson_ci(a, b, confidence)
    l2, u2 = wilson_ci(c, d, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = p1 - p2
        out["diff"][ok] = diff
        out["diff_lo"][ok] = diff - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
        out["diff_hi"][ok] = diff + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
        has_ratio = (a > 0) & (c > 0)
        ratio = np.where(p2 > 0, p1 / p2, np.nan)
        se_log = np.sqrt(1 / a - 1 / b + 1 / c - 1 / d)
        out["ratio"][ok] = ratio
        out["ratio_lo"][ok] = np.where(has_ratio, ratio * np.exp(-z * se_log), np.nan)
        out["ratio_hi"][ok] = np.where(has_ratio, ratio * np.exp(z * se_log), np.nan)
        pooled = (a + c) / (b + d)
        se = np.sqrt(pooled * (1 - pooled) * (1 / b + 1 / d))
        zstat = np.where(se > 0, (p1 - p2) / se, 0.0)
    out["p"][ok] = 2 * sps.norm.sf(np.abs(zstat))
    return out


def two_normals(v1, se1, v2, se2, confidence: float = 0.95, df=None) -> dict[str, np.ndarray]:
    """Compare two independent estimates with standard errors (means, F1, AUC).

    Difference with a normal (or Welch t when ``df`` is given) interval; ratio with a
    log-scale delta-method interval; two-sided p-value of no difference.
    """
    v1, se1, v2, se2 = (_arr(v) for v in (v1, se1, v2, se2))
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = v1 - v2
        se = np.sqrt(se1**2 + se2**2)
        if df is None:
            crit = normal_quantile(confidence)
            p = 2 * sps.norm.sf(np.abs(diff / se))
        else:
            crit = t_quantile(confidence, df)
            p = 2 * sps.t.sf(np.abs(diff / se), df)
        p = np.where(se > 0, p, np.where(diff == 0, 1.0, 0.0))
        p = np.where(np.isnan(diff) | np.isnan(se), np.nan, p)
        ratio = np.where((v2 != 0) & (v1 / v2 > 0), v1 / v2, np.nan)
        se_log = np.sqrt((se1 / v1) ** 2 + (se2 / v2) ** 2)
        z = normal_quantile(confidence)
        r_lo, r_hi = ratio * np.exp(-z * se_log), ratio * np.exp(z * se_log)
    return {
        "diff": diff,
        "diff_lo": diff - crit * se,
        "diff_hi": diff + crit * se,
        "ratio": ratio,
        "ratio_lo": r_lo,
        "ratio_hi": r_hi,
        "p": p,
    }


def welch_df(se1, n1, se2, n2) -> np.ndarray:
    """Welch-Satterthwaite degrees of freedom from two standard errors and sizes."""
    se1, n1, se2, n2 = (_arr(v) for v in (se1, n1, se2, n2))
    a, b = se1**2, se2**2
    with np.errstate(divide="ignore", invalid="ignore"):
        return (a + b) ** 2 / (a**2 / (n1 - 1) + b**2 / (n2 - 1))


def vs_overall(cmp: dict[str, np.ndarray], share) -> dict[str, np.ndarray]:
    """Turn a group-vs-rest comparison into a group-vs-overall one, exactly.

    With ``w`` the group's share of the metric's denominator, the overall value is
    ``w*g + (1-w)*r``, so ``g - overall = (1-w)(g - r)`` and
    ``g / overall = 1 / (w + (1-w)/(g/r))``: both are increasing functions of the
    group-vs-rest contrast, so its interval endpoints map to the new interval and the
    test of no difference is the same test. This keeps the comparison honest although the
    group is part of the overall (the two are not independent).
    """
    w = _arr(share)
    out = dict(cmp)
    for k in ("diff", "diff_lo", "diff_hi"):
        out[k] = (1 - w) * cmp[k]
    with np.errstate(divide="ignore", invalid="ignore"):
        for k in ("ratio", "ratio_lo", "ratio_hi"):
            rho = cmp[k]
            out[k] = np.where(rho > 0, 1 / (w + (1 - w) / rho), np.where(rho == 0, 0.0, np.nan))
    return out


def adjust_pvalues(p, method: str | None = "holm") -> np.ndarray:
    """Adjust a family of p-values (NaN entries are left out of the family and stay NaN).

    ``method``: ``"holm"`` (family-wise error), ``"bh"`` (Benjamini-Hochberg false
    discovery rate), ``"by"`` (Benjamini-Yekutieli: the false discovery rate under any
    dependence between the tests, at the cost of a factor ``sum(1/i, i=1..m)``),
    ``"bonferroni"`` or ``None`` (no adjustment). Same values as
    statsmodels' ``multipletests`` (tested), in plain numpy: ``multipletests`` runs a
    garbage collection on every call, which would dominate a fast audit.

    Examples
    --------
    >>> adjust_pvalues([0.01, 0.04, 0.03], "holm").round(3).tolist()
    [0.03, 0.06, 0.06]
    """
    p = _arr(p)
    if method is None:
        return p.copy()
    if method not in ADJUST_METHODS:
        raise InvalidArgumentError(
            f"adjust={method!r} is not an adjustment; use 'holm', 'bh', 'by', 'bonferroni' or None."
        )
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m == 0:
        return out
    values = p[ok]
    kind = ADJUST_METHODS[method]
    if kind == "bonferroni":
        adjusted = values * m
    elif kind == "holm":
        order = np.argsort(values, kind="stable")
        steps = values[order] * (m - np.arange(m))
        adjusted = np.empty(m)
        adjusted[order] = np.maximum.accumulate(steps)
    else:  # Benjamini-Hochberg step-up; Benjamini-Yekutieli scales its thresholds by c(m)
        order = np.argsort(values, kind="stable")[::-1]
        c_m = (1.0 / np.arange(1, m + 1)).sum() if kind == "fdr_by" else 1.0
        steps = values[order] * m * c_m / (m - np.arange(m))
        adjusted = np.empty(m)
        adjusted[order] = np.minimum.accumulate(steps)
    out[ok] = np.minimum(adjusted, 1.0)
    return out


# --------------------------------------------------------------------------------------
# Stratified comparisons (Simpson's-paradox checks): Mantel-Haenszel pooling over the
# strata of one stratifier, and the Kitagawa decomposition of a crude difference.
# Inputs are per-stratum arrays of one comparison (level vs baseline).
# --------------------------------------------------------------------------------------

RD_VARIANCES = ("sato", "greenland-robins")


def mh_risk_difference(
    x1, n1, x0, n0, confidence: float = 0.95, variance: str = "sato"
) -> dict[str, float]:
    """Mantel-Haenszel common risk difference ``p1 - p0`` over strata, with its interval.

    ``x1/n1`` and ``x0/n0`` are the events and sizes of the two arms in each stratum
    (weighted counts are fine). Strata where an arm is empty carry no information and are
    left out. The estimate weights each stratum difference by Cochran's
    ``w_k = n1k n0k / (n1k + n0k)``. Its variance is

    - ``"sato"`` (default): Sato (1989), consistent both when strata are many and sparse
      and when they are few and large (the estimator SAS PROC FREQ and R's ``cicalc`` use):
      ``(RD * sum P_k + sum Q_k) / (sum w_k)^2`` with
      ``P_k = (n1^2 x0 - n0^2 x1 + n1 n0 (n0 - n1) / 2) / N^2`` and
      ``Q_k = (x1 (n0 - x0) + x0 (n1 - x1)) / (2 N)``;
    - ``"greenland-robins"``: Greenland & Robins (1985), large strata only:
      ``sum w_k^2 (p1 (1 - p1) / n1 + p0 (1 - p0) / n0) / (sum w_k)^2``.

    statsmodels' ``StratifiedTable`` pools odds and risk ratios but not differences,
    hence this function. Returns ``diff``, ``se``, ``lo``, ``hi``, ``p`` (z test of no
    difference) and ``strata`` (informative strata); NaN when no stratum has both arms.

    Examples
    --------
    Two strata, 7/10 vs 5/10 and 5/10 vs 4/10 (the example of R's ``cicalc``, whose
    published interval is -0.1528 to 0.4528):

    >>> r = mh_risk_difference([7, 5], [10, 10], [5, 4], [10, 10])
    >>> round(r["diff"], 4), round(r["lo"], 4), round(r["hi"], 4)
    (0.15, -0.1528, 0.4528)
    """
    if variance not in RD_VARIANCES:
        raise InvalidArgumentError(
            f"variance={variance!r} is not a risk-difference variance; use one of {RD_VARIANCES}."
        )
    x1, n1, x0, n0 = (_arr(v) for v in (x1, n1, x0, n0))
    ok = (n1 > 0) & (n0 > 0)
    out = dict.fromkeys(("diff", "se", "lo", "hi", "p"), np.nan)
    out["strata"] = float(ok.sum())
    if not ok.any():
        return out
    x1, n1, x0, n0 = x1[ok], n1[ok], x0[ok], n0[ok]
    big_n = n1 + n0
    w = n1 * n0 / big_n
    total_w = w.sum()
    p1, p0 = x1 / n1, x0 / n0
    diff = float((w * (p1 - p0)).sum() / total_w)
    if variance == "sato":
        p_k = (n1**2 * x0 - n0**2 * x1 + n1 * n0 * (n0 - n1) / 2) / big_n**2
        q_k = (x1 * (n0 - x0) + x0 * (n1 - x1)) / (2 * big_n)
        var = (diff * p_k.sum() + q_k.sum()) / total_w**2
    else:
        var = (w**2 * (p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)).sum() / total_w**2
    se = float(np.sqrt(max(var, 0.0)))
    z = normal_quantile(confidence)
    out.update(diff=diff, se=se, lo=diff - z * se, hi=diff + z * se)
    out["p"] = float(2 * sps.norm.sf(abs(diff) / se)) if se > 0 else float(diff == 0)
    return out


def mh_odds_ratio(x1, n1, x0, n0, confidence: float = 0.95) -> dict[str, float]:
    """Mantel-Haenszel odds ratio (arm 1 vs arm 0), its interval, risk ratio, Breslow-Day.

    A thin layer over statsmodels' ``StratifiedTable`` (tables ``[[x1, n1 - x1],
    [x0, n0 - x0]]``): ``oddsratio_pooled`` with ``oddsratio_pooled_confint`` (Robins,
    Breslow and Greenland's variance), ``riskratio_pooled``, and ``test_equal_odds``
    (Breslow-Day test of a common odds ratio). Only strata with both arms and both
    outcomes enter (the others carry no information on an odds ratio, and make the
    Breslow-Day statistic undefined). NaN where undefined (no such stratum, an odds ratio
    of 0 or infinity; Breslow-Day needs two strata).

    Examples
    --------
    >>> r = mh_odds_ratio([30, 10], [50, 40], [20, 5], [50, 40])
    >>> round(r["odds_ratio"], 3), round(r["risk_ratio"], 2), round(r["homogeneity_p"], 2)
    (2.277, 1.6, 0.96)
    """
    from statsmodels.stats.contingency_tables import StratifiedTable

    x1, n1, x0, n0 = (_arr(v) for v in (x1, n1, x0, n0))
    keys = ("odds_ratio", "lo", "hi", "risk_ratio", "homogeneity_stat", "homogeneity_p")
    out = dict.fromkeys(keys, np.nan)
    events, non_events = x1 + x0, (n1 - x1) + (n0 - x0)
    ok = (n1 > 0) & (n0 > 0) & (events > 0) & (non_events > 0)
    out["strata"] = float(ok.sum())
    if not ok.any():
        return out
    cube = np.stack(
        [np.stack([x1[ok], n1[ok] - x1[ok]]), np.stack([x0[ok], n0[ok] - x0[ok]])]
    )  # 2 x 2 x k, rows = arm (1, 0), columns = outcome (1, 0)
    table = StratifiedTable(cube)
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = float(table.oddsratio_pooled)
        out["odds_ratio"] = odds
        out["risk_ratio"] = float(table.riskratio_pooled)
        if 0 < odds < np.inf:
            lo, hi = table.oddsratio_pooled_confint(alpha=1 - confidence)
            out["lo"], out["hi"] = float(lo), float(hi)
            if ok.sum() >= 2:
                if np.isclose(odds, 1.0, rtol=0, atol=1e-12):
                    # statsmodels solves a quadratic whose leading term is 1 - OR: at OR = 1
                    # it is linear, with the usual expected count (a+b)(a+c)/n.
                    stat = _breslow_day_at_one(cube)
                else:
                    stat = float(table.test_equal_odds().statistic)
                out["homogeneity_stat"] = stat
                out["homogeneity_p"] = float(sps.chi2.sf(stat, int(ok.sum()) - 1))
    return out


def _breslow_day_at_one(cube: np.ndarray) -> float:
    a, b, c, d = cube[0, 0], cube[0, 1], cube[1, 0], cube[1, 1]
    n = a + b + c + d
    e = (a + b) * (a + c) / n
    v = 1 / (1 / e + 1 / (a + c - e) + 1 / (a + b - e) + 1 / (d - a + e))
    return float(((a - e) ** 2 / v).sum())


def stratified_mean_difference(
    s1, q1, n1, s0, q0, n0, confidence: float = 0.95
) -> dict[str, float]:
    """Difference of means ``m1 - m0`` pooled over strata, for a numeric outcome.

    Each arm of each stratum is given by its sum ``s``, sum of squares ``q`` and size
    ``n``. Strata with both arms are pooled with the same Cochran weights as the
    Mantel-Haenszel risk difference, ``w_k = n1k n0k / (n1k + n0k)`` (the inverse-variance
    weights when the outcome's variance is the same everywhere), so that a 0/1 outcome
    gives the Mantel-Haenszel risk difference. Variance
    ``sum w_k^2 (v1k / n1k + v0k / n0k) / (sum w_k)^2`` with the stratum sample variances
    (an arm with a single row borrows its arm's pooled variance); normal interval.
    ``homogeneity_p`` is Cochran's Q test that the stratum differences are equal
    (statsmodels' ``combine_effects``), over strata with a positive variance.
    """
    from statsmodels.stats.meta_analysis import combine_effects

    s1, q1, n1, s0, q0, n0 = (_arr(v) for v in (s1, q1, n1, s0, q0, n0))
    out = dict.fromkeys(
        ("diff", "se", "lo", "hi", "p", "homogeneity_stat", "homogeneity_p"), np.nan
    )
    ok = (n1 > 0) & (n0 > 0)
    out["strata"] = float(ok.sum())
    if not ok.any():
        return out

    def variances(s, q, n):
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = s / n
            var = (q - n * mean**2) / (n - 1)
            pooled_n = n.sum()
            pooled = (q.sum() - s.sum() ** 2 / pooled_n) / (pooled_n - 1)
        var = np.where(n > 1, var, pooled if np.isfinite(pooled) else 0.0)
        return mean, np.maximum(var, 0.0)

    m1, v1 = variances(s1[ok], q1[ok], n1[ok])
    m0, v0 = variances(s0[ok], q0[ok], n0[ok])
    a, b = n1[ok], n0[ok]
    w = a * b / (a + b)
    d = m1 - m0
    diff = float((w * d).sum() / w.sum())
    var_k = v1 / a + v0 / b
    se = float(np.sqrt((w**2 * var_k).sum()) / w.sum())
    z = normal_quantile(confidence)
    out.update(diff=diff, se=se, lo=diff - z * se, hi=diff + z * se)
    out["p"] = float(2 * sps.norm.sf(abs(diff) / se)) if se > 0 else float(diff == 0)
    usable = var_k > 0
    if usable.sum() >= 2:
        test = combine_effects(d[usable], var_k[usable]).test_homogeneity()
        out["homogeneity_stat"] = float(test.statistic)
        out["homogeneity_p"] = float(test.pvalue)
    return out


def kitagawa(n1, r1, n0, r0) -> tuple[np.ndarray, np.ndarray]:
    """Kitagawa (1955) decomposition of a crude difference into mix and within parts.

    With ``f1k, f0k`` each arm's share of its rows in stratum ``k`` and ``r1k, r0k`` the
    stratum rates (or means), the crude difference
    ``sum f1k r1k - sum f0k r0k`` splits exactly into

    - ``mix_k = (f1k - f0k) (r1k + r0k) / 2``: the arms saw different strata;
    - ``within_k = (r1k - r0k) (f1k + f0k) / 2``: the arms do differently in a stratum.

    A stratum that only one arm saw has no rate for the other arm: that arm's rate is
    taken to be the one observed, so the stratum counts as pure mix and the identity
    ``sum(mix) + sum(within) == crude difference`` still holds. Returns the per-stratum
    ``(mix, within)`` arrays; NaN rates in strata an arm did not see are ignored.

    Examples
    --------
    >>> mix, within = kitagawa([80, 20], [0.6, 0.9], [20, 80], [0.5, 0.8])
    >>> round(float(mix.sum() + within.sum()), 4), round(0.8*0.6 + 0.2*0.9 - 0.2*0.5 - 0.8*0.8, 4)
    (-0.08, -0.08)
    """
    n1, r1, n0, r0 = (_arr(v) for v in (n1, r1, n0, r0))
    f1 = n1 / n1.sum() if n1.sum() > 0 else np.zeros_like(n1)
    f0 = n0 / n0.sum() if n0.sum() > 0 else np.zeros_like(n0)
    r1 = np.where(n1 > 0, r1, r0)
    r0 = np.where(n0 > 0, r0, r1)
    r1, r0 = np.nan_to_num(r1), np.nan_to_num(r0)
    mix = (f1 - f0) * (r1 + r0) / 2
    within = (r1 - r0) * (f1 + f0) / 2
    return mix, within
