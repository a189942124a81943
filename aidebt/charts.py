"""Altair charts of aidebt results, drawn from the small result tables only.

Each chart embeds just the aggregated rows it shows (a few hundred at most), so a report
page stays small and opens offline. Tooltips always carry the value, its interval and n.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import polars as pl

from aidebt.groups import label_expr

SMALL_COLOR = "#9e9e9e"
MAIN_COLOR = "#1f5f8b"
REF_COLOR = "#c0392b"


def group_label(by: Sequence[str]) -> pl.Expr:
    """One readable label per group, the rule of every result: ``language=en, tier=free``."""
    return label_expr(by, "group")


SAMPLE_LEGEND = ("enough cases", "few cases: read with care")
"""The two values of the forest plot's sample legend: firm figures, and small groups."""


def forest(
    table: pl.DataFrame,
    by: Sequence[str],
    overall: pl.DataFrame | None = None,
    *,
    width: int | None = None,
    max_groups: int = 60,
    metric_names: dict[str, str] | None = None,
    page_width: int = 860,
) -> alt.FacetChart:
    """A forest plot: one row per group, its value and interval; the reference as a red rule.

    Groups under ``min_n`` (``small_n``) are drawn hollow, grey and dashed, and the
    legend says which are which; groups with no figure (suppressed) are left out. One
    panel per metric, titled with ``metric_names`` (default: the metric's name), each
    with its own axis. With more than ``max_groups`` groups, the ones furthest from the
    reference are shown. The group labels get the room they need (as long as the plot
    keeps 300 pixels of ``page_width``) and the plot the rest, so the chart fits a page.

    Examples
    --------
    >>> import aidebt as ad
    >>> r = ad.disaggregate(ad.datasets.demo(2_000, months=2), y_true="y_true",
    ...                     y_pred="y_pred", by="language", metrics=["fnr"])
    >>> chart = forest(r.table, ["language"])
    >>> type(chart).__name__
    'FacetChart'
    """
    names = dict(metric_names or {})
    order = [names.get(m, m) for m in table.get_column("metric").unique(maintain_order=True)]
    data = (
        table.filter(pl.col("value").is_not_null())
        .with_columns(group_label(by))
        .with_columns(gap=(pl.col("diff").abs()).fill_null(0))
        .sort("gap", descending=True)
        .group_by("metric", maintain_order=True)
        .head(max_groups)
        .with_columns(
            sample=pl.when(pl.col("small_n").fill_null(False))
            .then(pl.lit(SAMPLE_LEGEND[1]))
            .otherwise(pl.lit(SAMPLE_LEGEND[0])),
            panel=pl.col("metric").replace(names) if names else pl.col("metric"),
        )
        .select(
            "group",
            "panel",
            "value",
            "ci_low",
            "ci_high",
            "n",
            "sample",
            "reference_value",
            "diff",
            "p_adjusted",
        )
    )
    longest = int(data.get_column("group").str.len_chars().max() or 8) if data.height else 8
    label_limit = min(max(80, 7 * longest), page_width - 140 - 300)  # the plot keeps 300 px
    width = width or max(240, page_width - label_limit - 140)
    tooltip = [
        alt.Tooltip("group:N", title="group"),
        alt.Tooltip("panel:N", title="measure"),
        alt.Tooltip("value:Q", format=".3f"),
        alt.Tooltip("ci_low:Q", format=".3f", title="interval low"),
        alt.Tooltip("ci_high:Q", format=".3f", title="interval high"),
        alt.Tooltip("n:Q", format=",.0f", title="n (denominator)"),
        alt.Tooltip("reference_value:Q", format=".3f", title="reference"),
        alt.Tooltip("diff:Q", format="+.3f", title="difference"),
        alt.Tooltip("p_adjusted:Q", format=".2g", title="adjusted p"),
        alt.Tooltip("sample:N", title="sample"),
    ]
    domain = list(SAMPLE_LEGEND)
    legend = alt.Legend(title="sample", orient="bottom", direction="horizontal")

    def scale(*values: str) -> alt.Scale:
        return alt.Scale(domain=domain, range=list(values))

    y = alt.Y(
        "group:N",
        sort=alt.EncodingSortField("value", order="descending"),
        title=None,
        axis=alt.Axis(labelLimit=label_limit),
    )
    color = alt.Color("sample:N", scale=scale(MAIN_COLOR, SMALL_COLOR), legend=legend)
    base = alt.Chart().encode(y=y, tooltip=tooltip)
    bars = base.mark_rule(strokeWidth=2).encode(
        x=alt.X("ci_low:Q", title="value with its 95% interval", scale=alt.Scale(zero=False)),
        x2="ci_high:Q",
        color=color,
        strokeDash=alt.StrokeDash("sample:N", scale=scale([1, 0], [4, 3]), legend=None),
    )
    points = base.mark_point(size=70, strokeWidth=1.5, opacity=1).encode(
        x="value:Q",
        color=color,
        fill=alt.Fill("sample:N", scale=scale(MAIN_COLOR, "white"), legend=legend),
        shape=alt.Shape("sample:N", scale=scale("diamond", "circle"), legend=legend),
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
            row=alt.Row(
                "panel:N",
                title=None,
                sort=order,  # the metrics in the order they were asked for
                header=alt.Header(
                    labelAngle=0,
                    labelOrient="top",
                    labelAnchor="start",
                    labelFontWeight="bold",
                    labelFontSize=12,
                    labelLimit=0,
                ),
            )
        )
        .resolve_scale(x="independent", y="independent")
        .properties(title="Each group's value and interval; red dashed line: the reference")
    )


# ======================================================================================
# Decay, drift and coverage charts (aidebt.decay, aidebt.drift)
# ======================================================================================
CROSS_COLOR = "#c0392b"
FIT_COLOR = "#e67e22"


def _x_encoding(axis: str, unit: str, field: str = "period", title: str | None = None):
    if axis == "age":
        return alt.X(f"{field}:Q", title=title or f"age ({unit}s since start)")
    if axis != "calendar":  # any numeric axis (aidebt.curve)
        return alt.X(f"{field}:Q", title=title or unit)
    return alt.X(f"{field}:T", title=title)


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
    estimated: pl.DataFrame | None = None,
    width: int = 560,
    height: int = 260,
    max_groups: int = 10,
    x_title: str | None = None,
) -> alt.LayerChart:
    """The decay curve: each period's value and interval band, with optional overlays.

    ``estimated`` (from :meth:`aidebt.estimate.Estimate.tail`: ``period``, ``estimate``,
    ``ci_low``, ``ci_high``, ``unlabeled_share``) draws the periods whose labels have not
    all arrived as an estimate: a purple dotted line with hollow points and its band,
    never as a measurement.

    ``fitted`` (from :attr:`aidebt.trend.Trend.fitted`) adds the fitted trend and its
    confidence band (dashed); ``threshold`` a horizontal red line; ``crossing`` (a
    :class:`aidebt.trend.Crossing` table) a vertical line at the projected crossing with its
    interval shaded; ``changepoints`` a grey rule at each change point. With ``by`` each
    group is a colour (the ``max_groups`` largest). ``axis``: ``"calendar"`` (dates),
    ``"age"`` or any numeric axis (``"numeric"``: :func:`aidebt.curve.curve`, whose
    ``x_title`` names it).

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
    x = _x_encoding(axis, unit, title=x_title)
    # The legend under the plot, in columns: beside it, it would push the chart off the page.
    legend = alt.Legend(orient="bottom", columns=3, labelLimit=0)
    color = (
        alt.Color("group:N", title=", ".join(by), legend=legend) if by else alt.value(MAIN_COLOR)
    )
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
    if estimated is not None and estimated.height:
        tail = estimated.select("period", "estimate", "ci_low", "ci_high", "unlabeled_share")
        if axis == "calendar":
            tail = tail.with_columns(pl.col("period").cast(pl.Datetime("us")))
        ptype = "T" if axis == "calendar" else "Q"
        etip = [
            alt.Tooltip(f"period:{ptype}", title="period"),
            alt.Tooltip("estimate:Q", format=".3f", title=f"estimated {metric}"),
            alt.Tooltip("ci_low:Q", format=".3f", title="interval low"),
            alt.Tooltip("ci_high:Q", format=".3f", title="interval high"),
            alt.Tooltip("unlabeled_share:Q", format=".0%", title="not yet labeled"),
        ]
        ebase = alt.Chart(tail).encode(x=x, tooltip=etip)
        layers.append(
            ebase.mark_area(opacity=0.15, color=ESTIMATE_COLOR).encode(y="ci_low:Q", y2="ci_high:Q")
        )
        layers.append(
            ebase.mark_line(
                strokeDash=[2, 3], color=ESTIMATE_COLOR, point={"filled": False, "fill": "white"}
            ).encode(y="estimate:Q")
        )
    keys = []  # one line each under the title, so no line is wider than the plot
    if estimated is not None and estimated.height:
        keys.append("purple dotted: estimated from the scores, labels still missing")
    if fitted is not None:
        keys.append("dashed: fitted trend and band")
    if threshold is not None:
        keys.append("red: threshold and projected crossing")
    if changepoints is not None and changepoints.height:
        keys.append("dotted: change points")
    title = alt.TitleParams(
        f"{metric} per {unit} with its interval", **({"subtitle": keys} if keys else {})
    )
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
    # 36 px a period, up to what a report page holds (two years of months still fit).
    periods = data.get_column("period_label").n_unique()
    size = (
        {"width": width} if width else {"width": alt.Step(min(36, max(14, 640 // max(periods, 1))))}
    )
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
            color=alt.Color("measure:N", title=None, legend=alt.Legend(orient="top", labelLimit=0)),
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
# Gate checks (aidebt.gates)
# ======================================================================================
def gate_chart(table: pl.DataFrame, stages: Sequence[str], *, width: int = 360) -> alt.FacetChart:
    """Each judged gate value with its interval against its bound, one panel per stage.

    ``table`` is a :class:`aidebt.gates.GateCheck` table; ``stages`` the panel order.
    Metric, disparity, trend and fairness rows; green passes, red fails (or fired), grey skipped.
    """
    data = (
        table.filter(pl.col("criterion").str.contains(r"^(metrics|disparity|trend|fairness)\."))
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
        .facet(row=alt.Row("stage:N", title=None, sort=list(stages)))
        .resolve_scale(y="independent", x="independent")
        .properties(title="Gate criteria: each value, its interval and its bound")
    )


# ======================================================================================
# Version comparisons (aidebt.compare)
# ======================================================================================
def comparison(
    data: pl.DataFrame, *, baseline: str, order: Sequence[str], width: int = 420
) -> alt.FacetChart:
    """Each version's difference to the baseline with its interval, per segment; zero as a
    red rule. ``data``: one row per (version, segment, metric) with ``diff``,
    ``diff_ci_low``, ``diff_ci_high``, ``value``, ``baseline_value``, ``n``,
    ``baseline_n`` and ``kind`` (``difference`` or ``segment-adjusted``); ``order``: the
    segments top to bottom. One panel per (metric, version).
    """
    tooltip = [
        alt.Tooltip("version:N"),
        alt.Tooltip("segment:N"),
        alt.Tooltip("metric:N"),
        alt.Tooltip("diff:Q", format="+.3f", title=f"difference to {baseline}"),
        alt.Tooltip("diff_ci_low:Q", format="+.3f", title="interval low"),
        alt.Tooltip("diff_ci_high:Q", format="+.3f", title="interval high"),
        alt.Tooltip("value:Q", format=".3f", title="version value"),
        alt.Tooltip("baseline_value:Q", format=".3f", title="baseline value"),
        alt.Tooltip("n:Q", format=",.0f", title="n (version)"),
        alt.Tooltip("baseline_n:Q", format=",.0f", title="n (baseline)"),
    ]
    y = alt.Y("segment:N", sort=order, title=None)
    color = alt.Color("kind:N", title=None)
    base = alt.Chart().encode(y=y, tooltip=tooltip, color=color)
    bars = base.mark_rule(strokeWidth=2).encode(
        x=alt.X("diff_ci_low:Q", title=f"difference to {baseline} (with interval)"),
        x2="diff_ci_high:Q",
    )
    points = base.mark_point(size=60, filled=True).encode(x="diff:Q")
    zero = alt.Chart().mark_rule(color="#c0392b", strokeDash=[4, 3]).encode(x=alt.datum(0))
    layered = alt.layer(bars, points, zero, data=data).properties(width=width, height=alt.Step(16))
    return (
        layered.facet(row=alt.Row("metric:N", title=None), column=alt.Column("version:N"))
        .resolve_scale(x="independent")
        .properties(title=f"Each version minus {baseline}; red line: no difference")
    )


# ======================================================================================
# Slice-discovery chart (aidebt.slices)
# ======================================================================================
def slice_forest(
    table: pl.DataFrame,
    *,
    metric: str,
    percent: bool = True,
    confidence: float = 0.95,
    width: int = 420,
) -> alt.LayerChart:
    """The discovered slices against the rest of the data: a forest plot with size.

    One row per slice (``table`` is :attr:`aidebt.slices.Slices.table`), in the table's
    order (largest excess first): the slice's value and interval in blue, point area
    proportional to the slice's ``n``; the value over the rest of the data as a red tick
    on the same row, so each slice is read against its own comparison.

    Examples
    --------
    >>> import aidebt as ad
    >>> from aidebt.slices import slices
    >>> s = slices(ad.datasets.demo(4_000, months=2), y_true="y_true", y_pred="y_pred",
    ...            metric="fnr")
    >>> type(s.chart()).__name__
    'LayerChart'
    """
    fmt = ".1%" if percent else ".3g"
    data = table.select(
        "slice",
        "value",
        "ci_low",
        "ci_high",
        "rest_value",
        "diff",
        "ratio",
        "n",
        "excess",
        "q_value",
    ).with_row_index("order")
    order = data.get_column("slice").to_list()
    y = alt.Y("slice:N", sort=order, title=None, axis=alt.Axis(labelLimit=360))
    tooltip = [
        alt.Tooltip("slice:N"),
        alt.Tooltip("value:Q", format=fmt, title=metric),
        alt.Tooltip("ci_low:Q", format=fmt, title=f"{confidence:.0%} interval low"),
        alt.Tooltip("ci_high:Q", format=fmt, title=f"{confidence:.0%} interval high"),
        alt.Tooltip("rest_value:Q", format=fmt, title="rest of the data"),
        alt.Tooltip("ratio:Q", format=".2f", title="ratio to the rest"),
        alt.Tooltip("n:Q", format=",.0f", title="n (denominator)"),
        alt.Tooltip("excess:Q", format=",.0f", title="excess"),
        alt.Tooltip("q_value:Q", format=".2g", title="q-value"),
    ]
    base = alt.Chart(data).encode(y=y, tooltip=tooltip)
    x_title = f"{metric}: slice (blue, {confidence:.0%} interval) vs the rest of the data (red)"
    bars = base.mark_rule(strokeWidth=2, color=MAIN_COLOR).encode(
        x=alt.X("ci_low:Q", title=x_title, axis=alt.Axis(format=fmt)), x2="ci_high:Q"
    )
    points = base.mark_circle(color=MAIN_COLOR, opacity=0.9).encode(
        x="value:Q",
        size=alt.Size("n:Q", title="n", scale=alt.Scale(range=[30, 400])),
    )
    rest = base.mark_tick(color=REF_COLOR, thickness=2, size=14).encode(x="rest_value:Q")
    return alt.layer(bars, points, rest).properties(
        width=width,
        height=alt.Step(18),
        title="Slices worse than the rest of the data (point size: n)",
    )


# ======================================================================================
# Label charts (aidebt.labels): rater agreement heat map, label-source cost frontier
# ======================================================================================


def agreement_heatmap(pairs: pl.DataFrame, *, width: int = 360) -> alt.Chart:
    """Rater x rater agreement (Cohen's kappa) as a heat map; the ``(rest)`` column is
    each rater's alpha against the other raters, so a sloppy rater's row stands out.

    Examples
    --------
    >>> import polars as pl
    >>> pairs = pl.DataFrame({"rater_a": ["a", "b", "a"], "rater_b": ["b", "a", "(rest)"],
    ...     "n_items": [10.0, 10.0, 10.0], "agreement": [0.9, 0.9, None],
    ...     "kappa": [0.8, 0.8, 0.7], "ci_low": [0.6, 0.6, 0.5], "ci_high": [1.0, 1.0, 0.9]})
    >>> type(agreement_heatmap(pairs)).__name__
    'LayerChart'
    """
    data = pairs.select("rater_a", "rater_b", "n_items", "agreement", "kappa", "ci_low", "ci_high")
    raters = sorted(data["rater_a"].unique().to_list())
    order = [*raters, "(rest)"]
    tooltip = [
        alt.Tooltip("rater_a:N", title="rater"),
        alt.Tooltip("rater_b:N", title="compared with"),
        alt.Tooltip("kappa:Q", format=".2f", title="kappa / alpha"),
        alt.Tooltip("ci_low:Q", format=".2f", title="interval low"),
        alt.Tooltip("ci_high:Q", format=".2f", title="interval high"),
        alt.Tooltip("agreement:Q", format=".1%", title="same label"),
        alt.Tooltip("n_items:Q", format=",.0f", title="items both rated"),
    ]
    base = alt.Chart(data).encode(
        x=alt.X("rater_b:N", sort=order, title="compared with"),
        y=alt.Y("rater_a:N", sort=raters, title="rater"),
        tooltip=tooltip,
    )
    cells = base.mark_rect().encode(
        color=alt.Color(
            "kappa:Q",
            title="kappa",
            scale=alt.Scale(scheme="redyellowblue", domain=[0, 1], clamp=True),
        )
    )
    text = base.mark_text(fontSize=11).encode(text=alt.Text("kappa:Q", format=".2f"))
    step = max(28, min(60, width // max(len(order), 1)))
    return (cells + text).properties(
        width=alt.Step(step),
        height=alt.Step(step),
        title="Agreement between raters (Cohen's kappa); last column: each rater against the rest",
    )


def label_frontier(frontier: pl.DataFrame, *, gold: str = "", width: int = 420) -> alt.Chart:
    """Cost per label (log scale) against accuracy versus gold, with intervals; sources on
    the cost-efficient frontier are filled.

    Examples
    --------
    >>> import polars as pl
    >>> f = pl.DataFrame({"source": ["judge", "crowd"], "cost_per_label": [0.003, 0.08],
    ...     "accuracy": [0.94, 0.9], "accuracy_ci_low": [0.93, 0.88],
    ...     "accuracy_ci_high": [0.95, 0.92], "cost_per_correct_label": [0.0032, 0.089],
    ...     "n_both": [2000.0, 1800.0], "on_frontier": [True, False]})
    >>> type(label_frontier(f)).__name__
    'LayerChart'
    """
    data = frontier.select(
        "source",
        "cost_per_label",
        "accuracy",
        "accuracy_ci_low",
        "accuracy_ci_high",
        "cost_per_correct_label",
        "n_both",
        "on_frontier",
    ).filter(pl.col("cost_per_label").is_not_null() & (pl.col("cost_per_label") > 0))
    tooltip = [
        alt.Tooltip("source:N"),
        alt.Tooltip("cost_per_label:Q", format="$.4f", title="cost per label"),
        alt.Tooltip(
            "accuracy:Q", format=".1%", title=f"agrees with {gold}" if gold else "accuracy"
        ),
        alt.Tooltip("accuracy_ci_low:Q", format=".1%", title="interval low"),
        alt.Tooltip("accuracy_ci_high:Q", format=".1%", title="interval high"),
        alt.Tooltip("cost_per_correct_label:Q", format="$.4f", title="cost per correct label"),
        alt.Tooltip("n_both:Q", format=",.0f", title="items compared"),
    ]
    x = alt.X(
        "cost_per_label:Q", scale=alt.Scale(type="log"), title="cost per label ($, log scale)"
    )
    base = alt.Chart(data).encode(x=x, tooltip=tooltip)
    bars = base.mark_rule(strokeWidth=2, color=MAIN_COLOR).encode(
        y=alt.Y(
            "accuracy_ci_low:Q",
            title=f"accuracy against {gold}" if gold else "accuracy",
            scale=alt.Scale(zero=False),
        ),
        y2="accuracy_ci_high:Q",
    )
    points = base.mark_point(size=90, color=MAIN_COLOR).encode(
        y="accuracy:Q",
        fill=alt.condition("datum.on_frontier", alt.value(MAIN_COLOR), alt.value("white")),
    )
    labels = base.mark_text(align="left", dx=8, fontSize=11).encode(y="accuracy:Q", text="source:N")
    return (bars + points + labels).properties(
        width=width, height=260, title="What each label source costs, and how often it is right"
    )


# ======================================================================================
# Estimated quality before labels arrive (aidebt.estimate)
# ======================================================================================
ESTIMATE_COLOR = "#8e44ad"
MISS_COLOR = "#c0392b"


def estimate_chart(
    table: pl.DataFrame,
    *,
    by: Sequence[str] = (),
    metric: str = "metric",
    unit: str = "month",
    reconciled: pl.DataFrame | None = None,
    width: int = 560,
    height: int = 260,
    max_groups: int = 8,
) -> alt.LayerChart:
    """Measured values solid with their intervals, estimates dashed with their band.

    ``table`` is one metric of :attr:`aidebt.estimate.Estimate.table`. The measured line
    (what the labels show, with its interval as error bars) is drawn where a period has
    labels; the estimate (from the scores, with its prediction band) is drawn dashed for
    every period outside the reference, so that where both exist the two can be compared.
    ``reconciled`` (a :class:`aidebt.estimate.Reconciliation` table) marks each checked
    period: a ring where the estimate's interval covered the realized value, a red cross
    where it did not. Periods whose estimate is in-sample (the reference) are shaded.

    Examples
    --------
    >>> from aidebt.datasets import demo
    >>> from aidebt.estimate import estimate
    >>> logs = demo(n_per_month=2_000, months=6)
    >>> est = estimate(logs, y_score="score", y_true="y_true", y_pred="y_pred", time="ts",
    ...                   reference=("2025-10", "2026-01"), metrics=["accuracy"], n_boot=10)
    >>> type(estimate_chart(est.table, metric="accuracy")).__name__
    'LayerChart'
    """
    by = list(by)
    data = table.with_columns(group_label(by))
    if by:
        # the largest groups by rows (decay_chart keeps its groups the same way)
        totals = data.group_by("group").agg(pl.col("n").sum()).top_k(max_groups, by="n")
        data = data.filter(pl.col("group").is_in(totals["group"].implode()))
    data = data.with_columns(
        pl.col("period").cast(pl.Datetime("us")),
        unlabeled=pl.when(pl.col("n") > 0).then(1 - pl.col("n_labeled") / pl.col("n")),
    )
    color = alt.Color("group:N", title=", ".join(by)) if by else alt.value(MAIN_COLOR)
    est_color = color if by else alt.value(ESTIMATE_COLOR)
    x = alt.X("period:T", title=None)
    tip = [
        alt.Tooltip("group:N", title="group"),
        alt.Tooltip("period:T", title="period"),
        alt.Tooltip("status:N", title="labels"),
        alt.Tooltip("unlabeled:Q", format=".0%", title="not labeled yet"),
        alt.Tooltip("estimate:Q", format=".3f", title=f"estimated {metric}"),
        alt.Tooltip("ci_low:Q", format=".3f", title="estimate low"),
        alt.Tooltip("ci_high:Q", format=".3f", title="estimate high"),
        alt.Tooltip("realized:Q", format=".3f", title=f"measured {metric}"),
        alt.Tooltip("realized_low:Q", format=".3f", title="measured low"),
        alt.Tooltip("realized_high:Q", format=".3f", title="measured high"),
        alt.Tooltip("n:Q", format=",.0f", title="rows"),
    ]
    cols = [
        "group",
        "period",
        "status",
        "unlabeled",
        "estimate",
        "ci_low",
        "ci_high",
        "realized",
        "realized_low",
        "realized_high",
        "n",
        "in_reference",
    ]
    measured = data.filter(pl.col("realized").is_not_null()).select(cols)
    estimated = data.filter(~pl.col("in_reference") & pl.col("estimate").is_not_null()).select(cols)
    y = alt.Y("realized:Q", title=metric, scale=alt.Scale(zero=False))
    layers: list = []
    ref = data.filter(pl.col("in_reference")).select("period")
    if ref.height:
        span = pl.DataFrame({"start": [ref["period"].min()], "end": [ref["period"].max()]})
        layers.append(
            alt.Chart(span)
            .mark_rect(color=SMALL_COLOR, opacity=0.12)
            .encode(
                x="start:T", x2="end:T", tooltip=[alt.Tooltip("start:T", title="reference from")]
            )
        )
    if estimated.height:
        ebase = alt.Chart(estimated).encode(x=x, tooltip=tip)
        layers.append(
            ebase.mark_area(opacity=0.15).encode(
                y=alt.Y("ci_low:Q", title=metric, scale=alt.Scale(zero=False)),
                y2="ci_high:Q",
                color=est_color,
            )
        )
        layers.append(
            ebase.mark_line(strokeDash=[6, 4], point=alt.OverlayMarkDef(filled=False)).encode(
                y="estimate:Q", color=est_color
            )
        )
    if measured.height:
        mbase = alt.Chart(measured).encode(x=x, tooltip=tip)
        layers.append(
            mbase.mark_rule().encode(y="realized_low:Q", y2="realized_high:Q", color=color)
        )
        layers.append(mbase.mark_line(point=True).encode(y=y, color=color))
    if reconciled is not None and reconciled.height:
        rec = reconciled.filter(pl.col("z").is_not_null()).with_columns(group_label(by))
        if by:
            rec = rec.filter(pl.col("group").is_in(data["group"].unique().implode()))
        rec = rec.with_columns(
            pl.col("period").cast(pl.Datetime("us")),
            check=pl.when(pl.col("covered"))
            .then(pl.lit("estimate covered the labels"))
            .otherwise(pl.lit("estimate missed")),
        ).select("group", "period", "estimated", "realized", "difference", "check", "p_adjusted")
        if rec.height:
            layers.append(
                alt.Chart(rec)
                .mark_point(size=110, strokeWidth=2)
                .encode(
                    x=x,
                    y="realized:Q",
                    shape=alt.Shape(
                        "check:N",
                        title="reconciled",
                        scale=alt.Scale(
                            domain=["estimate covered the labels", "estimate missed"],
                            range=["circle", "cross"],
                        ),
                    ),
                    color=alt.condition(
                        "datum.check == 'estimate missed'",
                        alt.value(MISS_COLOR),
                        alt.value(SMALL_COLOR),
                    ),
                    tooltip=[
                        alt.Tooltip("group:N"),
                        alt.Tooltip("period:T"),
                        alt.Tooltip("estimated:Q", format=".3f", title="estimated (same rows)"),
                        alt.Tooltip("realized:Q", format=".3f", title="labels show"),
                        alt.Tooltip("difference:Q", format="+.3f"),
                        alt.Tooltip("p_adjusted:Q", format=".2g", title="adjusted p"),
                        alt.Tooltip("check:N"),
                    ],
                )
            )
    title = (
        f"{metric} per {unit}: measured (solid, with interval) and estimated from scores "
        "(dashed, with band)"
    )
    return alt.layer(*layers).properties(width=width, height=height, title=title)


def reliability_chart(
    table: pl.DataFrame, *, by: Sequence[str] = (), width: int = 320, height: int = 320
) -> alt.LayerChart:
    """Reliability diagram: each score bin's observed rate (with interval) against its mean score.

    The diagonal is perfect calibration. ``table`` is
    :attr:`aidebt.estimate.Calibration.table`.

    Examples
    --------
    >>> import polars as pl
    >>> t = pl.DataFrame({"mean_score": [0.1, 0.9], "observed": [0.2, 0.8], "ci_low": [0.1, 0.7],
    ...                   "ci_high": [0.3, 0.9], "n": [50.0, 50.0]})
    >>> type(reliability_chart(t)).__name__
    'LayerChart'
    """
    by = list(by)
    data = table.with_columns(group_label(by)).select(
        "group", "mean_score", "observed", "ci_low", "ci_high", "n"
    )
    color = alt.Color("group:N", title=", ".join(by)) if by else alt.value(MAIN_COLOR)
    tip = [
        alt.Tooltip("group:N"),
        alt.Tooltip("mean_score:Q", format=".3f", title="mean score"),
        alt.Tooltip("observed:Q", format=".3f", title="observed rate"),
        alt.Tooltip("ci_low:Q", format=".3f", title="interval low"),
        alt.Tooltip("ci_high:Q", format=".3f", title="interval high"),
        alt.Tooltip("n:Q", format=",.0f", title="labeled rows"),
    ]
    axis = alt.Scale(domain=[0, 1])
    base = alt.Chart(data).encode(
        x=alt.X("mean_score:Q", title="mean score", scale=axis), tooltip=tip
    )
    diagonal = (
        alt.Chart(pl.DataFrame({"a": [0.0, 1.0]}))
        .mark_line(color=SMALL_COLOR, strokeDash=[4, 3])
        .encode(x=alt.X("a:Q", scale=axis), y=alt.Y("a:Q", scale=axis))
    )
    bars = base.mark_rule().encode(
        y=alt.Y("ci_low:Q", title="observed positive rate", scale=axis),
        y2="ci_high:Q",
        color=color,
    )
    points = base.mark_line(point=True).encode(y="observed:Q", color=color)
    return alt.layer(diagonal, bars, points).properties(
        width=width,
        height=height,
        title="Reliability: observed rate against score (dashed: perfect)",
    )


# ======================================================================================
# Versions on the same items and the model-card gap (aidebt.versions)
# ======================================================================================
WORSE_COLOR = "#c0392b"
BETTER_COLOR = "#27ae60"
NEUTRAL_COLOR = "#7f8c8d"


def _segment_column(by: Sequence[str], all_value: str = "(all)") -> pl.Expr:
    if not by:
        return pl.lit("overall").alias("segment")
    parts = [pl.when(pl.col(c) != all_value).then(pl.lit(f"{c} = ") + pl.col(c)) for c in by]
    label = pl.concat_str(parts, separator=", ", ignore_nulls=True)
    return (
        pl.when(label.is_null() | (label == "")).then(pl.lit("overall")).otherwise(label)
    ).alias("segment")


def paired_comparison(
    table: pl.DataFrame,
    *,
    by: Sequence[str],
    version: str,
    baseline: str,
    width: int = 360,
) -> alt.VConcatChart:
    """Paired differences per segment (left) and the items fixed and broken (right).

    ``table`` is :class:`aidebt.versions.PairedComparison`'s table. One row of panels per
    metric: the candidate minus the baseline per segment with its interval (overall
    first; red when significantly worse, green when better, grey otherwise; a dashed rule
    at minus the margin when there is one), and, for rates, the items the candidate broke
    (left of zero) and fixed (right).

    Examples
    --------
    >>> from aidebt.datasets import demo_versions
    >>> from aidebt.versions import compare_paired
    >>> r = compare_paired(demo_versions(400).filter(model_version="m1"),
    ...                    version="prompt_version", item="item_id", baseline="v1",
    ...                    y_true="y_true", y_pred="y_pred", by="task")
    >>> type(r.chart()).__name__
    'VConcatChart'
    """
    data = table.with_columns(
        _segment_column(by),
        pl.col(version).alias("candidate"),
        pl.when(pl.col("verdict") == "worse")
        .then(pl.lit("worse"))
        .when(pl.col("verdict") == "better")
        .then(pl.lit("better"))
        .otherwise(pl.lit("no clear difference"))
        .alias("finding"),
    )
    color = alt.Color(
        "finding:N",
        scale=alt.Scale(
            domain=["worse", "better", "no clear difference"],
            range=[WORSE_COLOR, BETTER_COLOR, NEUTRAL_COLOR],
        ),
        title=None,
        legend=alt.Legend(orient="top"),
    )
    rows = []
    for metric in data.get_column("metric").unique(maintain_order=True).to_list():
        part = data.filter(pl.col("metric") == metric)
        order = part.get_column("segment").unique(maintain_order=True).to_list()
        order = sorted(order, key=lambda s: s != "overall")
        rate = part.get_column("kind").first() == "rate"
        fmt = "+.1%" if rate else "+,.4~g"
        tooltip = [
            alt.Tooltip("candidate:N", title="version"),
            alt.Tooltip("segment:N"),
            alt.Tooltip("baseline_value:Q", format=".1%" if rate else ",.4~g", title=baseline),
            alt.Tooltip("value:Q", format=".1%" if rate else ",.4~g", title="candidate"),
            alt.Tooltip("diff:Q", format=fmt, title="difference"),
            alt.Tooltip("diff_ci_low:Q", format=fmt, title="interval low"),
            alt.Tooltip("diff_ci_high:Q", format=fmt, title="interval high"),
            alt.Tooltip("n:Q", format=",.0f", title="paired items"),
            alt.Tooltip("p_adjusted:Q", format=".2g", title="adjusted p"),
        ]
        y = alt.Y("segment:N", sort=order, title=None)
        base = alt.Chart(part).encode(y=y, color=color, tooltip=tooltip)
        layers = [
            base.mark_rule(strokeWidth=2).encode(
                x=alt.X(
                    "diff_ci_low:Q",
                    title=f"{metric}: candidate minus {baseline}",
                    axis=alt.Axis(format="+%" if rate else "+,~g"),
                ),
                x2="diff_ci_high:Q",
            ),
            base.mark_point(size=60, filled=True).encode(x="diff:Q"),
            alt.Chart(part).mark_rule(color="#444").encode(x=alt.datum(0)),
        ]
        margins = part.filter(pl.col("margin").is_not_null())
        if margins.height:
            m = float(margins.get_column("margin").first())
            lim = m if part.get_column("higher_is_better").first() is False else -m
            layers.append(
                alt.Chart(part)
                .mark_rule(color=WORSE_COLOR, strokeDash=[4, 3])
                .encode(x=alt.datum(lim))
            )
        left = alt.layer(*layers).properties(width=width, height=alt.Step(18), title=metric)
        if rate:
            flips = part.select(
                "segment",
                "candidate",
                (-pl.col("broken")).alias("broken"),
                pl.col("fixed"),
            ).unpivot(index=["segment", "candidate"], variable_name="change", value_name="items")
            right = (
                alt.Chart(flips)
                .mark_bar()
                .encode(
                    y=alt.Y("segment:N", sort=order, title=None, axis=None),
                    x=alt.X("items:Q", title="items broken (left) and fixed (right)"),
                    color=alt.Color(
                        "change:N",
                        scale=alt.Scale(
                            domain=["broken", "fixed"], range=[WORSE_COLOR, BETTER_COLOR]
                        ),
                        title=None,
                    ),
                    tooltip=[
                        alt.Tooltip("segment:N"),
                        alt.Tooltip("change:N"),
                        alt.Tooltip("items:Q", format=",.0f"),
                    ],
                )
                .properties(width=width // 2, height=alt.Step(18))
            )
            rows.append(alt.hconcat(left, right).resolve_scale(color="independent"))
        else:
            rows.append(left)
    return alt.vconcat(*rows).properties(
        title=f"Same items under both versions: candidate minus {baseline}"
    )


def dumbbell(
    table: pl.DataFrame, *, task: str, by: Sequence[str], width: int = 420
) -> alt.LayerChart:
    """Published figure (hollow) vs internal value (filled, with its interval) per task.

    ``table`` is :class:`aidebt.versions.BenchmarkGap`'s table; one row per task (and
    ``by`` group), a grey bar joining the two values.

    Examples
    --------
    >>> from aidebt.datasets import demo_published, demo_versions
    >>> from aidebt.versions import benchmark_gap
    >>> g = benchmark_gap(demo_published(), demo_versions(300).filter(prompt_version="v1"),
    ...                   task="task", outcome="correct", by="model_version")
    >>> type(g.chart()).__name__
    'LayerChart'
    """
    label = (
        pl.concat_str([pl.col(c).cast(pl.String) for c in [*by, task]], separator=" / ")
        if by
        else pl.col(task).cast(pl.String)
    )
    data = table.with_columns(label.alias("row"))
    order = data.sort("gap", nulls_last=True).get_column("row").to_list()
    tooltip = [
        alt.Tooltip("row:N", title="task"),
        alt.Tooltip("published:Q", format=".1%"),
        alt.Tooltip("source:N"),
        alt.Tooltip("internal:Q", format=".1%"),
        alt.Tooltip("ci_low:Q", format=".1%", title="internal interval low"),
        alt.Tooltip("ci_high:Q", format=".1%", title="internal interval high"),
        alt.Tooltip("n:Q", format=",.0f", title="internal items"),
        alt.Tooltip("gap:Q", format="+.1%"),
        alt.Tooltip("verdict:N"),
    ]
    y = alt.Y("row:N", sort=order, title=None)
    base = alt.Chart(data).encode(y=y, tooltip=tooltip)
    x = alt.X(
        "published:Q", title="share correct", axis=alt.Axis(format="%"), scale=alt.Scale(zero=False)
    )
    bar = base.mark_rule(color="#bdbdbd", strokeWidth=6, opacity=0.6).encode(x=x, x2="internal:Q")
    interval = base.mark_rule(color=MAIN_COLOR, strokeWidth=2).encode(x="ci_low:Q", x2="ci_high:Q")
    internal = base.mark_point(filled=True, size=80, color=MAIN_COLOR).encode(x="internal:Q")
    published = base.mark_point(filled=False, size=90, color=REF_COLOR, shape="diamond").encode(
        x="published:Q"
    )
    return alt.layer(bar, interval, internal, published).properties(
        width=width,
        height=alt.Step(22),
        title=alt.TitleParams(
            "Published (red diamond) vs the team's own eval (blue, with its interval)",
            subtitle="Sorted by the gap, largest shortfall first",
        ),
    )


# ======================================================================================
# Golden-set refresh chart (aidebt.refresh)
# ======================================================================================
_MIX_SERIES = {
    "production": ("production traffic", REF_COLOR),
    "today": ("golden set today", SMALL_COLOR),
    "planned": ("golden set after the refresh", MAIN_COLOR),
}


def refresh_chart(
    table: pl.DataFrame, by: Sequence[str], *, width: int = 460, max_segments: int = 30
) -> alt.Chart:
    """Per segment: its share of production, of the golden set today, and after the plan.

    A segment whose grey bar is missing is traffic the golden set never saw; the blue bar
    shows where the planned labels bring it (it need not match production's: the
    re-weighted metric corrects the mix, the labels buy each segment's precision). Segments are sorted by production share; with
    more than ``max_segments``, the largest are shown.

    Examples
    --------
    >>> import aidebt as ad
    >>> from aidebt.refresh import refresh_plan
    >>> plan = refresh_plan(ad.datasets.demo_eval(500), ad.datasets.demo(2_000), by="intent")
    >>> type(refresh_chart(plan.table, ["intent"])).__name__
    'Chart'
    """
    after = table["eval_rows"] + table["labels"]
    data = (
        table.with_columns(group_label(by), _after=after)
        .sort("share", descending=True)
        .head(max_segments)
        .select(
            "group",
            pl.col("share").alias("production"),
            pl.col("eval_share").alias("today"),
            (pl.col("_after") / after.sum()).alias("planned"),
            pl.col("production_rows"),
            pl.col("eval_rows"),
            pl.col("labels"),
        )
        .unpivot(
            on=list(_MIX_SERIES),
            index=["group", "production_rows", "eval_rows", "labels"],
            variable_name="series",
            value_name="share",
        )
        .with_columns(pl.col("series").replace({k: v[0] for k, v in _MIX_SERIES.items()}))
    )
    names = [v[0] for v in _MIX_SERIES.values()]
    colors = [v[1] for v in _MIX_SERIES.values()]
    order = data["group"].unique(maintain_order=True).to_list()
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            y=alt.Y("group:N", title=None, sort=order),
            yOffset=alt.YOffset("series:N", sort=names),
            x=alt.X("share:Q", title="share", axis=alt.Axis(format="%")),
            color=alt.Color(
                "series:N",
                title=None,
                scale=alt.Scale(domain=names, range=colors),
                legend=alt.Legend(orient="top"),
            ),
            tooltip=[
                alt.Tooltip("group:N", title="segment"),
                alt.Tooltip("series:N"),
                alt.Tooltip("share:Q", format=".1%"),
                alt.Tooltip("production_rows:Q", format=",.0f", title="production rows"),
                alt.Tooltip("eval_rows:Q", format=",.0f", title="golden items today"),
                alt.Tooltip("labels:Q", format=",.0f", title="new labels planned"),
            ],
        )
        .properties(
            width=width,
            title=alt.TitleParams(
                "The golden set's mix against production, today and after the refresh",
                subtitle=[
                    "A missing grey bar: traffic the golden set has never seen.",
                    "Blue need not match red: re-weighting corrects the mix; labels buy precision.",
                ],
            ),
        )
    )


# ======================================================================================
# Fairness and calibration charts (aidebt.fairness)
# ======================================================================================
FOUR_FIFTHS_COLOR = "#c0392b"


def fairness_gaps(table: pl.DataFrame, *, width: int = 360) -> alt.FacetChart:
    """Each fairness summary's value and interval, one row per attribute, one panel per summary.

    ``table`` is :attr:`aidebt.fairness.Fairness.table`. Difference panels run from 0
    (parity) upward; ratio panels to 1 (parity), with the four-fifths line at 0.8 in red.
    The tooltip names the groups that define each value.

    Examples
    --------
    >>> import polars as pl
    >>> from aidebt.fairness import fairness_from_stats
    >>> sums = pl.DataFrame({"sex": ["F", "M"], "n": [200.0, 300.0], "pred_pos": [50.0, 120.0]})
    >>> type(fairness_gaps(fairness_from_stats(sums, "sex", n_boot=200).table)).__name__
    'FacetChart'
    """
    data = table.filter(pl.col("value").is_not_null()).with_columns(
        kind=pl.when(pl.col("summary").str.ends_with("_ratio"))
        .then(pl.lit("ratio"))
        .otherwise(pl.lit("difference")),
        rule=pl.when(pl.col("summary") == "demographic_parity_ratio").then(pl.lit(0.8)),
        label=pl.col("summary").str.replace_all("_", " "),
    )
    tooltip = [
        alt.Tooltip("attribute:N"),
        alt.Tooltip("label:N", title="summary"),
        alt.Tooltip("value:Q", format=".3f"),
        alt.Tooltip("ci_low:Q", format=".3f", title="interval low"),
        alt.Tooltip("ci_high:Q", format=".3f", title="interval high"),
        alt.Tooltip("max_group:N", title="highest group"),
        alt.Tooltip("max_value:Q", format=".3f", title="its rate"),
        alt.Tooltip("min_group:N", title="lowest group"),
        alt.Tooltip("min_value:Q", format=".3f", title="its rate"),
        alt.Tooltip("bias:Q", format="+.3f", title="estimated upward bias"),
    ]
    y = alt.Y("attribute:N", title=None)
    base = alt.Chart().encode(y=y, tooltip=tooltip)
    bars = base.mark_rule(strokeWidth=2, color=MAIN_COLOR).encode(
        x=alt.X("ci_low:Q", title="value with interval", scale=alt.Scale(domain=[0, 1])),
        x2="ci_high:Q",
    )
    points = base.mark_point(size=60, filled=True, color=MAIN_COLOR).encode(x="value:Q")
    rule = (
        alt.Chart()
        .mark_rule(color=FOUR_FIFTHS_COLOR, strokeDash=[4, 3])
        .encode(x="rule:Q", tooltip=[alt.Tooltip("rule:Q", title="four-fifths line")])
        .transform_filter("datum.rule != null")
    )
    layered = alt.layer(bars, points, rule, data=data).properties(width=width, height=alt.Step(18))
    header = alt.Header(labelAngle=0, labelAlign="left", labelOrient="top", labelFontWeight="bold")
    return layered.facet(row=alt.Row("label:N", title=None, header=header)).properties(
        title=alt.TitleParams(
            "Fairness summaries with their intervals",
            subtitle="Differences: 0 is parity. Ratios: 1 is parity; red line: the four-fifths rule",
        )
    )


def reliability(table: pl.DataFrame, *, width: int = 300, height: int = 300) -> alt.Chart:
    """Reliability diagram: observed rate vs mean score per bin, one line per group.

    ``table`` is :attr:`aidebt.fairness.Fairness.reliability` (``attribute``, ``group``,
    ``mean_score``, ``observed``, ``ci_low``, ``ci_high``, ``n``). Points sit on the grey
    diagonal when scores are calibrated; the vertical rules are Wilson intervals. One
    panel per attribute.

    Examples
    --------
    >>> import polars as pl
    >>> t = pl.DataFrame({"attribute": ["g"] * 2, "group": ["a", "b"], "bin": [3, 3],
    ...                   "mean_score": [0.35, 0.36], "observed": [0.3, 0.5], "ci_low": [0.2, 0.4],
    ...                   "ci_high": [0.4, 0.6], "n": [80.0, 90.0]})
    >>> type(reliability(t)).__name__
    'FacetChart'
    """
    tooltip = [
        alt.Tooltip("attribute:N"),
        alt.Tooltip("group:N"),
        alt.Tooltip("mean_score:Q", format=".3f", title="mean score"),
        alt.Tooltip("observed:Q", format=".3f", title="observed rate"),
        alt.Tooltip("ci_low:Q", format=".3f", title="interval low"),
        alt.Tooltip("ci_high:Q", format=".3f", title="interval high"),
        alt.Tooltip("n:Q", format=",.0f", title="labeled rows in the bin"),
    ]
    unit = alt.Scale(domain=[0, 1])
    color = alt.Color("group:N", title=None, legend=alt.Legend(orient="bottom", columns=3))
    base = alt.Chart().encode(
        x=alt.X("mean_score:Q", title="mean score in the bin", scale=unit),
        color=color,
        tooltip=tooltip,
    )
    lines = base.mark_line(point=True).encode(
        y=alt.Y("observed:Q", title="observed rate", scale=unit), order="mean_score:Q"
    )
    bars = base.mark_rule(opacity=0.6).encode(y="ci_low:Q", y2="ci_high:Q")
    diagonal = (
        alt.Chart(pl.DataFrame({"x": [0.0, 1.0]}))
        .mark_line(color=SMALL_COLOR, strokeDash=[4, 3])
        .encode(x="x:Q", y="x:Q")
    )
    layered = alt.layer(
        diagonal,
        bars,
        lines,
        data=table.select("attribute", "group", "mean_score", "observed", "ci_low", "ci_high", "n"),
    ).properties(width=width, height=height)
    return (
        layered.facet(column=alt.Column("attribute:N", title=None))
        .resolve_scale(color="independent")  # each attribute its own groups' legend
        .properties(
            title=alt.TitleParams(
                "Calibration by group",
                subtitle="On the grey diagonal, a score of 0.7 means 70%; bars: intervals",
            )
        )
    )


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
