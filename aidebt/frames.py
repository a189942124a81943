"""Any input -> a lazy narwhals frame, with column checks that fail before any scan.

aidebt accepts a polars DataFrame or LazyFrame, a pandas DataFrame, a pyarrow Table, a
DuckDB relation, a PySpark DataFrame, or a path/glob to parquet or CSV files. Inside, every
analysis works on a narwhals ``LazyFrame`` so that the aggregation pass runs in the
engine that holds the data. Nothing here mutates the caller's data.
"""

from __future__ import annotations

import glob as _glob
from collections.abc import Iterable, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import narwhals as nw
import narwhals.dtypes as nwd
import polars as pl

from aidebt.errors import ColumnNotFoundError, ColumnTypeError, InvalidArgumentError, did_you_mean

MISSING_GROUP = "(missing)"
"""The group value that stands for a null (or NaN) in a group column: counted, never dropped."""

_SCANNERS = {".parquet": pl.scan_parquet, ".pq": pl.scan_parquet, ".csv": pl.scan_csv}


def scan_path(path: str | PathLike[str]) -> pl.LazyFrame:
    """Lazily scan a parquet or CSV file, or a glob of them, with polars.

    Examples
    --------
    >>> import tempfile, polars as pl
    >>> p = tempfile.mkdtemp() + "/x.parquet"
    >>> pl.DataFrame({"a": [1, 2]}).write_parquet(p)
    >>> scan_path(p).collect().height
    2
    """
    text = str(path)
    suffix = Path(text).suffix.lower()
    if suffix not in _SCANNERS:
        raise InvalidArgumentError(
            f"Cannot read {text!r}: aidebt reads parquet (.parquet) and CSV (.csv) files. "
            "Convert the file, or pass a polars/pandas/DuckDB frame instead."
        )
    if any(ch in text for ch in "*?["):
        if not _glob.glob(text):
            raise FileNotFoundError(f"No file matches {text!r}. Check the path and the pattern.")
    elif not Path(text).exists():
        raise FileNotFoundError(f"Data file {text!r} does not exist. Check the path.")
    return _SCANNERS[suffix](text)


def to_lazy(data: Any) -> nw.LazyFrame:
    """Wrap any supported input as a narwhals LazyFrame, without copying or collecting it.

    Examples
    --------
    >>> import polars as pl
    >>> to_lazy(pl.DataFrame({"a": [1]})).collect_schema().names()
    ['a']
    """
    if isinstance(data, nw.LazyFrame):
        return data
    if isinstance(data, nw.DataFrame):
        return data.lazy()
    if isinstance(data, (str, PathLike)):
        data = scan_path(data)
    try:
        frame = nw.from_native(data)
    except TypeError as exc:
        raise TypeError(
            f"aidebt cannot read a {type(data).__module__}.{type(data).__name__}. Pass a polars "
            "DataFrame/LazyFrame, a pandas DataFrame, a pyarrow Table, a DuckDB relation, a "
            "PySpark DataFrame, or a path to parquet/CSV files."
        ) from exc
    if isinstance(frame, nw.DataFrame):
        return frame.lazy()
    return frame


def columns(frame: nw.LazyFrame) -> dict[str, Any]:
    """The schema of a lazy frame as {name: narwhals dtype}; reads metadata only."""
    return dict(frame.collect_schema())


def require_columns(frame: nw.LazyFrame, names: Iterable[str | None], *, role: str = "") -> None:
    """Raise a clear error, before any scan, when a named column is not in the data."""
    schema = columns(frame)
    for name in names:
        if name is None:
            continue
        if not isinstance(name, str):
            raise TypeError(f"Column names must be strings, got {name!r} ({type(name).__name__}).")
        if name not in schema:
            what = f" (given as {role})" if role else ""
            raise ColumnNotFoundError(
                f"Column {name!r}{what} is not in the data. {did_you_mean(name, schema)}"
            )


def as_list(by: str | Sequence[str] | None) -> list[str]:
    """Normalise a column-or-columns argument to a list of names."""
    if by is None:
        return []
    if isinstance(by, str):
        return [by]
    return list(by)


def is_numeric(dtype: Any) -> bool:
    return dtype.is_numeric() or dtype == nw.Boolean


def is_temporal(dtype: Any) -> bool:
    return isinstance(dtype, (nwd.Datetime, nwd.Date)) or dtype in (nw.Datetime, nw.Date)


def group_key(name: str, dtype: Any) -> nw.Expr:
    """A group column as strings, with null and NaN turned into the explicit ``(missing)`` group.

    Group values come back as strings so that the ``(missing)`` group and the ``(all)``
    margin rows fit in the same column whatever its original type.
    """
    col = nw.col(name)
    if dtype.is_float():
        col = nw.when(col.is_nan()).then(None).otherwise(col)
    if dtype == nw.Boolean:
        col = nw.when(col).then(nw.lit("true")).when(~col).then(nw.lit("false"))
    return col.cast(nw.String).fill_null(MISSING_GROUP).alias(name)


def check_numeric(frame: nw.LazyFrame, name: str, *, role: str, fix: str) -> None:
    """Raise ColumnTypeError when ``name`` is not numeric/boolean (schema only, no scan)."""
    dtype = columns(frame)[name]
    if not is_numeric(dtype):
        found = sample_values(frame, name)
        raise ColumnTypeError(
            f"Column {name!r} ({role}) has type {dtype} with values such as {found}; "
            f"aidebt needs numbers or booleans here. {fix}"
        )


def sample_values(frame: nw.LazyFrame, name: str, limit: int = 8) -> str:
    """A few distinct values of a column, for error messages only (a small query)."""
    try:
        values = (
            frame.select(nw.col(name)).unique().head(limit).collect(backend="polars").to_native()
        )
        found = sorted(values.get_column(name).to_list(), key=lambda v: (v is None, str(v)))
    except Exception:  # the message matters more than the sample
        return "(could not read sample values)"
    return ", ".join(repr(v) for v in found)
