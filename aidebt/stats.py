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
from scipy import special as spc
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


def normal_sf(x):
    """The standard normal upper tail, ``P(Z > x)``: scipy's ``norm.sf`` without its
    per-call argument handling (the same function, ``ndtr(-x)``, so the same digits;
    tens of microseconds a call less, which counts on the small tables of a pass).

    Examples
    --------
    >>> round(float(2 * normal_sf(1.959963984540054)), 6)
    0.05
    """
    return spc.ndtr(-np.asarray(x, dtype=float))


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


def logit_ci(value, se, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """A logit-scale (logit-normal) interval for an estimate in (0, 1) with standard error ``se``.

    ``logit(value) +/- z se / (value (1 - value))`` (the delta method carries ``se`` to the
    logit scale), mapped back with the logistic function: the interval stays inside
    (0, 1) and is asymmetric near the bounds, where the estimate's sampling distribution
    is skewed. For the AUC it is the transformation of Pepe (2003, *The Statistical
    Evaluation of Medical Tests for Classification and Prediction*, Oxford, chapter 5),
    among the intervals Qin & Hotilovac compared (2008, *Statistical Methods in Medical
    Research* 17, 207-221); the tests show its coverage by simulation from AUC 0.35 to
    0.95. The assumption is a near-normal estimate on the logit scale. Where the estimate sits on a bound (0
    or 1) or ``se`` is 0 the logit is infinite: the interval is then ``value +/- z se``
    clipped to [0, 1] (a point, when ``se`` is 0). NaN where ``value`` or ``se`` is NaN.

    Examples
    --------
    >>> lo, hi = logit_ci([0.9], [0.03])
    >>> round(float(lo[0]), 4), round(float(hi[0]), 4)
    (0.824, 0.9453)
    """
    value, se = _arr(value), _arr(se)
    z = normal_quantile(confidence)
    inside = (value > 0) & (value < 1) & (se > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        centre = np.log(value / (1 - value))
        half = z * se / (value * (1 - value))
        lo = np.where(inside, sps.logistic.cdf(centre - half), np.clip(value - z * se, 0, 1))
        hi = np.where(inside, sps.logistic.cdf(centre + half), np.clip(value + z * se, 0, 1))
    return lo, hi


def f1_ci(
    tp, nobs, confidence: float = 0.95, method: str = "wilson"
) -> tuple[np.ndarray, np.ndarray]:
    """An interval for F1 from ``tp`` and ``nobs = tp + fp + fn``; NaN where ``nobs == 0``.

    F1 is an increasing function of ``F* = tp / (tp + fp + fn)`` (the Jaccard index of
    the predicted and the true positives): ``F1 = 2 F* / (1 + F*)`` (Hand, Christen &
    Kirielle 2021, "F*: an interpretable transformation of the F-measure", *Machine
    Learning* 110, 451-456). When rows are independent (the four confusion cells are
    multinomial), ``tp`` given ``tp + fp + fn`` is exactly binomial with probability the
    population's F*, so a binomial interval for F* (``method``: ``"wilson"``, default,
    ``"jeffreys"`` or ``"exact"``, as :func:`proportion_ci`) mapped through
    ``2 F* / (1 + F*)`` is an interval for F1 with that binomial interval's coverage (for
    Wilson's: Brown, Cai & DasGupta 2001, *Statistical Science* 16, 101-133). Unlike the
    delta-method interval (:func:`f1_with_se`) it stays inside [0, 1] and keeps its level
    with a handful of positives (the tests show it by simulation).

    Examples
    --------
    >>> lo, hi = f1_ci([5], [7])   # tp = 5, fp + fn = 2: F1 = 10 / 12
    >>> round(float(lo[0]), 3), round(float(hi[0]), 3)
    (0.528, 0.957)
    """
    lo, hi = proportion_ci(tp, nobs, confidence, method)
    return 2 * lo / (1 + lo), 2 * hi / (1 + hi)


def f1_with_se(tp, fp, fn, tn):
    """F1 = 2tp / (2tp + fp + fn) and its delta-method standard error.

    The four cells are treated as multinomial counts with the observed total, so the
    variance is ``g' Σ g`` with ``g`` the gradient of F1 in the counts and ``Σ`` the
    multinomial covariance. The standard error serves comparisons and trend weights; the
    interval of an F1 is :func:`f1_ci`, which holds its level in small samples where
    ``F1 +/- z se`` does not.
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

    ``counts`` has the group keys, ``_score``, ``_label`` (0/1) and ``_w`` (weighted count:
    frequency weights, a row of weight 3 is three rows): the table of
    :func:`aidebt.aggregate.score_label_counts`, or any rows so weighted. The placement
    sums come from :func:`aidebt.aggregate.placement_sums` (windows over the sorted
    scores), the estimate from :func:`auc_from_sums`.
    Returns keys, ``_auc``, ``_auc_se`` (null with fewer than two positives or negatives),
    ``_auc_n_pos``, ``_auc_n_neg``.

    Examples
    --------
    >>> counts = pl.DataFrame({"_score": [0.9, 0.6, 0.6, 0.1], "_label": [1, 1, 0, 0],
    ...                        "_w": [1.0, 2.0, 1.0, 1.0]})
    >>> auc_delong(counts, [])["_auc"].item()  # 5 of 6 pairs, ties half
    0.8333333333333334
    """
    import narwhals as nw

    from aidebt.aggregate import AUC_SUMS, placement_sums

    keys = list(keys)
    rows = counts.lazy().select(
        *keys,
        pl.col("_score").cast(pl.Float64),
        pl.col("_label").cast(pl.Float64),
        pl.col("_w").cast(pl.Float64),
    )
    (sums,) = placement_sums(nw.from_native(rows), [keys])
    return auc_from_sums(sums.with_columns(pl.col(c).cast(pl.Float64) for c in AUC_SUMS), keys)


def auc_from_sums(sums: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """AUC and its DeLong standard error per group, from its placement sums.

    ``sums`` holds, per group, the columns of :data:`aidebt.aggregate.AUC_SUMS`
    (:func:`aidebt.aggregate.auc_sums` computes them in the data's engine): ``m`` and
    ``n`` weighted positives and negatives, and the sums of the doubled placements. Ties
    count one half. The AUC is the Mann-Whitney statistic: the mean over positives of
    ``V10`` (the share of negatives scored below a positive, ties half) and equally the
    mean over negatives of ``V01`` (the share of positives scored above a negative). Its
    variance is DeLong's (DeLong, DeLong & Clarke-Pearson 1988, *Biometrics* 44,
    837-845): ``S10 / m + S01 / n``, with ``S10`` and ``S01`` the sample variances of the
    ``m`` positives' ``V10`` and the ``n`` negatives' ``V01``, both centred at the AUC.
    The placements are cumulative counts over the sorted scores, as in Sun & Xu's fast
    algorithm (2014, *IEEE Signal Processing Letters* 21, 1389-1393). The assumption is
    independent rows, the counts of positives and negatives taken as given; the tests
    check the value against an O(m n) computation on tied and weighted data and the
    coverage by simulation.

    Returns keys, ``_auc``, ``_auc_se`` (null with fewer than two positives or negatives),
    ``_auc_n_pos``, ``_auc_n_neg`` (every working column is named ``_auc*``, so that no
    group column's name clashes with one).

    Examples
    --------
    >>> sums = pl.DataFrame({"_auc_n_pos": [3.0], "_auc_n_neg": [2.0], "_auc_v10": [10.0],
    ...                      "_auc_v10_sq": [34.0], "_auc_v01_sq": [52.0]})
    >>> out = auc_from_sums(sums, [])
    >>> round(out["_auc"].item(), 6), round(out["_auc_se"].item() ** 2, 6)  # 5/6, 5/144
    (0.833333, 0.034722)
    """
    keys = list(keys)
    m, n = pl.col("_auc_n_pos"), pl.col("_auc_n_neg")
    auc = pl.col("_auc_v10") / (2 * m * n)
    # Sums of squared placements (the placements are doubled in the sums: / 4).
    s10 = pl.col("_auc_v10_sq") / (4 * n * n)
    s01 = pl.col("_auc_v01_sq") / (4 * m * m)
    # Sample variances of the placements (mean of V10 and of V01 are both the AUC).
    var10 = (s10 - m * auc**2) / (m - 1)
    var01 = (s01 - n * auc**2) / (n - 1)
    return sums.select(
        *keys,
        _auc=pl.when((m > 0) & (n > 0)).then(auc),
        _auc_se=pl.when((m > 1) & (n > 1)).then((var10 / m + var01 / n).clip(0).sqrt()),
        _auc_n_pos=m,
        _auc_n_neg=n,
    )


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
    out["p"][ok] = 2 * normal_sf(np.abs(zstat))
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
            p = 2 * normal_sf(np.abs(diff / se))
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


def vs_overall(
    cmp: dict[str, np.ndarray], share, total=None, confidence: float = 0.95
) -> dict[str, np.ndarray]:
    """Turn a group-vs-rest comparison into a group-vs-overall one.

    With ``w`` the group's share of the metric's denominator, the overall value is
    ``w*g + (1-w)*r``, so ``g - overall = (1-w)(g - r)`` and
    ``g / overall = 1 / (w + (1-w)/(g/r))``: both are increasing functions of the
    group-vs-rest contrast, so its interval endpoints map to the new interval and the
    test of no difference is the same test. This keeps the comparison honest although the
    group is part of the overall (the two are not independent).

    Mapped with the observed ``w`` alone, the interval is for the gap at the sample's
    group mix. The gap in the population the rows come from, ``(1-pi)(gamma - rho)``
    with ``pi`` the group's population share, also varies with the share: given
    ``total`` (the overall denominator ``N``), the delta method on the joint multinomial
    of group membership and outcome adds ``(g - r)^2 w (1-w) / N`` to the variance of
    the difference and ``((g - r) / overall)^2 w (1-w) / N`` to that of the log ratio
    (the share's error is uncorrelated with the contrast's to first order, since the
    contrast's expectation does not depend on the group sizes). The term is added to
    each side of the mapped interval by square-and-add (the MOVER of Zou & Donner 2008,
    *Statistics in Medicine* 27, 1693-1702, as in Newcombe's interval). It vanishes
    where there is no gap, so the test is unchanged, and is small for a small group;
    it matters for a dominant group with a large gap (coverage 0.88 without it, in the
    tests). The assumption is independent rows drawn from one population.
    """
    w = _arr(share)
    out = dict(cmp)
    z = normal_quantile(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        if total is None:
            var_share = np.zeros(w.shape)
        else:
            var_share = np.where(_arr(total) > 0, w * (1 - w) / _arr(total), np.nan)
        delta = cmp["diff"]  # group minus rest
        diff = (1 - w) * delta
        extra = z**2 * delta**2 * var_share
        out["diff"] = diff
        out["diff_lo"] = diff - np.sqrt(((1 - w) * (delta - cmp["diff_lo"])) ** 2 + extra)
        out["diff_hi"] = diff + np.sqrt(((1 - w) * (cmp["diff_hi"] - delta)) ** 2 + extra)

        def mapped(rho):
            return np.where(rho > 0, 1 / (w + (1 - w) / rho), np.where(rho == 0, 0.0, np.nan))

        ratio = mapped(cmp["ratio"])
        # d log(g / overall) / dw = -(g - r) / overall = -(1 - 1/rho) (g / overall).
        extra_log = z**2 * ((1 - 1 / cmp["ratio"]) * ratio) ** 2 * var_share
        down = np.log(ratio / mapped(cmp["ratio_lo"]))
        up = np.log(mapped(cmp["ratio_hi"]) / ratio)
        out["ratio"] = ratio
        out["ratio_lo"] = np.where(
            ratio > 0, ratio * np.exp(-np.sqrt(down**2 + extra_log)), mapped(cmp["ratio_lo"])
        )
        out["ratio_hi"] = np.where(
            ratio > 0, ratio * np.exp(np.sqrt(up**2 + extra_log)), mapped(cmp["ratio_hi"])
        )
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
    out["p"] = float(2 * normal_sf(abs(diff) / se)) if se > 0 else float(diff == 0)
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
    out["p"] = float(2 * normal_sf(abs(diff) / se)) if se > 0 else float(diff == 0)
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


# ======================================================================================
# Quantiles (latency, tokens, cost), and the mean and total of a cost
#
# A quantile is not a function of additive sums, so it cannot be re-summed from a small
# table the way every other statistic here is: each group's quantile needs that group's
# values (exact: polars and DuckDB keep each group's values and select the order
# statistic) or a mergeable sketch (a histogram of log-spaced buckets: additive counts,
# each value known within a stated relative error). The functions below are the
# inference half; aidebt.versions runs the pass.
#
# Definition used everywhere: the q-quantile of n values is the order statistic of rank
# ceil(n q) (1-based), the smallest value with at least a share q of the values at or
# below it (Hyndman & Fan's type 1, the inverse of the empirical distribution function).
# --------------------------------------------------------------------------------------


def quantile_rank(n, q: float) -> np.ndarray:
    """1-based rank of the sample q-quantile among ``n`` values: ``ceil(n q)``, in [1, n].

    0 where ``n == 0``. The product is shrunk by one part in 10^12 before rounding up, so
    that ``0.95 * 100`` (95.00000000000001 in floating point) gives rank 95, not 96.

    Examples
    --------
    >>> quantile_rank([100, 101, 1], 0.95).tolist()
    [95, 96, 1]
    """
    n = _arr(n)
    rank = np.ceil(n * q * (1 - 1e-12))
    return np.where(n > 0, np.clip(rank, 1, np.maximum(n, 1)), 0).astype(np.int64)


def quantile_ci_ranks(n, q: float, confidence: float = 0.95) -> dict[str, np.ndarray]:
    """Ranks of the exact distribution-free interval for the q-quantile of ``n`` values.

    The interval ``[X_(lo), X_(hi)]`` between two order statistics covers the population
    q-quantile ``xi`` whenever ``lo <= B <= hi - 1``, where ``B ~ Binomial(n, q)`` counts
    the values below ``xi``. The ranks are chosen equal-tailed: ``lo`` is the largest rank
    with ``P(B <= lo - 1) <= alpha/2`` and ``hi`` the smallest with
    ``P(B >= hi) <= alpha/2``, so the coverage ``P(lo <= B <= hi - 1)`` is at least
    ``confidence`` for every continuous distribution (Thompson 1936; Conover, *Practical
    Nonparametric Statistics*, 3rd ed., section 3.2). ``lo == 0`` means no lower bound and
    ``hi == n + 1`` no upper bound exist at this level with so few values (at 95%, a p95
    needs 72 values for an upper bound, a p99 367).

    Returns ``lo``, ``hi`` (int arrays) and ``coverage`` (the exact coverage of the
    interval, NaN where a bound is missing).

    Examples
    --------
    The median of 100 values: the 40th and 61st order statistics, coverage 96.5%.

    >>> r = quantile_ci_ranks([100], 0.5)
    >>> int(r["lo"][0]), int(r["hi"][0]), round(float(r["coverage"][0]), 4)
    (40, 61, 0.9648)
    """
    n = _arr(n)
    if not 0 < q < 1:
        raise InvalidArgumentError(f"q={q!r} must be strictly between 0 and 1, e.g. 0.95.")
    alpha = 1 - check_confidence(confidence)
    k_lo = sps.binom.ppf(alpha / 2, n, q)
    # ppf is the smallest k with F(k) >= alpha/2; the lower rank needs F(lo - 1) <= alpha/2.
    lo = k_lo + (sps.binom.cdf(k_lo, n, q) <= alpha / 2)
    hi = sps.binom.ppf(1 - alpha / 2, n, q) + 1
    lo = np.where(n > 0, np.clip(lo, 0, n), 0)
    hi = np.where(n > 0, np.clip(hi, 1, n + 1), 1)
    bounded = (lo >= 1) & (hi <= n)
    with np.errstate(invalid="ignore"):
        coverage = sps.binom.cdf(hi - 1, n, q) - sps.binom.cdf(lo - 1, n, q)
    return {
        "lo": lo.astype(np.int64),
        "hi": hi.astype(np.int64),
        "coverage": np.where(bounded, coverage, np.nan),
    }


def quantile_ci(values, q: float, confidence: float = 0.95) -> dict[str, float]:
    """The q-quantile of one sample and its exact distribution-free interval.

    ``values`` is a 1-D array (nulls and NaN dropped). Returns ``value`` (rank
    ``ceil(n q)``), ``lo`` and ``hi`` (order statistics of :func:`quantile_ci_ranks`; NaN
    where the sample is too small for that bound), ``coverage`` and ``n``. The
    assumption is only that the values are independent draws from one continuous
    distribution; with ties the interval is conservative.

    Examples
    --------
    >>> r = quantile_ci(list(range(1, 101)), 0.5)
    >>> r["value"], r["lo"], r["hi"]
    (50.0, 40.0, 61.0)
    """
    x = np.sort(_arr(values).ravel())
    x = x[~np.isnan(x)]
    n = x.size
    ranks = quantile_ci_ranks([n], q, confidence)
    r, lo, hi = int(quantile_rank([n], q)[0]), int(ranks["lo"][0]), int(ranks["hi"][0])
    return {
        "value": float(x[r - 1]) if n else np.nan,
        "lo": float(x[lo - 1]) if 1 <= lo <= n else np.nan,
        "hi": float(x[hi - 1]) if 1 <= hi <= n else np.nan,
        "coverage": float(ranks["coverage"][0]),
        "n": float(n),
    }


def quantile_se(lo, hi, coverage) -> np.ndarray:
    """Standard error of a sample quantile from its order-statistic interval.

    ``(hi - lo) / (2 z)`` with ``z`` the normal quantile of the interval's exact coverage:
    the interval of an order-statistic pair read as a normal one (McKean & Schrader 1984
    for the median; Bonett & Price 2002, *Psychological Methods* 7, 370-383, who take
    ``z`` from the exact binomial coverage, as here). NaN where a bound is missing.
    """
    lo, hi, coverage = _arr(lo), _arr(hi), _arr(coverage)
    with np.errstate(invalid="ignore"):
        z = sps.norm.ppf(0.5 + coverage / 2)  # an array of levels: not the cached scalar helper
        return np.where(np.isfinite(z) & (z > 0), (hi - lo) / (2 * z), np.nan)


def quantile_difference(
    v1, lo1, hi1, cov1, v0, lo0, hi0, cov0, confidence: float = 0.95
) -> dict[str, np.ndarray]:
    """Difference ``v1 - v0`` of two independent sample quantiles, with an interval.

    Each side's standard error comes from its own order-statistic interval
    (:func:`quantile_se`); the difference gets ``d +/- z sqrt(se1^2 + se0^2)`` and a z
    test (Price & Bonett 2002, *J. Statist. Comput. Simul.* 72, 119-124, for medians;
    the same construction for any quantile). For independent groups only: two versions
    run on the same items are paired, see :func:`paired_quantile_difference`. Coverage
    on log-normal latencies is checked in the tests.
    """
    v1, v0 = _arr(v1), _arr(v0)
    se1, se0 = quantile_se(lo1, hi1, cov1), quantile_se(lo0, hi0, cov0)
    se = np.sqrt(se1**2 + se0**2)
    z = normal_quantile(confidence)
    diff = v1 - v0
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(se > 0, 2 * normal_sf(np.abs(diff) / se), np.where(diff == 0, 1.0, 0.0))
    p = np.where(np.isnan(se), np.nan, p)
    return {"diff": diff, "diff_lo": diff - z * se, "diff_hi": diff + z * se, "p": p}


def _sorted_groups(values: np.ndarray, codes: np.ndarray, n_groups: int):
    """Sort values within groups once: (order, sorted values, group starts, group ends)."""
    order = np.lexsort((values, codes))
    g = codes[order]
    starts = np.searchsorted(g, np.arange(n_groups), side="left")
    ends = np.searchsorted(g, np.arange(n_groups), side="right")
    return order, values[order], starts, ends


def _weighted_quantiles(v, starts, ends, weights, qs) -> np.ndarray:
    """Type-1 quantiles per group under each row of a weight matrix, vectorized.

    ``v`` is sorted within groups (``starts``/``ends`` bound each group); ``weights`` is
    ``(B, n)`` of whole numbers in the same order (Poisson draws in the bootstrap, the
    frequency weights for the estimate). Returns ``(len(qs), B, n_groups)``, NaN where a
    group has no weight. One cumulative sum per replicate and one ``searchsorted`` over
    all replicates and groups at once: each replicate's cumulative sums are shifted above
    the previous one's, so the flattened array stays sorted.
    """
    reps, n = weights.shape
    n_groups = len(starts)
    out = np.full((len(qs), reps, n_groups), np.nan)
    if n == 0:
        return out
    cum = np.cumsum(weights, axis=1, dtype=np.int64)
    padded = np.concatenate([np.zeros((reps, 1), dtype=np.int64), cum], axis=1)
    before = padded[:, starts]
    total = padded[:, ends] - before
    shift = (int(cum[:, -1].max()) + 1) * np.arange(reps, dtype=np.int64)[:, None]
    flat = (cum + shift).ravel()
    row_start = (np.arange(reps) * n)[:, None]
    for i, q in enumerate(qs):
        # The smallest value with at least a share q of the group's weight at or below it.
        need = np.maximum(np.ceil(q * total * (1 - 1e-12)), 1).astype(np.int64)
        idx = np.searchsorted(flat, (before + need + shift).ravel(), side="left")
        idx = np.clip(idx.reshape(reps, n_groups) - row_start, 0, n - 1)
        out[i] = np.where(total > 0, v[idx], np.nan)
    return out


_POISSON_ONE_CDF = tuple(float(c) for c in sps.poisson.cdf(np.arange(12), 1.0))


def _poisson_one(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Poisson(1) draws as small integers, by inverse CDF (3x faster than rng.poisson).

    The count of CDF steps a uniform exceeds; draws above 12 (probability 1e-10) are cut.
    """
    u = rng.random(shape, dtype=np.float32)
    out = (u > _POISSON_ONE_CDF[0]).astype(np.int8)
    for c in _POISSON_ONE_CDF[1:]:
        out += u > c
    return out


def paired_quantile_difference(
    x,
    y,
    q: float | Sequence[float],
    *,
    groups=None,
    items=None,
    weights=None,
    paired: bool = True,
    y_groups=None,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Difference of q-quantiles ``Q(y) - Q(x)`` per group, with a bootstrap interval.

    ``paired=True``: ``x[i]`` and ``y[i]`` are one item under two versions (baseline and
    candidate). Items are resampled with Poisson(1) weights (Hanley & MacGibbon 2006,
    *Comput. Methods Programs Biomed.* 83, 57-62), the same weight for both versions of an
    item, so the pairing is kept; the interval is the percentile interval of the
    replicated differences. Every group and every level in ``q`` is computed at once (no
    loop over items or groups; replicates run in chunks that bound memory).

    ``groups``: a group code (0, 1, ...) per element. ``items``: the item index of each
    element, when an item appears in several groups (e.g. the overall group and its
    segment, stacked); elements of one item share its bootstrap weight. ``weights``:
    frequency weights per item (an item of weight 3 counts three times; its bootstrap
    weight is Poisson(3)). ``paired=False``: independent samples with independent
    weights (``y_groups`` gives ``y``'s groups when its length differs).

    The bootstrap of a sample quantile is consistent for continuous distributions; its
    percentile interval is a little liberal at small n (the tests report its coverage on
    log-normal latencies). Returns ``x_value``, ``y_value``, ``diff``, ``diff_lo``,
    ``diff_hi``, ``se`` (the replicates' standard deviation), ``p`` (two-sided p-value of
    no difference, ``2 Phi(-|diff| / se)``: the bootstrap standard error read as a normal
    one, which, unlike counting the replicates beyond zero, is not floored at ``2 / (B +
    1)``, a floor that no multiplicity adjustment over many segments could pass) and
    ``n`` (paired items per group); arrays of shape ``(groups,)`` for one level, or
    ``(levels, groups)`` for a sequence of levels.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> x = rng.lognormal(6, 0.5, 400)
    >>> r = paired_quantile_difference(x, x * 1.2, 0.95, n_boot=500)
    >>> bool(r["diff_lo"][0] > 0)
    True
    """
    qs = [float(q)] if np.isscalar(q) else [float(v) for v in q]
    for level in qs:
        if not 0 < level < 1:
            raise InvalidArgumentError(f"q={level!r} must be strictly between 0 and 1.")
    x, y = _arr(x).ravel(), _arr(y).ravel()
    if paired and x.shape != y.shape:
        raise InvalidArgumentError(
            f"Paired values need one x and one y per element; got {x.size} and {y.size}."
        )
    if weights is not None and not paired:
        raise InvalidArgumentError("weights are supported for paired items only.")
    gx = np.zeros(x.size, dtype=np.int64) if groups is None else np.asarray(groups, np.int64)
    gy = gx if (paired or y_groups is None) else np.asarray(y_groups, np.int64)
    n_groups = int(max(gx.max(initial=-1), gy.max(initial=-1)) + 1) or 1
    ix = np.arange(x.size) if items is None else np.asarray(items, np.int64)
    if paired:
        ok = ~(np.isnan(x) | np.isnan(y))
        x, y, gx, gy, ix = x[ok], y[ok], gx[ok], gy[ok], ix[ok]
        iy = ix
    else:
        okx, oky = ~np.isnan(x), ~np.isnan(y)
        x, gx, ix = x[okx], gx[okx], np.arange(int(okx.sum()))
        y, gy, iy = y[oky], gy[oky], np.arange(int(oky.sum()))
    n_items = int(max(ix.max(initial=-1), iy.max(initial=-1)) + 1)
    freq = np.ones(n_items) if weights is None else _arr(weights).ravel()
    if freq.size != n_items:
        raise InvalidArgumentError(f"weights has {freq.size} entries for {n_items} items.")
    ox, vx, sx, ex = _sorted_groups(x, gx, n_groups)
    oy, vy, sy, ey = _sorted_groups(y, gy, n_groups)
    wx0, wy0 = ix[ox], iy[oy]  # item of each sorted element
    est_w = np.rint(freq).astype(np.int64)
    x_value = _weighted_quantiles(vx, sx, ex, est_w[wx0][None, :], qs)[:, 0]
    y_value = _weighted_quantiles(vy, sy, ey, est_w[wy0][None, :], qs)[:, 0]
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_boot, 4_000_000 // max(x.size + y.size, 1)))
    diffs = []
    for start in range(0, n_boot, chunk):  # chunks of replicates bound the memory
        reps = min(chunk, n_boot - start)
        w_items = (
            _poisson_one(rng, (reps, n_items))
            if weights is None
            else rng.poisson(freq, (reps, n_items))
        )
        w_other = w_items if paired else _poisson_one(rng, (reps, y.size))
        qx = _weighted_quantiles(vx, sx, ex, w_items[:, wx0], qs)
        qy = _weighted_quantiles(vy, sy, ey, w_other[:, wy0], qs)
        diffs.append(qy - qx)
    d = np.concatenate(diffs, axis=1)  # (levels, B, groups)
    alpha = 1 - check_confidence(confidence)
    import warnings

    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN groups stay NaN
        lo = np.nanquantile(d, alpha / 2, axis=1)
        hi = np.nanquantile(d, 1 - alpha / 2, axis=1)
        se = np.nanstd(d, axis=1, ddof=1)
    valid = (~np.isnan(d)).sum(axis=1)
    diff = y_value - x_value
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(se > 0, 2 * normal_sf(np.abs(diff) / se), np.where(diff == 0, 1.0, 0.0))
    p = np.where((valid > 1) & ~np.isnan(diff), p, np.nan)
    counts = np.bincount(gx, weights=freq[ix], minlength=n_groups).astype(float)
    out = {
        "x_value": x_value,
        "y_value": y_value,
        "diff": diff,
        "diff_lo": lo,
        "diff_hi": hi,
        "se": se,
        "p": p,
        "n": np.broadcast_to(counts, x_value.shape).copy(),
    }
    return {k: v[0] for k, v in out.items()} if np.isscalar(q) else out


def total_ci(total, total_sq, size, confidence: float = 0.95, population=None):
    """A total (e.g. the cost of a run) with an interval, from a sum, sum of squares, size.

    The observed total is exact; its interval is for the expected total of
    ``population`` items drawn like these (default: as many as observed), i.e.
    ``population`` times the t interval of the mean (:func:`mean_ci`), under the same
    assumption (independent items; the mean's sampling distribution near normal, which a
    heavy-tailed cost reaches only with a few hundred items). Returns
    ``(total, low, high)``; with ``population`` the first is ``population * mean``.

    Examples
    --------
    >>> t, lo, hi = total_ci([30.0], [110.0], [10])
    >>> float(t[0]), bool(lo[0] < 30 < hi[0])
    (30.0, True)
    """
    mean, _, lo, hi = mean_ci(total, total_sq, size, confidence)
    scale = _arr(size) if population is None else _arr(population)
    est = _arr(total) if population is None else scale * mean
    return est, scale * lo, scale * hi


# --------------------------------------------------------------------------------------
# Paired proportions: the same items judged under two versions (baseline, candidate).
# The 2x2 table of an item's outcome under each: ``both`` succeed, ``broken`` (baseline
# succeeds, candidate fails), ``fixed`` (baseline fails, candidate succeeds), ``neither``.
# --------------------------------------------------------------------------------------


def paired_proportions(
    both, broken, fixed, neither, confidence: float = 0.95
) -> dict[str, np.ndarray]:
    """Compare two paired proportions: the candidate's minus the baseline's, per table.

    Vectorized over arrays of 2x2 tables. Returns

    - ``p_base = (both + broken) / n``, ``p_cand = (both + fixed) / n`` and
      ``diff = (fixed - broken) / n``;
    - ``diff_lo``, ``diff_hi``: Newcombe's square-and-add interval for paired data
      (Newcombe 1998, *Statistics in Medicine* 17, 2635-2650, method 10): the two Wilson
      intervals combined with the phi correlation of the table, continuity-corrected as
      Newcombe prescribes (phi is set to 0 when ``both*neither - broken*fixed`` lies in
      ``[0, n/2]``). Recommended by Fagerland, Lydersen & Laake (2014, *Statistics in
      Medicine* 33, 2850-2875); it equals their worked example (Cavo et al. 2012: -0.1186
      to -0.0046) in the tests;
    - ``se``: the Wald standard error of the difference,
      ``sqrt(broken + fixed - (fixed - broken)^2 / n) / n`` (Agresti, *Categorical Data
      Analysis*, section 11.1);
    - McNemar's test of equal proportions, which uses the discordant items only:
      ``z = (fixed - broken) / sqrt(fixed + broken)``, ``chi2 = z^2``, ``chi2_cc``
      (Edwards' continuity correction), ``p_asymptotic`` (of ``chi2``), ``p_exact`` (the
      conditional binomial test, ``min(1, 2 P(X <= min(broken, fixed)))`` with
      ``X ~ Binomial(broken + fixed, 1/2)``, as statsmodels' ``mcnemar(exact=True)``) and
      ``p_midp`` (the exact p-value minus half the probability of the observed table on
      each side; Fagerland, Lydersen & Laake 2013, *BMC Medical Research Methodology*
      13:91, recommend it: the exact test is conservative, the mid-p holds its level).

    The assumption is independent items (pairs); the two outcomes of an item may be as
    correlated as they like. NaN where ``n == 0``; the tests give 1 without discordant
    items.

    Examples
    --------
    Agresti's presidential-approval table (1,600 people, two surveys a month apart):

    >>> r = paired_proportions([794], [150], [86], [570])
    >>> round(float(r["diff"][0]), 3), round(float(r["z"][0]), 2), round(float(r["se"][0]), 4)
    (-0.04, -4.17, 0.0095)
    """
    a, b, c, d = (_arr(v) for v in (both, broken, fixed, neither))
    n = a + b + c + d
    m = b + c
    ok = n > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        p_base = np.where(ok, (a + b) / n, np.nan)
        p_cand = np.where(ok, (a + c) / n, np.nan)
        diff = p_cand - p_base
        se = np.where(ok, np.sqrt(np.maximum(m - (c - b) ** 2 / n, 0)) / n, np.nan)
        z = np.where(m > 0, (c - b) / np.sqrt(m), 0.0)
        chi2_cc = np.where(m > 0, (np.abs(c - b) - 1) ** 2 / m, 0.0)  # as R and statsmodels
        # Newcombe's phi, with his continuity correction of the cross-product.
        margins = (a + b) * (c + d) * (a + c) * (b + d)
        cross = a * d - b * c
        corrected = np.where(cross > n / 2, cross - n / 2, np.where(cross >= 0, 0.0, cross))
        phi = np.where(margins > 0, corrected / np.sqrt(margins), 0.0)
    l_base, u_base = wilson_ci(a + b, n, confidence)
    l_cand, u_cand = wilson_ci(a + c, n, confidence)
    down_c, up_c = p_cand - l_cand, u_cand - p_cand
    down_b, up_b = p_base - l_base, u_base - p_base
    lo = diff - np.sqrt(np.maximum(down_c**2 + up_b**2 - 2 * phi * down_c * up_b, 0))
    hi = diff + np.sqrt(np.maximum(up_c**2 + down_b**2 - 2 * phi * up_c * down_b, 0))
    k = np.minimum(b, c)
    p_exact = np.where(m > 0, np.minimum(1.0, 2 * sps.binom.cdf(k, m, 0.5)), 1.0)
    p_midp = np.where(
        m > 0, np.minimum(1.0, 2 * sps.binom.cdf(k, m, 0.5) - sps.binom.pmf(k, m, 0.5)), 1.0
    )
    nan = np.where(ok, 0.0, np.nan)  # NaN for empty tables, added to every output
    return {
        "n": n,
        "p_base": p_base,
        "p_cand": p_cand,
        "diff": diff,
        "diff_lo": np.clip(lo, -1, 1) + nan,
        "diff_hi": np.clip(hi, -1, 1) + nan,
        "se": se,
        "z": z + nan,
        "chi2": z**2 + nan,
        "chi2_cc": chi2_cc + nan,
        "p_asymptotic": np.where(m > 0, sps.chi2.sf(z**2, 1), 1.0) + nan,
        "p_exact": p_exact + nan,
        "p_midp": p_midp + nan,
    }


def paired_mean_difference(d_sum, d_sq, n, confidence: float = 0.95) -> dict[str, np.ndarray]:
    """Mean of per-item differences (candidate minus baseline) with a paired t interval.

    From the sum and sum of squares of the differences over ``n`` items (sums a group-by
    computes): ``diff``, ``se``, ``diff_lo``, ``diff_hi``, ``p`` (paired t test, ``n - 1``
    degrees of freedom). Assumes independent items and a near-normal mean difference
    (heavy tails need a few hundred items).
    """
    mean, se, lo, hi = mean_ci(d_sum, d_sq, n, confidence)
    n = _arr(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = mean / se
        p = np.where(se > 0, 2 * sps.t.sf(np.abs(t), np.maximum(n - 1, 1)), np.nan)
    p = np.where((se == 0) & (n > 1), np.where(mean == 0, 1.0, 0.0), p)
    return {"diff": mean, "se": se, "diff_lo": lo, "diff_hi": hi, "p": p}


# ======================================================================================
# Post-stratification: an eval (golden) set re-weighted to known stratum shares, e.g.
# production's mix of segments (aidebt.coverage, aidebt.refresh). Cochran (1977),
# *Sampling Techniques*, 3rd ed., §5.3 (stratified variance), §5.4 (Satterthwaite's
# degrees of freedom), §5A.9 (post-stratification, conditioning on the realised stratum
# sizes); Kish (1965), *Survey Sampling*, §8.2 (the design effect). The shares are treated
# as known (they come from far more rows than the eval set has) and finite-population
# corrections are dropped (production is far larger than any eval set).
# --------------------------------------------------------------------------------------


def _covered_strata(weight, n) -> tuple[np.ndarray, float]:
    """The strata that can be re-weighted (a sample and a weight), and their share."""
    w, n = _arr(weight), _arr(n)
    keep = (n > 0) & (w > 0)
    total = w.sum()
    return keep, float(w[keep].sum() / total) if total > 0 else 0.0


def _satterthwaite(parts: np.ndarray, n: np.ndarray) -> float:
    """Degrees of freedom of ``sum(parts)``, each part estimated on ``n - 1`` (Cochran §5.4)."""
    denom = float(np.sum(parts**2 / np.maximum(n - 1, 1)))
    return float(parts.sum()) ** 2 / denom if denom > 0 else float("inf")


def poststratified_proportion(weight, x, n, confidence: float = 0.95) -> dict[str, float]:
    """A proportion post-stratified to known shares, with Cochran's variance and a Wilson interval.

    ``weight``: each stratum's (production) share or count; ``x`` and ``n``: its count and
    size in the sample. Strata with ``n = 0`` or no weight cannot be re-weighted: the estimate
    speaks for ``covered_share`` of the weight.

    The estimate is ``sum w_h x_h / n_h`` (``w`` renormalised over the covered strata). Its
    variance given the ``n_h`` is Cochran's stratified variance
    ``V = sum w_h^2 p_h (1 - p_h) / n_h``, each ``p_h`` taken at its Wilson centre
    ``p~_h = (x_h + z^2/2) / (n_h + z^2)`` (never a zero variance for a small stratum that
    happens to be all correct). The interval is Wilson's at the design-effect sample size
    ``n_eff = p~ (1 - p~) / V`` (Kish 1965, §8.2; ``p~ = sum w_h p~_h``), shrunk by
    ``(z / t_df)^2`` with Satterthwaite's degrees of freedom
    ``df = V^2 / sum v_h^2 / (n_h - 1)`` (``v_h`` the terms of ``V``) for small samples, as
    Korn & Graubard (1998, *Survey Methodology* 24(2):193-201) do for Clopper-Pearson (Dean
    & Pagano 2015, *J. Surv. Stat. Methodol.* 3(4):484-503, compare such design-effect
    intervals, Wilson's among them). Unlike a Wilson interval at Kish's effective size
    ``1 / sum w_h^2 / n_h``, which assumes one common rate, ``V`` carries the difference
    between strata: when the thin strata are the hard ones, the Kish interval covers about
    90% where this one covers 95% (simulated in the tests).

    Assumption: within a stratum the sampled items are a simple random sample of the
    stratum (the assumption of post-stratification).

    Returns
    -------
    dict
        ``value``; ``se`` (``sqrt(V)``); ``df``; ``n_eff``; ``ci_low``, ``ci_high``;
        ``covered_share``. NaN where no stratum is covered.

    Examples
    --------
    >>> r = poststratified_proportion([0.8, 0.2], [90, 30], [100, 50])
    >>> round(r["value"], 3), round(r["ci_low"], 3), round(r["ci_high"], 3)
    (0.84, 0.777, 0.888)
    """
    w, x, n = _arr(weight), _arr(x), _arr(n)
    keep, covered = _covered_strata(w, n)
    nan = float("nan")
    if not keep.any():
        return dict(
            value=nan, se=nan, df=nan, n_eff=nan, ci_low=nan, ci_high=nan, covered_share=covered
        )
    w, x, n = w[keep] / w[keep].sum(), x[keep], n[keep]
    z = normal_quantile(confidence)
    value = float(np.sum(w * x / n))
    centre = (x + z * z / 2) / (n + z * z)
    parts = w**2 * centre * (1 - centre) / n
    var = float(parts.sum())
    df = _satterthwaite(parts, n)
    pooled = float(np.sum(w * centre))
    n_eff = pooled * (1 - pooled) / var * (z / float(t_quantile(confidence, df))) ** 2
    lo, hi = wilson_ci(np.array([value * n_eff]), np.array([n_eff]), confidence)
    return dict(
        value=value,
        se=float(np.sqrt(var)),
        df=df,
        n_eff=n_eff,
        ci_low=float(lo[0]),
        ci_high=float(hi[0]),
        covered_share=covered,
    )


def poststratified_mean(weight, mean, se, n, confidence: float = 0.95) -> dict[str, float]:
    """A mean post-stratified to known shares: Cochran's variance and a Satterthwaite t interval.

    ``weight``: each stratum's share or count; ``mean``, ``se`` and ``n``: the stratum's
    sample mean, its standard error ``s_h / sqrt(n_h)`` and its size. The estimate is
    ``sum w_h m_h``; its variance Cochran's ``V = sum w_h^2 s_h^2 / n_h`` (Cochran 1977,
    §5.3); the interval ``value +- t_df sqrt(V)`` with Satterthwaite's degrees of freedom
    (§5.4), which matter when a heavily weighted stratum has few items. A stratum with a
    single item (no standard error of its own) borrows the strata's pooled within-stratum
    variance. ``n_eff`` is the design-effect size ``S^2 / V`` (Kish 1965, §8.2), with
    ``S^2 = sum w_h (s_h^2 + (m_h - value)^2)`` the outcome's variance in the re-weighted
    population, shrunk by ``(z / t_df)^2`` like :func:`poststratified_proportion`'s: the
    simple random sample whose normal interval is as wide.

    Assumption: simple random sampling within strata, and stratum means near normal (a
    heavy-tailed outcome needs a few dozen items in each heavily weighted stratum).

    Examples
    --------
    >>> r = poststratified_mean([0.75, 0.25], [1.0, 3.0], [0.1, 0.2], [50, 50])
    >>> round(r["value"], 3), round(r["se"], 4), round(r["ci_low"], 3)
    (1.5, 0.0901, 1.321)
    """
    w, m, se, n = _arr(weight), _arr(mean), _arr(se), _arr(n)
    keep, covered = _covered_strata(w, n)
    keep &= np.isfinite(m)
    nan = float("nan")
    out = dict(value=nan, se=nan, df=nan, n_eff=nan, ci_low=nan, ci_high=nan)
    out["covered_share"] = covered
    if not keep.any():
        return out
    w, m, se, n = w[keep] / w[keep].sum(), m[keep], se[keep], n[keep]
    s2 = se**2 * n
    own = np.isfinite(s2) & (n > 1)
    if own.any():
        pooled = float(np.sum((n[own] - 1) * s2[own]) / np.sum(n[own] - 1))
        s2 = np.where(own, s2, pooled)
    value = float(np.sum(w * m))
    parts = w**2 * s2 / n
    var = float(parts.sum())
    out["value"] = value
    if not np.isfinite(var):
        return out
    df = _satterthwaite(parts, n)
    half = float(t_quantile(confidence, df)) * np.sqrt(var) if var > 0 else 0.0
    spread = float(np.sum(w * (s2 + (m - value) ** 2)))
    shrink = (normal_quantile(confidence) / float(t_quantile(confidence, df))) ** 2
    out.update(
        se=float(np.sqrt(var)),
        df=df,
        n_eff=spread / var * shrink if var > 0 else nan,
        ci_low=float(value - half),
        ci_high=float(value + half),
    )
    return out


# ======================================================================================
# Simpson's-paradox guard: is the aggregate difference further from the stratified one
# than sampling noise makes it? The two estimates come from the same rows.
# --------------------------------------------------------------------------------------


def _within_variances(s, q, n) -> np.ndarray:
    """Each cell's unbiased variance; a cell of one row borrows its arm's pooled one."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ss = np.where(n > 0, np.maximum(q - s * s / np.where(n > 0, n, 1), 0), 0.0)
        own = n > 1
        if own.any():
            pooled = ss[own].sum() / (n[own] - 1).sum()
        else:  # only single rows: the arm's total variance (between strata too: conservative)
            big = n.sum()
            pooled = (q.sum() - s.sum() ** 2 / big) / (big - 1) if big > 1 else 0.0
        return np.where(own, ss / np.where(own, n - 1, 1), max(float(pooled), 0.0))


def adjustment_shift(s1, q1, n1, s0, q0, n0) -> dict[str, float]:
    """The aggregate difference minus the stratified one, with its standard error and p-value.

    Per stratum, each arm's sum of the outcome ``s``, sum of squares ``q`` (``q = s`` for a
    0/1 outcome) and rows ``n`` (frequency weights count as rows). The aggregate difference
    is ``D = S1 / N1 - S0 / N0``; the adjusted one ``A = sum w_k d_k / sum w_k`` with Cochran's
    weights ``w_k = n1k n0k / (n1k + n0k)`` over the strata both arms saw (the
    Mantel-Haenszel risk difference for a 0/1 outcome, :func:`mh_risk_difference`; the
    Cochran-weighted mean difference otherwise, :func:`stratified_mean_difference`). The
    null hypothesis is that both estimate the same thing, as they do when the arms see the
    same mix of strata; ``shift = D - A`` is then sampling noise.

    Variance: ``D`` and ``A`` share their rows, so ``Var(D - A)`` is not
    ``Var(D) + Var(A)``, nor ``Var(A)`` alone. Each arm's rows are taken as independent
    draws of (stratum, outcome) from that arm's population, the arm's size fixed; both
    estimates are smooth functions of each arm's cell means, and the delta method
    (van der Vaart 1998, *Asymptotic Statistics*, ch. 3; Agresti 2013, *Categorical Data
    Analysis*, §16.1) gives ``Var(D - A) = sum_j Var(psi_j) / N_j`` with the influence of
    one row of arm 1 in stratum ``k`` with outcome ``y``

    ``psi_1 = y - (N1 / W) [h0k (y - r1k) + h0k^2 (d_k - A)]``,  ``h0k = n0k / (n1k + n0k)``

    (``W = sum w_k``; ``h0k = 0`` in a stratum arm 0 never saw, where ``psi_1 = y``: those
    rows move ``D`` and not ``A``), and symmetrically
    ``psi_0 = -y + (N0 / W) [h1k (y - r0k) - h1k^2 (d_k - A)]``. ``Var(psi_j)`` splits into
    a within-stratum part ``sum_k f_jk beta_jk^2 sigma_jk^2`` (``beta`` the coefficient of
    ``y``, ``sigma^2`` unbiased, a one-row cell borrowing its arm's pooled within-stratum
    variance) and a between-stratum part ``sum_k f_jk (g_jk - g_j)^2`` over the strata's
    mean influence ``g_jk``; the latter, computed from noisy stratum means, is too large
    by about ``sum_k f_jk (1 - f_jk) Var(g_jk)``, which is subtracted (a method-of-moments
    correction, truncated at zero, as DerSimonian & Laird 1986 do for a between-study
    variance). Without the correction the test is very conservative with many small
    strata; with it, the test holds its level from 4 to 400 strata at 300 rows, 0/1 or
    numeric outcomes, equal or unequal arms (simulated in the tests). ``z = shift / se``
    against the normal.

    Returns ``aggregate``, ``adjusted``, ``shift``, ``se``, ``z`` and ``p`` (two-sided;
    1 when the shift is exactly zero); NaN when no stratum has both arms.

    Examples
    --------
    "new" is 2 points better in every stratum but served mostly the hard one: 46 points
    worse overall.

    >>> s1, n1 = [920, 6200, 16000], [1000, 10000, 50000]
    >>> s0, n0 = [45000, 6000, 300], [50000, 10000, 1000]
    >>> r = adjustment_shift(s1, s1, n1, s0, s0, n0)
    >>> round(r["aggregate"], 3), round(r["adjusted"], 3), round(r["shift"], 3), r["p"] < 1e-12
    (-0.462, 0.02, -0.482, True)

    The arms see the same mix: the adjusted difference is the aggregate one.

    >>> r = adjustment_shift([180, 300, 50], [180, 300, 50], [200, 600, 200],
    ...                      [80, 170, 20], [80, 170, 20], [100, 300, 100])
    >>> abs(r["shift"]) < 1e-12, r["p"]
    (True, 1.0)
    """
    s1, q1, n1, s0, q0, n0 = (_arr(v) for v in (s1, q1, n1, s0, q0, n0))
    nan = float("nan")
    out = dict.fromkeys(("aggregate", "adjusted", "shift", "se", "z", "p"), nan)
    big1, big0 = float(n1.sum()), float(n0.sum())
    both = (n1 > 0) & (n0 > 0)
    if big1 <= 0 or big0 <= 0 or not both.any():
        return out
    with np.errstate(divide="ignore", invalid="ignore"):
        safe1, safe0 = np.where(n1 > 0, n1, 1), np.where(n0 > 0, n0, 1)
        r1, r0 = np.where(n1 > 0, s1 / safe1, 0.0), np.where(n0 > 0, s0 / safe0, 0.0)
        tot = np.where(both, n1 + n0, 1)
        w = np.where(both, n1 * n0 / tot, 0.0)
        h1, h0 = np.where(both, n1 / tot, 0.0), np.where(both, n0 / tot, 0.0)
    big_w = float(w.sum())
    d = np.where(both, r1 - r0, 0.0)
    adjusted = float((w * d).sum() / big_w)
    aggregate = float(s1.sum() / big1 - s0.sum() / big0)
    e = np.where(both, d - adjusted, 0.0)
    v1, v0 = _within_variances(s1, q1, n1), _within_variances(s0, q0, n0)

    def arm_variance(n, big, v, beta, g, noise) -> float:
        """Var(psi) / N for one arm: within-stratum part + corrected between-stratum part."""
        f = n / big
        within = float(np.sum(f * beta**2 * v))
        centre = float(np.sum(f * g))
        between = float(np.sum(f * (g - centre) ** 2) - np.sum(f * (1 - f) * noise))
        return (within + max(between, 0.0)) / big

    # g: a stratum's mean influence; k: the weight of the other arm's rate in it.
    k1, k0 = big1 * h0**2 / big_w, big0 * h1**2 / big_w
    noise1 = np.where(n1 > 0, (1 - k1) ** 2 * v1 / safe1 + both * k1**2 * v0 / safe0, 0.0)
    noise0 = np.where(n0 > 0, (1 - k0) ** 2 * v0 / safe0 + both * k0**2 * v1 / safe1, 0.0)
    var = arm_variance(n1, big1, v1, 1 - big1 * h0 / big_w, r1 - k1 * e, noise1)
    var += arm_variance(n0, big0, v0, -(1 - big0 * h1 / big_w), -r0 - k0 * e, noise0)
    shift = aggregate - adjusted
    se = float(np.sqrt(max(var, 0.0)))
    zero = abs(shift) <= 1e-12 * max(1.0, abs(aggregate))
    z = 0.0 if zero else (shift / se if se > 0 else float(np.sign(shift)) * np.inf)
    p = 1.0 if zero else float(2 * normal_sf(abs(z)))
    out.update(aggregate=aggregate, adjusted=adjusted, shift=shift, se=se, z=z, p=p)
    return out


# --------------------------------------------------------------------------------------
# Calibration: the expected calibration error and the reliability table, on per-bin sums
# --------------------------------------------------------------------------------------
SCORE_BIN = "score_bin"
"""The score-bin column of a long calibration table (one row per group and bin)."""

CALIBRATION_BINS = 10
"""Equal-width score bins of the ``ece`` metric (the per-bin sums of the one pass)."""


def calibration_edges(bins: int | Sequence[float] = CALIBRATION_BINS) -> np.ndarray:
    """Score-bin edges from a number of equal-width bins of [0, 1], or checked edges.

    Bins are ``[e_0, e_1), [e_1, e_2), ... [e_{k-1}, 1]``.

    Examples
    --------
    >>> calibration_edges(4).tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
    >>> calibration_edges([0, 0.2, 1]).tolist()
    [0.0, 0.2, 1.0]
    """
    if isinstance(bins, int) and not isinstance(bins, bool):
        if bins < 2:
            raise InvalidArgumentError(f"bins={bins!r}: use at least 2 score bins, e.g. 10.")
        return np.linspace(0.0, 1.0, bins + 1)
    try:
        edges = np.asarray(list(bins), dtype=float)
    except (TypeError, ValueError):
        edges = np.array([])
    if (
        edges.ndim != 1
        or len(edges) < 3
        or edges[0] != 0
        or edges[-1] != 1
        or np.any(np.diff(edges) <= 0)
    ):
        raise InvalidArgumentError(
            f"bins={bins!r}: give a number of equal-width bins (e.g. 10) or increasing edges "
            "from 0 to 1, e.g. [0, 0.2, 0.5, 1]."
        )
    return edges


def calibration_arrays(
    bin_stats: pl.DataFrame,
    keys: Sequence[str],
    bins: int | Sequence[float] = CALIBRATION_BINS,
    *,
    size: str = "labeled",
    positives: str = "pos",
    score_sum: str = "score_sum",
) -> tuple[pl.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Dense (group x bin) arrays from a long table of per-(group, bin) sums.

    ``bin_stats`` has the ``keys``, :data:`SCORE_BIN` (a bin index; rows outside ``0 ..
    bins - 1``, such as -1 for rows with no score or no label, are ignored) and the
    labeled scored rows ``size``, their positives ``positives`` and their sum of scores
    ``score_sum``. Returns the groups (sorted by the keys; an empty frame without keys)
    and the three arrays, shape ``(groups, bins)``.
    """
    keys = list(keys)
    k = len(calibration_edges(bins)) - 1
    used = bin_stats.filter(pl.col(SCORE_BIN).is_between(0, k - 1))
    groups = (
        bin_stats.select(keys).unique(maintain_order=True).sort(keys)
        if keys
        else pl.DataFrame({"_": [0]})
    )
    if keys:
        index = groups.with_row_index("_row")
        used = used.join(index, on=keys, how="left", nulls_equal=True)
        gi = used.get_column("_row").to_numpy().astype(int)
    else:
        gi = np.zeros(used.height, dtype=int)
    bi = used.get_column(SCORE_BIN).cast(pl.Int64).to_numpy()
    out = []
    for name in (size, positives, score_sum):
        a = np.zeros((groups.height, k))
        np.add.at(a, (gi, bi), used.get_column(name).cast(pl.Float64).to_numpy())
        out.append(a)
    return (groups if keys else pl.DataFrame()), out[0], out[1], out[2]


def ece_value(size, pos, score_sum) -> tuple[np.ndarray, np.ndarray]:
    """The expected calibration error and its standard error from per-bin sums.

    ``size``, ``pos`` and ``score_sum`` are arrays ``(..., bins)``: labeled rows with a
    score, their positives and the sum of their scores, per bin.
    ``ECE = sum_b (n_b / n) |pos_b / n_b - score_sum_b / n_b| = sum_b |pos_b - score_sum_b| / n``
    (Naeini, Cooper and Hauskrecht, 2015; Guo et al., 2017). The standard error treats
    the scores as fixed and the labels as binomial given them, with each bin's gap at its
    sign: ``se^2 = sum_b (n_b / n)^2 p_b (1 - p_b) / n_b``, ``p_b = (pos_b + 1/2) /
    (n_b + 1)``. NaN where no bin has a row.

    Examples
    --------
    >>> v, se = ece_value([[100, 100]], [[30, 75]], [[25.0, 70.0]])
    >>> round(float(v[0]), 3), round(float(se[0]), 4)
    (0.05, 0.0316)
    """
    size, pos, ssum = _arr(size), _arr(pos), _arr(score_sum)
    has = size > 0
    total = size.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(total[..., None] > 0, size / total[..., None], 0.0)
        gap = np.where(has, (pos - ssum) / size, 0.0)
        value = np.where(total > 0, (w * np.abs(gap)).sum(axis=-1), np.nan)
        pt = (pos + 0.5) / (size + 1)
        se_b = np.where(has, np.sqrt(pt * (1 - pt) / size), 0.0)
        se = np.where(total > 0, np.sqrt((w**2 * se_b**2).sum(axis=-1)), np.nan)
    return value, se


def ece_interval(
    size,
    pos,
    score_sum,
    confidence: float = 0.95,
    *,
    n_boot: int = 2000,
    seed: int | np.random.Generator = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The interval of the expected calibration error, and the bootstrap bias of its plug-in.

    Arrays ``(..., bins)`` as for :func:`ece_value`; returns ``lo``, ``hi`` and ``bias``
    with the leading shape.

    Method. The ECE is the largest of the contrasts ``sum_b w_b s_b d_b`` over sign vectors
    ``s`` (``d_b`` the bin's gap), so it takes the two-step bootstrap-t interval of a
    largest contrast (Romano, Shaikh and Wolf, 2014) that :mod:`aidebt.fairness` uses for
    its gaps: the upper end is ``ECE + z se``; the lower end subtracts the bootstrap
    quantile ``k`` (at ``1 - alpha/2 + beta``, ``beta = alpha/10``) of the studentized
    error of the sign-resolved contrast, where a bin's sign counts as known only when its
    gap is beyond a Bonferroni bound at level ``beta`` (an undetermined bin counts as
    ``|error|``, which is the plug-in's upward bias at perfect calibration). The draws are
    Jeffreys ``Beta(pos_b + 1/2, n_b - pos_b + 1/2)`` per bin, ``n_boot`` of them.

    Assumptions: the scores are fixed and the labels independent Bernoulli given them
    (weights are frequency counts). Coverage is checked by simulation in
    ``tests/test_fairness.py`` (calibrated, shifted and too-extreme scores; at least the
    nominal level within its Monte Carlo error). The plug-in ECE is biased upward in
    small samples (each bin's gap is at least its noise): ``bias`` is the bootstrap
    estimate of that bias (Efron and Tibshirani, 1993, ch. 10).

    Every row draws from its own generator seeded with ``seed`` (a Generator gives one
    seed), so a row's interval depends only on its own sums: the same sums give the same
    interval in any table, at any batch size, and at any later :func:`conf_int` call.

    Examples
    --------
    >>> lo, hi, bias = ece_interval([[100, 100]], [[30, 75]], [[25.0, 70.0]])
    >>> bool(lo[0] < 0.05 < hi[0]), round(float(hi[0]), 3)
    (True, 0.112)
    """
    confidence = check_confidence(confidence)
    if isinstance(seed, np.random.Generator):
        seed = int(seed.integers(2**63))
    size, pos, ssum = _arr(size), _arr(pos), _arr(score_sum)
    shape, k_bins = size.shape[:-1], size.shape[-1]
    size, pos, ssum = (a.reshape(-1, k_bins) for a in (size, pos, ssum))
    value, se = ece_value(size, pos, ssum)
    alpha = 1 - confidence
    beta = alpha / 10
    has = size > 0
    total = size.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(total[:, None] > 0, size / total[:, None], 0.0)
        obs = np.where(has, pos / size, 0.0)
        mean_score = np.where(has, ssum / size, 0.0)
        gap = obs - mean_score
        pt = (pos + 0.5) / (size + 1)
        se_b = np.where(has, np.sqrt(pt * (1 - pt) / size), 0.0)
        cut = sps.norm.ppf(1 - beta / (2 * np.maximum(has.sum(axis=-1, keepdims=True), 1)))
        sign = np.where(np.abs(gap) > cut * se_b, np.sign(gap), 0.0)  # 0: undetermined
        inv_size = np.where(has, 1 / size, 0.0)
    k = np.full(len(total), np.nan)
    bias = np.full(len(total), np.nan)
    for r in np.nonzero(total > 0)[0]:  # rows of the small table; draws vectorized
        rng = np.random.default_rng(seed)
        a = np.broadcast_to(pos[r] + 0.5, (n_boot, k_bins))
        b = np.broadcast_to(size[r] - pos[r] + 0.5, (n_boot, k_bins))
        draws = np.clip(rng.beta(a, b), 1e-12, 1 - 1e-12)
        err = draws - pt[r]
        contrast = (w[r] * np.where(sign[r] == 0, np.abs(err), sign[r] * err)).sum(axis=-1)
        se_star = np.sqrt((w[r] ** 2 * draws * (1 - draws) * inv_size[r]).sum(axis=-1))
        with np.errstate(divide="ignore", invalid="ignore"):
            zz = np.where(se_star > 0, contrast / se_star, np.nan)
        if np.isfinite(zz).any():
            k[r] = np.nanquantile(zz, 1 - alpha / 2 + beta)
        rep = (w[r] * np.abs(obs[r] + err - mean_score[r])).sum(axis=-1)
        bias[r] = rep.mean() - value[r]
    z = normal_quantile(confidence)
    lo = np.maximum(value - k * se, 0.0)
    hi = np.minimum(value + z * se, 1.0)
    undefined = np.isnan(value)
    lo, hi, bias = (np.where(undefined, np.nan, a).reshape(shape) for a in (lo, hi, bias))
    return lo, hi, bias


def estimate_ece(
    size,
    pos,
    score_sum,
    *,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int | np.random.Generator = 0,
) -> dict[str, np.ndarray]:
    """Expected calibration error per group from (group x bin) arrays, with its interval.

    :func:`ece_value` and :func:`ece_interval` together, in the shape
    :func:`aidebt.metrics.estimate` returns: ``value``, ``lo``, ``hi``, ``den`` (labeled
    rows with a score), ``x`` (``value * den``), ``se``, ``note``, plus ``bias``.

    Examples
    --------
    >>> r = estimate_ece([[100, 100]], [[30, 75]], [[25.0, 70.0]])
    >>> round(float(r["value"][0]), 3)
    0.05
    """
    size = _arr(size)
    value, se = ece_value(size, pos, score_sum)
    lo, hi, bias = ece_interval(size, pos, score_sum, confidence, n_boot=n_boot, seed=seed)
    total = size.sum(axis=-1)
    undefined = np.isnan(value)
    return {
        "value": value,
        "lo": lo,
        "hi": hi,
        "den": total,
        "x": np.where(undefined, np.nan, value * total),
        "se": se,
        "bias": bias,
        "note": np.where(undefined, "no labeled rows with a score in this group", None),
    }


def _nullable(name: str, values) -> pl.Series:
    return pl.Series(name, _arr(values), nan_to_null=True)


def expected_calibration_error(
    bin_stats: pl.DataFrame,
    keys: Sequence[str] = (),
    *,
    bins: int | Sequence[float] = CALIBRATION_BINS,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int | np.random.Generator = 0,
    size: str = "labeled",
    positives: str = "pos",
    score_sum: str = "score_sum",
) -> pl.DataFrame:
    """ECE per group from a long table of per-(group, score bin) sums, with its interval.

    The one implementation of the expected calibration error on a table (the ``ece``
    metric, :mod:`aidebt.fairness` and :mod:`aidebt.estimate` all come here):
    :func:`calibration_arrays` reads the table, :func:`estimate_ece` computes. Returns the
    keys, ``ece``, ``ci_low``, ``ci_high``, ``bias``, ``se``, ``n`` and ``note``.

    Examples
    --------
    >>> t = pl.DataFrame({"g": ["a", "a"], "score_bin": [2, 7], "labeled": [100.0, 100.0],
    ...                   "pos": [30.0, 75.0], "score_sum": [25.0, 70.0]})
    >>> expected_calibration_error(t, ["g"])["ece"].round(3).to_list()
    [0.05]
    """
    keys = list(keys)
    groups, n, pos, ssum = calibration_arrays(
        bin_stats, keys, bins, size=size, positives=positives, score_sum=score_sum
    )
    est = estimate_ece(n, pos, ssum, confidence=confidence, n_boot=n_boot, seed=seed)
    return pl.DataFrame(
        [
            *(groups.get_column(k) for k in keys),
            _nullable("ece", est["value"]),
            _nullable("ci_low", est["lo"]),
            _nullable("ci_high", est["hi"]),
            _nullable("bias", est["bias"]),
            _nullable("se", est["se"]),
            pl.Series("n", est["den"]),
            pl.Series("note", list(est["note"]), dtype=pl.String),
        ]
    )


def reliability_table(
    bin_stats: pl.DataFrame,
    keys: Sequence[str] = (),
    *,
    bins: int | Sequence[float] = CALIBRATION_BINS,
    confidence: float = 0.95,
    size: str = "labeled",
    positives: str = "pos",
    score_sum: str = "score_sum",
) -> pl.DataFrame:
    """Per group and score bin: rows, mean score, observed rate with its Wilson interval.

    The one reliability table of the package (:mod:`aidebt.fairness` per group,
    :mod:`aidebt.estimate` per segment of the reference). ``bin_stats`` is a long table as
    for :func:`calibration_arrays`. Only bins with labeled scored rows appear. Returns the
    keys, ``bin``, ``bin_low``, ``bin_high``, ``n``, ``mean_score``, ``observed``,
    ``ci_low``, ``ci_high`` (Wilson) and ``gap`` (observed minus mean score; positive:
    the model under-predicts there). With ten equal-width bins it equals scikit-learn's
    ``calibration_curve(strategy="uniform")``.

    Examples
    --------
    >>> t = pl.DataFrame({"g": ["a"], "score_bin": [2], "labeled": [50.0], "pos": [5.0],
    ...                   "score_sum": [12.5]})
    >>> reliability_table(t, ["g"]).select("bin_low", "mean_score", "observed").rows()
    [(0.2, 0.25, 0.1)]
    """
    edges = calibration_edges(bins)
    k = len(edges) - 1
    keys = list(keys)
    used = (
        bin_stats.filter(pl.col(SCORE_BIN).is_between(0, k - 1))
        .group_by([*keys, SCORE_BIN])
        .agg(pl.col(size, positives, score_sum).cast(pl.Float64).sum())
        .filter(pl.col(size) > 0)
        .sort([*keys, SCORE_BIN])
    )
    n, pos = used.get_column(size).to_numpy(), used.get_column(positives).to_numpy()
    lo, hi = wilson_ci(pos, n, confidence)
    b = used.get_column(SCORE_BIN).cast(pl.Int64).to_numpy()
    observed = pl.col(positives) / pl.col(size)
    mean_score = pl.col(score_sum) / pl.col(size)
    return used.select(
        *keys,
        pl.col(SCORE_BIN).cast(pl.Int64).alias("bin"),
        pl.Series("bin_low", edges[b]),
        pl.Series("bin_high", edges[b + 1]),
        pl.col(size).alias("n"),
        mean_score.alias("mean_score"),
        observed.alias("observed"),
        pl.Series("ci_low", lo),
        pl.Series("ci_high", hi),
        (observed - mean_score).alias("gap"),
    )
