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
        x=alt.X("ci_low:Q", title="value with interval", scale=alt.Scale(zero=False)),
        x2="ci_high:Q",
        color=color,
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
# Lifecycle charts (aidebt.lifecycle): clocks timeline, adoption, retention, Lorenz, cost
# ======================================================================================
STATUS_COLORS = {"overdue": "#c0392b", "warn": "#e67e22", "ok": "#27ae60"}


def _status_scale() -> alt.Scale:
    return alt.Scale(domain=list(STATUS_COLORS), range=list(STATUS_COLORS.values()))


def clocks_timeline(table: pl.DataFrame, *, as_of, width: int = 560) -> alt.LayerChart:
    """Every lifecycle clock on one time axis: a bar from its start (``since``) to its
    deadline, or to today when it has none or is past it (the debt still running),
    coloured by status; a diamond at each deadline; a black line at today.

    Examples
    --------
    >>> import aidebt as ad
    >>> from aidebt.lifecycle import clocks
    >>> c = clocks(ad.datasets.demo_registry(), as_of="2026-11")
    >>> type(clocks_timeline(c.table, as_of=c.as_of)).__name__
    'LayerChart'
    """
    today = pl.lit(as_of, pl.Date)
    data = (
        table.with_columns(
            start=pl.coalesce(pl.col("since"), today),
            end=pl.max_horizontal(pl.coalesce(pl.col("deadline"), today), today),
            share=pl.col("traffic_share").fill_null(-1.0),
        )
        .with_columns(
            pl.col("start").cast(pl.Datetime("us")),
            pl.col("end").cast(pl.Datetime("us")),
            pl.col("deadline").cast(pl.Datetime("us")),
        )
        .select(
            "clock",
            "item",
            "start",
            "end",
            "deadline",
            "days_left",
            "status",
            "share",
            "reason",
        )
    )
    tooltip = [
        alt.Tooltip("item:N"),
        alt.Tooltip("clock:N"),
        alt.Tooltip("status:N"),
        alt.Tooltip("start:T", title="since"),
        alt.Tooltip("deadline:T", title="deadline"),
        alt.Tooltip("days_left:Q", title="days left"),
        alt.Tooltip("share:Q", format=".1%", title="traffic share (-1: unknown)"),
        alt.Tooltip("reason:N"),
    ]
    y = alt.Y("item:N", title=None, sort=None, axis=alt.Axis(labelLimit=260))
    color = alt.Color("status:N", scale=_status_scale(), legend=alt.Legend(orient="top"))
    base = alt.Chart(data).encode(y=y, tooltip=tooltip)
    bars = base.mark_bar(height=10, opacity=0.75).encode(
        x=alt.X("start:T", title=None), x2="end:T", color=color
    )
    marks = (
        base.transform_filter("datum.deadline != null")
        .mark_point(shape="diamond", size=90, filled=True)
        .encode(x="deadline:T", color=color)
    )
    now = pl.DataFrame({"today": [as_of]}).with_columns(pl.col("today").cast(pl.Datetime("us")))
    rule = (
        alt.Chart(now)
        .mark_rule(color="black", strokeWidth=2)
        .encode(x="today:T", tooltip=[alt.Tooltip("today:T", title="as of")])
    )
    return alt.layer(bars, marks, rule).properties(
        width=width,
        height=alt.Step(22),
        title="Each clock from its start to its deadline (diamond); black line: the audit date",
    )


def adoption_curve(
    table: pl.DataFrame, *, by: Sequence[str] = (), unit: str = "week", width: int = 560
) -> alt.LayerChart:
    """Adoption per period (share of active users who used the feature) with its band.

    Examples
    --------
    >>> import aidebt as ad
    >>> from aidebt.lifecycle import adoption
    >>> a = adoption(ad.datasets.demo_usage(300, 6), user="user_id", time="ts", feature="used_ai")
    >>> type(adoption_curve(a.table)).__name__
    'LayerChart'
    """
    by = list(by)
    data = (
        table.with_columns(group_label(by), pl.col("period").cast(pl.Datetime("us")))
        .filter(pl.col("adoption").is_not_null())
        .select("group", "period", "adoption", "ci_low", "ci_high", "active_users", "feature_users")
    )
    tooltip = [
        alt.Tooltip("group:N"),
        alt.Tooltip("period:T", title=f"{unit} of"),
        alt.Tooltip("adoption:Q", format=".1%"),
        alt.Tooltip("ci_low:Q", format=".1%", title="interval low"),
        alt.Tooltip("ci_high:Q", format=".1%", title="interval high"),
        alt.Tooltip("feature_users:Q", format=",.0f", title="feature users"),
        alt.Tooltip("active_users:Q", format=",.0f", title="active users"),
    ]
    color = alt.Color("group:N", title=", ".join(by)) if by else alt.value(MAIN_COLOR)
    base = alt.Chart(data).encode(x=alt.X("period:T", title=None), tooltip=tooltip)
    band = base.mark_area(opacity=0.18).encode(
        y=alt.Y("ci_low:Q", title="share of active users", axis=alt.Axis(format="%")),
        y2="ci_high:Q",
        color=color,
    )
    line = base.mark_line(point=True).encode(y="adoption:Q", color=color)
    return alt.layer(band, line).properties(
        width=width, height=220, title=f"Adoption per {unit}, with its interval"
    )


def retention_heatmap(table: pl.DataFrame, *, unit: str = "week", width: int | None = None):
    """First-use cohorts (rows) x periods since first use (columns), colour = retention.

    Examples
    --------
    >>> import aidebt as ad
    >>> from aidebt.lifecycle import adoption
    >>> a = adoption(ad.datasets.demo_usage(300, 6), user="user_id", time="ts", feature="used_ai")
    >>> type(retention_heatmap(a.cohorts().table)).__name__
    'Chart'
    """
    data = table.with_columns(pl.col("cohort").cast(pl.String).alias("cohort_label")).select(
        "cohort_label", "periods_since", "cohort_size", "users", "retention", "ci_low", "ci_high"
    )
    size = {"width": width} if width else {"width": alt.Step(18)}
    return (
        alt.Chart(data)
        .mark_rect()
        .encode(
            x=alt.X("periods_since:O", title=f"{unit}s since first use"),
            y=alt.Y("cohort_label:O", title="first use in the " + unit + " of"),
            color=alt.Color(
                "retention:Q", scale=alt.Scale(scheme="blues", domain=[0, 1]), title="still using"
            ),
            tooltip=[
                alt.Tooltip("cohort_label:N", title="cohort"),
                alt.Tooltip("periods_since:Q", title=f"{unit}s later"),
                alt.Tooltip("retention:Q", format=".0%"),
                alt.Tooltip("ci_low:Q", format=".0%", title="interval low"),
                alt.Tooltip("ci_high:Q", format=".0%", title="interval high"),
                alt.Tooltip("users:Q", format=",.0f", title="still using"),
                alt.Tooltip("cohort_size:Q", format=",.0f", title="cohort size"),
            ],
        )
        .properties(
            **size, height=alt.Step(14), title="Share of each first-use cohort still using it"
        )
    )


def lorenz_chart(lorenz: pl.DataFrame, *, by: Sequence[str] = (), width: int = 320):
    """The Lorenz curve of uses over users, per segment, with the line of equality.

    Examples
    --------
    >>> import aidebt as ad
    >>> from aidebt.lifecycle import adoption
    >>> a = adoption(ad.datasets.demo_usage(300, 6), user="user_id", time="ts", feature="used_ai")
    >>> type(lorenz_chart(a.concentration().lorenz)).__name__
    'LayerChart'
    """
    by = list(by)
    data = lorenz.with_columns(group_label(by)).select("group", "user_share", "use_share")
    if data.height > 2000:  # thin very long curves: keep their shape, not every corner
        step = data.height // 2000 + 1
        data = data.filter((pl.int_range(pl.len()) % step == 0) | (pl.col("user_share") == 1.0))
    equality = pl.DataFrame({"user_share": [0.0, 1.0], "use_share": [0.0, 1.0]})
    color = alt.Color("group:N", title=", ".join(by)) if by else alt.value(MAIN_COLOR)
    curve = (
        alt.Chart(data)
        .mark_line()
        .encode(
            x=alt.X(
                "user_share:Q",
                title="share of its users (lightest first)",
                axis=alt.Axis(format="%"),
            ),
            y=alt.Y("use_share:Q", title="share of its uses", axis=alt.Axis(format="%")),
            color=color,
            order="user_share:Q",
            tooltip=[
                alt.Tooltip("group:N"),
                alt.Tooltip("user_share:Q", format=".1%", title="users"),
                alt.Tooltip("use_share:Q", format=".1%", title="uses"),
            ],
        )
    )
    diag = (
        alt.Chart(equality)
        .mark_line(color=SMALL_COLOR, strokeDash=[4, 3])
        .encode(x="user_share:Q", y="use_share:Q")
    )
    return alt.layer(diag, curve).properties(
        width=width,
        height=width,
        title="Lorenz curve: the further below the diagonal, the more concentrated",
    )


def stack(charts: Sequence, **kwargs) -> alt.VConcatChart:
    """Charts one above the other, each with its own scales."""
    return alt.vconcat(*charts, **kwargs).resolve_scale(color="independent")
