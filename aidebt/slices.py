"""Find the failing slice nobody named: slice discovery with false-discovery control.

:func:`aidebt.disaggregate` answers "how does each group I named do?". :func:`slices`
searches the groups nobody named: conjunctions of up to ``max_depth`` conditions
``column = value`` (``language = ja & intent = account_recovery``) whose metric is worse
than in the rest of the data, and reports only those that hold up to a false-discovery
control over every slice it looked at.

Architecture (see DESIGN.md): the search walks the lattice of slices level by level like
SliceLine (Sagadeeva & Boehm, SIGMOD 2021), but every level is ONE aggregation query in
the data's engine (a group-by per column set, as branches of a single query:
:func:`aidebt.aggregate.sufficient_stats_sets`), or, when every column has few levels,
one group-by over all of them that each level re-sums. Everything else (the tests of
each slice against the rest and against its parents, the pruning bounds, the
adjustment) runs on the small tables of sums, vectorized in numpy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import narwhals as nw
import numpy as np
import polars as pl

from aidebt import aggregate, frames, prose
from aidebt import metrics as mreg
from aidebt import stats as st
from aidebt.distributions import norm_sf
from aidebt.errors import ColumnTypeError, InvalidArgumentError, InvalidValueError
from aidebt.results import Headline, Result
from aidebt.simpson import DEFAULT_MAX_LEVELS, MODEL_OUTPUT_PATTERN, SAMPLE_ROWS

__all__ = ["Slices", "slices", "worst_slice"]

MAX_DEPTH = 3
"""Deepest conjunction searched (see the error raised above it for why)."""
METHODS = {"by": "Benjamini-Yekutieli", "bh": "Benjamini-Hochberg"}
OUTCOME_LAMBDA = 0.95
"""Goodman-Kruskal lambda above which an automatic candidate counts as an outcome."""
JOINT_MAX_GROUPS = 50_000
"""Largest joint grouping (product of the candidates' levels) aggregated in one group-by."""
SEP = " & "

_TABLE_COLUMNS = [
    "slice",
    "columns",
    "values",
    "depth",
    "parent",
    "n",
    "rows",
    "value",
    "ci_low",
    "ci_high",
    "rest_value",
    "diff",
    "diff_ci_low",
    "diff_ci_high",
    "ratio",
    "excess",
    "p_value",
    "p_parent",
    "q_value",
]


# --------------------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------------------
class Slices(Result):
    """Result of :func:`slices`.

    Attributes
    ----------
    table : polars.DataFrame
        The reported slices, the largest excess first: ``slice`` (readable, e.g.
        ``"language = ja & intent = account_recovery"``), ``columns`` and ``values``
        (lists), ``depth``, ``parent`` (for a conjunction, the parent it differs from
        least), ``n`` (the metric's denominator in the slice: labeled rows for
        ``error_rate``, positives for ``fnr``...), ``rows`` (weighted rows), ``value`` with
        ``ci_low``/``ci_high``, ``rest_value`` (the metric over every other row),
        ``diff`` (slice minus rest) with ``diff_ci_low``/``diff_ci_high``, ``ratio``
        (slice / rest), ``excess`` (the failures beyond what the rest's value would give:
        ``|diff| * n``), ``p_value`` (one-sided, slice worse than the rest),
        ``p_parent`` (one-sided, slice worse than the rest of each parent: the largest of
        those p-values; null at depth 1) and ``q_value`` (the false-discovery adjusted
        ``max(p_value, p_parent)`` over every evaluated slice).
    evaluated : polars.DataFrame
        Every evaluated slice, same columns plus ``status``: ``reported``, ``not
        significant``, ``not worse than a parent`` or ``explained by a child``.
    candidates : polars.DataFrame
        Every column of the data: ``column``, ``dtype``, ``status`` (``sliced``,
        ``binned``, the role it plays, or ``skipped``), ``reason`` and ``short``.
    n_tests : int
        Number of slices evaluated and tested: the size of the false-discovery family.
    """

    title = "Slices worse than the rest"

    def __init__(
        self,
        table: pl.DataFrame,
        evaluated: pl.DataFrame,
        *,
        metric: mreg.Metric,
        overall: dict[str, float],
        fdr: float,
        method: str,
        confidence: float,
        max_depth: int,
        min_n: float,
        candidates: pl.DataFrame,
        search: pl.DataFrame,
        strategy: str,
        unlabeled: float,
    ) -> None:
        super().__init__(table)
        self.evaluated = evaluated
        self.metric = metric
        self.overall = overall
        self.fdr = fdr
        self.method = method
        self.confidence = confidence
        self.max_depth = max_depth
        self.min_n = min_n
        self.candidates = candidates
        self.search = search
        self.strategy = strategy
        self.unlabeled = unlabeled

    @property
    def n_tests(self) -> int:
        return self.evaluated.height

    @property
    def columns(self) -> list[str]:
        """The columns searched (binned numeric columns included)."""
        return self.candidates.filter(pl.col("status").is_in(["sliced", "binned"]))[
            "column"
        ].to_list()

    # ----------------------------------------------------------------------------------
    # Plain words
    # ----------------------------------------------------------------------------------
    def _fmt(self, v: float, digits: int | None = None) -> str:
        """A value of the metric: a share in percent ('4.2%'; '99.61%' near 1), else three
        significant digits (``digits``: that many more, for an interval's ends)."""
        if self.metric.in_points:
            if digits is None:
                digits = 1 if abs(v) < 0.995 or v == 1 else 2
            return prose.percent(v, digits)
        return f"{v:.{3 + (digits or 0)}g}"

    def _failures(self) -> str:
        return _failure_word(self.metric)

    def _name(self, row: dict[str, Any]) -> str:
        """A slice as a reader says it: 'Intent: technical and Language: ja'."""
        return readable_slice(row["columns"], row["values"])

    def _metric_name(self, metric_names: Mapping[str, str] | None) -> str:
        return (metric_names or {}).get(self.metric.name) or self.metric.display_name

    def _line(self, row: dict[str, Any], name: str, counted: str | None = None) -> str:
        m = self.metric
        level = f"{self.confidence:.0%}"
        ratio = row["ratio"]
        times = (
            f", {ratio:.1f} times the rest's"
            if ratio is not None and np.isfinite(ratio) and ratio > 0
            else ""
        )
        excess = row["excess"]
        size = f"{row['n']:,.0f} {counted or m.denominator_name}"
        if m.binomial:
            extra = f"; about {excess:,.0f} more {self._failures()} than at the rest's rate"
        else:
            extra = ""
        meet = self._meeting(row)
        joined = " and " if row["depth"] == 2 else "; "  # deeper parents hold "and" themselves
        where = f" (where {joined.join(meet)} meet)" if meet else ""
        return (
            f"{self._name(row)}{where} \N{EM DASH} {name} {self._fmt(row['value'])} ({level} interval "
            f"{prose.interval(row['ci_low'], row['ci_high'], self._fmt, None)}) against "
            f"{self._fmt(row['rest_value'])} in the rest of the data{times} ({size}{extra})."
        )

    def _meeting(self, row: dict[str, Any]) -> list[str]:
        """The reported slices a reported conjunction is the overlap of (all, or none).

        Two effects that compound (ja misses more in every intent) make their overlap
        worse than either alone, so it is reported; saying so keeps it from reading as a
        third, separate finding.
        """
        if row["depth"] < 2:
            return []
        mine = set(zip(row["columns"], row["values"], strict=True))
        parents = [
            self._name(r)
            for r in self.table.filter(pl.col("depth") == row["depth"] - 1).iter_rows(named=True)
            if set(zip(r["columns"], r["values"], strict=True)) <= mine
        ]
        return parents if len(parents) == row["depth"] else []

    def summary(
        self,
        top: int = 5,
        metric_names: Mapping[str, str] | None = None,
        counted: str | None = None,
    ) -> list[str]:
        """The reported slices in plain words, the largest excess first, then the count.

        Each slice reads as its columns and values ('Intent: technical and Language: ja');
        the metric is named in words (``metric_names``, e.g. a report's
        ``Words.metric_names()``, else its description: "false-negative rate"), and what
        its ``n`` counts too (``counted``, e.g. ``Words.counted(metric)``: "answers with a
        known review", else the metric's denominator: "labeled rows").

        Examples
        --------
        >>> import aidebt as ad
        >>> from aidebt.slices import slices
        >>> s = slices(ad.datasets.demo(4_000, months=2), y_true="y_true", y_pred="y_pred",
        ...            metric="fnr")
        >>> s.summary()[0].startswith("Language: ja \N{EM DASH} false-negative rate")
        True
        """
        name = self._metric_name(metric_names)
        lines = [self._line(r, name, counted) for r in self.table.head(top).iter_rows(named=True)]
        k = self.table.height
        found = (
            f"{k} slice{'s are' if k != 1 else ' is'} worse than the rest"
            if k
            else "no slice is worse than the rest beyond what chance explains"
        )
        more = f" ({k - top} more not listed here)" if k > top else ""
        worse = "lower" if self.metric.higher_is_better else "higher"
        lines.append(
            f"Searched {self.n_tests:,} slices of up to {self.max_depth} conditions over "
            f"{len(self.columns)} columns for a {worse} {name} than in the rest "
            f"of the data: {found} at a {self.fdr:.0%} false-discovery rate{more}."
        )
        return lines

    def headline(self, metric_names: Mapping[str, str] | None = None) -> Headline:
        """One sentence and the key figures, for the monthly audit.

        The metric is named in words (``metric_names``, e.g. a report's
        ``Words.metric_names()``, else its description: "false-negative rate").
        A :class:`~aidebt.results.Headline` (``sentence, figures``); ``figures`` holds
        ``slices_evaluated``, ``slices_found`` and, when a slice is found, ``worst_slice``,
        ``worst_slice_value``, ``worst_slice_rest_value``, ``worst_slice_ratio``,
        ``worst_slice_n`` (the slice with the largest excess).

        Examples
        --------
        >>> import aidebt as ad
        >>> from aidebt.slices import slices
        >>> s = slices(ad.datasets.demo(4_000, months=2), y_true="y_true", y_pred="y_pred",
        ...            metric="fnr")
        >>> s.headline().figures["worst_slice"]
        'language = ja'
        """
        name = self._metric_name(metric_names)
        figures: dict[str, Any] = {
            "slices_evaluated": self.n_tests,
            "slices_found": self.table.height,
        }
        if self.table.is_empty():
            sentence = (
                f"No slice of up to {self.max_depth} conditions has a worse "
                f"{name} than the rest of the data ({self.n_tests:,} slices "
                f"searched, {self.fdr:.0%} false-discovery rate)."
            )
            return Headline(sentence, figures)
        top = self.table.row(0, named=True)
        figures.update(
            worst_slice=top["slice"],
            worst_slice_value=top["value"],
            worst_slice_rest_value=top["rest_value"],
            worst_slice_ratio=top["ratio"],
            worst_slice_n=top["n"],
        )
        k = self.table.height
        others = f" and {k - 1} other slice{'s' if k > 2 else ''}" if k > 1 else ""
        sentence = (
            f"{self._name(top)}{others} fall short: {name} "
            f"{self._fmt(top['value'])} against {self._fmt(top['rest_value'])} in the rest "
            f"of the data ({self.n_tests:,} slices searched, {self.fdr:.0%} "
            "false-discovery rate)."
        )
        return Headline(sentence, figures)

    def notes(self) -> list[str]:
        """How the search went: slices evaluated per depth, pruned, columns left out."""
        lines = []
        per = ", ".join(
            f"depth {r['depth']}: {r['evaluated']:,} evaluated"
            + (f", {r['pruned']:,} pruned by the bound" if r["pruned"] else "")
            + (f", {r['small']:,} under min_n" if r["small"] else "")
            for r in self.search.iter_rows(named=True)
        )
        method = METHODS[self.method]
        lines.append(
            f"{self.n_tests:,} slices evaluated ({per}); each tested against the rest of the "
            f"data (one-sided, {_test_name(self.metric)}) and, for a conjunction, against "
            f"the rest of each parent; {method} adjustment over all {self.n_tests:,} tests "
            f"at a {self.fdr:.0%} false-discovery rate. Slices under min_n={self.min_n:g} "
            f"{self.metric.denominator_name} are not tested."
        )
        skipped = self.candidates.filter(pl.col("status") == "skipped")
        if skipped.height:
            shown = "; ".join(
                f"{c} ({r})" for c, r in skipped.select("column", "reason").iter_rows()
            )
            lines.append(f"Columns not searched: {shown}.")
        binned = self.candidates.filter(pl.col("status") == "binned")
        if binned.height:
            lines.append(
                "Binned into quantile bins: " + ", ".join(binned["column"].to_list()) + "."
            )
        explained = self.evaluated.filter(pl.col("status") == "explained by a child")
        if explained.height:
            lines.append(
                "Not reported because a reported conjunction inside them accounts for their "
                "shortfall: " + ", ".join(sorted(explained["slice"].to_list())[:8]) + "."
            )
        if self.unlabeled:
            lines.append(
                f"{self.unlabeled:,.0f} unlabeled rows are left out of {self.metric.name}."
            )
        return lines

    def chart(self, top: int = 30, metric_names: Mapping[str, str] | None = None):
        """Forest plot of the reported slices against the rest of the data, with size.

        The metric is named in words (``metric_names``, else its description), each slice
        as the summary says it ('Intent: technical'). See :func:`aidebt.charts.slice_forest`.
        """
        from aidebt import charts

        shown = self.table.head(top)
        said = [self._name(row) for row in shown.iter_rows(named=True)]  # a few dozen rows
        return charts.slice_forest(
            shown.with_columns(pl.Series("slice", said, dtype=pl.String)),
            metric=(metric_names or {}).get(self.metric.name) or self.metric.display_name,
            percent=self.metric.in_points,
            confidence=self.confidence,
        )

    def _display_table(self) -> pl.DataFrame:
        return self.table.select(
            "slice",
            "n",
            "value",
            "ci_low",
            "ci_high",
            "rest_value",
            "diff",
            "ratio",
            "excess",
            "q_value",
        )


def readable_slice(columns: Sequence[str], values: Sequence[Any]) -> str:
    """A slice as a reader says it: each column's readable name and its value.

    Examples
    --------
    >>> readable_slice(["intent", "customer_tier"], ["billing", "pro"])
    'Intent: billing and Customer tier: pro'
    """
    return prose.group_phrase(dict(zip(columns, values, strict=True)), columns)


def worst_slice(result: Slices, by: str = "diff") -> dict[str, Any] | None:
    """The reported slice that falls furthest short, as a dict (None when none is reported).

    For the gate engine: ``by="diff"`` (default) ranks by the shortfall against the rest
    (``diff`` in the metric's bad direction), ``"bound"`` by the conservative end of its
    interval (``diff_ci_low`` for a metric where higher is worse: for a rollback trigger),
    ``"upper"`` by the other end (for a stage that must pass on evidence), ``"excess"``
    by the failures beyond the rest's rate, ``"ratio"`` by the ratio. The dict is the table row
    plus ``shortfall`` (``diff`` signed so that positive means worse) and
    ``shortfall_low`` / ``shortfall_high`` (its interval, same sign), so a policy such as
    "no discovered slice worse than 5 points" reads ``shortfall_low > 0.05`` (breach on
    evidence) or ``shortfall_high <= 0.05`` (pass on evidence).

    Examples
    --------
    >>> import aidebt as ad
    >>> from aidebt.slices import slices
    >>> s = slices(ad.datasets.demo(4_000, months=2), y_true="y_true", y_pred="y_pred",
    ...            metric="fnr")
    >>> worst_slice(s)["slice"]
    'language = ja & intent = technical'
    >>> worst_slice(s, by="excess")["slice"]
    'language = ja'
    """
    if by not in ("diff", "bound", "upper", "excess", "ratio"):
        raise InvalidArgumentError(
            f"by={by!r} is not a ranking; use 'diff', 'bound', 'upper', 'excess' or 'ratio'."
        )
    if result.table.is_empty():
        return None
    sign = -1.0 if result.metric.higher_is_better else 1.0
    t = result.table.with_columns(
        shortfall=sign * pl.col("diff"),
        shortfall_low=pl.min_horizontal(
            sign * pl.col("diff_ci_low"), sign * pl.col("diff_ci_high")
        ),
        shortfall_high=pl.max_horizontal(
            sign * pl.col("diff_ci_low"), sign * pl.col("diff_ci_high")
        ),
    )
    key = {
        "diff": "shortfall",
        "bound": "shortfall_low",
        "upper": "shortfall_high",
        "excess": "excess",
        "ratio": "ratio",
    }[by]
    if by == "ratio" and sign < 0:
        t = t.with_columns(ratio_rank=1 / pl.col("ratio"))
        key = "ratio_rank"
    row = t.sort(key, descending=True, nulls_last=True).row(0, named=True)
    row.pop("ratio_rank", None)
    return row


# --------------------------------------------------------------------------------------
# The analysis
# --------------------------------------------------------------------------------------
def slices(
    data: Any,
    *,
    y_true: str,
    y_pred: str | None = None,
    metric: str = "error_rate",
    columns: str | Sequence[str] | None = None,
    max_depth: int = 2,
    min_n: float = 30,
    fdr: float = 0.05,
    bins: int = 5,
    y_score: str | None = None,
    weight: str | None = None,
    method: str = "by",
    exclude: str | Sequence[str] | None = None,
    max_levels: int = DEFAULT_MAX_LEVELS,
    pos_label: Any = None,
    confidence: float = 0.95,
) -> Slices:
    """Find the slices of the data where a metric is worse than in the rest, with FDR control.

    A slice is a conjunction of up to ``max_depth`` conditions ``column = value``. Every
    slice with at least ``min_n`` rows in the metric's denominator is tested against the
    rest of the data; a conjunction is reported only if it is also worse than the rest of
    each of its parents (so ``language = ja`` is not repeated as ``language = ja & tier =
    pro``...), and a slice is not reported when one reported conjunction inside it
    accounts for its whole shortfall. The false-discovery rate is controlled over every
    slice evaluated.

    Parameters
    ----------
    data
        polars DataFrame/LazyFrame, pandas DataFrame, pyarrow Table, DuckDB relation,
        PySpark DataFrame, or a path/glob to parquet or CSV files.
    y_true, y_pred, y_score, weight, pos_label
        The label, prediction, score and frequency-weight columns, as in
        :func:`aidebt.disaggregate`.
    metric
        A registered metric with a bad direction (``error_rate``, ``fnr``, ``fpr``,
        ``accuracy``, ``precision``, ``f1``, ``brier``...; see :mod:`aidebt.metrics`).
        Slices are searched where it is worse: higher for an error, lower for accuracy.
    columns
        The columns to slice by. ``None`` (default): every column but the roles and
        ``exclude``, skipping temporal columns, columns whose name says model output or
        label (``MODEL_OUTPUT_PATTERN``), string columns with more than ``max_levels``
        levels, and columns that turn out to predict the label, the prediction or the
        metric's failures almost perfectly (Goodman-Kruskal lambda >= 0.95: an outcome,
        not a segment). Named columns are searched whatever their name.
    max_depth
        Most conditions in a slice: 1, 2 (default) or 3.
    min_n
        Smallest metric denominator (weighted) a slice needs to be tested (30).
    fdr
        The false-discovery rate (0.05).
    bins
        Numeric columns (floats, and integers with more than ``max_levels`` values) are
        cut into this many quantile bins (5), computed in one aggregation query.
    method
        ``"by"`` (default): Benjamini-Yekutieli, valid under any dependence between the
        tests (slices overlap, so their tests are dependent); ``"bh"``:
        Benjamini-Hochberg, more powerful, valid under positive dependence.
    exclude
        Columns never to slice by.
    max_levels
        Most levels of an automatically searched column (20).
    confidence
        Level of the (two-sided) intervals shown (0.95).

    Returns
    -------
    Slices
        ``.table`` (the reported slices), ``.evaluated``, ``.summary()``, ``.chart()``,
        ``.notes()``, ``.headline()``, ``.candidates``.

    Notes
    -----
    Tests: each slice against the rest of the data, one-sided in the metric's bad
    direction, with the same methods as :func:`aidebt.disaggregate` (for a rate: Wilson
    interval for the slice, Newcombe interval for the difference, log interval for the
    ratio, pooled z test; for a mean: Welch; for F1: delta method), the rest being the
    overall sums minus the slice's. A conjunction is also tested against the rest of
    each parent (``language = ja & intent = x`` against ``language = ja & intent != x``);
    its ``p_parent`` is the largest of those p-values, and ``max(p_value, p_parent)`` is
    an intersection-union p-value for "worse than the rest and than each parent". Those
    p-values of every evaluated slice are adjusted together (``q_value``; assumption:
    rows are independent given the slice, as for a binomial or a mean; a month-level
    wobble of the metric is not modelled). A slice is reported when ``q_value <= fdr``,
    unless the rest of it, once a reported child is removed, is not worse than the rest
    of the data (one-sided p > ``fdr``): that child is the finding, not the slice.

    Search: level by level (Sagadeeva & Boehm, "SliceLine: fast, linear-algebra-based
    slice finding for ML model debugging", SIGMOD 2021). A slice is expanded only if
    its denominator is at least ``min_n`` (a child's denominator is at most its
    parent's), and a child is generated only if all its parents were evaluated and, for
    a rate, if its best case (a sub-slice of at most the smallest parent's size holding
    at most the fewest parent failures) could still reach the largest threshold the
    adjustment can use (``fdr / c(m)`` for Benjamini-Yekutieli with ``m`` the slices
    tested so far, ``fdr`` for Benjamini-Hochberg). Such a child could never be
    reported, and neither could any slice inside it. Each level is one aggregation
    query (a group-by per column set, as branches of one query), or, when the product
    of the candidates' levels is at most ``JOINT_MAX_GROUPS``, a single group-by over
    every candidate that each level re-sums.

    Examples
    --------
    >>> import aidebt as ad
    >>> from aidebt.slices import slices
    >>> s = slices(ad.datasets.demo(4_000, months=2), y_true="y_true", y_pred="y_pred",
    ...            metric="fnr")
    >>> s.table.select("slice", "n", "value", "rest_value").row(0)
    ('language = ja', 589.0, 0.22920203735144312, 0.051704673741250845)
    >>> s.n_tests
    238
    """
    m = _check_metric(metric)
    confidence = st.check_confidence(confidence)
    _check_arguments(max_depth, min_n, fdr, bins, method, max_levels)
    roles = mreg.roles_for([m], {}, y_true, y_pred, y_score, weight, pos_label)
    frame = frames.to_lazy(data)
    frames.require_columns(frame, [y_true], role="y_true")
    frames.require_columns(frame, [y_pred], role="y_pred")
    frames.require_columns(frame, [y_score], role="y_score")
    frames.require_columns(frame, [weight], role="weight")
    named = frames.as_list(columns)
    excluded = frames.as_list(exclude)
    frames.require_columns(frame, named, role="a slicing column")
    frames.require_columns(frame, excluded, role="exclude")
    role_of = {
        c: r
        for r, c in (
            ("y_true", y_true),
            ("y_pred", y_pred),
            ("y_score", y_score),
            ("weight", weight),
        )
        if c
    }
    for name in named:
        if name in role_of:
            raise InvalidArgumentError(
                f"Column {name!r} is the {role_of[name]}; it cannot also be a slicing "
                "column. Remove it from columns=."
            )
    scan = _candidates(frame, role_of, named, excluded, max_levels, bins)
    _check_depth(max_depth, scan.columns, scan.levels)
    binned = _bin_frame(frame, scan, bins)

    search = _Search(binned, scan, roles, m, min_n, fdr, method, confidence)
    search.run(max_depth)
    return search.result(max_depth)


# --------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------
def _check_metric(name: str) -> mreg.Metric:
    m = mreg.get(name)
    if m.needs_score_counts or not m.comparable or m.higher_is_better is None:
        usable = sorted(
            n
            for n, x in mreg.REGISTRY.items()
            if x.higher_is_better is not None and x.comparable and not x.needs_score_counts
        )
        why = (
            "AUC needs the (score, label) counts of every slice, which the lattice search "
            "does not carry; use brier for the score"
            if m.needs_score_counts
            else f"{m.name!r} has no bad direction, so no slice is 'worse'"
        )
        raise InvalidArgumentError(
            f"metric={name!r} cannot be searched: {why}. Use one of {', '.join(usable)}."
        )
    return m


def _check_arguments(max_depth, min_n, fdr, bins, method, max_levels) -> None:
    if isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 1:
        raise InvalidArgumentError(f"max_depth={max_depth!r} must be 1, 2 or 3.")
    if isinstance(min_n, bool) or not isinstance(min_n, (int, float)) or not min_n >= 1:
        raise InvalidArgumentError(f"min_n={min_n!r} must be a number >= 1, e.g. 30.")
    if isinstance(fdr, bool) or not isinstance(fdr, (int, float)) or not 0 < fdr < 1:
        raise InvalidArgumentError(
            f"fdr={fdr!r} must be a false-discovery rate strictly between 0 and 1, e.g. 0.05."
        )
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
        raise InvalidArgumentError(f"bins={bins!r} must be an integer >= 2, e.g. 5.")
    if method not in METHODS:
        raise InvalidArgumentError(
            f"method={method!r} is not an adjustment; use 'by' (Benjamini-Yekutieli, any "
            "dependence) or 'bh' (Benjamini-Hochberg)."
        )
    if isinstance(max_levels, bool) or not isinstance(max_levels, int) or max_levels < 2:
        raise InvalidArgumentError(f"max_levels={max_levels!r} must be an integer >= 2, e.g. 20.")


def _check_depth(max_depth: int, columns: list[str], levels: dict[str, int]) -> None:
    """Refuse depths above MAX_DEPTH with what they would cost on this data."""
    if max_depth <= MAX_DEPTH:
        return
    k = len(columns)
    sizes = sorted((levels[c] for c in columns), reverse=True)
    typical = float(np.median(sizes)) if sizes else 0.0
    sets = math.comb(k, max_depth)
    reach = sets * typical**max_depth
    raise InvalidArgumentError(
        f"max_depth={max_depth} is above {MAX_DEPTH}. With the {k} candidate columns here "
        f"(a median of {typical:g} levels), depth {max_depth} adds {sets:,} column sets "
        f"and up to ~{reach:,.0f} slices, each one more group-by branch over every row "
        "and one more test in the false-discovery family, which raises the bar for every "
        "other slice; and a slice defined by four conditions is rarely one a team can act "
        f"on. Use max_depth={MAX_DEPTH} or less (narrow columns= to go deeper on a few)."
    )


# --------------------------------------------------------------------------------------
# Candidate columns (schema, plus a bounded look at the first rows) and binning
# --------------------------------------------------------------------------------------
@dataclass
class _Scan:
    columns: list[str]  # searched, in the data's order
    binned: list[str]  # the numeric ones among them, cut into quantile bins
    levels: dict[str, int]  # levels among the first rows (bins for binned columns)
    candidates: pl.DataFrame
    auto: bool
    max_levels: int


def _candidates(frame, role_of, named, excluded, max_levels, bins) -> _Scan:
    schema = frames.columns(frame)
    auto = not named
    records: dict[str, dict[str, str]] = {}
    look: list[str] = []
    for name, dtype in schema.items():
        rec = {"column": name, "dtype": str(dtype), "status": "", "reason": "", "short": ""}
        records[name] = rec
        if name in role_of:
            rec["status"] = role_of[name]
            continue
        if not auto and name not in named:
            rec.update(status="skipped", reason="not in columns=", short="not requested")
            continue
        temporal = dtype.is_temporal() or frames.is_temporal(dtype)
        if temporal and not auto:
            raise ColumnTypeError(
                f"Column {name!r} is temporal ({dtype}); a time is not a slice. Derive the "
                "period you mean first (e.g. the month as a string), or see aidebt.decay."
            )
        if auto and name in excluded:
            rec.update(status="skipped", reason="excluded by exclude=", short="excluded")
        elif temporal:
            rec.update(
                status="skipped",
                reason="temporal: time is not a slice (see aidebt.decay)",
                short="temporal",
            )
        elif not (
            frames.is_numeric(dtype)
            or dtype == nw.String
            or dtype == nw.Categorical
            or isinstance(dtype, nw.Enum)
        ):
            rec.update(status="skipped", reason=f"type {dtype} cannot be sliced", short="type")
        elif auto and MODEL_OUTPUT_PATTERN.search(name):
            rec.update(
                status="skipped",
                reason="the name says model output or label: slicing by it conditions on "
                "the outcome (name it in columns= to search it anyway)",
                short="model output",
            )
        else:
            look.append(name)
    levels = _sample_levels(frame, look)
    columns, binned = [], []
    for name in look:
        dtype, k = schema[name], levels[name]
        rec = records[name]
        numeric = frames.is_numeric(dtype) and dtype != nw.Boolean
        # A single value among the first rows (a version that ships later) is not a
        # reason to skip: the pass counts the real levels.
        if numeric and (k > max_levels or (not dtype.is_integer() and k > bins)):
            rec["status"] = "binned"
            binned.append(name)
            levels[name] = bins
        elif k > max_levels and auto:
            rec.update(
                status="skipped",
                reason=f"more than max_levels={max_levels} levels ({k:,} in the first "
                f"{SAMPLE_ROWS:,} rows)",
                short="too many levels",
            )
        else:
            rec["status"] = "sliced"
        if rec["status"] in ("sliced", "binned"):
            columns.append(name)
    table = pl.DataFrame(list(records.values()), schema=dict.fromkeys(_REC_FIELDS, pl.String))
    if not columns:
        skipped = table.filter(pl.col("status") == "skipped")
        why = "; ".join(f"{c} ({r})" for c, r in skipped.select("column", "short").iter_rows())
        raise InvalidValueError(
            "No column can be sliced: every column is a role or was skipped"
            + (f" ({why})" if why else "")
            + f". Name the columns to search with columns=[...], raise max_levels= (now "
            f"{max_levels}) for a column with many levels, or bin a numeric column first."
        )
    return _Scan(columns, binned, levels, table, auto, max_levels)


_REC_FIELDS = ("column", "dtype", "status", "reason", "short")


def _sample_levels(frame: nw.LazyFrame, names: list[str]) -> dict[str, int]:
    """Distinct values (null counts as one) among the first rows: a bounded look.

    It only decides which columns to bin or skip; the aggregation pass counts the real
    levels.
    """
    if not names:
        return {}
    counts = (
        frame.head(SAMPLE_ROWS)
        .select(*(nw.col(c).n_unique().alias(c) for c in names))
        .collect(backend="polars")
        .to_native()
    )
    return {c: int(counts.get_column(c)[0]) for c in names}


def _bin_frame(frame: nw.LazyFrame, scan: _Scan, bins: int) -> nw.LazyFrame:
    """The frame with every binned column replaced by its quantile-bin label.

    The cut points of every binned column come from ONE aggregation query in the data's
    engine (linear-interpolation quantiles, NaN counted as missing); the labels are
    closed-open intervals such as ``[120, 350)``, the last one closed. Missing values
    stay missing (the ``(missing)`` slice).
    """
    if not scan.binned:
        return frame
    schema = frames.columns(frame)
    qs = [i / bins for i in range(1, bins)]

    def clean(name: str) -> nw.Expr:
        col = nw.col(name)
        if schema[name].is_float():
            col = nw.when(~col.is_nan()).then(col)
        return col

    exprs = []
    for i, name in enumerate(scan.binned):
        col = clean(name)
        exprs.append(col.min().alias(f"_b{i}_lo"))
        exprs.append(col.max().alias(f"_b{i}_hi"))
        for j, q in enumerate(qs):
            exprs.append(col.quantile(q, interpolation="linear").alias(f"_b{i}_{j}"))
    row = frame.select(*exprs).collect(backend="polars").to_native().row(0, named=True)
    replaced = []
    for i, name in enumerate(scan.binned):
        lo, hi = row[f"_b{i}_lo"], row[f"_b{i}_hi"]
        cuts = [row[f"_b{i}_{j}"] for j in range(len(qs))]
        replaced.append(_bin_expr(name, schema[name], clean(name), lo, hi, cuts))
    return frame.with_columns(*replaced)


def _bin_expr(name, dtype, col, lo, hi, cuts) -> nw.Expr:
    if lo is None or hi is None:  # every value missing: one (missing) slice
        return nw.lit(None, nw.String).alias(name)
    lo, hi = float(lo), float(hi)
    edges = sorted({float(c) for c in cuts if c is not None})
    if dtype.is_integer():  # x < 2.5 is x < 3 for integers: say so
        edges = sorted({float(math.ceil(c)) for c in edges})
    edges = [e for e in edges if lo < e <= hi]
    if dtype.is_integer():
        edges = [e for e in edges if e > lo]
    bounds = [lo, *edges, hi]
    text = _edge_text(bounds)
    labels = [
        f"[{text[i]}, {text[i + 1]}{']' if i == len(bounds) - 2 else ')'}"
        for i in range(len(bounds) - 1)
    ]
    if len(labels) == 1:
        label: nw.Expr = nw.lit(labels[0], nw.String)
    else:
        label = nw.when(col < edges[0]).then(nw.lit(labels[0], nw.String))
        for e, lab in zip(edges[1:], labels[1:-1], strict=True):
            label = label.when(col < e).then(nw.lit(lab, nw.String))
        label = label.otherwise(nw.lit(labels[-1], nw.String))
    return nw.when(~col.is_null()).then(label).alias(name)


def _edge_text(bounds: list[float]) -> list[str]:
    """Bin edges as short numbers, with just enough digits to tell them apart."""
    for digits in range(3, 16):
        text = [f"{b:.{digits}g}" for b in bounds]
        if len(set(text)) == len(set(bounds)):
            return text
    return [repr(b) for b in bounds]


# --------------------------------------------------------------------------------------
# The lattice search
# --------------------------------------------------------------------------------------
def _failure_word(metric: mreg.Metric) -> str:
    """What one failure is called, for a rate: the cells counted as bad."""
    if not metric.binomial:
        return "failures"
    bad = set(metric.numerator)
    if metric.higher_is_better:
        bad = set(metric.denominator) - bad
    return {
        frozenset({"fn"}): "false negatives",
        frozenset({"fp"}): "false positives",
        frozenset({"fp", "fn"}): "errors",
    }.get(frozenset(bad), "failures")


def _test_name(metric: mreg.Metric) -> str:
    if metric.binomial:
        return "pooled z test, Wilson and Newcombe intervals"
    if metric.interval == "t":
        return "Welch t test"
    return "normal test on the delta-method standard error"


def _one_sided(p_two: np.ndarray, diff: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """One-sided p-value of 'worse' from a symmetric two-sided test."""
    worse = diff < 0 if higher_is_better else diff > 0
    return np.where(np.isnan(p_two), np.nan, np.where(worse, p_two / 2, 1 - p_two / 2))


def _best_case_p(b_max, n_max, bad_all, n_all, min_n) -> np.ndarray:
    """Smallest one-sided p-value any sub-slice can reach against the rest (a rate).

    A sub-slice has a denominator ``n`` in ``[min_n, n_max]`` and at most
    ``min(b_max, n)`` failures; against the rest of ``n_all`` rows with ``bad_all``
    failures, the pooled z statistic is ``(b - n p) sqrt(N) / sqrt(p (1 - p) n (N - n))``
    with ``p = bad_all / n_all`` (the pooled rate is the overall one). It increases
    with ``b``; over ``n`` it is maximised on a grid of sizes that includes the kink at
    ``n = b_max`` (SliceLine's bound, on the test statistic instead of its score).
    """
    b_max, n_max, bad_all, n_all = (
        np.asarray(v, dtype=float) for v in (b_max, n_max, bad_all, n_all)
    )
    lo = np.minimum(np.maximum(min_n, 1.0), n_max)
    steps = np.linspace(0.0, 1.0, 24)  # geometric sizes from lo to n_max
    ns = lo[:, None] * (np.maximum(n_max, lo) / lo)[:, None] ** steps
    ns = np.concatenate([ns, np.clip(b_max, lo, n_max)[:, None]], axis=1)
    b = np.minimum(b_max[:, None], ns)
    p = (bad_all / n_all)[:, None]
    N = n_all[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (b - ns * p) * np.sqrt(N) / np.sqrt(p * (1 - p) * ns * (N - ns))
    z = np.where(np.isfinite(z), z, -np.inf)
    return norm_sf(z.max(axis=1))


class _Search:
    """The level-by-level search; each level is one aggregation query (or a re-sum)."""

    def __init__(self, frame, scan: _Scan, roles, metric, min_n, fdr, method, confidence):
        self.frame = frame
        self.scan = scan
        self.roles = roles
        self.metric = metric
        self.min_n = float(min_n)
        self.fdr = float(fdr)
        self.method = method
        self.confidence = confidence
        self.columns = list(scan.columns)
        self.index = {c: i for i, c in enumerate(self.columns)}
        self.tables: dict[tuple[int, ...], pl.DataFrame] = {}  # evaluated, per column set
        self.levels: list[pl.DataFrame] = []  # tested slices, per depth (long form)
        self.search_rows: list[dict[str, int]] = []
        self.joint: pl.DataFrame | None = None
        self.strategy = "grouping sets"
        self.overall: pl.DataFrame | None = None

    # ---- aggregation ------------------------------------------------------------------
    def _aggregate(self, sets: list[tuple[int, ...]]) -> list[pl.DataFrame]:
        names = [[self.columns[i] for i in s] for s in sets]
        if self.joint is not None:
            return [aggregate.rollup(self.joint, self.columns, ks) for ks in names]
        return aggregate.sufficient_stats_sets(self.frame, names, self.roles)

    def _stat_names(self, table: pl.DataFrame) -> list[str]:
        return [c for c in table.columns if c not in self.columns and not c.startswith("_")]

    # ---- the levels -------------------------------------------------------------------
    def run(self, max_depth: int) -> None:
        first = [(i,) for i in range(len(self.columns))]
        product = math.prod(max(self.scan.levels[c], 1) for c in self.columns)
        if product <= JOINT_MAX_GROUPS and len(self.columns) > 1 and max_depth > 1:
            # Few levels: ONE group-by over every candidate; every level re-sums it.
            self.strategy = "joint"
            overall, joint = aggregate.sufficient_stats_sets(
                self.frame, [[], self.columns], self.roles
            )
            self.joint = joint
            tables = self._aggregate(first)
        else:
            overall, *tables = aggregate.sufficient_stats_sets(
                self.frame, [[], *[[c] for c in self.columns]], self.roles
            )
        self.overall = overall
        self.stats = self._stat_names(overall)
        tables = self._drop_outcomes(first, tables)
        first = [s for s in first if self.columns[s[0]] in self.columns_kept]
        self._evaluate_level(1, dict(zip(first, tables, strict=True)), pruned=0)
        for depth in range(2, max_depth + 1):
            cands, pruned = self._candidates(depth)
            if not cands:
                self.search_rows.append(
                    {"depth": depth, "evaluated": 0, "pruned": pruned, "small": 0}
                )
                break
            sets = list(cands)
            found = self._aggregate(sets)
            children = {
                s: t.join(cands[s], on=[self.columns[i] for i in s], how="inner")
                for s, t in zip(sets, found, strict=True)
            }
            self._evaluate_level(depth, children, pruned=pruned)

    def _drop_outcomes(self, first, tables) -> list[pl.DataFrame]:
        """Leave out automatic candidates that predict an outcome almost perfectly.

        Goodman & Kruskal's lambda (the share of prediction errors a column removes,
        guessing the majority class per level) for the label, the prediction and the
        metric's failures, from the depth-1 sums: a column with lambda >= 0.95 for any of
        them is an outcome or a model output under another name, not a segment. Columns
        with more levels than max_levels in the pass (the first rows missed them) are
        left out the same way.
        """
        keep, reasons = [], {}
        for (i,), t in zip(first, tables, strict=True):
            name = self.columns[i]
            if t.height <= 1:
                reasons[name] = ("a single value", "constant")
                continue
            if not self.scan.auto:
                keep.append(name)
                continue
            if name not in self.scan.binned and t.height > self.scan.max_levels:
                reasons[name] = (f"more than max_levels levels ({t.height:,})", "too many levels")
                continue
            worst = max(
                ((lam, what) for what, lam in self._lambdas(t)),
                default=(0.0, ""),
            )
            if worst[0] >= OUTCOME_LAMBDA:
                reasons[name] = (
                    f"predicts the {worst[1]} almost perfectly (Goodman-Kruskal lambda "
                    f"{worst[0]:.2f}): an outcome or a model output, not a segment",
                    "outcome",
                )
                continue
            keep.append(name)
        self.columns_kept = keep
        if reasons:
            hit = pl.col("column").is_in(list(reasons))
            self.scan.candidates = self.scan.candidates.with_columns(
                status=pl.when(hit).then(pl.lit("skipped")).otherwise(pl.col("status")),
                reason=pl.when(hit)
                .then(
                    pl.col("column").replace_strict(
                        {k: v[0] for k, v in reasons.items()}, default=None
                    )
                )
                .otherwise(pl.col("reason")),
                short=pl.when(hit)
                .then(
                    pl.col("column").replace_strict(
                        {k: v[1] for k, v in reasons.items()}, default=None
                    )
                )
                .otherwise(pl.col("short")),
            )
        if not keep:
            raise InvalidValueError(
                "No column can be sliced: every candidate predicts the outcome almost "
                f"perfectly or has too many levels ({', '.join(reasons)}). Name the columns "
                "to search with columns=[...]."
            )
        return [t for (i,), t in zip(first, tables, strict=True) if self.columns[i] in keep]

    def _lambdas(self, t: pl.DataFrame):
        """(what, lambda) for the label, the prediction and the metric's failures."""
        pairs = []
        cols = t.columns
        if "pos" in cols and "labeled" in cols:
            pairs.append(("label", t["pos"].to_numpy(), t["labeled"].to_numpy()))
        if "pred_pos" in cols:
            pairs.append(("prediction", t["pred_pos"].to_numpy(), t["n"].to_numpy()))
        if self.metric.binomial:
            est = mreg.estimate(mreg.StatColumns(t), self.metric)
            pairs.append(("metric's failures", est["x"], est["den"]))
        for what, x, n in pairs:
            x, n = np.asarray(x, float), np.asarray(n, float)
            e0 = min(x.sum(), n.sum() - x.sum())
            if e0 <= 0:
                continue
            e1 = np.minimum(x, n - x).sum()
            yield what, float((e0 - e1) / e0)

    def _candidates(self, depth: int):
        """Children of the evaluated slices of the previous level, with their parents' sums.

        A child is generated when every parent was evaluated (SliceLine's rule) and its
        best case could still be reported; returns ``{column set: candidates}`` with each
        parent's sums suffixed ``_p0``, ``_p1``... and the number pruned by the bound.
        """
        prev = {s: t for s, t in self.tables.items() if len(s) == depth - 1}
        sets = sorted(
            {tuple(sorted(set(a) | set(b))) for a in prev for b in prev} - set(prev),
        )
        sets = [
            s for s in sets if len(s) == depth and all(_drop(s, r) in prev for r in range(depth))
        ]
        m_so_far = sum(t.height for t in self.levels)
        threshold = self.fdr
        if self.method == "by":
            threshold = self.fdr / float((1.0 / np.arange(1, m_so_far + 1)).sum() or 1.0)
        out, pruned = {}, 0
        for s in sets:
            names = [self.columns[i] for i in s]
            cand = None
            for r in range(depth):
                parent = prev[_drop(s, r)]
                keys = [self.columns[i] for i in _drop(s, r)]
                renamed = parent.select(*keys, *(pl.col(c).alias(f"{c}_p{r}") for c in self.stats))
                if cand is None:
                    cand = renamed
                    continue
                shared = [k for k in keys if k in cand.columns]
                cand = (
                    cand.join(renamed, on=shared, how="inner")
                    if shared
                    else cand.join(renamed, how="cross")
                )
            cand = cand.select(*names, *[c for c in cand.columns if c not in names])
            if cand.is_empty():
                continue
            if self.metric.binomial:
                keep = self._bound_ok(cand, depth, threshold)
                pruned += int((~keep).sum())
                cand = cand.filter(pl.Series(keep))
            if not cand.is_empty():
                out[s] = cand
        return out, pruned

    def _bound_ok(self, cand: pl.DataFrame, depth: int, threshold: float) -> np.ndarray:
        bads, dens = [], []
        for r in range(depth):
            cols = mreg.StatColumns(cand.select(pl.col(f"{c}_p{r}").alias(c) for c in self.stats))
            bad, den = _bad_and_den(self.metric, cols)
            bads.append(bad)
            dens.append(den)
        b_max = np.min(bads, axis=0)
        n_max = np.min(dens, axis=0)
        all_bad, all_den = _bad_and_den(self.metric, mreg.StatColumns(self.overall))
        size = len(b_max)
        p_best = _best_case_p(
            b_max, n_max, np.full(size, all_bad[0]), np.full(size, all_den[0]), self.min_n
        )
        return (p_best <= threshold) & (n_max >= self.min_n)

    def _evaluate_level(self, depth: int, tables: dict, pruned: int) -> None:
        pieces, small = [], 0
        for s, t in tables.items():
            names = [self.columns[i] for i in s]
            est = mreg.estimate(mreg.StatColumns(t), self.metric)
            ok = est["den"] >= self.min_n
            small += int((~ok).sum())
            t = t.filter(pl.Series(ok))
            if t.is_empty():
                continue
            self.tables[s] = t.select(*names, *self.stats)
            pieces.append(self._long(t, s))
        self.search_rows.append(
            {
                "depth": depth,
                "evaluated": sum(p.height for p in pieces),
                "pruned": pruned,
                "small": small,
            }
        )
        if pieces:
            self.levels.append(pl.concat(pieces, how="diagonal_relaxed"))

    def _long(self, t: pl.DataFrame, s: tuple[int, ...]) -> pl.DataFrame:
        """One set's slices in long form: readable text, columns, values, sums, parents'."""
        names = [self.columns[i] for i in s]
        parts = [
            pl.format(
                "{} " + ("in" if c in self.scan.binned else "=") + " {}", pl.lit(c), pl.col(c)
            )
            for c in names
        ]
        parts = [
            pl.when(pl.col(c) == frames.MISSING_GROUP).then(pl.lit(f"{c} is missing")).otherwise(p)
            for c, p in zip(names, parts, strict=True)
        ]
        parent_text = (
            [
                pl.concat_str([parts[j] for j in range(len(s)) if j != r], separator=SEP).alias(
                    f"_parent{r}"
                )
                for r in range(len(s))
            ]
            if len(s) > 1
            else []
        )
        return t.select(
            pl.concat_str(parts, separator=SEP).alias("slice"),
            pl.concat_list([pl.lit(c) for c in names]).alias("columns"),
            pl.concat_list([pl.col(c) for c in names]).alias("values"),
            pl.lit(len(s), pl.Int64).alias("depth"),
            *parent_text,
            *[c for c in t.columns if c not in names],
        )

    # ---- inference --------------------------------------------------------------------
    def result(self, max_depth: int) -> Slices:
        m = self.metric
        total = mreg.StatColumns(self.overall)
        overall_est = mreg.estimate(total, m)
        if self.levels:
            table = pl.concat(self.levels, how="diagonal_relaxed")
        else:
            table = pl.DataFrame()
        evaluated = self._tests(table, total) if table.height else _empty()
        reported = evaluated.filter(pl.col("status") == "reported")
        reported = reported.sort(["excess", "slice"], descending=[True, False]).select(
            _TABLE_COLUMNS
        )
        evaluated = evaluated.sort(["q_value", "slice"], nulls_last=True)
        n_all = float(self.overall["n"][0])
        labeled = float(self.overall["labeled"][0]) if "labeled" in self.overall.columns else n_all
        return Slices(
            reported,
            evaluated.select(*_TABLE_COLUMNS, "status"),
            metric=m,
            overall={
                "value": float(overall_est["value"][0]),
                "ci_low": float(overall_est["lo"][0]),
                "ci_high": float(overall_est["hi"][0]),
                "n": float(overall_est["den"][0]),
            },
            fdr=self.fdr,
            method=self.method,
            confidence=self.confidence,
            max_depth=max_depth,
            min_n=self.min_n,
            candidates=self.scan.candidates,
            search=pl.DataFrame(
                self.search_rows,
                schema=dict.fromkeys(["depth", "evaluated", "pruned", "small"], pl.Int64),
            ),
            strategy=self.strategy,
            unlabeled=n_all - labeled if m.needs_label else 0.0,
        )

    def _tests(self, table: pl.DataFrame, total: mreg.StatColumns) -> pl.DataFrame:
        m, conf = self.metric, self.confidence
        cols = mreg.StatColumns(table.select(self.stats))
        est = mreg.estimate(cols, m, confidence=conf)
        rest = {c: total[c][0] - cols[c] for c in self.stats}
        rest_est = mreg.estimate(rest, m, confidence=conf)
        cmp = _compare(m, est, rest_est, conf)
        p_rest = _one_sided(cmp["p"], cmp["diff"], m.higher_is_better)
        # Against the rest of each parent: parent sums minus the slice's.
        depth = table["depth"].to_numpy()
        p_parent = np.full(table.height, np.nan)
        closest = np.full(table.height, None, dtype=object)
        for r in range(int(depth.max())):
            if f"{self.stats[0]}_p{r}" not in table.columns:
                continue
            par = {c: table[f"{c}_p{r}"].fill_null(np.nan).to_numpy() - cols[c] for c in self.stats}
            par_est = mreg.estimate(par, m, confidence=conf)
            pc = _compare(m, est, par_est, conf)
            p_r = _one_sided(pc["p"], pc["diff"], m.higher_is_better)
            has = ~np.isnan(table[f"{self.stats[0]}_p{r}"].fill_null(np.nan).to_numpy())
            newer = has & ~(p_parent >= np.where(np.isnan(p_r), 1.0, p_r))
            p_r = np.where(np.isnan(p_r) & has, 1.0, p_r)  # no rest in the parent: not worse
            p_parent = np.where(newer, p_r, p_parent)
            closest = np.where(newer, table[f"_parent{r}"].to_numpy(), closest)
        p_report = np.where(np.isnan(p_parent), p_rest, np.fmax(p_rest, p_parent))
        q = st.adjust_pvalues(np.where(np.isnan(p_report), 1.0, p_report), self.method)
        sign = -1.0 if m.higher_is_better else 1.0
        excess = sign * cmp["diff"] * est["den"]
        out = table.select("slice", "columns", "values", "depth").with_columns(
            pl.Series("parent", closest.tolist(), dtype=pl.String),
            pl.Series("n", est["den"]),
            pl.Series("rows", cols["n"]),
            _num("value", est["value"]),
            _num("ci_low", est["lo"]),
            _num("ci_high", est["hi"]),
            _num("rest_value", rest_est["value"]),
            _num("diff", cmp["diff"]),
            _num("diff_ci_low", cmp["diff_lo"]),
            _num("diff_ci_high", cmp["diff_hi"]),
            _num("ratio", cmp["ratio"]),
            _num("excess", excess),
            _num("p_value", p_rest),
            _num("p_parent", p_parent),
            _num("q_value", q),
        )
        significant = q <= self.fdr
        worse_than_rest = st.adjust_pvalues(p_rest, self.method) <= self.fdr
        status = np.where(
            significant,
            "reported",
            np.where(worse_than_rest, "not worse than a parent", "not significant"),
        )
        out = out.with_columns(pl.Series("status", status, dtype=pl.String))
        return self._explained(out, table, cols, total)

    def _explained(self, out, table, cols, total) -> pl.DataFrame:
        """Demote a reported slice whose shortfall one reported child accounts for.

        For each reported child and each of its reported parents, the parent minus the
        child is tested against the rest of the data (one-sided, same test); a parent
        whose remainder is not worse (p > fdr) for some reported child is not reported.
        """
        m, conf = self.metric, self.confidence
        reported = out["status"].to_numpy() == "reported"
        text = out["slice"].to_numpy()
        index = {t: i for i, t in enumerate(text)}
        demote: dict[int, str] = {}
        for r in range(int(out["depth"].max())):
            col = f"_parent{r}"
            if col not in table.columns:
                continue
            parent_text = table[col].to_numpy()
            rows = [
                (i, index.get(pt))
                for i, pt in enumerate(parent_text)
                if reported[i] and pt is not None and index.get(pt) is not None
            ]
            rows = [(i, j) for i, j in rows if reported[j]]
            if not rows:
                continue
            child = np.array([i for i, _ in rows])
            parent = np.array([j for _, j in rows])
            remainder = {c: cols[c][parent] - cols[c][child] for c in self.stats}
            outside = {c: total[c][0] - cols[c][parent] for c in self.stats}
            rem_est = mreg.estimate(remainder, m, confidence=conf)
            out_est = mreg.estimate(outside, m, confidence=conf)
            cmp = _compare(m, rem_est, out_est, conf)
            p = _one_sided(cmp["p"], cmp["diff"], m.higher_is_better)
            for i, j, pv in zip(child, parent, p, strict=True):
                if not pv <= self.fdr and j not in demote:
                    demote[int(j)] = str(text[i])
        if not demote:
            return out
        status = out["status"].to_numpy().copy()
        for j in demote:
            status[j] = "explained by a child"
        return out.with_columns(pl.Series("status", status, dtype=pl.String))


def _drop(s: tuple[int, ...], r: int) -> tuple[int, ...]:
    return s[:r] + s[r + 1 :]


def _bad_and_den(metric: mreg.Metric, cols) -> tuple[np.ndarray, np.ndarray]:
    """Failures and denominator of a rate, failures counted in the bad direction."""
    est = mreg.estimate(cols, metric)
    x, den = np.asarray(est["x"], float), np.asarray(est["den"], float)
    return (den - x if metric.higher_is_better else x), den


def _compare(metric, est, ref, confidence) -> dict[str, np.ndarray]:
    return mreg.compare_to(
        metric,
        est["value"],
        est["se"],
        est["x"],
        est["den"],
        {"value": ref["value"], "_se": ref["se"], "_x": ref["x"], "n": ref["den"]},
        confidence,
    )


def _num(name: str, values) -> pl.Series:
    return pl.Series(name, np.asarray(values, dtype=float), nan_to_null=True)


def _empty() -> pl.DataFrame:
    schema = {c: pl.Float64 for c in _TABLE_COLUMNS}
    schema.update(
        slice=pl.String,
        columns=pl.List(pl.String),
        values=pl.List(pl.String),
        depth=pl.Int64,
        parent=pl.String,
        status=pl.String,
    )
    return pl.DataFrame(schema=schema)
