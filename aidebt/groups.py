r"""Group values and labels: one rule for every result.

A group is named the same way everywhere a chart, a table cell or a recorded figure names
it: ``language=ja, tier=free``, with the columns a margin row does not split on
(``(all)``) left out, and ``overall`` for the row that splits on nothing (other code and
users' scripts read these labels). A sentence names it in words, by the same rule:
:func:`aidebt.prose.group_phrase` (``Language: ja and Tier: free``).

Examples
--------
>>> label({"language": "ja", "tier": "free"}, ["language", "tier"])
'language=ja, tier=free'
>>> label({"language": "ja", "tier": ALL}, ["language", "tier"]), label({}, [])
('language=ja', 'overall')

The markers are strings, so a data value could spell one: a group literally named
``(all)`` or ``(missing)`` would pass for a margin row or for the rows with no value. Data
values never do: :func:`escape` (applied by :func:`aidebt.frames.group_key`, where every
group value becomes text) puts a backslash before a value that spells a marker, and
before a value that spells an escaped one, so distinct values stay distinct:

>>> print(*(escape(v) for v in ["(all)", "(missing)", "\\(all)", "all", "(all) x"]), sep=" | ")
\(all) | \(missing) | \\(all) | all | (all) x

Column names cannot be escaped the same way (a result's ``value`` column and a group
column named ``value`` cannot share a table), so :func:`check_names` refuses a group
column named like a column of the result, or starting with ``_``: aidebt's working
columns all start with ``_`` (``_x``, ``_se``, ``_p``...), so no user group column can
collide with one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any

import polars as pl

from aidebt.errors import InvalidArgumentError

__all__ = [
    "ALL",
    "MISSING_GROUP",
    "OVERALL",
    "SEPARATOR",
    "WORKING_PREFIX",
    "check_names",
    "escape",
    "iter_groups",
    "label",
    "label_expr",
    "overall_expr",
    "pick_baseline",
    "value_key",
]

MISSING_GROUP = "(missing)"
"""The group value that stands for a null (or NaN) in a group column: counted, never dropped."""

ALL = "(all)"
"""The value a margin (or pooled) row shows in the group columns it does not split on."""

OVERALL = "overall"
"""The label of the row that splits on no column."""

SEPARATOR = ", "
"""Between the ``column=value`` parts of a label."""

WORKING_PREFIX = "_"
"""The first character of every working column aidebt adds to a table; no group column has it."""

ESCAPE = "\\"
"""Put before a data value that spells a marker (see :func:`escape`)."""

MARKER_PATTERN = r"^\\*\((?:all|missing)\)$"
"""The values :func:`escape` changes: a marker after any number of backslashes (a regex
that polars, DuckDB, Spark, pandas and pyarrow read the same way)."""


def escape(value: str) -> str:
    """A data value as a group value: one more backslash before a value that spells a marker.

    Injective, and never equal to ``(all)`` or ``(missing)``: the markers only ever stand
    for the rows the package made (margins, nulls), never for a value from the data.
    """
    import re

    return ESCAPE + value if re.match(MARKER_PATTERN, value) else value


def check_names(
    names: Iterable[str | None], taken: Collection[str] = (), *, role: str = "a group column"
) -> None:
    """Refuse group columns whose names the package's tables already use (before any scan).

    ``taken`` holds the columns a result puts next to the group columns (``metric``,
    ``value``, ``n``...); any name starting with ``_`` is a working column.

    Examples
    --------
    >>> check_names(["region"], {"value", "n"})
    >>> check_names(["n"], {"value", "n"})
    Traceback (most recent call last):
    ...
    aidebt.errors.InvalidArgumentError: Column 'n' (a group column) has the name of a column of aidebt's own tables, where the two would collide. Rename it in the data, e.g. data.rename({'n': 'n_group'}).
    """
    for name in names:
        if name is None:
            continue
        if name.startswith(WORKING_PREFIX):
            raise InvalidArgumentError(
                f"Column {name!r} ({role}) starts with {WORKING_PREFIX!r}, which aidebt keeps "
                f"for its working columns. Rename it in the data, e.g. "
                f"data.rename({{{name!r}: {name.lstrip(WORKING_PREFIX) or 'group'!r}}})."
            )
        if name in taken:
            raise InvalidArgumentError(
                f"Column {name!r} ({role}) has the name of a column of aidebt's own tables, "
                "where the two would collide. Rename it in the data, e.g. "
                f"data.rename({{{name!r}: {name + '_group'!r}}})."
            )


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
    """``(key, rows)`` for each group in order of appearance; one ``((), table)`` without ``by``.

    An empty table has no group, with ``by`` or without.
    """
    if table.is_empty():
        return
    if not by:
        yield (), table
        return
    for key, part in table.group_by(list(by), maintain_order=True):
        yield tuple(key), part


def overall_expr(by: Sequence[str]) -> pl.Expr:
    """True on the overall row of a table with margin rows: ``(all)`` in every group column."""
    return pl.all_horizontal([pl.col(c) == ALL for c in by]) if by else pl.lit(True)


def pick_baseline(baseline: Any, values: Sequence[str], column: str) -> str:
    """The baseline level of a column (a version, an arm): ``baseline`` as text, checked to
    be one of ``values`` (with a did-you-mean), or the first of ``values`` when None.

    Examples
    --------
    >>> pick_baseline(None, ["v1", "v2"], "prompt_version"), pick_baseline(2, ["1", "2"], "v")
    ('v1', '2')
    >>> pick_baseline(False, ["false", "true"], "flag"), pick_baseline(3, ["2.0", "3.0"], "v")
    ('false', '3.0')
    """
    from aidebt.errors import InvalidValueError, did_you_mean

    if not values:
        raise InvalidValueError(
            f"Column {column!r} has no value: there is nothing to compare (the data has no "
            "rows, or a filter left none)."
        )
    if baseline is None:
        return values[0]
    key = value_key(baseline, values)
    if key not in values:
        raise InvalidArgumentError(
            f"baseline={baseline!r} is not a value of column {column!r}. "
            f"{did_you_mean(key, list(values))}"
        )
    return key


def value_key(value: Any, values: Sequence[str] = ()) -> str:
    """A value as the text of its group (as :func:`aidebt.frames.group_key` writes it).

    ``True``/``False`` are ``'true'``/``'false'``; a number matches the level that holds
    the same number (``3`` is ``'3.0'`` of a float column); anything else is ``str()``.

    Examples
    --------
    >>> value_key(True), value_key(3, ["2.0", "3.0"]), value_key("v2")
    ('true', '3.0', 'v2')
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    key = str(value)
    if key in values or not isinstance(value, int | float):
        return key
    for level in values:  # the levels of one column: a short list
        try:
            if float(level) == value:
                return level
        except ValueError:
            continue
    return key
