"""Golden-set decay: does the eval set still represent each period's production traffic?

:func:`coverage` counts production rows per segment and period (one pass,
:func:`aidebt.aggregate.value_counts`) and the eval set's sums per segment (one pass,
:func:`aidebt.prepare.prepare`), then measures on the small tables: the share of traffic
in segments the eval set barely covers, the distance between the eval mix and the
production mix, and the eval metric post-stratified to each period's mix.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import narwhals as nw
import numpy as np
import polars as pl

from aidebt import aggregate, frames, prose
from aidebt import metrics as mreg
from aidebt import stats as st
from aidebt._deprecated import renamed
from aidebt.errors import InvalidArgumentError
from aidebt.groups import check_names, label
from aidebt.periods import Every
from aidebt.prepare import prepare
from aidebt.results import Result, conform

__all__ = ["Coverage", "coverage"]

COLUMNS = {
    "rows": pl.Float64,
    "segments": pl.Int64,
    "uncovered_share": pl.Float64,
    "unseen_share": pl.Float64,
    "js_distance": pl.Float64,
    "top_uncovered": pl.String,
}
"""The columns of :attr:`Coverage.table` after ``period``."""

METRIC_COLUMNS = {
    "value": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "n_eff": pl.Float64,
    "covered_share": pl.Float64,
    "metric": pl.String,
    "raw_value": pl.Float64,
    "raw_ci_low": pl.Float64,
    "raw_ci_high": pl.Float64,
    "raw_n": pl.Float64,
    "gap": pl.Float64,
}
"""... and, with labels, the eval metric's columns."""


class Coverage(Result):
    """Result of :func:`coverage`: how well the eval set still represents production.

    Attributes
    ----------
    table : polars.DataFrame
        One row per production period: ``period``, ``rows`` (production rows),
        ``uncovered_share`` (traffic in segments with fewer than ``k`` eval examples),
        ``unseen_share`` (traffic in segments absent from the eval set), ``js_distance``
        (eval mix vs production mix), ``top_uncovered``; with labels: ``metric``,
        ``value``, ``ci_low``, ``ci_high`` (the eval metric post-stratified to the period's
        production mix), ``n_eff`` (its design-effect sample size), ``covered_share``
        (the traffic it speaks for), ``raw_value``, ``raw_ci_low``, ``raw_ci_high``,
        ``raw_n`` (the eval metric as it is) and ``gap`` (post-stratified - raw: the eval
        set's decay).
    segments : polars.DataFrame
        Per period and segment: production share, eval examples, covered flag.
    """

    title = "Eval-set coverage"

    def __init__(self, table, segments, *, by, k, metric, every, confidence) -> None:
        super().__init__(table)
        self.segments = segments
        self.by = by
        self.k = k
        self.metric = metric
        self.every = every
        self.confidence = confidence

    def _label(self, period) -> str:
        if period is None or self.every is None:
            return "production"
        return self.every.label(self.every.index_of(period))

    def _top_uncovered(self, period) -> str | None:
        """The table's ``top_uncovered`` of a period, its segment named as sentences name it."""
        rows = self.segments.filter(~pl.col("covered"))
        if period is not None:
            rows = rows.filter(pl.col("period") == period)
        if rows.is_empty():
            return None
        top = rows.sort("share", descending=True, maintain_order=True).row(0, named=True)
        return _top_text(top, prose.group_phrase(top, self.by))

    def summary(self) -> list[str]:
        t = self.table
        if t.height == 0:
            return []
        first, last = t.row(0, named=True), t.row(-1, named=True)
        top = self._top_uncovered(last["period"])
        lines = [
            f"In {self._label(last['period'])}, {last['uncovered_share']:.0%} of production "
            f"traffic falls in segments ({', '.join(self.by)}) with fewer than {self.k} eval "
            f"examples ({first['uncovered_share']:.0%} in {self._label(first['period'])})"
            + (f"; the largest is {top}." if top else ".")
        ]
        lines.append(
            f"Jensen-Shannon distance between the eval mix and production: "
            f"{first['js_distance']:.3f} in {self._label(first['period'])}, "
            f"{last['js_distance']:.3f} in {self._label(last['period'])}."
        )
        if self.metric is not None and last.get("value") is not None:
            m = self.metric
            say = prose.percent if m.in_points else prose.number
            digits = 1 if m.in_points else 2
            gap = abs(last["gap"])
            size = f"{prose.points(gap)} points" if m.in_points else prose.number(gap, None)
            if say(gap, digits) == say(0.0, digits):
                verdict = "the raw eval set gives the same figure"
            else:
                verb = "overstates" if last["gap"] < 0 else "understates"
                verdict = f"the raw eval set {verb} it by {size}"
            lines.append(
                f"Re-weighted to {self._label(last['period'])}'s traffic, the eval "
                f"{m.display_name} is {say(last['value'], digits)} "
                f"({prose.interval(last['ci_low'], last['ci_high'], say, digits)}, effective "
                f"n {last['n_eff']:,.0f}) against {say(last['raw_value'], digits)} raw: {verdict}"
                + (
                    f" (and says nothing about the {1 - last['covered_share']:.0%} of traffic "
                    "in segments it never saw)."
                    if last["covered_share"] < 0.999
                    else "."
                )
            )
        return lines

    def chart(self, **kwargs: Any):
        """Uncovered share and distance per period; post-stratified vs raw eval metric."""
        from aidebt import charts

        return charts.coverage_chart(
            self.table, metric=self.metric.name if self.metric else None, **kwargs
        )


@renamed(
    eval_data=("reference", None),
    production=("current", None),
    eval_weight=("reference_weight", None),
)
def coverage(
    reference: Any,
    current: Any,
    by: str | Sequence[str],
    time: str | None = None,
    every: str = "1mo",
    y_true: str | None = None,
    y_pred: str | None = None,
    *,
    metric: str = "accuracy",
    k: int = 30,
    weight: str | None = None,
    reference_weight: str | None = None,
    confidence: float = 0.95,
    pos_label: Any = None,
) -> Coverage:
    """Golden-set decay: does the eval set still represent each period's traffic?

    Parameters
    ----------
    reference
        The eval (golden) set: the reference, as in :func:`aidebt.drift`.
    current
        Production rows (labels not needed): the current data.
    by
        Segment column(s), present in both.
    time, every
        Production time column and period length; ``time=None`` compares with all of
        production at once.
    y_true, y_pred
        Label and prediction columns of the eval set: with them, the eval metric is
        post-stratified to each period's production mix.
    metric
        A proportion (``accuracy``, ``fnr``...) or a mean metric.
    k
        A segment with fewer than ``k`` eval examples counts as uncovered.
    weight, reference_weight
        Frequency weights of production (``current``) and of the eval set.

    The earlier names ``eval_data=``, ``production=`` and ``eval_weight=`` still work for
    one release, with a ``DeprecationWarning``.
    confidence
        Interval level.

    Returns
    -------
    Coverage
        ``.table`` per period (see :class:`Coverage`), ``.segments``, ``.summary()``,
        ``.chart()``.

    Notes
    -----
    Post-stratification: with ``w_s`` the period's production share of segment ``s``
    (renormalised over the segments the eval set has labeled examples for) and ``m_s``
    the eval metric in it, the estimate is ``sum(w_s m_s)``. Production shares are treated
    as known (they come from far more rows than the eval set has); given the eval items per
    segment ``n_s``, the variance is Cochran's stratified variance ``V = sum(w_s^2 v_s / n_s)``
    (Cochran 1977, *Sampling Techniques*, §5.3 and §5A.9), ``v_s`` the segment's own
    variance, so the interval widens when the segments differ, and most when thin segments
    are the hard ones (a Wilson interval at Kish's effective size ``1 / sum(w_s^2 / n_s)``
    assumes one common rate and covered about 90% there: see the tests).

    - Proportions (:func:`aidebt.stats.poststratified_proportion`): ``v_s = p_s (1 - p_s)``
      at the segment's Wilson centre; a Wilson interval at the design-effect size
      ``n_eff = p (1 - p) / V`` (Kish 1965, *Survey Sampling*, §8.2), shrunk by
      ``(z / t_df)^2`` with Satterthwaite's degrees of freedom (Cochran §5.4; Korn &
      Graubard 1998).
    - Means (:func:`aidebt.stats.poststratified_mean`): ``v_s`` the segment's sample
      variance (a one-item segment borrows the pooled one); a t interval with
      Satterthwaite's degrees of freedom; ``n_eff`` the outcome's re-weighted variance over
      ``V``, shrunk the same way.

    ``n_eff`` is the size of a simple random sample as precise as the re-weighted eval set:
    it falls as traffic moves to thin segments, and can exceed the eval set's size when the
    eval mix already matches production (stratification then gains a little). The
    assumption is post-stratification's: within a segment, the eval items represent the
    segment's traffic today. Segments absent from the eval set cannot be re-weighted:
    ``covered_share`` says how much traffic the estimate speaks for.

    Examples
    --------
    >>> import aidebt as ad
    >>> c = ad.coverage(ad.datasets.demo_eval(3_000), ad.datasets.demo(5_000), by="intent",
    ...                 time="ts", y_true="y_true", y_pred="y_pred")
    >>> round(c.table["uncovered_share"][-1], 2)
    0.38
    """
    by_cols = frames.as_list(by)
    if not by_cols:
        raise InvalidArgumentError("coverage needs segment columns: pass by='intent' or a list.")
    confidence = st.check_confidence(confidence)
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise InvalidArgumentError(f"k={k!r} must be a positive integer, e.g. 30.")
    # The columns the segments table puts next to them (and the working ones it adds).
    check_names(
        by_cols,
        {"period", "production_n", "share", "eval_n", "eval_value", "covered", "value", "m_value"}
        | {"m_n", "m_se", "n", "rows"}
        | {"metric", "ci_low", "ci_high", "note"},  # the eval metric's (metrics.evaluate)
        role="a segment column",
    )
    prod = frames.to_lazy(current)
    frames.require_columns(prod, by_cols, role="a segment column of current")
    m = None
    if y_true is not None or y_pred is not None:
        prep = prepare(
            reference,
            metrics=[metric],
            y_true=y_true,
            y_pred=y_pred,
            weight=reference_weight,
            pos_label=pos_label,
            columns={"a segment column of reference": by_cols},
            confidence=confidence,
        )
        (m,) = prep.metrics
        if not m.average:
            raise InvalidArgumentError(
                f"coverage post-stratifies proportions and means; {m.name!r} is a {m.kind} and "
                "is not a weighted average of per-segment values. Use e.g. 'accuracy' or 'fnr'."
            )
        ev_stats = prep.aggregate(by_cols).stats
    else:
        ev_frame = frames.to_lazy(reference)
        frames.require_columns(ev_frame, by_cols, role="a segment column of reference")
        ev_stats = aggregate.value_counts(ev_frame, by_cols, weight=reference_weight)
    ev = None
    derived = None
    if time is not None:
        frames.require_temporal(prod, time, needed_by="coverage")
        ev = Every.parse(every)
        derived = {"_p": ev.index(nw.col(time))}
    prod_counts = aggregate.value_counts(prod, by_cols, weight=weight, derived_keys=derived)
    if derived is None:
        prod_counts = prod_counts.with_columns(_p=pl.lit(0, pl.Int64))
    prod_counts = prod_counts.filter(pl.col("_p").is_not_null()).with_columns(
        pl.col("_p").cast(pl.Int64)
    )
    if prod_counts.height == 0:
        raise InvalidArgumentError(
            "current (production) has no rows (with a time value): nothing to cover."
        )

    eval_n = ev_stats.select(*by_cols, pl.col("n").cast(pl.Float64).alias("eval_n"))
    seg_metric = None
    raw = None
    if m is not None:
        values = mreg.evaluate(ev_stats, by_cols, m, confidence=confidence)
        seg_metric = values.select(
            *by_cols,
            pl.col("value").alias("m_value"),
            pl.col("n").alias("m_n"),
            pl.col("_se").alias("m_se"),
            pl.col("_x").alias("m_x"),
        )
        raw = mreg.evaluate(
            aggregate.rollup(ev_stats, by_cols, []), [], m, confidence=confidence
        ).row(0, named=True)

    # Segment table per period: production share, eval count, metric.
    seg = (
        prod_counts.with_columns(
            share=pl.col("n") / pl.col("n").sum().over("_p"),
        )
        .join(eval_n, on=by_cols, how="left")
        .with_columns(pl.col("eval_n").fill_null(0.0))
    )
    if seg_metric is not None:
        seg = seg.join(seg_metric, on=by_cols, how="left")
    seg = seg.with_columns(covered=pl.col("eval_n") >= k)

    js = _js_distance(seg, eval_n, by_cols)
    rows = []
    for (p,), part in seg.sort("_p").group_by("_p", maintain_order=True):
        uncovered = part.filter(~pl.col("covered")).sort(
            "share", descending=True, maintain_order=True
        )
        top = None
        if uncovered.height:
            r0 = uncovered.row(0, named=True)
            top = _top_text(r0, label(r0, by_cols))
        row = {
            "_p": p,
            "rows": float(part["n"].sum()),
            "segments": part.height,
            "uncovered_share": float(uncovered["share"].sum()),
            "unseen_share": float(part.filter(pl.col("eval_n") == 0)["share"].sum()),
            "js_distance": js.get(p, np.nan),
            "top_uncovered": top,
        }
        if m is not None:
            row.update(_poststratify(part, m, confidence), metric=m.name)
            row.update(
                raw_value=raw["value"],
                raw_ci_low=raw["ci_low"],
                raw_ci_high=raw["ci_high"],
                raw_n=raw["n"],
            )
            row["gap"] = (
                row["value"] - raw["value"]
                if row["value"] is not None and raw["value"] is not None
                else None
            )
        rows.append(row)
    schema = {**COLUMNS, **(METRIC_COLUMNS if m is not None else {})}
    table = conform(rows, schema, lead={"_p": pl.Int64})
    if ev is not None:
        period = pl.Series("period", ev.start(table["_p"].to_numpy())).cast(pl.Date)
    else:
        period = pl.Series("period", [None] * table.height, dtype=pl.Date)
    table = table.with_columns(period).select("period", *schema)
    segments = seg.with_columns(
        period=pl.Series(ev.start(seg["_p"].to_numpy())).cast(pl.Date)
        if ev
        else pl.lit(None, pl.Date)
    ).select(
        "period",
        *by_cols,
        pl.col("n").alias("production_n"),
        "share",
        "eval_n",
        "covered",
        *(["m_value"] if m is not None else []),
    )
    if m is not None:
        segments = segments.rename({"m_value": "eval_value"})
    return Coverage(table, segments, by=by_cols, k=k, metric=m, every=ev, confidence=confidence)


def _top_text(row: dict[str, Any], name: str) -> str:
    return f"{name} ({row['share']:.0%} of traffic, {row['eval_n']:.0f} eval examples)"


def _js_distance(seg: pl.DataFrame, eval_n: pl.DataFrame, by_cols: list[str]) -> dict:
    """Jensen-Shannon distance (base 2) between each period's production mix and the eval mix.

    Vectorized over periods: with ``P`` the period's shares, ``Q`` the eval set's and
    ``M = (P + Q) / 2``, ``JS^2 = (KL(P||M) + KL(Q||M)) / 2``; an eval segment the period
    does not have contributes ``Q log2(Q / (Q/2)) = Q`` to ``KL(Q||M)``, so only the
    period's own segments need a row (scipy's ``jensenshannon`` on the union, tested).
    """
    total = float(eval_n["eval_n"].sum())
    if total <= 0:
        return {}
    q = eval_n.select(*by_cols, (pl.col("eval_n") / total).alias("_q"))
    joined = seg.select("_p", *by_cols, "share").join(q, on=by_cols, how="left", nulls_equal=True)
    P, Q = pl.col("share"), pl.col("_q").fill_null(0.0)
    M = (P + Q) / 2
    kl_p = pl.when(P > 0).then(P * (P / M).log(2)).otherwise(0.0)
    kl_q = pl.when(Q > 0).then(Q * (Q / M).log(2)).otherwise(0.0)
    per = joined.group_by("_p").agg(inside=(kl_p + kl_q).sum(), seen=Q.sum())
    js2 = (per["inside"].to_numpy() + np.maximum(1 - per["seen"].to_numpy(), 0)) / 2
    return dict(zip(per["_p"].to_list(), np.sqrt(np.maximum(js2, 0)).tolist(), strict=True))


def _poststratify(part: pl.DataFrame, m: mreg.Metric, confidence: float) -> dict:
    """The eval metric re-weighted to one period's production mix (see :func:`coverage`)."""
    ok = part.filter(pl.col("m_value").is_not_null() & (pl.col("m_n") > 0))

    def arr(name: str) -> np.ndarray:
        return ok[name].cast(pl.Float64).fill_null(np.nan).to_numpy()

    if m.binomial:
        r = st.poststratified_proportion(arr("share"), arr("m_x"), arr("m_n"), confidence)
    else:
        r = st.poststratified_mean(
            arr("share"), arr("m_value"), arr("m_se"), arr("m_n"), confidence
        )
    covered = float(ok["share"].sum())
    if ok.height == 0 or covered == 0 or not np.isfinite(r["value"]):
        return dict.fromkeys(("value", "ci_low", "ci_high", "n_eff"), None) | {
            "covered_share": covered
        }

    def num(v: float) -> float | None:
        return float(v) if np.isfinite(v) else None

    return {
        "value": r["value"],
        "ci_low": num(r["ci_low"]),
        "ci_high": num(r["ci_high"]),
        "n_eff": num(r["n_eff"]),
        "covered_share": covered,
    }
