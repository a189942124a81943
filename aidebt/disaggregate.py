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

from aidebt import aggregate, frames, prose
from aidebt import metrics as mreg
from aidebt import stats as st
from aidebt.errors import InvalidArgumentError
from aidebt.groups import ALL, check_names, overall_expr, value_key
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
    stats : polars.DataFrame or None
        The sums of the one pass, one row per intersection of the ``by`` columns (what
        :meth:`fairness` reads; None in a :meth:`suppressed` copy).
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
        stats: pl.DataFrame | None = None,
        y_score: str | None = None,
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
        self.stats = stats
        self._y_score = y_score

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

    def _directions(self, good: Mapping[str, str] | None) -> dict[str, float]:
        """+1 where a higher value is worse, -1 where a lower one is; metrics with no bad
        direction are absent. ``good`` (metric -> "higher", "lower", "neither") overrides
        the registry."""
        signs = {
            name: (-1.0 if m.higher_is_better else 1.0)
            for name, m in mreg.REGISTRY.items()
            if m.higher_is_better is not None
        }
        for name, direction in dict(good or {}).items():
            if direction not in ("higher", "lower", "neither"):
                raise InvalidArgumentError(
                    f"good[{name!r}] must be 'higher', 'lower' or 'neither', got {direction!r}."
                )
            key = mreg.get(name).name
            signs.pop(key, None)
            if direction != "neither":
                signs[key] = -1.0 if direction == "higher" else 1.0
        return signs

    def worst(
        self,
        k: int = 5,
        metric: str | None = None,
        *,
        include_small: bool = False,
        good: Mapping[str, str] | None = None,
    ) -> pl.DataFrame:
        """The ``k`` (group, metric) rows that fall furthest short of the reference.

        "Short" follows each metric's bad direction (a higher FNR, a lower accuracy;
        ``good`` overrides it, e.g. ``{"selection_rate": "lower"}``). Rows are ranked by
        evidence and effect together: first the significant shortfalls (adjusted p below
        ``1 - confidence``), by the shortfall their interval assures (the end of the
        difference's interval nearest zero), then the others by their point shortfall.
        Metrics with no bad direction (``selection_rate``, ``prevalence``) are not
        shortfalls and are left out (:meth:`summary` describes them). Groups under
        ``min_n`` are left out unless ``include_small=True``.

        Adds ``shortfall`` (the difference in the bad direction) and ``assured`` (the
        same for the interval's nearer end; null when not significant).

        Examples
        --------
        >>> import aidebt as ad
        >>> r = ad.disaggregate(ad.datasets.demo(2_000, months=2), y_true="y_true",
        ...                     y_pred="y_pred", by="language", metrics=["fnr"])
        >>> r.worst(1)["language"].to_list()
        ['ja']
        """
        signs = self._directions(good)
        t = self.table.filter(pl.col("diff").is_not_null() & pl.col("metric").is_in(list(signs)))
        if metric is not None:
            t = t.filter(pl.col("metric") == mreg.get(metric).name)
        if not include_small:
            t = t.filter(~pl.col("small_n").fill_null(True) & (pl.col("group_n") >= self.min_n))
        sign = pl.col("metric").replace_strict(signs, default=None, return_dtype=pl.Float64)
        near = pl.when(sign > 0).then(pl.col("diff_ci_low")).otherwise(pl.col("diff_ci_high"))
        return (
            t.with_columns(
                shortfall=sign * pl.col("diff"),
                assured=pl.when(pl.col("significant") & (sign * pl.col("diff") > 0))
                .then(sign * near)
                .otherwise(None),
            )
            .sort(
                ["assured", "shortfall", "p_adjusted"],
                descending=[True, True, False],
                nulls_last=True,
            )
            .head(k)
        )

    def summary(
        self,
        k: int = 5,
        *,
        good: Mapping[str, str] | None = None,
        metric_names: Mapping[str, str] | None = None,
    ) -> list[str]:
        """Plain-English findings: the significant shortfalls first, then what differs.

        Up to ``k`` sentences on the groups that fall short of the reference beyond
        chance (significance is judged before the top ``k`` are taken), ranked as in
        :meth:`worst`, groups under ``min_n`` never among them. Then, for each metric
        with no bad direction (``selection_rate``...), the group that differs most
        beyond chance, described rather than ranked. ``metric_names`` names metrics in
        the reader's words (default: the registry's descriptions). Caveats:
        :meth:`notes`.

        Examples
        --------
        >>> import aidebt as ad
        >>> r = ad.disaggregate(ad.datasets.demo(2_000, months=2), y_true="y_true",
        ...                     y_pred="y_pred", by="language", metrics=["fnr"])
        >>> print(r.summary()[0])  # doctest: +ELLIPSIS
        False-negative rate (FNR) for Language: ja is 24.5% against 7.0% overall (3.5 times as high), beyond chance (adjusted p < 0.001): 13.3 to 22.3 points above it (95% interval).
        """
        names = dict(metric_names or {})
        lines = [
            self._sentence(row, names)
            for row in self.worst(k, good=good)
            .filter(pl.col("assured").is_not_null())
            .iter_rows(named=True)
        ]
        described = self.table.filter(
            ~pl.col("metric").is_in(list(self._directions(good)))
            & pl.col("significant")
            & ~pl.col("small_n").fill_null(True)
            & (pl.col("group_n") >= self.min_n)
            & pl.col("diff").is_not_null()
        )
        for part in (
            described.sort("p_adjusted", pl.col("diff").abs(), descending=[False, True])
            .unique("metric", keep="first", maintain_order=True)
            .iter_rows(named=True)
        ):
            lines.append(self._sentence(part, names, ranked=False))
        return lines or [self._nothing_stands_out(names)]

    def _nothing_stands_out(self, names: Mapping[str, str]) -> str:
        """The one sentence when no group differs beyond chance: what was compared."""
        groups = self.table.filter(~overall_expr(self.by)).unique(self.by)
        small = groups.filter(pl.col("group_n") < self.min_n).height
        metrics = prose.and_list(
            names.get(m) or _metric_name(m)
            for m in self.table["metric"].unique(maintain_order=True)
        )
        judged = groups.height - small
        if not judged:
            return (
                f"No group has {self.min_n:,} rows or more, so none is compared with the "
                f"whole ({prose.count(small, 'group')}; min_n={self.min_n:,})."
            )
        text = (
            f"No group differs from the whole beyond chance on {metrics} "
            f"({prose.count(judged, 'group')} compared"
        )
        if small:
            text += f"; {prose.count(small, 'group')} under {self.min_n:,} rows not judged"
        return text + ")."

    def _sentence(self, row: dict[str, Any], names: Mapping[str, str], ranked: bool = True) -> str:
        metric = mreg.REGISTRY.get(row["metric"])
        name = names.get(row["metric"]) or _metric_name(row["metric"])
        name = prose.capital(name)
        shares = metric is not None and metric.in_points and metric.bounded
        value = prose.pct if shares else prose.number
        higher = row["diff"] > 0
        ratio = row.get("ratio")
        as_high = (
            f" ({prose.times(ratio)} as high)"
            if higher and ratio is not None and np.isfinite(ratio) and ratio > 0
            else ""
        )
        group = prose.group_phrase(row, self.by)
        head = f"{name} for {group} is" if ranked else f"{name} differs most for {group}:"
        reference = "overall" if self.reference == "overall" else "for the reference"
        low, high = sorted((abs(row["diff_ci_low"]), abs(row["diff_ci_high"])))
        side = "above" if higher else "below"
        if shares:
            gap = prose.span(low, high, lambda v, d: f"{100 * v:.{d}f}") + " points"
        else:
            gap = prose.span(low, high, prose.number, digits=3)
        return (
            f"{head} {value(row['value'])} against {value(row['reference_value'])} "
            f"{reference}{as_high}, beyond chance (adjusted {prose.pvalue(row['p_adjusted'])}): "
            f"{gap} {side} it (95% interval)."
        )

    def notes(self) -> list[str]:
        """Caveats about the data behind the findings (unlabeled rows, metrics that are not
        compared with the reference)."""
        out = []
        if self.unlabeled:
            out.append(
                f"{self.unlabeled:,.0f} unlabeled rows count only in count and selection_rate."
            )
        for name in self.metrics:
            m = mreg.REGISTRY.get(name)
            if m is not None and m.no_comparison:
                out.append(m.no_comparison)
        return out

    def fairness(self, *, intersections: bool = False, n_boot: int = 2000, seed: int = 0):
        """The fairness summaries of these groups, from this result's own sums (no new pass).

        Demographic parity, equalized odds, equal opportunity and FPR parity per ``by``
        column (and their intersection with ``intersections=True``), each with its
        interval and the four-fifths verdict, at this result's confidence; with ``ece``
        among the metrics, calibration within groups too. Equal to
        :func:`aidebt.fairness.fairness` on the same rows (see it for the method).

        Needs the predictions in the pass: the default metrics (or any that reads
        ``y_pred``, such as ``selection_rate``) put them there; labels add equalized odds.

        Examples
        --------
        >>> import aidebt as ad
        >>> r = ad.disaggregate(ad.datasets.demo(2_000, months=2), y_true="y_true",
        ...                     y_pred="y_pred", by="tier")
        >>> fr = r.fairness(n_boot=400)
        >>> fr.four_fifths["attribute"].to_list()
        ['tier']
        """
        from aidebt.fairness import fairness_from_stats

        if self.stats is None:
            raise InvalidArgumentError(
                "This copy keeps no sums (suppressed() blanks small groups, whose rates a "
                "fairness summary would show): call fairness() on the original result."
            )
        if not self.by:
            raise InvalidArgumentError(
                "fairness() compares groups: this result has none. Pass by=[...] (the "
                "sensitive attributes) to disaggregate."
            )
        if "pred_pos" not in self.stats.columns:
            raise InvalidArgumentError(
                f"fairness() needs the predictions, but none of this result's metrics "
                f"({', '.join(self.metrics)}) reads y_pred, so the pass did not sum them. "
                "Pass y_pred= and add 'selection_rate' (and, with labels, 'tpr' and 'fpr') to "
                "metrics=, or call ad.fairness(data, ...)."
            )
        return fairness_from_stats(
            self.stats,
            self.by,
            confidence=self.confidence,
            intersections=intersections,
            n_boot=n_boot,
            seed=seed,
            score_column=self._y_score,
        )

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
            *(
                pl.when(small).then(None).otherwise(pl.col(c)).alias(c)
                for c in ("_x", "_se", "_bins")
                if c in self.estimates.columns
            ),
            note=pl.when(small)
            .then(pl.lit(f"suppressed: fewer than {limit} rows"))
            .otherwise(pl.col("note")),
        )
        clone = object.__new__(Disaggregation)
        clone.__dict__.update(self.__dict__)
        clone.estimates = estimates  # conf_int() shows no figure of a small group either
        clone.stats = None  # nor fairness(): its group table would show them
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
        ``mean_score``, ``brier``, ``auc``, ``ece``), or a mapping ``{"name": callable}`` of
        scikit-learn style functions ``fn(y_true, y_pred)`` — the documented slow path: it
        collects each group's rows and gives no interval.
    weight
        Frequency weights (non-negative counts): a pre-aggregated table
        (``dept, gender, admitted, n``) gives the same result as its rows.
    y_score
        Score column for ``mean_score``, ``brier``, ``auc`` and ``ece``.
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
        [0, 1]. ``ece``: the two-step bootstrap interval of
        :func:`aidebt.stats.ece_interval` on its ten per-bin sums (seeded: the same sums
        give the same interval).
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
    group and metric; ``significant`` is ``p_adjusted < 1 - confidence``. ``ece`` has no
    difference or test (its plug-in is biased upward near 0, where a normal approximation
    is dishonest): its rows keep the reference value only, and :meth:`Disaggregation.notes`
    says so.

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
    margin_cols = by_cols if margins and len(by_cols) > 1 else []
    # The one pass (AUC, not additive, gets the overall and the margins in the same query).
    sums = prep.aggregate(by_cols, auc_sets=[[], *([c] for c in margin_cols)])
    stats = sums.stats
    levels = _levels(sums, by_cols, margin_cols)
    overall_stats = aggregate.rollup(stats, by_cols, [])
    overall_auc = sums.auc_table([])
    # Quantiles (p95_latency_ms...) are no re-sum: a pass per grouping reported.
    level_q = [prep.quantiles(by_cols)] + [
        _margin_quantiles(prep, by_cols, col) for col in by_cols if len(levels) > 1
    ]
    overall_q = prep.quantiles([])

    # Statistics as numpy arrays, read once per table and shared by every metric; the
    # metrics of a table estimated and compared together (one numpy call per method).
    overall_cols = mreg.StatColumns(overall_stats)
    overall_ests = mreg.estimate_all(
        overall_stats,
        [],
        registered,
        columns=overall_cols,
        confidence=confidence,
        ci=ci,
        auc_table=overall_auc,
        quantiles=overall_q,
    )
    per_level = []
    for (level_stats, level_auc), q in zip(levels, level_q, strict=True):
        cols = mreg.StatColumns(level_stats)
        ests = mreg.estimate_all(
            level_stats,
            by_cols,
            registered,
            columns=cols,
            confidence=confidence,
            ci=ci,
            auc_table=level_auc,
            quantiles=q,
        )
        if reference == "overall":
            compared = _compare_overall(
                registered, ests, overall_ests, cols, overall_cols, confidence
            )
        else:
            compared = [
                _compare(
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
                )  # fmt: skip
                for metric, est, overall in zip(registered, ests, overall_ests, strict=True)
            ]
        keys = [level_stats.get_column(k) for k in by_cols]
        per_level.append((keys, cols["n"], _unlabeled(level_stats, cols), ests, compared))
    parts = []
    overall_parts = []
    for i, metric in enumerate(registered):
        overall_parts.append(([], metric, overall_ests[i], None))
        for keys, group_n, unlabeled_n, ests, compared in per_level:
            ref_value, cmp = compared[i]
            extra = {
                "group_n": group_n,
                "unlabeled": unlabeled_n,
                "reference_value": ref_value,
                "diff": cmp["diff"],
                "diff_ci_low": cmp["diff_lo"],
                "diff_ci_high": cmp["diff_hi"],
                "ratio": cmp["ratio"],
                "ratio_ci_low": cmp["ratio_lo"],
                "ratio_ci_high": cmp["ratio_hi"],
                "p_value": cmp["p"],
            }
            parts.append((keys, metric, ests[i], extra))
    # Every metric's rows in one table, each column built once (not a frame per metric).
    pieces = [mreg.stack(parts)] if parts else []
    overall_rows = [mreg.stack(overall_parts)] if overall_parts else []
    if custom:
        pieces.extend(_custom_metrics(frame, by_cols, roles, custom, min_n))
        overall_rows.extend(_custom_metrics(frame, [], roles, custom, min_n))

    table = pieces[0] if len(pieces) == 1 else pl.concat(pieces, how="diagonal_relaxed")
    # The p-values in row order, from the arrays (a custom metric's rows have none).
    p_values = np.concatenate(
        [
            *(np.asarray(extra["p_value"], dtype=float) for *_, extra in parts),
            np.full(table.height - sum(len(est["value"]) for _, _, est, _ in parts), np.nan),
        ]
    )
    p_adj = st.adjust_pvalues(p_values, adjust)
    derived = ("p_adjusted", "significant", "small_n")
    table = table.with_columns(
        *(
            pl.lit(None, pl.Float64).alias(c)
            for c in (*COLUMNS, "_x", "_se")
            if c not in table.columns and c not in derived
        ),
        p_adjusted=pl.Series(p_adj, nan_to_null=True),
        significant=pl.Series(p_adj < 1 - confidence),  # NaN (no test) is not significant
        small_n=pl.col("n") < min_n,
    )
    kept = [c for c in ("_x", "_se", "_bins") if c in table.columns]  # _bins: ece's sums
    estimates = table.select(*by_cols, *COLUMNS, *kept)
    table = estimates.select(*by_cols, *COLUMNS)
    overall_table = (
        overall_rows[0]
        if len(overall_rows) == 1
        else pl.concat(overall_rows, how="diagonal_relaxed")
    )
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
        stats=stats,
        y_score=y_score,
    )


def _levels(sums, by_cols, margin_cols):
    """The statistic tables to report: the intersections, plus one per margin column."""
    stats = sums.stats
    levels = [(stats, sums.auc_table())]
    for col in margin_cols:
        fill = [pl.lit(ALL).alias(c) for c in by_cols if c != col]
        m_stats = aggregate.rollup(stats, by_cols, [col]).with_columns(fill).select(stats.columns)
        m_auc = sums.auc_table([col])
        levels.append((m_stats, None if m_auc is None else m_auc.with_columns(fill)))
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
            # Its value and standard error only: the comparison builds its own interval.
            rest = mreg.point_estimate(_RestColumns(cols, overall_cols), metric)
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


def _compare_overall(metrics, ests, overall_ests, cols, overall_cols, confidence):
    """:func:`_compare` against ``"overall"`` for every metric of a level at once.

    The same figures: an average is compared with the rest of the data and mapped to the
    overall scale (:func:`aidebt.stats.vs_overall`), any other comparable metric with the
    overall estimate (:func:`aidebt.stats.two_normals`); each step runs once over the
    metrics joined, since every step works element by element.
    """
    out = [None] * len(metrics)
    averages, others = [], []
    for i, (metric, est, overall) in enumerate(zip(metrics, ests, overall_ests, strict=True)):
        if not metric.comparable:
            out[i] = _compare(est, cols, overall_cols, overall, metric, None, [], "overall", 0, 0)
        else:
            (averages if metric.average else others).append(i)
    if averages:
        # Each group against the rest of the data (overall sums minus the group's sums),
        # then mapped to the overall scale, counting the group share's own error.
        rests = [
            mreg.point_estimate(_RestColumns(cols, overall_cols), metrics[i]) for i in averages
        ]
        refs = [{"value": r["value"], "_se": r["se"], "_x": r["x"], "n": r["den"]} for r in rests]
        cmps = mreg.compare_all(
            [metrics[i] for i in averages], [ests[i] for i in averages], refs, confidence
        )
        shares, totals = [], []
        for i in averages:
            n, total = ests[i]["den"], overall_ests[i]["den"][0]
            with np.errstate(divide="ignore", invalid="ignore"):
                shares.append(np.where(total > 0, n / total, np.nan))
            totals.append(np.full(len(shares[-1]), total))
        joined = {k: np.concatenate([c[k] for c in cmps]) for k in cmps[0]}
        mapped = st.vs_overall(joined, np.concatenate(shares), np.concatenate(totals), confidence)
        _scatter(out, averages, ests, overall_ests, mapped)
    if others:
        ref = [overall_ests[i] for i in others]
        sizes = [len(ests[i]["value"]) for i in others]

        def joined(key, of=None):
            if of is None:
                return np.concatenate([np.asarray(ests[i][key], dtype=float) for i in others])
            return np.concatenate([np.full(h, r[key][0]) for h, r in zip(sizes, of, strict=True)])

        cmp = st.two_normals(
            joined("value"), joined("se"), joined("value", ref), joined("se", ref), confidence
        )
        _scatter(out, others, ests, overall_ests, cmp)
    return out


def _scatter(out, idx, ests, overall_ests, joined) -> None:
    """Cut comparisons joined over metrics back into one (reference value, comparison) each."""
    cuts = np.cumsum([len(ests[i]["value"]) for i in idx])[:-1]
    pieces = {k: np.split(np.asarray(v, dtype=float), cuts) for k, v in joined.items()}
    for j, i in enumerate(idx):
        height = len(ests[i]["value"])
        out[i] = (
            np.full(height, overall_ests[i]["value"][0]),
            {k: p[j] for k, p in pieces.items()},
        )


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
    target = _reference_key(reference, by_cols, values)
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


def _reference_key(reference, by_cols, values: pl.DataFrame) -> dict[str, str]:
    """The reference group as each column's text (``groups.value_key``: False, 3 for 3.0)."""

    def key(column: str, value: Any) -> str:
        return value_key(value, values.get_column(column).unique().to_list())

    if isinstance(reference, Mapping):
        unknown = [k for k in reference if k not in by_cols]
        if unknown or len(reference) != len(by_cols):
            raise InvalidArgumentError(
                f"reference={dict(reference)!r} must give one value for each by column {by_cols}."
            )
        return {k: key(k, v) for k, v in reference.items()}
    if isinstance(reference, tuple):
        if len(reference) != len(by_cols):
            raise InvalidArgumentError(
                f"reference={reference!r} must have one value per by column {by_cols}."
            )
        return {c: key(c, v) for c, v in zip(by_cols, reference, strict=True)}
    if len(by_cols) != 1:
        raise InvalidArgumentError(
            f"reference={reference!r}: with several by columns {by_cols}, name the reference "
            "group as a tuple or a {column: value} mapping, or use 'overall' or 'best'."
        )
    return {by_cols[0]: key(by_cols[0], reference)}


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


def _metric_name(name: str) -> str:
    """A registry metric's name for sentences: its description's head, with its acronym."""
    if name not in mreg.REGISTRY:
        return name.replace("_", " ")
    metric = mreg.REGISTRY[name]
    head = metric.description.split(":")[0]
    if ":" not in metric.description:
        return name.replace("_", " ")
    return f"{head} ({name.upper()})" if len(name) <= 4 and name.isalpha() else head
