"""Numbers and lists in plain words: the one place every summary, headline and report
sentence writes them.

A stakeholder reads the same figure the same way everywhere: a share as ``12%``, a count
as ``1,204 items``, money as ``$0.097``, a difference of shares in percentage points, a
p-value as readers read it, and an interval whose two ends never print alike. A missing
figure (None, NaN) reads ``n/a`` in a sentence and ``–`` in a table cell (:func:`pct`,
:func:`count` without a noun, :func:`span`).

Examples
--------
>>> percent(0.1234), count(1204, "item"), money(0.0973), interval(0.655, 0.664)
('12%', '1,204 items', '$0.097', '65.5% to 66.4%')
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from aidebt import groups

__all__ = [
    "and_list",
    "capital",
    "count",
    "decimals",
    "difference",
    "group_phrase",
    "interval",
    "missing",
    "money",
    "number",
    "pct",
    "percent",
    "plural",
    "points",
    "pvalue",
    "readable_column",
    "same_or_range",
    "share",
    "signed_points",
    "span",
    "times",
]

NA = "n/a"  # a missing figure in a sentence
DASH = "\u2013"  # a missing figure in a table cell (an en dash)


def missing(x: Any) -> bool:
    """None, NaN or infinite: a figure there is nothing to say about."""
    if x is None:
        return True
    try:
        return not math.isfinite(x)
    except TypeError:
        return False


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


def group_phrase(
    group: Mapping[str, Any] | str,
    by: Sequence[str] | None = None,
    names: Mapping[str, str] | None = None,
) -> str:
    r"""A group as a sentence names it: ``Language: ja and Customer tier: enterprise``.

    The sentence form of :func:`aidebt.groups.label` (which tables, recorded figures and
    machine-readable output keep): each group column by its readable name (``names``,
    else :func:`readable_column`) and its value, the columns a margin row does not split
    on left out, a null group as ``missing``, an escaped data value as the data spells it,
    and ``overall`` for the row that splits on nothing. Give the row (a mapping) and the
    group columns ``by`` where they are known; a table label (``"language=ja, tier=free"``)
    is read back by the columns in ``by`` when given (so a value holding ``=`` or ``, ``
    reads right), else at each ``, column=``.

    Examples
    --------
    >>> group_phrase({"language": "ja", "customer_tier": "enterprise"}, ["language", "customer_tier"])
    'Language: ja and Customer tier: enterprise'
    >>> group_phrase({"race": "(missing)", "sex": "(all)"}, ["race", "sex"], {"race": "ethnicity"})
    'Ethnicity: missing'
    >>> group_phrase("language=ja, tier=free"), group_phrase("overall")
    ('Language: ja and Tier: free', 'overall')
    >>> group_phrase("note=a=b, c, tier=free", ["note", "tier"])
    'Note: a=b, c and Tier: free'
    """
    if isinstance(group, str):
        pairs = _read_label(group, by)
        if pairs is None:  # not a label (a name already in words): as it is
            return group
    else:
        cols = list(group) if by is None else list(by)
        pairs = [(c, group[c]) for c in cols if group[c] != groups.ALL]
    if not pairs:
        return groups.OVERALL
    names = names or {}
    parts = []
    for column, value in pairs:
        name = names.get(column) or readable_column(column)
        parts.append(f"{capital(name)}: {_group_value(value)}")
    return " and ".join(parts)


def _group_value(value: Any) -> str:
    """A group value as the data spells it: the null marker as 'missing', escapes undone."""
    text = str(value)
    if text == groups.MISSING_GROUP:
        return "missing"
    if re.match(groups.MARKER_PATTERN, text):  # an escaped data value: one backslash off
        return text[len(groups.ESCAPE) :]
    return text


def _read_label(text: str, by: Sequence[str] | None) -> list[tuple[str, str]] | None:
    """``(column, value)`` pairs of a :func:`aidebt.groups.label` text (none for overall,
    None for a text that is no label)."""
    if text == groups.OVERALL:
        return []
    if by:  # the columns in order, each there or not; a value runs to the next one
        sep = re.escape(groups.SEPARATOR)
        parts = "".join(rf"(?:(?:^|{sep}){re.escape(c)}=(?P<v{i}>.*?))?" for i, c in enumerate(by))
        found = re.fullmatch(parts, text, flags=re.DOTALL)
        if found and text:
            return [(c, found[f"v{i}"]) for i, c in enumerate(by) if found[f"v{i}"] is not None]
    pairs = []
    for part in re.split(r", (?=[^=,]+=)", text):
        column, eq, value = part.partition("=")
        if not eq or not column:
            return None
        pairs.append((column, value))
    return pairs


def capital(text: str) -> str:
    """A sentence's first word capitalised, the rest as written: 'Error rate', 'F1 score'.

    Examples
    --------
    >>> capital("false-negative rate"), capital("p95 of latency_ms"), capital("")
    ('False-negative rate', 'P95 of latency_ms', '')
    """
    return text[:1].upper() + text[1:]


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


def count(n: Any, noun: str | None = None, plural: str | None = None) -> str:
    """A whole number with thousands separators, with its noun when one is given:
    ``'50,094'``, ``'1 item'``, ``'1,204 items'``. Missing: ``–`` (``n/a`` with a noun).

    Examples
    --------
    >>> count(50094.0), count(None), count(1, "item"), count(3, "query", "queries")
    ('50,094', '–', '1 item', '3 queries')
    """
    if noun is None:
        return DASH if missing(n) else f"{float(n):,.0f}"
    if missing(n):
        return f"{NA} {plural or _plural_of(noun)}"
    word = noun if n == 1 else plural or _plural_of(noun)
    return f"{n:,.0f} {word}"


def _plural_of(noun: str) -> str:  # count() takes a "plural" argument
    return plural(noun)


def pct(value: Any, digits: int = 1) -> str:
    """A share as a percentage in a table cell: 0.2283 -> '22.8%'; missing: ``–``.

    Examples
    --------
    >>> pct(0.22834), pct(1.0), pct(None)
    ('22.8%', '100.0%', '–')
    """
    return DASH if missing(value) else f"{100 * float(value):.{digits}f}%"


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


def number(x: float | None, digits: int | None = 2) -> str:
    """A number with ``digits`` decimals: ``0.8123 -> '0.81'``.

    ``digits=None`` picks them by size, as a reader needs them: none from 100
    (``'28,376'``), one from 10, two from 1, and below 1 two significant digits with at
    least two decimals (``'0.81'``, ``'0.0018'``); a whole number has none (``'380'``).

    Examples
    --------
    >>> number(0.8123), number(float("nan"))
    ('0.81', 'n/a')
    >>> [number(x, None) for x in (28376.048, 86.71, 1.259, 0.8051, 0.00183, 380.0)]
    ['28,376', '86.7', '1.26', '0.81', '0.0018', '380']
    """
    if missing(x):
        return NA
    return f"{x:,.{decimals(x) if digits is None else digits}f}"


def decimals(x: float) -> int:
    """How many decimals a number needs by its size (see :func:`number`).

    Examples
    --------
    >>> decimals(2335.199), decimals(0.0236), decimals(12.0)
    (0, 3, 0)
    """
    size = abs(float(x))
    if size.is_integer() or size >= 100:
        return 0
    if size >= 10:
        return 1
    if size >= 1:
        return 2
    return max(2, 1 - math.floor(math.log10(size)))


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


def signed_points(value: Any, digits: int = 1) -> str:
    """A difference of shares in percentage points, signed, with the word: '+15.7 points'.

    Examples
    --------
    >>> signed_points(0.1573), signed_points(-0.004)
    ('+15.7 points', '-0.4 points')
    """
    return DASH if missing(value) else f"{difference(value, digits)} points"


def times(ratio: Any) -> str:
    """A ratio in words: '2.4 times', never '1.0 times' for a ratio that is not 1.

    Examples
    --------
    >>> times(2.38), times(1.04), times(0.5)
    ('2.4 times', '1.04 times', '0.5 times')
    """
    if missing(ratio):
        return DASH
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
    if missing(p):
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
    if missing(low) or missing(high):
        return DASH
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


class Figures:
    """A metric's figures in a sentence, the same way wherever a comparison is told:
    a share in percent with its differences in percentage points (``in_points``), any
    other figure as a short number (three significant digits under 1, one decimal under
    100, none above).

    Examples
    --------
    >>> share, latency = Figures(in_points=True), Figures(in_points=False)
    >>> share.value(0.9012), share.diff(-0.0091), share.range(-0.02, 0.002), share.margin(0.01)
    ('90.1%', '-0.9 points', '-2.0 to +0.2 points', '1 point')
    >>> latency.value(2335.2), latency.diff(-22.4), latency.range(-45.9, 0.5)
    ('2,335', '-22.4', '-45.9 to +0.5')
    """

    def __init__(self, in_points: bool) -> None:
        self.in_points = in_points

    def value(self, v: float | None) -> str:
        if v is None:
            return NA
        return f"{v:.1%}" if self.in_points else _short(v)

    def diff(self, d: float | None) -> str:
        if d is None:
            return NA
        if self.in_points:
            return f"{d * 100:+.1f} points"
        return ("+" if d >= 0 else "-") + _short(abs(d))

    def range(self, lo: float | None, hi: float | None) -> str:
        """'+0.7 to +3.0 points' (the unit once, at the end)."""
        if lo is None or hi is None:
            return NA
        if self.in_points:
            return f"{lo * 100:+.1f} to {hi * 100:+.1f} points"
        return f"{self.diff(lo)} to {self.diff(hi)}"

    def margin(self, m: float) -> str:
        if not self.in_points:
            return _short(m)
        return f"{m * 100:g} point" + ("" if m * 100 == 1 else "s")


def _short(v: float) -> str:
    a = abs(v)
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 1:
        return f"{v:,.1f}"
    return f"{v:.3g}"
