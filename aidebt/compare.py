"""Version comparison: each version against a baseline, overall and per segment.

One group-by pass (:func:`aidebt.aggregate.sufficient_stats`, grouped by the version
column and every segment column at once) builds the small table; the overall and
per-segment rows are re-sums of it. Each version is compared with the baseline on the
same rows' worth of statistics (:mod:`aidebt.stats`): the difference with its interval,
a p-value adjusted over every comparison, and a Simpson guard: a segment-adjusted
(Mantel-Haenszel-weighted) difference that says when the aggregate comparison points the
other way from the comparison within segments.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from aidebt import aggregate, frames, prose
from aidebt import metrics as mreg
from aidebt import stats as st
from aidebt._deprecated import keyword_only
from aidebt.errors import InvalidArgumentError
from aidebt.groups import ALL, check_names, label_expr, overall_expr, pick_baseline
from aidebt.prepare import prepare
from aidebt.results import Result, conform
from aidebt.simpson import VERDICTS
from aidebt.simpson import verdict as simpson_verdict

if TYPE_CHECKING:
    from aidebt.versions import PairedComparison

__all__ = ["Comparison", "PairingWarning", "SimpsonWarning", "compare"]

COLUMNS = [
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "n",
    "baseline",
    "baseline_value",
    "baseline_n",
    "diff",
    "diff_ci_low",
    "diff_ci_high",
    "p_value",
    "p_adjusted",
    "significant",
    "verdict",
    "small_n",
    "adjusted_diff",
    "adjusted_ci_low",
    "adjusted_ci_high",
    "adjusted_by",
    "simpson",
    "note",
]
"""The columns of :attr:`Comparison.table` after the version and segment columns."""


GUARD_COLUMNS = {
    "metric": pl.String,
    "stratifier": pl.String,
    "aggregate_diff": pl.Float64,
    "aggregate_ci_low": pl.Float64,
    "aggregate_ci_high": pl.Float64,
    "adjusted_diff": pl.Float64,
    "adjusted_ci_low": pl.Float64,
    "adjusted_ci_high": pl.Float64,
    "strata": pl.Int64,
    "shift": pl.Float64,
    "shift_se": pl.Float64,
    "shift_p": pl.Float64,
    "verdict": pl.String,
}
"""The columns of :attr:`Comparison.guard` after the version column."""


class SimpsonWarning(UserWarning):
    """The aggregate comparison of two versions disagrees with the segment-adjusted one."""


class PairingWarning(UserWarning):
    """The versions ran on the same items, but the comparison was asked unpaired."""


class Comparison(Result):
    """Result of :func:`compare`.

    Attributes
    ----------
    table : polars.DataFrame
        One row per (version, segment, metric), versions other than the baseline only: the
        version column, the segment columns (``(all)`` where a row does not split on
        one: the overall row has ``(all)`` in every segment column), ``metric``,
        ``value``/``ci_low``/``ci_high``/``n`` for the version, ``baseline``,
        ``baseline_value``, ``baseline_n``, ``diff`` (version minus baseline) with
        ``diff_ci_low``/``diff_ci_high``, ``p_value``, ``p_adjusted`` (over every row),
        ``significant``, ``verdict`` (``better``, ``worse``, ``higher``, ``lower`` or
        ``no clear difference``), ``small_n`` (either side's denominator under
        ``min_n``) and, on overall rows, the Simpson guard: ``adjusted_diff`` with its
        interval, ``adjusted_by`` (the segment column) and ``simpson`` (``reversal``,
        ``attenuation``, ``amplification`` or ``none``), the most serious over the
        segment columns. ``note`` says why a value is missing.
    guard : polars.DataFrame
        The Simpson guard for every (version, metric, segment column): ``stratifier``,
        ``aggregate_diff`` and its interval, ``adjusted_diff`` and its interval,
        ``strata`` (segments with both versions), ``shift`` (aggregate minus adjusted)
        with ``shift_se`` and ``shift_p`` (Holm-adjusted over the guard rows) and
        ``verdict``.
    baseline : str
        The baseline version.
    """

    title = "Version comparison"

    def __init__(
        self,
        table: pl.DataFrame,
        guard: pl.DataFrame,
        *,
        version: str,
        baseline: str,
        by: list[str],
        metrics: list[str],
        confidence: float,
        min_n: int,
        adjust: str | None,
        outcome_hint: dict[str, str],
    ) -> None:
        super().__init__(table)
        self.guard = guard
        self.version = version
        self.baseline = baseline
        self.by = by
        self.metrics = metrics
        self.confidence = confidence
        self.min_n = min_n
        self.adjust = adjust
        self._outcome_hint = outcome_hint

    @property
    def overall(self) -> pl.DataFrame:
        """The overall rows (every segment column ``(all)``)."""
        return self.table.filter(overall_expr(self.by))

    @property
    def reversals(self) -> pl.DataFrame:
        """The guard rows whose aggregate comparison reverses within segments."""
        return self.guard.filter(pl.col("verdict") == "reversal")

    def simpson_hint(self, row: dict[str, Any]) -> str:
        """The ``ad.simpson`` call that examines a guard row."""
        out = self._outcome_hint.get(row["metric"], "<the outcome as a 0/1 column>")
        return (
            f"ad.simpson(data, outcome={out}, compare={self.version!r}, "
            f"strata=[{row['stratifier']!r}], baseline={self.baseline!r})"
        )

    def summary(self) -> list[str]:
        """The overall verdict per version and metric, then segment findings and the guard,
        in words: rates in percent and their differences in points, p-values as readers
        see them (the ``ad.simpson`` call that examines a guard finding is in
        :meth:`notes`).

        Examples
        --------
        >>> import aidebt as ad
        >>> df = ad.datasets.demo(n_per_month=2_000, months=3)
        >>> c = ad.compare(df, version="prompt_version", y_true="y_true", y_pred="y_pred",
        ...                metrics="accuracy")
        >>> c.summary()[0].split(",")[0]
        'Accuracy: v2 89.9% against v1 90.1%'
        """
        lines = []
        for row in self.overall.iter_rows(named=True):
            name = prose.capital(mreg.get(row["metric"]).display_name)
            v = row[self.version]
            if row["diff"] is None:
                lines.append(f"{name}: {v} against {self.baseline}: {row['note']}.")
                continue
            say = prose.Figures(mreg.get(row["metric"]).in_points)
            level = f"{self.confidence:.0%} interval"
            lines.append(
                f"{name}: {v} {say.value(row['value'])} against {self.baseline} "
                f"{say.value(row['baseline_value'])}, a difference of {say.diff(row['diff'])} "
                f"({level} {say.range(row['diff_ci_low'], row['diff_ci_high'])}; "
                f"{prose.pvalue(row['p_adjusted'])} adjusted for the comparisons made): "
                f"{row['verdict']}."
            )
        segments = self.table.filter(~overall_expr(self.by))
        worse = segments.filter(pl.col("significant") & (pl.col("verdict") == "worse")).sort(
            "p_adjusted"
        )
        for row in worse.head(5).iter_rows(named=True):
            say = prose.Figures(mreg.get(row["metric"]).in_points)
            level = f"{self.confidence:.0%} interval"
            where = prose.group_phrase(row, self.by)
            lines.append(
                f"{row[self.version]} is worse than {self.baseline} on "
                f"{mreg.get(row['metric']).display_name} in {where} "
                f"({say.value(row['value'])} against {say.value(row['baseline_value'])}, "
                f"{say.diff(row['diff'])}; "
                f"{level} {say.range(row['diff_ci_low'], row['diff_ci_high'])})."
            )
        for row in self.guard.filter(pl.col("verdict") != "none").iter_rows(named=True):
            lines.append(_guard_sentence(row, self, self.version))
        return lines

    def notes(self) -> list[str]:
        """How to examine each Simpson guard finding (the ``ad.simpson`` call)."""
        return [
            f"{row['metric']} of {row[self.version]} within {row['stratifier']}: examine it "
            f"with {self.simpson_hint(row)}"
            for row in self.guard.filter(pl.col("verdict") != "none").iter_rows(named=True)
        ]

    def chart(self, metric: str | Sequence[str] | None = None, *, width: int = 420):
        """Differences to the baseline with their intervals, per segment; zero as a rule.

        The overall row comes first; the Simpson guard's segment-adjusted difference is
        drawn under it (as ``adjusted for <column>``) so a reversal is visible at once.
        See :func:`aidebt.charts.comparison`.
        """
        from aidebt import charts

        names = (
            self.metrics if metric is None else [mreg.get(m).name for m in frames.as_list(metric)]
        )
        t = self.table.filter(pl.col("metric").is_in(names)).with_columns(
            segment=label_expr(self.by, "segment"),
            kind=pl.lit("difference"),
            version=pl.col(self.version),
        )
        rows = t.select(
            "version",
            "segment",
            "metric",
            "diff",
            "diff_ci_low",
            "diff_ci_high",
            "value",
            "baseline_value",
            "n",
            "baseline_n",
            "kind",
        )
        adjusted = self.guard.filter(pl.col("metric").is_in(names)).select(
            pl.col(self.version).alias("version"),
            ("overall, adjusted for " + pl.col("stratifier")).alias("segment"),
            "metric",
            pl.col("adjusted_diff").alias("diff"),
            pl.col("adjusted_ci_low").alias("diff_ci_low"),
            pl.col("adjusted_ci_high").alias("diff_ci_high"),
            pl.lit(None, pl.Float64).alias("value"),
            pl.lit(None, pl.Float64).alias("baseline_value"),
            pl.lit(None, pl.Float64).alias("n"),
            pl.lit(None, pl.Float64).alias("baseline_n"),
            pl.lit("segment-adjusted").alias("kind"),
        )
        data = pl.concat([rows, adjusted], how="vertical_relaxed")
        order = data.get_column("segment").unique(maintain_order=True).to_list()
        order = sorted(order, key=lambda s: (not s.startswith("overall"), s))
        return charts.comparison(data, baseline=self.baseline, order=order, width=width)

    def _display_table(self) -> pl.DataFrame:
        return self.table.select(
            self.version,
            *self.by,
            "metric",
            "value",
            "baseline_value",
            "diff",
            "diff_ci_low",
            "diff_ci_high",
            "p_adjusted",
            "verdict",
            "simpson",
        )


@keyword_only("weight", after=7)
def compare(
    data: Any,
    version: str,
    baseline: Any = None,
    y_true: str | None = None,
    y_pred: str | None = None,
    metrics: str | Sequence[str] = ("accuracy",),
    by: str | Sequence[str] | None = None,
    *,
    weight: str | None = None,
    y_score: str | None = None,
    confidence: float = 0.95,
    adjust: str | None = "holm",
    min_n: int = 30,
    ci: str = "wilson",
    pos_label: Any = None,
    warn: bool = True,
    item: str | None = None,
    margin: float | Mapping[str, float] | None = None,
    test: str = "midp",
    unpaired: bool = False,
) -> Comparison | PairedComparison:
    """Compare each version with a baseline, overall and per segment, with a Simpson guard.

    With ``item=`` (the column identifying an eval item run under every version) the
    comparison is **paired**: each item is compared with itself, and the result is the
    :class:`aidebt.versions.PairedComparison` of :func:`aidebt.versions.compare_paired`
    (McNemar's test and Newcombe's paired interval per metric and segment, the items
    fixed and broken in ``.flips()``, a non-inferiority verdict against ``margin``).
    Without ``item=``, the versions are independent samples (different rows), as below;
    when a column named like an item id (``item_id``, ``example_id``...) holds the same
    ids under several versions, a :class:`PairingWarning` says that the paired
    comparison applies.

    Parameters
    ----------
    data
        Any input :func:`aidebt.disaggregate` accepts (polars, pandas, arrow, DuckDB,
        Spark, a path).
    version
        The column that names the version (a prompt, a model, an A/B arm).
    baseline
        The version every other one is compared with; default: the first in sorted order.
    y_true, y_pred
        Label and prediction columns (0/1 or booleans; ``pos_label`` for other values).
        Null labels are unlabeled rows, as in :func:`aidebt.disaggregate`.
    metrics
        Registry names (``accuracy``, ``fnr``, ``prevalence``, ``f1``, ``auc``, ...).
    by
        Segment column(s). Each column is compared on its own (one row per level), and
        each is used as a stratifier by the Simpson guard.
    weight
        Frequency-weight column (pre-aggregated data).
    y_score
        Score column, for ``mean_score``, ``brier`` and ``auc``.
    confidence
        Level of every interval.
    adjust
        Multiple-comparison adjustment over every (version, segment, metric) test:
        ``"holm"`` (default), ``"bh"``, ``"bonferroni"`` or ``None``.
    min_n
        Rows where either side's metric denominator is below this are flagged ``small_n``.
    ci
        Interval for each side's proportions (``"wilson"``, ``"jeffreys"``, ``"exact"``).
    warn
        Emit a :class:`SimpsonWarning` when an aggregate comparison reverses within the
        segments of a ``by`` column (and a :class:`PairingWarning`, see above).
    item
        The item-id column: compare paired items (see above). Every 0/1 metric with a
        per-item denominator pairs (``accuracy``, ``error_rate``, ``tpr``, ``fnr``,
        ``tnr``, ``fpr``, ``selection_rate``), and so do the metrics of a numeric column
        (``p95_latency_ms``: a bootstrap over items; ``mean_cost_usd``: paired t).
    margin, test, unpaired
        Paired comparisons only (:func:`aidebt.versions.compare_paired`): the
        non-inferiority margin (one number, or ``{metric: margin}``), McNemar's p-value
        for verdicts (``"midp"``, ``"exact"``, ``"asymptotic"``), and, when the versions
        share no item, ``unpaired=True`` to fall back to this unpaired comparison (with
        a warning) instead of an error.

    Returns
    -------
    Comparison
        ``.table``, ``.overall``, ``.guard``, ``.reversals``, ``.summary()``,
        ``.chart()``; with ``item=``, a :class:`aidebt.versions.PairedComparison`
        (``.table``, ``.overall``, ``.flips()``, ``.coverage``, ``.headline()``).

    Notes
    -----
    Differences of proportions use Newcombe's interval and the pooled z test; means a
    Welch t interval; F1 and AUC a normal interval from both standard errors (the same
    comparisons as :func:`aidebt.disaggregate` against a group). The versions are
    independent samples (different rows).

    The Simpson guard, for each ``by`` column, pools the per-segment differences of a
    proportion into the Mantel-Haenszel risk difference (Sato's variance,
    :func:`aidebt.stats.mh_risk_difference`), and of a mean with the same Cochran weights
    (:func:`aidebt.stats.stratified_mean_difference`); F1 and AUC are not pooled (their
    guard columns stay null). Its verdict compares the conclusion drawn from the aggregate
    with the adjusted one exactly as :func:`aidebt.simpson` does (the same verdict
    function and test): a verdict needs the shift, aggregate minus adjusted difference,
    to be significant by its own test (:func:`aidebt.stats.adjustment_shift`: the delta
    method over each version's rows, which allows for both estimates sharing them), with
    the p-values Holm-adjusted over every guard row (versions x metrics x segment
    columns; Holm 1979) at level ``1 - confidence``; then ``reversal`` when the signs
    differ, ``amplification`` when the adjusted one is larger, ``attenuation`` when it is
    smaller, ``none`` otherwise. Measured by simulation (tests/test_compare.py): tables
    whose versions see the same segment mix are flagged in about 2% of cases (a family of
    four tests, nominal 5%).

    Any verdict other than ``none`` means the versions were served to different segment
    mixes: examine it with :func:`aidebt.simpson`.

    Examples
    --------
    >>> import aidebt as ad
    >>> logs = ad.datasets.demo(n_per_month=3_000, months=3)
    >>> c = ad.compare(logs, version="prompt_version", baseline="v1", y_true="y_true",
    ...                metrics=["prevalence"], by="tier", warn=False)
    >>> c.overall.select("diff", "adjusted_diff").map_rows(lambda r: r[0] < 0 < r[1]).item()
    True
    >>> c.overall["simpson"].item()
    'reversal'

    The same items run under two prompt versions, compared item by item:

    >>> ev = ad.datasets.demo_versions(n_items=400).filter(model_version="m1")
    >>> p = ad.compare(ev, version="prompt_version", baseline="v1", y_true="y_true",
    ...                y_pred="y_pred", item="item_id", metrics=["accuracy", "p95_latency_ms"])
    >>> p.overall.select("metric", "n").rows()
    [('accuracy', 400.0), ('p95_latency_ms', 400.0)]
    """
    if not isinstance(version, str):
        raise InvalidArgumentError(f"version={version!r} must be the name of the version column.")
    if item is not None:
        for name, value, default in (
            ("y_score", y_score, None),
            ("pos_label", pos_label, None),
            ("ci", ci, "wilson"),
        ):
            if value != default:
                raise InvalidArgumentError(
                    f"{name}={value!r} applies to the unpaired comparison only; a paired "
                    f"comparison (item={item!r}) takes 0/1 columns and Newcombe's paired "
                    "interval. Drop it, or drop item= to compare the versions unpaired."
                )
        from aidebt.versions import compare_paired

        return compare_paired(
            data,
            version=version,
            item=item,
            baseline=baseline,
            y_true=y_true,
            y_pred=y_pred,
            metrics=metrics,
            by=by,
            margin=margin,
            confidence=confidence,
            weight=weight,
            test=test,
            adjust=adjust,
            unpaired=unpaired,
        )
    if margin is not None or unpaired:
        raise InvalidArgumentError(
            "margin= and unpaired= apply to a paired comparison: pass item='<item id column>' "
            "when the versions ran on the same items."
        )
    by_cols = frames.as_list(by)
    if version in by_cols:
        raise InvalidArgumentError(
            f"by={by_cols} contains the version column {version!r}; segments must be other columns."
        )
    check_names([version], {*COLUMNS, *GUARD_COLUMNS}, role="the version column")
    check_names(by_cols, {*COLUMNS, *GUARD_COLUMNS}, role="a by column")
    prep = prepare(
        data,
        metrics=metrics,
        y_true=y_true,
        y_pred=y_pred,
        y_score=y_score,
        weight=weight,
        pos_label=pos_label,
        columns={"version": version, "a by column": by_cols},
        confidence=confidence,
        min_n=min_n,
    )
    registered, confidence = prep.metrics, prep.confidence
    keys = [version, *by_cols]
    # The one pass (AUC, not additive, gets each version's overall and margins with it).
    sums = prep.aggregate(keys, auc_sets=[[version], *([version, c] for c in by_cols)])
    stats = sums.stats
    versions = sorted(stats.get_column(version).unique().to_list())
    base = pick_baseline(baseline, versions, version)
    others = [v for v in versions if v != base]
    if not others:
        raise InvalidArgumentError(
            f"Column {version!r} holds only the baseline {base!r}: there is nothing to compare."
        )

    levels = _levels(sums, version, by_cols)
    quantiles = _level_quantiles(prep, version, by_cols)
    pieces, guards = [], []
    for metric in registered:
        per_level, arms = {}, {}
        for level, (level_stats, level_auc) in levels.items():
            values = mreg.evaluate(
                level_stats,
                keys,
                metric,
                confidence=confidence,
                ci=ci,
                auc_table=level_auc,
                quantiles=quantiles[level],
            )
            sq = (
                level_stats.get_column(metric.total_sq).cast(pl.Float64)
                if metric.total_sq
                else pl.Series([None] * values.height, dtype=pl.Float64)
            )
            values = values.with_columns(_sq=sq)
            per_level[level] = _versus_baseline(values, metric, version, by_cols, base, confidence)
            pieces.append(per_level[level])
            arms[level] = values
        if metric.average:  # F1 and AUC have no pooled difference: no guard
            for col in by_cols:
                guards.append(
                    _guard(per_level[None], arms[col], metric, version, base, col, confidence)
                )

    table = pl.concat(pieces, how="diagonal_relaxed")
    p_adj = st.adjust_pvalues(table.get_column("p_value").fill_null(np.nan).to_numpy(), adjust)
    alpha = 1 - confidence
    table = table.with_columns(p_adjusted=pl.Series(p_adj, nan_to_null=True)).with_columns(
        significant=(pl.col("p_adjusted") < alpha).fill_null(False),
        small_n=(pl.min_horizontal("n", "baseline_n") < min_n).fill_null(True),
    )
    table = table.with_columns(verdict=_verdict_expr(registered))
    guard = (
        _judge_guard(pl.concat(guards, how="vertical_relaxed"), alpha)
        if guards
        else conform([], GUARD_COLUMNS, lead={version: pl.String})
    )
    table = _attach_guard(table, guard, version, by_cols)
    table = table.with_columns(baseline=pl.lit(base)).select([version, *by_cols, *COLUMNS])
    order = {m.name: i for i, m in enumerate(registered)}
    table = (
        table.with_columns(_o=pl.col("metric").replace_strict(order, default=0))
        .sort("_o", version, maintain_order=True)
        .drop("_o")
    )

    hints = {
        "prevalence": repr(y_true),
        "selection_rate": repr(y_pred),
        "accuracy": f"<a 0/1 column: {y_true} == {y_pred}>",
    }
    result = Comparison(
        table,
        guard,
        version=version,
        baseline=base,
        by=by_cols,
        metrics=[m.name for m in registered],
        confidence=confidence,
        min_n=int(min_n),
        adjust=adjust,
        outcome_hint=hints,
    )
    if warn:
        for row in result.reversals.iter_rows(named=True):
            warnings.warn(
                SimpsonWarning(
                    f"{_guard_sentence(row, result, version)} Examine it with "
                    f"{result.simpson_hint(row)}."
                ),
                stacklevel=2,
            )
        hint = _pairing_hint(prep.frame, version)
        if hint:
            warnings.warn(PairingWarning(hint), stacklevel=3)
    return result


ITEM_COLUMNS = (
    "item_id",
    "item",
    "example_id",
    "question_id",
    "sample_id",
    "case_id",
    "eval_id",
    "golden_id",
)
"""Column names that :func:`compare` reads as an item id, to say when pairing applies."""


def _pairing_hint(frame, version: str) -> str | None:
    """A sentence when a column named like an item id holds the same ids under several
    versions (one small query, only when such a column exists), else None."""
    import narwhals as nw

    schema = frames.columns(frame)
    found = [c for c in schema if c.lower() in ITEM_COLUMNS and c != version]
    if not found:
        return None
    col = found[0]
    shared = aggregate.collect(
        frame.select(nw.col(col), nw.col(version))
        .unique()
        .group_by(col)
        .agg(nw.len().alias("_v"))
        .filter(nw.col("_v") > 1)
        .select(nw.len().alias("_items"))
    )["_items"].item()
    if not shared:
        return None
    return (
        f"Column {col!r} holds {shared:,} ids found under more than one version of "
        f"{version!r}: the versions ran on the same items. This comparison treats them as "
        f"independent samples (wider intervals, weaker tests, no list of the items broken); "
        f"pass item={col!r} for the paired comparison."
    )


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------
def _levels(sums, version, by_cols):
    """``{None: overall per version, col: per (version, col)}``, with ``(all)`` elsewhere."""
    stats, keys = sums.stats, [version, *by_cols]
    out = {}
    for col in [None, *by_cols]:
        to = [version] if col is None else [version, col]
        fill = [pl.lit(ALL).alias(c) for c in by_cols if c != col]
        s = aggregate.rollup(stats, keys, to).with_columns(fill).select(stats.columns)
        a = sums.auc_table(to)
        out[col] = (s, None if a is None else a.with_columns(fill))
    return out


def _level_quantiles(prep, version, by_cols) -> dict[str | None, pl.DataFrame | None]:
    """The quantile metrics per version (``None``) and per (version, by column): a pass
    each, as quantiles do not re-sum (see :meth:`aidebt.prepare.Prepared.quantiles`)."""
    out: dict[str | None, pl.DataFrame | None] = {}
    for col in [None, *by_cols]:
        q = prep.quantiles([version] if col is None else [version, col])
        if q is not None:
            q = q.with_columns(pl.lit(ALL).alias(c) for c in by_cols if c != col)
        out[col] = q
    return out


def _versus_baseline(values, metric, version, by_cols, base, confidence) -> pl.DataFrame:
    """Each non-baseline row joined to the baseline's row of the same segment, compared."""
    ref = values.filter(pl.col(version) == base).drop(version, "metric", "note")
    ref = ref.rename({c: f"_ref{c}" for c in ref.columns if c not in by_cols})
    rows = values.filter(pl.col(version) != base)
    joined = rows.join(ref, on=by_cols, how="left") if by_cols else rows.join(ref, how="cross")
    nan = np.nan

    def arr(name):
        return joined.get_column(name).cast(pl.Float64).fill_null(nan).to_numpy()

    v, se, x, n = arr("value"), arr("_se"), arr("_x"), arr("n")
    refs = pl.DataFrame(
        {
            "value": arr("_refvalue"),
            "_se": arr("_ref_se"),
            "_x": arr("_ref_x"),
            "n": arr("_refn"),
        }
    )
    if not metric.comparable:  # a count: the difference alone
        cmp = {k: np.full(joined.height, nan) for k in ("diff", "diff_lo", "diff_hi", "p")}
        cmp["diff"] = v - refs["value"].to_numpy()
    else:
        cmp = mreg.compare_to(metric, v, se, x, n, refs, confidence)
    has_ref = ~np.isnan(refs["n"].to_numpy()) & (refs["n"].to_numpy() > 0)
    note = np.where(
        ~has_ref,
        f"no {metric.denominator_name} for the baseline in this segment",
        joined.get_column("note").to_numpy(),
    )

    def col(a):
        return pl.Series(np.asarray(a, dtype=float), nan_to_null=True)

    return joined.select(
        version, *by_cols, "metric", "value", "ci_low", "ci_high", "n"
    ).with_columns(
        baseline_value=col(refs["value"].to_numpy()),
        baseline_n=col(refs["n"].to_numpy()),
        diff=col(cmp["diff"]),
        diff_ci_low=col(cmp["diff_lo"]),
        diff_ci_high=col(cmp["diff_hi"]),
        p_value=col(cmp["p"]),
        note=pl.Series(list(note), dtype=pl.String),
        _x1=col(x),
        _x0=col(arr("_ref_x")),
        _q1=col(arr("_sq")),
        _q0=col(arr("_ref_sq")),
    )


def _nan(v: float | None) -> float:
    return np.nan if v is None else float(v)


def _guard(overall, values, metric, version, base, col, confidence) -> pl.DataFrame:
    """The guard rows of one metric and segment column: per version, the pooled (adjusted)
    difference and the shift test of aggregate minus adjusted
    (:func:`aidebt.stats.adjustment_shift`, over every segment either version was served
    in); verdicts come from :func:`_judge_guard`, over the whole family."""
    total_sq = "_sq" if not metric.binomial else "_x"  # a 0/1 outcome's squares are itself
    sums = values.select(
        version,
        col,
        *(pl.col(c).cast(pl.Float64).fill_null(0.0).alias(c) for c in ("_x", "n")),
        pl.col(total_sq).cast(pl.Float64).fill_null(0.0).alias("_q"),
    )
    baseline = sums.filter(pl.col(version) == base).drop(version)
    rows = []
    for ov in overall.iter_rows(named=True):
        arm = sums.filter(pl.col(version) == ov[version]).drop(version)
        joined = arm.join(
            baseline, on=col, how="full", coalesce=True, suffix="_0", nulls_equal=True
        )
        joined = joined.fill_null(0.0)

        def arr(name, joined=joined):
            return joined.get_column(name).to_numpy().astype(float)

        n1, n0, x1, x0, q1, q0 = (arr(c) for c in ("n", "n_0", "_x", "_x_0", "_q", "_q_0"))
        seen = n1 > 0  # the segments the version was served in
        pooled = mreg.pooled_difference(
            metric, x1[seen], q1[seen], n1[seen], x0[seen], q0[seen], n0[seen], confidence
        )
        shift = st.adjustment_shift(x1, q1, n1, x0, q0, n0)
        rows.append(
            {
                version: ov[version],
                "metric": metric.name,
                "stratifier": col,
                "aggregate_diff": ov["diff"],
                "aggregate_ci_low": ov["diff_ci_low"],
                "aggregate_ci_high": ov["diff_ci_high"],
                "adjusted_diff": pooled["diff"],
                "adjusted_ci_low": pooled["lo"],
                "adjusted_ci_high": pooled["hi"],
                "strata": int(pooled["strata"]),
                "shift": _nan(ov["diff"]) - pooled["diff"],
                "shift_se": shift["se"],
                "shift_p": shift["p"],  # Holm-adjusted over the family by _judge_guard
                "_levels": int(seen.sum()),
            }
        )
    return conform(rows, {**GUARD_COLUMNS, "_levels": pl.Int64}, lead={version: pl.String})


def _judge_guard(guard: pl.DataFrame, alpha: float) -> pl.DataFrame:
    """Verdicts for every guard row: the shift tests of all the rows (versions x metrics x
    segment columns) are one family, Holm-adjusted (Holm 1979), and each row's verdict is
    :func:`aidebt.simpson.verdict` on its adjusted p-value at ``alpha``, the rule of
    :func:`aidebt.simpson`."""
    p = guard.get_column("shift_p").fill_null(np.nan).to_numpy().astype(float)
    ok = np.isfinite(p)
    adjusted = np.full(p.shape, np.nan)
    if ok.any():
        adjusted[ok] = st.adjust_pvalues(p[ok], "holm")
    verdicts = [
        simpson_verdict(
            _nan(row["aggregate_diff"]),
            _nan(row["adjusted_diff"]),
            _nan(row["adjusted_ci_low"]),
            _nan(row["adjusted_ci_high"]),
            row["strata"],
            row["_levels"],
            0.0,
            shift_p=float(p_adj),
            alpha=alpha,
        )[0]
        for row, p_adj in zip(guard.iter_rows(named=True), adjusted, strict=True)
    ]
    frame = guard.with_columns(
        shift_p=pl.Series(adjusted, nan_to_null=True), verdict=pl.Series(verdicts, dtype=pl.String)
    ).drop("_levels")
    return frame.with_columns(
        pl.col(c).fill_nan(None) for c in frame.columns if frame[c].dtype == pl.Float64
    )


def _attach_guard(table, guard, version, by_cols) -> pl.DataFrame:
    """Put the most serious guard verdict (over the by columns) on each overall row."""
    rank = {v: i for i, v in enumerate(VERDICTS)}
    empty = [
        pl.lit(None, pl.Float64).alias(c)
        for c in ("adjusted_diff", "adjusted_ci_low", "adjusted_ci_high")
    ]
    if guard.is_empty():
        return table.drop("_x1", "_x0", "_q1", "_q0").with_columns(
            *empty, adjusted_by=pl.lit(None, pl.String), simpson=pl.lit(None, pl.String)
        )
    worst = (
        guard.with_columns(
            _rank=pl.col("verdict").replace_strict(rank, default=len(VERDICTS)),
            _gap=(pl.col("adjusted_diff") - pl.col("aggregate_diff")).abs().fill_null(-1),
        )
        .sort("_rank", pl.col("_gap"), descending=[False, True])
        .group_by(version, "metric", maintain_order=True)
        .first()
        .select(
            version,
            "metric",
            "adjusted_diff",
            "adjusted_ci_low",
            "adjusted_ci_high",
            pl.col("stratifier").alias("adjusted_by"),
            pl.col("verdict").alias("simpson"),
        )
    )
    joined = table.drop("_x1", "_x0", "_q1", "_q0").join(worst, on=[version, "metric"], how="left")
    guard_cols = ["adjusted_diff", "adjusted_ci_low", "adjusted_ci_high", "adjusted_by", "simpson"]
    return joined.with_columns(
        pl.when(overall_expr(by_cols)).then(pl.col(c)).otherwise(None).alias(c) for c in guard_cols
    )


def _verdict_expr(registered) -> pl.Expr:
    better = {m.name: m.higher_is_better for m in registered}
    direction = pl.col("metric").replace_strict(
        {k: (None if v is None else (1.0 if v else -1.0)) for k, v in better.items()},
        default=None,
        return_dtype=pl.Float64,
    )
    up = pl.col("diff") > 0
    return (
        pl.when(~pl.col("significant"))
        .then(pl.lit("no clear difference"))
        .when(direction.is_null())
        .then(pl.when(up).then(pl.lit("higher")).otherwise(pl.lit("lower")))
        .when((direction > 0) == up)
        .then(pl.lit("better"))
        .otherwise(pl.lit("worse"))
    )


def _guard_sentence(row: dict[str, Any], result: Comparison, version: str) -> str:
    say = prose.Figures(mreg.get(row["metric"]).in_points)
    level = f"{result.confidence:.0%} interval"
    what = {
        "reversal": "reverses",
        "attenuation": "shrinks",
        "amplification": "grows",
    }[row["verdict"]]
    column = prose.readable_column(row["stratifier"])
    return (
        f"Simpson's paradox check ({row['verdict']}): on "
        f"{mreg.get(row['metric']).display_name}, {row[version]} against {result.baseline} "
        f"differs by {say.diff(row['aggregate_diff'])} overall "
        f"({level} {say.range(row['aggregate_ci_low'], row['aggregate_ci_high'])}) but by "
        f"{say.diff(row['adjusted_diff'])} within each {column} "
        f"({level} {say.range(row['adjusted_ci_low'], row['adjusted_ci_high'])}, "
        f"Mantel-Haenszel-weighted): the overall comparison {what} once {column} is held "
        f"fixed, because the versions serve different mixes of {column}."
    )
