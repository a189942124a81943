"""The calendar: period lengths (:class:`Every`), months (:class:`Month`) and dates.

Every date-like argument aidebt takes (a month to report on, a window bound, a deployment
date, a fit's start) is parsed here, once, at the boundary where it enters: inside the
library a month is a :class:`Month`, never a string. Period numbers are computed in the
engine with portable integer arithmetic on year, month and day of year
(:func:`epoch_days`, :meth:`Every.index`), so they are the same on polars, DuckDB, pandas
and Spark, and :meth:`Every.index_of` gives the same number for a date on the small table.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import narwhals as nw
import numpy as np

from aidebt.errors import InvalidArgumentError

__all__ = ["Every", "Month", "Window", "as_date", "as_datetime", "epoch_day", "epoch_days"]

_EVERY = re.compile(r"^\s*(\d+)\s*(d|w|mo|q|y)\s*$")
_UNIT_NAMES = {"d": "day", "w": "week", "mo": "month", "q": "quarter", "y": "year"}
_UNIT_MONTHS = {"mo": 1, "q": 3, "y": 12}
_MONTH_DAYS_MICRO = 30_436_875  # the mean Gregorian month, 30.436875 days, in 1e-6 days
_EPOCH = dt.date(1970, 1, 1)
_MONDAY_OFFSET = 3  # 1970-01-01 was a Thursday: weeks start on Monday 1969-12-29
_MONTH = re.compile(r"(\d{4})-(\d{2})", re.ASCII)
_FIRST, _LAST = (1, 1), (9999, 11)  # a month's window ends on the next month's first day


# --------------------------------------------------------------------------------------
# Months
# --------------------------------------------------------------------------------------
@dataclass(frozen=True, order=True)
class Month:
    """A calendar month: the unit of a monthly report, a gate check and a data window.

    Parse it once where a month enters (``Month.parse("2026-11")``); ``str(month)`` gives
    the ``"YYYY-MM"`` text back for folder names, parameters and sentences.

    Examples
    --------
    >>> m = Month.parse("2026-11")
    >>> str(m), str(m.next()), str(m.shift(-11)), m.start, m.end
    ('2026-11', '2026-12', '2025-12', datetime.datetime(2026, 11, 1, 0, 0), datetime.datetime(2026, 12, 1, 0, 0))
    >>> Month.parse("2026-11") < Month(2027, 1)
    True
    """

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not 1 <= self.year <= 9999:
            raise InvalidArgumentError(
                f"Month({self.year}, {self.month}) is not a month: the year is 1 to 9999 and "
                "the month 1 to 12."
            )

    @classmethod
    def parse(cls, value: Month | str) -> Month:
        """``"YYYY-MM"`` (or a Month) -> Month, with an error naming the value and the format.

        The one rule for a month given as text: surrounding whitespace (a trailing newline
        from a script, a pasted space) is dropped, then the text must be four ASCII
        digits, ``-`` and two; the year 0001 to 9999 and the month 01 to 12, up to
        9999-11 (a month's window ends on the first day of the next one). ``str()`` of
        the result is the canonical text, the only one used for folder names.

        Examples
        --------
        >>> str(Month.parse(" 2026-11\\n"))
        '2026-11'
        >>> Month.parse("9999-12")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        aidebt.errors.InvalidArgumentError: month '9999-12' is out of range: ...
        """
        if isinstance(value, Month):
            return value
        found = _MONTH.fullmatch(value.strip()) if isinstance(value, str) else None
        if not found or not 1 <= int(found.group(2)) <= 12:
            raise InvalidArgumentError(
                f"month must look like YYYY-MM (e.g. 2026-11), got {value!r}."
            )
        year, month = int(found.group(1)), int(found.group(2))
        if not _FIRST <= (year, month) <= _LAST:
            raise InvalidArgumentError(
                f"month {value!r} is out of range: aidebt reports on months from "
                f"{_FIRST[0]:04d}-{_FIRST[1]:02d} to {_LAST[0]:04d}-{_LAST[1]:02d}."
            )
        return cls(year, month)

    @classmethod
    def is_canonical(cls, text: str) -> bool:
        """Whether ``text`` is a month exactly as ``str(Month.parse(text))`` writes it:
        what a month's folder of reports is named, and all that an index lists.

        Examples
        --------
        >>> [Month.is_canonical(t) for t in ("2026-11", " 2026-11", "2026-13")]
        [True, False, False]
        """
        try:
            return str(cls.parse(text)) == text
        except InvalidArgumentError:
            return False

    @classmethod
    def of(cls, value: dt.date) -> Month:
        """The month holding a date or datetime (its wall-clock month, time zone kept)."""
        return cls(value.year, value.month)

    @property
    def start(self) -> dt.datetime:
        """Midnight of the first day of the month (naive)."""
        return dt.datetime(self.year, self.month, 1)

    @property
    def end(self) -> dt.datetime:
        """Midnight of the first day of the next month: the window is ``[start, end)``."""
        return self.next().start

    def shift(self, months: int) -> Month:
        """The month ``months`` later (earlier when negative)."""
        k = self.year * 12 + self.month - 1 + int(months)
        return Month(k // 12, k % 12 + 1)

    def next(self) -> Month:
        return self.shift(1)

    def prev(self) -> Month:
        return self.shift(-1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


# --------------------------------------------------------------------------------------
# Windows: the period a report covers (a month, a quarter, a year, any run of months)
# --------------------------------------------------------------------------------------
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$", re.IGNORECASE)
_YEAR = re.compile(r"^(\d{4})$")
_RANGE = re.compile(r"^(\d{4}-\d{2})\s*\.\.\s*(\d{4}-\d{2})$")
_MONTH_NAMES = (
    "January February March April May June July August September October November December"
).split()


@dataclass(frozen=True, order=True)
class Window:
    """A run of whole calendar months, ``first`` to ``last`` inclusive: what a report covers.

    Written as ``"2026-11"`` (one month), ``"2026-Q3"`` (a quarter), ``"2026"`` (a year)
    or ``"2025-01..2026-06"`` (any run of months); ``str(window)`` gives that text back,
    the same for the same months whichever way they were written, so it names a
    report's folder. The rows are those with ``start <= time < end``.

    Examples
    --------
    >>> w = Window.parse("2026-Q3")
    >>> str(w), str(w.first), str(w.last), w.months, w.kind
    ('2026-Q3', '2026-07', '2026-09', 3, 'quarter')
    >>> str(Window.parse("2026-07..2026-09")), str(Window.parse("2026-01..2026-12"))
    ('2026-Q3', '2026')
    >>> Window.parse("2025-01..2026-06").describe()
    'January 2025 to June 2026'
    >>> Window.parse("2026-11").describe(), Window.parse("2026-11").is_month
    ('November 2026', True)
    """

    first: Month
    last: Month

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise InvalidArgumentError(
                f"the window {self.first}..{self.last} ends before it starts: write the "
                f"earlier month first, e.g. {self.last}..{self.first}."
            )

    @classmethod
    def parse(cls, value: Window | Month | str) -> Window:
        """``"2026-11"``, ``"2026-Q3"``, ``"2026"`` or ``"2025-01..2026-06"`` -> Window."""
        if isinstance(value, Window):
            return value
        if isinstance(value, Month):
            return cls(value, value)
        text = value.strip() if isinstance(value, str) else ""
        if found := _QUARTER.match(text):
            year, quarter = int(found.group(1)), int(found.group(2))
            return cls(Month(year, 3 * quarter - 2), Month(year, 3 * quarter))
        if found := _YEAR.match(text):
            year = int(found.group(1))
            if year >= 1:
                return cls(Month(year, 1), Month(year, 12))
        if found := _RANGE.match(text):
            return cls(Month.parse(found.group(1)), Month.parse(found.group(2)))
        if _MONTH.match(text):
            month = Month.parse(text)
            return cls(month, month)
        raise InvalidArgumentError(
            "period must be a month (YYYY-MM, e.g. 2026-11), a quarter (YYYY-Qn, e.g. "
            "2026-Q3), a year (YYYY) or a run of months (YYYY-MM..YYYY-MM, e.g. "
            f"2025-01..2026-06), got {value!r}."
        )

    @property
    def start(self) -> dt.datetime:
        """Midnight of the window's first day (naive)."""
        return self.first.start

    @property
    def end(self) -> dt.datetime:
        """Midnight after the window's last day: the rows are ``[start, end)``."""
        return self.last.end

    @property
    def months(self) -> int:
        """How many calendar months the window covers."""
        return (self.last.year - self.first.year) * 12 + self.last.month - self.first.month + 1

    @property
    def is_month(self) -> bool:
        return self.first == self.last

    @property
    def kind(self) -> str:
        """``"month"``, ``"quarter"``, ``"year"`` or ``"period"`` (any other run)."""
        if self.is_month:
            return "month"
        if self.first.year == self.last.year:
            if self.first.month == 1 and self.last.month == 12:
                return "year"
            if self.months == 3 and self.first.month % 3 == 1:
                return "quarter"
        return "period"

    def __str__(self) -> str:
        kind = self.kind
        if kind == "month":
            return str(self.first)
        if kind == "quarter":
            return f"{self.first.year:04d}-Q{(self.first.month + 2) // 3}"
        if kind == "year":
            return f"{self.first.year:04d}"
        return f"{self.first}..{self.last}"

    def describe(self) -> str:
        """The window in words, for sentences: 'November 2026', 'the third quarter of 2026'."""

        def name(m: Month) -> str:
            return f"{_MONTH_NAMES[m.month - 1]} {m.year}"

        kind = self.kind
        if kind == "month":
            return name(self.first)
        if kind == "quarter":
            ordinal = ("first", "second", "third", "fourth")[(self.first.month - 1) // 3]
            return f"the {ordinal} quarter of {self.first.year}"
        if kind == "year":
            return f"the year {self.first.year}"
        return f"{name(self.first)} to {name(self.last)}"


# --------------------------------------------------------------------------------------
# Dates given as arguments
# --------------------------------------------------------------------------------------
def as_datetime(value: Any, name: str) -> dt.datetime:
    """A date-like argument as a datetime: the one parser of dates given to aidebt.

    Takes a :class:`Month` (its first instant), a ``date`` (midnight), a ``datetime`` (as
    it is, time zone kept), a numpy ``datetime64``, or an ISO string: ``"2026"``,
    ``"2026-11"``, ``"2026-11-15"``, ``"2026-11-15T08:00"``. ``name`` is the argument's
    name, for the error.

    Examples
    --------
    >>> as_datetime("2026-11", "start"), as_datetime("2026-11-15T08:00", "end").hour
    (datetime.datetime(2026, 11, 1, 0, 0), 8)
    """
    if isinstance(value, Month):
        return value.start
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, np.datetime64):
        return as_datetime(value.astype("datetime64[us]").item(), name)
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d{4}", text):
            text += "-01"
        if _MONTH.fullmatch(text):
            text += "-01"
        try:
            return dt.datetime.fromisoformat(text)
        except ValueError:
            pass
    raise InvalidArgumentError(
        f"{name}={value!r} is not a date: pass a datetime.date, a datetime.datetime or an ISO "
        "string such as '2026-11', '2026-11-15' or '2026-11-15T08:00'."
    )


def as_date(value: Any, name: str) -> dt.date:
    """A date-like argument as a date (time of day dropped): see :func:`as_datetime`."""
    return as_datetime(value, name).date()


def epoch_day(value: Any, name: str = "date") -> int:
    """Days since 1970-01-01 of a date-like argument: :func:`epoch_days` on one value."""
    return (as_date(value, name) - _EPOCH).days


def epoch_days(col: nw.Expr) -> nw.Expr:
    """Days since 1970-01-01 of a Date/Datetime column, as an integer narwhals expression.

    Computed from the year and the day of the year with integer arithmetic only, so the
    same expression runs on polars, DuckDB, pandas and Spark (narwhals has no portable
    "timestamp" for every backend). Time of day is dropped.

    Examples
    --------
    >>> import datetime as dt, polars as pl, narwhals as nw
    >>> df = nw.from_native(pl.DataFrame({"t": [dt.date(1970, 1, 2), dt.date(2001, 1, 1)]}))
    >>> df.select(epoch_days(nw.col("t")).alias("d")).to_native()["d"].to_list()
    [1, 11323]
    """
    y = col.dt.year().cast(nw.Int64)
    jan1 = 365 * (y - 1970) + (y - 1969) // 4 - (y - 1901) // 100 + (y - 1601) // 400
    return jan1 + col.dt.ordinal_day().cast(nw.Int64) - 1


# --------------------------------------------------------------------------------------
# Period lengths
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Every:
    """A period length: ``"1d"``, ``"1w"``, ``"4w"``, ``"1mo"``, ``"3mo"``, ``"1q"``, ``"1y"``.

    Calendar periods follow polars' ``dt.truncate``: months, quarters and years start on the
    first of a month (``"2mo"`` counts from 1970-01), weeks start on Monday, multi-week and
    multi-day periods count from the Monday 1969-12-29 and 1970-01-01. On an age axis
    (``since=``) a month is the mean Gregorian month, 30.436875 days.

    Examples
    --------
    >>> e = Every.parse("1q")
    >>> e.label(e.index_of("2026-05-17"))
    '2026-Q2'
    """

    text: str
    count: int
    unit: str

    @classmethod
    def parse(cls, every: Any) -> Every:
        if isinstance(every, Every):
            return every
        match = _EVERY.match(every) if isinstance(every, str) else None
        if not match or int(match.group(1)) < 1:
            raise InvalidArgumentError(
                f"every={every!r} is not a period length aidebt understands. Use a number and "
                "a unit: '1d', '1w', '4w', '1mo', '3mo', '1q' or '1y' (polars duration "
                "strings for days, weeks, months, quarters and years)."
            )
        return cls(f"{match.group(1)}{match.group(2)}", int(match.group(1)), match.group(2))

    @property
    def months(self) -> int | None:
        return self.count * _UNIT_MONTHS[self.unit] if self.unit in _UNIT_MONTHS else None

    @property
    def days(self) -> int | None:
        return {"d": 1, "w": 7}.get(self.unit, 0) * self.count or None

    @property
    def unit_name(self) -> str:
        """'day', 'week', 'month', 'quarter' or 'year'."""
        return _UNIT_NAMES[self.unit]

    def noun(self) -> str:
        """'month', '4 weeks'... for sentences."""
        return self.unit_name if self.count == 1 else f"{self.count} {self.unit_name}s"

    def per(self) -> str:
        """'a month', 'per 4 weeks'."""
        return f"a {self.noun()}" if self.count == 1 else f"per {self.noun()}"

    # -- in the engine -----------------------------------------------------------------
    def index(self, col: nw.Expr) -> nw.Expr:
        """The calendar period number of each row (an integer narwhals expression)."""
        if self.months is not None:
            month_index = col.dt.year().cast(nw.Int64) * 12 + col.dt.month().cast(nw.Int64) - 1
            return month_index // self.months
        if self.unit == "w":
            return (epoch_days(col) + _MONDAY_OFFSET) // self.days
        return epoch_days(col) // self.days

    def age_index(self, age_days: nw.Expr) -> nw.Expr:
        """Whole periods elapsed in an age given in days (integer arithmetic only)."""
        if self.months is not None:
            return (age_days * 1_000_000) // (_MONTH_DAYS_MICRO * self.months)
        return age_days // self.days

    # -- on the small table ------------------------------------------------------------
    def index_of(self, value: Any, name: str = "period") -> int:
        """The calendar period number holding a date (same arithmetic as :meth:`index`)."""
        day = as_date(value, name)
        if self.months is not None:
            return (day.year * 12 + day.month - 1) // self.months
        days = (day - _EPOCH).days
        return (days + _MONDAY_OFFSET) // self.days if self.unit == "w" else days // self.days

    def start(self, idx: Any) -> np.ndarray:
        """First day (``datetime64[D]``) of calendar periods given by number."""
        idx = np.asarray(idx, dtype=np.int64)
        if self.months is not None:
            return (idx * self.months - 1970 * 12).astype("datetime64[M]").astype("datetime64[D]")
        offset = _MONDAY_OFFSET if self.unit == "w" else 0
        return (idx * self.days - offset).astype("datetime64[D]")

    def at(self, x: Any) -> np.ndarray:
        """The instant (``datetime64[s]``) at a fractional period number: 3.5 = mid-period 3."""
        x = np.atleast_1d(np.asarray(x, dtype=float))
        out = np.full(x.shape, np.datetime64("NaT"), dtype="datetime64[s]")
        ok = np.isfinite(x) & (np.abs(x) < 1e7)
        if ok.any():
            f = np.floor(x[ok])
            a = self.start(f).astype("datetime64[s]")
            b = self.start(f + 1).astype("datetime64[s]")
            length = (b - a).astype(float)
            out[ok] = a + np.round(length * (x[ok] - f)).astype("timedelta64[s]")
        return out

    def label(self, idx: Any) -> str:
        """A readable name of calendar period number ``idx``: '2026-04', '2026-Q2', '2026'."""
        day = self.start(int(idx)).item()
        if self.unit == "mo" and self.count == 1:
            return f"{day:%Y-%m}"
        if self.unit == "q" and self.count == 1:
            return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
        if self.unit == "y" and self.count == 1:
            return f"{day.year}"
        return day.isoformat()

    def labels(self, idx: Any) -> np.ndarray:
        """:meth:`label` of many period numbers at once (an object array of str).

        Examples
        --------
        >>> e = Every.parse("1q")
        >>> e.labels([e.index_of("2026-05-17"), e.index_of("2026-08-01")]).tolist()
        ['2026-Q2', '2026-Q3']
        """
        start = self.start(idx)
        if self.unit == "mo" and self.count == 1:
            out = np.datetime_as_string(start, unit="M")
        elif self.unit == "q" and self.count == 1:
            quarter = start.astype("datetime64[M]").astype(np.int64) % 12 // 3 + 1
            out = np.char.add(np.datetime_as_string(start, unit="Y"), "-Q")
            out = np.char.add(out, quarter.astype(str))
        elif self.unit == "y" and self.count == 1:
            out = np.datetime_as_string(start, unit="Y")
        else:
            out = np.datetime_as_string(start, unit="D")
        return np.asarray(out, dtype=object)

    def label_of(self, value: Any) -> str:
        """The label of the period holding a date: ``label(index_of(value))``."""
        return self.label(self.index_of(value))

    def label_instant(self, value: dt.datetime | None) -> str:
        """A readable date for a crossing estimate, at the period's resolution."""
        if value is None:
            return "?"
        if self.months is not None:
            return f"{value:%Y-%m}"
        return f"{value:%Y-%m-%d}"
