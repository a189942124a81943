"""Numbers in plain words, one way for every summary and headline.

A stakeholder reads the same figure the same way in every report: a share as ``12%``, a
count as ``1,204 items``, money as ``$0.097``, a difference in percentage points, and an
interval whose two ends never print alike. Missing values (None, NaN) read ``n/a``.

Examples
--------
>>> percent(0.1234), count(1204, "item"), money(0.0973), interval(0.655, 0.664)
('12%', '1,204 items', '$0.097', '65.5% to 66.4%')
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

__all__ = [
    "count",
    "difference",
    "interval",
    "join",
    "money",
    "number",
    "percent",
    "points",
    "share",
]

NA = "n/a"


def missing(x: float | None) -> bool:
    """None, NaN or infinite: a figure there is nothing to say about."""
    return x is None or not math.isfinite(x)


def percent(x: float | None, digits: int | None = 0) -> str:
    """A proportion as a percentage: ``0.1234 -> '12%'`` (``digits=1``: ``'12.3%'``).

    ``digits=None`` picks them by size: one decimal under 10% (``'2.1%'``), none above
    (``'61%'``).

    Examples
    --------
    >>> percent(0.1234, 1), percent(0.021, None), percent(0.612, None), percent(None)
    ('12.3%', '2.1%', '61%', 'n/a')
    """
    if missing(x):
        return NA
    if digits is None:
        digits = 1 if abs(x) < 0.1 else 0
    return f"{100 * x:.{digits}f}%"


def share(x: float | None) -> str:
    """A share of a whole in whole percent, ``'under 1%'`` when it is above 0 but below 1%.

    Examples
    --------
    >>> share(0.34), share(0.004), share(0.0)
    ('34%', 'under 1%', '0%')
    """
    if not missing(x) and 0 < x < 0.01:
        return "under 1%"
    return percent(x)


def number(x: float | None, digits: int = 2) -> str:
    """A number with ``digits`` decimals: ``0.8123 -> '0.81'``.

    Examples
    --------
    >>> number(0.8123), number(float("nan"))
    ('0.81', 'n/a')
    """
    return NA if missing(x) else f"{x:.{digits}f}"


def count(n: float, noun: str, plural: str | None = None) -> str:
    """A count with its noun, thousands separated: ``'1 item'``, ``'1,204 items'``.

    Examples
    --------
    >>> count(1, "item"), count(1204, "item"), count(3, "query", "queries")
    ('1 item', '1,204 items', '3 queries')
    """
    word = noun if n == 1 else plural or f"{noun}s"
    return f"{n:,.0f} {word}"


def money(x: float | None, currency: str = "$") -> str:
    """An amount with as many digits as its size needs.

    Whole units from 100, cents from 1, three decimals down to 0.01, then two significant
    digits. A currency code (``EUR``) is set off by a space, a symbol is not.

    Examples
    --------
    >>> money(1250), money(3.5), money(0.12), money(0.0045), money(0.097, "EUR")
    ('$1,250', '$3.50', '$0.120', '$0.0045', 'EUR 0.097')
    """
    if missing(x):
        return NA
    if currency[-1:].isalpha():
        currency += " "
    if abs(x) >= 100:
        return f"{currency}{x:,.0f}"
    if abs(x) >= 1:
        return f"{currency}{x:,.2f}"
    return f"{currency}{x:.3f}" if abs(x) >= 0.01 else f"{currency}{x:.2g}"


def points(d: float | None, digits: int | None = 1, *, sign: str = "") -> str:
    """A difference of proportions in percentage points, the number only (the caller says
    ``points`` once, as in ``'2 to 5 points'``).

    ``sign``: ``""`` a minus only (``'2.3'``, ``'-0.4'``; pass ``abs(d)`` where the sentence
    says higher or lower), ``"+"`` always signed (``'+2.3'``, see :func:`difference`),
    ``"±"`` a half-width (``'±2.3'``). ``digits=None``: one decimal under 1 point, none
    above.

    Examples
    --------
    >>> points(-0.023), points(0.023, sign="+"), points(0.03, sign="±"), points(0.18, None)
    ('-2.3', '+2.3', '±3.0', '18')
    """
    if missing(d):
        return NA
    x = 100 * d
    if digits is None:
        digits = 1 if abs(x) < 1 else 0
    if sign == "±":
        return f"±{abs(x):.{digits}f}"
    return f"{x:{'+' if sign == '+' else ''}.{digits}f}"


def difference(d: float | None, digits: int | None = 1) -> str:
    """A signed difference in percentage points, the number only: ``'+2.3'``, ``'-0.4'``.

    Examples
    --------
    >>> difference(0.023), difference(-0.004), interval(-0.01, 0.03, difference, 0)
    ('+2.3', '-0.4', '-1 to +3')
    """
    return points(d, digits, sign="+")


def interval(
    lo: float | None,
    hi: float | None,
    say: Callable[[float, int | None], str] = percent,
    digits: int | None = 0,
    *,
    brackets: bool = False,
) -> str:
    """An interval in words, ``'12% to 14%'`` (or ``'[12%, 14%]'``), each end said by
    ``say(value, digits)``.

    A narrow interval whose ends say the same at ``digits`` (``'66% to 66%'``) gets one more
    digit at a time, up to three, until they differ (``digits=None``: ``say`` picks them
    by size, and the count starts from none).

    Examples
    --------
    >>> interval(0.12, 0.14), interval(0.655, 0.664), interval(0.81, 0.86, number, 2, brackets=True)
    ('12% to 14%', '65.5% to 66.4%', '[0.81, 0.86]')
    """
    a, b = say(lo, digits), say(hi, digits)
    for more in range(1, 4):
        if a != b or missing(lo) or missing(hi) or lo == hi:
            break
        a, b = say(lo, (digits or 0) + more), say(hi, (digits or 0) + more)
    return f"[{a}, {b}]" if brackets else f"{a} to {b}"


def join(words: Sequence[str]) -> str:
    """``'a'``, ``'a and b'``, ``'a, b and c'``.

    Examples
    --------
    >>> join(["a"]), join(["a", "b", "c"])
    ('a', 'a, b and c')
    """
    words = list(words)
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]
