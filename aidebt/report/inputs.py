"""Fingerprints of a report's inputs for its manifest: files, sha256, row counts.

Reading the data is :mod:`aidebt.frames`' job (:func:`aidebt.frames.load`,
:func:`aidebt.frames.count_rows`); this module adds what a manifest records about a file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from aidebt import frames
from aidebt.errors import InvalidValueError
from aidebt.periods import Month
from aidebt.report._io import sha256_file


def _files(path: Path) -> list[Path]:
    """The data files behind ``path``: itself, or the parquet files of a directory."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*.parquet") if p.is_file())
    return [path]


def describe_input(
    path: str | os.PathLike[str], *, time: str | None = None, month: Month | str | None = None
) -> dict[str, Any]:
    """Fingerprint one input for the manifest: files, sha256, row counts.

    With ``time`` and ``month``, also count the month's rows, and raise
    :class:`~aidebt.errors.InvalidValueError` when there are none: a report on an
    empty month is a mistake, not a report.

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
        month = Month.parse(month)
        counts = frames.count_rows(frame, time=time, month=month)
        info["rows"], info["month_rows"] = counts["rows"], counts["month_rows"]
        info["time"], info["month"] = time, str(month)
        if info["month_rows"] == 0:
            covers = (
                f"the data covers {counts['first']} to {counts['last']}"
                if counts["first"] is not None
                else "the data has no rows"
            )
            raise InvalidValueError(
                f"no rows for month {month} in {path} (column {time!r}); {covers}."
            )
    else:
        info["rows"] = frames.count_rows(frame)["rows"]
    return info
