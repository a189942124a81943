"""The shared shape of every analysis result: a tidy polars table, shown well in Jupyter."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import polars as pl


def conform(
    rows: pl.DataFrame | Sequence[Mapping[str, Any]],
    schema: Mapping[str, Any],
    lead: Mapping[str, Any] | None = None,
) -> pl.DataFrame:
    """A result table with exactly the declared columns: ``lead`` (group columns) then
    ``schema``, in that order and with those types; a column no row has is all null.

    Each result declares its columns once, as a ``{name: dtype}`` mapping, and builds its
    table through this, so its schema does not depend on which rows happened to exist.

    Examples
    --------
    >>> conform([{"b": 1}], {"a": pl.Float64, "b": pl.Int64}).schema
    Schema([('a', Float64), ('b', Int64)])
    """
    full = {**(lead or {}), **schema}
    table = (
        rows
        if isinstance(rows, pl.DataFrame)
        else pl.DataFrame(list(rows), infer_schema_length=None)
    )
    return table.with_columns(
        pl.col(c).cast(t) if c in table.columns else pl.lit(None, t).alias(c)
        for c, t in full.items()
    ).select(list(full))


def html_table(table: pl.DataFrame, max_rows: int = 40, float_digits: int = 4) -> str:
    """A compact, escaped HTML table (values from data are escaped, never interpreted)."""
    shown = table.head(max_rows)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    rows = []
    for row in shown.iter_rows():
        cells = []
        for v in row:
            if isinstance(v, float):
                text = "" if v != v else f"{v:.{float_digits}g}"
            elif v is None:
                text = ""
            else:
                text = str(v)
            cells.append(f"<td>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = (
        f"<p><small>{table.height - max_rows} more rows in <code>.table</code></small></p>"
        if table.height > max_rows
        else ""
    )
    return (
        '<table class="aidebt-table" style="border-collapse:collapse;font-size:12px">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{more}"
    )


class Headline(NamedTuple):
    """One sentence for the monthly audit, and the key figures behind it.

    The sentence is what a stakeholder reads; ``figures`` (name -> number, text or None)
    are what the report records as the month's key figures. ``str()`` is the sentence, and
    it unpacks as ``sentence, figures = result.headline()``.

    Examples
    --------
    >>> h = Headline("3 segments fall short.", {"segments_short": 3})
    >>> str(h), h.figures["segments_short"]
    ('3 segments fall short.', 3)
    """

    sentence: str
    figures: dict[str, Any]

    def __str__(self) -> str:
        return self.sentence


class Result:
    """Base of analysis results: ``.table`` (polars), ``.to_pandas()``, rich Jupyter display.

    Subclasses set ``title`` and may override :meth:`summary` (plain-English lines) and
    :meth:`chart` (an altair chart).
    """

    title = "aidebt result"

    def __init__(self, table: pl.DataFrame) -> None:
        self.table = table

    def summary(self) -> list[str]:
        """Plain-English findings, one per line."""
        return []

    def notes(self) -> list[str]:
        """Caveats about the data behind the findings (shown under them)."""
        return []

    def to_pandas(self) -> Any:
        """The table as a pandas DataFrame (needs pandas installed)."""
        return self.table.to_pandas()

    def _display_table(self) -> pl.DataFrame:
        return self.table

    def _repr_html_(self) -> str:
        lines = "".join(f"<li>{html.escape(s)}</li>" for s in self.summary())
        findings = f"<ul>{lines}</ul>" if lines else ""
        notes = "".join(f"<p><small>{html.escape(s)}</small></p>" for s in self.notes())
        return (
            f"<div class='aidebt-result'><strong>{html.escape(self.title)}</strong>"
            f"{findings}{notes}{html_table(self._display_table())}</div>"
        )

    def __repr__(self) -> str:
        lines = "\n".join(f"- {s}" for s in [*self.summary(), *self.notes()])
        return f"{self.title}\n{lines}\n{self._display_table()}"
