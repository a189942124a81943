"""Policies: readiness stages and rollback triggers in ``audit.toml``, checked on the data.

A policy is a list of stages (``[gates.shadow]``, ``[gates.copilot]``,
``[gates.autopilot]``... in the order of the file) and an optional ``[rollback]`` table.
Each holds criteria:

- ``min_n = 2000`` or ``min_n = { overall = 2000, segment = 200 }``: labeled rows;
- ``metrics.NAME = { min = 0.85 }`` / ``{ max = 0.10 }``: a metric, overall and in every
  segment with enough data, judged on its interval;
- ``disparity.NAME = { max_diff = 0.05 }``: each segment's difference to the overall,
  judged on its interval;
- ``trend.NAME = { no_significant_decline = true, periods = 3 }``: no significant decline
  over the last ``periods`` months;
- ``drift = { max_js = 0.1 }``: the Jensen-Shannon distance of each segment column
  between the month under check and the previous month (or the eval set).

**Interval semantics.** A stage passes only on evidence: a ``min`` needs the interval's
lower bound at or above it, a ``max`` its upper bound at or below it, a ``max_diff`` the
whole interval of the difference inside ``[-max_diff, +max_diff]``; a point estimate on
the right side of the bound with an interval that crosses it fails. A rollback trigger
fires only on evidence of a breach: the whole interval on the wrong side of the bound.
So a stage is not granted on noise, and a rollback is not fired on noise.

The numbers come from one :func:`aidebt.disaggregate` pass over the month (metrics,
disparities and row counts), :func:`aidebt.decay` fits for trends and
:func:`aidebt.drift` for drift; the config is read by
:func:`aidebt.config.load_config`, the same loader as ``aidebt report``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from aidebt import frames
from aidebt import metrics as mreg
from aidebt.errors import InvalidArgumentError, InvalidValueError
from aidebt.periods import Month
from aidebt.results import Result

__all__ = [
    "Criterion",
    "GateCheck",
    "Policy",
    "Stage",
    "check",
    "parse_policy",
]

OVERALL = "overall"
"""The ``segment`` value of a criterion row judged on all rows."""

ROLLBACK = "rollback"
"""The ``stage`` value of rollback-trigger rows."""

CRITERIA = ("min_n", "metrics", "disparity", "trend", "drift")
SETTINGS = {
    "confidence": "interval level of every criterion (0.95)",
    "min_segment_n": "segments whose metric denominator is below this are not judged (30)",
    "version": "check only the rows of this version (the [data] version column)",
}
_BOUNDS = {"metrics": ("min", "max"), "disparity": ("max_diff", "worse_only")}
_TREND_KEYS = ("no_significant_decline", "periods", "dispersion", "segments")
_DRIFT_KEYS = ("max_js", "columns", "against")
_MIN_N_KEYS = ("overall", "segment")


# --------------------------------------------------------------------------------------
# The policy
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Criterion:
    """One rule of a stage.

    ``kind`` is ``min_n``, ``metric``, ``disparity``, ``trend`` or ``drift``; ``key`` the
    dotted path in ``audit.toml`` (for messages); ``name`` the short label shown in the
    result (``metrics.fpr.max``); ``scope`` ``overall``, ``segment`` or ``both``.
    """

    kind: str
    key: str
    name: str
    metric: str | None = None
    bound: float | None = None
    side: str = "min"  # "min": value must be >= bound; "max": <= bound; "abs": |value| <=
    scope: str = "both"
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Stage:
    """A named list of criteria (``rollback`` for the triggers)."""

    name: str
    criteria: tuple[Criterion, ...]


@dataclass(frozen=True)
class Policy:
    """The parsed ``[gates]`` and ``[rollback]`` tables."""

    stages: tuple[Stage, ...]
    rollback: Stage | None = None
    confidence: float = 0.95
    min_segment_n: float = 30
    version: str | None = None

    def metrics(self) -> list[str]:
        """Metrics that metric and disparity criteria need, in first-use order."""
        names: list[str] = []
        for stage in self._all():
            for c in stage.criteria:
                if c.kind in ("metric", "disparity") and c.metric not in names:
                    names.append(c.metric)
        return names

    def _all(self) -> list[Stage]:
        return [*self.stages, *([self.rollback] if self.rollback else [])]

    def criteria(self) -> list[tuple[Stage, Criterion]]:
        return [(s, c) for s in self._all() for c in s.criteria]


def _fail(source: str, key: str, message: str) -> InvalidValueError:
    prefix = f"{source}: " if source else ""
    return InvalidValueError(f"{prefix}{key}: {message}")


def _suggest(name: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(name), list(choices), n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    return "use one of " + ", ".join(repr(c) for c in choices) + "."


def _number(value: Any, key: str, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(source, key, f"must be a number, got {value!r}.")
    return float(value)


def _is_rate(m: mreg.Metric) -> bool:
    return m.kind in ("proportion", "f1", "auc") or m.name == "brier"


def _metric(name: str, key: str, source: str) -> mreg.Metric:
    try:
        return mreg.get(name)
    except InvalidArgumentError:
        raise _fail(
            source, key, f"unknown metric; {_suggest(name, [*mreg.REGISTRY, *mreg.ALIASES])}"
        ) from None


def _check_keys(table: Mapping, allowed: Sequence[str], key: str, source: str, what: str) -> None:
    for k in table:
        if k not in allowed:
            raise _fail(source, f"{key}.{k}", f"unknown {what}; {_suggest(k, allowed)}")


def _table(value: Any, key: str, source: str, example: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise _fail(source, key, f"must be a table such as {example}, got {value!r}.")
    return value


def _parse_min_n(value: Any, key: str, source: str) -> list[Criterion]:
    if isinstance(value, Mapping):
        _check_keys(value, _MIN_N_KEYS, key, source, "min_n scope")
        if not value:
            raise _fail(source, key, "is empty; give overall = N and/or segment = N.")
        items = list(value.items())
    else:
        items = [("overall", value)]
    out = []
    for scope, v in items:
        k = f"{key}.{scope}" if isinstance(value, Mapping) else key
        n = _number(v, k, source)
        if n < 0:
            raise _fail(source, k, f"must be >= 0, got {v!r}.")
        out.append(Criterion("min_n", k, f"min_n.{scope}", None, n, "min", scope=scope, options={}))
    return out


def _parse_metric_like(kind: str, value: Any, key: str, source: str) -> list[Criterion]:
    example = "{ min = 0.85 }" if kind == "metrics" else "{ max_diff = 0.05 }"
    tables = _table(value, key, source, f"{kind}.accuracy = {example}")
    out = []
    for name, spec in tables.items():
        k = f"{key}.{name}"
        m = _metric(name, k, source)
        spec = _table(spec, k, source, example)
        _check_keys(spec, _BOUNDS[kind], k, source, "bound")
        spec = dict(spec)
        worse_only = spec.pop("worse_only", False)
        if not isinstance(worse_only, bool):
            raise _fail(source, f"{k}.worse_only", f"must be true or false, got {worse_only!r}.")
        if worse_only and m.higher_is_better is None:
            raise _fail(
                source,
                f"{k}.worse_only",
                f"{m.name} has no worse direction; drop worse_only to judge both sides.",
            )
        if not spec:
            raise _fail(source, k, f"has no bound; write e.g. {example}.")
        if kind == "disparity" and m.kind == "count":
            raise _fail(source, k, "count has no disparity; use min_n for sample sizes.")
        for bound_name, raw in spec.items():
            bk = f"{k}.{bound_name}"
            b = _number(raw, bk, source)
            if _is_rate(m) and not 0 <= b <= 1:
                raise _fail(
                    source, bk, f"{m.name} is a rate: the bound must be in [0, 1], got {raw!r}."
                )
            if (m.kind == "count" or bound_name == "max_diff") and b < 0:
                raise _fail(source, bk, f"must be >= 0, got {raw!r}.")
            side = {"min": "min", "max": "max", "max_diff": "abs"}[bound_name]
            if worse_only:  # only a difference in the metric's bad direction counts
                side, b = ("min", -b) if m.higher_is_better else ("max", b)
            out.append(
                Criterion(
                    "metric" if kind == "metrics" else "disparity",
                    bk,
                    f"{kind}.{m.name}.{bound_name}",
                    m.name,
                    b,
                    side,
                    scope="both" if kind == "metrics" else "segment",
                )
            )
    return out


def _parse_trend(value: Any, key: str, source: str) -> list[Criterion]:
    example = "{ no_significant_decline = true, periods = 3 }"
    tables = _table(value, key, source, f"trend.accuracy = {example}")
    out = []
    for name, spec in tables.items():
        k = f"{key}.{name}"
        m = _metric(name, k, source)
        spec = _table(spec, k, source, example)
        _check_keys(spec, _TREND_KEYS, k, source, "trend option")
        flag = spec.get("no_significant_decline", True)
        if not isinstance(flag, bool):
            raise _fail(
                source, f"{k}.no_significant_decline", f"must be true or false, got {flag!r}."
            )
        if not flag:
            continue
        if m.higher_is_better is None or m.kind == "count":
            raise _fail(
                source,
                k,
                f"{m.name} has no better direction, so it cannot decline; use a metric such "
                "as accuracy, fnr or precision.",
            )
        periods = spec.get("periods", 3)
        if isinstance(periods, bool) or not isinstance(periods, int) or periods < 3:
            raise _fail(source, f"{k}.periods", f"must be a whole number >= 3, got {periods!r}.")
        dispersion = spec.get("dispersion", "fixed")
        if dispersion not in ("fixed", "pearson"):
            raise _fail(
                source, f"{k}.dispersion", f"must be 'fixed' or 'pearson', got {dispersion!r}."
            )
        segments = spec.get("segments", False)
        if not isinstance(segments, bool):
            raise _fail(source, f"{k}.segments", f"must be true or false, got {segments!r}.")
        out.append(
            Criterion(
                "trend",
                k,
                f"trend.{m.name}",
                m.name,
                0.0,
                "trend",
                scope="both" if segments else "overall",
                options={"periods": periods, "dispersion": dispersion},
            )
        )
    return out


def _parse_drift(value: Any, key: str, source: str) -> list[Criterion]:
    spec = _table(value, key, source, "{ max_js = 0.1 }")
    _check_keys(spec, _DRIFT_KEYS, key, source, "drift option")
    if "max_js" not in spec:
        raise _fail(source, key, "needs max_js, e.g. drift = { max_js = 0.1 }.")
    b = _number(spec["max_js"], f"{key}.max_js", source)
    if not 0 <= b <= 1:
        raise _fail(
            source,
            f"{key}.max_js",
            f"a Jensen-Shannon distance is in [0, 1], got {spec['max_js']!r}.",
        )
    against = spec.get("against", "previous")
    if against not in ("previous", "eval"):
        raise _fail(source, f"{key}.against", f"must be 'previous' or 'eval', got {against!r}.")
    columns = spec.get("columns")
    if columns is not None and (
        not isinstance(columns, list) or not all(isinstance(c, str) for c in columns)
    ):
        raise _fail(source, f"{key}.columns", f"must be a list of column names, got {columns!r}.")
    return [
        Criterion(
            "drift",
            f"{key}.max_js",
            "drift.max_js",
            None,
            b,
            "max",
            scope="segment",
            options={"against": against, "columns": columns},
        )
    ]


def _parse_stage(name: str, table: Any, key: str, source: str) -> Stage:
    table = _table(table, key, source, "[gates.copilot] with metrics.accuracy = { min = 0.85 }")
    _check_keys(table, CRITERIA, key, source, "criterion")
    criteria: list[Criterion] = []
    for kind, value in table.items():
        k = f"{key}.{kind}"
        if kind == "min_n":
            criteria += _parse_min_n(value, k, source)
        elif kind in ("metrics", "disparity"):
            criteria += _parse_metric_like(kind, value, k, source)
        elif kind == "trend":
            criteria += _parse_trend(value, k, source)
        else:
            criteria += _parse_drift(value, k, source)
    if not criteria:
        raise _fail(source, key, "has no criteria; add e.g. metrics.accuracy = { min = 0.85 }.")
    return Stage(name, tuple(criteria))


def parse_policy(raw: Mapping[str, Any], source: str = "") -> Policy:
    """Read the ``[gates]`` and ``[rollback]`` tables of a parsed ``audit.toml``.

    Stages are the sub-tables of ``[gates]``, in the order of the file; plain keys of
    ``[gates]`` are settings (``confidence``, ``min_segment_n``, ``version``). Every
    error names the offending key.

    Examples
    --------
    >>> p = parse_policy({"gates": {"shadow": {"min_n": 500},
    ...                             "copilot": {"metrics": {"fpr": {"max": 0.1}}}}})
    >>> [s.name for s in p.stages], p.stages[1].criteria[0].name
    (['shadow', 'copilot'], 'metrics.fpr.max')
    >>> parse_policy({"gates": {"copilot": {"metrics": {"acurracy": {"min": 0.8}}}}})
    Traceback (most recent call last):
    ...
    aidebt.errors.InvalidValueError: gates.copilot.metrics.acurracy: unknown metric; did you mean 'accuracy'?
    """
    gates = raw.get("gates")
    if gates is None:
        raise _fail(
            source, "gates", "no [gates.NAME] stage in the config; add e.g. [gates.shadow]."
        )
    gates = _table(gates, "gates", source, "[gates.shadow]")
    stages = []
    settings: dict[str, Any] = {}
    for name, value in gates.items():
        if isinstance(value, Mapping) and name == ROLLBACK:
            raise _fail(
                source,
                f"gates.{name}",
                "is reserved: write rollback triggers in a [rollback] table.",
            )
        if isinstance(value, Mapping):
            stages.append(_parse_stage(name, value, f"gates.{name}", source))
        elif name in SETTINGS:
            settings[name] = value
        else:
            raise _fail(
                source,
                f"gates.{name}",
                f"unknown setting; {_suggest(name, list(SETTINGS))} (stages are tables: "
                f"[gates.{name}])",
            )
    if not stages:
        raise _fail(
            source, "gates", "no [gates.NAME] stage in the config; add e.g. [gates.shadow]."
        )
    confidence = _number(settings.get("confidence", 0.95), "gates.confidence", source)
    if not 0 < confidence < 1:
        raise _fail(source, "gates.confidence", f"must be between 0 and 1, got {confidence!r}.")
    min_seg = _number(settings.get("min_segment_n", 30), "gates.min_segment_n", source)
    if min_seg < 0:
        raise _fail(source, "gates.min_segment_n", f"must be >= 0, got {min_seg!r}.")
    version = settings.get("version")
    if version is not None and not isinstance(version, str | int):
        raise _fail(source, "gates.version", f"must be a version value, got {version!r}.")
    rollback = None
    if "rollback" in raw:
        rollback = _parse_stage(ROLLBACK, raw["rollback"], "rollback", source)
    return Policy(
        tuple(stages),
        rollback,
        confidence,
        min_seg,
        None if version is None else str(version),
    )


# --------------------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------------------
_COLUMNS = {
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
    month : str or None
        The month checked.
    """

    title = "Gate check"

    def __init__(
        self,
        table: pl.DataFrame,
        *,
        stages: list[str],
        month: str | None,
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
        """
        import altair as alt

        data = (
            self.table.filter(pl.col("criterion").str.contains(r"^(metrics|disparity|trend)\."))
            .with_columns(label=pl.col("criterion") + " | " + pl.col("segment"))
            .select(
                "stage",
                "label",
                "criterion",
                "segment",
                "value",
                "ci_low",
                "ci_high",
                "bound",
                "n",
                "status",
                "evidence",
            )
        )
        color = alt.Color(
            "status:N",
            scale=alt.Scale(
                domain=["pass", "fail", "skipped", "fired", "quiet"],
                range=["#2e7d32", "#c0392b", "#9e9e9e", "#c0392b", "#2e7d32"],
            ),
        )
        tooltip = [
            alt.Tooltip("stage:N"),
            alt.Tooltip("criterion:N"),
            alt.Tooltip("segment:N"),
            alt.Tooltip("value:Q", format=".3f"),
            alt.Tooltip("ci_low:Q", format=".3f", title="interval low"),
            alt.Tooltip("ci_high:Q", format=".3f", title="interval high"),
            alt.Tooltip("bound:Q", format=".3f"),
            alt.Tooltip("n:Q", format=",.0f"),
            alt.Tooltip("evidence:N"),
        ]
        base = alt.Chart().encode(y=alt.Y("label:N", title=None), color=color, tooltip=tooltip)
        bars = base.mark_rule(strokeWidth=2).encode(
            x=alt.X("ci_low:Q", title="value with interval (tick: bound)"), x2="ci_high:Q"
        )
        points = base.mark_point(filled=True, size=50).encode(x="value:Q")
        bounds = base.mark_tick(color="black", thickness=2).encode(x="bound:Q")
        return (
            alt.layer(bars, points, bounds, data=data)
            .properties(width=width, height=alt.Step(14))
            .facet(row=alt.Row("stage:N", title=None, sort=[*self.stages, ROLLBACK]))
            .resolve_scale(y="independent", x="independent")
            .properties(title="Gate criteria: each value, its interval and its bound")
        )

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
    row = dict.fromkeys(_COLUMNS)
    row.update(stage=stage.name, criterion=c.name, segment=segment, metric=c.metric, key=c.key)
    row.update(bound=c.bound)
    row.update(values)
    return row


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
    """The one-column margin rows of a disaggregation (``col=value`` labels)."""
    from aidebt.disaggregate import ALL

    if len(segments) <= 1:
        return (
            table.with_columns(segment=pl.lit(f"{segments[0]}=") + pl.col(segments[0]))
            if segments
            else table.clear().with_columns(segment=pl.lit(None, pl.String))
        )
    parts = []
    for col in segments:
        others = [pl.col(c) == ALL for c in segments if c != col]
        keep = pl.all_horizontal(others) & (pl.col(col) != ALL)
        parts.append(table.filter(keep).with_columns(segment=pl.lit(f"{col}=") + pl.col(col)))
    return pl.concat(parts)


def _prev_month(month: str) -> str:
    return str(Month.parse(month).prev())


def _month_start(month: str, back: int) -> str:
    return str(Month.parse(month).shift(-back))


def _as_polars(data: Any):
    if isinstance(data, pl.DataFrame | pl.LazyFrame | str | os.PathLike):
        return data
    return frames.to_lazy(data).collect(backend="polars").to_native()


def check(
    config_or_path: Any,
    data: Any = None,
    *,
    month: str | None = None,
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
        The production log (a path, a polars frame, or any input
        :func:`aidebt.disaggregate` accepts); default: ``[data] path``.
    month
        ``"YYYY-MM"``: the month to check (default: the latest month in the data). Metric,
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
    >>> result.month, result.stage
    ('2025-11', 'shadow')
    >>> result.failures.select("criterion", "segment").rows()
    [('metrics.accuracy.min', 'language=ja'), ('disparity.fnr.max_diff', 'language=ja')]
    """
    from aidebt.config import AuditConfig, load_config
    from aidebt.report.data import latest_month, load_month

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
    segments = list(d.segments or [])
    _require_roles(policy, d, segments, source)

    if data is None:
        if d.path is None:
            raise _fail(source, "data.path", "no data: set [data] path or pass data=.")
        data = d.path
    data = _as_polars(data)
    if isinstance(data, str | os.PathLike):
        from aidebt.report.data import scan

        data = scan(data)
    if month is not None and d.time is None:
        raise _fail(source, "data.time", f"month={month!r} needs the time column: set [data] time.")
    if d.time is not None and month is None:
        month = latest_month(data, d.time)
    frame = load_month(data, month, d.time) if d.time else data
    if policy.version is not None:
        frame = _only_version(frame, d.version, policy.version, source)
        data = _only_version(data, d.version, policy.version, source)

    rows: list[dict[str, Any]] = []
    total = _judge_month(policy, frame, d, segments, month, rows, source)
    for stage, c in policy.criteria():
        if c.kind == "trend":
            rows += _judge_trend(stage, c, data, d, segments, month, policy.confidence)
        elif c.kind == "drift":
            ref = eval_data
            rows += _judge_drift(stage, c, data, frame, d, segments, month, ref, source)
    table = pl.DataFrame(rows, schema=_COLUMNS)
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


def _only_version(frame, column, value, source):
    if column is None:
        raise _fail(source, "gates.version", "needs [data] version (the version column).")
    schema = frame.collect_schema() if isinstance(frame, pl.LazyFrame) else frame.schema
    if column not in schema:
        raise _fail(source, "data.version", f"column {column!r} is not in the data.")
    return frame.filter(pl.col(column).cast(pl.String) == value)


def _require_roles(policy: Policy, d, segments: list[str], source: str) -> None:
    """Fail before any scan when a criterion needs a column role the config does not set."""
    for _, c in policy.criteria():
        if c.metric is not None:
            m = mreg.get(c.metric)
            for need, role in (
                (m.needs_label, "y_true"),
                (m.needs_pred, "y_pred"),
                (m.needs_score, "y_score"),
            ):
                if need and getattr(d, role) is None:
                    raise _fail(source, c.key, f"{m.name} needs [data] {role}; set it.")
        if c.kind == "min_n" and d.y_true is None:
            raise _fail(source, c.key, "min_n counts labeled rows: set [data] y_true.")
        if c.kind in ("trend", "drift") and d.time is None:
            raise _fail(source, c.key, "needs [data] time (months to compare).")
        if c.kind == "disparity" and not segments:
            raise _fail(source, c.key, "needs [data] segments to compare with the overall.")
        if c.kind == "min_n" and c.scope == "segment" and not segments:
            raise _fail(source, c.key, "needs [data] segments.")
        if c.kind == "drift" and not (c.options.get("columns") or segments):
            raise _fail(source, c.key, "needs columns = [...] or [data] segments.")


def _judge_month(policy, frame, d, segments, month, rows, source) -> float:
    """Metric, disparity and min_n criteria: one disaggregate pass over the month."""
    from aidebt.disaggregate import disaggregate

    names = policy.metrics()
    metrics = names or ["count"]
    try:
        r = disaggregate(
            frame,
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
        raise InvalidValueError(f"{source}: {exc}") from None
    overall = r.overall
    total = float(overall.filter(pl.col("metric") == "count")["value"].item() or 0)
    if total == 0:
        when = f" for month {month}" if month else ""
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
    return total


def _segment_judgements(stage, c, seg, min_seg, column) -> list[dict]:
    out = []
    lo_col, hi_col = ("ci_low", "ci_high") if column == "value" else ("diff_ci_low", "diff_ci_high")
    for s in seg.filter(pl.col("metric") == c.metric).iter_rows(named=True):
        n = s["n"] or 0.0
        values = dict(value=s[column], ci_low=s[lo_col], ci_high=s[hi_col], n=n)
        if n < min_seg:
            out.append(
                _row(
                    stage,
                    c,
                    s["segment"],
                    **values,
                    status="skipped",
                    passed=None,
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


def _judge_trend(stage, c, data, d, segments, month, confidence) -> list[dict]:
    from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

    from aidebt.decay import decay
    from aidebt.report.data import load_month, parse_month

    periods = c.options["periods"]
    first = _month_start(month, periods - 1)
    history = load_month(data, month, d.time, history=True)
    out = []
    groups: list[str | None] = [None] + (segments if c.scope == "both" else [])
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
            confidence=confidence,
        )
        start = dt.date(*parse_month(first), 1)
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
                _row(
                    stage,
                    c,
                    segment,
                    status="skipped",
                    passed=None,
                    evidence=f"trend of {c.metric} {_where(segment)}: no labeled month from {first} to {month}",
                )
            )
            continue
        for r in table.iter_rows(named=True):
            segment = OVERALL if col is None else f"{col}={r[col]}"
            have = r["periods"] or 0
            values = dict(
                value=r["change"], ci_low=r["change_ci_low"], ci_high=r["change_ci_high"], n=have
            )
            if have < periods or r["slope"] is None:
                out.append(
                    _row(
                        stage,
                        c,
                        segment,
                        **values,
                        status="skipped",
                        passed=None,
                        evidence=f"trend of {c.metric} {_where(segment)}: {have} of {periods} "
                        f"months with labels from {first} to {month}, not judged",
                    )
                )
                continue
            declining = bool(r["decaying"])
            status, passed = _decide(stage, not declining, declining)
            word = "declines significantly" if declining else "shows no significant decline"
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
                    f"{r['change_ci_high']:+.4f}], p={r['p_value']:.2g}",
                )
            )
    return out


def _judge_drift(stage, c, data, frame, d, segments, month, eval_data, source) -> list[dict]:
    from aidebt.drift import drift
    from aidebt.report.data import load_month

    columns = list(c.options.get("columns") or segments)
    if c.options["against"] == "eval":
        ref = eval_data if eval_data is not None else d.eval_path
        if ref is None:
            raise _fail(source, c.key, "against = 'eval' needs [data] eval_path (or eval_data=).")
        ref = _as_polars(ref)
        if isinstance(ref, str | os.PathLike):
            from aidebt.report.data import scan

            ref = scan(ref)
        label = "the eval set"
    else:
        prev = _prev_month(month)
        ref = load_month(data, prev, d.time)
        label = prev
    ref_rows = ref.lazy().select(pl.len()).collect().item()
    if not ref_rows:
        return [
            _row(
                stage,
                c,
                col,
                status="skipped",
                passed=None,
                evidence=f"drift of {col}: {label} has no rows to compare with",
            )
            for col in columns
        ]
    r = drift(ref, frame, columns, weight=d.weight)
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
