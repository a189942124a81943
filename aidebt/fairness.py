"""Fairness summaries across groups, with honest intervals, and calibration within groups.

The one-number summaries people reach for in a fairness audit (fairlearn's demographic
parity, equalized odds and equal opportunity, the four-fifths rule of US employment law)
are maxima and minima of per-group rates: selection rate, true-positive rate (TPR) and
false-positive rate (FPR). Each rate is a ratio of two confusion counts, so every summary
is a function of a small table of per-group sums. As everywhere in aidebt the work is

1. one group-by pass keyed by every sensitive attribute at once
   (:func:`aidebt.aggregate.sufficient_stats`; with a score, also by score bin), and the
   margins of each attribute by re-summing that small table (:func:`aidebt.aggregate.rollup`);
2. statistics on the small table in numpy and statsmodels.

Intervals for a maximum-minus-minimum
-------------------------------------
A gap between the best and the worst of several groups is biased upward: with every group
truly equal, the observed gap is still positive, and it grows with the number of groups.
A percentile bootstrap inherits the bias (it never covers a gap of 0) and a plain
standard error ignores the selection of the extreme groups. Each summary is written as the
largest of the contrasts ``L_c`` between two groups of a rate (``p_i - p_j``, or
``log p_i - log p_j`` for ratios; for equalized odds, contrasts of TPR and of FPR
together), and :func:`max_gap_interval` bounds it by a parametric bootstrap on the
per-group counts (Jeffreys ``Beta(x + 1/2, n - x + 1/2)`` draws, vectorized over draws x
groups):

- the upper end is the largest pointwise upper bound ``max_c (L_c + z se_c)``, valid
  because the true gap is one of the contrasts;
- the lower end ``max_c (L_c - k se_c)`` uses the bootstrap quantile ``k`` of the largest
  studentized error among the contrasts that could be the maximum (the two-step method of
  Romano, Shaikh and Wolf, 2014, Econometrica 82(5): a first step at level ``beta =
  alpha/10`` keeps the contrasts whose simultaneous upper bound reaches the gap's
  simultaneous lower bound, the second step runs at ``alpha/2 - beta``). This is the
  bias correction: the more groups tie for the extremes, the larger ``k`` and the lower
  the lower end, exactly as much as the plug-in's upward bias calls for.

Assumptions: groups are independent; within a group the rows are independent (counts are
binomial given the group's size, its positives and its negatives); weights are frequency
counts. Coverage, checked by simulation with 3, 6 and 12 groups (all equal, one off,
graded, near ties, one far off; 50 to 1,000 rows per group; tests/test_fairness.py and
``benchmarks/bench_fairness.py --coverage``), is at least the nominal level: 96.8% to
100% at 95%, conservative where several groups tie for an extreme (the price of not
knowing which group is the extreme; see Andrews, Kitagawa and McCloskey, 2024,
"Inference on winners", QJE). Rows that come in correlated clusters (one user's many
requests) break the binomial assumption and the intervals are too narrow: aggregate to
one row per cluster first. ``bias`` reports the bootstrap estimate of the plug-in's upward
bias (Efron and Tibshirani, 1993, ch. 10); it catches about 40% of it where all groups
tie, most of it where one pair of groups stands out.

Calibration within groups
-------------------------
Scores are cut into equal-width bins (:func:`score_bin_key`). Per group: a reliability
table (mean score and observed rate per bin, Wilson intervals), the expected calibration
error ``ECE = sum_b (n_b / n) |observed_b - mean score_b|`` (Naeini, Cooper and
Hauskrecht, 2015; Guo et al., 2017) with an interval from the same two-step bootstrap (the
ECE is the largest of ``sum_b w_b s_b d_b`` over sign vectors ``s``), and the
calibration-in-the-large and calibration-slope tests of a logistic recalibration
``logit P(y=1) = a + b logit(score)`` (Cox, 1958; Van Calster et al., 2016, J Clin
Epidemiol 74) fitted with statsmodels' GLM on the binned table.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import narwhals as nw
import numpy as np
import polars as pl

from aidebt import aggregate, frames
from aidebt import metrics as mreg
from aidebt import stats as st
from aidebt.distributions import chi2_sf
from aidebt.errors import ColumnNotFoundError, InvalidArgumentError, InvalidValueError
from aidebt.results import Result

__all__ = [
    "SCORE_BIN",
    "SUMMARIES",
    "Fairness",
    "Headline",
    "calibration_tests",
    "ece_for",
    "estimate_ece",
    "expected_calibration_error",
    "fairness",
    "fairness_from_stats",
    "judge",
    "max_gap_interval",
    "reliability_table",
    "score_bin_key",
]

SCORE_BIN = st.SCORE_BIN
"""Name of the score-bin key in a statistics table (-1: no score or no label)."""

# The expected calibration error and the reliability table have one home, aidebt.stats.
estimate_ece = st.estimate_ece
expected_calibration_error = st.expected_calibration_error
reliability_table = st.reliability_table

INTERSECTION = " × "
"""Joins attribute names in the label of an intersection (``race × sex``)."""

SUMMARIES = mreg.FAIRNESS_SUMMARIES
"""summary -> (what it compares, which rates, kind): declared with the registry, where the
gate policy reads the names without importing this module."""

# rate -> (numerator statistics, denominator statistics, what the denominator counts)
_RATES = {
    "selection_rate": (("pred_pos",), ("n",), "rows"),
    "tpr": (("tp",), ("tp", "fn"), "positives"),
    "fpr": (("fp",), ("fp", "tn"), "negatives"),
}
_RATE_WORDS = {
    "selection_rate": "selection rate",
    "tpr": "true-positive rate",
    "fpr": "false-positive rate",
}
FOUR_FIFTHS = 0.8

_TABLE = [
    "attribute",
    "summary",
    "value",
    "ci_low",
    "ci_high",
    "bias",
    "rate",
    "max_group",
    "max_value",
    "min_group",
    "min_value",
    "groups",
    "note",
]


# --------------------------------------------------------------------------------------
# The interval for a largest gap between groups
# --------------------------------------------------------------------------------------
def beta_draws(x, n, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Jeffreys ``Beta(x + 1/2, n - x + 1/2)`` draws per group: shape ``(..., n_boot, *x.shape[-2:])``.

    ``x`` and ``n`` are arrays ``(..., F, G)`` (families of rates x groups); empty groups
    (``n == 0``) get draws too (ignored downstream). The draws are kept away from 0 and 1
    so that log rates and their standard errors stay finite.
    """
    x, n = np.asarray(x, dtype=float), np.asarray(n, dtype=float)
    a = np.broadcast_to((x + 0.5)[..., None, :, :], (*x.shape[:-2], n_boot, *x.shape[-2:]))
    b = np.broadcast_to((n - x + 0.5)[..., None, :, :], a.shape)
    return np.clip(rng.beta(a, b), 1e-12, 1 - 1e-12)


def _pairs(g: int) -> tuple[np.ndarray, np.ndarray]:
    """Every ordered pair of distinct groups (i, j)."""
    i, j = np.nonzero(~np.eye(g, dtype=bool))
    return i, j


def max_gap_interval(
    x,
    n,
    *,
    ratio: bool = False,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int | np.random.Generator = 0,
    draws: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Largest gap between groups' rates, with a two-step bootstrap-t interval.

    Parameters
    ----------
    x, n
        Counts ``(..., F, G)``: ``F`` families of rates (1 for a single rate; 2 for
        equalized odds, TPR and FPR) over ``G`` groups; leading axes are independent
        problems (a batch). A group with ``n == 0`` is left out of its family.
    ratio
        ``False``: the gap is ``max p - min p`` (the largest over families). ``True``:
        the ratio ``min p / max p`` (the smallest over families), bounded on the log scale.
    confidence, n_boot, seed
        Interval level, bootstrap draws, and the seed (or a numpy Generator).
    draws
        Optional precomputed :func:`beta_draws` (to share draws between summaries).

    Returns
    -------
    dict of arrays with the batch shape
        ``value`` (the plug-in, as fairlearn computes it; NaN when fewer than two groups
        have the rate, or for a ratio when every rate is 0), ``lo``, ``hi``, ``bias``
        (bootstrap estimate of the plug-in's bias), ``family``, ``imax`` and ``imin`` (the
        family and the groups that define the value) and ``groups`` (groups compared).

    Notes
    -----
    See the module docstring for the method and its assumptions. A rate of 0 on the log
    scale uses ``(x + 1/2) / (n + 1)`` for the interval only (the value stays 0).

    Examples
    --------
    >>> r = max_gap_interval([[30, 45, 60]], [[100, 100, 100]])
    >>> round(float(r["value"]), 2), bool(r["lo"] > 0), bool(r["hi"] > 0.3)
    (0.3, True, True)
    """
    confidence = st.check_confidence(confidence)
    x, n = np.asarray(x, dtype=float), np.asarray(n, dtype=float)
    if x.ndim < 2 or x.shape != n.shape:
        raise InvalidArgumentError(
            f"x and n must be arrays of the same shape (..., families, groups); got {x.shape} "
            f"and {n.shape}."
        )
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if draws is None:
        draws = beta_draws(x, n, n_boot, rng)
    alpha = 1 - confidence
    beta = alpha / 10  # Romano, Shaikh and Wolf's recommended first-step level
    z = st.normal_quantile(confidence)
    valid = n > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(valid, x / n, np.nan)
        pt = (x + 0.5) / (n + 1)
        nb = n[..., None, :, :]
        if ratio:
            e_hat = np.log(np.where(x > 0, p, pt))
            e_ctr = np.log(pt)
            se = np.sqrt((1 - pt) / (n * pt))
            e_star = np.log(draws)
            se_star = np.sqrt((1 - draws) / (nb * draws))
        else:
            e_hat, e_ctr = p, pt
            se = np.sqrt(pt * (1 - pt) / n)
            e_star = draws
            se_star = np.sqrt(draws * (1 - draws) / nb)
    i, j = _pairs(x.shape[-1])
    ok = valid[..., i] & valid[..., j]  # (..., F, P)
    gap = np.where(ok, e_hat[..., i] - e_hat[..., j], -np.inf)
    se_gap = np.where(ok, np.sqrt(se[..., i] ** 2 + se[..., j] ** 2), np.nan)
    center = e_ctr[..., i] - e_ctr[..., j]  # (..., F, P)
    batch = x.shape[:-2]
    n_draws = draws.shape[-3]
    n_pairs = len(i)
    # float32 halves the memory traffic of the draws x contrasts arrays below; the
    # quantiles they feed need nowhere near its precision.
    e_star, se_star = e_star.astype(np.float32), se_star.astype(np.float32)

    def largest(mask: np.ndarray) -> np.ndarray:
        """Per draw, the largest studentized error over the contrasts in ``mask``."""
        flat = mask.reshape(*batch, -1)
        cand = np.nonzero(flat.reshape(-1, flat.shape[-1]).any(axis=0))[0]
        out = np.full((*batch, n_draws), -np.inf)
        if not len(cand):
            return out
        fq, pq = np.divmod(cand, n_pairs)
        iq, jq = i[pq], j[pq]
        m = flat[..., cand][..., None, :]
        c = center.reshape(*batch, -1)[..., cand][..., None, :].astype(np.float32)
        # Chunks of draws keep many groups (intersections) within memory.
        step = max(1, int(4e6 // max(1, int(np.prod(batch, dtype=int)) * len(cand))))
        for s in range(0, n_draws, step):
            es, ss = e_star[..., s : s + step, :, :], se_star[..., s : s + step, :, :]
            with np.errstate(invalid="ignore", divide="ignore"):
                zz = (es[..., fq, iq] - es[..., fq, jq] - c) / np.sqrt(
                    ss[..., fq, iq] ** 2 + ss[..., fq, jq] ** 2
                )
            out[..., s : s + step] = np.where(m, zz, -np.inf).max(axis=-1)
        return out

    def quantile(a: np.ndarray, q: float) -> np.ndarray:
        a = np.where(np.isfinite(a), a, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN batch entries
            return np.nanquantile(a, q, axis=-1)

    any_pair = ok.any(axis=(-2, -1))
    k_all = quantile(largest(ok), 1 - beta)[..., None, None]
    lb_all = np.where(ok, gap - k_all * se_gap, -np.inf).max(axis=(-2, -1))
    keep = ok & (gap + k_all * se_gap >= lb_all[..., None, None])
    k_c = quantile(largest(keep), 1 - alpha / 2 + beta)[..., None, None]
    lo = np.maximum(np.where(keep, gap - k_c * se_gap, -np.inf).max(axis=(-2, -1)), 0.0)
    hi = np.where(ok, gap + z * se_gap, -np.inf).max(axis=(-2, -1))
    if not ratio:
        hi = np.minimum(hi, 1.0)
    hi = np.maximum(hi, lo)

    value, family, imax, imin, groups = _extremes(p, valid, ratio)
    # Bootstrap bias of the plug-in: replicates re-centred on the observed rates.
    rep = np.clip(p[..., None, :, :] + (draws - pt[..., None, :, :]), 0.0, 1.0)
    rep_value = _extremes(rep, valid[..., None, :, :], ratio)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        bias = np.nanmean(rep_value, axis=-1) - value
    if ratio:  # the interval of -log(ratio) -> the ratio's
        # A rate of 0 makes the plug-in ratio 0: the interval then reaches down to it.
        lo, hi = np.fmin(np.exp(-hi), value), np.exp(-lo)
    undefined = ~any_pair | np.isnan(value)
    nan = np.full(lo.shape, np.nan)
    return {
        "value": value,
        "lo": np.where(undefined, nan, lo),
        "hi": np.where(undefined, nan, hi),
        "bias": np.where(undefined, nan, bias),
        "family": family,
        "imax": imax,
        "imin": imin,
        "groups": groups,
    }


def _extremes(p: np.ndarray, valid: np.ndarray, ratio: bool):
    """The plug-in summary over families ``(..., F, G)`` and the family/groups defining it."""
    hi_p = np.where(valid, p, -np.inf)
    lo_p = np.where(valid, p, np.inf)
    imax = hi_p.argmax(axis=-1)
    imin = lo_p.argmin(axis=-1)
    top = np.take_along_axis(hi_p, imax[..., None], -1)[..., 0]
    bottom = np.take_along_axis(lo_p, imin[..., None], -1)[..., 0]
    count = valid.sum(axis=-1)
    usable = count >= 2
    with np.errstate(divide="ignore", invalid="ignore"):
        if ratio:  # min / max, 0/0 undefined; the smallest over families
            per = np.where(usable & (top > 0), bottom / top, np.nan)
            fam = np.where(np.isnan(per), np.inf, per).argmin(axis=-1)
        else:
            per = np.where(usable, top - bottom, np.nan)
            fam = np.where(np.isnan(per), -np.inf, per).argmax(axis=-1)
    value = np.take_along_axis(per, fam[..., None], -1)[..., 0]
    take = fam[..., None]
    return (
        value,
        fam,
        np.take_along_axis(imax, take, -1)[..., 0],
        np.take_along_axis(imin, take, -1)[..., 0],
        np.take_along_axis(count, take, -1)[..., 0],
    )


# --------------------------------------------------------------------------------------
# Calibration within groups
# --------------------------------------------------------------------------------------
def score_bin_key(
    frame: Any, y_score: str, y_true: str | None, bins: int | Sequence[float] = 10
) -> nw.Expr:
    """The score-bin group key of a calibration table, as a narwhals expression.

    Bins are ``[e_0, e_1), [e_1, e_2), ... [e_{k-1}, 1]``; the key is the bin's index,
    ``-1`` for a row with no score or no label (it still counts for the rates), and ``k``
    for a score outside [0, 1] (reported as an error after the pass): the one rule,
    :func:`aidebt.aggregate.calibration_key`, which the ``ece`` metric's pass uses too.
    Pass it as ``derived_keys={SCORE_BIN: score_bin_key(...)}`` to
    :func:`aidebt.aggregate.sufficient_stats`: within a bin every row is labeled and
    scored, so ``labeled``, ``pos`` and ``score_sum`` are the bin's size, positives and
    sum of scores. (The ``ece`` metric's pass spreads its ten bins into columns, which
    :func:`aidebt.aggregate.calibration_table` turns back into this layout.)
    """
    frame = frames.to_lazy(frame)
    return aggregate.calibration_key(frame, y_score, y_true, st.calibration_edges(bins))


def ece_for(
    stats: pl.DataFrame,
    keys: Sequence[str],
    bin_stats: pl.DataFrame,
    *,
    bins: int | Sequence[float] = 10,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int | np.random.Generator = 0,
) -> dict[str, np.ndarray]:
    """ECE for every row of a statistics table, from a long (score-bin keyed) table.

    ``stats`` is a metric table's rows (``keys`` identify them; ``[]`` for the overall
    row) and ``bin_stats`` the same sums split by ``score_bin`` (:func:`score_bin_key`);
    rows of ``stats`` without scored labeled rows get NaN and a note. The shape of
    :func:`aidebt.metrics.estimate`; the computation is
    :func:`aidebt.stats.estimate_ece` (the ``ece`` metric reads the per-bin sums of its
    own pass instead).

    Examples
    --------
    >>> import polars as pl
    >>> bins = pl.DataFrame({"g": ["a", "a", "b"], "score_bin": [2, 7, 5],
    ...                      "labeled": [100.0, 100.0, 50.0], "pos": [30.0, 75.0, 25.0],
    ...                      "score_sum": [25.0, 70.0, 27.5]})
    >>> r = ece_for(pl.DataFrame({"g": ["b", "a", "c"]}), ["g"], bins)
    >>> [round(float(v), 3) for v in r["value"]]
    [0.05, 0.05, nan]
    """
    keys = list(keys)
    groups, size, pos, ssum = st.calibration_arrays(bin_stats, keys, bins)
    est = estimate_ece(size, pos, ssum, confidence=confidence, n_boot=n_boot, seed=seed)
    if not keys:
        return est
    order = (
        stats.select(keys)
        .with_row_index("_at")
        .join(groups.with_row_index("_src"), on=keys, how="left", nulls_equal=True)
        .sort("_at")
        .get_column("_src")
    )
    found = order.is_not_null().to_numpy()
    idx = order.fill_null(0).cast(pl.Int64).to_numpy()
    out = {}
    for name, values in est.items():
        picked = np.asarray(values)[idx] if len(values) else np.full(len(idx), np.nan)
        if name == "note":
            out[name] = np.where(found, picked, "no labeled rows with a score in this group")
        elif name == "den":
            out[name] = np.where(found, picked, 0.0)
        else:
            out[name] = np.where(found, picked, np.nan)
    return out


def calibration_tests(
    bin_stats: pl.DataFrame,
    keys: Sequence[str],
    *,
    bins: int | Sequence[float] = 10,
    confidence: float = 0.95,
) -> pl.DataFrame:
    """Calibration-in-the-large and calibration-slope tests per group (logistic recalibration).

    On the binned table, per group ``g``: ``logit P(y=1) = a_g + b_g logit(mean score)``,
    fitted for every group at once with statsmodels' binomial GLM (the groups' parameters
    are separate, so one fit equals a fit per group). Likelihood-ratio tests:

    - calibration in the large: ``a_g = 0`` with the slope fixed at 1 (``logit(score)`` as
      an offset), i.e. the mean score matches the observed rate;
    - calibration slope: ``b_g = 1`` (with ``a_g`` free): ``b < 1`` means scores are too
      extreme, ``b > 1`` too modest.

    Binning keeps the mean of each bin exact under calibration, and labels that are
    Bernoulli(score) within a bin are less dispersed than binomial, so the tests are at or
    below their nominal size on calibrated scores (checked by simulation in the tests).
    ``p_adjusted`` is Holm's adjustment over every group and both tests (one family per
    call); ``miscalibrated`` is ``p_adjusted < 1 - confidence`` for either test. Mean
    scores are clipped to [1e-6, 1 - 1e-6] before the logit.

    Examples
    --------
    >>> import polars as pl
    >>> t = pl.DataFrame({"g": ["a"] * 3, "score_bin": [1, 5, 8], "labeled": [200.0] * 3,
    ...                   "pos": [40.0, 140.0, 185.0], "score_sum": [30.0, 110.0, 170.0]})
    >>> calibration_tests(t, ["g"]).select(pl.col("intercept", "slope").round(2), "miscalibrated").rows()
    [(0.56, 1.13, True)]
    """
    import statsmodels.api as sm

    confidence = st.check_confidence(confidence)
    groups, size, pos, ssum = st.calibration_arrays(bin_stats, keys, bins)
    g = size.shape[0]
    gi, bi = np.nonzero(size > 0)
    n = size[gi, bi]
    y = pos[gi, bi]
    s = np.clip(ssum[gi, bi] / n, 1e-6, 1 - 1e-6)
    xl = np.log(s / (1 - s))
    z = st.normal_quantile(confidence)
    nan = np.full(g, np.nan)
    out = {
        k: nan.copy()
        for k in (
            "intercept",
            "intercept_ci_low",
            "intercept_ci_high",
            "citl_p",
            "slope",
            "slope_ci_low",
            "slope_ci_high",
            "slope_p",
        )
    }
    rows_per_group = np.bincount(gi, minlength=g)
    fitted = rows_per_group > 0
    sloped = rows_per_group >= 2
    endog = np.column_stack([y, n - y])
    dev0 = _group_deviance(y, n, s, gi, g)
    if fitted.any():
        onehot = np.zeros((len(gi), g))
        onehot[np.arange(len(gi)), gi] = 1.0
        cols = np.nonzero(fitted)[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # separation in a group only affects that group
            citl = sm.GLM(endog, onehot[:, cols], family=sm.families.Binomial(), offset=xl).fit()
        a, a_se = np.full(g, np.nan), np.full(g, np.nan)
        a[cols], a_se[cols] = citl.params, citl.bse
        dev1 = _group_deviance(y, n, citl.fittedvalues, gi, g)
        out["intercept"] = a
        out["intercept_ci_low"], out["intercept_ci_high"] = a - z * a_se, a + z * a_se
        out["citl_p"] = np.where(fitted, chi2_sf(np.maximum(dev0 - dev1, 0), 1), np.nan)
        scols = np.nonzero(sloped)[0]
        if len(scols):
            design = np.column_stack([onehot[:, cols], onehot[:, scols] * xl[:, None]])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                full = sm.GLM(endog, design, family=sm.families.Binomial()).fit()
            b, b_se = np.full(g, np.nan), np.full(g, np.nan)
            b[scols], b_se[scols] = full.params[len(cols) :], full.bse[len(cols) :]
            dev2 = _group_deviance(y, n, full.fittedvalues, gi, g)
            out["slope"] = b
            out["slope_ci_low"], out["slope_ci_high"] = b - z * b_se, b + z * b_se
            out["slope_p"] = np.where(sloped, chi2_sf(np.maximum(dev1 - dev2, 0), 1), np.nan)
    adjusted = st.adjust_pvalues(np.concatenate([out["citl_p"], out["slope_p"]]), "holm")
    p_adj = np.fmin(adjusted[:g], adjusted[g:])
    total = size.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = np.where(total > 0, pos.sum(axis=1) / total, np.nan)
        mean_score = np.where(total > 0, ssum.sum(axis=1) / total, np.nan)
    notes = np.where(
        ~fitted,
        "no labeled rows with a score",
        np.where(~sloped, "one score bin only: no slope", None),
    )
    return pl.DataFrame(
        [
            *(groups.get_column(k) for k in keys),
            pl.Series("n", total),
            _series("mean_score", mean_score),
            _series("observed", observed),
            *(_series(k, v) for k, v in out.items()),
            _series("p_adjusted", p_adj),
            pl.Series("miscalibrated", np.nan_to_num(p_adj, nan=1.0) < 1 - confidence),
            pl.Series("note", list(notes), dtype=pl.String),
        ]
    )


def _group_deviance(y, n, mu, gi, g) -> np.ndarray:
    """Binomial deviance per group of counts ``y`` out of ``n`` at means ``mu``."""
    from scipy.special import xlogy

    mu = np.clip(np.asarray(mu, dtype=float), 1e-15, 1 - 1e-15)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = 2 * (xlogy(y, y / (n * mu)) + xlogy(n - y, (n - y) / (n * (1 - mu))))
    return np.bincount(gi, weights=d, minlength=g)


def _series(name: str, values) -> pl.Series:
    return pl.Series(name, np.asarray(values, dtype=float), nan_to_null=True)


# --------------------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Headline:
    """One sentence and the key figures behind it (for the monthly audit's manifest)."""

    sentence: str
    figures: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.sentence


def _pct(v: float | None, digits: int = 0) -> str:
    if v is None:
        return "n/a"
    return f"{100 * v:.{digits}f}%"


def _rate_pct(v: float | None) -> str:
    """A rate as a percentage with one decimal (0.4%, 12.3%, 99.6%)."""
    return _pct(v, 1)


def _points(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f} points"


def _points_range(lo: float | None, hi: float | None) -> str:
    if lo is None or hi is None:
        return "n/a"
    return f"{100 * lo:.1f} to {100 * hi:.1f} points"


class Fairness(Result):
    """Result of :func:`fairness`.

    Attributes
    ----------
    table : polars.DataFrame
        One row per sensitive attribute (and intersection) and summary: ``attribute``,
        ``summary``, ``value`` (fairlearn's value), ``ci_low``, ``ci_high``, ``bias`` (the
        bootstrap estimate of the plug-in's upward bias), ``rate`` (the rate compared),
        ``max_group``/``max_value`` and ``min_group``/``min_value`` (the groups defining
        the value), ``groups`` (groups compared) and ``note`` (why a value is missing).
    groups : polars.DataFrame
        Per attribute and group: ``n``, ``selection_rate``, ``positives``, ``tpr``,
        ``negatives``, ``fpr``, each rate with its Wilson interval, and ``note``.
    four_fifths : polars.DataFrame
        Per attribute: ``verdict`` (``meets``, ``fails``, ``inconclusive`` or
        ``undefined``), the selection-rate ratio with its interval, and the lowest and
        highest groups with their rates.
    calibration, reliability : polars.DataFrame
        With a score: per attribute and group, the ECE with its interval and the
        calibration tests (:func:`calibration_tests`); the reliability table per bin
        (:func:`reliability_table`). Reading them without a score raises a clear error.
    """

    title = "Fairness across groups"

    def __init__(
        self,
        table: pl.DataFrame,
        *,
        groups: pl.DataFrame,
        four_fifths: pl.DataFrame,
        calibration: pl.DataFrame | None,
        reliability: pl.DataFrame | None,
        attributes: list[str],
        confidence: float,
        n_boot: int,
        unlabeled: float,
        has_labels: bool,
        notes: list[str],
    ) -> None:
        super().__init__(table)
        self.groups = groups
        self.four_fifths = four_fifths
        self._calibration = calibration
        self._reliability = reliability
        self.attributes = attributes
        self.confidence = confidence
        self.n_boot = n_boot
        self.unlabeled = unlabeled
        self.has_labels = has_labels
        self._notes = notes

    @classmethod
    def combine(cls, parts: Sequence[Fairness]) -> Fairness:
        """One result from results on different attributes (each computed on its own rows,
        for instance without that attribute's small groups).

        Examples
        --------
        >>> import polars as pl
        >>> a = fairness_from_stats(pl.DataFrame({"sex": ["F", "M"], "n": [200.0, 300.0],
        ...                         "pred_pos": [50.0, 120.0]}), "sex", n_boot=400)
        >>> b = fairness_from_stats(pl.DataFrame({"age": ["<25", ">45"], "n": [90.0, 80.0],
        ...                         "pred_pos": [60.0, 20.0]}), "age", n_boot=400)
        >>> Fairness.combine([a, b]).four_fifths["attribute"].to_list()
        ['sex', 'age']
        """
        if not parts:
            raise InvalidArgumentError("combine() needs at least one Fairness result.")
        first = parts[0]
        if any(p.confidence != first.confidence for p in parts):
            raise InvalidArgumentError("combine(): the results have different confidence levels.")

        def stack(name: str) -> pl.DataFrame | None:
            tables = [getattr(p, name) for p in parts]
            if any(t is None for t in tables):
                return None
            return pl.concat(tables, how="diagonal_relaxed")

        notes = list(dict.fromkeys(n for p in parts for n in p._notes))
        return cls(
            stack("table"),
            groups=stack("groups"),
            four_fifths=stack("four_fifths"),
            calibration=stack("_calibration"),
            reliability=stack("_reliability"),
            attributes=[a for p in parts for a in p.attributes],
            confidence=first.confidence,
            n_boot=first.n_boot,
            unlabeled=max(p.unlabeled for p in parts),
            has_labels=all(p.has_labels for p in parts),
            notes=notes,
        )

    @property
    def calibration(self) -> pl.DataFrame:
        """ECE and calibration tests per attribute and group (needs ``y_score``)."""
        return self._need_score("calibration", self._calibration)

    @property
    def reliability(self) -> pl.DataFrame:
        """Reliability table per attribute, group and score bin (needs ``y_score``)."""
        return self._need_score("reliability", self._reliability)

    @staticmethod
    def _need_score(what: str, table: pl.DataFrame | None) -> pl.DataFrame:
        if table is None:
            raise InvalidArgumentError(
                f"{what} needs scores and labels: pass y_score='<score column>' and "
                "y_true='<label column>' to fairness() (or a statistics table with a "
                f"{SCORE_BIN!r} column)."
            )
        return table

    # -- words -------------------------------------------------------------------------
    def _row(self, attribute: str, summary: str) -> dict[str, Any] | None:
        t = self.table.filter((pl.col("attribute") == attribute) & (pl.col("summary") == summary))
        return t.row(0, named=True) if t.height else None

    def _four_fifths_line(self, r: dict[str, Any]) -> str:
        level = _pct(self.confidence)
        who = f"By {r['attribute']}"
        if r["verdict"] == "undefined":
            return f"{who}, the four-fifths rule cannot be judged: {r['explanation']}."
        low = f"{r['lowest_group']} ({_rate_pct(r['lowest_rate'])})"
        high = f"{r['highest_group']} ({_rate_pct(r['highest_rate'])})"
        base = f"the lowest selection rate, {low}, is {_pct(r['ratio'])} of the highest, {high}"
        interval = f"{_pct(r['ci_low'])} to {_pct(r['ci_high'])}"
        if r["verdict"] == "meets":
            return (
                f"{who}, the four-fifths rule is met: {base}; even the low end of the "
                f"{level} interval, {_pct(r['ci_low'])}, is at least 80%."
            )
        if r["verdict"] == "fails":
            return (
                f"{who}, the four-fifths rule is not met: {base}; the whole {level} "
                f"interval ({interval}) is below 80%."
            )
        return (
            f"{who}, the four-fifths rule is inconclusive: {base}; the {level} interval "
            f"({interval}) includes 80%, so the data cannot tell yet."
        )

    def _gap_line(self, attribute: str) -> str | None:
        names = ["demographic_parity_difference"]
        if self.has_labels:
            names += ["equal_opportunity_difference", "fpr_difference"]
        rows = [r for r in (self._row(attribute, s) for s in names) if r and r["value"] is not None]
        if not rows:
            return None
        r = max(rows, key=lambda row: row["value"])
        words = _RATE_WORDS[r["rate"]]
        level = _pct(self.confidence)
        return (
            f"By {attribute}, the largest gap is in the {words}: {_rate_pct(r['max_value'])} "
            f"for {r['max_group']} vs {_rate_pct(r['min_value'])} for {r['min_group']}, a "
            f"gap of {_points(r['value'])} ({level} interval "
            f"{_points_range(r['ci_low'], r['ci_high'])})."
        )

    def summary(self) -> list[str]:
        """Plain-English findings: the four-fifths verdicts, the largest gaps, calibration."""
        lines = []
        for r in self.four_fifths.iter_rows(named=True):
            lines.append(self._four_fifths_line(r))
            gap = self._gap_line(r["attribute"])
            if gap:
                lines.append(gap)
        if self._calibration is not None:
            lines.extend(self._calibration_lines())
        return lines

    def _calibration_lines(self) -> list[str]:
        """Per attribute: which groups' scores are miscalibrated, the worst named."""
        lines = []
        alpha = 1 - self.confidence
        for name in self.attributes:
            cal = self._calibration.filter(
                (pl.col("attribute") == name) & pl.col("ece").is_not_null()
            )
            if not cal.height:
                continue
            bad = cal.filter(pl.col("miscalibrated")).sort("ece", descending=True)
            if not bad.height:
                top = cal.sort("ece", descending=True).row(0, named=True)
                lines.append(
                    f"By {name}, scores are consistent with calibration in every group "
                    f"(largest expected calibration error {_points(top['ece'])}, {top['group']})."
                )
                continue
            r = bad.row(0, named=True)
            how = (
                f"{_rate_pct(r['observed'])} observed vs {_rate_pct(r['mean_score'])} "
                "predicted on average"
            )
            if r["slope"] is not None and r["slope_p"] is not None and r["slope_p"] < alpha:
                kind = "too extreme" if r["slope"] < 1 else "too close to the average"
                how += f", scores {kind} (calibration slope {r['slope']:.2f})"
            level = _pct(self.confidence)
            lines.append(
                f"By {name}, scores are miscalibrated in {bad.height} of {cal.height} groups; "
                f"worst: {r['group']}, where a score is off by {_points(r['ece'])} on average "
                f"({level} interval {_points_range(r['ece_ci_low'], r['ece_ci_high'])}): {how}."
            )
        return lines

    def notes(self) -> list[str]:
        """Caveats: groups left out of a rate, unlabeled rows, small groups, the method."""
        out = list(self._notes)
        if self.unlabeled:
            out.append(
                f"{self.unlabeled:,.0f} unlabeled rows count in selection rates only, not in "
                "true- or false-positive rates."
            )
        out.append(
            f"Intervals: {_pct(self.confidence)}, parametric bootstrap on the per-group counts "
            f"({self.n_boot:,} draws), corrected for the upward bias of a largest-minus-smallest "
            "gap; they are conservative when several groups tie for the extreme."
        )
        return out

    def headline(self, metric_names: Mapping[str, str] | None = None) -> Headline:
        """One sentence and the key figures, for the monthly audit.

        The sentence names the worst four-fifths verdict (fails, then inconclusive) and the
        largest gap; the figures are flat name -> number/text pairs for the manifest.
        ``metric_names`` names the rates compared (``selection_rate``, ``tpr``, ``fpr``)
        in a report's words.
        """
        rate_words = {
            **_RATE_WORDS,
            **{k: v for k, v in (metric_names or {}).items() if k in _RATE_WORDS},
        }
        order = {"fails": 0, "inconclusive": 1, "undefined": 2, "meets": 3}
        ff = sorted(self.four_fifths.iter_rows(named=True), key=lambda r: order[r["verdict"]])
        figures: dict[str, Any] = {}
        for r in self.four_fifths.iter_rows(named=True):
            figures[f"four_fifths[{r['attribute']}]"] = r["verdict"]
        for r in self.table.iter_rows(named=True):
            if r["value"] is not None:
                figures[f"{r['summary']}[{r['attribute']}]"] = round(r["value"], 4)
        worst = ff[0] if ff else None
        gaps = self.table.filter(
            pl.col("summary").is_in(
                ["demographic_parity_difference", "equal_opportunity_difference", "fpr_difference"]
            )
            & pl.col("value").is_not_null()
        ).sort("value", descending=True)
        parts = []
        if worst is not None:
            if worst["verdict"] == "meets":
                parts.append("Every attribute meets the four-fifths rule")
            elif worst["verdict"] == "undefined":
                parts.append(f"The four-fifths rule cannot be judged by {worst['attribute']}")
            else:
                said = "is not met" if worst["verdict"] == "fails" else "is inconclusive"
                parts.append(
                    f"The four-fifths rule {said} by {worst['attribute']} "
                    f"({worst['lowest_group']} at {_pct(worst['ratio'])} of {worst['highest_group']})"
                )
        if gaps.height:
            g = gaps.row(0, named=True)
            parts.append(
                f"the largest gap is {_points(g['value'])} in the {rate_words[g['rate']]} by "
                f"{g['attribute']} ({g['max_group']} vs {g['min_group']})"
            )
        sentence = "; ".join(parts) + "." if parts else "No fairness summary could be computed."
        return Headline(sentence[0].upper() + sentence[1:], figures)

    def chart(self, **kwargs: Any):
        """Each summary's value and interval per attribute; the four-fifths line on ratios."""
        from aidebt import charts

        return charts.fairness_gaps(self.table, **kwargs)

    def reliability_chart(self, attribute: str | None = None, **kwargs: Any):
        """Reliability diagram: one line per group, observed rate vs mean score per bin."""
        from aidebt import charts

        table = self.reliability
        if attribute is not None:
            if attribute not in self.attributes:
                raise InvalidArgumentError(
                    f"attribute={attribute!r} is not one of {self.attributes}."
                )
            table = table.filter(pl.col("attribute") == attribute)
        return charts.reliability(table, **kwargs)

    def _display_table(self) -> pl.DataFrame:
        return self.table.select(
            "attribute", "summary", "value", "ci_low", "ci_high", "max_group", "min_group", "note"
        )


# --------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------
def fairness(
    data: Any,
    *,
    y_true: str | None,
    y_pred: str,
    by: str | Sequence[str],
    y_score: str | None = None,
    weight: str | None = None,
    pos_label: Any = None,
    confidence: float = 0.95,
    intersections: bool = False,
    n_boot: int = 2000,
    seed: int = 0,
    bins: int | Sequence[float] = 10,
) -> Fairness:
    """The fairness summaries of fairlearn, with intervals, and calibration within groups.

    Parameters
    ----------
    data
        Any input :func:`aidebt.frames.to_lazy` accepts (polars, pandas, pyarrow, DuckDB,
        Spark, a path).
    y_true, y_pred
        Label and decision columns (0/1, booleans, or any values with ``pos_label``). A
        null label is an unlabeled row: it counts in selection rates only. ``y_true=None``
        gives the demographic-parity summaries alone.
    by
        The sensitive attribute column(s); each is summarised on its own, and their
        intersection too with ``intersections=True``. Null/NaN is the ``(missing)`` group.
    y_score
        A score in [0, 1] for calibration within groups (``.calibration``,
        ``.reliability``, ``.reliability_chart()``).
    weight
        Frequency weights (counts >= 0): a pre-aggregated table gives the rows' answer.
    confidence, n_boot, seed
        Interval level, bootstrap draws and the seed (results are reproducible).
    bins
        Score bins for calibration: a number of equal-width bins, or edges from 0 to 1.

    Returns
    -------
    Fairness
        ``.table`` (one row per attribute and summary), ``.four_fifths``, ``.groups``,
        ``.calibration``, ``.reliability``, ``.summary()``, ``.headline()``, ``.chart()``.

    Notes
    -----
    Values equal fairlearn's ``demographic_parity_difference``/``_ratio`` and
    ``equalized_odds_difference``/``_ratio`` (and ``equal_opportunity_difference``) on the
    same inputs, with one deliberate difference: a group with no positives (no
    negatives) has no TPR (FPR) and is left out of those comparisons with a note, where
    fairlearn counts its rate as 0. Selection rates count every row, labeled or not.
    All counts come from one aggregation pass keyed by every attribute (and the score bin).

    Examples
    --------
    >>> import polars as pl
    >>> df = pl.DataFrame({"g": ["a", "a", "a", "b", "b", "b"], "y": [1, 0, 1, 1, 0, 0],
    ...                    "p": [1, 0, 1, 0, 1, 0]})
    >>> fr = fairness(df, y_true="y", y_pred="p", by="g", n_boot=200)
    >>> fr.table.filter(pl.col("summary") == "demographic_parity_difference")["value"].round(4).to_list()
    [0.3333]
    """
    by_cols = frames.as_list(by)
    if not by_cols:
        raise InvalidArgumentError("by is empty: name the sensitive attribute column(s).")
    if y_pred is None:
        raise InvalidArgumentError("fairness needs decisions: pass y_pred='<0/1 decision column>'.")
    frame = frames.to_lazy(data)
    frames.require_columns(frame, by_cols, role="a sensitive attribute (by)")
    frames.require_columns(frame, [y_true], role="y_true")
    frames.require_columns(frame, [y_pred], role="y_pred")
    frames.require_columns(frame, [y_score], role="y_score")
    frames.require_columns(frame, [weight], role="weight")
    if weight:
        frames.check_numeric(frame, weight, role="weight", fix="Weights are counts >= 0.")
    _check_options(confidence, n_boot)
    roles = aggregate.Roles(
        y_true=y_true, y_pred=y_pred, y_score=y_score, weight=weight, pos_label=pos_label
    )
    derived = {}
    if y_score is not None:
        if y_true is None:
            raise InvalidArgumentError(
                "Calibration compares scores with labels: pass y_true='<label column>' too, "
                "or drop y_score."
            )
        derived[SCORE_BIN] = score_bin_key(frame, y_score, y_true, bins)
    stats = aggregate.sufficient_stats(frame, by_cols, roles, derived_keys=derived)
    return fairness_from_stats(
        stats,
        by_cols,
        confidence=confidence,
        intersections=intersections,
        n_boot=n_boot,
        seed=seed,
        bins=bins,
        score_column=y_score,
    )


def _check_options(confidence: float, n_boot: int) -> None:
    st.check_confidence(confidence)
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 200:
        raise InvalidArgumentError(
            f"n_boot={n_boot!r} must be a whole number of at least 200 draws (2000 is the "
            "default; the interval's first step reads a 99.75% quantile)."
        )


def fairness_from_stats(
    stats: Any,
    by: str | Sequence[str],
    *,
    confidence: float = 0.95,
    intersections: bool = False,
    n_boot: int = 2000,
    seed: int = 0,
    bins: int | Sequence[float] = 10,
    score_column: str | None = None,
) -> Fairness:
    """:func:`fairness` from a table of per-group sums instead of rows.

    Parameters
    ----------
    stats
        One row per combination of the ``by`` columns (and, optionally, per
        ``score_bin``), with the sums of :data:`aidebt.aggregate.STAT_DOCS`: ``n`` and
        ``pred_pos`` for demographic parity; ``tp``, ``fp``, ``fn``, ``tn`` for equalized
        odds; for calibration, ``labeled``, ``pos`` and ``score_sum`` per score bin
        (rows keyed by ``score_bin``), or the ``ece`` metric's per-bin sums as columns
        (``cal_n_0``...; ten equal-width bins). This is what
        :func:`aidebt.aggregate.sufficient_stats` returns (a Disaggregation's ``stats``,
        for instance: :meth:`aidebt.disaggregate.Disaggregation.fairness`). polars, or
        anything :mod:`aidebt.frames` reads.
    by, confidence, intersections, n_boot, seed, bins
        As for :func:`fairness`.
    score_column
        Only for messages (the score column the bins came from).

    Examples
    --------
    >>> import polars as pl
    >>> sums = pl.DataFrame({"sex": ["F", "M"], "n": [2000.0, 3000.0],
    ...                      "pred_pos": [500.0, 1200.0]})
    >>> fr = fairness_from_stats(sums, "sex", n_boot=400)
    >>> fr.four_fifths.select("verdict", "lowest_group", "ratio").rows()
    [('fails', 'F', 0.625)]
    """
    by_cols = frames.as_list(by)
    if not by_cols:
        raise InvalidArgumentError("by is empty: name the sensitive attribute column(s).")
    _check_options(confidence, n_boot)
    table = frames.to_lazy(stats).collect(backend="polars").to_native()
    if isinstance(table, pl.LazyFrame):  # pragma: no cover - narwhals returns eager
        table = table.collect()
    for col in by_cols:
        if col not in table.columns:
            raise ColumnNotFoundError(
                f"Column {col!r} (a sensitive attribute) is not in the statistics table; "
                f"its columns are {table.columns}."
            )
    missing = [c for c in ("n", "pred_pos") if c not in table.columns]
    if missing:
        raise ColumnNotFoundError(
            f"The statistics table lacks {missing}: demographic parity needs the rows per "
            "group (n) and the predicted positives (pred_pos). Build it with "
            "aidebt.aggregate.sufficient_stats(..., Roles(y_pred=...))."
        )
    has_labels = all(c in table.columns for c in ("tp", "fp", "fn", "tn"))
    edges = st.calibration_edges(bins)
    table = table.with_columns(pl.col(c).cast(pl.String) for c in by_cols)
    bin_keys = [*by_cols, SCORE_BIN]
    bin_table = None  # per (group, score bin): labeled, pos, score_sum
    if SCORE_BIN in table.columns:  # grouped by score_bin_key: split rates from bins
        table = table.with_columns(pl.col(SCORE_BIN).cast(pl.Int64))
        outside = table.filter(pl.col(SCORE_BIN) >= len(edges) - 1)
        if outside.height:
            rows = float(outside.get_column("labeled").sum())
            where = f"Column {score_column!r} (y_score)" if score_column else "The scores"
            raise InvalidValueError(
                f"{where} has {rows:,.0f} labeled rows with a score outside [0, 1]; "
                "calibration needs probabilities. Rescale the scores (e.g. a sigmoid) or "
                "drop y_score."
            )
        bin_table = table
        table = aggregate.rollup(table, bin_keys, by_cols)
    elif aggregate.CAL_SIZE[0] in table.columns:  # the ece metric's per-bin sums
        if not np.array_equal(edges, st.calibration_edges(aggregate.CALIBRATION_BINS)):
            raise InvalidArgumentError(
                f"bins={bins!r}: these sums hold the ece metric's {aggregate.CALIBRATION_BINS} "
                "equal-width score bins; leave bins at its default, or aggregate by "
                "score_bin_key(..., bins) for other bins."
            )
        bin_table = aggregate.calibration_table(table, by_cols)
    binned = bin_table is not None
    levels = [(col, [col]) for col in by_cols]
    if intersections and len(by_cols) > 1:
        levels.append((INTERSECTION.join(by_cols), by_cols))
    for col in by_cols:
        values = table.get_column(col).unique()
        if values.len() < 2:
            found = f"a single group ({values[0]!r})" if values.len() else "no rows"
            raise InvalidValueError(
                f"Column {col!r} (a sensitive attribute) has {found} "
                "in the data: a fairness summary compares at "
                "least two groups. Drop it from by=, or check the filter that left one group."
            )
    rng = np.random.default_rng(seed)
    rows, group_tables, ff_rows, cal_tables, rel_tables, notes = [], [], [], [], [], []
    for name, cols in levels:
        sums = aggregate.rollup(table, by_cols, cols).sort(cols)
        group = sums.select(
            pl.concat_str([pl.col(c) for c in cols], separator=" / ").alias("group")
        ).get_column("group")
        labels = group.to_list()
        attr_rows, attr_groups, attr_notes = _summaries(
            name, sums, labels, has_labels, confidence, n_boot, rng
        )
        rows.extend(attr_rows)
        group_tables.append(attr_groups)
        notes.extend(attr_notes)
        ff_rows.append(_four_fifths(name, attr_rows))
        if binned and has_labels:
            # "_g": the group label; a by column may itself be called "group".
            bin_stats = aggregate.rollup(bin_table, bin_keys, [*cols, SCORE_BIN])
            bin_stats = bin_stats.select(
                pl.concat_str([pl.col(c) for c in cols], separator=" / ").alias("_g"),
                pl.exclude(cols),
            )
            cal = calibration_tests(bin_stats, ["_g"], bins=edges, confidence=confidence)
            # Seeded per group (not from rng): the same sums give the ece metric's interval.
            ece = expected_calibration_error(
                bin_stats, ["_g"], bins=edges, confidence=confidence, n_boot=n_boot, seed=seed
            )
            cal = cal.join(
                ece.select(
                    "_g",
                    "ece",
                    pl.col("ci_low").alias("ece_ci_low"),
                    pl.col("ci_high").alias("ece_ci_high"),
                    pl.col("bias").alias("ece_bias"),
                ),
                on="_g",
                how="left",
            )
            rel = reliability_table(bin_stats, ["_g"], bins=edges, confidence=confidence)
            for part, out in ((cal, cal_tables), (rel, rel_tables)):
                out.append(
                    part.select(
                        pl.lit(name).alias("attribute"),
                        pl.col("_g").alias("group"),
                        pl.exclude("_g"),
                    )
                )
    unlabeled = 0.0
    if has_labels and "labeled" in table.columns:
        unlabeled = float(table.get_column("n").sum() - table.get_column("labeled").sum())
    if not has_labels:
        notes.append(
            "No labels: only demographic parity (selection rates) is shown; equalized odds "
            "needs y_true."
        )
    cal_order = [
        "attribute",
        "group",
        "n",
        "mean_score",
        "observed",
        "ece",
        "ece_ci_low",
        "ece_ci_high",
        "ece_bias",
    ]
    calibration = (
        pl.concat(cal_tables).select(*cal_order, pl.exclude(cal_order)) if cal_tables else None
    )
    return Fairness(
        pl.DataFrame(rows, schema=_table_schema()).select(_TABLE),
        groups=pl.concat(group_tables, how="diagonal_relaxed"),
        four_fifths=pl.DataFrame(ff_rows, schema=_FF_SCHEMA),
        calibration=calibration,
        reliability=pl.concat(rel_tables) if rel_tables else None,
        attributes=[name for name, _ in levels],
        confidence=float(confidence),
        n_boot=n_boot,
        unlabeled=unlabeled,
        has_labels=has_labels,
        notes=notes,
    )


def _table_schema() -> dict[str, Any]:
    floats = ("value", "ci_low", "ci_high", "bias", "max_value", "min_value")
    return {
        c: (pl.Float64 if c in floats else pl.Int64 if c == "groups" else pl.String) for c in _TABLE
    }


_FF_SCHEMA = {
    "attribute": pl.String,
    "verdict": pl.String,
    "ratio": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "lowest_group": pl.String,
    "lowest_rate": pl.Float64,
    "highest_group": pl.String,
    "highest_rate": pl.Float64,
    "explanation": pl.String,
}


def _rate_counts(sums: pl.DataFrame, rate: str) -> tuple[np.ndarray, np.ndarray]:
    num, den, _ = _RATES[rate]
    x = sum(sums.get_column(c).cast(pl.Float64).to_numpy() for c in num)
    n = sum(sums.get_column(c).cast(pl.Float64).to_numpy() for c in den)
    return x, n


def _summaries(name, sums, labels, has_labels, confidence, n_boot, rng):
    """Rows of the summary table, the per-group rates and the notes for one attribute."""
    rates = ["selection_rate", *(["tpr", "fpr"] if has_labels else [])]
    counts = {r: _rate_counts(sums, r) for r in rates}
    draws = {
        r: beta_draws(x[None, :], n[None, :], n_boot, rng)[:, 0, :] for r, (x, n) in counts.items()
    }
    notes = []
    for r in rates[1:]:
        empty = [g for g, n in zip(labels, counts[r][1], strict=True) if n == 0]
        if empty:
            what = "positives" if r == "tpr" else "negatives"
            uses = (
                "equal opportunity and equalized odds"
                if r == "tpr"
                else "FPR parity and equalized odds"
            )
            notes.append(
                f"By {name}, {', '.join(empty)} {'has' if len(empty) == 1 else 'have'} no "
                f"labeled {what}: no {_RATE_WORDS[r]}, left out of {uses} "
                f"(fairlearn would count it as 0)."
            )
    small = [g for g, n in zip(labels, counts["selection_rate"][1], strict=True) if n < 30]
    if small:
        notes.append(
            f"By {name}, {len(small)} group(s) have fewer than 30 rows ({', '.join(small[:5])}"
            f"{'...' if len(small) > 5 else ''}): their rates are uncertain and widen the intervals."
        )
    rows = []
    for summary, (_, fam, kind) in SUMMARIES.items():
        if any(r not in counts for r in fam):
            continue
        x = np.stack([counts[r][0] for r in fam])
        n = np.stack([counts[r][1] for r in fam])
        d = np.stack([draws[r] for r in fam], axis=1)
        res = max_gap_interval(
            x, n, ratio=kind == "ratio", confidence=confidence, draws=d, seed=rng
        )
        value = float(res["value"])
        defined = not np.isnan(value)
        f = int(res["family"])
        rate = fam[f]
        xi, ni = counts[rate]
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where(ni > 0, xi / ni, np.nan)
        imax, imin = int(res["imax"]), int(res["imin"])
        note = None
        if not defined:
            if int(res["groups"]) < 2:
                what = "rows" if rate == "selection_rate" else _RATES[rate][2]
                note = f"fewer than two groups have {what}: nothing to compare"
            else:
                note = f"every group's {_RATE_WORDS[rate]} is 0: the ratio is undefined"
        rows.append(
            {
                "attribute": name,
                "summary": summary,
                "value": value if defined else None,
                "ci_low": _num(res["lo"]),
                "ci_high": _num(res["hi"]),
                "bias": _num(res["bias"]),
                "rate": rate,
                "max_group": labels[imax] if int(res["groups"]) >= 2 else None,
                "max_value": _num(p[imax]) if int(res["groups"]) >= 2 else None,
                "min_group": labels[imin] if int(res["groups"]) >= 2 else None,
                "min_value": _num(p[imin]) if int(res["groups"]) >= 2 else None,
                "groups": int(res["groups"]),
                "note": note,
            }
        )
    cols: dict[str, Any] = {
        "attribute": [name] * len(labels),
        "group": labels,
        "n": counts["selection_rate"][1],
    }
    group_notes = [[] for _ in labels]
    for r in rates:
        x, n = counts[r]
        lo, hi = st.wilson_ci(x, n, confidence)
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.where(n > 0, x / n, np.nan)
        if r != "selection_rate":
            cols["positives" if r == "tpr" else "negatives"] = n
            for k in np.nonzero(n == 0)[0]:
                group_notes[k].append(f"no {'positives' if r == 'tpr' else 'negatives'}")
        cols[r] = _series(r, v)
        cols[f"{r}_ci_low"] = _series(f"{r}_ci_low", lo)
        cols[f"{r}_ci_high"] = _series(f"{r}_ci_high", hi)
    cols["note"] = pl.Series("note", ["; ".join(n) or None for n in group_notes], pl.String)
    groups = pl.DataFrame(cols)
    return rows, groups, notes


def _num(v) -> float | None:
    v = float(v)
    return None if np.isnan(v) else v


def _four_fifths(name: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The four-fifths verdict of one attribute, judged on the interval of the ratio."""
    r = next(row for row in rows if row["summary"] == "demographic_parity_ratio")
    out = {
        "attribute": name,
        "ratio": r["value"],
        "ci_low": r["ci_low"],
        "ci_high": r["ci_high"],
        "lowest_group": r["min_group"],
        "lowest_rate": r["min_value"],
        "highest_group": r["max_group"],
        "highest_rate": r["max_value"],
    }
    if r["value"] is None:
        return {**out, "verdict": "undefined", "explanation": r["note"]}
    if r["ci_low"] >= FOUR_FIFTHS:
        verdict, why = "meets", "the whole interval of the ratio is at or above 0.8"
    elif r["ci_high"] < FOUR_FIFTHS:
        verdict, why = "fails", "the whole interval of the ratio is below 0.8"
    else:
        verdict, why = "inconclusive", "the interval of the ratio includes 0.8"
    return {**out, "verdict": verdict, "explanation": why}


# --------------------------------------------------------------------------------------
# Gates
# --------------------------------------------------------------------------------------
def judge(
    result: Fairness,
    summary: str,
    *,
    min: float | None = None,
    max: float | None = None,
) -> pl.DataFrame:
    """Judge a fairness summary against a bound on its interval, per attribute.

    For the gate criteria ``fairness.demographic_parity_ratio = { min = 0.8 }`` and
    ``fairness.equalized_odds_difference = { max = 0.1 }``, with the gates' semantics: a
    ``min`` passes only when the interval's lower bound is at or above it, a ``max`` when
    its upper bound is at or below it; ``breach`` (for rollback triggers) is the whole
    interval on the wrong side. An undefined summary neither passes nor breaches
    (``passed`` null). Returns ``attribute``, ``summary``, ``value``, ``ci_low``,
    ``ci_high``, ``bound``, ``side``, ``passed``, ``breach``, ``evidence``.

    Examples
    --------
    >>> import polars as pl
    >>> sums = pl.DataFrame({"sex": ["F", "M"], "n": [2000.0, 3000.0],
    ...                      "pred_pos": [500.0, 1200.0]})
    >>> fr = fairness_from_stats(sums, "sex", n_boot=400)
    >>> judge(fr, "demographic_parity_ratio", min=0.8).select("passed", "breach").rows()
    [(False, True)]
    """
    if summary not in SUMMARIES:
        raise InvalidArgumentError(
            f"Unknown fairness summary {summary!r}; use one of {sorted(SUMMARIES)}."
        )
    if (min is None) == (max is None):
        raise InvalidArgumentError(
            f"fairness.{summary}: give exactly one bound, min = ... or max = ..."
        )
    side, bound = ("min", float(min)) if min is not None else ("max", float(max))
    rows = []
    for r in result.table.filter(pl.col("summary") == summary).iter_rows(named=True):
        v, lo, hi = r["value"], r["ci_low"], r["ci_high"]
        what = f"{summary} by {r['attribute']}"
        if v is None:
            passed = breach = None
            evidence = f"{what}: no value ({r['note']})"
        elif side == "min":
            passed, breach = lo >= bound, hi < bound
            evidence = (
                f"{what} = {v:.3f} [{lo:.3f}, {hi:.3f}]: lower bound {lo:.3f} "
                f"{'>=' if passed else '<'} {bound:.3f}"
            )
        else:
            passed, breach = hi <= bound, lo > bound
            evidence = (
                f"{what} = {v:.3f} [{lo:.3f}, {hi:.3f}]: upper bound {hi:.3f} "
                f"{'<=' if passed else '>'} {bound:.3f}"
            )
        if v is not None and r["max_group"] is not None:
            evidence += f" ({r['min_group']} vs {r['max_group']})"
        rows.append(
            {
                "attribute": r["attribute"],
                "summary": summary,
                "value": v,
                "ci_low": lo,
                "ci_high": hi,
                "bound": bound,
                "side": side,
                "passed": passed,
                "breach": breach,
                "evidence": evidence,
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "attribute": pl.String,
            "summary": pl.String,
            "value": pl.Float64,
            "ci_low": pl.Float64,
            "ci_high": pl.Float64,
            "bound": pl.Float64,
            "side": pl.String,
            "passed": pl.Boolean,
            "breach": pl.Boolean,
            "evidence": pl.String,
        },
    )
