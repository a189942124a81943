"""Numbers and lists as plain-English sentences write them: the one place for that.

Every result's ``summary()`` and every report sentence writes shares as percentages,
differences of shares in points, counts with thousands separators, p-values as readers
read them and intervals whose two ends never print the same; these functions do it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import Any

__all__ = [
    "and_list",
    "count",
    "number",
    "pct",
    "plural",
    "points",
    "pvalue",
    "readable_column",
    "same_or_range",
    "span",
    "times",
]


def plural(noun: str) -> str:
    """The plural of an English noun or noun phrase (its last word), by the usual rules.

    Examples
    --------
    >>> plural("decision"), plural("risk rating"), plural("policy"), plural("match")
    ('decisions', 'risk ratings', 'policies', 'matches')
    """
    if not noun:
        return noun
    head, _, last = noun.rpartition(" ")
    if re.search(r"[^aeiou]y$", last):
        last = last[:-1] + "ies"
    elif re.search(r"(s|x|z|ch|sh)$", last):
        last += "es"
    else:
        last += "s"
    return f"{head} {last}" if head else last


def readable_column(name: str) -> str:
    """A column name as a sentence says it: ``age_cat`` -> ``age cat``.

    Examples
    --------
    >>> readable_column("c_charge_degree"), readable_column("language")
    ('c charge degree', 'language')
    """
    return re.sub(r"[_.]+", " ", str(name)).strip() or str(name)


def and_list(items: Iterable[Any]) -> str:
    """'a', 'a and b', 'a, b and c'.

    Examples
    --------
    >>> and_list(["region"]), and_list(["region", "tier", "channel"])
    ('region', 'region, tier and channel')
    """
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def count(value: Any) -> str:
    """A whole number with thousands separators: 50,094. Missing: an en dash.

    Examples
    --------
    >>> count(50094.0), count(None)
    ('50,094', '–')
    """
    return "–" if _missing(value) else f"{float(value):,.0f}"


def pct(value: Any, digits: int = 1) -> str:
    """A share as a percentage: 0.2283 -> '22.8%'.

    Examples
    --------
    >>> pct(0.22834), pct(1.0), pct(None)
    ('22.8%', '100.0%', '–')
    """
    return "–" if _missing(value) else f"{100 * float(value):.{digits}f}%"


def points(value: Any, digits: int = 1) -> str:
    """A difference of shares in percentage points, signed: '+15.7 points'.

    Examples
    --------
    >>> points(0.1573), points(-0.004)
    ('+15.7 points', '-0.4 points')
    """
    return "–" if _missing(value) else f"{100 * float(value):+.{digits}f} points"


def number(value: Any, digits: int = 3) -> str:
    """A figure that is not a share: thousands separators, ``digits`` decimals."""
    return "–" if _missing(value) else f"{float(value):,.{digits}f}"


def times(ratio: Any) -> str:
    """A ratio in words: '2.4 times', never '1.0 times' for a ratio that is not 1.

    Examples
    --------
    >>> times(2.38), times(1.04), times(0.5)
    ('2.4 times', '1.04 times', '0.5 times')
    """
    if _missing(ratio):
        return "–"
    text = f"{ratio:.1f}"
    if text in ("1.0", "0.0") and ratio != round(ratio, 1):
        text = f"{ratio:.2f}"
    return f"{text} times"


def pvalue(p: Any) -> str:
    """A p-value as readers see it: 'p < 0.001', 'p = 0.012', 'p = 0.31'.

    Examples
    --------
    >>> pvalue(1e-51), pvalue(0.01234), pvalue(0.3109), pvalue(1.0)
    ('p < 0.001', 'p = 0.012', 'p = 0.31', 'p = 1')
    """
    if _missing(p):
        return "p not available"
    if p < 0.001:
        return "p < 0.001"
    text = f"{p:.2g}" if p < 0.1 else f"{p:.2f}".rstrip("0").rstrip(".")
    return f"p = {text}"


def span(
    low: Any,
    high: Any,
    fmt: Callable[[Any, int], str] | None = None,
    digits: int = 1,
    max_extra: int = 2,
) -> str:
    """An interval 'low to high', with enough digits that its ends differ.

    ``fmt(value, digits)`` writes one end (default :func:`pct`). When both ends round
    to the same text, more digits are used (up to ``max_extra``); if they still agree,
    the interval is that one value: 'about 22.830%'.

    Examples
    --------
    >>> span(0.221, 0.235), span(0.2281, 0.2284), span(0.2283001, 0.2283002)
    ('22.1% to 23.5%', '22.81% to 22.84%', 'about 22.830%')
    >>> span(0.13, 0.22, lambda v, d: f"{100 * v:.{d}f}") + " points"
    '13.0 to 22.0 points'
    """
    fmt = pct if fmt is None else fmt
    if _missing(low) or _missing(high):
        return "–"
    for extra in range(max_extra + 1):
        a, b = fmt(low, digits + extra), fmt(high, digits + extra)
        if a != b:
            return f"{a} to {b}"
    return f"about {a}"


def same_or_range(first: str, last: str) -> str:
    """'2026-05' for a range whose two ends are one label, else '2026-04 to 2026-06'.

    Examples
    --------
    >>> same_or_range("2026-05", "2026-05"), same_or_range("2026-04", "2026-06")
    ('2026-05', '2026-04 to 2026-06')
    """
    return first if first == last else f"{first} to {last}"
