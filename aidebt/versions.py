"""Versions run on the same items: paired comparisons, quantiles of latency and cost,
and the gap between a model card and the team's own eval.

A prompt or model change is judged on the same eval items run under both versions. Treating
the two runs as independent samples (:func:`aidebt.compare`) throws the pairing away: its
intervals are too wide, its tests too weak, and it cannot say which items the change fixed
and which it broke. :func:`compare_paired` keeps the pairing:

1. **One aggregation in the data's engine.** Each row contributes 0/1 indicators per version
   (in the metric's denominator, a success); a group-by on (item, segment columns) pivots
   them to one row per item with both versions side by side; a second group-by on the
   segment columns counts the four cells of each 2x2 table (both succeed, broken, fixed,
   neither), the items found under one version only, and repeated items. Both group-bys
   are one lazy query, so only the small table of counts leaves the engine; margins and the
   overall row are re-sums of it.
2. **Inference on the small table** (:mod:`aidebt.stats`): Newcombe's paired interval for the
   difference, McNemar's test (exact, mid-p and chi-square), a non-inferiority verdict
   against a margin, Holm-adjusted p-values; paired t for the mean of a numeric column
   (latency, cost) from per-item sums of differences; a bootstrap over items for its
   quantiles (p50, p95), which need the per-item values (one row per item).

:func:`quantile_table` gives exact per-group quantiles with distribution-free intervals (or,
at scale, from a mergeable log-bucket sketch with a stated relative error), and
:func:`benchmark_gap` sets a model card's published figures against the internal eval.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import narwhals as nw
import numpy as np
import polars as pl

from aidebt import aggregate, frames, prose
from aidebt import metrics as mreg
from aidebt import stats as st
from aidebt.errors import (
    ColumnTypeError,
    InvalidArgumentError,
    InvalidValueError,
    did_you_mean,
)
from aidebt.groups import ALL, label, overall_expr, pick_baseline
from aidebt.prepare import check_quantity
from aidebt.results import Headline, Result

__all__ = [
    "BenchmarkGap",
    "Headline",
    "PairedComparison",
    "benchmark_gap",
    "compare_paired",
    "quantile_table",
    "runs_of",
]

# Metrics that are a per-item 0/1 outcome on a set of items fixed by the labels (or by
# nothing), so that the same item sits in the denominator under both versions. Precision,
# NPV, F1 or AUC have denominators that depend on each version's own predictions: they
# have no item-by-item pairing and stay with the unpaired ad.compare.
_PAIRABLE = ("accuracy", "error_rate", "tpr", "fnr", "tnr", "fpr", "selection_rate")
TESTS = {"midp": "p_midp", "exact": "p_exact", "asymptotic": "p_asymptotic"}


@dataclass(frozen=True)
class _Spec:
    """One paired 0/1 metric: its name, direction, and the row conditions that define it."""

    name: str
    higher_is_better: bool | None
    kind: str  # a registry metric name, or "outcome"


# --------------------------------------------------------------------------------------
# Paired comparison
# --------------------------------------------------------------------------------------
class PairedComparison(Result):
    """Result of :func:`compare_paired`.

    Attributes
    ----------
    table : polars.DataFrame
        One row per (candidate version, segment, metric): the version column (the
        candidate), the segment columns (``(all)`` where a row does not split on one; the
        overall row has ``(all)`` everywhere), ``metric``, ``kind`` (``rate``, ``mean`` or
        ``quantile``), ``baseline``, ``baseline_value``, ``value`` (the candidate's),
        ``diff`` (candidate minus baseline) with ``diff_ci_low``/``diff_ci_high``, ``n``
        (paired items), the 2x2 cells ``both``, ``broken``, ``fixed``, ``neither`` (rates;
        ``broken`` = the baseline succeeded and the candidate failed, for a metric where
        lower is better the other way round), ``p_value`` (the chosen McNemar test for
        rates, paired t for means, bootstrap for quantiles), ``p_exact``, ``p_midp``,
        ``chi2`` (McNemar, rates only), ``p_adjusted`` (over every row), ``significant``,
        ``verdict`` (``better``, ``worse``, ``higher``, ``lower``, ``no clear
        difference``), ``margin`` and ``noninferiority`` (``non-inferior``, ``inferior``,
        ``inconclusive``; null without a margin), ``only_baseline`` and
        ``only_candidate`` (items found under one version only, left out of the pairs),
        and ``note``.
    coverage : polars.DataFrame
        Per candidate: ``paired`` items, ``only_baseline``, ``only_candidate``.
    """

    title = "Paired version comparison"

    def __init__(self, table: pl.DataFrame, coverage: pl.DataFrame, **info: Any) -> None:
        super().__init__(table)
        self.coverage = coverage
        self.version: str = info["version"]
        self.item: str = info["item"]
        self.baseline: str = info["baseline"]
        self.candidates: list[str] = info["candidates"]
        self.by: list[str] = info["by"]
        self.metrics: list[str] = info["metrics"]
        self.confidence: float = info["confidence"]
        self.test: str = info["test"]
        self._specs: list[_Spec] = info["specs"]
        self._fine: pl.DataFrame = info["fine"]
        self._flips_query = info["flips_query"]

    # -- views -------------------------------------------------------------------------
    @property
    def overall(self) -> pl.DataFrame:
        """The overall rows (every segment column ``(all)``)."""
        return self.table.filter(overall_expr(self.by))

    def flips(
        self, metric: str | None = None, version: str | None = None, limit: int | None = None
    ) -> pl.DataFrame:
        """The items the candidate broke and fixed, worst segment's breaks first.

        One row per discordant item of ``metric`` (default: the first 0/1 metric):
        the version column (the candidate), the item, the segment columns, ``metric``,
        ``change`` (``broken`` or ``fixed``), ``segment_rank`` (1 = the segment where the
        candidate is most surely worse: segments are ranked by the end of the
        difference's interval towards improvement, so a large drop measured on many items
        outranks a noisy one on a few), and what each version did: ``y_true`` with
        ``baseline_pred``/``candidate_pred``, or ``baseline_outcome``/``candidate_outcome``.
        Sorted broken first, then by segment rank and item. Runs one query over the
        data (the per-item pairs, filtered to discordant items).
        """
        spec = self._spec(metric)
        if spec.higher_is_better is None:
            raise InvalidArgumentError(
                f"Metric {spec.name!r} has no better direction, so no item is 'broken' or "
                "'fixed' by the candidate. Ask for the flips of accuracy, an error rate, or "
                "an outcome."
            )
        cand = self._candidate(version)
        rows = self._flips_query(spec, cand)
        ranks = _segment_ranks(self._fine, spec, cand, self.version, self.by)
        if self.by:
            rows = rows.join(ranks, on=self.by, how="left")
        else:
            rows = rows.with_columns(segment_rank=pl.lit(1, pl.Int64))
        rows = rows.sort(pl.col("change") != "broken", "segment_rank", self.item, nulls_last=True)
        return rows.head(limit) if limit is not None else rows

    # -- words -------------------------------------------------------------------------
    def summary(self, metric_names: Mapping[str, str] | None = None) -> list[str]:
        """What changed, in a stakeholder's words: overall, the worst segments, latency/cost.

        Each metric is named in words: ``metric_names`` (e.g. a report's
        ``Words.metric_names()``), else the registry's display name ('error rate',
        '95th percentile of latency_ms'), else the outcome column read with spaces.

        Examples
        --------
        >>> import aidebt as ad
        >>> runs = ad.datasets.demo_versions(n_items=400)
        >>> paired = ad.compare(runs, version="prompt_version", item="item_id", y_true="y_true",
        ...                     y_pred="y_pred", metrics=["error_rate", "fnr"], by="model_version")
        >>> [line.split(":")[0] for line in paired.summary()[1:3]]
        ['Error rate', 'False-negative rate']
        """
        names = self._names(metric_names)
        lines = []
        for cand in self.candidates:
            cov = self.coverage.filter(pl.col(self.version) == cand).row(0, named=True)
            lines.append(
                f"{cand} and {self.baseline} were both run on {_count(cov['paired'])} items; "
                "each item is compared with itself."
            )
            rows = self.overall.filter(pl.col(self.version) == cand)
            for row in rows.iter_rows(named=True):
                lines.append(self._overall_sentence(row, names))
                if row["noninferiority"] is not None:
                    lines.append(self._margin_sentence(row, names))
            seg = self.table.filter(
                (pl.col(self.version) == cand)
                & ~overall_expr(self.by)
                & pl.col("significant")
                & (pl.col("verdict") == "worse")
            )
            kind_order = pl.col("kind").replace_strict(
                {"rate": 0, "mean": 1, "quantile": 2}, default=3, return_dtype=pl.Int64
            )
            # Regressions the overall figure hides come first ("But in ..."), then the
            # segments where a metric that is worse overall is worse too.
            worse_overall = rows.filter(pl.col("verdict") == "worse")["metric"].implode()
            hidden = ~pl.col("metric").is_in(worse_overall)
            seg = seg.with_columns(_hidden=hidden).sort(
                pl.col("_hidden").not_(), kind_order, "p_adjusted"
            )
            for row in seg.head(6).iter_rows(named=True):
                lines.append(self._segment_sentence(row, names, hidden=row["_hidden"]))
            if seg.height > 6:
                lines.append(f"({seg.height - 6} more segments are worse: see the table.)")
        return lines

    def notes(self) -> list[str]:
        out = []
        for row in self.coverage.iter_rows(named=True):
            if row["only_baseline"] or row["only_candidate"]:
                out.append(
                    f"{_count(row['only_baseline'])} items ran under {self.baseline} only and "
                    f"{_count(row['only_candidate'])} under {row[self.version]} only: they "
                    "have no pair and are left out of the comparison (counted per segment "
                    "in only_baseline and only_candidate)."
                )
        alpha = 1 - self.confidence
        out.append(
            f"Intervals are {self.confidence:.0%}. Rates: Newcombe's paired interval and "
            f"McNemar's {'mid-p' if self.test == 'midp' else self.test} test; means: paired t; "
            "quantiles: a bootstrap over items. Verdicts use Holm-adjusted p-values "
            f"(family of {self.table.height} comparisons, level {alpha:.2g}); a non-inferiority "
            "verdict uses the interval's end on the side of the margin."
        )
        small = self.table.filter((pl.col("n") < 30) & pl.col("n").is_not_null())
        if small.height:
            out.append(
                f"{small.height} rows rest on fewer than 30 paired items: read them as hints."
            )
        return out

    def headline(
        self,
        metric: str | None = None,
        version: str | None = None,
        metric_names: Mapping[str, str] | None = None,
    ) -> Headline:
        """One sentence with the key figures, for the monthly audit's summary page.

        The overall difference of ``metric`` (default: the first), and the segment where
        the candidate is most surely worse when one is significantly worse; the metric is
        named as in :meth:`summary` (``metric_names``).
        """
        cand = self._candidate(version)
        name = self.metrics[0] if metric is None else metric
        rows = self.table.filter((pl.col(self.version) == cand) & (pl.col("metric") == name))
        if rows.is_empty():
            raise InvalidArgumentError(
                f"metric={name!r} is not in this comparison. {did_you_mean(name, self.metrics)}"
            )
        ov = rows.filter(overall_expr(self.by)).row(0, named=True)
        fmt = prose.Figures(ov["kind"] == "rate")
        sentence = (
            f"{cand} vs {self.baseline} on {_count(ov['n'])} shared items: "
            f"{self._names(metric_names)[name]} "
            f"{fmt.value(ov['value'])} vs {fmt.value(ov['baseline_value'])} "
            f"({fmt.diff(ov['diff'])}, {self.confidence:.0%} interval "
            f"{fmt.range(ov['diff_ci_low'], ov['diff_ci_high'])})"
        )
        figures: dict[str, Any] = {
            "version": cand,
            "baseline": self.baseline,
            "metric": name,
            "items": ov["n"],
            "value": ov["value"],
            "baseline_value": ov["baseline_value"],
            "diff": ov["diff"],
            "diff_ci_low": ov["diff_ci_low"],
            "diff_ci_high": ov["diff_ci_high"],
            "broken": ov["broken"],
            "fixed": ov["fixed"],
        }
        worse = rows.filter(
            ~overall_expr(self.by) & pl.col("significant") & (pl.col("verdict") == "worse")
        )
        if not worse.is_empty():
            spec = self._spec(name) if ov["kind"] == "rate" else None
            harm = _harm_key(worse, spec.higher_is_better if spec else False)
            w = worse.with_columns(_h=harm).sort("_h").row(0, named=True)
            where = label(w, self.by)
            joint = "worst" if ov["verdict"] == "worse" else "but worse"
            sentence += (
                f"; {joint} in {prose.group_phrase(w, self.by)} ({fmt.diff(w['diff'])}, interval "
                f"{fmt.range(w['diff_ci_low'], w['diff_ci_high'])})"
            )
            figures.update(worst_segment=where, worst_diff=w["diff"])
        if ov["kind"] == "rate":
            sentence += f"; {_count(ov['fixed'])} items fixed, {_count(ov['broken'])} broken."
        else:
            sentence += "."
        return Headline(sentence, figures)

    def chart(self, metric: str | Sequence[str] | None = None, *, width: int = 360):
        """Paired differences per segment with their intervals, and the items fixed/broken."""
        from aidebt import charts

        names = self.metrics if metric is None else frames.as_list(metric)
        t = self.table.filter(pl.col("metric").is_in(names))
        return charts.paired_comparison(
            t, by=self.by, version=self.version, baseline=self.baseline, width=width
        )

    def _display_table(self) -> pl.DataFrame:
        return self.table.select(
            self.version,
            *self.by,
            "metric",
            "baseline_value",
            "value",
            "diff",
            "diff_ci_low",
            "diff_ci_high",
            "broken",
            "fixed",
            "p_adjusted",
            "verdict",
            "noninferiority",
        )

    # -- helpers -----------------------------------------------------------------------
    def _spec(self, metric: str | None) -> _Spec:
        if metric is None:
            if not self._specs:
                raise InvalidArgumentError("This comparison has no 0/1 metric to list flips of.")
            return self._specs[0]
        for s in self._specs:
            if s.name == metric:
                return s
        raise InvalidArgumentError(
            f"metric={metric!r} is not a 0/1 metric of this comparison. "
            f"{did_you_mean(metric, [s.name for s in self._specs])}"
        )

    def _candidate(self, version: str | None) -> str:
        if version is None:
            return self.candidates[0]
        if str(version) not in self.candidates:
            raise InvalidArgumentError(
                f"version={version!r} is not a candidate here. {did_you_mean(str(version), self.candidates)}"
            )
        return str(version)

    def _names(self, metric_names: Mapping[str, str] | None) -> dict[str, str]:
        """``{metric: its name in a sentence}`` for every metric of the table."""
        names = {}
        for metric in self.table["metric"].unique().to_list():
            try:
                said = mreg.get(metric).display_name
            except InvalidArgumentError:  # an outcome column scored per run
                said = prose.readable_column(metric)
            names[metric] = (metric_names or {}).get(metric) or said
        return names

    def _overall_sentence(self, row: dict[str, Any], names: Mapping[str, str]) -> str:
        fmt = prose.Figures(row["kind"] == "rate")
        name, cand = prose.capital(names[row["metric"]]), row[self.version]
        if row["diff"] is None:
            return f"{name}: no comparison ({row['note']})."
        where = (
            f"{name}: {cand} {fmt.value(row['value'])} vs {self.baseline} "
            f"{fmt.value(row['baseline_value'])} on the same items"
        )
        ci = f"{self.confidence:.0%} interval {fmt.range(row['diff_ci_low'], row['diff_ci_high'])}"
        verdict = row["verdict"]
        if verdict == "no clear difference":
            text = f"{where}: no clear difference ({fmt.diff(row['diff'])}, {ci})"
        else:
            text = f"{where}: {fmt.diff(row['diff'])} ({ci}), {verdict}"
        if row["kind"] == "rate":
            text += (
                f"; it fixed {_count(row['fixed'])} items and broke {_count(row['broken'])} "
                f"(McNemar p {_p(row['p_value'])})"
            )
        return text + "."

    def _margin_sentence(self, row: dict[str, Any], names: Mapping[str, str]) -> str:
        fmt = prose.Figures(row["kind"] == "rate")
        better = _direction(row, self._specs)
        bound = row["diff_ci_low"] if better is not False else row["diff_ci_high"]
        limit = -row["margin"] if better is not False else row["margin"]
        word = {
            "non-inferior": "is not worse than",
            "inferior": "is worse than",
            "inconclusive": "cannot be shown to be no worse than",
        }[row["noninferiority"]]
        return (
            f"With a margin of {fmt.margin(row['margin'])}, {row[self.version]} {word} "
            f"{self.baseline} on {names[row['metric']]} (the interval's end {fmt.diff(bound)} "
            f"against the limit {fmt.diff(limit)})."
        )

    def _segment_sentence(
        self, row: dict[str, Any], names: Mapping[str, str], *, hidden: bool = True
    ) -> str:
        fmt = prose.Figures(row["kind"] == "rate")
        where = prose.group_phrase(row, self.by)
        lead = f"But in {where}, " if hidden else f"In {where} too, "
        text = (
            f"{lead}{row[self.version]} is worse on {names[row['metric']]}: "
            f"{fmt.value(row['value'])} vs {fmt.value(row['baseline_value'])} "
            f"({fmt.diff(row['diff'])}, {self.confidence:.0%} interval "
            f"{fmt.range(row['diff_ci_low'], row['diff_ci_high'])})"
        )
        if row["kind"] == "rate":
            text += f"; {_count(row['broken'])} items broken, {_count(row['fixed'])} fixed"
        return text + "."


def compare_paired(
    data: Any,
    *,
    version: str,
    item: str,
    baseline: Any = None,
    y_true: str | None = None,
    y_pred: str | None = None,
    outcome: str | None = None,
    metrics: str | Sequence[str] | None = None,
    by: str | Sequence[str] | None = None,
    margin: float | Mapping[str, float] | None = None,
    confidence: float = 0.95,
    weight: str | None = None,
    values: str | Sequence[str] | None = None,
    quantiles: Sequence[float] = (0.5, 0.95),
    higher_is_better: bool = True,
    test: str = "midp",
    adjust: str | None = "holm",
    n_boot: int = 1000,
    seed: int = 0,
    unpaired: bool = False,
) -> PairedComparison:
    """Compare versions run on the same items, item by item, overall and per segment.

    Parameters
    ----------
    data
        Any input aidebt accepts (polars, pandas, arrow, DuckDB, Spark, a path): one row
        per (item, version).
    version
        The column naming the version (a prompt, a model).
    item
        The column identifying an item; the same id under each version makes a pair.
    baseline
        The version the others are compared with (default: the first in sorted order).
        Every other version is a candidate.
    y_true, y_pred
        Label and decision columns (0/1 or booleans) for the registry metrics.
    outcome
        A 0/1 column scored per (item, version), e.g. ``passed``, ``format_error``:
        compared as a rate of its own (named after the column); ``higher_is_better``
        says which way is good.
    metrics
        Registry metrics with a per-item denominator: accuracy, error_rate, tpr, fnr,
        tnr, fpr, selection_rate; and metrics of a numeric column, compared item by item
        as ``values`` are: ``mean_latency_ms``, ``p95_latency_ms`` (see
        :func:`aidebt.metrics.get`). Default: accuracy when ``y_true`` and ``y_pred`` are
        given.
    by
        Segment column(s). Pairs are formed within the segment columns (an item run under
        two models is two pairs when ``by`` holds the model column), and each column is
        reported on its own, one row per level, plus the overall row.
    margin
        Non-inferiority margin, in the metric's units (0.01 = one point for a rate;
        milliseconds for a latency): one number for every 0/1 metric, or a mapping
        ``{metric: margin}`` (value metrics are named ``mean_<column>`` and
        ``p95_<column>``). The candidate is non-inferior when its interval's end on the
        bad side stays inside the margin.
    confidence
        Level of every interval (a non-inferiority verdict at 95% is a one-sided test at
        2.5%, the regulatory convention).
    weight
        Frequency weights (whole numbers; the weight of an item must be the same under
        both versions).
    values
        Numeric column(s) compared per item as costs (lower is better): the mean (paired t)
        and the ``quantiles`` (bootstrap over items; needs the per-item values in memory,
        one row per item).
    quantiles
        Quantiles of each ``values`` column, e.g. ``(0.5, 0.95)``.
    higher_is_better
        Direction of ``outcome``.
    test
        McNemar p-value used for verdicts: ``"midp"`` (default), ``"exact"`` or
        ``"asymptotic"``; all three are in the table.
    adjust
        Multiple-comparison adjustment over every row: ``"holm"``, ``"bh"``,
        ``"bonferroni"`` or ``None``.
    n_boot, seed
        Bootstrap replicates and seed for quantile differences.
    unpaired
        When the versions share no item: ``False`` (default) raises an error that says
        so; ``True`` falls back to the unpaired :func:`aidebt.compare` (with a warning)
        and returns its result.

    Returns
    -------
    PairedComparison
        ``.table``, ``.overall``, ``.coverage``, ``.flips()``, ``.summary()``,
        ``.headline()``, ``.chart()``.

    Notes
    -----
    Every row's outcome enters one 2x2 table per (candidate, segment, metric): items
    where both versions succeed, where the candidate broke what the baseline got right,
    where it fixed what the baseline got wrong, and where neither succeeds. Only the
    discordant items carry information on the difference; the concordant ones make the
    difference's interval narrower than an unpaired one when an item's outcomes are
    correlated, which is the rule for eval items (hard items are hard for both).

    The difference's interval is Newcombe's method 10 for paired proportions; the test is
    McNemar's (mid-p by default, recommended by Fagerland, Lydersen & Laake 2013; the
    exact conditional version is conservative); see
    :func:`aidebt.stats.paired_proportions`. The assumption is independent items: items
    that share a source document or a conversation are not independent, and the
    intervals then are too narrow.

    Examples
    --------
    >>> from aidebt.datasets import demo_versions
    >>> ev = demo_versions(n_items=600).filter(model_version="m1")
    >>> r = compare_paired(ev, version="prompt_version", item="item_id", baseline="v1",
    ...                    y_true="y_true", y_pred="y_pred", by="task")
    >>> r.overall.select("metric", "n").row(0)
    ('accuracy', 600.0)
    >>> r.flips()["change"].head(1).item()
    'broken'
    """
    if not isinstance(version, str) or not isinstance(item, str):
        raise InvalidArgumentError(
            f"version={version!r} and item={item!r} must be column names (strings)."
        )
    by_cols = frames.as_list(by)
    for name, role in ((version, "version"), (item, "item")):
        if name in by_cols:
            raise InvalidArgumentError(
                f"by={by_cols} contains the {role} column {name!r}; segments must be other columns."
            )
    confidence = st.check_confidence(confidence)
    if test not in TESTS:
        raise InvalidArgumentError(f"test={test!r} must be one of {sorted(TESTS)}.")
    value_cols = frames.as_list(values)
    qs = _check_quantiles(quantiles) if value_cols else []
    wanted = {f"mean_{c}" for c in value_cols} | {
        f"{_qname(q)}_{c}" for c in value_cols for q in qs
    }
    rate_names, of_columns = _split_metrics(metrics)
    for m in of_columns:  # p95_latency_ms, mean_cost_usd: quantities compared item by item
        value_cols += [m.column] if m.column not in value_cols else []
        qs += [m.q] if m.q is not None and m.q not in qs else []
        wanted.add(m.name)
    specs = _specs(rate_names, y_true, y_pred, outcome, higher_is_better)
    if not specs and not value_cols:
        raise InvalidArgumentError(
            "Nothing to compare: pass y_true= and y_pred= (accuracy by default), an "
            "outcome= column, or values= (latency, cost)."
        )
    frame = frames.to_lazy(data)
    frames.require_columns(frame, [version], role="version")
    frames.require_columns(frame, [item], role="item")
    frames.require_columns(frame, by_cols, role="a by column")
    for name, role in ((y_true, "y_true"), (y_pred, "y_pred"), (outcome, "outcome")):
        frames.require_columns(frame, [name], role=role)
    frames.require_columns(frame, [weight], role="weight")
    frames.require_columns(frame, value_cols, role="a values column")
    for v in value_cols:
        check_quantity(frame, v, role="values")
    if weight:
        frames.check_numeric(frame, weight, role="weight", fix="Weights are counts >= 0.")
    schema = frames.columns(frame)

    versions = _versions(frame, version)
    base = pick_baseline(baseline, versions, version)
    cands = [v for v in versions if v != base]
    if not cands:
        raise InvalidArgumentError(
            f"Column {version!r} holds only the baseline {base!r}: there is nothing to compare."
        )
    order = [base, *cands]
    rows = _row_contributions(
        frame, version, order, specs, value_cols, y_true, y_pred, outcome, weight
    )
    keys = [item, *by_cols]
    pairs = (
        frame.select(*(nw.col(k) for k in keys), *(e.alias(n) for n, e in rows.items()))
        .group_by(*keys)
        .agg(*(nw.col(n).sum() for n in rows))
    )  # step 1: one row per item
    cells = _cell_indicators(len(order), specs, value_cols, weight)
    per_item = pairs.with_columns(*(e.alias(n) for n, e in cells.items()))
    sums = [nw.col(n).sum() for n in cells]
    counted = per_item.group_by(*by_cols).agg(*sums) if by_cols else per_item.select(*sums)
    fine = aggregate.collect(counted)  # the one query that scans the rows
    fine = _tidy(fine, by_cols, schema)

    _raise_on_bad_input(
        fine, frame, pairs, specs, y_true, y_pred, outcome, version, item, order, weight
    )
    coverage = pl.DataFrame(
        {
            version: cands,
            "paired": [float(fine[f"_pair{k}"].sum()) for k in range(1, len(order))],
            "only_baseline": [float(fine[f"_onlyb{k}"].sum()) for k in range(1, len(order))],
            "only_candidate": [float(fine[f"_onlyc{k}"].sum()) for k in range(1, len(order))],
        }
    )
    no_common = coverage.filter(pl.col("paired") == 0)
    if no_common.height:
        if not unpaired:
            raise InvalidValueError(_no_common_message(no_common, coverage, version, item, base))
        return _fallback(
            data,
            version,
            base,
            no_common,
            item,
            dict(
                y_true=y_true,
                y_pred=y_pred,
                outcome=outcome,
                metrics=metrics,
                by=by_cols,
                weight=weight,
                confidence=confidence,
            ),
        )

    table = _paired_table(
        fine, by_cols, version, order, specs, value_cols, confidence, test, weight
    )
    if value_cols and qs:
        table = pl.concat(
            [
                table,
                _quantile_rows(
                    pairs,
                    item,
                    by_cols,
                    schema,
                    version,
                    order,
                    value_cols,
                    qs,
                    confidence,
                    n_boot,
                    seed,
                    weight,
                ),
            ],
            how="diagonal_relaxed",
        )
    kept = {s.name for s in specs} | wanted
    table = table.filter(pl.col("metric").is_in(sorted(kept)))
    table = _finish(
        table, specs, value_cols, qs, margin, confidence, adjust, version, by_cols, base
    )
    fine_table = (
        _paired_table(
            fine, by_cols, version, order, specs, [], confidence, test, weight, levels=False
        )
        if specs
        else pl.DataFrame()
    )

    def flips_query(spec: _Spec, cand: str) -> pl.DataFrame:
        return _flips(
            frame,
            version,
            item,
            by_cols,
            schema,
            order,
            specs,
            spec,
            cand,
            y_true,
            y_pred,
            outcome,
            weight,
        )

    return PairedComparison(
        table,
        coverage,
        version=version,
        item=item,
        baseline=base,
        candidates=cands,
        by=by_cols,
        metrics=table.get_column("metric").unique(maintain_order=True).to_list(),
        confidence=confidence,
        test=test,
        specs=specs,
        fine=fine_table,
        flips_query=flips_query,
    )


# --------------------------------------------------------------------------------------
# compare_paired: building the query
# --------------------------------------------------------------------------------------
def _split_metrics(metrics) -> tuple[list[str] | None, list[mreg.Metric]]:
    """The 0/1 metrics' names, and the metrics of a numeric column (``p95_latency_ms``,
    ``mean_cost_usd``), from ``metrics=``."""
    if metrics is None:
        return None, []
    names = [metrics] if isinstance(metrics, str | mreg.Metric) else list(metrics)
    rates, of_columns = [], []
    for name in names:
        m = mreg.get(name)
        if m.column is not None:
            of_columns.append(m)
        else:
            rates.append(name)
    return rates, of_columns


def _specs(metrics, y_true, y_pred, outcome, higher_is_better) -> list[_Spec]:
    if metrics is None:
        names = ["accuracy"] if (y_true is not None and y_pred is not None) else []
    else:
        names = [metrics] if isinstance(metrics, str) else list(metrics)
    out = []
    for name in names:
        m = mreg.get(name)
        if m.name not in _PAIRABLE:
            raise InvalidArgumentError(
                f"Metric {m.name!r} cannot be compared item by item: its denominator depends on "
                "each version's own predictions, so an item is not in it under both versions. "
                f"Pair on {', '.join(_PAIRABLE)} or an outcome= column, or compare "
                f"{m.name!r} unpaired with ad.compare."
            )
        if m.needs_label and y_true is None:
            raise InvalidArgumentError(f"Metric {m.name!r} needs labels: pass y_true=.")
        if y_pred is None:
            raise InvalidArgumentError(f"Metric {m.name!r} needs decisions: pass y_pred=.")
        out.append(_Spec(m.name, m.higher_is_better, m.name))
    if outcome is not None:
        if not isinstance(higher_is_better, bool):
            raise InvalidArgumentError("higher_is_better must be True or False.")
        out.append(_Spec(outcome, higher_is_better, "outcome"))
    unique: dict[str, _Spec] = {}
    for s in out:
        unique.setdefault(s.name, s)
    return list(unique.values())


def _check_quantiles(quantiles) -> list[float]:
    qs = [quantiles] if isinstance(quantiles, (int, float)) else list(quantiles or [])
    for q in qs:
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 < q < 1:
            raise InvalidArgumentError(
                f"quantile {q!r} must be a number strictly between 0 and 1, e.g. 0.95 for p95."
            )
    return [float(q) for q in qs]


def _versions(frame: nw.LazyFrame, version: str) -> list[str]:
    """The distinct versions (a one-column query), as strings."""
    ver = frame.select(nw.col(version).cast(nw.String).alias("_v")).unique()
    found = aggregate.collect(ver).get_column("_v").drop_nulls().to_list()
    return sorted(found)


def _flag(frame: nw.LazyFrame, name: str, role: str) -> nw.Expr:
    """A 0/1 column as numbers with null for missing (NaN too); booleans become 0/1."""
    dtype = frames.columns(frame)[name]
    col = nw.col(name)
    if dtype == nw.Boolean:
        return col.cast(nw.Int64)
    if not frames.is_numeric(dtype):
        found = frames.sample_values(frame, name)
        raise ColumnTypeError(
            f"Column {name!r} ({role}) holds {dtype} values ({found}); a paired comparison "
            f"needs 0/1 or booleans here. Map it first, e.g. {aggregate.flag_fix(frame, name)}."
        )
    if dtype.is_float():
        col = nw.when(col.is_nan()).then(None).otherwise(col)
    return col


def _is(cond: nw.Expr) -> nw.Expr:
    return cond.fill_null(False).cast(nw.Int64)


def _conditions(spec: _Spec, y, p, o) -> tuple[nw.Expr, nw.Expr]:
    """(in the denominator, success) of one row for a metric, as 0/1 expressions."""
    kind = spec.kind
    if kind == "outcome":
        return _is(~o.is_null()), _is(o == 1)
    labeled = ~y.is_null() if y is not None else nw.lit(True)
    den, num = {
        "accuracy": (labeled, y == p),
        "error_rate": (labeled, y != p),
        "tpr": (y == 1, p == 1),
        "fnr": (y == 1, p == 0),
        "tnr": (y == 0, p == 0),
        "fpr": (y == 0, p == 1),
        "selection_rate": (nw.lit(True), p == 1),
    }[kind]
    return _is(den), _is(den & num)


def _row_contributions(
    frame, version, order, specs, value_cols, y_true, y_pred, outcome, weight
) -> dict[str, nw.Expr]:
    """Per-row 0/1 (and value) contributions, one set per version; the group-by sums them."""
    ver = nw.col(version).cast(nw.String)
    y = _flag(frame, y_true, "y_true") if y_true else None
    p = _flag(frame, y_pred, "y_pred") if y_pred else None
    o = _flag(frame, outcome, "outcome") if outcome else None
    out: dict[str, nw.Expr] = {}
    bad = nw.lit(False)
    for col in (y, o):
        if col is not None:
            bad = bad | (~col.is_null() & ~((col == 0) | (col == 1)))
    if p is not None:
        bad = bad | p.is_null() | ~((p == 0) | (p == 1))
    out["_bad"] = _is(bad)
    w = nw.col(weight).cast(nw.Float64) if weight else None
    for k, v in enumerate(order):
        is_k = _is(ver == nw.lit(v))
        out[f"_n{k}"] = is_k
        if w is not None:
            out[f"_w{k}"] = is_k * w.fill_null(0)
        for j, spec in enumerate(specs):
            den, hit = _conditions(spec, y, p, o)
            out[f"_d{j}_{k}"] = is_k * den
            out[f"_x{j}_{k}"] = is_k * hit
        for i, name in enumerate(value_cols):
            val = nw.col(name).cast(nw.Float64)
            val = nw.when(val.is_nan()).then(None).otherwise(val)
            out[f"_s{i}_{k}"] = is_k * val.fill_null(0)
            out[f"_h{i}_{k}"] = is_k * _is(~val.is_null())
    return out


def _cell_indicators(n_versions, specs, value_cols, weight) -> dict[str, nw.Expr]:
    """Per item: which 2x2 cell it falls in for each candidate and metric (0/1 x weight)."""
    out: dict[str, nw.Expr] = {"_bad": nw.col("_bad"), "_dup0": _is(nw.col("_n0") > 1)}
    n0 = nw.col("_n0")
    w = nw.col("_w0") if weight else None

    def weighted(cond: nw.Expr) -> nw.Expr:
        return _is(cond) * w if w is not None else _is(cond)

    for k in range(1, n_versions):
        nk = nw.col(f"_n{k}")
        pair = (n0 == 1) & (nk == 1)
        out[f"_pair{k}"] = weighted(pair)
        out[f"_onlyb{k}"] = _is((n0 >= 1) & (nk == 0))
        out[f"_onlyc{k}"] = _is((nk >= 1) & (n0 == 0))
        out[f"_dup{k}"] = _is(nk > 1)
        if w is not None:
            out[f"_wdiff{k}"] = _is(pair & ((nw.col("_w0") - nw.col(f"_w{k}")).abs() > 1e-9))
        for j in range(len(specs)):
            d0, dk = nw.col(f"_d{j}_0"), nw.col(f"_d{j}_{k}")
            x0, xk = nw.col(f"_x{j}_0"), nw.col(f"_x{j}_{k}")
            inside = pair & (d0 == 1) & (dk == 1)
            out[f"_a{j}_{k}"] = weighted(inside & (x0 == 1) & (xk == 1))
            out[f"_b{j}_{k}"] = weighted(inside & (x0 == 1) & (xk == 0))
            out[f"_c{j}_{k}"] = weighted(inside & (x0 == 0) & (xk == 1))
            out[f"_e{j}_{k}"] = weighted(inside & (x0 == 0) & (xk == 0))
            out[f"_half{j}_{k}"] = _is(pair & (d0 != dk))
        for i in range(len(value_cols)):
            has = pair & (nw.col(f"_h{i}_0") == 1) & (nw.col(f"_h{i}_{k}") == 1)
            s0, sk = nw.col(f"_s{i}_0"), nw.col(f"_s{i}_{k}")
            h = weighted(has)
            out[f"_vn{i}_{k}"] = h
            out[f"_vd{i}_{k}"] = h * (sk - s0)
            out[f"_vdd{i}_{k}"] = h * (sk - s0) * (sk - s0)
            out[f"_vs0{i}_{k}"] = h * s0
            out[f"_vq0{i}_{k}"] = h * s0 * s0
            out[f"_vs1{i}_{k}"] = h * sk
            out[f"_vq1{i}_{k}"] = h * sk * sk
    return out


def _tidy(table: pl.DataFrame, by_cols: list[str], schema: dict[str, Any]) -> pl.DataFrame:
    """Group values as strings ((missing) for null), one dtype per sum, sorted."""
    table = table.with_columns(
        pl.col(c).cast(pl.Float64) for c in table.columns if c not in by_cols
    )
    if not by_cols:
        return table
    fixed = (
        nw.from_native(table)
        .with_columns(*(frames.group_key(k, schema[k]) for k in by_cols))
        .to_native()
    )
    if fixed.select(by_cols).is_duplicated().any():  # NaN and null both became (missing)
        fixed = fixed.group_by(by_cols).agg(pl.exclude(by_cols).sum())
    return fixed.sort(by_cols)


def _raise_on_bad_input(
    fine, frame, pairs, specs, y_true, y_pred, outcome, version, item, order, weight
) -> None:
    if fine["_bad"].sum() > 0:  # find which column (a small query, on the error path only)
        for name, role in ((y_true, "y_true"), (y_pred, "y_pred"), (outcome, "outcome")):
            if name is None:
                continue
            col = _flag(frame, name, role)
            bad = ~col.is_null() & ~((col == 0) | (col == 1))
            if role == "y_pred":
                bad = bad | col.is_null()
            found = aggregate.collect(frame.select(_is(bad).sum().alias("_c")))["_c"].item()
            if found:
                raise InvalidValueError(
                    f"Column {name!r} ({role}) must hold 0/1 values (labels may be null, "
                    f"decisions may not), but {int(found)} rows do not; values found: "
                    f"{frames.sample_values(frame, name)}. Map it to 0/1 first."
                )
    for k, v in enumerate(order):
        if fine[f"_dup{k}"].sum() > 0:
            examples = aggregate.collect(
                pairs.filter(nw.col(f"_n{k}") > 1).select(nw.col(item), nw.col(f"_n{k}")).head(3)
            )
            shown = ", ".join(f"{row[0]!r} ({int(row[1])} rows)" for row in examples.iter_rows())
            total = int(fine[f"_dup{k}"].sum())
            more = f" (and {total - examples.height} more items)" if total > examples.height else ""
            raise InvalidValueError(
                f"Item {shown}{more} appears more than once under {version}={v!r}: each item "
                f"must appear once per version to be paired. If an item ran under several "
                "conditions (two models, two temperatures), add that column to by= (pairs are "
                "then formed within it) or filter to one; if these are repeated runs or "
                f"duplicated rows, aggregate them first (e.g. one row per {item!r} with the "
                "majority outcome)."
            )
    if weight:
        for k in range(1, len(order)):
            if fine[f"_wdiff{k}"].sum() > 0:
                raise InvalidValueError(
                    f"Column {weight!r} (weight) gives {int(fine[f'_wdiff{k}'].sum())} items a "
                    f"different weight under {order[k]!r} than under the baseline {order[0]!r}; "
                    "a pair has one weight. Use the item's weight on both rows."
                )
        for k in range(1, len(order)):
            for j in range(len(specs)):
                cells = fine.select(pl.col(f"_b{j}_{k}", f"_c{j}_{k}")).to_numpy()
                if not np.allclose(cells, np.round(cells)):
                    raise InvalidValueError(
                        f"Column {weight!r} (weight) holds fractional weights; McNemar's test "
                        "needs frequency weights (whole numbers of identical items)."
                    )


def _no_common_message(no_common, coverage, version, item, base) -> str:
    cand = no_common.row(0, named=True)
    return (
        f"Versions {base!r} and {cand[version]!r} of {version!r} share no item: column "
        f"{item!r} has {_count(cand['only_baseline'])} items under {base!r} and "
        f"{_count(cand['only_candidate'])} under {cand[version]!r}, none under both (within "
        "the same by= segments). Check that both runs use the same item ids (same column, "
        "same type, same formatting) and that by= holds no column that differs between "
        "versions. If the runs really are on different items, pass unpaired=True to "
        "compare them as independent samples (wider intervals, no flips)."
    )


def _fallback(data, version, base, no_common, item, kw: dict[str, Any]):
    from aidebt.compare import compare

    y_true, y_pred, outcome = kw["y_true"], kw["y_pred"], kw["outcome"]
    by_cols, weight, confidence = kw["by"], kw["weight"], kw["confidence"]
    metrics = kw["metrics"]
    cand = no_common.row(0, named=True)[version]
    warnings.warn(
        f"Versions {base!r} and {cand!r} share no {item!r}: falling back to the unpaired "
        "comparison (ad.compare), as asked with unpaired=True.",
        UserWarning,
        stacklevel=3,
    )
    if outcome is not None and y_true is None:
        return compare(
            data,
            version,
            base,
            y_true=outcome,
            metrics=["mean"],
            by=by_cols or None,
            weight=weight,
            confidence=confidence,
            warn=False,
        )
    names = ["accuracy"] if metrics is None else frames.as_list(metrics)
    return compare(
        data,
        version,
        base,
        y_true,
        y_pred,
        names,
        by=by_cols or None,
        weight=weight,
        confidence=confidence,
        warn=False,
    )


# --------------------------------------------------------------------------------------
# compare_paired: inference on the small table
# --------------------------------------------------------------------------------------
def _levels(fine: pl.DataFrame, by_cols: list[str]) -> list[pl.DataFrame]:
    """The overall row, then each by column's levels, as re-sums of the counts."""
    stats = [c for c in fine.columns if c not in by_cols]
    out = []
    for col in [None, *by_cols]:
        if col is None:
            s = fine.select(pl.col(stats).sum())
        else:
            s = fine.group_by(col, maintain_order=True).agg(pl.col(stats).sum()).sort(col)
        fill = [pl.lit(ALL).alias(c) for c in by_cols if c != col]
        out.append(s.with_columns(fill).select([*by_cols, *stats]))
    return out


def _paired_table(
    fine, by_cols, version, order, specs, value_cols, confidence, test, weight, levels=True
):
    parts = _levels(fine, by_cols) if levels else [fine]
    pieces = []
    for level in parts:
        keys = level.select(by_cols) if by_cols else None
        for k in range(1, len(order)):
            cand = order[k]
            only_b, only_c = level[f"_onlyb{k}"].to_numpy(), level[f"_onlyc{k}"].to_numpy()
            for j, spec in enumerate(specs):
                a, b, c, e = (level[f"_{x}{j}_{k}"].to_numpy() for x in "abce")
                r = st.paired_proportions(a, b, c, e, confidence)
                half = level[f"_half{j}_{k}"].to_numpy()
                note = np.where(
                    r["n"] == 0,
                    "no item is in this metric's denominator under both versions",
                    np.where(
                        half > 0,
                        "some items are in the denominator under one version only (their "
                        "labels differ between the runs); they are left out",
                        None,
                    ),
                )
                if spec.higher_is_better is False:  # "broken" = the candidate got worse
                    b, c = c, b
                pieces.append(
                    _rows(
                        keys,
                        version,
                        cand,
                        spec.name,
                        "rate",
                        order[0],
                        base=r["p_base"],
                        value=r["p_cand"],
                        diff=r["diff"],
                        lo=r["diff_lo"],
                        hi=r["diff_hi"],
                        n=r["n"],
                        both=a,
                        broken=b,
                        fixed=c,
                        neither=e,
                        p=r[TESTS[test]],
                        p_exact=r["p_exact"],
                        p_midp=r["p_midp"],
                        chi2=r["chi2"],
                        only_b=only_b,
                        only_c=only_c,
                        note=note,
                    )
                )
            for i, name in enumerate(value_cols):
                n = level[f"_vn{i}_{k}"].to_numpy()
                r = st.paired_mean_difference(
                    level[f"_vd{i}_{k}"].to_numpy(), level[f"_vdd{i}_{k}"].to_numpy(), n, confidence
                )
                with np.errstate(divide="ignore", invalid="ignore"):
                    m0 = np.where(n > 0, level[f"_vs0{i}_{k}"].to_numpy() / n, np.nan)
                    m1 = np.where(n > 0, level[f"_vs1{i}_{k}"].to_numpy() / n, np.nan)
                pieces.append(
                    _rows(
                        keys,
                        version,
                        cand,
                        f"mean_{name}",
                        "mean",
                        order[0],
                        base=m0,
                        value=m1,
                        diff=r["diff"],
                        lo=r["diff_lo"],
                        hi=r["diff_hi"],
                        n=n,
                        p=r["p"],
                        only_b=only_b,
                        only_c=only_c,
                        note=np.where(n < 2, "fewer than two paired items with a value", None),
                    )
                )
    return pl.concat(pieces, how="diagonal_relaxed")


def _rows(keys, version, cand, metric, kind, base_name, **cols) -> pl.DataFrame:
    def num(a):
        return pl.Series(np.asarray(a, dtype=float), nan_to_null=True)

    length = len(cols["value"])
    data: dict[str, Any] = {}
    if keys is not None:
        data.update({c: keys.get_column(c) for c in keys.columns})
    data[version] = pl.Series([cand] * length, dtype=pl.String)
    data["metric"] = pl.Series([metric] * length, dtype=pl.String)
    data["kind"] = pl.Series([kind] * length, dtype=pl.String)
    data["baseline"] = pl.Series([base_name] * length, dtype=pl.String)
    names = {
        "base": "baseline_value",
        "value": "value",
        "diff": "diff",
        "lo": "diff_ci_low",
        "hi": "diff_ci_high",
        "n": "n",
        "both": "both",
        "broken": "broken",
        "fixed": "fixed",
        "neither": "neither",
        "p": "p_value",
        "p_exact": "p_exact",
        "p_midp": "p_midp",
        "chi2": "chi2",
        "only_b": "only_baseline",
        "only_c": "only_candidate",
    }
    for key, col in names.items():
        data[col] = num(cols[key]) if key in cols else pl.Series([None] * length, dtype=pl.Float64)
    data["note"] = pl.Series(list(cols.get("note", [None] * length)), dtype=pl.String)
    return pl.DataFrame(data)


def _quantile_rows(
    pairs, item, by_cols, schema, version, order, value_cols, qs, confidence, n_boot, seed, weight
):
    """Paired quantile differences: the per-item values (one row per item), bootstrapped.

    The overall group and every by column's levels are stacked (each item once per level
    set, sharing its bootstrap weight), so one vectorized call covers them all.
    """
    pieces = []
    for k in range(1, len(order)):
        n0, nk = nw.col("_n0"), nw.col(f"_n{k}")
        for i, name in enumerate(value_cols):
            has = (n0 == 1) & (nk == 1) & (nw.col(f"_h{i}_0") == 1) & (nw.col(f"_h{i}_{k}") == 1)
            cols = [nw.col(f"_s{i}_0").alias("_x"), nw.col(f"_s{i}_{k}").alias("_y")]
            if weight:
                cols.append(nw.col("_w0").alias("_f"))
            items = aggregate.collect(
                pairs.filter(has).select(nw.col(item), *(nw.col(c) for c in by_cols), *cols)
            )
            # Engines return groups in any order: sort, so the bootstrap weights fall on
            # the same items whatever the engine.
            items = _tidy_keys_only(items, by_cols, schema).sort(item, *by_cols)
            n_items = items.height
            codes, keys, offset = [np.zeros(n_items, dtype=np.int64)], [None], 1
            for col in by_cols:
                cat = items.get_column(col)
                labels = sorted(cat.unique().to_list())
                codes.append(
                    cat.replace_strict(
                        labels, list(range(len(labels))), return_dtype=pl.Int64
                    ).to_numpy()
                    + offset
                )
                keys += [(col, lab) for lab in labels]
                offset += len(labels)
            stacked = len(codes)
            r = st.paired_quantile_difference(
                np.tile(items["_x"].to_numpy(), stacked),
                np.tile(items["_y"].to_numpy(), stacked),
                qs,
                groups=np.concatenate(codes),
                items=np.tile(np.arange(n_items), stacked),
                weights=items["_f"].to_numpy() if weight else None,
                n_boot=n_boot,
                confidence=confidence,
                seed=seed,
            )
            key_frame = (
                pl.DataFrame(
                    {
                        c: [ALL if key is None or key[0] != c else key[1] for key in keys]
                        for c in by_cols
                    },
                    schema={c: pl.String for c in by_cols},
                )
                if by_cols
                else None
            )
            for qi, q in enumerate(qs):
                pieces.append(
                    _rows(
                        key_frame,
                        version,
                        order[k],
                        f"{_qname(q)}_{name}",
                        "quantile",
                        order[0],
                        base=r["x_value"][qi],
                        value=r["y_value"][qi],
                        diff=r["diff"][qi],
                        lo=r["diff_lo"][qi],
                        hi=r["diff_hi"][qi],
                        n=r["n"][qi],
                        p=r["p"][qi],
                    )
                )
    return pl.concat(pieces, how="diagonal_relaxed")


def _tidy_keys_only(table: pl.DataFrame, by_cols, schema) -> pl.DataFrame:
    if not by_cols:
        return table
    return (
        nw.from_native(table)
        .with_columns(*(frames.group_key(k, schema[k]) for k in by_cols))
        .to_native()
    )


def _qname(q: float) -> str:
    """0.95 -> 'p95', 0.5 -> 'p50', 0.999 -> 'p99.9' (the prefix of a quantile metric)."""
    return mreg.quantile_name(q, "").rstrip("_")


def _finish(table, specs, value_cols, qs, margin, confidence, adjust, version, by_cols, base):
    p_adj = st.adjust_pvalues(table.get_column("p_value").fill_null(np.nan).to_numpy(), adjust)
    alpha = 1 - confidence
    better = {s.name: s.higher_is_better for s in specs}
    for name in value_cols:
        better[f"mean_{name}"] = False
        for q in qs:
            better[f"{_qname(q)}_{name}"] = False
    margins = _margins(margin, specs, list(better))
    direction = pl.col("metric").replace_strict(
        {k: (None if v is None else (1.0 if v else -1.0)) for k, v in better.items()},
        default=None,
        return_dtype=pl.Float64,
    )
    table = table.with_columns(p_adjusted=pl.Series(p_adj, nan_to_null=True)).with_columns(
        significant=(pl.col("p_adjusted") < alpha).fill_null(False),
        margin=pl.col("metric").replace_strict(margins, default=None, return_dtype=pl.Float64),
    )
    up = pl.col("diff") > 0
    verdict = (
        pl.when(~pl.col("significant"))
        .then(pl.lit("no clear difference"))
        .when(direction.is_null())
        .then(pl.when(up).then(pl.lit("higher")).otherwise(pl.lit("lower")))
        .when((direction > 0) == up)
        .then(pl.lit("better"))
        .otherwise(pl.lit("worse"))
    )
    # Non-inferiority: the interval's end on the bad side against -margin (or +margin).
    bad_end = pl.when(direction < 0).then(pl.col("diff_ci_high")).otherwise(pl.col("diff_ci_low"))
    good_end = pl.when(direction < 0).then(pl.col("diff_ci_low")).otherwise(pl.col("diff_ci_high"))
    sign = pl.when(direction < 0).then(pl.lit(-1.0)).otherwise(pl.lit(1.0))
    ni = (
        pl.when(pl.col("margin").is_null() | pl.col("diff_ci_low").is_null())
        .then(pl.lit(None, pl.String))
        .when(sign * bad_end > -pl.col("margin"))
        .then(pl.lit("non-inferior"))
        .when(sign * good_end < -pl.col("margin"))
        .then(pl.lit("inferior"))
        .otherwise(pl.lit("inconclusive"))
    )
    table = table.with_columns(
        verdict=verdict,
        noninferiority=ni,
        higher_is_better=pl.col("metric").replace_strict(
            better, default=None, return_dtype=pl.Boolean
        ),
    )
    cols = [
        version,
        *by_cols,
        "metric",
        "kind",
        "higher_is_better",
        "baseline",
        "baseline_value",
        "value",
        "diff",
        "diff_ci_low",
        "diff_ci_high",
        "n",
        "both",
        "broken",
        "fixed",
        "neither",
        "p_value",
        "p_exact",
        "p_midp",
        "chi2",
        "p_adjusted",
        "significant",
        "verdict",
        "margin",
        "noninferiority",
        "only_baseline",
        "only_candidate",
        "note",
    ]
    metric_order = {m: i for i, m in enumerate(better)}
    return (
        table.with_columns(_o=pl.col("metric").replace_strict(metric_order, default=0))
        .sort(version, "_o", maintain_order=True)
        .drop("_o")
        .select(cols)
    )


def _margins(margin, specs, names) -> dict[str, float]:
    if margin is None:
        return {}
    if isinstance(margin, Mapping):
        unknown = [m for m in margin if m not in names]
        if unknown:
            raise InvalidArgumentError(
                f"margin names {unknown[0]!r}, which is not compared here. {did_you_mean(unknown[0], names)}"
            )
        out = dict(margin)
    else:
        out = {s.name: margin for s in specs}
    for name, value in out.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise InvalidArgumentError(
                f"margin for {name!r} is {value!r}: a margin is a number >= 0 in the metric's "
                "units, e.g. 0.01 for one point of accuracy."
            )
    return {k: float(v) for k, v in out.items()}


def _direction(row, specs) -> bool | None:
    for s in specs:
        if s.name == row["metric"]:
            return s.higher_is_better
    return False  # values are costs


def _harm_key(rows: pl.DataFrame, higher_is_better: bool | None) -> pl.Expr:
    """Sort key, smallest = most surely harmful: the interval's end towards improvement."""
    if higher_is_better is False:
        return -pl.col("diff_ci_low")
    return pl.col("diff_ci_high")


def _segment_ranks(fine, spec, cand, version, by_cols) -> pl.DataFrame:
    if not by_cols:
        return pl.DataFrame()
    rows = fine.filter((pl.col(version) == cand) & (pl.col("metric") == spec.name))
    return (
        rows.with_columns(_h=_harm_key(rows, spec.higher_is_better))
        .sort("_h", nulls_last=True)
        .with_row_index("segment_rank", offset=1)
        .select(*by_cols, pl.col("segment_rank").cast(pl.Int64))
    )


def _flips(
    frame, version, item, by_cols, schema, order, specs, spec, cand, y_true, y_pred, outcome, weight
):
    """The discordant items of one metric and candidate (one query over the rows)."""
    sub = [order[0], cand]
    rows = _row_contributions(frame, version, sub, [spec], [], y_true, y_pred, outcome, weight)
    ver = nw.col(version).cast(nw.String)
    shown = {}
    for kk, v in enumerate(sub):
        is_k = _is(ver == nw.lit(v))
        if y_pred:
            shown[f"_p{kk}"] = is_k * _flag(frame, y_pred, "y_pred").fill_null(0)
        elif outcome:
            shown[f"_o{kk}"] = is_k * _flag(frame, outcome, "outcome").fill_null(0)
    if y_true:
        shown["_y"] = _flag(frame, y_true, "y_true")
    keys = [item, *by_cols]
    aggs = [nw.col(n).sum() for n in {**rows, **shown} if n != "_y"]
    if y_true:
        aggs.append(nw.col("_y").max())
    per_item = (
        frame.select(
            *(nw.col(c) for c in keys), *(e.alias(n) for n, e in {**rows, **shown}.items())
        )
        .group_by(*keys)
        .agg(*aggs)
    )
    d0, d1, x0, x1 = (nw.col(c) for c in ("_d0_0", "_d0_1", "_x0_0", "_x0_1"))
    disc = (nw.col("_n0") == 1) & (nw.col("_n1") == 1) & (d0 == 1) & (d1 == 1) & (x0 != x1)
    found = aggregate.collect(per_item.filter(disc))
    found = _tidy_keys_only(found, by_cols, schema)
    got_better = pl.col("_x0_1") == 1  # the candidate succeeds where the baseline did not
    if spec.higher_is_better is False:
        got_better = ~got_better
    out = found.with_columns(
        pl.lit(cand).alias(version),
        pl.lit(spec.name).alias("metric"),
        pl.when(got_better).then(pl.lit("fixed")).otherwise(pl.lit("broken")).alias("change"),
    )
    extra = []
    if y_true:
        extra.append(pl.col("_y").cast(pl.Int64).alias("y_true"))
    if y_pred:
        extra += [
            pl.col("_p0").cast(pl.Int64).alias("baseline_pred"),
            pl.col("_p1").cast(pl.Int64).alias("candidate_pred"),
        ]
    else:
        extra += [
            pl.col("_x0_0").cast(pl.Int64).alias("baseline_outcome"),
            pl.col("_x0_1").cast(pl.Int64).alias("candidate_outcome"),
        ]
    return out.select(version, item, *by_cols, "metric", "change", *extra)


# --------------------------------------------------------------------------------------
# Words and numbers
# --------------------------------------------------------------------------------------
def _count(x: float | None) -> str:
    return "no" if x is None else f"{x:,.0f}"


def _p(p: float | None) -> str:
    if p is None:
        return "n/a"
    return "< 0.001" if p < 0.001 else f"= {p:.2g}"


# --------------------------------------------------------------------------------------
# Quantiles per group
# --------------------------------------------------------------------------------------
QUANTILE_METHODS = aggregate.QUANTILE_METHODS


def quantile_table(
    data: Any,
    *,
    value: str,
    by: str | Sequence[str] | None = None,
    qs: Sequence[float] = (0.5, 0.95, 0.99),
    confidence: float = 0.95,
    method: str = "exact",
    relative_error: float = 0.01,
    moments: bool = True,
) -> pl.DataFrame:
    """Quantiles of a numeric column per group, with distribution-free intervals.

    Parameters
    ----------
    data
        Any input aidebt accepts.
    value
        A numeric column (latency, tokens, cost). Nulls and NaN are left out and counted.
    by
        Group column(s); several columns group by their intersections (quantiles are not
        additive, so margins cannot be re-summed from the groups: ask for each margin,
        or use ``method="sketch"``).
    qs
        Quantile levels, e.g. ``(0.5, 0.95, 0.99)`` for p50, p95, p99.
    confidence
        Level of the intervals.
    method
        ``"exact"`` (default): the order statistics themselves. In polars (eager, lazy or
        streaming) one group-by keeps, per group, the sorted top of its values that the
        requested ranks can reach (``top_k``, with ``k`` computed from the group's size
        in the same expression: all values when a level is below 0.5), and the ranks are
        read off that list. Other engines hand the two columns to polars through Arrow.
        ``"sketch"``: for logs that outgrow one machine; a histogram of log-spaced
        buckets (``bucket = ceil(log(v) / log(gamma))``, ``gamma = (1 + e) / (1 - e)``)
        counted by one plain group-by in the data's own engine (DuckDB, Spark...). The
        counts are additive (they merge across partitions, files and months), and every
        quantile and interval bound is known within a relative error ``e`` of its exact
        value (DDSketch, Masson, Rim & Lee 2019). Values must be >= 0.
    relative_error
        ``e`` of the sketch (default 1%).
    moments
        Add the ``mean`` (t interval) and the ``sum`` (interval for the expected total of a
        run of the same size) of the column.

    Returns
    -------
    polars.DataFrame
        One row per (group, statistic): the group columns, ``statistic`` (``p50``,
        ``p95``, ..., ``mean``, ``sum``), ``q``, ``value``, ``ci_low``, ``ci_high`` (null
        where the group is too small for that bound), ``coverage`` (the interval's exact
        coverage, from the binomial), ``n`` and ``missing``.

    Notes
    -----
    The quantile is the order statistic of rank ``ceil(n q)``; its interval joins the
    order statistics whose ranks the binomial distribution gives
    (:func:`aidebt.stats.quantile_ci_ranks`): coverage at least ``confidence`` for any
    continuous distribution, no assumption on its shape, which suits skewed latencies.

    Examples
    --------
    >>> from aidebt.datasets import demo_versions
    >>> t = quantile_table(demo_versions(n_items=500), value="latency_ms",
    ...                    by="prompt_version", qs=(0.95,), moments=False)
    >>> t.select("prompt_version", "statistic").rows()
    [('v1', 'p95'), ('v2', 'p95')]
    """
    if not isinstance(value, str):
        raise InvalidArgumentError(f"value={value!r} must be the name of a numeric column.")
    if method not in QUANTILE_METHODS:
        raise InvalidArgumentError(f"method={method!r} must be one of {QUANTILE_METHODS}.")
    levels = _check_quantiles(qs)
    if not levels and not moments:
        raise InvalidArgumentError("qs is empty: name at least one level, e.g. qs=(0.95,).")
    confidence = st.check_confidence(confidence)
    by_cols = frames.as_list(by)
    frame = frames.to_lazy(data)
    frames.require_columns(frame, [value], role="value")
    frames.require_columns(frame, by_cols, role="a by column")
    check_quantity(frame, value, role="value")
    summary = aggregate.quantile_pass(
        frame,
        value,
        by_cols,
        levels,
        confidence=confidence,
        method=method,
        relative_error=relative_error,
        moments=moments,
    )
    columns = ["statistic", "q", "value", "ci_low", "ci_high", "coverage", "n", "missing"]
    out = (
        summary.table.with_columns(
            statistic=pl.col("q").replace_strict(
                {q: _qname(q) for q in levels}, return_dtype=pl.String
            )
        ).select(*by_cols, *columns)
        if levels
        else summary.groups.select(by_cols)
        .clear()
        .with_columns(
            pl.lit(None, pl.String if c == "statistic" else pl.Float64).alias(c) for c in columns
        )
    )
    if moments:
        groups = summary.groups
        n = groups["n"].to_numpy()
        s, sq = groups["_sum"].to_numpy(), groups["_sq"].to_numpy()
        mean, _, mlo, mhi = st.mean_ci(s, sq, n, confidence)
        tot, tlo, thi = st.total_ci(s, sq, n, confidence)
        nan = np.full(n.shape, np.nan)
        out = pl.concat(
            [
                out,
                _stat_rows(groups, by_cols, "mean", None, mean, mlo, mhi, nan),
                _stat_rows(groups, by_cols, "sum", None, tot, tlo, thi, nan),
            ],
            how="vertical_relaxed",
        )
    return out.sort([*by_cols], maintain_order=True) if by_cols else out


def _stat_rows(groups, by_cols, name, q, est, lo, hi, coverage) -> pl.DataFrame:
    def num(a):
        return pl.Series(np.asarray(a, dtype=float), nan_to_null=True)

    length = groups.height
    return pl.DataFrame(
        {
            **{c: groups.get_column(c) for c in by_cols},
            "statistic": pl.Series([name] * length, dtype=pl.String),
            "q": pl.Series([q] * length, dtype=pl.Float64),
            "value": num(est),
            "ci_low": num(lo),
            "ci_high": num(hi),
            "coverage": num(coverage),
            "n": groups.get_column("n").cast(pl.Float64),
            "missing": groups.get_column("missing").cast(pl.Float64),
        }
    )


# --------------------------------------------------------------------------------------
# The model-card gap
# --------------------------------------------------------------------------------------
class BenchmarkGap(Result):
    """Result of :func:`benchmark_gap`.

    ``table``: one row per published figure: the ``by`` columns, the task, ``metric``,
    ``published`` (the figure), ``published_n`` and ``source``, ``internal`` (the team's
    rate) with ``ci_low``/``ci_high`` and ``n``, ``gap`` (internal minus published, in
    proportion points), ``inside`` (the published figure lies in the internal interval),
    ``gap_ci_low``/``gap_ci_high`` and ``p_value`` (Newcombe's interval and the z test,
    treating the published figure as an independent sample when its size is known), and
    ``verdict``: ``consistent``, ``internal lower`` or ``internal higher`` (judged on the
    gap's interval when the published size is known, else on ``inside``).
    """

    title = "Published vs internal: the model-card gap"

    def __init__(self, table: pl.DataFrame, **info: Any) -> None:
        super().__init__(table)
        self.task: str = info["task"]
        self.by: list[str] = info["by"]
        self.outcome: str = info["outcome"]
        self.confidence: float = info["confidence"]
        self.internal_only: list[str] = info["internal_only"]

    def summary(self) -> list[str]:
        lines = []
        rows = self.table.filter(pl.col("internal").is_not_null()).sort("gap")
        for row in rows.iter_rows(named=True):
            who = " / ".join(str(row[c]) for c in self.by)
            who = f"{who} on " if who else ""
            if row["verdict"] == "consistent":
                tail = "consistent with the published figure"
            else:
                where = "outside" if not row["inside"] else "inside"
                tail = (
                    f"{abs(row['gap']) * 100:.0f} points {'lower' if row['gap'] < 0 else 'higher'} "
                    f"than published ({where} the internal interval)"
                )
            lines.append(
                f"{who}{row[self.task]}: published {row['published']:.0%} ({row['source']}); "
                f"on the team's own eval {row['internal']:.0%} ({self.confidence:.0%} interval "
                f"{row['ci_low']:.0%} to {row['ci_high']:.0%}, {_count(row['n'])} items): {tail}."
            )
        return lines

    def notes(self) -> list[str]:
        out = []
        missing = self.table.filter(pl.col("internal").is_null())
        if missing.height:
            names = ", ".join(sorted({str(t) for t in missing[self.task]}))
            out.append(f"No internal eval for the published figures on: {names}.")
        if self.internal_only:
            out.append(
                "Evaluated internally with no published figure: "
                + ", ".join(self.internal_only)
                + "."
            )
        out.append(
            "A public benchmark and the team's workload are different tasks: the gap measures "
            "how far the advertised figure is from this team's reality, not an error in it."
        )
        return out

    def chart(self, *, width: int = 420):
        """Dumbbell chart: published (hollow) and internal (with its interval) per task."""
        from aidebt import charts

        return charts.dumbbell(self.table, task=self.task, by=self.by, width=width)

    def headline(self) -> Headline:
        rows = self.table.filter(pl.col("internal").is_not_null()).sort("gap")
        if rows.is_empty():
            return Headline("No published figure has an internal eval to compare with.", {})
        w = rows.row(0, named=True)
        who = " / ".join(str(w[c]) for c in self.by)
        outside = rows.filter(pl.col("verdict") != "consistent").height
        sentence = (
            f"{outside} of {rows.height} published figures differ from the team's own eval; "
            f"the largest gap: {who + ' on ' if who else ''}{w[self.task]}, published "
            f"{w['published']:.0%} vs {w['internal']:.0%} internally ({w['gap'] * 100:+.0f} points)."
        )
        return Headline(
            sentence,
            {
                "outside": outside,
                "figures": rows.height,
                "largest_gap": w["gap"],
                "task": w[self.task],
            },
        )


def runs_of(runs: Any, version: str | None, baseline: Any) -> Any:
    """The runs of one version (``baseline``, a value of the ``version`` column), in the
    data's own engine; every run when either is None (one version only).

    Examples
    --------
    >>> import polars as pl
    >>> runs = pl.DataFrame({"v": ["a", "b", "a"], "ok": [1, 0, 1]})
    >>> runs_of(runs, "v", "a").height, runs_of(runs, None, None).height
    (2, 3)
    """
    if version is None or baseline is None:
        return runs
    return nw.from_native(runs).filter(nw.col(version) == baseline).to_native()


def benchmark_gap(
    published: Any,
    internal: Any,
    *,
    task: str,
    outcome: str,
    by: str | Sequence[str] | None = None,
    confidence: float = 0.95,
    value: str = "value",
    n: str = "n",
    source: str = "source",
    metric: str = "metric",
) -> BenchmarkGap:
    """Published figures (model cards, leaderboards) against the team's internal eval.

    Parameters
    ----------
    published
        A small table: the ``task`` column (benchmark or task name, matching the internal
        eval's), the ``by`` columns (e.g. the model), ``value`` (a proportion in [0, 1]),
        and optionally ``n`` (the benchmark's size, where known), ``source`` and
        ``metric``.
    internal
        The internal eval, one row per item (any input aidebt accepts), with the
        ``task`` and ``by`` columns and a 0/1 ``outcome`` (e.g. ``correct``).
    task, outcome, by
        Column names.
    confidence
        Level of the internal interval (Wilson) and of the gap's interval.
    value, n, source, metric
        Column names in ``published``.

    Returns
    -------
    BenchmarkGap
        ``.table`` (one row per published figure), ``.summary()``, ``.chart()``
        (dumbbell), ``.headline()``.

    Notes
    -----
    The internal rate per (by, task) comes from one group-by in the data's engine; its
    interval is Wilson's. Where the published size is known, the gap gets Newcombe's
    interval for two independent proportions and a z test; otherwise only the question
    the issue asks: does the published figure lie inside the internal interval?

    Examples
    --------
    >>> from aidebt.datasets import demo_published, demo_versions
    >>> ev = demo_versions(n_items=800).filter(prompt_version="v1")
    >>> g = benchmark_gap(demo_published(), ev, task="task", outcome="correct",
    ...                   by="model_version")
    >>> g.table.filter(model_version="m1", task="long_context_qa")["verdict"].item()
    'internal lower'
    """
    confidence = st.check_confidence(confidence)
    by_cols = frames.as_list(by)
    pub = frames.to_lazy(published)
    frames.require_columns(pub, [task, *by_cols, value], role="a published column")
    pub_df = aggregate.collect(pub)
    has_n, has_source, has_metric = (c in pub_df.columns for c in (n, source, metric))
    vals = pub_df.get_column(value)
    if not vals.dtype.is_numeric():
        raise ColumnTypeError(
            f"Column {value!r} of the published table holds {vals.dtype} values; it needs "
            "numbers (proportions such as 0.89)."
        )
    if ((vals < 0) | (vals > 1)).any():
        bad = vals.filter((vals < 0) | (vals > 1)).head(3).to_list()
        raise InvalidValueError(
            f"Column {value!r} of the published table holds {bad}: published figures must be "
            "proportions in [0, 1] (write 89% as 0.89)."
        )
    frame = frames.to_lazy(internal)
    frames.require_columns(frame, [task, *by_cols], role="a task or by column of the internal eval")
    frames.require_columns(frame, [outcome], role="outcome")
    o = _flag(frame, outcome, "outcome")
    keys = [*by_cols, task]
    counts = aggregate.collect(
        frame.select(
            *(nw.col(k) for k in keys),
            _is(~o.is_null()).alias("_n"),
            _is(o == 1).alias("_x"),
            _is(~o.is_null() & ~((o == 0) | (o == 1))).alias("_bad"),
        )
        .group_by(*keys)
        .agg(nw.col("_n").sum(), nw.col("_x").sum(), nw.col("_bad").sum())
    )
    if counts["_bad"].sum() > 0:
        raise InvalidValueError(
            f"Column {outcome!r} (outcome) must hold 0/1 values; found "
            f"{frames.sample_values(frame, outcome)}. Map it to 0/1 first."
        )
    counts = counts.with_columns(pl.col(k).cast(pl.String) for k in keys).with_columns(
        pl.col("_n", "_x").cast(pl.Float64)
    )
    pub_df = pub_df.with_columns(pl.col(k).cast(pl.String) for k in keys)
    joined = pub_df.join(counts, on=keys, how="left", nulls_equal=True)
    x = joined["_x"].fill_null(0).to_numpy()
    size = joined["_n"].fill_null(0).to_numpy()
    lo, hi = st.wilson_ci(x, size, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(size > 0, x / size, np.nan)
    published_v = joined[value].cast(pl.Float64).to_numpy()
    pub_n = (
        joined[n].cast(pl.Float64).fill_null(np.nan).to_numpy()
        if has_n
        else np.full(joined.height, np.nan)
    )
    known = ~np.isnan(pub_n) & (pub_n > 0)
    cmp = st.two_proportions(
        x, size, np.where(known, published_v * pub_n, 0), np.where(known, pub_n, 0), confidence
    )
    inside = (published_v >= lo) & (published_v <= hi)
    # With the published size known both figures carry sampling error: judge the gap by its
    # own interval. Without it, only the internal interval is known.
    clear = np.where(known, (cmp["diff_lo"] > 0) | (cmp["diff_hi"] < 0), ~inside)
    verdict = np.where(
        np.isnan(rate),
        None,
        np.where(
            ~clear,
            "consistent",
            np.where(rate < published_v, "internal lower", "internal higher"),
        ),
    )

    def num(a):
        return pl.Series(np.asarray(a, dtype=float), nan_to_null=True)

    table = joined.select(keys).with_columns(
        metric=joined[metric].cast(pl.String) if has_metric else pl.lit(None, pl.String),
        published=num(published_v),
        published_n=num(pub_n),
        source=joined[source].cast(pl.String) if has_source else pl.lit(None, pl.String),
        internal=num(rate),
        ci_low=num(np.where(size > 0, lo, np.nan)),
        ci_high=num(np.where(size > 0, hi, np.nan)),
        n=num(np.where(size > 0, size, np.nan)),
        gap=num(rate - published_v),
        inside=pl.when(pl.lit(pl.Series(np.isnan(rate))))
        .then(pl.lit(None, pl.Boolean))
        .otherwise(pl.lit(pl.Series(inside))),
        gap_ci_low=num(np.where(known, cmp["diff_lo"], np.nan)),
        gap_ci_high=num(np.where(known, cmp["diff_hi"], np.nan)),
        p_value=num(np.where(known, cmp["p"], np.nan)),
        verdict=pl.Series(list(verdict), dtype=pl.String),
    )
    matched = set(map(tuple, pub_df.select(keys).rows()))
    internal_only = sorted(
        " / ".join(r) for r in counts.select(keys).rows() if tuple(r) not in matched
    )
    return BenchmarkGap(
        table.sort(keys),
        task=task,
        by=by_cols,
        outcome=outcome,
        confidence=confidence,
        internal_only=internal_only,
    )
