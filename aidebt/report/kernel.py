"""The kernel side of a report: what a notebook calls, and how the runner prepares it.

``record("accuracy", 0.91)`` emits a display output with a mimetype of aidebt's own;
the runner collects these into ``manifest.json`` (so a month's figures can be compared
without opening the HTML) and the HTML export drops them. ``markdown(...)`` writes a
sentence whose values come from data, escaped so that a group named
``<img src=x onerror=...>`` is shown as text.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import re
import string
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from aidebt.errors import InvalidArgumentError, printable

FIGURE_MIMETYPE = "application/vnd.aidebt.figure+json"


def setup() -> None:
    """Prepare a kernel that renders a report (the runner's hidden first cell).

    altair's default renderer writes HTML that loads vega from a CDN. Charts are
    displayed instead as their vega-lite spec (data included), under the standard
    ``application/vnd.vegalite.vN+json`` mimetype, which the report page draws offline.
    altair's own ``mimetype`` renderer is not used: altair 6 names its output
    ``...v6.json``, which nbformat rejects as a JSON output.

    In a kernel, nothing is imported here: a printer registered with IPython under the
    chart class's *name* switches the renderer at the first chart (altair costs about a
    second to import, and most report cells draw nothing), then hands every chart to the
    active renderer. It replaces the printer ``import aidebt`` registers for JupyterLab
    (:func:`aidebt.jupyter.auto_enable`). Out of a kernel, the renderer is switched now.
    """
    shell = _kernel_shell()
    if shell is None:
        _use_spec_renderer()
        return
    state = {"first": True}

    def first_chart(chart: Any) -> Any:
        if state["first"]:
            state["first"] = False
            _use_spec_renderer()
        return chart._repr_mimebundle_()

    formatter = shell.display_formatter.mimebundle_formatter
    for major in ("v5", "v6"):  # every chart class of altair 5 and 6
        formatter.for_type_by_name(f"altair.vegalite.{major}.api", "TopLevelMixin", first_chart)


def _kernel_shell() -> Any:
    """The running IPython kernel's shell, or None (a plain interpreter, a test)."""
    ipython = sys.modules.get("IPython")
    if "ipykernel" not in sys.modules or ipython is None:
        return None
    shell = ipython.get_ipython()
    return shell if getattr(shell, "kernel", None) is not None else None


def _use_spec_renderer() -> None:
    import altair as alt

    major = str(alt.SCHEMA_VERSION).split(".")[0]  # "v6"
    mimetype = f"application/vnd.vegalite.{major}+json"

    def spec_renderer(spec: dict, **metadata: Any) -> dict[str, Any]:
        return {mimetype: spec, "text/plain": "<altair chart>"}

    alt.renderers.register("aidebt", spec_renderer)
    alt.renderers.enable("aidebt")


def _jsonable(value: Any, name: str) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None  # JSON has no NaN/inf
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:  # numpy / polars scalar
        return _jsonable(value.item(), name)
    if isinstance(value, list | tuple):
        return [_jsonable(v, name) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, name) for k, v in value.items()}
    raise InvalidArgumentError(
        f"record({name!r}, ...) takes a number, string, boolean, date, or a list/dict of "
        f"those; got {type(value).__name__}. Record a scalar, e.g. result.overall['value'][0]."
    )


def record(name: str, value: Any) -> None:
    """Record a key figure of this report in its ``manifest.json``.

    Shows a one-line note in JupyterLab and nothing in the published HTML. Recording the
    same name twice keeps the last value.

    Parameters
    ----------
    name : str
        A short stable key, e.g. ``"accuracy"`` or ``"worst_group"``.
    value : number, str, bool, date, or a list/dict of those

    Examples
    --------
    >>> record("accuracy", 0.912)  # doctest: +SKIP
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgumentError(f"record() needs a non-empty name, got {name!r}.")
    from IPython.display import display

    value = _jsonable(value, name)
    display(
        {FIGURE_MIMETYPE: {"name": name, "value": value}, "text/plain": f"{name} = {value!r}"},
        raw=True,
    )


def collect_figures(nb: Any) -> dict[str, Any]:
    """Every figure :func:`record` emitted in an executed notebook, in cell order."""
    figures: dict[str, Any] = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            item = output.get("data", {}).get(FIGURE_MIMETYPE)
            if isinstance(item, Mapping) and "name" in item:
                figures[str(item["name"])] = item.get("value")
    return figures


# Characters that would make markdown out of a value (emphasis, links, tables...).
_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()#+!|~$"})  # $: no math in JupyterLab
# What starts a block when it begins a line: a list item ("- x", "1. x"), a thematic
# break or a heading underline ("---", "==="). Other markers (*, +, #, >, |, ")") are
# escaped wherever they are; these only at the start, so "-0.5" and "0.93" stay as is.
_BULLET_START = re.compile(r"^(\s*)([-=])(?=[-=]*\s*$|\s)")
_NUMBER_START = re.compile(r"^(\s*\d{1,9})\.(?=\s|$)")


def escape(value: Any) -> str:
    """A value from the data as literal text in markdown/HTML: no tags, no emphasis, and
    no new line: it cannot start a bullet, a heading or a paragraph of its own.

    Control characters, newlines first, are shown as escapes
    (:func:`aidebt.errors.printable`), and a list marker at its start is escaped, so a
    group named ``"ja\\n- all groups PASS"`` stays inside the sentence that quotes it.

    Examples
    --------
    >>> escape("<img src=x onerror=alert(1)>")
    '&lt;img src=x onerror=alert\\\\(1\\\\)&gt;'
    >>> escape("free_tier")
    'free\\\\_tier'
    >>> escape("- 1. ja\\n- PASS"), escape("1. ja"), escape("-0.5"), escape("0.93")
    ('\\\\- 1. ja\\\\\\\\n- PASS', '1\\\\. ja', '-0.5', '0.93')
    """
    text = html.escape(printable(value), quote=False).translate(_MD_SPECIAL)
    text = _BULLET_START.sub(lambda m: f"{m.group(1)}\\{m.group(2)}", text)
    return _NUMBER_START.sub(lambda m: f"{m.group(1)}\\.", text)


class _EscapingFormatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        return escape(format(value, format_spec))


def markdown(text: str, /, **values: Any):
    """Markdown prose with ``{name}`` fields filled from ``values``, each escaped.

    Use it for every sentence that quotes the data (group names, column names): the
    template is trusted, the values are not. Format specs work as in ``str.format``.

    Examples
    --------
    >>> md = markdown("Worst group: **{group}** ({acc:.0%})", group="<b>ja</b>", acc=0.81)
    >>> md.data
    'Worst group: **&lt;b&gt;ja&lt;/b&gt;** (81%)'
    """
    from IPython.display import Markdown

    return Markdown(_EscapingFormatter().format(text, **values))


def bullets(lines: Iterable[str], empty: str = ""):
    """A markdown bullet list of ``lines``, each escaped (they quote the data).

    Examples
    --------
    >>> bullets(["fnr for language=<ja> is high"]).data
    '- fnr for language=&lt;ja&gt; is high'
    >>> bullets([], empty="Nothing stands out.").data
    'Nothing stands out.'
    """
    from IPython.display import Markdown

    items = [f"- {escape(line)}" for line in lines]
    return Markdown("\n".join(items) if items else escape(empty))


FORMATS = ("text", "pct", "points", "count", "number", "p", "ratio", "yes/no", "month", "of")
"""How :func:`table` writes a column's values (see there)."""


def _cell(value: Any, fmt: str) -> str:
    from aidebt import prose

    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, bool) or fmt == "yes/no":
        return "yes" if value else "no"
    if fmt == "month" and isinstance(value, dt.date):
        return f"{value:%Y-%m}"
    if isinstance(value, dt.datetime):
        return f"{value:%Y-%m-%d %H:%M}" if value.time() != dt.time(0) else f"{value:%Y-%m-%d}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if fmt == "pct":
            return prose.pct(value)
        if fmt == "points":  # the header says "(points)": cells stay narrow
            return "0.0" if abs(100 * value) < 0.05 else f"{100 * value:+.1f}"
        if fmt == "count":
            return prose.count(value)
        if fmt == "p":
            return prose.pvalue(value).removeprefix("p = ").replace("p < ", "< ")
        if fmt == "ratio":
            return prose.times(value).removesuffix(" times") + "x"
        if fmt == "number" or isinstance(value, float):  # as many digits as its size needs
            return prose.number(value, None) if isinstance(value, float) else f"{value:,}"
        return f"{value:,}"  # a whole number in a text column: 12,000
    return str(value)


def _span_cell(row: Mapping[str, Any], key: tuple[str, str], fmt: str) -> str:
    from aidebt import prose

    low, high = row[key[0]], row[key[1]]
    if low is None or high is None:
        return "–"
    if fmt == "of":
        return f"{low:,.0f} of {high:,.0f}"
    writers = {
        "pct": prose.pct,
        "points": lambda v, d: f"{100 * v:+.{d}f}",
        "number": prose.number,
    }
    if fmt not in writers or fmt == "number":  # digits by size, more where the ends agree
        digits = prose.decimals(max(abs(low), abs(high)))  # the larger end sets the size
        return prose.span(low, high, prose.number, digits=digits)
    return prose.span(low, high, writers[fmt], digits=1)


def table(
    frame: Any,
    max_rows: int = 40,
    *,
    columns: Mapping[Any, str | tuple[str, str]] | None = None,
):
    """A polars frame as a compact HTML table for readers, every value escaped.

    ``columns`` picks and names the columns shown: ``{column: header}`` or
    ``{column: (header, format)}``, the format one of ``pct`` (a share, 22.8%),
    ``points`` (a difference of shares in points, +15.7: say "points" in the header),
    ``count`` (50,094), ``number`` (as many decimals as its size needs: 28,376, 86.7, 0.81), ``p`` (a p-value, < 0.001),
    ``ratio`` (2.4x), ``yes/no``, ``month`` (a date as 2026-11) or ``text``. A pair of
    columns ``(low, high)`` as the key shows one interval, "74.1% to 75.0%", its ends
    never printed alike; with the format ``of``, a count of a total, "3 of 6". Without
    ``columns`` every column is shown, its name read with spaces for underscores.
    Missing values show as a dash, booleans as yes or no: never ``None``, ``nan`` or
    ``True``.

    Examples
    --------
    >>> import polars as pl
    >>> t = pl.DataFrame({"group": ["<b>a</b>"], "value": [0.2283], "small_n": [True]})
    >>> html = table(t, columns={"group": "group", "value": ("accuracy", "pct"),
    ...                          "small_n": ("few rows", "yes/no")}).data
    >>> "&lt;b&gt;a&lt;/b&gt;" in html and "22.8%" in html and ">yes<" in html
    True
    """
    from IPython.display import HTML

    from aidebt.prose import readable_column

    spec = (
        {c: (readable_column(c), "text") for c in frame.columns}
        if columns is None
        else {c: (h, "text") if isinstance(h, str) else tuple(h) for c, h in columns.items()}
    )
    for name, (_, fmt) in spec.items():
        if fmt not in FORMATS:
            raise InvalidArgumentError(
                f"table(): column {name!r} has format {fmt!r}; use one of {', '.join(FORMATS)}."
            )
    shown = frame.head(max_rows)
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h, _ in spec.values())
    rows = []
    for row in shown.iter_rows(named=True):
        cells = "".join(
            ("<td>" if fmt == "text" else '<td class="num">')
            + html.escape(
                _span_cell(row, key, fmt) if isinstance(key, tuple) else _cell(row[key], fmt)
            )
            + "</td>"
            for key, (_, fmt) in spec.items()
        )
        rows.append(f"<tr>{cells}</tr>")
    more = (
        f"<p><small>{frame.height - max_rows:,} more rows are not shown.</small></p>"
        if frame.height > max_rows
        else ""
    )
    return HTML(
        '<div class="aidebt-table-wrap"><table class="aidebt-table">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>{more}"
    )


def key_figures(result: Any, *, prefix: str = "", words: Any = None):
    """Record a result's overall figures in the manifest and show them as a table.

    Each row of ``result.overall`` (``metric``, ``value``, ``ci_low``, ``ci_high``,
    ``n``) becomes the key figure ``prefix + metric`` and a line of the table: the
    metric's name in the reader's words (``words``, a :class:`~aidebt.report.words.Words`),
    its value (a percentage for a share), its 95% interval and what its ``n`` counts.
    """
    from IPython.display import Markdown

    import aidebt.metrics as metrics
    from aidebt import prose
    from aidebt.report.words import Words

    words = words or Words()
    lines = ["| measure | value | 95% interval | based on |", "|---|---|---|---|"]
    for row in result.overall.iter_rows(named=True):
        name, value = row["metric"], row["value"]
        whole = name == "count" and isinstance(value, float) and value.is_integer()
        record(prefix + name, int(value) if whole else value)
        metric = metrics.REGISTRY.get(name)
        share = metric is not None and metric.bounded and metric.in_points and name != "count"
        fmt = prose.pct if share else prose.number
        low, high = row.get("ci_low"), row.get("ci_high")
        interval = prose.span(low, high, fmt, digits=1 if share else 3) if low is not None else ""
        shown = prose.count(value) if name == "count" else fmt(value)
        n = "" if row.get("n") is None else f"{prose.count(row['n'])} {words.counted(name)}"
        label = f"**{escape(words.metric(name))}**"
        lines.append(f"| {label} | {escape(shown)} | {escape(interval)} | {escape(n)} |")
    return Markdown("\n".join(lines))


def how_to_read(metrics: Iterable[str], words: Any = None):
    """What each metric means in the team's words, and its good direction, as a list."""
    from IPython.display import Markdown

    from aidebt.report.words import Words

    words = words or Words()
    return Markdown("\n".join(f"- {words.explain(m)}" for m in metrics))


def findings(result: Any, *, empty: str = "Nothing stands out.", words: Any = None, **kwargs):
    """A result's plain-English findings (``result.summary()``) as an escaped list.

    With ``words``, a result whose summary takes them gets the team's metric names and
    good directions (``metric_names=``, ``good=``); other keywords go to ``summary``.
    """
    import inspect

    accepts = inspect.signature(result.summary).parameters
    if words is not None:
        if "metric_names" in accepts:
            kwargs.setdefault("metric_names", words.metric_names())
        if "good" in accepts:
            kwargs.setdefault("good", dict(words.good))
    return bullets(result.summary(**kwargs), empty=empty)


# --------------------------------------------------------------------------------------
# Sentences a report writes from results whose own summary is for analysts
# --------------------------------------------------------------------------------------
def small_groups(result: Any, words: Any = None):
    """One line naming the groups shown without figures (fewer rows than ``min_n``)."""
    import polars as pl

    from aidebt import prose
    from aidebt.report.words import Words

    words = words or Words()
    small = (
        result.table.filter(pl.col("group_n") < result.min_n)
        .unique(result.by, keep="first", maintain_order=True)
        .sort("group_n", descending=True)
    )
    if small.is_empty():
        return bullets([])
    listed = ("; " if len(result.by) > 1 else ", ").join(
        f"{prose.group_phrase(row, result.by, words.names)} ({prose.count(row['group_n'])})"
        for row in small.head(12).iter_rows(named=True)
    )
    more = f" and {small.height - 12:,} more" if small.height > 12 else ""
    return markdown(
        "Too few {decisions} to show figures (fewer than {n:,}): {listed}{more}.",
        decisions=words.decisions,
        n=result.min_n,
        listed=listed,
        more=more,
    )


def versions(compared: Any, words: Any = None):
    """Each version against the baseline in plain words, then any comparison that changes
    once a segment is held fixed (Simpson's paradox), as an escaped list."""
    from aidebt import prose
    from aidebt.report.words import Words

    words = words or Words()
    version, base = compared.version, compared.baseline
    verdicts = {
        "better": "better",
        "worse": "worse",
        "no clear difference": "no clear difference",
    }
    lines = []
    for row in compared.overall.iter_rows(named=True):
        name = words.metric(row["metric"])
        if row["diff"] is None:
            lines.append(f"{name.capitalize()}: {row[version]} against {base}: {row['note']}.")
            continue
        lines.append(
            f"{name.capitalize()}: {row[version]} {prose.pct(row['value'])} against {base} "
            f"{prose.pct(row['baseline_value'])}, {verdicts.get(row['verdict'], row['verdict'])}"
            f" (difference {prose.signed_points(row['diff'])}, 95% interval "
            f"{prose.span(row['diff_ci_low'], row['diff_ci_high'], _signed_points)} points, "
            f"adjusted {prose.pvalue(row['p_adjusted'])})."
        )
    moves = {
        "reversal": "goes the other way",
        "amplification": "is larger",
        "attenuation": "is smaller",
    }
    for row in compared.guard.filter(compared.guard["verdict"] != "none").iter_rows(named=True):
        lines.append(
            f"{words.metric(row['metric']).capitalize()}: the difference between "
            f"{row[version]} and {base} {moves.get(row['verdict'], 'changes')} once "
            f"{row['stratifier']} is held fixed ({prose.signed_points(row['aggregate_diff'])} "
            f"overall, {prose.signed_points(row['adjusted_diff'])} within each {row['stratifier']}): "
            "the versions were served different mixes of traffic; the Simpson check "
            "examines it."
        )
    return bullets(lines)


def _signed_points(value: float, digits: int) -> str:
    return f"{100 * value:+.{digits}f}"


def gate_findings(gates: Any, limit: int = 5, words: Any = None):
    """A gate check's verdict for readers: the stage reached, why the next stage fails
    (up to ``limit`` checks), and every rollback trigger that fired, in plain numbers."""
    import polars as pl

    from aidebt.report.words import Words

    words = words or Words()
    order = ", ".join(gates.stages)
    when = f" in {gates.month}" if gates.month else ""
    if gates.stage is None:
        lines = [f"No stage reached{when}: {gates.stages[0]} fails (the stages: {order})."]
    else:
        lines = [f"Stage reached{when}: {gates.stage} (the stages: {order})."]
    failing = [s for s in gates.stages if not gates.stage_passed[s]]
    if failing:
        first = gates.failures.filter(pl.col("stage") == failing[0])
        lines += [
            f"{failing[0]} fails: {_gate_check(row, words)}."
            for row in first.head(limit).iter_rows(named=True)
        ]
        if first.height > limit:
            lines.append(
                f"{failing[0]} fails {first.height - limit:,} more checks of the same kind."
            )
        later = [
            f"{s} ({gates.failures.filter(pl.col('stage') == s).height:,} checks)"
            for s in failing[1:]
        ]
        if later:
            lines.append(f"Later stages fail too: {', '.join(later)}.")
    if gates.has_rollback:
        fired = gates.failures.filter(pl.col("stage") == "rollback")
        lines += [
            f"Rollback trigger fired: {_gate_check(row, words)}."
            for row in fired.iter_rows(named=True)
        ]
        if fired.is_empty():
            lines.append("No rollback trigger fired.")
    return bullets(lines)


def _gate_check(row: Mapping[str, Any], words: Any) -> str:
    """One judged check in words: the figure, its interval and the bound it is held to."""
    import aidebt.metrics as metrics
    from aidebt import prose

    criterion, segment = row["criterion"], row["segment"]
    where = "overall" if segment == "overall" else f"in {segment}"
    metric = metrics.REGISTRY.get(row.get("metric") or "")
    value, low, high, bound = (row.get(k) for k in ("value", "ci_low", "ci_high", "bound"))
    if metric is None or value is None or bound is None:
        return str(row["evidence"])  # counts and drift: already plain sentences
    name = words.metric(metric.name)
    share = metric.bounded and metric.in_points
    if criterion.startswith("trend."):
        return (
            f"{name} {where} declines beyond chance, by {abs(100 * value):.1f} points a month "
            f"(95% interval {prose.span(low, high, _signed_points)} points)"
        )
    if criterion.startswith("disparity."):
        return (
            f"{name} {where} differs from the whole by {prose.signed_points(value)} (95% interval "
            f"{prose.span(low, high, _signed_points)} points); the bound is "
            f"{100 * abs(bound):.1f} points"
        )
    # Enough digits that the interval's ends and the bound read apart when they differ.
    base = 1 if share else 3
    digits = next(
        (
            d
            for d in range(base, base + 3)
            if len({_fmt(v, share, d) for v in (low, high, bound) if v is not None})
            == len({v for v in (low, high, bound) if v is not None})
        ),
        base + 2,
    )
    interval = (
        ""
        if low is None
        else f" (95% interval {_fmt(low, share, digits)} to {_fmt(high, share, digits)})"
    )
    return (
        f"{name} {where} is {_fmt(value, share, digits)}{interval}; the bound is "
        f"{_fmt(bound, share, digits)}"
    )


def _fmt(value: float, share: bool, digits: int) -> str:
    from aidebt import prose

    return prose.pct(value, digits) if share else prose.number(value, digits)


def has_gates(config: Any) -> bool:
    """Whether ``config`` (an audit.toml path, or None) sets readiness stages ([gates])."""
    if not config:
        return False
    from aidebt.config import load_config

    return "gates" in load_config(config).raw


def trend_start(curve: Any, changes: Any, at_least: int = 3) -> Any:
    """Where the report's trend starts: the first change point when at least ``at_least``
    periods with a value follow it, else the start of the log (None)."""
    import polars as pl

    if changes.table.is_empty():
        return None
    first = changes.table["period"].min()
    after = curve.table.filter((pl.col("period") >= first) & pl.col("value").is_not_null())
    return first if after.height >= at_least else None


def has_trend(trend: Any) -> bool:
    """Whether a trend was fitted (a short history has too few periods for one)."""
    return bool(trend.fits)
