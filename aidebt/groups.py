"""Group values and labels: one rule for every result.

A group is named the same way everywhere a sentence, a chart or a table names it:
``language=ja, tier=free``, with the columns a margin row does not split on (``(all)``)
left out, and ``overall`` for the row that splits on nothing.

Examples
--------
>>> label({"language": "ja", "tier": "free"}, ["language", "tier"])
'language=ja, tier=free'
>>> label({"language": "ja", "tier": ALL}, ["language", "tier"]), label({}, [])
('language=ja', 'overall')
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import polars as pl

__all__ = ["ALL", "MISSING_GROUP", "OVERALL", "SEPARATOR", "iter_groups", "label", "label_expr"]

MISSING_GROUP = "(missing)"
"""The group value that stands for a null (or NaN) in a group column: counted, never dropped."""

ALL = "(all)"
"""The value a margin (or pooled) row shows in the group columns it does not split on."""

OVERALL = "overall"
"""The label of the row that splits on no column."""

SEPARATOR = ", "
"""Between the ``column=value`` parts of a label."""


def label(row: Mapping[str, Any], by: Sequence[str]) -> str:
    """``column=value`` for each group column of ``row`` (``(all)`` ones left out)."""
    parts = [f"{c}={row[c]}" for c in by if row[c] != ALL]
    return SEPARATOR.join(parts) or OVERALL


def label_expr(by: Sequence[str], name: str = "group") -> pl.Expr:
    """:func:`label` as a polars expression over a table's group columns."""
    if not by:
        return pl.lit(OVERALL).alias(name)
    parts = [
        pl.when(pl.col(c).cast(pl.String) != ALL).then(pl.lit(f"{c}=") + pl.col(c).cast(pl.String))
        for c in by
    ]
    text = pl.concat_str(parts, separator=SEPARATOR, ignore_nulls=True)
    return pl.when(text.is_null() | (text == "")).then(pl.lit(OVERALL)).otherwise(text).alias(name)


def iter_groups(table: pl.DataFrame, by: Sequence[str]) -> Iterator[tuple[tuple, pl.DataFrame]]:
    """``(key, rows)`` for each group in order of appearance; one ``((), table)`` without ``by``."""
    if not by:
        yield (), table
        return
    for key, part in table.group_by(list(by), maintain_order=True):
        yield tuple(key), part
