"""Gates: judge a month of data against a readiness policy (:mod:`aidebt.policy`).

**Interval semantics.** A stage passes only on evidence: a ``min`` needs the interval's
lower bound at or above it, a ``max`` its upper bound at or below it, a ``max_diff`` the
whole interval of the difference inside ``[-max_diff, +max_diff]``; a point estimate on
the right side of the bound with an interval that crosses it fails. A rollback trigger
fires only on evidence of a breach: the whole interval on the wrong side of the bound.
So a stage is not granted on noise, and a rollback is not fired on noise.

The numbers come from one :func:`aidebt.disaggregate` pass over the month (metrics,
disparities and row counts), :func:`aidebt.decay` fits for trends and
:func:`aidebt.drift` for drift, all in the engine that holds the data (the month is a
lazy window, :func:`aidebt.frames.load_month`); the config is read by
:func:`aidebt.config.load_config`, the same loader as ``aidebt report``.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any

import narwhals as nw
import polars as pl

from aidebt import frames
from aidebt import metrics as mreg
from aidebt.config import AuditConfig, DataConfig, load_config
from aidebt.errors import InvalidArgumentError, InvalidValueError
from aidebt.groups import ALL, OVERALL, label, label_expr
from aidebt.periods import Month
from aidebt.policy import ROLLBACK, Criterion, Policy, Stage, parse_policy, policy_error
from aidebt.results import Result

__all__ = ["COLUMNS", "GateCheck", "OVERALL", "check"]


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
}


class GateCheck(Result):
    """Result of :func:`check`.

    Attributes
    ----------
    table : polars.DataFrame
        One row per (stage, criterion, segment): ``stage`` (``rollback`` for triggers),
        ``criterion`` (``metrics.fpr.max``, ``disparity.fnr.max_diff``, ``min_n.segment``,
        ``trend.accuracy``, ``drift.max_js``), ``segment`` (``overall`` or
        ``column=value``; the column name for drift), ``metric``, ``value`` with
        ``ci_low``/``ci_high`` (the difference to the overall for disparities, the change
        per month for trends), ``bound``, ``n``, ``status`` (``pass``, ``fail``,
        ``skipped``; ``fired`` or ``quiet`` for rollback triggers), ``passed`` (null when
        skipped; false when a trigger fired), ``evidence`` (a sentence) and ``key`` (the
        config key).
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
    ) -> None:
        super().__init__(table)
        self.stages = stages
        self.month = month
        self.rows = rows
        self.has_rollback = has_rollback
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
        return lines

    def notes(self) -> list[str]:
        """Checks skipped for lack of data (small segments, too few months)."""
        skipped = self.table.filter(pl.col("status") == "skipped").height
        return [f"{skipped} checks skipped for lack of data (see .table)."] if skipped else []

    def verdict(self, limit: int | None = 8, more: str = "see .table") -> str:
        """A readable, multi-line verdict (what ``aidebt check`` prints).

        At most ``limit`` failing checks are listed per stage (None: all of them); ``more``
        says where the others are.
        """

        def listed(rows: pl.DataFrame, mark: str) -> list[str]:
            shown = rows if limit is None else rows.head(limit)
            lines = [f"      {mark} {r['evidence']}" for r in shown.iter_rows(named=True)]
            if rows.height > shown.height:
                lines.append(f"      ... and {rows.height - shown.height} more ({more})")
            return lines

        when = f"month {self.month}, " if self.month else ""
        out = [f"Gate check ({when}{self.rows:,.0f} rows)"]
        width = max(len(s) for s in [*self.stages, ROLLBACK])
        for s in self.stages:
            part = self.table.filter(pl.col("stage") == s)
            ok = self.stage_passed[s]
            judged = part.filter(pl.col("status") != "skipped").height
            skipped = part.height - judged
            extra = f", {skipped} skipped" if skipped else ""
            checks = f"{judged} check{'s' if judged != 1 else ''}{extra}"
            out.append(f"  {s:<{width}}  {'PASS' if ok else 'FAIL'}  ({checks})")
            out += listed(part.filter(pl.col("status") == "fail"), "x")
        if self.has_rollback:
            fired = self.table.filter((pl.col("stage") == ROLLBACK) & (pl.col("status") == "fired"))
            out.append(f"  {ROLLBACK:<{width}}  {'FIRED' if fired.height else 'quiet'}")
            out += listed(fired, "!")
        out.append(f"Stage reached: {self.stage or 'none'}")
        return "\n".join(out)

    def chart(self, *, width: int = 360):
        """Each judged value with its interval against its bound, one panel per stage.

        Metric, disparity and trend rows; green passes, red fails (or fired), grey skipped.
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

    if data is None:
        if d.path is None:
            raise policy_error(source, "data.path", "no data: set [data] path or pass data=.")
        data = d.path
    data = frames.load(data)
    if month is not None:
        month = Month.parse(month)
        if d.time is None:
            raise policy_error(
                source, "data.time", f"month={str(month)!r} needs the time column: set [data] time."
            )
    elif d.time is not None:
        month = frames.latest_month(data, d.time)
    frame = frames.load_month(data, month, d.time) if d.time else data
    if policy.version is not None:
        frame = _only_version(frame, d.version, policy.version, source)
        data = _only_version(data, d.version, policy.version, source)

    ctx = _Check(policy, d, list(d.segments or []), data, frame, month, source, eval_data)
    rows, total = _judge_month(ctx)
    for stage, c in policy.criteria():
        if c.kind == "trend":
            rows += _judge_trend(ctx, stage, c)
        elif c.kind == "drift":
            rows += _judge_drift(ctx, stage, c)
    table = pl.DataFrame(rows, schema=COLUMNS)
    order = pl.DataFrame(
        [(s.name, c.key, i) for i, (s, c) in enumerate(policy.criteria())],
        schema={"stage": pl.String, "key": pl.String, "_o": pl.Int64},
        orient="row",
    )
    table = (
        table.with_row_index("_r")
        .join(order, on=["stage", "key"], how="left")
        .sort("_o", "_r")
        .drop("_o", "_r")
    )
    return GateCheck(
        table,
        stages=[s.name for s in policy.stages],
        month=month,
        rows=total,
        has_rollback=policy.rollback is not None,
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


def _only_version(frame: Any, column: str | None, value: str, source: str) -> Any:
    """The rows of one version, filtered in the data's engine."""
    if column is None:
        raise policy_error(source, "gates.version", "needs [data] version (the version column).")
    if column not in frames.columns(frames.to_lazy(frame)):
        raise policy_error(source, "data.version", f"column {column!r} is not in the data.")
    return nw.from_native(frame).filter(nw.col(column).cast(nw.String) == value).to_native()


# --------------------------------------------------------------------------------------
# Checking
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


def _row(stage: Stage, c: Criterion, segment: str, **values: Any) -> dict[str, Any]:
    row = dict.fromkeys(COLUMNS)
    row.update(stage=stage.name, criterion=c.name, segment=segment, metric=c.metric, key=c.key)
    row.update(bound=c.bound)
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


def _where(segment: str) -> str:
    return "overall" if segment == OVERALL else f"in {segment}"


def _interval_rule(stage: Stage, c: Criterion, value, lo, hi, segment: str):
    """A min/max/abs bound judged on an interval: (status, passed, evidence)."""
    b = c.bound
    what = (
        f"{c.metric} {_where(segment)}"
        if c.kind == "metric"
        else (f"{c.metric} difference to overall {_where(segment)}")
    )
    if value is None:
        status, passed = _decide(stage, False, False)
        return status, passed, f"{what}: no value (no rows in its denominator)"
    if lo is None or hi is None:  # a count: no interval
        lo = hi = value
    shown = f"{what} = {_fmt(value)} [{_fmt(lo)}, {_fmt(hi)}]"
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


def _segment_rows(table: pl.DataFrame, segments: list[str]) -> pl.DataFrame:
    """The one-column margin rows of a disaggregation, labelled ``column=value``."""
    if not segments:
        return table.clear().with_columns(segment=pl.lit(None, pl.String))
    split_on = pl.sum_horizontal([(pl.col(c) != ALL).cast(pl.Int32) for c in segments])
    margins = table.filter(split_on == 1).with_columns(label_expr(segments, "segment"))
    # in the order of the segment columns, as the criteria list them
    first = pl.coalesce([pl.when(pl.col(c) != ALL).then(pl.lit(i)) for i, c in enumerate(segments)])
    return margins.with_columns(_o=first).sort("_o", maintain_order=True).drop("_o")


def _judge_month(ctx: _Check) -> tuple[list[dict], float]:
    """Metric, disparity and min_n criteria: one disaggregate pass over the month."""
    from aidebt.disaggregate import disaggregate

    policy, d, segments = ctx.policy, ctx.roles, ctx.segments
    names = policy.metrics()
    rows: list[dict[str, Any]] = []
    metrics = names or ["count"]
    try:
        r = disaggregate(
            ctx.frame,
            y_true=d.y_true,
            y_pred=d.y_pred if any(mreg.get(m).needs_pred for m in metrics) else None,
            by=segments or None,
            metrics=[*metrics, *([] if "count" in metrics else ["count"])],
            weight=d.weight,
            y_score=d.y_score,
            confidence=policy.confidence,
            min_n=policy.min_segment_n,
            margins=True,
        )
    except InvalidArgumentError as exc:
        raise InvalidValueError(f"{ctx.source}: {exc}") from None
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
                        evidence=f"labeled rows {_where(segment)}: {n:,.0f} {sign} {c.bound:,.0f}",
                    )
                )
        elif c.kind == "metric":
            ov = overall.filter(pl.col("metric") == c.metric).row(0, named=True)
            status, passed, ev = _interval_rule(
                stage, c, ov["value"], ov["ci_low"], ov["ci_high"], OVERALL
            )
            rows.append(
                _row(
                    stage,
                    c,
                    OVERALL,
                    value=ov["value"],
                    ci_low=ov["ci_low"],
                    ci_high=ov["ci_high"],
                    n=ov["n"],
                    status=status,
                    passed=passed,
                    evidence=ev,
                )
            )
            rows += _segment_judgements(stage, c, seg, policy.min_segment_n, "value")
        elif c.kind == "disparity":
            rows += _segment_judgements(stage, c, seg, policy.min_segment_n, "diff")
    return rows, total


def _segment_judgements(
    stage: Stage, c: Criterion, seg: pl.DataFrame, min_seg: float, column: str
) -> list[dict]:
    """A metric (``column="value"``) or disparity (``"diff"``) criterion in each segment."""
    out = []
    lo_col, hi_col = ("ci_low", "ci_high") if column == "value" else ("diff_ci_low", "diff_ci_high")
    for s in seg.filter(pl.col("metric") == c.metric).iter_rows(named=True):
        n = s["n"] or 0.0
        values = dict(value=s[column], ci_low=s[lo_col], ci_high=s[hi_col], n=n)
        if n < min_seg:
            out.append(
                _skipped(
                    stage,
                    c,
                    s["segment"],
                    **values,
                    evidence=f"{c.metric} {_where(s['segment'])}: n={n:,.0f} < "
                    f"min_segment_n={min_seg:,.0f}, not judged",
                )
            )
            continue
        status, passed, ev = _interval_rule(stage, c, s[column], s[lo_col], s[hi_col], s["segment"])
        if c.kind == "disparity" and s["value"] is not None:
            ev += f" ({c.metric} {_fmt(s['value'])} vs {_fmt(s['reference_value'])} overall)"
        out.append(
            _row(stage, c, s["segment"], **values, status=status, passed=passed, evidence=ev)
        )
    return out


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
                        evidence=f"trend of {c.metric} {_where(segment)}: {have} of {periods} "
                        f"months with labels from {first} to {month}, not judged",
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
                )
            )
    return out


_WOBBLE_MONTHS = 6  # fewer months of history measure the month-to-month wobble poorly


def _judge_drift(ctx: _Check, stage: Stage, c: Criterion) -> list[dict]:
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
    r = drift(ref, ctx.frame, columns, weight=d.weight)
    out = []
    for row in r.table.iter_rows(named=True):
        js = row["distance"]
        ok = js is not None and js <= c.bound
        breach = js is not None and js > c.bound
        status, passed = _decide(stage, ok, breach)
        sign = "<=" if ok else ">"
        out.append(
            _row(
                stage,
                c,
                row["column"],
                value=js,
                n=row["n"],
                status=status,
                passed=passed,
                evidence=f"{row['column']}: Jensen-Shannon distance {month} vs {label} = "
                f"{_fmt(js)} {sign} {_fmt(c.bound)}"
                + (f"; largest change {row['top_change']}" if row.get("top_change") else ""),
            )
        )
    return out
