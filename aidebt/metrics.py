"""The metric registry: each metric's formula on the sufficient statistics, and its behaviour.

A metric is one of seven kinds:

- ``proportion``: ``numerator / denominator``, two additive counts (accuracy = (tp+tn)/labeled);
  intervals are binomial (Wilson by default);
- ``mean``: a mean of a per-row quantity from its sum and sum of squares (mean, mean_score,
  brier); t intervals;
- ``f1``: 2tp / (2tp + fp + fn); a delta-method standard error under the multinomial
  model, and a binomial interval for F* = tp / (tp + fp + fn) mapped to F1;
- ``auc``: area under the ROC curve from DeLong's placement sums per group (window
  functions over the scores, in the engine); DeLong standard error, logit-scale interval;
- ``count``: the weighted group size; no interval;
- ``ece``: the expected calibration error of a score from per-bin sums (ten equal-width
  bins); the two-step bootstrap interval of :func:`aidebt.stats.ece_interval`, and no
  difference test between groups (see :attr:`Metric.no_comparison`);
- ``quantile``: the q-quantile of a numeric column (``p95_latency_ms``), from a pass of its
  own (:func:`aidebt.aggregate.quantile_pass`: a quantile is not a function of additive
  sums); a distribution-free interval between two order statistics.

Metrics of a numeric column are named after it: ``p50_<column>``, ``p95_<column>``,
``p99_<column>`` (any ``p<percent>_<column>``) for its quantiles and ``mean_<column>`` for
its mean (a ``mean`` metric on the column's sums); :func:`get` reads the name, and
:func:`quantile` builds one with the sketch method for logs that outgrow one machine.

What a kind implies (how it is pooled, compared, trended, which interval it takes) is
declared once, in ``_BEHAVIOUR``, and read through :class:`Metric`'s properties: no other
module branches on the kind.

Estimates are stored with their standard error and what an interval needs (the numerator
and denominator of a proportion); an interval is computed from them at any level on demand
(:func:`conf_int`, statsmodels' ``conf_int(alpha)`` pattern), so a table built at one
level never has to be read back to get another.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from aidebt.aggregate import CAL_POS, CAL_SCORE, CAL_SIZE, CALIBRATION, Roles
from aidebt.errors import InvalidArgumentError, did_you_mean


@dataclass(frozen=True)
class _Behaviour:
    interval: str | None  # how its interval is built (see INTERVALS); None: no interval
    average: bool  # a ratio of additive sums: groups combine as a weighted average
    additive: bool  # pooled over groups or periods by summing its statistics
    binomial: bool  # successes out of trials: a logistic trend, binomial change points
    points: bool  # a share: differences read in percentage points
    compared: bool = True  # has a difference to a reference, with an interval and a test


_BEHAVIOUR = {
    "count": _Behaviour(None, average=False, additive=True, binomial=False, points=False),
    "proportion": _Behaviour("binomial", average=True, additive=True, binomial=True, points=True),
    "mean": _Behaviour("t", average=True, additive=True, binomial=False, points=False),
    "f1": _Behaviour("f1", average=False, additive=True, binomial=False, points=True),
    "auc": _Behaviour("logit", average=False, additive=False, binomial=False, points=True),
    "quantile": _Behaviour("order", average=False, additive=False, binomial=False, points=False),
}
# The expected calibration error: additive per-bin sums, its own interval, no difference
# test (a normal approximation is dishonest near 0, where the plug-in is biased upward).
_BEHAVIOUR["ece"] = _Behaviour(
    "calibration", average=False, additive=True, binomial=False, points=True, compared=False
)


@dataclass(frozen=True)
class Metric:
    """One entry of the registry: its formula on the sufficient statistics and behaviour.

    ``numerator`` and ``denominator`` name the statistics whose sum they are
    (proportions); ``total``, ``total_sq`` and ``size`` name the sums of a mean.
    ``higher_is_better`` is None where neither direction is a failure (prevalence).
    ``bounded``: every value lies in [0, 1] (rates, F1, AUC, Brier score).
    ``probability``: compares the score with the label, so scores must lie in [0, 1]
    (Brier); AUC and the mean score take any finite score.
    ``column``: the numeric column a quantile or a column mean reads; ``q``, ``method``
    and ``relative_error``: a quantile's level and how its pass computes it (see
    :func:`quantile`).

    The properties say what the metric's kind implies, so an analysis asks the metric
    (``m.average``, ``m.trend_model``...) instead of branching on ``m.kind``.
    """

    name: str
    kind: str
    description: str
    higher_is_better: bool | None = None
    numerator: tuple[str, ...] = ()
    denominator: tuple[str, ...] = ()
    denominator_name: str = "rows"
    total: str | None = None
    total_sq: str | None = None
    size: str | None = None
    needs_pred: bool = False
    needs_score: bool = False
    needs_label: bool = True
    binary_label: bool = True
    bounded: bool = False
    probability: bool = False
    column: str | None = None
    q: float | None = None
    method: str = "exact"
    relative_error: float = 0.01

    @property
    def display_name(self) -> str:
        """The metric's name in a sentence: its description's head ('false-negative
        rate'), a column's quantity as described ('95th percentile of latency_ms'), else
        the name read with spaces ('error rate').

        Examples
        --------
        >>> [get(n).display_name for n in ("fnr", "error_rate", "p95_latency_ms", "auc")]
        ['false-negative rate', 'error rate', '95th percentile of latency_ms', 'AUC']
        """
        if ":" in self.description:
            return self.description.split(":")[0]
        if self.column is not None:
            return self.description
        if len(self.name) <= 3:  # an abbreviation: 'AUC', 'F1'
            return self.name.upper()
        return self.name.replace("_", " ")

    @property
    def interval(self) -> str | None:
        """How an interval is built: ``binomial`` (from the counts, ``ci=`` picks Wilson,
        Jeffreys or exact), ``t`` (mean, size - 1 degrees), ``logit`` (estimate +/- z se
        on the logit scale: AUC), ``f1`` (a binomial interval for tp / (tp + fp + fn),
        mapped to F1), ``order`` (a quantile: two order statistics, from its own pass) or
        None (no interval: ``count``)."""
        return _BEHAVIOUR[self.kind].interval

    @property
    def average(self) -> bool:
        """The value is a ratio of two additive sums (a proportion or a mean), so groups
        combine as a weighted average: a group is compared with the rest of the data,
        strata pool (Mantel-Haenszel weights), segments post-stratify."""
        return _BEHAVIOUR[self.kind].average

    @property
    def additive(self) -> bool:
        """Pooled over groups or periods by summing its statistics (not AUC: its placement
        sums hold within a group only, pooled by an inverse-variance mean instead)."""
        return _BEHAVIOUR[self.kind].additive

    @property
    def binomial(self) -> bool:
        """Successes out of trials (a proportion): a logistic trend on the counts, binomial
        change points; other metrics use their values and standard errors."""
        return _BEHAVIOUR[self.kind].binomial

    @property
    def in_points(self) -> bool:
        """A share (rates, F1, AUC): differences read in percentage points."""
        return _BEHAVIOUR[self.kind].points

    @property
    def comparable(self) -> bool:
        """Has a difference to a reference with an interval and a test (every metric but
        ``count`` and ``ece``; :attr:`no_comparison` says why not)."""
        return self.interval is not None and _BEHAVIOUR[self.kind].compared

    @property
    def no_comparison(self) -> str | None:
        """Why the metric has no difference to a reference (None: it has one, or it is a
        count, which needs no reason)."""
        if self.kind != "ece":
            return None
        return (
            f"{self.name} has no difference to a reference: the expected calibration error is "
            "biased upward near 0 (each bin's gap is at least its noise), so a "
            "normal-approximation test between groups would not be honest. Read each group's "
            "own interval, or judge it against a bound (metrics.ece = { max = 0.05 } in the "
            "gates)."
        )

    @property
    def trend_model(self) -> str:
        """The default trend fit: ``logistic`` on the counts of a proportion, else ``linear``."""
        return "logistic" if self.binomial else "linear"

    @property
    def extra_stats(self) -> frozenset[str]:
        """Sums beyond the default set that the aggregation pass must add for this metric."""
        if self.kind == "ece":
            return frozenset({CALIBRATION})
        if self.total == "y_sum" or (self.total or "").startswith("sum("):
            return frozenset({self.total})
        return frozenset()

    @property
    def needs_score_counts(self) -> bool:
        """Needs the placement sums of :func:`aidebt.aggregate.auc_sums` (not additive)."""
        return self.kind == "auc"

    @property
    def needs_quantiles(self) -> bool:
        """Needs its own pass over its column's values (:func:`aidebt.aggregate.quantile_pass`):
        a quantile has no additive statistic, so margins and the overall row are passes of
        their own too (exact), or re-read from bucket counts (sketch)."""
        return self.kind == "quantile"


_POS = ("tp", "fn")
_NEG = ("fp", "tn")
_PRED_POS = ("tp", "fp")
_PRED_NEG = ("tn", "fn")


def _rate(name, desc, num, den, den_name, better) -> Metric:
    """A confusion-matrix rate: needs labels and predictions."""
    return Metric(
        name, "proportion", desc, better, num, den, den_name, needs_pred=True, bounded=True
    )


REGISTRY: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric("count", "count", "weighted number of rows", None, needs_label=False),
        Metric(
            "prevalence",
            "proportion",
            "share of labeled rows whose label is positive",
            None,
            ("pos",),
            ("labeled",),
            "labeled rows",
            bounded=True,
        ),
        Metric(
            "selection_rate",
            "proportion",
            "share of all rows (labeled or not) predicted positive",
            None,
            ("pred_pos",),
            ("n",),
            "rows",
            needs_pred=True,
            needs_label=False,
            bounded=True,
        ),
        _rate(
            "accuracy",
            "share of labeled rows predicted correctly",
            ("tp", "tn"),
            ("tp", "fn", "fp", "tn"),
            "labeled rows",
            True,
        ),
        _rate(
            "error_rate",
            "share of labeled rows predicted wrongly",
            ("fp", "fn"),
            ("tp", "fn", "fp", "tn"),
            "labeled rows",
            False,
        ),
        _rate(
            "tpr",
            "true-positive rate (recall): positives predicted positive",
            ("tp",),
            _POS,
            "positives",
            True,
        ),
        _rate(
            "fpr",
            "false-positive rate: negatives predicted positive",
            ("fp",),
            _NEG,
            "negatives",
            False,
        ),
        _rate(
            "fnr",
            "false-negative rate: positives predicted negative",
            ("fn",),
            _POS,
            "positives",
            False,
        ),
        _rate(
            "tnr",
            "true-negative rate (specificity): negatives predicted negative",
            ("tn",),
            _NEG,
            "negatives",
            True,
        ),
        _rate(
            "precision",
            "positive predictive value: predicted positives that are positive",
            ("tp",),
            _PRED_POS,
            "predicted positives",
            True,
        ),
        _rate(
            "npv",
            "negative predictive value: predicted negatives that are negative",
            ("tn",),
            _PRED_NEG,
            "predicted negatives",
            True,
        ),
        _rate(
            "fdr",
            "false discovery rate: predicted positives that are negative",
            ("fp",),
            _PRED_POS,
            "predicted positives",
            False,
        ),
        _rate(
            "for",
            "false omission rate: predicted negatives that are positive",
            ("fn",),
            _PRED_NEG,
            "predicted negatives",
            False,
        ),
        Metric(
            "f1",
            "f1",
            "harmonic mean of precision and recall",
            True,
            needs_pred=True,
            bounded=True,
        ),
        Metric(
            "mean",
            "mean",
            "mean of a numeric outcome (y_true)",
            None,
            total="y_sum",
            total_sq="y_sq",
            size="labeled",
            denominator_name="labeled rows",
            binary_label=False,
        ),
        Metric(
            "mean_score",
            "mean",
            "mean of the score",
            None,
            total="score_sum",
            total_sq="score_sq",
            size="score_n",
            denominator_name="rows with a score",
            needs_score=True,
            needs_label=False,
        ),
        Metric(
            "brier",
            "mean",
            "Brier score: mean squared difference between score and label",
            False,
            total="brier_sum",
            total_sq="brier_sq",
            size="brier_n",
            denominator_name="labeled rows with a score",
            needs_score=True,
            bounded=True,
            probability=True,
        ),
        Metric(
            "auc",
            "auc",
            "area under the ROC curve of the score",
            True,
            denominator_name="labeled rows with a score",
            needs_score=True,
            bounded=True,
        ),
    ]
}

# The expected calibration error of the score (ten equal-width bins; issue 15 and 20).
REGISTRY["ece"] = Metric(
    "ece",
    "ece",
    "expected calibration error: mean gap between score and observed rate, per score bin",
    False,
    denominator_name="labeled rows with a score",
    needs_score=True,
    bounded=True,
    probability=True,
)


def quantile_name(q: float, column: str) -> str:
    """The name of a quantile metric: ``p95_latency_ms``, ``p99.9_latency_ms``.

    Examples
    --------
    >>> quantile_name(0.95, "latency_ms"), quantile_name(0.999, "cost")
    ('p95_latency_ms', 'p99.9_cost')
    """
    return f"p{round(q * 100, 6):g}_{column}"


def quantile(
    column: str, q: float, *, method: str = "exact", relative_error: float = 0.01
) -> Metric:
    """The q-quantile of a numeric column (latency, tokens, cost) as a metric.

    Pass it in ``metrics=`` where a name would go; ``"p95_latency_ms"`` is
    ``quantile("latency_ms", 0.95)``. ``method="exact"`` (default): the order statistics
    themselves; ``"sketch"``: log-bucket counts in the data's own engine, each figure
    within ``relative_error`` of its exact value (values >= 0), for logs too large to hand
    one column to polars (:func:`aidebt.aggregate.quantile_pass`). A quantity is read as
    a cost: lower is better.

    The interval is distribution-free: the order statistics whose ranks the binomial
    distribution gives (:func:`aidebt.stats.quantile_ci_ranks`; coverage at least the
    level for any continuous distribution). Its standard error, for comparisons, is
    read off that interval (:func:`aidebt.stats.quantile_se`, Bonett & Price 2002).

    Examples
    --------
    >>> m = quantile("latency_ms", 0.95)
    >>> m.name, m.kind, m.q, m.column
    ('p95_latency_ms', 'quantile', 0.95, 'latency_ms')
    """
    if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 < q < 1:
        raise InvalidArgumentError(
            f"q={q!r} must be a number strictly between 0 and 1, e.g. 0.95 for p95."
        )
    if not isinstance(column, str) or not column:
        raise InvalidArgumentError(f"column={column!r} must be the name of a numeric column.")
    if method not in ("exact", "sketch"):
        raise InvalidArgumentError(f"method={method!r} must be 'exact' or 'sketch'.")
    if not 0 < relative_error < 0.5:
        raise InvalidArgumentError(
            f"relative_error={relative_error!r} must be between 0 and 0.5, e.g. 0.01."
        )
    return Metric(
        quantile_name(q, column),
        "quantile",
        f"{round(q * 100, 6):g}th percentile of {column}",
        False,
        denominator_name=f"rows with a {column}",
        needs_label=False,
        binary_label=False,
        column=column,
        q=float(q),
        method=method,
        relative_error=float(relative_error),
    )


def column_mean(column: str) -> Metric:
    """The mean of a numeric column (latency, cost) as a metric: ``mean_<column>``.

    A ``mean`` metric on the column's sum, sum of squares and count, added to the one
    aggregation pass (:func:`aidebt.aggregate.value_sums`): t intervals, Welch
    comparisons, pooled like any mean. Null and NaN values are left out. Read as a cost:
    lower is better.

    Examples
    --------
    >>> m = column_mean("cost_usd")
    >>> m.name, m.kind, m.total
    ('mean_cost_usd', 'mean', 'sum(cost_usd)')
    """
    from aidebt.aggregate import value_sums

    total, squares, count = value_sums(column)
    return Metric(
        f"mean_{column}",
        "mean",
        f"mean of {column}",
        False,
        total=total,
        total_sq=squares,
        size=count,
        denominator_name=f"rows with a {column}",
        needs_label=False,
        binary_label=False,
        column=column,
    )


def quantity_metrics(
    columns: str | Sequence[str | None] | None, quantiles: Sequence[float] = (0.5, 0.95)
) -> list[str]:
    """The metrics that describe numeric columns (latency, cost): each column's mean and
    its percentiles, by name; a column given as None (not measured) is left out.

    Examples
    --------
    >>> quantity_metrics(["latency_ms", None])
    ['mean_latency_ms', 'p50_latency_ms', 'p95_latency_ms']
    """
    names = [columns] if isinstance(columns, str) else [c for c in columns or () if c]
    return [m for c in names for m in (f"mean_{c}", *(quantile_name(q, c) for q in quantiles))]


_QUANTILE_NAME = re.compile(r"^[pP](\d+(?:\.\d+)?)_(.+)$")
_MEAN_NAME = re.compile(r"^mean_(.+)$")


def _of_column(name: str) -> Metric | None:
    """``p95_<column>`` and ``mean_<column>``, or None."""
    found = _QUANTILE_NAME.match(name)
    if found and 0 < float(found.group(1)) < 100:
        return quantile(found.group(2), float(found.group(1)) / 100)
    found = _MEAN_NAME.match(name)
    if found:
        return column_mean(found.group(1))
    return None


ALIASES = {
    "recall": "tpr",
    "sensitivity": "tpr",
    "specificity": "tnr",
    "ppv": "precision",
    "tpr_recall": "tpr",
    "false_positive_rate": "fpr",
    "false_negative_rate": "fnr",
    "roc_auc": "auc",
}


def get(name: str | Metric) -> Metric:
    """Look a metric up by name or alias, with a helpful error.

    A name not in the registry may name a numeric column's metric: ``p95_latency_ms``
    (its 95th percentile, :func:`quantile`), ``mean_cost_usd`` (its mean,
    :func:`column_mean`); the registry comes first (``mean_score`` is the score's mean).
    A :class:`Metric` is returned as it is.

    Examples
    --------
    >>> get("recall").name
    'tpr'
    >>> get("p95_latency_ms").q, get("mean_cost_usd").column
    (0.95, 'cost_usd')
    """
    if isinstance(name, Metric):
        return name
    if not isinstance(name, str):
        raise InvalidArgumentError(f"Metric names are strings; got {name!r}.")
    key = name.lower()
    key = ALIASES.get(key, key)
    if key in REGISTRY:
        return REGISTRY[key]
    of_column = _of_column(name)
    if of_column is not None:
        return of_column
    hint = (
        f" A quantile names its column: {name}_latency_ms for the column latency_ms."
        if re.fullmatch(r"p\d+(\.\d+)?", key)
        else ""
    )
    raise InvalidArgumentError(
        f"Unknown metric {name!r}. {did_you_mean(name, [*REGISTRY, *ALIASES])}{hint} "
        "For your own metric pass metrics={'name': callable}."
    )


def evaluate(
    stats: pl.DataFrame,
    keys: list[str],
    metric: Metric,
    *,
    confidence: float = 0.95,
    ci: str = "wilson",
    auc_table: pl.DataFrame | None = None,
    quantiles: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One metric's value, interval and denominator for every row of a statistics table.

    Returns the keys, then ``metric``, ``value``, ``ci_low``, ``ci_high``, ``n`` (the
    metric's denominator: labeled positives for ``tpr``, negatives for ``fpr``...), ``note``
    (why a value is null) and the estimate columns ``_x`` (numerator of a proportion, total
    of a mean) and ``_se`` (standard error) from which :func:`conf_int` rebuilds the
    interval at any other level.

    Examples
    --------
    >>> import polars as pl
    >>> s = pl.DataFrame({"g": ["a"], "tp": [8], "fp": [1], "fn": [2], "tn": [9], "n": [20]})
    >>> evaluate(s, ["g"], get("fpr"))["value"].to_list()
    [0.1]
    """
    base = [stats.get_column(k) for k in keys]
    est = estimate_rows(
        stats, keys, metric, confidence=confidence, ci=ci, auc_table=auc_table, quantiles=quantiles
    )
    return assemble(base, metric, est)


def estimate_rows(
    stats: pl.DataFrame,
    keys: list[str],
    metric: Metric,
    *,
    columns: Mapping[str, np.ndarray] | None = None,
    confidence: float = 0.95,
    ci: str = "wilson",
    auc_table: pl.DataFrame | None = None,
    quantiles: pl.DataFrame | None = None,
) -> dict[str, np.ndarray]:
    """:func:`estimate` for every row of a statistics table, AUC and quantiles included.

    ``columns`` (a :class:`StatColumns` of ``stats``) lets several metrics share the
    numpy arrays; ``auc_table`` holds the score counts that AUC needs; ``quantiles`` the
    per-group quantiles of the same keys (``Prepared.quantiles``).
    """
    if metric.needs_score_counts:
        if auc_table is None:
            raise ValueError("auc needs its placement sums (aggregate.auc_sums)")
        return estimate_auc(stats, keys, auc_table, confidence)
    if metric.needs_quantiles:
        if quantiles is None:
            raise ValueError(f"{metric.name} needs its quantile table (Prepared.quantiles)")
        return estimate_quantile(stats, keys, metric, quantiles)
    columns = StatColumns(stats) if columns is None else columns
    return estimate(columns, metric, confidence=confidence, ci=ci)


def estimate_all(
    stats: pl.DataFrame,
    keys: list[str],
    metrics: Sequence[Metric],
    *,
    columns: Mapping[str, np.ndarray] | None = None,
    confidence: float = 0.95,
    ci: str = "wilson",
    auc_table: pl.DataFrame | None = None,
    quantiles: pl.DataFrame | None = None,
) -> list[dict[str, np.ndarray]]:
    """:func:`estimate_rows` for several metrics of one table, one estimate per metric.

    The same figures, computed faster: each metric's point estimate from its sums, then
    one interval call for all the metrics that share an interval method (every builder
    works element by element, so concatenating the metrics changes no digit). AUC,
    quantiles and the ECE (whose interval reads per-bin sums) go one by one.
    """
    columns = StatColumns(stats) if columns is None else columns
    out: list[dict[str, np.ndarray]] = []
    batches: dict[str, list[int]] = {}
    for i, metric in enumerate(metrics):
        alone = metric.needs_score_counts or metric.needs_quantiles
        if alone or metric.interval in (None, "calibration"):
            out.append(
                estimate_rows(
                    stats,
                    keys,
                    metric,
                    columns=columns,
                    confidence=confidence,
                    ci=ci,
                    auc_table=auc_table,
                    quantiles=quantiles,
                )
            )
        else:
            out.append(point_estimate(columns, metric))
            batches.setdefault(metric.interval, []).append(i)
    for idx in batches.values():
        joined = (_joined([out[i][k] for i in idx]) for k in ("value", "se", "x", "den"))
        lo, hi = conf_int(metrics[idx[0]], *joined, confidence, ci)
        pieces = _split(lo, hi, parts=[out[i] for i in idx])
        for i, part_lo, part_hi in zip(idx, *pieces, strict=True):
            out[i]["lo"], out[i]["hi"] = part_lo, part_hi
    return out


def _joined(arrays: Sequence[Any]) -> np.ndarray:
    return np.concatenate([np.atleast_1d(np.asarray(a, dtype=float)) for a in arrays])


def _split(*joined: np.ndarray, parts: Sequence[Mapping[str, Any]]) -> list[list[np.ndarray]]:
    """Cut arrays joined over several estimates back into one piece per estimate."""
    cuts = np.cumsum([len(np.atleast_1d(p["value"])) for p in parts])[:-1]
    return [np.split(a, cuts) for a in joined]


def compare_all(
    metrics: Sequence[Metric],
    estimates: Sequence[Mapping[str, Any]],
    refs: Sequence[Mapping[str, Any]],
    confidence: float,
) -> list[dict[str, np.ndarray]]:
    """:func:`compare_to` for several metrics, one call per way of comparing.

    ``estimates[i]`` holds ``value``, ``se``, ``x`` and ``den`` arrays; ``refs[i]`` the
    reference's ``value``, ``_se``, ``_x`` and ``n``, as arrays of the same length. The
    comparisons work element by element, so metrics compared the same way are joined and
    compared at once, with the same digits.
    """
    out: list[dict[str, np.ndarray] | None] = [None] * len(metrics)
    batches: dict[tuple[bool, bool], list[int]] = {}
    for i, metric in enumerate(metrics):
        batches.setdefault((metric.binomial, metric.interval == "t"), []).append(i)
    for idx in batches.values():
        est = [estimates[i] for i in idx]
        v, se, x, n = (_joined([e[k] for e in est]) for k in ("value", "se", "x", "den"))
        ref = {k: _joined([refs[i][k] for i in idx]) for k in ("value", "_se", "_x", "n")}
        cmp = compare_to(metrics[idx[0]], v, se, x, n, ref, confidence)
        names = list(cmp)
        pieces = _split(*(cmp[k] for k in names), parts=est)
        for j, i in enumerate(idx):
            out[i] = {k: pieces[m][j] for m, k in enumerate(names)}
    return out  # type: ignore[return-value]


class StatColumns(dict):
    """Statistics as float numpy arrays, read from a table only when first asked for."""

    def __init__(self, stats: pl.DataFrame) -> None:
        super().__init__()
        self._stats = stats

    def __missing__(self, name: str) -> np.ndarray:
        values = self._stats.get_column(name).cast(pl.Float64).to_numpy()
        self[name] = values
        return values


def point_estimate(columns: Mapping[str, np.ndarray], metric: Metric) -> dict[str, np.ndarray]:
    """A metric's value and standard error from its statistics (any metric but ``auc``).

    Returns arrays ``value``, ``se``, ``den`` (denominator), ``x`` (numerator or total)
    and ``note`` (why a value is undefined). No interval: :func:`conf_int` builds one at
    any level from these.
    """
    from aidebt import stats as st  # local: stats imports nothing from here, keep it that way

    empty_note = f"no {metric.denominator_name} in this group"
    if metric.kind == "ece":
        return _ece_estimate(columns)
    if metric.kind == "count":
        n = np.asarray(columns["n"], dtype=float)
        return {
            "value": n,
            "se": np.full(n.shape, np.nan),
            "den": n,
            "x": n,
            "note": np.full(n.shape, None),
        }
    if metric.kind == "proportion":
        x = sum(np.asarray(columns[c], dtype=float) for c in metric.numerator)
        den = sum(np.asarray(columns[c], dtype=float) for c in metric.denominator)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(den > 0, x / den, np.nan)
        se = st.proportion_se(x, den)
    elif metric.kind == "mean":
        total, total_sq, den = (
            np.asarray(columns[c], dtype=float)
            for c in (metric.total, metric.total_sq, metric.size)
        )
        value, se, _, _ = st.mean_ci(total, total_sq, den)
        x = total
    elif metric.kind == "f1":
        tp, fp, fn, tn = (np.asarray(columns[c], dtype=float) for c in ("tp", "fp", "fn", "tn"))
        value, se = st.f1_with_se(tp, fp, fn, tn)
        den = tp + fp + fn  # rows that are positive or predicted positive
        x = 2 * tp
        empty_note = "no positives and no predicted positives in this group"
    else:
        raise ValueError(f"point_estimate() does not compute {metric.kind!r} metrics")
    undefined = np.isnan(value)
    return {
        "value": value,
        "se": se,
        "den": den,
        "x": x,
        "note": np.where(undefined, empty_note, None),
    }


def _ece_estimate(columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The ECE's value and standard error from the per-bin sums of the pass
    (:func:`aidebt.stats.ece_value`); ``bins`` keeps the sums its interval needs."""
    from aidebt import stats as st

    size, pos, ssum = (
        np.stack([np.asarray(columns[c], dtype=float) for c in names], axis=-1)
        for names in (CAL_SIZE, CAL_POS, CAL_SCORE)
    )
    value, se = st.ece_value(size, pos, ssum)
    den = size.sum(axis=-1)
    return {
        "value": value,
        "se": se,
        "den": den,
        "x": value * den,
        "note": np.where(np.isnan(value), "no labeled rows with a score in this group", None),
        "bins": np.concatenate([size, pos, ssum], axis=-1),
    }


def conf_int(
    metric: Metric,
    value,
    se,
    x,
    den,
    confidence: float = 0.95,
    ci: str = "wilson",
    *,
    bins=None,
) -> tuple[np.ndarray, np.ndarray]:
    """A metric's interval at any level, from its stored estimate (NaN where undefined).

    The metric's :attr:`Metric.interval` says how: ``binomial`` from the numerator ``x``
    and denominator ``den`` (``ci``: ``"wilson"``, ``"jeffreys"`` or ``"exact"``); ``t``
    from ``value`` and ``se`` on ``den - 1`` degrees of freedom; ``logit``: ``value``
    +/- z ``se`` on the logit scale (:func:`aidebt.stats.logit_ci`); ``f1``: from ``x =
    2 tp`` and ``den = tp + fp + fn`` (:func:`aidebt.stats.f1_ci`, ``ci`` picks the
    binomial interval); ``calibration`` (ECE): from ``bins``, the per-bin sums an estimate
    keeps (:func:`aidebt.stats.ece_interval`, seeded, so the same sums give the same
    interval). A metric with another interval adds an entry to :data:`INTERVALS`.

    Examples
    --------
    >>> lo, hi = conf_int(get("accuracy"), [0.9], [0.03], [90], [100], confidence=0.8)
    >>> round(float(lo[0]), 3), round(float(hi[0]), 3)
    (0.855, 0.932)
    """
    value = np.asarray(value, dtype=float)
    if metric.interval is None:
        nan = np.full(value.shape, np.nan)
        return nan, nan.copy()
    build = INTERVALS[metric.interval]
    sums = () if metric.interval != "calibration" else (bins,)
    lo, hi = build(value, se, x, den, confidence, ci, *sums)
    undefined = np.isnan(value)
    return np.where(undefined, np.nan, lo), np.where(undefined, np.nan, hi)


def _binomial_interval(value, se, x, den, confidence, ci):
    from aidebt import stats as st

    return st.proportion_ci(x, den, confidence, ci)


def _t_interval(value, se, x, den, confidence, ci):
    from aidebt import stats as st

    den = np.asarray(den, dtype=float)
    with np.errstate(invalid="ignore"):
        t = st.t_quantile(confidence, np.maximum(den - 1, 1))
    se = np.asarray(se, dtype=float)
    return value - t * se, value + t * se


def _logit_interval(value, se, x, den, confidence, ci):
    from aidebt import stats as st

    return st.logit_ci(value, se, confidence)


def _order_interval(value, se, x, den, confidence, ci):
    from aidebt import stats as st

    # The order statistics of another level are not kept: value +/- z se, with the se read
    # off the exact interval (stats.quantile_se). The table's own level is exact.
    z = st.normal_quantile(confidence)
    se = np.asarray(se, dtype=float)
    return value - z * se, value + z * se


def _f1_interval(value, se, x, den, confidence, ci):
    from aidebt import stats as st

    # x = 2 tp and den = tp + fp + fn (see point_estimate): F* = tp / den is binomial.
    return st.f1_ci(np.asarray(x, dtype=float) / 2, den, confidence, ci)


def _calibration_interval(value, se, x, den, confidence, ci, bins=None):
    from aidebt import stats as st

    if bins is None:
        raise InvalidArgumentError(
            "The ece interval is built from the per-bin sums: pass bins= (an estimate's "
            "'bins', a table's '_bins')."
        )
    bins = np.asarray(bins, dtype=float).reshape(len(np.atleast_1d(value)), 3, -1)
    lo, hi, _ = st.ece_interval(bins[:, 0], bins[:, 1], bins[:, 2], confidence)
    return lo, hi


INTERVALS = {
    "calibration": _calibration_interval,
    "binomial": _binomial_interval,
    "t": _t_interval,
    "logit": _logit_interval,
    "f1": _f1_interval,
    "order": _order_interval,
}
"""Interval builders by :attr:`Metric.interval`: ``fn(value, se, x, den, confidence, ci)``
(``calibration`` also takes the per-bin sums)."""


def table_conf_int(
    table: pl.DataFrame, confidence: float = 0.95, ci: str = "wilson"
) -> pl.DataFrame:
    """``table`` with ``ci_low``/``ci_high`` rebuilt at ``confidence`` from its estimates.

    ``table`` holds rows of :func:`evaluate` (``metric``, ``value``, ``_se``, ``_x``,
    ``n``), of one metric or several; rows of a metric outside the registry (a custom
    callable) get no interval. Nothing is re-aggregated: the estimates carry what every
    interval needs.
    """
    lo = np.full(table.height, np.nan)
    hi = np.full(table.height, np.nan)
    names = table.get_column("metric")
    for name in names.unique().to_list():
        try:
            metric = get(name)
        except InvalidArgumentError:  # a custom callable: no interval
            continue
        rows = (names == name).to_numpy()
        part = table.filter(pl.Series(rows))
        arrays = (
            part.get_column(c).cast(pl.Float64).fill_null(np.nan).to_numpy()
            for c in ("value", "_se", "_x", "n")
        )
        bins = _table_bins(part) if metric.interval == "calibration" else None
        lo[rows], hi[rows] = conf_int(metric, *arrays, confidence, ci, bins=bins)
    return table.with_columns(
        ci_low=pl.Series(lo, nan_to_null=True), ci_high=pl.Series(hi, nan_to_null=True)
    )


def _table_bins(part: pl.DataFrame) -> np.ndarray | None:
    """The per-bin sums kept in a table's ``_bins`` column (NaN rows where blanked)."""
    if "_bins" not in part.columns:
        return None
    width = 3 * len(CAL_SIZE)
    rows = part.get_column("_bins").to_list()
    return np.array([r if r is not None else [np.nan] * width for r in rows], dtype=float)


def estimate(
    columns: Mapping[str, np.ndarray],
    metric: Metric,
    *,
    confidence: float = 0.95,
    ci: str = "wilson",
) -> dict[str, np.ndarray]:
    """A metric from statistics given as numpy arrays (any metric but ``auc``), with its
    interval at ``confidence``.

    Returns arrays ``value``, ``lo``, ``hi``, ``den`` (denominator), ``x`` (numerator or
    total), ``se`` (standard error) and ``note``. Used wherever sums are combined in numpy
    (e.g. "everyone but this group").
    """
    est = point_estimate(columns, metric)
    est["lo"], est["hi"] = conf_int(
        metric, est["value"], est["se"], est["x"], est["den"], confidence, ci, bins=est.get("bins")
    )
    return est


def estimate_auc(stats, keys, auc_table, confidence=0.95) -> dict[str, np.ndarray]:
    """AUC with its DeLong standard error per row of ``stats`` (and its interval).

    ``auc_table``: the placement sums per group (:func:`aidebt.aggregate.auc_sums`), or
    per-(group, score, label) counts (:func:`aidebt.aggregate.score_label_counts`).
    """
    from aidebt import stats as st

    if "_score" in auc_table.columns:
        aucs = st.auc_delong(auc_table, keys)
    else:
        aucs = st.auc_from_sums(auc_table, keys)
    joined = stats.select(keys).join(aucs, on=keys, how="left", nulls_equal=True) if keys else aucs
    value, se, n_pos, n_neg = (
        joined.get_column(c).cast(pl.Float64).fill_null(fill).to_numpy()
        for c, fill in (("_auc", np.nan), ("_auc_se", np.nan), ("_auc_n_pos", 0), ("_auc_n_neg", 0))
    )
    undefined = (n_pos == 0) | (n_neg == 0) | np.isnan(value)
    value = np.where(undefined, np.nan, value)
    metric = REGISTRY["auc"]
    lo, hi = conf_int(metric, value, se, value * (n_pos + n_neg), n_pos + n_neg, confidence)
    return {
        "value": value,
        "lo": lo,
        "hi": hi,
        "den": n_pos + n_neg,
        "x": value * (n_pos + n_neg),
        "se": se,
        "note": np.where(undefined, "AUC needs both positives and negatives in the group", None),
    }


def estimate_quantile(
    stats, keys, metric: Metric, quantiles: pl.DataFrame
) -> dict[str, np.ndarray]:
    """A quantile metric per row of ``stats``, from its rows of a quantile table.

    ``quantiles`` is long (the keys, ``metric``, ``value``, ``ci_low``, ``ci_high``,
    ``coverage``, ``n``), as :meth:`aidebt.prepare.Prepared.quantiles` builds it: the
    exact interval at the pass's level, and a standard error read off it
    (:func:`aidebt.stats.quantile_se`) for comparisons and other levels.
    """
    from aidebt import stats as st

    rows = quantiles.filter(pl.col("metric") == metric.name).drop("metric")
    joined = (
        stats.select(keys).join(rows, on=keys, how="left", nulls_equal=True)
        if keys
        else (
            rows if rows.height else pl.DataFrame({"value": [None]}, schema={"value": pl.Float64})
        )
    )

    def arr(name, fill=np.nan):
        if name not in joined.columns:
            return np.full(joined.height, fill)
        return joined.get_column(name).cast(pl.Float64).fill_null(fill).to_numpy()

    value, lo, hi, n = arr("value"), arr("ci_low"), arr("ci_high"), arr("n", 0.0)
    se = st.quantile_se(lo, hi, arr("coverage"))
    small = ~np.isnan(value) & (np.isnan(lo) | np.isnan(hi))
    note = np.where(
        np.isnan(value),
        f"no {metric.denominator_name} in this group",
        np.where(small, "too few values for a two-sided interval at this level", None),
    )
    return {"value": value, "lo": lo, "hi": hi, "den": n, "x": value * n, "se": se, "note": note}


def assemble(base: list[pl.Series], metric: Metric, est: dict[str, np.ndarray]) -> pl.DataFrame:
    """A metric's table: the key columns ``base``, then the estimate's columns (and
    ``_bins``, the per-bin sums of an ECE, from which its interval is rebuilt)."""
    return stack([(base, metric, est, None)])


def stack(
    parts: Sequence[
        tuple[list[pl.Series], Metric, dict[str, np.ndarray], Mapping[str, Any] | None]
    ],
) -> pl.DataFrame:
    """Several metrics' tables (:func:`assemble`) as one, each column built once.

    Each part is ``(base, metric, estimate, extra)``: ``extra`` maps more column names to
    arrays (NaN as null), the same in every part. The rows are those of
    ``pl.concat([assemble(...) + extra columns, ...])``, without a frame per metric.
    """

    def floats(key, nulls=True):
        values = np.concatenate([np.asarray(est[key], dtype=float) for _, _, est, _ in parts])
        return pl.Series(values, nan_to_null=nulls)

    def extras(name):
        values = np.concatenate([np.asarray(extra[name], dtype=float) for *_, extra in parts])
        return pl.Series(name, values, nan_to_null=True)

    keys = [pl.concat(column) for column in zip(*(base for base, *_ in parts), strict=True)]
    columns = [
        *keys,
        pl.Series(
            "metric",
            [m.name for _, m, est, _ in parts for _ in range(len(est["value"]))],
            dtype=pl.String,
        ),
        floats("value").alias("value"),
        floats("lo").alias("ci_low"),
        floats("hi").alias("ci_high"),
        floats("den", nulls=False).alias("n"),
        pl.Series("note", [v for *_, est, _ in parts for v in est["note"]], dtype=pl.String),
        floats("x", nulls=False).alias("_x"),
        floats("se").alias("_se"),
    ]
    if any("bins" in est for _, _, est, _ in parts):
        bins = [
            row
            for _, _, est, _ in parts
            for row in (est["bins"].tolist() if "bins" in est else [None] * len(est["value"]))
        ]
        columns.append(pl.Series("_bins", bins, dtype=pl.List(pl.Float64)))
    names = parts[0][3] or {}
    columns.extend(extras(name) for name in names)
    return pl.DataFrame(columns)


def unique(items: list[Metric]) -> list[Metric]:
    """The metrics in order, each once (aliases of one metric count once)."""
    seen: dict[str, Metric] = {}
    for m in items:
        seen.setdefault(m.name, m)
    return list(seen.values())


def roles_for(registered, custom, y_true, y_pred, y_score, weight, pos_label) -> Roles:
    """The column roles a set of metrics needs, checking each is given (names what is missing).

    ``custom`` holds user metric callables (they need labels and predictions). Returns the
    :class:`aidebt.aggregate.Roles` of the one aggregation pass.
    """
    for m in registered:
        if m.needs_label and y_true is None:
            raise InvalidArgumentError(
                f"Metric {m.name!r} needs labels: pass y_true='<label column>'."
            )
        if m.needs_pred and y_pred is None:
            raise InvalidArgumentError(
                f"Metric {m.name!r} needs predictions: pass y_pred='<prediction column>'."
            )
        if m.needs_score and y_score is None:
            raise InvalidArgumentError(
                f"Metric {m.name!r} needs scores: pass y_score='<score column>'."
            )
    if custom and (y_true is None or y_pred is None):
        raise InvalidArgumentError("Custom metric callables need both y_true= and y_pred=.")
    binary = bool(custom) or any(
        (m.binary_label and m.needs_label) or m.needs_pred for m in registered
    )
    return Roles(
        y_true=y_true,
        y_pred=y_pred if (custom or any(m.needs_pred for m in registered)) else None,
        y_score=y_score if any(m.needs_score for m in registered) else None,
        weight=weight,
        pos_label=pos_label,
        binary=binary,
        probability=any(m.probability for m in registered),
    )


def compare_to(metric, v, se, x, n, ref, confidence):
    """Compare estimates with their references, the way the metric calls for.

    ``v, se, x, n``: value, standard error, numerator and denominator arrays (as
    :func:`estimate` returns them); ``ref``: the same for the reference, as a table or a
    mapping with ``value``, ``_se``, ``_x`` and ``n``. Rates: Newcombe/log intervals and
    the pooled z test; means: Welch; F1 and AUC: normal approximation; quantiles: the
    difference of two independent sample quantiles, each standard error read off its
    order-statistic interval (:func:`aidebt.stats.quantile_difference`, Price & Bonett
    2002: the same normal construction).
    """
    from aidebt import stats as st

    def arr(name):
        col = ref[name]
        return col.fill_null(np.nan).to_numpy() if isinstance(col, pl.Series) else col

    rv, rse, rx, rn = arr("value"), arr("_se"), arr("_x"), arr("n")
    if metric.binomial:
        return st.two_proportions(x, n, rx, rn, confidence)
    df = st.welch_df(se, n, rse, rn) if metric.interval == "t" else None
    return st.two_normals(v, se, rv, rse, confidence, df=df)


def pooled_difference(metric, x1, q1, n1, x0, q0, n0, confidence) -> dict[str, float]:
    """The difference of two arms pooled over strata, the way the metric calls for.

    Per stratum, each arm's numerator (or total) ``x``, sum of squares ``q`` (means only)
    and denominator ``n``. A proportion: the Mantel-Haenszel risk difference
    (:func:`aidebt.stats.mh_risk_difference`); a mean: the Cochran-weighted difference of
    means (:func:`aidebt.stats.stratified_mean_difference`). Only for metrics that are
    averages (:attr:`Metric.average`).
    """
    from aidebt import stats as st

    if not metric.average:
        raise InvalidArgumentError(f"{metric.name} is not an average: it has no pooled difference.")
    if metric.binomial:
        return st.mh_risk_difference(x1, n1, x0, n0, confidence)
    return st.stratified_mean_difference(x1, q1, n1, x0, q0, n0, confidence)


# --------------------------------------------------------------------------------------
# Fairness summaries across groups (computed by aidebt.fairness; declared here, with the
# registry, so that the gate policy validates fairness.NAME criteria from the core layer)
# --------------------------------------------------------------------------------------
# summary -> (what it compares, which rates, kind)
FAIRNESS_SUMMARIES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "demographic_parity_difference": (
        "largest minus smallest selection rate",
        ("selection_rate",),
        "difference",
    ),
    "demographic_parity_ratio": (
        "smallest over largest selection rate",
        ("selection_rate",),
        "ratio",
    ),
    "equalized_odds_difference": (
        "the larger of the TPR and FPR differences",
        ("tpr", "fpr"),
        "difference",
    ),
    "equalized_odds_ratio": ("the smaller of the TPR and FPR ratios", ("tpr", "fpr"), "ratio"),
    "equal_opportunity_difference": ("largest minus smallest TPR", ("tpr",), "difference"),
    "fpr_difference": ("largest minus smallest FPR", ("fpr",), "difference"),
}


def fairness_summary_needs_labels(summary: str) -> bool:
    """Whether a fairness summary compares a label-based rate (TPR, FPR), not only the
    selection rate.

    Examples
    --------
    >>> fairness_summary_needs_labels("demographic_parity_ratio")
    False
    """
    return any(rate != "selection_rate" for rate in FAIRNESS_SUMMARIES[summary][1])
