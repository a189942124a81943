"""Simpson's-paradox checks: find the comparisons that aggregate data gets backwards.

"Prompt v2 resolves fewer tickets" may only mean that v2 was served harder traffic.
:func:`simpson` compares an outcome between the levels of a column (model or prompt
version, treatment, group) within the strata of every candidate stratifier, and says
where the stratified comparison contradicts the aggregate one.

Architecture (see DESIGN.md): one aggregation query builds the outcome's sums per
(compared level, stratum) for every stratifier at once (:mod:`aidebt.aggregate`); the
Mantel-Haenszel pooling, Breslow-Day test, Kitagawa decomposition and intervals then run
on that small table (:mod:`aidebt.stats`, over statsmodels). Frequency weights make a
pre-aggregated table (``dept, gender, admitted, n``) give exactly the result of its rows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import narwhals as nw
import numpy as np
import polars as pl

from aidebt import aggregate, frames, prose
from aidebt import metrics as mreg
from aidebt import stats as st
from aidebt._deprecated import keyword_only
from aidebt.errors import (
    ColumnTypeError,
    InvalidArgumentError,
    InvalidValueError,
    did_you_mean,
)
from aidebt.groups import ALL, OVERALL, label_expr, value_key
from aidebt.results import Result, conform

VERDICTS = ("reversal", "amplification", "attenuation", "none")
"""The verdicts, most serious first (see :func:`simpson`, Notes)."""

KINDS = ("auto", "binary", "mean")
OUTCOME_METRICS = {"binary": "prevalence", "mean": "mean"}
"""The registry metric an outcome of each kind is compared on (a rate, or a mean)."""
PAIR_SEP = " & "
"""Joins the columns of a depth-2 stratifier: ``"tier & channel"``."""

DEFAULT_MAX_LEVELS = 20
DEFAULT_MAX_COMPARE_LEVELS = 100
"""Most levels of ``compare`` compared by default: each is a row per stratifier, and a column
with thousands of levels (an identifier) is a mistake, not a comparison."""
SPARSE_SHARE = 0.25
"""A stratifier whose strata seen by one arm only hold this share of the rows is flagged."""
SAMPLE_ROWS = 100_000
"""Rows looked at (``head``) to estimate candidate cardinalities before the scan."""
JOINT_MAX_GROUPS = 5_000
"""Largest joint grouping (product of cardinalities) aggregated as one group-by."""

# Names that say "model output or label", not "segment of the traffic": stratifying by a
# prediction or a score conditions on a consequence of the outcome and manufactures
# reversals. Matched case-insensitively against the whole column name.
MODEL_OUTPUT_PATTERN = re.compile(
    r"^(y|y_?true|y_?pred|y_?hat|y_?score|y_?prob|y_?proba|label|labels|target|truth"
    r"|pred|preds|prediction|predictions|predicted|score|scores|prob|proba|probability"
    r"|probabilities|logit|logits|confidence)$"
    r"|_(pred|preds|prediction|predicted|score|prob|proba|probability|logit)$"
    r"|^(pred|prediction|predicted|score|prob|proba)_",
    re.IGNORECASE,
)

# A copy of another column: "decile_score.1", "score_copy", "y_true_2" name the same
# thing as the column they copy.
_COPY_SUFFIX = re.compile(
    r"(?:[._ -]?(?:\d+|copy|dup|duplicate|orig|original|raw|old|new))+$", re.I
)

LEAK_SHARE = 0.5
"""A stratifier whose levels alone explain at least this share of the outcome's variance
(the correlation ratio, eta squared, on the pooled arms) is near-perfectly predictive of the
outcome: a column recorded after the outcome or derived from it. Real segments explain far
less (Berkeley's departments: 0.17 of admissions; the demo's tiers: under 0.05)."""

DEFAULT_MIN_N = 30
"""Compared levels with fewer rows with an outcome are not compared (see ``min_n``)."""

COLUMNS = {
    "stratifier": pl.String,
    "level": pl.String,
    "baseline": pl.String,
    "verdict": pl.String,
    "aggregate_diff": pl.Float64,
    "aggregate_ci_low": pl.Float64,
    "aggregate_ci_high": pl.Float64,
    "adjusted_diff": pl.Float64,
    "adjusted_ci_low": pl.Float64,
    "adjusted_ci_high": pl.Float64,
    "shift": pl.Float64,
    "shift_se": pl.Float64,
    "shift_p": pl.Float64,
    "odds_ratio": pl.Float64,
    "odds_ratio_ci_low": pl.Float64,
    "odds_ratio_ci_high": pl.Float64,
    "risk_ratio": pl.Float64,
    "homogeneity_p": pl.Float64,
    "strata_reversed": pl.Int64,
    "n_strata": pl.Int64,
    "mix_component": pl.Float64,
    "within_component": pl.Float64,
    "level_value": pl.Float64,
    "baseline_value": pl.Float64,
    "level_n": pl.Float64,
    "baseline_n": pl.Float64,
    "excluded_n": pl.Float64,
    "note": pl.String,
}
"""The columns of :attr:`Simpson.table`."""


@dataclass(frozen=True)
class _Scan:
    """Which columns are scanned and why the others are not."""

    stratifiers: list[tuple[str, ...]]
    columns: list[str]
    candidates: pl.DataFrame  # column, dtype, status, reason, short
    auto: bool
    cardinality: dict[str, int]  # among the first SAMPLE_ROWS rows, compare included


class Simpson(Result):
    """Result of :func:`simpson`.

    Attributes
    ----------
    table : polars.DataFrame
        One row per (stratifier, compared level), findings first: ``stratifier``,
        ``level``, ``baseline``, ``verdict``; ``aggregate_diff`` (level minus baseline,
        pooled over everything) with its interval; ``adjusted_diff`` (Mantel-Haenszel)
        with ``adjusted_ci_low``/``adjusted_ci_high``; ``shift`` (aggregate minus
        adjusted: what the mix adds) with its standard error ``shift_se`` and ``shift_p``,
        the p-value of "the shift is sampling noise", Holm-adjusted over every row of the
        scan (see :func:`simpson`, Notes); ``odds_ratio`` (Mantel-Haenszel) with its interval,
        ``risk_ratio`` and ``homogeneity_p`` (Breslow-Day); ``strata_reversed`` and
        ``n_strata``; the Kitagawa split ``mix_component + within_component ==
        aggregate_diff``; the pooled ``level_value``/``baseline_value`` and sizes
        ``level_n``/``baseline_n``; ``excluded_n`` (rows in strata only one arm saw);
        ``note`` (says the share of those rows, and flags the stratifier as sparse when
        they are ``SPARSE_SHARE`` of the rows or more).
    candidates : polars.DataFrame
        Every column of the data with ``status`` (``scanned``, ``skipped`` or the role it
        plays) and the ``reason`` it was skipped.
    small_levels : dict
        Levels of ``compare`` not compared, with fewer than ``min_n`` rows with an outcome
        (level -> weighted rows).
    n_candidates : int
        Number of stratifiers scanned (pairs included with ``depth=2``).
    unlabeled : float
        Rows (weighted) whose outcome is null: left out of every comparison.
    missing_compare : float
        Rows (weighted) whose compare column is null: left out.
    strategy : str
        How the single aggregation query grouped the rows: ``"joint"`` (one group-by over
        ``compare`` and every candidate) or ``"grouping sets"`` (one group-by per
        stratifier, as branches of one query); see :func:`simpson`, Notes.

    Examples
    --------
    The 1973 Berkeley admissions, as a pre-aggregated table (two departments):

    >>> import polars as pl
    >>> import aidebt as ad
    >>> admissions = pl.DataFrame({
    ...     "dept": ["A"] * 4 + ["F"] * 4,
    ...     "gender": ["male", "male", "female", "female"] * 2,
    ...     "admitted": [1, 0] * 4,
    ...     "n": [512, 313, 89, 19, 22, 351, 24, 317],
    ... })
    >>> s = ad.simpson(admissions, "admitted", "gender", strata="dept", weight="n",
    ...                baseline="female")
    >>> s.table.select("verdict", "strata_reversed", "n_strata").row(0)
    ('reversal', 2, 2)
    >>> print(s.summary()[0][:72])
    Overall, male's admitted rate is 19.4 points higher than female's (44.6%
    >>> s.strata("dept").select("dept", "level_value", "baseline_value").rows()[0]
    ('A', 0.6206060606060606, 0.8240740740740741)
    """

    title = "Simpson's-paradox checks"

    def __init__(
        self,
        table: pl.DataFrame,
        strata_tables: dict[str, pl.DataFrame],
        *,
        outcome: str,
        compare: str,
        baseline: str,
        levels: list[str],
        kind: str,
        confidence: float,
        candidates: pl.DataFrame,
        stratifier_columns: dict[str, list[str]],
        unlabeled: float,
        missing_compare: float,
        strategy: str,
        small_levels: dict[str, float] | None = None,
        min_n: float = 0,
    ) -> None:
        super().__init__(table)
        self.small_levels = dict(small_levels or {})
        self.min_n = min_n
        self._strata = strata_tables
        self.outcome = outcome
        self.compare = compare
        self.baseline = baseline
        self.levels = levels
        self.kind = kind
        self.metric = mreg.get(OUTCOME_METRICS[kind])
        self.confidence = confidence
        self.candidates = candidates
        self.stratifier_columns = stratifier_columns
        self.unlabeled = unlabeled
        self.missing_compare = missing_compare
        self.strategy = strategy

    @property
    def n_candidates(self) -> int:
        return len(self._strata)

    @property
    def stratifiers(self) -> list[str]:
        """The stratifiers scanned, in the order of the data's columns."""
        return list(self._strata)

    def findings(self) -> pl.DataFrame:
        """The rows of :attr:`table` whose verdict is not ``none``."""
        return self.table.filter(pl.col("verdict") != "none")

    def strata(self, stratifier: str | Sequence[str] | None = None) -> pl.DataFrame:
        """The per-stratum table of one stratifier (default: the first row of the table).

        One row per (stratum, compared level) with each arm's size (``level_n``,
        ``baseline_n``), value (rate, or mean for a numeric outcome) and interval
        (Wilson for rates, t for means), the stratum difference ``diff`` with its
        interval (Newcombe for rates, Welch for means), ``reversed`` (its sign opposes
        the aggregate difference), each arm's share of its rows in the stratum
        (``level_share``, ``baseline_share``: the mix), the stratum's Mantel-Haenszel
        ``weight`` and its Kitagawa terms. A last row per level, with every stratum
        column set to ``(all)``, holds the pooled figures.

        Examples
        --------
        >>> import aidebt as ad
        >>> s = ad.simpson(ad.datasets.demo(2_000, months=2), "y_true", "prompt_version",
        ...                strata="tier")
        >>> s.strata("tier")["tier"].to_list()
        ['enterprise', 'free', 'pro', '(all)']
        """
        name = self._stratifier_name(stratifier)
        return self._strata[name]

    def _stratifier_name(self, stratifier: str | Sequence[str] | None) -> str:
        if not self._strata:
            raise InvalidArgumentError("No stratifier was scanned: there is no strata table.")
        if stratifier is None:
            return self.table.get_column("stratifier")[0]
        name = stratifier if isinstance(stratifier, str) else PAIR_SEP.join(stratifier)
        if name not in self._strata:
            raise InvalidArgumentError(
                f"stratifier={stratifier!r} was not scanned. {did_you_mean(name, self._strata)}"
            )
        return name

    # ----------------------------------------------------------------------------------
    # Plain-English findings
    # ----------------------------------------------------------------------------------
    def _what(self) -> str:
        return f"{self.outcome} rate" if self.metric.binomial else f"mean {self.outcome}"

    def _size(self, diff: float) -> str:
        """A difference in readable units: points for rates, the outcome's units for means."""
        if self.metric.in_points:
            return f"{abs(diff) * 100:.1f} points"
        return f"{abs(diff):.3g}"

    def _signed(self, diff: float) -> str:
        return f"{diff * 100:+.1f}" if self.metric.in_points else f"{diff:+.3g}"

    def _value(self, value: float) -> str:
        return f"{value:.1%}" if self.metric.in_points else f"{value:.3g}"

    def _sentence(self, row: dict[str, Any]) -> str:
        level, base, label = row["level"], row["baseline"], row["stratifier"]
        d, a = row["aggregate_diff"], row["adjusted_diff"]
        lo, hi = row["adjusted_ci_low"], row["adjusted_ci_high"]
        what = self._what()
        unit = " points" if self.metric.in_points else ""
        adjusted = (
            f"adjusted difference {self._signed(a)}{unit}, {self.confidence:.0%} interval "
            f"{self._signed(lo)} to {self._signed(hi)}"
        )
        overall = (
            f"Overall, {level}'s {what} is {self._size(d)} {'lower' if d < 0 else 'higher'} "
            f"than {base}'s ({self._value(row['level_value'])} vs "
            f"{self._value(row['baseline_value'])})"
        )
        strata = self._strata[label].filter(pl.col("level") == level)
        mix = self._mix_clause(row, strata)
        pair = PAIR_SEP in label
        noise = ", though not distinguishable from no difference" if lo <= 0 <= hi else ""
        if row["verdict"] == "reversal":
            direction = "higher" if a > 0 else "lower"
            sizes = strata.filter(pl.col("reversed").fill_null(False)).get_column("diff").abs()
            if sizes.len() == 0:
                by = ""
            elif sizes.len() == 1 or sizes.min() == sizes.max():
                by = f"by {self._size(sizes.max())}; "
            else:
                low, high = self._size(sizes.min()), self._size(sizes.max())
                by = f"by {low.split(' ')[0]} to {high}; "
            if row["strata_reversed"] == row["n_strata"] and row["n_strata"] > 1:
                where = f"within every {label}{' combination' if pair else ''}"
            else:
                where = f"after adjusting for {label}"
                by = f"{row['strata_reversed']} of {row['n_strata']} strata reversed, {by}"
            return f"{overall}, yet {where} {level} is {direction}{noise} ({by}{adjusted}): {mix}."
        if row["verdict"] == "attenuation":
            share = 1 - a / d if d else 1.0
            return (
                f"{overall}, but within {label} strata the gap is only {self._size(a)}{noise} "
                f"({adjusted}): {share:.0%} of the aggregate gap is mix: {mix}."
            )
        if row["verdict"] == "amplification":
            return (
                f"{overall}, but within {label} strata the gap is larger, {self._size(a)} "
                f"({adjusted}): the mix hides part of it: {mix}."
            )
        return f"{overall}; adjusting for {label} does not change it ({adjusted})."

    def _mix_clause(self, row: dict[str, Any], strata: pl.DataFrame) -> str:
        """Name the stratum whose different share between the arms drives the mix most."""
        cols = self.stratifier_columns[row["stratifier"]]
        parts = strata.filter(pl.col(cols[0]) != ALL)
        if parts.is_empty():
            return "the arms saw different strata"
        f1 = parts.get_column("level_share").to_numpy()
        f0 = parts.get_column("baseline_share").to_numpy()
        n1 = parts.get_column("level_n").to_numpy()
        n0 = parts.get_column("baseline_n").to_numpy()
        v1 = np.nan_to_num(parts.get_column("level_value").fill_null(np.nan).to_numpy())
        v0 = np.nan_to_num(parts.get_column("baseline_value").fill_null(np.nan).to_numpy())
        pooled = np.where(n1 + n0 > 0, (v1 * n1 + v0 * n0) / np.maximum(n1 + n0, 1e-300), 0)
        total = float((v1 * n1 + v0 * n0).sum() / (n1 + n0).sum())
        sign = np.sign(row["mix_component"]) or 1.0
        contribution = sign * (f1 - f0) * (pooled - total)
        j = int(np.argmax(contribution))
        where = prose.group_phrase({c: parts.get_column(c)[j] for c in cols}, cols)
        return (
            f"{f1[j]:.0%} of {row['level']}'s rows are in {where} against {f0[j]:.0%} of "
            f"{row['baseline']}'s, and the {self._what()} there is {self._value(pooled[j])} "
            f"({self._value(total)} overall)"
        )

    def summary(self) -> list[str]:
        """One plain-English sentence per finding, then what was scanned and left out.

        Examples
        --------
        >>> import aidebt as ad
        >>> s = ad.simpson(ad.datasets.demo(5_000, months=2), "y_true", "prompt_version",
        ...                strata="tier")
        >>> s.summary()[0].startswith("Overall, v2's y_true rate is")
        True
        """
        lines = [self._sentence(row) for row in self.findings().iter_rows(named=True)]
        flagged = self.findings().get_column("stratifier").unique(maintain_order=True).to_list()
        others = ", ".join(f"{lv}" for lv in self.levels if lv != self.baseline)
        scanned = ", ".join(self.stratifiers) if self.n_candidates <= 12 else ""
        listing = f" ({scanned})" if scanned else ""
        if flagged:
            verdict = f"{len(flagged)} change{'s' if len(flagged) == 1 else ''} the comparison ({', '.join(flagged)})"
        else:
            verdict = "none changes the comparison beyond sampling noise"
        tests = int(self.table.get_column("shift_p").is_not_null().sum())
        family = f", allowing for the {tests} comparisons made (Holm)" if tests > 1 else ""
        lines.append(
            f"Scanned {self.n_candidates} candidate stratifier"
            f"{'' if self.n_candidates == 1 else 's'}{listing} comparing the {self._what()} "
            f"of {others} with {self.baseline} ({self.compare}): {verdict}{family}."
        )
        sparse = self._sparse()
        if sparse:
            shown = ", ".join(f"{name} ({share:.0%})" for name, share in sparse[:8])
            more = f" and {len(sparse) - 8} more" if len(sparse) > 8 else ""
            lines.append(
                f"Sparse stratifiers, whose strata seen by only one level of {self.compare} "
                f"hold {SPARSE_SHARE:.0%} or more of the rows (left out of the adjusted "
                f"difference, allowed for in the test): {shown}{more}."
            )
        skipped = self.candidates.filter(pl.col("status") == "skipped")
        if skipped.height:
            shown = ", ".join(
                f"{c} ({r})" for c, r in skipped.select("column", "short").head(12).iter_rows()
            )
            lines.append(f"Not scanned: {shown}.")
        if self.small_levels:
            shown = ", ".join(f"{lv} ({n:,.0f})" for lv, n in self.small_levels.items())
            lines.append(
                f"Not compared, fewer than {self.min_n:,.0f} rows with an outcome: {shown}."
            )
        if self.unlabeled:
            lines.append(
                f"{self.unlabeled:,.0f} rows with a null {self.outcome} were left out (unlabeled)."
            )
        if self.missing_compare:
            lines.append(
                f"{self.missing_compare:,.0f} rows with a null {self.compare} were left out."
            )
        return lines

    def _sparse(self) -> list[tuple[str, float]]:
        """(stratifier, largest share of rows in one-arm strata) for the sparse ones."""
        t = self.table
        if t.is_empty():
            return []
        share = (pl.col("excluded_n") / (pl.col("level_n") + pl.col("baseline_n"))).fill_nan(0)
        worst = (
            t.group_by("stratifier", maintain_order=True)
            .agg(share.max().alias("share"))
            .filter(pl.col("share") >= SPARSE_SHARE)
        )
        return list(worst.iter_rows())

    # ----------------------------------------------------------------------------------
    # Display
    # ----------------------------------------------------------------------------------
    def chart(self, stratifier: str | Sequence[str] | None = None, level: str | None = None):
        """Per-stratum values of both arms with intervals, stratum sizes and the mix.

        Top panel: each arm's value per stratum with its interval (point size: the
        stratum's rows in that arm), and each arm's aggregate value as a dashed line, so a
        reversal shows as "higher in every stratum, lower overall". Bottom panel: the share
        of each arm's rows in each stratum (the mix that causes it). Default: the first
        row of :attr:`table` (the strongest finding). See :func:`aidebt.charts.reversal`.
        """
        from aidebt import charts

        name = self._stratifier_name(stratifier)
        table = self._strata[name]
        if level is None:
            first = self.table.filter(pl.col("stratifier") == name)
            level = first.get_column("level")[0]
        elif str(level) not in self.levels or str(level) == self.baseline:
            raise InvalidArgumentError(
                f"level={level!r} is not a compared level of {self.compare!r}; "
                f"use one of {[lv for lv in self.levels if lv != self.baseline]}."
            )
        row = self.table.filter(
            (pl.col("stratifier") == name) & (pl.col("level") == str(level))
        ).row(0, named=True)
        cols = self.stratifier_columns[name]
        long = _long_strata(table.filter(pl.col("level") == str(level)), cols, self.baseline)
        title = f"{self._what()}: {level} vs {self.baseline} by {name} (verdict: {row['verdict']})"
        return charts.reversal(
            long,
            stratifier=name,
            level=str(level),
            baseline=self.baseline,
            value_title=self._what(),
            percent=self.metric.in_points,
            title=title,
        )

    def _display_table(self) -> pl.DataFrame:
        return self.table.select(
            "stratifier",
            "level",
            "verdict",
            "aggregate_diff",
            "adjusted_diff",
            "adjusted_ci_low",
            "adjusted_ci_high",
            "odds_ratio",
            "homogeneity_p",
            "strata_reversed",
            "n_strata",
            "mix_component",
            "within_component",
        )


def _long_strata(table: pl.DataFrame, cols: list[str], baseline: str) -> pl.DataFrame:
    """One row per (stratum, arm) for the chart."""
    stratum = label_expr(cols, "stratum")  # the pooled row, every column (all): "overall"
    arms = []
    for prefix, arm in (("level", pl.col("level")), ("baseline", pl.lit(baseline))):
        arms.append(
            table.select(
                stratum,
                arm.alias("arm"),
                pl.col(f"{prefix}_value").alias("value"),
                pl.col(f"{prefix}_ci_low").alias("ci_low"),
                pl.col(f"{prefix}_ci_high").alias("ci_high"),
                pl.col(f"{prefix}_n").alias("n"),
                pl.col(f"{prefix}_share").alias("share"),
                pl.col("diff"),
                pl.col("reversed"),
            )
        )
    return pl.concat(arms).with_columns(is_all=pl.col("stratum") == OVERALL)


# --------------------------------------------------------------------------------------
# The analysis
# --------------------------------------------------------------------------------------
@keyword_only("weight", "baseline", "depth", after=4)
def simpson(
    data: Any,
    outcome: str,
    compare: str,
    strata: str | Sequence[str] | None = None,
    *,
    weight: str | None = None,
    baseline: Any = None,
    depth: int = 1,
    exclude: str | Sequence[str] | None = None,
    max_levels: int = DEFAULT_MAX_LEVELS,
    kind: str = "auto",
    pos_label: Any = None,
    confidence: float = 0.95,
    min_shift: float = 0.0,
    max_compare_levels: int | None = DEFAULT_MAX_COMPARE_LEVELS,
    min_n: int = DEFAULT_MIN_N,
) -> Simpson:
    """Find the stratifiers within which a comparison goes the other way (Simpson's paradox).

    Every level of ``compare`` is compared with ``baseline`` on ``outcome``, first pooled
    over all rows (the aggregate difference), then within the strata of each stratifier
    (the Mantel-Haenszel adjusted difference). Where the two disagree beyond sampling
    noise, the verdict says how, the Kitagawa decomposition says how much of the aggregate
    gap is mix, and :meth:`Simpson.summary` says it in one sentence.

    Parameters
    ----------
    data
        polars DataFrame/LazyFrame, pandas DataFrame, pyarrow Table, DuckDB relation,
        PySpark DataFrame, or a path/glob to parquet or CSV files.
    outcome
        The outcome column: 0/1 or booleans (rates), or numbers (means, see ``kind``).
        Rows with a null (or NaN) outcome are left out and counted in ``unlabeled``.
    compare
        The column whose levels are compared (model or prompt version, treatment, group).
        Rows with a null value are left out and counted in ``missing_compare``.
    strata
        Stratifier column(s). ``None`` (default) scans every candidate column: all
        columns except ``outcome``, ``compare``, ``weight`` and ``exclude``, skipping
        temporal columns (time is not a stratum; see :func:`aidebt.decay`), float and
        decimal columns (continuous: bin them first, or name them here), nested or binary
        columns, columns whose name says model output or label (``y_pred``, ``score``,
        ``*_proba``..., see ``MODEL_OUTPUT_PATTERN``: stratifying by a consequence of the
        outcome manufactures reversals), copies of such columns or of the outcome
        (``decile_score.1``, ``y_true_copy``), columns whose levels alone predict the
        outcome almost perfectly (they explain ``LEAK_SHARE`` of its variance or more:
        recorded after the outcome, or derived from it), and columns with more than
        ``max_levels`` levels. :attr:`Simpson.candidates` lists every column with its
        reason, and :meth:`Simpson.summary` says which were left out. Columns named here
        are scanned whatever their type or cardinality (a near-perfect predictor gets a
        note).
    weight
        Frequency weights (counts >= 0): a pre-aggregated table gives exactly the result
        of the rows it stands for.
    baseline
        The level every other level is compared with; default: the most frequent level
        (weighted rows with an outcome; ties: the first in sort order).
    depth
        ``1`` scans each stratifier alone; ``2`` adds every pair of them (strata are the
        combinations, e.g. ``"tier & channel"``).
    exclude
        Columns never to scan (model outputs or identifiers the defaults miss).
    max_levels
        Largest number of levels of an automatically scanned stratifier (20).
    kind
        ``"auto"`` (default): booleans and integers must be 0/1 (rates), a float column
        holding only 0 and 1 is a rate too, any other float column is compared as means.
        ``"binary"`` requires 0/1; ``"mean"`` compares means.
    pos_label
        The outcome value that counts as 1 when the outcome is not 0/1 (e.g. ``"yes"``).
    confidence
        Level of every interval (0.95).
    min_shift
        Smallest ``|aggregate_diff - adjusted_diff|`` worth a verdict, in the outcome's
        units (0: any shift beyond sampling noise). Raise it on very large data to ignore
        real but negligible mix effects.
    max_compare_levels
        Most levels of ``compare`` (100): every level is compared with the baseline, one
        row per stratifier, so a column of identifiers would take minutes and list every
        value. Above it, an error names the column and its count before any work that
        depends on the levels (they are counted on the first rows in the engine, then
        exactly after the aggregation pass). Raise it, or ``None`` for no limit.
    min_n
        Levels of ``compare`` with fewer (weighted) rows with an outcome are not compared:
        a two-person group never headlines. They are listed in :attr:`Simpson.small_levels`
        and named by :meth:`Simpson.summary`. The ``baseline`` is compared whatever its size.

    Returns
    -------
    Simpson
        ``.table``, ``.strata(stratifier)``, ``.summary()``, ``.chart()``,
        ``.findings()``, ``.candidates``.

    Notes
    -----
    Differences are ``level - baseline``. For a 0/1 outcome, the adjusted difference is
    the Mantel-Haenszel risk difference with Sato's variance
    (:func:`aidebt.stats.mh_risk_difference`); the odds ratio, its interval, the risk
    ratio and the Breslow-Day homogeneity p-value come from statsmodels'
    ``StratifiedTable``. For a numeric outcome the adjusted difference is the stratum mean differences averaged
    with the same Cochran weights ``n1 n0 / (n1 + n0)`` (inverse-variance weights under a
    common variance), ``homogeneity_p`` is Cochran's Q, and there is no odds ratio.
    Strata that only one arm saw carry no information on the comparison: they are left
    out of the adjusted difference (their rows are ``excluded_n``) and count as pure mix
    in the Kitagawa decomposition (``mix_component`` = different composition,
    ``within_component`` = different values within strata; they sum to
    ``aggregate_diff`` exactly).

    Verdicts, with ``D`` the aggregate and ``A`` the adjusted difference:

    - **noise guard**: a verdict other than ``none`` needs the shift ``D - A`` to be more
      than sampling noise, and ``|D - A| >= min_shift``. ``D`` and ``A`` come from the same
      rows, so the shift is tested with its own standard error (``shift_se``, the delta
      method over each arm's rows, :func:`aidebt.stats.adjustment_shift`): the null is
      that the compared levels saw the same mix of strata. The tests over every scanned
      stratifier (and compared level) form one family, Holm-adjusted (Holm 1979,
      *Scand. J. Statist.* 6:65-70) at level ``1 - confidence``: ``shift_p``. In
      simulation, 300 rows and ``depth=2`` over five 20-level columns unrelated to
      ``compare`` (15 stratifiers; three quarters of a pair's rows in strata one arm never
      saw): 3.8% of scans report a (false) finding (1,000 scans, Monte Carlo SE 0.6%),
      against 26% with the interval rule used before (``D`` outside ``A``'s interval).
      The test is also more powerful: a planted three-tier confounder at 300 rows is found
      in every one of 200 scans, against 77% before. See the tests.
    - ``reversal``: ``A`` and ``D`` have opposite signs (this includes every informative
      stratum being reversed, since ``A`` is a positive average of the stratum
      differences);
    - ``amplification``: same sign (or ``D == 0``) and ``|A| > |D|``: the aggregate
      hides part of the gap;
    - ``attenuation``: same sign and ``|A| < |D|`` (or ``A == 0``): the mix explains
      part or all of the aggregate gap;
    - ``none``: otherwise, and when no stratum has both arms or the stratifier has a
      single level (nothing to adjust).

    Strata seen by one arm only are left out of ``A`` (their rows are ``excluded_n``); the
    ``note`` gives their share of the rows and flags the stratifier as **sparse** at
    ``SPARSE_SHARE`` (a quarter) or more: ``A`` then speaks for the rest of the rows only.
    Pairs of many-level columns (``depth=2``) on small data are the usual cause.

    ``strata_reversed`` counts the strata with both arms whose own difference has the
    sign opposite to ``D`` (0 when ``D == 0``); ``n_strata`` counts the strata with both
    arms.

    Aggregation: one query over the rows. When the product of the candidates'
    cardinalities (estimated on the first rows) is small (``JOINT_MAX_GROUPS``), one
    group-by over ``compare`` and every candidate at once, re-summed per stratifier;
    otherwise one group-by per stratifier (per pair with ``depth=2``), run as branches
    of a single query over one shared projection
    (:func:`aidebt.aggregate.sufficient_stats_sets`).

    Examples
    --------
    >>> import aidebt as ad
    >>> logs = ad.datasets.demo(n_per_month=5_000, months=2)
    >>> s = ad.simpson(logs, outcome="y_true", compare="prompt_version")
    >>> s.findings().select("stratifier", "level", "verdict").rows()
    [('tier', 'v2', 'reversal')]
    >>> s.table.columns[:4]
    ['stratifier', 'level', 'baseline', 'verdict']
    """
    confidence = st.check_confidence(confidence)
    if depth not in (1, 2) or isinstance(depth, bool):
        raise InvalidArgumentError(f"depth={depth!r} must be 1 (each stratifier) or 2 (pairs).")
    if kind not in KINDS:
        raise InvalidArgumentError(f"kind={kind!r} must be one of {KINDS}.")
    if isinstance(max_levels, bool) or not isinstance(max_levels, int) or max_levels < 2:
        raise InvalidArgumentError(f"max_levels={max_levels!r} must be an integer >= 2, e.g. 20.")
    if not isinstance(min_shift, (int, float)) or min_shift < 0:
        raise InvalidArgumentError(f"min_shift={min_shift!r} must be a number >= 0.")
    if max_compare_levels is not None and (
        isinstance(max_compare_levels, bool)
        or not isinstance(max_compare_levels, int)
        or max_compare_levels < 2
    ):
        raise InvalidArgumentError(
            f"max_compare_levels={max_compare_levels!r} must be an integer >= 2 (e.g. 100), "
            "or None for no limit."
        )
    if isinstance(min_n, bool) or not isinstance(min_n, (int, float)) or not min_n >= 0:
        raise InvalidArgumentError(f"min_n={min_n!r} must be a number >= 0, e.g. 30.")
    frame = frames.to_lazy(data)
    frames.require_columns(frame, [outcome], role="outcome")
    frames.require_columns(frame, [compare], role="compare")
    frames.require_columns(frame, [weight], role="weight")
    strata_list = frames.as_list(strata)
    excluded = frames.as_list(exclude)
    frames.require_columns(frame, strata_list, role="a stratifier")
    frames.require_columns(frame, excluded, role="exclude")
    schema = frames.columns(frame)
    if outcome == compare:
        raise InvalidArgumentError(
            f"outcome and compare are both {outcome!r}: compare must be another column."
        )
    for role, name in (("outcome", outcome), ("compare", compare), ("weight", weight)):
        if name is not None and name in strata_list:
            raise InvalidArgumentError(
                f"Column {name!r} is the {role}; it cannot also be a stratifier. Remove it "
                "from strata=."
            )
    if weight:
        frames.check_numeric(frame, weight, role="weight", fix="Weights are counts >= 0.")
    binary_dtype = _check_outcome(frame, outcome, schema[outcome], kind, pos_label)

    scan = _candidates(
        frame, schema, outcome, compare, weight, strata_list, excluded, max_levels, depth
    )
    cards = scan.cardinality
    _check_compare_levels(compare, cards.get(compare, 0), max_compare_levels, sampled=True)
    roles, need, extra = _outcome_roles(frame, outcome, weight, pos_label)
    joint_size = cards.get(compare, 2) * int(np.prod([max(cards[c], 1) for c in scan.columns]))
    if scan.columns and joint_size <= JOINT_MAX_GROUPS:
        # Small joint grouping: ONE group-by over compare and every candidate; each
        # stratifier (and pair) is a re-sum of this small table, so depth=2 costs nothing.
        strategy = "joint"
        keys = [compare, *scan.columns]
        (joint,) = aggregate.sufficient_stats_sets(frame, [keys], roles, need=need, extra=extra)
        cell_tables = {s: aggregate.rollup(joint, keys, [compare, *s]) for s in scan.stratifiers}
        total = aggregate.rollup(joint, keys, [compare])
    else:
        # Large joint grouping (its size is the product of the cardinalities: 10 columns
        # of 5 levels make ~10M groups, as slow as the rows): one group-by per stratifier,
        # as branches of a single query over one shared projection, so the rows are still
        # read once (polars caches the projection and runs the branches in parallel).
        strategy = "grouping sets"
        sets = [[compare]] + [[compare, *s] for s in scan.stratifiers]
        tables = aggregate.sufficient_stats_sets(frame, sets, roles, need=need, extra=extra)
        total = tables[0]
        cell_tables = dict(zip(scan.stratifiers, tables[1:], strict=True))
    total = _cells(total, [compare])
    kind_used = _resolve_kind(frame, outcome, total, kind, binary_dtype, pos_label)
    metric = mreg.get(OUTCOME_METRICS[kind_used])
    unlabeled = float((total.get_column("__n_all") - total.get_column("__n")).sum())
    missing_compare = float(
        total.filter(pl.col(compare) == frames.MISSING_GROUP).get_column("__n_all").sum()
    )
    levels, base = _levels(frame, total, compare, baseline, outcome)
    _check_compare_levels(compare, len(levels), max_compare_levels, sampled=False)
    levels, small_levels = _large_levels(total, compare, levels, base, min_n, outcome)

    candidates = scan.candidates
    rows: list[dict[str, Any]] = []
    strata_tables: dict[str, pl.DataFrame] = {}
    stratifier_columns: dict[str, list[str]] = {}
    too_many: dict[str, int] = {}
    leaks: dict[str, float] = {}
    for s in scan.stratifiers:
        cells = _cells(cell_tables[s], [compare, *s]).filter(
            pl.col(compare) != frames.MISSING_GROUP
        )
        if scan.auto:
            big = [c for c in s if cells.get_column(c).n_unique() > max_levels]
            if big:
                for c in big:
                    too_many[c] = cells.get_column(c).n_unique()
                continue
            if any(c in leaks for c in s):
                continue  # a pair with a near-perfect predictor: as misleading as it alone
        explained = _explained_share(cells, list(s)) if len(s) == 1 else 0.0
        if explained >= LEAK_SHARE:
            leaks[s[0]] = explained
            if scan.auto:
                continue
        name = PAIR_SEP.join(s)
        stratifier_columns[name] = [_key_name(c) for c in s]
        found, per_stratum = [], []
        for level in levels:
            if level == base:
                continue
            row, table = _compare_level(cells, list(s), compare, level, base, metric, confidence)
            row["stratifier"] = name
            if explained >= LEAK_SHARE:
                leak = (
                    f"{s[0]} alone explains {explained:.0%} of the outcome's variance: it may "
                    "be recorded after the outcome or derived from it"
                )
                row["note"] = f"{row['note']}; {leak}" if row.get("note") else leak
            found.append(row)
            per_stratum.append(table)
        rows.extend(found)
        strata_tables[name] = pl.concat(per_stratum, how="vertical_relaxed")
    if too_many:
        candidates = _mark_skipped(
            candidates,
            {c: f"{k} levels, more than max_levels={max_levels}" for c, k in too_many.items()},
            "too many levels",
        )
    if leaks and scan.auto:
        candidates = _mark_skipped(
            candidates,
            {
                c: f"its levels alone explain {v:.0%} of the outcome's variance (at least "
                f"{LEAK_SHARE:.0%}): likely recorded after the outcome or derived from it; "
                "name it in strata= to scan it anyway"
                for c, v in leaks.items()
            },
            "predicts the outcome",
        )
    _judge(rows, st.test_level(confidence), min_shift)
    table = _finish_table(rows)
    return Simpson(
        table,
        strata_tables,
        outcome=outcome,
        compare=compare,
        baseline=base,
        levels=levels,
        kind=kind_used,
        confidence=confidence,
        candidates=candidates,
        stratifier_columns=stratifier_columns,
        unlabeled=unlabeled,
        missing_compare=missing_compare,
        strategy=strategy,
        small_levels=small_levels,
        min_n=min_n,
    )


def _large_levels(
    total: pl.DataFrame, compare: str, levels: list[str], base: str, min_n: float, outcome: str
) -> tuple[list[str], dict[str, float]]:
    """The levels with at least ``min_n`` rows with an outcome (the baseline always), and
    the others with their sizes."""
    sizes = dict(
        total.filter(pl.col(compare) != frames.MISSING_GROUP)
        .group_by(compare)
        .agg(pl.col("__n").sum())
        .iter_rows()
    )
    small = {
        lv: float(sizes.get(lv, 0.0)) for lv in levels if lv != base and sizes.get(lv, 0.0) < min_n
    }
    kept = [lv for lv in levels if lv not in small]
    if len(kept) < 2:
        listed = ", ".join(f"{lv!r} ({n:,.0f})" for lv, n in small.items())
        raise InvalidValueError(
            f"Column {compare!r} (compare): every level but the baseline {base!r} has fewer "
            f"than min_n={min_n:g} rows with a non-null {outcome!r} ({listed}); there is "
            "nothing large enough to compare. Lower min_n, or compare larger groups."
        )
    return kept, small


def _explained_share(cells: pl.DataFrame, cols: list[str]) -> float:
    """The share of the outcome's variance that the stratifier's levels explain on their
    own (eta squared: between-level over total sum of squares, the arms pooled)."""
    pooled = cells.group_by(cols).agg(pl.col("__n").sum(), pl.col("__s").sum(), pl.col("__q").sum())
    n = pooled.get_column("__n").to_numpy()
    s1 = pooled.get_column("__s").to_numpy()
    s2 = pooled.get_column("__q").to_numpy()
    total_n = n.sum()
    if total_n <= 0:
        return 0.0
    mean = s1.sum() / total_n
    total = s2.sum() - total_n * mean**2
    with np.errstate(divide="ignore", invalid="ignore"):
        between = np.nansum(np.where(n > 0, s1**2 / n, 0.0)) - total_n * mean**2
    return float(between / total) if total > 1e-12 * max(total_n, 1) else 0.0


# --------------------------------------------------------------------------------------
# Input checks and the candidate scan (schema only, plus a look at the first rows)
# --------------------------------------------------------------------------------------
def _check_outcome(frame, outcome: str, dtype, kind: str, pos_label) -> bool:
    """Type checks on the outcome before any scan; returns whether it can only be 0/1."""
    if pos_label is not None:
        if kind == "mean":
            raise InvalidArgumentError(
                f"pos_label={pos_label!r} makes {outcome!r} a 0/1 outcome; it cannot go with "
                "kind='mean'. Drop one of them."
            )
        return True
    if dtype == nw.Object or aggregate.numbers_as_categories(frame, outcome, dtype):
        return True  # pandas booleans with None, 0/1 categories: 0/1 by the label rule
    if not frames.is_numeric(dtype):
        found = frames.sample_values(frame, outcome)
        hint = aggregate.pos_label_hint(frame, "y_true", aggregate.Roles(y_true=outcome))
        raise ColumnTypeError(
            f"Column {outcome!r} (outcome) holds {dtype} values ({found}); simpson compares "
            f"0/1 outcomes (rates) or numbers (means). {hint} Or map the column to 0/1."
        )
    return dtype == nw.Boolean


def _outcome_roles(frame: nw.LazyFrame, outcome: str, weight: str | None, pos_label):
    """The roles, statistics and checks of the aggregation pass for this outcome."""
    dtype = frames.columns(frame)[outcome]
    if pos_label is not None or not frames.is_numeric(dtype):  # 0/1 by the label rule
        return aggregate.Roles(y_true=outcome, weight=weight, pos_label=pos_label), set(), {}
    roles = aggregate.Roles(y_true=outcome, weight=weight, binary=False)
    if not dtype.is_float():
        # Booleans are 0/1; for integers y(y - 1) >= 0, so sum(y^2) == sum(y) exactly
        # when every value is 0 or 1: the check needs no column of its own.
        return roles, {"y_sum"}, {}
    y = aggregate.present(frame, outcome)
    nonbinary = ((~y.is_null()) & (y != 0) & (y != 1)).fill_null(False).cast(nw.Int64)
    return roles, {"y_sum"}, {"_nonbinary": nonbinary}


def _resolve_kind(frame, outcome, total: pl.DataFrame, kind, binary_dtype, pos_label) -> str:
    if pos_label is not None or binary_dtype and kind != "mean":
        return "binary"
    if kind == "mean":
        return "mean"
    if "__nonbinary" in total.columns:
        other = float(total.get_column("__nonbinary").sum())
    else:  # integers: sum of y(y - 1), positive as soon as one value is not 0 or 1
        other = float((total.get_column("__q") - total.get_column("__s")).sum())
    if other == 0:
        return "binary"
    dtype = frames.columns(frame)[outcome]
    if kind == "auto" and dtype.is_float():
        return "mean"
    found = frames.sample_values(frame, outcome)
    raise InvalidValueError(
        f"Column {outcome!r} (outcome) must hold 0/1 (or booleans) for a rate, but it holds "
        f"other values; values found: {found}. Map it to 0/1 (e.g. "
        f"pl.col({outcome!r}) >= 4), pass pos_label= to say which value is the positive "
        "outcome, or pass kind='mean' to compare means."
    )


def _candidates(
    frame, schema, outcome, compare, weight, strata, excluded, max_levels, depth
) -> _Scan:
    roles = {outcome: "outcome", compare: "compare"}
    if weight:
        roles[weight] = "weight"
    records = []
    auto = not strata
    sampled: list[str] = []
    for name, dtype in schema.items():
        status, reason, short = "candidate", "", ""
        if name in roles:
            status = roles[name]
        elif not auto:
            status, reason, short = (
                ("candidate", "", "")
                if name in strata
                else ("skipped", "not in strata=", "not requested")
            )
        elif name in excluded:
            status, reason, short = "skipped", "excluded by exclude=", "excluded"
        elif dtype.is_temporal() or frames.is_temporal(dtype):
            status, reason, short = (
                "skipped",
                "temporal column: time is not a stratum (see aidebt.decay)",
                "temporal",
            )
        elif dtype.is_numeric() and not dtype.is_integer():
            status, reason, short = (
                "skipped",
                "float/decimal column: continuous; bin it, or name it in strata=",
                "continuous",
            )
        elif not (
            dtype.is_integer()
            or dtype == nw.Boolean
            or dtype == nw.String
            or dtype == nw.Categorical
            or isinstance(dtype, nw.Enum)
        ):
            status, reason, short = "skipped", f"type {dtype} cannot be a stratum", "type"
        elif _base_name(name) in (_base_name(outcome), _base_name(compare)):
            status, reason, short = (
                "skipped",
                f"name says it is a copy of {outcome if _base_name(name) == _base_name(outcome) else compare}; "
                "name it in strata= to scan it anyway",
                "a copy",
            )
        elif MODEL_OUTPUT_PATTERN.search(name) or MODEL_OUTPUT_PATTERN.search(_base_name(name)):
            status, reason, short = (
                "skipped",
                "name says model output or label: stratifying by it would condition on the "
                "outcome; name it in strata= to scan it anyway",
                "model output",
            )
        if status == "candidate":
            sampled.append(name)
        records.append(
            {
                "column": name,
                "dtype": str(dtype),
                "status": status,
                "reason": reason,
                "short": short,
            }
        )
    candidates = pl.DataFrame(records, schema=dict.fromkeys(records[0], pl.String))
    columns = [c for c in schema if c in set(sampled)] if auto else list(dict.fromkeys(strata))
    cards = _sample_cardinality(frame, [compare, *columns])
    if auto and columns:
        big = {c: k for c, k in cards.items() if c in columns and k > max_levels}
        if big:
            columns = [c for c in columns if c not in big]
            reasons = {
                c: f"more than max_levels={max_levels} levels ({k} in the first "
                f"{SAMPLE_ROWS:,} rows)"
                for c, k in big.items()
            }
            candidates = _mark_skipped(candidates, reasons, "too many levels")
    candidates = candidates.with_columns(
        status=pl.when(pl.col("status") == "candidate")
        .then(pl.lit("scanned"))
        .otherwise(pl.col("status"))
    )
    stratifiers: list[tuple[str, ...]] = [(c,) for c in columns]
    if depth == 2:
        stratifiers += [(a, b) for i, a in enumerate(columns) for b in columns[i + 1 :]]
    return _Scan(stratifiers, columns, candidates, auto, cards)


def _base_name(name: str) -> str:
    """A column's name without a copy's suffix: ``decile_score.1`` -> ``decile_score``."""
    return _COPY_SUFFIX.sub("", name) or name


def _mark_skipped(candidates: pl.DataFrame, reasons: dict[str, str], short: str) -> pl.DataFrame:
    hit = pl.col("column").is_in(list(reasons))
    return candidates.with_columns(
        status=pl.when(hit).then(pl.lit("skipped")).otherwise(pl.col("status")),
        reason=pl.when(hit)
        .then(pl.col("column").replace_strict(reasons, default=None, return_dtype=pl.String))
        .otherwise(pl.col("reason")),
        short=pl.when(hit).then(pl.lit(short)).otherwise(pl.col("short")),
    )


def _sample_cardinality(frame: nw.LazyFrame, columns: list[str]) -> dict[str, int]:
    """Distinct values (null counts as one) of each column among the first rows.

    A bounded look (``head``), never a scan: it only decides which candidates to skip
    and how to group; the aggregation pass counts the real levels.
    """
    if not columns:
        return {}
    counts = (
        frame.head(SAMPLE_ROWS)
        .select(*(nw.col(c).n_unique().alias(c) for c in columns))
        .collect(backend="polars")
        .to_native()
    )
    return {c: int(counts.get_column(c)[0]) for c in columns}


def _cells(stats: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """The keys and the sums this module uses, under names no data column can take:
    ``__n_all`` (rows), ``__n`` (rows with an outcome), ``__s`` (sum of the outcome),
    ``__q`` (sum of squares), ``__nonbinary`` (rows whose outcome is not 0/1)."""
    total = "y_sum" if "y_sum" in stats.columns else "pos"
    square = "y_sq" if "y_sq" in stats.columns else "pos"
    extra = [pl.col("_nonbinary").alias("__nonbinary")] if "_nonbinary" in stats.columns else []
    return stats.select(
        *keys,
        pl.col("n").cast(pl.Float64).alias("__n_all"),
        pl.col("labeled").cast(pl.Float64).alias("__n"),
        pl.col(total).cast(pl.Float64).alias("__s"),
        pl.col(square).cast(pl.Float64).alias("__q"),
        *extra,
    )


def _levels(frame, total: pl.DataFrame, compare: str, baseline, outcome) -> tuple[list[str], str]:
    present = (
        total.filter((pl.col(compare) != frames.MISSING_GROUP) & (pl.col("__n") > 0))
        .group_by(compare)
        .agg(pl.col("__n").sum())
        .sort([pl.col("__n"), pl.col(compare)], descending=[True, False])
    )
    levels = present.get_column(compare).to_list()
    if len(levels) < 2:
        only = f"a single level, {levels[0]!r}," if levels else "no level"
        raise InvalidValueError(
            f"Column {compare!r} (compare) has {only} among rows with a non-null {outcome!r}: "
            "there is nothing to compare. Pass a column with at least two levels (a model or "
            "prompt version, a treatment, a group), or check that the data was not filtered "
            "to one of them."
        )
    if baseline is None:
        return sorted(levels), levels[0]
    key = value_key(baseline, levels)
    if key not in levels:
        raise InvalidValueError(
            f"baseline={baseline!r} is not a level of column {compare!r} (levels with an "
            f"outcome: {', '.join(repr(v) for v in sorted(levels))}). Pass one of them, or "
            f"leave baseline=None to use the most frequent level ({levels[0]!r})."
        )
    return sorted(levels), key


# --------------------------------------------------------------------------------------
# One comparison: level vs baseline within the strata of one stratifier
# --------------------------------------------------------------------------------------
def _arm(cells: pl.DataFrame, cols: list[str], compare: str, level: str, tag: str):
    return cells.filter(pl.col(compare) == level).select(
        *cols,
        pl.col("__n").alias(f"__n{tag}"),
        pl.col("__s").alias(f"__s{tag}"),
        pl.col("__q").alias(f"__q{tag}"),
    )


def _compare_level(
    cells: pl.DataFrame,
    cols: list[str],
    compare: str,
    level: str,
    base: str,
    metric: mreg.Metric,
    confidence: float,
) -> tuple[dict[str, Any], pl.DataFrame]:
    """One level against the baseline within the strata of one stratifier.

    The row's verdict is left to :func:`_judge`, which adjusts the shift tests of the
    whole scan together."""
    joined = (
        _arm(cells, cols, compare, level, "1")
        .join(_arm(cells, cols, compare, base, "0"), on=cols, how="full", coalesce=True)
        .fill_null(0.0)
        .sort(cols)
    )
    a = {
        c: joined.get_column(f"__{c}").to_numpy().astype(float)
        for c in ("n1", "s1", "q1", "n0", "s0", "q0")
    }
    n1, s1, q1, n0, s0, q0 = (a[c] for c in ("n1", "s1", "q1", "n0", "s0", "q0"))
    with np.errstate(divide="ignore", invalid="ignore"):
        r1 = np.where(n1 > 0, s1 / n1, np.nan)
        r0 = np.where(n0 > 0, s0 / n0, np.nan)
    both = (n1 > 0) & (n0 > 0)
    big1, big0 = n1.sum(), n0.sum()
    p1, p0 = s1.sum() / big1 if big1 else np.nan, s0.sum() / big0 if big0 else np.nan
    aggregate_diff = p1 - p0

    sums = _arm_sums(s1.sum(), q1.sum(), big1), _arm_sums(s0.sum(), q0.sum(), big0)
    arm1, arm0 = (mreg.point_estimate(c, metric) for c in sums)
    agg = mreg.compare_to(
        metric, arm1["value"], arm1["se"], arm1["x"], arm1["den"], _as_ref(arm0), confidence
    )
    adj = mreg.pooled_difference(metric, s1, q1, n1, s0, q0, n0, confidence)
    if metric.binomial:  # odds ratios exist for 0/1 outcomes only
        odds = st.mh_odds_ratio(s1, n1, s0, n0, confidence)
        homogeneity = odds["homogeneity_p"]
    else:
        odds = dict.fromkeys(("odds_ratio", "lo", "hi", "risk_ratio"), np.nan)
        homogeneity = adj["homogeneity_p"]
    mix, within = st.kitagawa(n1, r1, n0, r0)
    diff_k = r1 - r0
    sign_d = np.sign(aggregate_diff) if np.isfinite(aggregate_diff) else 0.0
    reversed_k = both & (np.sign(np.nan_to_num(diff_k)) == -sign_d) & (sign_d != 0)
    n_strata = int(both.sum())
    A, lo, hi = adj["diff"], adj["lo"], adj["hi"]
    shift = st.adjustment_shift(s1, q1, n1, s0, q0, n0)
    excluded_n = float((n1 + n0)[~both].sum())
    row = {
        "level": level,
        "baseline": base,
        "verdict": None,
        "aggregate_diff": aggregate_diff,
        "aggregate_ci_low": float(agg["diff_lo"][0]),
        "aggregate_ci_high": float(agg["diff_hi"][0]),
        "adjusted_diff": A,
        "adjusted_ci_low": lo,
        "adjusted_ci_high": hi,
        "shift": aggregate_diff - A,
        "shift_se": shift["se"],
        "shift_p": shift["p"],  # Holm-adjusted over the scan by _judge
        "odds_ratio": odds["odds_ratio"],
        "odds_ratio_ci_low": odds["lo"],
        "odds_ratio_ci_high": odds["hi"],
        "risk_ratio": odds["risk_ratio"],
        "homogeneity_p": homogeneity,
        "strata_reversed": int(reversed_k.sum()),
        "n_strata": n_strata,
        "mix_component": float(mix.sum()),
        "within_component": float(within.sum()),
        "level_value": p1,
        "baseline_value": p0,
        "level_n": float(big1),
        "baseline_n": float(big0),
        "excluded_n": excluded_n,
        "note": _excluded_note(excluded_n, big1 + big0) if n_strata else None,
        "_n_levels": len(joined),
    }
    table = _strata_table(
        joined, cols, level, base, metric, confidence, a, both, reversed_k, mix, within
    )
    return row, table


def _arm_sums(s, q, n) -> dict[str, np.ndarray]:
    """One arm's sums under the registry's names (a rate reads ``pos``, a mean the rest)."""
    s, q, n = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (s, q, n))
    return {"pos": s, "y_sum": s, "y_sq": q, "labeled": n}


def _as_ref(est: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """An estimate as the reference side of :func:`aidebt.metrics.compare_to`."""
    return {"value": est["value"], "_se": est["se"], "_x": est["x"], "n": est["den"]}


def _excluded_note(excluded: float, rows: float) -> str | None:
    """Say how many rows the adjusted difference leaves out; flag a sparse stratifier."""
    if not excluded or rows <= 0:
        return None
    share = excluded / rows
    if share >= SPARSE_SHARE:
        return (
            f"sparse: {share:.0%} of the rows ({excluded:,.0f}) are in strata only one arm saw; "
            f"the adjusted difference speaks for the other {1 - share:.0%} (the shift test "
            "allows for it)"
        )
    return (
        f"{excluded:,.0f} rows ({share:.0%}) in strata only one arm saw are left out of the "
        "adjusted difference"
    )


def _judge(rows: list[dict[str, Any]], alpha: float, min_shift: float) -> None:
    """Verdicts for a whole scan: the shift tests are one family, Holm-adjusted (in place)."""
    p = np.array([r["shift_p"] for r in rows], dtype=float)
    ok = np.isfinite(p)
    adjusted = np.full(p.shape, np.nan)
    if ok.any():
        adjusted[ok] = st.adjust_pvalues(p[ok], "holm")
    for row, p_adj in zip(rows, adjusted, strict=True):
        found, note = verdict(
            row["aggregate_diff"],
            row["adjusted_diff"],
            row["adjusted_ci_low"],
            row["adjusted_ci_high"],
            row["n_strata"],
            row.pop("_n_levels"),
            min_shift,
            shift_p=float(p_adj),
            alpha=alpha,
        )
        row["verdict"], row["shift_p"] = found, float(p_adj)
        row["note"] = "; ".join(x for x in (note, row["note"]) if x) or None


def verdict(
    D, A, lo, hi, n_strata, n_levels, min_shift, *, shift_p: float | None = None, alpha=0.05
) -> tuple[str, str | None]:
    """The verdict of one comparison, and a note when it is ``none`` for want of strata.

    ``D`` is the aggregate difference, ``A`` the adjusted one with interval ``[lo, hi]``.
    With ``shift_p`` (the p-value of the shift ``D - A``, from
    :func:`aidebt.stats.adjustment_shift`, adjusted over the family it belongs to), the
    noise guard is ``shift_p < alpha``: the rule of :func:`simpson`. Without it, the
    earlier rule, kept for callers without a shift test: ``D`` outside ``A``'s interval,
    which ignores that ``D`` is noisy too and shares ``A``'s rows (its level depends on the
    strata, from 0% to 3% in the tests' simulations, and it allows nothing for the many
    tests of a scan).

    Examples
    --------
    >>> verdict(-0.045, 0.028, 0.025, 0.030, n_strata=3, n_levels=3, min_shift=0.0,
    ...         shift_p=1e-6)
    ('reversal', None)
    """
    if n_strata == 0:
        return "none", "no stratum has both arms: nothing to compare within strata"
    if n_levels == 1:
        return "none", "a single stratum: nothing to adjust for"
    if shift_p is None:
        if not (np.isfinite(A) and np.isfinite(lo) and np.isfinite(hi) and np.isfinite(D)):
            return "none", "the adjusted difference has no interval"
        if lo <= D <= hi:
            return "none", None
    elif not (np.isfinite(A) and np.isfinite(D) and np.isfinite(shift_p)):
        return "none", "the shift between aggregate and adjusted difference has no test"
    elif not shift_p < alpha:
        return "none", None
    if abs(D - A) < min_shift:
        return "none", None
    if D != 0 and A != 0 and np.sign(D) != np.sign(A):
        return "reversal", None
    if abs(A) > abs(D):
        return "amplification", None
    return "attenuation", None


def _check_compare_levels(compare: str, levels: int, limit: int | None, *, sampled: bool) -> None:
    """Refuse a compare column with more levels than ``max_compare_levels``, early."""
    if limit is None or levels <= limit:
        return
    count = (
        f"at least {levels:,} levels (in its first {SAMPLE_ROWS:,} rows)"
        if sampled
        else f"{levels:,} levels"
    )
    raise InvalidValueError(
        f"Column {compare!r} (compare) has {count}, more than max_compare_levels={limit}: "
        "simpson compares every level with the baseline, one row per level and stratifier. "
        "Compare a column with fewer levels (a version, a treatment, a group; group rare "
        "values together or filter to the levels of interest), or raise the limit, e.g. "
        f"max_compare_levels={levels} (None: no limit), to compare them all."
    )


def _strata_table(joined, cols, level, base, metric, confidence, a, both, reversed_k, mix, within):
    n1, s1, q1, n0, s0, q0 = (a[c] for c in ("n1", "s1", "q1", "n0", "s0", "q0"))
    # Append the pooled row: every stratum column "(all)".
    arm1 = mreg.estimate(
        _arm_sums(np.append(s1, s1.sum()), np.append(q1, q1.sum()), np.append(n1, n1.sum())),
        metric,
        confidence=confidence,
    )
    arm0 = mreg.estimate(
        _arm_sums(np.append(s0, s0.sum()), np.append(q0, q0.sum()), np.append(n0, n0.sum())),
        metric,
        confidence=confidence,
    )
    v1, lo1, hi1, n1_ = arm1["value"], arm1["lo"], arm1["hi"], arm1["den"]
    v0, lo0, hi0, n0_ = arm0["value"], arm0["lo"], arm0["hi"], arm0["den"]
    cmp = mreg.compare_to(metric, v1, arm1["se"], arm1["x"], n1_, _as_ref(arm0), confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(both, n1 * n0 / (n1 + n0), 0.0)
        w = w / w.sum() if w.sum() > 0 else w
    f1 = _safe_div(n1_, np.full_like(n1_, n1.sum()))
    f0 = _safe_div(n0_, np.full_like(n0_, n0.sum()))

    def col(x):
        return pl.Series(np.asarray(x, dtype=float), nan_to_null=True)

    names = [_key_name(c) for c in cols]
    keys = joined.select(pl.col(c).alias(k) for c, k in zip(cols, names, strict=True))
    keys = keys.vstack(pl.DataFrame({k: [ALL] for k in names}))
    diff = np.where(np.append(both, True), cmp["diff"], np.nan)
    return keys.with_columns(
        level=pl.lit(level),
        baseline=pl.lit(base),
        level_n=col(n1_),
        level_value=col(v1),
        level_ci_low=col(lo1),
        level_ci_high=col(hi1),
        baseline_n=col(n0_),
        baseline_value=col(v0),
        baseline_ci_low=col(lo0),
        baseline_ci_high=col(hi0),
        diff=col(diff),
        diff_ci_low=col(np.where(np.append(both, True), cmp["diff_lo"], np.nan)),
        diff_ci_high=col(np.where(np.append(both, True), cmp["diff_hi"], np.nan)),
        reversed=pl.Series([*reversed_k.tolist(), None], dtype=pl.Boolean),
        level_share=col(f1),
        baseline_share=col(f0),
        weight=col(np.append(w, w.sum())),
        mix_component=col(np.append(mix, mix.sum())),
        within_component=col(np.append(within, within.sum())),
    )


_STRATA_COLUMNS = {
    "level",
    "baseline",
    *(f"{arm}_{x}" for arm in ("level", "baseline") for x in ("n", "value", "ci_low", "ci_high")),
    *("diff", "diff_ci_low", "diff_ci_high", "reversed", "level_share", "baseline_share"),
    *("weight", "mix_component", "within_component"),
}


def _key_name(column: str) -> str:
    """A stratifier's column name in :meth:`Simpson.strata` (renamed if it would collide)."""
    return f"{column} (stratum)" if column in _STRATA_COLUMNS else column


def _safe_div(x, y) -> np.ndarray:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(y > 0, x / y, np.nan)


_RANK = {v: i for i, v in enumerate(VERDICTS)}


def _finish_table(rows: list[dict[str, Any]]) -> pl.DataFrame:
    if not rows:
        return conform([], COLUMNS)
    table = conform(rows, COLUMNS)
    table = table.with_columns(pl.col(pl.Float64).fill_nan(None))
    return (
        table.with_columns(
            _rank=pl.col("verdict").replace_strict(_RANK, return_dtype=pl.Int64),
            _size=pl.col("shift").abs(),
        )
        .sort(
            ["_rank", "_size", "stratifier", "level"],
            descending=[False, True, False, False],
            nulls_last=True,
        )
        .drop("_rank", "_size")
    )
