"""The shared first half of every analysis: check the inputs, then make the one pass.

An analysis is ``prepare -> inference -> result``. :func:`prepare` does what every
analysis does first, one way for all of them:

- resolve the metrics (registry names and aliases, or custom callables where allowed);
- derive the column roles they need (:func:`aidebt.metrics.roles_for`: a metric that
  needs labels, predictions or scores says which column is missing);
- wrap the input (:func:`aidebt.frames.to_lazy`) and check every named column from the
  schema alone, before any row is read, with the role it plays in the message;
- validate ``weight`` (numeric), ``pos_label`` (its form: a value, a list of values, or
  one per column, see :class:`aidebt.aggregate.Roles`), ``confidence`` (strictly between
  0 and 1) and ``min_n`` (a number >= 0, not a boolean).

:meth:`Prepared.aggregate` is then the single pass: the sufficient statistics per group
(:func:`aidebt.aggregate.sufficient_stats`, with the extra sums the metrics need) and, when
a metric needs them, AUC's placement sums per group (:func:`aidebt.aggregate.auc_sums`:
window functions over the rows sorted by score, in the data's engine). The checks that need the rows ride
along in that pass, at no extra scan: weights are frequency weights (whole numbers >= 0,
finite), scores are finite (and within [0, 1] for a metric that reads them as
probabilities, the Brier score), every positive label occurs in its column, and labels and
predictions are 0/1 once ``pos_label`` has been applied. Each failure is an error that
names the column and shows offending values.

Examples
--------
>>> import polars as pl
>>> df = pl.DataFrame({"g": ["a", "a", "b"], "y": [1, 0, 1], "p": [1, 1, 0]})
>>> prep = prepare(df, metrics=["accuracy"], y_true="y", y_pred="p", columns={"a by column": "g"})
>>> sums = prep.aggregate(["g"])
>>> sums.stats.select("g", "tp", "fp").rows()
[('a', 1.0, 1.0), ('b', 0.0, 0.0)]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import narwhals as nw
import polars as pl

from aidebt import aggregate, frames
from aidebt import metrics as mreg
from aidebt import stats as st
from aidebt.aggregate import Roles
from aidebt.errors import ColumnTypeError, InvalidArgumentError

__all__ = ["Prepared", "Sums", "check_min_n", "check_quantity", "prepare"]


@dataclass(frozen=True)
class Sums:
    """What the one pass returns: statistics per group, and AUC's placement sums if needed.

    ``auc`` maps each grouping asked for (a tuple of keys: all of them, and any coarser
    ones passed as ``auc_sets``) to its table of :data:`aidebt.aggregate.AUC_SUMS`. AUC
    sums are not additive over groups, so a margin or an overall AUC is asked for here,
    never re-summed from a finer table.
    """

    stats: pl.DataFrame
    auc: Mapping[tuple[str, ...], pl.DataFrame] | None
    keys: list[str]

    def auc_table(self, keys: Sequence[str] | None = None) -> pl.DataFrame | None:
        """AUC's placement sums per group of ``keys`` (default: every key); None without AUC."""
        if self.auc is None:
            return None
        return self.auc[tuple(self.keys if keys is None else keys)]


@dataclass(frozen=True)
class Prepared:
    """Checked inputs of an analysis: the lazy frame, its metrics and column roles."""

    frame: nw.LazyFrame
    metrics: tuple[mreg.Metric, ...]
    roles: Roles
    confidence: float
    min_n: float
    custom: Mapping[str, Callable] = field(default_factory=dict)

    @property
    def schema(self) -> dict[str, Any]:
        """The input's columns and types (metadata only)."""
        return frames.columns(self.frame)

    @property
    def need(self) -> set[str]:
        """Sums beyond the default set that the metrics need (``y_sum`` for ``mean``)."""
        return set().union(*(m.extra_stats for m in self.metrics))

    @property
    def needs_score_counts(self) -> bool:
        return any(m.needs_score_counts for m in self.metrics)

    @property
    def quantile_metrics(self) -> tuple[mreg.Metric, ...]:
        """The metrics that need a quantile pass of their own (``p95_latency_ms``...)."""
        return tuple(m for m in self.metrics if m.needs_quantiles)

    def quantiles(
        self, keys: Sequence[str], *, derived_keys: Mapping[str, nw.Expr] | None = None
    ) -> pl.DataFrame | None:
        """Every quantile metric per group of ``keys``; None when no metric is a quantile.

        A quantile is not a re-sum of the aggregation pass, so each grouping the analysis
        reports (the groups, each margin, the overall row) is a pass of its own: one per
        column, computing every level asked of that column at once
        (:func:`aidebt.aggregate.quantile_pass`, exact or sketch as each metric says).
        Returns a long table: the keys, ``metric``, ``value``, ``ci_low``, ``ci_high``
        (at this analysis' confidence), ``coverage``, ``n`` and ``missing``.
        """
        wanted = self.quantile_metrics
        if not wanted:
            return None
        passes: dict[tuple, list[mreg.Metric]] = {}
        for m in wanted:
            passes.setdefault((m.column, m.method, m.relative_error), []).append(m)
        pieces = []
        for (column, method, error), ms in passes.items():
            summary = aggregate.quantile_pass(
                self.frame,
                column,
                list(keys),
                sorted({m.q for m in ms}),
                confidence=self.confidence,
                method=method,
                relative_error=error,
                derived_keys=derived_keys,
            )
            names = {m.q: m.name for m in ms}
            pieces.append(
                summary.table.with_columns(
                    metric=pl.col("q").replace_strict(names, return_dtype=pl.String)
                ).drop("q")
            )
        return pl.concat(pieces, how="vertical_relaxed")

    def with_frame(self, frame: nw.LazyFrame) -> Prepared:
        """The same analysis on a narrowed frame (rows filtered lazily, e.g. by age)."""
        return replace(self, frame=frame)

    def aggregate(
        self,
        keys: Sequence[str],
        *,
        derived_keys: Mapping[str, nw.Expr] | None = None,
        time: nw.Expr | None = None,
        auc_sets: Sequence[Sequence[str]] = (),
    ) -> Sums:
        """The single pass over the rows, grouped by ``keys`` (and computed keys); with
        ``time``, the sums of a time coordinate ride along (a period's mean time).

        ``auc_sets``: coarser groupings (subsets of the keys; ``[]`` is overall) whose AUC
        the analysis reports too, computed in the same AUC query when a metric needs it.
        """
        keys = list(keys)
        stats = aggregate.sufficient_stats(
            self.frame, keys, self.roles, derived_keys=derived_keys, need=self.need, time=time
        )
        all_keys = [*keys, *(derived_keys or {})]
        auc = None
        if self.needs_score_counts:
            sets = list(dict.fromkeys(tuple(ks) for ks in [all_keys, *auc_sets]))
            tables = aggregate.auc_sums(
                self.frame, [list(ks) for ks in sets], self.roles, derived_keys=derived_keys
            )
            auc = dict(zip(sets, tables, strict=True))
        return Sums(stats, auc, all_keys)


def check_min_n(min_n: Any) -> float:
    """``min_n`` as a number >= 0 (a boolean is not a count)."""
    if isinstance(min_n, bool) or not isinstance(min_n, int | float) or min_n < 0:
        raise InvalidArgumentError(f"min_n={min_n!r} must be a number >= 0, e.g. 30.")
    return min_n


def resolve_metrics(
    metrics: str | Sequence[str] | Mapping[str, Callable], *, allow_custom: bool = False
) -> tuple[list[mreg.Metric], dict[str, Callable]]:
    """Registry metrics (each once, aliases resolved) and custom callables, checked."""
    custom: dict[str, Callable] = {}
    if isinstance(metrics, str):
        metrics = [metrics]
    if isinstance(metrics, Mapping):
        if not allow_custom:
            raise InvalidArgumentError(
                "Custom metric callables are not supported here: name registry metrics."
            )
        custom = dict(metrics)
        for name, fn in custom.items():
            if not callable(fn):
                raise InvalidArgumentError(
                    f"metrics[{name!r}] must be a callable fn(y_true, y_pred); got {fn!r}."
                )
        registered: list[mreg.Metric] = []
    else:
        registered = mreg.unique([mreg.get(m) for m in metrics])
    if not registered and not custom:
        raise InvalidArgumentError("metrics is empty: name at least one, e.g. ['accuracy'].")
    return registered, custom


def prepare(
    data: Any,
    *,
    metrics: str | Sequence[str] | Mapping[str, Callable],
    y_true: str | None = None,
    y_pred: str | None = None,
    y_score: str | None = None,
    weight: str | None = None,
    pos_label: Any = None,
    columns: Mapping[str, str | Sequence[str] | None] | None = None,
    confidence: float = 0.95,
    min_n: Any = 0,
    allow_custom: bool = False,
) -> Prepared:
    """Check an analysis' inputs, from the arguments and the schema alone (no row is read).

    Parameters
    ----------
    data
        Any input :func:`aidebt.frames.to_lazy` accepts.
    metrics
        Registry names (or a ``{name: callable}`` mapping with ``allow_custom``).
    y_true, y_pred, y_score, weight
        The column roles; each metric says which it needs. ``weight`` holds frequency
        weights (whole numbers: a row with weight 3 stands for 3 rows).
    pos_label
        Which label and prediction values mean positive: a value (``"High"``), a list
        (``["Medium", "High"]``), or one per column where they differ
        (``{"y_true": ["Medium", "High"], "y_pred": 1}``); see
        :class:`aidebt.aggregate.Roles`.
    columns
        Other columns the analysis reads, by the role named in errors:
        ``{"a by column": by, "version": "prompt_version"}``.
    confidence, min_n
        Checked once here: ``0 < confidence < 1``; ``min_n`` a number >= 0.
    """
    confidence = st.check_confidence(confidence)
    min_n = check_min_n(min_n)
    registered, custom = resolve_metrics(metrics, allow_custom=allow_custom)
    roles = mreg.roles_for(registered, custom, y_true, y_pred, y_score, weight, pos_label)
    frame = frames.to_lazy(data)
    for role, names in (columns or {}).items():
        frames.require_columns(frame, frames.as_list(names), role=role)
    for name, role in ((y_true, "y_true"), (y_pred, "y_pred"), (y_score, "y_score")):
        frames.require_columns(frame, [name], role=role)
    frames.require_columns(frame, [weight], role="weight")
    if weight:
        frames.check_numeric(frame, weight, role="weight", fix="Weights are counts >= 0.")
    for m in registered:
        if m.column is not None:
            frames.require_columns(frame, [m.column], role=f"the column of {m.name}")
            check_quantity(frame, m.column, role=f"the column of {m.name}")
            if m.needs_quantiles and weight:
                raise InvalidArgumentError(
                    f"Metric {m.name!r} is a quantile, which does not take frequency weights "
                    f"here: drop weight={weight!r}, or expand the rows first."
                )
    return Prepared(frame, tuple(registered), roles, confidence, min_n, custom)


def check_quantity(frame: nw.LazyFrame, name: str, *, role: str) -> None:
    """A quantile or a mean of a column needs numbers: not text, not a 0/1 flag (schema only)."""
    dtype = frames.columns(frame)[name]
    if dtype == nw.Boolean or not dtype.is_numeric():
        found = frames.sample_values(frame, name)
        fix = (
            "A 0/1 flag is a rate, not a quantity: measure it as an outcome (a rate) instead."
            if dtype == nw.Boolean
            else f"Cast it to a number first, e.g. pl.col({name!r}).cast(pl.Float64), or name "
            "the numeric column (latency, tokens, cost)."
        )
        raise ColumnTypeError(
            f"Column {name!r} ({role}) has type {dtype} with values such as {found}; a "
            f"quantile or a mean needs numbers. {fix}"
        )
