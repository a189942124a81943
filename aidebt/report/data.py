"""Reading a report's data: one month of it, lazily, and a fingerprint of every input."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import narwhals as nw
import polars as pl

from aidebt import frames
from aidebt.errors import (
    InvalidArgumentError,
    InvalidValueError,
)
from aidebt.periods import Month
from aidebt.report._io import sha256_file

Frame = pl.DataFrame | pl.LazyFrame


def parse_month(month: str) -> tuple[int, int]:
    """``"2026-11"`` -> ``(2026, 11)`` (see :meth:`aidebt.periods.Month.parse`).

    Examples
    --------
    >>> parse_month("2026-11")
    (2026, 11)
    """
    m = Month.parse(month)
    return m.year, m.month


def _bounds(month: str) -> tuple[dt.datetime, dt.datetime]:
    m = Month.parse(month)
    return m.start, m.end


def _files(path: Path) -> list[Path]:
    """The data files behind ``path``: itself, or the parquet files of a directory."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*.parquet") if p.is_file())
    return [path]


def scan(path: str | os.PathLike[str]) -> pl.LazyFrame:
    """A lazy frame over a parquet file, a directory of parquet files, or a CSV file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "d.parquet"
    >>> pl.DataFrame({"a": [1, 2]}).write_parquet(p)
    >>> scan(p).select(pl.len()).collect().item()
    2
    """
    try:  # one reader for every path aidebt takes: aidebt.frames.scan_path
        return frames.scan_path(path)
    except FileNotFoundError as exc:
        raise InvalidArgumentError(f"data file not found: {path} ({exc})") from exc


def _as_frame(data: Any) -> Frame:
    if data is None:
        from aidebt import datasets

        return datasets.demo()
    if isinstance(data, pl.DataFrame | pl.LazyFrame):
        return data
    if isinstance(data, str | os.PathLike):
        return scan(data)
    raise InvalidArgumentError(
        f"data must be a path, a polars DataFrame/LazyFrame or None (the demo data), "
        f"got {type(data).__name__}."
    )


def _month_condition(frame: Frame, time: str, month: str, history: bool) -> nw.Expr:
    """Rows of ``month`` (or, with ``history``, up to its end): the window rule of
    :func:`aidebt.frames.window_condition`, bounds in the time column's own type and zone
    so parquet statistics can skip row groups."""
    start, end = _bounds(month)
    return frames.window_condition(frames.to_lazy(frame), time, None if history else start, end)


def load_month(
    data: Any = None,
    month: str | None = None,
    time: str = "ts",
    *,
    history: bool = False,
) -> Frame:
    """The rows of ``data`` that fall in ``month`` (or, with ``history``, up to its end).

    A notebook's first call: it turns the ``data`` and ``month`` parameters into a
    frame. Paths are scanned lazily (parquet row groups outside the month are skipped);
    polars frames keep their type; ``None`` means the embedded demo data, so a notebook
    runs as-is in JupyterLab. ``month=None`` keeps every row.

    Parameters
    ----------
    data : path, polars.DataFrame, polars.LazyFrame or None
    month : str or None
        ``"YYYY-MM"``.
    time : str
        The date/datetime column that places each row in a month.
    history : bool
        Keep every row before the end of ``month`` (for trends), not only that month.

    Examples
    --------
    >>> import datetime as dt
    >>> df = pl.DataFrame({"ts": [dt.date(2026, 10, 3), dt.date(2026, 11, 5)], "y": [0, 1]})
    >>> load_month(df, "2026-11", "ts")["y"].to_list()
    [1]
    >>> load_month(df, "2026-11", "ts", history=True).height
    2
    """
    frame = _as_frame(data)
    if month is None:
        return frame
    return nw.from_native(frame).filter(_month_condition(frame, time, month, history)).to_native()


def load_eval(eval_data: Any = None) -> Frame:
    """The golden evaluation set: the ``eval_data`` parameter of a notebook as a frame.

    Paths are scanned lazily and polars frames kept as they are, as in
    :func:`load_month`; ``None`` means the demo golden set
    (:func:`aidebt.datasets.demo_eval`), the companion of the demo data that
    ``load_month(None)`` supplies, so a notebook runs as-is in JupyterLab.

    Examples
    --------
    >>> load_eval().select(pl.len()).item()
    3000
    >>> load_eval(pl.DataFrame({"y": [1]})).height
    1
    """
    if eval_data is None:
        from aidebt import datasets

        return datasets.demo_eval()
    return _as_frame(eval_data)


def latest_month(data: Any = None, time: str = "ts") -> str:
    """The last month (``"YYYY-MM"``) that has rows in ``data``.

    Examples
    --------
    >>> import datetime as dt
    >>> latest_month(pl.DataFrame({"ts": [dt.date(2026, 10, 3), dt.date(2026, 11, 5)]}))
    '2026-11'
    """
    frame = _as_frame(data)
    last = frame.lazy().select(pl.col(time).max()).collect().item()
    if last is None:
        raise InvalidValueError(f"no rows with a {time!r} value: the data is empty.")
    return f"{last.year:04d}-{last.month:02d}"


def _month_span(frame: pl.LazyFrame, time: str) -> str:
    lo, hi = frame.select(lo=pl.col(time).min(), hi=pl.col(time).max()).collect().row(0)
    if lo is None:
        return "the data has no rows"
    return f"the data covers {lo:%Y-%m} to {hi:%Y-%m}"


def describe_input(
    path: str | os.PathLike[str], *, time: str | None = None, month: str | None = None
) -> dict[str, Any]:
    """Fingerprint one input for the manifest: files, sha256, row counts.

    With ``time`` and ``month``, also count the month's rows, and raise
    :class:`~aidebt.errors.InvalidValueError` when there are none: a report on an
    empty month is a mistake, not a report.

    Examples
    --------
    >>> import tempfile, pathlib, datetime as dt
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "d.parquet"
    >>> pl.DataFrame({"ts": [dt.date(2026, 11, 1)] * 3}).write_parquet(p)
    >>> info = describe_input(p, time="ts", month="2026-11")
    >>> info["rows"], info["month_rows"], len(info["sha256"])
    (3, 3, 64)
    """
    path = Path(path)
    frame = scan(path)  # raises the "not found" error first
    files = _files(path)
    info: dict[str, Any] = {
        "path": str(path.resolve()),
        "files": [
            {
                "name": str(f.relative_to(path)) if path.is_dir() else f.name,
                "bytes": f.stat().st_size,
                "sha256": sha256_file(f),
            }
            for f in files
        ],
    }
    if len(files) == 1:
        info["sha256"] = info["files"][0]["sha256"]
        info["bytes"] = info["files"][0]["bytes"]
    if time is not None and month is not None:
        in_month = _month_condition(frame, time, month, history=False)
        counts = (
            nw.from_native(frame)
            .select(nw.len().alias("rows"), in_month.cast(nw.Int64).sum().alias("month_rows"))
            .collect()
            .to_native()
        )
        info["rows"], info["month_rows"] = (int(v or 0) for v in counts.row(0))
        info["time"], info["month"] = time, month
        if info["month_rows"] == 0:
            raise InvalidValueError(
                f"no rows for month {month} in {path} (column {time!r}); "
                f"{_month_span(frame, time)}."
            )
    else:
        info["rows"] = int(frame.select(pl.len()).collect().item())
    return info
