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
    """
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
_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()#+!|~"})
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


def table(frame: Any, max_rows: int = 40):
    """A polars frame as a compact HTML table for readers, every value escaped."""
    from IPython.display import HTML

    from aidebt.results import html_table

    return HTML(html_table(frame, max_rows=max_rows))


def key_figures(result: Any, *, prefix: str = ""):
    """Record a result's overall figures in the manifest and show them as a table.

    Each row of ``result.overall`` (``metric``, ``value``, ``ci_low``, ``ci_high``,
    ``n``) becomes the key figure ``prefix + metric`` and a line of the table, with the
    metric's plain-English meaning and what its ``n`` counts.
    """
    from IPython.display import Markdown

    import aidebt.metrics as metrics

    lines = ["| measure | value | 95% interval | based on |", "|---|---|---|---|"]
    for row in result.overall.iter_rows(named=True):
        name, value = row["metric"], row["value"]
        whole = name == "count" and isinstance(value, float) and value.is_integer()
        record(prefix + name, int(value) if whole else value)
        try:
            metric = metrics.get(name)
            meaning, counted = metric.description, metric.denominator_name
        except Exception:  # a custom metric: no registry entry
            meaning, counted = "", "rows"
        low, high = row.get("ci_low"), row.get("ci_high")
        interval = f"{low:.3f} – {high:.3f}" if low is not None and high is not None else ""
        shown = "" if value is None else f"{value:,.3f}" if name != "count" else f"{value:,.0f}"
        n = "" if row.get("n") is None else f"{row['n']:,.0f} {counted}"
        label = f"**{escape(name)}**" + (f": {escape(meaning)}" if meaning else "")
        lines.append(f"| {label} | {shown} | {interval} | {escape(n)} |")
    return Markdown("\n".join(lines))


def findings(result: Any, *, empty: str = "Nothing stands out."):
    """A result's plain-English findings (``result.summary()``) as an escaped list."""
    return bullets(result.summary(), empty=empty)
