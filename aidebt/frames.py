"""Any input -> a lazy narwhals frame, with column checks that fail before any scan.

aidebt accepts a polars DataFrame or LazyFrame, a pandas DataFrame, a pyarrow Table, a
DuckDB relation, a PySpark DataFrame, or a path/glob to parquet or CSV files. Inside, every
analysis works on a narwhals ``LazyFrame`` so that the aggregation pass runs in the
engine that holds the data. Nothing here mutates the caller's data.
"""

from __future__ import annotations

import datetime as _dt
import functools
import glob as _glob
import operator
import re
from collections.abc import Iterable, Sequence
from os import PathLike
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import narwhals as nw
import narwhals.dtypes as nwd
import polars as pl

from aidebt import periods
from aidebt.errors import (
    ColumnNotFoundError,
    ColumnTypeError,
    InvalidArgumentError,
    InvalidValueError,
    did_you_mean,
)
from aidebt.groups import ESCAPE, MARKER_PATTERN, MISSING_GROUP

# Dates whose order needs no guess: the year first (2026-11-05, 2026/11/05, ISO 8601).
_YEAR_FIRST = r"^\s*\d{4}[-/.]\d{1,2}[-/.]\d{1,2}"
# Dates whose day and month could be swapped: 11/05/2026, 05.11.26 (time of day optional).
_DAY_MONTH = r"^\s*(\d{1,2})([-/.])(\d{1,2})[-/.](\d{4}|\d{2})\b"
_TIME_OF_DAY = r"^([ T])\d{1,2}:\d{2}(:\d{2})?(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$"
# Rows read from the start of a CSV to see how its dates are written (polars infers its
# types from the first 100).
_DATE_SAMPLE = 1000


def _scan_csv(source: str, time_format: str | None) -> pl.LazyFrame:
    """A CSV scan whose dates are never guessed.

    polars' date inference reads ``11/05/2026`` day first whenever every day in its sample
    is 12 or less, so a US file's November becomes May. Here only dates written year first
    are parsed by inference; a column of dates with day and month in either order stays
    text (an analysis that needs it as a time says how to read it), unless ``time_format``
    says how: then every text column whose values all match it is parsed with it.
    """
    target = _format_dtype(time_format) if time_format is not None else None
    guessed = pl.scan_csv(source, try_parse_dates=True)
    schema = guessed.collect_schema()
    temporal = [c for c, t in schema.items() if t.is_temporal()]
    candidates = [
        c
        for c, t in schema.items()
        if t.is_temporal() or (time_format is not None and t == pl.String)
    ]
    if not candidates:
        return guessed
    # The columns' text as written, from the first rows only.
    sample = pl.scan_csv(source, infer_schema=False).select(candidates).head(_DATE_SAMPLE).collect()
    keep_text: dict[str, Any] = {}
    parse: list[str] = []
    for c in candidates:
        values = sample.get_column(c).drop_nulls()
        if values.is_empty():
            continue
        if (
            target is not None
            and not values.str.strptime(target, time_format, strict=False).has_nulls()
        ):
            parse.append(c)
            keep_text[c] = pl.String
        elif c in temporal and not values.str.contains(_YEAR_FIRST).all():
            keep_text[c] = pl.String  # day and month could be either way round: no guess
    if time_format is not None:
        # A format that leaves a column of dates as text is a mistake worth saying now (a
        # file with no dates at all, such as an eval set, simply has nothing to parse).
        dates_left = [
            c
            for c in candidates
            if c not in parse
            and sample.get_column(c).drop_nulls().str.contains(f"{_DAY_MONTH}|{_YEAR_FIRST}").any()
            and (c in keep_text or schema[c] == pl.String)
        ]
        if dates_left:
            shown = ", ".join(
                f"{c!r} (e.g. {sample.get_column(c).drop_nulls().item(0)!r})" for c in dates_left
            )
            raise InvalidArgumentError(
                f"time_format={time_format!r} does not match the dates of {shown} in "
                f"{source!r}: every value of a column must match it. Check the format, e.g. "
                "'%m/%d/%Y' reads 11/05/2026 as 5 November, '%d/%m/%Y' as 11 May."
            )
    frame = pl.scan_csv(source, try_parse_dates=True, schema_overrides=keep_text or None)
    return frame.with_columns(pl.col(c).str.strptime(target, time_format) for c in parse)


def _format_dtype(time_format: Any) -> Any:
    """Date for a format with no time of day, else Datetime; a clear error for a non-format."""
    if not isinstance(time_format, str) or "%" not in time_format:
        raise InvalidArgumentError(
            f"time_format={time_format!r} must be a strptime format such as '%m/%d/%Y' "
            "(month first, US) or '%d/%m/%Y %H:%M' (day first, with a time of day)."
        )
    clock = ("%H", "%I", "%M", "%S", "%T", "%R", "%c", "%s", "%f", "%p", "%z", "%.f")
    return pl.Datetime if any(d in time_format for d in clock) else pl.Date


_SCANNERS = {
    ".parquet": lambda source, time_format: pl.scan_parquet(source),
    ".pq": lambda source, time_format: pl.scan_parquet(source),
    ".csv": _scan_csv,
}


def scan_path(path: str | PathLike[str], *, time_format: str | None = None) -> pl.LazyFrame:
    """Lazily scan a parquet or CSV file, a glob of them, or a directory of parquet files.

    Nothing is read here but the schema (and a CSV's first rows, to see how it writes its
    dates): the polars query that aidebt builds on top selects only the columns an
    analysis needs (projection pushdown) and, with :func:`filter_window`, skips the parquet
    row groups outside the time window (predicate pushdown); the final collect streams the
    files in batches. A directory is read as ``DIR/**/*.parquet`` (hive partitions such as
    ``month=2026-11/`` become columns).

    A CSV's dates are read only when their order is certain: written year first
    (``2026-11-05``, ISO 8601), or with ``time_format``. Dates such as ``11/05/2026`` could
    be 5 November or 11 May: without ``time_format`` they stay text, and an analysis that
    needs them as times says which format the values allow.

    Parameters
    ----------
    path
        A file, a glob, or a directory of parquet files.
    time_format
        The strptime format of a CSV's date or time column(s), e.g. ``'%m/%d/%Y'`` (month
        first, US) or ``'%d/%m/%Y %H:%M'``: every text column whose values match it is
        parsed with it, and a column of dates it does not match is an error. Parquet
        stores types: it is not used there.

    Examples
    --------
    >>> import tempfile, polars as pl
    >>> p = tempfile.mkdtemp() + "/x.parquet"
    >>> pl.DataFrame({"a": [1, 2]}).write_parquet(p)
    >>> scan_path(p).collect().height
    2
    """
    text = str(path)
    # s3://, gs://, az://, https://: polars reads them itself (credentials from the
    # environment); there is no local file to check.
    remote = "://" in text
    if not remote and Path(text).is_dir():
        if not any(Path(text).rglob("*.parquet")):
            raise FileNotFoundError(
                f"Directory {text!r} holds no .parquet file. Point at the files, or a glob "
                "such as 'logs/*.csv'."
            )
        return pl.scan_parquet(str(Path(text) / "**" / "*.parquet"))
    suffix = Path(text).suffix.lower()
    if suffix not in _SCANNERS:
        raise InvalidArgumentError(
            f"Cannot read {text!r}: aidebt reads parquet (.parquet) and CSV (.csv) files. "
            "Convert the file, or pass a polars/pandas/DuckDB/Spark frame instead."
        )
    if remote:
        pass
    elif any(ch in text for ch in "*?["):
        if not _glob.glob(text, recursive=True):
            raise FileNotFoundError(f"No file matches {text!r}. Check the path and the pattern.")
    elif not Path(text).exists():
        raise FileNotFoundError(f"Data file {text!r} does not exist. Check the path.")
    return _SCANNERS[suffix](text, time_format)


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
    try:  # narwhals wraps each engine lazily: polars, pandas, pyarrow, DuckDB, PySpark...
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


def in_polars(frame: nw.LazyFrame, names: Sequence[str] | None = None) -> nw.LazyFrame:
    """pandas and pyarrow rows handed to polars once, through Arrow, for work they do slowly.

    pandas runs a query expression by expression, and has no fast path for what sorts,
    bins or interpolates (drift's reference quantiles and bins, AUC's placements): 99
    quantiles of a column are 99 separate pandas calls, a 100-edge binning a nested
    condition evaluated in full. Those analyses first pass the columns ``names`` (default:
    all) of a pandas DataFrame or pyarrow Table to polars through Arrow: without a copy
    where the types allow (numbers without nulls, Arrow-backed columns), and with NaN left
    as NaN (aidebt reads a NaN as missing in every engine), so the results are the same to
    the last digit. DuckDB, Spark and polars frames are returned as they are: their engines
    do this work in place, and their rows never leave them. A pandas frame that polars
    cannot read (an object column of mixed types, say) also stays as it is.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = in_polars(to_lazy(pd.DataFrame({"a": [1.5, float("nan")], "b": ["x", "y"]})), ["a"])
    >>> frame.implementation.is_polars(), frame.collect().to_native()["a"].to_list()
    (True, [1.5, nan])
    """
    impl = frame.implementation
    if not (impl.is_pandas() or impl.is_pyarrow()):
        return frame
    native = frame.to_native()
    if names is not None:
        names = list(dict.fromkeys(names))
        native = native[names] if impl.is_pandas() else native.select(names)
    try:
        converted = (
            pl.from_pandas(native, nan_to_null=False) if impl.is_pandas() else pl.from_arrow(native)
        )
    except Exception:  # mixed object columns and the like: pandas keeps the work
        return frame if names is None else frame.select(names)
    return nw.from_native(converted.lazy())


def approx_distinct(frame: nw.LazyFrame, names: Sequence[str]) -> tuple[int, int]:
    """The rows of ``frame`` and about how many distinct combinations of ``names`` they hold.

    One cheap pass in the data's engine, to choose between two exact ways of doing the
    same work: HyperLogLog where the engine has it (polars ``approx_n_unique``, DuckDB and
    Spark ``approx_count_distinct``; a few percent off), an exact count elsewhere.

    Examples
    --------
    >>> import polars as pl
    >>> approx_distinct(to_lazy(pl.DataFrame({"a": [1, 1, 2], "b": [0, 0, 0]})), ["a", "b"])
    (3, 2)
    """
    names = list(names)
    impl = frame.implementation
    native = frame.to_native()
    if impl.is_polars():
        # Independently seeded column hashes, combined: far cheaper than a struct's hash.
        key = functools.reduce(operator.xor, (pl.col(n).hash(seed=i) for i, n in enumerate(names)))
        query = native.lazy().select(pl.len(), key.approx_n_unique())
        row = query.collect(engine="streaming").row(0)
    elif impl.is_duckdb():
        quoted = ", ".join('"' + n.replace('"', '""') + '"' for n in names)
        row = native.aggregate(f"count(*), approx_count_distinct(row({quoted}))").fetchall()[0]
    elif impl.is_pyspark() or impl.is_pyspark_connect():
        from pyspark.sql import functions as F  # noqa: N812

        key = F.col(names[0]) if len(names) == 1 else F.struct(*names)
        row = native.agg(F.count(F.lit(1)), F.approx_count_distinct(key)).first()
    else:
        total = frame.select(nw.len()).collect(backend="polars").item()
        distinct = frame.select(names).unique().select(nw.len()).collect(backend="polars").item()
        row = (total, distinct)
    return int(row[0] or 0), int(row[1] or 0)


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


def group_key(name: str, dtype: Any, *, on: Any = nw) -> nw.Expr:
    """A group column as strings, with null and NaN turned into the explicit ``(missing)`` group.

    Group values come back as strings so that the ``(missing)`` group and the ``(all)``
    margin rows fit in the same column whatever its original type. A text value that
    spells one of those markers is escaped (:func:`aidebt.groups.escape`), so the markers
    only ever mean what the package made.

    ``on`` is the expression library: narwhals (the default) for a query in the data's
    engine; ``polars`` for a table already in polars (the small table of a pass), the same
    rule without narwhals' translation, which costs about a millisecond a table.
    ``dtype`` is the column's narwhals type either way.

    Examples
    --------
    >>> import polars as pl
    >>> t = pl.DataFrame({"g": [1.5, None, float("nan")]})
    >>> t.select(group_key("g", nw.Float64, on=pl))["g"].to_list()
    ['1.5', '(missing)', '(missing)']
    """
    col = on.col(name)
    if dtype.is_float():
        col = on.when(col.is_nan()).then(None).otherwise(col)
    if dtype == nw.Boolean:
        col = on.when(col).then(on.lit("true")).when(~col).then(on.lit("false"))
    text = col.cast(on.String)
    if not is_numeric(dtype) and not is_temporal(dtype):
        # Only text can spell a marker; the same regex in every engine.
        spelled = text.str.contains(MARKER_PATTERN)
        text = on.when(spelled).then(on.concat_str([on.lit(ESCAPE), text])).otherwise(text)
    return text.fill_null(MISSING_GROUP).alias(name)


def check_numeric(frame: nw.LazyFrame, name: str, *, role: str, fix: str) -> None:
    """Raise ColumnTypeError when ``name`` is not numeric/boolean (schema only, no scan)."""
    dtype = columns(frame)[name]
    if not is_numeric(dtype):
        found = sample_values(frame, name)
        raise ColumnTypeError(
            f"Column {name!r} ({role}) has type {dtype} with values such as {found}; "
            f"aidebt needs numbers or booleans here. {fix}"
        )


def require_temporal(frame: nw.LazyFrame, name: str, *, needed_by: str) -> None:
    """Raise a clear error, before any scan, unless ``name`` is a Date or Datetime column."""
    require_columns(frame, [name], role="time")
    dtype = columns(frame)[name]
    if is_temporal(dtype):
        return
    found = sample_values(frame, name)
    if dtype == nw.String:
        raise ColumnTypeError(
            f"Column {name!r} (time) holds text, not dates (values such as {found}); "
            f"{needed_by} needs a Date or Datetime column. {_time_text_fix(frame, name)}"
        )
    fix = (
        _time_number_fix(frame, name)
        if is_numeric(dtype) and dtype != nw.Boolean
        else f"Parse it first, e.g. pl.col({name!r}).str.to_datetime()."
    )
    raise ColumnTypeError(
        f"Column {name!r} (time) has type {dtype} with values such as {found}; {needed_by} "
        f"needs a Date or Datetime column. {fix}"
    )


# Unix times of the years 2001 to 2286 in seconds are 10 digits; in ms 13, us 16, ns 19.
_EPOCH_UNITS = ((1e11, "s", "seconds"), (1e14, "ms", "milliseconds"), (1e17, "us", "microseconds"))


def _time_number_fix(frame: nw.LazyFrame, name: str) -> str:
    """How to turn a numeric time column into dates: a YYYYMMDD day, or a Unix time.

    The unit of a Unix time is read off the size of a value (seconds have 10 digits in
    this century, milliseconds 13...); the message says what it assumed.
    """
    first = frame.select(nw.col(name)).filter(~nw.col(name).is_null()).head(1)
    values = first.collect(backend="polars").to_native().get_column(name).to_list()
    value = abs(values[0]) if values else 0
    col = f"pl.col({name!r})"
    if 19000101 <= value <= 21001231 and float(value).is_integer():  # years 1900 to 2100
        return (
            f"If it holds days written as YYYYMMDD, convert it first: "
            f"{col}.cast(pl.Int64).cast(pl.String).str.to_date('%Y%m%d')."
        )
    unit, words = next(
        ((u, w) for size, u, w in _EPOCH_UNITS if value < size), ("ns", "nanoseconds")
    )
    as_int = f"{col}.cast(pl.Int64)" if columns(frame)[name].is_float() else col
    return (
        f"If it counts {words} since 1970 (Unix time), convert it first: "
        f"pl.from_epoch({as_int}, time_unit={unit!r})."
    )


def _time_text_fix(frame: nw.LazyFrame, name: str) -> str:
    """How to read a text time column: the format its values settle, or the choice to make.

    Dates such as ``11/05/2026`` are month first when some second part is above 12, day
    first when some first part is, and undecided when every part is 12 or less: then the
    message offers both readings and never picks one.
    """
    how = (
        "to the loader (time_format= of aidebt.frames.load; in audit.toml, time_format "
        "under [data]), or parse the column first"
    )
    first = frame.select(nw.col(name)).filter(~nw.col(name).is_null()).head(1)
    value = first.collect(backend="polars").to_native().get_column(name).to_list()
    example = value[0] if value else ""
    layout = re.match(_DAY_MONTH, example)
    if layout is None:
        year_first = re.match(_YEAR_FIRST, example)
        if year_first:  # the order is settled: the format is read off the value itself
            sep = year_first.group(0).strip()[4]
            fmt = f"%Y{sep}%m{sep}%d" + _clock_format(example[year_first.end() :])
            return (
                f"Pass its strptime format as time_format={fmt!r} {how}: "
                f"pl.col({name!r}).str.to_datetime({fmt!r})."
            )
        fmt = "%b %d %Y"
        return (
            f"Pass its strptime format as time_format={fmt!r} (for instance) {how}: "
            f"pl.col({name!r}).str.to_datetime({fmt!r})."
        )
    sep, year = layout.group(2), "%Y" if len(layout.group(4)) == 4 else "%y"
    tail = _clock_format(example[layout.end() :])
    month_first = f"%m{sep}%d{sep}{year}{tail}"
    day_first = f"%d{sep}%m{sep}{year}{tail}"
    big_first, big_second = _parts_above_12(frame, name)
    if big_second and not big_first:
        return (
            f"Its dates are month first (a second part above 12, e.g. {big_second!r}): "
            f"pass time_format={month_first!r} {how}: "
            f"pl.col({name!r}).str.to_datetime({month_first!r})."
        )
    if big_first and not big_second:
        return (
            f"Its dates are day first (a first part above 12, e.g. {big_first!r}): "
            f"pass time_format={day_first!r} {how}: "
            f"pl.col({name!r}).str.to_datetime({day_first!r})."
        )
    if big_first and big_second:
        return (
            f"Its dates mix both orders ({big_first!r}, {big_second!r}): fix the column, then "
            f"pass its format as time_format= {how}."
        )
    return (
        f"Every day and month in it is 12 or less, so {example.strip()!r} could be month first "
        f"or day first, and aidebt does not guess: pass time_format={month_first!r} (month "
        f"first, as in the US) or time_format={day_first!r} (day first) {how}: "
        f"pl.col({name!r}).str.to_datetime({month_first!r})."
    )


def _clock_format(rest: str) -> str:
    """The strptime format of a time of day after a date (``' 14:05:09.5+02:00'``), or ''.

    A ``Z`` suffix stays a literal (``%z`` does not read it): the times parse as they are
    written, in UTC.
    """
    clock = re.match(_TIME_OF_DAY, rest)
    if not clock:
        return ""
    fmt = clock.group(1) + "%H:%M" + (":%S" if clock.group(2) else "")
    fmt += "%.f" if clock.group(3) else ""
    zone = clock.group(4)
    return fmt + ("" if not zone else "Z" if zone == "Z" else "%z")


def _parts_above_12(frame: nw.LazyFrame, name: str) -> tuple[str | None, str | None]:
    """A value whose first part is above 12 and one whose second is (None when none is).

    Every value is looked at (one small query, on the error path only) when the data is
    in polars; other engines show the first 100,000 rows.
    """
    native = frame.to_native()
    if not isinstance(native, (pl.DataFrame, pl.LazyFrame)):
        native = frame.select(nw.col(name)).head(100_000).collect(backend="polars").to_native()
    col = pl.col(name)
    parts = [col.str.extract(_DAY_MONTH, i).cast(pl.Int64, strict=False) for i in (1, 3)]
    found = (
        native.lazy()
        .select(
            col.filter(parts[0] > 12).first().alias("first"),
            col.filter(parts[1] > 12).first().alias("second"),
        )
        .collect()
    )
    return found.item(0, "first"), found.item(0, "second")


def distinct_values(frame: nw.LazyFrame, name: str, limit: int = 8) -> list[Any] | None:
    """Up to ``limit`` distinct values of a column, sorted, nulls last (a small query).

    For error messages and hints only; None when the values cannot be read.
    """
    try:
        values = (
            frame.select(nw.col(name)).unique().head(limit).collect(backend="polars").to_native()
        )
        return sorted(values.get_column(name).to_list(), key=lambda v: (v is None, str(v)))
    except Exception:  # the message matters more than the sample
        return None


def sample_values(frame: nw.LazyFrame, name: str, limit: int = 8) -> str:
    """A few distinct values of a column, for error messages only (a small query)."""
    found = distinct_values(frame, name, limit)
    return "(could not read sample values)" if found is None else ", ".join(map(repr, found))


def filter_window(
    data: Any,
    time: str,
    start: str | _dt.date | periods.Month | None = None,
    end: str | _dt.date | periods.Month | None = None,
) -> nw.LazyFrame:
    """The rows whose ``time`` falls in ``[start, end)``, as a lazy filter in the input's engine.

    Nothing is scanned here. The bounds become literals of the column's own type (a date
    for a Date column; a datetime in the column's time zone for a zoned Datetime, so a
    month means the month of its wall clock), which lets each engine push the filter into
    its scan: polars and DuckDB skip the parquet row groups outside the window, Spark
    prunes partitions and files. A monthly report on a year of logs reads one month.

    Parameters
    ----------
    data
        Any input :func:`to_lazy` accepts (a path is scanned lazily).
    time
        A Date or Datetime column.
    start, end
        Inclusive start and exclusive end: a ``date``, a ``datetime``, a
        :class:`aidebt.periods.Month` (its first day), or an ISO string (``"2026-11"``
        means 2026-11-01, ``"2026-11-15"``, ``"2026-11-15T08:00"``). ``None`` leaves that
        side open.

    Examples
    --------
    >>> import datetime as dt, polars as pl
    >>> df = pl.DataFrame({"ts": [dt.datetime(2026, 10, 31), dt.datetime(2026, 11, 2)]})
    >>> filter_window(df, "ts", "2026-11", "2026-12").collect().to_native()["ts"].to_list()
    [datetime.datetime(2026, 11, 2, 0, 0)]
    """
    frame = to_lazy(data)
    condition = window_condition(frame, time, start, end)
    return frame if condition is None else frame.filter(condition)


def window_condition(
    frame: nw.LazyFrame,
    time: str,
    start: str | _dt.date | periods.Month | None = None,
    end: str | _dt.date | periods.Month | None = None,
) -> nw.Expr | None:
    """``start <= time < end`` as a narwhals expression (None when both sides are open).

    The rule behind :func:`filter_window`, for callers that need the condition itself
    (e.g. to count a window's rows next to the total in one query). Checks the column and
    the bounds from the schema alone.
    """
    require_temporal(frame, time, needed_by="a time window")
    dtype = columns(frame)[time]
    lo, hi = (time_bound(b, name, dtype) for b, name in ((start, "start"), (end, "end")))
    if lo is not None and hi is not None and hi <= lo:
        raise InvalidArgumentError(
            f"The window is empty: end={end!r} is not after start={start!r}. The window is "
            "[start, end): end is exclusive, e.g. start='2026-11', end='2026-12'."
        )
    col = nw.col(time)
    conds = []
    if lo is not None:
        conds.append(col >= nw.lit(lo))
    if hi is not None:
        conds.append(col < nw.lit(hi))
    if not conds:
        return None
    return conds[0] if len(conds) == 1 else conds[0] & conds[1]


def time_bound(value: Any, name: str, dtype: Any) -> _dt.date | _dt.datetime | None:
    """A bound (a date, a datetime or its text) as a Python date/datetime comparable with a
    time column of type ``dtype``: in its time zone, or naive when it has none."""
    if value is None:
        return None
    value = periods.as_datetime(value, name)
    if isinstance(dtype, nwd.Date) or dtype == nw.Date:
        if value.tzinfo is not None or value.time() != _dt.time(0):
            raise InvalidArgumentError(
                f"{name}={value!r} has a time of day, but the time column is a Date: pass a date."
            )
        return value.date()
    zone = getattr(dtype, "time_zone", None)
    if zone:
        tz = ZoneInfo(zone)
        return value.replace(tzinfo=tz) if value.tzinfo is None else value.astimezone(tz)
    if value.tzinfo is not None:
        raise InvalidArgumentError(
            f"{name}={value!r} has a time zone, but the time column has none (naive "
            "timestamps): pass a naive datetime in the column's own clock."
        )
    return value


# --------------------------------------------------------------------------------------
# The loader: what reports, gates and notebooks read, in the data's own engine
# --------------------------------------------------------------------------------------
def load(data: Any, *, time_format: str | None = None) -> Any:
    """The data to read, not read yet: a path becomes a lazy scan, a frame stays itself.

    The one loader behind :func:`load_month`, :func:`aidebt.check` and the report
    notebooks. A path (parquet or CSV file, glob, or directory of parquet files) is scanned
    lazily by polars (:func:`scan_path`, which never guesses whether a CSV's dates are day
    or month first: ``time_format`` says it, e.g. ``'%m/%d/%Y'``); a polars, pandas,
    pyarrow, DuckDB or Spark frame is returned as it is (its columns already have types,
    so ``time_format`` is for files only), and every query built on it runs in its own
    engine. There is no default data: the demo log is :func:`aidebt.datasets.demo`,
    passed explicitly.

    Examples
    --------
    >>> import polars as pl
    >>> df = pl.DataFrame({"a": [1]})
    >>> load(df) is df
    True
    >>> load(None)
    Traceback (most recent call last):
    ...
    aidebt.errors.InvalidArgumentError: no data given: pass a path or a data frame (the demo log is aidebt.datasets.demo()).
    """
    if data is None:
        raise InvalidArgumentError(
            "no data given: pass a path or a data frame (the demo log is aidebt.datasets.demo())."
        )
    if isinstance(data, (str, PathLike)):
        try:
            return scan_path(data, time_format=time_format)
        except FileNotFoundError as exc:
            raise InvalidArgumentError(f"data file not found: {data} ({exc})") from exc
    try:
        to_lazy(data)  # the type check only: nothing is read
    except TypeError:
        raise InvalidArgumentError(
            "data must be a path or a data frame (polars, pandas, pyarrow, DuckDB or Spark), "
            f"got {type(data).__name__}."
        ) from None
    return data


def load_month(
    data: Any,
    month: periods.Month | periods.Window | str | None = None,
    time: str | None = None,
    *,
    history: bool = False,
    time_format: str | None = None,
) -> Any:
    """The rows of ``data`` in ``month`` (with ``history``: every row before its end), lazily.

    The window is a filter in the data's own engine (:func:`window_condition`: bounds in
    the time column's type and zone, so parquet row groups and Spark partitions outside
    the month are skipped), and the result is the input's own kind of frame: a path gives
    a polars LazyFrame, a DuckDB relation stays a relation, a polars DataFrame a DataFrame.
    ``month=None`` keeps every row.

    Parameters
    ----------
    data
        A path or a frame of any engine (see :func:`load`).
    month
        A :class:`aidebt.periods.Month` or ``"YYYY-MM"``, or any run of months
        (:class:`aidebt.periods.Window`: ``"2026-Q3"``, ``"2025-01..2026-06"``), parsed
        here, the boundary.
    time
        The Date/Datetime column that places each row in a month.
    history
        Keep every row before the end of ``month`` (for trends), not only that month.
    time_format
        How a CSV writes its dates (see :func:`scan_path`), e.g. ``'%m/%d/%Y'``.

    Examples
    --------
    >>> import datetime as dt, polars as pl
    >>> df = pl.DataFrame({"ts": [dt.date(2026, 10, 3), dt.date(2026, 11, 5)], "y": [0, 1]})
    >>> load_month(df, "2026-11", "ts")["y"].to_list()
    [1]
    >>> load_month(df, "2026-11", "ts", history=True).height
    2
    """
    frame = load(data, time_format=time_format)
    if month is None:
        return frame
    month = periods.Window.parse(month)  # a month, or any run of months
    if time is None:
        raise InvalidArgumentError(
            f"month={str(month)!r} needs time=: the Date/Datetime column that places each row "
            "in a month."
        )
    condition = window_condition(to_lazy(frame), time, None if history else month.start, month.end)
    return nw.from_native(frame).filter(condition).to_native()


def latest_month(data: Any, time: str, *, time_format: str | None = None) -> periods.Month:
    """The last month that has rows in ``data`` (one small query in the data's engine).

    ``time_format``: how a CSV writes its dates (see :func:`scan_path`).

    Examples
    --------
    >>> import datetime as dt, polars as pl
    >>> str(latest_month(pl.DataFrame({"ts": [dt.date(2026, 10, 3), dt.date(2026, 11, 5)]}), "ts"))
    '2026-11'
    """
    frame = to_lazy(load(data, time_format=time_format))
    require_temporal(frame, time, needed_by="latest_month")
    last = frame.select(nw.col(time).max()).collect(backend="polars").item()
    if last is None:
        raise InvalidValueError(f"no rows with a {time!r} value: the data is empty.")
    return periods.Month.of(last)


def count_rows(
    data: Any,
    *,
    time: str | None = None,
    month: periods.Month | periods.Window | str | None = None,
    time_format: str | None = None,
) -> dict[str, Any]:
    """Rows of ``data`` and, with ``time`` and ``month``, of that month: one small query.

    Returns ``rows``; with a month also ``month_rows`` and ``first``/``last`` (the months
    of the earliest and latest rows, None when there are none), for messages such as "the
    data covers 2025-10 to 2026-11". The counting runs in the data's engine.
    ``time_format``: how a CSV writes its dates (see :func:`scan_path`).

    Examples
    --------
    >>> import datetime as dt, polars as pl
    >>> df = pl.DataFrame({"ts": [dt.date(2026, 10, 3), dt.date(2026, 11, 5)]})
    >>> info = count_rows(df, time="ts", month="2026-11")
    >>> info["rows"], info["month_rows"], str(info["first"]), str(info["last"])
    (2, 1, '2026-10', '2026-11')
    """
    frame = to_lazy(load(data, time_format=time_format))
    if time is None or month is None:
        rows = frame.select(nw.len()).collect(backend="polars").item()
        return {"rows": int(rows or 0)}
    month = periods.Window.parse(month)  # a month, or any run of months
    in_month = window_condition(frame, time, month.start, month.end)
    counts = frame.select(
        nw.len().alias("rows"),
        in_month.cast(nw.Int64).sum().alias("month_rows"),
        nw.col(time).min().alias("first"),
        nw.col(time).max().alias("last"),
    ).collect(backend="polars")
    row = counts.to_native().row(0, named=True)
    return {
        "rows": int(row["rows"] or 0),
        "month_rows": int(row["month_rows"] or 0),
        "first": None if row["first"] is None else periods.Month.of(row["first"]),
        "last": None if row["last"] is None else periods.Month.of(row["last"]),
    }
