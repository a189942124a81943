"""Readiness policies: the ``[gates.*]`` stages and ``[rollback]`` triggers of ``audit.toml``.

A policy is a list of stages (``[gates.shadow]``, ``[gates.copilot]``,
``[gates.autopilot]``... in the order of the file) and an optional ``[rollback]`` table.
Each holds criteria:

- ``min_n = 2000`` or ``min_n = { overall = 2000, segment = 200 }``: labeled rows;
- ``metrics.NAME = { min = 0.85 }`` / ``{ max = 0.10 }``: a metric, overall and in every
  segment with enough data, judged on its interval;
- ``disparity.NAME = { max_diff = 0.05 }``: each segment's difference to the overall,
  judged on its interval;
- ``trend.NAME = { no_significant_decline = true, periods = 3 }``: no significant decline
  over the last ``periods`` months (``dispersion = "history"`` by default: the interval
  allows for the month-to-month wobble measured on the whole history);
- ``drift = { max_js = 0.1 }``: each segment column's mix in the month under check
  against the previous month (or the eval set): fails when the test of no change rejects
  and the bias-corrected Jensen-Shannon distance exceeds ``max_js``
  (``quantile_error = 0.001``: numeric bins from approximate quantiles on Spark, see
  :func:`aidebt.drift.drift_profile`);
- ``fairness.NAME = { min = 0.8 }`` / ``{ max = 0.1 }``: a fairness summary across the
  groups of each sensitive attribute (``by = [...]``, default the ``[data]`` segments),
  judged on its interval (:mod:`aidebt.fairness`).
- ``change.NAME = { vs = "v1", max_drop = 0.01 }`` / ``{ vs = "v1", max_rise = 0.10,
  relative = true }``: a candidate version against the baseline ``vs`` (the ``[data]
  version`` column), overall and in every segment: the difference's interval (paired on
  ``[data] item`` when it is set) must not reach beyond the limit. Stages only.
- ``metrics.NAME = { min = 0.85, estimated = true }``: also judges the month's unlabeled
  rows on values estimated from their scores (:func:`aidebt.estimate.estimate`,
  calibrated on the ``reference_months`` labeled months before, 6 by default);
- ``labels.kappa = { min = 0.6, rater = "judge" }`` (or ``accuracy``, ``sensitivity``,
  ``specificity``): a labeler against the gold one on the ``[labels]`` table
  (:func:`aidebt.labels.label_sources`), overall and in each ``[labels]`` segment;
- ``feedback.implicit_rate = { min = 0.7 }`` (or ``response_rate``, ``explicit_rate``,
  ``explicit_corrected``): a figure of the ``[feedback]`` table
  (:func:`aidebt.feedback.feedback`), overall and in each segment;
- ``slices.fnr = { max_excess = 0.05, fdr = 0.05 }``: no slice discovered at that
  false-discovery rate (:func:`aidebt.slices.slices`) shown worse than the rest of the
  data by more than ``max_excess``;
- ``clocks = { max_overdue = 0, warn_days = 60 }``: at most ``max_overdue`` overdue
  lifecycle clocks of the ``[registry]`` (:func:`aidebt.lifecycle.clocks`).

Settings (plain keys of ``[gates]``): ``confidence``, ``min_segment_n``, ``version``,
``rollback_adjust`` (``"holm"``, the default: the month's rollback trigger tests are one
family, Holm 1979) and ``pool`` (``false``, the default; ``true`` judges segment rates on
empirical-Bayes estimates shrunk toward the overall).

This module reads and validates the policy (every error names the offending key, before
any data is read); :mod:`aidebt.gates` judges a month of data against it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aidebt import metrics as mreg
from aidebt.config import ConfigError, ConfigValueError, DataConfig, finite_number, unknown_key
from aidebt.errors import InvalidArgumentError, did_you_mean

__all__ = ["Criterion", "Policy", "Stage", "parse_policy", "policy_error"]

ROLLBACK = "rollback"
"""The ``stage`` value of rollback-trigger rows."""

# What each level of the policy accepts. Validation is driven by these declarations: a
# key is accepted where it is declared (and parsed by the code of its criterion), and
# anywhere else it is an error naming the key path, with a did-you-mean.
CRITERIA = (
    "min_n",
    "metrics",
    "disparity",
    "trend",
    "drift",
    "fairness",
    "change",
    "labels",
    "feedback",
    "slices",
    "clocks",
)
SETTINGS = {
    "confidence": "interval level of every criterion (0.95)",
    "min_segment_n": "segments whose metric denominator is below this are not judged (30)",
    "version": "check only the rows of this version (the [data] version column)",
    "rollback_adjust": "family-wise control of the month's rollback trigger tests: "
    "'holm' (default) or 'none'",
    "pool": "judge segment rates on estimates shrunk toward the overall (empirical Bayes): "
    "true or false (default)",
}
ROLLBACK_ADJUST = ("holm", "none")
_BOUNDS = {
    "metrics": ("min", "max", "estimated", "reference_months"),
    "disparity": ("max_diff", "worse_only"),
}
_ESTIMATE_KEYS = ("estimated", "reference_months")
_TREND_KEYS = ("no_significant_decline", "periods", "dispersion", "segments")
# How a trend criterion's interval allows for noise (aidebt.trend): "history" estimates the
# month-to-month wobble on every month up to the one checked and carries it into the short
# window; "pearson" from the window alone; "fixed" assumes binomial noise only.
TREND_DISPERSIONS = ("history", "pearson", "fixed")
_DRIFT_KEYS = ("max_js", "columns", "against", "quantile_error")
_MIN_N_KEYS = ("overall", "segment")
_FAIRNESS_KEYS = ("min", "max", "by", "intersections")
_CHANGE_KEYS = ("vs", "max_drop", "max_rise", "relative", "segments")
LABEL_MEASURES = {
    "kappa": "Cohen's kappa of the rater against gold",
    "accuracy": "share of the rater's labels equal to gold's",
    "sensitivity": "share of gold's positives the rater labels positive",
    "specificity": "share of gold's negatives the rater labels negative",
}
"""What a ``labels.NAME`` criterion judges (columns of :func:`aidebt.labels.label_sources`)."""
_LABELS_KEYS = ("min", "max", "rater", "gold", "segments")
FEEDBACK_MEASURES = {
    "implicit_rate": "share of decided interactions whose implicit label is positive",
    "response_rate": "share of interactions the user rated",
    "explicit_rate": "share of ratings that are positive, among the rated",
    "explicit_corrected": "share of positive ratings corrected for who rates",
}
"""What a ``feedback.NAME`` criterion judges (metrics of :func:`aidebt.feedback.feedback`)."""
_FEEDBACK_KEYS = ("min", "max", "segments")
_SLICES_KEYS = ("max_excess", "fdr", "max_depth", "columns", "min_n")
_CLOCKS_KEYS = ("max_overdue", "warn_days", "prompt", "model", "index")


# --------------------------------------------------------------------------------------
# The policy
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Criterion:
    """One rule of a stage.

    ``kind`` is ``min_n``, ``metric``, ``disparity``, ``trend``, ``drift``, ``fairness``,
    ``change``, ``estimated``, ``labels``, ``feedback``, ``slices`` or ``clocks``; ``key`` the
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
    rollback_adjust: str = "holm"
    pool: bool = False

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

    def check_roles(self, data: DataConfig, source: str = "") -> None:
        """Fail before any scan when a criterion needs a ``[data]`` role the config lacks."""
        segments = list(data.segments or [])
        for _, c in self.criteria():
            if c.metric is not None and c.kind not in ("labels", "feedback"):
                m = mreg.get(c.metric)
                for need, role in (
                    (m.needs_label, "y_true"),
                    (m.needs_pred, "y_pred"),
                    (m.needs_score, "y_score"),
                ):
                    if need and getattr(data, role) is None:
                        raise policy_error(source, c.key, f"{m.name} needs [data] {role}; set it.")
            if c.kind == "min_n" and data.y_true is None:
                raise policy_error(source, c.key, "min_n counts labeled rows: set [data] y_true.")
            if c.kind in ("trend", "drift") and data.time is None:
                raise policy_error(source, c.key, "needs [data] time (months to compare).")
            if c.kind == "disparity" and not segments:
                raise policy_error(
                    source, c.key, "needs [data] segments to compare with the overall."
                )
            if c.kind == "min_n" and c.scope == "segment" and not segments:
                raise policy_error(source, c.key, "needs [data] segments.")
            if c.kind == "drift" and not (c.options.get("columns") or segments):
                raise policy_error(source, c.key, "needs columns = [...] or [data] segments.")
            if c.kind == "fairness":
                _check_fairness_roles(c, data, segments, source)
            if c.kind == "estimated":
                for role in ("y_score", "time"):
                    if getattr(data, role) is None:
                        raise policy_error(
                            source,
                            c.key,
                            f"estimates the unlabeled rows from their scores: set [data] {role}.",
                        )
            if c.kind == "slices" and data.y_true is None:
                raise policy_error(source, c.key, "slices compare labels: set [data] y_true.")
            if c.kind == "change" and data.version is None:
                raise policy_error(
                    source, c.key, "compares versions: set [data] version (the version column)."
                )


def policy_error(source: str, key: str, message: str) -> ConfigError:
    """The error of a bad policy or config key: ``audit.toml: gates.copilot.min_n: ...``."""
    return ConfigError(source, key, message)


def _number(value: Any, key: str, source: str) -> float:
    try:
        return finite_number(value)
    except ConfigValueError as exc:
        raise policy_error(source, key, str(exc)) from None


def _metric(name: str, key: str, source: str) -> mreg.Metric:
    try:
        return mreg.get(name)
    except InvalidArgumentError:
        known = [*mreg.REGISTRY, *mreg.ALIASES]
        raise policy_error(source, key, f"unknown metric. {did_you_mean(name, known)}") from None


def _check_keys(table: Mapping, allowed: Sequence[str], key: str, source: str, what: str) -> None:
    for k in table:
        if k not in allowed:
            raise unknown_key(source, f"{key}.{k}", what, list(allowed))


def _table(value: Any, key: str, source: str, example: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise policy_error(source, key, f"must be a table such as {example}, got {value!r}.")
    return value


def _parse_min_n(value: Any, key: str, source: str) -> list[Criterion]:
    if isinstance(value, Mapping):
        _check_keys(value, _MIN_N_KEYS, key, source, "min_n scope")
        if not value:
            raise policy_error(source, key, "is empty; give overall = N and/or segment = N.")
        items = list(value.items())
    else:
        items = [("overall", value)]
    out = []
    for scope, v in items:
        k = f"{key}.{scope}" if isinstance(value, Mapping) else key
        n = _number(v, k, source)
        if n < 0:
            raise policy_error(source, k, f"must be >= 0, got {v!r}.")
        out.append(Criterion("min_n", k, f"min_n.{scope}", None, n, "min", scope=scope, options={}))
    return out


def _metric_specs(
    value: Any,
    key: str,
    source: str,
    family_example: str,
    example: str,
    allowed: Any,
    what: str,
) -> Iterator[tuple[str, str, mreg.Metric, Mapping]]:
    """Each metric's option table of a criterion family (``trend.accuracy = {...}``):
    the metric's name as written, its key path, the metric and the table, every key
    checked against ``allowed``."""
    for name, spec in _table(value, key, source, family_example).items():
        k = f"{key}.{name}"
        m = _metric(name, k, source)
        spec = _table(spec, k, source, example)
        _check_keys(spec, allowed, k, source, what)
        yield name, k, m, spec


def _parse_metric_like(kind: str, value: Any, key: str, source: str) -> list[Criterion]:
    example = "{ min = 0.85 }" if kind == "metrics" else "{ max_diff = 0.05 }"
    out = []
    for _name, k, m, spec in _metric_specs(
        value, key, source, f"{kind}.accuracy = {example}", example, _BOUNDS[kind], "bound"
    ):
        spec = dict(spec)
        estimated = _estimated(spec, k, source)
        worse_only = spec.pop("worse_only", False)
        if not isinstance(worse_only, bool):
            raise policy_error(
                source, f"{k}.worse_only", f"must be true or false, got {worse_only!r}."
            )
        if worse_only and m.higher_is_better is None:
            raise policy_error(
                source,
                f"{k}.worse_only",
                f"{m.name} has no worse direction; drop worse_only to judge both sides.",
            )
        if not spec:
            raise policy_error(source, k, f"has no bound; write e.g. {example}.")
        if kind == "disparity" and not m.comparable:  # count, ece
            why = m.no_comparison or "count has no disparity; use min_n for sample sizes."
            raise policy_error(source, k, why)
        for bound_name, raw in spec.items():
            bk = f"{k}.{bound_name}"
            b = _number(raw, bk, source)
            if m.bounded and not 0 <= b <= 1:
                raise policy_error(
                    source, bk, f"{m.name} is a rate: the bound must be in [0, 1], got {raw!r}."
                )
            if (not m.comparable or bound_name == "max_diff") and b < 0:  # a count
                raise policy_error(source, bk, f"must be >= 0, got {raw!r}.")
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
            if estimated is not None:  # the month's unlabeled rows, on estimated values
                out.append(
                    Criterion(
                        "estimated",
                        f"{k}.estimated",
                        f"{kind}.{m.name}.{bound_name}.estimated",
                        m.name,
                        b,
                        side,
                        options={"reference_months": estimated},
                    )
                )
        if "min" in spec and "max" in spec and float(spec["min"]) > float(spec["max"]):
            raise _min_above_max(source, k, spec["min"], spec["max"])
    return out


def _estimated(spec: dict, key: str, source: str) -> int | None:
    """Pop ``estimated`` / ``reference_months`` from a metric's table: the number of
    labeled months before the one checked that calibrate the scores (None: not estimated)."""
    flag = spec.pop("estimated", False)
    months = spec.pop("reference_months", None)
    if not isinstance(flag, bool):
        raise policy_error(source, f"{key}.estimated", f"must be true or false, got {flag!r}.")
    if months is not None and not flag:
        raise policy_error(
            source,
            f"{key}.reference_months",
            "calibrates estimated values: add estimated = true, or drop reference_months.",
        )
    if not flag:
        return None
    months = 6 if months is None else months
    if isinstance(months, bool) or not isinstance(months, int) or months < 1:
        raise policy_error(
            source, f"{key}.reference_months", f"must be a whole number >= 1, got {months!r}."
        )
    return months


def _min_above_max(source: str, key: str, low: Any, high: Any) -> ConfigError:
    return policy_error(
        source,
        key,
        f"min = {low!r} is above max = {high!r}: no value can pass both; min must be at most max.",
    )


def _parse_trend(value: Any, key: str, source: str) -> list[Criterion]:
    example = "{ no_significant_decline = true, periods = 3 }"
    out = []
    for _name, k, m, spec in _metric_specs(
        value, key, source, f"trend.accuracy = {example}", example, _TREND_KEYS, "trend option"
    ):
        flag = spec.get("no_significant_decline", True)
        if not isinstance(flag, bool):
            raise policy_error(
                source, f"{k}.no_significant_decline", f"must be true or false, got {flag!r}."
            )
        if not flag:
            continue
        if m.higher_is_better is None:  # prevalence, selection_rate, count...
            raise policy_error(
                source,
                k,
                f"{m.name} has no better direction, so it cannot decline; use a metric such "
                "as accuracy, fnr or precision.",
            )
        periods = spec.get("periods", 3)
        if isinstance(periods, bool) or not isinstance(periods, int) or periods < 3:
            raise policy_error(
                source, f"{k}.periods", f"must be a whole number >= 3, got {periods!r}."
            )
        dispersion = spec.get("dispersion", "history")
        if dispersion not in TREND_DISPERSIONS:
            raise policy_error(
                source,
                f"{k}.dispersion",
                f"must be 'history', 'pearson' or 'fixed', got {dispersion!r}.",
            )
        segments = spec.get("segments", False)
        if not isinstance(segments, bool):
            raise policy_error(source, f"{k}.segments", f"must be true or false, got {segments!r}.")
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
        raise policy_error(source, key, "needs max_js, e.g. drift = { max_js = 0.1 }.")
    b = _number(spec["max_js"], f"{key}.max_js", source)
    if not 0 <= b <= 1:
        raise policy_error(
            source,
            f"{key}.max_js",
            f"a Jensen-Shannon distance is in [0, 1], got {spec['max_js']!r}.",
        )
    against = spec.get("against", "previous")
    if against not in ("previous", "eval"):
        raise policy_error(
            source, f"{key}.against", f"must be 'previous' or 'eval', got {against!r}."
        )
    columns = spec.get("columns")
    if columns is not None and (
        not isinstance(columns, list) or not all(isinstance(c, str) for c in columns)
    ):
        raise policy_error(
            source, f"{key}.columns", f"must be a list of column names, got {columns!r}."
        )
    # Approximate bin edges on Spark (aidebt.drift.drift_profile): a rank error in (0, 0.5).
    quantile_error = spec.get("quantile_error")
    if quantile_error is not None:
        e = _number(quantile_error, f"{key}.quantile_error", source)
        if not 0 < e < 0.5:
            raise policy_error(
                source,
                f"{key}.quantile_error",
                f"must be a rank error between 0 and 0.5, e.g. 0.001 (each numeric bin edge "
                f"within 0.1% of the rows of the exact quantile, on Spark), got "
                f"{quantile_error!r}; leave it out for exact quantiles.",
            )
        quantile_error = e
    return [
        Criterion(
            "drift",
            f"{key}.max_js",
            "drift.max_js",
            None,
            b,
            "max",
            scope="segment",
            options={"against": against, "columns": columns, "quantile_error": quantile_error},
        )
    ]


def _parse_fairness(value: Any, key: str, source: str) -> list[Criterion]:
    """``fairness.NAME = { min = x }`` / ``{ max = x }`` (``by``, ``intersections``)."""
    example = "{ min = 0.8 }"
    tables = _table(value, key, source, f"fairness.demographic_parity_ratio = {example}")
    out = []
    for name, spec in tables.items():
        k = f"{key}.{name}"
        if name not in mreg.FAIRNESS_SUMMARIES:
            raise policy_error(
                source,
                k,
                f"unknown fairness summary. {did_you_mean(name, list(mreg.FAIRNESS_SUMMARIES))}",
            )
        spec = _table(spec, k, source, example)
        _check_keys(spec, _FAIRNESS_KEYS, k, source, "fairness option")
        by = spec.get("by")
        if by is not None and (
            not isinstance(by, list) or not by or not all(isinstance(c, str) for c in by)
        ):
            raise policy_error(source, f"{k}.by", f"must be a list of column names, got {by!r}.")
        intersections = spec.get("intersections", False)
        if not isinstance(intersections, bool):
            raise policy_error(
                source, f"{k}.intersections", f"must be true or false, got {intersections!r}."
            )
        bounds = {b: spec[b] for b in ("min", "max") if b in spec}
        if not bounds:
            raise policy_error(source, k, f"has no bound; write e.g. {example}.")
        kind = mreg.FAIRNESS_SUMMARIES[name][2]
        numbers = {}
        for bound_name, raw in bounds.items():
            bk = f"{k}.{bound_name}"
            b = numbers[bound_name] = _number(raw, bk, source)
            if not 0 <= b <= 1:
                raise policy_error(
                    source,
                    bk,
                    f"{name} is a {kind} of rates: the bound must be in [0, 1], got {raw!r}.",
                )
            out.append(
                Criterion(
                    "fairness",
                    bk,
                    f"fairness.{name}.{bound_name}",
                    None,
                    b,
                    bound_name,
                    scope="segment",
                    options={"summary": name, "by": by, "intersections": intersections},
                )
            )
        if len(numbers) == 2 and numbers["min"] > numbers["max"]:
            raise _min_above_max(source, k, bounds["min"], bounds["max"])
    return out


def _check_fairness_roles(c: Criterion, data: DataConfig, segments: list[str], source: str):
    """A fairness criterion needs decisions, labels for TPR/FPR summaries, and attributes."""
    summary = c.options["summary"]
    if data.y_pred is None:
        raise policy_error(source, c.key, f"{summary} compares decisions: set [data] y_pred.")
    if data.y_true is None and mreg.fairness_summary_needs_labels(summary):
        raise policy_error(
            source, c.key, f"{summary} compares true- or false-positive rates: set [data] y_true."
        )
    if not (c.options.get("by") or segments):
        raise policy_error(
            source, c.key, "needs by = [...] (the sensitive attributes) or [data] segments."
        )


def _parse_change(value: Any, key: str, source: str) -> list[Criterion]:
    """``change.NAME = { vs = "v1", max_drop = 0.01 }``: one criterion per limit given.

    ``max_drop = d``: the candidate's value minus the baseline's must stay above ``-d``
    (judged on the interval's lower end); ``max_rise = d``: below ``+d`` (the upper end).
    ``relative = true``: the difference is divided by the baseline's value (``0.10`` is
    10%). ``segments = false`` judges the overall difference only.
    """
    example = '{ vs = "v1", max_drop = 0.01 }'
    out = []
    for _name, k, m, spec in _metric_specs(
        value, key, source, f"change.accuracy = {example}", example, _CHANGE_KEYS, "change option"
    ):
        vs = spec.get("vs")
        if vs is None:
            raise policy_error(source, k, f"needs vs, the baseline version: {example}.")
        if isinstance(vs, bool) or not isinstance(vs, str | int):
            raise policy_error(source, f"{k}.vs", f"must be a version value, got {vs!r}.")
        relative = spec.get("relative", False)
        if not isinstance(relative, bool):
            raise policy_error(source, f"{k}.relative", f"must be true or false, got {relative!r}.")
        segments = spec.get("segments", True)
        if not isinstance(segments, bool):
            raise policy_error(source, f"{k}.segments", f"must be true or false, got {segments!r}.")
        limits = [b for b in ("max_drop", "max_rise") if b in spec]
        if not limits:
            raise policy_error(source, k, f"has no limit; write e.g. {example} or max_rise = 0.1.")
        if not m.comparable:
            raise policy_error(source, k, f"{m.name} has no difference with an interval.")
        for bound_name in limits:
            bk = f"{k}.{bound_name}"
            limit = _number(spec[bound_name], bk, source)
            if limit < 0:
                raise policy_error(
                    source,
                    bk,
                    f"a limit is a size >= 0 (0.01 = one point), got {spec[bound_name]!r}.",
                )
            if m.bounded and not relative and limit > 1:
                raise policy_error(
                    source,
                    bk,
                    f"{m.name} is a rate: a change is at most 1, got {spec[bound_name]!r} "
                    "(write one point as 0.01, or add relative = true).",
                )
            drop = bound_name == "max_drop"
            out.append(
                Criterion(
                    "change",
                    bk,
                    f"change.{m.name}.{bound_name}",
                    m.name,
                    -limit if drop else limit,
                    "min" if drop else "max",
                    scope="both" if segments else "overall",
                    options={"vs": str(vs), "relative": relative, "limit": limit},
                )
            )
    return out


def _flag(spec: Mapping, name: str, default: bool, key: str, source: str) -> bool:
    value = spec.get(name, default)
    if not isinstance(value, bool):
        raise policy_error(source, f"{key}.{name}", f"must be true or false, got {value!r}.")
    return value


def _text(spec: Mapping, name: str, key: str, source: str) -> str | None:
    value = spec.get(name)
    if value is not None and (not isinstance(value, str) or not value):
        raise policy_error(source, f"{key}.{name}", f"must be a text, got {value!r}.")
    return value


def _whole(spec: Mapping, name: str, default: int, low: int, key: str, source: str) -> int:
    value = spec.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise policy_error(
            source, f"{key}.{name}", f"must be a whole number >= {low}, got {value!r}."
        )
    return value


def _min_max(
    kind: str, name: str, spec: Mapping, k: str, source: str, low: float, what: str, **extra
) -> list[Criterion]:
    """The ``min`` / ``max`` bounds of a ``labels.*`` or ``feedback.*`` table, each within
    ``[low, 1]``: one criterion per bound, judged on the measure's interval."""
    bounds = {b: spec[b] for b in ("min", "max") if b in spec}
    if not bounds:
        raise policy_error(source, k, "has no bound; write e.g. { min = 0.6 }.")
    numbers = {}
    out = []
    for bound_name, raw in bounds.items():
        bk = f"{k}.{bound_name}"
        b = numbers[bound_name] = _number(raw, bk, source)
        if not low <= b <= 1:
            raise policy_error(
                source, bk, f"{what}: the bound must be in [{low:g}, 1], got {raw!r}."
            )
        out.append(Criterion(kind, bk, f"{kind}.{name}.{bound_name}", name, b, bound_name, **extra))
    if len(numbers) == 2 and numbers["min"] > numbers["max"]:
        raise _min_above_max(source, k, bounds["min"], bounds["max"])
    return out


def _parse_labels(value: Any, key: str, source: str) -> list[Criterion]:
    """``labels.kappa = { min = 0.6, rater = "judge" }``: a labeler against the gold one."""
    example = '{ min = 0.6, rater = "judge" }'
    tables = _table(value, key, source, f"labels.kappa = {example}")
    out = []
    for name, spec in tables.items():
        k = f"{key}.{name}"
        if name not in LABEL_MEASURES:
            raise policy_error(
                source, k, f"unknown label measure. {did_you_mean(name, list(LABEL_MEASURES))}"
            )
        spec = _table(spec, k, source, example)
        _check_keys(spec, _LABELS_KEYS, k, source, "labels option")
        rater = _text(spec, "rater", k, source)
        if rater is None:
            raise policy_error(
                source, k, f"needs rater, the labeler judged against gold: {example}."
            )
        gold = _text(spec, "gold", k, source)
        if gold is not None and gold == rater:
            raise policy_error(
                source, f"{k}.gold", f"is the rater itself ({rater!r}): name the trusted labeler."
            )
        segments = _flag(spec, "segments", True, k, source)
        low = -1.0 if name == "kappa" else 0.0
        what = "kappa is in [-1, 1]" if name == "kappa" else f"{name} is a rate"
        out += _min_max(
            "labels",
            name,
            spec,
            k,
            source,
            low,
            what,
            scope="both" if segments else "overall",
            options={"rater": rater, "gold": gold},
        )
    return out


def _parse_feedback(value: Any, key: str, source: str) -> list[Criterion]:
    """``feedback.implicit_rate = { min = 0.7 }`` (or response_rate, explicit_rate,
    explicit_corrected): a figure of :func:`aidebt.feedback.feedback`, judged on its interval."""
    example = "{ min = 0.7 }"
    tables = _table(value, key, source, f"feedback.implicit_rate = {example}")
    out = []
    for name, spec in tables.items():
        k = f"{key}.{name}"
        if name not in FEEDBACK_MEASURES:
            raise policy_error(
                source,
                k,
                f"unknown feedback measure. {did_you_mean(name, list(FEEDBACK_MEASURES))}",
            )
        spec = _table(spec, k, source, example)
        _check_keys(spec, _FEEDBACK_KEYS, k, source, "feedback option")
        segments = _flag(spec, "segments", True, k, source)
        out += _min_max(
            "feedback",
            name,
            spec,
            k,
            source,
            0.0,
            f"{name} is a rate",
            scope="both" if segments else "overall",
        )
    return out


def _parse_slices(value: Any, key: str, source: str) -> list[Criterion]:
    """``slices.fnr = { max_excess = 0.05, fdr = 0.05 }``: no discovered slice worse than
    the rest of the data by more than ``max_excess`` (:func:`aidebt.slices.slices`)."""
    example = "{ max_excess = 0.05, fdr = 0.05 }"
    out = []
    for name, k, m, spec in _metric_specs(
        value, key, source, f"slices.fnr = {example}", example, _SLICES_KEYS, "slices option"
    ):
        if m.higher_is_better is None:
            raise policy_error(
                source,
                k,
                f"{m.name} has no worse direction, so no slice is worse; use a metric such "
                "as error_rate, fnr or accuracy.",
            )
        if "max_excess" not in spec:
            raise policy_error(source, k, f"needs max_excess, e.g. slices.{name} = {example}.")
        bk = f"{k}.max_excess"
        b = _number(spec["max_excess"], bk, source)
        if b < 0 or (m.bounded and b > 1):
            raise policy_error(
                source, bk, f"a shortfall against the rest is >= 0 (0.05 = 5 points), got {b!r}."
            )
        fdr = _number(spec.get("fdr", 0.05), f"{k}.fdr", source)
        if not 0 < fdr < 1:
            raise policy_error(source, f"{k}.fdr", f"must be between 0 and 1, got {fdr!r}.")
        depth = _whole(spec, "max_depth", 2, 1, k, source)
        if depth > 3:
            raise policy_error(
                source,
                f"{k}.max_depth",
                f"must be 1, 2 or 3, got {depth!r}: each level multiplies the slices searched.",
            )
        min_n = _number(spec.get("min_n", 30), f"{k}.min_n", source)
        if min_n < 1:
            raise policy_error(source, f"{k}.min_n", f"must be >= 1, got {min_n!r}.")
        columns = spec.get("columns")
        if columns is not None and (
            not isinstance(columns, list)
            or not columns
            or not all(isinstance(c, str) for c in columns)
        ):
            raise policy_error(
                source, f"{k}.columns", f"must be a list of column names, got {columns!r}."
            )
        out.append(
            Criterion(
                "slices",
                bk,
                f"slices.{m.name}.max_excess",
                m.name,
                b,
                "max",
                scope="overall",
                options={"fdr": fdr, "max_depth": depth, "columns": columns, "min_n": min_n},
            )
        )
    return out


def _parse_clocks(value: Any, key: str, source: str) -> list[Criterion]:
    """``clocks = { max_overdue = 0, warn_days = 60 }``: the registry's lifecycle clocks
    (:func:`aidebt.lifecycle.clocks`); ``prompt``, ``model``, ``index`` name the log's
    columns (``prompt`` defaults to ``[data] version``)."""
    spec = _table(value, key, source, "{ max_overdue = 0, warn_days = 60 }")
    _check_keys(spec, _CLOCKS_KEYS, key, source, "clocks option")
    overdue = _whole(spec, "max_overdue", 0, 0, key, source)
    warn = _whole(spec, "warn_days", 60, 0, key, source)
    columns = {c: _text(spec, c, key, source) for c in ("prompt", "model", "index")}
    return [
        Criterion(
            "clocks",
            f"{key}.max_overdue",
            "clocks.max_overdue",
            None,
            float(overdue),
            "max",
            scope="overall",
            options={"warn_days": warn, **columns},
        )
    ]


_PARSERS = {
    "labels": _parse_labels,
    "feedback": _parse_feedback,
    "slices": _parse_slices,
    "clocks": _parse_clocks,
}


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
        elif kind == "fairness":
            criteria += _parse_fairness(value, k, source)
        elif kind in _PARSERS:
            criteria += _PARSERS[kind](value, k, source)
        elif kind == "change":
            if name == ROLLBACK:
                raise policy_error(
                    source,
                    k,
                    "change criteria judge a candidate version before it ships: write them in "
                    "a stage ([gates.NAME]), not in [rollback].",
                )
            criteria += _parse_change(value, k, source)
        else:
            criteria += _parse_drift(value, k, source)
    if not criteria:
        raise policy_error(
            source, key, "has no criteria; add e.g. metrics.accuracy = { min = 0.85 }."
        )
    return Stage(name, tuple(criteria))


def parse_policy(raw: Mapping[str, Any], source: str = "", *, require_stage: bool = True) -> Policy:
    """Read the ``[gates]`` and ``[rollback]`` tables of a parsed ``audit.toml``.

    Stages are the sub-tables of ``[gates]``, in the order of the file; plain keys of
    ``[gates]`` are settings (``confidence``, ``min_segment_n``, ``version``,
    ``rollback_adjust``, ``pool``: see :data:`SETTINGS`). Every key at every level must be
    declared (:data:`SETTINGS`, :data:`CRITERIA` and the options of each criterion), every
    number finite, ``min`` at most ``max``: each error is a
    :class:`~aidebt.config.ConfigError` naming the offending key. ``require_stage=False``
    accepts a file without stages (what :func:`aidebt.config.load_config` checks; a gate
    check needs one).

    Examples
    --------
    >>> p = parse_policy({"gates": {"shadow": {"min_n": 500},
    ...                             "copilot": {"metrics": {"fpr": {"max": 0.1}}}}})
    >>> [s.name for s in p.stages], p.stages[1].criteria[0].name
    (['shadow', 'copilot'], 'metrics.fpr.max')
    >>> parse_policy({"gates": {"copilot": {"metrics": {"acurracy": {"min": 0.8}}}}})
    Traceback (most recent call last):
    ...
    aidebt.config.ConfigError: gates.copilot.metrics.acurracy: unknown metric. Available: ... Did you mean 'accuracy'?
    """
    no_stage = "no [gates.NAME] stage in the config; add e.g. [gates.shadow]."
    gates = raw.get("gates")
    if gates is None and require_stage:
        raise policy_error(source, "gates", no_stage)
    gates = _table({} if gates is None else gates, "gates", source, "[gates.shadow]")
    stages = []
    settings: dict[str, Any] = {}
    for name, value in gates.items():
        if isinstance(value, Mapping) and name == ROLLBACK:
            raise policy_error(
                source,
                f"gates.{name}",
                "is reserved: write rollback triggers in a [rollback] table.",
            )
        if isinstance(value, Mapping):
            stages.append(_parse_stage(name, value, f"gates.{name}", source))
        elif name in SETTINGS:
            settings[name] = value
        else:
            raise unknown_key(
                source, f"gates.{name}", "setting (stages are tables: [gates.NAME])", SETTINGS
            )
    if not stages and require_stage:
        raise policy_error(source, "gates", no_stage)
    confidence = _number(settings.get("confidence", 0.95), "gates.confidence", source)
    if not 0 < confidence < 1:
        raise policy_error(
            source, "gates.confidence", f"must be between 0 and 1, got {confidence!r}."
        )
    min_seg = _number(settings.get("min_segment_n", 30), "gates.min_segment_n", source)
    if min_seg < 0:
        raise policy_error(source, "gates.min_segment_n", f"must be >= 0, got {min_seg!r}.")
    version = settings.get("version")
    if version is not None and not isinstance(version, str | int):
        raise policy_error(source, "gates.version", f"must be a version value, got {version!r}.")
    rollback_adjust = settings.get("rollback_adjust", "holm")
    if rollback_adjust not in ROLLBACK_ADJUST:
        raise policy_error(
            source,
            "gates.rollback_adjust",
            f"must be 'holm' or 'none', got {rollback_adjust!r}.",
        )
    pool = settings.get("pool", False)
    if not isinstance(pool, bool):
        raise policy_error(source, "gates.pool", f"must be true or false, got {pool!r}.")
    rollback = None
    if "rollback" in raw:
        rollback = _parse_stage(ROLLBACK, raw["rollback"], "rollback", source)
    return Policy(
        tuple(stages),
        rollback,
        confidence,
        min_seg,
        None if version is None else str(version),
        rollback_adjust,
        pool,
    )
