"""Month filtering and input fingerprints."""

from __future__ import annotations

import datetime as dt
import hashlib

import polars as pl
import pytest

from aidebt.errors import (
    ColumnNotFoundError,
    ColumnTypeError,
    InvalidArgumentError,
    InvalidValueError,
)
from aidebt.report import latest_month, load_month, parse_month
from aidebt.report.data import describe_input

DAYS = [dt.date(2026, 10, 31), dt.date(2026, 11, 1), dt.date(2026, 11, 30), dt.date(2026, 12, 1)]


def frame(dtype=pl.Date, tz=None) -> pl.DataFrame:
    df = pl.DataFrame({"ts": DAYS, "y": [1, 2, 3, 4]})
    if dtype == pl.Datetime:
        df = df.with_columns(pl.col("ts").cast(pl.Datetime("us")))
        if tz:
            df = df.with_columns(pl.col("ts").dt.replace_time_zone(tz))
    return df


@pytest.mark.parametrize(
    ("dtype", "tz"), [(pl.Date, None), (pl.Datetime, None), (pl.Datetime, "Asia/Tokyo")]
)
def test_load_month_keeps_the_rows_of_the_month(dtype, tz):
    df = frame(dtype, tz)
    assert load_month(df, "2026-11", "ts")["y"].to_list() == [2, 3]
    assert load_month(df, "2026-11", "ts", history=True)["y"].to_list() == [1, 2, 3]
    assert load_month(df, None, "ts").height == 4


def test_load_month_keeps_the_input_type_and_scans_paths_lazily(tmp_path):
    path = tmp_path / "d.parquet"
    frame().write_parquet(path)
    lazy = load_month(path, "2026-11", "ts")
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.collect()["y"].to_list() == [2, 3]
    assert isinstance(load_month(frame().lazy(), "2026-11", "ts"), pl.LazyFrame)


def test_load_month_reads_csv(tmp_path):
    path = tmp_path / "d.csv"
    frame().write_csv(path)
    assert load_month(path, "2026-12", "ts").collect()["y"].to_list() == [4]


@pytest.mark.parametrize("bad", ["2026-13", "2026-1", "11-2026", "latest", ""])
def test_parse_month_rejects_anything_but_yyyy_mm(bad):
    with pytest.raises(InvalidArgumentError, match="YYYY-MM"):
        parse_month(bad)


def test_load_month_explains_a_wrong_time_column():
    with pytest.raises(ColumnNotFoundError, match="'tss'.*Did you mean 'ts'"):
        load_month(frame(), "2026-11", "tss")
    with pytest.raises(ColumnTypeError, match="str.to_datetime"):
        load_month(frame().with_columns(pl.col("ts").cast(pl.String)), "2026-11", "ts")


def test_load_month_rejects_other_inputs():
    with pytest.raises(InvalidArgumentError, match="data must be a path"):
        load_month(42, "2026-11")


def test_latest_month():
    assert latest_month(frame(), "ts") == "2026-12"


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


def test_load_eval_reads_the_golden_set_or_supplies_the_demo_one(tmp_path):
    from aidebt import datasets
    from aidebt.report.data import load_eval

    assert load_eval().equals(datasets.demo_eval())
    path = tmp_path / "eval.parquet"
    frame().write_parquet(path)
    lazy = load_eval(path)
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.collect()["y"].to_list() == [1, 2, 3, 4]
    assert load_eval(frame()).height == 4
    with pytest.raises(InvalidArgumentError, match="data must be a path"):
        load_eval(42)
