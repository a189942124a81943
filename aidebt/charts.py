"""Altair charts of aidebt results, drawn from the small result tables only.

Each chart embeds just the aggregated rows it shows (a few hundred at most), so a report
page stays small and opens offline. Tooltips always carry the value, its interval and n.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import polars as pl

SMALL_COLOR = "#9e9e9e"
MAIN_COLOR = "#1f5f8b"
REF_COLOR = "#c0392b"


def group_label(by: Sequence[str]) -> pl.Expr:
    """One readable label per group: ``en / free``."""
    if not by:
        return pl.lit("overall").alias("group")
    return pl.concat_str([pl.col(c).cast(pl.String) for c in by], separator=" / ").alias("group")


def forest(
    table: pl.DataFrame,
    by: Sequence[str],
    overall: pl.DataFrame | None = None,
    *,
    width: int = 420,
    max_groups: int = 60,
) -> alt.Chart:
    """A forest plot: one row per group, its value and interval; the reference as a red rule.

    Groups under ``min_n`` (``small_n``) are drawn hollow and grey, and say so in the
    tooltip. One panel per metric, each with its own axis. With more than ``max_groups``
    groups, the ones furthest from the reference are shown.

    Examples
    --------
    >>> import aidebt as ad
    >>> r = ad.disaggregate(ad.datasets.demo(2_000, months=2), y_true="y_true",
    ...                     y_pred="y_pred", by="language", metrics=["fnr"])
    >>> chart = forest(r.table, ["language"])
    >>> type(chart).__name__
    'FacetChart'
    """
    data = (
        table.with_columns(group_label(by))
        .with_columns(gap=(pl.col("diff").abs()).fill_null(0))
        .sort("gap", descending=True)
        .group_by("metric", maintain_order=True)
        .head(max_groups)
        .with_columns(
            size_note=pl.when(pl.col("small_n"))
            .then(pl.lit("small sample (n < min_n)"))
            .otherwise(pl.lit("")),
        )
        .select(
            "group",
            "metric",
            "value",
            "ci_low",
            "ci_high",
            "n",
            "small_n",
            "size_note",
            "reference_value",
            "diff",
            "p_adjusted",
        )
    )
    tooltip = [
        alt.Tooltip("group:N", title="group"),
        alt.Tooltip("metric:N"),
        alt.Tooltip("value:Q", format=".3f"),
        alt.Tooltip("ci_low:Q", format=".3f", title="interval low"),
        alt.Tooltip("ci_high:Q", format=".3f", title="interval high"),
        alt.Tooltip("n:Q", format=",.0f", title="n (denominator)"),
        alt.Tooltip("reference_value:Q", format=".3f", title="reference"),
        alt.Tooltip("diff:Q", format="+.3f", title="difference"),
        alt.Tooltip("p_adjusted:Q", format=".2g", title="adjusted p"),
        alt.Tooltip("size_note:N", title="note"),
    ]
    y = alt.Y("group:N", sort=alt.EncodingSortField("value", order="descending"), title=None)
    color = alt.condition("datum.small_n", alt.value(SMALL_COLOR), alt.value(MAIN_COLOR))
    base = alt.Chart().encode(y=y, tooltip=tooltip)
    bars = base.mark_rule(strokeWidth=2).encode(
        x=alt.X("ci_low:Q", title="value with interval"), x2="ci_high:Q", color=color
    )
    points = base.mark_point(size=60, filled=True).encode(
        x="value:Q",
        color=color,
        fill=alt.condition("datum.small_n", alt.value("white"), alt.value(MAIN_COLOR)),
        shape=alt.condition("datum.small_n", alt.value("circle"), alt.value("diamond")),
    )
    reference = (
        alt.Chart()
        .mark_rule(color=REF_COLOR, strokeDash=[4, 3])
        .encode(
            x="mean(reference_value):Q",
            tooltip=[alt.Tooltip("mean(reference_value):Q", format=".3f", title="reference")],
        )
    )
    height = alt.Step(16)
    layered = alt.layer(bars, points, reference, data=data).properties(width=width, height=height)
    return (
        layered.facet(
            row=alt.Row("metric:N", title=None, header=alt.Header(labelFontWeight="bold"))
        )
        .resolve_scale(x="independent", y="independent")
        .properties(title="Each group's value and interval; red line: the reference")
    )
