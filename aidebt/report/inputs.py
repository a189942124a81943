"""Fingerprints of a report's inputs for its manifest: files, sha256, row counts.

Reading the data is :mod:`aidebt.frames`' job (:func:`aidebt.frames.load`,
:func:`aidebt.frames.count_rows`); this module adds what a manifest records about a file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import narwhals as nw

from aidebt import frames
from aidebt.errors import InvalidValueError
from aidebt.periods import Month, Window
from aidebt.report._io import sha256_file


def _files(path: Path) -> list[Path]:
    """The data files behind ``path``: itself, or the parquet files of a directory."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*.parquet") if p.is_file())
    return [path]


def data_months(path: str | os.PathLike[str], time: str) -> tuple[Month, Month]:
    """The months of the earliest and the latest row of an input (one small query).

    Examples
    --------
    >>> import tempfile, pathlib, datetime as dt, polars as pl
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "d.parquet"
    >>> pl.DataFrame({"ts": [dt.date(2025, 1, 9), dt.date(2026, 6, 1)]}).write_parquet(p)
    >>> [str(m) for m in data_months(p, "ts")]
    ['2025-01', '2026-06']
    """
    frame = frames.to_lazy(frames.load(path))
    frames.require_temporal(frame, time, needed_by="a report's period")
    row = (
        frame.select(nw.col(time).min().alias("first"), nw.col(time).max().alias("last"))
        .collect(backend="polars")
        .to_native()
        .row(0, named=True)
    )
    if row["first"] is None:
        raise InvalidValueError(f"{path} has no rows with a {time!r} value: nothing to report on.")
    return Month.of(row["first"]), Month.of(row["last"])


def resolve_period(
    period: Window | Month | str, path: str | os.PathLike[str] | None, time: str | None
) -> Window:
    """A report's period: ``latest`` (the last month with rows), ``all`` (every month of
    the data), or a month, quarter, year or run of months (:class:`Window`).

    Examples
    --------
    >>> str(resolve_period("2026-07..2026-09", None, None))
    '2026-Q3'
    """
    text = period.strip().lower() if isinstance(period, str) else None
    if text in ("latest", "all"):
        if path is None or time is None:
            raise InvalidValueError(
                f"--period {text} needs the data and its time column to find the months: "
                "pass --data (or a config with [data] path) and set time."
            )
        first, last = data_months(path, time)
        return Window(last, last) if text == "latest" else Window(first, last)
    return Window.parse(period)


def describe_input(
    path: str | os.PathLike[str],
    *,
    time: str | None = None,
    month: Window | Month | str | None = None,
) -> dict[str, Any]:
    """Fingerprint one input for the manifest: files, sha256, row counts.

    With ``time`` and ``month`` (a month or any :class:`Window`), also count the
    period's rows, and raise :class:`~aidebt.errors.InvalidValueError` when there are
    none: a report on an empty period is a mistake, not a report.

    Examples
    --------
    >>> import tempfile, pathlib, datetime as dt, polars as pl
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "d.parquet"
    >>> pl.DataFrame({"ts": [dt.date(2026, 11, 1)] * 3}).write_parquet(p)
    >>> info = describe_input(p, time="ts", month="2026-11")
    >>> info["rows"], info["month_rows"], len(info["sha256"])
    (3, 3, 64)
    """
    path = Path(path)
    frame = frames.load(path)  # raises the "not found" error first
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
        window = Window.parse(month)
        counts = frames.count_rows(frame, time=time, month=window)
        info["rows"], info["month_rows"] = counts["rows"], counts["month_rows"]
        info["time"], info["month"] = time, str(window)
        if info["month_rows"] == 0:
            covers = (
                f"the data covers {counts['first']} to {counts['last']}"
                if counts["first"] is not None
                else "the data has no rows"
            )
            raise InvalidValueError(
                f"no rows for {window.kind} {window} in {path} (column {time!r}); {covers}."
            )
    else:
        info["rows"] = frames.count_rows(frame)["rows"]
    return info
