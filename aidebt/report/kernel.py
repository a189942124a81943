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
import string
from collections.abc import Mapping
from typing import Any

from aidebt.errors import InvalidArgumentError

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


def escape(value: Any) -> str:
    """A value from the data as literal text in markdown/HTML: no tags, no emphasis.

    Examples
    --------
    >>> escape("<img src=x onerror=alert(1)>")
    '&lt;img src=x onerror=alert\\\\(1\\\\)&gt;'
    >>> escape("free_tier")
    'free\\\\_tier'
    """
    return html.escape(str(value), quote=True).translate(_MD_SPECIAL)


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
