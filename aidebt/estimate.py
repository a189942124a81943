"""Quality before the labels arrive: confidence-based estimation, then reconciliation.

Labels arrive late (in the demo 90%, 50% and 15% of the last three weeks are not reviewed
yet), so the measured metrics stop exactly where a decline starts. :func:`estimate` fills
the unlabeled tail with an *estimate* from the scores alone, and checks every earlier
estimate against the labels that have arrived since.

The method is confidence-based performance estimation (CBPE, popularized by NannyML):

1. **Calibrate** the scores on a labeled reference (a time window of the same data, or a
   separate frame): ``p(s) = P(y = 1 | score s)``, fitted by isotonic regression (default;
   or Platt's logistic fit) on the reference's *small table* of label counts per fine score
   bin (``bins`` equal-width bins of [0, 1]; one aggregation in the engine, never the rows
   in Python). With ``by=``, each segment gets its own calibration when the reference holds
   enough of its labeled rows, and the pooled one otherwise.
2. **Estimate**: a row of score ``s`` is positive with probability ``p(s)``, so each
   period's expected confusion counts are sums of ``p`` over its predicted positives and
   predicted negatives; accuracy, FPR, FNR, precision... are ratios of those expected
   counts, and the AUC is the AUC of the scores with every row counted as a positive with
   weight ``p`` and a negative with weight ``1 - p`` (NannyML's estimated ROC curve, with
   ties within a bin counting one half). The only per-row work is one group-by pass that
   counts rows per (segment, period, score bin, predicted class) inside the data's engine.
3. **Interval**: a prediction interval for the value the labels *will* show, with three
   independent parts, all from the small table (:func:`estimate` documents the formulas):
   the Poisson-binomial sampling of the labels given the scores, the calibration's own
   uncertainty (a bootstrap of the reference's table of label counts), and the
   period-to-period wobble of the score-outcome relation measured in the reference.
4. **Reconcile** (:meth:`Estimate.reconcile`): once labels arrive, the estimate for
   exactly the rows that got labels is compared with what the labels show; a z test per
   (segment, period, metric), Holm over the whole grid, and the segments whose estimates
   are off are named: there the relation between score and outcome has changed (concept
   shift), and their estimates must not be trusted.

The assumption (stated in every summary): within a segment, ``P(y | score)`` is the same
in the estimated periods as in the reference. Shifts in *who* arrives (covariate shift)
are fine; a change in what a score means is not, and only labels can reveal it, which is
why every estimate is reconciled when they come.

References: NannyML, "Confidence-based Performance Estimation (CBPE)", docs.nannyml.com;
Zadrozny & Elkan (2002), isotonic calibration; Platt (1999); Guo et al. (2017), expected
calibration error.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import narwhals as nw
import numpy as np
import polars as pl
from scipy.special import expit, logit

from aidebt import aggregate, frames, prose
from aidebt import metrics as mreg
from aidebt import stats as st
from aidebt.errors import (
    InvalidArgumentError,
    InvalidValueError,
    did_you_mean,
)
from aidebt.groups import check_names
from aidebt.periods import Every
from aidebt.results import Headline, Result

if TYPE_CHECKING:
    from scipy import sparse

__all__ = [
    "Calibration",
    "Estimate",
    "Reconciliation",
    "estimate",
    "expected_calibration_error",
    "reliability",
]

DEFAULT_METRICS = ("accuracy", "fpr", "fnr", "precision", "auc")
ALL = "(all)"
CALIBRATIONS = ("isotonic", "platt")
CALIBRATE_WITHIN = ("auto", "segment", "overall")
MIN_CLASS = 10  # labeled rows of each class a calibration of its own needs, at least
_RAW_SCALE = 1.7  # logistic(1.7 z) ~ Normal CDF: squashes standardized raw scores to (0, 1)
_STEP = 1e-20  # complex-step derivative: exact to machine precision, no cancellation

# The confusion cells a registry proportion may be built of, as functions of (tp, fp, fn, tn).
_CELLS = {
    "tp": lambda tp, fp, fn, tn: tp,
    "fp": lambda tp, fp, fn, tn: fp,
    "fn": lambda tp, fp, fn, tn: fn,
    "tn": lambda tp, fp, fn, tn: tn,
    "pos": lambda tp, fp, fn, tn: tp + fn,
    "labeled": lambda tp, fp, fn, tn: tp + fp + fn + tn,
}

_PUBLIC = [
    "period",
    "metric",
    "estimate",
    "ci_low",
    "ci_high",
    "n",
    "n_labeled",
    "realized",
    "realized_low",
    "realized_high",
    "status",
    "in_reference",
    "calibration",
]

# Every column the results put beside the ``by`` columns: the table, ``uncertainty``, the
# reconciliation and the summary's segments.
_TAKEN = {
    *_PUBLIC,
    *("se", "se_sampling", "se_calibration", "se_wobble", "segment", "n_checked"),
    *("estimated", "difference", "covered", "z", "p_value", "p_adjusted", "significant"),
}


def estimable() -> list[str]:
    """The registry metrics that can be estimated from calibrated scores.

    Every confusion-matrix rate (and prevalence, F1 and AUC): metrics that need labels and
    are functions of the confusion counts or of the (score, label) counts.

    Examples
    --------
    >>> "accuracy" in estimable() and "auc" in estimable() and "mean" not in estimable()
    True
    """
    names = []
    for name, m in mreg.REGISTRY.items():
        if m.needs_score_counts or m.interval == "f1":
            names.append(name)
        elif m.binomial and m.needs_label and set(m.numerator + m.denominator) <= set(_CELLS):
            names.append(name)
    return names


# ======================================================================================
# Expected calibration error and reliability: on a small (segment, score bin) table
# ======================================================================================
def expected_calibration_error(
    table: pl.DataFrame,
    keys: Sequence[str] = (),
    *,
    n: str = "n",
    positives: str = "pos",
    score_sum: str = "score_sum",
    confidence: float = 0.95,
) -> pl.DataFrame:
    """Expected calibration error per group, from a small table whose rows are its bins.

    ``ECE = sum_k (n_k / N) |pos_k / n_k - mean score_k| = sum_k |pos_k - score_sum_k| / N``
    over the rows ``k`` of each group (Guo et al. 2017; usually ten equal-width bins of
    [0, 1]). This only adapts the layout (one row per bin, ``n`` labeled rows): the
    formula and its interval are :func:`aidebt.stats.expected_calibration_error`'s, the
    package's one implementation. ECE is biased upward in small samples (each bin's gap
    is at least its noise): ``bias`` estimates by how much.

    Returns
    -------
    polars.DataFrame
        The keys, ``ece``, ``ci_low``, ``ci_high``, ``bias``, ``se``, ``n`` (labeled rows)
        and ``note``.

    Examples
    --------
    >>> import polars as pl
    >>> t = pl.DataFrame({"n": [10.0, 10.0], "pos": [2.0, 9.0], "score_sum": [1.0, 8.0]})
    >>> expected_calibration_error(t)["ece"].round(4).to_list()
    [0.1]
    """
    keys = list(keys)
    index = pl.int_range(pl.len())
    rows = table.with_columns((index.over(keys) if keys else index).alias(st.SCORE_BIN))
    slots = max(2, int(rows.get_column(st.SCORE_BIN).max() or 0) + 1)
    return st.expected_calibration_error(
        rows,
        keys,
        bins=slots,
        size=n,
        positives=positives,
        score_sum=score_sum,
        confidence=confidence,
    )


def _coarse_bins(table, keys, n_bins, bin, bins, n, positives, score_sum) -> pl.DataFrame:
    """Sums per fine score bin (``bins`` of them) re-summed into ``n_bins`` coarse bins."""
    if bins % n_bins:
        raise InvalidArgumentError(
            f"n_bins={n_bins!r} must divide the {bins} fine score bins (e.g. 10, 20, 25, 40)."
        )
    return (
        table.with_columns((pl.col(bin) // (bins // n_bins)).alias(st.SCORE_BIN))
        .group_by([*keys, st.SCORE_BIN])
        .agg(pl.col(n, positives, score_sum).sum())
    )


def reliability(
    table: pl.DataFrame,
    keys: Sequence[str] = (),
    *,
    n_bins: int = 10,
    bin: str = "_b",
    bins: int = 200,
    n: str = "n",
    positives: str = "pos",
    score_sum: str = "score_sum",
    confidence: float = 0.95,
) -> pl.DataFrame:
    """A reliability table: observed positive rate against mean score per coarse score bin.

    ``table`` holds per-group sums over ``bins`` fine equal-width bins of [0, 1] (column
    ``bin`` = 0 .. bins-1); they are re-summed into ``n_bins`` coarse bins (``bins`` must be
    a multiple of ``n_bins``), and the table is :func:`aidebt.stats.reliability_table`'s,
    which gives exactly scikit-learn's ``calibration_curve(strategy="uniform")`` (tested).

    Returns
    -------
    polars.DataFrame
        The keys, ``bin``, ``bin_low``, ``bin_high``, ``n``, ``mean_score``, ``observed``,
        ``ci_low``, ``ci_high`` (Wilson), ``gap`` (observed - mean score).

    Examples
    --------
    >>> import polars as pl
    >>> t = pl.DataFrame({"_b": [10, 190], "n": [10.0, 10.0], "pos": [1.0, 9.0],
    ...                   "score_sum": [0.5, 9.5]})
    >>> reliability(t)["observed"].to_list()
    [0.1, 0.9]
    """
    keys = list(keys)
    coarse = _coarse_bins(table, keys, n_bins, bin, bins, n, positives, score_sum)
    return st.reliability_table(
        coarse,
        keys,
        bins=n_bins,
        confidence=confidence,
        size=n,
        positives=positives,
        score_sum=score_sum,
    )


# ======================================================================================
# Calibration on the small table
# ======================================================================================
def _isotonic(lab: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Isotonic P(y=1 | bin) for every bin, from labeled counts per bin (pool adjacent violators).

    Bins without labeled rows are interpolated linearly between their neighbours and held
    constant beyond the ends, as scikit-learn's ``IsotonicRegression(out_of_bounds="clip")``
    predicts (tested to 1e-12).
    """
    from scipy.optimize import isotonic_regression  # scipy.optimize: when it runs, not at import

    seen = np.flatnonzero(lab > 0)
    if seen.size == 0:
        return np.full(lab.shape, np.nan)
    fit = isotonic_regression(pos[seen] / lab[seen], weights=lab[seen]).x
    return np.interp(np.arange(lab.size), seen, fit)


def _platt(lab: np.ndarray, pos: np.ndarray, x: np.ndarray, iters: int = 50) -> np.ndarray:
    """Platt scaling: ``expit(a + b x)`` by weighted binomial maximum likelihood.

    Newton-Raphson on the per-bin counts, vectorized over any leading axes of ``lab`` and
    ``pos`` (calibration groups, bootstrap replicates); ``x`` is the logit of each bin's
    score. Equal to a statsmodels binomial GLM with frequency weights (tested).
    """
    lab, pos = np.asarray(lab, float), np.asarray(pos, float)
    total = lab.sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = logit(np.clip(pos.sum(-1) / total, 1e-6, 1 - 1e-6))
    b = np.zeros_like(a)
    for _ in range(iters):
        mu = expit(a[..., None] + b[..., None] * x)
        w = lab * mu * (1 - mu)
        r = pos - lab * mu
        g0, g1 = r.sum(-1), (r * x).sum(-1)
        h00, h01, h11 = w.sum(-1), (w * x).sum(-1), (w * x * x).sum(-1)
        det = h00 * h11 - h01**2
        with np.errstate(divide="ignore", invalid="ignore"):
            da = np.where(det > 0, (h11 * g0 - h01 * g1) / det, 0.0)
            db = np.where(det > 0, (h00 * g1 - h01 * g0) / det, 0.0)
        a, b = a + da, b + db
        if np.nanmax(np.abs(np.r_[np.ravel(da), np.ravel(db)]), initial=0.0) < 1e-12:
            break
    return expit(a[..., None] + b[..., None] * x)


def _calibrate(lab, pos, x, method: str) -> np.ndarray:
    """Calibrated probability per (group, bin): isotonic or Platt on the small table."""
    if method == "platt":
        return _platt(lab, pos, x)
    return np.stack([_isotonic(lab[g], pos[g]) for g in range(lab.shape[0])])


# ======================================================================================
# Metrics of expected (or realized) confusion counts, with their gradients
# ======================================================================================
def _confusion_fn(metric: mreg.Metric):
    """The metric as a function of (tp, fp, fn, tn), written from its registry definition."""
    if metric.interval == "f1":
        return lambda tp, fp, fn, tn: 2 * tp / (2 * tp + fp + fn)

    def value(tp, fp, fn, tn):
        num = sum(_CELLS[c](tp, fp, fn, tn) for c in metric.numerator)
        den = sum(_CELLS[c](tp, fp, fn, tn) for c in metric.denominator)
        return num / den

    return value


def _confusion_value(metric, e1, n1, e0, n0):
    """Value and gradient of a confusion metric in the labels, per unit.

    ``e1``/``e0`` are the (expected) positives among the predicted positives/negatives of
    ``n1``/``n0`` rows. ``g1`` is the change of the metric when one predicted-positive row
    turns from negative to positive (tp + 1, fp - 1), ``g0`` the same for a predicted
    negative (fn + 1, tn - 1): complex-step derivatives, exact to machine precision.
    """
    f = _confusion_fn(metric)
    tp, fp, fn, tn = e1, n1 - e1, e0, n0 - e0
    h = 1j * _STEP
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.real(f(tp + 0j, fp + 0j, fn + 0j, tn + 0j))
        g1 = np.imag(f(tp + h, fp - h, fn + 0j, tn + 0j)) / _STEP
        g0 = np.imag(f(tp + 0j, fp + 0j, fn + h, tn - h)) / _STEP
    bad = ~np.isfinite(value)
    value[bad], g1[bad], g0[bad] = np.nan, np.nan, np.nan
    return value, g1, g0


def _auc_value(pos: np.ndarray, neg: np.ndarray):
    """AUC of binned scores from (expected) positives and negatives per bin, and its gradient.

    ``pos``, ``neg``: units x bins, bins in increasing score order; ties in a bin count one
    half (the Mann-Whitney statistic). ``grad[u, b]`` is the change of the AUC when one row
    of bin ``b`` turns from negative to positive: it gains the negatives below it (and half
    of its bin's) and loses the positives above it (and half of its bin's), and the
    product of the class totals changes by ``n_neg - n_pos``.
    """
    tot_p, tot_n = pos.sum(1, keepdims=True), neg.sum(1, keepdims=True)
    above_p = tot_p - np.cumsum(pos, 1)
    below_n = np.cumsum(neg, 1) - neg
    u = (neg * (above_p + 0.5 * pos)).sum(1, keepdims=True)
    d = tot_p * tot_n
    du = (below_n + 0.5 * neg) - (above_p + 0.5 * pos)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(d > 0, u / d, np.nan)
        grad = (du * d - u * (tot_n - tot_p)) / d**2
    return value[:, 0], np.where(d > 0, grad, np.nan)


# ======================================================================================
# The small table of one pass, arranged as sparse matrices
# ======================================================================================
@dataclass
class _Layer:
    """Counts per (unit, calibration column) for predicted positives/negatives.

    A unit is a (segment, period) cell (or a period, for the overall rows). A calibration
    column is ``group * bins + bin``: the calibrated probability of that bin in that
    calibration group. ``pos1``/``pos0``: realized positives (labeled layers only).
    """

    a1: sparse.csr_matrix
    a0: sparse.csr_matrix
    pos1: sparse.csr_matrix | None = None
    pos0: sparse.csr_matrix | None = None

    def totals(self) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.a1.sum(1)).ravel(), np.asarray(self.a0.sum(1)).ravel()


def _csr(rows, cols, values, shape) -> sparse.csr_matrix:
    from scipy import sparse  # when it runs, not at import

    values = np.asarray(values, dtype=float)
    keep = values != 0
    return sparse.coo_matrix(
        (values[keep], (np.asarray(rows)[keep], np.asarray(cols)[keep])), shape=shape
    ).tocsr()


@dataclass
class _Computed:
    """One metric on one layer: values and the three variance parts, per unit."""

    value: np.ndarray
    var_sampling: np.ndarray
    var_calibration: np.ndarray
    var_wobble: np.ndarray

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(self.var_sampling + self.var_calibration + self.var_wobble)


@dataclass
class _Engine:
    """Everything the inference needs, all small: calibration and its bootstrap, sizes."""

    p: np.ndarray  # (groups * bins,) calibrated probabilities
    dp: np.ndarray  # (groups * bins, B) bootstrap deviations of p
    tau2: float
    bins: int
    confidence: float

    @property
    def pq(self) -> np.ndarray:
        return self.p * (1 - self.p)

    def expected(self, layer: _Layer, metric: mreg.Metric) -> _Computed:
        """The metric from expected counts, with sampling, calibration and wobble variances.

        Every part is linear in a per-entry gradient ``gamma`` (the change of the metric
        when one row of that (unit, bin, predicted class) turns positive):
        sampling ``sum n gamma^2 p(1-p)`` (Poisson-binomial labels, delta method);
        calibration ``Var_B(sum n gamma (p*_b - p))`` over bootstrap refits ``p*``;
        wobble ``tau^2 (sum n gamma p(1-p))^2`` for a period-level shift of the logit of
        ``p`` with variance ``tau^2``.
        """
        p = self.p
        units = layer.a1.shape[0]
        if metric.needs_score_counts:
            both = (layer.a1 + layer.a0).tocoo()
            n = np.bincount(
                both.row * self.bins + both.col % self.bins, both.data, units * self.bins
            )
            pos = np.bincount(
                both.row * self.bins + both.col % self.bins,
                both.data * p[both.col],
                units * self.bins,
            )
            n, pos = n.reshape(units, self.bins), pos.reshape(units, self.bins)
            value, grad = _auc_value(pos, n - pos)
            rows, cols, counts = both.row, both.col, both.data
            gamma = grad[rows, cols % self.bins]
        else:
            e1, e0 = layer.a1 @ p, layer.a0 @ p
            n1, n0 = layer.totals()
            value, g1, g0 = _confusion_value(metric, e1, n1, e0, n0)
            c1, c0 = layer.a1.tocoo(), layer.a0.tocoo()
            rows = np.r_[c1.row, c0.row]
            cols = np.r_[c1.col, c0.col]
            counts = np.r_[c1.data, c0.data]
            gamma = np.r_[g1[c1.row], g0[c0.row]]
        shape = (units, p.size)
        ok = np.isfinite(gamma)
        m1 = _csr(rows[ok], cols[ok], counts[ok] * gamma[ok], shape)
        m2 = _csr(rows[ok], cols[ok], counts[ok] * gamma[ok] ** 2, shape)
        var_s = m2 @ self.pq
        if self.dp.shape[1] > 1:
            var_c = np.var(np.asarray(m1 @ self.dp), axis=1, ddof=1)
        else:
            var_c = np.zeros(units)
        var_w = self.tau2 * (m1 @ self.pq) ** 2
        undefined = ~np.isfinite(value)
        for arr in (var_s, var_c, var_w):
            arr[undefined] = np.nan
        return _Computed(value, var_s, var_c, var_w)


def _realized(layer: _Layer, metric: mreg.Metric, bins: int, confidence: float):
    """What the labels show per unit: value and its interval (Wilson / delta / DeLong)."""
    units = layer.a1.shape[0]
    lab1, lab0 = layer.totals()
    pos1 = np.asarray(layer.pos1.sum(1)).ravel()
    pos0 = np.asarray(layer.pos0.sum(1)).ravel()
    if metric.needs_score_counts:
        lab = (layer.a1 + layer.a0).tocoo()
        pos = (layer.pos1 + layer.pos0).tocoo()
        cell_lab = np.bincount(lab.row * bins + lab.col % bins, lab.data, units * bins)
        cell_pos = np.bincount(pos.row * bins + pos.col % bins, pos.data, units * bins)
        cells = np.flatnonzero(cell_lab)
        u, b = np.divmod(cells, bins)
        counts = pl.DataFrame(
            {
                "_u": np.r_[u, u],
                "_score": np.r_[b, b].astype(float),
                "_label": np.r_[np.ones(u.size, int), np.zeros(u.size, int)],
                "_w": np.r_[cell_pos[cells], cell_lab[cells] - cell_pos[cells]],
            }
        )
        base = pl.DataFrame({"_u": np.arange(units)})
        est = mreg.estimate_auc(base, ["_u"], counts, confidence)
        return est["value"], est["lo"], est["hi"]
    cols = {
        "tp": pos1,
        "fp": lab1 - pos1,
        "fn": pos0,
        "tn": lab0 - pos0,
        "pos": pos1 + pos0,
        "labeled": lab1 + lab0,
    }
    est = mreg.estimate(cols, metric, confidence=confidence)
    return est["value"], est["lo"], est["hi"]


# ======================================================================================
# The public function
# ======================================================================================
def estimate(
    data: Any,
    *,
    y_score: str,
    y_true: str,
    reference: Any,
    time: str,
    y_pred: str | None = None,
    every: str = "1mo",
    metrics: Sequence[str] = DEFAULT_METRICS,
    by: str | Sequence[str] | None = None,
    calibrate: str = "isotonic",
    threshold: float = 0.5,
    weight: str | None = None,
    pos_label: Any = None,
    raw_scores: bool = False,
    calibrate_within: str = "auto",
    min_reference: int = 200,
    confidence: float = 0.95,
    bins: int = 200,
    n_boot: int = 200,
    seed: int = 0,
) -> Estimate:
    """Estimate each period's quality from its scores, and check it where labels exist.

    Parameters
    ----------
    data
        The log: polars (eager or lazy), pandas, pyarrow, DuckDB, PySpark, or a path.
    y_score
        The model's score, a probability in [0, 1] (``raw_scores=True`` for log-odds,
        margins or any other real-valued score).
    y_true
        The label, 0/1 or booleans (or any values with ``pos_label``); null = not labeled
        yet. The estimated periods need no labels; where they have some, the table shows
        the realized value beside the estimate.
    reference
        Where the scores are calibrated: a window ``(start, end)`` of ``data`` (ISO dates,
        end exclusive: ``("2025-10", "2026-04")`` is October to March), or a separate
        labeled frame with the same columns. Pick a period whose labels are complete and
        that resembles what you estimate; the estimates there are in-sample.
    time
        A Date or Datetime column.
    y_pred
        The decision (0/1). Without it, a row is predicted positive when
        ``score >= threshold``.
    every
        Period length (``"1w"``, ``"1mo"``, ``"1q"``...), as in :func:`aidebt.decay`.
    metrics
        Any of :func:`estimable` (accuracy, error_rate, tpr, fpr, fnr, tnr, precision, npv,
        fdr, for, f1, prevalence, auc).
    by
        Segment column(s): an estimate per segment and period, and, with
        ``calibrate_within="auto"``, a calibration per segment.
    calibrate
        ``"isotonic"`` (default: monotone, no shape assumed) or ``"platt"`` (a logistic
        curve in the logit of the score: smoother, for small references).
    threshold
        Decision threshold on the score when ``y_pred`` is not given.
    weight
        Frequency weights (counts >= 0).
    pos_label
        The label value that means positive, when labels are not 0/1.
    raw_scores
        Scores are not probabilities: they are standardized with the reference's mean and
        standard deviation and squashed by ``logistic(1.7 z)`` before binning. Calibration
        is monotone-invariant (isotonic) or linear in the raw score (Platt), so nothing is
        lost but resolution in the far tails.
    calibrate_within
        ``"auto"`` (default): a calibration of its own for each segment with at least
        ``min_reference`` labeled reference rows (and ``10`` of each class), the pooled
        calibration for the others (named in :meth:`Estimate.notes`; a segment absent
        from the reference, such as a new intent, is estimated with the pooled one, which
        is exactly what reconciliation checks). ``"segment"``: every segment needs its own
        (an error names the ones short of rows). ``"overall"``: one calibration for all.
    min_reference
        Labeled reference rows a calibration of its own needs.
    confidence
        Level of every interval.
    bins
        Fine score bins of [0, 1] (equal width) in the aggregation. The AUC treats scores in
        one bin as tied: with 200 bins the effect on the AUC is far below its sampling
        error (tested against the exact AUC).
    n_boot
        Bootstrap refits of the calibration, for its share of the interval (0: ignore it).
    seed
        Seed of the bootstrap.

    Returns
    -------
    Estimate
        ``.table``: the ``by`` columns, ``period``, ``metric``, ``estimate``, ``ci_low``,
        ``ci_high``, ``n`` (rows with a score), ``n_labeled``, ``realized`` with
        ``realized_low``/``realized_high`` (from the labels that exist), ``status``
        (``estimated``: no labels yet; ``both``: some; ``measured``: all labeled),
        ``in_reference`` (a period with rows in the reference window: its estimate is
        in-sample) and ``calibration`` (``segment`` or ``pooled``). ``.overall`` has the
        same columns per period over all segments (with ``by``). Then
        :meth:`~Estimate.reconcile`, :meth:`~Estimate.calibration`,
        :meth:`~Estimate.chart`, :meth:`~Estimate.summary`, :meth:`~Estimate.headline`.

    Notes
    -----
    The interval is a prediction interval for the value the labels will show, with
    variance ``sampling + calibration + wobble``, each linear in the gradient ``gamma`` of
    the metric with respect to one row's label (a row of predicted class ``d`` and score
    bin ``b``; for a ratio of counts the delta method, for the AUC the change in the
    Mann-Whitney statistic):

    * sampling: given the scores, labels are independent Bernoulli(``p``), so the realized
      counts are Poisson-binomial: ``sum_rows gamma^2 p (1 - p)``;
    * calibration: ``p`` itself is an estimate. The reference's table of (segment, bin,
      label) counts is resampled ``n_boot`` times with Poisson weights (the bootstrap of
      its rows, on the small table), every calibration refitted, and the variance of
      ``sum_rows gamma (p* - p)`` taken over the refits;
    * wobble: the score-outcome relation may move a little from period to period even when
      it is stable on average (extra-binomial variation). Modelled as a shift ``u`` of
      ``logit p`` per period with variance ``tau^2``, estimated by the method of moments
      from the reference's own periods (observed minus expected positives per segment and
      period, beyond their Poisson-binomial variance); it adds
      ``tau^2 (sum_rows gamma p (1 - p))^2``. With fewer than three reference periods
      ``tau^2`` cannot be measured and is taken as zero (a note says so).

    Examples
    --------
    >>> from aidebt.datasets import demo
    >>> logs = demo(n_per_month=4_000, months=8)
    >>> est = estimate(logs, y_score="score", y_true="y_true", y_pred="y_pred",
    ...                   time="ts", reference=("2025-10", "2026-02"), metrics=["accuracy"],
    ...                   n_boot=20)
    >>> est.table.filter(status="both").select("period", "status").rows()
    [(datetime.date(2026, 5, 1), 'both')]
    >>> 0.7 < est.table["estimate"][-1] < 0.95
    True
    """
    confidence = st.check_confidence(confidence)
    chosen = _check_metrics(metrics)
    if calibrate not in CALIBRATIONS:
        raise InvalidArgumentError(
            f"calibrate={calibrate!r} is not a calibration; use 'isotonic' (default) or 'platt'."
        )
    if calibrate_within not in CALIBRATE_WITHIN:
        raise InvalidArgumentError(
            f"calibrate_within={calibrate_within!r}; use 'auto', 'segment' or 'overall'."
        )
    for name, value, low in (
        ("bins", bins, 10),
        ("n_boot", n_boot, 0),
        ("min_reference", min_reference, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise InvalidArgumentError(f"{name}={value!r} must be an integer >= {low}.")
    if not raw_scores and not (isinstance(threshold, int | float) and 0 < threshold < 1):
        raise InvalidArgumentError(
            f"threshold={threshold!r} must be strictly between 0 and 1 (a probability score)."
        )
    ev = Every.parse(every)
    by_cols = frames.as_list(by)
    check_names(by_cols, _TAKEN, role="a by column")
    frame = frames.to_lazy(data)
    _check_columns(frame, time, y_score, y_pred, weight, by_cols, data_role="data")
    schema = frames.columns(frame)
    has_labels = y_true in schema
    window = _as_window(reference)
    if window is None:
        ref_frame = frames.to_lazy(reference)
        _check_columns(ref_frame, None, y_score, None, weight, by_cols, data_role="reference")
        frames.require_columns(ref_frame, [y_true], role="y_true, in the reference")
    else:
        frames.require_columns(frame, [y_true], role="y_true")
        ref_frame = None

    scaling = None
    if raw_scores:
        source = ref_frame if ref_frame is not None else frames.filter_window(frame, time, *window)
        scaling = _raw_scaling(source, y_score)

    def binned(f: nw.LazyFrame) -> tuple[nw.Expr, nw.Expr]:
        # NaN -> null here (aggregate.present); the pass reports NaN scores
        s = aggregate.present(f, y_score).cast(nw.Float64)
        u = s
        if scaling is not None:
            u = 1.0 / (1.0 + ((s - scaling[0]) * (-_RAW_SCALE / scaling[1])).exp())
        b = (u * bins + 1e-9).floor().clip(upper_bound=bins - 1)
        out_of_range = (u < 0) | (u > 1)
        decision = nw.when(s >= threshold).then(nw.lit(1.0)).otherwise(nw.lit(0.0))
        return nw.when(out_of_range).then(nw.lit(-1.0)).otherwise(b), decision

    b_expr, d_expr = binned(frame)
    derived: dict[str, nw.Expr] = {"_p": ev.index(nw.col(time)), "_b": b_expr}
    if window is not None:
        cond = frames.window_condition(frame, time, *window)
        derived["_r"] = nw.when(cond).then(nw.lit(1)).otherwise(nw.lit(0))
    if y_pred is None:
        derived["_d"] = d_expr
    roles = aggregate.Roles(
        y_true=y_true if has_labels else None,
        y_pred=y_pred,
        y_score=y_score,
        weight=weight,
        pos_label=pos_label,
    )
    stats = aggregate.sufficient_stats(frame, by_cols, roles, derived_keys=derived)
    _check_bins(stats, frame, y_score, raw_scores, "data")
    table = _tidy(stats, by_cols, has_y_pred=y_pred is not None)
    if window is None:
        table = table.with_columns(_r=pl.lit(0, pl.Int64))
        ref_derived = {"_b": binned(ref_frame)[0]}
        if time in frames.columns(ref_frame) and frames.is_temporal(
            frames.columns(ref_frame)[time]
        ):
            ref_derived["_p"] = ev.index(nw.col(time))
        ref_roles = aggregate.Roles(
            y_true=y_true, y_score=y_score, weight=weight, pos_label=pos_label
        )
        ref_stats = aggregate.sufficient_stats(
            ref_frame, by_cols, ref_roles, derived_keys=ref_derived
        )
        _check_bins(ref_stats, ref_frame, y_score, raw_scores, "reference")
        ref = _tidy(ref_stats, by_cols, has_y_pred=False)
        if "_p" not in ref.columns:
            ref = ref.with_columns(_p=pl.lit(None, pl.Int64))
        where = "the reference frame"
    else:
        ref = table.filter(pl.col("_r") == 1)
        start, end = window
        where = f"the reference window {_window_text(start, end)}"
    ref = ref.with_columns(lab=pl.col("lab1") + pl.col("lab0"), pos=pl.col("pos1") + pl.col("pos0"))
    model = _Model.fit(
        table,
        ref,
        by_cols,
        method=calibrate,
        within=calibrate_within,
        min_reference=min_reference,
        bins=bins,
        n_boot=n_boot,
        seed=seed,
        confidence=confidence,
        where=where,
    )
    return Estimate._build(
        table,
        model,
        by=by_cols,
        metrics=chosen,
        every=ev,
        confidence=confidence,
        reference=where,
        calibrate=calibrate,
        has_labels=has_labels,
        no_score=float(stats.filter(pl.col("_b").is_null())["n"].sum() or 0),
        no_time=float(stats.filter(pl.col("_p").is_null())["n"].sum() or 0),
    )


def _check_metrics(metrics) -> list[mreg.Metric]:
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    if not names:
        raise InvalidArgumentError("metrics= is empty: name at least one, e.g. ['accuracy'].")
    ok = estimable()
    out = []
    for name in names:
        m = mreg.get(name)
        if m.name not in ok:
            raise InvalidArgumentError(
                f"Metric {name!r} cannot be estimated from scores: it is not a function of the "
                f"labels given the scores. Estimable: {', '.join(ok)}. "
                f"{did_you_mean(name, ok)}"
            )
        out.append(m)
    return mreg.unique(out)


def _check_columns(frame, time, y_score, y_pred, weight, by_cols, *, data_role: str) -> None:
    where = "" if data_role == "data" else " in the reference"
    if not isinstance(y_score, str):
        raise InvalidArgumentError(f"y_score={y_score!r} must be the name of the score column.")
    frames.require_columns(frame, [y_score], role=f"y_score{where}")
    frames.require_columns(frame, [y_pred], role=f"y_pred{where}")
    frames.require_columns(frame, [weight], role=f"weight{where}")
    frames.require_columns(frame, by_cols, role=f"a by column{where}")
    schema = frames.columns(frame)
    if not frames.is_numeric(schema[y_score]):
        frames.check_numeric(
            frame, y_score, role="y_score", fix="Pass the model's probability or score column."
        )
    if weight:
        frames.check_numeric(frame, weight, role="weight", fix="Weights are counts >= 0.")
    if time is not None:
        if not isinstance(time, str):
            raise InvalidArgumentError(f"time={time!r} must be the name of a Date/Datetime column.")
        frames.require_temporal(frame, time, needed_by="estimate")


def _as_window(reference: Any) -> tuple[Any, Any] | None:
    """A (start, end) window, or None when ``reference`` is a frame or a path."""
    if isinstance(reference, tuple | list):
        if len(reference) != 2:
            raise InvalidArgumentError(
                f"reference={reference!r}: a window is two dates (start, end), e.g. "
                "('2025-10', '2026-04'); or pass a labeled frame."
            )
        return tuple(reference)
    if reference is None:
        raise InvalidArgumentError(
            "reference= is required: a labeled window of the data, e.g. ('2025-10', '2026-04'), "
            "or a labeled frame, on which the scores are calibrated."
        )
    return None


def _window_text(start: Any, end: Any) -> str:
    """A window in words: 'from 2025-10 up to (not including) 2026-04'."""

    def text(v):
        return v.isoformat() if hasattr(v, "isoformat") else str(v)

    if start is None:
        return f"before {text(end)}"
    if end is None:
        return f"from {text(start)} on"
    return f"from {text(start)} up to (not including) {text(end)}"


def _raw_scaling(source: nw.LazyFrame, y_score: str) -> tuple[float, float]:
    """Mean and standard deviation of the reference's scores (a small query)."""
    s = nw.col(y_score).cast(nw.Float64)
    row = (
        source.select(s.mean().alias("m"), s.std().alias("sd"))
        .collect(backend="polars")
        .to_native()
        .row(0)
    )
    m, sd = row
    if m is None or sd is None or not sd > 0:
        raise InvalidValueError(
            f"Column {y_score!r} (y_score) has no spread in the reference (standard deviation "
            f"{sd}): raw scores need at least two distinct values to be calibrated."
        )
    return float(m), float(sd)


def _check_bins(stats: pl.DataFrame, frame, y_score: str, raw: bool, what: str) -> None:
    """Scores outside [0, 1] fell in bin -1: say how many, their range, and the fix."""
    bad = stats.filter(pl.col("_b") == -1)
    if bad.height == 0:
        return
    count = float(bad["n"].sum())
    s = nw.col(y_score).cast(nw.Float64)
    lo, hi = (
        frame.select(s.min().alias("lo"), s.max().alias("hi"))
        .collect(backend="polars")
        .to_native()
        .row(0)
    )
    raise InvalidValueError(
        f"Column {y_score!r} (y_score) has {count:,.0f} rows with scores outside [0, 1] in the "
        f"{what} (from {lo:g} to {hi:g}). Confidence-based estimation reads scores as "
        "probabilities. If these are raw model scores (log-odds, margins, ranks), pass "
        "raw_scores=True to calibrate them on the reference; if they are probabilities, "
        "fix the rows out of range."
    )


def _tidy(stats: pl.DataFrame, by_cols: list[str], *, has_y_pred: bool) -> pl.DataFrame:
    """The pass's sums as (segment, period, window flag, bin): counts per predicted class.

    ``n1``/``n0``: rows predicted positive/negative; ``lab1``/``lab0``: labeled ones;
    ``pos1``/``pos0``: labeled positives among them; ``score_sum``: sum of the scores.
    """
    stats = stats.filter(pl.col("_b").is_not_null() & pl.col("_p").is_not_null())

    def col(name: str) -> pl.Expr:
        return pl.col(name) if name in stats.columns else pl.lit(0.0)

    keys = [*by_cols, "_p", *(["_r"] if "_r" in stats.columns else []), "_b"]
    if has_y_pred:
        out = stats.select(
            *keys,
            n1=col("pred_pos"),
            n0=pl.col("n") - col("pred_pos"),
            lab1=col("tp") + col("fp"),
            lab0=col("fn") + col("tn"),
            pos1=col("tp"),
            pos0=col("fn"),
            score_sum=col("score_sum"),
        )
    elif "_d" in stats.columns:
        d1 = pl.col("_d") == 1

        def split(expr: pl.Expr, one: bool) -> pl.Expr:
            return pl.when(d1 if one else ~d1).then(expr).otherwise(0.0).sum()

        out = stats.group_by(keys).agg(
            n1=split(pl.col("n"), True),
            n0=split(pl.col("n"), False),
            lab1=split(col("labeled"), True),
            lab0=split(col("labeled"), False),
            pos1=split(col("pos"), True),
            pos0=split(col("pos"), False),
            score_sum=col("score_sum").sum(),
        )
    else:  # a reference frame: no decision needed, every labeled row on the "0" side
        out = stats.select(
            *keys,
            n1=pl.lit(0.0),
            n0=pl.col("n"),
            lab1=pl.lit(0.0),
            lab0=col("labeled"),
            pos1=pl.lit(0.0),
            pos0=col("pos"),
            score_sum=col("score_sum"),
        )
    return out.with_columns(
        pl.col("_p").cast(pl.Int64),
        pl.col("_b").cast(pl.Int64),
        *([pl.col("_r").cast(pl.Int64)] if "_r" in out.columns else []),
    ).sort(keys)


# ======================================================================================
# Calibration groups, the fit, its bootstrap, and the wobble
# ======================================================================================
@dataclass
class _Model:
    engine: _Engine
    segments: pl.DataFrame  # by columns, _g (calibration group: 0 = pooled), ref_n, ref_pos
    ref: pl.DataFrame  # the reference's (segment, period, bin) table
    tau2: float
    tau2_periods: int
    method: str
    within: str
    min_reference: int
    where: str
    pooled_for: list[dict]  # segments estimated with the pooled calibration, and why

    @classmethod
    def fit(
        cls,
        table,
        ref,
        by_cols,
        *,
        method,
        within,
        min_reference,
        bins,
        n_boot,
        seed,
        confidence,
        where,
    ) -> _Model:
        seg_keys = by_cols
        lab_total = float(ref["lab"].sum())
        pos_total = float(ref["pos"].sum())
        if lab_total == 0:
            raise InvalidValueError(
                f"{where[0].upper()}{where[1:]} has no labeled rows with a score: calibration "
                "needs labels. Pick a window whose labels have arrived, or pass a labeled frame."
            )
        if pos_total == 0 or pos_total == lab_total:
            only = "positive (label 1)" if pos_total else "negative (label 0)"
            raise InvalidValueError(
                f"{where[0].upper()}{where[1:]} has {lab_total:,.0f} labeled rows, all {only}: "
                "calibrating the scores needs both classes. Widen the reference, or check the "
                "label column (pos_label=)."
            )
        if lab_total < min_reference:
            raise InvalidValueError(
                f"{where[0].upper()}{where[1:]} has {lab_total:,.0f} labeled rows; calibrating "
                f"the scores needs at least min_reference={min_reference}. Widen the reference "
                "window, or lower min_reference (the intervals widen accordingly)."
            )
        # Segments of the data and of the reference, with their reference counts.
        if seg_keys:
            seen = pl.concat(
                [table.select(seg_keys).unique(), ref.select(seg_keys).unique()]
            ).unique()
            counts = ref.group_by(seg_keys).agg(
                ref_n=pl.col("lab").sum(), ref_pos=pl.col("pos").sum()
            )
            segs = (
                seen.join(counts, on=seg_keys, how="left")
                .with_columns(pl.col("ref_n", "ref_pos").fill_null(0.0))
                .sort(seg_keys)
            )
            enough = (
                (pl.col("ref_n") >= min_reference)
                & (pl.col("ref_pos") >= MIN_CLASS)
                & (pl.col("ref_n") - pl.col("ref_pos") >= MIN_CLASS)
            )
            segs = segs.with_columns(_own=enough & pl.lit(within != "overall"))
            short = segs.filter(~pl.col("_own"))
            if within == "segment" and short.height:
                _raise_short(short, seg_keys, min_reference, where)
            own_rank = pl.when(pl.col("_own")).then(pl.col("_own").cast(pl.Int64).cum_sum())
            segs = segs.with_columns(_g=own_rank.fill_null(0).cast(pl.Int64))
            pooled_for = (
                [
                    {
                        **{k: r[k] for k in seg_keys},
                        "ref_n": r["ref_n"],
                        "ref_pos": r["ref_pos"],
                    }
                    for r in short.iter_rows(named=True)
                ]
                if within == "auto"
                else []
            )
        else:
            segs = pl.DataFrame({"_g": [0], "ref_n": [lab_total], "ref_pos": [pos_total]})
            pooled_for = []
        groups = int(segs["_g"].max()) + 1
        # The reference as dense (reference segment, bin) arrays; each segment's group.
        ref_seg = ref.group_by([*seg_keys, "_b"]).agg(pl.col("lab", "pos").sum())
        if seg_keys:
            ref_seg = ref_seg.join(segs.select(*seg_keys, "_g"), on=seg_keys, how="left")
            seg_index = ref_seg.select(seg_keys).unique(maintain_order=True).sort(seg_keys)
            seg_index = seg_index.with_row_index("_s")
            ref_seg = ref_seg.join(seg_index, on=seg_keys, how="left")
            n_seg = seg_index.height
        else:
            ref_seg = ref_seg.with_columns(_g=pl.lit(0, pl.Int64), _s=pl.lit(0, pl.UInt32))
            n_seg = 1
        s_idx = ref_seg["_s"].cast(pl.Int64).to_numpy()
        b_idx = ref_seg["_b"].to_numpy()
        lab = np.zeros((n_seg, bins))
        pos = np.zeros((n_seg, bins))
        np.add.at(lab, (s_idx, b_idx), ref_seg["lab"].to_numpy())
        np.add.at(pos, (s_idx, b_idx), ref_seg["pos"].to_numpy())
        seg_group = np.zeros(n_seg, dtype=np.int64)
        seg_group[s_idx] = ref_seg["_g"].to_numpy()
        # Each bin's score (for Platt): its mean over every row, the centre if empty.
        sums = table.group_by("_b").agg(
            pl.col("score_sum").sum(), (pl.col("n1") + pl.col("n0")).sum().alias("n")
        )
        centre = (np.arange(bins) + 0.5) / bins
        xbin = centre.copy()
        sb = sums["_b"].to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            xbin[sb] = np.where(
                sums["n"].to_numpy() > 0,
                sums["score_sum"].to_numpy() / sums["n"].to_numpy(),
                centre[sb],
            )
        x = logit(np.clip(xbin, 1e-6, 1 - 1e-6))

        def group_tables(lab_s, pos_s):
            """Per calibration group: the pooled table (group 0) and each own segment's."""
            shape = (*lab_s.shape[:-2], groups, bins)
            gl, gp = np.zeros(shape), np.zeros(shape)
            gl[..., 0, :] = lab_s.sum(-2)
            gp[..., 0, :] = pos_s.sum(-2)
            own = np.flatnonzero(seg_group > 0)  # each own group is exactly one segment
            gl[..., seg_group[own], :] = lab_s[..., own, :]
            gp[..., seg_group[own], :] = pos_s[..., own, :]
            return gl, gp

        gl, gp = group_tables(lab, pos)
        p = _calibrate(gl, gp, x, method)
        rng = np.random.default_rng(seed)
        if n_boot > 1:
            draws_p = rng.poisson(pos, size=(n_boot, *pos.shape)).astype(float)
            draws_n = rng.poisson(lab - pos, size=(n_boot, *pos.shape)).astype(float)
            bl, bp = group_tables(draws_p + draws_n, draws_p)
            if method == "platt":
                boot = _platt(bl, bp, x)
            else:  # pool-adjacent-violators per replicate and group: C calls, no row loop
                boot = np.stack([_calibrate(bl[r], bp[r], x, method) for r in range(n_boot)])
            dp = (boot - p[None]).reshape(n_boot, -1).T
            dp = np.nan_to_num(dp)
        else:
            dp = np.zeros((p.size, 1))
        engine = _Engine(p.ravel(), dp, 0.0, bins, confidence)
        tau2, k = _wobble(ref, segs, seg_keys, engine)
        engine.tau2 = tau2
        return cls(
            engine=engine,
            segments=segs,
            ref=ref,
            tau2=tau2,
            tau2_periods=k,
            method=method,
            within=within,
            min_reference=min_reference,
            where=where,
            pooled_for=pooled_for,
        )


def _raise_short(short: pl.DataFrame, keys: list[str], min_reference: int, where: str) -> None:
    parts = []
    for r in short.head(8).iter_rows(named=True):
        name = " / ".join(f"{k}={r[k]}" for k in keys)
        parts.append(f"{name} has {r['ref_n']:,.0f} labeled rows ({r['ref_pos']:,.0f} positive)")
    more = f" and {short.height - 8} more" if short.height > 8 else ""
    raise InvalidValueError(
        f"With calibrate_within='segment' every segment needs a calibration of its own, but in "
        f"{where} {'; '.join(parts)}{more}. Each needs at least min_reference={min_reference} "
        f"labeled rows with {MIN_CLASS} of each class. Widen the reference, use fewer "
        "segments, or calibrate_within='auto' (those segments then use the pooled "
        "calibration) or 'overall'."
    )


def _wobble(ref: pl.DataFrame, segs: pl.DataFrame, seg_keys: list[str], engine: _Engine):
    """Period-level variance ``tau^2`` of the logit of P(y | score), from the reference.

    For each (segment, reference period): observed positives ``O``, expected ``E`` and the
    Poisson-binomial variance ``V`` under the fitted calibration. If the relation wobbles
    by ``u ~ N(0, tau^2)`` on the logit scale, ``O - E ~ u V + noise`` so
    ``E[(O - E)^2 / V] = 1 + tau^2 V``; the fit itself uses one degree of freedom per
    calibration group (its total is matched). Method of moments, truncated at zero.
    Returns ``(tau2, number of periods)``; 0 when fewer than three periods are available.
    """
    if "_p" not in ref.columns or ref["_p"].null_count() == ref.height:
        return 0.0, 0
    if seg_keys:
        with_g = ref.join(segs.select(*seg_keys, "_g"), on=seg_keys, how="left")
    else:
        with_g = ref.with_columns(_g=pl.lit(0, pl.Int64))
    index = with_g.select(*seg_keys, "_p").unique().with_row_index("_c")
    with_g = with_g.join(index, on=[*seg_keys, "_p"], how="left")
    cells = with_g["_c"].to_numpy().astype(np.int64)
    k = index.height
    j = with_g["_g"].to_numpy() * engine.bins + with_g["_b"].to_numpy()
    lab = with_g["lab"].to_numpy()
    o = np.bincount(cells, with_g["pos"].to_numpy(), k)
    e = np.bincount(cells, lab * engine.p[j], k)
    v = np.bincount(cells, lab * engine.pq[j], k)
    g_of_cell = np.zeros(k, dtype=np.int64)
    g_of_cell[cells] = with_g["_g"].to_numpy()
    periods = int(with_g["_p"].n_unique())
    use = v >= 1.0
    if periods < 3 or use.sum() < 3:
        return 0.0, periods
    o, e, v, g = o[use], e[use], v[use], g_of_cell[use]
    groups = np.unique(g)
    q = float(((o - e) ** 2 / v).sum())
    df = use.sum() - groups.size
    vg = np.bincount(g, v)[g]
    denom = float((v - v**2 / vg).sum())
    if df < 2 or denom <= 0:
        return 0.0, periods
    return max(0.0, (q - df) / denom), periods


# ======================================================================================
# Results
# ======================================================================================
def _unit_layers(table: pl.DataFrame, keys: list[str], segs, by_cols, bins: int, groups: int):
    """Units (one row per key combination) and the three layers of counts over them.

    ``rows``: every row (the estimate); ``labeled``: labeled rows (what the labels show);
    ``fresh``: labeled rows outside the reference window (reconciliation).
    """
    if by_cols:
        table = table.join(segs.select(*by_cols, "_g"), on=by_cols, how="left")
    else:
        table = table.with_columns(_g=pl.lit(0, pl.Int64))
    units = table.select(keys).unique().sort(keys).with_row_index("_u")
    t = table.join(units, on=keys, how="left")
    u = t["_u"].cast(pl.Int64).to_numpy()
    j = t["_g"].fill_null(0).to_numpy() * bins + t["_b"].to_numpy()
    shape = (units.height, groups * bins)
    fresh = (t["_r"] == 0).to_numpy().astype(float)

    def mat(name: str, mask=None) -> sparse.csr_matrix:
        v = t[name].to_numpy()
        return _csr(u, j, v if mask is None else v * mask, shape)

    layers = {
        "rows": _Layer(mat("n1"), mat("n0")),
        "labeled": _Layer(mat("lab1"), mat("lab0"), mat("pos1"), mat("pos0")),
        "fresh": _Layer(
            mat("lab1", fresh), mat("lab0", fresh), mat("pos1", fresh), mat("pos0", fresh)
        ),
    }
    info = t.group_by("_u").agg(
        n=(pl.col("n1") + pl.col("n0")).sum(),
        n_labeled=(pl.col("lab1") + pl.col("lab0")).sum(),
        in_reference=(pl.col("_r") == 1).any(),
        pooled=(pl.col("_g") == 0).all(),
    )
    units = units.join(info, on="_u", how="left").sort("_u")
    return units, layers


def _metric_tables(
    units, layers, engine: _Engine, metrics, confidence
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The estimate table (rows + labeled layers) and the reconciliation rows (fresh layer)."""
    z = st.normal_quantile(confidence)
    out, rec = [], []
    fresh_n = np.asarray(layers["fresh"].a1.sum(1) + layers["fresh"].a0.sum(1)).ravel()
    for m in metrics:
        est = engine.expected(layers["rows"], m)
        se = est.se
        real, real_lo, real_hi = _realized(layers["labeled"], m, engine.bins, confidence)
        lo = np.clip(est.value - z * se, 0, 1)
        hi = np.clip(est.value + z * se, 0, 1)
        out.append(
            units.with_columns(
                metric=pl.lit(m.name),
                estimate=_series(est.value),
                ci_low=_series(lo),
                ci_high=_series(hi),
                realized=_series(real),
                realized_low=_series(real_lo),
                realized_high=_series(real_hi),
                se=_series(se),
                se_sampling=_series(np.sqrt(est.var_sampling)),
                se_calibration=_series(np.sqrt(est.var_calibration)),
                se_wobble=_series(np.sqrt(est.var_wobble)),
            )
        )
        matched = engine.expected(layers["fresh"], m)
        seen, _, _ = _realized(layers["fresh"], m, engine.bins, confidence)
        msd = matched.se
        rec.append(
            units.with_columns(
                metric=pl.lit(m.name),
                n_checked=pl.Series(fresh_n),
                estimated=_series(matched.value),
                realized=_series(seen),
                se=_series(msd),
            ).filter(pl.col("n_checked") > 0)
        )
    return pl.concat(out), pl.concat(rec)


def _interval(row: dict[str, Any]) -> str:
    return prose.interval(row["ci_low"], row["ci_high"], prose.number, 3)


def _series(values) -> pl.Series:
    return pl.Series(np.asarray(values, dtype=float), nan_to_null=True)


class Estimate(Result):
    """Result of :func:`estimate`: each period's estimated quality beside what labels show.

    Attributes
    ----------
    table : polars.DataFrame
        The ``by`` columns, ``period``, ``metric``, ``estimate``, ``ci_low``, ``ci_high``,
        ``n``, ``n_labeled``, ``realized``, ``realized_low``, ``realized_high``,
        ``status``, ``in_reference``, ``calibration``.
    overall : polars.DataFrame
        The same per period over every segment (equal to ``table`` without ``by``).
    uncertainty : polars.DataFrame
        The standard error of each estimate split into its sampling, calibration and
        wobble parts.
    """

    title = "Estimated quality where labels have not arrived"

    @classmethod
    def _build(
        cls,
        table,
        model: _Model,
        *,
        by,
        metrics,
        every,
        confidence,
        reference,
        calibrate,
        has_labels,
        no_score,
        no_time,
    ) -> Estimate:
        engine = model.engine
        groups = engine.p.size // engine.bins
        levels = [by] if not by else [by, []]
        built = {}
        for level in levels:
            units, layers = _unit_layers(
                table, [*level, "_p"], model.segments, level, engine.bins, groups
            )
            built[tuple(level)] = _metric_tables(units, layers, engine, metrics, confidence)
        obj = cls.__new__(cls)
        obj.by = by
        obj.metrics = [m.name for m in metrics]
        obj.every = every
        obj.confidence = confidence
        obj.reference = reference
        obj.calibrate = calibrate
        obj.model = model
        obj.has_labels = has_labels
        obj.no_score = no_score
        obj.no_time = no_time
        seg_table, seg_rec = built[tuple(by)]
        obj._data = obj._finish(seg_table, by)
        obj._rec = obj._finish_rec(seg_rec)
        if by:
            all_table, all_rec = built[()]
            obj._overall = obj._finish(all_table, [])
            obj._overall_rec = obj._finish_rec(all_rec)
        else:
            obj._overall, obj._overall_rec = obj._data, obj._rec
        Result.__init__(obj, obj._data.select([*by, *_PUBLIC]))
        obj.overall = obj._overall.select(_PUBLIC)
        obj.uncertainty = obj._data.select(
            *by, "period", "metric", "se", "se_sampling", "se_calibration", "se_wobble"
        )
        return obj

    def _finish(self, t: pl.DataFrame, by) -> pl.DataFrame:
        starts = self.every.start(t["_p"].to_numpy())
        full = pl.col("n_labeled") >= pl.col("n") * (1 - 1e-12)
        status = (
            pl.when(pl.col("n_labeled") <= 0)
            .then(pl.lit("estimated"))
            .when(full)
            .then(pl.lit("measured"))
            .otherwise(pl.lit("both"))
        )
        order = {m: i for i, m in enumerate(self.metrics)}
        return (
            t.with_columns(
                period=pl.Series(starts).cast(pl.Date),
                status=status,
                calibration=pl.when(pl.col("pooled") & pl.lit(bool(by)))
                .then(pl.lit("pooled"))
                .when(pl.lit(bool(by)))
                .then(pl.lit("segment"))
                .otherwise(pl.lit("overall")),
                _m=pl.col("metric").replace_strict(order, return_dtype=pl.Int64),
            )
            .sort([*by, "_m", "_p"])
            .drop("_m")
        )

    def _finish_rec(self, r: pl.DataFrame) -> pl.DataFrame:
        starts = self.every.start(r["_p"].to_numpy()) if r.height else np.array([], "datetime64[D]")
        return r.with_columns(period=pl.Series(starts, dtype=pl.Date))

    # -- periods and labels ------------------------------------------------------------
    def _label(self, period: dt.date) -> str:
        return self.every.label(self.every.index_of(period))

    # -- analyses ----------------------------------------------------------------------
    def reconcile(
        self,
        *,
        alpha: float = 0.05,
        adjust: str | None = "holm",
        metrics: Sequence[str] | None = None,
    ) -> Reconciliation:
        """Every estimate checked against the labels that have arrived since.

        For each (segment, period, metric) with labeled rows outside the reference, the
        estimate for *those same rows* is compared with what their labels show:
        ``z = (realized - estimated) / se``, where ``se`` is the estimate's prediction
        standard error on those rows (sampling + calibration + wobble, see
        :func:`estimate`), and a two-sided normal p-value. The family of tests is every
        (segment, period, metric) checked; ``adjust="holm"`` (default) controls the
        family-wise error rate over all of them (any dependence), ``"bh"`` the false
        discovery rate. A segment with at least one significant difference is
        **flagged**: its score-outcome relation has changed since the reference (concept
        shift), and its estimates should not be trusted.

        Parameters
        ----------
        alpha
            Level of the adjusted tests.
        adjust
            ``"holm"``, ``"bh"``, ``"bonferroni"`` or None.
        metrics
            The metrics tested (default: all the estimate has).

        Returns
        -------
        Reconciliation
            ``.table``: the ``by`` columns, ``period``, ``metric``, ``n_checked`` (labeled
            rows compared), ``estimated``, ``realized``, ``difference``, ``ci_low``,
            ``ci_high`` (the estimate's interval on those rows), ``covered``, ``z``,
            ``p_value``, ``p_adjusted``, ``significant``; ``.segments`` one row per
            segment with its bias and whether it is flagged; ``.flagged`` the names;
            ``.coverage`` the share of checks whose interval covered the realized value.
        """
        if not 0 < alpha < 1:
            raise InvalidArgumentError(f"alpha={alpha!r} must be between 0 and 1.")
        names = (
            self.metrics if metrics is None else [mreg.get(m).name for m in frames.as_list(metrics)]
        )
        unknown = [m for m in names if m not in self.metrics]
        if unknown:
            raise InvalidArgumentError(
                f"Metric {unknown[0]!r} was not estimated. {did_you_mean(unknown[0], self.metrics)}"
            )
        z = st.normal_quantile(self.confidence)
        r = self._rec.filter(pl.col("metric").is_in(names))
        r = r.with_columns(
            difference=pl.col("realized") - pl.col("estimated"),
            ci_low=(pl.col("estimated") - z * pl.col("se")).clip(0, 1),
            ci_high=(pl.col("estimated") + z * pl.col("se")).clip(0, 1),
        ).with_columns(
            z=pl.when(pl.col("se") > 0).then(pl.col("difference") / pl.col("se")),
        )
        zs = r["z"].fill_null(np.nan).to_numpy()
        from aidebt.distributions import norm_sf

        p = np.where(np.isfinite(zs), 2 * norm_sf(np.abs(zs)), np.nan)
        padj = st.adjust_pvalues(p, adjust)
        r = r.with_columns(
            covered=(pl.col("z").abs() <= z),
            p_value=_series(p),
            p_adjusted=_series(padj),
        ).with_columns(significant=pl.col("p_adjusted") < alpha)
        cols = [
            *self.by,
            "period",
            "metric",
            "n_checked",
            "estimated",
            "realized",
            "difference",
            "ci_low",
            "ci_high",
            "covered",
            "z",
            "p_value",
            "p_adjusted",
            "significant",
        ]
        return Reconciliation(
            r.sort([*self.by, "metric", "period"]).select(cols),
            estimate=self,
            alpha=alpha,
            adjust=adjust,
            tests=int(np.isfinite(p).sum()),
        )

    def calibration(self, n_bins: int = 10) -> Calibration:
        """Reliability of the raw scores in the reference, and its expected calibration error.

        Per calibration segment (with ``by``; the pooled reference otherwise): the labeled
        reference rows in ``n_bins`` equal-width score bins, their mean score, observed
        positive rate (Wilson interval) and the calibrated probability the estimate uses;
        and the ECE of the raw scores per segment, over the same bins, with its interval
        (:func:`aidebt.stats.expected_calibration_error`).
        """
        bins = self.model.engine.bins
        ref = self.model.ref.with_columns(
            # Labeled rows' score sum per fine bin: the bin's mean score times its labeled
            # rows (exact to half a fine bin's width, 1/(2 * bins)).
            lab_score=pl.when(pl.col("n1") + pl.col("n0") > 0)
            .then(pl.col("score_sum") / (pl.col("n1") + pl.col("n0")) * pl.col("lab"))
            .otherwise(0.0),
        )
        keys = self.by
        fine = ref.group_by([*keys, "_b"]).agg(pl.col("lab", "pos", "lab_score").sum())
        if keys:
            fine = fine.join(self.model.segments.select(*keys, "_g"), on=keys, how="left")
        else:
            fine = fine.with_columns(_g=pl.lit(0, pl.Int64))
        j = fine["_g"].to_numpy() * bins + fine["_b"].to_numpy()
        fine = fine.with_columns(cal_sum=pl.Series(self.model.engine.p[j]) * pl.col("lab"))
        sums = fine.rename({"lab": "n", "lab_score": "score_sum"})
        table = reliability(sums, keys, n_bins=n_bins, bins=bins, confidence=self.confidence)
        width = bins // n_bins
        cal = (
            fine.with_columns((pl.col("_b") // width).alias("_k"))
            .group_by([*keys, "_k"])
            .agg(pl.col("cal_sum").sum(), pl.col("lab").sum())
            .select(
                *keys,
                pl.col("_k").cast(pl.Int64).alias("bin"),
                (pl.col("cal_sum") / pl.col("lab")).alias("calibrated"),
            )
        )
        table = table.join(cal, on=[*keys, "bin"], how="left")
        # The ECE of the same coarse bins the table shows, with its interval.
        coarse = _coarse_bins(sums, keys, n_bins, "_b", bins, "n", "pos", "score_sum")
        ece = st.expected_calibration_error(
            coarse, keys, bins=n_bins, size="n", confidence=self.confidence
        )
        return Calibration(table, ece, by=keys, where=self.model.where)

    # -- display -------------------------------------------------------------------------
    def _latest(self, metric: str) -> dict | None:
        """The most recent period of the overall table that still lacks labels."""
        t = self._overall.filter((pl.col("metric") == metric) & (pl.col("status") != "measured"))
        t = t.filter(pl.col("estimate").is_not_null())
        return t.row(-1, named=True) if t.height else None

    def tail(self, metric: str | None = None) -> pl.DataFrame:
        """The periods whose labels have not all arrived, as estimated over all segments:
        ``period``, ``estimate``, ``ci_low``, ``ci_high``, ``n``, ``unlabeled_share``.

        What :meth:`aidebt.decay.Decay.chart` draws with ``estimate=`` beside the
        measured curve (see :func:`aidebt.charts.decay_chart`).

        Examples
        --------
        >>> import aidebt as ad
        >>> from aidebt.estimate import estimate
        >>> logs = ad.datasets.demo(2_000, months=4)
        >>> est = estimate(logs, y_score="score", y_true="y_true", y_pred="y_pred",
        ...                time="ts", reference=("2025-10", "2026-01"))
        >>> est.tail("accuracy").columns
        ['period', 'estimate', 'ci_low', 'ci_high', 'n', 'unlabeled_share']
        """
        name = self.metrics[0] if metric is None else mreg.get(metric).name
        return (
            self._overall.filter(
                (pl.col("metric") == name)
                & (pl.col("status") != "measured")
                & pl.col("estimate").is_not_null()
            )
            .sort("period")
            .select(
                "period",
                "estimate",
                "ci_low",
                "ci_high",
                "n",
                (1 - pl.col("n_labeled") / pl.col("n")).alias("unlabeled_share"),
            )
        )

    def headline(
        self, metric: str | None = None, metric_names: Mapping[str, str] | None = None
    ) -> Headline:
        """One sentence and its key figures for the monthly audit.

        A :class:`~aidebt.results.Headline`, whose figures are ``metric``, ``period``,
        ``estimate``, ``ci_low``, ``ci_high``, ``measured``, ``unlabeled_share``,
        ``coverage``, ``checks`` and ``flagged`` (None when not available). The sentence
        always says *estimate*, and sets the figure already measured on the period's
        labeled rows beside it; ``metric_names`` names the metric in a report's words.
        """
        name = self.metrics[0] if metric is None else mreg.get(metric).name
        said = (metric_names or {}).get(name) or mreg.get(name).display_name
        fmt = (lambda v, d=1: prose.percent(v, d)) if mreg.get(name).in_points else prose.number
        row = self._latest(name)
        rec = self.reconcile(metrics=[name]) if self._rec.height else None
        flagged = rec.flagged if rec is not None else []
        said_flagged = rec.flagged_phrases if rec is not None else []
        coverage = rec.coverage if rec is not None else None
        checks = rec.tests if rec is not None else 0
        figures = {
            "metric": name,
            "period": None,
            "estimate": None,
            "ci_low": None,
            "ci_high": None,
            "measured": None,
            "unlabeled_share": None,
            "coverage": coverage,
            "checks": checks,
            "flagged": flagged,
        }
        if row is None:
            text = (
                f"Every period is fully labeled: the {said} is measured, nothing needs estimating."
            )
            return Headline(text, figures)
        unl = 1 - row["n_labeled"] / row["n"] if row["n"] else None
        figures.update(
            period=self._label(row["period"]),
            estimate=row["estimate"],
            ci_low=row["ci_low"],
            ci_high=row["ci_high"],
            measured=row["realized"],
            unlabeled_share=unl,
        )
        level = f"{self.confidence:.0%}"
        measured = (
            f"; the {prose.count(row['n_labeled'], 'row')} already labeled show "
            f"{fmt(row['realized'])}"
            if row["realized"] is not None and row["n_labeled"]
            else ""
        )
        text = (
            f"Estimated {said} for {figures['period']}, {prose.percent(unl)} of it not yet "
            f"labeled: {fmt(row['estimate'])} ({level} interval "
            f"{prose.interval(row['ci_low'], row['ci_high'], fmt, 1)}), an estimate from the "
            f"model's scores, not a measurement{measured}"
        )
        if checks:
            text += (
                f"; earlier estimates covered the value their labels later showed in "
                f"{coverage:.0%} of {checks} checks"
            )
        if flagged and self.by:
            text += (
                f"; the figure includes {'; '.join(said_flagged)}, whose estimates are not "
                "trustworthy: their scores no longer mean what they meant in the reference"
            )
        elif flagged:
            text += (
                "; it is not trustworthy: the scores no longer mean what they meant in the "
                "reference (an estimate per segment would show where)"
            )
        return Headline(text + ".", figures)

    def summary(self) -> list[str]:
        """Plain-English findings for a stakeholder: the unlabeled tail, then the checks."""
        lines: list[str] = []
        level = f"{self.confidence:.0%}"
        for name in self.metrics[:2]:
            row = self._latest(name)
            if row is None:
                continue
            label = self._label(row["period"])
            unl = 1 - row["n_labeled"] / row["n"] if row["n"] else 0
            measured = (
                f"; the {row['n_labeled']:,.0f} rows already labeled show {row['realized']:.3f}"
                if row["realized"] is not None
                else ""
            )
            lines.append(
                f"{label}: {unl:.0%} of its {row['n']:,.0f} rows are not labeled yet. Estimated "
                f"{name} from the scores: {row['estimate']:.3f} ({level} interval "
                f"{_interval(row)}){measured}."
            )
        flagged = self.reconcile().flagged_phrases if self._rec.height else []
        if lines and flagged and self.by:
            lines.append(
                f"These overall figures include {'; '.join(flagged)}, whose estimates the "
                "labels have contradicted (below): read them with that in mind."
            )
        if not lines:
            lines.append("Every period is fully labeled: nothing needed estimating.")
        if self._rec.height:
            lines.extend(self.reconcile().summary())
        lines.append(
            "These estimates assume that a given score means the same chance of a good "
            f"outcome as in {self.model.where}; only the labels can confirm it, and each "
            "estimate is checked when they arrive."
        )
        return lines

    def notes(self) -> list[str]:
        """Caveats: pooled calibrations, the wobble term, rows without a score or a time."""
        lines = []
        if self.model.pooled_for:
            parts = []
            for r in self.model.pooled_for[:6]:
                name = prose.group_phrase(r, self.by)
                has = (
                    "no labeled reference rows (new since the reference)"
                    if r["ref_n"] == 0
                    else f"{r['ref_n']:,.0f} labeled reference rows ({r['ref_pos']:,.0f} positive)"
                )
                parts.append(f"{name} has {has}")
            more = (
                f" and {len(self.model.pooled_for) - 6} more"
                if len(self.model.pooled_for) > 6
                else ""
            )
            lines.append(
                f"Estimated with the pooled calibration, for lack of reference data of their own "
                f"(a calibration of its own needs {self.model.min_reference} labeled rows with "
                f"{MIN_CLASS} of each class): {'; '.join(parts)}{more}. Their estimates assume "
                "their scores mean what everyone's did; the reconciliation tests it."
            )
        if self.model.tau2_periods < 3:
            lines.append(
                "The reference spans fewer than three periods, so the period-to-period wobble "
                "of the score-outcome relation could not be measured; the intervals assume none."
            )
        elif math.sqrt(self.model.tau2) >= 0.05:
            lines.append(
                f"The score-outcome relation wobbles from period to period in the reference "
                f"(standard deviation {math.sqrt(self.model.tau2):.2f} on the log-odds scale); "
                "the intervals include it."
            )
        if self.no_score:
            lines.append(f"{self.no_score:,.0f} rows have no score and are left out.")
        if self.no_time:
            lines.append(f"{self.no_time:,.0f} rows have no time value and are left out.")
        return lines

    def chart(self, metric: str | None = None, **kwargs: Any):
        """Measured values solid with their intervals, estimates dashed with their band.

        Reconciled periods (labels arrived after the estimate) are marked: a filled dot
        where the estimate's interval covered the realized value, a red cross where it
        did not. The reference window is shaded. See :func:`aidebt.charts.estimate_chart`.
        """
        from aidebt import charts

        name = self.metrics[0] if metric is None else mreg.get(metric).name
        rec = self.reconcile(metrics=[name]).table if self._rec.height else None
        return charts.estimate_chart(
            self.table.filter(pl.col("metric") == name),
            by=self.by,
            metric=name,
            unit=self.every.noun(),
            reconciled=rec,
            **kwargs,
        )

    def _display_table(self) -> pl.DataFrame:
        return self.table.select(
            *self.by,
            "period",
            "metric",
            "estimate",
            "ci_low",
            "ci_high",
            "realized",
            "n",
            "n_labeled",
            "status",
        )


class Reconciliation(Result):
    """Result of :meth:`Estimate.reconcile`: estimates checked against arrived labels.

    Attributes
    ----------
    table : polars.DataFrame
        One row per (segment, period, metric) checked.
    segments : polars.DataFrame
        Per segment and metric: ``checks``, ``significant``, ``mean_estimated``,
        ``mean_realized``, ``mean_difference`` (realized - estimated), ``coverage``, and
        ``flagged`` (any significant check in the segment, whatever the metric).
    flagged : list of str
        Segments whose estimates are biased, e.g. ``"intent=account_recovery"``.
    flagged_phrases : list of str
        The same as sentences name them, e.g. ``"Intent: account_recovery"``.
    coverage : float or None
        Share of checks whose interval covered the realized value.
    coverage_unflagged : float or None
        The same outside the flagged segments: where the assumption held, this is the
        interval's real coverage.
    tests : int
        Size of the multiple-testing family.
    """

    title = "Estimates checked against the labels that arrived"

    def __init__(self, table, *, estimate: Estimate, alpha, adjust, tests) -> None:
        super().__init__(table)
        self.estimate = estimate
        self.by = estimate.by
        self.alpha = alpha
        self.adjust = adjust
        self.tests = tests
        keys = self.by
        checked = table.filter(pl.col("z").is_not_null())
        if not keys:
            checked = checked.with_columns(pl.lit("overall").alias("segment"))
            keys = ["segment"]
        self._keys = keys
        self.coverage = float(checked["covered"].mean()) if checked.height else None
        order = {m: i for i, m in enumerate(estimate.metrics)}
        seg = (
            checked.group_by([*keys, "metric"])
            .agg(
                pl.len().alias("checks"),
                pl.col("significant").sum().alias("significant"),
                pl.col("estimated").mean().alias("mean_estimated"),
                pl.col("realized").mean().alias("mean_realized"),
                pl.col("difference").mean().alias("mean_difference"),
                pl.col("covered").mean().alias("coverage"),
            )
            .with_columns(flagged=(pl.col("significant").sum() > 0).over(keys))
            .with_columns(_m=pl.col("metric").replace_strict(order, return_dtype=pl.Int64))
            .sort([*keys, "_m"])
            .drop("_m")
        )
        self.segments = seg
        names = seg.filter(pl.col("flagged")).select(keys).unique(maintain_order=True)
        self._flagged_keys = names
        self.flagged = [self._name(r) for r in names.iter_rows(named=True)]
        # the same segments as sentences name them
        self.flagged_phrases = [prose.group_phrase(r, self.by) for r in names.iter_rows(named=True)]
        if checked.height and names.height:
            clean = checked.join(names, on=keys, how="anti")
            self.coverage_unflagged = float(clean["covered"].mean()) if clean.height else None
        else:
            self.coverage_unflagged = self.coverage

    def _name(self, row: dict) -> str:
        if not self.by:
            return "overall"
        return " / ".join(f"{k}={row[k]}" for k in self.by)

    def summary(self) -> list[str]:
        """Coverage of the checks, then each flagged segment in plain words."""
        if self.coverage is None:
            return ["No labels have arrived yet outside the reference: nothing to check."]
        level = f"{self.estimate.confidence:.0%}"
        first, last = self.table["period"].min(), self.table["period"].max()
        span = f"{self.estimate._label(first)} to {self.estimate._label(last)}"
        method = _ADJUST_NAMES.get(self.adjust, str(self.adjust))
        n_checks = self.table.filter(pl.col("z").is_not_null()).height
        line = (
            f"Where labels have arrived since ({span}), the estimate's {level} interval "
            f"covered what the labels show in {self.coverage:.0%} of {n_checks} checks"
        )
        if self.flagged and self.coverage_unflagged is not None:
            line += f" ({self.coverage_unflagged:.0%} outside the flagged segments)"
        lines = [line + "."]
        if not self.flagged:
            lines.append(
                f"No segment's estimates are off by more than chance ({self.tests} checks, "
                f"{method} adjustment at {self.alpha:g}): the scores still mean what they meant."
            )
            return lines
        for key, name in zip(self._flagged_keys.iter_rows(), self.flagged_phrases, strict=True):
            match = pl.DataFrame([key], schema=self._flagged_keys.schema, orient="row")
            rows = self.segments.join(match, on=self._keys, how="semi", nulls_equal=True)
            head = rows.row(0, named=True)
            bad = int(rows["significant"].sum())
            where = "there" if self.by else "since the reference"
            lines.append(
                f"{'In ' + name if self.by else 'Overall'}, estimated {head['metric']} "
                f"{head['mean_estimated']:.3f} on average, the labels show "
                f"{head['mean_realized']:.3f}; {bad} of {int(rows['checks'].sum())} checks "
                f"differ beyond chance. The relation between score and outcome has changed "
                f"{where} (concept shift): do not rely on these estimates; wait for labels, or "
                "recalibrate on recent labeled data."
            )
        lines.append(
            f"(z tests of realized minus estimated on the same rows, {method} adjustment over "
            f"{self.tests} segment x period x metric checks at {self.alpha:g}.)"
        )
        return lines

    def _display_table(self) -> pl.DataFrame:
        return self.table.select(
            *self.by,
            "period",
            "metric",
            "estimated",
            "realized",
            "difference",
            "covered",
            "p_adjusted",
            "significant",
        )


_ADJUST_NAMES = {
    "holm": "Holm",
    "bh": "Benjamini-Hochberg",
    "fdr_bh": "Benjamini-Hochberg",
    "bonferroni": "Bonferroni",
    None: "no",
}


class Calibration(Result):
    """Result of :meth:`Estimate.calibration`: reliability of the scores in the reference.

    Attributes
    ----------
    table : polars.DataFrame
        Per (segment, score bin): ``bin``, ``bin_low``, ``bin_high``, ``n``,
        ``mean_score``, ``observed`` with its interval (``ci_low``, ``ci_high``), ``gap``
        and ``calibrated`` (the probability the estimate uses):
        :func:`aidebt.stats.reliability_table`.
    ece : polars.DataFrame
        Expected calibration error of the raw scores per segment, over the table's bins,
        with its interval and bias (:func:`aidebt.stats.expected_calibration_error`).
    """

    title = "Calibration of the scores in the reference"

    def __init__(self, table, ece, *, by, where) -> None:
        super().__init__(table)
        self.ece = ece
        self.by = by
        self.where = where

    def summary(self) -> list[str]:
        lines = []
        for r in self.ece.sort("ece", descending=True).head(5).iter_rows(named=True):
            name = f"In {prose.group_phrase(r, self.by)}" if self.by else "Over all rows"
            lines.append(
                f"{name}, the raw scores are off by {r['ece']:.3f} on average (expected "
                f"calibration error over {r['n']:,.0f} labeled rows of {self.where}); the "
                "estimate uses recalibrated probabilities."
            )
        return lines

    def chart(self, **kwargs: Any):
        """Reliability diagram: observed rate against mean score, the diagonal for reference."""
        from aidebt import charts

        return charts.reliability_chart(self.table, by=self.by, **kwargs)
