"""The one loader (aidebt.frames): any engine or a path, lazily, the month pushed down."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from aidebt.errors import (
    ColumnNotFoundError,
    ColumnTypeError,
    InvalidArgumentError,
)
from aidebt.frames import latest_month, load, load_month
from aidebt.periods import Month

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
def test_load_month_rejects_anything_but_yyyy_mm(bad):
    with pytest.raises(InvalidArgumentError, match="YYYY-MM"):
        load_month(frame(), bad, "ts")


def test_load_month_explains_a_wrong_time_column():
    with pytest.raises(ColumnNotFoundError, match="'tss'.*Did you mean 'ts'"):
        load_month(frame(), "2026-11", "tss")
    with pytest.raises(ColumnTypeError, match="str.to_datetime"):
        load_month(frame().with_columns(pl.col("ts").cast(pl.String)), "2026-11", "ts")


def test_load_month_rejects_other_inputs():
    with pytest.raises(InvalidArgumentError, match="data must be a path"):
        load_month(42, "2026-11")


def test_latest_month():
    assert latest_month(frame(), "ts") == Month(2026, 12)
    assert latest_month(frame(pl.Datetime, "Asia/Tokyo"), "ts") == Month(2026, 12)


def test_no_data_is_an_error_never_the_demo_data():
    """Only aidebt.datasets supplies the demo log, and only when asked for by name."""
    with pytest.raises(TypeError):
        latest_month()  # type: ignore[call-arg]
    with pytest.raises(InvalidArgumentError, match="no data given.*aidebt.datasets.demo"):
        latest_month(None, "ts")
    with pytest.raises(InvalidArgumentError, match="no data given"):
        load_month(None, "2026-11", "ts")
    with pytest.raises(InvalidArgumentError, match="no data given"):
        load(None)


def test_a_month_needs_a_time_column():
    with pytest.raises(InvalidArgumentError, match="needs time="):
        load_month(frame(), "2026-11")


def test_load_reads_a_path_lazily_and_keeps_a_frame(tmp_path):
    path = tmp_path / "eval.parquet"
    frame().write_parquet(path)
    lazy = load(path)
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.collect()["y"].to_list() == [1, 2, 3, 4]
    df = frame()
    assert load(df) is df
    with pytest.raises(InvalidArgumentError, match="data must be a path"):
        load(42)
    with pytest.raises(InvalidArgumentError, match="data file not found"):
        load(tmp_path / "nope.parquet")


def test_the_loader_stays_in_duckdb_and_pushes_the_month_down(tmp_path):
    """A DuckDB relation stays a relation: the month is a filter in DuckDB's plan, the
    latest month and the counts are one-row queries; no row reaches Python."""
    duckdb = pytest.importorskip("duckdb")
    path = tmp_path / "d.parquet"
    frame(pl.Datetime).write_parquet(path)
    con = duckdb.connect()
    rel = con.read_parquet(str(path))
    month = load_month(rel, "2026-11", "ts")
    assert isinstance(month, duckdb.DuckDBPyRelation)
    assert "Filters" in month.explain() or "FILTER" in month.explain()
    assert sorted(y for (y,) in month.select("y").fetchall()) == [2, 3]
    history = load_month(rel, Month(2026, 11), "ts", history=True)
    assert sorted(y for (y,) in history.select("y").fetchall()) == [1, 2, 3]
    assert latest_month(rel, "ts") == Month(2026, 12)
    from aidebt.frames import count_rows

    info = count_rows(rel, time="ts", month="2026-11")
    assert (info["rows"], info["month_rows"]) == (4, 2)
    assert (info["first"], info["last"]) == (Month(2026, 10), Month(2026, 12))


def test_the_loader_keeps_pandas_frames():
    pd = pytest.importorskip("pandas")
    df = frame(pl.Datetime).to_pandas()
    got = load_month(df, "2026-11", "ts")
    assert isinstance(got, pd.DataFrame)
    assert got["y"].tolist() == [2, 3]
    assert latest_month(df, "ts") == Month(2026, 12)
