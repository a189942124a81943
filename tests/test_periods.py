"""The calendar: Month, the one parser of date arguments, and period numbers."""

from __future__ import annotations

import datetime as dt

import narwhals as nw
import numpy as np
import polars as pl
import pytest

from aidebt.errors import InvalidArgumentError
from aidebt.periods import Every, Month, as_date, as_datetime, epoch_day, epoch_days


def test_month_parse_and_text_round_trip():
    import aidebt as ad

    assert ad.Month is Month
    m = Month.parse("2026-11")
    assert (m.year, m.month) == (2026, 11)
    assert str(m) == "2026-11"
    assert Month.parse(m) is m  # parsing a Month is a no-op: safe at every boundary
    assert Month.parse(" 2026-01 ") == Month(2026, 1)


@pytest.mark.parametrize("bad", ["2026-13", "2026-00", "2026-1", "11-2026", "latest", "", "2026"])
def test_month_parse_names_the_value_and_the_format(bad):
    with pytest.raises(InvalidArgumentError, match=r"YYYY-MM \(e\.g\. 2026-11\), got") as info:
        Month.parse(bad)
    assert repr(bad) in str(info.value)


def test_month_parse_rejects_non_strings():
    with pytest.raises(InvalidArgumentError, match="YYYY-MM"):
        Month.parse(202611)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="the month 1 to 12"):
        Month(2026, 13)


def test_month_arithmetic_crosses_years():
    m = Month(2026, 1)
    assert m.prev() == Month(2025, 12)
    assert Month(2025, 12).next() == m
    assert m.shift(-13) == Month(2024, 12)
    assert m.shift(25) == Month(2028, 2)
    assert m.shift(0) is not None and m.shift(0) == m


def test_month_bounds_and_ordering():
    m = Month(2026, 12)
    assert m.start == dt.datetime(2026, 12, 1)
    assert m.end == dt.datetime(2027, 1, 1)
    assert sorted([Month(2026, 3), Month(2025, 12), Month(2026, 1)]) == [
        Month(2025, 12),
        Month(2026, 1),
        Month(2026, 3),
    ]
    assert max(Month(2026, 3), Month(2026, 11)) == Month(2026, 11)
    assert Month.of(dt.datetime(2026, 11, 30, 23, 59)) == Month(2026, 11)
    assert Month.of(dt.date(2026, 2, 1)) == Month(2026, 2)
    assert {Month(2026, 1), Month.parse("2026-01")} == {Month(2026, 1)}  # hashable
    with pytest.raises(TypeError):
        _ = Month(2026, 1) < "2026-02"  # a month is not a string


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("2026", dt.datetime(2026, 1, 1)),
        ("2026-11", dt.datetime(2026, 11, 1)),
        ("2026-11-15", dt.datetime(2026, 11, 15)),
        ("2026-11-15T08:30", dt.datetime(2026, 11, 15, 8, 30)),
        (dt.date(2026, 11, 15), dt.datetime(2026, 11, 15)),
        (dt.datetime(2026, 11, 15, 8), dt.datetime(2026, 11, 15, 8)),
        (np.datetime64("2026-11-15"), dt.datetime(2026, 11, 15)),
        (Month(2026, 11), dt.datetime(2026, 11, 1)),
    ],
)
def test_as_datetime_is_the_one_parser_of_date_arguments(value, want):
    assert as_datetime(value, "x") == want
    assert as_date(value, "x") == want.date()


@pytest.mark.parametrize("bad", ["Nov 2026", "2026-11-40", 3.5, None, "soon"])
def test_as_datetime_names_the_argument(bad):
    with pytest.raises(InvalidArgumentError, match=r"^since=.* is not a date"):
        as_datetime(bad, "since")


def test_epoch_day_matches_the_engine_expression():
    days = [dt.date(1969, 12, 31), dt.date(1970, 1, 1), dt.date(2000, 2, 29), dt.date(2026, 11, 30)]
    frame = nw.from_native(pl.DataFrame({"t": days}))
    engine = frame.select(epoch_days(nw.col("t")).alias("d")).to_native()["d"].to_list()
    assert engine == [epoch_day(d) for d in days] == [-1, 0, 11016, 20787]


@pytest.mark.parametrize("every", ["1d", "3d", "1w", "4w", "1mo", "2mo", "1q", "1y"])
def test_period_numbers_agree_in_the_engine_and_on_the_small_table(every):
    ev = Every.parse(every)
    days = [dt.date(2025, 12, 29) + dt.timedelta(days=i * 11) for i in range(60)]
    frame = nw.from_native(pl.DataFrame({"t": days}))
    engine = frame.select(ev.index(nw.col("t")).alias("p")).to_native()["p"].to_list()
    assert engine == [ev.index_of(d) for d in days]
    # each day lies in its period, which starts on the period's first day
    for d, p in zip(days, engine, strict=True):
        assert ev.start(p).item() <= d < ev.start(p + 1).item()


def test_month_periods_and_month_objects_agree():
    ev = Every.parse("1mo")
    m = Month(2026, 4)
    assert ev.index_of(m) == ev.index_of("2026-04-17")
    assert ev.label(ev.index_of(m)) == str(m)
    assert ev.label_of("2026-04-30") == "2026-04"
    assert Every.parse("1q").label_of(m) == "2026-Q2"


# -- issue 19.8: the one month rule -----------------------------------------------------


@pytest.mark.parametrize("text", [" 2026-11", "2026-11\n", "\t2026-11 ", "2026-11\r\n"])
def test_month_parse_drops_surrounding_whitespace_and_gives_the_canonical_text(text):
    month = Month.parse(text)
    assert str(month) == "2026-11" and month == Month(2026, 11)
    assert not Month.is_canonical(text) and Month.is_canonical(str(month))


@pytest.mark.parametrize("bad", ["2026 -11", "2026-1 1", "２０２６-１１", "2026-11-01", "+2026-11"])
def test_month_parse_refuses_inner_spaces_and_non_ascii_digits(bad):
    with pytest.raises(InvalidArgumentError, match="YYYY-MM"):
        Month.parse(bad)


@pytest.mark.parametrize("bad", ["0000-01", "0000-12", "9999-12"])
def test_month_parse_refuses_months_out_of_range_with_the_range(bad):
    # 0000-01 used to say "the month is 1 to 12"; 9999-12 failed later, on its end
    with pytest.raises(InvalidArgumentError, match=r"out of range.*0001-01 to 9999-11") as info:
        Month.parse(bad)
    assert repr(bad) in str(info.value)
    assert str(Month.parse("0001-01").end) == "0001-02-01 00:00:00"
    assert Month.parse("9999-11").end == dt.datetime(9999, 12, 1)
