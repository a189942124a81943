"""Input fingerprints for the manifest (aidebt.report.inputs)."""

from __future__ import annotations

import datetime as dt
import hashlib

import polars as pl
import pytest

from aidebt.errors import InvalidArgumentError, InvalidValueError
from aidebt.report.inputs import describe_input

DAYS = [dt.date(2026, 10, 31), dt.date(2026, 11, 1), dt.date(2026, 11, 30), dt.date(2026, 12, 1)]


def frame(dtype=pl.Date) -> pl.DataFrame:
    df = pl.DataFrame({"ts": DAYS, "y": [1, 2, 3, 4]})
    return df.with_columns(pl.col("ts").cast(pl.Datetime("us"))) if dtype == pl.Datetime else df


def test_describe_input_fingerprints_the_file_and_counts_the_month(tmp_path):
    path = tmp_path / "d.parquet"
    frame(pl.Datetime).write_parquet(path)
    info = describe_input(path, time="ts", month="2026-11")
    assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info["bytes"] == path.stat().st_size
    assert (info["rows"], info["month_rows"]) == (4, 2)
    assert describe_input(path)["rows"] == 4


def test_describe_input_covers_every_file_of_a_folder(tmp_path):
    (tmp_path / "part=1").mkdir()
    frame().write_parquet(tmp_path / "part=1" / "a.parquet")
    frame().write_parquet(tmp_path / "b.parquet")
    info = describe_input(tmp_path, time="ts", month="2026-11")
    assert [f["name"] for f in info["files"]] == ["b.parquet", "part=1/a.parquet"]
    assert info["month_rows"] == 4


def test_describe_input_refuses_an_empty_month_and_says_what_the_data_covers(tmp_path):
    path = tmp_path / "d.parquet"
    frame().write_parquet(path)
    with pytest.raises(
        InvalidValueError, match="no rows for month 2025-01.*covers 2026-10 to 2026-12"
    ):
        describe_input(path, time="ts", month="2025-01")


def test_describe_input_missing_file(tmp_path):
    with pytest.raises(InvalidArgumentError, match="data file not found"):
        describe_input(tmp_path / "nope.parquet", time="ts", month="2026-11")
