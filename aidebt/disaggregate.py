"""Per-group metrics with honest intervals, and disparities against a reference.

One group-by pass (:mod:`aidebt.aggregate`) builds the confusion counts and sums per
intersection of the ``by`` columns; margins and the overall row are re-sums of that small
table; every interval, comparison and adjustment runs on it (:mod:`aidebt.stats`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import narwhals as nw
import numpy as np
import polars as pl

from aidebt import aggregate, frames
from aidebt import metrics as mreg
from aidebt import stats as st
from aidebt.errors import InvalidArgumentError
from aidebt.groups import ALL, check_names, label
from aidebt.prepare import prepare
from aidebt.results import Result

DEFAULT_METRICS = ("accuracy", "fpr", "fnr", "selection_rate")

COLUMNS = [
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "n",
    "group_n",
    "unlabeled",
    "small_n",
    "note",
    "reference_value",
    "diff",
    "diff_ci_low",
    "diff_ci_high",
    "ratio",
    "ratio_ci_low",
    "ratio_ci_high",
    "p_value",
    "p_adjusted",
    "significant",
]
"""The columns of :attr:`Disaggregation.table` after the group columns."""


class Disaggregation(Result):
    """Result of :func:`disaggregate`.

    Attributes
    ----------
    table : polars.DataFrame
        Long and tidy: the ``by`` columns, then ``metric``, ``value``, ``ci_low``,
        ``ci_high``, ``n`` (the metric's denominator), ``group_n`` (weighted rows in the
        group), ``unlabeled``, ``small_n`` (``n < min_n``), ``note`` (why a value is null),
        and the disparity columns ``reference_value``, ``diff`` and ``ratio`` with their
        intervals, ``p_value``, ``p_adjusted`` and ``significant``.
    overall : polars.DataFrame
        ``metric``, ``value``, ``ci_low``, ``ci_high``, ``n`` over all rows.
    unlabeled : float
        Rows whose label is null (counted in ``count`` and ``selection_rate`` only).
    """

    title = "Disaggregated metrics"

    def __init__(
        self,
        table: pl.DataFrame,
        overall: pl.DataFrame,
        *,
        by: list[str],
        metrics: list[str],
        reference: Any,
        confidence: float,
        min_n: int,
        adjust: str | None,
        unlabeled: float,
        estimates: pl.DataFrame | None = None,
        ci: str = "wilson",
    ) -> None:
        super().__init__(table)
        self.overall = overall
        self.by = by
        self.metrics = metrics
        self.reference = reference
        self.confidence = confidence
        self.min_n = min_n
        self.adjust = adjust
        self.unlabeled = unlabeled
        self.ci = ci
        self.estimates = table if estimates is None else estimates  # + "_x", "_se"

    def conf_int(self, confidence: float = 0.95) -> pl.DataFrame:
        """Each group's value with its interval at another level, from the stored estimates.

        No new pass over the data (statsmodels' ``conf_int(alpha)`` pattern): the table
        keeps each estimate's standard error and what a binomial interval needs.

        Examples
        --------
        >>> import aidebt as ad
        >>> r = ad.disaggregate(ad.datasets.demo(2_000, months=2), y_true="y_true",
        ...                     y_pred="y_pred", by="language", metrics=["fnr"])
        >>> r.conf_int(0.8).columns
        ['language', 'metric', 'value', 'ci_low', 'ci_high', 'n']
        """
        from aidebt import stats as st

        level = st.check_confidence(confidence)
        table = mreg.table_conf_int(self.estimates, level, self.ci)
        return table.select(*self.by, "metric", "value", "ci_low", "ci_high", "n")

    def worst(
        self, k: int = 5, metric: str | None = None, *, include_small: bool = False
    ) -> pl.DataFrame:
        """The ``k`` (group, metric) rows that fall furthest short of the reference.

        "Short" follows each metric's direction (a higher FNR is worse, a lower accuracy
        is worse); metrics with no direction (selection_rate) rank by the absolute gap.
        Groups under ``min_n`` are left out unless ``include_small=True``.

        Examples
        --------
        >>> import aidebt as ad
        >>> r = ad.disaggregate(ad.datasets.demo(2_000, months=2), y_true="y_true",
        ...                     y_pred="y_pred", by="language", metrics=["fnr"])
        >>> r.worst(1)["language"].to_list()
        ['ja']
        """
        t = self.table.filter(pl.col("diff").is_not_null())
        if metric is not None:
            t = t.filter(pl.col("metric") == mreg.get(metric).name)
        if not include_small:
            t = t.filter(~pl.col("small_n"))
        # +1 where a higher value is worse, -1 where lower is worse, null: no direction.
        signs = {
            name: (-1.0 if m.higher_is_better else 1.0)
            for name, m in mreg.REGISTRY.items()
            if m.higher_is_better is not None
        }
        direction = pl.col("metric").replace_strict(signs, default=None, return_dtype=pl.Float64)
        harm = (
            pl.when(direction.is_null())
            .then(pl.col("diff").abs())
            .otherwise(direction * pl.col("diff"))
        )
        return (
            t.with_columns(shortfall=harm)
            .sort("shortfall", descending=True, nulls_last=True)
            .head(k)
        )

    def summary(self) -> list[str]:
        """One sentence per significant shortfall, the largest first (caveats: :meth:`notes`)."""
        worst = self.worst(5).filter(pl.col("significant") & (pl.col("shortfall") > 0))
        lines = []
        for row in worst.iter_rows(named=True):
            group = label(row, self.by)
            ratio = f" ({row['ratio']:.1f}x)" if row["ratio"] is not None else ""
            lines.append(
                f"{row['metric']} for {group} is {row['value']:.3f} vs {row['reference_value']:.3f} "
                f"for the reference{ratio}; difference {row['diff']:+.3f} "
                f"[{row['diff_ci_low']:+.3f}, {row['diff_ci_high']:+.3f}], adjusted p={row['p_adjusted']:.2g}."
            )
        return lines

    def notes(self) -> list[str]:
        """Caveats about the data behind the findings (unlabeled rows)."""
        if not self.unlabeled:
            return []
        return [f"{self.unlabeled:,.0f} unlabeled rows count only in count and selection_rate."]

    def suppressed(self, min_n: int | None = None) -> Disaggregation:
        """A copy whose groups under ``min_n`` (default: this result's) show no figures.

        For reports shared outside the team: the small groups stay listed (so readers know
        they exist) but their values, intervals and comparisons are blanked.
        """
        limit = self.min_n if min_n is None else min_n
        small = pl.col("group_n") < limit
        blank = [
            c for c in COLUMNS if c not in ("metric", "group_n", "small_n", "note", "significant")
        ]
        estimates = self.estimates.with_columns(
            *(pl.when(small).then(None).otherwise(pl.col(c)).alias(c) for c in blank),
            *(pl.when(small).then(None).otherwise(pl.col(c)).alias(c) for c in ("_x", "_se")),
            note=pl.when(small)
            .then(pl.lit(f"suppressed: fewer than {limit} rows"))
            .otherwise(pl.col("note")),
        )
        clone = object.__new__(Disaggregation)
        clone.__dict__.update(self.__dict__)
        clone.estimates = estimates  # conf_int() shows no figure of a small group either
        clone.table = estimates.select(self.table.columns)
        return clone

    def chart(self, metric: str | Sequence[str] | None = None, **kwargs: Any):
        """Forest plot: each group's value and interval, the reference as a line.

        Groups under ``min_n`` are drawn hollow and grey. See :func:`aidebt.charts.forest`.
        """
        from aidebt import charts

        names = (
            self.metrics if metric is None else [mreg.get(m).name for m in frames.as_list(metric)]
        )
        return charts.forest(
            self.table.filter(pl.col("metric").is_in(names)), self.by, self.overall, **kwargs
        )

    def _display_table(self) -> pl.DataFrame:
        cols = [
            *self.by,
            "metric",
            "value",
            "ci_low",
            "ci_high",
            "n",
            "small_n",
            "diff",
            "p_adjusted",
        ]
        return self.table.select(cols)


def disaggregate(
    data: Any,
    y_true: str | None = None,
    y_pred: str | None = None,
    by: str | Sequence[str] | None = None,
    metrics: Sequence[str] | Mapping[str, Callable] | None = None,
    *,
    weight: str | None = None,
    y_score: str | None = None,
    reference: Any = "overall",
    confidence: float = 0.95,
    min_n: int = 30,
    ci: str = "wilson",
    adjust: str | None = "holm",
    margins: bool = False,
    pos_label: Any = None,
) -> Disaggregation:
    """Metrics per group, with intervals and a comparison of each group to a reference.

    Parameters
    ----------
    data
        polars DataFrame/LazyFrame, pandas DataFrame, pyarrow Table, DuckDB relation,
        PySpark DataFrame, or a path/glob to parquet or CSV.
    y_true, y_pred
        Label and prediction columns: 0/1 or booleans (or any values with ``pos_label``).
        A null label marks an unlabeled row: it counts in ``count`` and
        ``selection_rate`` only. ``y_true`` may be numeric for ``mean``.
    by
        Group column(s). Groups are the observed intersections; null and NaN form an
        explicit ``(missing)`` group. ``margins=True`` adds each column on its own (other
        columns shown as ``(all)``).
    metrics
        Names from the registry (``count``, ``prevalence``, ``selection_rate``,
        ``accuracy``, ``error_rate``, ``tpr``/``recall``, ``fpr``, ``fnr``, ``tnr``,
        ``precision``/``ppv``, ``npv``, ``fdr``, ``for``, ``f1``, ``mean``,
        ``mean_score``, ``brier``, ``auc``), or a mapping ``{"name": callable}`` of
        scikit-learn style functions ``fn(y_true, y_pred)`` — the documented slow path: it
        collects each group's rows and gives no interval.
    weight
        Frequency weights (non-negative counts): a pre-aggregated table
        (``dept, gender, admitted, n``) gives the same result as its rows.
    y_score
        Score column for ``mean_score``, ``brier`` and ``auc``.
    reference
        ``"overall"`` (default), ``"best"`` (the best group of each metric among groups
        with ``n >= min_n``), or a group: a value when ``by`` is one column, a tuple or a
        ``{column: value}`` mapping otherwise.
    confidence
        Level of every interval (0.95).
    min_n
        A group whose metric denominator (the negatives, for FPR) is below this is flagged
        ``small_n``; it is never the ``"best"`` reference.
    ci
        Interval for proportions: ``"wilson"`` (default), ``"jeffreys"`` or ``"exact"``
        (Clopper-Pearson). Means (``mean``, ``mean_score``, ``brier``) get t intervals;
        ``f1`` the interval of ``ci`` for ``tp / (tp + fp + fn)`` mapped to F1
        (:func:`aidebt.stats.f1_ci`); ``auc`` a logit-scale interval from DeLong's
        standard error, computed exactly from per-(score, label) counts
        (:func:`aidebt.stats.auc_delong`, :func:`aidebt.stats.logit_ci`). Both lie in
        [0, 1].
    adjust
        Multiple-comparison adjustment over the whole family of group x metric tests:
        ``"holm"`` (default), ``"bh"`` (Benjamini-Hochberg) or ``None``.
    pos_label
        The label value that means positive, when labels are not 0/1.

    Returns
    -------
    Disaggregation
        ``.table``, ``.overall``, ``.chart()``, ``.worst(k)``, ``.summary()``,
        ``.to_pandas()``.

    Notes
    -----
    Disparities. ``diff`` is the group's value minus the reference's, ``ratio`` their
    quotient. For proportions against a group the difference has Newcombe's interval and the
    ratio a log interval; against ``"overall"`` the group is compared with the rest of the
    data (the two are independent) and the interval mapped exactly to the overall scale
    (see :func:`aidebt.stats.vs_overall`). Means use Welch's t. ``f1`` and ``auc`` use a
    normal approximation with both standard errors, which is conservative against
    ``"overall"``. ``p_value`` tests no difference; ``p_adjusted`` adjusts it over every
    group and metric; ``significant`` is ``p_adjusted < 1 - confidence``.

    What the interval against ``"overall"`` estimates: the gap between the group and
    everyone in the population the rows were drawn from, whose overall value depends on
    the group's population share. The group's share in the sample is itself an estimate,
    so the interval of a proportion or a mean adds its error (delta method on the joint
    multinomial of group membership and outcome); the test of no gap is unchanged. It
    matters for a large group with a large gap (its coverage was 0.88 without the term,
    in the tests) and hardly at all for a small group.

    Examples
    --------
    >>> import aidebt as ad
    >>> logs = ad.datasets.demo(n_per_month=2_000, months=2)
    >>> r = ad.disaggregate(logs, y_true="y_true", y_pred="y_pred", by="language",
    ...                     metrics=["accuracy", "fnr"])
    >>> r.table.columns[:6]
    ['language', 'metric', 'value', 'ci_low', 'ci_high', 'n']
    """
    by_cols = frames.as_list(by)
    check_names(by_cols, COLUMNS, role="a by column")
    prep = prepare(
        data,
        metrics=DEFAULT_METRICS if metrics is None else metrics,
        y_true=y_true,
        y_pred=y_pred,
        y_score=y_score,
        weight=weight,
        pos_label=pos_label,
        columns={"a by column": by_cols},
        confidence=confidence,
        min_n=min_n,
        allow_custom=True,
    )
    frame, registered, custom, roles = prep.frame, prep.metrics, prep.custom, prep.roles
    confidence = prep.confidence
    sums = prep.aggregate(by_cols)  # the one pass
    stats, auc_counts = sums.stats, sums.score_counts
    levels = _levels(stats, auc_counts, by_cols, margins)
    overall_stats = aggregate.rollup(stats, by_cols, [])
    overall_auc = (
        auc_counts.group_by(["_score", "_label"]).agg(pl.col("_w").sum())
        if auc_counts is not None
        else None
    )
    # Quantiles (p95_latency_ms...) are no re-sum: a pass per grouping reported.
    level_q = [prep.quantiles(by_cols)] + [
        _margin_quantiles(prep, by_cols, col) for col in by_cols if len(levels) > 1
    ]
    overall_q = prep.quantiles([])

    pieces = []
    overall_rows = []
    # Statistics as numpy arrays, read once per table and shared by every metric.
    overall_cols = mreg.StatColumns(overall_stats)
    level_cols = [mreg.StatColumns(level_stats) for level_stats, _ in levels]
    for metric in registered:
        overall = mreg.estimate_rows(
            overall_stats,
            [],
            metric,
            columns=overall_cols,
            confidence=confidence,
            ci=ci,
            auc_table=overall_auc,
            quantiles=overall_q,
        )
        overall_rows.append(_metric_frame([], metric, overall))
        for (level_stats, level_auc), cols, q in zip(levels, level_cols, level_q, strict=True):
            est = mreg.estimate_rows(
                level_stats,
                by_cols,
                metric,
                columns=cols,
                confidence=confidence,
                ci=ci,
                auc_table=level_auc,
                quantiles=q,
            )
            ref_value, cmp = _compare(
                est,
                cols,
                overall_cols,
                overall,
                metric,
                level_stats,
                by_cols,
                reference,
                confidence,
                min_n,
            )
            keys = [level_stats.get_column(k) for k in by_cols]
            extra = {
                "group_n": cols["n"],
                "unlabeled": _unlabeled(level_stats, cols),
                "reference_value": ref_value,
                "diff": cmp["diff"],
                "diff_ci_low": cmp["diff_lo"],
                "diff_ci_high": cmp["diff_hi"],
                "ratio": cmp["ratio"],
                "ratio_ci_low": cmp["ratio_lo"],
                "ratio_ci_high": cmp["ratio_hi"],
                "p_value": cmp["p"],
            }
            pieces.append(_metric_frame(keys, metric, est, extra))
    if custom:
        pieces.extend(_custom_metrics(frame, by_cols, roles, custom, min_n))
        overall_rows.extend(_custom_metrics(frame, [], roles, custom, min_n))

    table = pl.concat(pieces, how="diagonal_relaxed")
    table = table.with_columns(
        pl.lit(None, pl.Float64).alias(c) for c in (*COLUMNS, "_x", "_se") if c not in table.columns
    )
    p_adj = st.adjust_pvalues(table.get_column("p_value").fill_null(np.nan).to_numpy(), adjust)
    table = table.with_columns(
        p_adjusted=pl.Series(p_adj, nan_to_null=True),
    ).with_columns(
        significant=(pl.col("p_adjusted") < 1 - confidence).fill_null(False),
        small_n=pl.col("n") < min_n,
    )
    estimates = table.select(*by_cols, *COLUMNS, "_x", "_se")
    table = estimates.select(*by_cols, *COLUMNS)
    overall_table = pl.concat(overall_rows, how="diagonal_relaxed")
    overall_table = overall_table.with_columns(
        pl.lit(None, pl.Float64).alias(c)
        for c in ("ci_low", "ci_high")
        if c not in overall_table.columns
    ).select("metric", "value", "ci_low", "ci_high", "n", "note")
    unlabeled = float(_unlabeled(overall_stats, overall_cols)[0]) if roles.y_true else 0.0
    return Disaggregation(
        table,
        overall_table,
        by=by_cols,
        metrics=[m.name for m in registered] + list(custom),
        reference=reference,
        confidence=confidence,
        min_n=int(min_n),
        adjust=adjust,
        unlabeled=unlabeled,
        estimates=estimates,
        ci=ci,
    )


def _levels(stats, auc_counts, by_cols, margins):
    """The statistic tables to report: the intersections, plus one per column if margins."""
    levels = [(stats, auc_counts)]
    if margins and len(by_cols) > 1:
        for col in by_cols:
            others = [c for c in by_cols if c != col]
            fill = [pl.lit(ALL).alias(c) for c in others]
            m_stats = (
                aggregate.rollup(stats, by_cols, [col]).with_columns(fill).select(stats.columns)
            )
            m_auc = None
            if auc_counts is not None:
                m_auc = (
                    auc_counts.group_by([col, "_score", "_label"])
                    .agg(pl.col("_w").sum())
                    .with_columns(fill)
                )
            levels.append((m_stats, m_auc))
    return levels


def _margin_quantiles(prep, by_cols, col) -> pl.DataFrame | None:
    """The quantile metrics of one by column's margin rows (``(all)`` in the others)."""
    q = prep.quantiles([col])
    if q is None:
        return None
    return q.with_columns(pl.lit(ALL).alias(c) for c in by_cols if c != col)


def _unlabeled(stats: pl.DataFrame, cols: mreg.StatColumns) -> np.ndarray:
    """Weighted rows without a label, per row of a statistics table."""
    if "labeled" not in stats.columns:
        return np.zeros(stats.height)
    return cols["n"] - cols["labeled"]


def _metric_frame(keys, metric, est, extra=None) -> pl.DataFrame:
    """One metric's rows: the keys, the estimate, and the comparison columns."""
    table = mreg.assemble(keys, metric, est)
    if not extra:
        return table
    return table.hstack(
        [pl.Series(name, np.asarray(a, dtype=float), nan_to_null=True) for name, a in extra.items()]
    )


def _compare(
    est, cols, overall_cols, overall, metric, level_stats, by_cols, reference, confidence, min_n
):
    """The reference value, and the difference and ratio with intervals and the p-value."""
    keys = ("diff", "diff_lo", "diff_hi", "ratio", "ratio_lo", "ratio_hi", "p")
    v, se, x, n = est["value"], est["se"], est["x"], est["den"]
    height = len(v)
    if not metric.comparable:  # a count: no interval, nothing to test
        ref = overall["value"][0] if reference == "overall" else np.nan
        return np.full(height, ref), {k: np.full(height, np.nan) for k in keys}
    if reference == "overall":
        ref_value = np.full(height, overall["value"][0])
        if metric.average:
            # Compare each group with the rest of the data (overall sums minus the group's
            # sums), then map to the overall scale, counting the group share's own error.
            rest = mreg.estimate(_RestColumns(cols, overall_cols), metric, confidence=confidence)
            rest_v = {"value": rest["value"], "_se": rest["se"], "_x": rest["x"], "n": rest["den"]}
            cmp = mreg.compare_to(metric, v, se, x, n, rest_v, confidence)
            total = overall["den"][0]
            with np.errstate(divide="ignore", invalid="ignore"):
                share = np.where(total > 0, n / total, np.nan)
            return ref_value, st.vs_overall(cmp, share, total, confidence)
        ov_value, ov_se = overall["value"][0], overall["se"][0]
        return ref_value, st.two_normals(v, se, ov_value, ov_se, confidence)
    values = pl.DataFrame(
        [
            *(level_stats.get_column(k) for k in by_cols),
            pl.Series("value", v, nan_to_null=True),
            pl.Series("n", np.asarray(n, dtype=float)),
        ]
    )
    ref_idx = _reference_rows(values, metric, by_cols, reference, min_n)
    ref = {"value": v[ref_idx], "_se": se[ref_idx], "_x": x[ref_idx], "n": n[ref_idx]}
    cmp = mreg.compare_to(metric, v, se, x, n, ref, confidence)
    is_ref = np.asarray(ref_idx) == np.arange(height)
    for k in keys:  # a group compared with itself: nothing to test
        cmp[k] = np.where(is_ref, np.nan, cmp[k])
    cmp["diff"] = np.where(is_ref, 0.0, cmp["diff"])
    cmp["ratio"] = np.where(is_ref, 1.0, cmp["ratio"])
    return v[ref_idx], cmp


class _RestColumns(dict):
    """Statistics of "everyone but this group": overall sums minus each group's sums."""

    def __init__(self, group_cols, overall_cols) -> None:
        super().__init__()
        self._group, self._overall = group_cols, overall_cols

    def __missing__(self, name: str) -> np.ndarray:
        self[name] = self._overall[name][0] - self._group[name]
        return self[name]


def _reference_rows(values, metric, by_cols, reference, min_n) -> np.ndarray:
    """Index of the reference row for every row of a level table."""
    if reference == "best":
        eligible = values.with_row_index("_i").filter(
            (pl.col("n") >= min_n) & pl.col("value").is_not_null()
        )
        if eligible.is_empty():
            raise InvalidArgumentError(
                f"reference='best' found no group with at least min_n={min_n} rows for "
                f"{metric.name!r}; lower min_n or name a reference group."
            )
        lowest = metric.higher_is_better is False
        best = eligible.sort("value", descending=not lowest).get_column("_i")[0]
        return np.full(values.height, best)
    target = _reference_key(reference, by_cols)
    # A margin row compares with the margin row of the same column.
    match = values.with_row_index("_i")
    cond = pl.lit(True)
    for col in by_cols:
        is_all = pl.col(col) == ALL
        cond = cond & (is_all | (pl.col(col) == target[col]))
    found = match.filter(cond)
    pattern = [tuple(v == ALL for v in r) for r in values.select(by_cols).iter_rows()]
    ref_for: dict[tuple, int] = {}
    for row in found.iter_rows(named=True):
        ref_for[tuple(row[c] == ALL for c in by_cols)] = row["_i"]
    missing = [p for p in set(pattern) if p not in ref_for]
    if missing:
        levels = (
            values.filter(
                pl.fold(pl.lit(True), lambda a, b: a & b, [pl.col(c) != ALL for c in by_cols])
            )
            .select(by_cols)
            .unique()
            .head(20)
            .rows()
        )
        raise InvalidArgumentError(
            f"reference={reference!r} is not a group in the data. Groups include: {levels}. "
            "Pass one of them, 'overall' or 'best'."
        )
    return np.array([ref_for[p] for p in pattern])


def _reference_key(reference, by_cols) -> dict[str, str]:
    if isinstance(reference, Mapping):
        unknown = [k for k in reference if k not in by_cols]
        if unknown or len(reference) != len(by_cols):
            raise InvalidArgumentError(
                f"reference={dict(reference)!r} must give one value for each by column {by_cols}."
            )
        return {k: str(v) for k, v in reference.items()}
    if isinstance(reference, tuple):
        if len(reference) != len(by_cols):
            raise InvalidArgumentError(
                f"reference={reference!r} must have one value per by column {by_cols}."
            )
        return {c: str(v) for c, v in zip(by_cols, reference, strict=True)}
    if len(by_cols) != 1:
        raise InvalidArgumentError(
            f"reference={reference!r}: with several by columns {by_cols}, name the reference "
            "group as a tuple or a {column: value} mapping, or use 'overall' or 'best'."
        )
    return {by_cols[0]: str(reference)}


def _custom_metrics(frame, by_cols, roles, custom, min_n) -> list[pl.DataFrame]:
    """The slow path: collect each group's labeled rows and call the user's functions."""
    schema = frames.columns(frame)
    cols = [roles.y_true, roles.y_pred] + ([roles.weight] if roles.weight else [])
    rows = (
        frame.select(*(frames.group_key(c, schema[c]) for c in by_cols), *cols)
        .filter(~nw.col(roles.y_true).is_null())
        .collect(backend="polars")
        .to_native()
    )
    parts = rows.partition_by(by_cols, as_dict=True) if by_cols else {(): rows}
    out = []
    for name, fn in custom.items():
        records = []
        for key, part in parts.items():
            y = part.get_column(roles.y_true).to_numpy()
            p = part.get_column(roles.y_pred).to_numpy()
            y, p = roles.binarize(y, "y_true"), roles.binarize(p, "y_pred")
            kwargs = (
                {"sample_weight": part.get_column(roles.weight).to_numpy()} if roles.weight else {}
            )
            try:
                value = float(fn(y, p, **kwargs))
                note = "custom metric: no interval"
            except Exception as exc:  # a user function failing on one group must not hide the rest
                value, note = None, f"custom metric failed: {type(exc).__name__}: {exc}"
            records.append(
                {
                    **dict(zip(by_cols, key, strict=True)),
                    "metric": name,
                    "value": value,
                    "n": float(part.height),
                    "note": note,
                }
            )
        out.append(pl.DataFrame(records))
    return out
