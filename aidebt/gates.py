"""Gates: judge a month of data against a readiness policy (:mod:`aidebt.policy`).

**Interval semantics.** A check passes only on evidence: a ``min`` needs the interval's
lower bound at or above it, a ``max`` its upper bound at or below it, a ``max_diff`` the
whole interval of the difference inside ``[-max_diff, +max_diff]``; a point estimate on
the right side of the bound with an interval that crosses it fails, and says how many more
labels would let it pass if the estimate held (:func:`_n_needed`). A stage passes when
every check passes: an intersection-union test (Berger 1982), whose chance of passing on
noise is at most ``1 - confidence`` however many segments it judges, at the price of
needing evidence in each. ``pool = true`` judges segment rates on empirical-Bayes
estimates shrunk toward their column's overall (:func:`shrink_rates`).

A rollback trigger fires only on evidence of a breach: the whole interval on the wrong
side of the bound. The month's trigger tests are a union, so they are judged as one
family with Holm's (1979) step-down procedure (:func:`_trigger_family`): noise fires a
trigger in at most ``(1 - confidence) / 2`` of months. A drift criterion fails (or fires)
only when its test rejects and its bias-corrected distance exceeds ``max_js``
(:func:`_judge_drift`). A fairness criterion judges a summary across the groups of each
sensitive attribute on its interval (:func:`_judge_fairness`, :mod:`aidebt.fairness`). So
a stage is not granted on noise, and a rollback is not fired on noise.

Ground truth and lifecycle criteria read companion tables of ``audit.toml`` and call the
analysis that owns each question, one aggregation pass in the table's engine:
``labels.*`` a labeler against gold (:func:`aidebt.labels.label_sources`, ``[labels]``),
``feedback.*`` the implicit-label and rating figures (:func:`aidebt.feedback.feedback`,
``[feedback]``), ``metrics.NAME = { ..., estimated = true }`` the month's unlabeled rows
on estimated values (:func:`aidebt.estimate.estimate`), ``slices.*`` the slices
:func:`aidebt.slices.slices` discovers (failing only on evidence of a slice beyond the
bound: :func:`_slice_test`) and ``clocks`` the registry's lifecycle clocks
(:func:`aidebt.lifecycle.clocks`). A criterion whose table is not configured is skipped
with the reason.

The numbers come from one :func:`aidebt.disaggregate` pass over the month (metrics,
disparities and row counts; one more per Holm step for the trigger family, at its level),
:func:`aidebt.decay` fits for trends and :func:`aidebt.drift` for drift, all in the engine
that holds the data (the month is a lazy window, :func:`aidebt.frames.load_month`); the
config is read by :func:`aidebt.config.load_config`, the same loader as ``aidebt report``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import narwhals as nw
import numpy as np
import polars as pl

from aidebt import frames, prose
from aidebt import metrics as mreg
from aidebt import stats as st
from aidebt.config import AuditConfig, DataConfig, load_config
from aidebt.errors import InvalidArgumentError, InvalidValueError, did_you_mean, printable
from aidebt.groups import ALL, OVERALL, label, label_expr, overall_expr
from aidebt.periods import Month
from aidebt.policy import ROLLBACK, Criterion, Policy, Stage, parse_policy, policy_error
from aidebt.results import Result

__all__ = ["COLUMNS", "GateCheck", "OVERALL", "check", "shrink_rates"]


# --------------------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------------------
COLUMNS = {
    "stage": pl.String,
    "criterion": pl.String,
    "segment": pl.String,
    "metric": pl.String,
    "value": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "bound": pl.Float64,
    "n": pl.Float64,
    "status": pl.String,
    "passed": pl.Boolean,
    "evidence": pl.String,
    "key": pl.String,
    "level": pl.Float64,
    "n_more": pl.Float64,
}


class GateCheck(Result):
    """Result of :func:`check`.

    Attributes
    ----------
    table : polars.DataFrame
        One row per (stage, criterion, segment): ``stage`` (``rollback`` for triggers),
        ``criterion`` (``metrics.fpr.max``, ``disparity.fnr.max_diff``, ``min_n.segment``,
        ``trend.accuracy``, ``drift.max_js``, ``metrics.accuracy.min.estimated``,
        ``labels.kappa.min``, ``feedback.implicit_rate.min``, ``slices.fnr.max_excess``,
        ``clocks.max_overdue``), ``segment`` (``overall`` or ``column=value``; the column
        name for drift, the worst discovered slice for slices), ``metric``, ``value`` with
        ``ci_low``/``ci_high`` (the difference to the overall for disparities, the change
        per month for trends), ``bound``, ``n``, ``status`` (``pass``, ``fail``,
        ``skipped``; ``fired`` or ``quiet`` for rollback triggers), ``passed`` (null when
        skipped; false when a trigger fired), ``evidence`` (a sentence), ``key`` (the
        config key), ``level`` (the confidence of the interval shown: ``confidence`` for
        stages, the Holm-adjusted level for rollback triggers) and ``n_more`` (for a
        failing check whose estimate is on the right side of its bound: about how many
        more labels, in the metric's denominator, would let its interval clear the bound
        if the estimate held).
    stage : str or None
        The highest stage whose criteria, and those of every earlier stage, all pass;
        None when the first stage fails.
    stages : list of str
        The stages in order.
    passed : bool
        Every stage passes.
    rollback : bool
        A rollback trigger fired.
    month : Month or None
        The month checked.
    family : int
        The number of rollback trigger tests judged as one family (Holm); 0 when
        ``rollback_adjust = "none"``.

    Notes
    -----
    A stage is an intersection-union test (Berger 1982): it passes only when every one
    of its checks passes, each on its own evidence at level ``confidence``. That keeps
    the chance that noise grants a stage at most ``1 - confidence`` however many
    segments there are, with no adjustment, but every segment must show its own
    evidence: fifty segments whose true values all clear the bound pass together only
    when each has enough labels. ``n_more`` says how many each failing one needs.
    Rollback triggers are the union of their tests, so they are judged as one family
    (Holm 1979): the chance that noise fires any trigger in a month is at most
    ``(1 - confidence) / 2``.
    """

    title = "Gate check"

    def __init__(
        self,
        table: pl.DataFrame,
        *,
        stages: list[str],
        month: Month | None,
        rows: int | float,
        has_rollback: bool,
        confidence: float = 0.95,
        family: int = 0,
        pooled: bool = False,
    ) -> None:
        super().__init__(table)
        self.stages = stages
        self.month = month
        self.rows = rows
        self.has_rollback = has_rollback
        self.confidence = confidence
        self.family = family
        self.pooled = pooled
        self.stage_passed = {
            s: not self.table.filter((pl.col("stage") == s) & (pl.col("passed") == False)).height  # noqa: E712
            for s in stages
        }
        reached = None
        for s in stages:
            if not self.stage_passed[s]:
                break
            reached = s
        self.stage = reached
        self.passed = all(self.stage_passed.values())
        self.rollback = bool(
            self.table.filter((pl.col("stage") == ROLLBACK) & (pl.col("status") == "fired")).height
        )

    @property
    def failures(self) -> pl.DataFrame:
        """Rows that fail a stage or fire a trigger."""
        return self.table.filter(pl.col("status").is_in(["fail", "fired"]))

    def passes(self, stage: str) -> bool:
        """Whether ``stage`` and every stage before it pass (rollback triggers aside)."""
        if stage not in self.stages:
            raise InvalidArgumentError(
                f"stage {stage!r} is not in the policy; stages: {', '.join(self.stages)}."
            )
        upto = self.stages[: self.stages.index(stage) + 1]
        return all(self.stage_passed[s] for s in upto)

    def summary(self, limit: int = 5) -> list[str]:
        """The stage reached; why the next stage fails (up to ``limit`` checks, segments
        named); how many checks the later stages fail; every rollback trigger that fired."""
        when = f" for {self.month}" if self.month else ""
        order = ", ".join(self.stages)
        if self.stage is None:
            lines = [f"No stage reached{when}: {self.stages[0]} fails (stages: {order})."]
        else:
            lines = [f"Stage reached{when}: {self.stage} (stages: {order})."]
        failing = [s for s in self.stages if not self.stage_passed[s]]
        if failing:
            first = self.failures.filter(pl.col("stage") == failing[0])
            for row in first.head(limit).iter_rows(named=True):
                lines.append(f"{failing[0]} fails: {row['evidence']}.")
            if first.height > limit:
                lines.append(f"{failing[0]} fails {first.height - limit} more checks (see .table).")
            short = first.filter(pl.col("n_more").is_not_null()).height
            if short:
                lines.append(
                    f"{short} of the {first.height} failing checks of {failing[0]} have an "
                    "estimate on the right side of the bound: they fail for lack of labels, "
                    "not on evidence of poor quality, and each says how many more it needs."
                )
            later = [
                f"{s} ({self.failures.filter(pl.col('stage') == s).height})" for s in failing[1:]
            ]
            if later:
                lines.append(f"Later stages fail too (failing checks): {', '.join(later)}.")
        if self.has_rollback:
            fired = self.failures.filter(pl.col("stage") == ROLLBACK)
            if fired.height:
                lines += [
                    f"ROLLBACK trigger fired: {r['evidence']}." for r in fired.iter_rows(named=True)
                ]
            else:
                lines.append("No rollback trigger fired.")
        return [*lines, *self._reading()]

    def _reading(self) -> list[str]:
        """How to read the verdict, in two sentences (the semantics of stages and triggers)."""
        level = _percent(self.confidence)
        lines = [
            f"How to read: a check passes only when its whole {level} interval is on the "
            "right side of its bound, and a stage only when every check passes, overall and "
            "in each segment; small segments therefore fail until they have enough labels."
        ]
        if self.has_rollback and self.family:
            tests = f"{self.family} trigger test{'s' if self.family != 1 else ''}"
            lines.append(
                f"A rollback trigger fires only on evidence of a breach after adjusting for "
                f"the month's {tests} (Holm), so noise fires one in at most "
                f"{_percent((1 - self.confidence) / 2)} of months."
            )
        return lines

    def notes(self) -> list[str]:
        """Checks skipped for lack of data (small segments, too few months); pooling."""
        skipped = self.table.filter(pl.col("status") == "skipped").height
        out = [f"{skipped} checks skipped for lack of data (see .table)."] if skipped else []
        if self.pooled:
            out.append(
                "Segment rates are pooled (pool = true): each is shrunk toward its column's "
                "overall in proportion to how little data it has (empirical Bayes). The "
                "intervals hold on average over the segments, not for each one: a small "
                "segment that truly differs is pulled toward the others."
            )
        return out

    def verdict(self, limit: int | None = 8, more: str = "see .table") -> str:
        """A readable, multi-line verdict (what ``aidebt check`` prints).

        At most ``limit`` failing checks are listed per stage (None: all of them); ``more``
        says where the others are. Values from the data and the config (segment and
        stage names) are escaped (:func:`aidebt.errors.printable`): each line of the
        verdict is one line, whatever they hold.
        """

        def listed(rows: pl.DataFrame, mark: str) -> list[str]:
            shown = rows if limit is None else rows.head(limit)
            lines = [
                f"      {mark} {printable(r['evidence'])}" for r in shown.iter_rows(named=True)
            ]
            if rows.height > shown.height:
                lines.append(f"      ... and {rows.height - shown.height} more ({more})")
            return lines

        when = f"month {self.month}, " if self.month else ""
        out = [f"Gate check ({when}{self.rows:,.0f} rows)"]
        width = max(len(printable(s)) for s in [*self.stages, ROLLBACK])
        for s in self.stages:
            part = self.table.filter(pl.col("stage") == s)
            ok = self.stage_passed[s]
            judged = part.filter(pl.col("status") != "skipped").height
            skipped = part.height - judged
            extra = f", {skipped} skipped" if skipped else ""
            checks = f"{judged} check{'s' if judged != 1 else ''}{extra}"
            out.append(f"  {printable(s):<{width}}  {'PASS' if ok else 'FAIL'}  ({checks})")
            out += listed(part.filter(pl.col("status") == "fail"), "x")
        if self.has_rollback:
            fired = self.table.filter((pl.col("stage") == ROLLBACK) & (pl.col("status") == "fired"))
            tests = f"  ({self.family} tests, Holm)" if self.family else ""
            out.append(f"  {ROLLBACK:<{width}}  {'FIRED' if fired.height else 'quiet'}{tests}")
            out += listed(fired, "!")
        out.append(f"Stage reached: {printable(self.stage or 'none')}")
        level = _percent(self.confidence)
        out.append(
            f"(A check passes when its whole {level} interval clears its bound; a stage when "
            "every check passes."
        )
        if self.has_rollback and self.family:
            out.append(
                f" A trigger fires on a breach shown after Holm's adjustment over the month's "
                f"trigger tests: noise fires one in at most {_percent((1 - self.confidence) / 2)} "
                "of months.)"
            )
        else:
            out[-1] += ")"
        return "\n".join(out)

    def chart(self, *, width: int = 360):
        """Each judged value with its interval against its bound, one panel per stage.

        Metric, disparity, trend and fairness rows; green passes, red fails (or fired), grey skipped.
        See :func:`aidebt.charts.gate_chart`.
        """
        from aidebt import charts

        return charts.gate_chart(self.table, [*self.stages, ROLLBACK], width=width)

    def _display_table(self) -> pl.DataFrame:
        rank = pl.col("status").replace_strict(
            {"fired": 0, "fail": 1, "pass": 2, "quiet": 3, "skipped": 4}, default=5
        )
        return self.table.sort(rank, maintain_order=True).select(
            "stage",
            "criterion",
            "segment",
            "value",
            "ci_low",
            "ci_high",
            "bound",
            "status",
            "evidence",
        )


# --------------------------------------------------------------------------------------
# Checking
# --------------------------------------------------------------------------------------
def check(
    config_or_path: Any,
    data: Any = None,
    *,
    month: Month | str | None = None,
    eval_data: Any = None,
) -> GateCheck:
    """Check the readiness stages and rollback triggers of an ``audit.toml`` on the data.

    Parameters
    ----------
    config_or_path
        The path of an ``audit.toml`` or an :class:`aidebt.config.AuditConfig`
        (its ``[data]`` table gives the column roles, ``[gates.*]`` the stages and
        ``[rollback]`` the triggers; see ``docs/gates.md``).
    data
        The production log: a path, or a frame of any engine (polars, pandas, pyarrow,
        DuckDB, Spark); default: ``[data] path``. It is never collected: the month's
        window, the version filter and every aggregation run in the data's own engine.
    month
        A :class:`aidebt.periods.Month` or ``"YYYY-MM"``: the month to check (default: the latest month in the data). Metric,
        disparity and ``min_n`` criteria use that month's rows; trends the ``periods``
        months ending with it; drift compares it with the previous month (or with the
        eval set, ``against = "eval"``). Without ``[data] time``, every row is checked and
        trend and drift criteria are an error.
    eval_data
        The evaluation set for ``drift = { against = "eval" }`` (default:
        ``[data] eval_path``).

    Returns
    -------
    GateCheck
        ``.table`` (one row per stage, criterion and segment), ``.stage`` (the highest
        stage reached), ``.passed``, ``.rollback``, ``.summary()``, ``.verdict()``,
        ``.chart()``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import aidebt as ad
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> ad.datasets.demo(n_per_month=10_000, months=2).write_parquet(folder / "log.parquet")
    >>> _ = (folder / "audit.toml").write_text('''
    ... [data]
    ... path = "log.parquet"
    ... time = "ts"
    ... y_true = "y_true"
    ... y_pred = "y_pred"
    ... segments = ["language"]
    ... [gates.shadow]
    ... min_n = 1000
    ... [gates.copilot]
    ... metrics.accuracy = { min = 0.85 }
    ... disparity.fnr = { max_diff = 0.05, worse_only = true }
    ... ''')
    >>> result = ad.check(folder / "audit.toml")
    >>> str(result.month), result.stage
    ('2025-11', 'shadow')
    >>> result.failures.select("criterion", "segment").rows()
    [('metrics.accuracy.min', 'language=ja'), ('disparity.fnr.max_diff', 'language=ja')]
    """
    if isinstance(config_or_path, AuditConfig):
        cfg = config_or_path
    elif isinstance(config_or_path, str | os.PathLike):
        cfg = load_config(config_or_path)
    else:
        raise InvalidArgumentError(
            f"config_or_path must be the path of an audit.toml or an AuditConfig, got "
            f"{type(config_or_path).__name__}."
        )
    source = str(cfg.path) if cfg.path else ""
    policy = parse_policy(cfg.raw, source)
    d = cfg.data
    policy.check_roles(d, source)
    registry = _check_companions(cfg, policy, source)

    if data is None:
        if d.path is None:
            raise policy_error(source, "data.path", "no data: set [data] path or pass data=.")
        data = d.path
    data = frames.load(data, time_format=d.time_format)
    if month is not None:
        month = Month.parse(month)
        if d.time is None:
            raise policy_error(
                source, "data.time", f"month={str(month)!r} needs the time column: set [data] time."
            )
    elif d.time is not None:
        month = frames.latest_month(data, d.time)
    frame = frames.load_month(data, month, d.time) if d.time else data
    every_version = frame  # change criteria compare the versions of the month
    log = data
    if policy.version is not None:
        frame = _only_version(frame, d.version, policy.version, source)
        data = _only_version(data, d.version, policy.version, source)

    ctx = _Check(
        policy,
        d,
        list(d.segments or []),
        data,
        frame,
        month,
        source,
        eval_data,
        every_version,
        config=cfg,
        registry=registry,
        log=log,
    )
    rows, total = _judge_month(ctx)
    for stage, c in policy.criteria():
        if c.kind == "trend":
            rows += _judge_trend(ctx, stage, c)
        elif c.kind == "drift":
            rows += _judge_drift(ctx, stage, c)
        elif c.kind == "fairness":
            rows += _judge_fairness(ctx, stage, c, policy.confidence)
        elif c.kind == "change":
            rows += _judge_change(ctx, stage, c)
        elif c.kind in _LEVELLED:
            rows += _LEVELLED[c.kind](ctx, stage, c, policy.confidence)
        elif c.kind == "slices":
            rows += _judge_slices(ctx, stage, c)
        elif c.kind == "clocks":
            rows += _judge_clocks(ctx, stage, c)
    rows, family = _trigger_family(ctx, rows)
    table = pl.DataFrame([{k: row[k] for k in COLUMNS} for row in rows], schema=COLUMNS)
    order = pl.DataFrame(
        [(s.name, c.key, c.name, i) for i, (s, c) in enumerate(policy.criteria())],
        schema={"stage": pl.String, "key": pl.String, "criterion": pl.String, "_o": pl.Int64},
        orient="row",
    )
    table = (
        table.with_row_index("_r")
        .join(order, on=["stage", "key", "criterion"], how="left")
        .sort("_o", "_r")
        .drop("_o", "_r")
    )
    return GateCheck(
        table,
        stages=[s.name for s in policy.stages],
        month=month,
        rows=total,
        has_rollback=policy.rollback is not None,
        confidence=policy.confidence,
        family=family if policy.rollback_adjust == "holm" else 0,
        pooled=policy.pool,
    )


@dataclass(frozen=True)
class _Check:
    """What every criterion of one check is judged on."""

    policy: Policy
    roles: DataConfig
    segments: list[str]
    data: Any  # every row, in its own engine (trends look back, drift compares months)
    frame: Any  # the rows of the month checked
    month: Month | None
    source: str  # the config file, for messages
    eval_data: Any
    versions: Any = None  # the month's rows of every version (before [gates] version)
    cache: dict = field(default_factory=dict)  # the month's disaggregations, by level
    config: AuditConfig = field(default_factory=AuditConfig)  # companion tables' roles
    registry: Any = None  # the lifecycle registry (aidebt.lifecycle.Registry), if any
    log: Any = None  # every row of every version (the clocks' traffic)


def _only_version(frame: Any, column: str | None, value: str, source: str) -> Any:
    """The rows of one version, filtered in the data's engine."""
    if column is None:
        raise policy_error(source, "gates.version", "needs [data] version (the version column).")
    if column not in frames.columns(frames.to_lazy(frame)):
        raise policy_error(source, "data.version", f"column {column!r} is not in the data.")
    return nw.from_native(frame).filter(nw.col(column).cast(nw.String) == value).to_native()


# --------------------------------------------------------------------------------------
# Judging a row
# --------------------------------------------------------------------------------------
def _fmt(v: float | None, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.3g}" if abs(v) >= 1000 else f"{v:.{digits}f}"


def _pair(a: float, b: float) -> tuple[str, str]:
    """``a`` and ``b`` with enough decimals that unequal values do not print equal."""
    for digits in (3, 4, 5, 6):
        x, y = _fmt(a, digits), _fmt(b, digits)
        if x != y or a == b:
            return x, y
    return x, y


def _percent(level: float) -> str:
    """A confidence level as a short percentage: 95%, 99.95%."""
    return f"{100 * level:.4g}%"


def _row(stage: Stage, c: Criterion, segment: str, **values: Any) -> dict[str, Any]:
    row = dict.fromkeys(COLUMNS)
    row.update(stage=stage.name, criterion=c.name, segment=segment, metric=c.metric, key=c.key)
    row.update(bound=c.bound, _kind=c.kind)
    row.update(values)
    return row


def _skipped(stage: Stage, c: Criterion, segment: str, **values: Any) -> dict[str, Any]:
    """A row not judged for lack of data (its ``evidence`` says what is missing)."""
    return _row(stage, c, segment, **values, status="skipped", passed=None)


def _decide(stage: Stage, ok: bool | None, breach: bool | None) -> tuple[str, bool | None]:
    """(status, passed) of a judged row: gates need ``ok``; triggers fire on ``breach``."""
    if stage.name == ROLLBACK:
        if breach is None:
            return "skipped", None
        return ("fired", False) if breach else ("quiet", True)
    if ok is None:
        return "skipped", None
    return ("pass", True) if ok else ("fail", False)


def _where(segment: str, by: Sequence[str] | None = None) -> str:
    """Where a check looked, as the verdict's sentence says it: ``in Region: APAC``.

    ``segment`` is the table's label (``region=APAC``, kept as it is in the ``segment``
    column and the record), ``column=*`` for every segment of a column at once; ``by``:
    its columns, when known, so that a value holding ``=`` or ``, `` reads right.
    """
    if segment == OVERALL:
        return "overall"
    column, _, value = segment.partition("=")
    if value == "*":
        return f"in each {prose.readable_column(column)} segment"
    return f"in {prose.group_phrase(segment, by)}"


def _interval_rule(
    stage: Stage, c: Criterion, value, lo, hi, segment: str, shown: str = "", what: str = ""
):
    """A min/max/abs bound judged on an interval: (status, passed, evidence)."""
    b = c.bound
    what = what or (
        f"{c.metric} {_where(segment)}"
        if c.kind == "metric"
        else (f"{c.metric} difference to overall {_where(segment)}")
    )
    if value is None:
        status, passed = _decide(stage, False, False)
        return status, passed, f"no value of {what} (no rows in its denominator)"
    if lo is None or hi is None:  # a count: no interval
        lo = hi = value
    shown = f"{what} = {_fmt(value)} [{_fmt(lo)}, {_fmt(hi)}]{shown}"
    if c.side == "min":
        ok, breach = lo >= b, hi < b
        need = "lower bound {} {} {}".format(_pair(lo, b)[0], ">=" if ok else "<", _pair(lo, b)[1])
        fire = "upper bound {} {} {}".format(
            _pair(hi, b)[0], "<" if breach else ">=", _pair(hi, b)[1]
        )
    elif c.side == "max":
        ok, breach = hi <= b, lo > b
        need = "upper bound {} {} {}".format(_pair(hi, b)[0], "<=" if ok else ">", _pair(hi, b)[1])
        fire = "lower bound {} {} {}".format(
            _pair(lo, b)[0], ">" if breach else "<=", _pair(lo, b)[1]
        )
    else:  # abs: the whole interval within [-b, b]
        ok, breach = (-b <= lo and hi <= b), (lo > b or hi < -b)
        need = f"interval {'within' if ok else 'not within'} +/-{_fmt(b)}"
        fire = f"interval {'entirely beyond' if breach else 'not entirely beyond'} +/-{_fmt(b)}"
    status, passed = _decide(stage, ok, breach)
    return status, passed, f"{shown}: {fire if stage.name == ROLLBACK else need}"


# --------------------------------------------------------------------------------------
# Power: how many more labels a segment needs to be judged
# --------------------------------------------------------------------------------------
def _n_needed(metric: mreg.Metric, c: Criterion, value, lo, hi, n, level: float) -> float | None:
    """The size of the metric's denominator at which the interval would clear the bound,
    if the point estimate held (None when the estimate itself is on the wrong side).

    For a rate judged on its own (Wilson) interval the size is exact: the smallest ``N``
    whose interval at ``x = value * N`` successes clears the bound (a bisection on
    :func:`aidebt.metrics.conf_int`, the interval the gate uses). Otherwise (means, F1,
    AUC, differences) the interval's half-width on the judged side is scaled as
    ``1 / sqrt(N)``: ``N = n (half-width / distance to the bound)^2``, which assumes the
    segment's own noise dominates the interval. At that size a segment whose true value
    equals today's estimate passes about half the time; about twice as many labels give
    it about four chances in five.
    """
    if value is None or lo is None or hi is None or not n or n <= 0:
        return None
    b = c.bound
    sides = {"min": [("lo", b)], "max": [("hi", b)], "abs": [("lo", -b), ("hi", b)]}[c.side]
    for side, edge in sides:
        if (side == "lo" and value <= edge) or (side == "hi" and value >= edge):
            return None  # the estimate itself breaches the bound: labels will not help
    if c.kind == "metric" and metric.binomial:

        def clears(size: np.ndarray) -> np.ndarray:
            low, high = mreg.conf_int(
                metric, np.full(size.shape, value), None, value * size, size, level
            )
            return low >= b if c.side == "min" else high <= b

        bottom, top = float(n), float(n)  # the interval at n does not clear the bound
        while not clears(np.array([top]))[0]:
            bottom, top = top, top * 4
            if top > 1e15:
                return None
        for _ in range(80):
            mid = np.sqrt(bottom * top)
            if clears(np.array([mid]))[0]:
                top = mid
            else:
                bottom = mid
            if top - bottom < 0.5:
                break
        return float(np.ceil(top))
    need = 0.0
    for side, edge in sides:
        half = value - lo if side == "lo" else hi - value
        need = max(need, n * (half / abs(value - edge)) ** 2)
    return float(np.ceil(need))


def _hint(metric: mreg.Metric, c: Criterion, n_needed: float | None, n: float) -> str:
    """The evidence clause of a failing check's power: how many more labels it needs."""
    if n_needed is None:
        return ""
    more = max(n_needed - n, 1.0)
    what = "rate" if c.kind == "metric" else "difference"
    return f"; about {more:,.0f} more {metric.denominator_name} would clear it if the {what} held"


# --------------------------------------------------------------------------------------
# Partial pooling of segments
# --------------------------------------------------------------------------------------
POOL_MIN_SEGMENTS = 5
"""Segments a column needs for its rates to be pooled (the between-segment variance is
not estimable with fewer)."""


def shrink_rates(x, n) -> tuple[np.ndarray, np.ndarray]:
    """Empirical-Bayes partial pooling of rates on the logit scale: the posterior mean and
    variance of each group's logit.

    Each group's empirical logit ``y_i = log((x_i + 1/2) / (n_i - x_i + 1/2))``, with
    variance ``s_i^2 = 1/(x_i + 1/2) + 1/(n_i - x_i + 1/2)``, is modelled as
    ``y_i ~ N(theta_i, s_i^2)``, ``theta_i ~ N(mu, tau^2)`` (the normal-normal model of
    Efron and Morris 1975). ``tau^2`` is the DerSimonian-Laird (1986) moment estimate,
    ``mu`` the precision-weighted mean. Each logit is shrunk toward ``mu`` by
    ``B_i = s_i^2 / (s_i^2 + tau^2)``: small groups and groups that differ little move
    most. The variance includes the uncertainty of ``mu`` and, to first order, of
    ``tau^2`` (Kass and Steffey 1989; Morris 1983):

    ``v_i = (1 - B_i) s_i^2 + B_i^2 / sum_j w_j + (B_i^2 / s_i^2)^2 (y_i - mu)^2 * 2 / sum_j w_j^2``,
    ``w_j = 1 / (s_j^2 + tau^2)``.

    Intervals ``expit(m_i +/- z sqrt(v_i))`` cover the groups' rates at about the
    nominal level *on average over the groups*, not for each group: a small group that
    truly differs from the others is pulled toward them. Assumes independent rows and
    exchangeable groups (no group is known in advance to differ).

    Examples
    --------
    >>> m, v = shrink_rates([90, 45, 9, 180, 88], [100, 50, 10, 200, 100])
    >>> bool(abs(m[2] - m[0]) < abs(np.log(9.5 / 1.5) - np.log(90.5 / 10.5)))
    True
    """
    x, n = np.asarray(x, dtype=float), np.asarray(n, dtype=float)
    y = np.log((x + 0.5) / (n - x + 0.5))
    s2 = 1 / (x + 0.5) + 1 / (n - x + 0.5)
    w = 1 / s2
    k = len(y)
    mean = np.sum(w * y) / np.sum(w)
    q = np.sum(w * (y - mean) ** 2)
    tau2 = max(0.0, (q - (k - 1)) / (np.sum(w) - np.sum(w**2) / np.sum(w)))
    w = 1 / (s2 + tau2)
    mu = np.sum(w * y) / np.sum(w)
    b = s2 / (s2 + tau2)
    post = mu + (1 - b) * (y - mu)
    var = (1 - b) * s2 + b**2 / np.sum(w) + (b**2 / s2) ** 2 * (y - mu) ** 2 * 2 / np.sum(w**2)
    return post, var


def _pooled(part: pl.DataFrame, level: float) -> dict[str, tuple[float, float, float]]:
    """Segment -> (pooled value, low, high) at ``level`` for each segment column of a rate's
    rows (columns with fewer than :data:`POOL_MIN_SEGMENTS` segments are not pooled)."""
    from scipy.special import expit

    z = st.normal_quantile(level)
    out = {}
    usable = part.filter(pl.col("n") > 0)
    for _, rows in usable.group_by("_col", maintain_order=True):
        if rows.height < POOL_MIN_SEGMENTS:
            continue
        m, v = shrink_rates(rows["_x"].to_numpy(), rows["n"].to_numpy())
        lo, hi = expit(m - z * np.sqrt(v)), expit(m + z * np.sqrt(v))
        for seg, a, b, c in zip(rows["segment"], expit(m), lo, hi, strict=True):
            out[seg] = (float(a), float(b), float(c))
    return out


# --------------------------------------------------------------------------------------
# Metric, disparity and min_n criteria: the month's disaggregation
# --------------------------------------------------------------------------------------
def _segment_rows(table: pl.DataFrame, segments: list[str]) -> pl.DataFrame:
    """The one-column margin rows of a disaggregation, labelled ``column=value``, with
    ``_col``: the index of their segment column."""
    if not segments:
        return table.clear().with_columns(
            segment=pl.lit(None, pl.String), _col=pl.lit(None, pl.Int64)
        )
    split_on = pl.sum_horizontal([(pl.col(c) != ALL).cast(pl.Int32) for c in segments])
    margins = table.filter(split_on == 1).with_columns(label_expr(segments, "segment"))
    # in the order of the segment columns, as the criteria list them
    first = pl.coalesce([pl.when(pl.col(c) != ALL).then(pl.lit(i)) for i, c in enumerate(segments)])
    return margins.with_columns(_col=first).sort("_col", maintain_order=True)


def _month(ctx: _Check, metrics: tuple[str, ...], level: float):
    """The month's disaggregation of ``metrics`` (and ``count``) at ``level``: one pass in
    the data's engine, kept for the other criteria and levels of the check."""
    from aidebt.disaggregate import disaggregate

    key = (metrics, level)
    if key not in ctx.cache:
        d = ctx.roles
        try:
            ctx.cache[key] = disaggregate(
                ctx.frame,
                y_true=d.y_true,
                y_pred=d.y_pred if any(mreg.get(m).needs_pred for m in metrics) else None,
                by=ctx.segments or None,
                metrics=[*metrics, *([] if "count" in metrics else ["count"])],
                weight=d.weight,
                y_score=d.y_score,
                pos_label=d.pos_label,
                confidence=level,
                min_n=ctx.policy.min_segment_n,
                margins=True,
            )
        except InvalidArgumentError as exc:
            raise InvalidValueError(f"{ctx.source}: {exc}") from None
    return ctx.cache[key]


def _judge_month(ctx: _Check) -> tuple[list[dict], float]:
    """Metric, disparity and min_n criteria: one disaggregate pass over the month."""
    policy, segments = ctx.policy, ctx.segments
    names = tuple(policy.metrics() or ["count"])
    r = _month(ctx, names, policy.confidence)
    rows: list[dict[str, Any]] = []
    overall = r.overall
    total = float(overall.filter(pl.col("metric") == "count")["value"].item() or 0)
    if total == 0:
        when = f" for month {ctx.month}" if ctx.month else ""
        raise InvalidValueError(f"no rows to check{when}: the data has none there.")
    labeled_total = total - r.unlabeled
    seg = _segment_rows(r.table, segments)
    counts = seg.filter(pl.col("metric") == "count").with_columns(
        labeled=pl.col("group_n") - pl.col("unlabeled")
    )
    for stage, c in policy.criteria():
        if c.kind == "min_n":
            targets = (
                [(OVERALL, labeled_total)]
                if c.scope == "overall"
                else list(zip(counts["segment"], counts["labeled"], strict=True))
            )
            for segment, n in targets:
                ok = n >= c.bound
                status, passed = _decide(stage, ok, not ok)
                sign = ">=" if ok else "<"
                rows.append(
                    _row(
                        stage,
                        c,
                        segment,
                        value=n,
                        n=n,
                        status=status,
                        passed=passed,
                        evidence=f"{n:,.0f} labeled rows {_where(segment)} ({sign} {c.bound:,.0f})",
                    )
                )
        elif c.kind in ("metric", "disparity"):
            rows += _criterion_rows(ctx, stage, c, r, policy.confidence)
    return rows, total


def _criterion_rows(ctx: _Check, stage: Stage, c: Criterion, r, level: float) -> list[dict]:
    """A metric criterion (overall and each segment) or a disparity criterion (each
    segment), judged on intervals at ``level`` from the disaggregation ``r``."""
    metric = mreg.get(c.metric)
    out = []
    if c.kind == "metric":
        ov = r.overall.filter(pl.col("metric") == c.metric).row(0, named=True)
        out.append(
            _judged(
                stage, c, metric, OVERALL, ov["value"], ov["ci_low"], ov["ci_high"], ov["n"], level
            )
        )
    seg = _segment_rows(r.estimates, ctx.segments).filter(pl.col("metric") == c.metric)
    # stages only: a trigger judges each segment on its own data (within the Holm family)
    pool = ctx.policy.pool and metric.binomial and stage.name != ROLLBACK
    pooled = _pooled(seg, level) if pool else {}
    column = "value" if c.kind == "metric" else "diff"
    lo_col, hi_col = ("ci_low", "ci_high") if column == "value" else ("diff_ci_low", "diff_ci_high")
    min_seg = ctx.policy.min_segment_n
    for s in seg.iter_rows(named=True):
        n = s["n"] or 0.0
        value, lo, hi = s[column], s[lo_col], s[hi_col]
        if n < min_seg:
            out.append(
                _skipped(
                    stage,
                    c,
                    s["segment"],
                    value=value,
                    ci_low=lo,
                    ci_high=hi,
                    n=n,
                    evidence=f"{c.metric} {_where(s['segment'])} not judged: n={n:,.0f} < "
                    f"min_segment_n={min_seg:,.0f}",
                )
            )
            continue
        shown = ""
        if s["segment"] in pooled:
            own = value
            value, lo, hi = pooled[s["segment"]]
            if c.kind == "disparity":  # the pooled rate against the overall
                ref = s["reference_value"]
                value, lo, hi = value - ref, lo - ref, hi - ref
            shown = f" pooled ({_fmt(own)} on its own {n:,.0f} {metric.denominator_name})"
        extra = ""
        if c.kind == "disparity" and s["value"] is not None:
            extra = f" ({c.metric} {_fmt(s['value'])} vs {_fmt(s['reference_value'])} overall)"
        out.append(
            _judged(
                stage,
                c,
                metric,
                s["segment"],
                value,
                lo,
                hi,
                n,
                level,
                shown=shown,
                extra=extra,
                own=(s[column], s[lo_col], s[hi_col]),
                pooled=bool(shown),
            )
        )
    return out


def _judged(
    stage,
    c,
    metric,
    segment,
    value,
    lo,
    hi,
    n,
    level,
    *,
    shown="",
    extra="",
    own=None,
    pooled=False,
):
    """A judged metric or disparity row, with the labels a failing check needs.

    A pooled row (``pooled``: ``value``, ``lo``, ``hi`` shrunk toward the overall) passes
    only if the segment's own interval (``own``) does not show a breach: pooling lends a
    small segment the evidence it lacks, never overrides evidence against it.
    """
    status, passed, ev = _interval_rule(stage, c, value, lo, hi, segment, shown)
    if pooled and passed:
        breach, _, own_ev = _interval_rule(ROLLBACK_STAGE, c, *own, segment)
        if breach == "fired":
            status, passed = "fail", False
            ev = f"{own_ev} on its own data, which pooling does not override"
    more = None
    if status == "fail":
        # power from the segment's own estimate (not the pooled one)
        v, a, b = own if own is not None else (value, lo, hi)
        needed = _n_needed(metric, c, v, a, b, n, level)
        if needed is not None:
            more = max(needed - n, 1.0)
            ev += _hint(metric, c, needed, n)
    return _row(
        stage,
        c,
        segment,
        value=value,
        ci_low=lo,
        ci_high=hi,
        n=n,
        level=level,
        n_more=more,
        status=status,
        passed=passed,
        evidence=ev + extra,
        _test=value is not None,
    )


def _judge_trend(ctx: _Check, stage: Stage, c: Criterion) -> list[dict]:
    """A trend criterion: the slope over the last ``periods`` months, judged on its interval.

    The curve is built over every month up to the one checked, so the default noise model
    (``dispersion = "history"``, :meth:`aidebt.decay.Decay.fit`) measures the
    month-to-month wobble on that whole history and carries it into the short window: a
    three-month slope is judged against the wobble months really show (about 2.5% of
    flat months fire a rollback trigger at 50,000 rows a month, where the binomial
    variance alone fired about 30%), without being as powerless as a scale estimated on
    three points.
    """
    from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

    from aidebt.decay import decay

    d, month = ctx.roles, ctx.month
    periods = c.options["periods"]
    first = month.shift(-(periods - 1))
    history = frames.load_month(ctx.data, month, d.time, history=True)
    out = []
    groups: list[str | None] = [None] + (ctx.segments if c.scope == "both" else [])
    for col in groups:
        dec = decay(
            history,
            time=d.time,
            y_true=d.y_true,
            y_pred=d.y_pred,
            metric=c.metric,
            every="1mo",
            by=col,
            weight=d.weight,
            y_score=d.y_score,
            pos_label=d.pos_label,
            confidence=ctx.policy.confidence,
        )
        start = first.start.date()
        labeled = dec.table.filter((pl.col("period") >= start) & (pl.col("n") > 0))
        most = labeled.group_by(dec.by).len()["len"].max() if dec.by else labeled.height
        trend = None
        if most and most >= periods:  # else every group is skipped below, unfitted
            with warnings.catch_warnings():
                # a group with fewer months (skipped below) can make statsmodels warn
                warnings.simplefilter("ignore", RuntimeWarning)
                warnings.simplefilter("ignore", PerfectSeparationWarning)
                try:
                    trend = dec.fit(start=first, dispersion=c.options["dispersion"])
                except InvalidArgumentError:
                    trend = None
        table = trend.table if trend is not None else pl.DataFrame()
        if trend is None or table.is_empty():
            segment = OVERALL if col is None else f"{col}=*"
            out.append(
                _skipped(
                    stage,
                    c,
                    segment,
                    evidence=f"trend of {c.metric} {_where(segment)}: no labeled month from {first} to {month}",
                )
            )
            continue
        for r in table.iter_rows(named=True):
            segment = OVERALL if col is None else label(r, [col])
            have = r["periods"] or 0
            values = dict(
                value=r["change"], ci_low=r["change_ci_low"], ci_high=r["change_ci_high"], n=have
            )
            if have < periods or r["slope"] is None:
                out.append(
                    _skipped(
                        stage,
                        c,
                        segment,
                        **values,
                        evidence=f"trend of {c.metric} {_where(segment)} not judged: {have} of "
                        f"{periods} months with labels from {first} to {month}",
                    )
                )
                continue
            declining = bool(r["decaying"])
            status, passed = _decide(stage, not declining, declining)
            word = "declines significantly" if declining else "shows no significant decline"
            noise = trend.fits[tuple(r[x] for x in dec.by)].noise
            short = (
                f"; the month-to-month wobble is measured on only {noise.periods} months, "
                "so only a steep decline shows"
                if noise is not None and noise.periods < _WOBBLE_MONTHS
                else ""
            )
            out.append(
                _row(
                    stage,
                    c,
                    segment,
                    **values,
                    status=status,
                    passed=passed,
                    evidence=f"{c.metric} {_where(segment)} {word} over {first}..{month}: "
                    f"{r['change']:+.4f} per month [{r['change_ci_low']:+.4f}, "
                    f"{r['change_ci_high']:+.4f}], p={r['p_value']:.2g}{short}",
                    _test=True,
                    _p=_decline_p(c, r["change"], r["p_value"]),
                )
            )
    return out


def _judge_change(ctx: _Check, stage: Stage, c: Criterion) -> list[dict]:
    """A candidate version against the baseline ``vs``, overall and in each segment.

    The difference (candidate minus baseline; divided by the baseline's value with
    ``relative = true``) comes from :func:`aidebt.compare`, one call per baseline for
    every change criterion of the policy: paired on ``[data] item`` when it is set
    (Newcombe's paired interval for rates, paired t for means, a bootstrap over items for
    quantiles), else as independent samples. ``max_drop`` passes when the interval's
    lower end stays above ``-limit``, ``max_rise`` when its upper end stays below
    ``+limit``: the evidence must show the change is within the limit (a non-inferiority
    test at ``(1 - confidence) / 2``). A relative interval treats the baseline's value as
    known. Segments whose compared size is below ``min_segment_n`` are skipped.
    """
    vs = c.options["vs"]
    result = _changes(ctx, vs, c)
    d = ctx.roles
    version = d.version
    rows_of = result.table.filter(pl.col("metric") == c.metric)
    if ctx.policy.version is not None:
        rows_of = rows_of.filter(pl.col(version) == ctx.policy.version)
    segments = [s for s in ctx.segments if s in rows_of.columns]
    paired = "broken" in rows_of.columns
    if c.scope == "overall":
        rows_of = rows_of.filter(overall_expr(segments))
    out = []
    for r in rows_of.iter_rows(named=True):
        segment = label(r, segments)
        cand = r[version]
        n = r["n"] if paired else min(r["n"] or 0.0, r["baseline_n"] or 0.0)
        n = n or 0.0
        what = f"{c.metric} of {cand} vs {vs} {_where(segment, segments)}"
        base, diff, lo, hi = r["baseline_value"], r["diff"], r["diff_ci_low"], r["diff_ci_high"]
        if segment != OVERALL and n < ctx.policy.min_segment_n:
            out.append(
                _skipped(
                    stage,
                    c,
                    segment,
                    n=n,
                    evidence=f"{what} not judged: n={n:,.0f} < min_segment_n="
                    f"{ctx.policy.min_segment_n:,.0f}",
                )
            )
            continue
        relative = c.options["relative"]
        if diff is None or lo is None or hi is None or (relative and not base):
            reason = r.get("note") or "no difference with an interval"
            if relative and not base:
                reason = "the baseline's value is 0 or missing, so no relative change"
            out.append(_skipped(stage, c, segment, n=n, evidence=f"{what} not judged: {reason}"))
            continue
        if relative:
            diff, lo, hi = diff / abs(base), lo / abs(base), hi / abs(base)
        ok = lo >= c.bound if c.side == "min" else hi <= c.bound
        status, passed = _decide(stage, ok, not ok)
        fmt = _change_format(c.metric, relative)
        end, sign = (
            ("lower", ">=" if ok else "<") if c.side == "min" else ("upper", "<=" if ok else ">")
        )
        figures = (
            f"{_fmt_value(r['value'])} vs {_fmt_value(base)} on {n:,.0f} "
            f"{'paired items' if paired else 'rows'}"
        )
        out.append(
            _row(
                stage,
                c,
                segment,
                value=diff,
                ci_low=lo,
                ci_high=hi,
                n=n,
                level=ctx.policy.confidence,
                status=status,
                passed=passed,
                evidence=f"{what} changes by {fmt(diff)} [{fmt(lo)}, {fmt(hi)}] ({figures}): "
                f"{end} bound {fmt(lo if c.side == 'min' else hi)} {sign} {fmt(c.bound)}",
            )
        )
    return out


def _changes(ctx: _Check, vs: str, c: Criterion):
    """The comparison of every version with ``vs`` on every change metric (cached)."""
    from aidebt.compare import compare

    key = ("change", vs)
    if key not in ctx.cache:
        d = ctx.roles
        names = list(
            dict.fromkeys(
                x.metric
                for _, x in ctx.policy.criteria()
                if x.kind == "change" and x.options["vs"] == vs
            )
        )
        rows = ctx.versions
        if ctx.policy.version is not None:  # only the candidate and its baseline
            keep = [vs, ctx.policy.version]
            rows = nw.from_native(rows).filter(nw.col(d.version).cast(nw.String).is_in(keep))
            rows = rows.to_native()
        needs_pred = any(mreg.get(m).needs_pred for m in names)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Simpson and pairing hints: not a verdict
                ctx.cache[key] = compare(
                    rows,
                    d.version,
                    vs,
                    d.y_true,
                    d.y_pred if needs_pred else None,
                    names,
                    by=ctx.segments or None,
                    weight=d.weight,
                    y_score=None if d.item else d.y_score,
                    confidence=ctx.policy.confidence,
                    pos_label=None if d.item else d.pos_label,
                    item=d.item,
                    warn=False,
                )
        except InvalidArgumentError as exc:
            if "baseline=" in str(exc):
                raise policy_error(ctx.source, f"{c.key.rsplit('.', 1)[0]}.vs", str(exc)) from None
            raise InvalidValueError(f"{ctx.source}: {exc}") from None
    return ctx.cache[key]


def _fmt_value(v: float | None) -> str:
    """A value in a sentence: 0.844, 6,083."""
    if v is None:
        return "n/a"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}" if abs(v) >= 1 else f"{v:.3f}"


def _change_format(metric: str, relative: bool):
    """How a change reads: +13.8% (relative), +0.012 (a rate), +838 (a quantity)."""
    if relative:
        return lambda v: f"{v:+.1%}"
    return lambda v: f"{v:+.3f}" if abs(v) < 1 else f"{v:+,.0f}" if abs(v) >= 100 else f"{v:+.3g}"


def _decline_p(c: Criterion, change: float, p: float) -> float:
    """The one-sided p-value of a decline from the trend's two-sided one."""
    bad = change < 0 if mreg.get(c.metric).higher_is_better else change > 0
    return p / 2 if bad else 1 - p / 2


_WOBBLE_MONTHS = 6  # fewer months of history measure the month-to-month wobble poorly


def _judge_drift(ctx: _Check, stage: Stage, c: Criterion) -> list[dict]:
    """Each column's mix against the previous month (or the eval set).

    A column fails (or a trigger fires) only when both hold: the sample-size-aware test
    of no change rejects (chi-square for categories, the bootstrap PSI null for numeric
    columns: :func:`aidebt.drift.drift`), and the Jensen-Shannon distance, corrected for
    its small-sample bias (:func:`aidebt.drift.js_distance`), exceeds ``max_js``. In a
    stage the test runs at level ``1 - confidence`` with Holm's adjustment over the
    criterion's columns; a trigger's test joins the month's trigger family
    (:func:`_trigger_family`). So noise neither fails a stage nor fires a trigger, and
    a negligible change in a very large month is not a failure.
    """
    from aidebt.drift import drift

    d, month = ctx.roles, ctx.month
    columns = list(c.options.get("columns") or ctx.segments)
    if c.options["against"] == "eval":
        ref = ctx.eval_data if ctx.eval_data is not None else d.eval_path
        if ref is None:
            raise policy_error(
                ctx.source, c.key, "against = 'eval' needs [data] eval_path (or eval_data=)."
            )
        ref = frames.load(ref)
        label = "the eval set"
    else:
        prev = month.prev()
        ref = frames.load_month(ctx.data, prev, d.time)
        label = str(prev)
    if not frames.count_rows(ref)["rows"]:
        return [
            _skipped(
                stage,
                c,
                col,
                evidence=f"drift of {col}: {label} has no rows to compare with",
            )
            for col in columns
        ]
    alpha = 1 - ctx.policy.confidence
    trigger = stage.name == ROLLBACK
    r = drift(
        ref,
        ctx.frame,
        columns,
        weight=d.weight,
        confidence=ctx.policy.confidence,
        adjust=None if trigger else "holm",
        min_effect=None,
        quantile_error=c.options.get("quantile_error"),
    )
    out = []
    for row in r.table.iter_rows(named=True):
        col, p, p_adj = row["column"], row["p_value"], row["p_adjusted"]
        if p is None:
            out.append(
                _skipped(
                    stage,
                    c,
                    col,
                    n=row["n"],
                    evidence=f"drift of {col}: {row['note'] or 'not compared'}",
                )
            )
            continue
        js, raw = row["distance_corrected"], row["distance"]
        big = js > c.bound
        moved = p_adj < alpha and big
        status, passed = _decide(stage, not moved, moved)
        if moved:
            verdict = f"moved beyond {_fmt(c.bound)}"
        elif p_adj >= alpha:
            verdict = "no significant change"
        else:
            verdict = f"a significant change within {_fmt(c.bound)}"
        p_text = f"p={p:.2g}" if trigger else f"p={p_adj:.2g} adjusted over {len(columns)} columns"
        change = f"; largest change {row['top_change']}" if row.get("top_change") else ""
        out.append(
            _row(
                stage,
                c,
                col,
                value=js,
                n=row["n"],
                status=status,
                passed=passed,
                evidence=f"{col}: {month} vs {label}: Jensen-Shannon distance {_fmt(js)} "
                f"after the small-sample correction ({_fmt(raw)} raw), {row['test']} "
                f"{p_text}: {verdict}{change}",
                _test=True,
                _p=p,
                _big=big,
            )
        )
    return out


# --------------------------------------------------------------------------------------
# Rollback triggers: one family per month (Holm 1979)
# --------------------------------------------------------------------------------------
def _trigger_family(ctx: _Check, rows: list[dict]) -> tuple[list[dict], int]:
    """The rollback rows re-judged as one family with Holm's step-down procedure.

    Every judged trigger test of the month (each metric and disparity check overall and
    in each segment, each trend and each drift column; not ``min_n``, a count with no
    noise) is a hypothesis "no breach". With ``m`` tests and ``alpha = (1 - confidence)
    / 2`` (the one-sided level of a single trigger), Holm (1979) judges the tests at
    ``alpha / m``, then, if ``k`` fired, at ``alpha / (m - k)``, until no more fire. The
    tests that fire at the last level are exactly those Holm rejects, so each row shows
    its interval at that level (``level``: two-sided ``1 - 2 alpha / (m - k)``) and fires
    when the whole interval is beyond the bound, as before; trend and drift tests fire
    when their one-sided p-value is below ``alpha / (m - k)``. The probability that noise
    fires any trigger in a month is then at most ``alpha`` (2.5% at confidence 0.95),
    whatever the number of segments and triggers and their dependence. Returns the rows
    and ``m``.
    """
    tests = [
        i
        for i, row in enumerate(rows)
        if row["stage"] == ROLLBACK and row["status"] in ("fired", "quiet") and row.get("_test")
    ]
    m = len(tests)
    if ctx.policy.rollback_adjust == "none" or m == 0:
        return rows, m
    alpha = (1 - ctx.policy.confidence) / 2
    fired = 0
    while True:
        a = alpha / (m - fired)
        judged = _triggers_at(ctx, rows, tests, a, m)
        now = sum(row["status"] == "fired" for row in judged.values())
        if now <= fired or now == m:
            break
        fired = now
    out = list(rows)
    for i in tests:
        out[i] = judged[i]
    return out, m


def _triggers_at(ctx: _Check, rows: list[dict], tests: list[int], a: float, m: int) -> dict:
    """Each trigger test judged at one-sided level ``a``: {row index: row}."""
    level = 1 - 2 * a
    note = f" ({_percent(level)} interval: Holm over {m} trigger tests)"
    fresh: dict[tuple[str, str], dict] = {}
    policy = ctx.policy
    names = tuple(
        dict.fromkeys(
            c.metric
            for s, c in policy.criteria()
            if s.name == ROLLBACK and c.kind in ("metric", "disparity")
        )
    )
    if names:
        r = _month(ctx, names, level)
        for stage, c in policy.criteria():
            if stage.name == ROLLBACK and c.kind in ("metric", "disparity"):
                for row in _criterion_rows(ctx, stage, c, r, level):
                    fresh[(row["key"], row["criterion"], row["segment"])] = row
    for stage, c in policy.criteria():  # fairness summaries: their intervals at this level
        if stage.name == ROLLBACK and c.kind == "fairness":
            for row in _judge_fairness(ctx, stage, c, level):
                fresh[(row["key"], row["criterion"], row["segment"])] = row
        if stage.name == ROLLBACK and c.kind in _LEVELLED:  # labels, feedback, estimates
            for row in _LEVELLED[c.kind](ctx, stage, c, level):
                fresh[(row["key"], row["criterion"], row["segment"])] = row
    out = {}
    for i in tests:
        row = rows[i]
        if row["_kind"] in ("metric", "disparity", "fairness", *_LEVELLED):
            new = dict(fresh[(row["key"], row["criterion"], row["segment"])])
            what, _, rest = new["evidence"].partition("]")
            new["evidence"] = f"{what}]{note}{rest}"
        else:  # trend, drift: a p-value (and drift's effect floor)
            new = dict(row)
            breach = row["_p"] is not None and row["_p"] < a and row.get("_big", True)
            new["status"], new["passed"] = _decide(ROLLBACK_STAGE, None, breach)
            new["evidence"] = (
                f"{row['evidence'].split('; Holm')[0]}; Holm over {m} trigger tests: "
                f"{'fires' if breach else 'does not fire'} (one-sided p={row['_p']:.2g} "
                f"{'<' if breach else '>='} {a:.2g})"
            )
        out[i] = new
    return out


ROLLBACK_STAGE = Stage(ROLLBACK, ())


# --------------------------------------------------------------------------------------
# Fairness criteria: a summary across the groups of each sensitive attribute
# --------------------------------------------------------------------------------------
def _fairness_draws(level: float) -> int:
    """Bootstrap draws for a fairness interval at ``level``: the first step of the interval
    reads the ``1 - alpha/10`` quantile, so the draws grow with the level (2,000 at 95%;
    Holm's levels for rollback triggers need more) to keep about ten draws beyond it."""
    return int(min(200_000, max(2000, np.ceil(100 / (1 - level)))))


def _fairness_sums(ctx: _Check, by: tuple[str, ...]) -> pl.DataFrame:
    """The month's sums by every sensitive attribute at once: one pass, kept for the
    other fairness criteria and levels of the check."""
    from aidebt import aggregate

    key = ("fairness sums", by)
    if key not in ctx.cache:
        d = ctx.roles
        roles = aggregate.Roles(
            y_true=d.y_true, y_pred=d.y_pred, weight=d.weight, pos_label=d.pos_label
        )
        try:
            ctx.cache[key] = aggregate.sufficient_stats(ctx.frame, list(by), roles)
        except InvalidArgumentError as exc:
            raise InvalidValueError(f"{ctx.source}: {exc}") from None
    return ctx.cache[key]


def _judge_fairness(ctx: _Check, stage: Stage, c: Criterion, level: float) -> list[dict]:
    """A fairness summary per sensitive attribute (and their intersection), judged on its
    interval at ``level`` (:func:`aidebt.fairness.fairness_from_stats`).

    The attributes are the criterion's ``by`` (default: the ``[data]`` segments); groups
    with fewer than ``min_segment_n`` rows in the month are left out of the comparison
    (named in the evidence), like segments too small to judge; an attribute left with
    fewer than two groups is skipped. The rule is every criterion's (:func:`_interval_rule`,
    the semantics of :func:`aidebt.fairness.judge`): a ``min`` passes when the interval's
    lower end is at or above it, a ``max`` when its upper end is at or below it; a trigger
    fires when the whole interval is on the wrong side, and joins the month's Holm family
    (its interval is then recomputed at the family's level).
    """
    from aidebt.fairness import INTERSECTION, fairness_from_stats

    summary = c.options["summary"]
    by = tuple(c.options.get("by") or ctx.segments)
    stats = _fairness_sums(ctx, by)
    min_seg = ctx.policy.min_segment_n
    attributes = [(col, [col]) for col in by]
    if c.options.get("intersections") and len(by) > 1:
        attributes.append((INTERSECTION.join(by), list(by)))
    out = []
    for name, cols in attributes:
        part = stats.group_by(cols).agg(pl.exclude(*by).sum())
        part = part.select(pl.concat_str(cols, separator=" / ").alias(name), pl.exclude(cols))
        small = part.filter(pl.col("n") < min_seg).get_column(name).sort().to_list()
        kept = part.filter(pl.col("n") >= min_seg)
        left_out = ""
        if small:
            shown = ", ".join(small[:5]) + (", ..." if len(small) > 5 else "")
            left_out = (
                f"; {len(small)} group(s) under min_segment_n={min_seg:,.0f} left out ({shown})"
            )
        if kept.height < 2:
            out.append(
                _skipped(
                    stage,
                    c,
                    name,
                    metric=summary,
                    n=float(part.get_column("n").sum()),
                    evidence=f"{summary} by {name}: fewer than two groups with at least "
                    f"min_segment_n={min_seg:,.0f} rows, nothing to compare{left_out}",
                )
            )
            continue
        cache = ("fairness", name, tuple(small), level)
        if cache not in ctx.cache:
            ctx.cache[cache] = fairness_from_stats(
                kept, name, confidence=level, n_boot=_fairness_draws(level)
            )
        row = ctx.cache[cache].table.filter(pl.col("summary") == summary).row(0, named=True)
        value, lo, hi = row["value"], row["ci_low"], row["ci_high"]
        what = f"{summary} by {name}"
        if value is None:
            status, passed = _decide(stage, False, False)
            evidence = f"{what}: no value ({row['note']})"
        else:
            status, passed, evidence = _interval_rule(stage, c, value, lo, hi, name, what=what)
            evidence += f" ({row['min_group']} vs {row['max_group']})"
        out.append(
            _row(
                stage,
                c,
                name,
                metric=summary,
                value=value,
                ci_low=lo,
                ci_high=hi,
                n=float(kept.get_column("n").sum()),
                level=level,
                status=status,
                passed=passed,
                evidence=evidence + left_out,
                _test=value is not None,
            )
        )
    return out


# --------------------------------------------------------------------------------------
# Criteria on companion tables: labels (issue 14), feedback (issue 13), the registry's
# clocks (issue 17); slices (issue 18) and estimated values (issue 15) on the log
# --------------------------------------------------------------------------------------
def _by_margin(
    ctx: _Check, key: tuple, segments: list[str], run
) -> list[tuple[str, dict[str, Any]]]:
    """(segment label, row) pairs of an analysis run once per segment column (``run(by)``:
    one aggregation pass each, ``by=None`` for the overall), the overall first: the
    one-column margins every other criterion judges."""
    out = []
    for col in [None, *segments]:
        k = (*key, col)
        if k not in ctx.cache:
            ctx.cache[k] = run(col)
        for row in ctx.cache[k]:
            segment = OVERALL if col is None else f"{col}={row[col]}"
            if col is not None and row[col] == ALL:
                continue
            out.append((segment, row))
    return out


def _companion(ctx: _Check, c: Criterion, cfg: Any) -> tuple[Any, list[str]]:
    """A companion table (``[labels]``, ``[feedback]``): its rows of the month checked
    when it has a time column, else every row, lazily in its own engine; and the segment
    columns the criterion is judged in besides overall."""
    if cfg.time is not None and ctx.month is not None:
        frame = frames.load_month(cfg.path, ctx.month, cfg.time)
    else:
        frame = frames.load(cfg.path)
    return frame, list(cfg.segments or []) if c.scope == "both" else []


def _no_companion(stage: Stage, c: Criterion, what: str, table: str, noun: str) -> list[dict]:
    """The criterion skipped: the config gives no path for its companion table."""
    return [
        _skipped(
            stage, c, OVERALL, evidence=f"{what}: no {noun} in the config (set [{table}] path)"
        )
    ]


def _on_companion(ctx: _Check, table: str, analysis: Callable[..., Any], **kwargs: Any) -> Any:
    """``analysis(**kwargs)`` on a companion table; a bad column or value in it is an
    error of the config's ``[table]``."""
    try:
        return analysis(**kwargs)
    except (InvalidArgumentError, InvalidValueError) as exc:
        raise InvalidValueError(f"{ctx.source}: [{table}]: {exc}") from None


def _judge_labels(ctx: _Check, stage: Stage, c: Criterion, level: float) -> list[dict]:
    """A labeler against the gold one on the ``[labels]`` table, overall and in each
    ``[labels]`` segment: Cohen's kappa (Fleiss-Cohen-Everitt interval), accuracy,
    sensitivity or specificity (Wilson intervals) from :func:`aidebt.labels.label_sources`
    (one aggregation pass per segment column), judged on the interval like a metric."""
    from aidebt.labels import label_sources

    cfg = ctx.config.labels
    rater = c.options["rater"]
    gold = c.options["gold"] or cfg.gold
    what0 = f"{c.metric} of {rater} against {gold}"
    if cfg.path is None:
        return _no_companion(stage, c, what0, "labels", "label table")
    frame, segments = _companion(ctx, c, cfg)

    def run(col):
        r = _on_companion(
            ctx,
            "labels",
            label_sources,
            labels=frame,
            item=cfg.item,
            source=cfg.rater,
            label=cfg.label,
            gold=gold,
            by=col,
            confidence=level,
        )
        rows = r.table.filter(pl.col("source") == rater)
        if rows.is_empty():
            known = r.table.get_column("source").unique().sort().to_list()
            raise policy_error(
                ctx.source,
                f"{c.key.rsplit('.', 1)[0]}.rater",
                f"{rater!r} labeled no item of the label table. {did_you_mean(rater, known)}",
            )
        return list(rows.iter_rows(named=True))

    items = [
        (
            segment,
            f"{what0} {_where(segment)}",
            row["n_both"] or 0.0,
            (row[c.metric], row[f"{c.metric}_ci_low"], row[f"{c.metric}_ci_high"]),
            "",
        )
        for segment, row in _by_margin(ctx, ("labels", gold, level), segments, run)
    ]
    return _judge_margins(ctx, stage, c, items, level, "items labeled by both")


_NEEDS_RATINGS = ("response_rate", "explicit_rate", "explicit_corrected")


def _judge_feedback(ctx: _Check, stage: Stage, c: Criterion, level: float) -> list[dict]:
    """A figure of the ``[feedback]`` table (the implicit-label rate, the response rate,
    the positive share of ratings, naive or corrected for who rates), overall and in each
    ``[feedback]`` segment, from :func:`aidebt.feedback.feedback` (one aggregation pass per
    segment column), judged on its interval like a metric."""
    from aidebt.feedback import feedback

    cfg = ctx.config.feedback
    words = {
        "implicit_rate": "implicit-label rate",
        "response_rate": "response rate",
        "explicit_rate": "positive share of ratings",
        "explicit_corrected": "positive share of ratings corrected for who rates",
    }[c.metric]
    if cfg.path is None:
        return _no_companion(stage, c, words, "feedback", "interaction table")
    frame, segments = _companion(ctx, c, cfg)

    def run(col):
        r = _on_companion(
            ctx,
            "feedback",
            feedback,
            data=frame,
            implicit=cfg.implicit,
            explicit=cfg.explicit,
            by=col,
            weight=cfg.weight,
            positive=cfg.positive,
            signal=cfg.signal,
            confidence=level,
        )
        return list(r.table.filter(pl.col("metric") == c.metric).iter_rows(named=True))

    of = "rated interactions" if c.metric.startswith("explicit") else "interactions"
    items = [
        (
            segment,
            f"{words} {_where(segment)}",
            row["n"] or 0.0,
            (row["value"], row["ci_low"], row["ci_high"]),
            f"; {row['note']}" if row.get("note") else "",
        )
        for segment, row in _by_margin(ctx, ("feedback", level), segments, run)
    ]
    return _judge_margins(ctx, stage, c, items, level, of)


def _judge_clocks(ctx: _Check, stage: Stage, c: Criterion) -> list[dict]:
    """The registry's lifecycle clocks on the last day of the month checked
    (:func:`aidebt.lifecycle.clocks`, with the month's traffic from one group-by pass over
    the log): passes while at most ``max_overdue`` clocks are overdue
    (:func:`aidebt.lifecycle.clocks_gate`). A count with no noise: not a Holm test."""
    from aidebt.lifecycle import clocks, clocks_gate

    if ctx.registry is None:
        return [
            _skipped(
                stage,
                c,
                OVERALL,
                evidence="lifecycle clocks: no registry in the config (add a [registry] table "
                "or [registry] path = ...)",
            )
        ]
    d, o = ctx.roles, c.options
    prompt = o["prompt"] or (d.version if ctx.registry.prompts else None)
    key = ("clocks", prompt, o["model"], o["index"], o["warn_days"])
    if key not in ctx.cache:
        with_log = d.time is not None and ctx.month is not None
        ctx.cache[key] = clocks(
            ctx.registry,
            as_of=str(ctx.month) if ctx.month is not None else None,
            data=ctx.log if with_log else None,
            time=d.time if with_log else None,
            prompt=prompt if with_log else None,
            model=o["model"] if with_log else None,
            index=o["index"] if with_log else None,
            warn_days=o["warn_days"],
            eval_data=ctx.eval_data,  # default: each eval set's own path in the registry
        )
    ck = ctx.cache[key]
    g = clocks_gate(ck, int(c.bound), o["warn_days"])
    breach = g.overdue > c.bound
    status, passed = _decide(stage, not breach, breach)
    listed = "; ".join(g.failing[:3]) + ("; ..." if len(g.failing) > 3 else "")
    return [
        _row(
            stage,
            c,
            OVERALL,
            value=float(g.overdue),
            n=float(ck.table.height),
            status=status,
            passed=passed,
            evidence=f"{g.evidence} on {ck.as_of}" + (f": {listed}" if listed else ""),
        )
    ]


def _judge_slices(ctx: _Check, stage: Stage, c: Criterion) -> list[dict]:
    """No slice of the month discovered at the false-discovery rate ``fdr``
    (:func:`aidebt.slices.slices`: every conjunction of up to ``max_depth`` conditions,
    tested against the rest with Benjamini-Yekutieli control) is shown worse than the
    rest by more than ``max_excess``.

    Each discovered slice's shortfall (its metric minus the rest's, in the bad direction)
    is tested against ``max_excess``: one-sided p from its interval (normal, the standard
    error read from the interval's width), Bonferroni over the discovered slices. The
    criterion fails (a trigger fires) when that p is below ``(1 - confidence) / 2``: on
    evidence of a slice worse than the bound, not on a point estimate above it, so noise
    around a slice exactly at the bound fails at most that often. A trigger's p joins the
    month's Holm family.
    """
    from aidebt.slices import slices

    d, o, m = ctx.roles, c.options, mreg.get(c.metric)
    key = ("slices", c.metric, o["fdr"], o["max_depth"], tuple(o["columns"] or ()), o["min_n"])
    if key not in ctx.cache:
        try:
            ctx.cache[key] = slices(
                ctx.frame,
                y_true=d.y_true,
                y_pred=d.y_pred if m.needs_pred else None,
                metric=c.metric,
                columns=o["columns"],
                max_depth=o["max_depth"],
                min_n=o["min_n"],
                fdr=o["fdr"],
                y_score=d.y_score,
                weight=d.weight,
                pos_label=d.pos_label,
                exclude=[x for x in (d.time, d.version, d.item) if x],
                confidence=ctx.policy.confidence,
            )
        except InvalidArgumentError as exc:
            raise InvalidValueError(f"{ctx.source}: {c.key}: {exc}") from None
    s = ctx.cache[key]
    searched = f"{s.evaluated.height:,} slices evaluated at {_percent(o['fdr'])} FDR"
    p, k, worst = _slice_test(s, c.bound, ctx.policy.confidence)
    alpha = (1 - ctx.policy.confidence) / 2
    if worst is None:
        status, passed = _decide(stage, True, False)
        return [
            _row(
                stage,
                c,
                OVERALL,
                value=0.0,
                n=0.0,
                status=status,
                passed=passed,
                evidence=f"no slice of {c.metric} discovered worse than the rest ({searched})",
                _test=True,
                _p=1.0,
            )
        ]
    breach = p < alpha
    status, passed = _decide(stage, not breach, breach)
    lo, hi = worst["shortfall_low"], worst["shortfall_high"]
    verdict = (
        f"worse than the rest by more than {_fmt(c.bound)}"
        if breach
        else f"not shown worse than the rest by more than {_fmt(c.bound)}"
    )
    return [
        _row(
            stage,
            c,
            worst["slice"],
            value=worst["shortfall"],
            ci_low=lo,
            ci_high=hi,
            n=worst["n"],
            level=ctx.policy.confidence,
            status=status,
            passed=passed,
            evidence=f"{c.metric} in {worst['slice']} = {_fmt(worst['value'])} vs "
            f"{_fmt(worst['rest_value'])} in the rest, worse by {_fmt(worst['shortfall'])} "
            f"[{_fmt(lo)}, {_fmt(hi)}] on {worst['n']:,.0f} {m.denominator_name}: {verdict} "
            f"(one-sided p={p:.2g}, Bonferroni over {k} discovered slice{'s' if k != 1 else ''}; "
            f"{searched})",
            _test=True,
            _p=p,
        )
    ]


def _slice_test(result, bound: float, confidence: float) -> tuple[float, int, dict | None]:
    """(p, k, worst) for "some discovered slice is worse than the rest by more than
    ``bound``": each of the ``k`` reported slices' one-sided p-value against ``bound``
    (normal, the standard error read from its interval at ``confidence``), the smallest
    times ``k`` (Bonferroni), and the slice whose interval's lower end is the highest."""
    from aidebt.distributions import norm_sf
    from aidebt.slices import worst_slice

    worst = worst_slice(result, by="bound")
    if worst is None:
        return 1.0, 0, None
    z = st.normal_quantile(confidence)
    sign = -1.0 if result.metric.higher_is_better else 1.0
    t = result.table
    short = (sign * t["diff"]).to_numpy()
    se = (t["diff_ci_high"] - t["diff_ci_low"]).to_numpy() / (2 * z)
    with np.errstate(divide="ignore", invalid="ignore"):
        p_each = np.where(se > 0, norm_sf((short - bound) / se), (short <= bound) * 1.0)
    return float(min(1.0, t.height * np.nanmin(p_each))), t.height, worst


def _judge_estimated(ctx: _Check, stage: Stage, c: Criterion, level: float) -> list[dict]:
    """A metric of the month's unlabeled rows, estimated from their scores
    (:func:`aidebt.estimate.estimate`: scores calibrated on the labeled rows of the
    ``reference_months`` months before the month checked, the interval a prediction
    interval for what the labels will show), overall and in each segment, judged on that
    interval like a measured metric. The evidence says it is an estimate."""
    from aidebt.estimate import estimate
    from aidebt.periods import Window

    d, month = ctx.roles, ctx.month
    months = c.options["reference_months"]
    first, last = month.shift(-months), month.shift(-1)
    what0 = f"estimated {c.metric} of the unlabeled rows"
    base = ("estimated inputs", months)
    if base not in ctx.cache:
        unlabeled = nw.from_native(ctx.frame).filter(nw.col(d.y_true).is_null()).to_native()
        reference = frames.load_month(ctx.data, Window.parse(f"{first}..{last}"), d.time)
        ctx.cache[base] = (
            unlabeled,
            reference,
            frames.count_rows(unlabeled)["rows"],
            frames.count_rows(reference)["rows"],
        )
    unlabeled, reference, count, ref_rows = ctx.cache[base]
    if not count or not ref_rows:
        why = (
            f"no unlabeled row in {month}"
            if not count
            else f"no row from {first} to {last} to calibrate the scores on"
        )
        return [_skipped(stage, c, OVERALL, evidence=f"{what0}: {why}")]
    names = list(
        dict.fromkeys(
            x.metric
            for _, x in ctx.policy.criteria()
            if x.kind == "estimated" and x.options["reference_months"] == months
        )
    )

    def run(col):
        try:
            r = estimate(
                unlabeled,
                y_score=d.y_score,
                y_true=d.y_true,
                y_pred=d.y_pred,
                reference=reference,
                time=d.time,
                every="1mo",
                metrics=names,
                by=col,
                weight=d.weight,
                pos_label=d.pos_label,
                confidence=level,
            )
        except (InvalidArgumentError, InvalidValueError) as exc:
            raise InvalidValueError(f"{ctx.source}: {c.key}: {exc}") from None
        return list(r.table.iter_rows(named=True))

    # an estimate, never a measurement: every row says so
    note = f"; an estimate, not a measurement: their scores calibrated on {first}..{last}"
    items = [
        (
            segment,
            f"{what0} {_where(segment)}",
            r["n"] or 0.0,
            (r["estimate"], r["ci_low"], r["ci_high"]),
            note,
        )
        for segment, r in _by_margin(ctx, ("estimated", months, level), ctx.segments, run)
        if r["metric"] == c.metric
    ]
    return _judge_margins(ctx, stage, c, items, level, "rows not labeled yet")


def _judge_margins(
    ctx: _Check, stage: Stage, c: Criterion, items: list[tuple], level: float, unit: str
) -> list[dict]:
    """Rows judged on an interval, overall and per segment: each item is ``(segment, what,
    n, (value, low, high), note)``; a segment whose ``n`` (in ``unit``) is under
    ``min_segment_n`` is skipped, the others judged like a metric (:func:`_interval_rule`)."""
    out = []
    min_seg = ctx.policy.min_segment_n
    for segment, what, n, (value, lo, hi), note in items:
        if segment != OVERALL and n < min_seg:
            out.append(
                _skipped(
                    stage,
                    c,
                    segment,
                    n=n,
                    evidence=f"{what} not judged: {n:,.0f} {unit} < min_segment_n={min_seg:,.0f}",
                )
            )
            continue
        status, passed, evidence = _interval_rule(stage, c, value, lo, hi, segment, what=what)
        out.append(
            _row(
                stage,
                c,
                segment,
                value=value,
                ci_low=lo,
                ci_high=hi,
                n=n,
                level=level,
                status=status,
                passed=passed,
                evidence=f"{evidence} ({n:,.0f} {unit}{note})",
                _test=value is not None,
            )
        )
    return out


_LEVELLED = {"labels": _judge_labels, "feedback": _judge_feedback, "estimated": _judge_estimated}
"""Criteria judged on an interval that a rollback trigger recomputes at its Holm level."""


def _check_companions(cfg: AuditConfig, policy: Policy, source: str) -> Any:
    """Before any data is read: the roles each companion-table criterion needs, and the
    registry (read and validated by :func:`aidebt.lifecycle.load_registry`, which names the
    line of a bad key). Returns the registry, or None. A table that is not configured at
    all is not an error: its criteria are skipped with the reason."""
    kinds = {c.kind: c for _, c in policy.criteria()}
    if "labels" in kinds and cfg.labels.path is not None:
        lab = cfg.labels
        for role in ("item", "rater", "label"):
            if getattr(lab, role) is None:
                raise policy_error(
                    source, f"labels.{role}", f"set it: {kinds['labels'].key} reads it."
                )
        for _, c in policy.criteria():
            if c.kind == "labels" and (c.options["gold"] or lab.gold) is None:
                raise policy_error(
                    source, c.key, "names no gold labeler: add gold = ... here or in [labels]."
                )
    if "feedback" in kinds and cfg.feedback.path is not None:
        fb = cfg.feedback
        if fb.implicit is None:
            raise policy_error(
                source, "feedback.implicit", f"set it: {kinds['feedback'].key} reads it."
            )
        for _, c in policy.criteria():
            if c.kind == "feedback" and c.metric in _NEEDS_RATINGS and fb.explicit is None:
                raise policy_error(
                    source,
                    c.key,
                    "judges the ratings: set [feedback] explicit (the rating column).",
                )
    if "estimated" in kinds:
        from aidebt.estimate import estimable

        for _, c in policy.criteria():
            if c.kind == "estimated" and c.metric not in estimable():
                raise policy_error(
                    source,
                    c.key,
                    f"{c.metric} cannot be estimated from scores; estimable: "
                    f"{', '.join(estimable())}.",
                )
    if "clocks" in kinds and "registry" in cfg.raw:
        from aidebt.lifecycle import load_registry

        return load_registry(cfg.path if cfg.path is not None else cfg.raw)
    return None
