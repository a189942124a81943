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
        x=alt.X("ci_low:Q", title="value with interval", scale=alt.Scale(zero=False)), x2="ci_high:Q", color=color
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


# ======================================================================================
# Decay, drift and coverage charts (aidebt.decay, aidebt.drift)
# ======================================================================================
CROSS_COLOR = "#c0392b"
FIT_COLOR = "#e67e22"


def _x_encoding(axis: str, unit: str, field: str = "period"):
    if axis == "age":
        return alt.X(f"{field}:Q", title=f"age ({unit}s since start)")
    return alt.X(f"{field}:T", title=None)


def decay_chart(
    table: pl.DataFrame,
    *,
    by: Sequence[str] = (),
    metric: str = "metric",
    axis: str = "calendar",
    unit: str = "month",
    fitted: pl.DataFrame | None = None,
    threshold: float | None = None,
    crossing: pl.DataFrame | None = None,
    changepoints: pl.DataFrame | None = None,
    width: int = 560,
    height: int = 260,
    max_groups: int = 10,
) -> alt.LayerChart:
    """The decay curve: each period's value and interval band, with optional overlays.

    ``fitted`` (from :attr:`aidebt.decay.Trend.fitted`) adds the fitted trend and its
    confidence band (dashed); ``threshold`` a horizontal red line; ``crossing`` (a
    :class:`aidebt.decay.Crossing` table) a vertical line at the projected crossing with its
    interval shaded; ``changepoints`` a grey rule at each change point. With ``by`` each
    group is a colour (the ``max_groups`` largest).

    Examples
    --------
    >>> import aidebt as ad
    >>> d = ad.decay(ad.datasets.demo(2_000, months=4), "ts", "y_true", "y_pred")
    >>> type(decay_chart(d.table, metric="accuracy")).__name__
    'LayerChart'
    """
    by = list(by)
    data = table.with_columns(group_label(by)).filter(pl.col("value").is_not_null())
    if by:
        keep = (
            data.group_by("group")
            .agg(pl.col("n").sum())
            .sort("n", descending=True)
            .head(max_groups)
            .get_column("group")
        )
        data = data.filter(pl.col("group").is_in(keep.implode()))
    if axis == "calendar":
        data = data.with_columns(pl.col("period").cast(pl.Datetime("us")))
    data = data.select(
        "group",
        "period",
        "value",
        "ci_low",
        "ci_high",
        "n",
        pl.col("unlabeled_share").fill_null(0.0)
        if "unlabeled_share" in data.columns
        else pl.lit(0.0).alias("unlabeled_share"),
    )
    x = _x_encoding(axis, unit)
    color = alt.Color("group:N", title=", ".join(by)) if by else alt.value(MAIN_COLOR)
    tooltip = [
        alt.Tooltip("group:N", title="group"),
        alt.Tooltip("period:T" if axis == "calendar" else "period:Q", title="period"),
        alt.Tooltip("value:Q", format=".3f", title=metric),
        alt.Tooltip("ci_low:Q", format=".3f", title="interval low"),
        alt.Tooltip("ci_high:Q", format=".3f", title="interval high"),
        alt.Tooltip("n:Q", format=",.0f", title="n (denominator)"),
        alt.Tooltip("unlabeled_share:Q", format=".0%", title="unlabeled"),
    ]
    base = alt.Chart(data).encode(x=x, tooltip=tooltip)
    band = base.mark_area(opacity=0.18).encode(
        y=alt.Y("ci_low:Q", title=metric, scale=alt.Scale(zero=False)), y2="ci_high:Q", color=color
    )
    line = base.mark_line(point=True).encode(y="value:Q", color=color)
    layers: list = [band, line]
    if fitted is not None and fitted.height:
        fit = (
            fitted.with_columns(group_label(by))
            if by
            else fitted.with_columns(pl.lit("overall").alias("group"))
        )
        if axis == "calendar":
            fit = fit.with_columns(pl.col("period").cast(pl.Datetime("us")))
        fit = fit.select("group", "period", "fit", "fit_low", "fit_high").sort("group", "period")
        fit_tip = [
            alt.Tooltip("group:N"),
            alt.Tooltip("period:T" if axis == "calendar" else "period:Q", title="period"),
            alt.Tooltip("fit:Q", format=".3f", title="fitted"),
            alt.Tooltip("fit_low:Q", format=".3f", title="band low"),
            alt.Tooltip("fit_high:Q", format=".3f", title="band high"),
        ]
        fbase = alt.Chart(fit).encode(x=x, tooltip=fit_tip)
        fcolor = color if by else alt.value(FIT_COLOR)
        layers.append(
            fbase.mark_area(opacity=0.12).encode(y="fit_low:Q", y2="fit_high:Q", color=fcolor)
        )
        layers.append(fbase.mark_line(strokeDash=[6, 3]).encode(y="fit:Q", color=fcolor))
    if threshold is not None:
        rule = pl.DataFrame({"threshold": [float(threshold)]})
        layers.append(
            alt.Chart(rule)
            .mark_rule(color=CROSS_COLOR, strokeDash=[4, 3])
            .encode(y="threshold:Q", tooltip=[alt.Tooltip("threshold:Q", format=".3f")])
        )
    if crossing is not None and crossing.height:
        cross = crossing.filter(pl.col("estimate").is_not_null())
        if cross.height:
            if axis == "calendar":
                cross = cross.with_columns(
                    pl.col(c).cast(pl.Datetime("us")) for c in ("estimate", "ci_low", "ci_high")
                )
            cross = cross.select("estimate", "ci_low", "ci_high", "threshold", "status")
            ctype = "T" if axis == "calendar" else "Q"
            ctip = [
                alt.Tooltip(f"estimate:{ctype}", title="crossing"),
                alt.Tooltip(f"ci_low:{ctype}", title="interval low"),
                alt.Tooltip(f"ci_high:{ctype}", title="interval high"),
                alt.Tooltip("threshold:Q", format=".3f"),
            ]
            cbase = alt.Chart(cross)
            layers.append(
                cbase.mark_rect(opacity=0.12, color=CROSS_COLOR).encode(
                    x=f"ci_low:{ctype}", x2=f"ci_high:{ctype}", tooltip=ctip
                )
            )
            layers.append(
                cbase.mark_rule(color=CROSS_COLOR).encode(x=f"estimate:{ctype}", tooltip=ctip)
            )
    if changepoints is not None and changepoints.height:
        cp = changepoints.select("period", "before", "after", "p_value")
        if axis == "calendar":
            cp = cp.with_columns(pl.col("period").cast(pl.Datetime("us")))
        ptype = "T" if axis == "calendar" else "Q"
        layers.append(
            alt.Chart(cp)
            .mark_rule(color=SMALL_COLOR, strokeWidth=2, strokeDash=[2, 2])
            .encode(
                x=f"period:{ptype}",
                tooltip=[
                    alt.Tooltip(f"period:{ptype}", title="change point"),
                    alt.Tooltip("before:Q", format=".3f"),
                    alt.Tooltip("after:Q", format=".3f"),
                    alt.Tooltip("p_value:Q", format=".2g", title="p"),
                ],
            )
        )
    title = f"{metric} per {unit} with its interval"
    if fitted is not None:
        title += "; dashed: fitted trend and band"
    if threshold is not None:
        title += "; red: threshold and projected crossing"
    if changepoints is not None and changepoints.height:
        title += "; dotted: change points"
    return alt.layer(*layers).properties(width=width, height=height, title=title)


def drift_heatmap(
    table: pl.DataFrame, *, value: str = "distance", width: int | None = None
) -> alt.Chart:
    """Columns x periods: colour = Jensen-Shannon distance to the reference; a dot marks
    the cells flagged ``drifted`` (sample-size aware test).

    Examples
    --------
    >>> import aidebt as ad
    >>> logs = ad.datasets.demo(2_000, months=3)
    >>> r = ad.drift_over_time(logs, "ts", ["intent", "score"])
    >>> type(drift_heatmap(r.table)).__name__
    'LayerChart'
    """
    data = table.with_columns(
        pl.col("period").cast(pl.String).alias("period_label"),
        pl.when(pl.col("drifted")).then(pl.lit("●")).otherwise(pl.lit("")).alias("mark"),
    ).select(
        "column",
        "period_label",
        value,
        "psi",
        "p_value",
        "n",
        "drifted",
        "mark",
        "kind",
        pl.col("top_change").fill_null(""),
    )
    tooltip = [
        alt.Tooltip("column:N"),
        alt.Tooltip("period_label:N", title="period"),
        alt.Tooltip(
            f"{value}:Q", format=".3f", title="JS distance" if value == "distance" else value
        ),
        alt.Tooltip("psi:Q", format=".3f", title="PSI"),
        alt.Tooltip("p_value:Q", format=".2g", title="p"),
        alt.Tooltip("n:Q", format=",.0f", title="n (current)"),
        alt.Tooltip("drifted:N"),
        alt.Tooltip("top_change:N", title="largest change"),
    ]
    base = alt.Chart(data).encode(
        x=alt.X("period_label:O", title=None),
        y=alt.Y("column:N", title=None),
        tooltip=tooltip,
    )
    cells = base.mark_rect().encode(
        color=alt.Color(
            f"{value}:Q",
            title="JS distance" if value == "distance" else value,
            scale=alt.Scale(scheme="orangered", domainMin=0),
        ),
    )
    marks = base.mark_text(color="black", fontSize=11).encode(text="mark:N")
    size = {"width": width} if width else {"width": alt.Step(36)}
    return alt.layer(cells, marks).properties(
        **size,
        height=alt.Step(22),
        title="Drift from the reference (colour: JS distance; dot: drifted at the test's level)",
    )


def coverage_chart(
    table: pl.DataFrame, *, metric: str | None = None, width: int = 520
) -> alt.VConcatChart:
    """Golden-set decay: the uncovered share of traffic and the eval-vs-production
    distance per period; below, the post-stratified eval metric (with its interval) next to
    the raw eval metric.

    Examples
    --------
    >>> import aidebt as ad
    >>> c = ad.coverage(ad.datasets.demo_eval(500), ad.datasets.demo(2_000, months=3),
    ...                 by="intent", time="ts")
    >>> type(coverage_chart(c.table)).__name__
    'VConcatChart'
    """
    data = table.with_columns(pl.col("period").cast(pl.Datetime("us")))
    long = data.unpivot(
        on=["uncovered_share", "js_distance"],
        index=["period", "rows"],
        variable_name="measure",
        value_name="share",
    ).with_columns(
        pl.col("measure").replace(
            {
                "uncovered_share": "uncovered share of traffic",
                "js_distance": "JS distance, eval vs production mix",
            }
        )
    )
    top = (
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=alt.X("period:T", title=None),
            y=alt.Y("share:Q", title="share / distance", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("measure:N", title=None, legend=alt.Legend(orient="top")),
            tooltip=[
                alt.Tooltip("period:T"),
                alt.Tooltip("measure:N"),
                alt.Tooltip("share:Q", format=".3f"),
                alt.Tooltip("rows:Q", format=",.0f", title="production rows"),
            ],
        )
        .properties(
            width=width, height=160, title="How much of production the eval set still covers"
        )
    )
    charts = [top]
    if "value" in data.columns and data["value"].is_not_null().any():
        name = metric or (data["metric"][0] if "metric" in data.columns else "metric")
        tip = [
            alt.Tooltip("period:T"),
            alt.Tooltip("value:Q", format=".3f", title="post-stratified"),
            alt.Tooltip("ci_low:Q", format=".3f", title="interval low"),
            alt.Tooltip("ci_high:Q", format=".3f", title="interval high"),
            alt.Tooltip("n_eff:Q", format=",.0f", title="effective n"),
            alt.Tooltip("raw_value:Q", format=".3f", title="raw eval"),
            alt.Tooltip("gap:Q", format="+.3f"),
        ]
        base = alt.Chart(data).encode(x=alt.X("period:T", title=None), tooltip=tip)
        post = [
            base.mark_area(opacity=0.18, color=MAIN_COLOR).encode(
                y=alt.Y("ci_low:Q", title=name, scale=alt.Scale(zero=False)), y2="ci_high:Q"
            ),
            base.mark_line(point=True, color=MAIN_COLOR).encode(y="value:Q"),
            base.mark_area(opacity=0.10, color=SMALL_COLOR).encode(
                y="raw_ci_low:Q", y2="raw_ci_high:Q"
            ),
            base.mark_line(color=SMALL_COLOR, strokeDash=[5, 3]).encode(y="raw_value:Q"),
        ]
        charts.append(
            alt.layer(*post).properties(
                width=width,
                height=200,
                title=f"{name}: eval set re-weighted to each month's traffic (blue) vs raw eval (grey)",
            )
        )
    return alt.vconcat(*charts)


# ======================================================================================
# Simpson's-paradox chart (aidebt.simpson)
# ======================================================================================
BASELINE_COLOR = "#7f8c8d"
LEVEL_COLOR = "#e67e22"


def reversal(
    table: pl.DataFrame,
    *,
    stratifier: str,
    level: str,
    baseline: str,
    value_title: str = "value",
    percent: bool = True,
    title: str | None = None,
    width: int = 460,
    max_strata: int = 40,
) -> alt.VConcatChart:
    """Both arms per stratum with intervals, their aggregates, and the mix behind them.

    ``table`` is long: one row per (``stratum``, ``arm``) with ``value``, ``ci_low``,
    ``ci_high``, ``n``, ``share`` (the arm's share of its rows in the stratum), ``diff``
    and ``is_all`` (the pooled rows, drawn as dashed lines across the panel). ``arm`` is
    ``level`` (orange) or ``baseline`` (grey).

    Top panel: per stratum, each arm's value and interval (point area: the arm's rows in
    that stratum); dashed lines: each arm's aggregate value. A reversal reads at a glance:
    one colour above the other in every stratum, below it on the dashed lines. Bottom
    panel: each arm's share of its rows per stratum, the mix that causes it. Strata are
    sorted by value, lowest first; with more than ``max_strata``, the largest are shown.

    Examples
    --------
    >>> import aidebt as ad
    >>> s = ad.simpson(ad.datasets.demo(2_000, months=2), "y_true", "prompt_version",
    ...                strata="tier")
    >>> type(s.chart()).__name__
    'VConcatChart'
    """
    base = baseline
    parts = table.filter(~pl.col("is_all"))
    sizes = parts.group_by("stratum").agg(pl.col("n").sum().alias("_size"))
    keep = sizes.sort("_size", descending=True).head(max_strata).get_column("stratum")
    parts = parts.filter(pl.col("stratum").is_in(keep.implode()))
    order = (
        parts.group_by("stratum")
        .agg(((pl.col("value") * pl.col("n")).sum() / pl.col("n").sum()).alias("_v"))
        .sort("_v", nulls_last=True)
        .get_column("stratum")
        .to_list()
    )
    pooled = table.filter(pl.col("is_all")).with_columns(
        label=pl.concat_str(
            [
                pl.col("arm"),
                pl.lit(" overall: "),
                (pl.col("value") * 100).round(1).cast(pl.String) + pl.lit("%")
                if percent
                else pl.col("value").round(3).cast(pl.String),
            ]
        )
    )
    fmt = ".1%" if percent else ".3g"
    color = alt.Color(
        "arm:N",
        scale=alt.Scale(domain=[base, level], range=[BASELINE_COLOR, LEVEL_COLOR]),
        title=None,
        legend=alt.Legend(orient="top"),
    )
    x = alt.X("stratum:N", sort=order, title=stratifier, axis=alt.Axis(labelAngle=0))
    offset = alt.XOffset("arm:N", sort=[base, level])
    tooltip = [
        alt.Tooltip("stratum:N", title=stratifier),
        alt.Tooltip("arm:N"),
        alt.Tooltip("value:Q", format=fmt, title=value_title),
        alt.Tooltip("ci_low:Q", format=fmt, title="interval low"),
        alt.Tooltip("ci_high:Q", format=fmt, title="interval high"),
        alt.Tooltip("n:Q", format=",.0f", title="n (rows of this arm)"),
        alt.Tooltip("share:Q", format=".1%", title="share of the arm's rows"),
        alt.Tooltip("diff:Q", format="+.3f", title="difference (level - baseline)"),
    ]
    y = alt.Y("value:Q", title=value_title, scale=alt.Scale(zero=False), axis=alt.Axis(format=fmt))
    base_chart = alt.Chart(parts).encode(x=x, xOffset=offset, color=color, tooltip=tooltip)
    bars = base_chart.mark_rule(strokeWidth=2).encode(y=alt.Y("ci_low:Q"), y2="ci_high:Q")
    points = base_chart.mark_circle(opacity=0.9).encode(
        y=y, size=alt.Size("n:Q", title="rows", scale=alt.Scale(range=[30, 400]), legend=None)
    )
    overall = alt.Chart(pooled).encode(
        y=alt.Y("value:Q"),
        color=color,
        tooltip=[
            alt.Tooltip("arm:N"),
            alt.Tooltip("value:Q", format=fmt, title=f"aggregate {value_title}"),
            alt.Tooltip("ci_low:Q", format=fmt, title="interval low"),
            alt.Tooltip("ci_high:Q", format=fmt, title="interval high"),
            alt.Tooltip("n:Q", format=",.0f", title="n"),
        ],
    )
    lines = overall.mark_rule(strokeDash=[6, 4], strokeWidth=2)
    labels = overall.mark_text(align="right", dy=-6, x="width", fontWeight="bold").encode(
        text="label:N"
    )
    top = alt.layer(bars, points, lines, labels).properties(
        width=width,
        height=240,
        title=alt.TitleParams(
            title or f"{value_title} by {stratifier}",
            subtitle="Points: each arm within a stratum (area = rows); dashed: each arm overall",
        ),
    )
    mix = (
        alt.Chart(parts)
        .mark_bar()
        .encode(
            x=x,
            xOffset=offset,
            y=alt.Y("share:Q", title="share of the arm's rows", axis=alt.Axis(format="%")),
            color=color,
            tooltip=tooltip,
        )
        .properties(width=width, height=110, title="The mix: where each arm's rows are")
    )
    return alt.vconcat(top, mix).resolve_scale(color="shared")



# ======================================================================================
# Feedback: implicit labels, ratings, and the correction for who rates (aidebt.feedback)
# ======================================================================================
FEEDBACK_NAMES = {
    "explicit_rate": "raw ratings",
    "explicit_corrected": "ratings corrected for who rates",
    "implicit_rate": "implicit label",
    "response_rate": "share of answers rated",
    "reviewed_rate": "share of answers reviewed",
    "gap": "raw minus corrected",
}
"""Legend names of the feedback metrics."""
FEEDBACK_COLORS = {
    "explicit_rate": REF_COLOR,
    "explicit_corrected": FIT_COLOR,
    "implicit_rate": MAIN_COLOR,
    "response_rate": "#7f8c8d",
    "reviewed_rate": "#27ae60",
    "gap": "#8e44ad",
}


def _feedback_rows(table: pl.DataFrame, metrics: Sequence[str]) -> pl.DataFrame:
    names = {m: FEEDBACK_NAMES.get(m, m) for m in metrics}
    return table.filter(
        pl.col("metric").is_in(list(metrics)) & pl.col("value").is_not_null()
    ).with_columns(
        series=pl.col("metric").replace_strict(names, default=pl.col("metric")),
        note=pl.col("note").fill_null(""),
    )


def _feedback_color(metrics: Sequence[str]) -> alt.Color:
    """One fixed colour per metric, whatever the chart: raw red, corrected orange..."""
    domain = [FEEDBACK_NAMES.get(m, m) for m in metrics]
    colors = [FEEDBACK_COLORS.get(m, SMALL_COLOR) for m in metrics]
    return alt.Color(
        "series:N",
        title=None,
        scale=alt.Scale(domain=domain, range=colors),
        legend=alt.Legend(orient="bottom", columns=1, labelLimit=0),
    )


def _feedback_tooltip(x: alt.Tooltip) -> list:
    return [
        x,
        alt.Tooltip("series:N", title="measure"),
        alt.Tooltip("value:Q", format=".1%"),
        alt.Tooltip("ci_low:Q", format=".1%", title="interval low"),
        alt.Tooltip("ci_high:Q", format=".1%", title="interval high"),
        alt.Tooltip("n:Q", format=",.0f", title="n (denominator)"),
        alt.Tooltip("interactions:Q", format=",.0f", title="answers"),
        alt.Tooltip("note:N"),
    ]


def feedback_over_time(
    overall: pl.DataFrame,
    *,
    metrics: Sequence[str] = ("explicit_rate", "explicit_corrected", "implicit_rate"),
    unit: str = "month",
    width: int = 560,
    height: int = 260,
) -> alt.LayerChart:
    """Raw vs corrected ratings vs the implicit label per period, each with its band.

    ``overall`` is :attr:`aidebt.feedback.Feedback.overall` of a result with periods.

    Examples
    --------
    >>> import datetime as dt, polars as pl
    >>> from aidebt.feedback import feedback
    >>> df = pl.DataFrame({"ts": [dt.date(2026, 1, 5), dt.date(2026, 2, 5)] * 4,
    ...                    "implicit": [1, 0, 1, 1, 0, 1, 1, 0], "rating": [1, 0, None, None, 0, 1, None, None]})
    >>> fb = feedback(df, implicit="implicit", explicit="rating", time="ts", every="1mo")
    >>> type(feedback_over_time(fb.overall)).__name__
    'LayerChart'
    """
    data = (
        _feedback_rows(overall, metrics)
        .with_columns(pl.col("period").cast(pl.Datetime("us")))
        .select("period", "series", "value", "ci_low", "ci_high", "n", "interactions", "note")
    )
    tooltip = _feedback_tooltip(alt.Tooltip("period:T", title="period"))
    base = alt.Chart(data).encode(x=alt.X("period:T", title=None), tooltip=tooltip)
    band = base.mark_area(opacity=0.15).encode(
        y=alt.Y("ci_low:Q", title="share", axis=alt.Axis(format="%"), scale=alt.Scale(zero=False)),
        y2="ci_high:Q",
        color=_feedback_color(metrics),
    )
    line = base.mark_line(point=True).encode(y="value:Q", color=_feedback_color(metrics))
    # The line first: the legend takes its symbols from the first layer.
    return alt.layer(line, band).properties(
        width=width, height=height, title=f"Satisfaction per {unit}, each with its interval"
    )


def feedback_by_segment(
    table: pl.DataFrame,
    *,
    by: Sequence[str] = (),
    metrics: Sequence[str] = ("explicit_rate", "explicit_corrected", "implicit_rate"),
    width: int = 420,
) -> alt.Chart:
    """One row per segment: each metric's value and interval, the overall row on top.

    ``table`` is :attr:`aidebt.feedback.Feedback.table` (without periods).

    Examples
    --------
    >>> import polars as pl
    >>> from aidebt.feedback import feedback
    >>> df = pl.DataFrame({"g": ["a", "b"] * 4, "implicit": [1, 0, 1, 1, 0, 1, 1, 0],
    ...                    "rating": [1, 0, None, None, 0, 1, None, None]})
    >>> fb = feedback(df, implicit="implicit", explicit="rating", by="g")
    >>> type(feedback_by_segment(fb.table, by=["g"])).__name__
    'LayerChart'
    """
    data = _feedback_rows(table, metrics).with_columns(group_label(list(by)))
    data = data.select("group", "series", "value", "ci_low", "ci_high", "n", "interactions", "note")
    color = _feedback_color(metrics)
    tooltip = _feedback_tooltip(alt.Tooltip("group:N", title="segment"))
    y = alt.Y("group:N", title=None, sort=None)
    offset = alt.YOffset("series:N")
    base = alt.Chart(data).encode(y=y, yOffset=offset, tooltip=tooltip, color=color)
    bars = base.mark_rule(strokeWidth=2).encode(
        x=alt.X("ci_low:Q", title="share", axis=alt.Axis(format="%"), scale=alt.Scale(zero=False)),
        x2="ci_high:Q",
    )
    points = base.mark_point(filled=True, size=50).encode(x="value:Q")
    return alt.layer(bars, points).properties(
        width=width,
        height=alt.Step(10),
        title="Each segment's value and interval; (all): every segment together",
    )


def feedback_funnel(funnel: pl.DataFrame, *, width: int = 420) -> alt.Chart:
    """Bars from answers to each kind of label (:meth:`aidebt.feedback.Feedback.funnel`).

    Examples
    --------
    >>> import polars as pl
    >>> f = pl.DataFrame({"stage": ["answers", "rated by the user"], "answers": [100.0, 2.0],
    ...                   "share": [1.0, 0.02]})
    >>> type(feedback_funnel(f)).__name__
    'LayerChart'
    """
    tooltip = [
        alt.Tooltip("stage:N"),
        alt.Tooltip("answers:Q", format=",.0f"),
        alt.Tooltip("share:Q", format=".1%", title="share of answers"),
    ]
    base = alt.Chart(funnel).encode(
        y=alt.Y("stage:N", sort=None, title=None),
        tooltip=tooltip,
    )
    bars = base.mark_bar(color=MAIN_COLOR).encode(
        x=alt.X("answers:Q", title="answers", axis=alt.Axis(format=",.0f"))
    )
    text = base.mark_text(align="left", dx=3).encode(
        x="answers:Q", text=alt.Text("share:Q", format=".1%")
    )
    return alt.layer(bars, text).properties(
        width=width, height=alt.Step(22), title="From answers to labels"
    )
